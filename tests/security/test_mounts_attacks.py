"""Attacks on the mounts a container is built from.

The attacker owns the rootfs and whatever a volume shared with another
container holds. A host process stands in for that other container: it swaps
a directory and a symlink with renameat2(RENAME_EXCHANGE) in a tight loop
while containers are created, so that any second lookup of a path (a check,
then a use) sees something else than the first one. Each test then looks,
from inside the container or on the host, for what the attack would win.

Races are bounded: ATTEMPTS creates (or SECONDS) per test in CI, many more
with OCIRT_LONG=1.
"""
import contextlib
import glob
import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.integration.conftest import read_fifo, shared_dir

LONG = bool(os.environ.get("OCIRT_LONG"))
ATTEMPTS = 40
SECONDS = 12

# renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) forever: syscall 316 on x86_64
SWAPPER = r"""
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
a, b = (p.encode() for p in sys.argv[1:3])
if libc.syscall(316, -100, a, -100, b, 2) != 0:
    sys.exit("renameat2: errno %d" % ctypes.get_errno())
sys.stdout.write("swapping\n")
sys.stdout.flush()
while True:
    libc.syscall(316, -100, a, -100, b, 2)
"""

if os.uname().machine != "x86_64":
    pytest.skip("the swapper calls renameat2 by its x86_64 number", allow_module_level=True)


@contextlib.contextmanager
def swapping(a, b):
    """A host process exchanging the names a and b (a directory and a symlink)
    until the block ends."""
    p = subprocess.Popen([sys.executable, "-c", SWAPPER, str(a), str(b)],
                         stdout=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"swapping\n", "the swapper did not start"
        yield
    finally:
        p.kill()
        p.wait()
        p.stdout.close()


def attempts(n=ATTEMPTS, seconds=SECONDS):
    """The tries of one race: n, or fewer if the seconds run out first."""
    n, seconds = (max(n, 300), max(seconds, 300)) if LONG else (n, seconds)
    end = time.monotonic() + seconds
    for i in range(n):
        if i and time.monotonic() > end:
            return
        yield i


def private_rootfs(rt, where):
    """A copy of the busybox rootfs that this test may make hostile."""
    root = where / "rootfs"
    shutil.copytree(rt.rootfs, root, symlinks=True)
    return root


def bundle(rt, root, args, edit=None):
    def full(cfg):
        cfg["root"]["path"] = str(root)
        if edit:
            edit(cfg)
    return rt.bundle(args, full)


def run(rt, b, *flags):
    return rt("run", *flags, "--bundle", b, rt.new_id())


def bind_entry(src, dest, opts=("rbind", "rw")):
    return {"destination": dest, "type": "bind", "source": str(src), "options": list(opts)}


def dev_from(cfg, host_dir):
    """The container's /dev is host_dir (a volume the attacker shares), in
    place of the tmpfs: the runtime then adds no device nodes of its own."""
    i = next(i for i, m in enumerate(cfg["mounts"]) if m["destination"] == "/dev")
    cfg["mounts"][i] = bind_entry(host_dir, "/dev")


# ------------------------------------------------------------------ 1 tmpcopyup

def test_tmpcopyup_never_copies_host_files_through_a_swapped_symlink(rt, public_tmp):
    """A tmpcopyup tmpfs copies the rootfs directory it covers. A directory of
    it swapped for a symlink to a host directory must never make the host's
    files land in the container (it did: 22 of 100 tries with /etc/shadow)."""
    secret = public_tmp / "host-etc"
    secret.mkdir()
    (secret / "shadow").write_text("HOST-SECRET\n")
    root = private_rootfs(rt, public_tmp)
    data = root / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "shadow").write_text("container's own\n")
    os.symlink(str(secret), data / "link")

    def edit(cfg):
        cfg["mounts"].append({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
                              "options": ["tmpcopyup"]})
    b = bundle(rt, root, ["sh", "-c", "cat /data/sub/shadow /data/link/shadow 2>/dev/null; "
                                      "ls -l /data"], edit)
    ran = 0
    with swapping(data / "sub", data / "link"):
        for i in attempts():
            p = run(rt, b)
            assert "HOST-SECRET" not in p.stdout, f"try {i}: the host's file was copied in:\n" \
                                                  f"{p.stdout}"
            ran += p.returncode == 0
    assert ran, "no container ran"
    # symlinks stay symlinks, never followed
    p = run(rt, b)
    assert p.returncode == 0 and str(secret) in p.stdout


