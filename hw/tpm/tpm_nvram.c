/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tpm_nvram.c: the TPM NVRAM blob store: named blobs in a raw or qcow2
 * image, committed atomically with one flush (A/B directory slots), CRC
 * checked, optionally AES-256-GCM encrypted, under bdrv_lock().
 */
#include "qemu/osdep.h"

#include <assert.h>

#include "qemu/cutils.h"
#include "block/block-backend.h"
#include "crypto/aead.h"
#include "crypto/kdf.h"
#include "crypto/random.h"
#include "crypto/secret.h"
#include "hw/tpm/tpm_nvram_int.h"

/* How far past the slots an "all-zero device" is checked. */
#define NV_ZERO_SCAN_LIMIT (16 * MiB)
/* The image grows in steps of this size. */
#define NV_GROW_STEP (64 * KiB)
#define NV_SECTOR 512

static const char nv_kcv_label[] = "qemu-tpm-nvram key check v1";

typedef struct NvSlot {
    uint8_t raw[NV_DIR_MAX];    /* header and entries as on disk */
    NvSlotState state;
    NvDir dir;
    bool known_bad;         /* verified before and failed: skip */
    char why[192];
} NvSlot;

struct TPMNvram {
    BlockBackend *blk;
    char *filename;
    int flags;
    int64_t lock_timeout_ms;

    /* key material */
    bool have_key;
    bool key_is_pass;
    uint8_t *pass;
    size_t pass_len;
    uint8_t key[32];
    bool key_ready;         /* key[] matches the current store's salt/kcv */
    uint8_t key_salt[NV_SALT_LEN];
    uint32_t key_iter;

    /* our view of the image: trusted only while it matches the disk */
    bool cache_valid;
    NvSlot slot[NV_SLOT_COUNT];
    int cur;                /* slot holding the current state, -1: empty */
    uint8_t **data;         /* stored bytes of slot[cur]'s blobs */
    uint32_t data_count;    /* entries of @data (slot dirs may be re-read) */
    int64_t length;
    bool zero_checked;
};

/* ---- helpers ---------------------------------------------------------- */

static void nv_free_data(uint8_t **data, uint32_t count)
{
    if (!data) {
        return;
    }
    for (uint32_t i = 0; i < count; i++) {
        free(data[i]);
    }
    free(data);
}

static void nv_drop_cache(TPMNvram *nv)
{
    nv_free_data(nv->data, nv->data_count);
    nv->data = NULL;
    nv->data_count = 0;
    nv->cur = -1;
    nv->cache_valid = false;
}

static int nv_lock(TPMNvram *nv, Error **errp)
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

static void nv_unlock(TPMNvram *nv, int locked)
{
    if (locked > 0) {
        bdrv_unlock(blk_bs(nv->blk), NULL);
    }
}

static void nv_aad(const TPMNvram *nv, const NvDir *dir, const NvEntry *e,
                   uint8_t *aad, size_t *aad_len)
{
    size_t n = 0;

    memcpy(aad + n, NV_MAGIC, NV_MAGIC_LEN);
    n += NV_MAGIC_LEN;
    memcpy(aad + n, dir->salt, NV_SALT_LEN);
    n += NV_SALT_LEN;
    memset(aad + n, 0, NV_NAME_FIELD);
    memcpy(aad + n, e->name, strnlen(e->name, NV_NAME_MAX));
    n += NV_NAME_FIELD;
    stbe64(aad + n, e->blob_gen);
    n += 8;
    *aad_len = n;
}

#define NV_AAD_MAX (NV_MAGIC_LEN + NV_SALT_LEN + NV_NAME_FIELD + 8)

static int nv_kcv(const uint8_t *key, const uint8_t *salt, uint8_t *kcv,
                  Error **errp)
{
    uint8_t msg[sizeof(nv_kcv_label) + NV_SALT_LEN];
    uint8_t mac[QCRYPTO_SHA256_LEN];
    int ret;

    memcpy(msg, nv_kcv_label, sizeof(nv_kcv_label));
    memcpy(msg + sizeof(nv_kcv_label), salt, NV_SALT_LEN);
    ret = qcrypto_hmac_sha256(key, 32, msg, sizeof(msg), mac, errp);
    if (ret == 0) {
        memcpy(kcv, mac, NV_KCV_LEN);
    }
    qcrypto_wipe(mac, sizeof(mac));
    return ret;
}

