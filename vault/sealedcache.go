package vault

import (
	"sync"
	"sync/atomic"
)

// maxSealedBytes bounds the envelopes sealedCache holds (about 4,000
// letters of 2–4 KiB); maxSealedEnvelope bounds one of them.
const (
	maxSealedBytes    = 16 << 20
	maxSealedEnvelope = 64 << 10
)

// sealedCache keeps the sealed content envelopes of recently opened
// petitions by id, so that reading a petition again opens its envelope from
// memory instead of finding it in the store (a lookup through badger's
// memtables and levels and a read of its value log: about 10 µs of a read's
// 140 µs of CPU). It holds ciphertext only, as the store does, and is
// emptied when full.
//
// Content is written once and rewritten only by key rotation, which seals
// the same plaintext anew. Every write of a content key through the vault's
// store drops its entry (authWatch). A read racing a rotation may put back
// the envelope it read before the rewrite: that opens to the same plaintext
// while its key is in the keyset, and once it no longer opens the read drops
// it and reads the store.
type sealedCache struct {
	mu    sync.RWMutex
	m     map[string]*sealedEntry
	bytes int
}

// sealedEntry is a cached envelope. utf8OK is set once its plaintext was
// found to be valid UTF-8: the envelope's AEAD makes every later opening of
// the same bytes give the same plaintext, so a read need not check again.
type sealedEntry struct {
	ct     []byte
	utf8OK atomic.Bool
}

// get returns the cached envelope of petition id. The caller must not
// modify it.
func (c *sealedCache) get(id string) (*sealedEntry, bool) {
	c.mu.RLock()
	e, ok := c.m[id]
	c.mu.RUnlock()
	return e, ok
}

// put caches a copy of ct as the envelope of petition id and returns the
// entry (nil when ct is too large to cache).
func (c *sealedCache) put(id string, ct []byte) *sealedEntry {
	if len(ct) > maxSealedEnvelope {
		return nil
	}
	e := &sealedEntry{ct: append([]byte(nil), ct...)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || c.bytes+len(e.ct) > maxSealedBytes {
		c.m, c.bytes = make(map[string]*sealedEntry), 0
	}
	if old, ok := c.m[id]; ok {
		c.bytes -= len(old.ct)
	}
	c.m[id] = e
	c.bytes += len(e.ct)
	return e
}

// drop forgets the envelope of petition id.
func (c *sealedCache) drop(id string) {
	c.mu.Lock()
	if old, ok := c.m[id]; ok {
		c.bytes -= len(old.ct)
		delete(c.m, id)
	}
	c.mu.Unlock()
}

// contentKeyID returns the petition id of a content key, or false.
func contentKeyID(k []byte) (string, bool) { return petitionKeyID(k, "/c") }
