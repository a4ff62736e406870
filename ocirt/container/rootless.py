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
* on a pure cgroup2 host a relative (or absent) cgroupsPath goes under the
  parent of the caller's own cgroup, as runc's rootless cgroupfs manager
  puts it: where that is a subtree delegated to the user (systemd's
  user@UID.service, for a command run in a scope of the user's systemd),
  the container gets its cgroup there, with the controllers the delegation
  gives (place);
* where the user cannot make the container's cgroup in a hierarchy, the
  container goes without it, as with runc, unless the config sets a limit
  that hierarchy's controller enforces: then a clear error instead, as
  when the controller is not delegated to the user (drop_cgroups).

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


def place(cg, cgroups_path, cid):
    """Move the container's cgroup2 directory of the Cgroup cg (made by
    Cgroup.for_container, which checked the path) under the parent of the
    caller's own cgroup, for a relative or absent cgroupsPath on a pure
    cgroup2 host ("<parent>/<id>" when absent, as runc). The caller's own
    cgroup holds the caller, so no controller can be enabled below it (the
    kernel's no-internal-process rule); its parent can be the user's. An
    absolute path is the admin's to give, and stays; so does a v1 or hybrid
    layout, where nothing is delegated to users."""
    from ocirt.linux import cgroups
    if (cgroups_path or "").startswith("/") or not cgroups.layout_is_unified(cg.paths):
        return
    mount = cgroups.hierarchies()[cgroups.UNIFIED]
    own = cgroups.own_paths().get(cgroups.UNIFIED, "/")
    rel = posixos.path.normpath(posixos.path.join(posixos.path.dirname(own),
                                                  cgroups_path or cid))
    cg.paths[cgroups.UNIFIED] = posixos.path.join(mount, rel.lstrip("/"))
    cg.default_parent = False  # (v1's realtime budget: none here)


def drop_cgroups(cg, resources):
    """Take out of the Cgroup cg each hierarchy where the caller cannot make
    (or, if it exists, join) the container's cgroup; ConfigError if the
    config sets a limit that needs one of them. The device rules are no
    limit here: they need CAP_SYS_ADMIN on the host, and runc skips them
    too (the devices are the host's own nodes, bind-mounted)."""
    denied = {name: d for name, d in cg.paths.items() if not _may_make(d)}
    if not denied:
        from ocirt.linux import cgroups
        if cgroups.layout_is_unified(cg.paths):
            _check_delegated(cg.paths[cgroups.UNIFIED], resources)
        return
    for ctrl, where in _limits(resources):
        name = next((n for n in cg.paths if ctrl in n.split(",")), "unified")
        if name in denied:
            raise errors.ConfigError(
                f"cannot create the cgroup {denied[name]}: Permission denied (a user other "
                f"than root; the {ctrl} controller is needed for this limit)", where)
    for name in denied:
        del cg.paths[name]


def _check_delegated(d, res):
    """ConfigError for a limit whose cgroup2 controller the user cannot have
    in d: not offered at the deepest existing directory on d's way, nor
    available from a parent whose cgroup.subtree_control the user may write
    (a delegation gives its controllers, and no others: systemd's
    user@UID.service has memory and pids, often cpu). Before any process is
    made, rather than a failed write once the init exists."""
    from ocirt.linux import cgroups, resources
    have = d
    while not posixos.path.isdir(have):
        have = posixos.path.dirname(have)
    offered_at_root = _words(posixos.path.join(cgroups.hierarchies()[cgroups.UNIFIED],
                                               "cgroup.controllers"))
    needs = [(resources.V2_NAME.get(c, c), where) for c, where in _limits(res)
             if c != "unified"]
    needs += [(w.controller, w.path) for w in resources.unified_writes(res.unified)] \
        if res is not None else []
    for v2, where in needs:
        if v2 not in offered_at_root:
            continue  # not a cgroup2 controller here: ocirt.linux.resources says so
        p = have
        while v2 not in _words(posixos.path.join(p, "cgroup.controllers")):
            up = posixos.path.dirname(p)
            if up == p or not posixos.access(posixos.path.join(up, "cgroup.subtree_control"),
                                             posixos.W_OK):
                offered = " ".join(_words(posixos.path.join(have, "cgroup.controllers")))
                raise errors.ConfigError(
                    f"the {v2} controller is not delegated to this user at {have} (its "
                    f"cgroup.controllers: {offered or 'none'}): it is needed for this limit",
                    where)
            p = up


def _words(path):
    try:
        with open(path) as f:
            return f.read().split()
    except OSError:
        return []


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
