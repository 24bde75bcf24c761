/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tpm_nvram.c: the TPM NVRAM blob store, opening and reading: lock, read
 * both directory slots, pick the current state (the complete slot with the
 * highest generation), check the key; load and validate blobs.
 * Commits are in tpm_nvram_commit.c, inspection and rekey in
 * tpm_nvram_admin.c, keys in tpm_nvram_key.c.
 */
#include "qemu/osdep.h"

#include "qemu/cutils.h"
#include "block/block-backend.h"
#include "crypto/secret.h"
#include "hw/tpm/tpm_nvram_int.h"

/* How far an "all-zero device" is checked. */
#define NV_ZERO_SCAN_LIMIT (16 * MiB)

/* ---- helpers ---------------------------------------------------------- */

void nv_free_data(uint8_t **data, uint32_t count)
{
    if (!data) {
        return;
    }
    for (uint32_t i = 0; i < count; i++) {
        free(data[i]);
    }
    free(data);
}

void nv_drop_cache(TPMNvram *nv)
{
    nv_free_data(nv->data, nv->data_count);
    nv->data = NULL;
    nv->data_count = 0;
    nv->cur = -1;
    nv->cache_valid = false;
}

int nv_lock(TPMNvram *nv, Error **errp)
{
    Error *local = NULL;
    int ret = bdrv_lock_timeout(blk_bs(nv->blk), nv->lock_timeout_ms,
                                &local);

    if (ret == -ENOTSUP) {
        /* locking=off or a driver that cannot lock: run unserialized */
        error_free(local);
        return 0;
    }
    if (ret < 0) {
        error_propagate(errp, local);
        error_prepend(errp, "Could not lock TPM NVRAM store '%s': ",
                      nv->filename);
        return ret;
    }
    return 1;
}

void nv_unlock(TPMNvram *nv, int locked)
{
    if (locked > 0) {
        bdrv_unlock(blk_bs(nv->blk), NULL);
    }
}

/* ---- reading the image ------------------------------------------------ */

static int nv_pread(TPMNvram *nv, int64_t off, int64_t len, void *buf,
                    Error **errp)
{
    int ret = blk_pread(nv->blk, off, len, buf);

    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read TPM NVRAM store '%s'",
                         nv->filename);
        /* -ENOENT means "no such blob" to the store's callers */
        if (ret == -ENOENT) {
            ret = -EIO;
        }
    }
    return ret;
}

/*
 * Is the image all zeroes up to NV_ZERO_SCAN_LIMIT (or its end, when
 * shorter)?  1: yes, an empty store; 0: no; <0: I/O error.
 */
static int nv_rest_is_zero(TPMNvram *nv, Error **errp)
{
    int64_t end = MIN(nv->length, NV_ZERO_SCAN_LIMIT);
    uint8_t *buf;
    int ret = 1;

    if (end <= 0) {
        return 1;
    }
    buf = qemu_xmalloc(256 * KiB);
    for (int64_t off = 0; off < end && ret == 1;) {
        int64_t n = MIN(end - off, 256 * KiB);

        ret = nv_pread(nv, off, n, buf, errp);
        if (ret < 0) {
            break;
        }
        ret = 1;
        if (!buffer_is_zero(buf, n)) {
            ret = 0;
        }
        off += n;
    }
    free(buf);
    return ret;
}

/*
 * Read every blob of @dir and check the CRC of the stored bytes.
 * 1: all verify (*pdata filled), 0: they do not (@why), <0: I/O error.
 */
