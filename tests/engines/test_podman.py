"""podman (through conmon, and directly) runs containers through the runtime."""
import os
import socket
import time

import pytest

from tests.integration.test_init import CHECK
from tests.engines.conftest import IMAGE, LIMITS, TRAPS, interact, limits, retry, wait_until


def status(podman, name, field="{{.State.Status}}"):
    return podman.ok("inspect", "--format", field, name)


def started(podman, *args, name="c1", ready="ready"):
    """run -d; then wait for `ready` in the container's log."""
    cid = podman.ok("run", "-d", "--name", name, *args)
    if ready:
        podman.follow("logs", "-f", name).until(ready)
    return cid


def test_run_rm_output_and_exit_code(podman):
    p = podman("run", "--rm", "--name", "c1", IMAGE, "sh", "-c",
               "echo out; echo err >&2; exit 3")
    assert (p.returncode, p.stdout) == (3, "out\n"), p.stderr
    assert "err\n" in p.stderr
    assert podman.ok("ps", "--all", "--quiet") == ""


def test_run_detached_exec_and_logs(podman):
    started(podman, IMAGE, "sh", "-c", "echo started; echo oops >&2; echo ready; exec sleep 1000")
    assert status(podman, "c1") == "running"
    p = podman("exec", "c1", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; exit 4")
    assert (p.returncode, p.stdout) == (4, "sleep 1000 "), p.stderr
    p = podman("exec", "--user", "1000", "--workdir", "/tmp", "--env", "FOO=bar", "c1",
               "sh", "-c", "echo $(id -u) $(pwd) $FOO $HOME")
    assert (p.returncode, p.stdout) == (0, "1000 /tmp bar /\n"), p.stderr
    p = podman("logs", "c1")
    assert p.stdout == "started\nready\n" and p.stderr == "oops\n"


def test_a_program_that_cannot_run(podman):
    # podman reads the runtime's error: 127 not found, 126 not executable
    started(podman, IMAGE, "sleep", "1000", ready=None)
    for program, code in (("nosuch", 127), ("/bin/nosuch", 127), ("/etc/passwd", 126)):
        p = podman("run", "--rm", IMAGE, program)
        assert p.returncode == code, (program, p.stderr)
        p = podman("exec", "c1", program)
        assert p.returncode == code, (program, p.stderr)


def test_run_interactive_terminal(podman):
    interact(podman.terminal("run", "-it", "--rm", IMAGE, "sh"))


def test_exec_interactive_terminal(podman):
    started(podman, IMAGE, "sleep", "1000", ready=None)
    interact(podman.terminal("exec", "-it", "c1", "sh"))


def test_stop_sends_term(podman):
    started(podman, IMAGE, "sh", "-c", TRAPS.format(sig="TERM", code=7))
    t0 = time.monotonic()
    podman.ok("stop", "--time", "60", "c1")
    assert time.monotonic() - t0 < 30  # not the timeout's KILL
    assert status(podman, "c1", "{{.State.Status}} {{.State.ExitCode}}") == "exited 7"
    assert "got TERM" in podman.ok("logs", "c1")


def test_stop_kills_what_ignores_term(podman):
    # a pid 1 without a handler ignores TERM
    started(podman, IMAGE, "sleep", "1000", ready=None)
    p = podman("stop", "--time", "1", "c1")
    assert p.returncode == 0, p.stderr
    assert "resorting to SIGKILL" in p.stderr
    assert status(podman, "c1", "{{.State.Status}} {{.State.ExitCode}}") == "exited 137"


def test_kill_with_a_signal(podman):
    started(podman, IMAGE, "sh", "-c", TRAPS.format(sig="USR1", code=10))
    podman.ok("kill", "--signal", "USR1", "c1")
    assert podman.ok("wait", "c1") == "10"
    assert "got USR1" in podman.ok("logs", "c1")
    started(podman, IMAGE, "sleep", "1000", name="c2", ready=None)
    podman.ok("kill", "c2")  # KILL
    assert podman.ok("wait", "c2") == "137"


def test_pause_and_unpause(podman):
    cid = started(podman, IMAGE, "sleep", "1000", ready=None)
    podman.ok("pause", "c1")
    assert status(podman, "c1") == "paused"
    freezer = f"/sys/fs/cgroup/freezer/libpod_parent/libpod-{cid}/freezer.state"
    if os.path.exists(freezer):
        with open(freezer) as f:
            assert f.read().strip() == "FROZEN"
    assert podman("exec", "c1", "true").returncode != 0  # podman refuses
    podman.ok("unpause", "c1")
    assert status(podman, "c1") == "running"
    assert podman.ok("exec", "c1", "echo", "thawed") == "thawed"


def test_kill_a_paused_container(podman):
    started(podman, IMAGE, "sleep", "1000", ready=None)
    podman.ok("pause", "c1")
    podman.ok("kill", "c1")  # KILL, then podman waits for the exit
    assert status(podman, "c1", "{{.State.Status}} {{.State.ExitCode}}") == "exited 137"


@pytest.mark.parametrize("paused", [False, True], ids=["running", "paused"])
def test_rm_force(podman, paused):
    started(podman, IMAGE, "sleep", "1000", ready=None)
    if paused:
        podman.ok("pause", "c1")
    podman.ok("rm", "--force", "--time", "0", "c1")
    assert podman.ok("ps", "--all", "--quiet") == ""


def test_update_memory_and_cpus(podman):
    started(podman, IMAGE, "sleep", "1000", ready=None)
    podman.ok("update", "--memory", "64m", "--cpus", "0.5", "c1")
    seen = limits(podman.ok("exec", "c1", "sh", "-c", LIMITS))
    assert seen["memory"] == "67108864"
    assert seen["cpu"] == "50000 100000"


def test_memory_and_pids_limits(podman):
    p = podman("run", "--rm", "--memory", "32m", "--pids-limit", "10", IMAGE, "sh", "-c",
               LIMITS + "for i in $(seq 20); do sleep 1000 & done")
    seen = limits(p.stdout)
    assert seen["memory"] == "33554432" and seen["pids"] == "10", p.stdout + p.stderr
    assert "can't fork" in p.stderr


def test_read_only_root(podman):
    p = podman("run", "--rm", "--read-only", IMAGE, "sh", "-c",
               "touch /x; touch /tmp/x && echo tmp is writable")
    assert "touch: /x: Read-only file system" in p.stderr
    assert p.stdout == "tmp is writable\n"


def test_user_1000_with_stdio(podman):
    before = os.stat("/dev/null")
    # the process reopens its stdio too, as many programs do
    p = podman("run", "--rm", "-i", "--user", "1000", IMAGE, "sh", "-c",
               "id -u; read line; echo got $line; cat /dev/stdin; echo out > /dev/stdout; "
               "echo to stderr >/dev/stderr", input="hello\nworld\n")
    assert (p.returncode, p.stdout) == (0, "1000\ngot hello\nworld\nout\n"), p.stderr
    assert "to stderr\n" in p.stderr
    started(podman, IMAGE, "sleep", "1000", ready=None)
    p = podman("exec", "-i", "--user", "1000", "c1", "sh", "-c",
               "cat /dev/stdin; echo out > /dev/stdout", input="in\n")
    assert (p.returncode, p.stdout) == (0, "in\nout\n"), p.stderr
    p = podman("run", "--rm", "--user", "1000", IMAGE, "sh", "-c", "cat; echo done")
    assert (p.returncode, p.stdout) == (0, "done\n"), p.stderr
    after = os.stat("/dev/null")  # no runtime may chown the caller's /dev/null
    assert (after.st_uid, after.st_gid, after.st_mode) == \
        (before.st_uid, before.st_gid, before.st_mode)


def test_cap_drop_all(podman):
    p = podman("run", "--rm", "--cap-drop", "ALL", IMAGE, "sh", "-c",
               "grep -E 'Cap(Eff|Prm|Bnd)' /proc/self/status; touch /tmp/f; chown 1 /tmp/f")
    assert p.stdout.split() == ["CapPrm:", "0" * 16, "CapEff:", "0" * 16, "CapBnd:", "0" * 16]
    assert "Operation not permitted" in p.stderr


def test_network_none(podman):
    p = podman("run", "--rm", "--network", "none", IMAGE, "sh", "-c",
               "ip -o link | awk -F': ' '{print $2, $3}'; nc -l -p 7 -e echo pong & "
               + retry("nc 127.0.0.1 7 </dev/null 2>/dev/null"))
    links = p.stdout.splitlines()[:-1]
    assert [link.split()[0] for link in links] == ["lo"], p.stdout
    assert "UP" in links[0].split()[1].strip("<>").split(","), p.stdout
    assert p.stdout.splitlines()[-1] == "pong", p.stdout + p.stderr


def test_default_bridge_network(podman):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("0.0.0.0", 0))
    srv.listen(1)
    srv.settimeout(60)
    port = srv.getsockname()[1]
    try:
        started(podman, IMAGE, "sh", "-c",
                "ip -o -4 addr show eth0; gw=$(ip route | awk '/^default/ {print $3}'); "
                f"echo hello from the bridge | nc $gw {port}; exec sleep 1000", ready=None)
        conn, (peer, _) = srv.accept()
        with conn:
            assert conn.recv(100) == b"hello from the bridge\n"
    finally:
        srv.close()
    addr = status(podman, "c1", "{{.NetworkSettings.IPAddress}}")
    assert peer == addr
    assert f"inet {addr}/" in podman.ok("logs", "c1")


