/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-vtpm-socket.c: the vTPM daemon's socket room.  Full reads between a
 * minimum and a maximum, deadlines, EOF, descriptor passing, the fallback
 * to read()/write() on pipes, and a full write on a non-blocking socket
 * that waits for room (or gives up at its deadline) instead of spinning.
 * Deadlines are for the whole message (a trickle does not extend them)
 * and a wait ends at once when its cancel fd becomes readable.
 */
#include "qemu/osdep.h"
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include "hw/tpm/vtpm.h"

#include <glib.h>

static void socketpair_or_die(int sv[2])
{
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                    ==, 0);
}

static void send_all(int fd, const void *buf, size_t len)
{
    g_assert_cmpint(vtpm_sock_write(fd, buf, len, vtpm_deadline_in(1000, -1)),
                    ==, 0);
}

/* Takes what is there, up to max; never more than max. */
static void test_read_min_max(void)
{
    uint8_t buf[16];
    int sv[2];

    socketpair_or_die(sv);
    send_all(sv[1], "abc", 3);
    g_assert_cmpint(vtpm_sock_read(sv[0], buf, 0, 2, sizeof(buf),
                                   vtpm_deadline_in(10000, -1)), ==, 3);
    g_assert(memcmp(buf, "abc", 3) == 0);

    send_all(sv[1], "0123456789", 10);
    g_assert_cmpint(vtpm_sock_read(sv[0], buf, 0, 4, 4,
                                   vtpm_deadline_in(10000, -1)), ==, 4);
    g_assert(memcmp(buf, "0123", 4) == 0);
    /* the rest stayed in the socket; @have counts what is already there */
    g_assert_cmpint(vtpm_sock_read(sv[0], buf, 4, 10, 10,
                                   vtpm_deadline_in(10000, -1)), ==, 10);
    g_assert(memcmp(buf, "0123456789", 10) == 0);
    /* enough already: no read at all */
    g_assert_cmpint(vtpm_sock_read(sv[0], buf, 10, 10, 16,
                                   vtpm_deadline_in(0, -1)), ==, 10);
    close(sv[0]);
    close(sv[1]);
}

/* A deadline that passes gives a short count; a hang-up gives -1. */
static void test_read_deadline_eof(void)
{
    uint8_t buf[8];
    int sv[2];

    socketpair_or_die(sv);
    send_all(sv[1], "x", 1);
    g_assert_cmpint(vtpm_sock_read(sv[0], buf, 0, 4, 4,
                                   vtpm_deadline_in(20, -1)), ==, 1);
    g_assert_cmpint(vtpm_sock_read(sv[0], buf, 1, 4, 4,
                                   vtpm_deadline_in(20, -1)), ==, 1);
    close(sv[1]);
    g_assert_cmpint(vtpm_sock_read(sv[0], buf, 1, 4, 4,
                                   vtpm_deadline_in(10000, -1)), ==, -1);
    close(sv[0]);
}

/* Not a socket (a pipe): read() and write() instead of recv()/send(). */
static void test_pipe(void)
{
    uint8_t buf[8];
    int p[2];

    g_assert_cmpint(pipe2(p, O_CLOEXEC), ==, 0);
    send_all(p[1], "pipe", 4);
    g_assert_cmpint(vtpm_sock_read(p[0], buf, 0, 4, sizeof(buf),
                                   vtpm_deadline_in(10000, -1)), ==, 4);
    g_assert(memcmp(buf, "pipe", 4) == 0);
    close(p[0]);
    close(p[1]);
}

/* A passed descriptor arrives close-on-exec; without one, -1. */
static void test_recv_fd(void)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } cmsgbuf;
    struct iovec iov = { .iov_base = "\0\0\0\x10", .iov_len = 4 };
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = cmsgbuf.buf, .msg_controllen = sizeof(cmsgbuf.buf),
    };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    uint8_t buf[8];
    int sv[2], p[2], got = -2;

    socketpair_or_die(sv);
    g_assert_cmpint(pipe2(p, O_CLOEXEC), ==, 0);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &p[1], sizeof(int));
    g_assert_cmpint(sendmsg(sv[1], &msg, 0), ==, 4);
    close(p[1]);

    g_assert_cmpint(vtpm_sock_recv_fd(sv[0], buf, sizeof(buf), &got), ==, 4);
    g_assert_cmpint(got, >=, 0);
    g_assert_cmpint(fcntl(got, F_GETFD) & FD_CLOEXEC, ==, FD_CLOEXEC);
    send_all(got, "!", 1);
    g_assert_cmpint(read(p[0], buf, 1), ==, 1);
    close(got);

    /* no descriptor, and EOF */
    send_all(sv[1], "ab", 2);
    g_assert_cmpint(vtpm_sock_recv_fd(sv[0], buf, sizeof(buf), &got), ==, 2);
    g_assert_cmpint(got, ==, -1);
    close(sv[1]);
    g_assert_cmpint(vtpm_sock_recv_fd(sv[0], buf, sizeof(buf), &got), ==, 0);
    g_assert_cmpint(got, ==, -1);
    close(sv[0]);
    close(p[0]);
}

typedef struct Drain {
    int fd;
    size_t len;
    size_t got;
    bool in_order;
} Drain;

/* Read @len bytes whose value is their offset modulo 251. */
static void *drain_thread(void *opaque)
{
    Drain *d = opaque;
    uint8_t buf[4096];

    d->in_order = true;
    while (d->got < d->len) {
        ssize_t r = read(d->fd, buf, sizeof(buf));

        if (r <= 0) {
            break;
        }
        for (ssize_t i = 0; i < r; i++) {
            if (buf[i] != (d->got + i) % 251) {
                d->in_order = false;
            }
        }
        d->got += r;
    }
    return NULL;
}

