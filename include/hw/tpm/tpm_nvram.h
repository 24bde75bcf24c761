/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tpm_nvram.h: a TPM's NVRAM as a store of named blobs inside a raw or
 * qcow2 image: CRC-checked, optionally AES-256-GCM encrypted, committed
 * atomically and durably, read and written under bdrv_lock().
 * On-disk format: docs/specs/tpm-nvram.rst.
 */
#ifndef HW_TPM_TPM_NVRAM_H
#define HW_TPM_TPM_NVRAM_H

#include "block/block-backend.h"

typedef struct TPMNvram TPMNvram;
typedef struct TPMNvramKey TPMNvramKey;

/*
 * Parse a key specification "file=PATH|fd=N[,format=raw|hex|passphrase]"
 * and read the key material (never from argv or the environment).  A
 * passphrase is stretched with PBKDF2 at open time, with the store's salt.
 */
int tpm_nvram_key_parse(const char *spec, TPMNvramKey **key, Error **errp);
/*
 * swtpm's key options are accepted too: mode=aes-cbc|aes-128-cbc|
 * aes-256-cbc with format=hex|binary, pwdfile=PATH|pwdfd=N with
 * kdf=pbkdf2|sha512, remove[=on|off]; a 128-bit key gives the store its
 * AES-256-GCM key through HMAC-SHA256 (docs/tools/qemu-vtpm.rst).
 */
/* Wipes and frees. */
void tpm_nvram_key_free(TPMNvramKey *key);
/*
 * The AES-CBC key swtpm would use with the same key specification (16 or
 * 32 bytes, owned by @key), for swtpm's blob encryption; -ENOKEY for our
 * own passphrases (format=passphrase), which swtpm does not know.
 */
int tpm_nvram_key_get_swtpm(const TPMNvramKey *key, const uint8_t **swk,
                            size_t *len);

/*
 * Attach a store to an open image.  Reads and checks the header under a
 * shared bdrv_lock: an all-zero or empty device is an empty store; anything
 * else that is not our format fails ("not a TPM NVRAM store") and is never
 * written.  Key mismatches fail here, before anything is written:
 * key given for an unencrypted store, no key for an encrypted one, wrong
 * key.  @key may be NULL; it is not retained beyond what the store needs.
 */
TPMNvram *tpm_nvram_open(BlockBackend *blk, const TPMNvramKey *key,
                         Error **errp);
void tpm_nvram_close(TPMNvram *nv);

/*
 * Load blob @name (malloc'ed in *data, length in *len).  -ENOENT (errp not
 * set) when the blob does not exist; -EIO etc. with errp set on
 * corruption or I/O errors.
 */
int tpm_nvram_load(TPMNvram *nv, const char *name, uint8_t **data,
                   size_t *len, Error **errp);
/*
 * Replace blob @name atomically and durably: when this returns 0 the new
 * contents survive a power cut.  On failure the previous contents stay
 * (durably), unless the error says that undoing the commit failed too:
 * then, as after a power cut during a commit, the store holds either the
 * previous or the new contents, each complete (reopen to see which).
 * Storing identical contents writes nothing.
 */
int tpm_nvram_store(TPMNvram *nv, const char *name, const uint8_t *data,
                    size_t len, Error **errp);
/* Remove blob @name (0 also if it did not exist); fails as a store. */
int tpm_nvram_delete(TPMNvram *nv, const char *name, Error **errp);
/* Read and verify every blob, the directory and the key; write nothing. */
int tpm_nvram_validate(TPMNvram *nv, Error **errp);

/* ---- additions: inspection, rekey, tuning ------------------------------ */

/* Open flags (TPMNvramOpenOptions.flags). */
#define TPM_NVRAM_OPEN_INSPECT 0x1 /* allow an encrypted store without key:
                                      list/info/check work, loads fail */
#define TPM_NVRAM_OPEN_CHECK   0x2 /* open a corrupt store too, so that
                                      tpm_nvram_check() can report it */
#define TPM_NVRAM_OPEN_REFUSE_ROLLBACK 0x4 /* fail (-ESTALE) rather than
                                      open a store whose newest committed
                                      generation does not verify */

/*
 * The current state is not the newest slot of the image
 * (docs/specs/tpm-nvram.rst, "Fallbacks").
 */
