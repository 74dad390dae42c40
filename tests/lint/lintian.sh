#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# The Debian packages (debian/, built as tests/e2e/debs.sh says: from make
# dist, DEB_BUILD_OPTIONS=nocheck) pass lintian with no error and no
# warning. Overrides live in debian/*.lintian-overrides, each with a
# comment saying why. Skips without lintian, dpkg-buildpackage or the
# build dependencies, in the sanitizer build, in make distcheck and inside
# a package build.
set -u

skip()
{
	echo "SKIP: $*"
	exit 77
}

hard_error()
{
	echo "ERROR: $*"
	exit 99
}

command -v lintian >/dev/null 2>&1 || skip "lintian not found (apt-get install lintian)"
. "${SNP_TOP_SRCDIR:?}/tests/e2e/debs.sh"
build_debs

set -- "$DEBS_DIR"/snpd_*.changes
[ -f "$1" ] || hard_error "no .changes file in $DEBS_DIR"
changes=$1
echo "lintian $(lintian --version | sed 's/^lintian v*//') on $changes:"
out=$DEBS_DIR/lintian.out
# --fail-on error,warning: the exit status says whether either was found;
# info and pedantic tags are shown but do not fail
lintian --fail-on error,warning --display-info --pedantic "$changes" >"$out" 2>&1
rc=$?
grep -v '^running with root privileges' "$out"
bad=$(grep -c '^[EW]: ' "$out")
echo "$bad error/warning tag(s); lintian exited with $rc"
[ "$rc" -eq 0 ] && [ "$bad" -eq 0 ]
