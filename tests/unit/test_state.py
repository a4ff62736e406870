import json
import os

import pytest
from hypothesis import given, settings, strategies as st

from ocirt import errors, jsonio, state
from ocirt.linux.proc import start_time
from ocirt.state import Container, Status


# What each operation may do from each status, as runc behaves (and the
# runtime-spec's lifecycle): start only a created container; kill one whose
# init lives (paused too: runc signals it, and thaws it for KILL); kill --all
# a stopped one too (processes left in its cgroup); delete a stopped one, or
# a created one (its init is killed, as runc's delete does), anything with
# --force; exec into a created or running one (paused with --ignore-paused).
LIFECYCLE = """
                      creating  created  running  paused  stopped
start                     -        x        -        -       -
kill                      -        x        x        x       -
kill --all                -        x        x        x       x
delete                    -        x        -        -       x
delete --force            x        x        x        x       x
exec                      -        x        x        -       -
exec --ignore-paused      -        x        x        x       -
pause                     -        -        x        -       -
resume                    -        -        -        x       -
update                    -        x        x        x       -
events                    -        x        x        x       -
ps                        -        x        x        x       x
"""
PREDICATES = {
    "start": Status.can_start,
    "kill": Status.can_kill,
    "kill --all": Status.can_kill_all,
    "delete": Status.can_delete,
    "delete --force": lambda s: Status.can_delete(s, force=True),
    "exec": Status.can_exec,
    "exec --ignore-paused": lambda s: Status.can_exec(s, ignore_paused=True),
    "pause": Status.can_pause,
    "resume": Status.can_resume,
    "update": Status.can_update,
    "events": Status.can_events,
    "ps": Status.can_ps,
}


def _lifecycle_table():
    header, *rows = LIFECYCLE.strip().splitlines()
    statuses = header.split()
    for row in rows:
        cells = row.split()
        op, marks = " ".join(cells[:-len(statuses)]), cells[-len(statuses):]
        for status, mark in zip(statuses, marks):
            yield op, status, mark == "x"


def test_the_table_names_every_status_and_operation():
    table = list(_lifecycle_table())
    assert {s for _, s, _ in table} == set(Status.ALL)
    assert {op for op, _, _ in table} == set(PREDICATES)
    assert len(table) == len(Status.ALL) * len(PREDICATES)


@pytest.mark.parametrize("op,status,allowed", list(_lifecycle_table()))
def test_status_predicates(op, status, allowed):
    assert PREDICATES[op](status) is allowed


def test_the_pid_shows_while_the_init_lives():
    assert [s for s in Status.ALL if Status.has_init(s)] == [
        Status.CREATED, Status.RUNNING, Status.PAUSED]


def _make(tmp_path, pid, starttime, oci=None):
    c = state.new(str(tmp_path), "c1")
    c.facts = {"pid": pid, "starttime": starttime, "pidns": 1}
    c.save(oci or {"ociVersion": "1.3.0", "id": "c1", "bundle": "/b"})
    return state.load(str(tmp_path), "c1")


def test_live_process_with_matching_start_time_is_running(tmp_path):
    c = _make(tmp_path, os.getpid(), start_time(os.getpid()))
    assert c.status == Status.RUNNING
    assert json.loads(c.state_json())["pid"] == os.getpid()


def test_reused_pid_reads_as_stopped(tmp_path):
    # Our own pid, but a start time that is not ours: another process had this pid.
    c = _make(tmp_path, os.getpid(), start_time(os.getpid()) + 1)
    assert c.status == Status.STOPPED
    assert json.loads(c.state_json()) == {"pid": 0, "status": "stopped", "ociVersion": "1.3.0",
                                          "id": "c1", "bundle": "/b", "rootfs": "",
                                          "created": "", "owner": ""}


def test_exec_socket_means_created(tmp_path):
    c = _make(tmp_path, os.getpid(), start_time(os.getpid()))
    open(os.path.join(c.dir, state.EXEC_SOCKET), "w").close()
    assert c.refresh() == Status.CREATED


