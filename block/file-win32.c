/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * file-win32.c: the "file" protocol driver on Windows.  Positioned I/O on a
 * CreateFile handle, and both lock layers (permission locks, serialization
 * lock) built on LockFileEx in a region far beyond any data offset.
 */
#include "qemu/osdep.h"
#include "qemu/error.h"
#include "qemu/cutils.h"
#include "qemu/qdict.h"
#include "qemu/option.h"
#include "block/file-common.h"
#include "block/lock-bytes.h"

#include <winioctl.h>

/*
 * The byte map lives in include/block/lock-bytes.h (WIN_LOCK_*); see
 * docs/devel/locking.rst, section "Windows".
 */

/* Data must end below the lock region. */
#define WIN_DATA_MAX WIN_LOCK_REGION

/* How long an opener waits for another opener's check-and-acquire. */
#define WIN_META_WAIT_MS 5000

/* ReadFile/WriteFile take a DWORD count: move at most this per call. */
#define WIN_IO_CHUNK (1u << 30)

typedef struct BDRVWin32State {
    HANDLE hfile;
    FileLockMode lock_mode;
    bool use_lock;
    /* Committed permissions, and bits whose bytes are locked on hfile. */
    uint64_t perm;
    uint64_t shared_perm;
    uint64_t locked_perm;     /* bytes PERM_BASE + i held */
    uint64_t locked_unshared; /* bytes SHARED_BASE + i held */
    bool serial_locked;
} BDRVWin32State;

/* ---- helpers ------------------------------------------------------------ */

static int win32_errno(DWORD err)
{
    switch (err) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_INVALID_DRIVE:
    case ERROR_BAD_NETPATH:
    case ERROR_BAD_NET_NAME:
        return ENOENT;
    case ERROR_ACCESS_DENIED:
    case ERROR_NETWORK_ACCESS_DENIED:
        return EACCES;
    case ERROR_SHARING_VIOLATION:
        return EBUSY;
    case ERROR_LOCK_VIOLATION:
        return EAGAIN;
    case ERROR_WRITE_PROTECT:
        return EROFS;
    case ERROR_DISK_FULL:
    case ERROR_HANDLE_DISK_FULL:
        return ENOSPC;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
        return ENOMEM;
    case ERROR_FILE_EXISTS:
    case ERROR_ALREADY_EXISTS:
        return EEXIST;
    case ERROR_INVALID_PARAMETER:
    case ERROR_INVALID_NAME:
    case ERROR_NEGATIVE_SEEK:
        return EINVAL;
    case ERROR_FILENAME_EXCED_RANGE:
        return ENAMETOOLONG;
    case ERROR_NOT_SUPPORTED:
    case ERROR_INVALID_FUNCTION:
        return ENOTSUP;
    default:
        return EIO;
    }
}

static void win32_set_overlapped(OVERLAPPED *ov, uint64_t offset)
{
    memset(ov, 0, sizeof(*ov));
    ov->Offset = (DWORD)offset;
    ov->OffsetHigh = (DWORD)(offset >> 32);
}

/*
 * Open @filename with the Windows semantics of the driver; on failure set
 * errp like the POSIX driver does and return a negative errno.
 */
