#!/usr/bin/env bash
# Create $KMV_STATE/st-venv (default <repo>/.kmv/st-venv): a Python venv with
# sentence-transformers and PyTorch (CPU use) from PyPI, for tests/embeddings/make_reference.py
# and tests/embeddings/bench_st.py, plus ONNX Runtime (CPU) and onnx from PyPI, for
# tests/embeddings/export_onnx.py (torch's ONNX exporter needs onnx) and tests/embeddings/bench_ort.py.
#
# NOT used by CI: the PyPI torch wheel for Linux x86_64 pulls the CUDA runtime packages (nvidia-*):
# ~5.8 GB on disk, ~3 min to install on the dev machine. A one-time local install for the people
# who regenerate the reference vectors or run the benchmark by hand (CPU only; no GPU needed). (PyPI has no CPU-only torch build; the CPU wheels live on
# a separate index that this project does not use.)
#
# Usage: tests/embeddings/st_venv.sh
# Idempotent: skipped when the marker matches the pinned package list and the imports work.
# Env: KMV_STATE (state dir), KMV_PYTHON (python used to create the venv; default python3).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../services/_common.sh"

# Versions resolved and used when reference.json was made (pinned so the reference is reproducible).
ST_PKGS=(
  "sentence-transformers==6.2.0"
  "torch==2.15.0"
  "transformers==5.23.0"
  "tokenizers==0.23.3"
)
# The third benchmark engine (bench_ort.py), added later; not used for reference.json.
ORT_PKGS=(
  "onnxruntime==1.32.0"
  "onnx==1.23.2"
)

PY="${KMV_PYTHON:-python3}"
ST_VENV="$KMV_STATE/st-venv"
marker="$ST_VENV/.kmv-installed"
spec="$(printf '%s\n' "${ST_PKGS[@]}" "${ORT_PKGS[@]}")"
IMPORTS='import sentence_transformers, torch, onnxruntime, onnx'

if [[ -f "$marker" && "$(cat "$marker")" == "$spec" ]] &&
   "$ST_VENV/bin/python" -c "$IMPORTS" 2>/dev/null; then
  kmv_log "st-venv already installed: $ST_VENV"
  exit 0
fi
command -v "$PY" >/dev/null 2>&1 || kmv_die "'$PY' not found; install Python 3 or set KMV_PYTHON"
t0="$(kmv_now_ms)"
if [[ ! -x "$ST_VENV/bin/python" ]] || ! "$ST_VENV/bin/python" -c 'import sys' 2>/dev/null; then
  rm -rf "$ST_VENV"
  kmv_log "creating venv $ST_VENV ..."
  "$PY" -m venv "$ST_VENV" || kmv_die "'$PY -m venv' failed (on Debian: apt-get install python3-venv)"
fi
rm -f "$marker"
kmv_log "pip install ${ST_PKGS[*]} ${ORT_PKGS[*]} (large: torch pulls the CUDA runtime wheels) ..."
"$ST_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${ST_PKGS[@]}" "${ORT_PKGS[@]}" ||
  kmv_die "pip install into $ST_VENV failed"
"$ST_VENV/bin/python" -c "$IMPORTS" ||
  kmv_die "st-venv installed but '$IMPORTS' fails"
printf '%s' "$spec" >"$marker"
kmv_log "installed st-venv in $(( $(kmv_now_ms) - t0 )) ms ($(du -sh "$ST_VENV" | cut -f1))"
