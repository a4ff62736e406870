"""execve by way of the sealed exec stub (csrc/execstub.c).

Every program that runs inside a container is executed by one of ocirt's
setup processes, and those are forks of the host's `ocirt` command: until
their execve completes, their /proc/self/exe is that host file. A program
whose interpreter line is "#!/proc/self/exe" would make the kernel run the
host's ocirt inside the container, under the image's ELF loader, free to
reopen it for writing (CVE-2019-5736). So the setup process first executes
a tiny static stub held in a sealed memfd, and the stub executes the
container's program: at that moment /proc/self/exe is the sealed memfd, a
private copy that nothing can write, and no host file is within reach.

The stub reports a failed execve on an fd the caller names, in the
caller's framing, so that the runtime's error says what failed.
"""
from ocirt import posixos  # os without its import cost (see there)
from ocirt.linux import shim


def stub():
    """A close-on-exec fd of a fresh sealed memfd holding the stub. Made
    before anything (a seccomp filter) could forbid memfd_create."""
    return shim.exec_stub_fd()


def execve(stub_fd, path, args, env, report_fd=-1, prefix="", suffix="", permitted=None,
           name="ocirt-exec", extra=(), what="the sealed exec stub"):
    """Execute <path> with <args> and <env> through the stub; never returns.

    On a failed execve of <path> the stub writes prefix + the error's text
    + suffix to report_fd (-1: nowhere) and exits 127; report_fd becomes
    close-on-exec in the stub, so that its other end sees EOF once <path>
    runs. permitted: the caller's permitted capability set, for a root
    caller: the stub lowers its own (raised by its execve) back to it before
    executing <path>, so that <path>'s execve raises it, and the kernel makes
    <path> non-dumpable as it would without the stub (see csrc/execstub.c).
    name, extra, what: the built-in init (ocirt.linux.pid1), which takes
    the stub's arguments and <extra> before <path>.
    Raises OSError if the stub itself cannot be executed."""
    argv = [name, str(report_fd), prefix, suffix,
            "-" if permitted is None else format(permitted, "x"), *extra, path] \
        + list(args or [path])
    if report_fd >= 0:
        _set_inheritable(report_fd, True)
    try:
        posixos.execve(stub_fd, argv, env)  # execveat(fd, "", AT_EMPTY_PATH)
    except OSError as e:
        first = e
    try:
        # a seccomp filter may allow execve but not execveat
        posixos.execve(f"/proc/self/fd/{stub_fd}", argv, env)
    except OSError:
        pass
    if report_fd >= 0:
        _set_inheritable(report_fd, False)
    raise OSError(first.errno, f"execveat({what}, {path}): {first.strerror}")


def _set_inheritable(fd, on):
    """fcntl(F_SETFD) rather than os.set_inheritable, which tries
    ioctl(FIONCLEX) first: this runs under the container's seccomp filter."""
    import fcntl  # built in: importable after pivot_root
    fcntl.fcntl(fd, fcntl.F_SETFD, 0 if on else fcntl.FD_CLOEXEC)
