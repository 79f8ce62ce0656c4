package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"pvault/audit"
	"pvault/vault"
	"pvault/vault/store"
)

// ptEntriesPage is a page of GET /audit/entries.
type ptEntriesPage struct {
	Items     []json.RawMessage `json:"items"`
	NextStart *int64            `json:"next_start"`
	entries   []*audit.Entry
}

// ptEntries gets GET /audit/entries?query and requires 200 and canonical
// entries.
func ptEntries(tb testing.TB, h *harness, token, query string) *ptEntriesPage {
	tb.Helper()
	r := h.do("GET", "/api/v1/audit/entries?"+query, token, nil)
	if r.Code != http.StatusOK {
		tb.Fatalf("GET /audit/entries?%s: status %d: %s", query, r.Code, r.Body)
	}
	var p ptEntriesPage
	if err := json.Unmarshal(r.Body, &p); err != nil {
		tb.Fatalf("entries %q: %v", r.Body, err)
	}
	if p.Items == nil || p.NextStart == nil {
		tb.Fatalf("entries without items or next_start: %s", r.Body)
	}
	for _, raw := range p.Items {
		e, err := audit.ParseEntry(raw)
		if err != nil {
			tb.Fatalf("entry %s is not canonical: %v", raw, err)
		}
		p.entries = append(p.entries, e)
	}
	return &p
}

func (p *ptEntriesPage) seqs() []int64 {
	var out []int64
	for _, e := range p.entries {
		out = append(out, e.Seq)
	}
	return out
}

