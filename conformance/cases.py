"""The requirements of runtime-spec v1.3.0, each with a check through the CLI.

Ids are <document>.<field or operation>.<what>. Levels are the spec's words
(MUST, SHOULD, MAY); "runc" marks behaviour the spec leaves open where runc
is the reference engines expect.
"""
import json
import os
import subprocess
import tempfile

from harness import CHECKER, Fail, Skip, eq, mounts, requirement

MASK = (1 << 29) | (1 << 5) | (1 << 10)  # AUDIT_WRITE, KILL, NET_BIND_SERVICE


def _edit(**fields):
    """An edit that sets dotted paths, e.g. _edit(**{"process.cwd": "/tmp"})."""
    def edit(cfg):
        for path, value in fields.items():
            node = cfg
            keys = path.split(".")
            for k in keys[:-1]:
                node = node.setdefault(k, {})
            node[keys[-1]] = value
    return edit


def _shared(case, name="shared"):
    d = os.path.join(case.dir, name)
    os.mkdir(d)
    os.chmod(d, 0o777)
    return d


def _bind(cfg, src, dst, opts=("rbind", "rw")):
    cfg["mounts"].append({"destination": dst, "type": "bind", "source": src,
                          "options": list(opts)})


def _cgroup_mounts():
    """{controller: mount point} of the cgroup hierarchies mounted here, from
    /proc/self/mountinfo ("unified" for cgroup2). Directory names under
    /sys/fs/cgroup do not count: after podman ran on a hybrid host, plain
    unmounted hugetlb, net_cls, net_prio and perf_event directories are there."""
    out = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fstype, _src, sup = (right.split() + ["", "", ""])[:3]
            mp = left.split()[4]
            if fstype == "cgroup2":
                out.setdefault("unified", mp)
            elif fstype == "cgroup":
                for opt in sup.split(","):
                    out.setdefault(opt, mp)
    return out


def _v2_offers(ctrl):
    """True if the cgroup2 tree mounted here offers ctrl."""
    mp = _cgroup_mounts().get("unified")
    try:
        with open(f"{mp}/cgroup.controllers") as f:
            return ctrl in f.read().split()
    except (OSError, TypeError):
        return False


def _v1(ctrl):
    """True if ctrl is mounted as a cgroup v1 hierarchy."""
    return ctrl != "unified" and ctrl in _cgroup_mounts()


# ==== runtime.md: state and lifecycle ===============================================

STATE_KEYS = ("ociVersion", "id", "status", "pid", "bundle")


@requirement("runtime.state.fields", "runtime.md", "MUST",
             "state has ociVersion, id, status, pid (created/running), bundle (absolute), "
             "annotations when given")
def _(t):
    cid = t.create(("sleep", "100"), _edit(annotations={"org.example.k": "v"}))
    st = t.state(cid)
    for k in STATE_KEYS:
        if k not in st:
            raise Fail(f"state has no {k}")
    eq(st["id"], cid, "id")
    eq(st["status"], "created", "status")
    if not (isinstance(st["pid"], int) and st["pid"] > 0):
        raise Fail(f"pid {st['pid']!r}")
    if not os.path.isabs(st["bundle"]):
        raise Fail(f"bundle {st['bundle']!r} is not absolute")
    eq(st.get("annotations"), {"org.example.k": "v"}, "annotations")


@requirement("runtime.state.schema", "runtime.md", "MUST",
             "the state validates against the state schema")
def _(t):
    import jsonschema
    with open(os.path.join(os.path.dirname(__file__), "..", "schemas",
                           "state-schema.json")) as f:
        schema = json.load(f)
    cid = t.create(("sleep", "100"))
    jsonschema.validate(t.state(cid), schema)
    t.ok("start", cid)
    jsonschema.validate(t.state(cid), schema)


@requirement("runtime.state.status-lifecycle", "runtime.md", "MUST",
             "status is created after create, running after start, stopped after the "
             "process exits")
def _(t):
    cid = t.create(("sleep", "100"))
    eq(t.state(cid)["status"], "created", "after create")
    t.ok("start", cid)
    eq(t.state(cid)["status"], "running", "after start")
    t.ok("kill", cid, "KILL")
    t.wait_stopped(cid)
    eq(t.state(cid)["status"], "stopped", "after exit")


@requirement("runtime.state.unknown-id-errors", "runtime.md", "MUST",
             "state of a container that does not exist is an error")
def _(t):
    t.fails("state", "cf-no-such-container")


@requirement("runtime.create.duplicate-id-errors", "runtime.md", "MUST",
             "create with an id already in use is an error, and the first is unaffected")
def _(t):
    cid = t.create(("sleep", "100"))
    pid = t.state(cid)["pid"]
    t.fails("create", "--bundle", t.bundle(("sleep", "100")), cid)
    st = t.state(cid)
    eq((st["status"], st["pid"]), ("created", pid), "the first container")


@requirement("runtime.create.process-not-run", "runtime.md", "MUST",
             "create does not run process.args; start does")
def _(t):
    d = _shared(t)
    cid = t.create(("touch", "/shared/ran"), lambda c: _bind(c, d, "/shared"))
    if os.path.exists(os.path.join(d, "ran")):
        raise Fail("process.args ran before start")
    t.ok("start", cid)
    t.wait_stopped(cid)
    if not os.path.exists(os.path.join(d, "ran")):
        raise Fail("process.args did not run after start")


@requirement("runtime.create.config-changes-ignored", "runtime.md", "MUST",
             "changes to config.json after create do not affect the container")
def _(t):
    d = _shared(t)
    bundle = t.bundle(("touch", "/shared/original"), lambda c: _bind(c, d, "/shared"))
    cid = t.new_id()
    t.ok("create", "--bundle", bundle, cid)
    with open(os.path.join(bundle, "config.json")) as f:
        cfg = json.load(f)
    cfg["process"]["args"] = ["touch", "/shared/changed"]
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(cfg, f)
    t.ok("start", cid)
    t.wait_stopped(cid)
    eq(sorted(os.listdir(d)), ["original"], "files made by the process")


@requirement("runtime.create.invalid-config-errors", "runtime.md", "MUST",
             "create with a config the runtime cannot apply is an error and leaves no "
             "container")
def _(t):
    cid = t.new_id()
    t.fails("create", "--bundle", t.bundle(edit=_edit(**{"linux.namespaces": [
        {"type": "mount"}, {"type": "no-such-namespace"}]})), cid)
    t.fails("state", cid)


@requirement("runtime.create.missing-rootfs-errors", "runtime.md", "MUST",
             "create with a root.path that does not exist is an error")
def _(t):
    cid = t.new_id()
    t.fails("create", "--bundle", t.bundle(edit=_edit(**{"root.path": "/no/such/rootfs"})),
            cid)
    t.fails("state", cid)


@requirement("runtime.start.not-created-errors", "runtime.md", "MUST",
             "start of a container that is not created (running, stopped) is an error")
def _(t):
    cid = t.create(("sleep", "100"))
    t.ok("start", cid)
    t.fails("start", cid)
    t.ok("kill", cid, "KILL")
    t.wait_stopped(cid)
    t.fails("start", cid)


@requirement("runtime.start.unknown-id-errors", "runtime.md", "MUST",
             "start of a container that does not exist is an error")
def _(t):
    t.fails("start", "cf-no-such-container")


@requirement("runtime.kill.delivers-signal", "runtime.md", "MUST",
             "kill sends the signal to the container's process")
def _(t):
    d = _shared(t)
    cid = t.create(("sh", "-c", "trap 'echo got-term > /shared/out; exit 0' TERM; "
                                "sleep 1000 & wait"), lambda c: _bind(c, d, "/shared"))
    t.ok("start", cid)
    t.ok("kill", cid, "TERM")
    t.wait_stopped(cid)
    with open(os.path.join(d, "out")) as f:
        eq(f.read(), "got-term\n", "the process's trap")


@requirement("runtime.kill.not-running-errors", "runtime.md", "MUST",
             "kill of a stopped container is an error")
def _(t):
    cid = t.create(("true",))
    t.ok("start", cid)
    t.wait_stopped(cid)
    t.fails("kill", cid, "KILL")