static int win32_open_handle(const char *filename, bool rdwr, bool create,
                             int flags, HANDLE *out, Error **errp)
{
    DWORD attr = GetFileAttributesA(filename);
    DWORD access = GENERIC_READ | (rdwr ? GENERIC_WRITE : 0);
    DWORD fflags = FILE_ATTRIBUTE_NORMAL;
    HANDLE h;

    if (attr != INVALID_FILE_ATTRIBUTES) {
        if (attr & FILE_ATTRIBUTE_DIRECTORY) {
            if (rdwr || create) {
                error_setg_errno(errp, EISDIR, "Could not %s '%s'",
                                 create ? "create" : "open", filename);
                return -EISDIR;
            }
            error_setg(errp, "'file' driver requires '%s' to be a regular "
                       "file", filename);
            return -EINVAL;
        }
        /*
         * Windows refuses write access to a read-only file even to an
         * administrator; say so up front (wine running as root would let
         * the open through, real Windows would not).
         */
        if (rdwr && (attr & FILE_ATTRIBUTE_READONLY)) {
            error_setg_errno(errp, EACCES, "Could not %s '%s'",
                             create ? "create" : "open", filename);
            return -EACCES;
        }
    }
    if (flags & BDRV_O_NOCACHE) {
        /*
         * FILE_FLAG_NO_BUFFERING would demand sector-aligned buffers and
         * offsets from every caller; write-through gives the durability
         * that cache=none promises without that constraint.
         */
        fflags |= FILE_FLAG_WRITE_THROUGH;
    }
    if (flags & BDRV_O_TEMPORARY) {
        /* A temporary overlay: gone with the last handle. */
        fflags |= FILE_FLAG_DELETE_ON_CLOSE;
    }

    /* Share everything, like a POSIX open: the locks do the policing. */
    h = CreateFileA(filename, access,
                    FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                    NULL, create ? OPEN_ALWAYS : OPEN_EXISTING, fflags, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        DWORD err = GetLastError();
        int e = win32_errno(err);

        if (err == ERROR_SHARING_VIOLATION) {
            error_setg(errp, "Could not %s '%s': the file is in use by "
                       "another process that does not share it "
                       "(sharing violation)",
                       create ? "create" : "open", filename);
        } else if (e == EIO) {
            error_setg_win32(errp, err, "Could not %s '%s'",
                             create ? "create" : "open", filename);
        } else {
            error_setg_errno(errp, e, "Could not %s '%s'",
                             create ? "create" : "open", filename);
        }
        return -e;
    }
    *out = h;
    return 0;
}

static int64_t win32_get_length(HANDLE h)
{
    LARGE_INTEGER size;

    if (!GetFileSizeEx(h, &size)) {
        return -win32_errno(GetLastError());
    }
    return size.QuadPart;
}

static int win32_set_length(HANDLE h, int64_t length)
{
    FILE_END_OF_FILE_INFO eof;

    eof.EndOfFile.QuadPart = length;
    if (!SetFileInformationByHandle(h, FileEndOfFileInfo, &eof,
                                    sizeof(eof))) {
        return -win32_errno(GetLastError());
    }
    return 0;
}

static int win32_write_full(HANDLE h, int64_t offset, const void *buf,
                            int64_t bytes)
{
    const uint8_t *p = buf;

    while (bytes > 0) {
        DWORD chunk = bytes > WIN_IO_CHUNK ? WIN_IO_CHUNK : (DWORD)bytes;
        DWORD done = 0;
        OVERLAPPED ov;

        win32_set_overlapped(&ov, offset);
        if (!WriteFile(h, p, chunk, &done, &ov)) {
            return -win32_errno(GetLastError());
        }
        if (done == 0) {
            return -EIO;
        }
        p += done;
        offset += done;
        bytes -= done;
    }
    return 0;
}

static int win32_write_zeroes(HANDLE h, int64_t offset, int64_t bytes)
{
    const int64_t chunk = 1 * MiB;
    void *zeroes = qemu_xzalloc(chunk);
    int ret = 0;

    while (bytes > 0 && ret == 0) {
        int64_t n = MIN(bytes, chunk);

        ret = win32_write_full(h, offset, zeroes, n);
        offset += n;
        bytes -= n;
    }
    free(zeroes);
    return ret;
}

/* ---- the lock region ----------------------------------------------------- */

static int win32_lock_byte(HANDLE h, uint64_t byte, bool exclusive,
                           bool wait)
{
    OVERLAPPED ov;
    DWORD flags = (exclusive ? LOCKFILE_EXCLUSIVE_LOCK : 0) |
                  (wait ? 0 : LOCKFILE_FAIL_IMMEDIATELY);

    win32_set_overlapped(&ov, byte);
    if (!LockFileEx(h, flags, 0, 1, 0, &ov)) {
        return -win32_errno(GetLastError());
    }
    return 0;
}

static int win32_unlock_byte(HANDLE h, uint64_t byte)
{
    OVERLAPPED ov;

    win32_set_overlapped(&ov, byte);
    if (!UnlockFileEx(h, 0, 1, 0, &ov)) {
        return -win32_errno(GetLastError());
    }
    return 0;
}

