"""create by a user other than root: what such a user can and cannot have.

Imported only when the caller is not root of the host (create asks
geteuid() and ocirt.linux.proc.host_root()): root's path does not pay for
it. Root of a user's namespace (rootless podman's runtime) gets
drop_cgroups alone: its config shares that namespace, and check() is for
a user's own. The user has no capability on the host, only in a
user namespace of its own, so:

* the config needs a user namespace (the maps are written by
  ocirt.linux.userns: directly for the user's own id, else by newuidmap);
* proc needs a pid namespace, and sysfs a network namespace, that the
  user namespace owns (the kernel refuses the host's: mount(2) EPERM);
* where the user cannot make the container's cgroup in a hierarchy, the
  container goes without it, as with runc, unless the config sets a limit
  that hierarchy's controller enforces: then a clear error instead.

Each refusal names its JSON path, before any process or file is made.
"""
from ocirt import errors
from ocirt import posixos  # os without its import cost (see there)


def check(cfg):
    """ConfigError for what a config asks and a user other than root cannot have."""
    if cfg.namespace("user") is None:
        raise errors.ConfigError("a user other than root needs a user namespace (add "
                                 "{\"type\": \"user\"} and uid/gid mappings)",
                                 "$.linux.namespaces")
    for i, m in enumerate(cfg.mounts):
        ns = {"proc": "pid", "sysfs": "network"}.get(m.type)
        if ns is not None and cfg.namespace(ns) is None:
            raise errors.ConfigError(
                f"mount({m.type} on {m.destination}): a user other than root cannot mount "
                f"{m.type} without a {ns} namespace of its own (none in $.linux.namespaces"
                + ("; `spec --rootless` binds /sys instead)" if ns == "network" else ")"),
                f"$.mounts[{i}]")
        if m.idmapped:
            raise errors.ConfigError("an idmapped mount needs CAP_SYS_ADMIN on the host "
                                     "(MOUNT_ATTR_IDMAP): a user other than root has none",
                                     f"$.mounts[{i}]")
    gids = cfg.process.user.additional_gids
    maps = cfg.gid_mappings
    if gids and len(maps) == 1 and maps[0].size == 1 and maps[0].host_id == posixos.getegid():
        raise errors.ConfigError(
            "setgroups is denied in a user namespace whose gid map the user writes itself "
            "(one mapping of its own gid): map ranges of /etc/subgid to have groups",
            "$.process.user.additionalGids")


def drop_cgroups(cg, resources):
    """Take out of the Cgroup cg each hierarchy where the caller cannot make
    (or, if it exists, join) the container's cgroup; ConfigError if the
    config sets a limit that needs one of them. The device rules are no
    limit here: they need CAP_SYS_ADMIN on the host, and runc skips them
    too (the devices are the host's own nodes, bind-mounted)."""
    denied = {name: d for name, d in cg.paths.items() if not _may_make(d)}
    if not denied:
        return
    for ctrl, where in _limits(resources):
        name = next((n for n in cg.paths if ctrl in n.split(",")), "unified")
        if name in denied:
            raise errors.ConfigError(
                f"cannot create the cgroup {denied[name]}: Permission denied (a user other "
                f"than root; the {ctrl} controller is needed for this limit)", where)
    for name in denied:
        del cg.paths[name]


def _may_make(d):
    """The caller may make directory d (write in its deepest existing
    ancestor), or join it where it exists (write its cgroup.procs)."""
    if posixos.path.isdir(d):
        return posixos.access(posixos.path.join(d, "cgroup.procs"), posixos.W_OK)
    while not posixos.path.isdir(d):
        d = posixos.path.dirname(d)
    return posixos.access(d, posixos.W_OK | posixos.X_OK)


def _limits(res):
    """(v1 controller, JSON path) of each limit of linux.resources res."""
    if res is None:
        return []
    from ocirt.linux import resources
    out = [(c, resources._section_path(c)) for c in resources.controllers(res)]
    if res.unified:
        out.append(("unified", "$.linux.resources.unified"))
    return out
