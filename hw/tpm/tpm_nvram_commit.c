/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tpm_nvram_commit.c: writing the TPM NVRAM store: a commit lays out the
 * next generation in the other directory slot, writes it and publishes it
 * with one flush (docs/specs/tpm-nvram.rst, "Commit protocol"); store and
 * delete are commits.
 */
#include "qemu/osdep.h"

#include <assert.h>

#include "qemu/cutils.h"
#include "block/block-backend.h"
#include "crypto/secret.h"
#include "hw/tpm/tpm_nvram_int.h"

/* The image grows in steps of this size. */
#define NV_GROW_STEP (64 * KiB)

typedef struct NvExtent {
    uint64_t start, end;
} NvExtent;

static uint64_t nv_alloc(NvExtent *ext, int *n, uint64_t size)
{
    uint64_t cand = NV_DATA_START;
    bool moved = true;

    while (moved) {
        moved = false;
        for (int i = 0; i < *n; i++) {
            if (cand < ext[i].end && ext[i].start < cand + size) {
                cand = ext[i].end;
                moved = true;
            }
        }
    }
    ext[*n].start = cand;
    ext[*n].end = cand + size;
    (*n)++;
    return cand;
}

int nv_write(TPMNvram *nv, int64_t off, int64_t len, const void *buf,
             Error **errp)
{
    int ret = blk_pwrite(nv->blk, off, len, buf, 0);

    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not write TPM NVRAM store '%s'",
                         nv->filename);
    }
    return ret;
}

int nv_flush(TPMNvram *nv, Error **errp)
{
    int ret = blk_flush(nv->blk);

    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not flush TPM NVRAM store '%s'",
                         nv->filename);
    }
    return ret;
}

static int nv_grow(TPMNvram *nv, int64_t end, Error **errp)
{
    int64_t new_len;
    int ret;

    if (end <= nv->length) {
        return 0;
    }
    new_len = QEMU_ALIGN_UP(end, NV_GROW_STEP);
    ret = blk_truncate(nv->blk, new_len, false, PREALLOC_MODE_OFF, errp);
    if (ret < 0) {
        error_prepend(errp, "Could not grow TPM NVRAM store '%s': ",
                      nv->filename);
        return ret;
    }
    nv->length = new_len;
    return 0;
}

/* Write one directory slot (padded to whole sectors). */
static int nv_write_slot(TPMNvram *nv, int s, const uint8_t *buf,
                         size_t used, Error **errp)
{
    return nv_write(nv, (int64_t)s * NV_SLOT_SIZE,
                    QEMU_ALIGN_UP(used, BDRV_SECTOR_SIZE), buf, errp);
}

/* Make an empty store: generation 1, no blobs, in slot 0; one flush. */
static int nv_format(TPMNvram *nv, const NvDir *params, Error **errp)
{
    NvSlot *sl = &nv->slot[0];
    NvDir *d = &sl->dir;
    size_t used;
    int ret;

    ret = nv_grow(nv, BDRV_SECTOR_SIZE, errp);
    if (ret < 0) {
        return ret;
    }
    memset(d, 0, sizeof(*d));
    memset(sl->raw, 0, sizeof(sl->raw));
    d->major = NV_VERSION_MAJOR;
    d->minor = NV_VERSION_MINOR;
    d->generation = 1;
    d->flags = params->flags;
    d->cipher = params->cipher;
    d->kdf = params->kdf;
    d->kdf_iterations = params->kdf_iterations;
    memcpy(d->salt, params->salt, NV_SALT_LEN);
    memcpy(d->kcv, params->kcv, NV_KCV_LEN);
    used = nv_dir_encode(d, sl->raw);
    ret = nv_write_slot(nv, 0, sl->raw, used, errp);
    if (ret == 0) {
        ret = nv_flush(nv, errp);
    }
    if (ret < 0) {
        nv->cache_valid = false;
        return ret;
    }
    sl->state = NV_SLOT_OK;
    sl->known_bad = false;
    nv->cur = 0;
    nv->data = qemu_xnew0(uint8_t *, 1);
    nv->data_count = 0;
    nv->cache_valid = true;
    return 0;
}

