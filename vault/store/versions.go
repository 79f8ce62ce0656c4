package store

import "sync"

// versions hands out the commit versions of a badger opened in managed
// mode and keeps the two marks that make its reads safe without waiting:
//
//   - done: every commit at or below it has finished (written, and synced
//     when writes are synced). A read reads at done, so it sees every
//     commit that has been acknowledged (Update returns only once done has
//     reached its version) and never a commit half applied.
//   - the oldest version still being read, below which badger may drop the
//     versions a newer one has replaced (its discard mark).
//
// Stock badger reads at the newest version handed out and waits until the
// commits in flight below it have finished: under a stream of synced
// commits (the audit log's), every read transaction waited for a sync.
type versions struct {
	mu       sync.Mutex
	cond     sync.Cond
	next     uint64              // the next commit version
	done     uint64              // every version ≤ done has finished
	finished map[uint64]struct{} // finished versions above done
	readers  map[uint64]int      // versions being read → how many readers
	discard  uint64              // the discard mark last given to badger
}

func newVersions(max uint64) *versions {
	v := &versions{
		next:     max + 1,
		done:     max,
		finished: make(map[uint64]struct{}),
		readers:  make(map[uint64]int),
	}
	v.cond.L = &v.mu
	return v
}

// read registers a reader at the newest finished version and returns it.
func (v *versions) read() uint64 {
	v.mu.Lock()
	ts := v.done
	v.readers[ts]++
	v.mu.Unlock()
	return ts
}

// write registers a writer's reads, which like stock badger's see every
// commit handed out a version before it: it waits until they have finished.
func (v *versions) write() uint64 {
	v.mu.Lock()
	ts := v.next - 1
	for v.done < ts {
		v.cond.Wait()
	}
	v.readers[ts]++
	v.mu.Unlock()
	return ts
}

// release ends a read at ts.
func (v *versions) release(ts uint64) {
	v.mu.Lock()
	if v.readers[ts]--; v.readers[ts] == 0 {
		delete(v.readers, ts)
	}
	v.mu.Unlock()
}

// oldest is the version at or below which nothing is read any more: the
// oldest version being read, or done when none is.
func (v *versions) oldest() uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.oldestLocked()
}

func (v *versions) oldestLocked() uint64 {
	min := v.done
	for ts := range v.readers {
		if ts < min {
			min = ts
		}
	}
	return min
}

// raiseDiscard gives set (badger's SetDiscardTs) the oldest version read
// when it is above the last one given: the mark only moves up, as badger
// expects, even when concurrent commits compute it in another order.
func (v *versions) raiseDiscard(set func(uint64)) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if d := v.oldestLocked(); d > v.discard {
		v.discard = d
		set(d)
	}
}

// take hands out the next version. Badger must receive commits in the order
// of their versions: the caller hands ts to badger before the next take
// (Badger.update holds its commitMu across both).
func (v *versions) take() uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	ts := v.next
	v.next++
	return ts
}

// finish marks ts finished (whether it succeeded or not), moves done over
// every finished version, and waits until done has reached ts.
func (v *versions) finish(ts uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.finished[ts] = struct{}{}
	moved := false
	for {
		if _, ok := v.finished[v.done+1]; !ok {
			break
		}
		delete(v.finished, v.done+1)
		v.done++
		moved = true
	}
	if moved {
		v.cond.Broadcast()
	}
	for v.done < ts {
		v.cond.Wait()
	}
}
