// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/report.h"
#include "lib/util.h"

static const char *const product_names[] = {
	[SNP_PRODUCT_UNKNOWN] = "unknown", [SNP_PRODUCT_MILAN] = "Milan",
	[SNP_PRODUCT_GENOA] = "Genoa",	   [SNP_PRODUCT_TURIN] = "Turin",
	[SNP_PRODUCT_VENICE] = "Venice",
};

const char *snp_product_name(enum snp_product p)
{
	if ((unsigned int)p >= SNP_ELEMENTSOF(product_names))
		return "unknown";
	return product_names[p];
}

int snp_product_from_string(const char *s, enum snp_product *ret)
{
	for (enum snp_product p = SNP_PRODUCT_MILAN; p <= SNP_PRODUCT_VENICE; p++) {
		size_t n = strlen(product_names[p]);

		/* "Milan", "milan", "Milan-B0", "Genoa-B1", ... */
		if (strncasecmp(s, product_names[p], n) == 0 && (s[n] == '\0' || s[n] == '-')) {
			*ret = p;
			return 0;
		}
	}
	return -EINVAL;
}

enum snp_product snp_product_from_cpuid(u8 family, u8 model)
{
	/*
	 * snp-abi.md §1.8. Genoa's models include the Zen4c parts (Bergamo,
	 * Siena, 0xa0-0xaf), which AMD KDS serves as "Genoa".
	 */
	if (family == 0x19) {
		if (model <= 0x0f)
			return SNP_PRODUCT_MILAN;
		if ((model >= 0x10 && model <= 0x1f) || (model >= 0xa0 && model <= 0xaf))
			return SNP_PRODUCT_GENOA;
	} else if (family == 0x1a) {
		if (model <= 0x11)
			return SNP_PRODUCT_TURIN;
		if ((model >= 0x50 && model <= 0x57) || (model >= 0x90 && model <= 0x9f) ||
		    (model >= 0xa0 && model <= 0xaf) || (model >= 0xc0 && model <= 0xc7))
			return SNP_PRODUCT_VENICE;
	}
	return SNP_PRODUCT_UNKNOWN;
}

enum snp_tcb_layout snp_product_tcb_layout(enum snp_product p)
{
	/* Venice: Turin's layout until AMD publishes otherwise */
	return p == SNP_PRODUCT_TURIN || p == SNP_PRODUCT_VENICE ? SNP_TCB_LAYOUT_TURIN :
								   SNP_TCB_LAYOUT_LEGACY;
}

bool snp_product_unconfirmed(enum snp_product p)
{
	return p == SNP_PRODUCT_VENICE;
}

struct bit_name {
	unsigned int bit;
	const char *name;
};

static const struct bit_name policy_bits[] = {
	{ 16, "SMT" },		 { 18, "MIGRATE_MA" },	      { 19, "DEBUG" },
	{ 20, "SINGLE_SOCKET" }, { 21, "CXL_ALLOW" },	      { 22, "MEM_AES_256_XTS" },
	{ 23, "RAPL_DIS" },	 { 24, "CIPHERTEXT_HIDING" }, { 25, "PAGE_SWAP_DISABLE" },
};

static const struct bit_name platform_bits[] = {
	{ 0, "SMT_EN" },
	{ 1, "TSME_EN" },
	{ 2, "ECC_EN" },
	{ 3, "RAPL_DIS" },
	{ 4, "CIPHERTEXT_HIDING_EN" },
	{ 5, "ALIAS_CHECK_COMPLETE" },
	{ 7, "TIO_EN" },
};

static const struct bit_name *bit_table(enum snp_bitfield f, size_t *ret_n)
{
	if (f == SNP_BITS_POLICY) {
		*ret_n = SNP_ELEMENTSOF(policy_bits);
		return policy_bits;
	}
	*ret_n = SNP_ELEMENTSOF(platform_bits);
	return platform_bits;
}

const char *snp_bit_name(enum snp_bitfield f, unsigned int bit)
{
	size_t n;
	const struct bit_name *t = bit_table(f, &n);

	for (size_t i = 0; i < n; i++)
		if (t[i].bit == bit)
			return t[i].name;
	return NULL;
}

u64 snp_bits_unknown(enum snp_bitfield f)
{
	size_t n;
	const struct bit_name *t = bit_table(f, &n);
	u64 known = 0;

	/* POLICY: ABI_MINOR/ABI_MAJOR (15:0) and the must-be-one bit 17 too */
	if (f == SNP_BITS_POLICY)
		known = SNP_POLICY_ABI_MINOR_MASK | SNP_POLICY_ABI_MAJOR_MASK | SNP_POLICY_RSVD_MBO;
	for (size_t i = 0; i < n; i++)
		known |= 1ULL << t[i].bit;
	return ~known;
}