# ------------------------------------------------------------- 2 read-only bind

def test_read_only_bind_stays_read_only_while_the_volume_renames(rt, public_tmp):
    """A `ro` bind mount whose destination lies in a volume where names are
    swapped during create must come out read-only wherever it lands: the
    container never writes to the host directory (it did: 36 of 246 creates)."""
    vol = public_tmp / "vol"
    (vol / "a").mkdir(parents=True)
    os.symlink(".", vol / "b")
    host = public_tmp / "host-dir"
    host.mkdir()
    (host / "keep").write_text("k")

    def edit(cfg):
        cfg["mounts"] += [bind_entry(vol, "/vol"), bind_entry(host, "/vol/a", ("bind", "ro"))]
    b = rt.bundle(["sh", "-c", "for d in /vol/a /vol/b /vol; do touch $d/pwn; done; "
                               "grep -c ' /vol' /proc/self/mountinfo"], edit)
    erofs = 0
    with swapping(vol / "a", vol / "b"):
        # the old code lost the race once in 20 to 60 creates here
        for i in attempts(80, 15):
            p = run(rt, b)
            assert sorted(os.listdir(host)) == ["keep"], \
                f"try {i}: the container wrote to the host through a ro mount: {p.stderr}"
            erofs += "Read-only file system" in p.stderr
    assert erofs, "the ro mount was never reached"


def test_read_only_cgroup_mount_stays_read_only_while_the_volume_renames(rt, public_tmp):
    """The same race on a `cgroup` mount (a tmpfs with one mount per hierarchy):
    each piece is read-only before it is attached, so wherever it lands, the
    container cannot write to the host's cgroup tree through it."""
    vol = public_tmp / "vol"
    (vol / "a").mkdir(parents=True)
    os.symlink(".", vol / "b")

    def edit(cfg):
        cfg["mounts"] += [bind_entry(vol, "/vol"),
                          {"destination": "/vol/a", "type": "cgroup", "source": "cgroup",
                           "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}]
    b = rt.bundle(["sh", "-c", "for d in /vol/a /vol/b; do for f in $d/*/x $d/x; do "
                               "mkdir $f; done; done; true"], edit)
    erofs = 0
    with swapping(vol / "a", vol / "b"):
        for i in attempts(40, 12):
            cid = rt.new_id()
            p = rt("run", "--bundle", b, cid)
            made = [d for d in glob.glob(f"/sys/fs/cgroup/*/ocirt/{cid}/x")
                    + glob.glob(f"/sys/fs/cgroup/ocirt/{cid}/x")]
            assert not made, f"try {i}: the container wrote to the host's cgroups: {made}"
            erofs += "Read-only file system" in p.stderr
    assert erofs, "the ro mount was never reached"


# ----------------------------------------------------- 3 /proc or /sys as symlinks

@pytest.mark.parametrize("dest", ["/proc", "/sys"])
def test_proc_and_sysfs_are_not_mounted_through_a_symlink(rt, public_tmp, dest):
    """CVE-2019-16884 class: a rootfs whose /proc (or /sys) is a symlink would
    get procfs (sysfs) wherever the symlink points."""
    root = private_rootfs(rt, public_tmp)
    (root / "elsewhere").mkdir()
    (root / dest.strip("/")).rmdir()
    os.symlink("elsewhere", root / dest.strip("/"))
    p = run(rt, bundle(rt, root, ["true"]))
    assert p.returncode == 1
    assert f"destination {dest} is a symlink in the rootfs" in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    rt.assert_nothing_left()


def test_proc_is_never_mounted_where_a_swapped_symlink_points(rt, public_tmp):
    root = private_rootfs(rt, public_tmp)
    (root / "elsewhere").mkdir()
    os.symlink("elsewhere", root / "proc-link")
    # (the container sees the names swap too: it looks only at /elsewhere)
    b = bundle(rt, root, ["ls", "/elsewhere"])
    ran = refused = 0
    with swapping(root / "proc", root / "proc-link"):
        for i in attempts():
            p = run(rt, b)
            if p.returncode == 0:
                assert p.stdout == "", f"try {i}: procfs landed in /elsewhere: {p.stdout[:200]}"
                ran += 1
            else:
                assert "destination /proc is a symlink in the rootfs" in p.stderr, p.stderr
                refused += 1
    assert ran and refused, (ran, refused)
    rt.assert_nothing_left()


NESTED = ("mkdir -p /tmp/p /tmp/s; "
          "unshare -rmpf mount -t proc proc /tmp/p && echo PROC-MOUNTED; "
          "unshare -rmpfn mount -o ro -t sysfs sysfs /tmp/s && echo SYSFS-MOUNTED; "
          "echo ran")


@pytest.mark.parametrize("pivot,userns", [(True, False), (False, False), (False, True)],
                         ids=["pivot_root", "no-pivot", "no-pivot-userns"])
def test_a_nested_user_namespace_cannot_mount_a_fresh_procfs(rt, pivot, userns):
    """The kernel lets a user namespace mount procfs (sysfs) only if a fully
    visible one is in its mount namespace already. With --no-pivot the host's
    /proc and /sys stay in the container's mount namespace under its root:
    they must be gone (or covered, where a user namespace locks them) so that
    the masked ones are all there is."""
    def edit(cfg):
        cfg["process"]["user"] = {"uid": 1000, "gid": 1000}  # root would need CAP_SETFCAP
        if userns:
            cfg["linux"]["namespaces"].append({"type": "user"})
            cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 300000, "size": 65536}]
            cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 300000, "size": 65536}]
    b = rt.bundle(["sh", "-c", NESTED], edit)
    p = run(rt, b, *([] if pivot else ["--no-pivot"]))
    assert p.returncode == 0 and p.stdout.endswith("ran\n"), p.stderr
    assert "MOUNTED" not in p.stdout, p.stdout + p.stderr


