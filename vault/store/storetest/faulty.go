package storetest

import (
	"errors"
	"fmt"
	"sync"

	"pvault/vault/store"
)

// ErrInjected is the error of every fault a [Faulty] injects. Its text
// carries a marker ("storetest: injected fault") that tests can look for to
// prove it never reaches a client.
var ErrInjected = errors.New("storetest: injected fault")

// Fault selects where a [Faulty] store fails. Faults combine with |.
type Fault uint32

// The faults a Faulty store can inject.
const (
	// FailBegin makes Update fail before it runs its callback, as when the
	// transaction cannot even start (a dead disk, a store gone read-only).
	// Nothing is written.
	FailBegin Fault = 1 << iota
	// FailCommit makes Update run its callback and then abandon the
	// transaction, as a failed commit or a failed fsync that the store
	// undoes does. Nothing is written.
	FailCommit
	// FailSync makes Update commit its callback's writes and then report
	// failure anyway, as badger does when the fsync of its write-ahead log
	// fails after the writes reached the memtable: the caller is told the
	// commit failed, yet the writes are visible (and may well survive a
	// restart). The store contract promises durability only for an Update
	// that returns nil, so a caller must treat an error as "unknown", not as
	// "nothing happened".
	FailSync
	// FailView makes View fail before it runs its callback.
	FailView
	// FailGet makes Get and Scan fail on the readers that View hands out
	// (reads inside an Update are not affected).
	FailGet
)

// Updates is every fault that makes Update fail; Reads every fault of View.
const (
	Updates = FailBegin | FailCommit | FailSync
	Reads   = FailView | FailGet
)

func (f Fault) String() string {
	if f == 0 {
		return "none"
	}
	names := []string{"begin", "commit", "sync", "view", "get"}
	s := ""
	for i, n := range names {
		if f&(1<<i) != 0 {
			if s != "" {
				s += "|"
			}
			s += n
		}
	}
	if rest := f &^ (1<<len(names) - 1); rest != 0 {
		s += fmt.Sprintf("|%#x", uint32(rest))
	}
	return s
}

// Faulty wraps a [store.Store] and fails its operations on demand, for
// tests of what a program does when its storage fails: commits, fsyncs and
// reads. Faults are switched on and off at run time with [Faulty.Fail],
// [Faulty.FailN] and [Faulty.Clear], from any goroutine. With no fault
// active it behaves exactly as the store it wraps.
//
// When more than one update fault is active, FailBegin wins over FailCommit,
// which wins over FailSync; when both read faults are, FailView wins.
//
// Faulty also implements [store.Backuper] when the wrapped store does (a
// backup is a read: the read faults apply to it).
type Faulty struct {
	store.Store

	mu      sync.Mutex
	active  Fault
	left    int // faults left before active clears; 0 means no limit
	stats   FaultyStats
	onFault func(Fault)
}

// FaultyStats counts what a Faulty store has done.
type FaultyStats struct {
	Updates       int // Update calls that returned nil
	FailedUpdates int // Update calls failed by a fault
	Views         int // View calls
	FailedReads   int // View, Get and Scan calls failed by a fault
}

var (
	_ store.Store    = (*Faulty)(nil)
	_ store.Backuper = (*Faulty)(nil)
)

// NewFaulty returns a Faulty wrapping s, with no fault active.
func NewFaulty(s store.Store) *Faulty { return &Faulty{Store: s} }

// Fail makes the faults in f strike every matching operation from now on,
// until Clear (or another Fail or FailN) changes them. Fail(0) clears.
func (s *Faulty) Fail(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active, s.left = f, 0
}

// FailN makes the faults in f strike the next n matching operations, then
// clears them all. n ≤ 0 is the same as Clear.
func (s *Faulty) FailN(f Fault, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		s.active, s.left = 0, 0
		return
	}
	s.active, s.left = f, n
}

// OnFault sets a function called each time a fault strikes, just before
// the failing operation returns its error (under FailSync: after the writes
// landed). It runs on the failing goroutine; a test can use it to hold the
// failure while other work queues up behind it. nil removes it.
func (s *Faulty) OnFault(fn func(Fault)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onFault = fn
}

