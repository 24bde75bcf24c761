/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-io-cmds.c: qemu-io's command table (read, write, aio, flush, ...;
 * the lock commands are in qemu-io-lock-cmds.c, the breakpoint ones in
 * qemu-io-break-cmds.c) with qemu-io 7.2's
 * argument rules and report lines.
 */
#include "qemu/osdep.h"

#include <ctype.h>
#include <getopt.h>
#include <signal.h>

#include "qemu/coroutine.h"
#include "qemu/cutils.h"
#include "qemu/error.h"
#include "qemu/qdict.h"
#include "qemu/qobject.h"
#include "block/block.h"
#include "block/block-backend.h"
#include "qemu-io.h"

/* QEMU's BDRV_REQUEST_MAX_BYTES: INT_MAX rounded down to sectors. */
#define REQUEST_MAX_BYTES QEMU_ALIGN_DOWN((int64_t)INT_MAX, BDRV_SECTOR_SIZE)

bool qemuio_quit;

static const CmdInfo *find_command(const char *name);

/* ---- helpers ---------------------------------------------------------- */

/* A size with the usual suffixes, at most INT64_MAX. */
static int64_t cvtnum(const char *s)
{
    uint64_t value;
    int err = qemu_strtosz(s, NULL, &value);

    if (err < 0) {
        return err;
    }
    if (value > INT64_MAX) {
        return -ERANGE;
    }
    return (int64_t)value;
}

static void print_cvtnum_err(int64_t rc, const char *arg)
{
    switch (rc) {
    case -EINVAL:
        printf("Parsing error: non-numeric argument, or extraneous/"
               "unrecognized suffix -- %s\n", arg);
        break;
    case -ERANGE:
        printf("Parsing error: argument too large -- %s\n", arg);
        break;
    default:
        printf("Parsing error: %s\n", arg);
        break;
    }
}

/* "4.033 MiB", "512 bytes", "4 KiB": %.3f with ".000" trimmed. */
static void cvtstr(double value, char *str, size_t size)
{
    const char *suffix;
    char *trim;

    if (value >= (double)EiB) {
        suffix = " EiB";
        value /= (double)EiB;
    } else if (value >= (double)PiB) {
        suffix = " PiB";
        value /= (double)PiB;
    } else if (value >= (double)TiB) {
        suffix = " TiB";
        value /= (double)TiB;
    } else if (value >= (double)GiB) {
        suffix = " GiB";
        value /= (double)GiB;
    } else if (value >= (double)MiB) {
        suffix = " MiB";
        value /= (double)MiB;
    } else if (value >= (double)KiB) {
        suffix = " KiB";
        value /= (double)KiB;
    } else {
        suffix = " bytes";
    }
    snprintf(str, size - 6, "%.3f", value);
    trim = strstr(str, ".000");
    if (trim) {
        strcpy(trim, suffix);
    } else {
        strcat(str, suffix);
    }
}

/* Elapsed time as "00.01 sec" (under a second) or "H:MM:SS.ss". */
static void timestr(int64_t ns, char *ts, size_t size, bool fixed)
{
    int64_t sec = ns / 1000000000LL;
    double frac = (double)(ns % 1000000000LL) / 1e9;

    if (fixed || sec) {
        snprintf(ts, size, "%u:%02u:%05.2f", (unsigned)(sec / 3600),
                 (unsigned)((sec / 60) % 60), (double)(sec % 60) + frac);
    } else {
        snprintf(ts, size, "%05.2f sec", frac);
    }
}

static double tdiv(double value, int64_t ns)
{
    double secs = (double)ns / 1e9;

    return secs > 0 ? value / secs : 0.0;
}

static void print_report(const char *op, int64_t ns, int64_t offset,
                         int64_t count, int64_t total, int cnt, bool cflag)
{
    char s1[64], s2[64], ts[64];

    timestr(ns, ts, sizeof(ts), cflag);
    if (!cflag) {
        cvtstr((double)total, s1, sizeof(s1));
        cvtstr(tdiv((double)total, ns), s2, sizeof(s2));
        printf("%s %" PRId64 "/%" PRId64 " bytes at offset %" PRId64 "\n",
               op, total, count, offset);
        printf("%s, %d ops; %s (%s/sec and %.4f ops/sec)\n", s1, cnt, ts,
               s2, tdiv((double)cnt, ns));
    } else {
        /* bytes,ops,time,bytes/sec,ops/sec */
        printf("%" PRId64 ",%d,%s,%.3f,%.3f\n", total, cnt, ts,
               tdiv((double)total, ns), tdiv((double)cnt, ns));
    }
}

static int parse_pattern(const char *arg)
{
    char *end = NULL;
    long pattern = strtol(arg, &end, 0);

    if (pattern < 0 || pattern > UCHAR_MAX || *end != '\0') {
        printf("%s is not a valid pattern byte\n", arg);
        return -1;
    }
    return (int)pattern;
}

static void dump_buffer(const uint8_t *p, int64_t offset, int64_t len)
{
    int64_t i;
    int j;

    for (i = 0; i < len; i += 16) {
        const uint8_t *s = p;

        printf("%08" PRIx64 ":  ", (uint64_t)(offset + i));
        for (j = 0; j < 16 && i + j < len; j++, p++) {
            printf("%02x ", *p);
        }
        printf(" ");
        for (j = 0; j < 16 && i + j < len; j++, s++) {
            printf("%c", isalnum(*s) ? *s : '.');
        }
        printf("\n");
    }
}

static uint8_t *io_alloc(int64_t len, int pattern)
{
    uint8_t *buf = qemu_xmalloc(len > 0 ? (size_t)len : 1);

    memset(buf, pattern, len > 0 ? (size_t)len : 1);
    return buf;
}

/*
 * A @len-byte buffer filled from @path, its contents repeated if the file
 * is shorter (QEMU's write -s).  NULL, with the reason printed, if the
 * file cannot be read or is empty.
 */
