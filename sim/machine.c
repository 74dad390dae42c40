// SPDX-License-Identifier: Apache-2.0
/*
 * The simulated SEV-SNP machine under the guest's memory (snp-abi.md §8).
 *
 * Memory: guest RAM is GPA [0, ram_size), 4 KiB pages. It is backed by
 * system pages (SPA pfns): nr_gpa of them plus spare_pages more that the
 * hypervisor uses to remap a guest page. The nested page table (npt) maps
 * each GPA pfn to one SPA pfn, identity at first; it stays injective. Each
 * system page has an RMP entry (struct sim_rmp_entry, Milan/Genoa layout)
 * and contents (allocated on first write; a page never written reads as
 * zeros). The guest's page tables are one C-bit per GPA page, all private
 * (C=1) at first; guest virtual addresses are GPAs (the early identity map).
 *
 * Hardware, as the guest sees it through snp_cpu_*() (sim/kshim/: while
 * sim_machine_run() runs guest code, the machine is the thread's vCPU):
 *  - a private access (C=1) to a page whose RMP entry is not assigned to
 *    this GPA is a nested page fault; a shared access (C=0) to an assigned
 *    page also. The hypervisor resolves one case, as KVM with guest_memfd
 *    does: a private access to an unassigned page the guest never made
 *    shared is backed on demand (assigned, not validated), so the guest
 *    sees #VC 0x404 next. Any other such fault stops the run.
 *  - a private access to an assigned, unvalidated page raises #VC 0x404 to
 *    the registered handler; after three handler calls the run stops.
 *  - PVALIDATE and RMPADJUST check and change the RMP entries.
 *
 * The hypervisor: answers the GHCB MSR protocol and NAE exits for page
 * state changes (RMPUPDATE; 2M RMP entries when the backing is 2M aligned
 * and contiguous), hypervisor features and termination. Guest requests
 * (0x80000011/12) go to sim/hypervisor.c and the simulated firmware once
 * sim_machine_attach_fw() gave it one (before that: an invalid event).
 * sim_hv works on host pointers into the one area it was given, so the
 * machine relays: it checks that the guest's request, response and
 * certificate pages are shared (a hypervisor cannot read or write private
 * memory), copies them into a bounce struct snp_guest_shared, runs
 * sim_hv_vmgexit() on the bounce GHCB and copies the pages and the answer
 * (SW_EXITINFO1/2, RBX) back. It can misbehave (enum sim_attack) and a
 * fuzzer can change each of its answers.
 *
 * Modelling choices (not facts from snp-abi.md):
 *  - PVALIDATE on a page whose RMP entry is not assigned to the guest at
 *    that GPA returns FAIL_INPUT. The APM behaviour is not in snp-abi.md;
 *    real hardware may raise #NPF to the hypervisor instead. Either way
 *    nothing is validated.
 *  - Contents are scrambled when RMPUPDATE moves a page between shared and
 *    private (they were encrypted under the other view); remap copies the
 *    old page's bytes as they are (a replay of the ciphertext).
 *  - A 4K PVALIDATE of a page inside a 2M RMP entry: the hardware takes an
 *    RMP #NPF for the size mismatch; we do what a KVM-like hypervisor does
 *    (PSMASH the 2M entry) and resume, so the PVALIDATE proceeds.
 *  - RMPUPDATE of a 4K page inside a 2M RMP entry PSMASHes it first, as KVM
 *    does. A 2M page state change falls back to 512 4K RMPUPDATEs when the
 *    backing is not 2M aligned and contiguous (or cfg.psc_4k_only).
 *  - CPUID (MSR protocol and NAE exit 0x72) is answered from the CPUID page
 *    the launch gave it (sim_machine_set_cpuid()), APIC ID 0, not from a
 *    model of the host; AP reset hold releases at once; RMPADJUST ignores
 *    the VMSA bit.
 *  - A page state change header error answers SW_EXITINFO2 = 1 << 32 | 1,
 *    an entry error 1 << 32 | 2 (cur_entry left at the bad entry). A 4K
 *    entry whose cur_page is already 1 is taken as done.
 *  - cfg.psc_max_pages is a budget of 4K pages of 2M entries per exit.
 *  - A #VC handler that faults again nests; beyond SIM_VC_MAX_DEPTH levels
 *    the run stops (the real guest would overflow its #VC stack).
 *  - The machine is a thread's vCPU only inside sim_machine_run(): guest
 *    code calling snp_cpu_*() outside a run finds no vCPU and aborts the
 *    process, as does a stop (halt, termination, a fault the hypervisor
 *    cannot resolve) with no run to return to.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "kernel/snp-cpuid.h"
#include "kshim-vcpu.h"
#include "sim/machine.h"
#include "sim/sim.h"

#define PAGE_SIZE     4096ULL
#define PAGE_SHIFT    12
#define PAGE_MASK     (PAGE_SIZE - 1)
#define PMD_PAGES     512U
#define DEFAULT_SPARE 64U

/* #VC 0x404: handler calls per access, and nesting depth, before the run stops. */
#define SIM_VC_MAX_CALLS 3
#define SIM_VC_MAX_DEPTH 8

/* SW_EXITINFO2 of a failed page state change (SW_EXITINFO1 stays 0). */
#define PSC_ERR_HEADER (0x100000000ULL | 1)
#define PSC_ERR_ENTRY  (0x100000000ULL | 2)

/* Register GHCB GPA answer for a GFN the guest cannot have asked for. */
#define REG_GPA_BAD_GFN 0xfffffffffffULL

struct sim_machine {
	struct sim_machine_cfg cfg;  /* defaults applied */
	u64 nr_gpa;		     /* guest pages */
	u64 nr_spa;		     /* system pages: nr_gpa + spare */
	u32 *npt;		     /* GPA pfn -> SPA pfn */
	struct sim_rmp_entry *rmp;   /* per SPA pfn */
	u8 **content;		     /* per SPA pfn, PAGE_SIZE bytes or NULL (zeros) */
	u16 *validations, *rescinds; /* per GPA pfn, saturating */
	u64 *c_clear;		     /* per GPA pfn: bit set = PTE has C=0 (shared) */
	u64 *hv_shared;		     /* per GPA pfn: bit set = the guest converted it to shared */
	u64 next_spare;		     /* next unused SPA pfn for sim_machine_remap() */

	u64 ghcb_msr;
	bool ghcb_registered;
	u64 ghcb_gpa;
	u64 msr_psc_count; /* for SIM_ATTACK_PSC_PARTIAL */
	u64 scramble_key;  /* per machine: the host cannot choose what a conversion leaves */
	struct snp_cpuid_table cpuid; /* the hypervisor's CPUID (sim_machine_set_cpuid()) */

	struct sim_machine_stats stats;

	void (*vc_fn)(void *ctx, u64 error_code, u64 fault_addr);
	void *vc_ctx;
	unsigned int vc_depth;

	size_t (*take)(void *ud, void *buf, size_t len);
	void *take_ud;

	/* guest requests: NULL until sim_machine_attach_fw() */
	struct sim_hv *hv;
	struct snp_guest_shared *bounce; /* the only memory hv may touch; page aligned */

	bool running;
	struct kshim_vcpu vcpu;	      /* what snp_cpu_*() act on during a run */
	struct kshim_vcpu *prev_vcpu; /* the thread's vCPU before the run */
	jmp_buf jb;
	struct sim_run_exit exit;
};

/* ---- leaving the guest ------------------------------------------------- */

static __attribute__((noreturn, format(printf, 4, 5))) void
machine_stop(struct sim_machine *m, enum sim_run_result result, u64 gpa, const char *fmt, ...)
{
	va_list ap;

	m->exit.result = result;
	m->exit.gpa = gpa;
	va_start(ap, fmt);
	vsnprintf(m->exit.why, sizeof(m->exit.why), fmt, ap);
	va_end(ap);
	if (!m->running) {
		fprintf(stderr, "sim machine: %s (outside sim_machine_run)\n", m->exit.why);
		abort();
	}
	longjmp(m->jb, 1);
}

