"""config.json fields, checked from inside real containers."""
import json
import os
import subprocess

import pytest

from tests.integration.conftest import bind, read_fifo


def only_namespaces(*types):
    def edit(cfg):
        cfg["linux"]["namespaces"] = [{"type": t} for t in types]
        if "uts" not in types:
            cfg.pop("hostname", None)
        if "cgroup" not in types:
            pass
    return edit


def out(rt, script, edit=None):
    p = rt.run(["sh", "-c", script], edit)
    assert p.returncode == 0, p.stderr
    return p.stdout


def host_ns(kind):
    return os.readlink(f"/proc/self/ns/{kind}")


def test_new_namespaces_differ_from_the_host(rt):
    text = out(rt, "for n in pid net ipc uts mnt cgroup; do readlink /proc/self/ns/$n; done")
    inside = text.split()
    for kind, link in zip(("pid", "net", "ipc", "uts", "mnt", "cgroup"), inside):
        assert link != host_ns(kind), kind


def test_time_namespace(rt):
    def edit(cfg):
        cfg["linux"]["namespaces"].append({"type": "time"})
    assert out(rt, "readlink /proc/self/ns/time", edit).strip() != host_ns("time")


def test_unlisted_namespaces_are_the_hosts(rt):
    text = out(rt, "readlink /proc/self/ns/net; readlink /proc/self/ns/uts; echo $$",
               only_namespaces("mount", "pid"))
    net, uts, pid = text.split()
    assert net == host_ns("net") and uts == host_ns("uts")
    assert pid == "1"


