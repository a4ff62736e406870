import os

import pytest

from ocirt import config, defaults
from ocirt.errors import ConfigError
from ocirt.linux import lsm


def test_apparmor_label_goes_to_the_apparmor_exec_attr(tmp_path):
    (tmp_path / "apparmor").mkdir()
    (tmp_path / "apparmor" / "exec").write_text("")
    (tmp_path / "exec").write_text("")
    lsm.set_exec_labels(apparmor_profile="my-profile", attr_dir=str(tmp_path))
    assert (tmp_path / "apparmor" / "exec").read_text() == "exec my-profile"
    assert (tmp_path / "exec").read_text() == ""


def test_apparmor_falls_back_to_the_generic_attr(tmp_path):
    (tmp_path / "exec").write_text("")
    lsm.set_exec_labels(apparmor_profile="p", attr_dir=str(tmp_path))
    assert (tmp_path / "exec").read_text() == "exec p"


def test_selinux_label(tmp_path):
    (tmp_path / "exec").write_text("")
    lsm.set_exec_labels(selinux_label="system_u:system_r:container_t:s0",
                        attr_dir=str(tmp_path))
    assert (tmp_path / "exec").read_text() == "system_u:system_r:container_t:s0"


def test_mount_label_formatting():
    assert lsm.mount_data_with_label("size=1m", "l") == 'size=1m,context="l"'
    assert lsm.mount_data_with_label(None, "l") == 'context="l"'
    assert lsm.mount_data_with_label("x", None) == "x"


@pytest.mark.parametrize("edit,where", [
    (lambda c: c["process"].update(apparmorProfile="p"), "$.process.apparmorProfile"),
    (lambda c: c["process"].update(selinuxLabel="l"), "$.process.selinuxLabel"),
    (lambda c: c["linux"].update(mountLabel="l"), "$.linux.mountLabel"),
])
def test_labels_without_the_lsm_are_errors(monkeypatch, edit, where):
    monkeypatch.setattr(lsm, "apparmor_enabled", lambda: False)
    monkeypatch.setattr(lsm, "selinux_enabled", lambda: False)
    doc = defaults.spec()
    edit(doc)
    cfg = config.parse(doc, "/tmp")
    with pytest.raises(ConfigError) as e:
        lsm.check(cfg)
    assert where in str(e.value)


def test_labels_with_the_lsm_pass(monkeypatch):
    monkeypatch.setattr(lsm, "apparmor_enabled", lambda: True)
    doc = defaults.spec()
    doc["process"]["apparmorProfile"] = "p"
    lsm.check(config.parse(doc, "/tmp"))