# --------------------------------------- 4 what the runtime mounts over and writes to

def test_masked_paths_are_masked_by_the_null_device_only(rt, public_tmp):
    """CVE-2025-31133 class: the container's /dev/null (here in a shared
    volume) swapped for a symlink must not make the runtime bind something
    else over a masked path."""
    root = private_rootfs(rt, public_tmp)
    (root / "etc" / "secret").write_text("ATTACKER-CHOSEN\n")
    (root / "etc" / "masked").write_text("MASK-ME\n")
    dev = public_tmp / "dev"
    dev.mkdir()
    os.mknod(dev / "null", 0o20666, os.makedev(1, 3))
    os.symlink("/etc/secret", dev / "null-link")

    def edit(cfg):
        dev_from(cfg, dev)
        cfg["linux"]["maskedPaths"].append("/etc/masked")
    b = bundle(rt, root, ["sh", "-c", "cat /etc/masked; stat -c %t:%T /etc/masked"], edit)
    ok = 0
    with swapping(dev / "null", dev / "null-link"):
        for i in attempts():
            p = run(rt, b)
            assert "ATTACKER-CHOSEN" not in p.stdout and "MASK-ME" not in p.stdout, \
                f"try {i}: the masked path shows {p.stdout!r}"
            if p.returncode == 0:
                assert p.stdout == "1:3\n", p.stdout
                ok += 1
    assert ok, "no container ran"


