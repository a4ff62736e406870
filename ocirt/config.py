"""config.json: load, validate, check and convert into frozen values.

The flow is: parse JSON -> validate against schemas/config-schema.json
(ocirt.jsonschema_lite) -> run the semantic checks in CHECKS (each names the
JSON path it rejects) -> build the immutable records the rest of ocirt uses.
Unknown properties are ignored, as the runtime-spec demands.

Every check that needs no host state runs here, before anything is created
or forked: findings() lists all the problems of a document, parse() raises
the first. The mechanisms (ocirt.linux.*) take the records, not the JSON
(as runc's specconv turns the spec into configs.Config); only what depends
on the host (an LSM enabled, a NUMA node online, a syscall this kernel
knows, a capability the runtime holds) is told later, at create or exec.
"""

import ocirt
from ocirt import SPEC_VERSION
from ocirt import posixos  # os without its import cost (see there)
from ocirt.errors import ConfigError

SCHEMA_DIR = posixos.path.join(posixos.path.dirname(posixos.path.abspath(__file__)), "schemas")

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

    def replace(self, **changes):
        """A copy with <changes> (records are immutable: this is how one is edited)."""
        values = {n: getattr(self, n) for n in self.__slots__}
        values.update(changes)
        return type(self)(**values)

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


class ConsoleSize(_Value):
    __slots__ = ("height", "width")


class ExecCPUAffinity(_Value):
    """CPU lists as the spec gives them ("0-2,5"): ocirt.linux.sched reads them."""
    __slots__ = ("initial", "final")
    _defaults = {"initial": None, "final": None}


class Scheduler(_Value):
    """process.scheduler; flags are SCHED_FLAG_* names (ocirt.linux.sched)."""
    __slots__ = ("policy", "nice", "priority", "flags", "runtime", "deadline", "period")
    _defaults = {"nice": 0, "priority": 0, "flags": (), "runtime": 0, "deadline": 0,
                 "period": 0}


class IOPriority(_Value):
    __slots__ = ("io_class", "priority")  # "class" in the spec


class Process(_Value):
    __slots__ = ("args", "env", "cwd", "user", "terminal", "rlimits", "no_new_privileges",
                 "capabilities", "oom_score_adj", "console_size", "exec_cpu_affinity",
                 "scheduler", "io_priority", "apparmor_profile", "selinux_label")
    _defaults = {"terminal": False, "rlimits": (), "no_new_privileges": False,
                 "capabilities": None, "oom_score_adj": None, "console_size": None,
                 "exec_cpu_affinity": None, "scheduler": None, "io_priority": None,
                 "apparmor_profile": None, "selinux_label": None}


class Device(_Value):
    __slots__ = ("type", "path", "major", "minor", "file_mode", "uid", "gid")


class Hook(_Value):
    __slots__ = ("path", "args", "env", "timeout")


class Hooks(_Value):
    """A config's hooks: points is a tuple of (point, (Hook, ...)) in the
    order of HOOK_POINTS, for the points that have hooks. Read as a mapping
    of point to hooks (`point in hooks`, hooks[point], hooks.get(point, ()),
    iteration over the points), yet immutable and hashable."""

    __slots__ = ("points",)
    _defaults = {"points": ()}

    def get(self, point, default=()):
        for p, hooks in self.points:
            if p == point:
                return hooks
        return default

    def __getitem__(self, point):
        hooks = self.get(point, None)
        if hooks is None:
            raise KeyError(point)
        return hooks

    def __contains__(self, point):
        return self.get(point, None) is not None

    def __iter__(self):
        return iter([p for p, _ in self.points])

    def __len__(self):
        return len(self.points)


class Personality(_Value):
    __slots__ = ("domain", "flags")
    _defaults = {"flags": ()}


class TimeOffset(_Value):
    """One clock of linux.timeOffsets ("monotonic" or "boottime")."""
    __slots__ = ("clock", "secs", "nanosecs")


class MemoryPolicy(_Value):
    """linux.memoryPolicy; nodes is the spec's node list text ("0-3,7"), which
    ocirt.linux.mempolicy parses (and checks against the host's nodes)."""
    __slots__ = ("mode", "nodes", "flags")
    _defaults = {"nodes": "", "flags": ()}


