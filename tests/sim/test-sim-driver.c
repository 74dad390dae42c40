// SPDX-License-Identifier: Apache-2.0
/*
 * The kernel/ guest-request driver over the simulated platform: normal
 * requests, every hypervisor fault (handled as Linux does), the firmware's
 * checks and status codes, sequence numbers over 10,000 requests, and bad
 * input to every entry point.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernel/snp-guest.h"
#include "lib/cert-table.h"
#include "lib/util.h"
#include "tests/sim/sim-test.h"

struct ctx {
	struct sim_state *st;
	struct sim_platform *p;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	c->st = sim_test_state(SNP_PRODUCT_MILAN);
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

static struct sim_platform *plat(void **state, u32 vmpck, const char *faults)
{
	struct ctx *c = *state;
	char err[128];

	sim_platform_free(c->p);
	/* a fresh launch: new VMPCKs, counters at zero */
	assert_int_equal(sim_state_relaunch(c->st, err, sizeof(err)), 0);
	c->p = sim_test_platform(c->st, vmpck, faults);
	return c->p;
}

static u32 guest_counter(struct sim_platform *p, u32 vmpck)
{
	return snp_get_le32((const u8 *)sim_platform_secrets(p) +
			    offsetof(struct snp_secrets_page, os_msg_seqno) + 4 * vmpck);
}

static int report(struct sim_platform *p, u32 vmpl, u8 fill, struct snp_ioc_report_resp *resp,
		  u64 *exitinfo2)
{
	struct snp_ioc_report_req req;
	struct snp_ioc_guest_request g = { .msg_version = 1 };
	int r;

	memset(&req, 0, sizeof(req));
	memset(req.user_data, fill, sizeof(req.user_data));
	req.vmpl = vmpl;
	g.req_data = (u64)(uintptr_t)&req;
	g.resp_data = (u64)(uintptr_t)resp;
	r = sim_platform_ioctl(p, SNP_IOC_GET_REPORT, &g);
	if (exitinfo2)
		*exitinfo2 = g.exitinfo2;
	return r;
}

static int key(struct sim_platform *p, const struct snp_ioc_derived_key_req *req, u8 out[32],
	       u32 *status)
{
	struct snp_ioc_derived_key_resp resp;
	struct snp_ioc_guest_request g = { .msg_version = 1 };
	int r;

	memset(&resp, 0, sizeof(resp));
	g.req_data = (u64)(uintptr_t)req;
	g.resp_data = (u64)(uintptr_t)&resp;
	r = sim_platform_ioctl(p, SNP_IOC_GET_DERIVED_KEY, &g);
	if (status)
		*status = snp_get_le32(resp.data);
	if (out)
		memcpy(out, resp.data + 0x20, 32);
	return r;
}

static int ext_report(struct sim_platform *p, u8 *certs, u32 *certs_len,
		      struct snp_ioc_report_resp *resp, u64 *exitinfo2)
{
	struct snp_ioc_ext_report_req req;
	struct snp_ioc_guest_request g = { .msg_version = 1 };
	int r;

	memset(&req, 0, sizeof(req));
	req.certs_address = (u64)(uintptr_t)certs;
	req.certs_len = *certs_len;
	g.req_data = (u64)(uintptr_t)&req;
	g.resp_data = (u64)(uintptr_t)resp;
	r = sim_platform_ioctl(p, SNP_IOC_GET_EXT_REPORT, &g);
	*certs_len = req.certs_len;
	if (exitinfo2)
		*exitinfo2 = g.exitinfo2;
	return r;
}

static const struct snp_report *resp_report(const struct snp_ioc_report_resp *resp)
{
	return &((const struct snp_report_rsp_msg *)resp->data)->report;
}

static void test_report_ok(void **state)
{
	struct ctx *c = *state;
	struct sim_platform *p = plat(state, 0, NULL);
	struct snp_ioc_report_resp resp;
	const struct snp_report_rsp_msg *rsp = (const void *)resp.data;
	u64 e;

	assert_int_equal(report(p, 0, 0xab, &resp, &e), 0);
	assert_int_equal(e, 0);
	assert_int_equal(le32_to_cpu(rsp->status), 0);
	assert_int_equal(le32_to_cpu(rsp->report_size), SNP_REPORT_SIZE);
	assert_int_equal(le32_to_cpu(rsp->report.version), 3);
	assert_int_equal(rsp->report.report_data[63], 0xab);
	assert_memory_equal(rsp->report.chip_id, SIM_CHIP_ID_PREFIX, 8);
	assert_false(snp_mem_is_zero(rsp->report.signature.r, 48));
	assert_true(snp_mem_is_zero(rsp->report.signature.r + 48, 24));
	assert_int_equal(guest_counter(p, 0), 2);
	assert_int_equal(c->st->fw_counter[0], 2);

	/* VMPL 3 through VMPCK0 is fine */
	assert_int_equal(report(p, 3, 0, &resp, NULL), 0);
	assert_int_equal(le32_to_cpu(resp_report(&resp)->vmpl), 3);
}

static void test_vmpck_1_to_3(void **state)
{
	struct ctx *c = *state;
	struct snp_ioc_report_resp resp;
	const struct snp_report_rsp_msg *rsp = (const void *)resp.data;

	for (u32 v = 1; v <= 3; v++) {
		struct sim_platform *p = plat(state, v, NULL);

		/* VMPL below the VMPCK index: INVALID_PARAM inside the response */
		assert_int_equal(report(p, v - 1, 0, &resp, NULL), 0);
		assert_int_equal(le32_to_cpu(rsp->status), SNP_FW_INVALID_PARAM);
		assert_int_equal(report(p, v, 0, &resp, NULL), 0);
		assert_int_equal(le32_to_cpu(rsp->status), 0);
		assert_int_equal(c->st->fw_counter[v], 4);
		assert_int_equal(guest_counter(p, v), 4);
	}
	assert_int_equal(c->st->fw_counter[0], 0);
}

static void test_ext_report_certs(void **state)
{
	struct sim_platform *p = plat(state, 0, NULL);
	struct snp_ioc_report_resp resp;
	struct snp_cert_table t;
	static u8 certs[SNP_CERTS_MAX_LEN];
	char err[256];
	u32 len = sizeof(certs);
	u64 e;

	assert_int_equal(ext_report(p, certs, &len, &resp, &e), 0);
	assert_int_equal(snp_cert_table_parse(certs, sizeof(certs), &t, err, sizeof(err)), 0);
	assert_int_equal(t.n, 3);
	assert_non_null(snp_cert_table_find(&t, SNP_CERT_ARK));
	assert_non_null(snp_cert_table_find(&t, SNP_CERT_ASK));
	assert_non_null(snp_cert_table_find(&t, SNP_CERT_VCEK));

	/*
	 * No certificate buffer (certs_len 0), as get-report -x and
	 * go-sev-guest ask for the size: the host answers INVALID_LEN with
	 * the pages it needs, like a too-small buffer; the driver resends it
	 * as a plain request, so the sequence number is spent, not reused.
	 */
	len = 0;
	assert_int_equal(ext_report(p, NULL, &len, &resp, &e), -EIO);
	assert_int_equal(e, SNP_EXITINFO2_VMM(SNP_VMM_ERR_INVALID_LEN));
	assert_int_equal(len, 8192);
	assert_false(snp_guest_vmpck_disabled(sim_platform_dev(p)));
	assert_int_equal(ext_report(p, certs, &len, &resp, &e), 0);
	assert_int_equal(snp_cert_table_parse(certs, len, &t, err, sizeof(err)), 0);
	assert_int_equal(t.n, 3);
}

/* A host configured without certificates answers like a plain request. */
static void test_ext_report_host_without_certs(void **state)
{
	struct ctx *c = *state;
	struct sim_platform *p;
	struct snp_ioc_report_resp resp;
	static u8 certs[2 * 4096];
	u32 len = 0;
	u64 e;

	c->st->params.host_certs = SIM_HOST_CERTS_NONE;
	p = plat(state, 0, NULL);
	assert_int_equal(ext_report(p, NULL, &len, &resp, &e), 0);
	assert_int_equal(e, 0);
	assert_int_equal(len, 0);
	assert_int_equal(le32_to_cpu(((const struct snp_report_rsp_msg *)resp.data)->status), 0);
	memset(certs, 0xee, sizeof(certs));
	len = 4096;
	assert_int_equal(ext_report(p, certs, &len, &resp, &e), 0);
	assert_int_equal(e, 0);
	assert_true(snp_mem_is_zero(certs, 4096));
	assert_int_equal(guest_counter(p, 0), c->st->fw_counter[0]);
}

static void test_ext_report_too_small(void **state)
{
	struct ctx *c = *state;
	struct sim_platform *p = plat(state, 0, NULL);
	struct snp_ioc_report_resp resp;
	static u8 certs[SNP_CERTS_MAX_LEN];
	u32 len = 4096;
	u64 e;

	/* the chain needs two pages: -EIO, INVALID_LEN, the size, seqno consumed */
	assert_int_equal(ext_report(p, certs, &len, &resp, &e), -EIO);
	assert_int_equal(e, SNP_EXITINFO2_VMM(SNP_VMM_ERR_INVALID_LEN));
	assert_int_equal(len, 8192);
	assert_false(snp_guest_vmpck_disabled(sim_platform_dev(p)));
	assert_int_equal(guest_counter(p, 0), 2);
	assert_int_equal(c->st->fw_counter[0], 2);
	/* the retry with the size learned succeeds */
	assert_int_equal(ext_report(p, certs, &len, &resp, &e), 0);
	assert_int_equal(e, 0);
	assert_int_equal(guest_counter(p, 0), c->st->fw_counter[0]);

	/* the hypervisor lying "too small" once: same protocol */
	p = plat(state, 0, "certs_small=1");
	len = sizeof(certs);
	assert_int_equal(ext_report(p, certs, &len, &resp, &e), -EIO);
	assert_int_equal(e, SNP_EXITINFO2_VMM(SNP_VMM_ERR_INVALID_LEN));
	assert_true(len > sizeof(certs));
	assert_false(snp_guest_vmpck_disabled(sim_platform_dev(p)));
	len = sizeof(certs);
	assert_int_equal(ext_report(p, certs, &len, &resp, &e), 0);
	assert_int_equal(guest_counter(p, 0), c->st->fw_counter[0]);

	/*
	 * A host whose table is larger than a guest takes (certs_pages=8, 32
	 * KiB): the size comes back; asking with it is EINVAL before any
	 * request (Linux: certs_len > SEV_FW_BLOB_MAX_SIZE), as is an area
	 * that is not whole pages; no sequence number is spent on either.
	 */
	p = plat(state, 0, "certs_small=1,certs_pages=8");
	len = sizeof(certs);
	assert_int_equal(ext_report(p, certs, &len, &resp, &e), -EIO);
	assert_int_equal(e, SNP_EXITINFO2_VMM(SNP_VMM_ERR_INVALID_LEN));
	assert_int_equal(len, 8 * 4096);
	assert_false(snp_guest_vmpck_disabled(sim_platform_dev(p)));
	{
		u64 seq = guest_counter(p, 0);
		static u8 big[8 * 4096];

		assert_int_equal(seq, c->st->fw_counter[0]);
		assert_int_equal(ext_report(p, big, &len, &resp, &e), -EINVAL);
		len = sizeof(certs) - 1;
		assert_int_equal(ext_report(p, certs, &len, &resp, &e), -EINVAL);
		assert_int_equal(guest_counter(p, 0), seq);
	}
	len = sizeof(certs);
	assert_int_equal(ext_report(p, certs, &len, &resp, &e), 0);

	/* a host contradicting itself: "too small" for 4 pages, asking for 2 */
	p = plat(state, 0, "certs_small=1,certs_pages=2");
	len = sizeof(certs);
	assert_int_equal(ext_report(p, certs, &len, &resp, &e), -EIO);
	assert_int_equal(e, SNP_EXITINFO2_VMM(SNP_VMM_ERR_INVALID_LEN));
	assert_int_equal(len, 2 * 4096);
	assert_false(snp_guest_vmpck_disabled(sim_platform_dev(p)));
}

