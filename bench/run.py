#!/usr/bin/env python3
"""Side-by-side benchmark of two OCI runtimes with runc's CLI (default: ocirt vs runc).

Every operation is measured for both runtimes in the same run, interleaved pair by
pair (the runtime that goes first alternates from pair to pair, so neither one
always runs on a cache the other just warmed).  Each runtime has its own --root
under a temporary directory and its own container ids (prefix ``bench-``).

Sections (--only / --skip): ops, exec, memory, scale, podman, floor.

Stdlib only.  matplotlib is optional (ratio chart as PNG; --setup-chart puts it in
a venv of its own under bench/).  gcc builds the floor (bench/floor.c).  Must run
as root.  See bench/README.md.
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

SECTIONS = ("ops", "exec", "memory", "scale", "podman", "floor")
SECTION_TITLES = {
    "ops": "Operations",
    "exec": "exec into a running container",
    "memory": "Memory",
    "scale": "Scale",
    "podman": "The engine view: podman",
    "floor": "The floor: what the kernel costs",
}
CHART_VENV = os.path.join(HERE, ".venv")
PODMAN_IMAGE = "localhost/busybox:latest"
# root lacks CAP_SYS_RESOURCE on the machines this runs on; podman's default
# nofile=1048576 would fail with every runtime (see shared/ENGINES.md)
PODMAN_ULIMITS = ["nofile=20000:20000", "nproc=32768:32768"]

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
# threads

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


# ---------------------------------------------------------------------------
# the benchmark

def now_iso():
    return datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="ocirt-bench-")
        os.chmod(self.tmp, 0o755)
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
        self.failures = []      # CommandFailed, all sections
        self.results = {}       # section -> its data (JSON-able)
        self.cur = None         # the section being measured
        self.leftovers = []
        self.bundles = {}
        self.podman = None      # podman state while its section runs (cleanup)
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

    def listed(self, rt):
        """{id: status} from `list --format json` (untimed checks)."""
        r = self.call(rt, "list", "--format", "json")
        try:
            entries = json.loads(r.stdout) or []    # runc prints null for none
            return {e["id"]: e.get("status") for e in entries}
        except (ValueError, TypeError, KeyError):
            raise CommandFailed(rt.label, r.argv, "list --format json printed no list of "
                                "containers", r.rc, r.stdout, r.stderr)

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
        if name in self.bundles:
            return self.bundles[name]
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
        self.bundles[name] = d
        return d

    def b_true(self):
        return self.bundle("bundle-true", TRUE_ARGS)

    def b_sleep(self):
        return self.bundle("bundle-sleep", SLEEP_ARGS)

    def fail(self, e):
        self.failures.append(e)
        if self.cur is not None:
            self.cur["failures"].append(e.report())
        print(e.report(), file=sys.stderr, flush=True)

    def labels(self):
        return (self.a.label, self.b.label)

    def empty(self):
        return {lb: [] for lb in self.labels()}

    def add_row(self, name, unit, data, failed):
        self.cur["rows"].append({"name": name, "unit": unit, "data": data, "failed": failed})

    # --- operations ------------------------------------------------------------
    def op_run(self, rt, bundle, samples, name="run /bin/true"):
        cid = self.new_id(rt, "run")
        r = self.call(rt, "run", "--bundle", bundle, cid)
        if os.path.exists(os.path.join(rt.root, cid)):
            raise CommandFailed(rt.label, r.argv, "foreground run left the container behind "
                                f"({os.path.join(rt.root, cid)} exists)", r.rc, r.stdout,
                                r.stderr)
        rt.ids.discard(cid)
        if samples is not None:
            samples[name][rt.label].append(r.wall)

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

    def op_exec(self, rt, cid, samples):
        r = self.call(rt, "exec", cid, *TRUE_ARGS)
        if samples is not None:
            samples[EXEC_ROW][rt.label].append(r.wall)

    # --- driver ------------------------------------------------------------
    def measure(self, title, func, bundle, time_names, mem_names=()):
        """Warm-up, then --runs interleaved pairs of func(rt, bundle, samples)."""
        samples = {n: self.empty() for n in (*time_names, *mem_names)}
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
            self.fail(e)
            self.cleanup_containers()
        for n in time_names:
            self.add_row(n, "s", samples[n], failed)
        for n in mem_names:
            self.add_row(n, "KiB", samples[n], failed)

    def run_sections(self, names):
        for name in names:
            self.cur = {"started": now_iso(), "runs": self.args.runs,
                        "warmup": self.args.warmup, "rows": [], "failures": []}
            self.results[name] = self.cur
            print(f"## section {name}", file=sys.stderr, flush=True)
            getattr(self, "section_" + name)()
            self.cur = None

    # --- sections ------------------------------------------------------------
    def section_ops(self):
        b_true, b_sleep = self.b_true(), self.b_sleep()
        self.measure("run /bin/true", self.op_run, b_true, ["run /bin/true"])
        self.measure("lifecycle steps (sleep 1000)", self.op_lifecycle, b_sleep,
                     ["create", "start", "state (running)", "kill KILL", "delete (stopped)"])
        self.measure("engine lifecycle (sleep 1000)", self.op_engine, b_sleep,
                     ["engine lifecycle (create+start+kill TERM+delete -f)"])

    def section_memory(self):
        self.cur["gnu_time"] = bool(self.time_bin)
        self.measure("memory (sleep 1000)", self.op_memory, self.b_sleep(), [],
                     ["mem:create", "mem:state", "mem:init"])

    def section_exec(self):
        """exec /bin/true into one running `sleep 1000` container per runtime."""
        bundle = self.b_sleep()
        target = {}
        try:
            for rt in (self.a, self.b):
                cid = self.new_id(rt, "exec")
                self.call(rt, "create", "--bundle", bundle, cid)
                self.call(rt, "start", cid)
                st = self.state(rt, cid)
                self.expect_status(rt, cid, st, "running")
                self.note_init(rt, st.get("pid"))
                target[rt.label] = cid
        except CommandFailed as e:
            self.fail(e)
            self.add_row(EXEC_ROW, "s", self.empty(), e.runtime)
        else:
            self.measure("exec /bin/true", lambda rt, _, s: self.op_exec(rt, target[rt.label], s),
                         None, [EXEC_ROW])
        finally:
            for rt in (self.a, self.b):
                if rt.label in target:
                    self.force_delete(rt, target[rt.label])
                    if not os.path.exists(os.path.join(rt.root, target[rt.label])):
                        rt.ids.discard(target[rt.label])

    # scale: N containers at once, and list/state against the size of the root
    def section_scale(self):
        self.cur.update(concurrent=self.args.concurrent, rounds=self.args.scale_rounds,
                        scale_n=self.args.scale_n, workers=self.args.scale_workers)
        self.scale_concurrent()
        self.scale_listing()

    def concurrent_round(self, rt, bundle, n):
        """n containers: all created+started at once, then all deleted at once."""
        ids = [self.new_id(rt, "conc") for _ in range(n)]

        def up(cid):
            self.call(rt, "create", "--bundle", bundle, cid)
            self.call(rt, "start", cid)
            return time.perf_counter()

        def down(cid):
            self.call(rt, "delete", "--force", cid)
            return time.perf_counter()

        try:
            ends, t0 = parallel(up, ids, n)
            t_up = max(ends) - t0
            status = self.listed(rt)
            wrong = {c: status.get(c) for c in ids if status.get(c) != "running"}
            if wrong:
                raise CommandFailed(rt.label, rt.argv("list", "--format", "json"),
                                    f"{len(wrong)} of {n} containers not running after their "
                                    f"start returned: {sorted(wrong.items())[:5]}")
            ends, t0 = parallel(down, ids, n)
            t_down = max(ends) - t0
            left = [c for c in ids if os.path.exists(os.path.join(rt.root, c))]
            if left:
                raise CommandFailed(rt.label, rt.argv("delete", "--force", left[0]),
                                    f"delete --force left {len(left)} state directories")
        except CommandFailed:
            self.delete_many(rt, ids)
            raise
        rt.ids.difference_update(ids)
        return t_up, t_down

    def scale_concurrent(self):
        n = self.args.concurrent
        names = [f"{n} × create+start concurrently (until every start returned)",
                 f"{n} × delete --force concurrently (running containers)"]
        samples = {nm: self.empty() for nm in names}
        bundle = self.b_sleep()
        failed = None
        print(f"# {n} concurrent containers: {self.args.scale_rounds} rounds per runtime",
              file=sys.stderr, flush=True)
        try:
            for first, second in self.pairs(self.args.scale_rounds):
                for rt in (first, second):
                    failed = rt.label
                    t_up, t_down = self.concurrent_round(rt, bundle, n)
                    samples[names[0]][rt.label].append(t_up)
                    samples[names[1]][rt.label].append(t_down)
            failed = None
        except CommandFailed as e:
            self.fail(e)
            self.cleanup_containers()
        for nm in names:
            self.add_row(nm, "s", samples[nm], failed)

    def populate(self, rt, bundle, ids):
        """`run -d` /bin/true for every id, a few at a time; they exit at once."""
        def one(cid):
            self.call(rt, "run", "--detach", "--bundle", bundle, cid)
        parallel(one, ids, self.args.scale_workers)

    def wait_all_stopped(self, rt, ids):
        deadline = time.monotonic() + 60
        while True:
            status = self.listed(rt)
            wrong = {c: status.get(c) for c in ids if status.get(c) != "stopped"}
            if not wrong:
                return
            if time.monotonic() > deadline:
                raise CommandFailed(rt.label, rt.argv("list", "--format", "json"),
                                    f"{len(wrong)} of {len(ids)} /bin/true containers not "
                                    f"listed as stopped after 60 s: {sorted(wrong.items())[:5]}")
            time.sleep(0.2)

    def delete_many(self, rt, ids):
        """delete --force every id, a few at a time (setup and cleanup, untimed)."""
        def one(cid):
            self.force_delete(rt, cid)
        try:
            parallel(one, ids, self.args.scale_workers)
        finally:
            for cid in ids:
                if not os.path.exists(os.path.join(rt.root, cid)):
                    rt.ids.discard(cid)

    def scale_listing(self):
        bundle = self.b_true()
        made = {lb: [] for lb in self.labels()}
        entries = self.cur["listing"] = []
        failed = None
        try:
            for n in sorted(self.args.scale_n):
                for rt in (self.a, self.b):
                    failed = rt.label
                    new = [self.new_id(rt, "n") for _ in range(n - len(made[rt.label]))]
                    made[rt.label].extend(new)
                    t0 = time.perf_counter()
                    print(f"# {rt.label}: {len(new)} more stopped containers (run -d /bin/true) "
                          f"for N={n}", file=sys.stderr, flush=True)
                    self.populate(rt, bundle, new)
                    self.wait_all_stopped(rt, made[rt.label])
                    print(f"#   took {time.perf_counter() - t0:.1f} s", file=sys.stderr,
                          flush=True)
                entry = {"n": n, "list": self.empty(), "state": self.empty()}
                entries.append(entry)
                probe = {lb: ids[0] for lb, ids in made.items()}
                print(f"# list, state with N={n}: {self.args.warmup} warm-up + "
                      f"{self.args.runs} pairs", file=sys.stderr, flush=True)
                for i in range(self.args.warmup + self.args.runs):
                    for rt in ((self.a, self.b) if i % 2 == 0 else (self.b, self.a)):
                        failed = rt.label
                        r = self.call(rt, "list")
                        listed = sum(1 for ln in r.stdout.splitlines()
                                     if ln.startswith(f"bench-{rt.label}-{self.token}-n-"))
                        if listed != n:
                            raise CommandFailed(rt.label, r.argv, f"list showed {listed} of "
                                                f"{n} containers", r.rc, r.stdout[-2000:],
                                                r.stderr)
                        rs = self.call(rt, "state", probe[rt.label])
                        self.expect_status(rt, probe[rt.label], self.state(rt, None, rs),
                                           "stopped", rs)
                        if i >= self.args.warmup:
                            entry["list"][rt.label].append(r.wall)
                            entry["state"][rt.label].append(rs.wall)
            failed = None
        except CommandFailed as e:
            self.fail(e)
        finally:
            self.cur["listing_failed"] = failed
            for rt in (self.a, self.b):
                if made[rt.label]:
                    print(f"# {rt.label}: deleting {len(made[rt.label])} containers",
                          file=sys.stderr, flush=True)
                    self.delete_many(rt, made[rt.label])

    # podman -----------------------------------------------------------------
    def section_podman(self):
        podman = shutil.which("podman")
        self.cur["command"] = (f"podman run --rm --network NET --cgroup-parent CG "
                               f"{PODMAN_IMAGE} true")
        if not podman:
            self.cur["status"] = "podman not installed"
            print("# podman not installed; skipping", file=sys.stderr)
            return
        if not any(os.access(p, os.X_OK) for p in CONMON_PATHS) and not shutil.which("conmon"):
            self.cur["status"] = "conmon not installed"
            return
        conmon = shutil.which("conmon") or next(
            (p for p in CONMON_PATHS if os.access(p, os.X_OK)), None)
        self.cur["versions"] = ", ".join(
            v for v in (tool_version([podman, "--version"]),
                        tool_version([conmon, "--version"]) if conmon else "") if v)
        try:
            self.podman_setup(podman)
        except CommandFailed as e:
            self.fail(e)
            self.cur["status"] = "podman setup failed (see Failures)"
            self.podman_teardown()
            return
        self.cur["status"] = "ok"
        self.cur["wrapper"] = self.podman["wrapper"]
        try:
            self.measure("podman run --rm busybox true", self.op_podman, None, [PODMAN_ROW])
        finally:
            self.podman_teardown()

    def podman_cmd(self, rt, *args, check=True):
        pm = self.podman
        argv = [pm["bin"], *args]
        r = execute(argv, self.tmp, max(self.args.timeout, 60), env=pm["env"][rt.label])
        if check and (r.timed_out or r.rc != 0):
            raise CommandFailed(f"podman with {rt.label}", argv,
                                "timed out" if r.timed_out else "command failed", r.rc,
                                r.stdout, r.stderr)
        return r

    def podman_wrapper(self, rt, root):
        """The runtime podman calls: rt with --root <root> (see bench/rootwrap.c)."""
        out = os.path.join(self.podman["base"], f"runtime-{rt.label}")
        gcc = shutil.which("gcc") or shutil.which("cc")
        if gcc:
            r = subprocess.run([gcc, "-O2", f'-DREAL_RUNTIME="{rt.path}"', f'-DROOT="{root}"',
                                "-o", out, os.path.join(HERE, "rootwrap.c")],
                               capture_output=True, text=True)
            if r.returncode == 0:
                return out, "C"
        with open(out, "w") as f:
            f.write(f"#!/bin/sh\nexec '{rt.path}' --root '{root}' \"$@\"\n")
        os.chmod(out, 0o755)
        return out, "sh"

    def podman_setup(self, podman):
        base = os.path.join(self.tmp, "podman")
        self.podman = pm = {"bin": podman, "base": base, "env": {}, "roots": {},
                            "net": f"ocirt-bench-{self.token}",
                            "cgroup": f"/ocirt-bench-{self.token}-podman", "net_made": False}
        for sub in ("tmp", "volumes", "networks", "run", "graph"):
            os.makedirs(os.path.join(base, sub))
        storage = os.path.join(base, "storage.conf")
        with open(storage, "w") as f:
            f.write(f'[storage]\ndriver = "overlay"\nrunroot = "{base}/run"\n'
                    f'graphroot = "{base}/graph"\n')
        kinds = set()
        for rt in (self.a, self.b):
            root = os.path.join(base, f"root-{rt.label}")
            os.mkdir(root, 0o700)
            pm["roots"][rt.label] = root
            wrapper, kind = self.podman_wrapper(rt, root)
            kinds.add(kind)
            conf = os.path.join(base, f"containers-{rt.label}.conf")
            # Same storage, network config and tmp dir for both; only the runtime
            # differs. The runtime is named runc: conmon passes --log-format=json
            # --log FILE only to runtimes it knows by name. No static_dir: conmon's
            # exit command would not find the containers (run --rm then waits 20 s).
            with open(conf, "w") as f:
                f.write(f"""[containers]
