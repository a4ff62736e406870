"""Linux mechanisms: namespaces, mounts, rootfs, devices, cgroups, processes.

Nothing in this package knows about the container lifecycle or the state
store; it takes plain values and performs kernel operations.
"""
