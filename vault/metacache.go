package vault

import (
	"encoding/json"
	"slices"
	"sync"

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
