package audit

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"pvault/vault/store"
)

// openLog opens a Log on st and closes it at the end of the test.
func openLog(tb testing.TB, st store.Store, opts Options) *Log {
	tb.Helper()
	l, err := Open(st, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

// testEntry is an entry as a request handler would build it.
func testEntry(i int) *Entry {
	return &Entry{
		RequestID: fmt.Sprintf("req-%d", i),
		Actor:     &Actor{UserID: "u1", Username: "alice", Roles: []string{"officer"}, Unit: "group"},
		Action:    "petition.read",
		Object:    &Object{Type: "petition", ID: fmt.Sprintf("p%d", i%3)},
		Decision:  Allow,
		Status:    200,
		Details:   map[string]any{"i": i},
	}
}

func appendN(tb testing.TB, l *Log, n int) []Entry {
	tb.Helper()
	var out []Entry
	for i := 0; i < n; i++ {
		e, err := l.Append(testEntry(i), nil)
		if err != nil {
			tb.Fatalf("Append %d: %v", i, err)
		}
		out = append(out, e)
	}
	return out
}

// exportLines returns the lines of l.Export(start, end), checking that each
// ends with a newline.
func exportLines(tb testing.TB, l *Log, start, end int64) [][]byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := l.Export(&buf, start, end); err != nil {
		tb.Fatal(err)
	}
	if buf.Len() == 0 {
		return nil
	}
	if !bytes.HasSuffix(buf.Bytes(), []byte("\n")) {
		tb.Fatalf("export does not end with a newline")
	}
	return bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
}

func verifyOK(tb testing.TB, st store.Store, size int64) Result {
	tb.Helper()
	res, err := VerifyStore(st)
	if err != nil {
		tb.Fatalf("VerifyStore: %v", err)
	}
	if !res.OK || res.Size != size || res.FirstBadSeq != nil {
		tb.Fatalf("VerifyStore = %+v, want ok with size %d", res, size)
	}
	return res
}

// clock is a settable clock safe for use from the appender goroutine.
type clock struct {
	mu    sync.Mutex
	times []time.Time // returned in order; the last one repeats
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.times[0]
	if len(c.times) > 1 {
		c.times = c.times[1:]
	}
	return t
}

var hexID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestAppendAssignsSeqPrevAndTime(t *testing.T) {
	st := store.NewMem()
	l := openLog(t, st, Options{})
	if h := l.Head(); h.Size != 0 {
		t.Fatalf("empty head = %+v", h)
	}
	before := time.Now().UTC()
	got := appendN(t, l, 10)
	lines := exportLines(t, l, 0, 0)
	for i, e := range got {
		if e.Seq != int64(i) {
			t.Errorf("entry %d: seq %d", i, e.Seq)
		}
		wantPrev := ZeroPrev
		if i > 0 {
			wantPrev = EncodeHash(LeafHash(lines[i-1]))
		}
		if e.Prev != wantPrev {
			t.Errorf("entry %d: prev %s, want %s", i, e.Prev, wantPrev)
		}
		if e.Time.Location() != time.UTC || e.Time.Before(before) {
			t.Errorf("entry %d: time %v", i, e.Time)
		}
		if e.RequestID != fmt.Sprintf("req-%d", i) {
			t.Errorf("entry %d: request id %q replaced", i, e.RequestID)
		}
		// The returned entry is what was stored.
		line, err := e.Marshal()
		if err != nil || !bytes.Equal(line, lines[i]) {
			t.Errorf("entry %d: returned entry encodes to %s, stored %s", i, line, lines[i])
		}
	}
	h := l.Head()
	if h.Size != 10 || h.Last != EncodeHash(LeafHash(lines[9])) || !h.Time.Equal(got[9].Time) {
		t.Errorf("Head = %+v", h)
	}
	if rh, err := ReadHead(st); err != nil || rh.Size != h.Size || rh.Last != h.Last || !rh.Time.Equal(h.Time) {
		t.Errorf("ReadHead = %+v, %v; want %+v", rh, err, h)
	}
	verifyOK(t, st, 10)
}

func TestAppendDoesNotModifyCallerEntry(t *testing.T) {
	l := openLog(t, store.NewMem(), Options{})
	e := testEntry(1)
	e.RequestID = ""
	if _, err := l.Append(e, nil); err != nil {
		t.Fatal(err)
	}
	if e.Seq != 0 || e.RequestID != "" || e.Prev != "" || !e.Time.IsZero() {
		t.Errorf("Append modified the caller's entry: %+v", e)
	}
}

func TestAppendTimeMonotonic(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	cst := time.FixedZone("CST", 8*3600)
	c := &clock{times: []time.Time{
		t0.Add(10 * time.Second),
		t0.Add(5 * time.Second), // backwards
		t0.Add(20 * time.Second).In(cst),
		t0.Add(1 * time.Second), // backwards again
		t0.Add(20*time.Second + 1),
	}}
	st := store.NewMem()
	l := openLog(t, st, Options{Now: c.Now})
	want := []time.Time{t0.Add(10 * time.Second), t0.Add(10 * time.Second), t0.Add(20 * time.Second), t0.Add(20 * time.Second), t0.Add(20*time.Second + 1)}
	for i, w := range want {
		e, err := l.Append(testEntry(i), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !e.Time.Equal(w) || e.Time.Location() != time.UTC {
			t.Errorf("entry %d: time %v, want %v", i, e.Time, w)
		}
	}
	verifyOK(t, st, 5)

	// A reopened log keeps times monotonic across the restart.
	l.Close()
	c2 := &clock{times: []time.Time{t0}}
	l2 := openLog(t, st, Options{Now: c2.Now})
	e, err := l2.Append(testEntry(9), nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq != 5 || e.Time.Before(want[4]) {
		t.Errorf("after reopen: seq %d time %v, want seq 5 and time ≥ %v", e.Seq, e.Time, want[4])
	}
	verifyOK(t, st, 6)
}

func TestReopenContinuesChain(t *testing.T) {
	st := store.NewMem()
	l := openLog(t, st, Options{})
	appendN(t, l, 3)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := l.Append(testEntry(0), nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
	l2 := openLog(t, st, Options{})
	if h := l2.Head(); h.Size != 3 {
		t.Fatalf("reopened head = %+v", h)
	}
	e, err := l2.Append(testEntry(3), nil)
	if err != nil {
		t.Fatal(err)
	}
	lines := exportLines(t, l2, 0, 0)
	if e.Seq != 3 || e.Prev != EncodeHash(LeafHash(lines[2])) {
		t.Errorf("after reopen: %+v", e)
	}
	// Request ids of the earlier run still count as used.
	e2, err := l2.Append(testEntry(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	if e2.RequestID == "req-0" {
		t.Errorf("request id req-0 reused after reopen")
	}
	verifyOK(t, st, 5)
}

func TestAppendWritesOps(t *testing.T) {
	st := store.NewMem()
	l := openLog(t, st, Options{})
	if err := st.Update(func(tx store.Tx) error { return tx.Set([]byte("d/old"), []byte("x")) }); err != nil {
		t.Fatal(err)
	}
	_, err := l.Append(testEntry(0), []store.Op{store.Put([]byte("d/new"), []byte("v")), store.Del([]byte("d/old"))})
	if err != nil {
		t.Fatal(err)
	}
	err = st.View(func(r store.Reader) error {
		if v, err := r.Get([]byte("d/new")); err != nil || string(v) != "v" {
			t.Errorf("d/new = %q, %v", v, err)
		}
		if _, err := r.Get([]byte("d/old")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("d/old not deleted: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRequestIDReplaced(t *testing.T) {
	st := store.NewMem()
	l := openLog(t, st, Options{})
	mk := func(rid string) *Entry { e := testEntry(0); e.RequestID = rid; return e }
	e0, err := l.Append(mk(""), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !hexID.MatchString(e0.RequestID) {
		t.Errorf("empty request id replaced by %q, want 32 hex digits", e0.RequestID)
	}
	e1, err := l.Append(mk("client-1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if e1.RequestID != "client-1" {
		t.Errorf("unused request id replaced: %q", e1.RequestID)
	}
	e2, err := l.Append(mk("client-1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if e2.RequestID == "client-1" || !hexID.MatchString(e2.RequestID) {
		t.Errorf("reused request id became %q, want a fresh one", e2.RequestID)
	}
	e3, err := l.Append(mk(e0.RequestID), nil)
	if err != nil {
		t.Fatal(err)
	}
	if e3.RequestID == e0.RequestID {
		t.Errorf("generated request id reused")
	}
	// Each request id finds its own entry.
	for _, e := range []Entry{e0, e1, e2, e3} {
		got, _, err := l.Entries(Filter{RequestID: e.RequestID})
		if err != nil || len(got) != 1 || got[0].Seq != e.Seq {
			t.Errorf("Entries(request_id=%s) = %v, %v; want seq %d", e.RequestID, got, err, e.Seq)
		}
	}
	verifyOK(t, st, 4)
}

// batchSizes records the sizes of the log's successful commits.
type batchSizes struct {
	mu    sync.Mutex
	sizes []int
}

func (b *batchSizes) onCommit(n int, _ time.Duration, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil {
		b.sizes = append(b.sizes, n)
	}
}

func (b *batchSizes) get() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.sizes)
}

// gateStore is a Mem whose Update can be held at its start until released,
// so that a test can queue several appends into one batch.
type gateStore struct {
	*store.Mem
	hold    atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (g *gateStore) Update(fn func(store.Tx) error) error {
	if g.hold.Load() {
		g.entered <- struct{}{}
		<-g.release
	}
	return g.Mem.Update(fn)
}

func TestRequestIDReplacedWithinBatch(t *testing.T) {
	g := &gateStore{Mem: store.NewMem(), entered: make(chan struct{}, 1), release: make(chan struct{})}
	var batches batchSizes
	l := openLog(t, g, Options{OnCommit: batches.onCommit})
	mk := func(rid string) *Entry { e := testEntry(0); e.RequestID = rid; return e }
	if _, err := l.Append(mk("taken"), nil); err != nil {
		t.Fatal(err)
	}

	// Hold the appender inside the commit of a first entry.
	g.hold.Store(true)
	firstDone := make(chan error, 1)
	go func() { _, err := l.Append(mk("first"), nil); firstDone <- err }()
	<-g.entered
	g.hold.Store(false)

	rids := []string{"dup", "dup", "taken", "", "dup"}
	results := make([]Entry, len(rids))
	var wg sync.WaitGroup
	for i, rid := range rids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := l.Append(mk(rid), nil)
			if err != nil {
				t.Errorf("Append(%q): %v", rid, err)
			}
			results[i] = e
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(l.reqs) < len(rids) {
		if time.Now().After(deadline) {
			t.Fatal("appends were not queued")
		}
		time.Sleep(time.Millisecond)
	}
	close(g.release)
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	if got := batches.get(); !slices.Equal(got, []int{1, 1, len(rids)}) {
		t.Errorf("batch sizes %v, want [1 1 %d]", got, len(rids))
	}
	dups := 0
	seen := map[string]bool{"taken": true, "first": true}
	for i, e := range results {
		switch {
		case e.RequestID == "dup":
			dups++
		case e.RequestID == "":
			t.Errorf("entry %d has an empty request id", i)
		case rids[i] != "" && e.RequestID == rids[i]:
			t.Errorf("entry %d kept used request id %q", i, rids[i])
		case !hexID.MatchString(e.RequestID):
			t.Errorf("entry %d: replacement request id %q", i, e.RequestID)
		}
		if seen[e.RequestID] {
			t.Errorf("request id %q used twice", e.RequestID)
		}
		seen[e.RequestID] = true
	}
	if dups != 1 {
		t.Errorf("%d entries kept request id dup, want 1", dups)
	}
	verifyOK(t, g, int64(2+len(rids)))
}

// TestGatherWaitsForLastBatch checks that, after a commit of n entries, the
// next commit gathers until it has n (within GatherWait) even when no request
// is announced with Expect: under a steady load the clients served by one
// commit come back together, and one commit serves them again.
func TestGatherWaitsForLastBatch(t *testing.T) {
	g := &gateStore{Mem: store.NewMem(), entered: make(chan struct{}, 1), release: make(chan struct{})}
	var batches batchSizes
	l := openLog(t, g, Options{GatherWait: time.Minute, OnCommit: batches.onCommit})
	appendAsync := func(n int) *sync.WaitGroup {
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := l.Append(testEntry(i), nil); err != nil {
					t.Error(err)
				}
			}()
		}
		return &wg
	}
	waitQueued := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for len(l.reqs) != n {
			if time.Now().After(deadline) {
				t.Fatalf("%d appends queued, want %d", len(l.reqs), n)
			}
			time.Sleep(time.Millisecond)
		}
	}

	// A first commit held in the store while three appends queue up: they
	// make a batch of three.
	g.hold.Store(true)
	first := appendAsync(1)
	<-g.entered
	g.hold.Store(false)
	three := appendAsync(3)
	waitQueued(3)
	close(g.release)
	first.Wait()
	three.Wait()

	// One append, taken by the appender alone; then two more. The appender
	// waits for them and commits the three together. (The pause only gives
	// the appender time to take the first: were it too short, the three
	// would be queued together and the test would pass without the rule,
	// never fail with it.)
	one := appendAsync(1)
	for l.expected.Load() != 0 || len(l.reqs) != 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	two := appendAsync(2)
	one.Wait()
	two.Wait()

	if got := batches.get(); !slices.Equal(got, []int{1, 3, 3}) {
		t.Errorf("batch sizes %v, want [1 3 3]", got)
	}
	verifyOK(t, g, 7)
}

// TestGatherGivesUp checks that the wait for a batch as large as the last
// one ends after GatherWait: a lone request after a shared commit waits that
// long, no longer, and is committed alone.
func TestGatherGivesUp(t *testing.T) {
	const gather = 30 * time.Millisecond
	g := &gateStore{Mem: store.NewMem(), entered: make(chan struct{}, 1), release: make(chan struct{})}
	var batches batchSizes
	l := openLog(t, g, Options{GatherWait: gather, OnCommit: batches.onCommit})
	// A batch of three, queued behind a held commit.
	g.hold.Store(true)
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := l.Append(testEntry(0), nil); err != nil {
			t.Error(err)
		}
	})
	<-g.entered
	g.hold.Store(false)
	for i := range 3 {
		wg.Go(func() {
			if _, err := l.Append(testEntry(i+1), nil); err != nil {
				t.Error(err)
			}
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(l.reqs) != 3 {
		if time.Now().After(deadline) {
			t.Fatal("appends were not queued")
		}
		time.Sleep(time.Millisecond)
	}
	close(g.release)
	wg.Wait()

	start := time.Now()
	if _, err := l.Append(testEntry(9), nil); err != nil {
		t.Fatal(err)
	}
	// The lower bound is the rule at work; the upper one, far above it,
	// only says the wait ended.
	if took := time.Since(start); took < gather || took > 10*time.Second {
		t.Errorf("a lone append after a batch of 3 took %v, want GatherWait (%v) and not much more", took, gather)
	}
	if got := batches.get(); !slices.Equal(got, []int{1, 3, 1}) {
		t.Errorf("batch sizes %v, want [1 3 1]", got)
	}
}

// buildFilterLog appends a varied set of entries and returns them.
func buildFilterLog(t *testing.T) (*Log, []Entry) {
	t.Helper()
	l := openLog(t, store.NewMem(), Options{})
	actor := func(name string) *Actor {
		if name == "" {
			return nil
		}
		return &Actor{UserID: "id-" + name, Username: name, Roles: []string{"officer"}, Unit: "group"}
	}
	obj := func(id string) *Object {
		if id == "" {
			return nil
		}
		return &Object{Type: "petition", ID: id}
	}
	specs := []struct{ actor, action, object string }{
		{"alice", "petition.read", "P1"},
		{"bob", "petition.read", "P2"},
		{"", "public.submit", "P3"},
		{"alice", "petition.list", ""},
		{"alice", "petition.read", "P2"},
		{"bob", "auth.login", "U1"},
		{"carol", "petition.read", "P1"},
		{"alice", "petition.read", "P1"},
		{"", "auth.login_failed", ""},
		{"bob", "petition.action", "P1"},
		{"alice", "petition.read", "P3"},
		{"alice", "petition.reveal_identity", "P1"},
		// A username that is a prefix of another, and an object id that
		// is a prefix of another: the index must not mix them.
		{"al", "petition.read", "P"},
		{"alice", "petition.read", "P10"},
	}
	var out []Entry
	for i, s := range specs {
		e, err := l.Append(&Entry{RequestID: fmt.Sprintf("rid-%02d", i), Actor: actor(s.actor), Action: s.action,
			Object: obj(s.object), Decision: Allow, Status: 200}, nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return l, out
}

// wantEntries is the reference meaning of Entries: matches with seq ≥ Start,
// the first Limit of them, and the seq of the next match (0 when none).
func wantEntries(all []Entry, f Filter) ([]int64, int64) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	var out []int64
	for _, e := range all {
		if e.Seq < f.Start ||
			f.Actor != "" && (e.Actor == nil || e.Actor.Username != f.Actor) ||
			f.Action != "" && e.Action != f.Action ||
			f.Object != "" && (e.Object == nil || e.Object.ID != f.Object) ||
			f.RequestID != "" && e.RequestID != f.RequestID {
			continue
		}
		if len(out) == f.Limit {
			return out, e.Seq
		}
		out = append(out, e.Seq)
	}
	return out, 0
}

func TestEntriesFilters(t *testing.T) {
	l, all := buildFilterLog(t)
	for _, tt := range []struct {
		name     string
		f        Filter
		wantSeqs []int64 // nil: only compare with the reference
	}{
		{"all", Filter{}, nil},
		{"limit", Filter{Limit: 5}, []int64{0, 1, 2, 3, 4}},
		{"start", Filter{Start: 11}, []int64{11, 12, 13}},
		{"start and limit", Filter{Start: 3, Limit: 2}, []int64{3, 4}},
		{"start past end", Filter{Start: 100}, []int64{}},
		{"actor", Filter{Actor: "alice"}, []int64{0, 3, 4, 7, 10, 11, 13}},
		{"actor prefix only", Filter{Actor: "al"}, []int64{12}},
		{"actor unknown", Filter{Actor: "dave"}, []int64{}},
		{"action", Filter{Action: "petition.read"}, []int64{0, 1, 4, 6, 7, 10, 12, 13}},
		{"object", Filter{Object: "P1"}, []int64{0, 6, 7, 9, 11}},
		{"object prefix only", Filter{Object: "P"}, []int64{12}},
		{"object user", Filter{Object: "U1"}, []int64{5}},
		{"actor and action", Filter{Actor: "alice", Action: "petition.read"}, []int64{0, 4, 7, 10, 13}},
		{"actor and object", Filter{Actor: "alice", Object: "P1"}, []int64{0, 7, 11}},
		{"action and object", Filter{Action: "petition.read", Object: "P2"}, []int64{1, 4}},
		{"all three", Filter{Actor: "bob", Action: "petition.action", Object: "P1"}, []int64{9}},
		{"actor with start", Filter{Actor: "alice", Start: 5}, []int64{7, 10, 11, 13}},
		{"actor with limit", Filter{Actor: "alice", Limit: 2}, []int64{0, 3}},
		{"action with start and limit", Filter{Action: "petition.read", Start: 2, Limit: 3}, []int64{4, 6, 7}},
		{"request id", Filter{RequestID: "rid-05"}, []int64{5}},
		{"request id unknown", Filter{RequestID: "nope"}, []int64{}},
		{"request id before start", Filter{RequestID: "rid-05", Start: 6}, []int64{}},
		{"request id and matching actor", Filter{RequestID: "rid-05", Actor: "bob"}, []int64{5}},
		{"request id and other actor", Filter{RequestID: "rid-05", Actor: "alice"}, []int64{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, next, err := l.Entries(tt.f)
			if err != nil {
				t.Fatal(err)
			}
			gotSeqs := []int64{}
			for _, e := range got {
				gotSeqs = append(gotSeqs, e.Seq)
			}
			refSeqs, refNext := wantEntries(all, tt.f)
			if refSeqs == nil {
				refSeqs = []int64{}
			}
			if tt.wantSeqs != nil && !slices.Equal(refSeqs, tt.wantSeqs) {
				t.Fatalf("test table disagrees with the reference: %v vs %v", tt.wantSeqs, refSeqs)
			}
			if !slices.Equal(gotSeqs, refSeqs) || next != refNext {
				t.Errorf("Entries(%+v) = seqs %v next %d; want %v next %d", tt.f, gotSeqs, next, refSeqs, refNext)
			}
			for _, e := range got {
				want, _ := all[e.Seq].Marshal()
				line, _ := e.Marshal()
				if !bytes.Equal(line, want) {
					t.Errorf("entry %d = %s, want %s", e.Seq, line, want)
				}
			}
		})
	}
}

func TestEntriesPaging(t *testing.T) {
	l, all := buildFilterLog(t)
	for _, f := range []Filter{{}, {Actor: "alice"}, {Action: "petition.read"}, {Object: "P1"}} {
		for _, limit := range []int{1, 2, 3, 50} {
			f := f
			f.Limit = limit
			var seqs []int64
			for pages := 0; ; pages++ {
				if pages > len(all)+1 {
					t.Fatalf("%+v: paging does not end", f)
				}
				got, next, err := l.Entries(f)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) > limit {
					t.Fatalf("%+v: page of %d", f, len(got))
				}
				for _, e := range got {
					seqs = append(seqs, e.Seq)
				}
				if next == 0 {
					break
				}
				if next <= f.Start {
					t.Fatalf("%+v: next %d does not advance", f, next)
				}
				f.Start = next
			}
			f.Start, f.Limit = 0, len(all)
			want, _ := wantEntries(all, f)
			if !slices.Equal(seqs, want) {
				t.Errorf("paging %+v by %d: %v, want %v", f, limit, seqs, want)
			}
		}
	}
}

func TestExport(t *testing.T) {
	st := store.NewMem()
	l := openLog(t, st, Options{})
	if lines := exportLines(t, l, 0, 0); len(lines) != 0 {
		t.Fatalf("export of an empty log: %q", lines)
	}
	all := appendN(t, l, 8)
	var want [][]byte
	for _, e := range all {
		b, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, b)
	}
	for _, tt := range []struct {
		name       string
		start, end int64
		from, to   int
	}{
		{"all", 0, 0, 0, 8},
		{"range", 2, 5, 2, 5},
		{"end past head", 6, 100, 6, 8},
		{"negative end", 3, -1, 3, 8},
		{"negative start", -4, 2, 0, 2},
		{"empty range", 5, 5, 0, 0},
		{"start past end", 6, 3, 0, 0},
		{"start past head", 20, 0, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := exportLines(t, l, tt.start, tt.end)
			w := want[tt.from:tt.to]
			if len(got) != len(w) {
				t.Fatalf("Export(%d, %d) has %d lines, want %d", tt.start, tt.end, len(got), len(w))
			}
			for i := range got {
				if !bytes.Equal(got[i], w[i]) {
					t.Errorf("line %d = %s, want %s", i, got[i], w[i])
				}
			}
		})
	}
	// The export verifies, with the root of the stored log.
	c := NewChecker()
	for _, line := range exportLines(t, l, 0, 0) {
		if err := c.Add(line); err != nil {
			t.Fatal(err)
		}
	}
	res := verifyOK(t, st, 8)
	if EncodeHash(c.Root()) != res.Root {
		t.Errorf("export root %s, store root %s", EncodeHash(c.Root()), res.Root)
	}
}

func TestConcurrentAppend(t *testing.T) {
	st := store.NewMem()
	var commits atomic.Int64
	l := openLog(t, st, Options{OnCommit: func(int, time.Duration, error) { commits.Add(1) }})
	const workers, per = 50, 20
	seqs := make([][]int64, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				e := testEntry(i)
				e.RequestID = fmt.Sprintf("w%d", w) // reused: replaced after the first
				key := []byte(fmt.Sprintf("d/%02d/%02d", w, i))
				got, err := l.Append(e, []store.Op{store.Put(key, key)})
				if err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				seqs[w] = append(seqs[w], got.Seq)
			}
		}()
	}
	wg.Wait()
	seen := make(map[int64]bool)
	for w, s := range seqs {
		if !slices.IsSorted(s) {
			t.Errorf("worker %d saw seqs out of order: %v", w, s)
		}
		for _, x := range s {
			if seen[x] || x < 0 || x >= workers*per {
				t.Errorf("seq %d repeated or out of range", x)
			}
			seen[x] = true
		}
	}
	if len(seen) != workers*per {
		t.Errorf("%d distinct seqs, want %d", len(seen), workers*per)
	}
	verifyOK(t, st, workers*per)
	n := 0
	err := st.View(func(r store.Reader) error {
		return r.Scan(store.ScanOptions{Prefix: []byte("d/"), KeysOnly: true}, func(_, _ []byte) error { n++; return nil })
	})
	if err != nil || n != workers*per {
		t.Errorf("%d data writes stored, want %d (%v)", n, workers*per, err)
	}
	t.Logf("%d entries in %d commits", workers*per, commits.Load())
}

var errInjected = errors.New("injected commit failure")

// flakyStore is a Mem whose commits fail on demand: the transaction runs,
// then is rolled back, as when a disk write or sync fails.
type flakyStore struct {
	*store.Mem
	fail atomic.Bool
}

func (f *flakyStore) Update(fn func(store.Tx) error) error {
	return f.Mem.Update(func(tx store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if f.fail.Load() {
			return errInjected
		}
		return nil
	})
}

func TestAppendFailsClosed(t *testing.T) {
	fs := &flakyStore{Mem: store.NewMem()}
	var failures atomic.Int64
	l := openLog(t, fs, Options{OnCommit: func(_ int, _ time.Duration, err error) {
		if err != nil {
			failures.Add(1)
		}
	}})
	first, err := l.Append(testEntry(0), []store.Op{store.Put([]byte("d/0"), []byte("x"))})
	if err != nil {
		t.Fatal(err)
	}
	if !l.Healthy() {
		t.Fatal("unhealthy after a successful commit")
	}
	headBefore := l.Head()

	fs.fail.Store(true)
	e, err := l.Append(testEntry(1), []store.Op{store.Put([]byte("d/1"), []byte("x")), store.Del([]byte("d/0"))})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Append on a failing store = %+v, %v; want ErrUnavailable", e, err)
	}
	if !errors.Is(err, errInjected) {
		t.Errorf("error %v does not wrap the store's error", err)
	}
	if e.Seq != 0 || e.RequestID != "" {
		t.Errorf("failed Append returned an entry: %+v", e)
	}
	if l.Healthy() {
		t.Error("Healthy after a failed commit")
	}
	// Several callers at once: all fail.
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := []byte(fmt.Sprintf("d/c%d", i))
			if _, err := l.Append(testEntry(10+i), []store.Op{store.Put(key, key)}); !errors.Is(err, ErrUnavailable) {
				t.Errorf("concurrent Append on a failing store = %v", err)
			}
		}()
	}
	wg.Wait()
	if h := l.Head(); h != headBefore {
		t.Errorf("head moved on failure: %+v, was %+v", h, headBefore)
	}
	err = fs.View(func(r store.Reader) error {
		if _, err := r.Get([]byte("d/0")); err != nil {
			t.Errorf("d/0 deleted by a failed Append: %v", err)
		}
		return r.Scan(store.ScanOptions{Prefix: []byte("d/"), KeysOnly: true}, func(k, _ []byte) error {
			if string(k) != "d/0" {
				t.Errorf("failed Append stored %q", k)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := l.Entries(Filter{}); len(got) != 1 {
		t.Errorf("%d entries after failures, want 1", len(got))
	}
	verifyOK(t, fs, 1)
	if failures.Load() == 0 {
		t.Error("OnCommit did not report the failures")
	}

	// Recovery: the next commit continues the chain where it was.
	fs.fail.Store(false)
	e, err = l.Append(testEntry(1), []store.Op{store.Put([]byte("d/1"), []byte("x"))})
	if err != nil {
		t.Fatal(err)
	}
	if !l.Healthy() {
		t.Error("still unhealthy after a successful commit")
	}
	firstLine, _ := first.Marshal()
	if e.Seq != 1 || e.Prev != EncodeHash(LeafHash(firstLine)) {
		t.Errorf("after recovery: %+v", e)
	}
	verifyOK(t, fs, 2)
}

// tamperLog builds a log of n entries on a Mem and returns the store.
func tamperLog(t testing.TB, n int) *store.Mem {
	t.Helper()
	st := store.NewMem()
	l, err := Open(st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, n)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	verifyOK(t, st, int64(n))
	return st
}

func TestVerifyStoreDetectsTampering(t *testing.T) {
	for _, first := range []bool{false, true} {
		name := "second format"
		if first {
			name = "first format"
		}
		t.Run(name, func(t *testing.T) { testVerifyStoreDetectsTampering(t, first) })
	}
}

func testVerifyStoreDetectsTampering(t *testing.T, firstFormat bool) {
	const n = 9
	get := func(tx store.Tx, k []byte) []byte {
		t.Helper()
		return append([]byte(nil), tGet(t, tx, k)...)
	}
	editStatus := func(k int64) func(store.Tx) error {
		return func(tx store.Tx) error {
			e, err := ParseEntry(tLine(t, tx, k))
			if err != nil {
				return err
			}
			e.Status = 500
			b, err := e.Marshal()
			if err != nil {
				return err
			}
			if _, err := ParseEntry(b); err != nil {
				return fmt.Errorf("edited entry not canonical: %w", err)
			}
			return tSetLine(t, tx, k, b)
		}
	}
	del := func(ks ...int64) func(store.Tx) error {
		return func(tx store.Tx) error {
			for _, k := range ks {
				if err := tx.Delete(entryKey(k)); err != nil {
					return err
				}
			}
			return nil
		}
	}
	swap := func(k int64) func(store.Tx) error {
		return func(tx store.Tx) error {
			a, b := get(tx, entryKey(k)), get(tx, entryKey(k+1))
			if err := tx.Set(entryKey(k), b); err != nil {
				return err
			}
			return tx.Set(entryKey(k+1), a)
		}
	}
	flipHash := func(idx int64) func(store.Tx) error {
		return func(tx store.Tx) error { return tFlipHash(t, tx, idx) }
	}
	leafIdx := func(k int64) int64 { return tlog.StoredHashIndex(0, k) }
	type tamper struct {
		name    string
		tamper  func(store.Tx) error
		wantBad int64
	}
	// The second format stores no leaf hashes: an edited entry that
	// completes no interior node (an even one) is named through the next
	// entry, whose chain link and level-1 hash both record its leaf.
	cases := []tamper{
		{"edit first entry", editStatus(0), 0},
		{"edit middle entry", editStatus(4), 4},
		{"edit last entry", editStatus(n - 1), n - 1},
		{"delete first entry", del(0), 0},
		{"delete middle entry", del(5), 5},
		{"delete last entry", del(n - 1), n - 1},
		{"swap first two", swap(0), 0},
		{"swap middle", swap(3), 3},
		{"swap last two", swap(n - 2), n - 2},
		{"truncate last two", del(n-2, n-1), n - 2},
		{"truncate last three", del(n-3, n-2, n-1), n - 3},
		{"truncate all", del(0, 1, 2, 3, 4, 5, 6, 7, 8), 0},
		// An interior node is checked with the entry that completes it
		// (level 3, node 0 covers entries 0–7).
		{"edit stored interior hash", flipHash(tlog.StoredHashIndex(3, 0)), 7},
		{"edit stored level-1 hash", flipHash(tlog.StoredHashIndex(1, 2)), 5},
		{"edit the chain link of an odd entry", func(tx store.Tx) error {
			e, err := ParseEntry(tLine(t, tx, 5))
			if err != nil {
				return err
			}
			e.Prev = ZeroPrev
			b, err := e.Marshal()
			if err != nil {
				return err
			}
			return tSetLine(t, tx, 5, b)
		}, 5},
		{"replace entry with a non-canonical one", func(tx store.Tx) error {
			return tx.Set(entryKey(2), append(get(tx, entryKey(2)), ' '))
		}, 2},
		{"duplicate an entry over the next", func(tx store.Tx) error {
			return tx.Set(entryKey(4), get(tx, entryKey(3)))
		}, 4},
		{"extra entry past the head", func(tx store.Tx) error {
			return tx.Set(entryKey(n), get(tx, entryKey(n-1)))
		}, n},
		{"head claims more entries", func(tx store.Tx) error {
			return tx.Set(keyHead, bytes.Replace(get(tx, keyHead), []byte(fmt.Sprintf(`"size":%d`, n)), []byte(fmt.Sprintf(`"size":%d`, n+2)), 1))
		}, n},
	}
	if firstFormat {
		cases = append(cases,
			tamper{"edit stored leaf hash 0", flipHash(leafIdx(0)), 0},
			tamper{"edit stored leaf hash 6", flipHash(leafIdx(6)), 6},
			tamper{"edit stored leaf hash last", flipHash(leafIdx(n - 1)), n - 1},
			tamper{"delete a stored hash", func(tx store.Tx) error {
				return tx.Delete(hashKey(tlog.StoredHashIndex(1, 1)))
			}, 3},
		)
	} else {
		cases = append(cases,
			tamper{"drop the hashes of an entry", func(tx store.Tx) error {
				return tx.Set(entryKey(3), tLine(t, tx, 3))
			}, 3},
			tamper{"garbled entry value", func(tx store.Tx) error {
				return tx.Set(entryKey(5), []byte{embeddedHashes, 9})
			}, 5},
		)
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			st := tamperLog(t, n)
			if firstFormat {
				downgradeLog(t, st)
				verifyOK(t, st, n)
			}
			if err := st.Update(tt.tamper); err != nil {
				t.Fatal(err)
			}
			res, err := VerifyStore(st)
			if err != nil {
				t.Fatalf("VerifyStore: %v", err)
			}
			if res.OK || res.FirstBadSeq == nil {
				t.Fatalf("VerifyStore = %+v, want a failure at %d", res, tt.wantBad)
			}
			if *res.FirstBadSeq != tt.wantBad {
				t.Errorf("FirstBadSeq = %d, want %d (%s)", *res.FirstBadSeq, tt.wantBad, res.Problem)
			}
			if strings.Contains(res.Problem, "req-") || strings.Contains(res.Problem, "alice") {
				t.Errorf("problem echoes entry bytes: %s", res.Problem)
			}
		})
	}
}

// TestVerifyStoreEditWithRehash edits an entry and, in the first format,
// rewrites its stored leaf hash too: the next entry's chain link, or for the
// last entry the head, still gives it away. In the second format no leaf
// hash is stored, and the next entry's level-1 hash names the edited entry.
func TestVerifyStoreEditWithRehash(t *testing.T) {
	const n = 6
	for _, first := range []bool{false, true} {
		for _, k := range []int64{0, 3, 4, n - 1} {
			st := tamperLog(t, n)
			if first {
				downgradeLog(t, st)
			}
			err := st.Update(func(tx store.Tx) error {
				e, err := ParseEntry(tLine(t, tx, k))
				if err != nil {
					return err
				}
				e.Decision = Deny
				line, err := e.Marshal()
				if err != nil {
					return err
				}
				if first {
					leaf := LeafHash(line)
					if err := tx.Set(hashKey(tlog.StoredHashIndex(0, k)), leaf[:]); err != nil {
						return err
					}
				}
				return tSetLine(t, tx, k, line)
			})
			if err != nil {
				t.Fatal(err)
			}
			res, err := VerifyStore(st)
			if err != nil {
				t.Fatal(err)
			}
			// An entry that completes interior nodes is caught by them;
			// otherwise, in the first format, the next entry's chain link
			// (or, for the last, the head) gives it away.
			want := k
			if first && k != n-1 && interiorCount(k) == 0 {
				want = k + 1
			}
			if res.OK || res.FirstBadSeq == nil || *res.FirstBadSeq != want {
				t.Errorf("first format %v: edit %d with rehash: VerifyStore = %+v, want failure at %d", first, k, res, want)
			}
		}
	}
}

func TestVerifyStoreEmpty(t *testing.T) {
	res := verifyOK(t, store.NewMem(), 0)
	if res.Root != EncodeHash(new(Tree).Root()) {
		t.Errorf("empty root = %s", res.Root)
	}
}

// BenchmarkAppend measures Append on a synced badger store: serially, where
// each entry waits for its own synced commit, and from many goroutines,
// where group commit shares each commit among the waiting entries.
func BenchmarkAppend(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		name := "serial"
		if parallel {
			name = "parallel"
		}
		b.Run(name, func(b *testing.B) {
			st, err := store.OpenBadger(store.BadgerOptions{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			var commits atomic.Int64
			l, err := Open(st, Options{OnCommit: func(int, time.Duration, error) { commits.Add(1) }})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			e := testEntry(0)
			e.RequestID = ""
			if !parallel {
				for b.Loop() {
					if _, err := l.Append(e, nil); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				b.SetParallelism(16)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					e := testEntry(0)
					e.RequestID = ""
					for pb.Next() {
						if _, err := l.Append(e, nil); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			b.StopTimer()
			if c := commits.Load(); c > 0 {
				b.ReportMetric(float64(l.Head().Size)/float64(c), "entries/commit")
			}
		})
	}
}

// An entry that cannot be encoded fails its Append without a panic, stores
// nothing, and the log goes on.
func TestAppendUnencodableEntry(t *testing.T) {
	st := store.NewMem()
	l := openLog(t, st, Options{})
	appendN(t, l, 2)
	bad := testEntry(5)
	bad.Details = map[string]any{"ratio": math.NaN()}
	if _, err := l.Append(bad, []store.Op{store.Put([]byte("d/bad"), []byte("x"))}); err == nil {
		t.Fatal("Append of an unencodable entry succeeded")
	}
	err := st.View(func(r store.Reader) error {
		if _, err := r.Get([]byte("d/bad")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("data of a failed Append stored: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e, err := l.Append(testEntry(6), nil)
	if err != nil || e.Seq != 2 {
		t.Fatalf("Append after a failure = %+v, %v", e, err)
	}
	verifyOK(t, st, 3)
}
