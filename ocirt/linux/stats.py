"""Resource usage of a cgroup, in the shape of runc's `events --stats` data.

Reads the usage files of each controller the cgroup has, on v1 or cgroup2,
and returns a dict that serialises to runc's JSON (libcontainer's
types.Stats): cpu, memory, pids, blkio, hugetlb. Missing files are skipped:
a controller that is not there reports nothing.
"""
from ocirt import posixos  # os without its import cost (see there)

USER_HZ = 100  # the unit of cpuacct.stat (sysconf(_SC_CLK_TCK) on Linux)


def oom_kills(paths):
    """How many processes the OOM killer has killed in the cgroup (paths:
    {hierarchy: directory}), from cgroup2's memory.events or v1's
    memory.oom_control; 0 where neither says."""
    for key, name in (("unified", "memory.events"), ("memory", "memory.oom_control")):
        d = paths.get(key)
        if d is None:
            continue
        try:
            with open(posixos.path.join(d, name)) as f:
                for line in f:
                    if line.startswith("oom_kill "):
                        return int(line.split()[1])
        except (OSError, ValueError):
            pass
    return 0


def collect(cg, hugepage_sizes=()):
    """cg: an ocirt.linux.cgroups.Cgroup. Returns the stats dict."""
    out = {"cpu": {}, "memory": {}, "pids": {}, "blkio": {}, "hugetlb": {}}
    v2 = cg.paths.get("unified") if len(cg.paths) == 1 else None
    if v2 is not None:
        _cpu_v2(v2, out["cpu"])
        if _read(v2, "cpuset.cpus.effective") is not None:
            out["cpuset"] = _cpuset(v2, "cpuset.cpus.effective", "cpuset.mems.effective")
        _memory_v2(v2, out["memory"])
        _pids(v2, out["pids"])
        _io_v2(v2, out["blkio"])
        _hugetlb(v2, hugepage_sizes, out["hugetlb"], v2=True)
        return out
    d = cg.dir_of
    if d("cpuset"):
        out["cpuset"] = _cpuset(d("cpuset"), "cpuset.cpus", "cpuset.mems")
    if d("cpuacct") or d("cpu"):
        _cpu_v1(d("cpuacct"), d("cpu"), out["cpu"])
    if d("memory"):
        _memory_v1(d("memory"), out["memory"])
    if d("pids"):
        _pids(d("pids"), out["pids"])
    if d("blkio"):
        _blkio_v1(d("blkio"), out["blkio"])
    hd, hv2 = (d("hugetlb"), False) if d("hugetlb") else (cg.paths.get("unified"), True)
    if hd:
        _hugetlb(hd, hugepage_sizes, out["hugetlb"], v2=hv2)
    return out


def _read(d, name):
    try:
        with open(posixos.path.join(d, name)) as f:
            return f.read()
    except OSError:
        return None


def _int(d, name):
    text = _read(d, name)
    if text is None:
        return None
    text = text.strip()
    if text == "max":
        return 0  # runc reports "no limit" as 0
    try:
        return int(text)
    except ValueError:
        return None


