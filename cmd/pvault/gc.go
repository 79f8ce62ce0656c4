package main

import (
	"fmt"
	"io"
	"time"
)

// cmdGC reclaims, in a stopped vault, the disk space of records the store
// replaced: above all the content envelopes a key rotation re-sealed. A
// running vault never collects its value log (a read could meet a file
// being removed), so this is the maintenance step after a rotation.
func cmdGC(args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlags("gc", stderr)
	vf := addVaultFlags(fs)
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gc: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	v, err := vf.open("gc", getenv)
	if err != nil {
		return err
	}
	defer v.Close()
	t0 := time.Now()
	n, err := v.CollectGarbage()
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	fmt.Fprintf(stdout, "pvault: gc rewrote %d value-log files in %s\n", n, time.Since(t0).Round(time.Millisecond))
	return nil
}
