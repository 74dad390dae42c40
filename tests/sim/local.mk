# SPDX-License-Identifier: Apache-2.0
# Tests of the simulated platform and the guest-request driver.

# Helpers: an ioctl client built only against <linux/sev-guest.h>, and a
# capture tool for the Python oracle.
check_PROGRAMS += %reldir%/ioctl-client %reldir%/sim-capture %reldir%/ext-report-client
%canon_reldir%_ioctl_client_SOURCES = %reldir%/ioctl-client.c
%canon_reldir%_ioctl_client_LDADD = -lpthread
%canon_reldir%_ext_report_client_SOURCES = %reldir%/ext-report-client.c
%canon_reldir%_ext_report_client_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
%canon_reldir%_ext_report_client_LDADD = $(CRYPTO_LIBS)
%canon_reldir%_sim_capture_SOURCES = %reldir%/sim-capture.c
%canon_reldir%_sim_capture_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS)
%canon_reldir%_sim_capture_LDADD = sim/libsnpsim.la lib/libsnp.la $(CRYPTO_LIBS) $(JANSSON_LIBS)

if HAVE_CMOCKA
check_PROGRAMS += %reldir%/test-sim-driver %reldir%/test-sim-kdf %reldir%/test-sim-boot
TESTS += %reldir%/test-sim-driver %reldir%/test-sim-kdf %reldir%/test-sim-boot
sim_test_cflags = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS)
sim_test_ldadd = sim/libsnpsim.la lib/libsnp.la $(CMOCKA_LIBS) $(CRYPTO_LIBS) $(JANSSON_LIBS) -lpthread
%canon_reldir%_test_sim_driver_SOURCES = %reldir%/test-sim-driver.c \
	%reldir%/sim-test.c %reldir%/sim-test.h
%canon_reldir%_test_sim_driver_CFLAGS = $(sim_test_cflags)
%canon_reldir%_test_sim_driver_LDADD = $(sim_test_ldadd)
%canon_reldir%_test_sim_kdf_SOURCES = %reldir%/test-sim-kdf.c \
	%reldir%/sim-test.c %reldir%/sim-test.h
%canon_reldir%_test_sim_kdf_CFLAGS = $(sim_test_cflags)
%canon_reldir%_test_sim_kdf_LDADD = $(sim_test_ldadd)
%canon_reldir%_test_sim_boot_SOURCES = %reldir%/test-sim-boot.c \
	%reldir%/sim-test.c %reldir%/sim-test.h
%canon_reldir%_test_sim_boot_CFLAGS = $(sim_test_cflags)
%canon_reldir%_test_sim_boot_LDADD = $(sim_test_ldadd)
endif

TESTS += \
	%reldir%/sim-verify.sh \
	%reldir%/sim-preload.sh \
	%reldir%/sim-cli.sh \
	%reldir%/sim-boot.sh \
	%reldir%/sim-oracle.py \
	%reldir%/sim-structure.py \
	%reldir%/sim-masked-chip.py \
	%reldir%/sim-ext-report.sh \
	%reldir%/sim-kdf-kat.py \
	%reldir%/sim-crash.py \
	%reldir%/sim-tsc.py \
	%reldir%/sim-host-certs.py \
	%reldir%/sim-report-certs-large.py \
	%reldir%/verify-table.py
EXTRA_DIST += \
	%reldir%/sim-lib.sh \
	%reldir%/simtest.py \
	%reldir%/sim-verify.sh \
	%reldir%/sim-preload.sh \
	%reldir%/sim-cli.sh \
	%reldir%/sim-boot.sh \
	%reldir%/sim-oracle.py \
	%reldir%/sim-structure.py \
	%reldir%/sim-masked-chip.py \
	%reldir%/sim-ext-report.sh \
	%reldir%/sim-kdf-kat.py \
	%reldir%/sim-crash.py \
	%reldir%/sim-tsc.py \
	%reldir%/sim-host-certs.py \
	%reldir%/sim-report-certs-large.py \
	%reldir%/verify-table.py

# Template states (generated on first use by the tests).
clean-local: clean-local-sim-templates
clean-local-sim-templates:
	-rm -rf $(top_builddir)/tests/sim/tmpl-*
.PHONY: clean-local-sim-templates