/* The working state of one commit (nv_commit()). */
typedef struct NvCommit {
    TPMNvram *nv;
    NvDir *nd;                  /* the next generation's directory */
    uint8_t *const *plain;      /* new plaintext of entry i, NULL: kept */
    const uint32_t *crcs;       /* CRCs of @plain (NULL: computed) */
    const uint8_t *key;         /* encrypts new blobs (NULL: plain) */
    const NvDir *cd;            /* the current directory */
    int target;                 /* the slot this commit writes */
    NvExtent ext[2 * NV_MAX_ENTRIES + 1];   /* extents in use */
    int next;                   /* used entries of @ext */
    uint8_t **fresh;            /* stored bytes made by this commit */
    const uint8_t **src;        /* stored bytes of each entry */
    bool *to_extent;            /* entry i goes to an extent */
    uint8_t *slotbuf;           /* the new slot: directory + inline data */
    uint64_t inline_end;        /* end of the inline data in @slotbuf */
} NvCommit;

/*
 * Phase 1: the next generation goes into the other slot; the extents the
 * current directory uses are taken.
 */
static void nv_commit_start(NvCommit *c)
{
    const NvDir *cd = nv_cur_dir(c->nv);
    NvDir *nd = c->nd;

    c->cd = cd;
    c->target = 1 - c->nv->cur;
    nd->major = NV_VERSION_MAJOR;
    nd->minor = NV_VERSION_MINOR;
    nd->generation = cd->generation + 1;
    nd->successor = 0;
    for (uint32_t i = 0; i < cd->count; i++) {
        if (cd->e[i].length && !cd->e[i].is_inline) {
            c->ext[c->next].start = cd->e[i].offset;
            c->ext[c->next].end = cd->e[i].offset +
                                  nv_extent_size(cd->e[i].length);
            c->next++;
        }
    }
    c->fresh = qemu_xnew0(uint8_t *, nd->count + 1);
    c->src = qemu_xnew0(const uint8_t *, nd->count + 1);
    c->to_extent = qemu_xnew0(bool, nd->count + 1);
    c->slotbuf = qemu_xzalloc(NV_SLOT_SIZE);
    c->inline_end = QEMU_ALIGN_UP(nv_dir_used(nd->count), NV_INLINE_ALIGN);
}

/* Stored bytes of new entry @i: encrypted with the commit's key, or plain. */
static int nv_commit_new_blob(NvCommit *c, uint32_t i, Error **errp)
{
    NvEntry *e = &c->nd->e[i];

    e->blob_gen = c->nd->generation;
    e->plain_crc = c->crcs ? c->crcs[i] : nv_crc32(c->plain[i], e->length);
    e->is_inline = false;
    e->offset = 0;
    memset(e->nonce, 0, NV_NONCE_LEN);
    memset(e->tag, 0, NV_TAG_LEN);
    c->fresh[i] = qemu_xzalloc(QEMU_ALIGN_UP(e->length, BDRV_SECTOR_SIZE) + 1);
    c->src[i] = c->fresh[i];
    if (c->key) {
        int ret = nv_seal(c->nv, c->nd, e, c->key, c->plain[i], c->fresh[i],
                          errp);
        if (ret < 0) {
            return ret;
        }
        e->stored_crc = nv_crc32(c->fresh[i], e->length);
    } else {
        if (e->length) {
            memcpy(c->fresh[i], c->plain[i], e->length);
        }
        e->stored_crc = e->plain_crc;
    }
    return 0;
}

/* Phase 2: stored bytes: unchanged blobs as they are, new ones sealed. */
static int nv_commit_blobs(NvCommit *c, Error **errp)
{
    for (uint32_t i = 0; i < c->nd->count; i++) {
        NvEntry *e = &c->nd->e[i];

        if (c->plain[i]) {
            int ret = nv_commit_new_blob(c, i, errp);
            if (ret < 0) {
                return ret;
            }
        } else {
            int j = nv_dir_find(c->cd, e->name);
            assert(j >= 0);
            *e = c->cd->e[j];
            c->src[i] = c->nv->data[j];
        }
    }
    return 0;
}

/*
 * Phase 3, placement: first the unchanged inline blobs, then the new ones,
 * in directory order, inline while they fit; the rest go to extents.
 */
