#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Shared helpers for the hmm-dmirror scripts: where the cache lives, which
# kernels we support, logging. Sourced, never executed.

HMM_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HMM_CACHE=${HMM_DMIRROR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hmm-dmirror}

# Supported kernels, oldest first. The last one is "the newest".
HMM_KVERS_ALL="6.1 6.12 7.3"
HMM_KVER_NEWEST=7.3

# How many parallel jobs kernel builds use.
HMM_JOBS=${HMM_JOBS:-$(( $(nproc) + 1 ))}

log() { printf '[hmm-dmirror] %s\n' "$*" >&2; }
die() { printf '[hmm-dmirror] error: %s\n' "$*" >&2; exit 1; }

# The Debian suite that carries linux-source-<ver>, "" for the machine's own
# configured suites.
hmm_extra_suite() {
	case "$1" in
	7.3) echo trixie-backports ;;
	*) echo "" ;;
	esac
}

hmm_check_kver() {
	local v
	for v in $HMM_KVERS_ALL; do
		[ "$v" = "$1" ] && return 0
	done
	die "unsupported kernel version '$1' (supported: $HMM_KVERS_ALL)"
}

# Fragments that make up a flavour's config, in merge order.
hmm_fragments() {
	local flavor=$1
	echo "$HMM_REPO/scripts/kconfig/base.config"
	case "$flavor" in
	debug) echo "$HMM_REPO/scripts/kconfig/debug.config" ;;
	nothp) echo "$HMM_REPO/scripts/kconfig/nothp.config" ;;
	esac
}

# Bump when build-kernel.sh changes what it produces, so cached trees built
# the old way are not used.
HMM_BUILD_RECIPE=1

# Cache key of a test kernel: version, flavour and a hash of the config
# fragments and the build recipe.
hmm_kernel_key() {
	local kver=$1 flavor=$2 h
	# shellcheck disable=SC2046
	h=$( { echo "recipe $HMM_BUILD_RECIPE"; cat $(hmm_fragments "$flavor"); } |
		sha256sum | cut -c1-12)
	echo "linux-$kver-$flavor-$h"
}

hmm_kernel_dir() {
	echo "$HMM_CACHE/kernels/$(hmm_kernel_key "$1" "$2")"
}

# Physical bases of the two 256 MiB ranges the VM reserves for the
# device-coherent devices (memmap=256M$<base> on the command line).
HMM_SPM0=0x100000000
HMM_SPM1=0x110000000
