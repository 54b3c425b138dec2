#!/usr/bin/env bash
# tests/docs/run_examples.sh (make docs-check) - runs every fenced ```sh block of README.md,
# proto/README.md, proto/KSERVE.md and docker/README.md as written, from the repository root,
# in order, and ends with "docs: N passed, N failed, N skipped".
#
# The examples talk to a service on port 8080, so everything runs in a private network
# namespace (its own loopback, where 8080 is always free and nothing reaches the host) with a
# private /tmp (the examples write /tmp/atrous-body.bin, /tmp/models, /tmp/v2 ...): unshare,
# as root or in a user namespace. Per block, in document order:
#   - a block marked <!-- docs-check: skip REASON --> just before its fence is not run (the
#     reason is printed: e.g. the docker examples, which docker/smoke.sh runs);
#   - a block that is one command starting the service (build/atrousd ... or make run, not in
#     the background) is that file's service from then on: it is started in the background
#     and waited for (/readyz 200);
#   - a block that starts a service in the background itself (a line ending in &) runs with
#     port 8080 free, and what it started is stopped after it;
#   - any other block runs with a service up: the current one, or `make run` (as the README's
#     quick start has it) when none is.
# Each block runs in `bash -e` with a time limit (DOCS_BLOCK_TIMEOUT, 300 s); curl is called
# with --fail-with-body so that an HTTP error answer fails the block, and a block that leaves a
# file in the repository (git status) fails too. A failed block prints its output. Services are stopped with SIGTERM (they drain) and then SIGKILL after 30 s.
set -u
cd "$(dirname "$0")/../.."

if [ -z "${DOCS_CHECK_INSIDE:-}" ]; then
    # Re-run inside a private network and mount namespace (root, or a user namespace).
    flags=(--net --mount)
    [ "$(id -u)" = 0 ] || flags+=(--map-root-user)
    exec unshare "${flags[@]}" env DOCS_CHECK_INSIDE=1 bash "$0" "$@"