class SyscallArg(_Value):
    __slots__ = ("index", "value", "value_two", "op")
    _defaults = {"value_two": 0}


class Syscall(_Value):
    """A rule of linux.seccomp.syscalls: action for every name (args: its conditions)."""
    __slots__ = ("names", "action", "errno_ret", "args")
    _defaults = {"errno_ret": None, "args": ()}


class Seccomp(_Value):
    """linux.seccomp, which ocirt.linux.seccomp.build turns into a filter."""
    __slots__ = ("default_action", "default_errno_ret", "architectures", "flags",
                 "listener_path", "listener_metadata", "syscalls")
    _defaults = {"default_errno_ret": None, "architectures": (), "flags": (),
                 "listener_path": None, "listener_metadata": None, "syscalls": ()}

    @property
    def notify(self):
        """It has SCMP_ACT_NOTIFY (its listener fd goes to listener_path)."""
        return self.default_action == "SCMP_ACT_NOTIFY" or any(
            r.action == "SCMP_ACT_NOTIFY" for r in self.syscalls)


class Config(_Value):
    """A checked config.json. root_path is the rootfs's absolute host path;
    hooks (a Hooks) maps a hook point (ocirt.hooks.POINTS) to its Hooks, in
    order; seccomp, personality, memory_policy are None when not given.

    raw is the document as checked, outside equality and hashing: for
    to_json() (create keeps a copy of the config) and, until
    linux.resources has a record, for that section."""

    __slots__ = ("oci_version", "root_path", "root_readonly", "process", "hostname",
                 "domainname", "mounts", "namespaces", "uid_mappings", "gid_mappings",
                 "rootfs_propagation", "cgroups_path", "devices", "masked_paths",
                 "readonly_paths", "sysctl", "annotations", "hooks",
                 "seccomp", "personality", "time_offsets", "mount_label", "memory_policy",
                 "resources", "raw")

    @classmethod
    def load(cls, bundle):
        """The checked config of <bundle>/config.json (ConfigError otherwise)."""
        return load(bundle)

    @classmethod
    def from_dict(cls, doc, bundle="."):
        """A checked Config from a decoded config document; relative paths
        (root.path, bind sources) are of <bundle>. ConfigError names the
        first problem; its findings has every error."""
        import copy
        return parse(copy.deepcopy(doc), bundle, source="config")

    @staticmethod
    def template(args=None, rootless=False, hardened=False):
        """The document `ocirt spec` writes (a dict to edit, then from_dict),
        with process.args <args> (and no terminal) when given."""
        from ocirt import defaults
        doc = defaults.spec(rootless, hardened)
        if args is not None:
            doc["process"]["args"] = list(args)
            doc["process"]["terminal"] = False
        return doc

    def document(self):
        """The document as checked: a copy, to edit and check again (from_dict)."""
        import copy
        if self.raw is None:
            raise ValueError("an edited Config (replace()) has no document")
        return copy.deepcopy(self.raw)

    def to_json(self):
        """The document as checked, as JSON bytes."""
        from ocirt import jsonio
        if self.raw is None:
            raise ValueError("an edited Config (replace()) has no document: edit "
                             "document() and check it with Config.from_dict")
        return jsonio.dumps(self.raw).encode()

    def write(self, bundle):
        """<bundle>/config.json, a new file (FileExistsError if there is one)."""
        fd = posixos.open(posixos.path.join(bundle, "config.json"),
                          posixos.O_WRONLY | posixos.O_CREAT | posixos.O_EXCL
                          | posixos.O_NOFOLLOW | posixos.O_CLOEXEC, 0o644)
        try:
            posixos.write_all(fd, self.to_json())
        finally:
            posixos.close(fd)

    def replace(self, **changes):
        """A copy with <changes>; its document is gone (to_json raises): the
        records and the document would say different things."""
        return super().replace(**dict(changes, raw=None))

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
        with open(posixos.path.join(SCHEMA_DIR, "config-schema.json"), "rb") as f:
            _validator = Validator(jsonio.loads(f.read()))
    return _validator