// Clear ends every fault.
func (s *Faulty) Clear() { s.Fail(0) }

// Active returns the faults in force.
func (s *Faulty) Active() Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// Stats returns the counts so far.
func (s *Faulty) Stats() FaultyStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// strike reports which of the faults in want strike this operation, and
// counts it down.
func (s *Faulty) strike(want Fault) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	hit := s.active & want
	if hit == 0 {
		return 0
	}
	if s.left > 0 {
		s.left--
		if s.left == 0 {
			s.active = 0
		}
	}
	if want&Updates != 0 {
		s.stats.FailedUpdates++
	} else {
		s.stats.FailedReads++
	}
	return hit
}

func (s *Faulty) count(field *int) {
	s.mu.Lock()
	*field++
	s.mu.Unlock()
}

// injected returns the error of fault f in op, after calling the OnFault
// function.
func (s *Faulty) injected(op string, f Fault) error {
	s.mu.Lock()
	fn := s.onFault
	s.mu.Unlock()
	if fn != nil {
		fn(f)
	}
	return fmt.Errorf("%s (%s): %w", op, f, ErrInjected)
}

// Update implements store.Store. Under FailBegin it returns an error
// wrapping ErrInjected without calling fn; under FailCommit it calls fn and
// discards its writes; under FailSync it commits fn's writes and still
// returns an error wrapping ErrInjected. An error of fn itself is returned
// as the wrapped store returns it.
func (s *Faulty) Update(fn func(store.Tx) error) error {
	hit := s.strike(Updates)
	switch {
	case hit == 0:
		err := s.Store.Update(fn)
		if err == nil {
			s.count(&s.stats.Updates)
		}
		return err
	case hit&FailBegin != 0:
		return s.injected("update", FailBegin)
	case hit&FailCommit != 0:
		abandon := errors.New("storetest: abandon transaction")
		err := s.Store.Update(func(tx store.Tx) error {
			if err := fn(tx); err != nil {
				return err
			}
			return abandon
		})
		if err != nil && !errors.Is(err, abandon) {
			return err
		}
		return s.injected("commit", FailCommit)
	default: // FailSync
		if err := s.Store.Update(fn); err != nil {
			return err
		}
		return s.injected("sync", FailSync)
	}
}

// View implements store.Store. Under FailView it returns an error wrapping
// ErrInjected without calling fn; under FailGet the reader's Get and Scan
// return errors wrapping ErrInjected while the fault lasts.
func (s *Faulty) View(fn func(store.Reader) error) error {
	s.count(&s.stats.Views)
	if s.strike(FailView) != 0 {
		return s.injected("view", FailView)
	}
	return s.Store.View(func(r store.Reader) error { return fn(faultyReader{r: r, s: s}) })
}

// Backup writes a backup of the wrapped store if it is a store.Backuper.
// Read faults fail it.
func (s *Faulty) Backup(w interface{ Write([]byte) (int, error) }) (uint64, error) {
	b, ok := s.Store.(store.Backuper)
	if !ok {
		return 0, fmt.Errorf("storetest: %T cannot back up", s.Store)
	}
	if hit := s.strike(Reads); hit != 0 {
		return 0, s.injected("backup", hit)
	}
	return b.Backup(w)
}

// Unwrap returns the wrapped store.
func (s *Faulty) Unwrap() store.Store { return s.Store }

type faultyReader struct {
	r store.Reader
	s *Faulty
}

func (r faultyReader) Get(key []byte) ([]byte, error) {
	if r.s.strike(FailGet) != 0 {
		return nil, r.s.injected("get", FailGet)
	}
	return r.r.Get(key)
}

func (r faultyReader) Scan(opts store.ScanOptions, fn func(key, value []byte) error) error {
	if r.s.strike(FailGet) != 0 {
		return r.s.injected("scan", FailGet)
	}
	return r.r.Scan(opts, fn)
}