def test_console_is_never_bound_through_a_swapped_symlink(rt, public_tmp):
    """CVE-2025-52565 class: /dev/console swapped for a symlink must not make
    the runtime bind the terminal over what the symlink names."""
    import array
    import socket
    root = private_rootfs(rt, public_tmp)
    (root / "etc" / "target").write_text("plain file\n")
    dev = public_tmp / "dev"
    dev.mkdir()
    (dev / "console").write_text("")
    os.mknod(dev / "null", 0o20666, os.makedev(1, 3))
    os.symlink("/etc/target", dev / "console-link")
    os.symlink("pts/ptmx", dev / "ptmx")

    def edit(cfg):
        dev_from(cfg, dev)
        cfg["process"]["terminal"] = True
    b = bundle(rt, root, ["sh", "-c", "test -c /etc/target && echo HIJACKED; echo done"], edit)
    sock_path = str(public_tmp / "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)
    ran = refused = 0
    try:
        with swapping(dev / "console", dev / "console-link"):
            for i in attempts():
                cid = rt.new_id()
                create = subprocess.Popen(
                    [rt.bin, "--root", rt.root, "create", "--bundle", b, "--console-socket",
                     sock_path, cid], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                master = None
                try:
                    # create connects first; the init sends the master later on
                    # that connection, or closes it without one if it fails
                    srv.settimeout(0.2)
                    conn = None
                    while conn is None and create.poll() is None:
                        try:
                            conn, _ = srv.accept()
                        except socket.timeout:
                            pass
                    if conn is not None:
                        with conn:
                            conn.settimeout(30)
                            fds = array.array("i")
                            _, anc, _, _ = conn.recvmsg(64, socket.CMSG_SPACE(4))
                            for _, _, data in anc:
                                fds.frombytes(data)
                            master = fds[0] if fds else None
                    err = create.communicate(timeout=30)[1].decode()
                    if create.returncode != 0:
                        assert "/dev/console: it is a symlink in the rootfs" in err, err
                        refused += 1
                        continue
                    rt("start", cid, check=True)
                    text = _read_all(master)
                    assert "HIJACKED" not in text, f"try {i}: the pty went over /etc/target"
                    assert "done" in text
                    ran += 1
                finally:
                    if master is not None:
                        os.close(master)
                    rt("delete", "--force", cid)
    finally:
        srv.close()
    assert ran and refused, (ran, refused)


def _read_all(fd):
    import select
    out = b""
    while True:
        r, _, _ = select.select([fd], [], [], 30)
        if not r:
            raise TimeoutError(out)
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the container side is gone
            return out.decode()
        if not chunk:
            return out.decode()
        out += chunk


def test_sysctl_is_only_written_to_procfs(rt, public_tmp):
    """CVE-2025-52881 class: a mount redirected by a swapped symlink in a
    volume (here: a host file bound over /proc/sys/net/ipv4/ip_forward) must
    not turn the runtime's sysctl write into a write to that file."""
    vol = public_tmp / "vol"
    (vol / "a").mkdir(parents=True)
    os.symlink("/proc/sys/net/ipv4", vol / "b")
    victim = public_tmp / "victim"
    victim.write_text("UNTOUCHED\n")

    def edit(cfg):
        cfg["mounts"] += [bind_entry(vol, "/vol"),
                          bind_entry(victim, "/vol/a/ip_forward", ("bind", "rw"))]
        cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    b = rt.bundle(["cat", "/proc/sys/net/ipv4/ip_forward"], edit)
    refused = ran = 0
    with swapping(vol / "a", vol / "b"):
        for i in attempts():
            p = run(rt, b)
            assert victim.read_text() == "UNTOUCHED\n", f"try {i}: the sysctl went to the host file"
            if p.returncode == 0:
                ran += 1
                assert p.stdout == "1\n"
            else:  # the race may also break the mount itself: a clean error
                assert len(p.stderr.splitlines()) == 1, p.stderr
                refused += "cannot set net.ipv4.ip_forward" in p.stderr
    assert refused, "the mount never went over /proc/sys: the attack was not tried"
    if not ran:  # under load the swapper may win every time: the plain case still works
        if os.path.islink(vol / "a"):
            os.rename(vol / "a", vol / "tmp")
            os.rename(vol / "b", vol / "a")
            os.rename(vol / "tmp", vol / "b")
        p = run(rt, b)
        assert (p.returncode, p.stdout) == (0, "1\n"), p.stderr
        assert victim.read_text() == "UNTOUCHED\n"


# ------------------------------------------------ 5 CVE-2021-30465: mounts escaping

def test_mounts_never_land_outside_the_rootfs(rt, public_tmp):
    """CVE-2021-30465: a directory in a volume swapped with a symlink to a host
    path (through "..") while mounts under it are made. With the rootfs's
    propagation shared, a mount that escaped onto the host's (shared)
    directory would show in the host's mount table; none may, and the ro bind
    stays read-only. The symlink is followed as if the rootfs were "/": the
    mounts may land on the rootfs's own copy of the path."""
    shared = public_tmp / "shared"
    victim = shared / "victim"
    root = private_rootfs(rt, public_tmp)
    for where in (victim, root / str(victim).lstrip("/")):
        (where / "t").mkdir(parents=True)
        (where / "h").mkdir()
    subprocess.run(["mount", "--bind", str(shared), str(shared)], check=True)
    try:
        subprocess.run(["mount", "--make-shared", str(shared)], check=True)
        vol = public_tmp / "vol"
        (vol / "a").mkdir(parents=True)
        os.symlink("../../../../../../../../.." + str(victim), vol / "b")
        host = public_tmp / "host-dir"
        host.mkdir()

        def edit(cfg):
            cfg["linux"]["rootfsPropagation"] = "rshared"
            cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != "/tmp"]
            cfg["mounts"] += [bind_entry(vol, "/vol"),
                              {"destination": "/vol/a/t", "type": "tmpfs", "source": "tmpfs",
                               "options": ["size=1m"]},
                              bind_entry(host, "/vol/a/h", ("bind", "ro"))]
        b = bundle(rt, root, ["sh", "-c", "touch /vol/a/h/pwn /vol/b/h/pwn " + str(victim)
                                          + "/h/pwn 2>/dev/null; cat /proc/self/mountinfo"], edit)
        followed = 0
        with swapping(vol / "a", vol / "b"):
            for i in attempts():
                p = run(rt, b)
                with open("/proc/self/mountinfo") as f:
                    escaped = [line for line in f if str(shared) + "/" in line.split()[4]]
                assert not escaped, f"try {i}: a container mount reached the host: {escaped}"
                assert os.listdir(host) == [], f"try {i}: wrote through the ro bind"
                assert os.listdir(victim / "t") == [] and os.listdir(victim / "h") == []
                if p.returncode != 0:  # the race may break a mount: a clean error
                    assert len(p.stderr.splitlines()) == 1, p.stderr
                for line in p.stdout.splitlines():
                    f = line.split()
                    if len(f) > 5 and f[3] == str(host):  # the host dir, wherever it went: ro
                        assert f[5].split(",")[0] == "ro", f"try {i}: {line}"
                    followed += len(f) > 5 and f[4].startswith(str(victim) + "/")
        assert followed, "no mount went through the symlink: the attack was not tried"
    finally:
        subprocess.run(["umount", "-l", str(shared)], check=True)


@pytest.mark.parametrize("netns", ["own", "joined", "host"])
def test_a_read_only_sysfs_never_makes_a_shared_superblock_read_only(rt, netns):
    """runc spec's /sys mount (nosuid, noexec, nodev, ro): the read-only flag
    belongs to the container's mount, never to the sysfs superblock, which
    a joined network namespace (or the host, whose /sys is bound when the
    container has none of its own) shares. A superblock remount made the
    host's /sys read-only."""
    helper = subprocess.Popen(["unshare", "-n", "sleep", "1000"])
    try:
        def edit(cfg):
            nss = [n for n in cfg["linux"]["namespaces"] if n["type"] != "network"]
            if netns == "own":
                nss.append({"type": "network"})
            elif netns == "joined":
                nss.append({"type": "network", "path": f"/proc/{helper.pid}/ns/net"})
            cfg["linux"]["namespaces"] = nss
            for m in cfg["mounts"]:
                if m["destination"] == "/sys":
                    m.update(type="sysfs", source="sysfs",
                             options=["nosuid", "noexec", "nodev", "ro"])
        p = rt.run(["grep", " /sys ", "/proc/self/mountinfo"], edit)
        assert p.returncode == 0, p.stderr
        fields = p.stdout.split("\n")[0].split()
        assert fields[5].startswith("ro,"), fields           # the container's mount: ro
        assert fields[-1].split(",")[0] == "rw", fields      # its superblock: untouched
        if netns == "joined":  # the helper's sysfs, seen through a fresh mount
            out = subprocess.run(["nsenter", "-t", str(helper.pid), "-n", "unshare", "-m",
                                  "sh", "-c", "mount -t sysfs sysfs /mnt && "
                                  "grep ' /mnt ' /proc/self/mountinfo"],
                                 capture_output=True, text=True, check=True).stdout
            assert out.split()[-1].split(",")[0] == "rw", out
        with open("/proc/self/mountinfo") as f:
            host = [line for line in f if line.split()[4] == "/sys"][0]
        assert host.split()[-1].split(",")[0] == "rw", host
    finally:
        helper.kill()
        helper.wait()


# --- a container in the runtime's mount namespace (no mount namespace of its own) ---

def _host_mount_table():
    with open("/proc/self/mountinfo") as f:
        return sorted((fl[4], fl[5], tuple(fl[6:fl.index("-")]))
                      for fl in (line.split() for line in f))


def _no_mountns(cfg):
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"]
                                  if n["type"] != "mount"]


