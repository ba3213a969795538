#!/usr/bin/env bash
# Builds the WebAssembly kernel (preset wasm) and everything native (preset native).
set -euo pipefail
cd "$(dirname "$0")/.."
export NODE_PATH=/usr/share/nodejs
jobs=$(nproc)
[ -f build/wasm/build.ninja ] || cmake --preset wasm >/dev/null
cmake --build build/wasm -j "$jobs"
[ -f build/native/build.ninja ] || cmake --preset native >/dev/null
cmake --build build/native -j "$jobs"
