"""runtime-spec `linux.resources` onto a container's cgroup: the limits.

Two halves. The translation is pure: given the resources (an
ocirt.config.Resources record) and, for each controller, whether it lives in
a v1 hierarchy or in cgroup2, writes() returns the files to write, in order,
each with the JSON path it came from (unit-tested without root). apply()
then finds each controller's directory, reads what an order or a check
depends on, writes, and on a failed `update` puts back what it had written.
Where the container's directories are is ocirt.linux.cgroups' (placement);
device rules are ocirt.linux.devrules'.

The conversions between v1 and v2 units follow runc, whose behaviour engines
expect: cpu.shares -> cpu.weight, blkio weight -> io.weight, the spec's
memory+swap total -> memory.swap.max (swap alone).
"""
from ocirt import posixos  # os without its import cost (see there)
from ocirt.errors import ConfigError, SetupError
from ocirt.linux import cgroups
from ocirt.linux.cgroups import UNIFIED

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


# Fields (the spec's names) where 0 means "not set", as in runc (Go engines
# send zero values): a 0 there is skipped, not written. pids.limit is not
# among them: since runtime-spec 1.3.0, 0 is a limit. `update` reads this
# table too, for the JSON it merges.
ZERO_IS_UNSET = {
    "memory": ("limit", "reservation", "swap", "kernel", "kernelTCP"),
    "cpu": ("shares", "quota", "period", "burst", "realtimeRuntime", "realtimePeriod"),
    "blockIO": ("weight", "leafWeight"),
}


def _is_zero(v):
    return v == 0 and not isinstance(v, bool)


def without_unset(res):
    """res (a Resources record) with None for the zero values that mean "not
    set" (see ZERO_IS_UNSET)."""
    changed = {}
    for name, key in zip(res.__slots__, res._json):
        rec, zero = getattr(res, name), ZERO_IS_UNSET.get(key)
        if rec is None or not zero:
            continue
        cleared = {f: None for f, k in zip(rec.__slots__, rec._json)
                   if k in zero and _is_zero(getattr(rec, f))}
        if cleared:
            changed[name] = rec.replace(**cleared)
    return res.replace(**changed) if changed else res


def controllers(res):
    """The v1 controller names a resources record needs (devices excluded)."""
    res = without_unset(res)
    out = []
    mem = res.memory
    if mem is not None and any(v is not None for v in (
            mem.limit, mem.reservation, mem.swap, mem.swappiness, mem.disable_oom_killer,
            mem.kernel, mem.kernel_tcp)):
        out.append("memory")
    cpu = res.cpu
    if cpu is not None and any(v is not None for v in (
            cpu.shares, cpu.quota, cpu.period, cpu.burst, cpu.realtime_runtime,
            cpu.realtime_period, cpu.idle)):
        out.append("cpu")
    if cpu is not None and (cpu.cpus or cpu.mems):
        out.append("cpuset")
    if res.pids is not None and res.pids.limit is not None:
        out.append("pids")
    if _blkio_fields(res.block_io):
        out.append("blkio")
    if res.hugepage_limits:
        out.append("hugetlb")
    net = res.network
    if net is not None and net.class_id is not None:
        out.append("net_cls")
    if net is not None and net.priorities:
        out.append("net_prio")
    if res.rdma:
        out.append("rdma")
    return out


def _blkio_fields(b):
    if b is None:
        return []
    return [f for f in b.__slots__ if getattr(b, f) not in (None, ())]


