package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"pvault/audit"
	"pvault/policy"
)

// The authorization matrix of issue 4: every route of server.go × every
// role (and no token) × the situations of the object it names → the status
// API.md's role table implies and an audit entry with the matching
// decision. The same table drives a second run against an enforcer whose
// rules grant nothing, which fails for any handler that answers without
// asking the enforcer. Helpers are prefixed with "mx".

// mxRoles are the callers: the five built-in roles and a request without a
// token.
var mxRoles = []string{"admin", "registrar", "officer", "supervisor", "auditor", "none"}

// Situations of the petition a request names.
const (
	mxIn      = "in"      // in the caller's scope
	mxOut     = "out"     // in another unit, registered and handled by others
	mxNamed   = "named"   // in scope, but it names the caller as a subject
	mxMissing = "missing" // no such petition
)

var mxPetitionSits = []string{mxIn, mxOut, mxNamed, mxMissing}

// mxMissingID is a well-formed id that no petition has.
const mxMissingID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"

// mxReason is a valid X-Access-Reason.
const mxReason = "核实信访人身份以便电话回访"

// mxFixture holds the users and petitions the matrix runs against.
type mxFixture struct {
	h         *harness
	tokens    map[string]string // role → token; "none" → ""
	names     map[string]string // role → username
	passwords map[string]string // role → password
	ids       map[string]string // role → user id
	pets      map[string]string // situation → petition id
	target    string            // a user id for the user routes
	receipt   string            // the receipt code of the in-scope petition
	n         int               // request counter
}

// mxSetup makes one user per role (registrar, officer and supervisor in
// group/east, auditor in group), a user to manage, and the petitions of each
// situation: "in" registered by the registrar in group/east, accepted by the
// supervisor and assigned to the officer; "out" registered in group/west by
// another registrar; "named" like "in" but naming the registrar, the
// supervisor, the auditor and the admin by username and the officer by
// display name (the officer takes that name after being assigned, as the
// assignment of a named user is refused).
func mxSetup(tb testing.TB) *mxFixture {
	tb.Helper()
	h := newHarness(tb)
	adminID := h.must(http.StatusOK, "GET", "/api/v1/me", h.admin, nil).JSON(tb)["id"].(string)
	f := &mxFixture{
		h:         h,
		tokens:    map[string]string{"admin": h.admin, "none": ""},
		names:     map[string]string{"admin": "admin"},
		passwords: map[string]string{"admin": testAdminPassword},
		ids:       map[string]string{"admin": adminID},
		pets:      map[string]string{mxMissing: mxMissingID},
	}
	for _, u := range []struct{ role, unit string }{
		{"registrar", "group/east"}, {"officer", "group/east"}, {"supervisor", "group/east"}, {"auditor", "group"},
	} {
		name := "mx-" + u.role
		f.ids[u.role], f.tokens[u.role] = h.user(name, u.unit, u.role)
		f.names[u.role], f.passwords[u.role] = name, testPassword
	}
	_, westReg := h.user("mx-west-registrar", "group/west", "registrar")
	_, sup2 := h.user("mx-east-supervisor", "group/east", "supervisor")
	f.target, _ = h.user("mx-target", "group/east", "officer")

	f.pets[mxIn], f.receipt = f.assigned(f.tokens["supervisor"], petitionBody("group/east"))
	f.pets[mxOut] = h.petition(westReg, petitionBody("group/west"))["id"].(string)
	named := petitionBody("group/east")
	named["subjects"] = []string{"mx-registrar", "mx-supervisor", "mx-auditor", "admin", "王某某"}
	f.pets[mxNamed], _ = f.assigned(sup2, named)
	h.must(http.StatusOK, "PATCH", "/api/v1/users/"+f.ids["officer"], h.admin, map[string]any{"display_name": "王某某"})
	h.must(http.StatusOK, "PUT", "/api/v1/units/group/east", h.admin, map[string]any{"public": true})
	return f
}

