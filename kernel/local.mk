# SPDX-License-Identifier: GPL-2.0-only OR MIT
# kernel/: guest-side SNP code in Linux kernel style (freestanding C).

noinst_HEADERS += \
	%reldir%/compat.h \
	%reldir%/snp-report.h \
	%reldir%/snp-msg.h \
	%reldir%/snp-certs.h \
	%reldir%/snp-uapi.h
