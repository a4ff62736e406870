"""Tests for ocirt's own JSON Schemas (schemas/*.json), runtime-spec v1.3.0.

The schemas are read by ocirt.jsonschema_lite at run time, so besides checking
what they accept and reject (with the jsonschema library, Draft 7), these
tests pin the schema *language*: each file is self-contained and uses only
the keyword subset the lite validator implements.
"""
import copy
import functools
import json
import os
import re
import sys

import pytest
from jsonschema import Draft7Validator

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SCHEMA_DIR = os.path.join(ROOT, "schemas")
DATA_DIR = os.path.join(HERE, "data")

DRAFT7 = "http://json-schema.org/draft-07/schema#"
SCHEMAS = ("config", "state", "features")

ALLOWED_KEYWORDS = frozenset({
    "$schema", "$id", "description", "title", "definitions", "$ref", "type",
    "properties", "required", "additionalProperties", "items", "enum", "const",
    "pattern", "minimum", "maximum", "minLength", "minItems", "maxItems",
    "uniqueItems", "oneOf", "anyOf", "allOf",
})
ALLOWED_TYPES = frozenset({"object", "array", "string", "integer", "number", "boolean", "null"})
# Draft 7 ignores every keyword beside $ref; the lite validator does not.
# Only annotations may therefore sit next to a $ref.
REF_SIBLINGS = frozenset({"$ref", "description", "title"})
REF_RE = re.compile(r"^#/definitions/[A-Za-z0-9_]+$")

UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1


# ---------------------------------------------------------------- helpers

@functools.lru_cache(maxsize=None)
def _schema_text(kind):
    with open(os.path.join(SCHEMA_DIR, f"{kind}-schema.json")) as f:
        return f.read()


def schema(kind):
    """A fresh copy of schemas/<kind>-schema.json."""
    return json.loads(_schema_text(kind))


@functools.lru_cache(maxsize=None)
def validator(kind):
    return Draft7Validator(schema(kind))


def data(name):
    with open(os.path.join(DATA_DIR, name)) as f:
        return json.load(f)


def errors(kind, doc):
    return sorted(validator(kind).iter_errors(doc), key=lambda e: list(e.absolute_path))


def assert_valid(kind, doc):
    errs = errors(kind, doc)
    assert not errs, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errs)


def assert_invalid(kind, doc):
    assert errors(kind, doc), f"{kind} schema accepted an invalid document"


def walk(node, path="#"):
    """Yield (json-pointer, subschema) for every subschema of node."""
    yield path, node
    if not isinstance(node, dict):
        return
    for kw in ("properties", "definitions"):
        for name, sub in (node.get(kw) or {}).items():
            yield from walk(sub, f"{path}/{kw}/{name}")
    for kw in ("items", "additionalProperties"):
        if isinstance(node.get(kw), dict):
            yield from walk(node[kw], f"{path}/{kw}")
    for kw in ("anyOf", "oneOf", "allOf"):
        for i, sub in enumerate(node.get(kw) or ()):
            yield from walk(sub, f"{path}/{kw}/{i}")


