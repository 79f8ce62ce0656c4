package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"pvault/audit"
	"pvault/vault"
	"pvault/vault/store"
)

var tlArgon = vault.Argon2Params{Memory: 64, Time: 1, Threads: 1}

// tlInitVault creates a vault in a new directory and returns the directory.
func tlInitVault(tb testing.TB) string {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "vault")
	if _, err := vault.Init(dir, vault.InitOptions{AdminPassword: "admin-password-for-tests", Options: vault.Options{Argon2: tlArgon}}); err != nil {
		tb.Fatalf("init: %v", err)
	}
	return dir
}

// tlSession opens the vault, records n entries and closes it (which signs a
// checkpoint and writes it to the checkpoint file), and returns that
// checkpoint.
func tlSession(tb testing.TB, dir string, n int) []byte {
	tb.Helper()
	v, err := vault.Open(dir, vault.Options{Argon2: tlArgon})
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	for i := range n {
		if _, err := v.Record(&audit.Entry{Action: "petition.read", Decision: audit.Allow, Status: 200,
			Object: &audit.Object{Type: "petition", ID: fmt.Sprintf("p%d", i)}}); err != nil {
			tb.Fatal(err)
		}
	}
	if err := v.Close(); err != nil {
		tb.Fatalf("close: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, vault.CheckpointFile))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// tlFixture is a vault with 3 sessions of entries, its export, verifier key
// and two checkpoints, written as files.
type tlFixture struct {
	dir      string
	export   string
	key      string
	cps      []string // checkpoint files, older first
	lines    [][]byte
	cpSizes  []int64
	tmp      string
	verifier string
}

func tlNewFixture(tb testing.TB) *tlFixture {
	tb.Helper()
	f := &tlFixture{dir: tlInitVault(tb), tmp: tb.TempDir()}
	var signed [][]byte
	signed = append(signed, tlSession(tb, f.dir, 8))
	signed = append(signed, tlSession(tb, f.dir, 9))
	tlSession(tb, f.dir, 4) // an export longer than the checkpoints
	v, err := vault.Open(f.dir, vault.Options{Argon2: tlArgon, ReadOnly: true})
	if err != nil {
		tb.Fatal(err)
	}
	f.verifier = v.Log().VerifierKey()
	var buf bytes.Buffer
	if err := v.Log().Export(&buf, 0, 0); err != nil {
		tb.Fatal(err)
	}
	v.Close()
	f.lines = bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
	f.export = tlWrite(tb, f.tmp, "export.ndjson", buf.Bytes())
	f.key = tlWrite(tb, f.tmp, "verifier.key", []byte(f.verifier+"\n"))
	for i, b := range signed {
		c, err := audit.OpenCheckpoint(b, f.verifier)
		if err != nil {
			tb.Fatal(err)
		}
		f.cpSizes = append(f.cpSizes, c.Size)
		f.cps = append(f.cps, tlWrite(tb, f.tmp, fmt.Sprintf("cp%d.txt", i), b))
	}
	if int64(len(f.lines)) <= f.cpSizes[1] || f.cpSizes[0] >= f.cpSizes[1] {
		tb.Fatalf("fixture: %d lines, checkpoints %v", len(f.lines), f.cpSizes)
	}
	return f
}

func tlWrite(tb testing.TB, dir, name string, b []byte) string {
	tb.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// tlRun runs the command with an environment of env only.
func tlRun(args []string, env map[string]string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	getenv := func(k string) string { return env[k] }
	err = run(context.Background(), args, getenv, &out, &errb)
	return out.String(), errb.String(), err
}

func (f *tlFixture) verifyArgs(export string, cps ...string) []string {
	args := []string{"audit", "verify", "--export", export, "--key", f.key}
	for _, c := range cps {
		args = append(args, "--checkpoint", c)
	}
	return args
}

// tlReport decodes the JSON line audit verify --export prints.
func tlReport(tb testing.TB, stdout string) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &m); err != nil {
		tb.Fatalf("stdout %q: %v", stdout, err)
	}
	return m
}

func TestAuditVerifyExportGood(t *testing.T) {
	f := tlNewFixture(t)
	for _, cps := range [][]string{f.cps, {f.cps[1], f.cps[0]}, {f.cps[0]}, nil} {
		stdout, stderr, err := tlRun(f.verifyArgs(f.export, cps...), nil)
		if err != nil {
			t.Fatalf("verify with %d checkpoints: %v (stderr %q)", len(cps), err, stderr)
		}
		m := tlReport(t, stdout)
		if m["ok"] != true || m["entries"] != float64(len(f.lines)) || m["checkpoints"] != float64(len(cps)) || m["first_bad_seq"] != nil {
			t.Errorf("report = %s", stdout)
		}
	}
	// The key file may lack its final newline.
	f.key = tlWrite(t, f.tmp, "key-no-newline", []byte(f.verifier))
	if _, _, err := tlRun(f.verifyArgs(f.export, f.cps...), nil); err != nil {
		t.Errorf("key without newline: %v", err)
	}
}

func TestAuditVerifyExportTampered(t *testing.T) {
	f := tlNewFixture(t)
	s0, s1 := int(f.cpSizes[0]), int(f.cpSizes[1])
	k := s0 + 2
	for _, tt := range []struct {
		name     string
		change   func([][]byte) [][]byte
		firstBad int
	}{
		{"allow→deny", func(ls [][]byte) [][]byte {
			ls[k] = bytes.Replace(ls[k], []byte(`"decision":"allow"`), []byte(`"decision":"deny"`), 1)
			return ls
		}, k},
		{"insert a line", func(ls [][]byte) [][]byte { return slices.Insert(ls, k, ls[k-2]) }, k},
		{"delete a line", func(ls [][]byte) [][]byte { return slices.Delete(ls, k, k+1) }, k},
		{"reorder two lines", func(ls [][]byte) [][]byte { ls[k], ls[k+1] = ls[k+1], ls[k]; return ls }, k},
		{"truncate below a checkpoint", func(ls [][]byte) [][]byte { return ls[:s1-1] }, s1 - 1},
		{"truncate to nothing", func(ls [][]byte) [][]byte { return nil }, 0},
		{"garbage line", func(ls [][]byte) [][]byte { ls[k] = []byte("{not json"); return ls }, k},
		{"edit the last line a checkpoint covers", func(ls [][]byte) [][]byte {
			ls = ls[:s1]
			ls[s1-1] = bytes.Replace(ls[s1-1], []byte(`"status":200`), []byte(`"status":500`), 1)
			return ls
		}, s1 - 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ls := make([][]byte, len(f.lines))
			for i := range f.lines {
				ls[i] = bytes.Clone(f.lines[i])
			}
			ls = tt.change(ls)
			var buf bytes.Buffer
			for _, l := range ls {
				buf.Write(l)
				buf.WriteByte('\n')
			}
			path := tlWrite(t, t.TempDir(), "tampered.ndjson", buf.Bytes())
			stdout, _, err := tlRun(f.verifyArgs(path, f.cps...), nil)
			if err == nil {
				t.Fatalf("tampered export verified: %s", stdout)
			}
			if code := exitCode(err); code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if want := fmt.Sprintf("entry %d (line %d)", tt.firstBad, tt.firstBad+1); !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %q", err, want)
			}
			m := tlReport(t, stdout)
			if m["ok"] != false || m["first_bad_seq"] != float64(tt.firstBad) || m["first_bad_line"] != float64(tt.firstBad+1) {
				t.Errorf("report = %s", stdout)
			}
		})
	}
}