/*
 * Retry a non-blocking lock until @timeout_ms has passed (< 0: forever),
 * backing off from 1 ms to 50 ms.  LockFileEx cannot wait with a timeout
 * (wine does not implement asynchronous lock waits), so this polls.
 */
static int win32_lock_byte_timeout(HANDLE h, uint64_t byte, bool exclusive,
                                   int64_t timeout_ms)
{
    int64_t deadline = qemu_clock_monotonic_ns() + timeout_ms * 1000000;
    DWORD delay = 1;
    int ret;

    for (;;) {
        ret = win32_lock_byte(h, byte, exclusive, false);
        if (ret != -EAGAIN) {
            return ret;
        }
        if (timeout_ms >= 0 && qemu_clock_monotonic_ns() >= deadline) {
            return -ETIMEDOUT;
        }
        Sleep(delay);
        delay = MIN(delay * 2, 50);
    }
}

/*
 * Is @byte held by anybody but this handle?  The caller holds the meta
 * byte, so nobody else can take a lock while we look.  A handle's own
 * locks conflict with its own exclusive probe, so our own shared lock on
 * the byte (if any) is dropped for the probe and put back afterwards;
 * putting it back cannot fail, since only meta holders add locks and the
 * only other locks on these bytes are shared ones.
 */
static int win32_probe_byte(HANDLE h, uint64_t byte, bool own,
                            bool *taken)
{
    int ret;

    if (own) {
        ret = win32_unlock_byte(h, byte);
        if (ret < 0) {
            return ret;
        }
    }
    ret = win32_lock_byte(h, byte, true, false);
    if (ret == 0) {
        *taken = false;
        ret = win32_unlock_byte(h, byte);
    } else if (ret == -EAGAIN) {
        *taken = true;
        ret = 0;
    }
    if (own) {
        int r2 = win32_lock_byte(h, byte, false, false);
        if (ret == 0) {
            ret = r2;
        }
    }
    return ret;
}

/*
 * Make the locked bytes of @s equal to (@perm bits, @unshared bits): lock
 * what is missing, unlock what is extra.  Unlock errors are ignored when
 * @ignore_unlock_errors (loosening must not fail).
 */
static int win32_apply_lock_bytes(BDRVWin32State *s, uint64_t perm,
                                  uint64_t unshared, bool ignore_unlock_errors,
                                  Error **errp)
{
    int i;

    for (i = 0; (1ull << i) <= BLK_PERM_ALL; i++) {
        uint64_t bit = 1ull << i;
        struct {
            uint64_t *locked;
            bool want;
            uint64_t byte;
        } b[2] = {
            { &s->locked_perm, (perm & bit) != 0, WIN_LOCK_PERM_BASE + i },
            { &s->locked_unshared, (unshared & bit) != 0,
              WIN_LOCK_SHARED_BASE + i },
        };
        int j;

        for (j = 0; j < 2; j++) {
            bool have = (*b[j].locked & bit) != 0;
            int ret;

            if (b[j].want && !have) {
                ret = win32_lock_byte(s->hfile, b[j].byte, false, false);
                if (ret == -EAGAIN) {
                    error_setg(errp, "Failed to lock byte %" PRIu64,
                               b[j].byte);
                    return ret;
                } else if (ret < 0) {
                    error_setg_errno(errp, -ret, "Failed to lock byte %"
                                     PRIu64, b[j].byte);
                    return ret;
                }
                *b[j].locked |= bit;
            } else if (!b[j].want && have) {
                ret = win32_unlock_byte(s->hfile, b[j].byte);
                if (ret < 0 && !ignore_unlock_errors) {
                    error_setg_errno(errp, -ret, "Failed to unlock byte %"
                                     PRIu64, b[j].byte);
                    return ret;
                }
                *b[j].locked &= ~bit;
            }
        }
    }
    return 0;
}

/*
 * The conflict check, in the POSIX driver's order and with its texts:
 * first every permission we need that somebody refuses to share, then
 * every permission somebody holds that we refuse to share.
 */
