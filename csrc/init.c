/*
 * ocirt-init: the built-in init of `ocirt create --init` (or of the
 * annotation org.ocirt.init: "true"). It is pid 1 of the container and runs
 * the container's process (process.args) as its only child, so that a
 * program not written to be pid 1 behaves as it would anywhere else:
 *
 *   - every zombie is reaped: orphans of the process, and of `exec`'d
 *     processes, are re-parented to pid 1 (or to this process, a child
 *     subreaper, where the container shares the runtime's pid namespace);
 *   - every signal that can be caught is forwarded to the child (or to its
 *     process group, when PGRP says so): the kernel gives pid 1 of a pid
 *     namespace no signal from inside it for which it has no handler, and a
 *     program run as pid 1 usually has none for SIGTERM;
 *   - it exits with the child's status, 128+N when the child died of signal N;
 *   - with socket activation, LISTEN_PID names the child, which gets the fds;
 *   - it does nothing else: once the child is gone it exits at once (the
 *     kernel then kills what is left of the pid namespace, as it does when
 *     the container's process is pid 1 itself).
 *
 * The runtime never executes this file on the host's disk: it copies the
 * installed binary into a sealed memfd and executes that (ocirt/linux/pid1.py),
 * so /proc/1/exe in the container is a private copy that nothing can write
 * (CVE-2019-5736). Static and without libc, like the exec stub (execstub.c):
 * a few kilobytes, a few pages resident, and no system call at start-up
 * that the container's seccomp profile might refuse (it runs under it).
 *
 * argv: ocirt-init REPORT_FD PREFIX SUFFIX PERMITTED PGRP PATH ARGV0 [ARGS...]
 *   REPORT_FD, PREFIX, SUFFIX, PERMITTED  as for the exec stub: where and
 *              how to report a failed execve of PATH (the child reports it,
 *              then exits 127, and so does this init), and the permitted
 *              capability set (hex, or "-") the child lowers its own to
 *              before it, so that PATH's execve raises it as the runtime's
 *              own execve would (and PATH is non-dumpable as it would be).
 *   PGRP       "1": signals go to the child's process group; else to the child.
 * The child always leads a process group of its own; where stdin (or
 * stdout, stderr) is the controlling terminal, that group becomes the
 * terminal's foreground group, so that an interactive shell has job
 * control and gets ^C.
 */
#include <asm/unistd.h>

#if defined(__x86_64__)
__asm__(".text\n.global _start\n_start:\n"
        "  xor %rbp, %rbp\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call init_main\n  hlt\n");

static long sys(long nr, long a, long b, long c, long d, long e)
{
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return ret;
}
#elif defined(__aarch64__)
__asm__(".text\n.global _start\n_start:\n  mov x0, sp\n  bl init_main\n");

static long sys(long nr, long a, long b, long c, long d, long e)
{
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4)
                     : "memory");
    return x0;
}
#else
#error "ocirt-init: no system call stub for this architecture"
#endif

#define F_SETFD 2
#define FD_CLOEXEC 1
#define SIG_SETMASK 2
#define SIGCHLD 17
#define WNOHANG 1
#define TIOCGPGRP 0x540F
#define TIOCSPGRP 0x5410
#define PR_SET_CHILD_SUBREAPER 36
#define sys0(n) sys(n, 0, 0, 0, 0, 0)
#define sys1(n, a) sys(n, (long)(a), 0, 0, 0, 0)
#define sys2(n, a, b) sys(n, (long)(a), (long)(b), 0, 0, 0)
#define sys3(n, a, b, c) sys(n, (long)(a), (long)(b), (long)(c), 0, 0)
#define sys4(n, a, b, c, d) sys(n, (long)(a), (long)(b), (long)(c), (long)(d), 0)

#include "stubcommon.h"

static __attribute__((noreturn)) void leave(int code)
{
    for (;;)
        sys1(__NR_exit_group, code);
}

/* Socket activation (LISTEN_FDS): the runtime says LISTEN_PID=<pid 1>, for
   the container's process; that process is this child now, so the variable
   names it instead. Any other value is left as it is. */
