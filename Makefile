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

# The fairness test plays a guest that refills a ring the instant the host
# finds it empty, from inside the host's read (tests/unit/test_fairness.c).
$(BUILD)/tests/test_fairness: LIBS_ALL += -Wl,--wrap=vmbus_chan_recv

.PHONY: check check-layers check-facts check-man check-scenarios check-unit check-integration check-guest check-sanitize
# The README's test command.  Order: fastest feedback first.
check: check-layers check-facts check-man check-scenarios check-unit check-integration fuzz check-guest check-sanitize

# No include points up a layer (proto < core < attach < hv < vmbus < devices
# < host < scenario/trace < cli; src/guest sees only core and proto).
check-layers:
	@tests/check-layers.sh

# Every "facts §N" in a comment names a section of docs/hyperv-guest-facts.md.
check-facts:
	@tests/check-facts.sh

# Every shipped scenario is valid against the JSON Schema and the engine, every
# synthetic-guest scenario runs (vmbusd run --keep-going --junit, seconds), and
# the deliberately failing ones in tests/scenarios/ fail as they should.
check-scenarios: $(BINS)
	@VMBUSD=$(abspath $(VMBUSD)) tests/check-scenarios.sh

# The man page renders without a warning from man/groff.
check-man:
	@out=$$(MANWIDTH=80 man --warnings -l docs/vmbusd.1 2>&1 >/dev/null); \
	if [ -n "$$out" ]; then echo "docs/vmbusd.1: $$out"; exit 1; fi; echo "man page: ok"

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
# -Werror=incompatible-function-pointer-types: a harness whose callback no
# longer matches the API it implements must not build (it would call through
# the wrong signature at run time).
FUZZ_CFLAGS := -std=gnu11 -O1 -g -Werror=incompatible-function-pointer-types -MMD -MP $(DEP_CFLAGS) -fsanitize=address,undefined -fno-omit-frame-pointer
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

.PHONY: bench bench-guest bench-compare
# The ring rows also go to $(BUILD)/bench-ring.json and the guest rows to
# $(BUILD)/bench-guest.json; keep one to compare a later run with:
# make bench-compare OLD=old.json NEW=$(BUILD)/bench-ring.json
bench: $(BINS)
	$(VMBUSD) bench ring --json $(BUILD)/bench-ring.json
	@$(MAKE) --no-print-directory bench-guest

bench-compare: $(BINS)
	@[ -n "$(OLD)" ] && [ -n "$(NEW)" ] || { echo "usage: make bench-compare OLD=a.json NEW=b.json"; exit 2; }
	$(VMBUSD) bench compare $(OLD) $(NEW)

bench-guest: $(BINS) qemu guest
	@VMBUSD=$(abspath $(VMBUSD)) BENCH_JSON=$(abspath $(BUILD))/bench-guest.json tests/guest/bench-guest.sh

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

# ---- install ------------------------------------------------------------------

PREFIX ?= /usr/local
.PHONY: install
install: $(BINS)
	install -D -m 755 $(VMBUSD) $(DESTDIR)$(PREFIX)/bin/vmbusd
	install -D -m 755 $(GUEST_TOOL) $(DESTDIR)$(PREFIX)/bin/vmbus-guest
	install -D -m 644 docs/vmbusd.1 $(DESTDIR)$(PREFIX)/share/man/man1/vmbusd.1

.PHONY: clean distclean
clean:
	rm -rf build build-asan build-fuzz

distclean: clean
	rm -rf config.mk config.h config.h.in config.log config.status configure autom4te.cache aclocal.m4 build-aux

-include $(shell find $(BUILD) $(FUZZ_BUILD) -name '*.d' 2>/dev/null)
