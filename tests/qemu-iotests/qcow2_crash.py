#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# qcow2_crash.py: replay crash points of a blkrecord log (the writes, zero
# writes, truncates and flushes our qcow2 driver sent to the image file)
# onto a copy of the image as it was before, and run the REAL qemu-img
# check on each resulting state.  Crash states: every prefix of the log,
# and, for each flush epoch, seeded random subsets of that epoch's writes
# (writes between two flushes may reach the disk in any order).  A state
# may leak clusters (check exit 3) but never be corrupt (exit 2) or
# unreadable (exit 1).
#
# usage: qcow2_crash.py BEFORE_IMAGE LOG SCRATCH_DIR SUBSETS_PER_EPOCH

import os
import random
import shutil
import struct
import subprocess
import sys


def parse(log):
    recs = []
    with open(log, 'rb') as f:
        d = f.read()
    i = 0
    while i < len(d):
        t = chr(d[i])
        off, ln = struct.unpack('>QQ', d[i + 1:i + 17])
        i += 17
        data = None
        if t == 'W':
            data = d[i:i + ln]
            i += ln
        recs.append((t, off, ln, data))
    return recs


def apply(path, recs):
    with open(path, 'r+b') as f:
        for t, off, ln, data in recs:
            if t == 'W':
                f.seek(off)
                f.write(data)
            elif t == 'Z':
                f.seek(off)
                f.write(bytes(ln))
            elif t == 'T':
                f.truncate(off)


def main():
    before, log, tdir, subsets = sys.argv[1], sys.argv[2], sys.argv[3], \
        int(sys.argv[4])
    real = os.environ.get('REAL_QEMU_IMG', '/usr/bin/qemu-img')
    recs = parse(log)
    rng = random.Random(1234)
    states = []
    # every prefix
    for k in range(len(recs) + 1):
        states.append(('prefix %d' % k, recs[:k]))
    # random subsets inside each flush epoch
    start = 0
    for k, r in enumerate(recs + [('F', 0, 0, None)]):
        if r[0] != 'F':
            continue
        epoch = recs[start:k]
        if len(epoch) > 1:
            for _ in range(subsets):
                pick = [x for x in epoch if rng.random() < 0.5]
                states.append(('epoch at %d subset' % start,
                               recs[:start] + pick))
        start = k + 1
    img = os.path.join(tdir, 't-crash.qcow2')
    counts = {}
    bad = 0
    for name, rs in states:
        shutil.copyfile(before, img)
        apply(img, rs)
        p = subprocess.run([real, 'check', img], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True)
        counts[p.returncode] = counts.get(p.returncode, 0) + 1
        if p.returncode not in (0, 3):
            bad += 1
            if bad <= 3:
                print('%s: real check exit %d' % (name, p.returncode))
                print(p.stdout[-1500:])
    os.unlink(img)
    flushes = sum(1 for r in recs if r[0] == 'F')
    print('%d records (%d flushes), %d crash states: %s' % (
        len(recs), flushes, len(states),
        'no corruption' if bad == 0 else '%d CORRUPT' % bad))
    print('clean states: %s' % ('yes' if counts.get(0, 0) > 0 else 'none'))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
