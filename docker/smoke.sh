#!/usr/bin/env bash
# docker/smoke.sh - build the atrousd image and prove the container, the compose stack and the
# Kubernetes manifests work, on a machine with nothing but Debian's apt mirror.
#
#   docker/smoke.sh               everything below (make docker-test)
#   docker/smoke.sh --build-only  steps 1-4 only: leaves the image atrousd:latest (make docker)
#   docker/smoke.sh --no-cache    also rebuild every image layer (a cold build)
#
#  1. installs what is missing, with apt-get: docker.io, debootstrap, a compose (Debian's
#     docker-compose unless "docker compose" works), kubectl (kubernetes-client), PyYAML and
#     jsonschema (python3-yaml, python3-jsonschema)
#  2. uses the docker engine that answers, or starts a private dockerd (exec-root, pidfile and
#     socket in a fresh temp dir, data-root in /var/tmp/atrousd-dockerd so images and the build
#     cache survive between runs) and stops it at the end
#  3. makes sure debian:bookworm-slim exists (docker/base-image.sh: debootstrap if need be;
#     ATROUSD_BASE_PULL=1 tries docker pull first, on a machine with a registry)
#  4. builds atrousd:latest from docker/Dockerfile with the host's apt sources, apt settings and
#     proxy as build arguments, on the bridge network or, if the bridge cannot reach the
#     mirror, the host's
#  5. checks docker/README.md documents every ATROUSD_* variable of the image's --help;
#     runs it read-only with a tmpfs /tmp and --cpus 1 on 127.0.0.1:<free port>; waits for
#     /healthz, /readyz and a healthy HEALTHCHECK; checks /v1/info sized its threads to the one
#     CPU of quota, and that it runs as a non-root uid on a read-only root
#  6. sends a conformance case (tests/data/conformance/valid/) as JSON and as binary and
#     compares with |got-exp| <= 1e-4 + 1e-4*|exp|; stops it and expects exit code 0 (SIGTERM)
#  6b. runs it again with mutual TLS (certificates made by certtool for the run): /readyz with a
#     client certificate, a healthy HEALTHCHECK over TLS, a client without one refused, exit 0
#  7. brings up docker/compose.yaml (2 replicas behind nginx), sends requests through nginx,
#     then stops one replica and expects nginx to route every request to the other
#  8. validates docker/k8s/ (docker/k8s-check.py: kubectl apply --dry-run=client and more)
#  9. removes every container, network and compose project it started, stops its dockerd
#
# Prints a line per step and ends with "docker-test: N passed, N failed" and PASS or FAIL.
# The whole run is bounded by ATROUSD_SMOKE_TIMEOUT seconds (default 1800).
# Env: ATROUSD_IMAGE (atrousd:latest), ATROUSD_SMOKE_CASE (a corpus file name),
#      ATROUSD_DOCKER_DATA_ROOT (/var/tmp/atrousd-dockerd), DOCKER_HOST (an engine to use),
#      DOCKER_BUILD_NETWORK (host or default: skip the bridge check), ATROUSD_SMOKE_KEEP_LOGS=1
#      (keep the run's logs even when it passes; a failed run always keeps them),
#      ATROUSD_SMOKE_CONTEXT=head (build the committed tree, git archive HEAD, instead of the
#      work tree with whatever is uncommitted in it).
set -uo pipefail

# Bound the whole run; the child gets SIGTERM at the limit and still cleans up.
if [ -z "${ATROUSD_SMOKE_CHILD:-}" ]; then
    export ATROUSD_SMOKE_CHILD=1
    exec timeout -k 90 "${ATROUSD_SMOKE_TIMEOUT:-1800}" bash "$0" "$@"
fi

LOG_TAG=smoke
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
. "$HERE/lib.sh"

IMAGE=${ATROUSD_IMAGE:-atrousd:latest}
LB_IMAGE=${ATROUSD_LB_IMAGE:-atrousd-lb:latest}
CASE_NAME=${ATROUSD_SMOKE_CASE:-058_even_k4_r2_same.json}
BUILD_ONLY=0
NO_CACHE=()
for arg in "$@"; do
    case "$arg" in
    --build-only) BUILD_ONLY=1 ;;
    --no-cache) NO_CACHE=(--no-cache) NO_CACHE_NOTE=" (--no-cache)" ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "smoke: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