def load(bundle):
    """Read <bundle>/config.json and return a checked Config."""
    ocirt.TRACE and ocirt.TRACE.begin("parse")
    path, doc, escapes = read_document(bundle)
    ocirt.TRACE and ocirt.TRACE.next("validate")
    cfg = parse(doc, bundle, source=path, escapes=escapes)
    ocirt.TRACE and ocirt.TRACE.end("validate")
    return cfg


def read_document(bundle):
    """(path, decoded document, whether its text has a \\u escape) of
    <bundle>/config.json; ConfigError when it cannot be read or decoded.
    (A NUL or a lone surrogate can only come from a \\u escape: valid UTF-8
    holds no surrogate, and a raw control character is invalid JSON.)"""
    path = posixos.path.join(bundle, "config.json")
    try:
        data = posixos.read_regular(path, MAX_CONFIG)  # a regular file: not /dev/zero, nor a fifo
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (is {bundle} an OCI bundle?)")
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}")
    from ocirt import jsonio
    try:
        doc = jsonio.loads(data)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise ConfigError(f"{path}: invalid JSON: {e}")
    return path, doc, b"\\u" in data


def parse(doc, bundle, source="config.json", escapes=True):
    """Validate a decoded config document and convert it: the first error
    that findings() would list is raised, as "<source>: <path>: <message>".
    escapes=False: the text had no \\u escape, so no string can hold a NUL
    or a lone surrogate."""
    found = _findings(doc, escapes)
    for f in found:
        if f.severity == "error":
            rest = [g for g in found if g.severity == "error"]  # for an API caller
            raise ConfigError(f.message, f.path, section=f.section, source=source,
                              findings=[f] + rest)
    return _convert(doc, bundle)


class Finding(_Value):
    """A problem of a config document: its JSON path ("$."-rooted), what is
    wrong, "error" (the container cannot be made as asked) or "warning", and
    the runtime-spec section that says so ("config-linux.md#namespaces"):
    `ocirt validate` prints it, for the reader to look the rule up."""

    __slots__ = ("path", "message", "severity", "section")
    _defaults = {"severity": "error", "section": ""}


def findings(doc, escapes=True):
    """Every problem of the decoded config document <doc>, in the order in
    which parse meets them, without stopping at the first: what can be known
    of a config before any process is made, on any host. A document that
    breaks the schema yields that one violation: the semantic checks (CHECKS)
    read only documents of the schema's shape."""
    return list(_findings(doc, escapes))


def _findings(doc, escapes):
    from ocirt.jsonschema_lite import Invalid, check_text
    if not isinstance(doc, dict):
        yield Finding("$", "expected object", section="config.md")
        return
    try:
        if escapes:
            check_text(doc)
        _schema_validator().validate(doc)
    except Invalid as e:
        yield Finding(e.path, e.msg, section=section_of(e.path))
        return
    for check in CHECKS:
        section = SECTIONS[check]
        for where, msg in check(doc):
            yield Finding(where, msg, section=section)


def check_resources(res, source="resources"):
    """Schema-check a linux.resources object on its own (for `update`)."""
    from ocirt.jsonschema_lite import Invalid, check_text
    try:
        check_text(res, "$.linux.resources")
        _schema_validator().validate({"ociVersion": SPEC_VERSION, "root": {"path": "rootfs"},
                                      "linux": {"resources": res}})
    except Invalid as e:
        raise ConfigError(e.msg, e.path, section=section_of(e.path), source=source)


# ---- semantic checks: each yields (json_path, message) per problem ------
# A check yields its problems in document order; parse raises the first one
# of the first check that has any, so the order of CHECKS is part of the
# messages users see. Checks added later go at the end of CHECKS.

def _check_version(doc):
    from ocirt.jsonschema_lite import oci_version_matches
    v = doc.get("ociVersion")
    if not isinstance(v, str) or v.endswith("\n") or not oci_version_matches(v):
        yield "$.ociVersion", f"unsupported version {v!r} (ocirt supports 1.0.0 to 1.3.x)"


def _linux(doc):
    return doc.get("linux") or {}


