"""Mount configurations that ocirt did not write (issue 13, items 4, 8, 9, 10, 13, 17).

Where runc 1.1.5 (/usr/sbin/runc) agrees, the same bundle runs through runc
too (its own --root) and the two outputs are compared; where it does not,
the test says why ocirt's behaviour is the spec's."""
import json
import os
import shutil
import subprocess
import tempfile
import uuid

import pytest

from tests.integration.conftest import bind

RUNC = shutil.which("runc") or "/usr/sbin/runc"


def run_both(rt, script, edit=None):
    """(ocirt's stdout, runc's stdout or None without runc) of `sh -c script`
    in one bundle; each must exit 0."""
    b = rt.bundle(("sh", "-c", script), edit)
    p = rt("run", "--bundle", b, rt.new_id())
    assert p.returncode == 0, p.stderr
    return p.stdout, runc_run(b)


def runc_run(bundle):
    if not os.access(RUNC, os.X_OK):
        return None
    root = tempfile.mkdtemp(prefix="runc-it-")
    cid = f"rc-{uuid.uuid4().hex[:10]}"
    try:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            rc = subprocess.run([RUNC, "--root", root, "run", "--bundle", bundle, cid],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                timeout=60).returncode
            out.seek(0)
            err.seek(0)
            assert rc == 0, err.read().decode()
            return out.read().decode()
    finally:
        subprocess.run([RUNC, "--root", root, "delete", "--force", cid],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def mount_options(mountinfo, point):
    """The per-mount options and the optional fields of <point> in a
    /proc/self/mountinfo text."""
    for line in mountinfo.splitlines():
        f = line.split()
        if len(f) > 5 and f[4] == point:
            return set(f[5].split(",")), f[6:f.index("-")]
    raise AssertionError(f"{point} is not mounted:\n{mountinfo}")


# item 9 -------------------------------------------------------------------

def test_tmpfs_without_mode_keeps_the_mountpoint_mode(rt, public_tmp):
    """A tmpfs over an existing directory keeps that directory's mode unless
    a mode= option is given (runc and crun do; a tmpfs's own 1777 would open
    a 0700 directory to every user). Differential with runc."""
    vol = public_tmp / "vol"
    for name, mode in (("priv", 0o700), ("group", 0o2750), ("open", 0o755)):
        (vol / name).mkdir(parents=True)
        os.chmod(vol / name, mode)

    def edit(cfg):
        bind(cfg, vol, "/vol")
        for name in ("priv", "group", "open"):
            cfg["mounts"].append({"destination": f"/vol/{name}", "type": "tmpfs",
                                  "source": "tmpfs", "options": ["nosuid", "size=1m"]})
    script = "stat -c '%n %a' /vol/priv /vol/group /vol/open"
    ours, runc = run_both(rt, script, edit)
    assert ours == "/vol/priv 700\n/vol/group 2750\n/vol/open 755\n"
    if runc is not None:
        assert ours == runc
    assert oct(os.stat(vol / "priv").st_mode & 0o7777) == oct(0o700)  # host: unchanged


def test_tmpfs_mode_option_wins_over_the_mountpoint_mode(rt, public_tmp):
    """mode= is a data option that config.md passes to the filesystem: it wins
    over the directory's mode. runc 1.1.5 differs (it chmods the tmpfs to the
    directory's mode afterwards, whatever mode= said; runc 1.2 passes the
    directory's mode first and mode= after it, as ocirt does), so this is
    not differential. A destination that did not exist gets the tmpfs's
    default (1777), as with runc."""
    vol = public_tmp / "vol"
    (vol / "priv").mkdir(parents=True)
    os.chmod(vol / "priv", 0o700)

    def edit(cfg):
        bind(cfg, vol, "/vol")
        cfg["mounts"].append({"destination": "/vol/priv", "type": "tmpfs",
                              "source": "tmpfs", "options": ["mode=1777"]})
        cfg["mounts"].append({"destination": "/vol/new", "type": "tmpfs",
                              "source": "tmpfs", "options": []})
    p = rt.run(["stat", "-c", "%n %a", "/vol/priv", "/vol/new"], edit)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "/vol/priv 1777\n/vol/new 1777\n"


# item 13 ------------------------------------------------------------------

@pytest.mark.parametrize("prop", ["unbindable", "runbindable"])
def test_unbindable_root_with_cgroup_bind_mounts_and_masks(rt, prop):
    """rootfsPropagation unbindable with the cgroup mount bound from the
    host (no cgroup namespace: cgroup v1 is one bind per hierarchy), masked
    paths (the host's /dev/null is cloned) and a terminal-less /dev: every
    clone happens before the root turns unbindable.

    Not differential: runc 1.1.5 refuses any unbindable rootfsPropagation
    (it binds the rootfs onto itself after making "/" unbindable: EINVAL);
    config-linux.md lists `unbindable` among its values."""
    def edit(cfg):
        cfg["linux"]["rootfsPropagation"] = prop
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"]
                                      if n["type"] != "cgroup"]
    p = rt.run(["sh", "-c", "cat /proc/self/mountinfo; echo; cat /proc/kcore | wc -c"], edit)
    assert p.returncode == 0, p.stderr
    info, _, kcore = p.stdout.partition("\n\n")
    opts, fields = mount_options(info, "/")
    assert "unbindable" in fields, info
    cg_opts, cg_fields = mount_options(info, "/sys/fs/cgroup")
    assert "ro" in cg_opts
    if os.path.isdir("/sys/fs/cgroup/memory"):
        mount_options(info, "/sys/fs/cgroup/memory")  # the v1 hierarchy is there
    assert kcore.strip() == "0"  # masked by the host's /dev/null
    if prop == "runbindable":
        assert "unbindable" in mount_options(info, "/proc")[1]
    else:
        assert "unbindable" not in mount_options(info, "/proc")[1]


