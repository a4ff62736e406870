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
    from tests.integration.test_terminal import create_with_console, read_until_closed, terminal
    cid = rt.new_id()
    script = "tty; ls -l /dev/console; touch /dev/x 2>/dev/null || echo dev-ro"

    def edit(cfg):
        terminal(("sh", "-c", script))(cfg)
        for m in cfg["mounts"]:
            if m["destination"] == "/dev":
                m["options"].append("ro")
    bundle = rt.bundle(("sh",), edit)
    master, _ = create_with_console(rt, tmp_path / "console.sock", bundle, cid)
    try:
        rt("start", cid, check=True)
        out = read_until_closed(master)
    finally:
        os.close(master)
    lines = out.splitlines()
    assert lines[0] == "/dev/pts/0", out
    assert lines[1].startswith("c") and "136," in lines[1], out
    assert lines[2] == "dev-ro", out


# items 8 and 10 ------------------------------------------------------------

def userns(cfg, host_id=100000):
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": host_id, "size": 65536}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": host_id, "size": 65536}]


def mountpoints(public_tmp, *names):
    """A host directory bound at /root (the rootfs belongs to host root, in
    which the container's root cannot make a mountpoint), with the
    directories <names> in it to mount onto."""
    mp = public_tmp / "mp"
    for n in names:
        (mp / n).mkdir(parents=True)
    return mp


def test_bind_source_under_a_directory_the_mapped_root_cannot_search(rt, public_tmp):
    """The source is opened as host root: its parent is a 0700 directory of
    host root, which root of the container's user namespace (host uid
    100000) cannot search. Differential with runc (which opens mount
    sources from the host's user namespace too)."""
    locked = public_tmp / "locked"
    (locked / "data").mkdir(parents=True)
    os.chmod(locked, 0o700)
    (locked / "data" / "f").write_text("secret-ok\n")
    mp = mountpoints(public_tmp, "data")

    def edit(cfg):
        userns(cfg)
        bind(cfg, mp, "/root")
        bind(cfg, locked / "data", "/root/data", ("rbind", "ro"))
    script = ("cat /root/data/f; grep ' /root/data ' /proc/self/mountinfo | cut -d' ' -f6 | "
              "tr , '\\n' | grep -x ro; touch /root/data/g 2>/dev/null || echo ro-ok")
    ours, runc = run_both(rt, script, edit)
    assert ours == "secret-ok\nro\nro-ok\n"
    if runc is not None:
        assert ours == runc
    assert sorted(os.listdir(locked / "data")) == ["f"]


def test_missing_bind_source_with_a_user_namespace_is_a_one_line_error(rt, public_tmp):
    from tests.integration.conftest import one_line_error
    mp = mountpoints(public_tmp, "data")
    where = []

    def edit(cfg):
        userns(cfg)
        bind(cfg, mp, "/root")
        bind(cfg, public_tmp / "missing", "/root/data")
        where.append(f"$.mounts[{len(cfg['mounts']) - 1}].source")
    p = rt.run(["true"], edit)
    one_line_error(p, where[0], "No such file or directory")
    rt.assert_nothing_left()


@pytest.fixture
def idmap_source(public_tmp):
    """A source with files of host uid/gid 0 and 1000, and a submount (a
    bind of another directory) holding a file of host root."""
    src = public_tmp / "idsrc"
    (src / "sub").mkdir(parents=True)
    (src / "rootfile").write_text("r")
    (src / "u1000").write_text("u")
    os.chown(src / "u1000", 1000, 1000)
    other = public_tmp / "other"
    other.mkdir()
    (other / "subfile").write_text("s")
    subprocess.run(["mount", "--bind", str(other), str(src / "sub")], check=True)
    try:
        yield src
    finally:
        subprocess.run(["umount", "-l", str(src / "sub")], check=True)


