package api

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"pvault/audit"
	"pvault/policy"
	"pvault/vault"
)

// auUnits returns GET /units as path → item.
func auUnits(tb testing.TB, h *harness, token string) map[string]map[string]any {
	tb.Helper()
	m := h.must(http.StatusOK, "GET", "/api/v1/units", token, nil).JSON(tb)
	out := map[string]map[string]any{}
	for _, it := range m["items"].([]any) {
		u := it.(map[string]any)
		out[u["path"].(string)] = u
	}
	return out
}

// auRules returns the rules of GET /policy.
func auRules(tb testing.TB, h *harness) [][]string {
	tb.Helper()
	r := h.must(http.StatusOK, "GET", "/api/v1/policy", h.admin, nil)
	var p struct {
		Model string
		Rules [][]string
	}
	if err := json.Unmarshal(r.Body, &p); err != nil {
		tb.Fatal(err)
	}
	return p.Rules
}

// auWithout returns the default rules without those equal to any of drop,
// followed by add.
func auWithout(drop [][]string, add ...[]string) [][]string {
	var out [][]string
	for _, r := range policy.DefaultRules() {
		if !slices.ContainsFunc(drop, func(d []string) bool { return slices.Equal(d, r) }) {
			out = append(out, r)
		}
	}
	return append(out, add...)
}

// auRulesEqual compares rule sets.
func auRulesEqual(a, b [][]string) bool {
	return slices.EqualFunc(a, b, func(x, y []string) bool { return slices.Equal(x, y) })
}

func TestAdminUnits(t *testing.T) {
	h := newHarness(t)
	tokens, _ := auRoleUsers(h)
	h.user("sam", "group/east/site-3", "officer")

	t.Run("every role lists the known units", func(t *testing.T) {
		for _, role := range auRoles {
			r := h.do("GET", "/api/v1/units", tokens[role], nil)
			if r.Code != 200 {
				t.Fatalf("%s: GET /units %d %s", role, r.Code, r.Body)
			}
			auCheckEntry(t, h, r, "", audit.Allow)
			units := auUnits(t, h, tokens[role])
			// A unit exists once a user names it, with its ancestors.
			for _, p := range []string{"group", "group/east", "group/east/site-3"} {
				u, ok := units[p]
				if !ok {
					t.Errorf("%s: unit %s missing from %v", role, p, slices.Collect(maps.Keys(units)))
					continue
				}
				if got := slices.Sorted(maps.Keys(u)); !slices.Equal(got, []string{"name", "path", "public"}) {
					t.Errorf("unit keys = %v", got)
				}
			}
		}
	})

	for _, tt := range []struct {
		name       string
		role       string
		path       string
		body       any
		wantStatus int
		wantDetail string
		want       map[string]any // the unit afterwards, as GET /units shows it
	}{
		{name: "name and public", role: "admin", path: "group/east", body: map[string]any{"name": "东区分公司", "public": true}, wantStatus: 200,
			want: map[string]any{"path": "group/east", "name": "东区分公司", "public": true}},
		{name: "close again", role: "admin", path: "group/east", body: map[string]any{"name": "东区分公司", "public": false}, wantStatus: 200,
			want: map[string]any{"path": "group/east", "name": "东区分公司", "public": false}},
		{name: "new unit", role: "admin", path: "group/north/site-9", body: map[string]any{"name": "北区九号工地", "public": true}, wantStatus: 200,
			want: map[string]any{"path": "group/north/site-9", "name": "北区九号工地", "public": true}},
		{name: "root unit", role: "admin", path: "group", body: map[string]any{"name": "集团", "public": false}, wantStatus: 200,
			want: map[string]any{"path": "group", "name": "集团", "public": false}},
		{name: "registrar", role: "registrar", path: "group/east", body: map[string]any{"name": "x", "public": true}, wantStatus: 403},
		{name: "officer", role: "officer", path: "group/east", body: map[string]any{"name": "x", "public": true}, wantStatus: 403},
		{name: "supervisor", role: "supervisor", path: "group/east", body: map[string]any{"name": "x", "public": true}, wantStatus: 403},
		{name: "auditor", role: "auditor", path: "group/east", body: map[string]any{"name": "x", "public": true}, wantStatus: 403},
		{name: "upper case path", role: "admin", path: "Group/East", body: map[string]any{"name": "x"}, wantStatus: 400, wantDetail: "path"},
		{name: "empty segment", role: "admin", path: "group//east", body: map[string]any{"name": "x"}, wantStatus: 400, wantDetail: "path"},
		{name: "underscore", role: "admin", path: "group/east_1", body: map[string]any{"name": "x"}, wantStatus: 400, wantDetail: "path"},
		{name: "trailing slash", role: "admin", path: "group/east/", body: map[string]any{"name": "x"}, wantStatus: 400, wantDetail: "path"},
		{name: "too deep", role: "admin", path: "group" + strings.Repeat("/a", 8), body: map[string]any{"name": "x"}, wantStatus: 400, wantDetail: "path"},
		{name: "empty path", role: "admin", path: "", body: map[string]any{"name": "x"}, wantStatus: 400, wantDetail: "path"},
		{name: "name with control character", role: "admin", path: "group/east", body: map[string]any{"name": "东区\u0007"}, wantStatus: 400, wantDetail: "name"},
		{name: "name too long", role: "admin", path: "group/east", body: map[string]any{"name": strings.Repeat("东", 101)}, wantStatus: 400, wantDetail: "name"},
		{name: "public not a bool", role: "admin", path: "group/east", body: map[string]any{"public": "yes"}, wantStatus: 400, wantDetail: "public"},
		{name: "unknown field", role: "admin", path: "group/east", body: map[string]any{"name": "x", "parent": "group"}, wantStatus: 400, wantDetail: "parent"},
		{name: "not JSON", role: "admin", path: "group/east", body: "name=x", wantStatus: 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do("PUT", "/api/v1/units/"+tt.path, tokens[tt.role], tt.body)
			e := auCheckEntry(t, h, r, "unit.update", auDecision(tt.wantStatus))
			if tt.wantStatus != http.StatusOK {
				auProblem(t, r, tt.wantStatus)
				if d := auDetail(t, r); !strings.Contains(d, tt.wantDetail) {
					t.Errorf("detail %q does not name %q", d, tt.wantDetail)
				}
				return
			}
			if r.Code != 200 {
				t.Fatalf("status %d: %s", r.Code, r.Body)
			}
			if got := r.JSON(t); !maps.Equal(got, tt.want) {
				t.Errorf("PUT answer = %v, want %v", got, tt.want)
			}
			if e.Object == nil || e.Object.Type != "unit" || e.Object.ID != tt.path {
				t.Errorf("entry object = %+v", e.Object)
			}
			if got := auUnits(t, h, tokens["officer"])[tt.path]; !maps.Equal(got, tt.want) {
				t.Errorf("GET /units shows %v, want %v", got, tt.want)
			}
		})
	}
	// The refused requests changed nothing.
	want := map[string]any{"path": "group/east", "name": "东区分公司", "public": false}
	if got := auUnits(t, h, h.admin)["group/east"]; !maps.Equal(got, want) {
		t.Errorf("group/east after refused requests = %v, want %v", got, want)
	}
	if _, ok := auUnits(t, h, h.admin)["Group/East"]; ok {
		t.Errorf("a refused path became a unit")
	}
}

