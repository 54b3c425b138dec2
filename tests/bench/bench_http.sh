#!/usr/bin/env bash
# The HTTP half of `make bench`: wrk against the real daemon and against the reference minimal
# server (tests/bench/minimal_server.c) in the same run, so every row can be read as a ratio.
#
#   BUILD=build BENCH_SECONDS=10 tests/bench/bench_http.sh
#
# Rows: binary 1x32x32x16->16 and 1x8x8x4->4 (8 connections) against the reference; JSON for
# the same; the 1x64x64x256->256 case against the reference's direct oneDNN throughput of
# both cores; small-request latency while large requests run; a request after 1 s idle vs a
# warm one; the server's own time per request from its access log; threads against cores;
# peak memory of one large request, binary and JSON. Every loop is bounded; loopback only.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD:-build}
secs=${BENCH_SECONDS:-10}
# shellcheck source=tests/bench/bench_common.sh
. "$here/bench_common.sh"

# Starts the reference server for one shape (N,H,W,IC,OC); sets REF_PID and REF_PORT.
start_reference() {
  IFS=, read -r n h w ic oc <<<"$1"
  # A fresh output file per server: reading a reused one could find the previous server's
  # port before the new process truncates it.
  local out="$work/ref.$1.out"
  "$build/bench/minimal_server" --port 0 --value "$n,$h,$w,$ic" --filters "3,3,$oc,$ic" \
    --rate 2 --padding SAME --threads "$(nproc)" >"$out" 2>&1 &
  REF_PID=$!
  pids+=("$REF_PID")
  for _ in $(seq 200); do
    REF_PORT=$(grep -o 'port [0-9]*' "$out" 2>/dev/null | grep -o '[0-9]*' || true)
    [ -n "$REF_PORT" ] && return 0
    sleep 0.05
  done
  note "bench_http: minimal_server did not start"; exit 1
}

"$build/bench/make_bodies" "$work" tiny=1,8,8,4,4 small=1,32,32,16,16 large=1,64,64,256,256

echo "http: wrk -t2, ${secs}s per row, loopback, $(nproc) CPUs shared by server and wrk"
table_row "row" "req/s" "p50 ms" "p99 ms" "ratio" "compared with"

# Reference rows first, each on its own minimal server.
declare -A ref
for shape in small:1,32,32,16,16 tiny:1,8,8,4,4 large:1,64,64,256,256; do
  name=${shape%%:*}
  start_reference "${shape#*:}"
  conns=8; [ "$name" = large ] && conns=4
  ref[$name]=$(wrk_row "$REF_PORT" "$name" binary "$conns")
  # The reference's own after-idle penalty, to tell the machine's wake-up cost from ours.
  [ "$name" = small ] && ref_idle=$("$build/bench/bench_idle" "$REF_PORT" "$work/small.bin" \
    "$work/small.target" 5)
  stop_pid "$REF_PID"
  r=${ref[$name]}
  table_row "reference minimal server, $name binary" "$(field rps "$r")" "$(field p50_ms "$r")" \
    "$(field p99_ms "$r")" "1.00x" "(no validation, no output sent back)"
done

start_daemon
log_start=$(wc -l <"$DAEMON_LOG")
small_bin=$(wrk_row "$DAEMON_PORT" small binary 8)
log_end=$(wc -l <"$DAEMON_LOG")
table_row "atrousd binary 1x32x32x16->16, 8 conns" "$(field rps "$small_bin")" \
  "$(field p50_ms "$small_bin")" "$(field p99_ms "$small_bin")" \
  "$(ratio "$(field rps "$small_bin")" "$(field rps "${ref[small]}")")" \
  "reference small (target >= 0.75x, p99 < 1 ms)"
tiny_bin=$(wrk_row "$DAEMON_PORT" tiny binary 8)
table_row "atrousd binary 1x8x8x4->4, 8 conns" "$(field rps "$tiny_bin")" \
  "$(field p50_ms "$tiny_bin")" "$(field p99_ms "$tiny_bin")" \
  "$(ratio "$(field rps "$tiny_bin")" "$(field rps "${ref[tiny]}")")" \
  "reference tiny (target >= 60000 req/s)"
small_json=$(wrk_row "$DAEMON_PORT" small json 8)
table_row "atrousd JSON 1x32x32x16->16, 8 conns" "$(field rps "$small_json")" \
  "$(field p50_ms "$small_json")" "$(field p99_ms "$small_json")" \
  "$(ratio "$(field rps "$small_json")" "$(field rps "$small_bin")")" "atrousd binary small"