def _check_namespaces(doc):
    seen = set()
    for i, ns in enumerate(_linux(doc).get("namespaces") or ()):
        t = ns.get("type")
        if t not in NAMESPACES:
            yield f"$.linux.namespaces[{i}].type", f"unknown namespace type {t!r}"
            continue
        if t in seen:
            yield f"$.linux.namespaces[{i}].type", f"namespace {t!r} listed twice"
            continue
        seen.add(t)
        p = ns.get("path")
        if p is not None and not posixos.path.isabs(p):
            yield f"$.linux.namespaces[{i}].path", "must be an absolute path"


def _ns_types(doc):
    return {ns.get("type") for ns in _linux(doc).get("namespaces") or ()}


HOST_NAME_MAX = 64  # bytes, for the hostname and the domainname alike


def _check_uts(doc):
    if "uts" not in _ns_types(doc):
        if doc.get("hostname"):
            yield "$.hostname", "setting the hostname needs a private UTS namespace"
        if doc.get("domainname"):
            yield "$.domainname", "setting the domainname needs a private UTS namespace"
    for key in ("hostname", "domainname"):
        n = len(doc.get(key, "").encode())
        if n > HOST_NAME_MAX:
            yield f"$.{key}", f"{n} bytes long: the kernel takes at most {HOST_NAME_MAX}"


def _user_ns(doc):
    """The linux.namespaces entry of the user namespace, or None."""
    for ns in _linux(doc).get("namespaces") or ():
        if ns.get("type") == "user":
            return ns
    return None


def _check_userns(doc):
    linux = _linux(doc)
    user_ns = _user_ns(doc)
    has_maps = bool(linux.get("uidMappings") or linux.get("gidMappings"))
    if user_ns and user_ns.get("path") is None and not (
            linux.get("uidMappings") and linux.get("gidMappings")):
        yield "$.linux.uidMappings", "a new user namespace needs uidMappings and gidMappings"
    if has_maps and not user_ns:
        yield "$.linux.uidMappings", "mappings given without a user namespace"
    if has_maps and user_ns and user_ns.get("path") is not None:
        yield "$.linux.uidMappings", "mappings cannot be set on a joined user namespace"
    if user_ns and "mount" not in _ns_types(doc):
        # the container would inherit the runtime's mount namespace, where
        # root of another user namespace can mount nothing
        yield "$.linux.namespaces", ("a user namespace needs a mount namespace too: its root "
                                     "cannot mount the rootfs in the runtime's")


def _check_process(doc):
    proc = doc.get("process")
    if proc is None:
        return
    if not proc.get("args"):
        yield "$.process.args", "must name the program to run"
    cwd = proc.get("cwd", "")
    if not cwd.startswith("/"):
        yield "$.process.cwd", f"{cwd!r} is not an absolute path"
    seen = set()
    for i, rl in enumerate(proc.get("rlimits") or ()):
        t = rl.get("type")
        if t not in RLIMITS:
            yield f"$.process.rlimits[{i}].type", f"unknown rlimit {t!r}"
        elif t in seen:
            yield f"$.process.rlimits[{i}].type", f"duplicate rlimit {t!r}"
        seen.add(t)
        if rl["soft"] > rl["hard"]:
            yield f"$.process.rlimits[{i}]", f"soft limit of {t} is above its hard limit"
    for i, e in enumerate(proc.get("env") or ()):
        if "=" not in e or e.startswith("="):
            yield f"$.process.env[{i}]", f"{e!r} is not of the form KEY=value"


def _check_mounts(doc):
    for i, m in enumerate(doc.get("mounts") or ()):
        dest = m.get("destination", "")
        if not dest:
            yield f"$.mounts[{i}].destination", "must not be empty"
        elif ".." in dest.split("/"):
            yield f"$.mounts[{i}].destination", f"{dest!r} must not contain '..'"
        if is_bind(m):
            if not m.get("source"):
                yield f"$.mounts[{i}].source", "a bind mount needs a source"


def _id_problem(value):
    if not 0 <= value <= MAX_ID:
        return f"{value} is out of range: uids and gids must be in 0..{MAX_ID}"


