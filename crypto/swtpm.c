/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * swtpm.c: swtpm's key and blob formats (see include/crypto/swtpm.h):
 * hex keys, passphrase KDFs, TLVs and AES-CBC + HMAC-SHA256 sealing.
 * Pure functions over buffers; written from the format's description.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "crypto/kdf.h"
#include "crypto/random.h"
#include "crypto/secret.h"
#include "crypto/swtpm.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#define AES_BLOCK 16

static int hexdigit(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 0x20;
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

bool qcrypto_swtpm_parse_hex(const uint8_t *text, size_t len, size_t keylen,
                             uint8_t *key)
{
    size_t i = 0;

    if (len >= 2 && text[0] == '0' && text[1] == 'x') {
        i = 2;
    }
    if (len - i < 2 * keylen) {
        return false;
    }
    for (size_t k = 0; k < keylen; k++, i += 2) {
        int hi = hexdigit(text[i]), lo = hexdigit(text[i + 1]);

        if (hi < 0 || lo < 0) {
            qcrypto_wipe(key, keylen);
            return false;
        }
        key[k] = (uint8_t)(hi << 4 | lo);
    }
    for (; i < len; i++) {
        if (!isspace(text[i])) {
            qcrypto_wipe(key, keylen);
            return false;
        }
    }
    return true;
}

int qcrypto_swtpm_kdf(const uint8_t *pass, size_t len, QCryptoSwtpmKdf kdf,
                      size_t keylen, uint8_t *key, Error **errp)
{
    static const uint8_t salt[] = { 's', 'w', 't', 'p', 'm' };
    uint8_t md[SHA512_DIGEST_LENGTH];

    if (keylen > QCRYPTO_SWTPM_KEY_MAX || len > INT_MAX) {
        error_setg(errp, "Invalid swtpm key derivation parameters");
        return -EINVAL;
    }
    if (kdf == QCRYPTO_SWTPM_KDF_SHA512) {
        if (!SHA512(pass, len, md)) {
            error_setg(errp, "SHA-512 failed");
            return -EIO;
        }
        memcpy(key, md, keylen);
        qcrypto_wipe(md, sizeof(md));
        return 0;
    }
    if (PKCS5_PBKDF2_HMAC((const char *)pass, (int)len, salt, sizeof(salt),
                          1000, EVP_sha512(), (int)keylen, key) != 1) {
        error_setg(errp, "PBKDF2 key derivation failed");
        return -EIO;
    }
    return 0;
}

const uint8_t *qcrypto_swtpm_tlv_find(const uint8_t *buf, size_t len,
                                      uint16_t tag, size_t *vlen)
{
    size_t off = 0;

    while (len - off >= QCRYPTO_SWTPM_TLV_HDR) {
        uint16_t t = ldbe16(buf + off);
        uint32_t l = ldbe32(buf + off + 2);

        if (l > len - off - QCRYPTO_SWTPM_TLV_HDR) {
            return NULL;
        }
        if (t == tag) {
            *vlen = l;
            return buf + off + QCRYPTO_SWTPM_TLV_HDR;
        }
        off += QCRYPTO_SWTPM_TLV_HDR + l;
    }
    return NULL;
}

uint8_t *qcrypto_swtpm_tlv_put_hdr(uint8_t *p, uint16_t tag, uint32_t len)
{
    stbe16(p, tag);
    stbe32(p + 2, len);
    return p + QCRYPTO_SWTPM_TLV_HDR;
}

/* AES-CBC without OpenSSL's padding over whole blocks. */
static int cbc_run(bool enc, const uint8_t *key, size_t keylen,
                   const uint8_t *iv, const uint8_t *in, size_t len,
                   uint8_t *out, Error **errp)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    const EVP_CIPHER *c = keylen == 32 ? EVP_aes_256_cbc() :
                          EVP_aes_128_cbc();
    int l1 = 0, l2 = 0, ret = -EIO;

    if (!ctx) {
        error_setg(errp, "Could not allocate a cipher context");
        return -EIO;
    }
    if (len > INT_MAX ||
        EVP_CipherInit_ex(ctx, c, NULL, key, iv, enc) != 1 ||
        EVP_CIPHER_CTX_set_padding(ctx, 0) != 1 ||
        EVP_CipherUpdate(ctx, out, &l1, in, (int)len) != 1 ||
        EVP_CipherFinal_ex(ctx, out + l1, &l2) != 1 ||
        (size_t)(l1 + l2) != len) {
        error_setg(errp, "AES-CBC failed");
        goto out;
    }
    ret = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    return ret;
}

static int blob_hmac(const uint8_t *key, size_t keylen, const uint8_t *ct,
                     size_t ct_len, const uint8_t *iv, size_t iv_len,
                     uint8_t *mac, Error **errp)
{
    uint8_t *msg = qemu_xmalloc(ct_len + iv_len + 1);
    int ret;

    memcpy(msg, ct, ct_len);
    if (iv_len) {
        memcpy(msg + ct_len, iv, iv_len);
    }
    ret = qcrypto_hmac_sha256(key, keylen, msg, ct_len + iv_len, mac, errp);
    free(msg);
    return ret;
}

