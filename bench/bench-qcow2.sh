#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench-qcow2.sh: our qcow2 driver (through our qemu-img/qemu-io) against
# the real qemu-img/qemu-io 7.2, measured in the same run on the same
# inputs.  Prints seconds for each tool and the ratio ours/real (below 1.0
# means we are faster).  Never asserts on time.
#
# usage: bench-qcow2.sh [BUILD_DIR]   (BENCH_QCOW2_DIR: scratch directory)

set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
OUR_IMG=$BUILD/qemu-img
OUR_IO=$BUILD/qemu-io
REAL_IMG=${REAL_QEMU_IMG:-/usr/bin/qemu-img}
REAL_IO=${REAL_QEMU_IO:-/usr/bin/qemu-io}
PY=/usr/bin/python3

for p in "$OUR_IMG" "$OUR_IO" "$REAL_IMG" "$REAL_IO"; do
    if [ ! -x "$p" ]; then
        echo "bench-qcow2: skipped: $p not found"
        exit 0
    fi
done

D=${BENCH_QCOW2_DIR:-$(mktemp -d /tmp/bench-qcow2.XXXXXX)}
mkdir -p "$D"
trap 'rm -rf "$D"' EXIT

now() { date +%s.%N; }
# _time CMD...: run, print elapsed seconds (output discarded)
_time()
{
    local t0 t1
    t0=$(now)
    "$@" > /dev/null 2>&1 || echo "bench-qcow2: command failed: $*" >&2
    t1=$(now)
    echo "$t0 $t1" | awk '{printf "%.3f", $2 - $1}'
}

printf '%-44s %9s %9s %7s\n' "benchmark" "ours[s]" "real[s]" "ratio"
_report()
{
    printf '%-44s %9s %9s %7s\n' "$1" "$2" "$3" \
        "$(echo "$2 $3" | awk '{ if ($2 > 0) printf "%.2f", $1 / $2; else print "n/a" }')"
}

# -- create ------------------------------------------------------------------
_create_many()
{
    local tool=$1 i
    for i in $(seq 1 50); do
        "$tool" create -f qcow2 "$D/c.qcow2" 1G > /dev/null || return 1
    done
}
o=$(_time _create_many "$OUR_IMG")
r=$(_time _create_many "$REAL_IMG")
_report "create 1G qcow2 (x50)" "$o" "$r"

# -- a 1 GiB raw image: data and zero regions mixed ------------------------
RAW=$D/mixed.raw
head -c $((4 << 20)) /dev/urandom > "$D/chunk"
truncate -s 1G "$RAW"
for i in $(seq 0 2 63); do
    # 4 MiB of data every 16 MiB, and a compressible 4 MiB next to it
    dd if="$D/chunk" of="$RAW" bs=1M seek=$((i * 8)) conv=notrunc \
        status=none
    yes "qcow2 bench" | head -c $((4 << 20)) |
        dd of="$RAW" bs=1M seek=$((i * 8 + 4)) conv=notrunc status=none
done
rm -f "$D/chunk"

o=$(_time "$OUR_IMG" convert -f raw -O qcow2 "$RAW" "$D/o.qcow2")
r=$(_time "$REAL_IMG" convert -f raw -O qcow2 "$RAW" "$D/r.qcow2")
_report "convert raw->qcow2, 1 GiB mixed" "$o" "$r"
o=$(_time "$OUR_IMG" convert -f qcow2 -O raw "$D/r.qcow2" "$D/o.raw")
r=$(_time "$REAL_IMG" convert -f qcow2 -O raw "$D/r.qcow2" "$D/r.raw")
_report "convert qcow2->raw, 1 GiB mixed" "$o" "$r"
if ! cmp -s "$D/o.raw" "$RAW"; then
    echo "bench-qcow2: WARNING: our qcow2->raw output differs from the input"
fi
rm -f "$D/o.raw" "$D/r.raw"
o=$(_time "$OUR_IMG" convert -c -f raw -O qcow2 "$RAW" "$D/oc.qcow2")
r=$(_time "$REAL_IMG" convert -c -f raw -O qcow2 "$RAW" "$D/rc.qcow2")
_report "convert -c raw->qcow2, 1 GiB mixed" "$o" "$r"
rm -f "$RAW" "$D"/o.qcow2 "$D"/r.qcow2 "$D"/oc.qcow2 "$D"/rc.qcow2

# -- an empty (sparse) 1 GiB raw image: block status, not reads ------------
truncate -s 1G "$D/empty.raw"
o=$(_time "$OUR_IMG" convert -c -f raw -O qcow2 "$D/empty.raw" "$D/oc.qcow2")
r=$(_time "$REAL_IMG" convert -c -f raw -O qcow2 "$D/empty.raw" "$D/rc.qcow2")
_report "convert -c raw->qcow2, 1 GiB empty" "$o" "$r"
rm -f "$D/empty.raw" "$D"/oc.qcow2 "$D"/rc.qcow2

