/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * The CPU under snp-sev.c and snp-cpuid.c in a Linux build (kernel/compat.h
 * selects this header when __KERNEL__ is defined; the userspace build takes
 * the same names from sim/kshim/snp-kshim-cpu.h, link-time functions over the
 * simulated vCPU).
 *
 * Each seam is an inline over the instruction itself, or a direct call:
 * this is startup code (it runs before the kernel proper, as the
 * decompressor's SEV code does), where an indirect call is not acceptable.
 *
 *  - MSRs: __rdmsr() and native_wrmsr(), the untraced accessors that
 *    Linux's sev_es_rd_ghcb_msr()/sev_es_wr_ghcb_msr() use for the GHCB
 *    MSR (0xc0010130); also SEV_STATUS (0xc0010131) and IA32_XSS (0xda0);
 *  - VMGEXIT: "rep; vmmcall". Unlike Linux's VMGEXIT() macro it clobbers
 *    memory, so the compiler neither sinks GHCB stores below the exit nor
 *    hoists loads of the answer above it;
 *  - PVALIDATE and RMPADJUST: the opcode bytes (binutils < 2.36 has no
 *    mnemonics) with Linux's register use: rAX the address, ECX the page
 *    size, EDX validate/attributes (whole registers: a bool operand would
 *    leave bits 31:8 undefined); EAX the result. PVALIDATE's CF = 1 (the
 *    page already was in the requested state) returns
 *    SNP_PVALIDATE_FAIL_NOUPDATE (255), Linux's software code;
 *  - CR4 and XCR0 for the CPUID post-processing: native_read_cr4() and
 *    xgetbv() (only with CR4.OSXSAVE, else #UD);
 *  - halt: "hlt" in the loop after a termination request, as Linux's
 *    sev_es_terminate();
 *  - guest memory: virtual addresses are guest-physical ones (the early
 *    identity map), so reads and writes are plain copies and a #VC on the
 *    way is the #VC handler's business; they cannot fail here;
 *  - the C-bit: the decompressor's set_page_encrypted()/
 *    set_page_decrypted() (arch/x86/boot/compressed/ident_map_64.c), one
 *    PTE each, which flush the page from the caches and the TLB. Link-time
 *    functions: snp-sev.o is compiled, not linked, against the headers.
 */
#ifndef SNP_KERNEL_CPU_H
#define SNP_KERNEL_CPU_H

#include <asm/asm.h>
#include <asm/msr.h>
#include <asm/special_insns.h>
#include <asm/fpu/xcr.h>

#include "kernel/compat.h"
#include "kernel/snp-ghcb.h"

static __always_inline u64 snp_cpu_rdmsr(u32 msr)
{
	return __rdmsr(msr);
}

static __always_inline void snp_cpu_wrmsr(u32 msr, u64 val)
{
	native_wrmsr(msr, (u32)val, (u32)(val >> 32));
}

static __always_inline void snp_cpu_vmgexit(void)
{
	asm volatile("rep; vmmcall" : : : "memory");
}

static __always_inline int snp_cpu_pvalidate(u64 vaddr, int rmp_psize, bool validate)
{
	bool unchanged;
	int rc;

	/* pvalidate */
	asm volatile(".byte 0xf2, 0x0f, 0x01, 0xff\n\t" CC_SET(c)
		     : CC_OUT(c)(unchanged), "=a"(rc)
		     : "a"(vaddr), "c"((u32)rmp_psize), "d"((u32)validate)
		     : "memory", "cc");
	return unchanged ? SNP_PVALIDATE_FAIL_NOUPDATE : rc;
}

static __always_inline int snp_cpu_rmpadjust(u64 vaddr, int rmp_psize, u64 attrs)
{
	int rc;

	/* rmpadjust */
	asm volatile(".byte 0xf3, 0x0f, 0x01, 0xfe"
		     : "=a"(rc)
		     : "a"(vaddr), "c"(rmp_psize), "d"(attrs)
		     : "memory", "cc");
	return rc;
}

static __always_inline u64 snp_cpu_read_cr4(void)
{
	return native_read_cr4();
}

static __always_inline u64 snp_cpu_xgetbv(u32 xcr)
{
	return xgetbv(xcr);
}

static __always_inline void snp_cpu_halt(void)
{
	asm volatile("hlt" : : : "memory");
}

static __always_inline int snp_cpu_read(u64 vaddr, void *buf, size_t len)
{
	memcpy(buf, (const void *)(unsigned long)vaddr, len);
	return 0;
}

static __always_inline int snp_cpu_write(u64 vaddr, const void *buf, size_t len)
{
	memcpy((void *)(unsigned long)vaddr, buf, len);
	return 0;
}

/* The GHCB: the identity map covers it (its C-bit was cleared before). */
static __always_inline void *snp_cpu_shared_page(u64 gpa)
{
	return (void *)(unsigned long)gpa;
}

/* The decompressor's page-table code (arch/x86/boot/compressed/misc.h). */
int set_page_decrypted(unsigned long address);
int set_page_encrypted(unsigned long address);

static inline int snp_cpu_set_c_bit(u64 vaddr, u64 npages, bool encrypted)
{
	u64 i;
	int r;

	for (i = 0; i < npages; i++) {
		unsigned long va = (unsigned long)(vaddr + (i << SNP_PAGE_SHIFT));

		r = encrypted ? set_page_encrypted(va) : set_page_decrypted(va);
		if (r)
			return r;
	}
	return 0;
}

#endif /* SNP_KERNEL_CPU_H */
