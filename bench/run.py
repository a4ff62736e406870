#!/usr/bin/env python3
"""Side-by-side benchmark of two OCI runtimes with runc's CLI (default: ocirt vs runc).

Every operation is measured for both runtimes in the same run, interleaved pair by
pair (the runtime that goes first alternates from pair to pair, so neither one
always runs on a cache the other just warmed).  Each runtime has its own --root
under a temporary directory and its own container ids (prefix ``bench-``).

Stdlib only.  matplotlib is optional (ratio chart as PNG).  Must run as root.
See bench/README.md.
"""

import argparse
import datetime
import json
import os
import platform
import secrets
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MAKE_BUNDLE = os.path.join(REPO, "demo", "make-bundle.sh")

SLEEP_ARGS = ["sleep", "1000"]
TRUE_ARGS = ["/bin/true"]
STOP_POLL_LIMIT = 10.0      # seconds: bound of the "poll state until stopped" loop
STOP_POLL_MAX_CALLS = 500


# ---------------------------------------------------------------------------
# running commands

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


def execute(argv, tmpdir, timeout):
    """Run argv; wall time (perf_counter), exit status, output, peak RSS (KiB).

    stdout/stderr go to unlinked temp files, not pipes: a created container's
    init inherits the runtime's stdio (terminal: false), so a pipe would not see
    EOF until the container exits.
    """
    with tempfile.TemporaryFile(dir=tmpdir) as out, tempfile.TemporaryFile(dir=tmpdir) as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                             start_new_session=True)
        status, ru, timed_out = _wait_child(p, timeout)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        return Result(argv, wall, p.returncode,
                      out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                      ru.ru_maxrss, timed_out)


# ---------------------------------------------------------------------------
# runtimes

def resolve_runtime(spec):
    """Absolute path of a runtime; pyenv shims are resolved to the real script.

    A pyenv shim is a bash script that execs `pyenv exec`, which costs tens of
    milliseconds per call and would be charged to the runtime.
    """
    path = shutil.which(spec) if os.sep not in spec else os.path.abspath(spec)
    if not path or not os.access(path, os.X_OK):
        raise SystemExit(f"run.py: runtime {spec!r} not found or not executable")
    if os.path.basename(os.path.dirname(path)) == "shims" and shutil.which("pyenv"):
        try:
            real = subprocess.run(["pyenv", "which", os.path.basename(path)], check=True,
                                  capture_output=True, text=True).stdout.strip()
            if real and os.access(real, os.X_OK):
                return real, path
        except (OSError, subprocess.CalledProcessError):
            pass
    return path, None


class Runtime:
    def __init__(self, label, path, root, shim=None):
        self.label, self.path, self.root, self.shim = label, path, root, shim
        self.ids = set()        # every id we ever used (cleanup)
        self.inits = []         # (pid, starttime) of container inits seen (leak check)

    def argv(self, *args):
        return [self.path, "--root", self.root, *args]

    def version(self):
        try:
            r = subprocess.run([self.path, "--version"], capture_output=True, text=True,
                               timeout=30)
            return " ".join(r.stdout.split("\n")[0].split())
        except (OSError, subprocess.SubprocessError):
            return "?"


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


# ---------------------------------------------------------------------------
# the benchmark

