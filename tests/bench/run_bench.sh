#!/usr/bin/env bash
# make bench: runs each benchmark and prints its table. Every row compares two contenders
# measured side by side in the same run; absolute times drift on a shared machine, ratios do
# not. BUILD names the build folder (default build).
set -eu
build=${BUILD:-build}
echo "== compute, one OpenMP thread (as each compute worker runs)"
"$build/bench/bench_compute" --threads 1
echo
echo "== compute, two OpenMP threads (one call using both cores)"
"$build/bench/bench_compute" --threads 2
echo
echo "== wire dtypes: float32 <-> bfloat16 / float16 conversions per MB (one thread)"
"$build/bench/bench_dtype"
echo
echo "== JSON codec vs jansson (1M floats)"
"$build/bench/bench_json" --floats 1000000 --repeat 3
echo
echo "== gzip / deflate per MB in the server's code paths (request inflate, answer deflate)"
"$build/bench/bench_compress" --repeat 5
echo
echo "== gzip on the wire (wrk, KServe v2): plain vs compressed request / answer"
BUILD=$build "$(dirname "$0")/bench_compress.sh"
echo
echo "== wire dtypes over HTTP (wrk): bfloat16 / float16 binary vs float32 binary, large shape"
BUILD=$build "$(dirname "$0")/bench_dtype.sh"
echo
echo "== bearer tokens: the check's cost per request, and the tiny request with and without them"
"$build/bench/bench_auth"
echo
BUILD=$build "$(dirname "$0")/bench_auth.sh"
echo
echo "== HTTP (wrk): atrousd against the reference minimal server"
BUILD=$build "$(dirname "$0")/bench_http.sh"
echo
echo "== TLS vs plain HTTP (wrk): small and large binary requests, kept alive and new connections"
BUILD=$build "$(dirname "$0")/bench_tls.sh"
echo
echo "== tuning knobs (wrk): one flag changed from the defaults per row"
BUILD=$build "$(dirname "$0")/bench_knobs.sh"
echo
echo "== same-shape micro-batching (wrk, KServe v2 binary): off vs --max-batch 8"
BUILD=$build "$(dirname "$0")/bench_batching.sh"
