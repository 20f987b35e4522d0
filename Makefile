# SPDX-License-Identifier: GPL-2.0
#
# cowshare: build and VM test entry points. See README.md and docs/build.md.
#
#   make demo                 set up, build 6.12-amd64, boot it, run the demo
#                             (scripts/demo), draw build/demo/sharing.svg
#   make check [TARGETS="t…"] checkpatch, build, selftests in a VM per target
#   make build [TARGET="t…"]  module + guest userspace + selftests per target
#   make build-T              the same for target T alone
#   make build KDIR=DIR       only the module, against kernel build tree DIR,
#                             for the host: build/host/cowshare.ko
#   make all                  the same as make build
#   make userspace            host libcowshare (.so + .a) and cowctl, build/host/
#   make check-debug          the selftests under a KASAN/lockdep/kmemleak
#                             6.12 kernel (built once, ~25 min, cached)
#   make fuzz [DURATION=s] [THREADS=n] [DEBUG=1] [TARGETS="t…"]
#                             long seeded fuzzer runs; THREADS: n threads at
#                             once; DEBUG=1: under the check-debug kernel
#   make bench [TARGETS="t…"] benchmarks -> docs/benchmarks.md
#   make install [DESTDIR=] [PREFIX=/usr/local]   host libcowshare (.a, .so),
#                             headers, cowshare.pc, cowctl, man pages, udev rule
#   make modules_install KDIR=DIR [DESTDIR=]   module for that kernel (kbuild)
#   make dkms-source [DESTDIR=]   DESTDIR/usr/src/cowshare-VERSION/ for dkms
#   make checkpatch           checkpatch.pl --strict on kmod/ and uapi/
#   make kselftest-install DESTDIR=DIR   the selftests for this machine as a
#                             kselftest tree: DIR/run_kselftest.sh
#   make setup                host packages, kernels and tools (scripts/setup)
#   make clean                build/ less the fetched kernels (build/cache)
#   make help                 this text (the default goal)
#
# Every target first runs scripts/setup once (build/cache/.setup-done.2).

# The targets t: the one list, COWSHARE_TARGETS="..." in scripts/targets.sh.
ALL_TARGETS := $(shell sed -n 's/^COWSHARE_TARGETS="\(.*\)"$$/\1/p' scripts/targets.sh)
ifeq ($(ALL_TARGETS),)
$(error no COWSHARE_TARGETS="..." line in scripts/targets.sh)
endif
DEFAULT_TARGET := 6.12-amd64

TARGET ?= $(ALL_TARGETS)
TARGETS ?= $(ALL_TARGETS)
# VMs at a time in `make check` (measured: 1 is fastest on two cores)
JOBS ?= 1

# .2: bumped when scripts/setup learns to fetch or install something new,
# so that a machine set up before runs it again.
SETUP_DONE := build/cache/.setup-done.2

# Command-line variables (TARGET=, TARGETS=, KDIR=, JOBS=) would otherwise
# reach every sub-make through MAKEFLAGS and override the sub-Makefiles'
# own variables of the same name (userspace/Makefile has a TARGETS).
MAKEOVERRIDES :=

unknown := $(filter-out $(ALL_TARGETS),$(TARGET) $(TARGETS))
ifneq ($(unknown),)
$(error unknown target(s) $(unknown); known: $(ALL_TARGETS))
endif

.PHONY: all setup build userspace check checkpatch demo clean help check-debug fuzz bench \
	install modules_install dkms-source kselftest-install \
	$(addprefix build-,$(ALL_TARGETS))
.DEFAULT_GOAL := help

# The header comment above, by the scripts' --help helper; then the targets.
help:
	@bash -c '. scripts/targets.sh && usage_block Makefile'
	@echo "Targets t: $(ALL_TARGETS)"

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

# The selftests as a kselftest install tree for this machine, as the
# kernel's kselftest_install.sh writes one: DESTDIR/run_kselftest.sh runs
# them (as root, with the module loaded). The guests' own copies, static,
# are build/T/kselftest/ of `make build`.
kselftest-install: userspace
ifeq ($(DESTDIR),)
	$(error kselftest-install needs DESTDIR=<directory>)
endif
	+$(MAKE) -C selftests O=$(CURDIR)/build/host/selftests CC=$(or $(HOSTCC),gcc) \
		LIBCOWSHARE=$(CURDIR)/build/host/libcowshare.a \
		DESTDIR=$(abspath $(DESTDIR)) kselftest_install

