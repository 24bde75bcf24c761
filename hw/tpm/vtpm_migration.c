/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vtpm_migration.c: the GET/SET_STATEBLOB blobs in swtpm's format (10-byte
 * header + TLVs), validated before any reply.  Runs on the engine thread;
 * uses the engine and the storage, neither of which calls back here.
 */
#include "qemu/osdep.h"
#include <libtpms/tpm_library.h>
#include <libtpms/tpm_error.h>
#include "qemu/cutils.h"
#include "hw/tpm/tpm_ioctl.h"
#include "hw/tpm/vtpm.h"

/* header(MIGRATION_DATA) + TLV4( TLV1(state) ), as swtpm sends it */
static uint8_t *blob_wrap(const uint8_t *state, size_t n, size_t *len)
{
    size_t tot = VTPM_BLOB_HDR_SIZE + 2 * VTPM_TLV_HDR_SIZE + n;
    uint8_t *b = qemu_xmalloc(tot), *p = b;

    p[VTPM_BLOB_HDR_VERSION] = VTPM_BLOB_VERSION;
    p[VTPM_BLOB_HDR_MIN_VERSION] = 1;
    stbe16(p + VTPM_BLOB_HDR_HDRSIZE, VTPM_BLOB_HDR_SIZE);
    stbe16(p + VTPM_BLOB_HDR_FLAGS, VTPM_BLOB_FLAG_MIGRATION_DATA);
    stbe32(p + VTPM_BLOB_HDR_TOTLEN, tot);
    p += VTPM_BLOB_HDR_SIZE;
    stbe16(p, VTPM_TAG_MIGRATION_DATA);
    stbe32(p + 2, VTPM_TLV_HDR_SIZE + n);
    p += VTPM_TLV_HDR_SIZE;
    stbe16(p, VTPM_TAG_DATA);
    stbe32(p + 2, n);
    p += VTPM_TLV_HDR_SIZE;
    memcpy(p, state, n);
    *len = tot;
    return b;
}

/* Find TLV @tag in [buf, buf+len); NULL if absent or malformed. */
static const uint8_t *tlv_find(const uint8_t *buf, size_t len, uint16_t tag,
                               size_t *vlen)
{
    size_t off = 0;

    while (len - off >= VTPM_TLV_HDR_SIZE) {
        uint16_t t = ldbe16(buf + off);
        uint32_t l = ldbe32(buf + off + 2);

        if (l > len - off - VTPM_TLV_HDR_SIZE) {
            return NULL;
        }
        if (t == tag) {
            *vlen = l;
            return buf + off + VTPM_TLV_HDR_SIZE;
        }
        off += VTPM_TLV_HDR_SIZE + l;
    }
    return NULL;
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
    vtpm_log(VTPM_LOG_INFO, "state blob type %" PRIu32 " sent: %zu bytes",
             type, *len);
    free(state);
    return VTPM_RES_SUCCESS;
}

/* Unwrap a blob to the plain TPM state; a VTPM_RES_* code. */
static uint32_t blob_unwrap(const uint8_t *b, size_t len, uint32_t flags,
                            const uint8_t **state, size_t *n)
{
    uint16_t hflags;
    const uint8_t *p;
    size_t plen;

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
    if ((hflags & (VTPM_BLOB_FLAG_ENCRYPTED |
                   VTPM_BLOB_FLAG_MIGRATION_ENCRYPTED)) ||
        (flags & VTPM_STATE_FLAG_ENCRYPTED)) {
        /* swtpm's AES-CBC keys are not ours to have. */
        return VTPM_RES_KEYNOTFOUND;
    }
    p = b + VTPM_BLOB_HDR_SIZE;
    plen = len - VTPM_BLOB_HDR_SIZE;
    if (hflags & VTPM_BLOB_FLAG_MIGRATION_DATA) {
        p = tlv_find(p, plen, VTPM_TAG_MIGRATION_DATA, &plen);
        if (!p) {
            return VTPM_RES_BAD_PARAMETER;
        }
    }
    p = tlv_find(p, plen, VTPM_TAG_DATA, &plen);
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
    size_t n = 0;
    Error *err = NULL;
    uint32_t res;

    if (!blob_state_type(type, &stype)) {
        return VTPM_RES_FAIL;
    }
    if (len) {
        res = blob_unwrap(blob, len, flags, &state, &n);
        if (res != VTPM_RES_SUCCESS) {
            vtpm_log(VTPM_LOG_ERROR, "state blob type %" PRIu32
                     " rejected (0x%" PRIx32 ")", type, res);
            return res;
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
        return VTPM_RES_IOERROR;
    }
    res = TPMLIB_SetState(stype, n ? state : NULL, n);
    if (res != TPM_SUCCESS) {
        vtpm_log(VTPM_LOG_ERROR, "libtpms rejected state blob type %" PRIu32
                 " (0x%" PRIx32 ")", type, res);
        return res;
    }
    if (vtpm_storage_activate(st, 300, &err) < 0) {
        vtpm_log_err(err);
        return VTPM_RES_IOERROR;
    }
    vtpm_log(VTPM_LOG_INFO, "state blob type %" PRIu32 " accepted: %zu bytes",
             type, n);
    return VTPM_RES_SUCCESS;
}
