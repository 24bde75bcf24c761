/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench-nvram.c: the TPM NVRAM store's durable commit latency (1, 8 and
 * 64 KiB blobs on raw and qcow2) as a ratio to a bare pwrite + fdatasync
 * of the same size measured in the same run, and the load + validate time
 * of a 64 KiB encrypted store.  Prints; never asserts on time.
 */
#include "qemu/osdep.h"
#include "block/block-backend.h"
#include "hw/tpm/tpm_nvram.h"

#define ITERATIONS 200
#define WARMUP 8

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

static int64_t median(int64_t *v, int n)
{
    qsort(v, n, sizeof(*v), cmp_i64);
    return v[n / 2];
}

static void fill(uint8_t *buf, size_t len, int seed)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(i * 31 + seed * 7);
    }
}

static BlockBackend *open_image(const char *path, const char *fmt)
{
    Error *err = NULL;
    QDict *o = qdict_new();
    BlockBackend *blk;

    unlink(path);
    if (!strcmp(fmt, "raw")) {
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) {
            perror(path);
            exit(1);
        }
        close(fd);
    } else {
        QDict *c = qdict_new();
        qdict_put_str(c, "size", "0");
        if (bdrv_create(bdrv_find_format(fmt), path, c, &err) < 0) {
            error_report_err(err);
            exit(1);
        }
        qdict_free(c);
    }
    qdict_put_str(o, "driver", fmt);
    blk = blk_new_open(path, o, BDRV_O_RDWR | BDRV_O_RESIZE, &err);
    if (!blk) {
        error_report_err(err);
        exit(1);
    }
    return blk;
}

/*
 * Durable commits of @len bytes through the store, interleaved with the
 * baseline (pwrite of @len at offset 0 of a preallocated file, then
 * fdatasync) so both see the same disk conditions.  Medians in *commit_ns
 * and *base_ns.
 */
static void bench_commit(const char *dir, const char *fmt, size_t len,
                         int64_t *commit_ns, int64_t *base_ns)
{
    char path[2 * PATH_MAX], bpath[2 * PATH_MAX];
    uint8_t *buf = qemu_xmalloc(len);
    int64_t tc[ITERATIONS], tb[ITERATIONS];
    Error *err = NULL;
    BlockBackend *blk;
    TPMNvram *nv;
    int fd;

    snprintf(path, sizeof(path), "%s/store.%s", dir, fmt);
    snprintf(bpath, sizeof(bpath), "%s/baseline.bin", dir);
    blk = open_image(path, fmt);
    nv = tpm_nvram_open(blk, NULL, &err);
    if (!nv) {
        error_report_err(err);
        exit(1);
    }
    fd = open(bpath, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror(bpath);
        exit(1);
    }
    for (int i = 0; i < WARMUP + ITERATIONS; i++) {
        int64_t t0, t1, t2;

        fill(buf, len, i);
        t0 = qemu_clock_monotonic_ns();
        if (qemu_pwrite_full(fd, buf, len, 0) != (ssize_t)len ||
            fdatasync(fd) < 0) {
            perror("baseline");
            exit(1);
        }
        t1 = qemu_clock_monotonic_ns();
        if (tpm_nvram_store(nv, "permall", buf, len, &err) < 0) {
            error_report_err(err);
            exit(1);
        }
        t2 = qemu_clock_monotonic_ns();
        if (i >= WARMUP) {
            tb[i - WARMUP] = t1 - t0;
            tc[i - WARMUP] = t2 - t1;
        }
    }
    close(fd);
    unlink(bpath);
    tpm_nvram_close(nv);
    blk_unref(blk);
    unlink(path);
    free(buf);
    *commit_ns = median(tc, ITERATIONS);
    *base_ns = median(tb, ITERATIONS);
}

static void bench_load_validate(const char *dir)
{
    char path[2 * PATH_MAX], keypath[2 * PATH_MAX], spec[3 * PATH_MAX];
    size_t len = 64 * KiB;
    uint8_t *buf = qemu_xmalloc(len);
    uint8_t key[32];
    int64_t t[ITERATIONS];
    Error *err = NULL;
    TPMNvramKey *k = NULL;
    BlockBackend *blk;
    TPMNvram *nv;
    FILE *f;

    snprintf(keypath, sizeof(keypath), "%s/bench.key", dir);
    fill(key, sizeof(key), 99);
    f = fopen(keypath, "wb");
    if (!f || fwrite(key, 1, 32, f) != 32 || fclose(f) != 0 ||
        chmod(keypath, 0600) != 0) {   /* as a user keeps a key */
        perror(keypath);
        exit(1);
    }
    snprintf(spec, sizeof(spec), "file=%s,format=raw", keypath);
    if (tpm_nvram_key_parse(spec, &k, &err) < 0) {
        error_report_err(err);
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/enc.raw", dir);
    blk = open_image(path, "raw");
    nv = tpm_nvram_open(blk, k, &err);
    fill(buf, len, 5);
    if (!nv || tpm_nvram_store(nv, "permall", buf, len, &err) < 0) {
        error_report_err(err);
        exit(1);
    }
    for (int i = 0; i < WARMUP + ITERATIONS; i++) {
        uint8_t *out = NULL;
        size_t out_len = 0;
        int64_t t0 = qemu_clock_monotonic_ns();
        if (tpm_nvram_load(nv, "permall", &out, &out_len, &err) < 0 ||
            tpm_nvram_validate(nv, &err) < 0) {
            error_report_err(err);
            exit(1);
        }
        if (i >= WARMUP) {
            t[i - WARMUP] = qemu_clock_monotonic_ns() - t0;
        }
        free(out);
    }
    printf("load+validate, 64 KiB encrypted store (raw): median %.3f ms "
           "(goal <= 1 ms: %.2fx of the goal)\n",
           median(t, ITERATIONS) / 1e6, median(t, ITERATIONS) / 1e6);
    tpm_nvram_close(nv);
    tpm_nvram_key_free(k);
    blk_unref(blk);
    unlink(path);
    unlink(keypath);
    free(buf);
}

int main(int argc, char **argv)
{
    static const size_t sizes[] = { 1 * KiB, 8 * KiB, 64 * KiB };
    static const char *fmts[] = { "raw", "qcow2" };
    const char *base = argc > 1 ? argv[1] : ".";
    char dir[PATH_MAX];

    error_set_progname("bench-nvram");
    snprintf(dir, sizeof(dir), "%s/bench-nvram-XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror(dir);
        return 1;
    }
    printf("TPM NVRAM store, durable commit latency (median of %d), ratio to "
           "pwrite+fdatasync of the same size, interleaved (goal <= 1.5x); "
           "scratch %s\n", ITERATIONS, base);
    for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
        for (size_t f = 0; f < ARRAY_SIZE(fmts); f++) {
            int64_t c, b;
            if (!bdrv_find_format(fmts[f])) {
                printf("  %-5s %3zu KiB: skipped (no %s driver)\n", fmts[f],
                       sizes[s] / KiB, fmts[f]);
                continue;
            }
            bench_commit(dir, fmts[f], sizes[s], &c, &b);
            printf("  %-5s %3zu KiB: commit %8.1f us, baseline %8.1f us, "
                   "ratio %.2fx\n", fmts[f], sizes[s] / KiB, c / 1e3,
                   b / 1e3, (double)c / b);
        }
    }
    bench_load_validate(dir);
    rmdir(dir);
    return 0;
}
