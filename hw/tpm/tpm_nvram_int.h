/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tpm_nvram_int.h: internals shared by the NVRAM store's source files
 * (key material layout).  Not for users of the store.
 */
#ifndef HW_TPM_TPM_NVRAM_INT_H
#define HW_TPM_TPM_NVRAM_INT_H

#include "hw/tpm/tpm_nvram.h"
#include "hw/tpm/tpm_nvram_format.h"

struct TPMNvramKey {
    bool is_passphrase;
    uint8_t key[32];        /* raw/hex keys */
    uint8_t *pass;          /* passphrase (no trailing newline) */
    size_t pass_len;
};

/* PBKDF2 iterations for new passphrase-protected stores. */
#define NV_PBKDF2_ITERATIONS 100000

#endif /* HW_TPM_TPM_NVRAM_INT_H */