default_ulimits = {json.dumps(PODMAN_ULIMITS)}

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{base}/events.log"
runtime = "runc"
tmp_dir = "{base}/tmp"
volume_path = "{base}/volumes"

[engine.runtimes]
runc = ["{wrapper}"]

[network]
network_backend = "netavark"
network_config_dir = "{base}/networks"
""")
            pm["env"][rt.label] = dict(os.environ, CONTAINERS_CONF=conf,
                                       CONTAINERS_STORAGE_CONF=storage)
        pm["wrapper"] = "/".join(sorted(kinds))
        # the image: the same busybox rootfs as the bundles
        rootfs = os.path.join(self.b_true(), "rootfs")
        tar_path = os.path.join(self.tmp, "busybox.tar")
        subprocess.run(["tar", "-C", rootfs, "-cf", tar_path, "."], check=True)
        self.podman_cmd(self.a, "import", "--quiet", tar_path, PODMAN_IMAGE)
        os.unlink(tar_path)
        # a bridge network of our own, on a subnet nobody routes here
        routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
        third = int(self.token[:2], 16)
        for k in range(256):
            subnet = f"10.{231 + (k // 256)}.{(third + k) % 256}"
            if subnet + "." not in routes:
                break
        self.podman_cmd(self.a, "network", "create", "--subnet", f"{subnet}.0/24", pm["net"])
        pm["net_made"] = True
        with open(os.path.join(base, "networks", pm["net"] + ".json")) as f:
            pm["bridge"] = json.load(f).get("network_interface")

    def op_podman(self, rt, _, samples):
        pm = self.podman
        r = self.podman_cmd(rt, "run", "--rm", "--network", pm["net"],
                            "--cgroup-parent", pm["cgroup"], PODMAN_IMAGE, "true")
        left = os.listdir(pm["roots"][rt.label])
        if left:
            raise CommandFailed(rt.label, r.argv, f"podman run --rm left runtime state "
                                f"behind: {left}", r.rc, r.stdout, r.stderr)
        if samples is not None:
            samples[PODMAN_ROW][rt.label].append(r.wall)

    def podman_teardown(self):
        pm, self.podman = self.podman, None
        if not pm:
            return
        self.podman = pm            # podman_cmd needs it
        try:
            if pm["env"]:
                for rt in (self.a, self.b):
                    if rt.label in pm["env"]:
                        self.podman_cmd(rt, "rm", "--all", "--force", "--time", "0",
                                        check=False)
                first = self.a if self.a.label in pm["env"] else self.b
                if pm["net_made"]:
                    self.podman_cmd(first, "network", "rm", "--force", pm["net"], check=False)
                self.podman_cmd(first, "system", "reset", "--force", check=False)
            for rt in (self.a, self.b):
                root = pm["roots"].get(rt.label)
                for cid in (os.listdir(root) if root and os.path.isdir(root) else []):
                    self.leftovers.append(f"podman with {rt.label}: runtime state {cid}; "
                                          "deleting it")
                    execute([rt.path, "--root", root, "delete", "--force", cid], self.tmp,
                            self.args.timeout)
            for d in remove_cgroup(pm["cgroup"]):
                self.leftovers.append(f"podman: cannot remove cgroup {d}")
            bridge = pm.get("bridge")
            if bridge and os.path.exists(f"/sys/class/net/{bridge}"):
                # only ours if no other podman uses a bridge of that name right now
                busy = os.listdir(f"/sys/class/net/{bridge}/brif") if os.path.isdir(
                    f"/sys/class/net/{bridge}/brif") else []
                if not busy:
                    self.leftovers.append(f"podman: bridge {bridge} left behind; deleting it")
                    subprocess.run(["ip", "link", "del", bridge], capture_output=True)
            for mp in sorted(self.mounts_under(pm["base"]), key=len, reverse=True):
                subprocess.run(["umount", "-l", mp], capture_output=True)
            shutil.rmtree(pm["base"], ignore_errors=True)
        finally:
            self.podman = None

    # the floor --------------------------------------------------------------
    def section_floor(self):
        bundle = self.b_true()
        with open(os.path.join(bundle, "config.json")) as f:
            cfg = json.load(f)
        namespaces = [ns["type"] for ns in cfg.get("linux", {}).get("namespaces", [])
                      if not ns.get("path")]
        self.cur["namespaces"] = namespaces
        gcc = shutil.which("gcc") or shutil.which("cc")
        if not gcc:
            self.cur["status"] = "gcc not installed"
            return
        floor = os.path.join(self.tmp, "floor")
        r = subprocess.run([gcc, "-O2", "-o", floor, os.path.join(HERE, "floor.c")],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.fail(CommandFailed("floor", [gcc, "floor.c"], "bench/floor.c does not build",
                                    r.returncode, r.stdout, r.stderr))
            self.cur["status"] = "floor.c does not build"
            return
        self.cur["status"] = "ok"
        rootfs = os.path.join(bundle, "rootfs")
        floor_argv = [floor, rootfs, *namespaces]
        spawn_argv = ["/bin/true"]
        samples = {"run /bin/true": self.empty()}
        samples["run /bin/true"]["floor"] = []
        samples["run /bin/true"]["spawn"] = []
        data = samples["run /bin/true"]

        def plain(label, argv, keep):
            r = execute(argv, self.tmp, self.args.timeout)
            if r.timed_out or r.rc != 0:
                raise CommandFailed(label, argv, "timed out" if r.timed_out else
                                    "command failed", r.rc, r.stdout, r.stderr)
            if keep:
                data[label].append(r.wall)

        steps = [
            (self.a.label, lambda keep: self.op_run(self.a, bundle, samples if keep else None)),
            (self.b.label, lambda keep: self.op_run(self.b, bundle, samples if keep else None)),
            ("floor", lambda keep: plain("floor", floor_argv, keep)),
            ("spawn", lambda keep: plain("spawn", spawn_argv, keep)),
        ]
        failed = None
        print(f"# floor: {self.args.warmup} warm-up + {self.args.runs} rounds of "
              f"{', '.join(lb for lb, _ in steps)}", file=sys.stderr, flush=True)
        try:
            for label, step in steps:
                for _ in range(self.args.warmup):
                    failed = label
                    step(False)
            for i in range(self.args.runs):
                k = i % len(steps)          # rotate who goes first
                for label, step in steps[k:] + steps[:k]:
                    failed = label
                    step(True)
            failed = None
        except CommandFailed as e:
            self.fail(e)
            self.cleanup_containers()
        self.cur["data"] = data
        self.cur["failed"] = failed

    # --- cleanup -------------------------------------------------------------
    def cleanup_containers(self):
        for rt in (self.a, self.b):
            ids = set(rt.ids)
            try:
                ids.update(e for e in os.listdir(rt.root) if e.startswith("bench-"))
            except OSError:
                pass
            try:
                parallel(lambda cid, rt=rt: self.force_delete(rt, cid), sorted(ids), 8)
            finally:
                for cid in ids:
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
        if self.podman:
            self.podman_teardown()
        self.cleanup_containers()
        for rt in (self.a, self.b):
            try:
                rest = os.listdir(rt.root)
            except OSError:
                rest = []
            if rest:
                self.leftovers.append(f"{rt.label}: state left in {rt.root}: {rest[:10]}"
                                      + (f" (+{len(rest) - 10})" if len(rest) > 10 else ""))
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


CONMON_PATHS = ("/usr/bin/conmon", "/usr/libexec/podman/conmon", "/usr/local/bin/conmon",
                "/usr/local/libexec/podman/conmon")
EXEC_ROW = "exec /bin/true (into a running container)"
PODMAN_ROW = "podman run --rm busybox true"


def tool_version(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        return " ".join(r.stdout.split("\n")[0].split())
    except (OSError, subprocess.SubprocessError):
        return "?"


def remove_cgroup(rel):
    """rmdir <rel> (and what is under it) in every hierarchy; waits up to 10 s for
    processes to leave (conmon exits just after the container). Returns what is left."""
    tops = []
    for h in os.listdir("/sys/fs/cgroup"):
        d = os.path.join("/sys/fs/cgroup", h, rel.lstrip("/"))
        if os.path.isdir(d):
            tops.append(d)
    deadline = time.monotonic() + 10
    while True:
        left = []
        for top in tops:
            for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
                try:
                    os.rmdir(dirpath)
                except FileNotFoundError:
                    pass
                except OSError:
                    left.append(dirpath)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


# ---------------------------------------------------------------------------
# report

def fmt(x, scale, digits=1):
    return f"{x * scale:.{digits}f}"


def med(xs):
    return statistics.median(xs) if xs else None


def ratio_of(a, b):
    ma, mb = med(a), med(b)
    return ma / mb if ma is not None and mb else None


def row(name, data, failed, la, lb, scale):
    a, b = data.get(la, []), data.get(lb, [])
    cells = [name]
    for lab, xs in ((la, a), (lb, b)):
        if xs:
            m = fmt(statistics.median(xs), scale)
            if failed:  # partial data: say how much
                m += f" (n={len(xs)})"
            cells += [m, f"{fmt(min(xs), scale)}–{fmt(max(xs), scale)}"]
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


def pairs_table(rows, la, lb, unit, out, chart, section, first_col="operation"):
    if unit == "s":
        head, scale = "ms", 1000.0
    else:
        head, scale = "MiB", 1 / 1024
    out.append(f"| {first_col} | {la} median {head} | {la} min–max | {lb} median {head} | "
               f"{lb} min–max | ratio ({la}/{lb}) | ratio range |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        name = MEM_NAMES.get(r["name"], r["name"])
        line, ratio = row(name, r["data"], r["failed"], la, lb, scale)
        out.append(line)
        chart.append((section, name, ratio))


def section_heading(name, sec, out, what="pairs"):
    out.append(f"## {SECTION_TITLES[name]}")
    out.append("")
    out.append(f"*Section `{name}`, measured {sec['started']}: {sec['runs']} {what} "
               f"(+{sec['warmup']} warm-up).*")
    out.append("")


def render_ops(sec, la, lb, out, chart):
    section_heading("ops", sec, out)
    pairs_table(sec["rows"], la, lb, "s", out, chart, "ops")
    out.append("")
    out.append("Each `run /bin/true` is a foreground run that removes the container. "
               "`create` … `delete` are the single calls of one `sleep 1000` lifecycle; "
               "`kill KILL` is followed by untimed `state` polling until stopped, then "
               "`delete`. The engine lifecycle's `sleep` is pid 1 of its pid namespace and "
               "ignores SIGTERM, so `delete --force` does the kill.")


def render_exec(sec, la, lb, out, chart):
    section_heading("exec", sec, out)
    pairs_table(sec["rows"], la, lb, "s", out, chart, "exec")
    out.append("")
    out.append("Each runtime runs one `sleep 1000` container (created and started untimed); "
               "the timed call is a foreground `exec ID /bin/true`, which returns when "
               "/bin/true has exited in the container.")


def render_memory(sec, la, lb, out, chart):
    section_heading("memory", sec, out)
    rows = sec["rows"]
    if not sec.get("gnu_time", True):
        rows = [r for r in rows if r["name"] == "mem:init"]
    pairs_table(rows, la, lb, "KiB", out, chart, "memory", first_col="memory")
    if not sec.get("gnu_time", True):
        out.append("| create / state: runtime peak RSS | n/a: needs GNU time (/usr/bin/time) "
                   "| | | | | |")
    out.append("")
    out.append("Runtime peak RSS is the `ru_maxrss` that `wait4` reports for the runtime "
               "command (it includes helpers the command reaped itself), measured in separate "
               "untimed runs under GNU time: ru_maxrss survives exec, so a command forked "
               "straight from the Python benchmark would report at least the benchmark's own "
               "RSS (the floor under GNU time is ~1 MiB). Init RSS is VmRSS of the pid that "
               "`state` reports, between create and start.")


def render_scale(sec, la, lb, out, chart):
    section_heading("scale", sec, out, what="pairs per N")
    n = sec.get("concurrent", 50)
    out.append(f"### {n} containers at once")
    out.append("")
    out.append(f"*{sec.get('rounds')} round(s) per runtime, alternating which runtime goes "
               "first.*")
    out.append("")
    pairs_table(sec["rows"], la, lb, "s", out, chart, "scale")
    out.append("")
    out.append(f"A round starts {n} threads, each running `create` then `start` of its own "
               f"`sleep 1000` container, and releases them together: the time is until the "
               f"last `start` returned. An untimed `list --format json` then checks that all "
               f"{n} are running. The second row is {n} `delete --force` calls at once, until "
               "the last one returned.")
    out.append("")
    out.append("### `list` and `state` against the number of containers in the root")
    out.append("")
    entries = [e for e in sec.get("listing", []) if e["list"].get(la) or e["list"].get(lb)]
    failed = sec.get("listing_failed")
    if failed:
        out.append(f"**FAILED ({failed})**; see Failures. Sizes measured before that:")
        out.append("")
    if not entries:
        out.append("No data.")
        return
    ms = 1000.0
    out.append(f"| N | {la} list ms | {lb} list ms | list ratio | {la} state ms | "
               f"{lb} state ms | state ratio |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|")
    for e in entries:
        cells = [f"{e['n']:,}"]
        for kind in ("list", "state"):
            a, b = e[kind].get(la, []), e[kind].get(lb, [])
            cells += [fmt(med(a), ms) if a else "—", fmt(med(b), ms) if b else "—"]
            r = ratio_of(a, b)
            cells.append(f"{r:.2f}" if r else "—")
            chart.append(("scale", f"{kind} with N={e['n']:,}", r))
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    if len(entries) >= 2:
        lo, hi = entries[0], entries[-1]
        out.append(f"Growth from N={lo['n']:,} to N={hi['n']:,} (median at N={hi['n']:,} / "
                   f"median at N={lo['n']:,}; per extra container):")
        out.append("")
        out.append("| runtime | list growth | list per extra container | state growth |")
        out.append("|---|---:|---:|---:|")
        for lab in (la, lb):
            la_lo, la_hi = med(lo["list"].get(lab, [])), med(hi["list"].get(lab, []))
            st_lo, st_hi = med(lo["state"].get(lab, [])), med(hi["state"].get(lab, []))
            if None in (la_lo, la_hi, st_lo, st_hi):
                continue
            per = (la_hi - la_lo) / (hi["n"] - lo["n"]) * 1e6
            out.append(f"| {lab} | ×{la_hi / la_lo:.1f} | {per:.0f} µs | "
                       f"×{st_hi / st_lo:.2f} |")
        out.append("")
    out.append("The containers are `run --detach` of `/bin/true` (stopped once it exits), "
               f"created {sec.get('workers')} at a time per runtime, untimed, and added to "
               "as N grows; an untimed `list --format json` checks that all are stopped. "
               "`list` is the default table format (the benchmark checks that it shows N "
               "containers); `state` is of the first container created, the same one at "
               "every N. Both roots hold N containers at the same time; they are deleted "
               "afterwards.")


def render_podman(sec, la, lb, out, chart):
    section_heading("podman", sec, out)
    status = sec.get("status", "?")
    if status != "ok":
        out.append(f"| engine | {la} | {lb} | ratio |")
        out.append("|---|---:|---:|---:|")
        out.append(f"| {PODMAN_ROW} | {status} | {status} | — |")
        out.append("")
        return
    if sec.get("versions"):
        out.append(f"{sec['versions']}.")
        out.append("")
    pairs_table(sec["rows"], la, lb, "s", out, chart, "podman", first_col="engine")
    out.append("")
    out.append("The timed command is `" + sec.get("command", "") + "`: podman with a "
               "containers.conf and storage.conf of the benchmark's own (overlay storage, "
               "cgroupfs, the busybox rootfs imported with `podman import`), one per runtime "
               "and otherwise identical. In each, the runtime is named `runc` (so that "
               "conmon passes it `--log-format=json --log FILE`, as for runc) and points at "
               f"a small {sec.get('wrapper', 'C')} wrapper (`bench/rootwrap.c`) that execs "
               "the runtime with a private `--root`, the same wrapper for both runtimes. "
               "NET is a bridge network of the benchmark's own (podman's default networking, "
               "netavark, on a subnet of its own); CG a cgroup parent of its own. Both "
               "are removed afterwards, with `podman system reset`. "
               "Most of the time is podman, conmon and netavark: the ratio shows what "
               "the runtime changes for a user of the engine.")


def render_floor(sec, la, lb, out, chart):
    section_heading("floor", sec, out, what="rounds")
    status = sec.get("status", "?")
    if status != "ok":
        out.append(f"Floor not measured: {status}.")
        out.append("")
        return
    data, failed = sec.get("data", {}), sec.get("failed")
    if failed:
        out.append(f"**FAILED ({failed})**; see Failures.")
        out.append("")
    fl = med(data.get("floor", []))
    ns = ", ".join(sec.get("namespaces", []))
    names = {
        "floor": f"floor: clone({ns}) + pivot_root + exec /bin/true",
        la: f"{la} run /bin/true",
        lb: f"{lb} run /bin/true",
        "spawn": "fork+exec of the host's /bin/true (no namespaces)",
    }
    out.append("| what | median ms | min–max | × floor | above the floor |")
    out.append("|---|---:|---:|---:|---:|")
    for key in ("floor", la, lb, "spawn"):
        xs = data.get(key, [])
        if not xs:
            out.append(f"| {names[key]} | {'FAILED' if failed == key else '—'} | — | — | — |")
            continue
        m = med(xs)
        times = f"{m / fl:.1f}" if fl else "—"
        above = f"{(m - fl) * 1000:+.1f} ms" if fl else "—"
        out.append(f"| {names[key]} | {fmt(m, 1000)} | {fmt(min(xs), 1000)}–"
                   f"{fmt(max(xs), 1000)} | {times} | {above} |")
        if key in (la, lb) and fl and not failed:
            chart.append(("floor", f"{la if key == la else lb} run /bin/true ÷ floor", m / fl))
    out.append("")
    out.append("`bench/floor.c`, built with gcc by the benchmark, is all a container of "
               "/bin/true needs from the kernel: one clone() with the namespaces of the "
               f"benchmark's config.json ({ns}), a private bind mount of the same busybox "
               "rootfs, pivot_root, exec of its /bin/true, waitpid. No cgroup, no /proc, "
               "/dev or /sys mounts, no capabilities, masked paths or seccomp. Each "
               "round times the floor, both runtimes' foreground `run` of the same bundle "
               "and the bare fork+exec, in an order that rotates from round to round; every "
               "time includes starting the program from the benchmark.")


RENDER = {"ops": render_ops, "exec": render_exec, "memory": render_memory,
          "scale": render_scale, "podman": render_podman, "floor": render_floor}


def find_row(results, section, name):
    for r in results.get(section, {}).get("rows", []):
        if r["name"] == name and not r["failed"]:
            return r
    return None


def targets(results, la, lb):
    """Issue 7's targets: (target, measured, met)."""
    out = []
    for section, name, label, limit in (
            ("ops", "run /bin/true", "`run` ≤ 1.0×", 1.0),
            ("ops", "create", "`create` ≤ 1.0×", 1.0),
            ("ops", "start", "`start` ≤ 2.0×", 2.0),
            ("ops", "state (running)", "`state` ≤ 2.0×", 2.0),
            ("ops", "kill KILL", "`kill` ≤ 2.0×", 2.0),
            ("ops", "delete (stopped)", "`delete` ≤ 2.0×", 2.0),
            ("memory", "mem:init", "init memory between create and start ≤ 2×", 2.0)):
        r = find_row(results, section, name)
        if r:
            ratio = ratio_of(r["data"].get(la, []), r["data"].get(lb, []))
            if ratio:
                out.append((label, f"{ratio:.2f}×", "yes" if ratio <= limit else "**no**"))
    entries = [e for e in results.get("scale", {}).get("listing", [])
               if e["list"].get(la) and e["state"].get(la)]
    big = [e for e in entries if e["n"] >= 1000]
    if big:
        m = med(big[-1]["list"][la])
        out.append((f"`list` with {big[-1]['n']:,} containers < 1 s", f"{m * 1000:.0f} ms",
                    "yes" if m < 1.0 else "**no**"))
    if len(entries) >= 2:
        lo, hi = entries[0], entries[-1]
        g = med(hi["state"][la]) / med(lo["state"][la])
        out.append((f"`state` independent of N (N={hi['n']:,} vs N={lo['n']:,}; "
                    "≤ 1.25× counts as flat)", f"×{g:.2f}", "yes" if g <= 1.25 else "**no**"))
    return out


