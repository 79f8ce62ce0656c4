package audit

import (
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// Entry values in the store.
//
// An entry is stored under entryKey(seq). Its value is either
//
//   - its canonical line alone (the first format: the line starts with '{'),
//     with every tree hash the entry completes, its leaf hash included,
//     stored under hashKey; or
//   - embeddedHashes, a count byte k, the k interior tree hashes the entry
//     completes (levels 1 to k, 32 bytes each, as tlog.StoredHashes gives
//     them after the leaf hash), then the canonical line. The leaf hash is
//     not stored: it is the hash of the line.
//
// Logs written since the second format store no hash keys, which saves the
// store two keys per entry on average; a log written with the first format
// keeps its hash keys, and its newer entries use the second.
const embeddedHashes = 0x01

// errEntryValue is returned for a stored entry value in neither format.
var errEntryValue = errors.New("audit: stored entry malformed")

// encodeEntryValue is the value stored for an entry with line and interior,
// the hashes tlog.StoredHashes gives for it after its leaf hash.
func encodeEntryValue(line []byte, interior []tlog.Hash) []byte {
	v := make([]byte, 0, 2+len(interior)*tlog.HashSize+len(line))
	v = append(v, embeddedHashes, byte(len(interior)))
	for _, h := range interior {
		v = append(v, h[:]...)
	}
	return append(v, line...)
}

// decodeEntryValue splits a stored entry value into its line and the
// interior hashes it holds. embedded is false for a value of the first
// format (a line alone, its hashes under hashKey).
func decodeEntryValue(v []byte) (line []byte, interior []byte, embedded bool, err error) {
	if len(v) == 0 {
		return nil, nil, false, errEntryValue
	}
	if v[0] != embeddedHashes {
		return v, nil, false, nil
	}
	if len(v) < 2 {
		return nil, nil, true, errEntryValue
	}
	n := int(v[1]) * tlog.HashSize
	if len(v) < 2+n {
		return nil, nil, true, errEntryValue
	}
	return v[2+n:], v[2 : 2+n], true, nil
}

// entryLine is the canonical line of a stored entry value.
func entryLine(v []byte) ([]byte, error) {
	line, _, _, err := decodeEntryValue(v)
	return line, err
}

// interiorCount is the number of interior hashes entry seq completes.
func interiorCount(seq int64) int {
	return int(tlog.StoredHashCount(seq+1)-tlog.StoredHashCount(seq)) - 1
}

// getter reads a key (store.Reader and store.Tx both are).
type getter interface {
	Get(key []byte) ([]byte, error)
}

// readStoredHash returns stored tree hash x: from the entry that completed
// it (the leaf hash is the hash of the entry's line), or from its hash key
// for an entry of the first format.
func readStoredHash(r getter, x int64) (tlog.Hash, error) {
	var h tlog.Hash
	level, n := tlog.SplitStoredHashIndex(x)
	seq := (n+1)<<level - 1
	v, err := r.Get(entryKey(seq))
	if err == nil {
		line, interior, embedded, derr := decodeEntryValue(v)
		switch {
		case derr != nil:
			return h, fmt.Errorf("audit: read stored hash %d: %w", x, derr)
		case !embedded:
			// The first format: the hash has its own key.
		case level == 0:
			return LeafHash(line), nil
		case level > len(interior)/tlog.HashSize:
			return h, fmt.Errorf("audit: read stored hash %d: %w", x, errEntryValue)
		default:
			copy(h[:], interior[(level-1)*tlog.HashSize:])
			return h, nil
		}
	}
	// The first format, or the entry is gone: its hash key may still hold
	// the hash.
	b, err := r.Get(hashKey(x))
	if err != nil {
		return h, fmt.Errorf("audit: read stored hash %d: %w", x, err)
	}
	if len(b) != tlog.HashSize {
		return h, fmt.Errorf("audit: stored hash %d malformed", x)
	}
	copy(h[:], b)
	return h, nil
}

// storedHashReader reads the stored tree hashes of the log in r.
func storedHashReader(r getter) tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			h, err := readStoredHash(r, x)
			if err != nil {
				return nil, err
			}
			out[i] = h
		}
		return out, nil
	})
}
