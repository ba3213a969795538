#!/usr/bin/env bash
# Installs what is missing, builds native and wasm, and runs the whole test suite with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd build/native
ctest --output-on-failure -j 2 --timeout 600 "$@"
