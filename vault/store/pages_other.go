//go:build !linux

package store

func pageOutTables(string) int64 { return 0 }
func pageOutWritten(_ string, vlogFrom, _ uint32, done map[uint32]bool) (int64, uint32, map[uint32]bool) {
	return 0, vlogFrom, done
}
