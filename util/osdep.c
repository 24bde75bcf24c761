/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * osdep.c: allocation that cannot fail, clocks, temporary files,
 * canonical paths and full positional I/O.  The small portability layer
 * every other room of the core stands on.
 */
#include "qemu/osdep.h"

static void *alloc_check(void *p)
{
    if (!p) {
        fputs("out of memory\n", stderr);
        abort();
    }
    return p;
}

void *qemu_xmalloc(size_t size)
{
    return alloc_check(malloc(size ? size : 1));
}

void *qemu_xzalloc(size_t size)
{
    return alloc_check(calloc(1, size ? size : 1));
}

void *qemu_xrealloc(void *ptr, size_t size)
{
    return alloc_check(realloc(ptr, size ? size : 1));
}

char *qemu_xstrdup(const char *s)
{
    return alloc_check(strdup(s));
}

char *qemu_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *r = qemu_xmalloc(len + 1);

    memcpy(r, s, len);
    r[len] = '\0';
    return r;
}

char *qemu_xvasprintf(const char *fmt, va_list ap)
{
    va_list ap2;
    char probe[1];
    int len;
    char *r;

    if (!fmt) {
        abort();
    }
    va_copy(ap2, ap);
    len = vsnprintf(probe, sizeof(probe), fmt, ap2);
    va_end(ap2);
    if (len < 0) {
        abort();
    }
    r = qemu_xmalloc((size_t)len + 1);
    vsnprintf(r, (size_t)len + 1, fmt, ap);
    return r;
}

char *qemu_xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *r;

    va_start(ap, fmt);
    r = qemu_xvasprintf(fmt, ap);
    va_end(ap);
    return r;
}

static char *tmp_dir(void)
{
#ifdef _WIN32
    char buf[MAX_PATH + 1];
    DWORD n = GetTempPathA(sizeof(buf), buf);

    if (n == 0 || n >= sizeof(buf)) {
        return qemu_xstrdup(".");
    }
    while (n > 1 && (buf[n - 1] == '\\' || buf[n - 1] == '/')) {
        buf[--n] = '\0';
    }
    return qemu_xstrdup(buf);
#else
    const char *dir = getenv("TMPDIR");

    if (!dir || !dir[0]) {
        dir = "/tmp";
    }
    if (!strcmp(dir, "/tmp")) {
        dir = "/var/tmp";
    }
    return qemu_xstrdup(dir);
#endif
}

int qemu_create_tmp_file(char **pname)
{
    char *dir = tmp_dir();
    int fd;

#ifdef _WIN32
    *pname = qemu_xasprintf("%s\\vl.XXXXXX", dir);
#else
    *pname = qemu_xasprintf("%s/vl.XXXXXX", dir);
#endif
    free(dir);
    fd = mkstemp(*pname);
    if (fd < 0) {
        return -errno;
    }
    close(fd);
    return 0;
}

char *qemu_realpath(const char *path)
{
#ifdef _WIN32
    return _fullpath(NULL, path, 0);
#else
    return realpath(path, NULL);
#endif
}

#ifdef _WIN32
static int64_t qpc_ns(void)
{
    LARGE_INTEGER freq, now;

    QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&now);
    return (int64_t)((double)now.QuadPart * 1e9 / (double)freq.QuadPart);
}

int64_t qemu_clock_monotonic_ns(void)
{
    return qpc_ns();
}

int64_t qemu_clock_realtime_ns(void)
{
    FILETIME ft;
    uint64_t t;

    GetSystemTimeAsFileTime(&ft);
    t = ((uint64_t)ft.dwHighDateTime << 32) | ft.dwLowDateTime;
    /* 100 ns units since 1601-01-01 -> ns since 1970-01-01 */
    return (int64_t)(t - UINT64_C(116444736000000000)) * 100;
}

void qemu_sleep_ns(int64_t ns)
{
    DWORD ms = (DWORD)((ns + 999999) / 1000000);

    Sleep(ms ? ms : 1);
}
#else
static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t qemu_clock_monotonic_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

int64_t qemu_clock_realtime_ns(void)
{
    return clock_ns(CLOCK_REALTIME);
}

void qemu_sleep_ns(int64_t ns)
{
    struct timespec ts = {
        .tv_sec = ns / 1000000000,
        .tv_nsec = ns % 1000000000,
    };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
        /* sleep the rest */
    }
}

ssize_t qemu_pread_full(int fd, void *buf, size_t count, off_t offset)
{
    size_t done = 0;

    while (done < count) {
        ssize_t r = pread(fd, (char *)buf + done, count - done,
                          offset + (off_t)done);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (r == 0) {
            break; /* EOF */
        }
        done += (size_t)r;
    }
    return (ssize_t)done;
}

ssize_t qemu_pwrite_full(int fd, const void *buf, size_t count, off_t offset)
{
    size_t done = 0;

    while (done < count) {
        ssize_t r = pwrite(fd, (const char *)buf + done, count - done,
                           offset + (off_t)done);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (r == 0) {
            errno = ENOSPC;
            return -1;
        }
        done += (size_t)r;
    }
    return (ssize_t)done;
}
#endif
