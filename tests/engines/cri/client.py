"""A small CRI client that plays kubelet's part, and what containerd's CRI
plugin needs to run pods with no registry and no kubelet.

Used by tests/engines/test_cri.py and by the benchmark's `cri` section
(bench/ocibench/sections/cri.py), so it needs neither pytest nor the tests'
fixtures: only grpcio and grpcio-tools (the `test` extra of setup.cfg).

- stubs(): the Python stubs of api.proto (our subset of the CRI's runtime.v1,
  with the API's field numbers), generated once per process into a temporary
  directory with grpcio-tools.
- config_toml() / cni_conflist(): containerd's configuration, with the CRI
  plugin on, one runtime handler per OCI runtime (all io.containerd.runc.v2,
  BinaryName = the runtime) and all state under one directory.
- oci_archive(): an OCI image archive (`ctr image import` reads it) built from a
  directory, with no engine: the pause image (pause.c, static) and, for the
  benchmark, busybox.
- Cri: the calls kubelet makes for a pod's life, with kubelet's shapes of
  request (sandbox config passed again to CreateContainer, attempts, cgroup
  parent per pod).
"""
import hashlib
import importlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(HERE, "api.proto")
PAUSE_C = os.path.join(HERE, "pause.c")
NAMESPACE = "k8s.io"          # the containerd namespace the CRI plugin uses
CNI_BIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin")

_stubs = None
_stubs_lock = threading.Lock()


def stubs():
    """(messages, services): the modules grpcio-tools generates from api.proto.
    Generated once per process (protobuf refuses to register a file twice)."""
    global _stubs
    with _stubs_lock:
        if _stubs is None:
            from grpc_tools import protoc
            out = tempfile.mkdtemp(prefix="ocirt-cri-stubs-")
            try:
                # a name of our own for the generated modules: they import each
                # other by their top-level names
                shutil.copy(PROTO, os.path.join(out, "ocirt_cri_api.proto"))
                include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
                rc = protoc.main(["protoc", f"-I{out}", f"-I{include}", f"--python_out={out}",
                                  f"--grpc_python_out={out}", "ocirt_cri_api.proto"])
                if rc != 0:
                    raise RuntimeError(f"grpc_tools.protoc failed on {PROTO} ({rc})")
                sys.path.insert(0, out)
                try:
                    _stubs = (importlib.import_module("ocirt_cri_api_pb2"),
                              importlib.import_module("ocirt_cri_api_pb2_grpc"))
                finally:
                    sys.path.remove(out)
            finally:
                shutil.rmtree(out, ignore_errors=True)
        return _stubs


def cni_bin_dir():
    """Where Debian's containernetworking-plugins are, if installed."""
    for d in CNI_BIN_DIRS:
        if all(os.access(os.path.join(d, p), os.X_OK)
               for p in ("bridge", "host-local", "loopback")):
            return d
    return None


def free_subnet(seed):
    """A /24 in 10.232-239.x.0 that no route of the host's covers yet."""
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    for k in range(2048):
        subnet = f"10.{232 + ((seed + k) // 256) % 8}.{(seed + k) % 256}"
        if subnet + "." not in routes:
            return subnet + ".0/24"
    raise RuntimeError("no free 10.232-239.x.0/24 subnet for the pods")


def cni_conflist(name, bridge, subnet, ipam_dir):
    """A bridge network with host-local addresses, its leases in ipam_dir (not
    /var/lib/cni). No masquerading, no port maps: nothing in iptables to undo.
    containerd adds the loopback network itself."""
    return json.dumps({
        "cniVersion": "0.4.0",
        "name": name,
        "plugins": [{
            "type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": False,
            "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]],
                     "dataDir": ipam_dir},
        }],
    }, indent=1)


