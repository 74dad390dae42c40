# SPDX-License-Identifier: Apache-2.0
# Benchmarks of the simulated platform and the guest-request driver.
# `make bench-sim` (also part of `make bench`) prints reports/s and derived
# keys/s through the in-process driver path, the share of time in the
# P-384 signature, and per-process figures. Never fails on speed.

noinst_PROGRAMS += %reldir%/bench-sim
%canon_reldir%_bench_sim_SOURCES = %reldir%/bench-sim.c
%canon_reldir%_bench_sim_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS)
%canon_reldir%_bench_sim_LDADD = sim/libsnpsim.la lib/libsnp.la $(CRYPTO_LIBS) $(JANSSON_LIBS)

EXTRA_DIST += %reldir%/bench-sim.sh

.PHONY: bench-sim
bench: bench-sim
bench-sim: %reldir%/bench-sim$(EXEEXT) cli/snpctl$(EXEEXT) sim/libsnp-preload.la
	@echo "== bench/bench-sim.sh: the simulated platform =="
	@SNPCTL='$(abs_top_builddir)/cli/snpctl$(EXEEXT)' \
	BENCH_SIM='$(abs_top_builddir)/%reldir%/bench-sim$(EXEEXT)' \
	SNP_PRELOAD='$(abs_top_builddir)/sim/.libs/libsnp-preload.so' \
	$(SHELL) $(srcdir)/%reldir%/bench-sim.sh
