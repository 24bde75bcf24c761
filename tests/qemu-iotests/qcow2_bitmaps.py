#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# qcow2_bitmaps.py IMAGE: the persistent dirty bitmaps of a qcow2 image as
# the file holds them, read straight from the bytes (docs/specs/qcow2.rst),
# independent of both our tools and QEMU's: autoclear bit 0, then per
# bitmap its flags, granularity and the dirty byte ranges of the disk.
# Tests diff this between images our tools and the real ones wrote.
import struct
import sys

BITMAPS_EXT = 0x23852875


def extensions(f, hdr_len, cluster_size, backing_off):
    end = backing_off if backing_off else cluster_size
    f.seek(hdr_len)
    data = f.read(end - hdr_len)
    pos = 0
    while pos + 8 <= len(data):
        typ, length = struct.unpack('>II', data[pos:pos + 8])
        if typ == 0:
            return
        yield typ, data[pos + 8:pos + 8 + length]
        pos += 8 + (length + 7) // 8 * 8


def dirty_ranges(f, size, gran_bits, table_off, table_size, cluster_size):
    f.seek(table_off)
    table = struct.unpack('>%dQ' % table_size, f.read(table_size * 8))
    nbits = (size + (1 << gran_bits) - 1) >> gran_bits
    bits_per_cluster = cluster_size * 8
    ranges = []
    for i, e in enumerate(table):
        off = e & 0x00fffffffffffe00
        first = i * bits_per_cluster
        if off == 0:
            if e & 1:
                ranges.append((first, min(nbits, first + bits_per_cluster)))
            continue
        f.seek(off)
        data = f.read(cluster_size)
        for byte_i, b in enumerate(data):
            if not b:
                continue
            for bit in range(8):
                if b >> bit & 1:
                    n = first + byte_i * 8 + bit
                    if n < nbits:
                        ranges.append((n, n + 1))
    merged = []
    for a, b in sorted(ranges):
        if merged and merged[-1][1] >= a:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return [(a << gran_bits, min(size, b << gran_bits)) for a, b in merged]


def main():
    with open(sys.argv[1], 'rb') as f:
        hdr = f.read(112)
        version = struct.unpack('>I', hdr[4:8])[0]
        backing_off = struct.unpack('>Q', hdr[8:16])[0]
        cluster_size = 1 << struct.unpack('>I', hdr[20:24])[0]
        size = struct.unpack('>Q', hdr[24:32])[0]
        if version < 3:
            print('v2 image: no bitmaps')
            return
        autoclear = struct.unpack('>Q', hdr[88:96])[0]
        hdr_len = struct.unpack('>I', hdr[100:104])[0]
        ext = None
        for typ, data in extensions(f, hdr_len, cluster_size, backing_off):
            if typ == BITMAPS_EXT:
                ext = data
        print('autoclear bitmaps bit: %d' % (autoclear & 1))
        if ext is None:
            print('no bitmaps extension')
            return
        nb, _, dir_size, dir_off = struct.unpack('>IIQQ', ext[:24])
        print('bitmaps: %d, directory %d bytes' % (nb, dir_size))
        f.seek(dir_off)
        d = f.read(dir_size)
        pos = 0
        for _ in range(nb):
            (tb_off, tb_size, flags, typ, gran_bits, name_size,
             extra) = struct.unpack('>QIIBBHI', d[pos:pos + 24])
            name = d[pos + 24 + extra:pos + 24 + extra + name_size].decode()
            pos += (24 + extra + name_size + 7) // 8 * 8
            fl = [n for bit, n in ((0, 'in-use'), (1, 'auto'))
                  if flags >> bit & 1]
            print('  %s: flags [%s] granularity %d' %
                  (name, ','.join(fl), 1 << gran_bits))
            if flags & 1:
                print('    (in use: contents not trusted)')
                continue
            rs = dirty_ranges(f, size, gran_bits, tb_off, tb_size,
                              cluster_size)
            print('    dirty: %s' % (' '.join('%d+%d' % (a, b - a)
                                              for a, b in rs) or 'none'))


main()