int snp_bit_from_name(enum snp_bitfield f, const char *name, u64 *ret)
{
	size_t n;
	const struct bit_name *t = bit_table(f, &n);
	u32 bit;

	if (strcasecmp(name, "unknown") == 0) {
		*ret = snp_bits_unknown(f);
		return 0;
	}
	if (strncasecmp(name, "bit_", 4) == 0) {
		if (snp_parse_u32_max(name + 4, 63, &bit) < 0)
			return -EINVAL;
		*ret = 1ULL << bit;
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(name, t[i].name) == 0) {
			*ret = 1ULL << t[i].bit;
			return 0;
		}
	return -EINVAL;
}

int snp_bits_parse_list(enum snp_bitfield f, const char *list, u64 *ret, char *err, size_t errlen)
{
	char buf[512], *save = NULL, *tok;
	u64 mask = 0, m;

	if (strlen(list) >= sizeof(buf)) {
		snprintf(err, errlen, "list longer than %zu characters", sizeof(buf) - 1);
		return -EINVAL;
	}
	strcpy(buf, list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (snp_bit_from_name(f, tok, &m) < 0) {
			snprintf(err, errlen, "unknown %s bit name '%s'",
				 f == SNP_BITS_POLICY ? "POLICY" : "PLATFORM_INFO", tok);
			return -EINVAL;
		}
		mask |= m;
	}
	*ret = mask;
	return 0;
}

