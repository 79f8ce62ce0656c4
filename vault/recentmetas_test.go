package vault

import (
	"fmt"
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
