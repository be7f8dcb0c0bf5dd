#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh: boot a test kernel (KVER, default the newest; FLAVOR) with
# hmm_dmirror loaded. Without CMD: an interactive shell on this terminal
# ('exit' powers off; Ctrl-A X kills QEMU). With CMD='...': run it in the
# guest, print its output, exit with its status.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

kver=${KVER:-$HMM_KVER_NEWEST}
flavor=${FLAVOR:-normal}
hmm_check_kver "$kver"
"$HMM_REPO/scripts/deps.sh" || die "installing dependencies failed"

cmdfile=""
if [ -n "${CMD:-}" ]; then
	cmdfile=$(mktemp)
	trap 'rm -f "$cmdfile"' EXIT
	printf '%s\n' "$CMD" >"$cmdfile"
fi
work=$("$HMM_REPO/scripts/prepare.sh" "$kver" "$flavor" "$cmdfile") ||
	die "preparing the $kver test kernel failed"

if [ -z "$cmdfile" ]; then
	exec "$HMM_REPO/scripts/vm.sh" shell "$work/bzImage" "$work/initrd.gz" \
		"$work/run"
fi
"$HMM_REPO/scripts/vm.sh" cmd "$work/bzImage" "$work/initrd.gz" "$work/run" \
	"${HMM_VM_TIMEOUT:-900}"
vrc=$?
awk '/^@@HMM begin cmd/ { on = 1; next } /^@@HMM end cmd/ { on = 0 } on' \
	"$work/run/channel.log" | tr -d '\r'
rc=$(sed -n 's/^@@HMM end cmd rc=\([0-9]*\).*/\1/p' "$work/run/channel.log")
if [ -z "$rc" ]; then
	tail -n 40 "$work/run/console.log" >&2
	die "the guest did not finish the command (VM status $vrc)"
fi
[ "$rc" = 125 ] && die "hmm_dmirror.ko did not load; see $work/run/console.log"
exit "$rc"
