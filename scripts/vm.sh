#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vm.sh MODE BZIMAGE INITRD OUTDIR [TIMEOUT]
#
# Boots the test VM under QEMU TCG (KVM here cannot boot our kernels).
# MODE is check, cmd or shell (see scripts/guest/init). The kernel console
# (ttyS0) goes to OUTDIR/console.log, the results channel (ttyS1) to
# OUTDIR/channel.log; in shell mode ttyS0 is the terminal instead.
# HMM_VM_CPUS sets the number of vCPUs (default 2).
# Exit status: QEMU's, or 124 when TIMEOUT seconds (default 900; 0: none)
# passed. With HMM_GDB_PORT set, QEMU's gdb stub listens on that port of
# 127.0.0.1 and the guest waits for gdb's "continue" (KASLR off, so that
# vmlinux's addresses hold).
set -uo pipefail
. "$(dirname "$0")/lib.sh"

mode=${1:?} bzimage=${2:?} initrd=${3:?} out=${4:?} tmo=${5:-900}
mkdir -p "$out"
: >"$out/console.log"
: >"$out/channel.log"

# printk.devkmsg=on: the guest's marks in the kernel log (scripts/guest/init)
# are never rate limited away.
append="console=ttyS0 panic=-1 oops=panic printk.time=1 printk.devkmsg=on"
append="$append hmm_mode=$mode"
append="$append memmap=256M\$$HMM_SPM0 memmap=256M\$$HMM_SPM1"
gdb=()
if [ -n "${HMM_GDB_PORT:-}" ]; then
	append="$append nokaslr"
	gdb=(-gdb "tcp:127.0.0.1:$HMM_GDB_PORT" -S)
fi
# Two NUMA nodes of 2 GiB (the coherent windows lie in node 1). With
# HMM_VM_CPUS=1 (the uniprocessor run of scripts/check.sh) node 1 has
# memory but no CPU. Each vCPU is a socket of its own: cores of one socket
# share a cache, and the kernel warns when they sit in different nodes.
cpus=${HMM_VM_CPUS:-2}
numa=(-object memory-backend-ram,id=m0,size=2G
      -object memory-backend-ram,id=m1,size=2G
      -numa node,nodeid=0,cpus=0,memdev=m0)
if [ "$cpus" -gt 1 ]; then
	numa+=(-numa "node,nodeid=1,cpus=1-$((cpus - 1)),memdev=m1")
else
	numa+=(-numa node,nodeid=1,memdev=m1)
fi
qemu=(qemu-system-x86_64 -accel tcg,thread=multi -cpu max -m 4G
      -smp "$cpus,sockets=$cpus,cores=1,threads=1" "${numa[@]}" -nodefaults -no-reboot -display none "${gdb[@]}"
      -kernel "$bzimage" -initrd "$initrd" -append "$append")

if [ "$mode" = shell ]; then
	exec "${qemu[@]}" -serial mon:stdio -serial null
fi
timeout --foreground -k 10 "$tmo" "${qemu[@]}" \
	-serial "file:$out/console.log" -serial "file:$out/channel.log" \
	</dev/null
