"""exec as runc's (issue 13, 2.12, 2.15, 2.21), side by side with runc on the
same bundle: an exec'd process without a terminal leads its own session; a
cwd only root can enter works for another user; the exit status is the
process's, or 255 for the runtime's own errors, given on one line that names
the problem and never a Python exception."""
import json
import re

import pytest

from tests.integration.runc_pair import runc  # noqa: F401 - fixture

PY_EXCEPTION = re.compile(r"\b[A-Z]\w*(Error|Exception)\b|internal error|Traceback")


def with_secret(public_tmp):
    """An edit that binds a 0700 root directory at /root-only (a bind mount: runc
    1.1 ignores a tmpfs's mode=)."""
    d = public_tmp / "secret"
    d.mkdir(mode=0o700)
    (d / "file").write_text("x")

    def edit(cfg):
        cfg["process"]["terminal"] = False
        cfg["mounts"].append({"destination": "/root-only", "type": "bind", "source": str(d),
                              "options": ["rbind", "ro"]})
    return edit


@pytest.fixture
def pair(rt, runc, public_tmp):
    """The same bundle running in ocirt and in runc: (ocirt id, runc id), with
    a 0700 root directory at /root-only."""
    edit = with_secret(public_tmp)
    b = rt.bundle(("sleep", "1000"), edit)
    cid, rid = rt.new_id(), runc.new_id()
    assert rt("run", "-d", "--bundle", b, cid).returncode == 0
    q = runc("run", "-d", "--bundle", b, rid)
    assert q.returncode == 0, q.stderr
    return cid, rid


def both(rt, runc, pair, *args):
    cid, rid = pair
    return rt("exec", *args[:-1], cid, *args[-1]), runc("exec", *args[:-1], rid, *args[-1])


def test_exec_without_a_terminal_leads_its_own_session(rt, runc, pair):
    """/proc/self/stat of the exec'd process: session == pgrp == pid, as
    runc's (setsid). Before: it stayed in the session of the init (0)."""
    script = "set -- $(cat /proc/$$/stat); echo $1 $5 $6"
    p, q = both(rt, runc, pair, ("sh", "-c", script))
    assert (p.returncode, q.returncode) == (0, 0), (p.stderr, q.stderr)
    for out in (p.stdout, q.stdout):
        pid, pgrp, sid = out.split()
        assert pid == pgrp == sid, out


def test_a_cwd_only_root_can_enter_works_for_another_user(rt, runc, pair):
    """process.cwd /root-only (0700 root) for uid 1000: entered before the user
    switch, as runc. Before: "chdir(/root-only): Permission denied"."""
    p, q = both(rt, runc, pair, "--user", "1000:1000", "--cwd", "/root-only",
                ("sh", "-c", "pwd; id -u; ls . >/dev/null 2>&1 || echo cannot-list"))
    assert (p.returncode, q.returncode) == (0, 0), (p.stderr, q.stderr)
    assert (p.stdout, q.stdout) == ("/root-only\n1000\ncannot-list\n",) * 2


def test_a_cwd_only_root_can_enter_for_the_containers_process(rt, runc, public_tmp):
    """The same through create/start: process.cwd and process.user in config.json."""
    secret = with_secret(public_tmp)

    def edit(cfg):
        secret(cfg)
        cfg["process"]["user"] = {"uid": 1000, "gid": 1000}
        cfg["process"]["cwd"] = "/root-only"
    b = rt.bundle(("sh", "-c", "pwd; id -u"), edit)
    p = rt("run", "--bundle", b, rt.new_id())
    q = runc("run", "--bundle", b, runc.new_id())
    assert (p.returncode, q.returncode) == (0, 0), (p.stderr, q.stderr)
    assert p.stdout == q.stdout == "/root-only\n1000\n"


@pytest.mark.parametrize("script,status", [("exit 0", 0), ("exit 3", 3), ("exit 255", 255),
                                           ("kill -9 $$", 137), ("kill -15 $$", 143)])
def test_exec_exits_with_the_process_status(rt, runc, pair, script, status):
    p, q = both(rt, runc, pair, ("sh", "-c", script))
    assert p.returncode == q.returncode == status, (p.stderr, q.stderr)


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