def writes(res, v2, current=None, warn=None, hugepage_sizes=()):
    """[Write] for `res` (a Resources record), in the order they must be written.

    v2(controller) tells whether a controller lives in cgroup2. current(ctrl,
    file) reads a file's present value (as a string) when an order depends on
    it; warn(msg) reports settings that this kernel has no file for.
    """
    res = without_unset(res)
    warn = warn or (lambda msg: None)
    out = []
    needed = controllers(res)
    mem = res.memory
    # an empty record ("memory": {}, as containerd's CRI plugin writes) needs
    # no controller, and apply() has looked up only those needed
    if "memory" in needed:
        out += (_memory_v2 if v2("memory") else _memory_v1)(mem, current, warn)
    cpu = res.cpu
    if "cpu" in needed:
        out += (_cpu_v2 if v2("cpu") else _cpu_v1)(cpu, warn)
    for key in ("cpus", "mems"):
        if cpu is not None and getattr(cpu, key):
            out.append(Write("cpuset", f"cpuset.{key}", getattr(cpu, key),
                             f"{BASE}.cpu.{key}"))
    limit = res.pids.limit if res.pids is not None else None
    if limit is not None:
        # runtime-spec 1.3.0: 0 is a limit like any other; negative is "no limit"
        out.append(Write("pids", "pids.max", "max" if limit < 0 else limit,
                         f"{BASE}.pids.limit"))
    blk = res.block_io
    if _blkio_fields(blk):
        out += (_io_v2 if v2("blkio") else _blkio_v1)(blk, warn)
    for i, h in enumerate(res.hugepage_limits or ()):
        size = h.page_size
        where = f"{BASE}.hugepageLimits[{i}]"
        if size not in hugepage_sizes:
            have = ", ".join(hugepage_sizes) or "none"
            raise ConfigError(f"invalid hugepage size {size!r} (this host has: {have})",
                              f"{where}.pageSize")
        name = f"hugetlb.{size}.max" if v2("hugetlb") else f"hugetlb.{size}.limit_in_bytes"
        out.append(Write("hugetlb", name, h.limit, f"{where}.limit"))
    net = res.network
    if net is not None and net.class_id is not None:
        out.append(Write("net_cls", "net_cls.classid", net.class_id,
                         f"{BASE}.network.classID"))
    for i, p in enumerate((net.priorities if net is not None else None) or ()):
        out.append(Write("net_prio", "net_prio.ifpriomap", f"{p.name} {p.priority}",
                         f"{BASE}.network.priorities[{i}]"))
    for dev, lim in res.rdma or ():
        parts = [f"{name}={v}" for name, v in (("hca_handle", lim.hca_handles),
                                               ("hca_object", lim.hca_objects))
                 if v is not None]
        if parts:
            out.append(Write("rdma", "rdma.max", dev + " " + " ".join(parts),
                             f"{BASE}.rdma.{dev}"))
    return out


# cgroup2 files that move processes or shape the tree: writing cgroup.procs
# would pull any host pid into the container's cgroup
_RUNTIME_OWNED = frozenset(("cgroup.procs", "cgroup.threads", "cgroup.kill", "cgroup.freeze",
                            "cgroup.subtree_control", "cgroup.type"))


def unified_writes(unified):
    """linux.resources.unified ((file, value) pairs): written as they are (cgroup2 only)."""
    out = []
    for key, value in unified or ():
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
    limit, swap = mem.limit, mem.swap
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
    if mem.reservation is not None:
        out.append(Write("memory", "memory.soft_limit_in_bytes", mem.reservation,
                         f"{p}.reservation"))
    sw = mem.swappiness
    if sw is not None and sw != -1:
        if not 0 <= sw <= 100:
            raise ConfigError(f"swappiness must be 0-100, not {sw}", f"{p}.swappiness")
        out.append(Write("memory", "memory.swappiness", sw, f"{p}.swappiness"))
    if mem.disable_oom_killer:
        out.append(Write("memory", "memory.oom_control", 1, f"{p}.disableOOMKiller"))
    if mem.kernel is not None:
        warn(f"{p}.kernel: kernel memory limits are not supported by current kernels; ignored")
    if mem.kernel_tcp is not None:
        out.append(Write("memory", "memory.kmem.tcp.limit_in_bytes", mem.kernel_tcp,
                         f"{p}.kernelTCP"))
    return out


