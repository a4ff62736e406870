#!/bin/bash
# Set everything up on a fresh Debian 12 machine (as root) and run the whole
# test suite: unit tests (no root needed) and integration tests (real containers).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
exec "$PWD/.venv/bin/python" -m pytest -p no:cacheprovider tests "$@"
