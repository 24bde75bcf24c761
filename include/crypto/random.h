/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * random.h: cryptographically strong random bytes (nonces, salts).
 */
#ifndef CRYPTO_RANDOM_H
#define CRYPTO_RANDOM_H

#include "qemu/error.h"

/* Fill @buf with @len random bytes.  0 or -EIO with errp set. */
int qcrypto_random_bytes(void *buf, size_t len, Error **errp);

#endif /* CRYPTO_RANDOM_H */