func TestAdminPolicyGet(t *testing.T) {
	h := newHarness(t)
	tokens, _ := auRoleUsers(h)
	for _, role := range auRoles {
		t.Run(role, func(t *testing.T) {
			r := h.do("GET", "/api/v1/policy", tokens[role], nil)
			e := auCheckEntry(t, h, r, "policy.read", auDecision(map[bool]int{true: 200, false: 403}[role == "admin"]))
			if role != "admin" {
				auProblem(t, r, 403)
				if e.Actor == nil || e.Actor.Username != "au-"+role {
					t.Errorf("actor = %+v", e.Actor)
				}
				return
			}
			if r.Code != 200 {
				t.Fatalf("status %d: %s", r.Code, r.Body)
			}
			m := r.JSON(t)
			if got := slices.Sorted(maps.Keys(m)); !slices.Equal(got, []string{"model", "rules"}) {
				t.Errorf("policy keys = %v", got)
			}
			if model, _ := m["model"].(string); !strings.Contains(model, "[request_definition]") || !strings.Contains(model, "[matchers]") {
				t.Errorf("model = %q, want casbin model text", m["model"])
			}
			if got := auRules(t, h); !auRulesEqual(got, policy.DefaultRules()) {
				t.Errorf("rules = %v, want the default rules", got)
			}
		})
	}
}

