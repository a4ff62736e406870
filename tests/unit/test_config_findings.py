"""ocirt.config's typed records and findings(): every problem of a config,
known before anything is created (the checks that ran after the fork, in
the container's setup processes, included), and parse raising the first.

No root, no shim: the checks that consult a mechanism (ocirt.linux.sched,
mempolicy, capabilities) import nothing that needs the C shim.
"""
import copy
import json
import os

import pytest
from hypothesis import given, settings, strategies as st

from ocirt import config, defaults
from ocirt.config import Finding
from ocirt.errors import ConfigError

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = ("config-full.json", "config-podman.json", "config-runc-spec.json")


def sample(name):
    with open(os.path.join(HERE, "data", name)) as f:
        return json.load(f)


def spec(edit=None):
    doc = defaults.spec()
    if edit is not None:
        edit(doc)
    return doc


def _userns(doc, uid_size=1000, gid_size=1000):
    """A new user namespace mapping container ids 0..size-1."""
    doc["linux"]["namespaces"].append({"type": "user"})
    doc["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": uid_size}]
    doc["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": gid_size}]


def _time_offsets(doc, offsets):
    doc["linux"]["namespaces"].append({"type": "time"})
    doc["linux"]["timeOffsets"] = offsets


NOTIFY_RULE = {"names": ["mknod"], "action": "SCMP_ACT_NOTIFY"}


# ---------------------------------------------------------------- records

@pytest.mark.parametrize("name", SAMPLES)
def test_config_is_hashable_and_equal_by_value(name):
    a = config.parse(sample(name), "/b")
    b = config.parse(sample(name), "/b")
    assert a == b and hash(a) == hash(b)
    assert len({a, b}) == 1
    assert a.replace(hostname="other") != a
    # raw is outside equality; an edited record has none (its to_json would lie)
    assert a.replace(hostname="other").raw is None
    with pytest.raises(ValueError):
        a.replace(hostname="other").to_json()


def test_every_section_has_its_record():
    cfg = config.parse(sample("config-full.json"), "/b")
    p = cfg.process
    assert p.console_size == config.ConsoleSize(25, 80)
    assert p.exec_cpu_affinity == config.ExecCPUAffinity("7", "0-3,7")
    assert p.scheduler == config.Scheduler(
        "SCHED_DEADLINE", -5, 0, ("SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_RECLAIM"),
        10000000, 30000000, 30000000)
    assert p.io_priority == config.IOPriority("IOPRIO_CLASS_IDLE", 4)
    assert p.apparmor_profile == "acme_secure_profile"
    assert p.selinux_label.startswith("system_u:system_r:svirt_lxc_net_t")
    assert cfg.personality == config.Personality("LINUX32", ())
    assert cfg.time_offsets == (config.TimeOffset("monotonic", 172800, 0),
                                config.TimeOffset("boottime", -604800, 999999999))
    assert cfg.memory_policy == config.MemoryPolicy("MPOL_INTERLEAVE", "2-3",
                                                    ("MPOL_F_STATIC_NODES",))
    assert cfg.mount_label.startswith("system_u:object_r:svirt_sandbox_file_t")
    sec = cfg.seccomp
    assert sec.default_action == "SCMP_ACT_ALLOW" and sec.default_errno_ret == 1
    assert sec.listener_path == "/run/seccomp-agent.socket" and sec.notify
    assert "SCMP_ARCH_X86_64" in sec.architectures
    assert sec.syscalls[0] == config.Syscall(("getcwd", "chmod"), "SCMP_ACT_ERRNO", 13, ())
    with_args = [r for r in sec.syscalls if r.args]
    assert with_args and all(isinstance(a, config.SyscallArg) and isinstance(a.value, int)
                             for r in with_args for a in r.args)


def test_absent_sections_are_none_or_empty():
    cfg = config.parse(spec(), "/b")
    assert cfg.seccomp is None and cfg.personality is None and cfg.memory_policy is None
    assert cfg.time_offsets == () and cfg.mount_label is None and not cfg.hooks
    p = cfg.process
    assert (p.console_size, p.exec_cpu_affinity, p.scheduler, p.io_priority,
            p.apparmor_profile, p.selinux_label) == (None,) * 6