static void test_busy_retried(void **state)
{
	struct ctx *c = *state;
	struct sim_platform *p = plat(state, 0, "busy=3");
	struct snp_ioc_report_resp resp;
	u64 e;

	assert_int_equal(report(p, 0, 1, &resp, &e), 0);
	assert_int_equal(e, 0);
	assert_int_equal(sim_platform_dev(p)->nr_busy_retries, 3);
	/* the same message was resent: one sequence number */
	assert_int_equal(guest_counter(p, 0), 2);
	assert_int_equal(c->st->fw_counter[0], 2);
}

static void test_busy_timeout(void **state)
{
	struct sim_platform *p = plat(state, 0, "busy=1000000");
	struct snp_ioc_report_resp resp;
	u64 e;

	assert_int_equal(report(p, 0, 1, &resp, &e), -ETIMEDOUT);
	assert_true(snp_guest_vmpck_disabled(sim_platform_dev(p)));
	assert_int_equal(report(p, 0, 1, &resp, &e), -ENOTTY);
}

/*
 * The BUSY budget is elapsed time from the first attempt, as Linux's
 * (jiffies since the request started, SNP_REQ_MAX_RETRY_DURATION): a
 * virtual clock that slow exits and oversleeping advance. The device is a
 * second one over the platform's pages whose exits go to the simulated
 * host and cost @exit_ms, whose sleeps last @sleep_pct per cent of what
 * was asked, and whose clock is the virtual one. From sleep number
 * @fatal_from on (0: never) a fatal signal is pending: as Linux's
 * schedule_timeout_killable() then, the sleep returns at once (no time
 * passes) and says so.
 */
struct vclock {
	const struct snp_platform_ops *inner;
	void *inner_priv;
	u64 now_ns, exit_ns;
	unsigned int sleep_pct;
	unsigned int fatal_from;
	unsigned int exits, sleeps, killed;
	u64 last_busy_info;
};

static int vclock_vmgexit(void *priv, struct snp_ghcb *ghcb)
{
	struct vclock *vc = priv;

	vc->exits++;
	vc->now_ns += vc->exit_ns;
	return vc->inner->vmgexit(vc->inner_priv, ghcb);
}

static int vclock_sleep_killable(void *priv, unsigned int ms)
{
	struct vclock *vc = priv;

	vc->sleeps++;
	if (vc->fatal_from && vc->sleeps >= vc->fatal_from) {
		vc->killed++;
		return -EINTR;
	}
	vc->now_ns += (u64)ms * 1000000ULL * vc->sleep_pct / 100;
	return 0;
}

static u64 vclock_clock_ns(void *priv)
{
	return ((struct vclock *)priv)->now_ns;
}

static int vclock_encrypt(void *priv, const u8 *key, const u8 *iv, const u8 *aad, size_t aad_len,
			  const u8 *in, size_t len, u8 *out, u8 *tag)
{
	struct vclock *vc = priv;

	return vc->inner->aead_encrypt(vc->inner_priv, key, iv, aad, aad_len, in, len, out, tag);
}

static int vclock_decrypt(void *priv, const u8 *key, const u8 *iv, const u8 *aad, size_t aad_len,
			  const u8 *in, size_t len, u8 *out, const u8 *tag)
{
	struct vclock *vc = priv;

	return vc->inner->aead_decrypt(vc->inner_priv, key, iv, aad, aad_len, in, len, out, tag);
}

static void vclock_event(void *priv, enum snp_guest_event ev, u32 vmpck_id, u64 info)
{
	(void)vmpck_id;
	if (ev == SNP_GUEST_EV_BUSY_RETRY)
		((struct vclock *)priv)->last_busy_info = info;
}

static const struct snp_platform_ops vclock_ops = {
	.vmgexit = vclock_vmgexit,
	.sleep_killable = vclock_sleep_killable,
	.clock_ns = vclock_clock_ns,
	.aead_encrypt = vclock_encrypt,
	.aead_decrypt = vclock_decrypt,
	.event = vclock_event,
};

/*
 * One report on a vclock device over a fresh platform with @faults, with
 * Linux's 2 s / 60 s. Returns the ioctl's result; *@vc (its exit cost,
 * sleep_pct and fatal_from set by the caller) gets the counts, *@e the
 * exitinfo2 the caller read. Checks what holds whatever the outcome: each
 * attempt resent the one message, one sequence number is spent, every
 * retry slept once, the sleeps a fatal signal cut short are counted.
 */
static int vclock_report(void **state, const char *faults, struct vclock *vc, u64 *e,
			 bool *disabled)
{
	struct sim_platform *p = plat(state, 0, faults);
	struct snp_guest_dev *dev = sim_platform_dev(p);
	const struct sim_guest_binding *b = dev->priv;
	struct snp_ioc_report_req req = { 0 };
	struct snp_ioc_report_resp resp;
	struct snp_ioc_guest_request g = { .msg_version = 1 };
	u64 exits = sim_platform_hv(p)->nr_exits;
	struct sim_guest_binding b2;
	struct snp_guest_dev d2;
	int r;

	vc->inner = b->ops;
	vc->inner_priv = b->priv;
	vc->now_ns = 1000000000ULL; /* any origin */
	assert_int_equal(sim_guest_init(&d2, &b2, &vclock_ops, vc, dev->secrets, 0, dev->shared,
					dev->scratch),
			 0);
	assert_int_equal(d2.retry_interval_ms, 2000);
	assert_int_equal(d2.retry_timeout_ms, 60000);
	g.req_data = (u64)(uintptr_t)&req;
	g.resp_data = (u64)(uintptr_t)&resp;
	r = snp_guest_ioctl(&d2, SNP_IOC_GET_REPORT, &g);
	*e = g.exitinfo2;
	*disabled = snp_guest_vmpck_disabled(&d2);
	assert_int_equal(sim_platform_hv(p)->nr_exits - exits, vc->exits);
	assert_int_equal(vc->sleeps, vc->exits - 1);
	assert_int_equal(d2.nr_busy_retries, vc->sleeps);
	assert_int_equal(d2.nr_busy_killed, vc->killed);
	assert_int_equal(guest_counter(p, 0), 2);
	snp_guest_release(&d2);
	return r;
}

/*
 * One report against a host that is always BUSY. Checks what the caller
 * gets when the driver gives up and returns the number of exits made;
 * *@last_info: the last BUSY_RETRY event's ms.
 */
static unsigned int busy_run(void **state, unsigned int exit_ms, unsigned int sleep_pct,
			     unsigned int fatal_from, u64 *last_info)
{
	struct ctx *c = *state;
	struct vclock vc = {
		.exit_ns = (u64)exit_ms * 1000000ULL,
		.sleep_pct = sleep_pct,
		.fatal_from = fatal_from,
	};
	bool disabled;
	u64 e;

	assert_int_equal(vclock_report(state, "busy=1000000", &vc, &e, &disabled), -ETIMEDOUT);
	/* Linux: the last answer, BUSY, in exitinfo2; the VMPCK is wiped */
	assert_int_equal(e, SNP_EXITINFO2_VMM(SNP_VMM_ERR_BUSY));
	assert_true(disabled);
	/* the firmware never saw the message, its sequence number is spent */
	assert_int_equal(c->st->fw_counter[0], 0);
	*last_info = vc.last_busy_info;
	return vc.exits;
}

static void test_busy_budget_elapsed(void **state)
{
	u64 info;

	/*
	 * Exits of 1 s: attempt k ends at 3k - 2 s, the 21st at 61 s is past
	 * 60 s. A budget of sleeps alone would make 31 attempts (91 s).
	 */
	assert_int_equal(busy_run(state, 1000, 100, 0, &info), 21);
	assert_int_equal(info, 58000); /* the 20th: 58 s since the first attempt */
	/* Sleeps of twice the interval: attempt k at 4(k - 1) s, 64 s is past. */
	assert_int_equal(busy_run(state, 0, 200, 0, &info), 17);
	assert_int_equal(info, 60000);
	/*
	 * The edge, as Linux (time_after(jiffies, start + 60 s), checked
	 * before the sleep): an attempt at exactly 60 s is still retried, the
	 * one at 62 s gives up.
	 */
	assert_int_equal(busy_run(state, 0, 100, 0, &info), 32);
	assert_int_equal(info, 60000);
}

/*
 * A fatal signal during the BUSY retries, as Linux: it sleeps with
 * schedule_timeout_killable() and ignores the result, so once the signal
 * is pending every sleep returns at once and the same message is resent
 * back to back until the 60 s are spent (or the host answers); the
 * request is not abandoned early. Exits of 1 s.
 */
static void test_busy_fatal_signal(void **state)
{
	struct ctx *c = *state;
	struct vclock vc = { .exit_ns = 1000000000ULL, .sleep_pct = 100, .fatal_from = 3 };
	bool disabled;
	u64 info, e;

	/*
	 * Pending from the 5th sleep: attempts 1-5 end at 3k - 2 s (13 s),
	 * then one a second, the k-th at k + 8 s: the 52nd at 60 s is still
	 * retried, the 53rd at 61 s gives up. Sleeps 5-52 (48) were cut
	 * short. A sleep a fatal signal cannot end made 21 attempts.
	 */
	assert_int_equal(busy_run(state, 1000, 100, 5, &info), 53);
	assert_int_equal(info, 60000);
	/* pending before the first sleep: the k-th attempt ends at k s */
	assert_int_equal(busy_run(state, 1000, 100, 1, &info), 61);
	assert_int_equal(info, 60000);

	/*
	 * The host answers after ten BUSYs, with the signal pending from the
	 * 3rd sleep: the request completes as any other (the 11th attempt, at
	 * 15 s: eleven exits and two whole sleeps); the VMPCK stays, both
	 * sides moved one step.
	 */
	assert_int_equal(vclock_report(state, "busy=10", &vc, &e, &disabled), 0);
	assert_int_equal(e, 0);
	assert_false(disabled);
	assert_int_equal(vc.exits, 11);
	assert_int_equal(vc.killed, 8);
	assert_int_equal(vc.now_ns - 1000000000ULL, 15000000000ULL);
	assert_int_equal(c->st->fw_counter[0], 2);
}

