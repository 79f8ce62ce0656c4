package vault

import (
	"slices"
	"sync"
	"sync/atomic"

	"pvault/analysis"
)

// bucketCache keeps the newest ids of the duplicate index's busiest buckets
// in memory. Petitions on a common theme (wage arrears on one site, a noisy
// plant) share LSH buckets with thousands of others, and every intake of
// such a petition would otherwise open a store cursor on each of them; rare
// buckets, the many that hold one or two petitions, are still read from the
// store, where a missing bucket costs only a bloom filter probe.
//
// The cache never misses a committed petition: a create adds its id to the
// buckets it is in after its commit returns (whether or not the commit
// reported success: an id that did not land is harmless, its signature is
// missing and it is never reported), and a bucket is loaded by first
// registering it, so that adds arriving while the store is read are kept,
// and then reading a snapshot taken after the registration.
type bucketCache struct {
	mu sync.Mutex
	m  map[bucketID]*cachedBucket
	n  int // ids held, over all buckets
}

type bucketID struct {
	band int
	key  uint64
}

type cachedBucket struct {
	ready bool
	ids   []pid // oldest first; at most maxPerBand once ready
}

// maxCachedBuckets bounds the cache (each bucket holds at most maxPerBand
// ids, shared with the other buckets of the same petitions, and most hold
// one or two); when full, a quarter of it, chosen at random, is dropped.
// Every create visits 32 buckets, and a bucket is worth keeping until the
// next petition on its matter arrives: with the load tool's letters, 8,192
// buckets were emptied every 580 creates and 21 of a create's 32 buckets
// were read from the store; 65,536 read 5 to 6.
const maxCachedBuckets = 1 << 16

// maxCachedIDs bounds the ids held over all buckets (16 bytes each), for
// vaults whose busy buckets are full.
const maxCachedIDs = 1 << 20

// setIDs replaces a bucket's ids, keeping the count.
func (c *bucketCache) setIDs(b *cachedBucket, ids []pid) {
	c.n += len(ids) - len(b.ids)
	b.ids = ids
}

// drop forgets a bucket.
func (c *bucketCache) drop(id bucketID) {
	if b := c.m[id]; b != nil {
		c.n -= len(b.ids)
		delete(c.m, id)
	}
}

// lookup returns the newest ids of a cached bucket, newest first, or false.
func (c *bucketCache) lookup(band int, key uint64, fn func(id pid)) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.m[bucketID{band, key}]
	if b == nil || !b.ready {
		return false
	}
	for i := len(b.ids) - 1; i >= 0; i-- {
		fn(b.ids[i])
	}
	return true
}

// begin registers a bucket about to be loaded from the store and returns
// the registration, or nil when the bucket is cached or being loaded
// already.
func (c *bucketCache) begin(band int, key uint64) *cachedBucket {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[bucketID]*cachedBucket)
	}
	if len(c.m) >= maxCachedBuckets || c.n >= maxCachedIDs {
		dropQuarter(c.m, c.drop)
	}
	id := bucketID{band, key}
	if c.m[id] != nil {
		return nil
	}
	b := &cachedBucket{}
	c.m[id] = b
	return b
}

// finish completes the load registered as reg: stored are the bucket's
// ids read from the store, newest first. Ids added meanwhile are kept. A
// registration dropped meanwhile is not completed: adds may have gone to
// it after it was dropped, or to a newer registration.
func (c *bucketCache) finish(band int, key uint64, reg *cachedBucket, stored []pid) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.m[bucketID{band, key}]
	if b != reg || b.ready {
		return // dropped meanwhile
	}
	ids := make([]pid, 0, len(stored)+len(b.ids))
	for i := len(stored) - 1; i >= 0; i-- {
		ids = append(ids, stored[i])
	}
	for _, id := range b.ids {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	c.setIDs(b, trimOldest(ids))
	b.ready = true
}

// abandon forgets a load that failed.
func (c *bucketCache) abandon(band int, key uint64, reg *cachedBucket) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b := c.m[bucketID{band, key}]; b == reg && !b.ready {
		c.drop(bucketID{band, key})
	}
}

// add records a created petition in the cached buckets among bands. A
// bucket loaded from a snapshot taken after the petition's commit, before
// this add, holds it already and is left as it is.
func (c *bucketCache) add(bands *[analysis.Bands]uint64, id pid) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for band, key := range bands {
		if b := c.m[bucketID{band, key}]; b != nil {
			if b.ready && slices.Contains(b.ids, id) {
				continue
			}
			ids := append(b.ids, id)
			if b.ready {
				ids = trimOldest(ids)
			}
			c.setIDs(b, ids)
		}
	}
}

func trimOldest(ids []pid) []pid {
	if len(ids) > maxPerBand {
		ids = ids[:copy(ids, ids[len(ids)-maxPerBand:])]
	}
	return ids
}

// presence is how often the uncached buckets a lookup visits turn out to
// exist, over about the last presenceWindow of them. A vault's first
// petitions mostly land in new buckets; in a large vault, or one whose
// petitions share their themes, most buckets exist.
type presence struct{ seen, present atomic.Int64 }

const presenceWindow = 4096

// note records whether a bucket existed.
func (p *presence) note(present bool) {
	if present {
		p.present.Add(1)
	}
	if p.seen.Add(1) >= presenceWindow {
		// Decay: both counts halved (approximately, under concurrent
		// notes; the rate stays a fair estimate).
		p.seen.Store(presenceWindow / 2)
		p.present.Store(p.present.Load() / 2)
	}
}

// mostlyPresent reports whether most recent buckets existed.
func (p *presence) mostlyPresent() bool { return 2*p.present.Load() > p.seen.Load() }

// sigCache keeps the signatures of petitions recently compared or created.
// A create compares its signature with those of the newest petitions of
// its busiest buckets, which are mostly the same few hundred petitions
// from one create to the next; each was a store read. A petition's
// signature never changes once committed, so the cache never needs
// invalidating: it takes only signatures read from the store or of
// petitions whose create has committed. A petition committed after a
// create's snapshot but already in the caches may therefore be compared,
// and reported, where the snapshot alone would not have found it: it is a
// committed petition all the same.
type sigCache struct {
	mu sync.Mutex
	m  map[string]*analysis.Signature
}

// maxCachedSigs bounds the cache at about 5 MB (256 bytes a signature and
// the id); when full a quarter, chosen at random, is dropped.
const maxCachedSigs = 16384

func (c *sigCache) get(id string) (*analysis.Signature, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[id]
	return s, ok
}

func (c *sigCache) put(id string, s *analysis.Signature) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]*analysis.Signature)
	}
	if len(c.m) >= maxCachedSigs {
		dropQuarter(c.m, func(id string) { delete(c.m, id) })
	}
	c.m[id] = s
}

// dropQuarter removes a quarter of m's entries through del, chosen at
// random: a map is ranged over from a random place.
func dropQuarter[K comparable, V any](m map[K]V, del func(K)) {
	n := len(m) / 4
	for k := range m {
		if n--; n < 0 {
			break
		}
		del(k)
	}
}