def test_init(podman):
    p = podman("run", "--rm", "--init", IMAGE, "sh", "-c", "cat /proc/1/comm; echo $$; exit 5")
    comm, pid = p.stdout.split()
    assert p.returncode == 5
    assert comm in ("podman-init", "catatonit") and pid != "1"


def test_pid_host(podman):
    p = podman("run", "--rm", "--pid", "host", IMAGE, "sh", "-c",
               "readlink /proc/self/ns/pid; cat /proc/1/comm")
    with open("/proc/1/comm") as f:
        assert p.stdout.split() == [os.readlink("/proc/self/ns/pid"), f.read().strip()]


def test_volume_and_tmpfs(podman, tmp_path):
    (tmp_path / "in").write_text("from the host\n")
    p = podman("run", "--rm", "-v", f"{tmp_path}:/data", "--tmpfs", "/scratch:size=1m",
               IMAGE, "sh", "-c",
               "cat /data/in; echo from the container > /data/out; "
               "grep ' /scratch ' /proc/mounts | cut -d' ' -f1,3; "
               "dd if=/dev/zero of=/scratch/big bs=1k count=2048")
    assert p.stdout.splitlines() == ["from the host", "tmpfs tmpfs"], p.stderr
    assert "No space left on device" in p.stderr
    assert (tmp_path / "out").read_text() == "from the container\n"


