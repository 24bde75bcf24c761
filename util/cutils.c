/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cutils.c: strict number parsing, QEMU-compatible size parsing (suffixes
 * and fractions) and size printing, small string helpers.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"

#include <ctype.h>

static int check_end(const char *nptr, const char *ep, const char **end,
                     int err)
{
    if (ep == nptr) {
        err = -EINVAL;
    }
    if (end) {
        *end = ep;
    } else if (*ep) {
        err = -EINVAL;
    }
    return err;
}

int qemu_strtoi64(const char *nptr, const char **end, int base,
                  int64_t *result)
{
    char *ep;
    long long v;
    int err;

    if (!nptr) {
        if (end) {
            *end = NULL;
        }
        return -EINVAL;
    }
    errno = 0;
    v = strtoll(nptr, &ep, base);
    err = check_end(nptr, ep, end, errno == ERANGE ? -ERANGE : 0);
    if (err != -EINVAL) {
        *result = v;
    }
    return err;
}

int qemu_strtou64(const char *nptr, const char **end, int base,
                  uint64_t *result)
{
    char *ep;
    unsigned long long v;
    int err;

    if (!nptr) {
        if (end) {
            *end = NULL;
        }
        return -EINVAL;
    }
    errno = 0;
    v = strtoull(nptr, &ep, base);
    err = check_end(nptr, ep, end, errno == ERANGE ? -ERANGE : 0);
    if (err != -EINVAL) {
        *result = v;
    }
    return err;
}

int qemu_strtoi(const char *nptr, const char **end, int base, int *result)
{
    int64_t v;
    int err = qemu_strtoi64(nptr, end, base, &v);

    if (err == -EINVAL) {
        return err;
    }
    if (v > INT_MAX) {
        v = INT_MAX;
        err = -ERANGE;
    } else if (v < INT_MIN) {
        v = INT_MIN;
        err = -ERANGE;
    }
    *result = (int)v;
    return err;
}

static int64_t suffix_mul(char c)
{
    switch (toupper((unsigned char)c)) {
    case 'B':
        return 1;
    case 'K':
        return KiB;
    case 'M':
        return MiB;
    case 'G':
        return GiB;
    case 'T':
        return TiB;
    case 'P':
        return PiB;
    case 'E':
        return EiB;
    }
    return -1;
}

/*
 * QEMU's size grammar: decimal digits (or 0x hex), an optional decimal
 * fraction (no exponent), an optional unit suffix; no sign.  A fraction
 * needs a unit larger than a byte.
 */
static int do_strtosz(const char *nptr, const char **end, char def_suffix,
                      uint64_t *result)
{
    const char *ep;
    uint64_t val;
    double fraction = 0;
    bool hex = false;
    int64_t mul;
    int ret;

    ret = qemu_strtou64(nptr, &ep, 10, &val);
    if (ret) {
        goto out;
    }
    if (memchr(nptr, '-', (size_t)(ep - nptr))) {
        ep = nptr;
        ret = -EINVAL;
        goto out;
    }
    if (val == 0 && (*ep == 'x' || *ep == 'X')) {
        ret = qemu_strtou64(nptr, &ep, 16, &val);
        if (ret) {
            goto out;
        }
        hex = true;
    }
    if (*ep == '.') {
        const char *f = ep + 1;
        uint64_t scale = 1;
        uint64_t digits = 0;

        if (hex || !isdigit((unsigned char)*f)) {
            ep = nptr;
            ret = -EINVAL;
            goto out;
        }
        while (isdigit((unsigned char)*f)) {
            if (scale < UINT64_C(1000000000000000000)) {
                digits = digits * 10 + (uint64_t)(*f - '0');
                scale *= 10;
            }
            f++;
        }
        fraction = (double)digits / (double)scale;
        ep = f;
    }
    mul = suffix_mul(*ep);
    if (mul > 0) {
        ep++;
    } else {
        mul = suffix_mul(def_suffix);
    }
    if (mul == 1) {
        if (fraction != 0) {
            ep = nptr;
            ret = -EINVAL;
            goto out;
        }
    } else if (fraction != 0) {
        double valf = fraction * (double)mul;
        if (val > (UINT64_MAX - (uint64_t)valf) / (uint64_t)mul) {
            ret = -ERANGE;
            goto out;
        }
        val = val * (uint64_t)mul + (uint64_t)valf;
    } else {
        if (val > UINT64_MAX / (uint64_t)mul) {
            ret = -ERANGE;
            goto out;
        }
        val *= (uint64_t)mul;
    }
    ret = 0;

out:
    if (end) {
        *end = ep;
    } else if (*ep && ret == 0) {
        ret = -EINVAL;
    }
    if (ret == 0) {
        *result = val;
    }
    return ret;
}

int qemu_strtosz(const char *nptr, const char **end, uint64_t *result)
{
    return do_strtosz(nptr, end, 'B', result);
}

int qemu_strtosz_MiB(const char *nptr, const char **end, uint64_t *result)
{
    return do_strtosz(nptr, end, 'M', result);
}

char *size_to_str(uint64_t val)
{
    static const char *const units[] = {
        "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
    };
    /* Scale so that the printed number stays below 1000 of its unit. */
    double x = (double)val / (1000.0 / 1024.0);
    int exp2 = 0;
    int i;

    while (x >= 1.0) {
        x /= 2;
        exp2++;
    }
    i = (exp2 - 1) / 10;
    if (i < 0) {
        i = 0;
    }
    return qemu_xasprintf("%0.3g %sB",
                          (double)val / (double)(UINT64_C(1) << (i * 10)),
                          units[i]);
}

bool strstart(const char *str, const char *prefix, const char **rest)
{
    size_t n = strlen(prefix);

    if (strncmp(str, prefix, n)) {
        return false;
    }
    if (rest) {
        *rest = str + n;
    }
    return true;
}

void pstrcpy(char *buf, size_t buf_size, const char *str)
{
    size_t n;

    if (buf_size == 0) {
        return;
    }
    n = strnlen(str, buf_size - 1);
    memcpy(buf, str, n);
    buf[n] = '\0';
}

/* See cutils.h. */
bool buffer_is_zero(const uint8_t *buf, size_t len)
{
    size_t i = 0;

    /* 32 bytes per step; memcpy keeps unaligned buffers safe. */
    for (; i + 32 <= len; i += 32) {
        uint64_t w[4];

        memcpy(w, buf + i, sizeof(w));
        if (w[0] | w[1] | w[2] | w[3]) {
            return false;
        }
    }
    for (; i < len; i++) {
        if (buf[i]) {
            return false;
        }
    }
    return true;
}
