"""config.md: root, mounts, process (args, env, cwd, user, rlimits, capabilities,
noNewPrivileges, oomScoreAdj, scheduler, ioPriority), hostname and hooks. The
hooks' failure rules are runtime.md's words about config.md's field: they are
here, with the other hooks."""
import json
import os
import subprocess
import tempfile

from harness import CHECKER, Fail, Skip, eq, mounts, requirement
from .bundle import bind, set_fields, shared_dir


# ---- root ----------------------------------------------------------------------------

@requirement("config.root.readonly", "config.md", "MUST",
             "root.readonly: the root filesystem is read-only in the container")
def readonly_root_cannot_be_written(t):
    m = mounts(t.check())
    if "ro" not in m["/"][0]:
        raise Fail(f"/ is mounted {m['/'][0]}")


@requirement("config.root.writable", "config.md", "MUST",
             "root.readonly false: the root filesystem is writable")
def root_is_writable_unless_readonly(t):
    import shutil
    rootfs = os.path.join(t.dir, "rw-rootfs")
    shutil.copytree(t.world.rootfs, rootfs, symlinks=True)
    out = t.run(("sh", "-c", "touch /written && echo ok"),
                set_fields(**{"root.path": rootfs, "root.readonly": False}))
    eq(out, "ok\n", "output")


@requirement("config.root.relative-path", "config.md", "MUST",
             "a relative root.path is relative to the bundle")
def relative_root_path_is_under_the_bundle(t):
    bundle = t.bundle((CHECKER,))
    with open(os.path.join(bundle, "config.json")) as f:
        cfg = json.load(f)
    cfg["root"]["path"] = os.path.relpath(t.world.rootfs, bundle)  # ../../rootfs
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(cfg, f)
    if '"pid"' not in t.run(bundle=bundle):
        raise Fail("the process did not run")


# ---- mounts --------------------------------------------------------------------------

@requirement("config.mounts.in-order-and-created", "config.md", "MUST",
             "mounts are made in order; a missing destination is created")
def mounts_are_made_in_order_and_destinations_created(t):
    d = shared_dir(t)
    with open(os.path.join(d, "marker"), "w") as f:
        f.write("bound")

    def edit(cfg):
        cfg["mounts"].append({"destination": "/mnt/deep/a", "type": "tmpfs",
                              "source": "tmpfs", "options": ["mode=755"]})
        bind(cfg, d, "/mnt/deep/a/b")
    r = t.check(edit, ("--file", "/mnt/deep/a/b/marker"))
    eq(r["files"]["/mnt/deep/a/b/marker"], "bound", "the later mount, over the earlier")


@requirement("config.mounts.options", "config.md", "MUST",
             "mount options (ro, nosuid, nodev, noexec, noatime) are applied")
def mount_options_are_applied(t):
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
def filesystem_data_options_reach_the_mount(t):
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
def readonly_bind_mount_shows_the_source_and_refuses_writes(t):
    d = shared_dir(t)
    with open(os.path.join(d, "f"), "w") as f:
        f.write("x")
    out = t.run(("sh", "-c", "cat /b/f; touch /b/g 2>/dev/null && echo wrote || echo ro"),
                lambda c: bind(c, d, "/b", ("rbind", "ro")))
    eq(out, "xro\n", "output")


@requirement("config.mounts.propagation", "config.md", "MUST",
             "rshared / rslave / rprivate bind options set the mount's propagation")
def recursive_propagation_options_are_applied(t):
    d = shared_dir(t)

    def edit(cfg):
        bind(cfg, d, "/priv", ("rbind", "rprivate"))
        bind(cfg, d, "/shr", ("rbind", "rshared"))
    m = mounts(t.check(edit))
    if any(x.startswith(("shared:", "master:")) for x in m["/priv"][1]):
        raise Fail(f"/priv: {m['/priv'][1]}")
    if not any(x.startswith("shared:") for x in m["/shr"][1]):
        raise Fail(f"/shr: {m['/shr'][1]}")


