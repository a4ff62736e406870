"""Device nodes and the standard /dev links a container expects."""
import errno
import stat

from ocirt import posixos  # os without its import cost (see there)
from ocirt.linux import mounts, shim

# (path, type, major, minor, mode)
DEFAULT_DEVICES = (
    ("/dev/null", "c", 1, 3, 0o666),
    ("/dev/zero", "c", 1, 5, 0o666),
    ("/dev/full", "c", 1, 7, 0o666),
    ("/dev/random", "c", 1, 8, 0o666),
    ("/dev/urandom", "c", 1, 9, 0o666),
    ("/dev/tty", "c", 5, 0, 0o666),
)

DEFAULT_LINKS = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
)

_TYPES = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def create_node(root_fd, path, dev_type, major, minor, mode, uid=None, gid=None, bind=False):
    """Create a device node at <path> inside the root.

    With bind=True (inside a user namespace, where mknod is refused) the
    host's node of the same path is bind-mounted onto an empty file instead.
    """
    parent, name = posixos.path.split(path.rstrip("/"))
    pfd = mounts.make_in_root(root_fd, parent)
    try:
        try:
            posixos.unlink(name, dir_fd=pfd)
        except FileNotFoundError:
            pass
        if bind:
            # the host's node (this process still sees the host) onto the file
            # just made, by its fd
            fd = posixos.open(name, posixos.O_CREAT | posixos.O_EXCL | posixos.O_WRONLY
                              | posixos.O_NOFOLLOW | posixos.O_CLOEXEC, 0o644, dir_fd=pfd)
            try:
                shim.mount(path, mounts.fd_path(fd), None, mounts.MS_BIND)
            finally:
                posixos.close(fd)
            return
        old = posixos.umask(0)
        try:
            posixos.mknod(name, _TYPES[dev_type] | (mode & 0o7777), posixos.makedev(major, minor),
                          dir_fd=pfd)
        finally:
            posixos.umask(old)
        if uid is not None or gid is not None:
            posixos.chown(name, -1 if uid is None else uid, -1 if gid is None else gid,
                          dir_fd=pfd, follow_symlinks=False)
    finally:
        posixos.close(pfd)


def console_target(root_fd, path="/dev/console"):
    """An fd of the file the container's terminal is bound onto at <path>:
    the one there if it is a regular file or a character device, else a new
    empty file. A symlink (or anything else) there is an error: the terminal
    would go over what it names (CVE-2025-52565)."""
    parent, name = posixos.path.split(path)
    pfd = mounts.make_in_root(root_fd, parent)
    try:
        try:
            return posixos.open(name, posixos.O_CREAT | posixos.O_EXCL | posixos.O_WRONLY
                                | posixos.O_NOFOLLOW | posixos.O_CLOEXEC, 0o600, dir_fd=pfd)
        except FileExistsError:
            pass
        fd = posixos.open(name, posixos.O_PATH | posixos.O_NOFOLLOW | posixos.O_CLOEXEC, dir_fd=pfd)
    finally:
        posixos.close(pfd)
    mode = posixos.fstat(fd).st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISCHR(mode)):
        posixos.close(fd)
        what = "a symlink" if stat.S_ISLNK(mode) else "not a file or a character device"
        raise OSError(errno.ELOOP if stat.S_ISLNK(mode) else errno.EINVAL,
                      f"cannot bind the terminal onto {path}: it is {what} in the rootfs")
    return fd


def create_link(root_fd, target, path):
    parent, name = posixos.path.split(path)
    pfd = mounts.make_in_root(root_fd, parent)
    try:
        try:
            posixos.symlink(target, name, dir_fd=pfd)
        except FileExistsError:
            pass
    finally:
        posixos.close(pfd)


def setup_dev(root_fd, devices, in_userns):
    """Default devices, config devices, /dev links, /dev/ptmx."""
    listed = {posixos.path.normpath(d.path) for d in devices}
    for path, t, major, minor, mode in DEFAULT_DEVICES:
        if path not in listed:  # a device in the config replaces the default one
            create_node(root_fd, path, t, major, minor, mode, bind=in_userns)
    for d in devices:
        mode = d.file_mode if d.file_mode is not None else 0o666
        create_node(root_fd, d.path, d.type, d.major, d.minor, mode, d.uid, d.gid,
                    bind=in_userns and d.type != "p")
    for target, path in DEFAULT_LINKS:
        create_link(root_fd, target, path)
    if posixos.path.exists("/proc/kcore"):
        create_link(root_fd, "/proc/kcore", "/dev/core")
    # /dev/ptmx must reach the container's devpts instance.
    pfd = mounts.make_in_root(root_fd, "/dev")
    try:
        try:
            posixos.unlink("ptmx", dir_fd=pfd)
        except FileNotFoundError:
            pass
        posixos.symlink("pts/ptmx", "ptmx", dir_fd=pfd)
    finally:
        posixos.close(pfd)