def report(data, leftovers=()):
    ra, rb = data["runtimes"]["a"], data["runtimes"]["b"]
    la, lb = ra["label"], rb["label"]
    results = data["sections"]
    host = data["host"]
    out = [f"# ocirt benchmark: {la} vs {lb}", ""]
    out.append(f"Last run {data['updated']} · kernel {host['kernel']} · {host['cpus']} CPUs · "
               f"Python {host['python']} (the benchmark's)")
    out.append("")
    for rt in (ra, rb):
        extra = f" (resolved from pyenv shim {rt['shim']})" if rt.get("shim") else ""
        out.append(f"- {rt['label']}: `{rt['path']}`{extra} — {rt['version']}")
    out.append("")
    out.append("Absolute times are noisy (machine, load, caches); the ratios "
               f"{la}/{lb} of the medians, measured in the same run, are what counts. Ratio "
               "range = min–max of the per-pair ratios. Each section says when it was "
               "measured: `--only` reruns a section and keeps the others.")
    out.append("")
    chart = []
    body = []
    for name in SECTIONS:
        if name in results:
            body.append("")
            RENDER[name](results[name], la, lb, body, chart)
    tg = targets(results, la, lb)
    if tg:
        out.append(f"## Targets (issue 7; ratios {la}/{lb})")
        out.append("")
        out.append("| target | measured | met |")
        out.append("|---|---:|---|")
        out.extend(f"| {t} | {m} | {ok} |" for t, m, ok in tg)
        out.append("")
    out.extend(body)
    fails = [(n, f) for n in SECTIONS for f in results.get(n, {}).get("failures", [])]
    if fails:
        out.append("")
        out.append("## Failures")
        out.append("")
        out.append("```")
        for n, f in fails:
            out.append(f"[section {n}] {f}")
        out.append("```")
    if leftovers:
        out.append("")
        out.append("## Left behind (cleaned up by run.py)")
        out.append("")
        out.extend(f"- {x}" for x in leftovers)
    return "\n".join(out) + "\n", chart


