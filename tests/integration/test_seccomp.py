"""linux.seccomp through libseccomp, observed from inside the container.

busybox's `uname -n` prints the hostname ("ocirt" in these configs), and an
empty line when the uname system call fails: that is what the tests look at.
"""
import os

import pytest


def with_seccomp(sec, nnp=True):
    def edit(cfg):
        cfg["linux"]["seccomp"] = sec
        cfg["process"]["noNewPrivileges"] = nnp
    return edit


BLOCK_UNAME = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}


def test_filter_is_loaded_and_applies(rt):
    p = rt.run(["sh", "-c", "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; "
                "uname -n"], with_seccomp(BLOCK_UNAME))
    assert p.returncode == 0, p.stderr
    assert "Seccomp:\t2" in p.stdout and "NoNewPrivs:\t1" in p.stdout
    assert p.stdout.splitlines()[-1] == ""


def test_filter_without_no_new_privileges(rt):
    p = rt.run(["sh", "-c", "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; "
                "uname -n"], with_seccomp(BLOCK_UNAME, nnp=False))
    assert p.returncode == 0, p.stderr
    assert "Seccomp:\t2" in p.stdout and "NoNewPrivs:\t0" in p.stdout
    assert p.stdout.splitlines()[-1] == ""


def test_without_a_filter_uname_works(rt):
    p = rt.run(["sh", "-c", "grep '^Seccomp:' /proc/self/status; uname -n"])
    assert p.stdout == "Seccomp:\t0\nocirt\n"


def test_default_errno_and_allow_list(rt):
    # deny by default with ENOSYS; allow what busybox sh + echo need, but not uname
    allowed = ["read", "write", "openat", "open", "close", "fstat", "newfstatat", "stat",
               "lstat", "mmap", "munmap", "brk", "rt_sigaction", "rt_sigprocmask",
               "rt_sigreturn", "getpid", "getppid", "getuid", "geteuid", "getgid",
               "getegid", "execve", "exit", "exit_group", "arch_prctl", "set_tid_address",
               "ioctl", "fcntl", "dup2", "dup3", "wait4", "clone", "fork", "vfork",
               "prlimit64", "getcwd", "access", "faccessat", "faccessat2", "pipe", "pipe2",
               "lseek", "sigaltstack", "futex", "set_robust_list", "rseq", "getrandom",
               "statx", "readlink", "readlinkat", "mprotect", "uname_is_not_here"]
    sec = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
           "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
           "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"}]}
    p = rt.run(["sh", "-c", "echo alive; uname -n"], with_seccomp(sec))
    assert p.returncode == 0, p.stderr
    assert p.stdout == "alive\n\n"
    # the unknown name was skipped with one warning, not an error
    assert "uname_is_not_here" in p.stderr


def test_argument_conditions(rt):
    # uname(buf) with buf != 0 is always true, so uname fails; MASKED_EQ on another
    # syscall must compile too.
    sec = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["uname"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_NE"}]},
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": 0xff, "valueTwo": 0x8, "op": "SCMP_CMP_MASKED_EQ"}]},
    ]}
    p = rt.run(["uname", "-n"], with_seccomp(sec))
    assert p.returncode == 0, p.stderr
    assert p.stdout == "\n"


def test_kill_process_action(rt):
    sec = {"defaultAction": "SCMP_ACT_ALLOW",
           "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_KILL_PROCESS"}]}
    p = rt.run(["uname", "-n"], with_seccomp(sec))
    assert p.returncode == 128 + 31  # SIGSYS


def test_bad_seccomp_input_is_a_clear_error(rt):
    for sec, needle in (
        ({"defaultAction": "SCMP_ACT_BOGUS"}, "$.linux.seccomp.defaultAction"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_NOPE"]},
         "$.linux.seccomp.architectures[0]"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["uname"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_WHAT"}]}]},
         "$.linux.seccomp.syscalls[0].args[0].op"),
    ):
        p = rt("create", "--bundle", rt.bundle(["true"], with_seccomp(sec)), rt.new_id())
        assert p.returncode == 1, sec
        assert needle in p.stderr and len(p.stderr.splitlines()) == 1, p.stderr
    rt.assert_nothing_left()


PODMAN_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
               "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
               "CAP_SETUID", "CAP_SYS_CHROOT"]