def test_join_a_namespace_by_path(rt):
    holder = subprocess.Popen(["unshare", "--uts", "sh", "-c",
                               "hostname joined-ns; echo ready; exec sleep 1000"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "ready\n"

        def edit(cfg):
            cfg.pop("hostname")
            for ns in cfg["linux"]["namespaces"]:
                if ns["type"] == "uts":
                    ns["path"] = f"/proc/{holder.pid}/ns/uts"
        assert out(rt, "hostname", edit) == "joined-ns\n"
    finally:
        holder.kill()
        holder.wait()


def test_joining_a_namespace_of_the_wrong_type_is_an_error(rt):
    def edit(cfg):
        for ns in cfg["linux"]["namespaces"]:
            if ns["type"] == "network":
                ns["path"] = "/proc/self/ns/uts"
    p = rt.run(["true"], edit)
    assert p.returncode == 1
    assert "$.linux.namespaces[1].path" in p.stderr and "not a network namespace" in p.stderr
    assert len(p.stderr.splitlines()) == 1
    rt.assert_nothing_left()


@pytest.mark.parametrize("userns", [False, True])
def test_a_new_network_namespace_has_its_loopback_up(rt, userns):
    # podman --network none counts on it (runc brings lo up too)
    def edit(cfg):
        if userns:
            cfg["linux"]["namespaces"].append({"type": "user"})
            cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
            cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    # the server gives no sign that it listens: tries, for at most 30 s
    text = out(rt, "cat /sys/class/net/lo/flags; nc -l -p 7 -e echo pong & "
                   "end=$(($(date +%s) + 30)); until nc 127.0.0.1 7 </dev/null 2>/dev/null; "
                   "do [ $(date +%s) -lt $end ] || break; done", edit)
    flags, reply = text.split()
    assert int(flags, 16) & 1, text  # IFF_UP
    assert reply == "pong"


def test_user_namespace_maps_root(rt, public_tmp):
    shared = public_tmp / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)

    def edit(cfg):
        cfg["linux"]["namespaces"].append({"type": "user"})
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        # the rootfs belongs to host root, which the container cannot write:
        # mount onto a directory that exists
        bind(cfg, shared, "/root")
    text = out(rt, "id -u; id -g; cat /proc/self/uid_map; touch /root/f", edit)
    lines = text.splitlines()
    assert lines[0] == "0" and lines[1] == "0"
    assert lines[2].split() == ["0", "100000", "65536"]
    st = os.stat(shared / "f")
    assert (st.st_uid, st.st_gid) == (100000, 100000)


def test_hostname_and_domainname(rt):
    def edit(cfg):
        cfg["hostname"] = "box1"
        cfg["domainname"] = "example.org"
    assert out(rt, "hostname; cat /proc/sys/kernel/domainname", edit) == "box1\nexample.org\n"


def test_user_groups_umask_cwd_env(rt):
    def edit(cfg):
        cfg["process"]["user"] = {"uid": 1000, "gid": 1001, "umask": 0o027,
                                  "additionalGids": [5, 6]}
        cfg["process"]["cwd"] = "/tmp/work/dir"
        cfg["process"]["env"].append("GREETING=hello world")
    text = out(rt, "id -u; id -g; id -G; umask; pwd; echo $GREETING", edit)
    uid, gid, groups, umask, cwd, greeting = text.splitlines()
    assert (uid, gid) == ("1000", "1001")
    assert sorted(groups.split()) == ["1001", "5", "6"]
    assert umask in ("0027", "027")
    assert cwd == "/tmp/work/dir"
    assert greeting == "hello world"


def test_readonly_root(rt):
    p = rt.run(["sh", "-c", "touch /newfile"])
    assert p.returncode != 0 and "Read-only" in p.stderr

    def rw(cfg):
        cfg["root"]["readonly"] = False
    assert mountinfo(rt, rw, "/")[5].split(",")[0] == "rw"
    assert mountinfo(rt, None, "/")[5].split(",")[0] == "ro"


def mountinfo(rt, edit, dest):
    text = out(rt, "cat /proc/self/mountinfo", edit)
    for line in text.splitlines():
        f = line.split()
        if f[4] == dest:
            return f
    raise AssertionError(f"{dest} not mounted:\n{text}")


def test_bind_mount_options(rt, tmp_path):
    src = tmp_path / "data"
    src.mkdir()
    (src / "hello").write_text("hi\n")

    def edit(cfg):
        bind(cfg, src, "/data", ["rbind", "ro", "nosuid", "noexec"])
    f = mountinfo(rt, edit, "/data")
    opts = f[5].split(",")
    assert "ro" in opts and "nosuid" in opts and "noexec" in opts
    assert out(rt, "cat /data/hello", edit) == "hi\n"


def test_tmpcopyup_skips_fifos_in_a_hostile_rootfs(rt, tmp_path):
    rootfs = tmp_path / "rootfs"
    subprocess.run(["cp", "-a", rt.rootfs, str(rootfs)], check=True)
    (rootfs / "copyup").mkdir()
    (rootfs / "copyup" / "keep").write_text("k")
    os.mkfifo(rootfs / "copyup" / "trap")
    (rootfs / "copyup" / "sub").mkdir()
    os.mkfifo(rootfs / "copyup" / "sub" / "trap2")
    os.symlink("/etc/passwd", rootfs / "copyup" / "link")

    def edit(cfg):
        cfg["root"]["path"] = str(rootfs)
        cfg["mounts"].append({"destination": "/copyup", "type": "tmpfs", "source": "tmpfs",
                              "options": ["tmpcopyup"]})
    text = out(rt, "ls -A /copyup; ls -A /copyup/sub; readlink /copyup/link", edit)
    assert text.split() == ["keep", "link", "sub", "/etc/passwd"]


def test_tmpfs_mount_data_and_tmpcopyup(rt):
    def edit(cfg):
        cfg["mounts"].append({"destination": "/etc", "type": "tmpfs", "source": "tmpfs",
                              "options": ["nodev", "size=1m", "mode=750", "tmpcopyup"]})
    text = out(rt, "grep ' /etc ' /proc/self/mountinfo; stat -c %a /etc; cat /etc/passwd", edit)
    first = text.splitlines()[0]
    assert "tmpfs" in first and "size=1024k" in first and "nodev" in first
    assert text.splitlines()[1] == "750"
    assert "root:x:0:0" in text


def test_propagation_options(rt, tmp_path):
    src = tmp_path / "p"
    src.mkdir()

    def edit(cfg):
        bind(cfg, src, "/p", ["rbind", "rshared"])
    f = mountinfo(rt, edit, "/p")
    assert any(x.startswith("shared:") for x in f[6:f.index("-")])


def test_mount_destination_symlink_stays_in_rootfs(rt, tmp_path):
    # A rootfs whose /escape is a symlink pointing far outside; the mount must land
    # inside the rootfs, never on the host path.
    rootfs = tmp_path / "rootfs"
    subprocess.run(["cp", "-a", rt.rootfs, str(rootfs)], check=True)
    victim = tmp_path / "victim"
    victim.mkdir()
    os.symlink(f"../../../../../../../../{victim}", rootfs / "escape")
    src = tmp_path / "src"
    src.mkdir()
    (src / "marker").write_text("x")

    def edit(cfg):
        cfg["root"]["path"] = str(rootfs)
        bind(cfg, src, "/escape/inner")
    text = out(rt, "ls /escape/inner; readlink /escape", edit)
    assert "marker" in text
    assert not (victim / "inner").exists()
    assert os.listdir(victim) == []


def test_default_devices_and_links(rt):
    text = out(rt, "ls -l /dev; for l in fd stdin ptmx; do readlink /dev/$l; done; "
               "echo x > /dev/null; "
               "head -c 4 /dev/urandom | wc -c")
    for dev, (major, minor) in {"null": (1, 3), "zero": (1, 5), "full": (1, 7),
                                "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}.items():
        line = next(x for x in text.splitlines() if x.endswith(" " + dev))
        assert line.startswith("crw-rw-rw-")
        assert f"{major}, " in line and line.split()[5].rstrip(",") in (str(minor),) or \
            f" {minor} " in line
    assert "/proc/self/fd\n/proc/self/fd/0\npts/ptmx\n" in text
    assert text.rstrip().endswith("4")


def test_config_devices(rt):
    def edit(cfg):
        cfg["linux"]["devices"] = [
            {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600,
             "uid": 10, "gid": 20},
            {"path": "/dev/mypipe", "type": "p"},
            {"path": "/dev/myloop", "type": "b", "major": 7, "minor": 0, "fileMode": 0o640},
            {"path": "/dev/unbuffered", "type": "u", "major": 1, "minor": 5},
        ]
    text = out(rt, "stat -c '%F %a %u %g %t %T' /dev/mynull /dev/mypipe /dev/myloop "
               "/dev/unbuffered", edit)
    null, pipe, loop, unbuf = text.splitlines()
    assert null == "character special file 600 10 20 1 3"
    assert pipe.startswith("fifo")
    assert loop == "block special file 640 0 0 7 0"
    assert unbuf == "character special file 666 0 0 1 5"


def test_only_stdio_reaches_the_container(rt, tmp_path):
    leak = open(tmp_path / "leak", "w")
    os.set_inheritable(leak.fileno(), True)
    try:
        b = rt.bundle(["sh", "-c", "ls /proc/self/fd"])
        p = subprocess.run([rt.bin, "--root", rt.root, "run", "--bundle", b, rt.new_id()],
                           capture_output=True, text=True, close_fds=False, timeout=60)
    finally:
        leak.close()
    assert p.returncode == 0, p.stderr
    # 0, 1, 2 and the directory ls itself has open
    assert len(p.stdout.split()) == 4, p.stdout


def test_preserve_fds(rt, tmp_path):
    extra = open(tmp_path / "extra", "w+")
    os.dup2(extra.fileno(), 3) if extra.fileno() != 3 else None
    try:
        b = rt.bundle(["sh", "-c", "echo via-fd3 >&3"])
        p = subprocess.run([rt.bin, "--root", rt.root, "run", "--preserve-fds", "1",
                            "--bundle", b, rt.new_id()], capture_output=True, text=True,
                           pass_fds=(3,), timeout=60)
        assert p.returncode == 0, p.stderr
        extra.seek(0)
        assert extra.read() == "via-fd3\n"
    finally:
        extra.close()


def test_setup_process_is_not_dumpable(rt):
    # In a user namespace, /proc/<pid> of a dumpable process belongs to the mapped
    # uid; of a non-dumpable one, to host root. The waiting init must be the latter.
    def edit(cfg):
        cfg["linux"]["namespaces"].append({"type": "user"})
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    cid = rt.created(["sleep", "1000"], edit)
    pid = rt.state(cid)["pid"]
    assert os.stat(f"/proc/{pid}/status").st_uid == 0
    rt("start", cid, check=True)
    assert os.stat(f"/proc/{pid}/status").st_uid == 200000


def test_no_pivot(rt):
    b = rt.bundle(["sh", "-c", "cat /proc/self/mountinfo | head -1; ls /"])
    p = rt("run", "--no-pivot", "--bundle", b, rt.new_id())
    assert p.returncode == 0, p.stderr
    assert "bin" in p.stdout.split()


def test_rlimits_and_capabilities_from_inside(rt):
    def edit(cfg):
        cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 800}]
        cfg["process"]["capabilities"] = {k: ["CAP_CHOWN", "CAP_KILL"] for k in
                                          ("bounding", "effective", "permitted")}
    text = out(rt, "ulimit -n; ulimit -Hn; grep -E 'CapEff|CapBnd|NoNewPrivs' /proc/self/status",
               edit)
    lines = text.splitlines()
    assert lines[:2] == ["512", "800"]
    assert "CapEff:\t0000000000000021" in lines
    assert "CapBnd:\t0000000000000021" in lines
    assert "NoNewPrivs:\t1" in lines