func TestAdminPolicyPut(t *testing.T) {
	h := newHarness(t)
	tokens, _ := auRoleUsers(h)
	auditorRead := []string{"p", "auditor", "audit.read", "all", "allow"}
	adminUsers := []string{"p", "admin", "user.manage", "all", "allow"}

	t.Run("non-admins are refused", func(t *testing.T) {
		for _, role := range auRoles[1:] {
			r := h.do("PUT", "/api/v1/policy", tokens[role], map[string]any{"rules": policy.DefaultRules()})
			auProblem(t, r, 403)
			auCheckEntry(t, h, r, "policy.update", audit.Deny)
		}
	})

	t.Run("a valid replacement applies at once", func(t *testing.T) {
		h.must(http.StatusOK, "GET", "/api/v1/audit/entries?limit=1", tokens["auditor"], nil)
		next := auWithout([][]string{auditorRead})
		old := auRules(t, h)
		r := h.do("PUT", "/api/v1/policy", h.admin, map[string]any{"rules": next})
		if r.Code != 200 {
			t.Fatalf("PUT /policy: %d %s", r.Code, r.Body)
		}
		get := h.must(http.StatusOK, "GET", "/api/v1/policy", h.admin, nil)
		var a, b any
		_ = json.Unmarshal(r.Body, &a)
		_ = json.Unmarshal(get.Body, &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("PUT answer %s differs from GET /policy %s", r.Body, get.Body)
		}
		if got := auRules(t, h); !auRulesEqual(got, next) {
			t.Errorf("rules = %v, want %v", got, next)
		}
		e := auCheckEntry(t, h, r, "policy.update", audit.Allow)
		if e.Details["old_rules_sha256"] != vault.RulesHash(old) || e.Details["new_rules_sha256"] != vault.RulesHash(next) {
			t.Errorf("entry details = %v, want old %s new %s", e.Details, vault.RulesHash(old), vault.RulesHash(next))
		}
		if e.Details["old_rules_sha256"] == e.Details["new_rules_sha256"] {
			t.Errorf("old and new hashes are equal")
		}
		if e.Object == nil || e.Object.Type != "policy" {
			t.Errorf("entry object = %+v", e.Object)
		}
		ar := h.do("GET", "/api/v1/audit/entries?limit=1", tokens["auditor"], nil)
		auProblem(t, ar, 403)
		auCheckEntry(t, h, ar, "", audit.Deny)
		// The stored rules are what a restarted server starts with.
		stored, err := h.v.PolicyRules()
		if err != nil || !auRulesEqual(stored, next) {
			t.Errorf("stored rules = %v (%v), want %v", stored, err, next)
		}
		// Restore.
		h.must(http.StatusOK, "PUT", "/api/v1/policy", h.admin, map[string]any{"rules": policy.DefaultRules()})
		h.must(http.StatusOK, "GET", "/api/v1/audit/entries?limit=1", tokens["auditor"], nil)
	})

	t.Run("a deny rule overrides", func(t *testing.T) {
		next := auWithout(nil, []string{"p", "registrar", "unit.list", "all", "deny"})
		h.must(http.StatusOK, "PUT", "/api/v1/policy", h.admin, map[string]any{"rules": next})
		auProblem(t, h.do("GET", "/api/v1/units", tokens["registrar"], nil), 403)
		h.must(http.StatusOK, "GET", "/api/v1/units", tokens["officer"], nil)
		h.must(http.StatusOK, "PUT", "/api/v1/policy", h.admin, map[string]any{"rules": policy.DefaultRules()})
		h.must(http.StatusOK, "GET", "/api/v1/units", tokens["registrar"], nil)
	})

	for _, tt := range []struct {
		name       string
		body       any
		wantStatus int
		wantDetail string
	}{
		{"unknown role", map[string]any{"rules": auWithout(nil, []string{"p", "root", "audit.read", "all", "allow"})}, 400, "root"},
		{"unknown action", map[string]any{"rules": auWithout(nil, []string{"p", "auditor", "audit.delete", "all", "allow"})}, 400, "audit.delete"},
		{"unknown action family", map[string]any{"rules": auWithout(nil, []string{"p", "auditor", "vault.*", "all", "allow"})}, 400, "vault.*"},
		{"unknown scope", map[string]any{"rules": auWithout(nil, []string{"p", "auditor", "audit.read", "everywhere", "allow"})}, 400, "everywhere"},
		{"unknown effect", map[string]any{"rules": auWithout(nil, []string{"p", "auditor", "audit.read", "all", "maybe"})}, 400, "effect"},
		{"short p rule", map[string]any{"rules": auWithout(nil, []string{"p", "auditor", "audit.read", "all"})}, 400, "rule"},
		{"unknown g role", map[string]any{"rules": auWithout(nil, []string{"g", "auditor", "superuser"})}, 400, "superuser"},
		{"unknown rule type", map[string]any{"rules": auWithout(nil, []string{"x", "auditor", "audit.read", "all", "allow"})}, 400, "rule"},
		{"empty rule", map[string]any{"rules": auWithout(nil, []string{})}, 400, "rule"},
		{"rules missing", map[string]any{}, 400, "rules"},
		{"rules null", map[string]any{"rules": nil}, 400, "rules"},
		{"rule not strings", `{"rules":[["p","admin","user.manage","all",1]]}`, 400, "rules"},
		{"unknown field", map[string]any{"rules": policy.DefaultRules(), "model": "x"}, 400, "model"},
		{"no admin may manage users", map[string]any{"rules": auWithout([][]string{adminUsers})}, 409, ""},
		{"admin denied user management", map[string]any{"rules": auWithout(nil, []string{"p", "admin", "user.*", "all", "deny"})}, 409, ""},
		{"admin limited to a scope nobody has", map[string]any{"rules": auWithout([][]string{adminUsers}, []string{"p", "admin", "user.manage", "registered", "allow"})}, 409, ""},
		{"no rules at all", map[string]any{"rules": [][]string{}}, 409, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := auRules(t, h)
			r := h.do("PUT", "/api/v1/policy", h.admin, tt.body)
			auProblem(t, r, tt.wantStatus)
			if d := auDetail(t, r); !strings.Contains(d, tt.wantDetail) {
				t.Errorf("detail %q does not name %q", d, tt.wantDetail)
			}
			auCheckEntry(t, h, r, "policy.update", audit.Allow)
			if got := auRules(t, h); !auRulesEqual(got, before) {
				t.Errorf("rules changed to %v", got)
			}
			if stored, _ := h.v.PolicyRules(); !auRulesEqual(stored, before) {
				t.Errorf("stored rules changed to %v", stored)
			}
			// The old rules still apply.
			h.must(http.StatusOK, "GET", "/api/v1/users", h.admin, nil)
			h.must(http.StatusOK, "GET", "/api/v1/audit/entries?limit=1", tokens["auditor"], nil)
		})
	}

	t.Run("another role may take over user management", func(t *testing.T) {
		// The registrar gains user.manage, so the admin's may go.
		next := auWithout([][]string{adminUsers}, []string{"p", "registrar", "user.manage", "all", "allow"})
		h.must(http.StatusOK, "PUT", "/api/v1/policy", h.admin, map[string]any{"rules": next})
		h.must(http.StatusOK, "GET", "/api/v1/users", tokens["registrar"], nil)
		auProblem(t, h.do("GET", "/api/v1/users", h.admin, nil), 403)
		h.must(http.StatusOK, "PUT", "/api/v1/policy", h.admin, map[string]any{"rules": policy.DefaultRules()})
	})
}

