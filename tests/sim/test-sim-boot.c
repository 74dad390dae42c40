// SPDX-License-Identifier: Apache-2.0
/*
 * Guest memory validation (kernel/snp-sev.c) on the simulated machine
 * (sim/machine.c): both acceptance modes validate every page exactly once,
 * lazy acceptance validates only what is touched, every hypervisor attack
 * ends the guest with the right reason, conversions round-trip, large and
 * fragmented ranges batch correctly, and a hypervisor that answers at
 * random never makes the guest validate a page twice.
 *
 * Attestation from the booted guest: a report through the guest's GHCB
 * that verifies, a hypervisor that refuses private pages, BUSY retried.
 *
 * The protocol tests at the end drive the guest code with a scripted
 * hypervisor (struct fake) to check each inconsistent answer on its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/util.h"
#include "kernel/snp-cpuid.h"
#include "kshim-vcpu.h"
#include "lib/verify.h"
#include "sim/boot.h"
#include "tests/sim/sim-test.h"
#include "sim/sim.h"

#define MIB (1ULL << 20)

static struct sim_boot_opts base_opts(u64 mib, enum snp_accept_mode mode)
{
	return (struct sim_boot_opts){ .memory_mib = mib, .mode = mode };
}

static bool in(u64 gpa, u64 start, u64 end)
{
	return gpa >= start && gpa < end;
}

/* Pages the boot makes shared on purpose: the GHCB and .bss..decrypted. */
static bool made_shared(u64 gpa)
{
	return gpa == SIM_BOOT_GHCB || in(gpa, SIM_BOOT_BSS_DEC_START, SIM_BOOT_BSS_DEC_END);
}

static void check_page(struct sim_machine *m, u64 gpa, bool want_valid)
{
	struct sim_page_info pi;

	assert_int_equal(sim_machine_page(m, gpa, &pi), 0);
	if (want_valid) {
		if (!(pi.assigned && pi.validated && pi.rmp_gpa == gpa && pi.c_bit &&
		      pi.validations == 1 && pi.rescinds == 0))
			fail_msg("GPA 0x%llx: assigned %d validated %d rmp_gpa 0x%llx c %d "
				 "validations %u rescinds %u",
				 (unsigned long long)gpa, pi.assigned, pi.validated,
				 (unsigned long long)pi.rmp_gpa, pi.c_bit, pi.validations,
				 pi.rescinds);
	} else if (pi.assigned || pi.validations) {
		fail_msg("GPA 0x%llx should never have been accepted (validations %u)",
			 (unsigned long long)gpa, pi.validations);
	}
}

static void test_pre_validates_every_page_once(void **state)
{
	struct sim_boot_opts o = base_opts(64, SNP_ACCEPT_EAGER);
	struct sim_boot_result res;
	struct sim_machine *m = NULL;
	u64 gpa, ram = 64 * MIB;

	(void)state;
	assert_int_equal(sim_boot(&o, &m, &res), 0);
	assert_int_equal(res.exit.result, SIM_RUN_DONE);
	for (gpa = 0; gpa < ram; gpa += SNP_PAGE_SIZE) {
		struct sim_page_info pi;

		if (in(gpa, SIM_BOOT_LOW_RAM_END, SNP_LEGACY_ROM_START)) {
			check_page(m, gpa, false); /* the VGA hole: nobody's memory */
		} else if (made_shared(gpa)) {
			assert_int_equal(sim_machine_page(m, gpa, &pi), 0);
			assert_false(pi.assigned);
			assert_false(pi.c_bit);
			assert_int_equal(pi.validations, 1);
			assert_int_equal(pi.rescinds, 1);
		} else {
			check_page(m, gpa, true);
		}
	}
	assert_int_equal(res.units_left, 0);
	assert_int_equal(res.pages_twice, 0);
	/* RAM from 4M on, plus the 64 pages of legacy ROM */
	assert_int_equal(res.guest.pages_validated, (ram - SIM_BOOT_ACCEPT_BASE) / 4096 + 64);
	assert_int_equal(res.guest.vc_not_validated, 0);
	assert_int_equal(res.guest.units_accepted, (ram - SIM_BOOT_ACCEPT_BASE) / SIM_BOOT_UNIT);
	/* the run is 2M-aligned: 2M page state changes and PVALIDATEs only */
	assert_int_equal(res.guest.size_mismatch, 0);
	assert_int_equal(res.guest.pvalidate_2m, (ram - SIM_BOOT_ACCEPT_BASE) / SIM_BOOT_UNIT);
	assert_int_equal(res.ghcb_version, 2);
	sim_machine_free(m);
}

static void test_lazy_validates_only_touched(void **state)
{
	struct sim_boot_opts o = base_opts(64, SNP_ACCEPT_LAZY);
	struct sim_boot_result res;
	struct sim_machine *m = NULL;
	u64 gpa, ram = 64 * MIB, touched_end;

	(void)state;
	o.touch_mib = 9; /* [4M, 13M): units [4M,6M) .. [12M,14M) */
	touched_end = SIM_BOOT_ACCEPT_BASE + 5 * SIM_BOOT_UNIT;
	assert_int_equal(sim_boot(&o, &m, &res), 0);
	assert_int_equal(res.exit.result, SIM_RUN_DONE);
	for (gpa = SIM_BOOT_ACCEPT_BASE; gpa < ram; gpa += SNP_PAGE_SIZE)
		check_page(m, gpa, gpa < touched_end);
	assert_int_equal(res.guest.vc_not_validated, 5);
	assert_int_equal(res.guest.units_accepted, 5);
	assert_int_equal(res.units_left, (ram - touched_end) / SIM_BOOT_UNIT);
	assert_int_equal(res.guest.pages_validated, 5 * 512 + 64);
	assert_int_equal(res.pages_twice, 0);
	sim_machine_free(m);
}

static void test_lazy_cost_follows_touch_not_ram(void **state)
{
	struct sim_boot_result small, big, more;
	struct sim_boot_opts o;

	(void)state;
	o = base_opts(64, SNP_ACCEPT_LAZY);
	o.touch_mib = 16;
	assert_int_equal(sim_boot(&o, NULL, &small), 0);
	o = base_opts(4096, SNP_ACCEPT_LAZY);
	o.touch_mib = 16;
	assert_int_equal(sim_boot(&o, NULL, &big), 0);
	o.touch_mib = 64;
	assert_int_equal(sim_boot(&o, NULL, &more), 0);
	/* the same work for 64 MiB and 4 GiB of RAM ... */
	assert_int_equal(small.guest.pages_validated, big.guest.pages_validated);
	assert_int_equal(small.guest.pvalidate_2m, big.guest.pvalidate_2m);
	assert_int_equal(small.guest.psc_entries, big.guest.psc_entries);
	assert_int_equal(small.hw.rmpupdates, big.hw.rmpupdates);
	/* ... and four times the work for four times the touch */
	assert_int_equal(more.guest.pages_validated - 64, 4 * (big.guest.pages_validated - 64));
}

struct attack_case {
	enum sim_attack attack;
	u8 set, code;
	const char *phase;
};

static void test_every_attack_is_detected(void **state)
{
	static const struct attack_case cases[] = {
		{ SIM_ATTACK_REMAP, SNP_TERM_SET_GEN, SNP_TERM_GEN_REQ, "run" },
		{ SIM_ATTACK_UNVALIDATE, SNP_TERM_SET_GEN, SNP_TERM_GEN_REQ, "run" },
		{ SIM_ATTACK_PSC_IGNORE, SNP_TERM_SET_LINUX, SNP_TERM_PSC, "boot" },
		{ SIM_ATTACK_PSC_PARTIAL, SNP_TERM_SET_LINUX, SNP_TERM_PVALIDATE, "boot" },
		{ SIM_ATTACK_NO_SNP, SNP_TERM_SET_GEN, SNP_TERM_GEN_SNP_UNSUPP, "boot" },
		{ SIM_ATTACK_GHCB_V1, SNP_TERM_SET_GEN, SNP_TERM_GEN_PROTO, "boot" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int mode = SNP_ACCEPT_EAGER; mode <= SNP_ACCEPT_LAZY; mode++) {
			struct sim_boot_opts o = base_opts(32, (enum snp_accept_mode)mode);
			struct sim_machine *m = NULL;
			struct sim_boot_result res;

			o.attack = cases[i].attack;
			o.touch_mib = 8;
			assert_int_equal(sim_boot(&o, &m, &res), 1);
			if (res.exit.result != SIM_RUN_TERMINATED ||
			    res.exit.term_set != cases[i].set ||
			    res.exit.term_code != cases[i].code)
				fail_msg("%s/%d: result %d set %u code %u (%s)",
					 sim_attack_to_string(cases[i].attack), mode,
					 res.exit.result, res.exit.term_set, res.exit.term_code,
					 res.exit.why);
			assert_string_equal(res.phase, cases[i].phase);
			assert_int_equal(res.pages_twice, 0);
			if (res.victim_gpa) {
				struct sim_page_info pi;

				/* the guest refused the page: never validated again */
				assert_int_equal(sim_machine_page(m, res.victim_gpa, &pi), 0);
				assert_false(pi.validated);
				assert_int_equal(pi.validations, 1);
			}
			sim_machine_free(m);
		}
	}
}

static void test_psc_attacks_on_the_ghcb_path(void **state)
{
	static const struct {
		enum sim_attack attack;
		u8 code;
	} cases[] = {
		{ SIM_ATTACK_PSC_IGNORE, SNP_TERM_PSC },
		{ SIM_ATTACK_PSC_PARTIAL, SNP_TERM_PVALIDATE },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sim_boot_opts o = base_opts(32, SNP_ACCEPT_LAZY);
		struct sim_boot_result res;

		/* an honest boot, then page state changes through the GHCB go wrong */
		o.attack = cases[i].attack;
		o.attack_after_boot = true;
		o.touch_mib = 8;
		assert_int_equal(sim_boot(&o, NULL, &res), 1);
		assert_int_equal(res.exit.result, SIM_RUN_TERMINATED);
		assert_string_equal(res.phase, "run");
		assert_int_equal(res.exit.term_set, SNP_TERM_SET_LINUX);
		assert_int_equal(res.exit.term_code, cases[i].code);
		assert_true(res.hw.psc_exits >= 1);
		assert_int_equal(res.guest.units_accepted, 0);
		assert_int_equal(res.pages_twice, 0);
	}
}

static void reencrypt_around(struct snp_sev *g, void *arg)
{
	(void)arg;
	/* one page of a validated 2M page made shared, then the whole 2M "made private" */
	assert_int_equal(snp_sev_set_memory_decrypted(g, 8 * MIB + 4096, 1), 0);
	snp_sev_set_memory_encrypted(g, 8 * MIB, 512);
	fail_msg("511 live pages validated a second time");
}

static void test_reencrypting_live_pages_is_fatal(void **state)
{
	(void)state;
	for (int only_4k = 0; only_4k <= 1; only_4k++) {
		struct sim_boot_opts o = base_opts(32, SNP_ACCEPT_EAGER);
		struct sim_boot_result res;

		o.psc_4k_only = only_4k;
		o.after_boot = reencrypt_around;
		assert_int_equal(sim_boot(&o, NULL, &res), 1);
		assert_int_equal(res.exit.result, SIM_RUN_TERMINATED);
		assert_int_equal(res.exit.term_set, SNP_TERM_SET_LINUX);
		assert_int_equal(res.exit.term_code, SNP_TERM_PVALIDATE);
		assert_int_equal(res.pages_twice, 0);
	}
}