static int win32_check_lock_bytes(BDRVWin32State *s, uint64_t perm,
                                  uint64_t shared, Error **errp)
{
    int pass, i, ret;

    for (pass = 0; pass < 2; pass++) {
        for (i = 0; (1ull << i) <= BLK_PERM_ALL; i++) {
            uint64_t bit = 1ull << i;
            uint64_t byte;
            bool own, taken = false;

            if (pass == 0 && !(perm & bit)) {
                continue;
            }
            if (pass == 1 && (shared & bit)) {
                continue;
            }
            byte = (pass == 0 ? WIN_LOCK_SHARED_BASE : WIN_LOCK_PERM_BASE) + i;
            own = ((pass == 0 ? s->locked_unshared : s->locked_perm) & bit);
            ret = win32_probe_byte(s->hfile, byte, own, &taken);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Failed to check byte %" PRIu64,
                                 byte);
                return ret;
            }
            if (taken) {
                file_set_perm_conflict(errp, bit, pass == 1);
                return -EAGAIN;
            }
        }
    }
    return 0;
}

/*
 * Take the meta byte: exclusive, held only around check-and-acquire, so
 * that two openers never check at the same time.  With locking=auto, a
 * filesystem that cannot lock at all turns locking off for this node.
 * Returns 1 if locking got disabled, 0 with the byte held, or -errno.
 */
static int win32_meta_lock(BlockDriverState *bs, Error **errp)
{
    BDRVWin32State *s = bs->opaque;
    int ret = win32_lock_byte_timeout(s->hfile, WIN_LOCK_META, true,
                                      WIN_META_WAIT_MS);

    if (ret == -ENOTSUP && s->lock_mode == FILE_LOCK_AUTO) {
        s->use_lock = false;
        return 1;
    }
    if (ret == -ETIMEDOUT) {
        error_setg(errp, "Failed to lock byte %" PRIu64,
                   (uint64_t)WIN_LOCK_META);
        file_hint_in_use(errp, bs->filename);
        return -EAGAIN;
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to lock byte %" PRIu64,
                         (uint64_t)WIN_LOCK_META);
        return ret;
    }
    return 0;
}

static void win32_meta_unlock(BDRVWin32State *s)
{
    /* Failing to drop it only delays other openers until we exit. */
    win32_unlock_byte(s->hfile, WIN_LOCK_META);
}

/*
 * PREPARE: lock the union of old and new, then check, all under the meta
 * byte.  On failure the old state is restored.
 */
static int win32_perm_prepare(BlockDriverState *bs, uint64_t perm,
                              uint64_t shared, Error **errp)
{
    BDRVWin32State *s = bs->opaque;
    uint64_t old_unshared = ~s->shared_perm & BLK_PERM_ALL;
    uint64_t new_unshared = ~shared & BLK_PERM_ALL;
    int ret;

    if (!s->use_lock || (bs->open_flags & BDRV_O_INACTIVE)) {
        return 0;
    }
    if ((perm & ~s->perm) == 0 && (new_unshared & ~old_unshared) == 0) {
        return 0; /* only loosening: nothing to check */
    }

    ret = win32_meta_lock(bs, errp);
    if (ret != 0) {
        return ret > 0 ? 0 : ret;
    }
    ret = win32_check_lock_bytes(s, perm, shared, errp);
    if (ret == -EAGAIN) {
        file_hint_in_use(errp, bs->filename);
    } else if (ret == 0) {
        ret = win32_apply_lock_bytes(s, s->perm | perm,
                                     old_unshared | new_unshared, false,
                                     errp);
    }
    if (ret < 0) {
        win32_apply_lock_bytes(s, s->perm, old_unshared, true, NULL);
    }
    win32_meta_unlock(s);
    return ret;
}

static int file_check_perm(BlockDriverState *bs, uint64_t perm,
                           uint64_t shared, Error **errp)
{
    return win32_perm_prepare(bs, perm, shared, errp);
}

static void file_set_perm(BlockDriverState *bs, uint64_t perm,
                          uint64_t shared)
{
    BDRVWin32State *s = bs->opaque;

    if (s->use_lock && !(bs->open_flags & BDRV_O_INACTIVE)) {
        /* Everything new was locked by PREPARE: this only unlocks. */
        win32_apply_lock_bytes(s, perm, ~shared & BLK_PERM_ALL, true, NULL);
    }
    s->perm = perm;
    s->shared_perm = shared;
}