// ptExport gets GET /audit/export?query, requires 200 and NDJSON, and returns
// the lines, each checked to be a canonical entry.
func ptExport(tb testing.TB, h *harness, token, query string) ([][]byte, *resp) {
	tb.Helper()
	r := h.do("GET", "/api/v1/audit/export?"+query, token, nil)
	if r.Code != http.StatusOK {
		tb.Fatalf("GET /audit/export?%s: status %d: %s", query, r.Code, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-ndjson" && !strings.HasPrefix(ct, "application/x-ndjson;") {
		tb.Errorf("Content-Type = %q, want application/x-ndjson", ct)
	}
	if len(r.Body) == 0 {
		return nil, r
	}
	if !bytes.HasSuffix(r.Body, []byte("\n")) {
		tb.Fatalf("export does not end with a newline")
	}
	lines := bytes.Split(bytes.TrimSuffix(r.Body, []byte("\n")), []byte("\n"))
	for i, line := range lines {
		e, err := audit.ParseEntry(line)
		if err != nil {
			tb.Fatalf("line %d is not a canonical entry: %v: %s", i, err, line)
		}
		again, err := e.Marshal()
		if err != nil || !bytes.Equal(again, line) {
			tb.Fatalf("line %d does not re-marshal byte-identically:\n%s\n%s", i, line, again)
		}
	}
	return lines, r
}

// ptCheckChain verifies lines as a whole log from seq 0 and returns the
// checker.
func ptCheckChain(tb testing.TB, lines [][]byte) *audit.Checker {
	tb.Helper()
	c := audit.NewChecker()
	for i, line := range lines {
		e, err := audit.ParseEntry(line)
		if err != nil {
			tb.Fatalf("line %d: %v", i, err)
		}
		if e.Seq != int64(i) {
			tb.Fatalf("line %d has seq %d", i, e.Seq)
		}
		if err := c.Add(line); err != nil {
			tb.Fatalf("chain: %v", err)
		}
	}
	return c
}

// ptVerify gets GET /audit/verify and requires ok.
func ptVerify(tb testing.TB, h *harness, token string) (size int64, root string) {
	tb.Helper()
	r := h.do("GET", "/api/v1/audit/verify", token, nil)
	if r.Code != http.StatusOK {
		tb.Fatalf("verify: status %d: %s", r.Code, r.Body)
	}
	m := r.JSON(tb)
	for _, k := range []string{"ok", "size", "root", "first_bad_seq"} {
		if _, ok := m[k]; !ok {
			tb.Errorf("verify without %q: %s", k, r.Body)
		}
	}
	if m["ok"] != true || m["first_bad_seq"] != nil {
		tb.Fatalf("verify = %s", r.Body)
	}
	root, _ = m["root"].(string)
	if b, err := base64.StdEncoding.DecodeString(root); err != nil || len(b) != 32 {
		tb.Errorf("root %q is not a base64 SHA-256 hash", root)
	}
	f, _ := m["size"].(float64)
	return int64(f), root
}

func TestAuditLogRoles(t *testing.T) {
	h := newHarness(t)
	tok := map[string]string{"admin": h.admin, "none": ""}
	for _, u := range []struct{ name, unit, role string }{
		{"reg1", "group/east", "registrar"},
		{"off1", "group/east", "officer"},
		{"sup-root", "group", "supervisor"},
		{"aud1", "group", "auditor"},
		{"aud-east", "group/east", "auditor"},
	} {
		_, tok[u.name] = h.user(u.name, u.unit, u.role)
	}
	for _, path := range []string{"/api/v1/audit/entries", "/api/v1/audit/export", "/api/v1/audit/verify"} {
		for _, tt := range []struct {
			user string
			want int
		}{
			{"admin", 403},
			{"reg1", 403},
			{"off1", 403},
			{"sup-root", 403},
			{"none", 401},
			{"aud1", 200},
			{"aud-east", 200},
		} {
			t.Run(path+" as "+tt.user, func(t *testing.T) {
				r := h.do("GET", path, tok[tt.user], nil)
				e := ptEntry(t, h, r)
				if e.Status != tt.want {
					t.Errorf("entry = %s", ptEntryBytes(t, e))
				}
				if tt.want == http.StatusOK {
					if r.Code != http.StatusOK {
						t.Fatalf("status %d: %s", r.Code, r.Body)
					}
					return
				}
				ptProblem(t, r, tt.want)
				if e.Decision != audit.Deny {
					t.Errorf("decision %q, want deny", e.Decision)
				}
				if bytes.Contains(r.Body, []byte(`"seq"`)) {
					t.Errorf("denied response holds entries: %s", r.Body)
				}
			})
		}
	}
}

func TestAuditLogEntries(t *testing.T) {
	h := newHarness(t)
	_, reg := h.user("reg1", "group/east", "registrar")
	_, aud := h.user("aud1", "group", "auditor")
	var ids []string
	for i := range 5 {
		r := h.send(req{Method: "POST", Path: "/api/v1/petitions", Token: reg, Body: petitionBody("group/east"),
			Header: map[string]string{"X-Request-ID": fmt.Sprintf("mk-%d", i)}})
		if r.Code != http.StatusCreated {
			t.Fatalf("create: %d %s", r.Code, r.Body)
		}
		ids = append(ids, r.JSON(t)["id"].(string))
	}
	r := h.send(req{Method: "GET", Path: "/api/v1/petitions/" + ids[1], Token: reg, Header: map[string]string{"X-Request-ID": "rd-1"}})
	if r.Code != http.StatusOK {
		t.Fatalf("read: %d", r.Code)
	}
	size := h.v.Log().Head().Size

	t.Run("filters", func(t *testing.T) {
		for _, tt := range []struct {
			query string
			want  int
			match func(e *audit.Entry) bool
		}{
			{"action=petition.create", 5, func(e *audit.Entry) bool { return e.Action == "petition.create" }},
			{"actor=reg1", 7, func(e *audit.Entry) bool { return e.Actor != nil && e.Actor.Username == "reg1" }}, // login, 5 creates, 1 read
			{"actor=reg1&action=petition.create", 5, func(e *audit.Entry) bool {
				return e.Actor.Username == "reg1" && e.Action == "petition.create"
			}},
			{"object=" + ids[2], 1, func(e *audit.Entry) bool { return e.Object.ID == ids[2] && e.Action == "petition.create" }},
			{"object=" + ids[1], 2, func(e *audit.Entry) bool { return e.Object.ID == ids[1] }},
			{"object=" + ids[1] + "&action=petition.read", 1, func(e *audit.Entry) bool { return e.Action == "petition.read" && e.RequestID == "rd-1" }},
			{"request_id=rd-1", 1, func(e *audit.Entry) bool { return e.RequestID == "rd-1" && e.Action == "petition.read" }},
			{"request_id=mk-3", 1, func(e *audit.Entry) bool { return e.RequestID == "mk-3" && e.Object.ID == ids[3] }},
			{"request_id=mk-3&action=petition.read", 0, nil},
			{"request_id=no-such-request", 0, nil},
			{"actor=nobody", 0, nil},
			{"object=01ARZ3NDEKTSV4RRFFQ69G5FAV", 0, nil},
			{"action=petition.nothing", 0, nil},
			{"limit=2", 2, nil},
			{"start=3&limit=4", 4, func(e *audit.Entry) bool { return e.Seq >= 3 && e.Seq < 7 }},
			{fmt.Sprintf("start=%d&action=petition.create", size+100), 0, nil},
		} {
			t.Run(tt.query, func(t *testing.T) {
				p := ptEntries(t, h, aud, tt.query)
				if len(p.entries) != tt.want {
					t.Fatalf("%d entries, want %d: %s", len(p.entries), tt.want, p.Items)
				}
				for _, e := range p.entries {
					if tt.match != nil && !tt.match(e) {
						t.Errorf("entry does not match: %s", ptEntryBytes(t, e))
					}
				}
				if !slices.IsSorted(p.seqs()) {
					t.Errorf("seqs not in order: %v", p.seqs())
				}
			})
		}
	})

	t.Run("page through everything", func(t *testing.T) {
		var seqs []int64
		start := int64(0)
		for range 100 {
			p := ptEntries(t, h, aud, fmt.Sprintf("start=%d&limit=4", start))
			seqs = append(seqs, p.seqs()...)
			if n := len(p.entries); n > 0 && *p.NextStart != p.entries[n-1].Seq+1 {
				t.Errorf("next_start %d after seq %d", *p.NextStart, p.entries[n-1].Seq)
			}
			if len(p.entries) < 4 {
				break
			}
			start = *p.NextStart
		}
		for i, s := range seqs {
			if s != int64(i) {
				t.Fatalf("seqs %v: gap or duplicate at %d", seqs, i)
			}
		}
		if int64(len(seqs)) < size {
			t.Errorf("paged %d entries, the log held %d", len(seqs), size)
		}
	})

	t.Run("page through a filter", func(t *testing.T) {
		var got []string
		var sizes []int
		start := int64(0)
		for range 10 {
			p := ptEntries(t, h, aud, fmt.Sprintf("action=petition.create&limit=2&start=%d", start))
			sizes = append(sizes, len(p.entries))
			for _, e := range p.entries {
				got = append(got, e.Object.ID)
			}
			if len(p.entries) > 0 && *p.NextStart <= p.entries[len(p.entries)-1].Seq {
				t.Fatalf("next_start %d does not move past seq %d", *p.NextStart, p.entries[len(p.entries)-1].Seq)
			}
			if len(p.entries) < 2 {
				// Polling from next_start finds nothing new.
				again := ptEntries(t, h, aud, fmt.Sprintf("action=petition.create&limit=2&start=%d", *p.NextStart))
				if len(again.entries) != 0 || *again.NextStart != *p.NextStart {
					t.Errorf("poll from next_start %d: %d entries, next_start %d", *p.NextStart, len(again.entries), *again.NextStart)
				}
				break
			}
			start = *p.NextStart
		}
		if !slices.Equal(sizes, []int{2, 2, 1}) || !slices.Equal(got, ids) {
			t.Errorf("pages %v ids %v, want [2 2 1] %v", sizes, got, ids)
		}
	})

	t.Run("entries hold no petition text", func(t *testing.T) {
		lines, _ := ptExport(t, h, aud, "")
		for _, line := range lines {
			for _, s := range ptSecrets {
				if bytes.Contains(line, []byte(s)) {
					t.Errorf("entry holds %q: %s", s, line)
				}
			}
			if bytes.Contains(line, []byte(testPassword)) || bytes.Contains(line, []byte(testAdminPassword)) || bytes.Contains(line, []byte("pvt_")) {
				t.Errorf("entry holds a credential: %s", line)
			}
		}
	})

	t.Run("bad parameters", func(t *testing.T) {
		for _, tt := range []struct{ query, field string }{
			{"start=-1", "start"},
			{"start=abc", "start"},
			{"start=1.5", "start"},
			{"limit=0", "limit"},
			{"limit=501", "limit"},
			{"limit=x", "limit"},
			{"actor=" + strings.Repeat("a", 257), ""},
			{"request_id=" + strings.Repeat("a", 257), ""},
		} {
			t.Run(tt.query[:min(len(tt.query), 30)], func(t *testing.T) {
				r := h.do("GET", "/api/v1/audit/entries?"+tt.query, aud, nil)
				p := ptProblem(t, r, http.StatusBadRequest)
				if !strings.Contains(p.Detail, tt.field) {
					t.Errorf("detail %q does not name %q", p.Detail, tt.field)
				}
			})
		}
	})
}

func TestAuditLogExportAndVerify(t *testing.T) {
	h := newHarness(t)
	_, reg := h.user("reg1", "group/east", "registrar")
	_, aud := h.user("aud1", "group", "auditor")
	for range 4 {
		id := ptCreate(t, h, reg, petitionBody("group/east"))
		h.must(http.StatusOK, "GET", "/api/v1/petitions/"+id, reg, nil)
		h.do("GET", "/api/v1/petitions/"+id+"?reveal=other", reg, nil)
	}

	size := h.v.Log().Head().Size
	full, r := ptExport(t, h, aud, "")
	if int64(len(full)) != size {
		t.Fatalf("export has %d lines, the log held %d", len(full), size)
	}
	c := ptCheckChain(t, full)
	if c.Size() != size {
		t.Errorf("checker size %d", c.Size())
	}
	e := ptEntry(t, h, r)
	if e.Action != "audit.export" || e.Status != 200 || e.Seq != size {
		t.Errorf("export entry = %s", ptEntryBytes(t, e))
	}

	t.Run("verify", func(t *testing.T) {
		before := h.v.Log().Head().Size
		vsize, root := ptVerify(t, h, aud)
		if vsize != before {
			t.Errorf("verify size %d, the log held %d", vsize, before)
		}
		lines, _ := ptExport(t, h, aud, fmt.Sprintf("end=%d", vsize))
		c := ptCheckChain(t, lines)
		if got := audit.EncodeHash(c.Root()); c.Size() != vsize || got != root {
			t.Errorf("export up to %d: size %d root %s, verify root %s", vsize, c.Size(), got, root)
		}
	})

	t.Run("ranges", func(t *testing.T) {
		n := int64(len(full))
		for _, tt := range []struct {
			query      string
			start, end int64 // end -1: the head at the time of the request
			// own: the request's own entry may be included (an end past
			// the head).
			own bool
		}{
			{"start=2&end=5", 2, 5, false},
			{"end=4", 0, 4, false},
			{"start=0&end=1", 0, 1, false},
			{fmt.Sprintf("start=%d&end=%d", n-3, n), n - 3, n, false},
			{"start=4&end=4", 4, 4, false},
			{"end=0", 0, 0, false},
			{"start=3", 3, -1, false},
			{fmt.Sprintf("start=%d", n+1000), n + 1000, n + 1000, false},
			{fmt.Sprintf("start=1&end=%d", n+1000), 1, -1, true},
		} {
			t.Run(tt.query, func(t *testing.T) {
				lines, _ := ptExport(t, h, aud, tt.query)
				end := tt.end
				if end < 0 {
					end = h.v.Log().Head().Size - 1 // this request's own entry is not in it
				}
				if tt.own && int64(len(lines)) == end+1-tt.start {
					lines = lines[:len(lines)-1]
				}
				if want := max(end-tt.start, 0); int64(len(lines)) != want {
					t.Fatalf("%d lines, want %d", len(lines), want)
				}
				for i, line := range lines {
					seq := tt.start + int64(i)
					e, _ := audit.ParseEntry(line)
					if e.Seq != seq {
						t.Fatalf("line %d has seq %d, want %d", i, e.Seq, seq)
					}
					if seq < n && !bytes.Equal(line, full[seq]) {
						t.Errorf("line for seq %d differs from the full export", seq)
					}
				}
			})
		}
	})

	t.Run("bad parameters", func(t *testing.T) {
		for _, tt := range []struct{ query, field string }{
			{"start=5&end=2", "end"},
			{"start=-1", "start"},
			{"end=-1", "end"},
			{"start=x", "start"},
			{"end=1.5", "end"},
		} {
			t.Run(tt.query, func(t *testing.T) {
				r := h.do("GET", "/api/v1/audit/export?"+tt.query, aud, nil)
				p := ptProblem(t, r, http.StatusBadRequest)
				if !strings.Contains(p.Detail, tt.field) {
					t.Errorf("detail %q does not name %q", p.Detail, tt.field)
				}
			})
		}
	})

	t.Run("whole log still verifies", func(t *testing.T) {
		lines, _ := ptExport(t, h, aud, "")
		ptCheckChain(t, lines)
		ptVerify(t, h, aud)
	})
}

func TestAuditLogOneEntryPerRequest(t *testing.T) {
	h := newHarness(t)
	_, reg := h.user("reg1", "group/east", "registrar")
	_, reg2 := h.user("reg2", "group/east", "registrar")
	_, aud := h.user("aud1", "group", "auditor")
	id := ptCreate(t, h, reg, petitionBody("group/east"))
	big := ptBody("group/east", ptSet("content", strings.Repeat("a", 1<<20+10)))

	type row struct {
		name         string
		method, path string
		token        string
		body         any
		header       map[string]string
		wantStatus   int
		wantAction   string
		wantDecision string // "" when the contract does not say
	}
	rows := []row{
		{"success", "GET", "/api/v1/me", reg, nil, nil, 200, "user.me", audit.Allow},
		{"create", "POST", "/api/v1/petitions", reg, petitionBody("group/east"), nil, 201, "petition.create", audit.Allow},
		{"list", "GET", "/api/v1/petitions?limit=5", reg, nil, nil, 200, "petition.list", audit.Allow},
		{"reveal", "GET", "/api/v1/petitions/" + id + "?reveal=identity", reg, nil,
			map[string]string{"X-Access-Reason": "核实信访人身份以便回访"}, 200, "petition.reveal_identity", audit.Allow},
		{"bad input", "POST", "/api/v1/petitions", reg, ptBody("group/east", ptDel("title")), nil, 400, "petition.create", audit.Allow},
		{"bad list parameter", "GET", "/api/v1/petitions?limit=0", reg, nil, nil, 400, "petition.list", audit.Allow},
		{"no token", "GET", "/api/v1/petitions", "", nil, nil, 401, "petition.list", audit.Deny},
		{"bad token", "GET", "/api/v1/petitions", "pvt_thisisnotavalidtokenatall00000", nil, nil, 401, "petition.list", audit.Deny},
		{"wrong password", "POST", "/api/v1/auth/login", "", map[string]string{"username": "reg1", "password": "not-the-password!"}, nil, 401, "auth.login_failed", audit.Deny},
		{"forbidden", "GET", "/api/v1/audit/verify", reg, nil, nil, 403, "audit.verify", audit.Deny},
		{"forbidden create", "POST", "/api/v1/petitions", h.admin, petitionBody("group"), nil, 403, "petition.create", audit.Deny},
		{"missing petition", "GET", "/api/v1/petitions/01ARZ3NDEKTSV4RRFFQ69G5FAV", reg, nil, nil, 404, "petition.read", ""},
		{"hidden petition", "GET", "/api/v1/petitions/" + id, reg2, nil, nil, 404, "petition.read", audit.Deny},
		{"unknown route", "GET", "/api/v1/no-such-thing", reg, nil, nil, 404, "api.not_found", ""},
		{"unknown route without token", "POST", "/api/v1/no/such/thing", "", `{}`, nil, 404, "api.not_found", ""},
		{"api root", "GET", "/api/v1", "", nil, nil, 404, "api.not_found", ""},
		{"method not allowed", "DELETE", "/api/v1/petitions", reg, nil, nil, 405, "api.method_not_allowed", ""},
		{"method not allowed on a petition", "PUT", "/api/v1/petitions/" + id, reg, petitionBody("group/east"), nil, 405, "api.method_not_allowed", ""},
		{"unsupported media type", "POST", "/api/v1/petitions", reg, petitionBody("group/east"), map[string]string{"Content-Type": "text/plain"}, 415, "petition.create", ""},
		{"body too large", "POST", "/api/v1/petitions", reg, big, nil, 413, "petition.create", ""},
		{"audit read", "GET", "/api/v1/audit/entries?limit=1", aud, nil, nil, 200, "audit.read", audit.Allow},
	}
	before := h.v.Log().Head().Size
	rids := make([]string, len(rows))
	for i, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			rid := fmt.Sprintf("one-%02d.%s", i, strings.ReplaceAll(tt.name, " ", "_"))
			hdr := map[string]string{"X-Request-ID": rid}
			for k, v := range tt.header {
				hdr[k] = v
			}
			r := h.send(req{Method: tt.method, Path: tt.path, Token: tt.token, Body: tt.body, Header: hdr})
			rids[i] = rid
			if r.Code != tt.wantStatus {
				t.Errorf("status %d, want %d: %s", r.Code, tt.wantStatus, r.Body)
			}
			if got := r.Header.Get("X-Request-ID"); got != rid {
				t.Errorf("X-Request-ID %q, want %q echoed", got, rid)
			}
			if r.Code >= 400 {
				ptProblem(t, r, r.Code)
			}
			e := ptEntry(t, h, r)
			if e.RequestID != rid || e.Status != r.Code || e.Action != tt.wantAction {
				t.Errorf("entry = %s", ptEntryBytes(t, e))
			}
			if tt.wantDecision != "" && e.Decision != tt.wantDecision {
				t.Errorf("decision %q, want %q", e.Decision, tt.wantDecision)
			}
			if tt.token != "" && tt.wantStatus != 401 && e.Actor == nil {
				t.Errorf("entry without the actor: %s", ptEntryBytes(t, e))
			}
		})
	}
	if after := h.v.Log().Head().Size; after-before != int64(len(rows)) {
		t.Errorf("%d requests made %d entries", len(rows), after-before)
	}

	t.Run("found by request_id through the API", func(t *testing.T) {
		for _, rid := range rids {
			if p := ptEntries(t, h, aud, "request_id="+rid); len(p.entries) != 1 || p.entries[0].RequestID != rid {
				t.Errorf("request_id=%s: %d entries", rid, len(p.entries))
			}
		}
	})

	t.Run("outside the API nothing is recorded", func(t *testing.T) {
		before := h.v.Log().Head().Size
		for _, path := range []string{"/healthz", "/readyz", "/no-such-page", "/api/v2/petitions", "/api/v10"} {
			h.do("GET", path, "", nil)
		}
		if after := h.v.Log().Head().Size; after != before {
			t.Errorf("requests outside /api/v1 made %d entries", after-before)
		}
	})

	t.Run("request ids made by the server", func(t *testing.T) {
		ridRE := regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
		for _, tt := range []struct{ name, sent string }{
			{"absent", ""},
			{"with a space", "bad id"},
			{"with a slash", "a/b"},
			{"65 characters", strings.Repeat("r", 65)},
			{"non-ASCII", "请求-1"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				r := h.send(req{Method: "GET", Path: "/api/v1/me", Token: reg, Header: map[string]string{"X-Request-ID": tt.sent}})
				got := r.Header.Get("X-Request-ID")
				if !ridRE.MatchString(got) || got == tt.sent {
					t.Errorf("X-Request-ID %q for a sent %q", got, tt.sent)
				}
				ptEntry(t, h, r)
				if tt.sent != "" {
					if es := h.entries(tt.sent); len(es) != 0 {
						t.Errorf("the malformed id %q was recorded", tt.sent)
					}
				}
			})
		}
	})

	t.Run("a reused request id", func(t *testing.T) {
		first := h.send(req{Method: "GET", Path: "/api/v1/me", Token: reg, Header: map[string]string{"X-Request-ID": "reused-1"}})
		second := h.send(req{Method: "GET", Path: "/api/v1/me", Token: reg, Header: map[string]string{"X-Request-ID": "reused-1"}})
		if first.Header.Get("X-Request-ID") != "reused-1" {
			t.Errorf("first X-Request-ID %q", first.Header.Get("X-Request-ID"))
		}
		if second.Header.Get("X-Request-ID") == "reused-1" {
			t.Errorf("the second request echoes a request id that names another entry")
		}
		ptEntry(t, h, first)
		ptEntry(t, h, second)
	})
}

