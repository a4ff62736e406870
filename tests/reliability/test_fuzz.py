"""Fuzzing: real config.json files, mutated, through the real CLI.

The base configs are what engines and people actually hand to a runtime:
`runc spec` and `runc spec --rootless` exactly as runc writes them,
`ocirt spec` (runc's template) and `ocirt spec --hardened`, and the configs of
tests/unit/data. Each example takes one,
points root.path at a busybox rootfs and process.args at ["true"], and
applies one to four mutations: at a random JSON location (objects and lists
walked) a hostile value (NUL bytes, lone surrogates, 1 MB strings, 2**64,
-2**63, floats, null, nested lists, "../../..", "/proc/self/fd/3", paths
longer than PATH_MAX), a deleted key, an unknown key or a duplicated list
element; or a field-aware change of capabilities, process.user, mounts,
seccomp, hooks, namespaces, linux.resources, rlimits, sysctl, masked and
read-only paths, hostname, devices, cgroupsPath, ... Then `ocirt run`, or
create + state + start + state + delete.

The oracle, for every command: it ends within TIMEOUT seconds; stderr has
no "internal error" and no "Traceback"; it is warning lines
(ocirt.log.warning: "warning: ...") and, when ocirt failed, one error line
last, which names a JSON path ($.…) since the base config ran; and after the
run (and a `delete --force`) nothing is left: no state directory, no cgroup
directory in any hierarchy (the default /ocirt/<id> and whatever
cgroupsPath the config named), no mount under the example's directory, no
process with the state root in its command line (test_sigkill's helpers).

Container ids get the same treatment through create/state/kill/start/delete.

Budget: OCIRT_FUZZ_EXAMPLES config examples in all (default 60; 2,000 with
OCIRT_LONG=1), split between the base families, and half as many ids.
Failures are collected, not shrunk: every failing example is reported (its
base, its mutations, the command, what it printed) at the end, and written
as JSON lines to $OCIRT_FUZZ_REPORT when that is set; $OCIRT_FUZZ_TRACE
gets every command's outcome (to see how deep the examples reach).

Some mutations would harm the host rather than test ocirt, and are never
made (see _unsafe): namespace paths other than those of a throwaway
`unshare` process of the test's own (joining the host's uts, ipc or mount
namespace would set its hostname, sysctls or mounts); cgroupsPath values
outside a fresh /ocirt-fuzz-<hex> prefix (delete kills every process of
the container's cgroup: "/" or "." would be the host's or the test's own);
root.path outside the example's directory; "cgroup.*" files in
linux.resources.unified (cgroup.procs would move a host process in);
mounts of real block devices or of single-superblock file systems
(cgroup2, debugfs, ...), the "remount" option (a superblock remount of the
host's file system), and, until the mount code is fixed, a read-only sysfs
or mqueue mount without its own network or ipc namespace (see _unsafe).
"""
import copy
import glob
import json
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings, strategies as st
from hypothesis.errors import UnsatisfiedAssumption

from tests.conftest import ROOT
from tests.integration.conftest import Runtime
from tests.reliability.conftest import wait_pids_gone
from tests.reliability.test_sigkill import _assert_clean, _procs_of

LONG = bool(os.environ.get("OCIRT_LONG"))
EXAMPLES = int(os.environ.get("OCIRT_FUZZ_EXAMPLES") or (2000 if LONG else 60))
TIMEOUT = 30
RUNC = shutil.which("runc") or "/usr/sbin/runc"
FAMILIES = ("runc", "ocirt", "data")
# no shrinking: failures are collected and reported as they come (a config
# example is a base and a handful of mutations, readable as it is)
PHASES = (Phase.explicit, Phase.generate)

# ---------------------------------------------------------------- values

MB = "x" * (1 << 20)
LONG_PATH = "/" + "a/" * 2100            # beyond PATH_MAX (4096)
LONG_NAME = "/" + "n" * 300              # a component beyond NAME_MAX (255)
HOSTILE_CONSTANTS = [
    None, True, False, 0, -1, 1, 2**31 - 1, 2**31, 2**32, 2**63 - 1, 2**63, 2**64,
    2**64 + 1, -2**63, -2**63 - 1, 10**30, -10**30, 0.5, -1.5, 1.0, 1e300,
    "", "a\0b", "\0", "\ud800", "x\udfff", "\udc80", MB, "../../..", "/proc/self/fd/3",
    LONG_PATH, LONG_NAME, "\n", "a\nb", "$.x", "%s%n", "1", "-1",
    [], {}, [[]], [{}], {"": {}}, [None], [[[[[[[[]]]]]]]], ["\0"], {"\0": "\ud800"},
]


def pick(values):
    """sampled_from without a repr of every value (some are a megabyte)."""
    values = list(values)
    return st.integers(0, len(values) - 1).map(values.__getitem__)


ODD_PIECES = pick(["\0", "\ud800", "\udfff", "\udc80", "\n", "/", "..", "$", "\\"])
TEXT = st.lists(st.one_of(st.characters(), ODD_PIECES), max_size=30).map("".join)
HOSTILE = st.one_of(
    pick(HOSTILE_CONSTANTS),
    TEXT,
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.one_of(TEXT, st.integers()), max_size=4),
)
INTS = st.one_of(pick([-2**63 - 1, -2**63, -2, -1, 0, 1, 2, 101, 1000, 4096,
                       1 << 20, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**62,
                       2**63 - 1, 2**63, 2**64 - 1, 2**64, 10**30, 1.5, -0.5]),
                 st.integers())


def _path_str(path):
    out = "$"
    for k in path:
        out += f"[{k}]" if isinstance(k, int) else f".{k}" if str(k).isidentifier() \
            else f"[{ascii(k)}]"
    return out


def _short(v, n=120):
    s = ascii(v)
    return s if len(s) <= n else f"{s[:n]}... ({len(s)} chars)"


# ----------------------------------------------------------- base configs