static void file_abort_perm_update(BlockDriverState *bs)
{
    BDRVWin32State *s = bs->opaque;

    if (s->use_lock && !(bs->open_flags & BDRV_O_INACTIVE)) {
        win32_apply_lock_bytes(s, s->perm, ~s->shared_perm & BLK_PERM_ALL,
                               true, NULL);
    }
}

/* ---- the serialization lock ---------------------------------------------- */

static int file_lock(BlockDriverState *bs, bool exclusive, int64_t timeout_ms,
                     Error **errp)
{
    BDRVWin32State *s = bs->opaque;
    int ret;

    if (!s->use_lock) {
        return file_serial_lock_disabled(bs, errp);
    }
    if (timeout_ms < 0) {
        ret = win32_lock_byte(s->hfile, WIN_LOCK_SERIAL, exclusive, true);
    } else {
        ret = win32_lock_byte_timeout(s->hfile, WIN_LOCK_SERIAL, exclusive,
                                      timeout_ms);
        if (ret == -ETIMEDOUT && timeout_ms == 0) {
            ret = -EAGAIN;
        }
    }
    if (ret < 0) {
        return file_serial_lock_failed(bs, ret, exclusive, timeout_ms,
                                       WIN_LOCK_SERIAL, errp);
    }
    s->serial_locked = true;
    return 0;
}

static int file_unlock(BlockDriverState *bs, Error **errp)
{
    BDRVWin32State *s = bs->opaque;
    int ret;

    if (!s->serial_locked) {
        error_setg(errp, "'%s' is not locked", bs->filename);
        return -ENOLCK;
    }
    ret = win32_unlock_byte(s->hfile, WIN_LOCK_SERIAL);
    if (ret < 0) {
        return file_serial_unlock_failed(bs, ret, WIN_LOCK_SERIAL, errp);
    }
    s->serial_locked = false;
    return 0;
}

/* ---- open / close -------------------------------------------------------- */

static int file_open(BlockDriverState *bs, QDict *options, int flags,
                     Error **errp)
{
    BDRVWin32State *s = bs->opaque;
    const char *filename = bs->filename;
    bool rdwr = flags & BDRV_O_RDWR;
    int ret;

    s->hfile = INVALID_HANDLE_VALUE;
    ret = file_parse_open_opts(options, &s->lock_mode, errp);
    if (ret < 0) {
        return ret;
    }
    if (!filename[0]) {
        error_setg(errp, "The 'file' block driver requires a file name");
        return -EINVAL;
    }
    ret = win32_open_handle(filename, rdwr, false, flags, &s->hfile, errp);
    if (ret < 0) {
        return ret;
    }
    s->use_lock = s->lock_mode != FILE_LOCK_OFF;
    s->perm = 0;
    s->shared_perm = BLK_PERM_ALL;
    return 0;
}

static void file_close(BlockDriverState *bs)
{
    BDRVWin32State *s = bs->opaque;

    if (s->hfile != INVALID_HANDLE_VALUE) {
        /* Closing the handle drops every lock it holds. */
        CloseHandle(s->hfile);
        s->hfile = INVALID_HANDLE_VALUE;
    }
}

/* ---- I/O ----------------------------------------------------------------- */

static int file_pread(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      void *buf)
{
    BDRVWin32State *s = bs->opaque;
    uint8_t *p = buf;

    while (bytes > 0) {
        DWORD chunk = bytes > WIN_IO_CHUNK ? WIN_IO_CHUNK : (DWORD)bytes;
        DWORD done = 0;
        OVERLAPPED ov;

        win32_set_overlapped(&ov, offset);
        if (!ReadFile(s->hfile, p, chunk, &done, &ov)) {
            DWORD err = GetLastError();

            if (err != ERROR_HANDLE_EOF) {
                return -win32_errno(err);
            }
            done = 0;
        }
        if (done == 0) {
            /* Past the end of the file reads as zeroes, as on POSIX. */
            memset(p, 0, bytes);
            return 0;
        }
        p += done;
        offset += done;
        bytes -= done;
    }
    return 0;
}

static int file_check_range(int64_t offset, int64_t bytes)
{
    if (offset < 0 || bytes < 0 || offset > WIN_DATA_MAX - bytes) {
        return -EFBIG;
    }
    return 0;
}

