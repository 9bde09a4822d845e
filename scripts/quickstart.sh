#!/usr/bin/env bash
#
# quickstart.sh: installs the dependencies, builds the two examples in
# build/ (Release) and runs them. Run from anywhere inside the repository.
#
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2 --target quickstart sync_quickstart

echo
echo "== build/quickstart (futures) =="
./build/quickstart
echo
echo "== build/sync_quickstart (blocking calls) =="
./build/sync_quickstart
