"""Signal names and numbers as runc's `kill` accepts them."""
import signal

from ocirt.errors import UsageError


def parse(text):
    """'KILL', 'SIGKILL', 'kill', '9' -> 9. Raises UsageError for anything else."""
    s = text.strip()
    if s.isdigit():
        n = int(s)
        if 0 < n < signal.SIGRTMAX + 1:
            return n
        raise UsageError(f"invalid signal: {text}")
    name = s.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    if name.startswith("SIGRTMIN+") or name.startswith("SIGRTMAX-"):
        base, _, off = name[3:].partition("+" if "+" in name else "-")
        if off.isdigit():
            n = signal.SIGRTMIN + int(off) if base == "RTMIN" else signal.SIGRTMAX - int(off)
            if signal.SIGRTMIN <= n <= signal.SIGRTMAX:
                return int(n)
        raise UsageError(f"invalid signal: {text}")
    sig = getattr(signal.Signals, name, None) if name.isidentifier() else None
    if sig is None or name.startswith("SIG_"):
        raise UsageError(f"invalid signal: {text}")
    return int(sig)