static void nv_commit_place(NvCommit *c)
{
    NvDir *nd = c->nd;

    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t i = 0; i < nd->count; i++) {
            NvEntry *e = &nd->e[i];
            bool is_new = c->plain[i] != NULL;

            if (!e->length || is_new != (pass == 1) ||
                (!is_new && !e->is_inline)) {
                continue;
            }
            if (e->length <= NV_SLOT_SIZE - c->inline_end) {
                e->is_inline = true;
                e->offset = c->inline_end;
                memcpy(c->slotbuf + c->inline_end, c->src[i], e->length);
                c->inline_end = QEMU_ALIGN_UP(c->inline_end + e->length,
                                              NV_INLINE_ALIGN);
            } else {
                e->is_inline = false;
                e->offset = nv_alloc(c->ext, &c->next,
                                     nv_extent_size(e->length));
                c->to_extent[i] = true;
            }
        }
    }
    for (uint32_t i = 0; i < nd->count; i++) {
        if (!nd->e[i].length) {
            nd->e[i].offset = 0;
            nd->e[i].is_inline = false;
        }
    }
}

/* Phase 4: grow the image as far as the new slot and extents need. */
static int nv_commit_grow(NvCommit *c, Error **errp)
{
    const NvDir *nd = c->nd;
    int64_t end = (int64_t)c->target * NV_SLOT_SIZE +
                  QEMU_ALIGN_UP(c->inline_end, BDRV_SECTOR_SIZE);

    for (uint32_t i = 0; i < nd->count; i++) {
        if (c->to_extent[i]) {
            end = MAX(end, (int64_t)(nd->e[i].offset +
                                     QEMU_ALIGN_UP(nd->e[i].length,
                                                   BDRV_SECTOR_SIZE)));
        }
    }
    return nv_grow(c->nv, end, errp);
}

/* Phase 5: write the extents (padded to whole sectors). */
static int nv_commit_write_extents(NvCommit *c, Error **errp)
{
    const NvDir *nd = c->nd;

    for (uint32_t i = 0; i < nd->count; i++) {
        if (c->to_extent[i]) {
            uint64_t n = QEMU_ALIGN_UP(nd->e[i].length, BDRV_SECTOR_SIZE);
            const uint8_t *buf = c->src[i];
            uint8_t *padded = NULL;
            int ret;

            if (!c->fresh[i] && n != nd->e[i].length) {
                padded = qemu_xzalloc(n);
                memcpy(padded, c->src[i], nd->e[i].length);
                buf = padded;
            }
            ret = nv_write(c->nv, nd->e[i].offset, n, buf, errp);
            free(padded);
            if (ret < 0) {
                return ret;
            }
        }
    }
    return 0;
}

/*
 * After a failed directory write: does the target slot hold the new
 * directory anyway (as readers see it)?  1: yes, or we cannot tell; 0: no,
 * and it never will, as nothing writes the slot any more.
 */
static int nv_commit_slot_landed(NvCommit *c)
{
    size_t used = nv_dir_used(c->nd->count);
    uint8_t *buf = qemu_xmalloc(used);
    int ret;

    ret = blk_pread(c->nv->blk, (int64_t)c->target * NV_SLOT_SIZE, used,
                    buf);
    ret = ret < 0 || !memcmp(buf, c->slotbuf, used);
    free(buf);
    return ret;
}

/*
 * Undo a commit whose new directory may have reached the image: it may be
 * visible to readers and may still reach the disk, so zero its first
 * sector and flush that; then the previous state is the current one again,
 * durably.  (Without the flush a power cut could publish the failed commit
 * after all.)
 */
static int nv_commit_rollback(NvCommit *c, Error **errp)
{
    uint8_t zero[BDRV_SECTOR_SIZE] = { 0 };
    int ret;

    ret = nv_write(c->nv, (int64_t)c->target * NV_SLOT_SIZE,
                   BDRV_SECTOR_SIZE, zero, errp);
    if (ret == 0) {
        ret = nv_flush(c->nv, errp);
    }
    return ret;
}

/*
 * Where the bytes the target slot holds now end (relative to the slot,
 * within the image): a new directory with less inline data overwrites
 * them all, so no tail of an older blob stays in the slot.  A well-formed
 * slot ends with its last inline blob; of any other, read where the last
 * non-zero byte is.
 */