def _maps_problems(where, maps):
    """containerID and hostID are ids (0..2^31-1); a range may not reach
    (uid_t)-1 (the kernel's own identity map, size 4294967295, stays valid)."""
    for i, m in enumerate(maps or ()):
        for key in ("containerID", "hostID"):
            problem = _id_problem(m.get(key, 0))
            if problem:
                yield f"{where}[{i}].{key}", problem
        size = m.get("size", 0)
        if not 1 <= size <= 2**32 - 1 - max(m.get("containerID", 0), m.get("hostID", 0)):
            yield f"{where}[{i}].size", (f"{size} is out of range: a mapping holds at least "
                                         "one id and ends before 4294967295")


def _check_ids(doc):
    user = (doc.get("process") or {}).get("user") or {}
    for key in ("uid", "gid"):
        problem = _id_problem(user.get(key, 0))
        if problem:
            yield f"$.process.user.{key}", problem
    gids = user.get("additionalGids") or ()
    if len(gids) > NGROUPS_MAX:
        yield "$.process.user.additionalGids", (f"{len(gids)} groups: the kernel takes at "
                                                f"most {NGROUPS_MAX}")
    for i, gid in enumerate(gids):
        problem = _id_problem(gid)
        if problem:
            yield f"$.process.user.additionalGids[{i}]", problem
    linux = _linux(doc)
    maps = [(f"$.linux.{k}", linux.get(k)) for k in ("uidMappings", "gidMappings")]
    for i, m in enumerate(doc.get("mounts") or ()):
        maps += [(f"$.mounts[{i}].{k}", m.get(k)) for k in ("uidMappings", "gidMappings")]
    for where, items in maps:
        yield from _maps_problems(where, items)


def _check_idmap(doc):
    linux = _linux(doc)
    for i, m in enumerate(doc.get("mounts") or ()):
        opts = m.get("options") or ()
        idmap = "idmap" in opts or "ridmap" in opts
        has_maps = bool(m.get("uidMappings") or m.get("gidMappings"))
        if has_maps and not idmap:
            yield f"$.mounts[{i}].uidMappings", "mappings need the idmap or ridmap option"
        if bool(m.get("uidMappings")) != bool(m.get("gidMappings")):
            yield f"$.mounts[{i}].uidMappings", "give both uidMappings and gidMappings"
        if idmap and m.get("type") != "bind" and not ({"bind", "rbind"} & set(opts)):
            yield f"$.mounts[{i}].options", "idmap applies to bind mounts only"
        if idmap and not has_maps and not linux.get("uidMappings"):
            yield f"$.mounts[{i}].options", ("idmap without mappings needs the container's "
                                             "user namespace mappings")


def _check_paths(doc):
    linux = _linux(doc)
    for key in ("maskedPaths", "readonlyPaths"):
        for i, p in enumerate(linux.get(key) or ()):
            if not p.startswith("/"):
                yield f"$.linux.{key}[{i}]", f"{p!r} is not an absolute path"
    prop = linux.get("rootfsPropagation")
    if prop is not None and prop not in ("private", "rprivate", "shared", "rshared",
                                         "slave", "rslave", "unbindable", "runbindable"):
        yield "$.linux.rootfsPropagation", f"unknown propagation {prop!r}"


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
            yield where, f"{key!r} is not a sysctl name (dot-separated, no '/')"
            continue
        ns = _sysctl_namespace(key)
        if ns is None:
            yield where, f"{key} is not namespaced: a container may not set it"
        elif ns not in have:
            yield where, f"{key} needs a private {ns} namespace"
        # a joined network namespace: allowed, as runc does


def _check_time_offsets(doc):
    linux = _linux(doc)
    if linux.get("timeOffsets"):
        ns = [n for n in linux.get("namespaces") or () if n.get("type") == "time"]
        if not ns or ns[0].get("path") is not None:
            yield "$.linux.timeOffsets", "needs a new time namespace"


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
                yield f"$.hooks.{point}[{i}].path", "must be an absolute path"
            t = h.get("timeout")
            if t is not None and t <= 0:
                yield f"$.hooks.{point}[{i}].timeout", "must be greater than zero"
            if t is not None and t > MAX_HOOK_TIMEOUT:
                # beyond what a timer takes (select: about 2^63 ns)
                yield f"$.hooks.{point}[{i}].timeout", (f"{t} is more than "
                                                        f"{MAX_HOOK_TIMEOUT} seconds")
            for j, e in enumerate(h.get("env") or ()):
                if "=" not in e or e.startswith("="):
                    yield f"$.hooks.{point}[{i}].env[{j}]", f"{e!r} is not KEY=value"


