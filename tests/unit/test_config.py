"""ocirt.config: schema validation, semantic checks, conversion, load errors."""
import copy
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ocirt import config, defaults
from ocirt.errors import ConfigError
from tests.base_spec import base_spec
from tests.unit.test_validate import draft7, mutated_docs

HERE = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.join(HERE, "data")
SAMPLES = ("config-full.json", "config-podman.json", "config-runc-spec.json")
SRC = "/b/config.json"


def data(name):
    with open(os.path.join(DATA_DIR, name)) as f:
        return json.load(f)


def all_valid_docs():
    return [data(n) for n in SAMPLES] + [defaults.spec(), defaults.spec(rootless=True)]


def rejects(doc, where, *words, bundle="/b"):
    """parse(doc) raises ConfigError naming the source file and JSON path `where`."""
    with pytest.raises(ConfigError) as exc:
        config.parse(doc, bundle, source=SRC)
    msg = str(exc.value)
    assert msg.startswith(f"{SRC}: {where}: "), msg
    assert "\n" not in msg, msg
    for w in words:
        assert w in msg, msg
    return msg


# ------------------------------------------------------------ acceptance

@pytest.mark.parametrize("name", SAMPLES)
def test_samples_parse(name, tmp_path):
    cfg = config.parse(data(name), str(tmp_path))
    assert isinstance(cfg, config.Config)
    assert os.path.isabs(cfg.root_path)
    assert cfg.raw["ociVersion"] == cfg.oci_version


def test_default_spec_parses_and_converts(tmp_path):
    doc = base_spec()
    cfg = config.parse(doc, str(tmp_path))
    assert cfg.oci_version == "1.3.0"
    assert cfg.root_path == os.path.join(str(tmp_path), "rootfs")
    assert cfg.root_readonly is True
    assert cfg.hostname == "ocirt" and cfg.domainname is None
    assert [ns.type for ns in cfg.namespaces] == ["pid", "network", "ipc", "uts", "mount",
                                                  "cgroup"]
    assert all(ns.path is None for ns in cfg.namespaces)
    assert cfg.namespace("uts") == config.Namespace("uts", None)
    assert cfg.namespace("user") is None
    assert cfg.namespace("network").flag == 0x40000000
    assert cfg.namespace("network").flag == 0x40000000  # CLONE_NEWNET
    assert cfg.uid_mappings == () and cfg.gid_mappings == ()
    assert cfg.mounts[0] == config.Mount("/proc", "proc", "proc", ())
    assert cfg.mounts[1].options == ("nosuid", "strictatime", "mode=755", "size=65536k")
    assert len(cfg.mounts) == len(doc["mounts"])
    p = cfg.process
    assert p.args == ("sh",) and p.cwd == "/" and p.terminal is False
    assert p.env[1] == "TERM=xterm"
    assert p.user == config.User(uid=0, gid=0, umask=None, additional_gids=())
    assert p.rlimits == (config.Rlimit("RLIMIT_NOFILE", 7, 1024, 1024),)
    assert p.no_new_privileges is True
    assert p.capabilities.bounding == tuple(defaults.DEFAULT_CAPS)
    assert p.capabilities.ambient is None and p.capabilities.inheritable is None
    assert p.oom_score_adj is None
    assert cfg.masked_paths[0] == "/proc/acpi"
    assert "/proc/sys" in cfg.readonly_paths
    assert cfg.sysctl == () and cfg.annotations == () and cfg.devices == ()
    # frozen
    with pytest.raises(Exception):
        cfg.hostname = "x"


def test_rootless_spec_parses(tmp_path):
    cfg = config.parse(defaults.spec(rootless=True), str(tmp_path))
    assert cfg.namespace("user") is not None and cfg.namespace("network") is None
    assert cfg.uid_mappings == (config.IDMap(0, os.getuid(), 1),)
    assert cfg.gid_mappings == (config.IDMap(0, os.getgid(), 1),)
    sysfs = [m for m in cfg.mounts if m.destination == "/sys"][0]
    assert sysfs.source == "/sys" and "rbind" in sysfs.options