/* ---- reading the image ------------------------------------------------ */

static int nv_pread(TPMNvram *nv, int64_t off, int64_t len, void *buf,
                    Error **errp)
{
    int ret = blk_pread(nv->blk, off, len, buf);

    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read TPM NVRAM store '%s'",
                         nv->filename);
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
        if (nv_pread(nv, off, n, buf, errp) < 0) {
            ret = -EIO;
            break;
        }
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
static int nv_verify_slot(TPMNvram *nv, const NvDir *dir, int slot,
                          uint8_t ***pdata, char *why, size_t why_len,
                          Error **errp)
{
    uint8_t **data = qemu_xnew0(uint8_t *, dir->count ? dir->count : 1);

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
        if (nv_pread(nv, pos, e->length, data[i], errp) < 0) {
            nv_free_data(data, dir->count);
            return -EIO;
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
 * Bring our view in line with the disk (under the lock).  @full ignores
 * every cached result.  0: nv->cur is the current slot or -1 for an empty
 * store; <0 with errp set: corrupt, foreign, newer version or I/O error.
 */
static int nv_refresh(TPMNvram *nv, bool full, Error **errp)
{
    uint8_t *raw = qemu_xzalloc(NV_SLOT_COUNT * NV_DIR_MAX);
    int order[NV_SLOT_COUNT], n = 0;
    int64_t len;
    int ret = 0;
    bool reuse_cur = false;

    len = blk_getlength(nv->blk);
    if (len < 0) {
        error_setg_errno(errp, (int)-len, "Could not get the length of "
                         "TPM NVRAM store '%s'", nv->filename);
        ret = (int)len;
        goto fail;
    }
    if (len != nv->length) {
        full = true;
    }
    nv->length = len;
    for (int s = 0; s < NV_SLOT_COUNT; s++) {
        int64_t off = (int64_t)s * NV_SLOT_SIZE;
        if (len > off && nv_pread(nv, off, MIN(len - off, NV_DIR_MAX),
                                  raw + s * NV_DIR_MAX, errp) < 0) {
            ret = -EIO;
            goto fail;
        }
    }

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

        if (reuse_cur && order[i] == nv->cur) {
            goto out;
        }
        if (sl->known_bad) {
            continue;
        }
        ret = nv_verify_slot(nv, &sl->dir, order[i], &data, sl->why,
                             sizeof(sl->why), errp);
        if (ret < 0) {
            goto fail;
        }
        if (ret == 1) {
            nv_drop_cache(nv);
            nv->cache_valid = true;
            nv->cur = order[i];
            nv->data = data;
            nv->data_count = sl->dir.count;
            ret = 0;
            goto out;
        }
        sl->known_bad = true;
    }

    /* No slot holds a complete state. */
    nv_drop_cache(nv);
    for (int s = 0; s < NV_SLOT_COUNT; s++) {
        if (nv->slot[s].state == NV_SLOT_NEWER) {
            error_setg(errp, "TPM NVRAM store '%s' has an %s", nv->filename,
                       nv->slot[s].why);
            ret = -ENOTSUP;
            goto fail;
        }
    }
    for (int s = 0; s < NV_SLOT_COUNT; s++) {
        if (nv->slot[s].state == NV_SLOT_DAMAGED ||
            nv->slot[s].state == NV_SLOT_OK) {
            error_setg(errp, "TPM NVRAM store '%s' is corrupt: %s",
                       nv->filename, nv->slot[s].why);
            ret = -EIO;
            goto fail;
        }
    }
    if (nv->slot[0].state == NV_SLOT_ZERO &&
        nv->slot[1].state == NV_SLOT_ZERO) {
        if (!nv->zero_checked) {
            ret = nv_rest_is_zero(nv, errp);
            if (ret < 0) {
                goto fail;
            }
            if (ret == 0) {
                goto foreign;
            }
            nv->zero_checked = true;
        }
        nv->cache_valid = true;
        ret = 0;
        goto out;
    }
foreign:
    error_setg(errp, "'%s' is not a TPM NVRAM store", nv->filename);
    ret = -EINVAL;
fail:
    nv_drop_cache(nv);
out:
    free(raw);
    return ret;
}

static const NvDir *nv_cur_dir(TPMNvram *nv)
{
    return nv->cur >= 0 ? &nv->slot[nv->cur].dir : NULL;
}

/* ---- keys ------------------------------------------------------------- */

static int nv_derive(TPMNvram *nv, const NvDir *dir, Error **errp)
{
    if (nv->key_ready && memcmp(nv->key_salt, dir->salt, NV_SALT_LEN) == 0 &&
        nv->key_iter == dir->kdf_iterations) {
        return 0;
    }
    if (!nv->key_is_pass) {
        nv->key_ready = true;
        memcpy(nv->key_salt, dir->salt, NV_SALT_LEN);
        nv->key_iter = dir->kdf_iterations;
        return 0;
    }
    nv->key_ready = false;
    if (qcrypto_pbkdf2_sha256(nv->pass, nv->pass_len, dir->salt,
                              NV_SALT_LEN, dir->kdf_iterations, nv->key, 32,
                              errp) < 0) {
        return -EIO;
    }
    nv->key_ready = true;
    memcpy(nv->key_salt, dir->salt, NV_SALT_LEN);
    nv->key_iter = dir->kdf_iterations;
    return 0;
}

/*
 * Check our key against the current directory.  With @need_key an
 * encrypted store without a key fails even in inspection mode.
 */
static int nv_check_key(TPMNvram *nv, bool need_key, Error **errp)
{
    const NvDir *dir = nv_cur_dir(nv);
    uint8_t kcv[NV_KCV_LEN];

    if (!dir) {
        return 0;
    }
    if (!(dir->flags & NV_FLAG_ENCRYPTED)) {
        if (nv->have_key) {
            error_setg(errp, "A key was given, but TPM NVRAM store '%s' is "
                       "not encrypted", nv->filename);
            return -EINVAL;
        }
        return 0;
    }
    if (!nv->have_key) {
        if (!need_key && (nv->flags & TPM_NVRAM_OPEN_INSPECT)) {
            return 0;
        }
        error_setg(errp, "TPM NVRAM store '%s' is encrypted, but no key was "
                   "given", nv->filename);
        return -ENOKEY;
    }
    if (nv->key_is_pass != (dir->kdf == NV_KDF_PBKDF2_SHA256)) {
        error_setg(errp, "Wrong key for TPM NVRAM store '%s'", nv->filename);
        error_append_hint(errp, "The store's key is %s.\n",
                          dir->kdf == NV_KDF_PBKDF2_SHA256 ?
                          "a passphrase (use format=passphrase)" :
                          "a raw or hex key, not a passphrase");
        return -EKEYREJECTED;
    }
    if (nv_derive(nv, dir, errp) < 0) {
        return -EIO;
    }
    if (nv_kcv(nv->key, dir->salt, kcv, errp) < 0) {
        return -EIO;
    }
    if (!qcrypto_memeq(kcv, dir->kcv, NV_KCV_LEN)) {
        nv->key_ready = false;
        error_setg(errp, "Wrong key for TPM NVRAM store '%s'", nv->filename);
        return -EKEYREJECTED;
    }
    return 0;
}

/* Plaintext of entry @i of the current state (malloc'ed, >= 1 byte). */
static int nv_plaintext(TPMNvram *nv, int i, uint8_t **out, Error **errp)
{
    const NvDir *dir = nv_cur_dir(nv);
    const NvEntry *e = &dir->e[i];
    uint8_t *p = qemu_xmalloc(e->length ? e->length : 1);

    if (dir->flags & NV_FLAG_ENCRYPTED) {
        uint8_t aad[NV_AAD_MAX];
        size_t aad_len;
        int ret;

        if (!nv->have_key || !nv->key_ready) {
            error_setg(errp, "TPM NVRAM store '%s' is encrypted, but no key "
                       "was given", nv->filename);
            free(p);
            return -ENOKEY;
        }
        nv_aad(nv, dir, e, aad, &aad_len);
        ret = qcrypto_aead_decrypt(nv->key, e->nonce, aad, aad_len,
                                   nv->data[i], e->length, p, e->tag, errp);
        if (ret == -EBADMSG) {
            error_setg(errp, "Blob '%s' of TPM NVRAM store '%s' fails "
                       "authentication (corrupted or tampered with)",
                       e->name, nv->filename);
        }
        if (ret < 0) {
            qcrypto_wipe_free(p, e->length);
            return -EIO;
        }
    } else if (e->length) {
        memcpy(p, nv->data[i], e->length);
    }
    if (nv_crc32(p, e->length) != e->plain_crc) {
        error_setg(errp, "Blob '%s' of TPM NVRAM store '%s' fails its CRC "
                   "check", e->name, nv->filename);
        qcrypto_wipe_free(p, e->length);
        return -EIO;
    }
    *out = p;
    return 0;
}

/* ---- writing ---------------------------------------------------------- */

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

static int nv_write(TPMNvram *nv, int64_t off, int64_t len, const void *buf,
                    Error **errp)
{
    int ret = blk_pwrite(nv->blk, off, len, buf, 0);

    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not write TPM NVRAM store '%s'",
                         nv->filename);
    }
    return ret;
}

