/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * file-posix.c: the "file" protocol driver on POSIX hosts.  Positioned I/O
 * on a regular file, and both lock layers: QEMU 7.2-compatible permission
 * locks (bytes 100+i / 200+i) and the serialization lock of bdrv_lock().
 */
#include "qemu/osdep.h"
#include "qemu/error.h"
#include "qemu/cutils.h"
#include "qemu/qdict.h"
#include "qemu/option.h"
#include "block/file-common.h"
#include "block/lock-bytes.h"

#include <pthread.h>
#include <stdatomic.h>
#ifdef __linux__
#include <linux/falloc.h>
#endif

#define PERM_BITS 4 /* consistent read, write, write unchanged, resize */

typedef struct BDRVFileState {
    int fd;
    FileLockMode lock_mode;
    bool use_lock;       /* permission locks on (auto with OFD, or on) */
    bool use_ofd;        /* OFD commands (else classic POSIX) */
    /* Committed permissions. */
    uint64_t perm;
    uint64_t shared_perm;
    /* Bits whose bytes are locked on fd: 100+i, and 200+i (unshared). */
    uint64_t locked_perm;
    uint64_t locked_unshared;
    bool direct;         /* O_DIRECT: requests must be aligned */
    int64_t align;       /* O_DIRECT alignment, probed at open */
} BDRVFileState;

/* ---- fcntl helpers ----------------------------------------------------- */

/*
 * The OFD probe runs once per process (ofd_once); what it finds is written
 * there and only read afterwards.  A failure is reported once, by whichever
 * caller claims ofd_probe_reported first.
 */
static pthread_once_t ofd_once = PTHREAD_ONCE_INIT;
static const char *ofd_probe_path = "/dev/null";
static bool have_ofd;
static char ofd_probe_error[256];
static atomic_bool ofd_probe_reported;

void file_posix_set_ofd_probe_path(const char *path)
{
    ofd_probe_path = path;
}

/* Probe OFD support once per process on /dev/null, like QEMU does. */
static void probe_ofd(void)
{
#ifdef F_OFD_GETLK
    struct flock fl = {
        .l_whence = SEEK_SET,
        .l_start = 0,
        .l_len = 0,
        .l_type = F_WRLCK,
    };
    int fd = open(ofd_probe_path, O_RDWR | O_CLOEXEC);

    if (fd < 0) {
        snprintf(ofd_probe_error, sizeof(ofd_probe_error), "Failed to open "
                 "%s for OFD lock probing: %s", ofd_probe_path,
                 strerror(errno));
        return;
    }
    have_ofd = fcntl(fd, F_OFD_GETLK, &fl) == 0;
    close(fd);
#endif
}

static bool ofd_available(void)
{
    pthread_once(&ofd_once, probe_ofd);
    if (ofd_probe_error[0] && !atomic_exchange(&ofd_probe_reported, true)) {
        qemu_warn("%s", ofd_probe_error);
    }
    return have_ofd;
}

static int setlk_cmd(bool ofd, bool wait)
{
#ifdef F_OFD_SETLK
    if (ofd) {
        return wait ? F_OFD_SETLKW : F_OFD_SETLK;
    }
#endif
    (void)ofd;
    return wait ? F_SETLKW : F_SETLK;
}

static int getlk_cmd(bool ofd)
{
#ifdef F_OFD_GETLK
    if (ofd) {
        return F_OFD_GETLK;
    }
#endif
    (void)ofd;
    return F_GETLK;
}

/* Place (F_RDLCK/F_WRLCK) or drop (F_UNLCK) a lock; 0 or -errno. */
static int lock_range(int fd, bool ofd, int64_t start, int type, bool wait)
{
    struct flock fl = {
        .l_whence = SEEK_SET,
        .l_start = start,
        .l_len = RAW_LOCK_LEN,
        .l_type = type,
    };

    if (fcntl(fd, setlk_cmd(ofd, wait), &fl) < 0) {
        return -errno;
    }
    return 0;
}

