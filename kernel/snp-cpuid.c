// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * CPUID from the SNP CPUID table (see snp-cpuid.h for what it answers and
 * when it terminates).
 */
#include "kernel/snp-cpuid.h"

bool snp_cpuid_function_is_indexed(u32 fn)
{
	switch (fn) {
	case 0x4:
	case 0x7:
	case 0xb:
	case 0xd:
	case 0xf:
	case 0x10:
	case 0x12:
	case 0x14:
	case 0x17:
	case 0x18:
	case 0x1d:
	case 0x1e:
	case 0x1f:
	case 0x24:
	case 0x8000001d:
		return true;
	}
	return false;
}

/* ---- the table --------------------------------------------------------------- */

static __noreturn void cpuid_table_fail(struct snp_sev *g, u64 info)
{
	snp_sev_terminate(g, SNP_TERM_SET_LINUX, SNP_TERM_CPUID, info);
}

void snp_cpuid_setup(struct snp_sev *g, u64 table_gpa)
{
	struct snp_cpuid_table *t = &g->cpuid_table;
	bool have_std = false, have_hyp = false, have_ext = false;
	u32 count, i;

	if (snp_cpu_read(table_gpa, t, sizeof(*t)) < 0)
		cpuid_table_fail(g, table_gpa);
	count = le32_to_cpu(t->count);
	if (!count || count > SNP_CPUID_COUNT_MAX) {
		t->count = 0;
		cpuid_table_fail(g, count);
	}

	g->cpuid_std_max = 0;
	g->cpuid_hyp_max = 0;
	g->cpuid_ext_max = 0;
	for (i = 0; i < count; i++) {
		const struct snp_cpuid_fn *e = &t->fn[i];
		u32 fn = le32_to_cpu(e->eax_in), max = le32_to_cpu(e->eax);
		bool *have = NULL;

		if (fn == 0) {
			have = &have_std;
			g->cpuid_std_max = max;
		} else if (fn == SNP_CPUID_HYP_BASE) {
			have = &have_hyp;
			g->cpuid_hyp_max = max;
		} else if (fn == SNP_CPUID_EXT_BASE) {
			have = &have_ext;
			g->cpuid_ext_max = max;
		}
		/* Linux would look entries up in the first and range-check with the last. */
		if (have && *have)
			goto bad;
		if (have)
			*have = true;
	}
	/* Without leaf 0x0 there is no vendor and no standard range. */
	if (!have_std || g->cpuid_std_max >= SNP_CPUID_HYP_BASE)
		goto bad;
	if (have_hyp &&
	    (g->cpuid_hyp_max < SNP_CPUID_HYP_BASE || g->cpuid_hyp_max > SNP_CPUID_HYP_LIMIT))
		goto bad;
	if (have_ext &&
	    (g->cpuid_ext_max < SNP_CPUID_EXT_BASE || g->cpuid_ext_max > SNP_CPUID_EXT_LIMIT))
		goto bad;
	/* Every entry inside the range that its range leaf declares. */
	for (i = 0; i < count; i++) {
		u32 fn = le32_to_cpu(t->fn[i].eax_in);

		if (fn <= g->cpuid_std_max)
			continue;
		if (have_hyp && fn >= SNP_CPUID_HYP_BASE && fn <= g->cpuid_hyp_max)
			continue;
		if (have_ext && fn >= SNP_CPUID_EXT_BASE && fn <= g->cpuid_ext_max)
			continue;
		g->cpuid_std_max = g->cpuid_hyp_max = g->cpuid_ext_max = 0;
		t->count = 0;
		cpuid_table_fail(g, fn);
	}
	return;
bad:
	g->cpuid_std_max = g->cpuid_hyp_max = g->cpuid_ext_max = 0;
	t->count = 0;
	cpuid_table_fail(g, table_gpa);
}

static bool cpuid_in_range(const struct snp_sev *g, u32 fn)
{
	return fn <= g->cpuid_std_max || (fn >= SNP_CPUID_HYP_BASE && fn <= g->cpuid_hyp_max) ||
	       (fn >= SNP_CPUID_EXT_BASE && fn <= g->cpuid_ext_max);
}

