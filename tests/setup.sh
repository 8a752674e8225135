#!/usr/bin/env bash
# One-time set-up of a machine for building and testing kmv-host (idempotent):
# the wasm32-wasip2 target for transforms, the test services (tansu, the
# embedded Milvus, the S3 server for a durable broker, into .kmv/; stunnel
# from Debian's packages for the TLS tests), the all-MiniLM-L6-v2 model for
# the local embedder (.kmv/models/), and the C libraries librdkafka links from
# Debian (OpenSSL, Cyrus SASL: building them from source took minutes of every
# first build). Needs only rustup, Python 3, apt and network access to the
# package registries.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

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
tests/services/install.sh
tests/embeddings/fetch_model.sh
