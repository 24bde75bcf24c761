#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# lockprobe.py: look at the fcntl byte-range locks other processes hold on a
# file, with F_OFD_GETLK probes (which see OFD and POSIX locks, also over
# FUSE/GlusterFS where /proc/locks shows nothing).  Used by iotests to wait
# for a holder's locks instead of sleeping.
#
#   lockprobe.py show FILE                 print the locked ranges
#   lockprobe.py wait-locked FILE SECS [PID]   until any lock is held
#   lockprobe.py wait-wrlocked FILE SECS [PID] until an exclusive lock is held
#   lockprobe.py wait-unlocked FILE SECS   until no lock is held
#   lockprobe.py wait-outside FILE SECS [PID]  until a lock outside QEMU's
#                                          permission bytes 100-103/200-203
#   lockprobe.py outside FILE              print the locks outside them
#   lockprobe.py test FILE BYTE            print "free" or "read"/"write"

import fcntl
import os
import struct
import sys
import time

F_OFD_GETLK = 36
FMT = '@hhqqi'
SIZE = 32


def getlk(fd, ltype, start, length):
    """Returns (type, start, len) of a lock conflicting with a probe."""
    buf = struct.pack(FMT, ltype, os.SEEK_SET, start, length, 0)
    buf += b'\0' * (SIZE - len(buf))
    res = fcntl.fcntl(fd, F_OFD_GETLK, buf)
    t, _, s, ln, _ = struct.unpack(FMT, res[:struct.calcsize(FMT)])
    return t, s, ln


def name(t):
    return {fcntl.F_RDLCK: 'read', fcntl.F_WRLCK: 'write'}.get(t, 'free')


def locked_ranges(fd):
    """All (start, end, type) locked by others; end None means EOF/inf."""
    found = []
    todo = [(0, None)]
    while todo:
        lo, hi = todo.pop()
        length = 0 if hi is None else hi - lo
        if hi is not None and length <= 0:
            continue
        t, s, ln = getlk(fd, fcntl.F_WRLCK, lo, length)
        if t == fcntl.F_UNLCK:
            continue
        s = max(s, lo)
        e = None if ln == 0 else s + ln
        if hi is not None and (e is None or e > hi):
            e = hi
        # A read lock and a write lock may overlap; learn the type of
        # the strongest one by a read probe.
        t2, _, _ = getlk(fd, fcntl.F_RDLCK, s, 1)
        found.append((s, e, 'write' if t2 == fcntl.F_WRLCK else name(t)))
        todo.append((lo, s))
        if e is not None:
            todo.append((e, hi))
        if len(found) > 4096:
            break
    return sorted(found, key=lambda r: r[0])


def show(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        rs = locked_ranges(fd)
    finally:
        os.close(fd)
    if not rs:
        print('no locks')
        return 0
    for s, e, t in rs:
        if e is None:
            print('%s %d-EOF' % (t, s))
        elif e - s == 1:
            print('%s %d' % (t, s))
        else:
            print('%s %d-%d' % (t, s, e - 1))
    return 0


QEMU_BYTES = set(range(100, 104)) | set(range(200, 204))


def outside_ranges(path):
    """Locked ranges that are not (only) QEMU's permission bytes."""
    fd = os.open(path, os.O_RDONLY)
    try:
        rs = locked_ranges(fd)
    finally:
        os.close(fd)
    out = []
    for s, e, t in rs:
        if e is not None and set(range(s, e)) <= QEMU_BYTES:
            continue
        out.append((s, e, t))
    return out


def alive(pid):
    if pid is None:
        return True
    try:
        # A zombie counts as dead.
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(') ')[-1][0] != 'Z'
    except OSError:
        return False


def probe_state(path, mode):
    """True/False whether the awaited kind of lock is there, None if the
    file cannot be opened (yet)."""
    try:
        if mode == 'outside':
            return bool(outside_ranges(path))
        fd = os.open(path, os.O_RDONLY)
        try:
            probe = fcntl.F_RDLCK if mode == 'wrlocked' else fcntl.F_WRLCK
            t, _, _ = getlk(fd, probe, 0, 0)
            return t != fcntl.F_UNLCK
        finally:
            os.close(fd)
    except OSError:
        return None


def wait(path, mode, secs, pid):
    end = time.monotonic() + secs
    while True:
        if mode == 'none':
            # no lock to wait for: only that the holder is alive
            return 0 if alive(pid) else 1
        state = probe_state(path, mode)
        if mode == 'unlocked':
            # a file that is not there holds no locks either
            if state is False or (state is None and
                                  not os.path.exists(path)):
                return 0
        elif state:
            return 0
        if not alive(pid):
            sys.stderr.write('lockprobe: process %d exited before %s\n' %
                             (pid, mode))
            return 1
        if time.monotonic() > end:
            sys.stderr.write('lockprobe: %s not %s after %ss\n' %
                             (path, mode, secs))
            return 1
        time.sleep(0.01)


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__ if __doc__ else 'usage error\n')
        return 2
    cmd, path = argv[1], argv[2]
    if cmd == 'show':
        return show(path)
    if cmd == 'outside':
        for st, e, t in outside_ranges(path):
            print('%s %d-%s' % (t, st, 'EOF' if e is None else e - 1))
        return 0
    if cmd == 'test':
        fd = os.open(path, os.O_RDONLY)
        t, _, _ = getlk(fd, fcntl.F_WRLCK, int(argv[3]), 1)
        os.close(fd)
        print(name(t))
        return 0
    if cmd.startswith('wait-'):
        secs = float(argv[3]) if len(argv) > 3 else 20
        pid = int(argv[4]) if len(argv) > 4 else None
        return wait(path, cmd[5:], secs, pid)
    sys.stderr.write('lockprobe: unknown command %s\n' % cmd)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
