"""The container lifecycle: one module per operation, as youki has one file each.

    create   build the container and leave its init waiting for start
    start    release the init (and run poststart hooks)
    kill     signal the init, or every process of the container
    delete   remove what create made (killing first, with --force)
    run      create + start, then wait in the foreground
    exec     a new process in a running container (create's spawn engine, as a tenant)
    pause    pause and resume: the cgroup freezer
    update   new linux.resources for a running container
    events   stats and OOM events
    ps       the container's processes

Each operation loads the container from the state store (ocirt.state), asks
its derived Status whether the operation is allowed, and only then acts, so
that a refused call leaves everything as it was. The modules import one
another only where an operation needs another's steps (start's failure path
kills and deletes), and lazily: `start`, `kill` and `delete` are hot commands,
and each imports only its own module.
"""
