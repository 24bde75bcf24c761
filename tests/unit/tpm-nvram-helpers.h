/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tpm-nvram-helpers.h: small helpers shared by the NVRAM store's unit
 * tests: scratch directories, images in each format, key files, hashes.
 */
#ifndef TESTS_TPM_NVRAM_HELPERS_H
#define TESTS_TPM_NVRAM_HELPERS_H

#include "qemu/osdep.h"
#include <glib.h>
#include <glib/gstdio.h>
#include "block/block-backend.h"
#include "hw/tpm/tpm_nvram.h"

static char *nvt_dir;

static inline void nvt_setup_dir(void)
{
    nvt_dir = g_dir_make_tmp("test-tpm-nvram-XXXXXX", NULL);
    g_assert_nonnull(nvt_dir);
}

static inline void nvt_rm_dir(void)
{
    GDir *d = g_dir_open(nvt_dir, 0, NULL);
    const char *n;

    while (d && (n = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(nvt_dir, n, NULL);
        g_unlink(p);
    }
    if (d) {
        g_dir_close(d);
    }
    g_rmdir(nvt_dir);
}

static inline char *nvt_path(const char *name)
{
    return g_build_filename(nvt_dir, name, NULL);
}

/* Create an empty image of @fmt ("raw": zero-length file). */
static inline void nvt_create(const char *path, const char *fmt)
{
    g_unlink(path);
    if (!strcmp(fmt, "raw")) {
        g_assert_true(g_file_set_contents(path, "", 0, NULL));
    } else {
        Error *err = NULL;
        QDict *o = qdict_new();
        BlockDriver *drv = bdrv_find_format(fmt);

        g_assert_nonnull(drv);
        qdict_put_str(o, "size", "1M");
        if (bdrv_create(drv, path, o, &err) < 0) {
            g_error("create %s: %s", path, error_get_pretty(err));
        }
        qdict_free(o);
    }
}

static inline BlockBackend *nvt_open_blk(const char *path, const char *fmt,
                                         bool rw, Error **errp)
{
    QDict *o = qdict_new();

    qdict_put_str(o, "driver", fmt);
    return blk_new_open(path, o, rw ? BDRV_O_RDWR | BDRV_O_RESIZE : 0, errp);
}

static inline BlockBackend *nvt_blk(const char *path, const char *fmt,
                                    bool rw)
{
    Error *err = NULL;
    BlockBackend *blk = nvt_open_blk(path, fmt, rw, &err);

    if (!blk) {
        g_error("open %s: %s", path, error_get_pretty(err));
    }
    return blk;
}

static inline TPMNvramKey *nvt_key(const char *name, const void *data,
                                   size_t len, const char *format)
{
    g_autofree char *p = nvt_path(name);
    g_autofree char *spec = NULL;
    TPMNvramKey *k = NULL;
    Error *err = NULL;

    g_assert_true(g_file_set_contents(p, data, len, NULL));
    /* as a user keeps a key: not readable by others (else a warning) */
    g_assert_cmpint(chmod(p, 0600), ==, 0);
    spec = format ? g_strdup_printf("file=%s,format=%s", p, format)
                  : g_strdup_printf("file=%s", p);
    if (tpm_nvram_key_parse(spec, &k, &err) < 0) {
        g_error("key %s: %s", spec, error_get_pretty(err));
    }
    return k;
}

static inline char *nvt_hash(const char *path)
{
    g_autofree char *data = NULL;
    gsize len = 0;

    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    return g_compute_checksum_for_data(G_CHECKSUM_SHA256, (guchar *)data,
                                       len);
}

static inline uint8_t *nvt_pattern(size_t len, unsigned seed)
{
    uint8_t *p = g_malloc(len ? len : 1);

    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)((i * 131 + seed * 7 + (i >> 8)) ^ seed);
    }
    return p;
}

#endif /* TESTS_TPM_NVRAM_HELPERS_H */
