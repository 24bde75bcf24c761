#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# demo-vtpm.sh: the main job end to end.  An encrypted qcow2 image holds a
# TPM's NVRAM; qemu-vtpm runs libtpms on it and a real, unmodified QEMU
# boots with it; we look at what the firmware measured, restart the VM,
# find the state again, and watch the image lock turn a second daemon away.
#
#   scripts/demo-vtpm.sh [BUILD_DIR]

set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
case "$BUILD" in /*) ;; *) BUILD=$SRC/$BUILD ;; esac
VTPM=$BUILD/qemu-vtpm
QEMU_IMG=$BUILD/qemu-img
QMP="/usr/bin/python3 $SRC/tests/qemu-iotests/qmp.py"
WAIT=30

W=$(mktemp -d /tmp/demo-vtpm.XXXXXX)
DAEMON_PID=
QEMU_PID=
cleanup()
{
    [ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null
    [ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run()
{
    printf '$ %s\n' "$*" | sed -e "s#$W/#W/#g" -e "s#$BUILD/##g"
    "$@" 2>&1 | sed -e "s#$W/#W/#g"
    return "${PIPESTATUS[0]}"
}
# wait_for SECS CMD...: poll until CMD succeeds (bounded)
wait_for()
{
    local end=$((SECONDS + $1))
    shift
    until "$@"; do
        [ $SECONDS -ge $end ] && { echo "demo: timed out: $*"; exit 1; }
        sleep 0.05
    done
}
gone() { ! kill -0 "$1" 2>/dev/null; }

for p in "$VTPM" "$QEMU_IMG" qemu-system-x86_64 tpm2_pcrread; do
    command -v "$p" > /dev/null || { echo "demo: $p missing"; exit 1; }
done

IMG=$W/tpm-nvram.qcow2
FMT=qcow2
say "1. An encrypted qcow2 image for the TPM's NVRAM"
if ! "$QEMU_IMG" create -f qcow2 "$IMG" 1M > /dev/null 2>&1; then
    echo "(qcow2 is not available in this build: using raw)"
    IMG=$W/tpm-nvram.raw
    FMT=raw
fi
run "$QEMU_IMG" create -f $FMT "$IMG" 1M
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$W/key.hex"
chmod 600 "$W/key.hex"
KEY="file=$W/key.hex,format=hex"
echo "key: 256 random bits in W/key.hex"

# start_daemon ARGS...: qemu-vtpm socket in the background, ready when its
# pid file appears.
start_daemon()
{
    rm -f "$W/vtpm.pid"
    "$VTPM" socket --tpm2 --nvram file="$IMG",format=$FMT --key "$KEY" \
        --pid file="$W/vtpm.pid" "$@" &
    DAEMON_PID=$!
    wait_for $WAIT test -s "$W/vtpm.pid"
}

bios_done() { grep -q 'No bootable device' "$W/bios.log" 2>/dev/null; }

# boot_vm N: QEMU with -tpmdev emulator on our daemon; quit after SeaBIOS.
boot_vm()
{
    say "$1. Boot a real QEMU ($(qemu-system-x86_64 --version | head -1 |
        awk '{print $4}'), q35, TCG) on qemu-vtpm"
    start_daemon --ctrl type=unixio,path="$W/ctrl.sock" \
        --log file="$W/vtpm-$1.log",level=3
    echo "$ qemu-vtpm socket --tpm2 --nvram file=W/${IMG##*/},format=$FMT" \
         "--key file=W/key.hex,format=hex --ctrl type=unixio,path=W/ctrl.sock"
    rm -f "$W/bios.log"
    qemu-system-x86_64 -M q35,accel=tcg -m 128 -nodefaults -display none \
        -chardev socket,id=chrtpm,path="$W/ctrl.sock" \
        -tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0 \
        -qmp unix:"$W/qmp.sock",server=on,wait=off \
        -debugcon file:"$W/bios.log" -global isa-debugcon.iobase=0x402 &
    QEMU_PID=$!
    echo "$ qemu-system-x86_64 -M q35,accel=tcg ... -chardev socket,id=chrtpm,path=W/ctrl.sock \\"
    echo "      -tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0"
    $QMP "$W/qmp.sock" --timeout $WAIT --pid $QEMU_PID greet > /dev/null
    echo "QMP query-tpm: $($QMP "$W/qmp.sock" --timeout $WAIT query-tpm)"
    wait_for $WAIT bios_done
    echo "SeaBIOS: $(grep -c . "$W/bios.log") lines of debug log, ended with" \
         "'$(grep 'No bootable' "$W/bios.log" | head -1)'"
    echo "qemu-vtpm saw: $(grep -c 'TPM 2.0 initialized' "$W/vtpm-$1.log") CMD_INIT," \
         "$(grep -c 'command 0x00000144 -> 0x00000000' "$W/vtpm-$1.log") TPM2_Startup," \
         "$(grep -c 'command 0x00000182 -> 0x00000000' "$W/vtpm-$1.log") TPM2_PCR_Extend"
    $QMP "$W/qmp.sock" --timeout $WAIT quit > /dev/null
    wait_for $WAIT gone $QEMU_PID
    wait $QEMU_PID 2>/dev/null
    QEMU_PID=
    wait_for $WAIT gone $DAEMON_PID
    wait $DAEMON_PID
    echo "QEMU quit; it sent CMD_SHUTDOWN and qemu-vtpm exited with status $?"
    DAEMON_PID=
}

# tools_daemon: the same image, served to tpm2-tools over TCP; the TPM is
# resumed (Startup(STATE)) so the PCRs of the last boot are still there.
tools_daemon()
{
    PORT=$(/usr/bin/python3 "$SRC/tests/qemu-iotests/vtpm_client.py" free-port)
    export TPM2TOOLS_TCTI=swtpm:port=$PORT
    start_daemon --server type=tcp,port=$PORT \
        --ctrl type=tcp,port=$((PORT + 1)) --flags not-need-init,startup-state
}
stop_daemon()
{
    kill -TERM "$DAEMON_PID"
    wait_for $WAIT gone "$DAEMON_PID"
    wait "$DAEMON_PID"
    DAEMON_PID=
}

boot_vm 2

say "3. What the firmware measured (PCRs read with tpm2-tools afterwards)"
tools_daemon
run tpm2_pcrread sha256:0,1,2,3,4,5,6,7
echo "(all zeros would mean nothing was measured there)"
printf 'written by tpm2-tools between two boots' > "$W/nvdata"
run tpm2_nvdefine 0x1500016 -C o -s 39 -a "ownerread|ownerwrite"
run tpm2_nvwrite 0x1500016 -C o -i "$W/nvdata"
stop_daemon

boot_vm 4

say "5. The state persisted across the VM restart"
tools_daemon
run tpm2_nvread 0x1500016 -C o -s 39
echo

say "6. A second daemon on the same image is refused by the lock"
echo "$ qemu-vtpm socket --nvram file=W/${IMG##*/},... (while the first runs)"
"$VTPM" socket --nvram file="$IMG",format=$FMT --key "$KEY" \
    --ctrl type=unixio,path="$W/second.sock" 2>&1 | sed -e "s#$W/#W/#g"
echo "exit status: ${PIPESTATUS[0]}"
stop_daemon

say "7. The store, and what an attacker with the image sees"
run "$VTPM" nvram info -f $FMT --key "$KEY" "$IMG"
if grep -q -a -F 'written by tpm2-tools' "$IMG"; then
    echo "the NV data is in the image in clear (!)"
else
    echo "grep for the NV data in the image: not found (encrypted)"
fi
echo
echo "demo-vtpm: done in ${SECONDS}s"
