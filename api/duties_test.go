package api

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"pvault/audit"
	"pvault/policy"
)

// Separation of duties (issue 4, item 4): admins never read petitions or the
// audit log, auditors never read petitions, nobody alters the audit log, and
// identity reveals are counted per user per week for the auditors.

// mxDefaultPlus returns the default rules followed by extra.
func mxDefaultPlus(extra ...[]string) [][]string {
	return append(policy.DefaultRules(), extra...)
}

func TestMxDutiesPolicyRefused(t *testing.T) {
	h := newHarness(t)
	_, aud := h.user("mx-aud", "group", "auditor")
	for _, tt := range []struct {
		name  string
		extra [][]string
	}{
		{"admin petition.read", [][]string{{"p", "admin", "petition.read", "all", "allow"}}},
		{"admin petition.list", [][]string{{"p", "admin", "petition.list", "unit", "allow"}}},
		{"admin petition.reveal", [][]string{{"p", "admin", "petition.reveal", "registered", "allow"}}},
		{"admin audit.read", [][]string{{"p", "admin", "audit.read", "all", "allow"}}},
		{"admin petition.* family", [][]string{{"p", "admin", "petition.*", "unit", "allow"}}},
		{"admin audit.* family", [][]string{{"p", "admin", "audit.*", "all", "allow"}}},
		{"admin every action", [][]string{{"p", "admin", "*", "all", "allow"}}},
		{"admin petition.read in a narrow scope", [][]string{{"p", "admin", "petition.read", "named", "allow"}}},
		{"auditor petition.read", [][]string{{"p", "auditor", "petition.read", "all", "allow"}}},
		{"auditor petition.list", [][]string{{"p", "auditor", "petition.list", "all", "allow"}}},
		{"auditor petition.reveal", [][]string{{"p", "auditor", "petition.reveal", "unit", "allow"}}},
		{"auditor petition.* family", [][]string{{"p", "auditor", "petition.*", "all", "allow"}}},
		{"auditor every action", [][]string{{"p", "auditor", "*", "all", "allow"}}},
		{"every role petition.read", [][]string{{"p", "*", "petition.read", "unit", "allow"}}},
		{"every role audit.read", [][]string{{"p", "*", "audit.read", "all", "allow"}}},
		{"every role every action", [][]string{{"p", "*", "*", "self", "allow"}}},
		{"admin inherits supervisor", [][]string{{"g", "admin", "supervisor"}}},
		{"admin inherits registrar", [][]string{{"g", "admin", "registrar"}}},
		{"admin inherits auditor", [][]string{{"g", "admin", "auditor"}}},
		{"auditor inherits registrar", [][]string{{"g", "auditor", "registrar"}}},
		{"auditor inherits officer", [][]string{{"g", "auditor", "officer"}}},
		{"auditor inherits supervisor", [][]string{{"g", "auditor", "supervisor"}}},
		{"auditor inherits officer through admin", [][]string{{"g", "auditor", "admin"}, {"g", "admin", "officer"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := auRules(t, h)
			r := h.do("PUT", "/api/v1/policy", h.admin, map[string]any{"rules": mxDefaultPlus(tt.extra...)})
			auProblem(t, r, http.StatusBadRequest)
			if d := auDetail(t, r); !strings.Contains(d, "rule") {
				t.Errorf("detail %q does not name the rules", d)
			}
			mxEntry(t, h, r, "policy.update", audit.Allow)
			if got := auRules(t, h); !auRulesEqual(got, before) {
				t.Errorf("rules changed to %v", got)
			}
			auProblem(t, h.do("GET", "/api/v1/petitions", h.admin, nil), http.StatusForbidden)
			auProblem(t, h.do("GET", "/api/v1/audit/entries?limit=1", h.admin, nil), http.StatusForbidden)
			auProblem(t, h.do("GET", "/api/v1/petitions", aud, nil), http.StatusForbidden)
		})
	}
	// Deny rules and grants to other roles are not breaches.
	for _, tt := range []struct {
		name  string
		extra [][]string
	}{
		{"admin denied petitions", [][]string{{"p", "admin", "petition.*", "all", "deny"}}},
		{"auditor denied petition.read", [][]string{{"p", "auditor", "petition.read", "all", "deny"}}},
		{"supervisor inherits registrar", [][]string{{"g", "supervisor", "registrar"}}},
	} {
		t.Run("accepted: "+tt.name, func(t *testing.T) {
			r := h.do("PUT", "/api/v1/policy", h.admin, map[string]any{"rules": mxDefaultPlus(tt.extra...)})
			if r.Code != 200 {
				t.Fatalf("status %d: %s", r.Code, r.Body)
			}
			h.must(http.StatusOK, "PUT", "/api/v1/policy", h.admin, map[string]any{"rules": policy.DefaultRules()})
		})
	}
}

func TestMxDutiesUserRoles(t *testing.T) {
	h := newHarness(t)
	regID, reg := h.user("mx-reg", "group", "registrar")
	audID, _ := h.user("mx-aud", "group", "auditor")
	adminID := h.must(http.StatusOK, "GET", "/api/v1/me", h.admin, nil).JSON(t)["id"].(string)
	bad := [][]string{
		{"admin", "registrar"}, {"admin", "officer"}, {"admin", "supervisor"}, {"admin", "auditor"},
		{"registrar", "admin"}, {"supervisor", "admin"},
		{"auditor", "registrar"}, {"auditor", "officer"}, {"auditor", "supervisor"},
		{"registrar", "auditor"}, {"officer", "supervisor", "auditor"},
	}
	for i, roles := range bad {
		name := strings.Join(roles, "+")
		t.Run("create "+name, func(t *testing.T) {
			username := fmt.Sprintf("mx-combo-%d", i)
			r := h.do("POST", "/api/v1/users", h.admin, map[string]any{"username": username, "password": testPassword,
				"display_name": "Combo", "unit": "group", "roles": roles})
			auProblem(t, r, http.StatusBadRequest)
			if d := auDetail(t, r); !strings.Contains(d, "roles") {
				t.Errorf("detail %q does not name roles", d)
			}
			mxEntry(t, h, r, "user.create", audit.Allow)
			auProblem(t, h.do("POST", "/api/v1/auth/login", "", auLoginBody(username, testPassword)), http.StatusUnauthorized)
		})
	}
	for _, tt := range []struct {
		id    string
		roles []string
	}{
		{regID, []string{"registrar", "auditor"}},
		{regID, []string{"registrar", "admin"}},
		{audID, []string{"auditor", "officer"}},
		{audID, []string{"supervisor", "auditor"}},
		{adminID, []string{"admin", "supervisor"}},
		{adminID, []string{"admin", "auditor"}},
	} {
		t.Run("patch "+strings.Join(tt.roles, "+"), func(t *testing.T) {
			before := h.must(http.StatusOK, "GET", "/api/v1/users/"+tt.id, h.admin, nil).JSON(t)["roles"]
			r := h.do("PATCH", "/api/v1/users/"+tt.id, h.admin, map[string]any{"roles": tt.roles})
			auProblem(t, r, http.StatusBadRequest)
			if d := auDetail(t, r); !strings.Contains(d, "roles") {
				t.Errorf("detail %q does not name roles", d)
			}
			mxEntry(t, h, r, "user.update", audit.Allow)
			if after := h.must(http.StatusOK, "GET", "/api/v1/users/"+tt.id, h.admin, nil).JSON(t)["roles"]; fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("roles changed from %v to %v", before, after)
			}
		})
	}
	// A refused change revokes nothing.
	h.must(http.StatusOK, "GET", "/api/v1/me", reg, nil)
	// Roles that may go together still do.
	h.must(http.StatusCreated, "POST", "/api/v1/users", h.admin, map[string]any{"username": "mx-multi", "password": testPassword,
		"display_name": "Multi", "unit": "group", "roles": []string{"registrar", "officer", "supervisor"}})
}