@requirement("runtime.kill.created", "runtime.md", "MUST",
             "kill of a created container signals its process (it stops)")
def _(t):
    cid = t.create(("sleep", "100"))
    t.ok("kill", cid, "KILL")
    t.wait_stopped(cid)
    eq(t.state(cid)["status"], "stopped", "status")


@requirement("runtime.delete.running-errors", "runtime.md", "MUST",
             "delete of a container that is not stopped is an error and it keeps running")
def _(t):
    cid = t.create(("sleep", "100"))
    t.ok("start", cid)
    t.fails("delete", cid)
    eq(t.state(cid)["status"], "running", "after the refused delete")


@requirement("runtime.delete.removes-everything", "runtime.md", "MUST",
             "delete removes the container: its id is unknown after, its processes and "
             "cgroup are gone")
def _(t):
    cg = f"/cf-delete-{os.getpid()}-{t.name}"
    cid = t.create(("sleep", "100"), _edit(**{"linux.cgroupsPath": cg}))
    pid = t.state(cid)["pid"]
    t.ok("kill", cid, "KILL")
    t.wait_stopped(cid)
    t.ok("delete", cid)
    t.fails("state", cid)
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read().rsplit(")", 1)[1].split()[0]
        if st not in ("Z", "X"):  # a zombie waits for its reaper: it is gone
            raise Fail(f"the process is still there (state {st})")
    except FileNotFoundError:
        pass
    for base in set(_cgroup_mounts().values()):
        if os.path.isdir(base + cg):
            raise Fail(f"cgroup {base + cg} is left")


@requirement("runtime.delete.unknown-id-errors", "runtime.md", "MUST",
             "delete of a container that does not exist is an error")
def _(t):
    t.fails("delete", "cf-no-such-container")


@requirement("runtime.lifecycle.exit-makes-stopped", "runtime.md", "MUST",
             "when the process exits the container is stopped and can be deleted")
def _(t):
    cid = t.create(("true",))
    t.ok("start", cid)
    t.wait_stopped(cid)
    eq(t.state(cid)["status"], "stopped", "status")
    t.ok("delete", cid)


# ==== hooks (config.md, runtime.md) ============================================

def _hook_script(t, name, body):
    path = os.path.join(t.dir, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path, 0o755)
    return path


def _hooks(**points):
    def edit(cfg):
        cfg["hooks"] = {k: v for k, v in points.items()}
    return edit


def _read(path):
    with open(path) as f:
        return f.read()


@requirement("config.hooks.prestart-and-createRuntime", "config.md", "MUST",
             "prestart and createRuntime hooks run during create, with the state on stdin "
             "(status creating)")
def _(t):
    out = os.path.join(t.dir, "out")
    hook = _hook_script(t, "h", f'cat >> {out}; echo >> {out}')
    cid = t.create(("sleep", "100"), _hooks(prestart=[{"path": hook}],
                                            createRuntime=[{"path": hook}]))
    states = [json.loads(x) for x in _read(out).splitlines() if x.strip()]
    eq(len(states), 2, "hook runs")
    for st in states:
        eq(st["id"], cid, "id on stdin")
        eq(st["status"], "creating", "status on stdin")
        eq(st["pid"], t.state(cid)["pid"], "pid on stdin")


@requirement("config.hooks.createContainer-in-container-ns", "config.md", "MUST",
             "createContainer hooks run in the container's mount namespace, during create")
def _(t):
    out = os.path.join(t.dir, "out")
    hook = _hook_script(t, "h", f"readlink /proc/self/ns/mnt > {out}")
    cid = t.create(("sleep", "100"), _hooks(createContainer=[{"path": hook}]))
    if not os.path.exists(out):
        raise Skip("the hook could not write to the host path from the container's "
                   "mount namespace")
    ns = _read(out).strip()
    pid = t.state(cid)["pid"]
    eq(ns, os.readlink(f"/proc/{pid}/ns/mnt"), "the hook's mount namespace")


@requirement("config.hooks.startContainer-before-process", "config.md", "MUST",
             "startContainer hooks run after start is called, before process.args")
def _(t):
    d = _shared(t)
    hook = _hook_script(t, "h", "[ -e /shared/process ] || touch /shared/hook-first")
    cid = t.create(("touch", "/shared/process"),
                   lambda c: (_bind(c, d, "/shared"),
                              _hooks(startContainer=[{"path": "/shared/h"}])(c)))
    os.rename(hook, os.path.join(d, "h"))
    if os.listdir(d) != ["h"]:
        raise Fail(f"something ran before start: {os.listdir(d)}")
    t.ok("start", cid)
    t.wait_stopped(cid)
    eq(sorted(os.listdir(d)), ["h", "hook-first", "process"], "files")


@requirement("config.hooks.poststart-after-start", "config.md", "MUST",
             "poststart hooks run after the process has started, before start returns")
def _(t):
    out = os.path.join(t.dir, "out")
    hook = _hook_script(t, "h", f"cat > {out}")
    cid = t.create(("sleep", "100"), _hooks(poststart=[{"path": hook}]))
    if os.path.exists(out):
        raise Fail("poststart ran during create")
    t.ok("start", cid)
    st = json.loads(_read(out))
    eq(st["id"], cid, "id")


@requirement("config.hooks.poststop-on-delete", "config.md", "MUST",
             "poststop hooks run when the container is deleted")
def _(t):
    out = os.path.join(t.dir, "out")
    hook = _hook_script(t, "h", f"cat > {out}")
    cid = t.create(("true",), _hooks(poststop=[{"path": hook}]))
    t.ok("start", cid)
    t.wait_stopped(cid)
    if os.path.exists(out):
        raise Fail("poststop ran before delete")
    t.ok("delete", cid)
    eq(json.loads(_read(out))["id"], cid, "id on stdin")


@requirement("config.hooks.order-args-env", "config.md", "MUST",
             "hooks of one point run in order, with their args and env")
def _(t):
    out = os.path.join(t.dir, "out")
    hook = _hook_script(t, "h", f'echo "$1 $2 $X" >> {out}')
    t.create(("sleep", "100"), _hooks(prestart=[
        {"path": hook, "args": ["h", "first", "a"], "env": ["X=1"]},
        {"path": hook, "args": ["h", "second", "b"], "env": ["X=2"]}]))
    eq(_read(out), "first a 1\nsecond b 2\n", "hook output")


@requirement("config.hooks.prestart-failure", "runtime.md", "MUST",
             "a failing prestart hook makes create fail, and no container is left")
def _(t):
    cid = t.new_id()
    hook = _hook_script(t, "h", "exit 3")
    t.fails("create", "--bundle", t.bundle(("sleep", "100"),
                                           _hooks(prestart=[{"path": hook}])), cid)
    p = t.call("state", cid)
    if p.returncode == 0 and json.loads(p.stdout)["status"] != "stopped":
        raise Fail("the container is still there after the failed create")


@requirement("config.hooks.poststart-failure", "runtime.md", "MUST",
             "v1.3.0: a failing poststart hook is an error (start fails, container stopped)")
def _(t):
    hook = _hook_script(t, "h", "exit 3")
    cid = t.create(("sleep", "100"), _hooks(poststart=[{"path": hook}]))
    t.fails("start", cid)
    p = t.call("state", cid)
    if p.returncode == 0 and json.loads(p.stdout)["status"] == "running":
        raise Fail("the container still runs")


@requirement("config.hooks.poststop-failure-is-a-warning", "runtime.md", "MUST",
             "a failing poststop hook does not fail delete")
def _(t):
    hook = _hook_script(t, "h", "exit 3")
    cid = t.create(("true",), _hooks(poststop=[{"path": hook}]))
    t.ok("start", cid)
    t.wait_stopped(cid)
    t.ok("delete", cid)
    t.fails("state", cid)


@requirement("config.hooks.timeout", "config.md", "MUST",
             "a hook that outlives its timeout fails")
def _(t):
    hook = _hook_script(t, "h", "sleep 30")
    cid = t.new_id()
    t.fails("create", "--bundle", t.bundle(("sleep", "100"), _hooks(
        prestart=[{"path": hook, "timeout": 1}])), cid, timeout=25)


