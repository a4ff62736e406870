"""The `cgroup` mount type: what a container sees at /sys/fs/cgroup."""

from ocirt import posixos as os  # os without its import cost (see there)
from ocirt.linux import cgroups, mounts, shim
from ocirt.linux.mounts import MS_BIND, MS_RDONLY, MS_REC, MS_REMOUNT


def mounter(cgroup_paths, cgroupns):
    """A function (root_fd, mount, opts) that mounts the container's cgroups."""
    def mount_cgroups(root_fd, m, opts):
        ro = bool(opts.flags & MS_RDONLY)
        base = opts.flags & ~(MS_RDONLY | MS_BIND | MS_REC | MS_REMOUNT)
        hier = cgroups.hierarchies()
        dest = m.destination
        if list(hier) == [cgroups.UNIFIED]:
            _one(root_fd, dest, cgroups.UNIFIED, cgroup_paths.get(cgroups.UNIFIED),
                 cgroupns, base, ro)
            return
        mounts.mount_at(root_fd, dest, "tmpfs", "tmpfs",
                        mounts.Options(["nosuid", "nodev", "noexec", "mode=755"]))
        for name, mp in hier.items():
            sub = os.path.join(dest, os.path.basename(mp))
            _one(root_fd, sub, name, cgroup_paths.get(name), cgroupns, base, ro)
        if ro:
            fd = mounts.open_in_root(root_fd, dest)
            try:
                shim.mount(None, mounts.fd_path(fd), None,
                           MS_REMOUNT | MS_RDONLY | mounts.locked_flags(mounts.fd_path(fd)))
            finally:
                os.close(fd)
    return mount_cgroups


def _one(root_fd, dest, name, host_dir, cgroupns, flags, ro):
    fd = mounts.make_in_root(root_fd, dest)
    try:
        target = mounts.fd_path(fd)
        if cgroupns:
            if name == cgroups.UNIFIED:
                shim.mount("cgroup2", target, "cgroup2", flags)
            else:
                shim.mount("cgroup", target, "cgroup", flags, name)
        elif host_dir:
            shim.mount(host_dir, target, None, MS_BIND | MS_REC)
        else:
            return
    finally:
        os.close(fd)
    if ro or flags:
        # a bind mount has the host mount's flags: the config's (nosuid,
        # nodev, noexec, ...) come with a remount, as runc does
        fd = mounts.open_in_root(root_fd, dest)
        try:
            target = mounts.fd_path(fd)
            shim.mount(None, target, None, MS_BIND | MS_REMOUNT | flags
                       | (MS_RDONLY if ro else 0) | mounts.locked_flags(target))
        finally:
            os.close(fd)
