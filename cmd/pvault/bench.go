package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"pvault/analysis"
	"pvault/api"
	"pvault/vault"
	"pvault/vault/store"
)

// BenchResult is one load run.
type BenchResult struct {
	Target     string             `json:"target"`
	Mix        string             `json:"mix"`
	Clients    int                `json:"clients"`
	Seconds    float64            `json:"seconds"`
	Requests   int                `json:"requests"`
	Throughput float64            `json:"throughput_per_s"`
	ByKind     map[string]int     `json:"by_kind"`
	KindRate   map[string]float64 `json:"throughput_by_kind_per_s"`
	P50ms      float64            `json:"p50_ms"`
	P90ms      float64            `json:"p90_ms"`
	P99ms      float64            `json:"p99_ms"`
	Maxms      float64            `json:"max_ms"`
	Errors     map[string]int     `json:"errors"`
	// CPUus is the CPU time of this process (user and system) per
	// request: the in-process server and the load generator, or with
	// --url the load generator alone.
	CPUus float64 `json:"cpu_us_per_request"`
}

type benchTarget struct {
	name  string
	base  string // .../api/v1
	token string
	unit  string
	ids   []string
	mu    sync.Mutex
	next  atomic.Int64 // next body to send
}

// body returns the next of the pre-generated bodies: every create of a run
// sends a different petition until the pool is used up.
func (t *benchTarget) body(bodies [][]byte) []byte {
	return bodies[int(t.next.Add(1)-1)%len(bodies)]
}

func (t *benchTarget) addID(id string) {
	t.mu.Lock()
	t.ids = append(t.ids, id)
	t.mu.Unlock()
}

func (t *benchTarget) randomID(r *rand.Rand) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.ids) == 0 {
		return ""
	}
	return t.ids[r.IntN(len(t.ids))]
}

// textGen makes realistic 2–4 KiB petitions from the shipped corpus: each
// one strings together randomly chosen corpus texts, so that, as in a real
// office, petitions share themes and phrases but few are near duplicates,
// and petitioners (ID numbers and phones drawn from a large space) rarely
// repeat.
type textGen struct{ ex []analysis.Example }

func newTextGen() (*textGen, error) {
	ex, err := analysis.Corpus()
	if err != nil {
		return nil, err
	}
	return &textGen{ex: ex}, nil
}

// pool generates n bodies (in parallel, the same ones every time).
func (g *textGen) pool(n int, unit string) [][]byte {
	out := make([][]byte, max(n, 1))
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(out); i += workers {
				out[i] = g.body(rand.New(rand.NewPCG(uint64(i), 1)), unit)
			}
		}()
	}
	wg.Wait()
	return out
}

// body returns the JSON body of a new petition in unit.
func (g *textGen) body(r *rand.Rand, unit string) []byte {
	first := g.ex[r.IntN(len(g.ex))]
	var b strings.Builder
	target := 2048 + r.IntN(2048)
	for b.Len() < target {
		b.WriteString(g.ex[r.IntN(len(g.ex))].Text)
		b.WriteString("\n")
	}
	body := map[string]any{
		"unit": unit, "channel": []string{"letter", "visit", "phone", "online", "email", "hotline"}[r.IntN(6)],
		"title": first.Title, "content": truncateRunes(b.String(), 4000/3*3),
		"petitioner": map[string]any{
			"name":      "张某" + fmt.Sprint(r.IntN(1000)),
			"id_number": fmt.Sprintf("110101%04d%02d%02d%04d", 1960+r.IntN(40), 1+r.IntN(12), 1+r.IntN(28), r.IntN(10000)),
			"phone":     fmt.Sprintf("138%08d", r.IntN(100_000_000)),
		},
		"group_size": 1 + r.IntN(3),
	}
	out, _ := json.Marshal(body)
	return out
}

func truncateRunes(s string, maxBytes int) string {
	if len(s) <= maxBytes {
		return s
	}
	for maxBytes > 0 && (s[maxBytes]&0xC0) == 0x80 {
		maxBytes--
	}
	return s[:maxBytes]
}

var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}, Timeout: 30 * time.Second}

// do sends a request and returns the reply's status and body.
func (t *benchTarget) do(method, path string, body []byte) (int, []byte, error) {
	return t.send(method, path, body, true)
}

