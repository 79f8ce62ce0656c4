package vault

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"

	"pvault/policy"
	"pvault/vault/store"
)

func TestMetaKeyID(t *testing.T) {
	id := "01JD0000000000000000000000"
	if got, ok := metaKeyID(metaKey(id)); !ok || got != id {
		t.Errorf("metaKeyID(metaKey) = %q, %v", got, ok)
	}
	for _, k := range []string{"p//m", "p/" + id + "/c", "p/" + id + "/i", "p/" + id + "/e/m", "x/p/" + id + "/m", "u/" + id + "/m", "p/" + id} {
		if got, ok := metaKeyID([]byte(k)); ok {
			t.Errorf("metaKeyID(%q) = %q, want none", k, got)
		}
	}
}

func TestRecentMetas(t *testing.T) {
	var c recentMetas
	m1, m2 := &Meta{ID: "a", Status: StatusRegistered}, &Meta{ID: "a", Status: StatusAccepted}
	// Read before a write of its petition: refused.
	g := c.begin()
	c.drop([]string{"a"})
	c.put("a", m1, g)
	if got := c.get("a"); got != nil {
		t.Fatalf("a value read before its petition's write was cached: %+v", got)
	}
	// Read after it: kept.
	c.put("a", m2, c.begin())
	if got := c.get("a"); got != m2 {
		t.Fatalf("get = %+v, want the value put", got)
	}
	// A write of a petition in another stripe does not stop a put.
	other := ""
	for i := 0; other == ""; i++ {
		if id := fmt.Sprint("b", i); metaStripe(id) != metaStripe("a") {
			other = id
		}
	}
	g = c.begin()
	c.drop([]string{other})
	c.put("a", m1, g)
	if got := c.get("a"); got != m1 {
		t.Errorf("a write in another stripe refused the put: %+v", got)
	}
	// A write drops the entry.
	c.drop([]string{"a"})
	if got := c.get("a"); got != nil {
		t.Errorf("entry kept after its petition was written: %+v", got)
	}
	// Bounded.
	for i := range maxRecentMetas + 1000 {
		id := fmt.Sprint("p", i)
		c.put(id, &Meta{ID: id}, c.begin())
	}
	if n := len(c.m); n > maxRecentMetas {
		t.Errorf("%d entries, more than %d", n, maxRecentMetas)
	}
}

