"""config.json: load, validate, check and convert into frozen values.

The flow is: parse JSON -> validate against schemas/config-schema.json
(ocirt.jsonschema_lite) -> run the semantic checks in CHECKS (each names the
JSON path it rejects) -> build the immutable records the rest of ocirt uses.
Unknown properties are ignored, as the runtime-spec demands.
"""

from ocirt import posixos as os  # os without its import cost (see there)
from ocirt.errors import ConfigError

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas")

# OCI namespace type -> (clone flag, name under /proc/<pid>/ns)
NAMESPACES = {
    "pid": (0x20000000, "pid"),
    "network": (0x40000000, "net"),
    "mount": (0x00020000, "mnt"),
    "ipc": (0x08000000, "ipc"),
    "uts": (0x04000000, "uts"),
    "user": (0x10000000, "user"),
    "cgroup": (0x02000000, "cgroup"),
    "time": (0x00000080, "time"),
}

# The largest config.json read (README): generous (Kubernetes allows 256 KiB of
# annotations; runc sets no limit), but bounded: the file is read whole.
MAX_CONFIG = 16 << 20
# uids and gids: 0..2^31-1. (uid_t)-1 means "leave unchanged" to setresuid and
# setgroups' callers, so a uid of 4294967295 would leave the process root.
MAX_ID = 2**31 - 1
NGROUPS_MAX = 65536  # setgroups(2)
MAX_HOOK_TIMEOUT = 2**31 - 1  # seconds: 68 years

RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4, "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}



class _Value:
    """A small immutable record (dataclasses would cost ~10 ms of imports per create)."""

    __slots__ = ()
    _defaults = {}

    def __init__(self, *args, **kwargs):
        names = self.__slots__
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes {len(names)} fields")
        values = dict(zip(names, args))
        values.update(kwargs)
        for name in names:
            if name in values:
                v = values.pop(name)
            elif name in self._defaults:
                v = self._defaults[name]
            else:
                raise TypeError(f"{type(self).__name__}: missing {name}")
            object.__setattr__(self, name, v)
        if values:
            raise TypeError(f"{type(self).__name__}: unknown fields {sorted(values)}")

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _fields(self):
        return tuple(getattr(self, n) for n in self.__slots__ if n != "raw")

    def __eq__(self, other):
        return type(self) is type(other) and self._fields() == other._fields()

    def __hash__(self):
        return hash(self._fields())

    def __repr__(self):
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__ if n != "raw")
        return f"{type(self).__name__}({inner})"


class IDMap(_Value):
    __slots__ = ("container_id", "host_id", "size")


class Mount(_Value):
    __slots__ = ("destination", "type", "source", "options", "uid_mappings", "gid_mappings")
    _defaults = {"uid_mappings": (), "gid_mappings": ()}

    @property
    def idmapped(self):
        return "idmap" in self.options or "ridmap" in self.options


class Namespace(_Value):
    __slots__ = ("type", "path")

    @property
    def flag(self):
        return NAMESPACES[self.type][0]


class Rlimit(_Value):
    __slots__ = ("type", "resource", "soft", "hard")


class User(_Value):
    __slots__ = ("uid", "gid", "umask", "additional_gids")
    _defaults = {"uid": 0, "gid": 0, "umask": None, "additional_gids": ()}


class Capabilities(_Value):
    __slots__ = ("bounding", "effective", "inheritable", "permitted", "ambient")
    _defaults = dict.fromkeys(__slots__)


class Process(_Value):
    __slots__ = ("args", "env", "cwd", "user", "terminal", "rlimits", "no_new_privileges",
                 "capabilities", "oom_score_adj")
    _defaults = {"terminal": False, "rlimits": (), "no_new_privileges": False,
                 "capabilities": None, "oom_score_adj": None}


class Device(_Value):
    __slots__ = ("type", "path", "major", "minor", "file_mode", "uid", "gid")


class Hook(_Value):
    __slots__ = ("path", "args", "env", "timeout")


class Config(_Value):
    """A checked config.json. root_path is the rootfs's absolute host path;
    hooks maps a hook point (ocirt.hooks.POINTS) to its Hooks, in order."""

    __slots__ = ("oci_version", "root_path", "root_readonly", "process", "hostname",
                 "domainname", "mounts", "namespaces", "uid_mappings", "gid_mappings",
                 "rootfs_propagation", "cgroups_path", "devices", "masked_paths",
                 "readonly_paths", "sysctl", "annotations", "hooks", "resources", "raw")

    def namespace(self, ns_type):
        for ns in self.namespaces:
            if ns.type == ns_type:
                return ns
        return None


