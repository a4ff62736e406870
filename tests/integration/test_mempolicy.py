"""linux.memoryPolicy: set_mempolicy before exec, seen by the process in
/proc/self/numa_maps, for every mode and flag of runtime-spec v1.3.0.

This host may have one NUMA node: node 0 is enough to see each mode take
effect; node 5 stands for a node that does not exist. runc 1.1.5 has no
memoryPolicy (it came with runtime-spec 1.3.0), so nothing is compared
with it here."""
import pytest

from tests.integration.conftest import one_line_error

HEAP_POLICY = ["sh", "-c", "grep -m1 ' heap ' /proc/self/numa_maps"]


def _policy(line):
    """The policy field of a numa_maps line ("bind:0", "prefer (many):0")."""
    return line.split(None, 1)[1].split(" heap ")[0]


def _with(mode, nodes=None, flags=None):
    def edit(cfg):
        mp = {"mode": mode}
        if nodes is not None:
            mp["nodes"] = nodes
        if flags:
            mp["flags"] = flags
        cfg["linux"]["memoryPolicy"] = mp
    return edit


@pytest.mark.parametrize("mode,nodes,flags,seen", [
    ("MPOL_DEFAULT", None, None, "default"),
    ("MPOL_BIND", "0", None, "bind:0"),
    ("MPOL_INTERLEAVE", "0", None, "interleave:0"),
    ("MPOL_WEIGHTED_INTERLEAVE", "0", None, "weighted interleave:0"),
    ("MPOL_PREFERRED", "0", None, "prefer:0"),
    ("MPOL_PREFERRED", "", None, "local"),  # no node: local allocation
    ("MPOL_PREFERRED_MANY", "0", None, "prefer (many):0"),
    ("MPOL_LOCAL", None, None, "local"),
    ("MPOL_BIND", "0", ["MPOL_F_STATIC_NODES"], "bind=static:0"),
    ("MPOL_INTERLEAVE", "0", ["MPOL_F_RELATIVE_NODES"], "interleave=relative:0"),
    ("MPOL_BIND", "0", ["MPOL_F_NUMA_BALANCING"], "bind=balancing:0"),
    ("MPOL_PREFERRED_MANY", "0", ["MPOL_F_NUMA_BALANCING"], "prefer (many)=balancing:0"),
    ("MPOL_PREFERRED", "0", ["MPOL_F_STATIC_NODES"], "prefer=static:0"),
])
def test_the_process_runs_under_the_memory_policy(rt, mode, nodes, flags, seen):
    from ocirt.linux.mempolicy import _needs_newer
    for name in [mode] + (flags or []):
        if _needs_newer(name):
            pytest.skip(f"{name} needs Linux {_needs_newer(name)}")
    p = rt.run(HEAP_POLICY, _with(mode, nodes, flags))
    assert p.returncode == 0, p.stderr
    assert _policy(p.stdout) == seen, p.stdout


def test_exec_gets_the_memory_policy_too(rt):
    cid = rt.running(edit=_with("MPOL_INTERLEAVE", "0"))
    p = rt("exec", cid, *HEAP_POLICY)
    assert p.returncode == 0, p.stderr
    assert _policy(p.stdout) == "interleave:0"


@pytest.mark.parametrize("mode,nodes,flags,where,words", [
    ("MPOL_BIND", "5", None, ".nodes", "NUMA node 5 does not exist"),
    ("MPOL_INTERLEAVE", "0,5-6", None, ".nodes", "NUMA nodes 5,6 do not exist"),
    ("MPOL_BIND", "", None, ".nodes", "MPOL_BIND needs at least one node"),
    ("MPOL_LOCAL", "0", None, ".nodes", "MPOL_LOCAL takes no nodes"),
    ("MPOL_BIND", "0-x", None, ".nodes", "does not match"),  # the schema's pattern
    ("MPOL_BIND", "3-1", None, ".nodes", "is reversed"),
    ("MPOL_BIND", "0-99999999999", None, ".nodes", "beyond the kernel's"),
    ("MPOL_BIND", "0", ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"], ".flags",
     "exclude each other"),
    ("MPOL_INTERLEAVE", "0", ["MPOL_F_NUMA_BALANCING"], ".flags",
     "MPOL_F_NUMA_BALANCING works with"),
])
def test_a_policy_set_mempolicy_refuses_is_a_named_error(rt, mode, nodes, flags, where,
                                                         words):
    p = rt.run(["true"], _with(mode, nodes, flags))
    one_line_error(p, "$.linux.memoryPolicy" + where, words)
    rt.assert_nothing_left()


def test_features_lists_the_memory_policy(rt):
    import json
    doc = json.loads(rt("features", check=True).stdout)
    assert "MPOL_BIND" in doc["linux"]["memoryPolicy"]["modes"]
    assert "MPOL_F_STATIC_NODES" in doc["linux"]["memoryPolicy"]["flags"]