# ---------------------------------------------------------------------------
# chart

GROUP_COLORS = {"ops": "tab:blue", "exec": "tab:cyan", "memory": "tab:green",
                "scale": "tab:orange", "podman": "tab:purple"}


def draw_chart(chart, path, la, lb):
    """Horizontal bars: ratio la/lb per row; a second panel: run /bin/true ÷ floor."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    main = [(g, n, r) for g, n, r in chart if r is not None and g != "floor"]
    floor = [(g, n, r) for g, n, r in chart if r is not None and g == "floor"]
    if not main and not floor:
        return False
    heights = [max(1, len(main)), max(1, len(floor))] if floor else [max(1, len(main))]
    fig, axes = plt.subplots(len(heights), 1, squeeze=False,
                             figsize=(9, 0.32 * sum(heights) + 1.8 * len(heights)),
                             gridspec_kw={"height_ratios": heights})
    ax = axes[0][0]
    if main:
        ax.barh([n for _, n, _ in main][::-1], [r for _, _, r in main][::-1],
                color=[GROUP_COLORS.get(g, "tab:gray") for g, _, _ in main][::-1])
        ax.axvline(1.0, color="black", linewidth=0.8)
        for y, (_, _, r) in enumerate(main[::-1]):
            ax.text(r, y, f" {r:.2f}", va="center", fontsize=7)
        ax.set_xlabel(f"ratio {la}/{lb} of the medians (1.0 = as fast / as small; "
                      "colour = section)")
        ax.tick_params(axis="y", labelsize=7)
        ax.set_xlim(0, max(r for _, _, r in main) * 1.15)
    if floor:
        fx = axes[1][0]
        fx.barh([n for _, n, _ in floor][::-1], [r for _, _, r in floor][::-1],
                color="tab:red")
        for y, (_, _, r) in enumerate(floor[::-1]):
            fx.text(r, y, f" {r:.1f}×", va="center", fontsize=7)
        fx.set_xlabel("median time ÷ the floor (clone + pivot_root + exec, bench/floor.c)")
        fx.tick_params(axis="y", labelsize=7)
        fx.set_xlim(0, max(r for _, _, r in floor) * 1.15)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write_chart(json_path, png):
    """Draw the chart here if matplotlib imports, else with bench/.venv's python."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        venv_py = os.path.join(CHART_VENV, "bin", "python")
        if os.access(venv_py, os.X_OK):
            r = subprocess.run([venv_py, os.path.abspath(__file__), "--chart-from", json_path,
                                "--chart", png])
            return r.returncode == 0
        print("run.py: matplotlib is not importable, so there is no chart. "
              "`python3 bench/run.py --setup-chart` puts it in bench/.venv "
              "(pip install matplotlib, ~200 MB); or pip install matplotlib.",
              file=sys.stderr)
        return False
    with open(json_path) as f:
        data = json.load(f)
    _, chart = report(data)
    if draw_chart(chart, png, data["runtimes"]["a"]["label"], data["runtimes"]["b"]["label"]):
        print(f"run.py: chart written to {png}", file=sys.stderr)
        return True
    return False


