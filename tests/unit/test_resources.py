"""linux.resources -> cgroup files: the translation alone (no root, no cgroups)."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocirt.config import parse_resources as P
from ocirt.container.update import _zeros_dropped
from ocirt.errors import ConfigError
from ocirt.linux import resources as R


def w(res, v2=False, current=None, sizes=("2MB", "1GB")):
    warnings = []
    out = R.writes(P(res), lambda c: v2, current, warnings.append, sizes)
    return [(x.controller, x.file, x.value) for x in out], warnings


def test_shares_to_weight_matches_runc():
    assert R.shares_to_weight(2) == 1
    assert R.shares_to_weight(262144) == 10000
    assert R.shares_to_weight(1024) == 39
    assert R.shares_to_weight(0) == 0


def test_blkio_weight_to_io_weight_matches_runc():
    assert R.blkio_to_io_weight(10) == 1
    assert R.blkio_to_io_weight(1000) == 10000
    assert R.blkio_to_io_weight(500) == 4950


def test_cpuset_alone_needs_only_cpuset():
    res = {"cpu": {"cpus": "0-1", "mems": "0"}}
    assert R.controllers(P(res)) == ["cpuset"]
    assert w(res)[0] == [("cpuset", "cpuset.cpus", "0-1"), ("cpuset", "cpuset.mems", "0")]


def test_cpu_v1_and_v2():
    res = {"cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 1000, "idle": 1}}
    assert w(res)[0] == [("cpu", "cpu.shares", "512"), ("cpu", "cpu.cfs_period_us", "100000"),
                         ("cpu", "cpu.cfs_quota_us", "50000"), ("cpu", "cpu.cfs_burst_us", "1000"),
                         ("cpu", "cpu.idle", "1")]
    assert w(res, v2=True)[0] == [("cpu", "cpu.weight", "20"), ("cpu", "cpu.max", "50000 100000"),
                                  ("cpu", "cpu.max.burst", "1000"), ("cpu", "cpu.idle", "1")]
    assert w({"cpu": {"quota": -1}}, v2=True)[0] == [("cpu", "cpu.max", "max")]
    assert w({"cpu": {"period": 20000}}, v2=True)[0] == [("cpu", "cpu.max", "max 20000")]


def test_realtime_is_refused_on_v2():
    with pytest.raises(ConfigError) as e:
        w({"cpu": {"realtimeRuntime": 950000}}, v2=True)
    assert e.value.path == "$.linux.resources.cpu.realtimeRuntime"


def test_pids_zero_is_a_limit_and_negative_is_none():
    assert w({"pids": {"limit": 0}})[0] == [("pids", "pids.max", "0")]
    assert w({"pids": {"limit": -1}})[0] == [("pids", "pids.max", "max")]
    assert w({"pids": {}})[0] == []


def test_memory_v1_order_follows_the_current_memsw_limit():
    res = {"memory": {"limit": 100, "swap": 200}}
    grow, _ = w(res, current=lambda c, f: "150")
    assert [f for _, f, _ in grow] == ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
    shrink, _ = w(res, current=lambda c, f: "9223372036854771712")
    assert [f for _, f, _ in shrink] == ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]


def test_memory_v2_swap_is_swap_alone():
    got, _ = w({"memory": {"limit": 100, "swap": 300, "reservation": 50}}, v2=True)
    assert got == [("memory", "memory.max", "100"), ("memory", "memory.swap.max", "200"),
                   ("memory", "memory.low", "50")]
    got, _ = w({"memory": {"limit": -1}}, v2=True)
    assert got == [("memory", "memory.max", "max"), ("memory", "memory.swap.max", "max")]


@pytest.mark.parametrize("swap,limit,expect", [(0, 100, None), (-1, 100, -1), (0, -1, -1),
                                               (300, 100, 200), (100, 100, 0)])
def test_swap_v2(swap, limit, expect):
    assert R.swap_v2(swap, limit, "$") == expect


@pytest.mark.parametrize("swap,limit", [(50, 100), (100, 0), (100, -1)])
def test_swap_v2_refusals(swap, limit):
    with pytest.raises(ConfigError):
        R.swap_v2(swap, limit, "$")


def test_v2_warns_for_what_it_lacks():
    got, warnings = w({"memory": {"swappiness": 10, "disableOOMKiller": True, "kernel": 1,
                                  "kernelTCP": 1}}, v2=True)
    assert got == [] and len(warnings) == 4
    got, warnings = w({"memory": {"swappiness": -1, "disableOOMKiller": False}}, v2=True)
    assert got == [] and warnings == []


def test_swappiness_range():
    with pytest.raises(ConfigError) as e:
        w({"memory": {"swappiness": 101}})
    assert e.value.path == "$.linux.resources.memory.swappiness"


def test_blkio_v1_and_v2():
    dev = {"major": 8, "minor": 0}
    res = {"blockIO": {"weight": 500, "weightDevice": [dict(dev, weight=300)],
                       "throttleReadBpsDevice": [dict(dev, rate=1024)],
                       "throttleWriteIOPSDevice": [dict(dev, rate=0)]}}
    assert w(res)[0] == [("blkio", "blkio.weight", "500"),
                         ("blkio", "blkio.weight_device", "8:0 300"),
                         ("blkio", "blkio.throttle.read_bps_device", "8:0 1024"),
                         ("blkio", "blkio.throttle.write_iops_device", "8:0 0")]
    assert w(res, v2=True)[0] == [("blkio", "io.weight", "4950"),
                                  ("blkio", "io.weight", "8:0 2930"),
                                  ("blkio", "io.max", "8:0 rbps=1024"),
                                  ("blkio", "io.max", "8:0 wiops=max")]


def test_hugetlb_sizes_are_checked():
    assert w({"hugepageLimits": [{"pageSize": "2MB", "limit": 4096}]})[0] == [
        ("hugetlb", "hugetlb.2MB.limit_in_bytes", "4096")]
    assert w({"hugepageLimits": [{"pageSize": "2MB", "limit": 4096}]}, v2=True)[0] == [
        ("hugetlb", "hugetlb.2MB.max", "4096")]
    with pytest.raises(ConfigError) as e:
        w({"hugepageLimits": [{"pageSize": "2MB", "limit": 1}, {"pageSize": "4MB", "limit": 1}]})
    assert e.value.path == "$.linux.resources.hugepageLimits[1].pageSize"


def test_network_and_rdma():
    res = {"network": {"classID": 42, "priorities": [{"name": "eth0", "priority": 5}]},
           "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}}}
    assert w(res)[0] == [("net_cls", "net_cls.classid", "42"),
                         ("net_prio", "net_prio.ifpriomap", "eth0 5"),
                         ("rdma", "rdma.max", "mlx5_1 hca_handle=3 hca_object=10000")]


def test_unified_keys():
    got = R.unified_writes({"memory.high": "1000", "cgroup.max.depth": "3"}.items())
    assert [(x.controller, x.file, x.value) for x in got] == [
        ("memory", "memory.high", "1000"), ("cgroup", "cgroup.max.depth", "3")]
    for bad in ("../memory.high", "memory", ".hidden", "a/b.c"):
        with pytest.raises(ConfigError):
            R.unified_writes({bad: "1"}.items())


# ---- hypothesis: any schema-shaped resources object --------------------------

ints = st.integers(min_value=-1, max_value=1 << 40)
dev = st.fixed_dictionaries({"major": st.integers(0, 300), "minor": st.integers(0, 300)})
resources = st.fixed_dictionaries({}, optional={
    "memory": st.fixed_dictionaries({}, optional={
        "limit": ints, "reservation": ints, "swap": ints, "kernel": ints, "kernelTCP": ints,
        "swappiness": st.integers(-1, 200), "disableOOMKiller": st.booleans()}),
    "cpu": st.fixed_dictionaries({}, optional={
        "shares": st.integers(0, 300000), "quota": ints, "period": st.integers(0, 1 << 20),
        "burst": st.integers(0, 1 << 20), "realtimeRuntime": ints,
        "realtimePeriod": st.integers(0, 1 << 20), "cpus": st.sampled_from(["", "0", "0-1"]),
        "mems": st.sampled_from(["", "0"]), "idle": st.integers(0, 1)}),
    "pids": st.fixed_dictionaries({}, optional={"limit": ints}),
    "blockIO": st.fixed_dictionaries({}, optional={
        "weight": st.integers(10, 1000), "leafWeight": st.integers(10, 1000),
        "weightDevice": st.lists(dev.map(lambda d: dict(d, weight=100)), max_size=2),
        "throttleReadBpsDevice": st.lists(dev.map(lambda d: dict(d, rate=5)), max_size=2)}),
    "hugepageLimits": st.lists(st.fixed_dictionaries({
        "pageSize": st.sampled_from(["2MB", "1GB", "64KB"]), "limit": ints}), max_size=2),
    "network": st.fixed_dictionaries({}, optional={"classID": st.integers(0, 1 << 32)}),
})


@settings(max_examples=300)
@given(resources, st.booleans())
def test_any_resources_translate_or_fail_cleanly(res, v2):
    try:
        out = R.writes(P(res), lambda c: v2, lambda c, f: None, lambda m: None, ("2MB", "1GB"))
    except ConfigError as e:
        assert e.path.startswith("$.linux.resources.")
        return
    needed = set(R.controllers(P(res)))
    for x in out:
        # every file belongs to a controller the caller looked up beforehand
        assert x.controller in needed, (x, needed)
        assert x.path.startswith("$.linux.resources.")
        assert "\n" not in x.value


def test_zero_means_unset_as_in_runc():
    res = {"memory": {"limit": 0, "reservation": 0, "swappiness": 0},
           "cpu": {"shares": 0, "quota": 0, "period": 0}, "blockIO": {"weight": 0},
           "pids": {"limit": 0}}
    got, _ = w(res)
    assert got == [("memory", "memory.swappiness", "0"), ("pids", "pids.max", "0")]
    assert R.controllers(P(res)) == ["memory", "pids"]
    assert R.without_unset(P(res)) == P({
        "memory": {"swappiness": 0}, "cpu": {}, "blockIO": {}, "pids": {"limit": 0}})
    # update takes pids.limit 0 as "unchanged" too, as runc does
    assert _zeros_dropped({"pids": {"limit": 0}}) == {"pids": {}}
    kept = P({"memory": {"disableOOMKiller": False}})
    assert R.without_unset(kept) == kept


@pytest.mark.parametrize("key", ["cgroup.procs", "cgroup.threads", "cgroup.kill",
                                 "cgroup.freeze", "cgroup.subtree_control", "cgroup.type"])
def test_unified_refuses_the_files_that_move_processes(key):
    """cgroup.procs in linux.resources.unified would move any host pid into
    the container's cgroup (and delete --force would then kill it)."""
    with pytest.raises(ConfigError) as exc:
        R.unified_writes({key: "1"}.items())
    assert exc.value.path == f"$.linux.resources.unified.{key}"


