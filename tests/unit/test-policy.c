// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of lib/policy.c: every key read, unknown keys and bad values
 * refused by name, the written policy read back to the same policy, a
 * policy from a report that the report satisfies, and policy files refused
 * (too deep, duplicate keys) with the file's name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/policy.h"
#include "lib/util.h"

static int apply(const char *text, struct snp_policy *pol, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	int r;

	assert_non_null(doc);
	r = snp_policy_apply_json(doc, pol, err, errlen);
	json_decref(doc);
	return r;
}

static const char full[] =
	"{\"$schema\": \"x\", \"report_data\": \"0102\", \"measurement\": \"" /* 48 */
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	"aaaaaaaaa\", \"host_data\": \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\","
	" \"id_key_digests\": [\"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
	"cccccccccccccccccccccccccccc\", \"dddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
	"dddddddddddddddddddddddddddddddddddddd\"], \"author_key_digests\": [\""
	"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
	"e\"],"
	" \"family_id\": \"11111111111111111111111111111111\","
	" \"image_id\": \"22222222222222222222222222222222\", \"vmpl\": 2, \"min_guest_svn\": 7,"
	" \"allow_debug\": true, \"allow_migration_agent\": true, \"deny_smt\": true,"
	" \"require_chip_id\": true, \"min_tcb\": {\"bootloader\": 3, \"microcode\": 200},"
	" \"min_launch_tcb\": {\"fmc\": 1}, \"min_firmware\": \"1.55.21\","
	" \"allow_provisional\": true, \"min_launch_mit_vector\": \"0xffffffffffffffff\","
	" \"min_current_mit_vector\": 3, \"products\": [\"Milan\", \"venice\"],"
	" \"deny_products\": [\"Turin\"], \"require_policy_bits\": [\"SINGLE_SOCKET\"],"
	" \"forbid_policy_bits\": [\"CXL_ALLOW\", \"unknown\"],"
	" \"require_platform_info\": [\"TSME_EN\", \"bit_6\"],"
	" \"forbid_platform_info\": [\"smt_en\"], \"signer\": \"vlek\", \"strict_version\": true,"
	" \"require_events\": [\"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
	"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee\"], \"forbid_events\": []}";

static void test_every_key(void **state)
{
	struct snp_policy pol = { 0 }, again = { 0 };
	char err[256] = "";
	json_t *o;

	assert_int_equal(apply(full, &pol, err, sizeof(err)), 0);
	assert_true(pol.has_report_data);
	assert_int_equal(pol.report_data[1], 2);
	assert_int_equal(pol.report_data[2], 0);
	assert_int_equal(pol.n_id_key_digests, 2);
	assert_int_equal(pol.id_key_digests[1][47], 0xdd);
	assert_int_equal(pol.n_author_key_digests, 1);
	assert_int_equal(pol.vmpl, 2);
	assert_int_equal(pol.min_guest_svn, 7);
	assert_true(pol.allow_debug && pol.allow_migrate_ma && pol.deny_smt && pol.require_chip_id);
	assert_true(pol.min_tcb.has_bootloader && !pol.min_tcb.has_tee);
	assert_int_equal(pol.min_tcb.v.microcode, 200);
	assert_true(pol.min_launch_tcb.has_fmc);
	assert_int_equal(pol.min_fw_build, 21);
	assert_true(pol.allow_provisional);
	assert_int_equal(pol.min_launch_mit_vector, UINT64_MAX);
	assert_int_equal(pol.min_current_mit_vector, 3);
	assert_int_equal(pol.products,
			 SNP_PRODUCT_BIT(SNP_PRODUCT_MILAN) | SNP_PRODUCT_BIT(SNP_PRODUCT_VENICE));
	assert_int_equal(pol.deny_products, SNP_PRODUCT_BIT(SNP_PRODUCT_TURIN));
	assert_int_equal(pol.require_policy_bits, SNP_POLICY_SINGLE_SOCKET);
	assert_int_equal(pol.forbid_policy_bits,
			 SNP_POLICY_CXL_ALLOW | snp_bits_unknown(SNP_BITS_POLICY));
	assert_int_equal(pol.require_platform_info, SNP_PLATFORM_TSME_EN | 1ULL << 6);
	assert_int_equal(pol.forbid_platform_info, SNP_PLATFORM_SMT_EN);
	assert_int_equal(pol.signer, SNP_SIGNER_VLEK);
	assert_true(pol.strict_version);
	assert_int_equal(pol.n_require_events, 1);
	assert_int_equal(pol.require_events[0].len, 48);
	assert_int_equal(pol.n_forbid_events, 0);

	/* written and read back: the same policy */
	o = snp_policy_to_json(&pol);
	assert_non_null(o);
	assert_int_equal(snp_policy_apply_json(o, &again, err, sizeof(err)), 0);
	json_decref(o);
	assert_memory_equal(&pol, &again, sizeof(pol));

	/* every key the table lists is one the reader knows */
	for (size_t i = 0; i < snp_policy_key_count(); i++) {
		const char *k = snp_policy_key_name(i, NULL);

		assert_non_null(strstr(full, k));
	}
	assert_null(snp_policy_key_name(snp_policy_key_count(), NULL));
}