/* -EAGAIN if another owner holds a lock conflicting with a write lock. */
static int test_range(int fd, bool ofd, int64_t start)
{
    struct flock fl = {
        .l_whence = SEEK_SET,
        .l_start = start,
        .l_len = RAW_LOCK_LEN,
        .l_type = F_WRLCK,
    };

    if (fcntl(fd, getlk_cmd(ofd), &fl) < 0) {
        return -errno;
    }
    return fl.l_type == F_UNLCK ? 0 : -EAGAIN;
}

/* ---- permission locks ---------------------------------------------------- */

/*
 * Make the locked bytes match @perm_bits (100+i) and @unshared_bits
 * (200+i).  Missing bytes are locked; with @unlock, extra ones are
 * released.  @lp/@lu track what is locked (NULL: unknown, act on all).
 */
static int apply_lock_bytes(int fd, bool ofd, uint64_t *lp, uint64_t *lu,
                            uint64_t perm_bits, uint64_t unshared_bits,
                            bool unlock, Error **errp)
{
    int pass, i, ret;

    for (pass = 0; pass < 2; pass++) {
        uint64_t *tracked = pass == 0 ? lp : lu;
        uint64_t want = pass == 0 ? perm_bits : unshared_bits;
        int base = pass == 0 ? RAW_LOCK_PERM_BASE : RAW_LOCK_SHARED_BASE;

        for (i = 0; i < PERM_BITS; i++) {
            uint64_t bit = UINT64_C(1) << i;
            bool held = tracked && (*tracked & bit);

            if ((want & bit) && !(tracked && held)) {
                ret = lock_range(fd, ofd, base + i, F_RDLCK, false);
                if (ret == -EAGAIN || ret == -EACCES) {
                    error_setg(errp, "Failed to lock byte %d", base + i);
                    return ret;
                } else if (ret < 0) {
                    error_setg_errno(errp, -ret, "Failed to lock byte %d",
                                     base + i);
                    return ret;
                }
                if (tracked) {
                    *tracked |= bit;
                }
            } else if (unlock && !(want & bit) && (!tracked || held)) {
                ret = lock_range(fd, ofd, base + i, F_UNLCK, false);
                if (ret < 0) {
                    error_setg_errno(errp, -ret, "Failed to unlock byte %d",
                                     base + i);
                    return ret;
                }
                if (tracked) {
                    *tracked &= ~bit;
                }
            }
        }
    }
    return 0;
}

/* QEMU's conflict test: needed perms first (20x), then unshared (10x). */
static int check_lock_bytes(int fd, bool ofd, uint64_t perm, uint64_t shared,
                            Error **errp)
{
    int i, ret;

    for (i = 0; i < PERM_BITS; i++) {
        uint64_t bit = UINT64_C(1) << i;
        if (perm & bit) {
            ret = test_range(fd, ofd, RAW_LOCK_SHARED_BASE + i);
            if (ret) {
                file_set_perm_conflict(errp, bit, false);
                return ret;
            }
        }
    }
    for (i = 0; i < PERM_BITS; i++) {
        uint64_t bit = UINT64_C(1) << i;
        if (!(shared & bit)) {
            ret = test_range(fd, ofd, RAW_LOCK_PERM_BASE + i);
            if (ret) {
                file_set_perm_conflict(errp, bit, true);
                return ret;
            }
        }
    }
    return 0;
}

typedef enum { PERM_PREPARE, PERM_COMMIT, PERM_ABORT } PermLockOp;

