/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz-qcow2.c: libFuzzer target for the qcow2 driver.  The input is an
 * image file: it is opened read-only (reads, block status, snapshot list,
 * info, check), then read-write on a copy (writes, zero writes, discard,
 * a snapshot, check -r all).  Bad images must fail cleanly, never crash.
 * Without libFuzzer, main() replays the files given.
 */
#include "qemu/osdep.h"
#include "qemu/error.h"
#include "block/block.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char img_path[PATH_MAX];

static void quiet_sink(const char *msg, void *opaque)
{
    (void)msg;
    (void)opaque;
}

static void quiet_report(const char *line, void *opaque)
{
    (void)line;
    (void)opaque;
}

static BlockDriverState *open_img(int flags)
{
    QDict *opts = qdict_new();
    BlockDriverState *bs;
    Error *err = NULL;
    uint64_t perm = BLK_PERM_CONSISTENT_READ;

    qdict_put_str(opts, "driver", "qcow2");
    qdict_put_str(opts, "file.locking", "off");
    bs = bdrv_open(img_path, opts, flags | BDRV_O_NO_BACKING, &err);
    if (!bs) {
        error_free(err);
        return NULL;
    }
    if (flags & BDRV_O_RDWR) {
        perm |= BLK_PERM_WRITE | BLK_PERM_RESIZE;
    }
    if (bdrv_set_root_perm(bs, perm, BLK_PERM_ALL, &err) < 0) {
        error_free(err);
        bdrv_unref(bs);
        return NULL;
    }
    return bs;
}

static void exercise_read(BlockDriverState *bs, uint8_t *buf, size_t blen)
{
    int64_t len = bdrv_getlength(bs);
    int64_t offs[3];
    QEMUSnapshotInfo *sn = NULL;
    BdrvCheckResult res;
    BlockDriverInfo bdi;
    QObject *info;
    Error *err = NULL;

    if (len <= 0) {
        return;
    }
    offs[0] = 0;
    offs[1] = QEMU_ALIGN_DOWN(len / 2, 512);
    offs[2] = len > (int64_t)blen ? len - blen : 0;
    for (int i = 0; i < 3; i++) {
        int64_t n = MIN((int64_t)blen, len - offs[i]);
        (void)bdrv_pread(bs, offs[i], n, buf);
    }
    for (int64_t off = 0, i = 0; off < len && i < 64; i++) {
        int64_t pnum = 0, map = 0;
        BlockDriverState *file = NULL;
        int ret = bdrv_block_status(bs, off, len - off, &pnum, &map, &file);
        if (ret < 0 || pnum <= 0) {
            break;
        }
        off += pnum;
    }
    if (bdrv_snapshot_list(bs, &sn) >= 0) {
        free(sn);
    }
    (void)bdrv_get_info(bs, &bdi);
    info = bdrv_get_specific_info(bs, &err);
    if (info) {
        char *json = qobj_to_json_pretty(info);
        free(json);
        qobj_free(info);
    }
    error_free(err);
    memset(&res, 0, sizeof(res));
    (void)bdrv_check(bs, &res, 0);
}

static void exercise_write(BlockDriverState *bs, uint8_t *buf, size_t blen)
{
    int64_t len = bdrv_getlength(bs);
    QEMUSnapshotInfo sn;
    BdrvCheckResult res;
    Error *err = NULL;
    int64_t n;

    if (len <= 0) {
        return;
    }
    n = MIN((int64_t)blen, len);
    memset(buf, 0xa5, n);
    (void)bdrv_pwrite(bs, 0, n, buf, 0);
    (void)bdrv_pwrite(bs, QEMU_ALIGN_DOWN(len / 3, 512),
                      MIN(n, len - QEMU_ALIGN_DOWN(len / 3, 512)), buf, 0);
    (void)bdrv_pwrite_zeroes(bs, QEMU_ALIGN_DOWN(len / 2, 512),
                             MIN(n, len - QEMU_ALIGN_DOWN(len / 2, 512)),
                             BDRV_REQ_MAY_UNMAP);
    (void)bdrv_pdiscard(bs, 0, MIN(len, 1 << 20));
    memset(&sn, 0, sizeof(sn));
    snprintf(sn.name, sizeof(sn.name), "fuzz");
    if (bdrv_snapshot_create(bs, &sn, &err) < 0) {
        error_free(err);
        err = NULL;
    }
    memset(&res, 0, sizeof(res));
    (void)bdrv_check(bs, &res, BDRV_FIX_LEAKS | BDRV_FIX_ERRORS);
    (void)bdrv_flush(bs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *buf;
    const size_t blen = 128 * 1024;
    BlockDriverState *bs;
    FILE *f;

    if (!img_path[0]) {
        int fd;
        snprintf(img_path, sizeof(img_path), "/tmp/fuzz-qcow2-XXXXXX");
        fd = mkstemp(img_path);
        if (fd < 0) {
            abort();
        }
        close(fd);
        warn_set_sink(quiet_sink, NULL);
        warn_set_raw_sink(quiet_sink, NULL);
        bdrv_check_set_report_fn(quiet_report, NULL);
        buf = qemu_xmalloc(blen);
    }
    f = fopen(img_path, "wb");
    if (!f) {
        abort();
    }
    if (size && fwrite(data, 1, size, f) != size) {
        abort();
    }
    fclose(f);

    bs = open_img(0);
    if (bs) {
        exercise_read(bs, buf, blen);
        bdrv_unref(bs);
    }
    bs = open_img(BDRV_O_RDWR);
    if (bs) {
        exercise_write(bs, buf, blen);
        bdrv_unref(bs);
        /* What we wrote must open again. */
        bs = open_img(0);
        if (bs) {
            exercise_read(bs, buf, blen);
            bdrv_unref(bs);
        }
    }
    return 0;
}

#ifndef QEMU_FUZZ_LIBFUZZER
/* Replay mode: run every file named on the command line once. */
int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        uint8_t *data;
        size_t n;

        if (!f) {
            perror(argv[i]);
            return 1;
        }
        data = qemu_xmalloc(4 << 20);
        n = fread(data, 1, 4 << 20, f);
        fclose(f);
        LLVMFuzzerTestOneInput(data, n);
        free(data);
    }
    if (img_path[0]) {
        unlink(img_path);
    }
    printf("fuzz-qcow2: %d inputs replayed\n", argc - 1);
    return 0;
}
#endif
