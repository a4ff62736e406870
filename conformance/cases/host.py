"""What this host offers, for checks that skip what it cannot test: the cgroup
hierarchies mounted and the controllers they have, and the names of the
spec's namespace types under /proc/<pid>/ns."""


def cgroup_mounts():
    """{controller: mount point} of the cgroup hierarchies mounted here, from
    /proc/self/mountinfo ("unified" for cgroup2). Directory names under
    /sys/fs/cgroup do not count: after podman ran on a hybrid host, plain
    unmounted hugetlb, net_cls, net_prio and perf_event directories are there.
    The keys are controllers (/proc/cgroups), named hierarchies ("name=systemd")
    and "unified": not the other mount options (rw, relatime, ...)."""
    with open("/proc/cgroups") as f:
        known = {line.split()[0] for line in f if not line.startswith("#")}
    out = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fstype, _src, sup = (right.split() + ["", "", ""])[:3]
            mp = left.split()[4]
            if fstype == "cgroup2":
                out.setdefault("unified", mp)
            elif fstype == "cgroup":
                for opt in sup.split(","):
                    if opt in known or opt.startswith("name="):
                        out.setdefault(opt, mp)
    return out


def v2_offers(ctrl):
    """True if the cgroup2 tree mounted here offers ctrl."""
    mp = cgroup_mounts().get("unified")
    try:
        with open(f"{mp}/cgroup.controllers") as f:
            return ctrl in f.read().split()
    except (OSError, TypeError):
        return False


def v1_mounted(ctrl):
    """True if ctrl is mounted as a cgroup v1 hierarchy."""
    return ctrl != "unified" and ctrl in cgroup_mounts()


# the spec's namespace type -> its name under /proc/<pid>/ns
NS_PROC = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "mount": "mnt",
           "cgroup": "cgroup", "user": "user", "time": "time"}