def test_full_sample_converts(tmp_path):
    doc = data("config-full.json")
    cfg = config.parse(doc, str(tmp_path))
    p = cfg.process
    assert p.user == config.User(uid=1, gid=1, umask=63, additional_gids=(5, 6))
    assert p.terminal is True and p.oom_score_adj == 100 and p.cwd == "/root"
    assert p.rlimits == (config.Rlimit("RLIMIT_CORE", 4, 1024, 1024),
                         config.Rlimit("RLIMIT_NOFILE", 7, 1024, 2**64 - 1))
    assert p.capabilities.ambient == ("CAP_NET_BIND_SERVICE",)
    assert p.capabilities.effective == ("CAP_AUDIT_WRITE", "CAP_KILL")
    assert cfg.hostname == "slartibartfast" and cfg.domainname == "foobarbaz.test"
    linux = doc["linux"]
    assert cfg.namespaces == tuple(config.Namespace(ns["type"], ns.get("path"))
                                   for ns in linux["namespaces"])
    assert cfg.uid_mappings == tuple(config.IDMap(m["containerID"], m["hostID"], m["size"])
                                     for m in linux["uidMappings"])
    assert cfg.gid_mappings == tuple(config.IDMap(m["containerID"], m["hostID"], m["size"])
                                     for m in linux["gidMappings"])
    def maps(items):
        return tuple(config.IDMap(x["containerID"], x["hostID"], x["size"])
                     for x in items or ())
    assert cfg.mounts == tuple(config.Mount(m["destination"], m.get("type"), m.get("source"),
                                            tuple(m.get("options", ())),
                                            maps(m.get("uidMappings")),
                                            maps(m.get("gidMappings")))
                               for m in doc["mounts"])
    assert len(cfg.devices) == len(linux.get("devices", ()))
    assert cfg.sysctl == tuple(sorted(linux.get("sysctl", {}).items()))
    assert cfg.annotations == tuple(sorted(doc.get("annotations", {}).items()))
    assert cfg.cgroups_path == linux.get("cgroupsPath")
    assert cfg.rootfs_propagation == linux.get("rootfsPropagation")


def test_podman_sample_keeps_absolute_root(tmp_path):
    doc = data("config-podman.json")
    cfg = config.parse(doc, str(tmp_path))
    assert cfg.root_path == doc["root"]["path"]
    assert cfg.oci_version == "1.0.2-dev"


def test_relative_root_is_resolved_against_the_bundle(tmp_path, monkeypatch):
    doc = defaults.spec()
    monkeypatch.chdir(tmp_path)
    cfg = config.parse(doc, "rel/bundle")
    assert cfg.root_path == os.path.join(str(tmp_path), "rel", "bundle", "rootfs")
    doc["root"]["path"] = "./sub/../rootfs2/"
    assert config.parse(doc, str(tmp_path)).root_path == os.path.join(str(tmp_path), "rootfs2")
    doc["root"]["path"] = "/abs/rootfs"
    assert config.parse(doc, "rel/bundle").root_path == "/abs/rootfs"
    doc["root"].pop("readonly")
    assert config.parse(doc, "x").root_readonly is False


