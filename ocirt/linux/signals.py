"""Signal names and numbers as runc's `kill` accepts them.

Uses the C module _signal: the signal module imports enum, which a hot
command cannot afford.
"""
import _signal

from ocirt.errors import UsageError

# What a foreground `run`/`exec` forwards to the container's process, and
# what the init turns into its own exit while it waits for start.
FORWARDED = (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP, _signal.SIGQUIT,
             _signal.SIGUSR1, _signal.SIGUSR2)
# the runtime ignores these, as the python command does (csrc/launcher.c);
# a program it executes gets them back at their defaults
IGNORED = (_signal.SIGPIPE, _signal.SIGXFSZ)

_RTMIN = 34  # glibc's SIGRTMIN as seen by programs (the kernel's 32 and 33 are taken)
_RTMAX = 64


def parse(text, zero=False):
    """'KILL', 'SIGKILL', 'kill', '9', 'RTMIN+2' -> int. Raises UsageError otherwise.
    With zero, '0' too: kill(2)'s null signal, which checks that the process
    exists (`kill ID 0`, runc's liveness probe)."""
    s = text.strip()
    if s.isdigit():
        n = int(s)
        if (0 if zero else 1) <= n <= _RTMAX:
            return n
        raise UsageError(f"invalid signal: {text}")
    name = s.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    for base, value, sign in (("SIGRTMIN", _RTMIN, 1), ("SIGRTMAX", _RTMAX, -1)):
        if name == base:
            return value
        if name.startswith(base) and name[len(base):len(base) + 1] in "+-":
            off = name[len(base) + 1:]
            if off.isdigit() and name[len(base)] == ("+" if sign > 0 else "-"):
                n = value + sign * int(off)
                if _RTMIN <= n <= _RTMAX:
                    return n
            raise UsageError(f"invalid signal: {text}")
    n = getattr(_signal, name, None) if name[3:].isalnum() else None
    if not isinstance(n, int) or n <= 0 or name in ("SIGRTMIN", "SIGRTMAX"):
        raise UsageError(f"invalid signal: {text}")
    return n
