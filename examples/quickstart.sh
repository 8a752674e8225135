#!/usr/bin/env bash
# The seed tutorial, end to end, on this machine:
#   builds kmv-host and the seed transform while it installs and starts a
#   local tansu broker (127.0.0.1:9092) and the embedded Milvus
#   (127.0.0.1:19530), creates topic and collection `topic_0`, produces the
#   tutorial record plus 999 like it, runs
#   `kmv-host --pipeline examples/seed/pipeline.toml` until all are written,
#   searches Milvus with the tutorial record's vector, prints the hits, and
#   stops what it started.
# Usage: examples/quickstart.sh [COUNT]   (default 1000 records)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
count="${1:-1000}"
# The services' state ($KMV_STATE, default .kmv/) as the service scripts place it.
# shellcheck source=../tests/services/_common.sh
source tests/services/_common.sh
py="$KMV_VENV/bin/python"
admin() { "$py" tests/services/milvus_admin.py "$@"; }
say() { printf '\n==> %s\n' "$*"; }

say "Setting up the build (Debian's build libraries, the wasm32-wasip2 target)"
tests/setup.sh build

# The services are installed and started in the background while kmv-host
# builds (the build is CPU-bound, the set-up mostly downloads): about a
# minute off a first run. Their output goes to a log, shown once the build
# is done.
mkdir -p "$KMV_STATE"
services_log="$KMV_STATE/quickstart-services.log"
started_file="$KMV_STATE/quickstart-started"
: >"$started_file"
services_pid=
cleanup() {
  local s
  # Not killed: a service half started would be left behind.
  if [[ -n "$services_pid" ]]; then
    echo "quickstart: waiting for the services' set-up to finish, to stop what it started"
    wait "$services_pid" 2>/dev/null || true
  fi
  while read -r s; do tests/services/"$s" stop || true; done <"$started_file"
}
trap cleanup EXIT
start_services() {
  local s
  tests/setup.sh kafka milvus
  for s in kafka.sh milvus.sh; do
    if tests/services/$s status >/dev/null 2>&1; then
      echo "$s: already running; using it"
    else
      echo "$s" >>"$started_file"
      tests/services/$s start
    fi
  done
}
say "Installing and starting tansu and the embedded Milvus in the background (log: $services_log)"
start_services >"$services_log" 2>&1 &
services_pid=$!

say "Building kmv-host and the seed transform"
# Without the local embedder (candle, tokenizers) and JSON Schema validation
# (jsonschema): the seed tutorial needs neither, and leaving them out saves
# about a quarter of a first build. `cargo build --release -p kmv-host`
# builds them in.
cargo build --release -p kmv-host --no-default-features
cargo build --release --target wasm32-wasip2 -p seed

say "Waiting for tansu and Milvus"
if ! wait "$services_pid"; then
  services_pid=
  cat "$services_log" >&2
  echo "quickstart: setting up or starting the services failed (above; log: $services_log)" >&2
  exit 1
fi
services_pid=
cat "$services_log"

say "Creating collection topic_0 (id Int64 pk, title VarChar, title_vector FloatVector(8), link VarChar)"
admin create-seed --collection topic_0 --drop

say "Producing $count records to topic topic_0"
"$py" examples/seed/produce.py --count "$count" --topic topic_0

say "Running kmv-host --pipeline examples/seed/pipeline.toml (stops once caught up)"
target/release/kmv-host --pipeline examples/seed/pipeline.toml --stop-when-idle 5 --progress-interval 2

say "Rows in Milvus"
admin count --collection topic_0 --expect "$count" --timeout 30

say "Searching topic_0 with the tutorial record's title_vector"
vector="$("$py" -c 'import json,sys; print(json.dumps(json.loads(open("examples/seed/records.jsonl").readline())["title_vector"]))')"
admin search --collection topic_0 --vector "$vector" --limit 3 --fields id,title,link \
  | "$py" -c '
import json, sys
hits = json.load(sys.stdin)
for h in hits:
    e = h["entity"]
    print("  id=%-5s distance=%.6f  %s  %s" % (h["id"], h["distance"], e.get("title"), e.get("link")))
if not hits or hits[0]["id"] != 0:
    sys.exit("quickstart: the tutorial record (id 0) should be the nearest hit")
'
say "Done: $count records went from Kafka through the seed transform into Milvus."
