#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# mkinitramfs.sh KDIR MODULE_KO TESTS_DIR OUT [CMD_FILE]
#
# Packs the test VM's initramfs: busybox-static, our /init, hmm_dmirror.ko,
# the kernel's own test_hmm.ko, every file of TESTS_DIR under /tests, and
# optionally a command file for "make run CMD=...". Uses the kernel tree's
# usr/gen_init_cpio, so no root and no device nodes on the host are needed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kdir=${1:?}
ko=${2:?}
tests=${3:?}
out=${4:?}
cmdfile=${5:-}

busybox=/bin/busybox
[ -x "$busybox" ] || die "busybox-static is not installed (scripts/deps.sh)"
gen="$kdir/usr/gen_init_cpio"
[ -x "$gen" ] || die "$gen missing: is $kdir a built kernel tree?"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat >"$work/hmm.conf" <<CONF
HMM_KO=/lib/modules/hmm_dmirror.ko
TEST_HMM_KO=/lib/modules/test_hmm.ko
HMM_SPM0=$HMM_SPM0
HMM_SPM1=$HMM_SPM1
export HMM_KO TEST_HMM_KO HMM_SPM0 HMM_SPM1
CONF

{
	echo "dir /dev 0755 0 0"
	echo "nod /dev/console 0600 0 0 c 5 1"
	for d in /bin /etc /lib /lib/modules /proc /sys /tmp /root /tests; do
		echo "dir $d 0755 0 0"
	done
	echo "file /bin/busybox $busybox 0755 0 0"
	echo "file /init $HMM_REPO/scripts/guest/init 0755 0 0"
	echo "file /etc/hmm.conf $work/hmm.conf 0644 0 0"
	echo "file /lib/modules/hmm_dmirror.ko $ko 0644 0 0"
	if [ -f "$kdir/lib/test_hmm.ko" ]; then
		echo "file /lib/modules/test_hmm.ko $kdir/lib/test_hmm.ko 0644 0 0"
	fi
	for f in "$tests"/*; do
		[ -f "$f" ] || continue
		echo "file /tests/${f##*/} $f 0755 0 0"
	done
	if [ -n "$cmdfile" ]; then
		echo "file /etc/hmm-cmd $cmdfile 0644 0 0"
	fi
} >"$work/list"

"$gen" "$work/list" | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
