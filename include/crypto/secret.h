/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * secret.h: key material handling: wiping memory that held secrets and
 * reading a secret from a file or an inherited file descriptor (never from
 * argv or the environment).
 */
#ifndef CRYPTO_SECRET_H
#define CRYPTO_SECRET_H

#include "qemu/error.h"

/* Overwrite @len bytes at @p with zeroes in a way the compiler keeps. */
void qcrypto_wipe(void *p, size_t len);
/*
 * Zero 64 KiB of stack below the caller's frame: whatever deeper calls left
 * there (a key decoded into a local buffer, a cipher's round keys) is gone
 * before a core dump could show it.  Call it after handling key material.
 */
void qcrypto_wipe_stack(void);
/* Wipe and free(); NULL is fine. */
void qcrypto_wipe_free(void *p, size_t len);

/*
 * Memory for key material (zeroed): pages of its own, excluded from core
 * dumps (MADV_DONTDUMP) and, where RLIMIT_MEMLOCK allows, locked out of
 * swap.  qcrypto_secure_free() wipes and unmaps it (NULL is fine).
 * Chosen over prctl(PR_SET_DUMPABLE, 0): a crash still leaves a core to
 * debug, gcore and ptrace keep working, only the keys are left out.
 */
void *qcrypto_secure_alloc(size_t len);
void qcrypto_secure_free(void *p);

/* Largest secret we read (a passphrase or a key file). */
#define QCRYPTO_SECRET_MAX 4096

/*
 * Read all of @path (when @fd < 0) or of @fd into a buffer from
 * qcrypto_secure_alloc() (*data, *len); the caller frees it with
 * qcrypto_secure_free().  @fd is read
 * from its current position and left open.  0 or -errno with errp set
 * ("Could not read key file 'x': ...").  A regular file that users other
 * than its owner may write is refused (-EPERM); one they may read is
 * accepted with a warning (qemu_warn()).
 */
int qcrypto_read_secret(const char *path, int fd, uint8_t **data,
                        size_t *len, Error **errp);

#endif /* CRYPTO_SECRET_H */