// assigned registers body as the registrar, has sup accept it and assign it
// to the officer, and returns its id and receipt code.
func (f *mxFixture) assigned(sup string, body map[string]any) (string, string) {
	f.h.t.Helper()
	p := f.h.petition(f.tokens["registrar"], body)
	id := p["id"].(string)
	act := "/api/v1/petitions/" + id + "/actions"
	f.h.must(http.StatusOK, "POST", act, sup, map[string]any{"action": "accept"})
	f.h.must(http.StatusOK, "POST", act, sup, map[string]any{"action": "assign", "assignee": "mx-officer"})
	return id, p["receipt_code"].(string)
}

// mxCase is one row of the matrix: a route and who may use it.
type mxCase struct {
	route  string // the route as server.go registers it: "GET /petitions/:id"
	name   string // tells rows of one route apart
	method string
	path   string // under /api/v1; {pet} and {user} are replaced
	body   func(f *mxFixture, role string) any
	header map[string]string
	action string // the audit action ("" when it varies)
	// want is the status per role when the object is in scope. Roles not
	// listed get 403, and a request without a token 401.
	want map[string]int
	// reach lists the roles that pass the role-level check and look the
	// petition up, so that out-of-scope, named and missing petitions are
	// 404 for them. Default: the roles whose want is 2xx.
	reach []string
	sits  []string // petition situations; nil when the route names none
	// open routes ask the enforcer nothing (login, logout, the verifier key).
	open bool
	// login: the request runs with a session of its own (it ends it).
	login bool
	// fresh: each request gets its own in-scope petition (it changes its
	// state for good).
	fresh bool
	check func(t *testing.T, f *mxFixture, role, sit string, r *resp, e *audit.Entry)
}

// mxOK gives status to roles.
func mxOK(status int, roles ...string) map[string]int {
	m := map[string]int{}
	for _, r := range roles {
		m[r] = status
	}
	return m
}

var mxStaff = []string{"admin", "registrar", "officer", "supervisor", "auditor"}

func (c *mxCase) expect(role, sit string) int {
	want, ok := c.want[role]
	if !ok {
		want = http.StatusForbidden
		if role == "none" {
			want = http.StatusUnauthorized
		}
	}
	if sit == "" || sit == mxIn {
		return want
	}
	reach := c.reach
	if reach == nil {
		for r, s := range c.want {
			if s < 300 && r != "none" {
				reach = append(reach, r)
			}
		}
	}
	if slices.Contains(reach, role) {
		return http.StatusNotFound
	}
	return want
}

// mxDecision is the audit decision API.md gives a status: deny for 401, 403
// and a 404 that hides a petition out of reach; allow otherwise (a missing
// petition is a plain 404).
func mxDecision(status int, sit string) string {
	switch {
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return audit.Deny
	case status == http.StatusNotFound && (sit == mxOut || sit == mxNamed):
		return audit.Deny
	}
	return audit.Allow
}

func mxJSON(v any) func(*mxFixture, string) any {
	return func(*mxFixture, string) any { return v }
}

