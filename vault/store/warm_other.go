//go:build !linux

package store

import "os"

func noReadAhead(*os.File) {}

// willNeed reads n bytes of f from off, so that they are in the cache
// when badger reads them.
func willNeed(f *os.File, off, n int64) {
	buf := make([]byte, min(n, 256<<10))
	for n > 0 {
		m, err := f.ReadAt(buf[:min(n, int64(len(buf)))], off)
		if err != nil {
			return
		}
		off, n = off+int64(m), n-int64(m)
	}
}