func TestAuditLogConcurrentRequests(t *testing.T) {
	h := newHarness(t)
	_, reg := h.user("reg1", "group/east", "registrar")
	_, sup := h.user("sup1", "group", "supervisor")
	_, aud := h.user("aud1", "group", "auditor")
	var ids []string
	for range 3 {
		ids = append(ids, ptCreate(t, h, reg, petitionBody("group/east")))
	}
	before := h.v.Log().Head().Size
	index := ptIndexCount(t, h)

	const readers, reads, writers, writes = 20, 10, 4, 5
	var wg sync.WaitGroup
	var created sync.Map
	for g := range readers {
		wg.Go(func() {
			for i := range reads {
				rid := fmt.Sprintf("conc-r%02d-%02d", g, i)
				path := "/api/v1/petitions/" + ids[(g+i)%len(ids)]
				if i%3 == 2 {
					path = "/api/v1/petitions?limit=2"
				}
				r := h.send(req{Method: "GET", Path: path, Token: sup, Header: map[string]string{"X-Request-ID": rid}})
				if r.Code != http.StatusOK || r.Header.Get("X-Request-ID") != rid {
					t.Errorf("%s: status %d rid %q", path, r.Code, r.Header.Get("X-Request-ID"))
				}
			}
		})
	}
	body := string(ptJSON(t, petitionBody("group/east")))
	for g := range writers {
		wg.Go(func() {
			for i := range writes {
				rid := fmt.Sprintf("conc-w%02d-%02d", g, i)
				r := h.send(req{Method: "POST", Path: "/api/v1/petitions", Token: reg, Body: body, Header: map[string]string{"X-Request-ID": rid}})
				if r.Code != http.StatusCreated {
					t.Errorf("create: status %d", r.Code)
					continue
				}
				var p struct{ ID string }
				if err := json.Unmarshal(r.Body, &p); err != nil {
					t.Error(err)
				}
				created.Store(rid, p.ID)
			}
		})
	}
	wg.Wait()

	total := int64(readers*reads + writers*writes)
	if got := h.v.Log().Head().Size - before; got != total {
		t.Errorf("%d requests made %d entries", total, got)
	}
	for g := range readers {
		for i := range reads {
			if es := h.entries(fmt.Sprintf("conc-r%02d-%02d", g, i)); len(es) != 1 {
				t.Errorf("conc-r%02d-%02d: %d entries", g, i, len(es))
			}
		}
	}
	for g := range writers {
		for i := range writes {
			rid := fmt.Sprintf("conc-w%02d-%02d", g, i)
			es := h.entries(rid)
			id, _ := created.Load(rid)
			if len(es) != 1 || es[0].Object == nil || es[0].Object.ID != id {
				t.Errorf("%s: entries %v for petition %v", rid, es, id)
			}
		}
	}
	if n := ptIndexCount(t, h); n != index+writers*writes {
		t.Errorf("%d petitions indexed, want %d", n, index+writers*writes)
	}
	lines, _ := ptExport(t, h, aud, "")
	c := ptCheckChain(t, lines)
	if c.Size() != h.v.Log().Head().Size-1 {
		t.Errorf("export of %d entries, head %d", c.Size(), h.v.Log().Head().Size)
	}
	ptVerify(t, h, aud)
}