T0=$(date +%s)
RUN_DIR=$(mktemp -d /tmp/atrousd-smoke.XXXXXX)
PROJECT=atrousdsmoke$$
CONTAINER=atrousd-smoke-$$
COMPOSE=()

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    log "cleaning up"
    if [ ${#COMPOSE[@]} -gt 0 ]; then
        timeout 120 "${COMPOSE[@]}" down -v --remove-orphans -t 30 >"$RUN_DIR/compose-down.log" 2>&1 ||
            log "compose down failed (see $RUN_DIR/compose-down.log)"
    fi
    for c in "$CONTAINER" "$CONTAINER-tls"; do
        if docker container inspect "$c" >/dev/null 2>&1; then
            timeout 60 docker rm -f "$c" >/dev/null 2>&1 || true
        fi
    done
    engine_stop
    if [ "$rc" != 0 ] && [ "$FAILED" = 0 ]; then
        fail "the run stopped early (exit $rc; a timeout is 124)"
    fi
    summary "docker smoke test" docker-test "$T0"
    if [ "$FAILED" = 0 ] && [ "$rc" = 0 ]; then
        if [ -n "${ATROUSD_SMOKE_KEEP_LOGS:-}" ]; then
            rm -rf "$RUN_DIR/exec"
            log "logs kept in $RUN_DIR"
        else
            rm -rf "$RUN_DIR"
        fi
        exit 0
    fi
    log "logs kept in $RUN_DIR"
    exit 1
}
trap cleanup EXIT
trap 'exit 124' INT TERM

# ---- 5./6. one container ---------------------------------------------------------------------

CASE_FILE=""
find_case() {
    CASE_FILE=$REPO/tests/data/conformance/valid/$CASE_NAME
    if [ ! -f "$CASE_FILE" ]; then
        fail "conformance case $CASE_FILE is missing"
        return 1
    fi
}

run_container() {
    local port start health uid
    port=$(free_port)
    URL=http://127.0.0.1:$port
    start=$(now)
    # One CPU of quota on a machine with more: the thread budget must follow the quota.
    if ! docker run -d --name "$CONTAINER" --read-only --tmpfs /tmp:rw,size=64m \
        --cap-drop ALL --security-opt no-new-privileges:true --cpus 1 \
        -p "127.0.0.1:$port:8080" "$IMAGE" >"$RUN_DIR/run.log" 2>&1; then
        cat "$RUN_DIR/run.log" >&2
        fail "docker run $IMAGE"
        return 1
    fi
    if wait_for 60 "/healthz" status_is "$URL/healthz" 200; then
        pass "/healthz 200 after $(since "$start")s"
    else
        docker logs --tail 30 "$CONTAINER" >&2
        fail "/healthz did not answer 200 within 60 s"
        return 1
    fi
    if wait_for 120 "/readyz" status_is "$URL/readyz" 200; then
        local secs
        secs=$(since "$start")
        pass "/readyz 200 after ${secs}s"
        measure "container start to ready (docker run to /readyz 200): ${secs}s"
    else
        docker logs --tail 30 "$CONTAINER" >&2
        fail "/readyz did not answer 200 within 120 s"
        return 1
    fi
    # The HEALTHCHECK runs atrousd --health-probe every 10 s.
    if wait_for 60 "a healthy HEALTHCHECK" health_is "$CONTAINER" healthy; then
        pass "HEALTHCHECK healthy after $(since "$start")s"
    else
        health=$(docker inspect -f '{{json .State.Health}}' "$CONTAINER" 2>/dev/null)
        fail "HEALTHCHECK not healthy within 60 s: $health"
    fi
    local threads
    threads=$(curl -s -m 5 "$URL/v1/info" | python3 -c '
import json, sys
t = json.load(sys.stdin)["threads"]
print("usable_cpus=%s cgroup_cpu_quota=%s compute_workers=%s omp_threads_per_worker=%s" % (
    t.get("usable_cpus"), t.get("cgroup_cpu_quota"), t.get("compute_workers"),
    t.get("omp_threads_per_worker")))' 2>/dev/null)
    case "$threads" in
    usable_cpus=1\ *compute_workers=1\ omp_threads_per_worker=1)
        pass "--cpus 1: /v1/info reports $threads" ;;
    *) fail "--cpus 1: /v1/info threads not sized to the quota: '${threads}'" ;;
    esac
    uid=$(docker exec "$CONTAINER" id -u 2>/dev/null)
    if [ -n "$uid" ] && [ "$uid" != 0 ]; then
        pass "runs as uid $uid (image USER $(docker inspect -f '{{.Config.User}}' "$IMAGE"))"
    else
        fail "container runs as uid '${uid}' (want non-root)"
    fi
    if docker exec "$CONTAINER" sh -c ': >/probe-write' 2>/dev/null; then
        fail "the root filesystem is writable"
    else
        pass "root filesystem is read-only; /tmp is the only writable path"
    fi
}

