# daprc: one non-recursive build. Every component adds itself through its module.mk.
# Outputs go to $(BUILD): bin/ (binaries), lib/ (libdc.a), obj/, tests/, fuzz/.
#   make            every binary that exists
#   make test       unit tests, integration tests, ASan+UBSan unit pass, fuzz smoke, formatting
#   make run        daprd on the embedded default resources
#   make bench      benchmark figures with their peers
#   make fuzz       libFuzzer targets (clang)
#   make clean
# Knobs: WERROR=1, SANITIZE=address,undefined, CC=clang.

.DEFAULT_GOAL := all
SHELL := /bin/bash

ifneq ($(SANITIZE),)
BUILD ?= build/sanitize
else
BUILD ?= build
endif

CC ?= cc
PKGS := libcurl yaml-0.1 libcjson openssl sqlite3 hiredis libpq libnghttp2 \
        libevent_core libevent_pthreads libevent_openssl libprotobuf-c libmosquitto
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

CSTD    := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
WARN    := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wold-style-definition -Wformat=2 -Wundef -Wwrite-strings -Wvla \
           -Wimplicit-fallthrough -Wnull-dereference -Wcast-align \
           -Werror=implicit-function-declaration -Werror=incompatible-pointer-types \
           -Werror=return-type
HARDEN  := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fstack-clash-protection -fPIE
LDHARDEN := -pie -Wl,-z,relro,-z,now
ifeq ($(WERROR),1)
WARN    += -Werror
endif

OPT     ?= -O2 -g
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# Compiled against but not linked: loaded with dlopen on first use (dc/dl.h; docs/internals/build.md).
LAZY_PKGS  := libcurl libpq libmosquitto
PKG_LIBS   := $(shell pkg-config --libs $(filter-out $(LAZY_PKGS),$(PKGS)) 2>/dev/null)
LAZY_LIBS  := $(shell pkg-config --libs $(LAZY_PKGS) 2>/dev/null)
CFLAGS  := $(CSTD) $(OPT) $(WARN) $(HARDEN) -Icommon/include $(PKG_CFLAGS) \
           -DDC_VERSION='"$(VERSION)"' $(EXTRA_CFLAGS)
LDFLAGS := $(LDHARDEN) $(EXTRA_LDFLAGS)
LDLIBS  := $(PKG_LIBS) -lhttp_parser -lpthread -lm
# The shipped binaries (daprd, sentry, injector) link these Debian libraries from their static
# archives (lib*.a of the same -dev packages): only the objects they use are linked, nothing is
# relocated by symbol at start, and relative relocations are packed (DT_RELR, glibc 2.36). That
# takes 1.3-1.5 MB off each idle process (docs/internals/build.md, docs/benchmarks.md "Static
# linking"). libc, libm and cJSON (Debian ships no libcjson.a) stay shared; unit tests, fuzz
# targets and tools link everything shared. Libraries loaded with dlopen (LAZY_PKGS) carry
# their own shared OpenSSL: no OpenSSL object crosses between the two (dc/http_client.h).
STATIC_LIBS := -lyaml -lnghttp2 -levent_openssl -levent_pthreads -levent_core -lhiredis -lprotobuf-c \
               -lhttp_parser -lsqlite3 -lssl -lcrypto
BIN_LDFLAGS  = $(LDFLAGS) -Wl,-z,pack-relative-relocs
BIN_LDLIBS  := -Wl,-Bstatic $(STATIC_LIBS) -Wl,-Bdynamic -lcjson -lpthread -lm -ldl
ifneq ($(SANITIZE),)
CFLAGS  += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer -U_FORTIFY_SOURCE
LDFLAGS += -fsanitize=$(SANITIZE)
endif
TEST_CFLAGS := $(CFLAGS) -DDC_TESTING $(shell pkg-config --cflags cmocka 2>/dev/null)
TEST_LIBS   := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)

BINARIES :=
UNIT_TESTS :=
FUZZ_TARGETS :=

Q := $(if $(V),,@)
include common/module.mk
include proto/module.mk
include sidecar/module.mk
include bench/module.mk
include injector/module.mk
include sentry/module.mk
include e2e/module.mk

# Generic rules: objects mirror the source tree under $(BUILD)/obj.
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/tobj/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC [t]  $<")
	$(Q)$(CC) $(TEST_CFLAGS) -MMD -MP -c $< -o $@

-include $(shell find $(BUILD)/obj $(BUILD)/tobj -name '*.d' 2>/dev/null)

.SECONDARY:
.PHONY: all deps test unit unit-asan integration run bench fuzz fuzz-smoke clean \
        check-headers format-check lint e2e
all: $(BINARIES)

deps:
	@./scripts/deps.sh

unit: $(UNIT_TESTS)
	@./scripts/run-unit.sh $(UNIT_TESTS)

unit-asan:
	@$(MAKE) --no-print-directory SANITIZE=address,undefined CC=$(CC) WERROR=$(WERROR) unit

integration: all $(UNIT_TESTS)
	@./tests/run-integration.sh

e2e:
	@./e2e/run.sh

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory check-headers lint format-check
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory e2e
	@$(MAKE) --no-print-directory unit-asan
	@$(MAKE) --no-print-directory fuzz-smoke

run: deps
	@$(MAKE) --no-print-directory $(BUILD)/bin/daprd
	@./scripts/run.sh

bench: all
	@./scripts/deps.sh bench
	@./bench/run.sh

# libFuzzer targets: clang, the library rebuilt with coverage and sanitizers.
FUZZ_BUILD := build/fuzz
fuzz:
	@$(MAKE) --no-print-directory CC=clang BUILD=$(FUZZ_BUILD) \
	  EXTRA_CFLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -DDC_FUZZING" \
	  fuzz-targets

fuzz-targets: $(FUZZ_TARGETS)

fuzz-smoke: fuzz
	@./scripts/fuzz-smoke.sh $(FUZZ_BUILD)/fuzz

check-headers:
	@set -e; for h in $$(find common/include -name '*.h') $$(find sidecar placement sentry operator injector -name '*.h' 2>/dev/null); do \
	  printf '#include "%s"\nint dc__check_headers_tu;\n' "$$PWD/$$h" | $(CC) $(CSTD) $(WARN) -Werror -Icommon/include $(PKG_CFLAGS) -x c -fsyntax-only - ; \
	done; echo "check-headers: ok"

lint:
	@./scripts/lint.sh

format-check:
	@clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build
