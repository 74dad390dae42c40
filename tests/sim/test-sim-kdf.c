// SPDX-License-Identifier: Apache-2.0
/*
 * Derived keys (MSG_KEY_REQ) through the guest driver and the simulated
 * firmware: determinism, what changes a key and what does not. The
 * known-answer test against an independent HMAC is tests/sim/sim-kdf-kat.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/util.h"
#include "tests/sim/sim-test.h"

struct ctx {
	struct sim_state *st;
	struct sim_platform *p;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	c->st = sim_test_state(SNP_PRODUCT_GENOA);
	/* an ID block so that every field has something in it */
	memset(c->st->params.image_id, 0x11, 16);
	memset(c->st->params.family_id, 0x22, 16);
	memset(c->st->params.id_key_digest, 0x33, 48);
	memset(c->st->params.host_data, 0x44, 32);
	c->st->params.guest_svn = 7;
	c->p = sim_test_platform(c->st, 0, NULL);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	sim_platform_free(c->p);
	sim_state_free(c->st);
	free(c);
	return 0;
}

static void derive(struct ctx *c, const struct snp_ioc_derived_key_req *req, u8 out[32])
{
	struct snp_ioc_derived_key_resp resp;
	struct snp_ioc_guest_request g = { .msg_version = 1 };

	memset(&resp, 0, sizeof(resp));
	g.req_data = (u64)(uintptr_t)req;
	g.resp_data = (u64)(uintptr_t)&resp;
	assert_int_equal(sim_platform_ioctl(c->p, SNP_IOC_GET_DERIVED_KEY, &g), 0);
	assert_int_equal(snp_get_le32(resp.data), 0);
	memcpy(out, resp.data + 0x20, 32);
	assert_false(snp_mem_is_zero(out, 32));
}

static u64 tcb_below_committed(struct ctx *c)
{
	struct snp_tcb_parts t;

	snp_tcb_decode(c->st->params.committed_tcb, SNP_TCB_LAYOUT_LEGACY, &t);
	t.microcode--;
	return snp_tcb_encode(&t, SNP_TCB_LAYOUT_LEGACY);
}

static void test_same_request_same_key(void **state)
{
	struct ctx *c = *state;
	struct snp_ioc_derived_key_req r = { .guest_field_select = SNP_GFS_V1_MASK,
					     .guest_svn = 3 };
	u8 a[32], b[32];

	r.tcb_version = c->st->params.committed_tcb;
	derive(c, &r, a);
	derive(c, &r, b);
	assert_memory_equal(a, b, 32);
	r.root_key_select = 1;
	derive(c, &r, a);
	derive(c, &r, b);
	assert_memory_equal(a, b, 32);
}

/* Change one launch parameter: the key changes iff its field is selected. */
static void check_field(struct ctx *c, u64 bit, void *field, size_t len)
{
	struct snp_ioc_derived_key_req r = { 0 };
	u8 base_sel[32], base_unsel[32], k[32];
	u8 saved[64];

	r.guest_field_select = bit;
	derive(c, &r, base_sel);
	r.guest_field_select = SNP_GFS_V1_MASK & ~(bit | SNP_GFS_TCB_VERSION | SNP_GFS_GUEST_SVN);
	derive(c, &r, base_unsel);

	memcpy(saved, field, len);
	((u8 *)field)[0] ^= 0x80;
	r.guest_field_select = bit;
	derive(c, &r, k);
	assert_memory_not_equal(k, base_sel, 32);
	r.guest_field_select = SNP_GFS_V1_MASK & ~(bit | SNP_GFS_TCB_VERSION | SNP_GFS_GUEST_SVN);
	derive(c, &r, k);
	assert_memory_equal(k, base_unsel, 32);
	memcpy(field, saved, len);
}

static void test_selected_fields(void **state)
{
	struct ctx *c = *state;
	struct sim_params *p = &c->st->params;

	check_field(c, SNP_GFS_POLICY, &p->policy, sizeof(p->policy));
	check_field(c, SNP_GFS_IMAGE_ID, p->image_id, sizeof(p->image_id));
	check_field(c, SNP_GFS_FAMILY_ID, p->family_id, sizeof(p->family_id));
	check_field(c, SNP_GFS_MEASUREMENT, p->measurement, sizeof(p->measurement));
}

static void test_measurement_first_32_bytes_only(void **state)
{
	struct ctx *c = *state;
	struct snp_ioc_derived_key_req r = { .guest_field_select = SNP_GFS_MEASUREMENT };
	u8 a[32], b[32];

	derive(c, &r, a);
	c->st->params.measurement[40] ^= 1;
	derive(c, &r, b);
	assert_memory_equal(a, b, 32);
	c->st->params.measurement[40] ^= 1;
}

