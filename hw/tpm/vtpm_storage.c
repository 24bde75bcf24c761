/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vtpm_storage.c: the daemon's hold on its NVRAM image.  The store plus
 * the migration lock states: active (permission locks held, writes
 * allowed), released after an outgoing migration (every write refused),
 * incoming (no permission locks yet, read-only).
 */
#include "qemu/osdep.h"
#include "hw/tpm/vtpm.h"

struct VTPMStorage {
    BlockBackend *blk;
    TPMNvram *nv;
    VTPMStorageState state;
};

VTPMStorage *vtpm_storage_new(BlockBackend *blk, TPMNvram *nv, bool incoming)
{
    VTPMStorage *st = qemu_xnew0(VTPMStorage, 1);

    st->blk = blk;
    st->nv = nv;
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
