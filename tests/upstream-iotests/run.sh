#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# run.sh [-j JOBS] [-f FMT[,FMT]] [-w real|ours] [TEST...]: QEMU's own qemu-iotests (the
# bash tests of its `auto` and `quick` groups, -file protocol) with the
# real QEMU tools and with ours, in one run.  Our tools replace only
# qemu-img and qemu-io; everything else is the real QEMU.  Prints, per
# format, "ours N/M passed where real passed M", every difference, and
# ends with "N passed, N failed": a test counts as failed when the real
# tools pass it, ours fail it, and expected-failures does not name it.
# With -w ours the real tools are not run and every test is taken to pass
# with them: that is what a selection file (-s) promises, and `make
# check-qemu-iotests` runs both to keep the promise checked.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
case ${BUILD:-build} in
/*) build=$BUILD ;;
*) build=$src/${BUILD:-build} ;;
esac
build=$(cd "$build" && pwd) || exit 1
jobs=${JOBS:-$(( $(nproc) * 2 ))}
fmts="raw qcow2"
whos="real ours"
selfile=
while getopts "j:f:w:s:" o; do
    case $o in
    j) jobs=$OPTARG ;;
    f) fmts=${OPTARG//,/ } ;;
    w) whos=${OPTARG//,/ } ;;
    s) selfile=$OPTARG ;;
    *) echo "usage: $0 [-j JOBS] [-f FMT[,FMT]] [-w real|ours] [-s SELECTION] [TEST...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))

for p in qemu-img qemu-io; do
    if [ ! -x "$build/$p" ]; then
        echo "upstream-iotests: $build/$p is not built" >&2
        exit 1
    fi
done
qsrc=$("$here/fetch-qemu-source.sh" "${QEMU_SOURCE_DIR:-$build/qemu-source}") || exit 1
iotests=$qsrc/tests/qemu-iotests
work=${UPSTREAM_WORK:-$build/upstream-iotests}
rm -rf "$work"
mkdir -p "$work/bin"
# The tests filter messages by QEMU_PROG's basename, so the TCG wrapper
# must carry the real binary's name.
ln -s "$here/qemu-system-tcg" "$work/bin/qemu-system-x86_64"
# Unix socket paths must stay short.
sockroot=$(mktemp -d /tmp/uiot.XXXXXX)
trap 'rm -rf "$sockroot"' EXIT

# The selection: bash tests in group auto or quick.
select_tests() {
    local f name
    for f in "$iotests"/[0-9][0-9][0-9] "$iotests"/tests/*; do
        [ -f "$f" ] || continue
        case $f in *.out|*.out.*) continue ;; esac
        head -n 1 "$f" | grep -q bash || continue
        sed -n 2p "$f" | grep -qE '^# group:.*\<(auto|quick)\>' || continue
        name=${f##*/}
        echo "$name"
    done
}
if [ $# -gt 0 ]; then
    tests=("$@")
else
    mapfile -t tests < <(select_tests)
fi
# tests_for FMT: the tests to run in FMT (a selection file's "FMT TEST"
# lines, when one is given).
tests_for() {
    if [ -n "$selfile" ]; then
        awk -v f="$1" '$1 == f { print $2 }' "$selfile"
    else
        printf '%s\n' "${tests[@]}"
    fi
}

# run_one WHO FMT TEST: one test in its own scratch and socket dirs.
run_one() {
    local who=$1 fmt=$2 t=$3 out dir rc t0
    out=$work/$who-$fmt
    dir=$out/scratch/$t
    mkdir -p "$dir" "$sockroot/$who-$fmt-$t"
    if [ "$who" = ours ]; then
        export QEMU_IMG_PROG=$build/qemu-img QEMU_IO_PROG=$build/qemu-io
    else
        export QEMU_IMG_PROG=/usr/bin/qemu-img QEMU_IO_PROG=/usr/bin/qemu-io
    fi
    export QEMU_PROG=$work/bin/qemu-system-x86_64 QEMU_NBD_PROG=/usr/bin/qemu-nbd \
           QSD_PROG=/usr/bin/qemu-storage-daemon \
           TEST_DIR=$dir SOCK_DIR=$sockroot/$who-$fmt-$t
    t0=$(date +%s)
    (cd "$iotests" &&
     timeout -k 10 "${UPSTREAM_TEST_TIMEOUT:-900}" \
        python3 ./check "-$fmt" -file -tap "$t" >"$out/$t.tap" 2>"$out/$t.diff")
    rc=$?
    echo "$(( $(date +%s) - t0 )) $who $fmt $t" > "$out/$t.time"
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo timeout
    elif grep -q "^ok $fmt $t # SKIP" "$out/$t.tap"; then
        echo notrun
    elif grep -q "^ok $fmt $t\$" "$out/$t.tap"; then
        echo pass
    else
        echo fail
    fi > "$out/$t.result"
    rm -rf "$dir" "$sockroot/$who-$fmt-$t"
}
export -f run_one
export work sockroot build here iotests

start=$(date +%s)
for fmt in $fmts; do
    mkdir -p "$work/real-$fmt" "$work/ours-$fmt"
    for t in $(tests_for "$fmt"); do
        for who in $whos; do
            echo "$who $fmt $t"
        done
    done
done | xargs -P "$jobs" -L 1 bash -c 'run_one "$@"' _

# expected-failures: "FMT TEST reason..." lines; '#' starts a comment.
expected_reason() {
    awk -v f="$1" -v t="$2" '$1 == f && $2 == t { $1 = ""; $2 = ""; sub(/^  /, ""); print; exit }' \
        "$here/expected-failures"
}

real_ran=false
case " $whos " in *" real "*) real_ran=true ;; esac
passed=0
failed=0
known=0
report=$work/report.txt
{
for fmt in $fmts; do
    m=0; n=0
    diffs=(); better=()
    mapfile -t ftests < <(tests_for "$fmt")
    for t in "${ftests[@]}"; do
        if $real_ran; then
            r=$(cat "$work/real-$fmt/$t.result" 2>/dev/null || echo none)
        else
            r=pass
        fi
        o=$(cat "$work/ours-$fmt/$t.result" 2>/dev/null || echo none)
        if [ "$r" = pass ]; then
            m=$((m + 1))
            if [ "$o" = pass ]; then
                n=$((n + 1))
                passed=$((passed + 1))
            else
                why=$(expected_reason "$fmt" "$t")
                if [ -n "$why" ]; then
                    known=$((known + 1))
                    diffs+=("$(printf '  %-5s %-28s ours %-7s (expected: %s)' "$fmt" "$t" "$o" "$why")")
                else
                    failed=$((failed + 1))
                    diffs+=("$(printf '  %-5s %-28s ours %-7s UNEXPECTED (diff: %s)' "$fmt" "$t" "$o" "$work/ours-$fmt/$t.diff")")
                fi
            fi
        elif [ "$o" = pass ]; then
            better+=("$(printf '  %-5s %-28s real %s' "$fmt" "$t" "$r")")
        fi
    done
    if $real_ran; then
        echo "$fmt: ours $n/$m passed where real passed $m (of ${#ftests[@]} selected)"
    else
        echo "$fmt: ours $n/$m passed (real tools not run; of ${#ftests[@]} selected)"
    fi
    if [ ${#diffs[@]} -gt 0 ]; then
        echo "  real passes, ours does not:"
        printf '%s\n' "${diffs[@]}"
    fi
    if [ ${#better[@]} -gt 0 ]; then
        echo "  ours passes, real does not:"
        printf '%s\n' "${better[@]}"
    fi
done
} > "$report"
cat "$report"
# Stale entries: expected to fail but passing now.
while read -r fmt t _; do
    case $fmt in ''|'#'*) continue ;; esac
    [ -f "$work/ours-$fmt/$t.result" ] || continue
    if [ "$(cat "$work/ours-$fmt/$t.result")" = pass ]; then
        echo "note: $fmt $t passes now; remove it from expected-failures"
    fi
done < "$here/expected-failures"
echo "slowest: $(cat "$work"/*/*.time | sort -rn | awk 'NR <= 5 {printf "%s %s %s %ss; ", $2, $3, $4, $1}')"
echo "upstream-iotests: $(( $(date +%s) - start )) s, $jobs jobs, $known expected failures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
