"""Section cri: a Kubernetes pod's life through containerd's CRI plugin, each
runtime a runtime handler of the same containerd.

The timed pair is one pod per runtime: RunPodSandbox, CreateContainer and
StartContainer of one `sleep 1000` container, StopPodSandbox and
RemovePodSandbox, each call timed too (where the time goes). kubelet's part is
played by the tests' CRI client (tests/engines/cri/client.py), which needs
grpcio and grpcio-tools: run the benchmark with the project's .venv/bin/python
(`pip install .[test]`). containerd, its images (busybox from the benchmark's
rootfs, a static pause program as the sandbox image), a CNI bridge network
when containernetworking-plugins is installed, and all its state live in the
benchmark's temporary directory, and are removed afterwards.
"""
import os
import re
import shutil
import subprocess
import sys
import time
import uuid

from ..proc import CommandFailed, mounts_under
from ..runner import REPO
from ..table import not_measured, pairs_table, section_heading

TITLE = "Kubernetes pods: containerd's CRI plugin"
TOTAL = "pod lifecycle (RunPodSandbox … RemovePodSandbox, one container)"
CALLS = ("RunPodSandbox", "CreateContainer", "StartContainer", "StopPodSandbox",
         "RemovePodSandbox")
PAUSE = "localhost/ocirt-bench-pause:latest"
BUSYBOX = "localhost/busybox:latest"


def _client():
    """The tests' CRI client module, or None (and why) without grpcio."""
    if REPO not in sys.path:
        sys.path.insert(0, REPO)
    try:
        from tests.engines.cri import client
        client.stubs()
    except ImportError as e:
        return None, f"grpcio/grpcio-tools not importable ({e.name}): run with .venv/bin/python"
    return client, None


def handler_name(rt):
    return "h-" + re.sub(r"[^a-z0-9]+", "-", rt.label.lower())


def run(bench):
    bench.cur["command"] = "CRI calls of one pod (see below)"
    for tool in ("containerd", "ctr"):
        if not shutil.which(tool):
            bench.cur["status"] = f"{tool} not installed"
            return
    client, why = _client()
    if client is None:
        bench.cur["status"] = why
        print(f"# cri: {why}; skipping", file=sys.stderr)
        return
    cr = {}
    bench.at_cleanup.append(lambda bench: teardown(bench, cr))
    try:
        setup(bench, cr, client)
    except (CommandFailed, OSError, subprocess.SubprocessError) as e:
        if not isinstance(e, CommandFailed):
            e = CommandFailed("containerd", ["containerd"], f"CRI setup failed: {e}")
        bench.fail(e)
        bench.cur["status"] = "containerd CRI setup failed (see Failures)"
        teardown(bench, cr)
        return
    bench.cur["status"] = "ok"
    bench.cur["network"] = cr["network"]
    bench.cur["versions"] = cr["version"]
    try:
        bench.measure("CRI pod lifecycle", lambda rt, _, s: op_pod(bench, cr, rt, s), None,
                      [TOTAL, *CALLS])
    finally:
        teardown(bench, cr)


def setup(bench, cr, client):
    base = os.path.join(bench.tmp, "cri")
    os.makedirs(base)
    os.chmod(base, 0o755)
    cr.update({"base": base, "token": bench.token[:8], "daemon": None, "cri": None,
               "bridge": None})
    sock = os.path.join(base, "containerd.sock")
    pause = client.pause_archive(base, PAUSE)
    if pause is None:
        raise CommandFailed("containerd", ["gcc"], "no C compiler for the pause image")
    busybox = os.path.join(base, "busybox.oci.tar")
    client.oci_archive(busybox, BUSYBOX, os.path.join(bench.b_true(), "rootfs"), ["/bin/sh"])
    cni_bin = client.cni_bin_dir()
    if cni_bin:
        cr["bridge"] = f"crib{cr['token'][:8]}"
        os.makedirs(os.path.join(base, "cni"))
        with open(os.path.join(base, "cni", "10-bench.conflist"), "w") as f:
            f.write(client.cni_conflist(f"ocirt-bench-{cr['token']}", cr["bridge"],
                                        client.free_subnet(int(cr["token"][:2], 16) + 128),
                                        os.path.join(base, "ipam")))
    cr["network"] = "POD" if cni_bin else "NODE"
    runtimes = {handler_name(rt): rt.path for rt in (bench.a, bench.b)}
    with open(os.path.join(base, "config.toml"), "w") as f:
        f.write(client.config_toml(base, sock, runtimes, PAUSE, cni_bin,
                                   os.path.join(base, "cni")))
    log = open(os.path.join(base, "containerd.log"), "wb")
    cr["daemon"] = subprocess.Popen(["containerd", "--config", os.path.join(base, "config.toml")],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True)
    log.close()
    ctr = ["ctr", "-a", sock, "-n", client.NAMESPACE]
    deadline = time.monotonic() + 60
    while subprocess.run(ctr + ["version"], capture_output=True).returncode != 0:
        if cr["daemon"].poll() is not None or time.monotonic() > deadline:
            raise CommandFailed("containerd", ["containerd", "--config", "..."],
                                "containerd did not start", cr["daemon"].poll(), "",
                                _tail(os.path.join(base, "containerd.log")))
        time.sleep(0.1)
    for archive in (pause, busybox):
        r = subprocess.run(ctr + ["image", "import", archive], capture_output=True, text=True)
        if r.returncode != 0:
            raise CommandFailed("containerd", r.args, "ctr image import failed", r.returncode,
                                r.stdout, r.stderr)
    cr["cri"] = client.Cri(sock)
    import grpc
    try:
        cr["version"] = "containerd " + cr["cri"].call("Version", version="v1").runtime_version
    except grpc.RpcError as e:
        raise CommandFailed("containerd", ["CRI Version"], f"the CRI plugin does not answer: "
                            f"{e.details()}", None, "",
                            _tail(os.path.join(base, "containerd.log")))
    while not (cr["cri"].image_present(PAUSE) and cr["cri"].image_present(BUSYBOX)):
        if time.monotonic() > deadline:
            raise CommandFailed("containerd", ["ImageStatus"], "CRI does not see the images")
        time.sleep(0.05)


