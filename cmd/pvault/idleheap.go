package main

import (
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// idleAfter is how long a server goes without a garbage collection before
// it hands its free heap back to the system: long enough for the last
// compactions to finish (the page release lets go of their builders'
// buffers each second, see store.builderPool) without forcing collections
// between the bursts of a load.
const idleAfter = 20 * time.Second

// idleHeap hands the heap's free memory back to the system once the
// process has gone idleAfter without a garbage collection, once for each
// such stretch. Under load the collector runs every few seconds and the
// heap's headroom is wanted; once the load stops, nothing allocates, no
// collection runs, and the memory that compactions' table builders took
// (over 1 GB under creates at a million petitions) stays resident until
// the runtime's collection every two minutes, and much of it after that.
// One forced collection returns it (it took 139 ms at a million).
type idleHeap struct {
	read      func() uint64 // gcCycles, or a test's
	free      func()        // debug.FreeOSMemory, or a test's
	cycles    uint64        // collections counted at the last check
	quietFrom time.Time     // when cycles last changed
	done      bool          // handed back since cycles last changed
}

func newIdleHeap(now time.Time) *idleHeap {
	h := &idleHeap{read: gcCycles, free: debug.FreeOSMemory}
	h.cycles, h.quietFrom = h.read(), now
	return h
}

// gcCycles is the number of garbage collections the process has finished.
func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// check hands the free heap back if the process has been without a
// collection since idleAfter before now and has not done so since its
// last collection, and reports whether it did.
func (h *idleHeap) check(now time.Time) bool {
	if c := h.read(); c != h.cycles {
		h.cycles, h.quietFrom, h.done = c, now, false
		return false
	}
	if h.done || now.Sub(h.quietFrom) < idleAfter {
		return false
	}
	h.free()
	h.cycles, h.done = h.read(), true // its own collection is not activity
	return true
}
