#!/usr/bin/env bash
# The measured effect of each tuning knob (README "Tuning knobs"): the real daemon under wrk on
# loopback, one knob changed from the defaults per row, each row next to the defaults' row for
# the same workload, in the same run.
#
#   BUILD=build BENCH_SECONDS=5 tests/bench/bench_knobs.sh
#
# Workloads (binary requests, 3x3, rate 2, SAME): large = 1x64x64x256 -> 256 (about 25 ms of one
# core), small = 1x32x32x16 -> 16 (about 40 us), tiny = 1x8x8x4 -> 4 (about 1 us).
#   --compute-threads / --omp-threads: large at 1 connection (latency of a lone request) and at
#     4 (throughput), for 2 workers x 1 OpenMP thread (default), 1 x 2 and 1 x 1.
#   --queue-depth: large at 16 connections (more than the workers), depth 64 (default) vs 2.
#   --io-threads, --inline-max-flops, --log-flush-ms: small and tiny at 8 connections.
# Loopback only; every loop is bounded.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD:-build}
secs=${BENCH_SECONDS:-5}
# shellcheck source=tests/bench/bench_common.sh
. "$here/bench_common.sh"

"$build/bench/make_bodies" "$work" tiny=1,8,8,4,4 small=1,32,32,16,16 large=1,64,64,256,256

row() { printf '%-40s %-14s %9s %8s %8s %8s %8s\n' "$@"; }
echo "knobs: wrk, ${secs}s per row, loopback, $(nproc) CPUs shared by server and wrk"
row "flags (the rest default)" "workload" "2xx/s" "p50 ms" "p99 ms" "non-2xx" "vs default"

declare -A base
# measure LABEL WORKLOAD CONNS FLAGS...: one daemon, one wrk run, one table row. The first row
# of a workload (the defaults) is what later rows of that workload are compared with.
measure() {
  local label=$1 name=$2 conns=$3
  shift 3
  start_daemon "$@"
  local r
  r=$(wrk_row "$DAEMON_PORT" "$name" binary "$conns")
  stop_pid "$DAEMON_PID"
  local key="$name/$conns" rps
  # Answers of 200 per second: a 429 is quick, so wrk's own rate would reward refusing.
  rps=$(awk -v n="$(field requests "$r")" -v e="$(field errors_status "$r")" \
    -v d="$(field duration_s "$r")" 'BEGIN { if (d > 0) printf "%.1f", (n - e) / d; else print 0 }')
  local vs="1.00x"
  if [ -n "${base[$key]:-}" ]; then vs=$(ratio "$rps" "${base[$key]}"); else base[$key]=$rps; fi
  row "$label" "$name x$conns" "$rps" "$(field p50_ms "$r")" "$(field p99_ms "$r")" \
    "$(field errors_status "$r")" "$vs"
}

measure "defaults (2 workers x 1 OpenMP)" large 1
measure "--compute-threads 1 --omp-threads 2" large 1 --compute-threads 1 --omp-threads 2
measure "--compute-threads 1" large 1 --compute-threads 1
measure "defaults (2 workers x 1 OpenMP)" large 4
measure "--compute-threads 1 --omp-threads 2" large 4 --compute-threads 1 --omp-threads 2
measure "--compute-threads 1" large 4 --compute-threads 1
measure "defaults (--queue-depth 64)" large 16
measure "--queue-depth 2" large 16 --queue-depth 2
measure "defaults (2 I/O threads, inline, log batched)" small 8
measure "--io-threads 1" small 8 --io-threads 1
measure "--inline-max-flops 0" small 8 --inline-max-flops 0
measure "--log-flush-ms 0" small 8 --log-flush-ms 0
measure "defaults (2 I/O threads, inline, log batched)" tiny 8
measure "--io-threads 1" tiny 8 --io-threads 1
measure "--inline-max-flops 0" tiny 8 --inline-max-flops 0
measure "--log-flush-ms 0" tiny 8 --log-flush-ms 0
echo "(p50 at 1 connection is the latency of a lone request; non-2xx are 429 answers when the"
echo " queue is full; vs default compares 2xx/s with the defaults' row of the same workload)"
