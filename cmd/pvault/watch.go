package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"pvault/audit"
)

// httpSource reads checkpoints and proofs from a running vault.
type httpSource struct {
	base  string
	token string
	c     *http.Client
}

func (h *httpSource) get(path string) ([]byte, error) {
	req, err := http.NewRequest("GET", h.base+path, nil)
	if err != nil {
		return nil, err
	}
	if h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	resp, err := h.c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return b, nil
}

func (h *httpSource) Checkpoint() ([]byte, error) { return h.get("/audit/checkpoint") }

func (h *httpSource) Consistency(old, new int64) ([]tlog.Hash, error) {
	b, err := h.get("/audit/proof/consistency?old=" + strconv.FormatInt(old, 10) + "&new=" + strconv.FormatInt(new, 10))
	if err != nil {
		return nil, err
	}
	var p audit.ConsistencyProof
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("consistency proof: %w", err)
	}
	return p.Hashes, nil
}

func cmdAuditWatch(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlags("audit watch", stderr)
	url := fs.String("url", "", "base URL of the vault (http://host:8080)")
	keyFile := fs.String("key", "", "file holding the checkpoint verifier key")
	state := fs.String("state", "", "directory for the checkpoints this monitor trusts")
	tokenFile := fs.String("token-file", "", "file holding an auditor's token (else PVAULT_TOKEN)")
	interval := fs.Duration("interval", 10*time.Second, "time between polls")
	once := fs.Bool("once", false, "poll once and exit")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *url == "" || *keyFile == "" || *state == "" {
		return fmt.Errorf("audit watch: --url, --key and --state are required")
	}
	kb, err := os.ReadFile(*keyFile)
	if err != nil {
		return err
	}
	token := getenv("PVAULT_TOKEN")
	if *tokenFile != "" {
		if token, err = readSecretFile(*tokenFile); err != nil {
			return err
		}
	}
	base := strings.TrimSuffix(*url, "/")
	if !strings.HasSuffix(base, "/api/v1") {
		base += "/api/v1"
	}
	src := &httpSource{base: base, token: token, c: &http.Client{Timeout: 30 * time.Second}}
	m := &audit.Monitor{Key: strings.TrimSpace(string(kb)), Dir: *state}
	for {
		c, fresh, err := m.Poll(src)
		var alarm *audit.AlarmError
		switch {
		case errors.As(err, &alarm):
			fmt.Fprintf(stdout, "%s ALARM %s: %s (evidence kept in %s)\n", time.Now().UTC().Format(time.RFC3339), alarm.Kind, alarm.Msg, *state)
			return &exitError{code: 3, err: alarm}
		case err != nil:
			fmt.Fprintf(stderr, "%s poll failed: %v\n", time.Now().UTC().Format(time.RFC3339), err)
			if *once {
				return err
			}
		case fresh:
			fmt.Fprintf(stdout, "%s trusted checkpoint: size %d root %s\n", time.Now().UTC().Format(time.RFC3339), c.Size, audit.EncodeHash(c.Root))
		}
		if *once {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*interval):
		}
	}
}
