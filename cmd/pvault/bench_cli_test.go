package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
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

// `pvault bench --serve-baseline` serves the plain baseline alone, and the
// generator in another run measures it over HTTP, as the check does
// with processes of their own; the server stops when its context ends.
func TestBenchServeBaseline(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"bench", "--serve-baseline", "127.0.0.1:0"}, func(string) string { return "" }, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no address printed: %v (%q)", err, line)
	}
	go io.Copy(io.Discard, pr)
	i := strings.Index(line, "http://")
	if i < 0 {
		t.Fatalf("no address in %q", line)
	}
	url := strings.TrimSpace(line[i:])
	out := opMustRun(t, nil, "bench", "--url", url, "--user", "any", "--pass", "any", "--mix", "read",
		"-c", "2", "-d", "300ms", "--preload", "10", "--bodies", "10", "--json")
	var rep struct {
		Runs []BenchResult `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("bench --json output: %v\n%s", err, out)
	}
	if len(rep.Runs) != 1 || rep.Runs[0].ByKind["read"] == 0 || len(rep.Runs[0].Errors) != 0 {
		t.Fatalf("runs against the baseline: %+v", rep.Runs)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve-baseline after its context ended: %v", err)
	}
}
