#!/bin/bash
# tests/vm/lane.sh [PYTEST ARGS...]
#
# Run pytest inside a throw-away qemu guest (the vm-lane kit): a 6.1 kernel with
# a pure cgroup v2 hierarchy at /sys/fs/cgroup and every controller enabled at
# the root, real root, and optionally systemd as PID 1 (KVMRUN_INIT=systemd).
# The host's / is the guest's read-only root; the repo (this script's ../..) is
# shared read-write, so the guest uses the repo's .venv and its compiled shim.
#
#   tests/vm/lane.sh tests/integration/test_lifecycle.py -x -q
#   KVMRUN_INIT=systemd tests/vm/lane.sh tests/integration -k cgroup
#
# Needs the venv (bash scripts/setup.sh, or a previous tests/run.sh).
# Environment:
#   VM_LANE          the kit (default: ../shared/vm-lane relative to the repo root)
#   KVMRUN_TIMEOUT   guest time limit in seconds (default here: 1800)
#   KVMRUN_*, VM_LANE_WORK  passed to the kit (see its README.md)
#   CI, OCIRT, PYTEST_ADDOPTS, HYPOTHESIS_*  passed into the guest
# The guest does NOT get the rest of the caller's environment (a pyenv shim on
# PATH costs seconds per `python3` under TCG, and host-only paths such as
# TMPDIR may not exist or not be writable there).
#
# Exit code: pytest's; 2 when the kit or the venv is missing; 124 when
# KVMRUN_TIMEOUT is hit; 125 when the guest fails to boot (see the kit).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KIT=${VM_LANE:-}
if [ -z "$KIT" ]; then
    for d in "$ROOT/../shared/vm-lane" /work/shared/vm-lane; do
        [ -f "$d/run-in-guest.sh" ] && { KIT=$d; break; }
    done
fi
if [ ! -f "${KIT:-/nonexistent}/run-in-guest.sh" ]; then
    echo "tests/vm/lane.sh: vm-lane kit not found at ${KIT:-../shared/vm-lane or /work/shared/vm-lane} (set VM_LANE to the directory holding run-in-guest.sh)" >&2
    exit 2
fi
KIT=$(cd "$KIT" && pwd)
if [ "${1:-}" = "--where" ]; then  # print the kit's path, boot nothing
    echo "$KIT"
    exit 0
fi
# The venv's python by its own path: resolving the symlink would leave the venv.
PY=$ROOT/.venv/bin/python
if [ ! -x "$PY" ] || [ ! -x "$ROOT/.venv/bin/ocirt" ]; then
    echo "tests/vm/lane.sh: no venv with ocirt at $ROOT/.venv (run: bash scripts/setup.sh)" >&2
    exit 2
fi

# A clean environment for the guest (the kit exports its caller's whole
# environment into the guest): the kit's knobs and a few test knobs pass.
# TMPDIR: a fresh tmpfs of the lane's own in the guest (see GUEST_PRE), not the
# 9p share and not /tmp (in systemd mode that is the host's /tmp, and the repo
# itself may live there: a CI clone often does).
envv=(
    "PATH=$ROOT/.venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    "HOME=${HOME:-/root}"
    "TMPDIR=/run/ocirt-lane-tmp"
    "LANG=C.UTF-8"
    # tests/conftest.py: CI loads the hypothesis "ci" profile (derandomized,
    # hence no example database writes to the shared repo)
    "CI=${CI:-1}"
    "KVMRUN_TIMEOUT=${KVMRUN_TIMEOUT:-1800}"
)
while IFS= read -r v; do
    case $v in
        KVMRUN_TIMEOUT) ;;
        KVMRUN_*|VM_LANE_WORK|OCIRT|PYTEST_ADDOPTS|HYPOTHESIS_*) envv+=("$v=${!v}");;
    esac
done < <(compgen -e)

# In the guest, before pytest: a fresh tmpfs for TMPDIR (in systemd mode /tmp
# is the overlay over the host's /tmp, and mounting over it would hide a repo
# that lives there).
GUEST_PRE='mkdir -p /run/ocirt-lane-tmp &&
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /run/ocirt-lane-tmp || exit 125
exec "$@"'

cd "$ROOT"
exec env -i "${envv[@]}" bash "$KIT/run-in-guest.sh" \
    /bin/bash -c "$GUEST_PRE" lane "$PY" -m pytest -p no:cacheprovider "$@"
