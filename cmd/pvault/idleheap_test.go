package main

import (
	"runtime"
	"testing"
	"time"
)

// TestIdleHeap: the free heap is handed back once the process has gone
// idleAfter without a collection, once for each quiet stretch; a
// collection starts a new stretch, and the hand-back's own does not.
func TestIdleHeap(t *testing.T) {
	var cycles uint64
	frees := 0
	t0 := time.Unix(1_700_000_000, 0)
	h := &idleHeap{read: func() uint64 { return cycles }, free: func() { frees++; cycles++ }, quietFrom: t0}
	at := func(d time.Duration, want bool) {
		t.Helper()
		if got := h.check(t0.Add(d)); got != want {
			t.Fatalf("check at %v: %v, want %v (frees %d)", d, got, want, frees)
		}
	}
	at(time.Second, false)
	at(idleAfter-time.Second, false)
	at(idleAfter, true)
	at(idleAfter+time.Second, false) // once a stretch, its own collection aside
	at(10*idleAfter, false)
	cycles++ // a collection: activity
	at(10*idleAfter+time.Second, false)
	at(11*idleAfter, false)
	cycles++ // another, within idleAfter of the first
	at(11*idleAfter+2*time.Second, false)
	at(12*idleAfter+time.Second, false)
	at(12*idleAfter+2*time.Second, true)
	if frees != 2 {
		t.Fatalf("%d hand-backs, want 2", frees)
	}
}

func TestGCCycles(t *testing.T) {
	before := gcCycles()
	runtime.GC()
	if after := gcCycles(); after <= before {
		t.Fatalf("collections: %d before runtime.GC, %d after", before, after)
	}
}
