"""`exec`: a new process in a running container, checked from inside it."""
import json
import os
import stat
import subprocess

from tests.integration.conftest import read_fifo, shared_dir


def _ns(pid):
    return {n: os.readlink(f"/proc/{pid}/ns/{n}")
            for n in ("pid", "net", "ipc", "uts", "mnt", "cgroup", "user")}


def test_exec_joins_every_namespace_and_cgroup_of_the_init(rt):
    cid = rt.running()
    init = rt.state(cid)["pid"]
    p = rt("exec", cid, "sh", "-c",
           "echo $$; hostname; cat /proc/self/cgroup; "
           "for n in pid net ipc uts mnt cgroup user; do readlink /proc/self/ns/$n; done")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] != "1" and lines[1] == "ocirt"
    want_cgroup = open(f"/proc/{init}/cgroup").read().splitlines()
    got_cgroup = lines[2:2 + len(want_cgroup)]
    # both see themselves at the root of the container's cgroup namespace
    assert got_cgroup == [line.rsplit(":", 1)[0] + ":/" for line in want_cgroup]
    assert lines[2 + len(want_cgroup):] == list(_ns(init).values())


def test_exec_exit_status_and_signals(rt):
    cid = rt.running()
    assert rt("exec", cid, "sh", "-c", "exit 42").returncode == 42
    assert rt("exec", cid, "sh", "-c", "kill -9 $$").returncode == 128 + 9


def test_exec_flags_are_what_the_process_sees(rt):
    cid = rt.running()
    p = rt("exec", "--user", "1000:1001", "--additional-gids", "5", "--additional-gids", "6",
           "--cwd", "/tmp", "--env", "FOO=bar", "--env", "PATH=/bin", cid,
           "sh", "-c", "id -u; id -g; id -G; pwd; echo $FOO $PATH")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split("\n")[:5] == ["1000", "1001", "1001 5 6", "/tmp", "bar /bin"]


def _caps(text, field):
    line = next(x for x in text.splitlines() if x.startswith(field))
    return int(line.split()[1], 16)


def test_exec_cap_and_no_new_privs(rt):
    cid = rt.running()
    p = rt("exec", cid, "cat", "/proc/self/status")
    assert not _caps(p.stdout, "CapEff") & (1 << 21)  # CAP_SYS_ADMIN not in the default set
    p = rt("exec", "--cap", "CAP_SYS_ADMIN", "--no-new-privs", cid, "cat", "/proc/self/status")
    assert p.returncode == 0, p.stderr
    for field in ("CapEff", "CapPrm", "CapBnd"):
        assert _caps(p.stdout, field) & (1 << 21), field
    for field in ("CapInh", "CapAmb"):  # as runc since CVE-2022-29162
        assert not _caps(p.stdout, field) & (1 << 21), field
    assert "NoNewPrivs:\t1" in p.stdout