def test_devices_and_maps_convert(tmp_path):
    doc = defaults.spec()
    doc["linux"]["devices"] = [
        {"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229, "fileMode": 438,
         "uid": 0, "gid": 0},
        {"type": "p", "path": "/dev/fifo"},
    ]
    doc["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.msgmax": "8192"}
    doc["annotations"] = {"b": "2", "a": "1"}
    doc["linux"]["namespaces"].append({"type": "time"})
    doc["linux"]["namespaces"][0]["path"] = "/proc/1/ns/pid"
    doc["process"]["oomScoreAdj"] = -1000
    doc["process"]["user"].update(umask=18, additionalGids=[10, 20])
    cfg = config.parse(doc, str(tmp_path))
    assert cfg.devices == (config.Device("c", "/dev/fuse", 10, 229, 438, 0, 0),
                           config.Device("p", "/dev/fifo", 0, 0, None, None, None))
    assert cfg.sysctl == (("kernel.msgmax", "8192"), ("net.ipv4.ip_forward", "1"))
    assert cfg.annotations == (("a", "1"), ("b", "2"))
    assert cfg.namespace("pid").path == "/proc/1/ns/pid"
    assert cfg.namespace("time").flag == 0x80
    assert cfg.process.oom_score_adj == -1000
    assert cfg.process.user.umask == 18 and cfg.process.user.additional_gids == (10, 20)


def test_joined_user_namespace_needs_no_mappings(tmp_path):
    doc = defaults.spec()
    doc["linux"]["namespaces"].append({"type": "user", "path": "/proc/1/ns/user"})
    cfg = config.parse(doc, str(tmp_path))
    assert cfg.namespace("user").path == "/proc/1/ns/user" and cfg.uid_mappings == ()


def test_config_without_process_and_linux(tmp_path):
    cfg = config.parse({"ociVersion": "1.3.0", "root": {"path": "r"}}, str(tmp_path))
    assert cfg.process is None and cfg.namespaces == () and cfg.mounts == ()
    assert cfg.root_path == os.path.join(str(tmp_path), "r")


# -------------------------------------------------------- oci versions

@pytest.mark.parametrize("version", ["1.0.2-dev", "1.3.0", "1.2.1", "1.0.0", "1.1.0+dev",
                                     "1.2.0-rc.1"])
def test_supported_versions(version):
    doc = defaults.spec()
    doc["ociVersion"] = version
    assert config.parse(doc, "/b").oci_version == version


@pytest.mark.parametrize("version", ["2.0.0", "1.4.0", "0.9.0", "1.3", "", "1.3.0.0", "v1.3.0",
                                     "1.03.0", " 1.3.0", "1.3.0 ", "1.3.0\n"])
def test_unsupported_versions(version):
    doc = defaults.spec()
    doc["ociVersion"] = version
    rejects(doc, "$.ociVersion")


def test_version_must_be_a_string():
    doc = defaults.spec()
    doc["ociVersion"] = 1.3
    rejects(doc, "$.ociVersion")
    del doc["ociVersion"]
    rejects(doc, "$", "ociVersion")


# ------------------------------------------------------- semantic checks

def test_duplicate_namespace_type():
    doc = defaults.spec()
    doc["linux"]["namespaces"].append({"type": "ipc"})
    n = len(doc["linux"]["namespaces"]) - 1
    rejects(doc, f"$.linux.namespaces[{n}].type", "ipc")


def test_unknown_namespace_type():
    doc = defaults.spec()
    doc["linux"]["namespaces"][2]["type"] = "bogus"
    rejects(doc, "$.linux.namespaces[2].type")


def test_relative_namespace_path():
    doc = defaults.spec()
    doc["linux"]["namespaces"][1]["path"] = "proc/1/ns/net"
    rejects(doc, "$.linux.namespaces[1].path")


def test_hostname_without_uts_namespace():
    doc = defaults.spec()
    doc["linux"]["namespaces"] = [ns for ns in doc["linux"]["namespaces"]
                                  if ns["type"] != "uts"]
    rejects(doc, "$.hostname", "UTS")
    doc["hostname"] = ""
    config.parse(doc, "/b")  # an empty hostname needs no namespace
    doc["domainname"] = "example.org"
    rejects(doc, "$.domainname", "UTS")


