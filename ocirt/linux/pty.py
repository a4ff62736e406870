"""Pseudo-terminals from the devpts instance a process sees at /dev/ptmx.

A container's terminal must come from the container's own devpts (mounted
with newinstance at /dev/pts, /dev/ptmx -> pts/ptmx), so it is allocated by
the container's init (or exec's process) after it has entered the
container's mount namespace, never by the runtime on the host.
"""
import fcntl
import struct

from ocirt import posixos  # os without its import cost (see there)

TIOCSPTLCK = 0x40045431   # _IOW('T', 0x31, int): (un)lock the slave
TIOCGPTN = 0x80045430     # _IOR('T', 0x30, unsigned int): pts number
TIOCGPTPEER = 0x5441      # _IO('T', 0x41): open the slave from the master
TIOCSCTTY = 0x540E
TIOCSWINSZ = 0x5414
TIOCGWINSZ = 0x5413


def open_pty(ptmx="/dev/ptmx"):
    """(master fd, slave fd, slave path). Both close-on-exec."""
    master = posixos.open(ptmx, posixos.O_RDWR | posixos.O_NOCTTY | posixos.O_CLOEXEC)
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        n = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0]
        # TIOCGPTPEER opens the slave through the master's own devpts: no
        # path lookup that a container could redirect
        slave = fcntl.ioctl(master, TIOCGPTPEER, posixos.O_RDWR | posixos.O_NOCTTY
                            | posixos.O_CLOEXEC)
    except BaseException:
        posixos.close(master)
        raise
    return master, slave, f"/dev/pts/{n}"


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def get_size(fd):
    rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, TIOCGWINSZ, b"\0" * 8))
    return rows, cols


def become_stdio(slave):
    """Make the slave this process's controlling terminal and stdio (the
    process must be a session leader)."""
    fcntl.ioctl(slave, TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        posixos.dup2(slave, fd)  # dup2 clears close-on-exec on the copies
    if slave > 2:
        posixos.close(slave)
