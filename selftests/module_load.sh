#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Module load/unload tests, run as root in the test VM (busybox sh).
# Environment:
#   HMM_KO       path of hmm_dmirror.ko
#   TEST_HMM_KO  path of the kernel's own test_hmm.ko (optional)
#   HMM_SPM0/1   physical bases of two reserved 256 MiB ranges
#   HMM_CYCLES   insert/remove cycles for the leak test (default 100)
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

# Expect insmod to fail and dmesg to explain why: $1 name, $2 dmesg pattern,
# rest: parameters. The device nodes must be as they were before.
expect_refused() {
	name=$1 pattern=$2
	shift 2
	before_nodes=$(nodes)
	dmesg -c >/dev/null
	if insmod "$HMM_KO" "$@" 2>/dev/null; then
		rmmod hmm_dmirror
		nok "$name (insmod succeeded)"
		return
	fi
	if loaded; then
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
echo "1..16"

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
expect_refused "one coherent window alone is refused" "given together" \
	spm_addr_dev0="$HMM_SPM0"
expect_refused "unaligned window is refused" "not aligned" \
	spm_addr_dev0=$((HMM_SPM0 + 4096)) spm_addr_dev1="$HMM_SPM1"
expect_refused "window in System RAM is refused" "System RAM" \
	spm_addr_dev0=0x8000000 spm_addr_dev1="$HMM_SPM1"
expect_refused "overlapping windows are refused" "overlap" \
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
		expect_refused "refused while test_hmm is loaded" "test_hmm"
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
	skip "rmmod with pages on the device" "dmirror_hold not built"
	skip "data kept after unload" "dmirror_hold not built"
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
# Each cycle uses a device (a migration to device memory and back, when
# hmmctl is there), and the device memory must be empty again afterwards.
use_device() {
	d=$1
	command -v hmmctl >/dev/null || return 0
	hmmctl migrate --dev "$d" --pages 16 >/dev/null || return 1
	[ "$(awk '$1 == "resident_pages" { print $2 }' \
		/sys/kernel/debug/hmm_dmirror/dev$d/stats)" = 0 ]
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

# 15-16: the same with device THPs (7.3) while no system THP can be had:
# the unload splits them where the child maps them and evicts base pages.
thp_param=/sys/module/hmm_dmirror/parameters/thp_migration
insmod "$HMM_KO" && large=$(cat $thp_param 2>/dev/null) && rmmod hmm_dmirror
nolarge="kernel lacks compound device-private migration"
if ! command -v dmirror_hold >/dev/null; then
	nok "rmmod with device THPs and no system THP (dmirror_hold missing)"
	nok "data kept after that unload (dmirror_hold missing)"
elif [ "$large" != Y ]; then
	skip "rmmod with device THPs and no system THP" "$nolarge"
	skip "data kept after that unload" "$nolarge"
else
	hold_unload 1024 thp
	check $? "rmmod with 2 device THPs, no system THP and no open file"
	grep -q intact /tmp/hold.out
	check $? "the process mapping them keeps its data after that unload"
fi

[ "$failed" -eq 0 ]
