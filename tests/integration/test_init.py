"""The built-in init (`create --init`, `run --init`, or the annotation
org.ocirt.init: "true"): csrc/init.c, executed from a sealed memfd
(ocirt/linux/pid1.py). Seen from inside real containers: zombies, signals,
exit statuses, exec, /proc/1/exe, its memory, seccomp and terminals."""
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys

import pytest

from tests.integration.conftest import bind, one_line_error, read_fifo, shared_dir, wait_pids_gone
from tests.integration.test_runtime_options import run_socket_activated
from tests.integration.test_terminal import create_with_console, read_until, read_until_closed

INIT = {"org.ocirt.init": "true"}

# 100 orphans: each is the subshell of a `sh -c '... &'` that exits at once,
# so it is re-parented to pid 1. They block on a read of fd 3 (a fifo opened
# read-write) until RELEASE writes a line for each.
SPAWN = r"""
mkfifo /tmp/go && exec 3<>/tmp/go
i=0; while [ $i -lt 100 ]; do sh -c 'read x <&3 &'; i=$((i+1)); done
"""
RELEASE = "i=0; while [ $i -lt 100 ]; do echo; i=$((i+1)); done >/tmp/go\n"
# Run in a process that is neither pid 1 nor the orphans' parent (exec'd),
# so that it reaps nothing itself: look at every process but pid 1, itself
# and `sleep` (the container's process) until none is alive and none is a
# zombie, at most 300 times after the last one died (a bound, no sleep), and
# tell how many zombies were seen last.
CHECK = r"""
after=0
while [ $after -lt 300 ]; do
  z=0; live=0
  for f in /proc/[0-9]*/stat; do
    read -r pid comm st rest 2>/dev/null <"$f" || continue
    case $pid in 1|$$) continue;; esac
    [ "$comm" = "(sleep)" ] && continue
    if [ "$st" = Z ]; then z=$((z+1)); else live=$((live+1)); fi
  done
  [ $live -eq 0 ] || continue
  [ $z -eq 0 ] && break
  after=$((after+1))
done
echo zombies=$z live=$live
"""


def annotated(extra=None, **more):
    def edit(cfg):
        cfg.setdefault("annotations", {}).update(dict(INIT, **(extra or {})))
        for k, v in more.items():
            cfg["process"][k] = v
    return edit


def both(*edits):
    def edit(cfg):
        for e in edits:
            e(cfg)
    return edit


def init_pid(rt, cid):
    return rt.state(cid)["pid"]


def installed_package():
    """The ocirt package as installed (the tests import the tree's)."""
    return subprocess.run([sys.executable, "-I", "-c", "import ocirt; print(ocirt.__file__)"],
                          cwd="/", check=True, capture_output=True,
                          text=True).stdout.strip().rsplit("/", 1)[0]


def installed_init():
    return os.path.join(installed_package(), "ocirt-init")


def orphans_of_the_process(rt, tmp_path, *flags, edit=None):
    """The container's process leaves 100 orphans (then becomes `sleep`,
    which reaps nothing); what an exec'd CHECK then sees."""
    host, share = shared_dir(tmp_path, "/shared", ("ready",))
    script = SPAWN + "echo ready > /shared/ready; exec sleep 1000"
    cid = rt.new_id()
    rt("run", "-d", *flags, "--bundle", rt.bundle(("sh", "-c", script), both(share, *(
        [edit] if edit else []))), cid, check=True)
    assert read_fifo(host / "ready") == "ready\n"
    return rt("exec", cid, "sh", "-c", RELEASE + CHECK)


def test_orphans_of_the_process_leave_no_zombie(rt, tmp_path):
    p = orphans_of_the_process(rt, tmp_path, "--init")
    assert (p.returncode, p.stdout) == (0, "zombies=0 live=0\n"), p.stderr


def test_orphans_leave_no_zombie_with_the_annotation(rt, tmp_path):
    p = orphans_of_the_process(rt, tmp_path, edit=annotated())
    assert (p.returncode, p.stdout) == (0, "zombies=0 live=0\n"), p.stderr


