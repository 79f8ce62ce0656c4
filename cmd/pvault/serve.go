package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"pvault/api"
	"pvault/internal/logbuf"
	"pvault/vault"
)

func cmdServe(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	configPath := fs.String("config", "", "TOML configuration file (PVAULT_CONFIG); flags and environment override it")
	fs.String("data", "", "data directory (PVAULT_DATA; default ./pvault-data)")
	fs.String("addr", "", "listen address (PVAULT_ADDR; default 127.0.0.1:8080)")
	dev := fs.Bool("dev", false, "initialise an empty data directory on first start")
	fs.String("passphrase-file", "", "file holding the passphrase of a sealed vault identity")
	fs.String("log-level", "info", "debug, info, warn or error")
	fs.Duration("log-flush-interval", DefaultLogFlushInterval, "how long info and debug log lines may wait to be written in one batch, 1ms to 10s (0: each at once; warnings and errors always at once)")
	fs.Duration("sweep-interval", time.Minute, "how often the deadline sweeper runs (0 turns it off)")
	fs.Duration("page-release-interval", DefaultPageReleaseInterval, "how often the pages of the store's files mapped into the server are handed back to the kernel (those written reclaimed, those read left in the page cache), bounding its resident memory (0: never)")
	fs.String("holidays", "", "holiday calendar file (YYYY-MM-DD per line; +YYYY-MM-DD for a make-up working day)")
	fs.Bool("require-totp", false, "require a second factor (TOTP) for admins and supervisors")
	fs.String("require-totp-roles", "", "comma-separated roles that must use a second factor (implies --require-totp)")
	fs.String("tls-cert", "", "TLS certificate file (with --tls-key: serve HTTPS)")
	fs.String("tls-key", "", "TLS private key file")
	fs.Bool("pprof", false, "serve Go profiles at /debug/pprof/ to admins")
	fs.Int("gc-percent", DefaultGCPercent, "the Go collector's GOGC, 10 to 1000 (GOGC overrides): lower holds less memory for more CPU")
	fs.Int("memory-limit-mib", 0, "soft memory limit of the Go runtime in MiB (0: none; GOMEMLIMIT overrides; replaces the memory budget); keep it above the live heap, about 1 GiB at a million petitions")
	fs.Int("memory-budget-mib", DefaultMemoryBudgetMiB, "memory the Go runtime aims to stay within, in MiB (-1: none; a soft memory limit replaces it): the collector paces itself by gc-percent below it, and by half the live heap above it")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	conf, err := loadConfig(orEnv(*configPath, "PVAULT_CONFIG", getenv, ""))
	if err != nil {
		return err
	}
	conf.apply(fs, getenv)
	if err := conf.check(); err != nil {
		return err
	}
	dir, listen := conf.Data, conf.Addr
	if p := conf.gcPercent(getenv); p > 0 {
		defer debug.SetGCPercent(debug.SetGCPercent(p))
	}
	if lim := conf.memoryLimit(getenv); lim > 0 {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(lim))
	}
	if b := conf.memoryBudget(getenv); b > 0 {
		defer (&memBudget{budget: b, grow: budgetGrowth}).start()()
	}
	logw := logbuf.New(stderr, conf.LogFlushInterval.Duration)
	defer logw.Close() // deferred first: runs last, after the vault's and server's last lines
	logger, err := newLogger(logw, conf.LogLevel)
	if err != nil {
		return err
	}
	logger = slog.New(logbuf.Handler(logger.Handler(), logw))
	pass, err := passphrase(conf.PassphraseFile, getenv)
	if err != nil {
		return err
	}
	if *dev && isEmptyDir(dir) {
		pw, err := vault.Init(dir, vault.InitOptions{AdminPassword: getenv("PVAULT_ADMIN_PASSWORD"), Passphrase: pass})
		if err != nil {
			return fmt.Errorf("initialise %s: %w", dir, err)
		}
		fmt.Fprintf(stdout, "pvault: created a new vault in %s\n  user:     admin\n", dir)
		if getenv("PVAULT_ADMIN_PASSWORD") == "" {
			fmt.Fprintf(stdout, "  password: %s\n  (shown once: keep it now)\n", pw)
		} else {
			fmt.Fprintf(stdout, "  password: from PVAULT_ADMIN_PASSWORD\n")
		}
	}
	metrics := api.NewMetrics()
	vo := vault.Options{Passphrase: pass, Logger: logger, SessionTTL: conf.SessionTTL.Duration, Deadlines: conf.deadlineRules()}
	vo.Audit.OnCommit = metrics.AuditHook()
	if conf.Holidays != "" {
		if vo.Calendar, err = loadCalendar(conf.Holidays); err != nil {
			return err
		}
	}
	v, err := openVaultWith(dir, vo)
	if err != nil {
		return err
	}
	defer v.Close()
	if err := v.ResumeJobs(); err != nil {
		logger.Error("resume background jobs", "err", err)
	}
	t0 := time.Now()
	released := v.ReleaseMemory()
	logger.Info("released start-up memory", "table_mappings_mib", released>>20, "took", time.Since(t0).Round(time.Millisecond).String())
	if msg := v.Log().Broken(); msg != "" {
		logger.Error("the audit log does not match its latest checkpoint; the vault will not record or serve requests until this is resolved", "problem", msg)
	}
	cfg := api.Config{Vault: v, Logger: logger, Metrics: metrics, ArchiveRecipients: conf.ArchiveRecipients, Pprof: conf.Pprof,
		LoginFailures: conf.Limits.LoginFailures, LockoutWindow: conf.Limits.LockoutWindow.Duration, ClientFailures: conf.Limits.ClientFailures,
		PublicSubmits: conf.Limits.PublicSubmits, PublicLookups: conf.Limits.PublicLookups, PublicFailures: conf.Limits.PublicFailures}
	switch {
	case len(conf.RequireTOTPRoles) > 0:
		cfg.RequireTOTP = conf.RequireTOTPRoles
	case conf.RequireTOTP:
		cfg.RequireTOTP = api.DefaultTOTPRoles
	}
	srv, err := api.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      10 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	scheme := "http"
	if conf.TLS.Cert != "" {
		scheme = "https"
		hs.TLSConfig = tlsConfig()
	}
	logger.Info("listening", "addr", ln.Addr().String(), "data", dir, "tls", conf.TLS.Cert != "")
	fmt.Fprintf(stdout, "pvault: listening on %s://%s\n", scheme, ln.Addr())
	errc := make(chan error, 1)
	go func() {
		if conf.TLS.Cert != "" {
			errc <- hs.ServeTLS(ln, conf.TLS.Cert, conf.TLS.Key)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	if conf.SweepInterval != nil && conf.SweepInterval.Duration > 0 {
		go runSweeper(ctx, v, conf.SweepInterval.Duration, logger)
	}
	if conf.PageReleaseInterval != nil && conf.PageReleaseInterval.Duration > 0 {
		go runPageRelease(ctx, v, conf.PageReleaseInterval.Duration, logger)
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Error("shutdown", "err", err)
	}
	return nil
}

func isEmptyDir(dir string) bool {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return true
	}
	return err == nil && len(entries) == 0
}

