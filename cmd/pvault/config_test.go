package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pvault/vault"
)

// Tests of the configuration file, its precedence against the environment
// and flags, `pvault config check`, and serving HTTPS (issue 8, "Config and
// deployment"). Helpers are prefixed op.

const opDeployConfig = "../../deploy/pvault.toml"

func opConfigFile(tb testing.TB, text string) string {
	tb.Helper()
	return opWrite(tb, tb.TempDir(), "pvault.toml", []byte(text))
}

func TestConfigLoadDeployFile(t *testing.T) {
	c, err := loadConfig(opDeployConfig)
	if err != nil {
		t.Fatalf("load %s: %v", opDeployConfig, err)
	}
	if c.Addr != "0.0.0.0:8443" || c.Data != "/var/lib/pvault" || c.SweepInterval.Duration != time.Minute || c.SessionTTL.Duration != 8*time.Hour ||
		!c.RequireTOTP || c.Pprof || c.Limits.LoginFailures != 5 || c.Limits.LockoutWindow.Duration != 15*time.Minute ||
		c.Deadlines.AcceptDays != 15 || c.Deadlines.DueSoon.Duration != 72*time.Hour || c.Deadlines.ObjectionDays != 5 {
		t.Errorf("deploy config loaded as %+v", c)
	}
	if c, err := loadConfig(""); err != nil || c.Addr != "" {
		t.Errorf("no config file: %+v, %v", c, err)
	}
}

func TestConfigMemoryLimit(t *testing.T) {
	none := func(string) string { return "" }
	for _, tt := range []struct {
		mib  int
		env  string
		want int64
		bad  bool
	}{
		{0, "", 0, false}, // none by default
		{512, "", 512 << 20, false},
		{64, "", 64 << 20, false},
		{-1, "", 0, false},
		{512, "1GiB", 0, false}, // GOMEMLIMIT wins: the runtime applied it
		{-2, "", 0, true},
		{63, "", 0, true},
		{1<<24 + 1, "", 0, true},
	} {
		c := &Config{MemoryLimitMiB: tt.mib, LogLevel: "info"}
		getenv := none
		if tt.env != "" {
			getenv = func(k string) string {
				if k == "GOMEMLIMIT" {
					return tt.env
				}
				return ""
			}
		}
		err := c.check()
		if (err != nil) != tt.bad || err != nil && !strings.Contains(err.Error(), "memory_limit_mib") {
			t.Errorf("check of memory_limit_mib = %d: %v", tt.mib, err)
		}
		if !tt.bad {
			if got := c.memoryLimit(getenv); got != tt.want {
				t.Errorf("memory_limit_mib = %d, GOMEMLIMIT=%q: limit %d, want %d", tt.mib, tt.env, got, tt.want)
			}
		}
	}
	// The flag overrides the file.
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.Int("memory-limit-mib", 0, "")
	if err := fs.Parse([]string{"--memory-limit-mib", "256"}); err != nil {
		t.Fatal(err)
	}
	c := &Config{MemoryLimitMiB: 1024}
	c.apply(fs, none)
	if c.MemoryLimitMiB != 256 {
		t.Errorf("flag did not override the file: %d", c.MemoryLimitMiB)
	}
}

