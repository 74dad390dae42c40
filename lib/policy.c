// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/policy.h"
#include "lib/binding.h"
#include "lib/util.h"

/*
 * The keys of a policy document. Keep in step with snp_policy_to_json(),
 * data/snp-policy.schema.json and the POLICY FILE section of snpctl(1)
 * (tests/lint/man-options.sh compares all four).
 */
static const struct {
	const char *name;
	const char *help;
} keys[] = {
	{ "$schema", "URI of the JSON Schema (ignored)" },
	{ "report_data", "expected REPORT_DATA, hex, up to 64 bytes (zero-padded)" },
	{ "measurement", "expected MEASUREMENT, hex, 48 bytes" },
	{ "host_data", "expected HOST_DATA, hex, 32 bytes" },
	{ "id_key_digests", "accepted ID_KEY_DIGESTs, array of hex (48 bytes each)" },
	{ "author_key_digests", "accepted AUTHOR_KEY_DIGESTs, array of hex (48 bytes each)" },
	{ "family_id", "expected FAMILY_ID, hex, 16 bytes" },
	{ "image_id", "expected IMAGE_ID, hex, 16 bytes" },
	{ "vmpl", "expected VMPL, 0..3" },
	{ "min_guest_svn", "minimum GUEST_SVN" },
	{ "allow_debug", "accept a guest policy that allows debugging" },
	{ "allow_migration_agent", "accept a guest policy that allows a migration agent" },
	{ "deny_smt", "refuse a guest policy that allows SMT" },
	{ "require_chip_id", "refuse a masked (all-zero) CHIP_ID" },
	{ "min_tcb", "minimum REPORTED_TCB, object of bootloader, tee, snp, microcode, fmc" },
	{ "min_launch_tcb", "minimum LAUNCH_TCB, object as min_tcb" },
	{ "min_firmware", "minimum firmware, \"MAJOR.MINOR[.BUILD]\"" },
	{ "allow_provisional", "accept CURRENT_TCB or firmware ahead of COMMITTED" },
	{ "min_launch_mit_vector", "bits that must be set in LAUNCH_MIT_VECTOR, \"0x...\"" },
	{ "min_current_mit_vector", "bits that must be set in CURRENT_MIT_VECTOR, \"0x...\"" },
	{ "products", "accepted products, array of Milan, Genoa, Turin, Venice" },
	{ "deny_products", "refused products, array as products" },
	{ "require_policy_bits", "POLICY bits that must be set, array of names" },
	{ "forbid_policy_bits", "POLICY bits that must be clear, array of names or \"unknown\"" },
	{ "require_platform_info", "PLATFORM_INFO bits that must be set, array of names" },
	{ "forbid_platform_info", "PLATFORM_INFO bits that must be clear, array of names or "
				  "\"unknown\"" },
	{ "signer", "accepted signing key: \"vcek\", \"vlek\" or \"any\"" },
	{ "strict_version", "refuse a report version newer than the verifier knows" },
	{ "require_events", "bound evidence: event digests the log must hold, array of hex" },
	{ "forbid_events", "bound evidence: event digests the log must not hold, array of hex" },
};

size_t snp_policy_key_count(void)
{
	return SNP_ELEMENTSOF(keys);
}

const char *snp_policy_key_name(size_t i, const char **ret_help)
{
	if (i >= SNP_ELEMENTSOF(keys))
		return NULL;
	if (ret_help)
		*ret_help = keys[i].help;
	return keys[i].name;
}