static int nv_flush(TPMNvram *nv, Error **errp)
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
                    QEMU_ALIGN_UP(used, NV_SECTOR), buf, errp);
}

/* Make an empty store: generation 1, no blobs, in slot 0; one flush. */
static int nv_format(TPMNvram *nv, const NvDir *params, Error **errp)
{
    NvSlot *sl = &nv->slot[0];
    NvDir *d = &sl->dir;
    size_t used;
    int ret;

    ret = nv_grow(nv, NV_SECTOR, errp);
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
 */
static int nv_commit(TPMNvram *nv, NvDir *nd, uint8_t *const *plain,
                     const uint32_t *crcs, const uint8_t *key, Error **errp)
{
    NvExtent ext[2 * NV_MAX_ENTRIES + 1];
    int next = 0;
    const NvDir *cd;
    uint8_t **fresh = NULL;         /* stored bytes made by this commit */
    const uint8_t **src = NULL;     /* stored bytes of each new entry */
    bool *to_extent = NULL;
    uint8_t *slotbuf = NULL;
    int64_t end;
    uint64_t inline_end;
    int target;
    size_t used;
    bool slot_attempted = false;
    int ret;

    if (nv->cur < 0) {
        ret = nv_format(nv, nd, errp);
        if (ret < 0) {
            return ret;
        }
    }
    cd = nv_cur_dir(nv);
    target = 1 - nv->cur;
    nd->major = NV_VERSION_MAJOR;
    nd->minor = NV_VERSION_MINOR;
    nd->generation = cd->generation + 1;

    for (uint32_t i = 0; i < cd->count; i++) {
        if (cd->e[i].length && !cd->e[i].is_inline) {
            ext[next].start = cd->e[i].offset;
            ext[next].end = cd->e[i].offset + nv_extent_size(cd->e[i].length);
            next++;
        }
    }

    fresh = qemu_xnew0(uint8_t *, nd->count + 1);
    src = qemu_xnew0(const uint8_t *, nd->count + 1);
    to_extent = qemu_xnew0(bool, nd->count + 1);
    slotbuf = qemu_xzalloc(NV_SLOT_SIZE);
    used = nv_dir_used(nd->count);
    inline_end = QEMU_ALIGN_UP(used, NV_INLINE_ALIGN);

    /* Stored bytes: unchanged blobs as they are, new ones encrypted. */
    for (uint32_t i = 0; i < nd->count; i++) {
        NvEntry *e = &nd->e[i];

        if (!plain[i]) {
            int j = nv_dir_find(cd, e->name);
            assert(j >= 0);
            *e = cd->e[j];
            src[i] = nv->data[j];
            continue;
        }
        e->blob_gen = nd->generation;
        e->plain_crc = crcs ? crcs[i] : nv_crc32(plain[i], e->length);
        e->is_inline = false;
        e->offset = 0;
        memset(e->nonce, 0, NV_NONCE_LEN);
        memset(e->tag, 0, NV_TAG_LEN);
        fresh[i] = qemu_xzalloc(QEMU_ALIGN_UP(e->length, NV_SECTOR) + 1);
        src[i] = fresh[i];
        if (key) {
            uint8_t aad[NV_AAD_MAX];
            size_t aad_len;

            ret = qcrypto_random_bytes(e->nonce, NV_NONCE_LEN, errp);
            if (ret < 0) {
                goto fail;
            }
            nv_aad(nv, nd, e, aad, &aad_len);
            ret = qcrypto_aead_encrypt(key, e->nonce, aad, aad_len, plain[i],
                                       e->length, fresh[i], e->tag, errp);
            if (ret < 0) {
                goto fail;
            }
            e->stored_crc = nv_crc32(fresh[i], e->length);
        } else {
            if (e->length) {
                memcpy(fresh[i], plain[i], e->length);
            }
            e->stored_crc = e->plain_crc;
        }
    }

    /*
     * Placement: first the unchanged inline blobs, then the new ones, in
     * directory order; what does not fit goes to an extent.
     */
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t i = 0; i < nd->count; i++) {
            NvEntry *e = &nd->e[i];
            bool is_new = plain[i] != NULL;

            if (!e->length || is_new != (pass == 1) ||
                (!is_new && !e->is_inline)) {
                continue;
            }
            if (e->length <= NV_SLOT_SIZE - inline_end) {
                e->is_inline = true;
                e->offset = inline_end;
                memcpy(slotbuf + inline_end, src[i], e->length);
                inline_end = QEMU_ALIGN_UP(inline_end + e->length,
                                           NV_INLINE_ALIGN);
            } else {
                e->is_inline = false;
                e->offset = nv_alloc(ext, &next, nv_extent_size(e->length));
                to_extent[i] = true;
            }
        }
    }
    for (uint32_t i = 0; i < nd->count; i++) {
        if (!nd->e[i].length) {
            nd->e[i].offset = 0;
            nd->e[i].is_inline = false;
        }
    }

    end = (int64_t)target * NV_SLOT_SIZE + QEMU_ALIGN_UP(inline_end,
                                                         NV_SECTOR);
    for (uint32_t i = 0; i < nd->count; i++) {
        if (to_extent[i]) {
            end = MAX(end, (int64_t)(nd->e[i].offset +
                                     QEMU_ALIGN_UP(nd->e[i].length,
                                                   NV_SECTOR)));
        }
    }
    ret = nv_grow(nv, end, errp);
    if (ret < 0) {
        goto fail;
    }
    for (uint32_t i = 0; i < nd->count; i++) {
        if (to_extent[i]) {
            uint64_t n = QEMU_ALIGN_UP(nd->e[i].length, NV_SECTOR);
            const uint8_t *buf = src[i];
            uint8_t *padded = NULL;

            if (!fresh[i] && n != nd->e[i].length) {
                padded = qemu_xzalloc(n);
                memcpy(padded, src[i], nd->e[i].length);
                buf = padded;
            }
            ret = nv_write(nv, nd->e[i].offset, n, buf, errp);
            free(padded);
            if (ret < 0) {
                goto fail;
            }
        }
    }
    used = nv_dir_encode(nd, slotbuf);
    slot_attempted = true;
    ret = nv_write(nv, (int64_t)target * NV_SLOT_SIZE,
                   QEMU_ALIGN_UP(inline_end, NV_SECTOR), slotbuf, errp);
    if (ret < 0) {
        goto fail;
    }
    ret = nv_flush(nv, errp);
    if (ret < 0) {
        goto fail;
    }

    /* Durable: the new slot is the current state now. */
    for (uint32_t i = 0; i < nd->count; i++) {
        if (!plain[i]) {
            int j = nv_dir_find(cd, nd->e[i].name);
            fresh[i] = nv->data[j];
            nv->data[j] = NULL;
        }
    }
    nv_free_data(nv->data, nv->data_count);
    memcpy(nv->slot[target].raw, slotbuf, NV_DIR_MAX);
    nv->slot[target].dir = *nd;
    nv->slot[target].state = NV_SLOT_OK;
    nv->slot[target].known_bad = false;
    nv->cur = target;
    nv->data = fresh;
    nv->data_count = nd->count;
    free(src);
    free(to_extent);
    free(slotbuf);
    return 0;