static void test_platform_checks(void **state)
{
	static const struct {
		u32 vmpl;
		u64 sev_status;
		u8 set, code;
	} cases[] = {
		{ 1, 0, SNP_TERM_SET_LINUX, SNP_TERM_NOT_VMPL0 },
		{ 0, SNP_STATUS_SEV | SNP_STATUS_SEV_ES | SNP_STATUS_SNP | SNP_STATUS_VTOM,
		  SNP_TERM_SET_GEN, SNP_TERM_GEN_SNP_UNSUPP },
		{ 0, SNP_STATUS_SEV | SNP_STATUS_SEV_ES | SNP_STATUS_SNP | SNP_STATUS_SECURE_TSC,
		  SNP_TERM_SET_GEN, SNP_TERM_GEN_SNP_UNSUPP },
		/* a CC blob but no SNP: the platform lied about what it launched */
		{ 0, SNP_STATUS_SEV | SNP_STATUS_SEV_ES, SNP_TERM_SET_GEN,
		  SNP_TERM_GEN_SNP_UNSUPP },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sim_boot_opts o = base_opts(16, SNP_ACCEPT_EAGER);
		struct sim_boot_result res;

		o.vmpl = cases[i].vmpl;
		o.sev_status = cases[i].sev_status;
		assert_int_equal(sim_boot(&o, NULL, &res), 1);
		assert_int_equal(res.exit.result, SIM_RUN_TERMINATED);
		assert_int_equal(res.exit.term_set, cases[i].set);
		assert_int_equal(res.exit.term_code, cases[i].code);
	}
	/* debug swap needs nothing from the guest */
	{
		struct sim_boot_opts o = base_opts(16, SNP_ACCEPT_EAGER);
		struct sim_boot_result res;

		o.sev_status =
			SNP_STATUS_SEV | SNP_STATUS_SEV_ES | SNP_STATUS_SNP | SNP_STATUS_DEBUG_SWAP;
		o.cc_blob_in_setup_data = true;
		assert_int_equal(sim_boot(&o, NULL, &res), 0);
	}
}

static void test_partial_progress_and_4k_backing(void **state)
{
	static const struct {
		u32 max_entries, max_pages;
		bool only_4k;
	} cases[] = { { 5, 37, false }, { 1, 1, false }, { 0, 0, true }, { 3, 100, true } };

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sim_boot_opts o = base_opts(32, SNP_ACCEPT_EAGER);
		struct sim_boot_result res;
		struct sim_machine *m = NULL;

		o.psc_max_entries = cases[i].max_entries;
		o.psc_max_pages = cases[i].max_pages;
		o.psc_4k_only = cases[i].only_4k;
		assert_int_equal(sim_boot(&o, &m, &res), 0);
		for (u64 gpa = SIM_BOOT_ACCEPT_BASE; gpa < 32 * MIB; gpa += SNP_PAGE_SIZE)
			check_page(m, gpa, true);
		if (cases[i].only_4k)
			assert_int_equal(res.guest.size_mismatch,
					 (32 * MIB - SIM_BOOT_ACCEPT_BASE) / SIM_BOOT_UNIT);
		else
			assert_true(res.guest.psc_exits > 1);
		assert_int_equal(res.pages_twice, 0);
		sim_machine_free(m);
	}
}

/* ---- conversions after boot ------------------------------------------------ */

#define RT_PAGES 4096 /* pages compared around a round trip */

struct round_trip {
	u64 start, npages;
	bool early;
	struct sim_page_info before[RT_PAGES], shared[RT_PAGES], after[RT_PAGES];
	int rc_dec, rc_enc;
};

static void snap(struct snp_sev *g, u64 start, u64 n, struct sim_page_info *out)
{
	for (u64 i = 0; i < n; i++)
		sim_machine_page(sim_machine_current(), start + i * SNP_PAGE_SIZE, &out[i]);
}

static void round_trip_hook(struct snp_sev *g, void *arg)
{
	struct round_trip *rt = arg;

	snap(g, rt->start, rt->npages, rt->before);
	rt->rc_dec = rt->early ? snp_sev_early_set_memory_decrypted(g, rt->start, rt->npages) :
				 snp_sev_set_memory_decrypted(g, rt->start, rt->npages);
	snap(g, rt->start, rt->npages, rt->shared);
	rt->rc_enc = rt->early ? snp_sev_early_set_memory_encrypted(g, rt->start, rt->npages) :
				 snp_sev_set_memory_encrypted(g, rt->start, rt->npages);
	snap(g, rt->start, rt->npages, rt->after);
}

static void test_round_trip_restores_rmp(void **state)
{
	static const struct {
		u64 start, npages;
		bool early, same_size;
	} cases[] = {
		{ 8 * MIB, 1024, false, true },		    /* 2M-aligned: 2M back again */
		{ 20 * MIB + 4096, 3, false, false },	    /* inside a 2M page: split */
		{ 10 * MIB - 8 * 4096, 600, false, false }, /* 4K head, 2M body, 4K tail */
		{ 30 * MIB, 5, true, false },		    /* early: MSR protocol */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sim_boot_opts o = base_opts(64, SNP_ACCEPT_EAGER);
		struct round_trip *rt = calloc(1, sizeof(*rt));
		struct sim_boot_result res;

		assert_non_null(rt);
		rt->start = cases[i].start;
		rt->npages = cases[i].npages;
		rt->early = cases[i].early;
		o.after_boot = round_trip_hook;
		o.after_boot_arg = rt;
		assert_int_equal(sim_boot(&o, NULL, &res), 0);
		assert_int_equal(rt->rc_dec, 0);
		assert_int_equal(rt->rc_enc, 0);
		for (u64 p = 0; p < rt->npages; p++) {
			assert_true(rt->before[p].assigned && rt->before[p].validated);
			assert_false(rt->shared[p].assigned);
			assert_false(rt->shared[p].c_bit);
			assert_int_equal(rt->shared[p].rescinds, 1);
			assert_true(rt->after[p].assigned);
			assert_true(rt->after[p].validated);
			assert_true(rt->after[p].c_bit);
			assert_int_equal(rt->after[p].rmp_gpa, rt->before[p].rmp_gpa);
			assert_int_equal(rt->after[p].validations, 2);
			if (cases[i].same_size)
				assert_int_equal(rt->after[p].huge, rt->before[p].huge);
		}
		free(rt);
	}
}

struct batch {
	u64 exits_before, exits_after_one, exits_after_many;
	u64 entries_before, entries_after_one;
	int rc;
};

#define BATCH_START  (16 * MIB + 4096) /* not 2M-aligned: 511 4K entries first */
#define BATCH_PAGES  (511 + 100 * 512 + 7)
#define SCATTER_BASE (300 * MIB)
#define SCATTER_N    3000

static void batch_hook(struct snp_sev *g, void *arg)
{
	struct batch *b = arg;

	b->exits_before = g->stats.psc_exits;
	b->entries_before = g->stats.psc_entries;
	b->rc = snp_sev_set_memory_decrypted(g, BATCH_START, BATCH_PAGES);
	b->exits_after_one = g->stats.psc_exits;
	b->entries_after_one = g->stats.psc_entries;
	/* thousands of separate one-page ranges, every other page */
	for (u64 i = 0; i < SCATTER_N && b->rc == 0; i++)
		b->rc = snp_sev_set_memory_decrypted(g, SCATTER_BASE + 2 * i * SNP_PAGE_SIZE, 1);
	b->exits_after_many = g->stats.psc_exits;
}

static void test_thousands_of_ranges_batch(void **state)
{
	struct sim_boot_opts o = base_opts(512, SNP_ACCEPT_EAGER);
	struct sim_boot_result res;
	struct sim_machine *m = NULL;
	struct batch b = { 0 };
	u64 entries = 511 + 100 + 7;

	(void)state;
	o.after_boot = batch_hook;
	o.after_boot_arg = &b;
	assert_int_equal(sim_boot(&o, &m, &res), 0);
	assert_int_equal(b.rc, 0);
	/* 618 entries: 3 descriptors of at most 253 */
	assert_int_equal(b.entries_after_one - b.entries_before, entries);
	assert_int_equal(b.exits_after_one - b.exits_before, (entries + 252) / 253);
	assert_int_equal(b.exits_after_many - b.exits_after_one, SCATTER_N);
	for (u64 p = 0; p < BATCH_PAGES; p++) {
		struct sim_page_info pi;

		assert_int_equal(sim_machine_page(m, BATCH_START + p * 4096, &pi), 0);
		assert_false(pi.assigned);
		assert_false(pi.c_bit);
	}
	/* neighbours untouched */
	check_page(m, BATCH_START - 4096, true);
	check_page(m, BATCH_START + BATCH_PAGES * 4096, true);
	for (u64 i = 0; i < 2 * SCATTER_N; i++) {
		struct sim_page_info pi;

		assert_int_equal(sim_machine_page(m, SCATTER_BASE + i * 4096, &pi), 0);
		assert_int_equal(pi.assigned, i % 2 == 1);
	}
	sim_machine_free(m);
}

static void double_validate_hook(struct snp_sev *g, void *arg)
{
	(void)arg;
	/* validating a page that is valid already changes nothing: CF = 1 */
	snp_sev_pvalidate_range(g, 8 * MIB + 4096, 1, true);
}

static void test_no_update_is_fatal(void **state)
{
	struct sim_boot_opts o = base_opts(16, SNP_ACCEPT_EAGER);
	struct sim_boot_result res;

	(void)state;
	o.after_boot = double_validate_hook;
	assert_int_equal(sim_boot(&o, NULL, &res), 1);
	assert_int_equal(res.exit.result, SIM_RUN_TERMINATED);
	assert_int_equal(res.exit.term_set, SNP_TERM_SET_LINUX);
	assert_int_equal(res.exit.term_code, SNP_TERM_PVALIDATE);
}

/* ---- attestation through the guest's GHCB ----------------------------------- */

/* A fresh in-memory Genoa state (the build tree's template, relaunched). */
static struct sim_state *boot_state(void)
{
	return sim_test_state(SNP_PRODUCT_GENOA);
}

static struct sim_boot_opts report_opts(u64 mib, enum snp_accept_mode mode, struct sim_state *st,
					u8 seed)
{
	struct sim_boot_opts o = base_opts(mib, mode);

	o.state = st;
	for (size_t i = 0; i < sizeof(o.report_data); i++)
		o.report_data[i] = (u8)(seed + 3 * i);
	o.retry_interval_ms = 1;
	o.retry_timeout_ms = 50;
	return o;
}

