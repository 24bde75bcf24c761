/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * win-lock-test.c: TAP test of both Windows lock layers across two (and
 * three) processes.  The test spawns copies of itself ("--child") and
 * drives them line by line through pipes; every wait is on a reply.
 */
#include "qemu/osdep.h"
#include "qemu/error.h"
#include "qemu/qdict.h"
#include "block/block.h"
#include "block/block-backend.h"

/* Upper bound of any wait for a child's reply. */
#define REPLY_TIMEOUT_MS 30000
#define IMG_SIZE (1 * MiB)

static const char *img;

/* ---- shared: opening the image and running one command ----------------- */

/*
 * @mode: rw, ro, rw-noshare, ro-noshare, ro-force, rw-nolock.
 */
static BlockBackend *open_img(const char *mode, Error **errp)
{
    QDict *opts = qdict_new();
    int flags = 0;

    qdict_put_str(opts, "driver", "raw");
    if (!strncmp(mode, "rw", 2)) {
        flags |= BDRV_O_RDWR;
    }
    if (strstr(mode, "noshare")) {
        flags |= BDRV_O_NO_SHARE;
    }
    if (strstr(mode, "force")) {
        qdict_put_str(opts, "force-share", "on");
    }
    if (strstr(mode, "nolock")) {
        qdict_put_str(opts, "file.locking", "off");
    }
    return blk_new_open(img, opts, flags, errp);
}

/*
 * Format "ok" or "err <errno> <message>[ | <hint>]" into @out; @ret == 0
 * with @err set (a failed open, which has no errno) gives "fail <message>
 * [ | <hint>]".
 */
static void format_result(char *out, size_t n, int ret, Error *err)
{
    if (ret >= 0 && !err) {
        snprintf(out, n, "ok");
        return;
    }
    if (err) {
        const char *hint = error_get_hint(err);
        char h[512] = "";
        size_t len;

        if (hint) {
            snprintf(h, sizeof(h), " | %s", hint);
            len = strlen(h);
            while (len > 0 && (h[len - 1] == '\n' || h[len - 1] == '\r')) {
                h[--len] = '\0';
            }
        }
        if (ret == 0) {
            snprintf(out, n, "fail %s%s", error_get_pretty(err), h);
        } else {
            snprintf(out, n, "err %d %s%s", -ret, error_get_pretty(err), h);
        }
        error_free(err);
    } else {
        snprintf(out, n, "err %d", -ret);
    }
}

static int fill_check(BlockBackend *blk, bool write, int64_t off,
                      int64_t len, int pattern)
{
    uint8_t *buf = qemu_xmalloc(len);
    int ret;
    int64_t i;

    if (write) {
        memset(buf, pattern, len);
        ret = blk_pwrite(blk, off, len, buf, 0);
    } else {
        ret = blk_pread(blk, off, len, buf);
        for (i = 0; ret == 0 && i < len; i++) {
            if (buf[i] != pattern) {
                ret = -EILSEQ;
            }
        }
    }
    free(buf);
    return ret;
}

/*
 * Run one command on *@blk (the process's open image, or NULL).  Returns
 * false for "quit".
 */
static bool run_command(BlockBackend **blk, const char *line, char *out,
                        size_t n)
{
    char cmd[32] = "", arg[64] = "";
    long long a = 0, b = 0;
    int pat = 0;
    Error *err = NULL;
    int ret = 0;

    sscanf(line, "%31s %63s", cmd, arg);
    if (!strcmp(cmd, "quit")) {
        return false;
    }
    if (!strcmp(cmd, "open")) {
        if (*blk) {
            blk_unref(*blk);
        }
        *blk = open_img(arg, &err);
        if (!*blk && !err) {
            error_setg(&err, "open failed without an error");
        }
        format_result(out, n, 0, err);
        return true;
    }
    if (!strcmp(cmd, "close")) {
        if (*blk) {
            blk_unref(*blk);
            *blk = NULL;
        }
        snprintf(out, n, "ok");
        return true;
    }
    if (!*blk) {
        snprintf(out, n, "err %d no image open", EBADF);
        return true;
    }
    if (!strcmp(cmd, "lock")) {
        ret = bdrv_lock(blk_bs(*blk), &err);
    } else if (!strcmp(cmd, "trylock")) {
        ret = bdrv_trylock(blk_bs(*blk), &err);
    } else if (!strcmp(cmd, "timeout")) {
        ret = bdrv_lock_timeout(blk_bs(*blk), atoll(arg), &err);
    } else if (!strcmp(cmd, "unlock")) {
        ret = bdrv_unlock(blk_bs(*blk), &err);
    } else if (!strcmp(cmd, "depth")) {
        snprintf(out, n, "ok %u", bdrv_lock_depth(blk_bs(*blk)));
        return true;
    } else if (!strcmp(cmd, "length")) {
        snprintf(out, n, "ok %" PRId64, blk_getlength(*blk));
        return true;
    } else if (!strcmp(cmd, "write") || !strcmp(cmd, "read")) {
        if (sscanf(line, "%*s %lli %lli %i", &a, &b, &pat) != 3) {
            snprintf(out, n, "err %d bad arguments", EINVAL);
            return true;
        }
        ret = fill_check(*blk, cmd[0] == 'w', a, b, pat);
    } else {
        snprintf(out, n, "err %d unknown command %s", EINVAL, cmd);
        return true;
    }
    format_result(out, n, ret, err);
    return true;
}

