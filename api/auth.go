package api

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"pvault/audit"
	"pvault/policy"
	"pvault/vault"
)

// UserJSON is the public form of a user.
type UserJSON struct {
	ID          string    `json:"id"`
	Username    string    `json:"username"`
	DisplayName string    `json:"display_name"`
	Unit        string    `json:"unit"`
	Roles       []string  `json:"roles"`
	Disabled    bool      `json:"disabled"`
	CreatedAt   time.Time `json:"created_at"`
}

func userJSON(u *vault.User) UserJSON {
	roles := u.Roles
	if roles == nil {
		roles = []string{}
	}
	return UserJSON{ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Unit: u.Unit, Roles: roles, Disabled: u.Disabled, CreatedAt: u.CreatedAt}
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// TOTP is the second-factor code of users who enrolled one.
	TOTP string `json:"totp"`
}

func (s *Server) login(c *gin.Context, k *call) error {
	b, err := readBody(c.Request)
	if err != nil {
		return err
	}
	var in loginRequest
	if err := decodeStrict(b, &in); err != nil {
		return err
	}
	if in.Username == "" {
		return badRequest("username: required")
	}
	if in.Password == "" {
		return badRequest("password: required")
	}
	if len(in.Username) > 256 || len(in.Password) > 1024 {
		return badRequest("username or password too long")
	}
	k.detail("username_hmac", s.v.Hasher().Sum(vault.HashPseudonym, in.Username))
	client := clientAddr(c.Request)
	if wait := s.limiter.blocked(in.Username, client); wait > 0 {
		k.entry.Action = "auth.login_locked"
		return &httpError{status: http.StatusTooManyRequests, detail: "too many failed logins; try again later", retryAfter: wait, decision: "deny"}
	}
	u, err := s.v.Authenticate(in.Username, in.Password)
	if err != nil {
		if !errors.Is(err, vault.ErrUnauthenticated) {
			return err
		}
		s.limiter.fail(in.Username, client)
		k.entry.Action = "auth.login_failed"
		return &httpError{status: http.StatusUnauthorized, detail: "wrong username or password", decision: "deny"}
	}
	var lo vault.LoginOptions
	if u.HasTOTP() {
		step, err := s.v.CheckTOTP(u, in.TOTP)
		if err != nil {
			s.limiter.fail(in.Username, client)
			k.entry.Action = "auth.login_failed"
			k.detail("second_factor", true)
			if in.TOTP == "" {
				return &httpError{status: http.StatusUnauthorized, detail: "totp: a second-factor code is required", decision: "deny"}
			}
			return &httpError{status: http.StatusUnauthorized, detail: "wrong username, password or second-factor code", decision: "deny"}
		}
		lo.TOTPStep = step
	} else if s.totpRequired(u) {
		lo.EnrolOnly = true
		k.detail("enrol_only", true)
	}
	s.limiter.succeed(in.Username)
	k.user, k.sub = u, s.v.Subject(u)
	k.entry.Actor = vault.Actor(u)
	tok, sess, rec, err := s.v.LoginWith(u, lo, k.prepare(http.StatusOK))
	if err != nil {
		return err
	}
	k.done(rec)
	body := gin.H{"token": tok, "expires_at": sess.ExpiresAt, "user": userJSON(u)}
	if lo.EnrolOnly {
		body["totp_enrolment_required"] = true
	}
	return k.reply(http.StatusOK, body)
}

// totpRequired reports whether u's roles require a second factor.
func (s *Server) totpRequired(u *vault.User) bool {
	for _, r := range u.Roles {
		if slices.Contains(s.cfg.RequireTOTP, r) {
			return true
		}
	}
	return false
}

// enrolActions are the only actions of a session limited to enrolling a
// second factor.
var enrolActions = []string{"user.me", "auth.logout", "user.totp_begin", "user.totp_confirm"}

func (s *Server) beginTOTP(c *gin.Context, k *call) error {
	if err := s.allowed(k, policy.UserSelf, &policy.Object{Type: "user", ID: k.user.ID, Unit: k.user.Unit}); err != nil {
		return err
	}
	k.entry.Object = userObject(k.user.ID)
	if k.user.HasTOTP() {
		// Replacing a factor needs the current one: a stolen token alone
		// must not move the second factor to the thief's phone.
		b, err := readBody(c.Request)
		if err != nil {
			return badRequest("code: your current second-factor code is required to replace it")
		}
		var in totpConfirmRequest
		if err := decodeStrict(b, &in); err != nil {
			return err
		}
		if _, err := s.v.CheckTOTP(k.user, in.Code); err != nil {
			return &httpError{status: http.StatusForbidden, detail: "code: not your current second-factor code", decision: audit.Deny}
		}
	}
	secret, url, rec, err := s.v.BeginTOTP(k.user, k.prepare(http.StatusOK))
	if err != nil {
		return err
	}
	k.done(rec)
	return k.reply(http.StatusOK, gin.H{"secret": secret, "otpauth_url": url})
}

type totpConfirmRequest struct {
	Code string `json:"code"`
}

func (s *Server) confirmTOTP(c *gin.Context, k *call) error {
	if err := s.allowed(k, policy.UserSelf, &policy.Object{Type: "user", ID: k.user.ID, Unit: k.user.Unit}); err != nil {
		return err
	}
	k.entry.Object = userObject(k.user.ID)
	b, err := readBody(c.Request)
	if err != nil {
		return err
	}
	var in totpConfirmRequest
	if err := decodeStrict(b, &in); err != nil {
		return err
	}
	rec, err := s.v.ConfirmTOTP(k.user, in.Code, k.prepare(http.StatusNoContent))
	if err != nil {
		return err
	}
	k.done(rec)
	return k.reply(http.StatusNoContent, nil)
}

func (s *Server) resetTOTP(c *gin.Context, k *call) error {
	u, err := s.lookupUser(c, k, policy.UserManage)
	if err != nil {
		return err
	}
	rec, err := s.v.ResetTOTP(u.ID, k.prepare(http.StatusNoContent))
	if err != nil {
		return err
	}
	k.done(rec)
	return k.reply(http.StatusNoContent, nil)
}

func (s *Server) logout(c *gin.Context, k *call) error {
	rec, err := s.v.Logout(k.token, k.prepare(http.StatusNoContent))
	if err != nil {
		return err
	}
	k.done(rec)
	return k.reply(http.StatusNoContent, nil)
}

func (s *Server) me(c *gin.Context, k *call) error {
	if err := s.allowed(k, policy.UserSelf, &policy.Object{Type: "user", ID: k.user.ID, Unit: k.user.Unit}); err != nil {
		return err
	}
	k.entry.Object = userObject(k.user.ID)
	return k.reply(http.StatusOK, userJSON(k.user))
}
