"""ocirt.linux.criu without CRIU running: how it names external resources,
reads its log and its version, and what it says when CRIU is missing or old."""
import os

import pytest

from ocirt import errors
from ocirt.linux import criu


def test_external_keys_are_criu_spelling():
    # CRIU prints and looks these up as "%x:%x" / "%PRIx64:%PRIx64"
    assert criu.file_key(0x2a, 4096) == "file[2a:1000]"
    assert criu.tty_key(0x8800, 0x26) == "tty[8800:26]"
    assert criu.ext_mount("/data", "/srv/vol") == "mnt[/data]:/srv/vol"


def test_error_lines_are_the_last_marked_ones(tmp_path):
    log = tmp_path / "dump.log"
    log.write_text("(00.1) info\n(00.2) Error (criu/a.c:1): first\n"
                   "(00.3)      1: Error (criu/b.c:2): second\n(00.4) Error (criu/c.c:3): third\n")
    assert criu.error_lines(str(log)) == "Error (criu/b.c:2): second; Error (criu/c.c:3): third"
    assert criu.error_lines(str(tmp_path / "none")) == "no log"


def _fake_criu(tmp_path, version):
    d = tmp_path / "bin"
    d.mkdir()
    exe = d / "criu"
    exe.write_text(f"#!/bin/sh\necho 'Version: {version}'\n")
    exe.chmod(0o755)
    return d


def test_require_names_what_it_found(tmp_path, monkeypatch):
    monkeypatch.setattr(criu, "binary", lambda: None)
    with pytest.raises(errors.OcirtError) as e:
        criu.require()
    assert str(e.value).startswith(criu.REQUIREMENT) and "no criu executable" in str(e.value)
    # too old: said when the dump fails (no `criu --version` before it)
    d = _fake_criu(tmp_path, "2.9")
    assert criu.unsupported(str(d / "criu")) == f"{criu.REQUIREMENT} (found: {d}/criu, 2.9)"


def test_version_and_binary_from_path(tmp_path, monkeypatch):
    d = _fake_criu(tmp_path, "3.17.1")
    monkeypatch.setenv("PATH", str(d))
    assert criu.binary() == os.path.join(str(d), "criu")
    assert criu.version(criu.binary()) == (3, 17, 1)
    assert criu.require() == os.path.join(str(d), "criu")
