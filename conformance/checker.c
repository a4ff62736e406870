/*
 * checker: what a container process sees, as one JSON object on stdout.
 *
 * Built statically by the conformance suite and run as the container's
 * process. It only reads; the suite compares its report with config.json,
 * and tests/differential compares the reports of two runtimes.
 *
 *   checker [--sysctl NAME]... [--file PATH]... [--stat PATH]... [--wait FIFO]
 *
 * --sysctl reads /proc/sys/NAME (dots as slashes), --file reads a file's
 * first 4 KiB, --stat reports a path's type, mode, owner and device numbers
 * (lstat), --wait blocks opening FIFO for reading first (a sync point for
 * the suite, e.g. to look at the container while it runs).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <unistd.h>

extern char **environ;

static int first;

static void str(const char *s)
{
    putchar('"');
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void key(const char *k)
{
    if (!first)
        putchar(',');
    first = 0;
    str(k);
    putchar(':');
}

static void begin(char open) { putchar(open); first = 1; }
static void end(char close) { putchar(close); first = 0; }

static void read_file(const char *path, char *buf, size_t size)
{
    /* to the end: a read of a seq_file (mountinfo) may stop at a page */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t len = 0;
    ssize_t n;
    if (fd >= 0) {
        while (len < size - 1 && (n = read(fd, buf + len, size - 1 - len)) > 0)
            len += n;
        close(fd);
    }
    buf[len] = 0;
}

static void file_value(const char *path)
{
    static char buf[65536];
    if (access(path, F_OK) != 0) {
        printf("null");
        return;
    }
    read_file(path, buf, sizeof buf);
    str(buf);
}

static void status_field(const char *status, const char *name)
{
    const char *p = strstr(status, name);
    char val[128] = "";
    if (p) {
        p += strlen(name);
        while (*p == '\t' || *p == ' ')
            p++;
        size_t i = 0;
        while (p[i] && p[i] != '\n' && i < sizeof val - 1) {
            val[i] = p[i];
            i++;
        }
        val[i] = 0;
    }
    str(val);
}

static void stat_path(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        printf("null");
        return;
    }
    const char *type = S_ISDIR(st.st_mode) ? "dir" : S_ISCHR(st.st_mode) ? "char" :
                       S_ISBLK(st.st_mode) ? "block" : S_ISFIFO(st.st_mode) ? "fifo" :
                       S_ISLNK(st.st_mode) ? "symlink" : S_ISSOCK(st.st_mode) ? "socket" : "file";
    begin('{');
    key("type"); str(type);
    key("mode"); printf("%u", st.st_mode & 07777);
    key("uid"); printf("%u", st.st_uid);
    key("gid"); printf("%u", st.st_gid);
    key("major"); printf("%u", major(st.st_rdev));
    key("minor"); printf("%u", minor(st.st_rdev));
    if (S_ISLNK(st.st_mode)) {
        char target[4096];
        ssize_t n = readlink(path, target, sizeof target - 1);
        target[n > 0 ? n : 0] = 0;
        key("target"); str(target);
    }
    end('}');
}

