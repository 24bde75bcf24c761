/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * error.c: Error values (a sentence plus an optional hint) and the
 * tool-side reporting functions that print them as "prog: message".
 */
#include "qemu/osdep.h"
#include "qemu/error.h"

struct Error {
    char *msg;
    char *hint; /* NULL or text ending in '\n' */
};

static char *progname;

static void error_setv(Error **errp, const char *suffix, const char *fmt,
                       va_list ap)
{
    Error *err;
    char *msg;

    if (!errp || *errp) {
        return;
    }
    msg = qemu_xvasprintf(fmt, ap);
    if (suffix) {
        char *full = qemu_xasprintf("%s: %s", msg, suffix);
        free(msg);
        msg = full;
    }
    err = qemu_xnew0(Error, 1);
    err->msg = msg;
    *errp = err;
}

void error_setg(Error **errp, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_setv(errp, NULL, fmt, ap);
    va_end(ap);
}

void error_setg_errno(Error **errp, int os_errno, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_setv(errp, strerror(os_errno), fmt, ap);
    va_end(ap);
}

#ifdef _WIN32
void error_setg_win32(Error **errp, DWORD win32_err, const char *fmt, ...)
{
    va_list ap;
    char *text = NULL;
    char *suffix;
    DWORD n;

    n = FormatMessageA(FORMAT_MESSAGE_ALLOCATE_BUFFER |
                       FORMAT_MESSAGE_FROM_SYSTEM |
                       FORMAT_MESSAGE_IGNORE_INSERTS, NULL, win32_err, 0,
                       (LPSTR)&text, 0, NULL);
    if (n && text) {
        while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' ||
                         text[n - 1] == ' ' || text[n - 1] == '.')) {
            text[--n] = '\0';
        }
        suffix = qemu_xstrdup(text);
        LocalFree(text);
    } else {
        suffix = qemu_xasprintf("Windows error %lu",
                                (unsigned long)win32_err);
    }
    va_start(ap, fmt);
    error_setv(errp, suffix, fmt, ap);
    va_end(ap);
    free(suffix);
}
#endif

void error_prepend(Error **errp, const char *fmt, ...)
{
    va_list ap;
    char *prefix, *msg;

    if (!errp || !*errp) {
        return;
    }
    va_start(ap, fmt);
    prefix = qemu_xvasprintf(fmt, ap);
    va_end(ap);
    msg = qemu_xasprintf("%s%s", prefix, (*errp)->msg);
    free(prefix);
    free((*errp)->msg);
    (*errp)->msg = msg;
}

void error_append_hint(Error **errp, const char *fmt, ...)
{
    va_list ap;
    char *add, *hint;

    if (!errp || !*errp) {
        return;
    }
    va_start(ap, fmt);
    add = qemu_xvasprintf(fmt, ap);
    va_end(ap);
    hint = qemu_xasprintf("%s%s", (*errp)->hint ? (*errp)->hint : "", add);
    free(add);
    free((*errp)->hint);
    (*errp)->hint = hint;
}

void error_propagate(Error **dst, Error *local)
{
    if (!local) {
        return;
    }
    if (dst && !*dst) {
        *dst = local;
    } else {
        error_free(local);
    }
}

const char *error_get_pretty(const Error *err)
{
    return err->msg;
}

const char *error_get_hint(const Error *err)
{
    return err->hint;
}

void error_free(Error *err)
{
    if (err) {
        free(err->msg);
        free(err->hint);
        free(err);
    }
}

void error_free_or_abort(Error **errp)
{
    if (!errp || !*errp) {
        abort();
    }
    error_free(*errp);
    *errp = NULL;
}

void error_set_progname(const char *name)
{
    const char *base = name;
    const char *p;

    for (p = name; *p; p++) {
        if (*p == '/' || *p == '\\') {
            base = p + 1;
        }
    }
    free(progname);
    progname = qemu_xstrdup(base);
}

const char *error_get_progname(void)
{
    return progname;
}

static void print_prefix(const char *kind)
{
    if (progname) {
        fprintf(stderr, "%s: ", progname);
    }
    if (kind) {
        fprintf(stderr, "%s: ", kind);
    }
}

static void vreport(const char *kind, const char *fmt, va_list ap)
{
    print_prefix(kind);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void error_report(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport(NULL, fmt, ap);
    va_end(ap);
}

void warn_report(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport("warning", fmt, ap);
    va_end(ap);
}

static void report_err(const char *kind, Error *err)
{
    print_prefix(kind);
    fprintf(stderr, "%s\n", err->msg);
    if (err->hint) {
        fputs(err->hint, stderr);
    }
    error_free(err);
}

void error_report_err(Error *err)
{
    report_err(NULL, err);
}

static WarningSink warn_sink;
static void *warn_sink_opaque;

void warn_set_sink(WarningSink sink, void *opaque)
{
    warn_sink = sink;
    warn_sink_opaque = opaque;
}

void qemu_warn(const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = qemu_xvasprintf(fmt, ap);
    va_end(ap);
    if (warn_sink) {
        warn_sink(msg, warn_sink_opaque);
    } else {
        warn_report("%s", msg);
    }
    free(msg);
}

static WarningSink raw_sink;
static void *raw_sink_opaque;

void warn_set_raw_sink(WarningSink sink, void *opaque)
{
    raw_sink = sink;
    raw_sink_opaque = opaque;
}

/* A raw warning, with or without the newline QEMU ends it with. */
static void warn_raw_v(bool newline, const char *fmt, va_list ap)
{
    char *msg = qemu_xvasprintf(fmt, ap);

    if (raw_sink) {
        raw_sink(msg, raw_sink_opaque);
    } else {
        fprintf(stderr, "%s%s", msg, newline ? "\n" : "");
    }
    free(msg);
}

void qemu_warn_raw(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    warn_raw_v(true, fmt, ap);
    va_end(ap);
}

void qemu_warn_raw_nonl(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    warn_raw_v(false, fmt, ap);
    va_end(ap);
}
