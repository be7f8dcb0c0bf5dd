#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# fetch-source.sh VERSION
#
# Makes sure $HMM_CACHE/src/linux-source-VERSION.tar.xz exists, taken from
# Debian's linux-source-VERSION package. Suites the machine does not have
# configured (trixie-backports for 7.3) are reached through a private apt
# configuration that reuses the Debian mirror already configured on this
# machine; no host name is written anywhere by us.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kver=${1:?usage: fetch-source.sh VERSION}
hmm_check_kver "$kver"
out="$HMM_CACHE/src/linux-source-$kver.tar.xz"
[ -s "$out" ] && exit 0

mkdir -p "$HMM_CACHE/src"
work=$(mktemp -d "$HMM_CACHE/src/fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The URI of the machine's Debian archive (not the security archive).
debian_mirror() {
	local f uri
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		uri=$(awk '
			/^[ \t]*$/ { if (u != "" && s ~ /(^| )[a-z]+( |$)/) { print u; exit } u = ""; s = "" }
			/^URIs:/ { u = $2 }
			/^Suites:/ { $1 = ""; s = $0 }
			END { if (u != "" && s ~ /(^| )[a-z]+( |$)/) print u }
		' "$f" | head -n1)
		if [ -n "$uri" ]; then
			echo "$uri"
			return 0
		fi
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		uri=$(awk '$1 == "deb" && $3 !~ /-/ {
				for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit }
			}' "$f" | head -n1)
		if [ -n "$uri" ]; then
			echo "$uri"
			return 0
		fi
	done
	return 1
}

suite=$(hmm_extra_suite "$kver")
cd "$work"
if [ -z "$suite" ]; then
	log "downloading linux-source-$kver from the configured suites"
	apt-get download "linux-source-$kver" >download.log 2>&1 || {
		cat download.log >&2
		die "apt-get download linux-source-$kver failed"
	}
else
	mirror=$(debian_mirror) || die "no Debian mirror found in the apt sources"
	adir="$HMM_CACHE/apt-$suite"
	mkdir -p "$adir/lists/partial" "$adir/cache/archives/partial" "$adir/parts"
	printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' \
		"$mirror" "$suite" >"$adir/sources.list"
	aopt=(-o "Dir::Etc::SourceList=$adir/sources.list"
	      -o "Dir::Etc::SourceParts=$adir/parts"
	      -o "Dir::State::Lists=$adir/lists"
	      -o "Dir::Cache=$adir/cache"
	      -o "Debug::NoLocking=1")
	log "downloading linux-source-$kver from $suite (mirror from apt sources)"
	apt-get "${aopt[@]}" update >update.log 2>&1 || {
		cat update.log >&2
		die "apt-get update for $suite failed"
	}
	apt-get "${aopt[@]}" download "linux-source-$kver" >download.log 2>&1 || {
		cat download.log >&2
		die "apt-get download linux-source-$kver from $suite failed"
	}
fi
deb=$(ls linux-source-"$kver"_*.deb | head -n1)
dpkg-deb -x "$deb" x
tarball=$(ls x/usr/src/linux-source-"$kver".tar.* | head -n1)
[ -s "$tarball" ] || die "$deb holds no source tarball"
echo "${deb%.deb}" >"$HMM_CACHE/src/linux-source-$kver.package"
mv "$tarball" "$out.tmp"
mv "$out.tmp" "$out"
log "cached $out"
