// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of lib/report.c: validation rules per version, product
 * detection, TCB layouts, hex input, and JSON field names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/report.h"
#include "lib/util.h"

/* A well-formed synthetic (unsigned-looking) report of @version. */
static void make_report(u8 *buf, u32 version)
{
	memset(buf, 0, SNP_REPORT_SIZE);
	snp_put_le32(buf + 0x000, version);
	snp_put_le64(buf + 0x008, 0x30000);
	snp_put_le32(buf + 0x034, 1);
	snp_put_le64(buf + 0x038, 0x7308000000000003ULL);
	snp_put_le64(buf + 0x180, 0x7308000000000003ULL);
	if (version >= 3) {
		buf[0x188] = 0x19;
		buf[0x189] = 0x11;
		buf[0x18a] = 0x01;
	}
	for (int i = 0; i < SNP_CHIP_ID_SIZE; i++)
		buf[0x1a0 + i] = (u8)(i + 1);
	buf[0x1ea] = 1;
	buf[0x1e9] = 55;
	buf[0x2a0] = 0x42; /* R low byte */
	buf[0x2e8] = 0x43; /* S low byte */
}

static void expect_parse(const u8 *buf, size_t len, int want, const char *msg)
{
	struct snp_report_info ri;
	char err[SNP_ERRBUF] = "";
	int r = snp_report_parse(buf, len, &ri, err, sizeof(err));

	assert_int_equal(r, want);
	if (msg)
		assert_non_null(strstr(err, msg));
}

static void test_valid_versions(void **state)
{
	u8 buf[SNP_REPORT_SIZE];

	for (u32 v = 2; v <= 5; v++) {
		make_report(buf, v);
		expect_parse(buf, sizeof(buf), 0, NULL);
	}
}

static void test_size(void **state)
{
	u8 buf[SNP_REPORT_SIZE + 1];

	make_report(buf, 2);
	expect_parse(buf, SNP_REPORT_SIZE - 1, -EMSGSIZE, "1183 bytes");
	expect_parse(buf, SNP_REPORT_SIZE + 1, -EMSGSIZE, "1185 bytes");
	expect_parse(buf, 0, -EMSGSIZE, "0 bytes");
}

static void test_versions(void **state)
{
	static const u32 bad[] = { 0, 1, 256, 0xffffffff };
	u8 buf[SNP_REPORT_SIZE];

	for (size_t i = 0; i < SNP_ELEMENTSOF(bad); i++) {
		make_report(buf, bad[i]);
		expect_parse(buf, sizeof(buf), -EPROTONOSUPPORT, "unknown report version");
	}
}

/* Every reserved byte of every version is refused when non-zero. */
static void test_reserved_per_version(void **state)
{
	u8 buf[SNP_REPORT_SIZE];

	for (u32 v = 2; v <= 5; v++) {
		struct snp_report_rsvd_range ranges[SNP_REPORT_RSVD_MAX];
		int n = snp_report_rsvd_ranges(v, ranges);

		for (int i = 0; i < n; i++)
			for (unsigned int off = ranges[i].start; off < ranges[i].end; off++) {
				make_report(buf, v);
				buf[off] = 0x80;
				expect_parse(buf, sizeof(buf), -EBADMSG, "reserved byte");
			}
	}
	/* v3+ CPUID bytes and v5 mitigation vectors are fields, not reserved */
	make_report(buf, 3);
	buf[0x18a] = 7;
	expect_parse(buf, sizeof(buf), 0, NULL);
	make_report(buf, 5);
	buf[0x1f8] = 1;
	buf[0x200] = 1;
	expect_parse(buf, sizeof(buf), 0, NULL);
	make_report(buf, 4);
	buf[0x200] = 1;
	expect_parse(buf, sizeof(buf), -EBADMSG, "reserved byte 0x200");
	make_report(buf, 2);
	buf[0x1ef] = 1;
	expect_parse(buf, sizeof(buf), -EBADMSG, "0x1ef");
}

