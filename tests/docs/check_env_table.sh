#!/usr/bin/env bash
# check_env_table.sh - every ATROUSD_* variable that `atrousd --help` lists has a row in
# docker/README.md's configuration table (the container is configured through them). The
# docker smoke test checks the same against the image; this runs without docker, in
# `make docs-check`. Exits 1 naming what is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${ATROUSD_BIN:-build/atrousd}
vars=$("$bin" --help | grep -o 'env ATROUSD_[A-Z0-9_]*' | sed 's/^env //' | sort -u)
[ -n "$vars" ] || { echo "check_env_table: $bin --help listed no ATROUSD_* variable"; exit 1; }
missing=$(for v in $vars; do grep -q "\`$v\`" docker/README.md || echo "$v"; done)
if [ -n "$missing" ]; then
    echo "check_env_table: docker/README.md's configuration table lacks: ${missing//$'\n'/ }"
    exit 1
fi
echo "check_env_table: docker/README.md has all $(wc -w <<<"$vars") variables of atrousd --help"
