"""The seccomp section podman puts in config.json, built from the default
profile of Debian's containers-common package the way podman converts it
(includes/excludes by capability and architecture, archMap)."""
import glob
import json
import os
import subprocess
import tempfile

ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
SCMP_ARCH = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64"}.get(ARCH)


def fetch_profile(workdir):
    """/usr/share/containers/seccomp.json from the Debian package (downloaded, not installed)."""
    subprocess.run(["apt-get", "download", "golang-github-containers-common"], cwd=workdir,
                   check=True, capture_output=True)
    deb = glob.glob(os.path.join(workdir, "*.deb"))[0]
    out = os.path.join(workdir, "x")
    subprocess.run(["dpkg-deb", "-x", deb, out], check=True)
    with open(os.path.join(out, "usr/share/containers/seccomp.json")) as f:
        return json.load(f)


def to_oci(profile, caps):
    arches = []
    for m in profile.get("archMap") or ():
        if m["architecture"] == SCMP_ARCH:
            arches = [m["architecture"]] + list(m.get("subArchitectures") or ())
    rules = []
    for call in profile["syscalls"]:
        inc, exc = call.get("includes") or {}, call.get("excludes") or {}
        if inc.get("arches") and ARCH not in inc["arches"]:
            continue
        if inc.get("caps") and not all(c in caps for c in inc["caps"]):
            continue
        if exc.get("arches") and ARCH in exc["arches"]:
            continue
        if exc.get("caps") and any(c in caps for c in exc["caps"]):
            continue
        rule = {"names": call["names"], "action": call["action"]}
        if call.get("args"):
            rule["args"] = call["args"]
        if call.get("errnoRet") is not None:
            rule["errnoRet"] = call["errnoRet"]
        rules.append(rule)
    out = {"defaultAction": profile["defaultAction"], "architectures": arches,
           "syscalls": rules}
    if profile.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    return out


def podman_seccomp(caps):
    with tempfile.TemporaryDirectory() as d:
        return to_oci(fetch_profile(d), caps)
