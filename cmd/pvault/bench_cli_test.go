package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
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
	for _, c := range []struct{ flag, value string }{{"-c", "0"}, {"-d", "0s"}, {"--preload", "-1"}, {"--bodies", "0"}, {"--existing", "-1"}} {
		if _, _, err := opRun(nil, "bench", c.flag, c.value); err == nil || !strings.Contains(err.Error(), c.flag) {
			t.Errorf("bench %s %s: %v", c.flag, c.value, err)
		}
	}
	// Nothing to read: refused, not a run of 404s.
	for _, mix := range []string{"read", "mixed"} {
		if _, _, err := opRun(nil, "bench", "--mix", mix, "--preload", "0"); err == nil || !strings.Contains(err.Error(), "--existing") {
			t.Errorf("bench --mix %s --preload 0: %v", mix, err)
		}
	}
	if _, _, err := opRun(nil, "bench", "--existing", "10"); err == nil || !strings.Contains(err.Error(), "--url") {
		t.Errorf("bench --existing without --url: %v", err)
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
	// Reads of the petitions already there, found through the list.
	out = opMustRun(t, nil, "bench", "--url", url, "--user", "any", "--pass", "any", "--mix", "read",
		"-c", "2", "-d", "300ms", "--preload", "0", "--existing", "5", "--bodies", "10", "--json")
	rep.Runs = nil
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("bench --existing --json output: %v\n%s", err, out)
	}
	if len(rep.Runs) != 1 || rep.Runs[0].ByKind["read"] == 0 || len(rep.Runs[0].Errors) != 0 {
		t.Fatalf("reads of existing petitions: %+v", rep.Runs)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve-baseline after its context ended: %v", err)
	}
}

// sampleExisting follows the list's cursors to the last page and keeps a
// sample of the size asked for, every id one the list returned, each once;
// a failing list is an error.
func TestBenchSampleExisting(t *testing.T) {
	const total, per = 1234, 500
	var pages atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/petitions" || r.URL.Query().Get("limit") != "500" || r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		pages.Add(1)
		from := 0
		if c := r.URL.Query().Get("cursor"); c != "" {
			from, _ = strconv.Atoi(strings.TrimPrefix(c, "after/"))
		}
		var items []map[string]string
		for i := from; i < min(from+per, total); i++ {
			items = append(items, map[string]string{"id": fmt.Sprintf("p%04d", i)})
		}
		next := ""
		if from+per < total {
			next = fmt.Sprintf("after/%d", from+per)
		}
		json.NewEncoder(w).Encode(map[string]any{"items": items, "next_cursor": next})
	}))
	defer srv.Close()
	for _, n := range []int{100, total, 5000} {
		pages.Store(0)
		tg := &benchTarget{name: "pvault", base: srv.URL + "/api/v1", token: "tok"}
		seen, err := tg.sampleExisting(n)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if seen != total || pages.Load() != 3 {
			t.Errorf("n=%d: saw %d petitions in %d pages, want %d in 3", n, seen, pages.Load(), total)
		}
		if len(tg.ids) != min(n, total) {
			t.Errorf("n=%d: sampled %d ids, want %d", n, len(tg.ids), min(n, total))
		}
		uniq := map[string]bool{}
		late := 0
		for _, id := range tg.ids {
			var i int
			if _, err := fmt.Sscanf(id, "p%04d", &i); err != nil || i < 0 || i >= total || uniq[id] {
				t.Errorf("n=%d: id %q not listed, or twice", n, id)
			}
			uniq[id] = true
			if i >= per {
				late++
			}
		}
		// The sample reaches past the first page (a list walked to its end,
		// not only the newest petitions).
		if n == 100 && late == 0 {
			t.Errorf("n=100: every id sampled from the first page")
		}
	}
	tg := &benchTarget{name: "pvault", base: srv.URL + "/api/v1", token: "wrong"}
	if _, err := tg.sampleExisting(10); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("a list that fails: %v", err)
	}
}

// skim returns the reply's status and reads its body to the end, so that
// the load tool's next request goes over the same connection; do keeps the
// body.
func TestBenchSkim(t *testing.T) {
	reply := bytes.Repeat([]byte("x"), 64<<10)
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusTeapot)
		w.Write(reply)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	tg := &benchTarget{base: srv.URL, token: "tok"}
	for range 3 {
		code, err := tg.skim("/petitions")
		if err != nil || code != http.StatusTeapot {
			t.Fatalf("skim: %d, %v", code, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("three skims opened %d connections, want 1 (the replies read to their end)", n)
	}
	code, b, err := tg.do("GET", "/petitions", nil)
	if err != nil || code != http.StatusTeapot || !bytes.Equal(b, reply) {
		t.Errorf("do: %d, %d bytes, %v", code, len(b), err)
	}
	tg.token = "other"
	if code, err := tg.skim("/petitions"); err != nil || code != http.StatusUnauthorized {
		t.Errorf("skim with another token: %d, %v", code, err)
	}
}
