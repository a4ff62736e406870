"""process.scheduler, ioPriority, execCPUAffinity and linux.personality."""
import os

import pytest


def stat_fields(text):
    # /proc/self/stat after the command name: index 16 is nice, 38 is policy
    return text[text.rindex(")") + 2:].split()


def test_scheduler_policy_and_nice(rt):
    def edit(cfg):
        cfg["process"]["scheduler"] = {"policy": "SCHED_BATCH", "nice": 5}
    p = rt.run(["cat", "/proc/self/stat"], edit)
    assert p.returncode == 0, p.stderr
    f = stat_fields(p.stdout)
    assert f[16] == "5" and f[38] == "3"  # nice 5, SCHED_BATCH


def test_io_priority(rt):
    def edit(cfg):
        cfg["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_IDLE", "priority": 0}
    p = rt.run(["ionice", "-p", "1"], edit)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().startswith("idle")


def test_exec_cpu_affinity_final(rt):
    if os.cpu_count() < 2:
        pytest.skip("needs two CPUs")

    def edit(cfg):
        cfg["process"]["execCPUAffinity"] = {"initial": "0-1", "final": "1"}
    p = rt.run(["grep", "Cpus_allowed_list", "/proc/self/status"], edit)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split()[-1] == "1"


def test_personality_linux32(rt):
    def edit(cfg):
        cfg["linux"]["personality"] = {"domain": "LINUX32"}
    p = rt.run(["uname", "-m"], edit)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() in ("i686", "i386")


def test_bad_cpu_list_is_a_clear_error(rt):
    def edit(cfg):
        cfg["process"]["execCPUAffinity"] = {"final": "999"}
    p = rt.run(["true"], edit)
    assert p.returncode == 1 and "execCPUAffinity" in p.stderr
    assert len(p.stderr.splitlines()) == 1
    rt.assert_nothing_left()
