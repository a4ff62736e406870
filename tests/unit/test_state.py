import json
import os

from hypothesis import given, strategies as st

from ocirt import state
from ocirt.linux.proc import start_time
from ocirt.state import Container, Status


def test_status_predicates():
    assert Status.can_start(Status.CREATED)
    assert not any(Status.can_start(s) for s in (Status.RUNNING, Status.STOPPED, Status.PAUSED,
                                                 Status.CREATING))
    assert {s for s in (Status.CREATED, Status.RUNNING, Status.PAUSED, Status.STOPPED,
                        Status.CREATING) if Status.can_kill(s)} == {
        Status.CREATED, Status.RUNNING, Status.PAUSED}
    assert Status.can_delete(Status.STOPPED) and not Status.can_delete(Status.RUNNING)
    assert Status.can_pause(Status.RUNNING) and Status.can_resume(Status.PAUSED)


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
                                          "id": "c1", "bundle": "/b"}


def test_exec_socket_means_created(tmp_path):
    c = _make(tmp_path, os.getpid(), start_time(os.getpid()))
    open(os.path.join(c.dir, state.EXEC_SOCKET), "w").close()
    assert c.refresh() == Status.CREATED


def test_directory_without_state_is_creating(tmp_path):
    state.new(str(tmp_path), "c2")
    assert state.load(str(tmp_path), "c2").status == Status.CREATING


def test_state_dir_mode_and_atomic_files(tmp_path):
    c = _make(tmp_path, 1, 1)
    assert os.stat(c.dir).st_mode & 0o777 == 0o700
    assert sorted(os.listdir(c.dir)) == ["init", "state.json"]


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=20), max_size=4),
       st.text(max_size=30))
def test_state_json_stays_valid_json_for_any_strings(tmp_path_factory, annotations, bundle):
    d = tmp_path_factory.mktemp("s")
    oci = {"ociVersion": "1.3.0", "id": "c1", "bundle": bundle, "annotations": annotations}
    c = _make(d, 999999999, 5, oci)
    out = json.loads(c.state_json())
    assert out["status"] == "stopped" and out["pid"] == 0
    assert out["annotations"] == annotations and out["bundle"] == bundle


def test_facts_round_trip_with_spaces_in_paths(tmp_path):
    c = state.new(str(tmp_path), "c3")
    c.facts = {"pid": 5, "starttime": 7, "pidns": 0}
    c.cgroup_paths = {"cpu,cpuacct": "/sys/fs/cgroup/cpu,cpuacct/a b/c", "unified": "/x"}
    c.save({"id": "c3"})
    back = state.load(str(tmp_path), "c3")
    assert back.pid == 5 and back.starttime == 7 and not back.has_pidns
    assert back.cgroup_paths == c.cgroup_paths
