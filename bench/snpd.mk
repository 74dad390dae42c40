# SPDX-License-Identifier: Apache-2.0
# snpd against the raw backend loop in interleaved rounds, cost per request,
# memory per handle and connection (make bench-snpd), and overload and
# fairness (make bench-overload). Never fail a build: the figures are
# printed; a failed check of a served report is printed too.
noinst_PROGRAMS += %reldir%/snpd-load
%canon_reldir%_snpd_load_SOURCES = %reldir%/snpd-load.c
%canon_reldir%_snpd_load_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS)
%canon_reldir%_snpd_load_LDADD = $(SNP_BACKEND_LIBS) $(CRYPTO_LIBS) $(JANSSON_LIBS) -lpthread
# the least a batching evidence server can do (bench-evidence.sh's "floor"
# over a unix socket, "floorfs" over FUSE)
noinst_PROGRAMS += %reldir%/evidence-floor
%canon_reldir%_evidence_floor_SOURCES = %reldir%/evidence-floor.c fs/fuse-parallel.c fs/fuse-parallel.h
%canon_reldir%_evidence_floor_CFLAGS = $(AM_CFLAGS) $(FUSE3_CFLAGS)
%canon_reldir%_evidence_floor_LDADD = $(FUSE3_LIBS)
EXTRA_DIST += %reldir%/bench-snpd.sh %reldir%/bench-overload.sh %reldir%/bench-common.sh
EXTRA_DIST += %reldir%/bench-evidence.sh

# make check: the scripts in a tiny mode and their checks of served reports
TESTS += %reldir%/bench-smoke.sh
EXTRA_DIST += %reldir%/bench-smoke.sh

BENCH_SNPD_ENV = SNPD='$(abs_top_builddir)/daemon/snpd$(EXEEXT)' \
	SNPCTL='$(abs_top_builddir)/cli/snpctl$(EXEEXT)' \
	SNPD_LOAD='$(abs_top_builddir)/%reldir%/snpd-load$(EXEEXT)' \
	EVIDENCE_FLOOR='$(abs_top_builddir)/%reldir%/evidence-floor$(EXEEXT)'

.PHONY: bench-snpd
bench: bench-snpd
bench-snpd: %reldir%/snpd-load$(EXEEXT) daemon/snpd$(EXEEXT) cli/snpctl$(EXEEXT)
	@echo "== bench/bench-snpd.sh: snpd against the raw backend, interleaved; cost per request =="
	@$(BENCH_SNPD_ENV) $(SHELL) $(srcdir)/%reldir%/bench-snpd.sh || \
		echo "bench-snpd: a check failed (see above)"

.PHONY: bench-overload
bench: bench-overload
bench-overload: %reldir%/snpd-load$(EXEEXT) daemon/snpd$(EXEEXT) cli/snpctl$(EXEEXT)
	@echo "== bench/bench-overload.sh: a light client beside a flood =="
	@$(BENCH_SNPD_ENV) $(SHELL) $(srcdir)/%reldir%/bench-overload.sh || \
		echo "bench-overload: a check failed (see above)"

# The event log's read paths: snpd's CPU per GET /v1/log and per read of
# /snp/log/events at 1,000 and 65,536 events (make bench-eventlog).
EXTRA_DIST += %reldir%/bench-eventlog.py

.PHONY: bench-eventlog
bench: bench-eventlog
bench-eventlog: daemon/snpd$(EXEEXT) cli/snpctl$(EXEEXT)
	@echo "== bench/bench-eventlog.py: CPU per read of the event log =="
	@$(BENCH_SNPD_ENV) SNP_TOP_SRCDIR='$(abs_top_srcdir)' $(PYTHON3) \
		$(srcdir)/%reldir%/bench-eventlog.py || \
		echo "bench-eventlog: a check failed (see above)"

.PHONY: bench-evidence
bench: bench-evidence
bench-evidence: %reldir%/snpd-load$(EXEEXT) %reldir%/evidence-floor$(EXEEXT) daemon/snpd$(EXEEXT) cli/snpctl$(EXEEXT)
	@echo "== bench/bench-evidence.sh: evidence answers against a throttled device =="
	@$(BENCH_SNPD_ENV) $(SHELL) $(srcdir)/%reldir%/bench-evidence.sh || \
		echo "bench-evidence: a check failed (see above)"
