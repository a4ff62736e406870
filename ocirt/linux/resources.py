"""runtime-spec `linux.resources` as cgroup interface files.

This module only translates: given the resources object and, for each
controller, whether it lives in a v1 hierarchy or in cgroup2, it returns the
files to write, in order, each with the JSON path it came from. Reading the
current values (where an order or a check depends on them) and writing are
done by ocirt.linux.cgroups; device rules are ocirt.linux.devrules.

The conversions between v1 and v2 units follow runc, whose behaviour engines
expect: cpu.shares -> cpu.weight, blkio weight -> io.weight, the spec's
memory+swap total -> memory.swap.max (swap alone).
"""
from ocirt.errors import ConfigError

BASE = "$.linux.resources"

# v1 controller name -> cgroup2 name, for the sections that exist on both
V2_NAME = {"blkio": "io"}

MAX_INT64 = (1 << 63) - 1


class Write:
    """One value for one cgroup file of one controller."""

    __slots__ = ("controller", "file", "value", "path")

    def __init__(self, controller, file, value, path):
        self.controller = controller  # v1 name: memory, cpu, cpuset, pids, blkio, ...
        self.file = file
        self.value = str(value)
        self.path = path              # JSON path, for error messages

    def __repr__(self):
        return f"Write({self.controller!r}, {self.file!r}, {self.value!r})"

    def __eq__(self, other):
        return isinstance(other, Write) and (self.controller, self.file, self.value) == (
            other.controller, other.file, other.value)


# Fields where 0 means "not set", as in runc (Go engines send zero values):
# a 0 there is skipped, not written. pids.limit is not among them: since
# runtime-spec 1.3.0, 0 is a limit.
ZERO_IS_UNSET = {
    "memory": ("limit", "reservation", "swap", "kernel", "kernelTCP"),
    "cpu": ("shares", "quota", "period", "burst", "realtimeRuntime", "realtimePeriod"),
    "blockIO": ("weight", "leafWeight"),
}


def without_unset(res, also_pids=False):
    """res without the zero values that mean "not set" (see ZERO_IS_UNSET).

    also_pids: `update` takes pids.limit 0 as "unchanged" too, as runc does."""
    out = {}
    for section, value in (res or {}).items():
        zero = ZERO_IS_UNSET.get(section, ()) + (("limit",) if also_pids and
                                                 section == "pids" else ())
        if isinstance(value, dict) and zero:
            value = {k: v for k, v in value.items()
                     if not (k in zero and v == 0 and not isinstance(v, bool))}
        out[section] = value
    return out


def controllers(res):
    """The v1 controller names a resources object needs (devices excluded)."""
    res = without_unset(res)
    out = []
    mem = res.get("memory") or {}
    if any(k in mem for k in ("limit", "reservation", "swap", "swappiness", "disableOOMKiller",
                              "kernel", "kernelTCP")):
        out.append("memory")
    cpu = res.get("cpu") or {}
    if any(k in cpu for k in ("shares", "quota", "period", "burst", "realtimeRuntime",
                              "realtimePeriod", "idle")):
        out.append("cpu")
    if cpu.get("cpus") or cpu.get("mems"):
        out.append("cpuset")
    if (res.get("pids") or {}).get("limit") is not None:
        out.append("pids")
    if _blkio_fields(res.get("blockIO") or {}):
        out.append("blkio")
    if res.get("hugepageLimits"):
        out.append("hugetlb")
    net = res.get("network") or {}
    if net.get("classID") is not None:
        out.append("net_cls")
    if net.get("priorities"):
        out.append("net_prio")
    if res.get("rdma"):
        out.append("rdma")
    return out


def _blkio_fields(b):
    return [k for k in ("weight", "leafWeight", "weightDevice", "throttleReadBpsDevice",
                        "throttleWriteBpsDevice", "throttleReadIOPSDevice",
                        "throttleWriteIOPSDevice") if b.get(k) not in (None, [])]


