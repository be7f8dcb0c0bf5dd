#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# hmmctl and the README's example program, run as root in the test VM
# (busybox sh) with hmm_dmirror loaded with both coherent windows.
# Environment:
#   HMMCTL   the hmmctl binary (default: next to this script)
#   EXAMPLE  the README example binary (default: next to this script)
# Output: TAP. Exit status 0 when every test passed.

here=$(cd "$(dirname "$0")" && pwd)
hmmctl=${HMMCTL:-$here/hmmctl}
example=${EXAMPLE:-$here/dmirror_example}
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n $1"; }
nok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n $1"
	printf '%s\n' "$out" | sed 's/^/# /'
}

# hc ARGS...: run hmmctl, keep its output (stdout and stderr) and status.
hc() {
	out=$("$hmmctl" "$@" 2>&1)
	rc=$?
}

has() { printf '%s\n' "$out" | grep -qF -- "$1"; }

# A "label  value" line of hmmctl's text output.
line() { printf '%-27s %s' "$1" "$2"; }

# expect NAME RC STRING...: the last run exited RC and printed every STRING.
expect() {
	name=$1 want=$2
	shift 2
	if [ "$rc" -ne "$want" ]; then
		nok "$name (exit $rc, expected $want)"
		return 1
	fi
	for s in "$@"; do
		if ! has "$s"; then
			nok "$name (no '$s' in the output)"
			return 1
		fi
	done
	ok "$name"
}

# A JSON number member of the last output: json_num NAME (first match).
json_num() {
	printf '%s\n' "$out" | sed -n "s/.*\"$1\":\([0-9-]*\).*/\1/p" | head -n 1
}

# The module's peer groups (peer_group=1): Y or N; the normal suite loads
# it without them.
pg=$(cat /sys/module/hmm_dmirror/parameters/peer_group 2>/dev/null)

echo "TAP version 13"
echo "1..33"

# Help, usage errors and exit codes.
hc --help
expect "--help lists commands and exit codes" 0 "migrate-back" "demo" \
	"exit status:" "5  the ioctl is not provided"
hc migrate --help
expect "migrate --help lists its options" 0 "usage: hmmctl migrate" \
	"--no-fault" "--thp" "exit status:"
hc read --layout 4S
expect "an option a command does not take: exit 2" 2 "does not take --layout"
hc write --pattern nonsense
expect "a bad --pattern: exit 2" 2 "--pattern 'nonsense'"
hc read --dev 9
expect "a missing device: exit 3, errno named" 3 \
	"open /dev/hmm_dmirror9: ENOENT"
hc read --dev 9 --json
expect "a missing device in JSON" 3 '"ok":false,"exit":3,"error":"open'
hc stats --dev 9
expect "stats of a missing device: exit 3" 3 "/dev/hmm_dmirror9: ENOENT"

# The mirror.
hc read --pages 8
expect "read: the device reads what the CPU wrote" 0 \
	"$(line "READ cpages" 8)" "$(line "device read the data" yes)" \
	"snapshot (8 pages): S*8" "S  system memory, writable"
hc read --pages 8 --untouched --json
expect "read --untouched: zeros through the zero page" 0 '"data_ok":true' \
	'"rle":"z*8"' '"cpages":8'
hc write --pages 8 --pattern 0x5a --json
expect "write: the CPU sees what the device wrote" 0 '"data_ok":true' \
	'"rle":"S*8"' '"cpages":8'
# READ_UNLOCKED, EXCLUSIVE and coherent migration exist on every supported
# kernel (uapi/hmm_dmirror.h): "not provided" (exit 5) is a failure.
hc read --pages 4 --unlocked
expect "read --unlocked" 0 "$(line "READ_UNLOCKED cpages" 4)" \
	"$(line "device read the data" yes)"

# Migration, and the counters moving with it.
hc migrate --json
expect "migrate: every page on the device, then faulted back" 0 \
	'"on_device":16' '"after_migrate":{"pages":16,"rle":"D*16"' \
	'"after_cpu_access":{"pages":16,"rle":"S*16"' '"cpu_data_ok":true'
hc migrate --no-fault --pages 4
expect "migrate --no-fault: text snapshot and legend" 0 \
	"after migrate (4 pages): D*4" "D  this device's private memory, writable"
hc migrate-back --json
expect "migrate-back: nothing left on the device" 0 '"left_on_device":0' \
	'"rle":"S*16"' '"cpages":16'
hc release --json
expect "release: the device's memory is emptied" 0 '"left_on_device":0' \
	'"after_release":{"pages":16,"rle":"S*16"'
