# SPDX-License-Identifier: Apache-2.0
# packaging/: `make deb` builds the Debian packages from the tarball that
# `make dist` makes (debian/ is distributed), into $(DEB_OUTDIR).

DEB_OUTDIR = $(abs_builddir)/deb

deb: dist-gzip
	$(SHELL) $(srcdir)/%reldir%/build-deb.sh $(distdir).tar.gz '$(DEB_OUTDIR)'
clean-local: clean-local-deb
clean-local-deb:
	-rm -rf $(top_builddir)/deb $(top_builddir)/deb-check $(top_builddir)/deb-check.*
.PHONY: deb clean-local-deb

EXTRA_DIST += \
	%reldir%/build-deb.sh \
	debian/changelog \
	debian/control \
	debian/copyright \
	debian/rules \
	debian/snpctl.install \
	debian/snpd-simulator.docs \
	debian/snpd-simulator.install \
	debian/snpd.docs \
	debian/snpd.install \
	debian/snpd.lintian-overrides \
	debian/snpd.postrm \
	debian/source/format