func TestConfigLoadErrors(t *testing.T) {
	for _, tt := range []struct {
		name, text string
		want       []string // in the error
	}{
		{"unknown key", "adress = \"127.0.0.1:1\"\n", []string{"adress"}},
		{"unknown table key", "[tls]\ncertificate = \"x.pem\"\n", []string{"certificate"}},
		{"unknown table", "[logging]\nlevel = \"debug\"\n", []string{"logging"}},
		{"bad duration", "sweep_interval = \"soon\"\n", []string{"soon"}},
		{"duration without unit", "[limits]\nlockout_window = \"15\"\n", []string{"15"}},
		{"bad nested duration", "[deadlines]\ndue_soon = \"three days\"\n", []string{"three days"}},
		{"wrong type", "pprof = \"yes\"\n", []string{"pprof"}},
		{"memory limit type", "memory_limit_mib = \"384MiB\"\n", []string{"memorylimitmib"}},
		{"not TOML", "addr = \n", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := opConfigFile(t, tt.text)
			c, err := loadConfig(p)
			if err == nil {
				t.Fatalf("loadConfig accepted %q as %+v", tt.text, c)
			}
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error %q does not name the file", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(strings.ToLower(err.Error()), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
	if _, err := loadConfig(filepath.Join(t.TempDir(), "missing.toml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// opServeFlags are the flags of `pvault serve` that override the config.
func opServeFlags(tb testing.TB, args ...string) *flag.FlagSet {
	tb.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String("data", "", "")
	fs.String("addr", "", "")
	fs.String("passphrase-file", "", "")
	fs.String("log-level", "info", "")
	fs.Duration("sweep-interval", time.Minute, "")
	fs.String("holidays", "", "")
	fs.Bool("require-totp", false, "")
	fs.String("require-totp-roles", "", "")
	fs.String("tls-cert", "", "")
	fs.String("tls-key", "", "")
	fs.Bool("pprof", false, "")
	fs.Duration("page-release-interval", DefaultPageReleaseInterval, "")
	fs.Int("gc-percent", DefaultGCPercent, "")
	fs.Int("memory-budget-mib", DefaultMemoryBudgetMiB, "")
	if err := fs.Parse(args); err != nil {
		tb.Fatal(err)
	}
	return fs
}

func TestConfigPrecedence(t *testing.T) {
	file := opConfigFile(t, `data = "/from/file"
addr = "10.0.0.1:1001"
log_level = "warn"
sweep_interval = "5m"
pprof = false
require_totp_roles = ["admin"]
`)
	env := map[string]string{"PVAULT_DATA": "/from/env", "PVAULT_ADDR": "10.0.0.2:1002"}
	for _, tt := range []struct {
		name      string
		file      string
		env       map[string]string
		args      []string
		data      string
		addr      string
		logLevel  string
		sweep     time.Duration
		pprof     bool
		totpRoles []string
	}{
		{"defaults", "", nil, nil, "./pvault-data", "127.0.0.1:8080", "info", time.Minute, false, nil},
		{"file", file, nil, nil, "/from/file", "10.0.0.1:1001", "warn", 5 * time.Minute, false, []string{"admin"}},
		{"env over file", file, env, nil, "/from/env", "10.0.0.2:1002", "warn", 5 * time.Minute, false, []string{"admin"}},
		{"env without file", "", env, nil, "/from/env", "10.0.0.2:1002", "info", time.Minute, false, nil},
		{"flags over env and file", file, env,
			[]string{"--data", "/from/flag", "--addr", "10.0.0.3:1003", "--log-level", "debug", "--sweep-interval", "30s", "--pprof", "--require-totp-roles", "admin,auditor"},
			"/from/flag", "10.0.0.3:1003", "debug", 30 * time.Second, true, []string{"admin", "auditor"}},
		{"one flag", file, env, []string{"--addr", "10.0.0.3:1003"}, "/from/env", "10.0.0.3:1003", "warn", 5 * time.Minute, false, []string{"admin"}},
		{"flag equal to its default still wins", file, nil, []string{"--log-level", "info"}, "/from/file", "10.0.0.1:1001", "info", 5 * time.Minute, false, []string{"admin"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			c.apply(opServeFlags(t, tt.args...), func(k string) string { return tt.env[k] })
			if c.Data != tt.data || c.Addr != tt.addr || c.LogLevel != tt.logLevel || c.SweepInterval.Duration != tt.sweep || c.Pprof != tt.pprof ||
				strings.Join(c.RequireTOTPRoles, ",") != strings.Join(tt.totpRoles, ",") {
				t.Errorf("effective config data=%q addr=%q log=%q sweep=%v pprof=%v totp=%v; want %q %q %q %v %v %v",
					c.Data, c.Addr, c.LogLevel, c.SweepInterval.Duration, c.Pprof, c.RequireTOTPRoles,
					tt.data, tt.addr, tt.logLevel, tt.sweep, tt.pprof, tt.totpRoles)
			}
		})
	}
}

// TestConfigSweepIntervalZero: `serve --help` says "--sweep-interval 0 turns
// it off".
func TestConfigSweepIntervalZero(t *testing.T) {
	c, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	c.apply(opServeFlags(t, "--sweep-interval", "0"), func(string) string { return "" })
	if c.SweepInterval.Duration != 0 {
		t.Errorf("--sweep-interval 0 gives a sweep interval of %v, want 0 (the sweeper off)", c.SweepInterval.Duration)
	}
}

// TestConfigPageReleaseInterval: 1 s by default, from the file, the flag
// over the file, 0 for never, and no negative interval.
func TestConfigPageReleaseInterval(t *testing.T) {
	none := func(string) string { return "" }
	c, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	c.apply(opServeFlags(t), none)
	if c.PageReleaseInterval.Duration != time.Second || c.check() != nil {
		t.Errorf("default: %v, %v", c.PageReleaseInterval.Duration, c.check())
	}
	c, err = loadConfig(opConfigFile(t, "page_release_interval = \"30s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	c.apply(opServeFlags(t), none)
	if c.PageReleaseInterval.Duration != 30*time.Second {
		t.Errorf("from the file: %v", c.PageReleaseInterval.Duration)
	}
	c.apply(opServeFlags(t, "--page-release-interval", "0"), none)
	if c.PageReleaseInterval.Duration != 0 || c.check() != nil {
		t.Errorf("--page-release-interval 0 over the file: %v, %v", c.PageReleaseInterval.Duration, c.check())
	}
	c, err = loadConfig(opConfigFile(t, "page_release_interval = \"-1s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	c.apply(opServeFlags(t), none)
	if err := c.check(); err == nil || !strings.Contains(err.Error(), "page_release_interval") {
		t.Errorf("a negative interval: %v", err)
	}
}

// TestConfigGCPercent: 75 by default, as set in the file or by the flag,
// left to the runtime when GOGC is set, and refused out of range.
func TestConfigGCPercent(t *testing.T) {
	none := func(string) string { return "" }
	gogc := func(k string) string {
		if k == "GOGC" {
			return "200"
		}
		return ""
	}
	for _, tt := range []struct {
		pct  int
		env  env
		want int
		bad  bool
	}{
		{0, none, DefaultGCPercent, false},
		{50, none, 50, false},
		{10, none, 10, false},
		{1000, none, 1000, false},
		{50, gogc, 0, false}, // GOGC wins: the runtime applied it
		{0, gogc, 0, false},
		{9, none, 0, true},
		{-1, none, 0, true},
		{1001, none, 0, true},
	} {
		c := &Config{GCPercent: tt.pct, LogLevel: "info"}
		err := c.check()
		if (err != nil) != tt.bad || err != nil && !strings.Contains(err.Error(), "gc_percent") {
			t.Errorf("check of gc_percent = %d: %v", tt.pct, err)
		}
		if !tt.bad {
			if got := c.gcPercent(tt.env); got != tt.want {
				t.Errorf("gc_percent = %d, GOGC=%q: %d, want %d", tt.pct, tt.env("GOGC"), got, tt.want)
			}
		}
	}
	c, err := loadConfig(opConfigFile(t, "gc_percent = 200\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.apply(opServeFlags(t), none); c.GCPercent != 200 {
		t.Errorf("from the file: %d", c.GCPercent)
	}
	if c.apply(opServeFlags(t, "--gc-percent", "60"), none); c.GCPercent != 60 {
		t.Errorf("the flag over the file: %d", c.GCPercent)
	}
}

// TestConfigMemoryBudget: DefaultMemoryBudgetMiB by default, as set in
// the file or by the flag, none at -1 or when a soft limit is set
// (memory_limit_mib or GOMEMLIMIT), and refused out of range.
func TestConfigMemoryBudget(t *testing.T) {
	none := func(string) string { return "" }
	memlimit := func(k string) string {
		if k == "GOMEMLIMIT" {
			return "1GiB"
		}
		return ""
	}
	for _, tt := range []struct {
		mib, limit int
		env        env
		want       uint64
		bad        bool
	}{
		{0, 0, none, DefaultMemoryBudgetMiB << 20, false},
		{-1, 0, none, 0, false},
		{512, 0, none, 512 << 20, false},
		{64, 0, none, 64 << 20, false},
		{512, 0, memlimit, 0, false}, // a soft limit replaces the budget
		{0, 1024, none, 0, false},
		{-2, 0, none, 0, true},
		{63, 0, none, 0, true},
		{1<<24 + 1, 0, none, 0, true},
	} {
		c := &Config{MemoryBudgetMiB: tt.mib, MemoryLimitMiB: tt.limit, LogLevel: "info"}
		err := c.check()
		if (err != nil) != tt.bad || err != nil && !strings.Contains(err.Error(), "memory_budget_mib") {
			t.Errorf("check of memory_budget_mib = %d: %v", tt.mib, err)
		}
		if !tt.bad {
			if got := c.memoryBudget(tt.env); got != tt.want {
				t.Errorf("memory_budget_mib = %d, memory_limit_mib = %d, GOMEMLIMIT=%q: %d, want %d", tt.mib, tt.limit, tt.env("GOMEMLIMIT"), got, tt.want)
			}
		}
	}
	c, err := loadConfig(opConfigFile(t, "memory_budget_mib = 600\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.apply(opServeFlags(t), none); c.MemoryBudgetMiB != 600 {
		t.Errorf("from the file: %d", c.MemoryBudgetMiB)
	}
	if c.apply(opServeFlags(t, "--memory-budget-mib", "-1"), none); c.MemoryBudgetMiB != -1 {
		t.Errorf("the flag over the file: %d", c.MemoryBudgetMiB)
	}
}

// opCert writes a self-signed ECDSA certificate for 127.0.0.1 and localhost
// and its key, and returns the files and the certificate.
func opCert(tb testing.TB, dir, name string) (certFile, keyFile string, cert *x509.Certificate) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "pvault test " + name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	if cert, err = x509.ParseCertificate(der); err != nil {
		tb.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	certFile = opWrite(tb, dir, name+".crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	keyFile = opWrite(tb, dir, name+".key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}))
	return certFile, keyFile, cert
}

func TestConfigCheck(t *testing.T) {
	out := opMustRun(t, nil, "config", "check", "--config", opDeployConfig)
	if !strings.Contains(out, "is valid") || !strings.Contains(out, `addr = '0.0.0.0:8443'`) && !strings.Contains(out, `addr = "0.0.0.0:8443"`) {
		t.Errorf("config check printed %q", out)
	}
	opMustRun(t, map[string]string{"PVAULT_CONFIG": opDeployConfig}, "config", "check")

	dir := t.TempDir()
	cert, key, _ := opCert(t, dir, "a")
	cert2, key2, _ := opCert(t, dir, "b")
	recipient := opIdentity(t).Recipient().String()
	// Top-level keys come before [tls]; after it they would belong to the table.
	good := opConfigFile(t, "archive_recipients = [\""+recipient+"\"]\nrequire_totp_roles = [\"admin\", \"auditor\"]\n[tls]\ncert = \""+cert+"\"\nkey = \""+key+"\"\n")
	opMustRun(t, nil, "config", "check", "--config", good)

	for _, tt := range []struct {
		name, text string
		want       []string
	}{
		{"mismatched TLS pair", "[tls]\ncert = \"" + cert + "\"\nkey = \"" + key2 + "\"\n", []string{"tls", "does not match"}},
		{"missing TLS file", "[tls]\ncert = \"" + filepath.Join(dir, "none.crt") + "\"\nkey = \"" + key + "\"\n", []string{"tls", "none.crt"}},
		{"cert without key", "[tls]\ncert = \"" + cert2 + "\"\n", []string{"tls", "both"}},
		{"bad role", "require_totp_roles = [\"admin\", \"janitor\"]\n", []string{"require_totp_roles", "janitor"}},
		{"bad recipient", "archive_recipients = [\"age1notakey\"]\n", []string{"archive_recipients"}},
		{"identity as recipient", "archive_recipients = [\"" + opIdentity(t).String() + "\"]\n", []string{"archive_recipients"}},
		{"bad log level", "log_level = \"loud\"\n", []string{"log_level"}},
		{"missing holidays", "holidays = \"" + filepath.Join(dir, "holidays.txt") + "\"\n", []string{"holidays"}},
		{"missing passphrase file", "passphrase_file = \"" + filepath.Join(dir, "pass") + "\"\n", []string{"passphrase_file"}},
		{"extension too long", "[deadlines]\nmax_extension_days = 120\n", []string{"max_extension_days"}},
		{"several problems", "require_totp_roles = [\"janitor\"]\narchive_recipients = [\"age1notakey\"]\n", []string{"janitor", "archive_recipients"}},
		{"unknown key", "tls_cert = \"x\"\n", []string{"tls_cert"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := opConfigFile(t, tt.text)
			out, _, err := opRun(nil, "config", "check", "--config", p)
			if err == nil {
				t.Fatalf("config check accepted %q: %s", tt.text, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "AGE-SECRET-KEY") {
				t.Errorf("error %q echoes a secret key", err)
			}
		})
	}
	for _, args := range [][]string{{"config"}, {"config", "lint"}, {"config", "check", "--nope"}} {
		if _, _, err := opRun(nil, args...); !errors.Is(err, errUsage) {
			t.Errorf("pvault %s: %v, want a usage error", strings.Join(args, " "), err)
		}
	}
	if _, _, err := opRun(nil, "config", "check"); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Errorf("config check without a file: %v", err)
	}
}

// opSyncBuf is a buffer safe for one writer and concurrent readers.
type opSyncBuf struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *opSyncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *opSyncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestServeTLS(t *testing.T) {
	dir, _ := opVault(t, 0)
	tmp := t.TempDir()
	certFile, keyFile, cert := opCert(t, tmp, "server")
	cfg := opConfigFile(t, "addr = \"127.0.0.1:0\"\nsweep_interval = \"1h\"\n[tls]\ncert = \""+certFile+"\"\nkey = \""+keyFile+"\"\n")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr opSyncBuf
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--config", cfg, "--data", dir}, func(string) string { return "" }, &stdout, &stderr)
	}()
	var addr string
	for deadline := time.Now().Add(20 * time.Second); addr == ""; {
		sc := bufio.NewScanner(strings.NewReader(stdout.String()))
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "pvault: listening on https://"); ok {
				addr = a
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve stopped: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
		default:
		}
		if addr == "" {
			if time.Now().After(deadline) {
				t.Fatalf("serve did not print its https address within 20 s: %q", stdout.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	client := func(min, max uint16) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: min, MaxVersion: max}}}
	}
	for _, tt := range []struct {
		name     string
		min, max uint16
	}{{"TLS 1.3", tls.VersionTLS13, tls.VersionTLS13}, {"TLS 1.2", tls.VersionTLS12, tls.VersionTLS12}} {
		resp, err := client(tt.min, tt.max).Get("https://" + addr + "/healthz")
		if err != nil {
			t.Errorf("%s: GET /healthz: %v", tt.name, err)
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.Version != tt.max {
			t.Errorf("%s: GET /healthz: %s over %v", tt.name, resp.Status, resp.TLS)
		}
	}
	if resp, err := client(tls.VersionTLS10, tls.VersionTLS11).Get("https://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("the server accepted TLS 1.1")
	}
	// Without the certificate in the pool, the client refuses the server.
	if resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("https://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("an unknown self-signed certificate was trusted")
	}
	// Plain HTTP to the TLS port gets no API answer.
	if resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/healthz"); err == nil {
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP was served on the TLS port")
		}
		resp.Body.Close()
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after cancel: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop within 20 s of the cancel")
	}
	// The vault was closed cleanly: it opens again.
	v, err := vault.Open(dir, vault.Options{Argon2: opArgon})
	if err != nil {
		t.Fatalf("reopen after serve: %v", err)
	}
	v.Close()
}

func TestConfigLogFlushInterval(t *testing.T) {
	none := func(string) string { return "" }
	flags := func(args ...string) *flag.FlagSet {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.Duration("log-flush-interval", DefaultLogFlushInterval, "")
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return fs
	}
	for _, tt := range []struct {
		name, file string
		args       []string
		want       time.Duration
	}{
		{"default", "", nil, DefaultLogFlushInterval},
		{"file", "log_flush_interval = \"1s\"\n", nil, time.Second},
		{"file 0 writes each line", "log_flush_interval = \"0s\"\n", nil, 0},
		{"flag over file", "log_flush_interval = \"1s\"\n", []string{"--log-flush-interval", "0"}, 0},
	} {
		c := &Config{}
		if tt.file != "" {
			var err error
			if c, err = loadConfig(opConfigFile(t, tt.file)); err != nil {
				t.Fatal(err)
			}
		}
		c.apply(flags(tt.args...), none)
		if c.LogFlushInterval == nil || c.LogFlushInterval.Duration != tt.want {
			t.Errorf("%s: log flush interval %v, want %v", tt.name, c.LogFlushInterval, tt.want)
		}
		if err := c.check(); err != nil {
			t.Errorf("%s: check: %v", tt.name, err)
		}
	}
	for _, bad := range []time.Duration{-time.Millisecond, time.Microsecond, 11 * time.Second} {
		c := &Config{}
		c.apply(flags("--log-flush-interval", bad.String()), none)
		if err := c.check(); err == nil || !strings.Contains(err.Error(), "log_flush_interval") {
			t.Errorf("check accepted a log flush interval of %v: %v", bad, err)
		}
	}
}
