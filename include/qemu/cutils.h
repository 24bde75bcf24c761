/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cutils.h: number and size parsing, size printing, small string helpers.
 */
#ifndef QEMU_CUTILS_H
#define QEMU_CUTILS_H

#include "qemu/osdep.h"

/*
 * Parse a size with an optional suffix (B, K/k, M, G, T, P, E; binary
 * units, bytes when no suffix) like QEMU's qemu_strtosz().  Fractions are
 * allowed with a suffix ("1.5G").  @end may be NULL: then trailing garbage
 * is an error.  Returns 0, -EINVAL or -ERANGE.
 */
int qemu_strtosz(const char *nptr, const char **end, uint64_t *result);
/* Same with MiB as the default unit (qemu-img's legacy forms). */
int qemu_strtosz_MiB(const char *nptr, const char **end, uint64_t *result);

/* Strict integer parsing: the whole string, base 0 (0x.. allowed). */
int qemu_strtoi64(const char *nptr, const char **end, int base,
                  int64_t *result);
int qemu_strtou64(const char *nptr, const char **end, int base,
                  uint64_t *result);
int qemu_strtoi(const char *nptr, const char **end, int base, int *result);

/*
 * "1 GiB", "196 KiB", "512 B": @val scaled to the largest binary unit
 * below 1024, printed with "%0.3g" like qemu-img's size_to_str().
 * Returns a malloc'ed string.
 */
char *size_to_str(uint64_t val);

/* If @str starts with @prefix, set *@rest (may be NULL) and return true. */
bool strstart(const char *str, const char *prefix, const char **rest);
/* Bounded copy that always NUL-terminates. */
void pstrcpy(char *buf, size_t buf_size, const char *str);

/* True when all @len bytes of @buf are zero (also for @len 0). */
bool buffer_is_zero(const uint8_t *buf, size_t len);

/* Big-endian load/store. */
static inline uint16_t ldbe16(const void *p)
{
    const uint8_t *b = p;
    return (uint16_t)((b[0] << 8) | b[1]);
}
static inline uint32_t ldbe32(const void *p)
{
    const uint8_t *b = p;
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) |
           ((uint32_t)b[2] << 8) | b[3];
}
static inline uint64_t ldbe64(const void *p)
{
    const uint8_t *b = p;
    return ((uint64_t)ldbe32(b) << 32) | ldbe32(b + 4);
}
static inline void stbe16(void *p, uint16_t v)
{
    uint8_t *b = p;
    b[0] = v >> 8;
    b[1] = v;
}
static inline void stbe32(void *p, uint32_t v)
{
    uint8_t *b = p;
    b[0] = v >> 24;
    b[1] = v >> 16;
    b[2] = v >> 8;
    b[3] = v;
}
static inline void stbe64(void *p, uint64_t v)
{
    stbe32(p, v >> 32);
    stbe32((uint8_t *)p + 4, (uint32_t)v);
}

/* Little-endian load. */
static inline uint32_t ldle32(const void *p)
{
    const uint8_t *b = p;
    return ((uint32_t)b[3] << 24) | ((uint32_t)b[2] << 16) |
           ((uint32_t)b[1] << 8) | b[0];
}
static inline uint64_t ldle64(const void *p)
{
    const uint8_t *b = p;
    return ((uint64_t)ldle32(b + 4) << 32) | ldle32(b);
}

#endif /* QEMU_CUTILS_H */