/* The table's entry for @leaf, if any; for 0xD.0/0xD.1 only the legacy-area one. */
static bool table_lookup(const struct snp_sev *g, struct snp_cpuid_leaf *leaf)
{
	const struct snp_cpuid_table *t = &g->cpuid_table;
	u32 count = le32_to_cpu(t->count), i;

	for (i = 0; i < count; i++) {
		const struct snp_cpuid_fn *e = &t->fn[i];
		u32 ecx_in = le32_to_cpu(e->ecx_in);

		if (le32_to_cpu(e->eax_in) != leaf->fn)
			continue;
		if (snp_cpuid_function_is_indexed(leaf->fn) && ecx_in != leaf->subfn)
			continue;
		/*
		 * A table may hold 0xD.0 and 0xD.1 once per XCR0/XSS combination;
		 * only the entry for the legacy area (XCR0 1 or 3, XSS 0) is used
		 * and the size computed (snp_cpuid_calc_xsave_size()).
		 */
		if (leaf->fn == 0xd && (ecx_in == 0 || ecx_in == 1) &&
		    ((le64_to_cpu(e->xcr0_in) != 1 && le64_to_cpu(e->xcr0_in) != 3) ||
		     le64_to_cpu(e->xss_in)))
			continue;
		leaf->eax = le32_to_cpu(e->eax);
		leaf->ebx = le32_to_cpu(e->ebx);
		leaf->ecx = le32_to_cpu(e->ecx);
		leaf->edx = le32_to_cpu(e->edx);
		return true;
	}
	return false;
}

u32 snp_cpuid_calc_xsave_size(const struct snp_sev *g, u64 xfeatures, bool compacted)
{
	const struct snp_cpuid_table *t = &g->cpuid_table;
	u32 count = le32_to_cpu(t->count), i, size = SNP_XSAVE_LEGACY_SIZE;
	u64 found = 0;

	for (i = 0; i < count; i++) {
		const struct snp_cpuid_fn *e = &t->fn[i];
		u32 comp = le32_to_cpu(e->ecx_in);
		u32 csize = le32_to_cpu(e->eax), offset = le32_to_cpu(e->ebx);

		/* Components 0 and 1 are the legacy area; the first entry of each counts. */
		if (le32_to_cpu(e->eax_in) != 0xd || comp < 2 || comp > 63)
			continue;
		if (!(xfeatures & BIT_ULL(comp)) || (found & BIT_ULL(comp)))
			continue;
		found |= BIT_ULL(comp);
		if (compacted)
			size += csize;
		else if (offset + csize > size)
			size = offset + csize;
	}
	/* An enabled component the table does not describe: no size to give. */
	if (found != (xfeatures & GENMASK_ULL(63, 2)))
		return 0;
	return size;
}

/* ---- asking the hypervisor ---------------------------------------------------- */

static u64 cpuid_msr_call(struct snp_sev *g, u64 req)
{
	g->stats.msr_exits++;
	snp_cpu_wrmsr(SNP_MSR_GHCB, req);
	snp_cpu_vmgexit();
	return snp_cpu_rdmsr(SNP_MSR_GHCB);
}

static int cpuid_hv_msr(struct snp_sev *g, struct snp_cpuid_leaf *leaf)
{
	u32 *regs[4] = { &leaf->eax, &leaf->ebx, &leaf->ecx, &leaf->edx };
	unsigned int r;

	/* The MSR protocol has no subleaf: never take subleaf 0's answer for another. */
	if (snp_cpuid_function_is_indexed(leaf->fn) && leaf->subfn)
		return -EINVAL;
	for (r = SNP_CPUID_REQ_EAX; r <= SNP_CPUID_REQ_EDX; r++) {
		u64 v = cpuid_msr_call(g, SNP_GHCB_MSR_CPUID(leaf->fn, r));

		if (SNP_GHCB_MSR_INFO(v) != SNP_GHCB_MSR_CPUID_RESP)
			return -EIO;
		*regs[r] = SNP_GHCB_MSR_CPUID_VALUE(v);
	}
	return 0;
}