/*
 * A non-blocking socket that fills up: the write waits for the reader
 * and completes; with no reader it gives up at its deadline (a spinning
 * loop never returns here).
 */
static void test_write_nonblocking(void)
{
    size_t len = 8 * 1024 * 1024;
    uint8_t *big = g_malloc(len);
    Drain d = { .len = len };
    pthread_t th;
    int sv[2];

    for (size_t i = 0; i < len; i++) {
        big[i] = i % 251;
    }
    socketpair_or_die(sv);
    g_assert_cmpint(fcntl(sv[0], F_SETFL, O_NONBLOCK), ==, 0);

    g_assert_cmpint(vtpm_sock_write(sv[0], big, len, vtpm_deadline_in(20, -1)),
                    ==, -ETIMEDOUT);

    close(sv[0]);
    close(sv[1]);
    socketpair_or_die(sv);
    g_assert_cmpint(fcntl(sv[0], F_SETFL, O_NONBLOCK), ==, 0);
    d.fd = sv[1];
    g_assert_cmpint(pthread_create(&th, NULL, drain_thread, &d), ==, 0);
    g_assert_cmpint(vtpm_sock_write(sv[0], big, len,
                                    vtpm_deadline_in(10000, -1)), ==, 0);
    pthread_join(th, NULL);
    g_assert_cmpuint(d.got, ==, len);
    g_assert_true(d.in_order);

    /* the peer is gone: an error, and no SIGPIPE */
    close(sv[1]);
    g_assert_cmpint(vtpm_sock_write(sv[0], big, 16,
                                    vtpm_deadline_in(10000, -1)), ==, -EPIPE);
    close(sv[0]);
    g_free(big);
}

typedef struct Trickle {
    int fd;
    atomic_bool stop;
} Trickle;

/* One byte every 10 ms until told to stop. */
static void *trickle_thread(void *opaque)
{
    Trickle *t = opaque;

    while (!atomic_load(&t->stop)) {
        if (write(t->fd, "x", 1) != 1) {
            break;
        }
        g_usleep(10000);
    }
    return NULL;
}

/*
 * Each byte arrives well within the deadline, the whole never does: the
 * read ends short at the deadline (with a per-byte timeout it would only
 * end once all 100000 bytes came, after some 17 minutes).
 */
static void test_read_trickle(void)
{
    size_t len = 100000;
    uint8_t *buf = g_malloc(len);
    Trickle t = { .stop = false };
    pthread_t th;
    ssize_t r;
    int sv[2];

    socketpair_or_die(sv);
    t.fd = sv[1];
    g_assert_cmpint(pthread_create(&th, NULL, trickle_thread, &t), ==, 0);
    r = vtpm_sock_read(sv[0], buf, 0, len, len, vtpm_deadline_in(200, -1));
    g_assert_cmpint(r, >=, 0);
    g_assert_cmpint(r, <, len);
    atomic_store(&t.stop, true);
    pthread_join(th, NULL);
    close(sv[0]);
    close(sv[1]);
    g_free(buf);
}

/* A readable cancel fd ends reads and writes at once (deadline: never). */
static void test_cancel(void)
{
    size_t len = 8 * 1024 * 1024;
    uint8_t *big = g_malloc0(len);
    int sv[2], p[2];

    socketpair_or_die(sv);
    g_assert_cmpint(pipe2(p, O_CLOEXEC), ==, 0);
    g_assert_cmpint(write(p[1], "q", 1), ==, 1);
    send_all(sv[1], "ab", 2);
    g_assert_cmpint(vtpm_sock_read(sv[0], big, 0, 4, 4,
                                   vtpm_deadline_in(INT_MAX, p[0])), ==, 2);
    g_assert_cmpint(vtpm_sock_write(sv[0], big, len,
                                    vtpm_deadline_in(INT_MAX, p[0])),
                    ==, -ETIMEDOUT);
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
    g_free(big);
}

/* Single steps: bytes, 0 when nothing is there (or no room), -1 at EOF. */
static void test_some(void)
{
    uint8_t buf[16];
    int sv[2];

    socketpair_or_die(sv);
    g_assert_cmpint(vtpm_sock_read_some(sv[0], buf, sizeof(buf)), ==, 0);
    g_assert_cmpint(vtpm_sock_write_some(sv[1], (const uint8_t *)"abc", 3),
                    ==, 3);
    g_assert_cmpint(vtpm_sock_read_some(sv[0], buf, sizeof(buf)), ==, 3);
    g_assert(memcmp(buf, "abc", 3) == 0);
    close(sv[1]);
    g_assert_cmpint(vtpm_sock_read_some(sv[0], buf, sizeof(buf)), ==, -1);
    g_assert_cmpint(vtpm_sock_write_some(sv[0], buf, 1), ==, -1);
    close(sv[0]);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vtpm-socket/read-min-max", test_read_min_max);
    g_test_add_func("/vtpm-socket/read-deadline-eof", test_read_deadline_eof);
    g_test_add_func("/vtpm-socket/pipe", test_pipe);
    g_test_add_func("/vtpm-socket/recv-fd", test_recv_fd);
    g_test_add_func("/vtpm-socket/write-nonblocking",
                    test_write_nonblocking);
    g_test_add_func("/vtpm-socket/read-trickle", test_read_trickle);
    g_test_add_func("/vtpm-socket/cancel", test_cancel);
    g_test_add_func("/vtpm-socket/some", test_some);
    return g_test_run();
}