func TestAdminPolicyExplain(t *testing.T) {
	h := newHarness(t)
	tokens, ids := auRoleUsers(h)
	_, reg := h.user("tom", "group/east", "registrar")
	accusedID, accused := h.userNamed("lijingli", "李经理", "group/east", "supervisor")
	_, sup := h.user("uma", "group/east", "supervisor")
	pid := h.petition(reg, petitionBody("group/east"))["id"].(string) // names 李经理

	// What explain says matches what the API does.
	auProblem(t, h.do("GET", "/api/v1/petitions/"+pid, accused, nil), 404)
	h.must(http.StatusOK, "GET", "/api/v1/petitions/"+pid, sup, nil)

	q := func(user, petition, action string) string {
		v := url.Values{}
		for k, x := range map[string]string{"user": user, "petition": petition, "action": action} {
			if x != "" {
				v.Set(k, x)
			}
		}
		return "/api/v1/policy/explain?" + v.Encode()
	}
	for _, tt := range []struct {
		name        string
		token       string
		path        string
		wantStatus  int
		wantAllowed bool
		wantRule    []string // nil: not checked
	}{
		{name: "named subject is denied", token: h.admin, path: q("lijingli", pid, "petition.read"), wantStatus: 200,
			wantAllowed: false, wantRule: []string{"p", "*", "petition.*", "named", "deny"}},
		{name: "named subject by id", token: h.admin, path: q(accusedID, pid, "petition.list"), wantStatus: 200,
			wantAllowed: false, wantRule: []string{"p", "*", "petition.*", "named", "deny"}},
		{name: "supervisor in scope", token: h.admin, path: q("uma", pid, "petition.read"), wantStatus: 200,
			wantAllowed: true, wantRule: []string{"p", "supervisor", "petition.*", "unit", "allow"}},
		{name: "registrar who registered it", token: h.admin, path: q("tom", pid, "petition.reveal"), wantStatus: 200,
			wantAllowed: true, wantRule: []string{"p", "registrar", "petition.reveal", "registered", "allow"}},
		{name: "auditor has no rule", token: h.admin, path: q("au-auditor", pid, "petition.read"), wantStatus: 200,
			wantAllowed: false},
		{name: "admin manages users", token: h.admin, path: q("admin", "", "user.manage"), wantStatus: 200,
			wantAllowed: true, wantRule: []string{"p", "admin", "user.manage", "all", "allow"}},
		{name: "auditor reads the audit log", token: h.admin, path: q(ids["auditor"], "", "audit.read"), wantStatus: 200,
			wantAllowed: true, wantRule: []string{"p", "auditor", "audit.read", "all", "allow"}},
		{name: "user missing", token: h.admin, path: q("", pid, "petition.read"), wantStatus: 400},
		{name: "unknown user", token: h.admin, path: q("nobody", pid, "petition.read"), wantStatus: 400},
		{name: "action missing", token: h.admin, path: q("uma", pid, ""), wantStatus: 400},
		{name: "unknown action", token: h.admin, path: q("uma", pid, "petition.delete"), wantStatus: 400},
		{name: "registrar may not explain", token: tokens["registrar"], path: q("uma", pid, "petition.read"), wantStatus: 403},
		{name: "supervisor may not explain", token: tokens["supervisor"], path: q("uma", pid, "petition.read"), wantStatus: 403},
		{name: "auditor may not explain", token: tokens["auditor"], path: q("uma", pid, "petition.read"), wantStatus: 403},
		{name: "no token", token: "", path: q("uma", pid, "petition.read"), wantStatus: 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do("GET", tt.path, tt.token, nil)
			auCheckEntry(t, h, r, "policy.explain", auDecision(tt.wantStatus))
			if tt.wantStatus != http.StatusOK {
				auProblem(t, r, tt.wantStatus)
				return
			}
			if r.Code != 200 {
				t.Fatalf("status %d: %s", r.Code, r.Body)
			}
			var got struct {
				Allowed *bool
				Rule    []string
			}
			dec := json.NewDecoder(strings.NewReader(string(r.Body)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&got); err != nil || got.Allowed == nil {
				t.Fatalf("explain body %s: %v", r.Body, err)
			}
			if *got.Allowed != tt.wantAllowed {
				t.Errorf("allowed = %v, want %v (%s)", *got.Allowed, tt.wantAllowed, r.Body)
			}
			if tt.wantRule != nil && !slices.Equal(got.Rule, tt.wantRule) {
				t.Errorf("rule = %v, want %v", got.Rule, tt.wantRule)
			}
		})
	}
}

