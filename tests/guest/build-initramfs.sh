#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# build-initramfs.sh OUT: the test guest's initramfs (gzipped newc cpio):
# busybox-static, tests/guest/init and tests/guest/tpm-counter.c built
# statically.  Tests share one: it is rebuilt only when a source is newer,
# under a lock, so tests running side by side wait for one build.
# Prints nothing on success; one line and exit 1 on failure.
set -eu
out=$1
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$(dirname "$out")"
exec 9> "$out.lock"
flock 9
if [ -s "$out" ] && [ "$out" -nt "$src/init" ] &&
   [ "$out" -nt "$src/tpm-counter.c" ] && [ "$out" -nt "$0" ]; then
    exit 0
fi
if [ ! -x /bin/busybox ] || ! /bin/busybox --list | grep -qx poweroff; then
    echo "build-initramfs: /bin/busybox (busybox-static) is missing" >&2
    exit 1
fi
root=$(mktemp -d "$out.root.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev"
cp /bin/busybox "$root/bin/busybox"
install -m 755 "$src/init" "$root/init"
${CC:-cc} -std=gnu11 -O2 -Wall -Wextra -Werror -static \
    -o "$root/bin/tpm-counter" "$src/tpm-counter.c"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$out.tmp"
mv "$out.tmp" "$out"
