#!/usr/bin/env bash
# Installs the Debian packages and npm modules Corvid needs; fast when they are already there.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  cmake g++ ninja-build pkg-config
  libboost-dev libboost-system-dev libxtensor-dev xtl-dev nlohmann-json3-dev
  doctest-dev libsqlite3-dev libcli11-dev libopenblas-dev postgresql libpq-dev libjemalloc-dev
  emscripten node-acorn nodejs npm
  clang-19 lld-19 libfuzzer-19-dev libclang-rt-19-dev
  python3 python3-numpy python3-dev pybind11-dev python3-pybind11 python3-pytest python3-tqdm
  chromium
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm may come from outside Debian (e.g. a newer Node already on PATH): accept those.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
missing=($(printf '%s\n' "${missing[@]}" | sed '/^$/d'))

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# playwright-core drives Debian's Chromium in the browser tests; it brings no browser of its own.
if [ -f package.json ] && [ ! -d node_modules/playwright-core ]; then
  echo "install-deps: npm ci"
  npm ci --no-audit --no-fund --silent
fi
