#!/usr/bin/env bash
# The wire dtypes in `make bench` (issue 13 item 5): wrk against one daemon, the large shape
# 1x64x64x256 -> 256 (3x3, rate 2) as binary requests on both cores, side by side in one run:
# float32 bodies, bfloat16 and float16 bodies (half the bytes, widened exactly, answered in
# their dtype), and each with precision=bf16 (what the engine runs is in X-Compute-Precision:
# bf16 once the engine computes it on a CPU with avx512_bf16, else f32).
#
#   BUILD=build BENCH_SECONDS=10 tests/bench/bench_dtype.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD:-build}
secs=${BENCH_SECONDS:-10}
# shellcheck source=tests/bench/bench_common.sh
. "$here/bench_common.sh"

"$build/bench/make_bodies" "$work" large=1,64,64,256,256
# The precision=bf16 variants: the same bodies, the query asking for bf16 compute.
for v in large large_bf16 large_f16; do
  cp "$work/$v.bin" "$work/${v}_p.bin"
  printf '%s&precision=bf16' "$(cat "$work/$v.target")" >"$work/${v}_p.target"
done

start_daemon
# What each row's answer says it ran, from one request with curl-free bash.
ran() {
  exec 3<>"/dev/tcp/127.0.0.1/$DAEMON_PORT"
  printf 'POST %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/octet-stream\r\nContent-Length: %s\r\nConnection: close\r\n\r\n' \
    "$(cat "$work/$1.target")" "$(stat -c %s "$work/$1.bin")" >&3
  cat "$work/$1.bin" >&3
  local precision
  precision=$(tr -d '\r' <&3 | sed -n 's/^X-Compute-Precision: //p' | head -1)
  exec 3<&- 3>&-
  echo "${precision:-?}"
}

# The server's own median parse (decode + validate: the widening), compute and serialize
# (the rounding of the answer) microseconds for the access-log lines from line $1 on: what the
# dtype costs the server, apart from a loaded machine's queueing.
stages() {
  sed -n "$(($1 + 1)),\$p" "$DAEMON_LOG" | grep '"status": *200' | awk '
    function num(k,   m) { if (match($0, "\"" k "\": *[0-9]+")) { m = substr($0, RSTART, RLENGTH); sub(/.*: */, "", m); return m + 0 } return 0 }
    function median(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t } return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2 }
    { n++; p[n] = num("parse_us"); c[n] = num("compute_us"); s[n] = num("serialize_us") }
    END { if (n) printf "parse %d / compute %d / serialize %d us", median(p, n), median(c, n), median(s, n) }'
}

echo "dtypes over HTTP: wrk -t2 -c4, ${secs}s per row, binary 1x64x64x256->256, $(nproc) CPUs, load average $(cut -d' ' -f1 /proc/loadavg)"
table_row "row" "req/s" "p50 ms" "p99 ms" "ratio" "body bytes, compute ran in; server medians"
at=$(wc -l <"$DAEMON_LOG")
f32=$(wrk_row "$DAEMON_PORT" large binary 4)
base=$(field rps "$f32")
table_row "float32 body, float32 answer" "$base" "$(field p50_ms "$f32")" "$(field p99_ms "$f32")" \
  "1.00x" "$(stat -c %s "$work/large.bin") B, $(ran large); $(stages "$at")"
for v in large_bf16 large_f16 large_p large_bf16_p large_f16_p; do
  at=$(wc -l <"$DAEMON_LOG")
  r=$(wrk_row "$DAEMON_PORT" "$v" binary 4)
  case $v in
    large_bf16) what="bfloat16 body and answer" ;;
    large_f16) what="float16 body and answer" ;;
    large_p) what="float32, precision=bf16" ;;
    large_bf16_p) what="bfloat16, precision=bf16" ;;
    large_f16_p) what="float16, precision=bf16" ;;
  esac
  table_row "$what" "$(field rps "$r")" "$(field p50_ms "$r")" "$(field p99_ms "$r")" \
    "$(ratio "$(field rps "$r")" "$base")" "$(stat -c %s "$work/$v.bin") B, $(ran "$v"); $(stages "$at")"
done
stop_pid "$DAEMON_PID"
