/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * crt-win32.c: make the Windows C runtime behave like glibc where the
 * portable core's output depends on it: errno texts, LF line ends and
 * stdout buffering, so that messages and output are identical on Windows.
 */
#include "qemu/osdep.h"

#include <io.h>

#undef strerror

static const struct {
    int num;
    const char *text;
} errno_texts[] = {
    { EPERM, "Operation not permitted" },
    { ENOENT, "No such file or directory" },
    { EIO, "Input/output error" },
    { E2BIG, "Argument list too long" },
    { EBADF, "Bad file descriptor" },
    { EAGAIN, "Resource temporarily unavailable" },
    { ENOMEM, "Cannot allocate memory" },
    { EACCES, "Permission denied" },
    { EBUSY, "Device or resource busy" },
    { EEXIST, "File exists" },
    { EXDEV, "Invalid cross-device link" },
    { ENODEV, "No such device" },
    { ENOTDIR, "Not a directory" },
    { EISDIR, "Is a directory" },
    { EINVAL, "Invalid argument" },
    { ENFILE, "Too many open files in system" },
    { EMFILE, "Too many open files" },
    { ENOTTY, "Inappropriate ioctl for device" },
    { EFBIG, "File too large" },
    { ENOSPC, "No space left on device" },
    { ESPIPE, "Illegal seek" },
    { EROFS, "Read-only file system" },
    { EPIPE, "Broken pipe" },
    { EDOM, "Numerical argument out of domain" },
    { ERANGE, "Numerical result out of range" },
    { EDEADLK, "Resource deadlock avoided" },
    { ENAMETOOLONG, "File name too long" },
    { ENOLCK, "No locks available" },
    { ENOSYS, "Function not implemented" },
    { ENOTEMPTY, "Directory not empty" },
    { EILSEQ, "Invalid or incomplete multibyte or wide character" },
    { ENOTSUP, "Operation not supported" },
    { ETIMEDOUT, "Connection timed out" },
    { EOVERFLOW, "Value too large for defined data type" },
    { ECANCELED, "Operation canceled" },
    { EPROTO, "Protocol error" },
    { ENOTCONN, "Transport endpoint is not connected" },
    { ECONNRESET, "Connection reset by peer" },
    { ECONNREFUSED, "Connection refused" },
    { EADDRINUSE, "Address already in use" },
    { ENOTSOCK, "Socket operation on non-socket" },
    { ENOMEDIUM, "No medium found" },
};

char *qemu_strerror(int errnum)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(errno_texts); i++) {
        if (errno_texts[i].num == errnum) {
            return (char *)errno_texts[i].text;
        }
    }
    return strerror(errnum);
}

/*
 * Before main(): stdout and stderr write "\n" as is (not CRLF; consoles
 * show both alike), stderr is unbuffered and stdout is fully buffered when
 * it is not a console, as glibc does.  Without this the C runtime flushes
 * stdout after every printf, so output interleaves with stderr in another
 * order than on Linux.  A program may still call setvbuf() in main().
 */
static void __attribute__((constructor)) crt_win32_init(void)
{
    _setmode(_fileno(stdout), _O_BINARY);
    _setmode(_fileno(stderr), _O_BINARY);
    setvbuf(stderr, NULL, _IONBF, 0);
    if (!_isatty(_fileno(stdout))) {
        setvbuf(stdout, NULL, _IOFBF, 4096);
    }
}
