"""`ocirt validate` predicts exactly the errors of `ocirt create` (issue 16 §2).

Every config that a test gives create to refuse (the cases are read from
those tests' own parametrize marks, not copied), plus the cases of this
issue and the valid corpus, is given to both. The rule, strict:

- create fails with one line L: validate exits 1 and has an error finding f
  with L == f"{f.path}: {f.message}" (an error of the container's setup,
  which names its JSON path), or L == f"{config.json}: {f.path}: {f.message}"
  (a config error, which names the file too), or L == f.message for a
  finding at "$" (the bundle itself: a config.json that cannot be read);
- create succeeds: validate exits 0 and reports no error.

Exceptions, each with its reason, in EXCEPTIONS below.
"""
import glob
import json
import os
import socket
import subprocess

import pytest

from tests.differential.conftest import corpus_names, load_config
from tests.differential.harness import strip_capture_keys
from tests.integration import test_errors, test_validate
from tests.integration.conftest import base_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNIT_DATA = os.path.join(ROOT, "tests", "unit", "data")


def _marked(fn, argname):
    """The values of a test's parametrize mark for argname (the first column)."""
    for mark in getattr(fn, "pytestmark", ()):
        if mark.name == "parametrize" and mark.args[0].split(",")[0] == argname:
            return [v[0] if isinstance(v, tuple) else v for v in mark.args[1]]
    raise LookupError(f"{fn.__name__} has no parametrize mark for {argname}")


def _args(program):
    return lambda c: c["process"].update(args=[program])


def _resources(**res):
    return lambda c: c["linux"].setdefault("resources", {}).update(res)


def _mount(**m):
    return lambda c: c["mounts"].append(m)


def _userns(c):
    c["linux"]["namespaces"].append({"type": "user"})
    c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]


def _without_mount_ns(c):
    _userns(c)
    c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "mount"]