static uint8_t *io_alloc_from_file(int64_t len, const char *path)
{
    uint8_t *buf = qemu_xmalloc(len > 0 ? (size_t)len : 1);
    FILE *f = fopen(path, "r");
    size_t got = 0;

    if (!f) {
        perror(path);
        free(buf);
        return NULL;
    }
    if (len > 0) {
        got = fread(buf, 1, (size_t)len, f);
    }
    if (ferror(f)) {
        perror(path);
        got = 0;
    } else if (got == 0) {
        fprintf(stderr, "%s: file is empty\n", path);
    }
    fclose(f);
    if (got == 0) {
        free(buf);
        return NULL;
    }
    for (size_t done = got; done < (size_t)len; done += got) {
        memcpy(buf + done, buf, MIN(got, (size_t)len - done));
    }
    return buf;
}

void qemuio_command_usage(const CmdInfo *ct)
{
    printf("%s ", ct->name);
    if (ct->args) {
        printf("%s ", ct->args);
    }
    printf("-- %s\n", ct->oneline);
}

/* ---- read / write ----------------------------------------------------- */

static void read_help(void)
{
    printf("\n"
           " reads a range of bytes from the given offset\n"
           "\n"
           " Example:\n"
           " 'read -v 512 1k' - dumps 1 kilobyte read from 512 bytes into "
           "the file\n"
           "\n"
           " The buffer is filled with 0xab before reading.\n"
           " -C, -- report statistics in a machine parsable format\n"
           " -l, -- length for pattern verification (only with -P)\n"
           " -P, -- verify that the data read is this byte\n"
           " -q, -- quiet mode, do not show I/O statistics\n"
           " -s, -- start offset for pattern verification (only with -P)\n"
           " -v, -- dump buffer to standard output\n"
           "\n");
}

/*
 * Parse the "offset length" pair at argv[optind] (consuming both), with
 * QEMU's messages; @limit_note goes into the too-long message
 * (write says " without -n").  0 or a negative errno.
 */
static int parse_offset_length(char **argv, const char *limit_note,
                               int64_t *offset, int64_t *len)
{
    *offset = cvtnum(argv[optind]);
    if (*offset < 0) {
        print_cvtnum_err(*offset, argv[optind]);
        return (int)*offset;
    }
    optind++;
    *len = cvtnum(argv[optind]);
    if (*len < 0) {
        print_cvtnum_err(*len, argv[optind]);
        return (int)*len;
    }
    if (*len > REQUEST_MAX_BYTES) {
        printf("length cannot exceed %" PRIu64 "%s, given %s\n",
               (uint64_t)REQUEST_MAX_BYTES, limit_note, argv[optind]);
        return -EINVAL;
    }
    return 0;
}

/* What read and readv do once their arguments are parsed. */
typedef struct ReadReq {
    const char *op;         /* "read" or "readv", for the failure line */
    int64_t offset, count;
    int pattern;            /* -P byte, or -1 for none */
    int64_t pattern_offset; /* the range -P checks, within the data read */
    int64_t pattern_count;
    bool cflag, qflag, vflag;
    bool bflag;             /* the VM state area, not the disk */
} ReadReq;

/*
 * Report a read that returned @ret after @ns nanoseconds into @buf: the
 * failure line, or the -P check (a mismatch still reports), the -v dump
 * and the statistics unless -q.  0 or a negative errno.
 */
static int read_report(const ReadReq *rq, const uint8_t *buf, int ret,
                       int64_t ns)
{
    int64_t i;

    if (ret < 0) {
        printf("%s failed: %s\n", rq->op, strerror(-ret));
        return ret;
    }
    ret = 0;
    for (i = 0; rq->pattern >= 0 && i < rq->pattern_count; i++) {
        if (buf[rq->pattern_offset + i] != rq->pattern) {
            printf("Pattern verification failed at offset %" PRId64
                   ", %" PRId64 " bytes\n", rq->offset + rq->pattern_offset,
                   rq->pattern_count);
            ret = -EINVAL;
            break;
        }
    }
    if (!rq->qflag) {
        if (rq->vflag) {
            dump_buffer(buf, rq->offset, rq->count);
        }
        print_report("read", ns, rq->offset, rq->count, rq->count, 1,
                     rq->cflag);
    }
    return ret;
}

/* Read @rq into a new buffer (*@buf); returns blk_pread's result. */
static int read_run(BlockBackend *blk, const ReadReq *rq, uint8_t **buf,
                    int64_t *ns)
{
    int64_t t1 = qemu_clock_monotonic_ns();
    int ret;

    *buf = io_alloc(rq->count, 0xab);
    if (rq->bflag) {
        ret = blk_load_vmstate(blk, *buf, rq->offset, rq->count);
    } else {
        ret = blk_pread(blk, rq->offset, rq->count, *buf);
    }
    *ns = qemu_clock_monotonic_ns() - t1;
    return ret;
}

static int do_read(BlockBackend *blk, const ReadReq *rq)
{
    uint8_t *buf;
    int64_t ns;
    int ret = read_run(blk, rq, &buf, &ns);

    ret = read_report(rq, buf, ret, ns);
    free(buf);
    return ret;
}

static int read_f(BlockBackend *blk, int argc, char **argv);

/* VM state requests (-b) are whole sectors, as QEMU's qemu-io demands. */
static int check_sector_aligned(int64_t offset, int64_t count)
{
    if (offset % BDRV_SECTOR_SIZE) {
        printf("%" PRId64 " is not a sector-aligned value for 'offset'\n",
               offset);
        return -EINVAL;
    }
    if (count % BDRV_SECTOR_SIZE) {
        printf("%" PRId64 " is not a sector-aligned value for 'count'\n",
               count);
        return -EINVAL;
    }
    return 0;
}

static const CmdInfo read_cmd = {
    .name = "read", .altname = "r", .cfunc = read_f, .argmin = 2,
    .argmax = -1,
    .args = "[-abCqv] [-P pattern [-s off] [-l len]] off len",
    .oneline = "reads a number of bytes at a specified offset",
    .help = read_help,
};