def test_new_user_namespace_without_mappings():
    doc = defaults.spec()
    doc["linux"]["namespaces"].append({"type": "user"})
    rejects(doc, "$.linux.uidMappings", "uidMappings")
    doc["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
    rejects(doc, "$.linux.uidMappings", "gidMappings")  # gid mappings still missing


def test_mappings_without_user_namespace():
    doc = defaults.spec(rootless=True)
    doc["linux"]["namespaces"] = [ns for ns in doc["linux"]["namespaces"]
                                  if ns["type"] != "user"]
    rejects(doc, "$.linux.uidMappings", "without a user namespace")
    del doc["linux"]["uidMappings"]
    rejects(doc, "$.linux.uidMappings", "without a user namespace")  # gidMappings alone


def test_mappings_on_joined_user_namespace():
    doc = defaults.spec(rootless=True)
    for ns in doc["linux"]["namespaces"]:
        if ns["type"] == "user":
            ns["path"] = "/proc/1/ns/user"
    rejects(doc, "$.linux.uidMappings", "joined")


@pytest.mark.parametrize("cwd", ["tmp", "", "./x", "c:/windows", "C:\\x"])
def test_relative_cwd(cwd):
    doc = defaults.spec()
    doc["process"]["cwd"] = cwd
    rejects(doc, "$.process.cwd")


def test_missing_cwd():
    doc = defaults.spec()
    del doc["process"]["cwd"]
    rejects(doc, "$.process", "cwd")


def test_unknown_rlimit_type():
    doc = defaults.spec()
    doc["process"]["rlimits"].append({"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1})
    rejects(doc, "$.process.rlimits[1].type", "RLIMIT_BOGUS")


def test_malformed_rlimit_type():
    doc = defaults.spec()
    doc["process"]["rlimits"][0]["type"] = "nofile"
    rejects(doc, "$.process.rlimits[0].type")


def test_duplicate_rlimit():
    doc = defaults.spec()
    doc["process"]["rlimits"] += [{"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
                                  {"type": "RLIMIT_NOFILE", "soft": 1, "hard": 2}]
    rejects(doc, "$.process.rlimits[2].type", "duplicate")


def test_rlimit_soft_above_hard():
    doc = defaults.spec()
    doc["process"]["rlimits"][0].update(soft=2048, hard=1024)
    rejects(doc, "$.process.rlimits[0]", "RLIMIT_NOFILE")
    doc["process"]["rlimits"][0].update(soft=1024, hard=1024)
    config.parse(doc, "/b")


def test_env_entry_without_equals():
    doc = defaults.spec()
    doc["process"]["env"].append("NOEQUALS")
    rejects(doc, "$.process.env[2]", "NOEQUALS")
    doc["process"]["env"][2] = "EMPTY="
    config.parse(doc, "/b")


def test_env_entry_of_wrong_type():
    doc = defaults.spec()
    doc["process"]["env"][0] = 5
    rejects(doc, "$.process.env[0]")


@pytest.mark.parametrize("dest", ["/a/../b", "..", "/..", "../etc", "/x/.."])
def test_mount_destination_with_dotdot(dest):
    doc = defaults.spec()
    doc["mounts"][3]["destination"] = dest
    rejects(doc, "$.mounts[3].destination", "..")


def test_mount_destination_with_dots_in_names_is_fine():
    doc = defaults.spec()
    doc["mounts"][3]["destination"] = "/a..b/...c"
    config.parse(doc, "/b")


def test_mount_destination_empty():
    doc = defaults.spec()
    doc["mounts"][0]["destination"] = ""
    rejects(doc, "$.mounts[0].destination")


def test_bind_mount_without_source():
    doc = defaults.spec()
    doc["mounts"].append({"destination": "/data", "type": "bind", "options": ["rw"]})
    n = len(doc["mounts"]) - 1
    rejects(doc, f"$.mounts[{n}].source", "bind")
    doc["mounts"][n] = {"destination": "/data", "type": "none", "options": ["rbind", "ro"]}
    rejects(doc, f"$.mounts[{n}].source", "bind")
    doc["mounts"][n]["source"] = "/srv/data"
    assert config.parse(doc, "/b").mounts[n].source == "/srv/data"


def test_relative_masked_and_readonly_paths():
    doc = defaults.spec()
    doc["linux"]["maskedPaths"][4] = "proc/kcore"
    rejects(doc, "$.linux.maskedPaths[4]")
    doc = defaults.spec()
    doc["linux"]["readonlyPaths"][0] = "proc/bus"
    rejects(doc, "$.linux.readonlyPaths[0]")


def test_unknown_rootfs_propagation():
    doc = defaults.spec()
    doc["linux"]["rootfsPropagation"] = "rprivate"
    assert config.parse(doc, "/b").rootfs_propagation == "rprivate"
    doc["linux"]["rootfsPropagation"] = "weird"
    rejects(doc, "$.linux.rootfsPropagation")


def test_empty_args():
    doc = defaults.spec()
    doc["process"]["args"] = []
    rejects(doc, "$.process.args")


def test_top_level_not_an_object():
    for doc in ([], "x", 1, None, [defaults.spec()]):
        rejects(doc, "$")


def test_schema_error_names_path():
    doc = defaults.spec()
    doc["linux"]["namespaces"][1]["type"] = 3
    rejects(doc, "$.linux.namespaces[1].type")
    doc = defaults.spec()
    doc["process"]["user"]["uid"] = -1
    rejects(doc, "$.process.user.uid")
    doc = defaults.spec()
    doc["mounts"][1]["options"] = "nosuid"
    rejects(doc, "$.mounts[1].options")


def test_unknown_properties_are_ignored():
    doc = defaults.spec()
    doc["x-vendor"] = {"anything": [1, 2]}
    doc["process"]["futureField"] = True
    doc["linux"]["namespaces"][0]["extra"] = None
    config.parse(doc, "/b")


# Error messages are printed as a single line (ocirt.errors, ocirt.cli.run_command):
# a map key taken from config.json must not be able to break that.
def test_error_message_is_one_line_for_keys_with_newlines():
    doc = defaults.spec()
    doc["annotations"] = {"evil\nkey": 5}
    with pytest.raises(ConfigError) as exc:
        config.parse(doc, "/b", source=SRC)
    assert "\n" not in str(exc.value), repr(str(exc.value))


# JSON Schema "integer" admits 1.0; the converted values must still be ints, or the
# config must be refused (os.setresuid(1.0), uid_map "0 1000.0 1" ... fail much later).
INT_FIELDS = [
    ("process.user.uid", lambda c: c.process.user.uid),
    ("process.user.gid", lambda c: c.process.user.gid),
    ("process.user.umask", lambda c: c.process.user.umask),
    ("process.rlimits.0.soft", lambda c: c.process.rlimits[0].soft),
    ("process.rlimits.0.hard", lambda c: c.process.rlimits[0].hard),
    ("process.oomScoreAdj", lambda c: c.process.oom_score_adj),
    ("linux.uidMappings.0.hostID", lambda c: c.uid_mappings[0].host_id),
    ("linux.gidMappings.0.size", lambda c: c.gid_mappings[0].size),
]


def test_integral_floats_become_ints_or_are_refused():
    wrong = []
    for field, get in INT_FIELDS:
        doc = defaults.spec(rootless=True)
        keys = [int(k) if k.isdigit() else k for k in field.split(".")]
        cur = doc
        for k in keys[:-1]:
            cur = cur[k]
        cur[keys[-1]] = 1.0 if keys[-1] != "hard" else 2048.0
        try:
            cfg = config.parse(doc, "/b")
        except ConfigError:
            continue
        value = get(cfg)
        if type(value) is not int:
            wrong.append(f"{field}: {cur[keys[-1]]!r} became {value!r}")
    assert not wrong, "integral floats kept as floats: " + "; ".join(wrong)


# ------------------------------------------------------------------ load

def test_load_reads_bundle(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(defaults.spec()))
    cfg = config.load(str(tmp_path))
    assert cfg.root_path == str(tmp_path / "rootfs")


def _load_error(bundle):
    with pytest.raises(ConfigError) as exc:
        config.load(str(bundle))
    msg = str(exc.value)
    assert "\n" not in msg, msg
    assert msg.startswith(os.path.join(str(bundle), "config.json") + ": "), msg
    return msg


def test_load_missing_config(tmp_path):
    msg = _load_error(tmp_path)
    assert "no such file" in msg


def test_load_missing_bundle(tmp_path):
    _load_error(tmp_path / "nope")


def test_load_config_is_a_directory(tmp_path):
    (tmp_path / "config.json").mkdir()
    _load_error(tmp_path)


@pytest.mark.parametrize("text", ["{", "", "{'a': 1}", '{"ociVersion": "1.3.0",}', "nul",
                                  '{"a": 1}\n{"b": 2}'])
def test_load_malformed_json(tmp_path, text):
    (tmp_path / "config.json").write_text(text)
    assert "invalid JSON" in _load_error(tmp_path)


def test_load_binary_garbage(tmp_path):
    (tmp_path / "config.json").write_bytes(b"\xff\xfe\x00\x80\x81")
    _load_error(tmp_path)


def test_load_top_level_array(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps([defaults.spec()]))
    msg = _load_error(tmp_path)
    assert ": $: " in msg


def test_load_schema_error_names_file_and_path(tmp_path):
    doc = defaults.spec()
    doc["process"]["rlimits"][0]["type"] = "RLIMIT_NOPE"
    (tmp_path / "config.json").write_text(json.dumps(doc))
    msg = _load_error(tmp_path)
    assert "$.process.rlimits[0].type" in msg


def test_load_deeply_nested_json(tmp_path):
    # Malformed (or absurd) input must still be a ConfigError, not a RecursionError.
    (tmp_path / "config.json").write_text("[" * 100000 + "]" * 100000)
    _load_error(tmp_path)


# ------------------------------------------------------------ hypothesis

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20)


def parse_or_config_error(doc):
    original = copy.deepcopy(doc)
    try:
        cfg = config.parse(doc, "/bundle")
    except ConfigError as e:
        assert str(e).startswith("config.json: "), str(e)
        return None
    assert isinstance(cfg, config.Config)
    assert doc == original, "parse modified its input"
    # parse accepts only documents its schema accepts
    assert draft7("config").is_valid(doc)
    assert os.path.isabs(cfg.root_path)
    types = [ns.type for ns in cfg.namespaces]
    assert len(types) == len(set(types))
    return cfg


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_parse_arbitrary_json_never_crashes(doc):
    parse_or_config_error(doc)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["ociVersion", "root", "process", "linux", "mounts",
                                        "hostname", "windows", "annotations"]),
                       json_values, max_size=6))
