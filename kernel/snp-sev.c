// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * SEV-SNP guest memory validation (see snp-sev.h for the rules it keeps).
 *
 * Two ways to change a page's state: early in boot, before a GHCB exists,
 * one page per MSR-protocol exit; later, through the GHCB with a Page State
 * Change descriptor of up to 253 entries (2M entries where a range allows).
 * PVALIDATE follows the same 2M/4K split, and falls back to 4K pages when
 * the hypervisor backed a 2M request with 4K RMP entries.
 */
#include "kernel/snp-sev.h"
#include "kernel/snp-cpuid.h"

#define SNP_IS_ALIGNED(x, a) (((x) & ((u64)(a)-1)) == 0)
#define SNP_PAGE_4K	     ((u64)SNP_PAGE_SIZE)
#define SNP_PA_LIMIT	     (1ULL << 52)
/* Consecutive page state change exits without progress before we give up. */
#define SNP_PSC_MAX_STALLS 16

void snp_sev_init(struct snp_sev *g)
{
	memset(g, 0, sizeof(*g));
}

bool snp_sev_snp_active(const struct snp_sev *g)
{
	return g->sev_status & SNP_STATUS_SNP;
}

/* One MSR-protocol exchange: request in, response out of the GHCB MSR. */
static u64 ghcb_msr_call(struct snp_sev *g, u64 req)
{
	g->stats.msr_exits++;
	snp_cpu_wrmsr(SNP_MSR_GHCB, req);
	snp_cpu_vmgexit();
	return snp_cpu_rdmsr(SNP_MSR_GHCB);
}

static void guest_read(struct snp_sev *g, u64 gpa, void *buf, size_t len)
{
	if (snp_cpu_read(gpa, buf, len) < 0)
		snp_sev_terminate(g, SNP_TERM_SET_GEN, SNP_TERM_GEN_REQ, gpa);
}

static void guest_write(struct snp_sev *g, u64 gpa, const void *buf, size_t len)
{
	if (snp_cpu_write(gpa, buf, len) < 0)
		snp_sev_terminate(g, SNP_TERM_SET_GEN, SNP_TERM_GEN_REQ, gpa);
}

/* ---- status, protocol, features ----------------------------------------- */

int snp_sev_detect(struct snp_sev *g)
{
	u64 status = snp_cpu_rdmsr(SNP_MSR_SEV_STATUS);

	g->sev_status = status;
	if (!(status & SNP_STATUS_SNP))
		return -ENODEV;
	/* SNP without SEV and SEV-ES is not a state hardware produces. */
	if ((status & (SNP_STATUS_SEV | SNP_STATUS_SEV_ES)) != (SNP_STATUS_SEV | SNP_STATUS_SEV_ES))
		snp_sev_terminate(g, SNP_TERM_SET_GEN, SNP_TERM_GEN_SNP_UNSUPP, status);
	/* Launched with a feature that needs guest support we lack. */
	if (status & SNP_STATUS_IMPL_REQUIRED)
		snp_sev_terminate(g, SNP_TERM_SET_GEN, SNP_TERM_GEN_SNP_UNSUPP,
				  status & SNP_STATUS_IMPL_REQUIRED);
	return 0;
}

void snp_sev_negotiate_protocol(struct snp_sev *g)
{
	u64 v = ghcb_msr_call(g, SNP_GHCB_MSR_SEV_INFO_REQ);
	u16 max, min;

	if (SNP_GHCB_MSR_INFO(v) != SNP_GHCB_MSR_SEV_INFO_RESP)
		snp_sev_terminate(g, SNP_TERM_SET_GEN, SNP_TERM_GEN_PROTO, v);
	max = SNP_GHCB_SEV_INFO_MAX(v);
	min = SNP_GHCB_SEV_INFO_MIN(v);
	if (min > max || max < SNP_GHCB_PROTOCOL_MIN || min > SNP_GHCB_PROTOCOL_MAX)
		snp_sev_terminate(g, SNP_TERM_SET_GEN, SNP_TERM_GEN_PROTO, v);
	g->ghcb_version = max < SNP_GHCB_PROTOCOL_MAX ? max : SNP_GHCB_PROTOCOL_MAX;
	/* Informational: page tables take the C-bit from the CPUID page. */
	g->cbit_pos = SNP_GHCB_SEV_INFO_CBIT(v);
	/*
	 * Page state changes, features and guest requests need version 2.
	 * Linux accepts 1 here and dies a step later, when the feature request
	 * finds no SNP bit (set 0, code 2); we name the real cause at once.
	 */
	if (snp_sev_snp_active(g) && g->ghcb_version < SNP_GHCB_PROTOCOL_SNP)
		snp_sev_terminate(g, SNP_TERM_SET_GEN, SNP_TERM_GEN_PROTO, v);
}

