package vault

import (
	"bytes"
	"encoding/json"
	"slices"
	"sync"
	"sync/atomic"

	"pvault/vault/store"
)

// maxCachedMetas bounds the metadata cache; when full it is emptied.
const maxCachedMetas = 4096

// metaCache keeps decoded petition metadata by its stored bytes: a record
// read again unchanged is copied instead of decoded (the JSON decoding of
// metadata was a third of a list page's CPU). Keyed by the bytes
// themselves, it can never return another version of a record than the one
// read. Metadata holds no petition text and no identity.
type metaCache struct {
	mu sync.RWMutex
	m  map[string]*Meta
}

// decode returns the metadata encoded in b, a copy the caller owns.
func (c *metaCache) decode(b []byte) (*Meta, error) {
	m, err := c.shared(b)
	if err != nil {
		return nil, err
	}
	return m.clone(), nil
}

// shared returns the metadata encoded in b as the cache holds it: the
// caller reads it and must not modify it (nor anything it points to).
func (c *metaCache) shared(b []byte) (*Meta, error) {
	c.mu.RLock()
	hit := c.m[string(b)]
	c.mu.RUnlock()
	if hit != nil {
		return hit, nil
	}
	m := new(Meta)
	if err := json.Unmarshal(b, m); err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedMetas {
		c.m = make(map[string]*Meta)
	}
	c.m[string(b)] = m
	c.mu.Unlock()
	return m, nil
}

// getMeta reads and decodes the metadata of petition id.
func (v *Vault) getMeta(r store.Reader, id string) (*Meta, error) {
	return readMeta(r, id, v.metas.decode)
}

// sharedMeta is getMeta for a caller that only reads the metadata: it may
// be shared with other callers and must not be modified.
func (v *Vault) sharedMeta(r store.Reader, id string) (*Meta, error) {
	return readMeta(r, id, v.metas.shared)
}

func readMeta(r store.Reader, id string, decode func([]byte) (*Meta, error)) (*Meta, error) {
	var m *Meta
	err := getRecord(r, metaKey(id), func(b []byte) (err error) {
		m, err = decode(b)
		return err
	})
	return m, err
}

// clone returns a deep copy of m: no pointer or slice is shared.
func (m *Meta) clone() *Meta {
	c := *m
	c.Subjects = slices.Clone(m.Subjects)
	c.Deadlines = Deadlines{AcceptBy: clonePtr(m.Deadlines.AcceptBy), ResolveBy: clonePtr(m.Deadlines.ResolveBy),
		ReviewRequestBy: clonePtr(m.Deadlines.ReviewRequestBy), ReviewBy: clonePtr(m.Deadlines.ReviewBy),
		ObjectionBy: clonePtr(m.Deadlines.ObjectionBy)}
	c.Category = clonePtr(m.Category)
	if m.Risk != nil {
		r := *m.Risk
		r.Reasons = slices.Clone(m.Risk.Reasons)
		c.Risk = &r
	}
	c.Duplicates = slices.Clone(m.Duplicates)
	c.AcceptedAt = clonePtr(m.AcceptedAt)
	c.FirstReplyAt = clonePtr(m.FirstReplyAt)
	c.InTime = clonePtr(m.InTime)
	c.ClosedAt = clonePtr(m.ClosedAt)
	c.PetitionerKeys = slices.Clone(m.PetitionerKeys)
	return &c
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

// maxRecentMetas bounds recentMetas: the petitions of the first pages of
// lists and of the cases being read, about 1 KB each.
const maxRecentMetas = 16384

// recentMetas caches decoded metadata by petition id, for lists and reads:
// a list page of a large vault otherwise reads each row's metadata through
// every level of the store (a third of a page's CPU at a million
// petitions). Every Update that writes or deletes a petition's metadata
// drops its entry after the commit, before the writer's caller is answered
// (authWatch). A value read from a snapshot taken before such a commit may
// not be stored after it: each of 256 stripes of ids remembers the
// generation of its last drop, and put refuses a value read before it. An
// entry is therefore never older than the last commit of its petition
// acknowledged to anyone. The entries are shared: callers must not change
// them.
type recentMetas struct {
	gen    atomic.Uint64 // moves on at every drop
	mu     sync.RWMutex
	m      map[string]*Meta
	stripe [256]uint64 // gen at the last drop in each stripe
	// writing counts the metadata writes of each stripe between their
	// transaction and their drop: while a commit may be visible but its
	// entry not yet dropped, the stripe is read from the store, so that a
	// list never pairs a new index with old metadata.
	writing [256]atomic.Int32
}

func metaStripe(id string) int {
	h := uint32(2166136261)
	for i := range len(id) {
		h = (h ^ uint32(id[i])) * 16777619
	}
	return int(h & 255)
}

// begin returns the generation to give put for values read from a snapshot
// taken after begin.
func (c *recentMetas) begin() uint64 { return c.gen.Load() }

func (c *recentMetas) get(id string) *Meta {
	if c.writing[metaStripe(id)].Load() > 0 {
		return nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[id]
}

// writes notes a write of petition id's metadata about to be committed;
// drop ends it.
func (c *recentMetas) writes(id string) { c.writing[metaStripe(id)].Add(1) }

// put stores m, read from a snapshot taken after begin returned g.
func (c *recentMetas) put(id string, m *Meta, g uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := metaStripe(id); c.stripe[s] > g || c.writing[s].Load() > 0 {
		return // its petition was written since, or is being: m may be older
	}
	if c.m == nil {
		c.m = make(map[string]*Meta)
	}
	if len(c.m) >= maxRecentMetas {
		dropQuarter(c.m, func(k string) { delete(c.m, k) })
	}
	c.m[id] = m
}

// drop forgets the petitions ids, written by a commit that has landed or
// may have, and ends their writes (one per id noted with writes).
func (c *recentMetas) drop(ids []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		s := metaStripe(id)
		c.stripe[s] = c.gen.Add(1)
		delete(c.m, id)
		c.writing[s].Add(-1)
	}
}

// metaKeyID returns the petition id of a metadata key, or false.
func metaKeyID(k []byte) (string, bool) { return petitionKeyID(k, "/m") }

// petitionKeyID returns the petition id of key p/<id><suffix>, or false.
func petitionKeyID(k []byte, suffix string) (string, bool) {
	if len(k) <= len("p/")+len(suffix) || string(k[:2]) != "p/" || string(k[len(k)-len(suffix):]) != suffix {
		return "", false
	}
	id := k[2 : len(k)-len(suffix)]
	if bytes.IndexByte(id, '/') >= 0 {
		return "", false
	}
	return string(id), true
}

// recentMeta is sharedMeta through v.recent, for a reader whose snapshot
// was taken after v.recent.begin returned g.
func (v *Vault) recentMeta(r store.Reader, id string, g uint64) (*Meta, error) {
	if m := v.recent.get(id); m != nil {
		return m, nil
	}
	m, err := v.sharedMeta(r, id)
	if err == nil {
		v.recent.put(id, m, g)
	}
	return m, err
}