class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="ocirt-bench-")
        self.token = secrets.token_hex(3)
        self.counter = 0
        path_a, shim_a = resolve_runtime(args.runtime_a)
        path_b, shim_b = resolve_runtime(args.runtime_b)
        la, lb = os.path.basename(path_a), os.path.basename(path_b)
        if la == lb:
            la, lb = la + "-a", lb + "-b"
        self.a = Runtime(la, path_a, os.path.join(self.tmp, "root-a"), shim_a)
        self.b = Runtime(lb, path_b, os.path.join(self.tmp, "root-b"), shim_b)
        for rt in (self.a, self.b):
            os.mkdir(rt.root, 0o700)
        self.failures = []      # CommandFailed
        self.time_rows = []     # (name, {label: [seconds]}, failed_label or None)
        self.mem_rows = []      # (name, {label: [KiB]}, failed_label or None)
        self.leftovers = []
        self.time_bin = shutil.which("time", path="/usr/bin:/bin")  # GNU time
        if self.time_bin and subprocess.run([self.time_bin, "-q", "-f", "%M", "-o", os.devnull,
                                             "true"], capture_output=True).returncode != 0:
            self.time_bin = None    # not GNU time

    # --- helpers -------------------------------------------------------------
    def new_id(self, rt, op):
        self.counter += 1
        cid = f"bench-{rt.label}-{self.token}-{op}-{self.counter}"
        rt.ids.add(cid)
        return cid

    def call(self, rt, *args, expect_rc=0):
        argv = rt.argv(*args)
        r = execute(argv, self.tmp, self.args.timeout)
        if r.timed_out:
            raise CommandFailed(rt.label, argv, f"timed out after {self.args.timeout:g}s "
                                f"(killed)", r.rc, r.stdout, r.stderr)
        if expect_rc is not None and r.rc != expect_rc:
            raise CommandFailed(rt.label, argv, "command failed", r.rc, r.stdout, r.stderr)
        return r

    def state(self, rt, cid, r=None):
        r = r or self.call(rt, "state", cid)
        try:
            return json.loads(r.stdout)
        except ValueError:
            raise CommandFailed(rt.label, r.argv, "state printed no JSON", r.rc, r.stdout,
                                r.stderr)

    def expect_status(self, rt, cid, st, want, r=None):
        if st.get("status") != want:
            raise CommandFailed(rt.label, r.argv if r else rt.argv("state", cid),
                                f"expected status {want!r}, got {st.get('status')!r}",
                                stdout=json.dumps(st))

    def note_init(self, rt, pid):
        if pid:
            rt.inits.append((pid, proc_starttime(pid)))

    def wait_stopped(self, rt, cid):
        """Poll `state` until the container is stopped (bounded)."""
        deadline = time.monotonic() + STOP_POLL_LIMIT
        for _ in range(STOP_POLL_MAX_CALLS):
            st = self.state(rt, cid)
            if st.get("status") == "stopped":
                return
            if time.monotonic() > deadline:
                break
        raise CommandFailed(rt.label, rt.argv("state", cid),
                            f"container not stopped {STOP_POLL_LIMIT:g}s after SIGKILL",
                            stdout=json.dumps(st))

    def force_delete(self, rt, cid):
        try:
            execute(rt.argv("delete", "--force", cid), self.tmp, self.args.timeout)
        except OSError:
            pass

    def pairs(self, n):
        """Yield (first, second) runtime per pair; the order alternates."""
        for i in range(n):
            yield (self.a, self.b) if i % 2 == 0 else (self.b, self.a)

    def bundle(self, name, args):
        d = os.path.join(self.tmp, name)
        # make-bundle.sh writes the default config with `$OCIRT spec`; runc has
        # `spec` too, so fall back to runtime-b if runtime-a cannot.
        for spec_tool in (self.a.path, self.b.path):
            r = subprocess.run(["sh", MAKE_BUNDLE, d, *args], capture_output=True, text=True,
                               env=dict(os.environ, OCIRT=spec_tool))
            if r.returncode == 0:
                break
        else:
            raise SystemExit(f"run.py: {MAKE_BUNDLE} failed:\n{r.stderr}")
        path = os.path.join(d, "config.json")
        with open(path) as f:
            cfg = json.load(f)
        cfg["process"]["terminal"] = False
        cfg["process"]["args"] = args
        with open(path, "w") as f:
            json.dump(cfg, f, indent=2)
        return d

    # --- operations ------------------------------------------------------------
    def op_run(self, rt, bundle, samples):
        cid = self.new_id(rt, "run")
        r = self.call(rt, "run", "--bundle", bundle, cid)
        if os.path.exists(os.path.join(rt.root, cid)):
            raise CommandFailed(rt.label, r.argv, "foreground run left the container behind "
                                f"({os.path.join(rt.root, cid)} exists)", r.rc, r.stdout,
                                r.stderr)
        rt.ids.discard(cid)
        if samples is not None:
            samples["run /bin/true"][rt.label].append(r.wall)

    def op_lifecycle(self, rt, bundle, samples):
        cid = self.new_id(rt, "life")
        rc = self.call(rt, "create", "--bundle", bundle, cid)
        st = self.state(rt, cid)
        self.expect_status(rt, cid, st, "created")
        self.note_init(rt, st.get("pid"))
        rs = self.call(rt, "start", cid)
        rq = self.call(rt, "state", cid)
        self.expect_status(rt, cid, self.state(rt, cid, rq), "running", rq)
        rk = self.call(rt, "kill", cid, "9")
        self.wait_stopped(rt, cid)
        rd = self.call(rt, "delete", cid)
        if os.path.exists(os.path.join(rt.root, cid)):
            raise CommandFailed(rt.label, rd.argv, "delete left the state directory behind")
        rt.ids.discard(cid)
        if samples is not None:
            for name, r in (("create", rc), ("start", rs), ("state (running)", rq),
                            ("kill KILL", rk), ("delete (stopped)", rd)):
                samples[name][rt.label].append(r.wall)

    def op_engine(self, rt, bundle, samples):
        cid = self.new_id(rt, "eng")
        pid_file = os.path.join(self.tmp, f"{cid}.pid")
        total = 0.0
        total += self.call(rt, "create", "--bundle", bundle, "--pid-file", pid_file, cid).wall
        try:
            with open(pid_file) as f:
                self.note_init(rt, int(f.read().strip()))
        except (OSError, ValueError) as e:
            raise CommandFailed(rt.label, rt.argv("create", "--pid-file", pid_file, cid),
                                f"bad --pid-file: {e}")
        total += self.call(rt, "start", cid).wall
        total += self.call(rt, "kill", cid, "15").wall
        rd = self.call(rt, "delete", "--force", cid)
        total += rd.wall
        if os.path.exists(os.path.join(rt.root, cid)):
            raise CommandFailed(rt.label, rd.argv, "delete --force left the state directory "
                                "behind")
        rt.ids.discard(cid)
        os.unlink(pid_file)
        if samples is not None:
            samples["engine lifecycle (create+start+kill TERM+delete -f)"][rt.label].append(total)

    def peak_rss(self, rt, *args):
        """Peak RSS (KiB) of one runtime command.

        ru_maxrss survives exec, so a command forked straight from this Python
        process would report at least this process's RSS. GNU time (a ~1 MiB
        process) forks the runtime and writes the ru_maxrss of its wait4 to a file.
        """
        if not self.time_bin:
            r = self.call(rt, *args)
            return r, None
        out = os.path.join(self.tmp, "rusage")
        argv = [self.time_bin, "-q", "-f", "%M", "-o", out, *rt.argv(*args)]
        r = execute(argv, self.tmp, self.args.timeout)
        if r.timed_out or r.rc != 0:
            raise CommandFailed(rt.label, argv, "timed out" if r.timed_out else
                                "command failed", r.rc, r.stdout, r.stderr)
        with open(out) as f:
            return r, int(f.read().split()[-1])

    def op_memory(self, rt, bundle, samples):
        cid = self.new_id(rt, "mem")
        _, create_kb = self.peak_rss(rt, "create", "--bundle", bundle, cid)
        r, state_kb = self.peak_rss(rt, "state", cid)
        st = self.state(rt, cid, r)
        self.expect_status(rt, cid, st, "created", r)
        pid = st.get("pid")
        self.note_init(rt, pid)
        init_kb = vmrss_kb(pid) if pid else None
        if init_kb is None:
            raise CommandFailed(rt.label, r.argv, f"cannot read VmRSS of the created init "
                                f"(pid {pid})", stdout=r.stdout)
        rd = self.call(rt, "delete", "--force", cid)
        if os.path.exists(os.path.join(rt.root, cid)):
            raise CommandFailed(rt.label, rd.argv, "delete --force left the state directory "
                                "behind")
        rt.ids.discard(cid)
        if samples is not None:
            if create_kb is not None:
                samples["mem:create"][rt.label].append(create_kb)
                samples["mem:state"][rt.label].append(state_kb)
            samples["mem:init"][rt.label].append(init_kb)

    # --- driver ------------------------------------------------------------
    def measure(self, title, func, bundle, time_names, mem_names=()):
        labels = (self.a.label, self.b.label)
        samples = {n: {lb: [] for lb in labels} for n in (*time_names, *mem_names)}
        failed = None
        print(f"# {title}: {self.args.warmup} warm-up + {self.args.runs} pairs",
              file=sys.stderr, flush=True)
        try:
            for rt in (self.a, self.b):
                for _ in range(self.args.warmup):
                    failed = rt.label
                    func(rt, bundle, None)
            for first, second in self.pairs(self.args.runs):
                for rt in (first, second):
                    failed = rt.label
                    func(rt, bundle, samples)
            failed = None
        except CommandFailed as e:
            self.failures.append(e)
            print(e.report(), file=sys.stderr, flush=True)
            self.cleanup_containers()
        for n in time_names:
            self.time_rows.append((n, samples[n], failed))
        for n in mem_names:
            self.mem_rows.append((n, samples[n], failed))

    def run_all(self):
        b_true = self.bundle("bundle-true", TRUE_ARGS)
        b_sleep = self.bundle("bundle-sleep", SLEEP_ARGS)
        self.measure("run /bin/true", self.op_run, b_true, ["run /bin/true"])
        self.measure("lifecycle steps (sleep 1000)", self.op_lifecycle, b_sleep,
                     ["create", "start", "state (running)", "kill KILL", "delete (stopped)"])
        self.measure("engine lifecycle (sleep 1000)", self.op_engine, b_sleep,
                     ["engine lifecycle (create+start+kill TERM+delete -f)"])
        self.measure("memory (sleep 1000)", self.op_memory, b_sleep, [],
                     ["mem:create", "mem:state", "mem:init"])

    # --- cleanup -------------------------------------------------------------
    def cleanup_containers(self):
        for rt in (self.a, self.b):
            ids = set(rt.ids)
            try:
                ids.update(e for e in os.listdir(rt.root) if e.startswith("bench-"))
            except OSError:
                pass
            for cid in sorted(ids):
                self.force_delete(rt, cid)
                if not os.path.exists(os.path.join(rt.root, cid)):
                    rt.ids.discard(cid)

    def mounts_under(self, prefix):
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

    def cgroups_with_token(self):
        found = []
        top = "/sys/fs/cgroup"
        for dirpath, dirnames, _ in os.walk(top):
            if dirpath[len(top):].count("/") >= 4:
                dirnames[:] = []
            for d in dirnames:
                if self.token in d:
                    found.append(os.path.join(dirpath, d))
        return found

    def cleanup(self):
        self.cleanup_containers()
        for rt in (self.a, self.b):
            try:
                rest = os.listdir(rt.root)
            except OSError:
                rest = []
            if rest:
                self.leftovers.append(f"{rt.label}: state left in {rt.root}: {rest}")
            for pid, start in rt.inits:
                st, now = proc_stat(pid)
                # a zombie is dead; reaping it is the job of pid 1 / the subreaper
                if start is not None and now == start and st not in ("Z", "X"):
                    self.leftovers.append(f"{rt.label}: container init {pid} still alive; "
                                          "killing it")
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
        for cg in self.cgroups_with_token():
            self.leftovers.append(f"cgroup left behind: {cg}")
        mounts = self.mounts_under(self.tmp)
        for mp in sorted(mounts, key=len, reverse=True):
            self.leftovers.append(f"mount left behind: {mp}; unmounting")
            subprocess.run(["umount", "-l", mp], capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)
        if os.path.exists(self.tmp):
            self.leftovers.append(f"cannot remove {self.tmp}")


