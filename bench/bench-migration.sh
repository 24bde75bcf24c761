#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench-migration.sh: run by `make bench` (bench/run.sh passes the build
# dir): live migration downtime, qemu-vtpm against swtpm 0.7.1, see
# bench-migration.py.  BENCH_MIGRATION_ROUNDS sets the rounds (3).

SRC=$(cd "$(dirname "$0")/.." && pwd)
exec /usr/bin/python3 "$SRC/bench/bench-migration.py" "${1:-$SRC/build}" \
    "${BENCH_MIGRATION_ROUNDS:-3}"
