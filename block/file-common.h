/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * file-common.h: what the "file" drivers of every host share (file-posix.c,
 * file-win32.c): their options and the texts of their lock errors, in one
 * place so that both builds take the same options and say the same things.
 */
#ifndef BLOCK_FILE_COMMON_H
#define BLOCK_FILE_COMMON_H

#include "block/block_int.h"

/* locking=auto|on|off */
typedef enum FileLockMode {
    FILE_LOCK_AUTO,
    FILE_LOCK_ON,
    FILE_LOCK_OFF,
} FileLockMode;

/*
 * Take the "file" driver's runtime options out of @options: "locking"
 * into @mode, "aio" (checked), and the ones that change nothing here
 * ("aio-max-batch", "drop-cache", "x-check-cache-dropped").  Anything left
 * is for the caller to reject.  0 or -EINVAL.
 */
int file_parse_open_opts(QDict *options, FileLockMode *mode, Error **errp);

/* The creation options (qemu-img create -o) of the "file" driver. */
extern const QemuOptDesc file_driver_create_opts[];

typedef struct FileCreateOpts {
    const char *filename;  /* without a "file:" prefix */
    uint64_t size;         /* rounded up to whole sectors */
    PreallocMode prealloc; /* off, falloc or full */
} FileCreateOpts;

/* Parse bdrv_create()'s @filename and @opts.  0, -EINVAL or -ENOTSUP. */
int file_parse_create_opts(const char *filename, QDict *opts,
                           FileCreateOpts *o, Error **errp);

/* "Is another process using the image [@filename]?" as a hint of @errp. */
void file_hint_in_use(Error **errp, const char *filename);

/*
 * Say which permission lock could not be had: @bit is needed but somebody
 * refuses to share it (@shared false), or somebody holds @bit and we
 * refuse to share it (@shared true).
 */
void file_set_perm_conflict(Error **errp, uint64_t bit, bool shared);

/*
 * The serialization lock's errors, set in @errp and returned: locking is
 * off for @bs (-ENOTSUP); taking the lock (@exclusive or shared) on @byte
 * failed with @ret: -EAGAIN (held and no wait), -ETIMEDOUT (waited
 * @timeout_ms) or another errno; dropping it failed with @ret.
 */
int file_serial_lock_disabled(BlockDriverState *bs, Error **errp);
int file_serial_lock_failed(BlockDriverState *bs, int ret, bool exclusive,
                            int64_t timeout_ms, int64_t byte, Error **errp);
int file_serial_unlock_failed(BlockDriverState *bs, int ret, int64_t byte,
                              Error **errp);

#ifndef _WIN32
/*
 * Test hook of file-posix.c: probe OFD locks on @path instead of /dev/null
 * (a path that cannot be opened makes the probe fail).  Call it before the
 * process opens its first file: the probe runs once per process.
 */
void file_posix_set_ofd_probe_path(const char *path);
#endif

#endif /* BLOCK_FILE_COMMON_H */
