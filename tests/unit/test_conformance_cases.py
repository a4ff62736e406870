"""conformance/cases/: every requirement is a function named after what it checks,
in the module of its document, and none of the ids expected.json lists is lost."""
import collections
import json
import os
import sys

from tests.conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "conformance"))
import cases  # noqa: E402,F401 - registers the requirements
from harness import REQUIREMENTS  # noqa: E402

MODULE_OF = {"runtime": "cases.runtime", "config": "cases.config",
             "config-linux": "cases.config_linux", "runtime-linux": "cases.runtime_linux",
             "features": "cases.features"}


def test_no_two_requirement_functions_share_a_name():
    names = collections.Counter(r.fn.__name__ for r in REQUIREMENTS)
    assert "_" not in names
    assert [n for n, k in names.items() if k > 1] == []


def test_ids_are_unique_and_each_lives_in_its_documents_module():
    ids = collections.Counter(r.id for r in REQUIREMENTS)
    assert [i for i, k in ids.items() if k > 1] == []
    misplaced = [(r.id, r.fn.__module__) for r in REQUIREMENTS
                 if r.fn.__module__ != MODULE_OF[r.id.split(".")[0]]]
    assert misplaced == []


def test_every_expected_requirement_is_registered():
    with open(os.path.join(ROOT, "conformance", "expected.json")) as f:
        expected = set(json.load(f)["passing"])
    assert expected - {r.id for r in REQUIREMENTS} == set()