fail:
    if (slot_attempted) {
        /*
         * The new directory may be visible to readers even though it is
         * not durable: take it back so a failed commit changes nothing.
         */
        uint8_t zero[NV_SECTOR] = { 0 };
        blk_pwrite(nv->blk, (int64_t)target * NV_SLOT_SIZE, NV_SECTOR, zero,
                   0);
    }
    for (uint32_t i = 0; i < nd->count; i++) {
        free(fresh[i]);
    }
    free(fresh);
    free(src);
    free(to_extent);
    free(slotbuf);
    nv->cache_valid = false;
    return ret;
}

/* Encryption parameters for a store protected by @k (NULL: none). */
static int nv_new_params(const TPMNvramKey *k, NvDir *nd, uint8_t *key,
                         Error **errp)
{
    nd->flags = 0;
    nd->cipher = NV_CIPHER_NONE;
    nd->kdf = NV_KDF_NONE;
    nd->kdf_iterations = 0;
    memset(nd->salt, 0, NV_SALT_LEN);
    memset(nd->kcv, 0, NV_KCV_LEN);
    if (!k) {
        return 0;
    }
    nd->flags = NV_FLAG_ENCRYPTED;
    nd->cipher = NV_CIPHER_AES_256_GCM;
    if (qcrypto_random_bytes(nd->salt, NV_SALT_LEN, errp) < 0) {
        return -EIO;
    }
    if (k->is_passphrase) {
        nd->kdf = NV_KDF_PBKDF2_SHA256;
        nd->kdf_iterations = NV_PBKDF2_ITERATIONS;
        if (qcrypto_pbkdf2_sha256(k->pass, k->pass_len, nd->salt,
                                  NV_SALT_LEN, nd->kdf_iterations, key, 32,
                                  errp) < 0) {
            return -EIO;
        }
    } else {
        memcpy(key, k->key, 32);
    }
    return nv_kcv(key, nd->salt, nd->kcv, errp);
}

