package store

import (
	"crypto/rand"
	"fmt"
	"testing"
)

func TestIndexCacheFor(t *testing.T) {
	for _, tt := range []struct{ index, want int64 }{
		{0, minIndexCache},
		{20 << 20, minIndexCache},
		{80 << 20, 100 << 20},
		{300 << 20, maxIndexCache},
	} {
		if got := indexCacheFor(tt.index); got != tt.want {
			t.Errorf("indexCacheFor(%d MiB) = %d MiB, want %d MiB", tt.index>>20, got>>20, tt.want>>20)
		}
	}
}

// TestBadgerTableStats: the stats count what was written, and the index
// cache is the minimum for a small encrypted store, the size asked for when
// one is given, and absent without encryption.
func TestBadgerTableStats(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	dir := t.TempDir()
	open := func(cache int64, key []byte) *Badger {
		t.Helper()
		b, err := OpenBadger(BadgerOptions{Dir: dir, EncryptionKey: key, NoSync: true, IndexCacheSize: cache})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b := open(0, key)
	err := b.Update(func(tx Tx) error {
		for i := range 5000 {
			if err := tx.Set(fmt.Appendf(nil, "k/%06d", i), []byte("value")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil { // flushes the memtable into a table
		t.Fatal(err)
	}
	b = open(0, key)
	st := b.TableStats()
	if st.Tables == 0 || st.Keys < 5000 || st.IndexBytes <= 0 || st.DiskBytes <= 0 || st.IndexCache != minIndexCache {
		t.Errorf("stats %+v", st)
	}
	b.Close()
	b = open(48<<20, key)
	if got := b.TableStats().IndexCache; got != 48<<20 {
		t.Errorf("index cache %d, want 48 MiB as asked", got)
	}
	b.Close()
	plain := t.TempDir()
	p, err := OpenBadger(BadgerOptions{Dir: plain, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if got := p.TableStats().IndexCache; got != 0 {
		t.Errorf("unencrypted store reports an index cache of %d", got)
	}
}
