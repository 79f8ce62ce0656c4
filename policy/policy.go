// Package policy decides every access in pvault with casbin.
//
// The model (model.conf, embedded) is role-based with unit scopes: a rule
// grants or denies a role an action on the objects in a scope — everything,
// the caller's unit and the units below it, the petitions the caller
// registered or was assigned, or the petitions that name the caller as a
// subject. Deny overrides allow, and the default rules deny every petition
// action to anyone a petition names (the subject rule of 信访工作条例 Art. 30).
//
// Guarantees: a decision depends only on the rules and the attributes passed
// in; rule sets are validated before use and replaced atomically; the number
// of rules does not grow with users or petitions, so a decision costs
// microseconds.
package policy

import (
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
)

//go:embed model.conf
var Model string

// Errors of the package.
var (
	// ErrInvalid is returned for a malformed rule set.
	ErrInvalid = errors.New("policy: invalid rules")
)

// Built-in roles.
const (
	RoleAdmin      = "admin"
	RoleRegistrar  = "registrar"
	RoleOfficer    = "officer"
	RoleSupervisor = "supervisor"
	RoleAuditor    = "auditor"
)

// Roles lists the built-in roles.
var Roles = []string{RoleAdmin, RoleRegistrar, RoleOfficer, RoleSupervisor, RoleAuditor}

// Actions known to the policy. Handlers ask for exactly these.
const (
	UserManage   = "user.manage"
	PolicyManage = "policy.manage"
	UnitManage   = "unit.manage"
	KeyManage    = "key.manage"

	PetitionCreate = "petition.create"
	PetitionRead   = "petition.read"
	PetitionList   = "petition.list"
	PetitionReveal = "petition.reveal"

	UserSelf = "user.self"
	UnitList = "unit.list"

	AuditRead = "audit.read"
	StatsRead = "stats.read"

	SystemSweep = "system.sweep"
	AlertList   = "alert.list"

	AnalysisManage = "analysis.manage"
	SystemDebug    = "system.debug"
)

// Actions lists every action name a rule may use (besides * and family.*).
var Actions = []string{
	UserManage, PolicyManage, UnitManage, KeyManage, UserSelf, UnitList,
	PetitionCreate, PetitionRead, PetitionList, PetitionReveal,
	"petition.accept", "petition.not_accept", "petition.transfer", "petition.assign",
	"petition.extend", "petition.reply", "petition.review_reply", "petition.rereview_reply",
	"petition.close", "petition.categorize", "petition.note",
	AuditRead, StatsRead, SystemSweep, AlertList, AnalysisManage, SystemDebug,
}

// Scopes a rule may use.
const (
	ScopeAll        = "all"
	ScopeUnit       = "unit"
	ScopeParent     = "parent"
	ScopeRegistered = "registered"
	ScopeAssigned   = "assigned"
	ScopeNamed      = "named"
	ScopeSelf       = "self"
	ScopeSame       = "same"        // the object is in the caller's own unit, not below it
	ScopeParentOnly = "parent_only" // the caller's unit is the one right above the object's
)

// ScopeNames lists the valid scopes.
var ScopeNames = []string{ScopeAll, ScopeUnit, ScopeParent, ScopeRegistered, ScopeAssigned, ScopeNamed, ScopeSelf, ScopeSame, ScopeParentOnly}

// Subject is the caller of a request.
type Subject struct {
	UserID   string
	Username string
	Unit     string
	Roles    []string
	// Names are the keyed hashes under which the caller could be named as
	// the subject of a petition (username, display name).
	Names []string
}

// Object is what an action applies to. For a petition every field is set;
// for a unit or user only Unit (and ID).
type Object struct {
	Type         string
	ID           string
	Unit         string
	RegisteredBy string   // user id
	Assignee     string   // user id
	Subjects     []string // keyed hashes of the people the petition names
}

