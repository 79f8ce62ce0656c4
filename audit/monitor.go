package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/mod/sumdb/tlog"
)

// Source is where a Monitor reads a log: its latest signed checkpoint and
// consistency proofs between tree sizes.
type Source interface {
	Checkpoint() ([]byte, error)
	Consistency(old, new int64) ([]tlog.Hash, error)
}

// AlarmError reports evidence that the log was forked, rolled back or
// forged. Its Kind is "signature", "rollback" or "fork".
type AlarmError struct {
	Kind string
	Msg  string
}

func (e *AlarmError) Error() string { return "ALARM (" + e.Kind + "): " + e.Msg }

// Monitor is an auditor's client state: the latest checkpoint it trusts,
// kept in Dir, and the verifier key of the log.
type Monitor struct {
	Key string // note verifier key
	Dir string // state directory
}

// Trusted returns the checkpoint the monitor trusts, or ok false if none.
func (m *Monitor) Trusted() (Checkpoint, []byte, bool, error) {
	b, err := os.ReadFile(filepath.Join(m.Dir, "latest.checkpoint"))
	if errors.Is(err, os.ErrNotExist) {
		return Checkpoint{}, nil, false, nil
	}
	if err != nil {
		return Checkpoint{}, nil, false, err
	}
	c, err := OpenCheckpoint(b, m.Key)
	if err != nil {
		return Checkpoint{}, nil, false, fmt.Errorf("state %s: %w", m.Dir, err)
	}
	return c, b, true, nil
}

// Poll fetches the latest checkpoint from src, checks its signature and its
// consistency with the trusted one, and trusts it. It returns the checkpoint
// now trusted, whether it is new, and an *AlarmError (with the evidence saved
// in Dir) on a bad signature, a smaller tree or an inconsistent one.
func (m *Monitor) Poll(src Source) (Checkpoint, bool, error) {
	if err := os.MkdirAll(m.Dir, 0o700); err != nil {
		return Checkpoint{}, false, err
	}
	old, oldNote, have, err := m.Trusted()
	if err != nil {
		return Checkpoint{}, false, err
	}
	b, err := src.Checkpoint()
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("fetch checkpoint: %w", err)
	}
	c, err := OpenCheckpoint(b, m.Key)
	if err != nil {
		m.evidence("bad-signature", b)
		return Checkpoint{}, false, &AlarmError{Kind: "signature", Msg: err.Error()}
	}
	if have {
		switch {
		case c.Size < old.Size:
			m.evidence("rollback", b)
			return old, false, &AlarmError{Kind: "rollback", Msg: fmt.Sprintf("the log shows %d entries but %d were checkpointed before", c.Size, old.Size)}
		case c.Size == old.Size:
			if c.Root != old.Root {
				m.evidence("fork", b)
				return old, false, &AlarmError{Kind: "fork", Msg: fmt.Sprintf("two different trees of size %d", c.Size)}
			}
			return old, false, nil
		}
		proof, err := src.Consistency(old.Size, c.Size)
		if err != nil {
			return old, false, fmt.Errorf("fetch consistency proof: %w", err)
		}
		if err := tlog.CheckTree(proof, c.Size, c.Root, old.Size, old.Root); err != nil {
			m.evidence("fork", b)
			return old, false, &AlarmError{Kind: "fork", Msg: fmt.Sprintf("the tree of size %d is not an extension of the trusted tree of size %d", c.Size, old.Size)}
		}
	}
	_ = oldNote
	if err := writeFileAtomic(filepath.Join(m.Dir, strconv.FormatInt(c.Size, 10)+".checkpoint"), b); err != nil {
		return old, false, err
	}
	if err := writeFileAtomic(filepath.Join(m.Dir, "latest.checkpoint"), b); err != nil {
		return old, false, err
	}
	return c, true, nil
}

func (m *Monitor) evidence(kind string, b []byte) {
	_ = writeFileAtomic(filepath.Join(m.Dir, "alarm-"+kind+".checkpoint"), b)
}
