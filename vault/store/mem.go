package store

import (
	"bytes"
	"fmt"
	"sort"
	"sync"
)

// Mem is an in-memory Store for tests and tools. It keeps the same contract as
// the badger store, except durability.
type Mem struct {
	mu     sync.RWMutex
	keys   []string // sorted
	vals   map[string][]byte
	closed bool
}

var _ Store = (*Mem)(nil)

// NewMem returns an empty in-memory store.
func NewMem() *Mem { return &Mem{vals: make(map[string][]byte)} }

// View implements Store.
func (m *Mem) View(fn func(Reader) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	return fn(memReader{m})
}

// Update implements Store. A failed fn leaves the store unchanged.
func (m *Mem) Update(fn func(Tx) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	tx := &memTx{memReader: memReader{m}}
	if err := fn(tx); err != nil {
		tx.rollback()
		return err
	}
	return nil
}

// Size implements Store.
func (m *Mem) Size() int64 { return 0 }

// Close implements Store.
func (m *Mem) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

type memReader struct{ m *Mem }

func (r memReader) Get(key []byte) ([]byte, error) {
	v, ok := r.m.vals[string(key)]
	if !ok {
		return nil, fmt.Errorf("get %q: %w", key, ErrNotFound)
	}
	return append([]byte(nil), v...), nil
}

func (r memReader) Scan(opts ScanOptions, fn func(key, value []byte) error) error {
	m := r.m
	lo := sort.SearchStrings(m.keys, string(opts.Prefix))
	hi := len(m.keys)
	if end := prefixEnd(opts.Prefix); end != nil {
		hi = sort.SearchStrings(m.keys, string(end))
	}
	// Snapshot the range so a callback may write through a Tx.
	keys := append([]string(nil), m.keys[lo:hi]...)
	visit := func(k string) error {
		var v []byte
		if !opts.KeysOnly {
			v = append([]byte(nil), m.vals[k]...)
		}
		return fn([]byte(k), v)
	}
	if !opts.Reverse {
		i := 0
		if opts.Start != nil {
			i = sort.SearchStrings(keys, string(opts.Start))
		}
		for ; i < len(keys); i++ {
			if _, ok := m.vals[keys[i]]; !ok {
				continue
			}
			if err := visit(keys[i]); err != nil {
				return stopOK(err)
			}
		}
		return nil
	}
	i := len(keys) - 1
	if opts.Start != nil {
		i = sort.Search(len(keys), func(j int) bool { return keys[j] > string(opts.Start) }) - 1
	}
	for ; i >= 0; i-- {
		if _, ok := m.vals[keys[i]]; !ok {
			continue
		}
		if err := visit(keys[i]); err != nil {
			return stopOK(err)
		}
	}
	return nil
}

func stopOK(err error) error {
	if err == ErrStop {
		return nil
	}
	return err
}

type undo struct {
	key    string
	old    []byte
	exists bool
}

type memTx struct {
	memReader
	log []undo
}

func (t *memTx) Set(key, value []byte) error {
	if len(key) == 0 {
		return fmt.Errorf("store: empty key")
	}
	k := string(key)
	old, ok := t.m.vals[k]
	t.log = append(t.log, undo{k, old, ok})
	if !ok {
		t.m.insertKey(k)
	}
	t.m.vals[k] = bytes.Clone(value)
	if t.m.vals[k] == nil {
		t.m.vals[k] = []byte{}
	}
	return nil
}

func (t *memTx) Delete(key []byte) error {
	k := string(key)
	old, ok := t.m.vals[k]
	if !ok {
		return nil
	}
	t.log = append(t.log, undo{k, old, true})
	t.m.removeKey(k)
	delete(t.m.vals, k)
	return nil
}

func (t *memTx) rollback() {
	for i := len(t.log) - 1; i >= 0; i-- {
		u := t.log[i]
		if u.exists {
			if _, ok := t.m.vals[u.key]; !ok {
				t.m.insertKey(u.key)
			}
			t.m.vals[u.key] = u.old
		} else {
			if _, ok := t.m.vals[u.key]; ok {
				t.m.removeKey(u.key)
				delete(t.m.vals, u.key)
			}
		}
	}
}

func (m *Mem) insertKey(k string) {
	i := sort.SearchStrings(m.keys, k)
	m.keys = append(m.keys, "")
	copy(m.keys[i+1:], m.keys[i:])
	m.keys[i] = k
}

func (m *Mem) removeKey(k string) {
	i := sort.SearchStrings(m.keys, k)
	if i < len(m.keys) && m.keys[i] == k {
		m.keys = append(m.keys[:i], m.keys[i+1:]...)
	}
}
