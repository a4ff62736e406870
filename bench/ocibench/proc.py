"""Running one command and reading /proc: what the runner and the sections measure with.

A command's wall time, exit status, output and peak RSS come from one place
(execute), so every section times the same way.
"""
import os
import select
import signal
import subprocess
import tempfile
import threading
import time


class CommandFailed(Exception):
    def __init__(self, runtime, argv, why, rc=None, stdout="", stderr=""):
        super().__init__(why)
        self.runtime, self.argv, self.why = runtime, argv, why
        self.rc, self.stdout, self.stderr = rc, stdout, stderr

    def report(self):
        lines = [f"[{self.runtime}] {self.why}",
                 f"  command: {' '.join(self.argv)}"]
        if self.rc is not None:
            lines.append(f"  exit status: {self.rc}")
        for name, text in (("stdout", self.stdout), ("stderr", self.stderr)):
            text = text.strip()
            if text:
                lines.append(f"  {name}:")
                lines.extend("    " + ln for ln in text.splitlines()[-30:])
        return "\n".join(lines)


class Result:
    __slots__ = ("argv", "wall", "rc", "stdout", "stderr", "maxrss_kb", "timed_out")

    def __init__(self, argv, wall, rc, stdout, stderr, maxrss_kb, timed_out):
        self.argv, self.wall, self.rc = argv, wall, rc
        self.stdout, self.stderr = stdout, stderr
        self.maxrss_kb, self.timed_out = maxrss_kb, timed_out


def _wait_child(p, timeout):
    """Reap Popen child <p> with os.wait4; SIGKILL it after <timeout> seconds.

    Returns (status, rusage, timed_out).  Uses a pidfd so that waiting needs no
    sleeps and a kill can never hit a recycled pid.
    """
    timed_out = False
    if hasattr(os, "pidfd_open"):
        pidfd = os.pidfd_open(p.pid)
        try:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            try:
                if not poller.poll(timeout * 1000):
                    timed_out = True
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            except BaseException:
                # Ctrl-C / SIGTERM while a runtime command runs: give it a chance to
                # finish (it runs in its own session, so it did not get the signal),
                # then kill it, reap it and re-raise.
                if not poller.poll(10000):
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                os.wait4(p.pid, 0)
                p.returncode = -1
                raise
            _, status, ru = os.wait4(p.pid, 0)
        finally:
            os.close(pidfd)
    else:  # pragma: no cover - kernels without pidfd
        flag = []
        timer = threading.Timer(timeout, lambda: (flag.append(1), p.kill()))
        timer.start()
        try:
            _, status, ru = os.wait4(p.pid, 0)
        finally:
            timer.cancel()
        timed_out = bool(flag)
    p.returncode = os.waitstatus_to_exitcode(status)
    return status, ru, timed_out


def execute(argv, tmpdir, timeout, env=None):
    """Run argv; wall time (perf_counter), exit status, output, peak RSS (KiB).

    stdout/stderr go to unlinked temp files, not pipes: a created container's
    init inherits the runtime's stdio (terminal: false), so a pipe would not see
    EOF until the container exits.
    """
    with tempfile.TemporaryFile(dir=tmpdir) as out, tempfile.TemporaryFile(dir=tmpdir) as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                             start_new_session=True, env=env)
        status, ru, timed_out = _wait_child(p, timeout)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        return Result(argv, wall, p.returncode,
                      out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                      ru.ru_maxrss, timed_out)


def parallel(fn, items, workers):
    """Run fn(item) for every item on <workers> threads.

    The threads start first and wait; they are released together, right after
    t0 is taken.  Returns (results, t0).  Every thread is joined before this
    returns, also on Ctrl-C (a runtime command in flight finishes or times out),
    and the first exception of a worker is re-raised afterwards.
    """
    items = list(items)
    results = [None] * len(items)
    errors = []
    lock = threading.Lock()
    go = threading.Event()
    stop = threading.Event()
    todo = iter(enumerate(items))

    def worker():
        go.wait()
        while not stop.is_set():
            with lock:
                try:
                    i, item = next(todo)
                except StopIteration:
                    return
            try:
                results[i] = fn(item)
            except BaseException as e:      # noqa: BLE001 - re-raised in the caller
                errors.append(e)
                stop.set()

    threads = [threading.Thread(target=worker, daemon=True)
               for _ in range(max(1, min(workers, len(items))))]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    go.set()
    try:
        for t in threads:
            t.join()
    except BaseException:
        stop.set()
        for t in threads:
            t.join()
        raise
    if errors:
        raise errors[0]
    return results, t0


def proc_stat(pid):
    """(state letter, starttime) of <pid>, or (None, None)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
        fields = data[data.rindex(")") + 2:].split()
        return fields[0], int(fields[19])
    except (OSError, ValueError, IndexError):
        return None, None


def proc_starttime(pid):
    return proc_stat(pid)[1]


def vmrss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def mounts_under(prefix):
    """Mount points at or below prefix (what a run must not leave behind)."""
    found = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mp = line.split()[4].replace("\\040", " ")
                if mp == prefix or mp.startswith(prefix + "/"):
                    found.append(mp)
    except OSError:
        pass
    return found