def test_podman_default_profile_runs_busybox(rt):
    from tests.integration.podman_profile import podman_seccomp
    sec = podman_seccomp(PODMAN_CAPS)
    assert len(sec["syscalls"]) > 10 and sec["defaultErrnoRet"] == 38

    def edit(cfg):
        cfg["linux"]["seccomp"] = sec
        cfg["process"]["capabilities"] = {k: PODMAN_CAPS for k in
                                          ("bounding", "effective", "permitted")}
    p = rt.run(["sh", "-c", "grep '^Seccomp:' /proc/self/status; ls / >/dev/null && "
                "echo ok; mount -t tmpfs x /tmp 2>&1 || echo mount-denied"], edit)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "Seccomp:\t2" and lines[1] == "ok"
    assert "mount-denied" in p.stdout  # mount is not in the profile without CAP_SYS_ADMIN


# Debian's libseccomp 2.5.4 does not know WAIT_KILLABLE_RECV; the kernel (5.19+)
# does: such a filter is loaded through seccomp(2) directly.
@pytest.mark.parametrize("flags", [[], ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]])
def test_notify_sends_the_fd_and_state_to_the_listener(rt, tmp_path, flags):
    """A listener gets the container process state and the notify fd, and answers
    the container's uname with EPERM (so busybox prints an empty line)."""
    import json
    import socket
    import struct
    import threading
    import fcntl

    path = str(tmp_path / "listener.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    got = {}

    def listen():
        conn, _ = server.accept()
        with conn:
            data, fds, _, _ = socket.recv_fds(conn, 65536, 1)
        got["state"] = json.loads(data)
        fd = fds[0]
        notif = bytearray(80)  # struct seccomp_notif
        fcntl.ioctl(fd, 0xC0502100, notif)  # SECCOMP_IOCTL_NOTIF_RECV
        notif_id, pid = struct.unpack_from("<QI", notif)
        got["nr"] = struct.unpack_from("<i", notif, 16)[0]
        resp = struct.pack("<QqiI", notif_id, 0, -1, 0)  # error -EPERM
        fcntl.ioctl(fd, 0xC0182101, bytearray(resp))  # SECCOMP_IOCTL_NOTIF_SEND
        os.close(fd)

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    sec = {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": path,
           "listenerMetadata": "meta-data", "flags": flags,
           "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_NOTIFY"}]}
    try:
        p = rt.run(["uname", "-n"], with_seccomp(sec))
        t.join(20)
    finally:
        server.close()
    assert p.returncode == 0, p.stderr
    assert p.stdout == "\n"
    st = got["state"]
    assert st["fds"] == ["seccompFd"] and st["metadata"] == "meta-data"
    assert st["pid"] > 0 and st["state"]["status"] == "creating"
    assert got["nr"] == 63  # uname on x86_64


def test_notify_without_listener_path_is_an_error(rt):
    sec = {"defaultAction": "SCMP_ACT_ALLOW",
           "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_NOTIFY"}]}
    p = rt("create", "--bundle", rt.bundle(["true"], with_seccomp(sec)), rt.new_id())
    assert p.returncode == 1 and "listenerPath" in p.stderr
    rt.assert_nothing_left()


def test_refused_syscall_gets_the_configured_errno(rt):
    sec = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
    p = rt.run(["mkdir", "/tmp/newdir"], with_seccomp(sec))
    assert p.returncode == 1
    assert "Permission denied" in p.stderr  # EACCES, as configured


# ------------------------------------------------ generated profiles and capability sets

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from ocirt.linux.capabilities import NAMES as CAP_NAMES  # noqa: E402

_actions = st.sampled_from(["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_LOG",
                            "SCMP_ACT_TRAP", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRACE",
                            "SCMP_ACT_BOGUS"])
