# SPDX-License-Identifier: GPL-2.0-only OR MIT
# kernel/: guest-side SNP code in Linux kernel style (freestanding C).

noinst_HEADERS += \
	%reldir%/compat.h \
	%reldir%/snp-report.h \
	%reldir%/snp-msg.h \
	%reldir%/snp-certs.h \
	%reldir%/snp-uapi.h \
	%reldir%/snp-ghcb.h

# The guest-request driver (freestanding; reaches the platform through
# struct snp_platform_ops), as a convenience library.
noinst_LTLIBRARIES += %reldir%/libsnpkernel.la
%canon_reldir%_libsnpkernel_la_SOURCES = \
	%reldir%/snp-guest.h \
	%reldir%/snp-guest.c \
	%reldir%/snp-sev.h \
	%reldir%/snp-sev.c \
	%reldir%/snp-cpuid.h \
	%reldir%/snp-cpuid.c