def test_an_unlimited_rlimit(rt):
    """RLIM_INFINITY is the largest uint64 in the config (as runc takes it)."""
    inf = (1 << 64) - 1

    def edit(cfg):
        cfg["process"]["rlimits"] = [{"type": "RLIMIT_CORE", "soft": inf, "hard": inf},
                                     {"type": "RLIMIT_STACK", "soft": 8 << 20, "hard": inf}]
    assert out(rt, "ulimit -c; ulimit -Hc; ulimit -s; ulimit -Hs", edit).split() == [
        "unlimited", "unlimited", "8192", "unlimited"]


def test_raising_a_hard_rlimit_above_the_host_is_a_clear_error(rt):
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        pytest.skip("the host's nofile hard limit is unlimited")
    if os.system("grep -q '^CapBnd:.*' /proc/self/status") != 0:
        pytest.skip("no /proc")

    def edit(cfg):
        cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": hard * 4}]
    p = rt.run(["true"], edit)
    caps = int(open("/proc/self/status").read().split("CapEff:\t")[1][:16], 16)
    if caps & (1 << 24):  # CAP_SYS_RESOURCE: raising is allowed here
        assert p.returncode == 0
        return
    assert p.returncode == 1
    assert "RLIMIT_NOFILE" in p.stderr and len(p.stderr.splitlines()) == 1
    assert f"the host's hard limit is {hard}" in p.stderr
    rt.assert_nothing_left()


