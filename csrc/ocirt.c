/* See ocirt.h for the conventions. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/capability.h>
#include <seccomp.h>

#include "ocirt.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_fsconfig
#define SYS_fsconfig 431
#endif
#ifndef SYS_fsmount
#define SYS_fsmount 432
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

#define RET(expr) return ((expr) < 0 ? -errno : 0)

struct ocirt_open_how {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
};

struct ocirt_mount_attr {
    uint64_t attr_set;
    uint64_t attr_clr;
    uint64_t propagation;
    uint64_t userns_fd;
};

int ocirt_unshare(int flags) { RET(unshare(flags)); }

int ocirt_setns(int fd, int nstype) { RET(setns(fd, nstype)); }

int ocirt_mount(const char *source, const char *target, const char *fstype,
                unsigned long flags, const char *data)
{
    RET(mount(source, target, fstype, flags, data));
}

int ocirt_umount2(const char *target, int flags) { RET(umount2(target, flags)); }

int ocirt_pivot_root(const char *new_root, const char *put_old)
{
    RET(syscall(SYS_pivot_root, new_root, put_old));
}

int ocirt_openat2(int dirfd, const char *path, int flags, int mode,
                  unsigned long long resolve)
{
    struct ocirt_open_how how;
    long fd;

    memset(&how, 0, sizeof(how));
    how.flags = (uint64_t)(unsigned int)flags;
    how.mode = (uint64_t)mode;
    how.resolve = resolve;
    fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
    return fd < 0 ? -errno : (int)fd;
}

int ocirt_mount_setattr(int dirfd, const char *path, unsigned int flags,
                        unsigned long long attr_set, unsigned long long attr_clr,
                        unsigned long long propagation, int userns_fd)
{
    struct ocirt_mount_attr attr;

    memset(&attr, 0, sizeof(attr));
    attr.attr_set = attr_set;
    attr.attr_clr = attr_clr;
    attr.propagation = propagation;
    attr.userns_fd = userns_fd < 0 ? 0 : (uint64_t)userns_fd;
    RET(syscall(SYS_mount_setattr, dirfd, path, flags, &attr, sizeof(attr)));
}

int ocirt_prctl(int option, unsigned long a2, unsigned long a3,
                unsigned long a4, unsigned long a5)
{
    int r = prctl(option, a2, a3, a4, a5);
    return r < 0 ? -errno : r;
}

int ocirt_close_range(unsigned int first, unsigned int last, unsigned int flags)
{
    RET(syscall(SYS_close_range, first, last, flags));
}

int ocirt_setdomainname(const char *name, int len)
{
    RET(setdomainname(name, (size_t)len));
}

int ocirt_setgroups(int n, const unsigned int *gids)
{
    /* The raw system call: glibc's wrapper would broadcast to other threads. */
    RET(syscall(SYS_setgroups, n, gids));
}

int ocirt_capset(unsigned int effective[2], unsigned int permitted[2],
                 unsigned int inheritable[2])
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    int i;

    for (i = 0; i < 2; i++) {
        data[i].effective = effective[i];
        data[i].permitted = permitted[i];
        data[i].inheritable = inheritable[i];
    }
    RET(syscall(SYS_capset, &hdr, data));
}

int ocirt_capget(int pid, unsigned int effective[2], unsigned int permitted[2],
                 unsigned int inheritable[2])
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, pid};
    struct __user_cap_data_struct data[2];
    int i;

    if (syscall(SYS_capget, &hdr, data) < 0)
        return -errno;
    for (i = 0; i < 2; i++) {
        effective[i] = data[i].effective;
        permitted[i] = data[i].permitted;
        inheritable[i] = data[i].inheritable;
    }
    return 0;
}

int ocirt_last_cap(void)
{
    /* Probe the bounding set: the highest cap the kernel knows answers >= 0. */
    int cap = 0;
    while (cap < 64 && prctl(PR_CAPBSET_READ, cap + 1, 0, 0, 0) >= 0)
        cap++;
    return cap;
}

int ocirt_seccomp_version(unsigned int out[3])
{
    const struct scmp_version *v = seccomp_version();

    if (v == NULL)
        return -ENOSYS;
    out[0] = v->major;
    out[1] = v->minor;
    out[2] = v->micro;
    return 0;
}

int ocirt_join_session_keyring(const char *name)
{
    /* KEYCTL_JOIN_SESSION_KEYRING: a new session keyring named <name>. */
    long id = syscall(SYS_keyctl, 1, name, 0, 0, 0);

    return id < 0 ? -errno : (int)id;
}

void *ocirt_seccomp_new(unsigned int default_action)
{
    return seccomp_init(default_action);
}

