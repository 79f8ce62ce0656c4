package crashtest

// The harness of the crash and full-disk tests: the real pvault binary,
// built once per test run, its server processes, and an HTTP client that
// tells acknowledged requests from the rest.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pvault/audit"
)

const (
	adminPassword = "crash-admin-password"
	userPassword  = "crash-user-password"
)

var (
	binDir  string // holds the binary; removed by TestMain
	binOnce sync.Once
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	var err error
	if binDir, err = os.MkdirTemp("", "pvault-crashtest-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}

// skipUnlessLinux skips tests that send signals and mount file systems.
func skipUnlessLinux(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skipf("crash tests run on Linux only (GOOS=%s)", runtime.GOOS)
	}
}

// pvaultBinary builds ./cmd/pvault of this module once and returns its path.
func pvaultBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		goCmd, err := exec.LookPath("go")
		if err != nil {
			goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		out, err := exec.Command(goCmd, "env", "GOMOD").Output()
		if err != nil {
			binErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		gomod := strings.TrimSpace(string(out))
		if gomod == "" || gomod == os.DevNull {
			binErr = fmt.Errorf("not inside a module (GOMOD=%q)", gomod)
			return
		}
		binPath = filepath.Join(binDir, "pvault")
		cmd := exec.Command(goCmd, "build", "-o", binPath, "./cmd/pvault")
		cmd.Dir = filepath.Dir(gomod)
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/pvault: %w\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// childEnv is the environment of pvault processes: ours without any
// PVAULT_ variable, plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PVAULT_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// runCLI runs a pvault subcommand to completion and returns its stdout,
// stderr and error.
func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, pvaultBinary(t), args...)
	cmd.Env = childEnv("PVAULT_ADMIN_PASSWORD=" + adminPassword)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// initVault runs pvault init in dir.
func initVault(t *testing.T, dir string) {
	t.Helper()
	if _, stderr, err := runCLI(t, "init", "--data", dir); err != nil {
		t.Fatalf("pvault init: %v\n%s", err, stderr)
	}
}

// server is one pvault serve process.
type server struct {
	t      *testing.T
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:port
	logf   string
	exited chan struct{}
	state  *os.ProcessState
}

// startServer starts pvault serve on dir, logging to logFile (appended),
// without waiting for it to be ready. The process is killed at the end of
// the test if it still runs.
func startServer(t *testing.T, dir, logFile string) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	f, err := os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "=== pvault serve --data %s --addr %s at %s\n", dir, addr, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(pvaultBinary(t), "serve", "--data", dir, "--addr", addr, "--sweep-interval", "0", "--log-level", "info")
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start pvault serve: %v", err)
	}
	s := &server{t: t, cmd: cmd, base: "http://" + addr, logf: logFile, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		s.state = cmd.ProcessState
		f.Close()
		close(s.exited)
	}()
	t.Cleanup(func() { s.kill() })
	return s
}

// serve starts a server and waits until /readyz answers 200, retrying on
// another port if the chosen one was taken meanwhile.
func serve(t *testing.T, dir, logFile string) *server {
	t.Helper()
	for attempt := 0; ; attempt++ {
		s := startServer(t, dir, logFile)
		err := s.waitReady(90 * time.Second)
		if err == nil {
			return s
		}
		s.kill()
		if attempt < 3 && strings.Contains(s.logTail(2000), "address already in use") {
			continue
		}
		t.Fatalf("pvault serve never became ready: %v\n%s", err, s.logTail(4000))
	}
}

func (s *server) alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// waitReady polls /readyz until it answers 200.
func (s *server) waitReady(limit time.Duration) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(limit)
	last := "no answer"
	for time.Now().Before(deadline) {
		if !s.alive() {
			return fmt.Errorf("the process exited (%v)", s.state)
		}
		r, err := hc.Get(s.base + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", r.StatusCode, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %v: %s", limit, last)
}

// kill sends SIGKILL to the server's process group and waits for it.
func (s *server) kill() {
	if s.alive() {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	}
	<-s.exited
}