/*
 * The same on the simulator's own clock (CLOCK_MONOTONIC) and faults: a
 * host that is BUSY and takes 20 ms per exit (delay_ms) against the test
 * platform's 1 ms / 50 ms. Three exits take at least 62 ms, so the driver
 * gives up after at most three, however loaded the machine (a slower one
 * gives up sooner); counting only the 1 ms sleeps made 51.
 */
static void test_busy_slow_exits(void **state)
{
	struct sim_platform *p = plat(state, 0, "busy=1000000,delay_ms=20");
	struct snp_ioc_report_resp resp;
	u64 exits = sim_platform_hv(p)->nr_exits, e;

	assert_int_equal(report(p, 0, 1, &resp, &e), -ETIMEDOUT);
	assert_int_equal(e, SNP_EXITINFO2_VMM(SNP_VMM_ERR_BUSY));
	assert_true(snp_guest_vmpck_disabled(sim_platform_dev(p)));
	assert_in_range(sim_platform_hv(p)->nr_exits - exits, 1, 3);
}

/* Every fault that could desynchronise the counters disables the VMPCK. */
static void expect_disabled(void **state, const char *faults, int first_err)
{
	struct ctx *c = *state;
	struct sim_platform *p = plat(state, 0, faults);
	struct snp_ioc_report_resp resp;
	u8 k[32];
	struct snp_ioc_derived_key_req kr = { 0 };
	u64 e;

	/* one good request first so that a replay has something to replay */
	assert_int_equal(report(p, 0, 1, &resp, &e), 0);
	assert_int_equal(report(p, 0, 2, &resp, &e), first_err);
	assert_true(snp_guest_vmpck_disabled(sim_platform_dev(p)));
	assert_true(snp_mem_is_zero(sim_platform_secrets(p)->vmpck[0], 32));
	/* every later request: ENOTTY, nothing sent */
	u64 exits = sim_platform_hv(p)->nr_exits;

	assert_int_equal(report(p, 0, 3, &resp, &e), -ENOTTY);
	assert_int_equal(key(p, &kr, k, NULL), -ENOTTY);
	assert_int_equal(sim_platform_hv(p)->nr_exits, exits);
	/* the other VMPCKs are untouched */
	assert_false(snp_mem_is_zero(sim_platform_secrets(p)->vmpck[1], 32));
	(void)c;
}

static void test_tamper(void **state)
{
	expect_disabled(state, "after=1,tamper=1", -EBADMSG);
}

static void test_tamper_header(void **state)
{
	/* a bit of the AAD (MSG_TYPE region): the tag no longer verifies */
	expect_disabled(state, "after=1,tamper=1,tamper_bit=432", -EBADMSG);
}

static void test_replay(void **state)
{
	expect_disabled(state, "after=1,replay=1", -EBADMSG);
}

static void test_drop(void **state)
{
	expect_disabled(state, "after=1,drop=1", -EBADMSG);
}

static void test_fw_error(void **state)
{
	expect_disabled(state, "after=1,fw_error=1", -EIO);
	expect_disabled(state, "after=1,fw_error=1,fw_error_code=0x1d", -EIO);
}

static void test_delay(void **state)
{
	struct sim_platform *p = plat(state, 0, "delay_ms=2");
	struct snp_ioc_report_resp resp;

	assert_int_equal(report(p, 0, 1, &resp, NULL), 0);
}

struct seq_log {
	u8 *seen; /* bitmap of request seqnos */
	u64 n, dup, even;
};

static void capture_seq(void *ud, u64 exit_code, const struct snp_msg *req,
			const struct snp_msg *resp, u64 exitinfo2)
{
	struct seq_log *l = ud;
	u64 s = le64_to_cpu(req->hdr.msg_seqno);

	l->n++;
	if (!(s & 1))
		l->even++;
	if (s / 8 < 4096 && (l->seen[s / 8] & (1U << (s % 8))))
		l->dup++;
	if (s / 8 < 4096)
		l->seen[s / 8] |= (u8)(1U << (s % 8));
	if (resp && le64_to_cpu(resp->hdr.msg_seqno) != s + 1)
		l->dup++;
}

static void test_10000_requests(void **state)
{
	struct ctx *c = *state;
	struct sim_platform *p = plat(state, 0, NULL);
	struct snp_ioc_derived_key_req kr = { .guest_field_select = SNP_GFS_MEASUREMENT };
	struct snp_ioc_report_resp resp;
	struct seq_log log = { .seen = calloc(1, 4096) };
	static u8 certs[SNP_CERTS_MAX_LEN];
	u8 k[32];
	u32 st;

	sim_platform_set_capture(p, capture_seq, &log);
	for (int i = 0; i < 10000; i++) {
		if (i % 500 == 0) {
			assert_int_equal(report(p, 0, (u8)i, &resp, NULL), 0);
		} else if (i % 500 == 1) {
			u32 len = sizeof(certs);

			assert_int_equal(ext_report(p, certs, &len, &resp, NULL), 0);
		} else {
			assert_int_equal(key(p, &kr, k, &st), 0);
			assert_int_equal(st, 0);
		}
	}
	assert_int_equal(log.n, 10000);
	assert_int_equal(log.dup, 0);
	assert_int_equal(log.even, 0);
	assert_int_equal(guest_counter(p, 0), 20000);
	assert_int_equal(c->st->fw_counter[0], 20000);
	free(log.seen);
}

static void test_counter_overflow(void **state)
{
	struct ctx *c = *state;
	struct sim_platform *p = plat(state, 0, NULL);
	struct snp_ioc_report_resp resp;
	u8 *cnt = (u8 *)sim_platform_secrets(p) + offsetof(struct snp_secrets_page, os_msg_seqno);

	/* the firmware and the guest both near the end of the 32-bit range */
	c->st->fw_counter[0] = 0xfffffffcULL;
	snp_put_le32(cnt, 0xfffffffc);
	assert_int_equal(report(p, 0, 0, &resp, NULL), 0);
	assert_int_equal(guest_counter(p, 0), 0xfffffffe);
	/* next request would use 0xffffffff: refused before sending */
	u64 exits = sim_platform_hv(p)->nr_exits;

	assert_int_equal(report(p, 0, 0, &resp, NULL), -EIO);
	assert_int_equal(sim_platform_hv(p)->nr_exits, exits);
	assert_int_equal(guest_counter(p, 0), 0xfffffffe);
}

/* The firmware alone: header checks, tag, sequence number, no response, no counter move. */
static void test_firmware_checks(void **state)
{
	struct ctx *c = *state;
	struct sim_fw fw;
	static struct snp_msg req, resp, good;
	struct snp_report_req_msg body = { .vmpl = 0 };
	u8 iv[12] = { 1 };

	sim_fw_init(&fw, c->st);
	memset(&good, 0, sizeof(good));
	good.hdr.algo = 1;
	good.hdr.hdr_version = 1;
	good.hdr.hdr_sz = cpu_to_le16(0x60);
	good.hdr.msg_type = SNP_MSG_REPORT_REQ;
	good.hdr.msg_version = 1;
	good.hdr.msg_sz = cpu_to_le16(sizeof(body));
	good.hdr.msg_seqno = cpu_to_le64(1);
	assert_int_equal(sim_aes_gcm_encrypt(c->st->secrets.vmpck[0], iv, &good.hdr.algo, 48,
					     (u8 *)&body, sizeof(body), good.payload,
					     good.hdr.authtag),
			 0);

	struct {
		const char *what;
		size_t off;
		u8 val;
		u32 status;
	} cases[] = {
		{ "hdr_version", 0x31, 2, SNP_FW_INVALID_PARAM },
		{ "hdr_size", 0x32, 0x61, SNP_FW_INVALID_PARAM },
		{ "algo", 0x30, 0, SNP_FW_INVALID_PARAM },
		{ "msg_size not 16n", 0x36, 0x61, SNP_FW_INVALID_PARAM },
		{ "msg_size 0", 0x36, 0, SNP_FW_INVALID_PARAM },
		{ "msg_size beyond page", 0x37, 0x10, SNP_FW_INVALID_PARAM },
		{ "vmpck 4", 0x3c, 4, SNP_FW_INVALID_PARAM },
		{ "tag", 0x00, 0x55, SNP_FW_BAD_MEASUREMENT },
		{ "aad (type)", 0x34, 3, SNP_FW_BAD_MEASUREMENT },
		{ "payload", 0x60, 0x42, SNP_FW_BAD_MEASUREMENT },
		{ "seqno (IV)", 0x20, 3, SNP_FW_BAD_MEASUREMENT },
	};
	for (size_t i = 0; i < SNP_ELEMENTSOF(cases); i++) {
		memcpy(&req, &good, sizeof(req));
		((u8 *)&req)[cases[i].off] ^= cases[i].val ? cases[i].val : 0xff;
		if (cases[i].val == 0)
			((u8 *)&req)[cases[i].off] = 0;
		memset(&resp, 0x77, sizeof(resp));
		assert_int_equal(sim_fw_guest_request(&fw, &req, &resp), cases[i].status);
		assert_int_equal(((u8 *)&resp)[0], 0x77); /* no response written */
		assert_int_equal(c->st->fw_counter[0], 0);
	}
	/* a correct message with the wrong sequence number: AEAD_OFLOW */
	c->st->fw_counter[0] = 2;
	assert_int_equal(sim_fw_guest_request(&fw, &good, &resp), SNP_FW_AEAD_OFLOW);
	assert_int_equal(c->st->fw_counter[0], 2);
	c->st->fw_counter[0] = 0;
	assert_int_equal(sim_fw_guest_request(&fw, &good, &resp), 0);
	assert_int_equal(c->st->fw_counter[0], 2);
	assert_int_equal(le64_to_cpu(resp.hdr.msg_seqno), 2);
	assert_int_equal(resp.hdr.msg_type, SNP_MSG_REPORT_RSP);
	/* replaying the same request: AEAD_OFLOW */
	assert_int_equal(sim_fw_guest_request(&fw, &good, &resp), SNP_FW_AEAD_OFLOW);
}