static u64 guest_xcr0(void)
{
	/* XGETBV faults without CR4.OSXSAVE: XCR0 then has its reset value. */
	if (snp_cpu_read_cr4() & SNP_CR4_OSXSAVE)
		return snp_cpu_xgetbv(0);
	return 1;
}

static int cpuid_hv_ghcb(struct snp_sev *g, struct snp_ghcb *ghcb, struct snp_cpuid_leaf *leaf)
{
	u8 valid[sizeof(ghcb->valid_bitmap)];
	u64 info1, rax, rbx, rcx, rdx;

	/* One GHCB, the registered one, and no nested use of it. */
	if (ghcb != g->ghcb || g->ghcb_busy)
		return -EBUSY;
	g->ghcb_busy = true;
	snp_sev_ghcb_prepare(g, SNP_EXIT_CPUID, 0, 0);
	ghcb->rax = cpu_to_le64(leaf->fn);
	ghcb->rcx = cpu_to_le64(leaf->subfn);
	ghcb->xcr0 = cpu_to_le64(guest_xcr0());
	SNP_GHCB_SET_VALID(ghcb, rax);
	SNP_GHCB_SET_VALID(ghcb, rcx);
	SNP_GHCB_SET_VALID(ghcb, xcr0);
	snp_sev_ghcb_exit(g);

	/* Shared memory: everything read once, into private copies. */
	info1 = le64_to_cpu(READ_ONCE(ghcb->sw_exit_info_1));
	memcpy(valid, ghcb->valid_bitmap, sizeof(valid));
	rax = le64_to_cpu(READ_ONCE(ghcb->rax));
	rbx = le64_to_cpu(READ_ONCE(ghcb->rbx));
	rcx = le64_to_cpu(READ_ONCE(ghcb->rcx));
	rdx = le64_to_cpu(READ_ONCE(ghcb->rdx));
	g->ghcb_busy = false;

	if ((u32)info1 != SNP_GHCB_RESULT_OK)
		return -EIO;
#define VALID(field)                                                                               \
	(valid[SNP_GHCB_FIELD_BIT(field) / 8] & (1U << (SNP_GHCB_FIELD_BIT(field) % 8)))
	if (!(VALID(rax) && VALID(rbx) && VALID(rcx) && VALID(rdx)))
		return -EIO;
#undef VALID
	leaf->eax = (u32)rax;
	leaf->ebx = (u32)rbx;
	leaf->ecx = (u32)rcx;
	leaf->edx = (u32)rdx;
	return 0;
}

static int cpuid_hv(struct snp_sev *g, struct snp_ghcb *ghcb, struct snp_cpuid_leaf *leaf)
{
	return ghcb ? cpuid_hv_ghcb(g, ghcb, leaf) : cpuid_hv_msr(g, leaf);
}

/* With a table, the hypervisor is asked only for APIC IDs: it must answer. */
static void snp_cpuid_hv(struct snp_sev *g, struct snp_ghcb *ghcb, struct snp_cpuid_leaf *leaf)
{
	g->stats.cpuid_hv++;
	if (cpuid_hv(g, ghcb, leaf))
		snp_sev_terminate(g, SNP_TERM_SET_LINUX, SNP_TERM_CPUID_HV, leaf->fn);
}

/* ---- the answer -------------------------------------------------------------- */

static int xsave_postprocess(struct snp_sev *g, struct snp_cpuid_leaf *leaf)
{
	bool compacted = false;
	u64 xcr0, xss = 0;
	u32 size;

	if (leaf->subfn != 0 && leaf->subfn != 1)
		return 0;
	xcr0 = guest_xcr0();
	if (leaf->subfn == 1) {
		/* XSS is in use only with XSAVES (0xD.1 EAX bit 3). */
		if (leaf->eax & BIT(3))
			xss = snp_cpu_rdmsr(SNP_MSR_IA32_XSS);
		/*
		 * 0xD.1 EBX is the compacted size; without XSAVEC (bit 1) or
		 * XSAVES there is no compacted format, and SNP hardware always
		 * has them: a table without both is refused, as Linux does.
		 */
		if (!(leaf->eax & (BIT(1) | BIT(3))))
			return -EINVAL;
		compacted = true;
	}
	size = snp_cpuid_calc_xsave_size(g, xcr0 | xss, compacted);
	if (!size)
		return -EINVAL;
	leaf->ebx = size;
	return 0;
}