def test_without_init_the_orphans_stay_zombies(rt, tmp_path):
    """The same program without the init: this is what the test above sees."""
    p = orphans_of_the_process(rt, tmp_path)
    assert (p.returncode, p.stdout) == (0, "zombies=100 live=0\n"), p.stderr


def test_init_is_pid_1_and_the_process_its_child(rt):
    script = "tr '\\0' ' ' </proc/1/cmdline | cut -d' ' -f1; echo $$ $PPID; ls /proc/self/fd"
    p = rt("run", "--init", "--bundle", rt.bundle(("sh", "-c", script)), rt.new_id())
    # no fd but stdio (and ls's own directory) reaches the process: not the memfd
    assert (p.returncode, p.stdout.split()) == (0, ["ocirt-init", "2", "1", "0", "1", "2", "3"]), \
        p.stderr


def test_kill_sigterm_reaches_the_child(rt, tmp_path):
    host, share = shared_dir(tmp_path, "/shared", ("ready", "fifo"))
    script = ("trap 'echo term:$$ > /shared/fifo; exit 0' TERM; echo ready > /shared/ready; "
              "sleep 1000 & wait")
    cid = rt.new_id()
    rt("run", "--init", "-d", "--bundle", rt.bundle(("sh", "-c", script), share), cid,
       check=True)
    assert read_fifo(host / "ready") == "ready\n"
    rt("kill", cid, "TERM", check=True)
    assert read_fifo(host / "fifo") == "term:2\n"


def test_process_group_annotation_signals_the_whole_group(rt, tmp_path):
    """org.ocirt.init.process-group: a job the process started in the
    background (its own process group) gets the signal too."""
    host, share = shared_dir(tmp_path, "/shared", ("ready", "fifo"))
    # The process outlives the job (it may not end first: the init would
    # exit with it, and the kernel kill the job), also when the TERM
    # interrupts its wait. The job's open of the fifo is tried again when
    # SIGCHLD (its sleep killed by the same TERM) interrupts it: busybox
    # sh has a handler for SIGCHLD.
    script = ("trap 'got=1' TERM; "
              "(trap 'until echo job 2>/dev/null > /shared/fifo; do :; done; exit 0' TERM; "
              "echo ready > /shared/ready; sleep 1000 & wait) & job=$!; "
              "while kill -0 $job 2>/dev/null; do wait $job; done")
    edit = both(share, annotated({"org.ocirt.init.process-group": "true"}))
    cid = rt.new_id()
    rt("run", "-d", "--bundle", rt.bundle(("sh", "-c", script), edit), cid, check=True)
    assert read_fifo(host / "ready") == "ready\n"
    rt("kill", cid, "TERM", check=True)
    assert read_fifo(host / "fifo") == "job\n"


@pytest.mark.parametrize("script,code", [("exit 3", 3), ("kill -KILL $$", 137),
                                         ("kill -USR1 $$", 138), ("exit 0", 0)])
def test_exit_status_is_the_childs(rt, script, code):
    p = rt("run", "--init", "--bundle", rt.bundle(("sh", "-c", script)), rt.new_id())
    assert p.returncode == code, p.stderr


def test_create_init_then_start_and_state(rt, tmp_path):
    host, share = shared_dir(tmp_path, "/shared", ("fifo",))
    script = "tr '\\0' ' ' </proc/1/cmdline | cut -d' ' -f1 > /shared/fifo; exit 3"
    cid = rt.new_id()
    rt("create", "--init", "--bundle", rt.bundle(("sh", "-c", script), share), cid, check=True)
    assert rt.state(cid)["status"] == "created"
    pid = init_pid(rt, cid)
    rt("start", cid, check=True)
    assert read_fifo(host / "fifo") == "ocirt-init\n"
    assert wait_pids_gone([pid]) == []
    assert rt.state(cid)["status"] == "stopped"


def test_annotation_false_or_absent_means_no_init(rt):
    edit = annotated()

    def off(cfg):
        edit(cfg)
        cfg["annotations"]["org.ocirt.init"] = "false"
    p = rt.run(("sh", "-c", "echo $$"), off)
    assert (p.returncode, p.stdout) == (0, "1\n"), p.stderr