# this cases: what validate missed, and what resources.apply refuses here
OWN = {
    "bind-source": _mount(destination="/x", type="bind", source="/no/such/dir",
                          options=["rbind"]),
    "bind-source-userns": lambda c: (_userns(c), _mount(
        destination="/x", type="bind", source="/no/such/dir", options=["rbind"])(c)),
    "fstype": _mount(destination="/y", type="nosuchfs", source="none"),
    "fuse-subtype": _mount(destination="/y", type="nosuchfs.sub", source="none"),
    "sysctl-unknown": lambda c: c["linux"].update(sysctl={"net.ipv4.no_such": "1"}),
    "sysctl-device": lambda c: c["linux"].update(
        sysctl={"net.ipv4.conf.eth0.forwarding": "1"}),
    "sysctl-known": lambda c: c["linux"].update(sysctl={"net.ipv4.ip_forward": "1"}),
    "terminal-without-socket": lambda c: c["process"].update(terminal=True),
    "hugetlb-size": _resources(hugepageLimits=[{"pageSize": "3MB", "limit": 1}]),
    "hugetlb-2MB": _resources(hugepageLimits=[{"pageSize": "2MB", "limit": 2097152}]),
    "rdma": _resources(rdma={"mlx5_0": {"hcaHandles": 3}}),
    "unified": _resources(unified={"memory.no_such": "1"}),
    "swap": _resources(memory={"limit": 100000000, "swap": 200000000}),
    "swap-unlimited": _resources(memory={"limit": 100000000, "swap": -1}),
    "swap-below-limit": _resources(memory={"limit": 100000000, "swap": 1000}),
    "swappiness": _resources(memory={"swappiness": 101}),
    "realtime": _resources(cpu={"realtimeRuntime": 1000, "realtimePeriod": 1000000}),
    "pids": _resources(pids={"limit": 10}),
    "cpu": _resources(cpu={"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"}),
    "blkio-weight": _resources(blockIO={"weight": 500}),
    "user-without-mount-ns": _without_mount_ns,
    "systemd-path": lambda c: c["linux"].update(cgroupsPath="system.slice:ocirt:x"),
    "seccomp-arch": lambda c: c["linux"].update(seccomp={
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_NOSUCH"]}),
    "seccomp-unknown-syscall": lambda c: c["linux"].update(seccomp={
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["no_such_syscall"], "action": "SCMP_ACT_ERRNO"}]}),
    "rlimit-above-nr-open": lambda c: c["process"]["rlimits"].__setitem__(
        0, {"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1 << 40}),
}



def _set(path, value):
    """conformance/cases/bundle.py's set_fields, for one dotted path."""
    def edit(c):
        node = c
        keys = path.split(".")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return edit


def _hook(script, **extra):
    """A prestart hook running `sh -c script` (written where the test runs)."""
    return lambda c: c.setdefault("hooks", {}).update(
        prestart=[dict({"path": "/bin/sh", "args": ["sh", "-c", script]}, **extra)])


# the refusals of the conformance suite's cases (conformance/cases/*.py, by
# requirement id; the suite's checks are functions, not data: their configs
# are written out here)
CONFORMANCE = {
    "config.process.rlimits-unknown-errors": _set(
        "process.rlimits", [{"type": "RLIMIT_NOSUCH", "soft": 1, "hard": 1}]),
    "config.process.rlimits-duplicate-errors": _set("process.rlimits", [
        {"type": "RLIMIT_NOFILE", "soft": 10, "hard": 10},
        {"type": "RLIMIT_NOFILE", "soft": 20, "hard": 20}]),
    "config-linux.namespaces.path-type-mismatch": _set("linux.namespaces", [
        {"type": "mount"}, {"type": "network", "path": "/proc/self/ns/uts"}]),
    "config-linux.namespaces.duplicate-errors": _set("linux.namespaces", [
        {"type": "mount"}, {"type": "pid"}, {"type": "pid"}]),
    "config-linux.paths.relative-rejected-masked": _set("linux.maskedPaths", ["proc/kcore"]),
    "config-linux.paths.relative-rejected-readonly": _set("linux.readonlyPaths",
                                                          ["proc/kcore"]),
    "config-linux.seccomp.unknown-action-errors": _set(
        "linux.seccomp", {"defaultAction": "SCMP_ACT_NOPE"}),
    "config-linux.resources.unavailable-errors": _set(
        "linux.resources", {"network": {"classID": 1048577}}),
    "runtime.create.unknown-namespace": _set("linux.namespaces", [
        {"type": "mount"}, {"type": "no-such-namespace"}]),
    "runtime.create.missing-rootfs-errors": _set("root.path", "/no/such/rootfs"),
    "config.hooks.prestart-failure": _hook("exit 3"),
    "config.hooks.timeout": _hook("sleep 30", timeout=1),
}

CASES = {}
for i, edit in enumerate(_marked(test_errors.test_schema_and_semantic_errors_name_the_json_path,
                                 "edit")):
    CASES[f"errors-schema-{i}"] = edit
for i, edit in enumerate(_marked(test_errors.test_late_failures_clean_up_everything, "edit")):
    CASES[f"errors-late-{i}"] = edit
for i, edit in enumerate(_marked(
        test_errors.test_config_checks_once_made_after_the_fork_come_before_it, "edit")):
    CASES[f"errors-config-{i}"] = edit
for program in _marked(test_errors.test_a_program_that_cannot_run_is_told_in_runcs_words,
                       "program"):
    CASES[f"errors-program-{program}"] = _args(program)
for i, (edit, _) in enumerate(test_validate.BAD):
    CASES[f"validate-bad-{i}"] = edit
CASES.update(OWN)
CASES.update({f"conformance-{k}": v for k, v in CONFORMANCE.items()})

# case -> (why validate cannot tell create's outcome without creating, what
# validate says instead). Kept short: each is create meeting something only
# running it can find, or create called otherwise than validate was.
EXCEPTIONS = {
    # create refuses terminal:true without --console-socket; validate is run
    # as engines call create (with a socket exactly when terminal is true)
    # unless told --console-socket, and says so in a warning instead
    "terminal-without-socket": (
        "validate assumes the engine's --console-socket",
        lambda found: any(f["severity"] == "warning" and "--console-socket" in f["message"]
                          for f in found)),
    # a hook's outcome is known by running it, which validate must not do
    "conformance-config.hooks.prestart-failure": (
        "a hook fails only when it runs", lambda found: True),
    "conformance-config.hooks.timeout": (
        "a hook outlives its timeout only when it runs", lambda found: True),
}


def _bundle(rt, cfg):
    b = rt.tmp / f"p{len(os.listdir(rt.tmp))}"
    b.mkdir()
    (b / "config.json").write_text(json.dumps(cfg))
    return b


def _probes_left():
    """validate's probe cgroups (ocirt.validate._sample) still in a hierarchy's root."""
    left = []
    for top in glob.glob("/sys/fs/cgroup/*/") + ["/sys/fs/cgroup/"]:
        left += glob.glob(os.path.join(top, "ocirt-validate-*"))
    return left


def predict(rt, bundle, create_args=(), validate_args=(), global_args=()):
    """Run validate then create on bundle; assert the rule of this module."""
    v = rt(*global_args, "validate", "--bundle", bundle, "--format", "json", *validate_args)
    assert "Traceback" not in v.stderr and v.stderr == "", v.stderr
    assert _probes_left() == [], "validate left a probe cgroup"
    found = json.loads(v.stdout)
    errors = [f for f in found if f["severity"] == "error"]
    cid = rt.new_id()
    c = rt(*global_args, "create", "--bundle", bundle, *create_args, cid)
    if c.returncode == 0:
        rt("delete", "--force", cid, check=True)
        assert errors == [] and v.returncode == 0, ("create succeeded", found)
        return found
    lines = c.stderr.splitlines()
    assert c.returncode == 1 and len(lines) == 1, c.stderr
    line = lines[0]
    cfg_path = os.path.join(str(bundle), "config.json")
    told = [f for f in errors
            if line in (f"{f['path']}: {f['message']}",
                        f"{cfg_path}: {f['path']}: {f['message']}")
            or (f["path"] == "$" and line == f["message"])]
    assert told and v.returncode == 1, ("create said", line, "validate said", found)
    rt.assert_nothing_left()
    return found


@pytest.mark.parametrize("name", sorted(CASES))
def test_validate_predicts_create(rt, name):
    cfg = base_config(rt.rootfs, ["true"])
    CASES[name](cfg)
    b = _bundle(rt, cfg)
    if name in EXCEPTIONS:
        # still checked: create fails, validate finds no error, and says what it says
        v = rt("validate", "--bundle", b, "--format", "json")
        c = rt("create", "--bundle", b, rt.new_id(), timeout=30)
        found = json.loads(v.stdout)
        assert c.returncode == 1 and v.returncode == 0, (c.stderr, found)
        assert EXCEPTIONS[name][1](found), found
        rt.assert_nothing_left()
        return
    predict(rt, b)


def _listening(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.listen(1)
    return s


def test_terminal_and_console_socket_as_create_gets_them(rt):
    """Told create's --console-socket, validate predicts create exactly."""
    sock_path = rt.tmp / "console.sock"
    with _listening(sock_path):
        cfg = base_config(rt.rootfs, ["true"])
        found = predict(rt, _bundle(rt, cfg), ("--console-socket", sock_path),
                        ("--console-socket", sock_path))
        assert any("--console-socket given" in f["message"] for f in found)
        cfg["process"]["terminal"] = True
        predict(rt, _bundle(rt, cfg), ("--console-socket", sock_path),
                ("--console-socket", sock_path))
    missing = rt.tmp / "no-such.sock"
    found = predict(rt, _bundle(rt, cfg), ("--console-socket", missing),
                    ("--console-socket", missing))
    assert found


def test_a_masked_path_through_a_symlink(rt, tmp_path):
    """conformance config-linux.paths.symlink-rejected: a masked or read-only
    path that is a link in the rootfs."""
    rootfs = tmp_path / "link-rootfs"
    subprocess.run(["cp", "-a", "--one-file-system", rt.rootfs, rootfs], check=True)
    os.symlink("/etc", rootfs / "link")
    for key in ("maskedPaths", "readonlyPaths"):
        cfg = base_config(str(rootfs), ["true"])
        cfg["linux"][key] = ["/link"]
        predict(rt, _bundle(rt, cfg))


def test_systemd_cgroup_as_create_gets_it(rt):
    """--systemd-cgroup (a global flag), given to both: on a host without
    systemd both refuse it; with it, a systemd cgroupsPath is create's."""
    cfg = base_config(rt.rootfs, ["true"])
    cfg["linux"]["cgroupsPath"] = f"system.slice:ocirt:{rt.new_id()}"
    predict(rt, _bundle(rt, cfg), global_args=("--systemd-cgroup",))


def test_a_missing_bundle_and_bad_json(rt):
    predict(rt, rt.tmp / "nothing")
    b = rt.tmp / "badjson"
    b.mkdir()
    (b / "config.json").write_text("{")
    predict(rt, b)


# ---- the valid corpus: what create takes, validate takes

def engine_bundle(rt, cfg):
    """A bundle of an engine's config as the differential harness makes one:
    the shared rootfs, `true` to run, no terminal (create would need a
    socket: covered above), its bind sources made (files/<name>: a file, or
    a directory where the capture says so; an absolute one of another host
    becomes one of those), its cgroup leaf unique."""
    cfg = json.loads(json.dumps(cfg))
    b = rt.tmp / f"e{len(os.listdir(rt.tmp))}"
    (b / "files").mkdir(parents=True)
    for m in cfg.get("mounts", []):
        bind = m.get("type") == "bind" or {"bind", "rbind"} & set(m.get("options") or ())
        src = m.get("source", "")
        if not bind or src.startswith(("/sys", "/proc", "/dev")):
            continue
        if src.startswith("/"):
            src = m["source"] = "files/" + os.path.basename(src)
        if src.startswith("files/"):
            path = b / src
            if m.get("x-capture-kind") == "dir" or "." not in os.path.basename(src) and \
                    os.path.basename(src) in ("shm", "volume", "testing", "x", "data"):
                path.mkdir(exist_ok=True)
            else:
                path.write_text("x\n")
    cfg = strip_capture_keys(cfg)
    cfg["root"] = dict(cfg.get("root", {}), path="rootfs")
    cfg["process"]["args"] = ["true"]
    cfg["process"]["terminal"] = False
    linux = cfg.get("linux", {})
    if linux.get("cgroupsPath"):
        linux["cgroupsPath"] = os.path.dirname(linux["cgroupsPath"].rstrip("/")) + "/" + \
            rt.new_id()
    (b / "config.json").write_text(json.dumps(cfg))
    os.symlink(rt.rootfs, b / "rootfs")
    return b


def _as_bundle(rt, cfg):
    b = engine_bundle(rt, cfg)
    assert "error" not in [f["severity"] for f in json.loads(
        rt("validate", "--bundle", b, "--format", "json").stdout)], "a corpus config"
    return b


def _spec(rt, program, *flags):
    d = rt.tmp / f"spec{len(os.listdir(rt.tmp))}"
    d.mkdir()
    subprocess.run([program, "spec", *flags], cwd=d, check=True)
    return json.loads((d / "config.json").read_text())


@pytest.mark.parametrize("name", corpus_names())
def test_the_engines_corpus(rt, name):
    predict(rt, _as_bundle(rt, load_config(name)))


@pytest.mark.parametrize("name", sorted(n for n in os.listdir(UNIT_DATA)
                                        if n.startswith("config-")))
def test_the_unit_data(rt, name):
    """The unit tests' samples (of other hosts: hooks, cpus, devices that
    may not be here): whatever create makes of them, validate foretells."""
    with open(os.path.join(UNIT_DATA, name)) as f:
        predict(rt, engine_bundle(rt, json.load(f)))


@pytest.mark.parametrize("program,flags", [
    ("ocirt", ()), ("ocirt", ("--rootless",)), ("ocirt", ("--hardened",)),
    ("runc", ()), ("runc", ("--rootless",))])
def test_spec_templates(rt, program, flags):
    if program == "ocirt":
        program = os.path.join(ROOT, ".venv", "bin", "ocirt")
    predict(rt, _as_bundle(rt, _spec(rt, program, *flags)))
