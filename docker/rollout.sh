#!/usr/bin/env bash
# docker/rollout.sh - rolling updates on Docker Swarm under load lose no request
# (make rollout-test).
#
#  1. installs what is missing (docker.io, debootstrap, curl, python3) and starts a private
#     dockerd, always: it becomes a swarm manager, which this never does to an engine it does
#     not own (data-root /var/tmp/atrousd-dockerd, shared with the smoke test, one run at a time)
#  2. builds atrousd:latest and atrousd-lb:latest as the smoke test does (docker/lib.sh), tags
#     the first atrousd-rollout:1 and makes atrousd-rollout:2 from it (a new image: another
#     LABEL, so another image ID), and writes model "rollout" versions 1 and 2 from a
#     conformance case (docker/rollout-load.py models)
#  3. docker swarm init --advertise-addr 127.0.0.1; docker stack deploy docker/swarm/stack.yaml:
#     3 replicas of atrousd-rollout:1 serving model version 1 (swarm configs), nginx publishing
#     a free port in host mode
#  4. starts the checking load client (docker/rollout-load.py run: KServe v2 JSON infer through
#     nginx at ATROUSD_ROLLOUT_RATE req/s, default 100, every answer checked) and, while it runs:
#       baseline  ATROUSD_ROLLOUT_BASELINE seconds (default 20) of steady state
#       image     redeploy with atrousd-rollout:2: swarm replaces the replicas one at a time
#                 (start-first, health-gated, rollback on failure); waits until the update is
#                 completed and only new tasks run
#       model     redeploy with model version 2 (new swarm configs): the same rolling update
#       after     ATROUSD_ROLLOUT_AFTER seconds (default 10)
#  5. asserts: no request failed (any non-200, a 503 from a draining replica included, a
#     connection error or a wrong value), every answer checked against the version it names,
#     all answers before the update from version 1 and after it from version 2, no rollback;
#     reports per phase the requests, p50/p99, versions and replicas seen, and from nginx's
#     log how many upstream attempts failed and were retried on another replica
#  6. removes the stack, leaves the swarm, stops its dockerd
#
# Ends with "rollout-test: N passed, N failed" and PASS or FAIL. The whole run is bounded by
# ATROUSD_ROLLOUT_TIMEOUT seconds (default 2400). Not part of .ci/run: it builds images.
# Env: ATROUSD_SMOKE_CONTEXT=head (build the committed tree), ATROUSD_ROLLOUT_CASE (a corpus
#      file name), ATROUSD_ROLLOUT_KEEP_LOGS=1, ATROUSD_DOCKER_DATA_ROOT.
set -uo pipefail

if [ -z "${ATROUSD_ROLLOUT_CHILD:-}" ]; then
    export ATROUSD_ROLLOUT_CHILD=1
    exec timeout -k 120 "${ATROUSD_ROLLOUT_TIMEOUT:-2400}" bash "$0" "$@"
fi

LOG_TAG=rollout
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
. "$HERE/lib.sh"

case "${1:-}" in
-h | --help) sed -n '2,/^set -uo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
"") ;;
*) echo "rollout: unknown argument: $1" >&2; exit 2 ;;
esac

CASE_FILE=$REPO/tests/data/conformance/valid/${ATROUSD_ROLLOUT_CASE:-058_even_k4_r2_same.json}
RATE=${ATROUSD_ROLLOUT_RATE:-100}
BASELINE=${ATROUSD_ROLLOUT_BASELINE:-20}
AFTER=${ATROUSD_ROLLOUT_AFTER:-10}
STACK=atrousdrollout
SERVICE=${STACK}_atrousd
IMAGE=atrousd:latest
LB_IMAGE=atrousd-lb:latest
IMAGE1=atrousd-rollout:1
IMAGE2=atrousd-rollout:2