def test_exec_into_an_init_container(rt):
    cid = rt.new_id()
    rt("run", "-d", "--bundle", rt.bundle(("sleep", "1000"), annotated()), cid, check=True)
    p = rt("exec", cid, "sh", "-c", "echo out; echo err >&2; exit 4")
    assert (p.returncode, p.stdout, p.stderr) == (4, "out\n", "err\n")
    # the orphans of an exec'd process go to pid 1, the init, which reaps them
    p = rt("exec", cid, "sh", "-c", SPAWN + RELEASE + CHECK)
    assert (p.returncode, p.stdout) == (0, "zombies=0 live=0\n"), p.stderr
    assert rt.state(cid)["status"] == "running"


# Each way into the init's executable from inside, as root of the container
# with CAP_SYS_PTRACE (so that /proc/1/exe may be opened at all): opened for
# writing with O_TRUNC, for appending, and reopened through /proc/self/fd
# from a read-only fd. It prints what /proc/1/exe is (a memfd, not a host
# path), what succeeded, and the checksum of what /proc/1/exe holds. (While
# the init runs, the kernel also refuses to open its executable for writing,
# ETXTBSY, sealed or not: the seals are what hold without that rule, and
# test_proc_1_exe_is_a_sealed_memfd checks them.)
ATTACK = r"""
readlink /proc/1/exe | cut -d' ' -f1
( : > /proc/1/exe ) 2>/dev/null && echo truncated
( echo x >> /proc/1/exe ) 2>/dev/null && echo appended
( exec 4</proc/1/exe && echo x >> /proc/self/fd/4 ) 2>/dev/null && echo fd-appended
( exec 4</proc/1/exe && : > /proc/self/fd/4 ) 2>/dev/null && echo fd-truncated
sha256sum /proc/1/exe | cut -d' ' -f1
"""


