"""A state root on a filesystem that does not carry unix sockets (a 9p or
NFS share): create's exec socket cannot work there, and create says so in
one line naming the state directory, and leaves nothing behind.

The qemu lane shares the repository over 9p (tests/vm/lane.sh
tests/integration/test_state_root_fs.py); elsewhere the test is skipped.
"""
import os
import shutil
import uuid

import pytest

from tests.conftest import ROOT
from tests.integration.conftest import one_line_error


def _fstype(path):
    """The type of the mount holding <path> (mountinfo: `stat -f` over 9p
    reports the type of the host's filesystem underneath)."""
    best, kind = "", ""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            point = left.split()[4]
            if (path == point or path.startswith(point.rstrip("/") + "/")) and \
                    len(point) >= len(best):
                best, kind = point, right.split()[0]
    return kind


def test_state_root_on_9p_is_one_clear_line(rt):
    if _fstype(ROOT) not in ("v9fs", "9p"):
        pytest.skip(f"the repository is on {_fstype(ROOT)!r}, not a 9p share (the qemu lane's)")
    root = os.path.join(ROOT, f".ocirt-9p-{uuid.uuid4().hex[:8]}")
    try:
        cid = rt.new_id()
        p = rt("--root", root, "create", "--bundle", rt.bundle(["true"]), cid, root=False)
        line = one_line_error(p, f"state directory {root}/{cid}", "exec.sock",
                              "local filesystem")
        assert os.listdir(root) == [], line  # no state directory left
    finally:
        shutil.rmtree(root, ignore_errors=True)
