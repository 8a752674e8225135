#!/usr/bin/env bash
# Runs every test of the workspace against real servers, on a fresh machine too:
#   1. adds the wasm32-wasip2 target and installs the test services (.kmv/),
#   2. starts tansu (127.0.0.1:9092), Milvus (127.0.0.1:19530), a second
#      Milvus with authorization on (127.0.0.1:19560) and the stand-in Schema
#      Registry (127.0.0.1:8081, tests/services/schema_registry.py),
#   3. runs `cargo test --workspace`,
#   4. stops the services it started, whatever happened.
# Extra arguments go to `cargo test` (e.g. `tests/run.sh -p kmv-host --test e2e`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tests/setup.sh

started=()
stop_services() {
  local s
  for s in "${started[@]}"; do
    # shellcheck disable=SC2086  # "milvus.sh stop --port N" is split on purpose
    tests/services/$s || true
  done
}
trap stop_services EXIT

start() { # start SCRIPT [ARGS...]; remembers how to stop what it started
  local script="$1"; shift
  if "tests/services/$script" status "$@" >/dev/null 2>&1; then
    echo "tests/run.sh: $script $* already running; using it" >&2
  else
    "tests/services/$script" start "$@"
    started+=("$script stop $*")
  fi
}
start kafka.sh
start milvus.sh
start milvus.sh --port 19560 --auth
start schema_registry.sh

export KMV_KAFKA_BROKERS="${KMV_KAFKA_BROKERS:-127.0.0.1:9092}"
export KMV_MILVUS_URI="${KMV_MILVUS_URI:-http://127.0.0.1:19530}"
export KMV_MILVUS_AUTH_URI="${KMV_MILVUS_AUTH_URI:-http://127.0.0.1:19560}"
export KMV_SCHEMA_REGISTRY_URL="${KMV_SCHEMA_REGISTRY_URL:-http://127.0.0.1:8081}"

log="$(mktemp)"
set +e
cargo test --workspace "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
# One closing line for all the test binaries (each prints its own result).
summary="$(grep -E '^test result:' "$log" \
  | sed -E 's/.* ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/' \
  | awk '{p += $1; f += $2} END {printf "tests: %d passed, %d failed\n", p, f}')"
rm -f "$log"
mkdir -p .kmv && echo "$summary" > .kmv/last-test-summary
echo "$summary"
exit "$rc"
