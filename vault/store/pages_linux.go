//go:build linux

package store

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// madvPageout is MADV_PAGEOUT (Linux 5.4): reclaim the pages of a range.
// Unlike MADV_DONTNEED it never changes what the range holds: should badger
// unmap a table between the read of the maps and the advice, and the
// addresses hold something else by then, that is only paged out (or left
// alone, without swap), never lost.
const madvPageout = 21

// madvDontneed is MADV_DONTNEED: take the pages of a range out of this
// process. For a shared mapping of a file they stay in the page cache, and
// the next access maps them again without a read from the disk. But the
// advice empties whatever the range holds by then, so it is only given for
// mappings that cannot go meanwhile: tables the store holds a reference to
// (see Badger.pinTables), and value-log files badger has finished writing
// while no collection runs (see Badger.ReleasePages).
const madvDontneed = 4

// pageOutTables asks the kernel to reclaim the pages of dir's table and
// value-log files that are mapped into this process, and returns the bytes
// of the ranges advised.
func pageOutTables(dir string) int64 {
	n, _ := advise(dir, func(path []byte) int {
		if bytes.HasSuffix(path, []byte(".sst")) || bytes.HasSuffix(path, []byte(".vlog")) {
			return madvPageout
		}
		return 0
	})
	return n
}

// releasePages is one pass over the maps that asks the kernel
//   - to reclaim the pages of dir's value-log files numbered vlogFrom on,
//     and of its tables numbered tablesFrom on that are not in done (pages
//     written, each table once);
//   - to take out of this process the pages of the tables in pinned that
//     it does not reclaim, and with oldLogs those of the value-log files
//     numbered below vlogFrom (pages read; see madvDontneed).
//
// It returns the bytes of the ranges advised of each kind, the highest
// value-log file number among the first (vlogFrom when there is none), and
// the numbers of the tables from tablesFrom on that are mapped now (the
// next call's done).
func releasePages(dir string, vlogFrom, tablesFrom uint32, done, pinned map[uint32]bool, oldLogs bool) (written, read int64, newest uint32, mapped map[uint32]bool) {
	newest = vlogFrom
	mapped = make(map[uint32]bool, len(done)+4)
	written, read = advise(dir, func(path []byte) int {
		if fid, ok := numberedFile(path, ".vlog"); ok {
			switch {
			case fid >= vlogFrom:
				newest = max(newest, fid)
				return madvPageout
			case oldLogs:
				return madvDontneed
			}
			return 0
		}
		fid, ok := numberedFile(path, ".sst")
		if !ok {
			return 0
		}
		if fid >= tablesFrom {
			mapped[fid] = true
			if !done[fid] {
				return madvPageout
			}
		}
		if pinned[fid] {
			return madvDontneed
		}
		return 0
	})
	return written, read, newest, mapped
}

// numberedFile is the number of the file at path named by its number and
// ext ("…/000042.vlog" with ".vlog": 42).
func numberedFile(path []byte, ext string) (uint32, bool) {
	name, ok := bytes.CutSuffix(path[bytes.LastIndexByte(path, '/')+1:], []byte(ext))
	if !ok || len(name) == 0 {
		return 0, false
	}
	fid, err := strconv.ParseUint(string(name), 10, 32)
	if err != nil {
		return 0, false
	}
	return uint32(fid), true
}

// advise gives each mapping of dir's files the advice choose returns for
// its path (madvPageout, madvDontneed, or 0 for none), and returns the
// bytes of the ranges advised to page out and to drop.
func advise(dir string, choose func(path []byte) int) (paged, dropped int64) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return 0, 0
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real // the maps name the files by their real paths
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	prefix := []byte(abs + string(filepath.Separator))
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		start, end, path, ok := parseMapsLine(sc.Bytes())
		// A table a compaction has deleted stays mapped until its last
		// reader is done: " (deleted)" follows its path.
		path = bytes.TrimSuffix(path, []byte(" (deleted)"))
		if !ok || !bytes.HasPrefix(path, prefix) {
			continue
		}
		advice := choose(path)
		if advice == 0 {
			continue
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, start, end-start, uintptr(advice)); errno != 0 {
			continue
		}
		if advice == madvDontneed {
			dropped += int64(end - start)
		} else {
			paged += int64(end - start)
		}
	}
	return paged, dropped
}

// parseMapsLine reads the address range and path of a line of
// /proc/self/maps: "start-end perms offset dev inode [path]"; the path of
// an anonymous mapping is nil.
func parseMapsLine(line []byte) (start, end uintptr, path []byte, ok bool) {
	fields := bytes.Fields(line)
	if len(fields) < 5 {
		return 0, 0, nil, false
	}
	lo, hi, found := bytes.Cut(fields[0], []byte("-"))
	if !found {
		return 0, 0, nil, false
	}
	s, err1 := strconv.ParseUint(string(lo), 16, 64)
	e, err2 := strconv.ParseUint(string(hi), 16, 64)
	if err1 != nil || err2 != nil || e <= s {
		return 0, 0, nil, false
	}
	if len(fields) == 5 {
		return uintptr(s), uintptr(e), nil, true // anonymous
	}
	// The path is the rest of the line after the inode; it may hold spaces.
	i := bytes.Index(line, fields[5])
	return uintptr(s), uintptr(e), line[i:], true
}
