#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Install what building and testing this tree needs on Debian 12, and
# nothing that is already there.  Idempotent: a second run installs nothing.
set -eu

PKGS="build-essential pkg-config meson ninja-build clang libclang-rt-14-dev
      libglib2.0-dev libssl-dev zlib1g-dev libzstd-dev libtpms-dev
      qemu-utils qemu-system-x86 swtpm swtpm-tools
      tpm2-tools libtss2-tcti-swtpm0
      libvirt-daemon-system libvirt-clients libvirt-daemon-driver-qemu
      gcc-mingw-w64-x86-64 wine wine64
      glusterfs-server glusterfs-client valgrind socat python3 xxd
      coreutils util-linux iproute2 strace dpkg-dev gdb
      linux-image-amd64 busybox-static cpio"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "install-deps: everything is installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
echo "install-deps: installing:$missing"
$SUDO apt-get update -q
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