static void test_firmware_version_and_type(void **state)
{
	struct ctx *c = *state;
	struct sim_fw fw;
	static struct snp_msg req, resp;
	u8 body[0x20] = { 0 }, iv[12] = { 0 };
	struct {
		u8 type, version;
		u32 status;
	} cases[] = {
		{ SNP_MSG_KEY_REQ, 0, SNP_FW_INVALID_PARAM },
		{ SNP_MSG_KEY_REQ, 2, SNP_FW_INVALID_PARAM },
		{ SNP_MSG_CPUID_REQ, 1, SNP_FW_INVALID_PARAM },
		{ 0, 1, SNP_FW_INVALID_PARAM },
		{ 200, 1, SNP_FW_INVALID_PARAM },
		{ SNP_MSG_REPORT_REQ, 1, SNP_FW_INVALID_PARAM }, /* 32 bytes: wrong size */
	};

	sim_fw_init(&fw, c->st);
	for (size_t i = 0; i < SNP_ELEMENTSOF(cases); i++) {
		memset(&req, 0, sizeof(req));
		req.hdr.algo = 1;
		req.hdr.hdr_version = 1;
		req.hdr.hdr_sz = cpu_to_le16(0x60);
		req.hdr.msg_type = cases[i].type;
		req.hdr.msg_version = cases[i].version;
		req.hdr.msg_sz = cpu_to_le16(sizeof(body));
		req.hdr.msg_seqno = cpu_to_le64(1);
		iv[0] = 1;
		assert_int_equal(sim_aes_gcm_encrypt(c->st->secrets.vmpck[0], iv, &req.hdr.algo, 48,
						     body, sizeof(body), req.payload,
						     req.hdr.authtag),
				 0);
		assert_int_equal(sim_fw_guest_request(&fw, &req, &resp), cases[i].status);
		assert_int_equal(c->st->fw_counter[0], 0);
	}
}

static void test_key_request_checks(void **state)
{
	struct ctx *c = *state;
	struct sim_platform *p;
	u32 st;
	u8 k[32];
	struct {
		struct snp_ioc_derived_key_req req;
		u32 status;
	} cases[] = {
		{ { .root_key_select = 1U << 3 }, SNP_FW_INVALID_PARAM },
		{ { .rsvd = 1 }, SNP_FW_INVALID_PARAM },
		{ { .vmpl = 4 }, SNP_FW_INVALID_PARAM },
		{ { .guest_field_select = 1ULL << 6 }, SNP_FW_INVALID_PARAM },
		{ { .guest_field_select = 1ULL << 63 }, SNP_FW_INVALID_PARAM },
		{ { .guest_field_select = SNP_GFS_GUEST_SVN, .guest_svn = 1 },
		  SNP_FW_INVALID_PARAM }, /* above the ID block SVN 0 */
		{ { .guest_field_select = SNP_GFS_TCB_VERSION, .tcb_version = ~0ULL },
		  SNP_FW_INVALID_PARAM },
		{ { .guest_field_select = SNP_GFS_TCB_VERSION, .tcb_version = 1ULL << 16 },
		  SNP_FW_INVALID_PARAM },				/* reserved TCB byte */
		{ { .root_key_select = 3U << 1 }, SNP_FW_INVALID_KEY }, /* KEY_SEL 3 */
		{ { .root_key_select = 2U << 1 }, SNP_FW_INVALID_KEY }, /* no VLEK */
		{ { .root_key_select = 1U << 1 }, 0 },			/* VCEK */
		{ { .root_key_select = 1 }, 0 },			/* VMRK */
		{ { .guest_field_select = SNP_GFS_TCB_VERSION, .tcb_version = 0 }, 0 },
	};

	p = plat(state, 0, NULL);
	for (size_t i = 0; i < SNP_ELEMENTSOF(cases); i++) {
		assert_int_equal(key(p, &cases[i].req, k, &st), 0);
		assert_int_equal(st, cases[i].status);
		if (st)
			assert_true(snp_mem_is_zero(k, 32));
	}
	/* VMPL below the VMPCK */
	p = plat(state, 2, NULL);
	struct snp_ioc_derived_key_req r1 = { .vmpl = 1 };

	assert_int_equal(key(p, &r1, k, &st), 0);
	assert_int_equal(st, SNP_FW_INVALID_PARAM);

	/* MASK_CHIP_KEY: no VCEK keys, unsigned reports */
	c->st->params.mask_chip_key = true;
	p = plat(state, 0, NULL);
	struct snp_ioc_derived_key_req r0 = { 0 };
	struct snp_ioc_report_resp resp;

	assert_int_equal(key(p, &r0, k, &st), 0);
	assert_int_equal(st, SNP_FW_INVALID_KEY);
	r0.root_key_select = 1;
	assert_int_equal(key(p, &r0, k, &st), 0);
	assert_int_equal(st, 0);
	assert_int_equal(report(p, 0, 0, &resp, NULL), 0);
	assert_int_equal((le32_to_cpu(resp_report(&resp)->key_info) >> 2) & 7,
			 SNP_SIGNING_KEY_NONE);
	assert_true(le32_to_cpu(resp_report(&resp)->key_info) & SNP_KEYINFO_MASK_CHIP_KEY);
	assert_true(snp_mem_is_zero(&resp_report(&resp)->signature, 512));
	c->st->params.mask_chip_key = false;

	/* MASK_CHIP_ID: zero chip id */
	c->st->params.mask_chip_id = true;
	assert_int_equal(report(p, 0, 0, &resp, NULL), 0);
	assert_true(snp_mem_is_zero(resp_report(&resp)->chip_id, 64));
	c->st->params.mask_chip_id = false;
}

static void test_report_key_sel(void **state)
{
	struct ctx *c = *state;
	struct snp_report r;
	struct sim_fw fw;
	u8 rd[64] = { 0 };

	sim_fw_init(&fw, c->st);
	assert_int_equal(sim_fw_make_report(&fw, rd, 0, SNP_KEY_SEL_VCEK, &r), 0);
	assert_int_equal(sim_fw_make_report(&fw, rd, 0, SNP_KEY_SEL_VLEK, &r), SNP_FW_INVALID_KEY);
	assert_int_equal(sim_fw_make_report(&fw, rd, 0, SNP_KEY_SEL_RSVD, &r), SNP_FW_INVALID_KEY);
	/* report versions */
	c->st->params.report_version = 2;
	assert_int_equal(sim_fw_make_report(&fw, rd, 0, 0, &r), 0);
	assert_int_equal(r.cpuid_fam_id, 0);
	c->st->params.report_version = 5;
	c->st->params.launch_mit_vector = 0x1234;
	assert_int_equal(sim_fw_make_report(&fw, rd, 0, 0, &r), 0);
	assert_int_equal(le64_to_cpu(r.launch_mit_vector), 0x1234);
	assert_int_equal(r.cpuid_fam_id, 0x19);
	c->st->params.report_version = 3;
}

/*
 * Many threads on one platform: the driver's lock keeps every request on
 * its own sequence number (without it, two requests take the same number
 * and the firmware or the response check refuses one, wiping the VMPCK).
 */
#define NR_THREADS	8
#define REQS_PER_THREAD 200

struct thread_ctx {
	struct sim_platform *p;
	unsigned int failed;
};

static void *request_thread(void *arg)
{
	struct thread_ctx *t = arg;
	struct snp_ioc_derived_key_req req = { .guest_field_select = 1 };
	struct snp_ioc_derived_key_resp resp;
	struct snp_ioc_guest_request g;

	for (int i = 0; i < REQS_PER_THREAD; i++) {
		memset(&g, 0, sizeof(g));
		g.msg_version = 1;
		g.req_data = (u64)(uintptr_t)&req;
		g.resp_data = (u64)(uintptr_t)&resp;
		if (sim_platform_ioctl(t->p, SNP_IOC_GET_DERIVED_KEY, &g) < 0 ||
		    snp_get_le32(resp.data) != 0)
			t->failed++;
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct ctx *c = *state;
	struct sim_platform *p = plat(state, 0, NULL);
	struct thread_ctx t[NR_THREADS];
	pthread_t tid[NR_THREADS];
	unsigned int failed = 0;

	for (int i = 0; i < NR_THREADS; i++) {
		t[i] = (struct thread_ctx){ .p = p };
		assert_int_equal(pthread_create(&tid[i], NULL, request_thread, &t[i]), 0);
	}
	for (int i = 0; i < NR_THREADS; i++) {
		assert_int_equal(pthread_join(tid[i], NULL), 0);
		failed += t[i].failed;
	}
	assert_int_equal(failed, 0);
	assert_false(snp_guest_vmpck_disabled(sim_platform_dev(p)));
	assert_int_equal(c->st->fw_counter[0], 2 * NR_THREADS * REQS_PER_THREAD);
	assert_int_equal(guest_counter(p, 0), 2 * NR_THREADS * REQS_PER_THREAD);
}

/*
 * The device-time model of benchmarks (sim_open_opts.device_us): a request
 * takes at least the device time from the caller's call, whatever the
 * simulator's own work; the wait is over when the call returns (nothing
 * owed to the next request); and one device serves every process of a
 * state directory, so two processes asking at once take at least twice
 * the device time. Lower bounds only: nothing here depends on speed.
 */
#define DEVICE_US 60000

static int open_dir_platform(const char *dir, struct sim_platform **ret)
{
	struct sim_open_opts o = { .retry_interval_ms = 1,
				   .retry_timeout_ms = 50,
				   .device_us = DEVICE_US };
	char err[256] = "";

	return sim_platform_open(dir, NULL, &o, ret, err, sizeof(err));
}

static void test_device_time(void **state)
{
	const char *tmp = getenv("TMPDIR");
	struct snp_ioc_report_resp resp;
	struct sim_platform *p = NULL;
	struct sim_state *st = NULL;
	struct sim_params prm;
	char err[256] = "", *dir = NULL, *rm = NULL;
	pid_t pid[2];
	u64 t0, t1;

	(void)state;
	assert_true(asprintf(&dir, "%s/sim-device-time.XXXXXX", tmp && *tmp ? tmp : P_tmpdir) > 0);
	assert_non_null(mkdtemp(dir));
	sim_params_default(&prm, SNP_PRODUCT_MILAN);
	assert_int_equal(sim_state_create(dir, &prm, true, &st, err, sizeof(err)), 0);
	sim_state_free(st);

	/* one process: at least the device time, state files and all */
	assert_int_equal(open_dir_platform(dir, &p), 0);
	for (int i = 0; i < 2; i++) {
		t0 = snp_monotonic_usec();
		assert_int_equal(report(p, 0, 0x5a, &resp, NULL), 0);
		t1 = snp_monotonic_usec();
		assert_true(t1 - t0 >= DEVICE_US);
		assert_int_equal(sim_platform_hv(p)->device_due_ns, 0);
		assert_false(sim_platform_hv(p)->device_defer);
	}
	sim_platform_free(p);

	/* two processes at once: one device, one request after the other */
	t0 = snp_monotonic_usec();
	for (int i = 0; i < 2; i++) {
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0) {
			struct sim_platform *q = NULL;

			_exit(open_dir_platform(dir, &q) < 0 ||
			      report(q, 0, (u8)i, &resp, NULL) < 0);
		}
	}
	for (int i = 0; i < 2; i++) {
		int ws = 0;

		assert_int_equal(waitpid(pid[i], &ws, 0), pid[i]);
		assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	}
	t1 = snp_monotonic_usec();
	assert_true(t1 - t0 >= 2 * DEVICE_US);
	assert_true(asprintf(&rm, "rm -rf '%s'", dir) > 0);
	assert_int_equal(system(rm), 0);
	free(rm);
	free(dir);
}

