#!/usr/bin/env bash
# make fuzz: runs each libFuzzer target named on the command line for FUZZ_SECONDS, seeded from
# the conformance corpus (make_seeds), and prints executions, coverage and crashes per target.
# Exits non-zero when any target found a crash, leak or timeout; the reproducer is kept under
# $BUILD/artifacts/<target>/ (replay: $BUILD/fuzz-bin/<target> <file>).
set -u
build=${BUILD:-build/fuzz}
seconds=${FUZZ_SECONDS:-60}
bin="$build/fuzz-bin"
seeds="$build/seeds"
rm -rf "$seeds"
"$bin/make_seeds" "$seeds" || exit 1
status=0
summary=()
for target in "$@"; do
  short=${target#fuzz_}
  corpus="$build/corpus/$short"
  artifacts="$build/artifacts/$short"
  mkdir -p "$corpus" "$artifacts"
  seed_dir="$seeds/$short"
  [ -d "$seed_dir" ] || seed_dir=""
  echo "== $target: ${seconds}s (corpus $corpus${seed_dir:+, seeds $seed_dir})"
  log="$build/$short.log"
  "$bin/$target" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" $seed_dir >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  found=$(find "$artifacts" -type f | wc -l)
  summary+=("$(printf '%-18s executions %-10s coverage %-6s findings %s (exit %s)' \
    "$target" "${execs:-?}" "${cov:-?}" "$found" "$rc")")
  if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
    status=1
    tail -40 "$log"
  fi
done
echo
echo "fuzz summary (${seconds}s per target):"
printf '  %s\n' "${summary[@]}"
[ "$status" -eq 0 ] && echo "fuzz: no findings" || echo "fuzz: FINDINGS - see above"
exit "$status"
