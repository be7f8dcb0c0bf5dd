#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# deps.sh: install the Debian packages the build, the test kernels and the
# VM need. Runs apt-get update once per machine (a stamp in the cache), and
# installs only what is missing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pkgs="build-essential flex bison bc libelf-dev libssl-dev cpio kmod
      busybox-static qemu-system-x86 sparse xz-utils python3 perl file
      rsync"

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
mkdir -p "$HMM_CACHE"
if [ ! -e "$HMM_CACHE/.apt-updated" ]; then
	log "apt-get update"
	"${as_root[@]}" apt-get update -q >"$HMM_CACHE/apt-update.log" 2>&1 || {
		cat "$HMM_CACHE/apt-update.log" >&2
		die "apt-get update failed"
	}
	touch "$HMM_CACHE/.apt-updated"
fi
log "installing:$missing"
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -q \
	--no-install-recommends $missing >"$HMM_CACHE/apt-install.log" 2>&1 || {
	tail -n 30 "$HMM_CACHE/apt-install.log" >&2
	die "apt-get install failed"
}
