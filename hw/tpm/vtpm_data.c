/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vtpm_data.c: the data channel.  Raw TPM commands, framed by the size in
 * their header, from the fd QEMU passes with SET_DATAFD or from clients of
 * a UNIX/TCP listening socket (the swtpm TCTI connects once per command).
 * The engine thread serves it between jobs (vtpm_data_engine_client).
 */
#include "qemu/osdep.h"
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

/* One framed command in d->buf. */
typedef struct DataCmd {
    uint32_t off;               /* VTPM_SEND_CMD_HDR_SIZE in command-header
                                   mode, else 0 */
    uint32_t size;              /* from the TPM header */
} DataCmd;

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

uint32_t vtpm_data_set_fd(VTPMData *d, int fd)
{
    /* A client that died a moment ago must not block its successor. */
    if (d->client_fd >= 0 && vtpm_sock_peer_gone(d->client_fd)) {
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

/*
 * Make sure d->buf holds at least @need bytes: take what is there (a whole
 * command usually comes in one read), wait (bounded) only when nothing
 * is.  Returns 0, or -1 on EOF, error or timeout.
 */
static int data_fill(VTPMData *d, size_t need)
{
    ssize_t r = vtpm_sock_read(d->client_fd, d->buf, d->have, need,
                               sizeof(d->buf),
                               vtpm_deadline_idle(VTPM_DATA_TIMEOUT_MS));

    if (r < 0) {
        return -1;
    }
    d->have = r;
    return d->have < need ? -1 : 0;
}

static int data_write(VTPMData *d, const uint8_t *buf, size_t len)
{
    return vtpm_sock_write(d->client_fd, buf, len,
                           vtpm_deadline_idle(VTPM_DATA_TIMEOUT_MS));
}

/* Drop the first @n bytes (one served command) from the buffer. */
static void data_consume(VTPMData *d, size_t n)
{
    memmove(d->buf, d->buf + n, d->have - n);
    d->have -= n;
}

/*
 * Read the next command whole.  Returns 1 with @cmd filled, 0 when it
 * could not be framed (answered with the TPM's error), -1 when the client
 * is gone.
 */
static int data_read_cmd(VTPMData *d, VTPMEngine *e, DataCmd *cmd)
{
    uint8_t err_rsp[10];

    cmd->off = 0;
    if (data_fill(d, 10) < 0) {
        return -1;
    }
    /*
     * Command-header mode: {TPM_SEND_COMMAND u32, locality u8, size u32}
     * before the command; recognised as swtpm does (no TPM tag, code 8).
     */
    if (vtpm_engine_is_tpm2(e) && ldbe32(d->buf) == VTPM_SEND_COMMAND &&
        ldbe16(d->buf) != 0x8001 && ldbe16(d->buf) != 0x8002) {
        cmd->off = VTPM_SEND_CMD_HDR_SIZE;
        if (data_fill(d, cmd->off + 10) < 0) {
            return -1;
        }
    }
    cmd->size = ldbe32(d->buf + cmd->off + 2);
    if (cmd->size < 10 || cmd->size > VTPM_DATA_MAX - cmd->off) {
        /* Not a TPM command we could frame: answer and hang up. */
        vtpm_log(VTPM_LOG_ERROR, "data channel: bad command size %" PRIu32,
                 cmd->size);
        vtpm_engine_error_response(e, err_rsp);
        data_write(d, err_rsp, sizeof(err_rsp));
        d->have = 0;
        if (!d->client_from_ctrl) {
            data_close_client(d);
        }
        return 0;
    }
    if (data_fill(d, cmd->off + cmd->size) < 0) {
        return -1;
    }
    return 1;
}

/* Read and answer one command from the client. */
static void data_serve_one(VTPMData *d, VTPMEngine *e)
{
    DataCmd cmd;
    const uint8_t *rsp;
    uint32_t rsp_len;
    uint8_t loc_saved = 0;
    uint8_t *out = NULL;
    int r = data_read_cmd(d, e, &cmd);

    if (r <= 0) {
        if (r < 0) {
            data_close_client(d);
        }
        return;
    }
    if (cmd.off) {
        loc_saved = vtpm_engine_get_locality(e);
        vtpm_engine_set_locality(e, d->buf[4]);
    }
    vtpm_engine_process(e, d->buf + cmd.off, cmd.size, &rsp, &rsp_len);
    data_consume(d, cmd.off + cmd.size);
    if (cmd.off) {
        /* {size u32} + response + 4 zero bytes, in one write */
        vtpm_engine_set_locality(e, loc_saved);
        out = qemu_xmalloc(rsp_len + 8);
        stbe32(out, rsp_len);
        memcpy(out + 4, rsp, rsp_len);
        memset(out + 4 + rsp_len, 0, 4);
        rsp = out;
        rsp_len += 8;
    }
    if (data_write(d, rsp, rsp_len) < 0) {
        data_close_client(d);
    }
    free(out);
}

/* ---- served by the engine thread ----------------------------------------- */

static void data_prepare(void *opaque, struct pollfd *pfd)
{
    VTPMData *d = opaque;

    pfd->events = POLLIN;
    if (d->client_fd >= 0) {
        pfd->fd = d->client_fd;
    } else {
        pfd->fd = d->listen_fd;
    }
}

static void data_dispatch(void *opaque, VTPMEngine *e,
                          const struct pollfd *pfd)
{
    VTPMData *d = opaque;
    int fd;

    if (d->client_fd >= 0 && pfd->fd == d->client_fd) {
        do {
            data_serve_one(d, e);
            /* a client that sent more than one command at once */
        } while (d->client_fd >= 0 && d->have >= 10);
        return;
    }
    if (d->listen_fd >= 0 && pfd->fd == d->listen_fd) {
        fd = vtpm_sock_accept(d->listen_fd);
        if (fd < 0) {
            return;
        }
        d->client_fd = fd;
        d->client_from_ctrl = false;
        vtpm_log(VTPM_LOG_DEBUG, "data client connected");
    }
}

const VTPMEngineClient vtpm_data_engine_client = {
    .prepare = data_prepare,
    .dispatch = data_dispatch,
};