// No endpoint alters or deletes audit entries: every method but GET on the
// audit paths is refused, the log keeps its entries byte for byte and still
// verifies.
func TestMxDutiesAuditAppendOnly(t *testing.T) {
	h := newHarness(t)
	_, aud := h.user("mx-aud", "group", "auditor")
	_, reg := h.user("mx-reg", "group", "registrar")
	h.petition(reg, petitionBody("group"))
	h.must(http.StatusOK, "GET", "/api/v1/audit/verify", aud, nil)
	before := auExport(t, h)
	size := h.v.Log().Head().Size

	paths := []string{"/api/v1/audit/entries", "/api/v1/audit/export", "/api/v1/audit/entries/0", "/api/v1/audit/entries/1",
		"/api/v1/audit/verify", "/api/v1/audit/checkpoint", "/api/v1/audit"}
	for _, path := range paths {
		for _, method := range []string{"POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"} {
			for who, tok := range map[string]string{"admin": h.admin, "auditor": aud} {
				t.Run(who+" "+method+" "+path, func(t *testing.T) {
					var body any
					if method != "HEAD" && method != "OPTIONS" {
						body = map[string]any{"seq": 1, "decision": "allow"}
					}
					r := h.do(method, path, tok, body)
					if r.Code != http.StatusNotFound && r.Code != http.StatusMethodNotAllowed {
						t.Errorf("status %d, want 404 or 405: %s", r.Code, r.Body)
					}
					if es := h.entries(r.Header.Get("X-Request-ID")); len(es) != 1 || es[0].Status != r.Code {
						t.Errorf("entries %+v, want one with status %d", es, r.Code)
					}
				})
			}
		}
	}
	after := auExport(t, h)
	if !bytes.HasPrefix(after, before) {
		t.Errorf("the first %d entries changed", size)
	}
	m := h.must(http.StatusOK, "GET", "/api/v1/audit/verify", aud, nil).JSON(t)
	if m["ok"] != true || m["first_bad_seq"] != nil {
		t.Errorf("verify = %v", m)
	}
	if n, _ := m["size"].(float64); int64(n) <= size {
		t.Errorf("verified size %v, want more than %d", m["size"], size)
	}
	if res, err := h.v.Log().Verify(); err != nil || !res.OK {
		t.Errorf("log verify: %+v %v", res, err)
	}
}

