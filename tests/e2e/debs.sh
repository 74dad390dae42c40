# SPDX-License-Identifier: Apache-2.0
#
# Sourced by tests/lint/lintian.sh and tests/e2e/nspawn-deb.sh (not a test):
# build_debs builds the Debian packages of this tree once per tree content
# (make dist, then packaging/build-deb.sh with DEB_BUILD_OPTIONS=nocheck:
# the package's make check is the suite this very make check runs) into
# $SNP_TOP_BUILDDIR/deb-check, and sets DEBS_DIR to it. Both tests share the
# result: a lock serialises them (held shared while a caller reads the
# packages), a stamp (the tarball's file list and
# content) tells whether the packages there are those of this tree.
# The caller defines skip() and hard_error().

debs_need_tools()
{
	for t in dpkg-buildpackage dh flock sha256sum; do
		command -v "$t" >/dev/null 2>&1 ||
			skip "$t not found (./bootstrap --deps installs debhelper and dpkg-dev)"
	done
	unmet=$(dpkg-checkbuilddeps -B "$SNP_TOP_SRCDIR/debian/control" 2>&1) ||
		skip "build dependencies missing: $(echo "$unmet" | sed 's/.*Unmet build dependencies: //')"
}

build_debs()
{
	[ -z "${SNPD_PACKAGE_BUILD:-}" ] ||
		skip "inside a package build (SNPD_PACKAGE_BUILD): it does not build packages itself"
	[ -z "${SNP_SANITIZER:-}" ] || skip "sanitizer build (${SNP_SANITIZER}): packages come from the normal build"
	case "${SNP_UNITDIR:-}" in
	/lib/systemd/system | /usr/lib/systemd/system) ;;
	*) skip "units are configured for '${SNP_UNITDIR:-}' (e.g. make distcheck), not the system's directory" ;;
	esac
	[ -n "${SNP_TOP_BUILDDIR:-}" ] && [ -n "${SNP_TOP_SRCDIR:-}" ] ||
		hard_error "SNP_TOP_BUILDDIR/SNP_TOP_SRCDIR are not set (run through make check)"
	debs_need_tools
	b=$SNP_TOP_BUILDDIR
	DEBS_DIR=$b/deb-check
	exec 8>"$b/deb-check.lock"
	flock -x 8
	if ! make -C "$b" dist-gzip >"$b/deb-check.dist.log" 2>&1; then
		tail -n 20 "$b/deb-check.dist.log"
		hard_error "make dist failed (log: $b/deb-check.dist.log)"
	fi
	set -- "$b"/snpd-*.tar.gz
	[ $# -eq 1 ] && [ -f "$1" ] || hard_error "make dist left no single snpd-*.tar.gz in $b: $*"
	tarball=$1
	stamp=$({ tar -tzf "$tarball" | LC_ALL=C sort && tar -xzOf "$tarball"; } | sha256sum)
	if [ "$(cat "$DEBS_DIR/.stamp" 2>/dev/null)" = "$stamp" ] &&
		ls "$DEBS_DIR"/snpd_*.deb >/dev/null 2>&1; then
		echo "packages of this tree already built in $DEBS_DIR"
	else
		rm -f "$DEBS_DIR/.stamp" "$DEBS_DIR"/*.deb "$DEBS_DIR"/*.changes "$DEBS_DIR"/*.buildinfo
		start=$(date +%s)
		DEB_BUILD_OPTIONS=nocheck /bin/sh "$SNP_TOP_SRCDIR/packaging/build-deb.sh" \
			"$tarball" "$DEBS_DIR" || hard_error "building the packages failed"
		echo "packages built in $(($(date +%s) - start)) s"
		printf '%s\n' "$stamp" >"$DEBS_DIR/.stamp"
	fi
	rm -f "$tarball"
	# keep a shared lock on fd 8 until the caller exits: it reads the
	# packages after this returns, and a build of another tree content
	# (which takes the lock exclusively) must not replace them under it
	flock -s 8
}