static int file_pwrite(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       const void *buf, int flags)
{
    BDRVWin32State *s = bs->opaque;
    int ret = file_check_range(offset, bytes);

    if (ret < 0) {
        return ret;
    }
    if (flags & BDRV_REQ_ZERO_WRITE || !buf) {
        ret = win32_write_zeroes(s->hfile, offset, bytes);
    } else {
        ret = win32_write_full(s->hfile, offset, buf, bytes);
    }
    if (ret == 0 && (flags & BDRV_REQ_FUA)) {
        if (!FlushFileBuffers(s->hfile)) {
            ret = -win32_errno(GetLastError());
        }
    }
    return ret;
}

static int file_pwrite_zeroes(BlockDriverState *bs, int64_t offset,
                              int64_t bytes, int flags)
{
    BDRVWin32State *s = bs->opaque;
    int ret = file_check_range(offset, bytes);

    if (ret < 0) {
        return ret;
    }
    return win32_write_zeroes(s->hfile, offset, bytes);
}

/*
 * Discarded ranges read as zeroes afterwards, as after the POSIX driver's
 * hole punching (so both builds leave identical files): FSCTL_SET_ZERO_DATA
 * deallocates them in a sparse file and zeroes them otherwise; where it is
 * missing (wine), zeroes are written.  Only the part below the end of the
 * file matters.
 */
static int file_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    BDRVWin32State *s = bs->opaque;
    FILE_ZERO_DATA_INFORMATION zero;
    int64_t len = win32_get_length(s->hfile);
    DWORD done;

    if (len < 0) {
        return (int)len;
    }
    if (offset >= len || bytes <= 0) {
        return 0;
    }
    bytes = MIN(bytes, len - offset);
    zero.FileOffset.QuadPart = offset;
    zero.BeyondFinalZero.QuadPart = offset + bytes;
    if (DeviceIoControl(s->hfile, FSCTL_SET_ZERO_DATA, &zero, sizeof(zero),
                        NULL, 0, &done, NULL)) {
        return 0;
    }
    return win32_write_zeroes(s->hfile, offset, bytes);
}

static int file_flush_to_disk(BlockDriverState *bs)
{
    BDRVWin32State *s = bs->opaque;

    /* FlushFileBuffers needs write access; a read-only node has no data. */
    if (!(bs->open_flags & BDRV_O_RDWR)) {
        return 0;
    }
    if (!FlushFileBuffers(s->hfile)) {
        return -win32_errno(GetLastError());
    }
    return 0;
}

/*
 * Grow or shrink the file to @offset; preallocation applies to the grown
 * part only (off: sparse-ish end of file, falloc: reserve clusters, full:
 * write zeroes).
 */
static int win32_truncate(HANDLE h, const char *filename, int64_t offset,
                          PreallocMode prealloc, Error **errp)
{
    int64_t cur;
    int ret;

    if (offset < 0 || offset > WIN_DATA_MAX) {
        error_setg(errp, "Image size must be less than %" PRId64 " bytes "
                   "on Windows (the lock region starts there)",
                   (int64_t)WIN_DATA_MAX);
        return -EFBIG;
    }
    cur = win32_get_length(h);
    if (cur < 0) {
        error_setg_errno(errp, (int)-cur, "Could not get current file size");
        return (int)cur;
    }
    if (prealloc != PREALLOC_MODE_OFF && offset < cur) {
        error_setg(errp, "Cannot use preallocation for shrinking files");
        return -ENOTSUP;
    }
    switch (prealloc) {
    case PREALLOC_MODE_OFF:
        break;
    case PREALLOC_MODE_FALLOC: {
        FILE_ALLOCATION_INFO alloc;

        alloc.AllocationSize.QuadPart = offset;
        if (!SetFileInformationByHandle(h, FileAllocationInfo, &alloc,
                                        sizeof(alloc))) {
            ret = -win32_errno(GetLastError());
            error_setg_errno(errp, -ret, "Could not preallocate new data");
            return ret;
        }
        break;
    }
    case PREALLOC_MODE_FULL:
        ret = win32_write_zeroes(h, cur, offset - cur);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not write zeros for "
                             "preallocation");
            return ret;
        }
        break;
    default:
        error_setg(errp, "Unsupported preallocation mode: %s",
                   prealloc_mode_str(prealloc));
        return -ENOTSUP;
    }
    ret = win32_set_length(h, offset);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to resize the file");
        return ret;
    }
    return 0;
}

