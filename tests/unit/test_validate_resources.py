"""ocirt validate's prediction of resources.apply, on fake cgroup trees (no
root): each file of resources.plan is looked for where the container's
cgroup would be, on a pure cgroup2 host and on v1 hierarchies.

ocirt.validate needs the compiled shim (seccomp, capabilities): each check
runs in the test's Python outside the source tree, which imports the
installed package (scripts/setup.sh), with the host's cgroup mounts
replaced by the fake tree."""
import json
import subprocess
import sys

import pytest

PROBE = r"""
import json, os, sys
from ocirt import config, defaults, validate
from ocirt.linux import cgroups
mounts, resources, bundle = json.loads(sys.argv[1])
os.geteuid = lambda: 0
cgroups.hierarchies = lambda: mounts
doc = defaults.spec()
doc["linux"]["resources"] = resources
doc["linux"]["cgroupsPath"] = "/ocirt/x"
print(json.dumps([(f.path, f.message) for f in validate._resources(config.parse(doc, bundle))]))
"""


def _tree(base, files):
    for name, text in files.items():
        p = base / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


@pytest.fixture
def host(tmp_path):
    """found(resources): validate's findings of linux.resources, with the
    cgroup hierarchies set by host.mounts ({name: directory})."""
    class Host:
        mounts = {}

        def found(self, **resources):
            p = subprocess.run([sys.executable, "-c", PROBE, json.dumps(
                [{k: str(v) for k, v in self.mounts.items()}, resources, str(tmp_path)])],
                cwd=tmp_path, capture_output=True, text=True)
            if "No module named 'ocirt._shim'" in p.stderr:
                pytest.skip("ocirt is not installed with its shim (scripts/setup.sh)")
            assert p.returncode == 0, p.stderr
            return [tuple(f) for f in json.loads(p.stdout)]
    return Host()


def test_pure_cgroup2_without_swap_accounting(tmp_path, host):
    cg = tmp_path / "cg"
    # the root has no memory.max (no limits at the root); a sibling shows
    # what a child of the root with the memory controller has
    _tree(cg, {"cgroup.controllers": "cpu memory pids\n",
               "cgroup.subtree_control": "cpu memory pids\n",
               "other/cgroup.controllers": "cpu memory pids\n",
               "other/memory.max": "max\n", "other/cpu.max": "max 100000\n"})
    host.mounts = {"unified": cg}  # cgroups.UNIFIED
    assert host.found(memory={"limit": 1 << 27}) == []
    assert host.found(memory={"limit": 1 << 27, "swap": 1 << 28}) == [
        ("$.linux.resources.memory.swap",
         "this kernel has no memory.swap.max for this cgroup")]
    # an existing parent of the container's cgroup is the one looked at
    _tree(cg, {"ocirt/cgroup.controllers": "memory\n", "ocirt/memory.max": "max\n",
               "ocirt/memory.swap.max": "max\n"})
    assert host.found(memory={"limit": 1 << 27, "swap": 1 << 28}) == []
    # no realtime bandwidth in cgroup2, and no hugetlb controller offered
    assert host.found(cpu={"realtimeRuntime": 1000}) == [
        ("$.linux.resources.cpu.realtimeRuntime",
         "cgroup v2 has no realtime CPU bandwidth (cpu.rt_*)")]
    assert [p for p, _ in host.found(rdma={"mlx5_0": {"hcaHandles": 1}})] == [
        "$.linux.resources.rdma"]


def test_v1_cpu_without_rt_group_scheduling(tmp_path, host):
    cpu = tmp_path / "cpu"
    _tree(cpu, {"cpu.shares": "1024\n", "cpu.cfs_quota_us": "-1\n",
                "cpu.cfs_period_us": "100000\n", "ocirt/cpu.shares": "1024\n",
                "ocirt/cpu.cfs_quota_us": "-1\n", "ocirt/cpu.cfs_period_us": "100000\n"})
    host.mounts = {"cpu": cpu}
    assert host.found(cpu={"shares": 512, "quota": 1000}) == []
    assert host.found(cpu={"realtimeRuntime": 1000}) == [
        ("$.linux.resources.cpu.realtimeRuntime",
         "this kernel has no cpu.rt_runtime_us for this cgroup")]
    assert host.found(pids={"limit": 5}) == [
        ("$.linux.resources.pids",
         "the pids controller is not mounted on this host (no cgroup v1 hierarchy has it "
         "and cgroup2 does not offer it)")]
