package main

import (
	"fmt"
	"io"

	"pvault/vault"
)

func cmdInit(args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlags("init", stderr)
	data := fs.String("data", "", "data directory to create (PVAULT_DATA)")
	var recovery multiFlag
	fs.Var(&recovery, "recovery-recipient", "age recipient (age1…) sealed into every record; repeatable")
	adminFile := fs.String("admin-password-file", "", "file holding the first admin's password (else PVAULT_ADMIN_PASSWORD, else generated)")
	passFile := fs.String("passphrase-file", "", "file holding a passphrase to protect the vault identity (else PVAULT_PASSPHRASE)")
	rootUnit := fs.String("root-unit", "group", "unit of the first admin")
	name := fs.String("name", "pvault", "vault name (the audit checkpoint origin is NAME/audit)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	dir := orEnv(*data, "PVAULT_DATA", getenv, "")
	if dir == "" {
		return fmt.Errorf("init: --data is required")
	}
	pw := getenv("PVAULT_ADMIN_PASSWORD")
	if *adminFile != "" {
		var err error
		if pw, err = readSecretFile(*adminFile); err != nil {
			return err
		}
	}
	pass, err := passphrase(*passFile, getenv)
	if err != nil {
		return err
	}
	got, err := vault.Init(dir, vault.InitOptions{Name: *name, RootUnit: *rootUnit, AdminPassword: pw, Passphrase: pass, Recovery: recovery})
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	fmt.Fprintf(stdout, "pvault: created a new vault in %s\n  user:     admin (unit %s)\n", dir, *rootUnit)
	if pw == "" {
		fmt.Fprintf(stdout, "  password: %s\n  (shown once: keep it now)\n", got)
	}
	if pass != "" {
		fmt.Fprintln(stdout, "  the vault identity is passphrase-protected: serve needs the same passphrase")
	}
	return nil
}
