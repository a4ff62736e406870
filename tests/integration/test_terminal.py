"""Terminals: --console-socket (create, exec) and run's own terminal proxy."""
import array
import os
import pty
import select
import socket
import subprocess

import pytest


class ConsoleSocket:
    """What conmon or containerd's shim does: listen, take the pty master."""

    def __init__(self, path):
        self.path = str(path)
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(self.path)
        self.srv.listen(1)
        self.srv.settimeout(30)

    def master(self):
        conn, _ = self.srv.accept()
        with conn:
            fds = array.array("i")
            msg, anc, _, _ = conn.recvmsg(1024, socket.CMSG_SPACE(4))
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data)
            assert len(fds) == 1, anc
            return fds[0], msg.decode()

    def close(self):
        self.srv.close()


def create_with_console(rt, path, bundle, cid, *flags):
    """`create --console-socket` of bundle as an engine calls it: (the pty
    master create sent, the name it sent with it). create must succeed."""
    cs = ConsoleSocket(path)
    create = subprocess.Popen([rt.bin, "--root", rt.root, "create", *flags, "--bundle",
                               str(bundle), "--console-socket", cs.path, cid],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        master, name = cs.master()
    finally:
        rc = create.wait(timeout=60)
        cs.close()
    if rc != 0:
        os.close(master)
        raise AssertionError(create.stderr.read())
    return master, name


def read_until_closed(fd, timeout=30):
    out = b""
    while True:
        r, _, _ = select.select([fd], [], [], timeout)
        if not r:
            raise TimeoutError(out)
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the container side is gone
            return out.decode().replace("\r\n", "\n")
        if not chunk:
            return out.decode().replace("\r\n", "\n")
        out += chunk


def read_until(fd, marker, timeout=30):
    """What fd gives until marker has come (and the rest of that line)."""
    out = b""
    while marker not in out or not out.endswith(b"\n"):
        r, _, _ = select.select([fd], [], [], timeout)
        if not r:
            raise TimeoutError(out)
        out += os.read(fd, 4096)
    return out.decode().replace("\r\n", "\n")


def terminal(args, size=None, user=None):
    def edit(cfg):
        cfg["process"]["terminal"] = True
        cfg["process"]["args"] = list(args)
        if size:
            cfg["process"]["consoleSize"] = {"height": size[0], "width": size[1]}
        if user:
            cfg["process"]["user"] = {"uid": user, "gid": user}
    return edit


def test_create_sends_the_pty_master_to_the_console_socket(rt, tmp_path):
    cid = rt.new_id()
    script = "tty; stty size; ls -l /dev/console; read x; echo got:$x"
    bundle = rt.bundle(("sh",), terminal(("sh", "-c", script), size=(33, 111)))
    master, name = create_with_console(rt, tmp_path / "console.sock", bundle, cid)
    try:
        assert name == "/dev/ptmx"  # what runc sends
        rt("start", cid, check=True)
        # type only once the shell waits for input (else the echo of what was
        # typed can come before the earlier output)
        early = read_until(master, b"/dev/console")
        os.write(master, b"ping\n")
        out = early + read_until_closed(master)
    finally:
        os.close(master)
    lines = out.splitlines()
    assert lines[0] == "/dev/pts/0"
    assert lines[1] == "33 111"
    assert "136,   0" in lines[2] and lines[2].startswith("c")
    assert lines[-1] == "got:ping"


def test_terminal_belongs_to_the_process_user(rt, tmp_path):
    cid = rt.new_id()
    # the group stays the one devpts gives (gid=5 in the config), as runc
    bundle = rt.bundle(("sh",), terminal(("sh", "-c", "id -u; stat -c '%u %g' $(tty)"),
                                         user=1000))
    master, _ = create_with_console(rt, tmp_path / "c.sock", bundle, cid)
    try:
        rt("start", cid, check=True)
        assert read_until_closed(master).split() == ["1000", "1000", "5"]
    finally:
        os.close(master)


def test_run_in_the_foreground_proxies_the_callers_terminal(rt):
    bundle = rt.bundle(("sh",), terminal(("sh", "-c", "tty; stty size; read x; echo got:$x; "
                                                      "exit 3")))
    master, slave = pty.openpty()
    import fcntl
    import struct
    fcntl.ioctl(slave, 0x5414, struct.pack("HHHH", 40, 100, 0, 0))  # TIOCSWINSZ
    p = subprocess.Popen([rt.bin, "--root", rt.root, "run", "--bundle", bundle, rt.new_id()],
                         stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    try:
        os.write(master, b"typed ahead\n")
        out = read_until_closed(master)
        rc = p.wait(timeout=60)
    finally:
        os.close(master)
        if p.poll() is None:
            p.kill()
            p.wait()
    lines = [line for line in out.splitlines() if line]
    assert "/dev/pts/0" in lines and "40 100" in lines, out
    assert "got:typed ahead" in lines, out
    assert rc == 3


def test_exec_tty(rt, tmp_path):
    cid = rt.running()
    cs = ConsoleSocket(tmp_path / "exec.sock")
    p = subprocess.Popen([rt.bin, "--root", rt.root, "exec", "--tty", "--console-socket",
                          cs.path, cid, "sh", "-c", "tty; exit 5"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        master, _ = cs.master()
    finally:
        cs.close()
    try:
        out = read_until_closed(master)
    finally:
        os.close(master)
    assert p.wait(timeout=60) == 5, p.stderr.read()
    assert out.strip().startswith("/dev/pts/")


@pytest.mark.parametrize("case", ["terminal-without-socket", "socket-without-terminal",
                                  "detached-run", "unreachable-socket"])
def test_terminal_usage_errors(rt, tmp_path, case):
    cid = rt.new_id()
    term = rt.bundle(("true",), terminal(("true",)))
    plain = rt.bundle(("true",))
    args, words = {
        "terminal-without-socket": (["create", "--bundle", term, cid], "console-socket"),
        "socket-without-terminal": (["create", "--bundle", plain, "--console-socket",
                                     tmp_path / "x.sock", cid], "terminal"),
        "detached-run": (["run", "-d", "--bundle", term, cid], "console-socket"),
        "unreachable-socket": (["create", "--bundle", term, "--console-socket",
                                tmp_path / "nobody-listens.sock", cid], "cannot connect"),
    }[case]
    p = rt(*args)
    assert p.returncode == 1 and words in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert not os.path.exists(os.path.join(rt.root, cid))
