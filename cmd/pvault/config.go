package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"pvault/vault"
)

// Config is the server's configuration: a TOML file (--config, or
// PVAULT_CONFIG), overridden by environment variables, overridden by flags.
// The zero value of each field means its default.
type Config struct {
	Data           string `toml:"data"`
	Addr           string `toml:"addr"`
	PassphraseFile string `toml:"passphrase_file"`
	LogLevel       string `toml:"log_level"`
	// LogFlushInterval is how long log lines may wait to be written in a
	// batch (default 100ms; 0 writes each line at once). Warnings and
	// errors are written at once either way.
	LogFlushInterval *Duration `toml:"log_flush_interval"`
	SweepInterval    *Duration `toml:"sweep_interval"`
	// PageReleaseInterval is how often the pages of the store's mapped
	// files are handed back to the kernel (default 1s; 0 never).
	PageReleaseInterval *Duration `toml:"page_release_interval"`
	Holidays            string    `toml:"holidays"`
	RequireTOTP         bool      `toml:"require_totp"`
	RequireTOTPRoles    []string  `toml:"require_totp_roles"`
	ArchiveRecipients   []string  `toml:"archive_recipients"`
	SessionTTL          Duration  `toml:"session_ttl"`
	Pprof               bool      `toml:"pprof"`
	// MemoryLimitMiB is the Go runtime's soft memory limit (0 or -1: none,
	// the default). GOMEMLIMIT, when set, takes precedence.
	MemoryLimitMiB int `toml:"memory_limit_mib"`
	// GCPercent is the Go collector's GOGC (default DefaultGCPercent).
	// GOGC, when set, takes precedence.
	GCPercent int `toml:"gc_percent"`
	// MemoryBudgetMiB is the memory the Go runtime aims to stay within
	// (default DefaultMemoryBudgetMiB; -1: none); see memBudget. A soft
	// limit (MemoryLimitMiB or GOMEMLIMIT) replaces it.
	MemoryBudgetMiB int `toml:"memory_budget_mib"`
	TLS             struct {
		Cert string `toml:"cert"`
		Key  string `toml:"key"`
	} `toml:"tls"`
	Limits struct {
		LoginFailures  int      `toml:"login_failures"`
		LockoutWindow  Duration `toml:"lockout_window"`
		ClientFailures int      `toml:"client_failures"`
		PublicSubmits  int      `toml:"public_submits_per_hour"`
		PublicLookups  int      `toml:"public_lookups_per_minute"`
		PublicFailures int      `toml:"public_failures_per_15min"`
	} `toml:"limits"`
	Deadlines struct {
		AcceptDays    int      `toml:"accept_days"`
		ResolveDays   int      `toml:"resolve_days"`
		ReviewDays    int      `toml:"review_days"`
		MaxExtension  int      `toml:"max_extension_days"`
		DueSoon       Duration `toml:"due_soon"`
		WorkingDays   bool     `toml:"working_days"`
		ObjectionDays int      `toml:"objection_working_days"`
	} `toml:"deadlines"`
}

// DefaultLogFlushInterval is how long an info or debug log line may wait
// to be written with others (see internal/logbuf).
const DefaultLogFlushInterval = 100 * time.Millisecond

// Duration is a time.Duration written as "15m" in TOML.
type Duration struct{ time.Duration }

