//go:build linux

package store

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tableRSS is the resident bytes of dir's table files mapped into this
// process, from /proc/self/smaps.
func tableRSS(t *testing.T, dir string) int64 { return fileRSS(t, dir, ".sst") }

// fileRSS is the resident bytes of dir's files named *suffix mapped into
// this process, from /proc/self/smaps.
func fileRSS(t *testing.T, dir, suffix string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip("no /proc/self/smaps")
	}
	defer f.Close()
	abs, _ := filepath.Abs(dir)
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	var n int64
	match := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		if _, _, path, ok := parseMapsLine(line); ok {
			match = bytes.HasPrefix(path, []byte(abs+"/")) && bytes.HasSuffix(path, []byte(suffix))
			continue
		}
		if rest, ok := bytes.CutPrefix(line, []byte("Rss:")); ok && match {
			kb, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))), 10, 64)
			if err != nil {
				t.Fatalf("smaps line %q: %v", line, err)
			}
			n += kb << 10
		}
	}
	return n
}

// TestReleaseTablePages: the pages of the table files that opening an
// encrypted store read (every table's index) leave the process's resident
// set when released, and the store still reads every key.
func TestReleaseTablePages(t *testing.T) {
	t.Run("dir", func(t *testing.T) { testReleaseTablePages(t, t.TempDir()) })
	// The maps name files by their real paths.
	t.Run("symlink", func(t *testing.T) {
		real, link := t.TempDir(), filepath.Join(t.TempDir(), "link")
		if err := os.Symlink(real, link); err != nil {
			t.Skip(err)
		}
		testReleaseTablePages(t, link)
	})
}

