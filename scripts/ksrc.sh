#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ksrc.sh [--configure-only] SRCTREE [FLAVOR]
#
# Builds a developer's own kernel tree (make check/run KSRC=SRCTREE) as a
# test kernel, out of tree: every object goes to
# $HMM_CACHE/kernels/<key>/linux (make O=...), and SRCTREE is only read.
# <key> is the tree's path plus a hash of its configuration inputs
# (lib.sh, hmm_ksrc_key), so each run with the same inputs builds in the
# same directory and make rebuilds only what changed in the tree. Prints
# the kernel directory, laid out as build-kernel.sh's:
#   linux/       the O= build directory (KDIR for the module)
#   srctree      the source tree's path (lib.sh, hmm_kernel_srctree)
#   hdr/include  the kernel's exported user headers
#   release      its kernelrelease
#   kconfig/     where the configuration is generated (make O=, config only)
#   config.log, build.log
#
# The configuration is generated again on every run, from:
#   1. tinyconfig, or the developer's KCONFIG file;
#   2. the flavour's fragments, the ones make check uses
#      (scripts/kconfig/base.config, + debug.config for FLAVOR=debug;
#      over a KCONFIG without base.config's CONFIG_DEBUG_INFO_NONE, which
#      only makes our own kernels build faster), and ksrc.config;
#   3. KCONFIG_EXTRA;
#   4. make olddefconfig.
# It replaces linux/.config only when it differs, so an unchanged tree
# rebuilds nothing. Every option that steps 2 and 3 set and the tree's
# Kconfig knows must have that value in the result: otherwise the build
# stops naming each such option and its "depends on". Options the tree
# does not know are listed and skipped. --configure-only stops there.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

configure_only=0
if [ "${1:-}" = --configure-only ]; then
	configure_only=1
	shift
fi
src=$(hmm_ksrc_spec "${1:?usage: ksrc.sh [--configure-only] SRCTREE [FLAVOR]}")
flavor=${2:-normal}
case "$flavor" in normal|debug) ;; *) die "unknown flavour '$flavor' for KSRC (normal, debug)";; esac
hmm_ksrc_check_inputs

# make O= refuses a source tree that holds an in-tree build; say so before
# anything is written.
for f in .config include/config arch/x86/include/generated; do
	[ -e "$src/$f" ] || continue
	die "KSRC=$src holds an in-tree build ($src/$f exists), and an out-of-tree build (O=) needs a source tree without one. Run 'make mrproper' there (it deletes .config: keep a copy and pass it as KCONFIG=<copy>), or point KSRC at a clean worktree (git worktree add)."
done

dir=$(hmm_kernel_dir "$src" "$flavor")
mkdir -p "$dir/linux"
# One builder per directory: a second run waits for the first.
exec 9>"$dir.lock"
flock 9
o="$dir/linux"
echo "$src" >"$dir/srctree"
kmake=(make -C "$src" O="$o")

# The fragments, in merge order. With KCONFIG, base.config without
# CONFIG_DEBUG_INFO_NONE: whether the kernel has debug info is the
# developer's choice there.
layers=()
for frag in $(hmm_fragments "$flavor") "$HMM_REPO/scripts/kconfig/ksrc.config"; do
	if [ -n "${KCONFIG:-}" ] && [ "$frag" = "$HMM_REPO/scripts/kconfig/base.config" ]; then
		grep -v '^CONFIG_DEBUG_INFO_NONE=' "$frag" >"$dir/base-for-kconfig.config"
		frag="$dir/base-for-kconfig.config"
	fi
	layers+=("$frag")
done
[ -z "${KCONFIG_EXTRA:-}" ] || layers+=("$KCONFIG_EXTRA")

# wanted LAYER...: "SYMBOL VALUE FILE" (tab-separated) for every option
# the layers set, the last layer's value winning ("n" for "# CONFIG_X is
# not set").
wanted() {
	awk -v OFS='\t' '
	/^CONFIG_[A-Za-z0-9_]+=/ {
		s = substr($0, 8); i = index(s, "=")
		sym = substr(s, 1, i - 1); v[sym] = substr(s, i + 1); f[sym] = FILENAME
		if (!(sym in seen)) { seen[sym] = 1; order[++n] = sym }
		next
	}
	/^# CONFIG_[A-Za-z0-9_]+ is not set$/ {
		sym = substr($2, 8); v[sym] = "n"; f[sym] = FILENAME
		if (!(sym in seen)) { seen[sym] = 1; order[++n] = sym }
	}
	END { for (i = 1; i <= n; i++) print order[i], v[order[i]], f[order[i]] }
	' "$@"
}

