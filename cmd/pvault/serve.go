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
	"strings"
	"time"

	"pvault/api"
	"pvault/vault"
)

func cmdServe(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	data := fs.String("data", "", "data directory (PVAULT_DATA; default ./pvault-data)")
	addr := fs.String("addr", "", "listen address (PVAULT_ADDR; default 127.0.0.1:8080)")
	dev := fs.Bool("dev", false, "initialise an empty data directory on first start")
	passFile := fs.String("passphrase-file", "", "file holding the passphrase of a sealed vault identity")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	sweepEvery := fs.Duration("sweep-interval", time.Minute, "how often the deadline sweeper runs (0 turns it off)")
	holidays := fs.String("holidays", "", "holiday calendar file (YYYY-MM-DD per line; +YYYY-MM-DD for a make-up working day)")
	requireTOTP := fs.Bool("require-totp", false, "require a second factor (TOTP) for admins and supervisors")
	totpRoles := fs.String("require-totp-roles", "", "comma-separated roles that must use a second factor (implies --require-totp)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	dir := orEnv(*data, "PVAULT_DATA", getenv, "./pvault-data")
	listen := orEnv(*addr, "PVAULT_ADDR", getenv, "127.0.0.1:8080")
	logger, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	pass, err := passphrase(*passFile, getenv)
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
	vo := vault.Options{Passphrase: pass, Logger: logger}
	vo.Audit.OnCommit = metrics.AuditHook()
	if *holidays != "" {
		if vo.Calendar, err = loadCalendar(*holidays); err != nil {
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
	if msg := v.Log().Broken(); msg != "" {
		logger.Error("the audit log does not match its latest checkpoint; the vault will not record or serve requests until this is resolved", "problem", msg)
	}
	cfg := api.Config{Vault: v, Logger: logger, Metrics: metrics}
	if *totpRoles != "" {
		for _, r := range strings.Split(*totpRoles, ",") {
			if r = strings.TrimSpace(r); r != "" {
				cfg.RequireTOTP = append(cfg.RequireTOTP, r)
			}
		}
	} else if *requireTOTP {
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
	}
	logger.Info("listening", "addr", ln.Addr().String(), "data", dir)
	fmt.Fprintf(stdout, "pvault: listening on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	if *sweepEvery > 0 {
		go runSweeper(ctx, v, *sweepEvery, logger)
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
