"""The hot commands (state, start, kill, delete) stay light.

Every ocirt call is a fresh interpreter, and engines call state/start/kill/
delete constantly, so their import graph is part of their cost. Each case
runs `ocirt.cli.main` in a fresh interpreter, the way the console script
does, and compares sys.modules before and after.

The containers used here are fakes written into a temporary state root (their
"init" is a `sleep` process of this test): no root, no real container.
"""
import ast
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

import pytest

from ocirt import state
from ocirt.linux.proc import start_time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FORBIDDEN = frozenset({
    "os", "errno", "ocirt.container.create",  # about 1 ms: the hot path uses ocirt.posixos (the launcher runs python -S)
    "click", "json", "re", "enum", "socket", "signal", "subprocess", "shutil", "dataclasses",
    "typing", "jsonschema", "cffi", "ocirt._shim", "ocirt.config", "ocirt.jsonschema_lite",
    "ocirt.stage1", "ocirt.init", "ocirt.become", "ocirt.container.exec",
})

# Every ocirt module a hot command may import: those all of them need, and
# each command's own. A new import on the hot path must be added here on purpose.
ALLOWED_OCIRT = frozenset({
    "ocirt", "ocirt.cli", "ocirt.cli.fast", "ocirt.cli.flags",  # the flag table: plain data
    "ocirt.cli.commands", "ocirt.errors", "ocirt.log",
    "ocirt.state", "ocirt.posixos", "ocirt.linux", "ocirt.linux.proc",
    "ocirt.linux.freezer",  # a running container's status: paused or not
})
ALLOWED_BY_COMMAND = {
    "state": frozenset(),
    "start": frozenset({"ocirt.container", "ocirt.container.start",
                        "ocirt.protocol"}),  # its constants; it imports json and socket lazily
    "kill": frozenset({"ocirt.container", "ocirt.container.kill", "ocirt.linux.signals"}),
    "kill --all": frozenset({"ocirt.container", "ocirt.container.kill", "ocirt.linux.signals",
                             "ocirt.linux.cgroups"}),  # the cgroup's processes
    "delete": frozenset({"ocirt.container", "ocirt.container.delete",
                         "ocirt.linux.cgroups",  # removing its directories
                         "ocirt.container.kill"}),  # --force of a running container
}


def command_of(argv):
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] in ("--root", "--log", "--log-format") else 1
    cmd = argv[i] if i < len(argv) else None
    return "kill --all" if cmd == "kill" and "--all" in argv else cmd


SCRIPT = r"""
import sys
before = set(sys.modules)
from ocirt.cli import main
try:
    main(sys.argv[1:])
    code = 0
except SystemExit as e:
    code = e.code
new = sorted(set(sys.modules) - before)
sys.stdout.write("\n@@RESULT@@" + repr((code, new)) + "\n")
"""


def run_hot(argv, site=False):
    """Run `ocirt <argv>` in a fresh interpreter: (exit code, new modules, stdout, stderr)."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    # -S as the launcher: no site module, which would import os itself
    flags = [] if site else ["-S"]
    p = subprocess.run([sys.executable] + flags + ["-c", SCRIPT] + list(argv), cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=60)
    marker = p.stdout.rfind("@@RESULT@@")
    assert marker >= 0, f"no result from the child:\n{p.stdout}\n{p.stderr}"
    code, new = ast.literal_eval(p.stdout[marker + len("@@RESULT@@"):].strip())
    return code, new, p.stdout[:marker].rstrip("\n"), p.stderr


def check_light(argv, new):
    heavy = sorted(FORBIDDEN & set(new))
    ours = sorted(m for m in new if m == "ocirt" or m.startswith("ocirt."))
    allowed = ALLOWED_OCIRT | ALLOWED_BY_COMMAND.get(command_of(argv), frozenset())
    unexpected = sorted(set(ours) - allowed)
    report = (f"ocirt {' '.join(argv)}\n  forbidden modules imported: {heavy}\n"
              f"  ocirt modules imported: {ours}\n  not in the allowed list: {unexpected}\n"
              f"  all new modules: {new}")
    assert not heavy and not unexpected, report


@pytest.fixture
def root():
    # short, so that <root>/<id>/exec.sock fits in sun_path
    d = tempfile.mkdtemp(prefix="ocirt-imp-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


# ------------------------------------------------------ missing / invalid

@pytest.mark.parametrize("tail,expected_code", [
    (["state", "missing"], 1),
    (["start", "missing"], 1),
    (["kill", "missing"], 1),
    (["kill", "missing", "KILL"], 1),
    (["kill", "--all", "missing", "9"], 1),
    (["delete", "missing"], 1),
    (["delete", "--force", "missing"], 0),
    (["state", "../bad"], 1),
    (["start", "bad/id"], 1),
    (["kill", ".."], 1),
    (["delete", "a b"], 1),
    (["kill", "missing", "NOSUCHSIG"], 1),
])
def test_hot_command_errors_stay_light(root, tail, expected_code):
    argv = ["--root", root] + tail
    code, new, out, err = run_hot(argv)
    assert code == expected_code, err
    assert "Traceback" not in err, err
    check_light(argv, new)


def test_engine_style_flags_stay_light(root):
    # containerd/conmon pass --root, --log and --log-format json to every call.
    log = os.path.join(root, "log.json")
    argv = ["--root", root, "--log", log, "--log-format", "json", "--systemd-cgroup",
            "delete", "--force", "missing"]
    code, new, out, err = run_hot(argv)
    assert code == 0, err
    check_light(argv, new)


# -------------------------------------------------- fake containers

def fake_container(root, cid, pid, exec_sock=False, cgroup_dir=None):
    c = state.new(root, cid)
    c.facts = {"pid": pid, "starttime": start_time(pid) if pid else 0, "pidns": 1}
    if cgroup_dir:
        os.makedirs(cgroup_dir)
        with open(os.path.join(cgroup_dir, "cgroup.procs"), "w") as f:
            f.write(f"{pid}\n")
        with open(os.path.join(cgroup_dir, "cgroup.freeze"), "w") as f:
            f.write("0\n")
        c.record_cgroup({"unified": cgroup_dir}, [])
    c.save({"ociVersion": "1.3.0", "id": cid, "bundle": "/nonexistent/bundle",
            "annotations": {"k": "v"}})
    return c


@pytest.fixture
def init():
    """A process standing in for a container's init."""
    p = subprocess.Popen(["sleep", "60"])
    yield p
    p.kill()
    p.wait()


