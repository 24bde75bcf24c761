/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vtpm_migration.c: the GET/SET_STATEBLOB blobs in swtpm's format (10-byte
 * header + TLVs), validated before any reply; with a migration key they
 * travel encrypted as swtpm's (AES-CBC + HMAC-SHA256, crypto/swtpm.c).
 * Runs on the engine thread; uses the engine and the storage, neither of
 * which calls back here.
 */
#include "qemu/osdep.h"
#include <libtpms/tpm_library.h>
#include <libtpms/tpm_error.h>
#include "qemu/cutils.h"
#include "crypto/secret.h"
#include "crypto/swtpm.h"
#include "hw/tpm/tpm_ioctl.h"
#include "hw/tpm/vtpm.h"

/*
 * --migration-key: swtpm's AES-CBC key (mig_key_len 0: none), in memory
 * that core dumps leave out.
 */
static uint8_t *mig_key;
static size_t mig_key_len;

void vtpm_migration_set_key(const uint8_t *key, size_t len)
{
    qcrypto_secure_free(mig_key);
    mig_key = NULL;
    mig_key_len = key ? len : 0;
    if (key) {
        mig_key = qcrypto_secure_alloc(len);
        memcpy(mig_key, key, len);
    }
}

/*
 * As swtpm sends it: header(MIGRATION_DATA) + TLV4( TLV1(state) ), or with
 * a migration key header(MIGRATION_DATA|MIGRATION_ENCRYPTED[|256BIT]) +
 * TLV5(AES-CBC(TLV1(state))) + TLV3(HMAC) + TLV7(IV).  NULL on a crypto
 * failure.
 */
static uint8_t *blob_wrap(const uint8_t *state, size_t n, size_t *len)
{
    size_t inner_len = VTPM_TLV_HDR_SIZE + n, body_len, tot;
    uint8_t *inner = qemu_xmalloc(inner_len), *body = NULL, *b, *p;
    uint16_t flags = VTPM_BLOB_FLAG_MIGRATION_DATA;
    Error *err = NULL;

    p = qcrypto_swtpm_tlv_put_hdr(inner, VTPM_TAG_DATA, n);
    memcpy(p, state, n);
    if (mig_key_len) {
        if (qcrypto_swtpm_seal(mig_key, mig_key_len,
                               QCRYPTO_SWTPM_TAG_ENC_MIGRATION_DATA,
                               QCRYPTO_SWTPM_TAG_IV_ENC_MIGRATION_DATA,
                               inner, inner_len, &body, &body_len,
                               &err) < 0) {
            vtpm_log_err(err);
            qcrypto_wipe_free(inner, inner_len);
            return NULL;
        }
        flags |= VTPM_BLOB_FLAG_MIGRATION_ENCRYPTED;
        if (mig_key_len == 32) {
            flags |= VTPM_BLOB_FLAG_MIGRATION_256BIT_KEY;
        }
    } else {
        body_len = VTPM_TLV_HDR_SIZE + inner_len;
        body = qemu_xmalloc(body_len);
        p = qcrypto_swtpm_tlv_put_hdr(body, VTPM_TAG_MIGRATION_DATA,
                                      inner_len);
        memcpy(p, inner, inner_len);
    }
    qcrypto_wipe_free(inner, inner_len);
    tot = VTPM_BLOB_HDR_SIZE + body_len;
    b = qemu_xmalloc(tot);
    b[VTPM_BLOB_HDR_VERSION] = VTPM_BLOB_VERSION;
    b[VTPM_BLOB_HDR_MIN_VERSION] = 1;
    stbe16(b + VTPM_BLOB_HDR_HDRSIZE, VTPM_BLOB_HDR_SIZE);
    stbe16(b + VTPM_BLOB_HDR_FLAGS, flags);
    stbe32(b + VTPM_BLOB_HDR_TOTLEN, tot);
    memcpy(b + VTPM_BLOB_HDR_SIZE, body, body_len);
    qcrypto_wipe_free(body, body_len);
    *len = tot;
    return b;
}

