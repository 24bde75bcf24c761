/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * aead.c: AES-256-GCM one-shot encryption and decryption on top of
 * OpenSSL's EVP interface.
 */
#include "qemu/osdep.h"
#include "crypto/aead.h"
#include "crypto/secret.h"

#include <openssl/evp.h>

static int aead_run(bool enc, const uint8_t *key, const uint8_t *nonce,
                    const uint8_t *aad, size_t aad_len, const uint8_t *in,
                    size_t len, uint8_t *out, uint8_t *tag, Error **errp)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int outl = 0;
    int ret = -EIO;

    if (!ctx) {
        error_setg(errp, "Could not allocate a cipher context");
        return -EIO;
    }
    if (len > INT_MAX || aad_len > INT_MAX) {
        error_setg(errp, "Data too large to encrypt");
        goto out;
    }
    if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL,
                          enc) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN,
                            QCRYPTO_AEAD_NONCE_LEN, NULL) != 1 ||
        EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) != 1) {
        error_setg(errp, "Could not set up AES-256-GCM");
        goto out;
    }
    if (aad_len &&
        EVP_CipherUpdate(ctx, NULL, &outl, aad, (int)aad_len) != 1) {
        error_setg(errp, "AES-256-GCM failed on the associated data");
        goto out;
    }
    if (len && EVP_CipherUpdate(ctx, out, &outl, in, (int)len) != 1) {
        error_setg(errp, "AES-256-GCM failed");
        goto out;
    }
    if (!enc) {
        if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG,
                                QCRYPTO_AEAD_TAG_LEN, tag) != 1) {
            error_setg(errp, "Could not set the AES-256-GCM tag");
            goto out;
        }
    }
    if (EVP_CipherFinal_ex(ctx, out + outl, &outl) != 1) {
        if (!enc) {
            qcrypto_wipe(out, len);
            ret = -EBADMSG;
        } else {
            error_setg(errp, "AES-256-GCM failed to finish");
        }
        goto out;
    }
    if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG,
                                   QCRYPTO_AEAD_TAG_LEN, tag) != 1) {
        error_setg(errp, "Could not get the AES-256-GCM tag");
        goto out;
    }
    ret = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    return ret;
}

int qcrypto_aead_encrypt(const uint8_t *key, const uint8_t *nonce,
                         const uint8_t *aad, size_t aad_len,
                         const uint8_t *in, size_t len, uint8_t *out,
                         uint8_t *tag, Error **errp)
{
    return aead_run(true, key, nonce, aad, aad_len, in, len, out, tag, errp);
}

int qcrypto_aead_decrypt(const uint8_t *key, const uint8_t *nonce,
                         const uint8_t *aad, size_t aad_len,
                         const uint8_t *in, size_t len, uint8_t *out,
                         const uint8_t *tag, Error **errp)
{
    uint8_t t[QCRYPTO_AEAD_TAG_LEN];

    memcpy(t, tag, sizeof(t));
    return aead_run(false, key, nonce, aad, aad_len, in, len, out, t, errp);
}
