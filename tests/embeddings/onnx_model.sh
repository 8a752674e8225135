#!/usr/bin/env bash
# The local embedder's ONNX Runtime engine (`engine = "onnx"`) on this machine:
#   1. $KMV_STATE/onnx-venv: a Python venv with ONNX Runtime and what builds the model
#      (onnxruntime, onnx, safetensors, numpy, tokenizers: pinned, small wheels from PyPI);
#   2. $KMV_STATE/lib/libonnxruntime.so: a link to the runtime library that venv's onnxruntime
#      wheel carries (onnxruntime/capi/libonnxruntime.so.*), the file a pipeline's
#      `onnxruntime = ...` names and the tests and benchmarks load;
#   3. $KMV_STATE/models/all-MiniLM-L6-v2/model.onnx, written from model.safetensors by
#      tests/embeddings/build_onnx.py (no PyTorch), which checks it against reference.json.
# Run after tests/embeddings/fetch_model.sh (tests/setup.sh's `model` part runs both).
#
# Usage: tests/embeddings/onnx_model.sh      (prints the library's path on stdout)
# Idempotent: the venv is kept while its marker matches the pinned list and the imports work;
# model.onnx is kept while its marker matches build_onnx.py's and the model's checksums.
# Env: KMV_STATE (state dir), KMV_PYTHON (python that creates the venv; default python3).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../services/_common.sh"

PKGS=(
  "onnxruntime==1.32.0"
  "onnx==1.23.2"
  "safetensors==0.8.0"
  "numpy==2.4.6"
  "tokenizers==0.23.3"
)
IMPORTS='import onnxruntime, onnx, safetensors, numpy, tokenizers'
PY="${KMV_PYTHON:-python3}"
VENV="$KMV_STATE/onnx-venv"
MODEL_DIR="$KMV_STATE/models/all-MiniLM-L6-v2"
LIB_LINK="$KMV_STATE/lib/libonnxruntime.so"

[[ -f "$MODEL_DIR/model.safetensors" ]] ||
  kmv_die "$MODEL_DIR/model.safetensors missing: run tests/embeddings/fetch_model.sh first"

marker="$VENV/.kmv-installed"
spec="$(printf '%s\n' "${PKGS[@]}")"
if [[ -f "$marker" && "$(cat "$marker")" == "$spec" ]] && "$VENV/bin/python" -c "$IMPORTS" 2>/dev/null; then
  kmv_log "onnx-venv already installed: $VENV"
else
  command -v "$PY" >/dev/null 2>&1 || kmv_die "'$PY' not found; install Python 3 or set KMV_PYTHON"
  t0="$(kmv_now_ms)"
  if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    rm -rf "$VENV"
    "$PY" -m venv "$VENV" || kmv_die "'$PY -m venv' failed (on Debian: apt-get install python3-venv)"
  fi
  rm -f "$marker"
  kmv_log "pip install ${PKGS[*]} ..."
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: "${PKGS[@]}" ||
    kmv_die "pip install into $VENV failed (is PyPI reachable?)"
  "$VENV/bin/python" -c "$IMPORTS" || kmv_die "onnx-venv installed but '$IMPORTS' fails"
  printf '%s' "$spec" >"$marker"
  kmv_log "installed onnx-venv in $(($(kmv_now_ms) - t0)) ms ($(du -sh "$VENV" | cut -f1))"
fi

# The runtime library, at a path that does not name the Python version.
lib="$("$VENV/bin/python" - <<'PYEOF'
import glob, os, onnxruntime
found = sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), "capi", "libonnxruntime.so.*")))
print(found[-1] if found else "")
PYEOF
)"
[[ -n "$lib" && -f "$lib" ]] || kmv_die "the onnxruntime wheel in $VENV has no capi/libonnxruntime.so.*"
mkdir -p "$(dirname "$LIB_LINK")"
ln -sfn "$lib" "$LIB_LINK"

# model.onnx, rebuilt when the script or the weights change.
sum="$(cat "$KMV_REPO/tests/embeddings/build_onnx.py" "$MODEL_DIR/model.safetensors" | sha256sum | cut -d' ' -f1)"
onnx_marker="$MODEL_DIR/.kmv-onnx-sha256"
if [[ -f "$MODEL_DIR/model.onnx" && -f "$onnx_marker" && "$(cat "$onnx_marker")" == "$sum" ]]; then
  kmv_log "model.onnx already built: $MODEL_DIR/model.onnx"
else
  rm -f "$onnx_marker"
  "$VENV/bin/python" "$KMV_REPO/tests/embeddings/build_onnx.py" "$MODEL_DIR" "$MODEL_DIR/model.onnx" ||
    kmv_die "build_onnx.py failed; $MODEL_DIR/model.onnx not written"
  printf '%s' "$sum" >"$onnx_marker"
fi
printf '%s\n' "$LIB_LINK"