static int read_f(BlockBackend *blk, int argc, char **argv)
{
    bool cflag = false, qflag = false, vflag = false;
    bool pflag = false, sflag = false, lflag = false;
    int c, pattern = 0, ret;
    int64_t offset, count, pattern_offset = 0, pattern_count = 0;
    ReadReq rq = { .op = "read" };

    while ((c = getopt(argc, argv, "abCl:pP:qs:v")) != -1) {
        switch (c) {
        case 'a':
            /* Ignored for backwards compatibility (as in QEMU). */
            break;
        case 'b':
            rq.bflag = true;
            break;
        case 'C':
            cflag = true;
            break;
        case 'l':
            lflag = true;
            pattern_count = cvtnum(optarg);
            if (pattern_count < 0) {
                print_cvtnum_err(pattern_count, optarg);
                return (int)pattern_count;
            }
            break;
        case 'p':
            /* Ignored for backwards compatibility */
            break;
        case 'P':
            pflag = true;
            pattern = parse_pattern(optarg);
            if (pattern < 0) {
                return -EINVAL;
            }
            break;
        case 'q':
            qflag = true;
            break;
        case 's':
            sflag = true;
            pattern_offset = cvtnum(optarg);
            if (pattern_offset < 0) {
                print_cvtnum_err(pattern_offset, optarg);
                return (int)pattern_offset;
            }
            break;
        case 'v':
            vflag = true;
            break;
        default:
            qemuio_command_usage(&read_cmd);
            return -EINVAL;
        }
    }
    if (optind != argc - 2) {
        qemuio_command_usage(&read_cmd);
        return -EINVAL;
    }
    ret = parse_offset_length(argv, "", &offset, &count);
    if (ret < 0) {
        return ret;
    }
    if (!pflag && (lflag || sflag)) {
        qemuio_command_usage(&read_cmd);
        return -EINVAL;
    }
    if (!lflag) {
        pattern_count = count - pattern_offset;
    }
    if (pattern_count < 0 || pattern_count + pattern_offset > count) {
        printf("pattern verification range exceeds end of read data\n");
        return -EINVAL;
    }
    if (rq.bflag && check_sector_aligned(offset, count) < 0) {
        return -EINVAL;
    }

    rq.offset = offset;
    rq.count = count;
    rq.pattern = pflag ? pattern : -1;
    rq.pattern_offset = pattern_offset;
    rq.pattern_count = pattern_count;
    rq.cflag = cflag;
    rq.qflag = qflag;
    rq.vflag = vflag;
    return do_read(blk, &rq);
}

static void write_help(void)
{
    printf("\n"
           " writes a range of bytes from the given offset\n"
           "\n"
           " Example:\n"
           " 'write 512 1k' - writes 1 kilobyte at 512 bytes into the open "
           "file\n"
           "\n"
           " The data is the byte 0xcd unless -P gives another one, or\n"
           " -s a file whose contents are repeated to fill the range.\n"
           " -b, -- write to the VM state rather than the virtual disk\n"
           " -c, -- write one compressed cluster\n"
           " -C, -- report statistics in a machine parsable format\n"
           " -f, -- use Force Unit Access semantics\n"
           " -P, -- use different pattern to fill file\n"
           " -s, -- use a pattern file to fill the write buffer\n"
           " -q, -- quiet mode, do not show I/O statistics\n"
           " -u, -- with -z, allow unmapping\n"
           " -z, -- write zeroes\n"
           "\n");
}

static int write_f(BlockBackend *blk, int argc, char **argv);

static const CmdInfo write_cmd = {
    .name = "write", .altname = "w", .cfunc = write_f, .argmin = 2,
    .argmax = -1, .perm = BLK_PERM_WRITE,
    .args = "[-bcCfnquz] [-P pattern | -s source_file] off len",
    .oneline = "writes a number of bytes at a specified offset",
    .help = write_help,
};

static int write_f(BlockBackend *blk, int argc, char **argv)
{
    bool cflag = false, compress = false, qflag = false, zflag = false;
    bool pflag = false, bflag = false;
    const char *source = NULL;
    int c, pattern = 0xcd, flags = 0, ret;
    int64_t offset, count, t1, t2;
    uint8_t *buf = NULL;

    while ((c = getopt(argc, argv, "bcCfnpP:qs:uz")) != -1) {
        switch (c) {
        case 'b':
            bflag = true;
            break;
        case 'c':
            compress = true;
            break;
        case 'C':
            cflag = true;
            break;
        case 'f':
            flags |= BDRV_REQ_FUA;
            break;
        case 'n':
            /* No slow fallback: zero writes here never fall back. */
            break;
        case 'p':
            /* Ignored for backwards compatibility */
            break;
        case 'P':
            pflag = true;
            pattern = parse_pattern(optarg);
            if (pattern < 0) {
                return -EINVAL;
            }
            break;
        case 'q':
            qflag = true;
            break;
        case 's':
            source = optarg;
            break;
        case 'u':
            flags |= BDRV_REQ_MAY_UNMAP;
            break;
        case 'z':
            zflag = true;
            break;
        default:
            qemuio_command_usage(&write_cmd);
            return -EINVAL;
        }
    }
    if (optind != argc - 2) {
        qemuio_command_usage(&write_cmd);
        return -EINVAL;
    }
    if (zflag + pflag + !!source > 1) {
        printf("Only one of -z, -P, and -s can be specified at the same "
               "time\n");
        return -EINVAL;
    }
    if ((flags & BDRV_REQ_MAY_UNMAP) && !zflag) {
        printf("-u requires -z to be specified\n");
        return -EINVAL;
    }
    if (compress && zflag) {
        printf("-c and -z cannot be specified at the same time\n");
        return -EINVAL;
    }
    if (bflag && zflag) {
        printf("-b and -z cannot be specified at the same time\n");
        return -EINVAL;
    }
    if ((flags & BDRV_REQ_FUA) && (bflag || compress)) {
        printf("-f and -b or -c cannot be specified at the same time\n");
        return -EINVAL;
    }
    ret = parse_offset_length(argv, " without -n", &offset, &count);
    if (ret < 0) {
        return ret;
    }
    if (bflag && check_sector_aligned(offset, count) < 0) {
        return -EINVAL;
    }

    if (!zflag) {
        buf = source ? io_alloc_from_file(count, source)
                     : io_alloc(count, pattern);
        if (!buf) {
            return -EINVAL;
        }
    }
    t1 = qemu_clock_monotonic_ns();
    if (bflag) {
        ret = blk_save_vmstate(blk, buf, offset, count);
    } else if (zflag) {
        ret = blk_pwrite_zeroes(blk, offset, count, flags);
    } else {
        if (compress) {
            flags |= BDRV_REQ_WRITE_COMPRESSED;
        }
        ret = blk_pwrite(blk, offset, count, buf, flags);
    }
    t2 = qemu_clock_monotonic_ns();
    if (ret < 0) {
        printf("write failed: %s\n", strerror(-ret));
        goto out;
    }
    ret = 0;
    if (!qflag) {
        print_report("wrote", t2 - t1, offset, count, count, 1, cflag);
    }
out:
    free(buf);
    return ret;
}