def _memory_v2(mem, current, warn):
    p = f"{BASE}.memory"
    out = []
    limit, swap = mem.limit, mem.swap
    if limit is not None:
        out.append(Write("memory", "memory.max", _max(limit), f"{p}.limit"))
    if swap is not None or limit == -1:
        s = swap_v2(swap or 0, limit if limit is not None else 0, f"{p}.swap")
        if s == -1 and current and current("memory", "memory.swap.max") is None:
            s = None  # no swap controller: nothing to lift (runc skips it too)
        if s is not None:
            out.append(Write("memory", "memory.swap.max", _max(s), f"{p}.swap"))
    if mem.reservation is not None:
        out.append(Write("memory", "memory.low", _max(mem.reservation), f"{p}.reservation"))
    for key, value, unset, why in (
            ("swappiness", mem.swappiness, -1, "no per-cgroup swappiness"),
            ("disableOOMKiller", mem.disable_oom_killer, False, "no way to disable the OOM killer"),
            ("kernel", mem.kernel, None, "no kernel memory limit"),
            ("kernelTCP", mem.kernel_tcp, None, "no kernel TCP memory limit")):
        if value not in (None, unset):
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
    if cpu.shares is not None:
        out.append(Write("cpu", "cpu.shares", cpu.shares, f"{p}.shares"))
    # period before quota: a quota is checked against the period in place
    if cpu.period is not None:
        out.append(Write("cpu", "cpu.cfs_period_us", cpu.period, f"{p}.period"))
    if cpu.quota is not None:
        out.append(Write("cpu", "cpu.cfs_quota_us", cpu.quota, f"{p}.quota"))
    if cpu.burst is not None:
        out.append(Write("cpu", "cpu.cfs_burst_us", cpu.burst, f"{p}.burst"))
    if cpu.realtime_period is not None:
        out.append(Write("cpu", "cpu.rt_period_us", cpu.realtime_period,
                         f"{p}.realtimePeriod"))
    if cpu.realtime_runtime is not None:
        out.append(Write("cpu", "cpu.rt_runtime_us", cpu.realtime_runtime,
                         f"{p}.realtimeRuntime"))
    if cpu.idle is not None:
        out.append(Write("cpu", "cpu.idle", cpu.idle, f"{p}.idle"))
    return out


