# switchyard — build, test, fuzz, benchmark, install.
#
# Sources are found recursively: a new file anywhere under engine/, rules/, geodata/,
# tests/unit/ (test_*.c), tests/fuzz/ (fuzz_*.c) or bench/ (bench_*.c) is
# built without touching this file.
#
#   make                 build ./switchyard
#   make deps            install the Debian packages for building and testing
#   make demo            a first look: switchyard routing real requests between network
#                        namespaces (root; examples/demo.sh)
#   make test            every test: unit, unit under ASan+UBSan, fuzz smoke, end to end (plain and ASan daemon)
#   make test-unit       unit tests only (add SANITIZE=1 for ASan+UBSan, SANITIZE=thread for TSan)
#   make test-e2e        end-to-end tests, root (SANITIZE=1: against the ASan+UBSan daemon)
#   make fuzz            run each fuzz target for FUZZ_SECONDS (default 60)
#   make bench           build and run the benchmarks
#   make geodata         fetch a real, freely licensed country database
#   make install         PREFIX=/usr/local DESTDIR= (binary, man pages, example, systemd unit)
#   make CROSS=aarch64-linux-gnu-   cross build into build-aarch64/ (Debian multiarch libraries)
#   make test-cross      installs the arm64 toolchain, cross builds, runs the unit tests under qemu

VERSION   := 0.1.0
PREFIX    ?= /usr/local
DESTDIR   ?=
CC        ?= cc
SANITIZE  ?= 0
WERROR    ?= 1
FUZZ_SECONDS ?= 60

# Cross builds: CROSS is the toolchain prefix (aarch64-linux-gnu-); pkg-config then reads
# the target's multiarch .pc files, and objects go to build-<cpu>/ beside the native ones.
CROSS ?=
ifneq ($(CROSS),)
CROSS_TRIPLET := $(CROSS:%-=%)
CROSS_CPU     := $(firstword $(subst -, ,$(CROSS_TRIPLET)))
CC            := $(CROSS)gcc
AR            := $(CROSS)ar
PKG_CONFIG    ?= env PKG_CONFIG_LIBDIR=/usr/lib/$(CROSS_TRIPLET)/pkgconfig:/usr/share/pkgconfig pkg-config
endif
PKG_CONFIG ?= pkg-config

PKGS := yaml-0.1 libpcre2-8 libmaxminddb libmnl libnetfilter_conntrack libnetfilter_queue \
	libcrypto libcap jansson libcares
# libcurl: its header only; `stats` and `flows` open the library when they run
# (engine/cli/cli_curl.h), so the daemon never maps it. libmicrohttpd: its header
# only; the control plane opens it when it starts (engine/control/control_mhd.c).
HEADER_PKGS := libcurl libmicrohttpd
# Debian's libev-dev ships no pkg-config file; fall back to -lev.
EV_CFLAGS := $(shell $(PKG_CONFIG) --cflags libev 2>/dev/null)
EV_LIBS   := $(shell $(PKG_CONFIG) --libs libev 2>/dev/null || echo -lev)
# Nor does libwslay-dev (WebSocket frames for the control plane): -lwslay. Its -dev
# package cannot be installed for two architectures at once, so a cross build takes
# the native one's header and links the target's runtime library by its file name.
ifeq ($(CROSS),)
WSLAY_LIBS := $(shell $(PKG_CONFIG) --libs libwslay 2>/dev/null || echo -lwslay)
else
WSLAY_LIBS := -l:libwslay.so.1
endif
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) $(HEADER_PKGS) 2>/dev/null) $(EV_CFLAGS)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) $(EV_LIBS) $(WSLAY_LIBS)
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null || echo -lcmocka)

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
ifeq ($(WERROR),1)
WARN += -Werror
endif
OPT ?= -O2 -g
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -DSWITCHYARD_VERSION='"$(VERSION)"' \
	-I. $(WARN) $(OPT) $(PKG_CFLAGS)

ifeq ($(SANITIZE),1)
BUILD := build-san
SAN   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else ifeq ($(SANITIZE),thread)
BUILD := build-tsan
SAN   := -fsanitize=thread -fno-omit-frame-pointer
else
BUILD := build
SAN   :=
endif
ifneq ($(CROSS),)
BUILD := $(BUILD)-$(CROSS_CPU)
endif
ALL_CFLAGS := $(BASE_CFLAGS) $(SAN) $(CFLAGS)
ALL_LDFLAGS := $(SAN) $(LDFLAGS)

