#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The module's tracepoints (events/hmm_dmirror in tracefs), run as root in
# the test VM (busybox sh) with hmm_dmirror loaded: each event exists and
# fires, with the fields a user watches, when hmmctl drives the device.
# Environment:
#   HMMCTL   the hmmctl binary (default: next to this script)
# Output: TAP. Exit status 0 when every test passed.

here=$(cd "$(dirname "$0")" && pwd)
hmmctl=${HMMCTL:-$here/hmmctl}
tr=/sys/kernel/tracing
events="dmirror_migrate dmirror_device_fault dmirror_invalidate dmirror_evict"
events="$events dmirror_peer_access"
n=0
failed=0

ntests=16
echo "TAP version 13"
echo "1..$ntests"

# Skip only when the kernel itself has no tracefs (it was built without
# CONFIG_TRACING; the test kernels enable FTRACE): the kernel says so in
# /proc/filesystems. A tracefs that exists but cannot be used is a failure.
if ! grep -qw tracefs /proc/filesystems; then
	why="the kernel has no tracefs (built without CONFIG_TRACING)"
	i=1
	while [ $i -le $ntests ]; do
		echo "ok $i tracepoints # SKIP $why"
		i=$((i + 1))
	done
	exit 0
fi
[ -e $tr/trace ] || mount -t tracefs nodev $tr
if [ ! -e $tr/trace ]; then
	i=1
	while [ $i -le $ntests ]; do
		echo "not ok $i tracepoints: tracefs is registered but cannot be mounted at $tr"
		i=$((i + 1))
	done
	exit 1
fi

ok() { n=$((n + 1)); echo "ok $n $1"; }
nok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n $1"
}

missing=""
for e in $events; do
	[ -d "$tr/events/hmm_dmirror/$e" ] || missing="$missing $e"
done
if [ -z "$missing" ]; then
	ok "events/hmm_dmirror has $events"
else
	nok "events/hmm_dmirror lacks$missing"
fi

echo 0 >$tr/tracing_on
echo >$tr/trace
echo 1 >$tr/events/hmm_dmirror/enable
echo 1 >$tr/tracing_on
# Device fault, migration to device 0 and CPU faults back, then a
# migration to the device and a RELEASE that evicts it.
# Then a device write, a migration back by ioctl and exclusive access.
"$hmmctl" read --pages 8 >/tmp/trace_hmmctl.out 2>&1 &&
	"$hmmctl" migrate --pages 8 >>/tmp/trace_hmmctl.out 2>&1 &&
	"$hmmctl" release --pages 8 >>/tmp/trace_hmmctl.out 2>&1 &&
	"$hmmctl" write --pages 8 >>/tmp/trace_hmmctl.out 2>&1 &&
	"$hmmctl" migrate-back >>/tmp/trace_hmmctl.out 2>&1 &&
	"$hmmctl" exclusive >>/tmp/trace_hmmctl.out 2>&1
rc=$?
echo 0 >$tr/tracing_on
echo 0 >$tr/events/hmm_dmirror/enable
cat $tr/trace >/tmp/trace.out

if [ "$rc" -eq 0 ]; then
	ok "hmmctl read, migrate, release, write, migrate-back and exclusive ran"
else
	nok "hmmctl read, migrate, release, write, migrate-back and exclusive ran (exit $rc)"
	sed 's/^/# /' /tmp/trace_hmmctl.out
fi

# expect NAME REGEX: some line of the trace matches REGEX.
expect() {
	if grep -qE "$2" /tmp/trace.out; then
		ok "$1"
	else
		nok "$1"
	fi
}

expect "device fault traced (dmirror_device_fault: dev=0 ... read ret=0)" \
	'dmirror_device_fault: dev=0 range=0x[0-9a-f]+-0x[0-9a-f]+ read ret=0'
expect "migration to the device traced with its page count" \
	'dmirror_migrate: dev=0 to_dev range=0x[0-9a-f]+-0x[0-9a-f]+ moved=8$'
expect "own migration's invalidation traced as skipped" \
	'dmirror_invalidate: dev=0 range=.* event=migrate skipped_own'
expect "CPU fault migration back traced" \
	'dmirror_migrate: dev=0 cpu_fault range=.* moved=1$'
expect "eviction by RELEASE traced" \
	'dmirror_evict: dev=0 pfn=0x[0-9a-f]+\+[0-9]+ moved=[1-9]'
expect "device write fault traced (... write ret=0)" \
	'dmirror_device_fault: dev=0 range=0x[0-9a-f]+-0x[0-9a-f]+ write ret=0'
expect "migration back by MIGRATE_TO_SYS traced with its page count" \
	'dmirror_migrate: dev=0 to_sys range=0x[0-9a-f]+-0x[0-9a-f]+ moved=[1-9][0-9]*$'
expect "own EXCLUSIVE's invalidation traced as skipped" \
	'dmirror_invalidate: dev=0 range=.* event=exclusive skipped_own'
expect "an invalidation the mirror handled traced (no flag)" \
	'dmirror_invalidate: dev=0 range=0x[0-9a-f]+-0x[0-9a-f]+ event=[a-z_]+$'

