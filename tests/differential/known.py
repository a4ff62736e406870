"""The differences between ocirt and runc that the harness accepts.

ALLOWED: differences where ocirt is right, or where the spec leaves the choice
to the runtime; each is listed, with the spec's words, in CONFORMANCE.md,
section "Differences from runc" (the `ref` names the entry).

PENDING: differences that issue 13 section 2 turns into fixes (being made in
other branches). Each names its item; when the fix lands, remove the entry:
the test that needed it then fails if the difference is still there.

A rule is a function (key, ocirt's value, runc's value, config) -> bool; a
difference is accepted when one rule holds for it.
"""
import re

MOUNT = re.compile(r"^report\.mountinfo\.(?P<point>/[^#]*)(#\d+)?$")


def _mount(key):
    m = MOUNT.match(key)
    return m.group("point") if m else None


def _fields(value):
    """"opts tags type source super" -> its five fields (or None)."""
    if not isinstance(value, str):
        return None
    f = value.split(" ")
    return f if len(f) == 5 else None


def _config_mount(cfg, point):
    for m in cfg.get("mounts", []):
        if m.get("destination", "").rstrip("/") == point:
            return m
    return None


def superblock_readonly(key, o, r, cfg):
    """The same read-only mount; runc passes `ro` to mount(2), so the
    superblock reads `ro` too; ocirt mounts, then makes the mount read-only
    (MS_REMOUNT|MS_BIND|MS_RDONLY): only the superblock's flags differ. The
    masked directories' empty tmpfs is such a mount (ocirt also asks for
    size=0k there, an empty tmpfs)."""
    fo, fr = _fields(o), _fields(r)
    if not (_mount(key) and fo and fr):
        return False
    same = fo[:4] == fr[:4] and "ro" in fo[0].split(",")
    sup = lambda s: [x for x in s.split(",") if x not in ("ro", "rw", "size=0k")]  # noqa: E731
    return same and sup(fo[4]) == sup(fr[4])


def masked_file_is_dev_null(key, o, r, cfg):
    """A masked file is a bind mount of /dev/null: runc binds the node it made
    in the container's /dev (a tmpfs), ocirt binds the host's /dev/null
    (devtmpfs), which a container cannot have replaced."""
    point = _mount(key)
    fo, fr = _fields(o), _fields(r)
    return bool(point and fo and fr and point in cfg.get("linux", {}).get("maskedPaths", [])
                and fo[2] == "devtmpfs" and fr[2] in ("tmpfs", "devtmpfs"))


def cgroup_tmpfs_readonly(key, o, r, cfg):
    """With a `cgroup` mount on a cgroup v1 host, both runtimes put a tmpfs at
    the destination and the hierarchies in it; the config's `ro` makes that
    tmpfs read-only in ocirt, runc leaves it writable (and makes its root
    directory 0555 instead)."""
    st = re.match(r"^report\.stat\.(/.*)\.mode$", key)
    if st:
        m = _config_mount(cfg, st.group(1).rstrip("/"))
        return bool(m and m.get("type") == "cgroup" and (o, r) == (0o755, 0o555))
    point = _mount(key)
    m = _config_mount(cfg, point) if point else None
    fo, fr = _fields(o), _fields(r)
    return bool(m and m.get("type") == "cgroup" and "ro" in m.get("options", [])
                and fo and fr and fo[2] == fr[2] == "tmpfs"
                and fo[0].split(",")[0] == "ro" and fr[0].split(",")[0] == "rw")


def cgroup_unified_on_hybrid(key, o, r, cfg):
    """On a hybrid host, a `cgroup` mount gets the cgroup2 hierarchy too, at
    `unified` as on the host; runc 1.1.5 mounts only the v1 hierarchies."""
    point = _mount(key)
    if not point or not point.endswith("/unified") or r != "<absent>":
        return False
    m = _config_mount(cfg, point.rsplit("/", 1)[0])
    fo = _fields(o)
    return bool(m and m.get("type") == "cgroup" and fo and fo[2] == "cgroup2")