// mxCases is the matrix, derived from API.md's role table.
func mxCases() []mxCase {
	readers := []string{"registrar", "officer", "supervisor"}
	return []mxCase{
		{route: "POST /auth/login", method: "POST", path: "/auth/login", open: true,
			body: func(f *mxFixture, role string) any {
				if role == "none" {
					return map[string]string{"username": "mx-nobody", "password": "not-a-password-1"}
				}
				return map[string]string{"username": f.names[role], "password": f.passwords[role]}
			},
			want: mxOK(200, mxStaff...)},
		{route: "POST /auth/logout", method: "POST", path: "/auth/logout", action: "auth.logout", open: true, login: true,
			want: mxOK(204, mxStaff...)},
		{route: "GET /me", method: "GET", path: "/me", action: "user.me", want: mxOK(200, mxStaff...),
			check: func(t *testing.T, f *mxFixture, role, _ string, r *resp, _ *audit.Entry) {
				if r.Code == 200 && r.JSON(t)["username"] != f.names[role] {
					t.Errorf("GET /me = %s", r.Body)
				}
			}},
		{route: "POST /me/totp", method: "POST", path: "/me/totp", action: "user.totp_begin", want: mxOK(200, mxStaff...)},
		// The body is refused once the caller is let through: 400.
		{route: "POST /me/totp/confirm", method: "POST", path: "/me/totp/confirm", action: "user.totp_confirm",
			body: mxJSON(map[string]any{"mx_unknown_field": "x"}), want: mxOK(400, mxStaff...)},

		{route: "POST /users", method: "POST", path: "/users", action: "user.create", want: mxOK(201, "admin"),
			body: func(f *mxFixture, role string) any {
				return map[string]any{"username": fmt.Sprintf("mx-new-%d", f.n), "password": testPassword,
					"display_name": "New", "unit": "group/east", "roles": []string{"registrar"}}
			}},
		{route: "GET /users", method: "GET", path: "/users", action: "user.list", want: mxOK(200, "admin")},
		{route: "GET /users/:id", method: "GET", path: "/users/{user}", action: "user.read", want: mxOK(200, "admin")},
		{route: "PATCH /users/:id", method: "PATCH", path: "/users/{user}", action: "user.update", want: mxOK(200, "admin"),
			body: mxJSON(map[string]any{"display_name": "Target"})},
		{route: "DELETE /users/:id/totp", method: "DELETE", path: "/users/{user}/totp", action: "user.totp_reset", want: mxOK(204, "admin")},

		{route: "GET /units", method: "GET", path: "/units", action: "unit.list", want: mxOK(200, mxStaff...)},
		{route: "PUT /units/*path", method: "PUT", path: "/units/group/east", action: "unit.update", want: mxOK(200, "admin"),
			body: mxJSON(map[string]any{"name": "东区分公司"})},

		{route: "GET /policy", method: "GET", path: "/policy", action: "policy.read", want: mxOK(200, "admin")},
		{route: "PUT /policy", method: "PUT", path: "/policy", action: "policy.update", want: mxOK(200, "admin"),
			body: mxJSON(map[string]any{"rules": policy.DefaultRules()})},
		{route: "GET /policy/explain", method: "GET", path: "/policy/explain?user=mx-registrar&action=petition.read&petition={pet}",
			action: "policy.explain", want: mxOK(200, "admin")},

		{route: "POST /petitions", name: "own unit", method: "POST", path: "/petitions", action: "petition.create",
			body: mxJSON(petitionBody("group/east")), want: mxOK(201, readers...)},
		{route: "POST /petitions", name: "other unit", method: "POST", path: "/petitions", action: "petition.create",
			body: mxJSON(petitionBody("group/west")), want: mxOK(403, readers...)},
		{route: "GET /petitions", method: "GET", path: "/petitions?limit=500", action: "petition.list", want: mxOK(200, readers...),
			check: mxCheckList},
		{route: "GET /petitions/:id", method: "GET", path: "/petitions/{pet}", action: "petition.read", sits: mxPetitionSits,
			want: mxOK(200, readers...),
			check: func(t *testing.T, f *mxFixture, role, sit string, r *resp, e *audit.Entry) {
				if r.Code == 200 && (r.JSON(t)["id"] != f.pets[sit] || r.JSON(t)["identity_masked"] != true) {
					t.Errorf("petition = %s", r.Body)
				}
			}},
		// Officers read assigned petitions but may not reveal: 403 in scope,
		// 404 out of it.
		{route: "GET /petitions/:id", name: "reveal", method: "GET", path: "/petitions/{pet}?reveal=identity",
			header: map[string]string{"X-Access-Reason": mxReason}, action: "petition.reveal_identity", sits: mxPetitionSits,
			want: mxOK(200, "registrar", "supervisor"), reach: readers,
			check: func(t *testing.T, f *mxFixture, role, sit string, r *resp, e *audit.Entry) {
				if r.Code != 200 {
					return
				}
				if r.JSON(t)["identity_masked"] != false {
					t.Errorf("revealed petition = %s", r.Body)
				}
				if e.Reason != mxReason {
					t.Errorf("reveal entry reason = %q, want %q", e.Reason, mxReason)
				}
			}},
		{route: "POST /petitions/:id/actions", name: "categorize", method: "POST", path: "/petitions/{pet}/actions",
			action: "petition.action", sits: mxPetitionSits, want: mxOK(200, "supervisor"),
			body: mxJSON(map[string]any{"action": "categorize", "label": "wage_arrears"})},
		{route: "POST /petitions/:id/actions", name: "reply", method: "POST", path: "/petitions/{pet}/actions",
			action: "petition.action", sits: mxPetitionSits, want: mxOK(200, "officer", "supervisor"), fresh: true,
			body: mxJSON(map[string]any{"action": "reply", "text": "经核实，工资已于本月补发。"})},
		{route: "POST /petitions/:id/notes", method: "POST", path: "/petitions/{pet}/notes", action: "petition.note",
			sits: mxPetitionSits, want: mxOK(201, "officer", "supervisor"),
			body: mxJSON(map[string]any{"text": "已电话联系项目部。"})},
		{route: "GET /petitions/:id/events", method: "GET", path: "/petitions/{pet}/events", action: "petition.events",
			sits: mxPetitionSits, want: mxOK(200, readers...)},
		// Alerts are for supervisors in scope (issue 5).
		{route: "GET /alerts", method: "GET", path: "/alerts", action: "alert.list", want: mxOK(200, "supervisor")},

		// The portal needs no account: a token changes nothing and names no
		// actor.
		{route: "GET /openapi.json", method: "GET", path: "/openapi.json", action: "api.openapi", open: true, want: mxOK(200, mxRoles...)},
		{route: "GET /public/units", method: "GET", path: "/public/units", action: "public.units", open: true,
			want: mxOK(200, mxRoles...),
			check: func(t *testing.T, f *mxFixture, role, _ string, r *resp, e *audit.Entry) {
				if e.Actor != nil {
					t.Errorf("portal entry names actor %+v", e.Actor)
				}
				if !strings.Contains(string(r.Body), `"group/east"`) {
					t.Errorf("public units %s lack group/east", r.Body)
				}
			}},
		{route: "POST /public/petitions", method: "POST", path: "/public/petitions", action: "public.submit", open: true,
			want: mxOK(201, mxRoles...),
			body: mxJSON(map[string]any{"unit": "group/east", "title": "拖欠工资", "content": "项目部拖欠我们三个月工资。"})},
		{route: "POST /public/track", method: "POST", path: "/public/track", action: "public.track", open: true,
			want: mxOK(200, mxRoles...),
			body: func(f *mxFixture, _ string) any { return map[string]any{"receipt_code": f.receipt} }},
		// A rating that does not exist: 400 whoever asks.
		{route: "POST /public/feedback", method: "POST", path: "/public/feedback", action: "public.feedback", open: true,
			want: mxOK(400, mxRoles...),
			body: func(f *mxFixture, _ string) any {
				return map[string]any{"receipt_code": f.receipt, "rating": "mx-no-such-rating", "comment": ""}
			}},
		// The case is still being handled: no review yet (409).
		{route: "POST /public/review", method: "POST", path: "/public/review", action: "public.review", open: true,
			want: mxOK(409, mxRoles...),
			body: func(f *mxFixture, _ string) any {
				return map[string]any{"receipt_code": f.receipt, "reason": "对答复不满意，申请复查。"}
			}},

		{route: "GET /audit/entries", method: "GET", path: "/audit/entries?limit=1", action: "audit.read", want: mxOK(200, "auditor")},
		{route: "GET /audit/export", method: "GET", path: "/audit/export?start=0&end=1", action: "audit.export", want: mxOK(200, "auditor")},
		{route: "GET /audit/verify", method: "GET", path: "/audit/verify", action: "audit.verify", want: mxOK(200, "auditor")},
		{route: "GET /audit/checkpoint", method: "GET", path: "/audit/checkpoint", action: "audit.checkpoint", want: mxOK(200, "auditor")},
		{route: "GET /audit/verifier-key", method: "GET", path: "/audit/verifier-key", action: "audit.verifier_key", open: true,
			want: mxOK(200, mxRoles...)},
		{route: "GET /audit/proof/inclusion", method: "GET", path: "/audit/proof/inclusion?index=0", action: "audit.proof", want: mxOK(200, "auditor")},
		{route: "GET /audit/proof/consistency", method: "GET", path: "/audit/proof/consistency?old=1", action: "audit.proof", want: mxOK(200, "auditor")},
		{route: "POST /audit/hash", method: "POST", path: "/audit/hash", action: "audit.hash", want: mxOK(200, "auditor"),
			body: mxJSON(map[string]any{"value": "13812345678"})},

		{route: "GET /stats/reveals", method: "GET", path: "/stats/reveals", action: "stats.reveals", want: mxOK(200, "auditor")},
		{route: "GET /stats/summary", method: "GET", path: "/stats/summary", action: "stats.summary", want: mxOK(200, "supervisor", "auditor")},
		{route: "POST /admin/sweep", method: "POST", path: "/admin/sweep", action: "system.sweep", want: mxOK(200, "admin")},
		{route: "GET /stats/hotspots", method: "GET", path: "/stats/hotspots", action: "stats.hotspots", want: mxOK(200, "supervisor", "auditor")},
		{route: "POST /admin/analysis/retrain", method: "POST", path: "/admin/analysis/retrain", action: "analysis.retrain", want: mxOK(200, "admin")},
		{route: "POST /admin/keys/rotate", method: "POST", path: "/admin/keys/rotate", action: "key.rotate", want: mxOK(202, "admin"),
			body: mxJSON(map[string]any{"add_recovery": []string{"age1th057m5kwm905q2sanfjt4hg94djfp8m6avcquc8ql77z86saqkqcqt6yd"}, "keep_identity": true})},
		{route: "GET /admin/jobs/:id", method: "GET", path: "/admin/jobs/00000000000000000000000000", action: "job.read", want: mxOK(404, "admin")},
		{route: "GET /admin/backup", method: "GET", path: "/admin/backup", action: "admin.backup", want: mxOK(200, "admin")},
		{route: "GET /admin/archive", method: "GET", path: "/admin/archive?recipient=age1th057m5kwm905q2sanfjt4hg94djfp8m6avcquc8ql77z86saqkqcqt6yd", action: "admin.archive", want: mxOK(200, "admin")},
	}
}

