# SPDX-License-Identifier: GPL-2.0
#
# hmm-dmirror: build the module against KDIR, or drive the test kernels.
# `make help` lists the targets.

KDIR ?= /lib/modules/$(shell uname -r)/build
KSFT_DIR ?= $(KDIR)/tools/testing/selftests
PREFIX ?= /usr/local
KVERS ?= 6.1 6.12 7.3
FLAVOR ?= normal
# A developer's own kernel source tree for check and run (built out of
# tree in the cache), its optional base config and extra options.
KSRC ?=
KCONFIG ?=
KCONFIG_EXTRA ?=
REPO := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
KREL = $(shell $(MAKE) -s -C $(KDIR) kernelrelease)
DEPMOD_BASE = $(if $(INSTALL_MOD_PATH),-b $(INSTALL_MOD_PATH))

.PHONY: all modules kdir-check clean install selftests check run lint help
.PHONY: tools uninstall dkms-install dkms-remove bench mutants layers

all: modules

modules: kdir-check
	$(MAKE) -C $(KDIR) M=$(REPO) modules

kdir-check:
	@$(REPO)/scripts/check-kdir.sh $(KDIR)

clean:
	rm -f $(REPO)/*.ko $(REPO)/*.mod $(REPO)/*.mod.c $(REPO)/*.o \
	      $(REPO)/modules.order $(REPO)/Module.symvers $(REPO)/.*.cmd \
	      $(REPO)/module/*.o $(REPO)/module/.*.cmd
	rm -rf $(REPO)/.tmp_versions
	$(MAKE) -C $(REPO)/selftests clean
	$(MAKE) -C $(REPO)/tools clean

install: modules
	$(MAKE) -C $(KDIR) M=$(REPO) modules_install
	depmod $(DEPMOD_BASE) -a $(KREL)
	install -D -m 0644 $(REPO)/uapi/hmm_dmirror.h \
		$(DESTDIR)$(PREFIX)/include/hmm_dmirror.h

# Removes what install put in place: hmm_dmirror.ko of KDIR's kernel
# (wherever under /lib/modules/<release> it is) and the header.
uninstall:
	find $(INSTALL_MOD_PATH)/lib/modules/$(KREL) -name 'hmm_dmirror.ko*' -delete
	depmod $(DEPMOD_BASE) -a $(KREL)
	rm -f $(DESTDIR)$(PREFIX)/include/hmm_dmirror.h

tools:
	$(MAKE) -C $(REPO)/tools

# DKMS: the sources dkms.conf needs go to /usr/src/hmm-dmirror-<version>.
# DKMS_FLAGS is passed to dkms build and install (e.g. -k <release>
# --kernelsourcedir <kernel build dir>); dkms refuses kernels without
# DEVICE_PRIVATE or HMM_MIRROR (BUILD_EXCLUSIVE_CONFIG).
DKMS_VER := $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' $(REPO)/dkms.conf)
DKMS_SRC := /usr/src/hmm-dmirror-$(DKMS_VER)
dkms-install:
	rm -rf $(DKMS_SRC)
	mkdir -p $(DKMS_SRC)/scripts
	cp -r $(REPO)/dkms.conf $(REPO)/Kbuild $(REPO)/module $(REPO)/uapi $(DKMS_SRC)/
	cp $(REPO)/scripts/conftest.sh $(DKMS_SRC)/scripts/
	dkms add -m hmm-dmirror -v $(DKMS_VER)
	dkms build -m hmm-dmirror -v $(DKMS_VER) $(DKMS_FLAGS)
	dkms install -m hmm-dmirror -v $(DKMS_VER) $(DKMS_FLAGS)

dkms-remove:
	-dkms remove -m hmm-dmirror -v $(DKMS_VER) --all
	rm -rf $(DKMS_SRC)

selftests:
	@test -f $(KSFT_DIR)/kselftest_harness.h || { \
		echo "hmm_dmirror: no kselftest_harness.h in $(KSFT_DIR);" \
		     "point KSFT_DIR at a kernel source's tools/testing/selftests" \
		     "(make check and make run do this for you)" >&2; exit 1; }
	$(MAKE) -C $(REPO)/selftests KSFT_DIR=$(KSFT_DIR)

# Paths are made absolute here: the scripts change directory.
KSRC_ENV = $(if $(KSRC),KSRC=$(abspath $(KSRC))) \
	   $(if $(KCONFIG),KCONFIG=$(abspath $(KCONFIG))) \
	   $(if $(KCONFIG_EXTRA),KCONFIG_EXTRA=$(abspath $(KCONFIG_EXTRA)))

check:
	@$(KSRC_ENV) $(REPO)/scripts/check.sh --flavor $(FLAVOR) \
		$(if $(KSRC),$(abspath $(KSRC)),$(KVERS))

run:
	@$(KSRC_ENV) $(REPO)/scripts/run.sh

lint:
	@$(REPO)/scripts/lint.sh

# The call graph among module/*.c (from the objects' symbols): no cycle,
# no call to a higher layer (module/dmirror.h, DOC: layers).
layers:
	@$(REPO)/scripts/layers.sh

# Migration benchmark, hmm_dmirror vs the kernel's test_hmm in one boot per
# kernel (BENCH_KVERS, default the newest); BENCH_FLAGS go to scripts/bench.
bench:
	@$(REPO)/scripts/bench $(addprefix --kver ,$(BENCH_KVERS)) $(BENCH_FLAGS)

# Deliberately broken variants of the module and the runner, each run
# through make check on one kernel (MUTANTS_KVER, default the newest):
# every one must be killed (the suite fails). MUTANTS= picks some by name.
mutants:
	@$(REPO)/scripts/mutants.sh $(addprefix --kver ,$(MUTANTS_KVER)) $(MUTANTS)

help:
	@echo 'hmm-dmirror targets:'
	@echo '  modules    (default) build hmm_dmirror.ko against KDIR=$(KDIR)'
	@echo '  install    modules_install + depmod for KDIR, uapi header to PREFIX=$(PREFIX)'
	@echo '  uninstall  remove what install installed, depmod'
	@echo '  dkms-install, dkms-remove  register/build/install with DKMS (DKMS_FLAGS=...)'
	@echo '  tools      build tools/hmmctl/hmmctl and the README example (tools/example)'
	@echo '  clean      remove build products'
	@echo '  selftests  build the selftests (KSFT_DIR = a kernel tree'"'"'s tools/testing/selftests)'
	@echo '  check      build test kernels, run the selftests in a VM on each'
	@echo '             (KVERS="$(KVERS)", FLAVOR=normal|debug)'
	@echo '             KSRC=<your kernel tree>: that tree instead, built out of tree'
	@echo '             (KCONFIG=<your .config>, KCONFIG_EXTRA=<fragment>)'
	@echo '  run        boot the newest test kernel with the module loaded:'
	@echo '             a shell, or CMD='"'"'...'"'"' and its exit status (KVER=, FLAVOR=,'
	@echo '             KSRC=, KCONFIG=, KCONFIG_EXTRA=; GDB=1 waits for gdb)'
	@echo '  lint       checkpatch --strict, W=1 and sparse builds on every kernel,'
	@echo '             the layers check'
	@echo '  layers     call graph among module/*.c: no cycle, no call upward'
	@echo '  mutants    run make check against deliberately broken variants;'
	@echo '             each must be killed (MUTANTS_KVER=, MUTANTS="name ...")'
	@echo '  bench      migration benchmark vs the kernel'"'"'s test_hmm, same boot'
	@echo '             (BENCH_KVERS="7.3 6.12", BENCH_FLAGS="--plot --rounds 2 ...")'
