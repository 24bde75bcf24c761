#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# fetch-qemu-source.sh DIR: make DIR/src a tree of Debian's source package
# of QEMU, at the version of the installed qemu-utils (so QEMU's own
# iotests match the real tools they are compared with), and print its
# path.  Nothing of QEMU is committed: it comes with `apt-get source` from
# the machine's own configured repositories, through a private deb-src
# list so the system's apt state is left alone.  Idempotent, and safe to
# call from several test groups at once (one extraction, under flock).
set -euo pipefail

dir=${1:?usage: fetch-qemu-source.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
exec 9>"$dir/.lock"
flock 9

version=$(dpkg-query -W -f='${source:Version}' qemu-utils 2>/dev/null) || {
    echo "fetch-qemu-source: qemu-utils is not installed" >&2
    exit 1
}
stamp="$dir/src/.debian-version"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version" ]; then
    echo "$dir/src"
    exit 0
fi

apt="$dir/apt"
rm -rf "$apt" "$dir/src" "$dir"/qemu_*
mkdir -p "$apt/parts" "$apt/lists/partial" "$apt/cache/archives/partial"
# deb-src twins of the machine's deb entries, one-line and deb822 styles.
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    sed -n 's/^deb /deb-src /p' "$f"
done > "$apt/parts/src.list"
for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    sed 's/^Types:.*/Types: deb-src/' "$f"
    echo
done > "$apt/parts/src.sources"
opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt/parts"
      -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
      -o APT::Sandbox::User=root)
apt-get "${opts[@]}" -q update >"$dir/fetch.log" 2>&1
(cd "$dir" &&
 apt-get "${opts[@]}" -q source --download-only "qemu=$version" >>"$dir/fetch.log" 2>&1 &&
 dpkg-source --no-check -x qemu_*.dsc src >>"$dir/fetch.log" 2>&1) || {
    echo "fetch-qemu-source: could not fetch qemu $version (see $dir/fetch.log)" >&2
    exit 1
}
rm -f "$dir"/qemu_*.orig.tar.* "$dir"/qemu_*.debian.tar.*
rm -rf "$apt/cache"
echo "$version" > "$stamp"
echo "$dir/src"