@pytest.fixture(scope="module")
def bases(tmp_path_factory, rootfs):
    """{family: [(name, config)]}: the configs as their tools write them."""
    d = tmp_path_factory.mktemp("specs")
    out = {f: [] for f in FAMILIES}
    if os.access(RUNC, os.X_OK):
        for name, flags in (("runc spec", []), ("runc spec --rootless", ["--rootless"])):
            b = d / name.replace(" ", "_")
            b.mkdir()
            subprocess.run([RUNC, "spec", *flags], cwd=b, check=True, capture_output=True)
            out["runc"].append((name, json.loads((b / "config.json").read_text())))
    from tests.conftest import ocirt_binary
    for name, flags in (("ocirt spec", []), ("ocirt spec --hardened", ["--hardened"])):
        b = d / name.replace(" ", "_")
        b.mkdir()
        subprocess.run([ocirt_binary(), "spec", "--bundle", str(b), *flags], check=True,
                       capture_output=True)
        out["ocirt"].append((name, json.loads((b / "config.json").read_text())))
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "unit", "data", "config-*.json"))):
        with open(path) as f:
            cfg = json.load(f)
        linux = cfg.get("linux") or {}
        # These name things of the machine they were written on: namespace
        # files under /var/run/netns, a fixed cgroup, host interfaces to move
        # into the container. Here: new namespaces, a cgroup of the example's
        # own (below), and no interfaces taken from the host.
        for ns in linux.get("namespaces") or ():
            ns.pop("path", None)
        linux.pop("cgroupsPath", None)
        linux.pop("netDevices", None)
        out["data"].append((os.path.basename(path), cfg))
    return out


def _prepare(cfg, rootfs_dir):
    cfg["root"]["path"] = rootfs_dir
    cfg["process"]["args"] = ["true"]
    cfg["process"]["terminal"] = False
    return cfg


# --------------------------------------------------- generic mutations

def _locations(doc, path=()):
    yield path, doc
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _locations(v, path + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _locations(v, path + (i,))


def _protected(path):
    """Locations only field-aware mutations change (with values that are safe
    for the host): see the module docstring."""
    if path[:2] in (("root", "path"), ("linux", "cgroupsPath")):
        return True
    return len(path) >= 4 and path[:2] == ("linux", "namespaces") and path[3] == "path"


def _get(doc, path):
    for k in path:
        doc = doc[k]
    return doc


def _generic(data, cfg):
    locs = [(p, v) for p, v in _locations(cfg) if p and not _protected(p)]
    op = data.draw(pick(["replace", "delete", "insert", "duplicate"]))
    if op == "insert":
        objs = [(p, v) for p, v in [((), cfg)] + locs if isinstance(v, dict)]
        path, obj = data.draw(pick(objs))
        key = data.draw(TEXT)
        assume(key not in obj)
        value = data.draw(HOSTILE)
        obj[key] = value
        return f"insert {_path_str(path + (key,))} = {_short(value)}"
    if op == "duplicate":
        lists = [(p, v) for p, v in locs if isinstance(v, list) and v]
        assume(lists)
        path, lst = data.draw(pick(lists))
        i = data.draw(st.integers(0, len(lst) - 1))
        lst.insert(i, copy.deepcopy(lst[i]))
        return f"duplicate {_path_str(path + (i,))}"
    path, _ = data.draw(pick(locs))
    parent = _get(cfg, path[:-1])
    if op == "delete":
        del parent[path[-1]]
        return f"delete {_path_str(path)}"
    value = data.draw(HOSTILE)
    parent[path[-1]] = value
    return f"replace {_path_str(path)} = {_short(value)}"


# ------------------------------------------------ field-aware mutations

def _obj(cfg, *keys):
    """cfg[k1][k2]... as a dict, made where missing or not an object."""
    d = cfg
    for k in keys:
        if not isinstance(d.get(k), dict):
            d[k] = {}
        d = d[k]
    return d


CAPS = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SYS_ADMIN", "CAP_SYS_PTRACE",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_AUDIT_WRITE", "CAP_BPF", "CAP_PERFMON",
        "CAP_CHECKPOINT_RESTORE", "CAP_MAC_ADMIN"]
ODD_CAPS = ["CAP_NOPE", "cap_chown", "CHOWN", "", "CAP_" + "X" * 1000, "CAP_CHOWN\0",
            "CAP_\ud800", "CAP_LAST_CAP", "CAP_41", "CAP_63", "CAP_64"]


def m_caps(data, cfg, ex):
    caps = _obj(cfg, "process", "capabilities")
    which = data.draw(pick(["bounding", "effective", "inheritable", "permitted",
                            "ambient"]))
    value = data.draw(st.one_of(st.lists(pick(CAPS + ODD_CAPS), max_size=6),
                                st.just(list(CAPS)), st.none(), HOSTILE))
    caps[which] = value
    return f"$.process.capabilities.{which} = {_short(value)}"


def m_user(data, cfg, ex):
    user = _obj(cfg, "process", "user")
    key = data.draw(pick(["uid", "gid", "umask", "additionalGids", "username"]))
    if key == "additionalGids":
        value = data.draw(st.one_of(st.lists(INTS, max_size=5), st.just(list(range(70000))),
                                    HOSTILE))
    elif key == "username":
        value = data.draw(HOSTILE)
    else:
        value = data.draw(st.one_of(INTS, pick([0o777, 0o7777, 65534]), HOSTILE))
    user[key] = value
    return f"$.process.user.{key} = {_short(value)}"


MOUNT_DESTS = ["/tmp/fz", "/proc", "/proc/sys", "/dev/null", "/dev/fz", "/etc/passwd",
               "/bin/busybox", "/proc/self/fd/3", "relative/x", "/sys", "/sys/fs/cgroup",
               "/a/b/c/d/e", "/dev/pts/ptmx", "/.", "//tmp", "/tmp/../tmp/y", "/dev/shm",
               LONG_PATH, LONG_NAME, "/a\0b", "/\ud800", "/a\nb", ""]