void snp_sev_check_hv_features(struct snp_sev *g)
{
	u64 v;

	if (g->ghcb_version < SNP_GHCB_PROTOCOL_SNP)
		snp_sev_terminate(g, SNP_TERM_SET_GEN, SNP_TERM_GEN_SNP_UNSUPP, g->ghcb_version);
	v = ghcb_msr_call(g, SNP_GHCB_MSR_HV_FT_REQ);
	if (SNP_GHCB_MSR_INFO(v) != SNP_GHCB_MSR_HV_FT_RESP)
		snp_sev_terminate(g, SNP_TERM_SET_GEN, SNP_TERM_GEN_SNP_UNSUPP, v);
	g->hv_features = SNP_GHCB_MSR_DATA(v);
	if (!(g->hv_features & SNP_HV_FT_SNP))
		snp_sev_terminate(g, SNP_TERM_SET_GEN, SNP_TERM_GEN_SNP_UNSUPP, g->hv_features);
}

void snp_sev_enforce_vmpl0(struct snp_sev *g, u64 probe_vaddr)
{
	int rc;

	/*
	 * Only VMPL0 may change VMPL1's permissions: asking for "no access
	 * for VMPL1" on one of our own pages fails anywhere else.
	 */
	rc = snp_cpu_rmpadjust(probe_vaddr, SNP_RMP_PG_SIZE_4K, SNP_RMPADJUST_VMPL(1));
	if (rc)
		snp_sev_terminate(g, SNP_TERM_SET_LINUX, SNP_TERM_NOT_VMPL0, (u64)rc);
}

void snp_sev_register_ghcb(struct snp_sev *g, u64 gpa)
{
	u64 gfn = gpa >> SNP_PAGE_SHIFT, v;
	struct snp_ghcb *ghcb;

	if (!SNP_IS_ALIGNED(gpa, SNP_PAGE_4K))
		snp_sev_terminate(g, SNP_TERM_SET_LINUX, SNP_TERM_REGISTER, gpa);
	v = ghcb_msr_call(g, SNP_GHCB_MSR_REG_GPA(gfn));
	if (SNP_GHCB_MSR_INFO(v) != SNP_GHCB_MSR_REG_GPA_RESP || SNP_GHCB_MSR_GFN(v) != gfn)
		snp_sev_terminate(g, SNP_TERM_SET_LINUX, SNP_TERM_REGISTER, v);
	ghcb = snp_cpu_shared_page(gpa);
	if (!ghcb)
		snp_sev_terminate(g, SNP_TERM_SET_LINUX, SNP_TERM_REGISTER, gpa);
	memset(ghcb, 0, sizeof(*ghcb));
	g->ghcb = ghcb;
	g->ghcb_gpa = gpa;
}

void snp_sev_ap_reset_hold(struct snp_sev *g)
{
	for (;;) {
		u64 v = ghcb_msr_call(g, SNP_GHCB_MSR_AP_RESET_HOLD_REQ);

		if (SNP_GHCB_MSR_INFO(v) != SNP_GHCB_MSR_AP_RESET_HOLD_RESP)
			snp_sev_terminate(g, SNP_TERM_SET_GEN, SNP_TERM_GEN_REQ, v);
		/* A zero result is a spurious wake-up: park again. */
		if (SNP_GHCB_MSR_DATA(v))
			return;
	}
}

/* ---- PVALIDATE ------------------------------------------------------------ */

static int pvalidate(struct snp_sev *g, u64 va, int psize, bool validate)
{
	u64 pages = psize == SNP_RMP_PG_SIZE_2M ? SNP_PAGES_PER_PMD : 1;
	int rc;

	if (psize == SNP_RMP_PG_SIZE_2M)
		g->stats.pvalidate_2m++;
	else
		g->stats.pvalidate_4k++;
	/* FAIL_NOUPDATE: already in the requested state, a page is being replayed. */
	rc = snp_cpu_pvalidate(va, psize, validate);
	if (rc)
		return rc;
	if (validate)
		g->stats.pages_validated += pages;
	else
		g->stats.pages_rescinded += pages;
	return 0;
}

/* Page aligned, not empty, and inside the 52-bit physical address space. */
static bool range_ok(u64 va, u64 npages)
{
	return SNP_IS_ALIGNED(va, SNP_PAGE_4K) && npages && va < SNP_PA_LIMIT &&
	       npages <= (SNP_PA_LIMIT - va) >> SNP_PAGE_SHIFT;
}