ERRORS = {
    # name: (args before the id, command after it, words of ocirt's line)
    "missing binary": ((), ("/nonexistent",), "no such file or directory"),
    "not in PATH": ((), ("nosuchcmd",), "executable file not found"),
    "not executable": ((), ("/etc/passwd",), "permission denied"),
    "missing cwd": (("--cwd", "/nonexistent"), ("true",), "$.process.cwd"),
    "cwd not a directory": (("--cwd", "/bin/sh"), ("true",), "$.process.cwd"),
    "bad user": (("--user", "abc"), ("true",), "--user 'abc'"),
    "bad gid": (("--user", "1000:abc"), ("true",), "--user 'abc'"),
    "bad env": (("--env", "NOEQUALS"), ("true",), "$.process.env"),
    "bad cgroup": (("--cgroup", "nosuch"), ("true",), "--cgroup"),
    "pid file dir missing": (("--pid-file", "/nonexistent/dir/pid"), ("true",),
                             "--pid-file"),
    "preserve-fds not passed": (("--preserve-fds", "100"), ("true",), "--preserve-fds"),
    "detached tty without socket": (("-d", "-t"), ("true",), "--console-socket"),
    "unknown capability": (("--cap", "CAP_BOGUS"), ("true",), "CAP_BOGUS"),
    # before: a bare "Invalid argument" (AppArmor has no such profile loaded)
    "unknown AppArmor profile": (("--apparmor", "ocirt-no-such-profile"), ("true",),
                                 "$.process.apparmorProfile"),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_runtime_errors_exit_255_on_one_line(rt, runc, pair, name):
    """255 as runc's exec for the runtime's own errors (runc then says "exec
    failed: ..."); one line naming the problem. Before: status 1."""
    before, command, words = ERRORS[name]
    p, q = both(rt, runc, pair, *before, command)
    assert q.returncode == 255 or name == "unknown capability", (name, q.returncode, q.stderr)
    assert p.returncode == 255, (p.returncode, p.stderr)
    assert len(p.stderr.splitlines()) == 1 and words in p.stderr, p.stderr
    assert not PY_EXCEPTION.search(p.stderr), p.stderr


def test_bad_process_json_and_container_states_exit_255(rt, runc, pair, tmp_path):
    """--process files that cannot be used, a container that does not exist,
    is not running (created, then stopped): 255, one line, in both."""
    cid, rid = pair
    cases = {
        "missing file": _write(tmp_path, "x", "") + ".missing",
        "a directory": str(tmp_path),
        "malformed": _write(tmp_path, "malformed.json", '{"args": ["true"], "cwd": "/"'),
        "not an object": _write(tmp_path, "list.json", "[]"),
        "args a string": _write(tmp_path, "args.json", '{"args": "true", "cwd": "/"}'),
        "no cwd": _write(tmp_path, "nocwd.json", '{"args": ["true"]}'),
        "relative cwd": _write(tmp_path, "rel.json", '{"args": ["true"], "cwd": "rel"}'),
        "empty args": _write(tmp_path, "empty.json", '{"args": [], "cwd": "/"}'),
        "unknown rlimit": _write(tmp_path, "rl.json", json.dumps({
            "args": ["true"], "cwd": "/",
            "rlimits": [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]})),
    }
    for what, path in cases.items():
        p = rt("exec", "--process", path, cid)
        q = runc("exec", "--process", path, rid)
        assert q.returncode == 255, (what, q.stderr)
        assert p.returncode == 255 and len(p.stderr.splitlines()) == 1, (what, p.stderr)
        assert not PY_EXCEPTION.search(p.stderr), (what, p.stderr)
    p = rt("exec", "it-no-such-container", "true")
    q = runc("exec", "rc-no-such-container", "true")
    assert p.returncode == q.returncode == 255, (p.stderr, q.stderr)
    assert p.stderr == "container does not exist: it-no-such-container\n"
    pid = rt.state(cid)["pid"]
    assert rt("kill", cid, "KILL").returncode == 0 and runc("kill", rid, "KILL").returncode == 0
    from tests.integration.conftest import wait_pids_gone
    assert not wait_pids_gone([pid])
    import time
    for _ in range(100):  # runc's state: until it reads stopped
        if json.loads(runc("state", rid).stdout)["status"] == "stopped":
            break
        time.sleep(0.05)
    p, q = both(rt, runc, pair, ("true",))
    assert p.returncode == q.returncode == 255, (p.stderr, q.stderr)
    assert p.stderr == "cannot exec in a container that is stopped\n"


def test_an_unknown_flag_is_a_usage_error(rt, pair):
    """As runc: status 1 and the flag named (before: "container does not
    exist: --bogus-flag")."""
    cid, _ = pair
    p = rt("exec", "--bogus-flag", cid, "true")
    assert p.returncode == 1 and "--bogus-flag" in p.stderr and "does not exist" not in p.stderr