def test_exec_process_file(rt, tmp_path):
    cid = rt.running()
    proc = {"args": ["sh", "-c", "id -u; pwd; echo $A; ulimit -n; umask"],
            "env": ["A=from-file", "PATH=/bin"], "cwd": "/etc",
            "user": {"uid": 33, "gid": 33, "umask": 0o27},
            "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456}]}
    f = tmp_path / "process.json"
    f.write_text(json.dumps(proc))
    p = rt("exec", "--process", f, cid)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["33", "/etc", "from-file", "123", "0027"]


def test_exec_with_an_empty_home_gets_the_users(rt, tmp_path):
    # what podman exec --user 1000 sends for a uid without a passwd entry
    cid = rt.running()
    f = tmp_path / "process.json"
    for uid, home in ((1000, "/"), (0, "/root")):
        f.write_text(json.dumps({"args": ["sh", "-c", "echo [$HOME]"], "cwd": "/",
                                 "env": ["PATH=/bin", "HOME="],
                                 "user": {"uid": uid, "gid": 0}}))
        p = rt("exec", "--process", f, cid)
        assert (p.returncode, p.stdout) == (0, f"[{home}]\n"), p.stderr


def test_exec_gets_the_containers_seccomp_filter(rt):
    def edit(cfg):
        cfg["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
    cid = rt.running(edit=edit)
    p = rt("exec", cid, "mkdir", "/tmp/d")
    assert p.returncode == 1 and "Permission denied" in p.stderr


def test_exec_detach_and_pid_file(rt, tmp_path):
    cid = rt.running()
    pid_file = tmp_path / "exec.pid"
    p = rt("exec", "--detach", "--pid-file", pid_file, cid, "sleep", "1000")
    assert p.returncode == 0 and p.stdout == "" and p.stderr == ""
    pid = int(pid_file.read_text())
    assert open(f"/proc/{pid}/cmdline").read().split("\0")[0] == "sleep"
    ps = json.loads(rt("ps", "--format", "json", cid, check=True).stdout)
    assert pid in ps


def test_exec_into_a_paused_container(rt, tmp_path):
    host, edit = shared_dir(tmp_path, "/sync", fifos=("out",))
    cid = rt.running(edit=edit)
    rt("pause", cid, check=True)
    p = rt("exec", "-d", cid, "true")
    assert p.returncode == 255 and "paused" in p.stderr  # runc's exec: 255
    pid_file = tmp_path / "p.pid"
    p = rt("exec", "-d", "--ignore-paused", "--pid-file", pid_file, cid,
           "sh", "-c", "echo ran > /sync/out")
    assert p.returncode == 0, p.stderr
    pid = int(pid_file.read_text())
    assert pid in json.loads(rt("ps", "--format", "json", cid, check=True).stdout)
    rt("resume", cid, check=True)
    assert read_fifo(host / "out") == "ran\n"


def test_exec_refusals_leave_nothing_behind(rt, tmp_path):
    p = rt("exec", "nosuch", "true")
    assert p.returncode == 255 and "does not exist" in p.stderr  # runc's exec: 255
    cid = rt.running()
    before = set(json.loads(rt("ps", "--format", "json", cid, check=True).stdout))
    bad = tmp_path / "bad.json"
    bad.write_text('{"args": "not a list", "cwd": "/"}')
    for opts, cmd, words in (([], ["nosuchprogram"], "not found"),
                             ([], [], "needs a command"),
                             (["--process", bad], [], "$.process.args"),
                             (["--process", tmp_path / "missing.json"], [], "--process"),
                             (["--user", "nobody"], ["true"], "--user"),
                             (["--cap", "CAP_NOPE"], ["true"], "CAP_NOPE"),
                             (["--cgroup", "nosub"], ["true"], "--cgroup"),
                             (["--tty", "--detach"], ["true"], "console-socket")):
        args = opts + cmd
        p = rt("exec", *opts, cid, *cmd)
        assert p.returncode == 255, args
        assert words in p.stderr and "Traceback" not in p.stderr, (args, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    after = set(json.loads(rt("ps", "--format", "json", cid, check=True).stdout))
    assert after == before
    stopped = rt.new_id()
    rt("run", "--keep", "--bundle", rt.bundle(("true",)), stopped, check=True)
    p = rt("exec", stopped, "true")
    assert p.returncode == 255 and "stopped" in p.stderr


def test_non_root_exec_uses_the_callers_stdio_without_touching_host_files(rt, tmp_path):
    # The caller's stdio is root-owned and private; the process (uid 1000)
    # must use it through the fds it inherits. Nothing on the host may be
    # chowned or chmodded for that: other runtimes have broken hosts by
    # chowning the caller's /dev/null.
    cid = rt.running()
    watched = ["/dev/null", "/dev/zero", "/dev/tty"]
    before = {p: os.stat(p) for p in watched}
    src = tmp_path / "in.txt"
    src.write_text("secret input\n")
    os.chmod(src, 0o600)
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    for f in (out, err):
        f.touch(mode=0o600)
    with open(src) as i, open(out, "w") as o, open(err, "w") as e:
        rc = subprocess.run([rt.bin, "--root", rt.root, "exec", "--user", "1000:1000", cid,
                             "sh", "-c", "id -u; cat; echo to-stderr >&2; cat </dev/null"],
                            stdin=i, stdout=o, stderr=e, timeout=60).returncode
    assert rc == 0, err.read_text()
    assert out.read_text() == "1000\nsecret input\n"
    assert err.read_text() == "to-stderr\n"
    for f in (src, out, err):
        st = os.stat(f)
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o600), f
    for p, st in before.items():
        now = os.stat(p)
        assert (now.st_uid, now.st_gid, now.st_mode) == (st.st_uid, st.st_gid, st.st_mode), p
    with open("/dev/null", "w") as f:  # still usable by everyone
        f.write("x")


def test_a_non_root_process_can_reopen_its_stdio_pipes(rt):
    # Engines give pipes, and programs reopen them (/dev/stdout, /dev/stdin):
    # the pipes become the user's (the uid only, as runc); host files never
    # do (above).
    script = "cat /dev/stdin; echo out > /dev/stdout; echo err > /dev/stderr; id -u"

    def as_1000(cfg):
        cfg["process"]["user"] = {"uid": 1000, "gid": 1000}
    run = [rt.bin, "--root", rt.root, "run", "--bundle", rt.bundle(["sh", "-c", script],
                                                                   as_1000), rt.new_id()]
    cid = rt.running()
    exec_ = [rt.bin, "--root", rt.root, "exec", "--user", "1000:1000", cid, "sh", "-c", script]
    for argv in (run, exec_):
        p = subprocess.run(argv, input=b"in\n", capture_output=True, timeout=60)
        assert (p.returncode, p.stdout, p.stderr) == (0, b"in\nout\n1000\n", b"err\n"), argv


def test_exec_preserve_fds(rt, tmp_path):
    cid = rt.running()
    extra = tmp_path / "extra.txt"
    extra.write_text("through fd 3\n")
    # the shell opens fd 3 for the runtime; fd 4 (not preserved) must not arrive
    p = subprocess.run(["sh", "-c", 'exec 3<"$1" 4<"$1"; shift; exec "$@"', "sh", str(extra),
                        rt.bin, "--root", rt.root, "exec", "--preserve-fds", "1", cid,
                        "sh", "-c", "cat <&3; [ -e /proc/$$/fd/4 ] && echo fd-4-leaked; "
                        "[ -e /proc/$$/fd/3 ] && echo fd-3-here"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["through fd 3", "fd-3-here"]
