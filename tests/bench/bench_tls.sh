#!/usr/bin/env bash
# TLS against plain HTTP under wrk, in one run: two daemons with the same flags, one plain and
# one with --tls-cert/--tls-key (the default priorities: TLS 1.3 here, ECDSA P-256 from
# tests/bench/make_tls_pki), measured one after the other on the same binary op requests: small
# (1x32x32x16->16: 64 KiB in, 64 KiB out; 8 connections) and large (1x512x512x1->1: 1 MiB in,
# 1 MiB out, little compute, so that the bytes TLS encrypts weigh; 4 connections), kept alive as
# clients do; then the small request with a new connection (a full handshake) per request. The
# ratio column is TLS over plain; cpu us/req is the daemon's user+system CPU (/proc/PID/stat)
# over the requests wrk completed. Loopback only; every loop is bounded.
#
#   BUILD=build BENCH_SECONDS=10 tests/bench/bench_tls.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD:-build}
secs=${BENCH_SECONDS:-10}
# shellcheck source=tests/bench/bench_common.sh
. "$here/bench_common.sh"

"$build/bench/make_bodies" "$work" small=1,32,32,16,16 large=1,512,512,1,1
"$build/bench/make_tls_pki" "$work"

# Starts a daemon with flags; sets DAEMON_PID and DAEMON_PORT once it logs "ready" (a TLS
# daemon cannot be asked over plain HTTP).
start_logged() {
  local log="$work/atrousd.$RANDOM.log"
  "$build/atrousd" --host 127.0.0.1 --port 0 "$@" 2>"$log" &
  DAEMON_PID=$!
  pids+=("$DAEMON_PID")
  for _ in $(seq 600); do
    if grep -q '"msg":"ready"' "$log" 2>/dev/null; then
      DAEMON_PORT=$(grep -o '"port": *[0-9]*' "$log" | head -1 | grep -o '[0-9]*$')
      return 0
    fi
    sleep 0.05
  done
  note "bench_tls: atrousd did not become ready"; cat "$log" >&2; exit 1
}

# The daemon's CPU time so far, in clock ticks (utime + stime of /proc/PID/stat).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# tls_row SCHEME PORT PID NAME CONNS [HEADERS]: a BENCH line with cpu_us=N appended.
tls_row() {
  local scheme=$1 port=$2 pid=$3 name=$4 conns=$5 headers=${6:-}
  local before after r
  before=$(cpu_ticks "$pid")
  r=$(BENCH_BODY="$work/$name.bin" BENCH_CONTENT_TYPE=application/octet-stream \
    BENCH_HEADERS=$headers wrk -t2 -c"$conns" -d"${secs}s" --timeout 10s \
    -s "$here/wrk/post_file.lua" "$scheme://127.0.0.1:$port$(cat "$work/$name.target")" |
    grep '^BENCH' || echo "BENCH requests=0 rps=0 p50_ms=0 p99_ms=0 errors_status=0 errors_socket=0")
  after=$(cpu_ticks "$pid")
  local hz; hz=$(getconf CLK_TCK)
  echo "$r cpu_us=$(awk -v t=$((after - before)) -v n="$(field requests "$r")" -v hz="$hz" \
    'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print 0 }')"
}

start_logged
plain_pid=$DAEMON_PID plain_port=$DAEMON_PORT
start_logged --tls-cert "$work/server.pem" --tls-key "$work/server.key"
tls_pid=$DAEMON_PID tls_port=$DAEMON_PORT

echo "tls (wrk -t2): plain http vs https, ${secs}s per row, loopback, $(nproc) CPUs shared by server and wrk"
printf '%-44s %10s %9s %9s %8s %12s\n' "row" "req/s" "p50 ms" "p99 ms" "ratio" "cpu us/req"
for spec in "small:8:" "large:4:" "small:8:Connection: close"; do
  IFS=: read -r name conns header <<<"$spec"
  headers=""
  label="$name binary, $conns conns, kept alive"
  if [ -n "$header" ]; then headers="Connection: close"; label="$name binary, $conns conns, new connection each"; fi
  p=$(tls_row http "$plain_port" "$plain_pid" "$name" "$conns" "$headers")
  t=$(tls_row https "$tls_port" "$tls_pid" "$name" "$conns" "$headers")
  for row in "plain|$p" "TLS|$t"; do
    kind=${row%%|*} r=${row#*|}
    [ "$(field errors_status "$r")" = 0 ] || note "bench_tls: $kind $label: $(field errors_status "$r") error answers"
    printf '%-44s %10s %9s %9s %8s %12s\n' "$kind: $label" "$(field rps "$r")" "$(field p50_ms "$r")" \
      "$(field p99_ms "$r")" "$(ratio "$(field rps "$r")" "$(field rps "$p")")" "$(field cpu_us "$r")"
  done
done
