# vmbusd — hand-written top-level Makefile.
#
#   make                 vmbusd and vmbus-guest
#   make check           every test: unit, integration, fuzz (short), real guest
#   make check-unit      check(3) unit tests
#   make check-integration  vmbusd serve + vmbus-guest as separate processes
#   make check-guest     a real Linux guest under the patched QEMU (TCG)
#   make fuzz            short libFuzzer runs of every target (FUZZ_SECONDS=N)
#   make bench           benchmarks, printed as ratios to a same-run reference
#   make demo            set-up, then a real guest against scenarios/demo.json
#   SANITIZE=1           ASan + UBSan build of any of the above (in build-asan/)

.DEFAULT_GOAL := all
.SUFFIXES:
SHELL := /bin/bash

# ./configure writes config.mk; run it (and autoreconf) when it is missing.
ifeq ($(filter distclean clean deps,$(MAKECMDGOALS)),)
-include config.mk
endif

config.mk: configure config.mk.in
	./configure --quiet
configure: configure.ac
	autoreconf -fi

ifeq ($(SANITIZE),1)
BUILD ?= build-asan
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD ?= build
SAN_FLAGS :=
endif

OPT ?= -O2 -g
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter \
	-Wformat=2 -Wvla -Wnull-dereference
CPPFLAGS_ALL := -I. -Isrc -Iinclude -include config.h -D_GNU_SOURCE -DVMBUSD_SRCDIR='"$(CURDIR)"'
CFLAGS_ALL := -std=gnu11 $(OPT) $(WARN) $(SAN_FLAGS) -MMD -MP $(DEP_CFLAGS) $(CFLAGS)
LDFLAGS_ALL := $(SAN_FLAGS) $(LDFLAGS)
LIBS_ALL := $(DEP_LIBS) -lpthread

# Everything in src/ and devices/ is the library, except the programs' mains.
LIB_SRCS := $(filter-out %_main.c,$(wildcard src/*/*.c src/*/*/*.c devices/*.c devices/*/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB := $(BUILD)/libvmbusd.a

VMBUSD := $(BUILD)/vmbusd
GUEST_TOOL := $(BUILD)/vmbus-guest
BINS := $(VMBUSD) $(GUEST_TOOL)

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all
all: $(BINS)

$(BUILD)/%.o: %.c config.mk
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(VMBUSD): $(BUILD)/src/cli/vmbusd_main.o $(LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)

$(GUEST_TOOL): $(BUILD)/src/guest/vmbus_guest_main.o $(LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)

# ---- tests ---------------------------------------------------------------

$(BUILD)/tests/test_%: tests/unit/test_%.c $(LIB) config.mk
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) $(CHECK_CFLAGS) -o $@ $< $(LIB) $(LDFLAGS_ALL) $(CHECK_LIBS) $(LIBS_ALL)

.PHONY: check check-unit check-integration check-guest check-sanitize
# The README's test command.  Order: fastest feedback first.
check: check-unit check-integration fuzz check-guest check-sanitize

check-unit: $(UNIT_BINS)
	@tests/run-unit.sh $(UNIT_BINS)

check-integration: $(BINS)
	@VMBUSD=$(abspath $(VMBUSD)) VMBUS_GUEST=$(abspath $(GUEST_TOOL)) tests/integration/run.sh

check-guest: $(BINS) qemu guest
	@VMBUSD=$(abspath $(VMBUSD)) tests/guest/run-tests.sh

# Unit, integration and real-guest tests again with the ASan + UBSan daemon
# (any report aborts it, so the test that provoked it fails).
check-sanitize:
	@$(MAKE) --no-print-directory SANITIZE=1 check-unit check-integration check-guest

# ---- fuzzing (clang + libFuzzer, its own build of the library) ------------

FUZZ_BUILD := build-fuzz
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=$(FUZZ_BUILD)/%.o)
# -MMD: a target rebuilds when a harness header (tests/unit/vmbus_harness.h,
# tests/fuzz/fuzz_util.h) changes, not only its .c.
FUZZ_CFLAGS := -std=gnu11 -O1 -g -MMD -MP $(DEP_CFLAGS) -fsanitize=address,undefined -fno-omit-frame-pointer
FUZZ_SECONDS ?= 20

$(FUZZ_BUILD)/%.o: %.c config.mk
	@mkdir -p $(@D)
	$(CLANG) $(CPPFLAGS_ALL) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/libvmbusd.a: $(FUZZ_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_BUILD)/libvmbusd.a
	$(CLANG) $(CPPFLAGS_ALL) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_BUILD)/libvmbusd.a $(LIBS_ALL)

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_BINS)
fuzz: fuzz-build
	@if [ -z "$(CLANG)" ]; then echo "fuzz: clang not found (scripts/install-deps installs it)"; exit 1; fi
	@tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

# ---- benchmarks ------------------------------------------------------------

.PHONY: bench bench-guest
bench: $(BINS)
	$(VMBUSD) bench ring
	@$(MAKE) --no-print-directory bench-guest

bench-guest: $(BINS) qemu guest
	@VMBUSD=$(abspath $(VMBUSD)) tests/guest/bench-guest.sh

# ---- the real guest: patched QEMU, guest image, demo ------------------------

.PHONY: deps qemu guest demo
deps:
	scripts/install-deps

qemu:
	@qemu/build.sh

guest:
	@tests/guest/build-guest.sh >/dev/null

demo: $(BINS) qemu guest
	$(VMBUSD) run scenarios/demo.json

# ---- housekeeping ----------------------------------------------------------

.PHONY: clean distclean
clean:
	rm -rf build build-asan build-fuzz

distclean: clean
	rm -rf config.mk config.h config.h.in config.log config.status configure autom4te.cache aclocal.m4 build-aux

-include $(shell find $(BUILD) $(FUZZ_BUILD) -name '*.d' 2>/dev/null)
