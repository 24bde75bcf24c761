/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-img-bench.c: the bench command, a simple sequential read/write
 * load generator over one image (qemu-img 7.2 syntax and output).
 */
#include "qemu/osdep.h"

#include <getopt.h>

#include "qemu/cutils.h"
#include "qemu-img.h"

/* ---- bench ------------------------------------------------------------ */

enum {
    OPTION_PATTERN = 512,
    OPTION_FLUSH_INTERVAL,
    OPTION_NO_DRAIN,
};

/* Parse an unsigned number into *@out; false if bad or above @max. */
static bool parse_ulong(const char *arg, unsigned long max,
                        unsigned long *out)
{
    uint64_t v;

    if (qemu_strtou64(arg, NULL, 0, &v) < 0 || v > max) {
        return false;
    }
    *out = (unsigned long)v;
    return true;
}

/*
 * Simple I/O benchmark: @count requests of @bufsize bytes, @step apart,
 * wrapping at the end of the image.  Requests run one after the other;
 * the queue depth is reported as given.
 */
int img_bench(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "flush-interval", required_argument, NULL, OPTION_FLUSH_INTERVAL },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "pattern", required_argument, NULL, OPTION_PATTERN },
        { "no-drain", no_argument, NULL, OPTION_NO_DRAIN },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    ImgOpts o = { .own = "t" };
    const char *filename;
    bool is_write = false, writethrough = false;
    unsigned long count = 75000, depth = 64, pattern = 0;
    unsigned long flush_interval = 0, res;
    int64_t offset = 0, image_size, t1, t2, sval;
    size_t bufsize = 4096, step = 0;
    BlockBackend *blk = NULL;
    uint8_t *buf = NULL;
    unsigned long i;
    int c, flags = 0, ret = 0;

    while ((c = img_getopt(argc, argv, ":hc:d:f:ni:o:qs:S:t:wU", long_options,
                           &o)) != -1) {
        switch (c) {
        case 'h':
            printf("usage: qemu-img bench [-c count] [-d depth] [-f fmt] "
                   "[--flush-interval=flush_interval] [-n] [--no-drain] "
                   "[-o offset] [--pattern=pattern] [-q] [-s buffer_size] "
                   "[-S step_size] [-t cache] [-w] [-U] filename\n");
            return 0;
        case 'c':
            if (!parse_ulong(optarg, INT_MAX, &count)) {
                error_report("Invalid request count specified");
                return 1;
            }
            break;
        case 'd':
            if (!parse_ulong(optarg, INT_MAX, &depth) || depth == 0) {
                error_report("Invalid queue depth specified");
                return 1;
            }
            break;
        case 'n':
            break;
        case 'i':
            if (strcmp(optarg, "threads") && strcmp(optarg, "native") &&
                strcmp(optarg, "io_uring")) {
                error_report("Invalid aio option: %s", optarg);
                return 1;
            }
            break;
        case 'o':
            offset = cvtnum("offset", optarg);
            if (offset < 0) {
                return 1;
            }
            break;
        case 's':
            sval = cvtnum_full("buffer size", optarg, 0, INT_MAX);
            if (sval < 0) {
                return 1;
            }
            bufsize = (size_t)sval;
            break;
        case 'S':
            sval = cvtnum_full("step_size", optarg, 0, INT_MAX);
            if (sval < 0) {
                return 1;
            }
            step = (size_t)sval;
            break;
        case 't':
            if (bdrv_parse_cache_mode(optarg, &flags, &writethrough) < 0) {
                error_report("Invalid cache mode");
                return 1;
            }
            break;
        case 'w':
            flags |= BDRV_O_RDWR;
            is_write = true;
            break;
        case OPTION_PATTERN:
            if (!parse_ulong(optarg, 0xff, &pattern)) {
                error_report("Invalid pattern byte specified");
                return 1;
            }
            break;
        case OPTION_FLUSH_INTERVAL:
            if (!parse_ulong(optarg, INT_MAX, &res)) {
                error_report("Invalid flush interval specified");
                return 1;
            }
            flush_interval = res;
            break;
        case OPTION_NO_DRAIN:
            break;
        }
    }
    if (optind != argc - 1) {
        error_exit("Expecting one image file name");
    }
    filename = argv[argc - 1];
    if (!is_write && flush_interval) {
        error_report("--flush-interval is only available in write tests");
        return 1;
    }
    if (flush_interval && flush_interval < depth) {
        error_report("Flush interval can't be smaller than depth");
        return 1;
    }

    blk = img_open(o.image_opts, filename, o.fmt, flags, writethrough,
                   o.force_share);
    if (!blk) {
        return 1;
    }
    image_size = blk_getlength(blk);
    if (image_size < 0) {
        ret = -1;
        goto out;
    }
    if (!step) {
        step = bufsize;
    }
    printf("Sending %lu %s requests, %zu bytes each, %lu in parallel "
           "(starting at offset %" PRId64 ", step size %zu)\n", count,
           is_write ? "write" : "read", bufsize, depth, offset, step);
    if (flush_interval) {
        printf("Sending flush every %lu requests\n", flush_interval);
    }
    buf = qemu_xmalloc(bufsize ? bufsize : 1);
    memset(buf, (int)pattern, bufsize);

    t1 = qemu_clock_monotonic_ns();
    for (i = 0; i < count; i++) {
        int64_t cur = offset;

        offset += step;
        offset = image_size ? offset % image_size : 0;
        if (is_write) {
            ret = blk_pwrite(blk, cur, bufsize, buf, 0);
        } else {
            ret = blk_pread(blk, cur, bufsize, buf);
        }
        if (ret < 0) {
            error_report("Failed request: %s", strerror(-ret));
            goto out;
        }
        if (flush_interval && (i + 1) % flush_interval == 0) {
            ret = blk_flush(blk);
            if (ret < 0) {
                error_report("Failed flush request: %s", strerror(-ret));
                goto out;
            }
        }
    }
    t2 = qemu_clock_monotonic_ns();
    printf("Run completed in %3.3f seconds.\n", (double)(t2 - t1) / 1e9);
out:
    free(buf);
    blk_unref(blk);
    return ret ? 1 : 0;
}