static int bad(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* A hex string of exactly @size bytes (or up to @size with @pad). */
static int get_hex(const char *key, const json_t *v, u8 *out, size_t size, bool pad, char *err,
		   size_t errlen)
{
	const char *s = json_string_value(v);
	ssize_t n;

	if (!s)
		return bad(err, errlen, "%s: not a string of hex", key);
	n = snp_hex_decode(s, strlen(s), out, size, false);
	if (n == -ENOBUFS)
		return bad(err, errlen, "%s: more than %zu bytes", key, size);
	if (n < 0 || (n == 0 && !pad))
		return bad(err, errlen, "%s: '%.80s' is not hex", key, s);
	if ((size_t)n != size && !pad)
		return bad(err, errlen, "%s: %zd bytes, expected %zu", key, n, size);
	memset(out + n, 0, size - (size_t)n);
	return 0;
}

static int get_digests(const char *key, const json_t *v, u8 (*out)[SNP_KEY_DIGEST_SIZE],
		       size_t *ret_n, char *err, size_t errlen)
{
	size_t i, n = json_array_size(v);
	char k[64];

	if (!json_is_array(v))
		return bad(err, errlen, "%s: not an array of hex digests", key);
	/* an empty set would turn the check off: leave the key out for that */
	if (n == 0)
		return bad(err, errlen, "%s: an empty set (leave the key out to accept any)", key);
	if (n > SNP_POLICY_MAX_DIGESTS)
		return bad(err, errlen, "%s: %zu digests, at most %d", key, n,
			   SNP_POLICY_MAX_DIGESTS);
	for (i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "%s[%zu]", key, i);
		if (get_hex(k, json_array_get(v, i), out[i], SNP_KEY_DIGEST_SIZE, false, err,
			    errlen) < 0)
			return -EINVAL;
	}
	*ret_n = n;
	return 0;
}

static int get_events(const char *key, const json_t *v, struct snp_policy_event *out, size_t *ret_n,
		      char *err, size_t errlen)
{
	size_t n = json_array_size(v);

	if (!json_is_array(v))
		return bad(err, errlen, "%s: not an array of hex digests", key);
	if (n > SNP_POLICY_MAX_DIGESTS)
		return bad(err, errlen, "%s: %zu digests, at most %d", key, n,
			   SNP_POLICY_MAX_DIGESTS);
	for (size_t i = 0; i < n; i++) {
		const char *h = json_string_value(json_array_get(v, i));
		ssize_t len = h ? snp_hex_decode(h, strlen(h), out[i].d, sizeof(out[i].d), false) :
				  -EINVAL;

		if (len != 32 && len != 48 && len != 64)
			return bad(err, errlen,
				   "%s[%zu]: not a digest of 32, 48 or 64 bytes in hex", key, i);
		out[i].len = (size_t)len;
	}
	*ret_n = n;
	return 0;
}

static int get_bool(const char *key, const json_t *v, bool *ret, char *err, size_t errlen)
{
	if (!json_is_boolean(v))
		return bad(err, errlen, "%s: not true or false", key);
	*ret = json_is_true(v);
	return 0;
}

static int get_uint(const char *key, const json_t *v, u64 max, u64 *ret, char *err, size_t errlen)
{
	json_int_t i;

	if (!json_is_integer(v))
		return bad(err, errlen, "%s: not an integer", key);
	i = json_integer_value(v);
	if (i < 0 || (u64)i > max)
		return bad(err, errlen, "%s: %lld is not in 0..%llu", key, (long long)i,
			   (unsigned long long)max);
	*ret = (u64)i;
	return 0;
}

/* A u64 bitmask: "0x..." (JSON integers stop at 2^63) or a small integer. */
static int get_mask(const char *key, const json_t *v, u64 *ret, char *err, size_t errlen)
{
	const char *s = json_string_value(v);

	if (json_is_integer(v))
		return get_uint(key, v, INT64_MAX, ret, err, errlen);
	if (!s || snp_parse_u64_or_hex(s, ret) < 0)
		return bad(err, errlen, "%s: not a 64-bit mask such as \"0x0000000000000003\"",
			   key);
	return 0;
}

