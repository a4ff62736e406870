#!/bin/bash
# Install what ocirt needs on a fresh Debian 12 machine (as root) and build it
# into a virtual environment at $VENV (default: ./.venv).
# Idempotent: a second run only re-installs the package.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-$PWD/.venv}
PKGS=$(cat scripts/debian-packages.txt)
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "setup: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# Debian's interpreter: it starts about 1 ms faster than a shared-libpython
# build, and every ocirt command pays interpreter start-up.
PY=${PYTHON:-/usr/bin/python3}
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
log=$(mktemp)
# setuptools builds in ./build and keeps what is there: a module since
# removed from the tree would be installed again
rm -rf build
if ! "$VENV/bin/pip" install -v --disable-pip-version-check ".[test]" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "setup: pip install failed" >&2
    exit 1
fi
# pip install builds the `ocirt` command too (setup.py): the compiled
# launcher, the interpreter embedded with ocirt's modules precompiled into it;
# say so if it had to write the slower script launcher instead
grep -h "writing the script launcher" "$log" >&2 || true
# and if the built-in init (--init, csrc/init.c) could not be built
grep -h "the built-in init (--init) was not built" "$log" >&2 || true
rm -f "$log"
echo "setup: ocirt installed at $VENV/bin/ocirt" >&2
