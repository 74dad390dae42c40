# SPDX-License-Identifier: Apache-2.0
bin_PROGRAMS += %reldir%/snpctl
%canon_reldir%_snpctl_SOURCES = \
	%reldir%/snpctl.c %reldir%/snpctl.h \
	%reldir%/cmd-show.c \
	%reldir%/cmd-certs.c \
	%reldir%/cmd-doctor.c \
	%reldir%/snpd-client.c \
	%reldir%/cmd-verify.c \
	%reldir%/cmd-policy.c \
	%reldir%/cmd-collateral.c \
	%reldir%/evidence.c %reldir%/evidence.h
%canon_reldir%_snpctl_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS)
%canon_reldir%_snpctl_LDADD = $(SNP_BACKEND_LIBS) $(CRYPTO_LIBS) $(JANSSON_LIBS) $(CURL_LIBS)

# Commands that talk to a backend or the simulator.
%canon_reldir%_snpctl_SOURCES += \
	%reldir%/cmd-report.c \
	%reldir%/cmd-key.c \
	%reldir%/cmd-sim.c \
	%reldir%/cmd-sim-boot.c
