package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

// The caller of the table test: a user of unit group/east, who could be
// named in a petition under either of two keyed hashes.
const (
	callerID   = "u-caller"
	callerUnit = "group/east"
	callerHash = "h-caller-username"
	callerAlt  = "h-caller-display-name"
)

func newEnforcer(tb testing.TB, rules [][]string) *Enforcer {
	tb.Helper()
	e, err := New(rules)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return e
}

func caller(roles ...string) *Subject {
	return &Subject{
		UserID:   callerID,
		Username: "caller",
		Unit:     callerUnit,
		Roles:    roles,
		Names:    []string{callerHash, callerAlt},
	}
}

// situation is an object as the caller sees it. The booleans are what the
// expectation (derived from API.md, not from DefaultRules) looks at.
type situation struct {
	name       string
	obj        Object
	inScope    bool // the object's unit is the caller's unit or below it
	registered bool // the caller registered the petition
	assigned   bool // the petition is assigned to the caller
	named      bool // the caller's Names hash is among the petition's subjects
	self       bool // the object is the caller's own user record
}

func petition(unit, registeredBy, assignee string, subjects ...string) Object {
	if len(subjects) == 0 {
		subjects = []string{"h-someone-else"}
	}
	return Object{Type: "petition", ID: "p-1", Unit: unit, RegisteredBy: registeredBy, Assignee: assignee, Subjects: subjects}
}

// petitionSituations are the petitions of the table: by unit, by the
// caller's part in them, and named-as-subject combined with each.
var petitionSituations = []situation{
	{name: "own-unit", obj: petition(callerUnit, "u-other", "u-other2"), inScope: true},
	{name: "sub-unit", obj: petition("group/east/site-3", "u-other", "u-other2"), inScope: true},
	{name: "sub-sub-unit", obj: petition("group/east/site-3/team-1", "u-other", "u-other2"), inScope: true},
	{name: "parent-unit", obj: petition("group", "u-other", "u-other2")},
	{name: "sibling-unit", obj: petition("group/west", "u-other", "u-other2")},
	{name: "prefix-sibling-unit", obj: petition("group/eastern", "u-other", "u-other2")},
	{name: "outside-unit", obj: petition("other-group/east", "u-other", "u-other2")},
	{name: "registered", obj: petition("group/west", callerID, "u-other2"), registered: true},
	{name: "registered-own-unit", obj: petition(callerUnit, callerID, "u-other2"), inScope: true, registered: true},
	{name: "assigned", obj: petition("group/west", "u-other", callerID), assigned: true},
	{name: "assigned-own-unit", obj: petition(callerUnit, "u-other", callerID), inScope: true, assigned: true},
	{name: "registered-assigned", obj: petition("group/west", callerID, callerID), registered: true, assigned: true},
	{name: "named-outside", obj: petition("group/west", "u-other", "u-other2", "h-x", callerHash), named: true},
	{name: "named-own-unit", obj: petition(callerUnit, "u-other", "u-other2", callerHash), inScope: true, named: true},
	{name: "named-sub-unit", obj: petition("group/east/site-3", "u-other", "u-other2", callerAlt), inScope: true, named: true},
	{name: "named-registered", obj: petition("group/west", callerID, "u-other2", callerHash), registered: true, named: true},
	{name: "named-assigned", obj: petition("group/west", "u-other", callerID, callerAlt), assigned: true, named: true},
	{name: "named-own-unit-registered-assigned", obj: petition(callerUnit, callerID, callerID, "h-x", callerAlt), inScope: true, registered: true, assigned: true, named: true},
}

// otherSituations are the non-petition objects: user records and units.
var otherSituations = []situation{
	{name: "self-user", obj: Object{Type: "user", ID: callerID, Unit: callerUnit}, inScope: true, self: true},
	{name: "other-user-own-unit", obj: Object{Type: "user", ID: "u-other", Unit: callerUnit}, inScope: true},
	{name: "other-user-sibling-unit", obj: Object{Type: "user", ID: "u-other", Unit: "group/west"}},
	{name: "unit-own", obj: Object{Type: "unit", ID: callerUnit, Unit: callerUnit}, inScope: true},
	{name: "unit-sub", obj: Object{Type: "unit", ID: "group/east/site-3", Unit: "group/east/site-3"}, inScope: true},
	{name: "unit-parent", obj: Object{Type: "unit", ID: "group", Unit: "group"}},
	{name: "unit-sibling", obj: Object{Type: "unit", ID: "group/west", Unit: "group/west"}},
	{name: "no-object", obj: Object{}},
}

// roleAllows is the API.md table ("Roles and units") for one role, before
// the subject rule.
func roleAllows(role, act string, s situation) bool {
	switch act {
	case UserSelf:
		return s.self // everyone, on their own user record
	case UnitList:
		return true // everyone
	}
	switch role {
	case RoleAdmin:
		// manage users, roles, policy (and units, keys); never petition content
		return act == UserManage || act == PolicyManage || act == UnitManage || act == KeyManage || act == SystemSweep || act == AnalysisManage || act == SystemDebug
	case RoleRegistrar:
		switch act {
		case PetitionCreate:
			return s.inScope
		case PetitionRead, PetitionList, PetitionReveal:
			return s.registered
		}
	case RoleOfficer:
		switch act {
		case PetitionCreate:
			return s.inScope
		case PetitionRead, PetitionList, "petition.reply", "petition.note":
			return s.assigned
		}
	case RoleSupervisor:
		// Reviews are for the units above the one that handled the case.
		if (act == "petition.review_reply" || act == "petition.rereview_reply") && s.obj.Unit == callerUnit {
			return false
		}
		if act == "petition.rereview_reply" && Parent(s.obj.Unit) == callerUnit {
			return false
		}
		if strings.HasPrefix(act, "petition.") || act == StatsRead || act == AlertList {
			return s.inScope
		}
	case RoleAuditor:
		return act == AuditRead || act == StatsRead
	}
	return false
}

