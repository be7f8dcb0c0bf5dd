#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# bench_guest.sh [--rounds N] [--big SIZE|none] [--devmem MIB]
#                [DMIRROR_BENCH_OPTIONS...]
#
# Runs in the test VM (busybox sh), started by scripts/bench through
# scripts/run.sh with CMD; hmm_dmirror.ko is loaded then. Each round
# benchmarks hmm_dmirror.ko, unloads it, loads the kernel's own
# test_hmm.ko, benchmarks it the same way and unloads it: the two are
# never loaded together. The CSV lines of every run go to stdout; lines
# starting with '#' are comments.
#
# A module's benchmark is one dmirror_bench run with the options given
# here (default sizes 512K..256M), then, unless --big none, the SIZE
# (default 1G) rows, in the first round only: the migration rows for 4 KiB
# pages, for THP, and the kernel memory run, each with 3 iterations on a
# freshly loaded module (so device memory that the module keeps after an
# earlier run does not count against the free memory). hmm_dmirror.ko is
# loaded with devmem_mib=MIB (default 1024) so that 1 GiB fits on one
# device.
#
# A migration of S bytes needs S of source, S of result buffer (the ABI
# copies the device's view back) and S of device storage; test_hmm also
# copies a whole MIGRATE_TO_DEV request through a kernel buffer as large
# as the request, hence its larger --need-factor. dmirror_bench skips a
# row (and says so) when MemAvailable is short of that.

. /etc/hmm.conf

rounds=1
big=1G
devmem=1024
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) rounds=$2; shift 2 ;;
	--big) big=$2; shift 2 ;;
	--devmem) devmem=$2; shift 2 ;;
	*) break ;;
	esac
done

# the page kind asked for (--pages), which the SIZE rows follow too
pages=both
prev=""
for a in "$@"; do
	[ "$prev" = --pages ] && pages=$a
	prev=$a
done

bench=/tests/dmirror_bench
status=0

say() {
	echo "# bench: $*"
}

meminfo() {
	grep "^$1:" /proc/meminfo | tr -s ' '
}

# load NAME: insmod hmm_dmirror or test_hmm and wait for the device node
# (devtmpfs creates it asynchronously).
load() {
	if [ "$1" = hmm_dmirror ]; then
		insmod "$HMM_KO" devmem_mib="$devmem" \
			spm_addr_dev0="$HMM_SPM0" spm_addr_dev1="$HMM_SPM1"
	else
		insmod "$TEST_HMM_KO"
	fi || { say "insmod $1 failed"; status=1; return 1; }
	n=0
	while [ ! -e /dev/hmm_dmirror0 ] && [ $n -lt 50 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	[ -e /dev/hmm_dmirror0 ] && return 0
	say "$1: no /dev/hmm_dmirror0"
	status=1
	rmmod "$1"
	return 1
}

unload() {
	rmmod "$1" || { say "rmmod $1 failed"; status=1; }
}

# run NAME DMIRROR_BENCH_OPTIONS...: one benchmark run on a loaded module.
run() {
	name=$1
	shift
	say "$name: dmirror_bench $* ($(meminfo MemAvailable), at $(date +%s))"
	"$bench" --module "$name" "$@" || {
		say "$name: dmirror_bench exited with status $?"
		status=1
	}
}

# module NAME EXTRA_OPTIONS: the whole benchmark of one module.
module() {
	name=$1
	extra=$2
	shift 2
	# shellcheck disable=SC2086
	load "$name" && { run "$name" $extra "$@"; unload "$name"; }
	[ "$big" = none ] || [ "$r" -gt 1 ] && return
	for what in "--pages 4k --tests memcpy,migrate" \
		    "--pages thp --tests memcpy,migrate" \
		    "--tests kmem --kmem-sizes $big"; do
		case " $what " in
		*" --pages 4k "*) [ "$pages" = thp ] && continue ;;
		*" --pages thp "*) [ "$pages" = 4k ] && continue ;;
		esac
		load "$name" || return
		# shellcheck disable=SC2086
		run "$name" $extra "$@" --iters 3 --sizes "$big" $what
		unload "$name"
	done
}

say "kernel $(uname -r), $(nproc) cpus, $(meminfo MemTotal)"
say "thp $(cat /sys/kernel/mm/transparent_hugepage/enabled)"
rmmod hmm_dmirror 2>/dev/null

r=1
while [ "$r" -le "$rounds" ]; do
	say "round $r of $rounds"
	module hmm_dmirror "" "$@"
	if [ -f "$TEST_HMM_KO" ]; then
		module test_hmm "--need-factor 4" "$@"
	else
		say "no $TEST_HMM_KO in this initramfs: test_hmm skipped"
	fi
	r=$((r + 1))
done
exit $status