# ---------------------------------------------------------------------------
# report

def fmt(x, scale, digits=1):
    return f"{x * scale:.{digits}f}"


def row(name, data, failed, la, lb, scale):
    a, b = data[la], data[lb]
    cells = [name]
    for lab, xs in ((la, a), (lb, b)):
        if xs:
            med = fmt(statistics.median(xs), scale)
            if failed:  # partial data: say how much
                med += f" (n={len(xs)})"
            cells += [med, f"{fmt(min(xs), scale)}–{fmt(max(xs), scale)}"]
        else:
            cells += ["FAILED" if failed == lab else "—", "—"]
    n = min(len(a), len(b))
    if n and not failed:
        ratios = [x / y for x, y in zip(a, b) if y > 0]
        rmed = statistics.median(a) / statistics.median(b)
        cells += [f"{rmed:.2f}", f"{min(ratios):.2f}–{max(ratios):.2f}"]
    else:
        cells += [f"FAILED ({failed})" if failed else "—", "—"]
    return "| " + " | ".join(cells) + " |", (None if failed or not n else
                                               statistics.median(a) / statistics.median(b))


MEM_NAMES = {
    "mem:create": "create: runtime peak RSS",
    "mem:state": "state: runtime peak RSS",
    "mem:init": "container init RSS while created (VmRSS)",
}


