#!/usr/bin/env bash
# The overhead of bearer tokens on the tiny request (1x8x8x4->4 binary, computed inline), with
# wrk against the real daemon in one run: the same request without --auth-token-file, and with
# a token file of 1 and of 100 tokens and the token sent (the file's last), in two interleaved
# rounds. The ratio column compares each row with the first; the last column is the daemon's
# CPU time (user + system, /proc) per request, which the machine's other load moves less. The check's own cost per call is bench_auth's table.
#
#   BUILD=build BENCH_SECONDS=10 tests/bench/bench_auth.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD:-build}
secs=${BENCH_SECONDS:-10}
# shellcheck source=tests/bench/bench_common.sh
. "$here/bench_common.sh"

"$build/bench/make_bodies" "$work" tiny=1,8,8,4,4 >/dev/null
target=$(cat "$work/tiny.target")

# The daemon's CPU time so far (user + system, in clock ticks): CPU per request is less at the
# mercy of the machine's other load than requests per second are.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$DAEMON_PID/stat"; }
tck=$(getconf CLK_TCK)

# auth_row LABEL HEADERS: one wrk run of the tiny request against the running daemon.
auth_row() {
  local r t0 t1
  t0=$(cpu_ticks)
  r=$(BENCH_BODY="$work/tiny.bin" BENCH_CONTENT_TYPE=application/octet-stream BENCH_HEADERS=$2 \
    wrk -t2 -c8 -d"${secs}s" --timeout 10s -s "$here/wrk/post_file.lua" \
    "http://127.0.0.1:$DAEMON_PORT$target" | grep '^BENCH' ||
    echo "BENCH requests=0 rps=0 p50_ms=0 p99_ms=0 errors_status=0 errors_socket=0")
  t1=$(cpu_ticks)
  [ "$(field errors_status "$r")" = 0 ] || note "bench_auth: $1: $(field errors_status "$r") error answers"
  [ -z "${base:-}" ] && base=$(field rps "$r")
  table_row "$1" "$(field rps "$r")" "$(field p50_ms "$r")" "$(field p99_ms "$r")" \
    "$(ratio "$(field rps "$r")" "$base")" \
    "$(awk -v t=$((t1 - t0)) -v hz="$tck" -v n="$(field requests "$r")" \
      'BEGIN { if (n > 0) printf "%.1f us", t / hz * 1e6 / n; else print "n/a" }')"
}

echo "auth (wrk): tiny binary 1x8x8x4->4, 8 conns, ${secs}s per row, loopback, $(nproc) CPUs shared by server and wrk"
echo "(two rounds, interleaved: the spread between a round's rows and the next round's is the noise)"
table_row "row" "req/s" "p50 ms" "p99 ms" "ratio" "daemon CPU per request"
base=""
for n in 1 100; do
  : >"$work/tokens.$n"
  chmod 600 "$work/tokens.$n"
  for i in $(seq "$n"); do printf '%016x%048x\n' "$i" 24301 >>"$work/tokens.$n"; done
done
for round in 1 2; do
  start_daemon
  auth_row "round $round: no token file" ""
  stop_pid "$DAEMON_PID"
  for n in 1 100; do
    token=$(tail -1 "$work/tokens.$n")
    start_daemon --auth-token-file "$work/tokens.$n"
    auth_row "round $round: $n token(s), Bearer sent" "Authorization: Bearer $token"
    stop_pid "$DAEMON_PID"
  done
done
