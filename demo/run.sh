#!/bin/bash
# Build ocirt and run the demo container: it prints its hostname, its pid,
# `id`, and its mount table. Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
bundle=demo/bundle
rm -rf "$bundle"
demo/make-bundle.sh "$bundle" sh -c \
    'echo "hostname: $(hostname)"; echo "pid: $$"; id; echo "mounts:"; cat /proc/self/mountinfo'
ocirt delete --force ocirt-demo 2>/dev/null || true
exec ocirt run --bundle "$bundle" ocirt-demo
