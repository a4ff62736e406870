"""Nothing ocirt does after loading the container's seccomp filter may
depend on a system call that the profile can refuse (issue 13, 2.2).

Without noNewPrivileges the filter is loaded early, as root (it needs
CAP_SYS_ADMIN then), and the runtime goes on under it: the user switch, the
wait for start, the startContainer hooks, the last fd clean-up and the exec.
Older engines' profiles lack newer system calls (close_range, pidfd_open,
execveat...), which then fail with EPERM, or ENOSYS where a profile says so
(docker's does for clone3). Before: close_range refused made every start
(and exec) fail, "close_range(3, 4294967295, 0): Operation not permitted".

Each case refuses one system call the runtime makes, or made, after the
filter (strace of create/start/exec), and that a container's program can
live without; the container runs, its startContainer hook too, and exec
works. Differential where runc runs the profile too.
"""
import json

import pytest

from tests.integration.conftest import read_fifo, shared_dir
from tests.integration.runc_pair import runc  # noqa: F401 - fixture

EPERM, ENOSYS = 1, 38
REFUSABLE = ["close_range", "pidfd_open", "execveat", "clone3", "openat2", "faccessat2",
             "ioctl", "getcwd", "memfd_create", "getsockopt", "statx", "lseek"]


def profile(name, errno):
    return {"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": errno}]}


def refusing(name, errno, hook=None):
    def edit(cfg):
        cfg["process"]["noNewPrivileges"] = False
        cfg["linux"]["seccomp"] = profile(name, errno)
        if hook:
            cfg["hooks"] = {"startContainer": [{"path": "/bin/sh",
                                                "args": ["sh", "-c", hook]}]}
    return edit


@pytest.mark.parametrize("errno", [EPERM, ENOSYS], ids=["EPERM", "ENOSYS"])
@pytest.mark.parametrize("name", REFUSABLE)
def test_start_and_exec_survive_a_refused_syscall(rt, tmp_path, name, errno):
    host, share = shared_dir(tmp_path, "/shared", fifos=("proc",))

    def edit(cfg):
        # the hook runs before start returns: a plain file, not a fifo
        refusing(name, errno, hook="echo hook-ran > /shared/hook")(cfg)
        share(cfg)
    cid = rt.created(("sh", "-c", "echo proc-ran > /shared/proc; exec sleep 1000"), edit)
    p = rt("start", cid, timeout=20)
    assert p.returncode == 0, p.stderr
    assert (host / "hook").read_text() == "hook-ran\n"
    assert read_fifo(host / "proc") == "proc-ran\n"
    p = rt("exec", cid, "echo", "exec-ran", timeout=20)
    assert (p.returncode, p.stdout) == (0, "exec-ran\n"), p.stderr


@pytest.mark.parametrize("errno", [EPERM, ENOSYS], ids=["EPERM", "ENOSYS"])
def test_close_range_refused_as_runc(rt, runc, errno):
    """Differential: the profile of the issue (close_range refused, no
    noNewPrivileges): runc runs it, and so does ocirt, with the same fds
    reaching the process (only stdio)."""
    b = rt.bundle(("sh", "-c", "ls /proc/self/fd"), refusing("close_range", errno))
    p = rt("run", "--bundle", b, rt.new_id())
    q = runc("run", "--bundle", b, runc.new_id())
    assert (p.returncode, q.returncode) == (0, 0), (p.stderr, q.stderr)
    assert p.stdout.split() == q.stdout.split() == ["0", "1", "2", "3"]  # 3: ls's own


def test_preserved_fds_still_reach_the_process_with_close_range_refused(rt, tmp_path):
    """--preserve-fds with the fallback that marks fds one by one: the
    preserved one reaches the process, nothing else does."""
    import os
    import subprocess
    r, w = os.pipe()
    os.set_inheritable(w, True)
    try:
        b = rt.bundle(("sh", "-c", "echo through-3 >&3; ls /proc/self/fd"),
                      refusing("close_range", EPERM))
        cmd = [rt.bin, "--root", rt.root, "run", "--preserve-fds", "1", "--bundle", b,
               rt.new_id()]
        # fd 3 in ocirt is the pipe's write end
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           pass_fds=(w, 3), timeout=60,  # 3 kept: the dup2 below
                           preexec_fn=lambda: os.dup2(w, 3) if w != 3 else None)
    finally:
        os.close(w)
    assert p.returncode == 0, p.stderr
    assert os.read(r, 100) == b"through-3\n"
    os.close(r)
    assert p.stdout.split() == ["0", "1", "2", "3", "4"]  # 3 preserved, 4: ls's own


def test_exec_with_nnp_false_survives_close_range_refused(rt, runc):
    """exec runs the container's filter early too (noNewPrivileges false):
    the same, differential."""
    edit = refusing("close_range", EPERM)
    cid = rt.running(("sleep", "1000"), edit)
    b = rt.bundle(("sleep", "1000"), edit)
    rid = runc.new_id()
    assert runc("run", "-d", "--bundle", b, rid).returncode == 0
    p = rt("exec", cid, "sh", "-c", "ls /proc/self/fd")
    q = runc("exec", rid, "sh", "-c", "ls /proc/self/fd")
    assert (p.returncode, q.returncode) == (0, 0), (p.stderr, q.stderr)
    assert p.stdout.split() == q.stdout.split()


@pytest.mark.parametrize("name", ["execveat", "ioctl", "close_range", "pidfd_open"])
def test_with_no_new_privileges_the_late_filter_leaves_only_the_exec(rt, tmp_path, name):
    """noNewPrivileges true: the filter is loaded just before the exec (the
    init's and exec's); the stub's fcntl and its execve, or execveat's
    fallback, are all that follow."""
    def edit(cfg):
        refusing(name, EPERM)(cfg)
        cfg["process"]["noNewPrivileges"] = True
    cid = rt.running(("sleep", "1000"), edit)
    p = rt("exec", cid, "echo", "exec-ran", timeout=20)
    assert (p.returncode, p.stdout) == (0, "exec-ran\n"), p.stderr
    p = rt("run", "--bundle", rt.bundle(("echo", "run-ran"), edit), rt.new_id(), timeout=20)
    assert (p.returncode, p.stdout) == (0, "run-ran\n"), p.stderr
