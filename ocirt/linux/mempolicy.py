"""linux.memoryPolicy: the NUMA memory policy of the container's processes,
set with set_mempolicy(2) before they execute (it is kept across execve and
inherited by their children).

parse() is also ocirt.config's check of the policy, before any process is
made; check() runs in `create` (nodes that do not exist on this host are an
error, said before any process is made); apply() runs in the container's
init and in `exec`'s process, before a seccomp filter that might refuse the
call. Each takes a config.MemoryPolicy."""

import posix

from ocirt.errors import ConfigError

WHERE = "$.linux.memoryPolicy"

# <linux/mempolicy.h>
MODES = {"MPOL_DEFAULT": 0, "MPOL_PREFERRED": 1, "MPOL_BIND": 2, "MPOL_INTERLEAVE": 3,
         "MPOL_LOCAL": 4, "MPOL_PREFERRED_MANY": 5, "MPOL_WEIGHTED_INTERLEAVE": 6}
FLAGS = {"MPOL_F_NUMA_BALANCING": 1 << 13, "MPOL_F_RELATIVE_NODES": 1 << 14,
         "MPOL_F_STATIC_NODES": 1 << 15}
# the kernel that brought each (older kernels answer EINVAL)
SINCE = {"MPOL_LOCAL": (3, 8), "MPOL_F_NUMA_BALANCING": (5, 12),
         "MPOL_PREFERRED_MANY": (5, 15), "MPOL_WEIGHTED_INTERLEAVE": (6, 9)}
# the kernel's MAX_NUMNODES is at most 1 << 10
MAX_NODE = 1023
NEED_NODES = ("MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE",
              "MPOL_PREFERRED_MANY")
NO_NODES = ("MPOL_DEFAULT", "MPOL_LOCAL")


def node_list(text, where=WHERE + ".nodes"):
    """"0-3,7" -> {0, 1, 2, 3, 7}; "" -> set(). Bounded before it is expanded."""
    nodes = set()
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()) or (part.endswith("-")):
            raise ConfigError(f"{text!r} is not a node list (such as \"0-3,7\")", where)
        lo, hi = int(lo), int(hi or lo)
        if hi < lo:
            raise ConfigError(f"{text!r}: the range {part} is reversed", where)
        if hi > MAX_NODE:
            raise ConfigError(f"{text!r}: node {hi} is beyond the kernel's {MAX_NODE + 1} "
                              "NUMA nodes", where)
        nodes.update(range(lo, hi + 1))
    return nodes


def parse(mp):
    """(mode name, flag names, nodes) of a config.MemoryPolicy, with the
    combinations set_mempolicy(2) refuses named here, at their JSON path."""
    mode = mp.mode
    flags = list(mp.flags)
    nodes = node_list(mp.nodes)
    if mode in NO_NODES and nodes:
        raise ConfigError(f"{mode} takes no nodes (got {mp.nodes!r})", WHERE + ".nodes")
    if mode in NEED_NODES and not nodes:
        raise ConfigError(f"{mode} needs at least one node", WHERE + ".nodes")
    if "MPOL_F_STATIC_NODES" in flags and "MPOL_F_RELATIVE_NODES" in flags:
        raise ConfigError("MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other",
                          WHERE + ".flags")
    if mode in ("MPOL_LOCAL",) or (mode == "MPOL_PREFERRED" and not nodes):
        for f in ("MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"):
            if f in flags:
                raise ConfigError(f"{f} needs nodes, and {mode} has none", WHERE + ".flags")
    if "MPOL_F_NUMA_BALANCING" in flags and mode not in ("MPOL_BIND", "MPOL_PREFERRED_MANY"):
        raise ConfigError(f"MPOL_F_NUMA_BALANCING works with MPOL_BIND and "
                          f"MPOL_PREFERRED_MANY, not {mode}", WHERE + ".flags")
    return mode, flags, nodes


def online_nodes():
    """The host's NUMA nodes (/sys/devices/system/node/online; node 0 alone
    on a kernel without NUMA)."""
    try:
        with open("/sys/devices/system/node/online") as f:
            return node_list(f.read().strip(), "/sys/devices/system/node/online")
    except (OSError, ConfigError):
        return {0}


def check(mp):
    """At create: the policy is well formed, and its nodes exist (with
    MPOL_F_RELATIVE_NODES they are positions in the allowed set, not nodes)."""
    mode, flags, nodes = parse(mp)
    if "MPOL_F_RELATIVE_NODES" not in flags:
        online = online_nodes()
        missing = sorted(nodes - online)
        if missing:
            have = ",".join(str(n) for n in sorted(online))
            raise ConfigError(f"NUMA node{'s' if len(missing) > 1 else ''} "
                              f"{','.join(str(n) for n in missing)} "
                              f"{'do' if len(missing) > 1 else 'does'} not exist "
                              f"(this host has {have})", WHERE + ".nodes")


def apply(mp):
    """set_mempolicy for this process (before exec)."""
    from ocirt.linux import shim
    mode, flags, nodes = parse(mp)
    value = MODES[mode]
    for f in flags:
        value |= FLAGS[f]
    call = f"set_mempolicy({'|'.join([mode] + flags)}, nodes {mp.nodes or '(none)'})"
    try:
        shim.set_mempolicy(value, nodes, call)
    except OSError as e:
        import errno
        if e.errno == errno.EINVAL:
            for name in [mode] + flags:
                need = _needs_newer(name)
                if need:
                    raise ConfigError(f"{name} needs Linux {need} or later; this kernel is "
                                      f"{_release()}", WHERE)
        raise ConfigError(f"{call}: {e.strerror}", WHERE)


def _release():
    return posix.uname().release


def _needs_newer(name):
    """"6.9" when this kernel predates <name>'s, else None."""
    if name not in SINCE:
        return None
    want = SINCE[name]
    try:
        have = tuple(int(x) for x in _release().split("-")[0].split(".")[:2])
    except ValueError:
        return None
    return None if have >= want else ".".join(map(str, want))