def test_parse_arbitrary_top_level_fields_never_crashes(doc):
    parse_or_config_error(doc)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated_docs("config"))
def test_parse_mutated_configs_never_crashes(doc):
    parse_or_config_error(doc)


NS_TYPES = sorted(config.NAMESPACES) + ["bogus"]
semantic_edit = st.one_of(
    st.tuples(st.just("ns"), st.lists(st.fixed_dictionaries(
        {"type": st.sampled_from(NS_TYPES)},
        optional={"path": st.sampled_from(["/proc/1/ns/x", "rel", ""])}), max_size=5)),
    st.tuples(st.just("maps"), st.sampled_from(["uidMappings", "gidMappings"]),
              st.lists(st.fixed_dictionaries({"containerID": st.integers(-1, 2),
                                              "hostID": st.integers(0, 2**32),
                                              "size": st.integers(0, 3)}), max_size=2)),
    st.tuples(st.just("hostname"), st.sampled_from(["hostname", "domainname"]),
              st.sampled_from(["", "h", None])),
    st.tuples(st.just("cwd"), st.sampled_from(["/", "/x", "x", "", "c:/x", "C:\\x"])),
    st.tuples(st.just("rlimits"), st.lists(st.fixed_dictionaries({
        "type": st.sampled_from(sorted(config.RLIMITS)[:4] + ["RLIMIT_BOGUS", "bad"]),
        "soft": st.integers(0, 2**64), "hard": st.integers(0, 2**64)}), max_size=3)),
    st.tuples(st.just("env"), st.lists(st.sampled_from(["A=1", "B", "=", "", "C=="]),
                                       max_size=3)),
    st.tuples(st.just("mount"), st.fixed_dictionaries(
        {"destination": st.sampled_from(["/x", "", "..", "/a/../b", "rel", "/a..b"])},
        optional={"type": st.sampled_from(["bind", "tmpfs", "none"]),
                  "source": st.sampled_from(["", "/src", "src"]),
                  "options": st.lists(st.sampled_from(["bind", "rbind", "ro", "rw"]),
                                      max_size=3)})),
    st.tuples(st.just("paths"), st.sampled_from(["maskedPaths", "readonlyPaths"]),
              st.lists(st.sampled_from(["/proc/x", "proc/x", ""]), max_size=3)),
    st.tuples(st.just("propagation"), st.sampled_from(["private", "rslave", "bogus", ""])),
    st.tuples(st.just("version"), st.sampled_from(["1.0.0", "1.3.9", "1.4.0", "2.0.0",
                                                   "1.2.1-rc.1", "1.3"])),
)


