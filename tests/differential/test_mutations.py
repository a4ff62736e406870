"""Corpus configs mutated field by field, within the schema, through both
runtimes: capability sets, the user, mounts and their options, seccomp rules,
hooks, namespaces, resources. Any difference that tests/differential/known.py
does not accept fails the test, with the config that shows it.

CI runs 25 derandomized examples; OCIRT_LONG=1 runs 500.
"""
import copy
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.differential import known
from tests.differential.conftest import corpus_names, load_config
from tests.differential.test_corpus import extra_args

CORPUS = {n: load_config(n) for n in corpus_names()}
CAP_SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")
CAPS = ("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETUID", "CAP_SETGID",
        "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_ADMIN", "CAP_SYS_PTRACE",
        "CAP_SYS_CHROOT", "CAP_AUDIT_WRITE", "CAP_SETPCAP", "CAP_SYS_RESOURCE")
MOUNT_FLAGS = ("ro", "rw", "nosuid", "nodev", "noexec", "noatime", "strictatime",
               "nodiratime", "relatime")
PROPAGATION = ("private", "rprivate", "slave", "rslave", "shared", "rshared")
SYSCALLS = ("mknodat", "acct", "getcwd", "getgroups", "personality", "sethostname",
            "close_range")
HOOK_POINTS = ("prestart", "createRuntime", "createContainer", "startContainer",
               "poststart", "poststop")


def caps(draw, cfg):
    sets = cfg["process"].setdefault("capabilities", {})
    which = draw(st.sampled_from(CAP_SETS))
    names = sets.setdefault(which, [])
    cap = draw(st.sampled_from(CAPS))
    if cap in names:
        names.remove(cap)
    else:
        names.append(cap)


def user(draw, cfg):
    u = cfg["process"]["user"]
    u["uid"] = draw(st.sampled_from((0, 1000, 65534)))
    u["gid"] = draw(st.sampled_from((0, 1000)))
    groups = draw(st.lists(st.sampled_from((10, 1000, 2000)), unique=True, max_size=2))
    if groups:
        u["additionalGids"] = groups
    else:
        u.pop("additionalGids", None)
    umask = draw(st.sampled_from((None, 0, 0o22, 0o77)))
    if umask is None:
        u.pop("umask", None)
    else:
        u["umask"] = umask


def mounts(draw, cfg):
    kind = draw(st.sampled_from(("tmpfs", "bind", "remove")))
    ms = cfg.setdefault("mounts", [])
    if kind == "remove":
        removable = [m for m in ms if m["destination"] not in ("/proc", "/dev")]
        if removable:
            ms.remove(draw(st.sampled_from(removable)))
        return
    opts = draw(st.lists(st.sampled_from(MOUNT_FLAGS), unique=True, max_size=3))
    if kind == "tmpfs":
        opts += draw(st.lists(st.sampled_from(("mode=700", "mode=1777", "size=1m")),
                              unique=True, max_size=2))
        ms.append({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs",
                   "options": opts})
    else:
        opts = [draw(st.sampled_from(("bind", "rbind")))] + opts + \
            draw(st.lists(st.sampled_from(PROPAGATION), max_size=1))
        ms.append({"destination": "/mnt/b", "type": "bind", "source": "files/volume",
                   "options": opts, "x-capture-kind": "dir"})


def seccomp(draw, cfg):
    sc = cfg["linux"].setdefault("seccomp", {"defaultAction": "SCMP_ACT_ALLOW",
                                             "architectures": ["SCMP_ARCH_X86_64"]})
    action = draw(st.sampled_from(("SCMP_ACT_ERRNO", "SCMP_ACT_LOG", "SCMP_ACT_KILL")))
    rule = {"names": [draw(st.sampled_from(SYSCALLS))], "action": action}
    if action == "SCMP_ACT_ERRNO" and draw(st.booleans()):
        rule["errnoRet"] = draw(st.sampled_from((1, 38)))
    sc.setdefault("syscalls", []).append(rule)
    if draw(st.booleans()):
        cfg["process"]["noNewPrivileges"] = draw(st.booleans())


def hooks(draw, cfg):
    point = draw(st.sampled_from(HOOK_POINTS))
    ok = draw(st.booleans())
    path = "/bin/true" if ok else "/bin/false"
    hook = {"path": path, "args": [os.path.basename(path), "differential"]}
    if draw(st.booleans()):
        hook["env"] = ["DIFFERENTIAL=1"]
    cfg.setdefault("hooks", {}).setdefault(point, []).append(hook)


def namespaces(draw, cfg):
    nss = cfg["linux"]["namespaces"]
    op = draw(st.sampled_from(("remove", "cgroup", "user")))
    if op == "remove":
        nss.remove(draw(st.sampled_from(nss)))
    elif op == "cgroup" and not any(n["type"] == "cgroup" for n in nss):
        nss.append({"type": "cgroup"})
    elif op == "user" and not any(n["type"] == "user" for n in nss):
        nss.append({"type": "user"})
        host = draw(st.sampled_from((0, 100000)))
        for key in ("uidMappings", "gidMappings"):
            cfg["linux"][key] = [{"containerID": 0, "hostID": host, "size": 65536}]


def resources(draw, cfg):
    res = cfg["linux"].setdefault("resources", {})
    which = draw(st.sampled_from(("memory", "pids", "cpu")))
    if which == "memory":
        res["memory"] = {"limit": draw(st.sampled_from((64 << 20, 256 << 20)))}
    elif which == "pids":
        res["pids"] = {"limit": draw(st.sampled_from((50, 500)))}
    else:
        res["cpu"] = draw(st.sampled_from(({"shares": 2}, {"shares": 512},
                                           {"quota": 50000, "period": 100000})))


MUTATIONS = {"caps": caps, "user": user, "mounts": mounts, "seccomp": seccomp,
             "hooks": hooks, "namespaces": namespaces, "resources": resources}


@st.composite
def mutated_configs(draw):
    name = draw(st.sampled_from(sorted(CORPUS)))
    cfg = copy.deepcopy(CORPUS[name])
    cfg["process"]["terminal"] = False  # the corpus test covers terminals
    cfg.setdefault("linux", {}).setdefault("namespaces", [])
    for m in draw(st.lists(st.sampled_from(sorted(MUTATIONS)), min_size=1, max_size=3)):
        MUTATIONS[m](draw, cfg)
    return cfg


# OCIRT_DIFF_EXAMPLES=N runs N; OCIRT_DIFF_RANDOM=1 draws fresh examples
EXAMPLES = int(os.environ.get("OCIRT_DIFF_EXAMPLES")
               or (500 if os.environ.get("OCIRT_LONG") else 25))


@settings(max_examples=EXAMPLES, derandomize=not os.environ.get("OCIRT_DIFF_RANDOM"),
          database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(cfg=mutated_configs())
def test_mutated_corpus_configs_run_the_same(differ, cfg):
    pending = known.pending_for(cfg)
    o, r = differ.observe(cfg, extra_args(cfg))
    bad = differ.unexplained(cfg, o, r)
    if bad and pending:
        return  # a difference issue 13 section 2 is fixing (known.PENDING_CONFIGS)
    differ.fail_on(cfg, o, r, bad)