def writes(res, v2, current=None, warn=None, hugepage_sizes=()):
    """[Write] for `res`, in the order they must be written.

    v2(controller) tells whether a controller lives in cgroup2. current(ctrl,
    file) reads a file's present value (as a string) when an order depends on
    it; warn(msg) reports settings that this kernel has no file for.
    """
    res = without_unset(res)
    warn = warn or (lambda msg: None)
    out = []
    mem = res.get("memory") or {}
    if mem:
        out += (_memory_v2 if v2("memory") else _memory_v1)(mem, current, warn)
    cpu = res.get("cpu") or {}
    if "cpu" in controllers(res):
        out += (_cpu_v2 if v2("cpu") else _cpu_v1)(cpu, warn)
    for key in ("cpus", "mems"):
        if cpu.get(key):
            out.append(Write("cpuset", f"cpuset.{key}", cpu[key], f"{BASE}.cpu.{key}"))
    limit = (res.get("pids") or {}).get("limit")
    if limit is not None:
        # runtime-spec 1.3.0: 0 is a limit like any other; negative is "no limit"
        out.append(Write("pids", "pids.max", "max" if limit < 0 else limit,
                         f"{BASE}.pids.limit"))
    blk = res.get("blockIO") or {}
    if _blkio_fields(blk):
        out += (_io_v2 if v2("blkio") else _blkio_v1)(blk, warn)
    for i, h in enumerate(res.get("hugepageLimits") or ()):
        size = h.get("pageSize")
        where = f"{BASE}.hugepageLimits[{i}]"
        if size not in hugepage_sizes:
            have = ", ".join(hugepage_sizes) or "none"
            raise ConfigError(f"invalid hugepage size {size!r} (this host has: {have})",
                              f"{where}.pageSize")
        name = f"hugetlb.{size}.max" if v2("hugetlb") else f"hugetlb.{size}.limit_in_bytes"
        out.append(Write("hugetlb", name, h.get("limit"), f"{where}.limit"))
    net = res.get("network") or {}
    if net.get("classID") is not None:
        out.append(Write("net_cls", "net_cls.classid", net["classID"],
                         f"{BASE}.network.classID"))
    for i, p in enumerate(net.get("priorities") or ()):
        out.append(Write("net_prio", "net_prio.ifpriomap", f"{p['name']} {p['priority']}",
                         f"{BASE}.network.priorities[{i}]"))
    for dev, lim in (res.get("rdma") or {}).items():
        parts = [f"{k}={lim[k]}" for k in ("hcaHandles", "hcaObjects") if lim.get(k) is not None]
        if parts:
            line = dev + " " + " ".join(parts).replace("hcaHandles", "hca_handle").replace(
                "hcaObjects", "hca_object")
            out.append(Write("rdma", "rdma.max", line, f"{BASE}.rdma.{dev}"))
    return out


# cgroup2 files that move processes or shape the tree: writing cgroup.procs
# would pull any host pid into the container's cgroup
_RUNTIME_OWNED = frozenset(("cgroup.procs", "cgroup.threads", "cgroup.kill", "cgroup.freeze",
                            "cgroup.subtree_control", "cgroup.type"))


def unified_writes(unified):
    """linux.resources.unified: key/value pairs written as they are (cgroup2 only)."""
    out = []
    for key, value in (unified or {}).items():
        where = f"{BASE}.unified.{key}"
        if "/" in key or key.startswith(".") or "." not in key:
            raise ConfigError(f"invalid cgroup file name {key!r}", where)
        if key in _RUNTIME_OWNED:
            raise ConfigError(f"{key} is the runtime's to manage, not a resource", where)
        ctrl = key.split(".", 1)[0]
        out.append(Write("cgroup" if ctrl == "cgroup" else ctrl, key, value, where))
    return out


# ---- memory -----------------------------------------------------------------