# item 17 ------------------------------------------------------------------

def test_read_only_dev_still_gets_devpts_and_devices(rt):
    """A /dev tmpfs with "ro" gets devpts, /dev/shm, the default devices and
    links, and is read-only in the end. Differential with runc."""
    def edit(cfg):
        for m in cfg["mounts"]:
            if m["destination"] == "/dev":
                m["options"].append("ro")
    script = ("grep ' /dev ' /proc/self/mounts | cut -d' ' -f4 | tr , '\\n' | grep -x ro; "
              "ls /dev; grep -c devpts /proc/self/mounts; "
              "echo x > /dev/null && echo null-ok; head -c 3 /dev/zero | wc -c; "
              "touch /dev/new 2>/dev/null || echo dev-ro; touch /dev/shm/x && echo shm-rw")
    ours, runc = run_both(rt, script, edit)
    lines = ours.splitlines()
    assert lines[0] == "ro", ours
    for name in ("null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm",
                 "fd", "stdin", "stdout", "stderr"):
        assert name in lines, (name, ours)
    assert lines[-4:] == ["null-ok", "3", "dev-ro", "shm-rw"], ours
    if runc is not None:
        assert ours == runc


def test_read_only_dev_with_a_terminal(rt, tmp_path):
    """The terminal goes onto /dev/console before /dev turns read-only
    (runc's order too: console, then the read-only remount)."""
    from tests.integration.test_terminal import ConsoleSocket, read_until_closed, terminal
    cs = ConsoleSocket(tmp_path / "console.sock")
    cid = rt.new_id()
    script = "tty; ls -l /dev/console; touch /dev/x 2>/dev/null || echo dev-ro"

    def edit(cfg):
        terminal(("sh", "-c", script))(cfg)
        for m in cfg["mounts"]:
            if m["destination"] == "/dev":
                m["options"].append("ro")
    bundle = rt.bundle(("sh",), edit)
    create = subprocess.Popen([rt.bin, "--root", rt.root, "create", "--bundle", bundle,
                               "--console-socket", cs.path, cid],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        master, _ = cs.master()
    finally:
        rc = create.wait(timeout=60)
        cs.close()
    try:
        assert rc == 0, create.stderr.read()
        rt("start", cid, check=True)
        out = read_until_closed(master)
    finally:
        os.close(master)
    lines = out.splitlines()
    assert lines[0] == "/dev/pts/0", out
    assert lines[1].startswith("c") and "136," in lines[1], out
    assert lines[2] == "dev-ro", out
