"""Stats from cgroup files (fake trees, no root) and the update/events argument forms."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocirt.cli.commands import parse_bytes, parse_duration
from ocirt.linux import stats
from ocirt.linux.cgroups import Cgroup


def tree(base, files):
    for name, text in files.items():
        p = base / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def test_v2_stats(tmp_path):
    tree(tmp_path, {
        "cpu.stat": "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\n"
                    "nr_throttled 1\nthrottled_usec 20\n",
        "memory.current": "4096\n", "memory.max": "max\n", "memory.peak": "8192\n",
        "memory.stat": "anon 100\nfile 300\n", "memory.events": "low 0\nmax 2\noom 1\noom_kill 1\n",
        "memory.swap.current": "0\n", "memory.swap.max": "1048576\n",
        "pids.current": "3\n", "pids.max": "max\n",
        "io.stat": "254:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
        "hugetlb.2MB.current": "0\n", "hugetlb.2MB.events": "max 5\n"})
    s = stats.collect(Cgroup({"unified": str(tmp_path)}), ("2MB", "1GB"))
    assert s["cpu"] == {"usage": {"total": 1500000, "kernel": 500000, "user": 1000000},
                        "throttling": {"periods": 4, "throttledPeriods": 1,
                                       "throttledTime": 20000}}
    assert s["memory"]["usage"] == {"limit": 0, "failcnt": 2, "usage": 4096, "max": 8192}
    assert s["memory"]["cache"] == 300 and s["memory"]["swap"]["limit"] == 1048576
    assert s["pids"] == {"current": 3, "limit": 0}
    assert s["blkio"]["ioServiceBytesRecursive"] == [
        {"major": 254, "minor": 0, "op": "Read", "value": 10},
        {"major": 254, "minor": 0, "op": "Write", "value": 20}]
    assert s["hugetlb"] == {"2MB": {"usage": 0, "failcnt": 5}}


def test_v1_stats(tmp_path):
    tree(tmp_path, {
        "cpuacct/cpuacct.usage": "900\n", "cpuacct/cpuacct.usage_percpu": "400 500 \n",
        "cpuacct/cpuacct.stat": "user 3\nsystem 1\n", "cpu/cpu.stat": "nr_periods 0\n",
        "memory/memory.usage_in_bytes": "10\n", "memory/memory.limit_in_bytes": "20\n",
        "memory/memory.max_usage_in_bytes": "15\n", "memory/memory.failcnt": "1\n",
        "memory/memory.stat": "cache 7\nrss 3\n",
        "pids/pids.current": "2\n", "pids/pids.max": "5\n",
        "blkio/blkio.throttle.io_serviced_recursive": "8:0 Read 4\n8:0 Write 6\nTotal 10\n"})
    cg = Cgroup({n: str(tmp_path / n) for n in ("cpuacct", "cpu", "memory", "pids", "blkio")})
    s = stats.collect(cg)
    assert s["cpu"]["usage"] == {"total": 900, "percpu": [400, 500], "kernel": 10000000,
                                 "user": 30000000}
    assert s["memory"] == {"cache": 7, "usage": {"limit": 20, "failcnt": 1, "usage": 10,
                                                 "max": 15}, "raw": {"cache": 7, "rss": 3}}
    assert s["pids"] == {"current": 2, "limit": 5}
    assert s["blkio"] == {"ioServicedRecursive": [
        {"major": 8, "minor": 0, "op": "Read", "value": 4},
        {"major": 8, "minor": 0, "op": "Write", "value": 6}]}


def test_missing_files_report_nothing(tmp_path):
    s = stats.collect(Cgroup({"unified": str(tmp_path / "gone")}))
    assert s["pids"] == {} and s["hugetlb"] == {}


@pytest.mark.parametrize("text,seconds", [("5s", 5), ("100ms", 0.1), ("1m30s", 90), ("2h", 7200),
                                          ("1.5s", 1.5), ("250us", 0.00025)])
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "s", "5x", "1s5", "-1s"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@given(st.integers(0, 1 << 40), st.sampled_from(["", "b", "k", "kb", "K", "m", "MB", "mib", "g",
                                                  "G", "t"]))
def test_sizes(n, suffix):
    unit = {"": 1, "b": 1}.get(suffix.lower(), None)
    if unit is None:
        unit = 1024 ** ("kmgt".index(suffix[0].lower()) + 1)
    assert parse_bytes(f"{n}{suffix}") == n * unit


@given(st.text(max_size=8))
def test_any_size_text_parses_or_raises_value_error(text):
    try:
        v = parse_bytes(text)
    except ValueError:
        return
    assert isinstance(v, int) and v >= -1
