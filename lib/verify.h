/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Verification of an attestation report: the AMD certificate chain, the
 * report signature, REPORTED_TCB and CHIP_ID against the VCEK, and a
 * relying party's policy. Every check is recorded as passed, failed or
 * skipped, with the reason.
 */
#ifndef SNP_LIB_VERIFY_H
#define SNP_LIB_VERIFY_H

#include <stdbool.h>
#include <time.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "lib/report.h"

enum snp_check_kind {
	SNP_CHECK_VERIFY, /* authenticity: chain, signature, TCB, chip */
	SNP_CHECK_POLICY, /* the relying party's expectations */
};

enum snp_check_status {
	SNP_CHECK_PASS,
	SNP_CHECK_FAIL,
	SNP_CHECK_SKIP,
};

struct snp_check {
	const char *name; /* static string */
	enum snp_check_kind kind;
	enum snp_check_status status;
	char detail[384];
};

#define SNP_VERIFY_MAX_CHECKS 48

struct snp_verify_result {
	size_t n;
	struct snp_check checks[SNP_VERIFY_MAX_CHECKS];
	enum snp_product root_product; /* product of the ARK used */
	bool root_pinned;	       /* an AMD ARK pinned in the code */
	bool root_explicit;	       /* an anchor the caller gave */
	bool endorsement_vlek;	       /* the leaf is a VLEK */
};

/*
 * CRL policy (check "crl"). PREFER, the default: a CRL that is available
 * must be signed by the ARK and must not list the ASK/ASVK; a missing CRL
 * skips the check, a CRL past nextUpdate skips it too unless it lists the
 * serial (a machine offline for months still verifies, a revocation it
 * knows of always fails). REQUIRE fails on a missing or stale CRL.
 */
enum snp_crl_mode {
	SNP_CRL_PREFER = 0,
	SNP_CRL_REQUIRE,
	SNP_CRL_OFF,
};

/* Certificates are borrowed; any may be NULL. */
struct snp_verify_input {
	struct snp_report_info *report; /* NULL: check the certificates only */
	X509 *ark;
	X509 *ask;		  /* ASK or ASVK */
	X509 *leaf;		  /* VCEK or VLEK */
	X509 *trust_ark;	  /* explicit trust anchor, or NULL */
	enum snp_product product; /* forced product (TCB layout), or UNKNOWN */
	time_t at;		  /* validity time */
	X509_CRL *crl;		  /* the product's CRL (vcek or vlek), or NULL */
	enum snp_crl_mode crl_mode;
};

int snp_crl_mode_from_string(const char *s, enum snp_crl_mode *ret);

/*
 * Does the signature of @r (ECDSA P-384/SHA-384 over bytes 0x000-0x29f)
 * verify with @key (borrowed)? 1 yes, 0 no, -EINVAL @key is not an ECDSA
 * P-384 key, -ENOMEM out of memory (or an OpenSSL failure). What the
 * "report_sig" check of snp_verify() runs.
 */
int snp_report_sig_verify(const struct snp_report *r, EVP_PKEY *key);

struct snp_min_tcb {
	bool has_fmc, has_bootloader, has_tee, has_snp, has_microcode;
	struct snp_tcb_parts v;
};

/* Which endorsement key may have signed (check "signer"). */
enum snp_signer {
	SNP_SIGNER_ANY = 0,
	SNP_SIGNER_VCEK,
	SNP_SIGNER_VLEK,
};

const char *snp_signer_name(enum snp_signer s);
int snp_signer_from_string(const char *s, enum snp_signer *ret);

/* At most this many accepted ID (or author) key digests. */
#define SNP_POLICY_MAX_DIGESTS 16

/* A set of products as bits (1 << enum snp_product). */
#define SNP_PRODUCT_BIT(p) (1U << (p))

/*
 * A relying party's expectations. Zero-initialised means: nothing
 * expected beyond the defaults (debug, migration agent and provisional
 * firmware refused). Each field belongs to one check.
 */
