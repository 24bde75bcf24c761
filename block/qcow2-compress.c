/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2-compress.c: the two compression types of a qcow2 image's
 * compressed clusters (header byte 104): zlib (raw deflate, window 4 KiB)
 * and zstd (one or more zstd frames).  A compressed cluster records only
 * a sector count, so the input to decompression may run past the end of
 * the stream; both decoders stop once the cluster is full.
 */
#include "qemu/osdep.h"
#include "block/qcow2.h"
#include "config-host.h"

#ifdef CONFIG_ZLIB
#include <zlib.h>
#endif
#ifdef CONFIG_ZSTD
#include <zstd.h>
#include <zstd_errors.h>
#endif

void qcow2_warn_no_compression(BDRVQcow2State *s)
{
    qemu_warn_raw("qcow2: compressed clusters need %s, which this build of "
                  "the qcow2 driver lacks",
                  s->compression_type == QCOW2_COMPRESSION_TYPE_ZSTD
                  ? "zstd" : "zlib");
}

bool qcow2_compression_type_supported(unsigned type)
{
    switch (type) {
#ifdef CONFIG_ZLIB
    case QCOW2_COMPRESSION_TYPE_ZLIB:
        return true;
#endif
#ifdef CONFIG_ZSTD
    case QCOW2_COMPRESSION_TYPE_ZSTD:
        return true;
#endif
    default:
        return false;
    }
}

#ifdef CONFIG_ZLIB
static ssize_t zlib_compress(uint8_t *out, size_t out_size,
                             const uint8_t *in, size_t in_size)
{
    z_stream strm;
    ssize_t ret;

    memset(&strm, 0, sizeof(strm));
    if (deflateInit2(&strm, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        return -EIO;
    }
    strm.next_in = (uint8_t *)in;
    strm.avail_in = (uInt)in_size;
    strm.next_out = out;
    strm.avail_out = (uInt)out_size;
    ret = deflate(&strm, Z_FINISH) == Z_STREAM_END
        ? (ssize_t)(out_size - strm.avail_out) : -ENOSPC;
    deflateEnd(&strm);
    return ret;
}

static int zlib_decompress(uint8_t *out, size_t out_size,
                           const uint8_t *in, size_t in_size)
{
    z_stream strm;
    int zret;

    memset(&strm, 0, sizeof(strm));
    if (inflateInit2(&strm, -12) != Z_OK) {
        return -EIO;
    }
    strm.next_in = (uint8_t *)in;
    strm.avail_in = (uInt)in_size;
    strm.next_out = out;
    strm.avail_out = (uInt)out_size;
    zret = inflate(&strm, Z_FINISH);
    inflateEnd(&strm);
    if ((zret == Z_STREAM_END || zret == Z_BUF_ERROR) &&
        strm.avail_out == 0) {
        return 0;
    }
    return -EIO;
}
#endif

#ifdef CONFIG_ZSTD
/*
 * One frame, written by a single streaming call as QEMU does: if the
 * frame does not fit in @out_size the cluster is incompressible.
 */
static ssize_t zstd_compress(uint8_t *out, size_t out_size,
                             const uint8_t *in, size_t in_size)
{
    ZSTD_outBuffer o = { .dst = out, .size = out_size, .pos = 0 };
    ZSTD_inBuffer i = { .src = in, .size = in_size, .pos = 0 };
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    size_t left;
    ssize_t ret;

    if (!cctx) {
        return -ENOMEM;
    }
    left = ZSTD_compressStream2(cctx, &o, &i, ZSTD_e_end);
    if (ZSTD_isError(left)) {
        ret = ZSTD_getErrorCode(left) == ZSTD_error_dstSize_tooSmall
            ? -ENOSPC : -EIO;
    } else if (left) {
        ret = -ENOSPC;              /* more output pending: no room */
    } else {
        ret = (ssize_t)o.pos;
    }
    ZSTD_freeCCtx(cctx);
    return ret;
}

/*
 * Decode frames until the cluster is full.  Every call must make progress
 * and the last frame must end exactly there; anything else (a damaged
 * stream, one that decodes to more than a cluster) is -EIO.
 */
static int zstd_decompress(uint8_t *out, size_t out_size,
                           const uint8_t *in, size_t in_size)
{
    ZSTD_outBuffer o = { .dst = out, .size = out_size, .pos = 0 };
    ZSTD_inBuffer i = { .src = in, .size = in_size, .pos = 0 };
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    size_t left = 0;
    int ret = 0;

    if (!dctx) {
        return -ENOMEM;
    }
    while (o.pos < o.size) {
        size_t in_before = i.pos, out_before = o.pos;

        left = ZSTD_decompressStream(dctx, &o, &i);
        if (ZSTD_isError(left) ||
            (i.pos == in_before && o.pos == out_before)) {
            ret = -EIO;
            break;
        }
    }
    if (ret == 0 && left != 0) {
        ret = -EIO;
    }
    ZSTD_freeDCtx(dctx);
    return ret;
}
#endif

ssize_t qcow2_compress(BDRVQcow2State *s, uint8_t *out, size_t out_size,
                       const uint8_t *in, size_t in_size)
{
    switch (s->compression_type) {
#ifdef CONFIG_ZLIB
    case QCOW2_COMPRESSION_TYPE_ZLIB:
        return zlib_compress(out, out_size, in, in_size);
#endif
#ifdef CONFIG_ZSTD
    case QCOW2_COMPRESSION_TYPE_ZSTD:
        return zstd_compress(out, out_size, in, in_size);
#endif
    default:
        (void)out;
        (void)out_size;
        (void)in;
        (void)in_size;
        return -ENOTSUP;
    }
}

int qcow2_decompress(BDRVQcow2State *s, uint8_t *out, size_t out_size,
                     const uint8_t *in, size_t in_size)
{
    switch (s->compression_type) {
#ifdef CONFIG_ZLIB
    case QCOW2_COMPRESSION_TYPE_ZLIB:
        return zlib_decompress(out, out_size, in, in_size);
#endif
#ifdef CONFIG_ZSTD
    case QCOW2_COMPRESSION_TYPE_ZSTD:
        return zstd_decompress(out, out_size, in, in_size);
#endif
    default:
        return -ENOTSUP;
    }
}
