// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the names and numbers a client gives snpd as text
 * (lib/util.c), each compared with a plain restatement of its contract:
 *  - a nonce's name in the view, nonce/<hex>[.json] and evidence/<hex>
 *    (snp_nonce_name_parse(), what fs_lookup() takes): 2-128 hex digits,
 *    an even number, and ".json" or nothing after them;
 *  - hex (snp_hex_decode(), also what ?nonce= and report_data_hex take),
 *    with and without whitespace allowed, into buffers of every size up
 *    to the input's;
 *  - decimal and 0x-hex numbers (snp_parse_u64(), snp_parse_u32_max(),
 *    snp_parse_u64_or_hex(): ?vmpl= and the configuration's numbers).
 * The input is taken as a C string (a name from the kernel or a query
 * value ends at its first NUL) and, for hex, also as the bytes it is.
 *
 * Built and run by tests/fuzz/fuzz.sh with clang -fsanitize=fuzzer.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <strings.h>

#include "kernel/compat.h"
#include "lib/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void bug(const char *what, const char *s)
{
	fprintf(stderr, "fuzz-names: BUG: %s: '%s'\n", what, s);
	abort();
}

/* A hex digit's value, or -1: by its place in the digits, not by ranges as lib/util.c. */
static int digit(int c)
{
	static const char digits[] = "0123456789abcdef";
	const char *at = c ? strchr(digits, tolower(c)) : NULL;

	return at ? (int)(at - digits) : -1;
}

static bool space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The contract of snp_hex_decode(), restated: the digits and the error. */
static ssize_t hex_model(const char *s, size_t len, u8 *out, size_t max)
{
	size_t digits = 0;

	for (size_t i = 0; i < len; i++) {
		if (digit((unsigned char)s[i]) < 0)
			return -EINVAL;
		/* a byte that does not fit is refused as it is reached */
		if (digits % 2 == 1 && digits / 2 >= max)
			return -ENOBUFS;
		if (digits % 2 == 1)
			out[digits / 2] = (u8)(digit((unsigned char)s[i - 1]) << 4 |
					       digit((unsigned char)s[i]));
		digits++;
	}
	return digits % 2 ? -EINVAL : (ssize_t)(digits / 2);
}

/* Without whitespace: as the contract says, into buffers of a few sizes. */
static void check_hex(const char *s, size_t len)
{
	u8 *out = malloc(len / 2 + 1), *want = malloc(len / 2 + 1);
	const size_t maxes[] = { 0, 1, len / 4, len / 2 };

	if (!out || !want)
		abort();
	for (size_t i = 0; i < SNP_ELEMENTSOF(maxes); i++) {
		ssize_t r = snp_hex_decode(s, len, out, maxes[i], false);
		ssize_t m = hex_model(s, len, want, maxes[i]);

		if (r != m || (r > 0 && memcmp(out, want, (size_t)r)))
			bug("snp_hex_decode() disagrees with its contract", s);
	}
	free(out);
	free(want);
}

/* With whitespace allowed: the same as the digits alone. */
static void check_hex_space(const char *s, size_t len)
{
	u8 *out = malloc(len / 2 + 1), *want = malloc(len / 2 + 1);
	char *digits = malloc(len + 1);
	size_t n = 0;
	ssize_t r, d;

	if (!out || !want || !digits)
		abort();
	for (size_t i = 0; i < len; i++)
		if (!space((unsigned char)s[i]))
			digits[n++] = s[i];
	r = snp_hex_decode(s, len, out, len / 2, true);
	d = snp_hex_decode(digits, n, want, len / 2, false);
	if (r != d || (r > 0 && memcmp(out, want, (size_t)r)))
		bug("whitespace allowed is not the digits alone", s);
	free(digits);
	free(out);
	free(want);
}

static void check_name(const char *name)
{
	u8 out[SNP_NONCE_NAME_HEX_MAX / 2];
	char hex[SNP_NONCE_NAME_HEX_MAX + 1];
	size_t n = strlen(name), len = 0;
	bool json = false, want_json = false, all_hex = true;
	int r, want;

	if (n > 5 && !strcmp(name + n - 5, ".json")) {
		want_json = true;
		n -= 5;
	}
	for (size_t i = 0; i < n; i++)
		if (digit((unsigned char)name[i]) < 0)
			all_hex = false;
	want = n > SNP_NONCE_NAME_HEX_MAX		       ? -ENAMETOOLONG :
	       n < SNP_NONCE_NAME_HEX_MIN || n % 2 || !all_hex ? -EINVAL :
								 0;
	r = snp_nonce_name_parse(name, out, &len, &json);
	if (r != want)
		bug("a nonce name parsed against its contract", name);
	if (r < 0)
		return;
	if (json != want_json || len != n / 2)
		bug("a nonce name of another length or kind", name);
	snp_hex_encode(out, len, hex);
	if (strncasecmp(hex, name, n))
		bug("a nonce name parsed into another nonce", name);
}

/* Decimal digits only (or 0x and hex digits), no sign, space or prefix. */
static int num_model(const char *s, bool allow_hex, u64 max, u64 *ret)
{
	unsigned int base = 10;
	u64 v = 0;

	if (allow_hex && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		int d = digit((unsigned char)*s);

		if (d < 0 || (unsigned int)d >= base)
			return -EINVAL;
		if (v > (UINT64_MAX - (u64)d) / base)
			return -ERANGE;
		v = v * base + (u64)d;
	}
	if (v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

static void check_numbers(const char *s)
{
	u64 a = 0, b = 0;
	u32 c = 0;
	int r, m;

	r = snp_parse_u64(s, &a);
	m = num_model(s, false, UINT64_MAX, &b);
	/* an error is an error; which one only where the string is all digits */
	if ((r == 0) != (m == 0) || (r == 0 && a != b) ||
	    (r < 0 && m < 0 && strspn(s, "0123456789") == strlen(s) && r != m))
		bug("snp_parse_u64() disagrees with its contract", s);
	r = snp_parse_u64_or_hex(s, &a);
	m = num_model(s, true, UINT64_MAX, &b);
	if ((r == 0) != (m == 0) || (r == 0 && a != b))
		bug("snp_parse_u64_or_hex() disagrees with its contract", s);
	r = snp_parse_u32_max(s, 3, &c);
	m = num_model(s, false, 3, &b);
	if ((r == 0) != (m == 0) || (r == 0 && c != b))
		bug("snp_parse_u32_max(3) disagrees with its contract", s);
	r = snp_parse_u32_max(s, UINT32_MAX, &c);
	m = num_model(s, false, UINT32_MAX, &b);
	if ((r == 0) != (m == 0) || (r == 0 && c != b))
		bug("snp_parse_u32_max() disagrees with its contract", s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check_name(s);
	check_numbers(s);
	check_hex(s, size);
	check_hex_space(s, size);
	free(s);
	return 0;
}