/* The 2M/4K split used for both descriptors and PVALIDATE. */
static bool use_2m(u64 va, u64 end)
{
	return SNP_IS_ALIGNED(va, SNP_PMD_SIZE) && end - va >= SNP_PMD_SIZE;
}

void snp_sev_pvalidate_range(struct snp_sev *g, u64 vaddr, u64 npages, bool validate)
{
	u64 va = vaddr, end;
	int rc;

	if (!range_ok(vaddr, npages))
		snp_sev_terminate(g, SNP_TERM_SET_LINUX, SNP_TERM_PVALIDATE, vaddr);
	end = vaddr + (npages << SNP_PAGE_SHIFT);
	while (va < end) {
		if (use_2m(va, end)) {
			rc = pvalidate(g, va, SNP_RMP_PG_SIZE_2M, validate);
			if (rc == SNP_PVALIDATE_FAIL_SIZEMISMATCH) {
				/* Backed by 4K RMP entries: do it page by page. */
				u64 p;

				g->stats.size_mismatch++;
				for (p = va; p < va + SNP_PMD_SIZE; p += SNP_PAGE_4K) {
					rc = pvalidate(g, p, SNP_RMP_PG_SIZE_4K, validate);
					if (rc)
						snp_sev_terminate(g, SNP_TERM_SET_LINUX,
								  SNP_TERM_PVALIDATE, p);
				}
			} else if (rc) {
				snp_sev_terminate(g, SNP_TERM_SET_LINUX, SNP_TERM_PVALIDATE, va);
			}
			va += SNP_PMD_SIZE;
		} else {
			rc = pvalidate(g, va, SNP_RMP_PG_SIZE_4K, validate);
			if (rc)
				snp_sev_terminate(g, SNP_TERM_SET_LINUX, SNP_TERM_PVALIDATE, va);
			va += SNP_PAGE_4K;
		}
	}
}

/* ---- page state change: MSR protocol ------------------------------------- */

static void early_psc(struct snp_sev *g, u64 paddr, enum snp_page_op op)
{
	u64 v;

	g->stats.psc_msr++;
	v = ghcb_msr_call(g, SNP_GHCB_MSR_PSC(paddr >> SNP_PAGE_SHIFT, op));
	if (SNP_GHCB_MSR_INFO(v) != SNP_GHCB_MSR_PSC_RESP || SNP_GHCB_MSR_PSC_RESP_ERR(v))
		snp_sev_terminate(g, SNP_TERM_SET_LINUX, SNP_TERM_PSC, paddr);
}

static void early_set_pages_state(struct snp_sev *g, u64 paddr, u64 npages, enum snp_page_op op)
{
	u64 pa, end;

	if (!range_ok(paddr, npages))
		snp_sev_terminate(g, SNP_TERM_SET_LINUX, SNP_TERM_PSC, paddr);
	end = paddr + (npages << SNP_PAGE_SHIFT);
	for (pa = paddr; pa < end; pa += SNP_PAGE_4K) {
		if (op == SNP_PAGE_SHARED)
			snp_sev_pvalidate_range(g, pa, 1, false);
		early_psc(g, pa, op);
		if (op == SNP_PAGE_PRIVATE)
			snp_sev_pvalidate_range(g, pa, 1, true);
	}
}

static void accept_before_convert(struct snp_sev *g, u64 va, u64 npages);

void snp_sev_early_set_memory_private(struct snp_sev *g, u64 paddr, u64 npages)
{
	accept_before_convert(g, paddr, npages);
	early_set_pages_state(g, paddr, npages, SNP_PAGE_PRIVATE);
}

void snp_sev_early_set_memory_shared(struct snp_sev *g, u64 paddr, u64 npages)
{
	accept_before_convert(g, paddr, npages);
	early_set_pages_state(g, paddr, npages, SNP_PAGE_SHARED);
}

/* ---- page state change: GHCB descriptor ---------------------------------- */

void snp_sev_ghcb_prepare(struct snp_sev *g, u64 exit_code, u64 info1, u64 info2)
{
	struct snp_ghcb *ghcb = g->ghcb;

	memset(ghcb->valid_bitmap, 0, sizeof(ghcb->valid_bitmap));
	ghcb->protocol_version = cpu_to_le16(g->ghcb_version);
	ghcb->ghcb_usage = 0;
	ghcb->sw_exit_code = cpu_to_le64(exit_code);
	ghcb->sw_exit_info_1 = cpu_to_le64(info1);
	ghcb->sw_exit_info_2 = cpu_to_le64(info2);
	SNP_GHCB_SET_VALID(ghcb, sw_exit_code);
	SNP_GHCB_SET_VALID(ghcb, sw_exit_info_1);
	SNP_GHCB_SET_VALID(ghcb, sw_exit_info_2);
}

