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

# A kernel is named by a version of HMM_KVERS_ALL (a Debian source
# package) or by the absolute path of a developer's own source tree (KSRC,
# scripts/ksrc.sh builds it out of tree).
hmm_is_ksrc() {
	case "$1" in /*) return 0 ;; *) return 1 ;; esac
}

hmm_check_kver() {
	local v
	if hmm_is_ksrc "$1"; then
		[ -f "$1/Makefile" ] && [ -f "$1/Kconfig" ] ||
			die "KSRC=$1 is not a Linux source tree (no Makefile and Kconfig there)"
		return 0
	fi
	for v in $HMM_KVERS_ALL; do
		[ "$v" = "$1" ] && return 0
	done
	die "unsupported kernel version '$1' (supported: $HMM_KVERS_ALL, or KSRC=<your tree>)"
}

# hmm_ksrc_spec PATH: the kernel name of the tree at PATH (absolute, no
# symlinks), checked.
hmm_ksrc_spec() {
	local p
	p=$(realpath -e -- "$1" 2>/dev/null) || die "KSRC=$1: no such directory"
	hmm_check_kver "$p"
	echo "$p"
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

# Bump when scripts/ksrc.sh changes how it configures a tree.
HMM_KSRC_RECIPE=1

# The configuration inputs of a KSRC kernel besides the flavour's
# fragments: the developer's base config (KCONFIG, else tinyconfig) and
# extra options (KCONFIG_EXTRA), by content.
hmm_ksrc_inputs() {
	local f
	echo "ksrc recipe $HMM_KSRC_RECIPE"
	for f in KCONFIG KCONFIG_EXTRA; do
		if [ -n "${!f:-}" ]; then
			echo "$f:"
			cat -- "${!f}" 2>/dev/null || echo "(unreadable)"
		else
			echo "$f: none"
		fi
	done
}

# Cache key of a KSRC kernel: the tree's path and every configuration
# input. Its objects stay in that directory from run to run, so a rebuild
# after an edit of the tree is incremental.
hmm_ksrc_key() {
	local src=$1 flavor=$2 h name
	# shellcheck disable=SC2046
	h=$( { echo "tree $src"; hmm_ksrc_inputs; cat $(hmm_fragments "$flavor") \
		"$HMM_REPO/scripts/kconfig/ksrc.config"; } |
		sha256sum | cut -c1-12)
	name=$(basename "$src" | tr -c 'A-Za-z0-9._\n-' _)
	echo "ksrc-$name-$flavor-$h"
}

hmm_kernel_dir() {
	if hmm_is_ksrc "$1"; then
		echo "$HMM_CACHE/kernels/$(hmm_ksrc_key "$1" "$2")"
	else
		echo "$HMM_CACHE/kernels/$(hmm_kernel_key "$1" "$2")"
	fi
}

# hmm_ksrc_check_inputs: KCONFIG and KCONFIG_EXTRA, where set, must name
# readable files; they are exported as absolute paths (the scripts change
# directory). Call it in the script the user started.
hmm_ksrc_check_inputs() {
	local f p
	for f in KCONFIG KCONFIG_EXTRA; do
		[ -n "${!f:-}" ] || continue
		p=$(realpath -e -- "${!f}" 2>/dev/null) && [ -f "$p" ] && [ -r "$p" ] ||
			die "$f=${!f}: no such file"
		export "$f=$p"
	done
}

# hmm_kernel_srctree KDIR: the source tree of a built kernel directory.
# Debian kernels are built in their source ("linux/"); a KSRC kernel's
# "linux/" is the O= build directory and "srctree" names its source.
hmm_kernel_srctree() {
	if [ -f "$1/srctree" ]; then
		cat "$1/srctree"
	else
		echo "$1/linux"
	fi
}

# Physical bases of the two 256 MiB ranges the VM reserves for the
# device-coherent devices (memmap=256M$<base> on the command line).
HMM_SPM0=0x100000000
HMM_SPM1=0x110000000
