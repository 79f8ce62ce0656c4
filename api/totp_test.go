package api

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"pvault/audit"
	"pvault/vault"
)

// Second factor (TOTP) and the login defences not covered by auth_test.go.

// mxCode is the TOTP code of secret at t.
func mxCode(tb testing.TB, secret string, t time.Time) string {
	tb.Helper()
	code, err := totp.GenerateCode(secret, t)
	if err != nil {
		tb.Fatal(err)
	}
	return code
}

// mxWrongCode is a six-digit code valid for no time step near t.
func mxWrongCode(tb testing.TB, secret string, t time.Time) string {
	tb.Helper()
	near := []string{mxCode(tb, secret, t.Add(-30*time.Second)), mxCode(tb, secret, t), mxCode(tb, secret, t.Add(30*time.Second))}
	for _, c := range []string{"000000", "111111", "222222", "333333"} {
		if !slices.Contains(near, c) {
			return c
		}
	}
	tb.Fatal("no wrong code")
	return ""
}

// mxLogin posts a login with an optional second-factor code.
func mxLogin(h *harness, username, password, code string) *resp {
	h.t.Helper()
	body := map[string]string{"username": username, "password": password}
	if code != "" {
		body["totp"] = code
	}
	return h.do("POST", "/api/v1/auth/login", "", body)
}

// mxEntry returns the one audit entry of r and checks its action and
// decision.
func mxEntry(tb testing.TB, h *harness, r *resp, action, decision string) *audit.Entry {
	tb.Helper()
	es := h.entries(r.Header.Get("X-Request-ID"))
	if len(es) != 1 {
		tb.Fatalf("%d entries for %s, want 1", len(es), r.Header.Get("X-Request-ID"))
	}
	e := es[0]
	if action != "" && e.Action != action {
		tb.Errorf("entry action %q, want %q", e.Action, action)
	}
	if e.Decision != decision {
		tb.Errorf("entry decision %q, want %q", e.Decision, decision)
	}
	if e.Status != r.Code {
		tb.Errorf("entry status %d, response %d", e.Status, r.Code)
	}
	return e
}

// mxEnrol enrols a second factor for the owner of token and returns its
// secret. The code used to confirm is spent.
func mxEnrol(tb testing.TB, h *harness, token string) string {
	tb.Helper()
	secret, _ := h.must(http.StatusOK, "POST", "/api/v1/me/totp", token, nil).JSON(tb)["secret"].(string)
	if secret == "" {
		tb.Fatal("no secret")
	}
	h.must(http.StatusNoContent, "POST", "/api/v1/me/totp/confirm", token, map[string]string{"code": mxCode(tb, secret, h.clock.Now())})
	return secret
}