def test_mount_flags_reach_the_kernel(rt):
    def edit(cfg):
        cfg["mounts"].append({"destination": "/flags", "type": "tmpfs", "source": "tmpfs",
                              "options": ["ro", "nosuid", "nodev", "noexec", "noatime",
                                          "nodiratime", "sync", "dirsync"]})
    f = mountinfo(rt, edit, "/flags")
    opts = set(f[5].split(","))
    assert {"ro", "nosuid", "nodev", "noexec", "noatime", "nodiratime"} <= opts
    sup = set(f[-1].split(","))
    assert "sync" in opts | sup and "dirsync" in opts | sup


@pytest.mark.parametrize("cgroupns", [True, False], ids=["cgroupns", "host-cgroupns"])
def test_cgroup_mount_options_reach_every_hierarchy(rt, cgroupns):
    # podman's and the default spec's cgroup mount: nosuid, noexec, nodev, ro.
    # Without a cgroup namespace each hierarchy is a bind mount of the host's,
    # which has its own flags: the config's must be applied too (as runc does).
    def edit(cfg):
        if not cgroupns:
            cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"]
                                          if n["type"] != "cgroup"]
    text = out(rt, "cat /proc/self/mountinfo", edit)
    found = [f for f in (line.split() for line in text.splitlines())
             if f[4] == "/sys/fs/cgroup" or f[4].startswith("/sys/fs/cgroup/")]
    assert found, text
    for f in found:
        assert {"ro", "nosuid", "nodev", "noexec"} <= set(f[5].split(",")), f


def test_recursive_mount_attributes(rt, tmp_path):
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(src / "sub")], check=True)
    try:
        def edit(cfg):
            bind(cfg, src, "/tree", ["rbind", "rro", "rnosuid"])
        text = out(rt, "grep ' /tree' /proc/self/mountinfo", edit)
        lines = text.splitlines()
        assert len(lines) == 2
        for line in lines:
            opts = line.split()[5].split(",")
            assert "ro" in opts and "nosuid" in opts, line
    finally:
        subprocess.run(["umount", "-l", str(src / "sub")])


