/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The simulated vCPU behind the snp_cpu_*() functions of the userspace build
 * (snp-kshim-cpu.h). kernel/ code never sees this: it calls snp_cpu_*()
 * directly, as it executes instructions in a kernel. The vCPU model
 * (sim/machine.c, or a test's scripted one) describes itself with a table;
 * the thread that runs guest code makes it current, as a physical CPU is
 * "current" for the code it executes.
 */
#ifndef SNP_KSHIM_VCPU_H
#define SNP_KSHIM_VCPU_H

#include "snp-kshim-cpu.h"

struct kshim_vcpu_ops {
	u64 (*rdmsr)(void *ctx, u32 msr);
	void (*wrmsr)(void *ctx, u32 msr, u64 val);
	void (*vmgexit)(void *ctx);
	/* EAX, or 255 when the instruction set CF (snp_cpu_pvalidate()'s convention) */
	int (*pvalidate)(void *ctx, u64 vaddr, int rmp_psize, bool validate);
	int (*rmpadjust)(void *ctx, u64 vaddr, int rmp_psize, u64 attrs);
	u64 (*read_cr4)(void *ctx);
	u64 (*xgetbv)(void *ctx, u32 xcr);
	/* must not return (the simulated guest stops there) */
	void (*halt)(void *ctx);
	int (*read)(void *ctx, u64 vaddr, void *buf, size_t len);
	int (*write)(void *ctx, u64 vaddr, const void *buf, size_t len);
	void *(*shared_page)(void *ctx, u64 gpa);
	int (*set_c_bit)(void *ctx, u64 vaddr, u64 npages, bool encrypted);
};

struct kshim_vcpu {
	const struct kshim_vcpu_ops *ops;
	void *ctx;
};

/* Make @v (NULL: none) the calling thread's vCPU; returns the previous one. */
struct kshim_vcpu *kshim_vcpu_switch(struct kshim_vcpu *v);
/* The calling thread's vCPU, NULL when none. */
struct kshim_vcpu *kshim_vcpu_current(void);

#endif /* SNP_KSHIM_VCPU_H */
