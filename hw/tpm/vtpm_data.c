/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vtpm_data.c: the data channel.  Raw TPM commands, framed by the size in
 * their header, from the fd QEMU passes with SET_DATAFD and from one client
 * of a UNIX/TCP listening socket (the swtpm TCTI connects once per
 * command).  The engine thread serves it between jobs as an event loop
 * (vtpm_data_engine_client) that never blocks: non-blocking sockets,
 * bounded buffers, whole-message deadlines; a client that misses one is
 * dropped with a log line.  QEMU's channel is served first and is never
 * dropped for being idle; an idle socket client gives way to a new one.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "hw/tpm/tpm_ioctl.h"
#include "hw/tpm/vtpm.h"

/* Largest command we accept: libtpms' maximum buffer plus a prefix. */
#define VTPM_DATA_MAX (4096 + VTPM_SEND_CMD_HDR_SIZE)

enum { CONN_QEMU, CONN_SOCKET, CONN_COUNT };

/* One data connection: a command coming in, or an answer going out. */
typedef struct DataConn {
    int fd;                     /* -1: none */
    size_t have;                /* bytes buffered in buf */
    int64_t in_due;             /* a command started: due whole by then */
    uint8_t *out;               /* an answer not yet written (malloc'ed) */
    size_t out_len, out_done;
    int64_t out_due;            /* ... must be read by then */
    bool close_after_out;       /* hang up once the answer is out */
    uint8_t buf[VTPM_DATA_MAX];
} DataConn;

struct VTPMData {
    VTPMDataConfig cfg;
    void (*quit)(void *);
    void *quit_opaque;
    DataConn conn[CONN_COUNT];  /* QEMU's (SET_DATAFD) first */
};

static const char *const conn_name[CONN_COUNT] = {
    "data channel (SET_DATAFD)", "data client",
};

VTPMData *vtpm_data_new(const VTPMDataConfig *cfg,
                        void (*quit)(void *), void *quit_opaque)
{
    VTPMData *d = qemu_xnew0(VTPMData, 1);

    d->cfg = *cfg;
    d->quit = quit;
    d->quit_opaque = quit_opaque;
    for (int i = 0; i < CONN_COUNT; i++) {
        d->conn[i].fd = -1;
    }
    if (cfg->client_fd >= 0) {
        vtpm_sock_set_nonblock(cfg->client_fd);
        d->conn[CONN_SOCKET].fd = cfg->client_fd;
    }
    return d;
}

void vtpm_data_set_quit(VTPMData *d, void (*quit)(void *), void *opaque)
{
    d->quit = quit;
    d->quit_opaque = opaque;
}

static void conn_reset(DataConn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
    }
    free(c->out);
    c->fd = -1;
    c->have = 0;
    c->in_due = 0;
    c->out = NULL;
    c->out_len = c->out_done = 0;
    c->out_due = 0;
    c->close_after_out = false;
}

void vtpm_data_free(VTPMData *d)
{
    if (!d) {
        return;
    }
    for (int i = 0; i < CONN_COUNT; i++) {
        conn_reset(&d->conn[i]);
    }
    if (d->cfg.listen_fd >= 0) {
        close(d->cfg.listen_fd);
    }
    free(d);
}

/*
 * Close connection @i.  @why (NULL: the peer hung up, or we did as asked)
 * is logged as an error: a client we drop misbehaved.  With --terminate
 * a lost connection ends the daemon, one we close after an answer
 * (disconnect) does not.
 */
static void data_close(VTPMData *d, int i, const char *why, bool lost)
{
    DataConn *c = &d->conn[i];

    if (why) {
        vtpm_log(VTPM_LOG_ERROR, "%s dropped: %s", conn_name[i], why);
    } else {
        vtpm_log(VTPM_LOG_DEBUG, "%s disconnected", conn_name[i]);
    }
    conn_reset(c);
    if (lost && d->cfg.terminate && d->quit) {
        d->quit(d->quit_opaque);
    }
}

uint32_t vtpm_data_set_fd(VTPMData *d, int fd)
{
    DataConn *c = &d->conn[CONN_QEMU];

    /* A client that died a moment ago must not block its successor. */
    if (c->fd >= 0 && vtpm_sock_peer_gone(c->fd)) {
        data_close(d, CONN_QEMU, NULL, false);
    }
    if (c->fd >= 0) {
        return VTPM_RES_IOERROR;
    }
    vtpm_sock_set_nonblock(fd);
    c->fd = fd;
    vtpm_log(VTPM_LOG_INFO, "data channel: fd %d from SET_DATAFD", fd);
    return VTPM_RES_SUCCESS;
}

/* ---- framing and answering ----------------------------------------------- */