static void test_vmpl_svn_tcb_root(void **state)
{
	struct ctx *c = *state;
	struct snp_ioc_derived_key_req r = { 0 };
	u8 base[32], k[32];

	derive(c, &r, base);
	/* VMPL is always mixed in */
	r.vmpl = 1;
	derive(c, &r, k);
	assert_memory_not_equal(k, base, 32);
	r.vmpl = 0;

	/* SVN: changes the key when selected, ignored when not */
	r.guest_svn = 5;
	derive(c, &r, k);
	assert_memory_equal(k, base, 32);
	r.guest_field_select = SNP_GFS_GUEST_SVN;
	derive(c, &r, base);
	r.guest_svn = 6;
	derive(c, &r, k);
	assert_memory_not_equal(k, base, 32);

	/* TCB: likewise; an older TCB gives another key */
	r = (struct snp_ioc_derived_key_req){ .tcb_version = tcb_below_committed(c) };
	derive(c, &r, k);
	derive(c, &r, base);
	r.guest_field_select = SNP_GFS_TCB_VERSION;
	r.tcb_version = c->st->params.committed_tcb;
	derive(c, &r, base);
	r.tcb_version = tcb_below_committed(c);
	derive(c, &r, k);
	assert_memory_not_equal(k, base, 32);

	/* root: VCEK vs VMRK */
	r = (struct snp_ioc_derived_key_req){ 0 };
	derive(c, &r, base);
	r.root_key_select = 1;
	derive(c, &r, k);
	assert_memory_not_equal(k, base, 32);
	/* explicit KEY_SEL VCEK = default when there is no VLEK */
	r.root_key_select = SNP_KEY_SEL_VCEK << 1;
	derive(c, &r, k);
	assert_memory_equal(k, base, 32);
}

static void test_host_data_and_id_key_always_mixed(void **state)
{
	struct ctx *c = *state;
	struct snp_ioc_derived_key_req r = { 0 };
	u8 base[32], k[32];

	derive(c, &r, base);
	c->st->params.host_data[0] ^= 1;
	derive(c, &r, k);
	assert_memory_not_equal(k, base, 32);
	c->st->params.host_data[0] ^= 1;
	c->st->params.id_key_digest[0] ^= 1;
	derive(c, &r, k);
	assert_memory_not_equal(k, base, 32);
	c->st->params.id_key_digest[0] ^= 1;
	/* the author key replaces the ID key when AUTHOR_KEY_EN */
	c->st->params.author_key_en = true;
	derive(c, &r, k);
	assert_memory_not_equal(k, base, 32);
	c->st->params.author_key_en = false;
}

/* VCEK keys follow the current TCB (the hash stick); VMRK keys a relaunch. */
static void test_tcb_update_and_relaunch(void **state)
{
	struct ctx *c = *state;
	struct snp_ioc_derived_key_req vcek = { 0 }, vmrk = { .root_key_select = 1 };
	struct snp_ioc_derived_key_req pinned = { .guest_field_select = SNP_GFS_TCB_VERSION };
	u8 a[32], b[32], pa[32], pb[32], ma[32], mb[32];
	char err[128];
	u64 cur = c->st->params.current_tcb;

	pinned.tcb_version = tcb_below_committed(c);
	derive(c, &vcek, a);
	derive(c, &pinned, pa);
	derive(c, &vmrk, ma);
	c->st->params.current_tcb = tcb_below_committed(c);
	derive(c, &vcek, b);
	derive(c, &pinned, pb);
	assert_memory_not_equal(a, b, 32);
	/* a key pinned to a TCB survives the update */
	assert_memory_equal(pa, pb, 32);
	c->st->params.current_tcb = cur;

	sim_platform_free(c->p);
	assert_int_equal(sim_state_relaunch(c->st, err, sizeof(err)), 0);
	c->p = sim_test_platform(c->st, 0, NULL);
	derive(c, &vcek, b);
	derive(c, &vmrk, mb);
	assert_memory_equal(a, b, 32);
	assert_memory_not_equal(ma, mb, 32);
}

/* The firmware's KDF against the MIX_DATA layout of snp-abi.md §6.2. */
static void test_mix_data_layout(void **state)
{
	struct ctx *c = *state;
	struct snp_key_req_msg req = { 0 };
	struct snp_key_mix_data mix;
	struct sim_fw fw;
	u8 root[SIM_SEED_LEN];
	size_t root_len;
	const u8 *m = (const u8 *)&mix;

	sim_fw_init(&fw, c->st);
	req.flags = cpu_to_le32(1);
	req.guest_field_select = cpu_to_le64(SNP_GFS_V1_MASK);
	req.vmpl = cpu_to_le32(2);
	req.guest_svn = cpu_to_le32(7);
	req.tcb_version = cpu_to_le64(c->st->params.committed_tcb);
	assert_int_equal(sim_fw_mix_data(&fw, &req, 0, &mix, root, &root_len), 0);
	assert_int_equal(root_len, SIM_VMRK_LEN);
	assert_memory_equal(root, c->st->secrets.vmrk, SIM_VMRK_LEN);
	assert_int_equal(snp_get_le32(m + 0x00), 1 | 1 << 1); /* VMRK, ID key */
	assert_int_equal(snp_get_le64(m + 0x08), SNP_GFS_V1_MASK);
	assert_int_equal(snp_get_le32(m + 0x10), 2);
	assert_int_equal(snp_get_le32(m + 0x14), 7);
	assert_int_equal(snp_get_le64(m + 0x18), c->st->params.committed_tcb);
	assert_int_equal(snp_get_le64(m + 0x20), c->st->params.policy);
	assert_memory_equal(m + 0x28, c->st->params.image_id, 16);
	assert_memory_equal(m + 0x38, c->st->params.family_id, 16);
	assert_memory_equal(m + 0x48, c->st->params.measurement, 32);
	assert_memory_equal(m + 0x68, c->st->params.host_data, 32);
	assert_memory_equal(m + 0x88, c->st->params.id_key_digest, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_same_request_same_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_selected_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_measurement_first_32_bytes_only, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vmpl_svn_tcb_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_data_and_id_key_always_mixed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tcb_update_and_relaunch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mix_data_layout, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