T0=$(date +%s)
RUN_DIR=$(mktemp -d /tmp/atrousd-rollout.XXXXXX)
MARKS=$RUN_DIR/marks
STOP=$RUN_DIR/stop-load
LOAD_PID=""
SWARM=0

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    log "cleaning up"
    if [ -n "$LOAD_PID" ]; then
        touch "$STOP"
        kill -TERM "$LOAD_PID" 2>/dev/null || true
        wait "$LOAD_PID" 2>/dev/null || true
    fi
    if [ "$SWARM" = 1 ]; then
        timeout 60 docker service logs --timestamps "$SERVICE" >"$RUN_DIR/atrousd.log" 2>&1 || true
        timeout 60 docker stack rm "$STACK" >/dev/null 2>&1 || true
        # The stack's containers stop (each drains) before its network can go.
        wait_for 90 "the stack's containers to stop" no_stack_containers || true
        timeout 60 docker swarm leave --force >/dev/null 2>&1 || log "docker swarm leave failed"
    fi
    engine_stop
    if [ "$rc" != 0 ] && [ "$FAILED" = 0 ]; then
        fail "the run stopped early (exit $rc; a timeout is 124)"
    fi
    summary "rollout test" rollout-test "$T0"
    if [ "$FAILED" = 0 ] && [ "$rc" = 0 ] && [ -z "${ATROUSD_ROLLOUT_KEEP_LOGS:-}" ]; then
        rm -rf "$RUN_DIR"
        exit 0
    fi
    rm -rf "$RUN_DIR/exec"
    log "logs kept in $RUN_DIR"
    [ "$FAILED" = 0 ] && [ "$rc" = 0 ]
    exit $?
}
trap cleanup EXIT
trap 'exit 124' INT TERM

no_stack_containers() {
    [ -z "$(docker ps -aq --filter "label=com.docker.stack.namespace=$STACK")" ]
}

mark() {
    printf '%s %s\n' "$(date +%s.%N)" "$1" >>"$MARKS"
    log "phase: $1"
}

# deploy IMAGE MODEL_VERSION: docker stack deploy with that image and model. The images exist
# only in this engine: --resolve-image never keeps the CLI from asking a registry for digests.
deploy() {
    ATROUSD_IMAGE=$1 ATROUSD_LB_IMAGE=$LB_IMAGE ATROUSD_LB_PORT=$LB_PORT ATROUSD_REPLICAS=3 \
        ATROUSD_MODEL_SRC=$RUN_DIR/models/v$2 ATROUSD_MODEL_FILTERS=filters.bin \
        ATROUSD_MODEL_TAG=rollout$$-v$2 ATROUSD_LB_CONF_TAG=rollout$$ \
        timeout 120 docker stack deploy --resolve-image never -c "$HERE/swarm/stack.yaml" "$STACK" \
        >>"$RUN_DIR/deploy.log" 2>&1
}

# One line per running atrousd container: its task's image and config names.
running_tasks() {
    local c task
    for c in $(docker ps -q --filter "label=com.docker.swarm.service.name=$SERVICE"); do
        task=$(docker inspect -f '{{index .Config.Labels "com.docker.swarm.task.id"}}' "$c" 2>/dev/null)
        [ -n "$task" ] || continue
        docker inspect --type task \
            -f '{{.Spec.ContainerSpec.Image}} {{range .Spec.ContainerSpec.Configs}}{{.ConfigName}} {{end}}' \
            "$task" 2>/dev/null
    done
}

# settled IMAGE MODEL_VERSION: the update is over, and exactly 3 containers run, every one of
# that image with that model's configs (the old tasks have drained and exited). A rollback
# ends the wait too, with ROLLED_BACK set.
settled() {
    local state tasks
    state=$(docker service inspect -f '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{else}}none{{end}}' \
        "$SERVICE" 2>/dev/null)
    case "$state" in
    rollback_*) ROLLED_BACK=$state; return 0 ;;
    completed | none) ;;
    *) return 1 ;;
    esac
    tasks=$(running_tasks)
    [ "$(printf '%s\n' "$tasks" | grep -c .)" = 3 ] &&
        [ "$(printf '%s\n' "$tasks" | grep -c "^$1 .*atrousd-model-config-rollout$$-v$2 ")" = 3 ]
}

load_alive() { kill -0 "$LOAD_PID" 2>/dev/null; }