# ---- the records (ocirt.config's linux.resources section) --------------------

FULL = {
    "devices": [{"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}],
    "memory": {"limit": 1, "reservation": 2, "swap": 3, "kernel": 4, "kernelTCP": 5,
               "swappiness": 6, "disableOOMKiller": True, "useHierarchy": False,
               "checkBeforeUpdate": True},
    "cpu": {"shares": 1, "quota": 2, "burst": 3, "period": 4, "realtimeRuntime": 5,
            "realtimePeriod": 6, "cpus": "0-1", "mems": "0", "idle": 1},
    "pids": {"limit": 0},
    "blockIO": {"weight": 10, "leafWeight": 20,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 30, "leafWeight": 40}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1}],
                "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2}],
                "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 3}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 4}]},
    "hugepageLimits": [{"pageSize": "2MB", "limit": 5}],
    "network": {"classID": 7, "priorities": [{"name": "eth0", "priority": 8}]},
    "rdma": {"mlx5_1": {"hcaHandles": 9, "hcaObjects": 10}},
    "unified": {"memory.high": "11"},
}


def _as_json(v):
    """A record back to the JSON it came from, through each record's _json."""
    if isinstance(v, tuple):
        if v and isinstance(v[0], tuple):  # rdma, unified: (key, value) pairs
            return {k: _as_json(x) for k, x in v}
        return [_as_json(x) for x in v]
    if hasattr(v, "_json"):
        return {k: _as_json(getattr(v, f)) for f, k in zip(v.__slots__, v._json)
                if getattr(v, f) is not None}
    return v


