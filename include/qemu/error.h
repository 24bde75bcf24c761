/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * error.h: errors as values.  A function that can fail takes Error **errp
 * last, returns 0 or a negative errno, and sets one human sentence.
 * Library code never prints; tools report with error_report_err().
 */
#ifndef QEMU_ERROR_H
#define QEMU_ERROR_H

#include "qemu/osdep.h"

typedef struct Error Error;

/* Set *errp (if errp and *errp is NULL) to a new error. */
void error_setg(Error **errp, const char *fmt, ...) QEMU_PRINTF(2, 3);
/* Same, appending ": <strerror(os_errno)>" (os_errno is positive). */
void error_setg_errno(Error **errp, int os_errno, const char *fmt, ...)
    QEMU_PRINTF(3, 4);
#ifdef _WIN32
/* Same, appending ": <FormatMessage(win32_err)>". */
void error_setg_win32(Error **errp, DWORD win32_err, const char *fmt, ...)
    QEMU_PRINTF(3, 4);
#endif
/* Prefix the message of *errp (if set) with a formatted string. */
void error_prepend(Error **errp, const char *fmt, ...) QEMU_PRINTF(2, 3);
/* Append to the hint, printed on its own line(s) after the message. */
void error_append_hint(Error **errp, const char *fmt, ...) QEMU_PRINTF(2, 3);
/* Move @local into *dst (or free it if dst is NULL or *dst is set). */
void error_propagate(Error **dst, Error *local);

const char *error_get_pretty(const Error *err);
/* The hint text (may be NULL); includes its trailing newline(s). */
const char *error_get_hint(const Error *err);
void error_free(Error *err);
/* Free *errp and set it to NULL. */
void error_free_or_abort(Error **errp);

/*
 * Tool-side reporting (stderr).  "<progname>: <message>\n".  These are the
 * only printing functions; library code must not call them.
 */
void error_set_progname(const char *name);
const char *error_get_progname(void);
void error_report(const char *fmt, ...) QEMU_PRINTF(1, 2);
void warn_report(const char *fmt, ...) QEMU_PRINTF(1, 2);
/* Print the message and its hint, then free @err. */
void error_report_err(Error *err);

/*
 * Warnings raised inside the library (e.g. "falling back to POSIX locks")
 * are collected here; a tool installs a sink that prints them, the default
 * sink prints "<progname>: warning: <msg>" to stderr.
 */
typedef void (*WarningSink)(const char *msg, void *opaque);
void warn_set_sink(WarningSink sink, void *opaque);
void qemu_warn(const char *fmt, ...) QEMU_PRINTF(1, 2);
/*
 * A notice printed exactly as given (no prefix), for QEMU texts that carry
 * their own ("WARNING: Image format was not specified ...").  Goes to the
 * raw sink if one is installed, else to stderr with a newline appended.
 */
void warn_set_raw_sink(WarningSink sink, void *opaque);
void qemu_warn_raw(const char *fmt, ...) QEMU_PRINTF(1, 2);
/*
 * The same without the newline, for QEMU texts printed that way (the next
 * output then follows on the same line).
 */
void qemu_warn_raw_nonl(const char *fmt, ...) QEMU_PRINTF(1, 2);

#endif /* QEMU_ERROR_H */
