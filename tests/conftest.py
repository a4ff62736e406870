import os
import shutil
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def ocirt_binary():
    """The ocirt command under test: $OCIRT, else the one next to this Python, else PATH."""
    env = os.environ.get("OCIRT")
    if env:
        return env
    beside = os.path.join(os.path.dirname(sys.executable), "ocirt")
    if os.path.exists(beside):
        return beside
    found = shutil.which("ocirt")
    if not found:
        pytest.exit("ocirt is not installed: run `bash tests/run.sh` or `pip install .`", 2)
    return found


# CI runs hypothesis derandomized, so that a submission's CI result is the one
# its developer saw; local runs explore new examples each time.
from hypothesis import settings as _hsettings  # noqa: E402

_hsettings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    _hsettings.load_profile("ci")
