# docker/lib.sh - helpers shared by base-image.sh, smoke.sh and rollout.sh (sourced, not run).
#
# They read the host's apt configuration so that image builds use exactly the mirror and
# proxy the host uses: on a machine that reaches Debian only through a local mirror or a
# proxy, that is the only way a build can install packages. Nothing here names a mirror.

# log MESSAGE...: one progress line on stderr, prefixed with the calling script's name.
log() {
    printf '%s: %s\n' "${LOG_TAG:-docker}" "$*" >&2
}

# apt_source_files: every apt source file the host has enabled, classic ones first.
# APT_ETC_DIR (default /etc/apt) lets a test point it at another tree.
apt_source_files() {
    local etc=${APT_ETC_DIR:-/etc/apt} f
    [ -f "$etc/sources.list" ] && echo "$etc/sources.list"
    for f in "$etc"/sources.list.d/*.list "$etc"/sources.list.d/*.sources; do
        [ -f "$f" ] && echo "$f"
    done
    return 0
}

# apt_debian_mirror [SUITE]: the URI of the first enabled "deb" source that carries SUITE
# (default bookworm) with the main component, read from classic one-line files and from
# deb822 .sources files. Prints nothing when there is none.
apt_debian_mirror() {
    local suite=${1:-bookworm} f
    for f in $(apt_source_files); do
        case "$f" in
        *.list)
            # deb [options] URI SUITE COMPONENT...
            sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" |
                awk -v s="$suite" '$1 == "deb" && $3 == s {
                    for (i = 4; i <= NF; i++) if ($i == "main") { print $2; exit }
                }'
            ;;
        *.sources)
            # Stanzas separated by blank lines; fields may be folded onto following lines.
            awk -v s="$suite" '
                function flush() {
                    if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " s " ") &&
                        (" " comps " ") ~ / main / && enabled !~ /^(no|false|0)$/) {
                        split(uris, u, " "); print u[1]; found = 1; exit
                    }
                    types = suites = comps = uris = enabled = ""; last = ""
                }
                /^#/ { next }
                /^[ \t]*$/ { flush(); next }
                /^[ \t]/ { v = $0; sub(/^[ \t]+/, "", v); add(last, v); next }
                {
                    k = tolower($0); sub(/:.*/, "", k)
                    v = $0; sub(/^[^:]*:[ \t]*/, "", v); last = k; add(k, v)
                }
                function add(key, val) {
                    if (key == "types") types = types " " val
                    else if (key == "suites") suites = suites " " val
                    else if (key == "components") comps = comps " " val
                    else if (key == "uris") uris = uris " " val
                    else if (key == "enabled") enabled = val
                }
                END { if (!found) flush() }' "$f"
            ;;
        esac
    done | head -n 1
}

# apt_proxy SCHEME: the host apt's proxy for SCHEME (http or https), empty when none or
# when it is "DIRECT". Falls back to the usual environment variables.
apt_proxy() {
    local scheme=${1:-http} p=""
    eval "$(apt-config shell p "Acquire::${scheme}::Proxy" 2>/dev/null)"
    if [ -z "$p" ]; then
        if [ "$scheme" = https ]; then p=${https_proxy:-${HTTPS_PROXY:-}}; else p=${http_proxy:-${HTTP_PROXY:-}}; fi
    fi
    # apt's explicit "no proxy" wins over the environment.
    case "$p" in DIRECT | direct | false) p="" ;; esac
    printf '%s' "$p"
}

# apt_sources_list_text: the host's enabled one-line sources (sources.list, *.list), and
# apt_sources_deb822_text: its deb822 stanzas (*.sources). They become the APT_SOURCES_LIST
# and APT_SOURCES build arguments, which the Dockerfiles install in place of the image's own.
apt_sources_list_text() {
    local f
    for f in $(apt_source_files); do
        case "$f" in
        *.list) sed -e '/^[[:space:]]*#/d' -e '/^[[:space:]]*$/d' "$f" ;;
        esac
    done
}
apt_sources_deb822_text() {
    local f
    for f in $(apt_source_files); do
        case "$f" in
        *.sources) grep -v '^#' "$f"; echo ;;
        esac
    done
}

# apt_conf_text: the host apt settings a build needs to read the same mirror: the release-file
# date checks (a snapshot mirror serves Release files whose Valid-Until has passed, and hosts
# that use one turn the check off) and TLS verification switches. One apt.conf statement per
# line. Proxies are not here: they travel as the http_proxy/https_proxy build arguments,
# which docker keeps out of the image history.
apt_conf_text() {
    apt-config dump 2>/dev/null |
        grep -E '^Acquire::(https?::)?Check-(Valid-Until|Date) |^Acquire::https?::Verify-(Peer|Host) ' || true
}