large_bin=$(wrk_row "$DAEMON_PORT" large binary 4)
table_row "atrousd binary 1x64x64x256->256, 4 conns" "$(field rps "$large_bin")" \
  "$(field p50_ms "$large_bin")" "$(field p99_ms "$large_bin")" \
  "$(ratio "$(field rps "$large_bin")" "$(field rps "${ref[large]}")")" \
  "reference large = direct oneDNN on both cores (target >= 0.90x)"
large_json=$(wrk_row "$DAEMON_PORT" large json 2)
table_row "atrousd JSON 1x64x64x256->256, 2 conns" "$(field rps "$large_json")" \
  "$(field p50_ms "$large_json")" "$(field p99_ms "$large_json")" \
  "$(ratio "$(field rps "$large_json")" "$(field rps "$large_bin")")" "atrousd binary large"

# Small requests while large ones keep every compute worker busy.
secs_bg=$((secs + 2))
BENCH_BODY="$work/large.bin" BENCH_CONTENT_TYPE=application/octet-stream \
  wrk -t1 -c2 -d"${secs_bg}s" --timeout 10s -s "$here/wrk/post_file.lua" \
  "http://127.0.0.1:$DAEMON_PORT$(cat "$work/large.target")" >"$work/bg.out" 2>&1 &
bg=$!
sleep 1
mixed=$(wrk_row "$DAEMON_PORT" small binary 2)
wait "$bg" || true
table_row "atrousd small binary while large run" "$(field rps "$mixed")" \
  "$(field p50_ms "$mixed")" "$(field p99_ms "$mixed")" \
  "$(ratio "$(field p99_ms "$mixed")" "$(field p99_ms "$small_bin")")" \
  "p99 ratio vs small alone (large: $(field rps "$(grep '^BENCH' "$work/bg.out" || true)") req/s)"

idle=$("$build/bench/bench_idle" "$DAEMON_PORT" "$work/small.bin" "$work/small.target" 5)
echo
echo "after idle: $idle (target: ratio <= 2)"
echo "reference after idle: $ref_idle"
# The same requests as the server timed them (receive to response queued), by request id:
# what the server itself adds after idle, apart from the machine waking its threads.
sleep 0.2 # the access log is flushed within --log-flush-ms
server_idle=$(awk '
  function num(k,   m) { if (match($0, "\"" k "\": *[0-9]+")) { m = substr($0, RSTART, RLENGTH); sub(/.*: */, "", m); return m + 0 } return -1 }
  function median(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t } return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2 }
  /"request_id": *"warm-/ { w[++nw] = num("total_us") }
  /"request_id": *"idle-/ { d[++nd] = num("total_us") }
  END { if (nw && nd) printf "warm_median_us=%.0f idle_median_us=%.0f ratio=%.2f\n", median(w, nw), median(d, nd), median(d, nd) / median(w, nw); else print "not found in the access log" }' "$DAEMON_LOG")
echo "server's own time (access log total_us) after idle: $server_idle"
compute_idle=$("$build/bench/bench_idle" --compute 5)
echo "one library call in a bare process (no server) after idle: $compute_idle"

# The server's own time per small binary request, from its access log (JSON lines).
sed -n "$((log_start + 1)),${log_end}p" "$DAEMON_LOG" | grep '"status": *200' | awk '
  function num(k,   m) { if (match($0, "\"" k "\": *[0-9]+")) { m = substr($0, RSTART, RLENGTH); sub(/.*: */, "", m); return m + 0 } return 0 }
  { n++; t += num("total_us"); c += num("compute_us"); p += num("parse_us"); q += num("queue_us"); s += num("serialize_us") }
  END { if (n) printf "server time per small binary request (%d logged): total %.1f us = compute %.1f + parse %.1f + queue %.1f + serialize %.1f + other %.1f\n", n, t/n, c/n, p/n, q/n, s/n, (t-c-p-q-s)/n }'
threads=$(awk '/^Threads:/ {print $2}' "/proc/$DAEMON_PID/status")
echo "threads: $threads in the process for $(nproc) usable CPUs ($(grep -o '"compute_threads": *[0-9]*' "$DAEMON_LOG" | head -1), $(grep -o '"io_threads": *[0-9]*' "$DAEMON_LOG" | head -1), OpenMP 1 per worker; the rest are the main (signals), connection-deadline and log-flusher threads; I/O threads compute only requests under --inline-max-flops)"
stop_pid "$DAEMON_PID"

