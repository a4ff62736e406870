"""Large values through create's parent/child channel (ocirt.protocol).

Kubernetes allows 256 KiB of annotations, and the state that carries them
goes to the create-time hooks through the channel; an error about a 1 MB
path comes back through it. Neither may be truncated or block create.
"""
import json
import os
import sys

import pytest

from tests.reliability.conftest import bind


def test_large_annotations_reach_a_create_container_hook(rt, tmp_path):
    out = tmp_path / "hook"
    out.mkdir()
    annotations = {f"io.example/k{i}": "v" * 1000 for i in range(300)}  # ~300 KB
    # the hook runs in the container's namespaces before pivot_root, where
    # the host's python is still there
    script = ("import json, sys; d = json.load(sys.stdin); "
              f"open({str(out / 'seen')!r}, 'w').write(json.dumps("
              "[d['status'], len(d['annotations']), sum(map(len, d['annotations'].values()))]))")

    def edit(cfg):
        cfg["annotations"] = annotations
        cfg["hooks"] = {"createContainer": [{"path": sys.executable,
                                             "args": [sys.executable, "-c", script]}],
                        "createRuntime": [{"path": "/bin/true"}]}
    p = rt.run(["true"], edit)
    assert p.returncode == 0, p.stderr
    assert json.loads((out / "seen").read_text()) == ["creating", 300, 300 * 1000]


def test_large_annotations_in_state(rt):
    annotations = {f"k{i}": "x" * 1000 for i in range(300)}

    def edit(cfg):
        cfg["annotations"] = annotations
    cid = rt.created(edit=edit)
    assert rt.state(cid)["annotations"] == annotations


MB = "a" * (1 << 20)


@pytest.mark.parametrize("field", ["cwd", "args0", "mount"])
def test_a_megabyte_path_fails_quickly_and_cleanly(rt, field, tmp_path):
    def edit(cfg):
        if field == "cwd":
            cfg["process"]["cwd"] = "/" + MB
        elif field == "args0":
            cfg["process"]["args"] = ["/" + MB]
        else:
            bind(cfg, tmp_path, "/" + MB)
    cid = rt.new_id()
    p = rt("run", "--bundle", rt.bundle(["true"], edit), cid, timeout=30)
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr[:2000]
    assert "internal error" not in p.stderr and len(p.stderr) < 16384, p.stderr[:2000]
    assert not os.path.exists(os.path.join(rt.root, cid))


def test_a_hook_that_does_not_read_its_stdin(rt):
    """The runtime writes the state to a hook that exits without reading it:
    an EPIPE for the runtime (not a SIGPIPE that kills it halfway)."""
    def edit(cfg):
        cfg["annotations"] = {f"k{i}": "v" * 1000 for i in range(200)}
        cfg["hooks"] = {p: [{"path": "/bin/true"}] for p in
                        ("prestart", "createRuntime", "createContainer", "poststart",
                         "poststop")}
    p = rt.run(["true"], edit)
    assert p.returncode == 0, p.stderr


def test_container_processes_ignore_no_signal(rt):
    """The runtime ignores SIGPIPE and SIGXFSZ; what it executes does not."""
    p = rt.run(["grep", "SigIgn", "/proc/self/status"])
    assert p.stdout.split() == ["SigIgn:", "0" * 16], p.stdout
    cid = rt.running()
    p = rt("exec", cid, "grep", "SigIgn", "/proc/self/status")
    assert p.stdout.split() == ["SigIgn:", "0" * 16], p.stdout
