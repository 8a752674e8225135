#!/usr/bin/env bash
# Coverage-guided fuzzing of kmv-host's parsers with libFuzzer (cargo fuzz),
# by hand; CI runs the same entry points briefly (host/tests/fuzz_smoke.rs).
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]   (default: 60 s, every target)
#
# Targets (kmv_host::fuzzing): pipeline_toml, describe_answer (REST v1 and
# v2), write_answer, encode_row (guest values through the encoder of a
# schema with every field type), decode_record (Avro, Protobuf, JSON Schema
# in the Confluent wire format), avro_schema (schemas a registry may hand out).
#
# Installs cargo-fuzz if it is missing. Runs on the stable toolchain:
# `-s none` leaves out the address sanitizer (which needs nightly); the
# coverage instrumentation libFuzzer needs is stable rustc flags. The first
# build takes a while (all of kmv-host, instrumented, in release).
#
# The corpus starts from the smoke test's seeds and every past finding
# (fuzz/regressions/); it grows in fuzz/corpus/ (git-ignored) across runs.
# Prints, per target: executions, executions per second, coverage, and
# findings. A finding is in fuzz/artifacts/TARGET/: fix it, then copy it into
# fuzz/regressions/TARGET/ under a name that says what it was, so CI replays
# it for good. Exits 1 when a target found something.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
seconds="${1:-60}"
shift || true
all=(pipeline_toml describe_answer write_answer encode_row decode_record avro_schema)
targets=("${@:-${all[@]}}")

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "[fuzz] installing cargo-fuzz ..."
  cargo install cargo-fuzz --locked
fi

echo "[fuzz] seeds from the smoke test and fuzz/regressions/ into fuzz/corpus/ ..."
(cd .. && KMV_FUZZ_SEEDS="$PWD/fuzz/corpus" cargo test -q -p kmv-host --test fuzz_smoke >/dev/null)
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  [ -d "regressions/$t" ] && cp -n "regressions/$t"/* "corpus/$t/" 2>/dev/null || true
done

echo "[fuzz] building the targets (instrumented, release) ..."
cargo fuzz build -s none >/dev/null

# Files under a directory (0 when it does not exist).
count() { if [ -d "$1" ]; then find "$1" -type f | wc -l; else echo 0; fi; }
# The last number after PATTERN in a log, or "?".
last() { grep -o "$1 *[0-9]*" "$2" | tail -1 | grep -o '[0-9]*$' || echo "?"; }

found=0
rows=()
for t in "${targets[@]}"; do
  echo "[fuzz] $t for ${seconds} s ..."
  log="artifacts/$t.log"
  mkdir -p artifacts
  before=$(count "artifacts/$t")
  status=0
  cargo fuzz run -s none "$t" "corpus/$t" -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  after=$(count "artifacts/$t")
  runs=$(last 'stat::number_of_executed_units:' "$log")
  cov=$(last 'cov:' "$log")
  corpus=$(count "corpus/$t")
  new=$((after - before))
  if [ "$status" -ne 0 ] || [ "$new" -gt 0 ]; then
    found=1
    grep -m3 -E 'panicked at|ERROR: libFuzzer|SUMMARY' "$log" || tail -5 "$log" || true
  fi
  rate="?"
  [ "$runs" != "?" ] && rate=$((runs / seconds))
  rows+=("| $t | ${seconds} s | $runs | $rate | $cov | $corpus | $new |")
done

echo
echo "| target | time | executions | per second | coverage (edges) | corpus | findings |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
if [ "$found" -ne 0 ]; then
  echo "[fuzz] findings: see fuzz/artifacts/ and the logs there"
  exit 1
fi