int nv_verify_slot(TPMNvram *nv, const NvDir *dir, int slot,
                   uint8_t ***pdata, char *why, size_t why_len,
                   Error **errp)
{
    uint8_t **data = qemu_xnew0(uint8_t *, dir->count ? dir->count : 1);
    int ret;

    for (uint32_t i = 0; i < dir->count; i++) {
        const NvEntry *e = &dir->e[i];

        if (e->length == 0) {
            continue;
        }
        uint64_t pos = nv_entry_pos(e, slot);

        if (pos + e->length > (uint64_t)nv->length) {
            snprintf(why, why_len, "blob '%s' lies beyond the end of the "
                     "image", e->name);
            goto bad;
        }
        data[i] = qemu_xmalloc(e->length);
        ret = nv_pread(nv, pos, e->length, data[i], errp);
        if (ret < 0) {
            nv_free_data(data, dir->count);
            return ret;
        }
        if (nv_crc32(data[i], e->length) != e->stored_crc) {
            snprintf(why, why_len, "blob '%s' (generation %" PRIu64
                     ") fails its CRC", e->name, e->blob_gen);
            goto bad;
        }
    }
    *pdata = data;
    return 1;

bad:
    nv_free_data(data, dir->count);
    return 0;
}

/*
 * The image's length, and the first NV_DIR_MAX bytes of each slot in @raw
 * (zeroes past the end).  A changed length sets *@full.
 */
