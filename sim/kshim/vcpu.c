// SPDX-License-Identifier: Apache-2.0
/*
 * snp_cpu_*() of the userspace build: each acts on the calling thread's
 * simulated vCPU (kshim-vcpu.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "kshim-vcpu.h"

static __thread struct kshim_vcpu *current_vcpu;

struct kshim_vcpu *kshim_vcpu_switch(struct kshim_vcpu *v)
{
	struct kshim_vcpu *prev = current_vcpu;

	current_vcpu = v;
	return prev;
}

struct kshim_vcpu *kshim_vcpu_current(void)
{
	return current_vcpu;
}

/* Guest code outside a run of the simulated machine: there is no CPU under it. */
static struct kshim_vcpu *vcpu(const char *what)
{
	if (!current_vcpu) {
		fprintf(stderr, "kshim: %s with no current vCPU\n", what);
		abort();
	}
	return current_vcpu;
}

u64 snp_cpu_rdmsr(u32 msr)
{
	struct kshim_vcpu *v = vcpu("RDMSR");

	return v->ops->rdmsr(v->ctx, msr);
}

void snp_cpu_wrmsr(u32 msr, u64 val)
{
	struct kshim_vcpu *v = vcpu("WRMSR");

	v->ops->wrmsr(v->ctx, msr, val);
}

void snp_cpu_vmgexit(void)
{
	struct kshim_vcpu *v = vcpu("VMGEXIT");

	v->ops->vmgexit(v->ctx);
}

int snp_cpu_pvalidate(u64 vaddr, int rmp_psize, bool validate)
{
	struct kshim_vcpu *v = vcpu("PVALIDATE");

	return v->ops->pvalidate(v->ctx, vaddr, rmp_psize, validate);
}

int snp_cpu_rmpadjust(u64 vaddr, int rmp_psize, u64 attrs)
{
	struct kshim_vcpu *v = vcpu("RMPADJUST");

	return v->ops->rmpadjust(v->ctx, vaddr, rmp_psize, attrs);
}

u64 snp_cpu_read_cr4(void)
{
	struct kshim_vcpu *v = vcpu("MOV from CR4");

	return v->ops->read_cr4(v->ctx);
}

u64 snp_cpu_xgetbv(u32 xcr)
{
	struct kshim_vcpu *v = vcpu("XGETBV");

	return v->ops->xgetbv(v->ctx, xcr);
}

void snp_cpu_halt(void)
{
	struct kshim_vcpu *v = vcpu("HLT");

	v->ops->halt(v->ctx);
}

int snp_cpu_read(u64 vaddr, void *buf, size_t len)
{
	struct kshim_vcpu *v = vcpu("a guest load");

	return v->ops->read(v->ctx, vaddr, buf, len);
}

int snp_cpu_write(u64 vaddr, const void *buf, size_t len)
{
	struct kshim_vcpu *v = vcpu("a guest store");

	return v->ops->write(v->ctx, vaddr, buf, len);
}

void *snp_cpu_shared_page(u64 gpa)
{
	struct kshim_vcpu *v = vcpu("a shared-page lookup");

	return v->ops->shared_page(v->ctx, gpa);
}

int snp_cpu_set_c_bit(u64 vaddr, u64 npages, bool encrypted)
{
	struct kshim_vcpu *v = vcpu("a C-bit change");

	return v->ops->set_c_bit(v->ctx, vaddr, npages, encrypted);
}
