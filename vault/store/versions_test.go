package store

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// TestVersionsReadSeesOnlyFinishedPrefix: a read sees a commit only once
// every commit handed out before it has finished, and a commit's finish
// returns only then (so an acknowledged commit is seen by every later read).
func TestVersionsReadSeesOnlyFinishedPrefix(t *testing.T) {
	v := newVersions(10)
	t1, t2 := v.take(), v.take()
	if t1 != 11 || t2 != 12 {
		t.Fatalf("versions %d, %d; want 11, 12", t1, t2)
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
	ts := v.take()
	var finishing atomic.Bool
	go func() {
		finishing.Store(true)
		v.finish(ts)
	}()
	r := v.write()
	v.mu.Lock()
	done := v.done
	v.mu.Unlock()
	if !finishing.Load() || r != ts || done < r {
		t.Errorf("write() = %d returned with done at %d, before commit %d finished", r, done, ts)
	}
}

// TestVersionsDiscard: the discard mark stays at the oldest version still
// read and follows done when nothing is.
func TestVersionsDiscard(t *testing.T) {
	v := newVersions(5)
	old := v.read()
	for range 3 {
		v.finish(v.take())
	}
	young := v.read()
	if d := v.oldest(); d != old {
		t.Errorf("discard with readers at %d and %d = %d, want %d", old, young, d, old)
	}
	v.release(old)
	if d := v.oldest(); d != young {
		t.Errorf("discard with a reader at %d = %d", young, d)
	}
	v.release(young)
	if d := v.oldest(); d != 8 {
		t.Errorf("discard with no reader = %d, want done (8)", d)
	}
}

// TestVersionsRaiseDiscard: the mark given to badger only moves up.
func TestVersionsRaiseDiscard(t *testing.T) {
	v := newVersions(0)
	var got []uint64
	set := func(ts uint64) { got = append(got, ts) }
	r := v.read() // at 0
	v.finish(v.take())
	v.raiseDiscard(set) // held at 0 by the reader: nothing to give
	v.release(r)
	v.raiseDiscard(set) // 1
	v.finish(v.take())
	v.raiseDiscard(set) // 2
	v.raiseDiscard(set) // still 2: not given again
	if fmt.Sprint(got) != "[1 2]" {
		t.Errorf("discard marks given %v, want [1 2]", got)
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
	n := versionsOf(t, b, []byte("k"))
	if n > 2 {
		t.Errorf("%d versions of k kept after compaction, want the replaced ones dropped", n)
	}
	b.Close()
}

// fillTables writes about 50 MB of other keys and waits until the store
// has at least five tables (level 0 is then due for compaction).
func fillTables(t *testing.T, b *Badger) {
	t.Helper()
	pad := make([]byte, 64<<10)
	for i := range 800 {
		if err := b.Update(func(tx Tx) error { return tx.Set(fmt.Appendf(nil, "p%d", i), pad) }); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; len(b.db.Tables()) < 5; i++ {
		if i == 3000 {
			t.Fatalf("%d tables after 30 s", len(b.db.Tables()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func versionsOf(t *testing.T, b *Badger, key []byte) int {
	t.Helper()
	ts := b.vs.read()
	defer b.vs.release(ts)
	txn := b.db.NewTransactionAt(ts, false)
	defer txn.Discard()
	opts := badger.DefaultIteratorOptions
	opts.AllVersions = true
	it := txn.NewIterator(opts)
	defer it.Close()
	n := 0
	for it.Seek(key); it.Valid() && string(it.Item().Key()) == string(key); it.Next() {
		n++
	}
	return n
}

// openSmall opens a store with 8 MiB memtables, so that a few tens of MB
// of writes make tables.
func openSmall(t *testing.T) *Badger {
	t.Helper()
	// Values stay in the tree, so that fillTables' padding fills tables.
	b, err := OpenBadger(BadgerOptions{Dir: t.TempDir(), NoSync: true, MemTableSize: 8 << 20, MinFreeBytes: -1, ValueThreshold: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func set(t *testing.T, b *Badger, key, v string) {
	t.Helper()
	if err := b.Update(func(tx Tx) error { return tx.Set([]byte(key), []byte(v)) }); err != nil {
		t.Fatal(err)
	}
}

// TestBadgerDiscardFollowsCommits: without a reopen, each Update gives
// badger a discard mark up to its own commit once nothing older is read
// (compaction then drops the versions it replaced; TestBadgerVersions-
// AcrossReopen sees that happen).
func TestBadgerDiscardFollowsCommits(t *testing.T) {
	b := openSmall(t)
	for i := range 5 {
		set(t, b, "k", fmt.Sprint(i))
		b.vs.mu.Lock()
		d, done := b.vs.discard, b.vs.done
		b.vs.mu.Unlock()
		if d != done || done == 0 {
			t.Fatalf("after commit %d the discard mark is %d, want %d", i, d, done)
		}
	}
}

// TestBadgerDiscardKeepsLiveReader: a View open across overwrites and a
// compaction still reads the version it started with.
func TestBadgerDiscardKeepsLiveReader(t *testing.T) {
	b := openSmall(t)
	set(t, b, "k", "old")
	started, proceed, res := make(chan struct{}), make(chan struct{}), make(chan string)
	go b.View(func(r Reader) error {
		close(started)
		<-proceed
		v, err := r.Get([]byte("k"))
		res <- fmt.Sprint(string(v), " ", err)
		return nil
	})
	<-started
	for i := range 5 {
		set(t, b, "k", fmt.Sprint(i))
	}
	fillTables(t, b)
	if err := b.db.Flatten(1); err != nil {
		t.Fatal(err)
	}
	close(proceed)
	if got := <-res; got != "old <nil>" {
		t.Errorf("a View open across the compaction read %q, want old", got)
	}
}

// TestBadgerBackupManaged: a backup of an empty store is empty, and one of
// a store with data restores it.
func TestBadgerBackupManaged(t *testing.T) {
	key := make([]byte, 32)
	b, err := OpenBadger(BadgerOptions{Dir: t.TempDir(), EncryptionKey: key, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var buf bytes.Buffer
	if v, err := b.Backup(&buf); err != nil || v != 0 || buf.Len() != 0 {
		t.Fatalf("empty backup: version %d, %d bytes, %v", v, buf.Len(), err)
	}
	if err := b.Update(func(tx Tx) error { return tx.Set([]byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Backup(&buf); err != nil || buf.Len() == 0 {
		t.Fatalf("backup: %d bytes, %v", buf.Len(), err)
	}
	dir := t.TempDir()
	if err := RestoreBadger(dir, key, &buf); err != nil {
		t.Fatal(err)
	}
	r, err := OpenBadger(BadgerOptions{Dir: dir, EncryptionKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Update(func(tx Tx) error { return tx.Set([]byte("k2"), []byte("v2")) }); err != nil {
		t.Fatal(err)
	}
	err = r.View(func(rd Reader) error {
		for k, want := range map[string]string{"k": "v", "k2": "v2"} {
			got, err := rd.Get([]byte(k))
			if err != nil || string(got) != want {
				return fmt.Errorf("restored %s = %q, %v; want %q", k, got, err, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
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
	if n != 0 || b.vs.oldest() != done {
		t.Errorf("%d reads still registered, discard %d, done %d", n, b.vs.oldest(), done)
	}
}

// TestCommitAtPanic: a panic inside badger's commit becomes the commit's
// error, so that Update finishes its version instead of leaving every later
// write waiting for it. Badger panics when CommitAt is used on a store not
// opened in managed mode.
func TestCommitAtPanic(t *testing.T) {
	db, err := badger.Open(badger.DefaultOptions("").WithLogger(nil).WithInMemory(true))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	txn := db.NewTransaction(true)
	defer txn.Discard()
	if err := txn.Set([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	err = commitAt(txn, 1)
	if err == nil || !strings.Contains(err.Error(), "store: commit:") {
		t.Fatalf("commitAt on a store not in managed mode = %v, want the panic as an error", err)
	}
}