# roll NAME IMAGE MODEL_VERSION: one rolling update under load, timed.
roll() {
    local start secs
    mark "$1"
    start=$(now)
    ROLLED_BACK=""
    if ! deploy "$2" "$3"; then
        tail -n 20 "$RUN_DIR/deploy.log" >&2
        fail "$1 update: docker stack deploy"
        return 1
    fi
    if ! wait_for 600 "the $1 update" settled "$2" "$3"; then
        docker service ps --no-trunc "$SERVICE" >&2 2>&1 || true
        fail "$1 update: not completed within 600 s"
        return 1
    fi
    secs=$(since "$start")
    if [ -n "$ROLLED_BACK" ]; then
        docker service ps --no-trunc "$SERVICE" >&2 2>&1 || true
        fail "$1 update: swarm rolled back ($ROLLED_BACK)"
        return 1
    fi
    pass "$1 update: 3 of 3 replicas replaced one at a time in ${secs}s (start-first, health-gated)"
    measure "$1 rolling update (deploy to the last old task gone): ${secs}s"
    load_alive || { fail "the load client died during the $1 update"; return 1; }
}

# ---- run -------------------------------------------------------------------------------------

log "run dir $RUN_DIR"
[ -f "$CASE_FILE" ] || { fail "conformance case $CASE_FILE is missing"; exit 1; }
install_missing || exit 1
engine_start private || exit 1
base_image_ensure || exit 1
apt_build_args
choose_build_network
build_context "$REPO" || exit 1
build_image "$IMAGE" "$BUILD_CONTEXT/docker/Dockerfile" "$BUILD_CONTEXT" || exit 1
build_image "$LB_IMAGE" "$BUILD_CONTEXT/docker/nginx/Dockerfile" "$BUILD_CONTEXT/docker" || exit 1
docker tag "$IMAGE" "$IMAGE1" || { fail "docker tag $IMAGE $IMAGE1"; exit 1; }
# The second image: the same program under a new label, a different image ID, as a release
# that changed only its packaging would be.
printf 'FROM %s\nLABEL org.opencontainers.image.version="rollout-2"\n' "$IMAGE1" |
    docker build -t "$IMAGE2" - >"$RUN_DIR/build-image2.log" 2>&1 ||
    { cat "$RUN_DIR/build-image2.log" >&2; fail "docker build $IMAGE2"; exit 1; }
if [ "$(docker image inspect -f '{{.Id}}' "$IMAGE1")" = "$(docker image inspect -f '{{.Id}}' "$IMAGE2")" ]; then
    fail "$IMAGE2 has the same image ID as $IMAGE1"
    exit 1
fi
pass "images $IMAGE1 and $IMAGE2 (different IDs)"
"$PYTHON_DEB" "$HERE/rollout-load.py" models "$CASE_FILE" "$RUN_DIR/models" ||
    { fail "model folders from $(basename "$CASE_FILE")"; exit 1; }

start=$(now)
if ! timeout 60 docker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 \
    >"$RUN_DIR/swarm-init.log" 2>&1; then
    cat "$RUN_DIR/swarm-init.log" >&2
    fail "docker swarm init"
    exit 1
fi
SWARM=1
pass "docker swarm init --advertise-addr 127.0.0.1"
LB_PORT=$(free_port)
LB=http://127.0.0.1:$LB_PORT
if ! deploy "$IMAGE1" 1; then
    cat "$RUN_DIR/deploy.log" >&2
    fail "docker stack deploy"
    exit 1
fi
if wait_for 300 "3 healthy replicas of $IMAGE1" settled "$IMAGE1" 1 &&
    wait_for 120 "nginx" status_is "$LB/lb-healthz" 200 &&
    wait_for 60 "the model through nginx" status_is "$LB/v2/models/rollout/versions/1/ready" 200; then
    pass "stack up: 3 replicas of $IMAGE1 (model version 1) behind nginx on 127.0.0.1:$LB_PORT, in $(since "$start")s"
else
    docker service ps --no-trunc "$SERVICE" >&2 2>&1 || true
    fail "stack did not come up"
    exit 1
fi

"$PYTHON_DEB" "$HERE/rollout-load.py" run --url "$LB" --case "$CASE_FILE" --rate "$RATE" \
    --connections 8 --max-seconds 1500 --stop-file "$STOP" --marks "$MARKS" \
    --expect baseline=1 --expect after=2 --json "$RUN_DIR/load.json" \
    >"$RUN_DIR/load.out" 2>"$RUN_DIR/load.err" &