static int handle_perm_lock(BlockDriverState *bs, PermLockOp op,
                            uint64_t new_perm, uint64_t new_shared,
                            Error **errp)
{
    BDRVFileState *s = bs->opaque;
    Error *local_err = NULL;
    int ret = 0;

    if (!s->use_lock || (bs->open_flags & BDRV_O_INACTIVE)) {
        return 0;
    }
    switch (op) {
    case PERM_PREPARE:
        if ((s->perm | new_perm) == s->perm &&
            (s->shared_perm & new_shared) == s->shared_perm) {
            /* Only loosening: nothing to take, and it must not fail. */
            return 0;
        }
        ret = apply_lock_bytes(s->fd, s->use_ofd, &s->locked_perm,
                               &s->locked_unshared, s->perm | new_perm,
                               (~s->shared_perm | ~new_shared) & BLK_PERM_ALL,
                               false, errp);
        if (ret == 0) {
            ret = check_lock_bytes(s->fd, s->use_ofd, new_perm, new_shared,
                                   errp);
            if (ret == 0) {
                return 0;
            }
            file_hint_in_use(errp, bs->filename);
        }
        /* Roll back to the committed state. */
        apply_lock_bytes(s->fd, s->use_ofd, &s->locked_perm,
                         &s->locked_unshared, s->perm,
                         ~s->shared_perm & BLK_PERM_ALL, true, NULL);
        return ret;
    case PERM_ABORT:
        apply_lock_bytes(s->fd, s->use_ofd, &s->locked_perm,
                         &s->locked_unshared, s->perm,
                         ~s->shared_perm & BLK_PERM_ALL, true, NULL);
        return 0;
    case PERM_COMMIT:
        ret = apply_lock_bytes(s->fd, s->use_ofd, &s->locked_perm,
                               &s->locked_unshared, new_perm,
                               ~new_shared & BLK_PERM_ALL, true, &local_err);
        if (ret < 0) {
            /* Only unlocking can be left to do; report, don't fail. */
            qemu_warn("%s", error_get_pretty(local_err));
            error_free(local_err);
        }
        return 0;
    }
    return 0;
}

static int file_check_perm(BlockDriverState *bs, uint64_t perm,
                           uint64_t shared, Error **errp)
{
    return handle_perm_lock(bs, PERM_PREPARE, perm, shared, errp);
}

static void file_set_perm(BlockDriverState *bs, uint64_t perm,
                          uint64_t shared)
{
    BDRVFileState *s = bs->opaque;

    if (!s->use_lock || (bs->open_flags & BDRV_O_INACTIVE)) {
        /*
         * An inactive node holds no permission lock: release what an
         * active one held (inactivation), and keep recording the empty
         * locked state so that activation takes the permissions for real.
         */
        if (s->use_lock && (s->locked_perm || s->locked_unshared)) {
            apply_lock_bytes(s->fd, s->use_ofd, &s->locked_perm,
                             &s->locked_unshared, 0, 0, true, NULL);
        }
        s->perm = 0;
        s->shared_perm = BLK_PERM_ALL;
        return;
    }
    handle_perm_lock(bs, PERM_COMMIT, perm, shared, NULL);
    s->perm = perm;
    s->shared_perm = shared;
}

static void file_abort_perm_update(BlockDriverState *bs)
{
    handle_perm_lock(bs, PERM_ABORT, 0, BLK_PERM_ALL, NULL);
}

/* ---- open / close ------------------------------------------------------ */

static int64_t direct_probe_align(int fd);

static int file_open(BlockDriverState *bs, QDict *options, int flags,
                     Error **errp)
{
    BDRVFileState *s = bs->opaque;
    struct stat st;
    int oflags;
    int ret;

    s->fd = -1;
    ret = file_parse_open_opts(options, &s->lock_mode, errp);
    if (ret < 0) {
        return ret;
    }

    switch (s->lock_mode) {
    case FILE_LOCK_ON:
        s->use_lock = true;
        s->use_ofd = ofd_available();
        if (!s->use_ofd) {
            qemu_warn("File lock requested but OFD locking syscall is "
                      "unavailable, falling back to POSIX file locks\n"
                      "Due to the implementation, locks can be lost "
                      "unexpectedly.");
        }
        break;
    case FILE_LOCK_AUTO:
        s->use_ofd = ofd_available();
        s->use_lock = s->use_ofd;
        break;
    case FILE_LOCK_OFF:
        s->use_lock = false;
        break;
    }

    oflags = O_CLOEXEC | ((flags & BDRV_O_RDWR) ? O_RDWR : O_RDONLY);
#ifdef O_DIRECT
    if (flags & BDRV_O_NOCACHE) {
        oflags |= O_DIRECT;
        s->direct = true;
    }
#endif
    do {
        s->fd = open(bs->filename, oflags);
    } while (s->fd < 0 && errno == EINTR);
    if (s->fd < 0) {
        ret = -errno;
        error_setg_errno(errp, -ret, "Could not open '%s'", bs->filename);
        return ret;
    }
    if (flags & BDRV_O_TEMPORARY) {
        /* A temporary overlay: gone with the last fd, whatever happens. */
        unlink(bs->filename);
    }
    if (s->direct) {
        s->align = direct_probe_align(s->fd);
    }
    if (fstat(s->fd, &st) < 0) {
        ret = -errno;
        error_setg_errno(errp, -ret, "Could not stat '%s'", bs->filename);
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        error_setg(errp, "'file' driver requires '%s' to be a regular file",
                   bs->filename);
        ret = -EINVAL;
        goto fail;
    }
    s->perm = 0;
    s->shared_perm = BLK_PERM_ALL;
    return 0;

fail:
    close(s->fd);
    s->fd = -1;
    return ret;
}