static bool keylen_ok(size_t keylen, Error **errp)
{
    if (keylen != 16 && keylen != 32) {
        error_setg(errp, "An swtpm key has 16 or 32 bytes, not %zu", keylen);
        return false;
    }
    return true;
}

int qcrypto_swtpm_seal(const uint8_t *key, size_t keylen, uint16_t tag_data,
                       uint16_t tag_iv, const uint8_t *in, size_t len,
                       uint8_t **out, size_t *out_len, Error **errp)
{
    size_t pad, ct_len, tot;
    uint8_t *padded = NULL, *b = NULL, *p, *ct;
    uint8_t iv[QCRYPTO_SWTPM_KEY_MAX];
    int ret = -EIO;

    if (!keylen_ok(keylen, errp)) {
        return -EINVAL;
    }
    pad = keylen - len % keylen;
    ct_len = len + pad;
    if (ct_len > UINT32_MAX - 3 * QCRYPTO_SWTPM_TLV_HDR - 64) {
        error_setg(errp, "Data too large to encrypt");
        return -EINVAL;
    }
    if (qcrypto_random_bytes(iv, keylen, errp) < 0) {
        return -EIO;
    }
    padded = qemu_xmalloc(ct_len);
    memcpy(padded, in, len);
    memset(padded + len, (int)pad, pad);
    tot = 3 * QCRYPTO_SWTPM_TLV_HDR + ct_len + QCRYPTO_SHA256_LEN + keylen;
    b = qemu_xmalloc(tot);
    ct = qcrypto_swtpm_tlv_put_hdr(b, tag_data, ct_len);
    if (cbc_run(true, key, keylen, iv, padded, ct_len, ct, errp) < 0) {
        goto out;
    }
    p = qcrypto_swtpm_tlv_put_hdr(ct + ct_len, QCRYPTO_SWTPM_TAG_HMAC,
                                  QCRYPTO_SHA256_LEN);
    if (blob_hmac(key, keylen, ct, ct_len, iv, keylen, p, errp) < 0) {
        goto out;
    }
    p = qcrypto_swtpm_tlv_put_hdr(p + QCRYPTO_SHA256_LEN, tag_iv, keylen);
    memcpy(p, iv, keylen);
    *out = b;
    *out_len = tot;
    b = NULL;
    ret = 0;
out:
    qcrypto_wipe_free(padded, ct_len);
    free(b);
    return ret;
}

int qcrypto_swtpm_open(const uint8_t *key, size_t keylen, uint16_t tag_data,
                       uint16_t tag_iv, const uint8_t *in, size_t len,
                       uint8_t **out, size_t *out_len, Error **errp)
{
    const uint8_t *ct, *mac, *iv;
    size_t ct_len, mac_len, iv_len = 0, pad;
    uint8_t want[QCRYPTO_SHA256_LEN], iv0[AES_BLOCK] = { 0 };
    uint8_t *plain;

    if (!keylen_ok(keylen, errp)) {
        return -EINVAL;
    }
    ct = qcrypto_swtpm_tlv_find(in, len, tag_data, &ct_len);
    mac = qcrypto_swtpm_tlv_find(in, len, QCRYPTO_SWTPM_TAG_HMAC, &mac_len);
    if (!ct || !mac || mac_len < QCRYPTO_SHA256_LEN) {
        error_setg(errp, "The encrypted blob lacks its data or its HMAC");
        return -EINVAL;
    }
    iv = qcrypto_swtpm_tlv_find(in, len, tag_iv, &iv_len);
    if (iv && iv_len < AES_BLOCK) {
        error_setg(errp, "The encrypted blob's IV is too short");
        return -EINVAL;
    }
    if (blob_hmac(key, keylen, ct, ct_len, iv, iv ? iv_len : 0, want,
                  errp) < 0) {
        return -EIO;
    }
    if (!qcrypto_memeq(want, mac, QCRYPTO_SHA256_LEN)) {
        error_setg(errp, "The encrypted blob's HMAC does not verify (wrong "
                   "key or altered data)");
        return -EBADMSG;
    }
    if (ct_len < keylen || ct_len % AES_BLOCK) {
        error_setg(errp, "The encrypted blob has a bad length");
        return -EINVAL;
    }
    plain = qemu_xmalloc(ct_len);
    if (cbc_run(false, key, keylen, iv ? iv : iv0, ct, ct_len, plain,
                errp) < 0) {
        qcrypto_wipe_free(plain, ct_len);
        return -EIO;
    }
    pad = plain[ct_len - 1];
    for (size_t i = 0; i < pad && pad <= keylen; i++) {
        if (plain[ct_len - 1 - i] != pad) {
            pad = 0;
        }
    }
    if (pad == 0 || pad > keylen) {
        error_setg(errp, "The encrypted blob's padding is bad");
        qcrypto_wipe_free(plain, ct_len);
        return -EINVAL;
    }
    *out = plain;
    *out_len = ct_len - pad;
    return 0;
}
