"""conformance/run --expected: a failure is a regression, a skip is not."""
import os
import sys

from tests.conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "conformance"))
from harness import compare  # noqa: E402


def test_a_skip_is_not_a_regression_and_a_failure_is():
    results = {"a": {"runtime": ("skip", "no hugetlb controller is mounted here")},
               "b": {"runtime": ("fail", "hugetlb.2MB.max: got '0'")},
               "c": {"runtime": ("pass", "")},
               "e": {"runtime": ("fail", "new, never passed")}}
    lost, untestable = compare({"a", "b", "c", "d"}, results)
    assert lost == [("b", "hugetlb.2MB.max: got '0'")]
    assert untestable == [("a", "no hugetlb controller is mounted here")]  # d: not run (-k)