# The checks below were made after the fork, in the container's setup
# processes, or in create, by the mechanism that applies the section. The
# rules of a kernel interface stay with its mechanism (ocirt.linux.*),
# which these consult; only what depends on the host (an LSM enabled, a
# NUMA node online, a syscall name known) is still told at create.

def _check_capabilities(doc):
    """Names that are no capability (a capability that cannot be granted is
    another matter: a warning at create, ocirt.linux.capabilities.grantable)."""
    caps = (doc.get("process") or {}).get("capabilities")
    if not caps:
        return
    from ocirt.linux.capabilities import NUMBERS, SETS
    for name in SETS:
        for i, cap in enumerate(caps.get(name) or ()):
            if cap not in NUMBERS:
                yield f"$.process.capabilities.{name}[{i}]", f"unknown capability {cap!r}"


TIME_CLOCKS = ("monotonic", "boottime")  # the clocks a time namespace offsets


def _check_clocks(doc):
    for clock in _linux(doc).get("timeOffsets") or {}:
        if clock not in TIME_CLOCKS:
            yield f"$.linux.timeOffsets.{clock}", f"unknown clock {clock!r}"


def _check_personality(doc):
    if (_linux(doc).get("personality") or {}).get("flags"):
        yield "$.linux.personality.flags", "personality flags are not supported"


def _mapped(value, maps):
    return any(m.get("containerID", 0) <= value < m.get("containerID", 0) + m.get("size", 0)
               for m in maps)


def _check_userns_ids(doc):
    """A new user namespace maps the process's uid, gid and additional gids:
    else setresuid and setgroups fail in the init, with a bare EINVAL."""
    user_ns = _user_ns(doc)
    proc = doc.get("process")
    linux = _linux(doc)
    uid_maps, gid_maps = linux.get("uidMappings"), linux.get("gidMappings")
    if proc is None or user_ns is None or user_ns.get("path") is not None \
            or not (uid_maps and gid_maps):
        return
    user = proc.get("user") or {}
    for key, maps_key, maps in (("uid", "uidMappings", uid_maps),
                                ("gid", "gidMappings", gid_maps)):
        value = user.get(key, 0)
        if not _mapped(value, maps):
            yield f"$.process.user.{key}", (f"{key} {value} is not mapped in the new user "
                                            f"namespace ($.linux.{maps_key})")
    for i, gid in enumerate(user.get("additionalGids") or ()):
        if not _mapped(gid, gid_maps):
            yield f"$.process.user.additionalGids[{i}]", (
                f"gid {gid} is not mapped in the new user namespace ($.linux.gidMappings)")


def _check_cpu_affinity(doc):
    affinity = (doc.get("process") or {}).get("execCPUAffinity") or {}
    for key in ("initial", "final"):
        if affinity.get(key):
            from ocirt.linux import sched
            yield from _raised(sched.cpu_list, affinity[key], f"$.process.execCPUAffinity.{key}")


def _check_memory_policy(doc):
    mp = _linux(doc).get("memoryPolicy")
    if mp is not None:
        from ocirt.linux import mempolicy
        yield from _raised(mempolicy.parse, _memory_policy(mp))


def _check_seccomp(doc):
    sec = _linux(doc).get("seccomp")
    if sec is None:
        return
    notify = sec["defaultAction"] == "SCMP_ACT_NOTIFY" or any(
        r.get("action") == "SCMP_ACT_NOTIFY" for r in sec.get("syscalls") or ())
    if notify and not sec.get("listenerPath"):
        yield "$.linux.seccomp", "SCMP_ACT_NOTIFY needs a listenerPath"
    if "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" in (sec.get("flags") or ()) and not notify:
        yield "$.linux.seccomp.flags", ("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV applies only "
                                        "to filters with SCMP_ACT_NOTIFY")


