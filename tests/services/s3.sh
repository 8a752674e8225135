#!/usr/bin/env bash
# Run an S3-compatible object store (moto_server) on 127.0.0.1 for a durable tansu broker.
#
# Usage: tests/services/s3.sh start|stop|status [--port N] [--bucket NAME]
#   start   start in the background (no-op if already running and healthy), wait until it
#           answers, and create the bucket (default "tansu") if it is missing
#   stop    SIGTERM, wait for exit (SIGKILL after 10 s); no-op if not running.
#           The objects live in the server's memory: stop loses them.
#   status  exit 0 and print "running" if up and answering, exit 1 otherwise
# --port N       listener port (default 9300); endpoint http://127.0.0.1:N
# --bucket NAME  bucket to create on start (default tansu)
# A tansu broker keeps its topics and committed offsets here across its own restarts:
#   tests/services/kafka.sh start --port 9195 --storage s3://tansu/ --s3-endpoint http://127.0.0.1:9300
# Files: $KMV_STATE/run/s3-N.pid, $KMV_STATE/run/s3-N.log (KMV_STATE default <repo>/.kmv)
# Needs tests/services/install.sh s3 (installs $KMV_STATE/s3venv).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

port=9300
bucket=tansu
kmv_parse_args "port bucket" "$@"
kmv_check_port_arg "$port"
[[ "$bucket" =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] || kmv_die "--bucket '$bucket' is not a valid S3 bucket name"

S3_VENV="$KMV_STATE/s3venv"
MOTO="$S3_VENV/bin/moto_server"
PIDFILE="$KMV_RUN/s3-$port.pid"
LOGFILE="$KMV_RUN/s3-$port.log"
START_TIMEOUT="${KMV_S3_START_TIMEOUT:-30}"
ENDPOINT="http://127.0.0.1:$port"

# Plain HTTP against moto: any credentials are accepted, the region must be set.
s3py() {
  AWS_ACCESS_KEY_ID=kmv AWS_SECRET_ACCESS_KEY=kmv AWS_DEFAULT_REGION=us-east-1 \
    "$S3_VENV/bin/python" - "$ENDPOINT" "$@"
}

# Exit 0 when the server lists buckets.
answers() {
  s3py <<'PY' >/dev/null 2>&1
import sys, boto3
from botocore.config import Config
boto3.client("s3", endpoint_url=sys.argv[1],
             config=Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1})).list_buckets()
PY
}

running_pid() { kmv_running_pid "$PIDFILE" moto_server; }

do_status() {
  kmv_service_status "s3 (moto) on 127.0.0.1:$port" "$PIDFILE" moto_server "running (pid {pid})" \
    "pid {pid} alive but not answering (log: $LOGFILE)" answers
}

create_bucket() {
  s3py "$bucket" <<'PY' || kmv_die "could not create bucket '$bucket' at $ENDPOINT"
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1])
if sys.argv[2] not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
    s3.create_bucket(Bucket=sys.argv[2])
PY
}

do_start() {
  [[ -x "$MOTO" ]] || kmv_die "$MOTO not found: run tests/services/install.sh s3 first"
  local pid
  pid="$(running_pid)"
  if [[ -n "$pid" ]]; then
    answers || kmv_die "moto pid $pid is alive but $ENDPOINT does not answer; run '$0 stop --port $port' first"
    create_bucket
    kmv_log "s3 already running on $ENDPOINT (pid $pid); bucket $bucket ready"
    return 0
  fi
  kmv_prepare_start "$port" "$PIDFILE"
  local t0
  t0="$(kmv_now_ms)"
  (
    cd "$KMV_RUN"
    exec setsid "$MOTO" -H 127.0.0.1 -p "$port" </dev/null >"$LOGFILE" 2>&1
  ) &
  pid=$!
  echo "$pid" >"$PIDFILE"
  kmv_await_start "$pid" "$PIDFILE" "$LOGFILE" moto_server "$START_TIMEOUT" \
    "did not answer on $ENDPOINT" 0.2 answers
  create_bucket
  kmv_log "s3 (moto) started on $ENDPOINT (pid $pid, bucket $bucket) in $(( $(kmv_now_ms) - t0 )) ms; log $LOGFILE"
}

do_stop() { kmv_service_stop "s3 on port $port" "$PIDFILE" 10 moto moto_server; }

kmv_service_command "$cmd"
