"""The conformance suite (conformance/run) against ocirt: no regression allowed.

conformance/expected.json lists the requirements ocirt passed when it was last
refreshed; any of them failing now fails this test, with the suite's output.
"""
import os
import subprocess
import sys

from tests.conftest import ROOT, ocirt_binary


def test_no_conformance_regression():
    p = subprocess.run([sys.executable, os.path.join(ROOT, "conformance", "run"),
                        "--runtime", ocirt_binary(), "--no-reference",
                        "--expected", os.path.join(ROOT, "conformance", "expected.json")],
                       capture_output=True, text=True, timeout=1200)
    assert p.returncode == 0, p.stdout[-6000:] + p.stderr[-3000:]
    assert "fail " not in p.stdout, p.stdout
