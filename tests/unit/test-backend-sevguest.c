// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of backend/backend-sevguest.c and the ioctl helpers of
 * backend/backend.c against a fake driver: ioctl() is replaced at link
 * time (-Wl,--wrap=ioctl) for the /dev/sev-guest request numbers.
 *
 * The case that matters: Linux's driver returns a positive value (the GHCB
 * call's ES_VMM_ERROR 2 or ES_EXCEPTION 4) with errno untouched when the
 * hypervisor refuses the guest request's exit. That is neither success nor
 * an errno, and no key or report may come out of it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "backend/backend.h"
#include "kernel/snp-msg.h"
#include "kernel/snp-uapi.h"

int __wrap_ioctl(int fd, unsigned long request, ...);
int __real_ioctl(int fd, unsigned long request, ...);

/* What the fake driver does with the next requests. */
static struct {
	int ret;	 /* the return value; -1 sets errno to @err */
	int err;	 /* errno after the call (also for ret >= 0: stale) */
	int eintr;	 /* this many calls fail with EINTR first */
	bool write_resp; /* on ret == 0: a good key response */
	u64 exitinfo2;	 /* written back when not 0 */
	unsigned int calls;
} fake;

static const u8 good_key[SNP_DERIVED_KEY_LEN] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88 };

int __wrap_ioctl(int fd, unsigned long request, ...)
{
	struct snp_ioc_guest_request *g;
	va_list ap;

	va_start(ap, request);
	g = va_arg(ap, struct snp_ioc_guest_request *);
	va_end(ap);
	if (request != SNP_IOC_GET_REPORT && request != SNP_IOC_GET_DERIVED_KEY &&
	    request != SNP_IOC_GET_EXT_REPORT)
		return __real_ioctl(fd, request, g);

	/* a caller that takes a stale EINTR for a real one asks forever */
	if (++fake.calls > 8)
		fail_msg("the same request was made %u times", fake.calls);
	if (fake.eintr) {
		fake.eintr--;
		errno = EINTR;
		return -1;
	}
	if (fake.exitinfo2)
		g->exitinfo2 = fake.exitinfo2;
	if (fake.ret == 0 && fake.write_resp && request == SNP_IOC_GET_DERIVED_KEY) {
		struct snp_ioc_derived_key_resp *resp = (void *)(uintptr_t)g->resp_data;
		struct snp_key_rsp_msg *m = (void *)resp->data;

		memset(resp, 0, sizeof(*resp));
		memcpy(m->derived_key, good_key, sizeof(good_key));
	}
	errno = fake.err;
	return fake.ret;
}

static int setup(void **state)
{
	struct snp_backend *b = NULL;
	char err[256] = "";

	memset(&fake, 0, sizeof(fake));
	/* any file opens; the ioctls never reach it */
	assert_int_equal(snp_backend_open("sev-guest:/dev/null", &b, err, sizeof(err)), 0);
	*state = b;
	return 0;
}

static int teardown(void **state)
{
	snp_backend_free(*state);
	return 0;
}

static void test_key_ok(void **state)
{
	struct snp_backend_key_req req = { 0 };
	struct snp_backend_error e;
	u8 key[SNP_DERIVED_KEY_LEN];

	fake.write_resp = true;
	fake.eintr = 1;
	assert_int_equal(snp_backend_get_derived_key(*state, &req, key, &e), 0);
	assert_memory_equal(key, good_key, sizeof(key));
	assert_int_equal(fake.calls, 2); /* EINTR is asked again */
}

/* Upstream on a refused exit: 2, exitinfo2 = SEV_RET_NO_FW_CALL, errno left as it was. */
static void check_key_refused(void **state, int ret, int stale_errno)
{
	struct snp_backend_key_req req = { 0 };
	struct snp_backend_error e;
	u8 key[SNP_DERIVED_KEY_LEN];

	fake.ret = ret;
	fake.err = stale_errno;
	fake.exitinfo2 = ~0ULL;
	memset(key, 0xa5, sizeof(key));
	assert_int_equal(snp_backend_get_derived_key(*state, &req, key, &e), -EIO);
	assert_int_equal(fake.calls, 1);
	/* nothing was handed out */
	for (size_t i = 0; i < sizeof(key); i++)
		assert_int_equal(key[i], 0xa5);
	assert_non_null(strstr(e.message, "refused"));
}

static void test_key_refused(void **state)
{
	check_key_refused(state, 2, 0);
}

static void test_key_refused_stale_errno(void **state)
{
	check_key_refused(state, 4, EAGAIN);
}

static void test_key_refused_stale_eintr(void **state)
{
	check_key_refused(state, 2, EINTR);
}

static void check_report_refused(void **state, bool want_certs)
{
	struct snp_backend_report_req req = { .want_certs = want_certs };
	struct snp_backend_report rep;
	struct snp_backend_error e;

	fake.ret = 2;
	fake.err = 0;
	fake.exitinfo2 = ~0ULL;
	assert_int_equal(snp_backend_get_report(*state, &req, &rep, &e), -EIO);
	assert_int_equal(fake.calls, 1);
	assert_null(rep.certs);
	assert_non_null(strstr(e.message, "ES_VMM_ERROR"));
	snp_backend_report_release(&rep);
}

static void test_report_refused(void **state)
{
	check_report_refused(state, false);
}

static void test_ext_report_refused(void **state)
{
	check_report_refused(state, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_key_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_refused_stale_errno, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_refused_stale_eintr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ext_report_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