// expect is the API.md answer for a caller holding roles.
func expect(roles []string, act string, s situation) bool {
	if strings.HasPrefix(act, "petition.") && s.named {
		return false // the subject rule, whatever the role
	}
	if roleAllows("", act, s) {
		return true
	}
	for _, r := range roles {
		if roleAllows(r, act, s) {
			return true
		}
	}
	return false
}

var roleSets = []struct {
	name  string
	roles []string
}{
	{"admin", []string{RoleAdmin}},
	{"registrar", []string{RoleRegistrar}},
	{"officer", []string{RoleOfficer}},
	{"supervisor", []string{RoleSupervisor}},
	{"auditor", []string{RoleAuditor}},
	{"none", nil},
	{"registrar+officer", []string{RoleRegistrar, RoleOfficer}},
}

func TestDefaultPolicyTable(t *testing.T) {
	e := newEnforcer(t, DefaultRules())
	for _, rs := range roleSets {
		for _, act := range Actions {
			sits := petitionSituations
			if !strings.HasPrefix(act, "petition.") {
				sits = append(slices.Clone(petitionSituations), otherSituations...)
			}
			for _, s := range sits {
				t.Run(rs.name+"/"+act+"/"+s.name, func(t *testing.T) {
					sub := caller(rs.roles...)
					obj := s.obj
					want := expect(rs.roles, act, s)
					d := e.Decide(sub, act, &obj)
					if d.Allowed != want {
						t.Fatalf("Decide(%v, %s, %+v).Allowed = %v, want %v (rule %v)", rs.roles, act, obj, d.Allowed, want, d.Rule)
					}
					if got := e.Allowed(sub, act, &obj); got != want {
						t.Errorf("Allowed = %v, want %v", got, want)
					}
					// The deciding rule agrees with the outcome.
					switch {
					case d.Allowed:
						if len(d.Rule) != 5 || d.Rule[0] != "p" || d.Rule[4] != "allow" {
							t.Errorf("allowed by %v, want an allow rule", d.Rule)
						}
					case strings.HasPrefix(act, "petition.") && s.named:
						if !slices.Equal(d.Rule, subjectRule) {
							t.Errorf("denied by %v, want the subject rule %v", d.Rule, subjectRule)
						}
					case (act == "petition.review_reply" || act == "petition.rereview_reply") && slices.Contains(rs.roles, RoleSupervisor) && obj.Unit == callerUnit,
						act == "petition.rereview_reply" && slices.Contains(rs.roles, RoleSupervisor) && Parent(obj.Unit) == callerUnit:
						if len(d.Rule) != 5 || (d.Rule[3] != ScopeSame && d.Rule[3] != ScopeParentOnly) || d.Rule[4] != "deny" {
							t.Errorf("denied by %v, want the own-unit review deny rule", d.Rule)
						}
					case d.Rule != nil:
						t.Errorf("denied with rule %v, want nil (default deny)", d.Rule)
					}
					// RoleMay is true whenever some object is allowed.
					if want && !e.RoleMay(sub, act) {
						t.Errorf("RoleMay = false, but the action is allowed here")
					}
				})
			}
		}
	}
}

var subjectRule = []string{"p", "*", "petition.*", ScopeNamed, "deny"}

// TestDefaultPolicyTableCoversAllActions guards the table above: every
// action is granted to someone somewhere, so a typo in the expectation
// cannot silently turn into "deny everything".
func TestDefaultPolicyTableCoversAllActions(t *testing.T) {
	all := append(slices.Clone(petitionSituations), otherSituations...)
	for _, act := range Actions {
		granted := false
		for _, rs := range roleSets {
			for _, s := range all {
				if expect(rs.roles, act, s) {
					granted = true
				}
			}
		}
		if !granted {
			t.Errorf("%s is granted to nobody in the expectation table", act)
		}
	}
}

func TestDecideRule(t *testing.T) {
	e := newEnforcer(t, DefaultRules())
	for _, tt := range []struct {
		name    string
		roles   []string
		act     string
		obj     *Object
		allowed bool
		rule    []string
	}{
		{"registrar reads registered", []string{RoleRegistrar}, PetitionRead,
			&Object{Type: "petition", Unit: "group/west", RegisteredBy: callerID},
			true, []string{"p", RoleRegistrar, PetitionRead, ScopeRegistered, "allow"}},
		{"officer replies on assigned", []string{RoleOfficer}, "petition.reply",
			&Object{Type: "petition", Unit: "group/west", Assignee: callerID},
			true, []string{"p", RoleOfficer, "petition.reply", ScopeAssigned, "allow"}},
		{"supervisor family rule", []string{RoleSupervisor}, "petition.accept",
			&Object{Type: "petition", Unit: "group/east/site-1"},
			true, []string{"p", RoleSupervisor, "petition.*", ScopeUnit, "allow"}},
		{"everyone lists units", nil, UnitList, nil,
			true, []string{"p", "*", UnitList, ScopeAll, "allow"}},
		{"user.self", nil, UserSelf, &Object{Type: "user", ID: callerID},
			true, []string{"p", "*", UserSelf, ScopeSelf, "allow"}},
		{"admin manages keys", []string{RoleAdmin}, KeyManage, nil,
			true, []string{"p", RoleAdmin, KeyManage, ScopeAll, "allow"}},
		{"subject rule beats supervisor", []string{RoleSupervisor}, PetitionRead,
			&Object{Type: "petition", Unit: callerUnit, Subjects: []string{callerHash}},
			false, subjectRule},
		{"subject rule beats registrar", []string{RoleRegistrar}, PetitionReveal,
			&Object{Type: "petition", Unit: callerUnit, RegisteredBy: callerID, Subjects: []string{callerAlt}},
			false, subjectRule},
		{"subject rule with no allow at all", []string{RoleAuditor}, PetitionRead,
			&Object{Type: "petition", Unit: callerUnit, Subjects: []string{callerAlt}},
			false, subjectRule},
		{"nothing matched", []string{RoleRegistrar}, PetitionRead,
			&Object{Type: "petition", Unit: callerUnit, RegisteredBy: "u-other"},
			false, nil},
		{"admin never reads petitions", []string{RoleAdmin}, PetitionRead,
			&Object{Type: "petition", Unit: callerUnit},
			false, nil},
		{"nil object", []string{RoleSupervisor}, PetitionRead, nil, false, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := e.Decide(caller(tt.roles...), tt.act, tt.obj)
			if d.Allowed != tt.allowed {
				t.Errorf("Allowed = %v, want %v", d.Allowed, tt.allowed)
			}
			if !slices.Equal(d.Rule, tt.rule) || (tt.rule == nil) != (d.Rule == nil) {
				t.Errorf("Rule = %#v, want %#v", d.Rule, tt.rule)
			}
		})
	}
}