def deref(root, node):
    while "$ref" in node:
        node = root["definitions"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def resolve(root, dotted):
    """Follow a dotted property path through the schema.

    ``[]`` steps into array items, ``*`` into map values.
    """
    node = deref(root, root)
    for token in dotted.split("."):
        if token == "[]":
            node = node["items"]
        elif token == "*":
            node = node["additionalProperties"]
        else:
            node = node["properties"][token]
        node = deref(root, node)
    return node


def _split(path):
    return [int(p) if p.isdigit() else p for p in path.split(".")]


def setp(path, value):
    """Mutation: set the value at a dotted path (list indices are numbers)."""
    def fn(doc):
        keys = _split(path)
        cur = doc
        for k in keys[:-1]:
            if isinstance(k, str) and k not in cur:
                cur[k] = {}
            cur = cur[k]
        cur[keys[-1]] = value
    return fn


def delp(path):
    """Mutation: delete the value at a dotted path."""
    def fn(doc):
        keys = _split(path)
        cur = doc
        for k in keys[:-1]:
            cur = cur[k]
        del cur[keys[-1]]
    return fn


def mutated(doc, *fns):
    doc = copy.deepcopy(doc)
    for fn in fns:
        fn(doc)
    return doc


def lite_validator(kind):
    """ocirt's runtime validator, or skip when it cannot be imported."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    lite = pytest.importorskip("ocirt.jsonschema_lite")
    return lite, lite.Validator(schema(kind))


def lite_accepts(kind, doc):
    lite, v = lite_validator(kind)
    try:
        v.validate(doc)
    except lite.Invalid:
        return False
    return True


# ------------------------------------------------------- schema language

@pytest.mark.parametrize("kind", SCHEMAS)
def test_schema_is_valid_draft7(kind):
    s = schema(kind)
    Draft7Validator.check_schema(s)
    assert s["$schema"] == DRAFT7
    assert s.get("$id")
    assert s["type"] == "object"


@pytest.mark.parametrize("kind", SCHEMAS)
def test_schema_uses_only_allowed_keywords(kind):
    bad = [(path, sorted(set(node) - ALLOWED_KEYWORDS))
           for path, node in walk(schema(kind))
           if set(node) - ALLOWED_KEYWORDS]
    assert not bad, f"unsupported keywords: {bad}"


@pytest.mark.parametrize("kind", SCHEMAS)
def test_schema_structure_fits_the_lite_validator(kind):
    root = schema(kind)
    for path, node in walk(root):
        assert isinstance(node, dict), f"{path}: boolean schemas are not supported"
        if path != "#":
            assert "$schema" not in node and "$id" not in node, path
            assert "definitions" not in node, f"{path}: definitions belong at the root"
        if "$ref" in node:
            assert REF_RE.match(node["$ref"]), f"{path}: non-local $ref {node['$ref']}"
            assert set(node) <= REF_SIBLINGS, f"{path}: keywords beside $ref: {sorted(node)}"
        if "type" in node:
            types = node["type"] if isinstance(node["type"], list) else [node["type"]]
            assert types and set(types) <= ALLOWED_TYPES, f"{path}: type {node['type']}"
        if "additionalProperties" in node:
            ap = node["additionalProperties"]
            assert isinstance(ap, dict), f"{path}: additionalProperties must be a schema"
            assert "properties" not in node, f"{path}: additionalProperties is for maps only"
        if "items" in node:
            assert isinstance(node["items"], dict), f"{path}: items must be one schema"
        if "required" in node:
            req = node["required"]
            assert req and all(isinstance(r, str) for r in req), path
            assert len(set(req)) == len(req), f"{path}: duplicate required names"
            if "properties" in node and "type" in node:
                missing = set(req) - set(node["properties"])
                assert not missing, f"{path}: required but undeclared: {missing}"
        if "enum" in node:
            assert node["enum"] and len(set(map(json.dumps, node["enum"]))) == len(node["enum"])
            assert all(isinstance(v, str) for v in node["enum"]), \
                f"{path}: only string enums (the lite validator compares with ==)"
        if "minimum" in node and "maximum" in node:
            assert node["minimum"] <= node["maximum"], path
        for kw in ("anyOf", "oneOf", "allOf"):
            if kw in node:
                assert isinstance(node[kw], list) and node[kw], f"{path}: {kw}"


@pytest.mark.parametrize("kind", SCHEMAS)
def test_patterns_are_anchored_python_regexes(kind):
    for path, node in walk(schema(kind)):
        if "pattern" in node:
            p = node["pattern"]
            re.compile(p)
            assert p.startswith("^"), f"{path}: pattern {p!r} is not anchored"


@pytest.mark.parametrize("kind", SCHEMAS)
def test_refs_resolve_and_every_definition_is_used(kind):
    root = schema(kind)
    defs = root.get("definitions", {})
    used = set()
    for path, node in walk(root):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            assert name in defs, f"{path}: dangling $ref {node['$ref']}"
            used.add(name)
    assert set(defs) == used, f"unused definitions: {sorted(set(defs) - used)}"


def test_integer_definitions_have_exact_ranges():
    d = schema("config")["definitions"]
    assert (d["uint16"]["minimum"], d["uint16"]["maximum"]) == (0, 65535)
    assert (d["uint32"]["minimum"], d["uint32"]["maximum"]) == (0, UINT32_MAX)
    assert (d["uint64"]["minimum"], d["uint64"]["maximum"]) == (0, UINT64_MAX)
    assert (d["int32"]["minimum"], d["int32"]["maximum"]) == (-2**31, 2**31 - 1)
    assert (d["int64"]["minimum"], d["int64"]["maximum"]) == (-2**63, 2**63 - 1)
    for name in ("uint16", "uint32", "uint64", "int32", "int64"):
        assert d[name]["type"] == "integer"


# The config fields the schema must describe (runtime-spec 1.3.0 config.md,
# config-linux.md); [] steps into arrays, * into maps.
CONFIG_FIELDS = """
ociVersion root.path root.readonly hostname domainname annotations
mounts.[].destination mounts.[].source mounts.[].options mounts.[].type
mounts.[].uidMappings.[].containerID mounts.[].gidMappings.[].size
process.terminal process.consoleSize.height process.consoleSize.width process.cwd
process.env process.args process.commandLine process.rlimits.[].type
process.rlimits.[].soft process.rlimits.[].hard process.apparmorProfile
process.capabilities.effective process.capabilities.bounding
process.capabilities.inheritable process.capabilities.permitted
process.capabilities.ambient process.noNewPrivileges process.oomScoreAdj
process.scheduler.policy process.scheduler.nice process.scheduler.priority
process.scheduler.flags process.scheduler.runtime process.scheduler.deadline
process.scheduler.period process.selinuxLabel process.ioPriority.class
process.ioPriority.priority process.execCPUAffinity.initial
process.execCPUAffinity.final process.user.uid process.user.gid process.user.umask
process.user.additionalGids process.user.username
hooks.prestart.[].path hooks.createRuntime.[].args hooks.createContainer.[].env
hooks.startContainer.[].timeout hooks.poststart.[].path hooks.poststop.[].path
linux.namespaces.[].type linux.namespaces.[].path
linux.uidMappings.[].containerID linux.uidMappings.[].hostID linux.uidMappings.[].size
linux.gidMappings.[].hostID linux.timeOffsets.*.secs linux.timeOffsets.*.nanosecs
linux.devices.[].type linux.devices.[].path linux.devices.[].major
linux.devices.[].minor linux.devices.[].fileMode linux.devices.[].uid
linux.devices.[].gid linux.netDevices.*.name linux.cgroupsPath
linux.resources.devices.[].allow linux.resources.devices.[].type
linux.resources.devices.[].major linux.resources.devices.[].minor
linux.resources.devices.[].access linux.resources.memory.limit
linux.resources.memory.reservation linux.resources.memory.swap
linux.resources.memory.kernel linux.resources.memory.kernelTCP
linux.resources.memory.swappiness linux.resources.memory.disableOOMKiller
linux.resources.memory.useHierarchy linux.resources.memory.checkBeforeUpdate
linux.resources.cpu.shares linux.resources.cpu.quota linux.resources.cpu.burst
linux.resources.cpu.period linux.resources.cpu.realtimeRuntime
linux.resources.cpu.realtimePeriod linux.resources.cpu.cpus linux.resources.cpu.mems
linux.resources.cpu.idle linux.resources.blockIO.weight linux.resources.blockIO.leafWeight
linux.resources.blockIO.weightDevice.[].weight
linux.resources.blockIO.weightDevice.[].leafWeight
linux.resources.blockIO.throttleReadBpsDevice.[].rate
linux.resources.blockIO.throttleWriteBpsDevice.[].major
linux.resources.blockIO.throttleReadIOPSDevice.[].minor
linux.resources.blockIO.throttleWriteIOPSDevice.[].rate
linux.resources.hugepageLimits.[].pageSize linux.resources.hugepageLimits.[].limit
linux.resources.network.classID linux.resources.network.priorities.[].name
linux.resources.network.priorities.[].priority linux.resources.pids.limit
linux.resources.rdma.*.hcaHandles linux.resources.rdma.*.hcaObjects
linux.resources.unified linux.intelRdt.closID linux.intelRdt.l3CacheSchema
linux.intelRdt.memBwSchema linux.intelRdt.schemata linux.intelRdt.enableMonitoring
linux.memoryPolicy.mode linux.memoryPolicy.nodes linux.memoryPolicy.flags
linux.sysctl linux.seccomp.defaultAction linux.seccomp.defaultErrnoRet
linux.seccomp.architectures linux.seccomp.flags linux.seccomp.listenerPath
linux.seccomp.listenerMetadata linux.seccomp.syscalls.[].names
linux.seccomp.syscalls.[].action linux.seccomp.syscalls.[].errnoRet
linux.seccomp.syscalls.[].args.[].index linux.seccomp.syscalls.[].args.[].value
linux.seccomp.syscalls.[].args.[].valueTwo linux.seccomp.syscalls.[].args.[].op
linux.rootfsPropagation linux.maskedPaths linux.readonlyPaths linux.mountLabel
linux.personality.domain linux.personality.flags
windows solaris vm zos
""".split()


@pytest.mark.parametrize("field", CONFIG_FIELDS)
def test_config_schema_describes_field(field):
    resolve(schema("config"), field)


# Spec: REQUIRED fields of each structure.
REQUIRED = {
    "Root": ["path"],
    "Mount": ["destination"],
    "Process": ["cwd"],
    "ConsoleSize": ["height", "width"],
    "Rlimit": ["type", "soft", "hard"],
    "Scheduler": ["policy"],
    "IOPriority": ["class", "priority"],
    "Hook": ["path"],
    "IDMapping": ["containerID", "hostID", "size"],
    "Namespace": ["type"],
    "Device": ["type", "path"],
    "DeviceCgroup": ["allow"],
    "WeightDevice": ["major", "minor"],
    "ThrottleDevice": ["major", "minor", "rate"],
    "HugepageLimit": ["pageSize", "limit"],
    "NetworkInterfacePriority": ["name", "priority"],
    "MemoryPolicy": ["mode"],
    "Seccomp": ["defaultAction"],
    "Syscall": ["names", "action"],
    "SyscallArg": ["index", "value", "op"],
    "Personality": ["domain"],
}


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_config_required_fields_match_spec(name):
    node = schema("config")["definitions"][name]
    assert sorted(node.get("required", [])) == sorted(REQUIRED[name])


def test_config_top_level_requires_only_ociVersion():
    assert schema("config")["required"] == ["ociVersion"]


ENUMS = {
    "NamespaceType": ["pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"],
    "SeccompAction": ["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                      "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW",
                      "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY"],
    "SeccompOperator": ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ",
                        "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"],
    "SeccompArch": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM",
                    "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64",
                    "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64",
                    "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64",
                    "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X",
                    "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",
                    "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K", "SCMP_ARCH_SH",
                    "SCMP_ARCH_SHEB"],
    "SeccompFlag": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                    "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
    # The spec's four, plus the recursive forms runc accepts.
    "RootfsPropagation": ["private", "shared", "slave", "unbindable",
                          "rprivate", "rshared", "rslave", "runbindable"],
    "DeviceType": ["c", "b", "u", "p"],
    "SchedulerPolicy": ["SCHED_OTHER", "SCHED_FIFO", "SCHED_RR", "SCHED_BATCH", "SCHED_ISO",
                        "SCHED_IDLE", "SCHED_DEADLINE"],
    "SchedulerFlag": ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_RECLAIM",
                      "SCHED_FLAG_DL_OVERRUN", "SCHED_FLAG_KEEP_POLICY",
                      "SCHED_FLAG_KEEP_PARAMS", "SCHED_FLAG_UTIL_CLAMP_MIN",
                      "SCHED_FLAG_UTIL_CLAMP_MAX"],
    "PersonalityDomain": ["LINUX", "LINUX32"],
    "MemoryPolicyMode": ["MPOL_DEFAULT", "MPOL_BIND", "MPOL_INTERLEAVE",
                         "MPOL_WEIGHTED_INTERLEAVE", "MPOL_PREFERRED", "MPOL_PREFERRED_MANY",
                         "MPOL_LOCAL"],
    "MemoryPolicyFlag": ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES",
                         "MPOL_F_STATIC_NODES"],
}


@pytest.mark.parametrize("name", sorted(ENUMS))
def test_config_enumerations_match_spec(name):
    assert sorted(schema("config")["definitions"][name]["enum"]) == sorted(ENUMS[name])


def test_config_small_enumerations_match_spec():
    c = schema("config")
    assert sorted(resolve(c, "process.ioPriority.class")["enum"]) == [
        "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE", "IOPRIO_CLASS_RT"]
    assert sorted(resolve(c, "linux.resources.devices.[].type")["enum"]) == ["a", "b", "c"]
    assert sorted(resolve(c, "hooks")["properties"]) == sorted(
        ["prestart", "createRuntime", "createContainer", "startContainer", "poststart",
         "poststop"])


@pytest.mark.parametrize("name", ["NamespaceType", "SeccompAction", "SeccompOperator",
                                  "SeccompArch", "SeccompFlag", "MemoryPolicyMode",
                                  "MemoryPolicyFlag"])
def test_features_enumerations_match_config(name):
    assert schema("features")["definitions"][name]["enum"] == \
        schema("config")["definitions"][name]["enum"]


def test_state_status_values():
    assert schema("state")["definitions"]["Status"]["enum"] == [
        "creating", "created", "running", "stopped", "paused"]


# ------------------------------------------------------------- config.json

GOOD_CONFIGS = ["config-runc-spec.json", "config-podman.json", "config-full.json"]


@pytest.mark.parametrize("name", GOOD_CONFIGS)
def test_sample_config_validates(name):
    assert_valid("config", data(name))


GOOD_VERSIONS = ["1.0.0", "1.0.1", "1.0.2", "1.0.2-dev", "1.0.0-rc5-dev", "1.1.0",
                 "1.1.0-rc.1", "1.1.0+dev", "1.2.0", "1.2.1", "1.3.0", "1.3.0+dev",
                 "1.3.0-rc.1+build.7", "1.3.12"]
BAD_VERSIONS = ["2.0.0", "0.9.0", "0.5.0-dev", "1.4.0", "1.10.0", "10.3.0", "abc", "",
                "1", "1.3", "1.3.0.0", "v1.3.0", "01.3.0", "1.03.0", "1.3.01", " 1.3.0",
                "1.3.0 ", "1.3.0-", "1.3.0+", "1.3.0-rc..1", "1.3.0-rc!", "1.3.x"]


@pytest.mark.parametrize("version", GOOD_VERSIONS)
def test_config_accepts_ociVersion(version):
    assert_valid("config", mutated(data("config-runc-spec.json"), setp("ociVersion", version)))


@pytest.mark.parametrize("version", BAD_VERSIONS)
def test_config_rejects_ociVersion(version):
    assert_invalid("config", mutated(data("config-runc-spec.json"), setp("ociVersion", version)))


def test_config_minimal_without_process():
    # process is only needed by `start`; create can go without it.
    assert_valid("config", {"ociVersion": "1.3.0", "root": {"path": "rootfs"}})


def test_config_accepts_unknown_properties_everywhere():
    doc = mutated(
        data("config-full.json"),
        setp("x-top", {"anything": [1, 2]}),
        setp("plan9", {}),
        setp("process.x-proc", True),
        setp("process.user.x-user", "u"),
        setp("process.capabilities.x-caps", ["CAP_X"]),
        setp("process.rlimits.0.x-rl", 1),
        setp("root.x-root", None),
        setp("mounts.0.x-mount", 1.5),
        setp("hooks.x-hookset", []),
        setp("hooks.prestart.0.x-hook", {}),
        setp("linux.x-linux", "x"),
        setp("linux.namespaces.0.x-ns", 0),
        setp("linux.devices.0.x-dev", 0),
        setp("linux.resources.x-res", {}),
        setp("linux.resources.memory.x-mem", -1),
        setp("linux.resources.cpu.x-cpu", "x"),
        setp("linux.seccomp.x-sc", {}),
        setp("linux.seccomp.syscalls.0.x-sys", {}),
        setp("linux.seccomp.syscalls.2.args.0.x-arg", {}),
        setp("linux.intelRdt.x-rdt", {}),
        setp("linux.memoryPolicy.x-mpol", {}),
    )
    assert_valid("config", doc)


def _windows_config(doc):
    """A Windows target: no root, commandLine instead of args, username only."""
    del doc["root"]
    doc["windows"] = {"layerFolders": ["C:\\layers\\1"]}
    doc["process"] = {"cwd": "C:\\", "commandLine": "cmd.exe /c dir",
                      "user": {"username": "ContainerUser"}}


ACCEPTED_CONFIGS = [
    ("pipe-device-without-major-minor",
     setp("linux.devices", [{"type": "p", "path": "/dev/fifo"}])),
    ("pids-without-limit", setp("linux.resources.pids", {})),
    ("pids-unlimited", setp("linux.resources.pids", {"limit": -1})),
    ("memory-unlimited", setp("linux.resources.memory", {"limit": -1, "swap": -1})),
    ("empty-arrays-and-maps", setp("linux", {"namespaces": [], "maskedPaths": [],
                                             "sysctl": {}, "netDevices": {}})),
    ("rlimit-uint64-max", setp("process.rlimits.0",
                               {"type": "RLIMIT_NOFILE", "soft": UINT64_MAX,
                                "hard": UINT64_MAX})),
    ("uid-uint32-max", setp("process.user.uid", UINT32_MAX)),
    ("hook-without-optional-fields", setp("hooks", {"poststop": [{"path": "/bin/true"}]})),
    ("integral-float", setp("process.user.gid", 5.0)),
    ("relative-mount-destination", setp("mounts.0.destination", "proc")),
    ("mount-without-source-and-type", setp("mounts.0", {"destination": "/x"})),
    ("seccomp-only-defaultAction", setp("linux.seccomp", {"defaultAction": "SCMP_ACT_LOG"})),
    ("netns-by-path", setp("linux.namespaces.1", {"type": "network",
                                                  "path": "/var/run/netns/blue"})),
    ("empty-cpu-affinity-final", setp("process.execCPUAffinity", {"final": ""})),
    ("windows-without-root-with-commandLine", _windows_config),
]


@pytest.mark.parametrize("fn", [c[1] for c in ACCEPTED_CONFIGS],
                         ids=[c[0] for c in ACCEPTED_CONFIGS])
def test_config_accepts_edge_case(fn):
    assert_valid("config", mutated(data("config-runc-spec.json"), fn))


BAD_CONFIGS = [
    ("missing-ociVersion", delp("ociVersion")),
    ("ociVersion-not-string", setp("ociVersion", 1.3)),
    ("root-not-object", setp("root", "rootfs")),
    # root
    ("root-missing", delp("root")),
    ("root-without-path", setp("root", {"readonly": True})),
    ("root-path-not-string", setp("root.path", 7)),
    ("root-readonly-not-bool", setp("root.readonly", "yes")),
    # mounts
    ("mounts-not-array", setp("mounts", {"destination": "/proc"})),
    ("mount-missing-destination", delp("mounts.0.destination")),
    ("mount-options-not-strings", setp("mounts.1.options", ["nosuid", 1])),
    ("mount-idmap-missing-size", setp("mounts.0.uidMappings", [{"containerID": 0,
                                                                "hostID": 1}])),
    # process
    ("process-missing-cwd", delp("process.cwd")),
    ("process-relative-cwd", setp("process.cwd", "tmp")),
    ("process-missing-args", delp("process.args")),
    ("process-empty-args", setp("process.args", [])),
    ("process-args-not-strings", setp("process.args", ["sh", 1])),
    ("process-env-not-array", setp("process.env", "PATH=/bin")),
    ("terminal-not-bool", setp("process.terminal", 1)),
    ("consoleSize-missing-width", setp("process.consoleSize", {"height": 25})),
    ("uid-negative", setp("process.user.uid", -1)),
    ("uid-not-integer", setp("process.user.uid", "0")),
    ("uid-boolean", setp("process.user.uid", True)),
    ("uid-fraction", setp("process.user.uid", 1.5)),
    ("gid-above-uint32", setp("process.user.gid", UINT32_MAX + 1)),
    ("user-missing-uid", delp("process.user.uid")),
    ("additionalGids-negative", setp("process.user.additionalGids", [5, -6])),
    ("umask-negative", setp("process.user.umask", -1)),
    ("rlimit-missing-hard", delp("process.rlimits.0.hard")),
    ("rlimit-missing-soft", delp("process.rlimits.0.soft")),
    ("rlimit-missing-type", delp("process.rlimits.0.type")),
    ("rlimit-bad-type", setp("process.rlimits.0.type", "NOFILE")),
    ("rlimit-negative", setp("process.rlimits.0.soft", -1)),
    ("rlimit-above-uint64", setp("process.rlimits.0.hard", UINT64_MAX + 1)),
    ("capabilities-not-object", setp("process.capabilities", ["CAP_KILL"])),
    ("capability-set-not-array", setp("process.capabilities.bounding", "CAP_KILL")),
    ("oomScoreAdj-out-of-range", setp("process.oomScoreAdj", 1001)),
    ("scheduler-missing-policy", setp("process.scheduler", {"nice": 1})),
    ("scheduler-bad-policy", setp("process.scheduler", {"policy": "SCHED_FAIR"})),
    ("scheduler-bad-flag", setp("process.scheduler", {"policy": "SCHED_OTHER",
                                                      "flags": ["SCHED_FLAG_X"]})),
    ("ioPriority-bad-class", setp("process.ioPriority", {"class": "IOPRIO_CLASS_NONE",
                                                         "priority": 0})),
    ("ioPriority-missing-priority", setp("process.ioPriority", {"class": "IOPRIO_CLASS_BE"})),
    ("ioPriority-priority-8", setp("process.ioPriority", {"class": "IOPRIO_CLASS_BE",
                                                          "priority": 8})),
    ("execCPUAffinity-garbage", setp("process.execCPUAffinity", {"initial": "0-3;7"})),
    # hooks
    ("hooks-not-object", setp("hooks", [])),
    ("hooks-entry-not-array", setp("hooks", {"prestart": {"path": "/bin/true"}})),
    ("hook-missing-path", setp("hooks", {"poststart": [{"args": ["x"]}]})),
    ("hook-relative-path", setp("hooks", {"createRuntime": [{"path": "bin/true"}]})),
    ("hook-timeout-zero", setp("hooks", {"poststop": [{"path": "/bin/true", "timeout": 0}]})),
    # annotations / hostname
    ("annotations-value-not-string", setp("annotations", {"a": 1})),
    ("annotations-not-object", setp("annotations", ["a=b"])),
    ("hostname-not-string", setp("hostname", 42)),
    # linux
    ("linux-not-object", setp("linux", [])),
    ("namespace-type-bogus", setp("linux.namespaces.0.type", "bogus")),
    ("namespace-missing-type", setp("linux.namespaces.0", {"path": "/proc/1/ns/pid"})),
    ("namespace-relative-path", setp("linux.namespaces.1", {"type": "network",
                                                            "path": "run/netns/x"})),
    ("namespaces-not-array", setp("linux.namespaces", {"type": "pid"})),
    ("uidMapping-missing-size", setp("linux.uidMappings", [{"containerID": 0,
                                                            "hostID": 1000}])),
    ("gidMapping-negative-host", setp("linux.gidMappings", [{"containerID": 0,
                                                             "hostID": -1, "size": 1}])),
    ("timeOffsets-negative-nanosecs", setp("linux.timeOffsets", {"monotonic":
                                                                 {"nanosecs": -1}})),
    ("device-missing-type", setp("linux.devices", [{"path": "/dev/fuse", "major": 10,
                                                    "minor": 229}])),
    ("device-missing-path", setp("linux.devices", [{"type": "c", "major": 1, "minor": 3}])),
    ("device-bad-type", setp("linux.devices", [{"type": "x", "path": "/dev/x", "major": 1,
                                                "minor": 3}])),
    ("char-device-without-major", setp("linux.devices", [{"type": "c", "path": "/dev/x",
                                                          "minor": 3}])),
    ("netDevices-name-not-string", setp("linux.netDevices", {"eth0": {"name": 23}})),
    ("cgroup-device-missing-allow", setp("linux.resources.devices", [{"access": "rwm"}])),
    ("cgroup-device-bad-access", setp("linux.resources.devices", [{"allow": True,
                                                                   "access": "rwx"}])),
    ("cgroup-device-bad-type", setp("linux.resources.devices", [{"allow": True,
                                                                 "type": "u"}])),
    ("memory-limit-above-int64", setp("linux.resources.memory", {"limit": 2**63})),
    ("memory-limit-string", setp("linux.resources.memory", {"limit": "1G"})),
    ("cpu-shares-negative", setp("linux.resources.cpu", {"shares": -1})),
    ("blkio-weight-above-uint16", setp("linux.resources.blockIO", {"weight": 65536})),
    ("weightDevice-without-weight", setp("linux.resources.blockIO",
                                         {"weightDevice": [{"major": 8, "minor": 0}]})),
    ("throttle-missing-rate", setp("linux.resources.blockIO",
                                   {"throttleReadBpsDevice": [{"major": 8, "minor": 0}]})),
    ("hugepage-lowercase-unit", setp("linux.resources.hugepageLimits",
                                     [{"pageSize": "64kB", "limit": 1}])),
    ("hugepage-missing-limit", setp("linux.resources.hugepageLimits", [{"pageSize": "2MB"}])),
    ("network-priority-missing-name", setp("linux.resources.network",
                                           {"priorities": [{"priority": 1}]})),
    ("pids-limit-string", setp("linux.resources.pids", {"limit": "max"})),
    ("rdma-entry-empty", setp("linux.resources.rdma", {"mlx5_1": {}})),
    ("rdma-not-uint32", setp("linux.resources.rdma", {"mlx5_1": {"hcaHandles": "3"}})),
    ("unified-value-not-string", setp("linux.resources.unified", {"pids.max": 10})),
    ("intelRdt-memBwSchema-without-MB", setp("linux.intelRdt", {"memBwSchema": "L3:0=1"})),
    ("intelRdt-memBwSchema-multiline", setp("linux.intelRdt",
                                            {"memBwSchema": "MB:0=20\nMB:1=70"})),
    ("intelRdt-schemata-string", setp("linux.intelRdt", {"schemata": "L3:0=7f0"})),
    ("intelRdt-schemata-newline", setp("linux.intelRdt", {"schemata": ["L3:0=7f0\nMB:0=1"]})),
    ("memoryPolicy-missing-mode", setp("linux.memoryPolicy", {"nodes": "0"})),
    ("memoryPolicy-bad-mode", setp("linux.memoryPolicy", {"mode": "MPOL_RANDOM"})),
    ("memoryPolicy-bad-flag", setp("linux.memoryPolicy", {"mode": "MPOL_BIND", "nodes": "0",
                                                          "flags": ["MPOL_F_BOGUS"]})),
    ("memoryPolicy-bad-nodes", setp("linux.memoryPolicy", {"mode": "MPOL_BIND",
                                                           "nodes": "zero"})),
    ("sysctl-value-not-string", setp("linux.sysctl", {"net.ipv4.ip_forward": 1})),
    ("seccomp-missing-defaultAction", setp("linux.seccomp", {"syscalls": []})),
    ("seccomp-unknown-defaultAction", setp("linux.seccomp", {"defaultAction": "SCMP_ACT_BOGUS"})),
    ("seccomp-unknown-arch", setp("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW",
                                                    "architectures": ["SCMP_ARCH_Z80"]})),
    ("seccomp-unknown-flag", setp("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW",
                                                    "flags": ["SECCOMP_FILTER_FLAG_X"]})),
    ("seccomp-negative-errno", setp("linux.seccomp", {"defaultAction": "SCMP_ACT_ERRNO",
                                                      "defaultErrnoRet": -1})),
    ("syscall-unknown-action", setp("linux.seccomp", {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_DENY"}]})),
    ("syscall-missing-names", setp("linux.seccomp", {
        "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ERRNO"}]})),
    ("syscall-empty-names", setp("linux.seccomp", {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]})),
    ("syscall-missing-action", setp("linux.seccomp", {
        "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mount"]}]})),
    ("syscall-arg-bad-op", setp("linux.seccomp", {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                      "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_LIKE"}]}]})),
    ("syscall-arg-missing-value", setp("linux.seccomp", {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                      "args": [{"index": 1, "op": "SCMP_CMP_EQ"}]}]})),
    ("rootfsPropagation-bogus", setp("linux.rootfsPropagation", "bogus")),
    ("maskedPaths-relative", setp("linux.maskedPaths", ["proc/kcore"])),
    ("readonlyPaths-not-strings", setp("linux.readonlyPaths", [1])),
    ("personality-bad-domain", setp("linux.personality", {"domain": "LINUX64"})),
    ("personality-missing-domain", setp("linux.personality", {"flags": []})),
    ("cgroupsPath-not-string", setp("linux.cgroupsPath", ["a"])),
]


@pytest.mark.parametrize("fn", [c[1] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS])
def test_config_rejects(fn):
    assert_invalid("config", mutated(data("config-runc-spec.json"), fn))


@pytest.mark.parametrize("fn", [c[1] for c in BAD_CONFIGS + ACCEPTED_CONFIGS],
                         ids=[c[0] for c in BAD_CONFIGS + ACCEPTED_CONFIGS])
def test_lite_validator_agrees_on_config(fn):
    doc = mutated(data("config-runc-spec.json"), fn)
    assert lite_accepts("config", doc) == (not errors("config", doc))


@pytest.mark.parametrize("name", GOOD_CONFIGS)
def test_lite_validator_accepts_sample_config(name):
    assert lite_accepts("config", data(name))


# -------------------------------------------------------------- state JSON

def test_sample_state_validates():
    assert_valid("state", data("state-running.json"))


ACCEPTED_STATES = [
    ("creating-without-pid", lambda d: d.update(status="creating") or d.pop("pid")),
    ("stopped-without-pid", lambda d: d.update(status="stopped") or d.pop("pid")),
    ("stopped-with-pid", setp("status", "stopped")),
    ("created-with-pid", setp("status", "created")),
    ("without-annotations", delp("annotations")),
    ("extra-properties", lambda d: d.update({"x-ocirt": {"rootless": False},
                                             "created": "2025-01-01T00:00:00Z"})),
]

BAD_STATES = [
    ("created-without-pid", lambda d: d.update(status="created") or d.pop("pid")),
    ("running-without-pid", delp("pid")),
    ("unknown-status", setp("status", "frozen")),
    ("missing-ociVersion", delp("ociVersion")),
    ("bad-ociVersion", setp("ociVersion", "one")),
    ("missing-id", delp("id")),
    ("empty-id", setp("id", "")),
    ("missing-status", delp("status")),
    ("missing-bundle", delp("bundle")),
    ("relative-bundle", setp("bundle", "containers/redis")),
    ("negative-pid", setp("pid", -1)),
    ("pid-string", setp("pid", "4422")),
    ("annotations-value-not-string", setp("annotations", {"k": 1})),
]


@pytest.mark.parametrize("fn", [c[1] for c in ACCEPTED_STATES],
                         ids=[c[0] for c in ACCEPTED_STATES])
def test_state_accepts(fn):
    assert_valid("state", mutated(data("state-running.json"), fn))


@pytest.mark.parametrize("fn", [c[1] for c in BAD_STATES], ids=[c[0] for c in BAD_STATES])
def test_state_rejects(fn):
    assert_invalid("state", mutated(data("state-running.json"), fn))


@pytest.mark.parametrize("fn", [c[1] for c in ACCEPTED_STATES + BAD_STATES],
                         ids=[c[0] for c in ACCEPTED_STATES + BAD_STATES])
def test_lite_validator_agrees_on_state(fn):
    doc = mutated(data("state-running.json"), fn)
    assert lite_accepts("state", doc) == (not errors("state", doc))


# ---------------------------------------------------------- features JSON

def test_sample_features_validates():
    assert_valid("features", data("features.json"))


def test_features_minimal():
    assert_valid("features", {"ociVersionMin": "1.0.0", "ociVersionMax": "1.3.0"})


def test_features_accepts_null_for_every_optional_property():
    doc = {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.3.0",
        "hooks": None,
        "mountOptions": None,
        "annotations": None,
        "potentiallyUnsafeConfigAnnotations": None,
        "linux": {
            "namespaces": None,
            "capabilities": None,
            "cgroup": {"v1": None, "v2": None, "systemd": None, "systemdUser": None,
                       "rdma": None},
            "seccomp": {"enabled": None, "actions": None, "operators": None, "archs": None,
                        "knownFlags": None, "supportedFlags": None},
            "apparmor": {"enabled": None},
            "selinux": None,
            "intelRdt": {"enabled": None, "schemata": None, "monitoring": None},
            "memoryPolicy": {"modes": None, "flags": None},
            "mountExtensions": {"idmap": None},
            "netDevices": {"enabled": None},
        },
    }
    assert_valid("features", doc)
    assert_valid("features", dict(doc, linux=None))


BAD_FEATURES = [
    ("missing-ociVersionMin", delp("ociVersionMin")),
    ("missing-ociVersionMax", delp("ociVersionMax")),
    ("null-ociVersionMax", setp("ociVersionMax", None)),
    ("bad-ociVersionMin", setp("ociVersionMin", "1.0")),
    ("unknown-hook", setp("hooks", ["prestart", "prerun"])),
    ("mountOptions-not-strings", setp("mountOptions", ["ro", 1])),
    ("unknown-namespace", setp("linux.namespaces", ["pid", "bogus"])),
    ("capability-lowercase", setp("linux.capabilities", ["cap_chown"])),
    ("cgroup-v2-string", setp("linux.cgroup.v2", "yes")),
    ("unknown-seccomp-action", setp("linux.seccomp.actions", ["SCMP_ACT_BOGUS"])),
    ("unknown-seccomp-operator", setp("linux.seccomp.operators", ["SCMP_CMP_LIKE"])),
    ("unknown-seccomp-arch", setp("linux.seccomp.archs", ["SCMP_ARCH_Z80"])),
    ("unknown-seccomp-flag", setp("linux.seccomp.supportedFlags", ["SECCOMP_FILTER_FLAG_X"])),
    ("apparmor-enabled-int", setp("linux.apparmor.enabled", 1)),
    ("intelRdt-monitoring-string", setp("linux.intelRdt.monitoring", "true")),
    ("unknown-memoryPolicy-mode", setp("linux.memoryPolicy.modes", ["MPOL_RANDOM"])),
    ("idmap-not-object", setp("linux.mountExtensions.idmap", True)),
    ("annotations-value-not-string", setp("annotations", {"k": True})),
    ("unsafe-annotations-not-array", setp("potentiallyUnsafeConfigAnnotations", "org.")),
]

ACCEPTED_FEATURES = [
    ("extra-properties", lambda d: d.update({"x-future": 1}) or
     d["linux"].update({"landlock": {"enabled": True}})),
    ("no-linux", delp("linux")),
    ("empty-lists", setp("linux.seccomp.supportedFlags", [])),
]


@pytest.mark.parametrize("fn", [c[1] for c in BAD_FEATURES], ids=[c[0] for c in BAD_FEATURES])
def test_features_rejects(fn):
    assert_invalid("features", mutated(data("features.json"), fn))


@pytest.mark.parametrize("fn", [c[1] for c in ACCEPTED_FEATURES],
                         ids=[c[0] for c in ACCEPTED_FEATURES])
def test_features_accepts(fn):
    assert_valid("features", mutated(data("features.json"), fn))


@pytest.mark.parametrize("fn", [c[1] for c in BAD_FEATURES + ACCEPTED_FEATURES],
                         ids=[c[0] for c in BAD_FEATURES + ACCEPTED_FEATURES])
def test_lite_validator_agrees_on_features(fn):
    doc = mutated(data("features.json"), fn)
    assert lite_accepts("features", doc) == (not errors("features", doc))