/* ---- pages, page tables, RMP ------------------------------------------- */

static u8 *content_page(struct sim_machine *m, u32 spa)
{
	if (!m->content[spa])
		m->content[spa] = calloc(1, PAGE_SIZE);
	return m->content[spa];
}

/* Allocating, inside a run: out of memory stops it. */
static u8 *run_content_page(struct sim_machine *m, u32 spa, u64 gpa)
{
	u8 *p = content_page(m, spa);

	if (!p)
		machine_stop(m, SIM_RUN_HV_STOPPED, gpa, "out of memory for GPA 0x%llx",
			     (unsigned long long)gpa);
	return p;
}

/* One bit per GPA page. */
static bool bit_test(const u64 *map, u64 n)
{
	return map[n / 64] & (1ULL << (n % 64));
}

static void bit_assign(u64 *map, u64 n, bool set)
{
	if (set)
		map[n / 64] |= 1ULL << (n % 64);
	else
		map[n / 64] &= ~(1ULL << (n % 64));
}

static bool pte_private(const struct sim_machine *m, u64 gfn)
{
	return !bit_test(m->c_clear, gfn);
}

static void pte_set(struct sim_machine *m, u64 gfn, bool enc)
{
	bit_assign(m->c_clear, gfn, !enc);
}

/* What the hypervisor believes the guest wants the page to be (its last page state change). */
static bool hv_wants_private(const struct sim_machine *m, u64 gfn)
{
	return !bit_test(m->hv_shared, gfn);
}

static void hv_note_state(struct sim_machine *m, u64 gfn, bool private)
{
	bit_assign(m->hv_shared, gfn, !private);
}

static void count_inc(u16 *c)
{
	if (*c != UINT16_MAX)
		(*c)++;
}

static u64 rmp_lo(u64 gfn)
{
	return SIM_RMP_ASSIGNED | ((gfn << PAGE_SHIFT) & SIM_RMP_GPA_MASK) |
	       ((u64)SIM_GUEST_ASID << SIM_RMP_ASID_SHIFT);
}

/* Assigned to the guest at this GPA. */
static bool rmp_owned(const struct sim_rmp_entry *e, u64 gfn)
{
	return (e->lo & SIM_RMP_ASSIGNED) &&
	       (e->lo & SIM_RMP_GPA_MASK) == ((gfn << PAGE_SHIFT) & SIM_RMP_GPA_MASK) &&
	       ((e->lo & SIM_RMP_ASID_MASK) >> SIM_RMP_ASID_SHIFT) == SIM_GUEST_ASID;
}

static void rmp_set(struct sim_rmp_entry *e, u64 lo)
{
	e->lo = lo;
	memset(e->vmpl_perms, 0, sizeof(e->vmpl_perms));
}

/* PSMASH the 2M RMP page holding @spa, if it is one: 512 4K entries, Validated kept. */
static void rmp_psmash(struct sim_machine *m, u64 spa)
{
	u64 base = spa & ~(u64)(PMD_PAGES - 1);

	if (!(m->rmp[spa].lo & SIM_RMP_PAGESIZE))
		return;
	for (u64 i = 0; i < PMD_PAGES && base + i < m->nr_spa; i++)
		m->rmp[base + i].lo &= ~SIM_RMP_PAGESIZE;
	m->stats.psmash++;
}

/*
 * Memory is encrypted with the guest's key only while it is private: what
 * was written under one view reads as noise under the other. Model that
 * by scrambling the contents whenever a page changes sides.
 */
static void scramble(struct sim_machine *m, u32 spa, u64 gfn)
{
	u8 *p = m->content[spa];

	if (!p)
		return;
	for (size_t i = 0; i < PAGE_SIZE; i++)
		p[i] ^= (u8)((m->scramble_key >> ((i % 8) * 8)) ^ (gfn * 131 + i * 7));
}

/* The page backing @gfn is already as a page state change asks. */
static bool rmp_already(const struct sim_machine *m, u64 gfn, bool private)
{
	const struct sim_rmp_entry *e = &m->rmp[m->npt[gfn]];

	return private ? rmp_owned(e, gfn) : !(e->lo & SIM_RMP_ASSIGNED);
}

/*
 * RMPUPDATE of the page backing @gfn. Like KVM, an honest hypervisor leaves
 * a page that is already in the requested state alone (a private page
 * keeps its Validated bit; the guest's PVALIDATE then reports no change).
 */
static void rmp_update_4k(struct sim_machine *m, u64 gfn, bool private)
{
	u32 spa = m->npt[gfn];

	if (rmp_already(m, gfn, private)) {
		hv_note_state(m, gfn, private);
		return;
	}
	if (!!(m->rmp[spa].lo & SIM_RMP_ASSIGNED) != private)
		scramble(m, spa, gfn);
	rmp_psmash(m, spa);
	rmp_set(&m->rmp[spa], private ? rmp_lo(gfn) : 0);
	hv_note_state(m, gfn, private);
	m->stats.rmpupdates++;
}

/* RMPUPDATE of the 2M GPA range at @gfn (512 aligned, inside RAM). */
static void rmp_update_2m(struct sim_machine *m, u64 gfn, bool private)
{
	u32 base = m->npt[gfn];
	bool contig = !(base % PMD_PAGES), some = false;

	/* Pages already as asked stay as they are: 4K updates for the rest. */
	for (u32 i = 0; !some && i < PMD_PAGES; i++)
		some = rmp_already(m, gfn + i, private);
	for (u32 i = 1; contig && i < PMD_PAGES; i++)
		contig = m->npt[gfn + i] == base + i;
	if (some || !contig || (private && m->cfg.psc_4k_only)) {
		for (u32 i = 0; i < PMD_PAGES; i++)
			rmp_update_4k(m, gfn + i, private);
		return;
	}
	for (u32 i = 0; i < PMD_PAGES; i++) {
		if (!!(m->rmp[base + i].lo & SIM_RMP_ASSIGNED) != private)
			scramble(m, base + i, gfn + i);
		rmp_set(&m->rmp[base + i], private ? rmp_lo(gfn + i) | SIM_RMP_PAGESIZE : 0);
		hv_note_state(m, gfn + i, private);
		m->stats.rmpupdates++;
	}
}

/* The hypervisor clears Validated of an assigned page in place. */
static bool hv_unvalidate(struct sim_machine *m, u64 gfn)
{
	u32 spa = m->npt[gfn];

	if (!(m->rmp[spa].lo & SIM_RMP_ASSIGNED))
		return false;
	rmp_psmash(m, spa);
	m->rmp[spa].lo &= ~SIM_RMP_VALIDATED;
	return true;
}

/* ---- the fuzzer -------------------------------------------------------- */

static bool take(struct sim_machine *m, void *buf, size_t len)
{
	return m->take && m->take(m->take_ud, buf, len) == len;
}

/* 0: keep; 1..3: XOR 8 bytes in; 4: replace by 8 bytes; other: keep. */
static void mutate_u64(struct sim_machine *m, u64 *v)
{
	u8 how, b[8];

	if (!take(m, &how, 1) || !how || how > 4 || !take(m, b, sizeof(b)))
		return;
	if (how == 4)
		*v = snp_get_le64(b);
	else
		*v ^= snp_get_le64(b);
}

/* Per VMGEXIT: 0xff then 4 bytes = unvalidate that guest page behind the guest's back. */
static void mutate_exit(struct sim_machine *m)
{
	u8 b, pfn[4];

	if (take(m, &b, 1) && b == 0xff && take(m, pfn, sizeof(pfn)))
		hv_unvalidate(m, snp_get_le32(pfn) % m->nr_gpa);
}

/* ---- vCPU: MSRs, page tables, memory access ---------------------------- */

static u64 cpu_rdmsr(void *priv, u32 msr)
{
	struct sim_machine *m = priv;

	switch (msr) {
	case SNP_MSR_SEV_STATUS:
		return m->cfg.sev_status;
	case SNP_MSR_GHCB:
		return m->ghcb_msr;
	case SNP_MSR_IA32_XSS:
		return m->cfg.xss;
	default:
		return 0;
	}
}

