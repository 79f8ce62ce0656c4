package main

import (
	"encoding/json"
	"fmt"
	"io"
)

// cmdCheck reads every record of a stopped vault and reports what is damaged.
func cmdCheck(args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlags("check", stderr)
	vf := addVaultFlags(fs)
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	v, err := vf.open("check", getenv)
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
		return &exitError{code: 1, err: fmt.Errorf("check: %d damaged records", rep.DamageCount)}
	}
	return nil
}
