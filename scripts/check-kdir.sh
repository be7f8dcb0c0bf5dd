#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check-kdir.sh KDIR
#
# Fails with one clear message if KDIR is not a configured kernel build
# directory that can run hmm_dmirror.
set -u
kdir=${1:?usage: check-kdir.sh KDIR}
hint="build and boot a test kernel instead: 'make check' runs the selftests, 'make run' gives a shell"

if [ ! -f "$kdir/Makefile" ]; then
	echo "hmm_dmirror: no kernel build directory at KDIR=$kdir; pass KDIR=<kernel build dir>, or $hint" >&2
	exit 1
fi
if [ ! -f "$kdir/.config" ]; then
	echo "hmm_dmirror: $kdir has no .config (not a configured kernel build dir); $hint" >&2
	exit 1
fi
for opt in CONFIG_ZONE_DEVICE CONFIG_DEVICE_PRIVATE CONFIG_HMM_MIRROR \
	   CONFIG_MMU_NOTIFIER CONFIG_MIGRATION; do
	if ! grep -qx "$opt=y" "$kdir/.config"; then
		echo "hmm_dmirror: the kernel in $kdir lacks $opt=y, which an HMM device needs; $hint" >&2
		exit 1
	fi
done
exit 0
