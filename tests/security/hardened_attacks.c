/* One system call per argument, each printed as "name errno" (0: it worked).
   Built static by tests/security/test_hardened.py and run in a container
   (the busybox rootfs has no compiler, no python, and no keyctl or bpf tool). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long attack(const char *name)
{
    if (!strcmp(name, "add_key"))
        return syscall(SYS_add_key, "user", "ocirt-test", "x", 1, -2 /* process keyring */);
    if (!strcmp(name, "keyctl"))
        return syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -2, 1);
    if (!strcmp(name, "bpf")) {
        union bpf_attr a;
        memset(&a, 0, sizeof a);
        a.map_type = BPF_MAP_TYPE_ARRAY;
        a.key_size = 4;
        a.value_size = 4;
        a.max_entries = 1;
        return syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof a);
    }
    if (!strcmp(name, "mount"))
        return mount("none", "/tmp", "tmpfs", 0, NULL);
    if (!strcmp(name, "unshare-user"))
        return unshare(CLONE_NEWUSER);
    if (!strcmp(name, "clone-user")) {
        long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
        if (pid == 0)
            _exit(0);
        if (pid > 0)
            waitpid(pid, NULL, 0);
        return pid < 0 ? -1 : 0;
    }
    if (!strcmp(name, "ptrace"))
        return ptrace(PTRACE_TRACEME, 0, 0, 0);
    if (!strcmp(name, "perf_event_open")) {
        struct perf_event_attr a;
        memset(&a, 0, sizeof a);
        a.size = sizeof a;
        a.type = PERF_TYPE_SOFTWARE;
        a.config = PERF_COUNT_SW_CPU_CLOCK;
        a.exclude_kernel = 1;
        return syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
    }
    if (!strcmp(name, "kexec_load"))  /* an architecture that is none: EINVAL once allowed */
        return syscall(SYS_kexec_load, 0, 0, NULL, 0xffff0000UL);
    if (!strcmp(name, "open_by_handle_at")) {
        struct { unsigned int bytes; int type; unsigned char h[8]; } fh = {0, 0, {0}};
        return syscall(SYS_open_by_handle_at, open("/", O_RDONLY), &fh, O_RDONLY);
    }
    if (!strcmp(name, "init_module"))
        return syscall(SYS_init_module, NULL, 0, "");
    errno = EINVAL;
    return -2;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        errno = 0;
        long r = attack(argv[i]);
        printf("%s %d\n", argv[i], r < 0 ? errno : 0);
    }
    return 0;
}