_names = st.lists(st.sampled_from(["uname", "getpid", "mkdir", "mkdirat", "chmod",
                                   "personality", "no_such_call", "ptrace", "reboot"]),
                  min_size=1, max_size=3)
_rule = st.fixed_dictionaries(
    {"names": _names, "action": _actions},
    optional={"errnoRet": st.integers(0, 200),
              "args": st.lists(st.fixed_dictionaries(
                  {"index": st.integers(0, 6), "value": st.integers(0, 2**32),
                   "op": st.sampled_from(["SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_GT",
                                          "SCMP_CMP_MASKED_EQ", "SCMP_CMP_BAD"])}),
                  max_size=2)})
_profiles = st.fixed_dictionaries(
    {"defaultAction": st.sampled_from(["SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_ALLOW"]),
     "syscalls": st.lists(_rule, max_size=4)},
    optional={"architectures": st.lists(st.sampled_from(
        ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"]),
        max_size=2, unique=True)})
_caps = st.lists(st.sampled_from(list(CAP_NAMES) + ["CAP_BOGUS"]), max_size=6, unique=True)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(sec=_profiles, caps=_caps, nnp=st.booleans())
def test_generated_profiles_and_caps_run_or_fail_cleanly(rt, sec, caps, nnp):
    def edit(cfg):
        cfg["linux"]["seccomp"] = sec
        cfg["process"]["noNewPrivileges"] = nnp
        cfg["process"]["capabilities"] = {k: caps for k in ("bounding", "effective",
                                                            "permitted")}
    p = rt.run(["echo", "ran"], edit)
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr
    if p.returncode == 1:
        errors = [line for line in p.stderr.splitlines() if not line.startswith("warning:")]
        assert len(errors) == 1, p.stderr
    else:
        # it ran: either to the end or until the filter stopped it
        assert p.stdout in ("ran\n", "") and p.returncode in (0, 128 + 31, 128 + 5)
    rt.assert_nothing_left()



@pytest.mark.parametrize("action,expect", [
    ("SCMP_ACT_KILL", 128 + 31),          # the thread dies of SIGSYS (it is the only one)
    ("SCMP_ACT_KILL_THREAD", 128 + 31),
    ("SCMP_ACT_TRAP", 128 + 31),          # SIGSYS, not handled by busybox
    ("SCMP_ACT_LOG", 0),                  # allowed, and logged
    ("SCMP_ACT_TRACE", 0),                # no tracer: the call fails with ENOSYS
])
def test_each_action(rt, action, expect):
    sec = {"defaultAction": "SCMP_ACT_ALLOW",
           "syscalls": [{"names": ["uname"], "action": action}]}
    p = rt.run(["uname", "-n"], with_seccomp(sec))
    assert p.returncode == expect, (p.stdout, p.stderr)
    if action == "SCMP_ACT_LOG":
        assert p.stdout == "ocirt\n"
    if action == "SCMP_ACT_TRACE":
        assert p.stdout == "\n"


@pytest.mark.parametrize("flag", ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                                  "SECCOMP_FILTER_FLAG_SPEC_ALLOW"])
def test_filter_flags(rt, flag):
    sec = dict(BLOCK_UNAME, flags=[flag])
    p = rt.run(["uname", "-n"], with_seccomp(sec))
    assert p.returncode == 0, p.stderr
    assert p.stdout == "\n"


def test_wait_killable_recv_needs_a_notify_filter(rt):
    sec = dict(BLOCK_UNAME, flags=["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"])
    p = rt("create", "--bundle", rt.bundle(["true"], with_seccomp(sec)), rt.new_id())
    assert p.returncode == 1 and "SCMP_ACT_NOTIFY" in p.stderr
    rt.assert_nothing_left()


def test_an_unknown_flag_is_a_clear_error(rt):
    sec = dict(BLOCK_UNAME, flags=["SECCOMP_FILTER_FLAG_BOGUS"])
    p = rt("create", "--bundle", rt.bundle(["true"], with_seccomp(sec)), rt.new_id())
    assert p.returncode == 1 and "$.linux.seccomp.flags" in p.stderr
    rt.assert_nothing_left()


