#!/usr/bin/env bash
# Run an embedded Milvus 2.3.5 standalone server (PyPI package `milvus`) for tests.
#
# Usage: tests/services/milvus.sh start|stop|status [--port N] [--auth]
#   start   start in the background with a FRESH data dir, wait until REST answers
#           GET /v1/vector/collections with code 200 (fails after ${KMV_MILVUS_START_TIMEOUT:-90} s
#           with the log tails). No-op if already running and healthy (the data is then NOT fresh).
#   stop    SIGINT to the launcher (which stops the milvus child), wait; SIGKILL to the whole
#           process group if it does not exit within 30 s; then deletes the data (logs stay).
#           No-op if not running.
#   status  exit 0 and print "running" if up and REST answers, exit 1 otherwise
# --port N  gRPC + REST port (default 19530): REST at http://127.0.0.1:N/v1/..., pymilvus uri
#           http://127.0.0.1:N. The instance also takes 11 more ports just above N (component
#           ports, embedded etcd client/peer, metrics/healthz) - the first free ones from N+1 up;
#           see $KMV_STATE/run/milvus-N/kmv-ports.json. Instances can run side by side: space
#           them >= 20 apart, e.g. 19530 and 19560 (N itself must be free or start fails).
# --auth    authorization enabled; user root, password Milvus (REST: Authorization: Bearer root:Milvus)
# --keep-data  stop: keep the data dir; start: reuse it (a restart: old collections come back).
#           Milvus 2.3 takes ~35 s after REST answers before old collections are queryable again:
# --wait-collection NAME  (start --keep-data) also wait until collection NAME is described and
#           loaded (REST describe answers code 200 with load state LoadStateLoaded).
# Files: $KMV_STATE/run/milvus-N.{pid,log,mode}, data dir $KMV_STATE/run/milvus-N/ (milvus logs in
#        its logs/), extracted binaries cached in $KMV_STATE/cache/milvus/bin (KMV_STATE default <repo>/.kmv)
# Needs tests/services/install.sh (installs $KMV_STATE/venv).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

port=19530
auth=0
keep_data=0
wait_collection=""
kmv_parse_args "port auth! keep-data! wait-collection" "$@"
kmv_check_port_arg "$port"

PY="$KMV_VENV/bin/python"
LAUNCHER="$KMV_SERVICES_DIR/_milvus_server.py"
PIDFILE="$KMV_RUN/milvus-$port.pid"
LOGFILE="$KMV_RUN/milvus-$port.log"
MODEFILE="$KMV_RUN/milvus-$port.mode"
DATADIR="$KMV_RUN/milvus-$port"
BINCACHE="$KMV_STATE/cache/milvus/bin"
START_TIMEOUT="${KMV_MILVUS_START_TIMEOUT:-90}"
TOKEN="root:Milvus"

running_pid() { kmv_running_pid "$PIDFILE" _milvus_server.py; }

# auth mode recorded for the running instance (1/0), default: the --auth flag
recorded_auth() {
  if [[ -f "$MODEFILE" ]]; then
    [[ "$(cat "$MODEFILE")" == auth ]] && echo 1 || echo 0
  else
    echo "$auth"
  fi
}

# True if REST answers GET /v1/vector/collections with code 200.
rest_ok() {
  local use_auth="$1" body
  local -a hdr=()
  (( use_auth )) && hdr=(-H "Authorization: Bearer $TOKEN")
  body="$(curl -s -m 3 "${hdr[@]}" "http://127.0.0.1:$port/v1/vector/collections" 2>/dev/null)" || return 1
  [[ "$body" == *'"code":200'* ]]
}

tail_all_logs() {
  kmv_tail_logs "$LOGFILE" "$DATADIR/logs/milvus-stderr.log" "$DATADIR/logs/milvus-stdout.log"
}

do_status() {
  local a
  a="$(recorded_auth)"
  kmv_service_status "milvus on 127.0.0.1:$port" "$PIDFILE" _milvus_server.py \
    "running (launcher pid {pid}$( ((a)) && echo ', auth on'); data $DATADIR)" \
    "launcher pid {pid} alive but REST does not answer (log: $LOGFILE)" rest_ok "$a"
}

# Stop the launcher with process group $1 and make sure nothing of it is left.
stop_pid() {
  local pid="$1" left
  local mpid=""
  if [[ -f "$DATADIR/kmv-ports.json" ]]; then
    mpid="$(sed -n 's/.*"milvus_pid": *\([0-9]*\).*/\1/p' "$DATADIR/kmv-ports.json")"
  fi
  kill -INT "$pid" 2>/dev/null || true
  if ! kmv_wait_exit "$pid" 30; then
    kmv_log "launcher pid $pid still alive 30 s after SIGINT; killing its process group"
    kill -KILL -- "-$pid" 2>/dev/null || true
    kmv_wait_exit "$pid" 5 || true
  fi
  # setsid made the launcher a group leader: anything left in the group is ours.
  left="$(kmv_group_pids "$pid")"
  if [[ -n "$left" ]]; then
    kmv_log "killing leftover processes of group $pid: $(tr '\n' ' ' <<<"$left")"
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  if [[ -n "$mpid" ]] && kmv_pid_is "$mpid" "milvus"; then
    kmv_log "killing leftover milvus pid $mpid"
    kill -KILL "$mpid" 2>/dev/null || true
    kmv_wait_exit "$mpid" 5 || true
  fi
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -z "$(kmv_group_pids "$pid")" ]] && { [[ -z "$mpid" ]] || ! kill -0 "$mpid" 2>/dev/null; } && return 0
    sleep 0.1
  done
  kmv_die "processes of milvus launcher $pid did not exit: $(kmv_group_pids "$pid" | tr '\n' ' ') $mpid"
}

