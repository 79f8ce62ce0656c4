//go:build linux

package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// noReadAhead turns off the kernel's read-ahead for reads through f.
func noReadAhead(f *os.File) { _ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_RANDOM) }

// willNeed asks the kernel to read n bytes of f from off into the page
// cache, without waiting for them.
func willNeed(f *os.File, off, n int64) { _ = unix.Fadvise(int(f.Fd()), off, n, unix.FADV_WILLNEED) }
