package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"pvault/audit"
)

func cmdAudit(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintln(stderr, "usage: pvault audit verify --data DIR")
		return errUsage
	}
	fs := newFlags("audit verify", stderr)
	data := fs.String("data", "", "data directory (PVAULT_DATA); the server must be stopped")
	passFile := fs.String("passphrase-file", "", "file holding the passphrase of a sealed vault identity")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	dir := orEnv(*data, "PVAULT_DATA", getenv, "")
	if dir == "" {
		return fmt.Errorf("audit verify: --data is required")
	}
	pass, err := passphrase(*passFile, getenv)
	if err != nil {
		return err
	}
	v, err := openVault(dir, pass, slog.New(slog.DiscardHandler), true)
	if err != nil {
		return err
	}
	defer v.Close()
	res, err := audit.VerifyStore(v.Store())
	if err != nil {
		return err
	}
	b, _ := json.Marshal(res)
	fmt.Fprintln(stdout, string(b))
	if !res.OK {
		return &exitError{code: 1, err: fmt.Errorf("audit log damaged at entry %d: %s", *res.FirstBadSeq, res.Problem)}
	}
	return nil
}