uint32_t vtpm_migration_get_blob(VTPMEngine *e, uint32_t type,
                                 uint32_t req_flags, uint8_t **blob,
                                 size_t *len, uint32_t *resp_flags)
{
    unsigned char *state = NULL;
    uint32_t n = 0;
    TPM_RESULT res;

    *blob = NULL;
    *len = 0;
    *resp_flags = 0;        /* our blobs are never at-rest encrypted */
    switch (type) {
    case VTPM_BLOB_TYPE_PERMANENT:
        res = TPMLIB_GetState(TPMLIB_STATE_PERMANENT, &state, &n);
        break;
    case VTPM_BLOB_TYPE_VOLATILE:
        res = TPMLIB_VolatileAll_Store(&state, &n);
        break;
    case VTPM_BLOB_TYPE_SAVESTATE:
        if (vtpm_engine_is_tpm2(e)) {
            return VTPM_RES_RETRY;          /* TPM 2 has none */
        }
        res = TPMLIB_GetState(TPMLIB_STATE_SAVE_STATE, &state, &n);
        if (res == TPM_SUCCESS && n == 0) {
            res = TPM_RETRY;
        }
        break;
    default:
        return VTPM_RES_FAIL;
    }
    if (res != TPM_SUCCESS) {
        free(state);
        return res;
    }
    *blob = blob_wrap(state, n, len);
    qcrypto_wipe_free(state, n);
    if (!*blob) {
        return VTPM_RES_FAIL;
    }
    vtpm_log(VTPM_LOG_INFO, "state blob type %" PRIu32 " sent: %zu bytes%s",
             type, *len, mig_key_len ? " (encrypted)" : "");
    return VTPM_RES_SUCCESS;
}

/*
 * Decrypt the migration layer of an encrypted blob's TLVs @p/@plen with the
 * migration key into *inner (malloc'ed); a VTPM_RES_* code as swtpm's.
 */
static uint32_t blob_decrypt(uint16_t hflags, const uint8_t *p, size_t plen,
                             uint8_t **inner, size_t *inner_len)
{
    size_t need = (hflags & VTPM_BLOB_FLAG_MIGRATION_256BIT_KEY) ? 32u : 16u;
    Error *err = NULL;
    int ret;

    if (!mig_key_len) {
        vtpm_log(VTPM_LOG_ERROR, "state blob is encrypted with a migration "
                 "key, but none was given");
        return VTPM_RES_KEYNOTFOUND;
    }
    if (need != mig_key_len) {
        vtpm_log(VTPM_LOG_ERROR, "state blob needs a %zu-bit migration key",
                 need * 8);
        return VTPM_RES_BAD_KEY_PROPERTY;
    }
    ret = qcrypto_swtpm_open(mig_key, mig_key_len,
                             QCRYPTO_SWTPM_TAG_ENC_MIGRATION_DATA,
                             QCRYPTO_SWTPM_TAG_IV_ENC_MIGRATION_DATA,
                             p, plen, inner, inner_len, &err);
    if (ret < 0) {
        vtpm_log_err(err);
        return ret == -EBADMSG ? VTPM_RES_DECRYPT_ERROR : VTPM_RES_FAIL;
    }
    return VTPM_RES_SUCCESS;
}

/*
 * Unwrap a blob to the plain TPM state (*state points into @b or into
 * *to_free, which the caller wipes and frees); a VTPM_RES_* code.
 */
