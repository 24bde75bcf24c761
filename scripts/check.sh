#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# check.sh: the body of `make check`.  Runs each test stage, keeps going
# after a failing stage, adds up what every stage passed and failed, and
# ends with the line "N passed, N failed" (exit 1 if anything failed).

set -u
cd "$(dirname "$0")/.."
SRC=$(pwd)
BUILD=${BUILD:-build}
BUILD_ASAN=${BUILD_ASAN:-build-asan}
MAKE=${MAKE:-make}
LOGDIR=$SRC/$BUILD/check-logs
passed=0
failed=0
declare -a stage_lines=()

note() { printf '\n===== %s =====\n' "$*"; }

# add_counts STAGE PASS FAIL [SECONDS]: a stage's counts and wall time
# (by default, the time since the previous stage ended: stages in the
# foreground run one after another).
stage_mark=$(date +%s)
add_counts() {
    local now secs
    now=$(date +%s)
    secs=${4:-$((now - stage_mark))}
    stage_mark=$now
    passed=$((passed + $2))
    failed=$((failed + $3))
    stage_lines+=("$(printf '%-26s %4d passed, %d failed  %5d s' "$1" "$2" "$3" "$secs")")
}

# Parse meson test's summary block ("Ok: N", "Fail: N", ...).
meson_counts() {
    local log=$1 stage=$2 rc=$3 ok fail skip
    ok=$(awk '/^Ok:/ {print $2}' "$log" | tail -1)
    fail=0
    for k in Fail: "Unexpected Pass:" Timeout:; do
        v=$(grep "^$k" "$log" | tail -1 | awk '{print $NF}')
        fail=$((fail + ${v:-0}))
    done
    skip=$(awk '/^Skipped:/ {print $2}' "$log" | tail -1)
    ok=${ok:-0}
    skip=${skip:-0}
    if [ "${CI:-}" = true ] && [ "$skip" -gt 0 ]; then
        echo "check: $skip skipped unit test(s) count as failures in CI"
        fail=$((fail + skip))
    fi
    if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
        fail=1
    fi
    add_counts "$stage" "$ok" "$fail"
}