// TestDecideRuleIsAMatchingAllow: with two roles that both allow, the
// deciding rule is one of theirs.
func TestDecideRuleIsAMatchingAllow(t *testing.T) {
	e := newEnforcer(t, DefaultRules())
	obj := &Object{Type: "petition", Unit: "group/west", RegisteredBy: callerID, Assignee: callerID}
	d := e.Decide(caller(RoleRegistrar, RoleOfficer), PetitionRead, obj)
	if !d.Allowed {
		t.Fatalf("registrar+officer may not read a petition they registered and were assigned")
	}
	ok := [][]string{
		{"p", RoleRegistrar, PetitionRead, ScopeRegistered, "allow"},
		{"p", RoleOfficer, PetitionRead, ScopeAssigned, "allow"},
	}
	if !slices.ContainsFunc(ok, func(r []string) bool { return slices.Equal(r, d.Rule) }) {
		t.Errorf("Rule = %v, want one of %v", d.Rule, ok)
	}
}

func TestRoleMay(t *testing.T) {
	e := newEnforcer(t, DefaultRules())
	for _, tt := range []struct {
		roles []string
		act   string
		want  bool
	}{
		{[]string{RoleRegistrar}, PetitionRead, true},
		{[]string{RoleRegistrar}, PetitionReveal, true},
		{[]string{RoleRegistrar}, "petition.accept", false},
		{[]string{RoleOfficer}, PetitionRead, true},
		{[]string{RoleOfficer}, "petition.reply", true},
		{[]string{RoleOfficer}, "petition.note", true},
		{[]string{RoleOfficer}, PetitionReveal, false},
		{[]string{RoleOfficer}, "petition.accept", false},
		{[]string{RoleSupervisor}, "petition.accept", true},
		{[]string{RoleSupervisor}, PetitionReveal, true},
		{[]string{RoleSupervisor}, StatsRead, true},
		{[]string{RoleSupervisor}, AuditRead, false},
		{[]string{RoleSupervisor}, UserManage, false},
		{[]string{RoleAuditor}, AuditRead, true},
		{[]string{RoleAuditor}, StatsRead, true},
		{[]string{RoleAuditor}, PetitionRead, false},
		{[]string{RoleAuditor}, PetitionList, false},
		{[]string{RoleAdmin}, UserManage, true},
		{[]string{RoleAdmin}, PolicyManage, true},
		{[]string{RoleAdmin}, PetitionRead, false},
		{[]string{RoleAdmin}, PetitionCreate, false},
		{[]string{RoleAdmin}, AuditRead, false},
		{nil, UnitList, true},
		{nil, UserSelf, true},
		{nil, PetitionCreate, false},
		{nil, StatsRead, false},
		{[]string{RoleRegistrar, RoleOfficer}, PetitionReveal, true},
		{[]string{RoleRegistrar, RoleOfficer}, "petition.reply", true},
		{[]string{"no-such-role"}, PetitionRead, false},
	} {
		t.Run(fmt.Sprintf("%s/%s", strings.Join(tt.roles, "+"), tt.act), func(t *testing.T) {
			if got := e.RoleMay(caller(tt.roles...), tt.act); got != tt.want {
				t.Errorf("RoleMay = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRoleMayDenyAll(t *testing.T) {
	rules := append(DefaultRules(),
		[]string{"p", RoleSupervisor, PetitionReveal, ScopeAll, "deny"},
		[]string{"p", RoleRegistrar, PetitionRead, ScopeUnit, "deny"},
	)
	e := newEnforcer(t, rules)
	sup := caller(RoleSupervisor)
	if e.RoleMay(sup, PetitionReveal) {
		t.Errorf("RoleMay(supervisor, reveal) = true despite a deny rule with scope all")
	}
	if got := e.Scopes(sup, PetitionReveal); got != nil {
		t.Errorf("Scopes(supervisor, reveal) = %v, want nil", got)
	}
	if !e.RoleMay(sup, PetitionRead) {
		t.Errorf("RoleMay(supervisor, read) = false; the deny covers reveal only")
	}
	if d := e.Decide(sup, PetitionReveal, &Object{Type: "petition", Unit: callerUnit}); d.Allowed {
		t.Errorf("Decide(supervisor, reveal) allowed by %v despite deny with scope all", d.Rule)
	}
	// A deny with a narrower scope leaves the role's other scopes.
	reg := caller(RoleRegistrar)
	if !e.RoleMay(reg, PetitionRead) {
		t.Errorf("RoleMay(registrar, read) = false; the deny covers the unit scope only")
	}
	if d := e.Decide(reg, PetitionRead, &Object{Type: "petition", Unit: "group/west", RegisteredBy: callerID}); !d.Allowed {
		t.Errorf("registrar read of a registered petition outside the unit denied by %v", d.Rule)
	}
	if d := e.Decide(reg, PetitionRead, &Object{Type: "petition", Unit: callerUnit, RegisteredBy: callerID}); d.Allowed {
		t.Errorf("registrar read in own unit allowed by %v despite the unit deny", d.Rule)
	}
}

func TestScopes(t *testing.T) {
	e := newEnforcer(t, DefaultRules())
	for _, tt := range []struct {
		roles []string
		act   string
		want  []string
	}{
		{[]string{RoleRegistrar}, PetitionList, []string{ScopeRegistered}},
		{[]string{RoleRegistrar}, PetitionRead, []string{ScopeRegistered}},
		{[]string{RoleRegistrar}, PetitionCreate, []string{ScopeUnit}},
		{[]string{RoleOfficer}, PetitionList, []string{ScopeAssigned}},
		{[]string{RoleOfficer}, PetitionReveal, nil},
		{[]string{RoleSupervisor}, PetitionList, []string{ScopeUnit}},
		{[]string{RoleSupervisor}, StatsRead, []string{ScopeUnit}},
		{[]string{RoleAuditor}, PetitionRead, nil},
		{[]string{RoleAuditor}, StatsRead, []string{ScopeAll}},
		{[]string{RoleAdmin}, PetitionList, nil},
		{[]string{RoleAdmin}, UserManage, []string{ScopeAll}},
		{nil, UserSelf, []string{ScopeSelf}},
		{nil, UnitList, []string{ScopeAll}},
		{nil, PetitionRead, nil},
		{[]string{RoleRegistrar, RoleOfficer}, PetitionList, []string{ScopeAssigned, ScopeRegistered}},
		{[]string{RoleRegistrar, RoleOfficer}, PetitionCreate, []string{ScopeUnit}}, // no duplicates
		{[]string{RoleSupervisor, RoleAuditor}, StatsRead, []string{ScopeAll, ScopeUnit}},
	} {
		t.Run(fmt.Sprintf("%s/%s", strings.Join(tt.roles, "+"), tt.act), func(t *testing.T) {
			got := e.Scopes(caller(tt.roles...), tt.act)
			sorted := slices.Clone(got)
			slices.Sort(sorted)
			if !slices.Equal(sorted, tt.want) {
				t.Errorf("Scopes = %v, want %v", got, tt.want)
			}
			if tt.want == nil && len(got) != 0 {
				t.Errorf("Scopes = %v, want none", got)
			}
			if got, want := e.RoleMay(caller(tt.roles...), tt.act), len(tt.want) > 0; got != want {
				t.Errorf("RoleMay = %v, want %v", got, want)
			}
		})
	}
}

func TestWithin(t *testing.T) {
	for _, tt := range []struct {
		unit, scope string
		want        bool
	}{
		{"group/east", "group/east", true},
		{"group/east/site-3", "group/east", true},
		{"group/east/site-3/x", "group", true},
		{"group/east", "group", true},
		{"group/east", "group/ea", false},
		{"group/eastern", "group/east", false},
		{"group/east-2", "group/east", false},
		{"group", "group/east", false},
		{"group/west", "group/east", false},
		{"groupx/east", "group", false},
		{"group/east", "", false},
		{"", "group", false},
		{"other/group/east", "group/east", false},
	} {
		t.Run(tt.unit+"|"+tt.scope, func(t *testing.T) {
			if got := Within(tt.unit, tt.scope); got != tt.want {
				t.Errorf("Within(%q, %q) = %v, want %v", tt.unit, tt.scope, got, tt.want)
			}
		})
	}
}

func TestParent(t *testing.T) {
	for _, tt := range []struct{ unit, want string }{
		{"group", ""},
		{"", ""},
		{"group/east", "group"},
		{"group/east/site-3", "group/east"},
	} {
		if got := Parent(tt.unit); got != tt.want {
			t.Errorf("Parent(%q) = %q, want %q", tt.unit, got, tt.want)
		}
	}
}

func TestInScope(t *testing.T) {
	sub := &Subject{UserID: "u1", Unit: "group/east", Names: []string{"h1", "h2"}}
	for _, tt := range []struct {
		name  string
		scope string
		sub   *Subject
		obj   Object
		want  bool
	}{
		{"all", ScopeAll, sub, Object{}, true},
		{"unit own", ScopeUnit, sub, Object{Unit: "group/east"}, true},
		{"unit below", ScopeUnit, sub, Object{Unit: "group/east/a/b"}, true},
		{"unit parent", ScopeUnit, sub, Object{Unit: "group"}, false},
		{"unit prefix sibling", ScopeUnit, sub, Object{Unit: "group/eastern"}, false},
		{"unit empty object", ScopeUnit, sub, Object{}, false},
		{"unit empty both", ScopeUnit, &Subject{}, Object{}, false},
		{"unit empty caller unit", ScopeUnit, &Subject{UserID: "u1"}, Object{Unit: "group"}, false},
		{"parent: child of own unit", ScopeParent, sub, Object{Unit: "group/east/site-3"}, true},
		{"parent: grandchild", ScopeParent, sub, Object{Unit: "group/east/site-3/x"}, true},
		{"parent: own unit", ScopeParent, sub, Object{Unit: "group/east"}, false},
		{"parent: root", ScopeParent, &Subject{Unit: "group"}, Object{Unit: "group"}, false},
		{"parent: sibling child", ScopeParent, sub, Object{Unit: "group/west/site-1"}, false},
		{"registered", ScopeRegistered, sub, Object{RegisteredBy: "u1"}, true},
		{"registered other", ScopeRegistered, sub, Object{RegisteredBy: "u2"}, false},
		{"registered empty ids", ScopeRegistered, &Subject{}, Object{}, false},
		{"assigned", ScopeAssigned, sub, Object{Assignee: "u1"}, true},
		{"assigned other", ScopeAssigned, sub, Object{Assignee: "u2"}, false},
		{"assigned empty ids", ScopeAssigned, &Subject{}, Object{}, false},
		{"named first", ScopeNamed, sub, Object{Subjects: []string{"x", "h1"}}, true},
		{"named second", ScopeNamed, sub, Object{Subjects: []string{"h2"}}, true},
		{"named not", ScopeNamed, sub, Object{Subjects: []string{"x"}}, false},
		{"named no names", ScopeNamed, &Subject{}, Object{Subjects: []string{"x"}}, false},
		{"named no subjects", ScopeNamed, sub, Object{}, false},
		{"self", ScopeSelf, sub, Object{Type: "user", ID: "u1"}, true},
		{"self other user", ScopeSelf, sub, Object{Type: "user", ID: "u2"}, false},
		{"self petition with same id", ScopeSelf, sub, Object{Type: "petition", ID: "u1"}, false},
		// Like registered and assigned: an empty id matches nothing.
		{"self empty ids", ScopeSelf, &Subject{}, Object{Type: "user"}, false},
		{"unknown scope", "world", sub, Object{Unit: "group/east"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			obj := tt.obj
			if got := InScope(tt.scope, tt.sub, &obj); got != tt.want {
				t.Errorf("InScope(%q, %+v, %+v) = %v, want %v", tt.scope, tt.sub, obj, got, tt.want)
			}
		})
	}
}

// TestDecideUnknownAction: a request for an action the policy does not know
// (a typo in a handler, or the audit name petition.reveal_identity instead of
// petition.reveal) fails closed, even where a family rule (petition.*) or the
// family part of its name would match. Validate rejects such names in rules;
// requests should be held to the same list.
func TestDecideUnknownAction(t *testing.T) {
	e := newEnforcer(t, DefaultRules())
	obj := &Object{Type: "petition", Unit: callerUnit, RegisteredBy: callerID, Assignee: callerID}
	for _, act := range []string{"petition.delete", "petition.reveal_identity", "petition.", ""} {
		for _, rs := range roleSets {
			t.Run(rs.name+"/"+act, func(t *testing.T) {
				sub := caller(rs.roles...)
				if d := e.Decide(sub, act, obj); d.Allowed {
					t.Errorf("Decide(%q) allowed by %v, want denied", act, d.Rule)
				}
				if e.RoleMay(sub, act) {
					t.Errorf("RoleMay(%q) = true, want false", act)
				}
			})
		}
	}
}

// TestUserSelfEmptyID: a caller without a user id is nobody's self.
func TestUserSelfEmptyID(t *testing.T) {
	e := newEnforcer(t, DefaultRules())
	if d := e.Decide(&Subject{}, UserSelf, &Object{Type: "user"}); d.Allowed {
		t.Errorf("user.self with empty UserID on a user object with empty ID allowed by %v", d.Rule)
	}
}

func TestValidate(t *testing.T) {
	if err := Validate(DefaultRules()); err != nil {
		t.Fatalf("Validate(DefaultRules()) = %v", err)
	}
	for _, ok := range []struct {
		name  string
		rules [][]string
	}{
		{"empty set", nil},
		{"star role", [][]string{{"p", "*", "*", ScopeAll, "deny"}}},
		{"family", [][]string{{"p", RoleAdmin, "user.*", ScopeAll, "allow"}}},
		{"every scope", func() [][]string {
			var rs [][]string
			for _, s := range ScopeNames {
				rs = append(rs, []string{"p", RoleOfficer, PetitionRead, s, "allow"})
			}
			return rs
		}()},
		{"g rule", [][]string{{"g", RoleSupervisor, RoleOfficer}}},
		{"1000 rules", func() [][]string {
			rs := make([][]string, 999) // the subject rule makes 1000
			for i := range rs {
				rs[i] = []string{"p", RoleOfficer, PetitionRead, ScopeAssigned, "allow"}
			}
			return rs
		}()},
	} {
		t.Run("valid/"+ok.name, func(t *testing.T) {
			rules := append(slices.Clone(ok.rules), SubjectRule)
			if err := Validate(rules); err != nil {
				t.Errorf("Validate = %v, want nil", err)
			}
			if _, err := New(rules); err != nil {
				t.Errorf("New = %v, want nil", err)
			}
		})
	}
	good := []string{"p", RoleOfficer, PetitionRead, ScopeAssigned, "allow"}
	for _, tt := range []struct {
		name string
		bad  []string
	}{
		{"unknown role", []string{"p", "root", PetitionRead, ScopeAll, "allow"}},
		{"empty role", []string{"p", "", PetitionRead, ScopeAll, "allow"}},
		{"role case", []string{"p", "Admin", UserManage, ScopeAll, "allow"}},
		{"unknown action", []string{"p", RoleAdmin, "petition.delete", ScopeAll, "allow"}},
		{"empty action", []string{"p", RoleAdmin, "", ScopeAll, "allow"}},
		{"unknown family", []string{"p", RoleAdmin, "vault.*", ScopeAll, "allow"}},
		{"bare family dot", []string{"p", RoleAdmin, ".*", ScopeAll, "allow"}},
		{"partial family", []string{"p", RoleAdmin, "petition.re*", ScopeAll, "allow"}},
		{"family of an action", []string{"p", RoleAdmin, "petition.read.*", ScopeAll, "allow"}},
		{"action prefix", []string{"p", RoleAdmin, "petition", ScopeAll, "allow"}},
		{"unknown scope", []string{"p", RoleAdmin, UserManage, "world", "allow"}},
		{"empty scope", []string{"p", RoleAdmin, UserManage, "", "allow"}},
		{"bad effect", []string{"p", RoleAdmin, UserManage, ScopeAll, "permit"}},
		{"effect case", []string{"p", RoleAdmin, UserManage, ScopeAll, "Allow"}},
		{"empty effect", []string{"p", RoleAdmin, UserManage, ScopeAll, ""}},
		{"p too short", []string{"p", RoleAdmin, UserManage, ScopeAll}},
		{"p too long", []string{"p", RoleAdmin, UserManage, ScopeAll, "allow", "extra"}},
		{"p alone", []string{"p"}},
		{"empty rule", []string{}},
		{"bad type", []string{"x", RoleAdmin, UserManage, ScopeAll, "allow"}},
		{"type case", []string{"P", RoleAdmin, UserManage, ScopeAll, "allow"}},
		{"g2 type", []string{"g2", RoleAdmin, RoleAuditor}},
		{"g unknown role", []string{"g", RoleSupervisor, "boss"}},
		{"g unknown first role", []string{"g", "boss", RoleSupervisor}},
		{"g star", []string{"g", "*", RoleAdmin}},
		{"g too short", []string{"g", RoleSupervisor}},
		{"g too long", []string{"g", RoleSupervisor, RoleOfficer, "group"}},
	} {
		t.Run("invalid/"+tt.name, func(t *testing.T) {
			// The bad rule sits in the middle of good ones.
			rules := [][]string{good, tt.bad, good}
			err := Validate(rules)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), "rule 1") {
				t.Errorf("Validate error %q does not name rule 1", err)
			}
			e, err := New(rules)
			if !errors.Is(err, ErrInvalid) || e != nil {
				t.Errorf("New = %v, %v; want nil, ErrInvalid", e, err)
			}
		})
	}
	t.Run("invalid/more than 1000 rules", func(t *testing.T) {
		rules := make([][]string, 1001)
		for i := range rules {
			rules[i] = good
		}
		if err := Validate(rules); !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate = %v, want ErrInvalid", err)
		}
	})
}

func TestNewEmptyDeniesAll(t *testing.T) {
	e := newEnforcer(t, nil)
	for _, act := range Actions {
		if d := e.Decide(caller(Roles...), act, &Object{Type: "petition", Unit: callerUnit}); d.Allowed || d.Rule != nil {
			t.Errorf("%s with no rules: %+v, want denied by default", act, d)
		}
	}
}

func TestRulesAreCopies(t *testing.T) {
	in := DefaultRules()
	e := newEnforcer(t, in)
	in[0][1] = RoleAdmin // the caller's slice changes after New
	got := e.Rules()
	if !slices.EqualFunc(got, DefaultRules(), slices.Equal) {
		t.Fatalf("Rules() = %v, want DefaultRules()", got)
	}
	got[0][1] = RoleAdmin
	if e.Rules()[0][1] != "*" {
		t.Errorf("changing the result of Rules() changed the enforcer")
	}
	if !e.Allowed(caller(), UserSelf, &Object{Type: "user", ID: callerID}) {
		t.Errorf("user.self denied after the caller's copies were changed")
	}
}

func TestReplace(t *testing.T) {
	e := newEnforcer(t, DefaultRules())
	sup := caller(RoleSupervisor)
	obj := &Object{Type: "petition", Unit: callerUnit}

	bad := append(DefaultRules(), []string{"p", "root", "*", ScopeAll, "allow"})
	if err := e.Replace(bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Replace(bad) = %v, want ErrInvalid", err)
	}
	if !slices.EqualFunc(e.Rules(), DefaultRules(), slices.Equal) {
		t.Errorf("Rules() changed after a failed Replace: %v", e.Rules())
	}
	if !e.Allowed(sup, PetitionRead, obj) {
		t.Errorf("supervisor read denied after a failed Replace")
	}

	next := [][]string{{"p", RoleOfficer, PetitionRead, ScopeAll, "allow"}, SubjectRule}
	if err := e.Replace(next); err != nil {
		t.Fatalf("Replace(next) = %v", err)
	}
	if !slices.EqualFunc(e.Rules(), next, slices.Equal) {
		t.Errorf("Rules() = %v, want %v", e.Rules(), next)
	}
	if e.Allowed(sup, PetitionRead, obj) {
		t.Errorf("supervisor read allowed after the rules no longer grant it")
	}
	if !e.Allowed(caller(RoleOfficer), PetitionRead, obj) {
		t.Errorf("officer read denied under the new rules")
	}
	if got := e.Scopes(caller(RoleOfficer), PetitionRead); !slices.Equal(got, []string{ScopeAll}) {
		t.Errorf("Scopes under the new rules = %v", got)
	}
	if e.RoleMay(sup, PetitionRead) {
		t.Errorf("RoleMay(supervisor) still true under the new rules")
	}
}

// TestReplaceAtomic swaps between two rule sets while readers decide: each
// decision must be wholly one set's answer (run with -race).
func TestReplaceAtomic(t *testing.T) {
	ruleA := []string{"p", RoleSupervisor, PetitionRead, ScopeUnit, "allow"}
	ruleB := []string{"p", RoleSupervisor, PetitionRead, ScopeAll, "allow"}
	setA := [][]string{ruleA, subjectRule}
	setB := [][]string{ruleB, subjectRule}
	e := newEnforcer(t, setA)
	sup := caller(RoleSupervisor)
	inUnit := &Object{Type: "petition", Unit: callerUnit}
	outside := &Object{Type: "petition", Unit: "group/west"}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				d := e.Decide(sup, PetitionRead, inUnit)
				if !d.Allowed || !(slices.Equal(d.Rule, ruleA) || slices.Equal(d.Rule, ruleB)) {
					errs <- fmt.Sprintf("in-unit decision %+v", d)
					return
				}
				d = e.Decide(sup, PetitionRead, outside)
				if d.Allowed != slices.Equal(d.Rule, ruleB) {
					errs <- fmt.Sprintf("outside decision %+v", d)
					return
				}
				rs := e.Rules()
				if !slices.EqualFunc(rs, setA, slices.Equal) && !slices.EqualFunc(rs, setB, slices.Equal) {
					errs <- fmt.Sprintf("Rules() = %v, neither set", rs)
					return
				}
				if s := e.Scopes(sup, PetitionRead); len(s) != 1 {
					errs <- fmt.Sprintf("Scopes = %v", s)
					return
				}
			}
		}()
	}
	for i := range 200 {
		set := setA
		if i%2 == 0 {
			set = setB
		}
		if err := e.Replace(set); err != nil {
			t.Fatalf("Replace: %v", err)
		}
		if i%10 == 0 {
			// A failed Replace in between changes nothing.
			if err := e.Replace([][]string{{"bogus"}}); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Replace(bogus) = %v", err)
			}
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
}

