package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"pvault/audit"
	"pvault/vault"
	"pvault/vault/store"
)

// The commands that create and serve a vault, run in-process as main runs
// them: init with its password and passphrase sources and recovery
// recipients, serve refusing what it cannot open, serve --dev creating a
// vault on first start only, and user add|passwd.

func TestInitCLIRecoveryAndPasswordFile(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "data")
	rec1, rec2 := opIdentity(t), opIdentity(t)
	const pw = "init-admin-password-1"
	pwFile := opWrite(t, tmp, "admin.pw", []byte(pw+"\n"))
	out := opMustRun(t, nil, "init", "--data", dir, "--recovery-recipient", rec1.Recipient().String(),
		"--recovery-recipient", rec2.Recipient().String(), "--admin-password-file", pwFile)
	if strings.Contains(out, pw) || strings.Contains(out, "password:") {
		t.Errorf("init printed the password it was given:\n%s", out)
	}
	fi, err := os.Stat(filepath.Join(dir, vault.IdentityFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", vault.IdentityFile, fi.Mode().Perm())
	}
	v, err := vault.Open(dir, vaultOptions(""))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	admin, err := v.Authenticate("admin", pw)
	if err != nil {
		t.Fatalf("the admin cannot log in with the password file's password: %v", err)
	}
	c, err := v.CreatePetition(vault.NewPetition{Unit: "group", Channel: "letter", Title: "拖欠工资", Content: opContent}, admin, opEntry("petition.create"))
	if err != nil {
		t.Fatal(err)
	}
	var env []byte
	if err := v.Store().View(func(r store.Reader) error {
		env, err = r.Get([]byte("p/" + c.Meta.ID + "/c"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for i, id := range []*age.X25519Identity{rec1, rec2} {
		r, err := age.Decrypt(bytes.NewReader(env), id)
		if err != nil {
			t.Fatalf("recovery recipient %d cannot open the content envelope: %v", i+1, err)
		}
		if b, _ := io.ReadAll(r); !bytes.Contains(b, []byte("拖欠工资")) {
			t.Errorf("recovery recipient %d: content %q", i+1, b)
		}
	}
	if _, err := age.Decrypt(bytes.NewReader(env), opIdentity(t)); err == nil {
		t.Error("a stranger's identity opened the envelope")
	}
	v.Close()
	// A second init never overwrites a vault.
	if _, _, err := opRun(nil, "init", "--data", dir, "--admin-password-file", pwFile); err == nil {
		t.Error("init over an existing vault succeeded")
	}
	// A recipient that is not an age X25519 recipient is refused.
	if _, _, err := opRun(nil, "init", "--data", filepath.Join(tmp, "bad"), "--recovery-recipient", "age1notarecipient"); err == nil {
		t.Error("init accepted a malformed recovery recipient")
	}
}

func TestInitCLIPasswordSources(t *testing.T) {
	t.Run("environment", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		const pw = "env-admin-password-22"
		out := opMustRun(t, map[string]string{"PVAULT_ADMIN_PASSWORD": pw}, "init", "--data", dir)
		if strings.Contains(out, pw) {
			t.Errorf("init printed the password from the environment:\n%s", out)
		}
		cliAuthenticate(t, dir, "", "admin", pw)
	})
	t.Run("generated and printed once", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		out := opMustRun(t, nil, "init", "--data", dir)
		m := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(out)
		if m == nil || len(m[1]) < 12 {
			t.Fatalf("init did not print a generated password:\n%s", out)
		}
		if strings.Count(out, m[1]) != 1 {
			t.Errorf("the password is printed %d times", strings.Count(out, m[1]))
		}
		cliAuthenticate(t, dir, "", "admin", m[1])
	})
	t.Run("passphrase-protected identity", func(t *testing.T) {
		tmp := t.TempDir()
		dir := filepath.Join(tmp, "data")
		passFile := opWrite(t, tmp, "pass", []byte("a vault passphrase for tests\n"))
		opMustRun(t, map[string]string{"PVAULT_ADMIN_PASSWORD": "env-admin-password-22"}, "init", "--data", dir, "--passphrase-file", passFile)
		if _, err := os.Stat(filepath.Join(dir, vault.IdentityFile)); !os.IsNotExist(err) {
			t.Errorf("a plain %s exists beside the sealed identity (%v)", vault.IdentityFile, err)
		}
		b, err := os.ReadFile(filepath.Join(dir, vault.SealedIdentityFile))
		if err != nil || !bytes.HasPrefix(b, []byte("age-encryption.org/v1\n-> scrypt ")) {
			t.Fatalf("%s is not an age scrypt file: %v %.60q", vault.SealedIdentityFile, err, b)
		}
		if bytes.Contains(b, []byte("AGE-SECRET-KEY")) {
			t.Error("the sealed identity file holds the identity in clear")
		}
		_, _, err = opRun(nil, "serve", "--data", dir, "--addr", "127.0.0.1:0")
		if err == nil || !strings.Contains(err.Error(), "passphrase") {
			t.Errorf("serve without the passphrase: %v, want a clear passphrase error", err)
		}
		wrong := opWrite(t, tmp, "wrong", []byte("not the passphrase\n"))
		if _, _, err := opRun(nil, "serve", "--data", dir, "--addr", "127.0.0.1:0", "--passphrase-file", wrong); err == nil || !strings.Contains(err.Error(), "cannot unseal") {
			t.Errorf("serve with a wrong passphrase: %v", err)
		}
		cliAuthenticate(t, dir, "a vault passphrase for tests", "admin", "env-admin-password-22")
	})
}

func cliAuthenticate(t *testing.T, dir, pass, user, pw string) {
	t.Helper()
	v, err := vault.Open(dir, vaultOptions(pass))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Authenticate(user, pw); err != nil {
		t.Errorf("%s cannot log in: %v", user, err)
	}
}

func TestServeRefusesMissingOrWrongVault(t *testing.T) {
	tmp := t.TempDir()
	_, _, err := opRun(nil, "serve", "--data", filepath.Join(tmp, "none"), "--addr", "127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), "no vault in") || !strings.Contains(err.Error(), "pvault init") {
		t.Errorf("serve on a missing vault: %v", err)
	}
	if _, err := os.Stat(filepath.Join(tmp, "none", vault.IdentityFile)); !os.IsNotExist(err) {
		t.Error("serve without --dev created a vault")
	}
	a, b := filepath.Join(tmp, "a"), filepath.Join(tmp, "b")
	env := map[string]string{"PVAULT_ADMIN_PASSWORD": "env-admin-password-22"}
	opMustRun(t, env, "init", "--data", a)
	opMustRun(t, env, "init", "--data", b)
	key, err := os.ReadFile(filepath.Join(b, vault.IdentityFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a, vault.IdentityFile), key, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = opRun(nil, "serve", "--data", a, "--addr", "127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), "cannot open the vault") {
		t.Errorf("serve with another vault's key: %v", err)
	}
}

// serveDev runs serve --dev until stop is called; it returns the base URL
// and what serve printed by then.
func serveDev(t *testing.T, dir string) (base string, out *opSyncBuf, stop func()) {
	t.Helper()
	return serveDevLog(t, dir, io.Discard, "--log-level", "error")
}

// serveDevLog is serveDev with its log written to stderr and more flags.
func serveDevLog(t *testing.T, dir string, stderr io.Writer, flags ...string) (base string, out *opSyncBuf, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = &opSyncBuf{}
	done := make(chan error, 1)
	args := append([]string{"serve", "--dev", "--data", dir, "--addr", "127.0.0.1:0", "--sweep-interval", "0"}, flags...)
	go func() {
		done <- run(ctx, args, func(string) string { return "" }, out, stderr)
	}()
	re := regexp.MustCompile(`listening on (http://\S+)`)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve --dev ended: %v\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve --dev never listened:\n%s", out.String())
		}
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve --dev after shutdown: %v", err)
		}
	}
	t.Cleanup(stop)
	return base, out, stop
}

