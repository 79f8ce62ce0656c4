package api

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"pvault/audit"
)

// Helpers shared by auth_test.go, users_test.go and admin_test.go. They are
// prefixed with "au" to stay apart from the helpers of other test files.

// auRIDRE is the request id syntax of API.md.
var auRIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// auProblem checks that r is an RFC 9457 problem document with status want
// and returns its decoded fields.
func auProblem(tb testing.TB, r *resp, want int) map[string]any {
	tb.Helper()
	if r.Code != want {
		tb.Fatalf("status %d, want %d: %s", r.Code, want, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		tb.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		tb.Fatalf("problem body %q: %v", r.Body, err)
	}
	for _, k := range []string{"type", "title", "status", "detail", "request_id"} {
		if _, ok := m[k]; !ok {
			tb.Errorf("problem %s lacks %q", r.Body, k)
		}
	}
	if m["type"] != "about:blank" {
		tb.Errorf("problem type = %v, want about:blank", m["type"])
	}
	if m["title"] != http.StatusText(want) {
		tb.Errorf("problem title = %v, want %q", m["title"], http.StatusText(want))
	}
	if st, _ := m["status"].(float64); int(st) != want {
		tb.Errorf("problem status = %v, want %d", m["status"], want)
	}
	if d, _ := m["detail"].(string); d == "" {
		tb.Errorf("problem detail is empty: %s", r.Body)
	}
	if rid := r.Header.Get("X-Request-ID"); rid == "" || m["request_id"] != rid {
		tb.Errorf("problem request_id = %v, X-Request-ID = %q", m["request_id"], rid)
	}
	return m
}

// auDetail returns the detail of a problem document.
func auDetail(tb testing.TB, r *resp) string {
	tb.Helper()
	var p struct{ Detail string }
	if err := json.Unmarshal(r.Body, &p); err != nil {
		tb.Fatalf("problem body %q: %v", r.Body, err)
	}
	return p.Detail
}

// auEntry returns the one audit entry recorded under r's X-Request-ID.
func auEntry(tb testing.TB, h *harness, r *resp) *audit.Entry {
	tb.Helper()
	rid := r.Header.Get("X-Request-ID")
	if !auRIDRE.MatchString(rid) {
		tb.Fatalf("X-Request-ID = %q, not a request id", rid)
	}
	es := h.entries(rid)
	if len(es) != 1 {
		tb.Fatalf("%d audit entries for request %s, want 1: %+v", len(es), rid, es)
	}
	if es[0].RequestID != rid {
		tb.Fatalf("entry request_id = %q, want %q", es[0].RequestID, rid)
	}
	return es[0]
}

// auCheckEntry checks the audit entry of r: its action (when not empty),
// decision and status.
func auCheckEntry(tb testing.TB, h *harness, r *resp, action, decision string) *audit.Entry {
	tb.Helper()
	e := auEntry(tb, h, r)
	if action != "" && e.Action != action {
		tb.Errorf("entry action = %q, want %q", e.Action, action)
	}
	if e.Decision != decision {
		tb.Errorf("entry decision = %q, want %q (status %d)", e.Decision, decision, r.Code)
	}
	if e.Status != r.Code {
		tb.Errorf("entry status = %d, response status %d", e.Status, r.Code)
	}
	return e
}

// auDecision is the audit decision API.md expects for a status of a request
// whose handler hides nothing: deny for 401 and 403, allow otherwise.
func auDecision(status int) string {
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		return audit.Deny
	}
	return audit.Allow
}

// auExport returns every audit entry as exported (the hashed bytes).
func auExport(tb testing.TB, h *harness) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := h.v.Log().Export(&buf, 0, 0); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// auLoginBody is a login request body.
func auLoginBody(username, password string) map[string]string {
	return map[string]string{"username": username, "password": password}
}

// auLoginRaw posts a raw login body with a content type ("" for none).
func auLoginRaw(h *harness, contentType string, body any) *resp {
	h.t.Helper()
	hdr := map[string]string{"Content-Type": contentType}
	if body == nil {
		body = []byte{}
	}
	return h.send(req{Method: "POST", Path: "/api/v1/auth/login", Body: body, Header: hdr})
}

