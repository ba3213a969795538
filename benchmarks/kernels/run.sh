#!/usr/bin/env bash
# The full kernel benchmark: matmul, add, exp, sum and softmax natively and in wasm under Node,
# with OpenBLAS as the native matmul reference, printed as one table.
# Usage: benchmarks/kernels/run.sh [native build dir] [wasm build dir]   (default build/native build/wasm)
set -euo pipefail
cd "$(dirname "$0")/../.."
native=${1:-build/native}
wasm=${2:-build/wasm}
export NODE_PATH=/usr/share/nodejs
for dir in "$native" "$wasm"; do
  [ -f "$dir/build.ninja" ] || { echo "run.sh: $dir is not configured (run scripts/build.sh first)" >&2; exit 1; }
done
cmake --build "$wasm" --target corvid_kernel_bench_wasm >/dev/null
cmake --build "$native" --target corvid_kernel_bench >/dev/null
exec "$native/benchmarks/kernels/corvid_kernel_bench" \
  --wasm "$wasm/benchmarks/kernels/wasm/corvid_kernel_bench_wasm.js" --wasm-build "$wasm"