def test_rootless_spec_runs_as_is(rt, tmp_path):
    b = tmp_path / "rootless"
    b.mkdir()
    rt("spec", "--rootless", "--bundle", b, check=True)
    cfg = json.load(open(b / "config.json"))
    cfg["root"]["path"] = rt.rootfs
    cfg["process"]["args"] = ["id", "-u"]
    json.dump(cfg, open(b / "config.json", "w"))
    p = rt("run", "--bundle", b, rt.new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout == "0\r\n"  # runc's template has a terminal, and the pty says \r\n


def test_namespaced_sysctls(rt):
    # /proc/sys stays in readonlyPaths, as engines have it: the values are set
    # before it becomes read-only, and it is read-only after
    def edit(cfg):
        cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shmmni": "1000"}
        assert "/proc/sys" in cfg["linux"]["readonlyPaths"]
    assert out(rt, "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni; "
               "echo 0 2>/dev/null > /proc/sys/net/ipv4/ip_forward || echo read-only",
               edit) == "1\n1000\nread-only\n"


@pytest.mark.parametrize("key,needle", [
    ("kernel.panic", "not namespaced"),
    ("vm.swappiness", "not namespaced"),
])
def test_sysctls_outside_the_containers_namespaces_are_refused(rt, key, needle):
    def edit(cfg):
        cfg["linux"]["sysctl"] = {key: "1"}
    p = rt.run(["true"], edit)
    assert p.returncode == 1 and needle in p.stderr and key in p.stderr
    rt.assert_nothing_left()


def test_net_sysctl_without_a_network_namespace_is_refused(rt):
    def edit(cfg):
        cfg["linux"]["namespaces"] = [ns for ns in cfg["linux"]["namespaces"]
                                      if ns["type"] != "network"]
        cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    p = rt.run(["true"], edit)
    assert p.returncode == 1 and "network namespace" in p.stderr
    rt.assert_nothing_left()


def test_time_offsets(rt):
    def edit(cfg):
        cfg["linux"]["namespaces"].append({"type": "time"})
        cfg["linux"]["timeOffsets"] = {"boottime": {"secs": 86400 * 365, "nanosecs": 0}}
    text = out(rt, "cut -d. -f1 /proc/uptime", edit)
    host_uptime = float(open("/proc/uptime").read().split()[0])
    assert int(text) >= 86400 * 365 + int(host_uptime) - 5


def test_masked_and_readonly_paths(rt, tmp_path):
    rootfs = tmp_path / "rootfs"
    subprocess.run(["cp", "-a", rt.rootfs, str(rootfs)], check=True)
    (rootfs / "secret").mkdir()
    (rootfs / "secret" / "key").write_text("k")
    (rootfs / "secret" / "inner").mkdir()
    (rootfs / "file").write_text("f")
    (rootfs / "ro").mkdir()
    os.symlink("/file", rootfs / "link")

    def edit(cfg):
        cfg["root"]["path"] = str(rootfs)
        cfg["root"]["readonly"] = False
        cfg["linux"]["maskedPaths"] = ["/secret", "/file", "/secret/inner", "/missing"]
        cfg["linux"]["readonlyPaths"] = ["/ro", "/also-missing"]
    text = out(rt, "ls -A /secret | wc -l; cat /file | wc -c; touch /ro/x 2>&1 || echo ro; "
               "touch /secret/x 2>&1 || echo masked-ro", edit)
    lines = text.splitlines()
    assert lines[0].strip() == "0" and lines[1].strip() == "0"
    assert lines[-2] == "ro" or "Read-only" in text
    assert "masked-ro" in text

    def symlinked(cfg):
        edit(cfg)
        cfg["linux"]["maskedPaths"] = ["/link"]
    p = rt.run(["true"], symlinked)
    assert p.returncode == 1 and "/link is a symlink" in p.stderr
    rt.assert_nothing_left()


def test_devices_in_a_user_namespace_are_bind_mounted(rt):
    def edit(cfg):
        cfg["linux"]["namespaces"].append({"type": "user"})
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 300000, "size": 65536}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 300000, "size": 65536}]
        cfg["linux"]["devices"] = [{"path": "/dev/full", "type": "c", "major": 1, "minor": 7}]
    text = out(rt, "grep ' /dev/null ' /proc/self/mountinfo | wc -l; echo x > /dev/null && "
               "echo null-ok; echo x > /dev/full || echo full-enospc", edit)
    lines = text.splitlines()
    assert lines[0].strip() == "1" and "null-ok" in lines and "full-enospc" in text


def test_ambient_capabilities_for_a_non_root_user(rt):
    def edit(cfg):
        caps = ["CAP_NET_BIND_SERVICE"]
        cfg["process"]["user"] = {"uid": 1000, "gid": 1000}
        cfg["process"]["capabilities"] = {k: caps for k in
                                          ("bounding", "effective", "permitted",
                                           "inheritable", "ambient")}
    text = out(rt, "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status", edit)
    for line in text.splitlines():
        assert line.split()[1] == "0000000000000400", line