func TestMxTOTPEnrolAndLogin(t *testing.T) {
	h := newHarness(t)
	uid, tok := h.user("mx-tina", "group/east", "registrar")

	// Enrolment: a secret and its otpauth URL, nothing else; the secret
	// never reaches the audit log.
	r := h.must(http.StatusOK, "POST", "/api/v1/me/totp", tok, nil)
	m := r.JSON(t)
	if got := slices.Sorted(maps.Keys(m)); !slices.Equal(got, []string{"otpauth_url", "secret"}) {
		t.Errorf("enrolment keys = %v", got)
	}
	secret, _ := m["secret"].(string)
	u, _ := m["otpauth_url"].(string)
	if len(secret) < 16 || !strings.HasPrefix(u, "otpauth://totp/") || !strings.Contains(u, "secret="+secret) || !strings.Contains(u, "mx-tina") {
		t.Errorf("secret %q, otpauth_url %q", secret, u)
	}
	e := mxEntry(t, h, r, "user.totp_begin", audit.Allow)
	if e.Object == nil || e.Object.ID != uid {
		t.Errorf("entry object %+v", e.Object)
	}
	// Until confirmed the factor is not required.
	h.must(http.StatusOK, "POST", "/api/v1/auth/login", "", auLoginBody("mx-tina", testPassword))

	now := h.clock.Now()
	for _, tt := range []struct {
		name string
		body any
	}{
		{"wrong code", map[string]string{"code": mxWrongCode(t, secret, now)}},
		{"five digits", map[string]string{"code": mxCode(t, secret, now)[:5]}},
		{"empty code", map[string]string{"code": ""}},
		{"unknown field", map[string]string{"code": mxCode(t, secret, now), "secret": secret}},
	} {
		t.Run("confirm with "+tt.name, func(t *testing.T) {
			r := h.do("POST", "/api/v1/me/totp/confirm", tok, tt.body)
			auProblem(t, r, http.StatusBadRequest)
			mxEntry(t, h, r, "user.totp_confirm", audit.Allow)
		})
	}
	// Still not active.
	h.must(http.StatusOK, "POST", "/api/v1/auth/login", "", auLoginBody("mx-tina", testPassword))

	confirmCode := mxCode(t, secret, now)
	r = h.do("POST", "/api/v1/me/totp/confirm", tok, map[string]string{"code": confirmCode})
	if r.Code != http.StatusNoContent || len(r.Body) != 0 {
		t.Fatalf("confirm: %d %s", r.Code, r.Body)
	}
	mxEntry(t, h, r, "user.totp_confirm", audit.Allow)
	if all := auExport(t, h); bytes.Contains(all, []byte(secret)) {
		t.Errorf("the audit log holds the TOTP secret")
	}

	t.Run("the code that confirmed is spent", func(t *testing.T) {
		r := mxLogin(h, "mx-tina", testPassword, confirmCode)
		auProblem(t, r, http.StatusUnauthorized)
		mxEntry(t, h, r, "auth.login_failed", audit.Deny)
	})

	h.clock.Add(30 * time.Second)
	now = h.clock.Now()
	code := mxCode(t, secret, now)
	for _, tt := range []struct {
		name, password, code string
	}{
		{"without a code", testPassword, ""},
		{"with a wrong code", testPassword, mxWrongCode(t, secret, now)},
		{"with a wrong password and the right code", "wrong-password-123", code},
	} {
		t.Run("login "+tt.name, func(t *testing.T) {
			r := mxLogin(h, "mx-tina", tt.password, tt.code)
			auProblem(t, r, http.StatusUnauthorized)
			if r.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
			if strings.Contains(string(r.Body), `"token"`) {
				t.Errorf("failed login answers a token: %s", r.Body)
			}
			e := mxEntry(t, h, r, "auth.login_failed", audit.Deny)
			if e.Actor != nil {
				t.Errorf("failed login names actor %+v", e.Actor)
			}
		})
	}

	r = mxLogin(h, "mx-tina", testPassword, code)
	if r.Code != http.StatusOK {
		t.Fatalf("login with the right code: %d %s", r.Code, r.Body)
	}
	lm := r.JSON(t)
	if _, ok := lm["totp_enrolment_required"]; ok {
		t.Errorf("login of an enrolled user says %v", lm["totp_enrolment_required"])
	}
	mxEntry(t, h, r, "auth.login", audit.Allow)
	h.must(http.StatusOK, "GET", "/api/v1/petitions", lm["token"].(string), nil)
	if all := auExport(t, h); bytes.Contains(all, []byte(`"`+code+`"`)) {
		t.Errorf("the audit log holds a TOTP code")
	}

	t.Run("replay", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			wait time.Duration
			code string
		}{
			{"same code at once", 0, code},
			{"same code 20 seconds later", 20 * time.Second, code},
			{"the code of the step before", 0, mxCode(t, secret, now.Add(-30*time.Second))},
		} {
			h.clock.Add(tt.wait)
			r := mxLogin(h, "mx-tina", testPassword, tt.code)
			if r.Code != http.StatusUnauthorized {
				t.Errorf("%s: status %d, want 401: %s", tt.name, r.Code, r.Body)
			}
			mxEntry(t, h, r, "auth.login_failed", audit.Deny)
		}
		h.clock.Add(30 * time.Second)
		h.must(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{
			"username": "mx-tina", "password": testPassword, "totp": mxCode(t, secret, h.clock.Now())})
	})
}

// Wrong second-factor codes count toward the lock-out of the username.
func TestMxTOTPWrongCodesLockOut(t *testing.T) {
	h := newHarness(t)
	_, tok := h.user("mx-uli", "group", "supervisor")
	secret := mxEnrol(t, h, tok)
	h.clock.Add(30 * time.Second)
	for range 5 {
		r := mxLogin(h, "mx-uli", testPassword, mxWrongCode(t, secret, h.clock.Now()))
		auProblem(t, r, http.StatusUnauthorized)
		mxEntry(t, h, r, "auth.login_failed", audit.Deny)
	}
	r := mxLogin(h, "mx-uli", testPassword, mxCode(t, secret, h.clock.Now()))
	auProblem(t, r, http.StatusTooManyRequests)
	if r.Header.Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After")
	}
	mxEntry(t, h, r, "", audit.Deny)
	h.clock.Add(15*time.Minute + time.Second)
	h.must(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{
		"username": "mx-uli", "password": testPassword, "totp": mxCode(t, secret, h.clock.Now())})
}