def apply_edit(doc, edit):
    kind = edit[0]
    linux = doc.setdefault("linux", {})
    proc = doc.get("process")
    if kind == "ns":
        linux["namespaces"] = edit[1]
    elif kind == "maps":
        linux[edit[1]] = edit[2]
    elif kind == "hostname":
        if edit[2] is None:
            doc.pop(edit[1], None)
        else:
            doc[edit[1]] = edit[2]
    elif kind == "cwd" and proc is not None:
        proc["cwd"] = edit[1]
    elif kind == "rlimits" and proc is not None:
        proc["rlimits"] = edit[1]
    elif kind == "env" and proc is not None:
        proc["env"] = edit[1]
    elif kind == "mount":
        doc.setdefault("mounts", []).append(edit[1])
    elif kind == "paths":
        linux[edit[1]] = edit[2]
    elif kind == "propagation":
        linux["rootfsPropagation"] = edit[1]
    elif kind == "version":
        doc["ociVersion"] = edit[1]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(range(5)), st.lists(semantic_edit, min_size=1, max_size=4))
def test_parse_semantic_edits_never_crash(which, edits):
    doc = all_valid_docs()[which]
    for edit in edits:
        apply_edit(doc, edit)
    parse_or_config_error(doc)


# ------------------------------------------------- bounded, regular config.json

