package api

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"pvault/audit"
	"pvault/policy"
	"pvault/vault"
)

type unitJSON struct {
	Path   string `json:"path"`
	Name   string `json:"name"`
	Public bool   `json:"public"`
}

func (s *Server) listUnits(c *gin.Context, k *call) error {
	if err := s.allowed(k, policy.UnitList, &policy.Object{Type: "unit"}); err != nil {
		return err
	}
	units, err := s.v.Units()
	if err != nil {
		return err
	}
	items := make([]unitJSON, 0, len(units))
	for _, u := range units {
		items = append(items, unitJSON{Path: u.Path, Name: u.Name, Public: u.Public})
	}
	return k.reply(http.StatusOK, gin.H{"items": items})
}

type putUnitRequest struct {
	Name   *string `json:"name"`
	Public *bool   `json:"public"`
}

func (s *Server) putUnit(c *gin.Context, k *call) error {
	path := strings.TrimPrefix(c.Param("path"), "/")
	k.entry.Object = &audit.Object{Type: "unit", ID: truncate(path, 200)}
	if err := s.may(k, policy.UnitManage); err != nil {
		return err
	}
	if !vault.ValidUnit(path) {
		return badRequest("path: not a unit path (segments of a-z, 0-9 and '-', joined by '/')")
	}
	if err := s.allowed(k, policy.UnitManage, &policy.Object{Type: "unit", ID: path, Unit: path}); err != nil {
		return errForbidden
	}
	b, err := readBody(c.Request)
	if err != nil {
		return err
	}
	var in putUnitRequest
	if err := decodeStrict(b, &in); err != nil {
		return err
	}
	name, public := "", false
	if cur, err := s.v.UnitByPath(path); err == nil {
		name, public = cur.Name, cur.Public
	}
	if in.Name != nil {
		name = *in.Name
	}
	if in.Public != nil {
		public = *in.Public
	}
	u, rec, err := s.v.SetUnit(path, name, public, k.prepare(http.StatusOK))
	if err != nil {
		return err
	}
	k.done(rec)
	return k.reply(http.StatusOK, unitJSON{Path: u.Path, Name: u.Name, Public: u.Public})
}

var policyObject = &policy.Object{Type: "policy"}

func (s *Server) policyBody() gin.H {
	return gin.H{"model": policy.Model, "rules": s.pol.Rules()}
}

func (s *Server) getPolicy(c *gin.Context, k *call) error {
	if err := s.allowed(k, policy.PolicyManage, policyObject); err != nil {
		return err
	}
	k.entry.Object = &audit.Object{Type: "policy", ID: "rules"}
	k.detail("rules_sha256", vault.RulesHash(s.pol.Rules()))
	return k.reply(http.StatusOK, s.policyBody())
}

type putPolicyRequest struct {
	Rules [][]string `json:"rules"`
}

func (s *Server) putPolicy(c *gin.Context, k *call) error {
	if err := s.allowed(k, policy.PolicyManage, policyObject); err != nil {
		return err
	}
	b, err := readBody(c.Request)
	if err != nil {
		return err
	}
	var in putPolicyRequest
	if err := decodeStrict(b, &in); err != nil {
		return err
	}
	if in.Rules == nil {
		return badRequest("rules: required")
	}
	next, err := policy.New(in.Rules)
	if err != nil {
		return err
	}
	s.polMu.Lock()
	defer s.polMu.Unlock()
	ok, err := s.v.AnyAdmin(func(u *vault.User) bool { return canManageUsers(next, s.v, u) })
	if err != nil {
		return err
	}
	if !ok {
		return &vault.ConflictError{Msg: "no enabled user could manage users under these rules"}
	}
	if ok, err = s.v.AnyAdmin(func(u *vault.User) bool { return canManagePolicy(next, s.v, u) }); err != nil {
		return err
	}
	if !ok {
		return &vault.ConflictError{Msg: "no enabled user could manage the policy under these rules"}
	}
	rec, err := s.v.SetPolicyRules(s.pol.Rules(), in.Rules, k.prepare(http.StatusOK))
	if err != nil {
		return err
	}
	k.done(rec)
	if err := s.pol.Replace(in.Rules); err != nil {
		return err
	}
	return k.reply(http.StatusOK, s.policyBody())
}

func (s *Server) explainPolicy(c *gin.Context, k *call) error {
	if err := s.allowed(k, policy.PolicyManage, policyObject); err != nil {
		return err
	}
	name, pid, act := c.Query("user"), c.Query("petition"), c.Query("action")
	if name == "" {
		return badRequest("user: required")
	}
	if act == "" {
		return badRequest("action: required")
	}
	if !policyKnownAction(act) {
		return badRequest("action: unknown action")
	}
	var u *vault.User
	var err error
	if vault.ValidID(name) {
		u, err = s.v.User(name)
	} else {
		u, err = s.v.UserByName(name)
	}
	if err != nil {
		return badRequest("user: no such user")
	}
	obj := &policy.Object{Type: "user", ID: u.ID, Unit: u.Unit}
	if pid != "" {
		m, err := s.v.Meta(pid)
		if err != nil {
			return badRequest("petition: no such petition")
		}
		obj = m.Object()
		k.entry.Object = &audit.Object{Type: "petition", ID: m.ID}
	}
	k.detail("user_id", u.ID)
	k.detail("checked_action", act)
	d := s.pol.Decide(s.v.Subject(u), act, obj)
	var rule any
	if d.Rule != nil {
		rule = d.Rule
	}
	return k.reply(http.StatusOK, gin.H{"allowed": d.Allowed, "rule": rule})
}

func policyKnownAction(a string) bool {
	for _, x := range policy.Actions {
		if x == a {
			return true
		}
	}
	return false
}
