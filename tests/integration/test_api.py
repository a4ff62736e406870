"""ocirt's Python API (ocirt.Runtime, ocirt.State, ocirt.Config, the errors),
used the way a user's program uses it: a script run by the interpreter that
has ocirt installed, from a directory outside the source tree, which prints
what it saw as JSON for the test to check. Real containers; each test's
containers live in the `rt` fixture's state root, which checks that nothing
is left behind.
"""
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT
from tests.integration.conftest import base_config, one_line_error, read_fifo, shared_dir

PRELUDE = """\
import json, os, sys
import ocirt
rt = ocirt.Runtime(root=sys.argv[1])
def out(**kw):
    print(json.dumps(kw), flush=True)
"""


def api(rt, body, *args, timeout=60, prelude=PRELUDE):
    """Run <body> (Python, after PRELUDE) as a user's script; its printed
    JSON objects, merged. A traceback fails the test."""
    script = rt.tmp / f"script{len(os.listdir(rt.tmp))}.py"
    script.write_text(prelude + textwrap.dedent(body))
    p = subprocess.run([sys.executable, str(script), rt.root] + [str(a) for a in args],
                       cwd=str(rt.tmp), capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr, p.stderr
    merged = {}
    for line in p.stdout.splitlines():
        if line.startswith("{"):
            merged.update(json.loads(line))
    return merged


def test_the_package_imported_is_the_installed_one_and_import_is_cheap(rt):
    got = api(rt, """
        import json, sys
        import ocirt
        loaded = sorted(m for m in sys.modules if m.startswith("ocirt"))
        ocirt.Runtime
        after = sorted(m for m in sys.modules if m.startswith("ocirt"))
        print(json.dumps(dict(file=ocirt.__file__, loaded=loaded, after=after)))
    """, prelude="")
    assert not got["file"].startswith(ROOT + "/ocirt"), got["file"]
    assert got["loaded"] == ["ocirt"]  # `import ocirt` loads nothing of the API
    assert "ocirt.runtime" in got["after"] and "ocirt.api" not in got["after"]


def test_lifecycle_with_typed_state(rt, tmp_path):
    host, edit = shared_dir(tmp_path, "/sync")
    bundle = rt.bundle(["sh", "-c", "echo $$ > /sync/fifo; exec sleep 1000"], edit)
    cid = rt.new_id()
    got = api(rt, """
        import dataclasses
        cid, bundle, fifo = sys.argv[2:5]
        pid = rt.create(cid, bundle)
        s = rt.state(cid)
        out(pid=pid, created=[s.status, s.pid, s.id, s.bundle, s.oci_version,
                              s.created_at is not None, s.alive])
        try:
            s.status = "x"
        except dataclasses.FrozenInstanceError:
            out(frozen=True)
        rt.start(cid)
        with open(fifo) as f:
            out(inner_pid=f.read().strip())
        out(running=rt.state(cid).status, ps=rt.ps(cid),
            listed=[(x.id, x.status) for x in rt.list()])
        rt.pause(cid)
        out(paused=rt.state(cid).status)
        rt.resume(cid)
        rt.kill(cid, "KILL")
        fd = os.pidfd_open(pid)
        import select
        select.select([fd], [], [], 20)
        out(stopped=[rt.state(cid).status, rt.state(cid).pid])
        rt.delete(cid)
        try:
            rt.state(cid)
        except ocirt.ContainerNotFound as e:
            out(gone=e.id)
    """, cid, bundle, host / "fifo")
    assert got["created"] == ["created", got["pid"], cid, bundle, "1.3.0", True, True]
    assert got["frozen"] is True
    assert got["inner_pid"] == "1"  # its own pid namespace: the process is the init
    assert got["running"] == "running" and got["pid"] in got["ps"]
    assert got["listed"] == [[cid, "running"]]
    assert got["paused"] == "paused"
    assert got["stopped"] == ["stopped", 0]
    assert got["gone"] == cid


def test_the_state_is_what_the_cli_prints(rt):
    cid = rt.running()
    got = api(rt, """
        s = rt.state(sys.argv[2])
        out(doc=s.to_dict(), text=rt.state_text(sys.argv[2]))
    """, cid)
    cli = rt("state", cid, check=True).stdout
    assert got["text"] == cli
    assert got["doc"] == json.loads(cli)


def test_run_returns_the_exit_status_and_gives_the_signal_handlers_back(rt):
    bundle = rt.bundle(["sh", "-c", "exit 3"])
    cid = rt.new_id()
    got = api(rt, """
        import signal
        before = signal.getsignal(signal.SIGINT)
        status = rt.run(sys.argv[2], sys.argv[3])
        out(status=status, handler_back=signal.getsignal(signal.SIGINT) is before,
            left=[s.id for s in rt.list()])
    """, cid, bundle)
    assert got == {"status": 3, "handler_back": True, "left": []}


def test_exec_a_command_and_a_process_object(rt, tmp_path):
    host, edit = shared_dir(tmp_path, "/sync", fifos=())
    os.chmod(host, 0o777)  # uid 1000 writes there too
    cid = rt.running(edit=edit)
    got = api(rt, """
        cid = sys.argv[2]
        a = rt.exec(cid, ["sh", "-c", "id -u > /sync/uid; exit 4"])
        b = rt.exec(cid, {"args": ["sh", "-c", "echo $GREETING > /sync/env"],
                          "env": ["GREETING=hi", "PATH=/bin:/usr/bin"], "cwd": "/",
                          "user": {"uid": 1000, "gid": 1000}})
        out(a=a, b=b)
        try:
            rt.exec(cid, [])
        except ocirt.UsageError as e:
            out(empty=str(e))
    """, cid)
    assert got["a"] == 4 and got["b"] == 0
    assert (host / "uid").read_text() == "0\n"
    assert (host / "env").read_text() == "hi\n"
    assert "non-empty list" in got["empty"]


def test_update_is_seen_in_the_containers_cgroup(rt):
    cid = rt.running()
    got = api(rt, """
        cid = sys.argv[2]
        rt.update(cid, {"pids": {"limit": 17}})
        out(pid=rt.state(cid).pid)
    """, cid)
    with open(f"/proc/{got['pid']}/cgroup") as f:
        lines = f.read().splitlines()
    pids = [ln.split(":", 2)[2] for ln in lines if ln.split(":")[1] == "pids"]
    if pids:
        limit = f"/sys/fs/cgroup/pids{pids[0]}/pids.max"
    else:
        unified = [ln.split(":", 2)[2] for ln in lines if ln.startswith("0::")][0]
        base = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/unified") \
            else "/sys/fs/cgroup"
        limit = f"{base}{unified}/pids.max"
    with open(limit) as f:
        assert f.read().strip() == "17"


def test_events_are_an_iterator_that_ends_with_the_container(rt, tmp_path):
    host, edit = shared_dir(tmp_path, "/sync", fifos=("go",))
    cid = rt.running(["sh", "-c", "read x < /sync/go"], edit)
    got = api(rt, """
        cid, go = sys.argv[2:4]
        once = list(rt.events(cid, stats=True))
        out(once=[e["type"] for e in once], has_pids="pids" in once[0]["data"])
        events = rt.events(cid, interval=0.05)
        first = next(events)
        with open(go, "w") as f:
            f.write("x\\n")
        rest = list(events)  # ends when the container's process exits
        out(first=first["type"], ended=True, stopped=rt.state(cid).status)
    """, cid, host / "go")
    assert got["once"] == ["stats"] and got["has_pids"]
    assert got["first"] == "stats" and got["ended"] and got["stopped"] == "stopped"


def test_errors_carry_the_json_path_and_the_spec_section(rt):
    def two_errors(cfg):
        cfg["hostname"] = "h"
        cfg["linux"]["namespaces"] = [ns for ns in cfg["linux"]["namespaces"]
                                      if ns["type"] != "uts"]
        cfg["process"]["capabilities"]["bounding"].append("CAP_NOT_A_CAP")
    bad = rt.bundle(edit=two_errors)
    good = rt.bundle(["sleep", "1000"])
    ids = [rt.new_id(), rt.new_id()]
    got = api(rt, """
        bad, good, a, b = sys.argv[2:6]
        try:
            rt.create(a, bad)
        except ocirt.ConfigError as e:
            out(config=[e.path, e.section, e.source, str(e),
                        [(f.path, f.section) for f in e.findings]])
        out(left=os.listdir(rt.root) if os.path.isdir(rt.root) else [])
        rt.create(b, good)
        try:
            rt.create(b, good)
        except ocirt.ContainerExists as e:
            out(exists=e.id)
        try:
            rt.resume(b)
        except ocirt.InvalidState as e:
            out(invalid=[e.id, e.status, isinstance(e, ocirt.OcirtError)])
        try:
            rt.kill(b, "NOPE")
        except ocirt.UsageError as e:
            out(signal=str(e))
        rt.delete(b, force=True)
    """, bad, good, *ids)
    path, section, source, text, found = got["config"]
    assert path == "$.hostname" and section == "config.md#hostname"
    assert source == os.path.join(bad, "config.json")
    assert text.startswith(f"{source}: $.hostname: ")
    assert [p for p, _ in found] == ["$.hostname",
                                     "$.process.capabilities.bounding[3]"], found
    assert got["left"] == []
    assert got["exists"] == ids[1]
    assert got["invalid"] == [ids[1], "created", True]
    assert "invalid signal" in got["signal"]


def test_an_error_of_the_setup_process_keeps_its_path(rt):
    def sysctl(cfg):
        cfg["linux"]["sysctl"] = {"net.ipv4.not_a_sysctl": "1"}
    bundle = rt.bundle(edit=sysctl)
    got = api(rt, """
        try:
            rt.run(sys.argv[2], sys.argv[3])
        except ocirt.OcirtError as e:
            out(path=e.path, text=str(e))
        out(left=[s.id for s in rt.list()])
    """, rt.new_id(), bundle)
    assert got["path"].startswith("$.linux.sysctl"), got
    assert "not_a_sysctl" in got["text"] and got["left"] == []


def test_config_built_in_python_runs(rt, tmp_path):
    bundle = tmp_path / "built"
    bundle.mkdir()
    got = api(rt, """
        cid, bundle, rootfs = sys.argv[2:5]
        doc = ocirt.Config.template(args=["sh", "-c", "exit $(hostname | wc -c)"], hardened=True)
        doc["root"] = {"path": rootfs, "readonly": True}
        doc["hostname"] = "abcdefg"
        cfg = ocirt.Config.from_dict(doc, bundle)
        cfg.write(bundle)
        again = ocirt.Config.load(bundle)
        out(same=again == cfg, args=list(cfg.process.args), status=rt.run(cid, bundle))
        doc["process"]["cwd"] = "relative"
        try:
            ocirt.Config.from_dict(doc)
        except ocirt.ConfigError as e:
            out(bad=[e.path, e.section])
    """, rt.new_id(), bundle, rt.rootfs)
    assert got["same"] and got["args"][0] == "sh"
    assert got["status"] == 8  # "abcdefg\n": the hostname reached the container
    assert got["bad"][0] == "$.process.cwd"


def test_features(rt):
    got = api(rt, """
        f = ocirt.Runtime.features()
        out(v=f["ociVersionMax"], ns="user" in f["linux"]["namespaces"])
    """)
    assert got == {"v": "1.3.0", "ns": True}


def _readme_example():
    text = open(os.path.join(ROOT, "README.md")).read()
    m = re.search(r"## Python API\n.*?```python\n(.*?)```", text, re.S)
    assert m, "README.md has a Python API section with a python example"
    return m.group(1)


def test_the_readme_example_runs(rt):
    code = _readme_example()
    assert "/srv/busybox/rootfs" in code and "/run/ocirt-example" in code
    code = code.replace("/srv/busybox/rootfs", rt.rootfs).replace("/run/ocirt-example", rt.root)
    script = rt.tmp / "readme.py"
    script.write_text(code)
    p = subprocess.run([sys.executable, str(script)], cwd=str(rt.tmp), capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert p.returncode == 0 and not p.stderr, p.stderr
    assert "hello from example" in p.stdout
    assert "exit status 0" in p.stdout and "status running" in p.stdout


def test_mypy_accepts_a_typed_user_program(rt):
    """The installed package is typed (py.typed): mypy --strict checks a
    program against it, and catches a wrong use."""
    mypy = os.path.join(os.path.dirname(sys.executable), "mypy")
    good = rt.tmp / "good.py"
    good.write_text(textwrap.dedent("""\
        import ocirt

        def status(rt: ocirt.Runtime, cid: str) -> str:
            s: ocirt.State = rt.state(cid)
            return s.status

        def pids(rt: ocirt.Runtime, cid: str) -> list[int]:
            return rt.ps(cid)

        def safe_delete(rt: ocirt.Runtime, cid: str) -> None:
            try:
                rt.delete(cid, force=True)
            except ocirt.ContainerNotFound as e:
                print(e.id)
    """))
    bad = rt.tmp / "bad.py"
    bad.write_text("import ocirt\n\nx: int = ocirt.Runtime('/r').state('a')\n")
    env = dict(os.environ, MYPY_CACHE_DIR=str(rt.tmp / "cache"))
    p = subprocess.run([mypy, "--strict", str(good)], cwd=str(rt.tmp), capture_output=True,
                       text=True, env=env)
    assert p.returncode == 0, p.stdout
    p = subprocess.run([mypy, "--strict", str(bad)], cwd=str(rt.tmp), capture_output=True,
                       text=True, env=env)
    assert p.returncode == 1 and 'incompatible types in assignment' in p.stdout.lower(), p.stdout


def test_calls_give_back_their_fds_and_locks(rt, tmp_path):
    """A program that goes on after its calls: no fd left open by them, and
    no container lock held (the CLI, another process, can pause the container
    the program started)."""
    bundle = rt.bundle(["sleep", "1000"])
    ids = [rt.new_id() for _ in range(3)]
    got = api(rt, """
        import subprocess
        bundle, ocirt_bin, *ids = sys.argv[2:]
        def fds():
            return len(os.listdir("/proc/self/fd"))
        before = fds()
        for cid in ids:
            rt.create(cid, bundle)
            rt.start(cid)
            rt.state(cid); rt.ps(cid); rt.list(); rt.pause(cid); rt.resume(cid)
        during = fds()
        p = subprocess.run([ocirt_bin, "--root", rt.root, "pause", ids[0]], timeout=20,
                           capture_output=True, text=True)
        out(cli_pause=[p.returncode, p.stderr], status=rt.state(ids[0]).status)
        for cid in ids:
            rt.delete(cid, force=True)
        out(before=before, during=during, after=fds())
    """, bundle, rt.bin, *ids)
    assert got["cli_pause"] == [0, ""] and got["status"] == "paused"
    assert got["before"] == got["during"] == got["after"], got


def test_run_with_the_built_in_init(rt, tmp_path):
    host, edit = shared_dir(tmp_path, "/sync", fifos=())
    bundle = rt.bundle(["sh", "-c", "echo $$ > /sync/pid; cat /proc/1/comm > /sync/init; exit 5"],
                       edit)
    got = api(rt, """
        out(status=rt.run(sys.argv[2], sys.argv[3], init=True))
    """, rt.new_id(), bundle)
    assert got["status"] == 5
    assert (host / "pid").read_text() == "2\n"  # the process is the init's child
    assert "ocirt-ini" in (host / "init").read_text()  # comm: "memfd:ocirt-ini" (15 bytes)