def cgroup_named_hierarchy_source(key, o, r, cfg):
    """In a new cgroup namespace, both mount each hierarchy afresh; ocirt
    gives the mount the config's `source` ("cgroup"), runc names a named
    hierarchy's mount after it ("systemd")."""
    fo, fr = _fields(o), _fields(r)
    return bool(_mount(key) and fo and fr and fo[2] == fr[2] == "cgroup"
                and fo[:3] + fo[4:] == fr[:3] + fr[4:] and "name=" in fo[4])


def _failing_hooks(cfg, point):
    return any(h.get("path") == "/bin/false" for h in cfg.get("hooks", {}).get(point, []))


LIFECYCLE = re.compile(r"^(create|start|delete|kill\.stopped|after-failed-create\.state)\.rc$"
                       r"|^(state\.|left\.|report\.|process\.)")


def poststart_failure(key, o, r, cfg):
    """A failing poststart hook: runc 1.1.5 runs poststart hooks during
    `create`, which fails; ocirt runs them after the process has started,
    and `start` fails (runtime.md, v1.3.0)."""
    return _failing_hooks(cfg, "poststart") and bool(LIFECYCLE.match(key))


def startcontainer_failure_start_rc(key, o, r, cfg):
    """A failing startContainer hook: `start` is an error in ocirt (runtime.md:
    "the runtime MUST generate an error"); runc 1.1.5's start exits 0."""
    return _failing_hooks(cfg, "startContainer") and key == "start.rc" and (o, r) == (1, 0)


def mqueue_owned_by_container_root(key, o, r, cfg):
    """In a user namespace, ocirt mounts mqueue as the container's root (gid 0
    inside); runc mounts it with the host's gid 0, unmapped there (65534)."""
    return key in ("report.dev.mqueue.gid", "report.stat./dev/mqueue.gid") \
        and (o, r) == (0, 65534) and any(n.get("type") == "user" for n in
                                         cfg.get("linux", {}).get("namespaces", []))


def tmpfs_mode_option(key, o, r, cfg):
    """A tmpfs with mode=: ocirt's has that mode; runc 1.1.5 gives the
    mountpoint's mode (or 1777 for one it made) whatever mode= says. The
    conformance row config.mounts.data (runc fails it)."""
    st = re.match(r"^report\.stat\.(/.*)\.mode$", key)
    top = [m for m in cfg.get("mounts", []) if st and
           m.get("destination", "").rstrip("/") == st.group(1).rstrip("/")]
    m = top[-1] if top else None  # the last one mounted there is seen
    point = _mount(key)
    if point and not st:  # its superblock: ocirt's has the mode= runc leaves out
        fo, fr = _fields(o), _fields(r)
        tmpfs = [x for x in cfg.get("mounts", []) if x.get("destination", "").rstrip("/")
                 == point and x.get("type") == "tmpfs"
                 and any(y.startswith("mode=") for y in x.get("options", []))]
        strip = lambda f: [y for y in f.split(",") if not y.startswith("mode=")]  # noqa: E731
        return bool(tmpfs and fo and fr and fo[:4] == fr[:4] and strip(fo[4]) == strip(fr[4]))
    if not m or m.get("type") != "tmpfs":
        return False
    modes = [x[5:] for x in m.get("options", []) if x.startswith("mode=")]
    return bool(modes) and o == int(modes[-1], 8) & 0o7777


def state_oci_version(key, o, r, cfg):
    """state's ociVersion: the version of the spec the state complies with
    (runtime.md), each runtime's own: 1.3.0 for ocirt, 1.0.2-dev for runc
    1.1.5, whatever the config says."""
    return key.startswith("state.") and key.endswith(".ociVersion") and o == "1.3.0"


ALLOWED = [
    # (rule, CONFORMANCE.md entry)
    (superblock_readonly, "read-only mounts: superblock flags"),
    (masked_file_is_dev_null, "masked files: the host's /dev/null"),
    (cgroup_tmpfs_readonly, "cgroup mount: read-only tmpfs"),
    (cgroup_unified_on_hybrid, "cgroup mount: the cgroup2 hierarchy of a hybrid host"),
    (cgroup_named_hierarchy_source, "cgroup mount: the source of a named hierarchy"),
    (poststart_failure, "config.hooks.poststart-after-start, config.hooks.poststart-failure"),
    (startcontainer_failure_start_rc, "startContainer hook failure: start's status"),
    (mqueue_owned_by_container_root, "mqueue in a user namespace: its owner"),
    (state_oci_version, "state: ociVersion"),
    (tmpfs_mode_option, "config.mounts.data"),
]