// TestRecentMetasConcurrent: readers of a petition's metadata, cached, never
// see it go back while it is written, and see the last write at the end.
func TestRecentMetasConcurrent(t *testing.T) {
	w := wfOpen(t, nil)
	id := w.wfCreate(t, wfNew("group/east/site-3", "110101199003074578")).ID
	const notes = 40
	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, 8)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := int64(-1)
			for {
				select {
				case <-done:
					return
				default:
				}
				m, err := w.Meta(id)
				if err != nil {
					errs <- err
					return
				}
				if m.Events < last {
					errs <- fmt.Errorf("metadata went back from %d events to %d", last, m.Events)
					return
				}
				last = m.Events
			}
		}()
	}
	for i := range notes {
		if _, _, err := w.AddNote(id, fmt.Sprint("第", i, "次记录"), w.users["off1"], wfEntry("petition.note")); err != nil {
			t.Fatal(err)
		}
		m, err := w.Meta(id)
		if err != nil {
			t.Fatal(err)
		}
		var stored *Meta
		if err := w.st.View(func(r store.Reader) error {
			var err error
			stored, err = w.getMeta(r, id)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if m.Events != stored.Events {
			t.Fatalf("after note %d: Meta has %d events, the store %d", i, m.Events, stored.Events)
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestListPagesWithRefills: pages of every size, through filters that
// reject most rows, list exactly the petitions that pass, newest first,
// each once: the index is read in growing chunks (limit+1, then twice as
// many each time), and rows at the seams must not be lost or repeated.
func TestListPagesWithRefills(t *testing.T) {
	v := newTestVault(t, nil)
	admin, err := v.UserByName("admin")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string // oldest first
	for i := range 300 {
		in := samplePetition()
		in.Title = fmt.Sprint("第", i, "号")
		in.Petitioner = nil
		c, err := v.CreatePetition(in, admin, entry("petition.create"))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.Meta.ID)
	}
	pos := map[string]int{}
	for i, id := range ids {
		pos[id] = i
	}
	for _, keep := range []int{1, 3, 7, 100} { // every keep-th petition passes
		allow := func(m *Meta) bool { return pos[m.ID]%keep == 0 }
		var want []string
		for i := len(ids) - 1; i >= 0; i-- {
			if i%keep == 0 {
				want = append(want, ids[i])
			}
		}
		for _, limit := range []int{1, 2, 5, 50, 500} {
			var got []string
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > len(ids)+1 {
					t.Fatalf("keep %d, limit %d: no end of pages", keep, limit)
				}
				items, next, err := v.List(v.Subject(admin), []string{policy.ScopeAll}, Query{Limit: limit, Cursor: cursor}, allow)
				if err != nil {
					t.Fatal(err)
				}
				if len(items) > limit || (next != "" && len(items) != limit) {
					t.Fatalf("keep %d, limit %d: a page of %d rows, next %q", keep, limit, len(items), next)
				}
				for _, it := range items {
					got = append(got, it.Meta.ID)
				}
				if next == "" {
					break
				}
				cursor = next
			}
			if !slices.Equal(got, want) {
				t.Errorf("keep %d, limit %d: listed %d petitions, want %d (first difference at %d)", keep, limit, len(got), len(want), firstDiff(got, want))
			}
		}
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestRecentMetasWriting(t *testing.T) {
	var c recentMetas
	m := &Meta{ID: "a"}
	c.put("a", m, c.begin())
	c.writes("a")
	if got := c.get("a"); got != nil {
		t.Error("an entry was served while its petition's write was in flight")
	}
	m2 := &Meta{ID: "a", Events: 1}
	c.put("a", m2, c.begin())
	c.mu.RLock()
	cached := c.m["a"]
	c.mu.RUnlock()
	if cached == m2 {
		t.Error("an entry was stored while its petition's write was in flight")
	}
	c.drop([]string{"a"})
	if n := c.writing[metaStripe("a")].Load(); n != 0 {
		t.Fatalf("%d writes in flight after the drop", n)
	}
	c.put("a", m, c.begin())
	if c.get("a") != m {
		t.Error("no entry stored after the write ended")
	}
}

// pausingStore holds every Update that writes, after its commit and before
// it returns, until released.
type pausingStore struct {
	store.Store
	paused  chan struct{}
	release chan struct{}
	armed   bool
}

func (p *pausingStore) Update(fn func(store.Tx) error) error {
	err := p.Store.Update(fn)
	if p.armed {
		p.armed = false
		p.paused <- struct{}{}
		<-p.release
	}
	return err
}

// TestRecentMetasCommitWindow: between a commit and the return of its
// Update, a read of the petition sees the commit, not the cached value.
func TestRecentMetasCommitWindow(t *testing.T) {
	ps := &pausingStore{paused: make(chan struct{}), release: make(chan struct{})}
	dir := initVault(t, InitOptions{})
	v := openVault(t, dir, Options{Store: func(s store.Store) store.Store { ps.Store = s; return ps }})
	admin, id := adminPetition(t, v)
	before, err := v.Meta(id) // cached
	if err != nil {
		t.Fatal(err)
	}
	ps.armed = true
	done := make(chan error, 1)
	go func() {
		_, _, err := v.AddNote(id, "补充材料已收到", admin, entry("petition.note"))
		done <- err
	}()
	<-ps.paused // committed, not yet returned
	during, err := v.Meta(id)
	if err != nil {
		t.Fatal(err)
	}
	close(ps.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if during.Events != before.Events+1 {
		t.Errorf("between the commit and its return Meta had %d events, want %d (the committed value)", during.Events, before.Events+1)
	}
	after, err := v.Meta(id)
	if err != nil || after.Events != before.Events+1 {
		t.Errorf("after the note: %d events, %v", after.Events, err)
	}
}

// TestMetaReturnsCopy: a caller changing the metadata Meta returned changes
// neither the next Meta nor a list row.
func TestMetaReturnsCopy(t *testing.T) {
	v := newTestVault(t, nil)
	admin, id := adminPetition(t, v)
	for range 2 { // the first from the store, the second from the cache
		m, err := v.Meta(id)
		if err != nil {
			t.Fatal(err)
		}
		m.Status, m.Unit, m.Subjects[0] = "changed", "changed", "changed"
		m.Risk.Reasons = append(m.Risk.Reasons[:0], "changed")
	}
	m, err := v.Meta(id)
	if err != nil {
		t.Fatal(err)
	}
	if m.Status == "changed" || m.Unit == "changed" || m.Subjects[0] == "changed" || slices.Contains(m.Risk.Reasons, "changed") {
		t.Errorf("Meta returned a changed copy: %+v", m)
	}
	items, _, err := v.List(v.Subject(admin), []string{policy.ScopeAll}, Query{Limit: 10}, func(*Meta) bool { return true })
	if err != nil || len(items) != 1 {
		t.Fatalf("List = %d items, %v", len(items), err)
	}
	if r := items[0].Meta; r.Status == "changed" || r.Subjects[0] == "changed" {
		t.Errorf("a list row shows a caller's change: %+v", r)
	}
}

// adminPetition creates the sample petition as the vault's admin.
func adminPetition(tb testing.TB, v *Vault) (*User, string) {
	tb.Helper()
	admin, err := v.UserByName("admin")
	if err != nil {
		tb.Fatal(err)
	}
	c, err := v.CreatePetition(samplePetition(), admin, entry("petition.create"))
	if err != nil {
		tb.Fatal(err)
	}
	return admin, c.Meta.ID
}

// SharedMeta hands out the cached metadata itself (no copy) and Meta a copy
// equal to it; an action drops the shared value, so the next SharedMeta
// shows the action.
func TestSharedMeta(t *testing.T) {
	v := newTestVault(t, nil)
	admin, id := adminPetition(t, v)
	first, err := v.SharedMeta(id) // from the store, now cached
	if err != nil {
		t.Fatal(err)
	}
	second, err := v.SharedMeta(id)
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Error("SharedMeta copied the cached metadata")
	}
	own, err := v.Meta(id)
	if err != nil {
		t.Fatal(err)
	}
	if own == second || !reflect.DeepEqual(own, second) {
		t.Errorf("Meta: a copy equal to the shared value expected, got the same pointer %v or %+v", own == second, own)
	}
	for _, bad := range []string{"", "../etc", "01ARZ3NDEKTSV4RRFFQ69G5FAV"} {
		if _, err := v.SharedMeta(bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("SharedMeta(%q) = %v, want ErrNotFound", bad, err)
		}
	}
	if _, _, err := v.Act(id, ActionInput{Action: ActCategorize, Label: "work_safety"}, admin, entry("petition.categorize")); err != nil {
		t.Fatal(err)
	}
	after, err := v.SharedMeta(id)
	if err != nil {
		t.Fatal(err)
	}
	if after == second || after.Category == nil || after.Category.Label != "work_safety" {
		t.Errorf("after an action SharedMeta gave the old value (%v) or category %+v", after == second, after.Category)
	}
	if second.Category != nil && second.Category.Label == "work_safety" {
		t.Error("the action changed the value handed out before it")
	}
}