# no "cgroup2" (a mount of the host's hierarchy: mkdir under it makes host
# cgroups), nor single-superblock ones (debugfs, bpf, ...): see _unsafe
MOUNT_TYPES = ["tmpfs", "bind", "proc", "sysfs", "mqueue", "devpts", "cgroup", "nosuchfs",
               "none", "", "overlay", "\0", "\ud800"]
MOUNT_OPTIONS = [
    "ro", "rw", "rbind", "bind", "nosuid", "nodev", "noexec", "suid", "dev", "exec", "sync",
    "async", "dirsync", "mand", "nomand", "atime", "noatime", "diratime", "nodiratime",
    "relatime", "norelatime", "strictatime", "nostrictatime", "nosymfollow", "symfollow",
    "private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable",
    "runbindable", "rro", "rrw", "rnosuid", "rnodev", "rnoexec", "rnoatime", "rrelatime",
    "rstrictatime", "rnosymfollow", "idmap", "ridmap", "tmpcopyup", "size=1k", "size=-1",
    "size=1000000000000000000000", "mode=1777", "mode=99999", "uid=4294967295", "gid=-1",
    "nr_inodes=0", "newinstance", "ptmxmode=0666", "x-foo", "", "=", ",", "a,b", "\0",
    "\ud800", "x" * 5000]


def m_mount(data, cfg, ex):
    src_dir = os.path.join(ex, "src")
    src_file = os.path.join(ex, "srcfile")
    os.makedirs(src_dir, exist_ok=True)
    open(src_file, "a").close()
    m = {"destination": data.draw(pick(MOUNT_DESTS)),
         "type": data.draw(pick(MOUNT_TYPES)),
         "source": data.draw(pick(
             ["tmpfs", "none", src_dir, src_file, "/nonexistent", "/dev/null", "relative-src",
              "../../..", "/proc/self/fd/3", "/a\0b", "/\ud800", LONG_PATH, LONG_NAME, ""])),
         "options": data.draw(st.lists(pick(MOUNT_OPTIONS), max_size=6))}
    if data.draw(st.booleans()) and data.draw(st.booleans()):
        maps = [{"containerID": data.draw(INTS), "hostID": data.draw(INTS),
                 "size": data.draw(INTS)}]
        m["uidMappings"] = maps
        m["gidMappings"] = data.draw(pick([maps, [], None]))
    for key in ("type", "source", "options"):
        if data.draw(st.integers(0, 5)) == 0:
            del m[key]
    mounts = cfg.get("mounts")
    if not isinstance(mounts, list):
        mounts = cfg["mounts"] = []
    i = data.draw(st.integers(0, len(mounts)))
    mounts.insert(i, m)
    return f"insert $.mounts[{i}] = {_short(m, 300)}"


SECCOMP_ACTIONS = ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                   "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_TRACE", "SCMP_ACT_LOG",
                   "SCMP_ACT_NOTIFY", "SCMP_ACT_NOPE", ""]
SECCOMP_OPS = ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
               "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NOPE"]


def m_seccomp(data, cfg, ex):
    rule = st.fixed_dictionaries(
        {"names": st.lists(pick(["read", "write", "execve", "getpid", "mkdir",
                                 "nosuchcall", "", "\0", "x" * 300]), max_size=4),
         "action": pick(SECCOMP_ACTIONS)},
        optional={"errnoRet": INTS,
                  "args": st.lists(st.fixed_dictionaries(
                      {"index": INTS, "value": INTS, "op": pick(SECCOMP_OPS)},
                      optional={"valueTwo": INTS}), max_size=3)})
    prof = data.draw(st.fixed_dictionaries(
        {"defaultAction": pick(SECCOMP_ACTIONS)},
        optional={"defaultErrnoRet": INTS,
                  "architectures": st.lists(pick(
                      ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64",
                       "SCMP_ARCH_NOPE", ""]), max_size=3),
                  "flags": st.lists(pick(
                      ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                       "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", "SECCOMP_FILTER_FLAG_NOPE"]),
                      max_size=2),
                  "listenerPath": pick([os.path.join(ex, "nolistener.sock"),
                                        "/dev/null", "relative.sock", LONG_PATH,
                                        "/a\0b", ""]),
                  "listenerMetadata": pick(["", "meta", MB, "\0"]),
                  "syscalls": st.lists(rule, max_size=4)}))
    _obj(cfg, "linux")["seccomp"] = prof
    return f"$.linux.seccomp = {_short(prof, 300)}"


HOOK_POINTS = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart",
               "poststop"]


def m_hooks(data, cfg, ex):
    point = data.draw(pick(HOOK_POINTS + ["bogus"]))
    hooks = []
    for _ in range(data.draw(st.integers(0, 3))):
        kind = data.draw(pick(["false", "true", "missing", "relative", "sleep",
                               "devnull", "dir", "hostile"]))
        h = {"path": {"false": "/bin/false", "true": "/bin/true",
                      "missing": "/nonexistent/hook", "relative": "relative/hook",
                      "sleep": "/bin/sleep", "devnull": "/dev/null", "dir": "/tmp",
                      "hostile": data.draw(HOSTILE)}[kind]}
        if kind == "sleep":  # bounded even when a later mutation drops the timeout
            h.update(args=["sleep", "2"], timeout=1)
        if data.draw(st.booleans()):
            h["args"] = data.draw(st.one_of(st.lists(TEXT, max_size=3), HOSTILE))
        if data.draw(st.booleans()):
            h["env"] = data.draw(st.one_of(st.lists(pick(
                ["A=B", "NOEQ", "=x", "\0=x", "A=\ud800", "A=" + MB]), max_size=3), HOSTILE))
        if data.draw(st.booleans()):
            h["timeout"] = data.draw(st.one_of(
                pick([1, 0, -1, 2**63, 2**64, 1.5, "1", None]), HOSTILE))
        hooks.append(h)
    _obj(cfg, "hooks")[point] = hooks
    return f"$.hooks.{point} = {_short(hooks, 300)}"


NS_TYPES = ["pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"]
HELPER_NS = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
             "cgroup": "cgroup"}