static u64 cpu_read_cr4(void *priv)
{
	struct sim_machine *m = priv;

	return m->cfg.no_osxsave ? 0 : SNP_CR4_OSXSAVE;
}

static u64 cpu_xgetbv(void *priv, u32 xcr)
{
	struct sim_machine *m = priv;

	/* #UD without CR4.OSXSAVE: a guest bug, nowhere to deliver it */
	if (m->cfg.no_osxsave || xcr != 0)
		machine_stop(m, SIM_RUN_HV_STOPPED, 0, "XGETBV %u faulted", xcr);
	return m->cfg.xcr0;
}

static void cpu_wrmsr(void *priv, u32 msr, u64 val)
{
	struct sim_machine *m = priv;

	if (msr == SNP_MSR_GHCB)
		m->ghcb_msr = val;
}

static int cpu_set_c_bit(void *priv, u64 vaddr, u64 npages, bool encrypted)
{
	struct sim_machine *m = priv;
	u64 gfn = vaddr >> PAGE_SHIFT;

	if (gfn >= m->nr_gpa)
		return 0;
	if (npages > m->nr_gpa - gfn)
		npages = m->nr_gpa - gfn;
	for (u64 i = 0; i < npages; i++)
		pte_set(m, gfn + i, encrypted);
	return 0;
}

static void raise_vc_404(struct sim_machine *m, u64 gpa)
{
	m->stats.vc_404++;
	if (!m->vc_fn)
		machine_stop(m, SIM_RUN_HV_STOPPED, gpa,
			     "#VC 0x404 at GPA 0x%llx with no #VC handler",
			     (unsigned long long)gpa);
	if (m->vc_depth >= SIM_VC_MAX_DEPTH)
		machine_stop(m, SIM_RUN_HV_STOPPED, gpa, "#VC 0x404 at GPA 0x%llx nested too deep",
			     (unsigned long long)gpa);
	m->vc_depth++;
	m->vc_fn(m->vc_ctx, SNP_EXIT_PAGE_NOT_VALIDATED, gpa);
	m->vc_depth--;
}

/* An RMP check failed; the hypervisor cannot resolve it in this model. */
static __attribute__((noreturn)) void nested_page_fault(struct sim_machine *m, u64 gpa,
							bool private)
{
	m->stats.npf++;
	if (private)
		machine_stop(
			m, SIM_RUN_HV_STOPPED, gpa,
			"nested page fault: private access to GPA 0x%llx that the RMP does not assign to the guest",
			(unsigned long long)gpa);
	machine_stop(m, SIM_RUN_HV_STOPPED, gpa,
		     "nested page fault: shared access to private GPA 0x%llx",
		     (unsigned long long)gpa);
}

/*
 * The system page a guest access to @gpa (in RAM) reaches, after the RMP
 * checks and any #VC; stops the run on a fault nobody can resolve.
 */
static u32 guest_translate(struct sim_machine *m, u64 gpa)
{
	u64 gfn = gpa >> PAGE_SHIFT, page = gpa & ~PAGE_MASK;
	unsigned int calls = 0;

	for (;;) {
		u32 spa = m->npt[gfn];
		const struct sim_rmp_entry *e = &m->rmp[spa];

		if (!pte_private(m, gfn)) {
			if (!(e->lo & SIM_RMP_ASSIGNED))
				return spa;
			nested_page_fault(m, gpa, false);
		}
		if (!rmp_owned(e, gfn)) {
			/*
			 * Guest memory is private unless the guest converted it:
			 * like KVM with guest_memfd, an honest hypervisor backs a
			 * private access to a page nobody assigned yet on demand
			 * (RMPUPDATE: assigned, not validated) and resumes; the
			 * guest then takes #VC 0x404. (The psc-* attacks keep
			 * this: they misbehave in page state changes only.)
			 */
			if (!(e->lo & SIM_RMP_ASSIGNED) && hv_wants_private(m, gfn)) {
				m->stats.npf++;
				rmp_update_4k(m, gfn, true);
				continue;
			}
			nested_page_fault(m, gpa, true);
		}
		if (e->lo & SIM_RMP_VALIDATED)
			return spa;
		if (calls == SIM_VC_MAX_CALLS)
			machine_stop(m, SIM_RUN_HV_STOPPED, gpa, "#VC 0x404 loop at GPA 0x%llx",
				     (unsigned long long)gpa);
		calls++;
		raise_vc_404(m, page);
	}
}

static int guest_access(struct sim_machine *m, u64 vaddr, void *rbuf, const void *wbuf, size_t len)
{
	size_t done = 0;

	if (len && !rbuf && !wbuf)
		return -EFAULT;
	while (done < len) {
		u64 gpa = vaddr + done, off = gpa & PAGE_MASK;
		size_t n = len - done;
		u32 spa;

		if (gpa < vaddr || gpa >= m->cfg.ram_size)
			return -EFAULT;
		if (n > PAGE_SIZE - off)
			n = (size_t)(PAGE_SIZE - off);
		spa = guest_translate(m, gpa);
		if (wbuf) {
			memcpy(run_content_page(m, spa, gpa) + off, (const u8 *)wbuf + done, n);
		} else if (m->content[spa]) {
			memcpy((u8 *)rbuf + done, m->content[spa] + off, n);
		} else {
			memset((u8 *)rbuf + done, 0, n);
		}
		done += n;
	}
	return 0;
}

static int cpu_read(void *priv, u64 vaddr, void *buf, size_t len)
{
	return guest_access(priv, vaddr, buf, NULL, len);
}

static int cpu_write(void *priv, u64 vaddr, const void *buf, size_t len)
{
	return guest_access(priv, vaddr, NULL, buf, len);
}

static void *cpu_shared_page(void *priv, u64 gpa)
{
	struct sim_machine *m = priv;

	if ((gpa & PAGE_MASK) || gpa >= m->cfg.ram_size)
		return NULL;
	return run_content_page(m, m->npt[gpa >> PAGE_SHIFT], gpa);
}

static void cpu_halt(void *priv)
{
	machine_stop(priv, SIM_RUN_HV_STOPPED, 0, "guest halted");
}

/* ---- PVALIDATE, RMPADJUST ---------------------------------------------- */

/* [vaddr, +size of psize) page aligned and inside RAM. */
static bool range_ok(const struct sim_machine *m, u64 vaddr, int psize)
{
	u64 size = psize == SNP_RMP_PG_SIZE_2M ? SNP_PMD_SIZE : PAGE_SIZE;

	if (psize != SNP_RMP_PG_SIZE_4K && psize != SNP_RMP_PG_SIZE_2M)
		return false;
	return !(vaddr & (size - 1)) && vaddr < m->cfg.ram_size && size <= m->cfg.ram_size - vaddr;
}

static void set_validated(struct sim_machine *m, u64 gfn, bool validate)
{
	struct sim_rmp_entry *e = &m->rmp[m->npt[gfn]];

	if (!!(e->lo & SIM_RMP_VALIDATED) == validate)
		return;
	if (validate) {
		e->lo |= SIM_RMP_VALIDATED;
		count_inc(&m->validations[gfn]);
		m->stats.validated_pages++;
	} else {
		e->lo &= ~SIM_RMP_VALIDATED;
		count_inc(&m->rescinds[gfn]);
		m->stats.rescinded_pages++;
	}
}