// Decision is the outcome of Decide.
type Decision struct {
	Allowed bool
	// Rule is the rule that decided (["p", role, action, scope, effect]),
	// or nil when no rule matched and the default deny applied.
	Rule []string
}

// DefaultRules are the rules of a new vault (API.md).
func DefaultRules() [][]string {
	return [][]string{
		{"p", "*", UserSelf, ScopeSelf, "allow"},
		{"p", "*", UnitList, ScopeAll, "allow"},
		{"p", RoleAdmin, UserManage, ScopeAll, "allow"},
		{"p", RoleAdmin, PolicyManage, ScopeAll, "allow"},
		{"p", RoleAdmin, UnitManage, ScopeAll, "allow"},
		{"p", RoleAdmin, KeyManage, ScopeAll, "allow"},
		{"p", RoleAdmin, SystemSweep, ScopeAll, "allow"},
		{"p", RoleAdmin, AnalysisManage, ScopeAll, "allow"},
		{"p", RoleAdmin, SystemDebug, ScopeAll, "allow"},
		{"p", RoleRegistrar, PetitionCreate, ScopeUnit, "allow"},
		{"p", RoleRegistrar, PetitionRead, ScopeRegistered, "allow"},
		{"p", RoleRegistrar, PetitionList, ScopeRegistered, "allow"},
		{"p", RoleRegistrar, PetitionReveal, ScopeRegistered, "allow"},
		{"p", RoleOfficer, PetitionCreate, ScopeUnit, "allow"},
		{"p", RoleOfficer, PetitionRead, ScopeAssigned, "allow"},
		{"p", RoleOfficer, PetitionList, ScopeAssigned, "allow"},
		{"p", RoleOfficer, "petition.reply", ScopeAssigned, "allow"},
		{"p", RoleOfficer, "petition.note", ScopeAssigned, "allow"},
		{"p", RoleSupervisor, "petition.*", ScopeUnit, "allow"},
		{"p", RoleSupervisor, StatsRead, ScopeUnit, "allow"},
		{"p", RoleSupervisor, AlertList, ScopeUnit, "allow"},
		{"p", RoleAuditor, AuditRead, ScopeAll, "allow"},
		{"p", RoleAuditor, StatsRead, ScopeAll, "allow"},
		{"p", "*", "petition.*", ScopeNamed, "deny"},
		// Reviews are handled above the unit that handled the case: a review
		// (复查) by the units above it, a re-review (复核) by the units above
		// the reviewer (Art. 35, 36).
		{"p", RoleSupervisor, "petition.review_reply", ScopeSame, "deny"},
		{"p", RoleSupervisor, "petition.rereview_reply", ScopeSame, "deny"},
		{"p", RoleSupervisor, "petition.rereview_reply", ScopeParentOnly, "deny"},
	}
}

// Enforcer makes decisions under the current rule set. It is safe for
// concurrent use; Replace swaps the rule set atomically.
type Enforcer struct {
	cur atomic.Pointer[ruleset]
}

type ruleset struct {
	e       *casbin.Enforcer
	rules   [][]string
	inherit map[string][]string // role → roles whose rules it also holds (incl. itself)
	// cache holds decisions by (roles, action, scope mask): the matcher reads
	// the subject and object only through the scopes, so a decision is a
	// function of which scopes hold. It is dropped with the rule set.
	cache sync.Map
}

// New returns an enforcer with rules, which must pass Validate.
func New(rules [][]string) (*Enforcer, error) {
	rs, err := build(rules)
	if err != nil {
		return nil, err
	}
	e := &Enforcer{}
	e.cur.Store(rs)
	return e, nil
}

// Replace validates rules and makes them current. On error the old rules stay.
func (e *Enforcer) Replace(rules [][]string) error {
	rs, err := build(rules)
	if err != nil {
		return err
	}
	e.cur.Store(rs)
	return nil
}

// Rules returns a copy of the current rules.
func (e *Enforcer) Rules() [][]string {
	rs := e.cur.Load()
	out := make([][]string, len(rs.rules))
	for i, r := range rs.rules {
		out[i] = slices.Clone(r)
	}
	return out
}