def test_directory_without_state_is_creating_while_its_create_holds_the_lock(tmp_path):
    c = state.new(str(tmp_path), "c2", lock=True)  # as create does
    assert state.load(str(tmp_path), "c2").status == Status.CREATING
    os.close(c.lock())  # the create is gone (killed halfway): nothing will come
    gone = state.load(str(tmp_path), "c2")
    assert gone.status == Status.STOPPED
    assert json.loads(gone.state_json())["status"] == "stopped"


def test_state_dir_mode_and_atomic_files(tmp_path):
    c = _make(tmp_path, 1, 1)
    assert os.stat(c.dir).st_mode & 0o777 == 0o700
    assert sorted(os.listdir(c.dir)) == ["init", "state.json"]


# strings as JSON must carry them: quotes, backslashes, control characters,
# what Go escapes (<>&, U+2028), and text beyond the BMP
_TRICKY = st.sampled_from(['"', "\\", "\n", "\b\f\r\t", "\x00", "\x1f", "<>&", "\u2028\u2029",
                           "\u00e9", "\U0001f600", "\\\"", "\\n", "}", "{", ",", ":"])
_STRINGS = st.lists(st.one_of(st.text(max_size=12), _TRICKY), max_size=6).map("".join)


def _runc_state(oci, pid, status):
    """runc's containerState, in its field order, through the JSON writer."""
    doc = {"ociVersion": oci["ociVersion"], "id": oci["id"], "pid": pid, "status": status,
           "bundle": oci["bundle"], "rootfs": oci["rootfs"], "created": oci["created"]}
    if oci["annotations"]:
        doc["annotations"] = dict(sorted(oci["annotations"].items()))
    doc["owner"] = ""
    return jsonio.dumps_go(doc)


@settings(max_examples=60, deadline=None)
@given(annotations=st.dictionaries(_STRINGS, _STRINGS, max_size=5), bundle=_STRINGS,
       rootfs=_STRINGS, hooks=st.sampled_from(["", "poststart", "poststart,poststop"]),
       paths=st.dictionaries(st.sampled_from(["unified", "cpu,cpuacct", "memory", "pids"]),
                             # a path is text the kernel gave or a config held:
                             # never a lone surrogate (config.json's are refused)
                             st.text(st.characters(blacklist_characters="\n\r\x00",
                                                   blacklist_categories=("Cs",)),
                                     max_size=20).map(lambda t: "/sys/fs/cgroup/" + t)))
def test_a_state_written_then_read_holds_the_same_facts(tmp_path_factory, annotations, bundle,
                                                        rootfs, hooks, paths):
    """What save() records, load() reads back: the OCI state byte for byte
    as the JSON writer emits runc's (and its indented form), the facts about
    the init, and the cgroup's record."""
    d = tmp_path_factory.mktemp("s")
    c = state.new(str(d), "c1")
    c.record_cgroup(paths, [])
    c.facts = {"pid": 999999999, "starttime": 5, "pidns": 1, "exe": "8:1234"}
    if hooks:
        c.facts["hooks"] = hooks
    oci = {"ociVersion": "1.3.0", "id": "c1", "bundle": bundle, "rootfs": rootfs,
           "created": "2026-01-01T00:00:00.000000000Z", "owner": "",
           "annotations": annotations}
    c.save(oci)
    back = state.load(str(d), "c1")
    assert back.status == Status.STOPPED  # no such pid
    assert back.state_json() == _runc_state(oci, 0, "stopped")
    assert json.loads(back.state_text()) == json.loads(back.state_json())
    assert (back.pid, back.starttime, back.has_pidns) == (999999999, 5, True)
    assert back.facts["exe"] == "8:1234" and back.hook_points == hooks.split(",")
    assert back.cgroup_paths == paths and back.cgroup_record() == (paths, [], None)
    # with the status it would have: the recorded parts hold neither pid nor status
    back._status = Status.RUNNING
    assert back.state_json() == _runc_state(oci, 999999999, "running")


def test_a_large_state_round_trips(tmp_path):
    """Kubernetes allows 256 KiB of annotations: all of it comes back."""
    big = {f"k{i}\"\\": "v\u00e9<" * 300 for i in range(300)}
    oci = {"ociVersion": "1.3.0", "id": "c1", "bundle": "/b", "rootfs": "/b/r",
           "created": "", "owner": "", "annotations": big}
    c = state.new(str(tmp_path), "c1")
    c.facts = {"pid": 0, "starttime": 0}
    c.save(oci)
    back = state.load(str(tmp_path), "c1")
    assert back.state_json() == _runc_state(oci, 0, "stopped")
    assert json.loads(back.state_text())["annotations"] == big