static int nv_read_slots(TPMNvram *nv, uint8_t *raw, bool *full,
                         Error **errp)
{
    int64_t len = blk_getlength(nv->blk);

    if (len < 0) {
        error_setg_errno(errp, (int)-len, "Could not get the length of "
                         "TPM NVRAM store '%s'", nv->filename);
        return (int)len;
    }
    if (len != nv->length) {
        *full = true;
    }
    nv->length = len;
    for (int s = 0; s < NV_SLOT_COUNT; s++) {
        int64_t off = (int64_t)s * NV_SLOT_SIZE;
        int ret;

        if (len <= off) {
            continue;
        }
        ret = nv_pread(nv, off, MIN(len - off, NV_DIR_MAX),
                       raw + s * NV_DIR_MAX, errp);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

/*
 * Decode the slots whose bytes differ from what we saw last time (all of
 * them with @full).  Returns whether the cached current state still holds.
 */
static bool nv_decode_slots(TPMNvram *nv, const uint8_t *raw, bool full)
{
    bool reuse_cur = false;

    if (full || !nv->cache_valid) {
        nv_drop_cache(nv);
    }
    for (int s = 0; s < NV_SLOT_COUNT; s++) {
        NvSlot *sl = &nv->slot[s];
        const uint8_t *r = raw + s * NV_DIR_MAX;

        /* a well-formed directory is defined by its used bytes alone */
        size_t cmp_len = sl->state == NV_SLOT_OK ?
                         nv_dir_used(sl->dir.count) : NV_DIR_MAX;

        if (nv->cache_valid && memcmp(sl->raw, r, cmp_len) == 0) {
            if (s == nv->cur) {
                reuse_cur = true;
            }
            continue;
        }
        memcpy(sl->raw, r, NV_DIR_MAX);
        sl->why[0] = '\0';
        sl->known_bad = false;
        sl->state = nv_dir_decode(r, NV_DIR_MAX, &sl->dir, sl->why,
                                  sizeof(sl->why));
    }
    if (!reuse_cur) {
        nv_drop_cache(nv);
    }
    nv->cache_valid = true;
    return reuse_cur;
}

/*
 * Make the complete slot with the highest generation the current state
 * (keeping the cached one when @reuse_cur and it is still the newest).
 * 1: done, 0: no slot is complete, <0: I/O error.
 */
static int nv_pick_current(TPMNvram *nv, bool reuse_cur, Error **errp)
{
    int order[NV_SLOT_COUNT], n = 0;

    for (int s = 0; s < NV_SLOT_COUNT; s++) {
        if (nv->slot[s].state == NV_SLOT_OK) {
            order[n++] = s;
        }
    }
    if (n == 2 && nv->slot[order[1]].dir.generation >
                  nv->slot[order[0]].dir.generation) {
        int t = order[0];
        order[0] = order[1];
        order[1] = t;
    }
    for (int i = 0; i < n; i++) {
        NvSlot *sl = &nv->slot[order[i]];
        uint8_t **data = NULL;
        int ret;

        if (reuse_cur && order[i] == nv->cur) {
            return 1;
        }
        if (sl->known_bad) {
            continue;
        }
        ret = nv_verify_slot(nv, &sl->dir, order[i], &data, sl->why,
                             sizeof(sl->why), errp);
        if (ret < 0) {
            return ret;
        }
        if (ret == 1) {
            nv_drop_cache(nv);
            nv->cache_valid = true;
            nv->cur = order[i];
            nv->data = data;
            nv->data_count = sl->dir.count;
            return 1;
        }
        sl->known_bad = true;
    }
    return 0;
}

/*
 * No slot holds a complete state: 0 for an empty store (all zeroes), or
 * why the image is none (*@why, errp set).
 */
static int nv_no_current(TPMNvram *nv, NvRefreshError *why, Error **errp)
{
    nv_drop_cache(nv);
    for (int s = 0; s < NV_SLOT_COUNT; s++) {
        if (nv->slot[s].state == NV_SLOT_NEWER) {
            error_setg(errp, "TPM NVRAM store '%s' has an %s", nv->filename,
                       nv->slot[s].why);
            *why = NV_REFRESH_NEWER;
            return -ENOTSUP;
        }
    }
    for (int s = 0; s < NV_SLOT_COUNT; s++) {
        if (nv->slot[s].state == NV_SLOT_DAMAGED ||
            nv->slot[s].state == NV_SLOT_OK) {
            error_setg(errp, "TPM NVRAM store '%s' is corrupt: %s",
                       nv->filename, nv->slot[s].why);
            *why = NV_REFRESH_CORRUPT;
            return -EIO;
        }
    }
    if (nv->slot[0].state == NV_SLOT_ZERO &&
        nv->slot[1].state == NV_SLOT_ZERO) {
        if (!nv->zero_checked) {
            int ret = nv_rest_is_zero(nv, errp);

            if (ret < 0) {
                *why = NV_REFRESH_IO;
                return ret;
            }
            nv->zero_checked = ret == 1;
        }
        if (nv->zero_checked) {
            nv->cache_valid = true;
            return 0;
        }
    }
    error_setg(errp, "'%s' is not a TPM NVRAM store", nv->filename);
    *why = NV_REFRESH_FOREIGN;
    return -EINVAL;
}

const char *tpm_nvram_fallback_name(TPMNvramFallback f)
{
    switch (f) {
    case TPM_NVRAM_FALLBACK_INTERRUPTED:
        return "interrupted-commit";
    case TPM_NVRAM_FALLBACK_ROLLBACK:
        return "rollback";
    case TPM_NVRAM_FALLBACK_UNKNOWN:
        return "unknown";
    default:
        return "none";
    }
}

/* Why slot @sl holds no complete state (for messages). */
static void nv_slot_why(const NvSlot *sl, char *buf, size_t len)
{
    if (sl->state == NV_SLOT_OK && sl->why[0]) {
        snprintf(buf, len, "%s", sl->why);
    } else if (sl->why[0]) {
        snprintf(buf, len, "its slot does not verify (%s)", sl->why);
    } else {
        snprintf(buf, len, "%s", sl->state == NV_SLOT_ZERO ?
                 "its slot is empty" : "its slot holds no directory");
    }
}

/*
 * Is the current state the newest the image has seen?  A slot records,
 * once the commit after it was durable, that commit's generation
 * ("successor", format 1.1): so a current slot with a successor means a
 * committed generation was lost (a rollback); a newer but incomplete
 * directory without it is an interrupted commit.
 */
static void nv_note_fallback(TPMNvram *nv)
{
    const NvSlot *cs, *os;
    const NvDir *cd;
    char why[224];

    nv->fallback = TPM_NVRAM_FALLBACK_NONE;
    nv->lost_gen = 0;
    nv->fallback_why[0] = '\0';
    if (nv->cur < 0) {
        return;
    }
    cs = &nv->slot[nv->cur];
    os = &nv->slot[1 - nv->cur];
    cd = &cs->dir;
    nv_slot_why(os, why, sizeof(why));
    if (cd->successor) {
        nv->fallback = TPM_NVRAM_FALLBACK_ROLLBACK;
        nv->lost_gen = cd->successor;
        snprintf(nv->fallback_why, sizeof(nv->fallback_why),
                 "TPM NVRAM store '%s' rolled back: generation %" PRIu64
                 " was committed, but %s; using generation %" PRIu64,
                 nv->filename, cd->successor, why, cd->generation);
    } else if (os->state == NV_SLOT_OK &&
               os->dir.generation > cd->generation) {
        nv->lost_gen = os->dir.generation;
        if (cd->minor >= 1) {
            nv->fallback = TPM_NVRAM_FALLBACK_INTERRUPTED;
            snprintf(nv->fallback_why, sizeof(nv->fallback_why),
                     "TPM NVRAM store '%s': an interrupted commit "
                     "(generation %" PRIu64 ", %s) was discarded; using "
                     "generation %" PRIu64, nv->filename,
                     os->dir.generation, why, cd->generation);
        } else {
            nv->fallback = TPM_NVRAM_FALLBACK_UNKNOWN;
            snprintf(nv->fallback_why, sizeof(nv->fallback_why),
                     "TPM NVRAM store '%s' may have rolled back: "
                     "generation %" PRIu64 " does not verify (%s), and "
                     "format %u.%u cannot tell an interrupted commit from "
                     "a damaged slot; using generation %" PRIu64,
                     nv->filename, os->dir.generation, why,
                     cd->major, cd->minor, cd->generation);
        }
    }
}

int nv_refresh(TPMNvram *nv, bool full, NvRefreshError *why, Error **errp)
{
    uint8_t *raw = qemu_xzalloc(NV_SLOT_COUNT * NV_DIR_MAX);
    NvRefreshError why_ignored;
    int ret;

    why = why ? why : &why_ignored;
    *why = NV_REFRESH_IO;
    ret = nv_read_slots(nv, raw, &full, errp);
    if (ret == 0) {
        ret = nv_pick_current(nv, nv_decode_slots(nv, raw, full), errp);
        if (ret == 0) {
            ret = nv_no_current(nv, why, errp);
        }
    }
    if (ret < 0) {
        nv_drop_cache(nv);
    } else {
        *why = NV_REFRESH_OK;
        ret = 0;
    }
    nv_note_fallback(nv);
    free(raw);
    return ret;
}

/* Lock, refresh, check the key: the prologue of every operation. */
int nv_begin(TPMNvram *nv, bool full, bool need_key, Error **errp)
{
    int locked = nv_lock(nv, errp);
    int ret;

    if (locked < 0) {
        return locked;
    }
    ret = nv_refresh(nv, full, NULL, errp);
    if (ret == 0) {
        ret = nv_check_key(nv, need_key, errp);
    }
    if (ret < 0) {
        nv_unlock(nv, locked);
        return ret;
    }
    return locked;
}

/* ---- public API ------------------------------------------------------- */

TPMNvram *tpm_nvram_open_opts(BlockBackend *blk, const TPMNvramKey *key,
                              const TPMNvramOpenOptions *opts, Error **errp)
{
    TPMNvramOpenOptions defaults = TPM_NVRAM_OPEN_OPTIONS_DEFAULT;
    TPMNvram *nv = qemu_xzalloc(sizeof(*nv));
    Error *local = NULL;
    NvRefreshError why;
    int flags, locked, ret;

    if (!opts) {
        opts = &defaults;
    }
    flags = opts->flags;
    nv->blk = blk;
    nv->filename = qemu_xstrdup(bdrv_get_image_filename(blk_bs(blk)));
    nv->flags = flags;
    nv->lock_timeout_ms = opts->lock_timeout_ms;
    nv->cur = -1;
    nv->key = qcrypto_secure_alloc(32);
    nv_set_key(nv, key);

    locked = nv_lock(nv, errp);
    if (locked < 0) {
        goto fail;
    }
    ret = nv_refresh(nv, true, &why, &local);
    if (ret < 0 && (flags & TPM_NVRAM_OPEN_CHECK) &&
        (why == NV_REFRESH_CORRUPT || why == NV_REFRESH_IO)) {
        error_free(local);
        local = NULL;
        ret = 0;
    } else if (ret == 0) {
        ret = nv_check_key(nv, false, &local);
    }
    if (ret == 0 && (flags & TPM_NVRAM_OPEN_REFUSE_ROLLBACK) &&
        (nv->fallback == TPM_NVRAM_FALLBACK_ROLLBACK ||
         nv->fallback == TPM_NVRAM_FALLBACK_UNKNOWN)) {
        const char *tail = strstr(nv->fallback_why, "; using generation");

        error_setg(&local, "%.*s; refusing to fall back to generation %"
                   PRIu64, tail ? (int)(tail - nv->fallback_why) :
                   (int)strlen(nv->fallback_why), nv->fallback_why,
                   nv_cur_dir(nv)->generation);
        ret = -ESTALE;
    }
    if (ret == 0 && !(flags & (TPM_NVRAM_OPEN_INSPECT |
                               TPM_NVRAM_OPEN_CHECK)) &&
        !bdrv_is_read_only(blk_bs(blk)) && !blk_is_inactive(blk)) {
        /* finish what an interrupted re-key left (a wipe) */
        ret = nv_settle(nv, &local);
    }
    nv_unlock(nv, locked);
    if (ret < 0) {
        error_propagate(errp, local);
        goto fail;
    }
    return nv;

fail:
    tpm_nvram_close(nv);
    return NULL;
}

TPMNvram *tpm_nvram_open(BlockBackend *blk, const TPMNvramKey *key,
                         Error **errp)
{
    return tpm_nvram_open_opts(blk, key, NULL, errp);
}

void tpm_nvram_close(TPMNvram *nv)
{
    if (!nv) {
        return;
    }
    nv_drop_cache(nv);
    qcrypto_secure_free(nv->pass);
    qcrypto_secure_free(nv->key);
    free(nv->filename);
    qcrypto_wipe(nv, sizeof(*nv));
    free(nv);
}

int tpm_nvram_load(TPMNvram *nv, const char *name, uint8_t **data,
                   size_t *len, Error **errp)
{
    int locked, idx, ret;

    *data = NULL;
    *len = 0;
    locked = nv_begin(nv, false, true, errp);
    if (locked < 0) {
        return locked;
    }
    idx = nv->cur >= 0 ? nv_dir_find(nv_cur_dir(nv), name) : -1;
    if (idx < 0) {
        ret = -ENOENT;
    } else {
        ret = nv_plaintext(nv, idx, data, errp);
        if (ret == 0) {
            *len = nv_cur_dir(nv)->e[idx].length;
        }
    }
    nv_unlock(nv, locked);
    return ret;
}

int tpm_nvram_validate(TPMNvram *nv, Error **errp)
{
    int locked, ret = 0;
    bool inspect = !nv->have_key;

    locked = nv_begin(nv, true, !(nv->flags & TPM_NVRAM_OPEN_INSPECT),
                      errp);
    if (locked < 0) {
        return locked;
    }
    for (uint32_t i = 0; nv->cur >= 0 && i < nv_cur_dir(nv)->count; i++) {
        uint8_t *p = NULL;

        if (inspect && (nv_cur_dir(nv)->flags & NV_FLAG_ENCRYPTED)) {
            break; /* stored CRCs verified; cannot authenticate */
        }
        ret = nv_plaintext(nv, i, &p, errp);
        if (ret < 0) {
            break;
        }
        qcrypto_wipe_free(p, nv_cur_dir(nv)->e[i].length);
    }
    nv_unlock(nv, locked);
    return ret;
}