static int file_truncate(BlockDriverState *bs, int64_t offset, bool exact,
                         PreallocMode prealloc, Error **errp)
{
    BDRVWin32State *s = bs->opaque;

    return win32_truncate(s->hfile, bs->filename, offset, prealloc, errp);
}

static int64_t file_getlength(BlockDriverState *bs)
{
    BDRVWin32State *s = bs->opaque;

    return win32_get_length(s->hfile);
}

static int64_t file_get_allocated_file_size(BlockDriverState *bs)
{
    BDRVWin32State *s = bs->opaque;
    FILE_STANDARD_INFO info;

    if (!GetFileInformationByHandleEx(s->hfile, FileStandardInfo, &info,
                                      sizeof(info))) {
        return -win32_errno(GetLastError());
    }
    return info.AllocationSize.QuadPart;
}

/* ---- create -------------------------------------------------------------- */

/*
 * Like the POSIX driver: open (creating if needed), take write and resize
 * and refuse to share resize while the file is emptied and sized, so that
 * an image in use is never truncated under its user.
 */
static int file_create(const char *filename, QDict *opts, Error **errp)
{
    BlockDriverState tmp;
    BDRVWin32State s;
    FileCreateOpts o;
    Error *local_err = NULL;
    int ret;

    ret = file_parse_create_opts(filename, opts, &o, errp);
    if (ret < 0) {
        return ret;
    }
    filename = o.filename;
    if (o.size > (uint64_t)WIN_DATA_MAX) {
        error_setg(errp, "Image size must be less than %" PRId64 " bytes "
                   "on Windows (the lock region starts there)",
                   (int64_t)WIN_DATA_MAX);
        return -EFBIG;
    }

    memset(&tmp, 0, sizeof(tmp));
    memset(&s, 0, sizeof(s));
    tmp.opaque = &s;
    tmp.open_flags = BDRV_O_RDWR;
    pstrcpy(tmp.filename, sizeof(tmp.filename), filename);
    s.lock_mode = FILE_LOCK_AUTO;
    s.use_lock = true;
    s.shared_perm = BLK_PERM_ALL;

    ret = win32_open_handle(filename, true, true, 0, &s.hfile, errp);
    if (ret < 0) {
        return ret;
    }
    ret = win32_perm_prepare(&tmp, BLK_PERM_WRITE | BLK_PERM_RESIZE,
                             BLK_PERM_ALL & ~BLK_PERM_RESIZE, &local_err);
    if (ret < 0) {
        error_propagate(errp, local_err);
        goto out;
    }
    ret = win32_set_length(s.hfile, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not clear the file");
        goto out;
    }
    ret = win32_truncate(s.hfile, filename, (int64_t)o.size, o.prealloc,
                         errp);
out:
    /* Closing the handle drops every lock. */
    CloseHandle(s.hfile);
    return ret;
}

const BlockDriver bdrv_file = {
    .format_name = "file",
    .protocol_name = "file",
    .needs_filename = true,
    .instance_size = sizeof(BDRVWin32State),
    .is_format = false,

    .bdrv_open = file_open,
    .bdrv_close = file_close,
    .bdrv_create = file_create,
    .create_opts = file_driver_create_opts,

    .bdrv_pread = file_pread,
    .bdrv_pwrite = file_pwrite,
    .bdrv_pwrite_zeroes = file_pwrite_zeroes,
    .bdrv_pdiscard = file_pdiscard,
    .bdrv_flush_to_disk = file_flush_to_disk,
    .bdrv_truncate = file_truncate,
    .bdrv_getlength = file_getlength,
    .bdrv_get_allocated_file_size = file_get_allocated_file_size,

    .bdrv_check_perm = file_check_perm,
    .bdrv_set_perm = file_set_perm,
    .bdrv_abort_perm_update = file_abort_perm_update,

    .bdrv_lock = file_lock,
    .bdrv_unlock = file_unlock,
};