static uint32_t blob_unwrap(const uint8_t *b, size_t len, uint32_t flags,
                            const uint8_t **state, size_t *n,
                            uint8_t **to_free, size_t *to_free_len)
{
    uint16_t hflags;
    const uint8_t *p;
    size_t plen;
    uint32_t res;

    *to_free = NULL;
    *to_free_len = 0;
    if (len < VTPM_BLOB_HDR_SIZE) {
        return VTPM_RES_BAD_PARAMETER;
    }
    if (ldbe32(b + VTPM_BLOB_HDR_TOTLEN) != len) {
        return VTPM_RES_BAD_PARAMETER;
    }
    if (b[VTPM_BLOB_HDR_MIN_VERSION] > VTPM_BLOB_VERSION) {
        return VTPM_RES_BAD_VERSION;
    }
    if (ldbe16(b + VTPM_BLOB_HDR_HDRSIZE) != VTPM_BLOB_HDR_SIZE) {
        return VTPM_RES_BAD_DATASIZE;
    }
    hflags = ldbe16(b + VTPM_BLOB_HDR_FLAGS);
    if ((hflags & VTPM_BLOB_FLAG_ENCRYPTED) ||
        (flags & VTPM_STATE_FLAG_ENCRYPTED)) {
        /* swtpm's state keys are not ours to have. */
        return VTPM_RES_KEYNOTFOUND;
    }
    p = b + VTPM_BLOB_HDR_SIZE;
    plen = len - VTPM_BLOB_HDR_SIZE;
    if (hflags & VTPM_BLOB_FLAG_MIGRATION_ENCRYPTED) {
        if (b[VTPM_BLOB_HDR_VERSION] < VTPM_BLOB_VERSION) {
            return VTPM_RES_BAD_VERSION;    /* swtpm's pre-TLV format */
        }
        res = blob_decrypt(hflags, p, plen, to_free, to_free_len);
        if (res != VTPM_RES_SUCCESS) {
            return res;
        }
        p = *to_free;
        plen = *to_free_len;
    } else if (hflags & VTPM_BLOB_FLAG_MIGRATION_DATA) {
        p = qcrypto_swtpm_tlv_find(p, plen, VTPM_TAG_MIGRATION_DATA, &plen);
        if (!p) {
            return VTPM_RES_BAD_PARAMETER;
        }
    }
    p = qcrypto_swtpm_tlv_find(p, plen, VTPM_TAG_DATA, &plen);
    if (!p) {
        return VTPM_RES_BAD_PARAMETER;
    }
    *state = p;
    *n = plen;
    return VTPM_RES_SUCCESS;
}

/* libtpms' state type of a blob type; false for an unknown one. */
static bool blob_state_type(uint32_t type, enum TPMLIB_StateType *stype)
{
    switch (type) {
    case VTPM_BLOB_TYPE_PERMANENT:
        *stype = TPMLIB_STATE_PERMANENT;
        return true;
    case VTPM_BLOB_TYPE_VOLATILE:
        *stype = TPMLIB_STATE_VOLATILE;
        return true;
    case VTPM_BLOB_TYPE_SAVESTATE:
        *stype = TPMLIB_STATE_SAVE_STATE;
        return true;
    default:
        return false;
    }
}

uint32_t vtpm_migration_set_blob(VTPMEngine *e, uint32_t type,
                                 uint32_t flags, const uint8_t *blob,
                                 size_t len)
{
    VTPMStorage *st = vtpm_engine_storage(e);
    enum TPMLIB_StateType stype;
    const uint8_t *state = NULL;
    uint8_t *plain = NULL;
    size_t n = 0, plain_len = 0;
    Error *err = NULL;
    uint32_t res;

    if (!blob_state_type(type, &stype)) {
        return VTPM_RES_FAIL;
    }
    if (len) {
        res = blob_unwrap(blob, len, flags, &state, &n, &plain, &plain_len);
        if (res != VTPM_RES_SUCCESS) {
            vtpm_log(VTPM_LOG_ERROR, "state blob type %" PRIu32
                     " rejected (0x%" PRIx32 ")", type, res);
            goto out;
        }
    }
    /*
     * On an incoming migration the image is not ours yet: check it
     * read-only (under the store's serialization lock) before we accept
     * anything, so a wrong key or corrupt store fails the migration here.
     */
    if (vtpm_storage_state(st) != VTPM_STORAGE_ACTIVE &&
        vtpm_storage_validate(st, &err) < 0) {
        vtpm_log_err(err);
        res = VTPM_RES_IOERROR;
        goto out;
    }
    res = TPMLIB_SetState(stype, n ? state : NULL, n);
    if (res != TPM_SUCCESS) {
        vtpm_log(VTPM_LOG_ERROR, "libtpms rejected state blob type %" PRIu32
                 " (0x%" PRIx32 ")", type, res);
        goto out;
    }
    if (vtpm_storage_activate(st, 300, &err) < 0) {
        vtpm_log_err(err);
        res = VTPM_RES_IOERROR;
        goto out;
    }
    vtpm_log(VTPM_LOG_INFO, "state blob type %" PRIu32 " accepted: %zu bytes",
             type, n);
    res = VTPM_RES_SUCCESS;
out:
    if (plain) {
        qcrypto_wipe_free(plain, plain_len);
    }
    return res;
}
