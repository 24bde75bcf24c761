/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tpm_nvram_admin.c: administration of the TPM NVRAM store: info, list,
 * check (read and verify everything, write nothing) and rekey (one commit,
 * then the old generation is wiped).
 */
#include "qemu/osdep.h"

#include "qemu/cutils.h"
#include "block/block-backend.h"
#include "crypto/secret.h"
#include "hw/tpm/tpm_nvram_int.h"

int tpm_nvram_get_info(TPMNvram *nv, TPMNvramInfo *info, Error **errp)
{
    int locked = nv_begin(nv, false, false, errp);
    const NvDir *d;

    if (locked < 0) {
        return locked;
    }
    memset(info, 0, sizeof(*info));
    d = nv_cur_dir(nv);
    info->empty = !d;
    info->current_slot = nv->cur;
    info->image_length = nv->length;
    info->version_major = d ? d->major : NV_VERSION_MAJOR;
    info->version_minor = d ? d->minor : NV_VERSION_MINOR;
    info->cipher = "none";
    info->kdf = "none";
    if (d) {
        info->generation = d->generation;
        info->encrypted = d->flags & NV_FLAG_ENCRYPTED;
        if (info->encrypted) {
            info->cipher = "aes-256-gcm";
        }
        if (d->kdf == NV_KDF_PBKDF2_SHA256) {
            info->kdf = "pbkdf2-sha256";
        }
        info->kdf_iterations = d->kdf_iterations;
        info->blob_count = d->count;
    }
    nv_unlock(nv, locked);
    return 0;
}

static int blob_info_cmp(const void *a, const void *b)
{
    return strcmp(((const TPMNvramBlobInfo *)a)->name,
                  ((const TPMNvramBlobInfo *)b)->name);
}

int tpm_nvram_list(TPMNvram *nv, TPMNvramBlobInfo **blobs, size_t *count,
                   Error **errp)
{
    int locked = nv_begin(nv, false, false, errp);
    const NvDir *d;
    TPMNvramBlobInfo *b;

    if (locked < 0) {
        return locked;
    }
    d = nv_cur_dir(nv);
    *count = d ? d->count : 0;
    b = qemu_xnew0(TPMNvramBlobInfo, *count ? *count : 1);
    for (size_t i = 0; i < *count; i++) {
        pstrcpy(b[i].name, sizeof(b[i].name), d->e[i].name);
        b[i].length = d->e[i].length;
        b[i].generation = d->e[i].blob_gen;
        b[i].crc32 = d->e[i].plain_crc;
        b[i].offset = nv_entry_pos(&d->e[i], nv->cur);
    }
    qsort(b, *count, sizeof(*b), blob_info_cmp);
    *blobs = b;
    nv_unlock(nv, locked);
    return 0;
}

static void check_msg(TPMNvramCheckResult *res, const char *msg)
{
    char *m = qemu_xasprintf("%s%s\n", res->messages ? res->messages : "",
                             msg);
    free(res->messages);
    res->messages = m;
}

/* Count a problem in @res and add its message. */
static void check_problem(TPMNvramCheckResult *res, int *counter,
                          Error *err)
{
    (*counter)++;
    check_msg(res, error_get_pretty(err));
    error_free(err);
}

/*
 * Refresh for a check: 0: a state (or an empty store) to verify; 1:
 * corruption or an I/O error, counted in @res; <0: an error (not a store,
 * a newer version, a key problem).
 */
static int check_refresh(TPMNvram *nv, TPMNvramCheckResult *res,
                         Error **errp)
{
    Error *local = NULL;
    NvRefreshError why;
    int ret = nv_refresh(nv, true, &why, &local);

    if (ret == 0) {
        /* key problems are not corruption: report as an error */
        return nv_check_key(nv, false, errp);
    }
    if (why == NV_REFRESH_FOREIGN || why == NV_REFRESH_NEWER) {
        error_propagate(errp, local);
        return ret;
    }
    check_problem(res, why == NV_REFRESH_CORRUPT ? &res->corruptions
                                                 : &res->check_errors,
                  local);
    return 1;
}

/* Decrypt and verify every blob of the current state (when we can). */
static void check_blobs(TPMNvram *nv, TPMNvramCheckResult *res)
{
    const NvDir *d = nv_cur_dir(nv);

    res->authenticated = !(d->flags & NV_FLAG_ENCRYPTED) || nv->have_key;
    for (uint32_t i = 0; res->authenticated && i < d->count; i++) {
        Error *local = NULL;
        uint8_t *p = NULL;

        if (nv_plaintext(nv, i, &p, &local) < 0) {
            check_problem(res, &res->corruptions, local);
        } else {
            qcrypto_wipe_free(p, d->e[i].length);
        }
    }
}