def test_cgroupns_private(podman):
    p = podman("run", "--rm", "--cgroupns", "private", IMAGE, "cat", "/proc/self/cgroup")
    lines = p.stdout.splitlines()
    assert lines and all(line.endswith(":/") for line in lines), p.stdout
    p = podman("run", "--rm", "--cgroupns", "host", IMAGE, "cat", "/proc/self/cgroup")
    assert "libpod" in p.stdout


def test_preserve_fds(podman, tmp_path):
    (tmp_path / "three").write_text("fd 3\n")
    (tmp_path / "four").write_text("fd 4\n")
    p = podman("run", "--rm", "--preserve-fds", "2", IMAGE, "sh", "-c",
               "cat <&3; cat <&4; ls /proc/self/fd",
               redirects=f"3<{tmp_path}/three 4<{tmp_path}/four")
    out = p.stdout.splitlines()
    assert out[:2] == ["fd 3", "fd 4"], p.stdout + p.stderr
    # nothing beyond the preserved fds (5 is ls's own)
    assert out[2:] == ["0", "1", "2", "3", "4", "5"], p.stdout


def test_pod_with_two_containers(podman):
    pod = podman.ok("pod", "create", "--name", "p1")
    started(podman, "--pod", "p1", IMAGE, "nc", "-l", "-p", "8080", "-e", "hostname",
            name="server", ready=None)
    # the pod's containers share the network namespace: the server is on
    # the client's 127.0.0.1
    p = podman("run", "--rm", "--pod", "p1", IMAGE, "sh", "-c",
               retry("nc 127.0.0.1 8080 </dev/null 2>/dev/null") + "; hostname")
    served, own = p.stdout.split()
    assert served == own  # and the uts namespace
    assert podman.ok("pod", "inspect", "--format", "{{.NumContainers}}", "p1") == "2"
    podman.ok("pod", "rm", "--force", "--time", "0", "p1")
    # podman removes the pod's cgroup from the v1 controllers it knows; runc
    # also made it in name=systemd and the cgroup2 tree, and leaves it there
    # (ocirt removes the parents it made: the fixture checks that)
    if podman.runtime == "runc":
        for h in ("systemd", "unified"):
            d = f"/sys/fs/cgroup/{h}/libpod_parent/{pod}"
            if os.path.isdir(d):
                os.rmdir(d)