# Sources are found recursively: each stage folder (engine/tcp, rules/sniff, ...) is picked up.
RULES_SRC  := $(shell find rules geodata -name '*.c' | sort)
ENGINE_SRC := $(filter-out engine/cli/main.c,$(shell find engine -name '*.c' | sort))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
BENCH_SRC  := $(wildcard bench/bench_*.c)

RULES_OBJ  := $(RULES_SRC:%.c=$(BUILD)/%.o)
ENGINE_OBJ := $(ENGINE_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_BIN  := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all deps deps-cross demo test test-cross test-unit test-e2e fuzz fuzz-build bench geodata install install-man clean format format-check

all: switchyard

switchyard: $(BUILD)/switchyard
	@[ "$(SANITIZE)" = 1 ] || [ -n "$(CROSS)" ] || cp $< $@

$(BUILD)/switchyard: $(BUILD)/engine/cli/main.o $(BUILD)/libengine.a $(BUILD)/librules.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

# Every archive, plain, sanitized or fuzz, is made from the objects its rule lists.
%.a:
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/librules.a: $(RULES_OBJ)
$(BUILD)/libengine.a: $(ENGINE_OBJ) $(BUILD)/gen/control_ui_files.o

# The built-in dashboard (engine/control/ui/): each file a C array (xxd -i), and their table.
UI_FILES := $(sort $(wildcard engine/control/ui/*))
define ui_files_c
	@mkdir -p $(dir $@)
	@{ echo '/* generated from engine/control/ui/ by the Makefile */'; \
	   echo '#include "engine/control/control_ui.h"'; \
	   i=0; for f in $(UI_FILES); do \
	       echo "static const unsigned char ui_$$i[] = {"; xxd -i <$$f; echo '};'; i=$$((i + 1)); \
	   done; \
	   echo 'const struct control_ui_file control_ui_files[] = {'; \
	   i=0; for f in $(UI_FILES); do \
	       echo "    {\"$${f##*/}\", ui_$$i, sizeof(ui_$$i)},"; i=$$((i + 1)); \
	   done; \
	   echo '    {NULL, NULL, 0}};'; } >$@
endef

$(BUILD)/gen/control_ui_files.c: $(UI_FILES) Makefile
	$(ui_files_c)

$(BUILD)/gen/control_ui_files.o: $(BUILD)/gen/control_ui_files.c engine/control/control_ui.h
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libengine.a $(BUILD)/librules.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -o $@ $< $(BUILD)/libengine.a $(BUILD)/librules.a $(ALL_LDFLAGS) $(CMOCKA_LIBS) $(PKG_LIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libengine.a $(BUILD)/librules.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -o $@ $< $(BUILD)/libengine.a $(BUILD)/librules.a $(ALL_LDFLAGS) $(PKG_LIBS)

# Test and bench programs are compiled and linked in one step; their header
# dependencies land in PROGRAM.d.
-include $(RULES_OBJ:.o=.d) $(ENGINE_OBJ:.o=.d) $(BUILD)/engine/cli/main.d
-include $(UNIT_BIN:=.d) $(BENCH_BIN:=.d)

# --- tests -----------------------------------------------------------------

test-unit: $(UNIT_BIN)
	tests/run --unit $(BUILD)/tests

# Everything CI runs; tests/run prints the closing "N passed, N failed".
test: switchyard
	$(MAKE) SANITIZE=0 $(UNIT_BIN)
	$(MAKE) SANITIZE=1 unit-bins build-san/switchyard
	$(MAKE) SANITIZE=thread unit-bins build-tsan/switchyard
	$(MAKE) fuzz-build
	tests/run --all

# SANITIZE=1: against build-san/switchyard; a sanitizer report fails the script.
# E2E="name ..." runs only the scripts whose names contain one of them.
test-e2e: switchyard
	SWITCHYARD=$(CURDIR)/$(BUILD)/switchyard tests/run --e2e $(E2E)

unit-bins: $(UNIT_BIN)

# The unit tests built for another CPU and run under qemu-user (Debian's qemu-user; no
# binfmt registration needed). CROSS_TEST picks the toolchain, CROSS_ARCH Debian's name for
# that architecture, CROSS_QEMU the emulator. No -L /usr/<triplet>: the target's libraries
# come from multiarch (/lib/ld-linux-aarch64.so.1 and libc6:arm64, pulled in by the -dev
# packages), and the cross toolchain's older ld.so under /usr/<triplet> with that libc hangs
# in pthread_create.
CROSS_TEST ?= aarch64-linux-gnu-
CROSS_ARCH ?= arm64
CROSS_QEMU ?= qemu-$(firstword $(subst -, ,$(CROSS_TEST)))

deps-cross:
	tests/deps-cross.sh $(CROSS_ARCH) $(CROSS_TEST:%-=%)

test-cross: deps-cross
	$(MAKE) CROSS=$(CROSS_TEST) switchyard unit-bins
	QEMU="$(CROSS_QEMU)" tests/run --unit build-$(firstword $(subst -, ,$(CROSS_TEST)))/tests

# --- fuzzing (clang libFuzzer) ---------------------------------------------

FUZZ_BUILD := build-fuzz
FUZZ_CFLAGS := $(BASE_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
FUZZ_RULES_OBJ := $(RULES_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_ENGINE_OBJ := $(ENGINE_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)

fuzz-build: $(FUZZ_BIN)

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -Wno-unused-command-line-argument -MMD -MP -c -o $@ $<

$(FUZZ_BUILD)/librules.a: $(FUZZ_RULES_OBJ)
$(FUZZ_BUILD)/libengine.a: $(FUZZ_ENGINE_OBJ) $(FUZZ_BUILD)/gen/control_ui_files.o

$(FUZZ_BUILD)/gen/control_ui_files.c: $(UI_FILES) Makefile
	$(ui_files_c)

$(FUZZ_BUILD)/gen/control_ui_files.o: $(FUZZ_BUILD)/gen/control_ui_files.c engine/control/control_ui.h
	clang $(FUZZ_CFLAGS) -Wno-unused-command-line-argument -c -o $@ $<

# Archives, so a target links only the objects it needs.
$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_BUILD)/libengine.a $(FUZZ_BUILD)/librules.a
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)

-include $(FUZZ_RULES_OBJ:.o=.d) $(FUZZ_ENGINE_OBJ:.o=.d)

fuzz: fuzz-build
	tests/run --fuzz $(FUZZ_SECONDS)

# --- benchmarks --------------------------------------------------------------

bench: switchyard $(BENCH_BIN)
	bench/run

# --- data, install, housekeeping ----------------------------------------------

deps:
	tests/deps.sh

# Root and the programs the demo runs are checked first, then the libraries
# the build needs, so a fresh machine is told to run make deps.
demo:
	@examples/demo.sh --check
	@pkg-config --exists $(PKGS) $(HEADER_PKGS) || { echo "make demo: the build libraries are missing; run 'make deps' (as root) first" >&2; exit 1; }
	@$(MAKE) -q --no-print-directory switchyard || $(MAKE) --no-print-directory switchyard
	@examples/demo.sh

geodata:
	geodata/fetch.sh geodata/country.mmdb

# The unit names the binary where this install puts it.
install: switchyard install-man
	install -D -m 0755 switchyard $(DESTDIR)$(PREFIX)/bin/switchyard
	install -D -m 0644 examples/minimal.yaml $(DESTDIR)$(PREFIX)/share/switchyard/examples/minimal.yaml
	mkdir -p $(DESTDIR)$(PREFIX)/lib/systemd/system
	sed 's|/usr/local/bin/switchyard|$(PREFIX)/bin/switchyard|g' examples/switchyard.service \
		>$(DESTDIR)$(PREFIX)/lib/systemd/system/switchyard.service

install-man:
	install -D -m 0644 man/switchyard.1 $(DESTDIR)$(PREFIX)/share/man/man1/switchyard.1
	install -D -m 0644 man/switchyard.yaml.5 $(DESTDIR)$(PREFIX)/share/man/man5/switchyard.yaml.5

FORMAT_SRC := $(shell find engine rules geodata tests bench -name '*.[ch]' | sort)

format:
	@clang-format -i $(FORMAT_SRC)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_SRC)

clean:
	rm -rf build build-san build-tsan build-fuzz switchyard
