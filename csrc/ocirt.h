/*
 * ocirt C shim: the few Linux system calls that Python's os module lacks.
 *
 * Rules: every function returns 0 (or a non-negative result) on success and
 * -errno on failure; none calls back into Python (except
 * ocirt_fork_into_cgroup, which runs CPython's fork handlers: see fork.c),
 * none allocates memory that Python must free. Every symbol starts with ocirt_.
 */
#ifndef OCIRT_H
#define OCIRT_H

long ocirt_fork_into_cgroup(int cgroup_fd, unsigned long long ns_flags);
int ocirt_unshare(int flags);
int ocirt_setns(int fd, int nstype);
int ocirt_mount(const char *source, const char *target, const char *fstype,
                unsigned long flags, const char *data);
int ocirt_umount2(const char *target, int flags);
int ocirt_pivot_root(const char *new_root, const char *put_old);
int ocirt_openat2(int dirfd, const char *path, int flags, int mode,
                  unsigned long long resolve);
int ocirt_mount_setattr(int dirfd, const char *path, unsigned int flags,
                        unsigned long long attr_set, unsigned long long attr_clr,
                        unsigned long long propagation, int userns_fd);
int ocirt_prctl(int option, unsigned long a2, unsigned long a3,
                unsigned long a4, unsigned long a5);
int ocirt_close_range(unsigned int first, unsigned int last, unsigned int flags);
int ocirt_setdomainname(const char *name, int len);
int ocirt_setgroups(int n, const unsigned int *gids);
int ocirt_capset(unsigned int effective[2], unsigned int permitted[2],
                 unsigned int inheritable[2]);
int ocirt_capget(int pid, unsigned int effective[2], unsigned int permitted[2],
                 unsigned int inheritable[2]);
int ocirt_last_cap(void);
int ocirt_seccomp_version(unsigned int out[3]);
int ocirt_join_session_keyring(const char *name);
int ocirt_personality(unsigned long persona);
int ocirt_setrlimit(int resource, unsigned long long soft, unsigned long long hard);
int ocirt_getrlimit(int resource, unsigned long long limits[2]);
int ocirt_open_tree(int dirfd, const char *path, unsigned int flags);
int ocirt_move_mount(int from_dirfd, const char *from_path, int to_dirfd, const char *to_path,
                     unsigned int flags);
int ocirt_fsopen(const char *fstype, unsigned int flags);
int ocirt_fsconfig(int fs_fd, unsigned int cmd, const char *key, const char *value, int aux);
int ocirt_fsmount(int fs_fd, unsigned int flags, unsigned int attr_flags);
int ocirt_fstatfs_type(int fd, unsigned long long *type);
int ocirt_mount_id(int fd, int want_unique, unsigned long long *id, int *unique, int *root);
int ocirt_ioprio_set(int ioprio);
/* set_mempolicy(2) for this thread: mode with its MPOL_F_* flags, a node
   bitmap of nwords unsigned longs (NULL and 0: no nodes). */
int ocirt_set_mempolicy(int mode, const unsigned long *nodes, unsigned long nwords);
int ocirt_link_up(const char *name);
/* A sealed memfd (close-on-exec) holding the exec stub (execstub.c): every
   program run inside a container is executed through it. */
int ocirt_exec_stub_fd(void);
int ocirt_sched_setattr(unsigned int policy, unsigned long long flags, int nice,
                        unsigned int priority, unsigned long long runtime,
                        unsigned long long deadline, unsigned long long period);

/* seccomp through libseccomp. A filter is built (in the runtime) and loaded
   later (in the container's init, just before exec). */
struct ocirt_arg {
    unsigned int index;
    int op;
    unsigned long long value;
    unsigned long long value_two;
};
void *ocirt_seccomp_new(unsigned int default_action);
void ocirt_seccomp_free(void *filter);
int ocirt_seccomp_arch(void *filter, const char *name);
int ocirt_seccomp_resolve(const char *name);
int ocirt_seccomp_attr(void *filter, int attr, unsigned int value);
int ocirt_seccomp_rule(void *filter, unsigned int action, int nr, unsigned int nargs,
                       const struct ocirt_arg *args);
int ocirt_seccomp_load(void *filter);
int ocirt_seccomp_notify_fd(void *filter);
int ocirt_seccomp_load_flags(void *filter, unsigned int flags);

/* bpf(2) for cgroup v2 device control (bpf.c). attach_type is a BPF_CGROUP_*
   value; replace_fd < 0 for none. ocirt_bpf_prog_query fills up to max_ids
   program ids and returns how many are attached (-ENOSPC: more than max_ids).
   ocirt_bpf_prog_info's name must hold 16 bytes (BPF_OBJ_NAME_LEN). */
int ocirt_bpf_prog_load_cgroup_device(const void *insns, int n_insns, const char *license,
                                      const char *name, char *log, int log_size);
int ocirt_bpf_prog_attach(int target_fd, int prog_fd, unsigned int attach_type,
                          unsigned int flags, int replace_fd);
int ocirt_bpf_prog_detach(int target_fd, int prog_fd, unsigned int attach_type);
int ocirt_bpf_prog_query(int target_fd, unsigned int attach_type, unsigned int *ids,
                         unsigned int max_ids);
int ocirt_bpf_prog_get_fd_by_id(unsigned int id);
int ocirt_bpf_prog_info(int prog_fd, unsigned int *id, unsigned int *type, char *name);

#endif
