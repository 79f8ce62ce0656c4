package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"sync"
	"sync/atomic"
)

// maxCachedTitles bounds the title cache; when full, a random quarter is
// dropped. A title of 20 Chinese characters takes about 150 bytes with its
// id and the map's share: 5 MB in all; titles of MaxTitle characters, 30 MB.
const maxCachedTitles = 1 << 15

// titleCache keeps the titles of recently listed petitions so
// that a list page does not open each petition's whole content envelope for
// its title (that was two fifths of a page's CPU). Titles are petition text:
// the cache holds them sealed with AES-256-GCM under a key drawn when the
// cache is first used and kept only in this process's memory, bound to
// their petition id. That keeps tens of thousands of titles from lying in
// the heap in the clear for hours, where a heap dump or a page written to
// swap would show them as text; it is no defence against a reader of the
// whole process memory, which holds the key (and the vault's keys). The
// plaintext of the page being served is transient, as every read's is.
//
// Content is never rewritten once created, so an entry never goes stale.
// Entries come only from envelopes a list opened from the store. (An
// envelope damaged after its title was cached is still found by reads,
// which open it, and by the store check; its list row keeps its title.)
// The cache answers only for petitions the caller was already allowed to
// list; it decides nothing.
type titleCache struct {
	once  sync.Once
	aead  cipher.AEAD
	nonce atomic.Uint64 // a counter: unique under one key

	mu sync.RWMutex
	m  map[string][]byte // id → nonce (12 bytes) ‖ sealed title
}

const titleNonceSize = 12

func (c *titleCache) init() {
	c.once.Do(func() {
		var key [32]byte
		if _, err := rand.Read(key[:]); err != nil {
			return // no cache without a key: every title is opened from the store
		}
		block, err := aes.NewCipher(key[:])
		clear(key[:])
		if err != nil {
			return
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return
		}
		c.aead = aead
		c.m = make(map[string][]byte)
	})
}

// get returns the cached title of petition id.
func (c *titleCache) get(id string) (string, bool) {
	c.init()
	if c.aead == nil {
		return "", false
	}
	c.mu.RLock()
	b := c.m[id]
	c.mu.RUnlock()
	if len(b) < titleNonceSize {
		return "", false
	}
	pt, err := c.aead.Open(nil, b[:titleNonceSize], b[titleNonceSize:], []byte(id))
	if err != nil {
		return "", false
	}
	return string(pt), true
}

// put caches the title of petition id.
func (c *titleCache) put(id, title string) {
	c.init()
	if c.aead == nil {
		return
	}
	b := make([]byte, titleNonceSize, titleNonceSize+len(title)+c.aead.Overhead())
	binary.BigEndian.PutUint64(b[titleNonceSize-8:], c.nonce.Add(1))
	b = c.aead.Seal(b, b[:titleNonceSize], []byte(title), []byte(id))
	c.mu.Lock()
	if _, ok := c.m[id]; !ok && len(c.m) >= maxCachedTitles {
		dropQuarter(c.m, func(k string) { delete(c.m, k) })
	}
	c.m[id] = b
	c.mu.Unlock()
}

// reset empties the cache.
func (c *titleCache) reset() {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}

// len returns the number of cached titles.
func (c *titleCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