static uint64_t nv_commit_stale_end(NvCommit *c)
{
    TPMNvram *nv = c->nv;
    const NvSlot *sl = &nv->slot[c->target];
    int64_t base = (int64_t)c->target * NV_SLOT_SIZE;
    int64_t avail = MIN((int64_t)NV_SLOT_SIZE, nv->length - base);
    uint64_t end = 0;
    uint8_t *buf;

    if (avail <= 0) {
        return 0;
    }
    if (sl->state == NV_SLOT_OK) {
        end = nv_dir_used(sl->dir.count);
        for (uint32_t i = 0; i < sl->dir.count; i++) {
            const NvEntry *e = &sl->dir.e[i];
            if (e->length && e->is_inline) {
                end = MAX(end, e->offset + e->length);
            }
        }
        return MIN(end, (uint64_t)avail);
    }
    buf = qemu_xmalloc(avail);
    if (blk_pread(nv->blk, base, avail, buf) < 0) {
        end = avail;    /* cannot tell: overwrite it all */
    } else {
        for (end = avail; end > 0 && !buf[end - 1]; end--) {
            /* find the last non-zero byte */
        }
    }
    free(buf);
    return end;
}

/*
 * Phase 6: the directory with its inline data, then the one flush that
 * makes the commit durable.  On failure, undo it unless the directory
 * write failed without leaving the new directory in the slot; if undoing
 * fails too, the error says that either state may be the current one.
 */
static int nv_commit_write_slot(NvCommit *c, Error **errp)
{
    Error *err = NULL, *undo_err = NULL;
    int ret;

    nv_dir_encode(c->nd, c->slotbuf);
    ret = nv_write_slot(c->nv, c->target, c->slotbuf,
                        MAX(c->inline_end, nv_commit_stale_end(c)), &err);
    if (ret == 0) {
        ret = nv_flush(c->nv, &err);
    } else if (!nv_commit_slot_landed(c)) {
        error_propagate(errp, err);
        return ret;
    }
    if (ret == 0) {
        return 0;
    }
    if (nv_commit_rollback(c, &undo_err) < 0) {
        error_setg(errp, "%s; undoing the commit failed too (%s), so the "
                   "store holds either the previous or the new contents",
                   error_get_pretty(err), error_get_pretty(undo_err));
        error_free(err);
        error_free(undo_err);
    } else {
        error_propagate(errp, err);
    }
    return ret;
}

/* Phase 7: durable, so the new slot is the current state now. */
static void nv_commit_publish(NvCommit *c)
{
    TPMNvram *nv = c->nv;
    NvSlot *sl = &nv->slot[c->target];

    for (uint32_t i = 0; i < c->nd->count; i++) {
        if (!c->plain[i]) {
            int j = nv_dir_find(c->cd, c->nd->e[i].name);
            c->fresh[i] = nv->data[j];
            nv->data[j] = NULL;
        }
    }
    nv_free_data(nv->data, nv->data_count);
    memcpy(sl->raw, c->slotbuf, NV_DIR_MAX);
    sl->dir = *c->nd;
    sl->state = NV_SLOT_OK;
    sl->known_bad = false;
    nv->cur = c->target;
    nv->data = c->fresh;
    nv->data_count = c->nd->count;
    c->fresh = NULL;
}

/*
 * After the commit is durable: record in the previous slot that its
 * successor was committed ("successor", docs/specs/tpm-nvram.rst), so that
 * a reader who finds this new slot damaged later knows it for a rollback,
 * not an interrupted commit.  The previous state references nothing this
 * write changes but its header, and is not current any more: a torn or
 * failed write here is harmless (the mark is then missing).  Not flushed:
 * the next commit's flush, or closing the image, makes it durable.
 */
static void nv_commit_confirm(NvCommit *c, int prev)
{
    TPMNvram *nv = c->nv;
    NvSlot *sl = &nv->slot[prev];
    NvDir *d;
    uint8_t *raw;

    if (sl->state != NV_SLOT_OK ||
        sl->dir.generation + 1 != c->nd->generation) {
        return;
    }
    d = qemu_xmalloc(sizeof(*d));
    raw = qemu_xmalloc(NV_DIR_MAX);
    *d = sl->dir;
    d->successor = c->nd->generation;
    memcpy(raw, sl->raw, NV_DIR_MAX);
    nv_dir_encode(d, raw);
    if (nv_write(nv, (int64_t)prev * NV_SLOT_SIZE, BDRV_SECTOR_SIZE, raw,
                 NULL) == 0) {
        memcpy(sl->raw, raw, NV_DIR_MAX);
        sl->dir.successor = d->successor;
        sl->dir.minor = NV_VERSION_MINOR;
    } else {
        nv->cache_valid = false;
    }
    free(raw);
    free(d);
}