// mxRevealItem is an item of GET /stats/reveals.
type mxRevealItem struct {
	UserID    string `json:"user_id"`
	Username  string `json:"username"`
	Week      string `json:"week"`
	WeekStart string `json:"week_start"`
	Count     int    `json:"count"`
}

func TestMxDutiesRevealStats(t *testing.T) {
	h := newHarness(t)
	regID, reg := h.user("mx-reg", "group/east", "registrar")
	supID, sup := h.user("mx-sup", "group/east", "supervisor")
	_, off := h.user("mx-off", "group/east", "officer")
	_, aud := h.user("mx-aud", "group", "auditor")
	p1 := h.petition(reg, petitionBody("group/east"))["id"].(string)
	p2 := h.petition(reg, petitionBody("group/east"))["id"].(string)

	reveal := func(token, id, reason string) *resp {
		t.Helper()
		hdr := map[string]string{}
		if reason != "" {
			hdr["X-Access-Reason"] = reason
		}
		return h.send(req{Method: "GET", Path: "/api/v1/petitions/" + id + "?reveal=identity", Token: token, Header: hdr})
	}
	// The harness clock starts on Sunday 2026-03-01 (ISO week 2026-W09).
	type rv struct {
		token, id, reason string
	}
	w09 := []rv{
		{sup, p1, "监督检查：核实信访人是否为本单位职工"},
		{sup, p2, "监督检查：确认群体信访的牵头人身份"},
		{reg, p1, "登记补录：电话回访需核对联系方式"},
	}
	check := func(list []rv) {
		t.Helper()
		for _, x := range list {
			r := reveal(x.token, x.id, x.reason)
			if r.Code != 200 || r.JSON(t)["identity_masked"] != false {
				t.Fatalf("reveal: %d %s", r.Code, r.Body)
			}
			e := mxEntry(t, h, r, "petition.reveal_identity", audit.Allow)
			if e.Reason != x.reason {
				t.Errorf("reveal entry reason %q, want %q", e.Reason, x.reason)
			}
			if e.Object == nil || e.Object.ID != x.id {
				t.Errorf("reveal entry object %+v", e.Object)
			}
		}
	}
	check(w09)
	// Not reveals: a plain read, a reveal without a reason, a refused one.
	h.must(http.StatusOK, "GET", "/api/v1/petitions/"+p1, sup, nil)
	auProblem(t, reveal(sup, p1, ""), http.StatusBadRequest)
	h.must(http.StatusOK, "POST", "/api/v1/petitions/"+p1+"/actions", sup, map[string]any{"action": "accept"})
	h.must(http.StatusOK, "POST", "/api/v1/petitions/"+p1+"/actions", sup, map[string]any{"action": "assign", "assignee": "mx-off"})
	r := reveal(off, p1, "想知道是谁投诉的，随便看看")
	auProblem(t, r, http.StatusForbidden)
	mxEntry(t, h, r, "petition.reveal_identity", audit.Deny)

	h.clock.Add(24 * time.Hour) // Monday 2026-03-02, 2026-W10; tokens live 8 hours
	reg, sup, off, aud = h.login("mx-reg", testPassword), h.login("mx-sup", testPassword), h.login("mx-off", testPassword), h.login("mx-aud", testPassword)
	h.admin = h.login("admin", testAdminPassword)
	w10 := []rv{{sup, p1, "复查准备：约谈信访人需核实身份信息"}}
	check(w10)
	h.clock.Add(time.Hour)

	stats := func(query string) []mxRevealItem {
		t.Helper()
		r := h.must(http.StatusOK, "GET", "/api/v1/stats/reveals"+query, aud, nil)
		mxEntry(t, h, r, "stats.reveals", audit.Allow)
		var body struct {
			From, To string
			Items    []mxRevealItem
		}
		mxDecode(t, r, &body)
		if body.From == "" || body.To == "" {
			t.Errorf("reveals answer %s lacks from or to", r.Body)
		}
		return body.Items
	}
	sup09 := mxRevealItem{supID, "mx-sup", "2026-W09", "2026-02-23", 2}
	reg09 := mxRevealItem{regID, "mx-reg", "2026-W09", "2026-02-23", 1}
	sup10 := mxRevealItem{supID, "mx-sup", "2026-W10", "2026-03-02", 1}
	for _, tt := range []struct {
		name, query string
		want        []mxRevealItem
	}{
		{"default range", "", []mxRevealItem{sup09, reg09, sup10}},
		{"from a date", "?from=2026-03-02", []mxRevealItem{sup10}},
		{"to a date (the whole day)", "?to=2026-03-01", []mxRevealItem{sup09, reg09}},
		{"from and to times", "?" + "from=2026-03-01T00:00:00Z&to=2026-03-02T00:00:00Z", []mxRevealItem{sup09, reg09}},
		{"nothing in range", "?from=2026-01-01&to=2026-01-31", []mxRevealItem{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := stats(tt.query)
			if got == nil {
				got = []mxRevealItem{}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("items = %+v, want %+v", got, tt.want)
			}
		})
	}
	for _, tt := range []struct{ query, field string }{
		{mxQuery("", "from", "yesterday"), "from"},
		{mxQuery("", "to", "2026-02-30"), "to"},
		{mxQuery("", "from", "2026-03-01T09:00:00"), "from"},
		{mxQuery("", "from", "2026-03-05", "to", "2026-03-01"), "from"},
		{mxQuery("", "from", "2026-03-01", "to", "2026-03-01T00:00:00Z"), "from"},
	} {
		t.Run("bad "+tt.query, func(t *testing.T) {
			r := h.do("GET", "/api/v1/stats/reveals"+tt.query, aud, nil)
			auProblem(t, r, http.StatusBadRequest)
			if d := auDetail(t, r); !strings.Contains(d, tt.field) {
				t.Errorf("detail %q does not name %s", d, tt.field)
			}
			mxEntry(t, h, r, "stats.reveals", audit.Allow)
		})
	}
	for who, tok := range map[string]string{"admin": h.admin, "registrar": reg, "officer": off, "supervisor": sup, "none": ""} {
		t.Run(who, func(t *testing.T) {
			want := http.StatusForbidden
			if who == "none" {
				want = http.StatusUnauthorized
			}
			r := h.do("GET", "/api/v1/stats/reveals", tok, nil)
			auProblem(t, r, want)
			mxEntry(t, h, r, "stats.reveals", audit.Deny)
		})
	}
}