conformance() {
    local base=$1 what=$2 form=${3:-both}
    if python3 "$REPO/docker/conformance-request.py" "$base" "$CASE_FILE" "$form" \
        >"$RUN_DIR/conformance-$what.log" 2>&1; then
        cat "$RUN_DIR/conformance-$what.log" >&2
        pass "$what: conformance case $(basename "$CASE_FILE" .json) ($form) within tolerance"
    else
        cat "$RUN_DIR/conformance-$what.log" >&2
        fail "$what: conformance case $(basename "$CASE_FILE" .json) ($form)"
    fi
}

# stop_container NAME [LABEL]: SIGTERM, expect exit code 0, remove it.
stop_container() {
    local name=$1 label=${2:-} start code
    start=$(now)
    docker stop -t 30 "$name" >/dev/null 2>&1
    code=$(docker inspect -f '{{.State.ExitCode}}' "$name" 2>/dev/null)
    if [ "$code" = 0 ]; then
        pass "${label}SIGTERM: drained and exited 0 in $(since "$start")s"
    else
        docker logs --tail 10 "$name" >&2
        fail "${label}SIGTERM: exit code '$code' (want 0)"
    fi
    docker rm -f "$name" >/dev/null 2>&1 || true
}

# ---- 6b. the container with mutual TLS ---------------------------------------------------------

# A CA, a server certificate for 127.0.0.1 and a client certificate, made now with certtool
# (nothing checked in). The files are for this run only: world-readable so the image's non-root
# user can read them from the read-only mount.
make_tls_files() {
    local dir=$1
    mkdir -p "$dir" && (
        cd "$dir" || exit 1
        certtool --generate-privkey --key-type ecdsa --outfile ca.key &&
            printf 'cn = "smoke CA"\nca\ncert_signing_key\nexpiration_days = 2\n' >ca.tmpl &&
            certtool --generate-self-signed --load-privkey ca.key --template ca.tmpl \
                --outfile ca.pem &&
            certtool --generate-privkey --key-type ecdsa --outfile server.key &&
            printf 'cn = "localhost"\nip_address = "127.0.0.1"\ntls_www_server\nsigning_key\nexpiration_days = 2\n' \
                >server.tmpl &&
            certtool --generate-certificate --load-privkey server.key --load-ca-certificate ca.pem \
                --load-ca-privkey ca.key --template server.tmpl --outfile server.pem &&
            certtool --generate-privkey --key-type ecdsa --outfile client.key &&
            printf 'cn = "smoke-client"\ntls_www_client\nsigning_key\nexpiration_days = 2\n' \
                >client.tmpl &&
            certtool --generate-certificate --load-privkey client.key --load-ca-certificate ca.pem \
                --load-ca-privkey ca.key --template client.tmpl --outfile client.pem &&
            chmod 644 server.key
    ) >"$RUN_DIR/certtool.log" 2>&1
}

