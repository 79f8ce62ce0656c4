package vault

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"pvault/audit"
	"pvault/policy"
	"pvault/vault/store"
)

// User is a staff account. PasswordHash and Epoch never leave the vault.
type User struct {
	ID           string    `json:"id"`
	Username     string    `json:"username"`
	DisplayName  string    `json:"display_name"`
	Unit         string    `json:"unit"`
	Roles        []string  `json:"roles"`
	Disabled     bool      `json:"disabled"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	PasswordHash string    `json:"password_hash"`
	// Epoch changes whenever the user's tokens must stop working.
	Epoch int `json:"epoch"`
	// TOTPSecret is the active second factor (base32), TOTPPending one being
	// enrolled, TOTPLast the last time step used to log in.
	TOTPSecret  string `json:"totp_secret,omitempty"`
	TOTPPending string `json:"totp_pending,omitempty"`
	TOTPLast    int64  `json:"totp_last,omitempty"`
}

// HasTOTP reports whether u has an active second factor.
func (u *User) HasTOTP() bool { return u.TOTPSecret != "" }

// Subject returns the policy subject for u.
func (v *Vault) Subject(u *User) *policy.Subject {
	names := []string{v.hasher.Sum(HashSubject, normalizeName(u.Username))}
	if u.DisplayName != "" {
		names = append(names, v.hasher.Sum(HashSubject, normalizeName(u.DisplayName)))
	}
	return &policy.Subject{UserID: u.ID, Username: u.Username, Unit: u.Unit, Roles: slices.Clone(u.Roles), Names: names}
}

// Actor returns the audit actor for u.
func Actor(u *User) *audit.Actor {
	if u == nil {
		return nil
	}
	return &audit.Actor{UserID: u.ID, Username: u.Username, Roles: slices.Clone(u.Roles), Unit: u.Unit}
}

// Key prefixes of user and session records (authWatch watches them).
const (
	userPrefix    = "u/"
	sessionPrefix = "s/"
)

func userKey(id string) []byte    { return []byte(userPrefix + id) }
func usernameKey(n string) []byte { return []byte("un/" + n) }
func sessionKey(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return []byte(sessionPrefix + hex.EncodeToString(h[:]))
}

// NewUser is the input of CreateUser.
type NewUser struct {
	Username    string
	Password    string
	DisplayName string
	Unit        string
	Roles       []string
}

func checkRoles(roles []string) error {
	if len(roles) == 0 {
		return invalid("roles", "at least one role")
	}
	for i, r := range roles {
		if !slices.Contains(policy.Roles, r) {
			return invalid("roles", "unknown role %q", r)
		}
		if slices.Contains(roles[:i], r) {
			return invalid("roles", "role %q repeated", r)
		}
	}
	// Separation of duties: admins manage people and never read cases or
	// the audit log; auditors read the log and never read cases.
	if slices.Contains(roles, policy.RoleAdmin) && len(roles) > 1 {
		return invalid("roles", "admin cannot be combined with other roles (separation of duties)")
	}
	if slices.Contains(roles, policy.RoleAuditor) && len(roles) > 1 {
		return invalid("roles", "auditor cannot be combined with other roles (separation of duties)")
	}
	return nil
}

// CreateUser adds a user and records e with the change. It returns an error
// wrapping ErrInvalid for bad input and ErrConflict for a taken username.
func (v *Vault) CreateUser(in NewUser, e *audit.Entry) (*User, audit.Entry, error) {
	if !ValidUsername(in.Username) {
		return nil, audit.Entry{}, invalid("username", "3–32 characters of a-z, 0-9, '.', '_' or '-'")
	}
	if err := CheckPassword(in.Password, in.Username); err != nil {
		return nil, audit.Entry{}, err
	}
	if in.DisplayName == "" {
		in.DisplayName = in.Username
	}
	if err := checkText("display_name", in.DisplayName, 1, 100, false); err != nil {
		return nil, audit.Entry{}, err
	}
	if !ValidUnit(in.Unit) {
		return nil, audit.Entry{}, invalid("unit", "not a unit path (segments of a-z, 0-9 and '-', joined by '/')")
	}
	if err := checkRoles(in.Roles); err != nil {
		return nil, audit.Entry{}, err
	}
	v.usersMu.Lock()
	defer v.usersMu.Unlock()
	if _, err := v.UserByName(in.Username); err == nil {
		return nil, audit.Entry{}, conflict("username %q is taken", in.Username)
	} else if !errors.Is(err, ErrNotFound) {
		return nil, audit.Entry{}, err
	}
	now := v.Now()
	u := &User{
		ID: v.ids.next(now), Username: in.Username, DisplayName: in.DisplayName, Unit: in.Unit,
		Roles: slices.Clone(in.Roles), CreatedAt: now, UpdatedAt: now,
		PasswordHash: hashPassword(in.Password, v.opts.Argon2),
	}
	ops, err := v.userOps(nil, u)
	if err != nil {
		return nil, audit.Entry{}, err
	}
	ops = append(ops, v.unitOpsIfNew(u.Unit)...)
	e.Object = &audit.Object{Type: "user", ID: u.ID}
	rec, err := v.log.Append(e, ops)
	if err != nil {
		return nil, rec, err
	}
	return u, rec, nil
}

func (v *Vault) userOps(old, u *User) ([]store.Op, error) {
	ops := []store.Op{store.Put(userKey(u.ID), mustJSON(u))}
	if old == nil || old.Username != u.Username {
		ops = append(ops, store.Put(usernameKey(u.Username), []byte(u.ID)))
	}
	return ops, nil
}

// User returns the user with id, or an error wrapping ErrNotFound.
func (v *Vault) User(id string) (*User, error) {
	var u User
	err := v.st.View(func(r store.Reader) error { return getJSON(r, userKey(id), &u) })
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// UserByName returns the user called name, or an error wrapping ErrNotFound.
func (v *Vault) UserByName(name string) (*User, error) {
	var u User
	err := v.st.View(func(r store.Reader) error {
		id, err := r.Get(usernameKey(name))
		if errors.Is(err, store.ErrNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		return getJSON(r, userKey(string(id)), &u)
	})
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// Users returns up to limit users in id order after the cursor (an id), and
// the cursor of the next page ("" when done).
func (v *Vault) Users(after string, limit int) ([]*User, string, error) {
	if limit <= 0 {
		limit = 50
	}
	var out []*User
	next := ""
	err := v.st.View(func(r store.Reader) error {
		opts := store.ScanOptions{Prefix: []byte(userPrefix)}
		if after != "" {
			opts.Start = userKey(after + "\x00")
		}
		return r.Scan(opts, func(k, val []byte) error {
			if len(out) == limit {
				next = out[len(out)-1].ID
				return store.ErrStop
			}
			var u User
			if err := jsonUnmarshal(val, &u); err != nil {
				return err
			}
			out = append(out, &u)
			return nil
		})
	})
	return out, next, err
}

// UserPatch is the input of UpdateUser; nil fields stay as they are.
type UserPatch struct {
	DisplayName *string
	Unit        *string
	Roles       *[]string
	Disabled    *bool
	Password    *string
}

// UpdateUser applies p to the user with id and records e with the change.
// Disabling the user, changing their roles or their password revokes their
// tokens. keepsAdmin tells whether a user can still manage users; if no
// enabled user could afterwards, UpdateUser returns an error wrapping
// ErrConflict. Bad input wraps ErrInvalid; a missing user wraps ErrNotFound.
func (v *Vault) UpdateUser(id string, p UserPatch, keepsAdmin func(*User) bool, e *audit.Entry) (*User, audit.Entry, error) {
	v.usersMu.Lock()
	defer v.usersMu.Unlock()
	old, err := v.User(id)
	if err != nil {
		return nil, audit.Entry{}, err
	}
	u := *old
	u.Roles = slices.Clone(old.Roles)
	revoke := false
	if p.DisplayName != nil {
		if err := checkText("display_name", *p.DisplayName, 1, 100, false); err != nil {
			return nil, audit.Entry{}, err
		}
		u.DisplayName = *p.DisplayName
	}
	if p.Unit != nil {
		if !ValidUnit(*p.Unit) {
			return nil, audit.Entry{}, invalid("unit", "not a unit path")
		}
		u.Unit = *p.Unit
	}
	if p.Roles != nil {
		if err := checkRoles(*p.Roles); err != nil {
			return nil, audit.Entry{}, err
		}
		if !slices.Equal(*p.Roles, u.Roles) {
			revoke = true
		}
		u.Roles = slices.Clone(*p.Roles)
	}
	if p.Disabled != nil {
		if *p.Disabled && !u.Disabled {
			revoke = true
		}
		u.Disabled = *p.Disabled
	}
	if p.Password != nil {
		if err := CheckPassword(*p.Password, u.Username); err != nil {
			return nil, audit.Entry{}, err
		}
		u.PasswordHash = hashPassword(*p.Password, v.opts.Argon2)
		revoke = true
	}
	if revoke {
		u.Epoch++
	}
	u.UpdatedAt = v.Now()
	if keepsAdmin != nil && keepsAdmin(old) && !old.Disabled && !(keepsAdmin(&u) && !u.Disabled) {
		ok, err := v.anotherAdmin(u.ID, keepsAdmin)
		if err != nil {
			return nil, audit.Entry{}, err
		}
		if !ok {
			return nil, audit.Entry{}, conflict("this would leave no enabled user who can manage users")
		}
	}
	ops, err := v.userOps(old, &u)
	if err != nil {
		return nil, audit.Entry{}, err
	}
	ops = append(ops, v.unitOpsIfNew(u.Unit)...)
	e.Object = &audit.Object{Type: "user", ID: u.ID}
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	e.Details["fields"] = p.fields()
	e.Details["tokens_revoked"] = revoke
	rec, err := v.log.Append(e, ops)
	if err != nil {
		return nil, rec, err
	}
	return &u, rec, nil
}

func (p UserPatch) fields() []any {
	var f []any
	if p.DisplayName != nil {
		f = append(f, "display_name")
	}
	if p.Unit != nil {
		f = append(f, "unit")
	}
	if p.Roles != nil {
		f = append(f, "roles")
	}
	if p.Disabled != nil {
		f = append(f, "disabled")
	}
	if p.Password != nil {
		f = append(f, "password")
	}
	return f
}

// anotherAdmin reports whether an enabled user other than id can manage users.
func (v *Vault) anotherAdmin(id string, keepsAdmin func(*User) bool) (bool, error) {
	found := false
	err := v.st.View(func(r store.Reader) error {
		return r.Scan(store.ScanOptions{Prefix: []byte(userPrefix)}, func(_, val []byte) error {
			var u User
			if err := jsonUnmarshal(val, &u); err != nil {
				return err
			}
			if u.ID != id && !u.Disabled && keepsAdmin(&u) {
				found = true
				return store.ErrStop
			}
			return nil
		})
	})
	return found, err
}

// AnyAdmin reports whether some enabled user satisfies keepsAdmin.
func (v *Vault) AnyAdmin(keepsAdmin func(*User) bool) (bool, error) {
	return v.anotherAdmin("", keepsAdmin)
}

// Session is a login session. Only a hash of its token is stored.
type Session struct {
	UserID    string    `json:"user_id"`
	Epoch     int       `json:"epoch"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// EnrolOnly sessions may only enrol a second factor: the user's role
	// requires one and they have none yet.
	EnrolOnly bool `json:"enrol_only,omitempty"`
}

