"""Every module the container side needs is imported before its root changes.

The container's init (after pivot_root, or chroot: --no-pivot, no mount
namespace) and an exec'd process (after setns into the container's mount
namespace) can no longer reach site-packages nor the standard library. A
module imported lazily after that point fails under the script launcher and
`python -m ocirt`, and passes unnoticed under the compiled launcher, whose
image still holds ocirt's own modules. So each init path runs here under
the three launchers, with OCIRT_CHECK_IMPORTS=1: ocirt.cli.check_imports
then makes any import in a process whose root changed fail, naming the
module, whichever launcher runs (a built-in module needs no file and is
allowed).
"""
import os
import subprocess
import sys

import pytest

from tests.conftest import ocirt_binary
from tests.integration.conftest import Runtime
from tests.integration.test_terminal import ConsoleSocket, read_until_closed


@pytest.fixture(scope="module")
def launchers(tmp_path_factory):
    d = tmp_path_factory.mktemp("launchers")
    compiled = ocirt_binary()
    with open(compiled, "rb") as f:
        assert f.read(4) == b"\x7fELF", f"{compiled} is not the compiled launcher"
    script = str(d / "ocirt-script")
    # without --source: the script launcher (python -IS, modules from site-packages)
    p = subprocess.run([sys.executable, "-I", "-m", "ocirt.launcher", script],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "script launcher" in p.stderr, p.stderr
    module = str(d / "ocirt-module")
    with open(module, "w") as f:  # -I: the installed ocirt, not the one in the cwd
        f.write(f'#!/bin/sh\nexec {sys.executable} -I -m ocirt "$@"\n')
    os.chmod(module, 0o755)
    return {"compiled": compiled, "script": script, "python -m ocirt": module}


@pytest.fixture(params=["compiled", "script", "python -m ocirt"])
def lrt(request, launchers, tmp_path, rootfs, monkeypatch):
    """rt, run through one launcher, with the import check on."""
    monkeypatch.setenv("OCIRT_CHECK_IMPORTS", "1")
    r = Runtime(tmp_path, rootfs)
    r.bin = launchers[request.param]
    p = r("--version", root=False)
    assert p.returncode == 0, p.stderr
    if request.param == "compiled":
        assert "launcher: compiled, with its image" in p.stdout, p.stdout
    else:
        assert "launcher: the Python interpreter" in p.stdout, p.stdout
    yield r
    problems = r.cleanup()
    assert not problems, problems


def _ok(p):
    assert p.returncode == 0, p.stderr
    assert "after the root changed" not in p.stderr, p.stderr
    return p.stdout


def _hooks(cfg):
    inside = {"path": "/bin/true", "args": ["true"]}  # resolved in the container
    host = {"path": "/bin/true", "args": ["true"]}
    cfg["hooks"] = {"prestart": [host], "createRuntime": [host], "createContainer": [inside],
                    "startContainer": [inside], "poststart": [host], "poststop": [host]}


def _seccomp(cfg):
    cfg["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    cfg["process"]["noNewPrivileges"] = True


def _userns(cfg):
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]


def _no_mount_ns(cfg):
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"]
                                  if n["type"] != "mount"]


def test_plain_run(lrt):
    assert _ok(lrt.run(["sh", "-c", "echo in"])) == "in\n"


def test_built_in_init(lrt):
    # ocirt.linux.pid1 executes the init after pivot_root
    p = lrt("run", "--init", "--bundle", lrt.bundle(["sh", "-c", "echo $$"]), lrt.new_id())
    assert _ok(p) == "2\n"


def test_hooks(lrt):
    assert _ok(lrt.run(["sh", "-c", "echo in"], _hooks)) == "in\n"


def test_seccomp(lrt):
    # uname fails under the filter: busybox prints an empty line
    assert _ok(lrt.run(["sh", "-c", "uname -n; echo done"], _seccomp)) == "\ndone\n"


def test_user_namespace(lrt):
    assert _ok(lrt.run(["id", "-u"], _userns)) == "0\n"


def test_no_pivot(lrt):
    b = lrt.bundle(("sh", "-c", "echo in"))
    assert _ok(lrt("run", "--no-pivot", "--bundle", b, lrt.new_id())) == "in\n"


def test_no_mount_namespace(lrt):
    assert _ok(lrt.run(["sh", "-c", "echo in"], _no_mount_ns)) == "in\n"


def test_console(lrt, tmp_path):
    cs = ConsoleSocket(tmp_path / "console.sock")
    try:
        def edit(cfg):
            cfg["process"]["terminal"] = True
        cid = lrt.new_id()
        _ok(lrt("create", "--console-socket", cs.path, "--bundle",
                lrt.bundle(("sh", "-c", "tty; echo done"), edit), cid))
        master, _ = cs.master()
        try:
            _ok(lrt("start", cid))
            out = read_until_closed(master)
        finally:
            os.close(master)
    finally:
        cs.close()
    assert out.splitlines()[-2:] == ["/dev/pts/0", "done"], out
    _ok(lrt("delete", "--force", cid))


def test_exec(lrt):
    cid = lrt.running(("sleep", "1000"))
    assert _ok(lrt("exec", cid, "sh", "-c", "echo in")) == "in\n"
    _ok(lrt("delete", "--force", cid))


def test_the_check_catches_a_late_import(rootfs):
    """The check itself: after chroot, an import of a module not yet loaded
    fails with the check's message (not only "No module named"); a built-in
    one does not."""
    script = ("import os, sys\n"
              "from ocirt.cli import check_imports\n"
              "check_imports()\n"
              "import json\n"  # before: fine
              f"os.chroot({rootfs!r}); os.chdir('/')\n"
              "import fcntl\n"  # built in: fine
              "sys.path.insert(0, '/')\n"
              "try:\n"
              "    import colorsys\n"
              "except ImportError as e:\n"
              "    print(e)\n")
    env = dict(os.environ, OCIRT_CHECK_IMPORTS="1")
    p = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True,
                       env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("import of colorsys after the root changed"), p.stdout