_validator = None


def _schema_validator():
    global _validator
    if _validator is None:
        from ocirt import jsonio
        from ocirt.jsonschema_lite import Validator
        with open(os.path.join(SCHEMA_DIR, "config-schema.json"), "rb") as f:
            _validator = Validator(jsonio.loads(f.read()))
    return _validator


def load(bundle):
    """Read <bundle>/config.json and return a checked Config."""
    path = os.path.join(bundle, "config.json")
    try:
        data = os.read_regular(path, MAX_CONFIG)  # a regular file: not /dev/zero, nor a fifo
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (is {bundle} an OCI bundle?)")
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}")
    from ocirt import jsonio
    try:
        doc = jsonio.loads(data)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise ConfigError(f"{path}: invalid JSON: {e}")
    # A NUL or a lone surrogate can only come from a \u escape: valid UTF-8
    # holds no surrogate, and a raw control character is invalid JSON.
    return parse(doc, bundle, source=path, escapes=b"\\u" in data)


def parse(doc, bundle, source="config.json", escapes=True):
    """Validate a decoded config document and convert it. escapes=False: the
    text had no \\u escape, so no string can hold a NUL or a lone surrogate."""
    from ocirt.jsonschema_lite import Invalid, check_text
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: $: expected object")
    try:
        if escapes:
            check_text(doc)
        _schema_validator().validate(doc)
    except Invalid as e:
        raise ConfigError(f"{source}: {e.path}: {e.msg}")
    for check in CHECKS:
        problem = check(doc)
        if problem:
            where, msg = problem
            raise ConfigError(f"{source}: {where}: {msg}")
    return _convert(doc, bundle)


def check_resources(res, source="resources"):
    """Schema-check a linux.resources object on its own (for `update`)."""
    from ocirt.jsonschema_lite import Invalid, check_text
    try:
        check_text(res, "$.linux.resources")
        _schema_validator().validate({"ociVersion": "1.3.0", "root": {"path": "rootfs"},
                                      "linux": {"resources": res}})
    except Invalid as e:
        raise ConfigError(f"{source}: {e.path}: {e.msg}")


# ---- semantic checks: each returns None or (json_path, message) ----------

def _check_version(doc):
    from ocirt.jsonschema_lite import oci_version_matches
    v = doc.get("ociVersion")
    if not isinstance(v, str) or v.endswith("\n") or not oci_version_matches(v):
        return "$.ociVersion", f"unsupported version {v!r} (ocirt supports 1.0.0 to 1.3.x)"


def _linux(doc):
    return doc.get("linux") or {}


def _check_namespaces(doc):
    seen = set()
    for i, ns in enumerate(_linux(doc).get("namespaces") or ()):
        t = ns.get("type")
        if t not in NAMESPACES:
            return f"$.linux.namespaces[{i}].type", f"unknown namespace type {t!r}"
        if t in seen:
            return f"$.linux.namespaces[{i}].type", f"namespace {t!r} listed twice"
        seen.add(t)
        p = ns.get("path")
        if p is not None and not os.path.isabs(p):
            return f"$.linux.namespaces[{i}].path", "must be an absolute path"


def _ns_types(doc):
    return {ns.get("type") for ns in _linux(doc).get("namespaces") or ()}


HOST_NAME_MAX = 64  # bytes, for the hostname and the domainname alike


def _check_uts(doc):
    if "uts" not in _ns_types(doc):
        if doc.get("hostname"):
            return "$.hostname", "setting the hostname needs a private UTS namespace"
        if doc.get("domainname"):
            return "$.domainname", "setting the domainname needs a private UTS namespace"
    for key in ("hostname", "domainname"):
        n = len(doc.get(key, "").encode())
        if n > HOST_NAME_MAX:
            return f"$.{key}", f"{n} bytes long: the kernel takes at most {HOST_NAME_MAX}"


def _check_userns(doc):
    linux = _linux(doc)
    user_ns = [ns for ns in linux.get("namespaces") or () if ns.get("type") == "user"]
    has_maps = bool(linux.get("uidMappings") or linux.get("gidMappings"))
    if user_ns and user_ns[0].get("path") is None and not (
            linux.get("uidMappings") and linux.get("gidMappings")):
        return "$.linux.uidMappings", "a new user namespace needs uidMappings and gidMappings"
    if has_maps and not user_ns:
        return "$.linux.uidMappings", "mappings given without a user namespace"
    if has_maps and user_ns and user_ns[0].get("path") is not None:
        return "$.linux.uidMappings", "mappings cannot be set on a joined user namespace"


