"""os for the hot commands, without the cost of importing os.

`import os` takes about 1 ms (it builds os.environ on _collections_abc, and
posixpath with it), and `state`, `start`, `kill` and `delete`, which engines
call several times per container, have a budget of a few ms in all. The
modules those commands (and create, run and exec) can load, HOT in
tests/unit/test_imports.py, do `from ocirt import posixos` and call
posixos.X: the functions come straight from the posix C module (os
re-exports the same ones), posixos.path offers the handful of helpers they
use, and anything else falls through to the real os module, imported on
first use (so a rare path is slower, never wrong). The other modules import
os itself.
"""
import posix
# What the hot-path modules use, named: `from posix import *` would copy all
# ~300 names (40 us). Anything else comes from os itself (see __getattr__).
from posix import (  # noqa: F401
    EFD_CLOEXEC, O_APPEND, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NOCTTY, O_NOFOLLOW,
    O_NONBLOCK, O_PATH, O_RDONLY, O_RDWR, O_WRONLY, ST_NOATIME, ST_NODEV,
    ST_NODIRATIME, ST_NOEXEC, ST_NOSUID, ST_RDONLY, ST_RELATIME, W_OK, WNOHANG, X_OK, _exit,
    access,
    chdir, chmod, chown, chroot, close, dup, dup2, eventfd, eventfd_read, execve, fchdir, fchown,
    fork, fstat, getcwd, getegid, geteuid, getpid, isatty, kill, listdir, lstat, makedev, mkdir, mknod, open,
    pidfd_open, pipe, pread, read, readlink, rename, rmdir, sched_setaffinity, set_inheritable,
    setresgid, setresuid, setsid, stat, statvfs, strerror, symlink, times, umask, unlink,
    urandom, waitpid, waitstatus_to_exitcode, write)

sep = "/"

S_IFMT, S_IFREG = 0o170000, 0o100000
EINVAL, EFBIG = 22, 27


def read_regular(path, limit, dir_fd=None, follow=True):
    """The bytes of the regular file <path>, at most <limit> of them.

    Anything else is refused before a byte is read: a device such as
    /dev/zero, which never ends, or a fifo, which open(2) would wait on
    (O_NONBLOCK; it changes nothing for a regular file). A file over the
    limit is refused too. OSError: open's own, or EINVAL "not a regular
    file", or EFBIG "larger than N bytes". follow=False adds O_NOFOLLOW."""
    flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | (0 if follow else O_NOFOLLOW)
    fd = posix.open(path, flags, dir_fd=dir_fd)
    try:
        st = posix.fstat(fd)
        if st.st_mode & S_IFMT != S_IFREG:
            raise OSError(EINVAL, "not a regular file")
        size = st.st_size
        if size > limit:
            raise OSError(EFBIG, f"larger than {limit} bytes")
        # one read for a file of the size fstat gave; a short read is its end
        want = size + 1 if size else 65536
        data = b""
        while True:
            chunk = posix.read(fd, want)
            data += chunk
            if len(data) > limit:
                raise OSError(EFBIG, f"larger than {limit} bytes")
            if not chunk or (size and len(chunk) < want):
                return data
            want = 65536
    finally:
        posix.close(fd)


def write_all(fd, data):
    """Write all of data to fd (a pipe or a terminal may take less per write)."""
    view = memoryview(data)
    while view:
        view = view[posix.write(fd, view):]


def __getattr__(name):
    import os
    return getattr(os, name)


class _Path:
    """The os.path functions the hot commands use (POSIX semantics, str only)."""

    @staticmethod
    def join(a, *parts):
        out = a
        for p in parts:
            if p.startswith("/"):
                out = p
            elif not out or out.endswith("/"):
                out += p
            else:
                out += "/" + p
        return out

    @staticmethod
    def dirname(p):
        i = p.rfind("/") + 1
        head = p[:i]
        if head and head != "/" * len(head):
            head = head.rstrip("/")
        return head

    @staticmethod
    def basename(p):
        return p[p.rfind("/") + 1:]

    @staticmethod
    def exists(p):
        try:
            posix.stat(p)
        except (OSError, ValueError):
            return False
        return True

    @staticmethod
    def isabs(p):
        return p.startswith("/")

    @staticmethod
    def split(p):
        i = p.rfind("/") + 1
        head, tail = p[:i], p[i:]
        if head and head != "/" * len(head):
            head = head.rstrip("/")
        return head, tail

    @staticmethod
    def isfile(p):
        try:
            return (posix.stat(p).st_mode & 0o170000) == 0o100000
        except (OSError, ValueError):
            return False

    @staticmethod
    def isdir(p):
        try:
            return (posix.stat(p).st_mode & 0o170000) == 0o040000
        except (OSError, ValueError):
            return False

    @staticmethod
    def normpath(p):
        if not p:
            return "."
        initial = 2 if p.startswith("//") and not p.startswith("///") else int(
            p.startswith("/"))
        out = []
        for part in p.split("/"):
            if part in ("", "."):
                continue
            if part != ".." or (not initial and not out) or (out and out[-1] == ".."):
                out.append(part)
            elif out:
                out.pop()
        return ("/" * initial + "/".join(out)) or "."

    def abspath(self, p):
        if not p.startswith("/"):
            p = self.join(posix.getcwd(), p)
        return self.normpath(p)

    def __getattr__(self, name):
        import os
        return getattr(os.path, name)


path = _Path()
