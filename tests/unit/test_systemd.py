"""The systemd driver's pure parts: unit names, slice paths, unit properties."""
import pytest

from ocirt.config import parse_resources
from ocirt.errors import ConfigError
from ocirt.linux import systemd as sd


def test_parse_path():
    assert sd.parse_path("", "c1") == ("system.slice", "ocirt-c1.scope")
    assert sd.parse_path("machine.slice:libpod:abc", "x") == ("machine.slice", "libpod-abc.scope")
    assert sd.parse_path(":docker:abc", "x") == ("system.slice", "docker-abc.scope")
    assert sd.parse_path("user.slice::abc", "x") == ("user.slice", "abc.scope")


@pytest.mark.parametrize("bad", ["/abs/path", "a:b", "a:b:c:d", "system:p:n",
                                 "system.slice:p:", "system.slice:p:x.slice", "a/b.slice:p:n"])
def test_parse_path_errors(bad):
    with pytest.raises(ConfigError) as e:
        sd.parse_path(bad, "x")
    assert e.value.path == "$.linux.cgroupsPath"


def test_expand_slice():
    assert sd.expand_slice("system.slice") == "/system.slice"
    assert sd.expand_slice("a-b-c.slice") == "/a.slice/a-b.slice/a-b-c.slice"
    assert sd.expand_slice("-.slice") == "/"
    for bad in ("a--b.slice", "-a.slice", "a-.slice"):
        with pytest.raises(ConfigError):
            sd.expand_slice(bad)


def test_properties():
    res = parse_resources({"memory": {"limit": 1 << 20, "swap": 3 << 20},
                           "cpu": {"shares": 1024, "quota": 55000, "period": 100000},
                           "pids": {"limit": -1}})
    props = dict(sd.properties(res, "system.slice", "c1"))
    assert props["Slice"] == ("s", "system.slice")
    assert props["Delegate"] == ("b", True)
    assert props["MemoryMax"] == ("t", 1 << 20)
    assert props["MemorySwapMax"] == ("t", 2 << 20)
    assert props["CPUWeight"] == ("t", 39)
    assert props["CPUQuotaPerSecUSec"] == ("t", 550000)
    assert props["CPUQuotaPeriodUSec"] == ("t", 100000)
    assert props["TasksMax"] == ("t", (1 << 64) - 1)
    # systemd keeps the quota in 10 ms steps: round up
    q = dict(sd.properties(parse_resources({"cpu": {"quota": 12345, "period": 100000}}),
                           "s.slice", "c"))
    assert q["CPUQuotaPerSecUSec"] == ("t", 130000)


def test_zero_means_unset_as_in_the_cgroupfs_driver():
    """memory.limit 0 (what engines send for "no limit") sets no MemoryMax:
    MemoryMax=0 would leave the scope no memory at all; cpu.shares 0 and a
    quota of 0 set nothing either."""
    res = parse_resources({"memory": {"limit": 0, "reservation": 0, "swap": 0},
                           "cpu": {"shares": 0, "quota": 0, "period": 0}})
    props = dict(sd.properties(res, "system.slice", "c1"))
    for name in ("MemoryMax", "MemoryLow", "MemorySwapMax", "CPUWeight",
                 "CPUQuotaPerSecUSec", "CPUQuotaPeriodUSec"):
        assert name not in props, name
