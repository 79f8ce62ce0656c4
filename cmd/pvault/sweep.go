package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// cmdSweep runs the deadline sweeper once: on a stopped vault's data
// directory, or through a running server's POST /admin/sweep (as an admin).
func cmdSweep(args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlags("sweep", stderr)
	data := fs.String("data", "", "data directory of a stopped vault (PVAULT_DATA)")
	url := fs.String("url", "", "base URL of a running vault")
	tokenFile := fs.String("token-file", "", "file holding an admin's token (else PVAULT_TOKEN), with --url")
	passFile := fs.String("passphrase-file", "", "file holding the passphrase of a sealed vault identity")
	holidays := fs.String("holidays", "", "holiday calendar file")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *url != "" {
		token := getenv("PVAULT_TOKEN")
		if *tokenFile != "" {
			var err error
			if token, err = readSecretFile(*tokenFile); err != nil {
				return err
			}
		}
		base := strings.TrimSuffix(*url, "/")
		if !strings.HasSuffix(base, "/api/v1") {
			base += "/api/v1"
		}
		req, err := http.NewRequest("POST", base+"/admin/sweep", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("sweep: %s: %s", resp.Status, strings.TrimSpace(string(b)))
		}
		fmt.Fprintln(stdout, strings.TrimSpace(string(b)))
		return nil
	}
	dir := orEnv(*data, "PVAULT_DATA", getenv, "")
	if dir == "" {
		return fmt.Errorf("sweep: --data DIR or --url URL is required")
	}
	pass, err := passphrase(*passFile, getenv)
	if err != nil {
		return err
	}
	opts := vaultOptions(pass)
	if *holidays != "" {
		if opts.Calendar, err = loadCalendar(*holidays); err != nil {
			return err
		}
	}
	v, err := openVaultWith(dir, opts)
	if err != nil {
		return err
	}
	defer v.Close()
	rep, err := v.Sweep()
	if err != nil {
		return err
	}
	b, _ := json.Marshal(rep)
	fmt.Fprintln(stdout, string(b))
	return nil
}
