package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"pvault/audit"
	"pvault/vault"
)

// Test fixtures shared by the api tests.

const testAdminPassword = "admin-password-for-tests"
const testPassword = "a-long-test-password"

// fastArgon makes password hashing cheap in tests.
var fastArgon = vault.Argon2Params{Memory: 64, Time: 1, Threads: 1}

// clock is a settable fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness is a vault in a temporary directory with an API server in front.
type harness struct {
	t     testing.TB
	dir   string
	v     *vault.Vault
	srv   *Server
	clock *clock
	admin string // admin token
}

type harnessOptions struct {
	vaultOpts func(*vault.Options)
	cfg       func(*Config)
}

func newHarness(t testing.TB) *harness { return newHarnessWith(t, harnessOptions{}) }

func newHarnessWith(t testing.TB, ho harnessOptions) *harness {
	t.Helper()
	dir := t.TempDir()
	clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	// Every harness logs at debug level into the run's log, which TestMain
	// scans for secrets when all tests have run.
	opts := vault.Options{Argon2: fastArgon, Now: clk.Now, Logger: runLogger}
	if ho.vaultOpts != nil {
		ho.vaultOpts(&opts)
	}
	if _, err := vault.Init(dir, vault.InitOptions{AdminPassword: testAdminPassword, Options: opts}); err != nil {
		t.Fatalf("init: %v", err)
	}
	v, err := vault.Open(dir, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	cfg := Config{Vault: v, Now: clk.Now, Logger: runLogger}
	if ho.cfg != nil {
		ho.cfg(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	h := &harness{t: t, dir: dir, v: v, srv: srv, clock: clk}
	h.admin = h.login("admin", testAdminPassword)
	return h
}

// resp is a recorded response.
type resp struct {
	Code   int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic map.
func (r *resp) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("decode %q: %v", r.Body, err)
	}
	return m
}

// req is a request to send; Body is a JSON value, a string or []byte (sent
// as is).
type req struct {
	Method, Path, Token string
	Body                any
	Header              map[string]string
}

func (h *harness) send(r req) *resp {
	h.t.Helper()
	var body io.Reader
	var raw []byte
	switch b := r.Body.(type) {
	case nil:
	case string:
		body, raw = strings.NewReader(b), []byte(b)
	case []byte:
		body, raw = bytes.NewReader(b), b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		body, raw = bytes.NewReader(j), j
	}
	hr := httptest.NewRequest(r.Method, r.Path, body)
	if r.Body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.Token)
	}
	for k, v := range r.Header {
		if v == "" {
			hr.Header.Del(k)
		} else {
			hr.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, hr)
	runSecrets.note(r.Token, raw, rec.Body.Bytes())
	return &resp{Code: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

func (h *harness) do(method, path, token string, body any) *resp {
	h.t.Helper()
	return h.send(req{Method: method, Path: path, Token: token, Body: body})
}

// must sends a request and fails the test unless the status is want.
func (h *harness) must(want int, method, path, token string, body any) *resp {
	h.t.Helper()
	r := h.do(method, path, token, body)
	if r.Code != want {
		h.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Code, want, r.Body)
	}
	return r
}

func (h *harness) login(username, password string) string {
	h.t.Helper()
	r := h.must(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"username": username, "password": password})
	return r.JSON(h.t)["token"].(string)
}

// user creates a user and returns its id and a token.
func (h *harness) user(username, unit string, roles ...string) (string, string) {
	h.t.Helper()
	return h.userNamed(username, username, unit, roles...)
}

func (h *harness) userNamed(username, display, unit string, roles ...string) (string, string) {
	h.t.Helper()
	r := h.must(http.StatusCreated, "POST", "/api/v1/users", h.admin, map[string]any{
		"username": username, "password": testPassword, "display_name": display, "unit": unit, "roles": roles,
	})
	return r.JSON(h.t)["id"].(string), h.login(username, testPassword)
}

// petitionBody is a valid create body for unit.
func petitionBody(unit string) map[string]any {
	return map[string]any{
		"unit": unit, "channel": "letter", "title": "拖欠工资三个月",
		"content":    "我们在三号工地干活，项目部已经拖欠我们三个月工资。",
		"petitioner": map[string]any{"name": "张三", "id_number": "510104199001011234", "phone": "13812345678", "address": "四川省成都市武侯区", "employee_no": "E1001"},
		"subjects":   []string{"李经理"},
		"group_size": 3,
	}
}

// petition creates a petition with token and returns the response body.
func (h *harness) petition(token string, body map[string]any) map[string]any {
	h.t.Helper()
	return h.must(http.StatusCreated, "POST", "/api/v1/petitions", token, body).JSON(h.t)
}

// entries returns the audit entries recorded with a request id.
func (h *harness) entries(rid string) []*audit.Entry {
	h.t.Helper()
	es, _, err := h.v.Log().Entries(audit.Filter{RequestID: rid, Limit: 10})
	if err != nil {
		h.t.Fatal(err)
	}
	return es
}

// lastEntry returns the newest audit entry.
func (h *harness) lastEntry() *audit.Entry {
	h.t.Helper()
	size := h.v.Log().Head().Size
	es, _, err := h.v.Log().Entries(audit.Filter{Start: size - 1, Limit: 1})
	if err != nil || len(es) != 1 {
		h.t.Fatalf("last entry: %v", err)
	}
	return es[0]
}