static void adopt_listen_pid(char **envp, long me, long parent)
{
    static char var[32] = "LISTEN_PID=";
    char digits[24], *q = digits + sizeof digits - 1, *v;
    const char *want = "LISTEN_PID=";
    unsigned i, n;

    *q = 0;
    do
        *--q = (char)('0' + parent % 10);
    while ((parent /= 10) && q > digits);
    for (; *envp; envp++) {
        for (i = 0; want[i] && (*envp)[i] == want[i]; i++)
            ;
        if (want[i])
            continue;
        for (v = *envp + i, n = 0; v[n] && v[n] == q[n]; n++)
            ;
        if (v[n] || q[n])
            return;
        q = digits + sizeof digits - 1;
        do
            *--q = (char)('0' + me % 10);
        while ((me /= 10) && q > digits);
        put(var, 11, sizeof var - 1, q);
        *envp = var;
        return;
    }
}

/* The child: a process group of its own (the terminal's foreground one, if
   it has a terminal), the runtime's signal mask back, then PATH. */
static __attribute__((noreturn)) void run_child(char **argv, char **envp,
                                                unsigned long caller_mask, long report_fd)
{
    int fd, pgrp;
    long me = sys0(__NR_getpid), err;

    adopt_listen_pid(envp, me, sys0(__NR_getppid));

    sys2(__NR_setpgid, 0, 0);
    for (fd = 0; fd < 3; fd++) {
        /* TIOCGPGRP answers only on our controlling terminal; SIGTTOU is
           blocked, so a background group may take the foreground */
        if (sys3(__NR_ioctl, fd, TIOCGPGRP, &pgrp) >= 0) {
            pgrp = (int)me;
            sys3(__NR_ioctl, fd, TIOCSPGRP, &pgrp);
            break;
        }
    }
    sys4(__NR_rt_sigprocmask, SIG_SETMASK, &caller_mask, 0, 8);
    lower_permitted(argv[4]);
    err = -sys3(__NR_execve, argv[6], argv + 7, envp);
    report_exec_error(report_fd, argv[2], argv[3], err);
    leave(127);
}

__attribute__((used, noreturn)) void init_main(long *sp)
{
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    char **envp = argv + argc + 1;
    long report_fd = -1, child, pid, sig;
    unsigned long all = ~0UL, caller = 0;
    unsigned char info[128]; /* siginfo_t, unread */
    int status, group;
    const char *p;

    if (argc < 8)
        leave(127);
    p = argv[1];
    if (*p >= '0' && *p <= '9') {
        report_fd = 0;
        for (; *p >= '0' && *p <= '9' && report_fd < (1L << 30); p++)
            report_fd = report_fd * 10 + (*p - '0');
        if (*p)
            report_fd = -1;
        else
            sys3(__NR_fcntl, report_fd, F_SETFD, FD_CLOEXEC);
    }
    group = argv[5][0] == '1' && !argv[5][1];
    /* Every signal waits in the queue for rt_sigtimedwait below, from
       before the fork: none is lost, none is acted upon by this process. */
    sys4(__NR_rt_sigprocmask, SIG_SETMASK, &all, &caller, 8);
    /* pid 1 gets the orphans anyway; in a shared pid namespace it would
       not, and they would escape the reaping */
    sys2(__NR_prctl, PR_SET_CHILD_SUBREAPER, 1);
    child = sys(__NR_clone, SIGCHLD, 0, 0, 0, 0);
    if (child == 0)
        run_child(argv, envp, caller, report_fd);
    if (child < 0) {
        report_exec_error(report_fd, argv[2], argv[3], -child);
        leave(127);
    }
    /* the child's copy tells the runtime of its execve: EOF, or a report */
    if (report_fd >= 0)
        sys1(__NR_close, report_fd);
    for (;;) {
        sig = sys4(__NR_rt_sigtimedwait, &all, info, 0, 8);
        if (sig < 0)
            continue; /* EINTR: a stop and continue */
        if (sig != SIGCHLD) {
            /* before the child has made its group, kill(-child) finds none */
            if (!group || sys2(__NR_kill, -child, sig) < 0)
                sys2(__NR_kill, child, sig);
            continue;
        }
        while ((pid = sys4(__NR_wait4, -1, &status, WNOHANG, 0)) > 0) {
            if (pid != child)
                continue;
            if ((status & 0x7f) == 0)                   /* exited */
                leave((status >> 8) & 0xff);
            if ((status & 0x7f) != 0x7f)                /* killed by a signal */
                leave(128 + (status & 0x7f));
        }
    }
}
