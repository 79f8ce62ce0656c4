package store

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

// Opening a store reads a little of every file: from each table, the
// index at the end of the file (its bloom filter and block offsets) and the
// block just before it (the table's biggest key); from each value-log file,
// its header. badger does this through memory maps, three tables at a
// time, and on Linux a page fault on a file page not in the page cache
// reads the file's whole read-ahead window around it: on a disk whose
// read-ahead is 8 MiB (the development machine's), a cold start of a
// million petitions (673 tables, 159 value-log files, 157 MiB of indexes)
// read 3.9 GB and took 2.6–3.3 s, against 0.7–1.0 s warm. warmTables asks
// the kernel, while badger opens the store, for exactly the parts it will
// read, many files at a time; badger then finds those pages read or on
// their way, and its faults read nothing more. It is advice only: a file
// it cannot read or make sense of is left to badger, which reports what
// is wrong with it.

const (
	// warmWorkers is how many files are advised at once.
	warmWorkers = 16
	// warmBefore is how much before a table's index is asked for too: its
	// last block (4 KiB before encryption) and slack.
	warmBefore = 64 << 10
	// tableFooter bounds the end of a table that holds the lengths of its
	// index and checksum (4 bytes each) and the checksum (a few bytes).
	tableFooter = 4 << 10
	// vlogHeader is what badger reads of a value-log file when it opens
	// the store (its key id and base IV; a page).
	vlogHeader = 4 << 10
)

// warmer advises table and value-log files in the background.
type warmer struct {
	wg    sync.WaitGroup
	bytes atomic.Int64
}

// warmTables starts advising dir's table and value-log files.
func warmTables(dir string) *warmer {
	w := new(warmer)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return w
	}
	names := make(chan string, len(ents))
	for _, e := range ents {
		if n := e.Name(); e.Type().IsRegular() && (strings.HasSuffix(n, ".sst") || strings.HasSuffix(n, ".vlog")) {
			names <- filepath.Join(dir, n)
		}
	}
	close(names)
	for range min(warmWorkers, len(names)) {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for name := range names {
				w.bytes.Add(warmFile(name))
			}
		}()
	}
	return w
}

// wait waits until every file has been advised (the reads themselves may
// still be under way) and returns the bytes asked for.
func (w *warmer) wait() int64 {
	w.wg.Wait()
	return w.bytes.Load()
}

// warmFile asks for the parts of one file that opening the store reads,
// and returns their size.
func warmFile(name string) int64 {
	f, err := os.Open(name)
	if err != nil {
		return 0
	}
	defer f.Close()
	off, n := warmRange(f, name)
	if n > 0 {
		willNeed(f, off, n)
	}
	return n
}

// warmRange is the part of the file f (named name) that opening the store
// reads: a value-log file's header, a table's last block, index and
// footer. n is 0 when f cannot be read or is no table badger wrote.
func warmRange(f *os.File, name string) (off, n int64) {
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return 0, 0
	}
	size := fi.Size()
	if strings.HasSuffix(name, ".vlog") {
		return 0, min(vlogHeader, size)
	}
	noReadAhead(f) // the footer's read reads the footer only
	var buf [tableFooter]byte
	tail := buf[:min(tableFooter, size)]
	if _, err := f.ReadAt(tail, size-int64(len(tail))); err != nil {
		return 0, 0
	}
	start, ok := tableIndexStart(tail, size)
	if !ok {
		return 0, 0
	}
	off = max(start-warmBefore, 0)
	return off, size - off
}

// tableIndexStart finds where a table's index begins from the last bytes
// of the file (tail, of a file of size bytes). A table ends with its
// index, the index's length, the checksum of the index and the checksum's
// length, the lengths as big-endian uint32 (badger's table.Builder).
func tableIndexStart(tail []byte, size int64) (int64, bool) {
	if len(tail) < 8 || int64(len(tail)) > size {
		return 0, false
	}
	end := len(tail) - 4
	sumLen := int(binary.BigEndian.Uint32(tail[end:]))
	if sumLen > end-4 {
		return 0, false
	}
	end -= sumLen + 4
	indexLen := int64(binary.BigEndian.Uint32(tail[end:]))
	start := size - int64(len(tail)) + int64(end) - indexLen
	if start < 0 {
		return 0, false
	}
	return start, true
}
