#!/usr/bin/env bash
# Installs what is missing, builds wasm and native (not the fuzz targets), and starts the server on
# http://localhost:9999 with its data in ./corvid-data. Extra arguments go to corvid-server;
# a --port or --data-dir among them replaces the default.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh wasm native
defaults=()
[[ " $* " =~ \ --port[\ =] ]] || defaults+=(--port 9999)
[[ " $* " =~ \ --data-dir[\ =] ]] || defaults+=(--data-dir ./corvid-data)
exec build/native/server/corvid-server "${defaults[@]}" "$@"