# ---- two conditions on one argument (issue 13) ----------------------------------------
# libseccomp refuses two comparisons of one argument in a rule; runc adds each
# condition as a rule of its own, so the action applies when any of them holds.
# Seen through umask(2): each mask is set in a subshell that then creates a file;
# its mode shows whether umask was refused (the mask stays 022: 644).

UMASK_MODES = ["sh", "-c", "for m in 0 3 5 6 77; do (umask $m; touch /tmp/f$m); "
               "echo \"$m:$(stat -c %a /tmp/f$m)\"; done"]


def _umask_rule(*conds):
    return {"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["umask"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 0, "op": op, "value": v} for op, v in conds]}]}


@pytest.mark.parametrize("conds,expected", [
    # either value: 3 and 6 refused, the others set
    ((("SCMP_CMP_EQ", 3), ("SCMP_CMP_EQ", 6)), "0:666 3:644 5:662 6:644 77:600"),
    # a "range" is two rules too: every value matches one of them
    ((("SCMP_CMP_GE", 1), ("SCMP_CMP_LE", 5)), "0:644 3:644 5:644 6:644 77:644"),
], ids=["eq-or-eq", "ge-and-le"])
def test_two_conditions_on_one_argument_load_as_runc_loads_them(rt, tmp_path, conds,
                                                                 expected):
    import shutil
    import subprocess
    import uuid
    b = rt.bundle(UMASK_MODES, with_seccomp(_umask_rule(*conds)))
    p = rt("run", "--bundle", b, rt.new_id())
    assert p.returncode == 0, p.stderr
    assert " ".join(p.stdout.split()) == expected
    runc = shutil.which("runc") or "/usr/sbin/runc"
    if os.access(runc, os.X_OK):
        cid = f"it-{uuid.uuid4().hex[:10]}"
        r = subprocess.run([runc, "--root", str(tmp_path / "runc"), "run", "--bundle", b, cid],
                           capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
        subprocess.run([runc, "--root", str(tmp_path / "runc"), "delete", "-f", cid],
                       capture_output=True)
        assert (r.returncode, r.stdout) == (p.returncode, p.stdout), r.stderr


def test_conditions_on_distinct_arguments_stay_one_rule(rt):
    """Without a repeated argument the conditions are ANDed in one rule, as
    libseccomp (and runc) have them. umask has one argument; arg 1 is
    whatever the register holds, and (arg1 & 0) == 0 holds for any."""
    sec = {"defaultAction": "SCMP_ACT_ALLOW",
           "syscalls": [{"names": ["umask"], "action": "SCMP_ACT_ERRNO",
                         "args": [{"index": 0, "op": "SCMP_CMP_EQ", "value": 3},
                                  {"index": 1, "op": "SCMP_CMP_MASKED_EQ", "value": 0,
                                   "valueTwo": 0}]}]}
    p = rt.run(UMASK_MODES, with_seccomp(sec))
    assert p.returncode == 0, p.stderr
    assert " ".join(p.stdout.split()) == "0:666 3:644 5:662 6:660 77:600"


def test_every_architecture_features_advertises_loads(rt):
    """`features` lists the architectures this build can add to a filter, and
    a filter naming all of them runs the container (the list is derived from
    libseccomp, not written by hand)."""
    import json
    doc = json.loads(rt("features", check=True).stdout)
    archs = doc["linux"]["seccomp"]["archs"]
    assert "SCMP_ARCH_X86_64" in archs and archs == sorted(archs)
    sec = dict(BLOCK_UNAME, architectures=archs)
    p = rt.run(["uname", "-n"], with_seccomp(sec))
    assert p.returncode == 0, p.stderr
    assert p.stdout == "\n"  # the filter applies
    for action in doc["linux"]["seccomp"]["actions"]:
        if action in ("SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_KILL",
                      "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP"):
            continue  # NOTIFY needs a listener; the others end or stop `true` itself
        rule = {"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["uname"], "action": action}]}
        p = rt.run(["true"], with_seccomp(rule))
        assert p.returncode == 0, (action, p.stderr)