def report(bench, args, started):
    la, lb = bench.a.label, bench.b.label
    out = []
    out.append(f"# ocirt benchmark: {la} vs {lb}")
    out.append("")
    out.append(f"{started:%Y-%m-%d %H:%M:%S %Z} · kernel {platform.release()} · "
               f"{args.runs} runs per operation (+{args.warmup} warm-up), interleaved pairs · "
               f"{os.cpu_count()} CPUs · Python {platform.python_version()}")
    out.append("")
    for rt in (bench.a, bench.b):
        extra = f" (resolved from pyenv shim {rt.shim})" if rt.shim else ""
        out.append(f"- {rt.label}: `{rt.path}`{extra} — {rt.version()}")
    out.append("")
    out.append("Absolute times are noisy (machine, load, caches); the ratios "
               f"{la}/{lb} of the medians are what counts. Ratio range = min–max of the "
               "per-pair ratios.")
    out.append("")
    out.append(f"| operation | {la} median ms | {la} min–max | {lb} median ms | "
               f"{lb} min–max | ratio ({la}/{lb}) | ratio range |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    chart = []
    for name, data, failed in bench.time_rows:
        line, ratio = row(name, data, failed, la, lb, 1000.0)
        out.append(line)
        chart.append((name, ratio))
    out.append("")
    out.append(f"| memory | {la} median MiB | {la} min–max | {lb} median MiB | "
               f"{lb} min–max | ratio ({la}/{lb}) | ratio range |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    for name, data, failed in bench.mem_rows:
        if not bench.time_bin and name != "mem:init":
            out.append(f"| {MEM_NAMES[name]} | n/a: needs GNU time (/usr/bin/time) "
                       "| | | | | |")
            continue
        line, ratio = row(MEM_NAMES.get(name, name), data, failed, la, lb, 1 / 1024)
        out.append(line)
        chart.append((MEM_NAMES.get(name, name), ratio))
    out.append("")
    out.append("Runtime peak RSS is the `ru_maxrss` that `wait4` reports for the runtime "
               "command (it includes helpers the command reaped itself), measured in separate "
               "untimed runs under GNU time: ru_maxrss survives exec, so a command forked "
               "straight from the Python benchmark would report at least the benchmark's own "
               "RSS (the floor under GNU time is ~1 MiB). Init RSS is VmRSS of the pid that "
               "`state` reports, between create and start.")
    out.append("")
    out.append("Each `run /bin/true` is a foreground run that removes the container. "
               "`kill KILL` is followed by untimed `state` polling until stopped, then "
               "`delete`. The engine lifecycle's `sleep` is pid 1 of its pid namespace and "
               "ignores SIGTERM, so `delete --force` does the kill. The runtime that goes "
               "first alternates from pair to pair.")
    if bench.failures:
        out.append("")
        out.append("## Failures")
        out.append("")
        out.append("```")
        for f in bench.failures:
            out.append(f.report())
        out.append("```")
    if bench.leftovers:
        out.append("")
        out.append("## Left behind (cleaned up by run.py)")
        out.append("")
        out.extend(f"- {x}" for x in bench.leftovers)
    return "\n".join(out) + "\n", chart


def write_chart(chart, path, la, lb):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("run.py: matplotlib not installed; skipping the chart", file=sys.stderr)
        return
    items = [(n, r) for n, r in chart if r is not None]
    if not items:
        return
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(items) + 1.2))
    ax.barh([n for n, _ in items][::-1], [r for _, r in items][::-1])
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel(f"ratio {la}/{lb} of medians (1.0 = same)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"run.py: chart written to {path}", file=sys.stderr)


# ---------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=None,
                   help="measured pairs per operation (default 20; 5 with --quick)")
    p.add_argument("--quick", action="store_true", help="5 runs, for CI")
    p.add_argument("--warmup", type=int, default=1,
                   help="untimed iterations per runtime before measuring (default 1)")
    p.add_argument("--runtime-a", default="ocirt", help="default: ocirt on PATH")
    p.add_argument("--runtime-b", default="/usr/sbin/runc", help="default: /usr/sbin/runc")
    p.add_argument("--output", default=os.path.join(HERE, "RESULTS.md"),
                   help="Markdown output (default bench/RESULTS.md)")
    p.add_argument("--chart", default=None,
                   help="PNG chart path (default: OUTPUT with .png; needs matplotlib)")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds before a single runtime command is killed (default 30)")
    a = p.parse_args(argv)
    if a.runs is None:
        a.runs = 5 if a.quick else 20
    if a.runs < 1 or a.warmup < 0:
        p.error("--runs must be >= 1 and --warmup >= 0")
    if a.chart is None:
        a.chart = os.path.splitext(a.output)[0] + ".png"
    return a


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv=None):
    args = parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("run.py: must run as root")
    if not os.path.exists(MAKE_BUNDLE):
        raise SystemExit(f"run.py: {MAKE_BUNDLE} missing")
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    started = datetime.datetime.now().astimezone()
    bench = Bench(args)
    interrupted = False
    try:
        bench.run_all()
    except KeyboardInterrupt:
        interrupted = True
        print("\nrun.py: interrupted; cleaning up", file=sys.stderr)
    finally:
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        bench.cleanup()
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_DFL)
    if interrupted:
        for x in bench.leftovers:
            print(f"run.py: {x}", file=sys.stderr)
        return 130
    text, chart = report(bench, args, started)
    sys.stdout.write(text)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        f.write(text)
    write_chart(chart, args.chart, bench.a.label, bench.b.label)
    if bench.failures:
        print(f"\nrun.py: {len(bench.failures)} operation(s) failed:", file=sys.stderr)
        for f in bench.failures:
            print(f.report(), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