# Take the last "N passed, N failed" line of a stage's log.
summary_counts() {
    local log=$1 stage=$2 rc=$3 secs=${4:-} line p f
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
    if [ -n "$line" ]; then
        p=${line%% passed*}
        f=${line#*, }
        f=${f%% failed}
    else
        p=0
        f=0
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
    fi
    add_counts "$stage" "$p" "$f" $secs
}

# run_stage NAME LOGFILE CMD...: run with output to terminal and log.
run_stage() {
    local name=$1 log=$2
    shift 2
    note "$name"
    "$@" 2>&1 | tee "$log"
    return "${PIPESTATUS[0]}"
}

finish() {
    wait_background
    echo
    echo "===== summary ====="
    for l in "${stage_lines[@]}"; do
        echo "$l"
    done
    echo "total wall time $(( $(date +%s) - check_start )) s"
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}

# Stages that need only the builds and share nothing with the others run
# in the background, beside the foreground stages (most of their time is
# spent waiting for daemons, guests and wine, not computing); their output
# is printed when they are collected at the end.  A background job may run
# several stages one after another: each stage leaves its exit status and
# wall time next to its log (LOG.rc, LOG.secs).
bg_pids=()
bg_names=()
bg_logs=()
# bg_stage NAME LOG CMD...: run one stage (in a background job) and record it.
bg_stage() {
    local log=$2 t0 rc
    shift 2
    t0=$(date +%s)
    "$@" >"$log" 2>&1
    rc=$?
    echo $(( $(date +%s) - t0 )) >"$log.secs"
    echo "$rc" >"$log.rc"
}
# register NAME LOG: a stage some background job runs, collected at the end.
register() {
    note "$1: started in the background (log $2)"
    bg_names+=("$1")
    bg_logs+=("$2")
    rm -f "$2.rc" "$2.secs"
}
# start_background NAME LOG CMD...: a job of one stage.
start_background() {
    register "$1" "$2"
    bg_stage "$@" &
    bg_pids+=($!)
}
wait_background() {
    local i rc
    for i in "${bg_pids[@]}"; do
        wait "$i"
    done
    bg_pids=()
    for i in "${!bg_names[@]}"; do
        note "${bg_names[$i]} (collected)"
        cat "${bg_logs[$i]}" 2>/dev/null
        rc=$(cat "${bg_logs[$i]}.rc" 2>/dev/null || echo 1)
        summary_counts "${bg_logs[$i]}" "${bg_names[$i]}" "$rc" \
            "$(cat "${bg_logs[$i]}.secs" 2>/dev/null || echo 0)"
    done
    bg_names=()
}

check_start=$(date +%s)
mkdir -p "$BUILD"
# 1. the -Werror builds: ours, and ours with ASan/UBSan
note "build ($BUILD, -Werror)"
if ! $MAKE --no-print-directory all BUILD="$BUILD" WERROR=true; then
    add_counts "build" 0 1
    finish
fi
add_counts "build" 1 0
mkdir -p "$LOGDIR"
note "build ($BUILD_ASAN, ASan+UBSan)"
if [ ! -f "$BUILD_ASAN/build.ninja" ]; then
    ./configure --builddir="$BUILD_ASAN" --enable-werror --enable-asan \
        >/dev/null
fi
asan_ok=true
if ! ninja -C "$BUILD_ASAN"; then
    asan_ok=false
    add_counts "build (asan)" 0 1
fi

# 2. In the background, side by side:
#  - QEMU 7.2's own iotests with our tools, on the selection that make
#    check gates on (ci-selection: each of them passes with the real 7.2
#    tools; `make check-qemu-iotests` runs them all, with the real tools
#    beside ours).  It fetches QEMU's source package itself, once per build
#    tree.
#  - the Windows build and its tests under wine (WIN32_IOTESTS_QUICK:
#    not the format-logic ones the native run covers, see run.sh);
#  - our qemu-iotests, one job per format: every test with our tools, then
#    the quick ones again (not the interop ones, which mostly exercise
#    the real tools) with our tools built with ASan/UBSan: bad input and
#    lock paths must be memory-clean too.  (Leaks at exit are not checked
#    there; the unit tests check them.  verify_asan_link_order=0 lets the
#    holders run under stdbuf's LD_PRELOAD.)  Test directories are per
#    run, ports are picked free, and the GlusterFS tests take turns.
start_background "QEMU's own iotests" "$LOGDIR/upstream-iotests.log" \
    env BUILD="$BUILD" JOBS=3 tests/upstream-iotests/run.sh -w ours \
        -s tests/upstream-iotests/ci-selection
if [ -d tests/win32 ]; then
    start_background "win32" "$LOGDIR/win32.log" \
        env WIN32_IOTESTS_QUICK=1 $MAKE --no-print-directory check-win32
fi
fmts="raw qcow2"
iotests_job() {
    local fmt=$1
    (cd tests/qemu-iotests &&
     BUILD_DIR="$SRC/$BUILD" bg_stage "iotests -$fmt" \
        "$LOGDIR/iotests-$fmt.log" ./check "-$fmt")
    if $asan_ok; then
        (cd tests/qemu-iotests &&
         ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:verify_asan_link_order=0 \
         UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
         BUILD_DIR="$SRC/$BUILD_ASAN" bg_stage "iotests -$fmt (asan)" \
            "$LOGDIR/iotests-$fmt-asan.log" \
            ./check "-$fmt" -g quick -x gluster,vtpm,win32,valgrind,interop)
    fi
}
for fmt in $fmts; do
    register "iotests -$fmt" "$LOGDIR/iotests-$fmt.log"
    $asan_ok && register "iotests -$fmt (asan)" "$LOGDIR/iotests-$fmt-asan.log"
    iotests_job "$fmt" &
    bg_pids+=($!)
done
stage_mark=$(date +%s)

# 3. unit tests, then again under ASan/UBSan
# Meson's per-test timeouts (30 s unless a test sets one) only bound a
# hung test; stages run side by side and a loaded machine must not turn a
# slow pass into a failure, so they are stretched four times.
run_stage "unit tests ($BUILD)" "$LOGDIR/unit.log" \
    meson test -C "$BUILD" --print-errorlogs --timeout-multiplier 4
meson_counts "$LOGDIR/unit.log" "unit" $?
if $asan_ok; then
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        run_stage "unit tests ($BUILD_ASAN)" "$LOGDIR/unit-asan.log" \
        meson test -C "$BUILD_ASAN" --print-errorlogs --timeout-multiplier 4
    meson_counts "$LOGDIR/unit-asan.log" "unit (asan)" $?
fi

# 4. libFuzzer: every fuzz target, clang with ASan/UBSan, a bounded number
# of executions from a scratch copy of its in-tree corpus (so the tree's
# corpus only grows when someone commits an input on purpose).
BUILD_FUZZ=${BUILD_FUZZ:-build-fuzz}
note "build ($BUILD_FUZZ, clang + libFuzzer)"
if [ ! -f "$BUILD_FUZZ/build.ninja" ]; then
    CC=clang meson setup "$BUILD_FUZZ" -Db_lundef=false >/dev/null
fi
if ninja -C "$BUILD_FUZZ" tests/fuzz/fuzz-qcow2 tests/fuzz/fuzz-nvram-dir; then
    fz_pass=0
    fz_fail=0
    # target:corpus-dir:runs
    for spec in qcow2:corpus-qcow2:${FUZZ_RUNS_QCOW2:-3000} \
                nvram-dir:corpus/nvram-dir:${FUZZ_RUNS_NVRAM:-50000}; do
        IFS=: read -r name corpus runs <<< "$spec"
        work=$(mktemp -d "/tmp/fuzz-$name.XXXXXX")
        cp -r "tests/fuzz/$corpus" "$work/corpus"
        note "fuzz-$name ($runs runs)"
        if (set -o pipefail; cd "$work" && "$SRC/$BUILD_FUZZ/tests/fuzz/fuzz-$name" \
                -runs="$runs" -max_len=65536 -timeout=20 \
                -rss_limit_mb=4096 corpus 2>&1 | tail -3); then
            fz_pass=$((fz_pass + 1))
            rm -rf "$work"
        else
            echo "fuzz-$name failed: crash input kept in $work"
            fz_fail=$((fz_fail + 1))
        fi
    done
    add_counts "fuzz" "$fz_pass" "$fz_fail"
else
    add_counts "build (fuzz)" 0 1
fi

finish