static void nv_commit_free(NvCommit *c)
{
    for (uint32_t i = 0; c->fresh && i < c->nd->count; i++) {
        free(c->fresh[i]);
    }
    free(c->fresh);
    free(c->src);
    free(c->to_extent);
    free(c->slotbuf);
}

/*
 * Commit @nd as the next generation into the other slot.  @plain[i]
 * non-NULL: entry i gets new contents (nd->e[i].name and .length set);
 * NULL: entry i keeps the stored bytes of the current entry with the same
 * name.  @key encrypts (NULL: plain).
 *
 * Placement: a blob goes inline (into the slot, right after the
 * directory) while it fits, so that the usual commit is one contiguous
 * write plus one flush; the rest go to extents in free space.  Unchanged
 * extent blobs stay where they are; unchanged inline blobs are copied.
 *
 * Nothing the current state references is written, so a failure before
 * the new directory reaches the slot leaves the current state current;
 * after that, the rollback restores it (durably), or the error says that
 * it could not.
 */
int nv_commit(TPMNvram *nv, NvDir *nd, uint8_t *const *plain,
              const uint32_t *crcs, const uint8_t *key, Error **errp)
{
    NvCommit c = {
        .nv = nv, .nd = nd, .plain = plain, .crcs = crcs, .key = key,
    };
    int ret;

    if (nv->cur < 0) {
        ret = nv_format(nv, nd, errp);
        if (ret < 0) {
            return ret;
        }
    }
    nv_commit_start(&c);
    ret = nv_commit_blobs(&c, errp);
    if (ret < 0) {
        goto fail;
    }
    nv_commit_place(&c);
    ret = nv_commit_grow(&c, errp);
    if (ret < 0) {
        goto fail;
    }
    ret = nv_commit_write_extents(&c, errp);
    if (ret < 0) {
        goto fail;
    }
    ret = nv_commit_write_slot(&c, errp);
    if (ret < 0) {
        goto fail;
    }
    nv_commit_publish(&c);
    nv_commit_confirm(&c, 1 - c.target);
    nv_commit_free(&c);
    return 0;

fail:
    nv_commit_free(&c);
    nv->cache_valid = false;
    return ret;
}

int nv_check_writable(TPMNvram *nv, Error **errp)
{
    if (bdrv_is_read_only(blk_bs(nv->blk))) {
        error_setg(errp, "TPM NVRAM store '%s' is opened read-only",
                   nv->filename);
        return -EACCES;
    }
    if (nv->cur >= 0 && nv_cur_dir(nv)->minor > NV_VERSION_MINOR) {
        error_setg(errp, "TPM NVRAM store '%s' has format version %u.%u, "
                   "newer than this program's %u.%u: refusing to write",
                   nv->filename, nv_cur_dir(nv)->major,
                   nv_cur_dir(nv)->minor, NV_VERSION_MAJOR,
                   NV_VERSION_MINOR);
        return -ENOTSUP;
    }
    return 0;
}

int nv_prepare_write(TPMNvram *nv, Error **errp)
{
    int ret = nv_check_writable(nv, errp);

    return ret < 0 ? ret : nv_settle(nv, errp);
}

/* The key that encrypts new data of the current store (NULL: plain). */
static const uint8_t *nv_write_key(TPMNvram *nv)
{
    const NvDir *cd = nv_cur_dir(nv);

    if (cd) {
        return (cd->flags & NV_FLAG_ENCRYPTED) ? nv->key : NULL;
    }
    return nv->have_key ? nv->key : NULL;
}

/* ---- public API ------------------------------------------------------- */

/* The checks a blob passes before the store is even locked. */
static int nv_check_blob(const char *name, size_t len, Error **errp)
{
    if (!nv_name_valid(name)) {
        error_setg(errp, "Invalid TPM NVRAM blob name '%s'", name);
        return -EINVAL;
    }
    if (len > NV_MAX_BLOB) {
        error_setg(errp, "Blob '%s' is too large for a TPM NVRAM store "
                   "(%zu bytes, at most %" PRId64 ")", name, len,
                   (int64_t)NV_MAX_BLOB);
        return -EFBIG;
    }
    return 0;
}

/*
 * Does entry @idx of the current state hold exactly @data (@len bytes,
 * CRC @crc)?  1: yes, 0: no, <0: it does not load.
 */