fi
ip link set lo up || { echo "docs: cannot bring up loopback in the namespace"; exit 1; }
# A clone under /tmp (CI may make one there) would vanish under the private /tmp: hold the
# repository open, and bind it back at its own path inside the new /tmp (-c: mount must not
# resolve /proc/self/fd/9 to a path, which now points into the new /tmp).
repo=$PWD
exec 9<"$repo"
mount -t tmpfs -o size=512m tmpfs /tmp || { echo "docs: cannot mount a private /tmp"; exit 1; }
case "$repo/" in
/tmp/*)
    mkdir -p "$repo" && mount -c --bind /proc/self/fd/9 "$repo" ||
        { echo "docs: cannot keep $repo visible under the private /tmp"; exit 1; }
    cd "$repo" || exit 1
    ;;
esac
exec 9<&-

read -r -a FILES <<<"${DOCS_FILES:-README.md proto/README.md proto/KSERVE.md docker/README.md}"
BLOCK_TIMEOUT=${DOCS_BLOCK_TIMEOUT:-300}
work=$(mktemp -d)
passed=0 failed=0 skipped=0
service_pgid=""

# Prints, for each fenced sh block of a file: "START_LINE<TAB>DIRECTIVE" and writes its text
# to $work/block.N (N from 1).
extract() {
    awk -v out="$work/block." '
        /^```/ && !inside {
            lang = substr($0, 4); inside = 1; n_lines = 0; start = NR + 1
            if (lang == "sh" || lang == "bash") { n++; file = out n; printf "" > file }
            else file = ""
            directive = last
            next
        }
        /^```/ && inside {
            inside = 0
            if (file != "") { close(file); printf "%d\t%s\n", start, (directive ~ /docs-check:/ ? directive : "") }
            next
        }
        inside && file != "" { print > file; next }
        NF { last = $0 }
    ' "$1"
}

wait_ready() {
    for _ in $(seq 600); do
        curl -sf -o /dev/null --max-time 2 http://127.0.0.1:8080/readyz && return 0
        sleep 0.2
    done
    return 1
}

# Stops a process group: SIGTERM, then SIGKILL after 30 s.
stop_group() {
    local pgid=$1
    kill -TERM -- "-$pgid" 2>/dev/null || return 0
    for _ in $(seq 150); do
        kill -0 -- "-$pgid" 2>/dev/null || return 0
        sleep 0.2
    done
    kill -KILL -- "-$pgid" 2>/dev/null || true
}

stop_service() {
    [ -n "$service_pgid" ] && stop_group "$service_pgid"
    service_pgid=""
}

# start_service COMMAND: runs it in its own process group and waits until it is ready.
start_service() {
    stop_service
    setsid bash -c "$1" >"$work/service.log" 2>&1 &
    service_pgid=$!
    if ! wait_ready; then
        echo "  service did not become ready: $1"
        tail -20 "$work/service.log" | sed 's/^/    /'
        return 1
    fi
}

# The first command of a block (comments and blank lines dropped), and how many there are.
commands() { sed -e 's/[[:space:]]*#.*$//' -e '/^[[:space:]]*$/d' "$1"; }

run_block() {
    local where=$1 text=$2 directive=$3
    if [[ $directive =~ docs-check:[[:space:]]*skip[[:space:]]*(.*)[[:space:]]*--\> ]]; then
        local reason=${BASH_REMATCH[1]}
        echo "skip  $where: ${reason%"${reason##*[![:space:]]}"}"
        skipped=$((skipped + 1))
        return
    fi
    local cmds
    cmds=$(commands "$text")
    if [ "$(wc -l <<<"$cmds")" = 1 ] && [[ $cmds =~ ^(build/atrousd|make\ run)([[:space:]]|$) ]] &&
        [[ ! $cmds =~ (\&[[:space:]]*$|--health-probe|--help|--version) ]]; then
        if start_service "$cmds"; then
            echo "ok    $where: serving: $cmds"
            passed=$((passed + 1))
        else
            echo "FAIL  $where: $cmds"
            failed=$((failed + 1))
        fi
        return
    fi
    local own=0
    grep -Eq '(build/atrousd|make run)[^&]*&[[:space:]]*(#.*)?$' "$text" && own=1
    if [ "$own" = 1 ]; then
        stop_service
    elif [ -z "$service_pgid" ] && ! start_service "make run"; then
        echo "FAIL  $where: no service for it"
        failed=$((failed + 1))
        return
    fi
    local script="$work/run.sh"
    {
        echo 'curl() { command curl --fail-with-body --max-time 120 "$@"; }'
        echo 'set -e'
        cat "$text"
    } >"$script"
    local before after
    before=$(git status --porcelain --untracked-files=all 2>/dev/null)
    setsid timeout -k 10 "$BLOCK_TIMEOUT" bash "$script" >"$work/out" 2>&1 &
    local pid=$!
    wait "$pid"
    local rc=$?
    stop_group "$pid" # whatever the block left running (its own service, a wrk in the background)
    after=$(git status --porcelain --untracked-files=all 2>/dev/null)
    if [ "$rc" = 0 ] && [ "$before" != "$after" ]; then
        echo "files it left in the repository:" >>"$work/out"
        diff <(echo "$before") <(echo "$after") | sed -n 's/^> //p' >>"$work/out"
        rc=1
    fi
    if [ "$rc" = 0 ]; then
        echo "ok    $where"
        passed=$((passed + 1))
    else
        echo "FAIL  $where (exit $rc):"
        sed 's/^/    | /' "$text"
        tail -30 "$work/out" | sed 's/^/    > /'
        failed=$((failed + 1))
    fi
}

for file in "${FILES[@]}"; do
    rm -f "$work"/block.*
    n=0
    while IFS=$'\t' read -r line directive; do
        n=$((n + 1))
        run_block "$file:$line" "$work/block.$n" "$directive"
    done < <(extract "$file")
    stop_service # each file starts from no service
done
rm -rf "$work"
echo "docs: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
