"""The lifecycle through both runtimes: the exit status of every command and
of the process, and the status `state` reports between them."""
import json
import os
import select
import tempfile

import pytest

from tests.differential import harness
from tests.differential.conftest import load_config


def base_config():
    """runc spec's config, without a terminal (no console socket needed)."""
    cfg = load_config("runc-spec.json")
    cfg["process"]["terminal"] = False
    return cfg


class Script:
    """One runtime, driven by a scenario; what it shows, step by step."""

    def __init__(self, differ, rt):
        self.differ, self.rt, self.seen = differ, rt, {}
        self.names = {}

    def bundle(self, args, edit=None):
        cfg = base_config()
        if edit:
            edit(cfg)
        cid = self.rt.new_id()
        return cid, harness.make_bundle(cfg, self.differ.world.rootfs, self.differ.base, cid,
                                        args=args)

    def name(self, cid):
        return self.names.setdefault(cid, f"<id{len(self.names)}>")

    def call(self, step, *args):
        with tempfile.TemporaryFile() as out:
            rc, _, err = self.rt.call(*args, stdout=out)
        self.seen[f"{step}.rc"] = rc
        return rc

    def status(self, step, cid):
        rc, text, _ = self.rt.call("state", cid)
        self.seen[f"{step}.state"] = json.loads(text)["status"] if rc == 0 else f"rc {rc}"
        return json.loads(text) if rc == 0 else None

    def wait_exit(self, cid):
        """Until the container's process is gone (what state says meanwhile
        depends on timing: not recorded)."""
        rc, text, _ = self.rt.call("state", cid)
        st = json.loads(text) if rc == 0 else None
        if st and st.get("pid"):
            fd = os.pidfd_open(st["pid"])
            try:
                assert select.select([fd], [], [], 30)[0], "the process did not exit"
            finally:
                os.close(fd)


def both(differ, scenario):
    """Run a scenario with each runtime; fail if what they show differs."""
    seen = {}
    for rt in (differ.ocirt, differ.runc):
        s = Script(differ, rt)
        scenario(s)
        seen[rt.name] = s.seen
    bad = harness.diff(seen["ocirt"], seen["runc"])
    assert not bad, "ocirt and runc differ:\n" + "\n".join(
        f"  {k}: ocirt {a!r} | runc {b!r}" for k, a, b in bad)
    return seen["ocirt"]


@pytest.mark.parametrize("script,status", [("exit 7", 7), ("exit 255", 255),
                                           ("exit 0", 0)])
def test_run_exits_with_the_process_status(differ, script, status):
    def scenario(s):
        cid, bundle = s.bundle(["sh", "-c", script])
        s.call("run", "run", "--bundle", bundle, cid)
        s.call("delete-after-run", "delete", cid)
    assert both(differ, scenario)["run.rc"] == status


def test_create_start_kill_delete(differ):
    def scenario(s):
        cid, bundle = s.bundle(["sleep", "100"])
        s.call("create", "create", "--bundle", bundle, cid)
        s.status("created", cid)
        s.call("start", "start", cid)
        s.status("started", cid)
        s.call("start-again", "start", cid)
        s.call("delete-running", "delete", cid)
        s.call("kill", "kill", cid, "KILL")
        s.wait_exit(cid)
        s.status("killed", cid)
        s.call("kill-stopped", "kill", cid, "KILL")
        s.call("delete", "delete", cid)
        s.status("deleted", cid)
    seen = both(differ, scenario)
    assert (seen["created.state"], seen["started.state"], seen["killed.state"]) == \
        ("created", "running", "stopped")


def test_kill_of_a_created_container_and_delete_force(differ):
    def scenario(s):
        cid, bundle = s.bundle(["sleep", "100"])
        s.call("create", "create", "--bundle", bundle, cid)
        s.call("kill", "kill", cid, "KILL")
        s.wait_exit(cid)
        s.status("killed", cid)
        s.call("start-stopped", "start", cid)
        cid2, bundle2 = s.bundle(["sleep", "100"])
        s.call("create2", "create", "--bundle", bundle2, cid2)
        s.call("create-duplicate", "create", "--bundle", bundle2, cid2)
        s.call("start2", "start", cid2)
        s.call("delete-force-running", "delete", "--force", cid2)
        s.status("force-deleted", cid2)
        s.call("delete", "delete", cid)
    both(differ, scenario)


def test_commands_on_an_unknown_id(differ):
    def scenario(s):
        for cmd in (["state"], ["start"], ["kill"], ["kill", "--all"], ["delete"],
                    ["pause"], ["resume"], ["ps"]):
            s.call(" ".join(cmd), *cmd, "df-no-such-container")
        s.call("delete --force", "delete", "--force", "df-no-such-container")
    seen = both(differ, scenario)
    assert seen["delete --force.rc"] == 0 and seen["state.rc"] != 0


def test_kill_0_is_a_liveness_probe(differ):
    def scenario(s):
        cid, bundle = s.bundle(["sleep", "100"])
        s.call("create", "create", "--bundle", bundle, cid)
        s.call("start", "start", cid)
        s.call("kill-0", "kill", cid, "0")
        s.status("after-kill-0", cid)
        s.call("delete", "delete", "--force", cid)
    assert both(differ, scenario)["kill-0.rc"] == 0


def test_a_program_that_cannot_be_executed(differ):
    def scenario(s):
        cid, bundle = s.bundle(["/no/such/program"])
        if s.call("create", "create", "--bundle", bundle, cid) == 0:
            s.call("start", "start", cid)
            s.status("after-start", cid)
            s.call("delete", "delete", "--force", cid)
        s.status("after-delete", cid)
    both(differ, scenario)
