/*
 * bpf(2) for cgroup v2 device control: load a BPF_PROG_TYPE_CGROUP_DEVICE
 * program, attach it to / detach it from a cgroup directory, list what is
 * attached. The program itself is built in Python (ocirt/linux/devrules.py);
 * ocirt/linux/bpf.py wraps these. See ocirt.h for the conventions.
 *
 * Every bpf_attr is zeroed whole and passed with its full size: the kernel
 * accepts a larger attr than it knows as long as the unknown tail is zero.
 * Every fd the kernel returns here is O_CLOEXEC already.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/bpf.h>

#include "ocirt.h"

static int sys_bpf(int cmd, union bpf_attr *attr)
{
    long r = syscall(SYS_bpf, cmd, attr, sizeof(*attr));
    return r < 0 ? -errno : (int) r;
}

static uint64_t ptr(const void *p) { return (uint64_t) (uintptr_t) p; }

int ocirt_bpf_prog_load_cgroup_device(const void *insns, int n_insns, const char *license,
                                      const char *name, char *log, int log_size)
{
    union bpf_attr a;

    memset(&a, 0, sizeof(a));
    a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    a.insns = ptr(insns);
    a.insn_cnt = (uint32_t) n_insns;
    a.license = ptr(license);
    if (name)
        strncpy(a.prog_name, name, sizeof(a.prog_name) - 1);
    if (log && log_size > 0) {
        log[0] = '\0';
        a.log_level = 1;
        a.log_buf = ptr(log);
        a.log_size = (uint32_t) log_size;
    }
    return sys_bpf(BPF_PROG_LOAD, &a);
}

int ocirt_bpf_prog_attach(int target_fd, int prog_fd, unsigned int attach_type,
                          unsigned int flags, int replace_fd)
{
    union bpf_attr a;

    memset(&a, 0, sizeof(a));
    a.target_fd = (uint32_t) target_fd;
    a.attach_bpf_fd = (uint32_t) prog_fd;
    a.attach_type = attach_type;
    a.attach_flags = flags;
    if (replace_fd >= 0)
        a.replace_bpf_fd = (uint32_t) replace_fd;
    return sys_bpf(BPF_PROG_ATTACH, &a);
}

int ocirt_bpf_prog_detach(int target_fd, int prog_fd, unsigned int attach_type)
{
    union bpf_attr a;

    memset(&a, 0, sizeof(a));
    a.target_fd = (uint32_t) target_fd;
    a.attach_bpf_fd = (uint32_t) prog_fd;
    a.attach_type = attach_type;
    return sys_bpf(BPF_PROG_DETACH, &a);
}

int ocirt_bpf_prog_query(int target_fd, unsigned int attach_type, unsigned int *ids,
                         unsigned int max_ids)
{
    union bpf_attr a;
    int r;

    memset(&a, 0, sizeof(a));
    a.query.target_fd = (uint32_t) target_fd;
    a.query.attach_type = attach_type;
    a.query.prog_ids = ptr(ids);
    a.query.prog_cnt = max_ids;
    r = sys_bpf(BPF_PROG_QUERY, &a);
    return r < 0 ? r : (int) a.query.prog_cnt;
}

int ocirt_bpf_prog_get_fd_by_id(unsigned int id)
{
    union bpf_attr a;

    memset(&a, 0, sizeof(a));
    a.prog_id = id;
    return sys_bpf(BPF_PROG_GET_FD_BY_ID, &a);
}

int ocirt_bpf_prog_info(int prog_fd, unsigned int *id, unsigned int *type, char *name)
{
    struct bpf_prog_info info;
    union bpf_attr a;
    int r;

    memset(&info, 0, sizeof(info));
    memset(&a, 0, sizeof(a));
    a.info.bpf_fd = (uint32_t) prog_fd;
    a.info.info_len = sizeof(info);
    a.info.info = ptr(&info);
    r = sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a);
    if (r < 0)
        return r;
    *id = info.id;
    *type = info.type;
    memcpy(name, info.name, sizeof(info.name)); /* BPF_OBJ_NAME_LEN, NUL-terminated */
    return 0;
}
