#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Module load/unload tests, run as root in the test VM (busybox sh).
# Environment:
#   HMM_KO       path of hmm_dmirror.ko
#   TEST_HMM_KO  path of the kernel's own test_hmm.ko (optional)
#   HMM_SPM0/1   physical bases of two reserved 256 MiB ranges
#   HMM_CYCLES   insert/remove cycles for the leak test (default 100)
# Beside this script: thp_migration.expected, Y or N, what thp_migration
# must read at a default load (scripts/prepare.sh derives it from the test
# kernel's tree); dmirror_insmod, dmirror_hold and hmmctl on PATH.
# Output: TAP. Exit status 0 when every test passed.

: "${HMM_KO:?}"
cycles=${HMM_CYCLES:-100}
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n $1"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n $1"; }
skip() { n=$((n + 1)); echo "ok $n $1 # SKIP $2"; }
check() { if [ "$1" -eq 0 ]; then ok "$2"; else nok "$2"; fi; }

loaded() { grep -q '^hmm_dmirror ' /proc/modules; }
unload() { loaded && rmmod hmm_dmirror; }

# Expect the load to fail with an errno and dmesg to explain why: $1 name,
# $2 the errno (22 EINVAL, 16 EBUSY), $3 dmesg pattern, rest: parameters.
# The device nodes must be as they were before.
expect_refused() {
	name=$1 want=$2 pattern=$3
	shift 3
	before_nodes=$(nodes)
	dmesg -c >/dev/null
	if ! command -v dmirror_insmod >/dev/null; then
		nok "$name (dmirror_insmod missing)"
		return
	fi
	dmirror_insmod "$HMM_KO" "$@" >/tmp/insmod.out 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		rmmod hmm_dmirror
		nok "$name (the module loaded)"
		return
	fi
	if [ $rc -ne "$want" ]; then
		sed 's/^/# /' /tmp/insmod.out
		nok "$name (errno $rc, expected $want)"
	elif loaded; then
		nok "$name (module left loaded)"
	elif [ "$(nodes)" != "$before_nodes" ]; then
		nok "$name (device nodes changed: $(nodes))"
	elif ! dmesg | grep -q "hmm_dmirror: .*$pattern"; then
		nok "$name (no dmesg message matching '$pattern')"
		dmesg | sed 's/^/# /'
	else
		ok "$name"
	fi
}

nodes() { ls /dev/hmm_dmirror* 2>/dev/null | tr '\n' ' '; }

echo "TAP version 13"
echo "1..25"

unload

# 1-2: the node set follows the parameters.
insmod "$HMM_KO"
check $? "load without coherent windows"
[ "$(nodes)" = "/dev/hmm_dmirror0 /dev/hmm_dmirror1 " ]
check $? "only nodes 0 and 1 without coherent windows (got: $(nodes))"
unload

# 3-4: with both windows all four appear, and unload removes them.
insmod "$HMM_KO" spm_addr_dev0="$HMM_SPM0" spm_addr_dev1="$HMM_SPM1" &&
	[ "$(nodes)" = "/dev/hmm_dmirror0 /dev/hmm_dmirror1 /dev/hmm_dmirror2 /dev/hmm_dmirror3 " ]
check $? "nodes 0-3 with coherent windows (got: $(nodes))"
rmmod hmm_dmirror && [ -z "$(nodes)" ]
check $? "rmmod removes every node"

# 5-8: bad parameters are refused with a message and leave nothing behind.
EINVAL=22 EBUSY=16
expect_refused "one coherent window alone is refused" $EINVAL \
	"given together" spm_addr_dev0="$HMM_SPM0"
expect_refused "unaligned window is refused" $EINVAL "not aligned" \
	spm_addr_dev0=$((HMM_SPM0 + 4096)) spm_addr_dev1="$HMM_SPM1"
expect_refused "window in System RAM is refused" $EINVAL "System RAM" \
	spm_addr_dev0=0x8000000 spm_addr_dev1="$HMM_SPM1"
expect_refused "overlapping windows are refused" $EINVAL "overlap" \
	spm_addr_dev0="$HMM_SPM0" spm_addr_dev1="$HMM_SPM0"