static void file_close(BlockDriverState *bs)
{
    BDRVFileState *s = bs->opaque;

    if (s->fd >= 0) {
        close(s->fd); /* drops every lock of this open file description */
        s->fd = -1;
    }
}

/* ---- I/O --------------------------------------------------------------- */

/* O_DIRECT wants buffer, offset and length aligned to the block size. */
#define DIRECT_ALIGN_MAX 4096

/* The smallest alignment an O_DIRECT read accepts (as QEMU probes). */
static int64_t direct_probe_align(int fd)
{
    void *buf = NULL;
    int64_t a;

    if (posix_memalign(&buf, DIRECT_ALIGN_MAX, DIRECT_ALIGN_MAX)) {
        return DIRECT_ALIGN_MAX;
    }
    for (a = BDRV_SECTOR_SIZE; a < DIRECT_ALIGN_MAX; a *= 2) {
        if (pread(fd, (uint8_t *)buf + a, (size_t)a, 0) >= 0) {
            break;
        }
    }
    free(buf);
    return a;
}

static bool direct_misaligned(BDRVFileState *s, int64_t offset,
                              int64_t bytes, const void *buf)
{
    return s->direct && (((uintptr_t)buf | (uint64_t)offset |
                          (uint64_t)bytes) & (uint64_t)(s->align - 1));
}

/*
 * Read [@start, @start + @len) of an O_DIRECT file into the aligned
 * @bounce; past the end of the file reads as zeroes.
 */
static int direct_read_aligned(BDRVFileState *s, int64_t start, int64_t len,
                               uint8_t *bounce)
{
    ssize_t n = qemu_pread_full(s->fd, bounce, (size_t)len, (off_t)start);

    if (n < 0) {
        return -errno;
    }
    memset(bounce + n, 0, (size_t)(len - n));
    return 0;
}

/*
 * A misaligned request on an O_DIRECT file goes through an aligned bounce
 * buffer covering the aligned range (read-modify-write for writes; as with
 * QEMU, a write in the file's last partial block grows it to the block).
 */
static int direct_bounce(BDRVFileState *s, int64_t offset, int64_t bytes,
                         void *rbuf, const void *wbuf)
{
    int64_t start = offset & ~(s->align - 1);
    int64_t end = DIV_ROUND_UP(offset + bytes, s->align) * s->align;
    void *bounce = NULL;
    int ret;

    if (posix_memalign(&bounce, DIRECT_ALIGN_MAX, (size_t)(end - start))) {
        return -ENOMEM;
    }
    ret = 0;
    if (rbuf || start != offset || end != offset + bytes) {
        ret = direct_read_aligned(s, start, end - start, bounce);
    }
    if (ret == 0 && rbuf) {
        memcpy(rbuf, (uint8_t *)bounce + (offset - start), (size_t)bytes);
    } else if (ret == 0) {
        memcpy((uint8_t *)bounce + (offset - start), wbuf, (size_t)bytes);
        if (qemu_pwrite_full(s->fd, bounce, (size_t)(end - start),
                             (off_t)start) < 0) {
            ret = -errno;
        }
    }
    free(bounce);
    return ret;
}

