"""The lifecycle of runtime-spec runtime.md, driven through the CLI."""
import json
import os
import subprocess
import sysconfig
import threading

import pytest

from tests.integration.conftest import read_fifo, shared_dir


def test_demo_container_sees_its_own_world(rt):
    p = rt.run(["sh", "-c", "hostname; echo $$; id -u; cat /proc/1/cmdline | tr '\\0' ' '"])
    assert p.returncode == 0, p.stderr
    hostname, pid, uid, cmdline = p.stdout.splitlines()
    assert hostname == "ocirt"
    assert pid == "1"
    assert uid == "0"
    assert cmdline.startswith("sh -c hostname")
    assert p.stderr == ""


def test_run_returns_the_exit_status(rt):
    assert rt.run(["sh", "-c", "exit 3"]).returncode == 3
    assert rt.run(["true"]).returncode == 0


def test_run_killed_by_signal_returns_128_plus_n(rt):
    # Without a pid namespace sh is not an init, so it can kill itself.
    def edit(cfg):
        cfg["linux"]["namespaces"] = [ns for ns in cfg["linux"]["namespaces"]
                                      if ns["type"] != "pid"]
    p = rt.run(["sh", "-c", "kill -9 $$"], edit)
    assert p.returncode == 128 + 9


def test_run_deletes_the_container_afterwards(rt):
    rt.run(["true"])
    assert os.listdir(rt.root) == []


def test_args_do_not_run_before_start(rt, tmp_path):
    shared, edit = shared_dir(tmp_path, "/shared")
    cid = rt.created(["sh", "-c", "echo ran > /shared/marker; echo done > /shared/fifo"], edit)
    assert rt.state(cid)["status"] == "created"
    assert not (shared / "marker").exists()
    rt("start", cid, check=True)
    assert read_fifo(shared / "fifo") == "done\n"
    assert (shared / "marker").read_text() == "ran\n"


def test_state_fields_follow_the_spec(rt):
    from tests.unit.test_schemas import schema  # the schema checker used by the unit tests
    import jsonschema

    def edit(cfg):
        cfg["annotations"] = {"org.example.key": "value"}
    cid = rt.created(edit=edit)
    st = rt.state(cid)
    jsonschema.validate(st, schema("state"))
    assert st["id"] == cid
    assert st["status"] == "created"
    assert st["pid"] > 0 and os.path.exists(f"/proc/{st['pid']}")
    assert os.path.isabs(st["bundle"])
    assert st["annotations"] == {"org.example.key": "value"}
    assert st["created"].endswith("Z")
    rt("start", cid, check=True)
    assert rt.state(cid)["status"] == "running"
    rt("kill", cid, "KILL", check=True)
    wait_stopped(rt, cid)
    st = rt.state(cid)
    assert st["status"] == "stopped" and st["pid"] == 0
    jsonschema.validate(st, schema("state"))


def wait_stopped(rt, cid):
    """Block until the container's init has exited (pidfd), then check the status."""
    pid = rt.state(cid)["pid"]
    if pid:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            fd = None
        if fd is not None:
            import select
            select.select([fd], [], [], 20)
            os.close(fd)
    assert rt.state(cid)["status"] == "stopped"


def test_start_twice_is_an_error_and_changes_nothing(rt):
    cid = rt.running()
    p = rt("start", cid)
    assert p.returncode == 1
    assert "running" in p.stderr and len(p.stderr.splitlines()) == 1
    assert rt.state(cid)["status"] == "running"


def test_kill_of_a_stopped_container_is_an_error(rt):
    cid = rt.running(["true"])
    wait_stopped(rt, cid)
    p = rt("kill", cid, "TERM")
    # containerd's runc shim takes a kill error that says "container not
    # running" (runc's words) for "already exited"; other words fail its
    # StopContainer/StopPodSandbox when the init died meanwhile
    assert p.returncode == 1 and "container not running" in p.stderr, p.stderr


def test_kill_all_of_a_stopped_container_reaches_what_outlives_the_init(rt, tmp_path):
    # Without a pid namespace the init's children outlive it, and containerd's
    # shim then sends `kill --all ID KILL` to the stopped container: what is
    # left in its cgroup gets the signal, without an error (as with runc).
    host, share = shared_dir(tmp_path, "/s")

    def edit(cfg):
        share(cfg)
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"]
                                      if n["type"] != "pid"]
    cid = rt.running(["sh", "-c", "sleep 1000 & echo $! > /s/fifo"], edit)
    child = int(read_fifo(host / "fifo"))
    wait_stopped(rt, cid)
    fd = os.pidfd_open(child)
    try:
        import select
        assert not select.select([fd], [], [], 0)[0], "the child died with the init"
        rt("kill", "--all", cid, "KILL", check=True)
        assert select.select([fd], [], [], 20)[0], "the child outlived kill --all"
    finally:
        os.close(fd)
    rt("kill", "--all", cid, "KILL", check=True)  # nothing left: still no error
    assert rt("kill", cid, "KILL").returncode == 1  # the init alone: not running
    rt("delete", cid, check=True)