# ==== config.md: root, mounts, process ================================================

@requirement("config.root.readonly", "config.md", "MUST",
             "root.readonly: the root filesystem is read-only in the container")
def _(t):
    m = mounts(t.check())
    if "ro" not in m["/"][0]:
        raise Fail(f"/ is mounted {m['/'][0]}")


@requirement("config.root.writable", "config.md", "MUST",
             "root.readonly false: the root filesystem is writable")
def _(t):
    import shutil
    rootfs = os.path.join(t.dir, "rw-rootfs")
    shutil.copytree(t.world.rootfs, rootfs, symlinks=True)
    out = t.run(("sh", "-c", "touch /written && echo ok"),
                _edit(**{"root.path": rootfs, "root.readonly": False}))
    eq(out, "ok\n", "output")


@requirement("config.root.relative-path", "config.md", "MUST",
             "a relative root.path is relative to the bundle")
def _(t):
    bundle = t.bundle((CHECKER,))
    with open(os.path.join(bundle, "config.json")) as f:
        cfg = json.load(f)
    cfg["root"]["path"] = os.path.relpath(t.world.rootfs, bundle)  # ../../rootfs
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(cfg, f)
    if '"pid"' not in t.run(bundle=bundle):
        raise Fail("the process did not run")


@requirement("config.mounts.in-order-and-created", "config.md", "MUST",
             "mounts are made in order; a missing destination is created")
def _(t):
    d = _shared(t)
    with open(os.path.join(d, "marker"), "w") as f:
        f.write("bound")

    def edit(cfg):
        cfg["mounts"].append({"destination": "/mnt/deep/a", "type": "tmpfs",
                              "source": "tmpfs", "options": ["mode=755"]})
        _bind(cfg, d, "/mnt/deep/a/b")
    r = t.check(edit, ("--file", "/mnt/deep/a/b/marker"))
    eq(r["files"]["/mnt/deep/a/b/marker"], "bound", "the later mount, over the earlier")


@requirement("config.mounts.options", "config.md", "MUST",
             "mount options (ro, nosuid, nodev, noexec, noatime) are applied")
def _(t):
    def edit(cfg):
        cfg["mounts"].append({"destination": "/opts", "type": "tmpfs", "source": "tmpfs",
                              "options": ["ro", "nosuid", "nodev", "noexec", "noatime"]})
    opts = mounts(t.check(edit))["/opts"][0]
    for o in ("ro", "nosuid", "nodev", "noexec", "noatime"):
        if o not in opts:
            raise Fail(f"/opts has {opts}, not {o}")


@requirement("config.mounts.data", "config.md", "MUST",
             "filesystem data options are passed to the mount (tmpfs size; mode= over the "
             "mountpoint's mode)")
def _(t):
    def edit(cfg):
        cfg["mounts"].append({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
                              "options": ["size=1m", "mode=700"]})
    r = t.check(edit, ("--stat", "/data"))
    sup = mounts(r)["/data"][3]
    if "size=1024k" not in sup:
        raise Fail(f"tmpfs options {sup}")
    eq(r["stat"]["/data"]["mode"], 0o700, "mode")


@requirement("config.mounts.bind-readonly", "config.md", "MUST",
             "a read-only bind mount shows the source and cannot be written")
def _(t):
    d = _shared(t)
    with open(os.path.join(d, "f"), "w") as f:
        f.write("x")
    out = t.run(("sh", "-c", "cat /b/f; touch /b/g 2>/dev/null && echo wrote || echo ro"),
                lambda c: _bind(c, d, "/b", ("rbind", "ro")))
    eq(out, "xro\n", "output")


@requirement("config.mounts.propagation", "config.md", "MUST",
             "rshared / rslave / rprivate bind options set the mount's propagation")
def _(t):
    d = _shared(t)

    def edit(cfg):
        _bind(cfg, d, "/priv", ("rbind", "rprivate"))
        _bind(cfg, d, "/shr", ("rbind", "rshared"))
    m = mounts(t.check(edit))
    if any(x.startswith(("shared:", "master:")) for x in m["/priv"][1]):
        raise Fail(f"/priv: {m['/priv'][1]}")
    if not any(x.startswith("shared:") for x in m["/shr"][1]):
        raise Fail(f"/shr: {m['/shr'][1]}")


@requirement("config-linux.rootfsPropagation", "config-linux.md", "MUST",
             "rootfsPropagation sets the propagation of the root mount")
def _(t):
    m = mounts(t.check(_edit(**{"linux.rootfsPropagation": "shared"})))
    if not any(x.startswith("shared:") for x in m["/"][1]):
        raise Fail(f"/ has {m['/'][1]}")


@requirement("config.process.args-env-cwd", "config.md", "MUST",
             "process.args run with process.env (plus HOME when it lacks one, as runc), "
             "in process.cwd")
def _(t):
    r = t.check(_edit(**{"process.env": ["A=1", "B=two"], "process.cwd": "/tmp"}))
    eq(sorted(e for e in r["env"] if not e.startswith("HOME=")), ["A=1", "B=two"], "env")
    eq(r["cwd"], "/tmp", "cwd")


@requirement("config.process.env-home", "config.md", "MAY",
             "HOME is set from the container's /etc/passwd when process.env has none (runc)")
def _(t):
    r = t.check(_edit(**{"process.env": ["PATH=/bin"]}))
    eq([e for e in r["env"] if e.startswith("HOME=")], ["HOME=/root"], "HOME")
    r = t.check(_edit(**{"process.env": ["PATH=/bin", "HOME=/mine"]}))
    eq([e for e in r["env"] if e.startswith("HOME=")], ["HOME=/mine"], "HOME given")


@requirement("config.process.cwd-created", "config.md", "MAY",
             "a missing process.cwd is created (runc does)")
def _(t):
    eq(t.check(_edit(**{"process.cwd": "/tmp/new/dir"}))["cwd"], "/tmp/new/dir", "cwd")


@requirement("config.process.user", "config.md", "MUST",
             "uid, gid, additionalGids and umask are those of process.user")
def _(t):
    r = t.check(_edit(**{"process.user": {"uid": 1000, "gid": 1001, "umask": 0o27,
                                          "additionalGids": [5, 6]}}))
    eq((r["uid"], r["gid"], r["ruid"], r["suid"]), (1000, 1001, 1000, 1000), "ids")
    eq(sorted(r["groups"]), [5, 6], "groups")
    eq(r["umask"], 0o27, "umask")


@requirement("config.process.rlimits", "config.md", "MUST",
             "each rlimit is set (soft and hard)")
def _(t):
    r = t.check(_edit(**{"process.rlimits": [
        {"type": "RLIMIT_NOFILE", "soft": 300, "hard": 400},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 1024},
        {"type": "RLIMIT_NPROC", "soft": 500, "hard": 600}]}))
    eq(r["rlimits"]["RLIMIT_NOFILE"], [300, 400], "NOFILE")
    eq(r["rlimits"]["RLIMIT_CORE"], [0, 1024], "CORE")
    eq(r["rlimits"]["RLIMIT_NPROC"], [500, 600], "NPROC")


@requirement("config.process.rlimits-unknown-errors", "config.md", "MUST",
             "an rlimit type the runtime cannot map is an error")
def _(t):
    t.fails("create", "--bundle", t.bundle(edit=_edit(**{"process.rlimits": [
        {"type": "RLIMIT_NOSUCH", "soft": 1, "hard": 1}]})), t.new_id())


@requirement("config.process.rlimits-duplicate-errors", "config.md", "MUST",
             "duplicate rlimit types are an error")
def _(t):
    t.fails("create", "--bundle", t.bundle(edit=_edit(**{"process.rlimits": [
        {"type": "RLIMIT_NOFILE", "soft": 10, "hard": 10},
        {"type": "RLIMIT_NOFILE", "soft": 20, "hard": 20}]})), t.new_id())


@requirement("config.process.capabilities", "config.md", "MUST",
             "the bounding, effective, permitted (and ambient) sets are those of the config")
def _(t):
    r = t.check()
    for field in ("cap_bnd", "cap_eff", "cap_prm"):
        eq(int(r[field], 16), MASK, field)
    eq(int(r["cap_amb"], 16), 0, "cap_amb")