/* ---- the child: a command loop on stdin/stdout --------------------------- */

static int child_main(void)
{
    BlockBackend *blk = NULL;
    char line[256], out[1024];

    while (fgets(line, sizeof(line), stdin)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!run_command(&blk, line, out, sizeof(out))) {
            break;
        }
        printf("%s\n", out);
        fflush(stdout);
    }
    if (blk) {
        blk_unref(blk);
    }
    return 0;
}

/* ---- the parent: children, TAP --------------------------------------- */

typedef struct Child {
    const char *name;
    HANDLE proc;
    HANDLE to_child;
    HANDLE from_child;
    char buf[4096];
    size_t len;
} Child;

static int test_count;
static int fail_count;

static void ok(bool cond, const char *fmt, ...) QEMU_PRINTF(2, 3);
static void ok(bool cond, const char *fmt, ...)
{
    va_list ap;

    test_count++;
    if (!cond) {
        fail_count++;
    }
    printf("%sok %d - ", cond ? "" : "not ", test_count);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static bool child_start(Child *c, const char *name)
{
    SECURITY_ATTRIBUTES sa = { sizeof(sa), NULL, TRUE };
    HANDLE in_r, in_w, out_r, out_w;
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    char exe[MAX_PATH], cmdline[2 * MAX_PATH + 64];

    memset(c, 0, sizeof(*c));
    c->name = name;
    if (!CreatePipe(&in_r, &in_w, &sa, 0) ||
        !CreatePipe(&out_r, &out_w, &sa, 0)) {
        return false;
    }
    /* Our ends must not leak into the child. */
    SetHandleInformation(in_w, HANDLE_FLAG_INHERIT, 0);
    SetHandleInformation(out_r, HANDLE_FLAG_INHERIT, 0);
    GetModuleFileNameA(NULL, exe, sizeof(exe));
    snprintf(cmdline, sizeof(cmdline), "\"%s\" --child \"%s\"", exe, img);

    memset(&si, 0, sizeof(si));
    si.cb = sizeof(si);
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = in_r;
    si.hStdOutput = out_w;
    si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
    if (!CreateProcessA(NULL, cmdline, NULL, NULL, TRUE, 0, NULL, NULL, &si,
                        &pi)) {
        printf("# CreateProcess failed: %lu\n", GetLastError());
        return false;
    }
    CloseHandle(pi.hThread);
    CloseHandle(in_r);
    CloseHandle(out_w);
    c->proc = pi.hProcess;
    c->to_child = in_w;
    c->from_child = out_r;
    return true;
}

static bool child_send(Child *c, const char *cmd)
{
    DWORD done;
    char line[300];
    int len = snprintf(line, sizeof(line), "%s\n", cmd);

    return WriteFile(c->to_child, line, len, &done, NULL) &&
           done == (DWORD)len;
}

/*
 * Wait (bounded) for one reply line.  Polls the pipe because an anonymous
 * pipe read cannot time out; the wait ends on the reply, the child's
 * death or the bound.
 */
static bool child_recv(Child *c, char *reply, size_t n)
{
    int64_t deadline = qemu_clock_monotonic_ns() +
                       (int64_t)REPLY_TIMEOUT_MS * 1000000;

    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        DWORD avail = 0, got = 0;

        if (nl) {
            size_t l = nl - c->buf;
            /* The child's C runtime writes "\r\n" (text mode). */
            int shown = (int)l - (l > 0 && c->buf[l - 1] == '\r');

            snprintf(reply, n, "%.*s", shown, c->buf);
            memmove(c->buf, nl + 1, c->len - l - 1);
            c->len -= l + 1;
            return true;
        }
        if (!PeekNamedPipe(c->from_child, NULL, 0, NULL, &avail, NULL)) {
            snprintf(reply, n, "(child %s is gone)", c->name);
            return false;
        }
        if (avail > 0) {
            avail = MIN(avail, (DWORD)(sizeof(c->buf) - c->len - 1));
            if (!ReadFile(c->from_child, c->buf + c->len, avail, &got,
                          NULL)) {
                snprintf(reply, n, "(read from %s failed)", c->name);
                return false;
            }
            c->len += got;
            continue;
        }
        if (WaitForSingleObject(c->proc, 0) == WAIT_OBJECT_0) {
            snprintf(reply, n, "(child %s exited)", c->name);
            return false;
        }
        if (qemu_clock_monotonic_ns() > deadline) {
            snprintf(reply, n, "(no reply from %s in %d ms)", c->name,
                     REPLY_TIMEOUT_MS);
            return false;
        }
        Sleep(1);
    }
}

