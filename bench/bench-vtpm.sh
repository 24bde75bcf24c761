#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench-vtpm.sh: run by `make bench` (bench/run.sh passes the build dir):
# qemu-vtpm against swtpm 0.7.1, see bench-vtpm.py.

SRC=$(cd "$(dirname "$0")/.." && pwd)
# One CPU for the client and every server (they inherit the affinity): on
# two cores a round trip otherwise measures where the scheduler happened to
# wake each server (80-110 us across cores, 18 us on one), not the server.
if command -v taskset > /dev/null; then
    echo "bench-vtpm: client and servers pinned to CPU 0 (taskset)"
    exec taskset -c 0 /usr/bin/python3 "$SRC/bench/bench-vtpm.py" \
        "${1:-$SRC/build}" "${2:-500}"
fi
exec /usr/bin/python3 "$SRC/bench/bench-vtpm.py" "${1:-$SRC/build}" "${2:-500}"