@requirement("config.mounts.atime-and-sync-options", "config.md", "MUST",
             "strictatime, nodiratime, sync, dirsync, nosymfollow are applied")
def atime_and_sync_options_are_applied(t):
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
def rro_makes_a_bind_mount_and_its_submounts_read_only(t):
    d = shared_dir(t)
    sub = os.path.join(d, "sub")
    os.mkdir(sub)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", sub], check=True)
    try:
        m = mounts(t.check(lambda c: bind(c, d, "/r", ("rbind", "rro"))))
        for p in ("/r", "/r/sub"):
            if p not in m or "ro" not in m[p][0]:
                raise Fail(f"{p}: {m.get(p)}")
    finally:
        subprocess.run(["umount", "-l", sub])


@requirement("config.mounts.rslave", "config.md", "MUST",
             "rslave bind mounts receive propagation from the host (master:N)")
def rslave_mount_receives_propagation_from_the_host(t):
    d = shared_dir(t)
    subprocess.run(["mount", "--bind", d, d], check=True)
    subprocess.run(["mount", "--make-shared", d], check=True)
    try:
        m = mounts(t.check(lambda c: bind(c, d, "/s", ("rbind", "rslave"))))
        if not any(x.startswith("master:") for x in m["/s"][1]):
            raise Fail(f"/s: {m['/s'][1]}")
    finally:
        subprocess.run(["umount", "-l", d])


@requirement("config.mounts.filesystems", "config.md", "MUST",
             "proc, sysfs, tmpfs, devpts and mqueue mounts are made with their types")
def special_filesystems_are_mounted_with_their_types(t):
    m = mounts(t.check())
    want = {"/proc": "proc", "/sys": "sysfs", "/dev": "tmpfs", "/dev/pts": "devpts",
            "/dev/mqueue": "mqueue", "/dev/shm": "tmpfs"}
    for p, fs in want.items():
        if p not in m or m[p][2] != fs:
            raise Fail(f"{p}: {m.get(p)}")


@requirement("config.mounts.idmap", "config.md", "MUST",
             "v1.2: an idmap bind mount shows files with the mount's mapping")
def idmap_mount_shows_files_with_its_mapping(t):
    d = shared_dir(t)
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


@requirement("config.mounts.propagation-non-recursive", "config.md", "MUST",
             "private, shared, slave and unbindable bind options set the mount's propagation")
def non_recursive_propagation_options_are_applied(t):
    d = shared_dir(t)
    subprocess.run(["mount", "--bind", d, d], check=True)
    subprocess.run(["mount", "--make-shared", d], check=True)
    try:
        def edit(cfg):
            for dest, prop in (("/p", "private"), ("/s", "shared"), ("/l", "slave"),
                               ("/u", "unbindable")):
                bind(cfg, d, dest, ("bind", prop))
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


# ---- process -------------------------------------------------------------------------

MASK = (1 << 29) | (1 << 5) | (1 << 10)  # AUDIT_WRITE, KILL, NET_BIND_SERVICE


@requirement("config.process.args-env-cwd", "config.md", "MUST",
             "process.args run with process.env (plus HOME when it lacks one, as runc), "
             "in process.cwd")
def process_runs_with_its_args_env_and_cwd(t):
    r = t.check(set_fields(**{"process.env": ["A=1", "B=two"], "process.cwd": "/tmp"}))
    eq(sorted(e for e in r["env"] if not e.startswith("HOME=")), ["A=1", "B=two"], "env")
    eq(r["cwd"], "/tmp", "cwd")


@requirement("config.process.env-home", "config.md", "MAY",
             "HOME is set from the container's /etc/passwd when process.env has none (runc)")
def home_comes_from_etc_passwd(t):
    r = t.check(set_fields(**{"process.env": ["PATH=/bin"]}))
    eq([e for e in r["env"] if e.startswith("HOME=")], ["HOME=/root"], "HOME")
    r = t.check(set_fields(**{"process.env": ["PATH=/bin", "HOME=/mine"]}))
    eq([e for e in r["env"] if e.startswith("HOME=")], ["HOME=/mine"], "HOME given")