# Close-time eviction while another process keeps 64 pages on device 0
# (dmirror_hold): a file whose mm never migrated to the device walks
# nothing and traces nothing at close; one whose mm did walks the device
# (hmmctl unmaps its buffer first, so nothing is left to move by then).
# trace_of FILE COMMAND...: the trace of COMMAND alone, into FILE.
trace_of() {
	out=$1
	shift
	echo >$tr/trace
	echo 1 >$tr/events/hmm_dmirror/dmirror_migrate/enable
	echo 1 >$tr/tracing_on
	"$@" >>/tmp/trace_hmmctl.out 2>&1
	trc=$?
	echo 0 >$tr/tracing_on
	echo 0 >$tr/events/hmm_dmirror/dmirror_migrate/enable
	cat $tr/trace >"$out"
	return $trc
}
rm -f /tmp/trhold.in /tmp/trhold.out
mkfifo /tmp/trhold.in
"$here/dmirror_hold" 64 </tmp/trhold.in >/tmp/trhold.out 2>&1 &
exec 8>/tmp/trhold.in
i=0
while ! grep -q ready /tmp/trhold.out 2>/dev/null && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
name="close of a file whose mm never migrated to the busy device"
name="$name: no eviction walk traced"
name2="close of a file whose mm migrated to the device"
name2="$name2: its eviction walk traced"
if grep -q ready /tmp/trhold.out; then
	trace_of /tmp/trace_read.out "$hmmctl" read --pages 8
	rc=$?
	if [ "$rc" -eq 0 ] && ! grep -q 'dmirror_migrate: dev=0 close' \
		/tmp/trace_read.out; then
		ok "$name"
	else
		nok "$name (hmmctl exit $rc)"
		sed 's/^/# /' /tmp/trace_read.out
	fi
	trace_of /tmp/trace_mig.out "$hmmctl" migrate --no-fault --pages 8
	rc=$?
	if [ "$rc" -eq 0 ] && grep -qE \
		'dmirror_migrate: dev=0 close range=[0-9a-fx]+-0x[0-9a-f]+ moved=[0-9]+$' \
		/tmp/trace_mig.out; then
		ok "$name2"
	else
		nok "$name2 (hmmctl exit $rc)"
		sed 's/^/# /' /tmp/trace_mig.out
	fi
else
	nok "$name (dmirror_hold not ready)"
	nok "$name2 (dmirror_hold not ready)"
	sed 's/^/# /' /tmp/trhold.out
fi
echo go >&8
exec 8>&-
wait

# Peer groups (module parameter peer_group): the peer tests read and write
# through one device the pages of the other, and move pages device to
# device. In a group that traces dmirror_peer_access (read and write) and
# dmirror_migrate ... from_peer; without one neither ever appears.
group=$(cat /sys/module/hmm_dmirror/parameters/peer_group 2>/dev/null)
echo >$tr/trace
echo 1 >$tr/events/hmm_dmirror/dmirror_peer_access/enable
echo 1 >$tr/events/hmm_dmirror/dmirror_migrate/enable
echo 1 >$tr/tracing_on
"$here/dmirror_peer_test" >/tmp/trace_peer.out 2>&1
prc=$?
"$here/dmirror_peer_migrate_test" >>/tmp/trace_peer.out 2>&1
prc=$((prc + $?))
echo 0 >$tr/tracing_on
echo 0 >$tr/events/hmm_dmirror/dmirror_peer_access/enable
echo 0 >$tr/events/hmm_dmirror/dmirror_migrate/enable
cat $tr/trace >/tmp/trace.out
range='range=0x[0-9a-f]+-0x[0-9a-f]+'
case "$group" in
Y)
	expect "peer group: a READ of the peer's pages traced (dmirror_peer_access ... read)" \
		"dmirror_peer_access: dev=[0-3] $range read peer_pages=[1-9]"
	expect "peer group: a WRITE of the peer's pages traced (... write)" \
		"dmirror_peer_access: dev=[0-3] $range write peer_pages=[1-9]"
	expect "peer group: a device-to-device move traced (dmirror_migrate ... from_peer)" \
		"dmirror_migrate: dev=[0-3] from_peer $range moved=[1-9]"
	;;
N)
	if grep -q 'dmirror_peer_access:' /tmp/trace.out; then
		nok "no peer group: no peer access traced"
	else
		ok "no peer group: no peer access traced"
	fi
	if grep -qE 'dmirror_migrate: .* (from_peer|peer_home) ' \
		/tmp/trace.out; then
		nok "no peer group: no device-to-device move traced"
	else
		ok "no peer group: no device-to-device move traced"
	fi
	if [ "$prc" -eq 0 ]; then
		ok "no peer group: the peer tests ran (their results are their own sections)"
	else
		nok "no peer group: the peer tests ran (exit status $prc)"
		sed 's/^/# /' /tmp/trace_peer.out | tail -20
	fi
	;;
*)
	nok "peer group: the module parameter peer_group reads '$group'"
	nok "peer group: its events (not checked)"
	nok "peer group: its device-to-device moves (not checked)"
	;;
esac

if [ "$failed" -ne 0 ]; then
	echo "# the trace was:"
	head -n 60 /tmp/trace.out | sed 's/^/# /'
fi
[ "$failed" -eq 0 ]