/* Adopt @nd's parameters (just committed) for our own key state. */
static void nv_adopt_key(TPMNvram *nv, const NvDir *nd, const uint8_t *key)
{
    if (key) {
        memcpy(nv->key, key, 32);
        nv->key_ready = true;
        memcpy(nv->key_salt, nd->salt, NV_SALT_LEN);
        nv->key_iter = nd->kdf_iterations;
    }
}

/* ---- public API ------------------------------------------------------- */

TPMNvram *tpm_nvram_open_opts(BlockBackend *blk, const TPMNvramKey *key,
                              const TPMNvramOpenOptions *opts, Error **errp)
{
    TPMNvramOpenOptions defaults = TPM_NVRAM_OPEN_OPTIONS_DEFAULT;
    TPMNvram *nv = qemu_xzalloc(sizeof(*nv));
    Error *local = NULL;
    int flags, locked, ret;

    if (!opts) {
        opts = &defaults;
    }
    flags = opts->flags;
    nv->blk = blk;
    nv->filename = qemu_xstrdup(bdrv_get_filename(blk_bs(blk)));
    nv->flags = flags;
    nv->lock_timeout_ms = opts->lock_timeout_ms;
    nv->cur = -1;
    if (key) {
        nv->have_key = true;
        nv->key_is_pass = key->is_passphrase;
        if (key->is_passphrase) {
            nv->pass = qemu_xmalloc(key->pass_len);
            memcpy(nv->pass, key->pass, key->pass_len);
            nv->pass_len = key->pass_len;
        } else {
            memcpy(nv->key, key->key, 32);
        }
    }

    locked = nv_lock(nv, errp);
    if (locked < 0) {
        goto fail;
    }
    ret = nv_refresh(nv, true, &local);
    if (ret == -EIO && (flags & TPM_NVRAM_OPEN_CHECK)) {
        error_free(local);
        local = NULL;
        ret = 0;
    } else if (ret == 0) {
        ret = nv_check_key(nv, false, &local);
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
    qcrypto_wipe_free(nv->pass, nv->pass_len);
    free(nv->filename);
    qcrypto_wipe(nv, sizeof(*nv));
    free(nv);
}

/* Lock, refresh, check the key: the prologue of every operation. */
static int nv_begin(TPMNvram *nv, bool full, bool need_key, Error **errp)
{
    int locked = nv_lock(nv, errp);
    int ret;

    if (locked < 0) {
        return locked;
    }
    ret = nv_refresh(nv, full, errp);
    if (ret == 0) {
        ret = nv_check_key(nv, need_key, errp);
    }
    if (ret < 0) {
        nv_unlock(nv, locked);
        return ret;
    }
    return locked;
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

static int nv_check_writable(TPMNvram *nv, Error **errp)
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

/* The key that encrypts new data of the current store (NULL: plain). */
static const uint8_t *nv_write_key(TPMNvram *nv)
{
    const NvDir *cd = nv_cur_dir(nv);

    if (cd) {
        return (cd->flags & NV_FLAG_ENCRYPTED) ? nv->key : NULL;
    }
    return nv->have_key ? nv->key : NULL;
}

/* Directory template for the first commit to an empty store. */
static int nv_first_params(TPMNvram *nv, NvDir *nd, Error **errp)
{
    TPMNvramKey k;
    int ret;

    memset(nd, 0, sizeof(*nd));
    if (!nv->have_key) {
        return 0;
    }
    k.is_passphrase = nv->key_is_pass;
    memcpy(k.key, nv->key, 32);
    k.pass = nv->pass;
    k.pass_len = nv->pass_len;
    ret = nv_new_params(&k, nd, nv->key, errp);
    qcrypto_wipe(&k, sizeof(k));
    if (ret == 0) {
        nv_adopt_key(nv, nd, nv->key);
    }
    return ret;
}

int tpm_nvram_store(TPMNvram *nv, const char *name, const uint8_t *data,
                    size_t len, Error **errp)
{
    NvDir *nd = NULL;
    uint8_t **plain = NULL;
    uint32_t *crcs = NULL, crc;
    int locked, idx, ret;

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
    locked = nv_begin(nv, false, true, errp);
    if (locked < 0) {
        return locked;
    }
    ret = nv_check_writable(nv, errp);
    if (ret < 0) {
        goto out;
    }
    nd = qemu_xmalloc(sizeof(*nd));
    if (nv->cur >= 0) {
        *nd = *nv_cur_dir(nv);
    } else {
        ret = nv_first_params(nv, nd, errp);
        if (ret < 0) {
            goto out;
        }
    }
    idx = nv_dir_find(nd, name);
    crc = nv_crc32(data, len);
    if (idx >= 0 && nd->e[idx].length == len && nd->e[idx].plain_crc == crc) {
        uint8_t *old = NULL;

        ret = nv_plaintext(nv, idx, &old, errp);
        if (ret < 0) {
            goto out;
        }
        ret = len ? memcmp(old, data, len) : 0;
        qcrypto_wipe_free(old, len);
        if (ret == 0) {
            goto out; /* identical: nothing to write */
        }
    }
    if (idx < 0) {
        if (nd->count >= NV_MAX_ENTRIES) {
            error_setg(errp, "TPM NVRAM store '%s' is full (%d blobs)",
                       nv->filename, (int)NV_MAX_ENTRIES);
            ret = -ENOSPC;
            goto out;
        }
        idx = nd->count++;
        memset(&nd->e[idx], 0, sizeof(nd->e[idx]));
        memcpy(nd->e[idx].name, name, strlen(name));
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
    ret = nv_check_writable(nv, errp);
    if (ret < 0) {
        nv_unlock(nv, locked);
        return ret;
    }
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

int tpm_nvram_check(TPMNvram *nv, TPMNvramCheckResult *res, Error **errp)
{
    Error *local = NULL;
    int locked, ret;

    memset(res, 0, sizeof(*res));
    res->authenticated = true;
    locked = nv_lock(nv, errp);
    if (locked < 0) {
        return locked;
    }
    ret = nv_refresh(nv, true, &local);
    if (ret == 0) {
        ret = nv_check_key(nv, false, &local);
        if (ret < 0) {
            /* key problems are not corruption: report as an error */
            error_propagate(errp, local);
            nv_unlock(nv, locked);
            return ret;
        }
    }
    if (ret < 0) {
        if (ret == -EIO && strstr(error_get_pretty(local), "corrupt")) {
            res->corruptions++;
            check_msg(res, error_get_pretty(local));
            error_free(local);
            ret = 0;
        } else if (ret == -EINVAL || ret == -ENOTSUP) {
            error_propagate(errp, local);
        } else {
            res->check_errors++;
            check_msg(res, error_get_pretty(local));
            error_free(local);
            ret = 0;
        }
        nv_unlock(nv, locked);
        return ret;
    }

    if (nv->cur >= 0) {
        const NvDir *d = nv_cur_dir(nv);
        int other = 1 - nv->cur;
        NvSlot *os = &nv->slot[other];

        res->authenticated = !(d->flags & NV_FLAG_ENCRYPTED) || nv->have_key;
        for (uint32_t i = 0; res->authenticated && i < d->count; i++) {
            uint8_t *p = NULL;
            if (nv_plaintext(nv, i, &p, &local) < 0) {
                res->corruptions++;
                check_msg(res, error_get_pretty(local));
                error_free(local);
                local = NULL;
            } else {
                qcrypto_wipe_free(p, d->e[i].length);
            }
        }
        if (os->state == NV_SLOT_OK && !os->known_bad &&
            os->dir.generation < d->generation) {
            uint8_t **data = NULL;
            char why[192];
            int r = nv_verify_slot(nv, &os->dir, other, &data, why,
                                   sizeof(why), &local);
            if (r < 0) {
                res->check_errors++;
                check_msg(res, error_get_pretty(local));
                error_free(local);
                local = NULL;
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
    nv_unlock(nv, locked);
    return 0;
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
    for (uint32_t i = 0; i < count; i++) {
        ret = nv_plaintext(nv, i, &plain[i], errp);
        if (ret < 0) {
            goto out;
        }
    }
    old = qemu_xmalloc(sizeof(*old));
    old_slot = nv->cur;
    if (old_slot >= 0) {
        *old = *nv_cur_dir(nv);
    }
    ret = nv_commit(nv, nd, plain, NULL, new_key ? newkey : NULL, errp);
    if (ret < 0) {
        goto out;
    }
    if (old_slot >= 0) {
        ret = nv_scrub(nv, old, old_slot, errp);
        if (ret < 0) {
            goto out;
        }
    }
    /* From now on the store answers to the new key only. */
    qcrypto_wipe_free(nv->pass, nv->pass_len);
    nv->pass = NULL;
    nv->pass_len = 0;
    nv->have_key = !!new_key;
    nv->key_ready = false;
    if (new_key) {
        nv->key_is_pass = new_key->is_passphrase;
        if (new_key->is_passphrase) {
            nv->pass = qemu_xmalloc(new_key->pass_len);
            memcpy(nv->pass, new_key->pass, new_key->pass_len);
            nv->pass_len = new_key->pass_len;
        }
        nv_adopt_key(nv, nd, newkey);
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
