/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CPU of kernel/'s boot code (snp-sev.c, snp-cpuid.c) in its userspace
 * build: kernel/compat.h names this header as SNP_CPU_H when __KERNEL__ is
 * not defined. In a kernel the same names are inlines over the instructions
 * (kernel/snp-cpu.h, which also says what each one is); here they are
 * link-time functions (sim/kshim/vcpu.c) that act on the simulated vCPU
 * running the calling thread's guest code (sim/kshim/kshim-vcpu.h: the
 * simulated machine sets it while it runs guest code, a test may set its
 * own). Called with no vCPU current, they abort: there is no CPU to act on.
 */
#ifndef SNP_KSHIM_CPU_H
#define SNP_KSHIM_CPU_H

#include <stdbool.h>
#include <stddef.h>

#include "snp-kshim.h"

u64 snp_cpu_rdmsr(u32 msr);
void snp_cpu_wrmsr(u32 msr, u64 val);
void snp_cpu_vmgexit(void);
/* EAX, or 255 (SNP_PVALIDATE_FAIL_NOUPDATE) when rFLAGS.CF = 1 */
int snp_cpu_pvalidate(u64 vaddr, int rmp_psize, bool validate);
int snp_cpu_rmpadjust(u64 vaddr, int rmp_psize, u64 attrs);
u64 snp_cpu_read_cr4(void);
u64 snp_cpu_xgetbv(u32 xcr);
void snp_cpu_halt(void);
int snp_cpu_read(u64 vaddr, void *buf, size_t len);
int snp_cpu_write(u64 vaddr, const void *buf, size_t len);
void *snp_cpu_shared_page(u64 gpa);
int snp_cpu_set_c_bit(u64 vaddr, u64 npages, bool encrypted);

#endif /* SNP_KSHIM_CPU_H */
