package store

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/badger/v4/y"
	"google.golang.org/protobuf/proto"
)

// writeTables fills an encrypted store in dir with keys enough for several
// tables and closes it.
func writeTables(t *testing.T, dir string, key []byte) {
	t.Helper()
	b, err := OpenBadger(BadgerOptions{Dir: dir, EncryptionKey: key, NoSync: true, TableSize: 64 << 10, MemTableSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for batch := range 20 {
		err := b.Update(func(tx Tx) error {
			for i := range 1000 {
				if err := tx.Set(fmt.Appendf(nil, "k/%02d/%06d", batch, i), []byte(strings.Repeat("v", 40))); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// rangeOf is warmRange of the file name.
func rangeOf(t *testing.T, name string) (off, n int64) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return warmRange(f, name)
}

// TestWarmRangeFindsTheIndex: for every table of a store, the range asked
// for ends the file and holds the whole index, as badger itself reports its
// length and as its checksum, stored in the table, verifies.
func TestWarmRangeFindsTheIndex(t *testing.T) {
	dir := t.TempDir()
	key := make([]byte, 32)
	rand.Read(key)
	writeTables(t, dir, key)
	b, err := OpenBadger(BadgerOptions{Dir: dir, EncryptionKey: key, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	indexLen := map[uint64]int{}
	for _, ti := range b.db.Tables() {
		indexLen[ti.ID] = ti.IndexSz
	}
	if len(indexLen) < 2 {
		t.Fatalf("%d tables, want several", len(indexLen))
	}
	checked := 0
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		name := filepath.Join(dir, e.Name())
		id, isTable := table.ParseFileID(e.Name())
		if !isTable {
			continue
		}
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		off, n := rangeOf(t, name)
		size := int64(len(data))
		if n == 0 || off+n != size {
			t.Fatalf("%s: range [%d, +%d) of %d bytes, want one that ends the file", e.Name(), off, n, size)
		}
		// The footer, read as badger reads it.
		sumLen := int64(binary.BigEndian.Uint32(data[size-4:]))
		var sum pb.Checksum
		if err := proto.Unmarshal(data[size-4-sumLen:size-4], &sum); err != nil {
			t.Fatal(err)
		}
		start := size - 8 - sumLen - int64(indexLen[id])
		if err := y.VerifyChecksum(data[start:size-8-sumLen], &sum); err != nil {
			t.Fatalf("%s: the index badger reports does not verify: %v", e.Name(), err)
		}
		if want := max(start-warmBefore, 0); off != want {
			t.Errorf("%s: range starts at %d, want %d (the index at %d)", e.Name(), off, want, start)
		}
		checked++
	}
	if checked != len(indexLen) {
		t.Errorf("checked %d table files, the store has %d tables", checked, len(indexLen))
	}
}

// TestWarmRangeOddFiles: files that are no table badger wrote, or that
// cannot be read, are left alone; a value-log file is asked for its header.
func TestWarmRangeOddFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	huge := make([]byte, 64)
	binary.BigEndian.PutUint32(huge[60:], 4)     // a checksum of 4 bytes
	binary.BigEndian.PutUint32(huge[52:], 1<<31) // an index longer than the file
	tooLong := make([]byte, 64)
	binary.BigEndian.PutUint32(tooLong[60:], 1<<30) // a checksum longer than the file
	for name, data := range map[string][]byte{
		"000001.sst": nil,
		"000002.sst": []byte("abc"),
		"000003.sst": huge,
		"000004.sst": tooLong,
	} {
		if off, n := rangeOf(t, write(name, data)); n != 0 {
			t.Errorf("%s: asked for [%d, +%d), want nothing", name, off, n)
		}
	}
	if off, n := rangeOf(t, write("000005.vlog", make([]byte, 100<<10))); off != 0 || n != vlogHeader {
		t.Errorf("value log: asked for [%d, +%d), want [0, +%d)", off, n, vlogHeader)
	}
	if err := os.Mkdir(filepath.Join(dir, "000006.sst"), 0o700); err != nil {
		t.Fatal(err)
	}
	if n := warmFile(filepath.Join(dir, "000006.sst")); n != 0 {
		t.Errorf("a directory named like a table: %d bytes asked for", n)
	}
	if n := warmFile(filepath.Join(dir, "missing.sst")); n != 0 {
		t.Errorf("a missing file: %d bytes asked for", n)
	}
	// The whole directory: only the value log's header is asked for.
	if n := warmTables(dir).wait(); n != vlogHeader {
		t.Errorf("warmTables asked for %d bytes, want %d", n, vlogHeader)
	}
}

// TestWarmTablesOpens: warmTables asks for every file's range, and a store
// opens and reads every key after its files were advised.
func TestWarmTablesOpens(t *testing.T) {
	dir := t.TempDir()
	key := make([]byte, 32)
	rand.Read(key)
	writeTables(t, dir, key)
	var want int64
	tables := 0
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		name := filepath.Join(dir, e.Name())
		if !strings.HasSuffix(name, ".sst") && !strings.HasSuffix(name, ".vlog") {
			continue
		}
		_, n := rangeOf(t, name)
		if strings.HasSuffix(name, ".sst") {
			if n == 0 {
				t.Errorf("%s: nothing asked for", e.Name())
			}
			tables++
		}
		want += n
	}
	if tables < 2 {
		t.Fatalf("%d tables, want several", tables)
	}
	if n := warmTables(dir).wait(); n != want {
		t.Errorf("warmTables asked for %d bytes, its files' ranges are %d", n, want)
	}
	if n := warmTables(t.TempDir() + "/none").wait(); n != 0 {
		t.Errorf("a missing directory: %d bytes", n)
	}
	b, err := OpenBadger(BadgerOptions{Dir: dir, EncryptionKey: key, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	n := 0
	err = b.View(func(r Reader) error {
		return r.Scan(ScanOptions{Prefix: []byte("k/"), KeysOnly: true}, func(_, _ []byte) error { n++; return nil })
	})
	if err != nil || n != 20000 {
		t.Fatalf("read %d keys (%v), want 20000", n, err)
	}
}

// FuzzTableIndexStart: any footer gives a start inside the file, before
// the footer, or none.
func FuzzTableIndexStart(f *testing.F) {
	f.Add([]byte{0, 0, 0, 9, 1, 2, 3, 0, 0, 0, 3}, int64(100))
	f.Add([]byte{0, 0, 0, 0}, int64(4))
	f.Fuzz(func(t *testing.T, tail []byte, size int64) {
		start, ok := tableIndexStart(tail, size)
		if !ok {
			return
		}
		if start < 0 || start > size-8 {
			t.Fatalf("start %d for a tail of %d bytes of a file of %d", start, len(tail), size)
		}
	})
}