static void test_fields(void **state)
{
	u8 buf[SNP_REPORT_SIZE];

	make_report(buf, 2);
	snp_put_le32(buf + 0x34, 0);
	expect_parse(buf, sizeof(buf), -EBADMSG, "SIGNATURE_ALGO 0");
	make_report(buf, 2);
	snp_put_le64(buf + 0x08, 0x10000);
	expect_parse(buf, sizeof(buf), -EBADMSG, "bit 17");
	make_report(buf, 2);
	snp_put_le64(buf + 0x08, 0x30000 | 1ULL << 26);
	expect_parse(buf, sizeof(buf), -EBADMSG, "63:26");
	make_report(buf, 2);
	snp_put_le32(buf + 0x30, 4);
	expect_parse(buf, sizeof(buf), -EBADMSG, "VMPL 4");
	make_report(buf, 2);
	snp_put_le32(buf + 0x48, 2 << 2);
	expect_parse(buf, sizeof(buf), -EBADMSG, "SIGNING_KEY value 2");
	/* unsigned report: SIGNING_KEY 7 requires a zero signature */
	make_report(buf, 2);
	snp_put_le32(buf + 0x48, 7 << 2);
	expect_parse(buf, sizeof(buf), -EBADMSG, "unsigned");
	memset(buf + 0x2a0, 0, 0x200);
	expect_parse(buf, sizeof(buf), 0, NULL);
}

static void test_product(void **state)
{
	struct snp_report_info ri;
	u8 buf[SNP_REPORT_SIZE];

	assert_int_equal(snp_product_from_cpuid(0x19, 0x01), SNP_PRODUCT_MILAN);
	assert_int_equal(snp_product_from_cpuid(0x19, 0x11), SNP_PRODUCT_GENOA);
	assert_int_equal(snp_product_from_cpuid(0x19, 0xa0), SNP_PRODUCT_GENOA);
	assert_int_equal(snp_product_from_cpuid(0x19, 0x30), SNP_PRODUCT_UNKNOWN);
	assert_int_equal(snp_product_from_cpuid(0x1a, 0x02), SNP_PRODUCT_TURIN);
	assert_int_equal(snp_product_from_cpuid(0x1a, 0x12), SNP_PRODUCT_UNKNOWN);
	assert_int_equal(snp_product_from_cpuid(0x1a, 0x4f), SNP_PRODUCT_UNKNOWN);
	assert_int_equal(snp_product_from_cpuid(0x17, 0x01), SNP_PRODUCT_UNKNOWN);

	make_report(buf, 3);
	assert_int_equal(snp_report_parse(buf, sizeof(buf), &ri, NULL, 0), 0);
	assert_int_equal(ri.product, SNP_PRODUCT_GENOA);
	assert_int_equal(ri.product_source, SNP_PRODUCT_SRC_CPUID);

	/* v2: full chip id => undecidable; 8-byte chip id => Turin */
	make_report(buf, 2);
	assert_int_equal(snp_report_parse(buf, sizeof(buf), &ri, NULL, 0), 0);
	assert_int_equal(ri.product, SNP_PRODUCT_UNKNOWN);
	memset(buf + 0x1a0 + 8, 0, 56);
	assert_int_equal(snp_report_parse(buf, sizeof(buf), &ri, NULL, 0), 0);
	assert_int_equal(ri.product, SNP_PRODUCT_TURIN);
	assert_int_equal(ri.product_source, SNP_PRODUCT_SRC_CHIP_ID);
	/* masked chip id defeats the heuristic */
	memset(buf + 0x1a0, 0, 64);
	assert_int_equal(snp_report_parse(buf, sizeof(buf), &ri, NULL, 0), 0);
	assert_int_equal(ri.product, SNP_PRODUCT_UNKNOWN);

	snp_report_set_product(&ri, SNP_PRODUCT_MILAN, SNP_PRODUCT_SRC_HINT);
	assert_int_equal(ri.product, SNP_PRODUCT_MILAN);

	enum snp_product p;

	assert_int_equal(snp_product_from_string("Milan-B0", &p), 0);
	assert_int_equal(p, SNP_PRODUCT_MILAN);
	assert_int_equal(snp_product_from_string("genoa", &p), 0);
	assert_int_equal(p, SNP_PRODUCT_GENOA);
	assert_int_equal(snp_product_from_string("TURIN", &p), 0);
	assert_int_equal(snp_product_from_string("Milanx", &p), -EINVAL);
	assert_int_equal(snp_product_from_string("rome", &p), -EINVAL);
}

