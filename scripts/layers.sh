#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# layers.sh [-o OBJDIR] [KVER]
#
# The call graph among module/*.c, from the object files' defined and
# undefined symbols (nm), checked against the layers declared in
# module/dmirror.h (DOC: layers): no cycle, and no file calls a file of a
# higher layer. Prints every edge with the symbols it uses; exits 1 naming
# the files of a cycle or of an upward call.
#
#   -o OBJDIR  take the objects of a build already made: OBJDIR is the
#              directory kbuild built in (M=, with module/*.o beside their
#              sources); its module/dmirror.h holds the layers if present,
#              else the repo's does.
#   KVER       otherwise build a copy of the repo's module against the
#              cached test kernel KVER (default the newest; built if it is
#              not cached, as scripts/prepare.sh does) and check that.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

objdir=
while getopts o: opt; do
	case $opt in
	o) objdir=$OPTARG ;;
	*) die "usage: $0 [-o OBJDIR] [KVER]" ;;
	esac
done
shift $((OPTIND - 1))

if [ -z "$objdir" ]; then
	kver=${1:-$HMM_KVER_NEWEST}
	hmm_check_kver "$kver"
	kdir=$("$HMM_REPO/scripts/build-kernel.sh" "$kver" normal)
	objdir="$HMM_CACHE/layers${HMM_WORK_TAG:+.$HMM_WORK_TAG}"
	rm -rf "$objdir"
	mkdir -p "$objdir/scripts"
	cp -r "$HMM_REPO/Kbuild" "$HMM_REPO/module" "$HMM_REPO/uapi" "$objdir/"
	cp "$HMM_REPO/scripts/conftest.sh" "$objdir/scripts/"
	if ! make -C "$kdir/linux" M="$objdir" modules >"$objdir/build.log" 2>&1; then
		cat "$objdir/build.log" >&2
		die "building the module against $kver failed"
	fi
fi
[ -d "$objdir/module" ] || die "$objdir has no module/ directory"
header="$objdir/module/dmirror.h"
[ -f "$header" ] || header="$HMM_REPO/module/dmirror.h"
exec python3 "$HMM_REPO/scripts/layers.py" "$objdir/module" "$header"
