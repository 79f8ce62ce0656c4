package store_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"pvault/vault/store"
	"pvault/vault/store/storetest"
)

// testKey is a 32-byte encryption key for tests.
var testKey = []byte("pvault-store-test-key-32-bytes!!")

// openBadger opens the store in dir and closes it when the test ends.
func openBadger(tb testing.TB, dir string, key []byte) *store.Badger {
	tb.Helper()
	s, err := store.OpenBadger(store.BadgerOptions{Dir: dir, EncryptionKey: key})
	if err != nil {
		tb.Fatalf("OpenBadger: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestBadger(t *testing.T) {
	if len(testKey) != 32 {
		t.Fatalf("testKey has %d bytes, want 32", len(testKey))
	}
	storetest.Run(t, func(t *testing.T) store.Store {
		return openBadger(t, t.TempDir(), testKey)
	})
}

// TestBadgerStock: the store with badger's own transactions, as the load
// tool's baseline opens it.
func TestBadgerStock(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.OpenBadger(store.BadgerOptions{Dir: t.TempDir(), EncryptionKey: testKey, StockTransactions: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func put(tb testing.TB, s store.Store, key, value []byte) {
	tb.Helper()
	if err := s.Update(func(tx store.Tx) error { return tx.Set(key, value) }); err != nil {
		tb.Fatalf("Update(Set %q): %v", key, err)
	}
}

func TestBadgerPersists(t *testing.T) {
	dir := t.TempDir()
	s := openBadger(t, dir, testKey)
	put(t, s, []byte("k"), []byte("v"))
	put(t, s, []byte("gone"), []byte("x"))
	if err := s.Update(func(tx store.Tx) error { return tx.Delete([]byte("gone")) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openBadger(t, dir, testKey)
	err := s.View(func(r store.Reader) error {
		v, err := r.Get([]byte("k"))
		if err != nil {
			return err
		}
		if string(v) != "v" {
			t.Errorf("Get(k) after reopen = %q, want %q", v, "v")
		}
		if _, err := r.Get([]byte("gone")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get(gone) after reopen = %v, want store.ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBadgerWrongKey(t *testing.T) {
	dir := t.TempDir()
	s := openBadger(t, dir, testKey)
	put(t, s, []byte("k"), []byte("v"))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	other := bytes.Repeat([]byte{0x42}, 32)
	s2, err := store.OpenBadger(store.BadgerOptions{Dir: dir, EncryptionKey: other})
	if err == nil {
		s2.Close()
		t.Fatal("OpenBadger with another key succeeded")
	}
	if !errors.Is(err, store.ErrBadKey) {
		t.Errorf("OpenBadger with another key = %v, want error wrapping store.ErrBadKey", err)
	}

	// The right key still opens the store.
	s = openBadger(t, dir, testKey)
	if err := s.View(func(r store.Reader) error { _, err := r.Get([]byte("k")); return err }); err != nil {
		t.Errorf("Get after a failed open with another key: %v", err)
	}
}

// TestBadgerEncryptedAtRest writes a unique marker and looks for it in every
// file of the store after Close. Without encryption the marker must be found,
// which shows the search can find it.
func TestBadgerEncryptedAtRest(t *testing.T) {
	for _, tt := range []struct {
		name      string
		key       []byte
		size      int // value bytes; above 1 MiB the value goes to the value log
		wantFound bool
	}{
		{"encrypted small value", testKey, 0, false},
		{"encrypted large value", testKey, 2 << 20, false},
		{"plain small value", nil, 0, true},
		{"plain large value", nil, 2 << 20, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			marker := []byte("pvault-marker-" + rand.Text())
			value := marker
			if tt.size > 0 {
				value = make([]byte, tt.size)
				rand.Read(value)
				copy(value[tt.size/2:], marker)
			}
			dir := t.TempDir()
			s := openBadger(t, dir, tt.key)
			put(t, s, []byte("secret"), value)
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}

			var found []string
			var files int
			err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				files++
				b, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				if bytes.Contains(b, marker) {
					found = append(found, filepath.Base(path))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if files == 0 {
				t.Fatal("store directory has no files")
			}
			switch {
			case tt.wantFound && len(found) == 0:
				t.Errorf("marker not found in %d unencrypted files; the search is broken", files)
			case !tt.wantFound && len(found) > 0:
				t.Errorf("marker found in plaintext in %v", found)
			}
		})
	}
}

func TestBadgerSize(t *testing.T) {
	s := openBadger(t, t.TempDir(), testKey)
	value := bytes.Repeat([]byte("v"), 1<<10)
	for i := range 100 {
		put(t, s, fmt.Appendf(nil, "k/%03d", i), value)
	}
	if got := s.Size(); got <= 0 {
		t.Errorf("Size() after writing 100 KiB = %d, want > 0", got)
	}
}

func BenchmarkBadgerUpdateSynced(b *testing.B) {
	s := openBadger(b, b.TempDir(), testKey)
	value := bytes.Repeat([]byte("v"), 100)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		key := fmt.Appendf(nil, "k/%012d", i)
		if err := s.Update(func(tx store.Tx) error { return tx.Set(key, value) }); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBadgerGet(b *testing.B) {
	const n = 10000
	s := openBadger(b, b.TempDir(), testKey)
	value := bytes.Repeat([]byte("v"), 100)
	err := s.Update(func(tx store.Tx) error {
		for i := range n {
			if err := tx.Set(fmt.Appendf(nil, "k/%012d", i), value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "k/%012d", i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		err := s.View(func(r store.Reader) error {
			_, err := r.Get(keys[i%n])
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
