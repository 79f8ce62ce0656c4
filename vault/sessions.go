package vault

import (
	"bytes"
	"slices"
	"sync"
	"sync/atomic"

	"pvault/policy"
	"pvault/vault/store"
)

// Every authenticated request needs its session, its user and the user's
// policy subject (two store reads, two JSON decodes and two keyed hashes).
// sessionCache keeps them for recently used tokens. It cannot serve a
// revoked token: every commit that writes a user or session record — logout,
// disabling, roles, password, second factor — moves the store's generation
// on (authWatch) and a cached session is used only in the generation it was
// read in. Expiry, epoch and disabled are checked on every use as on a read.

// maxCachedSessions bounds the cache; when full it is emptied.
const maxCachedSessions = 4096

type cachedSession struct {
	user User
	sess Session
	sub  *policy.Subject
}

type sessionCache struct {
	gen atomic.Uint64 // moved on by authWatch after each commit writing u/ or s/

	mu     sync.RWMutex
	filled uint64 // the generation the entries were read in
	m      map[string]*cachedSession
}

func (c *sessionCache) get(key string, gen uint64) *cachedSession {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.filled != gen {
		return nil
	}
	return c.m[key]
}

func (c *sessionCache) put(key string, gen uint64, e *cachedSession) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case gen < c.filled:
		return // read before a later commit: stale
	case gen > c.filled || c.m == nil || len(c.m) >= maxCachedSessions:
		c.m, c.filled = make(map[string]*cachedSession), gen
	}
	c.m[key] = e
}

// authWatch is the vault's store: it moves the session cache's generation
// on after every Update that writes a user or session record, and drops
// from the metadata cache the petitions whose metadata an Update writes,
// committed or not (a failed commit may still have applied).
type authWatch struct {
	store.Store
	gen    *atomic.Uint64
	metas  *recentMetas
	sealed *sealedCache // content envelopes, dropped when written
}

func isAuthKey(k []byte) bool {
	return bytes.HasPrefix(k, []byte(userPrefix)) || bytes.HasPrefix(k, []byte(sessionPrefix))
}

func (w authWatch) Update(fn func(store.Tx) error) error {
	wt := &watchTx{cache: w.metas, sealed: w.sealed}
	defer func() {
		// After the commit, failed or not, and before the caller is
		// answered (or after a panic: the writes noted must end).
		if len(wt.metas) > 0 {
			w.metas.drop(wt.metas)
		}
	}()
	err := w.Store.Update(func(tx store.Tx) error {
		wt.Tx = tx // a retried fn adds its writes to the last run's: dropping more is safe
		return fn(wt)
	})
	if wt.touched {
		w.gen.Add(1)
	}
	return err
}

type watchTx struct {
	store.Tx
	touched bool
	cache   *recentMetas
	metas   []string // petitions whose metadata is written
	sealed  *sealedCache
}

func (t *watchTx) note(k []byte) {
	if isAuthKey(k) {
		t.touched = true
	}
	if t.sealed != nil {
		if id, ok := contentKeyID(k); ok {
			t.sealed.drop(id)
		}
	}
	if t.cache == nil {
		return
	}
	if id, ok := metaKeyID(k); ok {
		t.cache.writes(id) // before the commit: see recentMetas.writing
		t.metas = append(t.metas, id)
	}
}

func (t *watchTx) Set(k, v []byte) error {
	t.note(k)
	return t.Tx.Set(k, v)
}

func (t *watchTx) Delete(k []byte) error {
	t.note(k)
	return t.Tx.Delete(k)
}

// copies returns copies of the cached records that a caller may change.
func (e *cachedSession) copies() (*User, *Session, *policy.Subject) {
	u, s, sub := e.user, e.sess, *e.sub
	u.Roles = slices.Clone(u.Roles)
	sub.Roles, sub.Names = slices.Clone(sub.Roles), slices.Clone(sub.Names)
	return &u, &s, &sub
}