def _check_process(doc):
    proc = doc.get("process")
    if proc is None:
        return None
    if not proc.get("args"):
        return "$.process.args", "must name the program to run"
    cwd = proc.get("cwd", "")
    if not cwd.startswith("/"):
        return "$.process.cwd", f"{cwd!r} is not an absolute path"
    seen = set()
    for i, rl in enumerate(proc.get("rlimits") or ()):
        t = rl.get("type")
        if t not in RLIMITS:
            return f"$.process.rlimits[{i}].type", f"unknown rlimit {t!r}"
        if t in seen:
            return f"$.process.rlimits[{i}].type", f"duplicate rlimit {t!r}"
        seen.add(t)
        if rl["soft"] > rl["hard"]:
            return f"$.process.rlimits[{i}]", f"soft limit of {t} is above its hard limit"
    for i, e in enumerate(proc.get("env") or ()):
        if "=" not in e or e.startswith("="):
            return f"$.process.env[{i}]", f"{e!r} is not of the form KEY=value"


def _check_mounts(doc):
    for i, m in enumerate(doc.get("mounts") or ()):
        dest = m.get("destination", "")
        if not dest:
            return f"$.mounts[{i}].destination", "must not be empty"
        if ".." in dest.split("/"):
            return f"$.mounts[{i}].destination", f"{dest!r} must not contain '..'"
        if is_bind(m):
            if not m.get("source"):
                return f"$.mounts[{i}].source", "a bind mount needs a source"


def _id_problem(value):
    if not 0 <= value <= MAX_ID:
        return f"{value} is out of range: uids and gids must be in 0..{MAX_ID}"


def _maps_problem(where, maps):
    """containerID and hostID are ids (0..2^31-1); a range may not reach
    (uid_t)-1 (the kernel's own identity map, size 4294967295, stays valid)."""
    for i, m in enumerate(maps or ()):
        for key in ("containerID", "hostID"):
            problem = _id_problem(m.get(key, 0))
            if problem:
                return f"{where}[{i}].{key}", problem
        size = m.get("size", 0)
        if not 1 <= size <= 2**32 - 1 - max(m.get("containerID", 0), m.get("hostID", 0)):
            return f"{where}[{i}].size", (f"{size} is out of range: a mapping holds at least "
                                          "one id and ends before 4294967295")


def _check_ids(doc):
    user = (doc.get("process") or {}).get("user") or {}
    for key in ("uid", "gid"):
        problem = _id_problem(user.get(key, 0))
        if problem:
            return f"$.process.user.{key}", problem
    gids = user.get("additionalGids") or ()
    if len(gids) > NGROUPS_MAX:
        return "$.process.user.additionalGids", (f"{len(gids)} groups: the kernel takes at "
                                                 f"most {NGROUPS_MAX}")
    for i, gid in enumerate(gids):
        problem = _id_problem(gid)
        if problem:
            return f"$.process.user.additionalGids[{i}]", problem
    linux = _linux(doc)
    maps = [(f"$.linux.{k}", linux.get(k)) for k in ("uidMappings", "gidMappings")]
    for i, m in enumerate(doc.get("mounts") or ()):
        maps += [(f"$.mounts[{i}].{k}", m.get(k)) for k in ("uidMappings", "gidMappings")]
    for where, items in maps:
        problem = _maps_problem(where, items)
        if problem:
            return problem


def _check_idmap(doc):
    linux = _linux(doc)
    for i, m in enumerate(doc.get("mounts") or ()):
        opts = m.get("options") or ()
        idmap = "idmap" in opts or "ridmap" in opts
        has_maps = bool(m.get("uidMappings") or m.get("gidMappings"))
        if has_maps and not idmap:
            return f"$.mounts[{i}].uidMappings", "mappings need the idmap or ridmap option"
        if bool(m.get("uidMappings")) != bool(m.get("gidMappings")):
            return f"$.mounts[{i}].uidMappings", "give both uidMappings and gidMappings"
        if idmap and m.get("type") != "bind" and not ({"bind", "rbind"} & set(opts)):
            return f"$.mounts[{i}].options", "idmap applies to bind mounts only"
        if idmap and not has_maps and not linux.get("uidMappings"):
            return f"$.mounts[{i}].options", ("idmap without mappings needs the container's "
                                              "user namespace mappings")