/* One framed command in c->buf. */
typedef struct DataCmd {
    uint32_t off;               /* VTPM_SEND_CMD_HDR_SIZE in command-header
                                   mode, else 0 */
    uint32_t size;              /* from the TPM header */
} DataCmd;

/*
 * Is a whole command in c->buf?  1 with @cmd filled, 0 when more is to
 * come, -1 when it cannot be framed.
 */
static int data_frame(DataConn *c, VTPMEngine *e, DataCmd *cmd)
{
    cmd->off = 0;
    if (c->have < 10) {
        return 0;
    }
    /*
     * Command-header mode: {TPM_SEND_COMMAND u32, locality u8, size u32}
     * before the command; recognised as swtpm does (no TPM tag, code 8).
     */
    if (vtpm_engine_is_tpm2(e) && ldbe32(c->buf) == VTPM_SEND_COMMAND &&
        ldbe16(c->buf) != 0x8001 && ldbe16(c->buf) != 0x8002) {
        cmd->off = VTPM_SEND_CMD_HDR_SIZE;
        if (c->have < cmd->off + 10) {
            return 0;
        }
    }
    cmd->size = ldbe32(c->buf + cmd->off + 2);
    if (cmd->size < 10 || cmd->size > VTPM_DATA_MAX - cmd->off) {
        return -1;
    }
    return c->have >= cmd->off + cmd->size ? 1 : 0;
}

/* Send what we can of the pending answer; -1 when the client is gone. */
static int data_flush(DataConn *c)
{
    while (c->out && c->out_done < c->out_len) {
        ssize_t r = vtpm_sock_write_some(c->fd, c->out + c->out_done,
                                         c->out_len - c->out_done);

        if (r < 0) {
            return -1;
        }
        if (r == 0) {
            return 0;
        }
        c->out_done += r;
    }
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_done = 0;
    c->out_due = 0;
    return 0;
}

/* Queue an answer (copied) and start sending it. */
static int data_answer(DataConn *c, const uint8_t *rsp, size_t len,
                       const uint8_t *prefix, size_t prefix_len,
                       size_t suffix_zeroes)
{
    c->out_len = prefix_len + len + suffix_zeroes;
    c->out = qemu_xmalloc(c->out_len);
    memcpy(c->out, prefix, prefix_len);
    memcpy(c->out + prefix_len, rsp, len);
    memset(c->out + prefix_len + len, 0, suffix_zeroes);
    c->out_done = 0;
    c->out_due = vtpm_now_ms() + VTPM_DATA_DEADLINE_MS;
    return data_flush(c);
}

/*
 * Run the command at the start of c->buf and queue its answer.  Returns
 * -1 when the client is gone.
 */
static int data_run(VTPMData *d, int i, VTPMEngine *e, const DataCmd *cmd)
{
    DataConn *c = &d->conn[i];
    const uint8_t *rsp;
    uint32_t rsp_len;
    uint8_t loc_saved = 0, size_be[4];
    int ret;

    if (cmd->off) {
        loc_saved = vtpm_engine_get_locality(e);
        vtpm_engine_set_locality(e, c->buf[4]);
    }
    vtpm_engine_process(e, c->buf + cmd->off, cmd->size, &rsp, &rsp_len);
    if (cmd->off) {
        /* {size u32} + response + 4 zero bytes, in one write */
        vtpm_engine_set_locality(e, loc_saved);
        stbe32(size_be, rsp_len);
        ret = data_answer(c, rsp, rsp_len, size_be, 4, 4);
    } else {
        ret = data_answer(c, rsp, rsp_len, NULL, 0, 0);
    }
    memmove(c->buf, c->buf + cmd->off + cmd->size,
            c->have - cmd->off - cmd->size);
    c->have -= cmd->off + cmd->size;
    /* what is left is the start of the next command: due from now */
    c->in_due = c->have ? vtpm_now_ms() + VTPM_DATA_DEADLINE_MS : 0;
    if (i == CONN_SOCKET && d->cfg.disconnect) {
        c->close_after_out = true;
    }
    return ret;
}

/*
 * Serve the commands that are whole in c->buf, one answer at a time (the
 * next waits until the last is out).  Returns -1 when the connection was
 * closed.
 */
static int data_serve(VTPMData *d, int i, VTPMEngine *e)
{
    DataConn *c = &d->conn[i];
    uint8_t err_rsp[10];
    DataCmd cmd;
    int r;

    while (!c->out && !c->close_after_out &&
           (r = data_frame(c, e, &cmd)) != 0) {
        if (r < 0) {
            /* Not a TPM command we could frame: answer and hang up. */
            vtpm_log(VTPM_LOG_ERROR, "%s: bad command size %" PRIu32,
                     conn_name[i], cmd.size);
            vtpm_engine_error_response(e, err_rsp);
            c->have = 0;
            c->in_due = 0;
            if (data_answer(c, err_rsp, sizeof(err_rsp), NULL, 0, 0) < 0) {
                data_close(d, i, NULL, true);
                return -1;
            }
            /* QEMU's channel stays: it cannot connect again */
            c->close_after_out = i == CONN_SOCKET;
            break;
        }
        if (data_run(d, i, e, &cmd) < 0) {
            data_close(d, i, NULL, true);
            return -1;
        }
    }
    if (!c->out && c->close_after_out) {
        data_close(d, i, NULL, !d->cfg.disconnect);
        return -1;
    }
    return 0;
}

