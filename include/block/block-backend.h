/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * block-backend.h: the user's end of a node tree (QEMU's BlockBackend).
 * It turns open flags into the permissions a user takes (reference §2.1)
 * and is what tools and the NVRAM store do their I/O through.
 */
#ifndef BLOCK_BLOCK_BACKEND_H
#define BLOCK_BLOCK_BACKEND_H

#include "block/block.h"

typedef struct BlockBackend BlockBackend;

/*
 * Open @filename with @options (consumed) and @flags, then take the
 * permissions of QEMU's blk_new_open(): consistent-read unless NO_IO, write
 * if RDWR, resize if RESIZE; share all, or only consistent-read and
 * write-unchanged with NO_SHARE.  "force-share=on" in @options is refused
 * on a read-write open ("force-share=on can only be used with read-only
 * images").
 */
BlockBackend *blk_new_open(const char *filename, QDict *options, int flags,
                           Error **errp);
void blk_unref(BlockBackend *blk);
BlockDriverState *blk_bs(BlockBackend *blk);

/* Change what this user holds/shares (e.g. to drop all locks). */
int blk_set_perm(BlockBackend *blk, uint64_t perm, uint64_t shared,
                 Error **errp);
void blk_get_perm(BlockBackend *blk, uint64_t *perm, uint64_t *shared);
/*
 * End an inactive (BDRV_O_INACTIVE) open: clear the flag on the whole tree
 * and take this user's permissions for real, locks included.  On failure
 * the tree stays inactive and nothing is locked.
 */
int blk_activate(BlockBackend *blk, Error **errp);
/*
 * The reverse (QEMU's blk_root_inactivate()): flush, mark the tree
 * inactive and release every permission lock, this user's and the ones
 * format nodes take on their files.  The permissions are remembered for
 * blk_activate(), which also reloads the format's cached metadata.
 * Writes fail with -EPERM while inactive.
 */
int blk_inactivate(BlockBackend *blk, Error **errp);
/* Is the image inactive (BDRV_O_INACTIVE: another process may own it)? */
bool blk_is_inactive(BlockBackend *blk);

/* Writethrough mode flushes after every write (qemu-io's default). */
void blk_set_enable_write_cache(BlockBackend *blk, bool wce);

int blk_pread(BlockBackend *blk, int64_t offset, int64_t bytes, void *buf);
int blk_pwrite(BlockBackend *blk, int64_t offset, int64_t bytes,
               const void *buf, int flags);
/* The VM state area, past the request bounds (see bdrv_save_vmstate). */
int blk_save_vmstate(BlockBackend *blk, const void *buf, int64_t pos,
                     int64_t size);
int blk_load_vmstate(BlockBackend *blk, void *buf, int64_t pos, int64_t size);
int blk_pwrite_zeroes(BlockBackend *blk, int64_t offset, int64_t bytes,
                      int flags);
int blk_pdiscard(BlockBackend *blk, int64_t offset, int64_t bytes);
int blk_flush(BlockBackend *blk);
int blk_truncate(BlockBackend *blk, int64_t offset, bool exact,
                 PreallocMode prealloc, Error **errp);
int64_t blk_getlength(BlockBackend *blk);

#endif /* BLOCK_BLOCK_BACKEND_H */