def test_integral_floats_of_the_new_records_become_ints():
    def edit(d):
        d["process"]["consoleSize"] = {"height": 24.0, "width": 80.0}
        d["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1.0,
             "args": [{"index": 0.0, "value": 9.0, "op": "SCMP_CMP_EQ"}]}]}
    cfg = config.parse(spec(edit), "/b")
    assert cfg.process.console_size == config.ConsoleSize(24, 80)
    rule = cfg.seccomp.syscalls[0]
    assert rule.errno_ret == 1 and type(rule.errno_ret) is int
    assert rule.args == (config.SyscallArg(0, 9, 0, "SCMP_CMP_EQ"),)
    assert all(type(v) is int for v in (rule.args[0].index, rule.args[0].value))


def test_hooks_read_as_a_mapping_of_points():
    cfg = config.parse(sample("config-full.json"), "/b")
    assert list(cfg.hooks) == list(config.HOOK_POINTS)
    assert "prestart" in cfg.hooks and "nonsense" not in cfg.hooks
    assert cfg.hooks["poststart"][0].timeout == 5
    assert cfg.hooks.get("prestart")[1].path == "/usr/bin/setup-network"
    assert cfg.hooks.get("nonsense", ()) == ()
    with pytest.raises(KeyError):
        cfg.hooks["nonsense"]
    assert isinstance(cfg.hooks.points, tuple) and hash(cfg.hooks)
    empty = config.parse(spec(), "/b").hooks
    assert not empty and len(empty) == 0 and empty.get("poststop", ()) == ()


def test_replace_makes_an_edited_copy():
    """exec gives its process the caller's terminal size this way."""
    cfg = config.parse(spec(), "/b")
    size = config.ConsoleSize(40, 120)
    edited = cfg.replace(process=cfg.process.replace(console_size=size))
    assert edited.process.console_size == size and cfg.process.console_size is None
    assert edited.process.args == cfg.process.args
    with pytest.raises(TypeError):
        cfg.replace(no_such_field=1)


def test_to_json_is_the_document_as_checked():
    doc = sample("config-full.json")
    assert json.loads(config.parse(doc, "/b").to_json()) == doc


# ---------------------------------------------------------------- findings

