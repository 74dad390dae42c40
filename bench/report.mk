# SPDX-License-Identifier: Apache-2.0
# Benchmarks of report decoding and verification (see bench/README.md).
#
# bench-report is built with everything else, so that it cannot rot, but
# only `make bench` (or `make bench-report`) runs it, together with
# bench-verify.sh. They print figures and never fail on speed.

noinst_PROGRAMS += %reldir%/bench-report
%canon_reldir%_bench_report_SOURCES = %reldir%/bench-report.c
%canon_reldir%_bench_report_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS)
%canon_reldir%_bench_report_LDADD = lib/libsnp.la $(CRYPTO_LIBS) $(JANSSON_LIBS)

EXTRA_DIST += %reldir%/bench-verify.sh %reldir%/README.md

BENCH_ENV = \
	SNP_TESTDATA='$(SNP_SHARED_DIR)/testdata/real' \
	SNPCTL='$(abs_top_builddir)/cli/snpctl$(EXEEXT)' \
	PYTHON3='$(PYTHON3)'

.PHONY: bench bench-report
bench: bench-report
bench-report: %reldir%/bench-report$(EXEEXT) cli/snpctl$(EXEEXT)
	@echo "== bench/bench-report: decode and verify in process =="
	@$(BENCH_ENV) ./%reldir%/bench-report$(EXEEXT)
	@echo
	@echo "== bench/bench-verify.sh: snpctl verify, one process per report =="
	@$(BENCH_ENV) $(SHELL) $(srcdir)/%reldir%/bench-verify.sh
