/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kdf.h: key derivation and message authentication helpers: PBKDF2 and
 * HMAC over SHA-256.
 */
#ifndef CRYPTO_KDF_H
#define CRYPTO_KDF_H

#include "qemu/error.h"

#define QCRYPTO_SHA256_LEN 32

/* PBKDF2-HMAC-SHA256 of @pass into @out.  0 or -EIO with errp set. */
int qcrypto_pbkdf2_sha256(const uint8_t *pass, size_t pass_len,
                          const uint8_t *salt, size_t salt_len,
                          uint32_t iterations, uint8_t *out, size_t out_len,
                          Error **errp);
/* HMAC-SHA256 of @data under @key into @out (32 bytes).  0 or -EIO. */
int qcrypto_hmac_sha256(const uint8_t *key, size_t key_len,
                        const uint8_t *data, size_t len, uint8_t *out,
                        Error **errp);
/* Constant-time comparison: true when equal. */
bool qcrypto_memeq(const void *a, const void *b, size_t len);

#endif /* CRYPTO_KDF_H */
