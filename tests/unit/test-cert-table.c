// SPDX-License-Identifier: Apache-2.0
/* Unit tests of lib/cert-table.c: layout, bounds, unknown GUIDs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/cert-table.h"
#include "lib/util.h"

static const u8 vcek_guid[16] = SNP_GUID_VCEK;
static const u8 ask_guid[16] = SNP_GUID_ASK;
static const u8 ark_guid[16] = SNP_GUID_ARK;
static const u8 odd_guid[16] = { 0xec, 0xae, 0x0c, 0x0f, 0x95, 0x02, 0x43, 0xb1,
				 0xaf, 0xa2, 0x0a, 0xe2, 0xe0, 0xd5, 0x65, 0xb6 };

static void put_entry(u8 *p, const u8 *guid, u32 off, u32 len)
{
	memcpy(p, guid, 16);
	snp_put_le32(p + 16, off);
	snp_put_le32(p + 20, len);
}

static void test_build_and_parse(void **state)
{
	const u8 guids[4][16] = { SNP_GUID_ARK,
				  SNP_GUID_ASK,
				  SNP_GUID_VCEK,
				  { 0xec, 0xae, 0x0c, 0x0f, 0x95, 0x02, 0x43, 0xb1, 0xaf, 0xa2,
				    0x0a, 0xe2, 0xe0, 0xd5, 0x65, 0xb6 } };
	const u8 a[] = "ark-bytes", b[] = "ask", c[] = "vcek-der", d[] = { 0x08, 0, 0, 0 };
	const u8 *const blobs[] = { a, b, c, d };
	const u32 lens[] = { sizeof(a), sizeof(b), sizeof(c), sizeof(d) };
	struct snp_cert_table t;
	u8 buf[512];
	char err[SNP_ERRBUF];
	ssize_t n;

	n = snp_cert_table_build(guids, blobs, lens, 4, buf, sizeof(buf));
	assert_int_equal(n, 5 * 24 + sizeof(a) + sizeof(b) + sizeof(c) + sizeof(d));
	/* GUIDs are stored in RFC 4122 order: the string read left to right */
	assert_int_equal(buf[2 * 24], 0x63);
	assert_int_equal(buf[2 * 24 + 1], 0xda);
	assert_int_equal(snp_cert_table_parse(buf, (size_t)n, &t, err, sizeof(err)), 0);
	assert_int_equal(t.n, 4);
	assert_int_equal(t.table_len, 5 * 24);
	assert_int_equal(t.used_len, (size_t)n);
	assert_int_equal(t.entries[0].kind, SNP_CERT_ARK);
	assert_int_equal(t.entries[1].kind, SNP_CERT_ASK);
	assert_int_equal(t.entries[2].kind, SNP_CERT_VCEK);
	assert_int_equal(t.entries[3].kind, SNP_CERT_UNKNOWN);
	assert_memory_equal(snp_cert_table_find(&t, SNP_CERT_VCEK)->data, c, sizeof(c));
	assert_null(snp_cert_table_find(&t, SNP_CERT_VLEK));

	char s[37];

	snp_guid_to_string(vcek_guid, s);
	assert_string_equal(s, "63da758d-e664-4564-adc5-f4b93be8accd");

	/* trailing bytes after the blobs (a page-sized buffer) are fine */
	memset(buf + n, 0, sizeof(buf) - (size_t)n);
	assert_int_equal(snp_cert_table_parse(buf, sizeof(buf), &t, err, sizeof(err)), 0);
	assert_int_equal(t.used_len, (size_t)n);

	/* every cut before the end of the last blob is refused */
	for (ssize_t cut = 0; cut < n; cut++)
		assert_int_equal(snp_cert_table_parse(buf, (size_t)cut, &t, err, sizeof(err)),
				 -EBADMSG);

	assert_int_equal(snp_cert_table_build(guids, blobs, lens, 4, buf, 100), -ENOBUFS);
}

static void expect_bad(const u8 *buf, size_t len, const char *msg)
{
	struct snp_cert_table t;
	char err[SNP_ERRBUF] = "";

	assert_int_equal(snp_cert_table_parse(buf, len, &t, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, msg));
}

static void test_bad_tables(void **state)
{
	u8 buf[256] = { 0 };

	expect_bad(buf, 0, "no all-zero terminator");
	expect_bad(buf, 23, "no all-zero terminator");

	put_entry(buf, vcek_guid, 72, 20);
	put_entry(buf + 24, ask_guid, 80, 20);
	expect_bad(buf, sizeof(buf), "overlap");

	memset(buf, 0, sizeof(buf));
	put_entry(buf, vcek_guid, 20, 8);
	expect_bad(buf, sizeof(buf), "points into the table");

	put_entry(buf, vcek_guid, 48, 0);
	expect_bad(buf, sizeof(buf), "length 0");

	put_entry(buf, vcek_guid, 48, 0xffffffffu);
	expect_bad(buf, sizeof(buf), "beyond");

	put_entry(buf, vcek_guid, 0xfffffff0u, 0x20);
	expect_bad(buf, sizeof(buf), "beyond");

	memset(buf, 0, sizeof(buf));
	put_entry(buf, ark_guid, 72, 8);
	put_entry(buf + 24, ark_guid, 80, 8);
	expect_bad(buf, sizeof(buf), "twice");

	/* unknown GUIDs may repeat */
	put_entry(buf, odd_guid, 72, 8);
	put_entry(buf + 24, odd_guid, 80, 8);
	struct snp_cert_table t;

	assert_int_equal(snp_cert_table_parse(buf, sizeof(buf), &t, NULL, 0), 0);
	assert_int_equal(t.n, 2);
}

static void test_too_many(void **state)
{
	u8 buf[(SNP_CERT_TABLE_MAX + 2) * 24 + 16] = { 0 };

	for (int i = 0; i <= SNP_CERT_TABLE_MAX; i++)
		put_entry(buf + i * 24, odd_guid, sizeof(buf) - 16, 1);
	expect_bad(buf, sizeof(buf), "more than");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_and_parse),
		cmocka_unit_test(test_bad_tables),
		cmocka_unit_test(test_too_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
