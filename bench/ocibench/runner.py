"""The runner: two runtimes measured in one run, pair by pair, and cleaned up after.

Every operation is measured for both runtimes in the same run, interleaved pair by
pair (the runtime that goes first alternates from pair to pair, so neither one
always runs on a cache the other just warmed).  Each runtime has its own --root
under a temporary directory and its own container ids (prefix ``bench-``).  The
sections (ocibench.sections) say what to measure; Bench gives them the calls,
the bundles, the measuring loop and the rows of their results.
"""
import datetime
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from .proc import (CommandFailed, execute, mounts_under, parallel, proc_stat,
                   proc_starttime)

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(BENCH_DIR)
MAKE_BUNDLE = os.path.join(REPO, "demo", "make-bundle.sh")

SLEEP_ARGS = ["sleep", "1000"]
TRUE_ARGS = ["/bin/true"]
STOP_POLL_LIMIT = 10.0      # seconds: bound of the "poll state until stopped" loop
STOP_POLL_MAX_CALLS = 500


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


def now_iso():
    return datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


class Bench:
    """One run: the two runtimes, their roots and bundles under a temporary
    directory, the results of each section, and what cleanup must undo."""

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
        self.at_cleanup = []    # fn(bench) of a section, undone by cleanup (podman)

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

    def run_sections(self, sections):
        """Run each (name, run) of sections; run(bench) fills self.cur."""
        for name, run in sections:
            self.cur = {"started": now_iso(), "runs": self.args.runs,
                        "warmup": self.args.warmup, "rows": [], "failures": []}
            self.results[name] = self.cur
            print(f"## section {name}", file=sys.stderr, flush=True)
            run(self)
            self.cur = None

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
        for undo in self.at_cleanup:
            undo(self)
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
        mounts = mounts_under(self.tmp)
        for mp in sorted(mounts, key=len, reverse=True):
            self.leftovers.append(f"mount left behind: {mp}; unmounting")
            subprocess.run(["umount", "-l", mp], capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)
        if os.path.exists(self.tmp):
            self.leftovers.append(f"cannot remove {self.tmp}")
