#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time, as the ctest test "fuzz: <name>":
#   run_fuzzer.sh <binary> <fuzz dir> <name> <seconds> <artifact dir> [<dictionary>]
# First every file of regressions/<name> (inputs that once crashed the target) runs once; then
# the target fuzzes from corpus/<name>, which it only reads (new inputs go to a temporary
# directory). Exits non-zero on any crash, leak, timeout or out-of-memory; a new reproducer is
# written to <artifact dir>/<name>-crash-<sha1>.
set -euo pipefail
binary=$(realpath -m "$1") fuzz_dir=$(realpath "$2") name=$3 seconds=$4 artifacts=$(realpath -m "$5")
limits=(-timeout=10 -rss_limit_mb=2048 -artifact_prefix="$artifacts/$name-")
options=(-max_total_time="$seconds" -print_final_stats=1)
[ $# -ge 6 ] && options+=(-dict="$(realpath "$6")")
[ -x "$binary" ] || { echo "run_fuzzer: $binary is not built (scripts/build.sh builds build/fuzz)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"
cd "$work"
# Stacks with function names and lines (the sanitizers look for llvm-symbolizer-19 otherwise).
if command -v llvm-symbolizer >/dev/null; then export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v llvm-symbolizer)}; fi
shopt -s nullglob
regressions=("$fuzz_dir/regressions/$name"/*)
if [ ${#regressions[@]} -gt 0 ]; then
  echo "run_fuzzer: ${#regressions[@]} inputs that once crashed fuzz_$name"
  "$binary" "${limits[@]}" "${regressions[@]}"
fi
"$binary" "${limits[@]}" "${options[@]}" "$work" "$fuzz_dir/corpus/$name"