def setup_chart():
    py = sys.executable
    if not os.path.exists(os.path.join(CHART_VENV, "bin", "python")):
        subprocess.run([py, "-m", "venv", CHART_VENV], check=True)
    subprocess.run([os.path.join(CHART_VENV, "bin", "pip"), "install", "-q", "matplotlib"],
                   check=True)
    print(f"run.py: matplotlib installed in {CHART_VENV}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------

def section_list(text, p):
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in names if s not in SECTIONS]
    if bad:
        p.error(f"unknown section(s) {', '.join(bad)}; sections: {', '.join(SECTIONS)}")
    return names


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=None,
                   help="measured pairs per operation (default 20; 5 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="5 runs, 1 scale round, N=10,100 only: for CI")
    p.add_argument("--warmup", type=int, default=1,
                   help="untimed iterations per runtime before measuring (default 1)")
    p.add_argument("--only", default=None, metavar="SECTIONS",
                   help=f"comma-separated sections to run ({','.join(SECTIONS)}); the "
                        "other sections of the previous results are kept")
    p.add_argument("--skip", default=None, metavar="SECTIONS",
                   help="comma-separated sections not to run")
    p.add_argument("--concurrent", type=int, default=50,
                   help="scale: containers created and started at once (default 50)")
    p.add_argument("--scale-rounds", type=int, default=None,
                   help="scale: rounds of the concurrent test per runtime (default 5; 1 with "
                        "--quick)")
    p.add_argument("--scale-n", default=None,
                   help="scale: container counts for list/state (default 10,100,1000; "
                        "10,100 with --quick)")
    p.add_argument("--scale-workers", type=int, default=2 * (os.cpu_count() or 1),
                   help="scale: parallel runtime calls when filling and emptying a root "
                        "(default 2 per CPU)")
    p.add_argument("--runtime-a", default="ocirt", help="default: ocirt on PATH")
    p.add_argument("--runtime-b", default="/usr/sbin/runc", help="default: /usr/sbin/runc")
    p.add_argument("--output", default=os.path.join(HERE, "RESULTS.md"),
                   help="Markdown output (default bench/RESULTS.md; the data go to the same "
                        "path with .json)")
    p.add_argument("--chart", default=None,
                   help="PNG chart path (default: OUTPUT with .png; needs matplotlib)")
    p.add_argument("--no-chart", action="store_true", help="do not draw the chart")
    p.add_argument("--chart-from", default=None, metavar="JSON",
                   help="only draw the chart of a results .json, then exit")
    p.add_argument("--setup-chart", action="store_true",
                   help="create bench/.venv with matplotlib for the chart, then exit")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds before a single runtime command is killed (default 30)")
    a = p.parse_args(argv)
    if a.runs is None:
        a.runs = 5 if a.quick else 20
    if a.scale_rounds is None:
        a.scale_rounds = 1 if a.quick else 5
    if a.scale_n is None:
        a.scale_n = "10,100" if a.quick else "10,100,1000"
    try:
        a.scale_n = sorted({int(x) for x in a.scale_n.split(",") if x.strip()})
    except ValueError:
        p.error("--scale-n: comma-separated numbers")
    if a.runs < 1 or a.warmup < 0 or a.concurrent < 1 or a.scale_rounds < 1 or \
            a.scale_workers < 1 or not a.scale_n or min(a.scale_n) < 1:
        p.error("--runs, --concurrent, --scale-rounds, --scale-workers and --scale-n must be "
                ">= 1 and --warmup >= 0")
    sel = section_list(a.only, p) if a.only else list(SECTIONS)
    skip = section_list(a.skip, p) if a.skip else []
    a.sections = [s for s in SECTIONS if s in sel and s not in skip]
    if not a.sections and not (a.chart_from or a.setup_chart):
        p.error("no section left to run")
    if a.chart is None:
        base = a.chart_from or a.output
        a.chart = os.path.splitext(base)[0] + ".png"
    a.json = os.path.splitext(a.output)[0] + ".json"
    return a


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def runtime_info(rt):
    return {"label": rt.label, "path": rt.path, "shim": rt.shim, "version": rt.version()}


