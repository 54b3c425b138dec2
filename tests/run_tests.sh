#!/usr/bin/env bash
# Runs each cmocka test binary given as an argument, keeps going after a failure, and ends with
# one summary line: "tests: N passed, N failed". Exits non-zero when any test failed or a
# binary crashed before reporting.
#
# With ATROUSD_TEST_LOG_DIR set (make test, make check), that folder is emptied first, every
# daemon's log is kept in it (tests/support/daemon.h), and after the binaries
# tests/check_secrets.sh greps them all for secrets: one more test, passed or failed.
set -u
passed=0 failed=0 broken=()
export CMOCKA_MESSAGE_OUTPUT=stdout
logdir=${ATROUSD_TEST_LOG_DIR:-}
if [ -n "$logdir" ]; then
  rm -rf "$logdir" && mkdir -p "$logdir" || { echo "cannot make $logdir"; exit 1; }
  export ATROUSD_TEST_LOG_DIR=$logdir
fi
for bin in "$@"; do
  name=$(basename "$bin")
  echo "== $name"
  out=$("$bin" 2>&1); rc=$?
  printf '%s\n' "$out"
  p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\..*/\1/p' | tail -1)
  f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:.*/\1/p' | tail -1)
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
  if [ -z "$p" ] && [ -z "$f" ] || { [ "$rc" -ne 0 ] && [ -z "$f" ]; }; then
    broken+=("$name (exit $rc)")
  elif printf '%s\n' "$out" | grep -q 'FAILED  \] GROUP \(SETUP\|TEARDOWN\)'; then
    # cmocka 1.1 exits 0 when a group teardown fails, e.g. when a test's daemon did not exit
    # 0 on SIGTERM because a sanitizer (LeakSanitizer at exit) reported an error.
    broken+=("$name (group fixture failed)")
  fi
done
if [ -n "$logdir" ]; then
  echo "== check_secrets"
  if "$(dirname "$0")/check_secrets.sh" "$logdir"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
fi
if [ ${#broken[@]} -gt 0 ]; then
  echo "binaries that crashed or reported nothing: ${broken[*]}"
  failed=$((failed + ${#broken[@]}))
fi
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