/* Shared parsing of "off len [len..]" for readv/writev. */
static int parse_vector(int argc, char **argv, int64_t *offset,
                        int64_t *total)
{
    int i;

    *offset = cvtnum(argv[optind]);
    if (*offset < 0) {
        print_cvtnum_err(*offset, argv[optind]);
        return (int)*offset;
    }
    *total = 0;
    for (i = optind + 1; i < argc; i++) {
        int64_t len = cvtnum(argv[i]);

        if (len < 0) {
            print_cvtnum_err(len, argv[i]);
            return (int)len;
        }
        if (len > REQUEST_MAX_BYTES - *total) {
            printf("Argument '%s' exceeds maximum size %" PRIu64 "\n",
                   argv[i], (uint64_t)REQUEST_MAX_BYTES);
            return -EINVAL;
        }
        *total += len;
    }
    return 0;
}

static int readv_f(BlockBackend *blk, int argc, char **argv);
static int writev_f(BlockBackend *blk, int argc, char **argv);

static const CmdInfo readv_cmd = {
    .name = "readv", .cfunc = readv_f, .argmin = 2, .argmax = -1,
    .args = "[-Cqv] [-P pattern] off len [len..]",
    .oneline = "reads a number of bytes at a specified offset",
};

static const CmdInfo writev_cmd = {
    .name = "writev", .cfunc = writev_f, .argmin = 2, .argmax = -1,
    .perm = BLK_PERM_WRITE,
    .args = "[-Cfq] [-P pattern] off len [len..]",
    .oneline = "writes a number of bytes at a specified offset",
};

/* What readv/aio_read and writev/aio_write take: [options] off len [len..] */
typedef struct VecReq {
    ReadReq rq;       /* offset, count (the total), -P of reads, -C, -q, -v */
    int pattern;      /* the byte writes fill with */
    int flags;        /* writes: -f (FUA), -u (may unmap) */
    bool zflag;       /* aio_write -z: zeroes */
    bool invalid;     /* -i: a request only reported as invalid */
} VecReq;

static bool is_read_cmd(const CmdInfo *ci);

/*
 * Parse the options of @ci that @optstr names, then the offset and
 * lengths, into @v.  0, or a negative errno after printing why (or the
 * usage).  -i stops at once, as in qemu-io 7.2.
 */
static int parse_vec_request(int argc, char **argv, const CmdInfo *ci,
                             const char *optstr, VecReq *v)
{
    int c, pattern, ret;
    int64_t offset, total;

    v->rq.op = is_read_cmd(ci) ? "readv" : ci->name;
    v->rq.pattern = -1;
    v->pattern = 0xcd;
    while ((c = getopt(argc, argv, optstr)) != -1) {
        switch (c) {
        case 'C':
            v->rq.cflag = true;
            break;
        case 'P':
            pattern = parse_pattern(optarg);
            if (pattern < 0) {
                return -EINVAL;
            }
            v->rq.pattern = v->pattern = pattern;
            break;
        case 'i':
            printf("injecting invalid %s request\n",
                   is_read_cmd(ci) ? "read" : "write");
            v->invalid = true;
            return 0;
        case 'q':
            v->rq.qflag = true;
            break;
        case 'v':
            v->rq.vflag = true;
            break;
        case 'f':
            v->flags |= BDRV_REQ_FUA;
            break;
        case 'u':
            v->flags |= BDRV_REQ_MAY_UNMAP;
            break;
        case 'z':
            v->zflag = true;
            break;
        default:
            qemuio_command_usage(ci);
            return -EINVAL;
        }
    }
    if (optind > argc - 2) {
        qemuio_command_usage(ci);
        return -EINVAL;
    }
    if (v->zflag && optind != argc - 2) {
        printf("-z supports only a single length parameter\n");
        return -EINVAL;
    }
    if ((v->flags & BDRV_REQ_MAY_UNMAP) && !v->zflag) {
        printf("-u requires -z to be specified\n");
        return -EINVAL;
    }
    ret = parse_vector(argc, argv, &offset, &total);
    if (ret < 0) {
        return ret;
    }
    v->rq.offset = offset;
    v->rq.count = total;
    v->rq.pattern_count = total;
    return 0;
}

/* Write @v's request; its result, the time it took in *@ns. */
static int vec_write(BlockBackend *blk, const VecReq *v, int64_t *ns)
{
    int64_t t1 = qemu_clock_monotonic_ns();
    uint8_t *buf;
    int ret;

    if (v->zflag) {
        ret = blk_pwrite_zeroes(blk, v->rq.offset, v->rq.count, v->flags);
    } else {
        buf = io_alloc(v->rq.count, v->pattern);
        ret = blk_pwrite(blk, v->rq.offset, v->rq.count, buf, v->flags);
        free(buf);
    }
    *ns = qemu_clock_monotonic_ns() - t1;
    return ret;
}