// UnmarshalText parses a duration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText writes a duration.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// loadConfig reads a TOML config file; unknown keys are errors.
func loadConfig(path string) (*Config, error) {
	c := &Config{}
	if path == "" {
		return c, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := toml.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		var sme *toml.StrictMissingError
		if errors.As(err, &sme) {
			return nil, fmt.Errorf("config %s: %s", path, strings.TrimSpace(sme.String()))
		}
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// apply overrides c with environment variables and then with the flags that
// were set on the command line.
func (c *Config) apply(fs *flag.FlagSet, getenv env) {
	envs := map[string]*string{"PVAULT_DATA": &c.Data, "PVAULT_ADDR": &c.Addr}
	for name, dst := range envs {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	fs.Visit(func(f *flag.Flag) {
		v := f.Value.String()
		switch f.Name {
		case "data":
			c.Data = v
		case "addr":
			c.Addr = v
		case "passphrase-file":
			c.PassphraseFile = v
		case "log-level":
			c.LogLevel = v
		case "sweep-interval":
			d, _ := time.ParseDuration(v)
			c.SweepInterval = &Duration{d}
		case "page-release-interval":
			d, _ := time.ParseDuration(v)
			c.PageReleaseInterval = &Duration{d}
		case "log-flush-interval":
			d, _ := time.ParseDuration(v)
			c.LogFlushInterval = &Duration{d}
		case "holidays":
			c.Holidays = v
		case "require-totp":
			c.RequireTOTP = v == "true"
		case "require-totp-roles":
			c.RequireTOTPRoles = splitList(v)
		case "tls-cert":
			c.TLS.Cert = v
		case "tls-key":
			c.TLS.Key = v
		case "pprof":
			c.Pprof = v == "true"
		case "memory-limit-mib":
			fmt.Sscan(v, &c.MemoryLimitMiB)
		case "gc-percent":
			fmt.Sscan(v, &c.GCPercent)
		case "memory-budget-mib":
			fmt.Sscan(v, &c.MemoryBudgetMiB)
		}
	})
	if c.Data == "" {
		c.Data = "./pvault-data"
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.SweepInterval == nil {
		c.SweepInterval = &Duration{time.Minute} // 0, when set, turns the sweeper off
	}
	if c.PageReleaseInterval == nil {
		c.PageReleaseInterval = &Duration{DefaultPageReleaseInterval} // 0, when set, never
	}
	if c.LogFlushInterval == nil {
		c.LogFlushInterval = &Duration{DefaultLogFlushInterval} // 0, when set, writes each line at once
	}
}

func splitList(s string) []string {
	var out []string
	for _, r := range strings.Split(s, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// check validates a configuration: files exist, TLS loads, recipients and
// roles parse.
func (c *Config) check() error {
	var errs []error
	if c.MemoryLimitMiB < -1 || c.MemoryLimitMiB > 1<<24 || c.MemoryLimitMiB > 0 && c.MemoryLimitMiB < 64 {
		errs = append(errs, errors.New("memory_limit_mib: 64 or more, or 0 (or -1) for none"))
	}
	if c.GCPercent != 0 && (c.GCPercent < 10 || c.GCPercent > 1000) {
		errs = append(errs, errors.New("gc_percent: 10 to 1000, or 0 for the default"))
	}
	if c.MemoryBudgetMiB < -1 || c.MemoryBudgetMiB > 1<<24 || c.MemoryBudgetMiB > 0 && c.MemoryBudgetMiB < 64 {
		errs = append(errs, errors.New("memory_budget_mib: 64 or more, 0 for the default, or -1 for none"))
	}
	if c.SweepInterval != nil && c.SweepInterval.Duration < 0 {
		errs = append(errs, errors.New("sweep_interval: must not be negative"))
	}
	if c.PageReleaseInterval != nil && c.PageReleaseInterval.Duration < 0 {
		errs = append(errs, errors.New("page_release_interval: must not be negative"))
	}
	if f := c.LogFlushInterval; f != nil && f.Duration != 0 && (f.Duration < time.Millisecond || f.Duration > 10*time.Second) {
		errs = append(errs, errors.New("log_flush_interval: 0 (each line at once), or 1ms to 10s"))
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		errs = append(errs, errors.New("tls: set both cert and key, or neither"))
	} else if c.TLS.Cert != "" {
		if _, err := tls.LoadX509KeyPair(c.TLS.Cert, c.TLS.Key); err != nil {
			errs = append(errs, fmt.Errorf("tls: %w", err))
		}
	}
	if c.Holidays != "" {
		if _, err := loadCalendar(c.Holidays); err != nil {
			errs = append(errs, fmt.Errorf("holidays: %w", err))
		}
	}
	if c.PassphraseFile != "" {
		if _, err := os.Stat(c.PassphraseFile); err != nil {
			errs = append(errs, fmt.Errorf("passphrase_file: %w", err))
		}
	}
	if _, err := vault.ParseRecipients(c.ArchiveRecipients); err != nil {
		errs = append(errs, fmt.Errorf("archive_recipients: %w", err))
	}
	for _, r := range c.RequireTOTPRoles {
		switch r {
		case "admin", "registrar", "officer", "supervisor", "auditor":
		default:
			errs = append(errs, fmt.Errorf("require_totp_roles: unknown role %q", r))
		}
	}
	var lvl = map[string]bool{"debug": true, "info": true, "warn": true, "error": true}
	if !lvl[strings.ToLower(c.LogLevel)] {
		errs = append(errs, fmt.Errorf("log_level: one of debug, info, warn, error"))
	}
	if c.Deadlines.MaxExtension < 0 || c.Deadlines.MaxExtension > 90 {
		errs = append(errs, errors.New("deadlines.max_extension_days: 0–90"))
	}
	return errors.Join(errs...)
}

// deadlineRules turns the [deadlines] table into the vault's rules.
func (c *Config) deadlineRules() vault.DeadlineRules {
	d := c.Deadlines
	r := vault.DeadlineRules{MaxExtension: d.MaxExtension, DueSoon: d.DueSoon.Duration}
	r.Accept = vault.DeadlineRule{Days: d.AcceptDays, Working: d.WorkingDays}
	r.Resolve = vault.DeadlineRule{Days: d.ResolveDays, Working: d.WorkingDays}
	r.ReviewRequest = vault.DeadlineRule{Days: d.ReviewDays, Working: d.WorkingDays}
	r.Review = vault.DeadlineRule{Days: d.ReviewDays, Working: d.WorkingDays}
	r.Objection = vault.DeadlineRule{Days: d.ObjectionDays, Working: true}
	return r
}

// cmdConfig checks a configuration file and prints the effective settings.
func cmdConfig(args []string, getenv env, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(stderr, "usage: pvault config check --config FILE")
		return errUsage
	}
	fs := newFlags("config check", stderr)
	path := fs.String("config", "", "the configuration file (PVAULT_CONFIG)")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	p := orEnv(*path, "PVAULT_CONFIG", getenv, "")
	if p == "" {
		return fmt.Errorf("config check: --config FILE is required")
	}
	c, err := loadConfig(p)
	if err != nil {
		return err
	}
	c.apply(fs, getenv)
	if err := c.check(); err != nil {
		return fmt.Errorf("config %s:\n%w", p, err)
	}
	b, _ := toml.Marshal(c)
	fmt.Fprintf(stdout, "# %s is valid; effective settings:\n%s", p, b)
	return nil
}

// tlsConfig is a modern server TLS configuration.
func tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS12,
		CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256},
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305,
		},
	}
}

// DefaultGCPercent lets the heap grow by 75 % of what the last collection
// found live before the next one, against Go's 100. At a million petitions
// under a load of list pages the live heap is some 170 MiB (table indexes,
// memtables, the analysis models), and the heap's growth is most of the
// rest of the resident memory: 353 MB anonymous with 100, 308 MB with 75,
// for about 3 % of the CPU of a create (docs/PERFORMANCE.md).
const DefaultGCPercent = 75

// gcPercent is the collector's percentage to set, or 0 to leave it (GOGC
// set: the runtime has applied it already).
func (c *Config) gcPercent(getenv env) int {
	switch {
	case getenv("GOGC") != "":
		return 0
	case c.GCPercent == 0:
		return DefaultGCPercent
	}
	return c.GCPercent
}

// memoryLimit is the soft memory limit to set in bytes, or 0 for none
// (the default, or GOMEMLIMIT set: the runtime has applied it already).
//
// There is no default limit: the live heap of a large vault is not bounded
// by its caches alone. The store's memtables (48 MiB), block cache (64 MiB)
// and index cache (up to 256 MiB) are steady, but a compaction builds its
// tables in memory, and at a million petitions the live heap was seen at
// 1 GB while compactions ran. A soft limit below the live heap makes the
// collector run back to back: creates fell from about 200/s to 11/s with
// the 512 MiB default of an earlier version (docs/PERFORMANCE.md).
func (c *Config) memoryLimit(getenv env) int64 {
	if getenv("GOMEMLIMIT") != "" || c.MemoryLimitMiB <= 0 {
		return 0
	}
	return int64(c.MemoryLimitMiB) << 20
}

// DefaultMemoryBudgetMiB is the default memory budget of the Go runtime
// (see memBudget). A vault's heap stays under it until the vault is large
// (some 200 MiB live), and nothing changes there. At a million petitions
// the live heap is 230–350 MB and the budget holds the heap to 1.5 times
// it: 393–402 MB resident on average under list pages against 486–511 MB
// without, as many pages a second; reads 4 % fewer and creates 8 % fewer
// there (docs/PERFORMANCE.md, "The twentieth session").
const DefaultMemoryBudgetMiB = 340

// memoryBudget is the memory budget to keep in bytes (see memBudget), or 0
// for none: set to -1, or a soft limit set (memory_limit_mib or
// GOMEMLIMIT), which the budget would replace.
func (c *Config) memoryBudget(getenv env) uint64 {
	switch {
	case getenv("GOMEMLIMIT") != "" || c.MemoryLimitMiB > 0 || c.MemoryBudgetMiB < 0:
		return 0
	case c.MemoryBudgetMiB == 0:
		return DefaultMemoryBudgetMiB << 20
	}
	return uint64(c.MemoryBudgetMiB) << 20
}
