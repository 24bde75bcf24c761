/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * block-test-helpers.h: shared pieces of the block-layer lock tests.  A
 * "holder" is a forked child that opens an image as told, reports one
 * line through a pipe and keeps everything open until told to go.
 */
#ifndef BLOCK_TEST_HELPERS_H
#define BLOCK_TEST_HELPERS_H

#include "qemu/osdep.h"
#include "qemu/error.h"
#include "block/block.h"
#include "block/block-backend.h"
#include "block/lock-bytes.h"

#include <glib.h>
#include <signal.h>
#include <sys/wait.h>

/* What a holder (or the test itself) opens and takes. */
typedef struct OpenSpec {
    int flags;            /* BDRV_O_* */
    bool force_share;
    bool set_perm;        /* apply perm/shared after blk_new_open */
    uint64_t perm;
    uint64_t shared;
    const char *locking;  /* file.locking, NULL: default */
    int serial;           /* 0: none, 1: bdrv_lock() once opened */
} OpenSpec;

typedef struct Holder {
    pid_t pid;
    int cmd_fd;    /* parent writes here; EOF tells the child to exit */
    int report_fd; /* child's report line */
} Holder;

static inline QDict *spec_options(const OpenSpec *s)
{
    QDict *o = qdict_new();

    qdict_put_str(o, "driver", "raw");
    if (s->force_share) {
        qdict_put_str(o, "force-share", "on");
    }
    if (s->locking) {
        qdict_put_str(o, "file.locking", s->locking);
    }
    return o;
}

/* Open per @s; on failure returns NULL with *errp set. */
static inline BlockBackend *spec_open(const char *path, const OpenSpec *s,
                                      Error **errp)
{
    BlockBackend *blk = blk_new_open(path, spec_options(s), s->flags, errp);

    if (!blk) {
        return NULL;
    }
    if (s->set_perm && blk_set_perm(blk, s->perm, s->shared, errp) < 0) {
        blk_unref(blk);
        return NULL;
    }
    if (s->serial && bdrv_lock(blk_bs(blk), errp) < 0) {
        blk_unref(blk);
        return NULL;
    }
    return blk;
}

static inline void write_all(int fd, const char *s)
{
    size_t n = strlen(s);

    while (n > 0) {
        ssize_t r = write(fd, s, n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        g_assert_cmpint(r, >, 0);
        s += r;
        n -= (size_t)r;
    }
}

/* One line (without '\n') from @fd; "" on EOF.  g_free() it. */
static inline char *read_line(int fd)
{
    GString *s = g_string_new(NULL);
    char c;

    for (;;) {
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0 || c == '\n') {
            break;
        }
        g_string_append_c(s, c);
    }
    return g_string_free(s, FALSE);
}

/*
 * Fork a holder that opens @path per @s and reports "OK" or "ERR <msg>".
 * Returns that line (g_free() it).  The holder lives until holder_stop().
 */
static inline char *holder_start(Holder *h, const char *path,
                                 const OpenSpec *s)
{
    int cmd[2], rep[2];

    g_assert_cmpint(pipe(cmd), ==, 0);
    g_assert_cmpint(pipe(rep), ==, 0);
    fflush(NULL);
    h->pid = fork();
    g_assert_cmpint(h->pid, >=, 0);
    if (h->pid == 0) {
        Error *err = NULL;
        BlockBackend *blk;
        char *line;

        close(cmd[1]);
        close(rep[0]);
        blk = spec_open(path, s, &err);
        if (!blk) {
            line = g_strdup_printf("ERR %s\n", error_get_pretty(err));
            write_all(rep[1], line);
            _exit(1);
        }
        write_all(rep[1], "OK\n");
        /* Serve commands until EOF: "unlock" drops the serial lock. */
        for (;;) {
            line = read_line(cmd[0]);
            if (!*line) {
                break;
            }
            if (!strcmp(line, "unlock")) {
                int r = bdrv_unlock(blk_bs(blk), NULL);
                write_all(rep[1], r == 0 ? "OK\n" : "ERR unlock\n");
            }
            g_free(line);
        }
        blk_unref(blk);
        _exit(0);
    }
    close(cmd[0]);
    close(rep[1]);
    h->cmd_fd = cmd[1];
    h->report_fd = rep[0];
    return read_line(h->report_fd);
}

/* Send one command line and return the holder's answer. */
static inline char *holder_cmd(Holder *h, const char *cmd)
{
    char *line = g_strdup_printf("%s\n", cmd);

    write_all(h->cmd_fd, line);
    g_free(line);
    return read_line(h->report_fd);
}

/* Tell the holder to close everything, and reap it. */
static inline void holder_stop(Holder *h)
{
    int status;

    close(h->cmd_fd);
    g_assert_cmpint(waitpid(h->pid, &status, 0), ==, h->pid);
    close(h->report_fd);
    h->pid = 0;
}

/* Is @byte of @path locked by someone (probe with F_WRLCK, own OFD)? */
static inline int probe_byte(const char *path, int64_t byte)
{
    struct flock fl = {
        .l_whence = SEEK_SET,
        .l_start = byte,
        .l_len = 1,
        .l_type = F_WRLCK,
    };
    int fd = open(path, O_RDONLY);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(fcntl(fd, F_OFD_GETLK, &fl), ==, 0);
    close(fd);
    return fl.l_type;
}

/* Bitmask of locked bytes: bit i = 100+i, bit 4+i = 200+i. */
static inline unsigned locked_perm_bytes(const char *path)
{
    unsigned mask = 0;
    int i;

    for (i = 0; i < 4; i++) {
        if (probe_byte(path, RAW_LOCK_PERM_BASE + i) != F_UNLCK) {
            mask |= 1u << i;
        }
        if (probe_byte(path, RAW_LOCK_SHARED_BASE + i) != F_UNLCK) {
            mask |= 1u << (4 + i);
        }
    }
    return mask;
}

/* A fresh raw image of @size bytes in @dir; g_free() the path. */
static inline char *make_image(const char *dir, const char *name,
                               int64_t size)
{
    char *path = g_build_filename(dir, name, NULL);
    Error *err = NULL;
    QDict *opts = qdict_new();

    qdict_put_int(opts, "size", size);
    g_assert_cmpint(bdrv_create(bdrv_find_format("raw"), path, opts, &err),
                    ==, 0);
    g_assert_null(err);
    qdict_free(opts);
    return path;
}

static inline void remove_tree(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *n;

    while (d && (n = g_dir_read_name(d))) {
        char *p = g_build_filename(dir, n, NULL);
        unlink(p);
        g_free(p);
    }
    if (d) {
        g_dir_close(d);
    }
    rmdir(dir);
}

#endif /* BLOCK_TEST_HELPERS_H */