// An admin resets a lost factor: the user's tokens die and they log in with
// the password alone. Nobody else may reset one.
func TestMxTOTPReset(t *testing.T) {
	h := newHarness(t)
	uid, tok := h.user("mx-vic", "group/east", "officer")
	_, other := h.user("mx-wen", "group/east", "supervisor")
	secret := mxEnrol(t, h, tok)
	h.clock.Add(30 * time.Second)
	r := mxLogin(h, "mx-vic", testPassword, mxCode(t, secret, h.clock.Now()))
	if r.Code != 200 {
		t.Fatalf("login: %d %s", r.Code, r.Body)
	}
	tok2 := r.JSON(t)["token"].(string)

	for _, tt := range []struct {
		name, token, id string
		want            int
	}{
		{"the user themself", tok2, uid, 403},
		{"a supervisor", other, uid, 403},
		{"no token", "", uid, 401},
		{"an unknown user", h.admin, mxMissingID, 404},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do("DELETE", "/api/v1/users/"+tt.id+"/totp", tt.token, nil)
			auProblem(t, r, tt.want)
			mxEntry(t, h, r, "user.totp_reset", auDecision(tt.want))
		})
	}
	// Still enrolled.
	auProblem(t, mxLogin(h, "mx-vic", testPassword, ""), 401)

	r = h.do("DELETE", "/api/v1/users/"+uid+"/totp", h.admin, nil)
	if r.Code != http.StatusNoContent {
		t.Fatalf("reset: %d %s", r.Code, r.Body)
	}
	e := mxEntry(t, h, r, "user.totp_reset", audit.Allow)
	if e.Object == nil || e.Object.Type != "user" || e.Object.ID != uid {
		t.Errorf("entry object %+v", e.Object)
	}
	for _, old := range []string{tok, tok2} {
		r := h.do("GET", "/api/v1/me", old, nil)
		auProblem(t, r, 401)
		mxEntry(t, h, r, "user.me", audit.Deny)
	}
	h.must(http.StatusOK, "POST", "/api/v1/auth/login", "", auLoginBody("mx-vic", testPassword))
}

