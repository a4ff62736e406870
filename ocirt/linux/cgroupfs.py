"""The `cgroup` mount type: what a container sees at /sys/fs/cgroup.

As every other mount (ocirt.linux.mounts.mount_at), each piece is made
detached, given its flags while nothing can reach it, and moved onto an fd
resolved once: the destination in the rootfs, or a directory made through
the fd of the container's own tmpfs. Nothing is looked up by path twice."""

from ocirt import posixos  # os without its import cost (see there)
from ocirt.linux import cgroups, mounts, shim
from ocirt.linux.mounts import MS_BIND, MS_RDONLY, MS_REC, MS_REMOUNT


def mounter(cgroup_paths, cgroupns):
    """A function (root_fd, mount, opts) that mounts the container's cgroups."""
    def mount_cgroups(root_fd, m, opts):
        ro = bool(opts.flags & MS_RDONLY)
        base = opts.flags & ~(MS_RDONLY | MS_BIND | MS_REC | MS_REMOUNT)
        hier = cgroups.hierarchies()
        target = mounts.make_in_root(root_fd, m.destination)
        try:
            if cgroups.layout_is_unified(hier):
                _one(target, cgroups.UNIFIED, cgroup_paths.get(cgroups.UNIFIED), cgroupns,
                     base, ro, opts.propagation)
                return
            # v1 and hybrid: a tmpfs with one directory per hierarchy
            tmpfs = mounts.new_fs("tmpfs", ["nosuid", "nodev", "noexec", "mode=755"])
            try:
                mounts.attach(tmpfs, target)
                for name, mp in hier.items():
                    sub = posixos.path.basename(mp)
                    posixos.mkdir(sub, 0o755, dir_fd=tmpfs)
                    sub_fd = posixos.open(sub, shim.O_PATH | posixos.O_NOFOLLOW
                                          | posixos.O_DIRECTORY | posixos.O_CLOEXEC, dir_fd=tmpfs)
                    try:
                        _one(sub_fd, name, cgroup_paths.get(name), cgroupns, base, ro,
                             opts.propagation)
                    finally:
                        posixos.close(sub_fd)
                if ro:  # the tmpfs itself, through its own fd
                    shim.mount_setattr(tmpfs, "", shim.AT_EMPTY_PATH, shim.MOUNT_ATTR_RDONLY)
            finally:
                posixos.close(tmpfs)
        finally:
            posixos.close(target)
    return mount_cgroups


def _one(target_fd, name, host_dir, cgroupns, flags, ro, propagation=()):
    """Hierarchy <name> onto target_fd: a new cgroup mount with a cgroup
    namespace (it shows the namespace's root), else a bind of the
    container's own directory; with the config's flags (nosuid, nodev,
    noexec, ...) and ro set before it is attached, as runc gives them."""
    if cgroupns:
        tree = (mounts.new_fs("cgroup2", []) if name == cgroups.UNIFIED
                else mounts.new_fs("cgroup", name.split(",")))
    elif host_dir:
        tree = shim.open_tree(shim.AT_FDCWD, host_dir, shim.OPEN_TREE_CLONE | shim.AT_RECURSIVE)
    else:
        return
    try:
        attr_set = mounts.mount_attrs(flags | (MS_RDONLY if ro else 0))[0]
        if attr_set:
            shim.mount_setattr(tree, "", shim.AT_EMPTY_PATH, attr_set)
        mounts.attach(tree, target_fd)
        for prop in propagation:  # the mount's rprivate, rslave, ... as runc applies them
            shim.mount_setattr(tree, "", shim.AT_EMPTY_PATH |
                               (shim.AT_RECURSIVE if prop & MS_REC else 0),
                               propagation=prop & ~MS_REC)
    finally:
        posixos.close(tree)