void ocirt_seccomp_free(void *filter)
{
    seccomp_release((scmp_filter_ctx)filter);
}

int ocirt_seccomp_arch(void *filter, const char *name)
{
    uint32_t token = seccomp_arch_resolve_name(name);
    int r;

    if (token == 0)
        return -EINVAL;
    r = seccomp_arch_add((scmp_filter_ctx)filter, token);
    return r == -EEXIST ? 0 : r;
}

int ocirt_seccomp_resolve(const char *name)
{
    return seccomp_syscall_resolve_name(name);
}

int ocirt_seccomp_attr(void *filter, int attr, unsigned int value)
{
    return seccomp_attr_set((scmp_filter_ctx)filter, (enum scmp_filter_attr)attr, value);
}

int ocirt_seccomp_rule(void *filter, unsigned int action, int nr, unsigned int nargs,
                       const struct ocirt_arg *args)
{
    struct scmp_arg_cmp cmp[6];
    unsigned int i;

    if (nargs > 6)
        return -EINVAL;
    for (i = 0; i < nargs; i++) {
        cmp[i].arg = args[i].index;
        cmp[i].op = (enum scmp_compare)args[i].op;
        cmp[i].datum_a = args[i].value;
        cmp[i].datum_b = args[i].value_two;
    }
    return seccomp_rule_add_array((scmp_filter_ctx)filter, action, nr, nargs, cmp);
}

int ocirt_seccomp_load(void *filter)
{
    return seccomp_load((scmp_filter_ctx)filter);
}

int ocirt_personality(unsigned long persona)
{
    return personality(persona) < 0 ? -errno : 0;
}

/* rlimits without Python's resource module (an extension to load on every
   create). RLIM_INFINITY is ~0ULL, as in the kernel. */
int ocirt_setrlimit(int resource, unsigned long long soft, unsigned long long hard)
{
    struct rlimit rl = {.rlim_cur = soft, .rlim_max = hard};
    return setrlimit(resource, &rl) < 0 ? -errno : 0;
}

int ocirt_getrlimit(int resource, unsigned long long limits[2])
{
    struct rlimit rl;
    if (getrlimit(resource, &rl) < 0)
        return -errno;
    limits[0] = rl.rlim_cur;
    limits[1] = rl.rlim_max;
    return 0;
}

/* Set IFF_UP on the network interface `name` of this network namespace. */
int ocirt_link_up(const char *name)
{
    struct ifreq ifr;
    int fd, ret = 0;

    if (strlen(name) >= IFNAMSIZ)
        return -EINVAL;
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    memset(&ifr, 0, sizeof(ifr));
    strcpy(ifr.ifr_name, name);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
        ret = -errno;
    } else if (!(ifr.ifr_flags & IFF_UP)) {
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
            ret = -errno;
    }
    close(fd);
    return ret;
}

int ocirt_set_mempolicy(int mode, const unsigned long *nodes, unsigned long nwords)
{
    /* the kernel reads maxnode - 1 bits */
    unsigned long maxnode = nwords ? nwords * 8 * sizeof(unsigned long) + 1 : 0;
    RET(syscall(SYS_set_mempolicy, mode, nwords ? nodes : NULL, maxnode));
}

int ocirt_ioprio_set(int ioprio)
{
    /* IOPRIO_WHO_PROCESS (1), this process (0) */
    RET(syscall(SYS_ioprio_set, 1, 0, ioprio));
}

struct ocirt_sched_attr {
    uint32_t size;
    uint32_t sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime;
    uint64_t sched_deadline;
    uint64_t sched_period;
};

int ocirt_sched_setattr(unsigned int policy, unsigned long long flags, int nice,
                        unsigned int priority, unsigned long long runtime,
                        unsigned long long deadline, unsigned long long period)
{
    struct ocirt_sched_attr attr;

    memset(&attr, 0, sizeof(attr));
    attr.size = sizeof(attr);
    attr.sched_policy = policy;
    attr.sched_flags = flags;
    attr.sched_nice = nice;
    attr.sched_priority = priority;
    attr.sched_runtime = runtime;
    attr.sched_deadline = deadline;
    attr.sched_period = period;
    RET(syscall(SYS_sched_setattr, 0, &attr, 0));
}

int ocirt_seccomp_notify_fd(void *filter)
{
    return seccomp_notify_fd((scmp_filter_ctx)filter);
}

int ocirt_open_tree(int dirfd, const char *path, unsigned int flags)
{
    long fd = syscall(SYS_open_tree, dirfd, path, flags);

    return fd < 0 ? -errno : (int)fd;
}