def test_one_record_per_fact(tmp_path):
    """The pid and status are not in state.json (the status is derived, the
    pid is the init's record), and the cgroup is in its own record only;
    state.json is still a JSON document: the state without them."""
    c = state.new(str(tmp_path), "c1")
    c.record_cgroup({"unified": "/sys/fs/cgroup/x"}, [], "x.scope")
    c.facts = {"pid": 5, "starttime": 7, "pidns": 0}
    c.save({"ociVersion": "1.3.0", "id": "c1", "bundle": "/b"})
    with open(os.path.join(c.dir, "state.json")) as f:
        assert json.load(f) == {"ociVersion": "1.3.0", "id": "c1", "bundle": "/b",
                                "rootfs": "", "created": "", "owner": ""}
    with open(os.path.join(c.dir, "init")) as f:
        assert f.read() == "pid 5\nstarttime 7\npidns 0\n"
    back = state.load(str(tmp_path), "c1")
    assert back.cgroup_record() == ({"unified": "/sys/fs/cgroup/x"}, [], "x.scope")


def test_facts_round_trip_with_spaces_in_paths(tmp_path):
    c = state.new(str(tmp_path), "c3")
    paths = {"cpu,cpuacct": "/sys/fs/cgroup/cpu,cpuacct/a b/c", "unified": "/x"}
    c.record_cgroup(paths, [])
    c.facts = {"pid": 5, "starttime": 7, "pidns": 0}
    c.save({"id": "c3"})
    back = state.load(str(tmp_path), "c3")
    assert back.pid == 5 and back.starttime == 7 and not back.has_pidns
    assert back.cgroup_paths == paths


# ---- the store never follows what others may plant, and reads are bounded

def test_a_symlinked_state_directory_is_refused_and_not_emptied(tmp_path):
    root, target = tmp_path / "root", tmp_path / "precious"
    root.mkdir()
    target.mkdir()
    (target / "state.json").write_text("x")
    (root / "victim").symlink_to(target)
    with pytest.raises(errors.OcirtError, match="symbolic link"):
        state.load(str(root), "victim", broken=True)
    warnings = []
    assert state.list_all(str(root), warn=warnings.append) == []
    assert len(warnings) == 1 and "victim" in warnings[0]
    assert os.listdir(target) == ["state.json"]


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_a_state_directory_of_another_owner_is_refused(tmp_path):
    c = state.new(str(tmp_path), "c1")
    os.chown(c.dir, 65534, 65534)
    with pytest.raises(errors.OcirtError, match="owned by uid 65534"):
        state.load(str(tmp_path), "c1")


def test_files_in_the_state_directory_are_not_followed(tmp_path):
    c = _make(tmp_path, os.getpid(), start_time(os.getpid()))
    elsewhere = tmp_path / "elsewhere"
    os.rename(os.path.join(c.dir, "state.json"), elsewhere)
    os.symlink(elsewhere, os.path.join(c.dir, "state.json"))
    with pytest.raises(errors.OcirtError, match="state.json"):
        state.load(str(tmp_path), "c1")
    broken = state.load(str(tmp_path), "c1", broken=True)
    assert broken.problem and broken.status == Status.STOPPED
    broken.remove()
    assert not os.path.exists(c.dir) and elsewhere.exists()