// Validate checks a rule set: each rule is ["p", role|*, action, scope,
// allow|deny] or ["g", role, role] with known roles, actions and scopes. It
// returns an error wrapping ErrInvalid that names the first bad rule.
func Validate(rules [][]string) error {
	if len(rules) > 1000 {
		return fmt.Errorf("%w: more than 1000 rules", ErrInvalid)
	}
	for i, r := range rules {
		if len(r) == 0 {
			return fmt.Errorf("%w: rule %d is empty", ErrInvalid, i)
		}
		switch r[0] {
		case "p":
			if len(r) != 5 {
				return fmt.Errorf("%w: rule %d: a p rule has 4 fields: role, action, scope, effect", ErrInvalid, i)
			}
			if r[1] != "*" && !slices.Contains(Roles, r[1]) {
				return fmt.Errorf("%w: rule %d: unknown role %q", ErrInvalid, i, r[1])
			}
			if !knownAction(r[2]) {
				return fmt.Errorf("%w: rule %d: unknown action %q", ErrInvalid, i, r[2])
			}
			if !slices.Contains(ScopeNames, r[3]) {
				return fmt.Errorf("%w: rule %d: unknown scope %q", ErrInvalid, i, r[3])
			}
			if r[4] != "allow" && r[4] != "deny" {
				return fmt.Errorf("%w: rule %d: effect must be allow or deny", ErrInvalid, i)
			}
		case "g":
			if len(r) != 3 {
				return fmt.Errorf("%w: rule %d: a g rule has 2 fields: role, inherited role", ErrInvalid, i)
			}
			for _, role := range r[1:] {
				if !slices.Contains(Roles, role) {
					return fmt.Errorf("%w: rule %d: unknown role %q", ErrInvalid, i, role)
				}
			}
		default:
			return fmt.Errorf("%w: rule %d: type must be p or g", ErrInvalid, i)
		}
	}
	return checkDuties(rules)
}

// forbidden lists, for roles bound by separation of duties, the actions no
// rule may grant them: admins manage people and never read petitions or the
// audit log; auditors read the log and never read petitions.
var forbidden = map[string][]string{
	RoleAdmin:   {PetitionRead, PetitionList, PetitionReveal, AuditRead},
	RoleAuditor: {PetitionRead, PetitionList, PetitionReveal},
}

// SubjectRule denies every petition action to anyone a petition names. Every
// rule set must hold it (信访工作条例 Art. 30: a report never reaches the
// people it accuses).
var SubjectRule = []string{"p", "*", "petition.*", ScopeNamed, "deny"}

// checkDuties rejects rule sets that break separation of duties, directly,
// through "*" or through role inheritance, or that lack the subject rule.
func checkDuties(rules [][]string) error {
	hasSubjectRule, grantsPetitions := false, false
	for _, r := range rules {
		if r[0] != "p" {
			continue
		}
		if r[1] == "*" && (r[2] == "petition.*" || r[2] == "*") && (r[3] == ScopeNamed || r[3] == ScopeAll) && r[4] == "deny" {
			hasSubjectRule = true
		}
		if r[4] == "allow" && (r[2] == "*" || strings.HasPrefix(r[2], "petition.")) {
			grantsPetitions = true
		}
	}
	if grantsPetitions && !hasSubjectRule {
		return fmt.Errorf("%w: the subject rule %v is required: a petition never reaches the people it names", ErrInvalid, SubjectRule)
	}
	inherit := inheritance(rules)
	for role, acts := range forbidden {
		holds := inherit[role]
		for i, r := range rules {
			if r[0] != "p" || r[4] != "allow" || (r[1] != "*" && !slices.Contains(holds, r[1])) {
				continue
			}
			for _, a := range acts {
				if actionMatch(a, r[2]) {
					return fmt.Errorf("%w: rule %d would let %s take %s (separation of duties)", ErrInvalid, i, role, a)
				}
			}
		}
	}
	return nil
}

