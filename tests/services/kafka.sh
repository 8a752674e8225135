#!/usr/bin/env bash
# Run a tansu Kafka-protocol broker on 127.0.0.1 for tests.
#
# Usage: tests/services/kafka.sh start|stop|status [--port N] [--advertised-port N] [--storage memory|URL] [--s3-endpoint URL]
#   start   start in the background (no-op if already running and healthy), wait until
#           the port accepts connections (fails after ${KMV_KAFKA_START_TIMEOUT:-20} s with the log tail)
#   stop    SIGTERM, wait for exit (SIGKILL after 15 s); no-op if not running
#   status  exit 0 and print "running" if up and healthy, exit 1 otherwise
# --port N       listener port (default 9092); bootstrap server is 127.0.0.1:N
# --advertised-port N  the port the broker tells clients to connect to (default: --port), e.g. that
#                of a proxy in front of it (host/tests/common/fault_proxy.rs): every client
#                connection after the bootstrap then goes through the proxy
# --storage S    "memory" (default, memory://tansu/) or a tansu storage URL. The calfkit
#                build only has the memory and S3 engines: with memory, topics are lost on stop.
#                With s3://BUCKET/ the topics and committed offsets live in the S3 store and
#                survive a stop + start of the broker (not of the store).
# --s3-endpoint U  the S3-compatible store for s3:// storage, e.g. http://127.0.0.1:9300 from
#                tests/services/s3.sh (sets AWS_ENDPOINT and AWS_ALLOW_HTTP; AWS_ACCESS_KEY_ID,
#                AWS_SECRET_ACCESS_KEY and AWS_DEFAULT_REGION default to kmv/kmv/us-east-1).
# Files: $KMV_STATE/run/kafka-N.pid, $KMV_STATE/run/kafka-N.log (KMV_STATE default <repo>/.kmv)
# Needs tests/services/install.sh (installs $KMV_STATE/bin/tansu).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

port=9092
advertised_port=""
storage=memory
s3_endpoint=""
kmv_parse_args "port advertised-port storage s3-endpoint" "$@"
kmv_check_port_arg "$port"
advertised_port="${advertised_port:-$port}"
kmv_check_port_arg "$advertised_port"

case "$storage" in
  memory) storage_url="memory://tansu/" ;;
  *://*) storage_url="$storage" ;;
  *) kmv_die "--storage must be 'memory' or a storage URL such as memory://tansu/ (got '$storage')" ;;
esac
if [[ "$storage_url" == s3://* && -z "$s3_endpoint" && -z "${AWS_ENDPOINT:-}" ]]; then
  kmv_die "--storage $storage_url needs --s3-endpoint URL (e.g. http://127.0.0.1:9300 from tests/services/s3.sh) or AWS_ENDPOINT"
fi

TANSU="$KMV_BIN/tansu"
PIDFILE="$KMV_RUN/kafka-$port.pid"
LOGFILE="$KMV_RUN/kafka-$port.log"
START_TIMEOUT="${KMV_KAFKA_START_TIMEOUT:-20}"

# pid of our broker on this port, or empty
running_pid() { kmv_running_pid "$PIDFILE" tansu; }

do_status() {
  kmv_service_status "kafka (tansu) on 127.0.0.1:$port" "$PIDFILE" tansu "running (pid {pid})" \
    "pid {pid} alive but port not accepting connections (log: $LOGFILE)" kmv_port_open "$port"
}

do_start() {
  [[ -x "$TANSU" ]] || kmv_die "$TANSU not found: run tests/services/install.sh first"
  local pid
  pid="$(running_pid)"
  if [[ -n "$pid" ]]; then
    if kmv_port_open "$port"; then
      kmv_log "kafka already running on 127.0.0.1:$port (pid $pid); nothing to do"
      return 0
    fi
    kmv_die "tansu pid $pid is alive but 127.0.0.1:$port does not accept connections; run '$0 stop --port $port' first"
  fi
  kmv_prepare_start "$port" "$PIDFILE"

  local t0
  t0="$(kmv_now_ms)"
  # setsid: own session/process group, so the broker survives this shell and
  # does not receive the caller's terminal signals.
  (
    cd "$KMV_RUN"
    if [[ -n "$s3_endpoint" ]]; then
      export AWS_ENDPOINT="$s3_endpoint" AWS_ALLOW_HTTP=true
      export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-kmv}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-kmv}"
      export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
    fi
    exec setsid "$TANSU" broker \
      --listener-url "tcp://127.0.0.1:$port" \
      --advertised-listener-url "tcp://127.0.0.1:$advertised_port" \
      --storage-engine "$storage_url" \
      </dev/null >"$LOGFILE" 2>&1
  ) &
  pid=$!
  echo "$pid" >"$PIDFILE"

  kmv_await_start "$pid" "$PIDFILE" "$LOGFILE" tansu "$START_TIMEOUT" \
    "did not accept connections on 127.0.0.1:$port" 0.05 kmv_port_open "$port"
  kmv_log "kafka (tansu) started on 127.0.0.1:$port (pid $pid, storage $storage_url) in $(( $(kmv_now_ms) - t0 )) ms; log $LOGFILE"
}

do_stop() { kmv_service_stop "kafka on port $port" "$PIDFILE" 15 tansu; }

kmv_service_command "$cmd"
