#!/usr/bin/env bash
# Runs one example against a Corvid server.
#
#   examples/run.sh [--workers N] [--build-dir DIR] [--timeout S] NAME [EXAMPLE ARGS...]
#
# With CORVID_SERVER unset, it starts a private corvid-server on a free loopback port with a
# temporary data directory, plus N corvid-worker processes (default: what the example is
# written for), runs build/<dir>/examples/NAME, prints the work each worker did, then stops
# what it started and removes the data directory. With CORVID_SERVER set (and CORVID_TOKEN, or
# CORVID_DATA_DIR pointing at the server's data directory), it uses that server and starts
# workers only when --workers is given.
# The exit status is the example's (124 when --timeout passed).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
build_dir="$here/../build/native"
workers=""
timeout_s=600

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
  echo "examples: hello distributed_test mapreduce train train_cnn hyperparameter_search inference" >&2
  exit 2
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --workers) workers="$2"; shift 2 ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    --timeout) timeout_s="$2"; shift 2 ;;
    -h|--help) usage ;;
    --*) echo "run.sh: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[[ $# -ge 1 ]] || usage
name="$1"
shift

declare -A default_workers=([hello]=2 [distributed_test]=2 [mapreduce]=10 [train]=4 [train_cnn]=2
                            [hyperparameter_search]=4 [inference]=4)
[[ -n "${default_workers[$name]:-}" ]] || { echo "run.sh: no example named '$name'" >&2; usage; }
example="$build_dir/examples/$name"
server_bin="$build_dir/server/corvid-server"
worker_bin="$build_dir/client/corvid-worker"
for bin in "$example" "$worker_bin"; do
  [[ -x "$bin" ]] || { echo "run.sh: $bin is not built (scripts/build.sh, or --build-dir)" >&2; exit 2; }
done

pids=()
run_dir="$(mktemp -d -t corvid-example-XXXXXX)"  # logs, and the data directory of a private server
cleanup() {
  local pid alive _
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 50); do  # up to 5 s for a clean exit, then SIGKILL
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive -eq 0 ]] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$run_dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -z "${CORVID_SERVER:-}" ]]; then
  [[ -x "$server_bin" ]] || { echo "run.sh: $server_bin is not built" >&2; exit 2; }
  data_dir="$run_dir/data"
  : >"$run_dir/server.log"
  "$server_bin" --host 127.0.0.1 --port 0 --data-dir "$data_dir" >"$run_dir/server.log" 2>&1 &
  pids+=($!)
  port=""
  for _ in $(seq 1 200); do  # up to 20 s for the server to listen
    port="$(sed -n 's|^corvid-server: listening on http://[^:]*:\([0-9]*\)/.*|\1|p' "$run_dir/server.log" || true)"
    [[ -n "$port" ]] && break
    kill -0 "${pids[0]}" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z "$port" ]]; then
    echo "run.sh: corvid-server did not start:" >&2
    cat "$run_dir/server.log" >&2
    exit 1
  fi
  export CORVID_SERVER="ws://127.0.0.1:$port"
  export CORVID_DATA_DIR="$data_dir"
  unset CORVID_TOKEN
  workers="${workers:-${default_workers[$name]}}"
  echo "run.sh: corvid-server on $CORVID_SERVER (temporary data directory), $workers worker(s)"
else
  workers="${workers:-0}"
  echo "run.sh: using the server at $CORVID_SERVER, starting $workers worker(s)"
fi

for i in $(seq 1 "$workers"); do
  "$worker_bin" --server "$CORVID_SERVER" --name "example-worker-$i" --benchmark-ms 100 \
    >"$run_dir/worker-$i.log" 2>&1 &
  pids+=($!)
done

# The body of the private server's GET /api/status (nothing if it cannot be read).
api_status() {
  local reply
  reply="$(exec 3<>"/dev/tcp/127.0.0.1/$port" &&
           printf 'GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3 &&
           timeout 5 cat <&3)" 2>/dev/null || return 0
  printf '%s' "${reply#*$'\r\n\r\n'}"
}

# One line on how the work spread over the workers, from the private server's /api/status.
worker_summary() {
  api_status | /usr/bin/python3 -c '
import json, sys
workers = sorted(json.load(sys.stdin).get("workers", []), key=lambda w: w.get("name", ""))
print("run.sh: work per worker: " + ", ".join(
    "%s %d ops in %d groups" % (w.get("name"), w.get("ops_done", 0), w.get("groups_done", 0)) for w in workers))
' 2>/dev/null || true
}

# Waits (up to 30 s) until the private server lists the started workers with their benchmark,
# so that the example's first graph is spread over all of them, not given to the first one.
wait_for_workers() {
  local ready _
  for _ in $(seq 1 300); do
    ready="$(api_status | /usr/bin/python3 -c '
import json, sys
print(sum(1 for w in json.load(sys.stdin).get("workers", []) if w.get("state") != "benchmarking"))
' 2>/dev/null || echo 0)"
    [[ "$ready" -ge "$workers" ]] && return 0
    sleep 0.1
  done
  echo "run.sh: only $ready of $workers worker(s) became ready; running anyway" >&2
}

[[ -n "${port:-}" && "$workers" -gt 0 ]] && wait_for_workers
status=0
timeout --signal=TERM --kill-after=10 "$timeout_s" "$example" "$@" || status=$?
if [[ -n "${port:-}" ]]; then worker_summary; fi
if [[ $status -ne 0 && -f "$run_dir/server.log" ]]; then
  echo "run.sh: $name exited with status $status; server log:" >&2
  tail -n 20 "$run_dir/server.log" >&2
fi
exit "$status"