@requirement("config.process.cwd-created", "config.md", "MAY",
             "a missing process.cwd is created (runc does)")
def missing_cwd_is_created(t):
    eq(t.check(set_fields(**{"process.cwd": "/tmp/new/dir"}))["cwd"], "/tmp/new/dir", "cwd")


@requirement("config.process.user", "config.md", "MUST",
             "uid, gid, additionalGids and umask are those of process.user")
def process_has_the_user_ids_groups_and_umask(t):
    r = t.check(set_fields(**{"process.user": {"uid": 1000, "gid": 1001, "umask": 0o27,
                                          "additionalGids": [5, 6]}}))
    eq((r["uid"], r["gid"], r["ruid"], r["suid"]), (1000, 1001, 1000, 1000), "ids")
    eq(sorted(r["groups"]), [5, 6], "groups")
    eq(r["umask"], 0o27, "umask")


@requirement("config.process.rlimits", "config.md", "MUST",
             "each rlimit is set (soft and hard)")
def rlimits_are_set(t):
    r = t.check(set_fields(**{"process.rlimits": [
        {"type": "RLIMIT_NOFILE", "soft": 300, "hard": 400},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 1024},
        {"type": "RLIMIT_NPROC", "soft": 500, "hard": 600}]}))
    eq(r["rlimits"]["RLIMIT_NOFILE"], [300, 400], "NOFILE")
    eq(r["rlimits"]["RLIMIT_CORE"], [0, 1024], "CORE")
    eq(r["rlimits"]["RLIMIT_NPROC"], [500, 600], "NPROC")


@requirement("config.process.rlimits-unknown-errors", "config.md", "MUST",
             "an rlimit type the runtime cannot map is an error")
def unknown_rlimit_is_an_error(t):
    t.fails("create", "--bundle", t.bundle(edit=set_fields(**{"process.rlimits": [
        {"type": "RLIMIT_NOSUCH", "soft": 1, "hard": 1}]})), t.new_id())


@requirement("config.process.rlimits-duplicate-errors", "config.md", "MUST",
             "duplicate rlimit types are an error")
def duplicate_rlimit_is_an_error(t):
    t.fails("create", "--bundle", t.bundle(edit=set_fields(**{"process.rlimits": [
        {"type": "RLIMIT_NOFILE", "soft": 10, "hard": 10},
        {"type": "RLIMIT_NOFILE", "soft": 20, "hard": 20}]})), t.new_id())


@requirement("config.process.capabilities", "config.md", "MUST",
             "the bounding, effective, permitted (and ambient) sets are those of the config")
def capability_sets_are_those_of_the_config(t):
    r = t.check()
    for field in ("cap_bnd", "cap_eff", "cap_prm"):
        eq(int(r[field], 16), MASK, field)
    eq(int(r["cap_amb"], 16), 0, "cap_amb")


@requirement("config.process.capabilities-ambient", "config.md", "MUST",
             "ambient capabilities reach a non-root process")
def ambient_capabilities_reach_a_non_root_process(t):
    caps = ["CAP_NET_BIND_SERVICE"]
    r = t.check(set_fields(**{"process.user": {"uid": 1000, "gid": 1000},
                         "process.capabilities": {k: caps for k in (
                             "bounding", "effective", "permitted", "inheritable", "ambient")}}))
    eq(int(r["cap_amb"], 16), 1 << 10, "cap_amb")
    eq(int(r["cap_eff"], 16), 1 << 10, "cap_eff")


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
    p = t.call("create", "--bundle", t.bundle(edit=set_fields(**edit)), cid, preexec_fn=preexec_fn)
    if name not in p.stderr:
        raise Fail(f"{name} was not logged" + (f" (create exited {p.returncode})"
                                              if p.returncode else ""))
    return cid if p.returncode == 0 else None