static int readv_f(BlockBackend *blk, int argc, char **argv)
{
    VecReq v = { 0 };
    int ret = parse_vec_request(argc, argv, &readv_cmd, "CP:qv", &v);

    return ret < 0 ? ret : do_read(blk, &v.rq);
}

static int writev_f(BlockBackend *blk, int argc, char **argv)
{
    VecReq v = { 0 };
    int64_t ns;
    int ret = parse_vec_request(argc, argv, &writev_cmd, "CfqP:", &v);

    if (ret < 0) {
        return ret;
    }
    ret = vec_write(blk, &v, &ns);
    if (ret < 0) {
        printf("writev failed: %s\n", strerror(-ret));
        return ret;
    }
    if (!v.rq.qflag) {
        print_report("wrote", ns, v.rq.offset, v.rq.count, v.rq.count, 1,
                     v.rq.cflag);
    }
    return 0;
}

/* ---- aio_read, aio_write, aio_flush ------------------------------------ */
/*
 * Each request runs in a coroutine of its own, entered at once: it runs
 * to its end unless a blkdebug breakpoint suspends it (or it waits for
 * one that is), and then the next command comes while it is in flight.
 * What qemu-io 7.2 prints when a request completes waits, as there,
 * until something polls for completions: aio_flush, any command but
 * aio_read/aio_write/sigraise/abort and the breakpoint commands
 * (CmdInfo.no_poll), and the end of the session (qemuio_complete_aio).
 * As there, the command succeeds once the request is made: an I/O error
 * or a pattern mismatch is printed, not returned.
 */

typedef struct AioDone {
    bool is_read;
    ReadReq rq;            /* what was asked (writes: offset, count, -C, -q) */
    uint8_t *buf;          /* the data read */
    int ret;
    int64_t ns;
    struct AioDone *next;
} AioDone;

static AioDone *aio_done_head;
static AioDone **aio_done_tail = &aio_done_head;

static void aio_queue(bool is_read, const ReadReq *rq, uint8_t *buf, int ret,
                      int64_t ns)
{
    AioDone *d = qemu_xmalloc(sizeof(*d));

    *d = (AioDone){ .is_read = is_read, .rq = *rq, .buf = buf, .ret = ret,
                    .ns = ns };
    *aio_done_tail = d;
    aio_done_tail = &d->next;
}

void qemuio_complete_aio(void)
{
    AioDone *d;

    while ((d = aio_done_head)) {
        aio_done_head = d->next;
        if (d->is_read) {
            read_report(&d->rq, d->buf, d->ret, d->ns);
        } else if (d->ret < 0) {
            printf("aio_write failed: %s\n", strerror(-d->ret));
        } else if (!d->rq.qflag) {
            print_report("wrote", d->ns, d->rq.offset, d->rq.count,
                         d->rq.count, 1, d->rq.cflag);
        }
        free(d->buf);
        free(d);
    }
    aio_done_tail = &aio_done_head;
}

static int aio_read_f(BlockBackend *blk, int argc, char **argv);
static int aio_write_f(BlockBackend *blk, int argc, char **argv);
static int aio_flush_f(BlockBackend *blk, int argc, char **argv);

static const CmdInfo aio_read_cmd = {
    .no_poll = true,
    .name = "aio_read", .cfunc = aio_read_f, .argmin = 2, .argmax = -1,
    .args = "[-Ciqv] [-P pattern] off len [len..]",
    .oneline = "asynchronously reads a number of bytes",
};

static const CmdInfo aio_write_cmd = {
    .no_poll = true,
    .name = "aio_write", .cfunc = aio_write_f, .argmin = 2, .argmax = -1,
    .perm = BLK_PERM_WRITE,
    .args = "[-Cfiquz] [-P pattern] off len [len..]",
    .oneline = "asynchronously writes a number of bytes",
};

static const CmdInfo aio_flush_cmd = {
    .name = "aio_flush", .cfunc = aio_flush_f, .argmin = 0, .argmax = 0,
    .oneline = "completes all outstanding aio requests",
};

static bool is_read_cmd(const CmdInfo *ci)
{
    return ci == &readv_cmd || ci == &aio_read_cmd;
}

/* Requests started and not yet completed (suspended, or behind one). */
static int aio_in_flight;

typedef struct AioReq {
    BlockBackend *blk;
    bool is_read;
    VecReq v;
} AioReq;

static void aio_co_entry(void *opaque)
{
    AioReq *req = opaque;
    uint8_t *buf = NULL;
    int64_t ns;
    int ret;

    if (req->is_read) {
        ret = read_run(req->blk, &req->v.rq, &buf, &ns);
    } else {
        ret = vec_write(req->blk, &req->v, &ns);
    }
    aio_queue(req->is_read, &req->v.rq, buf, ret, ns);
    aio_in_flight--;
    free(req);
}

static void aio_start(BlockBackend *blk, bool is_read, const VecReq *v)
{
    AioReq *req = qemu_xmalloc(sizeof(*req));

    *req = (AioReq){ .blk = blk, .is_read = is_read, .v = *v };
    aio_in_flight++;
    qemu_coroutine_enter(qemu_coroutine_create(aio_co_entry, req));
}

static int aio_read_f(BlockBackend *blk, int argc, char **argv)
{
    VecReq v = { 0 };
    int ret = parse_vec_request(argc, argv, &aio_read_cmd, "CP:iqv", &v);

    if (ret < 0 || v.invalid) {
        return ret;
    }
    aio_start(blk, true, &v);
    return 0;
}

static int aio_write_f(BlockBackend *blk, int argc, char **argv)
{
    VecReq v = { 0 };
    int ret = parse_vec_request(argc, argv, &aio_write_cmd, "CfiqP:uz", &v);

    if (ret < 0 || v.invalid) {
        return ret;
    }
    aio_start(blk, false, &v);
    return 0;
}