static int get_tcb(const char *key, const json_t *v, struct snp_min_tcb *ret, char *err,
		   size_t errlen)
{
	struct snp_min_tcb m = { 0 };
	const char *k;
	json_t *x;
	u64 n;

	if (!json_is_object(v) || json_object_size(v) == 0)
		return bad(err, errlen,
			   "%s: not an object of bootloader, tee, snp, microcode and fmc", key);
	json_object_foreach((json_t *)v, k, x)
	{
		char name[64];

		snprintf(name, sizeof(name), "%s.%.32s", key, k);
		if (get_uint(name, x, 255, &n, err, errlen) < 0)
			return -EINVAL;
#define PART(part)                                                                                 \
	if (strcmp(k, #part) == 0) {                                                               \
		m.has_##part = true;                                                               \
		m.v.part = (u8)n;                                                                  \
		continue;                                                                          \
	}
		PART(bootloader)
		PART(tee)
		PART(snp)
		PART(microcode)
		PART(fmc)
#undef PART
		return bad(err, errlen,
			   "%s: unknown key '%.64s' (bootloader, tee, snp, microcode, fmc)", key,
			   k);
	}
	*ret = m;
	return 0;
}

static int get_bits(const char *key, const json_t *v, enum snp_bitfield f, u64 *ret, char *err,
		    size_t errlen)
{
	size_t i;
	u64 mask = 0, m;

	if (!json_is_array(v))
		return bad(err, errlen, "%s: not an array of bit names", key);
	for (i = 0; i < json_array_size(v); i++) {
		const char *s = json_string_value(json_array_get(v, i));

		if (!s || snp_bit_from_name(f, s, &m) < 0)
			return bad(err, errlen, "%s[%zu]: '%.64s' is not a %s bit name", key, i,
				   s ? s : "(not a string)",
				   f == SNP_BITS_POLICY ? "POLICY" : "PLATFORM_INFO");
		mask |= m;
	}
	*ret = mask;
	return 0;
}

static int get_products(const char *key, const json_t *v, u32 *ret, char *err, size_t errlen)
{
	enum snp_product p;
	u32 set = 0;

	if (!json_is_array(v))
		return bad(err, errlen, "%s: not an array of product names", key);
	if (json_array_size(v) == 0)
		return bad(err, errlen, "%s: an empty list (leave the key out to accept any)", key);
	for (size_t i = 0; i < json_array_size(v); i++) {
		const char *s = json_string_value(json_array_get(v, i));

		if (!s || snp_product_from_string(s, &p) < 0)
			return bad(err, errlen,
				   "%s[%zu]: '%.64s' is not Milan, Genoa, Turin or Venice", key, i,
				   s ? s : "(not a string)");
		set |= SNP_PRODUCT_BIT(p);
	}
	*ret = set;
	return 0;
}

int snp_products_parse_list(const char *list, u32 *ret, char *err, size_t errlen)
{
	char buf[256], *save = NULL, *tok;
	enum snp_product p;
	u32 set = 0;

	if (strlen(list) >= sizeof(buf))
		return bad(err, errlen, "list too long");
	strcpy(buf, list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (snp_product_from_string(tok, &p) < 0)
			return bad(err, errlen, "'%s' is not Milan, Genoa, Turin or Venice", tok);
		set |= SNP_PRODUCT_BIT(p);
	}
	if (!set)
		return bad(err, errlen, "no product named");
	*ret = set;
	return 0;
}

/* a decimal number of at most @max, all digits; *s moves past it */
static int parse_dec(const char **s, unsigned int max, unsigned int *ret)
{
	unsigned int v = 0;
	const char *p = *s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned int)(*p - '0');
		if (v > max)
			return -EINVAL;
	}
	*s = p;
	*ret = v;
	return 0;
}

/* "MAJOR.MINOR" or "MAJOR.MINOR.BUILD", each 0-255, nothing else */
int snp_policy_parse_firmware(const char *s, struct snp_policy *pol)
{
	unsigned int maj, min, build = 0;

	if (parse_dec(&s, 255, &maj) < 0 || *s++ != '.' || parse_dec(&s, 255, &min) < 0)
		return -EINVAL;
	if (*s == '.') {
		s++;
		if (parse_dec(&s, 255, &build) < 0)
			return -EINVAL;
	}
	if (*s)
		return -EINVAL;
	pol->has_min_fw = true;
	pol->min_fw_major = (u8)maj;
	pol->min_fw_minor = (u8)min;
	pol->min_fw_build = (u16)build;
	return 0;
}