/* The report is bound to the nonce, at VMPL0, and verifies against the state's chain. */
static void check_report(const struct sim_boot_result *res, const struct sim_boot_opts *o)
{
	const struct sim_state *st = o->state;
	struct snp_verify_input in = { 0 };
	struct snp_verify_result vr;
	struct snp_policy pol = { 0 };
	struct snp_report_info ri;
	char err[256];

	assert_true(res->have_report);
	assert_int_equal(res->report_rc, 0);
	assert_int_equal(res->report_exitinfo2, 0);
	assert_int_equal(snp_report_parse(res->report, sizeof(res->report), &ri, err, sizeof(err)),
			 0);
	assert_memory_equal(ri.r.report_data, o->report_data, sizeof(o->report_data));
	assert_int_equal(le32_to_cpu(ri.r.vmpl), 0);
	assert_int_equal(ri.version, st->params.report_version);
	assert_memory_equal(ri.r.measurement, st->params.measurement, SNP_MEASUREMENT_SIZE);

	in.report = &ri;
	in.ark = st->ark;
	in.ask = st->ask;
	in.leaf = st->vcek;
	in.trust_ark = st->ark;
	in.at = time(NULL);
	pol.has_report_data = true;
	memcpy(pol.report_data, o->report_data, sizeof(pol.report_data));
	pol.has_vmpl = true;
	pol.vmpl = 0;
	pol.has_measurement = true;
	memcpy(pol.measurement, st->params.measurement, sizeof(pol.measurement));
	assert_int_equal(snp_verify(&in, &pol, &vr), 0);
	for (size_t i = 0; i < vr.n; i++)
		if (vr.checks[i].status == SNP_CHECK_FAIL)
			fail_msg("%s: %s", vr.checks[i].name, vr.checks[i].detail);
	assert_true(snp_verify_result_ok(&vr, SNP_CHECK_VERIFY));
	assert_true(snp_verify_result_ok(&vr, SNP_CHECK_POLICY));
	assert_int_equal(snp_verify_result_find(&vr, "report_sig")->status, SNP_CHECK_PASS);
}

static u32 guest_seqno(struct sim_machine *m)
{
	u8 b[4];

	assert_int_equal(sim_machine_host_read(
				 m,
				 SIM_BOOT_SECRETS + offsetof(struct snp_secrets_page, os_msg_seqno),
				 b, sizeof(b)),
			 0);
	return snp_get_le32(b);
}

static void test_report_through_ghcb(void **state)
{
	struct sim_state *st = boot_state();

	(void)state;
	for (int mode = SNP_ACCEPT_EAGER; mode <= SNP_ACCEPT_LAZY; mode++) {
		struct sim_boot_opts o =
			report_opts(64, (enum snp_accept_mode)mode, st, (u8)(0x40 + mode));
		struct sim_machine *m = NULL;
		struct sim_boot_opts plain = base_opts(64, (enum snp_accept_mode)mode);
		struct sim_boot_result res, without;
		struct snp_msg_hdr hdr;
		struct sim_page_info pi;
		u64 counter = st->fw_counter[0];

		plain.touch_mib = 6;
		assert_int_equal(sim_boot(&plain, NULL, &without), 0);
		o.touch_mib = 6;
		assert_int_equal(sim_boot(&o, &m, &res), 0);
		assert_int_equal(res.exit.result, SIM_RUN_DONE);
		check_report(&res, &o);
		assert_int_equal(res.hw.guest_requests, 1);
		/* exactly one more GHCB exit than the same boot without a report */
		assert_int_equal(res.guest.nae_exits, without.guest.nae_exits + 1);
		assert_int_equal(res.hw.nae_exits, without.hw.nae_exits + 1);
		/* the firmware and the guest's secrets page moved on together */
		assert_int_equal(st->fw_counter[0], counter + 2);
		assert_int_equal(guest_seqno(m), counter + 2);
		/* the response went through the guest's shared page, which stayed shared */
		assert_int_equal(
			sim_machine_host_read(m, SIM_BOOT_GREQ_RESPONSE, &hdr, sizeof(hdr)), 0);
		assert_int_equal(hdr.msg_type, SNP_MSG_REPORT_RSP);
		assert_int_equal(le64_to_cpu(hdr.msg_seqno), counter + 2);
		assert_int_equal(sim_machine_page(m, SIM_BOOT_GREQ_REQUEST, &pi), 0);
		assert_false(pi.assigned);
		assert_false(pi.c_bit);
		assert_null(sim_machine_hv(m)); /* detached when sim_boot() returned */
		if (mode == SNP_ACCEPT_LAZY)
			assert_int_equal(res.guest.units_accepted, 3);
		else
			assert_int_equal(res.units_left, 0);
		sim_machine_free(m);
	}
	sim_state_free(st);
}

static void test_no_report_without_state(void **state)
{
	struct sim_boot_opts o = base_opts(16, SNP_ACCEPT_EAGER);
	struct sim_boot_result res;

	(void)state;
	assert_int_equal(sim_boot(&o, NULL, &res), 0);
	assert_false(res.have_report);
	assert_int_equal(res.hw.guest_requests, 0);
}

#define PRIVATE_GPA (8 * MIB) /* private and validated after a pre-validating boot */
#define NO_INFO	    ~0ULL     /* do not mark SW_EXITINFO1/2 valid */

struct raw_answer {
	u64 info1, info2, rbx;
};

/* A guest request made by hand on the registered GHCB. */
static struct raw_answer raw_request(struct snp_sev *g, u64 code, u64 req, u64 resp, bool ext_regs,
				     u64 certs, u64 npages)
{
	struct snp_ghcb *ghcb = g->ghcb;
	struct raw_answer a;

	memset(ghcb->valid_bitmap, 0, sizeof(ghcb->valid_bitmap));
	ghcb->sw_exit_code = cpu_to_le64(code);
	SNP_GHCB_SET_VALID(ghcb, sw_exit_code);
	if (req != NO_INFO) {
		ghcb->sw_exit_info_1 = cpu_to_le64(req);
		ghcb->sw_exit_info_2 = cpu_to_le64(resp);
		SNP_GHCB_SET_VALID(ghcb, sw_exit_info_1);
		SNP_GHCB_SET_VALID(ghcb, sw_exit_info_2);
	}
	ghcb->rbx = 0;
	if (ext_regs) {
		ghcb->rax = cpu_to_le64(certs);
		ghcb->rbx = cpu_to_le64(npages);
		SNP_GHCB_SET_VALID(ghcb, rax);
		SNP_GHCB_SET_VALID(ghcb, rbx);
	}
	snp_cpu_wrmsr(SNP_MSR_GHCB, g->ghcb_gpa);
	snp_cpu_vmgexit();
	a.info1 = le64_to_cpu(ghcb->sw_exit_info_1);
	a.info2 = le64_to_cpu(ghcb->sw_exit_info_2);
	a.rbx = le64_to_cpu(ghcb->rbx);
	return a;
}

struct refuse_case {
	u64 code, req, resp;
	bool ext_regs;
	u64 certs, npages;
	u64 info1, info2;
};

#define GR  SNP_NAE_GUEST_REQUEST
#define EGR SNP_NAE_EXT_GUEST_REQUEST
#define REQ SIM_BOOT_GREQ_REQUEST
#define RSP SIM_BOOT_GREQ_RESPONSE
#define CRT SIM_BOOT_GREQ_CERTS
#define MAL SNP_GHCB_RESULT_MALFORMED

static const struct refuse_case refuse_cases[] = {
	/* private pages: the hypervisor cannot read or write them */
	{ GR, PRIVATE_GPA, RSP, false, 0, 0, MAL, SNP_GHCB_ERR_INVALID_INPUT },
	{ GR, REQ, PRIVATE_GPA, false, 0, 0, MAL, SNP_GHCB_ERR_INVALID_INPUT },
	{ EGR, REQ, RSP, true, PRIVATE_GPA, 1, MAL, SNP_GHCB_ERR_INVALID_INPUT },
	{ EGR, REQ, RSP, true, SIM_BOOT_BSS_DEC_END - 4096, 2, MAL, SNP_GHCB_ERR_INVALID_INPUT },
	/* the same page twice, not page aligned, outside RAM, too many pages */
	{ GR, REQ, REQ, false, 0, 0, MAL, SNP_GHCB_ERR_INVALID_INPUT },
	{ GR, REQ + 8, RSP, false, 0, 0, MAL, SNP_GHCB_ERR_INVALID_INPUT },
	{ GR, REQ, 64 * MIB, false, 0, 0, MAL, SNP_GHCB_ERR_INVALID_INPUT },
	{ EGR, REQ, RSP, true, CRT + 8, 1, MAL, SNP_GHCB_ERR_INVALID_INPUT },
	{ EGR, REQ, RSP, true, CRT, SNP_CERTS_MAX_LEN / 4096 + 1, MAL, SNP_GHCB_ERR_INVALID_INPUT },
	/* fields not marked valid */
	{ GR, NO_INFO, 0, false, 0, 0, MAL, SNP_GHCB_ERR_MISSING_INPUT },
	{ EGR, REQ, RSP, false, 0, 0, MAL, SNP_GHCB_ERR_MISSING_INPUT },
};

struct refuse {
	struct raw_answer got[SNP_ELEMENTSOF(refuse_cases)];
	struct raw_answer small, no_fw;
	u8 before[4096], after[4096];
	bool with_fw;
};

static void refuse_hook(struct snp_sev *g, void *arg)
{
	struct refuse *rf = arg;

	if (!rf->with_fw) {
		rf->no_fw = raw_request(g, GR, REQ, RSP, false, 0, 0);
		return;
	}
	sim_machine_host_read(sim_machine_current(), PRIVATE_GPA, rf->before, sizeof(rf->before));
	for (size_t i = 0; i < SNP_ELEMENTSOF(refuse_cases); i++) {
		const struct refuse_case *c = &refuse_cases[i];

		rf->got[i] =
			raw_request(g, c->code, c->req, c->resp, c->ext_regs, c->certs, c->npages);
	}
	sim_machine_host_read(sim_machine_current(), PRIVATE_GPA, rf->after, sizeof(rf->after));
	/* a certificate area too small: sim_hv's answer passes through, nothing is sent */
	rf->small = raw_request(g, EGR, REQ, RSP, true, CRT, 1);
}