static int do_pvalidate(struct sim_machine *m, u64 vaddr, int psize, bool validate, bool *cf)
{
	u64 gfn = vaddr >> PAGE_SHIFT;
	struct sim_rmp_entry *e;

	if (psize == SNP_RMP_PG_SIZE_4K)
		m->stats.pvalidate_4k++;
	else if (psize == SNP_RMP_PG_SIZE_2M)
		m->stats.pvalidate_2m++;
	if (!range_ok(m, vaddr, psize))
		return SNP_PVALIDATE_FAIL_INPUT;
	e = &m->rmp[m->npt[gfn]];
	if (psize == SNP_RMP_PG_SIZE_4K) {
		if (!rmp_owned(e, gfn))
			return SNP_PVALIDATE_FAIL_INPUT;
		rmp_psmash(m, m->npt[gfn]);
		if (!!(e->lo & SIM_RMP_VALIDATED) == validate) {
			*cf = true;
			return SNP_PVALIDATE_SUCCESS;
		}
		set_validated(m, gfn, validate);
		return SNP_PVALIDATE_SUCCESS;
	}
	for (u32 i = 0; i < PMD_PAGES; i++)
		if (!rmp_owned(&m->rmp[m->npt[gfn + i]], gfn + i))
			return SNP_PVALIDATE_FAIL_INPUT;
	for (u32 i = 0; i < PMD_PAGES; i++) {
		if (!(m->rmp[m->npt[gfn + i]].lo & SIM_RMP_PAGESIZE)) {
			m->stats.size_mismatch++;
			return SNP_PVALIDATE_FAIL_SIZEMISMATCH;
		}
	}
	if (!!(e->lo & SIM_RMP_VALIDATED) == validate) {
		*cf = true;
		return SNP_PVALIDATE_SUCCESS;
	}
	for (u32 i = 0; i < PMD_PAGES; i++)
		set_validated(m, gfn + i, validate);
	return SNP_PVALIDATE_SUCCESS;
}

/* EAX, or Linux's FAIL_NOUPDATE when CF says nothing changed */
static int cpu_pvalidate(void *priv, u64 vaddr, int psize, bool validate)
{
	struct sim_machine *m = priv;
	bool cf = false;
	int r = do_pvalidate(m, vaddr, psize, validate, &cf);

	if (r)
		m->stats.pvalidate_failed++;
	return cf ? SNP_PVALIDATE_FAIL_NOUPDATE : r;
}

static int cpu_rmpadjust(void *priv, u64 vaddr, int psize, u64 attrs)
{
	struct sim_machine *m = priv;
	u64 target = attrs & 0xff, gfn = vaddr >> PAGE_SHIFT;
	u8 perms = (u8)(attrs >> 8);
	const struct sim_rmp_entry *e;
	u32 n;

	m->stats.rmpadjust++;
	if (target > 3)
		return SNP_RMPADJUST_FAIL_INPUT;
	if (target <= m->cfg.vmpl)
		return SNP_RMPADJUST_FAIL_PERMISSION;
	if (!range_ok(m, vaddr, psize))
		return SNP_RMPADJUST_FAIL_INPUT;
	e = &m->rmp[m->npt[gfn]];
	if (!rmp_owned(e, gfn) || !(e->lo & SIM_RMP_VALIDATED))
		return SNP_RMPADJUST_FAIL_INPUT;
	if ((psize == SNP_RMP_PG_SIZE_2M) != !!(e->lo & SIM_RMP_PAGESIZE))
		return SNP_RMPADJUST_FAIL_SIZEMISMATCH;
	n = psize == SNP_RMP_PG_SIZE_2M ? PMD_PAGES : 1;
	for (u32 i = 0; i < n; i++)
		m->rmp[m->npt[gfn + i]].vmpl_perms[target] = perms;
	return SNP_RMPADJUST_SUCCESS;
}

/* ---- the hypervisor: MSR protocol --------------------------------------- */

static u64 hv_features(const struct sim_machine *m)
{
	u64 f = m->cfg.hv_features;

	if (m->cfg.attack == SIM_ATTACK_NO_SNP)
		f &= ~SNP_HV_FT_SNP;
	return f;
}

static __attribute__((noreturn)) void terminate(struct sim_machine *m, u8 set, u8 code)
{
	m->exit.term_set = set;
	m->exit.term_code = code;
	machine_stop(m, SIM_RUN_TERMINATED, 0, "guest requested termination");
}

/* One page state change; the response. */
static u64 msr_psc(struct sim_machine *m, u64 v)
{
	u8 op = SNP_GHCB_MSR_PSC_REQ_OP(v);
	u64 gfn = SNP_GHCB_MSR_PSC_REQ_GFN(v);

	m->stats.psc_msr++;
	if ((op != SNP_PAGE_PRIVATE && op != SNP_PAGE_SHARED) || gfn >= m->nr_gpa)
		return SNP_GHCB_MSR_PSC_RESP | (1ULL << 32);
	if (m->cfg.attack == SIM_ATTACK_PSC_IGNORE)
		return v;
	if (m->cfg.attack != SIM_ATTACK_PSC_PARTIAL || !(m->msr_psc_count++ & 1))
		rmp_update_4k(m, gfn, op == SNP_PAGE_PRIVATE);
	return SNP_GHCB_MSR_PSC_RESP;
}

static void msr_exit(struct sim_machine *m, u64 v)
{
	u64 resp, gfn;

	m->stats.msr_exits++;
	switch (SNP_GHCB_MSR_INFO(v)) {
	case SNP_GHCB_MSR_SEV_INFO_REQ:
		if (m->cfg.attack == SIM_ATTACK_GHCB_V1)
			resp = SNP_GHCB_SEV_INFO(1, 1, m->cfg.cbit_pos);
		else
			resp = SNP_GHCB_SEV_INFO(m->cfg.ghcb_max, m->cfg.ghcb_min, m->cfg.cbit_pos);
		break;
	case SNP_GHCB_MSR_CPUID_REQ: {
		u32 regs[4];

		m->stats.cpuid_msr++;
		sim_machine_hv_cpuid(m, SNP_GHCB_MSR_CPUID_FN(v), 0, regs);
		resp = ((u64)regs[SNP_GHCB_MSR_CPUID_REG(v)] << 32) | SNP_GHCB_MSR_CPUID_RESP;
		break;
	}
	case SNP_GHCB_MSR_AP_RESET_HOLD_REQ:
		resp = SNP_GHCB_MSR_AP_RESET_HOLD_RESP | (1ULL << 12);
		break;
	case SNP_GHCB_MSR_REG_GPA_REQ:
		gfn = SNP_GHCB_MSR_GFN(v);
		if (gfn < m->nr_gpa) {
			m->ghcb_registered = true;
			m->ghcb_gpa = gfn << PAGE_SHIFT;
			resp = SNP_GHCB_MSR_REG_GPA_RESP | (gfn << 12);
		} else {
			resp = SNP_GHCB_MSR_REG_GPA_RESP | (REG_GPA_BAD_GFN << 12);
		}
		break;
	case SNP_GHCB_MSR_PSC_REQ:
		resp = msr_psc(m, v);
		break;
	case SNP_GHCB_MSR_HV_FT_REQ:
		resp = SNP_GHCB_MSR_HV_FT_RESP | (hv_features(m) << 12);
		break;
	case SNP_GHCB_MSR_TERM_REQ:
		terminate(m, SNP_GHCB_MSR_TERM_SET(v), SNP_GHCB_MSR_TERM_CODE(v));
	default:
		machine_stop(m, SIM_RUN_HV_STOPPED, 0, "unsupported MSR protocol request 0x%llx",
			     (unsigned long long)v);
	}
	mutate_u64(m, &resp);
	m->ghcb_msr = resp;
}

/* ---- the hypervisor: NAE page state change ----------------------------- */

static u64 psc_get(const struct snp_psc_desc *d, unsigned int i)
{
	return le64_to_cpu(d->entries[i]);
}

static void psc_put(struct snp_psc_desc *d, unsigned int i, u64 v)
{
	d->entries[i] = cpu_to_le64(v);
}

static bool psc_entry_ok(const struct sim_machine *m, u64 e)
{
	enum snp_page_op op = snp_psc_entry_op(e);
	u64 gfn = snp_psc_entry_gfn(e);
	bool huge = e & SNP_PSC_PAGESIZE_2M;

	if (e & SNP_PSC_RSVD_MASK)
		return false;
	if (op != SNP_PAGE_PRIVATE && op != SNP_PAGE_SHARED && op != SNP_PAGE_PSMASH)
		return false;
	if (gfn >= m->nr_gpa)
		return false;
	if (huge && ((gfn % PMD_PAGES) || m->nr_gpa - gfn < PMD_PAGES))
		return false;
	return snp_psc_entry_cur_page(e) <= (huge ? PMD_PAGES : 1);
}