def m_namespaces(data, cfg, ex):
    nss = _obj(cfg, "linux").get("namespaces")
    if not isinstance(nss, list):
        nss = cfg["linux"]["namespaces"] = []
    op = data.draw(pick(["type", "path", "duplicate", "delete", "add"]))
    entries = [i for i, n in enumerate(nss) if isinstance(n, dict)]
    if op != "add":
        assume(entries)
        i = data.draw(pick(entries))
    if op == "type":
        value = data.draw(st.one_of(pick(NS_TYPES + ["bogus", "", "NETWORK", "net",
                                                               "mnt"]), HOSTILE))
        nss[i]["type"] = value
        return f"$.linux.namespaces[{i}].type = {_short(value)}"
    if op == "path":
        value = data.draw(pick(["helper", "helper-other-type", "/nonexistent/ns",
                                "/dev/null", "relative/ns", ex, LONG_PATH, "/a\0b",
                                "/\ud800", ""]))
        t = nss[i].get("type")
        if value == "helper":
            assume(t in HELPER_NS)
            value = f"/proc/{ex_helper(ex)}/ns/{HELPER_NS[t]}"
        elif value == "helper-other-type":
            other = data.draw(pick(sorted(set(HELPER_NS) - {t})))
            value = f"/proc/{ex_helper(ex)}/ns/{HELPER_NS[other]}"
        nss[i]["path"] = value
        return f"$.linux.namespaces[{i}].path = {_short(value)} (type {t!r})"
    if op == "duplicate":
        nss.append({"type": nss[i].get("type")})
        return f"duplicate namespace {nss[i].get('type')!r}"
    if op == "delete":
        gone = nss.pop(i)
        return f"delete $.linux.namespaces[{i}] ({_short(gone)})"
    t = data.draw(pick(NS_TYPES))
    nss.append({"type": t})
    return f"add namespace {t!r}"


def m_resources(data, cfg, ex):
    res = _obj(cfg, "linux", "resources")
    section = data.draw(pick(["memory", "cpu", "pids", "blockIO", "hugepageLimits",
                              "network", "rdma", "unified", "devices"]))
    cpus = pick(["0", "0-1", "0-1000", "1000", "abc", "", "0,,1", "-1", "0-",
                 "1-0", "\0", MB])
    dev = {"major": INTS, "minor": INTS}
    if section == "memory":
        value = data.draw(st.fixed_dictionaries({}, optional={
            k: INTS for k in ("limit", "reservation", "swap", "kernel", "kernelTCP",
                              "swappiness")} | {
            k: st.one_of(st.booleans(), HOSTILE)
            for k in ("disableOOMKiller", "useHierarchy", "checkBeforeUpdate")}))
    elif section == "cpu":
        value = data.draw(st.fixed_dictionaries({}, optional={
            **{k: INTS for k in ("shares", "quota", "burst", "period", "realtimeRuntime",
                                 "realtimePeriod", "idle")},
            "cpus": cpus, "mems": cpus}))
    elif section == "pids":
        value = {"limit": data.draw(INTS)}
    elif section == "blockIO":
        value = data.draw(st.fixed_dictionaries({}, optional={
            "weight": INTS, "leafWeight": INTS,
            "weightDevice": st.lists(st.fixed_dictionaries(
                dev, optional={"weight": INTS, "leafWeight": INTS}), max_size=2),
            **{k: st.lists(st.fixed_dictionaries(dict(dev, rate=INTS)), max_size=2)
               for k in ("throttleReadBpsDevice", "throttleWriteBpsDevice",
                         "throttleReadIOPSDevice", "throttleWriteIOPSDevice")}}))
    elif section == "hugepageLimits":
        value = data.draw(st.lists(st.fixed_dictionaries(
            {"pageSize": pick(["2MB", "1GB", "3MB", "abc", "0KB", "", "2MB\n"]),
             "limit": INTS}), max_size=2))
    elif section == "network":
        value = data.draw(st.fixed_dictionaries({}, optional={
            "classID": INTS, "priorities": st.lists(st.fixed_dictionaries(
                {"name": pick(["eth0", "lo", "", "\0", "x" * 300]),
                 "priority": INTS}), max_size=2)}))
    elif section == "rdma":
        value = {data.draw(pick(["mlx5_0", "", "\0", "x" * 300])): data.draw(
            st.fixed_dictionaries({}, optional={"hcaHandles": INTS, "hcaObjects": INTS}))}
    elif section == "unified":
        # no cgroup.* files: cgroup.procs would move a host process into the container
        value = data.draw(st.dictionaries(
            pick(["memory.max", "memory.high", "pids.max", "cpu.weight", "io.max",
                  "nokey", "a/b", "../memory.max", ".hidden", "memory.nope", "",
                  "memory." + "x" * 300, "memory.\0"]),
            pick(["max", "0", "-1", "abc", "", "\0", MB, "1\n2", "\ud800"]),
            max_size=3))
    else:
        value = data.draw(st.lists(st.fixed_dictionaries(
            {"allow": st.booleans()},
            optional={"type": pick(["a", "b", "c", "x", ""]), "major": INTS,
                      "minor": INTS, "access": pick(["rwm", "", "x", "rwmrwm", "r"
                                                                 * 1000])}), max_size=3))
    res[section] = value
    return f"$.linux.resources.{section} = {_short(value, 300)}"


RLIMIT_TYPES = ["RLIMIT_NOFILE", "RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_CPU", "RLIMIT_STACK",
                "RLIMIT_NPROC", "RLIMIT_CORE", "RLIMIT_MEMLOCK", "RLIMIT_DATA", "RLIMIT_RTTIME",
                "RLIMIT_NOPE", "rlimit_nofile", "", "RLIMIT_NOFILE\n"]


def m_rlimits(data, cfg, ex):
    value = data.draw(st.lists(st.fixed_dictionaries(
        {"type": pick(RLIMIT_TYPES), "soft": INTS, "hard": INTS}), max_size=3))
    _obj(cfg, "process")["rlimits"] = value
    return f"$.process.rlimits = {_short(value, 300)}"


