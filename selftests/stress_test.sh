#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Bounded stress and fuzz runs of hmm_dmirror, as root in the test VM
# (busybox sh) with hmm_dmirror loaded (with both coherent windows, or the
# coherent run is skipped; with them, a coherent device that fails is a
# failure). Each program prints its own TAP and its seed;
# here each run is one test, its output kept as "# " lines.
# Environment:
#   STRESS_SECONDS  duration of each stress run (default 20)
#   FUZZ_SECONDS    duration of the fuzz run (default 10)
#   STRESS_ARGS     more dmirror_stress options (e.g. -s SEED)
#   FIFO_PRIO       lowest SCHED_FIFO priority of the real-time run
#                   (default 10; its threads at 10, 11, 12, watchdogs 13)
#   FUZZ_ARGS       more dmirror_fuzz options (e.g. -s SEED)
#   INJECT_PCT      percentage of the fault-injection runs (-I; default 2)
#   PEER_SECONDS    duration of the coherent peer-group run (--peer;
#                   default a quarter of STRESS_SECONDS, at least 5)
# Options:
#   --peer  hmm_dmirror was loaded with peer_group=1: run only the stress
#           of the peer groups (dmirror_stress -P): the device-private pair
#           for STRESS_SECONDS, then, when the module has coherent devices,
#           the coherent pair for PEER_SECONDS; and exit. A module without
#           the group fails (dmirror_stress -P says why).
# Output: TAP. Exit status 0 when every run passed.

here=$(cd "$(dirname "$0")" && pwd)
stress_s=${STRESS_SECONDS:-20}
fuzz_s=${FUZZ_SECONDS:-10}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
n=0
failed=0

inject_pct=${INJECT_PCT:-2}

# run NAME SECONDS COMMAND...: one test; a run is given 150 s beyond its
# duration before it is killed (it reports a stuck ioctl itself sooner).
# Exit status 4 is a SKIP, for the reason the program printed.
run() {
	name=$1 secs=$2
	shift 2
	n=$((n + 1))
	timeout -s KILL $((secs + 150)) "$@" >"$out" 2>&1
	rc=$?
	sed 's/^/# /' "$out"
	if [ "$rc" -eq 0 ]; then
		echo "ok $n $name"
	elif [ "$rc" -eq 4 ]; then
		why=$(sed -n 's/^1\.\.0 # SKIP //p' "$out" | head -n 1)
		echo "ok $n $name # SKIP ${why:-skipped}"
	else
		failed=$((failed + 1))
		echo "not ok $n $name (exit status $rc)"
	fi
}

# Every fault-injection point off, should a -I run have been killed
# before it could turn them off itself.
inject_off() {
	for f in /sys/kernel/debug/hmm_dmirror/fail_*/probability; do
		[ -w "$f" ] && echo 0 >"$f"
	done
}

# The module makes the coherent devices exactly when it was loaded with
# both windows (the test VM always does); then they must be there.
spm0=$(cat /sys/module/hmm_dmirror/parameters/spm_addr_dev0 2>/dev/null)

if [ "$1" = "--peer" ]; then
	peer_s=${PEER_SECONDS:-$((stress_s / 4))}
	[ "$peer_s" -lt 5 ] && peer_s=5
	echo "TAP version 13"
	echo "1..2"
	# shellcheck disable=SC2086
	run "stress, device-private peer group (dev0, dev1)" "$stress_s" \
		"$here/dmirror_stress" -P -d "$stress_s" -D 0 $STRESS_ARGS
	if [ -n "$spm0" ] && [ "$spm0" != 0 ]; then
		# shellcheck disable=SC2086
		run "stress, device-coherent peer group (dev2, dev3)" \
			"$peer_s" "$here/dmirror_stress" -P -d "$peer_s" -D 2 \
			$STRESS_ARGS
	elif [ -z "$spm0" ]; then
		n=$((n + 1))
		failed=$((failed + 1))
		why="cannot read the module parameter spm_addr_dev0"
		echo "not ok $n stress, device-coherent peer group: $why"
	else
		n=$((n + 1))
		why="hmm_dmirror was loaded without coherent windows (spm_addr_dev0=0)"
		echo "ok $n stress, device-coherent peer group # SKIP $why"
	fi
	[ "$failed" -eq 0 ]
	exit
elif [ $# -gt 0 ]; then
	echo "usage: $0 [--peer]" >&2
	exit 2
fi

echo "TAP version 13"
echo "1..6"
# shellcheck disable=SC2086
run "stress, device-private (dev0, dev1)" "$stress_s" \
	"$here/dmirror_stress" -d "$stress_s" -D 0 $STRESS_ARGS
# The same at real-time priority: threads racing device faults, CPU
# faults and migrations, each above the last (dmirror_stress -F). With one
# CPU (scripts/check.sh runs this script in a one-vCPU guest too), a
# thread that retries in the kernel for one below it never lets it run.
# shellcheck disable=SC2086
run "stress, device-private, SCHED_FIFO (dev0, dev1; $(nproc) CPU)" \
	"$stress_s" "$here/dmirror_stress" -d "$stress_s" -D 0 \
	-F "${FIFO_PRIO:-10}" $STRESS_ARGS
if [ -n "$spm0" ] && [ "$spm0" != 0 ]; then
	# shellcheck disable=SC2086
	run "stress, device-coherent (dev2, dev3)" "$stress_s" \
		"$here/dmirror_stress" -d "$stress_s" -D 2 $STRESS_ARGS
elif [ -z "$spm0" ]; then
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n stress, device-coherent: cannot read the module parameter spm_addr_dev0"
else
	n=$((n + 1))
	why="hmm_dmirror was loaded without coherent windows (spm_addr_dev0=0)"
	echo "ok $n stress, device-coherent # SKIP $why"
fi
# shellcheck disable=SC2086
run "fuzz" "$fuzz_s" "$here/dmirror_fuzz" -d "$fuzz_s" $FUZZ_ARGS
# The module's fault injection (kernels with CONFIG_FAULT_INJECTION_DEBUG_FS,
# else a SKIP): allocations, pins and migrate_vma_setup() fail now and
# then in the workers; every byte must still hold.
# shellcheck disable=SC2086
run "stress, device-private, fault injection -I $inject_pct (dev0, dev1)" \
	"$stress_s" "$here/dmirror_stress" -d "$stress_s" -D 0 \
	-I "$inject_pct" $STRESS_ARGS
inject_off
# shellcheck disable=SC2086
run "fuzz, fault injection -I $inject_pct" "$fuzz_s" "$here/dmirror_fuzz" \
	-d "$fuzz_s" -I "$inject_pct" $FUZZ_ARGS
inject_off
[ "$failed" -eq 0 ]
