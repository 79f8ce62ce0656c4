package audit

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"pvault/vault/store"
)

// tlCopyMem returns a copy of every key of m: a backup of the store as it
// is now.
func tlCopyMem(tb testing.TB, m *store.Mem) *store.Mem {
	tb.Helper()
	type kv struct{ k, v []byte }
	var all []kv
	if err := m.View(func(r store.Reader) error {
		return r.Scan(store.ScanOptions{}, func(k, v []byte) error {
			all = append(all, kv{append([]byte(nil), k...), append([]byte(nil), v...)})
			return nil
		})
	}); err != nil {
		tb.Fatal(err)
	}
	if len(all) == 0 {
		tb.Fatal("copying an empty store")
	}
	out := store.NewMem()
	if err := out.Update(func(tx store.Tx) error {
		for _, e := range all {
			if err := tx.Set(e.k, e.v); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return out
}

// tlLogBuffer collects log output safely across goroutines.
type tlLogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *tlLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *tlLogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tlStartupOpts are log options with a checkpoint file in a temporary
// directory.
func tlStartupOpts(tb testing.TB) Options {
	tb.Helper()
	s, vkey := tlSigner(tb)
	return Options{Signer: s, VerifierKey: vkey, CheckpointInterval: time.Hour,
		CheckpointFile: filepath.Join(tb.TempDir(), "audit.checkpoint")}
}

// tlSession opens a log, appends n entries and closes it (which signs a
// checkpoint and writes the checkpoint file).
func tlSession(tb testing.TB, st store.Store, opts Options, prefix string, n int) {
	tb.Helper()
	l, err := Open(st, opts)
	if err != nil {
		tb.Fatal(err)
	}
	if !l.Healthy() {
		tb.Fatalf("log unhealthy at open: %s", l.Broken())
	}
	tlAppend(tb, l, prefix, n)
	if err := l.Close(); err != nil {
		tb.Fatalf("Close: %v", err)
	}
}

// tlWantBroken checks that l refuses to record but still serves reads.
func tlWantBroken(tb testing.TB, l *Log, size int64) {
	tb.Helper()
	if l.Healthy() {
		tb.Error("Healthy() = true")
	}
	if l.Broken() == "" {
		tb.Error("Broken() is empty")
	}
	if _, err := l.Append(&Entry{Action: "petition.read", Decision: Allow, Status: 200}, nil); !errors.Is(err, ErrUnavailable) {
		tb.Errorf("Append: %v, want ErrUnavailable", err)
	}
	if _, err := l.Sign(); !errors.Is(err, ErrUnavailable) {
		tb.Errorf("Sign: %v, want ErrUnavailable", err)
	}
	if got := l.Head().Size; got != size {
		tb.Errorf("head size %d, want %d (nothing appended)", got, size)
	}
	if es, _, err := l.Entries(Filter{Limit: 1}); err != nil || (size > 0 && len(es) != 1) {
		tb.Errorf("reads fail on a broken log: %v", err)
	}
}

func TestStartupStaleStore(t *testing.T) {
	st := store.NewMem()
	opts := tlStartupOpts(t)
	tlSession(t, st, opts, "a", 10)
	backup := tlCopyMem(t, st)
	tlSession(t, st, opts, "b", 10)
	newer := tlReadFile(t, opts.CheckpointFile)
	if c := tlOpenCP(t, newer); c.Size != 20 {
		t.Fatalf("checkpoint file holds size %d, want 20", c.Size)
	}

	// The backup is restored underneath the log.
	var logs tlLogBuffer
	stale := opts
	stale.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	l, err := Open(backup, stale)
	if err != nil {
		t.Fatalf("Open on a stale store: %v (want it to open and refuse to record)", err)
	}
	tlWantBroken(t, l, 10)
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "refusing to record") {
		t.Errorf("no clear log line, got %q", logs.String())
	}
	l.Close()
	// The stale log did not overwrite the newer checkpoint.
	if b := tlReadFile(t, opts.CheckpointFile); !bytes.Equal(b, newer) {
		t.Errorf("checkpoint file rewritten by the stale log: %q", b)
	}
	if h, _ := ReadHead(backup); h.Size != 10 {
		t.Errorf("stale store head %d, want 10", h.Size)
	}

	// The current store with the same file is fine and keeps recording.
	l2 := tlOpen(t, st, opts)
	if !l2.Healthy() || l2.Broken() != "" {
		t.Fatalf("current store unhealthy: %s", l2.Broken())
	}
	if latest, _, err := l2.LatestCheckpoint(); err != nil || !bytes.Equal(latest, newer) {
		t.Errorf("LatestCheckpoint = %q, %v", latest, err)
	}
	tlAppend(t, l2, "c", 1)
}

func TestStartupMismatches(t *testing.T) {
	for _, tt := range []struct {
		name string
		// damage changes the store or the checkpoint file after a session of
		// 10 entries (checkpoint 10) and a second of 5 (checkpoint 15).
		damage func(t *testing.T, st *store.Mem, opts Options)
		size   int64
	}{
		{"forked store of the same size", func(t *testing.T, st *store.Mem, opts Options) {
			fork := store.NewMem()
			o := opts
			o.CheckpointFile = ""
			tlSession(t, fork, o, "fork", 15)
			tlReplaceMem(t, st, fork)
		}, 15},
		{"forked store, larger", func(t *testing.T, st *store.Mem, opts Options) {
			fork := store.NewMem()
			o := opts
			o.CheckpointFile = ""
			tlSession(t, fork, o, "fork", 18)
			tlReplaceMem(t, st, fork)
		}, 18},
		{"entry after the checkpoint edited", func(t *testing.T, st *store.Mem, opts Options) {
			// Only the store's checkpoint (10) and the file's (15) exist;
			// roll the file back so that entry 12 is in the checked tail.
			tlRewindCheckpointFile(t, st, opts, 10)
			tlEditEntry(t, st, 12)
		}, 15},
		{"stored tree under the checkpoint changed", func(t *testing.T, st *store.Mem, opts Options) {
			if err := st.Update(func(tx store.Tx) error { return tFlipHash(t, tx, tlog.StoredHashIndex(3, 0)) }); err != nil {
				t.Fatal(err)
			}
		}, 15},
		{"entry deleted after the checkpoint", func(t *testing.T, st *store.Mem, opts Options) {
			tlRewindCheckpointFile(t, st, opts, 10)
			if err := st.Update(func(tx store.Tx) error { return tx.Delete(tlEntryKey(13)) }); err != nil {
				t.Fatal(err)
			}
		}, 15},
		{"checkpoint file signed by another key", func(t *testing.T, st *store.Mem, opts Options) {
			other, _ := tlSignerFor(t, tlOrigin, 100)
			c := tlOpenCP(t, tlReadFile(t, opts.CheckpointFile))
			b, err := SignCheckpoint(c, other)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(opts.CheckpointFile, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}, 15},
		{"checkpoint file garbage", func(t *testing.T, st *store.Mem, opts Options) {
			if err := os.WriteFile(opts.CheckpointFile, []byte("not a checkpoint\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, 15},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := store.NewMem()
			opts := tlStartupOpts(t)
			tlSession(t, st, opts, "a", 10)
			tlSession(t, st, opts, "b", 5)
			tt.damage(t, st, opts)
			l, err := Open(st, opts)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer l.Close()
			tlWantBroken(t, l, tt.size)
		})
	}
}

// tlReplaceMem makes dst hold exactly the keys of src.
func tlReplaceMem(tb testing.TB, dst, src *store.Mem) {
	tb.Helper()
	cp := tlCopyMem(tb, src)
	var keys [][]byte
	if err := dst.View(func(r store.Reader) error {
		return r.Scan(store.ScanOptions{KeysOnly: true}, func(k, _ []byte) error {
			keys = append(keys, append([]byte(nil), k...))
			return nil
		})
	}); err != nil {
		tb.Fatal(err)
	}
	if err := dst.Update(func(tx store.Tx) error {
		for _, k := range keys {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		return cp.View(func(r store.Reader) error {
			return r.Scan(store.ScanOptions{}, func(k, v []byte) error {
				return tx.Set(append([]byte(nil), k...), append([]byte(nil), v...))
			})
		})
	}); err != nil {
		tb.Fatal(err)
	}
}

// tlEntryKey is the store key of entry seq ("a/e/" + 8-byte seq).
func tlEntryKey(seq int64) []byte {
	k := tlHashKey(seq)
	copy(k, "a/e/")
	return k
}

// tlEditEntry changes entry seq in place (allow → deny), leaving its stored
// hashes alone.
func tlEditEntry(tb testing.TB, st *store.Mem, seq int64) {
	tb.Helper()
	if err := st.Update(func(tx store.Tx) error {
		b, err := tx.Get(tlEntryKey(seq))
		if err != nil {
			return err
		}
		if !bytes.Contains(b, []byte(`"allow"`)) {
			tb.Fatalf("entry %d: %s", seq, b)
		}
		return tx.Set(tlEntryKey(seq), bytes.Replace(b, []byte(`"allow"`), []byte(`"deny"`), 1))
	}); err != nil {
		tb.Fatal(err)
	}
}

// tlRewindCheckpointFile makes the store's and the file's latest checkpoint
// the one of size: it deletes later checkpoints from the store and writes
// that one to the file.
func tlRewindCheckpointFile(tb testing.TB, st *store.Mem, opts Options, size int64) {
	tb.Helper()
	var keep []byte
	if err := st.Update(func(tx store.Tx) error {
		var drop [][]byte
		err := tx.Scan(store.ScanOptions{Prefix: []byte("a/cp/")}, func(k, v []byte) error {
			c := tlOpenCP(tb, v)
			switch {
			case c.Size == size:
				keep = append([]byte(nil), v...)
			case c.Size > size:
				drop = append(drop, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range drop {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	if keep == nil {
		tb.Fatalf("no checkpoint of size %d", size)
	}
	if err := os.WriteFile(opts.CheckpointFile, keep, 0o600); err != nil {
		tb.Fatal(err)
	}
}

func TestStartupHealthy(t *testing.T) {
	st := store.NewMem()
	opts := tlStartupOpts(t)
	// No checkpoint yet anywhere: nothing to check.
	l := tlOpen(t, st, opts)
	if !l.Healthy() {
		t.Fatalf("new log unhealthy: %s", l.Broken())
	}
	l.Close()
	tlSession(t, st, opts, "a", 4)
	// The checkpoint file missing (a fresh machine) is not an error: the
	// store's own checkpoint is checked.
	if err := os.Remove(opts.CheckpointFile); err != nil {
		t.Fatal(err)
	}
	tlSession(t, st, opts, "b", 4)
	if c := tlOpenCP(t, tlReadFile(t, opts.CheckpointFile)); c.Size != 8 {
		t.Errorf("checkpoint file size %d, want 8", c.Size)
	}
	// Entries appended after the last checkpoint (a crash before Close) are
	// fine as long as they chain.
	l2, err := Open(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	tlAppend(t, l2, "c", 3)
	// Simulate a crash: reopen the store without Close (no checkpoint of 11).
	l3 := tlOpen(t, st, opts)
	if !l3.Healthy() {
		t.Errorf("log with an unsigned tail unhealthy: %s", l3.Broken())
	}
	if _, err := l3.CheckpointAt(11); !errors.Is(err, ErrNotFound) {
		t.Errorf("CheckpointAt(11): %v", err)
	}
	l2.Close()
}