@requirement("config.process.capabilities-ambient", "config.md", "MUST",
             "ambient capabilities reach a non-root process")
def _(t):
    caps = ["CAP_NET_BIND_SERVICE"]
    r = t.check(_edit(**{"process.user": {"uid": 1000, "gid": 1000},
                         "process.capabilities": {k: caps for k in (
                             "bounding", "effective", "permitted", "inheritable", "ambient")}}))
    eq(int(r["cap_amb"], 16), 1 << 10, "cap_amb")
    eq(int(r["cap_eff"], 16), 1 << 10, "cap_eff")


# config.md (v1.3.0): "Any value which cannot be mapped to a relevant kernel
# interface, or cannot be granted otherwise MUST be logged as a warning by the
# runtime. Runtimes SHOULD NOT fail if the container configuration requests
# capabilities that cannot be granted, for example, if the runtime operates in
# a restricted environment with a limited set of capabilities."
# Three such values: an unknown name (whether the runtime then fails is left to
# it: "Valid values" lets it refuse an invalid value); an ambient capability
# outside the inheritable set, which the kernel never raises; one that the
# runtime itself lacks (run here without CAP_SYS_RESOURCE in its bounding set).

def _without_cap(cap):
    """preexec_fn: the runtime runs without <cap> (root's permitted set at
    execve is its bounding set)."""
    def drop():
        import ctypes
        if ctypes.CDLL(None).prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError("PR_CAPBSET_DROP failed")
    return drop


_CAP_SYS_RESOURCE = 24
_UNGRANTABLE = {
    "ambient outside the inheritable set": (
        {"process.user": {"uid": 1000, "gid": 1000},
         "process.capabilities": {k: ["CAP_NET_BIND_SERVICE"] for k in (
             "bounding", "effective", "permitted", "ambient")}},
        None, "CAP_NET_BIND_SERVICE"),
    "a capability the runtime lacks": (
        {"process.capabilities": {k: ["CAP_KILL", "CAP_SYS_RESOURCE"] for k in (
            "bounding", "effective", "permitted")}},
        _without_cap(_CAP_SYS_RESOURCE), "CAP_SYS_RESOURCE"),
}


def _create_logged(t, edit, preexec_fn, name):
    """create with <edit>; the id if it succeeded (else None), after checking
    that <name> was logged either way (stderr: no --log is given)."""
    cid = t.new_id()
    p = t.call("create", "--bundle", t.bundle(edit=_edit(**edit)), cid, preexec_fn=preexec_fn)
    if name not in p.stderr:
        raise Fail(f"{name} was not logged" + (f" (create exited {p.returncode})"
                                              if p.returncode else ""))
    return cid if p.returncode == 0 else None


@requirement("config.process.capabilities-ungrantable-logged", "config.md", "MUST",
             "a capability that cannot be mapped or granted is logged as a warning "
             "(an unknown name, an ambient one outside the inheritable set, one the runtime "
             "lacks)")
def _(t):
    p = t.call("create", "--bundle", t.bundle(edit=_edit(**{"process.capabilities": {
        "bounding": ["CAP_NO_SUCH_THING"]}})), t.new_id())
    if "CAP_NO_SUCH_THING" not in p.stderr:
        raise Fail("an unknown capability name was not logged")
    for what, (edit, preexec_fn, name) in _UNGRANTABLE.items():
        try:
            _create_logged(t, edit, preexec_fn, name)
        except Fail as e:
            raise Fail(f"{what}: {e}")


@requirement("config.process.capabilities-ungrantable-runs", "config.md", "SHOULD",
             "a capability that cannot be granted does not fail the container: it runs with "
             "the others")
def _(t):
    for what, (edit, preexec_fn, name) in _UNGRANTABLE.items():
        cid = t.new_id()
        with tempfile.TemporaryFile() as out:
            p = t.call("create", "--bundle", t.bundle(edit=_edit(**edit)), cid, out=out,
                       preexec_fn=preexec_fn)
            if p.returncode != 0:
                raise Fail(f"{what}: create exited {p.returncode}: {p.stderr.strip()[-200:]}")
            t.ok("start", cid)
            t.wait_stopped(cid)
            out.seek(0)
            try:
                r = json.loads(out.read().decode(errors="replace"))
            except ValueError:
                raise Fail(f"{what}: the checker did not report")
        bit = 1 << (_CAP_SYS_RESOURCE if name == "CAP_SYS_RESOURCE" else 10)
        if int(r["cap_eff"], 16) & bit or int(r["cap_amb"], 16) & bit:
            raise Fail(f"{what}: {name} was granted")
        if name == "CAP_SYS_RESOURCE" and not int(r["cap_eff"], 16) & (1 << 5):
            raise Fail(f"{what}: CAP_KILL, which can be granted, was not")


@requirement("config.process.noNewPrivileges", "config.md", "MUST",
             "noNewPrivileges sets no_new_privs (and false leaves it unset)")
def _(t):
    eq(t.check()["no_new_privs"], 1, "with true")
    eq(t.check(_edit(**{"process.noNewPrivileges": False}))["no_new_privs"], 0, "with false")


@requirement("config.process.oomScoreAdj", "config.md", "MUST",
             "oomScoreAdj is written to the process's oom_score_adj")
def _(t):
    eq(t.check(_edit(**{"process.oomScoreAdj": 123}))["oom_score_adj"].strip(), "123", "")


@requirement("config.process.scheduler", "config.md", "MUST",
             "process.scheduler sets the scheduling policy")
def _(t):
    r = t.check(_edit(**{"process.scheduler": {"policy": "SCHED_BATCH", "nice": 0}}))
    eq(r["sched_policy"], 3, "policy (SCHED_BATCH = 3)")


@requirement("config.process.ioPriority", "config.md", "MUST",
             "process.ioPriority sets the I/O priority")
