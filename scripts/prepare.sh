#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# prepare.sh VERSION FLAVOR [CMD_FILE]
#
# Everything a VM run needs for one kernel: the test kernel (cached), then
# hmm_dmirror.ko, the selftests and the kernel's own hmm-tests built against
# it in a work directory of the cache (the repo stays clean), then the
# initramfs. Prints the work directory, which holds bzImage, initrd.gz,
# hmm_dmirror.ko, tests/ and build logs. HMM_WORK_TAG=name gives
# concurrent runs separate directories.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kver=${1:?} flavor=${2:?} cmdfile=${3:-}
kdir=$("$HMM_REPO/scripts/build-kernel.sh" "$kver" "$flavor")
tree="$kdir/linux"
srctree=$(hmm_kernel_srctree "$kdir")
work="$HMM_CACHE/work/$(basename "$kdir")${HMM_WORK_TAG:+.$HMM_WORK_TAG}"
rm -rf "$work"
mkdir -p "$work/src" "$work/tests"

mkdir -p "$work/src/scripts"
cp -r "$HMM_REPO/Kbuild" "$HMM_REPO/module" "$HMM_REPO/uapi" "$work/src/"
cp "$HMM_REPO/scripts/conftest.sh" "$work/src/scripts/"
if ! make -C "$tree" M="$work/src" modules >"$work/module.log" 2>&1; then
	cat "$work/module.log" >&2
	die "building hmm_dmirror.ko against $kver failed"
fi
cp "$work/src/hmm_dmirror.ko" "$work/"

if ! make -C "$HMM_REPO/selftests" OUTPUT="$work/tests" \
	KSFT_DIR="$srctree/tools/testing/selftests" \
	KHDR_INCLUDES="-isystem $kdir/hdr/include" >"$work/selftests.log" 2>&1; then
	cat "$work/selftests.log" >&2
	die "building the selftests against $kver failed"
fi
if ! make -C "$HMM_REPO/tools" STATIC=1 OUTPUT="$work/tests" \
	KHDR_INCLUDES="-isystem $kdir/hdr/include" >"$work/tools.log" 2>&1; then
	cat "$work/tools.log" >&2
	die "building the tools (hmmctl, the README example, the benchmark) against $kver failed"
fi

# What the module's thp_migration parameter must read at a default load,
# from the tree, not from the module (module_load.sh compares): Y where the
# kernel has compound device-private migration (the declarations module/
# compat.h needs) and CONFIG_TRANSPARENT_HUGEPAGE.
thp_expect=Y
for f in "MIGRATE_VMA_SELECT_COMPOUND include/linux/migrate.h" \
	"(\*folio_split)( include/linux/memremap.h" \
	"(\*folio_free)( include/linux/memremap.h" \
	"zone_device_folio_init( include/linux/memremap.h" \
	"^CONFIG_TRANSPARENT_HUGEPAGE=y .config"; do
	# Headers are in the source tree, .config in the build tree (they
	# differ for KSRC, built with O=).
	d=$srctree
	[ "${f##* }" = .config ] && d=$tree
	grep -qs "${f% *}" "$d/${f##* }" || thp_expect=N
done
echo "$thp_expect" >"$work/tests/thp_migration.expected"

# The test kernel's own HMM selftest (tools/testing/selftests/mm/hmm-tests.c,
# vm/ on older trees), built from its tree like ours and run in the guest
# against hmm_dmirror.ko. Besides hmm-tests.c it links each source file of
# its directory whose header it includes (directly or through such a file):
# vm_util.c, thp_settings.c, ... as that tree has them. A subshell, so
# that die() lands in the log that is shown.
build_kernel_hmm_tests() (
	local ksft="$srctree/tools/testing/selftests" src dir srcs more h c
	local cflags=(-O2 -g -Wall -D_GNU_SOURCE= -I"$srctree" -I"$ksft"
		-isystem "$kdir/hdr/include" -isystem "$srctree/tools/include/uapi")

	src=$(find "$ksft" -name hmm-tests.c)
	[ -n "$src" ] || die "the $kver tree has no hmm-tests.c under $ksft"
	[ "$(echo "$src" | wc -l)" -eq 1 ] ||
		die "more than one hmm-tests.c under $ksft: $(echo "$src" | tr "\n" " ")"
	src=$(realpath "$src")
	dir=$(dirname "$src")
	echo "building $src"
	srcs=$src
	while :; do
		more=$srcs
		# shellcheck disable=SC2086
		for h in $("${CC:-cc}" "${cflags[@]}" -MM $srcs); do
			case $h in *.h) ;; *) continue ;; esac
			c=$(realpath -m "${h%.h}.c")
			if [ "$(dirname "$c")" != "$dir" ] || [ ! -f "$c" ]; then
				continue
			fi
			case " $more " in *" $c "*) ;; *) more="$more $c" ;; esac
		done
		[ "$more" = "$srcs" ] && break
		srcs=$more
	done
	# Debug kernels (KASAN, lockdep, kmemleak, under emulation) run its
	# 256 MiB coherent THP benchmark for longer than the 120 s it gives
	# itself (0.05 GB/s there): every test gets four times its timeout,
	# a bound that still catches a stall. The harness is included first
	# (its guard makes the test's own include a no-op) and its timeout
	# macros redefined; nothing else changes.
	if [ "$flavor" = debug ]; then
		printf '%s\n' '#include "kselftest_harness.h"' \
			'#undef TEST_TIMEOUT_DEFAULT' \
			'#define TEST_TIMEOUT_DEFAULT 120' \
			'#undef TEST_F_TIMEOUT' \
			'#define TEST_F_TIMEOUT(f, t, tmo) __TEST_F_IMPL(f, t, -1, (tmo) * 4)' \
			"#include \"$src\"" >"$work/hmm-tests-debug.c"
		srcs="$work/hmm-tests-debug.c ${srcs#"$src"}"
	fi
	echo "linking $srcs"
	# shellcheck disable=SC2086
	"${CC:-cc}" "${cflags[@]}" -o "$work/tests/hmm-tests" $srcs \
		-static -pthread -lrt -lm
)
if ! build_kernel_hmm_tests >"$work/hmm-tests.log" 2>&1; then
	cat "$work/hmm-tests.log" >&2
	die "building the $kver kernel's own hmm-tests failed"
fi

# The sections a check run must produce (scripts/guest/init runs them;
# scripts/tap.py fails each one that is missing).
{
	echo load
	make -s -C "$HMM_REPO/selftests" KSFT_DIR=unused print-progs
	printf '%s\n' hmm-tests unload
	if [ "$flavor" = debug ]; then
		echo kmemleak
	fi
} >"$work/sections"
printf '%s\n' load stress_test.sh unload >"$work/sections-up"

cp "$tree/arch/x86/boot/bzImage" "$work/bzImage"
cp "$kdir/release" "$work/release"
"$HMM_REPO/scripts/mkinitramfs.sh" "$tree" "$work/hmm_dmirror.ko" \
	"$work/tests" "$work/initrd.gz" "$cmdfile"
echo "$work"