def _check_paths(doc):
    linux = _linux(doc)
    for key in ("maskedPaths", "readonlyPaths"):
        for i, p in enumerate(linux.get(key) or ()):
            if not p.startswith("/"):
                return f"$.linux.{key}[{i}]", f"{p!r} is not an absolute path"
    prop = linux.get("rootfsPropagation")
    if prop is not None and prop not in ("private", "rprivate", "shared", "rshared",
                                         "slave", "rslave", "unbindable", "runbindable"):
        return "$.linux.rootfsPropagation", f"unknown propagation {prop!r}"


# sysctls that belong to a namespace (runc's list): prefix or exact name -> namespace
_IPC_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")


def _sysctl_namespace(key):
    if key.startswith("net."):
        return "network"
    if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
        return "ipc"
    if key in ("kernel.hostname", "kernel.domainname"):
        return "uts"
    return None


def _check_sysctl(doc):
    linux = _linux(doc)
    have = {ns.get("type"): ns for ns in linux.get("namespaces") or ()}
    for key in linux.get("sysctl") or {}:
        where = f"$.linux.sysctl[{key!r}]"
        # dot-separated words: the name becomes a path under /proc/sys ("."
        # -> "/"), where a "/" or an empty part names nothing but makes the
        # init fail late, with ENOENT
        if "/" in key or "" in key.split("."):
            return where, f"{key!r} is not a sysctl name (dot-separated, no '/')"
        ns = _sysctl_namespace(key)
        if ns is None:
            return where, f"{key} is not namespaced: a container may not set it"
        if ns not in have:
            return where, f"{key} needs a private {ns} namespace"
        if ns == "network" and have[ns].get("path") is not None:
            continue  # a joined network namespace: allowed, as runc does


def _check_time_offsets(doc):
    linux = _linux(doc)
    if linux.get("timeOffsets"):
        ns = [n for n in linux.get("namespaces") or () if n.get("type") == "time"]
        if not ns or ns[0].get("path") is not None:
            return "$.linux.timeOffsets", "needs a new time namespace"


# the hook points of runtime-spec v1.3.0 (ocirt.hooks.POINTS; that module is
# not imported here); any other member of "hooks" is an unknown property
HOOK_POINTS = ("prestart", "createRuntime", "createContainer", "startContainer",
               "poststart", "poststop")


def _hooks(doc):
    """(point, list of hooks) for the known points that have a list."""
    hooks = doc.get("hooks") or {}
    return [(p, hooks[p]) for p in HOOK_POINTS if hooks.get(p)]


def _check_hooks(doc):
    for point, items in _hooks(doc):
        for i, h in enumerate(items):
            if not isinstance(h, dict):
                continue
            if not str(h.get("path", "")).startswith("/"):
                return f"$.hooks.{point}[{i}].path", "must be an absolute path"
            t = h.get("timeout")
            if t is not None and t <= 0:
                return f"$.hooks.{point}[{i}].timeout", "must be greater than zero"
            if t is not None and t > MAX_HOOK_TIMEOUT:
                # beyond what a timer takes (select: about 2^63 ns)
                return f"$.hooks.{point}[{i}].timeout", (f"{t} is more than "
                                                         f"{MAX_HOOK_TIMEOUT} seconds")
            for j, e in enumerate(h.get("env") or ()):
                if "=" not in e or e.startswith("="):
                    return f"$.hooks.{point}[{i}].env[{j}]", f"{e!r} is not KEY=value"


CHECKS = (_check_version, _check_namespaces, _check_uts, _check_userns, _check_process,
          _check_ids, _check_mounts, _check_idmap, _check_paths, _check_sysctl,
          _check_time_offsets, _check_hooks)


# ---- conversion ---------------------------------------------------------

def parse_hooks(doc):
    """{point: (Hook, ...)} for the points that have hooks."""
    out = {}
    for point, items in _hooks(doc):
        # env None (no "env" key) is not env []: the first runs with the
        # runtime's environment, the second with none (runc's exec.Cmd.Env)
        out[point] = tuple(Hook(h["path"], tuple(h.get("args") or ()),
                                None if h.get("env") is None else tuple(h["env"]),
                                h.get("timeout")) for h in items)
    return out


def _int(v):
    """JSON Schema counts 1.0 as an integer; the kernel interfaces want ints."""
    return None if v is None else int(v)


