/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vtpm_migration.c: the storage's migration states (active, released after
 * an outgoing migration, incoming) and the GET/SET_STATEBLOB blobs in
 * swtpm's format (10-byte header + TLVs), validated before any reply.
 */
#include "qemu/osdep.h"
#include <libtpms/tpm_library.h>
#include <libtpms/tpm_error.h>
#include <libtpms/tpm_nvfilename.h>
#include "qemu/cutils.h"
#include "hw/tpm/tpm_ioctl.h"
#include "hw/tpm/vtpm.h"

struct VTPMStorage {
    BlockBackend *blk;
    TPMNvram *nv;
    VTPMStorageState state;
    uint64_t perm, shared;      /* what we hold while active */
};

/* ---- storage states ------------------------------------------------------ */

VTPMStorage *vtpm_storage_new(BlockBackend *blk, TPMNvram *nv, bool incoming,
                              uint64_t perm, uint64_t shared)
{
    VTPMStorage *st = qemu_xnew0(VTPMStorage, 1);

    st->blk = blk;
    st->nv = nv;
    st->perm = perm;
    st->shared = shared;
    st->state = incoming ? VTPM_STORAGE_INCOMING : VTPM_STORAGE_ACTIVE;
    return st;
}

void vtpm_storage_free(VTPMStorage *st)
{
    if (!st) {
        return;
    }
    tpm_nvram_close(st->nv);
    blk_unref(st->blk);
    free(st);
}

VTPMStorageState vtpm_storage_state(VTPMStorage *st)
{
    return st->state;
}

static int storage_check_writable(VTPMStorage *st, const char *name,
                                  Error **errp)
{
    if (st->state == VTPM_STORAGE_ACTIVE) {
        return 0;
    }
    error_setg(errp, "Refusing to write TPM state '%s': the NVRAM image is "
               "%s", name, st->state == VTPM_STORAGE_RELEASED ?
               "released to a migration destination" :
               "not yet ours (incoming migration)");
    return -EPERM;
}

int vtpm_storage_load(VTPMStorage *st, const char *name, uint8_t **data,
                      size_t *len, Error **errp)
{
    return tpm_nvram_load(st->nv, name, data, len, errp);
}

int vtpm_storage_store(VTPMStorage *st, const char *name,
                       const uint8_t *data, size_t len, Error **errp)
{
    int ret = storage_check_writable(st, name, errp);

    if (ret < 0) {
        return ret;
    }
    return tpm_nvram_store(st->nv, name, data, len, errp);
}

int vtpm_storage_delete(VTPMStorage *st, const char *name, Error **errp)
{
    int ret = storage_check_writable(st, name, errp);

    if (ret < 0) {
        return ret;
    }
    return tpm_nvram_delete(st->nv, name, errp);
}

int vtpm_storage_validate(VTPMStorage *st, Error **errp)
{
    return tpm_nvram_validate(st->nv, errp);
}

int vtpm_storage_activate(VTPMStorage *st, unsigned retries, Error **errp)
{
    Error *err = NULL;
    unsigned i;
    int ret = 0;

    if (st->state == VTPM_STORAGE_ACTIVE) {
        return 0;
    }
    for (i = 0; i <= retries; i++) {
        error_free(err);
        err = NULL;
        /*
         * Incoming: opened inactive; released: inactivated.  Either way
         * this takes the permissions for real and makes the format
         * re-read its metadata (the other host wrote the image).
         */
        ret = blk_activate(st->blk, &err);
        if (ret == 0) {
            break;
        }
        if (i < retries) {
            struct timespec ts = { 0, 10 * 1000 * 1000 };

            nanosleep(&ts, NULL);
        }
    }
    if (ret < 0) {
        error_propagate(errp, err);
        return ret;
    }
    error_free(err);
    vtpm_log(VTPM_LOG_INFO, "NVRAM image locked (%s)",
             st->state == VTPM_STORAGE_RELEASED ? "migration fall-back"
                                                : "incoming migration");
    st->state = VTPM_STORAGE_ACTIVE;
    return 0;
}

int vtpm_storage_release(VTPMStorage *st, Error **errp)
{
    int ret;

    if (st->state == VTPM_STORAGE_RELEASED) {
        return 0;
    }
    /* Flush, then drop every lock, the format's on its file included. */
    ret = blk_inactivate(st->blk, errp);
    if (ret < 0) {
        return ret;
    }
    st->state = VTPM_STORAGE_RELEASED;
    vtpm_log(VTPM_LOG_INFO, "NVRAM image released for the migration "
             "destination; writes refused until it is locked again");
    return 0;
}

int vtpm_migration_activate(VTPMEngine *e, unsigned retries, Error **errp)
{
    VTPMStorage *st = vtpm_engine_storage(e);
    bool was_released = st->state == VTPM_STORAGE_RELEASED;
    unsigned char *buf = NULL;
    uint32_t len = 0;
    int ret;

    ret = vtpm_storage_activate(st, retries, errp);
    if (ret < 0 || !was_released || !vtpm_engine_running(e)) {
        return ret;
    }
    /* Fall-back: the running TPM is authoritative over the image. */
    if (TPMLIB_GetState(TPMLIB_STATE_PERMANENT, &buf, &len) != TPM_SUCCESS) {
        return 0;
    }
    ret = vtpm_storage_store(st, TPM_PERMANENT_ALL_NAME, buf, len, errp);
    free(buf);
    return ret;
}

/* ---- blobs --------------------------------------------------------------- */

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

    switch (type) {
    case VTPM_BLOB_TYPE_PERMANENT:
        stype = TPMLIB_STATE_PERMANENT;
        break;
    case VTPM_BLOB_TYPE_VOLATILE:
        stype = TPMLIB_STATE_VOLATILE;
        break;
    case VTPM_BLOB_TYPE_SAVESTATE:
        stype = TPMLIB_STATE_SAVE_STATE;
        break;
    default:
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
    if (st->state != VTPM_STORAGE_ACTIVE &&
        vtpm_storage_validate(st, &err) < 0) {
        vtpm_log(VTPM_LOG_ERROR, "%s", error_get_pretty(err));
        error_free(err);
        return VTPM_RES_IOERROR;
    }
    res = TPMLIB_SetState(stype, n ? state : NULL, n);
    if (res != TPM_SUCCESS) {
        vtpm_log(VTPM_LOG_ERROR, "libtpms rejected state blob type %" PRIu32
                 " (0x%" PRIx32 ")", type, res);
        return res;
    }
    if (vtpm_storage_activate(st, 300, &err) < 0) {
        vtpm_log(VTPM_LOG_ERROR, "%s", error_get_pretty(err));
        error_free(err);
        return VTPM_RES_IOERROR;
    }
    vtpm_log(VTPM_LOG_INFO, "state blob type %" PRIu32 " accepted: %zu bytes",
             type, n);
    return VTPM_RES_SUCCESS;
}
