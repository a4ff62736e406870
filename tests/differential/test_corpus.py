"""Every config of the third-party corpus (tests/data/configs: runc spec,
podman, docker, containerd) runs through ocirt and runc; what a user sees
must be the same, but for the differences tests/differential/known.py lists."""
import os
import subprocess
import sys

import pytest

from tests.differential.conftest import corpus_names, load_config

# what the checker reads besides its report: the cgroup limits the process
# sees (v1 paths, as this host has them; null where there is no such file)
CGROUP_FILES = ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes",
                "/sys/fs/cgroup/pids/pids.max", "/sys/fs/cgroup/cpu/cpu.shares",
                "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/memory.max",
                "/sys/fs/cgroup/pids.max")


def extra_args(cfg):
    """--file for the cgroup limits, --stat for every mount destination."""
    args = []
    for path in CGROUP_FILES:
        args += ["--file", path]
    for m in cfg.get("mounts", []):
        args += ["--stat", m["destination"]]
    return args


# corpus configs that meet a difference issue 13 section 2 is fixing
PENDING = {}


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=PENDING[n]))
    if n in PENDING else n for n in corpus_names()])
def test_corpus_config_runs_the_same(differ, name):
    cfg = load_config(name)
    o, r = differ.compare(cfg, extra_args(cfg))
    # the corpus is configs that engines run: both runtimes must run them
    assert r["create.rc"] == 0 and r["start.rc"] == 0, r
    assert o["create.rc"] == 0 and o["start.rc"] == 0, o
    assert "unparsed output" not in o["report"], o["report"]
    # delete leaves nothing on the host
    assert (o["left.processes"], o["left.cgroups"], o["left.mounts"]) == (False, [], []), o


@pytest.mark.parametrize("nnp", [False, True])
def test_root_with_a_permitted_set_smaller_than_its_bounding_set(differ, nnp):
    """docker's config with CAP_NET_RAW left out of the permitted and
    effective sets: root's execve raises the permitted set to the bounding
    set, and the kernel makes such a process non-dumpable (without
    no_new_privs). ocirt executes the process through its sealed stub, whose
    own execve must not hide that (csrc/execstub.c, PERMITTED)."""
    cfg = load_config("docker-run.json")
    caps = cfg["process"]["capabilities"]
    for s in ("permitted", "effective"):
        caps[s] = [c for c in caps[s] if c != "CAP_NET_RAW"]
    cfg["process"]["noNewPrivileges"] = nnp
    o, r = differ.compare(cfg, extra_args(cfg))
    assert o["report"]["dumpable"] == r["report"]["dumpable"] == (1 if nnp else 0), \
        (o["report"]["dumpable"], r["report"]["dumpable"])


@pytest.mark.skipif(bool(os.environ.get("OCIRT_SHARED_HOST")), reason="already the shared run")
def test_the_corpus_on_a_host_whose_mounts_are_shared(differ):
    """systemd makes every mount shared; this host's are private. The corpus
    again, from a mount namespace whose mounts are all shared: the root of
    the container is a slave of the host's (runc's default for the rootfs),
    and a cgroup mount's rprivate (podman's) applies to its hierarchies."""
    p = subprocess.run(
        ["unshare", "-m", "--propagation", "shared", sys.executable, "-m", "pytest",
         "-p", "no:cacheprovider", "-q", "-x", f"{os.path.dirname(__file__)}/test_corpus.py",
         "-k", "runs_the_same"],
        env=dict(os.environ, OCIRT_SHARED_HOST="1"), capture_output=True, text=True,
        timeout=600, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
