package main

import (
	"strings"
	"testing"
)

// `pvault gc --data DIR` runs on a stopped vault, leaves every record
// readable (check passes after it), and refuses bad usage.
func TestGCCLI(t *testing.T) {
	dir, _ := opVault(t, 3)
	out := opMustRun(t, nil, "gc", "--data", dir)
	if !strings.Contains(out, "gc rewrote") {
		t.Fatalf("gc output: %q", out)
	}
	if rep := hxCheckReport(t, opMustRun(t, nil, "check", "--data", dir)); rep.DamageCount != 0 || rep.Petitions != 3 || !rep.Audit.OK {
		t.Fatalf("check after gc: %+v", rep)
	}
	if _, _, err := opRun(nil, "gc"); err == nil || !strings.Contains(err.Error(), "--data") {
		t.Errorf("gc without --data: %v", err)
	}
	if _, _, err := opRun(nil, "gc", "--data", t.TempDir()); err == nil || exitCode(err) == 0 {
		t.Errorf("gc of an empty directory: %v", err)
	}
	for _, args := range [][]string{{"gc", "--nope"}, {"gc", "--data", dir, "extra"}} {
		if _, _, err := opRun(nil, args...); exitCode(err) != 2 {
			t.Errorf("%v: exit %d, want 2", args, exitCode(err))
		}
	}
}
