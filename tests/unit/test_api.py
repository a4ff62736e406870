"""The Python API's values and its typing, without root or containers
(tests/integration/test_api.py drives real containers through it)."""
import dataclasses
import os
import shutil
import subprocess
import sys

import pytest
from hypothesis import given, strategies as st

import ocirt
from ocirt import errors
from ocirt.api import State

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_package_names_the_api_lazily():
    code = ("import sys, ocirt; before = set(sys.modules); ocirt.ConfigError; ocirt.State; "
            "print(sorted(m for m in set(sys.modules) - before if m.startswith('ocirt')))")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       check=True)
    assert p.stdout.strip() == "['ocirt.api', 'ocirt.errors']"
    assert ocirt.Runtime.__module__ == "ocirt.runtime"
    assert ocirt.InvalidState is errors.InvalidState
    with pytest.raises(AttributeError):
        ocirt.NoSuchThing
    assert set(ocirt.__all__) >= {"Runtime", "State", "Config", "ConfigError",
                                  "ContainerNotFound", "InvalidState"}


def test_mypy_strict_is_clean_on_the_public_modules():
    mypy = shutil.which("mypy", path=os.path.dirname(sys.executable))
    assert mypy, "mypy is a test dependency (setup.cfg [test])"
    p = subprocess.run([mypy, "--cache-dir", "/dev/null"], cwd=ROOT, capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Success" in p.stdout


RUNC_STATE = ('{"ociVersion":"1.0.2-dev","id":"x","pid":42,"status":"running",'
              '"bundle":"/b","rootfs":"/b/rootfs","created":"2026-12-07T10:11:12.123456789Z",'
              '"annotations":{"a":"b"},"owner":""}')


def test_state_from_runc_json_keeps_its_document():
    s = State.from_json(RUNC_STATE)
    assert (s.id, s.status, s.pid, s.bundle, s.rootfs) == ("x", "running", 42, "/b", "/b/rootfs")
    assert s.annotations == {"a": "b"} and s.alive
    assert list(s.to_dict()) == ["ociVersion", "id", "pid", "status", "bundle", "rootfs",
                                 "created", "annotations", "owner"]
    assert s.created_at.year == 2026 and s.created_at.microsecond == 123456
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.pid = 1
    assert State.from_json(RUNC_STATE, owner="root").to_dict()["owner"] == "root"


@pytest.mark.parametrize("text", ["[]", '{"id": 1, "status": "x"}', '{"status": "x"}', "nope"])
def test_state_from_json_refuses_what_is_not_a_state(text):
    with pytest.raises(ValueError):
        State.from_json(text)


@given(st.text(max_size=40), st.text(max_size=40), st.text(max_size=40))
def test_errors_print_source_path_and_message_in_one_line_order(msg, path, source):
    e = errors.ConfigError(msg, "$." + path if path else None, source=source or None,
                           section="config.md#root")
    text = str(e)
    if source:
        assert text.startswith(source + ": ")
    if path:
        assert ("$." + path + ": " + msg) in text
    assert text.endswith(msg) and e.section == "config.md#root"


def test_invalid_state_and_not_found_carry_the_id():
    e = errors.InvalidState("no", id="a", status="stopped")
    assert (e.id, e.status, str(e)) == ("a", "stopped", "no")
    assert errors.ContainerNotFound("b").id == "b" and errors.ContainerExists("c").id == "c"


def test_config_template_and_from_dict(tmp_path):
    doc = ocirt.Config.template(args=["echo", "hi"])
    cfg = ocirt.Config.from_dict(doc, str(tmp_path))
    assert cfg.process.args == ("echo", "hi") and not cfg.process.terminal
    assert cfg.root_path == str(tmp_path / "rootfs")
    doc2 = cfg.document()
    doc2["hostname"] = "other"
    assert cfg.hostname != "other"  # a copy: the checked config is unchanged
    assert ocirt.Config.from_dict(doc2).hostname == "other"
    cfg.write(str(tmp_path))
    assert ocirt.Config.load(str(tmp_path)) == cfg
    with pytest.raises(FileExistsError):
        cfg.write(str(tmp_path))


def test_config_from_dict_reports_every_error():
    doc = ocirt.Config.template(args=["true"])
    doc["process"]["capabilities"]["bounding"].append("CAP_NOPE")
    doc["hostname"] = "h"
    doc["linux"]["namespaces"] = [n for n in doc["linux"]["namespaces"] if n["type"] != "uts"]
    with pytest.raises(ocirt.ConfigError) as e:
        ocirt.Config.from_dict(doc)
    assert e.value.path == "$.hostname" and e.value.section == "config.md#hostname"
    assert [f.path for f in e.value.findings] == ["$.hostname",
                                                  "$.process.capabilities.bounding[3]"]
    assert str(e.value).startswith("config: $.hostname: ")
