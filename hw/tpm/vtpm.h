/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vtpm.h: the rooms of the vTPM daemon and how they meet, lowest first:
 * log, sockets, storage (NVRAM store + migration lock states), the libtpms
 * engine thread, then what uses the engine: the data channel it serves,
 * the migration blobs and the control channel.  docs/devel/vtpm.rst.
 */
#ifndef HW_TPM_VTPM_H
#define HW_TPM_VTPM_H

#include "qemu/osdep.h"
#include <poll.h>
#include "qemu/error.h"
#include "block/block-backend.h"
#include "hw/tpm/tpm_nvram.h"

/* ---- logging (the tool installs a sink; library code never prints) ---- */

#define VTPM_LOG_ERROR 1
#define VTPM_LOG_INFO  2
#define VTPM_LOG_DEBUG 3
#define VTPM_LOG_TRACE 20       /* hex dumps of every message */

typedef void VTPMLogFn(int level, const char *msg);
void vtpm_set_log(VTPMLogFn *fn, int level);
bool vtpm_log_enabled(int level);
void vtpm_log(int level, const char *fmt, ...) QEMU_PRINTF(2, 3);
void vtpm_log_hex(const char *what, const uint8_t *buf, size_t len);
/* Log @err's message at VTPM_LOG_ERROR and free it. */
void vtpm_log_err(Error *err);

/* ---- sockets (vtpm_socket.c) ------------------------------------------ */

/*
 * A whole message (a request, or an answer) is due by an absolute time:
 * a client that trickles it a byte at a time is still cut off then.  A
 * wait also ends at once when @cancel_fd (the quit pipe; -1: none)
 * becomes readable, so a signal never waits for a slow client.
 */
typedef struct VTPMDeadline {
    int64_t at_ms;              /* monotonic ms (vtpm_now_ms) */
    int cancel_fd;
} VTPMDeadline;

int64_t vtpm_now_ms(void);
VTPMDeadline vtpm_deadline_in(int ms, int cancel_fd);

/*
 * Who may connect to a UNIX socket, checked on each accept with
 * SO_PEERCRED as the socket file's permissions would: root, our own user
 * and @uid always; the group @gid when @mode gives it read and write
 * (the peer's primary group), anyone when @mode gives others read and
 * write.  With @set_owner the socket file is chown'ed to @uid:@gid.
 */
typedef struct VTPMPeerRule {
    bool check;                 /* false: anyone (TCP) */
    bool set_owner;
    uid_t uid;
    gid_t gid;
    mode_t mode;
    /*
     * Run as swtpm: the owner, group and mode are those this socket file
     * has at each accept (libvirt hands the socket to QEMU's user by
     * chown'ing it after the daemon started); NULL: the above.
     */
    const char *follow_path;
} VTPMPeerRule;

/* Listening UNIX socket with @rule's mode, or TCP socket on @host. */
int vtpm_listen_unix(const char *path, const VTPMPeerRule *rule,
                     Error **errp);
int vtpm_listen_tcp(const char *host, int port, Error **errp);
/*
 * Accept a client: non-blocking, close-on-exec, replies never held back.
 * One that @rule (may be NULL) does not admit is logged (naming @what)
 * and closed.  -1 if none.
 */
int vtpm_sock_accept(int listen_fd, const VTPMPeerRule *rule,
                     const char *what);
int vtpm_sock_set_nonblock(int fd);
/* Has the peer hung up, with nothing left to read?  Never waits. */
bool vtpm_sock_peer_gone(int fd);
/*
 * One recvmsg of up to @len bytes; a descriptor passed with it goes to
 * *passed_fd (-1 if none; any further ones are closed).  Returns the byte
 * count, 0 at EOF, -1 on error.
 */
ssize_t vtpm_sock_recv_fd(int fd, uint8_t *buf, size_t len, int *passed_fd);
/*
 * One non-blocking step: the bytes moved, 0 when it would block, -1 at
 * EOF (read), on a hang-up or an error.  No SIGPIPE; read()/write() on a
 * descriptor that is not a socket.
 */
ssize_t vtpm_sock_read_some(int fd, uint8_t *buf, size_t len);
ssize_t vtpm_sock_write_some(int fd, const uint8_t *buf, size_t len);
/*
 * Read into buf[@have, @max) until at least @min bytes are there (reads
 * what is available; waits only when nothing is, within @dl).  Returns the
 * new fill, short of @min when @dl passed or was cancelled, or -1 at EOF
 * or on an error.
 */
ssize_t vtpm_sock_read(int fd, uint8_t *buf, size_t have, size_t min,
                       size_t max, VTPMDeadline dl);