static u64 psc_with_cur_page(u64 e, u32 cur_page)
{
	return (e & ~SNP_PSC_CUR_PAGE_MASK) | cur_page;
}

/* Valid entry @e cannot progress: it needs 4K pages of 2M entries and @budget is spent. */
static bool psc_entry_blocked(u64 e, u64 budget)
{
	return (e & SNP_PSC_PAGESIZE_2M) && snp_psc_entry_op(e) != SNP_PAGE_PSMASH &&
	       snp_psc_entry_cur_page(e) < PMD_PAGES && !budget;
}

/*
 * Carry out (part of) valid entry @i, charging 4K pages of 2M entries to
 * *budget (UINT64_MAX: no limit); write its progress back. True when done.
 */
static bool psc_do_entry(struct sim_machine *m, struct snp_psc_desc *d, unsigned int i, u64 *budget)
{
	u64 e = psc_get(d, i), gfn = snp_psc_entry_gfn(e);
	enum snp_page_op op = snp_psc_entry_op(e);
	bool huge = e & SNP_PSC_PAGESIZE_2M, private = op == SNP_PAGE_PRIVATE;
	u32 npages = huge ? PMD_PAGES : 1, cp = snp_psc_entry_cur_page(e);

	if (op == SNP_PAGE_PSMASH) {
		rmp_psmash(m, m->npt[gfn]);
		cp = npages;
	} else if (!huge) {
		if (!cp)
			rmp_update_4k(m, gfn, private);
		cp = 1;
	} else if (!cp && *budget >= PMD_PAGES) {
		rmp_update_2m(m, gfn, private);
		cp = PMD_PAGES;
		if (*budget != UINT64_MAX)
			*budget -= PMD_PAGES;
	} else {
		for (; cp < PMD_PAGES && *budget; cp++) {
			rmp_update_4k(m, gfn + cp, private);
			if (*budget != UINT64_MAX)
				(*budget)--;
		}
	}
	psc_put(d, i, psc_with_cur_page(e, cp));
	return cp == npages;
}

/*
 * Entries [cur, end] of a header already checked. Returns SW_EXITINFO2;
 * *last = the last entry index touched (or cur - 1 for none).
 */
static u64 psc_process(struct sim_machine *m, struct snp_psc_desc *d, unsigned int cur,
		       unsigned int end, int *last)
{
	u64 budget = m->cfg.psc_max_pages ? m->cfg.psc_max_pages : UINT64_MAX;
	u32 max_entries = m->cfg.psc_max_entries ? m->cfg.psc_max_entries : UINT32_MAX;
	u32 touched = 0;
	u64 ret = 0;
	unsigned int i;

	*last = (int)cur - 1;
	if (m->cfg.attack == SIM_ATTACK_PSC_IGNORE)
		return 0;
	if (m->cfg.attack == SIM_ATTACK_PSC_PARTIAL) {
		unsigned int half = (end - cur + 1) / 2;

		/* One 2M entry left: do half of its pages. One 4K entry: nothing. */
		if (cur == end && (psc_get(d, cur) & SNP_PSC_PAGESIZE_2M) &&
		    psc_entry_ok(m, psc_get(d, cur))) {
			u64 some = PMD_PAGES / 2;

			m->stats.psc_entries++;
			psc_do_entry(m, d, cur, &some);
		}
		for (i = cur; i < cur + half; i++) {
			u64 all = UINT64_MAX;

			if (!psc_entry_ok(m, psc_get(d, i)))
				continue;
			m->stats.psc_entries++;
			psc_do_entry(m, d, i, &all);
		}
		for (i = cur; i <= end; i++) {
			u64 e = psc_get(d, i);

			psc_put(d, i,
				psc_with_cur_page(e, e & SNP_PSC_PAGESIZE_2M ? PMD_PAGES : 1));
		}
		d->hdr.cur_entry = cpu_to_le16((u16)(end + 1));
		*last = (int)end;
		return 0;
	}
	for (i = cur; i <= end && touched < max_entries; i++) {
		u64 e = psc_get(d, i);

		if (!psc_entry_ok(m, e)) {
			ret = PSC_ERR_ENTRY;
			break;
		}
		if (psc_entry_blocked(e, budget))
			break;
		m->stats.psc_entries++;
		touched++;
		*last = (int)i;
		if (!psc_do_entry(m, d, i, &budget))
			break;
	}
	d->hdr.cur_entry = cpu_to_le16((u16)i);
	return ret;
}

/* SNP_NAE_PSC: the descriptor in the GHCB's shared buffer. Sets SW_EXITINFO1/2. */
static void nae_psc(struct sim_machine *m, struct snp_ghcb *ghcb, u64 *info1, u64 *info2)
{
	struct snp_psc_desc *d = (struct snp_psc_desc *)ghcb->shared_buffer;
	unsigned int cur, end;
	int last = -1;
	u64 hdr;

	if (!SNP_GHCB_IS_VALID(ghcb, sw_scratch) ||
	    le64_to_cpu(ghcb->sw_scratch) !=
		    m->ghcb_gpa + offsetof(struct snp_ghcb, shared_buffer)) {
		*info1 = SNP_GHCB_RESULT_MALFORMED;
		*info2 = SNP_GHCB_ERR_INVALID_SCRATCH;
		return;
	}
	m->stats.psc_exits++;
	cur = le16_to_cpu(d->hdr.cur_entry);
	end = le16_to_cpu(d->hdr.end_entry);
	*info1 = 0;
	if (end >= SNP_PSC_MAX_ENTRIES || cur > end || le32_to_cpu(d->hdr.reserved)) {
		*info2 = PSC_ERR_HEADER;
	} else {
		*info2 = psc_process(m, d, cur, end, &last);
		for (int i = (int)cur; i <= last; i++) {
			u64 e = psc_get(d, (unsigned int)i);

			mutate_u64(m, &e);
			psc_put(d, (unsigned int)i, e);
		}
	}
	hdr = snp_get_le64((const u8 *)d);
	mutate_u64(m, &hdr);
	snp_put_le64((u8 *)d, hdr);
}

/* ---- the hypervisor: guest requests ------------------------------------ */

/* [gpa, +npages 4K) page aligned, inside RAM, and shared (not assigned) in the RMP. */
static bool hv_range_shared(const struct sim_machine *m, u64 gpa, u64 npages)
{
	u64 gfn = gpa >> PAGE_SHIFT;

	if ((gpa & PAGE_MASK) || gfn >= m->nr_gpa || npages > m->nr_gpa - gfn)
		return false;
	for (u64 i = 0; i < npages; i++)
		if (m->rmp[m->npt[gfn + i]].lo & SIM_RMP_ASSIGNED)
			return false;
	return true;
}

/* The hypervisor reads shared guest pages (checked by hv_range_shared()). */
static void hv_read_pages(struct sim_machine *m, u64 gpa, void *buf, u64 npages)
{
	for (u64 i = 0; i < npages; i++) {
		const u8 *p = m->content[m->npt[(gpa >> PAGE_SHIFT) + i]];
		u8 *to = (u8 *)buf + i * PAGE_SIZE;

		if (p)
			memcpy(to, p, PAGE_SIZE);
		else
			memset(to, 0, PAGE_SIZE);
	}
}

static void hv_write_pages(struct sim_machine *m, u64 gpa, const void *buf, u64 npages)
{
	for (u64 i = 0; i < npages; i++) {
		u64 a = gpa + i * PAGE_SIZE;

		memcpy(run_content_page(m, m->npt[a >> PAGE_SHIFT], a),
		       (const u8 *)buf + i * PAGE_SIZE, PAGE_SIZE);
	}
}

/*
 * SNP_NAE_GUEST_REQUEST / SNP_NAE_EXT_GUEST_REQUEST with a firmware
 * attached: relay to sim_hv through the bounce pages. Sets SW_EXITINFO1/2;
 * RBX of an extended request is written back into @ghcb.
 */
