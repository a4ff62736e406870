"""Which cgroup hierarchies the runtime sees: the mount table decides, and a
mount over /sys/fs/cgroup hides the hierarchies under it (no root needed)."""
from ocirt.linux.cgroups import UNIFIED, visible_hierarchies

HOST = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
25 22 0:22 / /sys rw shared:7 - sysfs sysfs rw
26 25 0:23 / /sys/fs/cgroup ro shared:9 - tmpfs tmpfs ro,mode=755
27 26 0:24 / /sys/fs/cgroup/unified rw shared:10 - cgroup2 cgroup2 rw,nsdelegate
28 26 0:25 / /sys/fs/cgroup/systemd rw shared:11 - cgroup cgroup rw,xattr,name=systemd
29 26 0:26 / /sys/fs/cgroup/cpu,cpuacct rw shared:12 - cgroup cgroup rw,cpu,cpuacct
30 26 0:27 / /sys/fs/cgroup/memory rw shared:13 - cgroup cgroup rw,memory
"""


def test_the_mount_table_names_the_hierarchies():
    h = visible_hierarchies(HOST.splitlines())
    assert h == {UNIFIED: "/sys/fs/cgroup/unified", "name=systemd": "/sys/fs/cgroup/systemd",
                 "cpu,cpuacct": "/sys/fs/cgroup/cpu,cpuacct", "memory": "/sys/fs/cgroup/memory"}


def test_a_mount_over_sys_fs_cgroup_hides_what_was_under_it():
    over = HOST + "40 26 0:40 / /sys/fs/cgroup rw shared:20 - cgroup2 cgroup2 rw\n"
    assert visible_hierarchies(over.splitlines()) == {UNIFIED: "/sys/fs/cgroup"}


def test_a_second_mount_of_one_hierarchy_keeps_the_first():
    again = HOST + "41 22 0:27 / /mnt/memory rw - cgroup cgroup rw,memory\n"
    assert visible_hierarchies(again.splitlines())["memory"] == "/sys/fs/cgroup/memory"


def test_a_hierarchy_mounted_over_by_itself_shows_the_top():
    top = HOST + "42 30 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    assert visible_hierarchies(top.splitlines())["memory"] == "/sys/fs/cgroup/memory"


def test_copies_outside_sys_fs_cgroup_do_not_win():
    """/sys/fs/cgroup mounted over by a tmpfs (60) and cpu,cpuacct moved onto
    it: `mount --move` keeps the line's place, before the tmpfs. A container
    without a mount namespace of its own has left a copy in the host's table
    (50). memory was not moved: it is hidden under 60."""
    lines = [ln for ln in HOST.splitlines() if not ln.startswith("29 ")]
    lines.insert(3, "29 60 0:26 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct")
    lines += ["50 22 0:26 / /tmp/b/rootfs/sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct",
              "60 26 0:60 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755"]
    h = visible_hierarchies(lines)
    assert h == {"cpu,cpuacct": "/sys/fs/cgroup/cpu,cpuacct"}, h


def test_a_mount_over_an_ancestor_directory_hides_it():
    """A tmpfs on /sys/fs (a directory of the sysfs mount, 25) hides the
    cgroup tmpfs (26) that sits beside it in 25."""
    over = HOST + "70 25 0:70 / /sys/fs rw - tmpfs tmpfs rw\n"
    assert visible_hierarchies(over.splitlines()) == {}


def test_this_hosts_table_parses():
    with open("/proc/self/mountinfo") as f:
        assert isinstance(visible_hierarchies(f), dict)


def test_a_whole_tree_wins_over_a_sub_cgroup_mount():
    """Only a container's copy (root /ocirt/c1) besides the host's cgroup2,
    both outside /sys/fs/cgroup: the whole tree wins whatever the order."""
    lines = [ln for ln in HOST.splitlines() if not ln.startswith("27 ")]
    lines += ["80 22 0:24 /ocirt/c1 /tmp/b/rootfs/sys/fs/cgroup/unified ro - cgroup2 cgroup2 rw",
              "81 22 0:24 / /run/cg2 rw - cgroup2 cgroup2 rw"]
    assert visible_hierarchies(lines)[UNIFIED] == "/run/cg2"


def test_a_sub_cgroup_copy_elsewhere_is_no_hierarchy():
    lines = [ln for ln in HOST.splitlines() if not ln.startswith("27 ")]
    lines.append("80 22 0:24 /ocirt/c1 /tmp/b/rootfs/sys/fs/cgroup/unified ro - cgroup2 cgroup2 rw")
    assert UNIFIED not in visible_hierarchies(lines)
    # nested in a container without a cgroup namespace: its own cgroup, in place
    lines.append("81 26 0:24 /docker/x /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw")
    assert visible_hierarchies(lines)[UNIFIED] == "/sys/fs/cgroup/unified"