# mismatches CONFIG LAYER...: "SYMBOL WANTED HAVE FILE" (tab-separated)
# for each option whose value in CONFIG is not the one the layers ask for.
mismatches() {
	local cfg=$1
	shift
	wanted "$@" | awk -F '\t' -v OFS='\t' -v cfg="$cfg" '
	BEGIN {
		while ((getline l < cfg) > 0)
			if (l ~ /^CONFIG_[A-Za-z0-9_]+=/) {
				s = substr(l, 8); i = index(s, "=")
				have[substr(s, 1, i - 1)] = substr(s, i + 1)
			}
	}
	{
		h = ($1 in have) ? have[$1] : "n"
		bad = ($2 == "n") ? (h == "y" || h == "m") : (h != $2)
		if (bad)
			print $1, $2, h, $3
	}'
}

# kconfig_info SYMBOL...: what the tree's Kconfig files say of each
# symbol they define: "SYMBOL def FILE", "SYMBOL choice FILE:LINE" for a
# member of a choice, and "SYMBOL dep FILE: depends on ..." per dependency
# (continuation lines joined). Nothing for a symbol they do not define.
kconfig_info() {
	find "$src" -path "$src/.git" -prune -o -name 'Kconfig*' -type f -print0 |
		xargs -0 awk -v want=" $* " -v src="$src/" '
		FNR == 1 { cur = ""; choice = ""; file = FILENAME; sub("^" src, "", file) }
		{
			line = $0
			while (line ~ /\\$/ && (getline more) > 0)
				line = substr(line, 1, length(line) - 1) " " more
			gsub(/[ \t]+/, " ", line)
			sub(/^ /, "", line)
		}
		line ~ /^choice( |$)/ { choice = file ":" FNR }
		line ~ /^endchoice( |$)/ { choice = "" }
		line ~ /^(menu)?config [A-Za-z0-9_]+ ?$/ {
			split(line, w, " ")
			cur = index(want, " " w[2] " ") ? w[2] : ""
			if (cur != "") {
				print cur, "def", file
				if (choice != "")
					print cur, "choice", choice
			}
			next
		}
		line ~ /^(choice|endchoice|menu|endmenu|if|endif|source|comment)( |$)/ { cur = "" }
		cur != "" && line ~ /^depends on / { print cur, "dep", file ": " line }
		'
}

# values CONFIG TEXT: "NAME=value" of each symbol TEXT names, in CONFIG.
values() {
	local cfg=$1 w v out=""
	for w in $(grep -oE '\b[A-Z0-9_]*[A-Z][A-Z0-9_]*\b' <<<"$2" | sort -u); do
		v=$(sed -n "s/^CONFIG_$w=//p" "$cfg")
		out="$out $w=${v:-n}"
	done
	echo "${out# }"
}