SYSCTL_KEYS = ["net.ipv4.ip_forward", "net.core.somaxconn", "net.ipv4.conf.all.forwarding",
               "net.ipv4.nope", "kernel.shmmax", "kernel.msgmax", "kernel.shm_rmid_forced",
               "fs.mqueue.msg_max", "fs.mqueue.queues_max", "kernel.hostname",
               "kernel.domainname", "vm.swappiness", "kernel.pid_max", "net.", "net..ipv4",
               "net.ipv4.ip_forward\0", "net.\ud800", "net/ipv4/ip_forward",
               "net.ipv4/../../kernel/hostname", "net.ipv4..", "net." + "x" * 300, ""]


def m_sysctl(data, cfg, ex):
    value = data.draw(st.dictionaries(
        pick(SYSCTL_KEYS),
        pick(["1", "0", "-1", "abc", "", "\0", MB, "1\n", "99999999999999999999"]),
        max_size=3))
    _obj(cfg, "linux")["sysctl"] = value
    return f"$.linux.sysctl = {_short(value, 300)}"


PATHS = ["/proc/kcore", "/nonexistent", "relative", "/proc/self/fd/3", "/", "/proc",
         "/dev/null", "/etc", "/sys/fs/cgroup", "/proc/sys", "/../../etc", LONG_PATH,
         LONG_NAME, "/a\0b", "/\ud800", ""]


def m_paths(data, cfg, ex):
    key = data.draw(pick(["maskedPaths", "readonlyPaths"]))
    value = data.draw(st.one_of(st.lists(pick(PATHS), max_size=4), HOSTILE))
    _obj(cfg, "linux")[key] = value
    return f"$.linux.{key} = {_short(value)}"


def m_names(data, cfg, ex):
    key = data.draw(pick(["hostname", "domainname"]))
    value = data.draw(st.one_of(pick(["", "a" * 64, "a" * 65, MB, "\0", "a b",
                                      "\ud800", "-", "host.name"]), HOSTILE))
    cfg[key] = value
    return f"$.{key} = {_short(value)}"


def m_devices(data, cfg, ex):
    value = data.draw(st.lists(st.fixed_dictionaries(
        {"type": pick(["c", "b", "u", "p", "x", ""]),
         "path": pick(["/dev/fz", "/dev/null", "/proc/x", "relative",
                       "/dev/../etc/fz", "/dev/a\0b", LONG_PATH, "/dev/\ud800"])},
        # majors of real disks are never drawn: a node of the host's disk
        # would be made where a later mutation moved /dev
        optional={"major": pick([-1, 0, 1, 5, 999, 2**32, 2**64]),
                  "minor": pick([-1, 0, 3, 5, 2**20, 2**32]),
                  "fileMode": pick([0o666, 0o7777, 0o17777, -1, 2**32]),
                  "uid": INTS, "gid": INTS}), max_size=3))
    _obj(cfg, "linux")["devices"] = value
    return f"$.linux.devices = {_short(value, 300)}"


def m_root(data, cfg, ex):
    open(os.path.join(ex, "rootfile"), "a").close()
    value = data.draw(pick([os.path.join(ex, "nope"), os.path.join(ex, "rootfile"),
                            "rootfs-nope", "", LONG_PATH, LONG_NAME, "/a\0b",
                            "/\ud800", None, 1, []]))
    _obj(cfg, "root")["path"] = value
    return f"$.root.path = {_short(value)}"


def m_cgroups_path(data, cfg, ex):
    prefix = ex_cgroup_prefix(ex)
    suffix = data.draw(pick(["", "/a", "/a/b/c", "/" + "n" * 300, "/a\nb", "/a\0b",
                             "/\ud800", "/a/../b", "/a/./b", "//a", "/a b",
                             "/cgroup.procs/y",
                             "/" + "c/" * 200]))
    value = data.draw(pick(["/" + prefix + suffix, prefix + suffix,
                            f"{prefix}.slice:ocirt:x", MB]))
    _obj(cfg, "linux")["cgroupsPath"] = value
    return f"$.linux.cgroupsPath = {_short(value)}"


def m_process_misc(data, cfg, ex):
    proc = _obj(cfg, "process")
    key = data.draw(pick(["terminal", "oomScoreAdj", "noNewPrivileges",
                          "apparmorProfile", "selinuxLabel", "scheduler",
                          "ioPriority", "execCPUAffinity", "env", "cwd", "args",
                          "consoleSize"]))
    value = data.draw({
        "terminal": st.booleans(), "noNewPrivileges": st.booleans(),
        "oomScoreAdj": st.one_of(pick([-1001, -1000, 1000, 1001]), INTS),
        "apparmorProfile": pick(["unconfined", "nope", ""]),
        "selinuxLabel": pick(["system_u:system_r:container_t:s0", ""]),
        "scheduler": st.fixed_dictionaries(
            {"policy": pick(["SCHED_OTHER", "SCHED_FIFO", "SCHED_RR", "SCHED_BATCH",
                             "SCHED_IDLE", "SCHED_DEADLINE", "SCHED_NOPE"])},
            optional={k: INTS for k in ("nice", "priority", "runtime", "deadline", "period")}),
        "ioPriority": st.fixed_dictionaries(
            {"class": pick(["IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE",
                            "IOPRIO_CLASS_IDLE", "nope"]), "priority": INTS}),
        "execCPUAffinity": st.fixed_dictionaries({}, optional={
            "initial": pick(["0", "0-1000", "abc", ""]),
            "final": pick(["0", "0-1000", "abc", ""])}),
        "env": st.lists(pick(["PATH=/bin", "NOEQ", "=x", "A=\0", "\0=x",
                              "A=\ud800", "A=" + MB]), max_size=4),
        "cwd": pick(["/", "/nonexistent", "relative", "/proc/self/fd/3",
                     "/etc/passwd", LONG_PATH, "/a\0b", ""]),
        "args": pick([["/proc/self/fd/3"], ["nonexistent"], [""], [MB],
                      ["true"] + ["x" * 1000] * 3000, ["/etc"], ["/etc/passwd"],
                      ["true\0"], ["\ud800"]]),
        "consoleSize": st.fixed_dictionaries({"height": INTS, "width": INTS}),
    }[key])
    proc[key] = value
    return f"$.process.{key} = {_short(value, 200)}"


