# SPDX-License-Identifier: Apache-2.0
# sim/: the simulated SEV-SNP platform (firmware, hypervisor, chip identity)
# and the LD_PRELOAD library that makes /dev/sev-guest exist.

noinst_LTLIBRARIES += %reldir%/libsnpsim.la
%canon_reldir%_libsnpsim_la_SOURCES = \
	%reldir%/sim.h \
	%reldir%/machine.h \
	%reldir%/machine.c \
	%reldir%/boot.h \
	%reldir%/boot.c \
	%reldir%/crypto.c \
	%reldir%/params.c \
	%reldir%/state.c \
	%reldir%/identity.c \
	%reldir%/firmware.c \
	%reldir%/presigned.c \
	%reldir%/hypervisor.c \
	%reldir%/platform.c \
	%reldir%/guest-platform.c
%canon_reldir%_libsnpsim_la_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS)
%canon_reldir%_libsnpsim_la_LIBADD = kernel/libsnpkernel.la %reldir%/kshim/libkshim.la \
	$(CRYPTO_LIBS)

# A shared object, LD_PRELOAD=sim/.libs/libsnp-preload.so in the build tree,
# installed as $(pkglibdir)/libsnp-preload.so (a module: no soname, no .a)
pkglib_LTLIBRARIES = %reldir%/libsnp-preload.la
%canon_reldir%_libsnp_preload_la_SOURCES = %reldir%/preload.c
%canon_reldir%_libsnp_preload_la_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS)
%canon_reldir%_libsnp_preload_la_LDFLAGS = -module -avoid-version -shared
%canon_reldir%_libsnp_preload_la_LIBADD = %reldir%/libsnpsim.la lib/libsnp.la $(CRYPTO_LIBS) $(JANSSON_LIBS) -ldl

EXTRA_DIST += %reldir%/README.md