static void test_refused(void **state)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
		{ "{\"mesurement\": \"00\"}", "unknown key 'mesurement'" },
		{ "[]", "JSON object" },
		{ "{\"measurement\": \"00\"}", "1 bytes, expected 48" },
		{ "{\"report_data\": \"zz\"}", "not hex" },
		{ "{\"vmpl\": 4}", "vmpl: 4 is not in 0..3" },
		{ "{\"vmpl\": \"0\"}", "vmpl: not an integer" },
		{ "{\"min_guest_svn\": -1}", "min_guest_svn" },
		{ "{\"allow_debug\": 1}", "allow_debug: not true or false" },
		{ "{\"min_tcb\": {}}", "min_tcb: not an object" },
		{ "{\"min_tcb\": {\"ucode\": 1}}", "unknown key 'ucode'" },
		{ "{\"min_tcb\": {\"snp\": 256}}", "min_tcb.snp" },
		{ "{\"min_firmware\": \"1\"}", "min_firmware" },
		{ "{\"min_firmware\": \"1.2junk\"}", "min_firmware" },
		{ "{\"min_firmware\": \"1.2.\"}", "min_firmware" },
		{ "{\"min_firmware\": \" 1.2\"}", "min_firmware" },
		{ "{\"min_firmware\": \"1.-2\"}", "min_firmware" },
		{ "{\"products\": []}", "products: an empty list" },
		{ "{\"deny_products\": []}", "deny_products: an empty list" },
		{ "{\"id_key_digests\": []}", "id_key_digests: an empty set" },
		{ "{\"author_key_digests\": []}", "author_key_digests: an empty set" },
		{ "{\"min_launch_mit_vector\": \"0x1ffffffffffffffff\"}", "min_launch_mit_vector" },
		{ "{\"min_current_mit_vector\": -1}", "min_current_mit_vector" },
		{ "{\"products\": [\"Rome\"]}", "'Rome'" },
		{ "{\"products\": \"Milan\"}", "not an array" },
		{ "{\"forbid_policy_bits\": [\"SMT_EN\"]}", "'SMT_EN' is not a POLICY bit" },
		{ "{\"require_platform_info\": [\"bit_64\"]}", "PLATFORM_INFO" },
		{ "{\"signer\": \"ask\"}", "signer" },
		{ "{\"strict_version\": null}", "strict_version" },
	};
	char err[256];

	for (size_t i = 0; i < SNP_ELEMENTSOF(bad); i++) {
		struct snp_policy pol = { 0 };

		err[0] = '\0';
		assert_int_equal(apply(bad[i].text, &pol, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].why))
			fail_msg("%s: '%s' does not say '%s'", bad[i].text, err, bad[i].why);
	}
	{
		struct snp_policy pol = { 0 };
		char many[64 + 17 * 100] = "{\"id_key_digests\": [";

		for (int i = 0; i < 17; i++) {
			strcat(many, i ? ",\"" : "\"");
			for (int j = 0; j < 48; j++)
				strcat(many, "00");
			strcat(many, "\"");
		}
		strcat(many, "]}");
		assert_int_equal(apply(many, &pol, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "17 digests, at most 16"));
	}
}

/* Write @text to a new file under $TMPDIR, load it, remove it. */
static int load_text(const char *text, struct snp_policy *pol, char *path, size_t pathlen,
		     char *err, size_t errlen)
{
	const char *tmp = getenv("TMPDIR");
	FILE *f;
	int fd, r;

	r = snprintf(path, pathlen, "%s/test-policy.XXXXXX", tmp && *tmp ? tmp : P_tmpdir);
	assert_true(r > 0 && (size_t)r < pathlen);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	r = snp_policy_load_file(path, pol, err, errlen);
	assert_int_equal(unlink(path), 0);
	return r;
}

/* {"min_tcb": [[...[1]...]]} nesting @depth arrays and objects in all. */
static char *nested(unsigned int depth)
{
	size_t n = 2 * depth + 32;
	char *s = malloc(n), *p = s;

	assert_non_null(s);
	assert_true(depth >= 2);
	p += sprintf(p, "{\"min_tcb\": ");
	for (unsigned int i = 1; i < depth; i++)
		*p++ = '[';
	*p++ = '1';
	for (unsigned int i = 1; i < depth; i++)
		*p++ = ']';
	strcpy(p, "}");
	return s;
}