// With RequireTOTP, users of those roles without a factor get a session
// that can only enrol one.
func TestMxTOTPRequiredRoles(t *testing.T) {
	h := newHarnessWith(t, harnessOptions{cfg: func(c *Config) { c.RequireTOTP = []string{"admin", "supervisor"} }})

	// The harness admin has no factor yet: their session only enrols.
	r := h.must(http.StatusOK, "POST", "/api/v1/auth/login", "", auLoginBody("admin", testAdminPassword))
	if r.JSON(t)["totp_enrolment_required"] != true {
		t.Errorf("admin login without a factor = %s", r.Body)
	}
	if e := mxEntry(t, h, r, "auth.login", audit.Allow); e.Details["enrol_only"] != true {
		t.Errorf("login entry details %v, want enrol_only", e.Details)
	}
	auProblem(t, h.do("GET", "/api/v1/users", h.admin, nil), http.StatusForbidden)
	adminSecret := mxEnrol(t, h, h.admin)
	h.clock.Add(30 * time.Second)
	r = mxLogin(h, "admin", testAdminPassword, mxCode(t, adminSecret, h.clock.Now()))
	if r.Code != 200 {
		t.Fatalf("admin login with a code: %d %s", r.Code, r.Body)
	}
	if _, ok := r.JSON(t)["totp_enrolment_required"]; ok {
		t.Errorf("enrolled admin login = %s", r.Body)
	}
	h.admin = r.JSON(t)["token"].(string)
	h.must(http.StatusOK, "GET", "/api/v1/users", h.admin, nil)

	_, reg := h.user("mx-xia", "group/east", "registrar")
	pid := h.petition(reg, petitionBody("group/east"))["id"].(string)
	supID, _ := h.user("mx-yan", "group/east", "supervisor")

	t.Run("a role that needs no factor", func(t *testing.T) {
		r := h.must(http.StatusOK, "POST", "/api/v1/auth/login", "", auLoginBody("mx-xia", testPassword))
		if _, ok := r.JSON(t)["totp_enrolment_required"]; ok {
			t.Errorf("registrar login = %s", r.Body)
		}
	})

	r = h.must(http.StatusOK, "POST", "/api/v1/auth/login", "", auLoginBody("mx-yan", testPassword))
	lm := r.JSON(t)
	if lm["totp_enrolment_required"] != true {
		t.Fatalf("supervisor without a factor: %s", r.Body)
	}
	if user, _ := lm["user"].(map[string]any); user["id"] != supID {
		t.Errorf("login user = %v", lm["user"])
	}
	sup := lm["token"].(string)

	for _, tt := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/petitions", nil},
		{"GET", "/api/v1/petitions/" + pid, nil},
		{"GET", "/api/v1/petitions/" + pid + "?reveal=identity", nil},
		{"POST", "/api/v1/petitions", petitionBody("group/east")},
		{"POST", "/api/v1/petitions/" + pid + "/actions", map[string]any{"action": "accept"}},
		{"GET", "/api/v1/units", nil},
		{"GET", "/api/v1/alerts", nil},
		{"GET", "/api/v1/stats/summary", nil},
		{"GET", "/api/v1/users/" + supID, nil},
	} {
		t.Run("enrol-only "+tt.method+" "+tt.path, func(t *testing.T) {
			r := h.send(req{Method: tt.method, Path: tt.path, Token: sup, Body: tt.body, Header: map[string]string{"X-Access-Reason": mxReason}})
			auProblem(t, r, http.StatusForbidden)
			e := mxEntry(t, h, r, "", audit.Deny)
			if e.Actor == nil || e.Actor.UserID != supID {
				t.Errorf("entry actor %+v", e.Actor)
			}
		})
	}
	if m, _ := h.v.Meta(pid); m.Status != vault.StatusRegistered {
		t.Errorf("an enrol-only session changed the petition to %s", m.Status)
	}

	// What an enrol-only session may do.
	if me := h.must(http.StatusOK, "GET", "/api/v1/me", sup, nil).JSON(t); me["id"] != supID {
		t.Errorf("GET /me = %v", me)
	}
	secret := mxEnrol(t, h, sup)
	h.must(http.StatusNoContent, "POST", "/api/v1/auth/logout", sup, nil)
	auProblem(t, h.do("GET", "/api/v1/me", sup, nil), 401)

	// Enrolled: the code is now required, and the session is a full one.
	auProblem(t, mxLogin(h, "mx-yan", testPassword, ""), 401)
	h.clock.Add(30 * time.Second)
	r = mxLogin(h, "mx-yan", testPassword, mxCode(t, secret, h.clock.Now()))
	if r.Code != 200 {
		t.Fatalf("supervisor login with a code: %d %s", r.Code, r.Body)
	}
	if _, ok := r.JSON(t)["totp_enrolment_required"]; ok {
		t.Errorf("enrolled supervisor login = %s", r.Body)
	}
	h.must(http.StatusOK, "GET", "/api/v1/petitions/"+pid, r.JSON(t)["token"].(string), nil)
}

