/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-vtpm-socket.c: "qemu-vtpm socket", the vTPM daemon.  Parses a
 * command line in swtpm's grammar, opens and locks the NVRAM image, then
 * serves the control channel on this thread and libtpms on the engine's.
 */
#include "qemu/osdep.h"
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include "qemu/error.h"
#include "qemu/qdict.h"
#include "qemu/cutils.h"
#include "block/block-backend.h"
#include "hw/tpm/tpm_nvram.h"
#include "hw/tpm/vtpm.h"
#include "crypto/secret.h"
#include "qemu-vtpm.h"

typedef struct SocketOpts {
    bool tpm12;
    char *nvram;
    char *key;
    char *migration_key;
    char *ctrl;
    char *server;
    char *flags;
    char *pid;
    char *log;
    char *migration;
    char *tpmstate;             /* swtpm's --tpmstate */
    char *import_state;         /* swtpm's state file the new store takes */
    bool print_caps;
    bool print_states;
    bool tpm_given;             /* --tpm2 or --tpm1.2 */
    bool swtpm;                 /* run as "swtpm" */
    bool daemon;
    bool terminate;
} SocketOpts;

static VTPMCtrl *the_ctrl;
static FILE *log_file;

static void socket_usage(FILE *f)
{
    fprintf(f,
"usage: qemu-vtpm socket [options]   (or, run as swtpm: swtpm socket ...)\n"
"\n"
"Run a TPM (libtpms) whose NVRAM lives in a raw or qcow2 image, speaking\n"
"swtpm's control and data protocol (QEMU -tpmdev emulator, swtpm_ioctl,\n"
"tpm2-tools with the swtpm TCTI).\n"
"\n"
"  --tpm2 | --tpm1.2        TPM version (default 2.0; as swtpm: 1.2)\n"
"  --nvram file=IMG[,format=raw|qcow2][,locking=auto|on|off]\n"
"          [,rollback=allow|refuse][,OPT=VAL...]\n"
"                           the image that holds the TPM state (required\n"
"                           unless --tpmstate); rollback=refuse: do not\n"
"                           start on an older state than the newest\n"
"                           committed one; other options go to the block\n"
"                           layer\n"
"  --tpmstate dir=DIR[,mode=0600] | backend-uri=dir://DIR | backend-uri=file://IMG\n"
"                           swtpm's state directory: the state is the qcow2\n"
"                           image DIR/tpm2-nvram.qcow2 (TPM 1.2:\n"
"                           DIR/tpm-nvram.qcow2), created when missing\n"
"  --print-capabilities     print swtpm's JSON of the supported features\n"
"  --print-states           print swtpm's JSON of the blobs in the store\n"
"  --key file=PATH|fd=N[,format=raw|hex|passphrase]\n"
"                           key of an encrypted store; swtpm's key options\n"
"                           (mode=, format=binary, pwdfile=, kdf=, remove)\n"
"                           work too\n"
"  --migration-key KEYSPEC  encrypt state blobs (GET/SET_STATEBLOB) with\n"
"                           this key, in swtpm's format\n"
"  --ctrl type=unixio,path=PATH[,mode=0600][,uid=U][,gid=G]\n"
"       | type=tcp,port=N[,bindaddr=A]\n"
"       | type=unixio|tcp,fd=N|clientfd=N\n"
"                           control channel (TCP: open to every local user)\n"
"  --server [type=tcp,]port=N[,bindaddr=A][,disconnect]\n"
"       | type=unixio,path=PATH[,mode=0600][,uid=U][,gid=G][,disconnect]\n"
"       | [type=tcp|unixio,]fd=N[,disconnect]\n"
"                           data channel (else only via CMD_SET_DATAFD);\n"
"                           disconnect: close it after each answer\n"
"  --flags [not-need-init][,startup-clear|startup-state|startup-none]\n"
"                           initialise (and start up) the TPM at once;\n"
"                           startup-clear/-state imply not-need-init\n"
"  --migration incoming     take the image's locks only when the state\n"
"                           arrives (SET_STATEBLOB, INIT or a command)\n"
"  --pid file=PATH|fd=N     write the process id when ready\n"
"  --log file=PATH|fd=N[,level=N][,truncate]\n"
"                           log (level 1 errors, 2 info, 3 debug, 20 dumps)\n"
"  -d, --daemon             run in the background once ready\n"
"  -t, --terminate          exit when the data client (QEMU) hangs up\n"
"  -h, --help               this text\n");
}

/* ---- logging ------------------------------------------------------------- */

static char *socket_spec_normalize(const char *spec);
static int parse_bool(const char *opt, const char *key, const char *val,
                      bool *out, Error **errp);

int vtpm_check_keys(const char *opt, const QDict *d,
                    const char *const *known, Error **errp)
{
    for (const QDictEntry *ent = qdict_first(d); ent;
         ent = qdict_next(d, ent)) {
        const char *k = qdict_entry_key(ent);
        unsigned i;

        for (i = 0; known[i] && strcmp(k, known[i]); i++) {
            /* look on */
        }
        if (!known[i]) {
            error_setg(errp, "%s: option '%s' is not supported", opt, k);
            return -EINVAL;
        }
    }
    return 0;
}