/* ---- served by the engine thread ----------------------------------------- */

static bool conn_idle(const DataConn *c)
{
    return c->fd >= 0 && !c->have && !c->out;
}

static void due_min(int64_t *due, int64_t t)
{
    if (t && (!*due || t < *due)) {
        *due = t;
    }
}

static int data_prepare(void *opaque, struct pollfd *pfds, int64_t *due)
{
    VTPMData *d = opaque;
    int n = 0;

    *due = 0;
    for (int i = 0; i < CONN_COUNT; i++) {
        DataConn *c = &d->conn[i];

        if (c->fd < 0) {
            continue;
        }
        /* one answer at a time: no reading while one is pending */
        pfds[n].fd = c->fd;
        pfds[n].events = c->out ? POLLOUT : POLLIN;
        n++;
        due_min(due, c->in_due);
        due_min(due, c->out_due);
    }
    /* A new socket client is taken when the last one left or idles. */
    if (d->cfg.listen_fd >= 0 &&
        (d->conn[CONN_SOCKET].fd < 0 || conn_idle(&d->conn[CONN_SOCKET]))) {
        pfds[n].fd = d->cfg.listen_fd;
        pfds[n].events = POLLIN;
        n++;
    }
    return n;
}

static short revents_of(const struct pollfd *pfds, int n, int fd)
{
    for (int i = 0; i < n; i++) {
        if (pfds[i].fd == fd) {
            return pfds[i].revents;
        }
    }
    return 0;
}

/* Connection @i was ready (@rev) or a deadline may have passed. */
static void data_step(VTPMData *d, int i, VTPMEngine *e, short rev)
{
    DataConn *c = &d->conn[i];
    int64_t now;

    if (c->out && rev) {
        if (data_flush(c) < 0) {
            data_close(d, i, NULL, true);
            return;
        }
    } else if (!c->out && rev && c->have < sizeof(c->buf)) {
        ssize_t r = vtpm_sock_read_some(c->fd, c->buf + c->have,
                                        sizeof(c->buf) - c->have);

        if (r < 0) {
            if (c->have) {
                vtpm_log(VTPM_LOG_ERROR, "%s hung up in the middle of a "
                         "command", conn_name[i]);
            }
            data_close(d, i, NULL, true);
            return;
        }
        if (r > 0 && !c->in_due) {
            c->in_due = vtpm_now_ms() + VTPM_DATA_DEADLINE_MS;
        }
        c->have += r;
    }
    if (data_serve(d, i, e) < 0) {
        return;
    }
    now = vtpm_now_ms();
    if (c->out && now >= c->out_due) {
        data_close(d, i, "it did not read its answer within the deadline",
                   true);
    } else if (!c->out && c->in_due && now >= c->in_due) {
        data_close(d, i, "its command did not arrive whole within the "
                   "deadline", true);
    }
}

static void data_accept(VTPMData *d)
{
    int fd = vtpm_sock_accept(d->cfg.listen_fd, &d->cfg.peer,
                              conn_name[CONN_SOCKET]);

    if (fd < 0) {
        return;
    }
    if (d->conn[CONN_SOCKET].fd >= 0) {
        /* idle (else we had not polled): the channel goes to the new one */
        data_close(d, CONN_SOCKET, "it was idle and a new client connected",
                   true);
    }
    d->conn[CONN_SOCKET].fd = fd;
    vtpm_log(VTPM_LOG_DEBUG, "data client connected");
}

static void data_dispatch(void *opaque, VTPMEngine *e,
                          const struct pollfd *pfds, int n)
{
    VTPMData *d = opaque;

    for (int i = 0; i < CONN_COUNT; i++) {
        if (d->conn[i].fd >= 0) {
            data_step(d, i, e, revents_of(pfds, n, d->conn[i].fd));
        }
    }
    if (d->cfg.listen_fd >= 0 &&
        revents_of(pfds, n, d->cfg.listen_fd) &&
        (d->conn[CONN_SOCKET].fd < 0 || conn_idle(&d->conn[CONN_SOCKET]))) {
        data_accept(d);
    }
}

const VTPMEngineClient vtpm_data_engine_client = {
    .prepare = data_prepare,
    .dispatch = data_dispatch,
};
