# SPDX-License-Identifier: GPL-2.0
#
# hmm-dmirror: build the module against KDIR, or drive the test kernels.
# `make help` lists the targets.

KDIR ?= /lib/modules/$(shell uname -r)/build
KSFT_DIR ?= $(KDIR)/tools/testing/selftests
PREFIX ?= /usr/local
KVERS ?= 6.1 6.12 7.3
FLAVOR ?= normal
REPO := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))

.PHONY: all modules kdir-check clean install selftests check run lint help

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

install: modules
	$(MAKE) -C $(KDIR) M=$(REPO) modules_install
	depmod -a $(shell $(MAKE) -s -C $(KDIR) kernelrelease)
	install -D -m 0644 $(REPO)/uapi/hmm_dmirror.h \
		$(DESTDIR)$(PREFIX)/include/hmm_dmirror.h

selftests:
	@test -f $(KSFT_DIR)/kselftest_harness.h || { \
		echo "hmm_dmirror: no kselftest_harness.h in $(KSFT_DIR);" \
		     "point KSFT_DIR at a kernel source's tools/testing/selftests" \
		     "(make check and make run do this for you)" >&2; exit 1; }
	$(MAKE) -C $(REPO)/selftests KSFT_DIR=$(KSFT_DIR)

check:
	@$(REPO)/scripts/check.sh --flavor $(FLAVOR) $(KVERS)

run:
	@$(REPO)/scripts/run.sh

lint:
	@$(REPO)/scripts/lint.sh

help:
	@echo 'hmm-dmirror targets:'
	@echo '  modules    (default) build hmm_dmirror.ko against KDIR=$(KDIR)'
	@echo '  install    modules_install + depmod for KDIR, uapi header to PREFIX=$(PREFIX)'
	@echo '  clean      remove build products'
	@echo '  selftests  build the selftests (KSFT_DIR = a kernel tree'"'"'s tools/testing/selftests)'
	@echo '  check      build test kernels, run the selftests in a VM on each'
	@echo '             (KVERS="$(KVERS)", FLAVOR=normal|debug)'
	@echo '  run        boot the newest test kernel with the module loaded:'
	@echo '             a shell, or CMD='"'"'...'"'"' and its exit status (KVER=, FLAVOR=)'
	@echo '  lint       checkpatch --strict, W=1 and sparse builds on every kernel'