var actionSet = func() map[string]bool {
	m := map[string]bool{}
	for _, a := range Actions {
		m[a] = true
	}
	return m
}()

// isAction reports whether a is an action handlers may ask about. Unknown
// names are denied even where a wildcard rule would match them.
func isAction(a string) bool { return actionSet[a] }

func knownAction(a string) bool {
	if a == "*" || slices.Contains(Actions, a) {
		return true
	}
	if fam, ok := strings.CutSuffix(a, ".*"); ok {
		for _, x := range Actions {
			if strings.HasPrefix(x, fam+".") {
				return true
			}
		}
	}
	return false
}

func build(rules [][]string) (*ruleset, error) {
	if err := Validate(rules); err != nil {
		return nil, err
	}
	m, err := model.NewModelFromString(Model)
	if err != nil {
		return nil, fmt.Errorf("policy: model: %w", err)
	}
	ce, err := casbin.NewEnforcer(m, false)
	if err != nil {
		return nil, fmt.Errorf("policy: enforcer: %w", err)
	}
	rs := &ruleset{e: ce, rules: make([][]string, 0, len(rules)), inherit: inheritance(rules)}
	var ps [][]string
	for _, r := range rules {
		rs.rules = append(rs.rules, slices.Clone(r))
		if r[0] == "p" {
			ps = append(ps, slices.Clone(r[1:]))
		}
	}
	ce.AddFunction("actionMatch", func(args ...any) (any, error) {
		return actionMatch(args[0].(string), args[1].(string)), nil
	})
	ce.AddFunction("hasRole", func(args ...any) (any, error) {
		return rs.hasRole(args[0].(*Subject), args[1].(string)), nil
	})
	ce.AddFunction("inScope", func(args ...any) (any, error) {
		return InScope(args[0].(string), args[1].(*Subject), args[2].(*Object)), nil
	})
	if len(ps) > 0 {
		if _, err := ce.AddPolicies(ps); err != nil {
			return nil, fmt.Errorf("policy: load rules: %w", err)
		}
	}
	return rs, nil
}

// inheritance resolves g rules: for each role, the roles whose rules it holds.
func inheritance(rules [][]string) map[string][]string {
	direct := map[string][]string{}
	for _, r := range rules {
		if r[0] == "g" {
			direct[r[1]] = append(direct[r[1]], r[2])
		}
	}
	out := map[string][]string{}
	for _, role := range Roles {
		seen := map[string]bool{role: true}
		queue := []string{role}
		for len(queue) > 0 {
			x := queue[0]
			queue = queue[1:]
			for _, y := range direct[x] {
				if !seen[y] {
					seen[y] = true
					queue = append(queue, y)
				}
			}
		}
		for r := range seen {
			out[role] = append(out[role], r)
		}
	}
	return out
}

func (rs *ruleset) hasRole(sub *Subject, role string) bool {
	if role == "*" {
		return true
	}
	for _, r := range sub.Roles {
		if slices.Contains(rs.inherit[r], role) {
			return true
		}
	}
	return false
}

func actionMatch(req, rule string) bool {
	if rule == req || rule == "*" {
		return true
	}
	if fam, ok := strings.CutSuffix(rule, ".*"); ok {
		return strings.HasPrefix(req, fam+".")
	}
	return false
}

// InScope reports whether obj lies in scope for sub.
func InScope(scope string, sub *Subject, obj *Object) bool {
	switch scope {
	case ScopeAll:
		return true
	case ScopeUnit:
		return obj.Unit != "" && Within(obj.Unit, sub.Unit)
	case ScopeParent:
		p := Parent(obj.Unit)
		return p != "" && Within(p, sub.Unit)
	case ScopeRegistered:
		return obj.RegisteredBy != "" && obj.RegisteredBy == sub.UserID
	case ScopeAssigned:
		return obj.Assignee != "" && obj.Assignee == sub.UserID
	case ScopeNamed:
		for _, n := range sub.Names {
			if slices.Contains(obj.Subjects, n) {
				return true
			}
		}
		return false
	case ScopeSame:
		return obj.Unit != "" && obj.Unit == sub.Unit
	case ScopeParentOnly:
		return obj.Unit != "" && Parent(obj.Unit) == sub.Unit
	case ScopeSelf:
		return obj.Type == "user" && obj.ID != "" && obj.ID == sub.UserID
	}
	return false
}