/*
 * Write all of @buf, waiting within @dl while the socket is full.  0,
 * -ETIMEDOUT when @dl passed or was cancelled, -EPIPE on a hang-up or an
 * error.
 */
int vtpm_sock_write(int fd, const uint8_t *buf, size_t len, VTPMDeadline dl);

/* ---- storage: the store plus the migration lock states (storage.c) --- */

typedef enum VTPMStorageState {
    VTPM_STORAGE_ACTIVE,        /* perm locks held, writes allowed */
    VTPM_STORAGE_RELEASED,      /* outgoing migration: locks dropped,
                                   every write refused */
    VTPM_STORAGE_INCOMING,      /* no perm locks yet, read-only */
} VTPMStorageState;

typedef struct VTPMStorage VTPMStorage;

/*
 * Wrap an open image and its store; takes ownership of both.  With
 * @incoming the image was opened inactive (no permission locks) and
 * vtpm_storage_activate() takes them later; the BlockBackend keeps the
 * permissions it was opened with across release and activation.
 */
VTPMStorage *vtpm_storage_new(BlockBackend *blk, TPMNvram *nv, bool incoming);
void vtpm_storage_free(VTPMStorage *st);
VTPMStorageState vtpm_storage_state(VTPMStorage *st);
/* -ENOENT (errp untouched) when @name does not exist. */
int vtpm_storage_load(VTPMStorage *st, const char *name, uint8_t **data,
                      size_t *len, Error **errp);
int vtpm_storage_store(VTPMStorage *st, const char *name,
                       const uint8_t *data, size_t len, Error **errp);
int vtpm_storage_delete(VTPMStorage *st, const char *name, Error **errp);
int vtpm_storage_validate(VTPMStorage *st, Error **errp);
/* Take the permission locks, trying @retries more times 10 ms apart. */
int vtpm_storage_activate(VTPMStorage *st, unsigned retries, Error **errp);
/* Drop the permission locks (outgoing migration); writes are refused. */
int vtpm_storage_release(VTPMStorage *st, Error **errp);

/* ---- the engine: libtpms on its own thread (vtpm_engine.c) ----------- */

typedef struct VTPMEngine VTPMEngine;

/*
 * The client the engine thread serves between jobs (the data channel).
 * Before each poll the engine asks it for up to VTPM_ENGINE_MAX_FDS
 * pollfds and the time (monotonic ms, 0: none) by which it wants to be
 * called even if none is ready; after the poll it hands them back.  The
 * client never blocks: this is all the engine knows of the rooms above
 * it: they call the engine, the engine calls them only through this.
 */
#define VTPM_ENGINE_MAX_FDS 4

typedef struct VTPMEngineClient {
    int (*prepare)(void *opaque, struct pollfd *pfds, int64_t *due_ms);
    void (*dispatch)(void *opaque, VTPMEngine *e,
                     const struct pollfd *pfds, int n);
} VTPMEngineClient;

/* TPM_SU_CLEAR / TPM_SU_STATE for vtpm_engine_startup(). */
#define VTPM_STARTUP_CLEAR 0
#define VTPM_STARTUP_STATE 1

/* Only one engine per process (libtpms is a singleton). */
VTPMEngine *vtpm_engine_new(bool tpm12, VTPMStorage *st, Error **errp);
/* Start the thread; it serves @client (may be NULL) between jobs. */
int vtpm_engine_start(VTPMEngine *e, const VTPMEngineClient *client,
                      void *opaque, Error **errp);
/* Stop the TPM (if running) and join the thread; then free. */
void vtpm_engine_free(VTPMEngine *e);

typedef void VTPMJobFn(VTPMEngine *e, void *opaque);
/* Run @fn on the engine thread and wait for it (any other thread). */
void vtpm_engine_run(VTPMEngine *e, VTPMJobFn *fn, void *opaque);

bool vtpm_engine_is_tpm2(VTPMEngine *e);
VTPMStorage *vtpm_engine_storage(VTPMEngine *e);
/* Locality for the following data commands (any thread). */
void vtpm_engine_set_locality(VTPMEngine *e, uint8_t loc);
uint8_t vtpm_engine_get_locality(VTPMEngine *e);
/* TPMLIB_CancelCommand, callable while a command runs (any thread). */
uint32_t vtpm_engine_cancel(VTPMEngine *e);
bool vtpm_engine_running(VTPMEngine *e);

/* The rest runs on the engine thread only (in a job or the data loop). */
uint32_t vtpm_engine_init_tpm(VTPMEngine *e, uint32_t init_flags);
void vtpm_engine_stop_tpm(VTPMEngine *e);
uint32_t vtpm_engine_startup(VTPMEngine *e, int type);
/*
 * Run one TPM command; *rsp points into the engine's buffer (valid until
 * the next call).  A stopped TPM answers the 10-byte error response.
 */