def test_state_of_running_container(root, init):
    fake_container(root, "c1", init.pid, cgroup_dir=os.path.join(root, "cg"))
    argv = ["--root", root, "state", "c1"]
    code, new, out, err = run_hot(argv)
    assert code == 0, err
    assert f'"pid": {init.pid},\n  "status": "running"' in out
    check_light(argv, new)


def test_state_of_stopped_container(root):
    fake_container(root, "c1", 0)
    argv = ["--root", root, "state", "c1"]
    code, new, out, err = run_hot(argv)
    assert code == 0, err
    assert '"status": "stopped"' in out
    check_light(argv, new)


def test_kill_running_container(root, init):
    fake_container(root, "c1", init.pid)
    argv = ["--root", root, "kill", "c1", "TERM"]
    code, new, out, err = run_hot(argv)
    assert code == 0, err
    assert init.wait(10) == -15
    check_light(argv, new)


def test_kill_all_running_container(root, init):
    fake_container(root, "c1", init.pid, cgroup_dir=os.path.join(root, "cg"))
    argv = ["--root", root, "kill", "--all", "c1", "KILL"]
    code, new, out, err = run_hot(argv)
    assert code == 0, err
    assert init.wait(10) == -9
    check_light(argv, new)


def test_kill_stopped_container_is_refused(root):
    fake_container(root, "c1", 0)
    argv = ["--root", root, "kill", "c1"]
    code, new, out, err = run_hot(argv)
    assert code == 1 and "Traceback" not in err
    check_light(argv, new)


def test_delete_stopped_container(root):
    fake_container(root, "c1", 0)
    argv = ["--root", root, "delete", "c1"]
    code, new, out, err = run_hot(argv)
    assert code == 0, err
    assert not os.path.exists(os.path.join(root, "c1"))
    check_light(argv, new)


def test_delete_force_running_container(root, init):
    fake_container(root, "c1", init.pid)
    argv = ["--root", root, "delete", "--force", "c1"]
    code, new, out, err = run_hot(argv)
    assert code == 0, err
    assert init.wait(10) == -9
    assert not os.path.exists(os.path.join(root, "c1"))
    check_light(argv, new)


def test_start_created_container(root, init):
    """`start` of a created container: connects to exec.sock, sends b"S", reads EOF."""
    c = fake_container(root, "c1", init.pid)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(os.path.join(c.dir, state.EXEC_SOCKET))
    server.listen(1)
    server.settimeout(30)
    received = []

    def serve():
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            received.append(conn.recv(16))

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    argv = ["--root", root, "start", "c1"]
    try:
        code, new, out, err = run_hot(argv)
    finally:
        t.join(30)
        server.close()
    assert code == 0, err
    assert received == [b"S"]
    check_light(argv, new)


def test_start_stopped_container_is_refused(root):
    fake_container(root, "c1", 0)
    argv = ["--root", root, "start", "c1"]
    code, new, out, err = run_hot(argv)
    assert code == 1 and "Traceback" not in err
    check_light(argv, new)


def test_checker_sees_a_heavy_import():
    """The harness itself: a command that takes the click path is caught."""
    code, new, out, err = run_hot(["--help"], site=True)  # click lives in site-packages
    assert code == 0
    assert "click" in new
    with pytest.raises(AssertionError):
        check_light(["--help"], new)
