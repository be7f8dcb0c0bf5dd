#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# lint.sh: the quality gate.
#  1. checkpatch.pl --strict (from the newest cached kernel source) over
#     every file in module/, uapi/, selftests/ and tools/: no error,
#     warning or check.
#  2. A W=1 build of the module against every supported kernel, and the
#     selftests and tools built against each kernel's headers.
#     The newest kernel also without THP (a tree only prepared for
#     external modules), where the large-folio code must compile away.
#  3. scripts/tap_test.py: the runner's verdicts on made-up VM runs.
#  4. scripts/layers.sh on the newest kernel's W=1 objects: the call
#     graph among module/*.c has no cycle and never goes to a higher layer.
#  5. A sparse (C=2) build against the kernels that accept Debian's sparse
#     0.6.4 (6.1, 6.12; 7.3 requires a newer sparse and refuses to run it).
# Any diagnostic fails the run.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

SPARSE_KVERS=${HMM_SPARSE_KVERS:-"6.1 6.12"}
"$HMM_REPO/scripts/deps.sh" || die "installing dependencies failed"

fail=0
newest=$("$HMM_REPO/scripts/build-kernel.sh" "$HMM_KVER_NEWEST" normal) ||
	die "cannot build the $HMM_KVER_NEWEST kernel tree"

echo "== checkpatch --strict ($HMM_KVER_NEWEST)"
files=$(cd "$HMM_REPO" && git ls-files module uapi selftests tools 2>/dev/null ||
	find module uapi selftests tools -type f)
for f in $files; do
	out=$(cd "$HMM_REPO" && "$newest/linux/scripts/checkpatch.pl" --strict \
		--no-tree --quiet --show-types -f "$f" 2>&1)
	if [ -n "$out" ]; then
		echo "$out"
		fail=1
	fi
done
[ "$fail" -eq 0 ] && echo "checkpatch: clean ($(echo "$files" | wc -w) files)"

# build KVER FLAVOR LABEL MAKE_ARGS...: the module against that tree.
echo "== scripts/tap.py's own tests"
if python3 "$HMM_REPO/scripts/tap_test.py" >"$HMM_CACHE/lint-tap.log" 2>&1; then
	echo "tap.py: tests pass"
else
	cat "$HMM_CACHE/lint-tap.log"
	echo "tap.py: tests FAILED"
	fail=1
fi

build() {
	local kver=$1 flavor=$2 label=$3
	shift 3
	local kdir work log
	kdir=$("$HMM_REPO/scripts/build-kernel.sh" "$kver" "$flavor") || return 1
	work="$HMM_CACHE/lint/$kver-$flavor"
	rm -rf "$work"
	mkdir -p "$work"
	mkdir -p "$work/scripts"
	cp -r "$HMM_REPO/Kbuild" "$HMM_REPO/module" "$HMM_REPO/uapi" "$work/"
	cp "$HMM_REPO/scripts/conftest.sh" "$work/scripts/"
	log="$work/build.log"
	if ! make -C "$kdir/linux" M="$work" "$@" modules >"$log" 2>&1; then
		cat "$log"
		echo "$label $kver: build failed"
		return 1
	fi
	if grep -E 'warning:|error:' "$log"; then
		echo "$label $kver: diagnostics above"
		return 1
	fi
	echo "$label $kver: clean"
}

# The user-space side: selftests and tools against each kernel's headers
# and kselftest harness, with their own -Wall -Wextra.
userspace() {
	local kver=$1 kdir out log
	kdir=$("$HMM_REPO/scripts/build-kernel.sh" "$kver" normal) || return 1
	out="$HMM_CACHE/lint/$kver-user"
	log="$out.log"
	rm -rf "$out"
	mkdir -p "$out"
	if ! { make -C "$HMM_REPO/selftests" OUTPUT="$out" \
		KSFT_DIR="$kdir/linux/tools/testing/selftests" \
		KHDR_INCLUDES="-isystem $kdir/hdr/include" &&
	       make -C "$HMM_REPO/tools" OUTPUT="$out" STATIC=1 \
		KHDR_INCLUDES="-isystem $kdir/hdr/include"; } >"$log" 2>&1; then
		cat "$log"
		echo "selftests/tools $kver: build failed"
		return 1
	fi
	if grep -E 'warning:|error:' "$log"; then
		echo "selftests/tools $kver: diagnostics above"
		return 1
	fi
	echo "selftests/tools $kver: clean"
}

for kver in $HMM_KVERS_ALL; do
	build "$kver" normal "W=1" W=1 || fail=1
	userspace "$kver" || fail=1
done
echo "== layers ($HMM_KVER_NEWEST objects)"
if "$HMM_REPO/scripts/layers.sh" -o "$HMM_CACHE/lint/$HMM_KVER_NEWEST-normal" \
	>"$HMM_CACHE/lint-layers.log" 2>&1; then
	tail -n 1 "$HMM_CACHE/lint-layers.log"
else
	grep -E '^(CYCLE|LAYER|layers)' "$HMM_CACHE/lint-layers.log"
	fail=1
fi
for kver in $SPARSE_KVERS; do
	build "$kver" normal "sparse" C=2 || fail=1
done
# The newest kernel without THP (only prepared: modpost has no
# Module.symvers there, so its undefined-symbol reports are warnings in
# capitals, which the diagnostics check above does not match).
nothp=$("$HMM_REPO/scripts/build-kernel.sh" "$HMM_KVER_NEWEST" nothp) || fail=1
if [ -n "${nothp:-}" ] && grep -q '^CONFIG_TRANSPARENT_HUGEPAGE=y' "$nothp/linux/.config"; then
	echo "W=1 without THP: the nothp tree has THP enabled"
	fail=1
fi
build "$HMM_KVER_NEWEST" nothp "W=1 without THP" W=1 KBUILD_MODPOST_WARN=1 || fail=1
echo "sparse: not run on 7.3 (its kernel requires sparse newer than Debian's 0.6.4)"

if [ "$fail" -ne 0 ]; then
	echo "lint: FAILED"
	exit 1
fi
echo "lint: clean"