static char last_reply[1024];

/*
 * Send @cmd, wait for the reply, compare it with @expect; an @expect ending
 * in '*' matches any reply starting with what precedes the '*'.
 */
static bool reply_matches(const char *reply, const char *expect)
{
    size_t n = strlen(expect);

    if (n > 0 && expect[n - 1] == '*') {
        return !strncmp(reply, expect, n - 1);
    }
    return !strcmp(reply, expect);
}

static bool child_do(Child *c, const char *cmd, const char *expect)
{
    if (!child_send(c, cmd)) {
        snprintf(last_reply, sizeof(last_reply), "(send to %s failed)",
                 c->name);
        return false;
    }
    if (!child_recv(c, last_reply, sizeof(last_reply))) {
        return false;
    }
    if (!reply_matches(last_reply, expect)) {
        printf("# %s: '%s' -> '%s', expected '%s'\n", c->name, cmd,
               last_reply, expect);
        return false;
    }
    return true;
}

static void child_stop(Child *c)
{
    if (!c->proc) {
        return;
    }
    child_send(c, "quit");
    if (WaitForSingleObject(c->proc, REPLY_TIMEOUT_MS) != WAIT_OBJECT_0) {
        TerminateProcess(c->proc, 1);
        WaitForSingleObject(c->proc, REPLY_TIMEOUT_MS);
    }
    CloseHandle(c->proc);
    CloseHandle(c->to_child);
    CloseHandle(c->from_child);
    c->proc = NULL;
}

/* The parent's own image, driven through the same command set. */
static BlockBackend *pblk;

static bool parent_do(const char *cmd, const char *expect)
{
    run_command(&pblk, cmd, last_reply, sizeof(last_reply));
    if (!reply_matches(last_reply, expect)) {
        printf("# parent: '%s' -> '%s', expected '%s'\n", cmd, last_reply,
               expect);
        return false;
    }
    return true;
}

static char *expect_perm_error(bool shared, const char *perm)
{
    return qemu_xasprintf("fail Failed to get %s\"%s\" lock | Is another "
                          "process using the image [%s]?",
                          shared ? "shared " : "", perm, img);
}

static bool make_image(void)
{
    FILE *f = fopen(img, "wb");
    char *buf = qemu_xmalloc(IMG_SIZE);
    bool okay;

    if (!f) {
        free(buf);
        return false;
    }
    memset(buf, 0x5a, IMG_SIZE);
    okay = fwrite(buf, 1, IMG_SIZE, f) == IMG_SIZE;
    okay = (fclose(f) == 0) && okay;
    free(buf);
    return okay;
}

/* ---- the tests ------------------------------------------------------------ */

