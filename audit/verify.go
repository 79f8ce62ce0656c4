package audit

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"pvault/vault/store"
)

// ChainError reports the first entry at which verification failed.
type ChainError struct {
	Seq    int64  // sequence number (line index from 0) of the first bad entry
	Reason string // what is wrong, without echoing the entry
	Err    error  // a sentinel, when one applies
}

func (e *ChainError) Error() string { return fmt.Sprintf("audit: entry %d: %s", e.Seq, e.Reason) }

// Unwrap returns the underlying sentinel.
func (e *ChainError) Unwrap() error { return e.Err }

const reasonChainLink = "chain link does not match the previous entry"

// blamePrevious names the entry before seq when it, not seq, is what changed.
// The second format stores no leaf hashes, so an edited entry that completes
// no interior node is first seen at the next entry, whose chain link no
// longer matches. That entry (odd) also records the leaf hash of the one
// before in its level-1 hash: when the level-1 hash agrees with its chain
// link, the entry itself is as written and the one before was changed.
func blamePrevious(err error, seq int64, line, interior []byte) error {
	var ce *ChainError
	if !errors.As(err, &ce) || ce.Seq != seq || ce.Reason != reasonChainLink || seq%2 == 0 || len(interior) < tlog.HashSize {
		return err
	}
	e, perr := ParseEntry(line)
	if perr != nil {
		return err
	}
	prev, derr := DecodeHash(e.Prev)
	if derr != nil {
		return err
	}
	if h := tlog.NodeHash(prev, LeafHash(line)); !bytes.Equal(h[:], interior[:tlog.HashSize]) {
		return err
	}
	// The entry before, or this entry's link and level-1 hash together,
	// were changed: either way the entry before does not match them.
	return &ChainError{Seq: seq - 1, Reason: "entry does not match the chain link and tree hash the next entry records"}
}

// Checker verifies a sequence of canonical entry lines, one Add per entry from
// sequence number 0 (or from the state given to Resume): canonical encoding,
// consecutive sequence numbers, chain links, timestamps that never go
// backwards and unique request ids. It also computes the tree root.
type Checker struct {
	next     int64
	prev     tlog.Hash
	lastTime time.Time
	rids     map[string]struct{}
	tree     Tree
	leaves   []tlog.Hash // kept only when KeepLeaves is set
	// KeepLeaves makes the checker keep every leaf hash (for proofs).
	KeepLeaves bool
}

// NewChecker returns a checker for a log starting at sequence 0.
func NewChecker() *Checker { return &Checker{rids: make(map[string]struct{})} }

// Add checks the next line. It returns a *ChainError naming the entry.
func (c *Checker) Add(line []byte) error {
	seq := c.next
	e, err := ParseEntry(line)
	if err != nil {
		return &ChainError{Seq: seq, Reason: "not a canonical entry", Err: ErrMalformed}
	}
	if e.Seq != seq {
		return &ChainError{Seq: seq, Reason: fmt.Sprintf("sequence number %d where %d was expected", e.Seq, seq)}
	}
	want := ZeroPrev
	if seq > 0 {
		want = EncodeHash(c.prev)
	}
	if e.Prev != want {
		return &ChainError{Seq: seq, Reason: reasonChainLink}
	}
	if e.Time.Before(c.lastTime) {
		return &ChainError{Seq: seq, Reason: "time goes backwards"}
	}
	if _, dup := c.rids[e.RequestID]; dup || e.RequestID == "" {
		return &ChainError{Seq: seq, Reason: "request id repeated or empty"}
	}
	c.rids[e.RequestID] = struct{}{}
	c.lastTime = e.Time
	h := LeafHash(line)
	c.prev = h
	c.tree.Add(h)
	if c.KeepLeaves {
		c.leaves = append(c.leaves, h)
	}
	c.next++
	return nil
}

// Size is the number of entries checked.
func (c *Checker) Size() int64 { return c.next }

// Root is the tree root of the entries checked.
func (c *Checker) Root() tlog.Hash { return c.tree.Root() }

// Last is the leaf hash of the last entry checked.
func (c *Checker) Last() tlog.Hash { return c.prev }

// Leaves returns the leaf hashes when KeepLeaves was set.
func (c *Checker) Leaves() []tlog.Hash { return c.leaves }

// Result is the outcome of verifying a log.
type Result struct {
	OK          bool   `json:"ok"`
	Size        int64  `json:"size"`
	Root        string `json:"root"`
	FirstBadSeq *int64 `json:"first_bad_seq"`
	Problem     string `json:"problem,omitempty"`
}

func badResult(c *Checker, err error) Result {
	var ce *ChainError
	seq := c.Size()
	msg := "verification failed"
	if errors.As(err, &ce) {
		seq, msg = ce.Seq, ce.Error()
	}
	return Result{OK: false, Size: c.Size(), Root: EncodeHash(c.Root()), FirstBadSeq: &seq, Problem: msg}
}