static const struct { const char *name; int res; } limits[] = {
    {"RLIMIT_AS", RLIMIT_AS}, {"RLIMIT_CORE", RLIMIT_CORE}, {"RLIMIT_CPU", RLIMIT_CPU},
    {"RLIMIT_DATA", RLIMIT_DATA}, {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS}, {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_NOFILE", RLIMIT_NOFILE}, {"RLIMIT_NPROC", RLIMIT_NPROC},
    {"RLIMIT_RSS", RLIMIT_RSS}, {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
    {"RLIMIT_RTTIME", RLIMIT_RTTIME}, {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_STACK", RLIMIT_STACK},
};

int main(int argc, char **argv)
{
    char buf[65536], status[8192], path[4352];
    int i;

    for (i = 1; i + 1 < argc; i += 2)
        if (strcmp(argv[i], "--wait") == 0) {
            int fd = open(argv[i + 1], O_RDONLY | O_CLOEXEC);
            if (fd >= 0)
                close(fd);
        }

    read_file("/proc/self/status", status, sizeof status);
    mode_t mask = umask(0);
    umask(mask);

    begin('{');
    key("pid"); printf("%d", getpid());
    key("ppid"); printf("%d", getppid());
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    getresuid(&ru, &eu, &su);
    getresgid(&rg, &eg, &sg);
    key("sid"); printf("%d", getsid(0));
    key("pgid"); printf("%d", getpgrp());
    key("uid"); printf("%u", eu);
    key("gid"); printf("%u", eg);
    key("ruid"); printf("%u", ru);
    key("suid"); printf("%u", su);
    gid_t groups[256];
    int ng = getgroups(256, groups);
    key("groups"); begin('[');
    for (int g = 0; g < ng; g++) {
        if (!first)
            putchar(',');
        first = 0;
        printf("%u", groups[g]);
    }
    end(']');
    key("umask"); printf("%u", mask);
    if (getcwd(buf, sizeof buf)) {
        key("cwd"); str(buf);
    }
    struct utsname u;
    uname(&u);
    key("hostname"); str(u.nodename);
    key("domainname"); str(u.domainname);
    key("machine"); str(u.machine);
    key("personality"); printf("%d", personality(0xffffffff));
    key("no_new_privs"); printf("%d", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    key("dumpable"); printf("%d", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
    key("seccomp"); status_field(status, "Seccomp:");
    key("cap_inh"); status_field(status, "CapInh:");
    key("cap_prm"); status_field(status, "CapPrm:");
    key("cap_eff"); status_field(status, "CapEff:");
    key("cap_bnd"); status_field(status, "CapBnd:");
    key("cap_amb"); status_field(status, "CapAmb:");
    key("cpus_allowed"); status_field(status, "Cpus_allowed_list:");
    key("sched_policy"); printf("%d", sched_getscheduler(0));
    key("ioprio"); printf("%ld", syscall(SYS_ioprio_get, 1, 0));
    key("oom_score_adj"); file_value("/proc/self/oom_score_adj");
    key("mountinfo"); file_value("/proc/self/mountinfo");
    key("cgroup"); file_value("/proc/self/cgroup");

    key("rlimits"); begin('{');
    for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
        struct rlimit rl;
        getrlimit(limits[l].res, &rl);
        key(limits[l].name);
        printf("[%llu,%llu]", (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
    }
    end('}');

    key("namespaces"); begin('{');
    const char *ns[] = {"cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"};
    for (size_t n = 0; n < sizeof ns / sizeof ns[0]; n++) {
        char link[256];
        snprintf(path, sizeof path, "/proc/self/ns/%s", ns[n]);
        ssize_t k = readlink(path, link, sizeof link - 1);
        link[k > 0 ? k : 0] = 0;
        key(ns[n]); str(link);
    }
    end('}');

    key("env"); begin('[');
    for (char **e = environ; *e; e++) {
        if (!first)
            putchar(',');
        first = 0;
        str(*e);
    }
    end(']');

    key("fds"); begin('[');
    DIR *d = opendir("/proc/self/fd");
    int dfd = d ? dirfd(d) : -1;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.' || atoi(de->d_name) == dfd)
            continue;
        if (!first)
            putchar(',');
        first = 0;
        printf("%s", de->d_name);
    }
    if (d)
        closedir(d);
    end(']');

    /* where each fd leads (pipe:[N], /dev/pts/0, /dev/null, ...) */
    key("fdlinks"); begin('{');
    d = opendir("/proc/self/fd");
    dfd = d ? dirfd(d) : -1;
    while (d && (de = readdir(d))) {
        char target[4096];
        if (de->d_name[0] == '.' || atoi(de->d_name) == dfd)
            continue;
        snprintf(path, sizeof path, "/proc/self/fd/%s", de->d_name);
        ssize_t k = readlink(path, target, sizeof target - 1);
        target[k > 0 ? k : 0] = 0;
        key(de->d_name);
        str(target);
    }
    if (d)
        closedir(d);
    end('}');

    key("dev"); begin('{');
    d = opendir("/dev");
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/dev/%s", de->d_name);
        key(de->d_name);
        stat_path(path);
    }
    if (d)
        closedir(d);
    end('}');

    key("sysctl"); begin('{');
    for (i = 1; i + 1 < argc; i += 2)
        if (strcmp(argv[i], "--sysctl") == 0) {
            snprintf(path, sizeof path, "/proc/sys/%s", argv[i + 1]);
            for (char *p = path + 10; *p; p++)
                if (*p == '.')
                    *p = '/';
            key(argv[i + 1]);
            file_value(path);
        }
    end('}');

    key("files"); begin('{');
    for (i = 1; i + 1 < argc; i += 2)
        if (strcmp(argv[i], "--file") == 0) {
            key(argv[i + 1]);
            file_value(argv[i + 1]);
        }
    end('}');

    key("stat"); begin('{');
    for (i = 1; i + 1 < argc; i += 2)
        if (strcmp(argv[i], "--stat") == 0) {
            key(argv[i + 1]);
            stat_path(argv[i + 1]);
        }
    end('}');
    end('}');
    putchar('\n');
    return 0;
}
