"""Runtime options and cgroup placement, observed from inside and outside."""
import os
import subprocess

import pytest

from tests.integration.conftest import CGROUP_PROBE


def unmask_keys(cfg):
    cfg["linux"]["maskedPaths"].remove("/proc/keys")


def test_new_session_keyring_by_default(rt):
    p = rt.run(["cat", "/proc/keys"], unmask_keys)
    assert p.returncode == 0, p.stderr
    assert "_ses." in p.stdout  # named after the container id


def test_no_new_keyring_keeps_the_callers(rt):
    b = rt.bundle(["cat", "/proc/keys"], unmask_keys)
    cid = rt.new_id()
    p = rt("run", "--no-new-keyring", "--bundle", b, cid)
    assert p.returncode == 0, p.stderr
    assert f"_ses.{cid}" not in p.stdout


def test_default_cgroup_path_and_cleanup(rt):
    cid = rt.running()
    pid = rt.state(cid)["pid"]
    procs = open(os.path.join(CGROUP_PROBE, "ocirt", cid, "cgroup.procs")).read().split()
    assert str(pid) in procs
    rt("delete", "--force", cid, check=True)
    assert not os.path.exists(os.path.join(CGROUP_PROBE, "ocirt", cid))


def test_absolute_cgroups_path(rt):
    name = f"ocirt-it-abs/{rt.new_id()}"

    def edit(cfg):
        cfg["linux"]["cgroupsPath"] = "/" + name
    cid = rt.running(edit=edit)
    pid = str(rt.state(cid)["pid"])
    for ctrl in ("memory", "pids", "unified"):
        assert pid in open(f"/sys/fs/cgroup/{ctrl}/{name}/cgroup.procs").read().split()
    rt("delete", "--force", cid, check=True)
    assert not os.path.exists(f"/sys/fs/cgroup/memory/{name}")
    for ctrl in ("memory", "pids", "unified", "cpu", "freezer", "cpuset"):
        try:
            os.rmdir(f"/sys/fs/cgroup/{ctrl}/ocirt-it-abs")
        except OSError:
            pass


def test_relative_cgroups_path_is_under_the_runtimes_cgroup(rt):
    own = next(line.rstrip("\n").split(":", 2)[2] for line in open("/proc/self/cgroup")
               if ":memory:" in line)
    rel = f"ocirt-it-rel-{rt.new_id()}"

    def edit(cfg):
        cfg["linux"]["cgroupsPath"] = rel
    cid = rt.running(edit=edit)
    where = os.path.join("/sys/fs/cgroup/memory", own.lstrip("/"), rel)
    assert str(rt.state(cid)["pid"]) in open(os.path.join(where, "cgroup.procs")).read()
    rt("delete", "--force", cid, check=True)
    assert not os.path.exists(where)


def test_paused_status_follows_the_freezer(rt):
    cid = rt.running()
    freezer = f"/sys/fs/cgroup/freezer/ocirt/{cid}/freezer.state"
    with open(freezer, "w") as f:
        f.write("FROZEN")
    try:
        assert rt.state(cid)["status"] == "paused"
        p = rt("delete", cid)
        assert p.returncode == 1 and "paused" in p.stderr
    finally:
        with open(freezer, "w") as f:
            f.write("THAWED")
    assert rt.state(cid)["status"] == "running"


def test_delete_force_of_a_paused_container(rt):
    cid = rt.running()
    with open(f"/sys/fs/cgroup/freezer/ocirt/{cid}/freezer.state", "w") as f:
        f.write("FROZEN")
    rt("delete", "--force", cid, check=True)
    assert not os.path.exists(f"/sys/fs/cgroup/freezer/ocirt/{cid}")


def test_kill_all_signals_every_process(rt):
    def no_pidns(cfg):
        cfg["linux"]["namespaces"] = [ns for ns in cfg["linux"]["namespaces"]
                                      if ns["type"] != "pid"]
    cid = rt.running(["sh", "-c", "sleep 1000 & sleep 1000 & wait"], no_pidns)
    procs = os.path.join(CGROUP_PROBE, "ocirt", cid, "cgroup.procs")
    pids = open(procs).read().split()
    assert len(pids) >= 1
    rt("kill", "--all", cid, "KILL", check=True)
    fds = []
    for pid in pids:
        try:
            fds.append(os.pidfd_open(int(pid)))
        except ProcessLookupError:
            pass
    import select
    for fd in fds:
        select.select([fd], [], [], 20)
        os.close(fd)
    assert rt.state(cid)["status"] == "stopped"


def test_systemd_cgroup_is_a_clear_error_without_systemd(rt):
    if os.path.isdir("/run/systemd/system"):
        import pytest
        pytest.skip("systemd runs on this host")
    p = rt("--systemd-cgroup", "create", "--bundle", rt.bundle(), rt.new_id())
    assert p.returncode == 1
    assert "systemd" in p.stderr and len(p.stderr.splitlines()) == 1
    rt.assert_nothing_left()


def test_systemd_style_path_without_the_flag_is_an_error(rt):
    def edit(cfg):
        cfg["linux"]["cgroupsPath"] = "system.slice:ocirt:abc"
    p = rt("create", "--bundle", rt.bundle(edit=edit), rt.new_id())
    assert p.returncode == 1 and "$.linux.cgroupsPath" in p.stderr
    rt.assert_nothing_left()


