/*
 * What ocirt's two freestanding programs share (execstub.c, the sealed
 * exec stub; init.c, the built-in init): both run without libc, lower
 * their permitted capabilities before they execute the container's
 * program, and report a failed execve as PREFIX, the error's text, SUFFIX
 * on the runtime's channel (ocirt.protocol reads it as one message).
 * Include it after defining sys3(nr, a, b, c), the program's system call.
 */
#ifndef OCIRT_STUB_COMMON_H
#define OCIRT_STUB_COMMON_H

#define CAP_V3 0x20080522

struct cap_header { unsigned int version; int pid; };
struct cap_data { unsigned int effective, permitted, inheritable; };

/* Lower the permitted (and effective) set to the hex mask in s, if it names
   one: execve raised it for root; the program's own execve then raises it
   as it would without us, and the kernel makes it non-dumpable as it would
   (see execstub.c). Best effort. */
static void lower_permitted(const char *s)
{
    unsigned long long mask = 0;
    struct cap_header hdr = {CAP_V3, 0};
    struct cap_data data[2];
    int i, digits = 0;

    for (; *s && digits < 16; s++, digits++) {
        int v = (*s >= '0' && *s <= '9') ? *s - '0'
              : (*s >= 'a' && *s <= 'f') ? *s - 'a' + 10 : -1;
        if (v < 0)
            return;
        mask = mask << 4 | (unsigned)v;
    }
    if (!digits || *s)
        return;
    if (sys3(__NR_capget, (long)&hdr, (long)data, 0) < 0)
        return;
    for (i = 0; i < 2; i++) {
        unsigned int m = (unsigned int)(mask >> (32 * i));
        data[i].permitted &= m;
        data[i].effective &= data[i].permitted;
    }
    sys3(__NR_capset, (long)&hdr, (long)data, 0);
}

static const struct { int no; const char *text; } exec_errors[] = {
    {1, "operation not permitted"}, {2, "no such file or directory"},
    {5, "input/output error"}, {7, "argument list too long"}, {8, "exec format error"},
    {11, "resource temporarily unavailable"}, {12, "cannot allocate memory"},
    {13, "permission denied"}, {14, "bad address"}, {20, "not a directory"},
    {21, "is a directory"}, {22, "invalid argument"},
    {23, "too many open files in system"}, {24, "too many open files"},
    {26, "text file busy"}, {36, "file name too long"}, {38, "function not implemented"},
    {40, "too many levels of symbolic links"}, {80, "accessing a corrupted shared library"},
};

static unsigned put(char *buf, unsigned at, unsigned cap, const char *s)
{
    while (*s && at < cap)
        buf[at++] = *s++;
    return at;
}

/* prefix, the text of errno err, suffix to fd (if >= 0), in one write. */
static void report_exec_error(long fd, const char *prefix, const char *suffix, long err)
{
    static char buf[8192];
    char num[24], *q = num + sizeof num - 1;
    const char *text = 0;
    unsigned i, n = 0, cap = sizeof buf - 64; /* the suffix always fits */

    if (fd < 0)
        return;
    for (i = 0; i < sizeof exec_errors / sizeof exec_errors[0]; i++)
        if (exec_errors[i].no == err)
            text = exec_errors[i].text;
    if (!text) {
        *q = 0;
        do
            *--q = (char)('0' + err % 10);
        while ((err /= 10) && q > num + 6);
        q -= 6;
        for (i = 0; i < 6; i++)
            q[i] = "errno "[i];
        text = q;
    }
    n = put(buf, n, cap, prefix);
    n = put(buf, n, cap, text);
    n = put(buf, n, sizeof buf, suffix);
    sys3(__NR_write, fd, (long)buf, n);
}

#endif