static int apply_key(const char *k, const json_t *v, struct snp_policy *pol, char *err,
		     size_t errlen)
{
	u64 n;

	if (strcmp(k, "$schema") == 0)
		return json_is_string(v) ? 0 : bad(err, errlen, "$schema: not a string");
	if (strcmp(k, "report_data") == 0) {
		pol->has_report_data = true;
		return get_hex(k, v, pol->report_data, sizeof(pol->report_data), true, err, errlen);
	}
	if (strcmp(k, "measurement") == 0) {
		pol->has_measurement = true;
		return get_hex(k, v, pol->measurement, sizeof(pol->measurement), false, err,
			       errlen);
	}
	if (strcmp(k, "host_data") == 0) {
		pol->has_host_data = true;
		return get_hex(k, v, pol->host_data, sizeof(pol->host_data), false, err, errlen);
	}
	if (strcmp(k, "id_key_digests") == 0)
		return get_digests(k, v, pol->id_key_digests, &pol->n_id_key_digests, err, errlen);
	if (strcmp(k, "author_key_digests") == 0)
		return get_digests(k, v, pol->author_key_digests, &pol->n_author_key_digests, err,
				   errlen);
	if (strcmp(k, "family_id") == 0) {
		pol->has_family_id = true;
		return get_hex(k, v, pol->family_id, sizeof(pol->family_id), false, err, errlen);
	}
	if (strcmp(k, "image_id") == 0) {
		pol->has_image_id = true;
		return get_hex(k, v, pol->image_id, sizeof(pol->image_id), false, err, errlen);
	}
	if (strcmp(k, "vmpl") == 0) {
		if (get_uint(k, v, 3, &n, err, errlen) < 0)
			return -EINVAL;
		pol->has_vmpl = true;
		pol->vmpl = (u32)n;
		return 0;
	}
	if (strcmp(k, "min_guest_svn") == 0) {
		if (get_uint(k, v, UINT32_MAX, &n, err, errlen) < 0)
			return -EINVAL;
		pol->has_min_guest_svn = true;
		pol->min_guest_svn = (u32)n;
		return 0;
	}
	if (strcmp(k, "allow_debug") == 0)
		return get_bool(k, v, &pol->allow_debug, err, errlen);
	if (strcmp(k, "allow_migration_agent") == 0)
		return get_bool(k, v, &pol->allow_migrate_ma, err, errlen);
	if (strcmp(k, "deny_smt") == 0)
		return get_bool(k, v, &pol->deny_smt, err, errlen);
	if (strcmp(k, "require_chip_id") == 0)
		return get_bool(k, v, &pol->require_chip_id, err, errlen);
	if (strcmp(k, "min_tcb") == 0) {
		pol->has_min_tcb = true;
		return get_tcb(k, v, &pol->min_tcb, err, errlen);
	}
	if (strcmp(k, "min_launch_tcb") == 0) {
		pol->has_min_launch_tcb = true;
		return get_tcb(k, v, &pol->min_launch_tcb, err, errlen);
	}
	if (strcmp(k, "min_firmware") == 0) {
		const char *s = json_string_value(v);

		if (!s || snp_policy_parse_firmware(s, pol) < 0)
			return bad(err, errlen, "min_firmware: not \"MAJOR.MINOR[.BUILD]\"");
		return 0;
	}
	if (strcmp(k, "allow_provisional") == 0)
		return get_bool(k, v, &pol->allow_provisional, err, errlen);
	if (strcmp(k, "min_launch_mit_vector") == 0) {
		pol->has_min_launch_mit_vector = true;
		return get_mask(k, v, &pol->min_launch_mit_vector, err, errlen);
	}
	if (strcmp(k, "min_current_mit_vector") == 0) {
		pol->has_min_current_mit_vector = true;
		return get_mask(k, v, &pol->min_current_mit_vector, err, errlen);
	}
	if (strcmp(k, "products") == 0)
		return get_products(k, v, &pol->products, err, errlen);
	if (strcmp(k, "deny_products") == 0)
		return get_products(k, v, &pol->deny_products, err, errlen);
	if (strcmp(k, "require_policy_bits") == 0)
		return get_bits(k, v, SNP_BITS_POLICY, &pol->require_policy_bits, err, errlen);
	if (strcmp(k, "forbid_policy_bits") == 0)
		return get_bits(k, v, SNP_BITS_POLICY, &pol->forbid_policy_bits, err, errlen);
	if (strcmp(k, "require_platform_info") == 0)
		return get_bits(k, v, SNP_BITS_PLATFORM_INFO, &pol->require_platform_info, err,
				errlen);
	if (strcmp(k, "forbid_platform_info") == 0)
		return get_bits(k, v, SNP_BITS_PLATFORM_INFO, &pol->forbid_platform_info, err,
				errlen);
	if (strcmp(k, "signer") == 0) {
		const char *s = json_string_value(v);

		if (!s || snp_signer_from_string(s, &pol->signer) < 0)
			return bad(err, errlen, "signer: not \"vcek\", \"vlek\" or \"any\"");
		return 0;
	}
	if (strcmp(k, "strict_version") == 0)
		return get_bool(k, v, &pol->strict_version, err, errlen);
	if (strcmp(k, "require_events") == 0)
		return get_events(k, v, pol->require_events, &pol->n_require_events, err, errlen);
	if (strcmp(k, "forbid_events") == 0)
		return get_events(k, v, pol->forbid_events, &pol->n_forbid_events, err, errlen);
	return bad(err, errlen, "unknown key '%.64s'", k);
}