// errPtFault is the error of an injected store fault.
var errPtFault = errors.New("injected store fault: secret detail")

// ptFaultStore is a store whose Update fails while fail is set: the
// transaction runs, then is abandoned as a failed commit would be.
type ptFaultStore struct {
	store.Store
	fail *atomic.Bool
}

func (s *ptFaultStore) Update(fn func(store.Tx) error) error {
	if !s.fail.Load() {
		return s.Store.Update(fn)
	}
	err := s.Store.Update(func(tx store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return errPtFault
	})
	if err == nil {
		err = errPtFault
	}
	return err
}

func TestAuditLogFailClosed(t *testing.T) {
	var fail atomic.Bool
	h := newHarnessWith(t, harnessOptions{vaultOpts: func(o *vault.Options) {
		o.Store = func(st store.Store) store.Store { return &ptFaultStore{Store: st, fail: &fail} }
	}})
	_, reg := h.user("reg1", "group/east", "registrar")
	_, aud := h.user("aud1", "group", "auditor")
	id := ptCreate(t, h, reg, petitionBody("group/east"))

	snap := ptSnapshot(t, h)
	head := h.v.Log().Head()
	index := ptIndexCount(t, h)

	fail.Store(true)
	for _, tt := range []struct {
		name         string
		method, path string
		token        string
		body         any
		header       map[string]string
	}{
		{"create", "POST", "/api/v1/petitions", reg, petitionBody("group/east/new-unit"), map[string]string{"X-Request-ID": "during-fault-1"}},
		{"read", "GET", "/api/v1/petitions/" + id, reg, nil, nil},
		{"reveal", "GET", "/api/v1/petitions/" + id + "?reveal=identity", reg, nil, map[string]string{"X-Access-Reason": "核实信访人身份以便回访"}},
		{"list", "GET", "/api/v1/petitions", reg, nil, nil},
		{"bad input", "POST", "/api/v1/petitions", reg, ptBody("group/east", ptDel("title")), nil},
		{"denied", "GET", "/api/v1/audit/verify", reg, nil, nil},
		{"unauthenticated", "GET", "/api/v1/petitions", "", nil, nil},
		{"login", "POST", "/api/v1/auth/login", "", map[string]string{"username": "reg1", "password": testPassword}, nil},
		{"audit export", "GET", "/api/v1/audit/export", aud, nil, nil},
		{"unknown route", "GET", "/api/v1/nothing-here", reg, nil, nil},
	} {
		t.Run("during the fault: "+tt.name, func(t *testing.T) {
			r := h.send(req{Method: tt.method, Path: tt.path, Token: tt.token, Body: tt.body, Header: tt.header})
			p := ptProblem(t, r, http.StatusServiceUnavailable)
			if p.Detail == "" || strings.Contains(p.Detail, "injected") || strings.Contains(p.Detail, "secret") {
				t.Errorf("detail %q", p.Detail)
			}
			for _, s := range append(slices.Clone(ptSecrets), "token", "injected", "seq") {
				if bytes.Contains(r.Body, []byte(s)) {
					t.Errorf("503 body holds %q: %s", s, r.Body)
				}
			}
			ptSameStore(t, h, snap)
			if got := h.v.Log().Head(); got != head {
				t.Errorf("head moved during the fault: %+v, was %+v", got, head)
			}
			if n := ptIndexCount(t, h); n != index {
				t.Errorf("%d petitions indexed, want %d", n, index)
			}
		})
	}
	if r := h.do("GET", "/readyz", "", nil); r.Code != http.StatusServiceUnavailable {
		t.Errorf("readyz during the fault: %d", r.Code)
	}
	if es := h.entries("during-fault-1"); len(es) != 0 {
		t.Errorf("a failed request was recorded: %v", es)
	}

	fail.Store(false)
	t.Run("after the fault", func(t *testing.T) {
		r := h.send(req{Method: "POST", Path: "/api/v1/petitions", Token: reg, Body: petitionBody("group/east/new-unit"),
			Header: map[string]string{"X-Request-ID": "during-fault-1"}})
		if r.Code != http.StatusCreated {
			t.Fatalf("create after the fault: %d %s", r.Code, r.Body)
		}
		if got := r.Header.Get("X-Request-ID"); got != "during-fault-1" {
			t.Errorf("X-Request-ID %q: the id of the failed request should be free", got)
		}
		h.must(http.StatusOK, "GET", "/api/v1/petitions/"+id, reg, nil)
		h.login("reg1", testPassword)
		if r := h.do("GET", "/readyz", "", nil); r.Code != http.StatusOK {
			t.Errorf("readyz after the fault: %d", r.Code)
		}
		if n := ptIndexCount(t, h); n != index+1 {
			t.Errorf("%d petitions indexed, want %d", n, index+1)
		}
		size, _ := ptVerify(t, h, aud)
		// The create, read and login since the fault; nothing of the fault.
		if size != head.Size+3 {
			t.Errorf("verify size %d, want %d", size, head.Size+3)
		}
		lines, _ := ptExport(t, h, aud, "")
		ptCheckChain(t, lines)
		for _, line := range lines[head.Size:] {
			e, _ := audit.ParseEntry(line)
			if e.Status == http.StatusServiceUnavailable {
				t.Errorf("an entry of a failed request was kept: %s", line)
			}
		}
	})
}
