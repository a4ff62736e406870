"""features.md: what `features` prints: valid against its schema, and true."""
import json
import os
import subprocess

from harness import REPO, Fail, requirement
from .bundle import set_fields
from .host import NS_PROC


@requirement("features.schema", "features.md", "MUST",
             "`features` prints a document valid against the features schema")
def features_validates_against_the_schema(t):
    import jsonschema
    p = subprocess.run([t.runtime, "features"], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise Fail(f"features exited {p.returncode}: {p.stderr.strip()[:200]}")
    with open(os.path.join(REPO, "schemas",
                           "features-schema.json")) as f:
        jsonschema.validate(json.loads(p.stdout), json.load(f))


@requirement("features.matches-behaviour", "features.md", "MUST",
             "what `features` lists is supported: every namespace and seccomp action it "
             "names works")
def features_lists_only_what_works(t):
    p = subprocess.run([t.runtime, "features"], capture_output=True, text=True, timeout=60)
    doc = json.loads(p.stdout)
    nss = (doc.get("linux") or {}).get("namespaces") or []
    if not nss:
        raise Fail("no namespaces listed")
    r = t.check(set_fields(**{"linux.namespaces": [{"type": x} for x in nss if x != "user"]}))
    for x in nss:
        if x != "user" and r["namespaces"][NS_PROC[x]] == t.world.host_ns[NS_PROC[x]]:
            raise Fail(f"features lists {x}, but it was not made")
    actions = ((doc.get("linux") or {}).get("seccomp") or {}).get("actions") or []
    for a in actions:
        if a in ("SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD",
                 "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP"):
            continue  # need a listener / a tracer / end the checker
        sec = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["acct"], "action": a}]}
        t.check(set_fields(**{"linux.seccomp": sec}))