# The kernel's own test_hmm never drops its device references on unload
# (6.1-7.3): their names and device_add() data leak. On a kmemleak kernel,
# let kmemleak report those now and mark them seen, so that the scan after
# the suite reports only what is left by hmm_dmirror.
forget_test_hmm_leaks() {
	kml=/sys/kernel/debug/kmemleak
	[ -w $kml ] || return 0
	# Reported only when 5 s old and unchanged over two scans.
	sleep 6
	echo scan >$kml
	echo scan >$kml
	echo clear >$kml
}

# 9: refuse to load beside the kernel's own test module.
if [ -n "${TEST_HMM_KO:-}" ] && [ -f "$TEST_HMM_KO" ]; then
	if insmod "$TEST_HMM_KO"; then
		expect_refused "refused while test_hmm is loaded" $EBUSY \
			"test_hmm"
		rmmod test_hmm
		forget_test_hmm_leaks
	else
		nok "refused while test_hmm is loaded (test_hmm did not load)"
	fi
else
	skip "refused while test_hmm is loaded" "test_hmm.ko not available"
fi

# 10-11: unload with pages on the device that no open file owns: the
# unload evicts them and the process that maps them keeps its data.
# hold_unload NPAGES [thp]: with "thp", THPs while no system THP can be had.
hold_unload() {
	npages=${1:-64}
	insmod "$HMM_KO" || return 1
	rm -f /tmp/hold.in /tmp/hold.out
	mkfifo /tmp/hold.in
	dmirror_hold "$npages" ${2:-} </tmp/hold.in >/tmp/hold.out &
	exec 8>/tmp/hold.in
	i=0
	while ! grep -q ready /tmp/hold.out 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	resident=$(awk '$1 == "resident_pages" { print $2 }' \
		/sys/kernel/debug/hmm_dmirror/dev0/stats)
	echo "# resident pages before unload: $resident"
	[ -z "${2:-}" ] || echo 1 >/sys/kernel/debug/hmm_dmirror/fail_sys_thp
	rmmod hmm_dmirror
	rc=$?
	echo go >&8
	exec 8>&-
	i=0
	while ! grep -q 'intact\|corrupt' /tmp/hold.out && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	sed 's/^/# /' /tmp/hold.out
	[ "$resident" = "$npages" ] && [ $rc -eq 0 ]
}
if command -v dmirror_hold >/dev/null; then
	hold_unload
	check $? "rmmod with 64 pages on the device and no open file"
	grep -q intact /tmp/hold.out
	check $? "the process mapping them keeps its data after unload"
else
	nok "rmmod with pages on the device (dmirror_hold missing)"
	nok "data kept after unload (dmirror_hold missing)"
fi

# 12: rmmod is refused while a file is open, and works after the close.
busy_unload() {
	insmod "$HMM_KO" || return 1
	exec 7<>/dev/hmm_dmirror0
	if rmmod hmm_dmirror 2>/dev/null; then
		exec 7>&-
		echo "# rmmod succeeded with a file open"
		return 1
	fi
	loaded || return 1
	exec 7>&-
	rmmod hmm_dmirror
}
busy_unload
check $? "rmmod refused while a file is open, accepted after close"