func TestInheritance(t *testing.T) {
	sibAssigned := &Object{Type: "petition", Unit: "group/west", Assignee: callerID}
	sibRegistered := &Object{Type: "petition", Unit: "group/west", RegisteredBy: callerID}
	sup := caller(RoleSupervisor)

	base := newEnforcer(t, DefaultRules())
	if base.Allowed(sup, PetitionRead, sibAssigned) {
		t.Fatalf("supervisor reads an assigned petition outside their scope without inheritance")
	}

	e := newEnforcer(t, append(DefaultRules(), []string{"g", RoleSupervisor, RoleOfficer}))
	d := e.Decide(sup, PetitionRead, sibAssigned)
	if !d.Allowed || !slices.Equal(d.Rule, []string{"p", RoleOfficer, PetitionRead, ScopeAssigned, "allow"}) {
		t.Errorf("g supervisor officer: read of assigned = %+v, want allowed by the officer rule", d)
	}
	if got := e.Scopes(sup, PetitionList); !slices.Contains(got, ScopeAssigned) || !slices.Contains(got, ScopeUnit) {
		t.Errorf("Scopes(supervisor, list) = %v, want unit and assigned", got)
	}
	// The subject rule still applies to inherited rights.
	named := &Object{Type: "petition", Unit: "group/west", Assignee: callerID, Subjects: []string{callerHash}}
	if d := e.Decide(sup, PetitionRead, named); d.Allowed {
		t.Errorf("inherited read of a petition naming the caller allowed by %v", d.Rule)
	}
	// Inheritance is one-way.
	if e.Allowed(caller(RoleOfficer), "petition.accept", &Object{Type: "petition", Unit: callerUnit}) {
		t.Errorf("officer holds supervisor rules after g supervisor officer")
	}

	// Transitive: officer → registrar → supervisor is not asked here; the
	// chain registrar → officer → (nothing) must not reach supervisor rules.
	e = newEnforcer(t, append(DefaultRules(),
		[]string{"g", RoleRegistrar, RoleOfficer}))
	aud := caller(RoleRegistrar)
	if !e.Allowed(aud, PetitionRead, sibAssigned) {
		t.Errorf("auditor does not inherit officer rules through registrar")
	}
	if !e.Allowed(aud, PetitionReveal, sibRegistered) {
		t.Errorf("auditor does not inherit registrar rules")
	}
	if e.Allowed(aud, "petition.accept", &Object{Type: "petition", Unit: callerUnit}) {
		t.Errorf("auditor gained supervisor rules")
	}

	// Transitive: registrar → officer → supervisor.
	e = newEnforcer(t, append(DefaultRules(),
		[]string{"g", RoleRegistrar, RoleOfficer},
		[]string{"g", RoleOfficer, RoleSupervisor}))
	if !e.Allowed(caller(RoleRegistrar), "petition.accept", &Object{Type: "petition", Unit: callerUnit}) {
		t.Errorf("registrar does not inherit supervisor rules through officer")
	}

	// Cycles terminate and share rules both ways.
	e = newEnforcer(t, append(DefaultRules(),
		[]string{"g", RoleOfficer, RoleRegistrar},
		[]string{"g", RoleRegistrar, RoleOfficer}))
	if !e.Allowed(caller(RoleOfficer), PetitionReveal, sibRegistered) {
		t.Errorf("officer in a cycle lacks registrar rules")
	}
	if !e.Allowed(caller(RoleRegistrar), "petition.reply", sibAssigned) {
		t.Errorf("registrar in a cycle lacks officer rules")
	}

	// An inherited deny applies too.
	e = newEnforcer(t, append(DefaultRules(),
		[]string{"p", RoleOfficer, PetitionReveal, ScopeAll, "deny"},
		[]string{"g", RoleSupervisor, RoleOfficer}))
	if d := e.Decide(sup, PetitionReveal, &Object{Type: "petition", Unit: callerUnit}); d.Allowed {
		t.Errorf("supervisor reveal allowed by %v despite an inherited deny", d.Rule)
	}
	if e.RoleMay(sup, PetitionReveal) {
		t.Errorf("RoleMay(supervisor, reveal) despite an inherited deny with scope all")
	}
}