def config_toml(base, sock, runtimes, sandbox_image, cni_bin=None, cni_conf_dir=None):
    """containerd's config.toml: its root, state and sockets under base, the CRI
    plugin on, and a runtime handler per {name: binary}, each with its own
    runtime root (<base>/runtime-<name>; the shim adds /k8s.io); the first is
    the default handler."""
    handlers = ""
    for name, binary in runtimes.items():
        key = f'plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{name}'
        handlers += f"""
[{key}]
  runtime_type = "io.containerd.runc.v2"
[{key}.options]
  BinaryName = "{binary}"
  Root = "{base}/runtime-{name}"
"""
    cni = ""
    if cni_bin:
        cni = f"""
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "{cni_bin}"
  conf_dir = "{cni_conf_dir}"
  max_conf_num = 1
"""
    return f"""\
version = 2
root = "{base}/root"
state = "{base}/state"
# the CRI plugin's own checks
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{base}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  # no registry: this image is imported beforehand, so it is never pulled
  sandbox_image = "{sandbox_image}"
  # the streaming server (Exec/Attach URLs) on a port the kernel picks
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # root lacks CAP_SYS_RESOURCE here: the sandbox's oom_score_adj (-998)
  # could not be set; clamp it to containerd's own
  restrict_oom_score_adj = true
[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "{next(iter(runtimes))}"
{handlers}{cni}"""


def remove_cgroup_tree(rel):
    """rmdir the pod cgroups containerd made (kubelet's cgroup parent rel, in
    every hierarchy), deepest first; the directories that would not go."""
    left = []
    for h in os.listdir("/sys/fs/cgroup"):
        top = os.path.join("/sys/fs/cgroup", h, rel)
        for d, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
            try:
                os.rmdir(d)
            except FileNotFoundError:
                pass
            except OSError:
                left.append(d)
    return left


def _tar_dir(root):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(os.listdir(root)):
            tar.add(os.path.join(root, name), arcname=name)
    return buf.getvalue()