# configure: the configuration of this run, into linux/.config when it
# differs from the one there. A subshell: its output goes to config.log,
# what the user must read to fd 3.
configure() (
	local kc="$dir/kconfig" new="$dir/kconfig/.config" bad known skipped=""
	local missing="" sym want have from deps choice won other
	set -e
	# A build directory of its own, where make may write .config as it
	# likes (older trees' tinyconfig writes .config whatever
	# KCONFIG_CONFIG says): only its result goes to linux/.config.
	mkdir -p "$kc"
	rm -f "$new" "$new.old"
	if [ -n "${KCONFIG:-}" ]; then
		cp -- "$KCONFIG" "$new"
	else
		make -C "$src" O="$kc" tinyconfig
	fi
	# merge_config.sh writes its temporary files to the current directory
	# (older trees) or to -O: both are that directory.
	(cd "$kc" && "$src/scripts/kconfig/merge_config.sh" -m -O "$kc" "$new" \
		"${layers[@]}")
	make -C "$src" O="$kc" olddefconfig

	bad=$(mismatches "$new" "${layers[@]}")
	if [ -n "$bad" ]; then
		# What Kconfig says of them and of every option set to y (the
		# choice a layer picked may be another member's).
		# shellcheck disable=SC2046
		known=$(kconfig_info $(cut -f1 <<<"$bad") \
			$(wanted "${layers[@]}" | awk -F '\t' '$2 == "y" { print $1 }'))
		while IFS=$'\t' read -r sym want have from; do
			# (base.config, as the filtered copy was made from it)
			[ "$from" != "$dir/base-for-kconfig.config" ] ||
				from=$HMM_REPO/scripts/kconfig/base.config
			if ! grep -q "^$sym def " <<<"$known"; then
				skipped="$skipped CONFIG_$sym"
				continue
			fi
			# A member of a choice where a layer picked another
			# member, which won: what that layer asked for.
			choice=$(sed -n "s/^$sym choice //p" <<<"$known")
			if [ -n "$choice" ] && [ "$want" = y ]; then
				won=""
				for other in $(awk -v c="$choice" '$2 == "choice" && $3 == c { print $1 }' <<<"$known"); do
					[ "$other" != "$sym" ] || continue
					grep -qx "CONFIG_$other=y" "$new" && won=$other
				done
				if [ -n "$won" ]; then
					log "note: CONFIG_$sym=y (from $from) gave way to CONFIG_$won=y of the same choice" 2>&3
					continue
				fi
			fi
			deps=$(sed -n "s/^$sym dep //p" <<<"$known")
			missing="$missing
  CONFIG_$sym=$want (from $from) is $have here"
			[ -n "$deps" ] || missing="$missing
    ($(sed -n "s/^$sym def //p" <<<"$known" | head -n 1): no \"depends on\"; a choice, a select or an enclosing menu/if decides)"
			[ -z "$deps" ] || missing="$missing
$(sed 's/^/    /' <<<"$deps")
    (here: $(values "$new" "$(sed 's/^[^:]*: depends on//' <<<"$deps")"))"
		done <<<"$bad"
	fi
	[ -z "$skipped" ] ||
		log "note: options this tree's Kconfig does not have (skipped):$skipped" 2>&3
	if [ -n "$missing" ]; then
		log "error: the configuration of $src lacks options the tests need or you asked for:$missing
(change KCONFIG/KCONFIG_EXTRA so that their dependencies hold; 'make -C $src O=<dir> menuconfig' shows them)" 2>&3
		exit 2
	fi
	if ! cmp -s "$new" "$o/.config"; then
		[ ! -e "$o/.config" ] ||
			log "the configuration of $src changed; make rebuilds what depends on it" 2>&3
		cp "$new" "$o/.config"
	fi
)

log "configuring $src in $o (log: $dir/config.log)"
set +e # not "configure || rc=$?": that would turn off set -e inside
configure 3>&2 >"$dir/config.log" 2>&1
rc=$?
set -e
if [ "$rc" = 2 ]; then
	# Nothing was built with these inputs: leave no directory behind.
	[ -e "$o/.config" ] || rm -rf "$dir" "$dir.lock"
	exit 1
elif [ "$rc" != 0 ]; then
	tail -n 40 "$dir/config.log" >&2
	die "configuring $src failed (full log: $dir/config.log)"
fi
if [ "$configure_only" = 1 ]; then
	echo "$dir"
	exit 0
fi

targets=(bzImage modules)
grep -qx 'CONFIG_GDB_SCRIPTS=y' "$o/.config" && targets+=(scripts_gdb)
log "building $src in $o (${targets[*]}; log: $dir/build.log)"
start=$(date +%s)
if ! "${kmake[@]}" -j"$HMM_JOBS" "${targets[@]}" >"$dir/build.log" 2>&1; then
	tail -n 40 "$dir/build.log" >&2
	die "building $src failed (full log: $dir/build.log)"
fi
"${kmake[@]}" headers_install INSTALL_HDR_PATH="$dir/hdr" >>"$dir/build.log" 2>&1 ||
	die "headers_install for $src failed (log: $dir/build.log)"
"${kmake[@]}" -s kernelrelease >"$dir/release"
touch "$dir/.complete"
log "linux $(cat "$dir/release") from $src ready in $(( $(date +%s) - start )) s"
echo "$dir"
