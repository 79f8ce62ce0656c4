package api

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"pvault/audit"
	"pvault/vault/store"
)

// Hostile input (issue 10, item 3): for every route of server.go, requests
// built to break the decoder, the router or the headers each get a clear
// 4xx (404/405 for paths), never a 5xx, never a panic, and store nothing:
// every stored record outside the audit log ("a/") and the sessions ("s/")
// is the same before and after each request. Helpers are prefixed hx.

// hxSnapshot digests every stored record outside the audit log and the
// session range, keyed by the record's key.
func hxSnapshot(tb testing.TB, st store.Store) map[string][32]byte {
	tb.Helper()
	snap := map[string][32]byte{}
	// Three scans skip the two ranges without visiting their keys.
	ranges := []struct{ start, stop []byte }{{nil, []byte("a/")}, {[]byte("a0"), []byte("s/")}, {[]byte("s0"), nil}}
	err := st.View(func(r store.Reader) error {
		for _, rg := range ranges {
			err := r.Scan(store.ScanOptions{Start: rg.start}, func(k, v []byte) error {
				if rg.stop != nil && bytes.Compare(k, rg.stop) >= 0 {
					return store.ErrStop
				}
				snap[string(k)] = sha256.Sum256(v)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("snapshot: %v", err)
	}
	return snap
}

// hxDiff lists the keys added, removed or changed between two snapshots.
func hxDiff(before, after map[string][32]byte) []string {
	var d []string
	for k, v := range after {
		if old, ok := before[k]; !ok {
			d = append(d, fmt.Sprintf("added %q", k))
		} else if old != v {
			d = append(d, fmt.Sprintf("changed %q", k))
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			d = append(d, fmt.Sprintf("removed %q", k))
		}
	}
	sort.Strings(d)
	return d
}

// hxCase is one hostile request.
type hxCase struct {
	name          string
	method, path  string
	token         string
	body          []byte // nil: no body
	ctype         string // "": application/json when there is a body; "-": no Content-Type
	header        map[string]string
	want          []int // acceptable statuses; nil: any 4xx
	skipEntryLook bool  // served outside s.handle: no request id, no entry
}

func hxSend(h *harness, c hxCase) *resp {
	h.t.Helper()
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	hr := httptest.NewRequest(c.method, c.path, body)
	switch {
	case c.ctype == "-":
	case c.ctype != "":
		hr.Header["Content-Type"] = []string{c.ctype}
	case c.body != nil:
		hr.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range c.header {
		// Raw values: a proxy that passes CR, LF or NUL through is assumed.
		hr.Header[http.CanonicalHeaderKey(k)] = []string{v}
	}
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, hr)
	return &resp{Code: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// hxHidden are characters that must never come back in a problem's detail.
var hxHidden = []string{"\x00", "\u202e", "\u200b", "\ufeff", "\u2066", "\x1b", "\r"}

// hxRun sends every case, each in a subtest, and checks its answer and that
// it stored nothing.
func hxRun(t *testing.T, h *harness, cases []hxCase) {
	t.Helper()
	before := hxSnapshot(t, h.v.Store())
	seen := map[string]int{}
	for _, c := range cases {
		name := c.method + " " + c.name
		if seen[name]++; seen[name] > 1 {
			name += fmt.Sprintf(" #%d", seen[name])
		}
		t.Run(name, func(t *testing.T) {
			r := hxSend(h, c)
			switch {
			case r.Code >= 500:
				t.Errorf("%s %s: status %d, want a 4xx: %.300s", c.method, c.path, r.Code, r.Body)
			case c.want != nil && !slices.Contains(c.want, r.Code):
				t.Errorf("%s %.120s: status %d, want one of %v: %.300s", c.method, c.path, r.Code, c.want, r.Body)
			case c.want == nil && (r.Code < 400 || r.Code >= 500):
				t.Errorf("%s %.120s: status %d, want a 4xx: %.300s", c.method, c.path, r.Code, r.Body)
			}
			if bytes.Contains(r.Body, []byte("root:x:0:0")) || bytes.Contains(r.Body, []byte("[fonts]")) {
				t.Errorf("%s %s: the response holds a system file", c.method, c.path)
			}
			hxCheckRequestID(t, h, c, r)
			if r.Code >= 400 && isAPI(hxPath(c.path)) {
				hxCheckProblem(t, r)
			}
			hxWaitJob(t, h, r)
			after := hxSnapshot(t, h.v.Store())
			if d := hxDiff(before, after); len(d) > 0 {
				t.Errorf("%s %.120s (status %d) stored: %v", c.method, c.path, r.Code, d)
			}
			before = after
		})
	}
}

// hxWaitJob waits for the background job a 202 started, so that what it
// stores is charged to the request that started it.
func hxWaitJob(t *testing.T, h *harness, r *resp) {
	t.Helper()
	if r.Code != http.StatusAccepted {
		return
	}
	var body struct {
		Job struct{ ID string } `json:"job"`
	}
	if json.Unmarshal(r.Body, &body) != nil || body.Job.ID == "" {
		return
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		j := hxSend(h, hxCase{method: "GET", path: "/api/v1/admin/jobs/" + body.Job.ID, token: h.admin})
		var jb struct{ State string }
		_ = json.Unmarshal(j.Body, &jb)
		if j.Code != http.StatusOK || jb.State != "running" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("job %s still running", body.Job.ID)
}

// hxPath is the decoded path of a request target.
func hxPath(target string) string {
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return target
	}
	return u.Path
}

// hxCheckRequestID checks the response's request id: server-made when the
// one sent was malformed, never echoing it, no header smuggled in, and one
// audit entry under it with the response's status.
func hxCheckRequestID(t *testing.T, h *harness, c hxCase, r *resp) {
	t.Helper()
	rid := r.Header.Get("X-Request-ID")
	if sent, ok := c.header["X-Request-ID"]; ok && !requestIDRE.MatchString(sent) {
		if rid == sent || (rid != "" && strings.Contains(sent, rid) && len(rid) > 8) {
			t.Errorf("malformed X-Request-ID %q was echoed as %q", sent, rid)
		}
	}
	for k, vs := range r.Header {
		if k == "Set-Cookie" || k == "X-Injected" {
			t.Errorf("response carries a smuggled header %s: %q", k, vs)
		}
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n\x00") || strings.Contains(v, "hxinjected") {
				t.Errorf("response header %s = %q carries injected bytes", k, v)
			}
		}
	}
	if bytes.Contains(r.Body, []byte("hxinjected")) {
		t.Errorf("the response body echoes the injected header: %.300s", r.Body)
	}
	if rid == "" {
		if isAPI(hxPath(c.path)) && !c.skipEntryLook {
			t.Errorf("no X-Request-ID on an API response (status %d)", r.Code)
		}
		return
	}
	if !requestIDRE.MatchString(rid) {
		t.Errorf("response X-Request-ID %q is malformed", rid)
		return
	}
	if c.skipEntryLook {
		return
	}
	es, _, err := h.v.Log().Entries(audit.Filter{RequestID: rid, Limit: 10})
	if err != nil {
		t.Errorf("audit entries under request id %s: %v (the log no longer verifies)", rid, err)
		return
	}
	if len(es) != 1 {
		t.Errorf("%d audit entries under request id %s, want 1", len(es), rid)
		return
	}
	if es[0].Status != r.Code {
		t.Errorf("audit entry status %d, response %d", es[0].Status, r.Code)
	}
}

// hxCheckProblem checks an API error: a problem document that echoes no
// hostile bytes.
func hxCheckProblem(t *testing.T, r *resp) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("error Content-Type %q, want application/problem+json", ct)
		return
	}
	var p Problem
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Errorf("error body is not a problem document: %v: %.300s", err, r.Body)
		return
	}
	if p.Status != r.Code || p.RequestID != r.Header.Get("X-Request-ID") || p.Title == "" {
		t.Errorf("problem %+v for status %d", p, r.Code)
	}
	for _, c := range hxHidden {
		if strings.Contains(p.Detail, c) {
			t.Errorf("problem detail echoes a hostile character %q: %q", c, p.Detail)
		}
	}
}

// hxFixture is a harness with a public unit, staff, a TOTP user, a replied
// public petition and an accepted staff petition.
type hxFixture struct {
	*pbFixture
	reg, totpTok string // tokens
	targetID     string // the user the hostile PATCHes aim at
	code         string // the receipt code of a replied public petition
	staffID      string // an accepted staff petition
	recipient    string // an age recipient
	policyRules  any
}

func hxSetup(tb testing.TB) *hxFixture {
	tb.Helper()
	f := &hxFixture{pbFixture: pbSetup(tb, func(c *Config) {
		// High limits: every hostile request must meet validation, not a
		// rate limit.
		c.PublicSubmits, c.PublicLookups, c.PublicFailures = 100000, 100000, 100000
		c.LoginFailures, c.ClientFailures = 100000, 100000
	})}
	h := f.h
	_, f.reg = h.user("hx-reg", "group/east", "registrar")
	f.targetID, _ = h.user("hx-target", "group/east", "registrar")
	_, f.totpTok = h.user("hx-totp", "group/east", "registrar")
	mxEnrol(tb, h, f.totpTok)
	f.code, _ = f.pbReplied(tb, "经核实，工资已于本月补发。")
	f.staffID = h.petition(f.reg, petitionBody("group/east"))["id"].(string)
	pbAct(tb, h, f.sup, f.staffID, map[string]any{"action": "accept"})
	id, err := age.GenerateX25519Identity()
	if err != nil {
		tb.Fatal(err)
	}
	f.recipient = id.Recipient().String()
	f.policyRules = h.must(http.StatusOK, "GET", "/api/v1/policy", h.admin, nil).JSON(tb)["rules"]
	return f
}

// hxPlaceholder marks where raw JSON is spliced into a marshalled body.
const hxPlaceholder = "hx\x01placeholder"

var hxPlaceholderJSON = `"hx\u0001placeholder"`

// hxCopy deep-copies a JSON-like value.
func hxCopy(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

// hxGet returns the value at a dotted path ("petitioner.name",
// "subjects.0").
func hxGet(v any, path string) any {
	for _, p := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			var i int
			fmt.Sscan(p, &i)
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// hxWith returns a copy of base with the value at path set to v.
func hxWith(base map[string]any, path string, v any) map[string]any {
	m := hxCopy(base).(map[string]any)
	parts := strings.Split(path, ".")
	var cur any = m
	for i, p := range parts {
		last := i == len(parts)-1
		switch x := cur.(type) {
		case map[string]any:
			if last {
				x[p] = v
			} else {
				if x[p] == nil {
					x[p] = map[string]any{}
				}
				cur = x[p]
			}
		case []any:
			var j int
			fmt.Sscan(p, &j)
			if last {
				x[j] = v
			} else {
				cur = x[j]
			}
		}
	}
	return m
}

// hxRaw marshals base with the value at path replaced by raw JSON bytes.
func hxRaw(base map[string]any, path, raw string) []byte {
	b, err := json.Marshal(hxWith(base, path, hxPlaceholder))
	if err != nil {
		panic(err)
	}
	return bytes.Replace(b, []byte(hxPlaceholderJSON), []byte(raw), 1)
}

func hxJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// hxInsert puts r in the middle of the string s.
func hxInsert(s, r string) string {
	rs := []rune(s)
	if len(rs) < 2 {
		return "ab" + r + "cd"
	}
	return string(rs[:len(rs)/2]) + r + string(rs[len(rs)/2:])
}

// hxDeepArrays and hxDeepObjects are 10,000 levels of nesting.
var (
	hxDeepArrays  = strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	hxDeepObjects = strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
)

// hxHugeNumbers are numbers that fit no field.
var hxHugeNumbers = []string{"1e400", "99999999999999999999", "-0", "1e-400", "1.5", "NaN"}

// hxRunes are characters a single-line field must refuse; hxMultiRunes
// those a multi-line field must refuse too.
var (
	hxRunes = map[string]string{
		"NUL": "\x00", "RTL override": "\u202e", "zero-width space": "\u200b", "BOM": "\ufeff",
		"LTR isolate": "\u2066", "ESC": "\x1b", "line feed": "\n", "line separator": "\u2028", "DEL": "\x7f",
	}
	hxMultiRunes = []string{"NUL", "RTL override", "zero-width space", "BOM", "LTR isolate", "ESC", "line separator"}
)

// hxBodyEP is a JSON-body endpoint: a valid body and its fields.
type hxBodyEP struct {
	name, method, path, token string
	base                      map[string]any
	single                    []string // single-line text: hostile characters are 400
	multi                     []string // multi-line text: hostile characters are 400
	loose                     []string // other strings (codes, names looked up): any 4xx
	secret                    []string // passwords: any text but control characters
	free                      []string // free text that is hashed, never stored: any value is fine
	nums                      []string // numbers and booleans
	anyStatus                 bool     // the endpoint answers structural errors with its own 4xx
	fieldsOnly                bool     // another body of a route already listed: only its fields
}

// hxBodyCases builds the hostile bodies of one endpoint.
func hxBodyCases(ep hxBodyEP) []hxCase {
	var cs []hxCase
	add := func(name string, body []byte, ctype string, want ...int) {
		if len(want) == 0 || ep.anyStatus {
			want = nil
		}
		cs = append(cs, hxCase{name: ep.name + ": " + name, method: ep.method, path: ep.path, token: ep.token, body: body, ctype: ctype, want: want})
	}
	fields := slices.Concat(ep.single, ep.multi, ep.loose, ep.secret, ep.free)
	f0 := fields[0]
	valid := hxJSON(ep.base)

	// Numbers.
	numFields := ep.nums
	if len(numFields) == 0 {
		numFields = []string{f0}
	}
	for _, f := range numFields {
		for _, n := range hxHugeNumbers {
			add("number "+n+" in "+f, hxRaw(ep.base, f, n), "", 400)
		}
	}
	// Nesting.
	add("10,000 nested arrays in "+f0, hxRaw(ep.base, f0, hxDeepArrays), "", 400)
	add("10,000 nested objects in "+f0, hxRaw(ep.base, f0, hxDeepObjects), "", 400)
	add("10,000 nested arrays", []byte(hxDeepArrays), "", 400)
	add("10,000 nested objects", []byte(hxDeepObjects), "", 400)
	add("10,000 unclosed arrays", []byte(strings.Repeat("[", 10000)), "", 400)
	add("17 nested objects", []byte(strings.Repeat(`{"a":`, 17)+"1"+strings.Repeat("}", 17)), "", 400)
	// Duplicate and odd keys.
	for _, f := range fields {
		top, nested, isNested := strings.Cut(f, ".")
		if isNested {
			if _, err := fmt.Sscan(nested, new(int)); err == nil {
				continue // an array element
			}
			b := hxJSON(ep.base)
			dup := bytes.Replace(b, []byte(`"`+top+`":{`), []byte(`"`+top+`":{"`+nested+`":"x",`), 1)
			add("duplicate key "+f, dup, "", 400)
			continue
		}
		v := hxJSON(hxGet(ep.base, top))
		add("duplicate key "+top, append(append([]byte(`{"`+top+`":`), v...), append([]byte(","), valid[1:]...)...), "", 400)
		add("key "+strings.ToUpper(top)+" in capitals", append([]byte(`{"`+strings.ToUpper(top)+`":`+string(v)+`,`), valid[1:]...), "", 400)
	}
	add("unknown field __proto__", append([]byte(`{"__proto__":{"admin":true},`), valid[1:]...), "", 400)
	add("empty key", append([]byte(`{"":1,`), valid[1:]...), "", 400)
	// NUL bytes, invalid UTF-8, hidden characters.
	add("raw NUL in "+f0, hxRaw(ep.base, f0, "\"ab\x00cd\""), "", 400)
	add("raw NUL between tokens", append([]byte("{\x00"), valid[1:]...), "", 400)
	add("invalid UTF-8 in "+f0, hxRaw(ep.base, f0, "\"ab\xff\xfecd\""), "", 400)
	add("overlong UTF-8 in "+f0, hxRaw(ep.base, f0, "\"ab\xc0\xafcd\""), "", 400)
	add("UTF-16 surrogate in "+f0, hxRaw(ep.base, f0, "\"ab\xed\xa0\x80cd\""), "", 400)
	add("UTF-8 BOM before the body", append([]byte("\xef\xbb\xbf"), valid...), "", 400)
	for i, f := range ep.single {
		names := []string{"NUL", "RTL override", "zero-width space", "BOM"}
		if i == 0 {
			names = slices.Sorted(maps.Keys(hxRunes))
		}
		for _, name := range names {
			s, _ := hxGet(ep.base, f).(string)
			add(name+" in "+f, hxJSON(hxWith(ep.base, f, hxInsert(s, hxRunes[name]))), "", 400)
		}
	}
	for i, f := range ep.multi {
		names := []string{"NUL", "RTL override", "zero-width space", "BOM"}
		if i == 0 {
			names = hxMultiRunes
		}
		for _, name := range names {
			s, _ := hxGet(ep.base, f).(string)
			add(name+" in "+f, hxJSON(hxWith(ep.base, f, hxInsert(s, hxRunes[name]))), "", 400)
		}
	}
	for _, f := range ep.loose {
		for _, name := range []string{"NUL", "RTL override", "zero-width space", "line feed"} {
			s, _ := hxGet(ep.base, f).(string)
			add(name+" in "+f, hxJSON(hxWith(ep.base, f, hxInsert(s, hxRunes[name]))), "")
		}
		add("path traversal in "+f, hxJSON(hxWith(ep.base, f, "../../etc/passwd")), "")
	}
	for _, f := range ep.secret {
		for _, name := range []string{"NUL", "ESC", "line feed"} {
			s, _ := hxGet(ep.base, f).(string)
			add(name+" in "+f, hxJSON(hxWith(ep.base, f, hxInsert(s, hxRunes[name]))), "", 400)
		}
	}
	for _, f := range ep.free {
		for _, name := range []string{"NUL", "RTL override", "zero-width space", "line feed"} {
			s, _ := hxGet(ep.base, f).(string)
			cs = append(cs, hxCase{name: ep.name + ": " + name + " in " + f, method: ep.method, path: ep.path, token: ep.token,
				body: hxJSON(hxWith(ep.base, f, hxInsert(s, hxRunes[name]))), want: []int{200, 400}})
		}
	}
	// Size.
	add("a 1 MiB string in "+f0, hxRaw(ep.base, f0, `"`+strings.Repeat("a", MaxBody)+`"`), "", 413)
	// Content types.
	for _, ct := range []string{"-", "text/plain", "multipart/form-data; boundary=x", "application/json; charset=utf-16",
		"application/jsonp", "application/json\r\nX-Injected: hxinjected"} {
		add("Content-Type "+ct, valid, ct, 415)
	}
	// Not an object.
	for _, b := range []string{"[]", `[` + string(valid) + `]`, `"a string"`, "42", "true"} {
		add("body "+b+" instead of an object", []byte(b), "", 400)
	}
	// A bare null decodes as an empty object (see TestHostileDecodeNotObject);
	// here it must at least be refused by the handler and store nothing.
	add("body null instead of an object", []byte("null"), "")
	add("body of spaces", []byte("   "), "", 400)
	add("body of a line feed", []byte("\n"), "", 400)
	// Trailing data.
	for _, tail := range []string{"x", "{}", "]", "\x00", "\xff"} {
		add(fmt.Sprintf("trailing %q", tail), append(append([]byte{}, valid...), tail...), "", 400)
	}
	add("truncated", valid[:len(valid)-1], "", 400)
	if ep.fieldsOnly {
		cs = slices.DeleteFunc(cs, func(c hxCase) bool { return !hxFieldCase(c.name, fields) })
	}
	return cs
}

// hxFieldCase reports whether a case of hxBodyCases names one of fields.
func hxFieldCase(name string, fields []string) bool {
	for _, f := range fields {
		if strings.HasSuffix(name, " "+f) {
			return true
		}
	}
	return false
}

// hxTraversals replace an id in a path.
var hxTraversals = []string{
	"../../etc/passwd", "..%2f..%2fetc%2fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "%2e%2e/%2e%2e/etc/passwd",
	"..%5c..%5cwindows%5cwin.ini", "%00", "01ARZ3NDEKTSV4RRFFQ69G5FAV%00", "%252e%252e%252f", "..",
	"%c0%ae%c0%ae%c0%af", "%ff",
}

// hxRIDs are malformed request ids; every one must be replaced.
var hxRIDs = []string{
	"hx\r\nSet-Cookie: hxinjected=1", "hx\nX-Injected: hxinjected", "hx\rhxinjected", strings.Repeat("r", 65),
	strings.Repeat("r", 8192), "请求-1", "hx\u202ehxinjected", "hx\x00hxinjected", " ", "hx hx", "a/b", "../../etc/passwd",
	"hx\thxinjected", "%0d%0aSet-Cookie:hxinjected",
}

// hxBadTokens are Authorization values that must be 401.
var hxBadTokens = []string{
	"Bearer ../../etc/passwd", "Bearer \x00", "Bearer hx\r\nX-Injected: hxinjected", "Bearer " + strings.Repeat("A", 8192),
	"Basic YWRtaW46YWRtaW4=", "Bearer", "bearer abc", "Bearer \u202eabc",
}

// hxRoute is a route of server.go and the request that reaches it.
type hxRoute struct {
	method, path string
	authed       bool
	want         int  // status of the plain request (0: any 2xx-4xx)
	noHandle     bool // served outside s.handle: no request id, no entry
}

func TestHostileRequests(t *testing.T) {
	// Two shards, each on its own vault, run side by side: the requests
	// mostly wait for the audit log's synced commits.
	const shards = 2
	for k := range shards {
		t.Run(fmt.Sprintf("shard %d", k), func(t *testing.T) {
			t.Parallel()
			f := hxSetup(t)
			var mine []hxCase
			for i, c := range hxHostileCases(t, f, k == 0) {
				if i%shards == k {
					mine = append(mine, c)
				}
			}
			hxRun(t, f.h, mine)
		})
	}
}

// hxHostileCases builds the hostile requests for every route against the
// fixture f; checkRoutes also checks that every route is listed.
func hxHostileCases(t *testing.T, f *hxFixture, checkRoutes bool) []hxCase {
	h := f.h
	p := f.staffID
	extend := map[string]any{"action": "extend", "days": 5, "reason": "需要调取工地考勤记录"}

	// Every route of server.go (and web.go).
	routes := []hxRoute{
		{method: "GET", path: "/healthz", want: 200, noHandle: true},
		{method: "GET", path: "/readyz", want: 200, noHandle: true},
		{method: "GET", path: "/metrics", want: 200, noHandle: true},
		{method: "GET", path: "/static/style.css", want: 200, noHandle: true},
		{method: "GET", path: "/", want: 200},
		{method: "GET", path: "/submit", want: 200},
		{method: "POST", path: "/submit", want: 415},
		{method: "GET", path: "/track", want: 200},
		{method: "POST", path: "/track", want: 415},
		{method: "POST", path: "/feedback", want: 415},
		{method: "POST", path: "/review", want: 415},
		{method: "GET", path: "/api/v1/openapi.json", want: 200},
		{method: "POST", path: "/api/v1/auth/login", want: 415},
		{method: "POST", path: "/api/v1/auth/logout", authed: true},
		{method: "GET", path: "/api/v1/me", authed: true},
		{method: "POST", path: "/api/v1/me/totp", authed: true},
		{method: "POST", path: "/api/v1/me/totp/confirm", authed: true},
		{method: "DELETE", path: "/api/v1/users/" + f.targetID + "/totp", authed: true},
		{method: "POST", path: "/api/v1/users", authed: true},
		{method: "GET", path: "/api/v1/users", authed: true},
		{method: "GET", path: "/api/v1/users/" + f.targetID, authed: true},
		{method: "PATCH", path: "/api/v1/users/" + f.targetID, authed: true},
		{method: "GET", path: "/api/v1/units", authed: true},
		{method: "PUT", path: "/api/v1/units/group/east", authed: true},
		{method: "GET", path: "/api/v1/policy", authed: true},
		{method: "PUT", path: "/api/v1/policy", authed: true},
		{method: "GET", path: "/api/v1/policy/explain?user=admin&action=petition.read", authed: true},
		{method: "POST", path: "/api/v1/petitions", authed: true},
		{method: "GET", path: "/api/v1/petitions", authed: true},
		{method: "GET", path: "/api/v1/petitions/" + p, authed: true},
		{method: "POST", path: "/api/v1/petitions/" + p + "/actions", authed: true},
		{method: "POST", path: "/api/v1/petitions/" + p + "/notes", authed: true},
		{method: "GET", path: "/api/v1/petitions/" + p + "/events", authed: true},
		{method: "GET", path: "/api/v1/alerts", authed: true},
		{method: "GET", path: "/api/v1/public/units", want: 200},
		{method: "POST", path: "/api/v1/public/petitions", want: 415},
		{method: "POST", path: "/api/v1/public/track", want: 415},
		{method: "POST", path: "/api/v1/public/feedback", want: 415},
		{method: "POST", path: "/api/v1/public/review", want: 415},
		{method: "GET", path: "/api/v1/audit/entries", authed: true},
		{method: "GET", path: "/api/v1/audit/export", authed: true},
		{method: "GET", path: "/api/v1/audit/verify", authed: true},
		{method: "GET", path: "/api/v1/audit/checkpoint", authed: true},
		{method: "GET", path: "/api/v1/audit/verifier-key", want: 200},
		{method: "GET", path: "/api/v1/audit/proof/inclusion?index=0", authed: true},
		{method: "GET", path: "/api/v1/audit/proof/consistency?old=1", authed: true},
		{method: "POST", path: "/api/v1/audit/hash", authed: true},
		{method: "GET", path: "/api/v1/stats/reveals", authed: true},
		{method: "GET", path: "/api/v1/stats/summary", authed: true},
		{method: "GET", path: "/api/v1/stats/hotspots", authed: true},
		{method: "POST", path: "/api/v1/admin/analysis/retrain", authed: true},
		{method: "POST", path: "/api/v1/admin/keys/rotate", authed: true},
		{method: "GET", path: "/api/v1/admin/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV", authed: true},
		{method: "GET", path: "/api/v1/admin/backup", authed: true},
		{method: "GET", path: "/api/v1/admin/archive", authed: true},
		{method: "POST", path: "/api/v1/admin/sweep", authed: true},
	}

	if checkRoutes {
		listed := map[string]bool{}
		for _, r := range routes {
			listed[r.method+" "+hxRouteOf(h, r.method, r.path)] = true
		}
		for _, ri := range h.srv.engine.Routes() {
			if !listed[ri.Method+" "+ri.Path] {
				t.Errorf("route %s %s has no hostile requests", ri.Method, ri.Path)
			}
		}
	}

	var cases []hxCase

	// Request ids and tokens, on every route. Without a token an authed
	// route answers 401, a public one as it would; nothing is stored.
	for i, r := range routes {
		want := []int{r.want}
		if r.authed {
			want = []int{401}
		}
		if r.want == 0 && !r.authed {
			want = nil
		}
		rids := []string{hxRIDs[0], hxRIDs[1+i%(len(hxRIDs)-1)]}
		for _, rid := range rids {
			cases = append(cases, hxCase{name: fmt.Sprintf("%s X-Request-ID %q", r.path, hxTrunc(rid)), method: r.method, path: r.path,
				header: map[string]string{"X-Request-ID": rid}, want: want, skipEntryLook: r.noHandle})
		}
		if r.authed {
			for j, tok := range hxBadTokens {
				if (i+j)%4 != 0 && j != 0 {
					continue
				}
				cases = append(cases, hxCase{name: fmt.Sprintf("%s Authorization %q", r.path, hxTrunc(tok)), method: r.method, path: r.path,
					header: map[string]string{"Authorization": tok}, want: []int{401}})
			}
		}
	}
	// Every malformed request id on one route, authenticated.
	for _, rid := range hxRIDs {
		cases = append(cases, hxCase{name: fmt.Sprintf("me X-Request-ID %q", hxTrunc(rid)), method: "GET", path: "/api/v1/me", token: f.reg,
			header: map[string]string{"X-Request-ID": rid}, want: []int{200}})
	}

	// Paths: traversal in every id, outside the API and inside it, and
	// methods no route takes.
	type idRoute struct {
		method, pattern, token string
		body                   []byte
		want                   []int
	}
	idRoutes := []idRoute{
		{"DELETE", "/api/v1/users/%s/totp", h.admin, nil, []int{404}},
		{"GET", "/api/v1/users/%s", h.admin, nil, []int{404}},
		{"PATCH", "/api/v1/users/%s", h.admin, hxJSON(map[string]any{"display_name": "改名"}), []int{404}},
		{"GET", "/api/v1/petitions/%s", f.sup, nil, []int{404}},
		{"GET", "/api/v1/petitions/%s?reveal=identity", f.sup, nil, []int{400, 404}},
		{"POST", "/api/v1/petitions/%s/actions", f.sup, hxJSON(extend), []int{404}},
		{"POST", "/api/v1/petitions/%s/notes", f.sup, hxJSON(map[string]any{"text": "补充说明"}), []int{404}},
		{"GET", "/api/v1/petitions/%s/events", f.sup, nil, []int{404}},
		{"GET", "/api/v1/admin/jobs/%s", h.admin, nil, []int{404}},
		{"PUT", "/api/v1/units/%s", h.admin, hxJSON(map[string]any{"name": "某单位"}), []int{400}},
		{"PUT", "/api/v1/units/group/%s", h.admin, hxJSON(map[string]any{"name": "某单位"}), []int{400}},
	}
	for _, r := range idRoutes {
		for _, tr := range hxTraversals {
			target := fmt.Sprintf(r.pattern, tr)
			want := r.want
			if strings.Count(hxPath(target), "/") != strings.Count(hxPath(fmt.Sprintf(r.pattern, "x")), "/") && !strings.HasPrefix(r.pattern, "/api/v1/units/") {
				want = []int{404, 405} // the id became several segments: no route
			}
			cases = append(cases, hxCase{name: target, method: r.method, path: target, token: r.token, body: r.body, want: want})
		}
	}
	for _, target := range []string{
		"/static/../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd", "/static/..%2f..%2fetc%2fpasswd", "/static/style.css%00.txt",
		"/static/%2e%2e%2fweb.go", "/..%2f..%2fetc%2fpasswd", "/%2e%2e/%2e%2e/etc/passwd", "/api/v1/../../etc/passwd",
		"/api/v1/%2e%2e/%2e%2e/etc/passwd", "/api/v1/petitions/../../../etc/passwd", "/api/v1/me%00", "/api/v1%00/me",
		"/api/v1/public/../../api/v1/me", "/api/v1//me", "/api/v1/me/", "/API/V1/ME", "/api/v1/units/..%2f..%2f..%2fetc%2fpasswd",
	} {
		want := []int{404, 405}
		if strings.HasPrefix(target, "/api/v1/units/") {
			want = []int{401, 404, 405}
		}
		cases = append(cases, hxCase{name: target, method: "GET", path: target, want: want})
		cases = append(cases, hxCase{name: target + " as admin", method: "GET", path: target, token: h.admin, want: want})
	}
	for _, m := range []struct{ method, path string }{
		{"DELETE", "/api/v1/petitions"}, {"PUT", "/api/v1/auth/login"}, {"TRACE", "/api/v1/me"}, {"HXHOSTILE", "/api/v1/me"},
		{"PATCH", "/api/v1/policy"}, {"POST", "/api/v1/audit/entries"}, {"DELETE", "/api/v1/petitions/" + p}, {"POST", "/healthz"},
		{"CONNECT", "/api/v1/me"}, {"PUT", "/submit"},
	} {
		cases = append(cases, hxCase{name: "method " + m.method + " " + m.path, method: m.method, path: m.path, token: h.admin, want: []int{404, 405}})
	}

	// Query parameters: huge numbers, NUL, traversal.
	seqBad := []string{"1e400", "99999999999999999999", "1e-400", "-1", "9223372036854775808", "0x10", "1_000", "%00", "1%00", "%e2%80%ae1", "1.0"}
	type qRoute struct {
		path, token string
		params      []string // numeric parameters
		kind        string   // limit, seq, time
		extra       map[string][]int
	}
	qRoutes := []qRoute{
		{"/api/v1/users", h.admin, []string{"limit"}, "limit", map[string][]int{"cursor=%00": {400}, "cursor=../../etc/passwd": {400}, "cursor=" + strings.Repeat("A", 201): {400}}},
		{"/api/v1/petitions", f.sup, []string{"limit"}, "limit", map[string][]int{"status=%00": {400}, "unit=..%2f..%2fetc": {400}, "unit=group%2feast%00": {400},
			"risk=%e2%80%aelow": {400}, "overdue=1e400": {400}, "due_soon=%00": {400}, "cursor=%00": {400}, "cursor=../../etc/passwd": {400}, "category=" + strings.Repeat("a", 65): {400}}},
		{"/api/v1/alerts", f.sup, nil, "", map[string][]int{"kind=%00": {400}, "unit=%2e%2e%2f%2e%2e": {400}, "unit=group/east%0d%0a": {400}}},
		{"/api/v1/policy/explain", h.admin, nil, "", map[string][]int{"user=%00&action=petition.read": {400}, "user=admin&action=%00": {400},
			"user=admin&action=petition.read&petition=../../etc/passwd": {400}, "user=../../etc/passwd&action=petition.read": {400}, "user=admin&action=petition.read&petition=%00": {400}}},
		{"/api/v1/audit/entries", f.aud, []string{"start", "limit"}, "seq", map[string][]int{"actor=" + strings.Repeat("a", 257): {400}}},
		{"/api/v1/audit/export", f.aud, []string{"start", "end"}, "seq", map[string][]int{"start=5&end=1": {400}}},
		{"/api/v1/audit/checkpoint", f.aud, []string{"size"}, "seq", map[string][]int{"size=0": {400}, "size=9223372036854775807": {404}}},
		{"/api/v1/audit/proof/inclusion?size=2", f.aud, []string{"index"}, "seq", map[string][]int{"index=": {400}, "index=5&size=2": {400}}},
		{"/api/v1/audit/proof/inclusion?index=0", f.aud, []string{"size"}, "seq", nil},
		{"/api/v1/audit/proof/consistency?new=2", f.aud, []string{"old"}, "seq", map[string][]int{"old=": {400}, "old=5&new=2": {400}}},
		{"/api/v1/audit/proof/consistency?old=1", f.aud, []string{"new"}, "seq", nil},
		{"/api/v1/stats/reveals", f.aud, []string{"from", "to"}, "time", nil},
		{"/api/v1/stats/summary", f.sup, []string{"from", "to"}, "time", map[string][]int{"unit=%00": {400}, "unit=../../etc": {400}}},
		{"/api/v1/stats/hotspots", f.sup, []string{"from", "to"}, "time", map[string][]int{"unit=%00": {400}, "unit=../../etc": {400}}},
		{"/api/v1/admin/archive", h.admin, []string{"from", "to"}, "time", map[string][]int{"status=%00": {400}, "status=../../etc/passwd": {400}, "recipient=%00": {403}, "recipient=../../etc/passwd": {403}}},
	}
	for _, q := range qRoutes {
		sep := "?"
		if strings.Contains(q.path, "?") {
			sep = "&"
		}
		for _, param := range q.params {
			vals := seqBad
			switch q.kind {
			case "limit":
				vals = append(slices.Clone(seqBad), "-0", "0", "501", "9223372036854775807")
			case "time":
				vals = []string{"1e400", "99999999999999999999", "-0", "1e-400", "%00", "2026-13-01", "../../etc/passwd", "2026-03-01T00:00:00Z%00"}
			}
			for _, v := range vals {
				cases = append(cases, hxCase{name: q.path + " " + param + "=" + v, method: "GET", path: q.path + sep + param + "=" + v, token: q.token, want: []int{400}})
			}
			if q.kind == "seq" {
				// Valid integers at the edges: any clear answer but a 5xx.
				for _, v := range []string{"-0", "9223372036854775807", "9223372036854775806"} {
					cases = append(cases, hxCase{name: q.path + " " + param + "=" + v, method: "GET", path: q.path + sep + param + "=" + v, token: q.token, want: []int{200, 400, 404}})
				}
			}
		}
		for _, kv := range slices.Sorted(maps.Keys(q.extra)) {
			cases = append(cases, hxCase{name: q.path + " " + kv, method: "GET", path: q.path + sep + kv, token: q.token, want: q.extra[kv]})
		}
	}
	for _, reason := range []string{"需要核实情况\xff\xfe用于调查核实", "需要核实情况\r\nX-Injected: hxinjected", "需要核实情况\x00用于调查", "需要核实\u202e情况用于调查", strings.Repeat("理", 501), "short"} {
		cases = append(cases, hxCase{name: fmt.Sprintf("reveal with X-Access-Reason %q", hxTrunc(reason)), method: "GET",
			path: "/api/v1/petitions/" + p + "?reveal=identity", token: f.sup, header: map[string]string{"X-Access-Reason": reason}, want: []int{400}})
	}
	cases = append(cases, hxCase{name: "reveal=%00", method: "GET", path: "/api/v1/petitions/" + p + "?reveal=%00", token: f.sup,
		header: map[string]string{"X-Access-Reason": "需要核实请愿人身份以便联系"}, want: []int{400}})

	// JSON bodies.
	bodyEPs := []hxBodyEP{
		{name: "login", method: "POST", path: "/api/v1/auth/login",
			base:  map[string]any{"username": "hx-totp", "password": testPassword, "totp": "000000"},
			loose: []string{"username", "password", "totp"}},
		// Replacing a factor answers any unreadable body with 400 "code
		// required" and a wrong code with 403.
		{name: "totp begin", method: "POST", path: "/api/v1/me/totp", token: f.totpTok,
			base: map[string]any{"code": "000000"}, loose: []string{"code"}, anyStatus: true},
		{name: "totp confirm", method: "POST", path: "/api/v1/me/totp/confirm", token: f.totpTok,
			base: map[string]any{"code": "000000"}, loose: []string{"code"}},
		{name: "create user", method: "POST", path: "/api/v1/users", token: h.admin,
			base:   map[string]any{"username": "hx-new", "password": testPassword, "display_name": "新同事", "unit": "group/east", "roles": []string{"registrar"}},
			single: []string{"display_name"}, loose: []string{"username", "unit", "roles.0"}, secret: []string{"password"}},
		{name: "patch user", method: "PATCH", path: "/api/v1/users/" + f.targetID, token: h.admin,
			base:   map[string]any{"display_name": "改名后的名字", "unit": "group/east", "roles": []string{"registrar"}, "disabled": false},
			single: []string{"display_name"}, loose: []string{"unit", "roles.0"}, nums: []string{"disabled"}},
		{name: "patch password", method: "PATCH", path: "/api/v1/users/" + f.targetID, token: h.admin, fieldsOnly: true,
			base: map[string]any{"password": "another-long-password"}, secret: []string{"password"}},
		{name: "put unit", method: "PUT", path: "/api/v1/units/group/east", token: h.admin,
			base: map[string]any{"name": "东区分公司二部", "public": false}, single: []string{"name"}, nums: []string{"public"}},
		{name: "put policy", method: "PUT", path: "/api/v1/policy", token: h.admin,
			base: map[string]any{"rules": f.policyRules}, loose: []string{"rules.0.1", "rules.0.0"}},
		{name: "create petition", method: "POST", path: "/api/v1/petitions", token: f.reg,
			base:   hxWith(hxWith(petitionBody("group/east"), "requests", "请尽快处理"), "received_at", "2026-02-28T09:00:00Z"),
			single: []string{"title", "subjects.0", "petitioner.name", "petitioner.id_number", "petitioner.phone", "petitioner.address", "petitioner.employee_no"},
			multi:  []string{"content", "requests"}, loose: []string{"unit", "channel", "received_at"}, nums: []string{"group_size"}},
		{name: "extend", method: "POST", path: "/api/v1/petitions/" + p + "/actions", token: f.sup,
			base: extend, multi: []string{"reason"}, loose: []string{"action"}, nums: []string{"days"}},
		{name: "transfer", method: "POST", path: "/api/v1/petitions/" + p + "/actions", token: f.sup, fieldsOnly: true,
			base:   map[string]any{"action": "transfer", "reason": "属于劳动监察部门职责", "target_unit": "external:市劳动保障监察支队"},
			single: []string{"target_unit"}, multi: []string{"reason"}},
		{name: "reply", method: "POST", path: "/api/v1/petitions/" + p + "/actions", token: f.sup, fieldsOnly: true,
			base: map[string]any{"action": "reply", "text": "经核实，工资已补发。"}, multi: []string{"text"}},
		{name: "categorize", method: "POST", path: "/api/v1/petitions/" + p + "/actions", token: f.sup, fieldsOnly: true,
			base: map[string]any{"action": "categorize", "label": "labor_relations"}, loose: []string{"label"}},
		{name: "assign", method: "POST", path: "/api/v1/petitions/" + p + "/actions", token: f.sup, fieldsOnly: true,
			base: map[string]any{"action": "assign", "assignee": "off-east"}, loose: []string{"assignee"}},
		{name: "note", method: "POST", path: "/api/v1/petitions/" + p + "/notes", token: f.sup,
			base: map[string]any{"text": "已电话联系项目部"}, multi: []string{"text"}},
		{name: "public petition", method: "POST", path: "/api/v1/public/petitions",
			base:   pbBody(),
			single: []string{"title", "subjects.0", "petitioner.name", "petitioner.id_number", "petitioner.phone", "petitioner.address"},
			multi:  []string{"content", "requests"}, loose: []string{"unit"}, nums: []string{"group_size"}},
		{name: "track", method: "POST", path: "/api/v1/public/track",
			base: map[string]any{"receipt_code": f.code}, loose: []string{"receipt_code"}},
		{name: "feedback", method: "POST", path: "/api/v1/public/feedback",
			base:  map[string]any{"receipt_code": f.code, "rating": "satisfied", "comment": "处理得很及时，谢谢。"},
			multi: []string{"comment"}, loose: []string{"receipt_code", "rating"}},
		{name: "review", method: "POST", path: "/api/v1/public/review",
			base:  map[string]any{"receipt_code": f.code, "reason": "对答复不满意，申请复查。"},
			multi: []string{"reason"}, loose: []string{"receipt_code"}},
		{name: "audit hash", method: "POST", path: "/api/v1/audit/hash", token: f.aud,
			base: map[string]any{"value": "张三"}, free: []string{"value"}},
		{name: "rotate", method: "POST", path: "/api/v1/admin/keys/rotate", token: h.admin,
			base: map[string]any{"keep_identity": true, "add_recovery": []string{f.recipient}}, loose: []string{"add_recovery.0"}, nums: []string{"keep_identity"}},
	}
	for _, ep := range bodyEPs {
		cases = append(cases, hxBodyCases(ep)...)
	}

	// Web forms.
	type formEP struct {
		name, path string
		base       url.Values
		single     []string
		multi      []string
		loose      []string
		nums       []string
	}
	formEPs := []formEP{
		{name: "web submit", path: "/submit", base: url.Values{"unit": {"group/east"}, "title": {"三号工地拖欠工资"}, "content": {"工资一直没有发。"},
			"requests": {"请督促发放"}, "subjects": {"李经理"}, "group_size": {"2"}, "name": {"张三"}, "phone": {"13812345678"}, "id_number": {"510104199001011234"}, "address": {"四川省成都市"}},
			single: []string{"title", "name", "subjects", "phone", "id_number", "address"}, multi: []string{"content", "requests"}, loose: []string{"unit"}, nums: []string{"group_size"}},
		{name: "web track", path: "/track", base: url.Values{"receipt_code": {f.code}}, loose: []string{"receipt_code"}},
		{name: "web feedback", path: "/feedback", base: url.Values{"receipt_code": {f.code}, "rating": {"satisfied"}, "comment": {"谢谢"}},
			multi: []string{"comment"}, loose: []string{"receipt_code", "rating"}},
		{name: "web review", path: "/review", base: url.Values{"receipt_code": {f.code}, "reason": {"对答复不满意，申请复查。"}},
			multi: []string{"reason"}, loose: []string{"receipt_code"}},
	}
	const form = "application/x-www-form-urlencoded"
	for _, fe := range formEPs {
		add := func(name string, body []byte, ctype string, want ...int) {
			if len(want) == 0 {
				want = nil
			}
			cases = append(cases, hxCase{name: fe.name + ": " + name, method: "POST", path: fe.path, body: body, ctype: ctype, want: want})
		}
		with := func(k, v string) []byte {
			vs := url.Values{}
			for kk, vv := range fe.base {
				vs[kk] = slices.Clone(vv)
			}
			vs.Set(k, v)
			return []byte(vs.Encode())
		}
		for _, k := range fe.single {
			for _, name := range slices.Sorted(maps.Keys(hxRunes)) {
				if k == "subjects" && name == "line feed" {
					continue // a line break separates names in this field
				}
				add(name+" in "+k, with(k, hxInsert(fe.base.Get(k), hxRunes[name])), form, 400)
			}
			add("invalid UTF-8 in "+k, with(k, "ab\xff\xfecd"), form, 400)
		}
		for _, k := range fe.multi {
			for _, name := range hxMultiRunes {
				add(name+" in "+k, with(k, hxInsert(fe.base.Get(k), hxRunes[name])), form, 400)
			}
			add("invalid UTF-8 in "+k, with(k, "ab\xff\xfecd"), form, 400)
		}
		for _, k := range fe.loose {
			for _, v := range []string{"\x00", "ab\u202ecd", "../../etc/passwd", "ab\xffcd"} {
				add(fmt.Sprintf("%q in %s", v, k), with(k, v), form)
			}
		}
		for _, k := range fe.nums {
			for _, n := range hxHugeNumbers {
				add("number "+n+" in "+k, with(k, n), form, 400)
			}
		}
		enc := []byte(fe.base.Encode())
		first := slices.Concat(fe.single, fe.multi, fe.loose)[0]
		add("raw NUL in "+first, with(first, "ab\x00cd"), form, 400, 404)
		add("raw NUL unencoded in "+first, []byte(strings.Replace(string(enc), first+"=", first+"=ab\x00cd", 1)), form, 400, 404)
		add("a 2 MiB form", append(append([]byte{}, enc...), []byte("&x="+strings.Repeat("a", 2*MaxBody))...), form, 413)
		add("bad percent-encoding", append([]byte("title=%zz&"), enc...), form, 400)
		for _, ct := range []string{"-", "application/json", "text/plain", "multipart/form-data; boundary=x", "text/html"} {
			add("Content-Type "+ct, enc, ct, 415)
		}
	}

	return cases
}

// hxRouteOf returns the route template gin matches for method and target.
func hxRouteOf(h *harness, method, target string) string {
	path := hxPath(target)
	for _, ri := range h.srv.engine.Routes() {
		if ri.Method != method {
			continue
		}
		if hxMatch(ri.Path, path) {
			return ri.Path
		}
	}
	return path
}

func hxMatch(pattern, path string) bool {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	for i, p := range ps {
		if strings.HasPrefix(p, "*") {
			return len(xs) >= i
		}
		if i >= len(xs) {
			return false
		}
		if !strings.HasPrefix(p, ":") && p != xs[i] {
			return false
		}
	}
	return len(ps) == len(xs)
}

func hxTrunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// TestHostileSlowClient runs the server behind http.Server timeouts and
// sends headers or a body a byte at a time, slower than the timeouts allow:
// the connection is cut, and nothing is stored.
func TestHostileSlowClient(t *testing.T) {
	f := hxSetup(t)
	h := f.h
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h.srv, ReadHeaderTimeout: time.Second, ReadTimeout: 2 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()
	before := hxSnapshot(t, h.v.Store())
	petitions := len(hxPetitionIDs(t, h))

	body := hxJSON(petitionBody("group/east"))
	head := "POST /api/v1/petitions HTTP/1.1\r\nHost: pvault\r\nContent-Type: application/json\r\nAuthorization: Bearer " + f.reg +
		"\r\nX-Request-ID: hx-slow-body\r\n" + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body))

	t.Run("slow", func(t *testing.T) {
		t.Run("body", func(t *testing.T) {
			t.Parallel()
			status, elapsed, sent := hxSlowloris(t, addr, []byte(head), body)
			if sent >= len(body) {
				t.Fatalf("the whole body was sent in %v: the connection was never cut", elapsed)
			}
			if elapsed > 6*time.Second {
				t.Errorf("cut after %v, want about ReadTimeout (2s)", elapsed)
			}
			if status != 0 && (status < 400 || status >= 500) {
				t.Errorf("slow body answered %d, want a cut connection or a 4xx", status)
			}
			t.Logf("slow body: cut after %v and %d of %d bytes, status %d", elapsed, sent, len(body), status)
		})
		t.Run("headers", func(t *testing.T) {
			t.Parallel()
			status, elapsed, sent := hxSlowloris(t, addr, nil, []byte(head))
			if sent >= len(head) {
				t.Fatalf("all headers were sent in %v: the connection was never cut", elapsed)
			}
			if elapsed > 5*time.Second {
				t.Errorf("cut after %v, want about ReadHeaderTimeout (1s)", elapsed)
			}
			if status != 0 && (status < 400 || status >= 500) {
				t.Errorf("slow headers answered %d, want a cut connection or a 4xx", status)
			}
			t.Logf("slow headers: cut after %v and %d of %d bytes, status %d", elapsed, sent, len(head), status)
		})
	})
	if d := hxDiff(before, hxSnapshot(t, h.v.Store())); len(d) > 0 {
		t.Errorf("slow clients stored: %v", d)
	}
	if n := len(hxPetitionIDs(t, h)); n != petitions {
		t.Errorf("%d petitions after the slow clients, want %d", n, petitions)
	}
	// The server still serves.
	c := &http.Client{Timeout: 5 * time.Second}
	r, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("server after slow clients: %v", err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Errorf("/healthz after slow clients: %d", r.StatusCode)
	}
}

// hxSlowloris writes fast, then slow a byte every 100 ms, until the server
// cuts the connection. It returns the status the server answered (0 for
// none), how long it took and how many slow bytes went out.
func hxSlowloris(t *testing.T, addr string, fast, slow []byte) (int, time.Duration, int) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	status := make(chan int, 1)
	go func() {
		// The server's answer, if any, until it closes.
		r, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			status <- 0
			return
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
		// Then the connection must be closed.
		var b [1]byte
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Read(b[:])
		if err == nil {
			status <- -1
			return
		}
		status <- r.StatusCode
	}()
	if len(fast) > 0 {
		if _, err := conn.Write(fast); err != nil {
			t.Fatal(err)
		}
	}
	sent := 0
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for sent < len(slow) {
		select {
		case s := <-status:
			if s == -1 {
				t.Errorf("the connection stayed open after the answer")
			}
			return s, time.Since(start), sent
		case <-tick.C:
			if _, err := conn.Write(slow[sent : sent+1]); err != nil {
				return <-status, time.Since(start), sent
			}
			sent++
			if time.Since(start) > 20*time.Second {
				return 0, time.Since(start), sent
			}
		}
	}
	return <-status, time.Since(start), sent
}

