#!/usr/bin/env bash
# Builds the CMake presets named as arguments, in this order, configuring each once and then
# rebuilding only what changed: wasm (the WebAssembly kernel), fuzz (the libFuzzer targets:
# clang-19 with sanitizers) and native (everything else; its ctest runs the fuzz targets when
# build/fuzz exists). Without arguments: all three. scripts/start.sh builds only wasm and native.
set -euo pipefail
cd "$(dirname "$0")/.."
export NODE_PATH=/usr/share/nodejs
jobs=$(nproc)
presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(wasm fuzz native)
for preset in wasm fuzz native; do
  [[ " ${presets[*]} " == *" $preset "* ]] || continue
  [ -f "build/$preset/build.ninja" ] || cmake --preset "$preset" >/dev/null
  cmake --build "build/$preset" -j "$jobs"
done
