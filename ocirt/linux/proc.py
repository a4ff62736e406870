"""Facts about processes read from /proc."""
from ocirt import posixos as os  # os without its import cost (see there)


def stat_fields(pid):
    """The fields of /proc/<pid>/stat after the command name, or None if gone.

    Index 0 is the state letter (field 3 of proc(5)); starttime (field 22)
    is index 19.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    return data[data.rindex(b")") + 2:].split()


def start_time(pid):
    fields = stat_fields(pid)
    return None if fields is None else int(fields[19])


def is_alive(pid, starttime):
    """True if <pid> exists, is the process that had <starttime>, and is no zombie."""
    fields = stat_fields(pid)
    if fields is None or int(fields[19]) != starttime:
        return False
    return fields[0] not in (b"Z", b"X")


def wait_gone(pid, timeout=10):
    """Block until <pid> has exited (its pidfd becomes readable), at most timeout s."""
    try:
        pfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        import select
        select.select([pfd], [], [], timeout)
    finally:
        os.close(pfd)