def _tail(path, n=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def op_pod(bench, cr, rt, samples):
    """One pod's life with rt's runtime handler; each call timed."""
    import grpc
    cri = cr["cri"]
    uid = uuid.uuid4().hex
    logs = os.path.join(cr["base"], "logs", uid)
    os.makedirs(logs)
    pod_cfg = cri.pod_config("bench", uid, f"/ocirt-bench-{cr['token']}-cri/pod{uid}", logs,
                             network=cr["network"])
    c_cfg = cri.container_config("app", ["sleep", "1000"], network=cr["network"])
    took = {}
    pod = None
    try:
        t0 = t = time.perf_counter()
        pod = cri.run_pod(pod_cfg, handler_name(rt))
        took["RunPodSandbox"] = time.perf_counter() - t
        t = time.perf_counter()
        cid = cri.create(pod, c_cfg, pod_cfg)
        took["CreateContainer"] = time.perf_counter() - t
        t = time.perf_counter()
        cri.start(cid)
        took["StartContainer"] = time.perf_counter() - t
        t = time.perf_counter()
        cri.stop_pod(pod)
        took["StopPodSandbox"] = time.perf_counter() - t
        t = time.perf_counter()
        cri.remove_pod(pod)
        took["RemovePodSandbox"] = time.perf_counter() - t
        took[TOTAL] = time.perf_counter() - t0
    except grpc.RpcError as e:
        if pod is not None:
            try:
                cri.remove_everything()
            except grpc.RpcError:
                pass
        raise CommandFailed(rt.label, ["CRI", handler_name(rt)], f"CRI call failed: "
                            f"{e.details()}")
    if samples is not None:
        for name, secs in took.items():
            samples[name][rt.label].append(secs)


def teardown(bench, cr):
    """Remove what setup made (once: cr is empty after)."""
    if not cr:
        return
    try:
        if cr.get("cri") is not None:
            try:
                cr["cri"].remove_everything()
            except Exception as e:  # the daemon's end comes next anyway
                bench.leftovers.append(f"cri: pods not removed: {e}")
            cr["cri"].close()
        d = cr.get("daemon")
        if d is not None and d.poll() is None:
            d.terminate()
            try:
                d.wait(30)
            except subprocess.TimeoutExpired:
                d.kill()
                d.wait()
        if cr.get("bridge") and os.path.exists(f"/sys/class/net/{cr['bridge']}"):
            subprocess.run(["ip", "link", "del", cr["bridge"]], capture_output=True)
        client, _ = _client()
        if client is not None:
            for d in client.remove_cgroup_tree(f"ocirt-bench-{cr['token']}-cri"):
                bench.leftovers.append(f"cri: cannot remove cgroup {d}")
        for mp in sorted(mounts_under(cr["base"]), key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], capture_output=True)
        shutil.rmtree(cr["base"], ignore_errors=True)
    finally:
        cr.clear()


def render(sec, la, lb, out, chart):
    section_heading(TITLE, "cri", sec, out)
    status = sec.get("status", "?")
    if status != "ok":
        not_measured("pod", TOTAL, la, lb, status, out)
        return
    if sec.get("versions"):
        out.append(f"{sec['versions']}, pod network: "
                   f"{'a CNI bridge' if sec.get('network') == 'POD' else 'the host'}.")
        out.append("")
    pairs_table(sec["rows"], la, lb, "s", out, chart, "cri", first_col="CRI call")
    out.append("")
    out.append("One containerd with the CRI plugin, each runtime a runtime handler of it "
               "(io.containerd.runc.v2 with BinaryName = the runtime, its own runtime root); "
               "the pair alternates the handlers. A pod is RunPodSandbox (the pause "
               "container: a static `pause`), CreateContainer and StartContainer of one "
               "busybox `sleep 1000`, StopPodSandbox (SIGKILL) and RemovePodSandbox, "
               "called by the tests' CRI client as kubelet would. Each call is timed "
               "too. Much of the time is containerd, its shim and CNI: the first row shows "
               "what the runtime changes for a kubelet.")