def test_pause_and_resume(rt):
    cid = rt.running()
    pid = rt.state(cid)["pid"]
    rt("pause", cid, check=True)
    assert rt.state(cid)["status"] == "paused"
    assert open(f"/sys/fs/cgroup/freezer/ocirt/{cid}/freezer.state").read().strip() == "FROZEN"
    # a frozen task sleeps uninterruptibly
    assert open(f"/proc/{pid}/stat").read().split(") ")[1][0] == "D"
    p = rt("pause", cid)
    assert p.returncode == 1 and "not running" in p.stderr
    rt("resume", cid, check=True)
    assert rt.state(cid)["status"] == "running"
    p = rt("resume", cid)
    assert p.returncode == 1 and "not paused" in p.stderr


@pytest.mark.parametrize("all_processes", [False, True], ids=["init", "all"])
def test_kill_of_a_paused_container(rt, all_processes):
    # KILL thaws the cgroup, as runc (a frozen v1 process dies only once
    # thawed): podman kill and rm -f of a paused container wait for the exit
    cid = rt.running()
    rt("pause", cid, check=True)
    rt("kill", *(["--all"] if all_processes else []), cid, "KILL", check=True)
    pid = rt.state(cid)["pid"]
    if pid:
        import select
        try:
            fd = os.pidfd_open(pid)
            select.select([fd], [], [], 20)
            os.close(fd)
        except ProcessLookupError:
            pass
    assert rt.state(cid)["status"] == "stopped"


def test_ps(rt):
    import json
    cid = rt.running()
    pid = rt.state(cid)["pid"]
    p = rt("ps", "--format", "json", cid, check=True)
    assert json.loads(p.stdout) == [pid] and p.stderr == ""
    table = rt("ps", cid, check=True).stdout.splitlines()
    assert "PID" in table[0].split()
    assert [line.split()[1] for line in table[1:]] == [str(pid)]
    custom = rt("ps", cid, "-o", "pid,comm", check=True).stdout.splitlines()
    assert custom[0].split() == ["PID", "COMMAND"] and custom[1].split() == [str(pid), "sleep"]


def test_features_document(rt):
    import json
    import jsonschema
    from tests.unit.test_schemas import schema
    doc = json.loads(rt("features", check=True).stdout)
    jsonschema.validate(doc, schema("features"))
    assert doc["ociVersionMax"] == "1.3.0"
    assert set(doc["hooks"]) == {"prestart", "createRuntime", "createContainer",
                                 "startContainer", "poststart", "poststop"}
    assert {"idmap", "rro", "tmpcopyup", "rbind"} <= set(doc["mountOptions"])
    assert set(doc["linux"]["namespaces"]) == {"cgroup", "ipc", "mount", "network", "pid",
                                                "time", "user", "uts"}
    assert doc["linux"]["seccomp"]["enabled"] is True
    assert "SCMP_ACT_NOTIFY" in doc["linux"]["seccomp"]["actions"]
    assert doc["linux"]["apparmor"]["enabled"] is False or os.path.exists(
        "/sys/module/apparmor")
    # the spec's table of mount options, all of which ocirt handles
    spec_options = {
        "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec",
        "iversion", "lazytime", "loud", "mand", "noatime", "nodev", "nodiratime", "noexec",
        "noiversion", "nolazytime", "nomand", "norelatime", "nostrictatime", "nosuid",
        "nosymfollow", "private", "ratime", "rbind", "rdev", "rdiratime", "relatime",
        "remount", "rexec", "rnoatime", "rnodev", "rnodiratime", "rnoexec", "rnorelatime",
        "rnostrictatime", "rnosuid", "rnosymfollow", "ro", "rprivate", "rrelatime", "rro",
        "rrw", "rshared", "rslave", "rstrictatime", "rsuid", "rsymfollow", "runbindable",
        "rw", "shared", "silent", "slave", "strictatime", "suid", "symfollow", "sync",
        "tmpcopyup", "unbindable", "idmap", "ridmap"}
    assert set(doc["mountOptions"]) == spec_options


def run_socket_activated(rt, tmp_path, echo, *run_flags):
    """`run --preserve-fds 1` started as systemd would: LISTEN_FDS=1 and
    LISTEN_PID of the runtime itself, a listening socket on fd 3, and a
    file on fd 4 for --preserve-fds. The container prints `echo`, where fd 3
    points, and what it reads from fd 4: those three lines."""
    import socket
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(tmp_path / "activation.sock"))
    srv.listen(1)
    extra = tmp_path / "extra"
    extra.write_text("preserved\n")
    bundle = rt.bundle(("sh", "-c", f"echo {echo}; readlink /proc/self/fd/3; cat <&4"))
    script = 'exec 3<&"$1" 4<"$2"; shift 2; LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"'
    try:
        p = subprocess.run(["bash", "-c", script, "bash", str(srv.fileno()), str(extra), rt.bin,
                            "--root", rt.root, "run", *run_flags, "--preserve-fds", "1",
                            "--bundle", bundle, rt.new_id()], pass_fds=(srv.fileno(),),
                           capture_output=True, text=True, timeout=60)
    finally:
        srv.close()
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[1].startswith("socket:[")
    assert lines[2] == "preserved"
    return lines[0]


def test_listen_fds_socket_activation(rt, tmp_path):
    # the socket is fd 3, --preserve-fds adds fd 4 after it; the process is
    # the container's pid 1, and LISTEN_PID says so
    assert run_socket_activated(rt, tmp_path, "$LISTEN_FDS $LISTEN_PID") == "1 1"
