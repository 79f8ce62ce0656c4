package api

// Fault injection (issue 10, item 2): the vault runs on a store wrapped in
// storetest.Faulty, which fails commits, fsyncs and reads on demand. While
// commits fail every request answers 503 and nothing of it is kept; while
// reads fail, reads answer 500 or 503 and leak nothing; when the fault
// clears the vault recovers and the audit log verifies with no gap. A
// commit that landed although its sync failed has an unknown outcome: the
// log refuses everything until the vault is reopened, and then the change
// and its audit entry are both there or both absent. The real full disk is
// in crashtest/fulldisk_test.go.
//
// Helpers of this file start with ft.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"pvault/audit"
	"pvault/vault"
	"pvault/vault/store"
	"pvault/vault/store/storetest"
)

// ftEnv is a harness whose store can fail, with a registrar, a supervisor
// and an auditor of group/east.
type ftEnv struct {
	*harness
	f             *storetest.Faulty
	reg, sup, aud string // tokens
	id            string // a petition created before any fault
	receipt       string // its receipt code
}

func ftSetup(t *testing.T) *ftEnv {
	t.Helper()
	e := &ftEnv{}
	e.harness = newHarnessWith(t, harnessOptions{vaultOpts: func(o *vault.Options) {
		o.Store = func(st store.Store) store.Store {
			e.f = storetest.NewFaulty(st)
			return e.f
		}
	}})
	_, e.reg = e.user("ft-reg", "group/east", "registrar")
	_, e.sup = e.user("ft-sup", "group", "supervisor")
	_, e.aud = e.user("ft-aud", "group", "auditor")
	e.must(http.StatusOK, "PUT", "/api/v1/units/group/east", e.admin, map[string]any{"name": "东区", "public": true})
	p := e.petition(e.reg, ftBody("before the faults"))
	e.id, e.receipt = p["id"].(string), p["receipt_code"].(string)
	return e
}

// ftBody is a valid create body whose title carries marker.
func ftBody(marker string) map[string]any {
	b := petitionBody("group/east")
	b["title"] = "拖欠工资 " + marker
	b["content"] = "我们在三号工地干活，项目部已经拖欠我们三个月工资。" + marker
	return b
}

// ftLeaks are strings that must never reach a client in an error: the
// injected fault's text and the petition's secrets.
var ftLeaks = []string{"injected", "storetest", "fault", "badger", "拖欠工资", "三号工地", "张三", "510104199001011234",
	"13812345678", "李经理", "pvt_"}

// ftProblem requires r to be a problem document with one of statuses that
// leaks nothing.
func ftProblem(tb testing.TB, name string, r *resp, statuses ...int) {
	tb.Helper()
	ok := false
	for _, s := range statuses {
		ok = ok || r.Code == s
	}
	if !ok {
		tb.Errorf("%s: status %d, want one of %v: %s", name, r.Code, statuses, r.Body)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		tb.Errorf("%s: Content-Type %q, want application/problem+json", name, ct)
	}
	var p Problem
	if err := json.Unmarshal(r.Body, &p); err != nil || p.Status != r.Code || p.RequestID == "" || p.RequestID != r.Header.Get("X-Request-ID") {
		tb.Errorf("%s: not a problem document for status %d (%v): %s", name, r.Code, err, r.Body)
	}
	for _, s := range ftLeaks {
		if bytes.Contains(bytes.ToLower(r.Body), []byte(strings.ToLower(s))) {
			tb.Errorf("%s: the %d body holds %q: %s", name, r.Code, s, r.Body)
		}
	}
	if r.Code == http.StatusInternalServerError && p.Detail != "internal error" {
		tb.Errorf("%s: a 500 says %q, want \"internal error\"", name, p.Detail)
	}
}

// ftRequest is one request of a table.
type ftRequest struct {
	name         string
	method, path string
	token        string
	body         any
	header       map[string]string
}

