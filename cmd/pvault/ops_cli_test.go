package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"

	"pvault/api"
	"pvault/audit"
	"pvault/vault"
)

// Tests of the operations commands (issue 8): keys rotate, keys passphrase,
// backup, restore, and the archive opened with the stock age command.
// Helpers are prefixed op.

var opArgon = vault.Argon2Params{Memory: 64, Time: 1, Threads: 1}

const opAdminPassword = "op-admin-password-for-tests"

// opRun runs the command line with an environment of env only.
func opRun(env map[string]string, args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	err = run(context.Background(), args, func(k string) string { return env[k] }, &out, &errb)
	return out.String(), errb.String(), err
}

func opMustRun(tb testing.TB, env map[string]string, args ...string) string {
	tb.Helper()
	out, errOut, err := opRun(env, args...)
	if err != nil {
		tb.Fatalf("pvault %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func opIdentity(tb testing.TB) *age.X25519Identity {
	tb.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func opWrite(tb testing.TB, dir, name string, b []byte) string {
	tb.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

func opEntry(action string) *audit.Entry {
	return &audit.Entry{RequestID: audit.NewRequestID(), Action: action, Decision: audit.Allow, Status: 200}
}

const opContent = "我们在三号工地干了三个月，项目部一直拖欠工资。"

// opVault creates a stopped vault with recovery recipients and n petitions
// (the first closed, with a reply and a note) and returns its directory and
// the petition ids.
func opVault(tb testing.TB, n int, recovery ...string) (string, []string) {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "data")
	if _, err := vault.Init(dir, vault.InitOptions{AdminPassword: opAdminPassword, Recovery: recovery, Options: vault.Options{Argon2: opArgon}}); err != nil {
		tb.Fatalf("init: %v", err)
	}
	v, err := vault.Open(dir, vault.Options{Argon2: opArgon})
	if err != nil {
		tb.Fatal(err)
	}
	defer v.Close()
	admin, err := v.UserByName("admin")
	if err != nil {
		tb.Fatal(err)
	}
	var ids []string
	for i := range n {
		c, err := v.CreatePetition(vault.NewPetition{Unit: "group/east", Channel: "letter", Title: fmt.Sprintf("拖欠工资 %d", i), Content: opContent,
			Petitioner: &vault.Petitioner{Name: "张三", IDNumber: "110101199003074578", Phone: "13812345678"}}, admin, opEntry("petition.create"))
		if err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, c.Meta.ID)
	}
	if n > 0 {
		if _, _, err := v.AddNote(ids[0], "已电话联系项目部。", admin, opEntry("petition.note")); err != nil {
			tb.Fatal(err)
		}
		for _, in := range []vault.ActionInput{{Action: vault.ActAccept}, {Action: vault.ActReply, Text: "经核实，工资已于本月补发。"}, {Action: vault.ActClose}} {
			if _, _, err := v.Act(ids[0], in, admin, opEntry("petition.action")); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := v.Close(); err != nil {
		tb.Fatal(err)
	}
	return dir, ids
}

// opCheckVault opens a stopped vault and reads every petition; the audit
// log must verify.
func opCheckVault(tb testing.TB, dir string, ids []string) {
	tb.Helper()
	v, err := vault.Open(dir, vault.Options{Argon2: opArgon})
	if err != nil {
		tb.Fatalf("open %s: %v", dir, err)
	}
	defer v.Close()
	for _, id := range ids {
		m, err := v.Meta(id)
		if err != nil {
			tb.Fatal(err)
		}
		if c, err := v.OpenContent(id); err != nil || c.Content != opContent {
			tb.Errorf("content of %s: %v", id, err)
		}
		if p, err := v.OpenIdentity(m); err != nil || p.Name != "张三" {
			tb.Errorf("identity of %s: %v", id, err)
		}
		if _, err := v.Events(id); err != nil {
			tb.Errorf("events of %s: %v", id, err)
		}
	}
	if res, err := audit.VerifyStore(v.Store()); err != nil || !res.OK {
		tb.Errorf("audit log of %s: %+v, %v", dir, res, err)
	}
}

var opProgressRE = regexp.MustCompile(`\[(#*)(\.*)\] (\d+)/(\d+)`)

func TestOpsCLIKeysRotate(t *testing.T) {
	r1, r2 := opIdentity(t), opIdentity(t)
	dir, ids := opVault(t, 8, r1.Recipient().String())
	before, _ := os.ReadFile(filepath.Join(dir, vault.IdentityFile))

	out := opMustRun(t, nil, "keys", "rotate", "--data", dir)
	bars := opProgressRE.FindAllStringSubmatch(out, -1)
	if len(bars) == 0 {
		t.Fatalf("no progress bar in %q", out)
	}
	last := bars[len(bars)-1]
	if last[3] != last[4] || len(last[1]) != 40 || last[2] != "" {
		t.Errorf("last progress bar %q, want a full bar", last[0])
	}
	if !strings.Contains(out, "keys rotated") || !strings.Contains(out, "records re-encrypted") {
		t.Errorf("keys rotate printed %q", out)
	}
	after, _ := os.ReadFile(filepath.Join(dir, vault.IdentityFile))
	if bytes.Equal(before, after) || len(after) == 0 {
		t.Error("keys rotate did not replace vault.key")
	}
	for _, f := range []string{vault.OldIdentityFile, vault.OldSealedIdentityFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after keys rotate: %v", f, err)
		}
	}
	opCheckVault(t, dir, ids)

	// Recovery recipients, through PVAULT_DATA.
	out = opMustRun(t, map[string]string{"PVAULT_DATA": dir}, "keys", "rotate", "--keep-identity",
		"--add-recovery", r2.Recipient().String(), "--remove-recovery", r1.Recipient().String())
	if !strings.Contains(out, "keys rotated") {
		t.Errorf("keys rotate --keep-identity printed %q", out)
	}
	if now, _ := os.ReadFile(filepath.Join(dir, vault.IdentityFile)); !bytes.Equal(now, after) {
		t.Error("--keep-identity replaced vault.key")
	}
	v, err := vault.Open(dir, vault.Options{Argon2: opArgon})
	if err != nil {
		t.Fatal(err)
	}
	if got := v.ArchiveRecipients(); !slices.Equal(got, []string{r2.Recipient().String()}) {
		t.Errorf("recovery recipients after the CLI change: %v", got)
	}
	v.Close()
	opCheckVault(t, dir, ids)

	_, _, err = opRun(nil, "keys", "rotate", "--data", dir, "--remove-recovery", r1.Recipient().String())
	if err == nil || !strings.Contains(err.Error(), "remove_recovery") {
		t.Errorf("removing a recipient the vault does not have: %v", err)
	}
}

func TestOpsCLIKeysPassphrase(t *testing.T) {
	dir, ids := opVault(t, 2)
	tmp := t.TempDir()
	pass := opWrite(t, tmp, "pass", []byte("a new passphrase\n"))
	empty := opWrite(t, tmp, "empty", nil)

	out := opMustRun(t, nil, "keys", "passphrase", "--data", dir, "--new-passphrase-file", pass)
	if !strings.Contains(out, "passphrase changed") {
		t.Errorf("keys passphrase printed %q", out)
	}
	if _, err := os.Stat(filepath.Join(dir, vault.IdentityFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the plain vault.key is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, vault.SealedIdentityFile)); err != nil {
		t.Errorf("no %s: %v", vault.SealedIdentityFile, err)
	}
	_, _, err := opRun(nil, "backup", "--data", dir, "--out", filepath.Join(tmp, "b.age"))
	if !errors.Is(err, vault.ErrPassphrase) {
		t.Errorf("a command without the passphrase: %v, want ErrPassphrase", err)
	}
	if _, err := os.Stat(filepath.Join(tmp, "b.age")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed backup left its file: %v", err)
	}
	// Back to a plain identity, with the passphrase from the environment.
	out = opMustRun(t, map[string]string{"PVAULT_PASSPHRASE": "a new passphrase"}, "keys", "passphrase", "--data", dir, "--new-passphrase-file", empty)
	if !strings.Contains(out, "without a passphrase") {
		t.Errorf("keys passphrase to none printed %q", out)
	}
	opCheckVault(t, dir, ids)
}

func TestOpsCLIBackupRestore(t *testing.T) {
	rec := opIdentity(t)
	dir, ids := opVault(t, 5, rec.Recipient().String())
	tmp := t.TempDir()
	file := filepath.Join(tmp, "backup.age")
	out := opMustRun(t, nil, "backup", "--data", dir, "--out", file)
	if !strings.Contains(out, "wrote a backup") || !strings.Contains(out, file) {
		t.Errorf("backup printed %q", out)
	}
	if _, _, err := opRun(nil, "backup", "--data", dir, "--out", file); err == nil {
		t.Error("backup overwrote an existing file")
	}
	key := filepath.Join(dir, vault.IdentityFile)
	recFile := opWrite(t, tmp, "recovery.key", []byte(rec.String()+"\n"))
	strangerFile := opWrite(t, tmp, "stranger.key", []byte(opIdentity(t).String()+"\n"))

	t.Run("vault identity", func(t *testing.T) {
		into := filepath.Join(t.TempDir(), "restored")
		out := opMustRun(t, nil, "restore", "--data", into, "--from", file, "--identity", key)
		if !strings.Contains(out, "restored") || !strings.Contains(out, "log verifies") {
			t.Errorf("restore printed %q", out)
		}
		opCheckVault(t, into, ids)
		_, _, err := opRun(nil, "restore", "--data", into, "--from", file, "--identity", key)
		if !errors.Is(err, vault.ErrExists) {
			t.Errorf("restore into a non-empty dir: %v, want ErrExists", err)
		}
	})
	t.Run("recovery identity", func(t *testing.T) {
		into := filepath.Join(t.TempDir(), "restored")
		opMustRun(t, map[string]string{"PVAULT_DATA": into}, "restore", "--from", file, "--identity", recFile)
		opCheckVault(t, into, ids)
	})
	t.Run("wrong identity", func(t *testing.T) {
		into := filepath.Join(t.TempDir(), "restored")
		_, _, err := opRun(nil, "restore", "--data", into, "--from", file, "--identity", strangerFile)
		if !errors.Is(err, vault.ErrBadBackup) {
			t.Errorf("restore with a stranger's identity: %v, want ErrBadBackup", err)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		b, _ := os.ReadFile(file)
		cut := opWrite(t, t.TempDir(), "cut.age", b[:len(b)/2])
		into := filepath.Join(t.TempDir(), "restored")
		if _, _, err := opRun(nil, "restore", "--data", into, "--from", cut, "--identity", key); err == nil {
			t.Error("a truncated backup restored")
		}
	})

	t.Run("from a running server", func(t *testing.T) {
		v, err := vault.Open(dir, vault.Options{Argon2: opArgon})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		srv, err := api.New(api.Config{Vault: v})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv)
		defer ts.Close()
		resp, err := http.Post(ts.URL+"/api/v1/auth/login", "application/json",
			strings.NewReader(`{"username":"admin","password":"`+opAdminPassword+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		var login struct{ Token string }
		json.NewDecoder(resp.Body).Decode(&login)
		resp.Body.Close()
		if login.Token == "" {
			t.Fatalf("login: %s", resp.Status)
		}
		online := filepath.Join(t.TempDir(), "online.age")
		tokenFile := opWrite(t, t.TempDir(), "token", []byte(login.Token+"\n"))
		out := opMustRun(t, nil, "backup", "--url", ts.URL, "--token-file", tokenFile, "--out", online)
		if !strings.Contains(out, "wrote a") {
			t.Errorf("backup --url printed %q", out)
		}
		_, _, err = opRun(map[string]string{"PVAULT_TOKEN": "not-a-token"}, "backup", "--url", ts.URL, "--out", filepath.Join(t.TempDir(), "x.age"))
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("backup --url with a bad token: %v", err)
		}
		v.Close()
		into := filepath.Join(t.TempDir(), "restored")
		opMustRun(t, nil, "restore", "--data", into, "--from", online, "--identity", recFile)
		opCheckVault(t, into, ids)
	})
}

func TestOpsCLIErrors(t *testing.T) {
	dir, _ := opVault(t, 0)
	tmp := t.TempDir()
	key := filepath.Join(dir, vault.IdentityFile)
	for _, tt := range []struct {
		name  string
		args  []string
		usage bool   // errUsage
		want  string // in the error
	}{
		{"keys alone", []string{"keys"}, true, ""},
		{"keys unknown", []string{"keys", "spin"}, true, ""},
		{"keys bad flag", []string{"keys", "rotate", "--data", dir, "--frobnicate"}, true, ""},
		{"rotate without data", []string{"keys", "rotate"}, false, "--data DIR is required"},
		{"rotate no vault", []string{"keys", "rotate", "--data", filepath.Join(tmp, "none")}, false, "no vault"},
		{"rotate bad recipient", []string{"keys", "rotate", "--data", dir, "--add-recovery", "age1nope"}, false, "add_recovery"},
		{"passphrase without data", []string{"keys", "passphrase"}, false, "--data DIR is required"},
		{"passphrase without new file", []string{"keys", "passphrase", "--data", dir}, false, "--new-passphrase-file is required"},
		{"passphrase missing file", []string{"keys", "passphrase", "--data", dir, "--new-passphrase-file", filepath.Join(tmp, "none")}, false, "none"},
		{"backup without out", []string{"backup", "--data", dir}, false, "--out FILE is required"},
		{"backup without source", []string{"backup", "--out", filepath.Join(tmp, "b1.age")}, false, "--data DIR or --url URL is required"},
		{"backup bad flag", []string{"backup", "--zip"}, true, ""},
		{"restore alone", []string{"restore"}, false, "are required"},
		{"restore without identity", []string{"restore", "--data", filepath.Join(tmp, "r"), "--from", key}, false, "--identity FILE"},
		{"restore without from", []string{"restore", "--data", filepath.Join(tmp, "r"), "--identity", key}, false, "--from FILE"},
		{"restore missing backup", []string{"restore", "--data", filepath.Join(tmp, "r"), "--from", filepath.Join(tmp, "none"), "--identity", key}, false, "none"},
		{"restore missing identity", []string{"restore", "--data", filepath.Join(tmp, "r"), "--from", key, "--identity", filepath.Join(tmp, "none")}, false, "none"},
		{"restore not a backup", []string{"restore", "--data", filepath.Join(tmp, "r"), "--from", key, "--identity", key}, false, "restore"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := opRun(nil, tt.args...)
			switch {
			case err == nil:
				t.Fatalf("pvault %s succeeded", strings.Join(tt.args, " "))
			case tt.usage && !errors.Is(err, errUsage):
				t.Errorf("error %v, want a usage error", err)
			case !tt.usage && !strings.Contains(err.Error(), tt.want):
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if tt.usage && exitCode(err) != 2 {
				t.Errorf("exit code %d, want 2", exitCode(err))
			}
		})
	}
	if _, err := os.Stat(filepath.Join(tmp, "b1.age")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed backup left its output file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(tmp, "r")); err == nil {
		entries, _ := os.ReadDir(filepath.Join(tmp, "r"))
		if slices.ContainsFunc(entries, func(e os.DirEntry) bool { return e.Name() == vault.IdentityFile }) {
			t.Error("a failed restore left a vault identity")
		}
	}
}

// opAgeBinary finds the stock age command: on PATH or in GOPATH/bin.
func opAgeBinary(tb testing.TB) string {
	tb.Helper()
	if p, err := exec.LookPath("age"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			p := filepath.Join(dir, "bin", "age")
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				return p
			}
		}
	}
	if os.Getenv("PVAULT_REQUIRE_AGE") != "" {
		tb.Fatal("PVAULT_REQUIRE_AGE is set but the age command is neither on PATH nor in $(go env GOPATH)/bin")
	}
	tb.Skip("the stock age command is not installed (go install filippo.io/age/cmd/...@v1.3.2)")
	return ""
}

func TestOpsArchiveStockAge(t *testing.T) {
	ageBin := opAgeBinary(t)
	rec := opIdentity(t)
	dir, ids := opVault(t, 2, rec.Recipient().String())
	v, err := vault.Open(dir, vault.Options{Argon2: opArgon})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	var tarball bytes.Buffer
	man, err := v.Archive(&tarball, vault.ArchiveQuery{Status: vault.StatusClosed}, v.ArchiveRecipients())
	if err != nil {
		t.Fatal(err)
	}
	if len(man.Items) != 1 || man.Items[0].ID != ids[0] {
		t.Fatalf("archive manifest %+v, want the closed petition %s", man.Items, ids[0])
	}
	tmp := t.TempDir()
	tr := tar.NewReader(&tarball)
	member := ""
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if h.Name == ids[0]+".age" {
			member = opWrite(t, tmp, h.Name, b)
		}
	}
	if member == "" {
		t.Fatalf("no member %s.age", ids[0])
	}
	keyFile := opWrite(t, tmp, "recovery.key", []byte("# archive identity\n"+rec.String()+"\n"))
	cmd := exec.Command(ageBin, "--decrypt", "-i", keyFile, member)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pt, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s --decrypt: %v: %s", ageBin, err, stderr.String())
	}
	var ar struct {
		Meta       struct{ ID, Status string }
		Content    struct{ Title, Content string }
		Petitioner struct {
			Name     string
			IDNumber string `json:"id_number"`
		}
		Events []struct{ Type, Action, Text string }
	}
	if err := json.Unmarshal(pt, &ar); err != nil {
		t.Fatalf("the decrypted member is not JSON: %v: %.200s", err, pt)
	}
	if ar.Meta.ID != ids[0] || ar.Meta.Status != vault.StatusClosed || ar.Content.Content != opContent ||
		ar.Petitioner.Name != "张三" || ar.Petitioner.IDNumber != "110101199003074578" {
		t.Errorf("decrypted member %s", pt)
	}
	var texts []string
	for _, e := range ar.Events {
		texts = append(texts, e.Text)
	}
	if len(ar.Events) < 4 || !slices.Contains(texts, "经核实，工资已于本月补发。") || !slices.Contains(texts, "已电话联系项目部。") {
		t.Errorf("decrypted events %+v lack the reply and the note", ar.Events)
	}

	// A stranger's identity does not open it.
	other := opWrite(t, tmp, "other.key", []byte(opIdentity(t).String()+"\n"))
	if err := exec.Command(ageBin, "--decrypt", "-i", other, member).Run(); err == nil {
		t.Error("age decrypted the member with a stranger's identity")
	}

	// Backups are standard age files too: the recovery identity opens one.
	var backup bytes.Buffer
	if _, err := v.Backup(&backup); err != nil {
		t.Fatal(err)
	}
	bfile := opWrite(t, tmp, "backup.age", backup.Bytes())
	cmd = exec.Command(ageBin, "--decrypt", "-i", keyFile, bfile)
	cmd.Stderr = &stderr
	plain, err := cmd.Output()
	if err != nil {
		t.Fatalf("age --decrypt of a backup: %v: %s", err, stderr.String())
	}
	if !bytes.HasPrefix(plain, []byte("pvault-backup-1\n")) {
		t.Errorf("a decrypted backup starts %q", plain[:min(len(plain), 20)])
	}
}
