package api

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"pvault/vault"
	"pvault/vault/store"
)

// Secrets hygiene (issue 10, item 5): a broad scenario runs with the server
// and the vault logging JSON at debug level into one buffer; afterwards
// neither that log nor the audit export holds a token, a password, a
// receipt code (in any spacing or case), an ID number, a phone number, a
// petition's text or a second-factor secret. And secrets are compared in
// constant time. Helpers are prefixed hx.

// hxLogBuffer is a buffer safe for the goroutines that log.
type hxLogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *hxLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *hxLogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// hxFold is text folded for a search that ignores case, spaces and dashes
// (a receipt code may be written any of these ways).
func hxFold(s string) string {
	return strings.NewReplacer("-", "", " ", "", "\t", "", "\\u002d", "").Replace(strings.ToUpper(s))
}

func TestSecretsNotLogged(t *testing.T) {
	logs := &hxLogBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := newHarnessWith(t, harnessOptions{
		vaultOpts: func(o *vault.Options) { o.Logger = logger },
		cfg: func(c *Config) {
			c.Logger = logger
			c.PublicFailures = 1000
		},
	})

	// Everything secret that passes through the scenario.
	secrets := map[string]string{
		"admin password": testAdminPassword, "staff password": testPassword, "admin token": h.admin,
	}
	markers := map[string]string{}
	secret := func(name, v string) string { secrets[name] = v; return v }
	marker := func(name, v string) string { markers[name] = v; return v }

	// Logins, right and wrong.
	h.must(http.StatusUnauthorized, "POST", "/api/v1/auth/login", "", map[string]string{"username": "admin", "password": secret("wrong password", "hx-Wrong-Passw0rd-7731")})
	h.must(http.StatusUnauthorized, "POST", "/api/v1/auth/login", "", map[string]string{"username": "hx-ghost", "password": secret("ghost password", "hx-Ghost-Passw0rd-8842")})
	h.must(http.StatusBadRequest, "POST", "/api/v1/auth/login", "", `{"username":"admin","password":"`+secret("password in a bad body", "hx-BadBody-Passw0rd-9953")+`","x":1}`)
	h.must(http.StatusCreated, "POST", "/api/v1/users", h.admin, map[string]any{"username": "hx-sup", "password": secret("supervisor password", "hx-Sup-Passw0rd-4417"),
		"display_name": "监督员", "unit": "group/east", "roles": []string{"supervisor"}})
	sup := secret("supervisor token", h.login("hx-sup", secrets["supervisor password"]))
	_, reg := h.user("hx-reg", "group/east", "registrar")
	secret("registrar token", reg)
	offID, off := h.user("hx-off", "group/east", "officer")
	secret("officer token", off)
	_, aud := h.user("hx-aud", "group", "auditor")
	secret("auditor token", aud)
	h.must(http.StatusOK, "PATCH", "/api/v1/users/"+offID, h.admin, map[string]any{"password": secret("new officer password", "hx-New-Passw0rd-5528")})
	off = secret("officer token 2", h.login("hx-off", secrets["new officer password"]))

	// A second factor: enrolment, login with it, a wrong code.
	totpSecret := secret("TOTP secret", mxEnrol(t, h, sup))
	h.clock.Add(time.Minute)
	r := mxLogin(h, "hx-sup", secrets["supervisor password"], mxCode(t, totpSecret, h.clock.Now()))
	if r.Code != http.StatusOK {
		t.Fatalf("login with TOTP: %d %s", r.Code, r.Body)
	}
	sup = secret("supervisor token 2", r.JSON(t)["token"].(string))
	if r := mxLogin(h, "hx-sup", secrets["supervisor password"], mxWrongCode(t, totpSecret, h.clock.Now())); r.Code != http.StatusUnauthorized {
		t.Fatalf("wrong TOTP code: %d", r.Code)
	}

	// Petitions with markers and identities, read, revealed, worked.
	idNumber := secret("ID number", "37028319850612771X")
	phone := secret("phone", "13912348765")
	body := map[string]any{
		"unit": "group/east", "channel": "visit", "title": marker("title", "HXMARK-title-拖欠工资-c41f"),
		"content":    marker("content", "HXMARK-content-项目部拖欠三个月工资-9ab2"),
		"requests":   marker("requests", "HXMARK-requests-尽快发放-77d0"),
		"petitioner": map[string]any{"name": marker("name", "HXNAME赵"), "id_number": idNumber, "phone": phone, "address": marker("address", "HXADDR-成都市武侯区"), "employee_no": marker("employee no", "HXEMP-4471")},
		"subjects":   []string{marker("subject", "HXSUBJ-钱经理")},
		"group_size": 4,
	}
	created := h.petition(reg, body)
	pid := created["id"].(string)
	staffCode := secret("staff receipt code", created["receipt_code"].(string))
	h.must(http.StatusOK, "GET", "/api/v1/petitions/"+pid, sup, nil)
	h.send(req{Method: "GET", Path: "/api/v1/petitions/" + pid + "?reveal=identity", Token: sup,
		Header: map[string]string{"X-Access-Reason": "核实身份以便电话回访当事人"}})
	h.must(http.StatusOK, "POST", "/api/v1/petitions/"+pid+"/actions", sup, map[string]any{"action": "accept"})
	h.must(http.StatusOK, "POST", "/api/v1/petitions/"+pid+"/actions", sup, map[string]any{"action": "assign", "assignee": "hx-off"})
	h.must(http.StatusOK, "POST", "/api/v1/petitions/"+pid+"/actions", off, map[string]any{"action": "reply", "text": marker("reply", "HXMARK-reply-已补发-5e3c")})
	h.must(http.StatusCreated, "POST", "/api/v1/petitions/"+pid+"/notes", sup, map[string]any{"text": marker("note", "HXMARK-note-电话联系-0f6a")})
	h.must(http.StatusOK, "GET", "/api/v1/petitions/"+pid+"/events", sup, nil)
	h.must(http.StatusOK, "GET", "/api/v1/petitions?limit=5", sup, nil)
	h.must(http.StatusBadRequest, "POST", "/api/v1/petitions", reg, hxWith(body, "channel", marker("bad channel", "HXMARK-channel")))
	h.must(http.StatusBadRequest, "POST", "/api/v1/petitions", reg, hxWith(body, "title", "HXMARK-title-\u202e-bad"))
	h.must(http.StatusOK, "POST", "/api/v1/audit/hash", aud, map[string]string{"value": idNumber})

	// The portal: a submission, tracking in every spelling, feedback.
	h.must(http.StatusOK, "PUT", "/api/v1/units/group/east", h.admin, map[string]any{"name": "东区分公司", "public": true})
	pub := hxWith(body, "title", marker("public title", "HXMARK-public-标题-21aa"))
	delete(pub, "channel")
	code := secret("public receipt code", h.must(http.StatusCreated, "POST", "/api/v1/public/petitions", "", pub).JSON(t)["receipt_code"].(string))
	for _, c := range []string{code, strings.ToLower(code), strings.ReplaceAll(code, "-", " "), strings.ReplaceAll(code, "-", ""), staffCode} {
		h.must(http.StatusOK, "POST", "/api/v1/public/track", "", map[string]string{"receipt_code": c})
	}
	wrongCode := secret("unknown receipt code", "ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ")
	h.must(http.StatusNotFound, "POST", "/api/v1/public/track", "", map[string]string{"receipt_code": wrongCode})
	h.send(req{Method: "POST", Path: "/track", Body: "receipt_code=" + strings.ToLower(code), Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
	h.must(http.StatusNoContent, "POST", "/api/v1/public/feedback", "", map[string]string{"receipt_code": staffCode, "rating": "satisfied", "comment": marker("feedback", "HXMARK-feedback-谢谢-3b9d")})

	// 401s: a made-up token, a revoked one.
	h.must(http.StatusUnauthorized, "GET", "/api/v1/me", secret("made-up token", "hxMadeUpToken0123456789abcdefABCDEF"), nil)
	h.must(http.StatusNoContent, "POST", "/api/v1/auth/logout", off, nil)
	h.must(http.StatusUnauthorized, "GET", "/api/v1/me", off, nil)

	// A 500: the content envelope of the petition is damaged.
	if err := h.v.Store().Update(func(tx store.Tx) error {
		key := []byte("p/" + pid + "/c")
		b, err := tx.Get(key)
		if err != nil {
			return err
		}
		b[len(b)-3] ^= 0x01
		return tx.Set(key, b)
	}); err != nil {
		t.Fatal(err)
	}
	r = h.send(req{Method: "GET", Path: "/api/v1/petitions/" + pid, Token: sup, Header: map[string]string{"X-Request-ID": "hx-secret-500"}})
	if r.Code != http.StatusInternalServerError {
		t.Fatalf("read of a damaged envelope: %d %s", r.Code, r.Body)
	}
	if !bytes.Contains(r.Body, []byte(`"detail":"internal error"`)) {
		t.Errorf("the 500 carries more than \"internal error\": %s", r.Body)
	}
	h.send(req{Method: "GET", Path: "/api/v1/petitions/" + pid + "?reveal=identity", Token: sup,
		Header: map[string]string{"X-Access-Reason": "核实身份以便电话回访当事人"}})

	// The log was written, the 500 among it.
	text := logs.String()
	if strings.Count(text, `"msg":"request"`) < 40 {
		t.Fatalf("the log holds %d request lines: the logger is not wired", strings.Count(text, `"msg":"request"`))
	}
	if !strings.Contains(text, `"request_id":"hx-secret-500"`) || !strings.Contains(text, `"level":"ERROR"`) {
		t.Errorf("the 500 was not logged as an error with its request id")
	}
	var export bytes.Buffer
	if err := h.v.Log().Export(&export, 0, h.v.Log().Head().Size); err != nil {
		t.Fatal(err)
	}

	for _, src := range []struct{ name, text string }{{"log", text}, {"audit export", export.String()}} {
		folded := hxFold(src.text)
		for name, s := range secrets {
			if strings.Contains(src.text, s) || strings.Contains(folded, hxFold(s)) {
				t.Errorf("the %s holds the %s", src.name, name)
			}
		}
		for name, s := range markers {
			if strings.Contains(src.text, s) || strings.Contains(src.text, hxJSONString(s)) {
				t.Errorf("the %s holds the petition's %s", src.name, name)
			}
		}
		for _, digits := range []string{idNumber[:17], phone[3:]} {
			if strings.Contains(src.text, digits) {
				t.Errorf("the %s holds identity digits %s", src.name, digits)
			}
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("log:\n%s", text)
	}
}

// hxJSONString is s as it appears inside a JSON string.
func hxJSONString(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// hxSecretName matches names of secrets and of values derived from them.
var hxSecretName = regexp.MustCompile(`(?i)token|password|passwordhash|receipthash|totp|secret|hmac|mac\b`)

// hxVariableTimeCompares lists the comparisons in f of a value named like
// a secret with anything but a literal, nil or a length, keyed by the file
// name and the comparison as written.
func hxVariableTimeCompares(fset *token.FileSet, name string, f *ast.File) map[string]token.Position {
	out := map[string]token.Position{}
	check := func(n ast.Node, op string, x, y ast.Expr) {
		xs, ys := types.ExprString(x), types.ExprString(y)
		if !hxSecretName.MatchString(xs) && !hxSecretName.MatchString(ys) {
			return
		}
		if hxTrivial(x) || hxTrivial(y) {
			return
		}
		out[name+": "+xs+" "+op+" "+ys] = fset.Position(n.Pos())
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch e := n.(type) {
		case *ast.BinaryExpr:
			if e.Op == token.EQL || e.Op == token.NEQ {
				check(e, e.Op.String(), e.X, e.Y)
			}
		case *ast.CallExpr:
			if sel, ok := e.Fun.(*ast.SelectorExpr); ok && len(e.Args) == 2 {
				fn := types.ExprString(sel)
				if slices.Contains([]string{"bytes.Equal", "bytes.Compare", "strings.EqualFold", "strings.Compare", "reflect.DeepEqual", "slices.Equal"}, fn) {
					check(e, fn, e.Args[0], e.Args[1])
				}
			}
		case *ast.SwitchStmt:
			if e.Tag != nil && hxSecretName.MatchString(types.ExprString(e.Tag)) {
				out[name+": switch "+types.ExprString(e.Tag)] = fset.Position(e.Pos())
			}
		}
		return true
	})
	return out
}

// TestSecretsComparedInConstantTime reads the non-test source of api and
// vault and fails on == or != (or bytes.Equal and friends, or a switch)
// between a value named like a secret (a token, a password or its hash, a
// receipt hash, a TOTP code or secret, an HMAC) and anything but a
// literal, nil or a length: those must go through subtle.ConstantTimeCompare
// or hmac.Equal.
func TestSecretsComparedInConstantTime(t *testing.T) {
	// Reviewed exceptions, keyed by file and the comparison as written, each
	// with the reason it is safe. None are needed today; an entry looks like
	//   "api/decode.go: dec.Token() != io.EOF": "a JSON token, not a secret",
	allowed := map[string]string{}

	t.Run("the check finds what it should", func(t *testing.T) {
		src := `package x
func f(u, m, in, k, s any, h, tok string, a, b []byte) {
	if u.PasswordHash == h {}
	if m.ReceiptHash != in.Hash {}
	if bytes.Equal(a, k.TOTPSecret) {}
	if s.TokenHash == tok {}
	switch in.TOTP { case "1": }
	if u.PasswordHash == "" || len(tok) != 32 || in.TOTP == nil {}
	if subtle.ConstantTimeCompare(a, b) == 1 {}
	if hmac.Equal(a, b) {}
}`
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, "x.go", src, 0)
		if err != nil {
			t.Fatal(err)
		}
		got := slices.Sorted(maps.Keys(hxVariableTimeCompares(fset, "x.go", f)))
		want := []string{"x.go: a bytes.Equal k.TOTPSecret", "x.go: m.ReceiptHash != in.Hash", "x.go: s.TokenHash == tok",
			"x.go: switch in.TOTP", "x.go: u.PasswordHash == h"}
		if !slices.Equal(got, want) {
			t.Errorf("found %q, want %q", got, want)
		}
	})

	var files []string
	for _, dir := range []string{".", "../vault"} {
		m, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			if !strings.HasSuffix(f, "_test.go") {
				files = append(files, f)
			}
		}
	}
	if len(files) < 20 {
		t.Fatalf("found only %d source files", len(files))
	}
	used := map[string]bool{}
	fset := token.NewFileSet()
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, path, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(filepath.Dir(mustAbs(t, path))) + "/" + filepath.Base(path)
		for key, pos := range hxVariableTimeCompares(fset, name, f) {
			if _, ok := allowed[key]; ok {
				used[key] = true
				continue
			}
			t.Errorf("%s: %s compares a secret in variable time; use subtle.ConstantTimeCompare or hmac.Equal (or allow-list it here with a reason)", pos, strings.TrimPrefix(key, name+": "))
		}
	}
	for key, why := range allowed {
		if !used[key] {
			t.Errorf("allow-list entry %q (%s) matches nothing: remove it", key, why)
		}
	}
}

// hxTrivial reports a literal, nil, or a length: comparing a secret with
// one of these reveals nothing about its value.
func hxTrivial(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.BasicLit:
		return true
	case *ast.Ident:
		return x.Name == "nil" || x.Name == "true" || x.Name == "false"
	case *ast.CallExpr:
		if id, ok := x.Fun.(*ast.Ident); ok && (id.Name == "len" || id.Name == "cap") {
			return true
		}
	case *ast.ParenExpr:
		return hxTrivial(x.X)
	}
	return false
}

func mustAbs(tb testing.TB, p string) string {
	tb.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}
