//go:build !linux

package store

func pageOutTables(string) int64                           { return 0 }
func pageOutFrom(_, _ string, from uint32) (int64, uint32) { return 0, from }
func pageOutNewTables(_ string, _ uint32, done map[uint32]bool) (int64, map[uint32]bool) {
	return 0, done
}
