#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# build-kernel.sh VERSION [FLAVOR]
#
# Builds a test kernel for VERSION (6.1, 6.12, 7.3) and FLAVOR (normal,
# debug) into $HMM_CACHE/kernels/<key>/, where <key> hashes the config
# fragments and this script. Prints the directory. VERSION may also be
# the absolute path of a developer's source tree (KSRC): scripts/ksrc.sh
# builds that one. FLAVOR nothp (make
# lint) only configures a tree without THP and prepares it for external
# modules (modules_prepare): no kernel image, no Module.symvers. A tree is used only once
# its ".complete" stamp exists; anything else found there is a half-built
# tree from an interrupted run and is rebuilt from scratch.
#
# Layout of a finished directory:
#   linux/       the configured, built kernel tree (KDIR for the module)
#   hdr/include  the kernel's exported user headers (for the selftests)
#   .complete    stamp, written last
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kver=${1:?usage: build-kernel.sh VERSION [FLAVOR]}
flavor=${2:-normal}
# A developer's own tree (an absolute path): built out of tree, again on
# every run (incrementally), by scripts/ksrc.sh.
if hmm_is_ksrc "$kver"; then
	exec "$HMM_REPO/scripts/ksrc.sh" "$kver" "$flavor"
fi
hmm_check_kver "$kver"
case "$flavor" in normal|debug|nothp) ;; *) die "unknown flavour '$flavor'";; esac

dir=$(hmm_kernel_dir "$kver" "$flavor")
# One builder per tree: a second run waits, then finds the tree complete.
mkdir -p "$HMM_CACHE/kernels"
exec 9>"$dir.lock"
flock 9
if [ -e "$dir/.complete" ]; then
	echo "$dir"
	exit 0
fi

"$HMM_REPO/scripts/fetch-source.sh" "$kver"

if [ -e "$dir" ]; then
	log "discarding half-built tree $dir"
	rm -rf "$dir"
fi
mkdir -p "$dir"
logf="$dir/build.log"
log "building linux $kver ($flavor) in $dir (log: $logf)"

tar -C "$dir" -xf "$HMM_CACHE/src/linux-source-$kver.tar.xz"
mv "$dir/linux-source-$kver" "$dir/linux"
cp "$HMM_CACHE/src/linux-source-$kver.package" "$dir/package"

k="$dir/linux"
{
	make -C "$k" tinyconfig
	# shellcheck disable=SC2046
	(cd "$k" && ./scripts/kconfig/merge_config.sh -m .config \
		$(hmm_fragments "$flavor"))
	make -C "$k" olddefconfig
} >"$logf" 2>&1 || { tail -n 40 "$logf" >&2; die "configuring $kver failed"; }

# Every option of the fragments must have survived olddefconfig.
missing=""
for frag in $(hmm_fragments "$flavor"); do
	while IFS= read -r line; do
		case "$line" in CONFIG_*=*) ;; *) continue;; esac
		grep -qxF "$line" "$k/.config" || missing="$missing ${line}"
	done <"$frag"
done
[ -z "$missing" ] || log "note: options not taken by $kver:$missing"

if [ "$flavor" = nothp ]; then
	make -C "$k" -j"$HMM_JOBS" modules_prepare >>"$logf" 2>&1 || {
		tail -n 40 "$logf" >&2
		die "preparing $kver ($flavor) failed (full log: $logf)"
	}
	make -C "$k" -s kernelrelease >"$dir/release"
	touch "$dir/.complete"
	log "linux $(cat "$dir/release") ($flavor) prepared"
	echo "$dir"
	exit 0
fi
if ! make -C "$k" -j"$HMM_JOBS" bzImage modules >>"$logf" 2>&1; then
	tail -n 40 "$logf" >&2
	die "building $kver failed (full log: $logf)"
fi
make -C "$k" headers_install INSTALL_HDR_PATH="$dir/hdr" >>"$logf" 2>&1 ||
	die "headers_install for $kver failed"
make -C "$k" -s kernelrelease >"$dir/release"
touch "$dir/.complete"
log "linux $(cat "$dir/release") ready"
echo "$dir"
