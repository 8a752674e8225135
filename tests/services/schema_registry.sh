#!/usr/bin/env bash
# Run the stand-in Confluent Schema Registry (schema_registry.py, Python standard library only) on
# 127.0.0.1 for tests. It is a test stand-in, not Confluent's server (none installs from the package
# registries); see its header for what it implements and from which reference.
#
# Usage: tests/services/schema_registry.sh start|stop|status [--port N] [--basic-auth USER:PASSWORD]
#   start   start in the background (no-op if already running and answering), wait until
#           GET /subjects answers (fails after ${KMV_REGISTRY_START_TIMEOUT:-20} s with the log tail)
#   stop    SIGTERM, wait for exit (SIGKILL after 5 s); no-op if not running. Schemas live in
#           the process's memory: stop loses them.
#   status  exit 0 and print "running" if up and answering, exit 1 otherwise
# --port N                  listener port (default 8081); URL http://127.0.0.1:N
# --basic-auth USER:PASS    every request must carry this HTTP basic auth
# Files: $KMV_STATE/run/schema-registry-N.pid, .log (KMV_STATE default <repo>/.kmv)
# Needs: python3 (KMV_PYTHON) and nothing else.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

port=8081
basic_auth=""
kmv_parse_args "port basic-auth" "$@"
kmv_check_port_arg "$port"

PY="${KMV_PYTHON:-python3}"
SERVER="$KMV_SERVICES_DIR/schema_registry.py"
PIDFILE="$KMV_RUN/schema-registry-$port.pid"
LOGFILE="$KMV_RUN/schema-registry-$port.log"
START_TIMEOUT="${KMV_REGISTRY_START_TIMEOUT:-20}"

# Exit 0 when GET /subjects answers 200 (401 with auth on counts as answering).
answers() {
  "$PY" - "$port" <<'PY' >/dev/null 2>&1
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/subjects", timeout=2)
except urllib.error.HTTPError as e:
    sys.exit(0 if e.code == 401 else 1)
PY
}

do_status() {
  kmv_service_status "schema registry (stand-in) on 127.0.0.1:$port" "$PIDFILE" schema_registry.py \
    "running (pid {pid})" "pid {pid} alive but not answering (log: $LOGFILE)" answers
}

do_start() {
  command -v "$PY" >/dev/null 2>&1 || kmv_die "'$PY' not found; install Python 3 or set KMV_PYTHON"
  local pid
  pid="$(kmv_running_pid "$PIDFILE" schema_registry.py)"
  if [[ -n "$pid" ]]; then
    answers || kmv_die "schema registry pid $pid is alive but does not answer; run '$0 stop --port $port' first"
    kmv_log "schema registry already running on 127.0.0.1:$port (pid $pid); nothing to do"
    return 0
  fi
  kmv_prepare_start "$port" "$PIDFILE"
  local t0 extra=()
  t0="$(kmv_now_ms)"
  [[ -n "$basic_auth" ]] && extra=(--basic-auth "$basic_auth")
  (
    cd "$KMV_RUN"
    exec setsid "$PY" "$SERVER" --port "$port" --quiet "${extra[@]}" </dev/null >"$LOGFILE" 2>&1
  ) &
  pid=$!
  echo "$pid" >"$PIDFILE"
  kmv_await_start "$pid" "$PIDFILE" "$LOGFILE" schema_registry.py "$START_TIMEOUT" \
    "did not answer on http://127.0.0.1:$port" 0.05 answers
  kmv_log "schema registry (stand-in) started on http://127.0.0.1:$port (pid $pid) in $(( $(kmv_now_ms) - t0 )) ms; log $LOGFILE"
}

do_stop() { kmv_service_stop "schema registry on port $port" "$PIDFILE" 5 python schema_registry.py; }

kmv_service_command "$cmd"