def _(t):
    r = t.check(_edit(**{"process.ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 6}}))
    eq(r["ioprio"], (2 << 13) | 6, "ioprio")


@requirement("config.hostname", "config.md", "MUST",
             "hostname and domainname are set in the container's UTS namespace")
def _(t):
    r = t.check(_edit(hostname="cf-host", domainname="cf.example"))
    eq((r["hostname"], r["domainname"]), ("cf-host", "cf.example"), "uts names")


# ==== config-linux.md ==================================================================

NS_PROC = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "mount": "mnt",
           "cgroup": "cgroup", "user": "user", "time": "time"}


@requirement("config-linux.namespaces.new", "config-linux.md", "MUST",
             "each listed namespace without a path is new")
def _(t):
    types = ["pid", "network", "ipc", "uts", "mount", "cgroup"]
    r = t.check(_edit(**{"linux.namespaces": [{"type": x} for x in types]}))
    for x in types:
        if r["namespaces"][NS_PROC[x]] == t.world.host_ns[NS_PROC[x]]:
            raise Fail(f"the {x} namespace is the runtime's")


@requirement("config-linux.namespaces.absent-is-shared", "config-linux.md", "MUST",
             "a namespace type not listed is the runtime's")
def _(t):
    def edit(cfg):
        cfg["linux"]["namespaces"] = [{"type": "mount"}, {"type": "pid"}]
        cfg.pop("hostname")  # a hostname needs a UTS namespace of its own
    r = t.check(edit)
    for x in ("net", "ipc", "uts"):
        eq(r["namespaces"][x], t.world.host_ns[x], f"{x} namespace")


@requirement("config-linux.namespaces.join-path", "config-linux.md", "MUST",
             "a namespace with a path is joined")
def _(t):
    holder = subprocess.Popen(["unshare", "--net", "--uts", "sleep", "60"])
    try:
        import time
        deadline = time.monotonic() + 10
        while os.readlink(f"/proc/{holder.pid}/ns/net") == t.world.host_ns["net"]:
            if time.monotonic() > deadline:
                raise Skip("unshare(1) did not make a network namespace")
            time.sleep(0.01)
        want = os.readlink(f"/proc/{holder.pid}/ns/net")
        want_uts = os.readlink(f"/proc/{holder.pid}/ns/uts")
        r = t.check(_edit(**{"linux.namespaces": [
            {"type": "mount"}, {"type": "pid"},
            {"type": "network", "path": f"/proc/{holder.pid}/ns/net"},
            {"type": "uts", "path": f"/proc/{holder.pid}/ns/uts"}]}))
        eq(r["namespaces"]["net"], want, "network namespace")
        eq(r["namespaces"]["uts"], want_uts, "uts namespace")
    finally:
        holder.kill()
        holder.wait()


@requirement("config-linux.namespaces.path-type-mismatch", "config-linux.md", "MUST",
             "a namespace path of another type is an error")
def _(t):
    t.fails("create", "--bundle", t.bundle(edit=_edit(**{"linux.namespaces": [
        {"type": "mount"}, {"type": "network", "path": "/proc/self/ns/uts"}]})), t.new_id())


@requirement("config-linux.namespaces.duplicate-errors", "config-linux.md", "MUST",
             "a namespace type listed twice is an error")
def _(t):
    t.fails("create", "--bundle", t.bundle(edit=_edit(**{"linux.namespaces": [
        {"type": "mount"}, {"type": "pid"}, {"type": "pid"}]})), t.new_id())


@requirement("config-linux.user-namespace.mappings", "config-linux.md", "MUST",
             "uidMappings/gidMappings map the container's ids")
def _(t):
    import shutil
    rootfs = os.path.join(t.dir, "userns-rootfs")
    shutil.copytree(t.world.rootfs, rootfs, symlinks=True)
    for dirpath, dirnames, filenames in os.walk(rootfs):
        for n in dirnames + filenames:
            os.lchown(os.path.join(dirpath, n), 100000, 100000)
    os.lchown(rootfs, 100000, 100000)

    def edit(cfg):
        cfg["root"]["path"] = rootfs
        cfg["linux"]["namespaces"].append({"type": "user"})
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != "/sys"]
    r = t.check(edit, ("--file", "/proc/self/uid_map"))
    eq(r["uid"], 0, "uid inside")
    eq(r["files"]["/proc/self/uid_map"].split(), ["0", "100000", "65536"], "uid_map")


@requirement("config-linux.sysctl", "config-linux.md", "MUST",
             "linux.sysctl values are set in the container")
def _(t):
    r = t.check(_edit(**{"linux.sysctl": {"net.ipv4.ip_forward": "1",
                                          "kernel.shmmni": "1234"}}),
                ("--sysctl", "net.ipv4.ip_forward", "--sysctl", "kernel.shmmni"))
    eq(r["sysctl"], {"net.ipv4.ip_forward": "1\n", "kernel.shmmni": "1234\n"}, "sysctls")


@requirement("config-linux.maskedPaths", "config-linux.md", "MUST",
             "masked paths cannot be read (files read empty, directories are empty)")
def _(t):
    r = t.check(_edit(**{"linux.maskedPaths": ["/proc/kcore", "/sys/firmware",
                                               "/proc/cmdline"]}),
                ("--file", "/proc/cmdline"))
    eq(r["files"]["/proc/cmdline"], "", "/proc/cmdline")
    out = t.run(("ls", "-A", "/sys/firmware"), _edit(**{"linux.maskedPaths": ["/sys/firmware"]}))
    eq(out, "", "/sys/firmware listing")


@requirement("config-linux.readonlyPaths", "config-linux.md", "MUST",
             "read-only paths are read-only")
def _(t):
    m = mounts(t.check(_edit(**{"linux.readonlyPaths": ["/proc/sys", "/tmp"]})))
    for p in ("/proc/sys", "/tmp"):
        if "ro" not in m[p][0]:
            raise Fail(f"{p} is {m[p][0]}")


@requirement("runtime-linux.default-devices", "runtime-linux.md", "MUST",
             "/dev/null, zero, full, random, urandom, tty, console (terminal), ptmx are "
             "supplied")
def _(t):
    dev = t.check()["dev"]
    want = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8),
            "urandom": (1, 9), "tty": (5, 0)}
    for name, (ma, mi) in want.items():
        d = dev.get(name)
        if not d or d["type"] != "char" or (d["major"], d["minor"]) != (ma, mi):
            raise Fail(f"/dev/{name}: {d}")
    if "ptmx" not in dev:
        raise Fail("/dev/ptmx is missing")


@requirement("runtime-linux.dev-symlinks", "runtime-linux.md", "MUST",
             "/dev/fd, /dev/stdin, /dev/stdout, /dev/stderr symlinks exist")
def _(t):
    dev = t.check()["dev"]
    want = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
            "stderr": "/proc/self/fd/2"}
    for name, target in want.items():
        d = dev.get(name)
        if not d or d["type"] != "symlink" or d.get("target") != target:
            raise Fail(f"/dev/{name}: {d}")


@requirement("config-linux.devices", "config-linux.md", "MUST",
             "linux.devices are created with their type, numbers, mode, uid and gid")
def _(t):
    devs = [{"path": "/dev/cf-char", "type": "c", "major": 1, "minor": 3,
             "fileMode": 0o640, "uid": 10, "gid": 20},
            {"path": "/dev/cf-block", "type": "b", "major": 7, "minor": 0,
             "fileMode": 0o600, "uid": 0, "gid": 0},
            {"path": "/dev/cf-fifo", "type": "p", "fileMode": 0o644}]
    dev = t.check(_edit(**{"linux.devices": devs}))["dev"]
    c, b, p = dev.get("cf-char"), dev.get("cf-block"), dev.get("cf-fifo")
    if not c or (c["type"], c["major"], c["minor"], c["mode"], c["uid"], c["gid"]) != (
            "char", 1, 3, 0o640, 10, 20):
        raise Fail(f"/dev/cf-char: {c}")
    if not b or (b["type"], b["major"], b["minor"]) != ("block", 7, 0):
        raise Fail(f"/dev/cf-block: {b}")
    if not p or p["type"] != "fifo":
        raise Fail(f"/dev/cf-fifo: {p}")


@requirement("config-linux.personality", "config-linux.md", "MUST",
             "linux.personality LINUX32 is set")
def _(t):
    r = t.check(_edit(**{"linux.personality": {"domain": "LINUX32"}}))
    eq(r["personality"] & 0xFF, 0x0008, "execution domain PER_LINUX32")


@requirement("config-linux.seccomp.errno", "config-linux.md", "MUST",
             "a seccomp rule with SCMP_ACT_ERRNO returns its errno")
def _(t):
    sec = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
    out = t.run(("sh", "-c", "mkdir /tmp/x 2>&1; echo rc=$?"), _edit(**{"linux.seccomp": sec}))
    if "Permission denied" not in out:
        raise Fail(f"output {out!r}")


@requirement("config-linux.seccomp.kill", "config-linux.md", "MUST",
             "SCMP_ACT_KILL kills the process at the call (SIGSYS)")
def _(t):
    sec = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL"}]}
    out = t.run(("sh", "-c", "mkdir /tmp/x; echo rc=$?"), _edit(**{"linux.seccomp": sec}))
    if "rc=159" not in out:  # 128 + SIGSYS
        raise Fail(f"output {out!r}")


@requirement("config-linux.seccomp.filter-mode", "config-linux.md", "MUST",
             "the process runs with a seccomp filter (mode 2)")
def _(t):
    sec = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["acct"], "action": "SCMP_ACT_ERRNO"}]}
    eq(t.check(_edit(**{"linux.seccomp": sec}))["seccomp"], "2", "Seccomp in status")


@requirement("config-linux.seccomp.unknown-action-errors", "config-linux.md", "MUST",
             "an unknown seccomp action is an error")
def _(t):
    sec = {"defaultAction": "SCMP_ACT_NOPE"}
    t.fails("create", "--bundle", t.bundle(edit=_edit(**{"linux.seccomp": sec})), t.new_id())


# ---- cgroups -------------------------------------------------------------------------

def _cgroup_file(ctrl, path, name):
    where = _cgroup_mounts()
    for base in [where[k] for k in (ctrl, "unified") if k in where]:
        f = f"{base}{path}/{name}"
        if os.path.exists(f):
            with open(f) as h:
                return h.read().strip()
    raise Fail(f"no {name} for {path}")