// hxPetitionIDs lists the ids of all petitions in the store.
func hxPetitionIDs(tb testing.TB, h *harness) []string {
	tb.Helper()
	var ids []string
	err := h.v.Store().View(func(r store.Reader) error {
		return r.Scan(store.ScanOptions{Prefix: []byte("p/"), KeysOnly: true}, func(k, _ []byte) error {
			if s := string(k); strings.HasSuffix(s, "/m") {
				ids = append(ids, strings.TrimSuffix(strings.TrimPrefix(s, "p/"), "/m"))
			}
			return nil
		})
	})
	if err != nil {
		tb.Fatal(err)
	}
	return ids
}

// TestHostileAuditLogSurvives sends the cheapest requests that put bytes
// which are not UTF-8 into an audit entry: a unit path any staff member may
// name, and a rating on the portal's feedback form, which needs only the
// receipt code of a petition anyone may submit. The log must still verify
// afterwards (each on a vault of its own).
func TestHostileAuditLogSurvives(t *testing.T) {
	for _, tt := range []struct {
		name string
		send func(f *pbFixture, reg, code string) *resp
	}{
		{"a registrar names the unit %ff", func(f *pbFixture, reg, code string) *resp {
			return hxSend(f.h, hxCase{method: "PUT", path: "/api/v1/units/%ff", token: reg, body: []byte(`{"name":"x"}`)})
		}},
		{"a petitioner rates %ff on the portal", func(f *pbFixture, reg, code string) *resp {
			return hxSend(f.h, hxCase{method: "POST", path: "/feedback", ctype: "application/x-www-form-urlencoded",
				body: []byte("receipt_code=" + code + "&rating=%ff&comment=ok")})
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := pbSetup(t, nil)
			_, reg := f.h.user("hx-reg", "group/east", "registrar")
			code := pbSubmit(t, f.h, pbBody())
			r := tt.send(f, reg, code)
			if r.Code >= 500 {
				t.Fatalf("status %d", r.Code)
			}
			res, err := audit.VerifyStore(f.h.v.Store())
			if err != nil {
				t.Fatal(err)
			}
			if !res.OK {
				t.Errorf("after one request (status %d) the audit log fails verification: %s (first bad seq %d)", r.Code, res.Problem, *res.FirstBadSeq)
			}
			if v := f.h.must(http.StatusOK, "GET", "/api/v1/audit/verify", f.aud, nil).JSON(t); v["ok"] != true {
				t.Errorf("GET /api/v1/audit/verify = %v", v)
			}
		})
	}
}