func TestAuditVerifyExportBadInputs(t *testing.T) {
	f := tlNewFixture(t)
	other, _, err := audit.NewSigner("pvault/audit", ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	c, err := audit.OpenCheckpoint(tlReadFile(t, f.cps[1]), f.verifier)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := audit.SignCheckpoint(c, other)
	if err != nil {
		t.Fatal(err)
	}
	forgedPath := tlWrite(t, f.tmp, "forged.txt", forged)
	_, otherKey, _ := audit.NewSigner("pvault/audit", ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)))
	otherKeyPath := tlWrite(t, f.tmp, "other.key", []byte(otherKey+"\n"))

	for _, tt := range []struct {
		name     string
		args     []string
		exit     int
		contains string
	}{
		{"checkpoint signed by another key", f.verifyArgs(f.export, f.cps[0], forgedPath), 1, "forged.txt"},
		{"wrong verifier key", []string{"audit", "verify", "--export", f.export, "--key", otherKeyPath, "--checkpoint", f.cps[0]}, 1, "cp0.txt"},
		{"checkpoint file is not a checkpoint", f.verifyArgs(f.export, f.export), 1, "export.ndjson"},
		{"missing checkpoint file", f.verifyArgs(f.export, filepath.Join(f.tmp, "nope.txt")), 1, "nope.txt"},
		{"missing export", f.verifyArgs(filepath.Join(f.tmp, "nope.ndjson"), f.cps...), 1, "nope.ndjson"},
		{"no key", []string{"audit", "verify", "--export", f.export}, 1, "--key"},
		{"missing key file", []string{"audit", "verify", "--export", f.export, "--key", filepath.Join(f.tmp, "nokey")}, 1, "nokey"},
		{"no export or data", []string{"audit", "verify"}, 1, "--data"},
		{"unknown flag", []string{"audit", "verify", "--bogus"}, 2, ""},
		{"unknown audit command", []string{"audit", "frobnicate"}, 2, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := tlRun(tt.args, nil)
			if err == nil {
				t.Fatal("no error")
			}
			if code := exitCode(err); code != tt.exit {
				t.Errorf("exit code %d, want %d (%v)", code, tt.exit, err)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q does not mention %q", err, tt.contains)
			}
		})
	}
}

