# SPDX-License-Identifier: Apache-2.0
# sim/kshim/: the kernel APIs of kernel/ for its userspace build
# (copy_{from,to}_user, struct mutex, lockdep_assert_held, pr_*, ktime_get_ns)
# and the CPU of its boot code (snp_cpu_*() over the simulated vCPU).

noinst_HEADERS += %reldir%/snp-kshim.h %reldir%/snp-kshim-cpu.h %reldir%/kshim-vcpu.h
noinst_LTLIBRARIES += %reldir%/libkshim.la
%canon_reldir%_libkshim_la_SOURCES = %reldir%/kshim.c %reldir%/vcpu.c
