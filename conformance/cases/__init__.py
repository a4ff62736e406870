"""The requirements of runtime-spec v1.3.0, each with a check through the CLI,
one module per spec document.

Ids are <document>.<field or operation>.<what>, and a requirement lives in the
module of its id's document: config.hooks.prestart-failure is in config.py
although its words are runtime.md's (the spec column of the report says where
the words are). Levels are the spec's words (MUST, SHOULD, MAY); "runc" marks
behaviour the spec leaves open where runc is the reference engines expect.
Each function is named after what it checks; importing this package registers
them all (harness.REQUIREMENTS), in the order below, which is the report's.

    runtime.py        runtime.md: state, create, start, kill, delete, lifecycle
    config.py         config.md: root, mounts, process, hostname, hooks
    config_linux.py   config-linux.md: namespaces, paths, devices, seccomp, cgroups
    runtime_linux.py  runtime-linux.md: default devices, /dev symlinks
    features.py       features.md: the features document
    bundle.py         the edits a check makes to its bundle (shared)
    host.py           what the host offers: cgroup hierarchies, /proc/<pid>/ns names
"""
from . import runtime, config, config_linux, runtime_linux, features  # noqa: F401
