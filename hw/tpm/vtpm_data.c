/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vtpm_data.c: the data channel.  Raw TPM commands, framed by the size in
 * their header, from the fd QEMU passes with SET_DATAFD or from clients of
 * a UNIX/TCP listening socket (the swtpm TCTI connects once per command).
 */
#include "qemu/osdep.h"
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include "qemu/cutils.h"
#include "hw/tpm/tpm_ioctl.h"
#include "hw/tpm/vtpm.h"

/* Largest command we accept: libtpms' maximum buffer plus a prefix. */
#define VTPM_DATA_MAX (4096 + VTPM_SEND_CMD_HDR_SIZE)
/* How long the rest of a started command may take to arrive. */
#define VTPM_DATA_TIMEOUT_MS 10000

struct VTPMData {
    int listen_fd;
    int client_fd;
    bool client_from_ctrl;      /* the fd came with SET_DATAFD */
    bool terminate;
    void (*quit)(void *);
    void *quit_opaque;
    size_t have;                /* bytes buffered in buf */
    uint8_t buf[VTPM_DATA_MAX];
};

VTPMData *vtpm_data_new(int listen_fd, bool terminate,
                        void (*quit)(void *), void *quit_opaque)
{
    VTPMData *d = qemu_xnew0(VTPMData, 1);

    d->listen_fd = listen_fd;
    d->client_fd = -1;
    d->terminate = terminate;
    d->quit = quit;
    d->quit_opaque = quit_opaque;
    return d;
}

void vtpm_data_set_quit(VTPMData *d, void (*quit)(void *), void *opaque)
{
    d->quit = quit;
    d->quit_opaque = opaque;
}

void vtpm_data_free(VTPMData *d)
{
    if (!d) {
        return;
    }
    if (d->client_fd >= 0) {
        close(d->client_fd);
    }
    if (d->listen_fd >= 0) {
        close(d->listen_fd);
    }
    free(d);
}

static void data_close_client(VTPMData *d);

