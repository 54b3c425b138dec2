#!/usr/bin/env bash
# check_secrets.sh DIR - the whole suite's secret grep (issue 14: no key, certificate password
# or token ever appears in a log line). tests/run_tests.sh runs it after every test binary, on
# the folder where tests/support/daemon.c kept every daemon's log and every run's output
# ($ATROUSD_TEST_LOG_DIR). Fails when any of them holds:
#   atrousd-test-secret   the substring every test secret (token, key password) contains
#   PRIVATE KEY           a PEM private key block
# and when the folder holds no daemon log at all (the harness kept nothing: the grep would
# prove nothing). Prints the file and line of each hit, never the line itself.
set -u
dir=${1:?usage: check_secrets.sh DIR}
patterns=(-e 'atrousd-test-secret' -e 'PRIVATE KEY')

# The grep itself must find a planted secret, or a passing run would mean nothing.
plant=$(mktemp)
printf 'ok\n{"msg":"x","token":"planted-atrousd-test-secret"}\n' >"$plant"
if ! grep -qF "${patterns[@]}" "$plant"; then
  rm -f "$plant"
  echo "check_secrets: FAILED: the grep does not find a planted secret"
  exit 1
fi
rm -f "$plant"

count=$(find "$dir" -type f \( -name '*.daemon.*' -o -name '*.run.*' \) 2>/dev/null | wc -l)
if [ "$count" -eq 0 ]; then
  echo "check_secrets: FAILED: no daemon log kept in $dir (ATROUSD_TEST_LOG_DIR)"
  exit 1
fi
hits=$(grep -rnoF "${patterns[@]}" "$dir" | sed 's/^\([^:]*:[0-9]*\):.*$/\1/' | sort -u)
if [ -n "$hits" ]; then
  echo "check_secrets: FAILED: a secret in the logs (file:line):"
  printf '  %s\n' $hits
  exit 1
fi
echo "check_secrets: $count daemon logs and run outputs hold no secret"