/* A report newer than version 5: read as version 5, noted, not refused. */
static void test_newer_version(void **state)
{
	struct snp_report_info ri;
	u8 buf[SNP_REPORT_SIZE];

	make_report(buf, 6);
	assert_int_equal(snp_report_parse(buf, sizeof(buf), &ri, NULL, 0), 0);
	assert_int_equal(ri.version, 6);
	assert_true(snp_report_version_newer(&ri));
	assert_int_equal(ri.product, SNP_PRODUCT_GENOA);
	/* what version 5 reserves, version 6 may define: not checked */
	buf[0x04c] = 1;
	buf[0x18b] = 1;
	buf[0x1eb] = 1;
	buf[0x208] = 1;
	buf[0x29f] = 1;
	snp_put_le64(buf + 0x008, 0x30000 | 1ULL << 40);
	snp_put_le32(buf + 0x048, 1U << 9);
	assert_int_equal(snp_report_parse(buf, sizeof(buf), &ri, NULL, 0), 0);
	/* but not what the ABI defines: policy bit 17, the signature's tail */
	snp_put_le64(buf + 0x008, 0x10000);
	expect_parse(buf, sizeof(buf), -EBADMSG, "bit 17");
	make_report(buf, 6);
	buf[0x49f] = 1;
	expect_parse(buf, sizeof(buf), -EBADMSG, "reserved byte 0x49f");
	make_report(buf, 5);
	assert_int_equal(snp_report_parse(buf, sizeof(buf), &ri, NULL, 0), 0);
	assert_false(snp_report_version_newer(&ri));
	make_report(buf, 255);
	expect_parse(buf, sizeof(buf), 0, NULL);
}

/* Zen4c is Genoa; Venice (§1.8) gets Turin's layouts, marked unconfirmed. */
static void test_products_new(void **state)
{
	static const u8 venice[] = { 0x50, 0x57, 0x90, 0x9f, 0xa0, 0xaf, 0xc0, 0xc7 };
	static const u8 not_venice[] = { 0x12, 0x4f, 0x58, 0x8f, 0xb0, 0xbf, 0xc8, 0xff };
	struct snp_report_info ri;
	u8 buf[SNP_REPORT_SIZE];
	enum snp_product p;

	for (u8 m = 0xa0; m <= 0xaf; m++) /* Bergamo, Siena */
		assert_int_equal(snp_product_from_cpuid(0x19, m), SNP_PRODUCT_GENOA);
	for (size_t i = 0; i < sizeof(venice); i++)
		assert_int_equal(snp_product_from_cpuid(0x1a, venice[i]), SNP_PRODUCT_VENICE);
	for (size_t i = 0; i < sizeof(not_venice); i++)
		assert_int_equal(snp_product_from_cpuid(0x1a, not_venice[i]), SNP_PRODUCT_UNKNOWN);
	assert_int_equal(snp_product_tcb_layout(SNP_PRODUCT_VENICE), SNP_TCB_LAYOUT_TURIN);
	assert_true(snp_product_unconfirmed(SNP_PRODUCT_VENICE));
	assert_false(snp_product_unconfirmed(SNP_PRODUCT_TURIN));
	assert_int_equal(snp_product_from_string("venice", &p), 0);
	assert_int_equal(p, SNP_PRODUCT_VENICE);
	assert_string_equal(snp_product_name(SNP_PRODUCT_VENICE), "Venice");

	make_report(buf, 5);
	buf[0x188] = 0x1a;
	buf[0x189] = 0x90;
	assert_int_equal(snp_report_parse(buf, sizeof(buf), &ri, NULL, 0), 0);
	assert_int_equal(ri.product, SNP_PRODUCT_VENICE);
	assert_int_equal(snp_report_tcb_layout(&ri), SNP_TCB_LAYOUT_TURIN);
}