// Authenticate checks a username and password. It takes the same time
// whether or not the user exists, and returns an error wrapping
// ErrUnauthenticated for an unknown user, a wrong password or a disabled
// user. The user is returned when the password was right, even if disabled.
func (v *Vault) Authenticate(username, password string) (*User, error) {
	u, err := v.UserByName(username)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	hash := v.dummyHash
	if u != nil {
		hash = u.PasswordHash
	}
	ok := checkPassword(hash, password)
	if u == nil || !ok {
		return nil, ErrUnauthenticated
	}
	if u.Disabled {
		return u, ErrUnauthenticated
	}
	return u, nil
}

// LoginOptions qualify a session.
type LoginOptions struct {
	// TOTPStep, when > 0, is the second-factor time step used; it is
	// recorded so that the code cannot be used again.
	TOTPStep int64
	// EnrolOnly limits the session to enrolling a second factor.
	EnrolOnly bool
}

// Login starts a session for u, recording e with it, and returns the token.
func (v *Vault) Login(u *User, e *audit.Entry) (string, Session, audit.Entry, error) {
	return v.LoginWith(u, LoginOptions{}, e)
}

// LoginWith is Login with options.
func (v *Vault) LoginWith(u *User, lo LoginOptions, e *audit.Entry) (string, Session, audit.Entry, error) {
	tok := "pvt_" + randomToken(32)
	now := v.Now()
	s := Session{UserID: u.ID, Epoch: u.Epoch, CreatedAt: now, ExpiresAt: now.Add(v.opts.SessionTTL), EnrolOnly: lo.EnrolOnly}
	ops := []store.Op{store.Put(sessionKey(tok), mustJSON(s))}
	if lo.TOTPStep > 0 {
		v.usersMu.Lock()
		defer v.usersMu.Unlock()
		cur, err := v.User(u.ID)
		if err != nil {
			return "", Session{}, audit.Entry{}, err
		}
		if lo.TOTPStep <= cur.TOTPLast {
			return "", Session{}, audit.Entry{}, fmt.Errorf("%w: second-factor code already used", ErrUnauthenticated)
		}
		cur.TOTPLast = lo.TOTPStep
		ops = append(ops, store.Put(userKey(cur.ID), mustJSON(cur)))
	}
	rec, err := v.log.Append(e, ops)
	if err != nil {
		return "", Session{}, rec, err
	}
	return tok, s, rec, nil
}