void snp_sev_ghcb_exit(struct snp_sev *g)
{
	g->stats.nae_exits++;
	snp_cpu_wrmsr(SNP_MSR_GHCB, g->ghcb_gpa);
	snp_cpu_vmgexit();
}

/* Fill the private descriptor from [va, end); returns where it stopped. */
static u64 psc_fill(struct snp_sev *g, u64 va, u64 end, enum snp_page_op op, u16 *ret_nr)
{
	struct snp_psc_desc *d = &g->psc;
	u16 n = 0;

	while (va < end && n < SNP_PSC_MAX_ENTRIES) {
		bool huge = use_2m(va, end);

		d->entries[n++] = cpu_to_le64(snp_psc_entry(va >> SNP_PAGE_SHIFT, op, huge));
		va += huge ? SNP_PMD_SIZE : SNP_PAGE_4K;
	}
	d->hdr.cur_entry = 0;
	d->hdr.end_entry = cpu_to_le16(n - 1);
	d->hdr.reserved = 0;
	*ret_nr = n;
	return va;
}

static void psc_fail(struct snp_sev *g, u64 info)
{
	snp_sev_terminate(g, SNP_TERM_SET_LINUX, SNP_TERM_PSC, info);
}

/*
 * Hand the descriptor to the hypervisor until it says every entry is done.
 * The hypervisor may stop early (CUR_ENTRY and an entry's CUR_PAGE say how
 * far it got) and is asked again; it may not go backwards, change the end,
 * set reserved bits, touch anything in an entry but CUR_PAGE, or stall.
 */
static void psc_run(struct snp_sev *g, u16 nr)
{
	struct snp_psc_desc *shared = (struct snp_psc_desc *)g->ghcb->shared_buffer;
	const u16 end = nr - 1;
	unsigned int stalls = 0;
	u16 cur = 0;
	u32 cur_page = 0;

	memcpy(shared, &g->psc, sizeof(shared->hdr) + nr * sizeof(shared->entries[0]));
	for (;;) {
		struct snp_psc_hdr hdr;
		u64 info1, info2;
		u16 i, new_cur;
		u32 new_page = 0;

		snp_sev_ghcb_prepare(g, SNP_NAE_PSC, 0, 0);
		g->ghcb->sw_scratch =
			cpu_to_le64(g->ghcb_gpa + offsetof(struct snp_ghcb, shared_buffer));
		SNP_GHCB_SET_VALID(g->ghcb, sw_scratch);
		g->stats.psc_exits++;
		snp_sev_ghcb_exit(g);

		info1 = le64_to_cpu(READ_ONCE(g->ghcb->sw_exit_info_1));
		info2 = le64_to_cpu(READ_ONCE(g->ghcb->sw_exit_info_2));
		if ((u32)info1 != SNP_GHCB_RESULT_OK)
			psc_fail(g, info1);
		if (info2)
			psc_fail(g, info2);

		memcpy(&hdr, &shared->hdr, sizeof(hdr));
		new_cur = le16_to_cpu(hdr.cur_entry);
		if (hdr.reserved || le16_to_cpu(hdr.end_entry) != end || new_cur < cur ||
		    new_cur > end + 1)
			psc_fail(g, ((u64)new_cur << 16) | le16_to_cpu(hdr.end_entry));

		/* Entries may only gain progress in CUR_PAGE. */
		for (i = cur; i <= end; i++) {
			u64 mine = le64_to_cpu(g->psc.entries[i]);
			u64 theirs = le64_to_cpu(READ_ONCE(shared->entries[i]));
			u32 max = (mine & SNP_PSC_PAGESIZE_2M) ? SNP_PAGES_PER_PMD : 1;
			u32 page = snp_psc_entry_cur_page(theirs);

			if ((mine & ~SNP_PSC_CUR_PAGE_MASK) != (theirs & ~SNP_PSC_CUR_PAGE_MASK) ||
			    page > max)
				psc_fail(g, theirs);
			if (i == new_cur)
				new_page = page;
		}
		if (new_cur == end + 1)
			break;
		/*
		 * No entry finished and no page of the current one done: a busy
		 * host may do that now and then, but not for ever.
		 */
		if (new_cur == cur && new_page <= cur_page) {
			if (++stalls > SNP_PSC_MAX_STALLS)
				psc_fail(g, new_cur);
			continue;
		}
		stalls = 0;
		cur = new_cur;
		cur_page = new_page;
	}
	g->stats.psc_entries += nr;
}

