#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# run.sh: `make bench`.  Runs every benchmark executable built into
# <build>/bench/ and every bench/*.sh script; each prints its own ratios
# against a baseline it measures in the same run.  Nothing here asserts on
# time; a benchmark that crashes is reported and the run goes on.

set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
case "$BUILD" in /*) ;; *) BUILD=$SRC/$BUILD ;; esac
export SRC BUILD
ran=0
broken=()

for b in "$BUILD"/bench/*; do
    [ -f "$b" ] && [ -x "$b" ] || continue
    case "$b" in *.p|*.o|*.so|*.a) continue ;; esac
    echo "===== $(basename "$b") ====="
    if ! "$b"; then
        broken+=("$(basename "$b")")
    fi
    ran=$((ran + 1))
    echo
done

for s in "$SRC"/bench/*.sh; do
    [ -f "$s" ] || continue
    [ "$(basename "$s")" = run.sh ] && continue
    echo "===== $(basename "$s") ====="
    if ! bash "$s" "$BUILD"; then
        broken+=("$(basename "$s")")
    fi
    ran=$((ran + 1))
    echo
done

echo "bench: $ran benchmark(s) run"
if [ ${#broken[@]} -gt 0 ]; then
    echo "bench: these did not finish cleanly: ${broken[*]}"
    exit 1
fi