// skim sends a request without a body and reads the reply to its end (so
// that the connection is used again) without keeping it: reads and list
// pages, whose bodies the load does not look at. io.ReadAll's growing
// buffers were 9 % of the CPU of an in-process run of list pages, taken
// from the server on the same machine.
func (t *benchTarget) skim(path string) (int, error) {
	code, _, err := t.send("GET", path, nil, false)
	return code, err
}

// send sends a request and reads its reply, keeping it when keep is set.
func (t *benchTarget) send(method, path string, body []byte, keep bool) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, t.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+t.token)
	resp, err := benchClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if !keep {
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil, err
	}
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// run drives the mix for d with c clients.
func (t *benchTarget) run(mix string, c int, d time.Duration, bodies [][]byte) BenchResult {
	res := BenchResult{Target: t.name, Mix: mix, Clients: c, ByKind: map[string]int{}, Errors: map[string]int{}, KindRate: map[string]float64{}}
	var mu sync.Mutex
	var lat []time.Duration
	var stop atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	cpu0 := processCPU()
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 99))
			var mine []time.Duration
			kinds := map[string]int{}
			errs := map[string]int{}
			for !stop.Load() {
				kind := mix
				if mix == "mixed" {
					switch x := r.IntN(100); {
					case x < 20:
						kind = "create"
					case x < 90:
						kind = "read"
					default:
						kind = "list"
					}
				}
				t0 := time.Now()
				var code int
				var err error
				var b []byte
				switch kind {
				case "create":
					code, b, err = t.do("POST", "/petitions", t.body(bodies))
					if code == http.StatusCreated {
						var p struct{ ID string }
						if json.Unmarshal(b, &p) == nil {
							t.addID(p.ID)
						}
					}
				case "read":
					code, err = t.skim("/petitions/" + t.randomID(r))
				case "list":
					code, err = t.skim("/petitions?limit=50")
				}
				el := time.Since(t0)
				switch {
				case err != nil:
					errs["transport"]++
				case code >= 300:
					errs[fmt.Sprint(code)]++
				default:
					mine = append(mine, el)
					kinds[kind]++
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			for k, n := range kinds {
				res.ByKind[k] += n
			}
			for k, n := range errs {
				res.Errors[k] += n
			}
			mu.Unlock()
		}(w)
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.Requests = len(lat)
	if len(lat) > 0 {
		res.CPUus = float64((processCPU() - cpu0).Microseconds()) / float64(len(lat))
	}
	res.Throughput = float64(len(lat)) / res.Seconds
	for k, n := range res.ByKind {
		res.KindRate[k] = float64(n) / res.Seconds
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		i := min(int(p*float64(len(lat))), len(lat)-1)
		return float64(lat[i].Microseconds()) / 1000
	}
	res.P50ms, res.P90ms, res.P99ms = pct(0.5), pct(0.9), pct(0.99)
	if len(lat) > 0 {
		res.Maxms = float64(lat[len(lat)-1].Microseconds()) / 1000
	}
	return res
}

// preload creates n petitions with c clients.
func (t *benchTarget) preload(n, c int, bodies [][]byte) error {
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				code, b, err := t.do("POST", "/petitions", t.body(bodies))
				if err != nil || code != http.StatusCreated {
					failed.Add(1)
					continue
				}
				var p struct{ ID string }
				if json.Unmarshal(b, &p) == nil {
					t.addID(p.ID)
				}
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		return fmt.Errorf("preload: %d of %d creates failed", f, n)
	}
	return nil
}

