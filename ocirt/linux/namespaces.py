"""Namespaces held by fds: opened before any fork, joined by stage-1 (ocirt.stage1).

One opener for create (the namespaces a config names by path) and exec (its
container's init's, under /proc/<pid>/ns): both open every file before they
fork, so that nothing is resolved by path once the children run.
"""
from ocirt import posixos  # os without its import cost (see there)

# namespace type (as in a config) -> its name under /proc/<pid>/ns, in the
# order exec joins them: the user namespace first, since it owns the others
FILES = (("user", "user"), ("mount", "mnt"), ("cgroup", "cgroup"), ("ipc", "ipc"),
         ("uts", "uts"), ("network", "net"), ("time", "time"), ("pid", "pid"))

NS_GET_NSTYPE = 0xB703  # ioctl: the CLONE_NEW* flag of a namespace fd


class NamespaceError(Exception):
    """Entry <index> of open_namespaces' list cannot be used: <oserror> is
    open(2)'s error; without one the file is not a namespace (nstype None)
    or one of another type (nstype: its CLONE_NEW* flag)."""

    def __init__(self, index, oserror=None, nstype=None):
        super().__init__(index, oserror, nstype)
        self.index = index
        self.oserror = oserror
        self.nstype = nstype


def open_namespaces(wanted, optional=()):
    """[(type, path, flag)] -> [(type, fd)], in the order given; each fd
    read-only and close-on-exec. With a flag (CLONE_NEW*), the file must be
    a namespace of that kind (ioctl NS_GET_NSTYPE): a config's path may name
    any file. A type in <optional> whose file does not exist is left out (a
    kernel without time namespaces has no /proc/<pid>/ns/time). On failure
    the fds opened so far are closed and NamespaceError says which entry."""
    out = []
    try:
        for i, (ns_type, path, flag) in enumerate(wanted):
            try:
                fd = posixos.open(path, posixos.O_RDONLY | posixos.O_CLOEXEC)
            except FileNotFoundError as e:
                if ns_type in optional:
                    continue
                raise NamespaceError(i, e)
            except OSError as e:
                raise NamespaceError(i, e)
            out.append((ns_type, fd))
            if flag is not None:
                import fcntl
                try:
                    kind = fcntl.ioctl(fd, NS_GET_NSTYPE)
                except OSError:
                    raise NamespaceError(i)
                if kind != flag:
                    raise NamespaceError(i, nstype=kind)
    except BaseException:
        for _, fd in out:
            posixos.close(fd)
        raise
    return out
