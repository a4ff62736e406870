/*
 * ocirt-exec: the program through which every process in a container is
 * executed (the container's process, an exec'd process, a hook run inside
 * the container). It is a few kilobytes, static and without libc, built
 * when the package is installed, compiled into the C shim as bytes, and
 * run from a sealed memfd (ocirt_exec_stub_fd in ocirt.c).
 *
 * Why: the setup processes are forks of the host's ocirt command. While
 * one of them calls execve, /proc/self/exe is that host file, and a script
 * whose interpreter line is "#!/proc/self/exe" makes the kernel run it
 * inside the container, with the image's own ELF loader (CVE-2019-5736).
 * Exec'ing this stub first makes /proc/self/exe a sealed memfd at the
 * moment the container's program is executed: the trick then runs a
 * private, unwritable copy of this stub, and no host file is within reach.
 *
 * argv: ocirt-exec REPORT_FD PREFIX SUFFIX PERMITTED PATH ARGV0 [ARGS...]
 *   REPORT_FD  an fd to report a failed execve on, or -1. It is inherited
 *              (not close-on-exec) and made close-on-exec here, so that the
 *              other end sees EOF once PATH runs.
 *   PREFIX, SUFFIX  what the report says around the error text: the caller
 *              frames it (a byte tag on a stream, a JSON message on a
 *              SOCK_SEQPACKET channel).
 *   PERMITTED  "-", or the permitted capability set (hex) the caller had
 *              before it executed this stub. A root caller's execve of the
 *              stub raised its permitted set to the bounding set, and the
 *              kernel made it non-dumpable for that; executing PATH with the
 *              set raised already would make PATH dumpable again. So the stub
 *              lowers its permitted set back first, and PATH's execve raises
 *              it, as a runtime that executes PATH directly would have it
 *              (runc: a root process whose permitted set is smaller than its
 *              bounding set is not dumpable). Best effort: a seccomp filter
 *              may refuse capget or capset.
 * On failure it writes PREFIX <error text> SUFFIX to REPORT_FD in one write
 * (the caller puts "exec PATH: " into PREFIX, escaped as its framing needs;
 * the error text is plain ASCII) and exits 127. With fewer arguments it
 * exits 127 at once.
 */
#include <asm/unistd.h>

#if defined(__x86_64__)
__asm__(".text\n.global _start\n_start:\n"
        "  xor %rbp, %rbp\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call stub_main\n  hlt\n");

static long sys3(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return ret;
}
#elif defined(__aarch64__)
__asm__(".text\n.global _start\n_start:\n  mov x0, sp\n  bl stub_main\n");

static long sys3(long nr, long a, long b, long c)
{
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
}
#else
#error "ocirt-exec: no system call stub for this architecture"
#endif

#define F_SETFD 2
#define FD_CLOEXEC 1
#include "stubcommon.h"

__attribute__((used, noreturn)) void stub_main(long *sp)
{
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    char **envp = argv + argc + 1;
    long fd = -1, err;
    const char *p;

    if (argc < 7)
        goto out;
    p = argv[1];
    if (*p >= '0' && *p <= '9') {
        fd = 0;
        for (; *p >= '0' && *p <= '9' && fd < (1L << 30); p++)
            fd = fd * 10 + (*p - '0');
        if (*p)
            fd = -1;
        else
            sys3(__NR_fcntl, fd, F_SETFD, FD_CLOEXEC);
    }
    lower_permitted(argv[4]);
    err = -sys3(__NR_execve, (long)argv[5], (long)(argv + 6), (long)envp);
    report_exec_error(fd, argv[2], argv[3], err);
out:
    for (;;)
        sys3(__NR_exit_group, 127, 0, 0);
}