def test_proc_1_exe_cannot_be_written_from_inside(rt):
    def caps(cfg):
        for s in ("bounding", "effective", "permitted"):
            cfg["process"]["capabilities"][s].append("CAP_SYS_PTRACE")
    path = installed_init()
    with open(path, "rb") as f:
        before = hashlib.sha256(f.read()).hexdigest()
    p = rt("run", "--init", "--bundle", rt.bundle(("sh", "-c", ATTACK), caps), rt.new_id())
    assert (p.returncode, p.stdout) == (0, f"/memfd:ocirt-init\n{before}\n"), p.stderr
    with open(path, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == before


def test_proc_1_exe_is_a_sealed_memfd(rt):
    cid = rt.new_id()
    rt("run", "--init", "-d", "--bundle", rt.bundle(("sleep", "1000")), cid, check=True)
    pid = init_pid(rt, cid)
    assert os.readlink(f"/proc/{pid}/exe").startswith("/memfd:ocirt-init")
    with open(f"/proc/{pid}/exe", "rb") as f, open(installed_init(), "rb") as g:
        seals = fcntl.fcntl(f.fileno(), fcntl.F_GET_SEALS)
        assert f.read() == g.read()
    want = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
    assert seals & want == want, hex(seals)


def test_init_rss_is_at_most_1_mib(rt):
    cid = rt.new_id()
    rt("run", "--init", "-d", "--bundle", rt.bundle(("sleep", "1000")), cid, check=True)
    with open(f"/proc/{init_pid(rt, cid)}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    assert rss <= 1024, f"VmRSS {rss} kB"


def test_init_under_a_profile_refusing_execveat(rt):
    """runc's own profiles allow execve, not execveat: the init is then
    executed through /proc/self/fd/N (the memfd), and it runs under the
    filter itself."""
    def refusing(cfg):
        cfg["linux"]["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["execveat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    for nnp in (False, True):  # the filter loaded early, or just before the exec
        def edit(cfg, nnp=nnp):
            refusing(cfg)
            cfg["process"]["noNewPrivileges"] = nnp
        script = "tr '\\0' ' ' </proc/1/cmdline | cut -d' ' -f1; exit 5"
        p = rt("run", "--init", "--bundle", rt.bundle(("sh", "-c", script), edit), rt.new_id())
        assert (p.returncode, p.stdout) == (5, "ocirt-init\n"), (nnp, p.stderr)


def test_a_program_that_cannot_run_under_init(rt, tmp_path):
    p = rt("run", "--init", "--bundle", rt.bundle(("/nosuch",)), rt.new_id())
    one_line_error(p, "/nosuch", "no such file")
    # found, but its execve fails in the init's child: the child reports it
    # on start's connection as the exec stub would (start waits for the exec
    # when there are poststart hooks), and the container stops
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\0\1\2 not a program")
    garbage.chmod(0o755)

    def edit(cfg):
        bind(cfg, garbage, "/garbage", ("bind", "ro"))
        cfg["hooks"] = {"poststart": [{"path": "/bin/true"}]}
    p = rt("run", "--init", "--bundle", rt.bundle(("/garbage",), edit), rt.new_id())
    one_line_error(p, "$.process.args: exec /garbage: exec format error")


def test_terminal_child_owns_the_foreground(rt, tmp_path):
    """With process.terminal, the process (not the init) is the terminal's
    foreground process group: ^C reaches it, a shell has job control."""
    cid = rt.new_id()
    # fields 5 and 8 of stat: the process group and the terminal's foreground group
    script = ("read -r a b c d pgrp f g tpgid rest </proc/self/stat; echo pg=$pgrp tp=$tpgid "
              "pid=$$; trap 'echo got-int; exit 0' INT; echo waiting; read x; echo no-int")

    def edit(cfg):
        cfg["process"]["terminal"] = True
    bundle = rt.bundle(("sh", "-c", script), edit)
    master, _ = create_with_console(rt, tmp_path / "console.sock", bundle, cid, "--init")
    try:
        rt("start", cid, check=True)
        early = read_until(master, b"waiting")
        os.write(master, b"\x03")  # ^C: SIGINT to the foreground group
        out = early + read_until_closed(master)
    finally:
        os.close(master)
    assert "pg=2 tp=2 pid=2" in out, out
    assert "got-int" in out and "no-int" not in out, out


def test_missing_init_is_one_line_and_leaves_nothing(rt, tmp_path):
    """An install where the init could not be built: a copy of the package
    without ocirt-init, run with `python -m ocirt`."""
    pkg = installed_package()
    tree = tmp_path / "site"
    shutil.copytree(pkg, tree / "ocirt", ignore=shutil.ignore_patterns("ocirt-init"))
    env = dict(os.environ, PYTHONPATH=str(tree))
    for how in (["--init"], []):
        edit = annotated() if not how else None
        cmd = [sys.executable, "-m", "ocirt", "--root", rt.root, "run", *how, "--bundle",
               rt.bundle(("true",), edit), rt.new_id()]
        p = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True,
                           timeout=60)
        line = one_line_error(p, "ocirt-init", "pip install")
        assert line.startswith("--init" if how else "$.annotations['org.ocirt.init']"), line
    rt.assert_nothing_left()



def test_init_in_a_user_namespace(rt):
    """With a user namespace stage-1 forks the init: the memfd made by
    create reaches it all the same."""
    def edit(cfg):
        cfg["linux"]["namespaces"].append({"type": "user"})
        for key in ("uidMappings", "gidMappings"):
            cfg["linux"][key] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    script = "tr '\\0' ' ' </proc/1/cmdline | cut -d' ' -f1; echo $$; exit 6"
    p = rt("run", "--init", "--bundle", rt.bundle(("sh", "-c", script), edit), rt.new_id())
    assert (p.returncode, p.stdout) == (6, "ocirt-init\n2\n"), p.stderr


def test_socket_activation_names_the_process(rt, tmp_path):
    """LISTEN_FDS: the runtime says LISTEN_PID=1; with the init, the process
    that gets the fds is its child, and LISTEN_PID says so (the fds, and
    those of --preserve-fds, reach it)."""
    # with the init, the process is its child, pid 2
    assert run_socket_activated(rt, tmp_path, "$LISTEN_FDS $LISTEN_PID $$", "--init") == "1 2 2"