static void test_serialization(Child *c, Child *d)
{
    char e_again[32], e_timedout[32], e_nolck[32];
    bool r;

    snprintf(e_again, sizeof(e_again), "err %d *", EAGAIN);
    snprintf(e_timedout, sizeof(e_timedout), "err %d *", ETIMEDOUT);
    snprintf(e_nolck, sizeof(e_nolck), "err %d *", ENOLCK);

    r = parent_do("open rw", "ok") && child_do(c, "open rw", "ok");
    ok(r, "two read-write opens of a raw image coexist");

    r = parent_do("lock", "ok") && parent_do("depth", "ok 1");
    ok(r, "exclusive lock on a read-write node");
    r = child_do(c, "trylock", e_again);
    ok(r, "exclusive vs exclusive: trylock fails with EAGAIN");
    r = child_do(c, "timeout 100", e_timedout);
    ok(r, "exclusive vs exclusive: lock_timeout fails with ETIMEDOUT");

    r = parent_do("lock", "ok") && parent_do("depth", "ok 2") &&
        parent_do("unlock", "ok") && parent_do("depth", "ok 1");
    ok(r, "nested lock counts 1 -> 2 -> 1");
    r = child_do(c, "trylock", e_again);
    ok(r, "inner unlock keeps the OS lock held");
    r = parent_do("unlock", "ok") && parent_do("depth", "ok 0") &&
        child_do(c, "trylock", "ok");
    ok(r, "last unlock releases the OS lock");
    r = child_do(c, "unlock", "ok");
    ok(r, "other process unlocks");
    r = parent_do("unlock", e_nolck);
    ok(r, "unlock without lock fails with ENOLCK");

    /* I/O is not affected by the lock region. */
    r = parent_do("lock", "ok") &&
        child_do(c, "write 0 65536 0x11", "ok") &&
        child_do(c, "write 1044480 4096 0x22", "ok") &&
        parent_do("read 0 65536 0x11", "ok") &&
        parent_do("read 1044480 4096 0x22", "ok") &&
        parent_do("write 131072 4096 0x33", "ok") &&
        child_do(c, "read 131072 4096 0x33", "ok") &&
        child_do(c, "read 65536 65536 0x5a", "ok");
    ok(r, "both processes read and write data while the lock is held");
    r = parent_do("unlock", "ok") && child_do(c, "lock", "ok") &&
        parent_do("write 262144 512 0x44", "ok") &&
        parent_do("read 0 65536 0x11", "ok") &&
        child_do(c, "read 262144 512 0x44", "ok") &&
        child_do(c, "unlock", "ok");
    ok(r, "and the other way round");
    r = parent_do("length", "ok 1048576") &&
        child_do(c, "length", "ok 1048576");
    ok(r, "locks far beyond the data do not change the image length");

    /* A blocking lock waits for the holder's unlock. */
    r = parent_do("lock", "ok") && child_send(c, "lock") &&
        parent_do("unlock", "ok") &&
        child_recv(c, last_reply, sizeof(last_reply)) &&
        reply_matches(last_reply, "ok");
    ok(r, "blocking lock is granted after the holder unlocks (%s)",
       last_reply);
    r = parent_do("trylock", e_again) && child_do(c, "unlock", "ok") &&
        parent_do("trylock", "ok") && parent_do("unlock", "ok");
    ok(r, "and held until its own unlock");

    /* Shared on read-only nodes. */
    r = parent_do("open ro", "ok") && child_do(c, "open ro", "ok") &&
        child_do(d, "open rw", "ok");
    ok(r, "reopen: parent ro, child ro, second child rw");
    r = parent_do("lock", "ok") && child_do(c, "trylock", "ok");
    ok(r, "shared + shared coexist");
    r = child_do(d, "trylock", e_again);
    ok(r, "shared vs exclusive: trylock fails with EAGAIN");
    r = child_do(d, "timeout 50", e_timedout);
    ok(r, "shared vs exclusive: lock_timeout fails with ETIMEDOUT");
    r = parent_do("unlock", "ok") && child_do(d, "trylock", e_again);
    ok(r, "one shared holder left still blocks the exclusive lock");
    r = child_do(c, "unlock", "ok") && child_do(d, "trylock", "ok");
    ok(r, "exclusive granted once every shared holder unlocked");
    r = child_do(c, "trylock", e_again);
    ok(r, "exclusive vs shared: shared trylock fails with EAGAIN");
    r = child_do(d, "unlock", "ok") && child_do(c, "trylock", "ok") &&
        child_do(c, "unlock", "ok");
    ok(r, "shared granted after the exclusive unlock");

    r = parent_do("close", "ok") && child_do(c, "close", "ok") &&
        child_do(d, "close", "ok");
    ok(r, "close all");
}

