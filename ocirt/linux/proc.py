"""Facts about processes read from /proc."""
from ocirt import posixos  # os without its import cost (see there)


def stat_fields(pid):
    """The fields of /proc/<pid>/stat after the command name, or None if gone.

    Index 0 is the state letter (field 3 of proc(5)); starttime (field 22)
    is index 19.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    return data[data.rindex(b")") + 2:].split()


def host_root():
    """Whether the caller is root of the host's user namespace, not of one
    a user made (rootless podman runs the runtime as root of the user's
    namespace: capabilities over what that namespace owns, none over the
    host's /run, cgroups or device nodes). The initial namespace's uid_map
    maps every id onto itself. Read once per command: a forked stage
    inherits the answer, which is its caller's (what its users ask)."""
    global _host_root
    if _host_root is None:
        if posixos.geteuid() != 0:
            _host_root = False
        else:
            with open("/proc/self/uid_map", "rb") as f:
                _host_root = f.read().split() == [b"0", b"0", b"4294967295"]
    return _host_root


_host_root = None


def start_time(pid):
    fields = stat_fields(pid)
    return None if fields is None else int(fields[19])


def is_alive(pid, starttime):
    """True if <pid> exists, is the process that had <starttime>, and is no zombie."""
    fields = stat_fields(pid)
    if fields is None or int(fields[19]) != starttime:
        return False
    return fields[0] not in (b"Z", b"X")


def wait_gone(pid, timeout=10):
    """Block until <pid> has exited (its pidfd becomes readable), at most timeout s."""
    try:
        pfd = posixos.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        import select
        select.select([pfd], [], [], timeout)
    finally:
        posixos.close(pfd)


PROC_SUPER_MAGIC = 0x9FA0
PROC_ROOT_INO = 1


def open_proc_file(path, flags):
    """Open /proc/<...> for the runtime to write to (or read), only if it is
    procfs's own file: what a racing mount or symlink put over it (a file
    bound over /proc/sys/..., a tmpfs or a symlink at /proc) is refused.

    /proc must be the root of a procfs, and the rest is resolved inside that
    one mount (openat2 RESOLVE_NO_XDEV: no crossing onto anything mounted
    over a part of it; /proc/self, a plain symlink, stays inside). Returns an
    fd; OSError otherwise (CVE-2019-16884, CVE-2025-52881)."""
    from ocirt.linux import shim  # not on the hot commands' path
    if not path.startswith("/proc/"):
        raise ValueError(path)
    root = posixos.open("/proc", posixos.O_PATH | posixos.O_DIRECTORY | posixos.O_NOFOLLOW
                        | posixos.O_CLOEXEC)
    try:
        if shim.fs_type(root) != PROC_SUPER_MAGIC or posixos.fstat(root).st_ino != PROC_ROOT_INO:
            raise OSError(18, "/proc is not the root of a procfs", "/proc")  # EXDEV
        try:
            fd = shim.openat2(root, path[6:], flags | posixos.O_NOFOLLOW | posixos.O_CLOEXEC,
                              resolve=shim.RESOLVE_NO_XDEV | shim.RESOLVE_NO_MAGICLINKS)
        except OSError as e:
            if e.errno == 18:  # EXDEV
                raise OSError(18, "something is mounted over it in /proc", path) from None
            raise
    finally:
        posixos.close(root)
    if shim.fs_type(fd) != PROC_SUPER_MAGIC:  # cannot be, but it is what we rely on
        posixos.close(fd)
        raise OSError(18, "not a procfs file", path)
    return fd


def write_proc_file(path, text):
    """Write text to a procfs file opened by open_proc_file."""
    fd = open_proc_file(path, posixos.O_WRONLY)
    try:
        posixos.write(fd, text.encode())
    finally:
        posixos.close(fd)