// PUT /policy's last-admin check must hold against a concurrent PATCH
// /users: moving user management from the admin role to the registrar role
// while the only registrar is being disabled must not leave nobody able to
// manage users (one of the two requests has to be 409).
func TestAdminPolicyPutRaceWithUserPatch(t *testing.T) {
	h := newHarness(t)
	next := auWithout([][]string{{"p", "admin", "user.manage", "all", "allow"}}, []string{"p", "registrar", "user.manage", "all", "allow"})
	for i := range 20 {
		// Start each round from the default rules, with a fresh registrar.
		if err := h.srv.Policy().Replace(policy.DefaultRules()); err != nil {
			t.Fatal(err)
		}
		regID, _ := h.user("race-reg-"+strconv.Itoa(i), "group", "registrar")
		var wg sync.WaitGroup
		var put, patch *resp
		wg.Add(2)
		go func() {
			defer wg.Done()
			put = h.do("PUT", "/api/v1/policy", h.admin, map[string]any{"rules": next})
		}()
		go func() {
			defer wg.Done()
			patch = h.do("PATCH", "/api/v1/users/"+regID, h.admin, map[string]any{"disabled": true})
		}()
		wg.Wait()
		ok, err := h.v.AnyAdmin(func(u *vault.User) bool { return canManageUsers(h.srv.Policy(), h.v, u) })
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			t.Fatalf("round %d: PUT /policy %d and PATCH disabled %d both succeeded: no enabled user can manage users", i, put.Code, patch.Code)
		}
	}
}
