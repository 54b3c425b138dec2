#!/usr/bin/env bash
# make soak: atrousd under sustained load with wrk, on loopback, in three phases. Not part of
# make test (it takes minutes and both cores).
#
#   BUILD=build SOAK_SECONDS=60 tests/soak/soak.sh
#
# 1. Soak: SOAK_SECONDS of wrk, SOAK_CONNECTIONS (64) connections, binary requests of four
#    sizes in rotation (344 B to 560 KB); the daemon's resident memory (VmRSS) is sampled every
#    SOAK_SAMPLE_SECONDS (5) and printed as a curve. Pass: no answer but 200, no socket error,
#    the daemon alive, RSS growth over the second half below SOAK_RSS_GROWTH_KIB (16384), and
#    a known request answered exactly afterwards.
# 2. Overload: one compute worker, --queue-depth 2, 32 connections of 2.7 MB requests for
#    SOAK_OVERLOAD_SECONDS (10). Pass: requests are shed with 429/503, every one with
#    Retry-After, no other error status, /healthz answers meanwhile, and once the load is gone
#    the known request and a large one are answered right.
# 3. Drain under load: the soak mix plus 2.7 MB requests for 12 s; SIGTERM after 4 s. Pass: the
#    daemon exits 0 within --drain-timeout, and in its access log every request after the
#    "draining" line is a 200 (accepted before, completed) or a 503 "draining" refusal.
#
# Every loop is bounded; nothing but 127.0.0.1 is contacted. Ends with "soak: PASS" or
# "soak: FAIL (...)" and the matching exit status.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD:-build}
secs=${SOAK_SECONDS:-60}
conns=${SOAK_CONNECTIONS:-64}
sample_s=${SOAK_SAMPLE_SECONDS:-5}
growth_max=${SOAK_RSS_GROWTH_KIB:-16384}
overload_s=${SOAK_OVERLOAD_SECONDS:-10}
drain_timeout=20
work=$(mktemp -d /tmp/atrousd-soak.XXXXXX)
pids=()
failures=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf 'soak: %s\n' "$*"; }
fail() { failures+=("$1"); say "FAIL: $1"; }

command -v wrk >/dev/null || { say "wrk is not installed (make soak installs it)"; exit 1; }
command -v curl >/dev/null || { say "curl is not installed (make soak installs it)"; exit 1; }
[ -x "$build/atrousd" ] || { say "$build/atrousd is missing (make soak builds it)"; exit 1; }

