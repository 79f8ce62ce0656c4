package api

import (
	"math"
	"sync"
	"time"
)

// loginLimiter locks a username after too many failed logins within a
// window, and blocks a client address after many more. State is in memory.
type loginLimiter struct {
	mu        sync.Mutex
	perUser   int
	perClient int
	window    time.Duration
	now       func() time.Time
	users     map[string]*failures
	clients   map[string]*failures
}

type failures struct {
	times       []time.Time
	lockedUntil time.Time
}

const maxTracked = 100000

func newLoginLimiter(perUser, perClient int, window time.Duration, now func() time.Time) *loginLimiter {
	return &loginLimiter{perUser: perUser, perClient: perClient, window: window, now: now,
		users: map[string]*failures{}, clients: map[string]*failures{}}
}

// blocked returns the seconds to wait before user may try again from client,
// or 0.
func (l *loginLimiter) blocked(user, client string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	wait := time.Duration(0)
	for _, f := range []*failures{l.users[user], l.clients[client]} {
		if f != nil && now.Before(f.lockedUntil) {
			wait = max(wait, f.lockedUntil.Sub(now))
		}
	}
	if wait == 0 {
		return 0
	}
	return int(math.Ceil(wait.Seconds()))
}

// fail records a failed login.
func (l *loginLimiter) fail(user, client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.record(l.users, user, l.perUser, now)
	l.record(l.clients, client, l.perClient, now)
}

func (l *loginLimiter) record(m map[string]*failures, key string, limit int, now time.Time) {
	f := m[key]
	if f == nil {
		if len(m) >= maxTracked {
			l.prune(m, now)
		}
		f = &failures{}
		m[key] = f
	}
	kept := f.times[:0]
	for _, t := range f.times {
		if now.Sub(t) < l.window {
			kept = append(kept, t)
		}
	}
	f.times = append(kept, now)
	if len(f.times) >= limit {
		f.lockedUntil = now.Add(l.window)
		f.times = f.times[:0]
	}
}

func (l *loginLimiter) prune(m map[string]*failures, now time.Time) {
	for k, f := range m {
		if now.After(f.lockedUntil) && (len(f.times) == 0 || now.Sub(f.times[len(f.times)-1]) >= l.window) {
			delete(m, k)
		}
	}
}

// succeed clears the failures of user.
func (l *loginLimiter) succeed(user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.users, user)
}