typedef enum TPMNvramFallback {
    TPM_NVRAM_FALLBACK_NONE,
    TPM_NVRAM_FALLBACK_INTERRUPTED, /* a commit that never completed was
                                       discarded: nothing acknowledged is
                                       lost */
    TPM_NVRAM_FALLBACK_ROLLBACK,    /* a durably committed generation does
                                       not verify: the state went back */
    TPM_NVRAM_FALLBACK_UNKNOWN,     /* a newer generation does not verify
                                       and the (1.0) format cannot tell
                                       which of the two it was */
} TPMNvramFallback;

/* "none", "interrupted-commit", "rollback", "unknown" */
const char *tpm_nvram_fallback_name(TPMNvramFallback f);

/* Milliseconds to wait for another process's bdrv_lock, by default. */
#define TPM_NVRAM_LOCK_TIMEOUT_DEFAULT 30000

typedef struct TPMNvramOpenOptions {
    int flags;                  /* TPM_NVRAM_OPEN_* */
    int64_t lock_timeout_ms;    /* how long every load and commit (and the
                                   open itself) waits for another process's
                                   bdrv_lock; 0: do not wait */
} TPMNvramOpenOptions;

/* What tpm_nvram_open() uses: no flags, the default lock timeout. */
#define TPM_NVRAM_OPEN_OPTIONS_DEFAULT \
    ((TPMNvramOpenOptions){ .flags = 0, \
                            .lock_timeout_ms = TPM_NVRAM_LOCK_TIMEOUT_DEFAULT })

/* tpm_nvram_open() with options (@opts NULL: the defaults). */
TPMNvram *tpm_nvram_open_opts(BlockBackend *blk, const TPMNvramKey *key,
                              const TPMNvramOpenOptions *opts, Error **errp);

typedef struct TPMNvramBlobInfo {
    char name[48];
    uint64_t length;
    uint64_t generation;    /* generation that last wrote it */
    uint32_t crc32;         /* of the plaintext */
    uint64_t offset;
} TPMNvramBlobInfo;

typedef struct TPMNvramInfo {
    bool empty;             /* nothing committed yet */
    uint64_t generation;
    unsigned version_major, version_minor;
    bool encrypted;
    const char *cipher;     /* "aes-256-gcm" or "none" (static string) */
    const char *kdf;        /* "none", "pbkdf2-sha256" (static string) */
    uint32_t kdf_iterations;
    int current_slot;       /* 0 or 1, -1 when empty */
    int64_t image_length;
    unsigned blob_count;
    TPMNvramFallback fallback;
    uint64_t lost_generation;   /* the generation fallen back from, 0 if
                                   unknown */
    char fallback_why[640];     /* one sentence naming the image, or "" */
    bool wipe_pending;          /* a re-key's wipe of the old key's data is
                                   still owed (done by the next read-write
                                   open or commit) */
} TPMNvramInfo;

int tpm_nvram_get_info(TPMNvram *nv, TPMNvramInfo *info, Error **errp);
/* Malloc'ed array of the blobs (sorted by name) in *blobs. */
int tpm_nvram_list(TPMNvram *nv, TPMNvramBlobInfo **blobs, size_t *count,
                   Error **errp);

typedef struct TPMNvramCheckResult {
    int corruptions;        /* blobs or directories that fail verification */
    int leaks;              /* always 0: the format cannot leak space */
    int check_errors;       /* I/O errors while checking */
    bool authenticated;     /* blobs decrypted and verified with the key */
    bool other_slot_damaged;/* the previous slot does not verify (harmless) */
    TPMNvramFallback fallback; /* the current state is not the newest */
    int residue;            /* data of an older key (or plaintext) that a
                               re-key did not wipe yet */
    char *messages;         /* malloc'ed, one line per problem, or NULL */
} TPMNvramCheckResult;

/* Read and verify everything; fills @res; never writes.  0 or -errno. */
int tpm_nvram_check(TPMNvram *nv, TPMNvramCheckResult *res, Error **errp);
void tpm_nvram_check_result_free(TPMNvramCheckResult *res);

/*
 * Atomically re-encrypt every blob: @new_key NULL decrypts the store,
 * otherwise the store is (re-)encrypted with @new_key (a new salt for
 * passphrases).  The store must have been opened with its current key.
 * The commit records that the old key's data must be wiped; the wipe
 * follows at once and, if it is interrupted, is finished by the next
 * read-write open or commit.
 */
int tpm_nvram_rekey(TPMNvram *nv, const TPMNvramKey *new_key, Error **errp);

#endif /* HW_TPM_TPM_NVRAM_H */
