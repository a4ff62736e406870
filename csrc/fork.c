/*
 * ocirt_fork_into_cgroup: os.fork(), but by clone3: the child is born in a
 * cgroup v2 directory (CLONE_INTO_CGROUP, when cgroup_fd >= 0) and in new
 * namespaces (the CLONE_NEW* flags given).
 *
 * This is the one shim function that touches the Python runtime, and only
 * to do what os.fork() does around the system call: cffi calls it without
 * the GIL, so it takes the GIL, runs CPython's before-fork / after-fork
 * handlers (GIL and import lock re-initialisation in the child,
 * os.register_at_fork callbacks), and gives the GIL back.
 *
 * Why: moving a process by writing cgroup.procs takes the kernel's global
 * cgroup_threadgroup_rwsem for writing, and the first writer after a quiet
 * spell waits for an RCU grace period (5-20 ms here). A child created in
 * its cgroup only takes that lock for reading. And a child cloned into its
 * namespaces saves create a process: without it, an intermediate process
 * unshares them and forks the container's init (see ocirt.stage1).
 *
 * The caller must be single-threaded, as for any fork that continues in
 * Python. Returns the child's pid in the parent, 0 in the child, -errno.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/sched.h>

#include "ocirt.h"

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* The kernel's struct clone_args, version 2 (with the cgroup field). */
struct ocirt_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal;
    uint64_t stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

long ocirt_fork_into_cgroup(int cgroup_fd, unsigned long long ns_flags)
{
    struct ocirt_clone_args args;
    PyGILState_STATE gil;
    long pid;
    int saved;

    memset(&args, 0, sizeof args);
    args.flags = ns_flags;
    if (cgroup_fd >= 0) {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = (uint64_t)cgroup_fd;
    }
    args.exit_signal = SIGCHLD;

    gil = PyGILState_Ensure();
    PyOS_BeforeFork();
    pid = syscall(SYS_clone3, &args, sizeof args);
    saved = errno;
    if (pid == 0)
        PyOS_AfterFork_Child();
    else
        PyOS_AfterFork_Parent();
    PyGILState_Release(gil);
    return pid < 0 ? -saved : pid;
}