struct snp_policy {
	bool has_report_data;
	u8 report_data[SNP_REPORT_DATA_SIZE]; /* zero-padded */
	bool has_measurement;
	u8 measurement[SNP_MEASUREMENT_SIZE];
	bool has_host_data;
	u8 host_data[SNP_HOST_DATA_SIZE];
	size_t n_id_key_digests; /* 0: any */
	u8 id_key_digests[SNP_POLICY_MAX_DIGESTS][SNP_KEY_DIGEST_SIZE];
	size_t n_author_key_digests; /* 0: any */
	u8 author_key_digests[SNP_POLICY_MAX_DIGESTS][SNP_KEY_DIGEST_SIZE];
	bool has_family_id;
	u8 family_id[SNP_FAMILY_ID_SIZE];
	bool has_image_id;
	u8 image_id[SNP_IMAGE_ID_SIZE];
	bool has_vmpl;
	u32 vmpl;
	bool has_min_guest_svn;
	u32 min_guest_svn;
	bool allow_debug;
	bool allow_migrate_ma;
	bool deny_smt;
	bool require_chip_id; /* a masked (all-zero) CHIP_ID fails chip_match */
	bool has_min_tcb;
	struct snp_min_tcb min_tcb; /* REPORTED_TCB */
	bool has_min_launch_tcb;
	struct snp_min_tcb min_launch_tcb; /* LAUNCH_TCB */
	bool has_min_fw;
	u8 min_fw_major, min_fw_minor;
	u16 min_fw_build;	/* 0 when not given */
	bool allow_provisional; /* CURRENT ahead of COMMITTED accepted */
	/* mitigation vectors: every bit of the mask must be set */
	bool has_min_launch_mit_vector;
	u64 min_launch_mit_vector;
	bool has_min_current_mit_vector;
	u64 min_current_mit_vector;
	u32 products;	   /* SNP_PRODUCT_BIT()s accepted; 0: any */
	u32 deny_products; /* SNP_PRODUCT_BIT()s refused */
	u64 require_policy_bits, forbid_policy_bits;
	u64 require_platform_info, forbid_platform_info;
	enum snp_signer signer;
	bool strict_version; /* refuse a report newer than the verifier knows */
	/*
	 * Bound evidence (docs/evidence.md): event digests (32, 48 or 64
	 * bytes) that must each be in the log, or none of which may be.
	 * Checked by snpctl on the binding, not by snp_verify().
	 */
	size_t n_require_events, n_forbid_events;
	struct snp_policy_event {
		u8 d[64];
		size_t len;
	} require_events[SNP_POLICY_MAX_DIGESTS], forbid_events[SNP_POLICY_MAX_DIGESTS];
};

/*
 * Run every check that applies and record it in *res. Returns 0 (the
 * verdicts are in *res), or a negative errno for internal failures only.
 */
int snp_verify(const struct snp_verify_input *in, const struct snp_policy *pol,
	       struct snp_verify_result *res);

/*
 * Is a VCEK or VLEK the key that signed a report? What snpd asks before it
 * serves one (CertsDir=, the host's table, the cache, KDS). Certificates
 * are borrowed, any of ask, ark and trust_ark may be NULL.
 */
struct snp_signer_input {
	const struct snp_report_info *report; /* not changed */
	X509 *leaf;			      /* the VCEK or VLEK */
	/* what the leaf must be; ANY: whichever SIGNING_KEY names */
	enum snp_signer kind;
	/*
	 * The product the report is taken to be of: its TCB layout, and the
	 * leaf's productName must be it. UNKNOWN: the report's, or for one
	 * that does not say (version 2) the leaf's productName.
	 */
	enum snp_product product;
	/* both given: they must sign the leaf (check "chain" of snp_verify()) */
	X509 *ask, *ark; /* the ASK or ASVK, and its ARK */
	X509 *trust_ark; /* given with ark: the ARK must be it or an AMD ARK pinned in the code */
	/* an unsigned report (SIGNING_KEY 7) has no signer; else it is not checked */
	bool require_signed;
	/* a masked (all-zero) CHIP_ID fails, as with snp_policy.require_chip_id */
	bool require_chip_id;
};

/*
 * Is @in->leaf the key that signed @in->report? The checks are
 * snp_verify()'s: the report's signature verifies with the leaf's key (an
 * ECDSA P-384 key), SIGNING_KEY names the leaf's kind (a VCEK has a hwID
 * and no cspId, a VLEK the other way round) and so does @in->kind, its SPLs
 * are REPORTED_TCB in the report's TCB layout, a VCEK's hwID is CHIP_ID
 * (not compared when CHIP_ID is masked, unless @in->require_chip_id), its
 * productName is @in->product, and with @in->ask and @in->ark the chain
 * (and with @in->trust_ark the root: check "root_trust"). Not checked:
 * validity dates, the CRL.
 *
 * Returns 0 when it is, else the first that applies of: -ENOMEM;
 * -EKEYREJECTED not the report's signer (the leaf's kind, extensions that
 * do not parse, a key that is not ECDSA P-384 whether or not the report is
 * signed, or a signature that fails with extensions of the report's TCB,
 * chip and product); -EBADMSG the ASK/ARK do not sign it or the ARK is not
 * trusted (also when it is stale besides: a forged leaf is not merely
 * stale); -ESTALE its extensions are another TCB's, chip's or product's (a
 * stale certificate: the firmware derives a key per TCB, so its signature
 * fails as well, as a consequence, and is said too, but does not make it
 * -EKEYREJECTED). Every failure is said in @err ("; " between them), "" on
 * success. Nothing is logged.
 */
int snp_verify_signer(const struct snp_signer_input *in, char *err, size_t errlen);

/* true when no check of @kind failed */
bool snp_verify_result_ok(const struct snp_verify_result *res, enum snp_check_kind kind);
const struct snp_check *snp_verify_result_find(const struct snp_verify_result *res,
					       const char *name);
const char *snp_check_status_name(enum snp_check_status s);
json_t *snp_verify_result_to_json(const struct snp_verify_result *res);

/* Parse "bootloader=N,tee=N,snp=N,microcode=N[,fmc=N]". 0 or -EINVAL. */
int snp_min_tcb_parse(const char *s, struct snp_min_tcb *ret);

#endif
