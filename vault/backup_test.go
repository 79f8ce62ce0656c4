package vault

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"pvault/audit"
)

// Tests of online backup and restore (issue 8, "Backup and restore").

// opBackup takes a backup of e's vault while writers create petitions, and
// returns it with the ids created before it started.
func opBackup(t *testing.T, e *opEnv) ([]byte, []string, *BackupInfo) {
	t.Helper()
	ids := opCreate(t, e.v, 20)
	for _, id := range ids[:3] {
		opEnrich(t, e.v, e.admin, id)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 3 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				if _, err := e.v.CreatePetition(opPetition(1000+i), nil, opEntry("petition.create")); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	var buf bytes.Buffer
	info, err := e.v.Backup(&buf)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if n := failed.Load(); n > 0 {
		t.Errorf("%d petitions failed to be created during the backup", n)
	}
	if info.Vault != e.v.Name() || info.LogSize <= 0 || info.CreatedAt.IsZero() {
		t.Errorf("backup info %+v", info)
	}
	return buf.Bytes(), ids, info
}

// opRestore restores backup into a new directory with identity text and
// opens the result.
func opRestore(t *testing.T, backup []byte, identity string) (string, *Vault, *BackupInfo) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "restored")
	info, err := Restore(dir, bytes.NewReader(backup), identity)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	v, err := Open(dir, Options{Argon2: opArgon})
	if err != nil {
		t.Fatalf("open the restored vault: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return dir, v, info
}

func opVerify(t *testing.T, v *Vault) audit.Result {
	t.Helper()
	res, err := audit.VerifyStore(v.Store())
	if err != nil || !res.OK {
		t.Fatalf("audit log of the restored vault: %+v, %v", res, err)
	}
	return res
}

func TestBackupRestore(t *testing.T) {
	e := opInit(t, 1, Options{})
	backup, ids, info := opBackup(t, e)
	if bytes.Contains(backup, []byte("张三")) || bytes.Contains(backup, []byte("拖欠工资")) {
		t.Fatal("the backup holds plaintext")
	}
	key, err := os.ReadFile(filepath.Join(e.dir, IdentityFile))
	if err != nil {
		t.Fatal(err)
	}
	dir, v, got := opRestore(t, backup, string(key))
	if got.Vault != info.Vault || got.LogSize != info.LogSize {
		t.Errorf("Restore returned %+v, the backup was %+v", got, info)
	}
	if b, err := os.ReadFile(filepath.Join(dir, IdentityFile)); err != nil || !bytes.Equal(b, key) {
		t.Errorf("the restored vault.key differs from the identity given (%v)", err)
	}
	opCheckReadable(t, v, ids)
	res := opVerify(t, v)
	if res.Size < info.LogSize {
		t.Errorf("restored log has %d entries, the backup started at %d", res.Size, info.LogSize)
	}
	if v.Log().Broken() != "" {
		t.Errorf("restored log broken: %s", v.Log().Broken())
	}
	if _, err := v.Authenticate("admin", opAdminPassword); err != nil {
		t.Errorf("admin login on the restored vault: %v", err)
	}

	// The restored log continues.
	more := opCreate(t, v, 2)
	if _, err := v.Record(opEntry("petition.read")); err != nil {
		t.Fatal(err)
	}
	if after := opVerify(t, v); after.Size <= res.Size {
		t.Errorf("log size %d after new entries, %d before", after.Size, res.Size)
	}
	opCheckReadable(t, v, append(ids, more...))
	if _, err := v.Log().Sign(); err != nil {
		t.Errorf("sign a checkpoint on the restored vault: %v", err)
	}
	// The original keeps working too.
	opCheckReadable(t, e.v, ids)
}

func TestRestoreWithRecoveryIdentity(t *testing.T) {
	e := opInit(t, 2, Options{})
	backup, ids, _ := opBackup(t, e)
	for i, rec := range e.recovery {
		_, v, _ := opRestore(t, backup, "# recovery\n"+rec.String()+"\n")
		opCheckReadable(t, v, ids)
		opVerify(t, v)
		if got := v.Recipient(); got != rec.Recipient().String() {
			t.Errorf("recovery %d: the restored vault's recipient is %s, want the recovery identity's", i, got)
		}
		if _, err := v.CreatePetition(opPetition(1), nil, opEntry("petition.create")); err != nil {
			t.Errorf("recovery %d: create on the restored vault: %v", i, err)
		}
	}
}

func TestRestoreFailures(t *testing.T) {
	e := opInit(t, 1, Options{})
	backup, _, _ := opBackup(t, e)
	key, err := os.ReadFile(filepath.Join(e.dir, IdentityFile))
	if err != nil {
		t.Fatal(err)
	}
	edit := func(at int) []byte {
		b := bytes.Clone(backup)
		b[at] ^= 0x40
		return b
	}
	for _, tt := range []struct {
		name     string
		backup   []byte
		identity string
		want     error // nil: any error
	}{
		{"wrong identity", backup, opNewIdentity(t).String() + "\n", ErrBadBackup},
		{"no identity", backup, "# nothing here\n", nil},
		{"not age", []byte("pvault-backup-1\nhello"), string(key), ErrBadBackup},
		{"empty", nil, string(key), ErrBadBackup},
		{"truncated header", backup[:40], string(key), nil},
		{"truncated early", backup[:len(backup)/10], string(key), nil},
		{"truncated half", backup[:len(backup)/2], string(key), nil},
		{"truncated end", backup[:len(backup)-8], string(key), nil},
		{"edited header", edit(30), string(key), nil},
		{"edited body", edit(len(backup) / 2), string(key), nil},
		{"edited tail", edit(len(backup) - 5), string(key), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "restored")
			_, err := Restore(dir, bytes.NewReader(tt.backup), tt.identity)
			if err == nil {
				t.Fatal("Restore succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Restore: %v, want %v", err, tt.want)
			}
			// Whatever it left behind is not a vault that opens.
			if v, err := Open(dir, Options{}); err == nil {
				v.Close()
				t.Errorf("a failed restore left a vault that opens")
			}
		})
	}

	t.Run("non-empty dir", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Restore(dir, bytes.NewReader(backup), string(key)); !errors.Is(err, ErrExists) {
			t.Errorf("Restore into a non-empty dir: %v, want ErrExists", err)
		}
		if _, err := Restore(e.dir, bytes.NewReader(backup), string(key)); !errors.Is(err, ErrExists) {
			t.Errorf("Restore over the live vault: %v, want ErrExists", err)
		}
	})
}