int snp_policy_apply_json(const json_t *doc, struct snp_policy *pol, char *err, size_t errlen)
{
	const char *k;
	json_t *v;

	if (!json_is_object(doc))
		return bad(err, errlen, "a policy is a JSON object");
	json_object_foreach((json_t *)doc, k,
			    v) if (apply_key(k, v, pol, err, errlen) < 0) return -EINVAL;
	return 0;
}

int snp_policy_load_file(const char *path, struct snp_policy *pol, char *err, size_t errlen)
{
	_cleanup_(freep) u8 *data = NULL;
	json_error_t jerr;
	json_t *doc;
	size_t len;
	int r;

	r = snp_read_file(path, SNP_POLICY_FILE_MAX, &data, &len);
	if (r == -EFBIG) {
		snprintf(err, errlen, "%s: larger than %d bytes", path, SNP_POLICY_FILE_MAX);
		return r;
	}
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	doc = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		snprintf(err, errlen, "%s: line %d: %s", path, jerr.line, jerr.text);
		return -EINVAL;
	}
	/* jansson alone nests to 2048; no key of a policy nests more than 2 */
	if (!snp_json_depth_within(doc, SNP_POLICY_DEPTH_MAX)) {
		snprintf(err, errlen, "%s: nested deeper than %d arrays and objects", path,
			 SNP_POLICY_DEPTH_MAX);
		json_decref(doc);
		return -EINVAL;
	}
	r = snp_policy_apply_json(doc, pol, err, errlen);
	json_decref(doc);
	return r;
}

static json_t *hex_json(const u8 *p, size_t n)
{
	char buf[2 * 64 + 1];

	snp_hex_encode(p, n, buf);
	return json_string(buf);
}