/*
 * run_command has printed every completion already.  Whatever is still
 * in flight waits for a suspended request, and only a resume can move
 * it: QEMU's aio_flush would wait forever, ours says so.
 */
static int aio_flush_f(BlockBackend *blk, int argc, char **argv)
{
    if (aio_in_flight) {
        error_report("aio_flush: %d request%s wait%s for a suspended request "
                     "(resume it first)", aio_in_flight,
                     aio_in_flight == 1 ? "" : "s",
                     aio_in_flight == 1 ? "s" : "");
        return -EBUSY;
    }
    return 0;
}

/* ---- flush, truncate, length, discard, info, map ---------------------- */

static int flush_f(BlockBackend *blk, int argc, char **argv)
{
    return blk_flush(blk);
}

static const CmdInfo flush_cmd = {
    .name = "flush", .altname = "f", .cfunc = flush_f, .argmin = 0,
    .argmax = 0, .oneline = "flush all in-core file state to disk",
};

static int truncate_f(BlockBackend *blk, int argc, char **argv);

static const CmdInfo truncate_cmd = {
    .name = "truncate", .altname = "t", .cfunc = truncate_f, .argmin = 1,
    .argmax = 3, .perm = BLK_PERM_WRITE | BLK_PERM_RESIZE,
    .args = "[-m prealloc_mode] off",
    .oneline = "truncates the current file at the given offset",
};

static int truncate_f(BlockBackend *blk, int argc, char **argv)
{
    PreallocMode prealloc = PREALLOC_MODE_OFF;
    Error *err = NULL;
    int64_t offset;
    int c, ret;

    while ((c = getopt(argc, argv, "m:")) != -1) {
        switch (c) {
        case 'm':
            if (prealloc_mode_parse(optarg, &prealloc) < 0) {
                error_report("Invalid preallocation mode '%s'", optarg);
                return -EINVAL;
            }
            break;
        default:
            qemuio_command_usage(&truncate_cmd);
            return -EINVAL;
        }
    }
    if (optind != argc - 1) {
        qemuio_command_usage(&truncate_cmd);
        return -EINVAL;
    }
    offset = cvtnum(argv[optind]);
    if (offset < 0) {
        print_cvtnum_err(offset, argv[optind]);
        return (int)offset;
    }
    ret = blk_truncate(blk, offset, false, prealloc, &err);
    if (ret < 0) {
        if (err) {
            error_report_err(err);
        } else {
            error_report("truncate failed: %s", strerror(-ret));
        }
        return ret;
    }
    return 0;
}

static int length_f(BlockBackend *blk, int argc, char **argv)
{
    int64_t size = blk_getlength(blk);
    char s1[64];

    if (size < 0) {
        printf("getlength: %s\n", strerror((int)-size));
        return (int)size;
    }
    cvtstr((double)size, s1, sizeof(s1));
    printf("%s\n", s1);
    return 0;
}

static const CmdInfo length_cmd = {
    .name = "length", .altname = "l", .cfunc = length_f, .argmin = 0,
    .argmax = 0, .oneline = "gets the length of the current file",
};

static int discard_f(BlockBackend *blk, int argc, char **argv);

static const CmdInfo discard_cmd = {
    .name = "discard", .altname = "d", .cfunc = discard_f, .argmin = 2,
    .argmax = -1, .perm = BLK_PERM_WRITE,
    .args = "[-Cq] off len",
    .oneline = "discards a number of bytes at a specified offset",
};

static int discard_f(BlockBackend *blk, int argc, char **argv)
{
    bool cflag = false, qflag = false;
    int64_t offset, bytes, t1, t2;
    int c, ret;

    while ((c = getopt(argc, argv, "Cq")) != -1) {
        switch (c) {
        case 'C':
            cflag = true;
            break;
        case 'q':
            qflag = true;
            break;
        default:
            qemuio_command_usage(&discard_cmd);
            return -EINVAL;
        }
    }
    if (optind != argc - 2) {
        qemuio_command_usage(&discard_cmd);
        return -EINVAL;
    }
    ret = parse_offset_length(argv, "", &offset, &bytes);
    if (ret < 0) {
        return ret;
    }
    t1 = qemu_clock_monotonic_ns();
    ret = blk_pdiscard(blk, offset, bytes);
    t2 = qemu_clock_monotonic_ns();
    if (ret < 0) {
        printf("discard failed: %s\n", strerror(-ret));
        return ret;
    }
    if (!qflag) {
        print_report("discard", t2 - t1, offset, bytes, bytes, 1, cflag);
    }
    return 0;
}

static int info_f(BlockBackend *blk, int argc, char **argv)
{
    BlockDriverState *bs = blk_bs(blk);
    BlockDriverInfo bdi;
    QObject *spec;
    Error *err = NULL;
    char s1[64], s2[64];
    int ret;

    printf("format name: %s\n", bdrv_get_format_name(bs));
    /* QEMU's quirk: a protocol driver's prefix is printed the same way. */
    if (bdrv_get_protocol_name(bs)) {
        printf("format name: %s\n", bdrv_get_protocol_name(bs));
    }
    memset(&bdi, 0, sizeof(bdi));
    ret = bdrv_get_info(bs, &bdi);
    if (ret) {
        return ret;
    }
    cvtstr(bdi.cluster_size, s1, sizeof(s1));
    cvtstr((double)bdi.vm_state_offset, s2, sizeof(s2));
    printf("cluster size: %s\n", s1);
    printf("vm state offset: %s\n", s2);
    spec = bdrv_get_specific_info(bs, &err);
    if (err) {
        error_report_err(err);
        return -EIO;
    }
    if (spec) {
        char *text = qobj_to_human(spec, 1);

        printf("Format specific information:\n%s", text);
        free(text);
        qobj_free(spec);
    }
    return 0;
}

static const CmdInfo info_cmd = {
    .name = "info", .altname = "i", .cfunc = info_f, .argmin = 0,
    .argmax = 0, .oneline = "prints information about the current file",
};

