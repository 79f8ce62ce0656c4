package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"
)

func TestMemBudgetLimit(t *testing.T) {
	const mib = 1 << 20
	m := &memBudget{budget: 340 * mib, grow: 0.25}
	for _, tt := range []struct {
		live, nonHeap uint64
		want          int64
	}{
		{100 * mib, 10 * mib, 340 * mib}, // well under: the budget
		{264 * mib, 10 * mib, 340 * mib}, // 264×1.25+10 = 340
		{300 * mib, 10 * mib, 385 * mib}, // over: the live heap's need
		{800 * mib, 20 * mib, 1020 * mib},
		{0, 0, 340 * mib},
		{math.MaxUint64 / 2, 0, math.MaxInt64},
	} {
		if got := m.limit(heapStats{tt.live, tt.nonHeap}); got != tt.want {
			t.Errorf("live %d MiB, other %d MiB: limit %d MiB, want %d MiB", tt.live/mib, tt.nonHeap/mib, got/mib, tt.want/mib)
		}
	}
}

// fakeRuntime records the limits set and serves heap figures.
type fakeRuntime struct {
	mu    sync.Mutex
	st    heapStats
	limit int64
	sets  []int64
	reads int
	read1 chan struct{} // closed at the first read after armed
	armed bool
}

func (f *fakeRuntime) read() heapStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.armed {
		f.armed = false
		close(f.read1)
	}
	return f.st
}

func (f *fakeRuntime) set(l int64) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	prev := f.limit
	if l >= 0 {
		f.limit = l
		f.sets = append(f.sets, l)
	}
	return prev
}

func (f *fakeRuntime) arm() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.read1, f.armed = make(chan struct{}), true
	return f.read1
}

// TestMemBudgetFollowsHeap: the limit is set at start, set again after a
// collection when the live heap has changed (and only then), and the
// limit there was is put back at stop, after which collections change
// nothing.
func TestMemBudgetFollowsHeap(t *testing.T) {
	const mib = 1 << 20
	f := &fakeRuntime{limit: math.MaxInt64, st: heapStats{live: 100 * mib}}
	m := &memBudget{budget: 200 * mib, grow: 0.25, read: f.read, set: f.set}
	stop := m.start()
	if f.limit != 200*mib {
		t.Fatalf("limit %d MiB at start, want the budget", f.limit/mib)
	}
	afterGC := func() {
		t.Helper()
		done := f.arm()
		deadline := time.Now().Add(10 * time.Second)
		for {
			runtime.GC()
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatal("no update after collections")
			}
		}
	}
	f.mu.Lock()
	f.st.live = 400 * mib // a compaction's builders
	f.mu.Unlock()
	afterGC()
	waitFor(t, func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.limit == 500*mib })
	afterGC() // the same heap: no new limit
	f.mu.Lock()
	f.st.live = 50 * mib
	n := len(f.sets)
	f.mu.Unlock()
	afterGC()
	waitFor(t, func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.limit == 200*mib })
	f.mu.Lock()
	if len(f.sets) != n+1 {
		t.Errorf("limits set %v: an unchanged heap set one again", f.sets)
	}
	f.mu.Unlock()
	stop()
	if f.limit != math.MaxInt64 {
		t.Fatalf("limit %d after stop, want the one before start", f.limit)
	}
	f.mu.Lock()
	f.st.live = 1000 * mib
	f.mu.Unlock()
	for range 3 {
		runtime.GC()
	}
	runtime.Gosched()
	m.update() // as a finalizer that raced stop would
	if f.limit != math.MaxInt64 {
		t.Fatalf("limit %d MiB set after stop", f.limit/mib)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
	}
}

// TestMemBudgetRuntime runs the budget on the runtime itself: the limit
// is the budget while the heap is small, and is put back at stop.
func TestMemBudgetRuntime(t *testing.T) {
	runtime.GC()
	st := readHeapStats()
	if st.live == 0 || st.nonHeap == 0 {
		t.Fatalf("heap figures %+v: the runtime's metrics were not read", st)
	}
	prev := debug.SetMemoryLimit(-1)
	const budget = 1 << 40 // far above this test's heap
	stop := (&memBudget{budget: budget, grow: budgetGrowth}).start()
	if got := debug.SetMemoryLimit(-1); got != budget {
		stop()
		t.Fatalf("limit %d under the budget, want %d", got, int64(budget))
	}
	runtime.GC()
	stop()
	if got := debug.SetMemoryLimit(-1); got != prev {
		t.Fatalf("limit %d after stop, want %d", got, prev)
	}
}
