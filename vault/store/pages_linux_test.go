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

// TestReleaseValueLogPages: the pages that writes put into the value log's
// map leave the process's resident set when released, the pages that reads
// brought in from older value-log files stay, the tables' pages stay, and
// every value still reads back.
func TestReleaseValueLogPages(t *testing.T) {
	dir := t.TempDir()
	key := bytes.Repeat([]byte{9}, 32)
	open := func() *Badger {
		b, err := OpenBadger(BadgerOptions{Dir: dir, EncryptionKey: key, NoSync: true, ValueLogFileSize: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	value := func(i int) []byte { return bytes.Repeat(fmt.Appendf(nil, "%08d", i), DefaultValueThreshold/8+1) }
	write := func(b *Badger, from, to int) {
		t.Helper()
		for i := from; i < to; i++ { // one commit each, as requests write
			if err := b.Update(func(tx Tx) error { return tx.Set(fmt.Appendf(nil, "k/%08d", i), value(i)) }); err != nil {
				t.Fatal(err)
			}
		}
	}
	read := func(b *Badger, from, to, step int) {
		t.Helper()
		err := b.View(func(r Reader) error {
			for i := from; i < to; i += step {
				v, err := r.Get(fmt.Appendf(nil, "k/%08d", i))
				if err != nil || !bytes.Equal(v, value(i)) {
					return fmt.Errorf("k/%08d: %d bytes, %v", i, len(v), err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	b := open()
	write(b, 0, 2000)                 // some 3.7 MB: value-log files 1 to 4
	if err := b.Close(); err != nil { // a table of pointers into the value log
		t.Fatal(err)
	}
	b = open()
	defer b.Close()
	first := fmt.Sprintf("%06d.vlog", 1)
	b.ReleaseValueLogPages() // the first call: every file
	if n := fileRSS(t, dir, first); n != 0 {
		t.Fatalf("%d bytes of %s resident after the first release", n, first)
	}
	read(b, 0, 400, 1) // brings the first file's pages back
	write(b, 2000, 3000)
	oldRead, vlog, tables := fileRSS(t, dir, first), fileRSS(t, dir, ".vlog"), tableRSS(t, dir)
	if oldRead < 400*int64(DefaultValueThreshold) || vlog-oldRead < 1000*int64(DefaultValueThreshold) || tables == 0 {
		t.Fatalf("resident before release: %s %d bytes, value log %d, tables %d: nothing to test", first, oldRead, vlog, tables)
	}
	if adv := b.ReleaseValueLogPages(); adv < vlog-oldRead {
		t.Errorf("advised %d bytes of mappings, fewer than the %d written", adv, vlog-oldRead)
	}
	if after := fileRSS(t, dir, first); after != oldRead {
		t.Errorf("pages read from %s: %d resident before the release, %d after", first, oldRead, after)
	}
	if after := fileRSS(t, dir, ".vlog"); after-oldRead > (vlog-oldRead)/4 {
		t.Errorf("written value-log pages resident: %d before release, %d after", vlog-oldRead, after-oldRead)
	}
	if after := tableRSS(t, dir); after != tables {
		t.Errorf("table pages resident: %d before, %d after releasing the value log's", tables, after)
	}
	read(b, 0, 3000, 7)
}

func TestValueLogFile(t *testing.T) {
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
		{"/a/000042.sst", 0, false},
		{"/a/000042.vlog.bak", 0, false},
		{"/a/x1.vlog", 0, false},
	} {
		if fid, ok := valueLogFile([]byte(tt.path)); fid != tt.fid || ok != tt.ok {
			t.Errorf("valueLogFile(%q) = %d, %v; want %d, %v", tt.path, fid, ok, tt.fid, tt.ok)
		}
	}
}

func FuzzValueLogFile(f *testing.F) {
	for _, s := range []string{"/d/000042.vlog", "/d/.vlog", "000001.vlog", "/d/1/2.vlog", "/d/99999999999.vlog"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, path []byte) {
		fid, ok := valueLogFile(path)
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