static void nae_guest_request(struct sim_machine *m, struct snp_ghcb *ghcb, u64 exit_code,
			      u64 *info1, u64 *info2)
{
	struct snp_guest_shared *b = m->bounce;
	struct snp_ghcb *bg = &b->ghcb;
	bool ext = exit_code == SNP_NAE_EXT_GUEST_REQUEST;
	u64 req, resp, certs = 0, npages = 0;

	*info1 = SNP_GHCB_RESULT_MALFORMED;
	*info2 = SNP_GHCB_ERR_MISSING_INPUT;
	if (!SNP_GHCB_IS_VALID(ghcb, sw_exit_info_1) || !SNP_GHCB_IS_VALID(ghcb, sw_exit_info_2))
		return;
	if (ext && (!SNP_GHCB_IS_VALID(ghcb, rax) || !SNP_GHCB_IS_VALID(ghcb, rbx)))
		return;
	req = le64_to_cpu(ghcb->sw_exit_info_1);
	resp = le64_to_cpu(ghcb->sw_exit_info_2);
	*info2 = SNP_GHCB_ERR_INVALID_INPUT;
	if (req == resp || !hv_range_shared(m, req, 1) || !hv_range_shared(m, resp, 1))
		return;
	if (ext) {
		certs = le64_to_cpu(ghcb->rax);
		npages = le64_to_cpu(ghcb->rbx);
		/* A too-small area is sim_hv's to answer (INVALID_LEN, pages needed in RBX). */
		if (npages &&
		    (npages > SNP_CERTS_MAX_LEN / PAGE_SIZE || !hv_range_shared(m, certs, npages)))
			return;
	}
	m->stats.guest_requests++;

	/*
	 * The bounce pages start as copies of the guest's, so that whatever
	 * sim_hv leaves alone (a refused or dropped request) reads back as it was.
	 */
	hv_read_pages(m, req, &b->request, 1);
	hv_read_pages(m, resp, &b->response, 1);
	if (npages)
		hv_read_pages(m, certs, b->certs, npages);
	memset(bg, 0, sizeof(*bg));
	bg->protocol_version = cpu_to_le16(SNP_GHCB_PROTOCOL_VERSION);
	bg->sw_exit_code = cpu_to_le64(exit_code);
	bg->sw_exit_info_1 = cpu_to_le64((u64)(uintptr_t)&b->request);
	bg->sw_exit_info_2 = cpu_to_le64((u64)(uintptr_t)&b->response);
	SNP_GHCB_SET_VALID(bg, sw_exit_code);
	SNP_GHCB_SET_VALID(bg, sw_exit_info_1);
	SNP_GHCB_SET_VALID(bg, sw_exit_info_2);
	if (ext) {
		bg->rax = cpu_to_le64((u64)(uintptr_t)b->certs);
		bg->rbx = cpu_to_le64(npages);
		SNP_GHCB_SET_VALID(bg, rax);
		SNP_GHCB_SET_VALID(bg, rbx);
	}
	if (sim_hv_vmgexit(m->hv, bg) < 0)
		return; /* MALFORMED / INVALID_INPUT */

	hv_write_pages(m, resp, &b->response, 1);
	if (npages)
		hv_write_pages(m, certs, b->certs, npages);
	*info1 = le64_to_cpu(bg->sw_exit_info_1);
	*info2 = le64_to_cpu(bg->sw_exit_info_2);
	if (ext)
		ghcb->rbx = bg->rbx;
}

/* ---- the hypervisor: CPUID ---------------------------------------------- */

void sim_machine_set_cpuid(struct sim_machine *m, const struct snp_cpuid_table *t)
{
	memcpy(&m->cpuid, t, sizeof(m->cpuid));
}

void sim_machine_hv_cpuid(const struct sim_machine *m, u32 fn, u32 subfn, u32 regs[4])
{
	u32 count = le32_to_cpu(m->cpuid.count);

	memset(regs, 0, 4 * sizeof(regs[0]));
	if (count > SNP_CPUID_COUNT_MAX)
		count = SNP_CPUID_COUNT_MAX;
	for (u32 i = 0; i < count; i++) {
		const struct snp_cpuid_fn *e = &m->cpuid.fn[i];

		if (le32_to_cpu(e->eax_in) != fn ||
		    (snp_cpuid_function_is_indexed(fn) && le32_to_cpu(e->ecx_in) != subfn))
			continue;
		regs[0] = le32_to_cpu(e->eax);
		regs[1] = le32_to_cpu(e->ebx);
		regs[2] = le32_to_cpu(e->ecx);
		regs[3] = le32_to_cpu(e->edx);
		break;
	}
	if (m->cfg.attack != SIM_ATTACK_CPUID_LIE)
		return;
	for (int r = 0; r < 4; r++)
		regs[r] ^= SIM_CPUID_LIE_XOR;
}

/* NAE 0x72: RAX (function), RCX (subfunction) and XCR0 in; RAX..RDX out, marked valid. */
static void nae_cpuid(struct sim_machine *m, struct snp_ghcb *ghcb, u64 *info1, u64 *info2)
{
	u32 regs[4];

	m->stats.cpuid_nae++;
	if (!SNP_GHCB_IS_VALID(ghcb, rax) || !SNP_GHCB_IS_VALID(ghcb, rcx) ||
	    !SNP_GHCB_IS_VALID(ghcb, xcr0)) {
		*info1 = SNP_GHCB_RESULT_MALFORMED;
		*info2 = SNP_GHCB_ERR_MISSING_INPUT;
		return;
	}
	sim_machine_hv_cpuid(m, (u32)le64_to_cpu(ghcb->rax), (u32)le64_to_cpu(ghcb->rcx), regs);
	ghcb->rax = cpu_to_le64(regs[0]);
	ghcb->rbx = cpu_to_le64(regs[1]);
	ghcb->rcx = cpu_to_le64(regs[2]);
	ghcb->rdx = cpu_to_le64(regs[3]);
	SNP_GHCB_SET_VALID(ghcb, rax);
	SNP_GHCB_SET_VALID(ghcb, rbx);
	SNP_GHCB_SET_VALID(ghcb, rcx);
	SNP_GHCB_SET_VALID(ghcb, rdx);
}

/* ---- the hypervisor: NAE exits ----------------------------------------- */

static void nae_exit(struct sim_machine *m, u64 gpa)
{
	struct snp_ghcb *ghcb;
	u64 info1 = 0, info2 = 0, v;
	u32 spa;

	m->stats.nae_exits++;
	if (!m->ghcb_registered || gpa != m->ghcb_gpa)
		machine_stop(m, SIM_RUN_HV_STOPPED, gpa,
			     "GHCB at 0x%llx is not the registered GHCB", (unsigned long long)gpa);
	spa = m->npt[gpa >> PAGE_SHIFT];
	if (m->rmp[spa].lo & SIM_RMP_ASSIGNED)
		machine_stop(m, SIM_RUN_HV_STOPPED, gpa,
			     "GHCB page is private; the hypervisor cannot read it");
	ghcb = (struct snp_ghcb *)run_content_page(m, spa, gpa);

	if (!SNP_GHCB_IS_VALID(ghcb, sw_exit_code)) {
		info1 = SNP_GHCB_RESULT_MALFORMED;
		info2 = SNP_GHCB_ERR_MISSING_INPUT;
	} else {
		switch (le64_to_cpu(ghcb->sw_exit_code)) {
		case SNP_NAE_PSC:
			nae_psc(m, ghcb, &info1, &info2);
			break;
		case SNP_NAE_HV_FEATURES:
			info2 = hv_features(m);
			break;
		case SNP_EXIT_CPUID:
			nae_cpuid(m, ghcb, &info1, &info2);
			break;
		case SNP_NAE_TERM_REQUEST:
			if (!SNP_GHCB_IS_VALID(ghcb, sw_exit_info_1)) {
				info1 = SNP_GHCB_RESULT_MALFORMED;
				info2 = SNP_GHCB_ERR_MISSING_INPUT;
				break;
			}
			v = le64_to_cpu(ghcb->sw_exit_info_1);
			terminate(m, (u8)(v & 0xf), (u8)((v >> 4) & 0xff));
		case SNP_NAE_GUEST_REQUEST:
		case SNP_NAE_EXT_GUEST_REQUEST:
			if (m->hv) {
				nae_guest_request(m, ghcb, le64_to_cpu(ghcb->sw_exit_code), &info1,
						  &info2);
				break;
			}
			/* no firmware attached: nobody to relay to */
			info1 = SNP_GHCB_RESULT_MALFORMED;
			info2 = SNP_GHCB_ERR_INVALID_EVENT;
			break;
		default:
			info1 = SNP_GHCB_RESULT_MALFORMED;
			info2 = SNP_GHCB_ERR_INVALID_EVENT;
			break;
		}
	}
	mutate_u64(m, &info1);
	mutate_u64(m, &info2);
	ghcb->sw_exit_info_1 = cpu_to_le64(info1);
	ghcb->sw_exit_info_2 = cpu_to_le64(info2);
}

