package store

import (
	"sync"
	"time"
)

// spaceCheck caches the free-space answer for a short while.
type spaceCheck struct {
	mu      sync.Mutex
	checked time.Time
	ok      bool
}

func (s *spaceCheck) enough(dir string, min int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A good answer is kept for 100 ms; a bad one is checked again at once,
	// so writes resume as soon as space comes back.
	if s.ok && time.Since(s.checked) < 100*time.Millisecond {
		return true
	}
	free, known := freeBytes(dir)
	s.ok = !known || free >= min
	s.checked = time.Now()
	return s.ok
}
