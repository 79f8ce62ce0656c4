//go:build linux

package store

import (
	"bufio"
	"bytes"
	"fmt"
	stdmaps "maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
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

// cachedBytes is the bytes of dir's files named *suffix that are in the
// page cache, whether or not they are mapped into this process (mincore on
// a mapping of its own).
func cachedBytes(t *testing.T, dir, suffix string) int64 {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, path := range paths {
		if !strings.HasSuffix(path, suffix) {
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			continue // removed by a compaction since the glob
		}
		fi, err := f.Stat()
		if err != nil || fi.Size() == 0 {
			f.Close()
			continue
		}
		m, err := syscall.Mmap(int(f.Fd()), 0, int(fi.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		page := os.Getpagesize()
		vec := make([]byte, (len(m)+page-1)/page)
		_, _, errno := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0])))
		syscall.Munmap(m)
		if errno != 0 {
			t.Fatal(errno)
		}
		for _, v := range vec {
			n += int64(v&1) * int64(page)
		}
	}
	return n
}

// TestReleasePages: the pages that writes put into the value log's map,
// and the tables written since the store opened, leave the process's
// resident set when released, each table once; the pages that reads
// brought into the tables and an older value-log file leave it too but
// stay in the page cache, except the value log's during a collection;
// every value still reads back.
func TestReleasePages(t *testing.T) {
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
	read(b, "k", 0, 2000, 1, long) // pages of every table opened with
	oldTables := sum(tablesRSS(b, true, atOpen))
	if oldTables == 0 {
		t.Fatal("no page of the tables opened with resident: nothing to test")
	}
	rel := b.ReleasePages() // the first call: every value-log file
	if n := fileRSS(t, dir, first); n != 0 {
		t.Fatalf("%d bytes of %s resident after the first release", n, first)
	}
	if n := sum(tablesRSS(b, true, atOpen)); n > oldTables/4 { // a compaction may read some
		t.Fatalf("%d of the %d resident bytes of the tables opened with left after the first release", n, oldTables)
	}
	if n := cachedBytes(t, dir, ".sst"); n < oldTables {
		t.Fatalf("%d bytes of tables cached after the first release, fewer than the %d read", n, oldTables)
	}
	if rel.Read < oldTables || rel.Written == 0 {
		t.Fatalf("released %+v, %d bytes of tables read", rel, oldTables)
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
	oldTables = sum(tablesRSS(b, true, atOpen))
	newTables := tablesRSS(b, false, atOpen)
	if oldRead < 400*int64(DefaultValueThreshold) || vlog-oldRead < 1000*int64(DefaultValueThreshold) || sum(newTables) == 0 {
		t.Fatalf("resident before release: %s %d bytes, value log %d, new tables %v: nothing to test", first, oldRead, vlog, newTables)
	}
	if rel := b.ReleasePages(); rel.Written < vlog-oldRead+sum(newTables) {
		t.Errorf("advised %d bytes of mappings written, fewer than the %d written", rel.Written, vlog-oldRead+sum(newTables))
	}
	if after := fileRSS(t, dir, first); after > oldRead/4 {
		t.Errorf("pages read from %s: %d resident before the release, %d after", first, oldRead, after)
	}
	if n := cachedBytes(t, dir, first); n < oldRead {
		t.Errorf("pages read from %s: %d resident before the release, %d cached after", first, oldRead, n)
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
	// A compaction may read some of them again meanwhile.
	if n := sum(tablesRSS(b, true, atOpen)); n > oldTables/4 {
		t.Errorf("pages of the tables opened with: %d resident before the release, %d after", oldTables, n)
	}
	// Each table paged out once: the pages that reads bring back into a
	// released table leave the process at the next release, but stay
	// cached.
	read(b, "s", 0, 4000, 1, short)
	inReleased := func() (n int64) {
		for id, r := range tablesRSS(b, false, atOpen) {
			if _, ok := newTables[id]; ok {
				n += r
			}
		}
		return n
	}
	back := inReleased()
	cached := cachedBytes(t, dir, ".sst")
	if back == 0 {
		t.Fatal("no page read back into the released tables: nothing to test")
	}
	b.ReleasePages()
	if n := inReleased(); n > back/4 {
		t.Errorf("pages read back into the released tables: %d resident before the release, %d after", back, n)
	}
	if n := cachedBytes(t, dir, ".sst"); n < cached-cached/8 {
		t.Errorf("tables cached: %d bytes before the release, %d after", cached, n)
	}
	read(b, "k", 0, 3000, 7, long)
	read(b, "s", 0, 4000, 3, short)

	// While a collection of the value log runs, which deletes files, the
	// pages read from older files stay.
	read(b, "k", 0, 400, 1, long)
	oldRead = fileRSS(t, dir, first)
	if oldRead == 0 {
		t.Fatalf("no page of %s read back: nothing to test", first)
	}
	b.gcMu.Lock()
	b.ReleasePages()
	b.gcMu.Unlock()
	if n := fileRSS(t, dir, first); n != oldRead {
		t.Errorf("pages read from %s during a collection: %d resident before the release, %d after", first, oldRead, n)
	}
}

// TestPinTables: a table the store holds for a release stays on disk (and
// so mapped) after the store drops it, and goes once it is let go; a
// release after Close does nothing.
func TestPinTables(t *testing.T) {
	t.Run("managed", func(t *testing.T) { testPinTables(t, false) })
	t.Run("stock transactions", func(t *testing.T) { testPinTables(t, true) })
}

func testPinTables(t *testing.T, stock bool) {
	dir := t.TempDir()
	b, err := OpenBadger(BadgerOptions{Dir: dir, EncryptionKey: bytes.Repeat([]byte{3}, 32), NoSync: true, MemTableSize: 1 << 20, StockTransactions: stock})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6000 {
		if err := b.Update(func(tx Tx) error { return tx.Set(fmt.Appendf(nil, "k/%08d", i), bytes.Repeat([]byte{byte(i)}, 300)) }); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); len(b.db.Tables()) < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("fewer than two tables within 30 s")
		}
	}
	ids := func() map[uint32]bool {
		m := map[uint32]bool{}
		for _, ti := range b.db.Tables() {
			m[uint32(ti.ID)] = true
		}
		return m
	}
	before := ids()
	b.releaseMu.Lock()
	pinned, unpin := b.pinTables()
	b.releaseMu.Unlock()
	after := ids()
	for id := range before {
		if after[id] && !pinned[id] { // a flush may add a table meanwhile
			t.Fatalf("table %d not pinned: %v pinned of %v", id, pinned, after)
		}
	}
	if err := b.db.DropPrefix([]byte("k/")); err != nil { // drops every table
		t.Fatal(err)
	}
	replaced := len(pinned)
	for _, ti := range b.db.Tables() {
		if pinned[uint32(ti.ID)] {
			replaced--
		}
	}
	if replaced == 0 {
		t.Fatal("no table replaced: nothing to test")
	}
	gone := func() (n int) {
		for fid := range pinned {
			if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("%06d.sst", fid))); err != nil {
				n++
			}
		}
		return n
	}
	if n := gone(); n != 0 {
		t.Fatalf("%d of the %d pinned tables removed while pinned", n, len(pinned))
	}
	unpin()
	if n := gone(); n == 0 {
		t.Fatal("no replaced table removed once let go")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if rel := b.ReleasePages(); rel != (Released{}) {
		t.Fatalf("release after close: %+v", rel)
	}
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

// TestReleasePagesDuringCompactions: releases every millisecond while
// writes fill memtables, flushes write tables and compactions replace
// them (and unmap the ones they replace) change nothing a read sees. A
// compaction of level 0 after each round makes sure tables are replaced.
func TestReleasePagesDuringCompactions(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 16 MB")
	}
	dir := t.TempDir()
	b, err := OpenBadger(BadgerOptions{Dir: dir, EncryptionKey: bytes.Repeat([]byte{5}, 32), NoSync: true, MemTableSize: 1 << 20, TableSize: 1 << 20, ValueLogFileSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	value := func(i int) []byte {
		n := 200
		if i%3 == 0 {
			n = DefaultValueThreshold + 100 // into the value log
		}
		return bytes.Repeat(fmt.Appendf(nil, "%07d,", i), n/8)
	}
	stop := make(chan struct{})
	done := make(chan int)
	var builders int64 // bytes of builders' buffers let go
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			builders += b.ReleasePages().Builders
			n++
			time.Sleep(time.Millisecond)
		}
	}()
	const keys, rounds = 12000, 4
	for round := range rounds { // each round after the first replaces every key
		for i := range keys {
			if err := b.Update(func(tx Tx) error { return tx.Set(fmt.Appendf(nil, "k/%08d", i), value(i+round)) }); err != nil {
				t.Fatal(err)
			}
			if i%1000 == 0 {
				if err := b.View(func(r Reader) error {
					for j := 0; j < i; j += 97 {
						if v, err := r.Get(fmt.Appendf(nil, "k/%08d", j)); err != nil || !bytes.Equal(v, value(j+round)) && !bytes.Equal(v, value(j+round-1)) {
							return fmt.Errorf("k/%08d: %q, %v", j, v, err)
						}
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Besides the compactions badger starts when it will, one that
		// replaces every table of level 0: dropping a prefix that some key
		// has compacts level 0 first.
		if err := b.Update(func(tx Tx) error { return tx.Set([]byte("d/0"), []byte("x")) }); err != nil {
			t.Fatal(err)
		}
		if err := b.db.DropPrefix([]byte("d/")); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	if n := <-done; n < 10 {
		t.Fatalf("%d releases: nothing tested", n)
	}
	if builders == 0 {
		t.Fatal("no table builder's buffers let go during the flushes and compactions")
	}
	// Tables are numbered in order: a compaction has replaced some when
	// the highest number exceeds the count.
	highest := uint64(0)
	for _, ti := range b.db.Tables() {
		highest = max(highest, ti.ID)
	}
	if highest <= uint64(len(b.db.Tables())) {
		t.Fatalf("%d tables, the highest %d: none replaced, nothing tested", len(b.db.Tables()), highest)
	}
	t.Logf("%d tables, the highest %d", len(b.db.Tables()), highest)
	err = b.View(func(r Reader) error {
		for i := range keys {
			if v, err := r.Get(fmt.Appendf(nil, "k/%08d", i)); err != nil || !bytes.Equal(v, value(i+rounds-1)) {
				return fmt.Errorf("k/%08d: %d bytes, %v", i, len(v), err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPlanRelease: the advice for each kind of mapping, with the value-log
// numbering moving on, started again, and a file removed while mapped.
func TestPlanRelease(t *testing.T) {
	m := func(name string, deleted bool) mapping {
		return mapping{path: []byte("/s/" + name), deleted: deleted}
	}
	const P, D = madvPageout, madvDontneed
	for _, c := range []struct {
		name       string
		maps       []mapping
		vlogFrom   uint32
		oldLogs    bool
		want       []int
		wantNewest uint32
	}{
		{"first call", []mapping{m("000001.vlog", false), m("000002.vlog", false)}, 0, true, []int{P, P}, 2},
		{"older files read", []mapping{m("000001.vlog", false), m("000002.vlog", false), m("000003.vlog", false)}, 2, true, []int{D, P, P}, 3},
		{"during a collection", []mapping{m("000001.vlog", false), m("000002.vlog", false)}, 2, false, []int{0, P}, 2},
		// A file whose creation failed after it was mapped: removed, still
		// mapped, never counted the newest; the one being written stays
		// the newest.
		{"removed newer file", []mapping{m("000004.vlog", false), m("000005.vlog", true)}, 4, true, []int{P, P}, 4},
		{"removed older file", []mapping{m("000001.vlog", true), m("000004.vlog", false)}, 4, true, []int{P, P}, 4},
		// Numbered from 1 again: which file is written is unknown.
		{"numbering started again", []mapping{m("000001.vlog", false), m("000002.vlog", false)}, 7, true, []int{0, 0}, 2},
		{"no value log", []mapping{m("000003.sst", false)}, 7, true, []int{D}, 7},
		{"not the store's", []mapping{m("000001.mem", false), m("DISCARD", false), m("MANIFEST", false)}, 1, true, []int{0, 0, 0}, 1},
	} {
		advice, newest, _ := planRelease(c.maps, c.vlogFrom, 10, nil, map[uint32]bool{3: true}, c.oldLogs)
		if !slices.Equal(advice, c.want) || newest != c.wantNewest {
			t.Errorf("%s: advice %v, newest %d; want %v, %d", c.name, advice, newest, c.want, c.wantNewest)
		}
	}
	// Tables: written since the store opened (from 10 on), each paged out
	// once (MADV_PAGEOUT is safe on any range, a removed one too), then
	// dropped like the others when pinned; never a removed one.
	maps := []mapping{m("000003.sst", false), m("000004.sst", false), m("000005.sst", true), m("000010.sst", false), m("000011.sst", false), m("000012.sst", true), m("000013.sst", false)}
	pinned := map[uint32]bool{3: true, 5: true, 10: true, 11: true, 12: true}
	advice, _, mapped := planRelease(maps, 0, 10, map[uint32]bool{10: true, 11: true}, pinned, true)
	if want := []int{D, 0, 0, D, D, P, P}; !slices.Equal(advice, want) {
		t.Errorf("tables: advice %v, want %v", advice, want)
	}
	if want := map[uint32]bool{10: true, 11: true, 12: true, 13: true}; !stdmaps.Equal(mapped, want) {
		t.Errorf("tables mapped from 10 on: %v, want %v", mapped, want)
	}
}

// TestStoreMappings: the mappings of the files directly in the store's
// directory, found by their real paths, not those of a directory under it.
func TestStoreMappings(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	mapFile := func(path string) []byte {
		t.Helper()
		if err := os.WriteFile(path, bytes.Repeat([]byte{1}, 8192), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b, err := syscall.Mmap(int(f.Fd()), 0, 8192, syscall.PROT_READ, syscall.MAP_SHARED)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Munmap(b) })
		return b
	}
	own := mapFile(filepath.Join(dir, "000001.sst"))
	mapFile(filepath.Join(dir, "sub", "000002.sst"))
	mapFile(filepath.Join(dir, "000003.sst"))
	if err := os.Remove(filepath.Join(dir, "000003.sst")); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, m := range storeMappings(dir) {
		got[filepath.Base(string(m.path))] = m.deleted
		if filepath.Base(string(m.path)) == "000001.sst" && m.start != uintptr(unsafe.Pointer(&own[0])) {
			t.Errorf("000001.sst mapped at %#x, found at %#x", uintptr(unsafe.Pointer(&own[0])), m.start)
		}
	}
	if want := map[string]bool{"000001.sst": false, "000003.sst": true}; len(got) != 2 || got["000001.sst"] || !got["000003.sst"] {
		t.Errorf("mappings %v, want %v", got, want)
	}
}
