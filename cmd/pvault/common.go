package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"pvault/vault"
)

var errUsage = errors.New("usage")

// exitError carries an exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// readSecretFile reads a one-line secret from a file.
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// passphrase returns the passphrase from --passphrase-file or PVAULT_PASSPHRASE.
func passphrase(file string, getenv env) (string, error) {
	if file != "" {
		return readSecretFile(file)
	}
	return getenv("PVAULT_PASSPHRASE"), nil
}

func orEnv(v, name string, getenv env, def string) string {
	if v != "" {
		return v
	}
	if e := getenv(name); e != "" {
		return e
	}
	return def
}

// openVault opens the vault in dir with a clear message for the usual mistakes.
func openVault(dir, pass string, logger *slog.Logger, readOnly bool) (*vault.Vault, error) {
	return openVaultWith(dir, vault.Options{Passphrase: pass, Logger: logger, ReadOnly: readOnly})
}

func openVaultWith(dir string, opts vault.Options) (*vault.Vault, error) {
	v, err := vault.Open(dir, opts)
	switch {
	case errors.Is(err, vault.ErrNoVault):
		return nil, fmt.Errorf("no vault in %s: run 'pvault init --data %s' first, or 'pvault serve --dev' to create one (%w)", dir, dir, err)
	case errors.Is(err, vault.ErrWrongKey):
		return nil, fmt.Errorf("cannot open the vault in %s: %w", dir, err)
	case errors.Is(err, vault.ErrPassphrase):
		return nil, fmt.Errorf("cannot unseal the vault in %s: %w", dir, err)
	case err != nil:
		return nil, fmt.Errorf("open vault %s: %w", dir, err)
	}
	return v, nil
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func vaultOptions(pass string) vault.Options {
	return vault.Options{Passphrase: pass, Logger: slog.New(slog.DiscardHandler)}
}

// vaultFlags are the flags of commands that work on a stopped vault.
type vaultFlags struct{ data, passFile *string }

func addVaultFlags(fs *flag.FlagSet) vaultFlags {
	return vaultFlags{
		data:     fs.String("data", "", "data directory of a stopped vault (PVAULT_DATA)"),
		passFile: fs.String("passphrase-file", "", "file holding the passphrase of a sealed vault identity (else PVAULT_PASSPHRASE)"),
	}
}

// open opens the stopped vault the flags name; cmd names the command in
// errors. It opens read-write: badger replays what a crash left before it
// can read, and its directory lock keeps a running server out.
func (f vaultFlags) open(cmd string, getenv env) (*vault.Vault, error) {
	return f.openWith(cmd, getenv, nil)
}

// openWith is open with adjust applied to the vault's options.
func (f vaultFlags) openWith(cmd string, getenv env, adjust func(*vault.Options)) (*vault.Vault, error) {
	dir := orEnv(*f.data, "PVAULT_DATA", getenv, "")
	if dir == "" {
		return nil, fmt.Errorf("%s: --data DIR is required", cmd)
	}
	pass, err := passphrase(*f.passFile, getenv)
	if err != nil {
		return nil, err
	}
	opts := vaultOptions(pass)
	if adjust != nil {
		adjust(&opts)
	}
	return openVaultWith(dir, opts)
}
