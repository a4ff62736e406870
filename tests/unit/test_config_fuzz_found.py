"""What tests/reliability/test_fuzz.py found in config.json handling, each
pinned down: strings no system call can take (NUL, lone surrogates), sysctl
names that are no sysctl, more groups than setgroups takes, an unknown
member of "hooks", and megabyte-long messages."""
import json
import os

import pytest

from ocirt import config, hooks, log
from ocirt.errors import ConfigError
from tests.base_spec import base_spec


def load_error(tmp_path, doc_text):
    (tmp_path / "config.json").write_text(doc_text)
    with pytest.raises(ConfigError) as exc:
        config.load(str(tmp_path))
    msg = str(exc.value)
    assert "\n" not in msg
    return msg.split(": ", 1)[1]  # after the file name


def spec_with(edit):
    doc = base_spec()  # no terminal: create needs no console socket
    doc["root"]["path"] = "/"
    edit(doc)
    return doc


# json.dumps writes NUL as \u0000 and a lone surrogate as \ud800, as any
# JSON writer may
@pytest.mark.parametrize("edit,expected", [
    (lambda d: d["process"]["env"].append("A=\0"),
     "$.process.env[2]: contains a NUL byte"),
    (lambda d: d.update(hostname="\ud800x"),
     "$.hostname: contains a lone surrogate (\\ud800): not valid Unicode"),
    (lambda d: d["mounts"].append({"destination": "/x\udfff", "type": "tmpfs"}),
     "$.mounts[7].destination: contains a lone surrogate (\\udfff): not valid Unicode"),
    (lambda d: d["process"]["args"].append("a\0b"),
     "$.process.args[1]: contains a NUL byte"),
    (lambda d: d.update(annotations={"a\0b": "x"}),
     "$.annotations['a\\x00b']: the name contains a NUL byte"),
    (lambda d: d["linux"].update(cgroupsPath="/a\0b"),
     "$.linux.cgroupsPath: contains a NUL byte"),
    (lambda d: d.update(unknownThing=[{"deep": ["\ud800"]}]),
     "$.unknownThing[0].deep[0]: contains a lone surrogate (\\ud800): not valid Unicode"),
])
def test_nul_and_lone_surrogates_are_refused_with_their_path(tmp_path, edit, expected):
    """Before: a ValueError (embedded null byte) or UnicodeEncodeError from
    the first system call that met the string, as an internal error."""
    assert load_error(tmp_path, json.dumps(spec_with(edit))) == expected


def test_a_surrogate_pair_is_a_character(tmp_path):
    """\\ud83d\\ude00 is one character (U+1F600), not two lone surrogates."""
    doc = spec_with(lambda d: d.update(hostname="x\U0001F600"))
    text = json.dumps(doc)
    assert "\\ud83d\\ude00" in text
    (tmp_path / "config.json").write_text(text)
    assert config.load(str(tmp_path)).hostname == "x\U0001F600"


def test_the_text_check_also_applies_without_a_file():
    """exec's process object (and `update -r`) come through parse and
    check_resources, not load."""
    with pytest.raises(ConfigError, match=r"\$\.process\.cwd: contains a NUL byte"):
        config.parse(spec_with(lambda d: d["process"].update(cwd="/a\0")), "/b")
    with pytest.raises(ConfigError,
                       match=r"\$\.linux\.resources\.unified\['memory\.max'\]: contains a NUL"):
        config.check_resources({"unified": {"memory.max": "1\0"}})


@pytest.mark.parametrize("key", ["net.ipv4/../../kernel/core_pattern", "net.", "net..ipv4",
                                 "net/ipv4/ip_forward", ""])
def test_sysctl_names_are_dot_separated_words(key):
    """The name becomes /proc/sys/<name with "/" for "."> (so ".." cannot
    walk out: its dots become slashes too). Before, these passed the
    namespace check on their "net." prefix and the init failed on the write,
    with ENOENT and no JSON path."""
    doc = spec_with(lambda d: d["linux"].update(sysctl={key: "1"}))
    with pytest.raises(ConfigError) as exc:
        config.parse(doc, "/b")
    assert f"$.linux.sysctl[{key!r}]: " in str(exc.value)
    assert "is not a sysctl name" in str(exc.value)


def test_a_plain_namespaced_sysctl_is_still_fine():
    doc = spec_with(lambda d: d["linux"].update(sysctl={"net.ipv4.ip_forward": "1"}))
    assert config.parse(doc, "/b").sysctl == (("net.ipv4.ip_forward", "1"),)


def test_more_groups_than_setgroups_takes():
    """Before: "cannot set additionalGids: Invalid argument" from the init,
    with no path."""
    doc = spec_with(lambda d: d["process"]["user"].update(additionalGids=list(range(65537))))
    with pytest.raises(ConfigError, match=r"\$\.process\.user\.additionalGids: 65537 groups"):
        config.parse(doc, "/b")
    doc["process"]["user"]["additionalGids"] = list(range(65536))
    config.parse(doc, "/b")