// mxCheckList checks that a list holds the in-scope petition and neither the
// out-of-scope nor the named one, and that the audit entry records the ids
// returned.
func mxCheckList(t *testing.T, f *mxFixture, role, _ string, r *resp, e *audit.Entry) {
	if r.Code != 200 {
		return
	}
	var got []string
	for _, it := range r.JSON(t)["items"].([]any) {
		got = append(got, it.(map[string]any)["id"].(string))
	}
	if !slices.Contains(got, f.pets[mxIn]) {
		t.Errorf("%s's list %v lacks the in-scope petition %s", role, got, f.pets[mxIn])
	}
	for _, sit := range []string{mxOut, mxNamed} {
		if slices.Contains(got, f.pets[sit]) {
			t.Errorf("%s's list holds the %s petition %s", role, sit, f.pets[sit])
		}
	}
	var recorded []string
	ids, _ := e.Details["ids"].([]any)
	for _, id := range ids {
		s, _ := id.(string)
		recorded = append(recorded, s)
	}
	if !slices.Equal(recorded, got) {
		t.Errorf("entry ids %v, list %v", recorded, got)
	}
}

// run sends c for role in sit and returns the response and its one audit
// entry. fresh allows making a new in-scope petition for rows that need one.
func (f *mxFixture) run(t *testing.T, c *mxCase, role, sit string, fresh bool) (*resp, *audit.Entry) {
	t.Helper()
	h := f.h
	f.n++
	pet := f.pets[mxIn]
	if sit != "" {
		pet = f.pets[sit]
	}
	if fresh && c.fresh && sit == mxIn {
		pet, _ = f.assigned(f.tokens["supervisor"], petitionBody("group/east"))
	}
	path := "/api/v1" + strings.NewReplacer("{pet}", pet, "{user}", f.target).Replace(c.path)
	token := f.tokens[role]
	if c.login && role != "none" {
		token = h.login(f.names[role], f.passwords[role])
	}
	var body any
	if c.body != nil {
		body = c.body(f, role)
	}
	rid := fmt.Sprintf("mx-%d-%s", f.n, role)
	hdr := map[string]string{"X-Request-ID": rid}
	for k, v := range c.header {
		hdr[k] = v
	}
	r := h.send(req{Method: c.method, Path: path, Token: token, Body: body, Header: hdr})
	if got := r.Header.Get("X-Request-ID"); got != rid {
		t.Fatalf("X-Request-ID = %q, want %q", got, rid)
	}
	es := h.entries(rid)
	if len(es) != 1 {
		t.Fatalf("%d audit entries for request %s, want 1", len(es), rid)
	}
	return r, es[0]
}