// Within reports whether unit is scope or below it.
func Within(unit, scope string) bool {
	return unit == scope || (scope != "" && strings.HasPrefix(unit, scope+"/"))
}

// Parent returns the parent unit path, or "" for a root unit.
func Parent(unit string) string {
	i := strings.LastIndexByte(unit, '/')
	if i < 0 {
		return ""
	}
	return unit[:i]
}

// Decide decides whether sub may take act on obj. An error in evaluation
// denies.
func (e *Enforcer) Decide(sub *Subject, act string, obj *Object) Decision {
	if !isAction(act) {
		return Decision{}
	}
	rs := e.cur.Load()
	if obj == nil {
		obj = &Object{}
	}
	key := cacheKey(sub.Roles, act, scopeMask(sub, obj))
	if d, ok := rs.cache.Load(key); ok {
		return d.(Decision)
	}
	ok, rule, err := rs.e.EnforceEx(sub, obj, act)
	if err != nil {
		return Decision{}
	}
	d := Decision{Allowed: ok}
	if len(rule) > 0 {
		d.Rule = append([]string{"p"}, rule...)
	}
	rs.cache.Store(key, d)
	return d
}

// scopeMask has a bit for each scope that holds for sub and obj (at most 24
// scopes).
func scopeMask(sub *Subject, obj *Object) uint32 {
	var m uint32
	for i, sc := range ScopeNames {
		if InScope(sc, sub, obj) {
			m |= 1 << i
		}
	}
	return m
}

func cacheKey(roles []string, act string, mask uint32) string {
	n := len(act) + 5
	for _, r := range roles {
		n += len(r) + 1
	}
	var b strings.Builder
	b.Grow(n)
	for _, r := range roles {
		b.WriteString(r)
		b.WriteByte(',')
	}
	b.WriteByte('|')
	b.WriteString(act)
	b.WriteByte('|')
	b.WriteByte(byte(mask))
	b.WriteByte(byte(mask >> 8))
	b.WriteByte(byte(mask >> 16))
	return b.String()
}

// Allowed is Decide(...).Allowed.
func (e *Enforcer) Allowed(sub *Subject, act string, obj *Object) bool {
	return e.Decide(sub, act, obj).Allowed
}

// RoleMay reports whether sub's roles may take act on some object at all: an
// allow rule for one of them covers act and no deny rule covers it for every
// object. A false answer is a 403; a true answer with a denied decision on a
// particular object is a 404.
func (e *Enforcer) RoleMay(sub *Subject, act string) bool {
	return len(e.Scopes(sub, act)) > 0
}

// Scopes returns the scopes of the allow rules that grant act to sub's roles,
// or nil when a deny rule with scope all covers act for them. List queries use
// it to pick indexes instead of asking about each stored object.
func (e *Enforcer) Scopes(sub *Subject, act string) []string {
	if !isAction(act) {
		return nil
	}
	rs := e.cur.Load()
	var out []string
	for _, r := range rs.rules {
		if r[0] != "p" || !actionMatch(act, r[2]) || !rs.hasRole(sub, r[1]) {
			continue
		}
		if r[4] == "deny" {
			if r[3] == ScopeAll {
				return nil
			}
			continue
		}
		if !slices.Contains(out, r[3]) {
			out = append(out, r[3])
		}
	}
	return out
}

func init() {
	if len(ScopeNames) > 24 {
		panic("policy: the decision cache keys hold at most 24 scopes")
	}
}
