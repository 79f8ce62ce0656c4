package main

import (
	"encoding/json"
	"fmt"
	"io"
)

// cmdCheck reads every record of a stopped vault and reports what is damaged.
func cmdCheck(args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlags("check", stderr)
	data := fs.String("data", "", "data directory of a stopped vault (PVAULT_DATA)")
	passFile := fs.String("passphrase-file", "", "file holding the passphrase of a sealed vault identity")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	dir := orEnv(*data, "PVAULT_DATA", getenv, "")
	if dir == "" {
		return fmt.Errorf("check: --data DIR is required")
	}
	pass, err := passphrase(*passFile, getenv)
	if err != nil {
		return err
	}
	// Read-write: badger replays what a crash left before it can read; the
	// directory lock keeps a running server out.
	v, err := openVaultWith(dir, vaultOptions(pass))
	if err != nil {
		return err
	}
	defer v.Close()
	rep, err := v.Check()
	if err != nil {
		return err
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	fmt.Fprintln(stdout, string(b))
	if rep.DamageCount > 0 {
		return &exitError{code: 1, err: fmt.Errorf("check: %d damaged records in %s", rep.DamageCount, dir)}
	}
	return nil
}
