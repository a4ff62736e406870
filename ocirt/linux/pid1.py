"""The built-in init (csrc/init.c): `create --init`, or the annotation
org.ocirt.init: "true".

It is built when the package is installed (setup.py) and installed next to
this package as ocirt/ocirt-init. It is never executed from there, nor
bind-mounted into the container: a container's process could then reach
the host's file through /proc/1/exe and open it for writing (the
CVE-2019-5736 class). Instead create copies it into a memfd and seals it
(no write, grow, shrink or further seal) before it forks; the container's
init inherits that close-on-exec fd and, after all its setup (user,
capabilities, seccomp: ocirt.become), executes it in place of the
container's program, which it names to it. /proc/1/exe in the container is
then that private, unwritable copy; the container's program, executed by
the built-in init's child, gets the memfd neither (close-on-exec) nor a
host file as its /proc/self/exe.

The init runs under the container's seccomp filter: it is executed with
execveat(fd, "", AT_EMPTY_PATH), or with execve of /proc/self/fd/N where
the profile refuses execveat (runc's own profiles allow execve only, for
instance), and needs only system calls that every profile that lets a
program run allows (clone, wait4, kill, rt_sigtimedwait, rt_sigprocmask,
setpgid, ioctl for the terminal). Its argv is in csrc/init.c.
"""
import posix

import ocirt
from ocirt import posixos  # os without its import cost (see there)
from ocirt.errors import SetupError
from ocirt.linux import execstub

# create's annotations for the built-in init (config.json or an engine's
# --annotation): "true" turns it on; the second makes it forward signals to
# the process group of the container's process (a shell's jobs, a process
# that started helpers of its own) instead of that process alone.
ANNOTATION = "org.ocirt.init"
GROUP_ANNOTATION = "org.ocirt.init.process-group"

MFD_EXEC = 0x0010  # Linux 6.3: an executable memfd even where vm.memfd_noexec says no


def installed():
    """Where setup.py installs the built-in init: in the package's directory."""
    return posixos.path.join(posixos.path.dirname(ocirt.__file__), "ocirt-init")


def wanted(flag, annotations):
    """(whether create runs the built-in init, whether it signals the
    process group) from --init and the config's annotations (a dict)."""
    on = flag or annotations.get(ANNOTATION) == "true"
    return on, on and annotations.get(GROUP_ANNOTATION) == "true"


def sealed_copy(where):
    """A close-on-exec memfd holding the installed init, sealed against
    every change. where: what asked for it, for the error (--init, or the
    annotation's JSON path)."""
    import fcntl  # built in
    path = installed()
    try:
        src = posixos.open(path, posixos.O_RDONLY | posixos.O_CLOEXEC | posixos.O_NOFOLLOW)
    except OSError as e:
        raise SetupError(f"{where}: the built-in init {path}: {e.strerror} (it is built by "
                         "`pip install`, which says why it could not be)") from None
    fd = -1
    try:
        size = posixos.fstat(src).st_size
        flags = posix.MFD_CLOEXEC | posix.MFD_ALLOW_SEALING
        try:
            fd = posix.memfd_create("ocirt-init", flags | MFD_EXEC)
        except OSError as e:
            if e.errno != posixos.EINVAL:  # before Linux 6.3: executable anyway
                raise
            fd = posix.memfd_create("ocirt-init", flags)
        done = 0
        while done < size:
            n = posix.sendfile(fd, src, done, size - done)
            if n == 0:
                raise OSError(posixos.EINVAL, f"{path} is shorter than it was")
            done += n
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK
                    | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE)
    except OSError as e:
        if fd >= 0:
            posixos.close(fd)
        raise SetupError(f"{where}: cannot copy the built-in init {path} into a sealed "
                         f"memfd: {e.strerror}") from None
    finally:
        posixos.close(src)
    return fd


def execve(init_fd, group, path, args, env, report_fd=-1, prefix="", suffix="",
           permitted=None):
    """Execute the built-in init (the memfd init_fd), which runs <path>
    with <args> and <env> as its child; never returns. It takes the exec
    stub's arguments (ocirt.linux.execstub.execve: the init's child reports
    a failed execve of <path> and lowers its permitted set) and one more:
    group, forward signals to the child's process group.
    Raises OSError if the init itself cannot be executed."""
    execstub.execve(init_fd, path, args, env, report_fd, prefix, suffix, permitted,
                    name="ocirt-init", extra=("1" if group else "0",),
                    what="the built-in init")
