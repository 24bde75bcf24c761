#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# demo.sh: `make demo`, a short guided run of what this tree does, against
# the real QEMU 7.2 tools installed on the machine.  Each stage is a
# function; add later stages (e.g. the vTPM) as new functions and list
# them in DEMO_STAGES.

set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$SRC/build}
QEMU_IMG=${QEMU_IMG:-$BUILD/qemu-img}
QEMU_IO=${QEMU_IO:-$BUILD/qemu-io}
REAL_QEMU_IMG=${REAL_QEMU_IMG:-/usr/bin/qemu-img}
REAL_QEMU_SYSTEM=${REAL_QEMU_SYSTEM:-/usr/bin/qemu-system-x86_64}
PYTHON=/usr/bin/python3
LOCKPROBE=$SRC/tests/qemu-iotests/lockprobe.py
QMP=$SRC/tests/qemu-iotests/qmp.py
DEMO_DIR=$(mktemp -d /tmp/qemu-blocktpm-demo.XXXXXX)
DEMO_STAGES=${DEMO_STAGES:-"stage_image_locking"}
PIDS=()
failures=0

cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null
    done
    rm -rf "$DEMO_DIR"
}
trap cleanup EXIT

# ---- presentation ----------------------------------------------------------
if [ -t 1 ]; then
    B=$'\e[1m' G=$'\e[32m' R=$'\e[31m' C=$'\e[36m' N=$'\e[0m'
else
    B= G= R= C= N=
fi
title() { printf '\n%s== %s ==%s\n' "$B" "$*" "$N"; }
say() { printf '%s\n' "$*"; }

