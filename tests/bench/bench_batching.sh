#!/usr/bin/env bash
# KServe v2 repository models under wrk against the real daemon: first the binary tensor
# extension against JSON for the large model (8 connections, random values, batching off),
# then same-shape micro-batching (--max-batch): when stacking concurrent requests into one
# oneDNN call pays off and when it does not.
#
#   BUILD=build BENCH_SECONDS=10 tests/bench/bench_batching.sh
#
# Two repository models, both 3x3, rate 2, SAME (speed does not depend on the values; the
# large one has random filters so that its JSON answers have realistic lengths): "small" 1x8x8x4 -> 4 (a few microseconds of compute: per-call overhead dominates)
# and "large" 1x64x64x32 -> 32 (about a millisecond: compute dominates). Each is loaded with
# binary-extension requests (value in, output out as binary) at 8 and 32 connections, with
# batching off, on without delay (--max-batch 8: only requests already queued are stacked) and
# on with --max-queue-delay-us 1000. Rows print requests/s, p50/p99 and the mean requests per
# batched call (from /metrics). Loopback only; every loop is bounded.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD:-build}
secs=${BENCH_SECONDS:-10}
work=$(mktemp -d /tmp/atrousd-bench-batching.XXXXXX)
daemon_pid=""
cleanup() {
  [ -n "$daemon_pid" ] && { kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT

# model NAME H W C: a model folder (filters [3, 3, C, C] zeros) and its binary request body.
model() {
  local name=$1 h=$2 w=$3 c=$4
  mkdir -p "$work/models/$name"
  printf '{"rate": 2, "padding": "SAME", "filters": {"shape": [3, 3, %d, %d], "file": "f.bin"}}\n' \
    "$c" "$c" >"$work/models/$name/config.json"
  head -c $((9 * c * c * 4)) /dev/zero >"$work/models/$name/f.bin"
  local bytes=$((h * w * c * 4))
  local hdr
  hdr=$(printf '{"inputs":[{"name":"value","datatype":"FP32","shape":[1,%d,%d,%d],"parameters":{"binary_data_size":%d}}],"outputs":[{"name":"output","parameters":{"binary_data":true}}]}' \
    "$h" "$w" "$c" "$bytes")
  { printf '%s' "$hdr"; head -c "$bytes" /dev/zero; } >"$work/$name.bin"
  echo "${#hdr}" >"$work/$name.ihcl"
}

# metric NAME: one sample of the running daemon's /metrics (0 when absent).
metric() {
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n' >&3
  local v
  v=$(timeout 5 cat <&3 | grep "^$1 " | awk '{print $2}' || true)
  exec 3<&- 3>&-
  echo "${v:-0}"
}

start() {
  "$build/atrousd" --host 127.0.0.1 --port 0 --model-dir "$work/models" "$@" 2>"$work/d.log" &
  daemon_pid=$!
  port=""
  for _ in $(seq 200); do
    port=$(grep -o '"port":[0-9]*' "$work/d.log" 2>/dev/null | head -1 | grep -o '[0-9]*$' || true)
    grep -q '"msg":"ready"' "$work/d.log" 2>/dev/null && [ -n "$port" ] && return 0
    sleep 0.05
  done
  echo "bench_batching: atrousd did not start" >&2; cat "$work/d.log" >&2; exit 1
}

stop() { kill "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true; daemon_pid=""; }

model small 8 8 4
model large 64 64 32

# The large model's value as random floats, as a JSON body and as a binary-extension body, and
# random filters for it.
python3 - "$work" <<'PY'
import json, random, struct, sys
random.seed(7)
v = [random.uniform(-1, 1) for _ in range(64 * 64 * 32)]
inp = {"name": "value", "datatype": "FP32", "shape": [1, 64, 64, 32]}
with open(sys.argv[1] + "/large.json", "w") as f:
    json.dump({"inputs": [dict(inp, data=[float("%.9g" % x) for x in v])]}, f)
hdr = json.dumps({"inputs": [dict(inp, parameters={"binary_data_size": 4 * len(v)})],
                  "outputs": [{"name": "output", "parameters": {"binary_data": True}}]})
with open(sys.argv[1] + "/large.bin", "wb") as f:
    f.write(hdr.encode() + struct.pack("<%df" % len(v), *v))
with open(sys.argv[1] + "/large.ihcl", "w") as f:
    f.write(str(len(hdr)))
with open(sys.argv[1] + "/models/large/f.bin", "wb") as f:  # random filters: a real output
    f.write(struct.pack("<9216f", *(random.uniform(-0.1, 0.1) for _ in range(9216))))
PY

# wrk_v2 NAME BODY CONTENT_TYPE CONNS [IHCL]: the BENCH line of one run on model NAME.
wrk_v2() {
  BENCH_BODY="$2" BENCH_CONTENT_TYPE="$3" BENCH_HEADERS="${5:+Inference-Header-Content-Length: $5}" \
    wrk -t1 -c"$4" -d"${secs}s" -s "$here/wrk/post_file.lua" \
    "http://127.0.0.1:$port/v2/models/$1/infer" | grep '^BENCH' || true
}

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }

printf '%-34s %10s %9s %9s %10s\n' "large 1x64x64x32->32, 8 conns" "req/s" "p50 ms" "p99 ms" "body bytes"
start
for form in binary json; do
  if [ "$form" = binary ]; then
    line=$(wrk_v2 large "$work/large.bin" application/octet-stream 8 "$(cat "$work/large.ihcl")")
    body=$(stat -c %s "$work/large.bin")
  else
    line=$(wrk_v2 large "$work/large.json" application/json 8)
    body=$(stat -c %s "$work/large.json")
  fi
  printf '%-34s %10s %9s %9s %10s\n' "KServe v2 $form in, $form out" "$(field rps "$line")" \
    "$(field p50_ms "$line")" "$(field p99_ms "$line")" "$body"
done
stop
echo

printf '%-6s %-5s %-22s %10s %9s %9s %11s\n' model conns batching "req/s" "p50 ms" "p99 ms" "per batch"
for mode in off on on-delay; do
  case $mode in
    off) flags=(); label="off" ;;
    on) flags=(--max-batch 8); label="--max-batch 8" ;;
    on-delay) flags=(--max-batch 8 --max-queue-delay-us 1000); label="8, delay 1000 us" ;;
  esac
  for name in small large; do
    for conns in 8 32; do
      start "${flags[@]}"
      b0=$(metric atrousd_batches_total); r0=$(metric atrousd_batched_requests_total)
      line=$(wrk_v2 "$name" "$work/$name.bin" application/octet-stream "$conns" \
        "$(cat "$work/$name.ihcl")")
      b1=$(metric atrousd_batches_total); r1=$(metric atrousd_batched_requests_total)
      stop
      rps=$(field rps "$line"); p50=$(field p50_ms "$line"); p99=$(field p99_ms "$line")
      errs=$(field errors_status "$line")
      per=$(awk -v b=$((b1 - b0)) -v r=$((r1 - r0)) 'BEGIN { if (b > 0) printf "%.1f", r / b; else print "-" }')
      printf '%-6s %-5s %-22s %10s %9s %9s %11s%s\n' "$name" "$conns" "$label" "${rps:-0}" \
        "${p50:-?}" "${p99:-?}" "$per" "$([ "${errs:-0}" != 0 ] && echo "  errors=$errs")"
    done
  done
done