// VerifyStore checks the whole log kept in st: every entry (see Checker), the
// stored leaf hashes, the stored tree root, and the recorded head. A storage
// error is returned as an error; a damaged log is reported in the Result.
func VerifyStore(st store.Store) (Result, error) {
	c := NewChecker()
	var front frontier
	newer := false // an entry of the second format was seen
	var bad error
	err := st.View(func(r store.Reader) error {
		var head Head
		if b, err := r.Get(keyHead); err == nil {
			if json.Unmarshal(b, &head) != nil {
				bad = &ChainError{Seq: 0, Reason: "head unreadable"}
				return nil
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		scanErr := r.Scan(store.ScanOptions{Prefix: prefixEntry}, func(k, v []byte) error {
			if len(k) != len(prefixEntry)+8 {
				bad = &ChainError{Seq: c.Size(), Reason: "stray key in the entry range"}
				return store.ErrStop
			}
			seq := int64(binary.BigEndian.Uint64(k[len(prefixEntry):]))
			if seq != c.Size() {
				bad = &ChainError{Seq: c.Size(), Reason: "entry missing"}
				return store.ErrStop
			}
			line, interior, embedded, err := decodeEntryValue(v)
			if err != nil {
				bad = &ChainError{Seq: seq, Reason: "not a canonical entry"}
				return store.ErrStop
			}
			if err := c.Add(line); err != nil {
				bad = blamePrevious(err, seq, line, interior)
				return store.ErrStop
			}
			// Every hash stored with this entry (its leaf, for the first
			// format, and the interior nodes it completes) must be what the
			// entries give; the hashes it is computed from were checked
			// with earlier entries.
			want, err := tlog.StoredHashesForRecordHash(seq, c.Last(), front.reader(storedHashReader(r)))
			if err != nil {
				bad = &ChainError{Seq: seq, Reason: "stored tree hashes missing"}
				return store.ErrStop
			}
			front.add(seq, want)
			if err := compareStoredHashes(r, seq, want, interior, embedded, &newer); err != nil {
				bad = err
				return store.ErrStop
			}
			return nil
		})
		if scanErr != nil || bad != nil {
			return scanErr
		}
		if c.Size() != head.Size {
			bad = &ChainError{Seq: min(c.Size(), head.Size), Reason: fmt.Sprintf("log holds %d entries but its head records %d", c.Size(), head.Size)}
			return nil
		}
		if c.Size() == 0 {
			return nil
		}
		if EncodeHash(c.Last()) != head.Last {
			bad = &ChainError{Seq: c.Size() - 1, Reason: "last entry does not match the head"}
			return nil
		}
		root, err := tlog.TreeHash(c.Size(), storedHashReader(r))
		if err != nil || root != c.Root() {
			bad = &ChainError{Seq: c.Size() - 1, Reason: "stored tree does not match the entries"}
		}
		return nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("audit: verify: %w", err)
	}
	if bad != nil {
		return badResult(c, bad), nil
	}
	return Result{OK: true, Size: c.Size(), Root: EncodeHash(c.Root())}, nil
}

// checkStoredHashes checks the hashes stored for entry seq, whose leaf hash
// is leaf, against those the entries give (reading the hashes it is computed
// from with hr).
func checkStoredHashes(r getter, hr tlog.HashReader, seq int64, leaf tlog.Hash, interior []byte, embedded bool, newer *bool) error {
	want, err := tlog.StoredHashesForRecordHash(seq, leaf, hr)
	if err != nil {
		return &ChainError{Seq: seq, Reason: "stored tree hashes missing"}
	}
	return compareStoredHashes(r, seq, want, interior, embedded, newer)
}

// compareStoredHashes compares the hashes stored for entry seq (its leaf,
// in the first format, and the interior nodes it completes) with want. An
// entry of the first format after one of the second is refused: the log
// never goes back to it, and its hash keys would go unchecked by the
// entries around it.
func compareStoredHashes(r getter, seq int64, want []tlog.Hash, interior []byte, embedded bool, newer *bool) error {
	if embedded {
		*newer = true
		if len(interior) != (len(want)-1)*tlog.HashSize {
			return &ChainError{Seq: seq, Reason: "stored tree hashes missing"}
		}
		for i, h := range want[1:] {
			if !bytes.Equal(interior[i*tlog.HashSize:(i+1)*tlog.HashSize], h[:]) {
				return &ChainError{Seq: seq, Reason: "stored tree hash does not match the entries"}
			}
		}
		return nil
	}
	if *newer {
		return &ChainError{Seq: seq, Reason: "entry stored in the earlier format after one in the later"}
	}
	base := tlog.StoredHashIndex(0, seq)
	for i, h := range want {
		stored, err := r.Get(hashKey(base + int64(i)))
		if err != nil || !bytes.Equal(stored, h[:]) {
			reason := "stored leaf hash does not match the entry"
			if i > 0 {
				reason = "stored tree hash does not match the entries"
			}
			return &ChainError{Seq: seq, Reason: reason}
		}
	}
	return nil
}

// frontier holds, for each level of the tree, the last node hash checked:
// the left siblings the next entries' stored hashes are computed from, so
// that a scan in order reads none of them from the store.
type frontier struct {
	idx  [64]int64
	hash [64]tlog.Hash
	set  [64]bool
}

// add records the stored hashes of entry seq, after they were checked.
func (f *frontier) add(seq int64, hashes []tlog.Hash) {
	base := tlog.StoredHashIndex(0, seq)
	for level, h := range hashes {
		f.idx[level], f.hash[level], f.set[level] = base+int64(level), h, true
	}
}

// reader reads hashes from the frontier, and the others from r.
func (f *frontier) reader(r tlog.HashReader) tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			level, _ := tlog.SplitStoredHashIndex(x)
			if level < len(f.set) && f.set[level] && f.idx[level] == x {
				out[i] = f.hash[level]
				continue
			}
			h, err := r.ReadHashes([]int64{x})
			if err != nil {
				return nil, err
			}
			out[i] = h[0]
		}
		return out, nil
	})
}

// Verify checks the whole log (see VerifyStore).
func (l *Log) Verify() (Result, error) { return VerifyStore(l.st) }