def _maps(items):
    return tuple(IDMap(int(m["containerID"]), int(m["hostID"]), int(m["size"]))
                 for m in items or ())


def is_bind(m):
    """The spec: "a mount is a bind mount if it has either bind or rbind in the
    options" (and runc takes type "bind" as one too)."""
    return m.get("type") == "bind" or any(o in ("bind", "rbind") for o in m.get("options") or ())


def _mount_source(m, bundle):
    """The spec: "path values for bind mounts are either absolute or relative
    to the bundle" (not to the caller's working directory)."""
    src = m.get("source")
    if src and is_bind(m) and not os.path.isabs(src):
        return os.path.join(os.path.abspath(bundle), src)
    return src


def _caps(c):
    if c is None:
        return None
    return Capabilities(**{k: tuple(c[k]) if c.get(k) is not None else None
                           for k in ("bounding", "effective", "inheritable", "permitted", "ambient")})


def _convert(doc, bundle):
    linux = _linux(doc)
    root = doc.get("root") or {}
    root_path = root.get("path", "rootfs")
    if not os.path.isabs(root_path):
        root_path = os.path.join(os.path.abspath(bundle), root_path)
    proc = doc.get("process")
    process = None
    if proc is not None:
        u = proc.get("user") or {}
        process = Process(
            args=tuple(proc["args"]),
            env=tuple(proc.get("env") or ()),
            cwd=proc["cwd"],
            user=User(uid=int(u.get("uid", 0)), gid=int(u.get("gid", 0)),
                      umask=_int(u.get("umask")),
                      additional_gids=tuple(int(g) for g in u.get("additionalGids") or ())),
            terminal=bool(proc.get("terminal", False)),
            rlimits=tuple(Rlimit(r["type"], RLIMITS[r["type"]], int(r["soft"]), int(r["hard"]))
                          for r in proc.get("rlimits") or ()),
            no_new_privileges=bool(proc.get("noNewPrivileges", False)),
            capabilities=_caps(proc.get("capabilities")),
            oom_score_adj=_int(proc.get("oomScoreAdj")),
        )
    devices = tuple(
        Device(d["type"], d["path"], int(d.get("major", 0)), int(d.get("minor", 0)),
               _int(d.get("fileMode")), _int(d.get("uid")), _int(d.get("gid")))
        for d in linux.get("devices") or ())
    return Config(
        oci_version=doc["ociVersion"],
        root_path=os.path.normpath(root_path),
        root_readonly=bool(root.get("readonly", False)),
        process=process,
        hostname=doc.get("hostname"),
        domainname=doc.get("domainname"),
        mounts=tuple(Mount(m["destination"], m.get("type"), _mount_source(m, bundle),
                           tuple(m.get("options") or ()), _maps(m.get("uidMappings")),
                           _maps(m.get("gidMappings"))) for m in doc.get("mounts") or ()),
        namespaces=tuple(Namespace(ns["type"], ns.get("path"))
                         for ns in linux.get("namespaces") or ()),
        uid_mappings=_maps(linux.get("uidMappings")),
        gid_mappings=_maps(linux.get("gidMappings")),
        rootfs_propagation=linux.get("rootfsPropagation"),
        cgroups_path=linux.get("cgroupsPath"),
        devices=devices,
        masked_paths=tuple(linux.get("maskedPaths") or ()),
        readonly_paths=tuple(linux.get("readonlyPaths") or ()),
        sysctl=tuple(sorted((linux.get("sysctl") or {}).items())),
        annotations=tuple(sorted((doc.get("annotations") or {}).items())),
        hooks=parse_hooks(doc),
        resources=parse_resources(linux.get("resources")),
        raw=doc,
    )


# ---- linux.resources ------------------------------------------------------
#
# The records of runtime-spec v1.3.0's linux.resources (config-linux.md),
# built from a schema-checked object by parse_resources, for the cgroup
# mechanisms (ocirt.linux.resources, devrules, systemd). A value is what the
# JSON holds (an int stays as given: a 0 that means "not set" is the
# mechanism's to skip, ocirt.linux.resources.without_unset); None is absent.
# Each record's _json names the spec's key of each field, in the same order.

