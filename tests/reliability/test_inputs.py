"""Inputs that are too big, never end, or are not what they claim, and
records that are broken or half written: every one is one clear line on
stderr, a non-zero exit, and nothing left behind; `list` lists what it can."""
import json
import os
import signal
import subprocess
import tempfile

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from tests.integration.conftest import read_fifo

MAX_CONFIG = 16 << 20  # README: the largest config.json (and --process, -r) read


def one_line_error(p, *needles):
    assert p.returncode != 0, (p.stdout, p.stderr)
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr, p.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def bundle_with(rt, make_config):
    """A bundle whose config.json make_config(path) makes."""
    b = rt.tmp / f"odd{len(os.listdir(rt.tmp))}"
    b.mkdir()
    make_config(str(b / "config.json"))
    return b


# ------------------------------------------------- broken and partial records

def test_one_corrupt_state_json_does_not_hide_the_others(rt):
    good = rt.created()
    bad = rt.created()
    with open(os.path.join(rt.root, bad, "state.json"), "w") as f:
        f.write("{not json at all")
    for fmt in ("table", "json"):
        p = rt("list", "--format", fmt)
        assert p.returncode == 0, p.stderr
        assert good in p.stdout and bad not in p.stdout, p.stdout
        assert len(p.stderr.splitlines()) == 1 and bad in p.stderr and \
            "state.json" in p.stderr, p.stderr
    one_line_error(rt("state", bad), bad, "state.json")
    one_line_error(rt("delete", bad), bad, "delete --force")
    assert rt.state(good)["status"] == "created"
    p = rt("delete", "--force", bad)  # its init (in its cgroup) goes too
    assert p.returncode == 0, p.stderr
    assert not os.path.exists(os.path.join(rt.root, bad))


def test_state_json_that_parses_badly_in_the_middle(rt):
    """Starts and ends as ocirt writes it, invalid inside: list warns."""
    good = rt.created()
    bad = rt.created()
    path = os.path.join(rt.root, bad, "state.json")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text[:-1] + ', "x": }')
    p = rt("list", "--format", "json")
    assert p.returncode == 0, p.stderr
    assert [s["id"] for s in json.loads(p.stdout)] == [good]
    assert bad in p.stderr


def test_corrupt_init_record(rt):
    cid = rt.created()
    with open(os.path.join(rt.root, cid, "init"), "w") as f:
        f.write("pid banana\n")
    one_line_error(rt("state", cid), cid, "init")
    p = rt("list")
    assert p.returncode == 0 and cid not in p.stdout and cid in p.stderr


@pytest.fixture
def blocked_create(rt, tmp_path):
    """An `ocirt create` that stands in its createRuntime hook until released:
    the state directory exists, without a record yet."""
    gate = tmp_path / "gate"
    entered = tmp_path / "entered"
    os.mkfifo(gate)
    os.mkfifo(entered)
    cid = rt.new_id()

    def hook(cfg):
        cfg.setdefault("hooks", {})["createRuntime"] = [{
            "path": "/bin/sh",
            "args": ["sh", "-c", f"echo in > {entered}; read x < {gate}"]}]
    b = rt.bundle(("sleep", "1000"), edit=hook)
    out = tempfile.TemporaryFile()
    proc = subprocess.Popen([rt.bin, "--root", rt.root, "create", "--bundle", b, cid],
                            stdout=out, stderr=out, stdin=subprocess.DEVNULL)
    assert read_fifo(entered) == "in\n"

    def release():
        fd = os.open(gate, os.O_WRONLY)
        os.write(fd, b"go\n")
        os.close(fd)
    yield cid, proc, release
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    out.close()


def test_list_and_state_while_a_container_is_being_created(rt, blocked_create):
    cid, proc, release = blocked_create
    for fmt in ("table", "json"):
        p = rt("list", "--format", fmt)
        assert p.returncode == 0 and "internal error" not in p.stderr, p.stderr
        assert cid in p.stdout and "creating" in p.stdout, p.stdout
    assert rt.state(cid)["status"] == "creating"
    release()
    assert proc.wait(60) == 0
    assert rt.state(cid)["status"] == "created"


def test_a_create_killed_halfway_reads_as_stopped_and_delete_cleans_it(rt, blocked_create):
    cid, proc, release = blocked_create
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    release()  # the orphaned hook
    st = rt.state(cid)
    assert (st["status"], st["pid"]) == ("stopped", 0)
    p = rt("list")
    assert p.returncode == 0 and cid in p.stdout and "stopped" in p.stdout, p.stdout
    p = rt("delete", cid)
    assert p.returncode == 0, p.stderr
    rt.assert_nothing_left()  # the state dir, and the cgroup create had made
