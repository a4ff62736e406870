"""Capture the corpus: the config.json that runc, podman, containerd and docker
write for a runtime, on this machine, once. The results are committed; the
differential tests (tests/differential/) read them and never run this.

    sudo .venv/bin/python tests/data/configs/capture.py      # from the repository

`runc spec` and `runc spec --rootless` are kept exactly as runc writes them.
For the engines, a logging wrapper stands in for runc: on `create` it copies
the bundle's config.json, then execs /usr/sbin/runc with the same arguments,
so each engine runs its container with runc as usual. The engines run with all
their state in a temporary directory (the helpers of tests/engines/conftest.py).

Host-specific paths are then made portable (`portable()`): root.path becomes
`rootfs`; a bind mount whose source is a file or directory of the engine's own
(/etc/hosts, resolv.conf, hostname, .containerenv, secrets, volumes) becomes
`files/<name>`, a path relative to the bundle, which the differential harness
creates (`x-capture-kind` says whether a file or a directory); a hook run from
/proc/<pid>/exe (docker's libnetwork-setkey) becomes /bin/true; a namespace
given by path (podman's /run/netns/...) keeps its
`path` key under `x-capture-path` and becomes a new namespace. README.md in
this directory says which file came from which command and tool version.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, REPO)

from tests.engines import conftest as eng  # noqa: E402

RUNC = "/usr/sbin/runc"

WRAPPER = """#!/bin/sh
# logging wrapper: keep the config.json of every create, then run runc
bundle=. prev= cmd=
for a in "$@"; do
    case "$prev" in --bundle|-b) bundle=$a ;; esac
    case "$a" in
        --bundle=*) bundle=${a#--bundle=} ;;
        create|run) [ -z "$cmd" ] && cmd=$a ;;
    esac
    prev=$a
done
if [ -n "$cmd" ]; then
    cp "$bundle/config.json" "%(out)s/$(date +%%s%%N).json"
