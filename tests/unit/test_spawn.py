"""The spawn engine's pieces that need no container: the one namespace
opener (ocirt.linux.namespaces) and the one Plan (ocirt.protocol)."""
import ast
import os
import pathlib

import pytest

from ocirt import protocol
from ocirt.linux import namespaces

CLONE_NEWUTS = 0x04000000
CLONE_NEWNET = 0x40000000
PACKAGE = pathlib.Path(protocol.__file__).parent


def open_fds():
    return set(os.listdir("/proc/self/fd"))


def test_opens_in_the_order_given_and_checks_each_type():
    fds = namespaces.open_namespaces([("network", "/proc/self/ns/net", CLONE_NEWNET),
                                      ("uts", "/proc/self/ns/uts", CLONE_NEWUTS)])
    try:
        assert [t for t, _ in fds] == ["network", "uts"]
        for _, fd in fds:
            assert os.get_inheritable(fd) is False
        assert os.readlink(f"/proc/self/fd/{fds[1][1]}") == os.readlink("/proc/self/ns/uts")
    finally:
        for _, fd in fds:
            os.close(fd)


def test_a_namespace_of_another_type_is_refused_and_nothing_leaks():
    before = open_fds()
    with pytest.raises(namespaces.NamespaceError) as exc:
        namespaces.open_namespaces([("uts", "/proc/self/ns/uts", CLONE_NEWUTS),
                                    ("uts", "/proc/self/ns/net", CLONE_NEWUTS)])
    assert (exc.value.index, exc.value.oserror, exc.value.nstype) == (1, None, CLONE_NEWNET)
    assert open_fds() == before


def test_a_file_that_is_no_namespace_is_refused(tmp_path):
    f = tmp_path / "plain"
    f.write_text("")
    with pytest.raises(namespaces.NamespaceError) as exc:
        namespaces.open_namespaces([("uts", str(f), CLONE_NEWUTS)])
    assert (exc.value.index, exc.value.oserror, exc.value.nstype) == (0, None, None)


def test_a_missing_file_is_an_error_unless_its_type_is_optional(tmp_path):
    missing = str(tmp_path / "none")
    with pytest.raises(namespaces.NamespaceError) as exc:
        namespaces.open_namespaces([("time", missing, None)])
    assert isinstance(exc.value.oserror, FileNotFoundError)
    fds = namespaces.open_namespaces([("time", missing, None),
                                      ("uts", "/proc/self/ns/uts", None)],
                                     optional=("time",))
    assert [t for t, _ in fds] == ["uts"]
    os.close(fds[0][1])


def test_every_plan_field_is_declared_in_its_constructor():
    """No module adds a field to a Plan by assignment: what a stage may read
    is all in Plan.__init__ (kind init or tenant alike)."""
    declared = set(vars(protocol.Plan(protocol.INIT, None, None)))
    assert declared == set(vars(protocol.Plan(protocol.TENANT, None, None)))
    assigned = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) \
                    and isinstance(node.value, ast.Name) and node.value.id == "plan":
                assigned.add((node.attr, path.name))
    assert assigned, "the scan found no assignment at all: it is looking at the wrong code"
    assert {a for a in assigned if a[0] not in declared} == set()
