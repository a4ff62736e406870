"""The config.json most tests start from.

Until issue 16 §5 this was `ocirt spec --hardened`. That flag now writes a
hardened template (read-only root, a seccomp allow-list, no capabilities),
which would change what ~2000 tests take for granted, so the tests build
their old base here, explicitly, from runc's template: no terminal (create
needs no console socket), no ambient capabilities, a cgroup namespace,
powercap masked. tests/unit/test_base_spec.py checks that it is byte for
byte what `spec(hardened=True)` wrote before (tests/data/spec-tests-base.json).
"""
from ocirt import defaults


def base_spec():
    """runc's template with the four changes above, as a fresh dict."""
    cfg = defaults.spec()
    cfg["process"]["terminal"] = False
    del cfg["process"]["capabilities"]["ambient"]
    cfg["linux"]["namespaces"].append({"type": "cgroup"})
    cfg["linux"]["maskedPaths"].append("/sys/devices/virtual/powercap")
    return cfg
