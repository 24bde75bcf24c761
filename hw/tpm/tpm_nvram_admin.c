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
        info->wipe_pending = d->pending & NV_PENDING_WIPE;
    }
    info->fallback = nv->fallback;
    info->lost_generation = nv->lost_gen;
    pstrcpy(info->fallback_why, sizeof(info->fallback_why),
            nv->fallback_why);
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

/*
 * Data the current state does not need, written under another key (or in
 * plaintext): a re-key whose wipe has not run yet.
 */
static void check_residue(TPMNvram *nv, TPMNvramCheckResult *res)
{
    const NvDir *d = nv_cur_dir(nv);
    const NvSlot *os = &nv->slot[1 - nv->cur];
    char *m = NULL;

    if (d->pending & NV_PENDING_WIPE) {
        m = qemu_xasprintf("TPM NVRAM store '%s' was re-keyed, but the data "
                           "of the previous key (or plaintext) is not wiped "
                           "yet; the next read-write open or commit wipes "
                           "it", nv->filename);
    } else if (os->state == NV_SLOT_OK &&
               (os->dir.flags != d->flags ||
                memcmp(os->dir.salt, d->salt, NV_SALT_LEN) ||
                memcmp(os->dir.kcv, d->kcv, NV_KCV_LEN))) {
        m = qemu_xasprintf("TPM NVRAM store '%s': the other slot still "
                           "holds generation %" PRIu64 " under a previous "
                           "key (or in plaintext); the next commit "
                           "overwrites its directory", nv->filename,
                           os->dir.generation);
    }
    if (m) {
        res->residue++;
        check_msg(res, m);
        free(m);
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
        check_residue(nv, res);
        res->fallback = nv->fallback;
        if (nv->fallback != TPM_NVRAM_FALLBACK_NONE) {
            check_msg(res, nv->fallback_why);
        }
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
 * Overwrite with zeroes whatever of [@off, @end) is not zero already
 * (reading is cheap; writing zeroes over unallocated qcow2 clusters would
 * allocate them).  Real zeroes, not a discard: old bytes must be gone.
 */
static int nv_zero_range(TPMNvram *nv, int64_t off, int64_t end,
                         uint8_t *buf, const uint8_t *zero, int64_t chunk,
                         Error **errp)
{
    end = MIN(end, nv->length);
    while (off < end) {
        int64_t n = MIN(end - off, chunk - off % chunk);
        int ret = blk_pread(nv->blk, off, n, buf);

        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not read TPM NVRAM store "
                             "'%s'", nv->filename);
            return ret;
        }
        if (!buffer_is_zero(buf, n)) {
            ret = nv_write(nv, off, n, zero, errp);
            if (ret < 0) {
                return ret;
            }
        }
        off += n;
    }
    return 0;
}

static int nv_extent_cmp(const void *a, const void *b)
{
    const NvEntry *x = *(const NvEntry *const *)a;
    const NvEntry *y = *(const NvEntry *const *)b;

    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/*
 * Overwrite every byte the current state does not reference: the other
 * slot, the current slot after its inline data, the data area outside the
 * current extents; then flush.  Whatever an older key (or no key) wrote
 * is gone afterwards.  The current state references none of it, so a
 * crash here is harmless, and running it again is cheap.
 */
static int nv_wipe_free(TPMNvram *nv, Error **errp)
{
    const NvDir *cd = nv_cur_dir(nv);
    const int64_t chunk = 256 * KiB;
    uint8_t *zero = qemu_xzalloc(chunk), *buf = qemu_xmalloc(chunk);
    const NvEntry *ext[NV_MAX_ENTRIES];
    int64_t cbase = (int64_t)nv->cur * NV_SLOT_SIZE;
    int64_t obase = (int64_t)(1 - nv->cur) * NV_SLOT_SIZE;
    uint64_t cend = nv_dir_used(cd->count);
    int64_t pos = NV_DATA_START;
    int next = 0, ret;

    for (uint32_t i = 0; i < cd->count; i++) {
        const NvEntry *e = &cd->e[i];
        if (e->length && e->is_inline) {
            cend = MAX(cend, e->offset + e->length);
        } else if (e->length) {
            ext[next++] = e;
        }
    }
    qsort(ext, next, sizeof(ext[0]), nv_extent_cmp);
    ret = nv_zero_range(nv, cbase + cend, cbase + NV_SLOT_SIZE, buf, zero,
                        chunk, errp);
    for (int i = 0; i <= next && ret == 0; i++) {
        int64_t gap_end = i < next ? (int64_t)ext[i]->offset : nv->length;

        ret = nv_zero_range(nv, pos, gap_end, buf, zero, chunk, errp);
        if (i < next) {
            pos = ext[i]->offset + nv_extent_size(ext[i]->length);
        }
    }
    if (ret == 0) {
        ret = nv_zero_range(nv, obase, obase + NV_SLOT_SIZE, buf, zero,
                            chunk, errp);
    }
    if (ret == 0) {
        ret = nv_flush(nv, errp);
    }
    free(zero);
    free(buf);
    if (ret == 0) {
        NvSlot *os = &nv->slot[1 - nv->cur];
        memset(os->raw, 0, sizeof(os->raw));
        os->state = NV_SLOT_ZERO;
        os->known_bad = false;
        os->why[0] = '\0';
    } else {
        nv->cache_valid = false;
    }
    return ret;
}

int nv_settle(TPMNvram *nv, Error **errp)
{
    const NvDir *cd = nv_cur_dir(nv);
    NvDir *nd;
    uint8_t **plain;
    int ret;

    if (!cd || !(cd->pending & NV_PENDING_WIPE)) {
        return 0;
    }
    ret = nv_wipe_free(nv, errp);
    if (ret == 0) {
        /* the same state, no longer owing the wipe */
        nd = qemu_xmalloc(sizeof(*nd));
        *nd = *cd;
        nd->pending &= ~NV_PENDING_WIPE;
        plain = qemu_xnew0(uint8_t *, nd->count ? nd->count : 1);
        ret = nv_commit(nv, nd, plain, NULL, NULL, errp);
        free(plain);
        free(nd);
    }
    if (ret < 0) {
        error_prepend(errp, "Could not wipe the data of a previous key: ");
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
    NvDir *nd = NULL;
    int old_slot;
    uint8_t **plain = NULL;
    uint8_t newkey[32];
    uint32_t count = 0;
    int locked, ret;

    locked = nv_begin(nv, true, true, errp);
    if (locked < 0) {
        return locked;
    }
    ret = nv_prepare_write(nv, errp);
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
    old_slot = nv->cur;
    /*
     * The new generation records that the old key's data must go: if we
     * are stopped before the wipe is done, the next read-write open or
     * commit does it (nv_settle).
     */
    if (old_slot >= 0) {
        nd->pending |= NV_PENDING_WIPE;
    }
    ret = nv_commit(nv, nd, plain, NULL, new_key ? newkey : NULL, errp);
    if (ret == 0) {
        /* From now on the store answers to the new key only. */
        nv_set_key(nv, new_key);
        if (new_key) {
            nv_adopt_key(nv, nd, newkey);
        }
        ret = nv_settle(nv, errp);
        if (ret < 0) {
            error_prepend(errp, "Re-keyed, but: ");
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
    qcrypto_wipe(newkey, sizeof(newkey));
    nv_unlock(nv, locked);
    return ret;
}
