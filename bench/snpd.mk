# SPDX-License-Identifier: Apache-2.0
# snpd's FUSE view under load against the raw backend (make bench-snpd).
noinst_PROGRAMS += %reldir%/snpd-load
%canon_reldir%_snpd_load_SOURCES = %reldir%/snpd-load.c
%canon_reldir%_snpd_load_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS)
%canon_reldir%_snpd_load_LDADD = $(SNP_BACKEND_LIBS) $(CRYPTO_LIBS) $(JANSSON_LIBS) -lpthread
EXTRA_DIST += %reldir%/bench-snpd.sh %reldir%/bench-http.sh

.PHONY: bench-snpd
bench: bench-snpd
bench-snpd: %reldir%/snpd-load$(EXEEXT) daemon/snpd$(EXEEXT) cli/snpctl$(EXEEXT)
	@echo "== bench/bench-snpd.sh: the FUSE view against the raw backend =="
	@SNPD='$(abs_top_builddir)/daemon/snpd$(EXEEXT)' \
	SNPCTL='$(abs_top_builddir)/cli/snpctl$(EXEEXT)' \
	SNPD_LOAD='$(abs_top_builddir)/%reldir%/snpd-load$(EXEEXT)' \
	$(SHELL) $(srcdir)/%reldir%/bench-snpd.sh

.PHONY: bench-http
bench: bench-http
bench-http: %reldir%/snpd-load$(EXEEXT) daemon/snpd$(EXEEXT) cli/snpctl$(EXEEXT)
	@echo "== bench/bench-http.sh: the HTTP API against the raw backend =="
	@SNPD='$(abs_top_builddir)/daemon/snpd$(EXEEXT)' \
	SNPCTL='$(abs_top_builddir)/cli/snpctl$(EXEEXT)' \
	SNPD_LOAD='$(abs_top_builddir)/%reldir%/snpd-load$(EXEEXT)' \
	$(SHELL) $(srcdir)/%reldir%/bench-http.sh
