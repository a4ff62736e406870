"""CRIU through its command line: `criu dump`, `criu pre-dump`, `criu restore`.

The command line says as much as the RPC interface for what a runtime asks
(external mounts, external namespaces, inherited fds, the cgroup root,
action scripts), without a protobuf codec; each call is one criu process,
whose log goes to the work directory and whose error lines (those CRIU
marks "Error") are what a failure reports.

This module knows nothing of containers: ocirt.container.checkpoint and
ocirt.container.restore say what is external and where it goes.
"""
import os

from ocirt import errors

MIN_VERSION = (3, 0)  # runc's floor too: --external and --inherit-fd are all 3.x
REQUIREMENT = "checkpoint needs CRIU \u2265 3.0 and a kernel that criu check accepts"


class CriuError(errors.OcirtError):
    """criu ran and failed: its error lines."""


def binary():
    """The criu executable ($PATH, then the sbin dirs: a caller's PATH may
    lack them), or None."""
    dirs = os.environ.get("PATH", "").split(":") + ["/usr/local/sbin", "/usr/sbin", "/sbin"]
    for d in dirs:
        p = os.path.join(d or ".", "criu")
        if os.access(p, os.X_OK) and not os.path.isdir(p):
            return p
    return None


def version(exe):
    """(major, minor, sub) of `criu --version` ("Version: 3.17.1")."""
    import subprocess  # optional: only when a dump or restore has failed (see run)
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in out.splitlines():
        if line.startswith("Version:"):
            parts = line.split(":", 1)[1].strip().split(".")
            try:
                return tuple(int(p) for p in parts[:3])
            except ValueError:
                return None
    return None


def check_output(exe):
    """(accepted, the last error line of `criu check`)."""
    import subprocess  # optional: only when a dump or restore has failed (see run)
    try:
        p = subprocess.run([exe, "check"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    text = (p.stdout + p.stderr).strip()
    errs = [ln for ln in text.splitlines() if ln.startswith("Error")]
    if p.returncode == 0 and "Looks good" in text:
        return True, ""
    return False, (errs[-1] if errs else text.splitlines()[-1] if text else
                   f"exit status {p.returncode}")


def require():
    """The criu executable, or the one line REQUIREMENT (no criu). Its
    version and whether the kernel suits it are asked only when a dump or
    restore fails (unsupported()): each is one more program to run, and
    `criu --version` alone doubled the cost of a checkpoint under qemu."""
    exe = binary()
    if exe is None:
        raise errors.OcirtError(f"{REQUIREMENT} (found: no criu executable in $PATH, "
                                "/usr/sbin or /sbin)")
    return exe


def unsupported(exe):
    """After a failure: the REQUIREMENT line when this criu is too old or
    `criu check` refuses this kernel (None when both are fine, and the
    failure is the dump's own)."""
    v = version(exe)
    if v is None or v[:2] < MIN_VERSION:
        found = "an unreadable version" if v is None else ".".join(map(str, v))
        return f"{REQUIREMENT} (found: {exe}, {found})"
    ok, why = check_output(exe)
    if ok:
        return None
    return (f"{REQUIREMENT} (found: criu {'.'.join(map(str, v))}, kernel "
            f"{os.uname().release}; criu check: {why})")


def run(exe, action, argv, log_path, pass_fds=(), notify=None, join=None):
    """criu <action> ARGV, logging at level 4 to log_path. CriuError with
    CRIU's own error lines when it fails. criu gets this process's fds 0..2
    and pass_fds (at the same numbers), no other. notify: a callable given
    criu's pid while it runs (its action script's requests). join: cgroup
    directories criu runs in (from its first instruction), so that what it
    restores starts there whatever it does with cgroups.

    fork and execve, not subprocess: importing subprocess (threading,
    selectors, signal, ...) cost more than a whole runc command under qemu."""
    cmd = [exe, action, "-v4", "-o", log_path, *argv]
    keep = sorted(set(pass_fds))
    err_r, err_w = os.pipe()  # close-on-exec: what the child says before its exec
    pid = os.fork()
    if pid == 0:  # no thread runs here: only os calls until the exec
        try:
            os.close(err_r)
            step = "join the container's cgroup"
            for d in join or ():
                fd = os.open(d + "/cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)
                os.write(fd, b"0")
                os.close(fd)
            step = "close the other fds"
            lo = 3
            for fd in sorted(keep + [err_w]):
                if fd >= lo:
                    os.closerange(lo, fd)
                    lo = fd + 1
                if fd != err_w:
                    os.set_inheritable(fd, True)
            os.closerange(lo, 65536)
            step = f"execve({exe})"
            os.execve(exe, cmd, os.environ)
        except OSError as e:
            try:
                os.write(err_w, f"{step}: {e.strerror}".encode())
            finally:
                os._exit(127)
        except BaseException:
            os._exit(127)
    os.close(err_w)
    try:
        said = b""
        while True:
            chunk = os.read(err_r, 4096)
            if not chunk:
                break
            said += chunk
    finally:
        os.close(err_r)
    try:
        if notify is not None and not said:
            notify(pid)
        _, status = os.waitpid(pid, 0)
    except BaseException:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise
    if said:
        raise errors.OcirtError(f"cannot run criu: {said.decode(errors='replace')}")
    rc = os.waitstatus_to_exitcode(status)
    if rc != 0:
        raise CriuError(f"criu {action} failed (exit status {rc}): "
                        f"{error_lines(log_path)} (log: {log_path})")


def error_lines(log_path, n=2):
    """The last n lines CRIU marked as errors in its log, joined."""
    try:
        with open(log_path, errors="replace") as f:
            lines = [ln.strip() for ln in f if "Error (" in ln]
    except OSError:
        return "no log"
    return "; ".join(_short(ln) for ln in lines[-n:]) or "no error line in the log"


def _short(line):
    """A CRIU log line without its timestamp: "(00.1) Error (x.c:1): ..." -> "Error (...)"."""
    i = line.find("Error (")
    return line[i:] if i >= 0 else line


# --- identifiers of external resources, as CRIU spells them ---
def ext_mount(key, value):
    """--external mnt[KEY]:VALUE (dump: KEY is the mount point, VALUE its
    name in the image; restore: KEY the name, VALUE the host path)."""
    return f"mnt[{key}]:{value}"


def file_key(mnt_id, ino):
    """An open file CRIU cannot reach from the dumped mount namespace."""
    return f"file[{mnt_id:x}:{ino:x}]"


def tty_key(rdev, dev):
    return f"tty[{rdev:x}:{dev:x}]"


def fd_target(pid, fd):
    """(link text of /proc/PID/fd/FD, mnt_id of its fdinfo, os.stat of it)."""
    link = os.readlink(f"/proc/{pid}/fd/{fd}")
    mnt_id = None
    with open(f"/proc/{pid}/fdinfo/{fd}") as f:
        for line in f:
            if line.startswith("mnt_id:"):
                mnt_id = int(line.split()[1])
    return link, mnt_id, os.stat(f"/proc/{pid}/fd/{fd}")


def mount_ids(pid):
    """{mount id: mount point} of PID's mount namespace."""
    out = {}
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            fields = line.split()
            out[int(fields[0])] = fields[4].encode().decode("unicode_escape")
    return out