# -- check on a fragmented 1 GiB image ---------------------------------------
"$REAL_IMG" create -f qcow2 "$D/frag.qcow2" 1G > /dev/null
"$PY" -c "
import random
r = random.Random(7)
cl = list(range(16384))
r.shuffle(cl)
for c in cl[:12000]:
    print('write -P %d %d 4k' % (c % 255 + 1, c * 65536))
" > "$D/frag.cmds"
"$REAL_IO" -t writeback "$D/frag.qcow2" < "$D/frag.cmds" > /dev/null
o=$(_time "$OUR_IMG" check "$D/frag.qcow2")
r=$(_time "$REAL_IMG" check "$D/frag.qcow2")
_report "check, fragmented 1 GiB (12000 clusters)" "$o" "$r"
rm -f "$D/frag.qcow2"

# _fresh_pair: empty 1 GiB images $D/ours.qcow2 and $D/real.qcow2, each
# made by its own qemu-img.
_fresh_pair()
{
    "$OUR_IMG" create -f qcow2 "$D/ours.qcow2" 1G > /dev/null
    "$REAL_IMG" create -f qcow2 "$D/real.qcow2" 1G > /dev/null
}

# -- qemu-io: 4 KiB random writes, 1 MiB sequential writes ------------------
"$PY" -c "
import random
r = random.Random(11)
for i in range(4000):
    print('write -P 0x5a %d 4k' % (r.randrange(262144) * 4096))
" > "$D/rand.cmds"
_fresh_pair
o=$(_time sh -c "'$OUR_IO' -t writeback '$D/ours.qcow2' < '$D/rand.cmds'")
r=$(_time sh -c "'$REAL_IO' -t writeback '$D/real.qcow2' < '$D/rand.cmds'")
_report "qemu-io 4 KiB random writes (x4000)" "$o" "$r"
rm -f "$D/ours.qcow2" "$D/real.qcow2"

# The same as aio requests: ours runs each in a coroutine (a thread that
# takes its turn), the real one in its own coroutines.
sed 's/^write /aio_write /' "$D/rand.cmds" > "$D/aio.cmds"
echo aio_flush >> "$D/aio.cmds"
_fresh_pair
o=$(_time sh -c "'$OUR_IO' -t writeback '$D/ours.qcow2' < '$D/aio.cmds'")
r=$(_time sh -c "'$REAL_IO' -t writeback '$D/real.qcow2' < '$D/aio.cmds'")
_report "qemu-io 4 KiB random aio_writes (x4000)" "$o" "$r"
rm -f "$D/ours.qcow2" "$D/real.qcow2"

# Discards of written clusters, one request each: the clusters they free
# go to the file as merged regions at the request's end, and the refcounts
# wait for the L2 tables in the cache (no flush per discard).
"$PY" -c "
import random
r = random.Random(13)
cl = r.sample(range(16384), 2000)
with open('$D/dwrite.cmds', 'w') as w, open('$D/discard.cmds', 'w') as d:
    for c in cl:
        w.write('write -P 0x6b %d 64k\\n' % (c * 65536))
    r.shuffle(cl)
    for c in cl:
        d.write('discard %d 64k\\n' % (c * 65536))
"
"$REAL_IMG" create -f qcow2 "$D/ours.qcow2" 1G > /dev/null
"$REAL_IO" -t writeback "$D/ours.qcow2" < "$D/dwrite.cmds" > /dev/null
cp "$D/ours.qcow2" "$D/real.qcow2"
o=$(_time sh -c "'$OUR_IO' -t writeback '$D/ours.qcow2' < '$D/discard.cmds'")
r=$(_time sh -c "'$REAL_IO' -t writeback '$D/real.qcow2' < '$D/discard.cmds'")
_report "qemu-io 64 KiB discards (x2000)" "$o" "$r"
rm -f "$D/ours.qcow2" "$D/real.qcow2"

_fresh_pair
o=$(_time "$OUR_IO" -t writeback -c "write -P 0x33 0 512M" "$D/ours.qcow2")
r=$(_time "$REAL_IO" -t writeback -c "write -P 0x33 0 512M" "$D/real.qcow2")
_report "qemu-io sequential 1 MiB writes, 512 MiB" "$o" "$r"
"$PY" -c "
for i in range(512):
    print('write -P 0x44 %d 1M' % (i << 20))
" > "$D/seq.cmds"
rm -f "$D/ours.qcow2" "$D/real.qcow2"
_fresh_pair
o=$(_time sh -c "'$OUR_IO' '$D/ours.qcow2' < '$D/seq.cmds'")
r=$(_time sh -c "'$REAL_IO' '$D/real.qcow2' < '$D/seq.cmds'")
_report "qemu-io 512 x 1 MiB writes (writethrough)" "$o" "$r"
exit 0
