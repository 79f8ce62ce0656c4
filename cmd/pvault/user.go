package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"pvault/audit"
	"pvault/vault"
)

func cmdUser(args []string, getenv env, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "add" && args[0] != "passwd") {
		fmt.Fprintln(stderr, "usage: pvault user add|passwd --data DIR --username U …")
		return errUsage
	}
	sub := args[0]
	fs := newFlags("user "+sub, stderr)
	data := fs.String("data", "", "data directory (PVAULT_DATA); the server must be stopped")
	username := fs.String("username", "", "username")
	unit := fs.String("unit", "", "unit (add)")
	roles := fs.String("roles", "", "comma-separated roles (add)")
	display := fs.String("display-name", "", "display name (add)")
	pwFile := fs.String("password-file", "", "file holding the password (else generated)")
	passFile := fs.String("passphrase-file", "", "file holding the passphrase of a sealed vault identity")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	dir := orEnv(*data, "PVAULT_DATA", getenv, "")
	if dir == "" || *username == "" {
		return fmt.Errorf("user %s: --data and --username are required", sub)
	}
	pw := ""
	generated := false
	if *pwFile != "" {
		var err error
		if pw, err = readSecretFile(*pwFile); err != nil {
			return err
		}
	} else {
		pw, generated = vault.NewReceiptCode(), true
	}
	pass, err := passphrase(*passFile, getenv)
	if err != nil {
		return err
	}
	v, err := openVault(dir, pass, slog.New(slog.DiscardHandler), false)
	if err != nil {
		return err
	}
	defer v.Close()
	e := &audit.Entry{RequestID: audit.NewRequestID(), Decision: audit.Allow, Status: 200, Details: map[string]any{"via": "cli"}}
	switch sub {
	case "add":
		e.Action, e.Status = "user.create", 201
		var rs []string
		for _, r := range strings.Split(*roles, ",") {
			if r = strings.TrimSpace(r); r != "" {
				rs = append(rs, r)
			}
		}
		u, _, err := v.CreateUser(vault.NewUser{Username: *username, Password: pw, DisplayName: *display, Unit: *unit, Roles: rs}, e)
		if err != nil {
			return fmt.Errorf("user add: %w", err)
		}
		fmt.Fprintf(stdout, "pvault: added user %s (id %s)\n", u.Username, u.ID)
	case "passwd":
		e.Action = "user.update"
		if err := v.SetPassword(*username, pw, e); err != nil {
			return fmt.Errorf("user passwd: %w", err)
		}
		fmt.Fprintf(stdout, "pvault: password of %s changed; their tokens are revoked\n", *username)
	}
	if generated {
		fmt.Fprintf(stdout, "  password: %s\n  (shown once: keep it now)\n", pw)
	}
	return nil
}