@pytest.mark.parametrize("sig", ["KILL", "SIGKILL", "9", "kill"])
def test_kill_accepts_signal_forms(rt, sig):
    cid = rt.running()
    rt("kill", cid, sig, check=True)
    wait_stopped(rt, cid)


def test_kill_rejects_a_bad_signal(rt):
    cid = rt.running()
    p = rt("kill", cid, "SIGBOGUS")
    assert p.returncode == 1 and "invalid signal" in p.stderr
    assert rt.state(cid)["status"] == "running"


def test_delete_of_a_running_container_needs_force(rt):
    cid = rt.running()
    pid = rt.state(cid)["pid"]
    p = rt("delete", cid)
    assert p.returncode == 1 and "not stopped" in p.stderr
    assert rt.state(cid)["status"] == "running"
    rt("delete", "--force", cid, check=True)
    assert not os.path.exists(os.path.join(rt.root, cid))
    assert not os.path.exists(f"/sys/fs/cgroup/memory/ocirt/{cid}")
    with open(f"/proc/{pid}/stat") if os.path.exists(f"/proc/{pid}/stat") else open(os.devnull) as f:
        assert f.read().split(") ")[-1][:1] in ("", "Z", "X")


def test_delete_of_a_created_container_kills_it(rt):
    cid = rt.created()
    pid = rt.state(cid)["pid"]
    rt("delete", cid, check=True)
    assert not os.path.exists(os.path.join(rt.root, cid))
    assert not os.path.exists(f"/proc/{pid}/cmdline") or open(f"/proc/{pid}/cmdline").read() == ""


def test_delete_removes_what_create_made(rt):
    cid = rt.running(["true"])
    wait_stopped(rt, cid)
    rt("delete", cid, check=True)
    assert os.listdir(rt.root) == []
    for ctrl in ("memory", "pids", "cpu", "freezer", "unified"):
        assert not os.path.exists(f"/sys/fs/cgroup/{ctrl}/ocirt/{cid}")


def test_unknown_ids(rt):
    for cmd in (["state"], ["kill"], ["delete"], ["start"]):
        p = rt(*cmd, "no-such-container")
        assert p.returncode == 1, cmd
        assert "does not exist" in p.stderr
    assert rt("delete", "--force", "no-such-container").returncode == 0


def test_duplicate_id_is_refused_and_the_first_survives(rt):
    cid = rt.created()
    p = rt("create", "--bundle", rt.bundle(), cid)
    assert p.returncode == 1 and "exists" in p.stderr
    assert rt.state(cid)["status"] == "created"


def test_concurrent_creates_of_one_id_only_one_wins(rt):
    cid = rt.new_id()
    bundles = [rt.bundle(["sleep", "1000"]) for _ in range(4)]
    results = []

    def go(b):
        results.append(rt("create", "--bundle", b, cid).returncode)
    threads = [threading.Thread(target=go, args=(b,)) for b in bundles]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [0, 1, 1, 1]
    assert rt.state(cid)["status"] == "created"


def test_config_changes_after_create_have_no_effect(rt):
    b = rt.bundle(["sh", "-c", "echo original"])
    cid = rt.new_id()
    rt("create", "--bundle", b, cid, check=True)
    cfg = json.loads(open(os.path.join(b, "config.json")).read())
    cfg["process"]["args"] = ["sh", "-c", "echo changed"]
    open(os.path.join(b, "config.json"), "w").write(json.dumps(cfg))
    # run the same create through `run` semantics: start and collect output via a fifo
    # is covered elsewhere; here the recorded copy must be the original one.
    copy = json.load(open(os.path.join(rt.root, cid, "config.json")))
    assert copy["process"]["args"] == ["sh", "-c", "echo original"]


def test_start_runs_the_config_as_it_was_at_create(rt, tmp_path):
    shared, edit = shared_dir(tmp_path, "/s")
    b = rt.bundle(["sh", "-c", "echo original > /s/fifo"], edit)
    cid = rt.new_id()
    rt("create", "--bundle", b, cid, check=True)
    cfg = json.load(open(os.path.join(b, "config.json")))
    cfg["process"]["args"] = ["sh", "-c", "echo changed > /s/fifo"]
    json.dump(cfg, open(os.path.join(b, "config.json"), "w"))
    rt("start", cid, check=True)
    assert read_fifo(shared / "fifo") == "original\n"


