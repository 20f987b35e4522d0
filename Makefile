# SPDX-License-Identifier: GPL-2.0
#
# cowshare: build and VM test entry points. See README.md and docs/build.md.
#
#   make demo                 set up, build 6.12-amd64, boot it, show the device
#   make check [TARGETS="t…"] checkpatch, build, selftests in a VM per target
#   make build [TARGET="t…"]  module + guest userspace + selftests per target
#   make build KDIR=DIR       only the module, against kernel build tree DIR,
#                             for the host: build/host/cowshare.ko
#   make userspace            host libcowshare (.so + .a) and cowctl, build/host/
#   make check-debug          the selftests under a KASAN/lockdep/kmemleak
#                             6.12 kernel (built once, ~25 min, cached)
#   make fuzz [DURATION=s] [TARGETS="t…"]  long seeded fuzzer runs
#   make bench [TARGETS="t…"] benchmarks -> docs/benchmarks.md
#   make checkpatch | setup | clean
#
# Every target first runs scripts/setup once (build/cache/.setup-done).

ALL_TARGETS := 6.1-amd64 6.1-arm64 6.12-amd64 6.12-arm64 6.12-arm64-16k 6.12-rt-amd64
DEFAULT_TARGET := 6.12-amd64

TARGET ?= $(ALL_TARGETS)
TARGETS ?= $(ALL_TARGETS)
# VMs at a time in `make check` (measured: 1 is fastest on two cores)
JOBS ?= 1

SETUP_DONE := build/cache/.setup-done

# Command-line variables (TARGET=, TARGETS=, KDIR=, JOBS=) would otherwise
# reach every sub-make through MAKEFLAGS and override the sub-Makefiles'
# own variables of the same name (userspace/Makefile has a TARGETS).
MAKEOVERRIDES :=

unknown := $(filter-out $(ALL_TARGETS),$(TARGET) $(TARGETS))
ifneq ($(unknown),)
$(error unknown target(s) $(unknown); known: $(ALL_TARGETS))
endif

.PHONY: all setup build userspace check checkpatch demo clean help check-debug fuzz bench \
	$(addprefix build-,$(ALL_TARGETS))
.DEFAULT_GOAL := help

help:
	@sed -n '3,18p' Makefile | sed 's/^# \{0,1\}//'

all: build

setup: $(SETUP_DONE)

$(SETUP_DONE):
	scripts/setup

# One phony target per kernel target, so `make -j2 build` builds two at a
# time (each writes only build/<t>/). '+': they run make themselves.
ifdef KDIR
build: $(SETUP_DONE)
	+@scripts/build --kdir $(KDIR)
else
build: $(addprefix build-,$(TARGET))
endif

$(addprefix build-,$(ALL_TARGETS)): build-%: $(SETUP_DONE)
	+@scripts/build $*

userspace: $(SETUP_DONE)
	+$(MAKE) -C userspace O=$(CURDIR)/build/host CC=$(or $(HOSTCC),gcc)

checkpatch: $(SETUP_DONE)
	@scripts/checkpatch

check: $(SETUP_DONE)
	+@scripts/check --jobs $(JOBS) $(TARGETS)

check-debug: $(SETUP_DONE)
	+@scripts/check-debug

DURATION ?= 600
FUZZ_TARGETS := $(if $(filter command line,$(origin TARGETS)),$(TARGETS),6.12-amd64)
fuzz: $(SETUP_DONE)
	+@scripts/fuzz --duration $(DURATION) $(FUZZ_TARGETS)

BENCH_TARGETS := $(if $(filter command line,$(origin TARGETS)),$(TARGETS),6.12-amd64 6.12-arm64)
bench: $(SETUP_DONE)
	+@scripts/bench --targets "$(BENCH_TARGETS)"

demo: $(SETUP_DONE)
	+@scripts/build $(DEFAULT_TARGET)
	@scripts/vm-run --target $(DEFAULT_TARGET) --add scripts/demo -- sh /extra/demo

# The fetched kernels and tools (build/cache) stay: they take minutes to
# fetch. `rm -rf build` removes those too.
clean:
	rm -rf $(filter-out build/cache,$(wildcard build/*))