static void set_pages_state(struct snp_sev *g, u64 va, u64 npages, enum snp_page_op op)
{
	u64 end;

	if (!range_ok(va, npages))
		snp_sev_terminate(g, SNP_TERM_SET_LINUX, SNP_TERM_PSC, va);
	if (!g->ghcb) {
		early_set_pages_state(g, va, npages, op);
		return;
	}
	/* One GHCB and no backup: a nested use would clobber the first. */
	if (g->ghcb_busy)
		snp_sev_terminate(g, SNP_TERM_SET_GEN, SNP_TERM_GEN_REQ, va);
	end = va + (npages << SNP_PAGE_SHIFT);
	while (va < end) {
		u16 nr;
		u64 next = psc_fill(g, va, end, op, &nr);
		u64 n = (next - va) >> SNP_PAGE_SHIFT;

		if (op == SNP_PAGE_SHARED)
			snp_sev_pvalidate_range(g, va, n, false);
		g->ghcb_busy = true;
		psc_run(g, nr);
		g->ghcb_busy = false;
		if (op == SNP_PAGE_PRIVATE)
			snp_sev_pvalidate_range(g, va, n, true);
		va = next;
	}
}

/*
 * Memory is accepted before anyone converts it: a conversion inside a unit
 * that is still listed would validate pages the bitmap still calls
 * unaccepted, and a later #VC there would accept (validate) them again.
 */
static void accept_before_convert(struct snp_sev *g, u64 va, u64 npages)
{
	if (g->unaccepted_gpa && range_ok(va, npages))
		snp_sev_accept_memory(g, va, va + (npages << SNP_PAGE_SHIFT));
}

void snp_sev_set_memory_private(struct snp_sev *g, u64 vaddr, u64 npages)
{
	accept_before_convert(g, vaddr, npages);
	set_pages_state(g, vaddr, npages, SNP_PAGE_PRIVATE);
}

void snp_sev_set_memory_shared(struct snp_sev *g, u64 vaddr, u64 npages)
{
	accept_before_convert(g, vaddr, npages);
	set_pages_state(g, vaddr, npages, SNP_PAGE_SHARED);
}

/* ---- set_memory_{en,de}crypted ---------------------------------------------- */

/*
 * Shared: rescind and convert while the mapping is still private, then
 * clear the C-bit. Private: set the C-bit, then convert and validate.
 */
static int set_memory_enc_dec(struct snp_sev *g, u64 va, u64 npages, bool enc, bool early)
{
	int r;

	if (!range_ok(va, npages))
		return -EINVAL;
	if (!snp_sev_snp_active(g))
		return snp_cpu_set_c_bit(va, npages, enc);
	accept_before_convert(g, va, npages);
	if (enc) {
		r = snp_cpu_set_c_bit(va, npages, true);
		if (r)
			return r;
		if (early)
			early_set_pages_state(g, va, npages, SNP_PAGE_PRIVATE);
		else
			set_pages_state(g, va, npages, SNP_PAGE_PRIVATE);
	} else {
		if (early)
			early_set_pages_state(g, va, npages, SNP_PAGE_SHARED);
		else
			set_pages_state(g, va, npages, SNP_PAGE_SHARED);
		return snp_cpu_set_c_bit(va, npages, false);
	}
	return 0;
}

int snp_sev_set_memory_encrypted(struct snp_sev *g, u64 vaddr, u64 npages)
{
	return set_memory_enc_dec(g, vaddr, npages, true, false);
}

int snp_sev_set_memory_decrypted(struct snp_sev *g, u64 vaddr, u64 npages)
{
	return set_memory_enc_dec(g, vaddr, npages, false, false);
}

int snp_sev_early_set_memory_encrypted(struct snp_sev *g, u64 vaddr, u64 npages)
{
	return set_memory_enc_dec(g, vaddr, npages, true, true);
}

int snp_sev_early_set_memory_decrypted(struct snp_sev *g, u64 vaddr, u64 npages)
{
	return set_memory_enc_dec(g, vaddr, npages, false, true);
}

/* ---- unaccepted memory ----------------------------------------------------- */

#define UNACCEPTED_BITMAP(g) ((g)->unaccepted_gpa + sizeof(struct snp_unaccepted_table))

static bool unit_listed(struct snp_sev *g, u64 unit)
{
	u8 byte;

	guest_read(g, UNACCEPTED_BITMAP(g) + unit / 8, &byte, 1);
	return byte & (1U << (unit % 8));
}

static void unit_clear(struct snp_sev *g, u64 unit)
{
	u64 at = UNACCEPTED_BITMAP(g) + unit / 8;
	u8 byte;

	guest_read(g, at, &byte, 1);
	byte &= (u8) ~(1U << (unit % 8));
	guest_write(g, at, &byte, 1);
}

