#!/usr/bin/env bash
# Installs what is missing, builds native and wasm, and starts the server on
# http://localhost:9999 with its data in ./corvid-data. Extra arguments go to corvid-server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec build/native/server/corvid-server --port 9999 --data-dir ./corvid-data "$@"