@pytest.mark.parametrize("init,state_json,word", [
    ("pid x\nstarttime 1\n", '{"pid": 1, "status": "created", "id": "c1"}', "init"),
    ("pid 1\n", '{"pid": 1, "status": "created", "id": "c1"}', "starttime"),
    ("pid 1\nstarttime 1\n", "garbage", "state.json"),
    ("pid 1\nstarttime 1\n", '{"pid": 1, "status": "crea', "state.json"),
    ("pid 1\nstarttime 1\n", b"\xff\xfe", "state.json"),
])
def test_a_corrupt_record_is_an_error_and_list_goes_on(tmp_path, init, state_json, word):
    good = _make(tmp_path, os.getpid(), start_time(os.getpid()))
    bad = state.new(str(tmp_path), "c2")
    with open(os.path.join(bad.dir, "init"), "w") as f:
        f.write(init)
    with open(os.path.join(bad.dir, "state.json"), "wb") as f:
        f.write(state_json if isinstance(state_json, bytes) else state_json.encode())
    with pytest.raises(errors.OcirtError) as exc:
        state.load(str(tmp_path), "c2")
    msg = str(exc.value)
    assert "c2" in msg and word in msg and "delete --force" in msg and "\n" not in msg
    warnings = []
    assert [c.id for c in state.list_all(str(tmp_path), warn=warnings.append)] == [good.id]
    assert len(warnings) == 1 and "c2" in warnings[0]


def test_write_atomic_never_writes_through_a_planted_name(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    d = tmp_path / "shared"
    d.mkdir()
    (d / "out").symlink_to(victim)  # the final name: replaced, not followed
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        state.write_atomic(dfd, "out", b"123")
    finally:
        os.close(dfd)
    assert victim.read_text() == "precious"
    assert not os.path.islink(d / "out") and (d / "out").read_text() == "123"
    assert os.listdir(d) == ["out"]  # no temporary left


def test_write_atomic_retries_a_taken_temporary_name(tmp_path, monkeypatch):
    """Every temporary name is new (random), made with O_EXCL|O_NOFOLLOW: one
    taken (planted) is skipped, never opened."""
    victim = tmp_path / "victim"
    victim.write_text("precious")
    names = iter([b"\x01" * 6, b"\x02" * 6])
    monkeypatch.setattr(state.posixos, "urandom", lambda n: next(names))
    (tmp_path / ".f.010101010101.tmp").symlink_to(victim)
    dfd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        state.write_atomic(dfd, "f", b"data")
    finally:
        os.close(dfd)
    assert victim.read_text() == "precious" and (tmp_path / "f").read_text() == "data"


def test_read_regular_refuses_what_never_ends(tmp_path):
    from ocirt import posixos
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo), str(tmp_path)):
        with pytest.raises(OSError, match="not a regular file"):
            posixos.read_regular(path, 1 << 20)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 101)
    with pytest.raises(OSError, match="larger than 100 bytes"):
        posixos.read_regular(str(big), 100)
    assert posixos.read_regular(str(big), 101) == b"x" * 101
    link = tmp_path / "link"
    link.symlink_to(big)
    with pytest.raises(OSError):
        posixos.read_regular(str(link), 1000, follow=False)
    assert posixos.read_regular("/proc/self/stat", 1 << 16)  # size 0 in fstat: read to EOF


def test_remove_acts_on_the_directory_it_opened(tmp_path):
    """<root>/<id> swapped for a symlink after load: remove() empties the
    directory it opened (by fd), and neither follows nor removes the link."""
    c = _make(tmp_path, 1, 1)
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep").write_text("x")
    moved = tmp_path / "moved"
    os.rename(c.dir, moved)
    os.symlink(other, c.dir)
    c.remove()
    assert os.listdir(other) == ["keep"] and os.path.islink(c.dir)
    assert os.listdir(moved) == []


def test_a_state_recorded_by_an_older_ocirt_is_a_clear_error(tmp_path):
    """state.json as an ocirt before the two-part record wrote it (one line,
    pid and status in it): not migrated, but an error that says so and how
    to remove it, and `delete --force` can load it."""
    c = _make(tmp_path, 999999999, 5)
    old = ('{"ociVersion":"1.3.0","id":"c1","pid":999999999,"status":"created",'
           '"bundle":"/b","rootfs":"/b/rootfs","created":"2026-01-01T00:00:00Z","owner":""}')
    with open(os.path.join(c.dir, "state.json"), "w") as f:
        f.write(old)
    with pytest.raises(errors.OcirtError) as exc:
        state.load(str(tmp_path), "c1")
    assert str(exc.value) == ("container c1: state.json: not a state written by ocirt "
                              "(delete --force removes it)")
    broken = state.load(str(tmp_path), "c1", broken=True)
    assert broken.problem and broken.status == Status.STOPPED