bool snp_sev_unaccepted(struct snp_sev *g, u64 gpa)
{
	u64 unit;

	if (!g->unaccepted_gpa || gpa < g->accept_base)
		return false;
	unit = (gpa - g->accept_base) / g->unit_size;
	return unit < g->accept_units && unit_listed(g, unit);
}

void snp_sev_accept_memory(struct snp_sev *g, u64 start, u64 end)
{
	u64 first, last, unit, limit;

	if (!g->unaccepted_gpa)
		return;
	limit = g->accept_base + g->accept_units * g->unit_size; /* checked at setup */
	if (start < g->accept_base)
		start = g->accept_base;
	if (end > limit)
		end = limit;
	if (end <= start)
		return;
	first = (start - g->accept_base) / g->unit_size;
	last = (end - g->accept_base + g->unit_size - 1) / g->unit_size;
	if (last > g->accept_units)
		last = g->accept_units;

	/* Runs of listed units become one page state change each. */
	for (unit = first; unit < last;) {
		u64 run = unit, pages;

		if (!unit_listed(g, unit)) {
			unit++;
			continue;
		}
		while (run < last && unit_listed(g, run))
			run++;
		pages = (run - unit) * (g->unit_size >> SNP_PAGE_SHIFT);
		set_pages_state(g, g->accept_base + unit * g->unit_size, pages, SNP_PAGE_PRIVATE);
		g->stats.units_accepted += run - unit;
		for (; unit < run; unit++)
			unit_clear(g, unit);
	}
}

void snp_sev_handle_vc(struct snp_sev *g, u64 error_code, u64 fault_addr)
{
	if (error_code != SNP_EXIT_PAGE_NOT_VALIDATED)
		snp_sev_terminate(g, SNP_TERM_SET_GEN, SNP_TERM_GEN_REQ, error_code);
	g->stats.vc_not_validated++;
	/*
	 * Only memory the firmware listed as unaccepted may be found not
	 * validated. Anything else was validated once and lost it behind our
	 * back (RMPUPDATE, or a remap to another page): never validate it again.
	 * A #VC while accepting (the bitmap itself not validated) or while the
	 * GHCB is in use (one GHCB, no backup) cannot be handled either.
	 */
	if (g->in_vc || g->ghcb_busy)
		snp_sev_terminate(g, SNP_TERM_SET_GEN, SNP_TERM_GEN_REQ, fault_addr);
	g->in_vc = true;
	if (!snp_sev_unaccepted(g, fault_addr))
		snp_sev_terminate(g, SNP_TERM_SET_GEN, SNP_TERM_GEN_REQ, fault_addr);
	snp_sev_accept_memory(g, fault_addr, fault_addr + 1);
	g->in_vc = false;
}

struct span {
	u64 start, end;
};

static bool overlaps(u64 start, u64 end, const struct span *sp, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if (start < sp[i].end && sp[i].start < end)
			return true;
	return false;
}

/* [start, end) lies inside one E820 RAM entry. */
static bool in_e820_ram(const struct snp_sev *g, u64 start, u64 end)
{
	for (unsigned int i = 0; i < g->e820_nr; i++) {
		u64 addr = le64_to_cpu(g->e820[i].addr), size = le64_to_cpu(g->e820[i].size);

		if (le32_to_cpu(g->e820[i].type) != SNP_E820_RAM || size > SNP_PA_LIMIT ||
		    addr > SNP_PA_LIMIT - size)
			continue;
		if (start >= addr && end <= addr + size)
			return true;
	}
	return false;
}

/*
 * The table says which memory nobody validated yet. Accepting it validates
 * it, so a table listing memory in use (the image, the boot data, the table
 * itself) or memory that is not RAM would make us validate live pages a
 * second time: refuse such a table.
 */