# (edit of the default spec, JSON path, message): each one problem that used
# to be found after the fork (or in create), now a finding of its own
ONE_PROBLEM = {
    "unknown capability": (
        lambda d: d["process"]["capabilities"].update(permitted=["CAP_KILL", "CAP_NOPE"]),
        "$.process.capabilities.permitted[1]", "unknown capability 'CAP_NOPE'"),
    "unknown ambient capability": (
        lambda d: d["process"]["capabilities"].update(ambient=["cap_kill"]),
        "$.process.capabilities.ambient[0]", "unknown capability 'cap_kill'"),
    "unknown clock": (
        lambda d: _time_offsets(d, {"monotonic": {"secs": 1}, "realtime": {"secs": 1}}),
        "$.linux.timeOffsets.realtime", "unknown clock 'realtime'"),
    "personality flags": (
        lambda d: d["linux"].update(personality={"domain": "LINUX", "flags": ["X"]}),
        "$.linux.personality.flags", "personality flags are not supported"),
    "unmapped uid": (
        lambda d: (_userns(d), d["process"]["user"].update(uid=1000)),
        "$.process.user.uid",
        "uid 1000 is not mapped in the new user namespace ($.linux.uidMappings)"),
    "unmapped gid": (
        lambda d: (_userns(d, gid_size=1), d["process"]["user"].update(gid=1)),
        "$.process.user.gid",
        "gid 1 is not mapped in the new user namespace ($.linux.gidMappings)"),
    "unmapped additional gid": (
        lambda d: (_userns(d), d["process"]["user"].update(additionalGids=[10, 5000])),
        "$.process.user.additionalGids[1]",
        "gid 5000 is not mapped in the new user namespace ($.linux.gidMappings)"),
    "user namespace without a mount namespace": (
        lambda d: (_userns(d), d["linux"].update(namespaces=[
            n for n in d["linux"]["namespaces"] if n["type"] != "mount"])),
        "$.linux.namespaces", "a user namespace needs a mount namespace too: its root "
                              "cannot mount the rootfs in the runtime's"),
    "hostname too long": (
        lambda d: d.update(hostname="h" * 65),
        "$.hostname", "65 bytes long: the kernel takes at most 64"),
    "domainname too long": (
        lambda d: d.update(domainname="é" * 33),
        "$.domainname", "66 bytes long: the kernel takes at most 64"),
    "CPU list naming no CPU": (
        lambda d: d["process"].update(execCPUAffinity={"initial": "3-1"}),
        "$.process.execCPUAffinity.initial", "'3-1' names no CPU"),
    "blank CPU list": (
        lambda d: d["process"].update(execCPUAffinity={"final": " "}),
        "$.process.execCPUAffinity.final", "' ' names no CPU"),
    "memory policy without nodes": (
        lambda d: d["linux"].update(memoryPolicy={"mode": "MPOL_BIND"}),
        "$.linux.memoryPolicy.nodes", "MPOL_BIND needs at least one node"),
    "memory policy flags": (
        lambda d: d["linux"].update(memoryPolicy={
            "mode": "MPOL_BIND", "nodes": "0",
            "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]}),
        "$.linux.memoryPolicy.flags",
        "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other"),
    "notify without listener": (
        lambda d: d["linux"].update(seccomp={"defaultAction": "SCMP_ACT_ALLOW",
                                             "syscalls": [NOTIFY_RULE]}),
        "$.linux.seccomp", "SCMP_ACT_NOTIFY needs a listenerPath"),
    "killable wait without notify": (
        lambda d: d["linux"].update(seccomp={
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}),
        "$.linux.seccomp.flags",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV applies only to filters with SCMP_ACT_NOTIFY"),
}


@pytest.mark.parametrize("name", list(ONE_PROBLEM))
def test_each_check_is_a_finding_before_anything_is_made(name):
    edit, path, message = ONE_PROBLEM[name]
    doc = spec(edit)
    found = config.findings(doc)
    assert [f.replace(section="") for f in found] == [Finding(path, message, "error")]
    assert found[0].section.startswith(("config.md#", "config-linux.md#")), found
    with pytest.raises(ConfigError) as e:
        config.parse(doc, "/b", source="/b/config.json")
    assert str(e.value) == f"/b/config.json: {path}: {message}"


@pytest.mark.parametrize("edit", [
    # a joined user namespace: its mappings are not the config's to know
    lambda d: d["linux"]["namespaces"].append({"type": "user", "path": "/proc/1/ns/user"})
    or d["process"]["user"].update(uid=5000),
    # the uid inside a second range; additional gids inside the map
    lambda d: (_userns(d), d["linux"]["uidMappings"].append(
        {"containerID": 5000, "hostID": 300000, "size": 1}),
        d["process"]["user"].update(uid=5000, gid=999, additionalGids=[0, 999])),
    lambda d: d["linux"].update(personality={"domain": "LINUX32", "flags": []}),
    lambda d: _time_offsets(d, {"monotonic": {"secs": 1}, "boottime": {"nanosecs": 2}}),
    lambda d: d["process"].update(execCPUAffinity={"initial": "0", "final": ""}),
    lambda d: d["linux"].update(seccomp={"defaultAction": "SCMP_ACT_ALLOW",
                                         "listenerPath": "/run/agent.sock",
                                         "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                                         "syscalls": [NOTIFY_RULE]}),
])
def test_what_the_kernel_takes_has_no_finding(edit):
    doc = spec(edit)
    assert config.findings(doc) == []
    config.parse(doc, "/b")


def test_a_schema_violation_is_the_one_finding():
    """The semantic checks read documents of the schema's shape only."""
    doc = spec(lambda d: d.update(hostname=5, domainname="d" * 100))
    assert config.findings(doc) == [Finding("$.hostname", "expected string, got integer",
                                            section="config.md#hostname")]
    assert config.findings([]) == [Finding("$", "expected object", section="config.md")]
    assert config.findings(spec()) == []


def test_a_finding_is_a_record():
    f = Finding("$.x", "bad")
    assert f.severity == "error" and f == Finding("$.x", "bad", "error", "") and hash(f)


def test_a_finding_names_the_spec_section_of_its_rule():
    """Each check has its section; a schema violation, the field's."""
    assert set(config.SECTIONS) == set(config.CHECKS)
    ns = spec(lambda d: d["linux"]["namespaces"].append({"type": "pid"}))
    assert [f.section for f in config.findings(ns)] == ["config-linux.md#namespaces"]
    assert config.section_of("$.linux.resources.memory.limit") == \
        "config-linux.md#control-groups"
    assert config.section_of("$.processes") == "config.md"
    assert config.section_of("$.mounts[3].source") == "config.md#mounts"


# (edit, JSON path) of independent problems, each in its own part of the
# config: they can all be in one document, and none hides another
def _append(key, item, suffix):
    def edit(d):
        items = d.setdefault(key, [])
        items.append(item)
        return f"$.{key}[{len(items) - 1}]{suffix}"
    return edit


def _proc_append(key, item, suffix=""):
    def edit(d):
        items = d["process"].setdefault(key, [])
        items.append(item)
        return f"$.process.{key}[{len(items) - 1}]{suffix}"
    return edit


def _set(where, path, **values):
    def edit(d):
        target = d
        for k in where:
            target = target.setdefault(k, {})
        target.update(values)
        return path
    return edit


def _twice(d):
    namespaces = d["linux"]["namespaces"]
    namespaces.append({"type": "pid"})
    return f"$.linux.namespaces[{len(namespaces) - 1}].type"


def _bad_cap(d):
    bounding = d["process"]["capabilities"]["bounding"]
    bounding.append("CAP_NO_SUCH")
    return f"$.process.capabilities.bounding[{len(bounding) - 1}]"


def _bad_clock(d):
    _time_offsets(d, {"bogus": {"secs": 1}})
    return "$.linux.timeOffsets.bogus"


def _unmapped_uid(d):
    _userns(d, uid_size=1)
    d["process"]["user"]["uid"] = 7
    return "$.process.user.uid"


INDEPENDENT = [
    _twice,
    _set([], "$.hostname", hostname="h" * 70),
    _append("mounts", {"destination": "/a/../b", "type": "tmpfs", "source": "tmpfs"},
            ".destination"),
    _append("mounts", {"destination": "/m", "type": "bind"}, ".source"),
    _proc_append("env", "NOEQUALS"),
    _proc_append("rlimits", {"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}, ".type"),
    _set(["linux", "sysctl"], "$.linux.sysctl['vm.swappiness']", **{"vm.swappiness": "1"}),
    _set(["hooks"], "$.hooks.prestart[0].env[0]", prestart=[{"path": "/bin/true",
                                                             "env": ["=v"]}]),
    _bad_cap,
    _bad_clock,
    _set(["linux", "personality"], "$.linux.personality.flags", domain="LINUX", flags=["F"]),
    _unmapped_uid,
    _set(["process", "execCPUAffinity"], "$.process.execCPUAffinity.final", final="9-2"),
    _set(["linux", "memoryPolicy"], "$.linux.memoryPolicy.nodes", mode="MPOL_LOCAL",
         nodes="0"),
    _set(["linux", "seccomp"], "$.linux.seccomp", defaultAction="SCMP_ACT_NOTIFY"),
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(range(len(INDEPENDENT))), min_size=2, max_size=8,
                unique=True))
def test_findings_lists_every_problem_and_parse_raises_the_first(picked):
    doc = defaults.spec()
    paths = {INDEPENDENT[i](doc) for i in picked}
    original = copy.deepcopy(doc)
    found = config.findings(doc)
    assert doc == original, "findings modified its input"
    assert {f.path for f in found} == paths, found
    assert len(found) == len(paths) and all(f.severity == "error" for f in found)
    with pytest.raises(ConfigError) as e:
        config.parse(doc, "/b", source="/b/config.json")
    assert str(e.value) == f"/b/config.json: {found[0].path}: {found[0].message}"