static json_t *digests_json(const u8 (*d)[SNP_KEY_DIGEST_SIZE], size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, hex_json(d[i], SNP_KEY_DIGEST_SIZE)) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *tcb_json(const struct snp_min_tcb *m)
{
	json_t *o = json_object();
	int r = 0;

	if (!o)
		return NULL;
#define PART(part)                                                                                 \
	if (m->has_##part)                                                                         \
		r |= json_object_set_new(o, #part, json_integer(m->v.part));
	PART(bootloader)
	PART(tee)
	PART(snp)
	PART(microcode)
	PART(fmc)
#undef PART
	if (r) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *mask_json(u64 v)
{
	char buf[19];

	snprintf(buf, sizeof(buf), "0x%016llx", (unsigned long long)v);
	return json_string(buf);
}

static json_t *bits_json(enum snp_bitfield f, u64 v)
{
	json_t *a = json_array();
	u64 unknown = snp_bits_unknown(f);
	char name[16];

	if (a && (v & unknown) == unknown) {
		/* the whole "unknown" set: say so rather than 50 bit numbers */
		if (json_array_append_new(a, json_string("unknown")) < 0)
			goto fail;
		v &= ~unknown;
	}
	for (unsigned int b = 0; a && b < 64; b++) {
		const char *n;

		if (!(v & (1ULL << b)))
			continue;
		n = snp_bit_name(f, b);
		if (!n) {
			snprintf(name, sizeof(name), "bit_%u", b);
			n = name;
		}
		if (json_array_append_new(a, json_string(n)) < 0)
			goto fail;
	}
	return a;
fail:
	json_decref(a);
	return NULL;
}

static json_t *products_json(u32 set)
{
	json_t *a = json_array();

	for (enum snp_product p = SNP_PRODUCT_MILAN; a && p <= SNP_PRODUCT_VENICE; p++)
		if ((set & SNP_PRODUCT_BIT(p)) &&
		    json_array_append_new(a, json_string(snp_product_name(p))) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

json_t *snp_policy_to_json(const struct snp_policy *pol)
{
	json_t *o = json_object();
	char fw[16];
	int r = 0;

	if (!o)
		return NULL;
	/* json_object_set_new() takes a NULL value as an error and fails */
	if (pol->has_report_data)
		r |= json_object_set_new(o, "report_data",
					 hex_json(pol->report_data, sizeof(pol->report_data)));
	if (pol->has_measurement)
		r |= json_object_set_new(o, "measurement",
					 hex_json(pol->measurement, sizeof(pol->measurement)));
	if (pol->has_host_data)
		r |= json_object_set_new(o, "host_data",
					 hex_json(pol->host_data, sizeof(pol->host_data)));
	if (pol->n_id_key_digests)
		r |= json_object_set_new(
			o, "id_key_digests",
			digests_json((const u8(*)[SNP_KEY_DIGEST_SIZE])pol->id_key_digests,
				     pol->n_id_key_digests));
	if (pol->n_author_key_digests)
		r |= json_object_set_new(
			o, "author_key_digests",
			digests_json((const u8(*)[SNP_KEY_DIGEST_SIZE])pol->author_key_digests,
				     pol->n_author_key_digests));
	if (pol->has_family_id)
		r |= json_object_set_new(o, "family_id",
					 hex_json(pol->family_id, sizeof(pol->family_id)));
	if (pol->has_image_id)
		r |= json_object_set_new(o, "image_id",
					 hex_json(pol->image_id, sizeof(pol->image_id)));
	if (pol->has_vmpl)
		r |= json_object_set_new(o, "vmpl", json_integer(pol->vmpl));
	if (pol->has_min_guest_svn)
		r |= json_object_set_new(o, "min_guest_svn", json_integer(pol->min_guest_svn));
	r |= json_object_set_new(o, "allow_debug", json_boolean(pol->allow_debug));
	r |= json_object_set_new(o, "allow_migration_agent", json_boolean(pol->allow_migrate_ma));
	r |= json_object_set_new(o, "deny_smt", json_boolean(pol->deny_smt));
	r |= json_object_set_new(o, "require_chip_id", json_boolean(pol->require_chip_id));
	if (pol->has_min_tcb)
		r |= json_object_set_new(o, "min_tcb", tcb_json(&pol->min_tcb));
	if (pol->has_min_launch_tcb)
		r |= json_object_set_new(o, "min_launch_tcb", tcb_json(&pol->min_launch_tcb));
	if (pol->has_min_fw) {
		snprintf(fw, sizeof(fw), "%u.%u.%u", pol->min_fw_major, pol->min_fw_minor,
			 pol->min_fw_build);
		r |= json_object_set_new(o, "min_firmware", json_string(fw));
	}
	r |= json_object_set_new(o, "allow_provisional", json_boolean(pol->allow_provisional));
	if (pol->has_min_launch_mit_vector)
		r |= json_object_set_new(o, "min_launch_mit_vector",
					 mask_json(pol->min_launch_mit_vector));
	if (pol->has_min_current_mit_vector)
		r |= json_object_set_new(o, "min_current_mit_vector",
					 mask_json(pol->min_current_mit_vector));
	if (pol->products)
		r |= json_object_set_new(o, "products", products_json(pol->products));
	if (pol->deny_products)
		r |= json_object_set_new(o, "deny_products", products_json(pol->deny_products));
	if (pol->require_policy_bits)
		r |= json_object_set_new(o, "require_policy_bits",
					 bits_json(SNP_BITS_POLICY, pol->require_policy_bits));
	if (pol->forbid_policy_bits)
		r |= json_object_set_new(o, "forbid_policy_bits",
					 bits_json(SNP_BITS_POLICY, pol->forbid_policy_bits));
	if (pol->require_platform_info)
		r |= json_object_set_new(
			o, "require_platform_info",
			bits_json(SNP_BITS_PLATFORM_INFO, pol->require_platform_info));
	if (pol->forbid_platform_info)
		r |= json_object_set_new(
			o, "forbid_platform_info",
			bits_json(SNP_BITS_PLATFORM_INFO, pol->forbid_platform_info));
	r |= json_object_set_new(o, "signer", json_string(snp_signer_name(pol->signer)));
	r |= json_object_set_new(o, "strict_version", json_boolean(pol->strict_version));
	for (int f = 0; f < 2; f++) {
		const struct snp_policy_event *e = f ? pol->forbid_events : pol->require_events;
		size_t n = f ? pol->n_forbid_events : pol->n_require_events;
		json_t *a = n ? json_array() : NULL;

		for (size_t i = 0; a && i < n; i++)
			if (json_array_append_new(a, hex_json(e[i].d, e[i].len)) < 0)
				r = -1;
		if (n)
			r |= json_object_set_new(o, f ? "forbid_events" : "require_events", a);
	}
	if (r) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static void tcb_floor(u64 raw, enum snp_tcb_layout layout, struct snp_min_tcb *m)
{
	snp_tcb_decode(raw, layout, &m->v);
	m->v.rsvd_nonzero = false;
	m->has_bootloader = m->has_tee = m->has_snp = m->has_microcode = true;
	m->has_fmc = layout == SNP_TCB_LAYOUT_TURIN;
}

void snp_policy_from_report(const struct snp_report_info *ri, struct snp_policy *ret)
{
	const struct snp_report *r = &ri->r;
	enum snp_tcb_layout layout = snp_report_tcb_layout(ri);
	u64 policy = le64_to_cpu(r->policy);
	u64 named_policy = 0, named_platform = 0, m;
	u32 sk = snp_report_signing_key(ri);

	memset(ret, 0, sizeof(*ret));
	for (unsigned int b = 0; b < 64; b++) {
		if (snp_bit_name(SNP_BITS_POLICY, b))
			named_policy |= 1ULL << b;
		if (snp_bit_name(SNP_BITS_PLATFORM_INFO, b))
			named_platform |= 1ULL << b;
	}
	ret->has_measurement = true;
	memcpy(ret->measurement, r->measurement, sizeof(ret->measurement));
	ret->has_host_data = true;
	memcpy(ret->host_data, r->host_data, sizeof(ret->host_data));
	ret->n_id_key_digests = 1;
	memcpy(ret->id_key_digests[0], r->id_key_digest, SNP_KEY_DIGEST_SIZE);
	if (le32_to_cpu(r->key_info) & SNP_KEYINFO_AUTHOR_KEY_EN) {
		ret->n_author_key_digests = 1;
		memcpy(ret->author_key_digests[0], r->author_key_digest, SNP_KEY_DIGEST_SIZE);
	}
	ret->has_family_id = true;
	memcpy(ret->family_id, r->family_id, sizeof(ret->family_id));
	ret->has_image_id = true;
	memcpy(ret->image_id, r->image_id, sizeof(ret->image_id));
	ret->has_vmpl = true;
	ret->vmpl = le32_to_cpu(r->vmpl);
	ret->has_min_guest_svn = true;
	ret->min_guest_svn = le32_to_cpu(r->guest_svn);
	ret->allow_debug = policy & SNP_POLICY_DEBUG;
	ret->allow_migrate_ma = policy & SNP_POLICY_MIGRATE_MA;
	ret->deny_smt = !(policy & SNP_POLICY_SMT);
	ret->require_chip_id = !snp_mem_is_zero(r->chip_id, sizeof(r->chip_id));
	ret->has_min_tcb = true;
	tcb_floor(le64_to_cpu(r->reported_tcb), layout, &ret->min_tcb);
	ret->has_min_launch_tcb = true;
	tcb_floor(le64_to_cpu(r->launch_tcb), layout, &ret->min_launch_tcb);
	ret->has_min_fw = true;
	ret->min_fw_major = r->current_major;
	ret->min_fw_minor = r->current_minor;
	ret->min_fw_build = r->current_build;
	ret->allow_provisional = le64_to_cpu(r->current_tcb) != le64_to_cpu(r->committed_tcb) ||
				 r->current_major != r->committed_major ||
				 r->current_minor != r->committed_minor ||
				 r->current_build != r->committed_build;
	if (ri->version >= 5) {
		ret->has_min_launch_mit_vector = true;
		ret->min_launch_mit_vector = le64_to_cpu(r->launch_mit_vector);
		ret->has_min_current_mit_vector = true;
		ret->min_current_mit_vector = le64_to_cpu(r->current_mit_vector);
	}
	if (ri->product != SNP_PRODUCT_UNKNOWN)
		ret->products = SNP_PRODUCT_BIT(ri->product);
	/* the named POLICY bits as found: set ones required, clear ones forbidden */
	ret->require_policy_bits = policy & named_policy;
	ret->forbid_policy_bits = ~policy & named_policy;
	m = le64_to_cpu(r->platform_info);
	ret->require_platform_info = m & named_platform;
	ret->signer = sk == SNP_SIGNING_KEY_VLEK ? SNP_SIGNER_VLEK : SNP_SIGNER_VCEK;
}