static void cpu_vmgexit(void *priv)
{
	struct sim_machine *m = priv;
	u64 v = m->ghcb_msr;

	mutate_exit(m);
	if (SNP_GHCB_MSR_INFO(v))
		msr_exit(m, v);
	else
		nae_exit(m, v);
}

static const struct kshim_vcpu_ops machine_vcpu_ops = {
	.rdmsr = cpu_rdmsr,
	.wrmsr = cpu_wrmsr,
	.vmgexit = cpu_vmgexit,
	.pvalidate = cpu_pvalidate,
	.rmpadjust = cpu_rmpadjust,
	.set_c_bit = cpu_set_c_bit,
	.read = cpu_read,
	.write = cpu_write,
	.shared_page = cpu_shared_page,
	.halt = cpu_halt,
	.read_cr4 = cpu_read_cr4,
	.xgetbv = cpu_xgetbv,
};

struct sim_machine *sim_machine_current(void)
{
	struct kshim_vcpu *v = kshim_vcpu_current();

	return v && v->ops == &machine_vcpu_ops ? v->ctx : NULL;
}

/* ---- the machine ------------------------------------------------------- */

static const char *const attack_names[] = {
	[SIM_ATTACK_NONE] = "none",
	[SIM_ATTACK_REMAP] = "remap",
	[SIM_ATTACK_UNVALIDATE] = "unvalidate",
	[SIM_ATTACK_PSC_IGNORE] = "psc-ignore",
	[SIM_ATTACK_PSC_PARTIAL] = "psc-partial",
	[SIM_ATTACK_NO_SNP] = "no-snp",
	[SIM_ATTACK_GHCB_V1] = "ghcb-v1",
	[SIM_ATTACK_CPUID_LIE] = "cpuid-lie",
};

int sim_machine_set_attack(struct sim_machine *m, enum sim_attack a)
{
	if (!m || (unsigned int)a >= ARRAY_SIZE(attack_names))
		return -EINVAL;
	m->cfg.attack = a;
	return 0;
}