# mtls_ok DIR URL: true when URL answers 200 to a client presenting DIR's client certificate.
mtls_ok() {
    [ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' --cacert "$1/ca.pem" --cert "$1/client.pem" \
        --key "$1/client.key" "$2")" = 200 ]
}

# HTTPS with client certificates required: the HEALTHCHECK (atrousd --health-probe over TLS,
# presenting the server's own certificate) must turn healthy, a client with a certificate gets
# /readyz 200, one without is refused in the handshake, and SIGTERM still exits 0.
tls_container() {
    local port start tls=$RUN_DIR/tls name=$CONTAINER-tls code
    if ! make_tls_files "$tls"; then
        cat "$RUN_DIR/certtool.log" >&2
        fail "TLS: certtool could not make the test certificates"
        return 1
    fi
    port=$(free_port)
    start=$(now)
    if ! docker run -d --name "$name" --read-only --tmpfs /tmp:rw,size=64m \
        --cap-drop ALL --security-opt no-new-privileges:true --cpus 1 \
        -v "$tls:/tls:ro" -e ATROUSD_TLS_CERT=/tls/server.pem -e ATROUSD_TLS_KEY=/tls/server.key \
        -e ATROUSD_TLS_CLIENT_CA=/tls/ca.pem \
        -p "127.0.0.1:$port:8080" "$IMAGE" >"$RUN_DIR/run-tls.log" 2>&1; then
        cat "$RUN_DIR/run-tls.log" >&2
        fail "TLS: docker run $IMAGE"
        return 1
    fi
    local url=https://127.0.0.1:$port
    if wait_for 120 "/readyz over mutual TLS" mtls_ok "$tls" "$url/readyz"; then
        pass "TLS: /readyz 200 over HTTPS with a client certificate after $(since "$start")s"
    else
        docker logs --tail 30 "$name" >&2
        fail "TLS: /readyz over HTTPS with a client certificate did not answer 200 within 120 s"
    fi
    if wait_for 60 "a healthy HEALTHCHECK over TLS" health_is "$name" healthy; then
        pass "TLS: HEALTHCHECK (--health-probe over mutual TLS) healthy after $(since "$start")s"
    else
        fail "TLS: HEALTHCHECK not healthy within 60 s: $(docker inspect -f '{{json .State.Health}}' "$name" 2>/dev/null)"
    fi
    code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' --cacert "$tls/ca.pem" "$url/readyz")
    if [ "$code" = 000 ]; then
        pass "TLS: a client without a certificate is refused in the handshake"
    else
        fail "TLS: a client without a certificate got HTTP $code"
    fi
    code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")
    if [ "$code" != 200 ]; then
        pass "TLS: plain HTTP to the TLS port gets no answer (curl: $code)"
    else
        fail "TLS: plain HTTP to the TLS port answered 200"
    fi
    if docker logs "$name" 2>&1 | grep -q 'PRIVATE KEY'; then
        fail "TLS: key material in the container's log"
    fi
    stop_container "$name" "TLS: "
}

# ---- 7. compose ------------------------------------------------------------------------------

compose_stack() {
    local lb_port start lb
    if docker compose version >/dev/null 2>&1; then
        COMPOSE=(docker compose)
    elif command -v docker-compose >/dev/null; then
        COMPOSE=(docker-compose)
    else
        fail "no compose (docker compose or docker-compose) available"
        return 1
    fi
    log "compose: $("${COMPOSE[@]}" version 2>/dev/null | head -n 1)"
    COMPOSE+=(-p "$PROJECT" -f "$REPO/docker/compose.yaml")
    lb_port=$(free_port)
    export ATROUSD_IMAGE=$IMAGE ATROUSD_LB_IMAGE=$LB_IMAGE ATROUSD_LB_PORT=$lb_port \
        ATROUSD_LB_BIND=127.0.0.1 ATROUSD_REPLICAS=2
    start=$(now)
    if ! timeout 600 "${COMPOSE[@]}" build lb >"$RUN_DIR/compose-build.log" 2>&1; then
        tail -n 20 "$RUN_DIR/compose-build.log" >&2
        fail "compose build of the nginx image"
        return 1
    fi
    if timeout 300 "${COMPOSE[@]}" up -d --no-build >"$RUN_DIR/compose-up.log" 2>&1; then
        pass "compose build lb + up: 2 atrousd replicas healthy, nginx started, in $(since "$start")s"
    else
        tail -n 20 "$RUN_DIR/compose-up.log" >&2
        "${COMPOSE[@]}" ps >&2 2>&1 || true
        fail "compose up"
        return 1
    fi
    lb=http://127.0.0.1:$lb_port
    if ! wait_for 60 "nginx" status_is "$lb/lb-healthz" 200; then
        fail "nginx did not answer within 60 s"
        return 1
    fi
    local info
    info=$(curl -s -m 10 -o "$RUN_DIR/lb-info.json" -w '%{http_code} %{time_total}' "$lb/v1/info")
    if [ "${info%% *}" = 200 ]; then
        local ms
        ms=$(awk -v s="${info##* }" 'BEGIN { printf "%.1f ms", s * 1000 }')
        pass "curl through nginx: GET /v1/info 200 in $ms"
        measure "request through the load balancer: curl GET /v1/info 200 in $ms"
    else
        fail "curl through nginx: GET /v1/info answered ${info%% *}"
    fi
    if python3 "$REPO/docker/conformance-request.py" "$lb" "$CASE_FILE" binary --repeat 4 \
        >"$RUN_DIR/conformance-lb.log" 2>&1; then
        cat "$RUN_DIR/conformance-lb.log" >&2
        local upstreams
        upstreams=$(grep -o 'via [^:]*:[0-9]*' "$RUN_DIR/conformance-lb.log" | sort -u | wc -l)
        pass "through nginx: 4 binary requests within tolerance, served by $upstreams replica(s)"
        measure "through the load balancer: $(sed -n 's/.* in \([0-9.]* ms\).*/\1/p' \
            "$RUN_DIR/conformance-lb.log" | paste -sd ' ') for 4 binary POSTs"
    else
        cat "$RUN_DIR/conformance-lb.log" >&2
        fail "through nginx: conformance case"
    fi
    # Health-based routing: with one replica stopped, nginx must route every request to the
    # other (the first one to the stopped replica fails to connect and is retried).
    local victim
    victim=$("${COMPOSE[@]}" ps -q atrousd 2>/dev/null | head -n 1)
    if [ -z "$victim" ] || ! docker stop -t 30 "$victim" >/dev/null 2>&1; then
        fail "could not stop a replica for the failover check"
        return 1
    fi
    start=$(now)
    if python3 "$REPO/docker/conformance-request.py" "$lb" "$CASE_FILE" binary --repeat 4 \
        >"$RUN_DIR/conformance-failover.log" 2>&1; then
        cat "$RUN_DIR/conformance-failover.log" >&2
        pass "one replica stopped: nginx routed 4 of 4 requests to the other, in $(since "$start")s"
    else
        cat "$RUN_DIR/conformance-failover.log" >&2
        fail "one replica stopped: requests through nginx failed"
    fi
}

# ---- run -------------------------------------------------------------------------------------

log "run dir $RUN_DIR"
if [ "$BUILD_ONLY" = 1 ]; then
    install_missing || exit 1
else
    install_missing cmd:kubectl:kubernetes-client compose py:yaml:python3-yaml \
        py:jsonschema:python3-jsonschema cmd:certtool:gnutls-bin || exit 1
fi
engine_start || exit 1
base_image_ensure || exit 1
apt_build_args
choose_build_network
build_context "$REPO" || exit 1
build_image "$IMAGE" "$BUILD_CONTEXT/docker/Dockerfile" "$BUILD_CONTEXT" "${NO_CACHE[@]}" || exit 1
[ "$BUILD_ONLY" = 1 ] && exit 0

# docker/README.md's configuration table must name every variable the image's --help lists
# (the check make docs-check makes on a local build).
if env_table=$(docker run --rm "$IMAGE" --help 2>/dev/null | "$REPO/tests/docs/check_env_table.sh"); then
    pass "${env_table#check_env_table: }"
else
    fail "${env_table#check_env_table: }"
fi

if find_case && run_container; then
    conformance "$URL" container both
    stop_container "$CONTAINER"
fi
tls_container
compose_stack
if "$PYTHON_DEB" "$HERE/k8s-check.py" >"$RUN_DIR/k8s.log" 2>&1; then
    pass "docker/k8s/ (kubectl apply --dry-run=client, consistency, custom-metrics HPA, KServe CRD schemas)"
else
    cat "$RUN_DIR/k8s.log" >&2
    fail "docker/k8s/ validation (see above)"
fi
[ "$FAILED" = 0 ]