def _memory_v1(mem, current, warn):
    p = f"{BASE}.memory"
    out = []
    limit, swap = mem.get("limit"), mem.get("swap")
    lim_w = Write("memory", "memory.limit_in_bytes", limit, f"{p}.limit") \
        if limit is not None else None
    swap_w = Write("memory", "memory.memsw.limit_in_bytes", swap, f"{p}.swap") \
        if swap is not None else None
    if swap == -1 and current and current("memory", "memory.memsw.limit_in_bytes") is None:
        swap_w = None  # no swap accounting: nothing to lift (runc skips it too)
    if swap is not None and limit is not None and 0 <= swap < limit:
        raise ConfigError("memory+swap limit must be at least the memory limit", f"{p}.swap")
    if lim_w and swap_w:
        # the kernel keeps limit <= memsw.limit at every step: raise memsw
        # first when it grows, lower the limit first when it shrinks
        cur = _int(current("memory", "memory.memsw.limit_in_bytes")) if current else MAX_INT64
        if swap == -1 or swap > cur:
            out += [swap_w, lim_w]
        else:
            out += [lim_w, swap_w]
    else:
        out += [w for w in (lim_w, swap_w) if w]
    if mem.get("reservation") is not None:
        out.append(Write("memory", "memory.soft_limit_in_bytes", mem["reservation"],
                         f"{p}.reservation"))
    sw = mem.get("swappiness")
    if sw is not None and sw != -1:
        if not 0 <= sw <= 100:
            raise ConfigError(f"swappiness must be 0-100, not {sw}", f"{p}.swappiness")
        out.append(Write("memory", "memory.swappiness", sw, f"{p}.swappiness"))
    if mem.get("disableOOMKiller"):
        out.append(Write("memory", "memory.oom_control", 1, f"{p}.disableOOMKiller"))
    if mem.get("kernel") is not None:
        warn(f"{p}.kernel: kernel memory limits are not supported by current kernels; ignored")
    if mem.get("kernelTCP") is not None:
        out.append(Write("memory", "memory.kmem.tcp.limit_in_bytes", mem["kernelTCP"],
                         f"{p}.kernelTCP"))
    return out


def _memory_v2(mem, current, warn):
    p = f"{BASE}.memory"
    out = []
    limit, swap = mem.get("limit"), mem.get("swap")
    if limit is not None:
        out.append(Write("memory", "memory.max", _max(limit), f"{p}.limit"))
    if swap is not None or limit == -1:
        s = swap_v2(swap or 0, limit if limit is not None else 0, f"{p}.swap")
        if s == -1 and current and current("memory", "memory.swap.max") is None:
            s = None  # no swap controller: nothing to lift (runc skips it too)
        if s is not None:
            out.append(Write("memory", "memory.swap.max", _max(s), f"{p}.swap"))
    if mem.get("reservation") is not None:
        out.append(Write("memory", "memory.low", _max(mem["reservation"]), f"{p}.reservation"))
    for key, unset, why in (("swappiness", -1, "no per-cgroup swappiness"),
                            ("disableOOMKiller", False, "no way to disable the OOM killer"),
                            ("kernel", None, "no kernel memory limit"),
                            ("kernelTCP", None, "no kernel TCP memory limit")):
        if mem.get(key) not in (None, unset):
            warn(f"{p}.{key}: cgroup v2 has {why}; ignored")
    return out


def swap_v2(swap, limit, where):
    """The spec's memory+swap total -> cgroup2's swap-only memory.swap.max.

    As runc: unset (0) stays unset, unless memory is unlimited, which makes
    swap unlimited too; -1 is unlimited; otherwise swap - limit. Returns None
    for "leave it alone"."""
    if limit == -1 and swap == 0:
        return -1
    if swap in (-1, 0):
        return swap if swap == -1 else None
    if limit in (0, -1):
        raise ConfigError("a swap limit needs a memory limit", where)
    if swap < limit:
        raise ConfigError("memory+swap limit must be at least the memory limit", where)
    return swap - limit


# ---- cpu --------------------------------------------------------------------

def _cpu_v1(cpu, warn):
    p = f"{BASE}.cpu"
    out = []
    if cpu.get("shares") is not None:
        out.append(Write("cpu", "cpu.shares", cpu["shares"], f"{p}.shares"))
    # period before quota: a quota is checked against the period in place
    if cpu.get("period") is not None:
        out.append(Write("cpu", "cpu.cfs_period_us", cpu["period"], f"{p}.period"))
    if cpu.get("quota") is not None:
        out.append(Write("cpu", "cpu.cfs_quota_us", cpu["quota"], f"{p}.quota"))
    if cpu.get("burst") is not None:
        out.append(Write("cpu", "cpu.cfs_burst_us", cpu["burst"], f"{p}.burst"))
    if cpu.get("realtimePeriod") is not None:
        out.append(Write("cpu", "cpu.rt_period_us", cpu["realtimePeriod"],
                         f"{p}.realtimePeriod"))
    if cpu.get("realtimeRuntime") is not None:
        out.append(Write("cpu", "cpu.rt_runtime_us", cpu["realtimeRuntime"],
                         f"{p}.realtimeRuntime"))
    if cpu.get("idle") is not None:
        out.append(Write("cpu", "cpu.idle", cpu["idle"], f"{p}.idle"))
    return out


