#!/usr/bin/env bash
# The full kernel benchmark: matmul, add, exp, sum, softmax and conv2d natively and in wasm under Node,
# with OpenBLAS as the native matmul reference, printed as one table.
# Usage: benchmarks/kernels/run.sh [--cpu-time] [native build dir] [wasm build dir]
#   (defaults build/native build/wasm; --cpu-time times with process CPU time, for a busy machine)
set -euo pipefail
cd "$(dirname "$0")/../.."
flags=()
if [ "${1:-}" = "--cpu-time" ]; then flags+=(--cpu-time); shift; fi
native=${1:-build/native}
wasm=${2:-build/wasm}
export NODE_PATH=/usr/share/nodejs
# OpenBLAS 0.3.21 falls back to SSE3 kernels on CPUs it does not know: name its best kernel set.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
  elif grep -qw avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell
  fi
fi
for dir in "$native" "$wasm"; do
  [ -f "$dir/build.ninja" ] || { echo "run.sh: $dir is not configured (run scripts/build.sh first)" >&2; exit 1; }
done
cmake --build "$wasm" --target corvid_kernel_bench_wasm >/dev/null
cmake --build "$native" --target corvid_kernel_bench >/dev/null
exec "$native/benchmarks/kernels/corvid_kernel_bench" "${flags[@]}" \
  --wasm "$wasm/benchmarks/kernels/wasm/corvid_kernel_bench_wasm.js" --wasm-build "$wasm"