func tlReadFile(tb testing.TB, p string) []byte {
	tb.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestAuditVerifyData(t *testing.T) {
	dir := tlInitVault(t)
	tlSession(t, dir, 5)
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"flag", []string{"audit", "verify", "--data", dir}, nil},
		{"environment", []string{"audit", "verify"}, map[string]string{"PVAULT_DATA": dir}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := tlRun(tt.args, tt.env)
			if err != nil {
				t.Fatalf("verify --data: %v (stderr %q)", err, stderr)
			}
			var res audit.Result
			if err := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &res); err != nil {
				t.Fatalf("stdout %q: %v", stdout, err)
			}
			if !res.OK || res.Size < 6 || res.FirstBadSeq != nil {
				t.Errorf("result = %s", stdout)
			}
		})
	}
	// Verifying is read-only: the log did not grow.
	before := tlHeadSize(t, dir)
	if _, _, err := tlRun([]string{"audit", "verify", "--data", dir}, nil); err != nil {
		t.Fatal(err)
	}
	if after := tlHeadSize(t, dir); after != before {
		t.Errorf("verify changed the log: %d → %d entries", before, after)
	}
	if _, _, err := tlRun([]string{"audit", "verify", "--data", filepath.Join(t.TempDir(), "none")}, nil); err == nil || !strings.Contains(err.Error(), "no vault") {
		t.Errorf("verify of a missing vault: %v", err)
	}
}

func tlHeadSize(tb testing.TB, dir string) int64 {
	tb.Helper()
	v, err := vault.Open(dir, vault.Options{Argon2: tlArgon, ReadOnly: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer v.Close()
	return v.Log().Head().Size
}

func TestAuditVerifyDataDamaged(t *testing.T) {
	dir := tlInitVault(t)
	tlSession(t, dir, 6)
	// Edit entry 3 in the store, as someone with the storage key could.
	v, err := vault.Open(dir, vault.Options{Argon2: tlArgon})
	if err != nil {
		t.Fatal(err)
	}
	key := append([]byte("a/e/"), 0, 0, 0, 0, 0, 0, 0, 3)
	if err := v.Store().Update(func(tx store.Tx) error {
		b, err := tx.Get(key)
		if err != nil {
			return err
		}
		return tx.Set(key, bytes.Replace(b, []byte(`"status":200`), []byte(`"status":201`), 1))
	}); err != nil {
		t.Fatal(err)
	}
	v.Close()
	stdout, _, err := tlRun([]string{"audit", "verify", "--data", dir}, nil)
	if err == nil {
		t.Fatalf("damaged log verified: %s", stdout)
	}
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "entry 3") {
		t.Errorf("error %q (exit %d), want exit 1 naming entry 3", err, exitCode(err))
	}
	var res audit.Result
	if json.Unmarshal([]byte(strings.TrimSpace(stdout)), &res) != nil || res.OK || res.FirstBadSeq == nil || *res.FirstBadSeq != 3 {
		t.Errorf("result = %s", stdout)
	}
}

// tlCopyDir copies the regular files of src into a new directory dst.
func tlCopyDir(tb testing.TB, src, dst string) {
	tb.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o600)
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func TestAuditVerifyDataStaleBackup(t *testing.T) {
	dir := tlInitVault(t)
	tlSession(t, dir, 4)
	backup := filepath.Join(t.TempDir(), "store-backup")
	tlCopyDir(t, filepath.Join(dir, vault.StoreDir), backup)
	tlSession(t, dir, 4)
	// The stale backup is restored underneath the vault; the checkpoint
	// file outside the store still holds the newer checkpoint.
	if err := os.RemoveAll(filepath.Join(dir, vault.StoreDir)); err != nil {
		t.Fatal(err)
	}
	tlCopyDir(t, backup, filepath.Join(dir, vault.StoreDir))

	stdout, _, err := tlRun([]string{"audit", "verify", "--data", dir}, nil)
	if err == nil {
		t.Fatalf("stale store verified: %s", stdout)
	}
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "checkpoint") {
		t.Errorf("error %q (exit %d), want exit 1 about the checkpoint", err, exitCode(err))
	}
	// The vault opens but refuses to record.
	v, err := vault.Open(dir, vault.Options{Argon2: tlArgon})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer v.Close()
	if v.Log().Healthy() || v.Log().Broken() == "" {
		t.Errorf("stale vault healthy")
	}
	if _, err := v.Record(&audit.Entry{Action: "petition.read", Decision: audit.Allow, Status: 200}); !errors.Is(err, audit.ErrUnavailable) {
		t.Errorf("Record on a stale vault: %v, want ErrUnavailable", err)
	}
}