def m_linux_misc(data, cfg, ex):
    linux = _obj(cfg, "linux")
    key = data.draw(pick(["uidMappings", "timeOffsets", "personality",
                          "intelRdt", "memoryPolicy", "rootfsPropagation",
                          "mountLabel"]))
    value = data.draw({
        "uidMappings": st.lists(st.fixed_dictionaries(
            {"containerID": INTS, "hostID": INTS, "size": INTS}), max_size=2),
        "timeOffsets": st.dictionaries(pick(["monotonic", "boottime", "bogus"]),
                                       st.fixed_dictionaries({}, optional={
                                           "secs": INTS, "nanosecs": INTS}), max_size=2),
        "personality": st.fixed_dictionaries(
            {"domain": pick(["LINUX", "LINUX32", "NOPE"])},
            optional={"flags": st.lists(TEXT, max_size=2)}),
        "intelRdt": st.fixed_dictionaries({}, optional={
            "closID": pick(["x", "../..", ""]), "l3CacheSchema": TEXT}),
        "memoryPolicy": st.fixed_dictionaries(
            {"mode": pick(["MPOL_DEFAULT", "MPOL_BIND", "MPOL_NOPE"])},
            optional={"nodes": pick(["0", "0-1000", "abc", ""]),
                      "flags": st.lists(pick(["MPOL_F_STATIC_NODES", "NOPE"]),
                                        max_size=2)}),
        "rootfsPropagation": pick(["private", "rprivate", "shared", "rshared",
                                   "slave", "rslave", "unbindable", "runbindable",
                                   "nope", ""]),
        "mountLabel": pick(["system_u:object_r:container_file_t:s0", ""]),
    }[key])
    if key == "uidMappings":  # both, or the userns checks say only that
        linux["gidMappings"] = value
    linux[key] = value
    return f"$.linux.{key} = {_short(value, 200)}"


def m_version(data, cfg, ex):
    value = data.draw(st.one_of(pick(["1.0.0", "1.3.0", "1.4.0", "2.0.0",
                                      "1.0.2-dev", "", "1.0", "1.0.0\n", MB]),
                                HOSTILE))
    cfg["ociVersion"] = value
    return f"$.ociVersion = {_short(value)}"


FIELD_MUTATIONS = [m_caps, m_user, m_mount, m_seccomp, m_hooks, m_namespaces, m_resources,
                   m_rlimits, m_sysctl, m_paths, m_names, m_devices, m_root, m_cgroups_path,
                   m_process_misc, m_linux_misc, m_version]


# ------------------------------------------------- per-example resources

_helpers = {}        # example dir -> Popen of its namespace helper
_cg_prefixes = {}    # example dir -> its cgroupsPath prefix


