#!/usr/bin/env bash
# gzip on the wire under wrk, against the real daemon, in one run: KServe v2 infer on a
# repository model of 1x64x64x32 -> 32 (3x3, rate 2, SAME, random filters), 8 connections,
# the same request plain and with gzip on the request (Content-Encoding), on the answer
# (Accept-Encoding) and both, as JSON and with the binary tensor extension. The ratio column
# compares each row with the plain row of its form; bytes in/out are one request's, from the
# access log. Bodies come from bench_compress --bodies (gzip level 9, as Python's
# gzip.compress writes them; answers are gzip level 1). Loopback only; every loop is bounded.
#
#   BUILD=build BENCH_SECONDS=10 tests/bench/bench_compress.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD:-build}
secs=${BENCH_SECONDS:-10}
# shellcheck source=tests/bench/bench_common.sh
. "$here/bench_common.sh"

mkdir -p "$work/models/m64"
"$build/bench/bench_compress" --repeat 1 --bodies "$work" >/dev/null
mv "$work/filters.bin" "$work/models/m64/filters.bin"
echo '{"rate": 2, "padding": "SAME", "filters": {"shape": [3, 3, 32, 32], "file": "filters.bin"}}' \
  >"$work/models/m64/config.json"
ihcl=$(cat "$work/v2.ihcl")
start_daemon --model-dir "$work/models"

# kserve_row BODY CTYPE HEADERS: the BENCH line of one wrk run against the model.
kserve_row() {
  BENCH_BODY=$1 BENCH_CONTENT_TYPE=$2 BENCH_HEADERS=$3 \
    wrk -t2 -c8 -d"${secs}s" --timeout 10s -s "$here/wrk/post_file.lua" \
    "http://127.0.0.1:$DAEMON_PORT/v2/models/m64/infer" | grep '^BENCH' ||
    echo "BENCH requests=0 rps=0 p50_ms=0 p99_ms=0 errors_status=0 errors_socket=0"
}

# The bytes in and out of the last answered request the access log holds (the requests wrk
# has in flight when it stops are cut short, logged with a "termination": skipped).
last_bytes() {
  local line
  line=$(grep '"status": *200' "$DAEMON_LOG" | grep -v '"termination"' | tail -1)
  printf '%s/%s' "$(grep -o '"bytes_in": *[0-9]*' <<<"$line" | grep -o '[0-9]*$')" \
    "$(grep -o '"bytes_out": *[0-9]*' <<<"$line" | grep -o '[0-9]*$')"
}

echo "compress (wrk): KServe v2 1x64x64x32->32, 8 conns, ${secs}s per row, loopback, $(nproc) CPUs shared by server and wrk"
table_row "row" "req/s" "p50 ms" "p99 ms" "ratio" "bytes in/out per request"
declare -A plain
for form in json bin; do
  if [ "$form" = json ]; then ctype=application/json; base=""; label="JSON"
  else ctype=application/octet-stream; base="Inference-Header-Content-Length: $ihcl"; label="binary ext"
  fi
  for mode in plain request answer both; do
    body="$work/v2.$form"; headers=$base
    case $mode in
      request|both) body="$body.gz"; headers="${headers:+$headers;}Content-Encoding: gzip" ;;
    esac
    case $mode in
      answer|both) headers="${headers:+$headers;}Accept-Encoding: gzip" ;;
    esac
    # The binary extension is measured plain and gzip both ways only.
    [ "$form" = bin ] && { [ "$mode" = request ] || [ "$mode" = answer ]; } && continue
    r=$(kserve_row "$body" "$ctype" "$headers")
    [ "$(field errors_status "$r")" = 0 ] || note "bench_compress: $label $mode: $(field errors_status "$r") error answers"
    [ "$mode" = plain ] && plain[$form]=$(field rps "$r")
    table_row "$label, gzip: $mode" "$(field rps "$r")" "$(field p50_ms "$r")" \
      "$(field p99_ms "$r")" "$(ratio "$(field rps "$r")" "${plain[$form]}")" "$(last_bytes)"
  done
done
