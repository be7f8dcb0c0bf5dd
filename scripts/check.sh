#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check.sh [--flavor normal|debug] [VERSION...]
#
# For each kernel (default: all supported): build or reuse the test kernel,
# build the module and selftests against it, boot the VM, run the suite.
# Prints TAP per kernel, and as the last line the totals over every kernel:
# "N passed, N failed, N skipped". Exit status 0 only if nothing failed.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

flavor=normal
if [ "${1:-}" = --flavor ]; then
	flavor=$2
	shift 2
fi
kvers=${*:-$HMM_KVERS_ALL}
# The guest's time limit: the debug flavour runs the same suite several
# times slower (KASAN, lockdep and SLUB debugging under emulation).
if [ "$flavor" = debug ]; then
	tmo=${HMM_VM_TIMEOUT:-3600}
else
	tmo=${HMM_VM_TIMEOUT:-1200}
fi

"$HMM_REPO/scripts/deps.sh" || die "installing dependencies failed"

tp=0 tf=0 ts=0
for kver in $kvers; do
	hmm_check_kver "$kver"
	echo "# ==== linux $kver ($flavor) ===="
	if ! work=$("$HMM_REPO/scripts/prepare.sh" "$kver" "$flavor" 2>"$HMM_CACHE/prepare-$kver.log"); then
		sed 's/^/# /' "$HMM_CACHE/prepare-$kver.log" | tail -n 60
		echo "not ok 1 $kver: build"
		tf=$((tf + 1))
		continue
	fi
	out="$work/run"
	start=$(date +%s)
	"$HMM_REPO/scripts/vm.sh" check "$work/bzImage" "$work/initrd.gz" \
		"$out" "$tmo"
	rc=$?
	echo "# VM finished in $(( $(date +%s) - start )) s (status $rc)"
	python3 "$HMM_REPO/scripts/tap.py" --kernel "$kver ($(cat "$work/release"))" \
		--channel "$out/channel.log" --console "$out/console.log" \
		--vm-rc "$rc" --counts "$out/counts" --expect "$work/sections"
	read -r p f s <"$out/counts" || { p=0; f=1; s=0; }
	tp=$((tp + p)) tf=$((tf + f)) ts=$((ts + s))
done
echo "$tp passed, $tf failed, $ts skipped"
[ "$tf" -eq 0 ]