// tlFakeVault serves checkpoints and consistency proofs of an audit log the
// test controls, as /api/v1/audit/… does.
type tlFakeVault struct {
	l    *audit.Log
	mu   sync.Mutex
	cp   []byte // served checkpoint
	auth []string
}

func (fv *tlFakeVault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fv.mu.Lock()
	fv.auth = append(fv.auth, r.Header.Get("Authorization"))
	cp := fv.cp
	fv.mu.Unlock()
	switch r.URL.Path {
	case "/api/v1/audit/checkpoint":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(cp)
	case "/api/v1/audit/proof/consistency":
		old, _ := strconv.ParseInt(r.URL.Query().Get("old"), 10, 64)
		nw, _ := strconv.ParseInt(r.URL.Query().Get("new"), 10, 64)
		p, err := fv.l.ProveConsistency(old, nw)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(p)
	default:
		http.NotFound(w, r)
	}
}

func (fv *tlFakeVault) grow(tb testing.TB, n int) []byte {
	tb.Helper()
	for range n {
		if _, err := fv.l.Append(&audit.Entry{Action: "petition.read", Decision: audit.Allow, Status: 200}, nil); err != nil {
			tb.Fatal(err)
		}
	}
	b, err := fv.l.Sign()
	if err != nil {
		tb.Fatal(err)
	}
	fv.mu.Lock()
	fv.cp = b
	fv.mu.Unlock()
	return b
}

func TestAuditWatch(t *testing.T) {
	s, vkey, err := audit.NewSigner("pvault/audit", ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(store.NewMem(), audit.Options{Signer: s, VerifierKey: vkey, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fv := &tlFakeVault{l: l}
	srv := httptest.NewServer(fv)
	defer srv.Close()
	tmp := t.TempDir()
	key := tlWrite(t, tmp, "vkey", []byte(vkey+"\n"))
	state := filepath.Join(tmp, "state")
	args := []string{"audit", "watch", "--url", srv.URL, "--key", key, "--state", state, "--once"}
	env := map[string]string{"PVAULT_TOKEN": "auditor-token"}

	cp5 := fv.grow(t, 5)
	stdout, stderr, err := tlRun(args, env)
	if err != nil || !strings.Contains(stdout, "trusted checkpoint: size 5") {
		t.Fatalf("first watch: %v, stdout %q, stderr %q", err, stdout, stderr)
	}
	fv.grow(t, 7)
	if stdout, _, err := tlRun(args, env); err != nil || !strings.Contains(stdout, "size 12") {
		t.Fatalf("watch after growth: %v, %q", err, stdout)
	}
	for _, a := range fv.auth {
		if a != "Bearer auditor-token" {
			t.Errorf("Authorization %q, want the token from PVAULT_TOKEN", a)
		}
	}
	// The server rolls back: alarm, exit 3, evidence kept.
	fv.mu.Lock()
	fv.cp = cp5
	fv.mu.Unlock()
	stdout, _, err = tlRun(args, env)
	if err == nil || exitCode(err) != 3 {
		t.Fatalf("rollback: %v (exit %d), want exit 3", err, exitCode(err))
	}
	if !strings.Contains(stdout, "ALARM rollback") {
		t.Errorf("stdout %q lacks the alarm", stdout)
	}
	if b, err := os.ReadFile(filepath.Join(state, "alarm-rollback.checkpoint")); err != nil || !bytes.Equal(b, cp5) {
		t.Errorf("evidence = %q, %v", b, err)
	}
	// A server that cannot be reached is an error, not an alarm.
	srv.Close()
	if _, _, err := tlRun(args, env); err == nil || exitCode(err) == 3 {
		t.Errorf("unreachable server: %v (exit %d)", err, exitCode(err))
	}
	// Missing flags.
	if _, _, err := tlRun([]string{"audit", "watch", "--url", srv.URL}, nil); err == nil {
		t.Error("watch without --key and --state succeeded")
	}
}
