package audit

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"pvault/vault/store"
)

// tlSource is a fake monitor Source: it serves cp and proofs from log
// unless overridden.
type tlSource struct {
	cp       []byte
	cpErr    error
	log      *Log
	proof    func(old, new int64) ([]tlog.Hash, error)
	proofErr error
	asked    [][2]int64 // consistency proofs requested
}

func (s *tlSource) Checkpoint() ([]byte, error) {
	if s.cpErr != nil {
		return nil, s.cpErr
	}
	return s.cp, nil
}

func (s *tlSource) Consistency(old, new int64) ([]tlog.Hash, error) {
	s.asked = append(s.asked, [2]int64{old, new})
	if s.proofErr != nil {
		return nil, s.proofErr
	}
	if s.proof != nil {
		return s.proof(old, new)
	}
	p, err := s.log.ProveConsistency(old, new)
	if err != nil {
		return nil, err
	}
	return p.Hashes, nil
}

// tlSigned appends n entries to l and returns its new signed checkpoint.
func tlSigned(tb testing.TB, l *Log, prefix string, n int) []byte {
	tb.Helper()
	tlAppend(tb, l, prefix, n)
	b, err := l.Sign()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func tlMonitor(tb testing.TB) *Monitor {
	tb.Helper()
	_, vkey := tlSigner(tb)
	return &Monitor{Key: vkey, Dir: filepath.Join(tb.TempDir(), "state", "sub")}
}

func tlReadFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func tlWantTrusted(tb testing.TB, m *Monitor, want []byte) {
	tb.Helper()
	c, b, ok, err := m.Trusted()
	if err != nil || !ok || !bytes.Equal(b, want) {
		tb.Fatalf("Trusted = %+v, %q, %v, %v; want %q", c, b, ok, err, want)
	}
	if c != tlOpenCP(tb, want) {
		tb.Errorf("Trusted checkpoint = %+v", c)
	}
}

func TestMonitorTrustOnFirstUseAndAdvance(t *testing.T) {
	l := tlOpen(t, store.NewMem(), Options{})
	m := tlMonitor(t)
	if _, _, ok, err := m.Trusted(); ok || err != nil {
		t.Fatalf("fresh monitor: Trusted ok=%v err=%v", ok, err)
	}

	cp5 := tlSigned(t, l, "m", 5)
	src := &tlSource{cp: cp5, log: l}
	c, fresh, err := m.Poll(src)
	if err != nil || !fresh || c.Size != 5 {
		t.Fatalf("first Poll = %+v, %v, %v; want size 5, fresh", c, fresh, err)
	}
	if len(src.asked) != 0 {
		t.Errorf("first use asked for proofs %v", src.asked)
	}
	tlWantTrusted(t, m, cp5)
	if b := tlReadFile(t, filepath.Join(m.Dir, "5.checkpoint")); !bytes.Equal(b, cp5) {
		t.Errorf("5.checkpoint = %q", b)
	}

	// The same checkpoint again: nothing new, no proof needed.
	c, fresh, err = m.Poll(src)
	if err != nil || fresh || c.Size != 5 {
		t.Errorf("repeat Poll = %+v, %v, %v; want size 5, not fresh", c, fresh, err)
	}

	// The log grows: the monitor checks a consistency proof and advances.
	prev := int64(5)
	for _, n := range []int{1, 7, 16, 3} {
		src.cp = tlSigned(t, l, "m", n)
		src.asked = nil
		c, fresh, err = m.Poll(src)
		size := l.Head().Size
		if err != nil || !fresh || c.Size != size {
			t.Fatalf("Poll after growth = %+v, %v, %v; want size %d", c, fresh, err, size)
		}
		if len(src.asked) != 1 || src.asked[0] != [2]int64{prev, size} {
			t.Errorf("proofs asked = %v, want [%d %d]", src.asked, prev, size)
		}
		tlWantTrusted(t, m, src.cp)
		if _, err := os.Stat(filepath.Join(m.Dir, "alarm-fork.checkpoint")); err == nil {
			t.Error("alarm evidence written on an honest advance")
		}
		prev = size
	}
	// Every trusted checkpoint is kept.
	for _, size := range []string{"5", "6", "13", "29", "32"} {
		if _, err := os.Stat(filepath.Join(m.Dir, size+".checkpoint")); err != nil {
			t.Errorf("checkpoint %s not kept: %v", size, err)
		}
	}
}

func TestMonitorAlarms(t *testing.T) {
	// The honest log and a fork of it: the same signer, a different history.
	honest := tlOpen(t, store.NewMem(), Options{})
	cp10 := tlSigned(t, honest, "h", 10)
	cp20 := tlSigned(t, honest, "h", 10)
	forked := tlOpen(t, store.NewMem(), Options{})
	fork20 := tlSigned(t, forked, "f", 20)
	fork30 := tlSigned(t, forked, "f", 10)
	cp30 := tlSigned(t, honest, "h", 10)
	otherKey, _ := tlSignerFor(t, tlOrigin, 100)
	c30 := tlOpenCP(t, cp30)
	forged, err := SignCheckpoint(c30, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	otherLog, _ := tlSignerFor(t, "other/audit", 0)
	otherOrigin, err := SignCheckpoint(Checkpoint{Origin: "other/audit", Size: 30, Root: c30.Root}, otherLog)
	if err != nil {
		t.Fatal(err)
	}
	flipped := func(old, new int64) ([]tlog.Hash, error) {
		p, err := honest.ProveConsistency(old, new)
		if err != nil {
			return nil, err
		}
		p.Hashes[0][3] ^= 0x10
		return p.Hashes, nil
	}
	truncated := func(old, new int64) ([]tlog.Hash, error) {
		p, err := honest.ProveConsistency(old, new)
		if err != nil {
			return nil, err
		}
		return p.Hashes[:len(p.Hashes)-1], nil
	}
	empty := func(old, new int64) ([]tlog.Hash, error) { return nil, nil }

	for _, tt := range []struct {
		name     string
		trusted  []byte // checkpoint trusted before the poll (nil: none)
		src      *tlSource
		kind     string
		evidence string
	}{
		{"rollback to an older checkpoint", cp20, &tlSource{cp: cp10, log: honest}, "rollback", "alarm-rollback.checkpoint"},
		{"rollback from the latest", cp30, &tlSource{cp: cp20, log: honest}, "rollback", "alarm-rollback.checkpoint"},
		{"fork: same size, different root", cp20, &tlSource{cp: fork20, log: forked}, "fork", "alarm-fork.checkpoint"},
		{"fork: larger tree that does not extend the trusted one", cp20, &tlSource{cp: fork30, log: forked}, "fork", "alarm-fork.checkpoint"},
		{"fork: honest-looking checkpoint, flipped proof", cp10, &tlSource{cp: cp30, proof: flipped}, "fork", "alarm-fork.checkpoint"},
		{"fork: truncated proof", cp10, &tlSource{cp: cp30, proof: truncated}, "fork", "alarm-fork.checkpoint"},
		{"fork: empty proof", cp10, &tlSource{cp: cp30, proof: empty}, "fork", "alarm-fork.checkpoint"},
		{"fork: proof between other sizes", cp10, &tlSource{cp: cp30, proof: func(old, new int64) ([]tlog.Hash, error) {
			p, err := honest.ProveConsistency(old+1, new)
			return p.Hashes, err
		}}, "fork", "alarm-fork.checkpoint"},
		{"signature: another key", cp10, &tlSource{cp: forged, log: honest}, "signature", "alarm-bad-signature.checkpoint"},
		{"signature: another key on first use", nil, &tlSource{cp: forged, log: honest}, "signature", "alarm-bad-signature.checkpoint"},
		{"signature: another log", cp10, &tlSource{cp: otherOrigin, log: honest}, "signature", "alarm-bad-signature.checkpoint"},
		{"signature: not a note", cp10, &tlSource{cp: []byte("<html>gateway timeout</html>"), log: honest}, "signature", "alarm-bad-signature.checkpoint"},
		{"signature: body edited", cp10, &tlSource{cp: bytes.Replace(cp30, []byte("\n30\n"), []byte("\n31\n"), 1), log: honest}, "signature", "alarm-bad-signature.checkpoint"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := tlMonitor(t)
			if tt.trusted != nil {
				if _, _, err := m.Poll(&tlSource{cp: tt.trusted, log: honest}); err != nil {
					t.Fatal(err)
				}
			}
			c, fresh, err := m.Poll(tt.src)
			var alarm *AlarmError
			if !errors.As(err, &alarm) {
				t.Fatalf("Poll = %+v, %v, %v; want an AlarmError", c, fresh, err)
			}
			if alarm.Kind != tt.kind {
				t.Errorf("alarm kind %q, want %q (%v)", alarm.Kind, tt.kind, err)
			}
			if !strings.Contains(err.Error(), "ALARM ("+tt.kind+")") {
				t.Errorf("alarm message %q", err)
			}
			if fresh {
				t.Error("an alarm reported a fresh checkpoint")
			}
			// The evidence is the checkpoint the log served.
			if b, err := os.ReadFile(filepath.Join(m.Dir, tt.evidence)); err != nil || !bytes.Equal(b, tt.src.cp) {
				t.Errorf("evidence %s = %q, %v; want the served checkpoint", tt.evidence, b, err)
			}
			// Trust did not move.
			if tt.trusted == nil {
				if _, _, ok, _ := m.Trusted(); ok {
					t.Error("a forged checkpoint became trusted on first use")
				}
				return
			}
			tlWantTrusted(t, m, tt.trusted)
			if tt.kind != "signature" && c != tlOpenCP(t, tt.trusted) {
				t.Errorf("Poll returned %+v, want the still-trusted checkpoint", c)
			}
			// The honest log still advances the monitor afterwards.
			if _, _, err := m.Poll(&tlSource{cp: cp30, log: honest}); err != nil {
				t.Errorf("honest poll after the alarm: %v", err)
			}
		})
	}
}

func TestMonitorFetchErrorsAreNotAlarms(t *testing.T) {
	l := tlOpen(t, store.NewMem(), Options{})
	cp5 := tlSigned(t, l, "x", 5)
	cp9 := tlSigned(t, l, "x", 4)
	down := errors.New("connection refused")

	m := tlMonitor(t)
	if _, _, err := m.Poll(&tlSource{cpErr: down}); !errors.Is(err, down) || tlIsAlarm(err) {
		t.Errorf("checkpoint fetch failure on first use: %v", err)
	}
	if _, _, err := m.Poll(&tlSource{cp: cp5, log: l}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Poll(&tlSource{cpErr: down}); !errors.Is(err, down) || tlIsAlarm(err) {
		t.Errorf("checkpoint fetch failure: %v", err)
	}
	if _, _, err := m.Poll(&tlSource{cp: cp9, proofErr: down}); !errors.Is(err, down) || tlIsAlarm(err) {
		t.Errorf("proof fetch failure: %v", err)
	}
	tlWantTrusted(t, m, cp5)
	entries, _ := os.ReadDir(m.Dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "alarm-") {
			t.Errorf("fetch failures left evidence %s", e.Name())
		}
	}
	if c, fresh, err := m.Poll(&tlSource{cp: cp9, log: l}); err != nil || !fresh || c.Size != 9 {
		t.Errorf("Poll after the outage = %+v, %v, %v", c, fresh, err)
	}
}

func TestMonitorDamagedState(t *testing.T) {
	l := tlOpen(t, store.NewMem(), Options{})
	cp5 := tlSigned(t, l, "d", 5)
	m := tlMonitor(t)
	if _, _, err := m.Poll(&tlSource{cp: cp5, log: l}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(m.Dir, "latest.checkpoint"), []byte("tampered"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := m.Trusted(); !errors.Is(err, ErrCheckpoint) {
		t.Errorf("Trusted with a damaged state: %v, want ErrCheckpoint", err)
	}
	if _, fresh, err := m.Poll(&tlSource{cp: cp5, log: l}); err == nil || fresh {
		t.Errorf("Poll with a damaged state = %v, %v; want an error", fresh, err)
	}
}

func tlIsAlarm(err error) bool {
	var a *AlarmError
	return errors.As(err, &a)
}
