"""Concurrent calls on one container id."""
import os
import subprocess
import tempfile

N = int(os.environ.get("OCIRT_RACE_CREATES") or 100)


def test_concurrent_creates_of_one_id(rt):
    """N creates of the same id at once: exactly one wins, every other says
    the id exists in one line, and after delete nothing is left."""
    bundle = rt.bundle(["sleep", "1000"])
    cid = rt.new_id()
    procs = []
    for _ in range(N):
        err = tempfile.TemporaryFile()
        procs.append((subprocess.Popen([rt.bin, "--root", rt.root, "create", "--bundle", bundle,
                                        cid], stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=err), err))
    won = 0
    for p, err in procs:
        rc = p.wait(120)
        err.seek(0)
        text = err.read().decode()
        err.close()
        if rc == 0:
            won += 1
            assert text == ""
        else:
            assert text.strip() == f"container with id exists: {cid}", text
    assert won == 1
    assert rt.state(cid)["status"] == "created"
    rt("start", cid, check=True)
    assert rt.state(cid)["status"] == "running"
    rt("delete", "--force", cid, check=True)
    rt.assert_nothing_left()