void vtpm_engine_process(VTPMEngine *e, const uint8_t *cmd, uint32_t len,
                         const uint8_t **rsp, uint32_t *rsp_len);
/* The 10-byte "failure" response in the TPM version's format. */
void vtpm_engine_error_response(VTPMEngine *e, uint8_t buf[10]);
/* Storage errors seen by the libtpms callbacks since the last call. */
char *vtpm_engine_take_store_error(VTPMEngine *e);
/*
 * Take the storage back (LOCK_STORAGE, the first command after an
 * outgoing release, incoming activation), trying @retries more times
 * 10 ms apart.  After a release the running TPM is authoritative and its
 * permanent state is written again.
 */
int vtpm_engine_reclaim_storage(VTPMEngine *e, unsigned retries,
                                Error **errp);

/* ---- data channel (vtpm_data.c) --------------------------------------- */

typedef struct VTPMData VTPMData;

typedef struct VTPMDataConfig {
    int listen_fd;              /* UNIX or TCP listening socket, or -1
                                   (data only through SET_DATAFD) */
    int client_fd;              /* an already connected client (swtpm's
                                   --server fd= given a socketpair end),
                                   or -1; served as an accepted one */
    VTPMPeerRule peer;          /* who may connect to it */
    bool terminate;             /* quit when a data client hangs up */
    bool disconnect;            /* close a socket client after each answer */
} VTPMDataConfig;

/*
 * Limits (docs/tools/qemu-vtpm.rst): a command is due whole this long
 * after its first byte, an answer must be read this long after it was
 * made; a client that misses either is dropped with a log line.
 */
#define VTPM_DATA_DEADLINE_MS 10000

/* @quit is called (from the engine thread) to ask the daemon to exit. */
VTPMData *vtpm_data_new(const VTPMDataConfig *cfg,
                        void (*quit)(void *), void *quit_opaque);
void vtpm_data_free(VTPMData *d);
void vtpm_data_set_quit(VTPMData *d, void (*quit)(void *), void *opaque);
/* How the engine thread serves a VTPMData (the opaque). */
extern const VTPMEngineClient vtpm_data_engine_client;
/* Engine thread (SET_DATAFD): adopt @fd; VTPM_RES_IOERROR if one exists. */
uint32_t vtpm_data_set_fd(VTPMData *d, int fd);

/* ---- migration blobs (vtpm_migration.c) ------------------------------- */

/* Engine thread: GET_STATEBLOB payload (malloc'ed, swtpm's blob format). */
uint32_t vtpm_migration_get_blob(VTPMEngine *e, uint32_t type,
                                 uint32_t req_flags, uint8_t **blob,
                                 size_t *len, uint32_t *resp_flags);
/* Engine thread: SET_STATEBLOB.  Validates the blob and the store. */
uint32_t vtpm_migration_set_blob(VTPMEngine *e, uint32_t type,
                                 uint32_t flags, const uint8_t *blob,
                                 size_t len);
/*
 * Before the engine starts: the migration key (swtpm's AES-CBC key, 16 or
 * 32 bytes; copied) that encrypts blobs in both directions, or NULL.  One
 * per process, like libtpms' own state.
 */
void vtpm_migration_set_key(const uint8_t *key, size_t len);

/* ---- control channel (vtpm_ctrl.c) ------------------------------------ */

typedef struct VTPMCtrl VTPMCtrl;

typedef struct VTPMCtrlConfig {
    int listen_fd;              /* UNIX or TCP listening socket, or -1 */
    VTPMPeerRule peer;          /* who may connect to listen_fd */
    int client_fd;              /* an already connected client, or -1 */
    bool has_key;               /* GET_CONFIG reports FILE_KEY */
    bool has_migration_key;     /* GET_CONFIG reports MIGRATION_KEY */
    bool terminate;             /* quit when the control client hangs up */
} VTPMCtrlConfig;

VTPMCtrl *vtpm_ctrl_new(VTPMEngine *e, VTPMData *d,
                        const VTPMCtrlConfig *cfg);
void vtpm_ctrl_free(VTPMCtrl *c);
/* Serve until SHUTDOWN, a quit request or a signal; returns exit status. */
int vtpm_ctrl_run(VTPMCtrl *c);
/* Async-signal-safe: make vtpm_ctrl_run() return. */
void vtpm_ctrl_quit(void *ctrl);

#endif /* HW_TPM_VTPM_H */