// SessionUser returns the user of a token. It returns an error wrapping
// ErrUnauthenticated for an unknown, expired or revoked token or a disabled
// user.
func (v *Vault) SessionUser(token string) (*User, error) {
	u, _, err := v.SessionOf(token)
	return u, err
}

// SessionOf returns the user and the session of a token (see SessionUser).
func (v *Vault) SessionOf(token string) (*User, *Session, error) {
	u, s, _, err := v.SessionSubject(token)
	return u, s, err
}

// SessionSubject returns the user, the session and the policy subject of a
// token (see SessionUser), from the session cache when it can.
func (v *Vault) SessionSubject(token string) (*User, *Session, *policy.Subject, error) {
	if len(token) < 20 || len(token) > 200 {
		return nil, nil, nil, ErrUnauthenticated
	}
	key := sessionKey(token)
	gen := v.sessions.gen.Load() // before the read: a later commit makes the entry stale
	e := v.sessions.get(string(key), gen)
	if e == nil {
		e = &cachedSession{}
		err := v.st.View(func(r store.Reader) error {
			if err := getJSON(r, key, &e.sess); err != nil {
				return err
			}
			return getJSON(r, userKey(e.sess.UserID), &e.user)
		})
		if errors.Is(err, ErrNotFound) {
			return nil, nil, nil, ErrUnauthenticated
		}
		if err != nil {
			return nil, nil, nil, err
		}
		e.sub = v.Subject(&e.user)
		v.sessions.put(string(key), gen, e)
	}
	if !v.Now().Before(e.sess.ExpiresAt) || e.sess.Epoch != e.user.Epoch || e.user.Disabled {
		return nil, nil, nil, ErrUnauthenticated
	}
	u, s, sub := e.copies()
	return u, s, sub, nil
}

// Logout ends the session of token, recording e with it.
func (v *Vault) Logout(token string, e *audit.Entry) (audit.Entry, error) {
	return v.log.Append(e, []store.Op{store.Del(sessionKey(token))})
}

// SetPassword sets a user's password offline (pvault user passwd).
func (v *Vault) SetPassword(username, password string, e *audit.Entry) error {
	u, err := v.UserByName(username)
	if err != nil {
		return fmt.Errorf("user %q: %w", username, err)
	}
	_, _, err = v.UpdateUser(u.ID, UserPatch{Password: &password}, nil, e)
	return err
}
