"""A failed start leaves the container stopped (issue 13, 2.3).

runtime-spec 1.3.0 (runtime.md, lifecycle): a failing startContainer or
poststart hook makes the runtime "generate an error, stop the container".
The error names the cause; the container then answers `state` as stopped
(engines call state, then delete, after a failed start), and `delete`
removes everything (processes, cgroups, the record) and runs the poststop
hooks. Before: the container vanished at once, and `state` and `delete`
said it did not exist. runc agrees on stopped and on delete (runc 1.1.5's
start even returns 0 when a startContainer hook fails: the spec wants the
error, which ocirt gives).
"""
import json
import os

from tests.integration.conftest import CGROUP_PROBE, one_line_error
from tests.integration.runc_pair import runc  # noqa: F401 - fixture


def hooks(**points):
    def edit(cfg):
        cfg["process"]["terminal"] = False
        cfg["hooks"] = {k: [{"path": "/bin/sh", "args": ["sh", "-c", v]}]
                        for k, v in points.items()}
    return edit


def host_hooks(marker, **points):
    """Hooks in the runtime namespace (poststart, poststop) run host programs."""
    def edit(cfg):
        cfg["process"]["terminal"] = False
        cfg["hooks"] = {k: [{"path": "/bin/sh", "args": ["sh", "-c", v.format(m=marker)]}]
                        for k, v in points.items()}
    return edit


def assert_stopped_then_deleted(rt, cid, pid):
    st = rt.state(cid)
    assert (st["status"], st["pid"]) == ("stopped", 0), st
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] \
        in ("Z", "X")
    assert rt("delete", cid).returncode == 0
    p = rt("state", cid)
    assert p.returncode == 1 and "does not exist" in p.stderr
    assert not os.path.exists(os.path.join(CGROUP_PROBE, "ocirt", cid))
    rt.assert_nothing_left()


def test_failing_startContainer_hook_leaves_it_stopped_as_runc(rt, runc):
    b = rt.bundle(("sleep", "1000"), hooks(startContainer="echo hook says no >&2; exit 3"))
    cid = rt.new_id()
    rt("create", "--bundle", b, cid, check=True)
    pid = rt.state(cid)["pid"]
    one_line_error(rt("start", cid), "$.hooks.startContainer[0]: startContainer hook /bin/sh "
                   "failed: exit status 3: hook says no")
    rid = runc.new_id()
    assert runc("create", "--bundle", b, rid).returncode == 0
    runc("start", rid)  # runc 1.1.5 says nothing and exits 0
    assert json.loads(runc("state", rid).stdout)["status"] == "stopped"
    assert runc("delete", rid).returncode == 0
    assert_stopped_then_deleted(rt, cid, pid)


def test_process_that_cannot_be_executed_with_poststart_hooks(rt, tmp_path):
    """With poststart hooks start waits for the exec: an exec format error is
    start's error; stopped; the poststop hook runs at delete, not before."""
    marker = tmp_path / "hooks.log"
    b = rt.bundle(("/etc/passwd",), host_hooks(
        marker, poststart="echo poststart >> {m}", poststop="echo poststop >> {m}"))
    cid = rt.new_id()
    # /etc/passwd is found (it exists) but is not executable: permission denied
    # at create already; a file with the x bit and no valid format fails at execve
    p = rt("create", "--bundle", b, cid)
    one_line_error(p, "permission denied")
    rt.assert_nothing_left()

    def bad_binary(cfg):
        host_hooks(marker, poststart="echo poststart >> {m}",
                   poststop="echo poststop >> {m}")(cfg)
        cfg["process"]["args"] = ["/bad"]
        cfg["mounts"].append({"destination": "/bad", "type": "bind",
                              "source": str(tmp_path / "bad"), "options": ["bind", "ro"]})
    (tmp_path / "bad").write_bytes(b"\x7fELF not really\n")
    os.chmod(tmp_path / "bad", 0o755)
    cid = rt.new_id()
    rt("create", "--bundle", rt.bundle(("/bad",), bad_binary), cid, check=True)
    pid = rt.state(cid)["pid"]
    one_line_error(rt("start", cid), "$.process.args: exec /bad: exec format error")
    assert not marker.exists()  # neither poststart (no process) nor poststop yet
    assert_stopped_then_deleted(rt, cid, pid)
    assert marker.read_text() == "poststop\n"


def test_failing_poststart_hook_stops_the_container(rt, tmp_path):
    marker = tmp_path / "hooks.log"
    cid = rt.new_id()
    rt("create", "--bundle", rt.bundle(("sleep", "1000"), host_hooks(
        marker, poststart="exit 4", poststop="echo poststop >> {m}")), cid, check=True)
    pid = rt.state(cid)["pid"]
    one_line_error(rt("start", cid), "poststart hook /bin/sh failed: exit status 4")
    assert not marker.exists()
    assert_stopped_then_deleted(rt, cid, pid)
    assert marker.read_text() == "poststop\n"


def test_run_with_a_failing_start_deletes_unless_keep(rt, tmp_path):
    """run: the error, then nothing left (poststop ran), as runc's run; with
    --keep the stopped container stays for delete."""
    marker = tmp_path / "hooks.log"

    def edit(cfg):
        hooks(startContainer="exit 5")(cfg)
        cfg["hooks"]["poststop"] = [{"path": "/bin/sh",
                                     "args": ["sh", "-c", f"echo poststop >> {marker}"]}]
    b = rt.bundle(("sleep", "1000"), edit)
    for detach in ([], ["-d"]):
        cid = rt.new_id()
        one_line_error(rt("run", *detach, "--bundle", b, cid), "exit status 5")
        assert rt("state", cid).returncode == 1
        rt.assert_nothing_left()
    assert marker.read_text() == "poststop\n" * 2
    cid = rt.new_id()
    one_line_error(rt("run", "--keep", "--bundle", b, cid), "exit status 5")
    assert rt.state(cid)["status"] == "stopped"
    assert rt("delete", cid).returncode == 0
    rt.assert_nothing_left()
    assert marker.read_text() == "poststop\n" * 3
