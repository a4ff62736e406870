"""The console socket (runc's --console-socket) and the foreground terminal proxy.

A terminal container's pty master goes to whoever owns the console socket:
ocirt connects to the AF_UNIX SOCK_STREAM socket at that path (on the host,
before the container's init leaves the host's view) and the init sends the
master in one sendmsg carrying one SCM_RIGHTS fd, with "/dev/ptmx" as the
data, as runc does. `run` in the foreground with no console socket is
its own receiver: it takes the master and proxies the caller's terminal to
it (raw mode, window size, end when the container closes the terminal).
"""

from ocirt import errors
from ocirt import posixos  # os without its import cost (see there)


def connect(path):
    from ocirt.protocol import connect_unix
    try:
        return connect_unix(posixos.path.dirname(posixos.path.abspath(path)),
                            posixos.path.basename(path))
    except OSError as e:
        raise errors.UsageError(f"--console-socket {path}: cannot connect: {e.strerror}")


def send_master(sock, master, name="/dev/ptmx"):
    """One sendmsg, one SCM_RIGHTS fd; the data is the name of what was
    opened (runc sends "/dev/ptmx"; receivers only take the fd)."""
    import _socket
    sock.sendmsg([name.encode()], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                                    master.to_bytes(4, "little"))])


def recv_master(sock):
    """The fd a console socket connection carries (None at EOF)."""
    import _socket
    import array
    fds = array.array("i")
    data, anc, _, _ = sock.recvmsg(4096, _socket.CMSG_SPACE(4))
    for level, kind, payload in anc:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % 4])
    for fd in fds[1:]:
        posixos.close(fd)
    return fds[0] if fds else None


class Receiver:
    """A console socket of our own, for `run` in the foreground."""

    def __init__(self):
        import _socket
        self.ours, self.theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
        for s in (self.ours, self.theirs):
            posixos.set_inheritable(s.fileno(), False)

    def master(self):
        self.theirs.close()
        try:
            fd = recv_master(self.ours)
        finally:
            self.ours.close()
        if fd is None:
            raise errors.SetupError("the container did not send its terminal")
        return fd


def proxy(master, stdin=0, stdout=1):
    """Copy stdin -> master and master -> stdout until the container side of
    the terminal is gone. The caller's terminal (if stdin is one) is in raw
    mode meanwhile, and its window size follows SIGWINCH."""
    import _signal
    import select
    import termios
    saved = None
    if posixos.isatty(stdin):
        import tty
        saved = termios.tcgetattr(stdin)
        tty.setraw(stdin, termios.TCSANOW)  # (the default, TCSAFLUSH, drops typed-ahead input)
        _copy_size(stdin, master)
        _signal.signal(_signal.SIGWINCH, lambda *_: _copy_size(stdin, master))
    try:
        readers = [master, stdin]
        while True:
            try:
                ready, _, _ = select.select(readers, [], [])
            except InterruptedError:
                continue
            if master in ready:
                try:
                    data = posixos.read(master, 65536)
                except OSError:  # EIO: no process holds the slave any more
                    data = b""
                if not data:
                    return
                posixos.write_all(stdout, data)
            if stdin in ready:
                data = posixos.read(stdin, 65536)
                if not data:
                    readers.remove(stdin)  # EOF on stdin: send ^D, keep reading output
                    posixos.write_all(master, b"\x04")
                else:
                    posixos.write_all(master, data)
    finally:
        if saved is not None:
            termios.tcsetattr(stdin, termios.TCSADRAIN, saved)


def adopt_size(master, stdin=0):
    """Give the container's terminal the caller's window size, if it has one."""
    if posixos.isatty(stdin):
        _copy_size(stdin, master)


def caller_size(stdin=0):
    """(rows, cols) of the caller's terminal, or None."""
    from ocirt.linux import pty
    try:
        return pty.get_size(stdin) if posixos.isatty(stdin) else None
    except OSError:
        return None


def _copy_size(src, dst):
    from ocirt.linux import pty
    try:
        pty.set_size(dst, *pty.get_size(src))
    except OSError:
        pass
