#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# mutants.sh [--kver VERSION] [NAME...]
#
# Proves that the suite catches breakage: for each mutant (default: all,
# see the table below) a copy of the repository gets one deliberate
# defect, and `make check` of that copy runs on one kernel (default the
# newest). A mutant is "killed" when the suite fails, "survived" when it
# passes, and "stale" when its edit no longer applies to the sources (the
# code it targets changed: update the mutant). Prints one line per mutant
# and a summary; exit status 0 only if every mutant was killed.
#
# Adding a mutant: one line in the table, NAME FILE PERL-EXPRESSION. The
# expression is run as `perl -0pi -e EXPR FILE` in the copy (the whole
# file is one string, so a pattern can span lines); it must change the
# file, or the mutant is stale. Aim each at a behaviour the suite claims
# to check, and keep the edit small enough to compile cleanly.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

kver=$HMM_KVER_NEWEST
if [ "${1:-}" = --kver ]; then
	kver=$2
	shift 2
fi
hmm_check_kver "$kver"

# NAME | FILE | PERL-EXPRESSION
mutants() {
	cat <<'EOF'
read_ebusy|module/ioctl.c|s/(\tret = desc->fn\(dm, &hcmd\);\n)/$1\tif (cmd == HMM_DMIRROR_READ)\n\t\tret = -EBUSY;\n/
snapshot_fails|module/ioctl.c|s/(\tret = desc->fn\(dm, &hcmd\);\n)/$1\tif (cmd == HMM_DMIRROR_SNAPSHOT)\n\t\tret = -EBUSY;\n/
to_dev_leaves_one|module/migrate_dev.c|s/(\t\targs->dst\[i\] = 0;\n\t\tif \(!\(args->src\[i\] & MIGRATE_PFN_MIGRATE\)\)\n\t\t\tcontinue;\n)/$1\t\tif (i == 1) {\n\t\t\targs->src[i] &= ~MIGRATE_PFN_MIGRATE;\n\t\t\tcontinue;\n\t\t}\n/
invalidate_skips_mprotect|module/pagetable.c|s/(static bool dmirror_invalidate\(.*?\n\{\n.*?\n\n)/$1\tif (range->event == MMU_NOTIFY_PROTECTION_VMA)\n\t\treturn true;\n/s
warn_in_migrate|module/migrate_sys.c|s/(\tmmap_read_lock\(dm->mm\);\n\tret = dmirror_migrate_range_to_sys\()/\tWARN_ON_ONCE(1);\n$1/
missing_test_binary|scripts/mkinitramfs.sh|s/(\t\t\[ -f "\$f" \] \|\| continue\n)/$1\t\t[ "\$\{f##*\/\}" = dmirror_uffd_test ] && continue\n/
EOF
}

want=" $* "
killed=0 survived=0 stale=0
mkdir -p "$HMM_CACHE/mutants"
while IFS='|' read -r name file expr; do
	[ -n "$name" ] || continue
	if [ "$want" != "  " ] && [[ "$want" != *" $name "* ]]; then
		continue
	fi
	copy="$HMM_CACHE/mutants/$name"
	rm -rf "$copy"
	mkdir -p "$copy"
	(cd "$HMM_REPO" && git ls-files -z | xargs -0 cp --parents -t "$copy")
	before=$(sha256sum "$copy/$file" | cut -d' ' -f1)
	perl -0pi -e "$expr" "$copy/$file"
	after=$(sha256sum "$copy/$file" | cut -d' ' -f1)
	if [ "$before" = "$after" ]; then
		verdict=stale
		stale=$((stale + 1))
	else
		log "mutant $name: make check on $kver (log: $copy.log)"
		if HMM_WORK_TAG="mutant-$name" "$copy/scripts/check.sh" "$kver" \
			>"$copy.log" 2>&1; then
			verdict=survived
			survived=$((survived + 1))
		else
			verdict=killed
			killed=$((killed + 1))
		fi
	fi
	line=$(printf '%-28s %-9s %s' "$name" "$verdict" \
		"$(grep -E '^[0-9]+ passed, ' "$copy.log" 2>/dev/null | tail -n 1)")
	echo "$line"
	# What killed it: a mutant killed by an unrelated failure proves nothing.
	grep -E '^not ok ' "$copy.log" 2>/dev/null | head -n 5 | sed 's/^/    /'
done < <(mutants)

echo "mutants: $killed killed, $survived survived, $stale stale"
[ "$survived" -eq 0 ] && [ "$stale" -eq 0 ]
