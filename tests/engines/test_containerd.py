"""containerd's runc shim runs containers through the runtime (`ctr run
--runc-binary`): every call carries --root, --log and --log-format json."""
import os
import select

from tests.engines.conftest import IMAGE, interact, wait_until
from tests.integration.conftest import read_fifo


def run_detached(ctr, cid, *args, flags=()):
    ctr.ok("run", "--detach", *ctr.run_flags(), *flags, IMAGE, cid, *args)


def pids(ctr, cid):
    lines = ctr.ok("task", "ps", cid).splitlines()
    assert lines[0].split() == ["PID", "INFO"], lines
    return sorted(int(line.split()[0]) for line in lines[1:])


def test_run_rm_output_and_exit_code(ctr):
    p = ctr("run", "--rm", *ctr.run_flags(), IMAGE, "t1", "sh", "-c",
            "echo out; echo err >&2; exit 3")
    assert (p.returncode, p.stdout) == (3, "out\n"), p.stderr
    assert "err\n" in p.stderr
    assert ctr.ok("container", "ls", "--quiet") == ""


def test_run_interactive_terminal(ctr):
    interact(ctr.terminal("run", "--rm", "--tty", *ctr.run_flags(), IMAGE, "t1", "sh"))


def test_run_detached_and_exec(ctr):
    run_detached(ctr, "t1", "sleep", "1000")
    assert ctr.tasks()["t1"] == "RUNNING"
    p = ctr("task", "exec", "--exec-id", "e1", "t1", "sh", "-c",
            "cat /proc/1/cmdline | tr '\\0' ' '; echo err >&2; exit 4")
    assert (p.returncode, p.stdout) == (4, "sleep 1000 "), p.stderr
    assert "err\n" in p.stderr


def test_exec_with_a_terminal(ctr):
    run_detached(ctr, "t1", "sleep", "1000")
    interact(ctr.terminal("task", "exec", "--tty", "--exec-id", "e1", "t1", "sh"))


def test_task_ps(ctr):
    run_detached(ctr, "t1", "sleep", "1000")
    init = int(ctr.ok("task", "ls").splitlines()[1].split()[1])
    assert pids(ctr, "t1") == [init]
    ctr.ok("task", "exec", "--detach", "--exec-id", "e1", "t1", "sleep", "1001")
    procs = pids(ctr, "t1")
    assert len(procs) == 2 and init in procs
    other = [p for p in procs if p != init][0]
    with open(f"/proc/{other}/cmdline") as f:
        assert f.read() == "sleep\0" + "1001\0"


def test_pause_and_resume(ctr):
    run_detached(ctr, "t1", "sleep", "1000")
    ctr.ok("task", "pause", "t1")
    assert ctr.tasks()["t1"] == "PAUSED"
    freezer = "/sys/fs/cgroup/freezer/default/t1/freezer.state"
    if os.path.exists(freezer):
        with open(freezer) as f:
            assert f.read().strip() == "FROZEN"
    ctr.ok("task", "resume", "t1")
    assert ctr.tasks()["t1"] == "RUNNING"
    assert ctr.ok("task", "exec", "--exec-id", "e1", "t1", "echo", "thawed") == "thawed"
    ctr.ok("task", "pause", "t1")
    ctr.ok("task", "kill", "--signal", "KILL", "t1")  # a paused task ends too
    ctr.wait_stopped("t1")


def test_kill_all_and_delete(ctr):
    # in the host's pid namespace, the init's death does not take the other
    # processes with it: only `kill --all` (ctr kill -a) reaches them
    run_detached(ctr, "t1", "sh", "-c", "sleep 1000 & exec sleep 1001",
                 flags=["--with-ns", "pid:/proc/self/ns/pid"])  # the runtime's own
    wait_until("the container's two processes", lambda: len(pids(ctr, "t1")) == 2)
    procs = pids(ctr, "t1")
    ctr.ok("task", "kill", "--all", "--signal", "KILL", "t1")
    ctr.wait_stopped("t1")
    for pid in procs:
        wait_until(f"process {pid} to go", lambda: not os.path.exists(f"/proc/{pid}/cmdline")
                   or open(f"/proc/{pid}/cmdline").read() == "")
    p = ctr("task", "delete", "t1")
    assert p.returncode == 0, p.stderr
    assert "t1" not in ctr.tasks()
    assert not os.path.exists(os.path.join(ctr.state_root, "default", "t1"))
    ctr.ok("container", "rm", "t1")
    assert ctr.ok("container", "ls", "--quiet") == ""


def test_init_exit_in_the_host_pid_namespace_ends_the_rest(ctr, tmp_path):
    # when such an init exits, the shim kills what is left (`kill --all` of
    # the stopped container): nothing lingers until the task is deleted
    os.mkfifo(tmp_path / "fifo")
    run_detached(ctr, "t1", "sh", "-c", "sleep 1000 & echo $! > /s/fifo",
                 flags=["--with-ns", "pid:/proc/self/ns/pid",
                        "--mount", f"type=bind,src={tmp_path},dst=/s,options=rbind:rw"])
    child = int(read_fifo(tmp_path / "fifo"))
    fd = os.pidfd_open(child)
    try:
        ctr.wait_stopped("t1")
        assert select.select([fd], [], [], 20)[0], "the init's child outlived it"
    finally:
        os.close(fd)
    ctr.ok("task", "delete", "t1")


def test_kill_and_delete(ctr):
    run_detached(ctr, "t1", "sleep", "1000")
    ctr.ok("task", "kill", "--signal", "KILL", "t1")
    ctr.wait_stopped("t1")
    p = ctr("task", "delete", "t1")
    assert p.returncode == 0 and "exit code 137" in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(ctr.state_root, "default", "t1"))