LOAD_PID=$!
mark baseline
sleep "$BASELINE"
load_alive || { fail "the load client stopped during the baseline"; exit 1; }
roll image "$IMAGE2" 1 || exit 1
roll model "$IMAGE2" 2 || exit 1
mark after
sleep "$AFTER"
touch "$STOP"
if ! wait_for 60 "the load client to finish" eval '! load_alive'; then
    fail "the load client did not stop"
    exit 1
fi
wait "$LOAD_PID"
load_rc=$?
LOAD_PID=""
cat "$RUN_DIR/load.out" >&2
read -r sent failed checked secs < <("$PYTHON_DEB" -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(s["requests"], s["failed"], s["checked"], s["seconds"])' "$RUN_DIR/load.json" 2>/dev/null) ||
    { fail "no load report"; exit 1; }
if [ "$load_rc" = 0 ] && [ "$failed" = 0 ]; then
    pass "under load: $sent requests, $failed failed, all $checked answers checked (right values, version 1 before, 2 after)"
else
    grep FAILED "$RUN_DIR/load.err" | head -n 20 >&2
    fail "under load: $sent requests, $failed failed (see $RUN_DIR/load.err)"
fi
p99() { "$PYTHON_DEB" -c '
import json, sys
s = json.load(open(sys.argv[1]))
ph = [p for p in s["phases"] if p["phase"] in sys.argv[2:]]
print("%.1f ms (p50 %.1f, max %.1f, %d requests)" % (max(p["p99_ms"] for p in ph),
      max(p["p50_ms"] for p in ph), max(p["max_ms"] for p in ph), sum(p["requests"] for p in ph)))
' "$RUN_DIR/load.json" "$@"; }
measure "requests sent: $sent, failed: $failed, in ${secs}s at ${RATE}/s target"
measure "p99 before the rollout (baseline): $(p99 baseline)"
measure "p99 during the image rollout: $(p99 image)"
measure "p99 during the model rollout: $(p99 model)"

# Every replaced replica drained and exited 0 on SIGTERM (not SIGKILLed at the grace period).
replaced=0 clean=0
for c in $(docker ps -aq --filter "label=com.docker.swarm.service.name=$SERVICE" --filter status=exited); do
    replaced=$((replaced + 1))
    code=$(docker inspect -f '{{.State.ExitCode}}' "$c")
    docker logs "$c" >"$RUN_DIR/replaced-$c.log" 2>&1
    if [ "$code" = 0 ] && grep -q '"msg":"draining"' "$RUN_DIR/replaced-$c.log" &&
        grep -q '"msg":"stopped"' "$RUN_DIR/replaced-$c.log"; then
        clean=$((clean + 1))
    else
        log "replaced replica $c: exit code $code; its last lines:"
        tail -n 5 "$RUN_DIR/replaced-$c.log" >&2
    fi
done
if [ "$replaced" = 6 ] && [ "$clean" = 6 ]; then
    pass "the 6 replaced replicas each logged draining, stopped and exited 0 on SIGTERM"
else
    fail "$clean of $replaced replaced replicas drained and exited 0 (want 6 of 6)"
fi

# What nginx saw: every upstream attempt that was not a 200 (a draining replica's 503, a
# refused or timed-out connection, shown as 502/504) was retried on another replica.
lb_task=$(docker ps -q --filter "label=com.docker.swarm.service.name=${STACK}_lb" | head -n 1)
docker logs "$lb_task" >"$RUN_DIR/nginx.log" 2>&1
attempts=$(grep -c 'upstream_status=' "$RUN_DIR/nginx.log")
retried=$(grep -c 'upstream_status=\[[^]]*,' "$RUN_DIR/nginx.log")
drain503=$(grep -o 'upstream_status=\[[^]]*\]' "$RUN_DIR/nginx.log" | grep -c '503')
measure "nginx: $attempts requests logged, $retried retried on another replica ($drain503 after a 503 from a draining replica)"
if [ "$drain503" = 0 ]; then
    pass "nginx sent no request to a draining replica (no upstream 503 in its log)"
else
    fail "nginx sent $drain503 request(s) to a draining replica (retried, but routing should have dropped it first)"
fi
[ "$FAILED" = 0 ]
