# bench_common.sh - helpers shared by the wrk benchmarks (bench_http.sh, bench_knobs.sh);
# sourced, not run. The sourcing script has set `here` (this folder), `build` (the build
# folder) and `secs` (seconds per wrk row). Sourcing creates $work, a temporary folder that is
# removed on exit together with every process listed in $pids.
work=$(mktemp -d /tmp/atrousd-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

note() { printf '%s\n' "$*" >&2; }

# Starts atrousd with extra flags; sets DAEMON_PID and DAEMON_PORT once /readyz answers 200.
start_daemon() {
  local log="$work/atrousd.$RANDOM.log"
  "$build/atrousd" --host 127.0.0.1 --port 0 "$@" 2>"$log" &
  DAEMON_PID=$!
  pids+=("$DAEMON_PID")
  DAEMON_LOG=$log
  DAEMON_PORT=""
  for _ in $(seq 200); do
    DAEMON_PORT=$(grep -o '"port": *[0-9]*' "$log" 2>/dev/null | head -1 | grep -o '[0-9]*$' || true)
    [ -n "$DAEMON_PORT" ] && [ "$(http_status GET /readyz)" = 200 ] && return 0
    sleep 0.05
  done
  note "$(basename "$0"): atrousd did not become ready"; cat "$log" >&2; exit 1
}

stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# http_status METHOD PATH: the status of one request to the daemon (bash /dev/tcp, no curl).
http_status() {
  exec 3<>"/dev/tcp/127.0.0.1/$DAEMON_PORT" || { echo 0; return; }
  printf '%s %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n' "$1" "$2" >&3
  local line
  IFS= read -r -t 5 line <&3 || line=""
  exec 3<&- 3>&-
  echo "$line" | cut -d' ' -f2
}

# wrk_row PORT NAME FORM CONNS [ACCEPT]: prints the BENCH line of one wrk run.
wrk_row() {
  local port=$1 name=$2 form=$3 conns=$4 accept=${5:-}
  local target body ctype
  if [ "$form" = binary ]; then
    target=$(cat "$work/$name.target"); body="$work/$name.bin"; ctype=application/octet-stream
  else
    target=/v1/atrous_conv2d_transpose; body="$work/$name.json"; ctype=application/json
  fi
  local threads=2
  [ "$conns" -lt 2 ] && threads=1
  BENCH_BODY=$body BENCH_CONTENT_TYPE=$ctype BENCH_ACCEPT=$accept \
    wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout 10s -s "$here/wrk/post_file.lua" \
    "http://127.0.0.1:$port$target" | grep '^BENCH' || echo "BENCH requests=0 rps=0 p50_ms=0 p99_ms=0 errors_status=0 errors_socket=0"
}

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }
table_row() { printf '%-44s %10s %9s %9s %8s  %s\n' "$@"; }
