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
    over = HOST + "40 25 0:40 / /sys/fs/cgroup rw shared:20 - cgroup2 cgroup2 rw\n"
    assert visible_hierarchies(over.splitlines()) == {UNIFIED: "/sys/fs/cgroup"}


def test_a_second_mount_of_one_hierarchy_keeps_the_first():
    again = HOST + "41 22 0:27 / /mnt/memory rw - cgroup cgroup rw,memory\n"
    assert visible_hierarchies(again.splitlines())["memory"] == "/sys/fs/cgroup/memory"


def test_a_hierarchy_mounted_over_by_itself_shows_the_top():
    top = HOST + "42 30 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    assert visible_hierarchies(top.splitlines())["memory"] == "/sys/fs/cgroup/memory"