// ftRequests are requests of every kind: writes, reads, logins, the portal
// and the audit log. rid prefixes their request ids.
func (e *ftEnv) ftRequests(rid string) []ftRequest {
	hdr := func(name string) map[string]string { return map[string]string{"X-Request-ID": rid + "-" + name} }
	reveal := hdr("reveal")
	reveal["X-Access-Reason"] = "核实信访人身份以便回访"
	return []ftRequest{
		{"create", "POST", "/api/v1/petitions", e.reg, ftBody(rid + " create"), hdr("create")},
		{"read", "GET", "/api/v1/petitions/" + e.id, e.reg, nil, hdr("read")},
		{"reveal", "GET", "/api/v1/petitions/" + e.id + "?reveal=identity", e.reg, nil, reveal},
		{"list", "GET", "/api/v1/petitions", e.sup, nil, hdr("list")},
		{"events", "GET", "/api/v1/petitions/" + e.id + "/events", e.sup, nil, hdr("events")},
		{"note", "POST", "/api/v1/petitions/" + e.id + "/notes", e.sup, map[string]string{"text": "拖欠工资 note " + rid}, hdr("note")},
		{"accept", "POST", "/api/v1/petitions/" + e.id + "/actions", e.sup, map[string]string{"action": "accept"}, hdr("accept")},
		{"me", "GET", "/api/v1/me", e.reg, nil, hdr("me")},
		{"login", "POST", "/api/v1/auth/login", "", map[string]string{"username": "ft-reg", "password": testPassword}, hdr("login")},
		{"login wrong password", "POST", "/api/v1/auth/login", "", map[string]string{"username": "ft-reg", "password": "wrong-password-123"}, hdr("login-bad")},
		{"public submit", "POST", "/api/v1/public/petitions", "", map[string]any{"unit": "group/east", "title": "拖欠工资 public " + rid,
			"content": "三号工地 " + rid}, hdr("public")},
		{"public track", "POST", "/api/v1/public/track", "", map[string]string{"receipt_code": e.receipt}, hdr("track")},
		{"audit entries", "GET", "/api/v1/audit/entries?limit=5", e.aud, nil, hdr("entries")},
		{"audit verify", "GET", "/api/v1/audit/verify", e.aud, nil, hdr("verify")},
		{"create user", "POST", "/api/v1/users", e.admin, map[string]any{"username": "ft-new-" + strings.ToLower(rid), "password": testPassword,
			"display_name": "new", "unit": "group/east", "roles": []string{"officer"}}, hdr("user")},
	}
}

func (e *ftEnv) ftSend(r ftRequest) *resp {
	e.t.Helper()
	return e.harness.send(req{Method: r.method, Path: r.path, Token: r.token, Body: r.body, Header: r.header})
}

// ftExport returns every entry of the log, checked as one gap-free chain
// from seq 0, through GET /audit/export.
func (e *ftEnv) ftExport(tb testing.TB) []*audit.Entry {
	tb.Helper()
	r := e.do("GET", "/api/v1/audit/export", e.aud, nil)
	if r.Code != http.StatusOK {
		tb.Fatalf("export: status %d: %s", r.Code, r.Body)
	}
	c := audit.NewChecker()
	var out []*audit.Entry
	for i, line := range bytes.Split(bytes.TrimSuffix(r.Body, []byte("\n")), []byte("\n")) {
		en, err := audit.ParseEntry(line)
		if err != nil {
			tb.Fatalf("export line %d: %v", i, err)
		}
		if en.Seq != int64(i) {
			tb.Fatalf("export line %d has seq %d: a gap", i, en.Seq)
		}
		if err := c.Add(line); err != nil {
			tb.Fatalf("export line %d: %v", i, err)
		}
		out = append(out, en)
	}
	return out
}