def ex_helper(ex):
    """A throwaway process in new mount, uts, ipc, network, pid and cgroup
    namespaces for configs to join by path (never the host's own)."""
    if ex not in _helpers:
        r, w = os.pipe()
        p = subprocess.Popen(["unshare", "--mount", "--uts", "--ipc", "--net", "--pid",
                              "--cgroup", "--fork", "--kill-child", "sh", "-c",
                              f"echo ready >&{w}; exec sleep 1000 {w}>&-"],
                             pass_fds=(w,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        os.close(w)
        with os.fdopen(r) as f:
            assert f.readline() == "ready\n"
        with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
            child = int(f.read().split()[0])
        _helpers[ex] = (p, child)
    return _helpers[ex][1]


def _end_helper(ex):
    if ex in _helpers:
        p, child = _helpers.pop(ex)
        for pid in (child, p.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        p.wait()


def ex_cgroup_prefix(ex):
    return _cg_prefixes.setdefault(ex, f"ocirt-fuzz-{uuid.uuid4().hex[:12]}")


def _own_cgroups():
    """{hierarchy mount point: this process's cgroup in it}."""
    out = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrl, path = line.rstrip("\n").split(":", 2)
            name = "unified" if ctrl == "" else ctrl.replace("name=", "")
            for mp in (f"/sys/fs/cgroup/{name}", "/sys/fs/cgroup"):
                if os.path.isdir(mp) and (ctrl == "" or mp != "/sys/fs/cgroup"):
                    out[mp] = path
                    break
    return out


def _cgroup_prefix_dirs(prefix):
    """Where a cgroupsPath under <prefix> makes directories, in any hierarchy:
    /sys/fs/cgroup/<h>/<prefix> (absolute) and below this process's own
    cgroup (relative)."""
    found = []
    for mp, own in _own_cgroups().items():
        for base in {mp, os.path.join(mp, own.lstrip("/"))}:
            d = os.path.join(base, prefix)
            if os.path.exists(d):
                found.append(d)
    return found


def _remove_cgroup_tree(d):
    for sub, _, _ in sorted(os.walk(d), key=lambda t: -len(t[0])):
        try:
            os.rmdir(sub)
        except OSError:
            pass


# --------------------------------------------------------------- oracle

def _unsafe(cfg):
    """Why running cfg could harm the host rather than test ocirt, or None.

    BUG (mount code, ocirt/linux/mounts.py mount_at, not fixed here): a
    non-bind mount with "ro" is made read-only with mount(MS_REMOUNT) without
    MS_BIND, which remounts the *superblock*: for sysfs outside a new network
    namespace, or mqueue outside a new ipc namespace, that is the host's, and
    the host's /sys (or its POSIX queues) become read-only. Such configs are
    not run until that is fixed."""
    if not isinstance(cfg, dict):
        return None
    linux = cfg.get("linux") if isinstance(cfg.get("linux"), dict) else {}
    nss = linux.get("namespaces") if isinstance(linux.get("namespaces"), list) else []
    new = {n.get("type") for n in nss
           if isinstance(n, dict) and isinstance(n.get("type"), str) and "path" not in n}
    for m in cfg.get("mounts") if isinstance(cfg.get("mounts"), list) else ():
        if not isinstance(m, dict) or not isinstance(m.get("type"), (str, type(None))):
            continue
        opts = m.get("options") if isinstance(m.get("options"), list) else []
        shared_sb = {"sysfs": "network", "mqueue": "ipc"}.get(m.get("type"))
        if shared_sb and "ro" in opts and shared_sb not in new:
            return f"{m.get('type')} ro without a new {shared_sb} namespace (superblock remount)"
        if m.get("type") == "cgroup2" or "remount" in opts:
            return "cgroup2 mount or remount option"
    res = linux.get("resources") if isinstance(linux.get("resources"), dict) else {}
    unified = res.get("unified")
    if isinstance(unified, dict) and any(isinstance(k, str) and (
            k.startswith("cgroup.") or k == "tasks") for k in unified):
        return "a cgroup.* file in linux.resources.unified"
    return None


def _run(rt, args, timeout=TIMEOUT):
    """(rc or None on a hang, stderr) of `ocirt --root R <args>`; args may be
    bytes (ids that are not UTF-8)."""
    cmd = [rt.bin.encode(), b"--root", rt.root.encode()] + [
        a if isinstance(a, bytes) else str(a).encode("utf-8", "surrogatepass") for a in args]
    # stderr goes to a file: a created container's init holds it open
    with tempfile.TemporaryFile() as f:
        try:
            rc = subprocess.run(cmd, timeout=timeout, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=f).returncode
        except subprocess.TimeoutExpired:
            rc = None
        f.seek(0)
        return rc, f.read().decode("utf-8", "backslashreplace")


# Errors of the mount code (ocirt/linux/rootfs.py, devices.py: not this
# suite's to change) that name no "$." path; reported, and accepted here
# until that code spells them so (every other check still applies to them).
KNOWN_NO_PATH = ()  # every error about the config names its JSON path


def _json_path(line):
    return any(t in line for t in ("$.", "$[", "$:")) or line.startswith(KNOWN_NO_PATH)


MAX_LINE = 10000  # an error quotes values, cut: never a whole megabyte string


def _judge(rc, err, about_config, ok_rcs=(0,)):
    """What is wrong with one command's outcome, or None."""
    if rc is None:
        return f"hang: still running after {TIMEOUT}s"
    if "Traceback" in err or "internal error" in err:
        return "internal error"
    lines = err.splitlines()
    body = [ln for ln in lines if not ln.startswith("warning: ")]
    if rc in ok_rcs or rc >= 128:  # 128+n: the container's process died of signal n
        if body:
            return "succeeded but printed a non-warning line"
        return None
    if len(body) != 1:
        return f"{len(body)} error lines (expected one)"
    if lines[-1] != body[0]:
        return "a warning after the error line"
    if max(len(ln) for ln in lines) > MAX_LINE:
        return f"a line of {max(len(ln) for ln in lines)} characters"
    if about_config and not _json_path(body[0]):
        return "the error names no JSON path"
    return None


# ------------------------------------------------------------------ tests

@pytest.fixture
def fuzz_tmp(tmp_path):
    os.chmod(tmp_path, 0o755)  # a container in a user namespace must reach its rootfs
    return tmp_path


class Findings:
    """Failures collected over all examples, reported at the end."""

    def __init__(self, name):
        self.name = name
        self.items = []
        self.count = 0
        self.attempts = 0
        self.seconds = []
        self.last = None
        self.ran = 0  # examples whose container was created (the rest: a clean refusal)
        self.unsafe = 0  # examples not run: _unsafe (or, for ids, a NUL no argv holds)

    def add(self, **kw):
        self.items.append(kw)
        path = os.environ.get("OCIRT_FUZZ_REPORT")
        if path:
            with open(path, "a") as f:
                f.write(json.dumps(dict(kw, test=self.name)) + "\n")

    def timing(self, seconds):
        self.seconds.append(seconds)
        path = os.environ.get("OCIRT_FUZZ_REPORT")
        if path and seconds > 5:
            with open(path, "a") as f:
                f.write(json.dumps({"test": self.name, "slow": round(seconds, 1),
                                    "example": self.count, "last": self.last}) + "\n")

    def check(self):
        t = sorted(self.seconds) or [0]
        print(f"{self.name}: {self.count} examples run ({self.unsafe} more not run: see "
              f"_unsafe, or an id with a NUL; {self.ran} containers created), "
              f"{len(self.items)} failing; seconds per "
              f"example: median {t[len(t) // 2]:.2f}, max {t[-1]:.2f}, total {sum(t):.0f}")
        if self.items:
            lines = [f"{len(self.items)} of {self.count} examples failed:"]
            for it in self.items[:20]:
                lines.append(json.dumps(it)[:3000])
            pytest.fail("\n".join(lines), pytrace=False)


def _leftovers(rt, cid, ex):
    """After delete --force: what is still there (test_sigkill's checks, the
    state root, the config's own cgroupsPath), and clear it for the next
    example."""
    out = []
    try:
        _assert_clean(rt, cid)
    except AssertionError as e:
        out.append(f"left behind: {str(e)[:500]}")
    if os.path.isdir(rt.root) and os.listdir(rt.root):
        out.append(f"state root not empty: {os.listdir(rt.root)}")
    prefix = _cg_prefixes.pop(ex, None)
    if prefix:
        dirs = _cgroup_prefix_dirs(prefix)
        if dirs:
            out.append(f"cgroupsPath directories left: {dirs}")
        for d in dirs:
            _remove_cgroup_tree(d)
    _end_helper(ex)
    if out:  # scrub, so that one failure does not spill into the next examples
        for pid in _procs_of(rt):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_pids_gone(_procs_of(rt), 10)
        with open("/proc/self/mountinfo") as f:
            mps = [ln.split()[4] for ln in f if ex in ln]
        for mp in reversed(mps):
            subprocess.run(["umount", "-l", mp], capture_output=True)
        for d in glob.glob(f"/sys/fs/cgroup/*/ocirt/{cid}"):
            _remove_cgroup_tree(d)
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_fuzz_config(family, bases, rootfs, fuzz_tmp):
    if family == "runc" and not bases["runc"]:
        pytest.skip(f"runc is not installed ({RUNC}): no `runc spec` configs to start from")
    findings = Findings(f"test_fuzz_config[{family}]")
    examples = -(-EXAMPLES // len(FAMILIES))

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=PHASES)
    @given(st.data())
    def one(data):
        name, base = data.draw(pick(bases[family]))
        findings.attempts += 1
        ex = str(fuzz_tmp / f"ex{findings.attempts}")
        os.mkdir(ex)
        os.chmod(ex, 0o755)
        t0 = time.monotonic()
        try:
            _one_config_example(data, name, base, ex, rootfs, findings)
        except UnsatisfiedAssumption:
            findings.unsafe += 1
            raise
        finally:
            findings.timing(time.monotonic() - t0)
            _end_helper(ex)
            _cg_prefixes.pop(ex, None)
            shutil.rmtree(ex, ignore_errors=True)

    one()
    findings.check()


def _one_config_example(data, name, base, ex, rootfs, findings):
    rootfs_dir = os.path.join(ex, "rootfs")
    shutil.copytree(rootfs, rootfs_dir, symlinks=True)
    cfg = _prepare(copy.deepcopy(base), rootfs_dir)
    if name.startswith("config-"):  # see bases()
        _obj(cfg, "linux")["cgroupsPath"] = "/" + ex_cgroup_prefix(ex) + "/c"
    done = []
    # mostly one mutation: each further one makes a refusal at validation,
    # before anything runs, likelier
    for _ in range(data.draw(pick([1, 1, 1, 1, 2, 2, 3, 4]))):
        if data.draw(st.integers(0, 4)) < 2:
            done.append(_generic(data, cfg))
        else:
            done.append(data.draw(pick(FIELD_MUTATIONS))(data, cfg, ex))
    findings.last = done
    assume(not _unsafe(cfg))
    bundle = os.path.join(ex, "bundle")
    os.mkdir(bundle)
    with open(os.path.join(bundle, "config.json"), "w") as f:
        f.write(json.dumps(cfg))
    flow = data.draw(pick(["run", "run", "lifecycle"]))
    findings.count += 1  # an example that runs (not one left unsafe, or overrun in the draws)
    rt = Runtime(pathlib.Path(ex), rootfs)
    cid = rt.new_id()
    problems = []

    def step(args, about_config, ok_rcs=(0,)):
        rc, err = _run(rt, args)
        if os.environ.get("OCIRT_FUZZ_TRACE"):  # every outcome, to see what the examples reach
            with open(os.environ["OCIRT_FUZZ_TRACE"], "a") as f:
                f.write(json.dumps({"mutations": done, "command": args[0], "rc": rc,
                                    "stderr": err[:300]}) + "\n")
        problem = _judge(rc, err, about_config, ok_rcs)
        if problem:
            problems.append({"command": " ".join(map(str, args[:1])), "rc": rc,
                             "problem": problem, "stderr": err[:2000]})
        return rc

    if flow == "run":
        findings.ran += step(["run", "--bundle", bundle, cid], True) == 0
    elif step(["create", "--bundle", bundle, cid], True) == 0:
        findings.ran += 1
        step(["state", cid], False)
        if step(["start", cid], True) == 0:
            step(["state", cid], False)
            step(["kill", cid, "KILL"], False)  # or one line: "true" has exited already
        step(["delete", "--force", cid], False)
    for left in _leftovers(rt, cid, ex):
        problems.append({"problem": left})
    if problems:
        findings.add(base=name, mutations=done, flow=flow, problems=problems)


# --------------------------------------------------------------------- ids

ID_TEXT = st.lists(st.one_of(st.characters(), ODD_PIECES, pick("abc-_.+/")),
                   max_size=1024).map("".join)
VALID_ID = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+.-",
                   min_size=1, max_size=255)


def test_fuzz_ids(rt):
    """Any id through create, state, start, kill and delete: one line, or the
    lifecycle of a real container, and nothing left."""
    findings = Findings("test_fuzz_ids")
    bundle = rt.bundle(("true",))

    @settings(max_examples=max(EXAMPLES // 2, 10), deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=PHASES)
    @given(st.one_of(ID_TEXT, VALID_ID, pick(["", ".", "..", "../x", "a/b", "-x",
                                              "x" * 256, "x" * 1024, "a\0b",
                                              "\ud800", "x\udcff"])))
    def one(cid):
        if "\0" in cid:
            findings.unsafe += 1
            return  # no argv holds a NUL (the kernel ends the string there)
        findings.count += 1
        t0 = time.monotonic()
        try:
            _one_id(rt, bundle, cid, findings)
        finally:
            findings.timing(time.monotonic() - t0)

    one()
    findings.check()


def _one_id(rt, bundle, cid, findings):
    problems = []
    arg = cid.encode("utf-8", "surrogatepass")
    for args in (["create", "--bundle", bundle, arg], ["state", arg], ["start", arg],
                 ["state", arg], ["kill", arg, "KILL"], ["delete", "--force", arg]):
        rc, err = _run(rt, args)
        findings.ran += args[0] == "create" and rc == 0
        # kill of a container whose "true" has exited, or of none: an error
        problem = _judge(rc, err, False, ok_rcs=(0,))
        if problem:
            problems.append({"command": args[0], "rc": rc, "problem": problem,
                             "stderr": err[:2000]})
        if err and max(len(ln) for ln in err.splitlines()) > 1000:
            problems.append({"command": args[0], "problem": "error line over 1000 chars"})
    if os.path.isdir(rt.root) and os.listdir(rt.root):
        problems.append({"problem": f"state root not empty: {os.listdir(rt.root)[:5]}"})
        for left in os.listdir(rt.root):
            _run(rt, ["delete", "--force", left.encode("utf-8", "surrogateescape")])
    pids = _procs_of(rt)
    if pids:
        problems.append({"problem": f"processes left: {sorted(pids)}"})
    if problems:
        findings.add(id=_short(cid, 200), problems=problems)
