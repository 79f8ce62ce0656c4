package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"pvault/vault/store"
)

// indexEntry is entry i of TestIndexPostings: actors, actions and objects
// repeat at different periods, so batches share some values and not others.
func indexEntry(i int) *Entry {
	e := &Entry{
		RequestID: fmt.Sprintf("ix-%d", i),
		Action:    []string{"petition.read", "petition.list", "petition.update"}[i%3],
		Decision:  Allow,
		Status:    200,
	}
	if name := []string{"alice", "bob", ""}[i%3/2+i%2]; name != "" {
		e.Actor = &Actor{UserID: "u-" + name, Username: name, Roles: []string{"officer"}, Unit: "group"}
	}
	if i%4 != 3 {
		e.Object = &Object{Type: "petition", ID: fmt.Sprintf("p%d", i%5)}
	}
	return e
}

// appendBatch appends entry first alone, its commit held in g (a slow
// sync), while entries first+1..first+n queue behind it; released, the
// appender takes the n queued entries into the next commit.
func appendBatch(t *testing.T, l *Log, g *gateStore, first, n int) {
	t.Helper()
	appendOne := func(wg *sync.WaitGroup, i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := l.Append(indexEntry(i), nil); err != nil {
				t.Error(err)
			}
		}()
	}
	var wg sync.WaitGroup
	g.hold.Store(true)
	appendOne(&wg, first)
	<-g.entered
	g.hold.Store(false)
	for i := first + 1; i <= first+n; i++ {
		appendOne(&wg, i)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(l.reqs) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d appends queued, want %d", len(l.reqs), n)
		}
		time.Sleep(time.Millisecond)
	}
	g.release <- struct{}{}
	wg.Wait()
}

// TestIndexPostings commits batches whose entries share actors, actions and
// objects. Each batch must write one index key per value it carries, and
// every filter, from every start and in pages of every small size, must
// return what a walk over the whole log finds.
func TestIndexPostings(t *testing.T) {
	st := store.NewMem()
	g := &gateStore{Mem: st, entered: make(chan struct{}, 1), release: make(chan struct{})}
	var batches batchSizes
	l := openLog(t, g, Options{OnCommit: batches.onCommit})
	total := 0
	var want []int
	wantKeys := map[string]int{} // index prefix → batches carrying it
	batch := func(n int) {
		seen := map[string]bool{}
		for i := total; i < total+n; i++ {
			entryIndexes(indexEntry(i), func(ix indexed) {
				p := string(indexPrefix(ix.field, ix.value))
				if !seen[p] {
					seen[p] = true
					wantKeys[p]++
				}
			})
		}
		want = append(want, n)
		total += n
	}
	for _, n := range []int{2, 5, 1, 7, 9} {
		appendBatch(t, l, g, total, n)
		batch(1)
		batch(n)
	}
	if got := batches.get(); !slices.Equal(got, want) {
		t.Fatalf("batches %v, want %v", got, want)
	}
	verifyOK(t, st, int64(total))

	// One key per value and batch.
	for p, want := range wantKeys {
		got := 0
		if err := st.View(func(r store.Reader) error {
			return r.Scan(store.ScanOptions{Prefix: []byte(p), KeysOnly: true}, func(_, _ []byte) error {
				got++
				return nil
			})
		}); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("index %q: %d keys, want %d (one per batch carrying it)", p, got, want)
		}
	}

	all, _, err := l.Entries(Filter{Limit: total + 1})
	if err != nil || len(all) != total {
		t.Fatalf("all entries: %d, %v", len(all), err)
	}
	filters := []Filter{
		{Actor: "alice"}, {Actor: "bob"}, {Actor: "nobody"},
		{Action: "petition.read"}, {Action: "petition.list"}, {Action: "petition.update"},
		{Object: "p0"}, {Object: "p3"}, {Object: "p4"},
		{Actor: "alice", Action: "petition.list"}, {Object: "p1", Actor: "bob"},
	}
	for _, f := range filters {
		for start := 0; start <= total; start++ {
			var want []int64
			for _, e := range all {
				if e.Seq >= int64(start) && matches(e, f) {
					want = append(want, e.Seq)
				}
			}
			for _, limit := range []int{1, 2, 3, 50} {
				var got []int64
				g := f
				g.Start, g.Limit = int64(start), limit
				for pages := 0; ; pages++ {
					es, next, err := l.Entries(g)
					if err != nil {
						t.Fatalf("%+v: %v", g, err)
					}
					for _, e := range es {
						got = append(got, e.Seq)
					}
					if next == 0 || pages > total {
						break
					}
					g.Start = next
				}
				if !slices.Equal(got, want) {
					t.Errorf("filter %+v from %d in pages of %d: seqs %v, want %v", f, start, limit, got, want)
				}
			}
		}
	}
	for _, action := range []string{"petition.read", "petition.update", "none"} {
		var got, want []int64
		for _, e := range all {
			if e.Action == action {
				want = append(want, e.Seq)
			}
		}
		if err := l.Each(action, func(e *Entry) error {
			got = append(got, e.Seq)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("Each(%q): seqs %v, want %v", action, got, want)
		}
	}
}

