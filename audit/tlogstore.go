package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"pvault/internal/atomicfile"
	"pvault/vault/store"
)

// Checkpoints are kept in the store under a/cp/<size>, one per size signed.
var prefixCheckpoint = []byte("a/cp/")

func checkpointKey(size int64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), prefixCheckpoint...), uint64(size))
}

type signedCheckpoint struct {
	c    Checkpoint
	note []byte
	at   time.Time
}

// VerifierKey is the note verifier key of the log's checkpoints ("" when the
// log signs none).
func (l *Log) VerifierKey() string { return l.opts.VerifierKey }

// Origin is the checkpoint origin ("" when the log signs none).
func (l *Log) Origin() string {
	if l.opts.Signer == nil {
		return ""
	}
	return l.opts.Signer.Name()
}

// LatestCheckpoint returns the newest signed checkpoint and when it was
// signed, or an error wrapping ErrNotFound if none was signed yet.
func (l *Log) LatestCheckpoint() ([]byte, time.Time, error) {
	if cp := l.cp.Load(); cp != nil {
		return cp.note, cp.at, nil
	}
	b, err := l.checkpointAt(0)
	return b, time.Time{}, err
}

// CheckpointAt returns the signed checkpoint issued at size, or the latest
// when size is 0. It returns an error wrapping ErrNotFound when none was
// signed at that size.
func (l *Log) CheckpointAt(size int64) ([]byte, error) {
	if size == 0 {
		b, _, err := l.LatestCheckpoint()
		return b, err
	}
	return l.checkpointAt(size)
}

func (l *Log) checkpointAt(size int64) ([]byte, error) {
	var out []byte
	err := l.st.View(func(r store.Reader) error {
		if size > 0 {
			b, err := r.Get(checkpointKey(size))
			if errors.Is(err, store.ErrNotFound) {
				return ErrNotFound
			}
			out = b
			return err
		}
		return r.Scan(store.ScanOptions{Prefix: prefixCheckpoint, Reverse: true}, func(_, v []byte) error {
			out = append([]byte(nil), v...)
			return store.ErrStop
		})
	})
	if err == nil && out == nil {
		err = ErrNotFound
	}
	return out, err
}

func (l *Log) checkpointLoop() {
	defer close(l.cpDone)
	t := time.NewTicker(l.opts.CheckpointInterval)
	defer t.Stop()
	dirty := false
	for {
		select {
		case <-l.closing:
			return
		case <-l.cpNotify:
			dirty = true
		case <-t.C:
			if !dirty {
				continue
			}
			dirty = false
			if _, err := l.Sign(); err != nil && l.opts.Logger != nil {
				l.opts.Logger.Error("audit checkpoint failed", "err", err)
			}
		}
	}
}

