/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parsing, validation and rendering of SEV-SNP attestation reports.
 */
#ifndef SNP_LIB_REPORT_H
#define SNP_LIB_REPORT_H

#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include "kernel/snp-report.h"
#include "lib/util.h"

enum snp_product {
	SNP_PRODUCT_UNKNOWN = 0,
	SNP_PRODUCT_MILAN,
	SNP_PRODUCT_GENOA,
	SNP_PRODUCT_TURIN,
	SNP_PRODUCT_VENICE, /* family 0x1a; layouts taken as Turin's (unconfirmed) */
};

/* Report versions whose layout this verifier knows (snp-abi.md §1.2). */
#define SNP_REPORT_KNOWN_VERSION 5
/*
 * A version beyond this is taken as corruption, not as a newer report:
 * AMD defined versions 2 to 5 in six years.
 */
#define SNP_REPORT_VERSION_SANE_MAX 255

/* How the product of a report was determined. */
enum snp_product_source {
	SNP_PRODUCT_SRC_NONE = 0,
	SNP_PRODUCT_SRC_CPUID,	 /* CPUID_FAM_ID/MOD_ID, v3+ */
	SNP_PRODUCT_SRC_CHIP_ID, /* v2 heuristic: 8-byte chip id => Turin */
	SNP_PRODUCT_SRC_CERT,	 /* VCEK/VLEK productName extension */
	SNP_PRODUCT_SRC_HINT,	 /* the caller said so */
};

const char *snp_product_name(enum snp_product p);
/* Accepts "milan", "Milan-B0", "Genoa", "turin", ... (case-insensitive). */
int snp_product_from_string(const char *s, enum snp_product *ret);
enum snp_product snp_product_from_cpuid(u8 family, u8 model);
enum snp_tcb_layout snp_product_tcb_layout(enum snp_product p);
const char *snp_product_source_name(enum snp_product_source s);
/*
 * true when the product's TCB layout and chip id length are not published
 * by AMD but taken from its predecessor (Venice: Turin's).
 */
bool snp_product_unconfirmed(enum snp_product p);

/* The named bits of guest POLICY (§1.4) and PLATFORM_INFO (§1.5). */
enum snp_bitfield {
	SNP_BITS_POLICY,
	SNP_BITS_PLATFORM_INFO,
};

/* "SINGLE_SOCKET", "TSME_EN", ... or NULL when the bit has no name. */
const char *snp_bit_name(enum snp_bitfield f, unsigned int bit);
/* The bits no ABI version this verifier knows defines. */
u64 snp_bits_unknown(enum snp_bitfield f);
/*
 * Mask of one name (case-insensitive): a bit's name, "bit_N" (N 0..63), or
 * "unknown" for every bit of snp_bits_unknown(). 0 or -EINVAL.
 */
int snp_bit_from_name(enum snp_bitfield f, const char *name, u64 *ret);
/*
 * Parse a comma-separated list of names into a mask. 0, or -EINVAL with the
 * offending name in @err.
 */
int snp_bits_parse_list(enum snp_bitfield f, const char *list, u64 *ret, char *err, size_t errlen);
/*
 * "SMT, DEBUG, unknown bit 40": the bits of @v, by name or as "unknown bit
 * N" (named bits only when @f has a name for them). "none" when @v is 0.
 */
void snp_bits_describe(enum snp_bitfield f, u64 v, char *buf, size_t len);

struct snp_report_info {
	struct snp_report r; /* the received bytes, verbatim */
	u32 version;
	enum snp_product product;
	enum snp_product_source product_source;
};

/*
 * Validate @len bytes of a binary report: size, version, signature
 * algorithm, key info and reserved fields that must be zero for that
 * version. A version newer than SNP_REPORT_KNOWN_VERSION (up to
 * SNP_REPORT_VERSION_SANE_MAX) is parsed with the version-5 layout; the
 * reserved bytes, POLICY bits 63:26 and key info bits 31:5 that version 5
 * reserves are not checked for it (a newer version may define them), see
 * snp_report_version_newer(). On success fills *ret and detects the product from the report
 * alone. On failure returns a negative errno and writes a message naming
 * the problem into @err:
 *   -EMSGSIZE   wrong size
 *   -EPROTONOSUPPORT unknown version
 *   -EBADMSG    a field with a value the ABI does not allow
 */
int snp_report_parse(const u8 *buf, size_t len, struct snp_report_info *ret, char *err,
		     size_t errlen);

/*
 * Like snp_report_parse() but accepts either the 1184 raw bytes or the
 * same as hex text (whitespace allowed).
 */
int snp_report_load(const u8 *buf, size_t len, struct snp_report_info *ret, char *err,
		    size_t errlen);

/* Set the product from a stronger source (hint or certificate). */
void snp_report_set_product(struct snp_report_info *ri, enum snp_product p,
			    enum snp_product_source src);

/* The report's version is newer than this verifier knows. */
static inline bool snp_report_version_newer(const struct snp_report_info *ri)
{
	return ri->version > SNP_REPORT_KNOWN_VERSION;
}

static inline enum snp_tcb_layout snp_report_tcb_layout(const struct snp_report_info *ri)
{
	return snp_product_tcb_layout(ri->product);
}

static inline u32 snp_report_signing_key(const struct snp_report_info *ri)
{
	return (le32_to_cpu(ri->r.key_info) & SNP_KEYINFO_SIGNING_KEY_MASK) >>
	       SNP_KEYINFO_SIGNING_KEY_SHIFT;
}

/* JSON (new reference) with the ABI field names in lower snake case. */
json_t *snp_report_to_json(const struct snp_report_info *ri);
json_t *snp_tcb_to_json(u64 raw, enum snp_tcb_layout layout);

/* Human-readable text. Returns 0 or -errno. */
int snp_report_print_text(FILE *f, const struct snp_report_info *ri);

#endif
