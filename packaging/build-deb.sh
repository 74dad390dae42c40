#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# Builds the Debian packages (snpd, snpctl, snpd-simulator) from a release
# tarball, the way a Debian developer would: unpacked into a fresh
# directory (so the result does not depend on what lies in a developer's
# tree), then dpkg-buildpackage -us -uc -b with debian/ from the tarball.
# `make deb` runs it with the tarball `make dist` just made.
#
#   packaging/build-deb.sh TARBALL OUTDIR
#
# OUTDIR receives the .deb, .buildinfo and .changes files (and build.log);
# its src/ subdirectory is the unpacked tree, replaced on every run.
# DEB_BUILD_OPTIONS is passed through: DEB_BUILD_OPTIONS=nocheck skips
# the package's make check, parallel=N builds with N jobs (default: nproc).
set -eu

if [ $# -ne 2 ]; then
	echo "usage: $0 TARBALL OUTDIR" >&2
	exit 2
fi
tarball=$1
outdir=$2

for t in dpkg-buildpackage dh; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "build-deb: $t not found (./bootstrap --deps installs debhelper and dpkg-dev)" >&2
		exit 1
	fi
done
[ -f "$tarball" ] || {
	echo "build-deb: no tarball $tarball" >&2
	exit 1
}

mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
case "$tarball" in
/*) ;;
*) tarball=$PWD/$tarball ;;
esac

rm -rf "$outdir/src"
mkdir "$outdir/src"
tar -xzf "$tarball" -C "$outdir/src"
set -- "$outdir"/src/*/debian/control
[ -f "$1" ] || {
	echo "build-deb: $tarball has no debian/control (is debian/ in EXTRA_DIST?)" >&2
	exit 1
}
srcdir=$(dirname "$(dirname "$1")")

case "${DEB_BUILD_OPTIONS:-}" in
*parallel=*) ;;
*) DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:+$DEB_BUILD_OPTIONS }parallel=$(nproc)" ;;
esac
export DEB_BUILD_OPTIONS

echo "build-deb: dpkg-buildpackage -us -uc -b in $srcdir (DEB_BUILD_OPTIONS=$DEB_BUILD_OPTIONS)"
if ! (cd "$srcdir" && dpkg-buildpackage -us -uc -b) >"$outdir/build.log" 2>&1; then
	tail -n 40 "$outdir/build.log" >&2
	echo "build-deb: dpkg-buildpackage failed; the whole log is $outdir/build.log" >&2
	exit 1
fi

# dpkg-buildpackage writes next to the source tree
for f in "$outdir"/src/*.deb "$outdir"/src/*.changes "$outdir"/src/*.buildinfo; do
	[ -e "$f" ] || continue
	mv -f "$f" "$outdir/"
done
echo "build-deb: packages in $outdir:"
ls -1 "$outdir"/*.deb