def test_every_spec_field_has_its_place_in_the_records():
    """parse_resources loses nothing of runtime-spec 1.3.0's linux.resources,
    and each field lands under its own key (a swapped pair would show)."""
    assert _as_json(P(FULL)) == FULL
    assert P(None) is None
    assert P({}) == P({"memory": None})


def test_a_config_carries_its_resources_as_records():
    from ocirt import config, defaults
    doc = defaults.spec()
    doc["linux"]["resources"] = FULL
    cfg = config.parse(doc, "/b")
    assert cfg.resources == P(FULL)
    assert cfg.resources.memory.disable_oom_killer is True
    assert cfg.resources.block_io.throttle_write_iops_device[0].rate == 4
    del doc["linux"]["resources"]
    assert config.parse(doc, "/b").resources is None


def test_device_rules_normalize_alike_from_records_and_json():
    from ocirt.linux import devrules
    assert devrules.normalize(P(FULL).devices) == devrules.normalize(FULL["devices"])


@pytest.mark.parametrize("res", [{"memory": {}, "cpu": {}},
                                 {"memory": {"limit": 0}, "cpu": {"shares": 0}},
                                 {"memory": {"checkBeforeUpdate": True}}])
def test_empty_records_need_no_controller(res):
    # containerd's CRI plugin writes "memory": {} and "cpu": {} for a container
    # with no limits; apply() looks up only the controllers() it needs, so
    # writes() must not ask about any other
    needed = R.controllers(P(res))
    assert needed == []
    out = R.writes(P(res), lambda c: {}[c] if c not in needed else False)
    assert out == []
