#!/usr/bin/env bash
# Separate processes (issue 9's check): a pvault dev server and the plain
# baseline server, each in a process of its own, loaded in turn by the
# load tool in a third; prints each one's throughput and its own CPU a
# request, and the ratios.
#   scripts/separate.sh [MIX] [ROUNDS]     # MIX: read (default), create, list, mixed
# Each round: pvault (2 s warm-up, then 10 s), then the baseline (the same).
# The server CPU is utime + stime from /proc over five seconds in the middle
# of the run, over the requests served meanwhile (Linux only). The load tool
# takes CPU from the servers on the same machine; the ratio of the servers'
# CPU a request is what a generator that cost nothing would leave.
# SERVE_FLAGS adds flags to pvault's serve command, e.g.
#   SERVE_FLAGS="--page-release-interval 5s" scripts/separate.sh mixed 2
# Not part of CI: about a minute a round.
set -euo pipefail
cd "$(dirname "$0")/.."
MIX=${1:-read}
ROUNDS=${2:-1}
WORK=$(mktemp -d)
BIN=$WORK/pvault
ADDR=127.0.0.1:18181
BADDR=127.0.0.1:18282
PID=
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT

go build -o "$BIN" ./cmd/pvault

# load PID URL USER PASS: a warm-up, then a 10 s run; prints "req/s µs/req p99".
load() {
  "$BIN" bench --url "$2" --user "$3" --pass "$4" --mix "$MIX" -c 32 -d 2s --preload 1000 >/dev/null 2>&1
  "$BIN" bench --url "$2" --user "$3" --pass "$4" --mix "$MIX" -c 32 -d 10s --preload 100 --json >"$WORK/gen.json" 2>/dev/null &
  local g=$!
  sleep 3
  local s0 s1
  s0=$(awk '{print $14+$15}' "/proc/$1/stat")
  sleep 5
  s1=$(awk '{print $14+$15}' "/proc/$1/stat")
  wait $g
  grep -q '"errors": {}' "$WORK/gen.json" || echo "the load had errors: $(grep -A3 '"errors"' "$WORK/gen.json" | tr -s ' \n' ' ')" >&2
  local rate p99
  rate=$(sed -n 's/.*"throughput_per_s": \([0-9.]*\).*/\1/p' "$WORK/gen.json" | head -1)
  p99=$(sed -n 's/.*"p99_ms": \([0-9.]*\).*/\1/p' "$WORK/gen.json" | head -1)
  awk -v r="$rate" -v a="$s0" -v b="$s1" -v hz="$(getconf CLK_TCK)" -v p="$p99" \
    'BEGIN {printf "%.0f %.0f %.1f\n", r, (b-a)/hz/(r*5)*1e6, p}'
}

for round in $(seq 1 "$ROUNDS"); do
  rm -rf "$WORK/data"
  # shellcheck disable=SC2086 # SERVE_FLAGS is split into flags
  "$BIN" serve --dev --data "$WORK/data" --addr "$ADDR" --sweep-interval 0 ${SERVE_FLAGS:-} >"$WORK/serve.log" 2>&1 &
  PID=$!
  until curl -fs "http://$ADDR/readyz" >/dev/null 2>&1; do kill -0 $PID; sleep 0.05; done
  pw=$(awk '/password:/ {print $2}' "$WORK/serve.log")
  token=$(curl -fs "http://$ADDR/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$pw\"}" | sed 's/.*"token":"\([^"]*\)".*/\1/')
  curl -fs "http://$ADDR/api/v1/users" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"username":"sup1","password":"supervisor-pw-1","unit":"group","roles":["supervisor"]}' >/dev/null
  read -r pr pc pp <<<"$(load $PID "http://$ADDR" sup1 supervisor-pw-1)"
  kill $PID; wait $PID 2>/dev/null || true

  "$BIN" bench --serve-baseline "$BADDR" >"$WORK/base.log" 2>&1 &
  PID=$!
  until curl -s -o /dev/null "http://$BADDR/api/v1/petitions" 2>/dev/null; do kill -0 $PID; sleep 0.05; done
  read -r br bc bp <<<"$(load $PID "http://$BADDR" any any)"
  kill $PID; wait $PID 2>/dev/null || true
  PID=

  echo "round $round, $MIX: pvault $pr/s (server ${pc} µs a request, p99 $pp ms); baseline $br/s (${bc} µs, p99 $bp ms);" \
    "ratio $(awk -v a="$pr" -v b="$br" 'BEGIN {printf "%.2f", a/b}'), server CPU ratio $(awk -v a="$pc" -v b="$bc" 'BEGIN {printf "%.2f", b/a}')"
done
