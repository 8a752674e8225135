#!/usr/bin/env bash
# Embedding throughput: the Rust local provider's two engines (candle; ONNX Runtime) versus
# sentence-transformers (PyTorch, CPU) and ONNX Runtime driven from Python, on the same machine and
# the same sentences (tests/embeddings/bench_sentences.txt), in one run, batch sizes 1 and 32.
# Prints a table: batch | local candle | local onnx | sentence-transformers | onnxruntime (Python)
# (sent/s) | candle/ST | onnx/ST | onnx/ORT Python.
#
# NOT in CI (PyTorch from PyPI is several GB): run by hand. Needs
#   tests/embeddings/fetch_model.sh   (the model, also used by the Rust side)
#   tests/embeddings/st_venv.sh       (sentence-transformers + torch + onnxruntime + onnx in
#                                      $KMV_STATE/st-venv)
# tests/embeddings/onnx_model.sh (run here) installs ONNX Runtime and writes model.onnx from the
# weights (tests/embeddings/build_onnx.py, no torch); both ORT columns run that file.
#
# Usage: tests/embeddings/bench.sh                 run the three benchmarks and print the table
#        tests/embeddings/bench.sh --parse FILE    only print the table for embed-bench lines in FILE
#                                                  (used to check the parsing without running anything;
#                                                  a missing provider shows as "-")
# All sides print lines
#   embed-bench {"provider":"local"|"local-onnx"|"sentence-transformers"|"onnxruntime","batch":B,"sentences":N,"seconds":S,"sentences_per_s":R,...}
# The local side is `cargo bench -p kmv-host --bench embed`; if that bench target does not exist
# (yet) in this checkout, the script says so and reports only the two Python columns.
# Env: KMV_STATE (state dir; default <repo>/.kmv).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../services/_common.sh"

EMB_DIR="$KMV_REPO/tests/embeddings"
ST_PY="$KMV_STATE/st-venv/bin/python"
MODEL_DIR="$KMV_STATE/models/all-MiniLM-L6-v2"
ONNX_FILE="$MODEL_DIR/model.onnx"

print_table() {
  python3 - "$1" <<'PYEOF'
import json, sys
rows = {}
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    line = line.strip()
    if not line.startswith("embed-bench "):
        continue
    try:
        rec = json.loads(line[len("embed-bench "):])
        rows.setdefault(int(rec["batch"]), {})[rec["provider"]] = float(rec["sentences_per_s"])
    except (ValueError, KeyError, TypeError) as e:
        sys.exit(f"bench.sh: malformed embed-bench line ({e}): {line}")
if not rows:
    sys.exit("bench.sh: no embed-bench lines found")
fmt = lambda v: "-" if v is None else f"{v:.1f}"
ratio = lambda a, b: f"{a / b:.2f}x" if a is not None and b else "-"
print("| batch | local candle sent/s | local onnx sent/s | sentence-transformers sent/s "
      "| onnxruntime (Python) sent/s | candle/ST | onnx/ST | onnx/ORT Python |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for batch in sorted(rows):
    r = rows[batch]
    loc, lox = r.get("local"), r.get("local-onnx")
    st, ort = r.get("sentence-transformers"), r.get("onnxruntime")
    print(f"| {batch} | {fmt(loc)} | {fmt(lox)} | {fmt(st)} | {fmt(ort)} "
          f"| {ratio(loc, st)} | {ratio(lox, st)} | {ratio(lox, ort)} |")
PYEOF
}

if [[ "${1:-}" == "--parse" ]]; then
  [[ -f "${2:-}" ]] || kmv_die "usage: bench.sh --parse FILE"
  print_table "$2"
  exit 0
fi
[[ $# -eq 0 ]] || { kmv_usage; exit 2; }

[[ -x "$ST_PY" ]] || kmv_die "$ST_PY missing: run tests/embeddings/st_venv.sh first"
[[ -f "$MODEL_DIR/model.safetensors" ]] || kmv_die "$MODEL_DIR missing: run tests/embeddings/fetch_model.sh first"
"$ST_PY" -c 'import onnxruntime, onnx' 2>/dev/null ||
  kmv_die "onnxruntime/onnx missing in $KMV_STATE/st-venv: run tests/embeddings/st_venv.sh again"

# ONNX Runtime and model.onnx for the Rust onnx engine and bench_ort.py (idempotent).
"$EMB_DIR/onnx_model.sh" >/dev/null || kmv_die "tests/embeddings/onnx_model.sh failed"

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
kmv_log "$(nproc) cores; sentences: $(wc -l <"$EMB_DIR/bench_sentences.txt") from $EMB_DIR/bench_sentences.txt"

if [[ -f "$KMV_REPO/host/benches/embed.rs" ]]; then
  kmv_log "running cargo bench -p kmv-host --bench embed ..."
  (cd "$KMV_REPO" && cargo bench -p kmv-host --bench embed) 2>&1 | tee -a "$out" ||
    kmv_die "cargo bench -p kmv-host --bench embed failed"
else
  kmv_log "NOTE: host/benches/embed.rs does not exist in this checkout (the Rust local-embedder"
  kmv_log "      bench is built on another branch); reporting sentence-transformers only."
fi

kmv_log "running bench_st.py in $KMV_STATE/st-venv ..."
HF_HUB_OFFLINE=1 "$ST_PY" "$EMB_DIR/bench_st.py" "$MODEL_DIR" "$EMB_DIR/bench_sentences.txt" 2>&1 |
  tee -a "$out" || kmv_die "bench_st.py failed"

kmv_log "running bench_ort.py in $KMV_STATE/st-venv ..."
"$ST_PY" "$EMB_DIR/bench_ort.py" "$MODEL_DIR" "$ONNX_FILE" "$EMB_DIR/bench_sentences.txt" 2>&1 |
  tee -a "$out" || kmv_die "bench_ort.py failed"

echo
print_table "$out"