static void setup_unaccepted(struct snp_sev *g, u64 table, const struct span *busy,
			     unsigned int nbusy)
{
	struct snp_unaccepted_table t;
	u64 unit, base, size, units, u;
	struct span self;

	guest_read(g, table, &t, sizeof(t));
	unit = le32_to_cpu(t.unit_size);
	base = le64_to_cpu(t.phys_base);
	size = le64_to_cpu(t.size);
	units = size * 8;
	if (le32_to_cpu(t.version) != 1 || unit < SNP_PAGE_4K || (unit & (unit - 1)) ||
	    !SNP_IS_ALIGNED(base, unit) || size > SNP_UNACCEPTED_MAX_BITMAP ||
	    base >= SNP_PA_LIMIT || units > (SNP_PA_LIMIT - base) / unit)
		snp_sev_terminate(g, SNP_TERM_SET_GEN, SNP_TERM_GEN_REQ, table);
	self.start = table;
	self.end = table + sizeof(t) + size;
	if (self.end < table)
		snp_sev_terminate(g, SNP_TERM_SET_GEN, SNP_TERM_GEN_REQ, table);

	for (u = 0; u < units; u += 8) {
		u8 byte;

		guest_read(g, table + sizeof(t) + u / 8, &byte, 1);
		for (unsigned int b = 0; byte && b < 8; b++) {
			u64 start = base + (u + b) * unit, end = start + unit;

			if (!(byte & (1U << b)))
				continue;
			if (overlaps(start, end, busy, nbusy) || overlaps(start, end, &self, 1) ||
			    !in_e820_ram(g, start, end))
				snp_sev_terminate(g, SNP_TERM_SET_GEN, SNP_TERM_GEN_REQ, start);
		}
	}
	g->unaccepted_gpa = table;
	g->unit_size = unit;
	g->accept_base = base;
	g->accept_units = units;
}

/* ---- boot ------------------------------------------------------------------ */

struct boot_handoff {
	u64 cc_blob;
	u64 unaccepted;
};

/*
 * boot_params.cc_blob_address, else SETUP_CC_BLOB; the unaccepted table;
 * the E820 map. -EINVAL for anything malformed, a duplicate included.
 */
static int read_boot_params(struct snp_sev *g, u64 bp, struct boot_handoff *h)
{
	bool have_cc = false, have_ua = false;
	u8 buf[8];
	u64 next;
	int n;

	if (snp_cpu_read(bp + SNP_BP_HDR_BOOT_FLAG, buf, 2) < 0 ||
	    snp_get_le16(buf) != SNP_BP_BOOT_FLAG)
		return -EINVAL;
	if (snp_cpu_read(bp + SNP_BP_HDR_MAGIC, buf, 4) < 0 || snp_get_le32(buf) != SNP_BP_MAGIC)
		return -EINVAL;
	if (snp_cpu_read(bp + SNP_BP_CC_BLOB_ADDRESS, buf, 4) < 0)
		return -EINVAL;
	h->cc_blob = snp_get_le32(buf);
	h->unaccepted = 0;
	if (snp_cpu_read(bp + SNP_BP_E820_ENTRIES, &g->e820_nr, 1) < 0 ||
	    g->e820_nr > SNP_E820_MAX_ENTRIES ||
	    snp_cpu_read(bp + SNP_BP_E820_TABLE, g->e820, g->e820_nr * sizeof(g->e820[0])) < 0)
		return -EINVAL;
	if (snp_cpu_read(bp + SNP_BP_HDR_SETUP_DATA, buf, 8) < 0)
		return -EINVAL;
	next = snp_get_le64(buf);
	/* Bounded walk: a loop in the list ends here too. */
	for (n = 0; next && n < SNP_SETUP_MAX_ENTRIES; n++) {
		struct snp_setup_data sd;
		u64 payload = next + sizeof(sd);
		u32 type, len;

		if (snp_cpu_read(next, &sd, sizeof(sd)) < 0)
			return -EINVAL;
		type = le32_to_cpu(sd.type);
		len = le32_to_cpu(sd.len);
		if (type == SNP_SETUP_CC_BLOB) {
			if (have_cc || len < 4 || snp_cpu_read(payload, buf, 4) < 0)
				return -EINVAL;
			have_cc = true;
			/* the boot_params field, when set, is the one in use */
			if (!h->cc_blob)
				h->cc_blob = snp_get_le32(buf);
		} else if (type == SNP_SETUP_UNACCEPTED_MEM) {
			if (have_ua || len < 8 || snp_cpu_read(payload, buf, 8) < 0)
				return -EINVAL;
			have_ua = true;
			h->unaccepted = snp_get_le64(buf);
		}
		next = le64_to_cpu(sd.next);
	}
	return next ? -EINVAL : 0;
}

static void setup_cc_blob(struct snp_sev *g, u64 at)
{
	struct snp_cc_blob cc;
	u64 secrets, cpuid;

	guest_read(g, at, &cc, sizeof(cc));
	if (le32_to_cpu(cc.magic) != SNP_CC_BLOB_MAGIC)
		snp_sev_terminate(g, SNP_TERM_SET_GEN, SNP_TERM_GEN_SNP_UNSUPP, at);
	secrets = le64_to_cpu(cc.secrets_phys);
	if (!secrets || !SNP_IS_ALIGNED(secrets, SNP_PAGE_4K) ||
	    le32_to_cpu(cc.secrets_len) != SNP_PAGE_SIZE)
		snp_sev_terminate(g, SNP_TERM_SET_LINUX, SNP_TERM_SECRETS_PAGE, secrets);
	cpuid = le64_to_cpu(cc.cpuid_phys);
	if (!cpuid || !SNP_IS_ALIGNED(cpuid, SNP_PAGE_4K) ||
	    le32_to_cpu(cc.cpuid_len) < SNP_PAGE_SIZE)
		snp_sev_terminate(g, SNP_TERM_SET_LINUX, SNP_TERM_CPUID, cpuid);
	/* From here on CPUID is answered from the private copy of this page. */
	snp_cpuid_setup(g, cpuid);
	g->secrets_gpa = secrets;
	g->cpuid_gpa = cpuid;
}