// The subject rule binds every role (issue 4, item 4; API.md: "whatever the
// role"), so no accepted rule set lets a named user reach the petition:
// PUT /policy either refuses a rule set that drops or narrows the rule, or
// the rule applies regardless.
func TestMxDutiesSubjectRuleSurvivesPolicyEdits(t *testing.T) {
	h := newHarness(t)
	_, reg := h.user("mx-reg", "group/east", "registrar")
	_, named := h.userNamed("mx-li", "李经理", "group/east", "supervisor")
	pid := h.petition(reg, petitionBody("group/east"))["id"].(string) // names 李经理
	subjectRule := []string{"p", "*", "petition.*", "named", "deny"}
	for _, tt := range []struct {
		name  string
		rules [][]string
	}{
		{"dropped", auWithout([][]string{subjectRule})},
		{"narrowed to registrars", auWithout([][]string{subjectRule}, []string{"p", "registrar", "petition.*", "named", "deny"})},
		{"narrowed to reading", auWithout([][]string{subjectRule}, []string{"p", "*", "petition.read", "named", "deny"})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do("PUT", "/api/v1/policy", h.admin, map[string]any{"rules": tt.rules})
			defer h.must(http.StatusOK, "PUT", "/api/v1/policy", h.admin, map[string]any{"rules": policy.DefaultRules()})
			for _, p := range []string{"/api/v1/petitions/" + pid, "/api/v1/petitions/" + pid + "/events"} {
				if got := h.do("GET", p, named, nil); got.Code != http.StatusNotFound {
					t.Errorf("PUT /policy answered %d; then GET %s by the person it names: %d, want 404", r.Code, p, got.Code)
				}
			}
			if got := auPetitionIDs(t, h, named); slices.Contains(got, pid) {
				t.Errorf("PUT /policy answered %d; then the person it names lists it", r.Code)
			}
		})
	}
}