func testReleaseTablePages(t *testing.T, dir string) {
	key := bytes.Repeat([]byte{7}, 32)
	open := func() *Badger {
		b, err := OpenBadger(BadgerOptions{Dir: dir, EncryptionKey: key, NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b := open()
	const n = 20000
	for batch := range 4 {
		err := b.Update(func(tx Tx) error {
			for i := range n / 4 {
				k := fmt.Sprintf("k/%08d", batch*n/4+i)
				if err := tx.Set([]byte(k), bytes.Repeat([]byte(k), 8)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil { // flushes the memtable into a table
		t.Fatal(err)
	}
	b = open()
	defer b.Close()
	before := tableRSS(t, dir)
	if before == 0 {
		t.Fatal("no table pages resident after open: nothing to test")
	}
	if adv := b.ReleaseTablePages(); adv < before {
		t.Errorf("advised %d bytes of mappings, fewer than the %d resident", adv, before)
	}
	if after := tableRSS(t, dir); after >= before {
		t.Errorf("table pages resident: %d before, %d after release", before, after)
	}
	err := b.View(func(r Reader) error {
		for i := 0; i < n; i += 997 {
			k := fmt.Sprintf("k/%08d", i)
			v, err := r.Get([]byte(k))
			if err != nil || !bytes.Equal(v, bytes.Repeat([]byte(k), 8)) {
				return fmt.Errorf("%s after release: %q, %v", k, v, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// TestReleaseWrittenPages: the pages that writes put into the value log's
// map, and the tables written since the store opened, leave the process's
// resident set when released, each table once; the pages that reads
// brought in from an older value-log file, from the tables the store
// opened with and into a table released before stay; every value still
// reads back.
func TestReleaseWrittenPages(t *testing.T) {
	dir := t.TempDir()
	key := bytes.Repeat([]byte{9}, 32)
	open := func() *Badger {
		b, err := OpenBadger(BadgerOptions{Dir: dir, EncryptionKey: key, NoSync: true, ValueLogFileSize: 1 << 20, MemTableSize: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	long := func(i int) []byte { return bytes.Repeat(fmt.Appendf(nil, "%08d", i), DefaultValueThreshold/8+1) }
	short := func(i int) []byte { return bytes.Repeat(fmt.Appendf(nil, "%08d", i), 64) }
	write := func(b *Badger, prefix string, from, to int, value func(int) []byte) {
		t.Helper()
		for i := from; i < to; i++ { // one commit each, as requests write
			if err := b.Update(func(tx Tx) error { return tx.Set(fmt.Appendf(nil, "%s/%08d", prefix, i), value(i)) }); err != nil {
				t.Fatal(err)
			}
		}
	}
	read := func(b *Badger, prefix string, from, to, step int, value func(int) []byte) {
		t.Helper()
		err := b.View(func(r Reader) error {
			for i := from; i < to; i += step {
				v, err := r.Get(fmt.Appendf(nil, "%s/%08d", prefix, i))
				if err != nil || !bytes.Equal(v, value(i)) {
					return fmt.Errorf("%s/%08d: %d bytes, %v", prefix, i, len(v), err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// tablesRSS is the resident bytes of each table, the tables the store
	// opened with (old) or the others.
	tablesRSS := func(b *Badger, old bool, atOpen map[uint64]bool) map[uint64]int64 {
		m := map[uint64]int64{}
		for _, ti := range b.db.Tables() {
			if atOpen[ti.ID] == old {
				m[ti.ID] = fileRSS(t, dir, fmt.Sprintf("/%06d.sst", ti.ID))
			}
		}
		return m
	}
	sum := func(m map[uint64]int64) (n int64) {
		for _, v := range m {
			n += v
		}
		return n
	}
	// stayed reports whether every table of before that is still there
	// (a compaction may have replaced some) has kept its pages (reads may
	// have added some), and some were there to keep.
	stayed := func(before, after map[uint64]int64) bool {
		kept := int64(0)
		for id, n := range before {
			if a, ok := after[id]; ok {
				if a < n {
					return false
				}
				kept += n
			}
		}
		return kept > 0
	}
	b := open()
	write(b, "k", 0, 2000, long)      // some 3.7 MB: value-log files 1 to 4
	if err := b.Close(); err != nil { // tables of pointers into the value log
		t.Fatal(err)
	}
	b = open()
	defer b.Close()
	atOpen := map[uint64]bool{}
	for _, ti := range b.db.Tables() {
		atOpen[ti.ID] = true
	}
	first := fmt.Sprintf("/%06d.vlog", 1)
	oldTables := tablesRSS(b, true, atOpen)
	b.ReleaseWrittenPages() // the first call: every value-log file, no table
	if n := fileRSS(t, dir, first); n != 0 {
		t.Fatalf("%d bytes of %s resident after the first release", n, first)
	}
	if after := tablesRSS(b, true, atOpen); !stayed(oldTables, after) {
		t.Fatalf("pages of the tables opened with: %v before the first release, %v after", oldTables, after)
	}

	read(b, "k", 0, 400, 1, long) // brings the first file's pages back
	write(b, "k", 2000, 3000, long)
	write(b, "s", 0, 4000, short) // 2 MB into 1 MiB memtables: new tables
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if len(tablesRSS(b, false, atOpen)) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no table written within 30 s")
		}
	}
	oldRead, vlog := fileRSS(t, dir, first), fileRSS(t, dir, ".vlog")
	oldTables = tablesRSS(b, true, atOpen)
	newTables := tablesRSS(b, false, atOpen)
	if oldRead < 400*int64(DefaultValueThreshold) || vlog-oldRead < 1000*int64(DefaultValueThreshold) || sum(newTables) == 0 {
		t.Fatalf("resident before release: %s %d bytes, value log %d, new tables %v: nothing to test", first, oldRead, vlog, newTables)
	}
	if adv := b.ReleaseWrittenPages(); adv < vlog-oldRead+sum(newTables) {
		t.Errorf("advised %d bytes of mappings, fewer than the %d written", adv, vlog-oldRead+sum(newTables))
	}
	if after := fileRSS(t, dir, first); after != oldRead {
		t.Errorf("pages read from %s: %d resident before the release, %d after", first, oldRead, after)
	}
	if after := fileRSS(t, dir, ".vlog"); after-oldRead > (vlog-oldRead)/4 {
		t.Errorf("written value-log pages resident: %d before release, %d after", vlog-oldRead, after-oldRead)
	}
	// The new tables measured before (a flush may have written more since).
	after := tablesRSS(b, false, atOpen)
	var left int64
	for id := range newTables {
		left += after[id]
	}
	if left > sum(newTables)/4 {
		t.Errorf("pages of the tables written since the store opened: %v before release, %v after", newTables, after)
	}
	if after := tablesRSS(b, true, atOpen); !stayed(oldTables, after) {
		t.Errorf("pages of the tables opened with: %v before the release, %v after", oldTables, after)
	}
	// Each table once: the pages that reads bring back into a released
	// table stay through the next release.
	read(b, "s", 0, 4000, 1, short)
	back := map[uint64]int64{}
	for id, n := range tablesRSS(b, false, atOpen) {
		if _, ok := newTables[id]; ok {
			back[id] = n
		}
	}
	b.ReleaseWrittenPages()
	if after := tablesRSS(b, false, atOpen); !stayed(back, after) {
		t.Errorf("pages read back into the released tables: %v before the next release, %v after", back, after)
	}
	read(b, "k", 0, 3000, 7, long)
}

func TestNumberedFile(t *testing.T) {
	for _, tt := range []struct {
		path string
		fid  uint32
		ok   bool
	}{
		{"/data/store/000042.vlog", 42, true},
		{"000001.vlog", 1, true},
		{"/a/4294967295.vlog", 1<<32 - 1, true},
		{"/a/4294967296.vlog", 0, false},
		{"/a/.vlog", 0, false},
		{"/a/+1.vlog", 0, false},
		{"/a/000042.sst", 0, false}, // not ".vlog"
		{"/a/000042.vlog.bak", 0, false},
		{"/a/x1.vlog", 0, false},
	} {
		if fid, ok := numberedFile([]byte(tt.path), ".vlog"); fid != tt.fid || ok != tt.ok {
			t.Errorf("numberedFile(%q, .vlog) = %d, %v; want %d, %v", tt.path, fid, ok, tt.fid, tt.ok)
		}
	}
}

func FuzzNumberedFile(f *testing.F) {
	for _, s := range []string{"/d/000042.vlog", "/d/.vlog", "000001.vlog", "/d/1/2.vlog", "/d/99999999999.vlog"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, path []byte) {
		fid, ok := numberedFile(path, ".vlog")
		if !ok {
			return
		}
		name := path[bytes.LastIndexByte(path, '/')+1:]
		digits := bytes.TrimSuffix(name, []byte(".vlog"))
		if len(digits) == 0 || bytes.ContainsFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) {
			t.Fatalf("%q read as file %d", path, fid)
		}
		if got := strconv.FormatUint(uint64(fid), 10); strings.TrimLeft(string(digits), "0") != strings.TrimLeft(got, "0") {
			t.Fatalf("%q read as file %d", path, fid)
		}
	})
}

func TestParseMapsLine(t *testing.T) {
	for _, c := range []struct {
		line       string
		start, end uintptr
		path       string
		ok         bool
	}{
		{"7f0a1c000000-7f0a1c400000 r--s 00000000 08:01 1234 /data/store/000001.sst", 0x7f0a1c000000, 0x7f0a1c400000, "/data/store/000001.sst", true},
		{"7f0a1c000000-7f0a1c400000 r--s 00000000 08:01 1234 /data/my store/000001.sst", 0x7f0a1c000000, 0x7f0a1c400000, "/data/my store/000001.sst", true},
		{"7f0a1c000000-7f0a1c400000 rw-p 00000000 00:00 0 ", 0x7f0a1c000000, 0x7f0a1c400000, "", true},
		{"7f0a1c000000-7f0a1c400000 rw-p 00000000 00:00 0", 0x7f0a1c000000, 0x7f0a1c400000, "", true},
		{"7f0a1c000000-7f0a1c400000 rw-p 00000000 00:00", 0, 0, "", false},
		{"Rss:                 123 kB", 0, 0, "", false},
		{"zz-7f0a1c400000 r--s 00000000 08:01 1234 /a.sst", 0, 0, "", false},
		{"7f0a1c400000-7f0a1c000000 r--s 00000000 08:01 1234 /a.sst", 0, 0, "", false},
		{"", 0, 0, "", false},
	} {
		s, e, p, ok := parseMapsLine([]byte(c.line))
		if ok != c.ok || ok && (s != c.start || e != c.end || string(p) != c.path) {
			t.Errorf("%q: %x %x %q %v", c.line, s, e, p, ok)
		}
	}
}
