package store

import (
	"bytes"
	"fmt"
	"testing"

	badger "github.com/dgraph-io/badger/v4"
)

// TestBuilderPool finds badger's pool of table builders' buffers, and
// drainBuilders empties it of what memtable flushes left there.
func TestBuilderPool(t *testing.T) {
	opts := badger.DefaultOptions(t.TempDir()).WithLogger(nil).WithSyncWrites(false).
		WithMemTableSize(1 << 20).WithBaseTableSize(1 << 20).WithValueThreshold(1 << 10).
		WithNumCompactors(0). // no builders but the flushes'
		WithEncryptionKey(bytes.Repeat([]byte{7}, 32)).WithIndexCacheSize(1 << 20)
	db, err := badger.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p := builderPool(db)
	if p == nil {
		t.Fatal("badger's pool of builders not found: has badger moved it?")
	}
	if n := drainBuilders(p); n != 0 {
		t.Fatalf("%d bytes let go before any table was built", n)
	}
	for i := range 3000 { // 3 MB: memtables of 1 MiB fill up
		if err := db.Update(func(txn *badger.Txn) error {
			return txn.Set(fmt.Appendf(nil, "k/%06d", i), bytes.Repeat([]byte{byte(i)}, 1000))
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("d/0"), []byte("x")) }); err != nil {
		t.Fatal(err)
	}
	// Dropping a prefix some key has flushes every memtable, each through a
	// builder, and returns once they are written.
	if err := db.DropPrefix([]byte("d/")); err != nil {
		t.Fatal(err)
	}
	n := drainBuilders(p)
	if n < 2<<20 { // a builder for a table of 1 MiB starts with 2 MiB
		t.Fatalf("drained %d bytes after memtable flushes, want at least a builder's 2 MiB", n)
	}
	if again := drainBuilders(p); again != 0 {
		t.Fatalf("a second drain let go of %d bytes: the first left the pool full", again)
	}
	if drainBuilders(nil) != 0 {
		t.Fatal("a missing pool drained something")
	}
	// The store still reads and writes with the pool emptied.
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("k/after"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	if err := db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(fmt.Appendf(nil, "k/%06d", 1234))
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			if !bytes.Equal(v, bytes.Repeat([]byte{byte(1234 % 256)}, 1000)) {
				return fmt.Errorf("k/001234 reads %d bytes of something else", len(v))
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
}