def shares_to_weight(shares):
    """cpu.shares [2, 262144] -> cpu.weight [1, 10000], as runc and crun map it."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def _cpu_v2(cpu, warn):
    p = f"{BASE}.cpu"
    out = []
    if cpu.realtime_period or cpu.realtime_runtime:
        key = "realtimeRuntime" if cpu.realtime_runtime else "realtimePeriod"
        raise ConfigError("cgroup v2 has no realtime CPU bandwidth (cpu.rt_*)", f"{p}.{key}")
    if cpu.shares:
        w = shares_to_weight(cpu.shares)
        if not 1 <= w <= 10000:
            raise ConfigError(f"cpu shares {cpu.shares} are out of range", f"{p}.shares")
        out.append(Write("cpu", "cpu.weight", w, f"{p}.shares"))
    quota, period = cpu.quota or 0, cpu.period or 0
    if quota or period:
        value = str(quota) if quota > 0 else "max"
        if period:
            value += f" {period}"
        out.append(Write("cpu", "cpu.max", value, f"{p}.quota" if quota else f"{p}.period"))
    if cpu.burst is not None:
        out.append(Write("cpu", "cpu.max.burst", cpu.burst, f"{p}.burst"))
    if cpu.idle is not None:
        out.append(Write("cpu", "cpu.idle", cpu.idle, f"{p}.idle"))
    return out


# ---- block I/O --------------------------------------------------------------

def _dev(d):
    return f"{d.major}:{d.minor}"


# (the spec's key, the record's field, v1 file suffix, io.max key)
_THROTTLE = (("throttleReadBpsDevice", "throttle_read_bps_device", "read_bps_device", "rbps"),
             ("throttleWriteBpsDevice", "throttle_write_bps_device", "write_bps_device", "wbps"),
             ("throttleReadIOPSDevice", "throttle_read_iops_device", "read_iops_device", "riops"),
             ("throttleWriteIOPSDevice", "throttle_write_iops_device", "write_iops_device",
              "wiops"))


def _blkio_v1(b, warn):
    p = f"{BASE}.blockIO"
    out = []
    if b.weight is not None:
        out.append(Write("blkio", "blkio.weight", b.weight, f"{p}.weight"))
    if b.leaf_weight is not None:
        out.append(Write("blkio", "blkio.leaf_weight", b.leaf_weight, f"{p}.leafWeight"))
    for i, d in enumerate(b.weight_device or ()):
        if d.weight is not None:
            out.append(Write("blkio", "blkio.weight_device", f"{_dev(d)} {d.weight}",
                             f"{p}.weightDevice[{i}]"))
        if d.leaf_weight is not None:
            out.append(Write("blkio", "blkio.leaf_weight_device",
                             f"{_dev(d)} {d.leaf_weight}", f"{p}.weightDevice[{i}]"))
    for key, field, suffix, _ in _THROTTLE:
        for i, d in enumerate(getattr(b, field) or ()):
            out.append(Write("blkio", f"blkio.throttle.{suffix}", f"{_dev(d)} {d.rate}",
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
    if b.weight:
        out.append(Write("blkio", "io.weight", blkio_to_io_weight(b.weight), f"{p}.weight"))
    if b.leaf_weight is not None:
        warn(f"{p}.leafWeight: cgroup v2 has no leaf weight; ignored")
    for i, d in enumerate(b.weight_device or ()):
        if d.weight is not None:
            out.append(Write("blkio", "io.weight",
                             f"{_dev(d)} {blkio_to_io_weight(d.weight)}",
                             f"{p}.weightDevice[{i}]"))
    for key, field, _, name in _THROTTLE:
        for i, d in enumerate(getattr(b, field) or ()):
            rate = d.rate if d.rate else "max"
            out.append(Write("blkio", "io.max", f"{_dev(d)} {name}={rate}", f"{p}.{key}[{i}]"))
    return out


def _max(v):
    return "max" if v == -1 else v


def _int(s):
    try:
        return int(s)
    except (TypeError, ValueError):
        return MAX_INT64


# ---- applying ---------------------------------------------------------------

def controller_dir(cg, ctrl, where=BASE, enable=cgroups.enable_controller):
    """(directory, is_cgroup2) of a v1-named controller for the Cgroup cg.

    A v1 hierarchy that has it wins; otherwise cgroup2, if its root offers
    the controller (enable(): it is then enabled in cgroup.subtree_control
    down to this cgroup, as a cgroup2 manager must). Else a clear error."""
    d = cg.dir_of(ctrl)
    if d is not None and ctrl != UNIFIED:
        return d, False
    unified = cg.paths.get(UNIFIED)
    if unified is not None:
        v2name = V2_NAME.get(ctrl, ctrl)
        if v2name == "cgroup" or enable(unified, v2name, where):
            return unified, True
    # hierarchies come from the mount table: a plain directory such as
    # /sys/fs/cgroup/hugetlb (conmon leaves them on hybrid hosts) is none
    raise ConfigError(f"the {ctrl} controller is not mounted on this host (no cgroup v1 "
                      "hierarchy has it and cgroup2 does not offer it)", where)


def plan(cg, res, warn=None, update=False, locate=controller_dir):
    """({controller: (directory, is_cgroup2)}, [Write]) of the Resources
    record res for the Cgroup cg: what apply writes, where, in order, and
    the ConfigError of a setting this host cannot take. locate(cg, ctrl,
    where) finds a controller's directory (controller_dir, which enables a
    cgroup2 controller on the way); `ocirt validate` passes one that
    changes nothing, to predict what create meets here."""
    dirs = {}
    for ctrl in controllers(res):
        dirs[ctrl] = locate(cg, ctrl, _section_path(ctrl))

    def current(ctrl, name):
        if dirs[ctrl][0] is None:
            return ""  # validate found no cgroup to read it from: assume the file is there
        try:
            with open(posixos.path.join(dirs[ctrl][0], name)) as f:
                return f.read().strip()
        except OSError:
            return None

    if update and res.memory is not None and res.memory.check_before_update:
        _check_usage(res.memory.limit, dirs.get("memory"))
    todo = writes(res, lambda c: dirs[c][1], current, warn,
                  hugepage_sizes() if res.hugepage_limits else ())
    for w in unified_writes(res.unified):
        if w.controller not in dirs:
            d = locate(cg, w.controller, w.path)
            if not d[1]:
                raise ConfigError("unified needs cgroup v2 (this controller is on v1 "
                                  "here)", w.path)
            dirs[w.controller] = d
        todo.append(w)
    return dirs, todo


def no_file(w):
    """The error of a Write whose file the container's cgroup does not have."""
    return ConfigError(f"this kernel has no {w.file} for this cgroup", w.path)


def write_error(w, why):
    """The error of a Write the kernel refused (why: its strerror)."""
    return SetupError(f"cannot write {w.value!r} to {w.file}: {why}", w.path)


def rdma_devices(d):
    """The RDMA devices the cgroup <d> can limit: the first word of each
    line of its rdma.max (the kernel lists every device there); None when
    it cannot be read. A limit for another one is ENODEV."""
    try:
        with open(posixos.path.join(d, "rdma.max")) as f:
            return {line.split()[0] for line in f if line.strip()}
    except OSError:
        return None