def _cgroup_case(t, res, ctrl, name):
    cg = f"/cf-cg-{os.getpid()}-{t.name}-{t.new_id()}"
    cid = t.create(("sleep", "100"), _edit(**{"linux.cgroupsPath": cg,
                                              "linux.resources": res}))
    try:
        return _cgroup_file(ctrl, cg, name), cid
    finally:
        t.call("delete", "--force", cid)


def _placed_in(t, cgroups_path, suffix):
    """Run a container with this cgroupsPath; fail unless a line of its
    /proc/<pid>/cgroup ends with suffix."""
    cid = t.create(("sleep", "100"), _edit(**{"linux.cgroupsPath": cgroups_path}))
    pid = t.state(cid)["pid"]
    with open(f"/proc/{pid}/cgroup") as f:
        lines = f.read().splitlines()
    if not any(line.endswith(suffix) for line in lines):
        raise Fail(f"/proc/{pid}/cgroup: {lines}")


@requirement("config-linux.cgroupsPath.absolute", "config-linux.md", "MUST",
             "an absolute cgroupsPath is where the container's processes are")
def _(t):
    cg = f"/cf-abs-{os.getpid()}-{t.name}"
    _placed_in(t, cg, ":" + cg)


@requirement("config-linux.cgroupsPath.relative", "config-linux.md", "MAY",
             "a relative cgroupsPath is relative to the runtime's cgroup (runc)")
def _(t):
    rel = f"cf-rel-{os.getpid()}-{t.name}"
    _placed_in(t, rel, "/" + rel)


@requirement("config-linux.resources.memory", "config-linux.md", "MUST",
             "memory.limit is applied")
def _(t):
    v, _ = _cgroup_case(t, {"memory": {"limit": 64 << 20}}, "memory", "memory.limit_in_bytes"
                        if _v1("memory") else "memory.max")
    eq(v, str(64 << 20), "memory limit")


@requirement("config-linux.resources.pids", "config-linux.md", "MUST",
             "pids.limit is applied")
def _(t):
    v, _ = _cgroup_case(t, {"pids": {"limit": 42}}, "pids", "pids.max")
    eq(v, "42", "pids.max")


@requirement("config-linux.resources.pids-zero", "config-linux.md", "MUST",
             "v1.3.0: pids.limit 0 is a limit of zero new tasks")
def _(t):
    v, _ = _cgroup_case(t, {"pids": {"limit": 0}}, "pids", "pids.max")
    eq(v, "0", "pids.max")


@requirement("config-linux.resources.cpu", "config-linux.md", "MUST",
             "cpu shares, quota and period are applied")
def _(t):
    if _v1("cpu"):
        v, _ = _cgroup_case(t, {"cpu": {"shares": 512, "quota": 50000, "period": 100000}},
                            "cpu", "cpu.cfs_quota_us")
        eq(v, "50000", "cfs_quota_us")
    else:
        v, _ = _cgroup_case(t, {"cpu": {"quota": 50000, "period": 100000}}, "cpu", "cpu.max")
        eq(v, "50000 100000", "cpu.max")


@requirement("config-linux.resources.devices", "config-linux.md", "MUST",
             "device rules decide which devices the container can open")
