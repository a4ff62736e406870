"""A caller without access to the state root gets one line saying so."""
import os
import subprocess

import pytest

NOBODY = 65534


@pytest.mark.parametrize("args", [["list"], ["state", "{id}"], ["kill", "{id}"],
                                  ["delete", "--force", "{id}"], ["exec", "{id}", "true"],
                                  ["start", "{id}"], ["pause", "{id}"], ["ps", "{id}"],
                                  ["create", "--bundle", "{bundle}", "other"]])
def test_non_root_caller_gets_permission_denied(rt, public_tmp, args):
    cid = rt.running()
    os.chmod(rt.root, 0o700)
    bundle = public_tmp / "bundle"  # readable by anyone: only the state root is not
    bundle.mkdir()
    os.rename(os.path.join(rt.bundle(), "config.json"), bundle / "config.json")
    if args[0] == "create":
        # a config a user other than root may run (its own user namespace,
        # mapping its own ids): what is left to refuse is the state root
        import json
        doc = json.loads((bundle / "config.json").read_text())
        doc["linux"]["namespaces"].append({"type": "user"})
        doc["linux"]["uidMappings"] = [{"containerID": 0, "hostID": NOBODY, "size": 1}]
        doc["linux"]["gidMappings"] = [{"containerID": 0, "hostID": NOBODY, "size": 1}]
        (bundle / "config.json").write_text(json.dumps(doc))
    os.chmod(bundle / "config.json", 0o644)
    os.chmod(rt.tmp, 0o755)
    cmd = [rt.bin, "--root", rt.root] + [a.format(id=cid, bundle=bundle) for a in args]

    def become_nobody():
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)
    p = subprocess.run(cmd, preexec_fn=become_nobody, capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert "Permission denied" in lines[0] and rt.root in lines[0], lines[0]
    assert "internal error" not in p.stderr
    assert rt.state(cid)["status"] == "running"