# 13-14: insert/open/remove many times; memory must come back.
mem_used() {
	awk '/^MemTotal:/ { t = $2 } /^MemAvailable:/ { a = $2 }
	     END { print t - a }' /proc/meminfo
}
# dev_stat DEV NAME: counter NAME of device DEV.
dev_stat() {
	awk -v n="$2" '$1 == n { print $2 }' \
		/sys/kernel/debug/hmm_dmirror/dev"$1"/stats
}
# Each cycle migrates 16 pages to one device and back (hmmctl migrate:
# the CPU faults them back, or the exit evicts them from a coherent
# device). Then no device holds a page, and only that device counted the
# migration (every load starts the counters at 0).
use_device() {
	d=$1
	command -v hmmctl >/dev/null || { echo "# hmmctl missing"; return 1; }
	hmmctl migrate --dev "$d" --pages 16 >/dev/null || return 1
	for e in 0 1 2 3; do
		want=0
		[ "$e" = "$d" ] && want=16
		r=$(dev_stat "$e" resident_pages)
		m=$(dev_stat "$e" migrated_to_dev)
		if [ "$r" != 0 ] || [ "$m" != "$want" ]; then
			echo "# device $e: resident_pages '$r' (want 0)," \
				"migrated_to_dev '$m' (want $want)"
			return 1
		fi
	done
}
# run_cycles N: N insert/use/remove cycles; sets done and bad.
run_cycles() {
	done=0
	while [ "$done" -lt "$1" ]; do
		insmod "$HMM_KO" spm_addr_dev0="$HMM_SPM0" spm_addr_dev1="$HMM_SPM1" || bad=1
		for d in 0 1 2 3; do
			: <>/dev/hmm_dmirror$d || bad=1
		done
		use_device $((done % 4)) ||
			{ bad=1; echo "# cycle $done: device $((done % 4)) use failed"; }
		rmmod hmm_dmirror || bad=1
		[ "$bad" -eq 0 ] || return
		done=$((done + 1))
	done
}
# Memory in use after the caches are dropped.
settled() {
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
	mem_used
}
bad=0
# The first cycles allocate what the kernel keeps once made (slab pages,
# tracefs and module-loader structures): measure after them.
warm=10
run_cycles $warm
before=$(settled)
[ "$bad" -eq 0 ] && run_cycles "$cycles"
check "$bad" "$cycles insert/use/remove cycles after $warm more (done: $done)"
after=$(settled)
grow=$((after - before))
echo "# memory in use before ${before} KiB, after ${after} KiB"
if [ -e /sys/kernel/debug/kmemleak ]; then
	# Debug kernels keep freed memory in KASAN's quarantine.
	skip "no memory growth over $cycles cycles (grew ${grow} KiB)" \
		"debug kernel: freed memory is quarantined; kmemleak checks leaks"
else
	# A coarse guard: MemAvailable moves by a few MiB either way after
	# the stress test (lazy frees; once by 17 MiB), so only a leak of
	# more than 80 KiB a cycle (a device chunk's storage, its bitmaps, a
	# mirror) counts, and it must show in a second round too: a leak
	# grows again, noise does not. The debug flavour's kmemleak scan is
	# the precise check.
	if [ "$grow" -ge 8192 ] && [ "$bad" -eq 0 ]; then
		echo "# grew ${grow} KiB: a second round of $cycles cycles"
		before=$after
		run_cycles "$cycles"
		after=$(settled)
		echo "# second round: before ${before} KiB, after ${after} KiB"
		grow=$((after - before))
	fi
	[ "$grow" -lt 8192 ]
	check $? "no memory growth over $cycles cycles (grew ${grow} KiB, limit 8 MiB)"
fi

# 15: thp_migration reads at a default load what the test kernel's tree
# says (scripts/prepare.sh derives it from the tree's headers and .config,
# not from the module), so that the THP tests cannot take a module that
# wrongly reads N for a kernel without large device folios.
thp_param=/sys/module/hmm_dmirror/parameters/thp_migration
thp_file=$(dirname "$0")/thp_migration.expected
thp_expect=$(cat "$thp_file" 2>/dev/null)
large=
insmod "$HMM_KO" && large=$(cat $thp_param 2>/dev/null) && rmmod hmm_dmirror
unload
case $thp_expect in
Y | N)
	[ "$large" = "$thp_expect" ]
	check $? "thp_migration reads $thp_expect as the kernel tree says (got: '$large')"
	;;
*)
	why="$thp_file is missing or not Y/N (scripts/prepare.sh writes it)"
	nok "thp_migration as the kernel tree says: $why"
	;;
esac

# 16-17: the same as 10-11 with device THPs (7.3) while no system THP can
# be had: the unload splits them where the child maps them and evicts
# base pages.
nolarge="kernel lacks compound device-private migration"
if ! command -v dmirror_hold >/dev/null; then
	nok "rmmod with device THPs and no system THP (dmirror_hold missing)"
	nok "data kept after that unload (dmirror_hold missing)"
elif [ "$large" = Y ]; then
	hold_unload 1024 thp
	check $? "rmmod with 2 device THPs, no system THP and no open file"
	grep -q intact /tmp/hold.out
	check $? "the process mapping them keeps its data after that unload"
elif [ "$thp_expect" = N ]; then
	skip "rmmod with device THPs and no system THP" "$nolarge"
	skip "data kept after that unload" "$nolarge"
else
	nok "rmmod with device THPs and no system THP (thp_migration reads '$large')"
	nok "data kept after that unload (thp_migration reads '$large')"