// TestDenyOverridesWildcardAllow: the subject rule beats even an allow of
// every action everywhere.
func TestDenyOverridesWildcardAllow(t *testing.T) {
	rules := [][]string{
		{"p", RoleSupervisor, "*", ScopeAll, "allow"},
		subjectRule,
	}
	e := newEnforcer(t, rules)
	sub := caller(RoleSupervisor)
	named := &Object{Type: "petition", Unit: callerUnit, Subjects: []string{callerAlt}}
	for _, act := range Actions {
		d := e.Decide(sub, act, named)
		want := !strings.HasPrefix(act, "petition.")
		if d.Allowed != want {
			t.Errorf("%s on a petition naming the caller: allowed %v, want %v (rule %v)", act, d.Allowed, want, d.Rule)
		}
	}
}

func TestModelEmbedded(t *testing.T) {
	for _, s := range []string{"[request_definition]", "[policy_effect]", "[matchers]", "inScope", "hasRole", "actionMatch"} {
		if !strings.Contains(Model, s) {
			t.Errorf("Model lacks %q", s)
		}
	}
}

// fuzzVocab are the tokens FuzzValidate picks fields from, so that it
// reaches valid rule sets as well as almost-valid ones.
var fuzzVocab = func() []string {
	v := []string{"p", "g", "", "*", "allow", "deny", "petition.*", "user.*", "x.*", ".*", "P", "Allow", "group/east"}
	v = append(v, Roles...)
	v = append(v, Actions...)
	v = append(v, ScopeNames...)
	return v
}()

