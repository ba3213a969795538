#!/usr/bin/env bash
# Builds the WebAssembly kernel (preset wasm), the fuzz targets (preset fuzz: clang-19 with
# sanitizers) and everything native (preset native, whose ctest runs the fuzz targets).
set -euo pipefail
cd "$(dirname "$0")/.."
export NODE_PATH=/usr/share/nodejs
jobs=$(nproc)
[ -f build/wasm/build.ninja ] || cmake --preset wasm >/dev/null
cmake --build build/wasm -j "$jobs"
[ -f build/fuzz/build.ninja ] || cmake --preset fuzz >/dev/null
cmake --build build/fuzz -j "$jobs"
[ -f build/native/build.ninja ] || cmake --preset native >/dev/null
cmake --build build/native -j "$jobs"