@pytest.mark.parametrize("make,word", [
    (lambda p: os.symlink("/dev/zero", p), "not a regular file"),
    (lambda p: os.mkfifo(p), "not a regular file"),
    (lambda p: open(p, "wb").truncate(config.MAX_CONFIG + 1),
     f"larger than {config.MAX_CONFIG} bytes"),
])
def test_load_refuses_what_is_no_file_or_too_big(tmp_path, make, word):
    make(str(tmp_path / "config.json"))
    assert word in _load_error(tmp_path)


def test_load_follows_a_symlinked_config_to_a_regular_file(tmp_path):
    (tmp_path / "real.json").write_text(json.dumps(defaults.spec()))
    os.symlink("real.json", tmp_path / "config.json")
    assert config.load(str(tmp_path)).process.args == ("sh",)


# ------------------------------------------- ids: 0..2^31-1 ((uid_t)-1 is root)

def _with(edit):
    doc = defaults.spec()
    edit(doc)
    return doc


def _userns(doc, **kw):
    doc["linux"]["namespaces"].append({"type": "user"})
    m = dict({"containerID": 0, "hostID": 100000, "size": 65536}, **kw)
    doc["linux"]["uidMappings"] = [m]
    doc["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]


def _idmapped(doc, **kw):
    _userns(doc)
    m = dict({"containerID": 0, "hostID": 100000, "size": 1000}, **kw)
    doc["mounts"].append({"destination": "/x", "type": "bind", "source": "/tmp",
                          "options": ["rbind", "idmap"], "uidMappings": [m],
                          "gidMappings": [dict(m)]})


@pytest.mark.parametrize("edit,where", [
    (lambda d: d["process"]["user"].update(uid=4294967295), "$.process.user.uid"),
    (lambda d: d["process"]["user"].update(uid=2**31), "$.process.user.uid"),
    (lambda d: d["process"]["user"].update(gid=4294967295), "$.process.user.gid"),
    (lambda d: d["process"]["user"].update(additionalGids=[1, 2**31]),
     "$.process.user.additionalGids[1]"),
    (lambda d: _userns(d, containerID=2**31), "$.linux.uidMappings[0].containerID"),
    (lambda d: _userns(d, hostID=4294967295), "$.linux.uidMappings[0].hostID"),
    (lambda d: _userns(d, size=0), "$.linux.uidMappings[0].size"),
    (lambda d: _userns(d, containerID=1, hostID=0, size=4294967295),
     "$.linux.uidMappings[0].size"),
    (lambda d: _idmapped(d, hostID=4294967295), "$.mounts[7].uidMappings[0].hostID"),
    (lambda d: _idmapped(d, size=4294967295), "$.mounts[7].uidMappings[0].size"),
])
def test_ids_out_of_range_are_refused_with_their_path(edit, where):
    rejects(_with(edit), where, "out of range")


@pytest.mark.parametrize("edit", [
    lambda d: d["process"]["user"].update(uid=2**31 - 1, gid=2**31 - 1,
                                          additionalGids=[0, 2**31 - 1]),
    lambda d: _userns(d, containerID=0, hostID=0, size=4294967295),  # the identity map
    # (the process's uid in it: a new user namespace must map it)
    lambda d: (_userns(d, containerID=2**31 - 1, hostID=2**31 - 1, size=2**31),
               d["process"]["user"].update(uid=2**31 - 1)),
])
def test_ids_at_the_edges_are_accepted(edit):
    config.parse(_with(edit), "/b")


# ------------------------------------------------- relative bind-mount sources

def test_relative_bind_sources_are_relative_to_the_bundle():
    doc = defaults.spec()
    doc["mounts"] += [
        {"destination": "/a", "type": "bind", "source": "data"},
        {"destination": "/b", "source": "./x/../y", "options": ["rbind"]},
        {"destination": "/c", "type": "bind", "source": "/abs"},
        {"destination": "/d", "type": "tmpfs", "source": "tmpfs"},  # a name, not a path
    ]
    cfg = config.parse(doc, "/bundle")
    by_dest = {m.destination: m.source for m in cfg.mounts}
    assert by_dest["/a"] == "/bundle/data"
    assert by_dest["/b"] == "/bundle/./x/../y"
    assert by_dest["/c"] == "/abs" and by_dest["/d"] == "tmpfs"
    assert by_dest["/proc"] == "proc"


@pytest.mark.parametrize("key", ["hostname", "domainname"])
@pytest.mark.parametrize("value,ok", [("h" * 64, True), ("h" * 65, False), ("é" * 32, True),
                                      ("é" * 33, False)])
def test_uts_names_are_at_most_64_bytes(key, value, ok):
    """The kernel's limit, checked before anything is forked (sethostname(2)
    would only say EINVAL)."""
    doc = defaults.spec()
    doc[key] = value
    if ok:
        assert getattr(config.parse(doc, "/b"), key) == value
    else:
        rejects(doc, f"$.{key}", "the kernel takes at most 64")
