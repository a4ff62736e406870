"""The cgroup freezer: whether a container is paused; pausing and resuming it.

Takes a container's cgroup directories as ocirt.linux.cgroups names them
({hierarchy: directory}, UNIFIED for cgroup2), and lives apart from that
module so that `state` and `kill`, hot commands, need not import it.

v1: freezer.state in the freezer hierarchy (THAWED, FREEZING, FROZEN).
cgroup2 (a pure cgroup2 layout): cgroup.freeze (0 or 1), and "frozen 1" in
cgroup.events once every process has stopped.
"""

import time

from ocirt import posixos  # os without its import cost (see there)

UNIFIED = "unified"  # cgroup2's name among a container's cgroup directories


def layout_is_unified(hierarchies):
    """Whether a {hierarchy: ...} map (the host's mounts, or a container's
    cgroup directories) is a pure cgroup2 layout: cgroup2 and nothing else."""
    return list(hierarchies) == [UNIFIED]


def control(paths):
    """(file, frozen value, thawed value) of this cgroup's freezer, or None."""
    for name, d in paths.items():
        if name == "freezer" or "freezer" in name.split(","):
            return d + "/freezer.state", "FROZEN", "THAWED"
    if layout_is_unified(paths):
        return paths[UNIFIED] + "/cgroup.freeze", "1", "0"
    return None


def is_frozen(paths):
    """True when frozen or freezing (a pause has been asked for)."""
    f = control(paths)
    if f is None:
        return False
    try:
        with open(f[0]) as fh:
            return fh.read().strip() != f[2]
    except OSError:
        return False


def freeze(paths):
    """Freeze every process; returns once the kernel reports them frozen."""
    f = control(paths)
    if f is None:
        raise OSError(95, "no freezer controller for this cgroup")
    path, frozen, _ = f
    for _ in range(2000):  # at most ~2 s, as runc allows
        with open(path, "w") as out:
            out.write(frozen)
        if _done(path):
            return
        time.sleep(0.001)  # v1 goes through FREEZING; v2 sets "frozen 1" in cgroup.events
    thaw(paths)
    raise OSError(16, "the container's processes did not freeze")


def _done(path):
    if path.endswith("freezer.state"):
        with open(path) as f:
            return f.read().strip() == "FROZEN"
    with open(posixos.path.join(posixos.path.dirname(path), "cgroup.events")) as f:
        return "frozen 1" in f.read()


def thaw(paths):
    f = control(paths)
    if f is not None:
        with open(f[0], "w") as out:
            out.write(f[2])


def thaw_all(paths):
    """Thaw the cgroup and, on v1, every cgroup below it, before a SIGKILL: a
    frozen v1 task does not die until thawed (cgroup2 kills frozen tasks, so
    there the cgroup alone is thawed). Returns None, or the freezer.state that
    stays frozen: a parent cgroup froze it, which is not the container's to thaw.
    """
    f = control(paths)
    if f is None:
        return None
    path, _, thawed = f
    try:
        thaw(paths)
    except OSError:
        return None  # gone already
    if not path.endswith("freezer.state"):
        return None
    for d in subgroups(posixos.path.dirname(path)):
        try:
            with open(d + "/freezer.state", "w") as out:
                out.write(thawed)
        except OSError:
            pass
    try:
        with open(path) as fh:
            return None if fh.read().strip() == thawed else path
    except OSError:
        return None


def subgroups(d):
    """The cgroups below directory d, deepest first. One stat when there are
    none, the usual case: a cgroupfs directory links 2 + its subdirectories."""
    try:
        if posixos.stat(d).st_nlink <= 2:
            return []
        names = posixos.listdir(d)
    except OSError:
        return []
    out = []
    for name in names:
        sub = d + "/" + name
        if posixos.path.isdir(sub):
            out += subgroups(sub)
            out.append(sub)
    return out
