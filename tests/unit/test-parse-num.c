// SPDX-License-Identifier: Apache-2.0
/*
 * lib/util.c snp_parse_u64(), snp_parse_u64_or_hex(), snp_parse_u32_max():
 * decimal is decimal even with a leading zero ("0123" is 123, never octal
 * 83), hex only after an explicit 0x and only where asked for, and nothing
 * strtoull() would quietly skip or negate (space, sign) gets through. The
 * output is written only on success. Also snp_nonce_name_parse(), the
 * names of nonce/ and evidence/ in the view. Plain C: no cmocka needed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "lib/util.h"
#include "tests/unit/check.h"

#define UNTOUCHED UINT64_C(0x5a5a5a5a5a5a5a5a)

static void dec(const char *s, int want_r, uint64_t want)
{
	uint64_t v = UNTOUCHED;
	int r = snp_parse_u64(s, &v);

	CHECK(r == want_r && v == (want_r ? UNTOUCHED : want),
	      "snp_parse_u64(\"%s\") = %d, %" PRIu64 " (want %d, %" PRIu64 ")", s, r, v, want_r,
	      want_r ? UNTOUCHED : want);
}

static void hex(const char *s, int want_r, uint64_t want)
{
	uint64_t v = UNTOUCHED;
	int r = snp_parse_u64_or_hex(s, &v);

	CHECK(r == want_r && v == (want_r ? UNTOUCHED : want),
	      "snp_parse_u64_or_hex(\"%s\") = %d, %#" PRIx64 " (want %d, %#" PRIx64 ")", s, r, v,
	      want_r, want_r ? UNTOUCHED : want);
}

static void u32(const char *s, uint32_t max, int want_r, uint32_t want)
{
	uint32_t v = 0xa5a5a5a5;
	int r = snp_parse_u32_max(s, max, &v);

	CHECK(r == want_r && v == (want_r ? 0xa5a5a5a5 : want),
	      "snp_parse_u32_max(\"%s\", %" PRIu32 ") = %d, %" PRIu32, s, max, r, v);
}

static void name(const char *s, int want_r, size_t want_len, bool want_json)
{
	uint8_t out[SNP_NONCE_NAME_HEX_MAX / 2];
	size_t len = 999;
	bool json = !want_json;
	int r = snp_nonce_name_parse(s, out, &len, &json);

	CHECK(r == want_r && (r < 0 || (len == want_len && json == want_json)),
	      "snp_nonce_name_parse(\"%s\") = %d, %zu bytes, json %d", s, r, len, json);
}

int main(void)
{
	char buf[200];

	/* decimal, leading zeros included */
	dec("0", 0, 0);
	dec("123", 0, 123);
	dec("0123", 0, 123);
	dec("010", 0, 10);
	dec("08", 0, 8);
	dec("0009", 0, 9);
	dec("18446744073709551615", 0, UINT64_MAX);
	dec("018446744073709551615", 0, UINT64_MAX);
	dec("18446744073709551616", -ERANGE, 0);
	/* no hex without asking for it, no prefix, sign, space or suffix */
	dec("0x10", -EINVAL, 0);
	dec("0X10", -EINVAL, 0);
	dec("1f", -EINVAL, 0);
	dec("", -EINVAL, 0);
	dec("-1", -EINVAL, 0);
	dec("+1", -EINVAL, 0);
	dec(" 1", -EINVAL, 0);
	dec("\t1", -EINVAL, 0);
	dec("\n1", -EINVAL, 0);
	dec("1 ", -EINVAL, 0);
	dec("1e3", -EINVAL, 0);
	dec(NULL, -EINVAL, 0);

	/* decimal or 0x hex */
	hex("0123", 0, 123);
	hex("010", 0, 10);
	hex("30000", 0, 30000);
	hex("0x30000", 0, 0x30000);
	hex("0X1d", 0, 0x1d);
	hex("0x0000000000000003", 0, 3);
	hex("0xffffffffffffffff", 0, UINT64_MAX);
	hex("0x10000000000000000", -ERANGE, 0);
	hex("0x", -EINVAL, 0);
	hex("0x0x1", -EINVAL, 0);
	hex("0x 1", -EINVAL, 0);
	hex("0x-1", -EINVAL, 0);
	hex("0x+1", -EINVAL, 0);
	hex("0xg", -EINVAL, 0);
	hex("x10", -EINVAL, 0);
	hex("00x10", -EINVAL, 0);
	hex("1f", -EINVAL, 0);
	hex("-0x1", -EINVAL, 0);
	hex(" 0x1", -EINVAL, 0);
	hex(NULL, -EINVAL, 0);

	/* the u32 flavour: decimal, range checked */
	u32("0255", 255, 0, 255);
	u32("0256", 255, -ERANGE, 0);
	u32("010", 10, 0, 10);
	u32("0x1", 3, -EINVAL, 0);
	u32("4294967295", UINT32_MAX, 0, UINT32_MAX);
	u32("4294967296", UINT32_MAX, -ERANGE, 0);

	/* nonce names: 2-128 hex digits, an even number, then .json or nothing */
	name("ab", 0, 1, false);
	name("AbCd.json", 0, 2, true);
	name("ab.json.json", -EINVAL, 0, false);
	name(".json", -EINVAL, 0, false);
	name("a", -EINVAL, 0, false);
	name("abc.json", -EINVAL, 0, false);
	name("", -EINVAL, 0, false);
	name("0x12", -EINVAL, 0, false);
	name("12 4", -EINVAL, 0, false);
	name("ab.JSON", -EINVAL, 0, false);
	memset(buf, 'f', 128);
	strcpy(buf + 128, ".json");
	name(buf, 0, 64, true);
	buf[128] = '\0';
	name(buf, 0, 64, false);
	strcpy(buf + 128, "ff");
	name(buf, -ENAMETOOLONG, 0, false);
	strcpy(buf + 130, ".json");
	name(buf, -ENAMETOOLONG, 0, false);
	return failures ? 1 : 0;
}
