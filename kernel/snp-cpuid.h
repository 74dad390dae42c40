/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * CPUID in an SEV-SNP guest, answered from the SNP CPUID table (the CPUID
 * page the firmware checked at launch, snp-abi.md §3.3), as Linux's
 * arch/x86 SEV code does:
 *
 *  - at boot the page is copied to private memory and its ranges noted:
 *    the standard range ends at leaf 0x0's EAX, the hypervisor range
 *    (0x40000000...) at leaf 0x40000000's EAX, the extended range
 *    (0x80000000...) at leaf 0x80000000's EAX;
 *  - a leaf (and, for indexed leaves, subleaf) in the table is answered
 *    from it; a leaf inside one of the ranges but missing from the table
 *    is all zeros, and so is a leaf outside every range: the hypervisor is
 *    never asked for a leaf instead of the table;
 *  - then the guest fills in what only it or the vCPU knows: the APIC IDs
 *    of leaves 0x1, 0xB and 0x8000001E (the only values taken from the
 *    hypervisor), OSXSAVE (0x1) and OSPKE (0x7) from CR4, and the XSAVE
 *    area sizes of leaf 0xD subleaves 0 and 1, computed from XCR0 (and
 *    XSS) and the table's per-component sizes.
 *
 * A table that is empty or has more than 64 entries terminates the guest
 * with reason set 1 code 4 (GHCB_TERM_CPUID), as Linux. Beyond Linux, so
 * does a table whose ranges are malformed or contradict its entries (see
 * snp_cpuid_setup()). A hypervisor that does not answer the APIC-ID
 * questions terminates it with set 1 code 5 (GHCB_TERM_CPUID_HV); a table
 * that cannot describe the XSAVE state the guest enabled, with the general
 * reason (set 0 code 0), as Linux's #VC handler does.
 */
#ifndef SNP_KERNEL_CPUID_H
#define SNP_KERNEL_CPUID_H

#include "kernel/compat.h"
#include "kernel/snp-sev.h"

/* SVM exit code of CPUID: the #VC error code, and the NAE exit that asks the hypervisor. */
#define SNP_EXIT_CPUID 0x72ULL

/* MSR protocol CPUID request: [31:30] register, [63:32] function; response [63:32] value. */
#define SNP_CPUID_REQ_EAX 0
#define SNP_CPUID_REQ_EBX 1
#define SNP_CPUID_REQ_ECX 2
#define SNP_CPUID_REQ_EDX 3
#define SNP_GHCB_MSR_CPUID(fn, reg)                                                                \
	(((u64)(u32)(fn) << 32) | (((u64)(reg)&0x3) << 30) | SNP_GHCB_MSR_CPUID_REQ)
#define SNP_GHCB_MSR_CPUID_FN(v)    ((u32)((v) >> 32))
#define SNP_GHCB_MSR_CPUID_REG(v)   ((unsigned int)(((v) >> 30) & 0x3))
#define SNP_GHCB_MSR_CPUID_VALUE(v) ((u32)((v) >> 32))

#define SNP_MSR_IA32_XSS 0xda0U
#define SNP_CR4_OSXSAVE	 BIT_ULL(18)
#define SNP_CR4_PKE	 BIT_ULL(22)

#define SNP_CPUID_HYP_BASE 0x40000000U
#define SNP_CPUID_EXT_BASE 0x80000000U
/*
 * Our bounds on the declared range ends (Linux checks none): the
 * hypervisor range is at most 0x40000000-0x4000FFFF (where Linux looks
 * for hypervisor signatures), the extended one 0x80000000-0x8000FFFF.
 */
#define SNP_CPUID_HYP_LIMIT 0x4000ffffU
#define SNP_CPUID_EXT_LIMIT 0x8000ffffU

/* The legacy (x87 + SSE) region and the XSAVE header: where every XSAVE area starts. */
#define SNP_XSAVE_LEGACY_SIZE 0x240U

struct snp_cpuid_leaf {
	u32 fn, subfn;
	u32 eax, ebx, ecx, edx;
};

/* Leaves whose ECX input selects a subleaf (Linux's cpuid_function_is_indexed()). */
bool snp_cpuid_function_is_indexed(u32 fn);

/*
 * Copy the CPUID page at @table_gpa to private memory and note its ranges.
 * Terminates (set 1 code 4) when the page cannot be read, is empty, has
 * more than 64 entries, or is inconsistent: leaf 0x0 missing, a range
 * leaf (0x0, 0x40000000, 0x80000000) twice, a range end outside its range
 * (or past the limits above), or an entry outside the range that holds
 * it. The last three are our checks, not Linux's.
 */
void snp_cpuid_setup(struct snp_sev *g, u64 table_gpa);

/*
 * Answer @leaf (fn and subfn set) from the table, with the guest's
 * post-processing; @ghcb NULL asks the hypervisor (for the APIC IDs) with
 * the MSR protocol, else through that GHCB. 0, -EOPNOTSUPP when there is
 * no table (SEV-ES without SNP: the caller asks the hypervisor), or
 * -EINVAL when the table cannot describe the XSAVE state in use (fatal
 * for the caller). A hypervisor that does not answer terminates the
 * guest (set 1 code 5).
 */
int snp_cpuid(struct snp_sev *g, struct snp_ghcb *ghcb, struct snp_cpuid_leaf *leaf);

/*
 * The #VC handler for CPUID (error code 0x72): through the registered
 * GHCB when there is one and it is free, else the early handler's MSR
 * protocol. Without a table the hypervisor answers. Anything else that
 * goes wrong terminates the guest (set 0 code 0), and so does the early
 * handler when the SEV leaves deny SEV (0x80000000 below 0x8000001F, or
 * 0x8000001F without the SEV bit), as Linux's do_vc_no_ghcb().
 */
void snp_cpuid_vc(struct snp_sev *g, struct snp_cpuid_leaf *leaf);

/*
 * Size of an XSAVE area holding the components in @xfeatures (XCR0 | XSS),
 * standard or compacted format, from the table's leaf 0xD subleaves 2..63;
 * 0 when the table lacks an enabled component.
 */
u32 snp_cpuid_calc_xsave_size(const struct snp_sev *g, u64 xfeatures, bool compacted);

#endif /* SNP_KERNEL_CPUID_H */
