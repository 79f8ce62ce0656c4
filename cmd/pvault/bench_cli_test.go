package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// `pvault bench` against an in-process vault and the plain baseline: every
// request of a short mixed run succeeds, both targets report throughput,
// the ratios are printed, and --trace writes a runtime trace.
func TestBenchCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two servers")
	}
	tracePath := filepath.Join(t.TempDir(), "run.trace")
	out := opMustRun(t, nil, "bench", "--mix", "mixed", "-c", "4", "-d", "400ms",
		"--preload", "20", "--bodies", "40", "--baseline", "--json", "--trace", tracePath)
	var rep struct {
		Runs   []BenchResult      `json:"runs"`
		Ratios map[string]float64 `json:"ratios_pvault_over_baseline"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("bench --json output: %v\n%s", err, out)
	}
	if len(rep.Runs) != 2 || rep.Runs[0].Target != "pvault" || rep.Runs[1].Target != "baseline" {
		t.Fatalf("runs: %+v", rep.Runs)
	}
	for _, r := range rep.Runs {
		if r.Requests == 0 || r.Throughput <= 0 || len(r.Errors) != 0 || r.Mix != "mixed" || r.Clients != 4 {
			t.Errorf("%s run: %+v", r.Target, r)
		}
		if runtime.GOOS == "linux" && r.CPUus <= 0 {
			t.Errorf("%s: no CPU time per request (%v)", r.Target, r.CPUus)
		}
		if r.P50ms <= 0 || r.P50ms > r.P99ms || r.P99ms > r.Maxms {
			t.Errorf("%s latencies out of order: p50 %v p99 %v max %v", r.Target, r.P50ms, r.P99ms, r.Maxms)
		}
		if r.ByKind["read"] == 0 || r.ByKind["create"] == 0 {
			t.Errorf("%s ran %v, want reads and creates", r.Target, r.ByKind)
		}
	}
	if want := rep.Runs[0].Throughput / rep.Runs[1].Throughput; rep.Ratios["throughput"] != want {
		t.Errorf("throughput ratio %v, want %v", rep.Ratios["throughput"], want)
	}
	b, err := os.ReadFile(tracePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("go 1.")) || len(b) < 1000 {
		t.Errorf("trace file of %d bytes starts %q, want a runtime trace", len(b), b[:min(len(b), 16)])
	}
}

// Bad bench arguments are refused before anything starts.
func TestBenchCLIUsage(t *testing.T) {
	if _, _, err := opRun(nil, "bench", "--mix", "delete"); err == nil || !strings.Contains(err.Error(), "--mix") {
		t.Errorf("bench --mix delete: %v", err)
	}
	for _, c := range []struct{ flag, value string }{{"-c", "0"}, {"-d", "0s"}, {"--preload", "-1"}, {"--bodies", "0"}} {
		if _, _, err := opRun(nil, "bench", c.flag, c.value); err == nil || !strings.Contains(err.Error(), c.flag) {
			t.Errorf("bench %s %s: %v", c.flag, c.value, err)
		}
	}
	for _, args := range [][]string{{"bench", "--nope"}, {"bench", "-c", "many"}} {
		if _, _, err := opRun(nil, args...); exitCode(err) != 2 {
			t.Errorf("%v: exit %d, want 2", args, exitCode(err))
		}
	}
}
