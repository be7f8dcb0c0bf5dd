#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh: boot a test kernel (KVER, default the newest; FLAVOR; or KSRC, a
# developer's own source tree, built out of tree by scripts/ksrc.sh with
# KCONFIG and KCONFIG_EXTRA) with hmm_dmirror loaded. Without CMD: an
# interactive shell on this terminal ('exit' powers off; Ctrl-A X kills
# QEMU). With CMD='...': run it in the guest, print its output, name any
# kernel report (BUG, WARNING, ...) it caused, exit with its status.
# GDB=1: QEMU's gdb stub waits for a debugger before the kernel starts;
# the gdb command line, vmlinux and the module's load address are printed.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

flavor=${FLAVOR:-normal}
if [ -n "${KSRC:-}" ]; then
	kver=$(hmm_ksrc_spec "$KSRC")
	hmm_ksrc_check_inputs
else
	kver=${KVER:-$HMM_KVER_NEWEST}
fi
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
kdir=$(hmm_kernel_dir "$kver" "$flavor")

# gdb_help PORT: how to attach gdb, on stderr.
gdb_help() {
	local o="$kdir/linux" port=$1 iex=""
	[ -f "$o/vmlinux" ] || die "no vmlinux in $o"
	if [ -f "$o/vmlinux-gdb.py" ]; then
		iex="-iex 'add-auto-load-safe-path $o' "
	fi
	cat >&2 <<MSG
[hmm-dmirror] QEMU waits for gdb on 127.0.0.1:$port (KASLR off). In another terminal:

  gdb ${iex}$o/vmlinux -ex 'target remote 127.0.0.1:$port'

then 'continue'. The module is $work/hmm_dmirror.ko; once the guest has
loaded it (it prints "hmm_dmirror.ko .text 0x... .data 0x... .bss 0x..."):
MSG
	if [ -n "$iex" ]; then
		cat >&2 <<MSG
  (gdb) lx-symbols $work
(the tree's gdb helpers are loaded from $o/vmlinux-gdb.py), or without them:
MSG
	else
		cat >&2 <<MSG
(this kernel has no gdb helpers, lx-symbols and friends: they need
CONFIG_GDB_SCRIPTS and debug info, e.g. KCONFIG_EXTRA=$HMM_REPO/scripts/kconfig/gdb.config)
MSG
	fi
	cat >&2 <<MSG
  (gdb) add-symbol-file $work/hmm_dmirror.ko <.text> -s .data <.data> -s .bss <.bss>

MSG
}

gdb_port=""
if [ "${GDB:-0}" = 1 ]; then
	gdb_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	export HMM_GDB_PORT=$gdb_port
	gdb_help "$gdb_port"
fi

if [ -z "$cmdfile" ]; then
	exec "$HMM_REPO/scripts/vm.sh" shell "$work/bzImage" "$work/initrd.gz" \
		"$work/run"
fi
if [ -z "$gdb_port" ]; then
	"$HMM_REPO/scripts/vm.sh" cmd "$work/bzImage" "$work/initrd.gz" \
		"$work/run" "${HMM_VM_TIMEOUT:-900}"
	vrc=$?
else
	# Under gdb the guest stops for as long as the user wants: no time
	# limit. QEMU runs in the background while the load address is
	# looked for on the console, and goes with this script.
	"$HMM_REPO/scripts/vm.sh" cmd "$work/bzImage" "$work/initrd.gz" \
		"$work/run" "${HMM_VM_TIMEOUT:-0}" &
	vm=$!
	trap 'kill "$vm" 2>/dev/null; rm -f "$cmdfile"' EXIT
	while :; do
		alive=0
		kill -0 "$vm" 2>/dev/null && alive=1
		line=$(grep -ao '@@HMM module hmm_dmirror.ko .*' \
			"$work/run/console.log" 2>/dev/null | head -n 1 | tr -d '\r')
		if [ -n "$line" ]; then
			# shellcheck disable=SC2086
			set -- ${line#@@HMM module hmm_dmirror.ko }
			log "hmm_dmirror.ko is loaded: $*"
			log "  (gdb) add-symbol-file $work/hmm_dmirror.ko $2${4:+ -s $3 $4}${6:+ -s $5 $6}"
			break
		fi
		[ "$alive" = 1 ] || break
		sleep 1
	done
	wait "$vm"
	vrc=$?
fi
awk '/^@@HMM begin cmd/ { on = 1; next } /^@@HMM end cmd/ { on = 0 } on' \
	"$work/run/channel.log" | tr -d '\r'
# Kernel reports during the run, named, with a kept copy of the logs.
python3 "$HMM_REPO/scripts/tap.py" --console-only --kernel "$kver" \
	--console "$work/run/console.log" --channel "$work/run/channel.log" \
	--keep "$HMM_CACHE/logs/$(basename "$work")-$(date +%Y%m%d-%H%M%S)" >&2
rc=$(sed -n 's/^@@HMM end cmd rc=\([0-9]*\).*/\1/p' "$work/run/channel.log")
if [ -z "$rc" ]; then
	tail -n 40 "$work/run/console.log" >&2
	die "the guest did not finish the command (VM status $vrc)"
fi
[ "$rc" = 125 ] && die "hmm_dmirror.ko did not load; see $work/run/console.log"
exit "$rc"