# run DESCRIPTION CMD...: show the command (paths shortened), run it,
# indent its output.
run() {
    local a shown=
    for a in "$@"; do
        case "$a" in *' '*) a="'$a'" ;; esac
        shown="$shown${shown:+ }$a"
    done
    shown=${shown//$DEMO_DIR\//}
    shown=${shown//$BUILD\//build\/}
    printf '%s$ %s%s\n' "$C" "$shown" "$N"
    "$@" 2>&1 | sed -e "s#$DEMO_DIR/##g" -e 's/^/    /'
    return "${PIPESTATUS[0]}"
}

# expect ok|fail CMD...: run and say whether the outcome is the one we want.
expect() {
    local want=$1 rc
    shift
    run "$@"
    rc=$?
    if { [ "$want" = ok ] && [ $rc -eq 0 ]; } ||
       { [ "$want" = fail ] && [ $rc -ne 0 ]; }; then
        printf '    %s-> %s, as expected%s\n' "$G" \
            "$([ $rc -eq 0 ] && echo "succeeded" || echo "refused (exit $rc)")" "$N"
    else
        printf '    %s-> UNEXPECTED: exit %d%s\n' "$R" $rc "$N"
        failures=$((failures + 1))
    fi
}

# hold_io WAITMODE IMAGE [qemu-io args]: our qemu-io holds IMAGE in the
# background; wait (bounded) until it has read a sector (every lock of the
# open is in place then) and until the wanted lock is visible.
hold_io() {
    local mode=$1 img=$2
    shift 2
    stdbuf -oL "$QEMU_IO" "$@" -c 'read 0 512' -c 'sleep 100000000' "$img" \
        > "$DEMO_DIR/holder.log" 2>&1 &
    HOLDER=$!
    PIDS+=($HOLDER)
    local end=$((SECONDS + 20))
    until grep -q '^read 512/512' "$DEMO_DIR/holder.log"; do
        if ! kill -0 $HOLDER 2>/dev/null || [ $SECONDS -gt $end ]; then
            say "${R}holder did not start:${N}"
            cat "$DEMO_DIR/holder.log"
            exit 1
        fi
        sleep 0.02
    done
    $PYTHON "$LOCKPROBE" "wait-$mode" "$img" 20 "$HOLDER" || exit 1
}

# hold_vm IMAGE: a real, paused VM with IMAGE as its virtio disk; wait
# (bounded) for its QMP greeting, which comes after every disk is open.
hold_vm() {
    local img=$1
    "$REAL_QEMU_SYSTEM" -S -nodefaults -display none -M q35,accel=tcg \
        -drive "file=$img,format=$FMT,if=virtio" \
        -qmp "unix:$DEMO_DIR/qmp.sock,server=on,wait=off" \
        > "$DEMO_DIR/vm.log" 2>&1 &
    HOLDER=$!
    PIDS+=($HOLDER)
    if ! $PYTHON "$QMP" "$DEMO_DIR/qmp.sock" --timeout 20 --pid $HOLDER \
            greet; then
        say "${R}the VM did not start:${N}"
        cat "$DEMO_DIR/vm.log"
        exit 1
    fi
}

release() {
    kill "$HOLDER" 2>/dev/null
    wait "$HOLDER" 2>/dev/null
    $PYTHON "$LOCKPROBE" wait-unlocked "$1" 20
}

show_locks() {
    printf '%s$ lockprobe show %s%s\n' "$C" "${1#$DEMO_DIR/}" "$N"
    $PYTHON "$LOCKPROBE" show "$1" | sed -e 's/^/    /' \
        -e 's/\(4611686018427387904\)/\1 (2^62: the serialization lock)/'
}

# ---- stage 1: image locking, interoperable with QEMU 7.2 -------------------
stage_image_locking() {
    local fmt=raw img
    say "${B}build/qemu-img, build/qemu-io${N}: ours.  ${B}/usr/bin/qemu-*${N}: QEMU 7.2 from Debian."
    if "$QEMU_IMG" --help 2>/dev/null | grep -q 'qcow2'; then
        fmt=qcow2
    fi
    img=$DEMO_DIR/disk.$fmt

    title "1. Create an image with our qemu-img ($fmt)"
    expect ok "$QEMU_IMG" create -f $fmt "$img" 64M
    expect ok "$QEMU_IO" -f $fmt -c 'write -P 0x5a 0 1M' "$img"
    expect ok "$REAL_QEMU_IMG" info -f $fmt "$img"

    title "2. Our qemu-io holds it read-write (like a running VM)"
    hold_io locked "$img" -f $fmt
    say "our qemu-io (pid $HOLDER) has the image open; its locks, as QEMU's:"
    show_locks "$img"

    title "3. Our qemu-img and the real qemu-img both refuse it"
    if [ $fmt = qcow2 ]; then
        expect fail "$QEMU_IMG" info "$img"
        expect fail "$REAL_QEMU_IMG" info "$img"
    fi
    expect fail "$QEMU_IMG" convert -f $fmt -O raw "$img" "$DEMO_DIR/copy.raw"
    expect fail "$REAL_QEMU_IMG" convert -f $fmt -O raw "$img" \
        "$DEMO_DIR/copy.raw"
    say "a real VM refuses to boot with the disk, too:"
    expect fail "$REAL_QEMU_SYSTEM" -S -nodefaults -display none \
        -M q35,accel=tcg -drive "file=$img,format=$fmt,if=virtio" \
        -daemonize -pidfile "$DEMO_DIR/vm.pid"
    if [ -s "$DEMO_DIR/vm.pid" ]; then
        kill "$(cat "$DEMO_DIR/vm.pid")"
    fi
    say "-U (force-share) reads it anyway, as in QEMU:"
    expect ok "$QEMU_IMG" info -U -f $fmt "$img"
    expect ok "$REAL_QEMU_IMG" info -U -f $fmt "$img"
    release "$img"

    title "4. A real VM holds it; our tools refuse it with QEMU's words"
    FMT=$fmt hold_vm "$img"
    say "a paused VM (pid $HOLDER) has the disk open read-write"
    expect fail "$QEMU_IO" -f $fmt -c 'write 0 512' "$img"
    expect fail "$QEMU_IMG" resize -f $fmt "$img" 128M
    release "$img"

    title "5. The serialization lock (bdrv_lock) is invisible to QEMU"
    hold_io outside "$img" -f $fmt -r -c lock
    say "our qemu-io holds the serialization lock (read-only open: shared):"
    show_locks "$img"
    expect ok "$REAL_QEMU_IMG" info -f $fmt "$img"
    expect ok "$REAL_QEMU_IMG" check -f $fmt "$img"
    release "$img"

    title "6. Released: everyone may use it again"
    expect ok "$QEMU_IMG" convert -f $fmt -O raw "$img" "$DEMO_DIR/copy.raw"
    expect ok "$REAL_QEMU_IMG" compare -f $fmt -F raw "$img" \
        "$DEMO_DIR/copy.raw"
    expect ok "$QEMU_IMG" resize -f $fmt "$img" 128M
    expect ok "$REAL_QEMU_IMG" info -f $fmt "$img"
}

# ---- main --------------------------------------------------------------------
for p in "$QEMU_IMG" "$QEMU_IO" "$REAL_QEMU_IMG"; do
    if [ ! -x "$p" ]; then
        echo "demo: $p is missing (run 'make' first)" >&2
        exit 1
    fi
done
start=$SECONDS
for stage in $DEMO_STAGES; do
    "$stage"
done
echo
if [ $failures -eq 0 ]; then
    say "${G}${B}demo finished in $((SECONDS - start)) s: everything behaved as expected${N}"
else
    say "${R}${B}demo finished: $failures step(s) did not behave as expected${N}"
    exit 1
fi