void snp_bits_describe(enum snp_bitfield f, u64 v, char *buf, size_t len)
{
	size_t used = 0;

	if (!len)
		return;
	buf[0] = '\0';
	if (!v) {
		snprintf(buf, len, "none");
		return;
	}
	for (unsigned int b = 0; b < 64 && used < len; b++) {
		const char *name;
		int n;

		if (!(v & (1ULL << b)))
			continue;
		name = snp_bit_name(f, b);
		if (name)
			n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", name);
		else
			n = snprintf(buf + used, len - used, "%sunknown bit %u", used ? ", " : "",
				     b);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

const char *snp_product_source_name(enum snp_product_source s)
{
	switch (s) {
	case SNP_PRODUCT_SRC_CPUID:
		return "cpuid";
	case SNP_PRODUCT_SRC_CHIP_ID:
		return "chip_id";
	case SNP_PRODUCT_SRC_CERT:
		return "certificate";
	case SNP_PRODUCT_SRC_HINT:
		return "hint";
	default:
		return "none";
	}
}

static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

static void detect_product(struct snp_report_info *ri)
{
	const struct snp_report *r = &ri->r;

	ri->product = SNP_PRODUCT_UNKNOWN;
	ri->product_source = SNP_PRODUCT_SRC_NONE;
	if (ri->version >= 3) {
		ri->product = snp_product_from_cpuid(r->cpuid_fam_id, r->cpuid_mod_id);
		if (ri->product != SNP_PRODUCT_UNKNOWN)
			ri->product_source = SNP_PRODUCT_SRC_CPUID;
		return;
	}
	/*
	 * v2 carries no CPUID. A chip id whose bytes 8..63 are zero while
	 * 0..7 are not can only come from Turin; Milan and Genoa cannot be
	 * told apart from the report alone.
	 */
	if (snp_mem_is_zero(r->chip_id + SNP_CHIP_ID_TURIN_SIZE,
			    SNP_CHIP_ID_SIZE - SNP_CHIP_ID_TURIN_SIZE) &&
	    !snp_mem_is_zero(r->chip_id, SNP_CHIP_ID_TURIN_SIZE)) {
		ri->product = SNP_PRODUCT_TURIN;
		ri->product_source = SNP_PRODUCT_SRC_CHIP_ID;
	}
}

void snp_report_set_product(struct snp_report_info *ri, enum snp_product p,
			    enum snp_product_source src)
{
	if (p == SNP_PRODUCT_UNKNOWN)
		return;
	ri->product = p;
	ri->product_source = src;
}

int snp_report_parse(const u8 *buf, size_t len, struct snp_report_info *ret, char *err,
		     size_t errlen)
{
	struct snp_report_rsvd_range ranges[SNP_REPORT_RSVD_MAX];
	const struct snp_report *r = (const struct snp_report *)buf;
	u32 version, algo, key_info, signing_key;
	bool newer;
	u64 policy;
	int n;

	if (len != SNP_REPORT_SIZE)
		return fail(err, errlen, -EMSGSIZE, "report is %zu bytes, expected %u", len,
			    SNP_REPORT_SIZE);

	version = le32_to_cpu(r->version);
	if (version < SNP_REPORT_MIN_VERSION || version > SNP_REPORT_VERSION_SANE_MAX)
		return fail(err, errlen, -EPROTONOSUPPORT,
			    "unknown report version %u (supported: 2 to %u; newer versions up to "
			    "%u are read with the version %u layout)",
			    version, SNP_REPORT_KNOWN_VERSION, SNP_REPORT_VERSION_SANE_MAX,
			    SNP_REPORT_KNOWN_VERSION);
	/* what version 5 reserves, a newer version may define */
	newer = version > SNP_REPORT_KNOWN_VERSION;

	key_info = le32_to_cpu(r->key_info);
	if ((key_info & SNP_KEYINFO_RSVD_MBZ) && !newer)
		return fail(err, errlen, -EBADMSG,
			    "reserved bits 31:5 of key info (0x048) are set: 0x%08x", key_info);
	signing_key = (key_info & SNP_KEYINFO_SIGNING_KEY_MASK) >> SNP_KEYINFO_SIGNING_KEY_SHIFT;
	if (signing_key != SNP_SIGNING_KEY_VCEK && signing_key != SNP_SIGNING_KEY_VLEK &&
	    signing_key != SNP_SIGNING_KEY_NONE)
		return fail(err, errlen, -EBADMSG, "reserved SIGNING_KEY value %u in key info",
			    signing_key);

	algo = le32_to_cpu(r->signature_algo);
	if (signing_key != SNP_SIGNING_KEY_NONE && algo != SNP_SIG_ALGO_ECDSA_P384_SHA384)
		return fail(err, errlen, -EBADMSG,
			    "unsupported SIGNATURE_ALGO %u (only 1, ECDSA P-384 with SHA-384)",
			    algo);

	policy = le64_to_cpu(r->policy);
	if (!(policy & SNP_POLICY_RSVD_MBO))
		return fail(err, errlen, -EBADMSG,
			    "guest policy bit 17 must be one (policy 0x%016llx)",
			    (unsigned long long)policy);
	if ((policy & SNP_POLICY_RSVD_MBZ) && !newer)
		return fail(err, errlen, -EBADMSG,
			    "reserved guest policy bits 63:26 are set (policy 0x%016llx)",
			    (unsigned long long)policy);

	if (le32_to_cpu(r->vmpl) > 3)
		return fail(err, errlen, -EBADMSG, "VMPL %u out of range 0..3",
			    le32_to_cpu(r->vmpl));

	n = snp_report_rsvd_ranges(version, ranges);
	for (int i = 0; i < n; i++) {
		/* the signature's reserved tail belongs to SIGNATURE_ALGO 1, not to v5 */
		if (newer && ranges[i].start < offsetof(struct snp_report, signature))
			continue;
		for (unsigned int off = ranges[i].start; off < ranges[i].end; off++)
			if (buf[off])
				return fail(err, errlen, -EBADMSG,
					    "reserved byte 0x%03x (in 0x%03x..0x%03x) is not zero "
					    "for a version %u report",
					    off, ranges[i].start, ranges[i].end - 1, version);
	}
	if ((r->rsvd2 || r->rsvd3) && !newer)
		return fail(err, errlen, -EBADMSG, "reserved byte 0x%03x is not zero",
			    r->rsvd2 ? 0x1eb : 0x1ef);

	if (signing_key == SNP_SIGNING_KEY_NONE &&
	    !snp_mem_is_zero(&r->signature, sizeof(r->signature)))
		return fail(err, errlen, -EBADMSG,
			    "SIGNING_KEY says unsigned (7) but the signature is not zero");

	memcpy(&ret->r, buf, SNP_REPORT_SIZE);
	ret->version = version;
	detect_product(ret);
	return 0;
}

int snp_report_load(const u8 *buf, size_t len, struct snp_report_info *ret, char *err,
		    size_t errlen)
{
	u8 bin[SNP_REPORT_SIZE];
	ssize_t n;

	if (len == SNP_REPORT_SIZE)
		return snp_report_parse(buf, len, ret, err, errlen);

	/* hex text? only if it looks like it */
	n = snp_hex_decode((const char *)buf, len, bin, sizeof(bin), true);
	if (n == -ENOBUFS)
		return fail(err, errlen, -EMSGSIZE,
			    "report is too long: hex text of more than %u bytes", SNP_REPORT_SIZE);
	if (n < 0)
		return fail(err, errlen, -EMSGSIZE,
			    "report is %zu bytes, expected %u (or %u bytes as hex text)", len,
			    SNP_REPORT_SIZE, 2 * SNP_REPORT_SIZE);
	return snp_report_parse(bin, (size_t)n, ret, err, errlen);
}