static void test_file(void **state)
{
	struct snp_policy pol = { 0 };
	char path[512], err[1024] = "", want[600];
	char *text;

	/* the whole policy from a file, as from a string */
	assert_int_equal(load_text(full, &pol, path, sizeof(path), err, sizeof(err)), 0);
	assert_true(pol.has_measurement);
	assert_int_equal(pol.signer, SNP_SIGNER_VLEK);

	/* SNP_POLICY_DEPTH_MAX deep is read (and refused for what the key holds) */
	text = nested(SNP_POLICY_DEPTH_MAX);
	assert_int_equal(load_text(text, &pol, path, sizeof(path), err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "min_tcb: not an object"));
	free(text);

	/* one deeper, and deeper than jansson's own bound: refused as such, naming the file */
	for (unsigned int depth = SNP_POLICY_DEPTH_MAX + 1; depth < 5000; depth += 4000) {
		text = nested(depth);
		assert_int_equal(load_text(text, &pol, path, sizeof(path), err, sizeof(err)),
				 -EINVAL);
		snprintf(want, sizeof(want), "%s: nested deeper than %d arrays and objects", path,
			 SNP_POLICY_DEPTH_MAX);
		if (depth > 2048) /* jansson's parser stops first, still naming the file */
			snprintf(want, sizeof(want), "%s: line 1: ", path);
		assert_non_null(strstr(err, want));
		free(text);
	}

	/* a key twice is refused, naming the file */
	assert_int_equal(
		load_text("{\"vmpl\": 0, \"vmpl\": 3}", &pol, path, sizeof(path), err, sizeof(err)),
		-EINVAL);
	snprintf(want, sizeof(want), "%s: line 1: duplicate object key", path);
	assert_non_null(strstr(err, want));
}

/* A synthetic version-5 Genoa report, and the policy written from it. */
static void test_from_report(void **state)
{
	struct snp_report_info ri;
	struct snp_policy pol;
	u8 buf[SNP_REPORT_SIZE] = { 0 };

	snp_put_le32(buf + 0x000, 5);
	snp_put_le32(buf + 0x004, 9);
	snp_put_le64(buf + 0x008, 0x130000);
	snp_put_le32(buf + 0x034, 1);
	snp_put_le64(buf + 0x038, 0x4800000000000007ULL);
	snp_put_le64(buf + 0x040, 0x25);
	buf[0x090] = 0x5a;
	snp_put_le64(buf + 0x180, 0x4800000000000007ULL);
	buf[0x188] = 0x19;
	buf[0x189] = 0x11;
	snp_put_le64(buf + 0x1e0, 0x4700000000000007ULL); /* current ahead */
	buf[0x1ea] = 1;
	buf[0x1e9] = 55;
	buf[0x1ee] = 1;
	buf[0x1ed] = 55;
	snp_put_le64(buf + 0x1f0, 0x4700000000000007ULL);
	snp_put_le64(buf + 0x1f8, 0x1);
	snp_put_le64(buf + 0x200, 0x3);
	buf[0x2a0] = 1;
	assert_int_equal(snp_report_parse(buf, sizeof(buf), &ri, NULL, 0), 0);
	snp_policy_from_report(&ri, &pol);

	assert_true(pol.has_measurement);
	assert_int_equal(pol.measurement[0], 0x5a);
	assert_false(pol.has_report_data);
	assert_int_equal(pol.min_guest_svn, 9);
	assert_int_equal(pol.products, SNP_PRODUCT_BIT(SNP_PRODUCT_GENOA));
	assert_int_equal(pol.require_policy_bits, SNP_POLICY_SMT | SNP_POLICY_SINGLE_SOCKET);
	assert_true(pol.forbid_policy_bits & SNP_POLICY_DEBUG);
	assert_false(pol.forbid_policy_bits & SNP_POLICY_SINGLE_SOCKET);
	assert_int_equal(pol.require_platform_info, 0x25);
	assert_int_equal(pol.min_tcb.v.microcode, 0x48);
	assert_int_equal(pol.min_launch_tcb.v.microcode, 0x47);
	assert_true(pol.allow_provisional);
	assert_int_equal(pol.min_current_mit_vector, 3);
	assert_int_equal(pol.signer, SNP_SIGNER_VCEK);
	assert_false(pol.require_chip_id); /* CHIP_ID all zero */
	assert_false(pol.allow_debug);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_from_report),
		cmocka_unit_test(test_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