def test_a_container_without_mount_namespace_covering_its_root_leaves_nothing(rt, public_tmp):
    """A privileged container in the host's mount namespace mounts over its
    own "/" (stacking on the rootfs mount create made, at the rootfs path
    on the host) and over /proc, then is deleted: delete must not stop at
    the container's mount on top (a path-based unmount of the rootfs
    path would take only that one, and leave create's mounts below it on
    the host), and the host's mount table is as before."""
    before = _host_mount_table()
    host, edit_fifo = shared_dir(public_tmp, "/sync")

    def edit(cfg):
        _no_mountns(cfg)
        edit_fifo(cfg)
        caps = ["CAP_SYS_ADMIN", "CAP_SYS_CHROOT"]
        cfg["process"]["capabilities"] = {k: caps for k in ("bounding", "effective",
                                                            "permitted")}
    # the shared dir is bound at /sync before the cover: its fifo stays reachable
    # through the open fd of the shell's redirection
    script = ("exec 3>/sync/fifo; mount -t tmpfs cover /proc && mount -t tmpfs cover / && "
              "echo covered >&3; exec 3>&-; sleep 1000")
    cid = rt.running(("sh", "-c", script), edit)
    assert read_fifo(host / "fifo") == "covered\n"
    covered = _host_mount_table()
    assert sum(1 for m in covered if m[0] == rt.rootfs) >= 2  # create's and the cover
    rt("delete", "--force", cid, check=True)
    assert _host_mount_table() == before


def test_delete_does_not_follow_a_swapped_rootfs_path(rt, public_tmp):
    """After create (no mount namespace), a host process standing in for a
    second container that shares the bundle's directory detaches the
    rootfs mount and puts a symlink to a victim mount point where the
    rootfs was. delete opens the path without following it and unmounts
    only a mount whose id is the one create recorded: the victim stays
    mounted (umount of the path would have followed the link to it)."""
    root = public_tmp / "rootfs"
    shutil.copytree(rt.rootfs, root, symlinks=True)
    victim = public_tmp / "victim"
    victim.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "victim", str(victim)], check=True)
    try:
        def edit(cfg):
            _no_mountns(cfg)
            cfg["root"]["path"] = str(root)
        cid = rt.created(("true",), edit)
        # the stand-in: takes the rootfs mount off and swaps the path for a link
        subprocess.run(["umount", "-R", "-l", str(root)], check=True)
        os.rename(root, public_tmp / "rootfs.old")
        os.symlink(victim, root)
        rt("delete", "--force", cid, check=True)
        with open("/proc/self/mountinfo") as f:
            assert any(line.split()[4] == str(victim) for line in f)
    finally:
        subprocess.run(["umount", "-l", str(victim)], check=False)