// fuzzRules builds a rule set from text (rules on lines, fields split by
// commas) followed by rules whose fields are picked from fuzzVocab: a byte
// 0xff ends a rule, any other byte picks a token.
func fuzzRules(text string, picks []byte) [][]string {
	var rules [][]string
	if text != "" {
		for line := range strings.SplitSeq(text, "\n") {
			if line == "" {
				rules = append(rules, []string{})
				continue
			}
			rules = append(rules, strings.Split(line, ","))
		}
	}
	var cur []string
	for _, b := range picks {
		if b == 0xff {
			rules = append(rules, cur)
			cur = nil
			continue
		}
		cur = append(cur, fuzzVocab[int(b)%len(fuzzVocab)])
	}
	if cur != nil {
		rules = append(rules, cur)
	}
	return rules
}

func FuzzValidate(f *testing.F) {
	var text []string
	for _, r := range DefaultRules() {
		text = append(text, strings.Join(r, ","))
	}
	f.Add(strings.Join(text, "\n"), []byte(nil))
	f.Add("g,supervisor,officer\np,officer,petition.read,assigned,allow", []byte{})
	f.Add("p,root,*,all,allow", []byte{})
	f.Add("", []byte{0, 17, 30, 34, 4, 0xff, 1, 13, 14})
	f.Add("\n\np", []byte{0xff, 0xff})
	f.Add("p,*,*,all,deny\ng,admin,admin", []byte{0, 3, 3, 40, 5})
	f.Fuzz(func(t *testing.T, text string, picks []byte) {
		rules := fuzzRules(text, picks)
		verr := Validate(rules)
		if verr != nil && !errors.Is(verr, ErrInvalid) {
			t.Fatalf("Validate error %v does not wrap ErrInvalid", verr)
		}
		e, nerr := New(rules)
		if (verr == nil) != (nerr == nil) {
			t.Fatalf("Validate = %v but New = %v for %q", verr, nerr, rules)
		}
		if nerr != nil {
			if e != nil {
				t.Fatalf("New returned an enforcer with error %v", nerr)
			}
			return
		}
		if got := e.Rules(); !slices.EqualFunc(got, rules, slices.Equal) {
			t.Fatalf("Rules() = %q, want %q", got, rules)
		}
		// Decisions under any valid rule set never panic, and allowed
		// decisions name an allow rule of the set.
		obj := &Object{Type: "petition", ID: "p", Unit: "group/east/site-1", RegisteredBy: callerID, Assignee: "u2", Subjects: []string{"h-x"}}
		for _, roles := range [][]string{nil, Roles} {
			sub := caller(roles...)
			for _, act := range []string{PetitionRead, UserSelf, AuditRead, "petition.nonesuch"} {
				d := e.Decide(sub, act, obj)
				if d.Allowed && (len(d.Rule) != 5 || d.Rule[4] != "allow") {
					t.Fatalf("allowed by %q", d.Rule)
				}
				if d.Allowed && !e.RoleMay(sub, act) {
					t.Fatalf("%s allowed by %q but RoleMay is false", act, d.Rule)
				}
			}
		}
		if err := e.Replace(rules); err != nil {
			t.Fatalf("Replace of a valid set: %v", err)
		}
	})
}

