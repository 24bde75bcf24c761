/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tpm_nvram_int.h: internals shared by the NVRAM store's rooms: the store's
 * state, key material, and the functions one room offers the others.
 *   tpm_nvram.c         open, lock, slot selection, load, validate
 *   tpm_nvram_commit.c  commits (store, delete), writes and flushes
 *   tpm_nvram_admin.c   info, list, check, rekey
 *   tpm_nvram_key.c     key specifications, key checks, decryption
 *   tpm_nvram_format.c  the on-disk layout (pure, no I/O)
 * Not for users of the store.
 */
#ifndef HW_TPM_TPM_NVRAM_INT_H
#define HW_TPM_TPM_NVRAM_INT_H

#include "hw/tpm/tpm_nvram.h"
#include "hw/tpm/tpm_nvram_format.h"

/* Allocated with qcrypto_secure_alloc(), as is its passphrase. */
struct TPMNvramKey {
    bool is_passphrase;
    uint8_t key[32];        /* raw/hex keys: the store's AES-256-GCM key */
    uint8_t *pass;          /* passphrase (no trailing newline) */
    size_t pass_len;
    uint8_t swtpm_key[32];  /* the AES-CBC key swtpm would use (for blobs) */
    size_t swtpm_key_len;   /* 16, 32, or 0 for our passphrases */
};

/* PBKDF2 iterations for new passphrase-protected stores. */
#define NV_PBKDF2_ITERATIONS 100000

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
    uint8_t *pass;          /* qcrypto_secure_alloc() */
    size_t pass_len;
    uint8_t *key;           /* 32 bytes, qcrypto_secure_alloc() */
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

    /* how the current state relates to the newest slot (nv_refresh) */
    TPMNvramFallback fallback;
    uint64_t lost_gen;
    char fallback_why[640];
};

/* Directory of the current state, NULL for an empty store. */
static inline const NvDir *nv_cur_dir(TPMNvram *nv)
{
    return nv->cur >= 0 ? &nv->slot[nv->cur].dir : NULL;
}

/* ---- tpm_nvram.c: locking and reading --------------------------------- */

void nv_free_data(uint8_t **data, uint32_t count);
/* Forget the cached view of the image. */
void nv_drop_cache(TPMNvram *nv);
/* 1: locked, 0: the image cannot lock (run unserialized), <0: error. */
int nv_lock(TPMNvram *nv, Error **errp);
void nv_unlock(TPMNvram *nv, int locked);
/* Lock, refresh, check the key: returns what nv_lock() returned. */
int nv_begin(TPMNvram *nv, bool full, bool need_key, Error **errp);
/* Why nv_refresh() failed. */
typedef enum NvRefreshError {
    NV_REFRESH_OK,
    NV_REFRESH_IO,          /* I/O error: the errno of the failed request */
    NV_REFRESH_CORRUPT,     /* -EIO: our magic, but no complete slot */
    NV_REFRESH_NEWER,       /* -ENOTSUP: a major version we do not know */
    NV_REFRESH_FOREIGN,     /* -EINVAL: not a TPM NVRAM store */
} NvRefreshError;

/*
 * Bring our view in line with the disk (under the lock).  @full ignores
 * every cached result.  0: nv->cur is the current slot or -1 for an empty
 * store; <0 with errp set and *@why (may be NULL) saying what failed.
 */
int nv_refresh(TPMNvram *nv, bool full, NvRefreshError *why, Error **errp);
int nv_verify_slot(TPMNvram *nv, const NvDir *dir, int slot,
                   uint8_t ***pdata, char *why, size_t why_len,
                   Error **errp);

/* ---- tpm_nvram_key.c: keys of an open store ---------------------------- */

int nv_check_key(TPMNvram *nv, bool need_key, Error **errp);
/* Plaintext of entry @i of the current state (malloc'ed, >= 1 byte). */
int nv_plaintext(TPMNvram *nv, int i, uint8_t **out, Error **errp);
int nv_seal(TPMNvram *nv, const NvDir *nd, NvEntry *e, const uint8_t *key,
            const uint8_t *plain, uint8_t *out, Error **errp);
int nv_new_params(const TPMNvramKey *k, NvDir *nd, uint8_t *key,
                  Error **errp);
void nv_set_key(TPMNvram *nv, const TPMNvramKey *key);
void nv_adopt_key(TPMNvram *nv, const NvDir *nd, const uint8_t *key);
int nv_first_params(TPMNvram *nv, NvDir *nd, Error **errp);

/* ---- tpm_nvram_commit.c: writing --------------------------------------- */

int nv_write(TPMNvram *nv, int64_t off, int64_t len, const void *buf,
             Error **errp);
int nv_flush(TPMNvram *nv, Error **errp);
int nv_check_writable(TPMNvram *nv, Error **errp);
/* Before a commit: writable, and a wipe the store owes is done. */
int nv_prepare_write(TPMNvram *nv, Error **errp);
int nv_commit(TPMNvram *nv, NvDir *nd, uint8_t *const *plain,
              const uint32_t *crcs, const uint8_t *key, Error **errp);

/* ---- tpm_nvram_admin.c: recovery --------------------------------------- */

/*
 * If the current state owes a wipe (NV_PENDING_WIPE, an interrupted
 * re-key), overwrite every byte the current state does not reference with
 * zeroes, flush, and commit the same state without the flag.
 */
int nv_settle(TPMNvram *nv, Error **errp);

#endif /* HW_TPM_TPM_NVRAM_INT_H */
