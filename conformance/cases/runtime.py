"""runtime.md: the state, the operations (create, start, kill, delete) and the
lifecycle."""
import json
import os

from harness import REPO, Fail, eq, requirement
from .bundle import bind, set_fields, shared_dir
from .host import cgroup_mounts


# ---- state ---------------------------------------------------------------------------

STATE_KEYS = ("ociVersion", "id", "status", "pid", "bundle")


@requirement("runtime.state.fields", "runtime.md", "MUST",
             "state has ociVersion, id, status, pid (created/running), bundle (absolute), "
             "annotations when given")
def state_has_the_required_fields(t):
    cid = t.create(("sleep", "100"), set_fields(annotations={"org.example.k": "v"}))
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
def state_validates_against_the_schema(t):
    import jsonschema
    with open(os.path.join(REPO, "schemas",
                           "state-schema.json")) as f:
        schema = json.load(f)
    cid = t.create(("sleep", "100"))
    jsonschema.validate(t.state(cid), schema)
    t.ok("start", cid)
    jsonschema.validate(t.state(cid), schema)


@requirement("runtime.state.status-lifecycle", "runtime.md", "MUST",
             "status is created after create, running after start, stopped after the "
             "process exits")
def status_is_created_then_running_then_stopped(t):
    cid = t.create(("sleep", "100"))
    eq(t.state(cid)["status"], "created", "after create")
    t.ok("start", cid)
    eq(t.state(cid)["status"], "running", "after start")
    t.ok("kill", cid, "KILL")
    t.wait_stopped(cid)
    eq(t.state(cid)["status"], "stopped", "after exit")


@requirement("runtime.state.unknown-id-errors", "runtime.md", "MUST",
             "state of a container that does not exist is an error")
def state_of_an_unknown_id_is_an_error(t):
    t.fails("state", "cf-no-such-container")


# ---- create --------------------------------------------------------------------------

@requirement("runtime.create.duplicate-id-errors", "runtime.md", "MUST",
             "create with an id already in use is an error, and the first is unaffected")
def create_with_an_id_in_use_is_an_error(t):
    cid = t.create(("sleep", "100"))
    pid = t.state(cid)["pid"]
    t.fails("create", "--bundle", t.bundle(("sleep", "100")), cid)
    st = t.state(cid)
    eq((st["status"], st["pid"]), ("created", pid), "the first container")


@requirement("runtime.create.process-not-run", "runtime.md", "MUST",
             "create does not run process.args; start does")
def create_does_not_run_the_process(t):
    d = shared_dir(t)
    cid = t.create(("touch", "/shared/ran"), lambda c: bind(c, d, "/shared"))
    if os.path.exists(os.path.join(d, "ran")):
        raise Fail("process.args ran before start")
    t.ok("start", cid)
    t.wait_stopped(cid)
    if not os.path.exists(os.path.join(d, "ran")):
        raise Fail("process.args did not run after start")


@requirement("runtime.create.config-changes-ignored", "runtime.md", "MUST",
             "changes to config.json after create do not affect the container")
def config_changes_after_create_are_ignored(t):
    d = shared_dir(t)
    bundle = t.bundle(("touch", "/shared/original"), lambda c: bind(c, d, "/shared"))
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
def create_with_a_config_it_cannot_apply_is_an_error(t):
    cid = t.new_id()
    t.fails("create", "--bundle", t.bundle(edit=set_fields(**{"linux.namespaces": [
        {"type": "mount"}, {"type": "no-such-namespace"}]})), cid)
    t.fails("state", cid)


@requirement("runtime.create.missing-rootfs-errors", "runtime.md", "MUST",
             "create with a root.path that does not exist is an error")
def create_without_the_rootfs_is_an_error(t):
    cid = t.new_id()
    t.fails("create", "--bundle", t.bundle(edit=set_fields(**{"root.path": "/no/such/rootfs"})),
            cid)
    t.fails("state", cid)


# ---- start ---------------------------------------------------------------------------

@requirement("runtime.start.not-created-errors", "runtime.md", "MUST",
             "start of a container that is not created (running, stopped) is an error")
def start_of_a_container_not_created_is_an_error(t):
    cid = t.create(("sleep", "100"))
    t.ok("start", cid)
    t.fails("start", cid)
    t.ok("kill", cid, "KILL")
    t.wait_stopped(cid)
    t.fails("start", cid)


@requirement("runtime.start.unknown-id-errors", "runtime.md", "MUST",
             "start of a container that does not exist is an error")
def start_of_an_unknown_id_is_an_error(t):
    t.fails("start", "cf-no-such-container")


# ---- kill ----------------------------------------------------------------------------

@requirement("runtime.kill.delivers-signal", "runtime.md", "MUST",
             "kill sends the signal to the container's process")
def kill_delivers_the_signal(t):
    d = shared_dir(t)
    cid = t.create(("sh", "-c", "trap 'echo got-term > /shared/out; exit 0' TERM; "
                                "sleep 1000 & wait"), lambda c: bind(c, d, "/shared"))
    t.ok("start", cid)
    t.ok("kill", cid, "TERM")
    t.wait_stopped(cid)
    with open(os.path.join(d, "out")) as f:
        eq(f.read(), "got-term\n", "the process's trap")


@requirement("runtime.kill.not-running-errors", "runtime.md", "MUST",
             "kill of a stopped container is an error")
def kill_of_a_stopped_container_is_an_error(t):
    cid = t.create(("true",))
    t.ok("start", cid)
    t.wait_stopped(cid)
    t.fails("kill", cid, "KILL")


@requirement("runtime.kill.created", "runtime.md", "MUST",
             "kill of a created container signals its process (it stops)")
def kill_of_a_created_container_signals_its_process(t):
    cid = t.create(("sleep", "100"))
    t.ok("kill", cid, "KILL")
    t.wait_stopped(cid)
    eq(t.state(cid)["status"], "stopped", "status")


# ---- delete --------------------------------------------------------------------------

@requirement("runtime.delete.running-errors", "runtime.md", "MUST",
             "delete of a container that is not stopped is an error and it keeps running")
def delete_of_a_running_container_is_an_error(t):
    cid = t.create(("sleep", "100"))
    t.ok("start", cid)
    t.fails("delete", cid)
    eq(t.state(cid)["status"], "running", "after the refused delete")


@requirement("runtime.delete.removes-everything", "runtime.md", "MUST",
             "delete removes the container: its id is unknown after, its processes and "
             "cgroup are gone")
def delete_removes_the_state_processes_and_cgroup(t):
    cg = f"/cf-delete-{os.getpid()}-{t.name}"
    cid = t.create(("sleep", "100"), set_fields(**{"linux.cgroupsPath": cg}))
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
    for base in set(cgroup_mounts().values()):
        if os.path.isdir(base + cg):
            raise Fail(f"cgroup {base + cg} is left")


@requirement("runtime.delete.unknown-id-errors", "runtime.md", "MUST",
             "delete of a container that does not exist is an error")
def delete_of_an_unknown_id_is_an_error(t):
    t.fails("delete", "cf-no-such-container")


# ---- lifecycle -----------------------------------------------------------------------

@requirement("runtime.lifecycle.exit-makes-stopped", "runtime.md", "MUST",
             "when the process exits the container is stopped and can be deleted")
def exit_of_the_process_makes_the_container_stopped(t):
    cid = t.create(("true",))
    t.ok("start", cid)
    t.wait_stopped(cid)
    eq(t.state(cid)["status"], "stopped", "status")
    t.ok("delete", cid)