def apply(cg, res, warn=None, update=False):
    """Apply the Resources record res (devices excepted) to the Cgroup cg.

    update: `ocirt update`: memory.checkBeforeUpdate is honoured, and a
    write that fails puts back the values of the files written before it."""
    dirs, todo = plan(cg, res, warn, update=update)

    def current(ctrl, name):
        try:
            with open(posixos.path.join(dirs[ctrl][0], name)) as f:
                return f.read().strip()
        except OSError:
            return None

    cpu = without_unset(res).cpu
    if cpu is not None and cpu.realtime_runtime and "cpu" in dirs and not dirs["cpu"][1] \
            and cg.default_parent:
        _fund_rt(dirs["cpu"][0], cpu.realtime_runtime, cpu.realtime_period)
    undo = []  # update: (file, its value before) of each file written so far
    try:
        for w in todo:
            target = posixos.path.join(dirs[w.controller][0], w.file)
            try:
                fd = posixos.open(target, posixos.O_WRONLY | posixos.O_CLOEXEC)
            except FileNotFoundError:
                raise no_file(w)
            except OSError as e:
                raise SetupError(f"cannot open {target}: {e.strerror}", w.path)
            try:
                if update:
                    undo.append((target, _value_to_restore(target, w.value)))
                posixos.write(fd, w.value.encode())
            except OSError as e:
                why = e.strerror
                if w.file == "cpu.rt_runtime_us" and e.errno == 22:  # EINVAL
                    why += _rt_budget(posixos.path.dirname(target))
                raise write_error(w, why)
            finally:
                posixos.close(fd)
            if w.file == "cpu.shares":
                # the kernel clamps silently; runc reports it
                got = current("cpu", "cpu.shares")
                if got is not None and got != w.value:
                    raise ConfigError(f"cpu shares {w.value} are out of range (the kernel "
                                      f"set {got})", w.path)
    except BaseException:
        # an update that fails halfway leaves the values as they were, as
        # runc does: the files written so far get their old values back,
        # in reverse order (which keeps pairs such as memory and
        # memory+swap valid at each step)
        for target, old in reversed(undo):
            try:
                if old is None:
                    raise OSError(0, "its old value cannot be written back")
                with open(target, "w") as f:
                    f.write(old)
            except OSError as e:
                (warn or (lambda m: None))(f"cannot restore {target}: {e.strerror}")
        raise


KEYED = ("io.max", "io.weight", "io.bfq.weight", "blkio.weight_device",
         "blkio.leaf_weight_device", "blkio.throttle.", "net_prio.ifpriomap", "rdma.max")


def _value_to_restore(target, new):
    """What to write to target to undo writing `new` to it, read before the
    write; None when that is not possible. A file of one value takes what it
    reads back; a file of keyed lines (a device, an interface) the old line
    of the key written, or that key's reset."""
    try:
        with open(target) as f:
            old = f.read().strip()
    except OSError:
        return None
    name = posixos.path.basename(target)
    if name == "memory.oom_control":  # reads "oom_kill_disable N\nunder_oom ..."
        return old.split()[1] if old.startswith("oom_kill_disable") else None
    if not name.startswith(KEYED):
        return None if "\n" in old else old
    key = new.split(" ", 1)[0]
    for line in old.splitlines():
        if line.split(" ", 1)[0] == key:
            return line
    if name.startswith(("blkio.throttle.", "blkio.weight_device", "blkio.leaf_weight")):
        return f"{key} 0"
    if name == "io.max":
        return f"{key} rbps=max wbps=max riops=max wiops=max"
    if name in ("io.weight", "io.bfq.weight"):
        return f"{key} default"
    return None


def _section_path(ctrl):
    section = {"memory": "memory", "cpu": "cpu", "cpuset": "cpu", "pids": "pids",
               "blkio": "blockIO", "hugetlb": "hugepageLimits", "net_cls": "network",
               "net_prio": "network", "rdma": "rdma"}.get(ctrl, ctrl)
    return f"{BASE}.{section}"