def shares_to_weight(shares):
    """cpu.shares [2, 262144] -> cpu.weight [1, 10000], as runc and crun map it."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def _cpu_v2(cpu, warn):
    p = f"{BASE}.cpu"
    out = []
    if cpu.get("realtimePeriod") or cpu.get("realtimeRuntime"):
        key = "realtimeRuntime" if cpu.get("realtimeRuntime") else "realtimePeriod"
        raise ConfigError("cgroup v2 has no realtime CPU bandwidth (cpu.rt_*)", f"{p}.{key}")
    if cpu.get("shares"):
        w = shares_to_weight(cpu["shares"])
        if not 1 <= w <= 10000:
            raise ConfigError(f"cpu shares {cpu['shares']} are out of range", f"{p}.shares")
        out.append(Write("cpu", "cpu.weight", w, f"{p}.shares"))
    quota, period = cpu.get("quota") or 0, cpu.get("period") or 0
    if quota or period:
        value = str(quota) if quota > 0 else "max"
        if period:
            value += f" {period}"
        out.append(Write("cpu", "cpu.max", value, f"{p}.quota" if quota else f"{p}.period"))
    if cpu.get("burst") is not None:
        out.append(Write("cpu", "cpu.max.burst", cpu["burst"], f"{p}.burst"))
    if cpu.get("idle") is not None:
        out.append(Write("cpu", "cpu.idle", cpu["idle"], f"{p}.idle"))
    return out


# ---- block I/O --------------------------------------------------------------

def _dev(d):
    return f"{d['major']}:{d['minor']}"


_THROTTLE = (("throttleReadBpsDevice", "read_bps_device", "rbps"),
             ("throttleWriteBpsDevice", "write_bps_device", "wbps"),
             ("throttleReadIOPSDevice", "read_iops_device", "riops"),
             ("throttleWriteIOPSDevice", "write_iops_device", "wiops"))


def _blkio_v1(b, warn):
    p = f"{BASE}.blockIO"
    out = []
    if b.get("weight") is not None:
        out.append(Write("blkio", "blkio.weight", b["weight"], f"{p}.weight"))
    if b.get("leafWeight") is not None:
        out.append(Write("blkio", "blkio.leaf_weight", b["leafWeight"], f"{p}.leafWeight"))
    for i, d in enumerate(b.get("weightDevice") or ()):
        if d.get("weight") is not None:
            out.append(Write("blkio", "blkio.weight_device", f"{_dev(d)} {d['weight']}",
                             f"{p}.weightDevice[{i}]"))
        if d.get("leafWeight") is not None:
            out.append(Write("blkio", "blkio.leaf_weight_device",
                             f"{_dev(d)} {d['leafWeight']}", f"{p}.weightDevice[{i}]"))
    for key, suffix, _ in _THROTTLE:
        for i, d in enumerate(b.get(key) or ()):
            out.append(Write("blkio", f"blkio.throttle.{suffix}", f"{_dev(d)} {d['rate']}",
                             f"{p}.{key}[{i}]"))
    return out


def blkio_to_io_weight(weight):
    """blkio weight [10, 1000] -> io.weight [1, 10000], as runc maps it."""
    if weight == 0:
        return 0
    return 1 + (weight - 10) * 9999 // 990


def _io_v2(b, warn):
    p = f"{BASE}.blockIO"
    out = []
    if b.get("weight"):
        out.append(Write("blkio", "io.weight", blkio_to_io_weight(b["weight"]), f"{p}.weight"))
    if b.get("leafWeight") is not None:
        warn(f"{p}.leafWeight: cgroup v2 has no leaf weight; ignored")
    for i, d in enumerate(b.get("weightDevice") or ()):
        if d.get("weight") is not None:
            out.append(Write("blkio", "io.weight",
                             f"{_dev(d)} {blkio_to_io_weight(d['weight'])}",
                             f"{p}.weightDevice[{i}]"))
    for key, _, name in _THROTTLE:
        for i, d in enumerate(b.get(key) or ()):
            rate = d["rate"] if d["rate"] else "max"
            out.append(Write("blkio", "io.max", f"{_dev(d)} {name}={rate}", f"{p}.{key}[{i}]"))
    return out


def _max(v):
    return "max" if v == -1 else v


def _int(s):
    try:
        return int(s)
    except (TypeError, ValueError):
        return MAX_INT64