def merge_previous(args, data):
    """Keep the sections of the previous results that this run does not measure."""
    if set(args.sections) == set(SECTIONS) or not os.path.exists(args.json):
        return
    try:
        with open(args.json) as f:
            old = json.load(f)
        same = all(old["runtimes"][k]["path"] == data["runtimes"][k]["path"] and
                   old["runtimes"][k]["label"] == data["runtimes"][k]["label"]
                   for k in ("a", "b"))
    except (OSError, ValueError, KeyError, TypeError):
        print(f"run.py: cannot read {args.json}; writing only this run's sections",
              file=sys.stderr)
        return
    if not same:
        print(f"run.py: {args.json} is for other runtimes; writing only this run's sections",
              file=sys.stderr)
        return
    for name, sec in old.get("sections", {}).items():
        if name in SECTIONS and name not in data["sections"]:
            data["sections"][name] = sec


def main(argv=None):
    args = parse_args(argv)
    if args.setup_chart:
        return setup_chart()
    if args.chart_from:
        return 0 if write_chart(args.chart_from, args.chart) else 1
    if os.geteuid() != 0:
        raise SystemExit("run.py: must run as root")
    if not os.path.exists(MAKE_BUNDLE):
        raise SystemExit(f"run.py: {MAKE_BUNDLE} missing")
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    bench = Bench(args)
    interrupted = False
    try:
        bench.run_sections(args.sections)
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
    data = {"format": 1, "updated": now_iso(),
            "host": {"kernel": platform.release(), "cpus": os.cpu_count(),
                     "python": platform.python_version()},
            "runtimes": {"a": runtime_info(bench.a), "b": runtime_info(bench.b)},
            "sections": dict(bench.results)}
    merge_previous(args, data)
    text, _ = report(data, bench.leftovers)
    sys.stdout.write(text)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        f.write(text)
    with open(args.json, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    if not args.no_chart:
        write_chart(args.json, args.chart)
    if bench.failures:
        print(f"\nrun.py: {len(bench.failures)} operation(s) failed:", file=sys.stderr)
        for f in bench.failures:
            print(f.report(), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
