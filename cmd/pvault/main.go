// Command pvault runs and administers a pvault vault.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pvault: %v\n", err)
		os.Exit(exitCode(err))
	}
}

// env looks up environment variables.
type env func(string) string

func run(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return errUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, getenv, stdout, stderr)
	case "init":
		return cmdInit(rest, getenv, stdout, stderr)
	case "audit":
		return cmdAudit(ctx, rest, getenv, stdout, stderr)
	case "user":
		return cmdUser(rest, getenv, stdout, stderr)
	case "sweep":
		return cmdSweep(rest, getenv, stdout, stderr)
	case "analysis":
		return cmdAnalysis(rest, getenv, stdout, stderr)
	case "check":
		return cmdCheck(rest, getenv, stdout, stderr)
	case "gc":
		return cmdGC(rest, getenv, stdout, stderr)
	case "gen":
		return cmdGen(ctx, rest, getenv, stdout, stderr)
	case "bench":
		return cmdBench(ctx, rest, getenv, stdout, stderr)
	case "config":
		return cmdConfig(rest, getenv, stdout, stderr)
	case "keys":
		return cmdKeys(rest, getenv, stdout, stderr)
	case "backup":
		return cmdBackup(ctx, rest, getenv, stdout, stderr)
	case "restore":
		return cmdRestore(rest, getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "pvault", version)
		return nil
	case "help", "-h", "--help":
		usage(stdout)
		return nil
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", cmd)
}

var version = "dev"

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: pvault <command> [flags]

commands:
  serve   --data DIR --addr 127.0.0.1:8080 [--dev]   run the vault (--dev: initialise DIR on first start)
  init    --data DIR [--recovery-recipient age1…] [--admin-password-file F] [--passphrase-file F]
  audit verify --data DIR                             verify the audit log offline (server stopped)
  audit verify --export FILE --key KEYFILE [--checkpoint FILE …]
                                                      verify an export against held checkpoints
  audit watch --url URL --key KEYFILE --state DIR [--token-file F] [--once]
                                                      monitor checkpoints; exit 3 on a fork or rollback
  user add --data DIR --username U --unit U --roles r1,r2 [--password-file F]
  user passwd --data DIR --username U [--password-file F]
  check --data DIR                                    read every record of a stopped vault; report damage
  gc --data DIR                                       reclaim the space of replaced records in a stopped vault (after keys rotate)
  sweep --data DIR | --url URL [--token-file F]     run the deadline sweeper once (for cron)
  analysis train --data FILE.jsonl --out MODEL       train a classifier (default data: the shipped corpus)
  analysis eval --data FILE.jsonl [--model MODEL]    per-class precision/recall/F1, macro-F1, confusion matrix
  analysis retrain --data DIR                        retrain a stopped vault's classifier with officers' corrections
  keys rotate --data DIR [--add-recovery age1…] [--remove-recovery age1…] [--keep-identity]
  keys passphrase --data DIR --new-passphrase-file F
  backup --data DIR --out FILE | backup --url URL --token-file F --out FILE
  restore --data EMPTYDIR --from FILE --identity KEYFILE
  config check --config FILE                          validate a configuration file
  bench [--url URL --user U --pass P] [-c 32] [-d 10s] [--mix create|read|list|mixed] [--preload N] [--baseline] [--json]
                                                      load test (in-process vault when --url is empty)
  bench --serve-baseline ADDR                         serve the plain baseline alone (for a generator in another process)
  gen --data DIR [--n 10000] [--unit group/scale]     fill a stopped vault with synthetic petitions (scripts/scale.sh)
  version

Flags have environment twins: PVAULT_DATA, PVAULT_ADDR, PVAULT_PASSPHRASE,
PVAULT_ADMIN_PASSWORD (used only when a vault is first initialised).
`)
}
