/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * random.c: random bytes from OpenSSL's DRBG (seeded by the OS).
 */
#include "qemu/osdep.h"
#include "crypto/random.h"

#include <openssl/rand.h>

int qcrypto_random_bytes(void *buf, size_t len, Error **errp)
{
    if (len > INT_MAX || RAND_bytes(buf, (int)len) != 1) {
        error_setg(errp, "Could not generate random bytes");
        return -EIO;
    }
    return 0;
}
