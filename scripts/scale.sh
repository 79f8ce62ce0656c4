#!/usr/bin/env bash
# Scale check (issue 9): fill a vault with N petitions (default 1,000,000)
# through the vault's own create path, then measure start-up time, resident
# memory, list-page latency under load and audit verification time.
#   scripts/scale.sh [N]
# It takes a while and needs a few GB of disk; it is not part of CI. Every
# petition goes through intake analysis, sealing and a synced commit: on a
# 2-core machine the fill starts near 800–900/s and averages 425–432/s
# (299/s under nice -n 19 beside other work; see docs/PERFORMANCE.md), so
# 1,000,000 takes 40–56 minutes and 7 GB.
#   DATA=DIR scripts/scale.sh
#     measures an existing vault filled earlier (its admin password must be
#     the one below); the directory is kept.
#   COLD=1 ... drops the page cache before the start-up (needs root), for
#     a start-up as after a reboot.
# Interrupting the fill (Ctrl-C, or FILL_LIMIT=2h) stops it cleanly: the
# measurements then run on the petitions created so far.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
WORK=$(mktemp -d)
BIN=$WORK/pvault
ADDR=127.0.0.1:18999
PW=scale-admin-password
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
PID=

go build -o "$BIN" ./cmd/pvault
if [ -n "${DATA:-}" ]; then
  DIR=$DATA
else
  DIR=$WORK/data
  PVAULT_ADMIN_PASSWORD=$PW "$BIN" init --data "$DIR" >/dev/null
  echo "== filling $N petitions"
  if [ -n "${FILL_LIMIT:-}" ]; then
    /usr/bin/time -v timeout -s INT "$FILL_LIMIT" "$BIN" gen --data "$DIR" --n "$N" 2> "$WORK/gen.time" || true
  else
    /usr/bin/time -v "$BIN" gen --data "$DIR" --n "$N" 2> "$WORK/gen.time"
  fi
  grep -E "Elapsed|Maximum resident" "$WORK/gen.time"
fi
du -sh "$DIR"

echo "== start-up time (process start to /readyz 200)"
if [ -n "${COLD:-}" ]; then
  sync
  if echo 3 2>/dev/null > /proc/sys/vm/drop_caches; then echo "(page cache dropped)"; else echo "(COLD: cannot drop the page cache: not root)"; fi
fi
t0=$(date +%s.%N)
"$BIN" serve --data "$DIR" --addr "$ADDR" --sweep-interval 0 > "$WORK/serve.log" 2>&1 &
PID=$!
until curl -fs "http://$ADDR/readyz" >/dev/null 2>&1; do sleep 0.02; done
t1=$(date +%s.%N)
echo "start-up: $(echo "$t1 - $t0" | bc) s; read from disk $(( $(awk '/read_bytes/{print $2}' /proc/$PID/io) >> 20 )) MiB, $(awk '{print $12}' /proc/$PID/stat) major faults"

TOKEN=$(curl -fs "http://$ADDR/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$PW\"}" | sed 's/.*"token":"\([^"]*\)".*/\1/')
curl -fs "http://$ADDR/api/v1/users" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"username":"scalesup","password":"scale-supervisor-pw","unit":"group","roles":["supervisor"]}' >/dev/null || true

echo "RSS after start-up: $(grep -E 'VmRSS|RssAnon|RssFile' /proc/$PID/status | tr -s ' \n' ' ')"
echo "== list pages, one client (10 s)"
"$BIN" bench --url "http://$ADDR" --user scalesup --pass scale-supervisor-pw --unit group/scale --mix list -c 1 -d 10s --preload 0
echo "== list pages under load (32 clients, 10 s)"
"$BIN" bench --url "http://$ADDR" --user scalesup --pass scale-supervisor-pw --unit group/scale --mix list -c 32 -d 10s --preload 0
echo "== creates at this size (32 clients, 10 s: intake analysis against the whole index)"
"$BIN" bench --url "http://$ADDR" --user scalesup --pass scale-supervisor-pw --unit group/scale --mix create -c 32 -d 10s --preload 0
echo "== reads (32 clients, 10 s)"
"$BIN" bench --url "http://$ADDR" --user scalesup --pass scale-supervisor-pw --unit group/scale --mix read -c 32 -d 10s --preload 200
echo "== reads of a random sample of 20,000 of all the petitions (32 clients, 10 s; the sample is drawn by paging through the whole list first)"
"$BIN" bench --url "http://$ADDR" --user scalesup --pass scale-supervisor-pw --unit group/scale --mix read -c 32 -d 10s --preload 0 --existing 20000
echo "RSS after load: $(grep -E 'VmRSS|RssAnon|RssFile' /proc/$PID/status | tr -s ' \n' ' ')"

echo "== audit verification"
curl -fs "http://$ADDR/api/v1/users" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"username":"scaleaud","password":"scale-auditor-pwd","unit":"group","roles":["auditor"]}' >/dev/null || true
AT=$(curl -fs "http://$ADDR/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d '{"username":"scaleaud","password":"scale-auditor-pwd"}' | sed 's/.*"token":"\([^"]*\)".*/\1/')
curl -fs "http://$ADDR/api/v1/audit/verifier-key" > "$WORK/key.txt"
curl -fs "http://$ADDR/api/v1/audit/checkpoint" -H "Authorization: Bearer $AT" > "$WORK/cp.txt"
curl -fs "http://$ADDR/api/v1/audit/export" -H "Authorization: Bearer $AT" > "$WORK/export.ndjson"
wc -l < "$WORK/export.ndjson"
kill $PID; wait $PID 2>/dev/null || true; PID=
/usr/bin/time -f "offline export verify: %e s, %M KB" "$BIN" audit verify --export "$WORK/export.ndjson" --key "$WORK/key.txt" --checkpoint "$WORK/cp.txt"
/usr/bin/time -f "offline store verify: %e s, %M KB" "$BIN" audit verify --data "$DIR"