// DefaultPageReleaseInterval is how often a server hands back the pages of
// its store's mapped files (vault.Vault.ReleasePages), and checks whether
// it is idle (idleHeap). Under a load of list pages at a million petitions
// the pages written grew by about 10 MB a second; under reads of random
// petitions the pages read by about 300 MB a second (each page fault maps
// the cached pages around it too), 1.2–1.6 GB resident with a release
// every 5 s against 0.04–0.5 GB every second. A release takes 3–7 ms at a
// million petitions (longer while a compaction runs), and lists and a mixed
// load measured the same either way.
const DefaultPageReleaseInterval = time.Second

// runPageRelease hands back the pages of the store's mapped files every
// interval until ctx ends, logging each release at debug level, and the
// free heap once the process is idle (idleHeap).
func runPageRelease(ctx context.Context, v *vault.Vault, every time.Duration, logger *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	idle := newIdleHeap(time.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			start := time.Now()
			rel := v.ReleasePages()
			now := time.Now()
			logger.Debug("pages released", "written_maps_mib", rel.Written>>20, "read_maps_mib", rel.Read>>20, "took", now.Sub(start))
			if idle.check(now) {
				logger.Debug("idle heap released", "took", time.Since(now))
			}
		}
	}
}

// runSweeper runs the deadline sweeper every interval until ctx ends.
func runSweeper(ctx context.Context, v *vault.Vault, every time.Duration, logger *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if rep, err := v.Sweep(); err != nil {
			logger.Error("sweep failed", "err", err)
		} else if rep.Closed > 0 || rep.Alerts > 0 || rep.Cleared > 0 {
			logger.Info("sweep", "checked", rep.Checked, "closed", rep.Closed, "alerts", rep.Alerts, "cleared", rep.Cleared)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func loadCalendar(path string) (*vault.Calendar, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return vault.ParseCalendar(f)
}
