"""runc beside ocirt, on the same bundle, for the differential checks of
tests/integration (until tests/differential/ has its harness): runc with its
own state root in the test's temporary directory, and whatever it leaves
force-deleted at the end."""
import os
import subprocess
import tempfile

import pytest

RUNC = "/usr/sbin/runc"


class Runc:
    def __init__(self, tmp_path):
        self.root = str(tmp_path / "runc-state")
        self.ids = []

    def __call__(self, *args, timeout=60, preexec_fn=None, stdin=subprocess.DEVNULL):
        cmd = [RUNC, "--root", self.root] + [str(a) for a in args]
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            rc = subprocess.run(cmd, timeout=timeout, stdin=stdin, stdout=out, stderr=err,
                                preexec_fn=preexec_fn).returncode
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(cmd, rc, out.read().decode(),
                                               err.read().decode())

    def new_id(self):
        cid = f"rc-{os.urandom(5).hex()}"
        self.ids.append(cid)
        return cid

    def cleanup(self):
        for cid in self.ids:
            self("delete", "--force", cid)


@pytest.fixture
def runc(tmp_path):
    if not os.access(RUNC, os.X_OK):
        pytest.skip(f"{RUNC} is not installed (scripts/setup.sh installs it): no reference")
    r = Runc(tmp_path)
    yield r
    r.cleanup()