/* Bits by name or as "unknown bit N"; "unknown" names the whole rest. */
static void test_bit_names(void **state)
{
	char buf[256], err[128];
	u64 m;

	assert_string_equal(snp_bit_name(SNP_BITS_POLICY, 20), "SINGLE_SOCKET");
	assert_string_equal(snp_bit_name(SNP_BITS_PLATFORM_INFO, 7), "TIO_EN");
	assert_null(snp_bit_name(SNP_BITS_PLATFORM_INFO, 6));
	assert_int_equal(snp_bits_unknown(SNP_BITS_POLICY), ~0ULL << 26);
	assert_int_equal(snp_bits_unknown(SNP_BITS_PLATFORM_INFO), ~0ULL << 8 | 1ULL << 6);
	snp_bits_describe(SNP_BITS_PLATFORM_INFO, 0x67, buf, sizeof(buf));
	assert_string_equal(buf, "SMT_EN, TSME_EN, ECC_EN, ALIAS_CHECK_COMPLETE, unknown bit 6");
	snp_bits_describe(SNP_BITS_POLICY, 0, buf, sizeof(buf));
	assert_string_equal(buf, "none");
	assert_int_equal(snp_bits_parse_list(SNP_BITS_POLICY, "single_socket,CXL_ALLOW,bit_40", &m,
					     err, sizeof(err)),
			 0);
	assert_int_equal(m, 1ULL << 20 | 1ULL << 21 | 1ULL << 40);
	assert_int_equal(
		snp_bits_parse_list(SNP_BITS_PLATFORM_INFO, "unknown", &m, err, sizeof(err)), 0);
	assert_int_equal(m, snp_bits_unknown(SNP_BITS_PLATFORM_INFO));
	assert_int_equal(snp_bits_parse_list(SNP_BITS_POLICY, "SMT,NOPE", &m, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "'NOPE'"));
	assert_int_equal(snp_bits_parse_list(SNP_BITS_POLICY, "bit_64", &m, err, sizeof(err)),
			 -EINVAL);
}

static void test_tcb_layouts(void **state)
{
	struct snp_tcb_parts p;

	/* genuine values from the README of ../shared/testdata/real */
	snp_tcb_decode(0xdb18000000000004ULL, SNP_TCB_LAYOUT_LEGACY, &p);
	assert_int_equal(p.bootloader, 4);
	assert_int_equal(p.tee, 0);
	assert_int_equal(p.snp, 24);
	assert_int_equal(p.microcode, 219);
	assert_false(p.rsvd_nonzero);
	assert_int_equal(snp_tcb_encode(&p, SNP_TCB_LAYOUT_LEGACY), 0xdb18000000000004ULL);

	snp_tcb_decode(0x4700000002000100ULL, SNP_TCB_LAYOUT_TURIN, &p);
	assert_int_equal(p.fmc, 0);
	assert_int_equal(p.bootloader, 1);
	assert_int_equal(p.tee, 0);
	assert_int_equal(p.snp, 2);
	assert_int_equal(p.microcode, 71);
	assert_false(p.rsvd_nonzero);
	assert_int_equal(snp_tcb_encode(&p, SNP_TCB_LAYOUT_TURIN), 0x4700000002000100ULL);

	/* the same bytes read with the wrong layout */
	snp_tcb_decode(0x4700000002000100ULL, SNP_TCB_LAYOUT_LEGACY, &p);
	assert_int_equal(p.bootloader, 0);
	assert_int_equal(p.tee, 1);
	assert_true(p.rsvd_nonzero);
}