@requirement("config.process.capabilities-ungrantable-logged", "config.md", "MUST",
             "a capability that cannot be mapped or granted is logged as a warning "
             "(an unknown name, an ambient one outside the inheritable set, one the runtime "
             "lacks)")
def ungrantable_capability_is_logged_as_a_warning(t):
    p = t.call("create", "--bundle", t.bundle(edit=set_fields(**{"process.capabilities": {
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
def ungrantable_capability_does_not_fail_the_container(t):
    for what, (edit, preexec_fn, name) in _UNGRANTABLE.items():
        cid = t.new_id()
        with tempfile.TemporaryFile() as out:
            p = t.call("create", "--bundle", t.bundle(edit=set_fields(**edit)), cid, out=out,
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
def no_new_privileges_sets_no_new_privs(t):
    eq(t.check()["no_new_privs"], 1, "with true")
    eq(t.check(set_fields(**{"process.noNewPrivileges": False}))["no_new_privs"], 0, "with false")


@requirement("config.process.oomScoreAdj", "config.md", "MUST",
             "oomScoreAdj is written to the process's oom_score_adj")
def oom_score_adj_is_written(t):
    eq(t.check(set_fields(**{"process.oomScoreAdj": 123}))["oom_score_adj"].strip(), "123", "")


@requirement("config.process.scheduler", "config.md", "MUST",
             "process.scheduler sets the scheduling policy")
def scheduler_sets_the_policy(t):
    r = t.check(set_fields(**{"process.scheduler": {"policy": "SCHED_BATCH", "nice": 0}}))
    eq(r["sched_policy"], 3, "policy (SCHED_BATCH = 3)")


@requirement("config.process.ioPriority", "config.md", "MUST",
             "process.ioPriority sets the I/O priority")
def io_priority_is_set(t):
    r = t.check(set_fields(**{"process.ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 6}}))
    eq(r["ioprio"], (2 << 13) | 6, "ioprio")


@requirement("config.process.args-empty-errors", "config.md", "MUST",
             "process.args needs an entry: an empty list is an error")
def empty_args_is_an_error(t):
    cid = t.new_id()
    p = t.call("create", "--bundle", t.bundle(edit=set_fields(**{"process.args": []})), cid)
    if p.returncode == 0:
        t.fails("start", cid)


# ---- hostname ------------------------------------------------------------------------

@requirement("config.hostname", "config.md", "MUST",
             "hostname and domainname are set in the container's UTS namespace")
def hostname_and_domainname_are_set_in_the_uts_namespace(t):
    r = t.check(set_fields(hostname="cf-host", domainname="cf.example"))
    eq((r["hostname"], r["domainname"]), ("cf-host", "cf.example"), "uts names")


# ---- hooks ---------------------------------------------------------------------------

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
def prestart_and_create_runtime_hooks_run_during_create(t):
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
def create_container_hooks_run_in_the_container_mount_namespace(t):
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
def start_container_hooks_run_before_the_process(t):
    d = shared_dir(t)
    hook = _hook_script(t, "h", "[ -e /shared/process ] || touch /shared/hook-first")
    cid = t.create(("touch", "/shared/process"),
                   lambda c: (bind(c, d, "/shared"),
                              _hooks(startContainer=[{"path": "/shared/h"}])(c)))
    os.rename(hook, os.path.join(d, "h"))
    if os.listdir(d) != ["h"]:
        raise Fail(f"something ran before start: {os.listdir(d)}")
    t.ok("start", cid)
    t.wait_stopped(cid)
    eq(sorted(os.listdir(d)), ["h", "hook-first", "process"], "files")


@requirement("config.hooks.poststart-after-start", "config.md", "MUST",
             "poststart hooks run after the process has started, before start returns")
def poststart_hooks_run_before_start_returns(t):
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
def poststop_hooks_run_on_delete(t):
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
def hooks_of_one_point_run_in_order_with_their_args_and_env(t):
    out = os.path.join(t.dir, "out")
    hook = _hook_script(t, "h", f'echo "$1 $2 $X" >> {out}')
    t.create(("sleep", "100"), _hooks(prestart=[
        {"path": hook, "args": ["h", "first", "a"], "env": ["X=1"]},
        {"path": hook, "args": ["h", "second", "b"], "env": ["X=2"]}]))
    eq(_read(out), "first a 1\nsecond b 2\n", "hook output")


@requirement("config.hooks.prestart-failure", "runtime.md", "MUST",
             "a failing prestart hook makes create fail, and no container is left")
def failing_prestart_hook_fails_create(t):
    cid = t.new_id()
    hook = _hook_script(t, "h", "exit 3")
    t.fails("create", "--bundle", t.bundle(("sleep", "100"),
                                           _hooks(prestart=[{"path": hook}])), cid)
    p = t.call("state", cid)
    if p.returncode == 0 and json.loads(p.stdout)["status"] != "stopped":
        raise Fail("the container is still there after the failed create")


@requirement("config.hooks.poststart-failure", "runtime.md", "MUST",
             "v1.3.0: a failing poststart hook is an error (start fails, container stopped)")
def failing_poststart_hook_fails_start(t):
    hook = _hook_script(t, "h", "exit 3")
    cid = t.create(("sleep", "100"), _hooks(poststart=[{"path": hook}]))
    t.fails("start", cid)
    p = t.call("state", cid)
    if p.returncode == 0 and json.loads(p.stdout)["status"] == "running":
        raise Fail("the container still runs")


@requirement("config.hooks.poststop-failure-is-a-warning", "runtime.md", "MUST",
             "a failing poststop hook does not fail delete")
def failing_poststop_hook_does_not_fail_delete(t):
    hook = _hook_script(t, "h", "exit 3")
    cid = t.create(("true",), _hooks(poststop=[{"path": hook}]))
    t.ok("start", cid)
    t.wait_stopped(cid)
    t.ok("delete", cid)
    t.fails("state", cid)


@requirement("config.hooks.timeout", "config.md", "MUST",
             "a hook that outlives its timeout fails")
def hook_outliving_its_timeout_fails(t):
    hook = _hook_script(t, "h", "sleep 30")
    cid = t.new_id()
    t.fails("create", "--bundle", t.bundle(("sleep", "100"), _hooks(
        prestart=[{"path": hook, "timeout": 1}])), cid, timeout=25)


@requirement("config.hooks.lifecycle-order", "runtime.md", "MUST",
             "hooks run in lifecycle order: prestart, createRuntime, createContainer (create), "
             "startContainer, poststart (start), poststop (delete)")
def hooks_run_in_lifecycle_order(t):
    log = os.path.join(t.dir, "log")
    d = shared_dir(t)
    host = _hook_script(t, "h", f'echo "$1" >> {log}')
    inside = os.path.join(d, "h")
    with open(inside, "w") as f:
        f.write(f'#!/bin/sh\necho "$1" >> /shared/log\n')
    os.chmod(inside, 0o755)

    def edit(cfg):
        bind(cfg, d, "/shared")
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
def runtime_side_hooks_run_in_the_runtime_namespaces(t):
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
def start_container_hooks_run_in_the_container_namespaces(t):
    d = shared_dir(t)
    inside = os.path.join(d, "h")
    with open(inside, "w") as f:
        f.write("#!/bin/sh\n(readlink /proc/self/ns/mnt; readlink /proc/self/ns/net) "
                "> /shared/out\n")
    os.chmod(inside, 0o755)

    def edit(cfg):
        bind(cfg, d, "/shared")
        cfg["hooks"] = {"startContainer": [{"path": "/shared/h"}]}
    cid = t.create(("sleep", "100"), edit)
    pid = t.state(cid)["pid"]
    want = [os.readlink(f"/proc/{pid}/ns/mnt"), os.readlink(f"/proc/{pid}/ns/net")]
    t.ok("start", cid)
    eq(_read(os.path.join(d, "out")).split(), want, "namespaces")
