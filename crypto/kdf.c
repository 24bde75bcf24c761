/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kdf.c: PBKDF2-HMAC-SHA256 and HMAC-SHA256 through OpenSSL, plus a
 * constant-time comparison.
 */
#include "qemu/osdep.h"
#include "crypto/kdf.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

int qcrypto_pbkdf2_sha256(const uint8_t *pass, size_t pass_len,
                          const uint8_t *salt, size_t salt_len,
                          uint32_t iterations, uint8_t *out, size_t out_len,
                          Error **errp)
{
    if (iterations == 0 || iterations > INT_MAX || pass_len > INT_MAX ||
        salt_len > INT_MAX || out_len > INT_MAX) {
        error_setg(errp, "Invalid PBKDF2 parameters");
        return -EINVAL;
    }
    if (PKCS5_PBKDF2_HMAC((const char *)pass, (int)pass_len, salt,
                          (int)salt_len, (int)iterations, EVP_sha256(),
                          (int)out_len, out) != 1) {
        error_setg(errp, "PBKDF2 key derivation failed");
        return -EIO;
    }
    return 0;
}

int qcrypto_hmac_sha256(const uint8_t *key, size_t key_len,
                        const uint8_t *data, size_t len, uint8_t *out,
                        Error **errp)
{
    unsigned int outl = 0;

    if (key_len > INT_MAX) {
        error_setg(errp, "HMAC key too long");
        return -EINVAL;
    }
    if (!HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &outl) ||
        outl != QCRYPTO_SHA256_LEN) {
        error_setg(errp, "HMAC-SHA256 failed");
        return -EIO;
    }
    return 0;
}

bool qcrypto_memeq(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}