@pytest.mark.parametrize("option", ["idmap", "ridmap"])
def test_idmapped_mount_with_the_containers_user_namespace(rt, public_tmp, idmap_source,
                                                           option):
    """idmap (ridmap) without mappings of its own maps the source with the
    container's user namespace mappings (config.md: "If uidMappings or
    gidMappings are not specified, the runtime MAY use the container's user
    namespace mapping"): host root's files are root's in the container,
    and what the container's root writes is host root's on the host. ridmap
    maps the submounts too; idmap only the mount itself (their files stay
    host root's: the overflow id in the container).

    Not differential: runc 1.1.5 has no idmapped mounts (it ignores the
    option; the files show as 65534)."""
    mp = mountpoints(public_tmp, "idm")

    def edit(cfg):
        userns(cfg)
        bind(cfg, mp, "/root")
        cfg["mounts"].append({"destination": "/root/idm", "type": "bind",
                              "source": str(idmap_source), "options": ["rbind", option]})
    p = rt.run(["sh", "-c", "stat -c '%n %u %g' /root/idm/rootfile /root/idm/u1000 "
                            "/root/idm/sub/subfile; touch /root/idm/new; "
                            "grep -c idmapped /proc/self/mountinfo"], edit)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "/root/idm/rootfile 0 0"
    assert lines[1] == "/root/idm/u1000 1000 1000"
    if option == "ridmap":
        assert lines[2] == "/root/idm/sub/subfile 0 0"
        assert lines[3] == "2"
    else:
        assert lines[2] == "/root/idm/sub/subfile 65534 65534"
        assert lines[3] == "1"
    st = os.stat(idmap_source / "new")
    assert (st.st_uid, st.st_gid) == (0, 0)  # written as host root through the idmap


def test_idmapped_mount_with_its_own_mappings_and_a_user_namespace(rt, public_tmp,
                                                                   idmap_source):
    """A mount's own uidMappings/gidMappings (hostID: the host's ids the
    source's ids become) under the container's user namespace: the
    source's uid 0 becomes host uid 100005, which is 5 in the container;
    ids outside the mount's mapping are the overflow id."""
    mp = mountpoints(public_tmp, "idm")

    def edit(cfg):
        userns(cfg)
        bind(cfg, mp, "/root")
        cfg["mounts"].append({"destination": "/root/idm", "type": "bind",
                              "source": str(idmap_source), "options": ["rbind", "idmap"],
                              "uidMappings": [{"containerID": 0, "hostID": 100005, "size": 10}],
                              "gidMappings": [{"containerID": 0, "hostID": 100007, "size": 10}]})
    p = rt.run(["stat", "-c", "%n %u %g", "/root/idm/rootfile", "/root/idm/u1000"], edit)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "/root/idm/rootfile 5 7\n/root/idm/u1000 65534 65534\n"


# item 4 -------------------------------------------------------------------

def host_mounts():
    """{mount point: (options, optional fields)} of this process's mount table."""
    out = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fl = line.split()
            out.setdefault(fl[4], []).append((fl[5], tuple(fl[6:fl.index("-")])))
    return out


def under(mounts, path):
    return sorted(p for p in mounts if p == path or p.startswith(path.rstrip("/") + "/"))


def no_mount_namespace(cfg):
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"]
                                  if n["type"] != "mount"]


def test_no_mount_namespace_inherits_the_runtimes_and_delete_unmounts(rt):
    """Without a mount namespace in the config the container is in the
    runtime's (config-linux.md: "If a namespace type is not specified in
    the namespaces array, the container MUST inherit the runtime namespace
    of that type"), chrooted into its rootfs, as with runc. The inside
    view is differential. Unlike runc, which leaves every mount of the
    container in the host's mount namespace, delete removes them all
    (runtime.md: "Deleting a container MUST delete the resources that were
    created during the create step"); the rest of the host's mount table
    is as it was (no propagation changed)."""
    def edit(cfg):
        no_mount_namespace(cfg)
        cfg["linux"]["maskedPaths"] = []  # runc refuses them without a mount namespace
        cfg["linux"]["readonlyPaths"] = []
        cfg["root"]["readonly"] = False  # runc ignores it without one (the next test)
    script = ("readlink /proc/self/ns/mnt; test -x /bin/busybox && echo rootfs; "
              "grep -c ' /proc proc ' /proc/self/mounts; grep -c ' /dev/pts devpts ' "
              "/proc/self/mounts")
    before = host_mounts()
    assert under(before, rt.rootfs) == []
    b = rt.bundle(("sh", "-c", script + "; sleep 1000"), edit)
    cid = rt.new_id()
    rt("create", "--bundle", b, cid, check=True)
    during = host_mounts()
    made = under(during, rt.rootfs)
    assert rt.rootfs in made and rt.rootfs + "/proc" in made and rt.rootfs + "/dev/pts" in made
    rt("delete", "--force", cid, check=True)
    after = host_mounts()
    assert after == before

    ours = rt.run(["sh", "-c", script], edit)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == f"{os.readlink('/proc/self/ns/mnt')}\nrootfs\n1\n1\n"
    assert host_mounts() == before
    try:
        runc = runc_run(rt.bundle(("sh", "-c", script), edit))
        if runc is not None:
            assert ours.stdout == runc
    finally:
        # runc leaves the container's mounts behind: take them off the shared rootfs
        if under(host_mounts(), rt.rootfs):
            subprocess.run(["umount", "-R", "-l", rt.rootfs], check=True)
        # and runc 1.1.5 makes the runtime's mounts private (its rootfsPropagation
        # default, applied to the namespace it shares with the host): put back
        # the shared ones (ip netns's /run/netns, say)
        for point, entries in host_mounts().items():
            was = before.get(point)
            if was and was != entries and any(t.startswith("shared:")
                                               for _, tags in was for t in tags):
                subprocess.run(["mount", "--make-shared", point], check=False)


