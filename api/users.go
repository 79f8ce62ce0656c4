package api

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"pvault/audit"
	"pvault/policy"
	"pvault/vault"
)

func userObject(id string) *audit.Object { return &audit.Object{Type: "user", ID: id} }

func policyUser(u *vault.User) *policy.Object {
	return &policy.Object{Type: "user", ID: u.ID, Unit: u.Unit}
}

type createUserRequest struct {
	Username    string   `json:"username"`
	Password    string   `json:"password"`
	DisplayName string   `json:"display_name"`
	Unit        string   `json:"unit"`
	Roles       []string `json:"roles"`
}

func (s *Server) createUser(c *gin.Context, k *call) error {
	if err := s.may(k, policy.UserManage); err != nil {
		return err
	}
	b, err := readBody(c.Request)
	if err != nil {
		return err
	}
	var in createUserRequest
	if err := decodeStrict(b, &in); err != nil {
		return err
	}
	if !vault.ValidUnit(in.Unit) {
		return badRequest("unit: not a unit path (segments of a-z, 0-9 and '-', joined by '/')")
	}
	if err := s.allowed(k, policy.UserManage, &policy.Object{Type: "user", Unit: in.Unit}); err != nil {
		return errForbidden
	}
	u, rec, err := s.v.CreateUser(vault.NewUser{Username: in.Username, Password: in.Password, DisplayName: in.DisplayName, Unit: in.Unit, Roles: in.Roles}, k.prepare(http.StatusCreated))
	if err != nil {
		return err
	}
	k.done(rec)
	return k.reply(http.StatusCreated, userJSON(u))
}

func (s *Server) listUsers(c *gin.Context, k *call) error {
	if err := s.may(k, policy.UserManage); err != nil {
		return err
	}
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	after := ""
	if cursor != "" {
		var ok bool
		if after, ok = vault.DecodeCursor(cursor); !ok {
			return badRequest("cursor: not a cursor of this list")
		}
	}
	var got []*vault.User
scan:
	for {
		page, nxt, err := s.v.Users(after, 256)
		if err != nil {
			return err
		}
		for _, u := range page {
			if s.decide(k.sub, policy.UserManage, policyUser(u)) {
				got = append(got, u)
				if len(got) > limit {
					break scan
				}
			}
		}
		if nxt == "" {
			break
		}
		after = nxt
	}
	next := ""
	if len(got) > limit {
		got = got[:limit]
		next = vault.EncodeCursor(got[limit-1].ID)
	}
	items := make([]UserJSON, 0, len(got))
	ids := make([]any, 0, len(got))
	for _, u := range got {
		items = append(items, userJSON(u))
		ids = append(ids, u.ID)
	}
	k.detail("ids", ids)
	return k.reply(http.StatusOK, gin.H{"items": items, "next_cursor": next})
}

// lookupUser loads the user in the path and checks act on it.
func (s *Server) lookupUser(c *gin.Context, k *call, act string) (*vault.User, error) {
	if err := s.may(k, act); err != nil {
		return nil, err
	}
	id := c.Param("id")
	k.entry.Object = userObject(truncate(id, 64))
	if !vault.ValidID(id) {
		return nil, errNotFound
	}
	u, err := s.v.User(id)
	if err != nil {
		return nil, err
	}
	if !s.decide(k.sub, act, policyUser(u)) {
		return nil, errHidden
	}
	return u, nil
}

func (s *Server) getUser(c *gin.Context, k *call) error {
	u, err := s.lookupUser(c, k, policy.UserManage)
	if err != nil {
		return err
	}
	return k.reply(http.StatusOK, userJSON(u))
}

type patchUserRequest struct {
	DisplayName *string   `json:"display_name"`
	Unit        *string   `json:"unit"`
	Roles       *[]string `json:"roles"`
	Disabled    *bool     `json:"disabled"`
	Password    *string   `json:"password"`
}

func (s *Server) updateUser(c *gin.Context, k *call) error {
	u, err := s.lookupUser(c, k, policy.UserManage)
	if err != nil {
		return err
	}
	b, err := readBody(c.Request)
	if err != nil {
		return err
	}
	var in patchUserRequest
	if err := decodeStrict(b, &in); err != nil {
		return err
	}
	if in.Unit != nil && vault.ValidUnit(*in.Unit) && !s.decide(k.sub, policy.UserManage, &policy.Object{Type: "user", ID: u.ID, Unit: *in.Unit}) {
		return errForbidden
	}
	p := vault.UserPatch{DisplayName: in.DisplayName, Unit: in.Unit, Roles: in.Roles, Disabled: in.Disabled, Password: in.Password}
	// The last-admin check and PUT /policy's lock-out check read each
	// other's changes: one lock orders them.
	s.polMu.Lock()
	defer s.polMu.Unlock()
	nu, rec, err := s.v.UpdateUser(u.ID, p, s.canManageUsers, k.prepare(http.StatusOK))
	if err != nil {
		return err
	}
	k.done(rec)
	return k.reply(http.StatusOK, userJSON(nu))
}

// canManageUsers reports whether u (if enabled) could manage users under the
// current policy.
func (s *Server) canManageUsers(u *vault.User) bool {
	return canManageUsers(s.pol, s.v, u)
}

func canManageUsers(pol *policy.Enforcer, v *vault.Vault, u *vault.User) bool {
	return pol.Allowed(v.Subject(u), policy.UserManage, policyUser(u))
}

func canManagePolicy(pol *policy.Enforcer, v *vault.Vault, u *vault.User) bool {
	return pol.Allowed(v.Subject(u), policy.PolicyManage, policyObject)
}

// pageParams parses limit (1–500, default 50) and cursor.
func pageParams(c *gin.Context) (int, string, error) {
	limit := 50
	if s, ok := c.GetQuery("limit"); ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			return 0, "", badRequest("limit: an integer from 1 to 500")
		}
		limit = n
	}
	cursor := c.Query("cursor")
	if len(cursor) > 200 {
		return 0, "", badRequest("cursor: not a cursor of this list")
	}
	return limit, cursor, nil
}