def _(t):
    dev = {"path": "/dev/cf-fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666}
    probe = ("sh", "-c", "(exec 3</dev/cf-fuse) 2>/dev/null && echo open || echo refused")
    denied = t.run(probe, _edit(**{"linux.devices": [dev], "linux.resources": {
        "devices": [{"allow": False, "access": "rwm"}]}}))
    allowed = t.run(probe, _edit(**{"linux.devices": [dev], "linux.resources": {
        "devices": [{"allow": False, "access": "rwm"},
                    {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"}]}}))
    eq((denied, allowed), ("refused\n", "open\n"), "without and with an allow rule")


# ==== features.md ===============================================================

@requirement("features.schema", "features.md", "MUST",
             "`features` prints a document valid against the features schema")
def _(t):
    import jsonschema
    p = subprocess.run([t.runtime, "features"], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise Fail(f"features exited {p.returncode}: {p.stderr.strip()[:200]}")
    with open(os.path.join(os.path.dirname(__file__), "..", "schemas",
                           "features-schema.json")) as f:
        jsonschema.validate(json.loads(p.stdout), json.load(f))


@requirement("features.matches-behaviour", "features.md", "MUST",
             "what `features` lists is supported: every namespace and seccomp action it "
             "names works")
def _(t):
    p = subprocess.run([t.runtime, "features"], capture_output=True, text=True, timeout=60)
    doc = json.loads(p.stdout)
    nss = (doc.get("linux") or {}).get("namespaces") or []
    if not nss:
        raise Fail("no namespaces listed")
    r = t.check(_edit(**{"linux.namespaces": [{"type": x} for x in nss if x != "user"]}))
    for x in nss:
        if x != "user" and r["namespaces"][NS_PROC[x]] == t.world.host_ns[NS_PROC[x]]:
            raise Fail(f"features lists {x}, but it was not made")
    actions = ((doc.get("linux") or {}).get("seccomp") or {}).get("actions") or []
    for a in actions:
        if a in ("SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD",
                 "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP"):
            continue  # need a listener / a tracer / end the checker
        sec = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["acct"], "action": a}]}
        t.check(_edit(**{"linux.seccomp": sec}))



# ==== more: mounts, paths, seccomp actions, resources ============================

@requirement("config.mounts.atime-and-sync-options", "config.md", "MUST",
             "strictatime, nodiratime, sync, dirsync, nosymfollow are applied")
def _(t):
    def edit(cfg):
        cfg["mounts"].append({"destination": "/o1", "type": "tmpfs", "source": "tmpfs",
                              "options": ["strictatime", "nodiratime", "nosymfollow"]})
        cfg["mounts"].append({"destination": "/o2", "type": "tmpfs", "source": "tmpfs",
                              "options": ["sync", "dirsync"]})
    m = mounts(t.check(edit))
    o1, o2 = m["/o1"], m["/o2"]
    for o in ("nodiratime", "nosymfollow"):
        if o not in o1[0]:
            raise Fail(f"/o1 has {o1[0]}, not {o}")
    if "relatime" in o1[0] or "noatime" in o1[0]:
        raise Fail(f"/o1 is not strictatime: {o1[0]}")
    for o in ("sync", "dirsync"):
        if o not in o2[3] and o not in o2[0]:
            raise Fail(f"/o2 has {o2[0]} {o2[3]}, not {o}")


@requirement("config.mounts.recursive-readonly", "config.md", "MUST",
             "v1.1: rro makes a bind mount and its submounts read-only")
def _(t):
    d = _shared(t)
    sub = os.path.join(d, "sub")
    os.mkdir(sub)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", sub], check=True)
    try:
        m = mounts(t.check(lambda c: _bind(c, d, "/r", ("rbind", "rro"))))
        for p in ("/r", "/r/sub"):
            if p not in m or "ro" not in m[p][0]:
                raise Fail(f"{p}: {m.get(p)}")
    finally:
        subprocess.run(["umount", "-l", sub])


@requirement("config.mounts.rslave", "config.md", "MUST",
             "rslave bind mounts receive propagation from the host (master:N)")
def _(t):
    d = _shared(t)
    subprocess.run(["mount", "--bind", d, d], check=True)
    subprocess.run(["mount", "--make-shared", d], check=True)
    try:
        m = mounts(t.check(lambda c: _bind(c, d, "/s", ("rbind", "rslave"))))
        if not any(x.startswith("master:") for x in m["/s"][1]):
            raise Fail(f"/s: {m['/s'][1]}")
    finally:
        subprocess.run(["umount", "-l", d])


@requirement("config.mounts.filesystems", "config.md", "MUST",
             "proc, sysfs, tmpfs, devpts and mqueue mounts are made with their types")
def _(t):
    m = mounts(t.check())
    want = {"/proc": "proc", "/sys": "sysfs", "/dev": "tmpfs", "/dev/pts": "devpts",
            "/dev/mqueue": "mqueue", "/dev/shm": "tmpfs"}
    for p, fs in want.items():
        if p not in m or m[p][2] != fs:
            raise Fail(f"{p}: {m.get(p)}")


@requirement("config-linux.maskedPaths.nested-and-devices", "config-linux.md", "MUST",
             "a masked file below a directory, and a masked device node, cannot be read")
def _(t):
    r = t.check(_edit(**{"linux.maskedPaths": ["/proc/sys/kernel/hostname", "/dev/zero"]}),
                ("--file", "/proc/sys/kernel/hostname", "--file", "/dev/zero"))
    eq(r["files"]["/proc/sys/kernel/hostname"], "", "masked file")
    eq(r["files"]["/dev/zero"], "", "masked device")


@requirement("config-linux.paths.relative-rejected", "config-linux.md", "MUST",
             "masked and read-only paths must be absolute: a relative one is an error")
def _(t):
    for key in ("linux.maskedPaths", "linux.readonlyPaths"):
        t.fails("create", "--bundle", t.bundle(edit=_edit(**{key: ["proc/kcore"]})),
                t.new_id())


@requirement("config-linux.cgroup-namespace", "config-linux.md", "MUST",
             "a new cgroup namespace is rooted at the container's cgroup")
def _(t):
    r = t.check(lambda c: c["linux"]["namespaces"].append({"type": "cgroup"}))
    for line in r["cgroup"].splitlines():
        if not line.endswith(":/"):
            raise Fail(f"/proc/self/cgroup: {line}")


@requirement("config-linux.timeOffsets", "config-linux.md", "MUST",
             "v1.2: timeOffsets shift the clocks of a new time namespace")
def _(t):
    if not os.path.exists("/proc/self/ns/time"):
        raise Skip("no time namespaces in this kernel")

    def edit(cfg):
        cfg["linux"]["namespaces"].append({"type": "time"})
        cfg["linux"]["timeOffsets"] = {"boottime": {"secs": 86400 * 365}}
    r = t.check(edit, ("--file", "/proc/uptime"))
    up = float(r["files"]["/proc/uptime"].split()[0])
    if up < 86400 * 365:
        raise Fail(f"uptime {up}")


@requirement("config.process.args-empty-errors", "config.md", "MUST",
             "process.args needs an entry: an empty list is an error")
def _(t):
    cid = t.new_id()
    p = t.call("create", "--bundle", t.bundle(edit=_edit(**{"process.args": []})), cid)
    if p.returncode == 0:
        t.fails("start", cid)


SECCOMP_ACTIONS = [
    ("SCMP_ACT_TRAP", "rc=159"),            # SIGSYS
    ("SCMP_ACT_KILL_PROCESS", "rc=159"),
    ("SCMP_ACT_KILL_THREAD", "rc=159"),
    ("SCMP_ACT_TRACE", "Function not implemented"),  # no tracer: ENOSYS
    ("SCMP_ACT_LOG", "rc=0"),
    ("SCMP_ACT_ALLOW", "rc=0"),
]


def _seccomp_action(action, expect):
    @requirement(f"config-linux.seccomp.{action.lower()[9:]}", "config-linux.md", "MUST",
                 f"{action} on a syscall acts as the kernel defines it")
    def _(t):
        sec = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": action}]}
        out = t.run(("sh", "-c", "mkdir /tmp/x 2>&1; echo rc=$?"), _edit(**{"linux.seccomp": sec}))
        if expect not in out:
            raise Fail(f"output {out!r}")


for _a, _e in SECCOMP_ACTIONS:
    _seccomp_action(_a, _e)


@requirement("config-linux.seccomp.errno-default-eperm", "config-linux.md", "MUST",
             "an ERRNO rule without errnoRet returns EPERM")
def _(t):
    sec = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
    out = t.run(("sh", "-c", "mkdir /tmp/x 2>&1"), _edit(**{"linux.seccomp": sec}))
    if "Operation not permitted" not in out:
        raise Fail(f"output {out!r}")


@requirement("config-linux.seccomp.args", "config-linux.md", "MUST",
             "a rule with args matches only calls whose arguments compare as given")
def _(t):
    # personality(0xffffffff) queries; personality(8) sets LINUX32: deny only the latter
    sec = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}
    r = t.check(_edit(**{"linux.seccomp": sec}))
    if r["personality"] == -1:
        raise Fail("the query personality(0xffffffff) was refused too")


@requirement("config-linux.resources.cpuset", "config-linux.md", "MUST",
             "cpu.cpus / cpu.mems pin the container")
def _(t):
    r = t.check(_edit(**{"linux.resources": {"cpu": {"cpus": "0", "mems": "0"}}}))
    eq(r["cpus_allowed"], "0", "Cpus_allowed_list")


@requirement("config-linux.resources.memory-swap", "config-linux.md", "MUST",
             "memory.swap (memory+swap) and reservation are applied")
def _(t):
    if _v1("memory"):
        v, _ = _cgroup_case(t, {"memory": {"limit": 64 << 20, "swap": 128 << 20}}, "memory",
                            "memory.memsw.limit_in_bytes")
        eq(v, str(128 << 20), "memsw limit")
        v, _ = _cgroup_case(t, {"memory": {"reservation": 32 << 20}}, "memory",
                            "memory.soft_limit_in_bytes")
        eq(v, str(32 << 20), "soft limit")
    else:
        v, _ = _cgroup_case(t, {"memory": {"limit": 64 << 20, "swap": 128 << 20}}, "memory",
                            "memory.swap.max")
        eq(v, str(64 << 20), "swap.max (swap alone)")


@requirement("config-linux.resources.hugepageLimits", "config-linux.md", "MUST",
             "hugepageLimits are applied for a page size of the host")
def _(t):
    if not os.path.isdir("/sys/kernel/mm/hugepages/hugepages-2048kB"):
        raise Skip("no 2 MB huge pages on this host")
    if "hugetlb" not in _cgroup_mounts() and not _v2_offers("hugetlb"):
        raise Skip("no hugetlb controller is mounted here (v1 or cgroup2)")
    name = "hugetlb.2MB.limit_in_bytes" if _v1("hugetlb") else "hugetlb.2MB.max"
    v, _ = _cgroup_case(t, {"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}]},
                        "hugetlb", name)
    eq(v, str(4 << 20), name)


@requirement("config-linux.resources.blockIO-throttle", "config-linux.md", "MUST",
             "blockIO throttle rates are applied to the device")
def _(t):
    devs = [n for n in sorted(os.listdir("/sys/block"))
            if not n.startswith(("loop", "ram", "zram"))]
    if not devs:
        raise Skip("no block device on this machine")
    with open(f"/sys/block/{devs[0]}/dev") as f:
        major, minor = (int(x) for x in f.read().split(":"))
    res = {"blockIO": {"throttleReadBpsDevice": [{"major": major, "minor": minor,
                                                  "rate": 1048576}]}}
    if _v1("blkio"):
        v, _ = _cgroup_case(t, res, "blkio", "blkio.throttle.read_bps_device")
        eq(v, f"{major}:{minor} 1048576", "read_bps_device")
    else:
        v, _ = _cgroup_case(t, res, "io", "io.max")
        if f"{major}:{minor} rbps=1048576" not in v:
            raise Fail(f"io.max: {v!r}")


@requirement("config-linux.resources.unavailable-errors", "config-linux.md", "MUST",
             "a resource the host cannot apply (no such controller) is an error")
def _(t):
    if _v1("net_cls"):
        raise Skip("net_cls is mounted here")
    t.fails("create", "--bundle", t.bundle(edit=_edit(**{"linux.resources": {
        "network": {"classID": 1048577}}})), t.new_id())


# ==== more hooks: order across points, namespaces ===================================

@requirement("config.hooks.lifecycle-order", "runtime.md", "MUST",
             "hooks run in lifecycle order: prestart, createRuntime, createContainer (create), "
             "startContainer, poststart (start), poststop (delete)")
def _(t):
    log = os.path.join(t.dir, "log")
    d = _shared(t)
    host = _hook_script(t, "h", f'echo "$1" >> {log}')
    inside = os.path.join(d, "h")
    with open(inside, "w") as f:
        f.write(f'#!/bin/sh\necho "$1" >> /shared/log\n')
    os.chmod(inside, 0o755)

    def edit(cfg):
        _bind(cfg, d, "/shared")
        cfg["hooks"] = {
            "prestart": [{"path": host, "args": ["h", "prestart"]}],
            "createRuntime": [{"path": host, "args": ["h", "createRuntime"]}],
            "createContainer": [{"path": host, "args": ["h", "createContainer"]}],
            "startContainer": [{"path": "/shared/h", "args": ["h", "startContainer"]}],
            "poststart": [{"path": host, "args": ["h", "poststart"]}],
            "poststop": [{"path": host, "args": ["h", "poststop"]}],
        }
    cid = t.create(("true",), edit)
    t.ok("start", cid)
    t.wait_stopped(cid)
    t.ok("delete", cid)
    got = _read(log).split()
    inner = _read(os.path.join(d, "log")).split() if os.path.exists(
        os.path.join(d, "log")) else []
    eq(inner, ["startContainer"], "in the container")
    eq(got, ["prestart", "createRuntime", "createContainer", "poststart", "poststop"],
       "on the host")


@requirement("config.hooks.runtime-namespace", "config.md", "MUST",
             "prestart, createRuntime, poststart and poststop hooks run in the runtime's "
             "namespaces")
def _(t):
    out = os.path.join(t.dir, "out")
    hook = _hook_script(t, "h", f"readlink /proc/self/ns/mnt /proc/self/ns/net >> {out}")
    cid = t.create(("true",), _hooks(createRuntime=[{"path": hook}],
                                     poststop=[{"path": hook}]))
    t.ok("start", cid)
    t.wait_stopped(cid)
    t.ok("delete", cid)
    lines = _read(out).split()
    eq(lines, [t.world.host_ns["mnt"], t.world.host_ns["net"]] * 2, "namespaces")


@requirement("config.hooks.startContainer-in-container", "config.md", "MUST",
             "startContainer hooks run in the container's namespaces")
def _(t):
    d = _shared(t)
    inside = os.path.join(d, "h")
    with open(inside, "w") as f:
        f.write("#!/bin/sh\n(readlink /proc/self/ns/mnt; readlink /proc/self/ns/net) "
                "> /shared/out\n")
    os.chmod(inside, 0o755)

    def edit(cfg):
        _bind(cfg, d, "/shared")
        cfg["hooks"] = {"startContainer": [{"path": "/shared/h"}]}
    cid = t.create(("sleep", "100"), edit)
    pid = t.state(cid)["pid"]
    want = [os.readlink(f"/proc/{pid}/ns/mnt"), os.readlink(f"/proc/{pid}/ns/net")]
    t.ok("start", cid)
    eq(_read(os.path.join(d, "out")).split(), want, "namespaces")


# ==== idmapped mounts, device rules per type ====================================

@requirement("config.mounts.idmap", "config.md", "MUST",
             "v1.2: an idmap bind mount shows files with the mount's mapping")
def _(t):
    d = _shared(t)
    f = os.path.join(d, "f")
    with open(f, "w") as h:
        h.write("x")
    os.chown(f, 0, 0)

    def edit(cfg):
        cfg["mounts"].append({"destination": "/idm", "type": "bind", "source": d,
                              "options": ["bind", "idmap"],
                              "uidMappings": [{"containerID": 0, "hostID": 4000, "size": 1}],
                              "gidMappings": [{"containerID": 0, "hostID": 5000, "size": 1}]})
    st = t.check(edit, ("--stat", "/idm/f"))["stat"]["/idm/f"]
    if st is None:
        raise Fail("/idm/f is not there")
    eq((st["uid"], st["gid"]), (4000, 5000), "owner through the idmapped mount")


@requirement("config-linux.resources.devices-by-type", "config-linux.md", "MUST",
             "device rules distinguish types: a char rule does not open a block device "
             "with the same numbers")
def _(t):
    devs = [{"path": "/dev/cf-b", "type": "b", "major": 7, "minor": 0, "fileMode": 0o666},
            {"path": "/dev/cf-c", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666}]
    probe = ("sh", "-c", "for d in /dev/cf-b /dev/cf-c; do (exec 3</$d) 2>/dev/null && "
                         "echo $d open || echo $d refused; done")
    out = t.run(probe, _edit(**{"linux.devices": devs, "linux.resources": {"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 7, "minor": 0, "access": "rw"}]}}))
    eq(out, "/dev/cf-b refused\n/dev/cf-c open\n", "b 7:0 (only c 7:0 allowed), c 1:3 "
       "(a default device)")


# ==== propagation modes, path checks, joins, unified =================================

@requirement("config.mounts.propagation-non-recursive", "config.md", "MUST",
             "private, shared, slave and unbindable bind options set the mount's propagation")
def _(t):
    d = _shared(t)
    subprocess.run(["mount", "--bind", d, d], check=True)
    subprocess.run(["mount", "--make-shared", d], check=True)
    try:
        def edit(cfg):
            for dest, prop in (("/p", "private"), ("/s", "shared"), ("/l", "slave"),
                               ("/u", "unbindable")):
                _bind(cfg, d, dest, ("bind", prop))
        m = mounts(t.check(edit))
        fields = {p: m[p][1] for p in ("/p", "/s", "/l", "/u")}
        if any(x.startswith(("shared:", "master:")) for x in fields["/p"]):
            raise Fail(f"/p: {fields['/p']}")
        if not any(x.startswith("shared:") for x in fields["/s"]):
            raise Fail(f"/s: {fields['/s']}")
        if not any(x.startswith("master:") for x in fields["/l"]):
            raise Fail(f"/l: {fields['/l']}")
        if "unbindable" not in fields["/u"]:
            raise Fail(f"/u: {fields['/u']}")
    finally:
        subprocess.run(["umount", "-l", d])


@requirement("config-linux.paths.symlink-rejected", "config-linux.md", "SHOULD",
             "a masked or read-only path that is a symlink in the rootfs is refused (it "
             "could lead out of the container)")
def _(t):
    import shutil
    rootfs = os.path.join(t.dir, "link-rootfs")
    shutil.copytree(t.world.rootfs, rootfs, symlinks=True)
    os.symlink("/etc", os.path.join(rootfs, "link"))
    for key in ("linux.maskedPaths", "linux.readonlyPaths"):
        t.fails("create", "--bundle", t.bundle(edit=_edit(**{"root.path": rootfs,
                                                              key: ["/link"]})), t.new_id())


@requirement("config-linux.namespaces.join-path-each-type", "config-linux.md", "MUST",
             "ipc and cgroup namespaces given by path are joined")
def _(t):
    holder = subprocess.Popen(["unshare", "--ipc", "--cgroup", "sleep", "60"])
    try:
        import time
        deadline = time.monotonic() + 10
        while os.readlink(f"/proc/{holder.pid}/ns/ipc") == t.world.host_ns["ipc"]:
            if time.monotonic() > deadline:
                raise Skip("unshare(1) did not make the namespaces")
            time.sleep(0.01)
        want = {n: os.readlink(f"/proc/{holder.pid}/ns/{n}") for n in ("ipc", "cgroup")}
        r = t.check(_edit(**{"linux.namespaces": [
            {"type": "mount"}, {"type": "pid"}, {"type": "uts"},
            {"type": "ipc", "path": f"/proc/{holder.pid}/ns/ipc"},
            {"type": "cgroup", "path": f"/proc/{holder.pid}/ns/cgroup"}]}))
        for n in ("ipc", "cgroup"):
            eq(r["namespaces"][n], want[n], f"{n} namespace")
    finally:
        holder.kill()
        holder.wait()


@requirement("config-linux.resources.unified", "config-linux.md", "MUST",
             "unified keys are written as-is to the container's cgroup2 files (on a hybrid "
             "host: for a controller that lives in cgroup2)")
def _(t):
    if not os.path.isdir("/sys/kernel/mm/hugepages/hugepages-2048kB"):
        raise Skip("no 2 MB huge pages to use as the key")
    if "unified" not in _cgroup_mounts():
        raise Skip("no cgroup2 here")
    v, _ = _cgroup_case(t, {"unified": {"hugetlb.2MB.max": str(8 << 20)}}, "unified",
                        "hugetlb.2MB.max")
    eq(v, str(8 << 20), "hugetlb.2MB.max")