static int cpuid_postprocess(struct snp_sev *g, struct snp_ghcb *ghcb, struct snp_cpuid_leaf *leaf)
{
	struct snp_cpuid_leaf hv = *leaf;

	switch (leaf->fn) {
	case 0x1:
		snp_cpuid_hv(g, ghcb, &hv);
		/* initial APIC ID, and the APIC enabled bit */
		leaf->ebx = (hv.ebx & GENMASK(31, 24)) | (leaf->ebx & GENMASK(23, 0));
		leaf->edx = (hv.edx & BIT(9)) | (leaf->edx & ~BIT(9));
		if (snp_cpu_read_cr4() & SNP_CR4_OSXSAVE)
			leaf->ecx |= BIT(27);
		break;
	case 0x7:
		/* OSPKE */
		leaf->ecx &= ~BIT(4);
		if (snp_cpu_read_cr4() & SNP_CR4_PKE)
			leaf->ecx |= BIT(4);
		break;
	case 0xb:
		/* the x2APIC ID (of subleaf 0: the MSR protocol has no other) */
		hv.subfn = 0;
		snp_cpuid_hv(g, ghcb, &hv);
		leaf->edx = hv.edx;
		break;
	case 0xd:
		return xsave_postprocess(g, leaf);
	case 0x8000001e:
		snp_cpuid_hv(g, ghcb, &hv);
		/* extended APIC ID; compute unit and node IDs in bits 7:0 */
		leaf->eax = hv.eax;
		leaf->ebx = (leaf->ebx & GENMASK(31, 8)) | (hv.ebx & GENMASK(7, 0));
		leaf->ecx = (leaf->ecx & GENMASK(31, 8)) | (hv.ecx & GENMASK(7, 0));
		break;
	default:
		break;
	}
	return 0;
}

int snp_cpuid(struct snp_sev *g, struct snp_ghcb *ghcb, struct snp_cpuid_leaf *leaf)
{
	if (!g->cpuid_table.count)
		return -EOPNOTSUPP;
	g->stats.cpuid_table++;
	if (!table_lookup(g, leaf)) {
		/*
		 * Hypervisors leave all-zero leaves out of the table. Missing
		 * inside a range: zeros, then the same post-processing as a
		 * present leaf (APIC IDs, sizes). Outside every range: zeros.
		 * Never what the hypervisor would say.
		 */
		leaf->eax = leaf->ebx = leaf->ecx = leaf->edx = 0;
		if (!cpuid_in_range(g, leaf->fn))
			return 0;
	}
	return cpuid_postprocess(g, ghcb, leaf);
}

void snp_cpuid_vc(struct snp_sev *g, struct snp_cpuid_leaf *leaf)
{
	struct snp_ghcb *ghcb = g->ghcb && !g->ghcb_busy ? g->ghcb : NULL;
	u32 fn = leaf->fn;
	int r;

	r = snp_cpuid(g, ghcb, leaf);
	if (r == -EOPNOTSUPP)
		r = cpuid_hv(g, ghcb, leaf);
	if (r)
		snp_sev_terminate(g, SNP_TERM_SET_GEN, SNP_TERM_GEN_REQ, fn);
	/*
	 * The early handler runs only under SEV-ES, so SEV is on: leaves that
	 * say otherwise would lead the guest down the unencrypted path.
	 */
	if (!ghcb && ((fn == SNP_CPUID_EXT_BASE && leaf->eax < 0x8000001f) ||
		      (fn == 0x8000001f && !(leaf->eax & BIT(1)))))
		snp_sev_terminate(g, SNP_TERM_SET_GEN, SNP_TERM_GEN_REQ, fn);
}