static void test_permissions(Child *c, Child *d)
{
    char *e_write = expect_perm_error(false, "write");
    char *e_shared_write = expect_perm_error(true, "write");
    char e_notsup[32];
    bool r;
    int round, wins, losses;

    snprintf(e_notsup, sizeof(e_notsup), "err %d *", ENOTSUP);

    r = parent_do("open rw-noshare", "ok");
    ok(r, "parent holds write, shares neither write nor resize");
    r = child_do(c, "open rw", e_write);
    ok(r, "read-write open is refused: Failed to get \"write\" lock + hint");
    r = child_do(c, "open ro-noshare", e_shared_write);
    ok(r, "open that will not share write is refused: "
       "Failed to get shared \"write\" lock + hint");
    r = child_do(c, "open ro", "ok") && child_do(c, "read 0 512 0x11", "ok");
    ok(r, "plain read-only open works and reads");
    r = child_do(c, "open ro-force", "ok");
    ok(r, "read-only force-share open works");
    r = child_do(c, "close", "ok") && child_do(d, "open rw-nolock", "ok");
    ok(r, "locking=off opens despite the conflict");
    r = child_do(d, "trylock", e_notsup);
    ok(r, "locking=off: bdrv_lock fails with ENOTSUP");
    child_do(d, "close", "ok");

    {
        /* The same process, a second handle: conflicts like OFD locks. */
        Error *err = NULL;
        BlockBackend *second = open_img("rw", &err);
        char out[1024];

        format_result(out, sizeof(out), 0, err);
        ok(!second && !strcmp(out, e_write),
           "second open in the same process conflicts too (%s)", out);
        if (second) {
            blk_unref(second);
        }
    }

    r = parent_do("close", "ok") && child_do(c, "open rw", "ok");
    ok(r, "closing the holder releases its permission locks");
    r = child_do(c, "close", "ok") && child_do(c, "open ro-noshare", "ok") &&
        parent_do("open rw", e_write);
    ok(r, "reverse direction: child refuses write, parent cannot write");
    r = child_do(c, "close", "ok") && parent_do("open rw", "ok") &&
        parent_do("close", "ok");
    ok(r, "failed opens left no stale locks");

    /* Racing openers: never both succeed (and never both fail). */
    wins = losses = 0;
    for (round = 0; round < 20; round++) {
        char rc[1024], rd[1024];

        if (!child_send(c, "open rw-noshare") ||
            !child_send(d, "open rw-noshare") ||
            !child_recv(c, rc, sizeof(rc)) || !child_recv(d, rd, sizeof(rd))) {
            break;
        }
        if ((!strcmp(rc, "ok") && !strcmp(rd, e_write)) ||
            (!strcmp(rd, "ok") && !strcmp(rc, e_write))) {
            wins++;
        } else {
            printf("# round %d: '%s' / '%s'\n", round, rc, rd);
            losses++;
        }
        child_do(c, "close", "ok");
        child_do(d, "close", "ok");
    }
    ok(wins == 20 && losses == 0,
       "20 races of two conflicting openers: exactly one wins each time");

    free(e_write);
    free(e_shared_write);
}

/*
 * For iotests: keep @path open without any sharing (as some Windows
 * programs do) until stdin reaches EOF.  Prints "holding" once open.
 */
static int hold_noshare(const char *path)
{
    HANDLE h = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, 0, NULL,
                           OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);

    if (h == INVALID_HANDLE_VALUE) {
        printf("error %lu\n", GetLastError());
        return 1;
    }
    printf("holding\n");
    while (getchar() != EOF) {
        /* wait for the test to close our stdin */
    }
    CloseHandle(h);
    return 0;
}

int main(int argc, char **argv)
{
    Child c, d;
    char path[MAX_PATH];

    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc == 3 && !strcmp(argv[1], "--hold-noshare")) {
        return hold_noshare(argv[2]);
    }
    if (argc == 3 && !strcmp(argv[1], "--child")) {
        img = argv[2];
        return child_main();
    }
    if (argc == 2) {
        img = argv[1];
    } else {
        DWORD n = GetTempPathA(sizeof(path) - 32, path);

        snprintf(path + n, sizeof(path) - n, "win-lock-test-%lu.img",
                 GetCurrentProcessId());
        img = path;
    }
    printf("# image %s\n", img);
    if (!make_image()) {
        printf("Bail out! cannot create %s\n", img);
        return 1;
    }
    if (!child_start(&c, "child1") || !child_start(&d, "child2")) {
        printf("Bail out! cannot start children\n");
        return 1;
    }

    test_serialization(&c, &d);
    test_permissions(&c, &d);

    child_stop(&c);
    child_stop(&d);
    if (pblk) {
        blk_unref(pblk);
    }
    DeleteFileA(img);
    printf("1..%d\n", test_count);
    return fail_count ? 1 : 0;
}