// ftVerify requires GET /audit/verify to be ok and to cover the whole log.
func (e *ftEnv) ftVerify(tb testing.TB) {
	tb.Helper()
	r := e.do("GET", "/api/v1/audit/verify", e.aud, nil)
	if r.Code != http.StatusOK {
		tb.Fatalf("verify: status %d: %s", r.Code, r.Body)
	}
	var res struct {
		OK   bool  `json:"ok"`
		Size int64 `json:"size"`
	}
	if err := json.Unmarshal(r.Body, &res); err != nil || !res.OK {
		tb.Fatalf("verify = %s (%v)", r.Body, err)
	}
	// The verify request itself is recorded after it answered.
	if head := e.v.Log().Head().Size; res.Size != head-1 {
		tb.Errorf("verify covered %d entries, the log has %d before the verify", res.Size, head-1)
	}
}

// ftTitles lists the titles of every petition the supervisor sees, by id.
func (e *ftEnv) ftTitles(tb testing.TB) map[string]string {
	tb.Helper()
	out := map[string]string{}
	cursor := ""
	for range 100 {
		r := e.do("GET", "/api/v1/petitions?limit=500&cursor="+url.QueryEscape(cursor), e.sup, nil)
		if r.Code != http.StatusOK {
			tb.Fatalf("list: status %d: %s", r.Code, r.Body)
		}
		var page struct {
			Items []struct {
				ID, Title string
			} `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal(r.Body, &page); err != nil {
			tb.Fatal(err)
		}
		for _, it := range page.Items {
			out[it.ID] = it.Title
		}
		if page.NextCursor == "" {
			return out
		}
		cursor = page.NextCursor
	}
	tb.Fatal("list does not end")
	return nil
}

// ftSnapshot is every key and value of the store, read past the faults.
func (e *ftEnv) ftSnapshot(tb testing.TB) map[string]string {
	tb.Helper()
	out := map[string]string{}
	err := e.f.Unwrap().View(func(r store.Reader) error {
		return r.Scan(store.ScanOptions{}, func(k, v []byte) error {
			out[string(k)] = string(v)
			return nil
		})
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// ftSameStore fails unless the store is as in before, key for key, apart
// from the audit checkpoints (signed in the background: they only ever
// cover committed entries).
func ftSameStore(tb testing.TB, before, after map[string]string) {
	tb.Helper()
	n := 0
	for k, v := range after {
		if w, ok := before[k]; (!ok || w != v) && !strings.HasPrefix(k, "a/cp/") {
			if n++; n <= 5 {
				tb.Errorf("store: key %q added or changed during the fault", k)
			}
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			if n++; n <= 5 {
				tb.Errorf("store: key %q removed during the fault", k)
			}
		}
	}
	if n > 5 {
		tb.Errorf("store: %d keys differ in all", n)
	}
}

// While commits fail, everything answers 503, nothing is stored and no
// token is released; afterwards the same requests succeed and the log has
// no trace of the failed ones and no gap.
func TestFaultsCommitFailure(t *testing.T) {
	for _, fault := range []storetest.Fault{storetest.FailBegin, storetest.FailCommit} {
		t.Run(fault.String(), func(t *testing.T) {
			e := ftSetup(t)
			snap := e.ftSnapshot(t)
			head := e.v.Log().Head()
			rid := "ft-" + fault.String()
			e.f.Fail(fault)
			for _, r := range e.ftRequests(rid) {
				got := e.ftSend(r)
				ftProblem(t, "during the fault: "+r.name, got, http.StatusServiceUnavailable)
				if want := r.header["X-Request-ID"]; got.Header.Get("X-Request-ID") != want {
					t.Errorf("%s: X-Request-ID %q, want %q", r.name, got.Header.Get("X-Request-ID"), want)
				}
			}
			if r := e.do("GET", "/readyz", "", nil); r.Code != http.StatusServiceUnavailable {
				t.Errorf("readyz during the fault: %d %s", r.Code, r.Body)
			}
			if r := e.do("GET", "/healthz", "", nil); r.Code != http.StatusOK {
				t.Errorf("healthz during the fault: %d", r.Code)
			}
			if st := e.f.Stats(); st.FailedUpdates == 0 {
				t.Fatalf("no update failed: %+v", st)
			}
			ftSameStore(t, snap, e.ftSnapshot(t))
			if got := e.v.Log().Head(); got != head {
				t.Errorf("head moved during the fault: %+v, was %+v", got, head)
			}

			e.f.Clear()
			// The first request after the fault commits and makes the log
			// healthy again.
			tok := e.login("ft-reg", testPassword)
			if r := e.do("GET", "/readyz", "", nil); r.Code != http.StatusOK {
				t.Errorf("readyz after the fault: %d %s", r.Code, r.Body)
			}
			for _, name := range []string{"create", "read", "reveal", "list", "events", "note", "accept", "login", "login-bad", "public", "track", "entries", "verify", "user"} {
				if es := e.entries(rid + "-" + name); len(es) != 0 {
					t.Errorf("the failed request %s-%s was recorded: %+v", rid, name, es[0])
				}
			}
			titles := e.ftTitles(t)
			for id, title := range titles {
				if strings.Contains(title, rid) {
					t.Errorf("petition %s of a failed create is listed after the fault: %q", id, title)
				}
			}
			if len(titles) != 1 {
				t.Errorf("%d petitions listed, want the 1 created before the fault", len(titles))
			}
			// The tokens held before the fault still work, the new one too.
			for _, tk := range []string{e.reg, tok} {
				e.must(http.StatusOK, "GET", "/api/v1/petitions/"+e.id, tk, nil)
			}
			// The same requests, again, succeed.
			for _, r := range e.ftRequests(rid + "-again") {
				got := e.ftSend(r)
				if got.Code >= 300 && !(r.name == "login wrong password" && got.Code == http.StatusUnauthorized) {
					t.Errorf("after the fault: %s: status %d: %s", r.name, got.Code, got.Body)
				}
				if es := e.entries(r.header["X-Request-ID"]); len(es) != 1 {
					t.Errorf("after the fault: %s: %d entries for its request id, want 1", r.name, len(es))
				}
			}
			entries := e.ftExport(t)
			for _, en := range entries[head.Size:] {
				if en.Status == http.StatusServiceUnavailable || strings.HasPrefix(en.RequestID, rid+"-") && !strings.HasPrefix(en.RequestID, rid+"-again-") {
					t.Errorf("an entry of a failed request is in the log: %+v", en)
				}
			}
			e.ftVerify(t)
		})
	}
}

// The readiness probe comes back by itself when the fault clears: a load
// balancer that sends no traffic to an unready instance would otherwise
// keep it out for good.
func TestFaultsReadyzRecoversWithoutTraffic(t *testing.T) {
	e := ftSetup(t)
	e.f.Fail(storetest.FailCommit)
	ftProblem(t, "create", e.do("POST", "/api/v1/petitions", e.reg, ftBody("readyz")), http.StatusServiceUnavailable)
	if r := e.do("GET", "/readyz", "", nil); r.Code != http.StatusServiceUnavailable {
		t.Fatalf("readyz during the fault: %d", r.Code)
	}
	e.f.Clear()
	// Nothing but the probe: no API request that could commit.
	deadline := time.Now().Add(4 * time.Second)
	code := 0
	for time.Now().Before(deadline) {
		if code = e.do("GET", "/readyz", "", nil).Code; code == http.StatusOK {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("readyz still %d 4 s after the store recovered, with no API traffic: the log becomes healthy only when a request commits", code)
}

// While reads fail, reads answer 500 or 503 and leak nothing; writes that
// need no read of their own may go on. Afterwards everything works.
func TestFaultsReadFailure(t *testing.T) {
	for _, fault := range []storetest.Fault{storetest.FailView, storetest.FailGet} {
		t.Run(fault.String(), func(t *testing.T) {
			e := ftSetup(t)
			rid := "ft-" + fault.String()
			hdr := func(name string) map[string]string { return map[string]string{"X-Request-ID": rid + "-" + name} }
			// A token not used yet must be read from the store; one just
			// used is in the session cache and needs no read.
			fresh := e.login("ft-reg", testPassword)
			e.must(http.StatusOK, "GET", "/api/v1/me", e.reg, nil)
			e.f.Fail(fault)
			if got := e.ftSend(ftRequest{"me, cached session", "GET", "/api/v1/me", e.reg, nil, hdr("me-cached")}); got.Code != http.StatusOK {
				t.Errorf("me with a cached session during the fault: %d %s", got.Code, got.Body)
			}
			for _, r := range []ftRequest{
				{"read", "GET", "/api/v1/petitions/" + e.id, e.reg, nil, hdr("read")},
				{"list", "GET", "/api/v1/petitions", e.sup, nil, hdr("list")},
				{"events", "GET", "/api/v1/petitions/" + e.id + "/events", e.sup, nil, hdr("events")},
				{"me", "GET", "/api/v1/me", fresh, nil, hdr("me")},
				{"audit entries", "GET", "/api/v1/audit/entries?limit=5", e.aud, nil, hdr("entries")},
				{"audit export", "GET", "/api/v1/audit/export", e.aud, nil, hdr("export")},
				{"audit verify", "GET", "/api/v1/audit/verify", e.aud, nil, hdr("verify")},
				{"login", "POST", "/api/v1/auth/login", "", map[string]string{"username": "ft-reg", "password": testPassword}, hdr("login")},
				{"public track", "POST", "/api/v1/public/track", "", map[string]string{"receipt_code": e.receipt}, hdr("track")},
			} {
				got := e.ftSend(r)
				// A valid token that cannot be checked is the server's
				// fault, not the client's: 5xx, not 401.
				ftProblem(t, "during the fault: "+r.name, got, http.StatusInternalServerError, http.StatusServiceUnavailable)
			}
			e.f.Clear()
			e.must(http.StatusOK, "GET", "/api/v1/petitions/"+e.id, e.reg, nil)
			if titles := e.ftTitles(t); len(titles) != 1 {
				t.Errorf("%d petitions listed after the fault, want 1", len(titles))
			}
			e.login("ft-reg", testPassword)
			e.petition(e.reg, ftBody(rid+" after"))
			e.ftExport(t)
			e.ftVerify(t)
		})
	}
}

// A commit failure in the middle of a concurrent burst fails exactly the
// requests of the batches it hits: every 201 is stored and recorded once,
// every 503 left nothing, and the chain has no gap.
func TestFaultsMidBurst(t *testing.T) {
	e := ftSetup(t)
	head := e.v.Log().Head().Size
	const writers, each = 8, 25
	type outcome struct {
		rid, marker, id string
		code            int
	}
	var (
		mu       sync.Mutex
		outcomes []outcome
		wg       sync.WaitGroup
	)
	start := e.f.Stats().Updates
	stop := make(chan struct{})
	wg.Go(func() {
		// After a few commits of the burst, fail commits until two have
		// failed, then clear.
		for e.f.Stats().Updates < start+5 {
			select {
			case <-stop:
				return
			default:
				time.Sleep(time.Millisecond)
			}
		}
		failed := e.f.Stats().FailedUpdates
		e.f.Fail(storetest.FailCommit)
		for e.f.Stats().FailedUpdates < failed+2 {
			select {
			case <-stop:
				e.f.Clear()
				return
			default:
				time.Sleep(time.Millisecond)
			}
		}
		e.f.Clear()
	})
	var writersWG sync.WaitGroup
	for g := range writers {
		writersWG.Go(func() {
			for i := range each {
				marker := fmt.Sprintf("burst-w%d-%02d", g, i)
				rid := "ft-" + marker
				r := e.harness.send(req{Method: "POST", Path: "/api/v1/petitions", Token: e.reg, Body: ftBody(marker),
					Header: map[string]string{"X-Request-ID": rid}})
				o := outcome{rid: rid, marker: marker, code: r.Code}
				if r.Code == http.StatusCreated {
					var p struct{ ID string }
					if err := json.Unmarshal(r.Body, &p); err != nil || p.ID == "" {
						t.Errorf("%s: 201 without an id: %s", rid, r.Body)
					}
					o.id = p.ID
				} else {
					ftProblem(t, rid, r, http.StatusServiceUnavailable)
				}
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
			}
		})
	}
	writersWG.Wait()
	close(stop)
	wg.Wait()
	e.f.Clear()

	var ok, failed, recorded503 int
	titles := e.ftTitles(t)
	byTitle := map[string]string{}
	for id, title := range titles {
		byTitle[title] = id
	}
	for _, o := range outcomes {
		es := e.entries(o.rid)
		id, listed := byTitle["拖欠工资 "+o.marker]
		switch o.code {
		case http.StatusCreated:
			ok++
			if !listed || id != o.id {
				t.Errorf("%s: acknowledged petition %s not listed (listed as %q)", o.rid, o.id, id)
			}
			r := e.must(http.StatusOK, "GET", "/api/v1/petitions/"+o.id, e.reg, nil).JSON(t)
			if r["title"] != "拖欠工资 "+o.marker {
				t.Errorf("%s: title %q", o.rid, r["title"])
			}
			if len(es) != 1 || es[0].Object == nil || es[0].Object.ID != o.id || es[0].Status != http.StatusCreated {
				t.Errorf("%s: audit entries %+v, want one petition.create of %s", o.rid, es, o.id)
			}
		default:
			failed++
			if listed {
				t.Errorf("%s: answered %d but its petition %s is listed", o.rid, o.code, id)
			}
			// The failure itself may be recorded once the fault is gone
			// (the handler records the 503 after the failed commit), but
			// never as a success.
			if len(es) > 1 || len(es) == 1 && es[0].Status != o.code {
				t.Errorf("%s: answered %d but recorded as %+v", o.rid, o.code, es)
			}
			if len(es) == 1 {
				recorded503++
			}
		}
	}
	t.Logf("burst: %d created, %d failed with 503 (%d of them recorded as 503), %d commits failed", ok, failed, recorded503, e.f.Stats().FailedUpdates)
	if failed == 0 {
		t.Fatalf("the fault hit no request of the burst")
	}
	if ok+failed != writers*each {
		t.Errorf("%d outcomes, want %d", ok+failed, writers*each)
	}
	if len(titles) != ok+1 {
		t.Errorf("%d petitions listed, want %d", len(titles), ok+1)
	}
	entries := e.ftExport(t)
	creates := 0
	for _, en := range entries[head:] {
		if en.Action == "petition.create" && en.Status == http.StatusCreated {
			creates++
		}
	}
	if creates != ok {
		t.Errorf("%d petition.create entries since the burst began, want %d", creates, ok)
	}
	e.ftVerify(t)
}

// ftReopen closes the vault and opens it again behind a new server, as a
// restart of the process does.
func (e *ftEnv) ftReopen(t *testing.T) {
	t.Helper()
	if err := e.v.Close(); err != nil {
		t.Logf("close before reopening: %v", err)
	}
	opts := vault.Options{Argon2: fastArgon, Now: e.clock.Now, Store: func(st store.Store) store.Store {
		e.f = storetest.NewFaulty(st)
		return e.f
	}}
	v, err := vault.Open(e.dir, opts)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	srv, err := New(Config{Vault: v, Now: e.clock.Now})
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	e.v, e.srv = v, srv
}

// ftConsistent checks, after a reopen, that the petitions and the audit log
// agree: every listed petition has exactly one successful petition.create
// entry and every such entry names a listed petition. It returns the
// titles by id.
func (e *ftEnv) ftConsistent(t *testing.T) map[string]string {
	t.Helper()
	titles := e.ftTitles(t)
	creates := map[string]int{}
	for _, en := range e.ftExport(t) {
		if en.Action == "petition.create" && en.Status == http.StatusCreated && en.Object != nil {
			creates[en.Object.ID]++
		}
	}
	for id, title := range titles {
		if creates[id] != 1 {
			t.Errorf("petition %s (%q) has %d petition.create entries, want 1", id, title, creates[id])
		}
		e.must(http.StatusOK, "GET", "/api/v1/petitions/"+id, e.sup, nil)
	}
	for id := range creates {
		if _, ok := titles[id]; !ok {
			t.Errorf("a petition.create entry names %s, which is not stored", id)
		}
	}
	e.ftVerify(t)
	return titles
}

// A commit whose writes reached the store but whose fsync failed (badger
// keeps such writes in its memtable, visible, and returns the sync error)
// has an unknown outcome. The request is answered 503; the log then refuses
// everything until the vault is reopened, and after the reopen the change
// is either absent or present together with its audit entry, never one
// without the other.
func TestFaultsSyncFailure(t *testing.T) {
	e := ftSetup(t)
	e.f.FailN(storetest.FailSync, 1)
	r := e.ftSend(ftRequest{"create", "POST", "/api/v1/petitions", e.reg, ftBody("ghost"), map[string]string{"X-Request-ID": "ft-sync-ghost"}})
	ftProblem(t, "create whose sync failed", r, http.StatusServiceUnavailable)
	if e.f.Active() != 0 {
		t.Fatalf("fault still active")
	}
	// The store works again, but the log cannot know what it holds.
	for _, rq := range e.ftRequests("ft-sync-after") {
		ftProblem(t, "after an ambiguous commit: "+rq.name, e.ftSend(rq), http.StatusServiceUnavailable)
	}
	if r := e.do("GET", "/readyz", "", nil); r.Code != http.StatusServiceUnavailable {
		t.Errorf("readyz after an ambiguous commit: %d %s", r.Code, r.Body)
	}

	e.ftReopen(t)
	if r := e.do("GET", "/readyz", "", nil); r.Code != http.StatusOK {
		t.Errorf("readyz after the reopen: %d %s", r.Code, r.Body)
	}
	titles := e.ftConsistent(t)
	ghost := ""
	for id, title := range titles {
		if strings.Contains(title, "ghost") {
			ghost = id
		}
	}
	es := e.entries("ft-sync-ghost")
	switch {
	case ghost == "" && len(es) != 0:
		t.Errorf("the create answered 503 is absent but recorded: %+v", es[0])
	case ghost != "" && (len(es) != 1 || es[0].Object == nil || es[0].Object.ID != ghost):
		t.Errorf("the create answered 503 is stored as %s but recorded as %+v", ghost, es)
	}
	t.Logf("after the reopen the ambiguous create is %s", map[bool]string{true: "present, with its entry", false: "absent"}[ghost != ""])
	for _, rq := range e.ftRequests("ft-sync-after") {
		if es := e.entries(rq.header["X-Request-ID"]); len(es) != 0 {
			t.Errorf("%s, refused after the ambiguous commit, was recorded: %+v", rq.name, es[0])
		}
	}
	// Tokens survive; new work succeeds.
	e.must(http.StatusOK, "GET", "/api/v1/petitions/"+e.id, e.reg, nil)
	e.petition(e.reg, ftBody("after the reopen"))
	e.login("ft-reg", testPassword)
	e.ftConsistent(t)
}

// The same in the middle of a concurrent burst: every 201 survives the
// reopen with its entry, and a 503 of the ambiguous batch is either absent
// or present with its entry.
func TestFaultsSyncFailureMidBurst(t *testing.T) {
	e := ftSetup(t)
	const writers, each = 8, 12
	type outcome struct {
		rid, marker, id string
		code            int
	}
	var (
		mu       sync.Mutex
		outcomes []outcome
		wg       sync.WaitGroup
	)
	// Hold the failed sync a moment, so that requests queue up behind the
	// ambiguous batch (as they do under real load, where an fsync error
	// takes its time).
	e.f.OnFault(func(storetest.Fault) { time.Sleep(30 * time.Millisecond) })
	start := e.f.Stats().Updates
	wg.Go(func() {
		for e.f.Stats().Updates < start+4 {
			time.Sleep(time.Millisecond)
		}
		e.f.FailN(storetest.FailSync, 1)
	})
	var writersWG sync.WaitGroup
	for g := range writers {
		writersWG.Go(func() {
			for i := range each {
				marker := fmt.Sprintf("sync-w%d-%02d", g, i)
				r := e.harness.send(req{Method: "POST", Path: "/api/v1/petitions", Token: e.reg, Body: ftBody(marker),
					Header: map[string]string{"X-Request-ID": "ft-" + marker}})
				o := outcome{rid: "ft-" + marker, marker: marker, code: r.Code}
				if r.Code == http.StatusCreated {
					var p struct{ ID string }
					_ = json.Unmarshal(r.Body, &p)
					o.id = p.ID
				} else {
					ftProblem(t, o.rid, r, http.StatusServiceUnavailable)
				}
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
			}
		})
	}
	writersWG.Wait()
	wg.Wait()
	e.ftReopen(t)
	titles := e.ftConsistent(t)
	byTitle := map[string]string{}
	for id, title := range titles {
		byTitle[title] = id
	}
	var ok, refused, refusedStored int
	for _, o := range outcomes {
		id, stored := byTitle["拖欠工资 "+o.marker]
		es := e.entries(o.rid)
		if o.code == http.StatusCreated {
			ok++
			if !stored || id != o.id || len(es) != 1 {
				t.Errorf("%s: acknowledged %s; stored as %q with %d entries", o.rid, o.id, id, len(es))
			}
			continue
		}
		refused++
		if stored {
			refusedStored++
			if len(es) != 1 || es[0].Object == nil || es[0].Object.ID != id {
				t.Errorf("%s: answered 503, stored as %s, recorded as %+v", o.rid, id, es)
			}
		} else if len(es) != 0 {
			t.Errorf("%s: answered 503, not stored, but recorded: %+v", o.rid, es[0])
		}
	}
	t.Logf("burst: %d created, %d refused (%d of them stored by the ambiguous commit)", ok, refused, refusedStored)
	if refused == 0 {
		t.Fatalf("the fault hit no request of the burst")
	}
	if refusedStored > 0 && refusedStored > refused {
		t.Errorf("%d refused creates stored", refusedStored)
	}
	if len(titles) != ok+refusedStored+1 {
		t.Errorf("%d petitions stored, want %d", len(titles), ok+refusedStored+1)
	}
}

// GET /petitions lists every petition, however many there are: List reads
// its indexes 128 keys at a time, and the petitions at the seam must not be
// lost.
func TestFaultsListChunkBoundary(t *testing.T) {
	e := ftSetup(t)
	want := map[string]bool{e.id: true}
	for i := range 130 {
		want[e.petition(e.reg, ftBody(fmt.Sprint("chunk ", i)))["id"].(string)] = true
	}
	got := e.ftTitles(t) // limit=500: one page
	for id := range want {
		if _, ok := got[id]; !ok {
			t.Errorf("petition %s is missing from GET /petitions?limit=500", id)
		}
	}
	if len(got) != len(want) {
		t.Errorf("GET /petitions?limit=500 listed %d petitions, want %d", len(got), len(want))
	}
}
