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
	var n int64
	for _, m := range storeMappings(dir) {
		if bytes.HasSuffix(m.path, []byte(".sst")) || bytes.HasSuffix(m.path, []byte(".vlog")) {
			n += m.advise(madvPageout)
		}
	}
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
// A file deleted while still mapped is never given MADV_DONTNEED: its
// mapping goes with its last reader. Nor are the value-log files when the
// newest of them that is not deleted is numbered below vlogFrom (the
// numbering started again): which file is being written is then unknown.
//
// It returns the bytes of the ranges advised of each kind, the highest
// value-log file number among those not deleted (vlogFrom when there is
// none), and the numbers of the tables from tablesFrom on that are mapped
// now (the next call's done).
func releasePages(dir string, vlogFrom, tablesFrom uint32, done, pinned map[uint32]bool, oldLogs bool) (written, read int64, newest uint32, mapped map[uint32]bool) {
	maps := storeMappings(dir)
	advice, newest, mapped := planRelease(maps, vlogFrom, tablesFrom, done, pinned, oldLogs)
	for i, m := range maps {
		switch advice[i] {
		case madvPageout:
			written += m.advise(madvPageout)
		case madvDontneed:
			read += m.advise(madvDontneed)
		}
	}
	return written, read, newest, mapped
}

// planRelease is releasePages's advice for each of maps (0 for none), the
// newest value-log file and the tables mapped.
func planRelease(maps []mapping, vlogFrom, tablesFrom uint32, done, pinned map[uint32]bool, oldLogs bool) (advice []int, newest uint32, mapped map[uint32]bool) {
	newest, live := vlogFrom, false
	for _, m := range maps {
		if fid, ok := numberedFile(m.path, ".vlog"); ok && !m.deleted {
			if !live || fid > newest {
				newest, live = fid, true
			}
		}
	}
	if !live {
		newest = vlogFrom
	}
	oldLogs = oldLogs && newest >= vlogFrom
	mapped = make(map[uint32]bool, len(done)+4)
	advice = make([]int, len(maps))
	for i, m := range maps {
		advice[i] = chooseAdvice(m, vlogFrom, tablesFrom, done, pinned, oldLogs, mapped)
	}
	return advice, newest, mapped
}

// chooseAdvice is planRelease's advice for one mapping (0 for none),
// noting in mapped the tables numbered tablesFrom on.
func chooseAdvice(m mapping, vlogFrom, tablesFrom uint32, done, pinned map[uint32]bool, oldLogs bool, mapped map[uint32]bool) int {
	if fid, ok := numberedFile(m.path, ".vlog"); ok {
		switch {
		case fid >= vlogFrom || m.deleted:
			return madvPageout
		case oldLogs:
			return madvDontneed
		}
		return 0
	}
	fid, ok := numberedFile(m.path, ".sst")
	if !ok {
		return 0
	}
	if fid >= tablesFrom {
		mapped[fid] = true
		if !done[fid] {
			return madvPageout
		}
	}
	if pinned[fid] && !m.deleted {
		return madvDontneed
	}
	return 0
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

// mapping is a range of this process's memory that maps a file of the
// store's directory.
type mapping struct {
	start, end uintptr
	path       []byte // the file's real path
	deleted    bool   // removed while still mapped
}

// advise gives the range the advice and returns its bytes, or 0 when the
// kernel refused.
func (m mapping) advise(advice int) int64 {
	if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, m.start, m.end-m.start, uintptr(advice)); errno != 0 {
		return 0
	}
	return int64(m.end - m.start)
}

// storeMappings reads /proc/self/maps for the mappings of the files
// directly in dir (not in directories under it).
func storeMappings(dir string) []mapping {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real // the maps name the files by their real paths
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil
	}
	defer f.Close()
	prefix := []byte(abs + string(filepath.Separator))
	var maps []mapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		start, end, path, ok := parseMapsLine(sc.Bytes())
		if !ok || !bytes.HasPrefix(path, prefix) {
			continue
		}
		// A file deleted while mapped (a table a compaction replaced,
		// still held by a reader) has " (deleted)" after its path.
		path, deleted := bytes.CutSuffix(path, []byte(" (deleted)"))
		if bytes.IndexByte(path[len(prefix):], filepath.Separator) >= 0 {
			continue
		}
		maps = append(maps, mapping{start, end, bytes.Clone(path), deleted})
	}
	return maps
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