# Starts atrousd with extra flags; sets PID, PORT and LOG once /readyz answers 200.
start_daemon() {
  LOG="$work/atrousd.$RANDOM.log"
  "$build/atrousd" --host 127.0.0.1 --port 0 "$@" 2>"$LOG" &
  PID=$!
  pids+=("$PID")
  PORT=""
  for _ in $(seq 600); do
    PORT=$(grep -o '"port": *[0-9]*' "$LOG" 2>/dev/null | head -1 | grep -o '[0-9]*$' || true)
    if [ -n "$PORT" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' -m 2 \
        "http://127.0.0.1:$PORT/readyz")" = 200 ]; then
      return 0
    fi
    sleep 0.1
  done
  say "atrousd did not become ready"; cat "$LOG" >&2; exit 1
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# The README's request, whose answer is known exactly.
known_request_ok() {
  local want got
  want='{"output":{"shape":[1,4,4,1],"dtype":"float32",'
  want+='"data":[1,2,1,2,3,4,3,4,1,2,1,2,3,4,3,4]}}'
  got=$(curl -s -m 10 -H 'Content-Type: application/json' \
    --data '{"value": {"shape": [1,2,2,1], "data": [1,2,3,4]},
             "filters": {"shape": [2,2,1,1], "data": [1,1,1,1]},
             "output_shape": [1,4,4,1], "rate": 2, "padding": "VALID"}' \
    "http://127.0.0.1:$PORT/v1/atrous_conv2d_transpose" || true)
  [ "$got" = "$want" ]
}

# field NAME LINE: the number after NAME= in a SOAK summary line.
field() { printf '%s\n' "$2" | grep -o "$1=[0-9.]*" | head -1 | cut -d= -f2; }

# A binary request: SAME padding, rate 2, 3x3 filters. body FILE N H W IC OC writes the body
# and prints the request line for $SOAK_REQUESTS.
request_line() {
  local file=$1 n=$2 h=$3 w=$4 ic=$5 oc=$6
  head -c $((4 * (n * h * w * ic + 9 * oc * ic))) /dev/zero >"$file"
  printf '/v1/atrous_conv2d_transpose?value_shape=%d,%d,%d,%d&filters_shape=3,3,%d,%d' \
    "$n" "$h" "$w" "$ic" "$oc" "$ic"
  printf '&output_shape=%d,%d,%d,%d&rate=2&padding=SAME %s application/octet-stream\n' \
    "$n" "$h" "$w" "$oc" "$file"
}

mix="$work/mix.txt"
{
  request_line "$work/tiny.bin" 1 4 4 2 3
  request_line "$work/small.bin" 1 16 16 8 8
  request_line "$work/medium.bin" 1 32 32 16 16
  request_line "$work/large.bin" 1 64 64 32 32
} >"$mix"
heavy="$work/heavy.txt"
request_line "$work/heavy.bin" 1 64 64 128 128 >"$heavy"
ls -l "$work"/*.bin | awk '{printf "soak: body %s %d bytes\n", $NF, $5}'

# --- 1. soak -------------------------------------------------------------------------------
say "phase 1: ${secs}s, $conns connections, mixed binary sizes"
start_daemon
soak_pid=$PID
rss_log="$work/rss.txt"
(
  start=$(date +%s)
  while kill -0 "$soak_pid" 2>/dev/null; do
    echo "$(($(date +%s) - start)) $(rss_kib "$soak_pid")"
    sleep "$sample_s"
  done
) >"$rss_log" &
pids+=($!)
SOAK_REQUESTS=$mix wrk -t2 -c"$conns" -d"${secs}s" --timeout 10s -s "$here/mix.lua" \
  "http://127.0.0.1:$PORT/" >"$work/wrk1.out" 2>&1 || true
summary=$(grep '^SOAK ' "$work/wrk1.out" || true)
echo "soak: wrk: $summary"
say "RSS curve (seconds KiB):"
sed -n '1,200p' "$rss_log" | awk '{printf "soak:   %4ds %8d KiB\n", $1, $2}'
requests=$(field requests "$summary")
non2xx=$(($(field status_429 "$summary") + $(field status_503 "$summary") + \
  $(field status_other "$summary")))
socket=$(field socket_errors "$summary")
[ -n "$requests" ] && [ "$requests" -gt 0 ] || fail "wrk reported no requests"
[ "$non2xx" -eq 0 ] || fail "$non2xx non-2xx answers during the soak"
[ "$socket" -eq 0 ] || fail "$socket socket errors during the soak"
kill -0 "$soak_pid" 2>/dev/null || fail "the daemon died during the soak"
half=$((secs / 2))
mid_rss=$(awk -v h="$half" '$1 <= h {v = $2} END {print v + 0}' "$rss_log")
max_rss=$(awk -v h="$half" '$1 >= h && $2 > m {m = $2} END {print m + 0}' "$rss_log")
first_rss=$(head -1 "$rss_log" | awk '{print $2}')
last_rss=$(rss_kib "$soak_pid")
growth=$((max_rss - mid_rss))
say "RSS start ${first_rss} KiB, middle ${mid_rss} KiB, end ${last_rss} KiB;" \
  "growth over the second half ${growth} KiB (limit ${growth_max})"
[ "$growth" -le "$growth_max" ] || fail "RSS grew ${growth} KiB over the second half"
known_request_ok || fail "the known request was answered wrongly after the soak"
say "phase 1: requests=$requests non2xx=$non2xx socket_errors=$socket"
kill -TERM "$soak_pid"
wait "$soak_pid" && code=0 || code=$?
[ "$code" -eq 0 ] || fail "the soak daemon exited $code on SIGTERM"

# --- 2. overload ---------------------------------------------------------------------------
say "phase 2: overload, 1 worker, --queue-depth 2, 32 connections of 2.7 MB requests," \
  "${overload_s}s"
start_daemon --compute-threads 1 --queue-depth 2
SOAK_REQUESTS=$heavy wrk -t2 -c32 -d"${overload_s}s" --timeout 10s -s "$here/mix.lua" \
  "http://127.0.0.1:$PORT/" >"$work/wrk2.out" 2>&1 &
wrk_pid=$!
sleep $((overload_s / 2))
health=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -m 5 \
  "http://127.0.0.1:$PORT/healthz" || true)
wait "$wrk_pid" || true
summary=$(grep '^SOAK ' "$work/wrk2.out" || true)
echo "soak: wrk: $summary"
say "/healthz during overload: $health (status, seconds)"
shed=$(($(field status_429 "$summary") + $(field status_503 "$summary")))
retry=$(field retry_after "$summary")
[ "$shed" -gt 0 ] || fail "nothing was shed under overload"
[ "$retry" -eq "$shed" ] || fail "$((shed - retry)) of $shed shed answers had no Retry-After"
[ "$(field status_other "$summary")" -eq 0 ] || fail "error statuses other than 429/503"
[ "${health%% *}" = 200 ] || fail "/healthz did not answer 200 under overload"
sleep 1
known_request_ok || fail "the known request was answered wrongly after the overload"
big=$(curl -s -o /dev/null -w '%{http_code}' -m 30 -H 'Content-Type: application/octet-stream' \
  --data-binary @"$work/heavy.bin" "http://127.0.0.1:$PORT$(cut -d' ' -f1 "$heavy")" || true)
[ "$big" = 200 ] || fail "a large request after the overload got $big"
say "phase 2: 200=$(field status_200 "$summary") shed=$shed (429=$(field status_429 "$summary")," \
  "503=$(field status_503 "$summary")) with Retry-After=$retry; after: known request right," \
  "large request $big"
kill -TERM "$PID"
wait "$PID" || fail "the overload daemon did not exit 0"

# --- 3. drain under load -------------------------------------------------------------------
say "phase 3: SIGTERM during wrk ($conns connections, the mix plus 2.7 MB requests)"
start_daemon --drain-timeout "$drain_timeout"
cat "$mix" "$heavy" >"$work/drain.txt"
SOAK_REQUESTS="$work/drain.txt" wrk -t2 -c"$conns" -d12s --timeout 10s -s "$here/mix.lua" \
  "http://127.0.0.1:$PORT/" >"$work/wrk3.out" 2>&1 &
wrk_pid=$!
sleep 4
t0=$(date +%s%N)
kill -TERM "$PID"
code=0
wait "$PID" || code=$?
took_ms=$((($(date +%s%N) - t0) / 1000000))
wait "$wrk_pid" || true
summary=$(grep '^SOAK ' "$work/wrk3.out" || true)
echo "soak: wrk: $summary"
in_flight=$(grep '"msg":"draining"' "$LOG" | grep -o '"in_flight":[0-9]*' | cut -d: -f2)
after=$(awk '/"msg":"draining"/ {d = 1; next} d && /"msg":"request"/' "$LOG")
completed=$(printf '%s\n' "$after" | grep -c '"status":200' || true)
refused=$(printf '%s\n' "$after" | grep '"status":503' | grep -c 'draining' || true)
other=$(printf '%s\n' "$after" | grep '"msg":"request"' | grep -v '"status":200' | \
  grep -vc '"status":503.*draining' || true)
say "phase 3: exit $code after ${took_ms} ms (drain timeout ${drain_timeout}s); in flight at" \
  "SIGTERM ${in_flight:-?}; after it: $completed completed 200, $refused refused 503 draining," \
  "$other other"
[ "$code" -eq 0 ] || fail "the daemon exited $code after SIGTERM under load"
[ "$took_ms" -le $((drain_timeout * 1000)) ] || fail "drain took ${took_ms} ms"
[ "$other" -eq 0 ] || { fail "$other requests after SIGTERM were neither 200 nor a draining 503"; \
  printf '%s\n' "$after" | grep -v '"status":200' | grep -v 'draining' | head -5; }
grep -q '"msg":"stopped"' "$LOG" || fail "no \"stopped\" line in the log"

if [ ${#failures[@]} -eq 0 ]; then
  say "PASS"
else
  say "FAIL (${#failures[@]}: ${failures[*]})"
  exit 1
fi
