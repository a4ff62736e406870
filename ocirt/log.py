"""Where warnings and errors go: stderr, and ``--log FILE`` in text or JSON.

runc writes fatal errors both to stderr and to its log file; engines
(containerd's shim, conmon) read the log file's last JSON line for the
message. Successful calls print nothing on stderr.
"""
import sys
import time

from ocirt import posixos  # os without its import cost (see there)

_log_path = None
_log_format = "text"
_debug = False


def configure(path=None, fmt="text", debug=False):
    """--log FILE is created now, empty if nothing is logged (runc opens it
    at startup: engines expect to find it); OSError if it cannot be (runc
    then refuses to run)."""
    global _log_path, _log_format, _debug
    _log_path = path
    _log_format = fmt
    _debug = debug
    if path:
        posixos.close(posixos.open(path, posixos.O_WRONLY | posixos.O_APPEND | posixos.O_CREAT
                                   | posixos.O_CLOEXEC, 0o644))


def _timestamp():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)


def _write_log(level, msg):
    if not _log_path:
        return
    if _log_format == "json":
        from ocirt import jsonio
        line = jsonio.dumps({"level": level, "msg": msg, "time": _timestamp()})
    else:
        quoted = msg.replace("\\", "\\\\").replace('"', '\\"')
        line = f'time="{_timestamp()}" level={level} msg="{quoted}"'
    try:
        fd = posixos.open(_log_path, posixos.O_WRONLY | posixos.O_APPEND | posixos.O_CREAT
                          | posixos.O_CLOEXEC, 0o644)
        try:
            posixos.write(fd, (line + "\n").encode())
        finally:
            posixos.close(fd)
    except OSError:
        pass


_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


# The longest message printed: errors quote the values they reject, and a
# config may hold megabyte strings; the start (the JSON path, the value's
# beginning) and the end (the system's error) are what a reader needs.
MAX_MESSAGE = 4096


def one_line(msg):
    """A message is one line whatever the config put in it: line breaks and
    other control characters coming from paths or values are escaped, and a
    message longer than MAX_MESSAGE is cut in the middle."""
    if len(msg) > MAX_MESSAGE:
        cut = len(msg) - MAX_MESSAGE + 400
        msg = f"{msg[:MAX_MESSAGE - 600]}[... {cut} characters cut ...]{msg[-200:]}"
    if not any(c in _LINE_BREAKS or c < " " for c in msg):
        return msg
    return "".join(ascii(c)[1:-1] if (c in _LINE_BREAKS or c < " ") else c for c in msg)


def error(msg):
    msg = one_line(msg)
    _write_log("error", msg)
    try:
        sys.stderr.write(msg + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def warning(msg):
    msg = one_line(msg)
    _write_log("warning", msg)
    if not _log_path:
        try:
            sys.stderr.write("warning: " + msg + "\n")
        except (OSError, ValueError):
            pass


def info(msg):
    """To the --log file only (and stderr with --debug): successful calls stay quiet."""
    msg = one_line(msg)
    _write_log("info", msg)
    if _debug and not _log_path:
        sys.stderr.write("info: " + msg + "\n")


def debug(msg):
    if _debug:
        _write_log("debug", msg)
        if not _log_path:
            sys.stderr.write("debug: " + msg + "\n")