hc stats --json
before=$(json_num migrated_to_dev)
hc migrate --pages 32
hc stats --json
after=$(json_num migrated_to_dev)
if [ -n "$before" ] && [ -n "$after" ] && [ $((after - before)) -eq 32 ]; then
	ok "stats: migrated_to_dev moved by 32 ($before -> $after)"
else
	nok "stats: migrated_to_dev moved by 32 ($before -> $after)"
fi
hc stats --all
expect "stats --all shows every device's counters" 0 \
	"hmm_dmirror/dev0/stats (device-private)" \
	"hmm_dmirror/dev3/stats (device-coherent)" "capacity_pages"

# Snapshots of prepared layouts.
hc snapshot --layout '4S,4s,4z,4.,4D'
expect "snapshot of a mixed layout" 0 "S*4 s*4 z*4 .*4 D*4" \
	"s  system memory, read-only" "z  the zero page" "  .  not mapped"
hc snapshot --layout 'S*2,x*2,S' --json
expect "snapshot: PROT_NONE pages are errors" 0 '"rle":"S*2 !*2 S"' \
	'{"char":"!","byte":255,"count":2}'
# hmm_range_fault() reports only the device's own private pages without
# faulting: another device's show as "not mapped" on every supported
# kernel (dmirror_migrate_evict_test checks the same byte).
# In a peer group (peer_group=1) the device maps them where they are.
if [ "$pg" = Y ]; then
	hc snapshot --layout '2D,2O'
	expect "snapshot in a peer group: the peer's private pages" 0 \
		"snapshot (4 pages): D*2 P*2" \
		"P  private memory of the peer (dev1), writable"
else
	hc snapshot --layout 2O --json
	expect "snapshot: another device's private pages are not mapped" 0 \
		'"rle":".*2"'
fi
hc snapshot --thp --json
expect "snapshot --thp: a PMD mapping" 0 '"rle":"H*512"' '"byte":6,'
hc snapshot --layout 4q
expect "snapshot: a bad layout letter: exit 2" 2 "'q' is not a layout letter"

# Flags, exclusive access, coherent devices.
hc flags --value 2
expect "flags: undefined bits are EINVAL, exit 4" 4 "FLAGS: EINVAL"
hc flags --thp --json
expect "flags: FAIL_ALLOC, then a huge migration still completes" 0 \
	'"flags":1' '"on_device":512'
hc exclusive --json
expect "exclusive: held, then revoked by the CPU" 0 \
	'"atomic_held":true' '"atomic_revoked":true' '"cpu_data_ok":true'
hc read --dev 2 --pages 8
expect "read through a coherent device" 0 "snapshot (8 pages): S*8"
hc migrate --dev 2 --json
expect "migrate to a coherent device" 0 '"on_device":16' \
	'"after_migrate":{"pages":16,"rle":"C*16"'
# The other coherent device's pages: K without a group, Q (the peer's,
# named in the legend) in one.
if [ "$pg" = Y ]; then
	hc snapshot --dev 2 --layout '2C,2K'
	expect "snapshot in a coherent peer group: the peer's pages" 0 \
		"snapshot (4 pages): C*2 Q*2" \
		"Q  coherent memory of the peer (dev3), writable"
else
	hc snapshot --dev 2 --layout '2C,2K'
	expect "snapshot: the other coherent device's pages" 0 \
		"snapshot (4 pages): C*2 K*2" \
		"K  another device's coherent memory, writable"
fi

# The peer group of a device, and its counters.
hc read --pages 4
if [ "$pg" = Y ]; then
	expect "read: the device's peer group" 0 \
		"$(line "peer group" "dev0 and dev1 (device-private)")"
else
	expect "read: no peer group" 0 \
		"$(line "peer group" "no peer group (peer_group reads N)")"
fi
hc read --dev 1 --pages 4 --json
if [ "$pg" = Y ]; then
	expect "read --json: the peer of dev1 is dev0" 0 \
		'"peer_group":true,"peer":0'
else
	expect "read --json: no peer group" 0 '"peer_group":false,"peer":-1'
fi
hc stats --dev 1
expect "stats: the peer counters and the group" 0 "peer_pages_read" \
	"peer_pages_written" "migrated_from_peer" "migrated_to_peer" \
	"peer group"


# The narrated demo.
hc demo
expect "demo: mirror, migrate, CPU fault, snapshot" 0 \
	"snapshot (8 pages): S*8" "snapshot (8 pages): D*8" \
	"snapshot (8 pages): S D*7" "migrated_to_dev +8" "cpu_faults +1" \
	"pages_faulted +8"

# The README's example program.
out=$("$example" 2>&1)
rc=$?
expect "README example: migrate, check data and snapshot" 0 \
	"4 pages migrated to /dev/hmm_dmirror0 and back: ok"

[ "$failed" -eq 0 ]