check: $(SETUP_DONE)
	+@scripts/check --jobs $(JOBS) $(TARGETS)

check-debug: $(SETUP_DONE)
	+@scripts/check-debug

DURATION ?= 600
THREADS ?= 1
FUZZ_TARGETS := $(if $(filter command line,$(origin TARGETS)),$(TARGETS),6.12-amd64)
fuzz: $(SETUP_DONE)
	+@scripts/fuzz --duration $(DURATION) --threads $(THREADS) $(if $(DEBUG),--debug) \
		$(FUZZ_TARGETS)

BENCH_TARGETS := $(if $(filter command line,$(origin TARGETS)),$(TARGETS),6.12-amd64 6.12-arm64)
bench: $(SETUP_DONE)
	+@scripts/bench --targets "$(BENCH_TARGETS)"

# The demo program goes in as /extra/demo-prog; the console is kept in
# build/demo/console.log and its data block drawn by scripts/demo-render.
DEMO_OUT := build/demo
demo: $(SETUP_DONE)
	@echo "demo: building $(DEFAULT_TARGET): module, libcowshare, demo program, selftests"
	+@scripts/build $(DEFAULT_TARGET)
	@mkdir -p $(DEMO_OUT)
	@cp build/$(DEFAULT_TARGET)/demo $(DEMO_OUT)/demo-prog
	@echo "demo: booting $(DEFAULT_TARGET) in QEMU (TCG, about 20 s)"
	@scripts/vm-run --target $(DEFAULT_TARGET) --timeout 240 --add scripts/demo \
		--add $(DEMO_OUT)/demo-prog --log $(DEMO_OUT)/console.log -- sh /extra/demo
	@echo "demo: drawing the pictures (console in $(DEMO_OUT)/console.log)"
	@scripts/demo-render $(DEMO_OUT)/console.log $(DEMO_OUT)

# ---- install --------------------------------------------------------------
# Host userspace as `make userspace` builds it, with PREFIX's paths in
# cowshare.pc. DESTDIR and PREFIX are passed on by name: MAKEOVERRIDES is
# empty above.
PREFIX ?= /usr/local
DESTDIR ?=
UDEVRULESDIR ?= /lib/udev/rules.d
VERSION := $(shell sed -n 's/^\#define COWSHARE_VERSION_\(MAJOR\|MINOR\|PATCH\)[[:space:]]*\([0-9]*\).*/\2/p' \
	userspace/include/cowshare.h | paste -sd.)

install: $(SETUP_DONE)
	+$(MAKE) -C userspace O=$(CURDIR)/build/host CC=$(or $(HOSTCC),gcc) \
		PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) install
	install -d $(DESTDIR)$(UDEVRULESDIR)
	install -m 644 scripts/udev/60-cowshare.rules $(DESTDIR)$(UDEVRULESDIR)/

# The module for kernel tree KDIR, built into build/host/ (as `make build
# KDIR=`), installed by kbuild: DESTDIR/lib/modules/<release>/updates/.
modules_install:
ifndef KDIR
	$(error modules_install needs KDIR=<kernel build tree>, e.g. /lib/modules/$$(uname -r)/build)
endif
	+@scripts/build --kdir $(KDIR)
	+$(MAKE) -C $(KDIR) M=$(CURDIR)/build/host/kmod-src \
		$(if $(DESTDIR),INSTALL_MOD_PATH=$(abspath $(DESTDIR))) modules_install

# The module's sources as DKMS wants them (scripts/dkms/dkms.conf).
DKMS_SRC := $(DESTDIR)/usr/src/cowshare-$(VERSION)
dkms-source:
	rm -rf $(DKMS_SRC)
	install -d $(DKMS_SRC)/kmod $(DKMS_SRC)/uapi/linux
	install -m 644 Kbuild $(DKMS_SRC)/
	install -m 644 kmod/*.[ch] $(DKMS_SRC)/kmod/
	install -m 644 uapi/linux/cowshare.h $(DKMS_SRC)/uapi/linux/
	sed 's/@VERSION@/$(VERSION)/' scripts/dkms/dkms.conf >$(DKMS_SRC)/dkms.conf
	@echo "dkms-source: $(DKMS_SRC) (dkms add $(DKMS_SRC) && dkms install cowshare/$(VERSION))"

# The fetched kernels and tools (build/cache) stay: they take minutes to
# fetch. `rm -rf build` removes those too.
clean:
	rm -rf $(filter-out build/cache,$(wildcard build/*))
