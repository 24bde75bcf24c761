/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vtpm_log.c: the daemon's log.  The tool installs a sink and a level;
 * the rooms of the daemon never print themselves.
 */
#include "qemu/osdep.h"
#include "hw/tpm/vtpm.h"

static VTPMLogFn *log_fn;
static int log_level;

void vtpm_set_log(VTPMLogFn *fn, int level)
{
    log_fn = fn;
    log_level = level;
}

bool vtpm_log_enabled(int level)
{
    return log_fn && level <= log_level;
}

void vtpm_log(int level, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    if (!vtpm_log_enabled(level)) {
        return;
    }
    va_start(ap, fmt);
    msg = qemu_xvasprintf(fmt, ap);
    va_end(ap);
    log_fn(level, msg);
    free(msg);
}

void vtpm_log_hex(const char *what, const uint8_t *buf, size_t len)
{
    size_t i, n = len > 1024 ? 1024 : len;
    char *line;

    if (!vtpm_log_enabled(VTPM_LOG_TRACE)) {
        return;
    }
    line = qemu_xmalloc(n * 3 + 1);
    for (i = 0; i < n; i++) {
        snprintf(line + i * 3, 4, " %02x", buf[i]);
    }
    line[n * 3] = '\0';
    vtpm_log(VTPM_LOG_TRACE, "%s (%zu bytes):%s%s", what, len, line,
             n < len ? " ..." : "");
    free(line);
}

void vtpm_log_err(Error *err)
{
    vtpm_log(VTPM_LOG_ERROR, "%s", error_get_pretty(err));
    error_free(err);
}
