// SPDX-License-Identifier: Apache-2.0
/*
 * lib/util.c snp_parse_u64(), snp_parse_u64_or_hex(), snp_parse_u32_max():
 * decimal is decimal even with a leading zero ("0123" is 123, never octal
 * 83), hex only after an explicit 0x and only where asked for, and nothing
 * strtoull() would quietly skip or negate (space, sign) gets through. The
 * output is written only on success. Plain C: no cmocka needed.
 */
#include <errno.h>
#include <inttypes.h>
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

int main(void)
{
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
	return failures ? 1 : 0;
}
