package api

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"pvault/audit"
	"pvault/vault"
	"pvault/vault/store"
)

// Tests of the petitioner portal's API (API.md "Petitioner portal", issue 6).
// Helper names start with pb so that they do not clash with other test files.

const (
	pbUnits    = "/api/v1/public/units"
	pbPetition = "/api/v1/public/petitions"
	pbTrackURL = "/api/v1/public/track"
	pbFeedback = "/api/v1/public/feedback"
	pbReview   = "/api/v1/public/review"

	pbDefaultAddr = "192.0.2.1" // httptest.NewRequest's client address
	pbOtherAddr   = "198.51.100.7:5555"
)

// pbCodeRE is a receipt code: five groups of four Crockford base32 digits
// (no I, L, O or U), 20 digits of 5 bits = 100 bits.
var pbCodeRE = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){4}$`)

const pbCrockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// pbFixture is a harness whose unit group/east (东区分公司) is open to the
// public, with staff to work its cases. group/west exists but is not public.
type pbFixture struct {
	h                     *harness
	sup, off, parent, aud string // tokens: supervisor and officer of group/east, supervisor of group, auditor
}

func pbSetup(tb testing.TB, cfg func(*Config)) *pbFixture {
	tb.Helper()
	h := newHarnessWith(tb, harnessOptions{cfg: cfg})
	h.must(http.StatusOK, "PUT", "/api/v1/units/group/east", h.admin, map[string]any{"name": "东区分公司", "public": true})
	f := &pbFixture{h: h}
	_, f.sup = h.userNamed("sup-east", "赵主任", "group/east", "supervisor")
	_, f.off = h.userNamed("off-east", "钱办理", "group/east", "officer")
	_, f.parent = h.userNamed("sup-root", "孙处长", "group", "supervisor")
	_, f.aud = h.user("aud-root", "group", "auditor")
	h.user("reg-west", "group/west", "registrar")
	return f
}

// pbLogin logs the fixture's staff in again (tokens expire after 8 hours of
// the fake clock).
func (f *pbFixture) pbLogin(tb testing.TB) {
	tb.Helper()
	f.sup = f.h.login("sup-east", testPassword)
	f.off = f.h.login("off-east", testPassword)
	f.parent = f.h.login("sup-root", testPassword)
	f.aud = f.h.login("aud-root", testPassword)
}

// pbSend is h.send from the client address addr (host:port); an empty addr
// keeps httptest's 192.0.2.1:1234.
func pbSend(h *harness, addr string, r req) *resp {
	h.t.Helper()
	var body io.Reader
	switch b := r.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		body = bytes.NewReader(j)
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
	if addr != "" {
		hr.RemoteAddr = addr
	}
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, hr)
	return &resp{Code: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// pbPost posts a JSON body to path from addr.
func pbPost(h *harness, addr, path string, body any) *resp {
	h.t.Helper()
	return pbSend(h, addr, req{Method: "POST", Path: path, Body: body})
}

// pbBody is a valid public submission to group/east changed by mods.
func pbBody(mods ...func(map[string]any)) map[string]any {
	b := map[string]any{
		"unit": "group/east", "title": "三号工地拖欠工资",
		"content":    "我们十二个人在三号工地干了三个月，工资一直没有发。",
		"requests":   "请督促项目部尽快发放工资。",
		"petitioner": map[string]any{"name": "张三", "phone": "13812345678", "id_number": "510104199001011234", "address": "四川省成都市武侯区"},
		"subjects":   []string{"李经理"},
		"group_size": 12,
	}
	for _, m := range mods {
		m(b)
	}
	return b
}

func pbSet(key string, v any) func(map[string]any) { return func(m map[string]any) { m[key] = v } }
func pbDel(key string) func(map[string]any)        { return func(m map[string]any) { delete(m, key) } }

func pbPetitioner(key string, v any) func(map[string]any) {
	return func(m map[string]any) {
		p := maps.Clone(m["petitioner"].(map[string]any))
		p[key] = v
		m["petitioner"] = p
	}
}

// pbSubmit submits body through the public API and returns the receipt code.
func pbSubmit(tb testing.TB, h *harness, body map[string]any) string {
	tb.Helper()
	r := pbPost(h, "", pbPetition, body)
	if r.Code != http.StatusCreated {
		tb.Fatalf("public submit: status %d: %s", r.Code, r.Body)
	}
	code, _ := r.JSON(tb)["receipt_code"].(string)
	if !pbCodeRE.MatchString(code) {
		tb.Fatalf("receipt_code %q is not XXXX-XXXX-XXXX-XXXX-XXXX in Crockford base32", code)
	}
	return code
}

// pbID is the id of the petition of a receipt code.
func pbID(tb testing.TB, h *harness, code string) string {
	tb.Helper()
	m, err := h.v.PetitionByReceipt(code)
	if err != nil {
		tb.Fatalf("petition of %s: %v", code, err)
	}
	return m.ID
}

// pbAct takes a workflow action through the staff API.
func pbAct(tb testing.TB, h *harness, token, id string, body map[string]any) map[string]any {
	tb.Helper()
	return h.must(http.StatusOK, "POST", "/api/v1/petitions/"+id+"/actions", token, body).JSON(tb)
}

// pbReplied submits a petition, has it accepted, assigned and replied to
// (text) by the officer, and returns its code and id.
func (f *pbFixture) pbReplied(tb testing.TB, text string) (string, string) {
	tb.Helper()
	return f.pbRepliedBody(tb, pbBody(), text)
}

// pbRepliedBody is pbReplied for a submission of body.
func (f *pbFixture) pbRepliedBody(tb testing.TB, body map[string]any, text string) (string, string) {
	tb.Helper()
	code := pbSubmit(tb, f.h, body)
	id := pbID(tb, f.h, code)
	pbAct(tb, f.h, f.sup, id, map[string]any{"action": "accept"})
	pbAct(tb, f.h, f.sup, id, map[string]any{"action": "assign", "assignee": "off-east"})
	pbAct(tb, f.h, f.off, id, map[string]any{"action": "reply", "text": text})
	return code, id
}

// pbTrack tracks code through the API and returns the response body.
func pbTrack(tb testing.TB, h *harness, code string) map[string]any {
	tb.Helper()
	r := pbPost(h, "", pbTrackURL, map[string]string{"receipt_code": code})
	if r.Code != http.StatusOK {
		tb.Fatalf("track %q: status %d: %s", code, r.Code, r.Body)
	}
	return r.JSON(tb)
}

// pbStaff reads a petition as the supervisor of group/east.
func (f *pbFixture) pbStaff(tb testing.TB, id string) map[string]any {
	tb.Helper()
	return f.h.must(http.StatusOK, "GET", "/api/v1/petitions/"+id, f.sup, nil).JSON(tb)
}

// pbEvents returns the staff view of a petition's history.
func (f *pbFixture) pbEvents(tb testing.TB, id string) []map[string]any {
	tb.Helper()
	items := f.h.must(http.StatusOK, "GET", "/api/v1/petitions/"+id+"/events", f.sup, nil).JSON(tb)["items"].([]any)
	out := make([]map[string]any, len(items))
	for i, it := range items {
		out[i] = it.(map[string]any)
	}
	return out
}

// pbProblem checks that r is a problem document with status (and a
// Retry-After for a 429) and returns it.
func pbProblem(tb testing.TB, r *resp, status int) Problem {
	tb.Helper()
	if r.Code != status {
		tb.Fatalf("status %d, want %d: %s", r.Code, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		tb.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	var p Problem
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		tb.Fatalf("problem %q: %v", r.Body, err)
	}
	if p.Type != "about:blank" || p.Status != status || p.Title != http.StatusText(status) || p.Detail == "" {
		tb.Fatalf("problem %+v, want about:blank, %d, %q and a detail", p, status, http.StatusText(status))
	}
	if rid := r.Header.Get("X-Request-ID"); rid == "" || p.RequestID != rid {
		tb.Fatalf("problem request_id %q, X-Request-ID %q", p.RequestID, rid)
	}
	if status == http.StatusTooManyRequests {
		pbRetryAfter(tb, r, 1, 1<<30)
	}
	return p
}

// pbRetryAfter checks that r has a Retry-After of lo to hi seconds and
// returns it.
func pbRetryAfter(tb testing.TB, r *resp, lo, hi int) int {
	tb.Helper()
	ra := r.Header.Get("Retry-After")
	n, err := strconv.Atoi(ra)
	if err != nil || n < lo || n > hi {
		tb.Fatalf("Retry-After %q, want %d to %d seconds", ra, lo, hi)
	}
	return n
}

// pbEntry returns the one audit entry of the request of r.
func pbEntry(tb testing.TB, h *harness, r *resp) *audit.Entry {
	tb.Helper()
	rid := r.Header.Get("X-Request-ID")
	if rid == "" {
		tb.Fatalf("response without X-Request-ID")
	}
	es := h.entries(rid)
	if len(es) != 1 {
		tb.Fatalf("%d audit entries for request %s, want 1", len(es), rid)
	}
	return es[0]
}

func pbEntryJSON(tb testing.TB, e *audit.Entry) string {
	tb.Helper()
	b, err := e.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// pbSnapshot returns every key and value of the store outside the audit log.
func pbSnapshot(tb testing.TB, h *harness) map[string]string {
	tb.Helper()
	out := map[string]string{}
	err := h.v.Store().View(func(r store.Reader) error {
		return r.Scan(store.ScanOptions{}, func(k, v []byte) error {
			if !bytes.HasPrefix(k, []byte("a/")) {
				out[string(k)] = string(v)
			}
			return nil
		})
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// pbSameStore fails unless the store outside the audit log is as before.
func pbSameStore(tb testing.TB, h *harness, before map[string]string) {
	tb.Helper()
	after := pbSnapshot(tb, h)
	if !maps.Equal(before, after) {
		var diff []string
		for k := range after {
			if v, ok := before[k]; !ok || v != after[k] {
				diff = append(diff, "+"+k)
			}
		}
		for k := range before {
			if _, ok := after[k]; !ok {
				diff = append(diff, "-"+k)
			}
		}
		slices.Sort(diff)
		tb.Errorf("store changed: %v", diff)
	}
}

// pbKeys returns the sorted keys of m.
func pbKeys(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}

// pbTime parses an RFC 3339 time in UTC.
func pbTime(tb testing.TB, v any) time.Time {
	tb.Helper()
	s, _ := v.(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || !strings.HasSuffix(s, "Z") {
		tb.Fatalf("time %v is not RFC 3339 in UTC", v)
	}
	return t
}

// pbClient is the keyed hash of a client address, as an auditor gets it.
func (f *pbFixture) pbClient(tb testing.TB, addr string) string {
	tb.Helper()
	r := f.h.must(http.StatusOK, "POST", "/api/v1/audit/hash", f.aud, map[string]string{"value": addr})
	hm, _ := r.JSON(tb)["hmac"].(string)
	if hm == "" {
		tb.Fatalf("no hmac: %s", r.Body)
	}
	return hm
}

// ---------------------------------------------------------------------------
// GET /public/units

func TestPublicUnitsListsOnlyOpenedUnits(t *testing.T) {
	h := newHarness(t)
	list := func() []any {
		t.Helper()
		r := h.must(http.StatusOK, "GET", pbUnits, "", nil)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("Content-Type %q", ct)
		}
		m := r.JSON(t)
		if got := pbKeys(m); !slices.Equal(got, []string{"items"}) {
			t.Fatalf("keys %v, want [items]", got)
		}
		items, ok := m["items"].([]any)
		if !ok {
			t.Fatalf("items is not an array: %s", r.Body)
		}
		return items
	}
	if items := list(); len(items) != 0 {
		t.Fatalf("fresh vault lists %v", items)
	}

	// Units known from users, named but not opened.
	h.user("reg-east", "group/east", "registrar")
	h.user("reg-west", "group/west", "registrar")
	h.must(http.StatusOK, "PUT", "/api/v1/units/group/west", h.admin, map[string]any{"name": "西区分公司"})
	h.must(http.StatusOK, "PUT", "/api/v1/units/group/north", h.admin, map[string]any{"name": "北区分公司", "public": false})
	if items := list(); len(items) != 0 {
		t.Fatalf("no unit is open, yet the portal lists %v", items)
	}

	h.must(http.StatusOK, "PUT", "/api/v1/units/group/east", h.admin, map[string]any{"name": "东区分公司", "public": true})
	h.must(http.StatusOK, "PUT", "/api/v1/units/group/east/site-3", h.admin, map[string]any{"name": "三号工地项目部", "public": true})
	items := list()
	got := map[string]string{}
	for _, it := range items {
		u := it.(map[string]any)
		if k := pbKeys(u); !slices.Equal(k, []string{"name", "path"}) {
			t.Errorf("unit keys %v, want [name path]", k)
		}
		got[u["path"].(string)] = u["name"].(string)
	}
	want := map[string]string{"group/east": "东区分公司", "group/east/site-3": "三号工地项目部"}
	if !maps.Equal(got, want) {
		t.Errorf("public units %v, want %v", got, want)
	}

	// Closing a unit removes it; a rename shows.
	h.must(http.StatusOK, "PUT", "/api/v1/units/group/east/site-3", h.admin, map[string]any{"public": false})
	h.must(http.StatusOK, "PUT", "/api/v1/units/group/east", h.admin, map[string]any{"name": "东区公司"})
	items = list()
	if len(items) != 1 || items[0].(map[string]any)["path"] != "group/east" || items[0].(map[string]any)["name"] != "东区公司" {
		t.Errorf("after closing site-3 and renaming east: %v", items)
	}

	// No token needed, and the request is audited as public.units without an actor.
	r := h.send(req{Method: "GET", Path: pbUnits, Header: map[string]string{"X-Request-ID": "pb-units-1"}})
	if r.Code != http.StatusOK || r.Header.Get("X-Request-ID") != "pb-units-1" {
		t.Fatalf("status %d, X-Request-ID %q", r.Code, r.Header.Get("X-Request-ID"))
	}
	e := pbEntry(t, h, r)
	if e.Action != "public.units" || e.Actor != nil || e.Status != 200 || e.Decision != audit.Allow {
		t.Errorf("entry %s", pbEntryJSON(t, e))
	}
}

// ---------------------------------------------------------------------------
// POST /public/petitions

func TestPublicSubmit(t *testing.T) {
	f := pbSetup(t, nil)
	h := f.h
	now := h.clock.Now()
	r := pbPost(h, "", pbPetition, pbBody())
	if r.Code != http.StatusCreated {
		t.Fatalf("status %d: %s", r.Code, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control %q: a response holding a receipt code must not be stored", cc)
	}
	m := r.JSON(t)
	if k := pbKeys(m); !slices.Equal(k, []string{"accept_by", "receipt_code", "status"}) {
		t.Errorf("response keys %v, want accept_by, receipt_code, status", k)
	}
	code, _ := m["receipt_code"].(string)
	if !pbCodeRE.MatchString(code) {
		t.Fatalf("receipt_code %q", code)
	}
	if m["status"] != "registered" {
		t.Errorf("status %v", m["status"])
	}
	acceptBy := pbTime(t, m["accept_by"])
	if !acceptBy.After(now) {
		t.Errorf("accept_by %v not after now %v", acceptBy, now)
	}

	// Staff see the petition: online, received now, registered by nobody.
	id := pbID(t, h, code)
	p := f.pbStaff(t, id)
	if p["status"] != "registered" || p["channel"] != "online" || p["unit"] != "group/east" || p["title"] != "三号工地拖欠工资" {
		t.Errorf("staff view %v", p)
	}
	if p["registered_by"] != nil {
		t.Errorf("registered_by %v, want null for the portal", p["registered_by"])
	}
	if !pbTime(t, p["received_at"]).Equal(now) {
		t.Errorf("received_at %v, want %v", p["received_at"], now)
	}
	if d := p["deadlines"].(map[string]any); d["accept_by"] != m["accept_by"] {
		t.Errorf("staff accept_by %v, portal accept_by %v", d["accept_by"], m["accept_by"])
	}
	if p["identity_masked"] != true || p["petitioner"].(map[string]any)["name"] == "张三" {
		t.Errorf("identity not masked: %v", p["petitioner"])
	}
	if _, ok := p["receipt_code"]; ok {
		t.Errorf("staff view holds the receipt code")
	}
	e := pbEntry(t, h, r)
	if e.Action != "public.submit" || e.Actor != nil || e.Status != 201 || e.Decision != audit.Allow ||
		e.Object == nil || e.Object.ID != id || e.Details["unit"] != "group/east" {
		t.Errorf("entry %s", pbEntryJSON(t, e))
	}

	// Anonymous: petitioner omitted or null.
	for name, body := range map[string]map[string]any{
		"omitted": pbBody(pbDel("petitioner")),
		"null":    pbBody(pbSet("petitioner", nil)),
		"minimal": {"unit": "group/east", "title": "工地噪音扰民", "content": "夜间施工噪音很大。"},
	} {
		t.Run("anonymous "+name, func(t *testing.T) {
			code := pbSubmit(t, h, body)
			p := f.pbStaff(t, pbID(t, h, code))
			if p["petitioner"] != nil {
				t.Errorf("petitioner %v, want null", p["petitioner"])
			}
			if p["status"] != "registered" || p["channel"] != "online" {
				t.Errorf("staff view %v", p)
			}
		})
	}
}

// Receipt codes carry at least 100 bits: 20 digits of the full 32-symbol
// Crockford alphabet, all distinct.
func TestPublicSubmitReceiptCodes(t *testing.T) {
	f := pbSetup(t, func(c *Config) { c.PublicSubmits = 1000 })
	seen := map[string]bool{}
	symbols := map[rune]int{}
	const n = 40
	for range n {
		code := pbSubmit(t, f.h, pbBody(pbDel("petitioner")))
		if seen[code] {
			t.Fatalf("receipt code %s issued twice", code)
		}
		seen[code] = true
		digits := strings.ReplaceAll(code, "-", "")
		if len(digits) != vault.ReceiptCodeLen || len(digits) < 20 {
			t.Fatalf("code %s has %d digits", code, len(digits))
		}
		for _, c := range digits {
			symbols[c]++
		}
	}
	// 800 digits drawn uniformly from 32 symbols: every symbol shows up
	// (the chance that one does not is below 1e-12).
	for _, c := range pbCrockford {
		if symbols[c] == 0 {
			t.Errorf("symbol %c never appears in %d codes: the codes do not use the whole alphabet", c, n)
		}
	}
	if len(symbols) != len(pbCrockford) {
		t.Errorf("codes use %d symbols, want %d", len(symbols), len(pbCrockford))
	}
}

// A submission to a unit that is not open, or with bad input, is refused
// with the status of staff creation and stores nothing.
func TestPublicSubmitBadInput(t *testing.T) {
	f := pbSetup(t, nil)
	h := f.h
	valid, _ := json.Marshal(pbBody())
	big := pbBody(pbSet("content", strings.Repeat("a", 1<<20+10)))

	for _, tt := range []struct {
		name       string
		body       any
		header     map[string]string
		wantStatus int
		wantDetail string
	}{
		{"unit not public", pbBody(pbSet("unit", "group/west")), nil, 400, "unit"},
		{"unit unknown", pbBody(pbSet("unit", "group/north")), nil, 400, "unit"},
		{"parent of a public unit", pbBody(pbSet("unit", "group")), nil, 400, "unit"},
		{"child of a public unit", pbBody(pbSet("unit", "group/east/site-3")), nil, 400, "unit"},
		{"unit not a path", pbBody(pbSet("unit", "Group/East")), nil, 400, "unit"},
		{"unit missing", pbBody(pbDel("unit")), nil, 400, "unit"},
		{"received_at", pbBody(pbSet("received_at", "2026-02-01T08:00:00Z")), nil, 400, "received_at"},
		{"received_at null", pbBody(pbSet("received_at", nil)), nil, 400, "received_at"},
		{"receipt_code in input", pbBody(pbSet("receipt_code", "AAAA-AAAA-AAAA-AAAA-AAAA")), nil, 400, "receipt_code"},
		{"status in input", pbBody(pbSet("status", "closed")), nil, 400, "status"},
		{"registered_by in input", pbBody(pbSet("registered_by", "admin")), nil, 400, "registered_by"},
		{"unknown field", pbBody(pbSet("colour", "red")), nil, 400, `"colour"`},
		{"unknown petitioner field", pbBody(pbPetitioner("age", 40)), nil, 400, `"age"`},
		{"missing title", pbBody(pbDel("title")), nil, 400, "title"},
		{"blank title", pbBody(pbSet("title", "   ")), nil, 400, "title"},
		{"title 201 characters", pbBody(pbSet("title", strings.Repeat("题", 201))), nil, 400, "title"},
		{"missing content", pbBody(pbDel("content")), nil, 400, "content"},
		{"content 20001 characters", pbBody(pbSet("content", strings.Repeat("内", 20001))), nil, 400, "content"},
		{"requests 5001 characters", pbBody(pbSet("requests", strings.Repeat("求", 5001))), nil, 400, "requests"},
		{"tab in title", pbBody(pbSet("title", "拖欠\t工资")), nil, 400, "title"},
		{"line break in title", pbBody(pbSet("title", "拖欠\n工资")), nil, 400, "title"},
		{"DEL in title", pbBody(pbSet("title", "拖欠\x7f工资")), nil, 400, "title"},
		{"line separator in title", pbBody(pbSet("title", "拖欠\u2028工资")), nil, 400, "title"},
		{"NUL in content", pbBody(pbSet("content", "拖欠\x00工资")), nil, 400, "content"},
		{"escape in content", pbBody(pbSet("content", "拖欠\x1b[31m工资")), nil, 400, "content"},
		{"control character in petitioner name", pbBody(pbPetitioner("name", "张\r三")), nil, 400, "petitioner.name"},
		{"control character in subject", pbBody(pbSet("subjects", []any{"李\n经理"})), nil, 400, "subjects"},
		{"petitioner name 101 characters", pbBody(pbPetitioner("name", strings.Repeat("张", 101))), nil, 400, "petitioner.name"},
		{"unknown channel", pbBody(pbSet("channel", "fax")), nil, 400, "channel"},
		{"group_size 0", pbBody(pbSet("group_size", 0)), nil, 400, "group_size"},
		{"group_size a string", pbBody(pbSet("group_size", "3")), nil, 400, "group_size"},
		{"title a number", pbBody(pbSet("title", 5)), nil, 400, "title"},
		{"invalid UTF-8", bytes.Replace(valid, []byte("三号工地拖欠工资"), []byte("\xff\xfe"), 1), nil, 400, "UTF-8"},
		{"duplicate key", append([]byte(`{"title":"另一个",`), valid[1:]...), nil, 400, `duplicate key "title"`},
		{"field in capitals", bytes.Replace(valid, []byte(`"title":`), []byte(`"TITLE":`), 1), nil, 400, "TITLE"},
		{"trailing data", append(slices.Clone(valid), []byte(` {}`)...), nil, 400, "trailing"},
		{"body an array", `[]`, nil, 400, "object"},
		{"empty body", ``, nil, 400, "empty"},
		{"malformed JSON", `{"unit":`, nil, 400, "JSON"},
		{"text/plain", pbBody(), map[string]string{"Content-Type": "text/plain"}, 415, ""},
		{"no content type", pbBody(), map[string]string{"Content-Type": ""}, 415, ""},
		{"form content type", pbBody(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, ""},
		{"JSON in Latin-1", pbBody(), map[string]string{"Content-Type": "application/json; charset=iso-8859-1"}, 415, ""},
		{"body over 1 MiB", big, nil, 413, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := pbSnapshot(t, h)
			r := pbSend(h, "", req{Method: "POST", Path: pbPetition, Body: tt.body, Header: tt.header})
			p := pbProblem(t, r, tt.wantStatus)
			if !strings.Contains(p.Detail, tt.wantDetail) {
				t.Errorf("detail %q does not name %q", p.Detail, tt.wantDetail)
			}
			if strings.Contains(string(r.Body), "receipt_code\":\"") {
				t.Errorf("a refused submission carries a receipt code: %s", r.Body)
			}
			e := pbEntry(t, h, r)
			if e.Action != "public.submit" || e.Status != tt.wantStatus || e.Actor != nil || (e.Object != nil && e.Object.ID != "") {
				t.Errorf("entry %s", pbEntryJSON(t, e))
			}
			pbSameStore(t, h, before)
		})
	}
}

// Submissions are limited per client address: the limit answers 429 with
// Retry-After, stores nothing, leaves other addresses alone, ignores
// forwarded headers, and clears when the hour has passed.
func TestPublicSubmitRateLimit(t *testing.T) {
	f := pbSetup(t, func(c *Config) { c.PublicSubmits = 3 })
	h := f.h
	submit := func(addr string, hdr map[string]string) *resp {
		t.Helper()
		return pbSend(h, addr, req{Method: "POST", Path: pbPetition, Body: pbBody(), Header: hdr})
	}
	must := func(r *resp) {
		t.Helper()
		if r.Code != http.StatusCreated {
			t.Fatalf("status %d, want 201: %s", r.Code, r.Body)
		}
	}
	must(submit("", nil))
	h.clock.Add(10 * time.Minute)
	must(submit("", nil))
	// Refused submissions do not count against the limit.
	for range 3 {
		pbProblem(t, pbSend(h, "", req{Method: "POST", Path: pbPetition, Body: pbBody(pbSet("title", ""))}), 400)
	}
	must(submit("", nil))

	before := pbSnapshot(t, h)
	r := submit("", nil)
	pbProblem(t, r, http.StatusTooManyRequests)
	// The first submission was 10 minutes ago: 50 minutes to wait.
	if ra := pbRetryAfter(t, r, 1, 3600); ra != 50*60 {
		t.Errorf("Retry-After %d, want %d", ra, 50*60)
	}
	e := pbEntry(t, h, r)
	if e.Action != "public.submit" || e.Status != 429 || e.Decision != audit.Deny {
		t.Errorf("entry %s", pbEntryJSON(t, e))
	}
	pbSameStore(t, h, before)

	// Another port of the same address, and forwarded headers, change nothing.
	pbProblem(t, submit("192.0.2.1:9999", nil), 429)
	pbProblem(t, submit("", map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9", "Forwarded": "for=203.0.113.9"}), 429)
	pbSameStore(t, h, before)

	// Other addresses are not affected.
	must(submit(pbOtherAddr, nil))
	must(submit("[2001:db8::1]:443", nil))

	// The limit clears as the window slides.
	h.clock.Add(50*time.Minute - time.Second)
	r = submit("", nil)
	pbProblem(t, r, 429)
	if ra := pbRetryAfter(t, r, 1, 3600); ra != 1 {
		t.Errorf("Retry-After %d a second before the window ends, want 1", ra)
	}
	h.clock.Add(time.Second)
	must(submit("", nil))
	pbProblem(t, submit("", nil), 429) // the two from 50 minutes ago and the new one
	h.clock.Add(time.Hour)
	must(submit("", nil))
}

// ---------------------------------------------------------------------------
// POST /public/track

func TestPublicTrackCodeForms(t *testing.T) {
	f := pbSetup(t, nil)
	h := f.h
	code := pbSubmit(t, h, pbBody())
	digits := strings.ReplaceAll(code, "-", "")
	want := pbTrack(t, h, code)
	if want["status"] != "registered" {
		t.Fatalf("track: %v", want)
	}
	spaced := strings.ReplaceAll(code, "-", " ")
	var each strings.Builder
	for i, c := range digits {
		if i > 0 {
			each.WriteString(" ")
		}
		each.WriteRune(c)
	}
	for _, tt := range []struct{ name, code string }{
		{"lower case", strings.ToLower(code)},
		{"mixed case", strings.ToLower(code[:12]) + code[12:]},
		{"without dashes", digits},
		{"lower case without dashes", strings.ToLower(digits)},
		{"spaces for dashes", spaced},
		{"space between every digit", each.String()},
		{"surrounding spaces", "  " + code + " "},
		{"dashes in other places", digits[:5] + "-" + digits[5:10] + "-" + digits[10:]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := pbTrack(t, h, tt.code)
			if !maps.EqualFunc(got, want, func(a, b any) bool { return pbJSONEqual(a, b) }) {
				t.Errorf("track(%q) = %v, want %v", tt.code, got, want)
			}
		})
	}
}

func pbJSONEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// pbWithoutRequestID returns a problem body with its request_id removed.
func pbWithoutRequestID(tb testing.TB, r *resp) string {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		tb.Fatalf("body %q: %v", r.Body, err)
	}
	delete(m, "request_id")
	b, _ := json.Marshal(m)
	return string(b)
}

// An unknown code and a malformed one get the same answer, and the same
// audit entry apart from its request id.
func TestPublicTrackUnknownAndMalformedCodesLookAlike(t *testing.T) {
	f := pbSetup(t, func(c *Config) { c.PublicFailures = 1000 })
	h := f.h
	real := pbSubmit(t, h, pbBody())
	// A near miss: the real code with its last digit changed.
	last := real[len(real)-1]
	alt := byte('0')
	if last == '0' {
		alt = '1'
	}
	nearMiss := real[:len(real)-1] + string(alt)

	type result struct {
		status        int
		body, ctype   string
		entryDecision string
		entryStatus   int
		entryDetails  string
		entryObject   *audit.Object
	}
	run := func(t *testing.T, body any) result {
		t.Helper()
		r := pbPost(h, "", pbTrackURL, body)
		pbProblem(t, r, http.StatusNotFound)
		e := pbEntry(t, h, r)
		if e.Action != "public.track" || e.Actor != nil {
			t.Errorf("entry %s", pbEntryJSON(t, e))
		}
		d, _ := json.Marshal(e.Details)
		return result{r.Code, pbWithoutRequestID(t, r), r.Header.Get("Content-Type"), e.Decision, e.Status, string(d), e.Object}
	}
	want := run(t, map[string]string{"receipt_code": "7KQ2-M9XD-4ZRT-8HBW-3NPE"})
	for _, tt := range []struct {
		name string
		body any
	}{
		{"near miss of a real code", map[string]string{"receipt_code": nearMiss}},
		{"another unknown code", map[string]string{"receipt_code": "0000-0000-0000-0000-0000"}},
		{"too short", map[string]string{"receipt_code": real[:len(real)-1]}},
		{"too long", map[string]string{"receipt_code": real + "A"}},
		{"one group", map[string]string{"receipt_code": "7KQ2"}},
		{"letter U", map[string]string{"receipt_code": "UUUU-UUUU-UUUU-UUUU-UUUU"}},
		{"punctuation", map[string]string{"receipt_code": "7KQ2!M9XD!4ZRT!8HBW!3NPE"}},
		{"Chinese characters", map[string]string{"receipt_code": "七七七七-七七七七-七七七七-七七七七-七七七七"}},
		{"control characters", map[string]string{"receipt_code": "7KQ2\x00M9XD\x00\x00"}},
		{"empty", map[string]string{"receipt_code": ""}},
		{"1000 characters", map[string]string{"receipt_code": strings.Repeat("A", 1000)}},
		{"null", map[string]any{"receipt_code": nil}},
		{"missing", map[string]any{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := run(t, tt.body)
			if got.body != want.body || got.ctype != want.ctype {
				t.Errorf("answer %d %s %q, unknown code gets %d %s %q", got.status, got.body, got.ctype, want.status, want.body, want.ctype)
			}
			if got.entryDecision != want.entryDecision || got.entryStatus != want.entryStatus || got.entryDetails != want.entryDetails || got.entryObject != nil {
				t.Errorf("entry %+v, unknown code's entry %+v", got, want)
			}
		})
	}
	// The real code still works.
	pbTrack(t, h, real)
}

// After Config.PublicFailures lookups of unknown codes one client must wait,
// even with a valid code, at every endpoint that takes a code; other clients
// are not affected, and the block lifts after 15 minutes.
func TestPublicTrackFailureLimit(t *testing.T) {
	f := pbSetup(t, func(c *Config) { c.PublicFailures = 3 })
	h := f.h
	code, _ := f.pbReplied(t, "已补发工资。")

	// Successful lookups are not failures.
	for range 5 {
		pbTrack(t, h, code)
	}
	for i := range 3 {
		r := pbPost(h, "", pbTrackURL, map[string]string{"receipt_code": "7KQ2-M9XD-4ZRT-8HBW-3NP" + string(pbCrockford[i])})
		pbProblem(t, r, http.StatusNotFound)
	}
	r := pbPost(h, "", pbTrackURL, map[string]string{"receipt_code": code})
	pbProblem(t, r, http.StatusTooManyRequests)
	if ra := pbRetryAfter(t, r, 1, 900); ra != 900 {
		t.Errorf("Retry-After %d, want 900", ra)
	}
	if bytes.Contains(r.Body, []byte("replied")) {
		t.Errorf("a blocked lookup shows the case: %s", r.Body)
	}
	e := pbEntry(t, h, r)
	if e.Action != "public.track" || e.Status != 429 || e.Decision != audit.Deny || e.Object != nil {
		t.Errorf("entry %s", pbEntryJSON(t, e))
	}
	// The block covers feedback and review requests too, and changes nothing.
	before := pbSnapshot(t, h)
	pbProblem(t, pbPost(h, "", pbFeedback, map[string]string{"receipt_code": code, "rating": "satisfied"}), 429)
	pbProblem(t, pbPost(h, "", pbReview, map[string]string{"receipt_code": code, "reason": "答复不清楚"}), 429)
	pbProblem(t, pbPost(h, "192.0.2.1:40000", pbTrackURL, map[string]string{"receipt_code": code}), 429)
	pbSameStore(t, h, before)

	// Another client is fine.
	if r := pbPost(h, pbOtherAddr, pbTrackURL, map[string]string{"receipt_code": code}); r.Code != 200 {
		t.Errorf("other client: status %d: %s", r.Code, r.Body)
	}
	// The block lifts after the window.
	h.clock.Add(15*time.Minute - time.Second)
	r = pbPost(h, "", pbTrackURL, map[string]string{"receipt_code": code})
	pbProblem(t, r, 429)
	if ra := pbRetryAfter(t, r, 1, 900); ra != 1 {
		t.Errorf("Retry-After %d a second before the end, want 1", ra)
	}
	h.clock.Add(time.Second)
	pbTrack(t, h, code)
}

// Lookups of any kind are limited per minute (Config.PublicLookups).
func TestPublicTrackLookupLimit(t *testing.T) {
	f := pbSetup(t, func(c *Config) { c.PublicLookups = 5 })
	h := f.h
	code := pbSubmit(t, h, pbBody())
	for range 5 {
		pbTrack(t, h, code)
	}
	r := pbPost(h, "", pbTrackURL, map[string]string{"receipt_code": code})
	pbProblem(t, r, http.StatusTooManyRequests)
	pbRetryAfter(t, r, 1, 60)
	if r := pbPost(h, pbOtherAddr, pbTrackURL, map[string]string{"receipt_code": code}); r.Code != 200 {
		t.Errorf("other client: status %d", r.Code)
	}
	h.clock.Add(time.Minute)
	pbTrack(t, h, code)
}

// The track response shows the petitioner the public part of the case:
// status, deadlines, replies and public events with the reasons given to
// them, never internal notes, assignees, staff names, identity or subjects.
func TestPublicTrackResponse(t *testing.T) {
	f := pbSetup(t, nil)
	h := f.h
	received := h.clock.Now()
	code := pbSubmit(t, h, pbBody())
	id := pbID(t, h, code)

	tr := pbTrack(t, h, code)
	for _, k := range []string{"status", "received_at", "deadlines", "replies", "events"} {
		if _, ok := tr[k]; !ok {
			t.Errorf("track response without %q: %v", k, tr)
		}
	}
	if tr["status"] != "registered" || !pbTime(t, tr["received_at"]).Equal(received) {
		t.Errorf("track %v", tr)
	}
	d := tr["deadlines"].(map[string]any)
	if d["accept_by"] == nil || d["resolve_by"] != nil || d["review_request_by"] != nil || d["review_by"] != nil {
		t.Errorf("deadlines %v", d)
	}
	if rs, ok := tr["replies"].([]any); !ok || len(rs) != 0 {
		t.Errorf("replies %v, want []", tr["replies"])
	}
	if _, ok := tr["events"].([]any); !ok {
		t.Errorf("events %v, want an array", tr["events"])
	}

	// Staff work the case.
	steps := []struct {
		tok  string
		body map[string]any
	}{
		{f.sup, map[string]any{"action": "categorize", "label": "wage_arrears"}},
		{f.sup, map[string]any{"action": "accept", "comment": "内部意见：先核实考勤"}},
		{f.sup, map[string]any{"action": "assign", "assignee": "off-east"}},
		{f.sup, map[string]any{"action": "extend", "days": 10, "reason": "需要调取工地考勤记录"}},
		{f.off, map[string]any{"action": "reply", "text": "经核实，项目部已于本周补发全部工资。"}},
	}
	var replyAt time.Time
	for i, s := range steps {
		h.clock.Add(time.Hour)
		if i == 3 {
			h.must(http.StatusCreated, "POST", "/api/v1/petitions/"+id+"/notes", f.off, map[string]any{"text": "内部备注：反映人情绪激动"})
		}
		replyAt = h.clock.Now()
		pbAct(t, h, s.tok, id, s.body)
	}

	r := pbPost(h, "", pbTrackURL, map[string]string{"receipt_code": code})
	if r.Code != 200 {
		t.Fatalf("track: %d %s", r.Code, r.Body)
	}
	tr = r.JSON(t)
	if tr["status"] != "replied" {
		t.Errorf("status %v", tr["status"])
	}
	d = tr["deadlines"].(map[string]any)
	if d["resolve_by"] == nil {
		t.Errorf("no resolve_by after accept: %v", d)
	}
	if rrb := d["review_request_by"]; rrb == nil || !pbTime(t, rrb).Equal(replyAt.Add(30*24*time.Hour)) {
		t.Errorf("review_request_by %v, want the reply time plus 30 days (%v)", rrb, replyAt.Add(30*24*time.Hour))
	}
	replies := tr["replies"].([]any)
	if len(replies) != 1 {
		t.Fatalf("replies %v", replies)
	}
	rep := replies[0].(map[string]any)
	if rep["text"] != "经核实，项目部已于本周补发全部工资。" || !pbTime(t, rep["time"]).Equal(replyAt) {
		t.Errorf("reply %v, want the officer's text at %v", rep, replyAt)
	}

	// Events: the public subset only, oldest first.
	allowed := []string{"action", "days", "deadlines", "from_status", "rating", "reason", "time", "to_status", "type"}
	var actions []string
	var extend map[string]any
	for _, x := range tr["events"].([]any) {
		ev := x.(map[string]any)
		for _, k := range pbKeys(ev) {
			if !slices.Contains(allowed, k) {
				t.Errorf("public event has field %q: %v", k, ev)
			}
		}
		if ev["type"] == "note" {
			t.Errorf("an internal note is public: %v", ev)
		}
		if ev["action"] == "assign" || ev["action"] == "categorize" {
			t.Errorf("an internal step is public: %v", ev)
		}
		a, _ := ev["action"].(string)
		actions = append(actions, a)
		if a == "extend" {
			extend = ev
		}
	}
	if !slices.Equal(actions, []string{"accept", "extend", "reply"}) {
		t.Errorf("public events %v, want accept, extend, reply", actions)
	}
	if extend == nil || extend["reason"] != "需要调取工地考勤记录" || extend["days"] != float64(10) {
		t.Errorf("extend event %v, want its reason and days", extend)
	}
	for _, secret := range []string{
		"off-east", "sup-east", "钱办理", "赵主任", // staff
		"内部备注", "内部意见", "wage_arrears", // notes, comments, internal labels
		"张三", "13812345678", "510104199001011234", "李经理", // identity and the accused
		`"assignee"`, `"actor"`, id, // assignees, actors, internal ids
	} {
		if bytes.Contains(r.Body, []byte(secret)) {
			t.Errorf("track response holds %q: %s", secret, r.Body)
		}
	}

	// The track request is audited against the petition, without the code.
	e := pbEntry(t, h, r)
	if e.Action != "public.track" || e.Object == nil || e.Object.ID != id || e.Status != 200 || e.Actor != nil {
		t.Errorf("entry %s", pbEntryJSON(t, e))
	}
}

// Non-acceptance and transfer reasons are shown to the petitioner.
func TestPublicTrackShowsReasons(t *testing.T) {
	f := pbSetup(t, nil)
	h := f.h
	for _, tt := range []struct {
		name, status string
		body         map[string]any
	}{
		{"not accepted", "not_accepted", map[string]any{"action": "not_accept", "reason": "已通过劳动仲裁程序处理"}},
		{"transferred out", "transferred", map[string]any{"action": "transfer", "reason": "属于住建部门职责", "target_unit": "external:市住建局"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code := pbSubmit(t, h, pbBody())
			pbAct(t, h, f.sup, pbID(t, h, code), tt.body)
			tr := pbTrack(t, h, code)
			if tr["status"] != tt.status {
				t.Errorf("status %v, want %s", tr["status"], tt.status)
			}
			evs := tr["events"].([]any)
			if len(evs) == 0 || evs[len(evs)-1].(map[string]any)["reason"] != tt.body["reason"] {
				t.Errorf("events %v, want the reason %q", evs, tt.body["reason"])
			}
		})
	}
}

// Bad track requests: strict JSON rules apply.
func TestPublicTrackBadRequests(t *testing.T) {
	f := pbSetup(t, nil)
	h := f.h
	code := pbSubmit(t, h, pbBody())
	for _, tt := range []struct {
		name   string
		body   any
		header map[string]string
		want   int
	}{
		{"unknown field", map[string]any{"receipt_code": code, "id": "x"}, nil, 400},
		{"code a number", map[string]any{"receipt_code": 12345}, nil, 400},
		{"trailing data", `{"receipt_code":"` + code + `"} x`, nil, 400},
		{"empty body", ``, nil, 400},
		{"not JSON", "receipt_code=" + code, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415},
		{"body over 1 MiB", map[string]string{"receipt_code": code + strings.Repeat(" ", 1<<20)}, nil, 413},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := pbSend(h, "", req{Method: "POST", Path: pbTrackURL, Body: tt.body, Header: tt.header})
			pbProblem(t, r, tt.want)
			if bytes.Contains(r.Body, []byte("registered")) {
				t.Errorf("a bad request shows the case: %s", r.Body)
			}
		})
	}
	// Codes travel only in bodies: no GET with a query.
	r := h.do("GET", pbTrackURL+"?receipt_code="+code, "", nil)
	if r.Code == 200 {
		t.Errorf("GET with the code in the query string: 200 %s", r.Body)
	}
}

// ---------------------------------------------------------------------------
// POST /public/feedback

func TestPublicFeedback(t *testing.T) {
	f := pbSetup(t, nil)
	h := f.h

	// Before a reply: 409, registered and accepted alike.
	code := pbSubmit(t, h, pbBody())
	id := pbID(t, h, code)
	before := pbSnapshot(t, h)
	pbProblem(t, pbPost(h, "", pbFeedback, map[string]string{"receipt_code": code, "rating": "satisfied"}), http.StatusConflict)
	pbSameStore(t, h, before)
	pbAct(t, h, f.sup, id, map[string]any{"action": "accept"})
	before = pbSnapshot(t, h)
	pbProblem(t, pbPost(h, "", pbFeedback, map[string]string{"receipt_code": code, "rating": "satisfied"}), http.StatusConflict)
	pbSameStore(t, h, before)

	code, id = f.pbReplied(t, "已补发工资。")
	before = pbSnapshot(t, h)
	for _, tt := range []struct {
		name   string
		body   any
		want   int
		detail string
	}{
		{"unknown rating", map[string]string{"receipt_code": code, "rating": "great"}, 400, "rating"},
		{"rating in capitals", map[string]string{"receipt_code": code, "rating": "SATISFIED"}, 400, "rating"},
		{"empty rating", map[string]string{"receipt_code": code, "rating": ""}, 400, "rating"},
		{"missing rating", map[string]string{"receipt_code": code}, 400, "rating"},
		{"rating a number", map[string]any{"receipt_code": code, "rating": 5}, 400, "rating"},
		{"comment 2001 characters", map[string]string{"receipt_code": code, "rating": "satisfied", "comment": strings.Repeat("好", 2001)}, 400, "comment"},
		{"NUL in comment", map[string]string{"receipt_code": code, "rating": "satisfied", "comment": "好\x00"}, 400, "comment"},
		{"unknown field", map[string]string{"receipt_code": code, "rating": "satisfied", "stars": "5"}, 400, "stars"},
		{"unknown code", map[string]string{"receipt_code": "7KQ2-M9XD-4ZRT-8HBW-3NPE", "rating": "satisfied"}, 404, ""},
		{"malformed code", map[string]string{"receipt_code": "x", "rating": "satisfied"}, 404, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := pbPost(h, "", pbFeedback, tt.body)
			p := pbProblem(t, r, tt.want)
			if !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("detail %q does not name %q", p.Detail, tt.detail)
			}
			if e := pbEntry(t, h, r); e.Action != "public.feedback" || e.Status != tt.want {
				t.Errorf("entry %s", pbEntryJSON(t, e))
			}
		})
	}
	pbSameStore(t, h, before)

	// Satisfied: 204, the case is closed, and staff see a feedback event.
	h.clock.Add(time.Hour)
	r := pbPost(h, "", pbFeedback, map[string]string{"receipt_code": strings.ToLower(code), "rating": "satisfied", "comment": "谢谢，工资已收到。"})
	if r.Code != http.StatusNoContent || len(r.Body) != 0 {
		t.Fatalf("feedback: status %d, body %q", r.Code, r.Body)
	}
	if p := f.pbStaff(t, id); p["status"] != "closed" {
		t.Errorf("staff status %v, want closed", p["status"])
	}
	evs := f.pbEvents(t, id)
	last := evs[len(evs)-1]
	if last["type"] != "feedback" || last["rating"] != "satisfied" || last["actor_kind"] != "petitioner" || last["comment"] != "谢谢，工资已收到。" {
		t.Errorf("last staff event %v, want the feedback", last)
	}
	e := pbEntry(t, h, r)
	if e.Action != "public.feedback" || e.Object == nil || e.Object.ID != id || e.Status != 204 || e.Details["rating"] != "satisfied" {
		t.Errorf("entry %s", pbEntryJSON(t, e))
	}
	if strings.Contains(pbEntryJSON(t, e), "工资已收到") {
		t.Errorf("the feedback comment is in the audit entry")
	}
	tr := pbTrack(t, h, code)
	if tr["status"] != "closed" || tr["rating"] != "satisfied" || tr["can_feedback"] != false || tr["can_review"] != false {
		t.Errorf("track after feedback %v", tr)
	}
	// A second rating: the case is closed.
	pbProblem(t, pbPost(h, "", pbFeedback, map[string]string{"receipt_code": code, "rating": "dissatisfied"}), http.StatusConflict)
}

// Each rating's effect: satisfied and basically satisfied close the case, a
// dissatisfied petitioner may still ask for a review.
func TestPublicFeedbackRatings(t *testing.T) {
	f := pbSetup(t, nil)
	h := f.h
	for _, tt := range []struct{ rating, status string }{
		{"satisfied", "closed"},
		{"basically_satisfied", "closed"},
		{"dissatisfied", "replied"},
	} {
		t.Run(tt.rating, func(t *testing.T) {
			code, id := f.pbReplied(t, "答复")
			if r := pbPost(h, "", pbFeedback, map[string]string{"receipt_code": code, "rating": tt.rating}); r.Code != 204 {
				t.Fatalf("status %d: %s", r.Code, r.Body)
			}
			if p := f.pbStaff(t, id); p["status"] != tt.status {
				t.Errorf("status %v, want %s", p["status"], tt.status)
			}
			tr := pbTrack(t, h, code)
			if tr["rating"] != tt.rating || tr["can_feedback"] != false {
				t.Errorf("track %v", tr)
			}
			if tt.rating == "dissatisfied" && tr["can_review"] != true {
				t.Errorf("dissatisfied: can_review %v, want true", tr["can_review"])
			}
		})
	}
}

// Once the track response says feedback is no longer possible
// (can_feedback false after a rating), the API refuses another rating: the
// petitioner's first rating stands.
func TestPublicFeedbackOnlyOnce(t *testing.T) {
	f := pbSetup(t, nil)
	h := f.h
	code, id := f.pbReplied(t, "答复")
	if r := pbPost(h, "", pbFeedback, map[string]string{"receipt_code": code, "rating": "dissatisfied"}); r.Code != 204 {
		t.Fatalf("status %d: %s", r.Code, r.Body)
	}
	if tr := pbTrack(t, h, code); tr["can_feedback"] != false {
		t.Fatalf("can_feedback %v after a rating", tr["can_feedback"])
	}
	r := pbPost(h, "", pbFeedback, map[string]string{"receipt_code": code, "rating": "satisfied"})
	if r.Code != http.StatusConflict {
		t.Errorf("second rating: status %d, want 409 (track says can_feedback false); staff status now %v", r.Code, f.pbStaff(t, id)["status"])
	}
}

// ---------------------------------------------------------------------------
// POST /public/review

func TestPublicReview(t *testing.T) {
	f := pbSetup(t, nil)
	h := f.h

	// No reply yet: 409.
	code := pbSubmit(t, h, pbBody())
	pbProblem(t, pbPost(h, "", pbReview, map[string]string{"receipt_code": code, "reason": "不满意"}), http.StatusConflict)

	// A case of a site below group/east: the review is answered by a
	// supervisor of group/east (the unit above), the re-review by one of
	// group (above the reviewer).
	h.must(http.StatusOK, "PUT", "/api/v1/units/group/east/site-3", h.admin, map[string]any{"name": "三号工地项目部", "public": true})
	code, id := f.pbRepliedBody(t, pbBody(pbSet("unit", "group/east/site-3")), "已补发工资。")
	before := pbSnapshot(t, h)
	for _, tt := range []struct {
		name   string
		body   any
		want   int
		detail string
	}{
		{"missing reason", map[string]string{"receipt_code": code}, 400, "reason"},
		{"blank reason", map[string]string{"receipt_code": code, "reason": "  "}, 400, "reason"},
		{"reason 2001 characters", map[string]string{"receipt_code": code, "reason": strings.Repeat("理", 2001)}, 400, "reason"},
		{"unknown field", map[string]string{"receipt_code": code, "reason": "不满意", "kind": "rereview"}, 400, "kind"},
		{"unknown code", map[string]string{"receipt_code": "7KQ2-M9XD-4ZRT-8HBW-3NPE", "reason": "不满意"}, 404, ""},
		{"malformed code", map[string]string{"receipt_code": "", "reason": "不满意"}, 404, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := pbPost(h, "", pbReview, tt.body)
			p := pbProblem(t, r, tt.want)
			if !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("detail %q does not name %q", p.Detail, tt.detail)
			}
			if e := pbEntry(t, h, r); e.Action != "public.review" || e.Status != tt.want {
				t.Errorf("entry %s", pbEntryJSON(t, e))
			}
		})
	}
	pbSameStore(t, h, before)

	// Within the window: review (复查), due in 30 days.
	h.clock.Add(10 * 24 * time.Hour)
	f.pbLogin(t)
	requested := h.clock.Now()
	r := pbPost(h, "", pbReview, map[string]string{"receipt_code": code, "reason": "工资只补发了一半"})
	if r.Code != http.StatusNoContent || len(r.Body) != 0 {
		t.Fatalf("review: status %d, body %q", r.Code, r.Body)
	}
	e := pbEntry(t, h, r)
	if e.Action != "public.review" || e.Object == nil || e.Object.ID != id || e.Status != 204 || e.Details["to_status"] != "review" {
		t.Errorf("entry %s", pbEntryJSON(t, e))
	}
	if strings.Contains(pbEntryJSON(t, e), "补发了一半") {
		t.Errorf("the review reason is in the audit entry")
	}
	p := f.pbStaff(t, id)
	if p["status"] != "review" {
		t.Errorf("staff status %v, want review", p["status"])
	}
	if rb := p["deadlines"].(map[string]any)["review_by"]; rb == nil || !pbTime(t, rb).Equal(requested.Add(30*24*time.Hour)) {
		t.Errorf("review_by %v, want %v", rb, requested.Add(30*24*time.Hour))
	}
	evs := f.pbEvents(t, id)
	if last := evs[len(evs)-1]; last["type"] != "review_request" || last["to_status"] != "review" || last["actor_kind"] != "petitioner" {
		t.Errorf("last staff event %v", last)
	}
	tr := pbTrack(t, h, code)
	if tr["status"] != "review" || tr["deadlines"].(map[string]any)["review_by"] == nil {
		t.Errorf("track %v", tr)
	}
	// A second request while under review: 409.
	pbProblem(t, pbPost(h, "", pbReview, map[string]string{"receipt_code": code, "reason": "再次申请"}), http.StatusConflict)
	// Feedback is not taken while under review.
	pbProblem(t, pbPost(h, "", pbFeedback, map[string]string{"receipt_code": code, "rating": "satisfied"}), http.StatusConflict)

	// The parent unit's supervisor replies to the review; the petitioner asks
	// for a re-review (复核).
	h.clock.Add(24 * time.Hour)
	f.pbLogin(t)
	pbAct(t, h, f.sup, id, map[string]any{"action": "review_reply", "text": "复查意见：责令项目部补发剩余工资。"})
	tr = pbTrack(t, h, code)
	if tr["status"] != "replied" || len(tr["replies"].([]any)) != 2 || tr["can_review"] != true {
		t.Errorf("track after review reply %v", tr)
	}
	h.clock.Add(24 * time.Hour)
	f.pbLogin(t)
	r = pbPost(h, "", pbReview, map[string]string{"receipt_code": code, "reason": "仍未收到剩余工资"})
	if r.Code != http.StatusNoContent {
		t.Fatalf("re-review: status %d: %s", r.Code, r.Body)
	}
	if e := pbEntry(t, h, r); e.Details["to_status"] != "rereview" {
		t.Errorf("entry %s", pbEntryJSON(t, e))
	}
	if p := f.pbStaff(t, id); p["status"] != "rereview" || p["deadlines"].(map[string]any)["review_by"] == nil {
		t.Errorf("staff view after re-review request: status %v, deadlines %v", p["status"], p["deadlines"])
	}
	if tr := pbTrack(t, h, code); tr["status"] != "rereview" {
		t.Errorf("track status %v, want rereview", tr["status"])
	}

	// After the re-review reply the outcome is final: no further request.
	pbAct(t, h, f.parent, id, map[string]any{"action": "rereview_reply", "text": "复核意见：维持复查意见。"})
	tr = pbTrack(t, h, code)
	if tr["status"] != "closed" || tr["final"] != true || tr["can_review"] != false || len(tr["replies"].([]any)) != 3 {
		t.Errorf("track after re-review reply %v", tr)
	}
	pbProblem(t, pbPost(h, "", pbReview, map[string]string{"receipt_code": code, "reason": "还是不服"}), http.StatusConflict)
}

// The review window is 30 days from the reply (and from the review reply
// for a re-review); outside it 409.
func TestPublicReviewWindow(t *testing.T) {
	f := pbSetup(t, nil)
	h := f.h
	review := func(code string) *resp {
		t.Helper()
		return pbPost(h, "", pbReview, map[string]string{"receipt_code": code, "reason": "不满意"})
	}

	t.Run("30 days after the reply", func(t *testing.T) {
		code, _ := f.pbReplied(t, "答复")
		h.clock.Add(30 * 24 * time.Hour)
		f.pbLogin(t)
		if r := review(code); r.Code != 204 {
			t.Errorf("status %d, want 204: %s", r.Code, r.Body)
		}
	})
	t.Run("31 days after the reply", func(t *testing.T) {
		code, id := f.pbReplied(t, "答复")
		h.clock.Add(31 * 24 * time.Hour)
		f.pbLogin(t)
		if tr := pbTrack(t, h, code); tr["can_review"] != false {
			t.Errorf("can_review %v after the window", tr["can_review"])
		}
		before := pbSnapshot(t, h)
		pbProblem(t, review(code), http.StatusConflict)
		pbSameStore(t, h, before)
		if p := f.pbStaff(t, id); p["status"] != "replied" {
			t.Errorf("status %v", p["status"])
		}
	})
	t.Run("re-review 31 days after the review reply", func(t *testing.T) {
		code, id := f.pbReplied(t, "答复")
		if r := review(code); r.Code != 204 {
			t.Fatalf("review: %d %s", r.Code, r.Body)
		}
		pbAct(t, h, f.parent, id, map[string]any{"action": "review_reply", "text": "复查意见"})
		h.clock.Add(31 * 24 * time.Hour)
		f.pbLogin(t)
		pbProblem(t, review(code), http.StatusConflict)
	})
}

// ---------------------------------------------------------------------------
// Secrecy of receipt codes and auditing of public requests

// pbCodeForms are the spellings of a code to search for.
func pbCodeForms(code string) []string {
	digits := strings.ReplaceAll(code, "-", "")
	return []string{code, strings.ToLower(code), digits, strings.ToLower(digits)}
}

// Receipt codes appear in no audit entry, no log line, no stored key or
// value, no response header and no link.
func TestPublicReceiptCodesNeverLeak(t *testing.T) {
	var logs bytes.Buffer
	f := pbSetup(t, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	h := f.h
	var codes []string
	var responses []*resp
	post := func(addr, path string, body any) *resp {
		t.Helper()
		r := pbPost(h, addr, path, body)
		responses = append(responses, r)
		return r
	}
	form := func(path, body string) *resp {
		t.Helper()
		r := pbSend(h, "", req{Method: "POST", Path: path, Body: body, Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
		responses = append(responses, r)
		return r
	}

	// API: submit, track in many spellings, work the case, rate, review.
	r := post("", pbPetition, pbBody())
	code1, _ := r.JSON(t)["receipt_code"].(string)
	codes = append(codes, code1)
	for _, c := range pbCodeForms(code1) {
		post("", pbTrackURL, map[string]string{"receipt_code": c})
	}
	id1 := pbID(t, h, code1)
	pbAct(t, h, f.sup, id1, map[string]any{"action": "accept"})
	pbAct(t, h, f.sup, id1, map[string]any{"action": "assign", "assignee": "off-east"})
	pbAct(t, h, f.off, id1, map[string]any{"action": "reply", "text": "答复"})
	post("", pbFeedback, map[string]string{"receipt_code": code1, "rating": "bad"})
	post("", pbFeedback, map[string]string{"receipt_code": code1, "rating": "dissatisfied", "comment": "不满意"})
	post("", pbReview, map[string]string{"receipt_code": code1, "reason": "不满意"})
	post("", pbReview, map[string]string{"receipt_code": code1, "reason": "再次"}) // 409
	post("", pbTrackURL, map[string]string{"receipt_code": code1 + "X"})         // malformed, holds the code
	post("", pbTrackURL, map[string]any{"receipt_code": code1, "extra": 1})      // 400
	post(pbOtherAddr, pbTrackURL, map[string]string{"receipt_code": code1})

	// Web: submit, track, feedback form.
	r = form("/submit", "unit=group%2Feast&title=%E5%B7%A5%E5%9C%B0%E5%99%AA%E9%9F%B3&content=%E5%A4%9C%E9%97%B4%E6%96%BD%E5%B7%A5")
	if r.Code != http.StatusCreated {
		t.Fatalf("web submit: %d %s", r.Code, r.Body)
	}
	code2 := pbPageCode(t, r.Body)
	codes = append(codes, code2)
	form("/track", "receipt_code="+strings.ToLower(code2))
	form("/track", "receipt_code="+code1)
	form("/review", "receipt_code="+code2+"&reason=x") // 409 page
	form("/feedback", "receipt_code="+code2+"&rating=satisfied")

	// A client that puts a code in a URL does not get it logged either.
	for _, path := range []string{pbTrackURL + "?receipt_code=" + code1, "/track?receipt_code=" + code1, "/api/v1/public/track/" + code1} {
		r := h.do("GET", path, "", nil)
		responses = append(responses, r)
		if bytes.Contains(r.Body, []byte(`id="status"`)) || (r.Code == 200 && bytes.Contains(r.Body, []byte("replied"))) {
			t.Errorf("GET %s shows the case: %d", path, r.Code)
		}
	}

	export := h.must(http.StatusOK, "GET", "/api/v1/audit/export", f.aud, nil).Body
	if len(bytes.Split(bytes.TrimSpace(export), []byte("\n"))) < 20 {
		t.Fatalf("export holds too few entries: %s", export)
	}
	var storeDump bytes.Buffer
	if err := h.v.Store().View(func(rd store.Reader) error {
		return rd.Scan(store.ScanOptions{}, func(k, v []byte) error {
			storeDump.Write(k)
			storeDump.WriteByte('\n')
			storeDump.Write(v)
			storeDump.WriteByte('\n')
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	// The search below would find a code: the log and the export hold the
	// requests that carried them.
	if !bytes.Contains(logs.Bytes(), []byte(`"route":"/api/v1/public/track"`)) || !bytes.Contains(logs.Bytes(), []byte(`"route":"/track"`)) {
		t.Fatalf("the access log misses the portal requests:\n%s", logs.Bytes())
	}
	if !bytes.Contains(export, []byte(`"action":"public.track"`)) || !bytes.Contains(export, []byte(`"action":"public.feedback"`)) {
		t.Fatalf("the export misses the portal requests")
	}
	for _, code := range codes {
		for _, form := range pbCodeForms(code) {
			if bytes.Contains(export, []byte(form)) {
				t.Errorf("audit export holds the receipt code %s", form)
			}
			if bytes.Contains(logs.Bytes(), []byte(form)) {
				t.Errorf("the log holds the receipt code %s", form)
			}
			if bytes.Contains(storeDump.Bytes(), []byte(form)) {
				t.Errorf("the store holds the receipt code %s in clear", form)
			}
			for _, r := range responses {
				for name, vals := range r.Header {
					for _, v := range vals {
						if strings.Contains(strings.ToUpper(v), strings.ToUpper(form)) {
							t.Errorf("response header %s: %s holds the code", name, v)
						}
					}
				}
				for _, u := range pbLinks(r.Body) {
					if strings.Contains(strings.ToUpper(strings.ReplaceAll(u, "-", "")), strings.ToUpper(strings.ReplaceAll(form, "-", ""))) {
						t.Errorf("link %q holds the code", u)
					}
				}
			}
		}
	}
}

// pbLinks returns the URLs in the href, src and action attributes of an
// HTML page.
func pbLinks(page []byte) []string {
	var out []string
	for _, m := range regexp.MustCompile(`(?i)\b(?:href|src|action|formaction)\s*=\s*["']?([^"'\s>]*)`).FindAllSubmatch(page, -1) {
		out = append(out, string(m[1]))
	}
	return out
}

// Every public request yields exactly one audit entry, under the request id
// the client sent, without an actor, with the keyed hash of the client
// address that an auditor gets from POST /audit/hash.
func TestPublicRequestsAudited(t *testing.T) {
	f := pbSetup(t, func(c *Config) { c.PublicFailures = 2 })
	h := f.h
	client := f.pbClient(t, pbDefaultAddr)
	if want := h.v.Hasher().Sum(vault.HashPseudonym, pbDefaultAddr); client != want {
		t.Fatalf("audit/hash of %s = %s, want %s", pbDefaultAddr, client, want)
	}
	other := f.pbClient(t, "198.51.100.7")
	if other == client {
		t.Fatalf("two addresses hash alike")
	}
	code, id := f.pbReplied(t, "答复")
	fresh := pbSubmit(t, h, pbBody())

	big := map[string]string{"receipt_code": strings.Repeat("A", 1<<20)}
	formCT := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	for i, tt := range []struct {
		name, addr, method, path string
		body                     any
		header                   map[string]string
		status                   int
		action, client           string
		object                   string
	}{
		{"units", "", "GET", pbUnits, nil, nil, 200, "public.units", client, ""},
		{"submit", "", "POST", pbPetition, pbBody(), nil, 201, "public.submit", client, "*"},
		{"submit 400", "", "POST", pbPetition, pbBody(pbSet("title", "")), nil, 400, "public.submit", client, ""},
		{"submit 415", "", "POST", pbPetition, pbBody(), formCT, 415, "public.submit", client, ""},
		{"submit 413", "", "POST", pbPetition, big, nil, 413, "public.submit", client, ""},
		{"track", "", "POST", pbTrackURL, map[string]string{"receipt_code": code}, nil, 200, "public.track", client, id},
		{"track from another address", pbOtherAddr, "POST", pbTrackURL, map[string]string{"receipt_code": code}, nil, 200, "public.track", other, id},
		{"track 400", "", "POST", pbTrackURL, map[string]any{"receipt_code": code, "x": 1}, nil, 400, "public.track", client, ""},
		{"feedback 409", "", "POST", pbFeedback, map[string]string{"receipt_code": fresh, "rating": "satisfied"}, nil, 409, "public.feedback", client, "*"},
		{"review 409", "", "POST", pbReview, map[string]string{"receipt_code": fresh, "reason": "不满意"}, nil, 409, "public.review", client, "*"},
		{"review", "", "POST", pbReview, map[string]string{"receipt_code": code, "reason": "不满意"}, nil, 204, "public.review", client, id},
		{"track 404", "", "POST", pbTrackURL, map[string]string{"receipt_code": "7KQ2-M9XD-4ZRT-8HBW-3NPE"}, nil, 404, "public.track", client, ""},
		{"feedback 404", "", "POST", pbFeedback, map[string]string{"receipt_code": "bad", "rating": "satisfied"}, nil, 404, "public.feedback", client, ""},
		{"track 429", "", "POST", pbTrackURL, map[string]string{"receipt_code": code}, nil, 429, "public.track", client, ""},
		{"web index", "", "GET", "/", nil, nil, 200, "web.index", client, ""},
		{"web submit form", "", "GET", "/submit", nil, nil, 200, "web.submit_form", client, ""},
		{"web track form", "", "GET", "/track", nil, nil, 200, "web.track_form", client, ""},
		{"web track", pbOtherAddr, "POST", "/track", "receipt_code=" + code, formCT, 200, "public.track", other, id},
		{"web track 404", pbOtherAddr, "POST", "/track", "receipt_code=nope", formCT, 404, "public.track", other, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rid := "pb-audit-" + strconv.Itoa(i)
			hdr := map[string]string{"X-Request-ID": rid}
			maps.Copy(hdr, tt.header)
			r := pbSend(h, tt.addr, req{Method: tt.method, Path: tt.path, Body: tt.body, Header: hdr})
			if r.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Code, tt.status, r.Body)
			}
			if got := r.Header.Get("X-Request-ID"); got != rid {
				t.Errorf("X-Request-ID %q, want %q", got, rid)
			}
			es := h.entries(rid)
			if len(es) != 1 {
				t.Fatalf("%d entries for %s, want 1", len(es), rid)
			}
			e := es[0]
			if e.Action != tt.action || e.Status != tt.status || e.Actor != nil || e.RequestID != rid {
				t.Errorf("entry %s, want action %s, status %d, no actor", pbEntryJSON(t, e), tt.action, tt.status)
			}
			if e.Details["client"] != tt.client {
				t.Errorf("details.client %v, want %s", e.Details["client"], tt.client)
			}
			switch tt.object {
			case "":
				if e.Object != nil && e.Object.ID != "" {
					t.Errorf("entry names %+v", e.Object)
				}
			case "*":
				if e.Object == nil || e.Object.Type != "petition" || e.Object.ID == "" {
					t.Errorf("entry object %+v, want a petition", e.Object)
				}
			default:
				if e.Object == nil || e.Object.Type != "petition" || e.Object.ID != tt.object {
					t.Errorf("entry object %+v, want petition %s", e.Object, tt.object)
				}
			}
			if tt.status == 404 || tt.status == 429 {
				if e.Decision != audit.Deny {
					t.Errorf("decision %s for %d, want deny", e.Decision, tt.status)
				}
			}
			b := pbEntryJSON(t, e)
			for _, s := range []string{pbDefaultAddr, "198.51.100.7", code, fresh} {
				if strings.Contains(b, s) {
					t.Errorf("entry holds %q: %s", s, b)
				}
			}
		})
	}
}
