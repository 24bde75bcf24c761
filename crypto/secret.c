/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * secret.c: reading key material from a file or an fd into memory we can
 * wipe, and wiping it.
 */
#include "qemu/osdep.h"
#include "crypto/secret.h"

#include <sys/mman.h>
#include <openssl/crypto.h>

void qcrypto_wipe(void *p, size_t len)
{
    if (p && len) {
        OPENSSL_cleanse(p, len);
    }
}

/* See secret.h.  noinline: its frame must lie below the caller's. */
__attribute__((noinline)) void qcrypto_wipe_stack(void)
{
    uint8_t area[64 * 1024];

    qcrypto_wipe(area, sizeof(area));
}

void qcrypto_wipe_free(void *p, size_t len)
{
    qcrypto_wipe(p, len);
    free(p);
}

/*
 * Key memory: a mapping of its own, whole pages, so that MADV_DONTDUMP
 * (which works on pages) covers the key and nothing else.  The mapping's
 * size sits in front of the caller's bytes.
 */
#define SECURE_HDR 16

void *qcrypto_secure_alloc(size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t size = (len + SECURE_HDR + page - 1) / page * page;
    uint8_t *base = mmap(NULL, size, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    static bool warned;

    if (base == MAP_FAILED) {
        abort();                /* as qemu_xmalloc() on no memory */
    }
    if (madvise(base, size, MADV_DONTDUMP) < 0 && !warned) {
        warned = true;
        qemu_warn("could not exclude key memory from core dumps: %s",
                  strerror(errno));
    }
    /* Out of swap as well, where RLIMIT_MEMLOCK allows. */
    (void)mlock(base, size);
    memcpy(base, &size, sizeof(size));
    return base + SECURE_HDR;
}

void qcrypto_secure_free(void *p)
{
    uint8_t *base;
    size_t size;

    if (!p) {
        return;
    }
    base = (uint8_t *)p - SECURE_HDR;
    memcpy(&size, base, sizeof(size));
    qcrypto_wipe(base, size);
    munlock(base, size);
    munmap(base, size);
}

/*
 * Who else may touch the secret in @fd, if it is a regular file: refuse
 * one that users other than its owner may write (they could plant a key
 * of their choosing), warn about one they may read (as ssh does).
 */
static int check_secret_mode(int fd, const char *what, Error **errp)
{
    struct stat sb;

    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        return 0;
    }
    if (sb.st_mode & (S_IWGRP | S_IWOTH)) {
        error_setg(errp, "The %s is writable by others (mode %04o); "
                   "refusing it", what, (unsigned)(sb.st_mode & 07777));
        return -EPERM;
    }
    if (sb.st_mode & (S_IRGRP | S_IROTH)) {
        qemu_warn("the %s is readable by others (mode %04o)", what,
                  (unsigned)(sb.st_mode & 07777));
    }
    return 0;
}

int qcrypto_read_secret(const char *path, int fd, uint8_t **data,
                        size_t *len, Error **errp)
{
    uint8_t *buf = qcrypto_secure_alloc(QCRYPTO_SECRET_MAX + 1);
    size_t got = 0;
    int myfd = fd;
    int ret = 0;
    char what[PATH_MAX + 32];

    if (fd < 0) {
        snprintf(what, sizeof(what), "key file '%s'", path);
        myfd = open(path, O_RDONLY | O_CLOEXEC);
        if (myfd < 0) {
            ret = -errno;
            error_setg_errno(errp, errno, "Could not open %s", what);
            goto fail;
        }
    } else {
        snprintf(what, sizeof(what), "key fd %d", fd);
    }
    ret = check_secret_mode(myfd, what, errp);
    if (ret < 0) {
        goto fail;
    }
    for (;;) {
        ssize_t n = read(myfd, buf + got, QCRYPTO_SECRET_MAX + 1 - got);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            ret = -errno;
            error_setg_errno(errp, errno, "Could not read %s", what);
            goto fail;
        }
        if (n == 0) {
            break;
        }
        got += n;
        if (got > QCRYPTO_SECRET_MAX) {
            ret = -EFBIG;
            error_setg(errp, "The %s is larger than %d bytes", what,
                       QCRYPTO_SECRET_MAX);
            goto fail;
        }
    }
    if (fd < 0) {
        close(myfd);
    }
    *data = buf;
    *len = got;
    return 0;

fail:
    if (fd < 0 && myfd >= 0) {
        close(myfd);
    }
    qcrypto_secure_free(buf);
    return ret;
}
