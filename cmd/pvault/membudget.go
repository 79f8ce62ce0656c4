package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// budgetGrowth is the least the heap may grow by over its live bytes
// between collections under a memory budget: GOGC 50 at the most, against
// DefaultGCPercent's 75 below the budget. At a million petitions 25 % held
// a little less memory but cost 7 % of the list pages and 20 % of the
// creates; 50 % cost no list pages, 4 % of reads and 8 % of creates.
const budgetGrowth = 0.5

// memBudget keeps the Go runtime's soft memory limit at the larger of a
// budget and what the live heap needs to grow by budgetGrowth between
// collections, resetting it after each collection.
//
// While the live heap is small, the collector paces itself by GOGC, as
// without a budget, until the heap reaches the budget. Once the live heap
// is large, the limit holds the heap to 1.5 times it: at a million
// petitions the live heap is 230–350 MB (table indexes, cached blocks, the
// analysis models), and GOGC's 75 % took the process to about 500 MB under
// list pages and 650–1,350 MB under reads and creates. When a burst of
// compactions takes the live heap up (its table builders, up to 1 GB at a
// million petitions), the limit rises with it, so the collector never runs
// back to back, as it did under a fixed soft limit below the live heap
// (creates fell to 11/s). See "The twentieth session" in
// docs/PERFORMANCE.md.
type memBudget struct {
	budget uint64  // bytes
	grow   float64 // least growth over the live heap between collections

	read func() heapStats  // readHeapStats, or a test's
	set  func(int64) int64 // debug.SetMemoryLimit, or a test's

	mu      sync.Mutex
	last    int64 // the limit last set
	stopped bool
}

// heapStats are the figures memBudget reads after each collection.
type heapStats struct {
	live    uint64 // the heap's live bytes at the last collection
	nonHeap uint64 // memory the soft limit counts that is not the heap's
}

var heapMetrics = []string{
	"/gc/heap/live:bytes",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
}

func readHeapStats() heapStats {
	s := make([]metrics.Sample, len(heapMetrics))
	for i, n := range heapMetrics {
		s[i].Name = n
	}
	metrics.Read(s)
	v := make([]uint64, len(s))
	for i := range s {
		if s[i].Value.Kind() == metrics.KindUint64 {
			v[i] = s[i].Value.Uint64()
		}
	}
	heap := v[2] + v[3] + v[4] + v[5]
	st := heapStats{live: v[0]}
	if v[1] > heap {
		st.nonHeap = v[1] - heap // stacks, the runtime's own structures
	}
	return st
}

// limit is the soft limit for st: the budget, or more if the live heap
// needs it.
func (m *memBudget) limit(st heapStats) int64 {
	need := float64(st.live)*(1+m.grow) + float64(st.nonHeap)
	if need >= math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(max(m.budget, uint64(need)))
}

// update sets the limit for the heap as it is now, unless stopped.
func (m *memBudget) update() {
	l := m.limit(m.read())
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.stopped && l != m.last {
		m.set(l)
		m.last = l
	}
}

// start sets the limit now and after every collection until stop is
// called; stop puts back the limit there was before.
func (m *memBudget) start() (stop func()) {
	if m.read == nil {
		m.read = readHeapStats
	}
	if m.set == nil {
		m.set = debug.SetMemoryLimit
	}
	prev := m.set(-1) // -1 reads the limit without changing it
	m.update()
	m.armAfterGC()
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.stopped = true
		m.set(prev)
	}
}

// armAfterGC has update run after the next collection, and so on after
// each one until stopped: a new object's finalizer runs once a collection
// finds it unreachable, which is the first collection after this call.
func (m *memBudget) armAfterGC() {
	sentinel := new([16]byte) // not tiny-allocated: has a finalizer of its own
	runtime.SetFinalizer(sentinel, func(*[16]byte) {
		m.mu.Lock()
		stopped := m.stopped
		m.mu.Unlock()
		if stopped {
			return
		}
		m.update()
		m.armAfterGC()
	})
}
