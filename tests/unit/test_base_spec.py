"""The tests' base config (tests/base_spec.py) is the one they were written
against: `ocirt.defaults.spec(hardened=True)` before the hardened template
of issue 16 §5, frozen in tests/data/spec-tests-base.json."""
import json
import os

from tests.base_spec import base_spec
from tests.conftest import ROOT


def test_base_spec_is_byte_identical_to_the_old_hardened_output():
    with open(os.path.join(ROOT, "tests", "data", "spec-tests-base.json")) as f:
        frozen = f.read()
    assert json.dumps(base_spec(), indent="\t") == frozen


def test_base_spec_is_a_fresh_dict_each_time():
    a = base_spec()
    a["linux"]["maskedPaths"].append("/x")
    assert "/x" not in base_spec()["linux"]["maskedPaths"]
