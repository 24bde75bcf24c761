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
/* Wipes and frees. */
void tpm_nvram_key_free(TPMNvramKey *key);

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
 * contents survive a power cut; on any failure the previous contents stay.
 * Storing identical contents writes nothing.
 */
int tpm_nvram_store(TPMNvram *nv, const char *name, const uint8_t *data,
                    size_t len, Error **errp);
/* Remove blob @name (0 also if it did not exist). */
int tpm_nvram_delete(TPMNvram *nv, const char *name, Error **errp);
/* Read and verify every blob, the directory and the key; write nothing. */
int tpm_nvram_validate(TPMNvram *nv, Error **errp);

#endif /* HW_TPM_TPM_NVRAM_H */
