# SPDX-License-Identifier: GPL-2.0-or-later
#
# Makefile: the front door, in QEMU's manner.  It configures build/ through
# ./configure (meson) on first use and drives ninja, the tests, the demo
# and the benchmarks.  `make help` lists the targets.

BUILD ?= build
BUILD_ASAN ?= build-asan
BUILD_WIN32 ?= build-win32
# -Werror in CI (CI=true) and always in `make check`.
ifeq ($(CI),true)
WERROR ?= true
else
WERROR ?= false
endif

NINJA ?= ninja
SRC := $(CURDIR)

.PHONY: all deps install-swtpm check check-unit check-asan check-iotests check-win32 \
        check-qemu-iotests \
        demo bench clean distclean help

all: $(BUILD)/build.ninja
	@cur=$$(cat $(BUILD)/.werror 2>/dev/null || true); \
	if [ "$$cur" != "$(WERROR)" ]; then \
	    meson configure $(BUILD) -Dwerror=$(WERROR) >/dev/null && \
	    echo $(WERROR) > $(BUILD)/.werror; \
	fi
	$(NINJA) -C $(BUILD)

$(BUILD)/build.ninja:
	./configure --builddir=$(BUILD) \
	    $(if $(filter true,$(WERROR)),--enable-werror,--disable-werror)
	echo $(WERROR) > $(BUILD)/.werror

deps:
	scripts/install-deps.sh

# qemu-vtpm as swtpm for libvirt: SWTPM_DIR/qemu-vtpm and the link
# SWTPM_DIR/swtpm; put SWTPM_DIR first in libvirtd's PATH.  Refuses
# directories in everyone's PATH and a swtpm that is not ours.
install-swtpm: all
	scripts/install-swtpm.sh $(BUILD)/qemu-vtpm "$(SWTPM_DIR)"

# Everything: dependencies, -Werror build, unit tests (plain and ASan/UBSan),
# qemu-iotests for every format that exists, the Windows tests under wine.
# The last line of output is "N passed, N failed".
check: deps
	@BUILD=$(BUILD) BUILD_ASAN=$(BUILD_ASAN) BUILD_WIN32=$(BUILD_WIN32) \
	    MAKE="$(MAKE)" scripts/check.sh

check-unit: all
	meson test -C $(BUILD) --print-errorlogs

check-asan: $(BUILD_ASAN)/build.ninja
	$(NINJA) -C $(BUILD_ASAN)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    meson test -C $(BUILD_ASAN) --print-errorlogs

$(BUILD_ASAN)/build.ninja:
	./configure --builddir=$(BUILD_ASAN) --enable-werror --enable-asan

check-iotests: all
	cd tests/qemu-iotests && ./check -raw && ./check -qcow2

# QEMU 7.2's own qemu-iotests (fetched with apt-get source at test time,
# never committed) with the real tools and with ours, side by side.
check-qemu-iotests: all
	BUILD=$(BUILD) tests/upstream-iotests/run.sh

# Windows: cross-build with mingw-w64 and run the tests under wine.  The
# Windows port owns tests/win32/run.sh (it gets the build dir as $1 and
# prints "N passed, N failed" as its last line).
check-win32:
	@if [ ! -d tests/win32 ]; then echo "check-win32: no tests/win32"; exit 0; fi
	@if [ ! -f $(BUILD_WIN32)/build.ninja ]; then \
	    ./configure --builddir=$(BUILD_WIN32) --cross=mingw --enable-werror; fi
	$(NINJA) -C $(BUILD_WIN32)
	@if [ -x tests/win32/run.sh ]; then \
	    tests/win32/run.sh $(SRC)/$(BUILD_WIN32); \
	else echo "check-win32: tests/win32/run.sh missing"; exit 1; fi

# The main job (a real QEMU booting with qemu-vtpm's encrypted NVRAM image),
# then the image-locking tour.
demo: deps all
	scripts/demo-vtpm.sh $(BUILD)
	scripts/demo.sh

bench: all
	bench/run.sh $(BUILD)

clean:
	@for d in $(BUILD) $(BUILD_ASAN) $(BUILD_WIN32); do \
	    if [ -f $$d/build.ninja ]; then $(NINJA) -C $$d clean; fi; done
	rm -rf tests/qemu-iotests/scratch

distclean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_WIN32) tests/qemu-iotests/scratch

help:
	@echo "make [all]     build into $(BUILD)/ (configures on first use)"
	@echo "make deps      install missing Debian packages (scripts/install-deps.sh)"
	@echo "make install-swtpm SWTPM_DIR=DIR  qemu-vtpm as DIR/swtpm (for libvirt)"
	@echo "make check     deps + -Werror build + unit tests (+ASan) + iotests + wine"
	@echo "make check-qemu-iotests  QEMU 7.2's own iotests: real tools vs ours"
	@echo "make demo      deps + build + the vTPM demo and the locking demo"
	@echo "make bench     build + bench/run.sh (prints ratios)"
	@echo "make clean     clean build outputs; distclean removes build dirs"