// auCheckUser checks the User object shape of API.md.
func auCheckUser(tb testing.TB, m map[string]any, username, unit string, roles ...string) {
	tb.Helper()
	want := []string{"created_at", "disabled", "display_name", "id", "roles", "unit", "username"}
	if got := slices.Sorted(maps.Keys(m)); !slices.Equal(got, want) {
		tb.Errorf("user keys = %v, want %v", got, want)
	}
	if id, _ := m["id"].(string); id == "" {
		tb.Errorf("user id = %v", m["id"])
	}
	if m["username"] != username {
		tb.Errorf("username = %v, want %s", m["username"], username)
	}
	if m["unit"] != unit {
		tb.Errorf("unit = %v, want %s", m["unit"], unit)
	}
	var got []string
	rs, _ := m["roles"].([]any)
	for _, r := range rs {
		s, _ := r.(string)
		got = append(got, s)
	}
	if !slices.Equal(got, roles) {
		tb.Errorf("roles = %v, want %v", m["roles"], roles)
	}
	if _, ok := m["disabled"].(bool); !ok {
		tb.Errorf("disabled = %v, want a bool", m["disabled"])
	}
	if s, _ := m["created_at"].(string); !auIsUTC(s) {
		tb.Errorf("created_at = %v, want RFC 3339 UTC", m["created_at"])
	}
}

// auIsUTC reports whether s is an RFC 3339 time in UTC.
func auIsUTC(s string) bool {
	t, err := time.Parse(time.RFC3339Nano, s)
	return err == nil && strings.HasSuffix(s, "Z") && t.Location() == time.UTC
}

// auRoles are the built-in roles, each with a user made by auRoleUsers.
var auRoles = []string{"admin", "registrar", "officer", "supervisor", "auditor"}

// auRoleUsers creates one user per built-in role (au-<role>, unit group) and
// returns role → token and role → user id. admin is the harness admin.
func auRoleUsers(h *harness) (tokens, ids map[string]string) {
	h.t.Helper()
	tokens, ids = map[string]string{}, map[string]string{}
	for _, role := range auRoles {
		if role == "admin" {
			tokens[role] = h.admin
			ids[role] = h.must(http.StatusOK, "GET", "/api/v1/me", h.admin, nil).JSON(h.t)["id"].(string)
			continue
		}
		ids[role], tokens[role] = h.user("au-"+role, "group", role)
	}
	return tokens, ids
}