func (c *mxCase) title() string {
	if c.name != "" {
		return c.route + " (" + c.name + ")"
	}
	return c.route
}

func mxSits(c *mxCase) []string {
	if c.sits == nil {
		return []string{""}
	}
	return c.sits
}

func TestMxMatrix(t *testing.T) {
	f := mxSetup(t)
	for _, c := range mxCases() {
		for _, role := range mxRoles {
			for _, sit := range mxSits(&c) {
				name := c.title() + "/" + role
				if sit != "" {
					name += "/" + sit
				}
				t.Run(name, func(t *testing.T) {
					want := c.expect(role, sit)
					r, e := f.run(t, &c, role, sit, true)
					if r.Code != want {
						t.Errorf("status %d, want %d: %s", r.Code, want, r.Body)
					}
					if d := mxDecision(want, sit); e.Decision != d {
						t.Errorf("entry decision %q, want %q (status %d)", e.Decision, d, r.Code)
					}
					if e.Status != r.Code {
						t.Errorf("entry status %d, response %d", e.Status, r.Code)
					}
					if c.action != "" && e.Action != c.action {
						t.Errorf("entry action %q, want %q", e.Action, c.action)
					}
					if role != "none" && !c.open && (e.Actor == nil || e.Actor.UserID != f.ids[role]) {
						t.Errorf("entry actor %+v, want %s", e.Actor, f.names[role])
					}
					if role == "none" && e.Actor != nil {
						t.Errorf("entry actor %+v for a request without a token", e.Actor)
					}
					if r.Code >= 400 {
						if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
							t.Errorf("error Content-Type %q", ct)
						}
					}
					if c.check != nil {
						c.check(t, f, role, sit, r, e)
					}
				})
			}
		}
	}
}

