package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"pvault/audit"
	"pvault/vault"
)

// cmdKeys rotates keys and changes the passphrase of a stopped vault.
func cmdKeys(args []string, getenv env, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "rotate" && args[0] != "passphrase") {
		fmt.Fprintln(stderr, "usage: pvault keys rotate|passphrase --data DIR …")
		return errUsage
	}
	sub := args[0]
	fs := newFlags("keys "+sub, stderr)
	data := fs.String("data", "", "data directory of a stopped vault (PVAULT_DATA)")
	passFile := fs.String("passphrase-file", "", "file holding the current passphrase (else PVAULT_PASSPHRASE)")
	newPassFile := fs.String("new-passphrase-file", "", "passphrase: file holding the new passphrase (empty file: store the identity plain)")
	keep := fs.Bool("keep-identity", false, "rotate: keep the vault identity, change only recovery recipients")
	var add, remove multiFlag
	fs.Var(&add, "add-recovery", "rotate: add a recovery recipient (age1…); repeatable")
	fs.Var(&remove, "remove-recovery", "rotate: remove a recovery recipient; repeatable")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	dir := orEnv(*data, "PVAULT_DATA", getenv, "")
	if dir == "" {
		return fmt.Errorf("keys %s: --data DIR is required", sub)
	}
	pass, err := passphrase(*passFile, getenv)
	if err != nil {
		return err
	}
	v, err := openVaultWith(dir, vaultOptions(pass))
	if err != nil {
		return err
	}
	defer v.Close()
	if sub == "passphrase" {
		if *newPassFile == "" {
			return fmt.Errorf("keys passphrase: --new-passphrase-file is required")
		}
		np, err := readSecretFile(*newPassFile)
		if err != nil {
			return err
		}
		if err := v.ChangePassphrase(np); err != nil {
			return err
		}
		if np == "" {
			fmt.Fprintln(stdout, "pvault: the vault identity is now stored without a passphrase")
		} else {
			fmt.Fprintln(stdout, "pvault: passphrase changed; no record needed re-encryption")
		}
		return nil
	}
	e := &audit.Entry{RequestID: audit.NewRequestID(), Action: "key.rotate", Decision: audit.Allow, Status: 202, Details: map[string]any{"via": "cli"}}
	j, _, err := v.StartRotation(vault.RotateOptions{KeepIdentity: *keep, AddRecovery: add, RemoveRecovery: remove}, e)
	if err != nil {
		return fmt.Errorf("keys rotate: %w", err)
	}
	for {
		cur, err := v.Job(j.ID)
		if err != nil {
			return err
		}
		progressBar(stdout, cur)
		if cur.State != vault.JobRunning {
			fmt.Fprintln(stdout)
			if cur.State == vault.JobFailed {
				return fmt.Errorf("keys rotate: the re-encryption failed: %s", cur.Error)
			}
			fmt.Fprintf(stdout, "pvault: keys rotated; %d records re-encrypted; the previous identity was destroyed\n", cur.Done)
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func progressBar(w io.Writer, j *vault.Job) {
	const width = 40
	frac := 1.0
	if j.Total > 0 {
		frac = min(float64(j.Done)/float64(j.Total), 1)
	}
	n := int(frac * width)
	eta := ""
	if j.ETASeconds != nil {
		eta = fmt.Sprintf(" ETA %s", (time.Duration(*j.ETASeconds) * time.Second).String())
	}
	fmt.Fprintf(w, "\r[%s%s] %d/%d%s   ", strings.Repeat("#", n), strings.Repeat(".", width-n), j.Done, j.Total, eta)
}

// cmdBackup writes a backup of a stopped vault, or of a running one through
// GET /admin/backup.
func cmdBackup(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlags("backup", stderr)
	data := fs.String("data", "", "data directory of a stopped vault (PVAULT_DATA)")
	url := fs.String("url", "", "base URL of a running vault (needs an admin token)")
	tokenFile := fs.String("token-file", "", "file holding an admin's token (else PVAULT_TOKEN), with --url")
	out := fs.String("out", "", "the backup file to write")
	passFile := fs.String("passphrase-file", "", "file holding the passphrase of a sealed vault identity")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *out == "" {
		return fmt.Errorf("backup: --out FILE is required")
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	fail := func(err error) error { f.Close(); os.Remove(*out); return err }
	if *url != "" {
		token := getenv("PVAULT_TOKEN")
		if *tokenFile != "" {
			if token, err = readSecretFile(*tokenFile); err != nil {
				return fail(err)
			}
		}
		req, err := http.NewRequestWithContext(ctx, "GET", apiBase(*url)+"/admin/backup", nil)
		if err != nil {
			return fail(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fail(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			return fail(fmt.Errorf("backup: %s: %s", resp.Status, strings.TrimSpace(string(b))))
		}
		n, err := io.Copy(f, resp.Body)
		if err != nil {
			return fail(err)
		}
		if err := syncClose(f); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "pvault: wrote a %d-byte backup to %s\n", n, *out)
		return nil
	}
	dir := orEnv(*data, "PVAULT_DATA", getenv, "")
	if dir == "" {
		return fail(fmt.Errorf("backup: --data DIR or --url URL is required"))
	}
	pass, err := passphrase(*passFile, getenv)
	if err != nil {
		return fail(err)
	}
	v, err := openVaultWith(dir, vaultOptions(pass))
	if err != nil {
		return fail(err)
	}
	defer v.Close()
	info, err := v.Backup(f)
	if err != nil {
		return fail(err)
	}
	if err := syncClose(f); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "pvault: wrote a backup of %s (%d audit entries) to %s\n", info.Vault, info.LogSize, *out)
	return nil
}

func syncClose(f *os.File) error {
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func apiBase(u string) string {
	base := strings.TrimSuffix(u, "/")
	if !strings.HasSuffix(base, "/api/v1") {
		base += "/api/v1"
	}
	return base
}

// cmdRestore creates a vault from a backup.
func cmdRestore(args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlags("restore", stderr)
	data := fs.String("data", "", "an empty data directory for the restored vault")
	from := fs.String("from", "", "the backup file")
	identity := fs.String("identity", "", "the vault's identity file (vault.key) or a recovery identity; not needed when the backup carries a passphrase-protected identity and you give the passphrase")
	passFile := fs.String("passphrase-file", "", "file holding the passphrase of the vault identity in the backup")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	dir := orEnv(*data, "PVAULT_DATA", getenv, "")
	if dir == "" || *from == "" || *identity == "" {
		return fmt.Errorf("restore: --data EMPTYDIR, --from FILE and --identity FILE are required (a backup is ciphertext only)")
	}
	idText, err := os.ReadFile(*identity)
	if err != nil {
		return err
	}
	f, err := os.Open(*from)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := vault.Restore(dir, f, string(idText))
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	pass, _ := passphrase(*passFile, getenv)
	v, err := openVaultWith(dir, vaultOptions(pass))
	if err != nil {
		return fmt.Errorf("restore: the restored vault does not open: %w", err)
	}
	defer v.Close()
	res, err := audit.VerifyStore(v.Store())
	if err != nil {
		return err
	}
	if !res.OK {
		return fmt.Errorf("restore: the restored audit log does not verify: %s", res.Problem)
	}
	fmt.Fprintf(stdout, "pvault: restored %s (backup of %s, %d audit entries, log verifies) into %s\n", info.Vault, info.CreatedAt.Format(time.RFC3339), res.Size, dir)
	return nil
}