PENDING = [
    # (rule, "issue13 §2.N" or "reported: ..." for a bug outside section 2)
]

# configs that meet a pending item: any difference they show is accepted
# (the mutation test counts them apart); (predicate on the config, item)
def _host_lacks_a_listed_cap(cfg):
    """A capability in the config that the runtime's bounding set lacks
    (CAP_SYS_RESOURCE here): ocirt warns and runs, runc 1.1.5 fails
    ("unable to apply caps")."""
    with open("/proc/self/status") as f:
        bnd = int(next(line for line in f if line.startswith("CapBnd:")).split()[1], 16)
    from ocirt.linux.capabilities import NUMBERS
    names = {n for v in cfg.get("process", {}).get("capabilities", {}).values() for n in v}
    return any(n in NUMBERS and not bnd >> NUMBERS[n] & 1 for n in names)


def _effective_not_permitted(cfg):
    """An effective capability outside the permitted set: it cannot be granted
    (capset(2) refuses E beyond P); ocirt warns and leaves it out, runc 1.1.5
    fails ("unable to apply caps")."""
    caps = cfg.get("process", {}).get("capabilities", {})
    return bool(set(caps.get("effective", ())) - set(caps.get("permitted", ())))


def _early_filter_refuses_calls(cfg):
    """A seccomp profile that refuses some calls, loaded before the runtime
    is done (noNewPrivileges false: the filter must load while the runtime
    still has CAP_SYS_ADMIN). runc 1.1.5 makes calls after loading it
    (getcwd, close_range, ...) and fails when the profile refuses one;
    ocirt makes none that a profile can refuse (issue 13 §2.2)."""
    proc, sc = cfg.get("process", {}), cfg.get("linux", {}).get("seccomp")
    return bool(sc) and not proc.get("noNewPrivileges") and any(
        r.get("action") != "SCMP_ACT_ALLOW" for r in sc.get("syscalls", []))


PENDING_CONFIGS = [
]

# configs where runc refuses what ocirt runs, and the spec sides with ocirt:
# (predicate on the config, CONFORMANCE.md entry); the whole run differs
ALLOWED_CONFIGS = [
    # config.md: capabilities that cannot be granted "MUST be logged as a
    # warning by the runtime. Runtimes SHOULD NOT fail"
    (_host_lacks_a_listed_cap, "capabilities that cannot be granted"),
    (_effective_not_permitted, "capabilities that cannot be granted"),
    # runc 1.1.5: "unable to restrict sys entries without a private MNT
    # namespace" (masked or read-only paths); config-linux.md: without a mount
    # namespace the container inherits the runtime's, and the paths are the
    # container's own /proc and /sys
    (_early_filter_refuses_calls, "seccomp profiles refusing the runtime's calls"),
    (lambda cfg: not any(n.get("type") == "mount" for n in
                         cfg.get("linux", {}).get("namespaces", [])),
     "no mount namespace"),
]


def whole_run_allowed(cfg, o, r):
    """The ALLOWED_CONFIGS entry that accepts every difference of this run
    (ocirt's create succeeded, runc's failed), or None."""
    if o.get("create.rc") == 0 and r.get("create.rc") not in (0, None):  # or "timeout"
        for pred, ref in ALLOWED_CONFIGS:
            if pred(cfg):
                return ref
        # any other set ocirt could not grant (an inheritable capability
        # outside the bounding set, ...): ocirt said so, runc failed on it
        if "cannot be granted" in (o.get("create.stderr") or "") and \
                "unable to apply caps" in (r.get("create.stderr") or ""):
            return "capabilities that cannot be granted"
    return None


def pending_for(cfg):
    """The pending items (issue13 §2.N) this config meets."""
    return [item for pred, item in PENDING_CONFIGS if pred(cfg)]


def explain(key, o, r, cfg):
    """The allow-list entry (or pending item) that accepts this difference, or None."""
    for rule, ref in ALLOWED + PENDING:
        if rule(key, o, r, cfg):
            return ref
    return None
