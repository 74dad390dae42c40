// SPDX-License-Identifier: Apache-2.0
/*
 * daemon/view.c snpd_view_check_report(): the view's collateral goes out
 * only with a report of the view's REPORTED_TCB, CHIP_ID and signing key
 * (VCEK or VLEK). Any of them changed by the host is -ENOKEY, said in the
 * reason, counted, and handed to view_mismatch() (which refreshes the view
 * in snpd); other fields (REPORT_DATA, CURRENT_TCB) do not matter. The
 * simulator changes only the TCB at runtime: the chip and the key are
 * checked here. Plain C: no cmocka needed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/snpd.h"
#include "tests/unit/check.h"

static int mismatches;
static struct snpd_platform_id seen;

static void on_mismatch(struct snpd *d, const struct snpd_platform_id *now)
{
	mismatches++;
	seen = *now;
}

static void set_key(struct snp_report *r, u32 key)
{
	u32 ki = le32_to_cpu(r->key_info) & ~(u32)SNP_KEYINFO_SIGNING_KEY_MASK;

	r->key_info = cpu_to_le32(ki | key << SNP_KEYINFO_SIGNING_KEY_SHIFT);
}

/* snpd_view_check_report() on @r against the view: its result, the reason in @why. */
static int check(struct snpd *d, const struct snp_report *r, char *why, size_t len)
{
	why[0] = '\0';
	return snpd_view_check_report(d, (const u8 *)r, why, len);
}

int main(void)
{
	struct snpd d = { .view_mismatch = on_mismatch };
	struct snp_report ref = { 0 }, r;
	char why[512];
	int n;

	ref.version = cpu_to_le32(3);
	ref.reported_tcb = cpu_to_le64(0x7308000000000003ULL);
	ref.current_tcb = ref.reported_tcb;
	memcpy(ref.chip_id, "SIMULATD", 8);
	memset(ref.chip_id + 8, 0x5a, sizeof(ref.chip_id) - 8);
	set_key(&ref, SNP_SIGNING_KEY_VCEK);

	/* no view: nothing of it is served, nothing to compare */
	CHECK(check(&d, &ref, why, sizeof(why)) == 0 && !mismatches, "no view: 0");

	d.view = calloc(1, sizeof(*d.view));
	if (!d.view)
		return 99;
	d.view->ref.r = ref;

	r = ref;
	memset(r.report_data, 0xab, sizeof(r.report_data));
	r.current_tcb = cpu_to_le64(0x7408000000000003ULL);
	CHECK(check(&d, &r, why, sizeof(why)) == 0 && !mismatches && !d.stale_reports,
	      "same TCB, chip and key (other REPORT_DATA, CURRENT_TCB): 0");

	r = ref;
	r.reported_tcb = cpu_to_le64(0x7408000000000003ULL);
	n = check(&d, &r, why, sizeof(why));
	CHECK(n == -ENOKEY, "REPORTED_TCB raised: -ENOKEY (%d)", n);
	CHECK(strstr(why, "REPORTED_TCB 0x7308000000000003 -> 0x7408000000000003") != NULL,
	      "the reason names the old and new TCB: %s", why);
	CHECK(mismatches == 1 && seen.reported_tcb == 0x7408000000000003ULL && d.stale_reports == 1,
	      "view_mismatch() called with the report's TCB, counted");
	CHECK(d.stale && d.stale_id.reported_tcb == 0x7408000000000003ULL,
	      "the view is stale (status stale_view), of the report's platform");
	/* a refresh of it failed (snpd.c), then the host went back */
	snprintf(d.stale_error, sizeof(d.stale_error), "%s", "Input/output error");
	CHECK(check(&d, &ref, why, sizeof(why)) == 0 && !d.stale && !d.stale_error[0] &&
		      mismatches == 1 && d.stale_reports == 1,
	      "a report of the view's platform again: not stale, the failure forgotten");

	r = ref;
	r.chip_id[63] ^= 1;
	n = check(&d, &r, why, sizeof(why));
	CHECK(n == -ENOKEY && strstr(why, "CHIP_ID") && !strstr(why, "REPORTED_TCB"),
	      "another CHIP_ID (last byte): -ENOKEY, %s", why);
	CHECK(mismatches == 2 && !memcmp(seen.chip_id, r.chip_id, sizeof(r.chip_id)),
	      "view_mismatch() called with the report's chip");

	r = ref;
	set_key(&r, SNP_SIGNING_KEY_VLEK);
	n = check(&d, &r, why, sizeof(why));
	CHECK(n == -ENOKEY && strstr(why, "signing key VCEK -> VLEK"),
	      "signed by the VLEK, the view's by the VCEK: -ENOKEY, %s", why);
	CHECK(mismatches == 3 && seen.signing_key == SNP_SIGNING_KEY_VLEK && d.stale_reports == 3,
	      "view_mismatch() called with the report's key");

	r = ref;
	r.reported_tcb = cpu_to_le64(0x7208000000000003ULL);
	set_key(&r, SNP_SIGNING_KEY_VLEK);
	n = check(&d, &r, why, sizeof(why));
	CHECK(n == -ENOKEY && strstr(why, "REPORTED_TCB") && strstr(why, "signing key"),
	      "TCB lowered and the key changed: both said, %s", why);

	/* without a callback (a program that refreshes nothing) still refused */
	d.view_mismatch = NULL;
	r = ref;
	r.reported_tcb = cpu_to_le64(0x7408000000000003ULL);
	CHECK(check(&d, &r, why, sizeof(why)) == -ENOKEY && mismatches == 4,
	      "no view_mismatch(): -ENOKEY all the same");

	d.view = snpd_view_free(d.view);
	return failures ? 1 : 0;
}