// sampleExisting pages through the petitions the user can list, newest
// first, and adds a uniform random sample of up to n of their ids to the
// ids that reads choose from (reservoir sampling). It returns how many it
// saw.
func (t *benchTarget) sampleExisting(n int) (int, error) {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	sample := make([]string, 0, min(n, 1<<16))
	seen := 0
	for cursor := ""; ; {
		path := "/petitions?limit=500"
		if cursor != "" {
			path += "&cursor=" + neturl.QueryEscape(cursor)
		}
		code, b, err := t.do("GET", path, nil)
		if err != nil {
			return seen, fmt.Errorf("listing petitions: %w", err)
		}
		if code != http.StatusOK {
			return seen, fmt.Errorf("listing petitions: status %d", code)
		}
		var page struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
			Next string `json:"next_cursor"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			return seen, fmt.Errorf("listing petitions: %w", err)
		}
		for _, it := range page.Items {
			if it.ID == "" {
				continue
			}
			seen++
			if len(sample) < n {
				sample = append(sample, it.ID)
			} else if j := r.IntN(seen); j < n {
				sample[j] = it.ID
			}
		}
		if page.Next == "" || page.Next == cursor || len(page.Items) == 0 {
			break
		}
		cursor = page.Next
	}
	for _, id := range sample {
		t.addID(id)
	}
	return seen, nil
}

// cmdBench is the load tool.
func cmdBench(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlags("bench", stderr)
	url := fs.String("url", "", "base URL of a running vault (default: start one in-process on a temporary directory)")
	user := fs.String("user", "", "user to log in as (needs to create and read petitions in --unit)")
	pass := fs.String("pass", "", "its password")
	unit := fs.String("unit", "group/bench", "unit to register petitions in")
	clients := fs.Int("c", 32, "concurrent clients")
	dur := fs.Duration("d", 10*time.Second, "duration of each run")
	mix := fs.String("mix", "mixed", "create, read, list or mixed (20% create, 70% read, 10% list)")
	preload := fs.Int("preload", 1000, "petitions to create before the run (reads need some)")
	existing := fs.Int("existing", 0, "with --url: before the runs, page through the petitions the user can list and read a random sample of this many of them too, so that reads reach the whole vault and not only the newest petitions")
	baseline := fs.Bool("baseline", false, "also run the same workload against an in-process plain gin + badger server (synced, no encryption, policy or audit) and print the ratios")
	asJSON := fs.Bool("json", false, "print JSON")
	npool := fs.Int("bodies", 8192, "different petitions generated before the runs (creates cycle through them)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the runs (the in-process vault included, the first preload not) to this file")
	memProfile := fs.String("memprofile", "", "write an allocation profile (go tool pprof -sample_index=alloc_space) to this file when the runs end; it counts from the start, preloads included")
	serveBase := fs.String("serve-baseline", "", "serve only the plain baseline server on this address (a new temporary directory, removed on exit) until interrupted, for a load generator in another process (bench --url http://ADDR --user any --pass any)")
	traceFile := fs.String("trace", "", "write a runtime trace of two seconds in the middle of the pvault run to this file (go tool trace); with --url it traces only this load generator")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *serveBase != "" {
		return serveBaseline(ctx, *serveBase, stdout)
	}
	if !slices.Contains([]string{"create", "read", "list", "mixed"}, *mix) {
		return fmt.Errorf("bench: --mix must be create, read, list or mixed")
	}
	switch {
	case *clients < 1:
		return fmt.Errorf("bench: -c must be at least 1")
	case *dur <= 0:
		return fmt.Errorf("bench: -d must be positive")
	case *preload < 0:
		return fmt.Errorf("bench: --preload must not be negative")
	case *existing < 0:
		return fmt.Errorf("bench: --existing must not be negative")
	case *existing > 0 && *url == "":
		return fmt.Errorf("bench: --existing needs --url (an in-process vault starts empty)")
	case *mix != "create" && *mix != "list" && *preload == 0 && *existing == 0:
		return fmt.Errorf("bench: --mix %s reads petitions: give --preload N, or --existing N with --url", *mix)
	case *npool < 1:
		return fmt.Errorf("bench: --bodies must be at least 1")
	}
	texts, err := newTextGen()
	if err != nil {
		return err
	}
	bodies := texts.pool(*npool, *unit)
	var targets []*benchTarget
	var cleanup []func()
	defer func() {
		for _, f := range cleanup {
			f()
		}
	}()
	if *url != "" {
		t := &benchTarget{name: "pvault", base: apiBase(*url), unit: *unit}
		tok, err := benchLogin(t.base, *user, *pass)
		if err != nil {
			return err
		}
		t.token = tok
		targets = append(targets, t)
	} else {
		t, stop, err := startLocalVault(*unit)
		if err != nil {
			return err
		}
		cleanup = append(cleanup, stop)
		targets = append(targets, t)
	}
	if *baseline {
		t, stop, err := startBaseline(*unit)
		if err != nil {
			return err
		}
		cleanup = append(cleanup, stop)
		targets = append(targets, t)
	}
	var profile *os.File
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		profile = f
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	if *memProfile != "" {
		f, err := os.Create(*memProfile)
		if err != nil {
			return err
		}
		defer func() {
			if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
				fmt.Fprintf(stderr, "bench: memory profile: %v\n", err)
			}
			f.Close()
		}()
	}
	var results []BenchResult
	for _, t := range targets {
		if *preload > 0 {
			fmt.Fprintf(stderr, "bench: preloading %d petitions into %s…\n", *preload, t.name)
			if err := t.preload(*preload, *clients, bodies); err != nil {
				return err
			}
		}
		if *existing > 0 && t.name == "pvault" {
			fmt.Fprintf(stderr, "bench: sampling %d of the petitions listed by %s…\n", *existing, t.name)
			seen, err := t.sampleExisting(*existing)
			if err != nil {
				return err
			}
			fmt.Fprintf(stderr, "bench: %d petitions listed, %d sampled\n", seen, min(seen, *existing))
			if seen == 0 && *preload == 0 && *mix != "create" && *mix != "list" {
				return fmt.Errorf("bench: --existing found no petitions to read")
			}
		}
		if profile != nil {
			// The profile covers the runs, not the first preload, whose
			// creates would blur a read or list profile.
			if err := pprof.StartCPUProfile(profile); err != nil {
				return err
			}
			profile = nil
		}
		fmt.Fprintf(stderr, "bench: %s, mix %s, %d clients, %s…\n", t.name, *mix, *clients, *dur)
		if *traceFile != "" && t.name == "pvault" {
			stop, err := traceWindow(*traceFile, *dur)
			if err != nil {
				return err
			}
			defer func() {
				if err := stop(); err != nil {
					fmt.Fprintf(stderr, "bench: %v\n", err)
				}
			}()
		}
		results = append(results, t.run(*mix, *clients, *dur, bodies))
	}
	out := map[string]any{"runs": results}
	if len(results) == 2 && results[1].Throughput > 0 {
		ratios := map[string]float64{"throughput": results[0].Throughput / results[1].Throughput}
		for k, r := range results[0].KindRate {
			if b := results[1].KindRate[k]; b > 0 {
				ratios[k] = r / b
			}
		}
		if results[1].P99ms > 0 {
			ratios["p99"] = results[0].P99ms / results[1].P99ms
		}
		out["ratios_pvault_over_baseline"] = ratios
	}
	if *asJSON {
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	for _, r := range results {
		keys := make([]string, 0, len(r.KindRate))
		for k := range r.KindRate {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var kinds []string
		for _, k := range keys {
			kinds = append(kinds, fmt.Sprintf("%s %.0f/s", k, r.KindRate[k]))
		}
		fmt.Fprintf(stdout, "%-8s %8.0f req/s (%s)  p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms  cpu %.0f µs/req  errors %v\n",
			r.Target, r.Throughput, strings.Join(kinds, ", "), r.P50ms, r.P90ms, r.P99ms, r.Maxms, r.CPUus, r.Errors)
	}
	if ratios, ok := out["ratios_pvault_over_baseline"].(map[string]float64); ok {
		keys := make([]string, 0, len(ratios))
		for k := range ratios {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %.2f", k, ratios[k]))
		}
		fmt.Fprintf(stdout, "pvault/baseline: %s\n", strings.Join(parts, ", "))
	}
	return nil
}

func benchLogin(base, user, pass string) (string, error) {
	b, _ := json.Marshal(map[string]string{"username": user, "password": pass})
	resp, err := benchClient.Post(base+"/auth/login", "application/json", bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		return "", fmt.Errorf("bench: login as %q failed (%s)", user, resp.Status)
	}
	return out.Token, nil
}

// startLocalVault starts pvault in-process on a temporary directory with a
// supervisor for the unit.
func startLocalVault(unit string) (*benchTarget, func(), error) {
	dir, err := os.MkdirTemp("", "pvault-bench-")
	if err != nil {
		return nil, nil, err
	}
	const pw = "bench-admin-password"
	if _, err := vault.Init(dir, vault.InitOptions{AdminPassword: pw}); err != nil {
		return nil, nil, err
	}
	vo := vault.Options{Logger: slog.New(slog.DiscardHandler)}
	if os.Getenv("PVAULT_BENCH_COMMITS") != "" {
		var n, entries atomic.Int64
		var total atomic.Int64
		vo.Audit.OnCommit = func(k int, d time.Duration, err error) {
			c := n.Add(1)
			entries.Add(int64(k))
			total.Add(int64(d))
			if c%200 == 0 {
				fmt.Fprintf(os.Stderr, "commits %d, mean batch %.1f, mean commit %.2f ms\n", c, float64(entries.Load())/float64(c), float64(total.Load())/float64(c)/1e6)
			}
		}
	}
	v, err := vault.Open(dir, vo)
	if err != nil {
		return nil, nil, err
	}
	srv, err := api.New(api.Config{Vault: v, LoginFailures: 1 << 20, ClientFailures: 1 << 20})
	if err != nil {
		return nil, nil, err
	}
	base, stopHTTP, err := serveLocal(srv)
	if err != nil {
		return nil, nil, err
	}
	t := &benchTarget{name: "pvault", base: base, unit: unit}
	stop := func() { stopHTTP(); v.Close(); os.RemoveAll(dir) }
	admin, err := benchLogin(base, "admin", pw)
	if err != nil {
		stop()
		return nil, nil, err
	}
	t.token = admin
	b, _ := json.Marshal(map[string]any{"username": "bench", "password": "bench-user-password", "unit": unit, "roles": []string{"supervisor"}})
	if code, body, err := t.do("POST", "/users", b); err != nil || code != http.StatusCreated {
		stop()
		return nil, nil, fmt.Errorf("bench: create user: %d %s %v", code, body, err)
	}
	if t.token, err = benchLogin(base, "bench", "bench-user-password"); err != nil {
		stop()
		return nil, nil, err
	}
	return t, stop, nil
}

// startBaseline starts the plain gin + badger server.
func startBaseline(unit string) (*benchTarget, func(), error) {
	dir, err := os.MkdirTemp("", "pvault-baseline-")
	if err != nil {
		return nil, nil, err
	}
	st, err := store.OpenBadger(store.BadgerOptions{Dir: dir, StockTransactions: true, ValueThreshold: -1})
	if err != nil {
		return nil, nil, err
	}
	base, stopHTTP, err := serveLocal(api.NewBaseline(st))
	if err != nil {
		return nil, nil, err
	}
	return &benchTarget{name: "baseline", base: base, unit: unit, token: "baseline"}, func() { stopHTTP(); st.Close(); os.RemoveAll(dir) }, nil
}

// serveBaseline serves the plain baseline on addr until ctx ends, so that
// it can be measured as the check does: server and load generator
// in processes of their own.
func serveBaseline(ctx context.Context, addr string, stdout io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	dir, err := os.MkdirTemp("", "pvault-baseline-")
	if err != nil {
		ln.Close()
		return err
	}
	defer os.RemoveAll(dir)
	st, err := store.OpenBadger(store.BadgerOptions{Dir: dir, StockTransactions: true, ValueThreshold: -1})
	if err != nil {
		ln.Close()
		return err
	}
	defer st.Close()
	hs := &http.Server{Handler: api.NewBaseline(st), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "baseline (no encryption, policy or audit; synced writes) on http://%s\n", ln.Addr())
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return hs.Shutdown(sctx)
	}
}

func serveLocal(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "bench server:", err)
		}
	}()
	return "http://" + ln.Addr().String() + "/api/v1", func() { hs.Close() }, nil
}

// traceWindow writes a runtime trace of two seconds from the middle of a run
// of d (the whole run when it is shorter) to path. stop waits for the trace
// to end, closes the file and reports a trace that could not be taken.
func traceWindow(path string, d time.Duration) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	length := min(2*time.Second, d)
	start := (d - length) / 2
	done := make(chan error, 1)
	go func() {
		time.Sleep(start)
		if err := trace.Start(f); err != nil {
			done <- fmt.Errorf("trace: %w", err)
			return
		}
		time.Sleep(length)
		trace.Stop()
		done <- nil
	}()
	return func() error {
		err := <-done
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}, nil
}