class _Spec(_Value):
    __slots__ = ()
    _json = ()

    def __init_subclass__(cls):
        cls._defaults = dict.fromkeys(cls.__slots__)  # every field is optional

    @classmethod
    def parse(cls, obj):
        """The record of one JSON object (None for None)."""
        if obj is None:
            return None
        return cls(*(obj.get(k) for k in cls._json))

    def replace(self, **changes):
        """A copy with some fields changed (records are immutable)."""
        values = {n: getattr(self, n) for n in self.__slots__}
        values.update(changes)
        return type(self)(**values)


class DeviceRule(_Spec):
    """One of linux.resources.devices: the cgroup's device access rules."""
    __slots__ = _json = ("allow", "type", "major", "minor", "access")


class Memory(_Spec):
    __slots__ = ("limit", "reservation", "swap", "kernel", "kernel_tcp", "swappiness",
                 "disable_oom_killer", "use_hierarchy", "check_before_update")
    _json = ("limit", "reservation", "swap", "kernel", "kernelTCP", "swappiness",
             "disableOOMKiller", "useHierarchy", "checkBeforeUpdate")


class CPU(_Spec):
    __slots__ = ("shares", "quota", "burst", "period", "realtime_runtime", "realtime_period",
                 "cpus", "mems", "idle")
    _json = ("shares", "quota", "burst", "period", "realtimeRuntime", "realtimePeriod",
             "cpus", "mems", "idle")


class Pids(_Spec):
    __slots__ = _json = ("limit",)


class WeightDevice(_Spec):
    __slots__ = ("major", "minor", "weight", "leaf_weight")
    _json = ("major", "minor", "weight", "leafWeight")


class ThrottleDevice(_Spec):
    __slots__ = _json = ("major", "minor", "rate")


class BlockIO(_Spec):
    """throttle_*: (ThrottleDevice, ...), or None when absent."""
    __slots__ = ("weight", "leaf_weight", "weight_device", "throttle_read_bps_device",
                 "throttle_write_bps_device", "throttle_read_iops_device",
                 "throttle_write_iops_device")
    _json = ("weight", "leafWeight", "weightDevice", "throttleReadBpsDevice",
             "throttleWriteBpsDevice", "throttleReadIOPSDevice", "throttleWriteIOPSDevice")

    @classmethod
    def parse(cls, obj):
        if obj is None:
            return None
        return cls(obj.get("weight"), obj.get("leafWeight"),
                   _records(WeightDevice, obj.get("weightDevice")),
                   *(_records(ThrottleDevice, obj.get(k)) for k in cls._json[3:]))


class HugepageLimit(_Spec):
    __slots__ = ("page_size", "limit")
    _json = ("pageSize", "limit")


class InterfacePriority(_Spec):
    __slots__ = _json = ("name", "priority")


class Network(_Spec):
    __slots__ = ("class_id", "priorities")
    _json = ("classID", "priorities")

    @classmethod
    def parse(cls, obj):
        if obj is None:
            return None
        return cls(obj.get("classID"), _records(InterfacePriority, obj.get("priorities")))


class Rdma(_Spec):
    """The limits of one RDMA device (Resources.rdma maps its name to one)."""
    __slots__ = ("hca_handles", "hca_objects")
    _json = ("hcaHandles", "hcaObjects")


class Resources(_Spec):
    """linux.resources. devices, hugepage_limits: tuples (None when absent);
    rdma: ((device name, Rdma), ...); unified: ((file, value), ...), each in
    the order of the JSON."""
    __slots__ = ("devices", "memory", "cpu", "pids", "block_io", "hugepage_limits", "network",
                 "rdma", "unified")
    _json = ("devices", "memory", "cpu", "pids", "blockIO", "hugepageLimits", "network",
             "rdma", "unified")


def _records(cls, items):
    return None if items is None else tuple(cls.parse(x) for x in items)


def parse_resources(res):
    """The Resources record of a schema-checked linux.resources object (None
    for None): for config.json, and for `update`'s -r file and flags."""
    if res is None:
        return None
    rdma, unified = res.get("rdma"), res.get("unified")
    return Resources(
        devices=_records(DeviceRule, res.get("devices")),
        memory=Memory.parse(res.get("memory")),
        cpu=CPU.parse(res.get("cpu")),
        pids=Pids.parse(res.get("pids")),
        block_io=BlockIO.parse(res.get("blockIO")),
        hugepage_limits=_records(HugepageLimit, res.get("hugepageLimits")),
        network=Network.parse(res.get("network")),
        rdma=None if rdma is None else tuple((k, Rdma.parse(v)) for k, v in rdma.items()),
        unified=None if unified is None else tuple(unified.items()),
    )
