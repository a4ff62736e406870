/* The floor of bench/run.py: what the kernel charges for a container of
 * /bin/true, with no runtime around it.
 *
 *     floor ROOTFS NAMESPACE...     (NAMESPACE: mount pid ipc uts network cgroup ...)
 *
 * clone() with the given new namespaces; the child makes / private, bind-mounts
 * ROOTFS onto itself, pivot_root()s into it, detaches the old root and execs
 * /bin/true (from ROOTFS).  The parent waits for it and exits with its status.
 * Nothing else: no cgroup, no /proc or /dev mounts, no capabilities, no
 * seccomp, no sync with a parent beyond waitpid.
 *
 * run.py passes the namespaces of the benchmark's own config.json, builds this
 * with gcc and times one invocation (fork + exec of this program included, as
 * for the runtimes).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static const char *rootfs;
static char stack[256 * 1024] __attribute__((aligned(16)));

static void die(const char *what)
{
    fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
    _exit(125);
}

static int child(void *arg)
{
    (void)arg;
    char *argv[] = {"/bin/true", NULL};
    char *envp[] = {"PATH=/bin", NULL};
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        die("make / rprivate");
    if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
        die("bind-mount the rootfs");
    if (chdir(rootfs) < 0)
        die("chdir rootfs");
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        die("pivot_root");
    if (umount2(".", MNT_DETACH) < 0)
        die("detach the old root");
    if (chdir("/") < 0)
        die("chdir /");
    execve(argv[0], argv, envp);
    die("exec /bin/true");
    return 125;
}

static const struct { const char *name; int flag; } namespaces[] = {
    {"mount", CLONE_NEWNS}, {"pid", CLONE_NEWPID}, {"ipc", CLONE_NEWIPC},
    {"uts", CLONE_NEWUTS}, {"network", CLONE_NEWNET}, {"cgroup", CLONE_NEWCGROUP},
    {"user", CLONE_NEWUSER}, {"time", CLONE_NEWTIME},
};

int main(int argc, char **argv)
{
    int flags = SIGCHLD;
    if (argc < 2) {
        fprintf(stderr, "usage: floor ROOTFS [NAMESPACE...]\n");
        return 2;
    }
    rootfs = argv[1];
    for (int i = 2; i < argc; i++) {
        size_t k;
        for (k = 0; k < sizeof namespaces / sizeof namespaces[0]; k++)
            if (strcmp(argv[i], namespaces[k].name) == 0)
                break;
        if (k == sizeof namespaces / sizeof namespaces[0]) {
            fprintf(stderr, "floor: unknown namespace %s\n", argv[i]);
            return 2;
        }
        flags |= namespaces[k].flag;
    }
    if (!(flags & CLONE_NEWNS)) {
        fprintf(stderr, "floor: pivot_root needs a mount namespace\n");
        return 2;
    }
    pid_t pid = clone(child, stack + sizeof stack, flags, NULL);
    if (pid < 0) {
        perror("floor: clone");
        return 125;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            perror("floor: waitpid");
            return 125;
        }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}