/*
 * Allocation status in the top node only (as QEMU's qemu-io: a backing
 * file's data is "not allocated" here), merged over consecutive extents.
 */
static int map_is_allocated(BlockDriverState *bs, int64_t offset,
                            int64_t bytes, int64_t *pnum)
{
    int64_t num;
    int ret, first;

    first = bdrv_is_allocated(bs, offset, bytes, &num);
    if (first < 0) {
        return first;
    }
    *pnum = num;
    while (bytes > 0 && num > 0) {
        offset += num;
        bytes -= num;
        ret = bdrv_is_allocated(bs, offset, bytes, &num);
        if (ret != first || !num) {
            break;
        }
        *pnum += num;
    }
    return first;
}

static int map_f(BlockBackend *blk, int argc, char **argv)
{
    int64_t offset = 0, bytes, num;
    char s1[64], s2[64];
    int ret;

    bytes = blk_getlength(blk);
    if (bytes < 0) {
        error_report("Failed to query image length: %s",
                     strerror((int)-bytes));
        return (int)bytes;
    }
    while (bytes) {
        ret = map_is_allocated(blk_bs(blk), offset, bytes, &num);
        if (ret < 0) {
            error_report("Failed to get allocation status: %s",
                         strerror(-ret));
            return ret;
        } else if (!num) {
            error_report("Unexpected end of image");
            return -EIO;
        }
        cvtstr((double)num, s1, sizeof(s1));
        cvtstr((double)offset, s2, sizeof(s2));
        printf("%s (0x%" PRIx64 ") bytes %s at offset %s (0x%" PRIx64 ")\n",
               s1, (uint64_t)num, ret ? "    allocated" : "not allocated",
               s2, (uint64_t)offset);
        offset += num;
        bytes -= num;
    }
    return 0;
}

static const CmdInfo map_cmd = {
    .name = "map", .cfunc = map_f, .argmin = 0, .argmax = 0, .args = "",
    .oneline = "prints the allocated areas of a file",
};

static void alloc_help(void)
{
    printf("\n"
           " reports how much of a range is allocated in the image itself\n"
           " (not in its backing files); the count defaults to 512 bytes\n"
           "\n"
           " Example:\n"
           " 'alloc 0 64k' - how much of the first 64 KiB is allocated\n"
           "\n");
}

static int alloc_f(BlockBackend *blk, int argc, char **argv)
{
    BlockDriverState *bs = blk_bs(blk);
    int64_t offset, start, remaining, count, num, sum_alloc = 0;
    char s1[64];

    start = offset = cvtnum(argv[1]);
    if (offset < 0) {
        print_cvtnum_err(offset, argv[1]);
        return (int)offset;
    }
    if (argc == 3) {
        count = cvtnum(argv[2]);
        if (count < 0) {
            print_cvtnum_err(count, argv[2]);
            return (int)count;
        }
    } else {
        count = BDRV_SECTOR_SIZE;
    }
    remaining = count;
    while (remaining) {
        int ret = bdrv_is_allocated(bs, offset, remaining, &num);

        if (ret < 0) {
            printf("is_allocated failed: %s\n", strerror(-ret));
            return ret;
        }
        if (num <= 0) {
            /* End of the image: only count what exists. */
            count -= remaining;
            break;
        }
        offset += num;
        remaining -= num;
        if (ret) {
            sum_alloc += num;
        }
    }
    cvtstr((double)start, s1, sizeof(s1));
    printf("%" PRId64 "/%" PRId64 " bytes allocated at offset %s\n",
           sum_alloc, count, s1);
    return 0;
}

static const CmdInfo alloc_cmd = {
    .name = "alloc", .altname = "a", .cfunc = alloc_f, .argmin = 1,
    .argmax = 2, .args = "offset [count]",
    .oneline = "checks if offset is allocated in the file",
    .help = alloc_help,
};

/* ---- sleep, quit, help ------------------------------------------------ */

static int sleep_f(BlockBackend *blk, int argc, char **argv)
{
    char *end = NULL;
    long ms = strtol(argv[1], &end, 0);

    if (ms < 0 || *end != '\0') {
        printf("%s is not a valid number\n", argv[1]);
        return -EINVAL;
    }
    qemu_sleep_ns((int64_t)ms * 1000000);
    return 0;
}

static const CmdInfo sleep_cmd = {
    .name = "sleep", .cfunc = sleep_f, .argmin = 1, .argmax = 1,
    .nofile_ok = true,
    .oneline = "waits for the given value in milliseconds",
};

static int quit_f(BlockBackend *blk, int argc, char **argv)
{
    qemuio_quit = true;
    return 0;
}

static const CmdInfo quit_cmd = {
    .name = "quit", .altname = "q", .cfunc = quit_f, .argmin = 0,
    .argmax = 0, .nofile_ok = true, .oneline = "exit the program",
};

static int sigraise_f(BlockBackend *blk, int argc, char **argv)
{
    int64_t sig = cvtnum(argv[1]);

    if (sig < 0) {
        print_cvtnum_err(sig, argv[1]);
        return (int)sig;
    }
    if (sig > NSIG) {
        printf("signal argument '%s' is too large to be a valid signal\n",
               argv[1]);
        return -EINVAL;
    }
    /* the process may be gone in a moment: let what it printed out first */
    fflush(stdout);
    fflush(stderr);
    raise((int)sig);
    return 0;
}

static void sigraise_help(void)
{
    printf("\n"
           " raises the given signal\n"
           "\n"
           " Example:\n"
           " 'sigraise %d' - raises SIGTERM\n"
           "\n"
           " Invokes raise(signal), where \"signal\" is the mandatory integer "
           "argument\n"
           " given to sigraise.\n"
           "\n", SIGTERM);
}

static const CmdInfo sigraise_cmd = {
    .no_poll = true,
    .name = "sigraise", .cfunc = sigraise_f, .argmin = 1, .argmax = 1,
    .nofile_ok = true, .args = "signal", .oneline = "raises a signal",
    .help = sigraise_help,
};

