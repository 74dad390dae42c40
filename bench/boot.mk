# SPDX-License-Identifier: Apache-2.0
# Boot cost of the simulated SNP guest: pre-validation against lazy
# acceptance for 1, 4 and 16 GiB. `make bench-boot` (also part of
# `make bench`); BENCH_BOOT_REPEAT runs per figure (default 3). Never fails
# on speed.

noinst_PROGRAMS += %reldir%/bench-boot
%canon_reldir%_bench_boot_SOURCES = %reldir%/bench-boot.c
%canon_reldir%_bench_boot_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS)
%canon_reldir%_bench_boot_LDADD = sim/libsnpsim.la lib/libsnp.la $(CRYPTO_LIBS) $(JANSSON_LIBS)

.PHONY: bench-boot
bench: bench-boot
bench-boot: %reldir%/bench-boot$(EXEEXT)
	@echo "== bench/bench-boot: guest memory validation =="
	@'$(abs_top_builddir)/%reldir%/bench-boot$(EXEEXT)' $${BENCH_BOOT_REPEAT:-3} || true