func TestBackupNeedsABackuper(t *testing.T) {
	g := newOpGate()
	e := opInit(t, 0, Options{Store: g.wrap})
	if _, err := e.v.Backup(&bytes.Buffer{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Backup of a store that cannot back up: %v, want ErrInvalid", err)
	}
}

// opSource serves a vault's log to an audit.Monitor.
type opSource struct{ v *Vault }

func (s opSource) Checkpoint() ([]byte, error) { return s.v.Log().Sign() }

func (s opSource) Consistency(old, new int64) ([]tlog.Hash, error) {
	p, err := s.v.Log().ProveConsistency(old, new)
	if err != nil {
		return nil, err
	}
	return p.Hashes, nil
}

// TestStaleRestoreDetected: an auditor who trusted a checkpoint newer than a
// backup raises a rollback alarm on the restored vault's checkpoint.
func TestStaleRestoreDetected(t *testing.T) {
	e := opInit(t, 1, Options{})
	backup, _, info := opBackup(t, e)
	mon := &audit.Monitor{Key: e.v.Log().VerifierKey(), Dir: t.TempDir()}
	opCreate(t, e.v, 3)
	trusted, _, err := mon.Poll(opSource{e.v})
	if err != nil {
		t.Fatalf("poll the live vault: %v", err)
	}
	// (Restored with the recovery identity: TestBackupRestore covers vault.key.)
	_, v, _ := opRestore(t, backup, e.recovery[0].String()+"\n")
	if v.Log().VerifierKey() != mon.Key {
		t.Fatal("the restored vault signs with another key")
	}
	size := v.Log().Head().Size
	if size >= trusted.Size || size < info.LogSize {
		t.Fatalf("restored log size %d; trusted %d, backup %d", size, trusted.Size, info.LogSize)
	}
	_, _, err = mon.Poll(opSource{v})
	var alarm *audit.AlarmError
	if !errors.As(err, &alarm) || alarm.Kind != "rollback" {
		t.Fatalf("poll the restored vault: %v, want a rollback alarm", err)
	}
	if _, err := os.Stat(filepath.Join(mon.Dir, "alarm-rollback.checkpoint")); err != nil {
		t.Errorf("no evidence kept: %v", err)
	}
	// A restored vault that grows past the trusted size is a fork.
	for range trusted.Size - size + 2 {
		if _, err := v.Record(opEntry("petition.read")); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := mon.Poll(opSource{v}); !errors.As(err, &alarm) || alarm.Kind != "fork" {
		t.Errorf("poll the regrown restored vault: %v, want a fork alarm", err)
	}
}
