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

// pageOutTables asks the kernel to reclaim the pages of dir's table and
// value-log files that are mapped into this process, and returns the bytes
// of the ranges advised.
func pageOutTables(dir string) int64 {
	return pageOut(dir, func(path []byte) bool {
		return bytes.HasSuffix(path, []byte(".sst")) || bytes.HasSuffix(path, []byte(".vlog"))
	})
}

// pageOutWritten asks the kernel, in one pass over the maps, to reclaim
// the pages mapped into this process of dir's value-log files numbered
// vlogFrom on, and of its tables numbered tablesFrom on that are not in
// done. It returns the bytes of the ranges advised, the highest value-log
// file number among them (vlogFrom when there is none), and the numbers of
// the tables from tablesFrom on that are mapped now (the next call's done).
func pageOutWritten(dir string, vlogFrom, tablesFrom uint32, done map[uint32]bool) (int64, uint32, map[uint32]bool) {
	newest := vlogFrom
	mapped := make(map[uint32]bool, len(done)+4)
	n := pageOut(dir, func(path []byte) bool {
		if fid, ok := numberedFile(path, ".vlog"); ok && fid >= vlogFrom {
			newest = max(newest, fid)
			return true
		}
		if fid, ok := numberedFile(path, ".sst"); ok && fid >= tablesFrom {
			mapped[fid] = true
			return !done[fid]
		}
		return false
	})
	return n, newest, mapped
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

// pageOut advises MADV_PAGEOUT for the mappings of dir's files whose paths
// want accepts.
func pageOut(dir string, want func(path []byte) bool) int64 {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return 0
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real // the maps name the files by their real paths
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0
	}
	defer f.Close()
	prefix := []byte(abs + string(filepath.Separator))
	var n int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		start, end, path, ok := parseMapsLine(sc.Bytes())
		// A table a compaction has deleted stays mapped until its last
		// reader is done: " (deleted)" follows its path.
		path = bytes.TrimSuffix(path, []byte(" (deleted)"))
		if !ok || !bytes.HasPrefix(path, prefix) || !want(path) {
			continue
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, start, end-start, madvPageout); errno == 0 {
			n += int64(end - start)
		}
	}
	return n
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
