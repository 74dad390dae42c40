# SPDX-License-Identifier: Apache-2.0
# backend/: the device backends (sev-guest ioctls, configfs-tsm, the
# in-process simulator) behind one ops table, and their registry. Above lib/
# and sim/ (the sim backend drives sim/), below daemon/ and cli/. A program
# links backend/libsnpbackend.la sim/libsnpsim.la lib/libsnp.la, in that
# order (SNP_BACKEND_LIBS).

noinst_LTLIBRARIES += %reldir%/libsnpbackend.la
%canon_reldir%_libsnpbackend_la_SOURCES = \
	%reldir%/backend.c %reldir%/backend.h \
	%reldir%/backend-sim.c \
	%reldir%/backend-tsm.c \
	%reldir%/backend-sevguest.c
%canon_reldir%_libsnpbackend_la_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS)
%canon_reldir%_libsnpbackend_la_LIBADD = $(CRYPTO_LIBS) $(JANSSON_LIBS)

# What a program that opens a backend links, highest layer first.
SNP_BACKEND_LIBS = %reldir%/libsnpbackend.la sim/libsnpsim.la lib/libsnp.la
