package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"pvault/audit"
	"pvault/vault/store"
)

// Helpers of the petition and audit tests. Their names start with pt so that
// they do not clash with the helpers of other test files.

// ptProblem checks that r is an RFC 9457 problem document with status and
// returns it.
func ptProblem(tb testing.TB, r *resp, status int) Problem {
	tb.Helper()
	if r.Code != status {
		tb.Fatalf("status %d, want %d: %s", r.Code, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		tb.Fatalf("Content-Type = %q, want application/problem+json", ct)
	}
	var p Problem
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		tb.Fatalf("problem %q: %v", r.Body, err)
	}
	if p.Type != "about:blank" || p.Status != status || p.Title != http.StatusText(status) {
		tb.Fatalf("problem = %+v, want type about:blank, status %d, title %q", p, status, http.StatusText(status))
	}
	if rid := r.Header.Get("X-Request-ID"); p.RequestID == "" || p.RequestID != rid {
		tb.Fatalf("problem request_id %q, X-Request-ID %q", p.RequestID, rid)
	}
	return p
}

// ptEntry returns the one audit entry recorded for the request of r.
func ptEntry(tb testing.TB, h *harness, r *resp) *audit.Entry {
	tb.Helper()
	rid := r.Header.Get("X-Request-ID")
	if rid == "" {
		tb.Fatalf("response without X-Request-ID")
	}
	es := h.entries(rid)
	if len(es) != 1 {
		tb.Fatalf("%d audit entries for request %s, want exactly 1", len(es), rid)
	}
	return es[0]
}