static void test_hv_refuses_private_pages(void **state)
{
	struct sim_state *st = boot_state();
	struct sim_boot_opts o = report_opts(64, SNP_ACCEPT_EAGER, st, 7);
	struct refuse *rf = calloc(1, sizeof(*rf));
	struct sim_machine *m = NULL;
	struct sim_boot_result res;
	struct sim_page_info pi;

	(void)state;
	assert_non_null(rf);
	rf->with_fw = true;
	o.after_boot = refuse_hook;
	o.after_boot_arg = rf;
	assert_int_equal(sim_boot(&o, &m, &res), 0);
	assert_int_equal(res.exit.result, SIM_RUN_DONE);
	for (size_t i = 0; i < SNP_ELEMENTSOF(refuse_cases); i++)
		if (rf->got[i].info1 != refuse_cases[i].info1 ||
		    rf->got[i].info2 != refuse_cases[i].info2)
			fail_msg("case %zu: info1 %llu info2 %llu", i,
				 (unsigned long long)rf->got[i].info1,
				 (unsigned long long)rf->got[i].info2);
	/* the private page was neither read into a reply nor written */
	assert_memory_equal(rf->before, rf->after, sizeof(rf->before));
	assert_int_equal(sim_machine_page(m, PRIVATE_GPA, &pi), 0);
	assert_true(pi.assigned && pi.validated && pi.c_bit);
	assert_int_equal(pi.validations, 1);
	assert_int_equal(rf->small.info1, 0);
	assert_int_equal(rf->small.info2, SNP_EXITINFO2_VMM(SNP_VMM_ERR_INVALID_LEN));
	assert_true(rf->small.rbx > 1 && rf->small.rbx <= SNP_CERTS_MAX_LEN / 4096);
	/* refused exits never reach the hypervisor; the report still works */
	assert_int_equal(res.hw.guest_requests, 2);
	check_report(&res, &o);
	sim_machine_free(m);

	/* without a firmware, a guest request is an invalid event */
	o = base_opts(16, SNP_ACCEPT_EAGER);
	rf->with_fw = false;
	o.after_boot = refuse_hook;
	o.after_boot_arg = rf;
	assert_int_equal(sim_boot(&o, NULL, &res), 0);
	assert_int_equal(rf->no_fw.info1, MAL);
	assert_int_equal(rf->no_fw.info2, SNP_GHCB_ERR_INVALID_EVENT);
	assert_int_equal(res.hw.guest_requests, 0);
	free(rf);
	sim_state_free(st);
}

static void set_faults(struct sim_machine *m, void *arg)
{
	struct sim_hv *hv = sim_machine_hv(m);

	assert_non_null(hv);
	hv->faults = *(const struct sim_faults *)arg;
}

static void test_busy_is_retried(void **state)
{
	struct sim_state *st = boot_state();
	struct sim_boot_opts o = report_opts(32, SNP_ACCEPT_LAZY, st, 0x99);
	struct sim_faults f = { .busy = 1 };
	struct sim_machine *m = NULL;
	struct sim_boot_result res;
	u8 vmpck[SNP_VMPCK_LEN];

	(void)state;
	o.before_run = set_faults;
	o.before_run_arg = &f;
	o.touch_mib = 2;
	assert_int_equal(sim_boot(&o, NULL, &res), 0);
	check_report(&res, &o);
	/* the same message twice: BUSY, then the answer */
	assert_int_equal(res.hw.guest_requests, 2);
	assert_int_equal(st->fw_counter[0], 2);

	/* BUSY beyond the retry timeout: the report fails, the run goes on */
	f.busy = 1000;
	o.retry_timeout_ms = 5;
	assert_int_equal(sim_boot(&o, &m, &res), 0);
	assert_int_equal(res.exit.result, SIM_RUN_DONE);
	assert_false(res.have_report);
	assert_int_equal(res.report_rc, -ETIMEDOUT);
	assert_int_equal(res.report_exitinfo2, SNP_EXITINFO2_VMM(SNP_VMM_ERR_BUSY));
	assert_true(res.hw.guest_requests > 1);
	assert_int_equal(res.guest.units_accepted, 1); /* the touch still ran */
	sim_machine_free(m);

	/* a tampered response: the driver wipes VMPCK0, in the guest's secrets page too */
	memset(&f, 0, sizeof(f));
	f.tamper = 1;
	assert_int_equal(sim_boot(&o, &m, &res), 0);
	assert_false(res.have_report);
	assert_int_equal(res.report_rc, -EBADMSG);
	assert_int_equal(sim_machine_host_read(
				 m, SIM_BOOT_SECRETS + offsetof(struct snp_secrets_page, vmpck),
				 vmpck, sizeof(vmpck)),
			 0);
	assert_true(snp_mem_is_zero(vmpck, sizeof(vmpck)));
	sim_machine_free(m);
	sim_state_free(st);
}

/* ---- what the launch hands over, tampered with ---------------------------- */

struct tweak {
	size_t off; /* into [0, 640K) */
	u8 bytes[8];
	size_t len;
	u8 set, code; /* expected termination */
};

static void apply_tweak(u8 *low, size_t len, void *arg)
{
	const struct tweak *t = arg;

	assert_true(t->off + t->len <= len);
	memcpy(low + t->off, t->bytes, t->len);
}

#define UT(field_off) (SIM_BOOT_UNACCEPTED + (field_off))
#define LE32(v)                                                                                    \
	{                                                                                          \
		(u8)(v), (u8)((v) >> 8), (u8)((v) >> 16), (u8)((v) >> 24)                          \
	}

static void test_bad_launch_data(void **state)
{
	static const struct tweak cases[] = {
		/* boot_params */
		{ SIM_BOOT_PARAMS + SNP_BP_HDR_BOOT_FLAG, { 0x55, 0x55 }, 2, 0, 2 },
		{ SIM_BOOT_PARAMS + SNP_BP_HDR_MAGIC, { 'H', 'd', 'r', 'Z' }, 4, 0, 2 },
		{ SIM_BOOT_PARAMS + SNP_BP_E820_ENTRIES, { 200 }, 1, 0, 2 },
		/* setup_data: a second SETUP_CC_BLOB, and a list that loops */
		{ SIM_BOOT_SETUP_DATA + 24 + 8, LE32(SNP_SETUP_CC_BLOB), 4, 0, 2 },
		{ SIM_BOOT_SETUP_DATA, { 0x00, 0xb0 }, 8, 0, 2 },
		/* the CC blob and what it points to */
		{ SIM_BOOT_CC_BLOB, { 'A', 'M', 'D', 'F' }, 4, 0, 2 },
		{ SIM_BOOT_CC_BLOB + 0x10, LE32(0), 4, 1, SNP_TERM_SECRETS_PAGE },
		{ SIM_BOOT_CC_BLOB + 0x08, { 0x10, 0x90 }, 8, 1, SNP_TERM_SECRETS_PAGE },
		{ SIM_BOOT_CC_BLOB + 0x20, LE32(16), 4, 1, SNP_TERM_CPUID },
		{ SIM_BOOT_CPUID, LE32(0), 4, 1, SNP_TERM_CPUID },
		{ SIM_BOOT_CPUID, LE32(65), 4, 1, SNP_TERM_CPUID },
		/* the unaccepted table: version, unit size, base, size */
		{ UT(0), LE32(2), 4, 0, 0 },
		{ UT(4), LE32(3 * 4096), 4, 0, 0 },
		{ UT(4), LE32(2048), 4, 0, 0 },
		{ UT(8), { 0 }, 8, 0, 0 },		   /* base 0: low memory, image */
		{ UT(8), { 0x00, 0x00, 0x20 }, 8, 0, 0 },  /* base 2M: the image */
		{ UT(16), { 0x00, 0x00, 0x20 }, 8, 0, 0 }, /* a 2 MiB bitmap */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int mode = SNP_ACCEPT_EAGER; mode <= SNP_ACCEPT_LAZY; mode++) {
			struct sim_boot_opts o = base_opts(32, (enum snp_accept_mode)mode);
			struct sim_boot_result res;

			o.tweak_launch = apply_tweak;
			o.tweak_launch_arg = (void *)&cases[i];
			assert_int_equal(sim_boot(&o, NULL, &res), 1);
			if (res.exit.result != SIM_RUN_TERMINATED ||
			    res.exit.term_set != cases[i].set ||
			    res.exit.term_code != cases[i].code)
				fail_msg("case %zu mode %d: result %d set %u code %u (%s)", i, mode,
					 res.exit.result, res.exit.term_set, res.exit.term_code,
					 res.exit.why);
			assert_string_equal(res.phase, "boot");
			assert_int_equal(res.pages_twice, 0);
		}
	}
}

/* the bit beyond RAM needs a set bit: 32 MiB has 14 units, bit 16 is past the end */
static void beyond_ram(u8 *low, size_t len, void *arg)
{
	(void)len, (void)arg;
	snp_put_le64(low + UT(16), 3);
	low[UT(24) + 2] = 0x01;
}

static void test_table_listing_non_ram(void **state)
{
	struct sim_boot_opts o = base_opts(32, SNP_ACCEPT_LAZY);
	struct sim_boot_result res;

	(void)state;
	o.tweak_launch = beyond_ram;
	assert_int_equal(sim_boot(&o, NULL, &res), 1);
	assert_int_equal(res.exit.result, SIM_RUN_TERMINATED);
	assert_int_equal(res.exit.term_set, 0);
	assert_int_equal(res.exit.term_code, 0);
	assert_int_equal(res.exit.gpa, 36 * MIB);
}

/* A table in 4 KiB units: [4M, 32M) is 7168 bits. */
static void table_4k_units(u8 *low, size_t len, void *arg)
{
	u64 bytes = (32 * MIB - SIM_BOOT_ACCEPT_BASE) / 4096 / 8;

	(void)arg;
	assert_true(UT(24) + bytes <= len);
	snp_put_le32(low + UT(4), 4096);
	snp_put_le64(low + UT(16), bytes);
	memset(low + UT(24), 0xff, bytes);
}

static void test_table_in_4k_units(void **state)
{
	struct sim_boot_opts o = base_opts(32, SNP_ACCEPT_LAZY);
	struct sim_boot_result res;
	struct sim_machine *m = NULL;

	(void)state;
	o.tweak_launch = table_4k_units;
	o.touch_mib = 1;
	assert_int_equal(sim_boot(&o, &m, &res), 0);
	/* every touched page is its own unit: one #VC, one 4K entry, one PVALIDATE */
	assert_int_equal(res.guest.vc_not_validated, 256);
	assert_int_equal(res.guest.units_accepted, 256);
	assert_int_equal(res.guest.pages_validated, 256 + 64);
	assert_int_equal(res.guest.pvalidate_2m, 0);
	for (u64 gpa = SIM_BOOT_ACCEPT_BASE; gpa < 32 * MIB; gpa += SNP_PAGE_SIZE)
		check_page(m, gpa, gpa < SIM_BOOT_ACCEPT_BASE + MIB);
	sim_machine_free(m);

	/* eager: the same table is accepted in runs of units, 2M where aligned */
	o = base_opts(32, SNP_ACCEPT_EAGER);
	o.tweak_launch = table_4k_units;
	assert_int_equal(sim_boot(&o, &m, &res), 0);
	assert_int_equal(res.guest.units_accepted, 7168);
	assert_int_equal(res.guest.pvalidate_2m, 14);
	assert_int_equal(res.pages_twice, 0);
	sim_machine_free(m);
}

/* ---- conversions and acceptance in lazy mode -------------------------------- */

#define CONV_START (8 * MIB) /* in a unit nobody touched yet */

static void convert_then_attack(struct snp_sev *g, void *arg)
{
	u64 victim = CONV_START + 100 * SNP_PAGE_SIZE, word;

	(void)arg;
	/* a buffer for the host inside a still-unaccepted unit */
	assert_int_equal(snp_sev_set_memory_decrypted(g, CONV_START, 3), 0);
	assert_false(snp_sev_unaccepted(g, CONV_START));
	assert_int_equal(snp_sev_set_memory_encrypted(g, CONV_START, 3), 0);
	/* the hypervisor now takes Validated away from a page of that unit */
	assert_int_equal(sim_machine_unvalidate(sim_machine_current(), victim), 0);
	/* the guest must refuse it, not accept the unit a second time */
	snp_cpu_read(victim, &word, sizeof(word));
	fail_msg("the guest used an unvalidated page");
}