static int file_pread(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      void *buf)
{
    BDRVFileState *s = bs->opaque;
    ssize_t n;

    if (direct_misaligned(s, offset, bytes, buf)) {
        return direct_bounce(s, offset, bytes, buf, NULL);
    }
    n = qemu_pread_full(s->fd, buf, (size_t)bytes, (off_t)offset);
    if (n < 0) {
        return -errno;
    }
    if (n < bytes) {
        /* Past the end of the file reads as zeroes. */
        memset((char *)buf + n, 0, (size_t)(bytes - n));
    }
    return 0;
}

static int file_pwrite(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       const void *buf, int flags)
{
    BDRVFileState *s = bs->opaque;

    (void)flags;
    if (direct_misaligned(s, offset, bytes, buf)) {
        return direct_bounce(s, offset, bytes, NULL, buf);
    }
    if (qemu_pwrite_full(s->fd, buf, (size_t)bytes, (off_t)offset) < 0) {
        return -errno;
    }
    return 0;
}

static int do_fallocate(int fd, int mode, int64_t offset, int64_t len)
{
#ifdef __linux__
    while (fallocate(fd, mode, (off_t)offset, (off_t)len) < 0) {
        if (errno != EINTR) {
            return -errno;
        }
    }
    return 0;
#else
    return -ENOTSUP;
#endif
}

static int file_pwrite_zeroes(BlockDriverState *bs, int64_t offset,
                              int64_t bytes, int flags)
{
    BDRVFileState *s = bs->opaque;
    int ret = -ENOTSUP;

#ifdef FALLOC_FL_ZERO_RANGE
    ret = do_fallocate(s->fd, FALLOC_FL_ZERO_RANGE, offset, bytes);
    if (ret == 0) {
        return 0;
    }
#endif
#ifdef FALLOC_FL_PUNCH_HOLE
    if ((flags & BDRV_REQ_MAY_UNMAP)) {
        struct stat st;
        if (fstat(s->fd, &st) == 0 && offset + bytes <= st.st_size) {
            ret = do_fallocate(s->fd,
                               FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                               offset, bytes);
            if (ret == 0) {
                return 0;
            }
        }
    }
#endif
    (void)flags;
    (void)s;
    return ret == -EOPNOTSUPP || ret == -ENOSYS || ret == -EINVAL ?
           -ENOTSUP : ret;
}

static int file_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    BDRVFileState *s = bs->opaque;
    int ret = -ENOTSUP;

#ifdef FALLOC_FL_PUNCH_HOLE
    ret = do_fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                       offset, bytes);
#endif
    (void)s;
    return ret == -EOPNOTSUPP || ret == -ENOSYS ? -ENOTSUP : ret;
}

static int file_flush_to_disk(BlockDriverState *bs)
{
    BDRVFileState *s = bs->opaque;

    while (fdatasync(s->fd) < 0) {
        if (errno != EINTR) {
            return -errno;
        }
    }
    return 0;
}

static int64_t fd_length(int fd)
{
    struct stat st;

    if (fstat(fd, &st) < 0) {
        return -errno;
    }
    return st.st_size;
}

/*
 * As QEMU after growing an empty file: write zeroes over its first block
 * (512 bytes, or 4 KiB when the file has that much), so the block is
 * allocated, as alignment probing wants it.  Failures are ignored.
 */
static void allocate_first_block(int fd, int64_t size)
{
    size_t n = size < 4096 ? 512 : 4096;
    char *zero;

    n = MIN(n, (size_t)size);
    zero = qemu_xzalloc(n);
    (void)qemu_pwrite_full(fd, zero, n, 0);
    free(zero);
}