// TestSubjectRuleRequired: a rule set that grants petition actions must
// keep the subject rule.
func TestSubjectRuleRequired(t *testing.T) {
	var without [][]string
	for _, r := range DefaultRules() {
		if !slices.Equal(r, SubjectRule) {
			without = append(without, r)
		}
	}
	if err := Validate(without); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "subject rule") {
		t.Fatalf("Validate(default rules without the subject rule) = %v", err)
	}
	if err := Validate([][]string{{"p", RoleAdmin, UserManage, ScopeAll, "allow"}}); err != nil {
		t.Fatalf("a rule set granting no petition action needs no subject rule: %v", err)
	}
}

// TestSeparationOfDuties: no rule set may let admins read petitions or the
// audit log, or auditors read petitions, directly, through "*" or through
// inheritance.
func TestSeparationOfDuties(t *testing.T) {
	for _, tt := range []struct {
		name  string
		extra [][]string
	}{
		{"admin reads petitions", [][]string{{"p", RoleAdmin, PetitionRead, ScopeAll, "allow"}}},
		{"admin petition family", [][]string{{"p", RoleAdmin, "petition.*", ScopeUnit, "allow"}}},
		{"admin reads the log", [][]string{{"p", RoleAdmin, AuditRead, ScopeAll, "allow"}}},
		{"admin everything", [][]string{{"p", RoleAdmin, "*", ScopeAll, "allow"}}},
		{"everyone reads", [][]string{{"p", "*", PetitionRead, ScopeAll, "allow"}}},
		{"auditor reveals", [][]string{{"p", RoleAuditor, PetitionReveal, ScopeAll, "allow"}}},
		{"auditor lists", [][]string{{"p", RoleAuditor, PetitionList, ScopeUnit, "allow"}}},
		{"admin inherits supervisor", [][]string{{"g", RoleAdmin, RoleSupervisor}}},
		{"auditor inherits registrar", [][]string{{"g", RoleAuditor, RoleRegistrar}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rules := append(DefaultRules(), tt.extra...)
			if err := Validate(rules); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "separation of duties") {
				t.Fatalf("Validate = %v, want a separation-of-duties error", err)
			}
		})
	}
	// Denies and other roles' rights are fine.
	ok := append(DefaultRules(), []string{"p", RoleAdmin, PetitionRead, ScopeAll, "deny"}, []string{"g", RoleSupervisor, RoleOfficer})
	if err := Validate(ok); err != nil {
		t.Fatalf("Validate(ok) = %v", err)
	}
}
