/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lock-bytes.h: the byte map of image-file locks, one place for every
 * driver.  docs/devel/locking.rst explains each byte.
 */
#ifndef BLOCK_LOCK_BYTES_H
#define BLOCK_LOCK_BYTES_H

/*
 * POSIX (fcntl, preferably OFD), compatible with QEMU 7.2:
 *   byte 0            libvirt's (virtlockd); never touched by us
 *   100 + i           "I hold permission bit i"            (F_RDLCK)
 *   200 + i           "I don't share permission bit i"     (F_RDLCK)
 *   i = 0..3: consistent read, write, write unchanged, resize
 *   2^62              the serialization lock of bdrv_lock()
 *                     (F_RDLCK shared / F_WRLCK exclusive)
 */
#define RAW_LOCK_PERM_BASE      100
#define RAW_LOCK_SHARED_BASE    200
#define RAW_LOCK_SERIAL_BYTE    (INT64_C(1) << 62)
#define RAW_LOCK_LEN            1

/*
 * Windows (LockFileEx; mandatory locks, so everything sits far beyond any
 * data offset).  Same layout shifted to WIN_LOCK_REGION; WIN_LOCK_META
 * makes check-and-acquire atomic (Windows has no GETLK).
 */
#define WIN_LOCK_REGION         (INT64_C(0x7fffffff) << 32)
#define WIN_LOCK_META           (WIN_LOCK_REGION + 0)
#define WIN_LOCK_PERM_BASE      (WIN_LOCK_REGION + 100)
#define WIN_LOCK_SHARED_BASE    (WIN_LOCK_REGION + 200)
#define WIN_LOCK_SERIAL         (WIN_LOCK_REGION + 300)

#endif /* BLOCK_LOCK_BYTES_H */
