"""The launcher's way out: ocirt.cli.launch() flushes and leaves with _exit.

Skipping the interpreter's teardown must not cost a byte of output or the
exit status, whichever parser (fast, click) handled the command."""
import json
import os
import subprocess
import sys

import pytest

from ocirt import state

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAUNCH = "from ocirt.cli import launch; launch()"


def launch(*argv, stdout=subprocess.PIPE):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return subprocess.run([sys.executable, "-c", LAUNCH] + list(argv), cwd=ROOT, env=env,
                          stdout=stdout, stderr=subprocess.PIPE, timeout=60)


BIG = {f"k{i}": "v" * 100 for i in range(2000)}  # far more than a pipe's buffer


@pytest.fixture
def big_root(tmp_path):
    c = state.new(str(tmp_path), "c1")
    c.facts = {"pid": 0, "starttime": 0, "pidns": 1}
    c.save({"ociVersion": "1.3.0", "id": "c1", "bundle": "/b", "annotations": BIG})
    return str(tmp_path)


def test_output_is_complete_through_a_pipe(big_root):
    p = launch("--root", big_root, "state", "c1")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)  # all of it, or this fails
    assert doc["annotations"] == BIG and doc["status"] == "stopped"


def test_error_status_and_one_line(tmp_path):
    p = launch("--root", str(tmp_path), "state", "missing")
    assert p.returncode == 1
    assert p.stderr == b"container does not exist: missing\n"
    assert p.stdout == b""


def test_click_path_status():
    p = launch("--version")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(b"ocirt version ")
    p = launch("no-such-command")
    assert p.returncode != 0 and b"Traceback" not in p.stderr


@pytest.mark.parametrize("code,status,err", [("None", 0, b""), ("3", 3, b""),
                                              ('"bye"', 1, b"bye\n"), ("256 + 7", 7, b"")])
def test_system_exit_inside_a_command(code, status, err):
    """sys.exit() deep inside a command (click does it) keeps its meaning."""
    script = ("import ocirt.cli as c\n"
              f"c.dispatch = lambda argv: exec('import sys; sys.exit({code})')\n"
              "c.launch()\n")
    p = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                       timeout=60)
    assert p.returncode == status
    assert p.stderr == err


def test_closed_stdout_is_not_a_traceback(big_root):
    r, w = os.pipe()
    os.close(r)  # the reader is gone: writing gets EPIPE
    try:
        p = launch("--root", big_root, "state", "c1", stdout=w)
    finally:
        os.close(w)
    assert b"Traceback" not in p.stderr, p.stderr
