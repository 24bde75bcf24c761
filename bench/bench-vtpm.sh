#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench-vtpm.sh: run by `make bench` (bench/run.sh passes the build dir):
# qemu-vtpm against swtpm 0.7.1, see bench-vtpm.py.

SRC=$(cd "$(dirname "$0")/.." && pwd)
exec /usr/bin/python3 "$SRC/bench/bench-vtpm.py" "${1:-$SRC/build}" "${2:-500}"