/*
 * A hypervisor that refuses the exit (SW_EXITINFO1[31:0] != 0): the
 * firmware never ran, exitinfo2 is SEV_RET_NO_FW_CALL, not the
 * hypervisor's SW_EXITINFO2; the message may have been seen, so the VMPCK
 * goes.
 */
static u64 refuse_info1 = 2, refuse_info2 = 0x1234;

static int refuse_vmgexit(void *priv, struct snp_ghcb *ghcb)
{
	(void)priv;
	ghcb->sw_exit_info_1 = cpu_to_le64(refuse_info1);
	ghcb->sw_exit_info_2 = cpu_to_le64(refuse_info2);
	return 0;
}

/*
 * The ioctl's result, as Linux's verify_exception_info() judges the exit:
 * ES_EXCEPTION (4) for SW_EXITINFO1 = 1 with a valid #GP/#UD exception,
 * ES_VMM_ERROR (2) for anything else; positive, passed up unmapped.
 */
static void check_refused(struct snp_guest_dev *dev, u64 info1, u64 info2, int want)
{
	struct snp_platform_ops ops = *sim_guest_ops(dev);
	struct sim_guest_binding b2;
	struct snp_ioc_report_req req = { 0 };
	struct snp_ioc_report_resp resp;
	struct snp_ioc_guest_request g = { .msg_version = 1 };
	struct snp_guest_dev d2;
	u8 vmpck[SNP_VMPCK_LEN];

	memcpy(vmpck, dev->secrets->vmpck[0], sizeof(vmpck));
	refuse_info1 = info1;
	refuse_info2 = info2;
	ops.vmgexit = refuse_vmgexit;
	ops.event = NULL;
	assert_int_equal(
		sim_guest_init(&d2, &b2, &ops, NULL, dev->secrets, 0, dev->shared, dev->scratch),
		0);
	g.req_data = (u64)(uintptr_t)&req;
	g.resp_data = (u64)(uintptr_t)&resp;
	assert_int_equal(snp_guest_ioctl(&d2, SNP_IOC_GET_REPORT, &g), want);
	assert_int_equal(g.exitinfo2, SNP_EXITINFO2_EXIT_REFUSED);
	assert_true(snp_guest_vmpck_disabled(&d2));
	snp_guest_release(&d2);
	memcpy(dev->secrets->vmpck[0], vmpck, sizeof(vmpck)); /* for the next case */
	explicit_bzero(vmpck, sizeof(vmpck));
}

static void test_refused_exit_result(void **state)
{
	struct sim_platform *p = plat(state, 0, NULL);
	struct snp_guest_dev *dev = sim_platform_dev(p);
	const u64 gp = SNP_EVTINJ_VALID | SNP_EVTINJ_TYPE_EXCEPT | SNP_X86_TRAP_GP;
	const u64 ud = SNP_EVTINJ_VALID | SNP_EVTINJ_TYPE_EXCEPT | SNP_X86_TRAP_UD;

	check_refused(dev, 2, 0x1234, SNP_ES_VMM_ERROR);
	check_refused(dev, 1, 0, SNP_ES_VMM_ERROR);
	check_refused(dev, 1, gp, SNP_ES_EXCEPTION);
	check_refused(dev, 1, ud | SNP_EVTINJ_VALID_ERR | (0xdULL << 32), SNP_ES_EXCEPTION);
	/* bits 63:32 of SW_EXITINFO1 are not looked at */
	check_refused(dev, 1ULL << 32 | 1, ud, SNP_ES_EXCEPTION);
	check_refused(dev, 1, gp & ~SNP_EVTINJ_VALID, SNP_ES_VMM_ERROR);
	check_refused(dev, 1, SNP_EVTINJ_VALID | SNP_EVTINJ_TYPE_EXCEPT | 14, SNP_ES_VMM_ERROR);
	check_refused(dev, 1, SNP_EVTINJ_VALID | SNP_X86_TRAP_GP, SNP_ES_VMM_ERROR); /* type 0 */
	check_refused(dev, 3, gp, SNP_ES_VMM_ERROR);
}

/*
 * The simulated host refuses (fault refuse_exit): the ioctl returns the
 * positive result, nothing reached the firmware, the VMPCK is wiped and
 * the caller's response buffer is untouched.
 */
static void test_refuse_exit_fault(void **state)
{
	struct sim_platform *p = plat(state, 0, "refuse_exit=1");
	struct snp_ioc_derived_key_req kr = { 0 };
	struct snp_ioc_derived_key_resp kresp;
	struct snp_ioc_guest_request g = { .msg_version = 1 };
	u64 exits = sim_platform_hv(p)->nr_exits, faults = sim_platform_hv(p)->nr_faults;

	memset(&kresp, 0xa5, sizeof(kresp));
	g.req_data = (u64)(uintptr_t)&kr;
	g.resp_data = (u64)(uintptr_t)&kresp;
	assert_int_equal(sim_platform_ioctl(p, SNP_IOC_GET_DERIVED_KEY, &g), SNP_ES_VMM_ERROR);
	assert_int_equal(g.exitinfo2, SNP_EXITINFO2_EXIT_REFUSED);
	for (size_t i = 0; i < sizeof(kresp); i++)
		assert_int_equal(kresp.data[i], 0xa5);
	assert_true(snp_guest_vmpck_disabled(sim_platform_dev(p)));
	assert_int_equal(sim_platform_hv(p)->nr_exits, exits + 1);
	assert_int_equal(sim_platform_hv(p)->nr_faults, faults + 1);

	p = plat(state, 0, "refuse_exit=1,refuse_info2=0x80000b0d");
	g.exitinfo2 = 0;
	assert_int_equal(sim_platform_ioctl(p, SNP_IOC_GET_DERIVED_KEY, &g), SNP_ES_EXCEPTION);
	assert_int_equal(g.exitinfo2, SNP_EXITINFO2_EXIT_REFUSED);
}

/*
 * The module's probe (snp_guest_probe()) refuses an empty VMPCK as Linux's
 * does: -EINVAL, nothing to release; a live one binds. snp_guest_init()
 * (the simulator's device, a driver already loaded) still accepts it.
 */
static void test_probe_empty_vmpck(void **state)
{
	struct sim_platform *p = plat(state, 0, NULL);
	struct snp_guest_dev *dev = sim_platform_dev(p);
	static struct snp_secrets_page secrets;
	struct sim_guest_binding b2 = { .ops = sim_guest_ops(dev) };
	struct snp_guest_dev d2;

	memcpy(&secrets, dev->secrets, sizeof(secrets));
	memset(secrets.vmpck[2], 0, SNP_VMPCK_LEN);
	assert_int_equal(snp_guest_probe(&d2, &b2, &secrets, 2, dev->shared, dev->scratch),
			 -EINVAL);
	assert_int_equal(snp_guest_probe(&d2, &b2, &secrets, 1, dev->shared, dev->scratch), 0);
	assert_false(snp_guest_vmpck_disabled(&d2));
	snp_guest_release(&d2);
	assert_int_equal(snp_guest_init(&d2, &b2, &secrets, 2, dev->shared, dev->scratch), 0);
	assert_true(snp_guest_vmpck_disabled(&d2));
	snp_guest_release(&d2);
	explicit_bzero(&secrets, sizeof(secrets));
}

static void test_refused_exit(void **state)
{
	struct sim_platform *p = plat(state, 0, NULL);
	struct snp_guest_dev *dev = sim_platform_dev(p);
	struct snp_platform_ops ops = *sim_guest_ops(dev);
	struct sim_guest_binding b2;
	struct snp_ioc_report_req req = { 0 };
	struct snp_ioc_report_resp resp;
	struct snp_ioc_guest_request g = { .msg_version = 1 };
	struct snp_guest_dev d2;

	ops.vmgexit = refuse_vmgexit;
	ops.event = NULL;
	assert_int_equal(
		sim_guest_init(&d2, &b2, &ops, NULL, dev->secrets, 0, dev->shared, dev->scratch),
		0);
	g.req_data = (u64)(uintptr_t)&req;
	g.resp_data = (u64)(uintptr_t)&resp;
	refuse_info1 = 2;
	refuse_info2 = 0x1234;
	assert_int_equal(snp_guest_ioctl(&d2, SNP_IOC_GET_REPORT, &g), SNP_ES_VMM_ERROR);
	assert_int_equal(g.exitinfo2, SNP_EXITINFO2_EXIT_REFUSED);
	assert_true(snp_guest_vmpck_disabled(&d2));
	/* and the next one: ENOTTY, exitinfo2 0xff whatever the caller left there */
	g.exitinfo2 = 0x1234;
	assert_int_equal(snp_guest_ioctl(&d2, SNP_IOC_GET_REPORT, &g), -ENOTTY);
	assert_int_equal(g.exitinfo2, SNP_EXITINFO2_NO_FW_CALL);
	snp_guest_release(&d2);
}

/* One ioctl with the caller's exitinfo2 at 0x1234; *@e: what it reads back. */
static int order_ioctl(struct sim_platform *p, unsigned int cmd, u32 version, const void *req,
		       void *resp, u64 *e)
{
	struct snp_ioc_guest_request g = {
		.msg_version = version,
		.req_data = (u64)(uintptr_t)req,
		.resp_data = (u64)(uintptr_t)resp,
		.exitinfo2 = 0x1234,
	};
	int r = sim_platform_ioctl(p, cmd, &g);

	*e = g.exitinfo2;
	return r;
}

#define ORDER(cmd, req, resp, want)                                                                \
	do {                                                                                       \
		u64 e_;                                                                            \
		assert_int_equal(order_ioctl(p, (cmd), 1, (req), (resp), &e_), (want));            \
		assert_int_equal(e_, SNP_EXITINFO2_NO_FW_CALL);                                    \
	} while (0)

/*
 * A wiped VMPCK is found where current Linux finds it (since 6.13
 * snp_send_guest_request(), which each ioctl calls once its own checks of
 * the argument passed): a NULL or bad req_data, or a bad certificate
 * area, still gives EINVAL or EFAULT on such a device, and only a request
 * that would be sent gets ENOTTY. Linux's order, per ioctl:
 *   get_report(), get_derived_key(): req_data or resp_data NULL: EINVAL;
 *     req_data unreadable: EFAULT; then ENOTTY;
 *   get_ext_report(): NULL: EINVAL; unreadable: EFAULT; certs_len above
 *     16 KiB or not page aligned: EINVAL; certificate area failing
 *     access_ok(): EFAULT; then ENOTTY.
 * resp_data and certs_address are only written after a request, so an
 * unmapped one meets the ENOTTY (access_ok() checks the range, not the
 * pages, as in Linux). exitinfo2 = 0xff is written back each time (a
 * deliberate difference, README); nothing is sent, no counter moves.
 */