func TestAuthLogin(t *testing.T) {
	h := newHarness(t)
	h.user("alice", "group/east", "registrar")
	dora, _ := h.user("dora", "group/east", "officer")
	h.must(http.StatusOK, "PATCH", "/api/v1/users/"+dora, h.admin, map[string]any{"disabled": true})

	adminOK := `{"username":"admin","password":"` + testAdminPassword + `"}`
	big := `{"username":"admin","password":"` + strings.Repeat("x", MaxBody) + `"}`
	exact := adminOK + strings.Repeat(" ", MaxBody-len(adminOK))

	for _, tt := range []struct {
		name        string
		contentType string
		body        any
		wantStatus  int
		wantAction  string
		wantDetail  string // a substring of the problem detail
	}{
		{name: "ok", body: auLoginBody("admin", testAdminPassword), wantStatus: 200, wantAction: "auth.login"},
		{name: "ok charset", contentType: "application/json; charset=utf-8", body: adminOK, wantStatus: 200, wantAction: "auth.login"},
		{name: "ok trailing whitespace", body: adminOK + "\n", wantStatus: 200, wantAction: "auth.login"},
		{name: "ok body of exactly 1 MiB", body: exact, wantStatus: 200, wantAction: "auth.login"},
		{name: "ok other user", body: auLoginBody("alice", testPassword), wantStatus: 200, wantAction: "auth.login"},
		{name: "wrong password", body: auLoginBody("alice", "not-the-password-1"), wantStatus: 401, wantAction: "auth.login_failed"},
		{name: "unknown user", body: auLoginBody("nobody", testPassword), wantStatus: 401, wantAction: "auth.login_failed"},
		{name: "disabled user", body: auLoginBody("dora", testPassword), wantStatus: 401, wantAction: "auth.login_failed"},
		{name: "malformed JSON", body: `{"username":"admin","password":`, wantStatus: 400, wantAction: "auth.login"},
		{name: "not an object", body: `["admin","x"]`, wantStatus: 400, wantAction: "auth.login"},
		{name: "wrong type", body: `{"username":1,"password":"x"}`, wantStatus: 400, wantAction: "auth.login", wantDetail: "username"},
		{name: "empty body", body: "", wantStatus: 400, wantAction: "auth.login"},
		{name: "missing username", body: map[string]string{"password": testAdminPassword}, wantStatus: 400, wantAction: "auth.login", wantDetail: "username"},
		{name: "missing password", body: map[string]string{"username": "admin"}, wantStatus: 400, wantAction: "auth.login", wantDetail: "password"},
		{name: "unknown field", body: map[string]string{"username": "admin", "password": testAdminPassword, "remember_me": "true"}, wantStatus: 400, wantAction: "auth.login", wantDetail: "remember_me"},
		{name: "trailing object", body: adminOK + `{}`, wantStatus: 400, wantAction: "auth.login"},
		{name: "trailing garbage", body: adminOK + `x`, wantStatus: 400, wantAction: "auth.login"},
		{name: "duplicate key", body: `{"username":"nobody","password":"` + testAdminPassword + `","username":"admin"}`, wantStatus: 400, wantAction: "auth.login", wantDetail: "username"},
		{name: "duplicate key escaped", body: `{"username":"nobody","password":"` + testAdminPassword + `","user\u006eame":"admin"}`, wantStatus: 400, wantAction: "auth.login", wantDetail: "username"},
		{name: "field name in upper case", body: `{"USERNAME":"admin","password":"` + testAdminPassword + `"}`, wantStatus: 400, wantAction: "auth.login", wantDetail: "USERNAME"},
		{name: "duplicate key differing in case", body: `{"username":"nobody","password":"` + testAdminPassword + `","Username":"admin"}`, wantStatus: 400, wantAction: "auth.login", wantDetail: "sername"},
		{name: "nested too deep", body: `{"username":"admin","password":"x","a":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, wantStatus: 400, wantAction: "auth.login"},
		{name: "username too long", body: auLoginBody(strings.Repeat("u", 300), testAdminPassword), wantStatus: 400, wantAction: "auth.login", wantDetail: "username"},
		{name: "password too long", body: auLoginBody("admin", strings.Repeat("p", 2000)), wantStatus: 400, wantAction: "auth.login", wantDetail: "password"},
		{name: "invalid UTF-8", body: []byte("{\"username\":\"adm\xffin\",\"password\":\"" + testAdminPassword + "\"}"), wantStatus: 400, wantAction: "auth.login"},
		{name: "text/plain", contentType: "text/plain", body: adminOK, wantStatus: 415, wantAction: "auth.login"},
		{name: "form", contentType: "application/x-www-form-urlencoded", body: "username=admin&password=" + testAdminPassword, wantStatus: 415, wantAction: "auth.login"},
		{name: "no content type", contentType: "-", body: adminOK, wantStatus: 415, wantAction: "auth.login"},
		{name: "latin1 charset", contentType: "application/json; charset=iso-8859-1", body: adminOK, wantStatus: 415, wantAction: "auth.login"},
		{name: "over 1 MiB", body: big, wantStatus: 413, wantAction: "auth.login"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			switch tt.contentType {
			case "":
			case "-":
				hdr["Content-Type"] = ""
			default:
				hdr["Content-Type"] = tt.contentType
			}
			r := h.send(req{Method: "POST", Path: "/api/v1/auth/login", Body: tt.body, Header: hdr})
			e := auCheckEntry(t, h, r, tt.wantAction, auDecision(tt.wantStatus))
			if tt.wantStatus != http.StatusOK {
				auProblem(t, r, tt.wantStatus)
				if d := auDetail(t, r); !strings.Contains(d, tt.wantDetail) {
					t.Errorf("detail %q does not name %q", d, tt.wantDetail)
				}
				if tt.wantStatus == http.StatusUnauthorized && r.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("401 without WWW-Authenticate")
				}
				return
			}
			m := r.JSON(t)
			if got := slices.Sorted(maps.Keys(m)); !slices.Equal(got, []string{"expires_at", "token", "user"}) {
				t.Errorf("login keys = %v", got)
			}
			tok, _ := m["token"].(string)
			if len(tok) < 22 { // 128 bits in base64 is 22 characters
				t.Errorf("token %q is too short for 128 bits", tok)
			}
			exp, _ := m["expires_at"].(string)
			if et, err := time.Parse(time.RFC3339Nano, exp); err != nil || !auIsUTC(exp) || !et.Equal(h.clock.Now().Add(8*time.Hour)) {
				t.Errorf("expires_at = %q, want %v (RFC 3339 UTC, now + 8 h)", exp, h.clock.Now().Add(8*time.Hour).UTC())
			}
			user, _ := m["user"].(map[string]any)
			name := "admin"
			if strings.Contains(tt.name, "other") {
				name = "alice"
			}
			if name == "admin" {
				auCheckUser(t, user, "admin", "group", "admin")
			} else {
				auCheckUser(t, user, "alice", "group/east", "registrar")
			}
			if e.Actor == nil || e.Actor.Username != name {
				t.Errorf("login entry actor = %+v, want %s", e.Actor, name)
			}
			me := h.must(http.StatusOK, "GET", "/api/v1/me", tok, nil).JSON(t)
			if me["username"] != name {
				t.Errorf("GET /me with the new token = %v", me["username"])
			}
		})
	}
}

// The answer to a wrong password and to an unknown user is the same apart
// from the request id.
func TestAuthLoginUnknownUserSameAsWrongPassword(t *testing.T) {
	h := newHarness(t)
	h.user("carol", "group", "registrar")
	wrong := h.do("POST", "/api/v1/auth/login", "", auLoginBody("carol", "wrong-password-123"))
	unknown := h.do("POST", "/api/v1/auth/login", "", auLoginBody("carla", "wrong-password-123"))
	pw, pu := auProblem(t, wrong, 401), auProblem(t, unknown, 401)
	delete(pw, "request_id")
	delete(pu, "request_id")
	if !maps.Equal(pw, pu) {
		t.Errorf("wrong password: %s\nunknown user: %s", wrong.Body, unknown.Body)
	}
	for _, k := range []string{"Content-Type", "WWW-Authenticate", "Retry-After", "Cache-Control"} {
		if a, b := wrong.Header.Get(k), unknown.Header.Get(k); a != b {
			t.Errorf("header %s: wrong password %q, unknown user %q", k, a, b)
		}
	}
	for _, r := range []*resp{wrong, unknown} {
		e := auCheckEntry(t, h, r, "auth.login_failed", audit.Deny)
		if e.Actor != nil {
			t.Errorf("failed login names actor %+v", e.Actor)
		}
	}
}

func TestAuthLoginLockout(t *testing.T) {
	h := newHarness(t)
	h.user("lockme", "group", "registrar")
	h.user("other", "group", "registrar")

	t.Run("five failures lock the username", func(t *testing.T) {
		// Failures at t0, t0+1m, …, t0+4m; the lock runs 15 minutes from the fifth.
		for i := range 5 {
			r := h.do("POST", "/api/v1/auth/login", "", auLoginBody("lockme", "wrong-password-"+strconv.Itoa(i)))
			auProblem(t, r, 401)
			auCheckEntry(t, h, r, "auth.login_failed", audit.Deny)
			h.clock.Add(time.Minute)
		}
		r := h.do("POST", "/api/v1/auth/login", "", auLoginBody("lockme", testPassword))
		auProblem(t, r, 429)
		if ra := r.Header.Get("Retry-After"); ra != "840" {
			t.Errorf("Retry-After = %q, want 840 (14 minutes left)", ra)
		}
		e := auEntry(t, h, r)
		if e.Status != 429 {
			t.Errorf("lockout entry status = %d", e.Status)
		}
		// Another username is not locked.
		h.must(http.StatusOK, "POST", "/api/v1/auth/login", "", auLoginBody("other", testPassword))
		// Still locked a little before the lock ends.
		h.clock.Add(10 * time.Minute)
		r = h.do("POST", "/api/v1/auth/login", "", auLoginBody("lockme", testPassword))
		auProblem(t, r, 429)
		if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra <= 0 || ra > 240 {
			t.Errorf("Retry-After = %q, want 1–240 seconds", r.Header.Get("Retry-After"))
		}
	})
	t.Run("the lock clears after 15 minutes", func(t *testing.T) {
		h.clock.Add(6 * time.Minute)
		r := h.do("POST", "/api/v1/auth/login", "", auLoginBody("lockme", testPassword))
		if r.Code != http.StatusOK {
			t.Fatalf("login after the lock: %d %s", r.Code, r.Body)
		}
		auCheckEntry(t, h, r, "auth.login", audit.Allow)
	})
	t.Run("failures older than 15 minutes do not count", func(t *testing.T) {
		for i := range 4 {
			auProblem(t, h.do("POST", "/api/v1/auth/login", "", auLoginBody("other", "wrong-password-"+strconv.Itoa(i))), 401)
		}
		h.clock.Add(16 * time.Minute)
		auProblem(t, h.do("POST", "/api/v1/auth/login", "", auLoginBody("other", "wrong-password-x")), 401)
		h.must(http.StatusOK, "POST", "/api/v1/auth/login", "", auLoginBody("other", testPassword))
	})
	t.Run("unknown usernames lock the same way", func(t *testing.T) {
		for i := range 5 {
			auProblem(t, h.do("POST", "/api/v1/auth/login", "", auLoginBody("ghost", "wrong-password-"+strconv.Itoa(i))), 401)
		}
		r := h.do("POST", "/api/v1/auth/login", "", auLoginBody("ghost", "wrong-password-5"))
		auProblem(t, r, 429)
		if r.Header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
	})
}

// Login entries: auth.login/allow and auth.login_failed/deny, and no
// password (nor a token) in the bytes of any entry.
func TestAuthLoginAuditEntries(t *testing.T) {
	h := newHarness(t)
	uid, _ := h.user("erin", "group/east", "supervisor")
	passwordAsUsername := "erins-secret-password-typed-in-the-wrong-box"
	wrongPassword := "erins-wrong-password-2026"
	ok := h.must(http.StatusOK, "POST", "/api/v1/auth/login", "", auLoginBody("erin", testPassword))
	tok := ok.JSON(t)["token"].(string)
	bad := h.do("POST", "/api/v1/auth/login", "", auLoginBody("erin", wrongPassword))
	typo := h.do("POST", "/api/v1/auth/login", "", auLoginBody(passwordAsUsername, testPassword))
	h.must(http.StatusOK, "PATCH", "/api/v1/users/"+uid, h.admin, map[string]any{"password": "erins-new-password-2026"})
	disabled := h.do("POST", "/api/v1/auth/login", "", auLoginBody("erin", testPassword))

	e := auCheckEntry(t, h, ok, "auth.login", audit.Allow)
	if e.Actor == nil || e.Actor.UserID != uid || e.Actor.Username != "erin" {
		t.Errorf("login actor = %+v", e.Actor)
	}
	for _, r := range []*resp{bad, typo, disabled} {
		auProblem(t, r, 401)
		auCheckEntry(t, h, r, "auth.login_failed", audit.Deny)
	}
	all := auExport(t, h)
	for _, secret := range []string{testAdminPassword, testPassword, wrongPassword, passwordAsUsername, "erins-new-password-2026", tok} {
		if bytes.Contains(all, []byte(secret)) {
			t.Errorf("audit entries contain %q", secret)
		}
	}
}

func TestAuthLogout(t *testing.T) {
	h := newHarness(t)
	_, tok := h.user("frank", "group", "officer")
	second := h.login("frank", testPassword)

	r := h.do("POST", "/api/v1/auth/logout", tok, nil)
	if r.Code != http.StatusNoContent || len(r.Body) != 0 {
		t.Fatalf("logout: %d %q", r.Code, r.Body)
	}
	e := auCheckEntry(t, h, r, "auth.logout", audit.Allow)
	if e.Actor == nil || e.Actor.Username != "frank" {
		t.Errorf("logout actor = %+v", e.Actor)
	}
	for _, tt := range []struct {
		name       string
		method     string
		path       string
		token      string
		wantStatus int
	}{
		{"logged-out token on /me", "GET", "/api/v1/me", tok, 401},
		{"logged-out token logs out again", "POST", "/api/v1/auth/logout", tok, 401},
		{"other session still works", "GET", "/api/v1/me", second, 200},
		{"logout without token", "POST", "/api/v1/auth/logout", "", 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do(tt.method, tt.path, tt.token, nil)
			auCheckEntry(t, h, r, "", auDecision(tt.wantStatus))
			if tt.wantStatus != http.StatusOK {
				auProblem(t, r, tt.wantStatus)
				return
			}
			if r.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.Code, tt.wantStatus, r.Body)
			}
		})
	}
}

func TestAuthMe(t *testing.T) {
	h := newHarness(t)
	tokens, ids := auRoleUsers(h)
	for _, role := range auRoles {
		t.Run(role, func(t *testing.T) {
			r := h.do("GET", "/api/v1/me", tokens[role], nil)
			if r.Code != http.StatusOK {
				t.Fatalf("GET /me: %d %s", r.Code, r.Body)
			}
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			m := r.JSON(t)
			name := "au-" + role
			if role == "admin" {
				name = "admin"
			}
			auCheckUser(t, m, name, "group", role)
			if m["id"] != ids[role] || m["disabled"] != false {
				t.Errorf("me = %v", m)
			}
			e := auCheckEntry(t, h, r, "", audit.Allow)
			if e.Actor == nil || e.Actor.UserID != ids[role] {
				t.Errorf("actor = %+v", e.Actor)
			}
		})
	}
}

// A protected endpoint without a valid token: 401, WWW-Authenticate, a
// problem document and a deny entry without an actor.
func TestAuthUnauthenticated(t *testing.T) {
	h := newHarness(t)
	expiring := h.login("admin", testAdminPassword)
	h.clock.Add(8*time.Hour - time.Minute)
	h.must(http.StatusOK, "GET", "/api/v1/me", expiring, nil) // not yet expired
	h.clock.Add(2 * time.Minute)

	for _, tt := range []struct {
		name       string
		path       string
		auth       string // Authorization header; "-" for none
		wantStatus int
	}{
		{"no header", "/api/v1/me", "-", 401},
		{"no header on users", "/api/v1/users", "-", 401},
		{"no header on policy", "/api/v1/policy", "-", 401},
		{"empty bearer", "/api/v1/me", "Bearer ", 401},
		{"garbage token", "/api/v1/me", "Bearer garbage", 401},
		{"long garbage token", "/api/v1/users", "Bearer pvt_" + strings.Repeat("a", 52), 401},
		{"basic auth", "/api/v1/me", "Basic YWRtaW46YWRtaW4=", 401},
		{"token without scheme", "/api/v1/me", expiring, 401},
		{"expired token", "/api/v1/me", "Bearer " + expiring, 401},
		{"expired token on users", "/api/v1/users", "Bearer " + expiring, 401},
		{"fresh token works", "/api/v1/me", "fresh", 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			switch tt.auth {
			case "-":
			case "fresh":
				hdr["Authorization"] = "Bearer " + h.login("admin", testAdminPassword)
			default:
				hdr["Authorization"] = tt.auth
			}
			r := h.send(req{Method: "GET", Path: tt.path, Header: hdr})
			e := auCheckEntry(t, h, r, "", auDecision(tt.wantStatus))
			if tt.wantStatus == http.StatusOK {
				if r.Code != 200 {
					t.Fatalf("status %d: %s", r.Code, r.Body)
				}
				return
			}
			auProblem(t, r, tt.wantStatus)
			if wa := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(wa, "Bearer") {
				t.Errorf("WWW-Authenticate = %q, want Bearer …", wa)
			}
			if e.Actor != nil {
				t.Errorf("unauthenticated entry names actor %+v", e.Actor)
			}
		})
	}
}

// Every request under /api/v1 yields exactly one audit entry under the
// request id it answers with: a valid client id is echoed, an invalid or
// missing one replaced by a fresh one.
func TestAuthEveryRequestAudited(t *testing.T) {
	h := newHarness(t)
	_, reg := h.user("gina", "group", "registrar")
	adminID := h.must(http.StatusOK, "GET", "/api/v1/me", h.admin, nil).JSON(t)["id"].(string)
	long := strings.Repeat("r", 64)

	for _, tt := range []struct {
		name       string
		method     string
		path       string
		token      string
		body       any
		rid        string // X-Request-ID sent ("" for none)
		echo       bool   // whether rid must come back
		wantStatus int
	}{
		{"login ok, client id", "POST", "/api/v1/auth/login", "", auLoginBody("gina", testPassword), "client-id.1_A", true, 200},
		{"login 401, client id", "POST", "/api/v1/auth/login", "", auLoginBody("gina", "wrong-password-123"), "client-id.2", true, 401},
		{"login 400, bad id", "POST", "/api/v1/auth/login", "", `{"username":`, "bad id!", false, 400},
		{"login 415, no id", "POST", "/api/v1/auth/login", "", nil, "", false, 415},
		{"me, 64-character id", "GET", "/api/v1/me", h.admin, nil, long, true, 200},
		{"me, 65-character id", "GET", "/api/v1/me", h.admin, nil, long + "r", false, 200},
		{"me, id with slash", "GET", "/api/v1/me", h.admin, nil, "a/b", false, 200},
		{"me, unicode id", "GET", "/api/v1/me", h.admin, nil, "ид", false, 200},
		{"me without token", "GET", "/api/v1/me", "", nil, "client-id.3", true, 401},
		{"users as registrar", "GET", "/api/v1/users", reg, nil, "client-id.4", true, 403},
		{"create user as registrar", "POST", "/api/v1/users", reg, map[string]any{"username": "zed", "password": testPassword, "unit": "group", "roles": []string{"admin"}}, "bad id!", false, 403},
		{"unknown user", "GET", "/api/v1/users/01ARZ3NDEKTSV4RRFFQ69G5FAV", h.admin, nil, "client-id.5", true, 404},
		{"invalid user", "POST", "/api/v1/users", h.admin, map[string]any{"username": "Zed", "password": testPassword, "unit": "group", "roles": []string{"admin"}}, "client-id.6", true, 400},
		{"last admin", "PATCH", "/api/v1/users/" + adminID, h.admin, map[string]any{"disabled": true}, "client-id.7", true, 409},
		{"unknown endpoint", "GET", "/api/v1/no-such-thing", h.admin, nil, "client-id.8", true, 404},
		{"method not allowed", "DELETE", "/api/v1/me", h.admin, nil, "client-id.9", true, 405},
		{"over 1 MiB", "POST", "/api/v1/users", h.admin, `{"username":"` + strings.Repeat("z", MaxBody) + `"}`, "client-id.10", true, 413},
		{"units", "GET", "/api/v1/units", reg, nil, "client-id.11", true, 200},
		{"logout", "POST", "/api/v1/auth/logout", h.login("gina", testPassword), nil, "client-id.12", true, 204},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := h.v.Log().Head().Size
			hdr := map[string]string{}
			if tt.rid != "" {
				hdr["X-Request-ID"] = tt.rid
			}
			r := h.send(req{Method: tt.method, Path: tt.path, Token: tt.token, Body: tt.body, Header: hdr})
			if r.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.Code, tt.wantStatus, r.Body)
			}
			if after := h.v.Log().Head().Size; after != before+1 {
				t.Errorf("%d audit entries for one request, want 1", after-before)
			}
			got := r.Header.Get("X-Request-ID")
			if tt.echo && got != tt.rid {
				t.Errorf("X-Request-ID = %q, want the client's %q", got, tt.rid)
			}
			if !tt.echo && (got == tt.rid || !auRIDRE.MatchString(got)) {
				t.Errorf("X-Request-ID = %q for client id %q, want a fresh valid id", got, tt.rid)
			}
			e := auCheckEntry(t, h, r, "", auDecision(tt.wantStatus))
			if e.Seq != before {
				t.Errorf("entry seq = %d, want %d", e.Seq, before)
			}
			if tt.wantStatus >= 400 {
				auProblem(t, r, tt.wantStatus)
			}
		})
	}
}

// A client id used twice cannot name two entries: whatever the server
// answers with names exactly the entry of that request.
func TestAuthReusedRequestID(t *testing.T) {
	h := newHarness(t)
	var seqs []int64
	for range 2 {
		r := h.send(req{Method: "GET", Path: "/api/v1/me", Token: h.admin, Header: map[string]string{"X-Request-ID": "reused-id"}})
		if r.Code != 200 {
			t.Fatalf("status %d", r.Code)
		}
		seqs = append(seqs, auEntry(t, h, r).Seq)
	}
	if seqs[0] == seqs[1] {
		t.Errorf("two requests answered with the id of one entry (seq %d)", seqs[0])
	}
	if es := h.entries("reused-id"); len(es) != 1 || es[0].Seq != seqs[0] {
		t.Errorf("entries for reused-id = %+v", es)
	}
}
