package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"pvault/audit"
)

func cmdAudit(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: pvault audit verify|watch …")
		return errUsage
	}
	switch args[0] {
	case "verify":
		return cmdAuditVerify(args[1:], getenv, stdout, stderr)
	case "watch":
		return cmdAuditWatch(ctx, args[1:], getenv, stdout, stderr)
	}
	fmt.Fprintln(stderr, "usage: pvault audit verify|watch …")
	return errUsage
}

func cmdAuditVerify(args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlags("audit verify", stderr)
	data := fs.String("data", "", "data directory (PVAULT_DATA); the server must be stopped")
	passFile := fs.String("passphrase-file", "", "file holding the passphrase of a sealed vault identity")
	export := fs.String("export", "", "an audit export (GET /audit/export) to verify offline")
	keyFile := fs.String("key", "", "file holding the checkpoint verifier key (GET /audit/verifier-key)")
	var cps multiFlag
	fs.Var(&cps, "checkpoint", "a signed checkpoint the export must be consistent with; repeatable")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *export != "" {
		return verifyExport(*export, *keyFile, cps, stdout)
	}
	dir := orEnv(*data, "PVAULT_DATA", getenv, "")
	if dir == "" {
		return fmt.Errorf("audit verify: --data DIR, or --export FILE --key KEYFILE, is required")
	}
	pass, err := passphrase(*passFile, getenv)
	if err != nil {
		return err
	}
	// Read-write: badger replays what a crash left before it can read; the
	// directory lock keeps a running server out.
	v, err := openVault(dir, pass, slog.New(slog.DiscardHandler), false)
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
	if msg := v.Log().Broken(); msg != "" {
		return &exitError{code: 1, err: fmt.Errorf("audit log does not match its latest checkpoint: %s", msg)}
	}
	return nil
}

func verifyExport(path, keyFile string, cpFiles []string, stdout io.Writer) error {
	if keyFile == "" {
		return fmt.Errorf("audit verify: --key KEYFILE is required with --export")
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	key := strings.TrimSpace(string(kb))
	var cps []audit.Checkpoint
	for _, f := range cpFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		c, err := audit.OpenCheckpoint(b, key)
		if err != nil {
			return &exitError{code: 1, err: fmt.Errorf("checkpoint %s: %w", f, err)}
		}
		cps = append(cps, c)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rep, err := audit.VerifyExport(f, cps)
	if err != nil {
		return err
	}
	out := map[string]any{"ok": rep.OK, "entries": rep.Lines, "root": audit.EncodeHash(rep.Root), "checkpoints": rep.Checked, "first_bad_seq": nil, "first_bad_line": nil}
	if !rep.OK {
		out["first_bad_seq"] = rep.FirstBad
		out["first_bad_line"] = rep.FirstBad + 1
		out["problem"] = rep.Problem
	}
	b, _ := json.Marshal(out)
	fmt.Fprintln(stdout, string(b))
	if !rep.OK {
		return &exitError{code: 1, err: fmt.Errorf("audit export %s is bad: %s", path, rep.Problem)}
	}
	return nil
}