/* Resize @fd to @offset; grown space is preallocated per @prealloc. */
static int fd_truncate(int fd, int64_t offset, PreallocMode prealloc,
                       Error **errp)
{
    int64_t cur = fd_length(fd);
    int ret;

    if (cur < 0) {
        error_setg_errno(errp, (int)-cur, "Could not get current file size");
        return (int)cur;
    }
    switch (prealloc) {
    case PREALLOC_MODE_OFF:
        break;
    case PREALLOC_MODE_FALLOC:
        if (offset > cur) {
            ret = do_fallocate(fd, 0, cur, offset - cur);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Could not preallocate new data");
                return ret;
            }
            if (cur == 0) {
                allocate_first_block(fd, offset);
            }
            return 0;
        }
        break;
    case PREALLOC_MODE_FULL:
        if (offset > cur) {
            const int64_t chunk = 1 * MiB;
            char *zero;
            int64_t pos = cur;

            if (ftruncate(fd, (off_t)offset) < 0) {
                ret = -errno;
                error_setg_errno(errp, -ret, "Could not resize file");
                return ret;
            }
            zero = qemu_xzalloc((size_t)chunk);
            while (pos < offset) {
                int64_t n = MIN(chunk, offset - pos);
                if (qemu_pwrite_full(fd, zero, (size_t)n, (off_t)pos) < 0) {
                    ret = -errno;
                    free(zero);
                    error_setg_errno(errp, -ret, "Could not write zeros for "
                                     "preallocation");
                    return ret;
                }
                pos += n;
            }
            free(zero);
            if (fsync(fd) < 0) {
                ret = -errno;
                error_setg_errno(errp, -ret, "Could not flush file to disk");
                return ret;
            }
            return 0;
        }
        break;
    default:
        error_setg(errp, "Unsupported preallocation mode: %s",
                   prealloc_mode_str(prealloc));
        return -ENOTSUP;
    }
    if (ftruncate(fd, (off_t)offset) < 0) {
        ret = -errno;
        error_setg_errno(errp, -ret, "Failed to resize the file");
        return ret;
    }
    if (prealloc == PREALLOC_MODE_OFF && cur == 0 && offset > 0) {
        allocate_first_block(fd, offset);
    }
    return 0;
}

static int file_truncate(BlockDriverState *bs, int64_t offset, bool exact,
                         PreallocMode prealloc, Error **errp)
{
    BDRVFileState *s = bs->opaque;

    (void)exact;
    return fd_truncate(s->fd, offset, prealloc, errp);
}

static int64_t file_getlength(BlockDriverState *bs)
{
    BDRVFileState *s = bs->opaque;

    return fd_length(s->fd);
}

static int64_t file_get_allocated_file_size(BlockDriverState *bs)
{
    BDRVFileState *s = bs->opaque;
    struct stat st;

    if (fstat(s->fd, &st) < 0) {
        return -errno;
    }
    return (int64_t)st.st_blocks * 512; /* POSIX: in 512-byte units */
}

static int file_block_status(BlockDriverState *bs, int64_t offset,
                             int64_t bytes, int64_t *pnum, int64_t *map,
                             BlockDriverState **file)
{
    BDRVFileState *s = bs->opaque;
    int ret = BDRV_BLOCK_DATA;

    *pnum = bytes;
#if defined(SEEK_DATA) && defined(SEEK_HOLE)
    {
        off_t data = lseek(s->fd, (off_t)offset, SEEK_DATA);

        if (data == (off_t)offset) {
            off_t hole = lseek(s->fd, (off_t)offset, SEEK_HOLE);
            if (hole > (off_t)offset) {
                int64_t n = (int64_t)hole - offset;

                /*
                 * As QEMU: with O_DIRECT, data that ends in a partial
                 * block at the end of the file covers the whole block.
                 */
                if (s->direct && (n & (s->align - 1))) {
                    n = QEMU_ALIGN_UP(n, s->align);
                }
                *pnum = MIN(bytes, n);
            }
        } else if (data > (off_t)offset) {
            *pnum = MIN(bytes, (int64_t)data - offset);
            ret = BDRV_BLOCK_ZERO;
        } else if (data < 0 && errno == ENXIO) {
            /* Only a hole up to the end of the file. */
            ret = BDRV_BLOCK_ZERO;
        }
    }
#endif
    *map = offset;
    *file = bs;
    return ret | BDRV_BLOCK_OFFSET_VALID;
}

/* ---- create ------------------------------------------------------------ */