# ---- shared by smoke.sh and rollout.sh -------------------------------------------------------
#
# The functions below expect the caller to set RUN_DIR (a fresh temp dir for logs, sockets and
# the private engine's exec-root) and LOG_TAG, and to call engine_stop from its exit trap.
# ATROUSD_DOCKER_DATA_ROOT (default /var/tmp/atrousd-dockerd) is the private engine's
# data-root, kept between runs so the base image and the layer cache survive.

DATA_ROOT=${ATROUSD_DOCKER_DATA_ROOT:-/var/tmp/atrousd-dockerd}
DOCKERD_PID=""
PASSED=0
FAILED=0
RESULTS=()
MEASURE=()

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
pass() { PASSED=$((PASSED + 1)); RESULTS+=("PASS  $*"); log "PASS $*"; }
fail() { FAILED=$((FAILED + 1)); RESULTS+=("FAIL  $*"); log "FAIL $*"; }
measure() { MEASURE+=("$*"); log "measured: $*"; }

# summary TITLE NAME T0: every result and measurement, then "NAME: N passed, N failed" and
# PASS or FAIL.
summary() {
    local line
    echo
    echo "== $1 summary =="
    for line in "${RESULTS[@]}"; do echo "  $line"; done
    if [ ${#MEASURE[@]} -gt 0 ]; then
        echo "measurements:"
        for line in "${MEASURE[@]}"; do echo "  $line"; done
    fi
    echo "  total time: $(($(date +%s) - $3)) s"
    echo "$2: $PASSED passed, $FAILED failed"
    if [ "$FAILED" = 0 ]; then echo "PASS"; else echo "FAIL"; fi
}

# free_port: a TCP port on 127.0.0.1 nobody listens on right now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# http_status URL: the status code of a GET (000 when nothing answers), 3 s at most.
http_status() {
    curl -s -o /dev/null -m 3 -w '%{http_code}' "$1" 2>/dev/null || true
}

# status_is URL CODE, health_is CONTAINER STATUS: one check each, for wait_for.
status_is() { [ "$(http_status "$1")" = "$2" ]; }
health_is() { [ "$(docker inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null)" = "$2" ]; }

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.05 s until it succeeds.
wait_for() {
    local limit=$1 what=$2 deadline
    shift 2
    deadline=$(($(date +%s) + limit))
    until "$@"; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            log "gave up after ${limit}s waiting for $what"
            return 1
        fi
        sleep 0.05
    done
}

# install_missing [cmd:COMMAND:PACKAGE | py:MODULE:PACKAGE | compose]...: installs with apt-get
# what the docker tests always need (docker.io, debootstrap, curl, python3) plus what the
# arguments name, only when missing. "compose" asks for a working "docker compose" or
# Debian's docker-compose. PYTHON_DEB is the interpreter that imports every py: module: the
# first python3 on PATH when it does, else Debian's /usr/bin/python3, where apt installs them.
install_missing() {
    local pkgs=() sudo="" spec kind name pkg mods=()
    [ "$(id -u)" = 0 ] || sudo=sudo
    command -v dockerd >/dev/null || pkgs+=(docker.io)
    command -v docker >/dev/null || pkgs+=(docker.io)
    command -v debootstrap >/dev/null || pkgs+=(debootstrap)
    command -v curl >/dev/null || pkgs+=(curl)
    command -v python3 >/dev/null || pkgs+=(python3)
    for spec in "$@"; do
        IFS=: read -r kind name pkg <<<"$spec"
        case "$kind" in
        cmd) command -v "$name" >/dev/null || pkgs+=("$pkg") ;;
        py) mods+=("$name") ;;
        compose)
            if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then
                pkgs+=(docker-compose)
            fi
            ;;
        esac
    done
    PYTHON_DEB=python3
    if [ ${#mods[@]} -gt 0 ] && ! python3 -c "import $(IFS=,; echo "${mods[*]}")" 2>/dev/null; then
        PYTHON_DEB=/usr/bin/python3
        for spec in "$@"; do
            IFS=: read -r kind name pkg <<<"$spec"
            if [ "$kind" = py ] && ! /usr/bin/python3 -c "import $name" 2>/dev/null; then
                pkgs+=("$pkg")
            fi
        done
    fi
    if [ ${#pkgs[@]} -eq 0 ]; then
        pass "tools present (nothing to install)"
        return 0
    fi
    mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
    log "installing with apt-get: ${pkgs[*]}"
    if $sudo apt-get update -qq >"$RUN_DIR/apt.log" 2>&1 &&
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${pkgs[@]}" >>"$RUN_DIR/apt.log" 2>&1; then
        pass "installed ${pkgs[*]}"
    else
        tail -n 20 "$RUN_DIR/apt.log" >&2
        fail "apt-get install ${pkgs[*]}"
        return 1
    fi
}

# engine_start [private]: use the docker engine that answers or, with "private" always (a test
# that turns its engine into a swarm manager must never do that to someone else's engine),
# start a private dockerd: exec-root, pidfile and socket in RUN_DIR, data-root DATA_ROOT, one
# run per data-root at a time (a lock file). DOCKER_HOST points at it afterwards.
engine_start() {
    if [ "${1:-}" != private ] && timeout 10 docker info >/dev/null 2>&1; then
        pass "docker engine answers (${DOCKER_HOST:-default socket}); using it"
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        fail "a private dockerd needs root"
        return 1
    fi
    mkdir -p "$DATA_ROOT"
    exec 9>"$DATA_ROOT.lock"
    if ! flock -w 600 9; then
        fail "another run holds $DATA_ROOT.lock"
        return 1
    fi
    export DOCKER_HOST="unix://$RUN_DIR/docker.sock"
    log "starting a private dockerd: data-root $DATA_ROOT, exec-root $RUN_DIR/exec"
    # Its own session, so that a terminal's ^C reaches the script, which then stops it.
    # Swarm tasks use the images in the engine and never try a registry first (the engine's
    # default is to pull on every task start, which here can only time out).
    DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 setsid dockerd --data-root "$DATA_ROOT" \
        --exec-root "$RUN_DIR/exec" --pidfile "$RUN_DIR/docker.pid" -H "$DOCKER_HOST" \
        >"$RUN_DIR/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    if wait_for 60 "the private dockerd" timeout 5 docker info >/dev/null 2>&1; then
        pass "private dockerd up ($(docker version -f '{{.Server.Version}}' 2>/dev/null))"
    else
        tail -n 20 "$RUN_DIR/dockerd.log" >&2
        fail "private dockerd did not answer within 60 s"
        return 1
    fi
    # A rollout run that was killed leaves its swarm in the data-root, and the engine would
    # start that stack's tasks again: leave it.
    if [ "$(docker info -f '{{.Swarm.LocalNodeState}}' 2>/dev/null)" != inactive ]; then
        log "the data-root holds a swarm from an earlier run; leaving it"
        timeout 60 docker swarm leave --force >/dev/null 2>&1 || true
    fi
}

# engine_stop: stops the private dockerd, if this run started one.
engine_stop() {
    [ -n "$DOCKERD_PID" ] || return 0
    log "stopping the private dockerd (pid $DOCKERD_PID)"
    kill -TERM "$DOCKERD_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$DOCKERD_PID" 2>/dev/null; then
        log "dockerd did not stop in 20 s; killing it"
        kill -KILL "$DOCKERD_PID" 2>/dev/null || true
    fi
    # Mounts dockerd leaves behind only if it was killed.
    awk -v r="$RUN_DIR/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null || true; done
    DOCKERD_PID=""
}

# base_image_ensure: debian:bookworm-slim in the engine (docker/base-image.sh; debootstrap
# when missing, ATROUSD_BASE_PULL=1 tries docker pull first).
base_image_ensure() {
    local had=0 start args=()
    docker image inspect debian:bookworm-slim >/dev/null 2>&1 && had=1
    start=$(now)
    [ -n "${ATROUSD_BASE_PULL:-}" ] && args=(--pull)
    if "$(dirname "${BASH_SOURCE[0]}")/base-image.sh" "${args[@]}" 2>&1 | sed 's/^/  /' >&2 &&
        docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
        if [ "$had" = 1 ]; then
            pass "base image debian:bookworm-slim present"
        else
            pass "base image debian:bookworm-slim built in $(since "$start")s"
            measure "base image debian:bookworm-slim (debootstrap + import): $(since "$start")s"
        fi
    else
        fail "base image debian:bookworm-slim (docker/base-image.sh)"
        return 1
    fi
}

BUILD_ARGS=()
BUILD_NETWORK=default

# apt_build_args: the host's apt configuration as build arguments (docker/README.md, "Offline
# builds"), in BUILD_ARGS and exported for compose.
apt_build_args() {
    local p
    APT_SOURCES=$(apt_sources_deb822_text)
    APT_SOURCES_LIST=$(apt_sources_list_text)
    APT_CONF=$(apt_conf_text)
    export APT_SOURCES APT_SOURCES_LIST APT_CONF
    BUILD_ARGS=(--build-arg "APT_SOURCES=$APT_SOURCES" --build-arg "APT_SOURCES_LIST=$APT_SOURCES_LIST"
        --build-arg "APT_CONF=$APT_CONF")
    p=$(apt_proxy http)
    [ -n "$p" ] && BUILD_ARGS+=(--build-arg "http_proxy=$p") && export http_proxy="$p"
    p=$(apt_proxy https)
    [ -n "$p" ] && BUILD_ARGS+=(--build-arg "https_proxy=$p") && export https_proxy="$p"
    return 0
}

# choose_build_network: can a container on the default bridge open a TCP connection to the
# mirror (or the proxy)? If not, builds use --network host. DOCKER_BUILD_NETWORK=host|default
# in the environment skips the question.
choose_build_network() {
    local url host port
    case "${DOCKER_BUILD_NETWORK:-}" in
    host | default)
        BUILD_NETWORK=$DOCKER_BUILD_NETWORK
        pass "builds use --network $BUILD_NETWORK (DOCKER_BUILD_NETWORK)"
        return 0
        ;;
    esac
    url=$(apt_proxy http)
    [ -n "$url" ] || url=$(apt_debian_mirror bookworm)
    [ -n "$url" ] || url=http://deb.debian.org/debian
    host=$(printf '%s' "$url" | sed -E 's#^[a-z]+://([^/@]*@)?##; s#[/].*$##')
    port=80
    case "$url" in https://*) port=443 ;; esac
    if [[ "$host" =~ ^(.*):([0-9]+)$ ]]; then host=${BASH_REMATCH[1]}; port=${BASH_REMATCH[2]}; fi
    host=${host#[}
    host=${host%]}
    if timeout 30 docker run --rm --network bridge --entrypoint bash debian:bookworm-slim \
        -c "exec 3<>/dev/tcp/$host/$port" >/dev/null 2>&1; then
        BUILD_NETWORK=default
        pass "the bridge network reaches $host:$port; builds use it"
    else
        BUILD_NETWORK=host
        pass "the bridge network does not reach $host:$port; builds use --network host"
    fi
    export DOCKER_BUILD_NETWORK=$BUILD_NETWORK
}

# build_context REPO: sets BUILD_CONTEXT to REPO or, with ATROUSD_SMOKE_CONTEXT=head, to the
# committed tree (git archive HEAD) unpacked into RUN_DIR/context, which is what CI and other
# clones see; BUILD_CONTEXT_WHAT describes it.
build_context() {
    local repo=$1
    BUILD_CONTEXT=$repo
    BUILD_CONTEXT_WHAT="the work tree"
    [ "${ATROUSD_SMOKE_CONTEXT:-worktree}" = head ] || return 0
    BUILD_CONTEXT=$RUN_DIR/context
    if [ ! -d "$BUILD_CONTEXT" ]; then
        mkdir -p "$BUILD_CONTEXT"
        if ! git -C "$repo" archive HEAD | tar -x -C "$BUILD_CONTEXT"; then
            fail "git archive HEAD for the build context"
            return 1
        fi
    fi
    BUILD_CONTEXT_WHAT="HEAD ($(git -C "$repo" rev-parse --short HEAD))"
}

# build_image TAG DOCKERFILE CONTEXT [docker build options...]: builds with the host's apt
# configuration (apt_build_args) on BUILD_NETWORK, logging to RUN_DIR/build-<tag>.log, and
# measures the time, the size and the steps that came from the cache. NO_CACHE_NOTE (set
# with --no-cache) marks the measurement as a cold build.
build_image() {
    local tag=$1 file=$2 ctx=$3 start logf secs size steps cached
    shift 3
    logf=$RUN_DIR/build-$(printf '%s' "$tag" | tr -c 'A-Za-z0-9.-' '_').log
    start=$(now)
    log "building $tag (log: $logf)"
    if ! timeout 1200 docker build "$@" --network "$BUILD_NETWORK" "${BUILD_ARGS[@]}" \
        -f "$file" -t "$tag" "$ctx" >"$logf" 2>&1; then
        grep -v '^ ---> \|^Removing intermediate' "$logf" | tail -n 30 >&2
        fail "docker build $tag (see $logf)"
        return 1
    fi
    secs=$(since "$start")
    size=$(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%.1f MB", $1 / 1e6 }')
    # The legacy builder prints "Using cache" per cached step; BuildKit prints CACHED.
    # (FROM and the ARG before it never report a cache hit, so they are not counted.)
    steps=$(grep '^Step [0-9]' "$logf" | grep -vc ': FROM \|: ARG BASE_IMAGE')
    cached=$(grep -c 'Using cache\|CACHED' "$logf")
    pass "built $tag from ${BUILD_CONTEXT_WHAT:-$ctx} in ${secs}s${NO_CACHE_NOTE:-}"
    # Each source change leaves the previous build stage behind as a dangling image; in the
    # private data-root (never in an engine someone else owns) drop those over a day old.
    if [ -n "$DOCKERD_PID" ]; then
        docker image prune -f --filter until=24h >/dev/null 2>&1 || true
    fi
    measure "image $tag: $size; build ${secs}s${NO_CACHE_NOTE:+ (--no-cache, cold)}, $cached of $steps steps from cache"
}