int snp_sev_boot(struct snp_sev *g, u64 boot_params, const struct snp_boot_layout *l,
		 enum snp_accept_mode mode)
{
	u64 rom_pages = (SNP_LEGACY_ROM_END - SNP_LEGACY_ROM_START) >> SNP_PAGE_SHIFT;
	struct boot_handoff h;
	struct span busy[8];
	u8 rom[2];
	int r, rb;

	/* SEV_STATUS first: with SNP on, nothing below may fail open. */
	r = snp_sev_detect(g);
	rb = read_boot_params(g, boot_params, &h);
	if (r == -ENODEV) {
		/* A CC blob says the platform meant to launch us with SNP. */
		if (rb == 0 && h.cc_blob)
			snp_sev_terminate(g, SNP_TERM_SET_GEN, SNP_TERM_GEN_SNP_UNSUPP, h.cc_blob);
		return rb < 0 ? rb : r;
	}
	if (rb < 0 || !h.cc_blob)
		snp_sev_terminate(g, SNP_TERM_SET_GEN, SNP_TERM_GEN_SNP_UNSUPP, boot_params);
	setup_cc_blob(g, h.cc_blob);
	/* The SEV leaves once more, now from the CPUID table (Linux's sev_enable()). */
	snp_cpuid_vc(g, &(struct snp_cpuid_leaf){ .fn = 0x80000000 });
	snp_cpuid_vc(g, &(struct snp_cpuid_leaf){ .fn = 0x8000001f });

	snp_sev_negotiate_protocol(g);
	snp_sev_check_hv_features(g);
	snp_sev_enforce_vmpl0(g, l->ghcb_gpa);

	/* The GHCB: shared, then registered, before any NAE exit. */
	if (snp_sev_early_set_memory_decrypted(g, l->ghcb_gpa, 1) < 0)
		snp_sev_terminate(g, SNP_TERM_SET_LINUX, SNP_TERM_REGISTER, l->ghcb_gpa);
	snp_sev_register_ghcb(g, l->ghcb_gpa);

	/*
	 * The ROMs are not RAM: nobody validated them, so do it before reading
	 * (as the SNP series did; later Linux stopped scanning ROMs under SNP).
	 */
	snp_sev_early_set_memory_private(g, SNP_LEGACY_ROM_START, rom_pages);
	guest_read(g, SNP_LEGACY_ROM_START, rom, sizeof(rom));

	/* .bss..decrypted holds data shared with the hypervisor. */
	if (l->bss_decrypted_end > l->bss_decrypted_start &&
	    snp_sev_early_set_memory_decrypted(g, l->bss_decrypted_start,
					       (l->bss_decrypted_end - l->bss_decrypted_start) >>
						       SNP_PAGE_SHIFT) < 0)
		snp_sev_terminate(g, SNP_TERM_SET_GEN, SNP_TERM_GEN_REQ, l->bss_decrypted_start);

	g->mode = mode;
	if (h.unaccepted) {
		/* What is in use already; the first MiB is never left unaccepted. */
		busy[0] = (struct span){ 0, SNP_LEGACY_ROM_END };
		busy[1] = (struct span){ l->image_start, l->image_end };
		busy[2] = (struct span){ l->ghcb_gpa, l->ghcb_gpa + SNP_PAGE_4K };
		busy[3] = (struct span){ boot_params, boot_params + SNP_BP_SIZE };
		busy[4] = (struct span){ h.cc_blob, h.cc_blob + sizeof(struct snp_cc_blob) };
		busy[5] = (struct span){ g->secrets_gpa, g->secrets_gpa + SNP_PAGE_4K };
		busy[6] = (struct span){ g->cpuid_gpa, g->cpuid_gpa + SNP_PAGE_4K };
		setup_unaccepted(g, h.unaccepted, busy, 7);
		if (mode == SNP_ACCEPT_EAGER)
			snp_sev_accept_memory(g, g->accept_base,
					      g->accept_base + g->accept_units * g->unit_size);
	}
	return 0;
}
