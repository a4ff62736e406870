"""The container's init dies before it is ready: create says how."""
import os
import shutil
import sys


def _one_line(p):
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert "internal error" not in p.stderr and "Traceback" not in p.stderr
    return lines[0]


def test_init_killed_by_a_signal(rt):
    script = "import json, os, sys; os.kill(json.load(sys.stdin)['pid'], 9)"

    def edit(cfg):
        cfg["hooks"] = {"createRuntime": [{"path": sys.executable,
                                           "args": [sys.executable, "-c", script]}]}
    cid = rt.new_id()
    line = _one_line(rt("create", "--bundle", rt.bundle(["true"], edit), cid))
    assert "the container's init was killed by signal 9 (SIGKILL) before it was ready" in line
    assert "OOM" not in line
    assert not os.path.exists(os.path.join(rt.root, cid))


def test_init_oom_killed_during_setup(rt, public_tmp):
    """tmpcopyup copies 40 MB into a tmpfs charged to a 16 MiB cgroup."""
    root = public_tmp / "rootfs"
    shutil.copytree(rt.rootfs, root, symlinks=True)
    (root / "big").mkdir()
    with open(root / "big" / "blob", "wb") as f:
        f.write(os.urandom(40 << 20))

    def edit(cfg):
        cfg["root"] = {"path": str(root), "readonly": False}
        cfg["linux"]["resources"] = {"memory": {"limit": 16 << 20, "swap": 16 << 20}}
        cfg["mounts"].append({"destination": "/big", "type": "tmpfs", "source": "tmpfs",
                              "options": ["tmpcopyup"]})
    cid = rt.new_id()
    line = _one_line(rt("create", "--bundle", rt.bundle(["true"], edit), cid))
    assert "the container's init was killed by signal 9 (SIGKILL)" in line, line
    assert "the OOM killer killed it ($.linux.resources.memory.limit" in line, line
    assert not os.path.exists(os.path.join(rt.root, cid))
