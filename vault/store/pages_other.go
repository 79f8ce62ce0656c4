//go:build !linux

package store

func pageOutTables(string) int64   { return 0 }
func pageOutValueLog(string) int64 { return 0 }
