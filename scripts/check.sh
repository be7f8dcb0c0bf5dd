#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check.sh [--flavor normal|debug] [VERSION|PATH...]
#
# For each kernel (default: all supported; a PATH is a developer's own
# source tree, built out of tree by scripts/ksrc.sh with KCONFIG and
# KCONFIG_EXTRA from the environment): build or reuse the test kernel,
# build the module and selftests against it, boot the VM, run the suite;
# on the normal flavour, boot it again with one vCPU for the stress tests.
# Prints TAP per kernel, the kernel reports (BUG, WARNING, ...) by the test
# during which each came, with the path of the run's kept console log, and
# as the last line the totals over every kernel:
# "N passed, N failed, N skipped". Exit status 0 only if nothing failed.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

flavor=normal
if [ "${1:-}" = --flavor ]; then
	flavor=$2
	shift 2
fi
kvers=""
# shellcheck disable=SC2048 # one kernel per word
for k in ${*:-$HMM_KVERS_ALL}; do
	case "$k" in */*) k=$(hmm_ksrc_spec "$k") ;; esac
	kvers="$kvers $k"
done
case "$kvers" in *" /"*) hmm_ksrc_check_inputs ;; esac

# tmo KERNEL: the guest's time limit. A debug kernel runs the same suite
# several times slower (KASAN, lockdep and SLUB debugging under
# emulation): the debug flavour, or a KSRC configuration with those.
tmo() {
	if [ -n "${HMM_VM_TIMEOUT:-}" ]; then
		echo "$HMM_VM_TIMEOUT"
	elif [ "$flavor" = debug ] || grep -qsE \
		'^CONFIG_(KASAN|PROVE_LOCKING|DEBUG_KMEMLEAK)=y' \
		"$(hmm_kernel_dir "$1" "$flavor")/linux/.config"; then
		echo 3600
	else
		echo 1200
	fi
}

# describe TREE: the tree's commit, and whether it has uncommitted changes
# (read without refreshing the tree's index).
describe() {
	local head
	head=$(git -C "$1" --no-optional-locks rev-parse --short HEAD 2>/dev/null) || {
		echo "not a git checkout"
		return
	}
	if [ -n "$(git -C "$1" --no-optional-locks status --porcelain -uno 2>/dev/null | head -n 1)" ]; then
		echo "git $head with uncommitted changes"
	else
		echo "git $head"
	fi
}

"$HMM_REPO/scripts/deps.sh" || die "installing dependencies failed"

tp=0 tf=0 ts=0
reports=""

# boot MODE CPUS SECTIONS LABEL OUT TIMEOUT: one VM run of the kernel in
# $work, its TAP printed and its results added to the totals.
boot() {
	local mode=$1 cpus=$2 sections=$3 label=$4 out=$5 t=$6
	local start rc p f s during what log
	start=$(date +%s)
	HMM_VM_CPUS=$cpus "$HMM_REPO/scripts/vm.sh" "$mode" "$work/bzImage" \
		"$work/initrd.gz" "$out" "$t"
	rc=$?
	echo "# VM ($cpus vCPU) finished in $(( $(date +%s) - start )) s (status $rc)"
	python3 "$HMM_REPO/scripts/tap.py" --kernel "$label" \
		--channel "$out/channel.log" --console "$out/console.log" \
		--vm-rc "$rc" --counts "$out/counts" --expect "$sections" \
		--reports "$out/reports" \
		--keep "$HMM_CACHE/logs/$(basename "$work")-$mode-$(date +%Y%m%d-%H%M%S)"
	read -r p f s <"$out/counts" || { p=0; f=1; s=0; }
	tp=$((tp + p)) tf=$((tf + f)) ts=$((ts + s))
	while IFS=$'\t' read -r during what log; do
		reports="$reports# $label, during $during:
#     $what
#     console log: $log
"
	done < <(cat "$out/reports" 2>/dev/null)
}
exec 4>&1
for kver in $kvers; do
	hmm_check_kver "$kver"
	if hmm_is_ksrc "$kver"; then
		kdir=$(hmm_kernel_dir "$kver" "$flavor")
		plog="$HMM_CACHE/prepare-$(basename "$kdir")${HMM_WORK_TAG:+.$HMM_WORK_TAG}.log"
		echo "# ==== $kver ($flavor; $(describe "$kver")) ===="
		echo "# built out of tree in $kdir/linux"
		# Its build takes a while: show the build's progress lines
		# (on fd 4, this script's output).
		work=$("$HMM_REPO/scripts/prepare.sh" "$kver" "$flavor" \
			2> >(tee "$plog" | grep --line-buffered '^\[hmm-dmirror\]' |
			     sed -u 's/^/# /' >&4))
	else
		plog="$HMM_CACHE/prepare-$kver.log"
		echo "# ==== linux $kver ($flavor) ===="
		work=$("$HMM_REPO/scripts/prepare.sh" "$kver" "$flavor" 2>"$plog")
	fi
	# shellcheck disable=SC2181
	if [ $? -ne 0 ] || [ ! -d "$work" ]; then
		sleep 1 # the tee above, if any, finishes the log
		sed 's/^/# /' "$plog" | tail -n 60
		echo "not ok 1 $kver: build"
		tf=$((tf + 1))
		continue
	fi
	label="$kver ($(cat "$work/release"))"
	boot check 2 "$work/sections" "$label" "$work/run" "$(tmo "$kver")"
	# The stress tests again on one vCPU (hmm_mode=up): 6.1 and 6.12
	# do not preempt in the kernel, 7.3 only lazily (base.config), so a
	# thread retrying in the kernel keeps the CPU from the one it waits
	# for. Not on the debug flavour (full preemption); HMM_CHECK_UP=0
	# leaves it out.
	if [ "$flavor" != debug ] && [ "${HMM_CHECK_UP:-1}" != 0 ]; then
		boot up 1 "$work/sections-up" "$label, 1 vCPU" \
			"$work/run-up" "$(tmo "$kver")"
	fi
done
if [ -n "$reports" ]; then
	echo "# ---- kernel reports, by the test that was running ----"
	printf '%s' "$reports"
fi
echo "$tp passed, $tf failed, $ts skipped"
[ "$tf" -eq 0 ]