// Sign signs and stores a checkpoint of the current head, unless the latest
// checkpoint already covers it, and returns the latest checkpoint. It refuses
// to sign (and marks the log unhealthy) if the stored tree is not consistent
// with the previous checkpoint.
func (l *Log) Sign() ([]byte, error) {
	if l.opts.Signer == nil {
		return nil, fmt.Errorf("audit: no checkpoint signer")
	}
	if l.broken.Load() != nil {
		return nil, fmt.Errorf("%w: %s", ErrUnavailable, l.Broken())
	}
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	head := l.Head()
	prev := l.cp.Load()
	if prev == nil {
		if b, err := l.checkpointAt(0); err == nil {
			c, err := OpenCheckpoint(b, l.opts.VerifierKey)
			if err != nil {
				return nil, err
			}
			prev = &signedCheckpoint{c: c, note: b}
		} else if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	if head.Size == 0 || (prev != nil && prev.c.Size >= head.Size) {
		if prev == nil {
			return nil, ErrNotFound
		}
		return prev.note, nil
	}
	var root tlog.Hash
	err := l.st.View(func(r store.Reader) error {
		hr := storedHashReader(r)
		if prev != nil {
			old, err := tlog.TreeHash(prev.c.Size, hr)
			if err != nil {
				return err
			}
			if old != prev.c.Root {
				return &ChainError{Seq: prev.c.Size - 1, Reason: "stored tree no longer matches the latest checkpoint"}
			}
		}
		var err error
		root, err = tlog.TreeHash(head.Size, hr)
		return err
	})
	if err != nil {
		var ce *ChainError
		if errors.As(err, &ce) {
			msg := ce.Error()
			l.broken.Store(&msg)
			l.healthy.Store(false)
		}
		return nil, fmt.Errorf("audit: checkpoint: %w", err)
	}
	c := Checkpoint{Origin: l.opts.Signer.Name(), Size: head.Size, Root: root}
	signed, err := SignCheckpoint(c, l.opts.Signer)
	if err != nil {
		return nil, err
	}
	if err := l.st.Update(func(tx store.Tx) error { return tx.Set(checkpointKey(c.Size), signed) }); err != nil {
		return nil, fmt.Errorf("audit: store checkpoint: %w", err)
	}
	if l.opts.CheckpointFile != "" {
		if err := writeFileAtomic(l.opts.CheckpointFile, signed); err != nil {
			return nil, fmt.Errorf("audit: checkpoint file: %w", err)
		}
	}
	l.cp.Store(&signedCheckpoint{c: c, note: signed, at: l.opts.Now()})
	return signed, nil
}

// startupCheck verifies the tail of the log against its latest checkpoint
// (in the store and in the checkpoint file): the checkpoint's tree is a
// prefix of the stored tree, and every entry after it matches its stored leaf
// hash and chain link.
func (l *Log) startupCheck() error {
	if l.opts.VerifierKey == "" {
		return nil
	}
	var cps [][]byte
	if b, err := l.checkpointAt(0); err == nil {
		cps = append(cps, b)
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	if l.opts.CheckpointFile != "" {
		if b, err := os.ReadFile(l.opts.CheckpointFile); err == nil {
			cps = append(cps, b)
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	head := l.Head()
	var from int64 = -1
	for _, b := range cps {
		c, err := OpenCheckpoint(b, l.opts.VerifierKey)
		if err != nil {
			return err
		}
		if c.Size > head.Size {
			return &ChainError{Seq: head.Size, Reason: fmt.Sprintf("log holds %d entries but a checkpoint covers %d: the store is older than its checkpoints", head.Size, c.Size)}
		}
		err = l.st.View(func(r store.Reader) error {
			root, err := tlog.TreeHash(c.Size, storedHashReader(r))
			if err != nil {
				return err
			}
			if root != c.Root {
				return &ChainError{Seq: c.Size - 1, Reason: fmt.Sprintf("stored tree does not match the checkpoint of size %d", c.Size)}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if from < 0 || c.Size < from {
			from = c.Size
		}
		if l.cp.Load() == nil || l.cp.Load().c.Size < c.Size {
			l.cp.Store(&signedCheckpoint{c: c, note: b})
		}
	}
	if from < 0 {
		return nil
	}
	return l.checkTail(from)
}

// checkTail checks entries from seq from to the head against their stored
// leaf hashes and chain links.
func (l *Log) checkTail(from int64) error {
	head := l.Head()
	return l.st.View(func(r store.Reader) error {
		var prev []byte
		if from > 0 {
			h, err := readStoredHash(r, tlog.StoredHashIndex(0, from-1))
			if err != nil {
				return &ChainError{Seq: from - 1, Reason: "stored leaf hash missing"}
			}
			prev = h[:]
		}
		hr := storedHashReader(r)
		newer := false // an entry of the second format was seen
		for seq := from; seq < head.Size; seq++ {
			v, err := r.Get(entryKey(seq))
			if err != nil {
				return &ChainError{Seq: seq, Reason: "entry missing"}
			}
			b, interior, embedded, err := decodeEntryValue(v)
			if err != nil {
				return &ChainError{Seq: seq, Reason: "not a canonical entry"}
			}
			e, err := ParseEntry(b)
			if err != nil {
				return &ChainError{Seq: seq, Reason: "not a canonical entry"}
			}
			want := ZeroPrev
			if prev != nil {
				want = encodeBytes(prev)
			}
			if e.Seq != seq || e.Prev != want {
				return &ChainError{Seq: seq, Reason: "chain link does not match the previous entry"}
			}
			leaf := LeafHash(b)
			if err := checkStoredHashes(r, hr, seq, leaf, interior, embedded, &newer); err != nil {
				return err
			}
			prev = leaf[:]
		}
		if head.Size > 0 && encodeBytes(prev) != head.Last {
			return &ChainError{Seq: head.Size - 1, Reason: "last entry does not match the head"}
		}
		return nil
	})
}

func encodeBytes(b []byte) string {
	var h tlog.Hash
	copy(h[:], b)
	return EncodeHash(h)
}

// InclusionProof is the proof that entry Index is in the tree of Size.
type InclusionProof struct {
	Index    int64       `json:"index"`
	Size     int64       `json:"size"`
	LeafHash string      `json:"leaf_hash"`
	Hashes   []tlog.Hash `json:"hashes"`
}

// ConsistencyProof is the proof that the tree of size Old is a prefix of the
// tree of size New.
type ConsistencyProof struct {
	Old    int64       `json:"old"`
	New    int64       `json:"new"`
	Hashes []tlog.Hash `json:"hashes"`
}

// ErrRange is returned for proof parameters outside the log.
var ErrRange = errors.New("audit: out of range")

// ProveInclusion returns the RFC 6962 inclusion proof of entry index in the
// tree of size size. It returns an error wrapping ErrRange unless
// 0 ≤ index < size ≤ the log's size.
func (l *Log) ProveInclusion(index, size int64) (*InclusionProof, error) {
	if size <= 0 || index < 0 || index >= size || size > l.Head().Size {
		return nil, fmt.Errorf("%w: need 0 ≤ index < size ≤ %d", ErrRange, l.Head().Size)
	}
	p := &InclusionProof{Index: index, Size: size}
	err := l.st.View(func(r store.Reader) error {
		hr := storedHashReader(r)
		leaf, err := hr.ReadHashes([]int64{tlog.StoredHashIndex(0, index)})
		if err != nil {
			return err
		}
		p.LeafHash = EncodeHash(leaf[0])
		proof, err := tlog.ProveRecord(size, index, hr)
		p.Hashes = proof
		return err
	})
	if err != nil {
		return nil, err
	}
	if p.Hashes == nil {
		p.Hashes = []tlog.Hash{}
	}
	return p, nil
}

// ProveConsistency returns the RFC 6962 consistency proof between the trees
// of sizes old and new. It returns an error wrapping ErrRange unless
// 0 < old ≤ new ≤ the log's size.
func (l *Log) ProveConsistency(old, new int64) (*ConsistencyProof, error) {
	if old <= 0 || old > new || new > l.Head().Size {
		return nil, fmt.Errorf("%w: need 0 < old ≤ new ≤ %d", ErrRange, l.Head().Size)
	}
	p := &ConsistencyProof{Old: old, New: new}
	err := l.st.View(func(r store.Reader) error {
		proof, err := tlog.ProveTree(new, old, storedHashReader(r))
		p.Hashes = proof
		return err
	})
	if err != nil {
		return nil, err
	}
	if p.Hashes == nil {
		p.Hashes = []tlog.Hash{}
	}
	return p, nil
}

// RootAt returns the root of the tree of the first size entries.
func (l *Log) RootAt(size int64) (tlog.Hash, error) {
	if size < 0 || size > l.Head().Size {
		return tlog.Hash{}, ErrRange
	}
	var h tlog.Hash
	err := l.st.View(func(r store.Reader) error {
		var err error
		h, err = tlog.TreeHash(size, storedHashReader(r))
		return err
	})
	return h, err
}

func writeFileAtomic(path string, data []byte) error {
	return atomicfile.Write(path, data, 0o600)
}
