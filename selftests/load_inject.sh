#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Module load with each of its steps failing (module parameter fail_load,
# module/inject.c), run as root in the test VM with the module unloaded.
# Environment: HMM_KO (hmm_dmirror.ko), HMM_SPM0/1 (the coherent windows),
# HMM_CYCLES (failed loads in a row for the leak check, default 100).
# dmirror_insmod on PATH. Output: TAP. Exit status 0 when every test passed.

: "${HMM_KO:?}"
cycles=${HMM_CYCLES:-100}
ENOMEM=12
EINVAL=22
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n $1"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n $1"; }
skip() { n=$((n + 1)); echo "ok $n $1 # SKIP $2"; }
check() { if [ "$1" -eq 0 ]; then ok "$2"; else nok "$2"; fi; }

loaded() { grep -q '^hmm_dmirror ' /proc/modules; }
nodes() { ls /dev/hmm_dmirror* 2>/dev/null | tr '\n' ' '; }
# Load with step $1 forced to fail (0: none). Sets rc.
load_failing() {
	dmirror_insmod "$HMM_KO" spm_addr_dev0="$HMM_SPM0" \
		spm_addr_dev1="$HMM_SPM1" fail_load="$1,100,0,1" >/tmp/li.out 2>&1
	rc=$?
}
# Nothing of a refused load may remain: module, nodes, debugfs.
nothing_left() {
	! loaded && [ -z "$(nodes)" ] && ! [ -e /sys/kernel/debug/hmm_dmirror ]
}

if loaded; then
	nok "the module is not loaded before this script"
	rmmod hmm_dmirror
fi
command -v dmirror_insmod >/dev/null || { nok "dmirror_insmod missing"; exit 1; }

# 1: a kernel without fault injection builds no fail_load parameter.
dmesg -c >/dev/null
dmirror_insmod "$HMM_KO" fail_load=garbage >/tmp/li.out 2>&1
rc=$?
if [ $rc -eq 0 ]; then
	rmmod hmm_dmirror
	nok "fail_load=garbage is refused"
elif [ $rc -eq 2 ] || dmesg | grep -q "Unknown parameter .fail_load."; then
	skip "fail_load=garbage is refused" \
		"kernel lacks CONFIG_FAULT_INJECTION_DEBUG_FS"
	echo "1..$n"
	exit 0
else
	[ $rc -eq $EINVAL ] && dmesg | grep -q "hmm_dmirror: fail_load=garbage: want" &&
		nothing_left
	check $? "fail_load=garbage is refused with -EINVAL and a message (errno $rc)"
fi

# 2..: step k fails, for k = 1, 2, ... until the load succeeds; each
# refusal is -ENOMEM, names its step, and leaves nothing.
k=1
steps=""
bad=0
while [ $k -le 64 ]; do
	dmesg -c >/dev/null
	load_failing $k
	[ $rc -eq 0 ] && break
	step=$(dmesg | head -n 50 |
		sed -n 's/.*hmm_dmirror: load step \(.*\): injected.*/\1/p')
	if [ $rc -ne $ENOMEM ] || [ -z "$step" ] || ! nothing_left; then
		echo "# step $k: errno $rc, step '$step', nodes '$(nodes)'"
		dmesg | sed 's/^/# /'
		bad=1
		loaded && rmmod hmm_dmirror
	fi
	steps="$steps $k:$step"
	k=$((k + 1))
done
nsteps=$((k - 1))
echo "# steps:$steps"
if [ $rc -eq 0 ]; then
	[ -n "$(nodes)" ] && rmmod hmm_dmirror && ! loaded
	check $? "after $nsteps failing steps, fail_load=$k loads and unloads"
else
	nok "no load succeeded up to step 64"
fi
# Three module-wide steps and four per device (two or four devices).
[ $bad -eq 0 ] && [ $nsteps -ge 11 ]
check $? "each of the $nsteps load steps fails with -ENOMEM, named, leaving nothing"

# Then: $cycles failing loads in a row, over every step; what the kernel
# allocates for a module (slab, vmalloc, percpu) comes back. MemAvailable
# moves by +-15 MiB between rounds of loads here, whether they fail or
# not; these three move by less than 100 KiB. Slab counts the dentries
# and inodes of debugfs too (6.1 kept one of each per fault_attr
# directory until the module dropped them: module/compat.h).
kmem() {
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
	awk '/^(Slab|VmallocUsed|Percpu):/ { s += $2 } END { print s }' \
		/proc/meminfo
}
run_failing() {
	i=0
	while [ $i -lt "$1" ]; do
		load_failing $((i % nsteps + 1))
		if [ $rc -ne $ENOMEM ] || ! nothing_left; then
			echo "# load $i (step $((i % nsteps + 1))): errno $rc"
			loaded && rmmod hmm_dmirror
			return 1
		fi
		i=$((i + 1))
	done
}
if [ $nsteps -ge 1 ]; then
	run_failing 10
	before=$(kmem)
	run_failing "$cycles"
	res=$?
	after=$(kmem)
	check $res "$cycles failing loads in a row, every step in turn"
	grow=$((after - before))
	echo "# slab + vmalloc + percpu before ${before} KiB, after ${after} KiB"
	if [ -e /sys/kernel/debug/kmemleak ]; then
		skip "no kernel memory growth over $cycles failing loads (grew ${grow} KiB)" \
			"debug kernel: freed memory is quarantined; kmemleak checks leaks"
	else
		# 5 KiB a load: the 6.1 dentry leak above was 8 KiB a load.
		what="no kernel memory growth over $cycles failing loads"
		[ "$grow" -lt 512 ]
		check $? "$what (grew ${grow} KiB, limit 512 KiB)"
	fi
fi

echo "1..$n"
[ "$failed" -eq 0 ]