static void test_conversion_accepts_first(void **state)
{
	struct sim_boot_opts o = base_opts(32, SNP_ACCEPT_LAZY);
	struct sim_boot_result res;
	struct sim_machine *m = NULL;
	struct sim_page_info pi;

	(void)state;
	o.after_boot = convert_then_attack;
	assert_int_equal(sim_boot(&o, &m, &res), 1);
	assert_int_equal(res.exit.result, SIM_RUN_TERMINATED);
	assert_int_equal(res.exit.term_set, SNP_TERM_SET_GEN);
	assert_int_equal(res.exit.term_code, SNP_TERM_GEN_REQ);
	/* the three converted pages were validated twice on purpose (a round trip) */
	assert_int_equal(res.pages_twice, 3);
	assert_int_equal(sim_machine_page(m, CONV_START + 100 * SNP_PAGE_SIZE, &pi), 0);
	assert_int_equal(pi.validations, 1);
	assert_false(pi.validated);
	sim_machine_free(m);
}

struct accept_ranges {
	u64 ram;
	u64 accepted;
};

static void accept_odd_ranges(struct snp_sev *g, void *arg)
{
	struct accept_ranges *a = arg;

	snp_sev_accept_memory(g, 8 * MIB + 4096, 8 * MIB + 8192); /* unit [8M, 10M) */
	snp_sev_accept_memory(g, 1 * MIB, 5 * MIB);		  /* clipped: [4M, 6M) */
	snp_sev_accept_memory(g, a->ram - 4096, ~0ULL);		  /* the last unit */
	snp_sev_accept_memory(g, 8 * MIB, 8 * MIB + 1);		  /* already accepted */
	snp_sev_accept_memory(g, 20 * MIB, 20 * MIB);		  /* empty */
	snp_sev_accept_memory(g, 0, 1 * MIB);			  /* below the table */
	a->accepted = g->stats.units_accepted;
}

static void test_accept_odd_ranges(void **state)
{
	struct accept_ranges a = { .ram = 32 * MIB };
	struct sim_boot_opts o = base_opts(32, SNP_ACCEPT_LAZY);
	struct sim_boot_result res;
	struct sim_machine *m = NULL;

	(void)state;
	o.after_boot = accept_odd_ranges;
	o.after_boot_arg = &a;
	assert_int_equal(sim_boot(&o, &m, &res), 0);
	assert_int_equal(a.accepted, 3);
	for (u64 gpa = SIM_BOOT_ACCEPT_BASE; gpa < a.ram; gpa += SNP_PAGE_SIZE)
		check_page(m, gpa,
			   in(gpa, 4 * MIB, 6 * MIB) || in(gpa, 8 * MIB, 10 * MIB) ||
				   in(gpa, a.ram - 2 * MIB, a.ram));
	sim_machine_free(m);
}

/* ---- a hypervisor answering at random -------------------------------------- */

struct rng {
	u64 s;
};

static u64 rng_next(struct rng *r)
{
	r->s ^= r->s << 13;
	r->s ^= r->s >> 7;
	r->s ^= r->s << 17;
	return r->s;
}

/* Mostly "keep the answer", sometimes garbage: runs get far enough to matter. */
static size_t random_take(void *ud, void *buf, size_t len)
{
	struct rng *r = ud;
	u8 *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (u8)rng_next(r);
	if (len == 1 && p[0] != 0xff && rng_next(r) % 8)
		p[0] = 0;
	return len;
}

static void test_random_hypervisor_never_double_validates(void **state)
{
	unsigned int done = 0, terminated = 0, stopped = 0;

	(void)state;
	for (u64 seed = 1; seed <= 400; seed++) {
		struct sim_boot_opts o =
			base_opts(16, seed % 2 ? SNP_ACCEPT_LAZY : SNP_ACCEPT_EAGER);
		struct rng r = { seed * 0x9e3779b97f4a7c15ULL };
		struct sim_boot_result res;
		int rc;

		o.touch_mib = 8;
		o.mutator = random_take;
		o.mutator_arg = &r;
		rc = sim_boot(&o, NULL, &res);
		assert_true(rc == 0 || rc == 1);
		if (res.pages_twice)
			fail_msg("seed %llu: %llu pages validated twice", (unsigned long long)seed,
				 (unsigned long long)res.pages_twice);
		done += res.exit.result == SIM_RUN_DONE;
		terminated += res.exit.result == SIM_RUN_TERMINATED;
		stopped += res.exit.result == SIM_RUN_HV_STOPPED;
		/* the guest may be stopped for the host's faults, never loop on its own */
		if (res.exit.result == SIM_RUN_HV_STOPPED &&
		    (strstr(res.exit.why, "#VC") || strstr(res.exit.why, "nested")))
			fail_msg("seed %llu: %s", (unsigned long long)seed, res.exit.why);
	}
	print_message("random hypervisor: %u booted, %u terminated, %u stopped by it\n", done,
		      terminated, stopped);
	/* both outcomes must occur or the mutator is not doing its job */
	assert_true(done > 0);
	assert_true(terminated > 0);
}

/* ---- protocol details with a scripted hypervisor ---------------------------- */

struct fake {
	u64 msr, status;
	u64 replies[16]; /* MSR-protocol answers, in order */
	unsigned int nreplies, next;
	struct snp_ghcb ghcb;
	void (*on_psc)(struct fake *f, struct snp_psc_desc *d, unsigned int call);
	unsigned int psc_calls;
	u64 info2;
	jmp_buf out;
	bool terminated;
	u8 set, code;
	unsigned int pvalidates;
};

static u64 f_rdmsr(void *priv, u32 msr)
{
	struct fake *f = priv;

	return msr == SNP_MSR_SEV_STATUS ? f->status : f->msr;
}

static void f_wrmsr(void *priv, u32 msr, u64 v)
{
	struct fake *f = priv;

	if (msr == SNP_MSR_GHCB)
		f->msr = v;
}

static void f_vmgexit(void *priv)
{
	struct fake *f = priv;

	if (SNP_GHCB_MSR_INFO(f->msr) == SNP_GHCB_MSR_TERM_REQ) {
		f->terminated = true;
		f->set = SNP_GHCB_MSR_TERM_SET(f->msr);
		f->code = SNP_GHCB_MSR_TERM_CODE(f->msr);
		longjmp(f->out, 1);
	}
	if (SNP_GHCB_MSR_INFO(f->msr)) {
		f->msr = f->next < f->nreplies ? f->replies[f->next++] : 0;
		return;
	}
	/* a NAE exit: only page state changes in these tests */
	f->ghcb.sw_exit_info_1 = 0;
	f->ghcb.sw_exit_info_2 = cpu_to_le64(f->info2);
	if (f->on_psc)
		f->on_psc(f, (struct snp_psc_desc *)f->ghcb.shared_buffer, f->psc_calls++);
}

static int f_pvalidate(void *priv, u64 va, int psize, bool validate)
{
	struct fake *f = priv;

	(void)va, (void)psize, (void)validate;
	f->pvalidates++;
	return 0;
}

static int f_rmpadjust(void *priv, u64 va, int psize, u64 attrs)
{
	(void)priv, (void)va, (void)psize, (void)attrs;
	return 0;
}

static int f_set_c_bit(void *priv, u64 va, u64 n, bool enc)
{
	(void)priv, (void)va, (void)n, (void)enc;
	return 0;
}

static int f_read(void *priv, u64 va, void *buf, size_t len)
{
	(void)priv, (void)va;
	memset(buf, 0, len);
	return 0;
}

static int f_write(void *priv, u64 va, const void *buf, size_t len)
{
	(void)priv, (void)va, (void)buf, (void)len;
	return 0;
}

static void *f_shared_page(void *priv, u64 gpa)
{
	(void)gpa;
	return &((struct fake *)priv)->ghcb;
}

static void f_halt(void *priv)
{
	longjmp(((struct fake *)priv)->out, 2);
}

static u64 f_read_cr4(void *priv)
{
	(void)priv;
	return 0;
}

static u64 f_xgetbv(void *priv, u32 xcr)
{
	(void)priv, (void)xcr;
	return 1;
}

/* The scripted vCPU: what snp_cpu_*() act on while a fake test runs guest code. */
static const struct kshim_vcpu_ops fake_ops = {
	.rdmsr = f_rdmsr,
	.wrmsr = f_wrmsr,
	.vmgexit = f_vmgexit,
	.pvalidate = f_pvalidate,
	.rmpadjust = f_rmpadjust,
	.set_c_bit = f_set_c_bit,
	.read = f_read,
	.write = f_write,
	.shared_page = f_shared_page,
	.halt = f_halt,
	.read_cr4 = f_read_cr4,
	.xgetbv = f_xgetbv,
};

/* One scripted hypervisor at a time; static, so that setjmp() clobbers nothing. */
static struct fake the_fake;
static struct kshim_vcpu fake_vcpu = { .ops = &fake_ops, .ctx = &the_fake };

static struct fake *fake_new(void)
{
	struct fake *f = &the_fake;

	memset(f, 0, sizeof(*f));
	f->status = SNP_STATUS_SEV | SNP_STATUS_SEV_ES | SNP_STATUS_SNP;
	return f;
}

/* A guest with a registered GHCB, SNP on. */
static void fake_guest(struct fake *f, struct snp_sev *g)
{
	snp_sev_init(g);
	/* this thread's CPU is the scripted one (sim_machine_run() saves and restores it) */
	assert_ptr_equal(fake_vcpu.ctx, f);
	kshim_vcpu_switch(&fake_vcpu);
	g->sev_status = f->status;
	g->ghcb_version = 2;
	g->ghcb = &f->ghcb;
	g->ghcb_gpa = 0x5000;
}

/* ---- whose CPU snp_cpu_*() act on -------------------------------------------- */

struct seen_vcpu {
	struct sim_machine *machine;
	struct kshim_vcpu *vcpu;
};

static void note_vcpu(struct snp_sev *g, void *arg)
{
	struct seen_vcpu *seen = arg;

	(void)g;
	seen->machine = sim_machine_current();
	seen->vcpu = kshim_vcpu_current();
}

/*
 * A run makes the machine the thread's vCPU and gives the previous one back,
 * whether the guest code returns or leaves (termination: longjmp).
 */
static void test_vcpu_current(void **state)
{
	struct sim_boot_opts o = base_opts(16, SNP_ACCEPT_EAGER);
	struct seen_vcpu seen = { 0 };
	struct sim_boot_result res;
	struct sim_machine *m = NULL;

	(void)state;
	kshim_vcpu_switch(&fake_vcpu);
	assert_null(sim_machine_current());
	o.after_boot = note_vcpu;
	o.after_boot_arg = &seen;
	assert_int_equal(sim_boot(&o, &m, &res), 0);
	assert_ptr_equal(seen.machine, m);
	assert_non_null(seen.vcpu);
	assert_ptr_not_equal(seen.vcpu, &fake_vcpu);
	assert_ptr_equal(kshim_vcpu_current(), &fake_vcpu);
	assert_null(sim_machine_current());
	sim_machine_free(m);

	o = base_opts(16, SNP_ACCEPT_EAGER);
	o.attack = SIM_ATTACK_NO_SNP;
	assert_int_equal(sim_boot(&o, NULL, &res), 1);
	assert_int_equal(res.exit.result, SIM_RUN_TERMINATED);
	assert_ptr_equal(kshim_vcpu_current(), &fake_vcpu);
	kshim_vcpu_switch(NULL);
	assert_null(kshim_vcpu_current());
}