static int file_create(const char *filename, QDict *opts, Error **errp)
{
    const uint64_t perm = BLK_PERM_WRITE | BLK_PERM_RESIZE;
    const uint64_t shared = BLK_PERM_ALL & ~BLK_PERM_RESIZE;
    FileCreateOpts o;
    bool ofd;
    int fd, ret;

    ret = file_parse_create_opts(filename, opts, &o, errp);
    if (ret < 0) {
        return ret;
    }
    do {
        fd = open(o.filename, O_RDWR | O_CREAT | O_CLOEXEC | O_BINARY, 0644);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        ret = -errno;
        error_setg_errno(errp, -ret, "Could not create '%s'", o.filename);
        return ret;
    }

    /*
     * Like QEMU: hold write and resize, refuse to share resize, and check
     * nobody else uses the file before touching its contents.
     */
    ofd = ofd_available();
    ret = apply_lock_bytes(fd, ofd, NULL, NULL, perm, ~shared & BLK_PERM_ALL,
                           false, errp);
    if (ret < 0) {
        goto out_close;
    }
    ret = check_lock_bytes(fd, ofd, perm, shared, errp);
    if (ret < 0) {
        file_hint_in_use(errp, o.filename);
        goto out_unlock;
    }

    if (ftruncate(fd, 0) < 0) {
        ret = -errno;
        error_setg_errno(errp, -ret, "Could not clear the file");
        goto out_unlock;
    }
    ret = fd_truncate(fd, (int64_t)o.size, o.prealloc, errp);

out_unlock:
    apply_lock_bytes(fd, ofd, NULL, NULL, 0, 0, true, NULL);
out_close:
    if (close(fd) < 0 && ret == 0) {
        ret = -errno;
        error_setg_errno(errp, -ret, "Could not close the new file");
    }
    return ret;
}

/* ---- the serialization lock ---------------------------------------------- */

static int file_lock(BlockDriverState *bs, bool exclusive, int64_t timeout_ms,
                     Error **errp)
{
    BDRVFileState *s = bs->opaque;
    int type = exclusive ? F_WRLCK : F_RDLCK;
    bool ofd = ofd_available();
    int64_t deadline, step_ns = 1000000;
    int ret;

    if (s->lock_mode == FILE_LOCK_OFF) {
        return file_serial_lock_disabled(bs, errp);
    }
    if (timeout_ms < 0) {
        do {
            ret = lock_range(s->fd, ofd, RAW_LOCK_SERIAL_BYTE, type, true);
        } while (ret == -EINTR);
        goto out;
    }
    deadline = qemu_clock_monotonic_ns() + timeout_ms * 1000000;
    for (;;) {
        int64_t now;

        ret = lock_range(s->fd, ofd, RAW_LOCK_SERIAL_BYTE, type, false);
        if (ret != -EAGAIN && ret != -EACCES && ret != -EINTR) {
            goto out;
        }
        now = qemu_clock_monotonic_ns();
        if (timeout_ms == 0) {
            ret = -EAGAIN;
            goto out;
        }
        if (now >= deadline) {
            ret = -ETIMEDOUT;
            goto out;
        }
        qemu_sleep_ns(MIN(step_ns, deadline - now));
        step_ns = MIN(step_ns * 2, 10000000);
    }
out:
    if (ret < 0) {
        file_serial_lock_failed(bs, ret, exclusive, timeout_ms,
                                RAW_LOCK_SERIAL_BYTE, errp);
    }
    return ret;
}

static int file_unlock(BlockDriverState *bs, Error **errp)
{
    BDRVFileState *s = bs->opaque;
    int ret = lock_range(s->fd, ofd_available(), RAW_LOCK_SERIAL_BYTE,
                         F_UNLCK, false);

    if (ret < 0) {
        file_serial_unlock_failed(bs, ret, RAW_LOCK_SERIAL_BYTE, errp);
    }
    return ret;
}

const BlockDriver bdrv_file = {
    .format_name = "file",
    .protocol_name = "file",
    .needs_filename = true,
    .instance_size = sizeof(BDRVFileState),
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
    .bdrv_block_status = file_block_status,

    .bdrv_check_perm = file_check_perm,
    .bdrv_set_perm = file_set_perm,
    .bdrv_abort_perm_update = file_abort_perm_update,

    .bdrv_lock = file_lock,
    .bdrv_unlock = file_unlock,
};
