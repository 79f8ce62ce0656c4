package store

import (
	"reflect"
	"unsafe"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/ristretto/v2/z"
)

// builderPool is badger's pool of the buffers its table builders use, or
// nil if this version of badger has none where it is looked for.
//
// Each table a memtable flush or a compaction writes is built in memory,
// in buffers from one allocator: for a table of 8 MiB, 16 MiB at first,
// doubled each time it runs out, since every block is kept raw, compressed
// and encrypted; blocks that compress well take it further (builders of
// 112 MiB were seen at a million petitions). Once the table is written,
// the allocator goes back to a pool of eight, which lets one go every 2 s
// only if no builder has started since. After a burst of compactions at a
// million petitions the pool held 896 MiB for 10–16 s, most of the
// server's resident memory. badger offers no way to size or empty the
// pool, so the field is read through reflection; it is written once, when
// the store opens, and the pool's own methods are safe for concurrent use.
// TestBuilderPool fails if a new version of badger moves it.
func builderPool(db *badger.DB) *z.AllocatorPool {
	f := reflect.ValueOf(db).Elem().FieldByName("allocPool")
	if !f.IsValid() || f.Type() != reflect.TypeFor[*z.AllocatorPool]() {
		return nil
	}
	return *(**z.AllocatorPool)(unsafe.Pointer(f.UnsafeAddr()))
}

// freshAlloc is the size of the allocator the pool makes when it holds
// none (NewAllocator's least).
const freshAlloc = 512

// drainBuilders lets go of the allocators idle in p and returns the bytes
// they held. A builder started meanwhile makes an allocator of its own. p
// must not have been released (the store is open).
func drainBuilders(p *z.AllocatorPool) int64 {
	if p == nil {
		return 0
	}
	var freed int64
	for range 64 { // the pool holds 8; builders may return more meanwhile
		a := p.Get(freshAlloc, "pvault.drain")
		n := a.Allocated()
		a.Release()
		if n <= freshAlloc {
			break // the pool was empty: this one was made for the call
		}
		freed += int64(n)
	}
	return freed
}