static void test_vmpck_disabled_order(void **state)
{
	struct ctx *c = *state;
	struct sim_platform *p = plat(state, 0, NULL);
	struct snp_guest_dev *dev = sim_platform_dev(p);
	size_t psz = (size_t)sysconf(_SC_PAGESIZE);
	struct snp_ioc_report_req rr = { 0 };
	struct snp_ioc_derived_key_req kr = { 0 };
	struct snp_ioc_ext_report_req er = { 0 };
	struct snp_ioc_derived_key_resp kresp;
	struct snp_ioc_report_resp resp;
	static u8 certs[SNP_CERTS_MAX_LEN];
	u64 exits, e;
	void *hole;

	hole = mmap(NULL, psz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(hole != MAP_FAILED);
	assert_int_equal(munmap(hole, psz), 0);
	snp_guest_disable_vmpck(dev, 0);
	assert_true(snp_guest_vmpck_disabled(dev));
	exits = sim_platform_hv(p)->nr_exits;

	ORDER(SNP_IOC_GET_REPORT, NULL, &resp, -EINVAL);
	ORDER(SNP_IOC_GET_REPORT, &rr, NULL, -EINVAL);
	ORDER(SNP_IOC_GET_REPORT, hole, &resp, -EFAULT);
	ORDER(SNP_IOC_GET_REPORT, &rr, hole, -ENOTTY);
	ORDER(SNP_IOC_GET_REPORT, &rr, &resp, -ENOTTY);

	ORDER(SNP_IOC_GET_DERIVED_KEY, NULL, &kresp, -EINVAL);
	ORDER(SNP_IOC_GET_DERIVED_KEY, &kr, NULL, -EINVAL);
	ORDER(SNP_IOC_GET_DERIVED_KEY, hole, &kresp, -EFAULT);
	ORDER(SNP_IOC_GET_DERIVED_KEY, &kr, hole, -ENOTTY);
	ORDER(SNP_IOC_GET_DERIVED_KEY, &kr, &kresp, -ENOTTY);

	ORDER(SNP_IOC_GET_EXT_REPORT, NULL, &resp, -EINVAL);
	ORDER(SNP_IOC_GET_EXT_REPORT, &er, NULL, -EINVAL);
	ORDER(SNP_IOC_GET_EXT_REPORT, hole, &resp, -EFAULT);
	er.certs_address = (u64)(uintptr_t)certs;
	er.certs_len = 100;
	ORDER(SNP_IOC_GET_EXT_REPORT, &er, &resp, -EINVAL);
	er.certs_len = SNP_CERTS_MAX_LEN + 4096;
	ORDER(SNP_IOC_GET_EXT_REPORT, &er, &resp, -EINVAL);
	/* the driver's own pages, and a range that wraps: access_ok() fails */
	er.certs_address = (u64)(uintptr_t)dev->shared->certs;
	er.certs_len = 4096;
	ORDER(SNP_IOC_GET_EXT_REPORT, &er, &resp, -EFAULT);
	er.certs_address = ~0ULL - 4095;
	er.certs_len = 8192;
	ORDER(SNP_IOC_GET_EXT_REPORT, &er, &resp, -EFAULT);
	er.certs_address = (u64)(uintptr_t)hole;
	er.certs_len = 4096;
	ORDER(SNP_IOC_GET_EXT_REPORT, &er, &resp, -ENOTTY);
	er.certs_address = (u64)(uintptr_t)certs;
	ORDER(SNP_IOC_GET_EXT_REPORT, &er, hole, -ENOTTY);
	ORDER(SNP_IOC_GET_EXT_REPORT, &er, &resp, -ENOTTY);
	/* no certificate area wanted: nothing more to check */
	er.certs_len = 0;
	ORDER(SNP_IOC_GET_EXT_REPORT, &er, &resp, -ENOTTY);

	/* before any of it: msg_version (EINVAL), then the number (ENOTTY) */
	assert_int_equal(order_ioctl(p, SNP_IOC_GET_REPORT, 0, NULL, NULL, &e), -EINVAL);
	assert_int_equal(e, SNP_EXITINFO2_NO_FW_CALL);
	ORDER(0x1234, NULL, NULL, -ENOTTY);

	assert_int_equal(sim_platform_hv(p)->nr_exits, exits);
	assert_int_equal(guest_counter(p, 0), 0);
	assert_int_equal(c->st->fw_counter[0], 0);
}

/*
 * The lock is checked, not just taken: the unlocked entry point without
 * the lock dies (lockdep_assert_held), in a child process.
 */
static void test_lockdep(void **state)
{
	struct sim_platform *p = plat(state, 0, NULL);
	struct snp_guest_dev *dev = sim_platform_dev(p);
	struct snp_ioc_derived_key_req req = { .guest_field_select = 1 };
	struct snp_ioc_derived_key_resp resp;
	struct snp_ioc_guest_request g = { .msg_version = 1 };
	int status;
	pid_t pid;

	g.req_data = (u64)(uintptr_t)&req;
	g.resp_data = (u64)(uintptr_t)&resp;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* the message names the file and line; keep the test log quiet */
		if (!freopen("/dev/null", "w", stderr))
			_exit(1);
		snp_guest_ioctl_locked(dev, SNP_IOC_GET_DERIVED_KEY, &g);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	/* with the lock it works */
	mutex_lock(&dev->cmd_mutex);
	assert_int_equal(snp_guest_ioctl_locked(dev, SNP_IOC_GET_DERIVED_KEY, &g), 0);
	mutex_unlock(&dev->cmd_mutex);
}

/* The DER of @x equals the blob of @e? */
static bool same_der(X509 *x, const u8 *table, const struct snp_cert_table_entry *e)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	bool same = e && n > 0 && (u32)n == e->length && !memcmp(der, table + e->offset, e->length);

	OPENSSL_free(der);
	return same;
}

/*
 * A firmware update (params edited) that cannot be saved: the VCEK of the
 * new TCB cannot be written. The request fails, and nothing of the update
 * is taken: the firmware still reports the old TCB with the old key and the
 * host's table holds the leaf in memory. Once the file can be written the
 * next request takes the update: new TCB, new leaf, and the host hands out
 * that leaf (not the one of the old TCB).
 */
static void test_tcb_update_unsaved(void **state)
{
	struct sim_open_opts o = { .retry_interval_ms = 1, .retry_timeout_ms = 50 };
	_cleanup_(freep) char *tmpl = sim_test_template_dir(SNP_PRODUCT_MILAN);
	_cleanup_(freep) char *cmd = NULL, *path = NULL, *blk = NULL;
	char dir[] = "/tmp/snp-sim-tcb-XXXXXX", err[256] = "";
	static u8 certs[SNP_CERTS_MAX_LEN];
	struct snp_ioc_report_resp resp;
	struct sim_platform *p = NULL;
	struct snp_cert_table t;
	struct sim_params prm;
	struct sim_state *st;
	u64 old, new;
	u32 len;
	FILE *f;

	(void)state;
	sim_state_free(sim_test_state(SNP_PRODUCT_MILAN)); /* the template exists */
	assert_non_null(mkdtemp(dir));
	assert_true(asprintf(&cmd, "cp -a '%s'/. '%s'/", tmpl, dir) > 0);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(sim_platform_open(dir, NULL, &o, &p, err, sizeof(err)), 0);
	st = sim_platform_state(p);
	len = sizeof(certs);
	assert_int_equal(ext_report(p, certs, &len, &resp, NULL), 0);
	old = le64_to_cpu(resp_report(&resp)->reported_tcb);

	/* the update, with vcek.pem a directory that no file can replace */
	new = old + (1ULL << 48);
	prm = st->params;
	prm.current_tcb = prm.committed_tcb = prm.reported_tcb = new;
	assert_true(asprintf(&path, "%s/params.new", dir) > 0);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(sim_params_write(&prm, f), 0);
	assert_int_equal(fclose(f), 0);
	free(path);
	assert_true(asprintf(&path, "%s/params", dir) > 0);
	free(cmd);
	assert_true(asprintf(&cmd, "%s.new", path) > 0);
	assert_int_equal(rename(cmd, path), 0);
	free(path);
	assert_true(asprintf(&path, "%s/vcek.pem", dir) > 0);
	assert_true(asprintf(&blk, "%s/vcek.pem/blocker", dir) > 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	f = fopen(blk, "w");
	assert_non_null(f);
	assert_int_equal(fclose(f), 0);

	for (int i = 0; i < 2; i++) {
		len = sizeof(certs);
		assert_true(ext_report(p, certs, &len, &resp, NULL) < 0);
		assert_true(st->params.reported_tcb == old);
		assert_true(sim_identity_leaf_is_current(st));
	}

	/* writable again: the next request takes the update */
	assert_int_equal(unlink(blk), 0);
	assert_int_equal(rmdir(path), 0);
	len = sizeof(certs);
	assert_int_equal(ext_report(p, certs, &len, &resp, NULL), 0);
	assert_true(le64_to_cpu(resp_report(&resp)->reported_tcb) == new);
	assert_true(st->params.reported_tcb == new);
	assert_true(sim_identity_leaf_is_current(st));
	assert_int_equal(snp_cert_table_parse(certs, len, &t, err, sizeof(err)), 0);
	assert_true(same_der(st->vcek, certs, snp_cert_table_find(&t, SNP_CERT_VCEK)));
	assert_int_equal(access(path, F_OK), 0);

	sim_platform_free(p);
	free(cmd);
	assert_true(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
	assert_int_equal(system(cmd), 0);
}

/* Write @prm as @dir's params file, atomically (as an editor or `sim update` would). */
static void write_params(const char *dir, const struct sim_params *prm)
{
	_cleanup_(freep) char *tmp = NULL, *path = NULL;
	FILE *f;

	assert_true(asprintf(&tmp, "%s/params.new", dir) > 0);
	assert_true(asprintf(&path, "%s/params", dir) > 0);
	f = fopen(tmp, "w");
	assert_non_null(f);
	assert_int_equal(sim_params_write(prm, f), 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, path), 0);
}

/* One extended report with stderr (the log) captured into @out; its result. */
static int ext_report_logged(struct sim_platform *p, char *out, size_t outlen)
{
	static u8 certs[SNP_CERTS_MAX_LEN];
	struct snp_ioc_report_resp resp;
	u32 len = sizeof(certs);
	FILE *cap = tmpfile();
	int saved, r;
	size_t n;

	assert_non_null(cap);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(cap), STDERR_FILENO) >= 0);
	r = ext_report(p, certs, &len, &resp, NULL);
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	rewind(cap);
	n = fread(out, 1, outlen - 1, cap);
	out[n] = '\0';
	fclose(cap);
	return r;
}

/*
 * An edited params file that sim_params_validate() refuses (here the
 * host's CRL nextUpdate before its thisUpdate) is not taken: the running
 * values stay, sim_state_sync_firmware() says why, and a request logs it,
 * once per reason. A valid edit is taken again.
 */