do_start() {
  [[ -x "$PY" && -f "$KMV_VENV/.kmv-installed" ]] ||
    kmv_die "$KMV_VENV is not installed: run tests/services/install.sh first"
  command -v curl >/dev/null 2>&1 || kmv_die "curl is needed (apt-get install curl)"
  mkdir -p "$KMV_RUN"
  # Serialise starts: the embedded server picks its ports at startup and binds them a few
  # seconds later, so two starts at the same time could pick the same ports.
  exec 9>"$KMV_RUN/milvus-start.lock"
  flock -w $((START_TIMEOUT + 60)) 9 || kmv_die "timed out waiting for $KMV_RUN/milvus-start.lock"

  local pid
  pid="$(running_pid)"
  if [[ -n "$pid" ]]; then
    local a
    a="$(recorded_auth)"
    if (( a != auth )); then
      kmv_die "milvus on port $port is already running with auth $( ((a)) && echo on || echo off); run '$0 stop --port $port' first"
    fi
    if rest_ok "$a"; then
      kmv_log "milvus already running on 127.0.0.1:$port (launcher pid $pid); nothing to do (data NOT fresh)"
      return 0
    fi
    kmv_die "milvus launcher pid $pid is alive but REST on port $port does not answer; run '$0 stop --port $port' first"
  fi
  kmv_prepare_start "$port" "$PIDFILE" "$MODEFILE"

  local t0
  t0="$(kmv_now_ms)"
  if (( keep_data )) && [[ -d "$DATADIR/data" ]]; then
    kmv_log "reusing the data dir $DATADIR (--keep-data)"
  else
    rm -rf "$DATADIR"
  fi
  mkdir -p "$DATADIR"
  local -a extra=()
  (( auth )) && extra=(--auth)
  (
    cd "$KMV_RUN"
    exec 9>&-  # do not hand the start lock to the server
    exec setsid "$PY" -u "$LAUNCHER" --data "$DATADIR" --port "$port" --bin-cache "$BINCACHE" \
      "${extra[@]}" </dev/null >"$LOGFILE" 2>&1
  ) &
  pid=$!
  echo "$pid" >"$PIDFILE"
  (( auth )) && echo auth >"$MODEFILE" || echo noauth >"$MODEFILE"

  local deadline=$(( $(date +%s) + START_TIMEOUT ))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail_all_logs
      stop_pid "$pid"
      rm -f "$PIDFILE" "$MODEFILE"
      kmv_die "milvus launcher exited during startup (log: $LOGFILE)"
    fi
    if rest_ok "$auth"; then
      break
    fi
    if (( $(date +%s) >= deadline )); then
      tail_all_logs
      stop_pid "$pid"
      rm -f "$PIDFILE" "$MODEFILE"
      kmv_die "milvus REST did not answer on 127.0.0.1:$port within ${START_TIMEOUT}s"
    fi
    sleep 0.2
  done
  if [[ -n "$wait_collection" ]]; then
    local -a hdr=() body=""
    (( auth )) && hdr=(-H "Authorization: Bearer $TOKEN")
    while :; do
      body="$(curl -s -m 3 "${hdr[@]}" "http://127.0.0.1:$port/v1/vector/collections/describe?collectionName=$wait_collection" 2>/dev/null)" || true
      [[ "$body" == *'"code":200'* && "$body" == *'LoadStateLoaded'* ]] && break
      if (( $(date +%s) >= deadline )); then
        kmv_die "collection $wait_collection not loaded on 127.0.0.1:$port within ${START_TIMEOUT}s (last answer: $body)"
      fi
      sleep 0.5
    done
  fi
  kmv_log "milvus started on 127.0.0.1:$port (launcher pid $pid$( ((auth)) && echo ', auth on')) in $(( $(kmv_now_ms) - t0 )) ms; log $LOGFILE"
}

do_stop() {
  local pid
  pid="$(running_pid)"
  if [[ -z "$pid" ]]; then
    rm -f "$PIDFILE" "$MODEFILE"
    kmv_log "milvus on port $port not running"
    return 0
  fi
  local t0
  t0="$(kmv_now_ms)"
  stop_pid "$pid"
  rm -f "$PIDFILE" "$MODEFILE"
  # The data (~270 MB, mostly preallocated etcd WAL and rocksdb files) is useless after a stop:
  # the next start uses a fresh dir. Keep configs/ and logs/ for debugging.
  if (( keep_data )); then
    kmv_log "keeping the data dir $DATADIR (--keep-data)"
  else
    rm -rf "$DATADIR/data"
  fi
  kmv_log "milvus on port $port stopped in $(( $(kmv_now_ms) - t0 )) ms"
}

kmv_service_command "$cmd"
