"""Linux security modules: AppArmor profiles and SELinux labels.

A label asked for on a host whose LSM is not enabled is an error (the
container would otherwise run unconfined while the caller believes it is
confined). The attribute directory is a parameter so that the writing code
is tested without an LSM (tests/unit/test_lsm.py).
"""

from ocirt import posixos  # os without its import cost (see there)
from ocirt.errors import ConfigError


def apparmor_enabled():
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read().strip() == "Y"
    except OSError:
        return False


def selinux_enabled():
    return posixos.path.exists("/sys/fs/selinux/enforce")


def check(cfg):
    """ConfigError for the first label of cfg (a config.Config) this host
    cannot apply."""
    proc = cfg.process
    if proc is not None and proc.apparmor_profile and not apparmor_enabled():
        raise ConfigError("AppArmor is not enabled on this host", "$.process.apparmorProfile")
    if proc is not None and proc.selinux_label and not selinux_enabled():
        raise ConfigError("SELinux is not enabled on this host", "$.process.selinuxLabel")
    if cfg.mount_label and not selinux_enabled():
        raise ConfigError("SELinux is not enabled on this host", "$.linux.mountLabel")


def set_exec_labels(apparmor_profile=None, selinux_label=None, attr_dir="/proc/self/attr"):
    """Labels that take effect at the next execve of this process."""
    if apparmor_profile:
        path = posixos.path.join(attr_dir, "apparmor", "exec")
        if not posixos.path.exists(path):
            path = posixos.path.join(attr_dir, "exec")  # kernels without per-LSM attr dirs
        _labelled(path, f"exec {apparmor_profile}", "AppArmor profile", apparmor_profile,
                  "$.process.apparmorProfile")
    if selinux_label:
        _labelled(posixos.path.join(attr_dir, "exec"), selinux_label, "SELinux label",
                  selinux_label, "$.process.selinuxLabel")


def _labelled(path, text, what, label, where):
    """_write, with an error that says which label could not be set (EINVAL:
    AppArmor has no profile of that name loaded)."""
    try:
        _write(path, text)
    except OSError as e:
        raise ConfigError(f"cannot set the {what} {label!r} (write {path}): {e.strerror}",
                          where)


def mount_data_with_label(data, label):
    """Mount data with an SELinux context= option (for non-bind mounts)."""
    if not label:
        return data
    ctx = f'context="{label}"'
    return f"{data},{ctx}" if data else ctx


def _write(path, text):
    if path.startswith("/proc/"):
        from ocirt.linux.proc import write_proc_file
        write_proc_file(path, text)  # procfs's own attr file, nothing mounted over it
        return
    fd = posixos.open(path, posixos.O_WRONLY | posixos.O_CLOEXEC)
    try:
        posixos.write(fd, text.encode())
    finally:
        posixos.close(fd)
