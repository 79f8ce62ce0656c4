package main

import (
	"strings"
	"testing"
)

// `pvault gen` fills a stopped vault through the create path: every
// petition it reports is stored and the vault checks clean afterwards.
func TestGenCLI(t *testing.T) {
	dir, _ := opVault(t, 0)
	out := opMustRun(t, nil, "gen", "--data", dir, "--n", "40", "--workers", "4")
	if !strings.Contains(out, "created 40 petitions") || !strings.Contains(out, ", 0 failed") {
		t.Fatalf("gen output: %q", out)
	}
	rep := hxCheckReport(t, opMustRun(t, nil, "check", "--data", dir))
	if rep.Petitions != 40 || rep.DamageCount != 0 || !rep.Audit.OK {
		t.Errorf("after gen: %+v", rep)
	}
}
