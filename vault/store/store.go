// Package store is pvault's ordered key-value storage: the only package that
// imports badger.
//
// Guarantees: an Update either applies all of its writes or none of them, and
// when Update returns nil on a store opened with synced writes, the writes are
// on stable storage. Readers never see a partly applied Update. Keys and values
// handed to callbacks are valid only during the callback; callers copy what they
// keep. The store does not interpret keys or values.
package store

import (
	"errors"
)

// Errors returned by stores.
var (
	// ErrNotFound is returned by Get when the key does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrStop ends a Scan early without an error when returned by its callback.
	ErrStop = errors.New("store: stop scan")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("store: closed")
)

// Reader reads a consistent snapshot.
type Reader interface {
	// Get returns a copy of the value of key, or an error wrapping ErrNotFound.
	Get(key []byte) ([]byte, error)
	// Scan calls fn for each key with the given prefix in key order (or reverse
	// order), starting at opts.Start when set (inclusive). A callback returning
	// ErrStop ends the scan and Scan returns nil; any other error is returned.
	Scan(opts ScanOptions, fn func(key, value []byte) error) error
}

// GetView calls fn with the value of key, or returns an error wrapping
// ErrNotFound. fn must not keep the value: a reader that can (badger)
// lends its own buffer for the call instead of a copy; others copy.
func GetView(r Reader, key []byte, fn func(value []byte) error) error {
	if vr, ok := r.(interface {
		GetView(key []byte, fn func(value []byte) error) error
	}); ok {
		return vr.GetView(key, fn)
	}
	v, err := r.Get(key)
	if err != nil {
		return err
	}
	return fn(v)
}

// ScanOptions select the keys a Scan visits.
type ScanOptions struct {
	Prefix []byte
	// Start, when set, is where the scan begins (inclusive). It must have
	// Prefix as its prefix.
	Start []byte
	// Reverse visits keys from the greatest to the least.
	Reverse bool
	// KeysOnly leaves value nil in the callback.
	KeysOnly bool
}

// Tx is a read-write transaction.
type Tx interface {
	Reader
	Set(key, value []byte) error
	Delete(key []byte) error
}

// Store is an ordered key-value store with atomic transactions.
type Store interface {
	// View runs fn on a read-only snapshot.
	View(fn func(Reader) error) error
	// Update runs fn in a read-write transaction and commits it when fn
	// returns nil. The commit is durable when Update returns nil.
	Update(fn func(Tx) error) error
	// Size reports the bytes the store occupies on disk (0 when in memory).
	Size() int64
	// Close releases the store.
	Close() error
}

// Op is one write, applied with Apply.
type Op struct {
	Key    []byte
	Value  []byte
	Delete bool
}

// Put returns an Op that sets key to value.
func Put(key, value []byte) Op { return Op{Key: key, Value: value} }

// Del returns an Op that deletes key.
func Del(key []byte) Op { return Op{Key: key, Delete: true} }

// Apply performs ops in tx, in order.
func Apply(tx Tx, ops []Op) error {
	for _, op := range ops {
		var err error
		switch {
		case op.Delete:
			err = tx.Delete(op.Key)
		default:
			err = tx.Set(op.Key, op.Value)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// OpsSize is the number of key and value bytes in ops.
func OpsSize(ops []Op) int {
	n := 0
	for _, op := range ops {
		n += len(op.Key) + len(op.Value)
	}
	return n
}

// prefixEnd returns the least key greater than every key with prefix p, or nil
// when there is none.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