def test_no_mount_namespace_with_a_newline_in_the_rootfs_path(rt, tmp_path):
    """The record of the mount create made in the runtime's namespace holds
    the rootfs path: one with a newline (a root.path may hold any character
    but NUL) reads back whole, and delete takes the mount off."""
    root = tmp_path / "root\nfs"
    subprocess.run(["cp", "-a", "--one-file-system", rt.rootfs, str(root)], check=True)
    before = host_mounts()

    def edit(cfg):
        no_mount_namespace(cfg)
        cfg["root"]["path"] = str(root)
    cid = rt.created(("true",), edit)
    assert under(host_mounts(), str(root).replace("\n", "\\012"))  # mountinfo's escape
    rt("delete", "--force", cid, check=True)
    assert host_mounts() == before


def test_no_mount_namespace_masks_only_the_containers_proc(rt):
    """maskedPaths and readonlyPaths apply to the container's own /proc and
    /sys (mounted under its rootfs), never to the host's, which share the
    mount namespace; root.readonly makes the container's root read-only,
    not the host's. Not differential: runc 1.1.5 refuses maskedPaths
    without a mount namespace ("unable to restrict sys entries without a
    private MNT namespace"), and leaves the root writable despite
    root.readonly, which config.md says MUST be read-only ("If true then
    the root filesystem MUST be read-only inside the container")."""
    before = host_mounts()

    def edit(cfg):
        no_mount_namespace(cfg)
        cfg["linux"]["maskedPaths"] = ["/proc/timer_list", "/proc/acpi"]
        cfg["linux"]["readonlyPaths"] = ["/proc/sys"]
    p = rt.run(["sh", "-c", "wc -c < /proc/timer_list; ls /proc/acpi | wc -l; "
                            "grep ' /proc/sys ' /proc/self/mounts | cut -d' ' -f4; "
                            "touch /new 2>/dev/null || echo root-ro"], edit)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.split()
    assert lines[:2] == ["0", "0"] and lines[2].startswith("ro,"), p.stdout
    assert lines[3] == "root-ro"
    assert os.access("/", os.W_OK) and not os.path.exists(os.path.join(rt.rootfs, "new"))
    with open("/proc/timer_list") as f:
        assert f.read(10)
    assert host_mounts() == before


def test_user_namespace_without_a_mount_namespace_is_refused(rt):
    from tests.integration.conftest import one_line_error

    def edit(cfg):
        no_mount_namespace(cfg)
        userns(cfg)
    one_line_error(rt.run(["true"], edit), "$.linux.namespaces", "mount namespace")
    rt.assert_nothing_left()


def test_exec_without_a_mount_namespace_runs_in_the_containers_root(rt):
    """`exec` into a container that is in the runtime's mount namespace
    enters the init's root (its /proc/<pid>/root, by fd), not the host's
    "/". runc 1.1.5 differs: its exec'd process sees the host's root (an
    escape from the container's filesystem); runtime.md's container is the
    process in its configured environment, root included."""
    assert os.path.exists("/etc/os-release")  # the host's, which the busybox rootfs lacks
    cid = rt.running(("sleep", "1000"), no_mount_namespace)
    p = rt("exec", cid, "sh", "-c", "test -x /bin/busybox && ! test -e /etc/os-release && "
                                    "pwd && echo inside")
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert p.stdout == "/\ninside\n"
    rt("delete", "--force", cid, check=True)
    with open("/proc/self/mountinfo") as f:
        assert rt.rootfs not in f.read()
