#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# install-swtpm.sh QEMU_VTPM DIR: install qemu-vtpm into DIR with the
# link DIR/swtpm -> qemu-vtpm, so that a program with DIR first in its
# PATH (libvirtd, swtpm_setup) runs qemu-vtpm when it runs swtpm.  Never
# over a swtpm that is not ours (Debian's /usr/bin/swtpm above all).
set -eu

if [ $# -ne 2 ] || [ -z "$2" ]; then
    echo "usage: make install-swtpm SWTPM_DIR=DIR" >&2
    exit 1
fi
src=$1
dir=$2

case "$(realpath -m "$dir")" in
/usr/bin|/bin|/usr/sbin|/sbin|/usr/local/bin|/usr/local/sbin)
    echo "install-swtpm: refusing to install into $dir: it is in everyone's" \
         "PATH; choose a directory of its own" >&2
    exit 1 ;;
esac
if [ -e "$dir/swtpm" ] || [ -L "$dir/swtpm" ]; then
    if [ "$(readlink "$dir/swtpm")" != qemu-vtpm ]; then
        echo "install-swtpm: refusing to overwrite $dir/swtpm: it is not" \
             "qemu-vtpm's link" >&2
        exit 1
    fi
fi
mkdir -p "$dir"
install -m 0755 "$src" "$dir/qemu-vtpm"
ln -sfn qemu-vtpm "$dir/swtpm"
echo "install-swtpm: $dir/swtpm -> qemu-vtpm"