// ptEntryBytes is the canonical encoding of e.
func ptEntryBytes(tb testing.TB, e *audit.Entry) []byte {
	tb.Helper()
	b, err := e.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// ptBody is petitionBody(unit) changed by mods.
func ptBody(unit string, mods ...func(map[string]any)) map[string]any {
	b := petitionBody(unit)
	for _, m := range mods {
		m(b)
	}
	return b
}

// ptSet returns a mod that sets key to v.
func ptSet(key string, v any) func(map[string]any) {
	return func(m map[string]any) { m[key] = v }
}

// ptDel returns a mod that removes key.
func ptDel(key string) func(map[string]any) {
	return func(m map[string]any) { delete(m, key) }
}

// ptPetitioner returns a mod that sets a petitioner field.
func ptPetitioner(key string, v any) func(map[string]any) {
	return func(m map[string]any) {
		p := maps.Clone(m["petitioner"].(map[string]any))
		p[key] = v
		m["petitioner"] = p
	}
}

// ptJSON marshals v.
func ptJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// ptSnapshot returns every key and value in the store outside the audit log
// (whose keys start with "a/").
func ptSnapshot(tb testing.TB, h *harness) map[string]string {
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

// ptSameStore fails unless the store outside the audit log is as in before.
func ptSameStore(tb testing.TB, h *harness, before map[string]string) {
	tb.Helper()
	after := ptSnapshot(tb, h)
	for k := range after {
		if _, ok := before[k]; !ok {
			tb.Errorf("store: key %q added", k)
		} else if before[k] != after[k] {
			tb.Errorf("store: key %q changed", k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			tb.Errorf("store: key %q removed", k)
		}
	}
}

// ptIndexCount counts the petitions in the x/all/ index.
func ptIndexCount(tb testing.TB, h *harness) int {
	tb.Helper()
	n := 0
	err := h.v.Store().View(func(r store.Reader) error {
		return r.Scan(store.ScanOptions{Prefix: []byte("x/all/"), KeysOnly: true}, func(_, _ []byte) error {
			n++
			return nil
		})
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// ptPage is one page of GET /petitions.
type ptPage struct {
	Items      []map[string]any `json:"items"`
	NextCursor *string          `json:"next_cursor"`
	rid        string
}

func (p *ptPage) ids() []string {
	out := make([]string, 0, len(p.Items))
	for _, it := range p.Items {
		out = append(out, it["id"].(string))
	}
	return out
}

// ptList gets one page of GET /petitions?query and requires 200.
func ptList(tb testing.TB, h *harness, token, query string) *ptPage {
	tb.Helper()
	r := h.do("GET", "/api/v1/petitions?"+query, token, nil)
	if r.Code != http.StatusOK {
		tb.Fatalf("GET /petitions?%s: status %d: %s", query, r.Code, r.Body)
	}
	var p ptPage
	if err := json.Unmarshal(r.Body, &p); err != nil {
		tb.Fatalf("list %q: %v", r.Body, err)
	}
	if p.Items == nil {
		tb.Fatalf("list without an items array: %s", r.Body)
	}
	if p.NextCursor == nil {
		tb.Fatalf("list without next_cursor: %s", r.Body)
	}
	p.rid = r.Header.Get("X-Request-ID")
	return &p
}

// ptAllIDs lists every petition visible to token (following cursors).
func ptAllIDs(tb testing.TB, h *harness, token, query string) []string {
	tb.Helper()
	var ids []string
	cursor := ""
	for range 100 {
		q := "limit=500&cursor=" + url.QueryEscape(cursor)
		if query != "" {
			q += "&" + query
		}
		p := ptList(tb, h, token, q)
		ids = append(ids, p.ids()...)
		if *p.NextCursor == "" {
			return ids
		}
		cursor = *p.NextCursor
	}
	tb.Fatal("list does not end")
	return nil
}

// ptCreate creates a petition and returns its id.
func ptCreate(tb testing.TB, h *harness, token string, body map[string]any) string {
	tb.Helper()
	return h.petition(token, body)["id"].(string)
}

// ptTime parses an RFC 3339 time of a response and checks that it is UTC.
func ptTime(tb testing.TB, v any) time.Time {
	tb.Helper()
	s, ok := v.(string)
	if !ok {
		tb.Fatalf("time %v (%T) is not a string", v, v)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		tb.Fatalf("time %q: %v", s, err)
	}
	if !strings.HasSuffix(s, "Z") {
		tb.Errorf("time %q is not in UTC", s)
	}
	return t
}

// ptKeys returns the sorted keys of m.
func ptKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

// ptPetitionKeys are the fields of a Petition in API.md.
var ptPetitionKeys = []string{"id", "unit", "channel", "title", "content", "requests", "petitioner",
	"identity_masked", "subjects", "group_size", "status", "category", "risk", "duplicates", "assignee",
	"deadlines", "overdue", "received_at", "created_at", "updated_at", "registered_by"}

// ptSummaryKeys are the fields of a petition summary in a list.
var ptSummaryKeys = []string{"id", "unit", "channel", "title", "status", "category", "risk", "assignee",
	"deadlines", "overdue", "received_at"}

var ptReceiptRE = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){4}$`)

// ptMasked is the masked identity of petitionBody's petitioner.
var ptMasked = map[string]any{"name": "张*", "id_number": "5101**********1234", "phone": "138****5678",
	"address": "四川省***", "employee_no": "***"}

// ptFull is petitionBody's petitioner.
var ptFull = map[string]any{"name": "张三", "id_number": "510104199001011234", "phone": "13812345678",
	"address": "四川省成都市武侯区", "employee_no": "E1001"}

// ptSecrets are the strings of petitionBody that must never appear outside
// the sealed envelopes and the responses to callers allowed to see them.
var ptSecrets = []string{"拖欠工资三个月", "三号工地", "张三", "510104199001011234", "13812345678", "四川省成都市", "E1001", "李经理"}

// ptCheckCategoryRisk checks the shape of category and risk when present.
func ptCheckCategoryRisk(tb testing.TB, p map[string]any) {
	tb.Helper()
	if c, ok := p["category"].(map[string]any); ok {
		if _, ok := c["label"].(string); !ok {
			tb.Errorf("category.label = %v", c["label"])
		}
		if f, ok := c["confidence"].(float64); !ok || f < 0 || f > 1 {
			tb.Errorf("category.confidence = %v", c["confidence"])
		}
		if _, ok := c["source"].(string); !ok {
			tb.Errorf("category.source = %v", c["source"])
		}
	} else if p["category"] != nil {
		tb.Errorf("category = %v", p["category"])
	}
	if r, ok := p["risk"].(map[string]any); ok {
		if !slices.Contains([]any{"low", "medium", "high", "critical"}, r["level"]) {
			tb.Errorf("risk.level = %v", r["level"])
		}
		if _, ok := r["score"].(float64); !ok {
			tb.Errorf("risk.score = %v", r["score"])
		}
		if _, ok := r["reasons"].([]any); !ok {
			tb.Errorf("risk.reasons = %v", r["reasons"])
		}
	} else if p["risk"] != nil {
		tb.Errorf("risk = %v", p["risk"])
	}
}

func TestPetitionsCreateShape(t *testing.T) {
	h := newHarness(t)
	_, reg := h.user("reg1", "group/east", "registrar")
	now := h.clock.Now()

	body := ptBody("group/east/site-3", ptSet("requests", "补发三个月工资"))
	r := h.must(http.StatusCreated, "POST", "/api/v1/petitions", reg, body)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
	if r.Header.Get("X-Request-ID") == "" {
		t.Error("no X-Request-ID")
	}
	p := r.JSON(t)
	if got, want := ptKeys(p), slices.Sorted(slices.Values(append(slices.Clone(ptPetitionKeys), "receipt_code"))); !slices.Equal(got, want) {
		t.Fatalf("fields = %v\nwant     %v", got, want)
	}
	id := p["id"].(string)
	for _, tt := range []struct {
		field string
		want  any
	}{
		{"unit", "group/east/site-3"},
		{"channel", "letter"},
		{"title", "拖欠工资三个月"},
		{"content", "我们在三号工地干活，项目部已经拖欠我们三个月工资。"},
		{"requests", "补发三个月工资"},
		{"petitioner", ptMasked},
		{"identity_masked", true},
		{"subjects", []any{"李经理"}},
		{"group_size", float64(3)},
		{"status", "registered"},
		{"duplicates", []any{}},
		{"assignee", nil},
		{"overdue", false},
		{"registered_by", "reg1"},
	} {
		if got := p[tt.field]; !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s = %#v, want %#v", tt.field, got, tt.want)
		}
	}
	ptCheckCategoryRisk(t, p)
	if code, _ := p["receipt_code"].(string); !ptReceiptRE.MatchString(code) {
		t.Errorf("receipt_code = %q, want XXXX-XXXX-XXXX-XXXX-XXXX", code)
	}
	for _, f := range []string{"received_at", "created_at", "updated_at"} {
		if got := ptTime(t, p[f]); !got.Equal(now) {
			t.Errorf("%s = %v, want %v", f, got, now)
		}
	}
	dl, _ := p["deadlines"].(map[string]any)
	if got, want := ptKeys(dl), []string{"accept_by", "resolve_by", "review_by", "review_request_by"}; !slices.Equal(got, want) {
		t.Fatalf("deadlines fields = %v, want %v", got, want)
	}
	if got := ptTime(t, dl["accept_by"]); !got.Equal(now.Add(15 * 24 * time.Hour)) {
		t.Errorf("accept_by = %v, want received_at + 15 days", got)
	}
	for _, f := range []string{"resolve_by", "review_request_by", "review_by"} {
		if dl[f] != nil {
			t.Errorf("deadlines.%s = %v, want null", f, dl[f])
		}
	}

	t.Run("read back", func(t *testing.T) {
		g := h.must(http.StatusOK, "GET", "/api/v1/petitions/"+id, reg, nil).JSON(t)
		if _, ok := g["receipt_code"]; ok {
			t.Errorf("receipt_code shown again on read")
		}
		want := maps.Clone(p)
		delete(want, "receipt_code")
		if !reflect.DeepEqual(g, want) {
			t.Errorf("read = %v\nwant   %v", g, want)
		}
	})

	t.Run("audit entry", func(t *testing.T) {
		e := ptEntry(t, h, r)
		if e.Action != "petition.create" || e.Decision != audit.Allow || e.Status != http.StatusCreated ||
			e.Object == nil || e.Object.Type != "petition" || e.Object.ID != id || e.Actor == nil || e.Actor.Username != "reg1" {
			t.Errorf("entry = %s", ptEntryBytes(t, e))
		}
		b := ptEntryBytes(t, e)
		for _, s := range append(slices.Clone(ptSecrets), p["receipt_code"].(string)) {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("audit entry holds %q: %s", s, b)
			}
		}
	})

	t.Run("plaintext and receipt code not stored", func(t *testing.T) {
		code := p["receipt_code"].(string)
		secrets := append(slices.Clone(ptSecrets), code, strings.ReplaceAll(code, "-", ""))
		for k, v := range ptSnapshot(t, h) {
			for _, s := range secrets {
				if strings.Contains(k, s) || strings.Contains(v, s) {
					t.Errorf("store key %q holds %q in plaintext", k, s)
				}
			}
		}
	})

	t.Run("received_at given", func(t *testing.T) {
		for _, tt := range []struct {
			name, in string
			want     time.Time
		}{
			{"UTC", "2026-02-20T08:30:00Z", time.Date(2026, 2, 20, 8, 30, 0, 0, time.UTC)},
			{"offset", "2026-02-27T08:30:00+08:00", time.Date(2026, 2, 27, 0, 30, 0, 0, time.UTC)},
			{"fraction", "2026-02-28T23:59:59.5Z", time.Date(2026, 2, 28, 23, 59, 59, 5e8, time.UTC)},
			{"now", now.Format(time.RFC3339), now},
		} {
			t.Run(tt.name, func(t *testing.T) {
				p := h.petition(reg, ptBody("group/east", ptSet("received_at", tt.in)))
				if got := ptTime(t, p["received_at"]); !got.Equal(tt.want) {
					t.Errorf("received_at = %v, want %v", got, tt.want)
				}
				dl := p["deadlines"].(map[string]any)
				if got := ptTime(t, dl["accept_by"]); !got.Equal(tt.want.Add(15 * 24 * time.Hour)) {
					t.Errorf("accept_by = %v, want %v", got, tt.want.Add(15*24*time.Hour))
				}
				if got := ptTime(t, p["created_at"]); !got.Equal(now) {
					t.Errorf("created_at = %v, want %v", got, now)
				}
			})
		}
	})

	t.Run("anonymous", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			mod  func(map[string]any)
		}{
			{"petitioner omitted", ptDel("petitioner")},
			{"petitioner null", ptSet("petitioner", nil)},
		} {
			t.Run(tt.name, func(t *testing.T) {
				r := h.must(http.StatusCreated, "POST", "/api/v1/petitions", reg, ptBody("group/east", tt.mod))
				p := r.JSON(t)
				if v, ok := p["petitioner"]; !ok || v != nil {
					t.Errorf("petitioner = %v (present %v), want null", v, ok)
				}
				if p["identity_masked"] != true {
					t.Errorf("identity_masked = %v", p["identity_masked"])
				}
				if code, _ := p["receipt_code"].(string); !ptReceiptRE.MatchString(code) {
					t.Errorf("receipt_code = %q", code)
				}
				g := h.must(http.StatusOK, "GET", "/api/v1/petitions/"+p["id"].(string), reg, nil).JSON(t)
				if v, ok := g["petitioner"]; !ok || v != nil {
					t.Errorf("read: petitioner = %v (present %v), want null", v, ok)
				}
			})
		}
	})

	t.Run("boundaries accepted", func(t *testing.T) {
		subjects := make([]any, 20)
		for i := range subjects {
			subjects[i] = fmt.Sprintf("被反映人%d", i)
		}
		for _, tt := range []struct {
			name string
			mod  func(map[string]any)
		}{
			{"title 200 characters", ptSet("title", strings.Repeat("题", 200))},
			{"content 20000 characters", ptSet("content", strings.Repeat("内", 20000))},
			{"content with line breaks and tabs", ptSet("content", "第一行\n第二行\r\n\t第三行")},
			{"requests 5000 characters", ptSet("requests", strings.Repeat("求", 5000))},
			{"20 subjects", ptSet("subjects", subjects)},
			{"no subjects", ptDel("subjects")},
			{"group_size 1", ptSet("group_size", 1)},
			{"group_size omitted", ptDel("group_size")},
		} {
			t.Run(tt.name, func(t *testing.T) {
				h.petition(reg, ptBody("group/east", tt.mod))
			})
		}
		for _, ch := range []string{"letter", "visit", "phone", "online", "email", "hotline"} {
			t.Run("channel "+ch, func(t *testing.T) {
				if got := h.petition(reg, ptBody("group/east", ptSet("channel", ch)))["channel"]; got != ch {
					t.Errorf("channel = %v", got)
				}
			})
		}
	})
}

func TestPetitionsCreateBadInput(t *testing.T) {
	h := newHarness(t)
	_, reg := h.user("reg1", "group/east", "registrar")
	_, sup := h.user("sup-root", "group", "supervisor")
	h.petition(reg, petitionBody("group/east"))
	valid := ptJSON(t, petitionBody("group/east/new-unit"))

	subjects21 := make([]any, 21)
	for i := range subjects21 {
		subjects21[i] = fmt.Sprintf("被反映人%d", i)
	}
	deep := strings.Repeat("[", 40) + strings.Repeat("]", 40)
	big := ptBody("group/east", ptSet("content", strings.Repeat("a", 1<<20+10)))

	type row struct {
		name       string
		body       any // map, []byte or string
		header     map[string]string
		wantStatus int
		wantDetail string // a substring of the detail: the field, where there is one
	}
	rows := []row{
		{"missing title", ptBody("group/east", ptDel("title")), nil, 400, "title"},
		{"empty title", ptBody("group/east", ptSet("title", "")), nil, 400, "title"},
		{"null title", ptBody("group/east", ptSet("title", nil)), nil, 400, "title"},
		{"blank title", ptBody("group/east", ptSet("title", "   ")), nil, 400, "title"},
		{"title 201 characters", ptBody("group/east", ptSet("title", strings.Repeat("题", 201))), nil, 400, "title"},
		{"missing content", ptBody("group/east", ptDel("content")), nil, 400, "content"},
		{"content 20001 characters", ptBody("group/east", ptSet("content", strings.Repeat("内", 20001))), nil, 400, "content"},
		{"requests 5001 characters", ptBody("group/east", ptSet("requests", strings.Repeat("求", 5001))), nil, 400, "requests"},
		{"unknown channel", ptBody("group/east", ptSet("channel", "fax")), nil, 400, "channel"},
		{"missing channel", ptBody("group/east", ptDel("channel")), nil, 400, "channel"},
		{"channel in capitals", ptBody("group/east", ptSet("channel", "LETTER")), nil, 400, "channel"},
		{"missing unit", ptBody("group/east", ptDel("unit")), nil, 400, "unit"},
		{"unit with capitals", ptBody("Group/East"), nil, 400, "unit"},
		{"unit with empty segment", ptBody("group//east"), nil, 400, "unit"},
		{"unit with trailing slash", ptBody("group/east/"), nil, 400, "unit"},
		{"unit with dot-dot", ptBody("group/../east"), nil, 400, "unit"},
		{"unit with space", ptBody("group/east side"), nil, 400, "unit"},
		{"unit too deep", ptBody("a/b/c/d/e/f/g/h/i"), nil, 400, "unit"},
		{"tab in title", ptBody("group/east", ptSet("title", "拖欠\t工资")), nil, 400, "title"},
		{"line break in title", ptBody("group/east", ptSet("title", "拖欠\n工资")), nil, 400, "title"},
		{"bell in title", ptBody("group/east", ptSet("title", "拖欠\a工资")), nil, 400, "title"},
		{"DEL in title", ptBody("group/east", ptSet("title", "拖欠\x7f工资")), nil, 400, "title"},
		{"line separator in title", ptBody("group/east", ptSet("title", "拖欠\u2028工资")), nil, 400, "title"},
		{"escape in content", ptBody("group/east", ptSet("content", "拖欠\x1b[31m工资")), nil, 400, "content"},
		{"control character in petitioner name", ptBody("group/east", ptPetitioner("name", "张\r三")), nil, 400, "petitioner.name"},
		{"control character in subject", ptBody("group/east", ptSet("subjects", []any{"李\n经理"})), nil, 400, "subjects"},
		{"NUL in title", ptBody("group/east", ptSet("title", "拖欠\x00工资")), nil, 400, "title"},
		{"NUL in content", ptBody("group/east", ptSet("content", "拖欠\x00工资")), nil, 400, "content"},
		{"NUL in requests", ptBody("group/east", ptSet("requests", "\x00")), nil, 400, "requests"},
		{"raw NUL byte in body", bytes.Replace(valid, []byte(`"letter"`), []byte("\"let\x00ter\""), 1), nil, 400, "JSON"},
		{"invalid UTF-8 body", bytes.Replace(valid, []byte("拖欠工资三个月"), []byte("\xff\xfe\xfd"), 1), nil, 400, "UTF-8"},
		{"truncated UTF-8 sequence", bytes.Replace(valid, []byte("拖欠工资三个月"), []byte("\xe6\x8b"), 1), nil, 400, "UTF-8"},
		{"lone surrogate escape in title", bytes.Replace(valid, []byte(`"拖欠工资三个月"`), []byte(`"\ud800"`), 1), nil, 400, "title"},
		{"unknown field", ptBody("group/east", ptSet("colour", "red")), nil, 400, `"colour"`},
		{"unknown petitioner field", ptBody("group/east", ptPetitioner("age", 40)), nil, 400, `"age"`},
		{"receipt_code in input", ptBody("group/east", ptSet("receipt_code", "AAAA-AAAA-AAAA-AAAA-AAAA")), nil, 400, "receipt_code"},
		{"status in input", ptBody("group/east", ptSet("status", "closed")), nil, 400, "status"},
		{"trailing object", append(slices.Clone(valid), []byte(` {}`)...), nil, 400, "trailing"},
		{"trailing garbage", append(slices.Clone(valid), []byte(`x`)...), nil, 400, ""},
		{"two bodies", append(slices.Clone(valid), valid...), nil, 400, "trailing"},
		{"duplicate key", append([]byte(`{"title":"另一个标题",`), valid[1:]...), nil, 400, `duplicate key "title"`},
		{"field name in capitals", bytes.Replace(valid, []byte(`"title":`), []byte(`"TITLE":`), 1), nil, 400, `TITLE`},
		{"duplicate key differing in case", append([]byte(`{"Title":"另一个标题",`), valid[1:]...), nil, 400, `itle`},
		{"duplicate petitioner key", bytes.Replace(valid, []byte(`"name":"张三"`), []byte(`"name":"张三","name":"李四"`), 1), nil, 400, `duplicate key "name"`},
		{"received_at in the future", ptBody("group/east", ptSet("received_at", "2026-03-01T10:00:00Z")), nil, 400, "received_at"},
		{"received_at next year", ptBody("group/east", ptSet("received_at", "2027-01-01T00:00:00Z")), nil, 400, "received_at"},
		{"received_at without zone", ptBody("group/east", ptSet("received_at", "2026-02-01T08:00:00")), nil, 400, "received_at"},
		{"received_at with a space", ptBody("group/east", ptSet("received_at", "2026-02-01 08:00:00Z")), nil, 400, "received_at"},
		{"received_at a date", ptBody("group/east", ptSet("received_at", "2026-02-01")), nil, 400, "received_at"},
		{"received_at impossible date", ptBody("group/east", ptSet("received_at", "2026-02-30T08:00:00Z")), nil, 400, "received_at"},
		{"received_at words", ptBody("group/east", ptSet("received_at", "yesterday")), nil, 400, "received_at"},
		{"received_at empty", ptBody("group/east", ptSet("received_at", "")), nil, 400, "received_at"},
		{"group_size 0", ptBody("group/east", ptSet("group_size", 0)), nil, 400, "group_size"},
		{"group_size -1", ptBody("group/east", ptSet("group_size", -1)), nil, 400, "group_size"},
		{"group_size 100001", ptBody("group/east", ptSet("group_size", 100001)), nil, 400, "group_size"},
		{"group_size 10^12", ptBody("group/east", ptSet("group_size", int64(1e12))), nil, 400, "group_size"},
		{"group_size 2^63", bytes.Replace(valid, []byte(`"group_size":3`), []byte(`"group_size":9223372036854775808`), 1), nil, 400, "group_size"},
		{"group_size 1e400", bytes.Replace(valid, []byte(`"group_size":3`), []byte(`"group_size":1e400`), 1), nil, 400, "group_size"},
		{"group_size 1.5", ptBody("group/east", ptSet("group_size", 1.5)), nil, 400, "group_size"},
		{"21 subjects", ptBody("group/east", ptSet("subjects", subjects21)), nil, 400, "subjects"},
		{"empty subject", ptBody("group/east", ptSet("subjects", []any{""})), nil, 400, "subjects"},
		{"subject 101 characters", ptBody("group/east", ptSet("subjects", []any{strings.Repeat("李", 101)})), nil, 400, "subjects"},
		{"petitioner name 101 characters", ptBody("group/east", ptPetitioner("name", strings.Repeat("张", 101))), nil, 400, "petitioner.name"},
		{"title a number", ptBody("group/east", ptSet("title", 5)), nil, 400, "title"},
		{"content a boolean", ptBody("group/east", ptSet("content", true)), nil, 400, "content"},
		{"unit an array", ptBody("group/east", ptSet("unit", []any{"group"})), nil, 400, "unit"},
		{"channel an object", ptBody("group/east", ptSet("channel", map[string]any{})), nil, 400, "channel"},
		{"subjects a string", ptBody("group/east", ptSet("subjects", "李经理")), nil, 400, "subjects"},
		{"subjects of numbers", ptBody("group/east", ptSet("subjects", []any{1})), nil, 400, "subjects"},
		{"petitioner a string", ptBody("group/east", ptSet("petitioner", "张三")), nil, 400, "petitioner"},
		{"petitioner name a number", ptBody("group/east", ptPetitioner("name", 5)), nil, 400, "petitioner.name"},
		{"group_size a string", ptBody("group/east", ptSet("group_size", "3")), nil, 400, "group_size"},
		{"received_at a number", ptBody("group/east", ptSet("received_at", 1767225600)), nil, 400, "received_at"},
		{"body an array", `[]`, nil, 400, "object"},
		{"body a string", `"petition"`, nil, 400, ""},
		{"empty body", ``, nil, 400, "empty"},
		{"malformed JSON", `{"unit":`, nil, 400, "JSON"},
		{"nesting too deep", `{"subjects":` + deep + `}`, nil, 400, "nested"},
		{"text/plain", ptBody("group/east"), map[string]string{"Content-Type": "text/plain"}, 415, ""},
		{"no content type", ptBody("group/east"), map[string]string{"Content-Type": ""}, 415, ""},
		{"form", ptBody("group/east"), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, ""},
		{"JSON in Latin-1", ptBody("group/east"), map[string]string{"Content-Type": "application/json; charset=iso-8859-1"}, 415, ""},
		{"malformed content type", ptBody("group/east"), map[string]string{"Content-Type": "application/json; ="}, 415, ""},
		{"body over 1 MiB", big, nil, 413, ""},
		{"body over 1 MiB of whitespace", append(slices.Clone(valid), bytes.Repeat([]byte(" "), 1<<20)...), nil, 413, ""},
	}

	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			before := ptSnapshot(t, h)
			count := len(ptAllIDs(t, h, sup, ""))
			index := ptIndexCount(t, h)
			r := h.send(req{Method: "POST", Path: "/api/v1/petitions", Token: reg, Body: tt.body, Header: tt.header})
			p := ptProblem(t, r, tt.wantStatus)
			if !strings.Contains(p.Detail, tt.wantDetail) {
				t.Errorf("detail %q does not name %q", p.Detail, tt.wantDetail)
			}
			if p.Detail == "" {
				t.Errorf("empty detail")
			}
			e := ptEntry(t, h, r)
			if e.Action != "petition.create" || e.Status != tt.wantStatus || e.Decision != audit.Allow {
				t.Errorf("entry = %s", ptEntryBytes(t, e))
			}
			if e.Object != nil && e.Object.ID != "" {
				t.Errorf("entry names a petition for a failed create: %s", ptEntryBytes(t, e))
			}
			ptSameStore(t, h, before)
			if n := ptIndexCount(t, h); n != index {
				t.Errorf("x/all index holds %d petitions, want %d", n, index)
			}
			if n := len(ptAllIDs(t, h, sup, "")); n != count {
				t.Errorf("supervisor sees %d petitions, want %d", n, count)
			}
		})
	}
}

func TestPetitionsCreateRoles(t *testing.T) {
	h := newHarness(t)
	users := map[string]string{"admin": h.admin}
	for _, u := range []struct{ name, unit, role string }{
		{"reg-east", "group/east", "registrar"},
		{"off-east", "group/east", "officer"},
		{"sup-east", "group/east", "supervisor"},
		{"aud-root", "group", "auditor"},
		{"adm-east", "group/east", "admin"},
		{"sup-root", "group", "supervisor"},
	} {
		_, users[u.name] = h.user(u.name, u.unit, u.role)
	}
	for _, tt := range []struct {
		user, unit string
		want       int
	}{
		{"reg-east", "group/east", 201},
		{"reg-east", "group/east/site-3", 201},
		{"reg-east", "group/west", 403},
		{"reg-east", "group", 403},
		{"reg-east", "group/eastern", 403},
		{"off-east", "group/east", 201},
		{"off-east", "group/east/site-3/team-1", 201},
		{"off-east", "group/west", 403},
		{"off-east", "group", 403},
		{"sup-east", "group/east", 201},
		{"sup-east", "group/east/site-4", 201},
		{"sup-east", "group/west/site-4", 403},
		{"sup-east", "group", 403},
		{"sup-east", "other", 403},
		{"sup-root", "group/west", 201},
		{"admin", "group", 403},
		{"admin", "group/east", 403},
		{"adm-east", "group/east", 403},
		{"aud-root", "group", 403},
		{"aud-root", "group/east", 403},
		{"", "group/east", 401},
	} {
		t.Run(fmt.Sprintf("%s in %s", tt.user, tt.unit), func(t *testing.T) {
			index := ptIndexCount(t, h)
			r := h.do("POST", "/api/v1/petitions", users[tt.user], petitionBody(tt.unit))
			e := ptEntry(t, h, r)
			if e.Action != "petition.create" || e.Status != tt.want {
				t.Errorf("entry = %s", ptEntryBytes(t, e))
			}
			if tt.want != http.StatusCreated {
				ptProblem(t, r, tt.want)
				if e.Decision != audit.Deny {
					t.Errorf("decision %q, want deny", e.Decision)
				}
				if n := ptIndexCount(t, h); n != index {
					t.Errorf("petition stored after %d", tt.want)
				}
				return
			}
			if r.Code != http.StatusCreated {
				t.Fatalf("status %d, want 201: %s", r.Code, r.Body)
			}
			p := r.JSON(t)
			if p["unit"] != tt.unit || p["registered_by"] != tt.user {
				t.Errorf("unit %v registered_by %v", p["unit"], p["registered_by"])
			}
			if e.Decision != audit.Allow {
				t.Errorf("decision %q, want allow", e.Decision)
			}
		})
	}
}

func TestPetitionsReadVisibility(t *testing.T) {
	h := newHarness(t)
	tok := map[string]string{"admin": h.admin}
	for _, u := range []struct{ name, unit, role string }{
		{"reg-a", "group/east", "registrar"},
		{"reg-b", "group/east", "registrar"},
		{"off-east", "group/east", "officer"},
		{"sup-east", "group/east", "supervisor"},
		{"sup-site", "group/east/site-3", "supervisor"},
		{"sup-west", "group/west", "supervisor"},
		{"sup-root", "group", "supervisor"},
		{"aud-root", "group", "auditor"},
	} {
		_, tok[u.name] = h.user(u.name, u.unit, u.role)
	}
	pEast := ptCreate(t, h, tok["reg-a"], petitionBody("group/east"))
	pSite := ptCreate(t, h, tok["reg-b"], petitionBody("group/east/site-3"))

	unknown := h.do("GET", "/api/v1/petitions/01ARZ3NDEKTSV4RRFFQ69G5FAV", tok["sup-root"], nil)
	notFound := ptProblem(t, unknown, http.StatusNotFound)

	for _, tt := range []struct {
		user, id string
		want     int
	}{
		{"reg-a", pEast, 200},
		{"reg-a", pSite, 404},
		{"reg-b", pEast, 404},
		{"reg-b", pSite, 200},
		{"off-east", pEast, 404},
		{"off-east", pSite, 404},
		{"sup-east", pEast, 200},
		{"sup-east", pSite, 200},
		{"sup-site", pEast, 404}, // parent unit
		{"sup-site", pSite, 200},
		{"sup-west", pEast, 404}, // sibling unit
		{"sup-west", pSite, 404},
		{"sup-root", pEast, 200},
		{"sup-root", pSite, 200},
		{"admin", pEast, 403},
		{"aud-root", pEast, 403},
		{"", pEast, 401},
	} {
		name := map[string]string{pEast: "group/east", pSite: "group/east/site-3"}[tt.id]
		t.Run(tt.user+" reads "+name, func(t *testing.T) {
			r := h.do("GET", "/api/v1/petitions/"+tt.id, tok[tt.user], nil)
			e := ptEntry(t, h, r)
			if e.Action != "petition.read" || e.Status != tt.want {
				t.Errorf("entry = %s", ptEntryBytes(t, e))
			}
			switch tt.want {
			case 200:
				if r.Code != 200 {
					t.Fatalf("status %d: %s", r.Code, r.Body)
				}
				p := r.JSON(t)
				if p["id"] != tt.id || p["identity_masked"] != true || !reflect.DeepEqual(p["petitioner"], ptMasked) {
					t.Errorf("petition = %s", r.Body)
				}
				if e.Decision != audit.Allow || e.Object == nil || e.Object.ID != tt.id {
					t.Errorf("entry = %s", ptEntryBytes(t, e))
				}
			case 404:
				p := ptProblem(t, r, 404)
				// Out of reach looks exactly like missing.
				if p.Detail != notFound.Detail || p.Title != notFound.Title {
					t.Errorf("hidden 404 %+v differs from missing 404 %+v", p, notFound)
				}
				for _, s := range ptSecrets {
					if bytes.Contains(r.Body, []byte(s)) {
						t.Errorf("404 body holds %q", s)
					}
				}
				if e.Decision != audit.Deny {
					t.Errorf("decision %q, want deny for a hidden petition", e.Decision)
				}
			default:
				ptProblem(t, r, tt.want)
				if e.Decision != audit.Deny {
					t.Errorf("decision %q, want deny", e.Decision)
				}
			}
		})
	}

	t.Run("lists", func(t *testing.T) {
		for _, tt := range []struct {
			user string
			want []string // newest first
		}{
			{"reg-a", []string{pEast}},
			{"reg-b", []string{pSite}},
			{"off-east", []string{}},
			{"sup-east", []string{pSite, pEast}},
			{"sup-site", []string{pSite}},
			{"sup-west", []string{}},
			{"sup-root", []string{pSite, pEast}},
		} {
			t.Run(tt.user, func(t *testing.T) {
				p := ptList(t, h, tok[tt.user], "")
				if got := p.ids(); !slices.Equal(got, tt.want) {
					t.Errorf("ids = %v, want %v", got, tt.want)
				}
				if *p.NextCursor != "" {
					t.Errorf("next_cursor = %q on the only page", *p.NextCursor)
				}
			})
		}
		for _, u := range []string{"admin", "aud-root"} {
			t.Run(u, func(t *testing.T) {
				ptProblem(t, h.do("GET", "/api/v1/petitions", tok[u], nil), http.StatusForbidden)
			})
		}
	})

	t.Run("unknown and malformed ids", func(t *testing.T) {
		for _, id := range []string{
			"01ARZ3NDEKTSV4RRFFQ69G5FAV",
			"7ZZZZZZZZZZZZZZZZZZZZZZZZZ",
			strings.ToLower(pEast),
			pEast + "0",
			pEast[:25],
			"not-an-id",
			"0",
			"%00",
			"..%2F..%2Fusers",
			"%E5%BC%A0%E4%B8%89",
			strings.Repeat("A", 300),
		} {
			t.Run(id, func(t *testing.T) {
				r := h.do("GET", "/api/v1/petitions/"+id, tok["sup-root"], nil)
				p := ptProblem(t, r, http.StatusNotFound)
				if p.Detail != notFound.Detail {
					t.Errorf("detail %q, want %q", p.Detail, notFound.Detail)
				}
				e := ptEntry(t, h, r)
				if e.Status != http.StatusNotFound {
					t.Errorf("entry = %s", ptEntryBytes(t, e))
				}
			})
		}
	})
}

func TestPetitionsSubjectRule(t *testing.T) {
	h := newHarness(t)
	tok := map[string]string{}
	for _, u := range []struct{ name, display, unit, role string }{
		{"reg-x", "登记员", "group/east", "registrar"},
		{"reg-self", "自己", "group/east", "registrar"},
		{"sup-li", "李经理", "group", "supervisor"},
		{"sup-wang", "王主任", "group", "supervisor"},
		{"sup-zhao", "赵主任", "group", "supervisor"},
		{"sup-east-li", "李经理", "group/east", "supervisor"},
	} {
		_, tok[u.name] = h.userNamed(u.name, u.display, u.unit, u.role)
	}
	subj := func(names ...any) func(map[string]any) { return ptSet("subjects", names) }
	pDisplay := ptCreate(t, h, tok["reg-x"], ptBody("group/east", subj("李经理")))
	pUser := ptCreate(t, h, tok["reg-x"], ptBody("group/east", subj("sup-wang")))
	pUpper := ptCreate(t, h, tok["reg-x"], ptBody("group/east", subj("张三丰", " SUP-LI ")))
	pWide := ptCreate(t, h, tok["reg-x"], ptBody("group/east", subj("ＳＵＰ－ＷＡＮＧ")))
	pSelf := ptCreate(t, h, tok["reg-self"], ptBody("group/east", subj("reg-self")))
	pNone := ptCreate(t, h, tok["reg-x"], ptBody("group/east", subj("不相关的人")))
	name := map[string]string{pDisplay: "display name", pUser: "username", pUpper: "username in capitals",
		pWide: "full-width username", pSelf: "own registration", pNone: "nobody"}

	for _, tt := range []struct {
		user, id string
		want     int
	}{
		{"sup-li", pDisplay, 404},
		{"sup-east-li", pDisplay, 404},
		{"sup-wang", pUser, 404},
		{"sup-li", pUpper, 404},
		{"sup-wang", pWide, 404},
		{"sup-li", pWide, 200},
		{"reg-self", pSelf, 404},
		{"sup-zhao", pDisplay, 200},
		{"sup-zhao", pUser, 200},
		{"sup-zhao", pUpper, 200},
		{"sup-wang", pDisplay, 200},
		{"sup-li", pUser, 200},
		{"sup-li", pNone, 200},
		{"sup-east-li", pUser, 200},
	} {
		t.Run(tt.user+" reads "+name[tt.id], func(t *testing.T) {
			r := h.do("GET", "/api/v1/petitions/"+tt.id, tok[tt.user], nil)
			if tt.want != http.StatusOK {
				ptProblem(t, r, tt.want)
				if e := ptEntry(t, h, r); e.Decision != audit.Deny {
					t.Errorf("decision %q, want deny", e.Decision)
				}
				// Nor may they reveal it.
				rr := h.send(req{Method: "GET", Path: "/api/v1/petitions/" + tt.id + "?reveal=identity", Token: tok[tt.user],
					Header: map[string]string{"X-Access-Reason": "核实信访人身份以便回访"}})
				ptProblem(t, rr, http.StatusNotFound)
				return
			}
			if r.Code != http.StatusOK {
				t.Fatalf("status %d: %s", r.Code, r.Body)
			}
		})
	}

	t.Run("lists", func(t *testing.T) {
		for _, tt := range []struct {
			user string
			want []string
		}{
			{"sup-li", []string{pNone, pSelf, pWide, pUser}},
			{"sup-east-li", []string{pNone, pSelf, pWide, pUpper, pUser}},
			{"sup-wang", []string{pNone, pSelf, pUpper, pDisplay}},
			{"sup-zhao", []string{pNone, pSelf, pWide, pUpper, pUser, pDisplay}},
			{"reg-self", []string{}},
			{"reg-x", []string{pNone, pWide, pUpper, pUser, pDisplay}},
		} {
			t.Run(tt.user, func(t *testing.T) {
				if got := ptAllIDs(t, h, tok[tt.user], ""); !slices.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
					t.Errorf("ids = %v, want %v", got, tt.want)
				}
				// Paging one by one skips the hidden ones without losing any.
				var got []string
				cursor := ""
				for range 10 {
					p := ptList(t, h, tok[tt.user], "limit=1&cursor="+url.QueryEscape(cursor))
					got = append(got, p.ids()...)
					if *p.NextCursor == "" {
						break
					}
					cursor = *p.NextCursor
				}
				if !slices.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
					t.Errorf("paged ids = %v, want %v", got, tt.want)
				}
			})
		}
	})
}

func TestPetitionsReveal(t *testing.T) {
	h := newHarness(t)
	tok := map[string]string{"admin": h.admin}
	for _, u := range []struct{ name, unit, role string }{
		{"reg-a", "group/east", "registrar"},
		{"reg-b", "group/east", "registrar"},
		{"off-east", "group/east", "officer"},
		{"sup-east", "group/east", "supervisor"},
		{"aud-root", "group", "auditor"},
	} {
		_, tok[u.name] = h.user(u.name, u.unit, u.role)
	}
	id := ptCreate(t, h, tok["reg-a"], petitionBody("group/east"))
	anon := ptCreate(t, h, tok["reg-a"], ptBody("group/east", ptDel("petitioner")))
	reason := "核实信访人身份，以便电话回访 (case #12)"

	type row struct {
		name       string
		user, id   string
		query      string
		reason     *string
		wantStatus int
		wantDetail string
	}
	str := func(s string) *string { return &s }
	for _, tt := range []row{
		{"registrar who registered it", "reg-a", id, "reveal=identity", str(reason), 200, ""},
		{"supervisor in scope", "sup-east", id, "reveal=identity", str(reason), 200, ""},
		{"reason of 10 ASCII characters", "reg-a", id, "reveal=identity", str("0123456789"), 200, ""},
		{"reason of 10 Chinese characters", "reg-a", id, "reveal=identity", str("因工作需要核实其身份"), 200, ""},
		{"reason of 500 characters", "reg-a", id, "reveal=identity", str(strings.Repeat("因", 500)), 200, ""},
		{"anonymous petition", "reg-a", anon, "reveal=identity", str(reason), 200, ""},
		{"no reason", "reg-a", id, "reveal=identity", nil, 400, "X-Access-Reason"},
		{"empty reason", "reg-a", id, "reveal=identity", str(""), 400, "X-Access-Reason"},
		{"reason of 9 characters", "reg-a", id, "reveal=identity", str("012345678"), 400, "X-Access-Reason"},
		{"reason of 9 Chinese characters", "reg-a", id, "reveal=identity", str("因工作需要核实身份"), 400, "X-Access-Reason"},
		{"reason of 501 characters", "reg-a", id, "reveal=identity", str(strings.Repeat("因", 501)), 400, "X-Access-Reason"},
		{"blank reason", "reg-a", id, "reveal=identity", str(strings.Repeat(" ", 12)), 400, "X-Access-Reason"},
		{"reveal=other", "reg-a", id, "reveal=other", str(reason), 400, "reveal"},
		{"reveal empty", "reg-a", id, "reveal=", str(reason), 400, "reveal"},
		{"reveal=IDENTITY", "reg-a", id, "reveal=IDENTITY", str(reason), 400, "reveal"},
		{"registrar of another petition", "reg-b", id, "reveal=identity", str(reason), 404, ""},
		{"officer not assigned", "off-east", id, "reveal=identity", str(reason), 404, ""},
		{"admin", "admin", id, "reveal=identity", str(reason), 403, ""},
		{"auditor", "aud-root", id, "reveal=identity", str(reason), 403, ""},
		{"no token", "", id, "reveal=identity", str(reason), 401, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tt.reason != nil && *tt.reason != "" {
				hdr["X-Access-Reason"] = *tt.reason
			}
			r := h.send(req{Method: "GET", Path: "/api/v1/petitions/" + tt.id + "?" + tt.query, Token: tok[tt.user], Header: hdr})
			e := ptEntry(t, h, r)
			// (An unauthenticated request is recorded before the handler
			// knows what it asked for.)
			if (e.Action != "petition.reveal_identity" && tt.wantStatus != http.StatusUnauthorized) || e.Status != tt.wantStatus {
				t.Errorf("entry = %s", ptEntryBytes(t, e))
			}
			if tt.wantStatus != http.StatusOK {
				p := ptProblem(t, r, tt.wantStatus)
				if !strings.Contains(p.Detail, tt.wantDetail) {
					t.Errorf("detail %q does not name %q", p.Detail, tt.wantDetail)
				}
				for _, s := range ptSecrets {
					if bytes.Contains(r.Body, []byte(s)) {
						t.Errorf("body holds %q", s)
					}
				}
				return
			}
			if r.Code != http.StatusOK {
				t.Fatalf("status %d: %s", r.Code, r.Body)
			}
			p := r.JSON(t)
			if p["identity_masked"] != false {
				t.Errorf("identity_masked = %v, want false", p["identity_masked"])
			}
			want := any(ptFull)
			if tt.id == anon {
				want = nil
			}
			if got, ok := p["petitioner"]; !ok || !reflect.DeepEqual(got, want) {
				t.Errorf("petitioner = %#v, want %#v", got, want)
			}
			if _, ok := p["receipt_code"]; ok {
				t.Errorf("receipt_code shown on reveal")
			}
			if e.Reason != *tt.reason {
				t.Errorf("entry reason %q, want %q verbatim", e.Reason, *tt.reason)
			}
			if e.Decision != audit.Allow || e.Object == nil || e.Object.Type != "petition" || e.Object.ID != tt.id {
				t.Errorf("entry = %s", ptEntryBytes(t, e))
			}
			if tt.id == anon && e.Details["anonymous"] != true {
				t.Errorf("entry details.anonymous = %v, want true", e.Details["anonymous"])
			}
			b := ptEntryBytes(t, e)
			for _, v := range ptFull {
				if bytes.Contains(b, []byte(v.(string))) {
					t.Errorf("audit entry holds identity field %q", v)
				}
			}
		})
	}

	t.Run("plain read records no reason", func(t *testing.T) {
		r := h.send(req{Method: "GET", Path: "/api/v1/petitions/" + id, Token: tok["reg-a"], Header: map[string]string{"X-Access-Reason": reason}})
		if r.Code != http.StatusOK {
			t.Fatalf("status %d", r.Code)
		}
		if p := r.JSON(t); p["identity_masked"] != true || !reflect.DeepEqual(p["petitioner"], ptMasked) {
			t.Errorf("plain read revealed the identity: %s", r.Body)
		}
		if e := ptEntry(t, h, r); e.Action != "petition.read" {
			t.Errorf("action %q", e.Action)
		}
	})

	t.Run("may read but not reveal", func(t *testing.T) {
		pol := h.must(http.StatusOK, "GET", "/api/v1/policy", h.admin, nil)
		var cur struct {
			Rules [][]string `json:"rules"`
		}
		if err := json.Unmarshal(pol.Body, &cur); err != nil {
			t.Fatal(err)
		}
		rules := append(cur.Rules, []string{"p", "officer", "petition.read", "unit", "allow"})
		h.must(http.StatusOK, "PUT", "/api/v1/policy", h.admin, map[string]any{"rules": rules})

		g := h.must(http.StatusOK, "GET", "/api/v1/petitions/"+id, tok["off-east"], nil).JSON(t)
		if g["identity_masked"] != true || !reflect.DeepEqual(g["petitioner"], ptMasked) {
			t.Errorf("officer read = %v", g)
		}
		r := h.send(req{Method: "GET", Path: "/api/v1/petitions/" + id + "?reveal=identity", Token: tok["off-east"],
			Header: map[string]string{"X-Access-Reason": reason}})
		ptProblem(t, r, http.StatusForbidden)
		for _, v := range ptFull {
			if bytes.Contains(r.Body, []byte(v.(string))) {
				t.Errorf("403 body holds %q", v)
			}
		}
		e := ptEntry(t, h, r)
		if e.Action != "petition.reveal_identity" || e.Decision != audit.Deny || e.Status != 403 || e.Reason != reason {
			t.Errorf("entry = %s", ptEntryBytes(t, e))
		}
	})
}

func TestPetitionsList(t *testing.T) {
	h := newHarness(t)
	tok := map[string]string{}
	for _, u := range []struct{ name, unit, role string }{
		{"reg-east", "group/east", "registrar"},
		{"reg-west", "group/west", "registrar"},
		{"sup-east", "group/east", "supervisor"},
		{"off-east", "group/east", "officer"},
	} {
		_, tok[u.name] = h.user(u.name, u.unit, u.role)
	}
	units := []string{"group/east", "group/east/site-1", "group/east/site-2", "group/east/site-1",
		"group/east", "group/east/site-1/team-a", "group/east/site-2"}
	var created []string // oldest first
	unitOf := map[string]string{}
	for i, u := range units {
		h.clock.Add(time.Minute)
		id := ptCreate(t, h, tok["reg-east"], ptBody(u, ptSet("title", fmt.Sprintf("信访事项 %d", i))))
		created = append(created, id)
		unitOf[id] = u
		switch i {
		case 2: // interleave petitions the supervisor must not see
			h.clock.Add(time.Minute)
			ptCreate(t, h, tok["reg-west"], petitionBody("group/west"))
		case 4:
			h.clock.Add(time.Minute)
			ptCreate(t, h, tok["reg-east"], ptBody("group/east", ptSet("subjects", []any{"sup-east"})))
		}
	}
	newest := slices.Clone(created)
	slices.Reverse(newest)

	t.Run("pages of 3", func(t *testing.T) {
		var got []string
		var sizes []int
		cursor := ""
		var last time.Time
		for i := range 10 {
			q := "limit=3"
			if i > 0 {
				q += "&cursor=" + url.QueryEscape(cursor)
			}
			p := ptList(t, h, tok["sup-east"], q)
			sizes = append(sizes, len(p.Items))
			for _, it := range p.Items {
				if got, want := ptKeys(it), slices.Sorted(slices.Values(ptSummaryKeys)); !slices.Equal(got, want) {
					t.Errorf("summary fields = %v, want %v", got, want)
				}
				rt := ptTime(t, it["received_at"])
				if !last.IsZero() && !rt.Before(last) {
					t.Errorf("received_at %v not older than %v", rt, last)
				}
				last = rt
				if it["status"] != "registered" || it["unit"] != unitOf[it["id"].(string)] {
					t.Errorf("summary = %v", it)
				}
			}
			got = append(got, p.ids()...)
			// The list's audit entry records the ids it returned.
			es := h.entries(p.rid)
			if len(es) != 1 {
				t.Fatalf("%d entries for %s", len(es), p.rid)
			}
			var ids []string
			raw, _ := es[0].Details["ids"].([]any)
			for _, x := range raw {
				ids = append(ids, fmt.Sprint(x))
			}
			if es[0].Action != "petition.list" || !slices.Equal(ids, p.ids()) {
				t.Errorf("entry details.ids = %v, want %v", es[0].Details["ids"], p.ids())
			}
			if *p.NextCursor == "" {
				break
			}
			cursor = *p.NextCursor
		}
		if !slices.Equal(sizes, []int{3, 3, 1}) {
			t.Errorf("page sizes %v, want [3 3 1]", sizes)
		}
		if !slices.Equal(got, newest) {
			t.Errorf("ids = %v\nwant  %v (newest first, no duplicates, none missing)", got, newest)
		}
	})

	t.Run("page sizes", func(t *testing.T) {
		for _, tt := range []struct {
			query    string
			want     int
			wantNext bool
		}{
			{"", 7, false},
			{"limit=7", 7, false},
			{"limit=6", 6, true},
			{"limit=1", 1, true},
			{"limit=500", 7, false},
		} {
			t.Run(tt.query, func(t *testing.T) {
				p := ptList(t, h, tok["sup-east"], tt.query)
				if len(p.Items) != tt.want || (*p.NextCursor != "") != tt.wantNext {
					t.Errorf("%d items, next_cursor %q; want %d items, next %v", len(p.Items), *p.NextCursor, tt.want, tt.wantNext)
				}
				if !slices.Equal(p.ids(), newest[:len(p.Items)]) {
					t.Errorf("ids = %v", p.ids())
				}
			})
		}
	})

	t.Run("filters", func(t *testing.T) {
		filter := func(f func(id string) bool) []string {
			out := []string{}
			for _, id := range newest {
				if f(id) {
					out = append(out, id)
				}
			}
			return out
		}
		in := func(unit string) []string {
			return filter(func(id string) bool {
				return unitOf[id] == unit || strings.HasPrefix(unitOf[id], unit+"/")
			})
		}
		for _, tt := range []struct {
			user, query string
			want        []string
		}{
			{"sup-east", "status=registered", newest},
			{"sup-east", "status=closed", []string{}},
			{"sup-east", "status=accepted", []string{}},
			{"sup-east", "unit=group/east", newest},
			{"sup-east", "unit=group/east/site-1", in("group/east/site-1")},
			{"sup-east", "unit=group/east/site-1/team-a", in("group/east/site-1/team-a")},
			{"sup-east", "unit=group/east/site-2&status=registered", in("group/east/site-2")},
			{"sup-east", "unit=group/east/site-2&status=closed", []string{}},
			{"sup-east", "unit=group/east/site-9", []string{}},
			{"sup-east", "unit=group", newest},
			{"sup-east", "unit=group/west", []string{}},
			{"sup-east", "unit=other", []string{}},
			{"sup-east", "overdue=false", newest},
			{"sup-east", "overdue=true", []string{}},
			{"sup-east", "assignee=off-east", []string{}},
			{"sup-east", "assignee=nobody-here", []string{}},
			{"reg-east", "unit=group/east/site-1", in("group/east/site-1")},
			{"reg-west", "unit=group/east", []string{}},
			{"off-east", "", []string{}},
			{"off-east", "unit=group/east", []string{}},
		} {
			t.Run(tt.user+" "+tt.query, func(t *testing.T) {
				got := ptList(t, h, tok[tt.user], tt.query).ids()
				if !slices.Equal(got, tt.want) {
					t.Errorf("ids = %v, want %v", got, tt.want)
				}
				// and paged one at a time
				if all := ptAllIDs(t, h, tok[tt.user], tt.query); !slices.Equal(all, tt.want) && len(all)+len(tt.want) > 0 {
					t.Errorf("all ids = %v, want %v", all, tt.want)
				}
			})
		}
	})

	t.Run("bad parameters", func(t *testing.T) {
		for _, tt := range []struct{ query, field string }{
			{"limit=0", "limit"},
			{"limit=501", "limit"},
			{"limit=-1", "limit"},
			{"limit=abc", "limit"},
			{"limit=", "limit"},
			{"limit=1.5", "limit"},
			{"limit=99999999999999999999", "limit"},
			{"cursor=!!!", "cursor"},
			{"cursor=" + url.QueryEscape("aGVsbG8"), "cursor"},
			{"cursor=" + strings.Repeat("A", 201), "cursor"},
			{"status=open", "status"},
			{"status=REGISTERED", "status"},
			{"overdue=yes", "overdue"},
			{"overdue=1", "overdue"},
			{"overdue=", "overdue"},
			{"unit=Group", "unit"},
			{"unit=group//east", "unit"},
			{"unit=group/", "unit"},
			{"risk=extreme", "risk"},
			{"category=" + strings.Repeat("x", 65), "category"},
		} {
			t.Run(tt.query, func(t *testing.T) {
				r := h.do("GET", "/api/v1/petitions?"+tt.query, tok["sup-east"], nil)
				p := ptProblem(t, r, http.StatusBadRequest)
				if !strings.Contains(p.Detail, tt.field) {
					t.Errorf("detail %q does not name %q", p.Detail, tt.field)
				}
				e := ptEntry(t, h, r)
				if e.Action != "petition.list" || e.Status != 400 || e.Decision != audit.Allow {
					t.Errorf("entry = %s", ptEntryBytes(t, e))
				}
			})
		}
	})

	t.Run("roles without the list right", func(t *testing.T) {
		_, aud := h.user("aud-root", "group", "auditor")
		for _, token := range []string{h.admin, aud} {
			r := h.do("GET", "/api/v1/petitions", token, nil)
			ptProblem(t, r, http.StatusForbidden)
			if e := ptEntry(t, h, r); e.Decision != audit.Deny {
				t.Errorf("decision %q", e.Decision)
			}
		}
	})
}

func TestPetitionsOverdue(t *testing.T) {
	h := newHarness(t)
	_, reg := h.user("reg1", "group/east", "registrar")
	fresh := ptCreate(t, h, reg, petitionBody("group/east"))
	old := ptCreate(t, h, reg, ptBody("group/east", ptSet("received_at", h.clock.Now().Add(-10*24*time.Hour).Format(time.RFC3339))))

	h.clock.Add(6 * 24 * time.Hour) // old's accept_by (received + 15 days) has passed
	reg = h.login("reg1", testPassword)
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"overdue=true", []string{old}},
		{"overdue=false", []string{fresh}},
		{"", []string{old, fresh}},
	} {
		t.Run(tt.query, func(t *testing.T) {
			if got := ptList(t, h, reg, tt.query).ids(); !slices.Equal(got, tt.want) {
				t.Errorf("ids = %v, want %v", got, tt.want)
			}
		})
	}
	for _, tt := range []struct {
		id   string
		want bool
	}{{old, true}, {fresh, false}} {
		p := h.must(http.StatusOK, "GET", "/api/v1/petitions/"+tt.id, reg, nil).JSON(t)
		if p["overdue"] != tt.want {
			t.Errorf("%s overdue = %v, want %v", tt.id, p["overdue"], tt.want)
		}
	}
}

// TestPetitionsListDamagedEnvelope: one damaged content envelope does not
// take down the list pages it falls on; its row is listed from metadata,
// marked damaged, while the petition itself answers 500 and the others read.
func TestPetitionsListDamagedEnvelope(t *testing.T) {
	h := newHarness(t)
	_, reg := h.user("reg1", "group/east", "registrar")
	good := ptCreate(t, h, reg, petitionBody("group/east"))
	bad := ptCreate(t, h, reg, petitionBody("group/east"))
	if err := h.v.Store().Update(func(tx store.Tx) error {
		return tx.Set([]byte("p/"+bad+"/c"), []byte("age-encryption.org/v1\n-> X25519 garbage\n--- damaged"))
	}); err != nil {
		t.Fatal(err)
	}
	r := h.must(http.StatusOK, "GET", "/api/v1/petitions", reg, nil)
	var page struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(r.Body, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 2 {
		t.Fatalf("%d items, want both petitions: %s", len(page.Items), r.Body)
	}
	for _, it := range page.Items {
		switch it["id"] {
		case bad:
			if it["damaged"] != true || it["title"] != "" || it["status"] != "registered" {
				t.Errorf("damaged row = %v", it)
			}
		case good:
			if _, ok := it["damaged"]; ok || it["title"] == "" {
				t.Errorf("intact row = %v", it)
			}
		default:
			t.Errorf("unexpected row %v", it)
		}
	}
	ptProblem(t, h.send(req{Method: "GET", Path: "/api/v1/petitions/" + bad, Token: reg}), http.StatusInternalServerError)
	h.must(http.StatusOK, "GET", "/api/v1/petitions/"+good, reg, nil)
}

func TestPetitionsInternalErrorLeaksNothing(t *testing.T) {
	corrupt := func(t *testing.T, h *harness, key string) {
		t.Helper()
		err := h.v.Store().Update(func(tx store.Tx) error {
			return tx.Set([]byte(key), []byte("age-encryption.org/v1\n-> X25519 garbage\n--- secret internal detail"))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name   string
		suffix string // key p/<id>/<suffix> to corrupt
		path   func(id string) string
		header map[string]string
		// okPath must still succeed after the corruption.
		okPath func(id string) string
	}{
		{name: "sealed content", suffix: "c", path: func(id string) string { return "/api/v1/petitions/" + id }},
		{name: "metadata", suffix: "m", path: func(id string) string { return "/api/v1/petitions/" + id }},
		{name: "sealed identity", suffix: "i", path: func(id string) string { return "/api/v1/petitions/" + id + "?reveal=identity" },
			header: map[string]string{"X-Access-Reason": "核实信访人身份以便回访"},
			okPath: func(id string) string { return "/api/v1/petitions/" + id }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			_, reg := h.user("reg1", "group/east", "registrar")
			id := ptCreate(t, h, reg, petitionBody("group/east"))
			corrupt(t, h, "p/"+id+"/"+tt.suffix)
			r := h.send(req{Method: "GET", Path: tt.path(id), Token: reg, Header: tt.header})
			p := ptProblem(t, r, http.StatusInternalServerError)
			if p.Detail != "internal error" {
				t.Errorf("detail %q, want exactly %q", p.Detail, "internal error")
			}
			for _, s := range append(slices.Clone(ptSecrets), "age", "X25519", "secret", "corrupt", "malformed", "p/", id, "vault", "decrypt") {
				if bytes.Contains(bytes.ToLower(r.Body), bytes.ToLower([]byte(s))) {
					t.Errorf("500 body holds %q: %s", s, r.Body)
				}
			}
			// Only fixed headers: the request id, the type, and the security
			// headers every response carries.
			fixed := []string{"X-Request-Id", "Content-Type", "Cache-Control", "Content-Security-Policy", "X-Content-Type-Options",
				"X-Frame-Options", "Referrer-Policy", "Permissions-Policy", "Cross-Origin-Opener-Policy", "Cross-Origin-Resource-Policy"}
			for k, v := range r.Header {
				if !slices.Contains(fixed, k) {
					t.Errorf("unexpected header %s: %v", k, v)
				}
			}
			e := ptEntry(t, h, r)
			if e.Status != http.StatusInternalServerError {
				t.Errorf("entry = %s", ptEntryBytes(t, e))
			}
			if tt.okPath != nil {
				h.must(http.StatusOK, "GET", tt.okPath(id), reg, nil)
			}
		})
	}
}

// The handlers that look a petition up get the vault's shared metadata
// (vault.SharedMeta) and must leave it as it is: after reads, a reveal, the
// events and refused actions, the shared value still equals a copy taken
// before them.
func TestLookupLeavesSharedMetaAlone(t *testing.T) {
	h := newHarness(t)
	_, reg := h.user("reg1", "group/east", "registrar")
	_, sup := h.user("sup1", "group/east", "supervisor")
	id := h.petition(reg, petitionBody("group/east"))["id"].(string)
	before, err := h.v.Meta(id) // a copy
	if err != nil {
		t.Fatal(err)
	}
	shared, err := h.v.SharedMeta(id)
	if err != nil {
		t.Fatal(err)
	}
	base := "/api/v1/petitions/" + id
	h.must(http.StatusOK, "GET", base, sup, nil)
	h.must(http.StatusOK, "GET", base, reg, nil)
	h.send(req{Method: "GET", Path: base + "?reveal=identity", Token: reg, Header: map[string]string{"X-Access-Reason": "核实信访人身份以便回访"}})
	h.must(http.StatusOK, "GET", base+"/events", sup, nil)
	h.must(http.StatusBadRequest, "POST", base+"/actions", sup, map[string]any{"action": "assign", "assignee": "nobody"})
	h.must(http.StatusBadRequest, "POST", base+"/actions", sup, map[string]any{"action": "assign", "assignee": "reg1"})
	h.must(http.StatusOK, "GET", base, sup, nil)
	now, err := h.v.SharedMeta(id)
	if err != nil {
		t.Fatal(err)
	}
	if now != shared {
		t.Fatal("the shared metadata was dropped by requests that change nothing")
	}
	if !reflect.DeepEqual(now, before) {
		t.Errorf("a handler changed the shared metadata:\n got %+v\nwant %+v", now, before)
	}
}
