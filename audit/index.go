package audit

import (
	"encoding/binary"
	"errors"
	"fmt"

	"pvault/vault/store"
)

// The log's secondary indexes find entries by actor, action and object:
// keys a/x/<field>/<value>\x00<seq>, scanned in order. A commit writes one
// key for each field and value its batch carries, not one per entry: the
// key's seq is the last entry's with that value, and its value (a
// posting) lists the others. A batch of 28 reads by one officer then costs
// two index keys for actor and action instead of 56, and each key is a
// write to badger's memtable and log on the appender's path (a build
// without the actor and action keys served 6 % more reads). A key of one
// entry has no value, as every key had before postings, so older logs
// read the same.
//
// An index only proposes entries: readers load each one and check that it
// matches, so a damaged index can hide entries but never show wrong ones.

// ErrIndex reports an index posting that cannot be decoded.
var ErrIndex = errors.New("audit: damaged index posting")

// indexPrefix is the part of an index key before the seq.
func indexPrefix(field, value string) []byte {
	k := append(append([]byte(nil), prefixIndex...), field...)
	return append(append(append(k, '/'), value...), 0)
}

// indexKey is a secondary index key: a/x/<field>/<value>\x00<seq>.
func indexKey(field, value string, seq int64) []byte {
	return binary.BigEndian.AppendUint64(indexPrefix(field, value), uint64(seq))
}

// indexed is a field and value an entry is found under.
type indexed struct{ field, value string }

// entryIndexes calls fn with each field and value e is found under.
func entryIndexes(e *Entry, fn func(indexed)) {
	if e.Actor != nil && e.Actor.Username != "" {
		fn(indexed{"actor", e.Actor.Username})
	}
	fn(indexed{"action", e.Action})
	if e.Object != nil && e.Object.ID != "" {
		fn(indexed{"object", e.Object.ID})
	}
}

// postings gathers a batch's index entries: for each field and value, in
// the order first seen, the seqs under it (ascending, as the batch assigns
// them).
type postings struct {
	order []indexed
	seqs  map[indexed][]int64
}

func (p *postings) add(ix indexed, seq int64) {
	if p.seqs == nil {
		p.seqs = make(map[indexed][]int64)
	}
	s, ok := p.seqs[ix]
	if !ok {
		p.order = append(p.order, ix)
	}
	p.seqs[ix] = append(s, seq)
}

// write sets one key for each field and value.
func (p *postings) write(tx store.Tx) error {
	for _, ix := range p.order {
		s := p.seqs[ix]
		last := s[len(s)-1]
		var v []byte
		if len(s) > 1 {
			v = appendPosting(nil, last, s[:len(s)-1])
		}
		if err := tx.Set(indexKey(ix.field, ix.value, last), v); err != nil {
			return err
		}
	}
	return nil
}

// appendPosting encodes seqs (ascending, each below last) as uvarints: last
// minus the first, then the gaps between consecutive seqs.
func appendPosting(dst []byte, last int64, seqs []int64) []byte {
	prev := last
	for i, s := range seqs {
		d := s - prev
		if i == 0 {
			d = last - s
		}
		dst = binary.AppendUvarint(dst, uint64(d))
		prev = s
	}
	return dst
}

// eachPosted calls fn with the seqs of the index key k (value v) in
// ascending order: those of its posting, then its own. It stops at fn's
// first error and returns it.
func eachPosted(k, v []byte, fn func(seq int64) error) error {
	if len(k) < 8 {
		return ErrIndex
	}
	last := int64(binary.BigEndian.Uint64(k[len(k)-8:]))
	if last < 0 {
		return ErrIndex
	}
	var prev int64
	for i := 0; len(v) > 0; i++ {
		d, n := binary.Uvarint(v)
		if n <= 0 || d == 0 || d > uint64(last) {
			return fmt.Errorf("%w (the key of entry %d)", ErrIndex, last)
		}
		v = v[n:]
		seq := last - int64(d)
		if i > 0 {
			seq = prev + int64(d)
			if seq >= last || seq <= prev {
				return fmt.Errorf("%w (the key of entry %d)", ErrIndex, last)
			}
		}
		if err := fn(seq); err != nil {
			return err
		}
		prev = seq
	}
	return fn(last)
}
