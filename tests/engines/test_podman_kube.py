"""`podman kube play`: a Kubernetes pod manifest run by podman, daemonless,
with the runtime under test (ocirt, and runc for comparison) running the
infra container and the pod's containers."""
import os
import uuid

from tests.engines.conftest import IMAGE

MANIFEST = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  restartPolicy: Never
  containers:
  - name: web
    image: {image}
    command: ["/bin/sh", "-c", "echo ready; exec sleep 1000"]
    resources:
      limits:
        memory: 64Mi
    securityContext:
      runAsUser: 1000
      capabilities:
        drop: ["ALL"]
  - name: side
    image: {image}
    command: ["/bin/sleep", "1000"]
"""


def test_kube_play_a_pod_manifest(podman, tmp_path):
    name = f"kp{uuid.uuid4().hex[:8]}"
    yaml = tmp_path / "pod.yaml"
    yaml.write_text(MANIFEST.format(name=name, image=IMAGE))
    podman.ok("kube", "play", yaml)
    assert podman.ok("pod", "inspect", "--format", "{{.State}}", name) == "Running"
    web, side = f"{name}-web", f"{name}-side"
    podman.follow("logs", "-f", web).until("ready")
    seen = podman.ok("exec", web, "/bin/sh", "-c",
                     "id -u; cat /sys/fs/cgroup/memory/memory.limit_in_bytes; "
                     "grep CapEff /proc/self/status; readlink /proc/self/ns/net; hostname")
    uid, memory, capeff, net, host = seen.splitlines()
    assert (uid, memory) == ("1000", str(64 << 20))
    assert capeff.split()[1] == "0000000000000000"
    # the pod's containers share the infra container's network and uts
    assert podman.ok("exec", side, "/bin/sh", "-c", "readlink /proc/self/ns/net; hostname") == \
        f"{net}\n{host}"
    assert podman.ok("exec", side, "/bin/id", "-u") == "0"
    pod_id = podman.ok("pod", "inspect", "--format", "{{.ID}}", name)
    podman.ok("kube", "down", yaml)
    assert podman("pod", "exists", name).returncode == 1
    # podman 4.3 leaves the pod's own cgroup in the name=systemd and cgroup2
    # hierarchies, which it does not manage on a v1 host (with runc too):
    # they must hold no container's cgroup any more; then they go
    for h in ("systemd", "unified"):
        d = f"/sys/fs/cgroup/{h}/libpod_parent/{pod_id}"
        if os.path.isdir(d):
            assert [e for e in os.listdir(d) if os.path.isdir(os.path.join(d, e))] == []
            os.rmdir(d)