// stop asks the server to shut down (SIGTERM) and waits for it.
func (s *server) stop() {
	s.t.Helper()
	if !s.alive() {
		s.t.Errorf("pvault serve had already exited (%v)", s.state)
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		if !s.state.Success() {
			s.t.Errorf("pvault serve exited with %v after SIGTERM\n%s", s.state, s.logTail(3000))
		}
	case <-time.After(60 * time.Second):
		s.t.Errorf("pvault serve did not stop within 60 s of SIGTERM")
		s.kill()
	}
}

// logTail returns the last n bytes of the server's log.
func (s *server) logTail(n int) string {
	b, _ := os.ReadFile(s.logf)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// client talks to one server.
type client struct {
	base string
	hc   *http.Client
}

func newClient(base string) *client {
	tr := &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second}
	return &client{base: base, hc: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

func (c *client) close() { c.hc.CloseIdleConnections() }

// reply is what came back for a request. acked means the server answered
// 2xx: the status line left the server, which happens only after the
// request's commit. body may be incomplete (bodyErr) if the server died
// while sending it.
type reply struct {
	code    int
	rid     string // X-Request-ID of the answer
	ctype   string
	body    []byte
	err     error // no status line: the request may or may not have been applied
	bodyErr error
}

func (r *reply) acked() bool { return r.err == nil && r.code >= 200 && r.code < 300 }

func (r *reply) String() string {
	if r.err != nil {
		return "no answer: " + r.err.Error()
	}
	b := r.body
	if len(b) > 300 {
		b = b[:300]
	}
	return fmt.Sprintf("%d %s", r.code, b)
}

// call sends a request with a JSON body (nil for none), a bearer token and
// a request id ("" lets the server choose).
func (c *client) call(method, path, token, rid string, body any) *reply {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			panic(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return &reply{err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rid != "" {
		req.Header.Set("X-Request-ID", rid)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return &reply{err: err}
	}
	defer resp.Body.Close()
	r := &reply{code: resp.StatusCode, rid: resp.Header.Get("X-Request-ID"), ctype: resp.Header.Get("Content-Type")}
	r.body, r.bodyErr = io.ReadAll(resp.Body)
	return r
}

// must sends a request and fails the test unless it answers want with a
// complete body.
func (c *client) must(t testing.TB, want int, method, path, token string, body any) *reply {
	t.Helper()
	r := c.call(method, path, token, "", body)
	if r.err != nil || r.code != want || r.bodyErr != nil {
		t.Fatalf("%s %s: %v, want %d", method, path, r, want)
	}
	return r
}

func (c *client) login(t testing.TB, username, password string) string {
	t.Helper()
	r := c.must(t, http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"username": username, "password": password})
	var out struct{ Token string }
	if err := json.Unmarshal(r.body, &out); err != nil || out.Token == "" {
		t.Fatalf("login %s: %s", username, r.body)
	}
	return out.Token
}

// users are the accounts the tests act with.
type users struct {
	admin, sup, aud string // tokens
}

// setupUsers logs in as admin and creates a supervisor and an auditor of
// the root unit.
func setupUsers(t testing.TB, c *client) users {
	t.Helper()
	u := users{admin: c.login(t, "admin", adminPassword)}
	for _, nu := range []struct{ name, role string }{{"crash-sup", "supervisor"}, {"crash-aud", "auditor"}} {
		c.must(t, http.StatusCreated, "POST", "/api/v1/users", u.admin, map[string]any{
			"username": nu.name, "password": userPassword, "display_name": nu.name, "unit": "group", "roles": []string{nu.role}})
	}
	u.sup = c.login(t, "crash-sup", userPassword)
	u.aud = c.login(t, "crash-aud", userPassword)
	return u
}

// petitionJSON is the part of a petition the tests compare.
type petitionJSON struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Content string `json:"content"`
	Status  string `json:"status"`
}

// listAll lists every petition the token sees, newest first, following the
// cursors of pages of 500.
func listAll(t testing.TB, c *client, token string) ([]petitionJSON, error) {
	var out []petitionJSON
	cursor := ""
	for range 100000 {
		r := c.call("GET", "/api/v1/petitions?limit=500&cursor="+url.QueryEscape(cursor), token, "", nil)
		if r.err != nil || r.code != http.StatusOK || r.bodyErr != nil {
			return out, fmt.Errorf("list: %v", r)
		}
		var page struct {
			Items      []petitionJSON `json:"items"`
			NextCursor string         `json:"next_cursor"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			return out, fmt.Errorf("list: %w", err)
		}
		out = append(out, page.Items...)
		if page.NextCursor == "" {
			return out, nil
		}
		cursor = page.NextCursor
	}
	return out, errors.New("list does not end")
}

// exportLog reads the whole audit log through GET /audit/export and checks
// it as one chain from seq 0 with no gap. It returns the raw lines and the
// parsed entries.
func exportLog(t testing.TB, c *client, token string) ([][]byte, []*audit.Entry) {
	t.Helper()
	r := c.call("GET", "/api/v1/audit/export", token, "", nil)
	if r.err != nil || r.code != http.StatusOK || r.bodyErr != nil {
		t.Fatalf("export: %v", r)
	}
	chk := audit.NewChecker()
	var lines [][]byte
	var entries []*audit.Entry
	for i, line := range bytes.Split(bytes.TrimSuffix(r.body, []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		e, err := audit.ParseEntry(line)
		if err != nil {
			t.Fatalf("export line %d: %v", i, err)
		}
		if e.Seq != int64(i) {
			t.Fatalf("export line %d has seq %d: the log has a gap", i, e.Seq)
		}
		if err := chk.Add(line); err != nil {
			t.Fatalf("export line %d: %v", i, err)
		}
		lines = append(lines, line)
		entries = append(entries, e)
	}
	return lines, entries
}

// verifyOnline requires GET /audit/verify to report ok, and returns the size.
func verifyOnline(t testing.TB, c *client, token string) int64 {
	t.Helper()
	r := c.call("GET", "/api/v1/audit/verify", token, "", nil)
	if r.err != nil || r.code != http.StatusOK {
		t.Errorf("audit verify: %v", r)
		return 0
	}
	var res audit.Result
	if err := json.Unmarshal(r.body, &res); err != nil || !res.OK || res.FirstBadSeq != nil {
		t.Errorf("audit verify: %s", r.body)
	}
	return res.Size
}

// checkOffline runs pvault check and pvault audit verify on dir, which
// must hold a vault whose server is not running, and fails the test on any
// damage or error. It returns the number of petitions check read.
func checkOffline(t *testing.T, dir string) int {
	t.Helper()
	out, stderr, err := runCLI(t, "check", "--data", dir)
	if err != nil {
		t.Errorf("pvault check --data %s: %v\n%s\n%s", dir, err, out, stderr)
	}
	var rep struct {
		Petitions   int          `json:"petitions"`
		DamageCount int          `json:"damage_count"`
		Damaged     []any        `json:"damaged"`
		Audit       audit.Result `json:"audit"`
	}
	if err == nil {
		if jerr := json.Unmarshal([]byte(out), &rep); jerr != nil {
			t.Errorf("pvault check output: %v: %s", jerr, out)
		} else if rep.DamageCount != 0 || !rep.Audit.OK {
			t.Errorf("pvault check reports damage: %s", out)
		}
	}
	out, stderr, err = runCLI(t, "audit", "verify", "--data", dir)
	if err != nil {
		t.Errorf("pvault audit verify --data %s: %v\n%s\n%s", dir, err, out, stderr)
	} else {
		var res audit.Result
		if jerr := json.Unmarshal([]byte(out), &res); jerr != nil || !res.OK {
			t.Errorf("pvault audit verify: %s (%v)", out, jerr)
		}
	}
	return rep.Petitions
}

// isProblem reports whether r is an RFC 9457 problem document that names
// its request id.
func isProblem(r *reply) bool {
	if !strings.HasPrefix(r.ctype, "application/problem+json") {
		return false
	}
	var p struct {
		Status    int    `json:"status"`
		RequestID string `json:"request_id"`
	}
	return json.Unmarshal(r.body, &p) == nil && p.Status == r.code && p.RequestID != ""
}