static int abort_f(BlockBackend *blk, int argc, char **argv)
{
    abort();
}

static const CmdInfo abort_cmd = {
    .no_poll = true,
    .name = "abort", .cfunc = abort_f, .argmin = 0, .argmax = 0,
    .nofile_ok = true, .oneline = "simulate a program crash using abort(3)",
};

static int help_f(BlockBackend *blk, int argc, char **argv);

static const CmdInfo help_cmd = {
    .name = "help", .altname = "?", .cfunc = help_f, .argmin = 0,
    .argmax = 1, .nofile_ok = true, .args = "[command]",
    .oneline = "help for one or all commands",
};

/* Built-in commands; the front end adds its own (open, close). */
static const CmdInfo *const builtin_cmds[] = {
    &alloc_cmd, &discard_cmd, &flush_cmd, &help_cmd, &info_cmd,
    &length_cmd, &qemuio_lock_cmds[0], &map_cmd, &quit_cmd, &read_cmd,
    &readv_cmd, &sleep_cmd, &truncate_cmd, &qemuio_lock_cmds[1],
    &qemuio_lock_cmds[2], &write_cmd, &writev_cmd, &aio_read_cmd,
    &aio_write_cmd, &aio_flush_cmd, &sigraise_cmd, &abort_cmd,
    &qemuio_break_cmds[0], &qemuio_break_cmds[1], &qemuio_break_cmds[2],
    &qemuio_break_cmds[3],
};

/* All commands, sorted by name as "help" lists them. */
static const CmdInfo **cmdtab;
static size_t ncmds;

static void insert_command(const CmdInfo *ci)
{
    size_t i = ncmds;

    cmdtab = qemu_xrealloc(cmdtab, (ncmds + 1) * sizeof(*cmdtab));
    while (i > 0 && strcmp(cmdtab[i - 1]->name, ci->name) > 0) {
        cmdtab[i] = cmdtab[i - 1];
        i--;
    }
    cmdtab[i] = ci;
    ncmds++;
}

static void init_commands(void)
{
    size_t i;

    if (!cmdtab) {
        for (i = 0; i < ARRAY_SIZE(builtin_cmds); i++) {
            insert_command(builtin_cmds[i]);
        }
    }
}

void qemuio_add_command(const CmdInfo *ci)
{
    init_commands();
    insert_command(ci);
}

static int help_f(BlockBackend *blk, int argc, char **argv)
{
    const CmdInfo *ct;
    size_t i;

    if (argc == 1) {
        for (i = 0; i < ncmds; i++) {
            qemuio_command_usage(cmdtab[i]);
        }
        printf("\nUse 'help commandname' for extended help.\n");
        return 0;
    }
    ct = find_command(argv[1]);
    if (!ct) {
        printf("command %s not found\n", argv[1]);
        return -EINVAL;
    }
    qemuio_command_usage(ct);
    if (ct->help) {
        ct->help();
    }
    return 0;
}

static const CmdInfo *find_command(const char *name)
{
    size_t i;

    for (i = 0; i < ncmds; i++) {
        if (!strcmp(cmdtab[i]->name, name) ||
            (cmdtab[i]->altname && !strcmp(cmdtab[i]->altname, name))) {
            return cmdtab[i];
        }
    }
    return NULL;
}

/* ---- dispatch --------------------------------------------------------- */

static int run_command(BlockBackend *blk, const CmdInfo *ct, int argc,
                       char **argv)
{
    if (!ct->nofile_ok && !blk) {
        fprintf(stderr, "no file open, try 'help open'\n");
        return -EINVAL;
    }
    if (argc - 1 < ct->argmin ||
        (ct->argmax != -1 && argc - 1 > ct->argmax)) {
        if (ct->argmax == -1) {
            fprintf(stderr, "bad argument count %d to %s, expected at least "
                    "%d arguments\n", argc - 1, argv[0], ct->argmin);
        } else if (ct->argmin == ct->argmax) {
            fprintf(stderr, "bad argument count %d to %s, expected %d "
                    "arguments\n", argc - 1, argv[0], ct->argmin);
        } else {
            fprintf(stderr, "bad argument count %d to %s, expected between "
                    "%d and %d arguments\n", argc - 1, argv[0], ct->argmin,
                    ct->argmax);
        }
        return -EINVAL;
    }
    /* Ask for what the command needs on top of what the open gave. */
    if (ct->perm && blk) {
        uint64_t perm, shared;

        blk_get_perm(blk, &perm, &shared);
        if ((perm | ct->perm) != perm) {
            Error *err = NULL;

            if (bdrv_is_read_only(blk_bs(blk))) {
                error_report("Block node is read-only");
                return -EPERM;
            }
            if (blk_set_perm(blk, perm | ct->perm, shared,
                             &err) < 0) {
                error_report_err(err);
                return -EPERM;
            }
        }
    }
    if (!ct->no_poll) {
        qemuio_complete_aio();
    }
    optind = 0;
    return ct->cfunc(blk, argc, argv);
}

int qemuio_command(BlockBackend *blk, const char *cmd)
{
    char *input = qemu_xstrdup(cmd);
    char **argv = NULL;
    char *p = input, *tok;
    int argc = 0, ret = 0;

    /* Split on spaces and tabs; empty words are dropped. */
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
            *p++ = '\0';
        }
        if (!*p) {
            break;
        }
        tok = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            p++;
        }
        argv = qemu_xrealloc(argv, (argc + 2) * sizeof(*argv));
        argv[argc++] = tok;
    }
    init_commands();
    if (argc) {
        const CmdInfo *ct = find_command(argv[0]);

        argv[argc] = NULL;
        if (ct) {
            ret = run_command(blk, ct, argc, argv);
        } else {
            fprintf(stderr, "command \"%s\" not found\n", argv[0]);
            ret = -EINVAL;
        }
    }
    free(argv);
    free(input);
    return ret;
}