func matches(e *Entry, f Filter) bool {
	return (f.Actor == "" || e.Actor != nil && e.Actor.Username == f.Actor) &&
		(f.Action == "" || e.Action == f.Action) &&
		(f.Object == "" || e.Object != nil && e.Object.ID == f.Object)
}

// TestIndexDamaged checks that a posting that cannot be decoded fails the
// query instead of being skipped, and that a key pointing at an entry of
// another value is not returned.
func TestIndexDamaged(t *testing.T) {
	st := store.NewMem()
	l := openLog(t, st, Options{})
	for i := range 4 {
		if _, err := l.Append(indexEntry(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	// Entry 1 is not a read: an index key claiming it is must be ignored.
	if err := st.Update(func(tx store.Tx) error {
		return tx.Set(indexKey("action", "petition.read", 1), nil)
	}); err != nil {
		t.Fatal(err)
	}
	es, _, err := l.Entries(Filter{Action: "petition.read"})
	if err != nil || len(es) != 2 || es[0].Seq != 0 || es[1].Seq != 3 {
		t.Fatalf("reads: %v, %v; want entries 0 and 3", es, err)
	}
	// A gap of zero is not a posting.
	if err := st.Update(func(tx store.Tx) error {
		return tx.Set(indexKey("action", "petition.read", 3), []byte{0})
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Entries(Filter{Action: "petition.read"}); !errors.Is(err, ErrIndex) {
		t.Errorf("damaged posting: %v, want ErrIndex", err)
	}
	if err := l.Each("petition.read", func(*Entry) error { return nil }); !errors.Is(err, ErrIndex) {
		t.Errorf("Each over a damaged posting: %v, want ErrIndex", err)
	}
}

// FuzzIndexPosting decodes arbitrary postings (never a panic; seqs strictly
// ascending and ending with the key's) and round-trips postings built from
// the input.
func FuzzIndexPosting(f *testing.F) {
	f.Add(uint64(10), []byte{})
	f.Add(uint64(10), appendPosting(nil, 10, []int64{1, 4, 9}))
	f.Add(uint64(5), []byte{5})
	f.Add(uint64(5), []byte{6})
	f.Add(uint64(1<<63-1), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x01})
	f.Add(uint64(300), []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})
	f.Fuzz(func(t *testing.T, last uint64, v []byte) {
		k := binary.BigEndian.AppendUint64([]byte("a/x/action/petition.read\x00"), last)
		var seqs []int64
		err := eachPosted(k, v, func(seq int64) error {
			if seq < 0 || (len(seqs) > 0 && seq <= seqs[len(seqs)-1]) {
				t.Fatalf("seq %d after %v", seq, seqs)
			}
			seqs = append(seqs, seq)
			return nil
		})
		if err == nil && (len(seqs) == 0 || seqs[len(seqs)-1] != int64(last)) {
			t.Fatalf("seqs %v do not end with the key's %d", seqs, last)
		}
		if err != nil && !errors.Is(err, ErrIndex) {
			t.Fatalf("error %v is not ErrIndex", err)
		}

		// A posting built from the input's bytes, as ascending seqs below
		// a last one, decodes to the same seqs.
		var built []int64
		s := int64(0)
		for _, b := range v {
			s += int64(b) + 1
			built = append(built, s)
		}
		end := s + 1 + int64(last%1000)
		var back []int64
		kk := binary.BigEndian.AppendUint64([]byte("a/x/actor/alice\x00"), uint64(end))
		if err := eachPosted(kk, appendPosting(nil, end, built), func(seq int64) error {
			back = append(back, seq)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if want := append(built, end); !slices.Equal(back, want) {
			t.Fatalf("round trip: %v, want %v", back, want)
		}
	})
}