int ocirt_move_mount(int from_dirfd, const char *from_path, int to_dirfd, const char *to_path,
                     unsigned int flags)
{
    RET(syscall(SYS_move_mount, from_dirfd, from_path, to_dirfd, to_path, flags));
}

int ocirt_fsopen(const char *fstype, unsigned int flags)
{
    long fd = syscall(SYS_fsopen, fstype, flags);

    return fd < 0 ? -errno : (int)fd;
}

int ocirt_fsconfig(int fs_fd, unsigned int cmd, const char *key, const char *value, int aux)
{
    RET(syscall(SYS_fsconfig, fs_fd, cmd, key, value, aux));
}

int ocirt_fsmount(int fs_fd, unsigned int flags, unsigned int attr_flags)
{
    long fd = syscall(SYS_fsmount, fs_fd, flags, attr_flags);

    return fd < 0 ? -errno : (int)fd;
}

int ocirt_fstatfs_type(int fd, unsigned long long *type)
{
    struct statfs st;

    if (fstatfs(fd, &st) < 0)
        return -errno;
    *type = (unsigned long long)st.f_type;
    return 0;
}

/* The id of the mount that fd is on: with want_unique, the 64-bit one that
 * is never reused (STATX_MNT_ID_UNIQUE, Linux 6.8) if the kernel has it
 * (*unique = 1), else the one of /proc/self/mountinfo; *root = 1 if fd is
 * that mount's root. */
int ocirt_mount_id(int fd, int want_unique, unsigned long long *id, int *unique, int *root)
{
    struct statx stx;

    memset(&stx, 0, sizeof(stx));
    if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW,
              want_unique ? 0x4000 /* STATX_MNT_ID_UNIQUE */ : 0x1000 /* STATX_MNT_ID */,
              &stx) < 0)
        return -errno;
    if (!(stx.stx_mask & (0x4000 | 0x1000 /* STATX_MNT_ID */)))
        return -EOPNOTSUPP;
    *id = stx.stx_mnt_id;
    *unique = !!(stx.stx_mask & 0x4000);
    *root = !!(stx.stx_attributes & 0x2000 /* STATX_ATTR_MOUNT_ROOT */);
    return 0;
}

int ocirt_seccomp_load_flags(void *filter, unsigned int flags)
{
    /* Load the filter with seccomp(2) directly, for flags this libseccomp does
       not know (SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV): export its BPF program
       into a memfd, read it back, and hand it to the kernel. Returns 0, or the
       listener fd when flags ask for SECCOMP_FILTER_FLAG_NEW_LISTENER. */
    struct sock_fprog prog;
    struct stat st;
    void *buf;
    int fd, r, ret;

    fd = (int)syscall(SYS_memfd_create, "ocirt-seccomp", 1U /* MFD_CLOEXEC */);
    if (fd < 0)
        return -errno;
    r = seccomp_export_bpf((scmp_filter_ctx)filter, fd);
    if (r < 0) {
        close(fd);
        return r;
    }
    if (fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size % sizeof(struct sock_filter)) {
        close(fd);
        return -EINVAL;
    }
    buf = malloc((size_t)st.st_size);
    if (buf == NULL) {
        close(fd);
        return -ENOMEM;
    }
    if (pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
        free(buf);
        close(fd);
        return -EIO;
    }
    close(fd);
    prog.len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
    prog.filter = buf;
    ret = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
    if (ret < 0)
        ret = -errno;
    free(buf);
    return ret;
}

/* The exec stub (execstub.c), compiled when the package is built; build.py
   puts its bytes into the module's own source. */
extern const unsigned char ocirt_exec_stub_image[];
extern const unsigned int ocirt_exec_stub_size;

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif

int ocirt_exec_stub_fd(void)
{
    /* A sealed, close-on-exec memfd holding the exec stub: nothing can write
       to it, grow it, shrink it or change its mode once this returns. */
    unsigned int done = 0;
    int fd, seals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

    fd = (int)syscall(SYS_memfd_create, "ocirt-exec", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (fd < 0 && errno == EINVAL) /* before Linux 6.3: no MFD_EXEC, executable anyway */
        fd = (int)syscall(SYS_memfd_create, "ocirt-exec", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -errno;
    while (done < ocirt_exec_stub_size) {
        ssize_t n = write(fd, ocirt_exec_stub_image + done, ocirt_exec_stub_size - done);
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            close(fd);
            return -e;
        }
        done += (unsigned int)n;
    }
    if (fcntl(fd, F_ADD_SEALS, seals | F_SEAL_EXEC) < 0 &&
        (errno != EINVAL || fcntl(fd, F_ADD_SEALS, seals) < 0)) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}