/* Does the previous generation's slot still verify?  (Harmless if not.) */
static void check_other_slot(TPMNvram *nv, TPMNvramCheckResult *res)
{
    const NvDir *d = nv_cur_dir(nv);
    int other = 1 - nv->cur;
    NvSlot *os = &nv->slot[other];

    if (os->state == NV_SLOT_OK && !os->known_bad &&
        os->dir.generation < d->generation) {
        Error *local = NULL;
        uint8_t **data = NULL;
        char why[192];
        int r = nv_verify_slot(nv, &os->dir, other, &data, why,
                               sizeof(why), &local);
        if (r < 0) {
            check_problem(res, &res->check_errors, local);
        } else if (r == 0) {
            os->known_bad = true;
        } else {
            nv_free_data(data, os->dir.count);
        }
    }
    if ((os->state == NV_SLOT_OK && os->known_bad) ||
        os->state == NV_SLOT_DAMAGED || os->state == NV_SLOT_FOREIGN) {
        res->other_slot_damaged = true;
    }
}

int tpm_nvram_check(TPMNvram *nv, TPMNvramCheckResult *res, Error **errp)
{
    int locked, ret;

    memset(res, 0, sizeof(*res));
    res->authenticated = true;
    locked = nv_lock(nv, errp);
    if (locked < 0) {
        return locked;
    }
    ret = check_refresh(nv, res, errp);
    if (ret == 0 && nv->cur >= 0) {
        check_blobs(nv, res);
        check_other_slot(nv, res);
    }
    nv_unlock(nv, locked);
    return ret < 0 ? ret : 0;
}

void tpm_nvram_check_result_free(TPMNvramCheckResult *res)
{
    free(res->messages);
    res->messages = NULL;
}

/*
 * After a rekey is durable, overwrite what the previous generation kept
 * (directory slot @slot and the extents of @old that the current state does
 * not use), so no copy under the old key (or in plaintext) stays behind.
 * The current state references none of it, so a crash here is harmless.
 */
static int nv_scrub(TPMNvram *nv, const NvDir *old, int slot, Error **errp)
{
    const NvDir *cd = nv_cur_dir(nv);
    const int64_t chunk = 1 * MiB;
    uint8_t *zero = qemu_xzalloc(chunk);
    int64_t base = (int64_t)slot * NV_SLOT_SIZE;
    int ret = 0;

    /* Real zeroes, not a discard: the old bytes must really be gone. */
    for (uint32_t i = 0; i < old->count && ret == 0; i++) {
        const NvEntry *e = &old->e[i];
        int64_t left = nv_extent_size(e->length), off = e->offset;
        int j = nv_dir_find(cd, e->name);

        if (!e->length || e->is_inline ||
            (j >= 0 && !cd->e[j].is_inline && cd->e[j].offset == e->offset)) {
            continue;
        }
        left = MIN(left, nv->length - off);
        while (left > 0 && ret == 0) {
            int64_t n = MIN(left, chunk);
            ret = nv_write(nv, off, n, zero, errp);
            off += n;
            left -= n;
        }
    }
    if (ret == 0 && base < nv->length) {
        ret = nv_write(nv, base, MIN(NV_SLOT_SIZE, nv->length - base), zero,
                       errp);
    }
    if (ret == 0) {
        ret = nv_flush(nv, errp);
    }
    free(zero);
    nv->cache_valid = false;
    if (ret < 0) {
        error_prepend(errp, "Re-keyed, but could not wipe the old copy: ");
    }
    return ret;
}

/* Plaintext of every blob of the current state into @plain[]. */
static int rekey_read_all(TPMNvram *nv, uint8_t **plain, uint32_t count,
                          Error **errp)
{
    for (uint32_t i = 0; i < count; i++) {
        int ret = nv_plaintext(nv, i, &plain[i], errp);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

int tpm_nvram_rekey(TPMNvram *nv, const TPMNvramKey *new_key, Error **errp)
{
    NvDir *nd = NULL, *old = NULL;
    int old_slot;
    uint8_t **plain = NULL;
    uint8_t newkey[32];
    uint32_t count = 0;
    int locked, ret;

    locked = nv_begin(nv, true, true, errp);
    if (locked < 0) {
        return locked;
    }
    ret = nv_check_writable(nv, errp);
    if (ret < 0) {
        goto out;
    }
    nd = qemu_xzalloc(sizeof(*nd));
    if (nv->cur >= 0) {
        *nd = *nv_cur_dir(nv);
    }
    count = nd->count;
    ret = nv_new_params(new_key, nd, newkey, errp);
    if (ret < 0) {
        goto out;
    }
    plain = qemu_xnew0(uint8_t *, count ? count : 1);
    ret = rekey_read_all(nv, plain, count, errp);
    if (ret < 0) {
        goto out;
    }
    old = qemu_xmalloc(sizeof(*old));
    old_slot = nv->cur;
    if (old_slot >= 0) {
        *old = *nv_cur_dir(nv);
    }
    ret = nv_commit(nv, nd, plain, NULL, new_key ? newkey : NULL, errp);
    if (ret == 0 && old_slot >= 0) {
        ret = nv_scrub(nv, old, old_slot, errp);
    }
    if (ret == 0) {
        /* From now on the store answers to the new key only. */
        nv_set_key(nv, new_key);
        if (new_key) {
            nv_adopt_key(nv, nd, newkey);
        }
    }

out:
    for (uint32_t i = 0; plain && i < count; i++) {
        if (plain[i]) {
            qcrypto_wipe_free(plain[i], nd->e[i].length);
        }
    }
    free(plain);
    free(nd);
    free(old);
    qcrypto_wipe(newkey, sizeof(newkey));
    nv_unlock(nv, locked);
    return ret;
}
