# SPDX-License-Identifier: GPL-2.0-only OR MIT
# kernel/: guest-side SNP code in Linux kernel style (freestanding C).

noinst_HEADERS += \
	%reldir%/compat.h \
	%reldir%/snp-report.h \
	%reldir%/snp-msg.h \
	%reldir%/snp-certs.h \
	%reldir%/snp-uapi.h \
	%reldir%/snp-ghcb.h

# The guest-request driver and the boot code (kernel code; they reach the
# platform through link-time functions, snp_guest_plat_*() and snp_cpu_*()),
# as a convenience library for userspace: the kernel APIs and those
# functions come from sim/kshim/ and sim/. kernel/Kbuild builds the same sources
# as a Linux module (make kbuild-check).
noinst_LTLIBRARIES += %reldir%/libsnpkernel.la
%canon_reldir%_libsnpkernel_la_SOURCES = \
	%reldir%/snp-guest.h \
	%reldir%/snp-guest.c \
	%reldir%/snp-sev.h \
	%reldir%/snp-sev.c \
	%reldir%/snp-cpuid.h \
	%reldir%/snp-cpuid.c
# The kernel APIs of the userspace build (sim/kshim/) are linked in by the
# simulator, the layer above, with the library.

# Only for the Linux module build (kernel/Kbuild; make kbuild-check); the
# userspace build takes snp-cpu.h's names from sim/kshim/snp-kshim-cpu.h.
EXTRA_DIST += \
	%reldir%/Kbuild \
	%reldir%/snp-cpu.h \
	%reldir%/snp-guest-mod.c \
	%reldir%/snp-guest-kexit.c \
	%reldir%/snp-guest-kexit.h