static void test_params_refused(void **state)
{
	struct sim_open_opts o = { .retry_interval_ms = 1, .retry_timeout_ms = 50 };
	_cleanup_(freep) char *tmpl = sim_test_template_dir(SNP_PRODUCT_MILAN);
	_cleanup_(freep) char *cmd = NULL;
	char dir[] = "/tmp/snp-sim-params-XXXXXX", err[256] = "", log[4096];
	struct sim_platform *p = NULL;
	struct sim_params prm;
	struct sim_state *st;
	u64 this0, next0;

	(void)state;
	sim_state_free(sim_test_state(SNP_PRODUCT_MILAN)); /* the template exists */
	assert_non_null(mkdtemp(dir));
	assert_true(asprintf(&cmd, "cp -a '%s'/. '%s'/", tmpl, dir) > 0);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(sim_platform_open(dir, NULL, &o, &p, err, sizeof(err)), 0);
	st = sim_platform_state(p);
	this0 = st->params.host_crl_this_update;
	next0 = st->params.host_crl_next_update;

	prm = st->params;
	prm.host_crl_this_update = 1700000000;
	prm.host_crl_next_update = 1600000000;
	write_params(dir, &prm);
	assert_int_equal(sim_state_sync_firmware(st, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "must be later than host_crl_this_update"));
	assert_true(st->params.host_crl_this_update == this0 &&
		    st->params.host_crl_next_update == next0);

	/* a request says it, once */
	assert_int_equal(ext_report_logged(p, log, sizeof(log)), 0);
	assert_non_null(strstr(log, "params not taken"));
	assert_non_null(strstr(log, "must be later than host_crl_this_update"));
	assert_int_equal(ext_report_logged(p, log, sizeof(log)), 0);
	assert_null(strstr(log, "params not taken"));
	assert_true(st->params.host_crl_next_update == next0);

	/* a line that does not parse: said with its line and name */
	free(cmd);
	assert_true(asprintf(&cmd, "echo 'host_crl_next_update=soon' >> '%s/params'", dir) > 0);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(sim_state_sync_firmware(st, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "host_crl_next_update"));
	assert_non_null(strstr(err, "line "));

	/* a valid edit is taken, and says nothing */
	prm.host_crl_next_update = 1700086400;
	write_params(dir, &prm);
	assert_int_equal(ext_report_logged(p, log, sizeof(log)), 0);
	assert_null(strstr(log, "params not taken"));
	assert_true(st->params.host_crl_this_update == 1700000000 &&
		    st->params.host_crl_next_update == 1700086400);
	assert_int_equal(sim_state_sync_firmware(st, err, sizeof(err)), 0);
	assert_string_equal(err, "");

	sim_platform_free(p);
	free(cmd);
	assert_true(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
	assert_int_equal(system(cmd), 0);
}

static int tsc_info(struct sim_platform *p, const void *body, size_t len,
		    struct sim_tsc_info_rsp_msg *rsp, u8 version, u64 *exitinfo2)
{
	struct snp_guest_dev *dev = sim_platform_dev(p);
	int r;

	memset(rsp, 0x5a, sizeof(*rsp));
	mutex_lock(&dev->cmd_mutex); /* the caller serialises it with the ioctls */
	r = snp_guest_send_request(dev, SNP_MSG_TSC_INFO_REQ, version, body, len, rsp, sizeof(*rsp),
				   exitinfo2);
	mutex_unlock(&dev->cmd_mutex);
	return r;
}

/* MSG_TSC_INFO through the driver; the kernel's boot request (Secure TSC) */
static void test_tsc_info(void **state)
{
	struct ctx *c = *state;
	struct sim_params *sp = &c->st->params;
	struct sim_tsc_info_req_msg body = { 0 };
	struct sim_tsc_info_rsp_msg rsp;
	struct snp_ioc_report_resp rresp;
	struct sim_platform *p;
	u64 e = 0;

	sp->secure_tsc = true;
	sp->tsc_scale = 0x0000000123456789ULL;
	sp->tsc_offset = 0xfffffff012345678ULL;
	sp->tsc_factor = 321;

	/* a well-formed request: status 0, the launch values, the rest zero */
	p = plat(state, 0, NULL);
	assert_int_equal(tsc_info(p, &body, sizeof(body), &rsp, 1, &e), 0);
	assert_int_equal(e, 0);
	assert_int_equal(le32_to_cpu(rsp.status), 0);
	assert_int_equal(le32_to_cpu(rsp.rsvd1), 0);
	assert_true(le64_to_cpu(rsp.guest_tsc_scale) == sp->tsc_scale);
	assert_true(le64_to_cpu(rsp.guest_tsc_offset) == sp->tsc_offset);
	assert_int_equal(le32_to_cpu(rsp.tsc_factor), 321);
	assert_true(snp_mem_is_zero(rsp.rsvd2, sizeof(rsp.rsvd2)));
	assert_int_equal(guest_counter(p, 0), 2);
	assert_int_equal(c->st->fw_counter[0], 2);
	/* the numbers stay in step: a report after it */
	assert_int_equal(report(p, 0, 0x11, &rresp, NULL), 0);
	assert_int_equal(guest_counter(p, 0), 4);
	assert_int_equal(c->st->fw_counter[0], 4);

	/* a reserved byte set: an answer with STATUS INVALID_PARAM, no values */
	body.rsvd[77] = 1;
	assert_int_equal(tsc_info(p, &body, sizeof(body), &rsp, 1, &e), 0);
	assert_int_equal(le32_to_cpu(rsp.status), SNP_FW_INVALID_PARAM);
	assert_true(rsp.guest_tsc_scale == 0 && rsp.guest_tsc_offset == 0 && rsp.tsc_factor == 0);
	assert_int_equal(c->st->fw_counter[0], 6);
	body.rsvd[77] = 0;

	/* the wrong size or version: no answer (firmware INVALID_PARAM), VMPCK wiped */
	assert_int_equal(tsc_info(p, &body, 64, &rsp, 1, &e), -EIO);
	assert_int_equal(e, SNP_FW_INVALID_PARAM);
	assert_int_equal(c->st->fw_counter[0], 6);
	assert_true(snp_guest_vmpck_disabled(sim_platform_dev(p)));
	p = plat(state, 0, NULL);
	assert_int_equal(tsc_info(p, &body, sizeof(body), &rsp, 2, &e), -EIO);
	assert_int_equal(e, SNP_FW_INVALID_PARAM);
	assert_int_equal(c->st->fw_counter[0], 0);

	/* without Secure TSC the message is unknown to the firmware */
	sp->secure_tsc = false;
	p = plat(state, 0, NULL);
	assert_int_equal(tsc_info(p, &body, sizeof(body), &rsp, 1, &e), -EIO);
	assert_int_equal(e, SNP_FW_INVALID_PARAM);
	assert_int_equal(c->st->fw_counter[0], 0);
	sp->secure_tsc = true;

	/* the kernel's boot request: the first user request is 3, not 1 */
	sp->kernel_tsc_info = true;
	p = plat(state, 0, NULL);
	assert_int_equal(report(p, 0, 0x22, &rresp, &e), 0);
	assert_int_equal(guest_counter(p, 0), 4);
	assert_int_equal(c->st->fw_counter[0], 4);
	assert_int_equal(report(p, 0, 0x23, &rresp, &e), 0);
	assert_int_equal(c->st->fw_counter[0], 6);

	/* a kernel at VMPL1: its VMPCK moves, the user's VMPCK0 starts at 1 */
	sp->kernel_vmpl = 1;
	p = plat(state, 0, NULL);
	assert_int_equal(report(p, 0, 0x24, &rresp, &e), 0);
	assert_int_equal(guest_counter(p, 0), 2);
	assert_int_equal(c->st->fw_counter[0], 2);
	assert_int_equal(guest_counter(p, 1), 2);
	assert_int_equal(c->st->fw_counter[1], 2);

	/* fault injection is for the user's requests, not the kernel's boot */
	sp->kernel_vmpl = 0;
	p = plat(state, 0, "tamper=1");
	assert_int_not_equal(report(p, 0, 0x25, &rresp, &e), 0);
	assert_int_equal(c->st->fw_counter[0], 4);
	sp->kernel_tsc_info = false;
	sp->secure_tsc = false;
}

/* Bad input to every driver and simulator entry point: an error, no crash. */
static void test_bad_input(void **state)
{
	struct ctx *c = *state;
	struct sim_platform *p = plat(state, 0, NULL);
	struct snp_guest_dev *dev = sim_platform_dev(p);
	struct snp_ioc_guest_request g = { 0 };
	struct snp_ioc_report_resp resp;
	struct snp_ioc_report_req rr = { 0 };
	struct snp_ioc_ext_report_req er = { 0 };
	static u8 certs[SNP_CERTS_MAX_LEN + 4096];
	struct sim_faults f = { 0 };
	struct sim_params prm;
	struct snp_guest_dev d2;
	static struct snp_ghcb ghcb;

	/* ioctl */
	assert_int_equal(snp_guest_ioctl(NULL, SNP_IOC_GET_REPORT, &g), -EINVAL);
	assert_int_equal(snp_guest_ioctl(dev, SNP_IOC_GET_REPORT, NULL), -EFAULT);
	assert_int_equal(sim_platform_ioctl(NULL, SNP_IOC_GET_REPORT, &g), -EINVAL);
	assert_int_equal(sim_platform_ioctl(p, SNP_IOC_GET_REPORT, NULL), -EINVAL);
	assert_int_equal(sim_platform_ioctl(p, SNP_IOC_GET_REPORT, &g), -EINVAL); /* version 0 */
	g.msg_version = 1;
	assert_int_equal(sim_platform_ioctl(p, SNP_IOC_GET_REPORT, &g), -EINVAL); /* no buffers */
	assert_int_equal(sim_platform_ioctl(p, SNP_IOC_GET_DERIVED_KEY, &g), -EINVAL);
	assert_int_equal(sim_platform_ioctl(p, SNP_IOC_GET_EXT_REPORT, &g), -EINVAL);
	g.req_data = (u64)(uintptr_t)&rr;
	g.resp_data = (u64)(uintptr_t)&resp;
	assert_int_equal(sim_platform_ioctl(p, 0x1234, &g), -ENOTTY);
	assert_int_equal(sim_platform_ioctl(p, _IOWR('S', 3, struct snp_ioc_guest_request), &g),
			 -ENOTTY);
	/* ext: certs_len not page aligned, too large */
	g.req_data = (u64)(uintptr_t)&er;
	er.certs_address = (u64)(uintptr_t)certs;
	er.certs_len = 100;
	assert_int_equal(sim_platform_ioctl(p, SNP_IOC_GET_EXT_REPORT, &g), -EINVAL);
	er.certs_len = SNP_CERTS_MAX_LEN + 4096;
	assert_int_equal(sim_platform_ioctl(p, SNP_IOC_GET_EXT_REPORT, &g), -EINVAL);
	/* msg_version 2 for a report: the firmware refuses, no response -> disabled */
	g.req_data = (u64)(uintptr_t)&rr;
	g.msg_version = 2;
	assert_int_equal(sim_platform_ioctl(p, SNP_IOC_GET_REPORT, &g), -EIO);
	assert_int_equal(g.fw_error, SNP_FW_INVALID_PARAM);
	assert_true(snp_guest_vmpck_disabled(dev));
	/* none of it moved the counters out of step */
	assert_int_equal(guest_counter(p, 0), c->st->fw_counter[0] + 2);

	/* init */
	p = plat(state, 0, NULL);
	dev = sim_platform_dev(p);
	assert_int_equal(snp_guest_init(NULL, NULL, NULL, 0, NULL, NULL), -EINVAL);
	assert_int_equal(sim_guest_init(NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL), -EINVAL);
	struct sim_guest_binding b2;

	assert_int_equal(sim_guest_init(&d2, &b2, sim_guest_ops(dev), NULL, dev->secrets, 4,
					dev->shared, dev->scratch),
			 -EINVAL);
	struct snp_platform_ops bad_ops = { 0 };

	assert_int_equal(sim_guest_init(&d2, &b2, &bad_ops, NULL, dev->secrets, 0, dev->shared,
					dev->scratch),
			 -EINVAL);
	snp_guest_release(NULL);

	/* hypervisor: a GHCB outside shared memory, missing fields, bad GPAs */
	assert_int_equal(sim_hv_vmgexit(sim_platform_hv(p), &ghcb), -EFAULT);
	assert_int_equal(sim_hv_vmgexit(NULL, &ghcb), -EINVAL);
	struct snp_ghcb *sg = &sim_platform_dev(p)->shared->ghcb;

	memset(sg, 0, sizeof(*sg));
	assert_int_equal(sim_hv_vmgexit(sim_platform_hv(p), sg), 0);
	assert_int_equal(le64_to_cpu(sg->sw_exit_info_1), 2);
	assert_int_equal(le64_to_cpu(sg->sw_exit_info_2), 4);
	memset(sg->valid_bitmap, 0xff, sizeof(sg->valid_bitmap));
	sg->sw_exit_code = cpu_to_le64(0x80000099ULL);
	assert_int_equal(sim_hv_vmgexit(sim_platform_hv(p), sg), 0);
	assert_int_equal(le64_to_cpu(sg->sw_exit_info_2), 6);
	sg->sw_exit_code = cpu_to_le64(SNP_NAE_GUEST_REQUEST);
	sg->sw_exit_info_1 = cpu_to_le64((u64)(uintptr_t)&ghcb); /* private memory */
	sg->sw_exit_info_2 = cpu_to_le64(0);
	assert_int_equal(sim_hv_vmgexit(sim_platform_hv(p), sg), 0);
	assert_int_equal(le64_to_cpu(sg->sw_exit_info_2), 5);
	sg->sw_exit_code = cpu_to_le64(SNP_NAE_EXT_GUEST_REQUEST);
	sg->sw_exit_info_1 = cpu_to_le64((u64)(uintptr_t)&sim_platform_dev(p)->shared->request);
	sg->sw_exit_info_2 = cpu_to_le64((u64)(uintptr_t)&sim_platform_dev(p)->shared->response);
	sg->rbx = cpu_to_le64(~0ULL);
	assert_int_equal(sim_hv_vmgexit(sim_platform_hv(p), sg), 0);
	assert_int_equal(le64_to_cpu(sg->sw_exit_info_2), 5);

	/* faults and params parsers */
	assert_int_equal(sim_faults_parse("busy=2,drop", &f), 0);
	assert_int_equal(f.busy, 2);
	assert_int_equal(f.drop, 1);
	assert_int_equal(sim_faults_parse("nonsense=1", &f), -ENOENT);
	assert_int_equal(sim_faults_parse("busy=-1", &f), -EINVAL);
	assert_int_equal(sim_faults_parse("busy=99999999999", &f), -EINVAL);
	assert_int_equal(sim_faults_parse(NULL, &f), -EINVAL);
	assert_int_equal(sim_faults_parse("certs_pages=0", &f), -EINVAL);
	assert_int_equal(sim_faults_parse("certs_pages=1048576", &f), -EINVAL);
	assert_int_equal(sim_faults_parse("certs_pages=1048575", &f), 0);
	assert_int_equal(f.certs_pages, 1048575);
	sim_params_default(&prm, SNP_PRODUCT_GENOA);
	assert_int_equal(sim_params_set(&prm, "nope", "1"), -ENOENT);
	assert_int_equal(sim_params_set(&prm, "measurement", "zz"), -EINVAL);
	assert_int_equal(sim_params_set(&prm, "measurement", "abc"), -EINVAL);
	assert_int_equal(sim_params_set(&prm, "host_data",
					"00112233445566778899aabbccddeeff"
					"00112233445566778899aabbccddeeff00"),
			 -ERANGE);
	assert_int_equal(sim_params_set(&prm, "product", "Venice"), -EINVAL);
	assert_int_equal(sim_params_set(&prm, "fw_version", "1.2"), -EINVAL);
	assert_int_equal(sim_params_set(&prm, "fw_version", "1.2.300"), -ERANGE);
	assert_int_equal(sim_params_set(&prm, "vlek", "maybe"), -EINVAL);
	assert_int_equal(sim_params_set(&prm, "guest_svn", "4294967296"), -ERANGE);
	assert_int_equal(sim_params_set(NULL, "vlek", "1"), -EINVAL);
	char err[128];

	assert_int_equal(sim_params_set(&prm, "report_version", "4"), 0);
	assert_int_equal(sim_params_validate(&prm, err, sizeof(err)), -EINVAL);
	sim_params_default(&prm, SNP_PRODUCT_GENOA);
	assert_int_equal(sim_params_set(&prm, "policy", "0"), 0);
	assert_int_equal(sim_params_validate(&prm, err, sizeof(err)), -EINVAL);
	sim_params_default(&prm, SNP_PRODUCT_GENOA);
	assert_int_equal(sim_params_set(&prm, "tcb", "0x0000000100000000"), 0);
	assert_int_equal(sim_params_validate(&prm, err, sizeof(err)), -EINVAL);
	/* the host's CRL times: numbers, encodable, nextUpdate after thisUpdate */
	sim_params_default(&prm, SNP_PRODUCT_GENOA);
	assert_int_equal(sim_params_set(&prm, "host_crl_next_update", "soon"), -EINVAL);
	assert_int_equal(sim_params_set(&prm, "host_crl_next_update", "-1"), -EINVAL);
	assert_int_equal(sim_params_set(&prm, "host_crl_this_update", "1e9"), -EINVAL);
	assert_int_equal(sim_params_set(&prm, "host_crl_this_update", ""), -EINVAL);
	assert_int_equal(sim_params_set(&prm, "host_crl_next_update", "18446744073709551616"),
			 -ERANGE);
	assert_int_equal(sim_params_set(&prm, "host_crl_this_update", "1700000000"), 0);
	assert_int_equal(sim_params_set(&prm, "host_crl_next_update", "1700086400"), 0);
	assert_int_equal(sim_params_validate(&prm, err, sizeof(err)), 0);
	assert_int_equal(sim_params_set(&prm, "host_crl_next_update", "1699999999"), 0);
	assert_int_equal(sim_params_validate(&prm, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "must be later than host_crl_this_update"));
	assert_int_equal(sim_params_set(&prm, "host_crl_next_update", "1700000000"), 0);
	assert_int_equal(sim_params_validate(&prm, err, sizeof(err)), -EINVAL);
	/* 9999-12-31T23:59:59Z is the last; one second later no ASN.1 time says it */
	assert_int_equal(sim_params_set(&prm, "host_crl_next_update", "253402300799"), 0);
	assert_int_equal(sim_params_validate(&prm, err, sizeof(err)),
			 sizeof(time_t) >= 8 ? 0 : -ERANGE); /* a 32-bit time_t ends in 2038 */
	assert_int_equal(sim_params_set(&prm, "host_crl_next_update", "253402300800"), 0);
	assert_int_equal(sim_params_validate(&prm, err, sizeof(err)), -ERANGE);
	assert_non_null(strstr(err, "host_crl_next_update"));
	/* the limit said is the one used: a 32-bit time_t's is in 2038 */
	assert_non_null(strstr(err, sizeof(time_t) >= 8 ? "beyond 9999-12-31T23:59:59Z" :
							  "beyond 2038-01-19T03:14:07Z"));
	assert_int_equal(sim_params_set(&prm, "host_crl_next_update", "0xffffffffffffffff"), 0);
	assert_int_equal(sim_params_validate(&prm, err, sizeof(err)), -ERANGE);
	assert_int_equal(sim_params_set(&prm, "host_crl_next_update", "0"), 0);
	assert_int_equal(sim_params_set(&prm, "host_crl_this_update", "0x8000000000000000"), 0);
	assert_int_equal(sim_params_validate(&prm, err, sizeof(err)), -ERANGE);
	assert_non_null(strstr(err, "host_crl_this_update"));
	/* no CRL (nextUpdate 0): any encodable thisUpdate */
	assert_int_equal(sim_params_set(&prm, "host_crl_this_update", "1700000000"), 0);
	assert_int_equal(sim_params_validate(&prm, err, sizeof(err)), 0);

	/* state and platform entry points */
	struct sim_platform *np = NULL;
	struct sim_open_opts o = { .vmpck_id = 4 };

	assert_int_equal(sim_platform_open(NULL, NULL, NULL, &np, err, sizeof(err)), -EINVAL);
	assert_int_equal(sim_platform_open(NULL, c->st, &o, &np, err, sizeof(err)), -EINVAL);
	assert_null(np);
	struct sim_state *ns = NULL;

	assert_int_equal(sim_state_load("/nonexistent/sim", false, &ns, err, sizeof(err)), -ENOENT);
	assert_int_equal(sim_state_load(NULL, false, &ns, err, sizeof(err)), -EINVAL);
	assert_int_equal(sim_state_load("", true, &ns, err, sizeof(err)), -EINVAL);
	assert_null(sim_platform_free(NULL));
	assert_null(sim_state_free(NULL));
	/* crypto */
	u8 t[16];

	assert_int_equal(sim_aes_gcm_encrypt(NULL, NULL, NULL, 0, NULL, 0, NULL, t), -EINVAL);
	assert_int_equal(
		sim_aes_gcm_decrypt(c->st->secrets.vmpck[0], t, NULL, 0, NULL, 0, NULL, NULL),
		-EINVAL);
	u8 k32[32];

	assert_int_equal(sim_kdf(NULL, 0, NULL, k32), -EINVAL);
	assert_int_equal(sim_sign_report(NULL, NULL, 0, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_report_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vmpck_1_to_3, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ext_report_certs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ext_report_too_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ext_report_host_without_certs, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_busy_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_budget_elapsed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_fatal_signal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_slow_exits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fw_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_10000_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counter_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_firmware_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_firmware_version_and_type, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_request_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report_key_sel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tsc_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_exit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vmpck_disabled_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_exit_result, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_exit_fault, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe_empty_vmpck, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lockdep, setup, teardown),
		cmocka_unit_test(test_tcb_update_unsaved),
		cmocka_unit_test(test_params_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