static void negotiation_case(u64 reply, bool ok, u16 version)
{
	static struct snp_sev g;
	struct fake *f = fake_new();

	fake_guest(f, &g);
	f->replies[0] = reply;
	f->nreplies = 1;
	if (setjmp(f->out) == 0) {
		snp_sev_negotiate_protocol(&g);
		assert_true(ok);
		assert_int_equal(g.ghcb_version, version);
		assert_int_equal(g.cbit_pos, 51);
	} else {
		assert_false(ok);
		assert_true(f->terminated);
		assert_int_equal(f->set, SNP_TERM_SET_GEN);
		assert_int_equal(f->code, SNP_TERM_GEN_PROTO);
	}
}

static void test_protocol_negotiation(void **state)
{
	static const struct {
		u64 reply;
		bool ok;
		u16 version;
	} cases[] = {
		{ SNP_GHCB_SEV_INFO(2, 1, 51), true, 2 },
		{ SNP_GHCB_SEV_INFO(5, 1, 51), true, 2 }, /* newer hypervisor: we speak 2 */
		{ SNP_GHCB_SEV_INFO(1, 1, 51), false, 0 },
		{ SNP_GHCB_SEV_INFO(7, 3, 51), false, 0 },	       /* nothing in common */
		{ SNP_GHCB_SEV_INFO(1, 2, 51), false, 0 },	       /* min above max */
		{ SNP_GHCB_SEV_INFO(2, 1, 51) & ~0xfffULL, false, 0 }, /* wrong response code */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		negotiation_case(cases[i].reply, cases[i].ok, cases[i].version);
}

static void test_register_and_ap_hold(void **state)
{
	static struct snp_sev g;
	struct fake *f = fake_new();

	(void)state;
	/* registration answered with another GFN */
	fake_guest(f, &g);
	f->replies[0] = SNP_GHCB_MSR_REG_GPA_RESP | (0x6ULL << 12);
	f->nreplies = 1;
	if (setjmp(f->out) == 0)
		snp_sev_register_ghcb(&g, 0x5000), fail();
	assert_int_equal(f->set, SNP_TERM_SET_LINUX);
	assert_int_equal(f->code, SNP_TERM_REGISTER);

	/* AP reset hold: two spurious wake-ups, then released */
	memset(f, 0, sizeof(*f));
	f->status = SNP_STATUS_SEV | SNP_STATUS_SEV_ES | SNP_STATUS_SNP;
	fake_guest(f, &g);
	f->replies[0] = SNP_GHCB_MSR_AP_RESET_HOLD_RESP;
	f->replies[1] = SNP_GHCB_MSR_AP_RESET_HOLD_RESP;
	f->replies[2] = SNP_GHCB_MSR_AP_RESET_HOLD_RESP | (1ULL << 12);
	f->nreplies = 3;
	if (setjmp(f->out) == 0)
		snp_sev_ap_reset_hold(&g);
	else
		fail();
	assert_int_equal(f->next, 3);

	/* ... and a wrong response code ends the guest */
	f->next = 0;
	f->replies[0] = SNP_GHCB_MSR_HV_FT_RESP | (1ULL << 12);
	if (setjmp(f->out) == 0)
		snp_sev_ap_reset_hold(&g), fail();
	assert_true(f->terminated);
}

/* hypervisor answers to a 3-entry descriptor */
static void psc_honest_slowly(struct fake *f, struct snp_psc_desc *d, unsigned int call)
{
	u16 cur = le16_to_cpu(d->hdr.cur_entry);
	u64 e = le64_to_cpu(d->entries[cur]);
	u32 max = (e & SNP_PSC_PAGESIZE_2M) ? 512 : 1;
	u32 page = snp_psc_entry_cur_page(e) + 100;

	(void)f, (void)call;
	if (page >= max) {
		d->entries[cur] = cpu_to_le64((e & ~SNP_PSC_CUR_PAGE_MASK) | max);
		d->hdr.cur_entry = cpu_to_le16(cur + 1);
	} else {
		d->entries[cur] = cpu_to_le64((e & ~SNP_PSC_CUR_PAGE_MASK) | page);
	}
}

static void psc_reserved(struct fake *f, struct snp_psc_desc *d, unsigned int call)
{
	(void)f, (void)call;
	d->hdr.reserved = cpu_to_le32(1);
	d->hdr.cur_entry = cpu_to_le16(le16_to_cpu(d->hdr.end_entry) + 1);
}

static void psc_end_moved(struct fake *f, struct snp_psc_desc *d, unsigned int call)
{
	(void)f, (void)call;
	d->hdr.end_entry = cpu_to_le16(0);
	d->hdr.cur_entry = cpu_to_le16(1);
}

static void psc_backwards(struct fake *f, struct snp_psc_desc *d, unsigned int call)
{
	(void)f;
	d->hdr.cur_entry = cpu_to_le16(call == 0 ? 2 : 1);
}

/* A busy but honest host: a few exits without progress, then the work. */
static void psc_stall_then_go(struct fake *f, struct snp_psc_desc *d, unsigned int call)
{
	if (call % 4 != 3)
		return;
	psc_honest_slowly(f, d, call);
}

static void psc_stall(struct fake *f, struct snp_psc_desc *d, unsigned int call)
{
	(void)f, (void)d, (void)call;
}

static void psc_beyond(struct fake *f, struct snp_psc_desc *d, unsigned int call)
{
	(void)f, (void)call;
	d->hdr.cur_entry = cpu_to_le16(le16_to_cpu(d->hdr.end_entry) + 2);
}

static void psc_rewrite_gfn(struct fake *f, struct snp_psc_desc *d, unsigned int call)
{
	u64 e = le64_to_cpu(d->entries[2]);

	(void)f, (void)call;
	d->entries[2] = cpu_to_le64(e ^ (1ULL << 20));
	d->hdr.cur_entry = cpu_to_le16(1);
}

static void psc_page_overflow(struct fake *f, struct snp_psc_desc *d, unsigned int call)
{
	u64 e = le64_to_cpu(d->entries[0]);

	(void)f, (void)call;
	d->entries[0] = cpu_to_le64((e & ~SNP_PSC_CUR_PAGE_MASK) | 513);
}

static void psc_case(size_t i, void (*on_psc)(struct fake *, struct snp_psc_desc *, unsigned int),
		     u64 info2, bool ok)
{
	static struct snp_sev g;
	struct fake *f = fake_new();

	fake_guest(f, &g);
	f->on_psc = on_psc;
	f->info2 = info2;
	/* 4K page, a 2M page, 4K page: [2M - 4K, 4M + 4K) */
	if (setjmp(f->out) == 0) {
		snp_sev_set_memory_private(&g, SNP_PMD_SIZE - 4096, 514);
		if (!ok)
			fail_msg("case %zu accepted", i);
		assert_int_equal(g.stats.psc_entries, 3);
		assert_int_equal(f->pvalidates, 3);
		assert_true(g.stats.psc_exits >= 7); /* 1 + 6 for the 2M entry + 1 */
	} else {
		if (ok)
			fail_msg("case %zu terminated (%u/%u)", i, f->set, f->code);
		assert_int_equal(f->set, SNP_TERM_SET_LINUX);
		assert_int_equal(f->code, SNP_TERM_PSC);
		/* nothing was validated on the strength of a bad answer */
		assert_int_equal(f->pvalidates, 0);
	}
}

static void test_psc_answers(void **state)
{
	static const struct {
		void (*on_psc)(struct fake *, struct snp_psc_desc *, unsigned int);
		u64 info2;
		bool ok;
	} cases[] = {
		{ psc_honest_slowly, 0, true },	 { psc_reserved, 0, false },
		{ psc_end_moved, 0, false },	 { psc_backwards, 0, false },
		{ psc_stall, 0, false },	 { psc_stall_then_go, 0, true },
		{ psc_beyond, 0, false },	 { psc_rewrite_gfn, 0, false },
		{ psc_page_overflow, 0, false }, { psc_honest_slowly, 0x100000001ULL, false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		psc_case(i, cases[i].on_psc, cases[i].info2, cases[i].ok);
}

/* A table with leaves 0x0 and 0x1, set up as snp_cpuid_setup() would. */
static void fake_cpuid_table(struct snp_sev *g)
{
	struct snp_cpuid_table *t = &g->cpuid_table;

	memset(t, 0, sizeof(*t));
	t->count = cpu_to_le32(2);
	t->fn[0].eax = cpu_to_le32(0x1);
	t->fn[1].eax_in = cpu_to_le32(0x1);
	t->fn[1].ebx = cpu_to_le32(0x00010800);
	g->cpuid_std_max = 1;
}

static void cpuid_hv_case(const char *what, bool use_ghcb, unsigned int good_replies, u8 set,
			  u8 code)
{
	static struct snp_sev g;
	static struct snp_cpuid_leaf leaf;
	struct fake *f = fake_new();

	fake_guest(f, &g);
	fake_cpuid_table(&g);
	for (unsigned int i = 0; i < good_replies; i++)
		f->replies[i] = SNP_GHCB_MSR_CPUID_RESP | (0x11ULL << 32);
	f->replies[good_replies] = SNP_GHCB_MSR_HV_FT_RESP; /* not a CPUID response */
	f->nreplies = good_replies + 1;
	leaf = (struct snp_cpuid_leaf){ .fn = 0x1 };
	if (setjmp(f->out) == 0) {
		snp_cpuid(&g, use_ghcb ? g.ghcb : NULL, &leaf);
		fail_msg("%s: the guest took the answer", what);
	}
	if (!f->terminated || f->set != set || f->code != code)
		fail_msg("%s: terminated %d set %u code %u", what, f->terminated, f->set, f->code);
}

static void test_cpuid_hv_failures(void **state)
{
	static struct snp_sev g;
	static struct snp_cpuid_leaf leaf;
	struct fake *f;

	(void)state;
	/* the APIC ID of leaf 1 is the hypervisor's: no answer is fatal (GHCB_TERM_CPUID_HV) */
	cpuid_hv_case("MSR, wrong response code", false, 0, SNP_TERM_SET_LINUX, SNP_TERM_CPUID_HV);
	cpuid_hv_case("MSR, EDX not answered", false, 3, SNP_TERM_SET_LINUX, SNP_TERM_CPUID_HV);
	/* the scripted hypervisor answers NAE exits without marking RAX..RDX valid */
	cpuid_hv_case("GHCB, registers not valid", true, 0, SNP_TERM_SET_LINUX, SNP_TERM_CPUID_HV);

	/* no table (SEV-ES): the MSR protocol has no subleaf, so 0x7.1 is refused unasked */
	f = fake_new();
	fake_guest(f, &g);
	g.ghcb = NULL;
	leaf = (struct snp_cpuid_leaf){ .fn = 0x7, .subfn = 1 };
	if (setjmp(f->out) == 0)
		snp_cpuid_vc(&g, &leaf), fail();
	assert_int_equal(f->set, SNP_TERM_SET_GEN);
	assert_int_equal(f->code, SNP_TERM_GEN_REQ);
	assert_int_equal(f->next, 0);
}

/* ---- CPUID from the CPUID page ------------------------------------------------ */

static const struct sim_cpuid_probe *probe(const struct sim_boot_result *res, u32 fn, u32 subfn)
{
	for (int i = 0; i < SIM_BOOT_CPUID_PROBES; i++)
		if (res->cpuid[i].fn == fn && res->cpuid[i].subfn == subfn)
			return &res->cpuid[i];
	fail_msg("no CPUID probe 0x%x.%u", fn, subfn);
	abort();
}

/*
 * The XSAVE components of the simulated CPU (a Zen 4: AVX, the three
 * AVX-512 states, PKRU, CET user and supervisor): size and offset in the
 * standard format (supervisor states have none).
 */
static const struct {
	unsigned int bit;
	u32 size, offset;
} xsave_comp[] = {
	{ 2, 256, 576 }, { 5, 64, 832 }, { 6, 512, 896 }, { 7, 1024, 1408 },
	{ 9, 8, 2432 },	 { 11, 16, 0 },	 { 12, 24, 0 },
};

/*
 * XSAVE area size computed here, not by the guest code: the 512-byte
 * legacy region and the 64-byte header, then in the standard format the
 * end of the furthest enabled component, in the compacted format the
 * enabled components one after the other (none of these needs 64-byte
 * alignment).
 */
static u32 xsave_size(u64 features, bool compacted)
{
	u32 size = 512 + 64;

	for (size_t i = 0; i < sizeof(xsave_comp) / sizeof(xsave_comp[0]); i++) {
		if (!(features & (1ULL << xsave_comp[i].bit)))
			continue;
		if (compacted)
			size += xsave_comp[i].size;
		else if (xsave_comp[i].offset + xsave_comp[i].size > size)
			size = xsave_comp[i].offset + xsave_comp[i].size;
	}
	return size;
}

struct vcpu_state {
	bool osxsave;
	u64 xcr0, xss;
};

/*
 * What Linux's snp_cpuid() answers for @p: the page's values (zeros when
 * the leaf is missing), nothing more outside the ranges (standard up to
 * 0x10, extended up to 0x80000028, no hypervisor range); APIC IDs from
 * the hypervisor's answer @hv, OSXSAVE/OSPKE from CR4, XSAVE sizes.
 */
static void linux_answer(const struct sim_cpuid_probe *p, const u32 hv[4],
			 const struct vcpu_state *v, u32 want[4])
{
	u64 xcr0 = v->osxsave ? v->xcr0 : 1;
	bool in_range = p->fn <= 0x10 || (p->fn >= 0x80000000 && p->fn <= 0x80000028);

	memcpy(want, p->table, 4 * sizeof(want[0]));
	if (!p->in_table && !in_range)
		return;
	switch (p->fn) {
	case 0x1:
		want[1] = (hv[1] & 0xff000000) | (want[1] & 0x00ffffff);
		want[3] = (hv[3] & 0x200) | (want[3] & ~0x200U);
		if (v->osxsave)
			want[2] |= 1U << 27;
		break;
	case 0x7:
		want[2] &= ~0x10U;
		break;
	case 0xb:
		want[3] = hv[3];
		break;
	case 0xd:
		if (p->subfn == 0)
			want[1] = xsave_size(xcr0, false);
		else if (p->subfn == 1)
			want[1] = xsave_size(xcr0 | v->xss, true);
		break;
	case 0x8000001e:
		want[0] = hv[0];
		want[1] = (want[1] & ~0xffU) | (hv[1] & 0xff);
		want[2] = (want[2] & ~0xffU) | (hv[2] & 0xff);
		break;
	}
}

static bool hv_in_answer(u32 fn)
{
	return fn == 0x1 || fn == 0xb || fn == 0x8000001e;
}

/* Early CPUID, before any GHCB use: the #VC handler's MSR-protocol path. */
#define EARLY_LEAVES 4
static const u32 early_leaves[EARLY_LEAVES] = { 0x1, 0x5, 0x8000001e, 0x8000001f };

static void early_cpuid(struct snp_sev *g, void *arg)
{
	struct snp_cpuid_leaf *out = arg;

	for (int i = 0; i < EARLY_LEAVES; i++) {
		out[i] = (struct snp_cpuid_leaf){ .fn = early_leaves[i] };
		assert_int_equal(snp_cpuid(g, NULL, &out[i]), 0);
	}
}

static void test_cpuid_lie_not_believed(void **state)
{
	static const struct vcpu_state v = { .osxsave = true, .xcr0 = 0x7 };

	(void)state;
	for (int after = 0; after <= 1; after++) {
		struct sim_boot_opts o = base_opts(32, SNP_ACCEPT_EAGER);
		struct snp_cpuid_leaf early[EARLY_LEAVES];
		struct sim_machine *m = NULL;
		struct sim_boot_result res;

		o.attack = SIM_ATTACK_CPUID_LIE;
		o.attack_after_boot = after;
		o.after_boot = early_cpuid;
		o.after_boot_arg = early;
		/*
		 * Booting at all is the first check: the lie says 0x8000001F has
		 * no SEV bit, which the early #VC handler would have died of.
		 */
		assert_int_equal(sim_boot(&o, &m, &res), 0);
		assert_int_equal(res.exit.result, SIM_RUN_DONE);
		for (int i = 0; i < SIM_BOOT_CPUID_PROBES; i++) {
			const struct sim_cpuid_probe *p = &res.cpuid[i];
			u32 want[4];

			assert_true(p->answered);
			/* the hypervisor did lie about every leaf ... */
			for (int r = 0; r < 4; r++)
				if (p->hv[r] != (p->table[r] ^ SIM_CPUID_LIE_XOR))
					fail_msg("0x%x.%u: the hypervisor did not lie", p->fn,
						 p->subfn);
			/* ... and the guest has the page's values, Linux's post-processing aside */
			linux_answer(p, p->hv, &v, want);
			if (memcmp(p->guest, want, sizeof(want)))
				fail_msg("0x%x.%u: guest %08x %08x %08x %08x, want %08x %08x %08x "
					 "%08x",
					 p->fn, p->subfn, p->guest[0], p->guest[1], p->guest[2],
					 p->guest[3], want[0], want[1], want[2], want[3]);
			if (p->in_table && !hv_in_answer(p->fn) && p->fn != 0xd && p->fn != 0x7)
				assert_memory_equal(p->guest, p->table, sizeof(p->table));
			if (!p->in_table)
				assert_memory_equal(p->guest, (u32[4]){ 0 }, sizeof(p->guest));
		}
		/* the vendor the page names, not the hypervisor's */
		assert_int_equal(probe(&res, 0, 0)->guest[1], 0x68747541);
		assert_int_equal(probe(&res, 0x8000001f, 0)->guest[0], 0x0001001f);
		/* the hypervisor was asked for APIC IDs only: leaves 1, 0xB, 0x8000001E */
		assert_int_equal(res.hw.cpuid_nae, 3);
		assert_int_equal(res.hw.cpuid_msr, 2 * 4);
		assert_int_equal(res.guest.cpuid_hv, 3 + 2);

		/* the same through the MSR protocol */
		for (int i = 0; i < EARLY_LEAVES; i++) {
			struct sim_cpuid_probe p = { .fn = early_leaves[i] };
			u32 hv[4], want[4],
				got[4] = { early[i].eax, early[i].ebx, early[i].ecx, early[i].edx };

			p.in_table = probe(&res, p.fn, 0)->in_table;
			memcpy(p.table, probe(&res, p.fn, 0)->table, sizeof(p.table));
			sim_machine_hv_cpuid(m, p.fn, 0, hv);
			linux_answer(&p, hv, &v, want);
			if (memcmp(got, want, sizeof(want)))
				fail_msg("MSR path 0x%x: guest %08x %08x %08x %08x, want %08x %08x "
					 "%08x %08x",
					 p.fn, got[0], got[1], got[2], got[3], want[0], want[1],
					 want[2], want[3]);
			assert_memory_not_equal(got, hv, sizeof(hv));
		}
		sim_machine_free(m);
	}
}

/* ---- malformed CPUID pages ---- */

static struct snp_cpuid_fn *cpuid_entry(struct snp_cpuid_table *t, u32 fn, u32 subfn)
{
	for (u32 i = 0; i < le32_to_cpu(t->count); i++)
		if (le32_to_cpu(t->fn[i].eax_in) == fn && le32_to_cpu(t->fn[i].ecx_in) == subfn)
			return &t->fn[i];
	fail_msg("no entry 0x%x.%u in the CPUID page", fn, subfn);
	abort();
}

static struct snp_cpuid_fn *cpuid_append(struct snp_cpuid_table *t, u32 fn, u32 eax)
{
	u32 n = le32_to_cpu(t->count);
	struct snp_cpuid_fn *e = &t->fn[n];

	assert_true(n < SNP_CPUID_COUNT_MAX);
	memset(e, 0, sizeof(*e));
	e->eax_in = cpu_to_le32(fn);
	e->eax = cpu_to_le32(eax);
	t->count = cpu_to_le32(n + 1);
	return e;
}

static void tb_count_65(struct snp_cpuid_table *t)
{
	t->count = cpu_to_le32(65);
}

static void tb_count_0(struct snp_cpuid_table *t)
{
	t->count = 0;
}

/* a count beyond the entries written: the zero entries are leaf 0x0 again */
static void tb_count_past_entries(struct snp_cpuid_table *t)
{
	t->count = cpu_to_le32(le32_to_cpu(t->count) + 4);
}

static void tb_no_leaf_0(struct snp_cpuid_table *t)
{
	cpuid_entry(t, 0, 0)->eax_in = cpu_to_le32(0x2);
}

static void tb_two_leaf_0(struct snp_cpuid_table *t)
{
	cpuid_append(t, 0, 0x20);
}

static void tb_two_ext_max(struct snp_cpuid_table *t)
{
	cpuid_append(t, 0x80000000, 0x80000030);
}

static void tb_std_max_huge(struct snp_cpuid_table *t)
{
	cpuid_entry(t, 0, 0)->eax = cpu_to_le32(0x80000000);
}

static void tb_ext_max_low(struct snp_cpuid_table *t)
{
	cpuid_entry(t, 0x80000000, 0)->eax = cpu_to_le32(0x1f);
}

static void tb_ext_max_huge(struct snp_cpuid_table *t)
{
	cpuid_entry(t, 0x80000000, 0)->eax = cpu_to_le32(0xffffffff);
}

/* entries beyond the declared maximum: the page contradicts itself */
static void tb_std_max_short(struct snp_cpuid_table *t)
{
	cpuid_entry(t, 0, 0)->eax = cpu_to_le32(0x5);
}

static void tb_ext_max_short(struct snp_cpuid_table *t)
{
	cpuid_entry(t, 0x80000000, 0)->eax = cpu_to_le32(0x80000008);
}

static void tb_outside_ranges(struct snp_cpuid_table *t)
{
	cpuid_append(t, 0xc0000000, 0x1);
}

static void tb_hyp_leaf_no_range(struct snp_cpuid_table *t)
{
	cpuid_append(t, 0x40000001, 0x1);
}

static void tb_hyp_max_huge(struct snp_cpuid_table *t)
{
	cpuid_append(t, 0x40000000, 0x50000000);
}

/* a page that says SEV is off: the early #VC handler refuses it (Linux) */
static void tb_no_sev(struct snp_cpuid_table *t)
{
	cpuid_entry(t, 0x8000001f, 0)->eax = cpu_to_le32(0x1);
}

struct table_case {
	const char *what;
	void (*fn)(struct snp_cpuid_table *t);
	u8 set, code;
};

static void tweak_cpuid_page(u8 *low, size_t len, void *arg)
{
	const struct table_case *c = arg;

	assert_true(SIM_BOOT_CPUID + sizeof(struct snp_cpuid_table) <= len);
	c->fn((struct snp_cpuid_table *)(low + SIM_BOOT_CPUID));
}

static void test_malformed_cpuid_table(void **state)
{
	static const struct table_case cases[] = {
		{ "count 65", tb_count_65, SNP_TERM_SET_LINUX, SNP_TERM_CPUID },
		{ "count 0", tb_count_0, SNP_TERM_SET_LINUX, SNP_TERM_CPUID },
		{ "count past the entries", tb_count_past_entries, SNP_TERM_SET_LINUX,
		  SNP_TERM_CPUID },
		{ "no leaf 0x0", tb_no_leaf_0, SNP_TERM_SET_LINUX, SNP_TERM_CPUID },
		{ "leaf 0x0 twice", tb_two_leaf_0, SNP_TERM_SET_LINUX, SNP_TERM_CPUID },
		{ "leaf 0x80000000 twice", tb_two_ext_max, SNP_TERM_SET_LINUX, SNP_TERM_CPUID },
		{ "standard max in the extended range", tb_std_max_huge, SNP_TERM_SET_LINUX,
		  SNP_TERM_CPUID },
		{ "extended max below 0x80000000", tb_ext_max_low, SNP_TERM_SET_LINUX,
		  SNP_TERM_CPUID },
		{ "extended max 0xffffffff", tb_ext_max_huge, SNP_TERM_SET_LINUX, SNP_TERM_CPUID },
		{ "standard max below its entries", tb_std_max_short, SNP_TERM_SET_LINUX,
		  SNP_TERM_CPUID },
		{ "extended max below its entries", tb_ext_max_short, SNP_TERM_SET_LINUX,
		  SNP_TERM_CPUID },
		{ "an entry outside every range", tb_outside_ranges, SNP_TERM_SET_LINUX,
		  SNP_TERM_CPUID },
		{ "a hypervisor leaf without 0x40000000", tb_hyp_leaf_no_range, SNP_TERM_SET_LINUX,
		  SNP_TERM_CPUID },
		{ "hypervisor max past 0x4000ffff", tb_hyp_max_huge, SNP_TERM_SET_LINUX,
		  SNP_TERM_CPUID },
		{ "no SEV in 0x8000001f", tb_no_sev, SNP_TERM_SET_GEN, SNP_TERM_GEN_REQ },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sim_boot_opts o = base_opts(32, SNP_ACCEPT_LAZY);
		struct sim_boot_result res;

		o.tweak_launch = tweak_cpuid_page;
		o.tweak_launch_arg = (void *)&cases[i];
		assert_int_equal(sim_boot(&o, NULL, &res), 1);
		if (res.exit.result != SIM_RUN_TERMINATED || res.exit.term_set != cases[i].set ||
		    res.exit.term_code != cases[i].code || strcmp(res.phase, "boot"))
			fail_msg("%s: result %d set %u code %u during %s (%s)", cases[i].what,
				 res.exit.result, res.exit.term_set, res.exit.term_code, res.phase,
				 res.exit.why);
		/* before the GHCB: nothing else happened */
		assert_int_equal(res.hw.nae_exits, 0);
		assert_false(res.cpuid[0].answered);
	}
}

/* A page with a hypervisor range: those leaves come from it too; past its end, zeros. */
static void tb_with_hyp_range(struct snp_cpuid_table *t)
{
	cpuid_append(t, 0x40000000, 0x40000001)->ebx = cpu_to_le32(0x4b4d564b); /* "KVMK" */
	cpuid_append(t, 0x40000001, 0x12345);
}

static void test_cpuid_hypervisor_range(void **state)
{
	static const struct table_case c = { "hypervisor range", tb_with_hyp_range, 0, 0 };
	struct sim_boot_opts o = base_opts(32, SNP_ACCEPT_LAZY);
	struct sim_boot_result res;
	struct snp_cpuid_leaf early[EARLY_LEAVES];

	(void)state;
	o.tweak_launch = tweak_cpuid_page;
	o.tweak_launch_arg = (void *)&c;
	o.attack = SIM_ATTACK_CPUID_LIE;
	o.after_boot = early_cpuid;
	o.after_boot_arg = early;
	assert_int_equal(sim_boot(&o, NULL, &res), 0);
	assert_true(probe(&res, 0x40000000, 0)->in_table);
	assert_memory_equal(probe(&res, 0x40000000, 0)->guest,
			    ((u32[4]){ 0x40000001, 0x4b4d564b, 0, 0 }), 4 * sizeof(u32));
	assert_int_equal(probe(&res, 0x40000000, 0)->hv[0], 0x40000001 ^ SIM_CPUID_LIE_XOR);
}

static void tb_no_compaction(struct snp_cpuid_table *t)
{
	cpuid_entry(t, 0xd, 1)->eax = cpu_to_le32(0x1); /* XSAVEOPT only */
}

static void test_xsave_size_computed(void **state)
{
	static const struct vcpu_state cases[] = {
		{ true, 0x3, 0 },	{ true, 0x7, 0 },     { true, 0xe7, 0 },
		{ true, 0x2e7, 0 },	{ true, 0x7, 0x800 }, { true, 0x2e7, 0x1800 },
		{ false, 0x7, 0x1800 },
	};
	static const struct table_case no_compaction = { "no XSAVEC/XSAVES", tb_no_compaction, 0,
							 0 };

	(void)state;
	/* the computation here agrees with the hardware's own figures */
	assert_int_equal(xsave_size(0x7, false), 832);
	assert_int_equal(xsave_size(0x2e7, false), 0x988); /* 0xD.0 ECX of the page */

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct vcpu_state *v = &cases[i];
		struct sim_boot_opts o = base_opts(32, SNP_ACCEPT_EAGER);
		const struct sim_cpuid_probe *d0, *d1;
		struct sim_boot_result res;
		u64 xcr0 = v->osxsave ? v->xcr0 : 1;

		o.no_osxsave = !v->osxsave;
		o.xcr0 = v->xcr0;
		o.xss = v->xss;
		o.attack = SIM_ATTACK_CPUID_LIE;
		assert_int_equal(sim_boot(&o, NULL, &res), 0);
		d0 = probe(&res, 0xd, 0);
		d1 = probe(&res, 0xd, 1);
		if (d0->guest[1] != xsave_size(xcr0, false) ||
		    d1->guest[1] != xsave_size(xcr0 | v->xss, true))
			fail_msg("XCR0 0x%llx XSS 0x%llx: 0xD.0 EBX %u (want %u), 0xD.1 EBX %u "
				 "(want %u)",
				 (unsigned long long)xcr0, (unsigned long long)v->xss, d0->guest[1],
				 xsave_size(xcr0, false), d1->guest[1],
				 xsave_size(xcr0 | v->xss, true));
		/* the rest of 0xD.0/0xD.1 is the page's */
		assert_int_equal(d0->guest[0], 0x2e7);
		assert_int_equal(d0->guest[2], 0x988);
		assert_int_equal(d1->guest[0], 0xf);
		/* OSXSAVE follows CR4 */
		assert_int_equal(!!(probe(&res, 1, 0)->guest[2] & (1U << 27)), v->osxsave);
	}

	/* XCR0 enables a component the page does not describe (AMX tile data) */
	{
		struct sim_boot_opts o = base_opts(32, SNP_ACCEPT_EAGER);
		struct sim_boot_result res;

		o.xcr0 = 0x20007;
		assert_int_equal(sim_boot(&o, NULL, &res), 1);
		assert_int_equal(res.exit.result, SIM_RUN_TERMINATED);
		assert_int_equal(res.exit.term_set, SNP_TERM_SET_GEN);
		assert_int_equal(res.exit.term_code, SNP_TERM_GEN_REQ);
		assert_string_equal(res.phase, "run");
		assert_false(probe(&res, 0xd, 0)->answered);
	}
	/* a page without a compacted format for 0xD.1 */
	{
		struct sim_boot_opts o = base_opts(32, SNP_ACCEPT_EAGER);
		struct sim_boot_result res;

		o.tweak_launch = tweak_cpuid_page;
		o.tweak_launch_arg = (void *)&no_compaction;
		assert_int_equal(sim_boot(&o, NULL, &res), 1);
		assert_int_equal(res.exit.term_set, SNP_TERM_SET_GEN);
		assert_int_equal(res.exit.term_code, SNP_TERM_GEN_REQ);
		assert_true(probe(&res, 0xd, 0)->answered);
		assert_false(probe(&res, 0xd, 1)->answered);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pre_validates_every_page_once),
		cmocka_unit_test(test_lazy_validates_only_touched),
		cmocka_unit_test(test_lazy_cost_follows_touch_not_ram),
		cmocka_unit_test(test_every_attack_is_detected),
		cmocka_unit_test(test_psc_attacks_on_the_ghcb_path),
		cmocka_unit_test(test_reencrypting_live_pages_is_fatal),
		cmocka_unit_test(test_platform_checks),
		cmocka_unit_test(test_partial_progress_and_4k_backing),
		cmocka_unit_test(test_round_trip_restores_rmp),
		cmocka_unit_test(test_thousands_of_ranges_batch),
		cmocka_unit_test(test_no_update_is_fatal),
		cmocka_unit_test(test_bad_launch_data),
		cmocka_unit_test(test_table_listing_non_ram),
		cmocka_unit_test(test_table_in_4k_units),
		cmocka_unit_test(test_conversion_accepts_first),
		cmocka_unit_test(test_accept_odd_ranges),
		cmocka_unit_test(test_report_through_ghcb),
		cmocka_unit_test(test_no_report_without_state),
		cmocka_unit_test(test_hv_refuses_private_pages),
		cmocka_unit_test(test_busy_is_retried),
		cmocka_unit_test(test_random_hypervisor_never_double_validates),
		cmocka_unit_test(test_protocol_negotiation),
		cmocka_unit_test(test_vcpu_current),
		cmocka_unit_test(test_register_and_ap_hold),
		cmocka_unit_test(test_psc_answers),
		cmocka_unit_test(test_cpuid_lie_not_believed),
		cmocka_unit_test(test_malformed_cpuid_table),
		cmocka_unit_test(test_cpuid_hypervisor_range),
		cmocka_unit_test(test_xsave_size_computed),
		cmocka_unit_test(test_cpuid_hv_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
