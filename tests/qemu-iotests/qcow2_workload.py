#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# qcow2_workload.py: a seeded random workload for the qcow2 driver.  It
# drives our qemu-io/qemu-img on a qcow2 image (optionally over a backing
# file) while keeping a raw replica of what the guest should see, then has
# the REAL qemu-img check the image and compare it with the replica.
# Prints one line per phase; any mismatch is printed, never hidden.

import os
import random
import subprocess
import sys


def run(cmd, check=True):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    if check and p.returncode != 0:
        print('FAILED (%d): %s' % (p.returncode, ' '.join(cmd[:3])))
        print(p.stdout[-2000:])
    return p


class Workload:
    def __init__(self, seed, tdir, our_img, our_io, real_img, real_io,
                 cluster_size, size, compat, refcount_bits, backing):
        self.rng = random.Random(seed)
        self.tdir = tdir
        self.our_img = our_img
        self.our_io = our_io
        self.real_img = real_img
        self.real_io = real_io
        self.cs = cluster_size
        self.size = size
        self.compat = compat
        self.refcount_bits = refcount_bits
        self.backing = backing
        self.img = os.path.join(tdir, 't.qcow2')
        self.base = os.path.join(tdir, 't-base.qcow2')
        self.replica = bytearray(size)
        self.snaps = {}
        self.errors = 0

    def opts(self):
        return 'cluster_size=%d,compat=%s,refcount_bits=%d' % (
            self.cs, self.compat, self.refcount_bits)

    def random_range(self):
        r = self.rng.random()
        if r < 0.3:
            # cluster aligned
            n = self.rng.randint(1, 8) * self.cs
            off = self.rng.randrange(0, self.size // self.cs) * self.cs
        elif r < 0.8:
            off = self.rng.randrange(0, self.size // 512) * 512
            n = self.rng.randint(1, 4 * self.cs // 512 + 8) * 512
        else:
            off = self.rng.randrange(0, self.size)
            n = self.rng.randint(1, 3 * self.cs)
        n = min(n, self.size - off)
        return off, max(n, 1) if off < self.size else 0

    def gen_ops(self, count, allow_discard=True):
        cmds = []
        for _ in range(count):
            off, n = self.random_range()
            if n <= 0:
                continue
            r = self.rng.random()
            if r < 0.6:
                pat = self.rng.randint(1, 255)
                cmds.append('write -P 0x%x %d %d' % (pat, off, n))
                self.replica[off:off + n] = bytes([pat]) * n
            elif r < 0.8:
                cmds.append('write -z %d %d' % (off, n))
                self.replica[off:off + n] = bytes(n)
            elif allow_discard:
                cmds.append('discard %d %d' % (off, n))
                start = -(-off // self.cs) * self.cs
                end = off + n
                if end == self.size:
                    end = -(-end // self.cs) * self.cs
                else:
                    end = end // self.cs * self.cs
                end = min(end, self.size)
                if end > start:
                    self.replica[start:end] = bytes(end - start)
        return cmds

    def io(self, img, cmds):
        for i in range(0, len(cmds), 40):
            args = [self.our_io, '-f', 'qcow2']
            for c in cmds[i:i + 40]:
                args += ['-c', c]
            args.append(img)
            p = run(args)
            if p.returncode != 0:
                self.errors += 1
                return

    def write_replica(self, path, data=None):
        with open(path, 'wb') as f:
            f.write(self.replica if data is None else data)

    def real_check(self, img, what):
        p = run([self.real_img, 'check', '-f', 'qcow2', img], check=False)
        if p.returncode != 0:
            self.errors += 1
            print('%s: real qemu-img check exit %d' % (what, p.returncode))
            print(p.stdout[-3000:])
        else:
            print('%s: real qemu-img check clean' % what)

    def real_compare(self, img, what, data=None, snap=None):
        raw = os.path.join(self.tdir, 't-replica.raw')
        self.write_replica(raw, data)
        if snap is None:
            p = run([self.real_img, 'compare', '-f', 'qcow2', '-F', 'raw',
                     img, raw], check=False)
        else:
            out = os.path.join(self.tdir, 't-snap.raw')
            p = run([self.real_img, 'convert', '-f', 'qcow2', '-O', 'raw',
                     '-l', 'snapshot.name=' + snap, img, out], check=False)
            if p.returncode == 0:
                with open(out, 'rb') as f:
                    same = f.read() == bytes(data)
                os.unlink(out)
                p.returncode = 0 if same else 1
                p.stdout = 'snapshot content differs' if not same else ''
        os.unlink(raw)
        if p.returncode != 0:
            self.errors += 1
            print('%s: real qemu-img compare differs (exit %d)' %
                  (what, p.returncode))
            print(p.stdout[-2000:])
        else:
            print('%s: identical to the raw replica' % what)

    def main(self, nsnap):
        for f in (self.img, self.base):
            if os.path.exists(f):
                os.unlink(f)
        if self.backing:
            run([self.our_img, 'create', '-f', 'qcow2', '-o', self.opts(),
                 self.base, str(self.size)])
            self.io(self.base, self.gen_ops(60))
            self.real_check(self.base, 'base')
            run([self.our_img, 'create', '-f', 'qcow2', '-o', self.opts(),
                 '-b', self.base, '-F', 'qcow2', self.img])
        else:
            run([self.our_img, 'create', '-f', 'qcow2', '-o', self.opts(),
                 self.img, str(self.size)])
        for i in range(nsnap + 1):
            self.io(self.img, self.gen_ops(
                50, not (self.backing and self.compat == '0.10')))
            if i < nsnap:
                name = 'snap%d' % i
                p = run([self.our_img, 'snapshot', '-c', name, self.img])
                if p.returncode == 0:
                    self.snaps[name] = bytes(self.replica)
                else:
                    self.errors += 1
        self.real_check(self.img, 'image')
        self.real_compare(self.img, 'active layer')
        for name, data in sorted(self.snaps.items()):
            self.real_compare(self.img, 'snapshot ' + name, data, name)
        if self.snaps:
            # apply the first snapshot, delete another, and write on
            name = sorted(self.snaps)[0]
            run([self.our_img, 'snapshot', '-a', name, self.img])
            self.replica = bytearray(self.snaps[name])
            if len(self.snaps) > 1:
                victim = sorted(self.snaps)[-1]
                run([self.our_img, 'snapshot', '-d', victim, self.img])
                del self.snaps[victim]
            self.io(self.img, self.gen_ops(
                40, not (self.backing and self.compat == '0.10')))
            self.real_check(self.img, 'after apply/delete')
            self.real_compare(self.img, 'active after apply')
            for name, data in sorted(self.snaps.items()):
                self.real_compare(self.img, 'snapshot ' + name, data, name)
        return self.errors


def main():
    seed = int(sys.argv[1])
    tdir = sys.argv[2]
    cs = int(sys.argv[3])
    compat = sys.argv[4]
    rbits = int(sys.argv[5])
    backing = sys.argv[6] == 'backing'
    nsnap = int(sys.argv[7])
    size = int(sys.argv[8]) if len(sys.argv) > 8 else 32 * 1024 * 1024
    w = Workload(seed, tdir, os.environ['QEMU_IMG_PROG'],
                 os.environ['QEMU_IO_PROG'],
                 os.environ.get('REAL_QEMU_IMG', '/usr/bin/qemu-img'),
                 os.environ.get('REAL_QEMU_IO', '/usr/bin/qemu-io'),
                 cs, size, compat, rbits, backing)
    errors = w.main(nsnap)
    print('errors: %d' % errors)
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
