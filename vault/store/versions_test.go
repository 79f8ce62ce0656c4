package store

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	badger "github.com/dgraph-io/badger/v4"
)

// TestVersionsReadSeesOnlyFinishedPrefix: a read sees a commit only once
// every commit handed out before it has finished, and a commit's finish
// returns only then (so an acknowledged commit is seen by every later read).
func TestVersionsReadSeesOnlyFinishedPrefix(t *testing.T) {
	v := newVersions(10)
	var sent []uint64
	t1 := v.commit(func(ts uint64) { sent = append(sent, ts) })
	t2 := v.commit(func(ts uint64) { sent = append(sent, ts) })
	if t1 != 11 || t2 != 12 || fmt.Sprint(sent) != "[11 12]" {
		t.Fatalf("versions %d, %d, sent %v; want 11, 12 in order", t1, t2, sent)
	}
	second := make(chan struct{})
	go func() {
		v.finish(t2)
		close(second)
	}()
	// Wait until the second commit is recorded as finished, then check that
	// neither reads nor the second commit's finish move past the first.
	for {
		v.mu.Lock()
		_, ok := v.finished[t2]
		v.mu.Unlock()
		if ok {
			break
		}
	}
	if got := v.read(); got != 10 {
		t.Errorf("read with 11 in flight and 12 finished = %d, want 10", got)
	}
	select {
	case <-second:
		t.Fatal("finish(12) returned before 11 finished")
	default:
	}
	v.finish(t1)
	<-second
	if got := v.read(); got != 12 {
		t.Errorf("read after both finished = %d, want 12", got)
	}
}

// TestVersionsWriteWaitsForCommitsInFlight: a writer reads, like stock
// badger's, at the newest version handed out, once it has finished.
func TestVersionsWriteWaitsForCommitsInFlight(t *testing.T) {
	v := newVersions(0)
	ts := v.commit(func(uint64) {})
	var finishing atomic.Bool
	go func() {
		finishing.Store(true)
		v.finish(ts)
	}()
	r := v.write()
	if !finishing.Load() || r != ts {
		t.Errorf("write() = %d returned before commit %d finished", r, ts)
	}
}

// TestVersionsDiscard: the discard mark stays at the oldest version still
// read and follows done when nothing is.
func TestVersionsDiscard(t *testing.T) {
	v := newVersions(5)
	old := v.read()
	for range 3 {
		v.finish(v.commit(func(uint64) {}))
	}
	young := v.read()
	if d := v.discard(); d != old {
		t.Errorf("discard with readers at %d and %d = %d, want %d", old, young, d, old)
	}
	v.release(old)
	if d := v.discard(); d != young {
		t.Errorf("discard with a reader at %d = %d", young, d)
	}
	v.release(young)
	if d := v.discard(); d != 8 {
		t.Errorf("discard with no reader = %d, want done (8)", d)
	}
}

// TestBadgerVersionsConcurrent: concurrent writers and readers; every read
// after an Update has returned sees it.
func TestBadgerVersionsConcurrent(t *testing.T) {
	b, err := OpenBadger(BadgerOptions{Dir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 200 {
				key := fmt.Appendf(nil, "w%d", w)
				val := fmt.Appendf(nil, "%d", i)
				if err := b.Update(func(tx Tx) error { return tx.Set(key, val) }); err != nil {
					t.Error(err)
					return
				}
				err := b.View(func(r Reader) error {
					got, err := r.Get(key)
					if err != nil {
						return err
					}
					if string(got) != string(val) {
						return fmt.Errorf("read %s = %s after writing %s", key, got, val)
					}
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestBadgerVersionsAcrossReopen: versions continue above those stored, so
// a key written again after a reopen reads back as the new value, and the
// versions a newer one replaced are dropped by compaction (the discard
// mark is kept up to date).
func TestBadgerVersionsAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	set := func(b *Badger, v string) {
		t.Helper()
		if err := b.Update(func(tx Tx) error { return tx.Set([]byte("k"), []byte(v)) }); err != nil {
			t.Fatal(err)
		}
	}
	get := func(b *Badger) string {
		t.Helper()
		var got []byte
		if err := b.View(func(r Reader) (err error) { got, err = r.Get([]byte("k")); return err }); err != nil {
			t.Fatal(err)
		}
		return string(got)
	}
	// Six stores' worth of versions: each Close flushes its memtable into a
	// table of level 0, and six of them make level 0 due for compaction.
	var b *Badger
	for round := range 6 {
		var err error
		if b, err = OpenBadger(BadgerOptions{Dir: dir, NoSync: true}); err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			set(b, fmt.Sprint(round*20+i))
		}
		b.Close()
	}
	b, err := OpenBadger(BadgerOptions{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := get(b); got != "119" {
		t.Errorf("after reopen k = %q, want 119", got)
	}
	set(b, "new")
	if got := get(b); got != "new" {
		t.Errorf("after writing again k = %q, want new", got)
	}
	if err := b.db.Flatten(1); err != nil {
		t.Fatal(err)
	}
	txn := b.db.NewTransactionAt(b.vs.read(), false)
	defer txn.Discard()
	opts := badger.DefaultIteratorOptions
	opts.AllVersions = true
	it := txn.NewIterator(opts)
	n := 0
	for it.Rewind(); it.Valid(); it.Next() {
		n++
	}
	it.Close()
	if n > 2 {
		t.Errorf("%d versions of k kept after compaction, want the replaced ones dropped", n)
	}
	b.Close()
}

// TestBadgerUpdatePanicReleases: an Update whose function panics does not
// leave its read registered, which would hold badger's discard mark back
// for good.
func TestBadgerUpdatePanicReleases(t *testing.T) {
	b, err := OpenBadger(BadgerOptions{Dir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	func() {
		defer func() { recover() }()
		b.Update(func(Tx) error { panic("boom") })
	}()
	if err := b.Update(func(tx Tx) error { return tx.Set([]byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	b.vs.mu.Lock()
	n, done := len(b.vs.readers), b.vs.done
	b.vs.mu.Unlock()
	if n != 0 || b.vs.discard() != done {
		t.Errorf("%d reads still registered, discard %d, done %d", n, b.vs.discard(), done)
	}
}