def test_pid_file_holds_the_host_pid(rt, tmp_path):
    cid = rt.new_id()
    pf = tmp_path / "pid"
    rt("create", "--bundle", rt.bundle(["sleep", "1000"]), "--pid-file", pf, cid, check=True)
    assert int(pf.read_text()) == rt.state(cid)["pid"]


def test_state_dir_is_private(rt):
    cid = rt.created()
    mode = os.stat(os.path.join(rt.root, cid)).st_mode & 0o777
    assert mode & 0o077 == 0


def test_list_formats(rt):
    a = rt.created()
    b = rt.running()
    p = rt("list", check=True)
    lines = p.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "PID", "STATUS"]
    rows = {line.split()[0]: line.split()[2] for line in lines[1:]}
    assert rows == {a: "created", b: "running"}
    items = json.loads(rt("list", "--format", "json", check=True).stdout)
    assert {i["id"]: i["status"] for i in items} == {a: "created", b: "running"}
    assert sorted(rt("list", "-q", check=True).stdout.split()) == sorted([a, b])


def test_spec_writes_a_config_that_runs(rt, tmp_path):
    b = tmp_path / "specbundle"
    b.mkdir()
    rt("spec", "--bundle", b, check=True)
    cfg = json.load(open(b / "config.json"))
    cfg["root"]["path"] = rt.rootfs
    cfg["process"]["args"] = ["true"]  # not runc's interactive sh: stdin is /dev/null
    json.dump(cfg, open(b / "config.json", "w"))
    p = rt("run", "--bundle", b, rt.new_id())
    assert p.returncode == 0, p.stderr
    assert rt("spec", "--bundle", b).returncode == 1  # refuses to overwrite


def test_detached_run_and_keep(rt):
    cid = rt.new_id()
    rt("run", "--detach", "--bundle", rt.bundle(["sleep", "1000"]), cid, check=True)
    assert rt.state(cid)["status"] == "running"
    kid = rt.new_id()
    rt("run", "--keep", "--bundle", rt.bundle(["true"]), kid, check=True)
    assert rt.state(kid)["status"] == "stopped"


def test_run_forwards_signals(rt, tmp_path):
    shared, edit = shared_dir(tmp_path, "/s", fifos=("ready",))
    b = rt.bundle(["sh", "-c", "trap 'exit 42' TERM; echo up > /s/ready; "
                   "while :; do sleep 0.05; done"], edit)
    proc = subprocess.Popen([rt.bin, "--root", rt.root, "run", "--bundle", b, rt.new_id()],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert read_fifo(shared / "ready") == "up\n"
        proc.terminate()
        assert proc.wait(timeout=20) == 42
    finally:
        proc.kill()
        proc.wait()


def test_version_output():
    from tests.conftest import ocirt_binary
    p = subprocess.run([ocirt_binary(), "--version"], capture_output=True, text=True)
    lines = p.stdout.splitlines()
    assert lines[0].startswith("ocirt version ")
    assert "spec: 1.3.0" in lines


def test_works_with_an_empty_environment(rt):
    cid = rt.created()
    p = subprocess.run([rt.bin, "--root", rt.root, "state", cid], env={},
                       capture_output=True, text=True)
    assert p.returncode == 0 and json.loads(p.stdout)["status"] == "created"
    p = subprocess.run([rt.bin, "--root", rt.root, "delete", "--force", cid], env={},
                       capture_output=True, text=True)
    assert p.returncode == 0 and p.stderr == ""


# the installed package, as the launcher starts it (the compiled launcher
# itself cannot take -X importtime)
LAUNCH = (f"import sys; sys.path.insert(0, {sysconfig.get_paths()['purelib']!r}); "
          "from ocirt.cli import launch; launch()")


def test_create_and_run_import_only_what_they_need(rt, tmp_path):
    """create/run are called for every container: no click, json, re, enum, socket, os,
    in the runtime or in the container's setup processes (their stderr is the same)."""
    import sys
    heavy = {"click", "json", "re", "enum", "socket", "signal", "subprocess", "shutil",
             "dataclasses", "typing", "jsonschema", "collections",
             "os", "resource", "struct"}  # ocirt.posixos, the C shim and int.to_bytes do
    for cmd in (["create", "--bundle", rt.bundle(["true"])], ["run", "--bundle", rt.bundle(["true"])]):
        cid = rt.new_id()
        err = tmp_path / "imports.txt"
        with open(err, "w") as f:
            p = subprocess.run([sys.executable, "-I", "-S", "-X", "importtime", "-c", LAUNCH,
                                "--root", rt.root] + cmd + [cid], stderr=f,
                               stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, timeout=60)
        assert p.returncode == 0, err.read_text()[-2000:]
        names = {line.split("|")[-1].strip() for line in err.read_text().splitlines()
                 if line.startswith("import time:") and "|" in line}
        assert not names & heavy, sorted(names & heavy)
        rt("delete", "--force", cid, check=True)