// Every route server.go registers under /api/v1 has a row in the matrix,
// and every row is a registered route.
func TestMxMatrixCoversEveryRoute(t *testing.T) {
	src, err := os.ReadFile("server.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`v1\.(GET|POST|PUT|PATCH|DELETE)\("([^"]+)"`)
	var routes []string
	for _, m := range re.FindAllStringSubmatch(string(src), -1) {
		routes = append(routes, m[1]+" "+m[2])
	}
	if len(routes) < 30 {
		t.Fatalf("found only %d routes in server.go: %v", len(routes), routes)
	}
	var rows []string
	for _, c := range mxCases() {
		if !slices.Contains(rows, c.route) {
			rows = append(rows, c.route)
		}
		if mp, _, _ := strings.Cut(c.route, " "); mp != c.method {
			t.Errorf("row %s sends %s", c.title(), c.method)
		}
	}
	for _, r := range routes {
		if !slices.Contains(rows, r) {
			t.Errorf("route %s has no row in the matrix", r)
		}
	}
	for _, r := range rows {
		if !slices.Contains(routes, r) {
			t.Errorf("matrix row %s is not a route of server.go", r)
		}
	}
}

// The matrix catches a handler that skips the enforcer: under rules that
// grant nothing but user and policy management to admins, every protected
// route refuses every other role, with a deny entry. A handler that decided
// on its own (by role names, or not at all) would answer 2xx or 400 here.
func TestMxMatrixCatchesSkippedEnforcer(t *testing.T) {
	f := mxSetup(t)
	nothing, err := policy.New([][]string{
		{"p", "admin", "user.manage", "all", "allow"},
		{"p", "admin", "policy.manage", "all", "allow"},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Vault: f.h.v, Policy: nothing, Now: f.h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.h.srv = srv
	for _, c := range mxCases() {
		if c.open {
			continue
		}
		for _, role := range []string{"registrar", "officer", "supervisor", "auditor"} {
			for _, sit := range mxSits(&c) {
				name := c.title() + "/" + role
				if sit != "" {
					name += "/" + sit
				}
				t.Run(name, func(t *testing.T) {
					r, e := f.run(t, &c, role, sit, false)
					if r.Code != http.StatusForbidden && r.Code != http.StatusNotFound {
						t.Errorf("status %d under rules that grant nothing, want 403 or 404: %s", r.Code, r.Body)
					}
					if e.Decision != audit.Deny {
						t.Errorf("entry decision %q, want deny", e.Decision)
					}
				})
			}
		}
	}
	// Nothing the refused requests asked for happened.
	for sit, id := range map[string]string{mxIn: f.pets[mxIn], mxNamed: f.pets[mxNamed]} {
		m, err := f.h.v.Meta(id)
		if err != nil {
			t.Fatal(err)
		}
		if m.Category != nil && m.Category.Source == "officer" {
			t.Errorf("the %s petition was categorized under rules that grant nothing", sit)
		}
		if m.Status != "in_progress" {
			t.Errorf("the %s petition is %s, want in_progress", sit, m.Status)
		}
	}
}

// GET /units lists the units petitions name as well as those users name,
// with their ancestors; a supervisor of a parent unit sees the petitions of
// the units below it but not of a unit whose path merely starts with the same
// letters; moving a registrar moves where they may register at once.
// (Moving a supervisor is covered by TestUsersPatchUnitChangesScope.)
func TestMxUnits(t *testing.T) {
	h := newHarness(t)
	regID, reg := h.user("mx-unit-reg", "group", "registrar")
	pid := h.petition(reg, petitionBody("group/south/site-7"))["id"].(string)

	units := map[string]bool{}
	for _, it := range h.must(http.StatusOK, "GET", "/api/v1/units", reg, nil).JSON(t)["items"].([]any) {
		units[it.(map[string]any)["path"].(string)] = true
	}
	for _, p := range []string{"group", "group/south", "group/south/site-7"} {
		if !units[p] {
			t.Errorf("GET /units lacks %s, named by a petition: %v", p, units)
		}
	}

	for _, tt := range []struct {
		unit string
		sees bool
	}{
		{"group", true},
		{"group/south", true},
		{"group/south/site-7", true},
		{"group/sout", false}, // a string prefix, not a parent
		{"group/south/site-70", false},
		{"group/north", false},
	} {
		t.Run("supervisor of "+tt.unit, func(t *testing.T) {
			_, sup := h.user("mx-sup-"+strings.ReplaceAll(tt.unit, "/", "-"), tt.unit, "supervisor")
			r := h.do("GET", "/api/v1/petitions/"+pid, sup, nil)
			list := h.must(http.StatusOK, "GET", "/api/v1/petitions", sup, nil).JSON(t)["items"].([]any)
			if tt.sees {
				if r.Code != 200 || len(list) != 1 {
					t.Errorf("read %d, list of %d, want 200 and 1", r.Code, len(list))
				}
				return
			}
			if r.Code != 404 || len(list) != 0 {
				t.Errorf("read %d, list of %d, want 404 and 0", r.Code, len(list))
			}
			if es := h.entries(r.Header.Get("X-Request-ID")); len(es) != 1 || es[0].Decision != audit.Deny {
				t.Errorf("entries %+v, want one deny", es)
			}
		})
	}

	t.Run("moving a registrar", func(t *testing.T) {
		h.must(http.StatusOK, "PATCH", "/api/v1/users/"+regID, h.admin, map[string]any{"unit": "group/south"})
		r := h.do("POST", "/api/v1/petitions", reg, petitionBody("group/north"))
		if r.Code != http.StatusForbidden {
			t.Errorf("register outside the new unit: %d, want 403", r.Code)
		}
		h.petition(reg, petitionBody("group/south/site-8"))
		// What they registered stays theirs.
		h.must(http.StatusOK, "GET", "/api/v1/petitions/"+pid, reg, nil)
	})
}

// mxDecode decodes a JSON body into v.
func mxDecode(tb testing.TB, r *resp, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		tb.Fatalf("decode %s: %v", r.Body, err)
	}
}

// mxQuery builds a path with query parameters.
func mxQuery(path string, kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return path + "?" + v.Encode()
}