def _raised(fn, *args):
    """The ConfigError fn(*args) raises, as a problem (a mechanism's own check)."""
    try:
        fn(*args)
    except ConfigError as e:
        yield e.path, e.msg


CHECKS = (_check_version, _check_namespaces, _check_uts, _check_userns, _check_process,
          _check_ids, _check_mounts, _check_idmap, _check_paths, _check_sysctl,
          _check_time_offsets, _check_hooks,
          _check_capabilities, _check_clocks, _check_personality, _check_userns_ids,
          _check_cpu_affinity, _check_memory_policy, _check_seccomp)

# the runtime-spec section each check enforces (its rule, or the field's definition)
SECTIONS = {
    _check_version: "config.md#specification-version",
    _check_namespaces: "config-linux.md#namespaces",
    _check_uts: "config.md#hostname",
    _check_userns: "config-linux.md#user-namespace-mappings",
    _check_process: "config.md#process",
    _check_ids: "config.md#user",
    _check_mounts: "config.md#mounts",
    _check_idmap: "config.md#mounts",
    _check_paths: "config-linux.md#masked-paths",
    _check_sysctl: "config-linux.md#sysctl",
    _check_time_offsets: "config-linux.md#offset-for-time-namespace",
    _check_hooks: "config.md#posix-platform-hooks",
    _check_capabilities: "config.md#linux-process",
    _check_clocks: "config-linux.md#offset-for-time-namespace",
    _check_personality: "config-linux.md#personality",
    _check_userns_ids: "config-linux.md#user-namespace-mappings",
    _check_cpu_affinity: "config.md#linux-process",
    _check_memory_policy: "config-linux.md#memory-policy",
    _check_seccomp: "config-linux.md#seccomp",
}

# JSON path prefix -> the section defining that field (the most specific first)
_PATH_SECTIONS = (
    ("$.ociVersion", "config.md#specification-version"),
    ("$.root", "config.md#root"),
    ("$.mounts", "config.md#mounts"),
    ("$.process.user", "config.md#user"),
    ("$.process.rlimits", "config.md#posix-process"),
    ("$.process.capabilities", "config.md#linux-process"),
    ("$.process", "config.md#process"),
    ("$.hostname", "config.md#hostname"),
    ("$.domainname", "config.md#domainname"),
    ("$.hooks", "config.md#posix-platform-hooks"),
    ("$.annotations", "config.md#annotations"),
    ("$.linux.namespaces", "config-linux.md#namespaces"),
    ("$.linux.uidMappings", "config-linux.md#user-namespace-mappings"),
    ("$.linux.gidMappings", "config-linux.md#user-namespace-mappings"),
    ("$.linux.timeOffsets", "config-linux.md#offset-for-time-namespace"),
    ("$.linux.devices", "config-linux.md#devices"),
    ("$.linux.cgroupsPath", "config-linux.md#cgroups-path"),
    ("$.linux.resources", "config-linux.md#control-groups"),
    ("$.linux.sysctl", "config-linux.md#sysctl"),
    ("$.linux.seccomp", "config-linux.md#seccomp"),
    ("$.linux.rootfsPropagation", "config-linux.md#rootfs-mount-propagation"),
    ("$.linux.maskedPaths", "config-linux.md#masked-paths"),
    ("$.linux.readonlyPaths", "config-linux.md#readonly-paths"),
    ("$.linux.mountLabel", "config-linux.md#mount-label"),
    ("$.linux.personality", "config-linux.md#personality"),
    ("$.linux.memoryPolicy", "config-linux.md#memory-policy"),
    ("$.linux.intelRdt", "config-linux.md#intelrdt"),
    ("$.linux", "config-linux.md"),
)


def section_of(path):
    """The runtime-spec section that defines the field at JSON <path>
    ("config.md" for one no row names: the document's top)."""
    for prefix, section in _PATH_SECTIONS:
        if path == prefix or path.startswith((prefix + ".", prefix + "[")):
            return section
    return "config.md"