/*
 * Open @path for writing (O_CREAT plus @flags), 0600 when created, never
 * through a symbolic link (a link planted there would redirect our writes
 * to its target); the one error line names @what and the path.
 */
static int open_private(const char *path, int flags, const char *what,
                        Error **errp)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | flags,
                  0600);

    if (fd < 0 && errno == ELOOP) {
        error_setg(errp, "Could not open %s '%s': it is a symbolic link",
                   what, path);
        return -ELOOP;
    }
    if (fd < 0) {
        error_setg_errno(errp, errno, "Could not open %s '%s'", what, path);
        return -errno;
    }
    return fd;
}

/*
 * While the TPM is initialised at start-up, errors are held back from
 * stderr (a log file still gets them): a failed start reports one line,
 * the last of them, with error_report(), not every step that led to it.
 */
static bool startup_capture;
static char *startup_error;

static void socket_log(int level, const char *msg)
{
    FILE *f = log_file ? log_file : stderr;

    if (startup_capture && level <= VTPM_LOG_ERROR) {
        free(startup_error);
        startup_error = qemu_xstrdup(msg);
        if (f == stderr) {
            return;
        }
    }
    if (f == stderr) {
        fprintf(f, "%s: %s\n", error_get_progname(), msg);
    } else {
        fprintf(f, "%s\n", msg);
    }
    fflush(f);
}

static int setup_log(const char *spec, Error **errp)
{
    static const char *const known[] = {
        "file", "fd", "level", "truncate", NULL
    };
    QDict *d = NULL;
    const char *file, *fdstr, *lvl;
    int level = VTPM_LOG_ERROR, ret = 0;
    bool truncate = false;

    if (!spec) {
        vtpm_set_log(socket_log, VTPM_LOG_ERROR);
        return 0;
    }
    {
        char *norm = socket_spec_normalize(spec);

        ret = qdict_parse_keyval(&d, norm, "file", errp);
        free(norm);
        if (ret < 0) {
            return -EINVAL;
        }
    }
    if (vtpm_check_keys("--log", d, known, errp) < 0 ||
        parse_bool("--log", "truncate", qdict_get_str(d, "truncate"),
                   &truncate, errp) < 0) {
        ret = -EINVAL;
        goto out;
    }
    file = qdict_get_str(d, "file");
    fdstr = qdict_get_str(d, "fd");
    lvl = qdict_get_str(d, "level");
    if (lvl && (qemu_strtoi(lvl, NULL, 10, &level) < 0 || level < 0)) {
        error_setg(errp, "--log: invalid level '%s'", lvl);
        ret = -EINVAL;
        goto out;
    }
    if (file) {
        int fd = open_private(file, truncate ? O_TRUNC : O_APPEND,
                              "log file", errp);

        if (fd < 0) {
            ret = -EINVAL;
            goto out;
        }
        if (!(log_file = fdopen(fd, "a"))) {
            error_setg_errno(errp, errno, "Could not open log file '%s'",
                             file);
            close(fd);
            ret = -EINVAL;
            goto out;
        }
    } else if (fdstr) {
        int fd;

        if (qemu_strtoi(fdstr, NULL, 10, &fd) < 0 ||
            !(log_file = fdopen(fd, "a"))) {
            error_setg(errp, "--log: invalid fd '%s'", fdstr);
            ret = -EINVAL;
            goto out;
        }
    }
    vtpm_set_log(socket_log, level);
out:
    qdict_free(d);
    return ret;
}

/* ---- sockets ------------------------------------------------------------- */

typedef struct SockSpec {
    bool is_unix;
    char *path;
    int fd;
    int port;                   /* TCP */
    int client_fd;              /* inherited connected socket, or -1 */
    bool disconnect;
    VTPMPeerRule peer;
} SockSpec;

/*
 * swtpm writes "disconnect" (and --log's "truncate") alone: make it
 * "disconnect=true".
 */