def test_idmapped_bind_mount(rt, public_tmp):
    src = public_tmp / "idm"
    src.mkdir()
    (src / "owned-by-root").write_text("x")
    os.chown(src / "owned-by-root", 0, 0)

    def edit(cfg):
        cfg["mounts"].append({"destination": "/idm", "type": "bind", "source": str(src),
                              "options": ["rbind", "idmap"],
                              "uidMappings": [{"containerID": 0, "hostID": 4000, "size": 10}],
                              "gidMappings": [{"containerID": 0, "hostID": 5000, "size": 10}]})
    assert out(rt, "stat -c '%u %g' /idm/owned-by-root", edit) == "4000 5000\n"
    # the host's view is unchanged
    st = os.stat(src / "owned-by-root")
    assert (st.st_uid, st.st_gid) == (0, 0)


def test_idmap_without_a_bind_is_refused(rt):
    def edit(cfg):
        cfg["mounts"].append({"destination": "/x", "type": "tmpfs", "source": "tmpfs",
                              "options": ["idmap"],
                              "uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}],
                              "gidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]})
    p = rt.run(["true"], edit)
    assert p.returncode == 1 and "bind mounts only" in p.stderr
    rt.assert_nothing_left()


def test_oom_score_adj_and_many_rlimits(rt):
    def edit(cfg):
        cfg["process"]["oomScoreAdj"] = 123
        cfg["process"]["rlimits"] = [
            {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
            {"type": "RLIMIT_NPROC", "soft": 500, "hard": 600},
            {"type": "RLIMIT_STACK", "soft": 8388608, "hard": 8388608},
            {"type": "RLIMIT_CPU", "soft": 1000, "hard": 2000},
            {"type": "RLIMIT_MSGQUEUE", "soft": 4096, "hard": 8192},
        ]
    text = out(rt, "cat /proc/self/oom_score_adj; cat /proc/self/limits", edit)
    lines = text.splitlines()
    assert lines[0] == "123"
    limits = {line[:26].strip(): line[26:].split()[:2] for line in lines[2:]}
    assert limits["Max open files"] == ["100", "200"]
    assert limits["Max core file size"] == ["0", "0"]
    assert limits["Max processes"] == ["500", "600"]
    assert limits["Max stack size"] == ["8388608", "8388608"]
    assert limits["Max cpu time"] == ["1000", "2000"]
    assert limits["Max msgqueue size"] == ["4096", "8192"]


def test_unset_oom_score_adj_is_left_alone(rt):
    assert out(rt, "cat /proc/self/oom_score_adj") == open("/proc/self/oom_score_adj").read()


def test_a_capability_the_host_lacks_is_a_warning(rt):
    """runtime-spec v1.3.0: logged as a warning, and the container runs
    (tests/integration/test_capability_warnings.py has the rest)."""
    caps = int(open("/proc/self/status").read().split("CapBnd:\t")[1][:16], 16)
    if caps & (1 << 24):
        pytest.skip("this host has CAP_SYS_RESOURCE")

    def edit(cfg):
        cfg["process"]["capabilities"]["permitted"].append("CAP_SYS_RESOURCE")
    p = rt.run(["true"], edit)
    assert p.returncode == 0 and p.stderr.startswith("warning: ") and "CAP_SYS_RESOURCE" in p.stderr
    assert len(p.stderr.splitlines()) == 1


def test_home_comes_from_the_containers_passwd_when_env_has_none(rt):
    def no_home(cfg):
        cfg["process"]["env"] = [e for e in cfg["process"]["env"] if not e.startswith("HOME=")]
    assert out(rt, "echo $HOME", no_home) == "/root\n"

    def uid_1234(cfg):
        no_home(cfg)
        cfg["process"]["user"] = {"uid": 1234, "gid": 1234}
    assert out(rt, "echo $HOME", uid_1234) == "/\n"  # no passwd entry

    def empty(cfg):
        no_home(cfg)
        cfg["process"]["env"].append("HOME=")  # podman exec --user 1000 gives that
    assert out(rt, "echo $HOME", empty) == "/root\n"

    def given(cfg):
        cfg["process"]["env"].append("HOME=/mine")
    assert out(rt, "echo $HOME", given) == "/mine\n"