static void test_hex_input(void **state)
{
	struct snp_report_info ri;
	u8 buf[SNP_REPORT_SIZE];
	char hex[2 * SNP_REPORT_SIZE + 64];
	char err[SNP_ERRBUF];

	make_report(buf, 5);
	snp_hex_encode(buf, sizeof(buf), hex);
	assert_int_equal(snp_report_load((u8 *)hex, strlen(hex), &ri, err, sizeof(err)), 0);
	assert_int_equal(ri.version, 5);
	assert_memory_equal(&ri.r, buf, sizeof(buf));
	/* whitespace and a trailing newline are fine */
	memmove(hex + 3, hex + 2, strlen(hex + 2) + 1);
	hex[2] = '\n';
	strcat(hex, "\n");
	assert_int_equal(snp_report_load((u8 *)hex, strlen(hex), &ri, err, sizeof(err)), 0);
	hex[10] = 'x';
	assert_int_equal(snp_report_load((u8 *)hex, strlen(hex), &ri, err, sizeof(err)), -EMSGSIZE);
}

static void test_json(void **state)
{
	static const char *const fields[] = {
		"version",	     "guest_svn",	"policy",
		"family_id",	     "image_id",	"vmpl",
		"signature_algo",    "current_tcb",	"platform_info",
		"key_info",	     "report_data",	"measurement",
		"host_data",	     "id_key_digest",	"author_key_digest",
		"report_id",	     "report_id_ma",	"reported_tcb",
		"chip_id",	     "committed_tcb",	"launch_tcb",
		"current_build",     "committed_major", "cpuid_fam_id",
		"launch_mit_vector", "signature",
	};
	struct snp_report_info ri;
	u8 buf[SNP_REPORT_SIZE];
	json_t *o, *tcb;

	make_report(buf, 5);
	buf[0x1a0] = 0xab;
	assert_int_equal(snp_report_parse(buf, sizeof(buf), &ri, NULL, 0), 0);
	o = snp_report_to_json(&ri);
	assert_non_null(o);
	for (size_t i = 0; i < SNP_ELEMENTSOF(fields); i++)
		assert_non_null(json_object_get(o, fields[i]));
	assert_string_equal(json_string_value(json_object_get(o, "chip_id")) + 0,
			    "ab0203040506"
			    "0708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223242526"
			    "2728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f40");
	tcb = json_object_get(o, "reported_tcb");
	assert_int_equal(json_integer_value(json_object_get(tcb, "snp")), 8);
	assert_int_equal(json_integer_value(json_object_get(tcb, "microcode")), 115);
	assert_string_equal(json_string_value(json_object_get(tcb, "raw")), "0x7308000000000003");
	assert_null(json_object_get(tcb, "fmc"));
	assert_true(json_is_true(json_object_get(json_object_get(o, "policy"), "smt")));
	assert_true(json_is_false(json_object_get(json_object_get(o, "policy"), "debug")));
	json_decref(o);

	/* v2: no CPUID or mitigation fields; Turin: fmc present */
	make_report(buf, 2);
	assert_int_equal(snp_report_parse(buf, sizeof(buf), &ri, NULL, 0), 0);
	snp_report_set_product(&ri, SNP_PRODUCT_TURIN, SNP_PRODUCT_SRC_HINT);
	o = snp_report_to_json(&ri);
	assert_null(json_object_get(o, "cpuid_fam_id"));
	assert_null(json_object_get(o, "launch_mit_vector"));
	assert_non_null(json_object_get(json_object_get(o, "current_tcb"), "fmc"));
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_versions), cmocka_unit_test(test_size),
		cmocka_unit_test(test_versions),       cmocka_unit_test(test_reserved_per_version),
		cmocka_unit_test(test_fields),	       cmocka_unit_test(test_product),
		cmocka_unit_test(test_tcb_layouts),    cmocka_unit_test(test_hex_input),
		cmocka_unit_test(test_json),	       cmocka_unit_test(test_newer_version),
		cmocka_unit_test(test_products_new),   cmocka_unit_test(test_bit_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