def oci_archive(path, name, rootfs, entrypoint, env=("PATH=/usr/sbin:/usr/bin:/sbin:/bin",)):
    """Write an OCI image layout tar at path: one uncompressed layer (rootfs),
    named `name` (containerd reads io.containerd.image.name on import)."""
    blobs = {}

    def blob(data, media_type):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    layer = _tar_dir(rootfs)
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": list(entrypoint), "Env": list(env)},
        "rootfs": {"type": "layers",
                   "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": blob(config, "application/vnd.oci.image.config.v1+json"),
        "layers": [blob(layer, "application/vnd.oci.image.layer.v1.tar")],
    }).encode()
    desc = blob(manifest, "application/vnd.oci.image.manifest.v1+json")
    desc["annotations"] = {"io.containerd.image.name": name,
                           "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1]}
    index = json.dumps({"schemaVersion": 2, "manifests": [desc]}).encode()
    with tarfile.open(path, "w") as tar:
        def add(arcname, data):
            info = tarfile.TarInfo(arcname)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        add("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        add("index.json", index)
        for digest, data in blobs.items():
            add("blobs/sha256/" + digest.split(":", 1)[1], data)


def pause_archive(workdir, name):
    """The sandbox image: pause.c built static, alone in its rootfs. None if
    there is no C compiler."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        return None
    rootfs = os.path.join(workdir, "pause-rootfs")
    os.makedirs(rootfs, exist_ok=True)
    subprocess.run([cc, "-static", "-O2", "-o", os.path.join(rootfs, "pause"), PAUSE_C],
                   check=True, capture_output=True)
    path = os.path.join(workdir, "pause.oci.tar")
    oci_archive(path, name, rootfs, ["/pause"], env=())
    return path


class Cri:
    """kubelet's side of the CRI, over containerd's socket."""

    def __init__(self, sock, timeout=120):
        import grpc
        self.pb, services = stubs()
        self.channel = grpc.insecure_channel(f"unix://{sock}")
        self.runtime = services.RuntimeServiceStub(self.channel)
        self.images = services.ImageServiceStub(self.channel)
        self.timeout = timeout

    def close(self):
        self.channel.close()

    def call(self, method, **fields):
        """RuntimeService.<method>(<method>Request(**fields))."""
        request = getattr(self.pb, method + "Request")(**fields)
        return getattr(self.runtime, method)(request, timeout=self.timeout)

    # --- what kubelet sends ---------------------------------------------

    def pod_config(self, name, uid, cgroup_parent, log_dir, hostname=None, network="POD",
                   pid="CONTAINER", ipc="POD", privileged=False, namespace="ocirt-test"):
        pb = self.pb
        ns = pb.NamespaceOption(network=getattr(pb, network), pid=getattr(pb, pid),
                                ipc=getattr(pb, ipc))
        return pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, uid=uid, namespace=namespace, attempt=0),
            hostname=hostname or (name if network != "NODE" else ""),
            log_directory=log_dir,
            labels={"io.kubernetes.pod.name": name, "ocirt-test": "1"},
            linux=pb.LinuxPodSandboxConfig(
                cgroup_parent=cgroup_parent,
                security_context=pb.LinuxSandboxSecurityContext(namespace_options=ns,
                                                                privileged=privileged)))

    def container_config(self, name, command, attempt=0, resources=None, security=None,
                         image="localhost/busybox:latest", pid="CONTAINER", network="POD",
                         ipc="POD", envs=None):
        pb = self.pb
        security = security or pb.LinuxContainerSecurityContext()
        security.namespace_options.CopyFrom(pb.NamespaceOption(
            network=getattr(pb, network), pid=getattr(pb, pid), ipc=getattr(pb, ipc)))
        return pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name=name, attempt=attempt),
            image=pb.ImageSpec(image=image),
            command=list(command),
            envs=[pb.KeyValue(key=k, value=v) for k, v in (envs or {}).items()],
            log_path=f"{name}/{attempt}.log",
            labels={"io.kubernetes.container.name": name},
            linux=pb.LinuxContainerConfig(resources=resources or pb.LinuxContainerResources(),
                                          security_context=security))

    # --- the calls, by kubelet's names -------------------------------------

    def run_pod(self, config, handler):
        return self.call("RunPodSandbox", config=config, runtime_handler=handler).pod_sandbox_id

    def create(self, pod_id, config, pod_config):
        return self.call("CreateContainer", pod_sandbox_id=pod_id, config=config,
                         sandbox_config=pod_config).container_id

    def start(self, cid):
        self.call("StartContainer", container_id=cid)

    def status(self, cid, verbose=False):
        return self.call("ContainerStatus", container_id=cid, verbose=verbose)

    def exec_sync(self, cid, cmd, timeout=30):
        """(exit code, stdout, stderr) of cmd run in the container."""
        r = self.call("ExecSync", container_id=cid, cmd=list(cmd), timeout=timeout)
        return r.exit_code, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")

    def stop(self, cid, timeout=0):
        self.call("StopContainer", container_id=cid, timeout=timeout)

    def remove(self, cid):
        self.call("RemoveContainer", container_id=cid)

    def stop_pod(self, pod_id):
        self.call("StopPodSandbox", pod_sandbox_id=pod_id)

    def remove_pod(self, pod_id):
        self.call("RemovePodSandbox", pod_sandbox_id=pod_id)

    def pods(self):
        return list(self.call("ListPodSandbox").items)

    def containers(self, pod_id=None):
        flt = self.pb.ContainerFilter(pod_sandbox_id=pod_id or "")
        return list(self.call("ListContainers", filter=flt).containers)

    def wait_exited(self, cid, timeout=60):
        """The container's status once it has exited (the CRI has no wait:
        kubelet polls ContainerStatus too)."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.status(cid).status
            if st.state == self.pb.CONTAINER_EXITED:
                return st
            if time.monotonic() > deadline:
                raise AssertionError(f"container {cid} did not exit: {st}")
            time.sleep(0.05)

    def remove_everything(self):
        """Stop and remove every pod (and so its containers), as kubelet does
        when a node is drained. Returns the ids of what was there."""
        ids = set()
        for c in self.containers():
            ids.add(c.id)
        for pod in self.pods():
            ids.add(pod.id)
            self.stop_pod(pod.id)
            self.remove_pod(pod.id)
        return ids

    def image_present(self, ref):
        r = self.images.ImageStatus(self.pb.ImageStatusRequest(
            image=self.pb.ImageSpec(image=ref)), timeout=self.timeout)
        return r.HasField("image")