fi
exec %(runc)s "$@"
"""


def portable(cfg):
    """The config with its host-specific paths made relative to the bundle."""
    cfg = json.loads(json.dumps(cfg))
    cfg["root"]["path"] = "rootfs"
    names = {}
    for m in cfg.get("mounts", []):
        src = m.get("source", "")
        if "bind" in m.get("options", []) or "rbind" in m.get("options", []) \
                or m.get("type") == "bind":
            if src.startswith("/"):
                base = os.path.basename(src.rstrip("/")) or "root"
                base = re.sub(r"[^A-Za-z0-9_.-]", "_", base)
                n = names.setdefault(base, 0)
                names[base] += 1
                m["source"] = f"files/{base}" + (f".{n}" if n else "")
                m["x-capture-source"] = src
                m["x-capture-kind"] = "dir" if os.path.isdir(src) else "file"
    for hooks in cfg.get("hooks", {}).values():
        for h in hooks:
            # docker's libnetwork-setkey: /proc/<dockerd's pid>/exe
            if h["path"].startswith("/proc/"):
                h["x-capture-path"], h["path"] = h["path"], "/bin/true"
    for ns in cfg.get("linux", {}).get("namespaces", []):
        if "path" in ns:
            ns["x-capture-path"] = ns.pop("path")
    return cfg


def save(name, cfg, note):
    path = os.path.join(HERE, name)
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    print(f"{name}: {note}")


def runc_spec():
    for flag, name in (([], "runc-spec.json"), (["--rootless"], "runc-spec-rootless.json")):
        with tempfile.TemporaryDirectory() as d:
            subprocess.run([RUNC, "spec", "--bundle", d] + flag, check=True)
            with open(os.path.join(d, "config.json"), "rb") as f:
                data = f.read()
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)  # exactly as written
        print(f"{name}: runc spec {' '.join(flag)}")


def captured(out):
    files = sorted(os.listdir(out))
    if not files:
        raise SystemExit(f"nothing captured in {out}")
    with open(os.path.join(out, files[-1])) as f:
        cfg = json.load(f)
    for name in files:
        os.unlink(os.path.join(out, name))
    return cfg


def main():
    if os.geteuid() != 0:
        raise SystemExit("capture.py runs the engines: run it as root")
    runc_spec()
    work = tempfile.mkdtemp(prefix="ocirt-capture-")
    os.chmod(work, 0o755)
    out = os.path.join(work, "out")
    os.mkdir(out)
    wrapper = os.path.join(work, "runc-logger")
    with open(wrapper, "w") as f:
        f.write(WRAPPER % {"out": out, "runc": RUNC})
    os.chmod(wrapper, 0o755)
    daemons = []
    try:
        eng.run([os.path.join(REPO, "demo", "make-bundle.sh"), os.path.join(work, "bb")],
                check=True, env=dict(os.environ, OCIRT="/bin/true"))
        rootfs = os.path.join(work, "bb", "rootfs")
        import pathlib
        base = pathlib.Path(work)

        # podman, through conmon (the wrapper is its runtime named runc)
        env = eng.podman_env(base / "podman", wrapper)
        podman = [eng.tool("podman")]
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        eng.run(podman + ["import", "--quiet", "-", eng.IMAGE], env=env,
                input=tar.stdout.read(), check=True)
        tar.wait()
        vol = base / "volume"
        vol.mkdir()
        (vol / "data").write_text("data\n")
        podman_runs = {
            "podman-run.json": ["run", "--rm", eng.IMAGE, "true"],
            "podman-run-tty.json": ["run", "--rm", "-t", eng.IMAGE, "true"],
            "podman-run-options.json": [
                "run", "--rm", "--user", "1000:1000", "--cap-drop", "ALL", "--read-only",
                "--tmpfs", "/scratch", "-v", f"{vol}:/data:ro", "--pids-limit", "100",
                "--memory", "64m", "--network", "none", "--cap-add", "NET_BIND_SERVICE",
                eng.IMAGE, "true"],
        }
        version = eng.run(podman + ["--version"], env=env).stdout.strip()
        for name, args in podman_runs.items():
            eng.run(podman + args, env=env, check=True)
            save(name, portable(captured(out)), f"{version}: podman {' '.join(args)}")
        for fmt in ("oci-archive", "docker-archive"):
            eng.run(podman + ["save", "--format", fmt, "-o", str(base / f"bb.{fmt}.tar"),
                              eng.IMAGE], env=env, check=True)
        eng.run(podman + ["system", "reset", "--force"], env=env)

        # containerd, through ctr and its runc v2 shim
        cbase = base / "containerd"
        cbase.mkdir()
        sock = cbase / "containerd.sock"
        conf = cbase / "config.toml"
        conf.write_text(f'version = 2\nroot = "{cbase}/root"\nstate = "{cbase}/state"\n'
                        f'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
                        f'[grpc]\n  address = "{sock}"\n[ttrpc]\n  address = "{sock}.ttrpc"\n')
        ctr = [eng.tool("ctr"), "-a", str(sock)]
        containerd = eng.Daemon([eng.tool("containerd"), "--config", conf],
                                cbase / "containerd.log",
                                lambda: eng.run(ctr + ["version"]).returncode == 0, "containerd")
        daemons.append(containerd)
        eng.run(ctr + ["image", "import", str(base / "bb.oci-archive.tar")], check=True)
        cversion = eng.run([eng.tool("containerd"), "--version"]).stdout.strip()
        args = ["run", "--rm", "--runc-binary", wrapper, "--runc-root", str(cbase / "rt"),
                eng.IMAGE, "capture-ctr", "true"]
        eng.run(ctr + args, check=True)
        save("containerd-ctr-run.json", portable(captured(out)),
             f"{cversion}: ctr {' '.join(args)}")

        # docker, on that containerd
        dbase = base / "docker"
        dbase.mkdir()
        dsock = dbase / "docker.sock"
        had_docker0 = os.path.exists("/sys/class/net/docker0")
        (dbase / "daemon.json").write_text(json.dumps({
            "data-root": str(dbase / "data"), "exec-root": str(dbase / "exec"),
            "pidfile": str(dbase / "docker.pid"), "hosts": [f"unix://{dsock}"],
            "containerd": str(sock), "runtimes": {"logger": {"path": wrapper}},
            "exec-opts": ["native.cgroupdriver=cgroupfs"], "storage-driver": "overlay2"}))
        docker = [eng.tool("docker"), "-H", f"unix://{dsock}"]
        denv = {"PATH": eng.SYSTEM_PATH, "HOME": str(dbase)}
        dockerd = eng.Daemon([eng.tool("dockerd"), "--config-file", dbase / "daemon.json"],
                             dbase / "dockerd.log",
                             lambda: eng.run(docker + ["version"], env=denv).returncode == 0,
                             "dockerd")
        daemons.insert(0, dockerd)
        eng.run(docker + ["load", "-i", str(base / "bb.docker-archive.tar")], env=denv,
                check=True)
        dversion = eng.run(docker + ["--version"], env=denv).stdout.strip()
        for name, args in {
            "docker-run.json": ["run", "--runtime", "logger", "--rm", eng.IMAGE, "true"],
            "docker-run-tty.json": ["run", "--runtime", "logger", "--rm", "-t", eng.IMAGE,
                                    "true"],
        }.items():
            eng.run(docker + args, env=denv, check=True)
            save(name, portable(captured(out)), f"{dversion}: docker {' '.join(args)}")
        if not had_docker0:
            daemons.append(None)
    finally:
        for d in daemons:
            if d is not None:
                d.stop()
        if daemons and daemons[-1] is None:
            subprocess.run(["ip", "link", "delete", "docker0"], stderr=subprocess.DEVNULL)
        eng.remove_tree(work)


if __name__ == "__main__":
    main()