def test_an_unknown_member_of_hooks_is_ignored():
    """Before: internal error: TypeError: 'float' object is not iterable."""
    doc = spec_with(lambda d: d.update(hooks={"odd": 1e308, "weird": [1, 2],
                                              "prestart": [{"path": "/bin/true"}]}))
    cfg = config.parse(doc, "/b")
    assert list(cfg.hooks) == ["prestart"]


def test_hook_points_agree():
    assert config.HOOK_POINTS == hooks.POINTS


def test_a_megabyte_message_is_cut_to_one_readable_line():
    msg = log.one_line("$.x: " + "v" * (1 << 20) + ": File name too long")
    assert len(msg) <= log.MAX_MESSAGE
    assert msg.startswith("$.x: vvv") and msg.endswith(": File name too long")
    assert "characters cut" in msg
    assert log.one_line("short") == "short"


def test_root_path_error_names_its_path(tmp_path):
    from ocirt.container import create
    doc = spec_with(lambda d: d["root"].update(path=str(tmp_path / "nope")))
    cfg = config.parse(doc, str(tmp_path))
    with pytest.raises(ConfigError) as exc:
        create.create(str(tmp_path / "state"), "x", str(tmp_path), cfg=cfg)
    assert str(exc.value).startswith("$.root.path: ")
    assert not os.path.exists(tmp_path / "state" / "x")


@pytest.mark.parametrize("sig", [9, 24])
def test_an_init_killed_under_a_cpu_rlimit_is_told_so(sig):
    """RLIMIT_CPU with a hard limit of 2^62 s is 0 for the kernel (the
    limit in ns wraps): the init got SIGKILL at the first tick, and create
    said only "killed by signal 9", naming nothing of the config."""
    from ocirt.container import create
    from ocirt.linux.cgroups import Cgroup
    doc = spec_with(lambda d: d["process"].update(rlimits=[
        {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1024},
        {"type": "RLIMIT_CPU", "soft": 0, "hard": 2**62}]))
    cfg = config.parse(doc, "/b")
    pid = os.fork()
    if pid == 0:
        os.kill(os.getpid(), sig)
        os._exit(0)
    msg = create._death_notice([pid], Cgroup({}), cfg)
    assert msg.startswith(f"the container's init was killed by signal {sig} ")
    assert msg.endswith(": $.process.rlimits[1] limits its CPU time (RLIMIT_CPU soft=0 "
                        "hard=4611686018427387904)")


@pytest.mark.parametrize("key", ["hostname", "domainname"])
def test_a_name_longer_than_the_kernel_takes(key):
    """Before: the init's sethostname failed with a bare "Invalid argument"."""
    doc = spec_with(lambda d: d.update({key: "a" * 65}))
    with pytest.raises(ConfigError, match=rf"\$\.{key}: 65 bytes long: the kernel takes at "
                                          "most 64"):
        config.parse(doc, "/b")
    doc[key] = "\u00e9" * 32  # 64 bytes
    config.parse(doc, "/b")


def test_hook_timeouts_and_environment_names():
    doc = spec_with(lambda d: d.update(hooks={"prestart": [{"path": "/x", "timeout": 2**31}]}))
    with pytest.raises(ConfigError, match=r"\$\.hooks\.prestart\[0\]\.timeout: 2147483648 is "
                                          "more than 2147483647 seconds"):
        config.parse(doc, "/b")
    doc["hooks"]["prestart"][0] = {"path": "/x", "env": ["=v"]}
    with pytest.raises(ConfigError, match=r"\$\.hooks\.prestart\[0\]\.env\[0\]: "):
        config.parse(doc, "/b")
    doc = spec_with(lambda d: d["process"].update(env=["A=1", "=v"]))
    with pytest.raises(ConfigError, match=r"\$\.process\.env\[1\]: '=v' is not of the form"):
        config.parse(doc, "/b")


def test_a_memory_policy_mode_the_kernel_lacks_is_named(monkeypatch):
    """Weighted interleave on Linux 6.1: set_mempolicy says only EINVAL; the
    error says which mode needs which kernel."""
    import errno
    import sys
    import types
    from ocirt.linux import mempolicy

    def einval(*a):
        raise OSError(errno.EINVAL, "Invalid argument", "set_mempolicy")
    shim = types.ModuleType("ocirt.linux.shim")  # the C shim is not built for unit tests
    shim.set_mempolicy = einval
    monkeypatch.setitem(sys.modules, "ocirt.linux.shim", shim)
    monkeypatch.setattr(sys.modules["ocirt.linux"], "shim", shim, raising=False)
    monkeypatch.setattr(mempolicy, "_release", lambda: "6.1.0-28-amd64")
    with pytest.raises(ConfigError) as e:
        mempolicy.apply(config.MemoryPolicy("MPOL_WEIGHTED_INTERLEAVE", "0"))
    assert str(e.value) == ("$.linux.memoryPolicy: MPOL_WEIGHTED_INTERLEAVE needs Linux 6.9 "
                            "or later; this kernel is 6.1.0-28-amd64")
    # a mode the kernel has, refused all the same: the call and its error
    with pytest.raises(ConfigError) as e:
        mempolicy.apply(config.MemoryPolicy("MPOL_BIND", "0"))
    assert "set_mempolicy(MPOL_BIND, nodes 0): Invalid argument" in str(e.value)
