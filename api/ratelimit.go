package api

import (
	"math"
	"sync"
	"time"
)

// windowLimiter allows at most limit events per key within a sliding window.
// Keys are keyed hashes of client addresses; state is in memory and bounded.
type windowLimiter struct {
	mu     sync.Mutex
	limit  int
	window time.Duration
	now    func() time.Time
	events map[string][]time.Time
}

func newWindowLimiter(limit int, window time.Duration, now func() time.Time) *windowLimiter {
	return &windowLimiter{limit: limit, window: window, now: now, events: map[string][]time.Time{}}
}

// wait returns the seconds until key may act again, or 0 if it may now.
func (l *windowLimiter) wait(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.prune(key)
	if len(ts) < l.limit {
		return 0
	}
	return int(math.Ceil(ts[0].Add(l.window).Sub(l.now()).Seconds()))
}

// add records an event for key.
func (l *windowLimiter) add(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.events) >= maxTracked {
		for k := range l.events {
			if len(l.prune(k)) == 0 {
				delete(l.events, k)
			}
		}
	}
	l.events[key] = append(l.prune(key), l.now())
}

// take records an event if key is under the limit and returns 0, else the
// seconds to wait.
func (l *windowLimiter) take(key string) int {
	if w := l.wait(key); w > 0 {
		return w
	}
	l.add(key)
	return 0
}

func (l *windowLimiter) prune(key string) []time.Time {
	ts := l.events[key]
	now := l.now()
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= l.window {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.events, key)
		return nil
	}
	l.events[key] = ts
	return ts
}
