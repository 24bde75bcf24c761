/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * aead.h: authenticated encryption (AES-256-GCM) for small blobs, as used
 * by the TPM NVRAM store.  One-shot calls over whole buffers.
 */
#ifndef CRYPTO_AEAD_H
#define CRYPTO_AEAD_H

#include "qemu/error.h"

#define QCRYPTO_AEAD_KEY_LEN   32
#define QCRYPTO_AEAD_NONCE_LEN 12
#define QCRYPTO_AEAD_TAG_LEN   16

/*
 * Encrypt @len bytes of @in into @out (may equal @in) with @key/@nonce,
 * authenticating @aad too; the tag goes to @tag.  0 or -EIO with errp set.
 */
int qcrypto_aead_encrypt(const uint8_t *key, const uint8_t *nonce,
                         const uint8_t *aad, size_t aad_len,
                         const uint8_t *in, size_t len, uint8_t *out,
                         uint8_t *tag, Error **errp);
/*
 * Decrypt and verify.  -EBADMSG (errp not set) when the tag does not
 * authenticate: wrong key or altered data; -EIO with errp set otherwise.
 * On failure @out holds nothing useful (it is wiped).
 */
int qcrypto_aead_decrypt(const uint8_t *key, const uint8_t *nonce,
                         const uint8_t *aad, size_t aad_len,
                         const uint8_t *in, size_t len, uint8_t *out,
                         const uint8_t *tag, Error **errp);

#endif /* CRYPTO_AEAD_H */