def _check_usage(limit, where):
    """checkBeforeUpdate: refuse a memory limit below what is in use."""
    if not limit or limit < 0 or where is None:
        return
    d, v2 = where
    name = "memory.current" if v2 else "memory.usage_in_bytes"
    try:
        with open(posixos.path.join(d, name)) as f:
            used = int(f.read())
    except (OSError, ValueError):
        return
    if used > limit:
        raise ConfigError(f"memory limit {limit} is below the current usage {used}",
                          f"{BASE}.memory.limit")


def hugepage_sizes():
    """Huge page sizes of this host, named as cgroup files name them ("2MB", "1GB")."""
    out = []
    try:
        names = posixos.listdir("/sys/kernel/mm/hugepages")
    except OSError:
        return out
    for n in sorted(names):
        kb = int(n[len("hugepages-"):-len("kB")])
        for unit in ("KB", "MB", "GB", "TB"):
            if kb < 1024 or kb % 1024:
                out.append(f"{kb}{unit}")
                break
            kb //= 1024
    return out


# ---- realtime budgets (v1 cpu, CONFIG_RT_GROUP_SCHED) -------------------------

def _rt_ratio(period, runtime):
    """A realtime budget as the kernel compares them (to_ratio, 20 fraction bits)."""
    if runtime < 0:
        return 1 << 20  # RUNTIME_INF
    return (runtime << 20) // period if period > 0 else 0


def _rt_read(d):
    """(rt_period_us, rt_runtime_us) of a v1 cpu cgroup."""
    with open(posixos.path.join(d, "cpu.rt_period_us")) as f:
        period = int(f.read())
    with open(posixos.path.join(d, "cpu.rt_runtime_us")) as f:
        return period, int(f.read())


def _rt_budget(cgroup):
    """Why the kernel refused cgroup a cpu.rt_runtime_us, for the error message."""
    parent = posixos.path.dirname(cgroup)
    try:
        period, runtime = _rt_read(parent)
    except (OSError, ValueError):
        return ""
    return (f" (the parent cgroup {parent} has a realtime budget of "
            f"{runtime} us per {period} us, which must hold the runtime/period of all its "
            "children)")


def _fund_rt(leaf, runtime, period):
    """Give the parents of leaf (below the hierarchy's root) the realtime
    budget that the container asks for, top down, before its own cpu.rt_*
    are written.

    The kernel (CONFIG_RT_GROUP_SCHED) lets a cgroup have runtime/period only
    within its parent's, with the sum of all children's within it too, and a
    new cgroup starts with none: a realtimeRuntime in /ocirt/<id> would
    always fail, where runc's default place (/<id>, under the root) works.
    So each parent is raised just to what its children, the container's new
    value included, need. Nothing is ever lowered; a parent is removed with
    the last container when ocirt made it. Only for ocirt's default parent:
    a cgroupsPath names parents that their owner budgets (docker gives its
    own parent the budget), and runc leaves those alone too."""
    try:
        leaf_period = period or _rt_read(leaf)[0]
    except (OSError, ValueError):
        return  # no cpu.rt_* here: the write reports it
    need, child = _rt_ratio(leaf_period, runtime), leaf
    plan = []
    d = posixos.path.dirname(leaf)
    while posixos.path.exists(posixos.path.join(posixos.path.dirname(d), "cpu.rt_runtime_us")):
        p_period, p_runtime = _rt_read(d)
        total = need
        for n in posixos.listdir(d):
            c = posixos.path.join(d, n)
            if c != child and posixos.path.isdir(c):
                try:
                    total += _rt_ratio(*_rt_read(c))
                except (OSError, ValueError):
                    pass
        if _rt_ratio(p_period, p_runtime) >= total:
            break
        new = -(-(total * p_period) >> 20)  # ceil: the kernel's ratio rounds down
        while _rt_ratio(p_period, new) < total:
            new += 1
        plan.append((d, new, p_period))
        need, child, d = _rt_ratio(p_period, new), d, posixos.path.dirname(d)
    for d, new, p_period in reversed(plan):
        try:
            with open(posixos.path.join(d, "cpu.rt_runtime_us"), "w") as f:
                f.write(str(new))
        except OSError as e:
            raise SetupError(f"cannot give the parent cgroup {d} the realtime budget of "
                             f"{new} us per {p_period} us that the container needs: "
                             f"{e.strerror}{_rt_budget(d)}",
                             f"{BASE}.cpu.realtimeRuntime")