fi

# 18-22: bad device memory sizes (module/chunk.c) are refused with
# -EINVAL and a message, leaving no node: devmem_mib must be a non-zero
# multiple of chunk_mib of at most 64 chunks; chunk_mib a power of two of
# at least 2 (one 2 MiB block).
expect_refused "devmem_mib=0 is refused" $EINVAL \
	"devmem_mib=0 must be a non-zero multiple of chunk_mib=64" \
	devmem_mib=0
expect_refused "devmem_mib not a multiple of chunk_mib is refused" $EINVAL \
	"devmem_mib=96 must be a non-zero multiple of chunk_mib=64" \
	devmem_mib=96
expect_refused "devmem_mib of 65 chunks is refused" $EINVAL \
	"devmem_mib=130 must be .*chunk_mib=2, at most 64 chunks" \
	chunk_mib=2 devmem_mib=130
expect_refused "chunk_mib not a power of two is refused" $EINVAL \
	"chunk_mib=48 must be a power of two of at least 2" \
	chunk_mib=48 devmem_mib=96
expect_refused "chunk_mib=1 (below one 2 MiB block) is refused" $EINVAL \
	"chunk_mib=1 must be a power of two of at least 2" \
	chunk_mib=1 devmem_mib=64

# 23: the limits themselves load: 64 chunks of 2 MiB, and a device of
# that size takes 64 chunks' worth of pages.
limits_load() {
	dmirror_insmod "$HMM_KO" chunk_mib=2 devmem_mib=128 || return 1
	p=/sys/module/hmm_dmirror/parameters
	echo "# chunk_mib $(cat $p/chunk_mib), devmem_mib $(cat $p/devmem_mib), nodes: $(nodes)"
	[ "$(cat $p/chunk_mib)" = 2 ] && [ "$(cat $p/devmem_mib)" = 128 ] &&
		[ "$(nodes)" = "/dev/hmm_dmirror0 /dev/hmm_dmirror1 " ] &&
		hmmctl migrate --dev 0 --pages 32768 >/dev/null &&
		[ "$(dev_stat 0 chunks)" = 64 ] &&
		[ "$(dev_stat 0 evicted_pages)" = 0 ] &&
		rmmod hmm_dmirror
}
limits_load
rc=$?
unload
check $rc "chunk_mib=2 devmem_mib=128 (64 chunks) loads and holds 128 MiB"

# 24-25: thp_migration=0 at load reads N (as it does anyway where the
# kernel lacks large device folios), and a THP (snapshot byte 6 = WRITE |
# PMD) then migrates as 512 base device pages (34 = DEV_PRIVATE_LOCAL |
# WRITE, without HMM_DMIRROR_PROT_PMD).
thp_off() {
	insmod "$HMM_KO" thp_migration=0 || return 1
	off=$(cat $thp_param 2>/dev/null)
	echo "# thp_migration=0 at load reads '$off'"
	[ "$off" = N ]
}
thp_off
check $? "thp_migration=0 at load reads N"
if ! [ -e /sys/kernel/mm/transparent_hugepage/enabled ]; then
	skip "thp_migration=0: a THP migrates as base pages" \
		"kernel lacks transparent huge pages"
elif ! command -v hmmctl >/dev/null; then
	nok "thp_migration=0: a THP migrates as base pages (hmmctl missing)"
else
	hmmctl snapshot --thp --layout 512S --json >/tmp/thp_src.json
	src=$?
	hmmctl snapshot --thp --layout 512D --json >/tmp/thp_dev.json
	dev=$?
	sed -n 's/.*"runs":\(\[[^]]*\]\).*/# source: \1/p' /tmp/thp_src.json
	sed -n 's/.*"runs":\(\[[^]]*\]\).*/# on the device: \1/p' /tmp/thp_dev.json
	[ $src -eq 0 ] && [ $dev -eq 0 ] &&
		grep -q '"runs":\[{"char":"H","byte":6,"count":512}\]' /tmp/thp_src.json &&
		grep -q '"runs":\[{"char":"D","byte":34,"count":512}\]' /tmp/thp_dev.json
	check $? "thp_migration=0: a THP migrates as 512 base device pages"
fi
unload

[ "$failed" -eq 0 ]