# ---- conversion ---------------------------------------------------------

def parse_hooks(doc):
    """The Hooks of a document, for the points that have hooks."""
    out = []
    for point, items in _hooks(doc):
        # env None (no "env" key) is not env []: the first runs with the
        # runtime's environment, the second with none (runc's exec.Cmd.Env)
        out.append((point, tuple(Hook(h["path"], tuple(h.get("args") or ()),
                                      None if h.get("env") is None else tuple(h["env"]),
                                      h.get("timeout")) for h in items)))
    return Hooks(tuple(out))


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
    if src and is_bind(m) and not posixos.path.isabs(src):
        return posixos.path.join(posixos.path.abspath(bundle), src)
    return src


def _caps(c):
    if c is None:
        return None
    return Capabilities(**{k: tuple(c[k]) if c.get(k) is not None else None
                           for k in ("bounding", "effective", "inheritable", "permitted", "ambient")})


def _console_size(c):
    return None if c is None else ConsoleSize(int(c["height"]), int(c["width"]))


def _cpu_affinity(a):
    return None if a is None else ExecCPUAffinity(a.get("initial"), a.get("final"))


def _scheduler(s):
    if s is None:
        return None
    return Scheduler(s["policy"], int(s.get("nice", 0)), int(s.get("priority", 0)),
                     tuple(s.get("flags") or ()), int(s.get("runtime", 0)),
                     int(s.get("deadline", 0)), int(s.get("period", 0)))


def _io_priority(p):
    return None if p is None else IOPriority(p["class"], int(p.get("priority", 0)))


def _personality(p):
    return None if p is None else Personality(p["domain"], tuple(p.get("flags") or ()))


def _time_offsets(offsets):
    return tuple(TimeOffset(clock, int(o.get("secs", 0)), int(o.get("nanosecs", 0)))
                 for clock, o in (offsets or {}).items())


def _memory_policy(mp):
    if mp is None:
        return None
    return MemoryPolicy(mp["mode"], mp.get("nodes") or "", tuple(mp.get("flags") or ()))


def _seccomp(sec):
    if sec is None:
        return None
    return Seccomp(
        default_action=sec["defaultAction"],
        default_errno_ret=_int(sec.get("defaultErrnoRet")),
        architectures=tuple(sec.get("architectures") or ()),
        flags=tuple(sec.get("flags") or ()),
        listener_path=sec.get("listenerPath"),
        listener_metadata=sec.get("listenerMetadata"),
        syscalls=tuple(
            Syscall(tuple(r["names"]), r["action"], _int(r.get("errnoRet")),
                    tuple(SyscallArg(int(a["index"]), int(a["value"]),
                                     int(a.get("valueTwo", 0)), a["op"])
                          for a in r.get("args") or ()))
            for r in sec.get("syscalls") or ()))


def _convert(doc, bundle):
    linux = _linux(doc)
    root = doc.get("root") or {}
    root_path = root.get("path", "rootfs")
    if not posixos.path.isabs(root_path):
        root_path = posixos.path.join(posixos.path.abspath(bundle), root_path)
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
            console_size=_console_size(proc.get("consoleSize")),
            exec_cpu_affinity=_cpu_affinity(proc.get("execCPUAffinity")),
            scheduler=_scheduler(proc.get("scheduler")),
            io_priority=_io_priority(proc.get("ioPriority")),
            apparmor_profile=proc.get("apparmorProfile"),
            selinux_label=proc.get("selinuxLabel"),
        )
    devices = tuple(
        Device(d["type"], d["path"], int(d.get("major", 0)), int(d.get("minor", 0)),
               _int(d.get("fileMode")), _int(d.get("uid")), _int(d.get("gid")))
        for d in linux.get("devices") or ())
    return Config(
        oci_version=doc["ociVersion"],
        root_path=posixos.path.normpath(root_path),
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
        seccomp=_seccomp(linux.get("seccomp")),
        personality=_personality(linux.get("personality")),
        time_offsets=_time_offsets(linux.get("timeOffsets")),
        mount_label=linux.get("mountLabel"),
        memory_policy=_memory_policy(linux.get("memoryPolicy")),
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