// mxLoginFrom posts a login from a client address (host:port), with extra
// headers.
func mxLoginFrom(h *harness, addr string, body map[string]string, hdr map[string]string) *resp {
	h.t.Helper()
	b, _ := json.Marshal(body)
	hr := httptest.NewRequest("POST", "/api/v1/auth/login", bytes.NewReader(b))
	hr.RemoteAddr = addr
	hr.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		hr.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, hr)
	return &resp{Code: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// Failed logins for many usernames from one client address block that
// address, whatever username it tries next and whatever it claims in
// forwarded headers; other addresses are not blocked.
func TestMxLoginClientAddressLimit(t *testing.T) {
	h := newHarnessWith(t, harnessOptions{cfg: func(c *Config) { c.ClientFailures = 3 }})
	h.user("mx-zoe", "group", "registrar")
	const attacker = "198.51.100.7:40000"
	for _, name := range []string{"mx-a", "mx-b", "mx-zoe"} {
		r := mxLoginFrom(h, attacker, auLoginBody(name, "wrong-password-123"), nil)
		auProblem(t, r, http.StatusUnauthorized)
	}
	for _, tt := range []struct {
		name, addr string
		hdr        map[string]string
	}{
		{"the right password of a username with one failure", attacker, nil},
		{"another port", "198.51.100.7:40001", nil},
		{"a forwarded header", attacker, map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := mxLoginFrom(h, tt.addr, auLoginBody("mx-zoe", testPassword), tt.hdr)
			auProblem(t, r, http.StatusTooManyRequests)
			if ra := r.Header.Get("Retry-After"); ra != "900" {
				t.Errorf("Retry-After = %q, want 900", ra)
			}
			mxEntry(t, h, r, "", audit.Deny)
		})
	}
	t.Run("an unknown username", func(t *testing.T) {
		auProblem(t, mxLoginFrom(h, attacker, auLoginBody("mx-c", "wrong-password-123"), nil), http.StatusTooManyRequests)
	})
	t.Run("another address", func(t *testing.T) {
		r := mxLoginFrom(h, "203.0.113.9:40000", auLoginBody("mx-zoe", testPassword), nil)
		if r.Code != 200 {
			t.Errorf("login from another address: %d %s", r.Code, r.Body)
		}
	})
	t.Run("after the window", func(t *testing.T) {
		h.clock.Add(15*time.Minute + time.Second)
		r := mxLoginFrom(h, attacker, auLoginBody("mx-zoe", testPassword), nil)
		if r.Code != 200 {
			t.Errorf("login after the window: %d %s", r.Code, r.Body)
		}
	})
}

// An unknown user's login still runs a password hash, and a disabled user's
// right password answers like a wrong one. The hash is seen in the memory it
// allocates (argon2id with 16 MiB), not in time.
func TestMxLoginUnknownUserHashes(t *testing.T) {
	const mem = 16 * 1024 // KiB
	h := newHarnessWith(t, harnessOptions{vaultOpts: func(o *vault.Options) {
		o.Argon2 = vault.Argon2Params{Memory: mem, Time: 1, Threads: 1}
	}})
	h.user("mx-amy", "group", "registrar")
	dis, _ := h.user("mx-bob", "group", "registrar")
	h.must(http.StatusOK, "PATCH", "/api/v1/users/"+dis, h.admin, map[string]any{"disabled": true})

	alloc := func(body any) (*resp, uint64) {
		var a, b runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&a)
		r := h.do("POST", "/api/v1/auth/login", "", body)
		runtime.ReadMemStats(&b)
		return r, b.TotalAlloc - a.TotalAlloc
	}
	// A request that hashes nothing allocates far less than one hash.
	if r, n := alloc(map[string]string{"username": "mx-amy"}); r.Code != 400 || n >= mem*1024 {
		t.Fatalf("login without a password: %d, %d bytes allocated", r.Code, n)
	}
	var answers []*resp
	for _, tt := range []struct {
		name string
		body map[string]string
	}{
		{"wrong password", auLoginBody("mx-amy", "wrong-password-123")},
		{"unknown user", auLoginBody("mx-nobody", "wrong-password-123")},
		{"disabled user, right password", auLoginBody("mx-bob", testPassword)},
	} {
		r, n := alloc(tt.body)
		auProblem(t, r, http.StatusUnauthorized)
		if n < mem*1024 {
			t.Errorf("%s: %d bytes allocated, want at least the %d of one password hash", tt.name, n, mem*1024)
		}
		mxEntry(t, h, r, "auth.login_failed", audit.Deny)
		answers = append(answers, r)
	}
	first := answers[0]
	for _, r := range answers[1:] {
		a, b := first.JSON(t), r.JSON(t)
		delete(a, "request_id")
		delete(b, "request_id")
		if !maps.Equal(a, b) {
			t.Errorf("answers differ: %s vs %s", first.Body, r.Body)
		}
		for _, k := range []string{"Content-Type", "WWW-Authenticate", "Retry-After", "Cache-Control"} {
			if first.Header.Get(k) != r.Header.Get(k) {
				t.Errorf("header %s: %q vs %q", k, first.Header.Get(k), r.Header.Get(k))
			}
		}
		if len(first.Header) != len(r.Header) {
			t.Errorf("headers %v vs %v", first.Header, r.Header)
		}
	}
}