def test_restart(podman):
    started(podman, IMAGE, "sleep", "1000", ready=None)
    before = status(podman, "c1", "{{.State.Pid}}")
    podman.ok("restart", "--time", "0", "c1")
    assert status(podman, "c1") == "running"
    assert status(podman, "c1", "{{.State.Pid}}") != before
    assert podman.ok("exec", "c1", "echo", "back") == "back"
    # a restart policy: conmon's exit command starts the container again
    started(podman, "--restart", "on-failure:2", IMAGE, "sh", "-c", "echo run; exit 3",
            name="c2", ready=None)
    # (no event tells that the policy is done: polled)
    wait_until("three runs", lambda: podman.ok("logs", "c2") == "run\nrun\nrun" and status(
        podman, "c2", "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}") == "exited 2 3")


def test_privileged(podman):
    p = podman("run", "--rm", "--privileged", IMAGE, "sh", "-c",
               "grep CapEff /proc/self/status; ls /dev/loop-control")
    assert p.returncode == 0, p.stderr
    assert int(p.stdout.split()[1], 16) & (1 << 21)  # CAP_SYS_ADMIN


# 20 orphans (subshells whose parent exits at once) blocked on a fifo, then
# released; then every process but pid 1, this shell and `sleep` is looked
# at until none is alive and none a zombie (at most 300 looks after the last
# one died: a bound, no sleep); it prints the zombies seen last.
ORPHANS = r"""
mkfifo /tmp/go && exec 3<>/tmp/go
i=0; while [ $i -lt 20 ]; do sh -c 'read x <&3 &'; i=$((i+1)); done
i=0; while [ $i -lt 20 ]; do echo; i=$((i+1)); done >/tmp/go
""" + CHECK  # tests/integration/test_init.py's count of what is left


def test_built_in_init_by_annotation(podman):
    """ocirt's built-in init (ocirt.linux.pid1), asked for by the annotation
    org.ocirt.init=true through podman: pid 1 is the init, the orphans of an
    exec'd process are reaped, and run's exit status is the process's. runc
    ignores the annotation: with runc only what does not depend on it (an
    exit status, exec) is asserted."""
    init = ("--annotation", "org.ocirt.init=true")
    p = podman("run", "--rm", *init, IMAGE, "sh", "-c", "exit 3")
    assert p.returncode == 3, p.stderr
    p = podman("run", "--rm", *init, IMAGE, "sh", "-c", "kill -TERM $$")
    if podman.runtime == "ocirt":  # sh as pid 1 (runc) gets no SIGTERM it has no handler for
        assert p.returncode == 143, p.stderr
    started(podman, *init, IMAGE, "sleep", "1000", ready=None)
    p = podman("exec", "c1", "sh", "-c", "tr '\\0' ' ' </proc/1/cmdline | cut -d' ' -f1")
    assert p.returncode == 0, p.stderr
    if podman.runtime == "ocirt":
        assert p.stdout == "ocirt-init\n"
    p = podman("exec", "c1", "sh", "-c", ORPHANS)
    assert p.returncode == 0, p.stderr
    if podman.runtime == "ocirt":
        assert p.stdout.split()[0] == "zombies=0"
