#!/usr/bin/env bash
# check_env_table.sh - every ATROUSD_* variable that `atrousd --help` lists has a row in
# docker/README.md's configuration table (the container is configured through them). Reads
# the --help text on standard input, so the same check serves a local build
# (`build/atrousd --help | tests/docs/check_env_table.sh`, in make docs-check) and the image
# (docker/smoke.sh). Prints one line; exits 1 naming what is missing.
set -euo pipefail
readme="$(cd "$(dirname "$0")/../.." && pwd)/docker/README.md"
vars=$(grep -o 'env ATROUSD_[A-Z0-9_]*' | sed 's/^env //' | sort -u || true)
[ -n "$vars" ] || { echo "check_env_table: the --help text listed no ATROUSD_* variable"; exit 1; }
missing=$(for v in $vars; do grep -q "\`$v\`" "$readme" || echo "$v"; done)
if [ -n "$missing" ]; then
    echo "check_env_table: docker/README.md's configuration table lacks: ${missing//$'\n'/ }"
    exit 1
fi
echo "check_env_table: docker/README.md documents all $(wc -w <<<"$vars") variables of atrousd --help"