static int nv_blob_equals(TPMNvram *nv, int idx, const uint8_t *data,
                          size_t len, uint32_t crc, Error **errp)
{
    const NvEntry *e = &nv_cur_dir(nv)->e[idx];
    uint8_t *old = NULL;
    int ret;

    if (e->length != len || e->plain_crc != crc) {
        return 0;
    }
    ret = nv_plaintext(nv, idx, &old, errp);
    if (ret < 0) {
        return ret;
    }
    ret = len ? memcmp(old, data, len) : 0;
    qcrypto_wipe_free(old, len);
    return ret == 0;
}

/* Index of the entry for @name in @nd, a new one at the end if needed. */
static int nv_dir_entry_for(TPMNvram *nv, NvDir *nd, const char *name,
                            Error **errp)
{
    int idx = nv_dir_find(nd, name);

    if (idx >= 0) {
        return idx;
    }
    if (nd->count >= NV_MAX_ENTRIES) {
        error_setg(errp, "TPM NVRAM store '%s' is full (%d blobs)",
                   nv->filename, (int)NV_MAX_ENTRIES);
        return -ENOSPC;
    }
    idx = nd->count++;
    memset(&nd->e[idx], 0, sizeof(nd->e[idx]));
    memcpy(nd->e[idx].name, name, strlen(name));
    return idx;
}

int tpm_nvram_store(TPMNvram *nv, const char *name, const uint8_t *data,
                    size_t len, Error **errp)
{
    NvDir *nd = NULL;
    uint8_t **plain = NULL;
    uint32_t *crcs = NULL, crc;
    int locked, idx, ret;

    ret = nv_check_blob(name, len, errp);
    if (ret < 0) {
        return ret;
    }
    crc = nv_crc32(data, len);
    locked = nv_begin(nv, false, true, errp);
    if (locked < 0) {
        return locked;
    }
    ret = nv_prepare_write(nv, errp);
    if (ret < 0) {
        goto out;
    }
    nd = qemu_xmalloc(sizeof(*nd));
    if (nv->cur >= 0) {
        *nd = *nv_cur_dir(nv);
        idx = nv_dir_find(nd, name);
        ret = idx >= 0 ? nv_blob_equals(nv, idx, data, len, crc, errp) : 0;
        if (ret != 0) {
            /* an error, or identical contents: nothing to write */
            ret = ret < 0 ? ret : 0;
            goto out;
        }
    } else {
        ret = nv_first_params(nv, nd, errp);
        if (ret < 0) {
            goto out;
        }
    }
    idx = nv_dir_entry_for(nv, nd, name, errp);
    if (idx < 0) {
        ret = idx;
        goto out;
    }
    nd->e[idx].length = len;
    plain = qemu_xnew0(uint8_t *, nd->count);
    plain[idx] = (uint8_t *)(len ? data : (const uint8_t *)"");
    crcs = qemu_xnew0(uint32_t, nd->count);
    crcs[idx] = crc;
    ret = nv_commit(nv, nd, plain, crcs, nv_write_key(nv), errp);

out:
    free(crcs);
    free(plain);
    free(nd);
    nv_unlock(nv, locked);
    return ret;
}

int tpm_nvram_delete(TPMNvram *nv, const char *name, Error **errp)
{
    NvDir *nd;
    uint8_t **plain;
    int locked, idx, ret;

    locked = nv_begin(nv, false, true, errp);
    if (locked < 0) {
        return locked;
    }
    idx = nv->cur >= 0 ? nv_dir_find(nv_cur_dir(nv), name) : -1;
    if (idx < 0) {
        nv_unlock(nv, locked);
        return 0;
    }
    ret = nv_prepare_write(nv, errp);
    if (ret < 0) {
        nv_unlock(nv, locked);
        return ret;
    }
    idx = nv_dir_find(nv_cur_dir(nv), name);   /* the wipe may commit */
    nd = qemu_xmalloc(sizeof(*nd));
    *nd = *nv_cur_dir(nv);
    memmove(&nd->e[idx], &nd->e[idx + 1],
            (nd->count - idx - 1) * sizeof(nd->e[0]));
    nd->count--;
    plain = qemu_xnew0(uint8_t *, nd->count ? nd->count : 1);
    ret = nv_commit(nv, nd, plain, NULL, nv_write_key(nv), errp);
    free(plain);
    free(nd);
    nv_unlock(nv, locked);
    return ret;
}