def _keyed(d, name):
    """A flat "key value" file (cpu.stat, memory.stat, memory.events) as a dict."""
    out = {}
    for line in (_read(d, name) or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def _put(obj, key, value):
    if value is not None:
        obj[key] = value


# ---- cpu ----------------------------------------------------------------------

def _cpu_v1(acct, cpu, out):
    usage = {}
    if acct:
        _put(usage, "total", _int(acct, "cpuacct.usage"))
        per = _read(acct, "cpuacct.usage_percpu")
        if per:
            usage["percpu"] = [int(x) for x in per.split()]
        rows = [line.split() for line in (_read(acct, "cpuacct.usage_all") or "").splitlines()[1:]]
        rows = [r for r in rows if len(r) == 3 and r[1].isdigit() and r[2].isdigit()]
        if rows:
            usage["percpu_kernel"] = [int(r[2]) for r in rows]
            usage["percpu_user"] = [int(r[1]) for r in rows]
        ticks = _keyed(acct, "cpuacct.stat")
        ns_per_tick = 1_000_000_000 // USER_HZ
        usage["kernel"] = ticks.get("system", 0) * ns_per_tick
        usage["user"] = ticks.get("user", 0) * ns_per_tick
    out["usage"] = usage
    if cpu:
        s = _keyed(cpu, "cpu.stat")
        out["throttling"] = {"periods": s.get("nr_periods", 0),
                             "throttledPeriods": s.get("nr_throttled", 0),
                             "throttledTime": s.get("throttled_time", 0)}


def _cpu_v2(d, out):
    s = _keyed(d, "cpu.stat")
    out["usage"] = {"total": s.get("usage_usec", 0) * 1000,
                    "kernel": s.get("system_usec", 0) * 1000,
                    "user": s.get("user_usec", 0) * 1000}
    if "nr_periods" in s:
        out["throttling"] = {"periods": s["nr_periods"],
                             "throttledPeriods": s.get("nr_throttled", 0),
                             "throttledTime": s.get("throttled_usec", 0) * 1000}


def _cpuset(d, cpus, mems):
    """runc's cpuset stats: the lists expanded, and v1's flag files."""
    out = {"cpus": _list(_read(d, cpus)), "mems": _list(_read(d, mems))}
    for key in ("cpu_exclusive", "mem_hardwall", "mem_exclusive", "memory_migrate",
                "memory_spread_page", "memory_spread_slab", "memory_pressure",
                "sched_load_balance", "sched_relax_domain_level"):
        v = _int(d, "cpuset." + key)
        if v is not None:
            out[key] = v
    return out


def _list(text):
    """"0-2,7" -> [0, 1, 2, 7]"""
    out = []
    for part in (text or "").strip().split(","):
        lo, _, hi = part.partition("-")
        if lo.isdigit() and (not hi or hi.isdigit()):
            out.extend(range(int(lo), int(hi or lo) + 1))
    return out


# ---- memory -------------------------------------------------------------------

def _entry(d, prefix):
    e = {"limit": _int(d, prefix + "limit_in_bytes") or 0,
         "failcnt": _int(d, prefix + "failcnt") or 0}
    _put(e, "usage", _int(d, prefix + "usage_in_bytes"))
    _put(e, "max", _int(d, prefix + "max_usage_in_bytes"))
    return e


def _memory_v1(d, out):
    raw = _keyed(d, "memory.stat")
    out["cache"] = raw.get("cache", 0)
    out["usage"] = _entry(d, "memory.")
    if _read(d, "memory.memsw.usage_in_bytes") is not None:
        out["swap"] = _entry(d, "memory.memsw.")
    if _read(d, "memory.kmem.usage_in_bytes") is not None:
        out["kernel"] = _entry(d, "memory.kmem.")
    if _read(d, "memory.kmem.tcp.usage_in_bytes") is not None:
        out["kernelTCP"] = _entry(d, "memory.kmem.tcp.")
    out["raw"] = raw


def _memory_v2(d, out):
    raw = _keyed(d, "memory.stat")
    events = _keyed(d, "memory.events")
    out["cache"] = raw.get("file", 0)
    usage = {"limit": _int(d, "memory.max") or 0, "failcnt": events.get("max", 0)}
    _put(usage, "usage", _int(d, "memory.current"))
    _put(usage, "max", _int(d, "memory.peak"))
    out["usage"] = usage
    if _read(d, "memory.swap.current") is not None:
        swap = {"limit": _int(d, "memory.swap.max") or 0,
                "failcnt": _keyed(d, "memory.swap.events").get("fail", 0)}
        _put(swap, "usage", _int(d, "memory.swap.current"))
        out["swap"] = swap
    out["raw"] = raw


# ---- pids, blkio, hugetlb ----------------------------------------------------------

def _pids(d, out):
    _put(out, "current", _int(d, "pids.current"))
    _put(out, "limit", _int(d, "pids.max"))


def _blkio_v1(d, out):
    for key, name in (("ioServiceBytesRecursive", "blkio.throttle.io_service_bytes_recursive"),
                      ("ioServicedRecursive", "blkio.throttle.io_serviced_recursive")):
        entries = []
        for line in (_read(d, name) or "").splitlines():
            parts = line.split()
            if len(parts) == 3 and ":" in parts[0]:
                major, minor = parts[0].split(":")
                entries.append({"major": int(major), "minor": int(minor), "op": parts[1],
                                "value": int(parts[2])})
        if entries:
            out[key] = entries


def _io_v2(d, out):
    nbytes, nios = [], []
    for line in (_read(d, "io.stat") or "").splitlines():
        parts = line.split()
        if not parts or ":" not in parts[0]:
            continue
        major, minor = (int(x) for x in parts[0].split(":"))
        kv = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        for entries, r, w in ((nbytes, "rbytes", "wbytes"), (nios, "rios", "wios")):
            for op, k in (("Read", r), ("Write", w)):
                if k in kv:
                    entries.append({"major": major, "minor": minor, "op": op,
                                    "value": int(kv[k])})
    if nbytes:
        out["ioServiceBytesRecursive"] = nbytes
    if nios:
        out["ioServicedRecursive"] = nios


def _hugetlb(d, sizes, out, v2):
    for size in sizes:
        if v2:
            usage = _int(d, f"hugetlb.{size}.current")
            if usage is None:
                continue
            out[size] = {"usage": usage,
                         "failcnt": _keyed(d, f"hugetlb.{size}.events").get("max", 0)}
        else:
            usage = _int(d, f"hugetlb.{size}.usage_in_bytes")
            if usage is None:
                continue
            out[size] = {"usage": usage, "max": _int(d, f"hugetlb.{size}.max_usage_in_bytes")
                         or 0, "failcnt": _int(d, f"hugetlb.{size}.failcnt") or 0}


# ---- runc's layout ---------------------------------------------------------------
# runc 1.1.5's types.Stats as Go's encoding/json writes it: fields in the
# struct's order; "?" marks omitempty (left out when zero or empty), "0" a
# number always written, a tuple a struct (always written), "map" a map
# (sorted keys; None when empty), "entries" a list of BlkioEntry.

_ENTRY = (("limit", "0"), ("usage", "?"), ("max", "?"), ("failcnt", "0"))
_BLKIO_ENTRY = (("major", "?"), ("minor", "?"), ("op", "?"), ("value", "?"))
_LAYOUT = (
    ("cpu", (("usage", (("total", "?"), ("percpu", "?"), ("percpu_kernel", "?"),
                        ("percpu_user", "?"), ("kernel", "0"), ("user", "0"))),
             ("throttling", (("periods", "?"), ("throttledPeriods", "?"),
                             ("throttledTime", "?"))))),
    ("cpuset", (("cpus", "?"), ("cpu_exclusive", "0"), ("mems", "?"), ("mem_hardwall", "0"),
                ("mem_exclusive", "0"), ("memory_migrate", "0"), ("memory_spread_page", "0"),
                ("memory_spread_slab", "0"), ("memory_pressure", "0"),
                ("sched_load_balance", "0"), ("sched_relax_domain_level", "0"))),
    ("memory", (("cache", "?"), ("usage", _ENTRY), ("swap", _ENTRY), ("kernel", _ENTRY),
                ("kernelTCP", _ENTRY), ("raw", "map?"))),
    ("pids", (("current", "?"), ("limit", "?"))),
    ("blkio", tuple((k, "entries") for k in (
        "ioServiceBytesRecursive", "ioServicedRecursive", "ioQueueRecursive",
        "ioServiceTimeRecursive", "ioWaitTimeRecursive", "ioMergedRecursive",
        "ioTimeRecursive", "sectorsRecursive"))),
    ("hugetlb", "hugetlb"),
    ("intel_rdt", ()),
    ("network_interfaces", "null"),
)


def runc_layout(stats, layout=_LAYOUT):
    """The stats dict of collect() in runc's order and with runc's omissions
    (`events` prints it as runc does)."""
    out = {}
    for key, kind in layout:
        v = stats.get(key)
        if isinstance(kind, tuple):
            out[key] = runc_layout(v or {}, kind)
        elif kind == "0":
            out[key] = v or 0
        elif kind == "?":
            if v:
                out[key] = v
        elif kind == "map?":
            if v:
                out[key] = dict(sorted(v.items()))
        elif kind == "entries":
            if v:
                out[key] = [runc_layout(e, _BLKIO_ENTRY) for e in v]
        elif kind == "hugetlb":
            out[key] = {size: runc_layout(e, (("usage", "?"), ("max", "?"), ("failcnt", "0")))
                        for size, e in sorted((v or {}).items())}
        else:  # "null": what ocirt does not collect (network_interfaces)
            out[key] = None
    return out