int sim_attack_from_string(const char *s, enum sim_attack *ret)
{
	if (!s || !ret)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(attack_names); i++) {
		if (!strcmp(s, attack_names[i])) {
			*ret = (enum sim_attack)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *sim_attack_to_string(enum sim_attack a)
{
	if ((unsigned int)a >= ARRAY_SIZE(attack_names))
		return "unknown";
	return attack_names[a];
}

int sim_machine_new(const struct sim_machine_cfg *cfg, struct sim_machine **ret)
{
	struct sim_machine *m;

	if (!cfg || !ret)
		return -EINVAL;
	*ret = NULL;
	if (cfg->ram_size % SNP_PMD_SIZE || cfg->ram_size < SIM_MACHINE_MIN_RAM ||
	    cfg->ram_size > SIM_MACHINE_MAX_RAM || cfg->vmpl > 3 ||
	    (unsigned int)cfg->attack >= ARRAY_SIZE(attack_names))
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->cfg = *cfg;
	m->vcpu = (struct kshim_vcpu){ .ops = &machine_vcpu_ops, .ctx = m };
	if (!m->cfg.sev_status)
		m->cfg.sev_status = SNP_STATUS_SEV | SNP_STATUS_SEV_ES | SNP_STATUS_SNP;
	if (!m->cfg.ghcb_min)
		m->cfg.ghcb_min = SNP_GHCB_PROTOCOL_MIN;
	if (!m->cfg.ghcb_max)
		m->cfg.ghcb_max = SNP_GHCB_PROTOCOL_MAX;
	if (!m->cfg.cbit_pos)
		m->cfg.cbit_pos = 51;
	if (!m->cfg.hv_features)
		m->cfg.hv_features =
			SNP_HV_FT_SNP | SNP_HV_FT_SNP_AP_CREATION | SNP_HV_FT_MULTI_VMPL;
	if (!m->cfg.spare_pages)
		m->cfg.spare_pages = DEFAULT_SPARE;
	if (!m->cfg.xcr0)
		m->cfg.xcr0 = 0x7; /* x87, SSE, AVX */
	m->nr_gpa = m->cfg.ram_size >> PAGE_SHIFT;
	m->nr_spa = m->nr_gpa + m->cfg.spare_pages;
	if (getrandom(&m->scramble_key, sizeof(m->scramble_key), 0) !=
	    (ssize_t)sizeof(m->scramble_key)) {
		free(m);
		return -EIO;
	}
	m->next_spare = m->nr_gpa;
	/* SPA pfns are u32. */
	if (m->cfg.ghcb_min > m->cfg.ghcb_max || m->nr_spa > UINT32_MAX) {
		free(m);
		return -EINVAL;
	}

	m->npt = calloc(m->nr_gpa, sizeof(*m->npt));
	m->rmp = calloc(m->nr_spa, sizeof(*m->rmp));
	m->content = calloc(m->nr_spa, sizeof(*m->content));
	m->validations = calloc(m->nr_gpa, sizeof(*m->validations));
	m->rescinds = calloc(m->nr_gpa, sizeof(*m->rescinds));
	m->c_clear = calloc((m->nr_gpa + 63) / 64, sizeof(*m->c_clear));
	m->hv_shared = calloc((m->nr_gpa + 63) / 64, sizeof(*m->hv_shared));
	if (!m->npt || !m->rmp || !m->content || !m->validations || !m->rescinds || !m->c_clear ||
	    !m->hv_shared) {
		sim_machine_free(m);
		return -ENOMEM;
	}
	for (u64 i = 0; i < m->nr_gpa; i++)
		m->npt[i] = (u32)i;
	*ret = m;
	return 0;
}

static void detach_fw(struct sim_machine *m)
{
	if (m->hv) {
		sim_hv_release(m->hv);
		free(m->hv);
		m->hv = NULL;
	}
	if (m->bounce) {
		explicit_bzero(m->bounce, sizeof(*m->bounce));
		free(m->bounce);
		m->bounce = NULL;
	}
}

int sim_machine_attach_fw(struct sim_machine *m, struct sim_fw *fw)
{
	void *p = NULL;
	int r;

	if (!m)
		return -EINVAL;
	if (!fw) {
		detach_fw(m);
		return 0;
	}
	if (m->hv)
		return m->hv->fw == fw ? 0 : -EBUSY;
	if (posix_memalign(&p, PAGE_SIZE, sizeof(*m->bounce)) != 0)
		return -ENOMEM;
	m->bounce = p;
	memset(m->bounce, 0, sizeof(*m->bounce));
	m->hv = calloc(1, sizeof(*m->hv));
	if (!m->hv) {
		detach_fw(m);
		return -ENOMEM;
	}
	/* sim_hv_init() also builds the certificate table it hands out, as for sim/platform.c. */
	r = sim_hv_init(m->hv, fw, m->bounce, sizeof(*m->bounce));
	if (r < 0) {
		detach_fw(m);
		return r;
	}
	return 0;
}

struct sim_hv *sim_machine_hv(struct sim_machine *m)
{
	return m ? m->hv : NULL;
}

struct sim_machine *sim_machine_free(struct sim_machine *m)
{
	if (!m)
		return NULL;
	detach_fw(m);
	/* Guest memory held the secrets page (VMPCKs): wipe it all. */
	if (m->content)
		for (u64 i = 0; i < m->nr_spa; i++) {
			if (m->content[i])
				explicit_bzero(m->content[i], PAGE_SIZE);
			free(m->content[i]);
		}
	free(m->content);
	free(m->npt);
	free(m->rmp);
	free(m->validations);
	free(m->rescinds);
	free(m->c_clear);
	free(m->hv_shared);
	free(m);
	return NULL;
}

/* [gpa, +len) inside RAM. */
static bool host_range_ok(const struct sim_machine *m, u64 gpa, size_t len)
{
	return gpa < m->cfg.ram_size && len <= m->cfg.ram_size - gpa;
}

int sim_machine_launch_update(struct sim_machine *m, u64 gpa, const void *data, size_t len)
{
	u64 first, last;

	if (!m || !host_range_ok(m, gpa, len))
		return -EINVAL;
	if (!len)
		return 0;
	first = gpa >> PAGE_SHIFT;
	last = (gpa + len - 1) >> PAGE_SHIFT;
	for (u64 gfn = first; gfn <= last; gfn++) {
		if (m->rmp[m->npt[gfn]].lo & SIM_RMP_ASSIGNED)
			return -EEXIST;
		if (!content_page(m, m->npt[gfn]))
			return -ENOMEM;
	}
	for (u64 gfn = first; gfn <= last; gfn++) {
		u32 spa = m->npt[gfn];
		u64 page = gfn << PAGE_SHIFT;
		u64 from = page < gpa ? gpa : page;
		u64 to = page + PAGE_SIZE < gpa + len ? page + PAGE_SIZE : gpa + len;

		memset(m->content[spa], 0, PAGE_SIZE);
		if (data)
			memcpy(m->content[spa] + (from - page), (const u8 *)data + (from - gpa),
			       (size_t)(to - from));
		rmp_set(&m->rmp[spa], rmp_lo(gfn) | SIM_RMP_VALIDATED);
		count_inc(&m->validations[gfn]);
		m->stats.validated_pages++;
	}
	return 0;
}

/* The host's copy to (@wbuf) or from (@rbuf) guest memory, no RMP checks. */
static int host_copy(struct sim_machine *m, u64 gpa, void *rbuf, const void *wbuf, size_t len)
{
	size_t done = 0;

	if (!m || !host_range_ok(m, gpa, len) || (len && !rbuf && !wbuf))
		return -EINVAL;
	while (done < len) {
		u64 a = gpa + done, off = a & PAGE_MASK;
		size_t n = len - done < PAGE_SIZE - off ? len - done : (size_t)(PAGE_SIZE - off);
		u32 spa = m->npt[a >> PAGE_SHIFT];

		if (wbuf) {
			u8 *p = content_page(m, spa);

			if (!p)
				return -ENOMEM;
			memcpy(p + off, (const u8 *)wbuf + done, n);
		} else if (m->content[spa]) {
			memcpy((u8 *)rbuf + done, m->content[spa] + off, n);
		} else {
			memset((u8 *)rbuf + done, 0, n);
		}
		done += n;
	}
	return 0;
}

int sim_machine_host_write(struct sim_machine *m, u64 gpa, const void *data, size_t len)
{
	return host_copy(m, gpa, NULL, data, len);
}

int sim_machine_host_read(struct sim_machine *m, u64 gpa, void *data, size_t len)
{
	return host_copy(m, gpa, data, NULL, len);
}

void sim_machine_set_vc_handler(struct sim_machine *m,
				void (*fn)(void *ctx, u64 error_code, u64 fault_addr), void *ctx)
{
	if (!m)
		return;
	m->vc_fn = fn;
	m->vc_ctx = ctx;
}

enum sim_run_result sim_machine_run(struct sim_machine *m, void (*fn)(void *arg), void *arg,
				    struct sim_run_exit *ret_exit)
{
	if (!m || !fn || m->running) {
		struct sim_run_exit ex = { .result = SIM_RUN_HV_STOPPED };

		snprintf(ex.why, sizeof(ex.why), "%s", m && fn ? "nested run" : "invalid run");
		if (ret_exit)
			*ret_exit = ex;
		return ex.result;
	}
	memset(&m->exit, 0, sizeof(m->exit));
	m->vc_depth = 0;
	m->running = true;
	m->prev_vcpu = kshim_vcpu_switch(&m->vcpu);
	if (!setjmp(m->jb)) {
		fn(arg);
		m->exit.result = SIM_RUN_DONE;
	}
	kshim_vcpu_switch(m->prev_vcpu);
	m->running = false;
	if (ret_exit)
		*ret_exit = m->exit;
	return m->exit.result;
}

int sim_machine_remap(struct sim_machine *m, u64 gpa)
{
	u64 gfn, spare;
	u32 old;

	if (!m || gpa >= m->cfg.ram_size)
		return -EINVAL;
	gfn = gpa >> PAGE_SHIFT;
	old = m->npt[gfn];
	if (!rmp_owned(&m->rmp[old], gfn) || !(m->rmp[old].lo & SIM_RMP_VALIDATED))
		return -EINVAL;
	if (m->next_spare >= m->nr_spa)
		return -ENOSPC;
	spare = m->next_spare;
	/* The hypervisor replays the old ciphertext into the new page. */
	if (m->content[old]) {
		if (!content_page(m, (u32)spare))
			return -ENOMEM;
		memcpy(m->content[spare], m->content[old], PAGE_SIZE);
	}
	m->next_spare++;
	rmp_psmash(m, old);
	rmp_set(&m->rmp[spare], rmp_lo(gfn));
	m->stats.rmpupdates++;
	m->npt[gfn] = (u32)spare;
	return 0;
}

int sim_machine_unvalidate(struct sim_machine *m, u64 gpa)
{
	if (!m || gpa >= m->cfg.ram_size)
		return -EINVAL;
	if (!hv_unvalidate(m, gpa >> PAGE_SHIFT))
		return -EINVAL;
	m->stats.rmpupdates++;
	return 0;
}

int sim_machine_page(const struct sim_machine *m, u64 gpa, struct sim_page_info *ret)
{
	const struct sim_rmp_entry *e;
	u64 gfn;

	if (!m || !ret || gpa >= m->cfg.ram_size)
		return -EINVAL;
	gfn = gpa >> PAGE_SHIFT;
	e = &m->rmp[m->npt[gfn]];
	memset(ret, 0, sizeof(*ret));
	ret->assigned = e->lo & SIM_RMP_ASSIGNED;
	ret->validated = e->lo & SIM_RMP_VALIDATED;
	ret->huge = e->lo & SIM_RMP_PAGESIZE;
	ret->c_bit = pte_private(m, gfn);
	ret->rmp_gpa = e->lo & SIM_RMP_GPA_MASK;
	ret->spa_pfn = m->npt[gfn];
	ret->validations = m->validations[gfn];
	ret->rescinds = m->rescinds[gfn];
	memcpy(ret->vmpl_perms, e->vmpl_perms, sizeof(ret->vmpl_perms));
	return 0;
}

const struct sim_machine_stats *sim_machine_stats(const struct sim_machine *m)
{
	return &m->stats;
}

u64 sim_machine_ram_size(const struct sim_machine *m)
{
	return m->cfg.ram_size;
}

u64 sim_machine_ghcb_gpa(const struct sim_machine *m)
{
	return m->ghcb_registered ? m->ghcb_gpa : 0;
}

void sim_machine_set_mutator(struct sim_machine *m,
			     size_t (*take_fn)(void *ud, void *buf, size_t len), void *ud)
{
	if (!m)
		return;
	m->take = take_fn;
	m->take_ud = ud;
}
