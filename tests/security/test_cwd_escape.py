"""CVE-2024-21626: a working directory that is a host directory.

An engine that runs the runtime with a directory fd that is not
close-on-exec (or preserves one on purpose) hands the container a way out:
a cwd of /proc/self/fd/N is that host directory, and everything under it is
reachable by relative paths. The runtime closes every fd that is not
preserved before any chdir, and refuses a cwd that lies outside the
container's root (a preserved directory fd).
"""
import os
import subprocess
import tempfile

import pytest

SECRET = "host secret 5f1c"


@pytest.fixture
def host_dir(tmp_path):
    d = tmp_path / "hostdir"
    d.mkdir()
    (d / "secret").write_text(SECRET)
    return d


def _ocirt_with_fd(rt, fd_path, at, *args):
    """Run ocirt with a directory fd of fd_path open at number <at>, inheritable,
    as a careless engine would leave it."""
    cmd = [rt.bin, "--root", rt.root] + [str(a) for a in args]

    def place():
        fd = os.open(fd_path, os.O_RDONLY | os.O_DIRECTORY)
        if fd != at:
            os.dup2(fd, at)  # inheritable
            os.close(fd)
        else:
            os.set_inheritable(fd, True)

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        rc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                            preexec_fn=place, close_fds=False, timeout=60).returncode
        out.seek(0)
        err.seek(0)
        return rc, out.read().decode(), err.read().decode()


def _one_line_error(rc, err):
    assert rc != 0
    assert len(err.strip().splitlines()) == 1, err
    assert "internal error" not in err and "Traceback" not in err, err


@pytest.mark.parametrize("fd", [7, 42])
def test_exec_cwd_through_a_leaked_fd(rt, host_dir, fd):
    cid = rt.running()
    rc, out, err = _ocirt_with_fd(rt, host_dir, fd, "exec", "--cwd", f"/proc/self/fd/{fd}",
                                  cid, "cat", "secret")
    assert SECRET not in out
    _one_line_error(rc, err)
    assert "process.cwd" in err or "cwd" in err, err


def test_exec_cwd_through_a_preserved_fd(rt, host_dir):
    """The engine preserved the directory on purpose: it stays open, but the
    cwd it leads to is outside the root."""
    cid = rt.running()
    rc, out, err = _ocirt_with_fd(rt, host_dir, 3, "exec", "--preserve-fds", "1",
                                  "--cwd", "/proc/self/fd/3", cid, "cat", "secret")
    assert SECRET not in out
    _one_line_error(rc, err)
    assert "outside the container's root" in err, err


def test_exec_relative_escape_from_a_leaked_fd(rt, host_dir):
    """A process that walks up from /proc/self/fd/N finds nothing of the host
    either: the fd is gone by the time it runs."""
    cid = rt.running()
    rc, out, err = _ocirt_with_fd(rt, host_dir, 9, "exec", cid, "sh", "-c",
                                  "cat /proc/self/fd/9/secret; ls -l /proc/self/fd")
    assert SECRET not in out
    assert "9 ->" not in out, out


def test_create_cwd_through_a_leaked_fd(rt, host_dir):
    def edit(cfg):
        cfg["process"]["cwd"] = "/proc/self/fd/5"
    b = rt.bundle(["cat", "secret"], edit)
    cid = rt.new_id()
    rc, out, err = _ocirt_with_fd(rt, host_dir, 5, "run", "--bundle", b, cid)
    assert SECRET not in out
    _one_line_error(rc, err)
    assert not os.path.exists(os.path.join(rt.root, cid))


def test_preserve_fds_with_a_gap_is_refused(rt):
    """--preserve-fds 2 with fd 4 never passed: ocirt's own fds (the state
    directory, a namespace) could take that number and reach the container."""
    cid = rt.running()
    with open(os.devnull) as f:
        def place():
            os.dup2(f.fileno(), 3)
            os.close(4) if _is_open(4) else None
        p = subprocess.run([rt.bin, "--root", rt.root, "exec", "--preserve-fds", "2", cid,
                            "ls", "-l", "/proc/self/fd/"], preexec_fn=place, close_fds=False,
                           capture_output=True, text=True, timeout=60)
    _one_line_error(p.returncode, p.stderr)
    assert "--preserve-fds 2: fd 4 was not passed by the caller" in p.stderr


def _is_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def test_cwd_entered_as_root_cannot_reach_the_host_through_proc(rt, public_tmp):
    """The cwd is entered as root now, before the user switch (issue 13,
    2.15, as runc): root, with every capability at that moment, may follow
    /proc/<pid>/root where the user could not. The image's own symlink
    /wd -> /proc/1/root, in a container without a pid namespace (its /proc
    shows the host's pid 1), would make the cwd the host's root: refused, as
    outside the container's root, for the container's process and for exec.
    (Before this change the user's chdir failed with EACCES: this guards the
    new path.)"""
    import shutil
    root = public_tmp / "rootfs"
    shutil.copytree(rt.rootfs, root, symlinks=True)
    os.symlink("/proc/1/root", root / "wd")
    marker = f"ocirt-host-marker-{os.getpid()}"
    with open(f"/{marker}", "w") as f:  # in the host's root only
        f.write(SECRET)
    try:
        def edit(cfg):
            cfg["root"] = {"path": str(root), "readonly": True}
            cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"]
                                          if n["type"] != "pid"]
            cfg["process"]["user"] = {"uid": 1000, "gid": 1000}
            cfg["process"]["cwd"] = "/wd"
        p = rt("run", "--bundle", rt.bundle(("cat", marker), edit), rt.new_id())
        assert SECRET not in p.stdout
        _one_line_error(p.returncode, p.stderr)
        assert "$.process.cwd" in p.stderr  # refused at create already (made in the root)

        def plain(cfg):
            edit(cfg)
            cfg["process"]["cwd"] = "/"
        cid = rt.running(("sleep", "1000"), plain)
        p = rt("exec", "--user", "1000:1000", "--cwd", "/wd", cid, "cat", marker)
        assert SECRET not in p.stdout
        _one_line_error(p.returncode, p.stderr)
        # refused by the kernel (ptrace access to the host's pid 1), or else
        # as outside the container's root (getcwd)
        assert p.stderr.startswith("$.process.cwd: chdir(/wd): ")
    finally:
        os.unlink(f"/{marker}")
