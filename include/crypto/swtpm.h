/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * swtpm.h: swtpm's key and blob formats, as pure encode/decode: key files
 * (hex or binary AES-128/256 keys, passphrases with swtpm's KDFs) and the
 * AES-CBC + HMAC-SHA256 encrypt-then-MAC TLVs of its state blobs.  The
 * formats are described in docs/tools/qemu-vtpm.rst ("swtpm's keys").
 */
#ifndef CRYPTO_SWTPM_H
#define CRYPTO_SWTPM_H

#include "qemu/error.h"

#define QCRYPTO_SWTPM_KEY_MAX   32      /* AES-256 */
#define QCRYPTO_SWTPM_TLV_HDR   6       /* tag u16 BE, length u32 BE */

/* TLV tags of swtpm's blobs */
#define QCRYPTO_SWTPM_TAG_DATA                  1
#define QCRYPTO_SWTPM_TAG_ENCRYPTED_DATA        2
#define QCRYPTO_SWTPM_TAG_HMAC                  3
#define QCRYPTO_SWTPM_TAG_MIGRATION_DATA        4
#define QCRYPTO_SWTPM_TAG_ENC_MIGRATION_DATA    5
#define QCRYPTO_SWTPM_TAG_IV_ENCRYPTED_DATA     6
#define QCRYPTO_SWTPM_TAG_IV_ENC_MIGRATION_DATA 7

typedef enum QCryptoSwtpmKdf {
    QCRYPTO_SWTPM_KDF_PBKDF2,   /* PBKDF2-HMAC-SHA512, salt "swtpm", 1000 */
    QCRYPTO_SWTPM_KDF_SHA512,   /* first bytes of SHA-512(passphrase) */
} QCryptoSwtpmKdf;

/*
 * A hex key as swtpm reads one: optional "0x", exactly 2 * @keylen hex
 * digits, then only white space.  false if @text is not such a key.
 */
bool qcrypto_swtpm_parse_hex(const uint8_t *text, size_t len, size_t keylen,
                             uint8_t *key);
/* swtpm's key (@keylen 16 or 32 bytes) from a passphrase file's bytes. */
int qcrypto_swtpm_kdf(const uint8_t *pass, size_t len, QCryptoSwtpmKdf kdf,
                      size_t keylen, uint8_t *key, Error **errp);

/* Find TLV @tag in [buf, buf+len): its value and length; NULL if absent or
 * if the stream is malformed before it. */
const uint8_t *qcrypto_swtpm_tlv_find(const uint8_t *buf, size_t len,
                                      uint16_t tag, size_t *vlen);
/* Write a TLV header at @p; returns p + QCRYPTO_SWTPM_TLV_HDR. */
uint8_t *qcrypto_swtpm_tlv_put_hdr(uint8_t *p, uint16_t tag, uint32_t len);

/*
 * Encrypt @len bytes with the AES-CBC key @key (@keylen 16 or 32) as swtpm
 * does: a fresh random IV of @keylen bytes (the first 16 are the CBC IV),
 * padding to a multiple of @keylen (every pad byte = pad length),
 * HMAC-SHA256 under @key over ciphertext || IV.  Output (malloc'ed): the
 * TLVs (@tag_data: ciphertext), (3: HMAC), (@tag_iv: IV).
 */
int qcrypto_swtpm_seal(const uint8_t *key, size_t keylen, uint16_t tag_data,
                       uint16_t tag_iv, const uint8_t *in, size_t len,
                       uint8_t **out, size_t *out_len, Error **errp);
/*
 * The reverse, from a TLV stream: -EBADMSG when the HMAC does not verify
 * (wrong key or altered data), -EINVAL when TLVs are missing or the
 * padding is bad, with errp set.  The plaintext is malloc'ed.
 */
int qcrypto_swtpm_open(const uint8_t *key, size_t keylen, uint16_t tag_data,
                       uint16_t tag_iv, const uint8_t *in, size_t len,
                       uint8_t **out, size_t *out_len, Error **errp);

#endif /* CRYPTO_SWTPM_H */