# send_one FORM NAME: one request on its own connection (bash /dev/tcp), answer discarded.
send_one() {
  local ext=json ctype=application/json target=/v1/atrous_conv2d_transpose
  if [ "$1" = binary ]; then
    ext=bin; ctype=application/octet-stream; target=$(cat "$work/$2.target")
  fi
  exec 3<>"/dev/tcp/127.0.0.1/$DAEMON_PORT"
  printf 'POST %s HTTP/1.1\r\nHost: bench\r\nContent-Type: %s\r\nContent-Length: %s\r\nConnection: close\r\n\r\n' \
    "$target" "$ctype" "$(stat -c %s "$work/$2.$ext")" >&3
  cat "$work/$2.$ext" >&3
  cat <&3 >/dev/null
  exec 3<&- 3>&-
}

# Peak memory of ONE large request on a fresh daemon: VmHWM after it minus VmRSS before it,
# after a tiny request has paid oneDNN's and OpenMP's one-time start-up.
echo
for form in binary json; do
  start_daemon --compute-threads 1
  send_one "$form" tiny
  before=$(awk '/^VmRSS:/ {print $2}' "/proc/$DAEMON_PID/status")
  send_one "$form" large
  hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$DAEMON_PID/status")
  stop_pid "$DAEMON_PID"
  ext=json; [ "$form" = binary ] && ext=bin
  body=$(stat -c %s "$work/large.$ext")
  awk -v f="$form" -v b="$before" -v h="$hwm" -v body="$body" 'BEGIN {
    v = 64*64*256*4; w = 3*3*256*256*4; o = 64*64*256*4; M = 1048576
    printf "peak memory of one %s 1x64x64x256 request: +%.1f MiB over the warm daemon (%.1f MiB); ", f, (h - b) / 1024, b / 1024
    printf "value %.1f + filters %.1f + output %.1f + reordered filters %.1f = %.1f MiB; body %.1f MiB\n", v/M, w/M, o/M, w/M, (v+2*w+o)/M, body/M }'
done

# Verdicts: each target of the performance issue, met or by how much it misses, and why.
verdict() { # verdict NAME MET(0/1) DETAIL
  if [ "$2" = 1 ]; then printf '  met     %-44s %s\n' "$1" "$3"; else printf '  MISSED  %-44s %s\n' "$1" "$3"; fi
}
cmp() { awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN { print ((op == ">=") ? (a >= b) : (a <= b)) }'; }
echo
echo "targets (this run):"
small_ratio=$(awk -v a="$(field rps "$small_bin")" -v b="$(field rps "${ref[small]}")" 'BEGIN { printf "%.2f", a / b }')
verdict "small binary >= 0.75x the reference" "$(cmp "$small_ratio" ">=" 0.75)" "${small_ratio}x"
verdict "small binary p99 < 1 ms" "$(cmp "$(field p99_ms "$small_bin")" "<=" 1.0)" \
  "$(field p99_ms "$small_bin") ms (the reference's own p99: $(field p99_ms "${ref[small]}") ms; wrk shares the 2 CPUs)"
verdict "tiny binary >= 60000 req/s" "$(cmp "$(field rps "$tiny_bin")" ">=" 60000)" \
  "$(field rps "$tiny_bin") req/s (reference $(field rps "${ref[tiny]}"))"
large_ratio=$(awk -v a="$(field rps "$large_bin")" -v b="$(field rps "${ref[large]}")" 'BEGIN { printf "%.2f", a / b }')
verdict "large binary >= 0.90x direct oneDNN, both cores" "$(cmp "$large_ratio" ">=" 0.90)" "${large_ratio}x"
ours=$(sed -n 's/.*ratio=\([0-9.]*\).*/\1/p' <<<"$idle")
theirs=$(sed -n 's/.*ratio=\([0-9.]*\).*/\1/p' <<<"$ref_idle")
verdict "after 1 s idle <= 2x warm" "$(cmp "$ours" "<=" 2)" \
  "${ours}x end to end (the reference minimal server: ${theirs}x); inside the server $(sed -n 's/.*ratio=\([0-9.]*\).*/\1/p' <<<"$server_idle")x, a bare library call in its own process $(sed -n 's/.*ratio=\([0-9.]*\).*/\1/p' <<<"$compute_idle")x: a cold core runs everything slower, server or not"
verdict "small not stuck behind large" "$(cmp "$(field p99_ms "$mixed")" "<=" 10)" \
  "small p99 $(field p99_ms "$mixed") ms while large run (a large request alone takes ~40 ms)"