func httpLogin(t *testing.T, base, user, pw string) (int, string) {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"username": user, "password": pw})
	resp, err := http.Post(base+"/api/v1/auth/login", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Token string `json:"token"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Token
}

func TestServeDevCreatesOnFirstStartOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pvault-data")
	base, out, stop := serveDev(t, dir)
	m := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(out.String())
	if m == nil || !strings.Contains(out.String(), "user:     admin") {
		t.Fatalf("serve --dev did not print the new admin's credentials:\n%s", out.String())
	}
	pw := m[1]
	code, token := httpLogin(t, base, "admin", pw)
	if code != http.StatusOK || token == "" {
		t.Fatalf("login with the printed password: %d", code)
	}
	req, _ := http.NewRequest("GET", base+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var me struct {
		Username string `json:"username"`
	}
	json.NewDecoder(resp.Body).Decode(&me)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || me.Username != "admin" {
		t.Errorf("GET /me: %d %+v", resp.StatusCode, me)
	}
	stop()

	// The second start opens the same vault and prints no credentials.
	base, out, stop = serveDev(t, dir)
	if strings.Contains(out.String(), "created a new vault") || strings.Contains(out.String(), pw) {
		t.Errorf("the second serve --dev printed credentials again:\n%s", out.String())
	}
	if code, _ := httpLogin(t, base, "admin", pw); code != http.StatusOK {
		t.Errorf("after a restart the admin's password no longer works: %d", code)
	}
	stop()

	// Each request was audited, across both runs, and the log verifies.
	if _, _, err := opRun(nil, "audit", "verify", "--data", dir); err != nil {
		t.Errorf("audit verify after serve --dev: %v", err)
	}
}

func TestUserCLI(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "data")
	opMustRun(t, map[string]string{"PVAULT_ADMIN_PASSWORD": "env-admin-password-22"}, "init", "--data", dir)
	pwFile := opWrite(t, tmp, "pw", []byte("officer-password-333\n"))
	out := opMustRun(t, nil, "user", "add", "--data", dir, "--username", "officer1", "--unit", "group/east", "--roles", "officer", "--password-file", pwFile)
	if strings.Contains(out, "officer-password-333") {
		t.Errorf("user add printed the password it was given:\n%s", out)
	}
	cliAuthenticate(t, dir, "", "officer1", "officer-password-333")
	// passwd without a file generates a new password and prints it once.
	out = opMustRun(t, nil, "user", "passwd", "--data", dir, "--username", "officer1")
	m := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("user passwd printed no new password:\n%s", out)
	}
	cliAuthenticate(t, dir, "", "officer1", m[1])
	v, err := vault.Open(dir, vaultOptions(""))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Authenticate("officer1", "officer-password-333"); err == nil {
		t.Error("the old password still works after user passwd")
	}
	// Both changes are in the audit log.
	var actions []string
	entries, _, err := v.Log().Entries(audit.Filter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		actions = append(actions, e.Action)
	}
	v.Close()
	if got := strings.Join(actions, " "); !strings.Contains(got, "user.create") || !strings.Contains(got, "user.update") {
		t.Errorf("audit actions %q, want user.create and user.update", got)
	}
	for _, bad := range [][]string{
		{"user", "add", "--data", dir, "--username", "x2", "--unit", "group", "--roles", "nosuchrole", "--password-file", pwFile},
		{"user", "add", "--data", dir, "--username", "officer1", "--unit", "group", "--roles", "officer", "--password-file", pwFile},
		{"user", "passwd", "--data", dir, "--username", "ghost"},
		{"user", "add", "--data", dir},
		{"user", "remove", "--data", dir, "--username", "officer1"},
	} {
		if _, _, err := opRun(nil, bad...); err == nil {
			t.Errorf("%v succeeded", bad)
		}
	}
}

func TestSweepCLI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := vault.Init(dir, vault.InitOptions{AdminPassword: opAdminPassword, Options: vault.Options{Argon2: opArgon}}); err != nil {
		t.Fatal(err)
	}
	// A petition registered 40 days ago: its 15 days to accept are over.
	past := time.Now().Add(-40 * 24 * time.Hour)
	v, err := vault.Open(dir, vault.Options{Argon2: opArgon, Now: func() time.Time { return past }})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := v.UserByName("admin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.CreatePetition(vault.NewPetition{Unit: "group", Channel: "letter", Title: "拖欠工资", Content: opContent}, admin, opEntry("petition.create")); err != nil {
		t.Fatal(err)
	}
	v.Close()

	var rep vault.SweepReport
	out := opMustRun(t, nil, "sweep", "--data", dir)
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("sweep output %q: %v", out, err)
	}
	if rep.Checked != 1 || rep.Alerts != 1 {
		t.Errorf("first sweep %+v, want the overdue petition checked and alerted", rep)
	}
	out = opMustRun(t, nil, "sweep", "--data", dir)
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Alerts != 0 {
		t.Errorf("second sweep %q (%v): an alert raised twice", out, err)
	}

	// Through a running server, as an admin; refused without the right.
	base, _, stop := serveDev(t, dir)
	defer stop()
	code, token := httpLogin(t, base, "admin", opAdminPassword)
	if code != http.StatusOK {
		t.Fatalf("login: %d", code)
	}
	out = opMustRun(t, map[string]string{"PVAULT_TOKEN": token}, "sweep", "--url", base)
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Checked != 1 {
		t.Errorf("sweep --url: %q (%v)", out, err)
	}
	if _, _, err := opRun(map[string]string{"PVAULT_TOKEN": "not-a-token"}, "sweep", "--url", base); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("sweep --url with a bad token: %v", err)
	}
	if _, _, err := opRun(nil, "sweep"); err == nil {
		t.Error("sweep without --data or --url succeeded")
	}
}

func TestAnalysisCLIRetrain(t *testing.T) {
	if testing.Short() {
		t.Skip("retraining takes a few seconds")
	}
	dir, ids := opVault(t, 1)
	v, err := vault.Open(dir, vault.Options{Argon2: opArgon})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := v.UserByName("admin")
	if err != nil {
		t.Fatal(err)
	}
	m, err := v.Meta(ids[0])
	if err != nil {
		t.Fatal(err)
	}
	label := v.Model().Labels[0]
	if m.Category != nil && m.Category.Label == label {
		label = v.Model().Labels[1]
	}
	if _, _, err := v.Act(ids[0], vault.ActionInput{Action: vault.ActCategorize, Label: label}, admin, opEntry("petition.categorize")); err != nil {
		t.Fatal(err)
	}
	shipped := v.Model().Digest
	v.Close()

	out := opMustRun(t, nil, "analysis", "retrain", "--data", dir)
	if !strings.Contains(out, "and 1 officer corrections") {
		t.Errorf("retrain output %q, want one correction used", out)
	}
	b, err := os.ReadFile(filepath.Join(dir, vault.ModelFile))
	if err != nil || !bytes.HasPrefix(b, []byte("age-encryption.org/v1\n")) {
		t.Fatalf("the retrained model is not a sealed age file: %v", err)
	}
	v, err = vault.Open(dir, vault.Options{Argon2: opArgon})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if v.Model().Digest == shipped || v.Model().Digest == "" {
		t.Errorf("the vault still uses the shipped model after retrain (digest %q)", v.Model().Digest)
	}
}

// TestServeLogBatched: info lines wait for their batch (here 10 s), and
// shutdown writes what is left.
func TestServeLogBatched(t *testing.T) {
	var log opSyncBuf
	base, _, stop := serveDevLog(t, filepath.Join(t.TempDir(), "v"), &log, "--log-level", "info", "--log-flush-interval", "10s")
	get := func(path string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	get("/api/v1/me") // 401: an info line
	if strings.Contains(log.String(), `"route":"/api/v1/me"`) {
		t.Fatalf("the access line was written at once with 10 s batching:\n%s", log.String())
	}
	stop()
	if !strings.Contains(log.String(), `"route":"/api/v1/me"`) || !strings.Contains(log.String(), `"msg":"shutting down"`) {
		t.Errorf("shutdown did not write the held lines:\n%s", log.String())
	}
}