/* Has the client hung up (with nothing left to read)? */
static bool data_client_gone(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    char c;

    if (poll(&pfd, 1, 0) <= 0) {
        return false;
    }
    if (pfd.revents & (POLLHUP | POLLERR | POLLNVAL)) {
        return true;
    }
    return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

uint32_t vtpm_data_set_fd(VTPMData *d, int fd)
{
    /* A client that died a moment ago must not block its successor. */
    if (d->client_fd >= 0 && data_client_gone(d->client_fd)) {
        data_close_client(d);
    }
    if (d->client_fd >= 0) {
        return VTPM_RES_IOERROR;
    }
    d->client_fd = fd;
    d->client_from_ctrl = true;
    vtpm_log(VTPM_LOG_INFO, "data channel: fd %d from SET_DATAFD", fd);
    return VTPM_RES_SUCCESS;
}

void vtpm_data_prepare(VTPMData *d, struct pollfd *pfd)
{
    pfd->events = POLLIN;
    if (d->client_fd >= 0) {
        pfd->fd = d->client_fd;
    } else {
        pfd->fd = d->listen_fd;
    }
}

static void data_close_client(VTPMData *d)
{
    bool was_ctrl = d->client_from_ctrl;

    close(d->client_fd);
    d->client_fd = -1;
    d->client_from_ctrl = false;
    d->have = 0;
    vtpm_log(VTPM_LOG_DEBUG, "data client disconnected");
    if (d->terminate || was_ctrl) {
        /* QEMU went away (or --terminate): nothing left to serve. */
        if (d->terminate && d->quit) {
            d->quit(d->quit_opaque);
        }
    }
}

/*
 * Make sure d->buf holds at least @need bytes: read what is there (a whole
 * command usually comes in one read), wait (bounded) only when nothing
 * is.  Returns 0, or -1 on EOF, error or timeout.
 */
static int data_fill(VTPMData *d, size_t need)
{
    while (d->have < need) {
        ssize_t r = recv(d->client_fd, d->buf + d->have,
                         sizeof(d->buf) - d->have, MSG_DONTWAIT);

        if (r < 0 && errno == ENOTSOCK) {
            r = read(d->client_fd, d->buf + d->have,
                     sizeof(d->buf) - d->have);
        }
        if (r > 0) {
            d->have += r;
            continue;
        }
        if (r == 0) {
            return -1;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            struct pollfd pfd = { .fd = d->client_fd, .events = POLLIN };
            int pr = poll(&pfd, 1, VTPM_DATA_TIMEOUT_MS);

            if (pr > 0 || (pr < 0 && errno == EINTR)) {
                continue;
            }
        }
        return -1;
    }
    return 0;
}

/* Drop the first @n bytes (one served command) from the buffer. */
static void data_consume(VTPMData *d, size_t n)
{
    memmove(d->buf, d->buf + n, d->have - n);
    d->have -= n;
}

static int data_write_full(int fd, const uint8_t *buf, size_t len)
{
    size_t done = 0;

    while (done < len) {
        ssize_t r = send(fd, buf + done, len - done, MSG_NOSIGNAL);

        if (r < 0 && errno == ENOTSOCK) {
            r = write(fd, buf + done, len - done);
        }
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (r <= 0) {
            return -1;
        }
        done += r;
    }
    return 0;
}

/* Read and answer one command from the client. */
static void data_serve_one(VTPMData *d, VTPMEngine *e)
{
    const uint8_t *rsp;
    uint32_t rsp_len, size, cmd_off = 0;
    bool cmd_header = false;
    uint8_t loc_saved = 0;
    uint8_t err_rsp[10];

    if (data_fill(d, 10) < 0) {
        data_close_client(d);
        return;
    }
    /*
     * Command-header mode: {TPM_SEND_COMMAND u32, locality u8, size u32}
     * before the command; recognised as swtpm does (no TPM tag, code 8).
     */
    if (vtpm_engine_is_tpm2(e) && ldbe32(d->buf) == VTPM_SEND_COMMAND &&
        ldbe16(d->buf) != 0x8001 && ldbe16(d->buf) != 0x8002) {
        cmd_header = true;
        cmd_off = VTPM_SEND_CMD_HDR_SIZE;
        if (data_fill(d, cmd_off + 10) < 0) {
            data_close_client(d);
            return;
        }
    }
    size = ldbe32(d->buf + cmd_off + 2);
    if (size < 10 || size > VTPM_DATA_MAX - cmd_off) {
        /* Not a TPM command we could frame: answer and hang up. */
        vtpm_log(VTPM_LOG_ERROR, "data channel: bad command size %" PRIu32,
                 size);
        vtpm_engine_error_response(e, err_rsp);
        data_write_full(d->client_fd, err_rsp, sizeof(err_rsp));
        d->have = 0;
        if (!d->client_from_ctrl) {
            data_close_client(d);
        }
        return;
    }
    if (data_fill(d, cmd_off + size) < 0) {
        data_close_client(d);
        return;
    }
    if (cmd_header) {
        loc_saved = vtpm_engine_get_locality(e);
        vtpm_engine_set_locality(e, d->buf[4]);
    }
    vtpm_engine_process(e, d->buf + cmd_off, size, &rsp, &rsp_len);
    data_consume(d, cmd_off + size);
    if (cmd_header) {
        /* {size u32} + response + 4 zero bytes, in one write */
        uint8_t *out = qemu_xmalloc(rsp_len + 8);

        vtpm_engine_set_locality(e, loc_saved);
        stbe32(out, rsp_len);
        memcpy(out + 4, rsp, rsp_len);
        memset(out + 4 + rsp_len, 0, 4);
        if (data_write_full(d->client_fd, out, rsp_len + 8) < 0) {
            data_close_client(d);
        }
        free(out);
        return;
    }
    if (data_write_full(d->client_fd, rsp, rsp_len) < 0) {
        data_close_client(d);
    }
}

void vtpm_data_dispatch(VTPMData *d, VTPMEngine *e, struct pollfd *pfd)
{
    if (d->client_fd >= 0 && pfd->fd == d->client_fd) {
        do {
            data_serve_one(d, e);
            /* a client that sent more than one command at once */
        } while (d->client_fd >= 0 && d->have >= 10);
        return;
    }
    if (d->listen_fd >= 0 && pfd->fd == d->listen_fd) {
        int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        int one = 1;

        if (fd < 0) {
            return;
        }
        /* answers leave in one write each: never hold them back (TCP) */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        d->client_fd = fd;
        d->client_from_ctrl = false;
        vtpm_log(VTPM_LOG_DEBUG, "data client connected");
    }
}