static char *socket_spec_normalize(const char *spec)
{
    /* at most one "=true" per comma-separated word */
    char *out = qemu_xmalloc(strlen(spec) * 6 + 1), *o = out;
    const char *p = spec;

    while (*p) {
        size_t n = strcspn(p, ",");

        memcpy(o, p, n);
        o += n;
        if ((n == strlen("disconnect") && !strncmp(p, "disconnect", n)) ||
            (n == strlen("truncate") && !strncmp(p, "truncate", n))) {
            o = stpcpy(o, "=true");
        }
        p += n;
        if (*p == ',') {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

static int parse_bool(const char *opt, const char *key, const char *val,
                      bool *out, Error **errp)
{
    if (!val) {
        *out = false;
    } else if (!strcmp(val, "true") || !strcmp(val, "on") ||
               !strcmp(val, "yes")) {
        *out = true;
    } else if (!strcmp(val, "false") || !strcmp(val, "off") ||
               !strcmp(val, "no")) {
        *out = false;
    } else {
        error_setg(errp, "%s: %s must be true or false, not '%s'", opt, key,
                   val);
        return -EINVAL;
    }
    return 0;
}

/* uid=/gid=: a number or a name. */
static int parse_owner(const char *opt, const char *uidstr,
                       const char *gidstr, VTPMPeerRule *rule, Error **errp)
{
    int v;

    rule->uid = geteuid();
    rule->gid = getegid();
    if (uidstr) {
        struct passwd *pw = getpwnam(uidstr);

        if (pw) {
            rule->uid = pw->pw_uid;
        } else if (qemu_strtoi(uidstr, NULL, 10, &v) == 0 && v >= 0) {
            rule->uid = v;
        } else {
            error_setg(errp, "%s: unknown user '%s'", opt, uidstr);
            return -EINVAL;
        }
        rule->set_owner = true;
    }
    if (gidstr) {
        struct group *gr = getgrnam(gidstr);

        if (gr) {
            rule->gid = gr->gr_gid;
        } else if (qemu_strtoi(gidstr, NULL, 10, &v) == 0 && v >= 0) {
            rule->gid = v;
        } else {
            error_setg(errp, "%s: unknown group '%s'", opt, gidstr);
            return -EINVAL;
        }
        rule->set_owner = true;
    }
    return 0;
}

/*
 * fd=N / clientfd=N: a socket the caller inherited to us (swtpm_setup
 * passes socketpair ends, libvirt could pass listening sockets).  A
 * listening socket is accepted on, any other is the client itself.
 * Whoever made it decides who reaches it: no peer check.
 */
static int inherited_socket(const char *opt, const char *key,
                            const char *val, SockSpec *out, Error **errp)
{
    int fd, listening = 0;
    socklen_t len = sizeof(listening);
    struct stat sb;

    if (qemu_strtoi(val, NULL, 10, &fd) < 0 || fd < 0 ||
        fstat(fd, &sb) < 0 || !S_ISSOCK(sb.st_mode)) {
        error_setg(errp, "%s: %s=%s is not an open socket", opt, key, val);
        return -EINVAL;
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0) {
        listening = 0;
    }
    if (!strcmp(key, "clientfd") || !listening) {
        out->client_fd = fd;
    } else {
        out->fd = fd;
    }
    out->peer.check = false;
    out->is_unix = true;        /* no TCP warning: not ours to judge */
    return 0;
}

/*
 * --ctrl/--server: type=unixio,path=P[,mode=M][,uid=U][,gid=G] or
 * type=tcp,port=N[,bindaddr=A] or (swtpm's) fd=N, and for --ctrl
 * clientfd=N; --server also takes disconnect[=BOOL] and, like swtpm,
 * defaults to type=tcp.
 */
static int open_socket(const char *opt, const char *spec, bool swtpm,
                       SockSpec *out, Error **errp)
{
    static const char *const known[] = {
        "type", "path", "port", "mode", "bindaddr", "uid", "gid",
        "disconnect", "fd", "clientfd", NULL
    };
    bool is_server = !strcmp(opt, "--server");
    char *norm = socket_spec_normalize(spec);
    QDict *d = NULL;
    const char *type, *path, *port, *mode, *bindaddr, *fdstr, *cfdstr;
    int ret = -EINVAL;

    out->fd = -1;
    out->client_fd = -1;
    out->path = NULL;
    if (qdict_parse_keyval(&d, norm, "type", errp) < 0) {
        free(norm);
        return -EINVAL;
    }
    free(norm);
    if (vtpm_check_keys(opt, d, known, errp) < 0) {
        goto out;
    }
    type = qdict_get_str(d, "type");
    path = qdict_get_str(d, "path");
    port = qdict_get_str(d, "port");
    mode = qdict_get_str(d, "mode");
    bindaddr = qdict_get_str(d, "bindaddr");
    fdstr = qdict_get_str(d, "fd");
    cfdstr = qdict_get_str(d, "clientfd");
    if (!type && is_server) {
        type = "tcp";
    }
    if (cfdstr && is_server) {
        error_setg(errp, "%s: clientfd is an option of --ctrl (use fd=)",
                   opt);
        goto out;
    }
    if (fdstr || cfdstr) {
        if (path || port || mode || bindaddr || qdict_get_str(d, "uid") ||
            qdict_get_str(d, "gid") || (fdstr && cfdstr)) {
            error_setg(errp, "%s: %s= excludes path, port, mode, bindaddr, "
                       "uid and gid", opt, fdstr ? "fd" : "clientfd");
            goto out;
        }
        if (type && strcmp(type, "unixio") && strcmp(type, "tcp")) {
            error_setg(errp, "%s: type must be unixio or tcp", opt);
            goto out;
        }
        if (is_server && parse_bool(opt, "disconnect",
                                    qdict_get_str(d, "disconnect"),
                                    &out->disconnect, errp) < 0) {
            goto out;
        }
        if (!is_server && qdict_get_str(d, "disconnect")) {
            error_setg(errp, "%s: disconnect is an option of --server", opt);
            goto out;
        }
        ret = inherited_socket(opt, fdstr ? "fd" : "clientfd",
                               fdstr ? fdstr : cfdstr, out, errp);
        goto out;
    }
    if (is_server) {
        if (parse_bool(opt, "disconnect", qdict_get_str(d, "disconnect"),
                       &out->disconnect, errp) < 0) {
            goto out;
        }
    } else if (qdict_get_str(d, "disconnect")) {
        error_setg(errp, "%s: disconnect is an option of --server", opt);
        goto out;
    }
    if (type && !strcmp(type, "unixio")) {
        long m = 0600;

        if (!path) {
            error_setg(errp, "%s: type=unixio needs path=", opt);
            goto out;
        }
        if (mode) {
            char *end;

            m = strtol(mode, &end, 8);
            if (*end || m < 0 || m > 0777) {
                error_setg(errp, "%s: invalid mode '%s'", opt, mode);
                goto out;
            }
        }
        out->peer.check = true;
        out->peer.mode = m;
        if (parse_owner(opt, qdict_get_str(d, "uid"),
                        qdict_get_str(d, "gid"), &out->peer, errp) < 0) {
            goto out;
        }
        ret = vtpm_listen_unix(path, &out->peer, errp);
        if (ret >= 0) {
            out->is_unix = true;
            out->path = qemu_xstrdup(path);
            if (swtpm) {
                /* as swtpm: the file's permissions decide, also later */
                out->peer.follow_path = out->path;
            }
        }
    } else if (type && !strcmp(type, "tcp")) {
        int p;

        if (!port || qemu_strtoi(port, NULL, 10, &p) < 0 || p <= 0 ||
            p > 65535) {
            error_setg(errp, "%s: type=tcp needs port=1..65535", opt);
            goto out;
        }
        ret = vtpm_listen_tcp(bindaddr, p, errp);
        out->port = p;
    } else {
        error_setg(errp, "%s: type must be unixio or tcp", opt);
        goto out;
    }
    if (ret >= 0) {
        out->fd = ret;
        ret = 0;
    }
out:
    qdict_free(d);
    return ret;
}

/* ---- the image ----------------------------------------------------------- */

static VTPMStorage *open_storage(const SocketOpts *o, bool incoming,
                                 Error **errp)
{
    QDict *d = NULL, *opts;
    const char *file, *format, *locking, *rollback;
    TPMNvramOpenOptions nv_opts = TPM_NVRAM_OPEN_OPTIONS_DEFAULT;
    TPMNvramInfo info;
    TPMNvramKey *key = NULL;
    BlockBackend *blk = NULL;
    TPMNvram *nv = NULL;
    int flags = BDRV_O_RDWR | BDRV_O_RESIZE | BDRV_O_NO_SHARE;
    VTPMStorage *st = NULL;
    Error *local_err = NULL;

    if (qdict_parse_keyval(&d, o->nvram, "file", errp) < 0) {
        return NULL;
    }
    file = qdict_get_str(d, "file");
    format = qdict_get_str(d, "format");
    locking = qdict_get_str(d, "locking");
    rollback = qdict_get_str(d, "rollback");
    if (!file) {
        error_setg(errp, "--nvram needs file=IMAGE");
        goto out;
    }
    if (rollback && !strcmp(rollback, "refuse")) {
        nv_opts.flags |= TPM_NVRAM_OPEN_REFUSE_ROLLBACK;
    } else if (rollback && strcmp(rollback, "allow")) {
        error_setg(errp, "--nvram: rollback must be allow or refuse, not "
                   "'%s'", rollback);
        goto out;
    }
    if (format && strcmp(format, "raw") && strcmp(format, "qcow2")) {
        error_setg(errp, "--nvram: format must be raw or qcow2, not '%s'",
                   format);
        goto out;
    }
    if (o->key && tpm_nvram_key_parse(o->key, &key, errp) < 0) {
        goto out;
    }
    if (access(file, F_OK) < 0) {
        error_setg_errno(errp, errno, "Could not open '%s'", file);
        goto out;
    }
    opts = qdict_new();
    if (format) {
        qdict_put_str(opts, "driver", format);
    }
    if (locking) {
        qdict_put_str(opts, "file.locking", locking);
    }
    /* Anything else is a block option, as with QEMU's -drive. */
    for (const QDictEntry *ent = qdict_first(d); ent;
         ent = qdict_next(d, ent)) {
        const char *k = qdict_entry_key(ent);

        if (strcmp(k, "file") && strcmp(k, "format") &&
            strcmp(k, "locking") && strcmp(k, "rollback")) {
            qdict_put_str(opts, k, qdict_entry_value(ent));
        }
    }
    if (incoming) {
        flags |= BDRV_O_INACTIVE;
    }
    blk = blk_new_open(file, opts, flags, &local_err);
    if (!blk) {
        /* Name the image in the one line the user sees (lock conflicts
         * name it only in the hint). */
        if (!strstr(error_get_pretty(local_err), file)) {
            error_prepend(&local_err, "Could not open '%s': ", file);
        }
        error_propagate(errp, local_err);
        goto out;
    }
    nv = tpm_nvram_open_opts(blk, key, &nv_opts, errp);
    if (!nv) {
        goto out;
    }
    /* A state older than the newest committed one is never silent. */
    if (tpm_nvram_get_info(nv, &info, errp) < 0) {
        goto out;
    }
    if (info.fallback != TPM_NVRAM_FALLBACK_NONE) {
        if (log_file) {
            vtpm_log(VTPM_LOG_ERROR, "%s", info.fallback_why);
        }
        warn_report("%s", info.fallback_why);
    }
    /* A store we cannot read fails now, not at the guest's first boot. */
    if (tpm_nvram_validate(nv, errp) < 0) {
        goto out;
    }
    /* A store just made in a directory that holds swtpm's state: the TPM
     * is the one swtpm ran (same EK), read with the same key. */
    if (o->import_state) {
        if (vtpm_swtpm_import_state(nv, key, o->import_state, errp) < 0) {
            goto out;
        }
        if (log_file) {
            vtpm_log(VTPM_LOG_INFO, "the new store took swtpm's state from "
                     "'%s'", o->import_state);
        }
    }
    st = vtpm_storage_new(blk, nv, incoming);
    blk = NULL;
    nv = NULL;
out:
    if (nv) {
        tpm_nvram_close(nv);
    }
    if (blk) {
        blk_unref(blk);
    }
    tpm_nvram_key_free(key);
    qdict_free(d);
    return st;
}

/* --migration-key: swtpm's AES-CBC key for the state blobs. */
static int setup_migration_key(const char *spec, Error **errp)
{
    TPMNvramKey *key = NULL;
    const uint8_t *swk;
    size_t len;
    int ret;

    if (tpm_nvram_key_parse(spec, &key, errp) < 0) {
        error_prepend(errp, "--migration-key: ");
        return -EINVAL;
    }
    ret = tpm_nvram_key_get_swtpm(key, &swk, &len);
    if (ret < 0) {
        error_setg(errp, "--migration-key: format=passphrase is the "
                   "store's own kind; use swtpm's pwdfile=");
    } else {
        vtpm_migration_set_key(swk, len);
    }
    tpm_nvram_key_free(key);
    return ret;
}

/*
 * The one line a failed initialisation at start-up reports: the last
 * error logged (the store's errors name the image), else the TPM's result
 * code, with the image named in either case.
 */
static void startup_error_set(Error **errp, const SocketOpts *o,
                              uint32_t res)
{
    char *why = startup_error;
    QDict *d = NULL;
    const char *file = NULL;

    startup_error = NULL;
    if (qdict_parse_keyval(&d, o->nvram, "file", NULL) == 0) {
        file = qdict_get_str(d, "file");
    }
    if (!file) {
        file = o->nvram;
    }
    if (why && strstr(why, file)) {
        error_setg(errp, "%s", why);
    } else if (why) {
        error_setg(errp, "Could not initialize the TPM with NVRAM in '%s': "
                   "%s", file, why);
    } else {
        error_setg(errp, "Could not initialize the TPM with NVRAM in '%s' "
                   "(0x%x)", file, res);
    }
    free(why);
    qdict_free(d);
}

/* ---- signals, pid file, daemon ------------------------------------------- */

static void on_signal(int sig)
{
    if (the_ctrl) {
        vtpm_ctrl_quit(the_ctrl);
    }
}

/*
 * @in_place (as swtpm): a regular file already at the path is written in
 * place, since its creator may hold it open and read it there
 * (swtpm_setup does).
 */
static int write_pid_file(const char *spec, bool in_place, char **path_out,
                          Error **errp)
{
    static const char *const known[] = { "file", "fd", NULL };
    QDict *d = NULL;
    const char *path, *fdstr;
    char buf[32];
    int fd, n, ret = 0;

    if (qdict_parse_keyval(&d, spec, "file", errp) < 0) {
        return -EINVAL;
    }
    if (vtpm_check_keys("--pid", d, known, errp) < 0) {
        qdict_free(d);
        return -EINVAL;
    }
    path = qdict_get_str(d, "file");
    fdstr = qdict_get_str(d, "fd");
    if (fdstr && !path) {
        /* swtpm's fd=: a file opened for us; written, never removed */
        n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
        if (qemu_strtoi(fdstr, NULL, 10, &fd) < 0 || fd < 0 ||
            write(fd, buf, n) != n) {
            error_setg(errp, "--pid: could not write to fd '%s'", fdstr);
            ret = -EINVAL;
        } else {
            close(fd);
        }
        qdict_free(d);
        return ret;
    }
    if (!path || fdstr) {
        error_setg(errp, "--pid needs file=PATH or fd=N");
        qdict_free(d);
        return -EINVAL;
    }
    /*
     * Write a temporary file and rename it: readers never see it half.
     * rename() replaces a link planted at @path rather than following it,
     * but we refuse one there as we do for the temporary file.
     */
    {
        char *tmp = qemu_xasprintf("%s.tmp", path);
        struct stat sb;

        if (lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode)) {
            error_setg(errp, "Could not write pid file '%s': it is a "
                       "symbolic link", path);
            free(tmp);
            qdict_free(d);
            return -ELOOP;
        }
        if (in_place && S_ISREG(sb.st_mode)) {
            /* one write of the whole line, then cut what was there */
            fd = open_private(path, 0, "pid file", errp);
            n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
            if (fd >= 0 && (write(fd, buf, n) != n || ftruncate(fd, n) < 0 ||
                            close(fd) < 0)) {
                error_setg_errno(errp, errno, "Could not write pid file "
                                 "'%s'", path);
                ret = -EIO;
            } else if (fd < 0) {
                ret = fd;
            }
            free(tmp);
            if (ret == 0) {
                *path_out = qemu_xstrdup(path);
            }
            qdict_free(d);
            return ret;
        }
        fd = open_private(tmp, O_TRUNC, "pid file", errp);
        if (fd < 0) {
            free(tmp);
            qdict_free(d);
            return fd;
        }
        n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
        if (write(fd, buf, n) != n || close(fd) < 0 ||
            rename(tmp, path) < 0) {
            error_setg_errno(errp, errno, "Could not write pid file '%s'",
                             path);
            unlink(tmp);
            ret = -EIO;
        }
        free(tmp);
    }
    if (ret == 0) {
        *path_out = qemu_xstrdup(path);
    }
    qdict_free(d);
    return ret;
}

/* Fork; the parent exits once the child says it is ready. */
static int daemonize(int *ready_fd, Error **errp)
{
    int p[2];
    pid_t pid;
    char c;

    if (pipe(p) < 0) {
        error_setg_errno(errp, errno, "Could not create a pipe");
        return -errno;
    }
    pid = fork();
    if (pid < 0) {
        error_setg_errno(errp, errno, "Could not fork");
        return -errno;
    }
    if (pid > 0) {
        close(p[1]);
        /* 1 byte = ready; EOF = the child failed and said why. */
        _exit(read(p[0], &c, 1) == 1 ? 0 : 1);
    }
    close(p[0]);
    setsid();
    *ready_fd = p[1];
    return 0;
}

static void daemon_ready(int ready_fd)
{
    int null = open("/dev/null", O_RDWR);
    ssize_t r;

    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        if (log_file) {
            dup2(null, STDERR_FILENO);
        }
        close(null);
    }
    r = write(ready_fd, "r", 1);
    (void)r;
    close(ready_fd);
}

/* ---- main ---------------------------------------------------------------- */

enum {
    OPT_TPM2 = 256, OPT_TPM12, OPT_NVRAM, OPT_KEY, OPT_CTRL, OPT_SERVER,
    OPT_FLAGS, OPT_PID, OPT_LOG, OPT_MIGRATION, OPT_MIGRATION_KEY,
    OPT_TPMSTATE, OPT_PRINT_CAPS, OPT_PRINT_STATES,
};

static int parse_args(int argc, char **argv, SocketOpts *o)
{
    static const struct option longopts[] = {
        { "tpm2", no_argument, NULL, OPT_TPM2 },
        { "tpm1.2", no_argument, NULL, OPT_TPM12 },
        { "nvram", required_argument, NULL, OPT_NVRAM },
        { "key", required_argument, NULL, OPT_KEY },
        { "ctrl", required_argument, NULL, OPT_CTRL },
        { "server", required_argument, NULL, OPT_SERVER },
        { "flags", required_argument, NULL, OPT_FLAGS },
        { "pid", required_argument, NULL, OPT_PID },
        { "log", required_argument, NULL, OPT_LOG },
        { "migration", required_argument, NULL, OPT_MIGRATION },
        { "migration-key", required_argument, NULL, OPT_MIGRATION_KEY },
        { "tpmstate", required_argument, NULL, OPT_TPMSTATE },
        { "print-capabilities", no_argument, NULL, OPT_PRINT_CAPS },
        { "print-states", no_argument, NULL, OPT_PRINT_STATES },
        { "daemon", no_argument, NULL, 'd' },
        { "terminate", no_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":dth", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_TPM2: o->tpm12 = false; o->tpm_given = true; break;
        case OPT_TPM12: o->tpm12 = true; o->tpm_given = true; break;
        case OPT_TPMSTATE: o->tpmstate = optarg; break;
        case OPT_PRINT_CAPS: o->print_caps = true; break;
        case OPT_PRINT_STATES: o->print_states = true; break;
        case OPT_NVRAM: o->nvram = optarg; break;
        case OPT_KEY: o->key = optarg; break;
        case OPT_CTRL: o->ctrl = optarg; break;
        case OPT_SERVER: o->server = optarg; break;
        case OPT_FLAGS: o->flags = optarg; break;
        case OPT_PID: o->pid = optarg; break;
        case OPT_LOG: o->log = optarg; break;
        case OPT_MIGRATION: o->migration = optarg; break;
        case OPT_MIGRATION_KEY: o->migration_key = optarg; break;
        case 'd': o->daemon = true; break;
        case 't': o->terminate = true; break;
        case 'h':
            socket_usage(stdout);
            return 0;
        case ':':
            error_report("socket: option '%s' needs an argument (try "
                         "'%s socket --help')", argv[optind - 1],
                         error_get_progname());
            return 1;
        default:
            error_report("socket: %s option '%s' (try '%s socket --help')",
                         o->swtpm ? "unsupported" : "unknown",
                         argv[optind - 1], error_get_progname());
            return 1;
        }
    }
    if (optind < argc) {
        error_report("socket: unexpected argument '%s'", argv[optind]);
        return 1;
    }
    return -1;
}

/* --flags and --migration: comma lists of words. */
static int parse_words(const char *opt, const char *spec,
                       const char *const *known, unsigned *mask,
                       Error **errp)
{
    char *copy = qemu_xstrdup(spec), *save = NULL, *w;
    int ret = 0;

    *mask = 0;
    for (w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        unsigned i;

        for (i = 0; known[i]; i++) {
            if (!strcmp(w, known[i])) {
                *mask |= 1u << i;
                break;
            }
        }
        if (!known[i]) {
            error_setg(errp, "%s: unknown flag '%s'", opt, w);
            ret = -EINVAL;
            break;
        }
    }
    free(copy);
    return ret;
}

#define FLAG_NOT_NEED_INIT 0x1
#define FLAG_STARTUP_CLEAR 0x2
#define FLAG_STARTUP_STATE 0x4
#define FLAG_STARTUP_NONE  0x8
#define MIG_INCOMING 0x1

int vtpm_socket_main(int argc, char **argv)
{
    return vtpm_socket_run(argc, argv, false);
}

int vtpm_socket_run(int argc, char **argv, bool swtpm)
{
    static const char *const flag_words[] = {
        "not-need-init", "startup-clear", "startup-state", "startup-none",
        NULL
    };
    static const char *const mig_words[] = { "incoming", NULL };
    SocketOpts o = { .swtpm = swtpm };
    SockSpec ctrl = { .fd = -1, .client_fd = -1 };
    SockSpec server = { .fd = -1, .client_fd = -1 };
    VTPMCtrlConfig cfg = { .listen_fd = -1, .client_fd = -1 };
    VTPMDataConfig dcfg = { .listen_fd = -1, .client_fd = -1 };
    char *image = NULL, *nvram_spec = NULL;
    bool created = false, unlink_image = false;
    VTPMStorage *st = NULL;
    VTPMEngine *e = NULL;
    VTPMData *d = NULL;
    Error *err = NULL;
    char *pid_path = NULL;
    unsigned flags = 0, mig = 0;
    int ready_fd = -1, status = 1, ret;
    struct sigaction sa = { .sa_handler = on_signal };

    ret = parse_args(argc, argv, &o);
    if (ret >= 0) {
        return ret;
    }
    /* As swtpm: TPM 1.2 unless --tpm2. */
    if (swtpm && !o.tpm_given) {
        o.tpm12 = true;
    }
    if (o.print_caps) {
        vtpm_swtpm_print_capabilities(!o.tpm12);
        return 0;
    }
    if (setup_log(o.log, &err) < 0) {
        goto fail;
    }
    if (o.tpmstate && o.nvram) {
        error_setg(&err, "socket: --tpmstate and --nvram exclude each other");
        goto fail;
    }
    if (o.print_states) {
        if (!o.tpmstate) {
            error_setg(&err, "socket: --print-states needs --tpmstate");
            goto fail;
        }
        if (vtpm_tpmstate_image(o.tpmstate, o.tpm12, false, &image, NULL,
                                &err) < 0 ||
            vtpm_swtpm_print_states(image, o.key, &err) < 0) {
            goto fail;
        }
        status = 0;
        goto cleanup;
    }
    if (o.tpmstate) {
        ret = vtpm_tpmstate_image(o.tpmstate, o.tpm12, true, &image,
                                  &o.import_state, &err);
        if (ret < 0) {
            goto fail;
        }
        created = ret == 0;
        nvram_spec = qemu_xasprintf("file=%s,format=qcow2", image);
        o.nvram = nvram_spec;
    }
    if (!o.nvram) {
        error_setg(&err, swtpm ? "socket: --tpmstate dir=DIR is required" :
                   "socket: --nvram file=IMAGE is required");
        goto fail;
    }
    if (!o.ctrl && !o.server) {
        error_setg(&err, "socket: need --ctrl and/or --server");
        goto fail;
    }
    if (o.flags && parse_words("--flags", o.flags, flag_words, &flags,
                               &err) < 0) {
        goto fail;
    }
    if (!!(flags & FLAG_STARTUP_CLEAR) + !!(flags & FLAG_STARTUP_STATE) +
        !!(flags & FLAG_STARTUP_NONE) > 1) {
        error_setg(&err, "--flags: startup-clear, startup-state and "
                   "startup-none exclude each other");
        goto fail;
    }
    /* As swtpm: a startup-* flag (but startup-none) implies not-need-init. */
    if (flags & (FLAG_STARTUP_CLEAR | FLAG_STARTUP_STATE)) {
        flags |= FLAG_NOT_NEED_INIT;
    }
    if (o.migration && parse_words("--migration", o.migration, mig_words,
                                   &mig, &err) < 0) {
        goto fail;
    }
    if ((mig & MIG_INCOMING) && (flags & FLAG_NOT_NEED_INIT)) {
        error_setg(&err, "--migration incoming cannot be combined with "
                   "--flags not-need-init");
        goto fail;
    }

    if (o.migration_key && setup_migration_key(o.migration_key, &err) < 0) {
        goto fail;
    }
    st = open_storage(&o, mig & MIG_INCOMING, &err);
    /* The keys were decoded in frames below this one. */
    qcrypto_wipe_stack();
    if (!st) {
        goto fail;
    }
    e = vtpm_engine_new(o.tpm12, st, &err);
    if (!e) {
        goto fail;
    }
    if (flags & FLAG_NOT_NEED_INIT) {
        /* Runs inline: the engine thread starts after the fork. */
        uint32_t res;

        startup_capture = true;
        res = vtpm_engine_init_tpm(e, 0);
        startup_capture = false;
        if (res) {
            startup_error_set(&err, &o, res);
            goto fail;
        }
        if (flags & (FLAG_STARTUP_CLEAR | FLAG_STARTUP_STATE)) {
            res = vtpm_engine_startup(e, (flags & FLAG_STARTUP_STATE) ?
                                      VTPM_STARTUP_STATE :
                                      VTPM_STARTUP_CLEAR);
            if (res) {
                vtpm_log(VTPM_LOG_ERROR, "TPM startup returned 0x%x", res);
            }
        }
    }
    if (o.ctrl && open_socket("--ctrl", o.ctrl, swtpm, &ctrl, &err) < 0) {
        goto fail;
    }
    if (o.server && open_socket("--server", o.server, swtpm, &server, &err) < 0) {
        goto fail;
    }
    if (ctrl.fd >= 0 && !ctrl.is_unix) {
        warn_report("the control channel on TCP port %d is open to every "
                    "local user: any of them can read the TPM's state "
                    "(GET_STATEBLOB), replace it (SET_STATEBLOB) or stop "
                    "the TPM; use --ctrl type=unixio to restrict it",
                    ctrl.port);
    }
    if (o.daemon && daemonize(&ready_fd, &err) < 0) {
        goto fail;
    }

    dcfg.listen_fd = server.fd;
    dcfg.client_fd = server.client_fd;
    server.client_fd = -1;
    dcfg.peer = server.peer;
    dcfg.terminate = o.terminate;
    dcfg.disconnect = server.disconnect;
    d = vtpm_data_new(&dcfg, NULL, NULL);
    server.fd = -1;
    cfg.listen_fd = ctrl.fd;
    cfg.client_fd = ctrl.client_fd;
    cfg.peer = ctrl.peer;
    ctrl.fd = -1;
    ctrl.client_fd = -1;
    cfg.has_key = o.key != NULL;
    cfg.has_migration_key = o.migration_key != NULL;
    cfg.terminate = o.terminate;
    the_ctrl = vtpm_ctrl_new(e, d, &cfg);
    vtpm_data_set_quit(d, vtpm_ctrl_quit, the_ctrl);

    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    if (vtpm_engine_start(e, &vtpm_data_engine_client, d, &err) < 0) {
        goto fail;
    }
    if (o.pid && write_pid_file(o.pid, swtpm, &pid_path, &err) < 0) {
        goto fail;
    }
    vtpm_log(VTPM_LOG_INFO, "ready: TPM %s, NVRAM in %s",
             o.tpm12 ? "1.2" : "2.0", o.nvram);
    if (ready_fd >= 0) {
        daemon_ready(ready_fd);
        ready_fd = -1;
    }

    status = vtpm_ctrl_run(the_ctrl);
    vtpm_log(VTPM_LOG_INFO, "shutting down");
    goto cleanup;

fail:
    if (err) {
        /*
         * One line naming the image and the cause; hints (e.g. "Is another
         * process using the image?" after a lock conflict, whose first
         * line names the image already) are left out.
         */
        error_report("%s", error_get_pretty(err));
        error_free(err);
    }
    status = 1;
    unlink_image = created;
cleanup:
    /* Stops the TPM (its state is already committed) and the thread. */
    vtpm_engine_free(e);
    vtpm_ctrl_free(the_ctrl);
    the_ctrl = NULL;
    vtpm_data_free(d);
    vtpm_storage_free(st);
    if (unlink_image) {
        /* a start that failed leaves no image it made behind */
        unlink(image);
    }
    vtpm_migration_set_key(NULL, 0);
    if (ctrl.fd >= 0) {
        close(ctrl.fd);
    }
    if (ctrl.client_fd >= 0) {
        close(ctrl.client_fd);
    }
    if (server.client_fd >= 0) {
        close(server.client_fd);
    }
    free(image);
    free(o.import_state);
    free(nvram_spec);
    if (ctrl.path) {
        unlink(ctrl.path);
        free(ctrl.path);
    }
    if (server.fd >= 0) {
        close(server.fd);
    }
    if (server.path) {
        unlink(server.path);
        free(server.path);
    }
    if (pid_path) {
        unlink(pid_path);
        free(pid_path);
    }
    if (log_file) {
        fclose(log_file);
        log_file = NULL;
    }
    return status;
}
