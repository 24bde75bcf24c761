/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * osdep.h: the first include of every C file in the portable core.
 * Standard headers, a few portability shims and helper macros.
 */
#ifndef QEMU_OSDEP_H
#define QEMU_OSDEP_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#ifdef _WIN32
#include <windows.h>
/*
 * errno texts worded as on Linux (util/crt-win32.c): the Windows C
 * runtime words some differently and lacks ENOTSUP, ETIMEDOUT...
 */
char *qemu_strerror(int errnum);
#define strerror(errnum) qemu_strerror(errnum)
/* Linux's "No medium found" (a node without a driver, as QEMU's). */
#ifndef ENOMEDIUM
#define ENOMEDIUM 4000
#endif
#endif

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

#ifndef O_BINARY
#define O_BINARY 0
#endif

#define KiB (INT64_C(1) << 10)
#define MiB (INT64_C(1) << 20)
#define GiB (INT64_C(1) << 30)
#define TiB (INT64_C(1) << 40)
#define PiB (INT64_C(1) << 50)
#define EiB (INT64_C(1) << 60)

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif
#ifndef ARRAY_SIZE
#define ARRAY_SIZE(x) (sizeof(x) / sizeof((x)[0]))
#endif

#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))
#define QEMU_ALIGN_DOWN(n, m) ((n) / (m) * (m))
#define QEMU_ALIGN_UP(n, m) QEMU_ALIGN_DOWN((n) + (m) - 1, (m))
#define QEMU_IS_ALIGNED(n, m) (((n) % (m)) == 0)

#ifdef __clang__ /* clang knows no gnu_printf (used for fuzzing builds) */
#define QEMU_PRINTF(fmt_idx, arg_idx) \
    __attribute__((format(printf, fmt_idx, arg_idx)))
#else
#if defined(__clang__)
#define QEMU_PRINTF(fmt_idx, arg_idx) \
    __attribute__((format(printf, fmt_idx, arg_idx)))
#else
#define QEMU_PRINTF(fmt_idx, arg_idx) \
    __attribute__((format(gnu_printf, fmt_idx, arg_idx)))
#endif
#endif
#define QEMU_UNUSED __attribute__((unused))
#define QEMU_WARN_UNUSED_RESULT __attribute__((warn_unused_result))

/*
 * Allocation that cannot fail: out of memory is not an input error the
 * library could report usefully, so these abort.  Free with free().
 */
void *qemu_xmalloc(size_t size);
void *qemu_xzalloc(size_t size);
void *qemu_xrealloc(void *ptr, size_t size);
char *qemu_xstrdup(const char *s);
char *qemu_xstrndup(const char *s, size_t n);
char *qemu_xasprintf(const char *fmt, ...) QEMU_PRINTF(1, 2);
char *qemu_xvasprintf(const char *fmt, va_list ap) QEMU_PRINTF(1, 0);
#define qemu_xnew0(type, n) ((type *)qemu_xzalloc(sizeof(type) * (n)))

/* Monotonic and wall clocks in nanoseconds. */
int64_t qemu_clock_monotonic_ns(void);
int64_t qemu_clock_realtime_ns(void);
/* Sleep for at least @ns nanoseconds (not for synchronization in tests). */
void qemu_sleep_ns(int64_t ns);

/*
 * Create an empty file of our own (mode 0600 on POSIX) for a temporary
 * image, named like QEMU's: <tmpdir>/vl.XXXXXX, where tmpdir is $TMPDIR
 * or /tmp ("/tmp" becomes /var/tmp: tmpfs is a poor home for disk
 * images), and the user's temporary directory on Windows.  Returns 0 or
 * -errno; *pname is the malloc'ed name either way (the template on
 * failure, for the message).
 */
int qemu_create_tmp_file(char **pname);

/*
 * Canonical absolute form of @path (symlinks, "." and ".." resolved; on
 * Windows only made absolute), malloc'ed; NULL with errno set if @path
 * does not exist (POSIX).
 */
char *qemu_realpath(const char *path);

/* Full positional I/O on a POSIX fd, retrying EINTR and short counts. */
#ifndef _WIN32
ssize_t qemu_pread_full(int fd, void *buf, size_t count, off_t offset);
ssize_t qemu_pwrite_full(int fd, const void *buf, size_t count, off_t offset);
#endif

#endif /* QEMU_OSDEP_H */
