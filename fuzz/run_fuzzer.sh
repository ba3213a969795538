#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time, as the ctest test "fuzz: <name>":
#   run_fuzzer.sh <binary> <fuzz dir> <name> <seconds> <artifact dir> [<dictionary>]
# New inputs go to a temporary corpus (the repository's corpus/<name> is only read); every
# file of regressions/<name> is run too. Exits non-zero on any crash, leak, timeout or
# out-of-memory; the reproducer is written to <artifact dir>/<name>-crash-<sha1>.
set -euo pipefail
binary=$(realpath -m "$1") fuzz_dir=$(realpath "$2") name=$3 seconds=$4 artifacts=$(realpath -m "$5")
options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/$name-")
[ $# -ge 6 ] && options+=(-dict="$(realpath "$6")")
[ -x "$binary" ] || { echo "run_fuzzer: $binary is not built (scripts/build.sh builds build/fuzz)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"
dirs=("$work" "$fuzz_dir/corpus/$name")
[ -d "$fuzz_dir/regressions/$name" ] && dirs+=("$fuzz_dir/regressions/$name")
cd "$work"
# Stacks with function names and lines (the sanitizers look for llvm-symbolizer-19 otherwise).
if command -v llvm-symbolizer >/dev/null; then export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v llvm-symbolizer)}; fi
"$binary" "${options[@]}" "${dirs[@]}"
