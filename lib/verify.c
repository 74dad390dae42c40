// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "lib/util.h"
#include "lib/verify.h"
#include "lib/x509-amd.h"

#define AMD_PSS_SALT_LEN 48
#define AMD_CA_RSA_BITS	 4096

static struct snp_check *add(struct snp_verify_result *res, const char *name,
			     enum snp_check_kind kind, enum snp_check_status st, const char *fmt,
			     ...) __attribute__((format(printf, 5, 6)));

static struct snp_check *add(struct snp_verify_result *res, const char *name,
			     enum snp_check_kind kind, enum snp_check_status st, const char *fmt,
			     ...)
{
	struct snp_check *c;
	va_list ap;

	if (res->n >= SNP_VERIFY_MAX_CHECKS)
		return NULL;
	c = &res->checks[res->n++];
	c->name = name;
	c->kind = kind;
	c->status = st;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
	return c;
}

/* Append "; ..." to a check's detail; a failure makes the check fail. */
static void amend(struct snp_check *c, bool failed, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void amend(struct snp_check *c, bool failed, const char *fmt, ...)
{
	va_list ap;

	if (!c)
		return;
	if (failed && c->status != SNP_CHECK_FAIL) {
		/* the first failure leads the detail */
		c->status = SNP_CHECK_FAIL;
		c->detail[0] = '\0';
	} else if (!failed && c->status == SNP_CHECK_FAIL) {
		return;
	}
	va_start(ap, fmt);
	snp_vappendf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
}

const char *snp_check_status_name(enum snp_check_status s)
{
	switch (s) {
	case SNP_CHECK_PASS:
		return "passed";
	case SNP_CHECK_FAIL:
		return "failed";
	default:
		return "skipped";
	}
}

/*
 * The certificate's signature algorithm must be RSASSA-PSS with SHA-384,
 * MGF1 with SHA-384, salt length 48 and trailer field 1. Returns NULL when
 * it is, or a static description of what is wrong.
 */
static const char *pss_params_problem(X509 *cert)
{
	const X509_ALGOR *alg = NULL, *mgf_hash = NULL;
	const ASN1_BIT_STRING *sig = NULL;
	const ASN1_OBJECT *obj;
	const void *pval;
	const ASN1_STRING *seq;
	RSA_PSS_PARAMS *pss;
	const u8 *p;
	const char *why = NULL;
	X509_ALGOR *mgf_param = NULL;
	int ptype;

	X509_get0_signature(&sig, &alg, cert);
	X509_ALGOR_get0(&obj, &ptype, &pval, alg);
	if (OBJ_obj2nid(obj) != NID_rsassaPss)
		return "signature algorithm is not RSASSA-PSS";
	if (ptype != V_ASN1_SEQUENCE || !pval)
		return "RSASSA-PSS parameters missing";
	seq = pval;
	p = ASN1_STRING_get0_data(seq);
	pss = d2i_RSA_PSS_PARAMS(NULL, &p, ASN1_STRING_length(seq));
	if (!pss)
		return "RSASSA-PSS parameters malformed";

	if (!pss->hashAlgorithm || OBJ_obj2nid(pss->hashAlgorithm->algorithm) != NID_sha384)
		why = "PSS hash is not SHA-384";
	else if (!pss->maskGenAlgorithm ||
		 OBJ_obj2nid(pss->maskGenAlgorithm->algorithm) != NID_mgf1)
		why = "PSS mask generation is not MGF1";
	else if (!pss->saltLength || ASN1_INTEGER_get(pss->saltLength) != AMD_PSS_SALT_LEN)
		why = "PSS salt length is not 48";
	else if (pss->trailerField && ASN1_INTEGER_get(pss->trailerField) != 1)
		why = "PSS trailer field is not 1";
	if (!why) {
		const ASN1_TYPE *t = pss->maskGenAlgorithm->parameter;

		if (!t || t->type != V_ASN1_SEQUENCE) {
			why = "MGF1 hash missing";
		} else {
			p = ASN1_STRING_get0_data(t->value.sequence);
			mgf_param = d2i_X509_ALGOR(NULL, &p, ASN1_STRING_length(t->value.sequence));
			mgf_hash = mgf_param;
			if (!mgf_hash || OBJ_obj2nid(mgf_hash->algorithm) != NID_sha384)
				why = "MGF1 hash is not SHA-384";
		}
	}
	X509_ALGOR_free(mgf_param);
	RSA_PSS_PARAMS_free(pss);
	return why;
}

/* Is @child signed by @issuer the way AMD signs (see above)? */
static bool check_signed_by(X509 *child, X509 *issuer, const char *child_name,
			    const char *issuer_name, struct snp_check *c)
{
	EVP_PKEY *key = X509_get0_pubkey(issuer);
	const char *why;
	int r;

	why = pss_params_problem(child);
	if (why) {
		amend(c, true, "%s: %s", child_name, why);
		return false;
	}
	if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
		amend(c, true, "%s key is not RSA", issuer_name);
		return false;
	}
	if (EVP_PKEY_get_bits(key) != AMD_CA_RSA_BITS) {
		amend(c, true, "%s key is RSA-%d, expected RSA-%d", issuer_name,
		      EVP_PKEY_get_bits(key), AMD_CA_RSA_BITS);
		return false;
	}
	r = X509_check_issued(issuer, child);
	if (r != X509_V_OK) {
		amend(c, true, "%s was not issued by %s: %s", child_name, issuer_name,
		      X509_verify_cert_error_string(r));
		return false;
	}
	if (X509_verify(child, key) != 1) {
		ERR_clear_error();
		amend(c, true, "%s signature does not verify with the %s key", child_name,
		      issuer_name);
		return false;
	}
	amend(c, false, "%s signed by %s (RSASSA-PSS SHA-384 salt 48)", child_name, issuer_name);
	return true;
}

static void check_root(const struct snp_verify_input *in, struct snp_verify_result *res)
{
	u8 fp[32], tfp[32];
	char hex[65];

	if (!in->ark) {
		add(res, "root_trust", SNP_CHECK_VERIFY, SNP_CHECK_FAIL, "no ARK given");
		return;
	}
	snp_x509_fingerprint(in->ark, fp);
	snp_hex_encode(fp, 32, hex);
	if (in->trust_ark) {
		snp_x509_fingerprint(in->trust_ark, tfp);
		if (memcmp(fp, tfp, 32) == 0) {
			res->root_explicit = true;
			add(res, "root_trust", SNP_CHECK_VERIFY, SNP_CHECK_PASS,
			    "ARK sha256:%s is the explicitly given trust anchor (NOT an AMD "
			    "root pinned in snpctl)",
			    hex);
			return;
		}
	}
	res->root_product = snp_ark_pinned_product(fp);
	if (res->root_product != SNP_PRODUCT_UNKNOWN) {
		res->root_pinned = true;
		add(res, "root_trust", SNP_CHECK_VERIFY, SNP_CHECK_PASS,
		    "ARK is AMD's pinned ARK-%s (sha256:%s)", snp_product_name(res->root_product),
		    hex);
		return;
	}
	add(res, "root_trust", SNP_CHECK_VERIFY, SNP_CHECK_FAIL,
	    "untrusted root: ARK sha256:%s is not a pinned AMD ARK%s", hex,
	    in->trust_ark ? " and not the given trust anchor" : " (use --trust-ark to trust it)");
}

static void check_chain(const struct snp_verify_input *in, const struct snp_amd_ext *ext,
			struct snp_verify_result *res)
{
	struct snp_check *c;
	char ark_cn[64], ask_cn[64];
	enum snp_product ark_p, leaf_p;

	c = add(res, "chain", SNP_CHECK_VERIFY, SNP_CHECK_PASS, "%s", "");
	if (!in->ark || !in->ask || !in->leaf) {
		amend(c, true, "incomplete chain: %s%s%s missing", in->ark ? "" : "ARK ",
		      in->ask ? "" : "ASK ", in->leaf ? "" : "VCEK/VLEK");
		return;
	}
	snp_x509_cn(in->ark, false, ark_cn, sizeof(ark_cn));
	snp_x509_cn(in->ask, false, ask_cn, sizeof(ask_cn));
	check_signed_by(in->ark, in->ark, ark_cn[0] ? ark_cn : "ARK", "itself", c);
	check_signed_by(in->ask, in->ark, ask_cn[0] ? ask_cn : "ASK", ark_cn[0] ? ark_cn : "ARK",
			c);
	check_signed_by(in->leaf, in->ask, res->endorsement_vlek ? "VLEK" : "VCEK",
			ask_cn[0] ? ask_cn : "ASK", c);

	if (res->endorsement_vlek != (strncmp(ask_cn, "SEV-VLEK-", 9) == 0))
		amend(c, true, "%s issuer %s does not match the endorsement kind",
		      res->endorsement_vlek ? "VLEK" : "VCEK", ask_cn);

	/* the leaf's product must be the ARK's */
	ark_p = snp_product_from_ca_cn(ark_cn);
	if (ext->has_product_name && snp_product_from_string(ext->product_name, &leaf_p) == 0 &&
	    ark_p != SNP_PRODUCT_UNKNOWN && leaf_p != ark_p)
		amend(c, true, "endorsement key is for %s but the ARK is %s", ext->product_name,
		      ark_cn);
}

static void check_validity(const struct snp_verify_input *in, struct snp_verify_result *res)
{
	X509 *certs[3] = { in->ark, in->ask, in->leaf };
	const char *names[3] = { "ARK", "ASK", res->endorsement_vlek ? "VLEK" : "VCEK" };
	struct snp_check *c;
	char when[32];
	struct tm tm;
	time_t at = in->at;

	gmtime_r(&at, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	c = add(res, "validity", SNP_CHECK_VERIFY, SNP_CHECK_PASS, "all certificates valid at %s",
		when);
	for (int i = 0; i < 3; i++) {
		if (!certs[i])
			continue;
		if (X509_cmp_time(X509_get0_notBefore(certs[i]), &at) > 0)
			amend(c, true, "%s is not valid before its notBefore (checked at %s)",
			      names[i], when);
		else if (X509_cmp_time(X509_get0_notAfter(certs[i]), &at) < 0)
			amend(c, true, "%s expired before %s (use --at to check at another time)",
			      names[i], when);
	}
}

/* Is @key an EC key on secp384r1 (P-384)? */
static bool key_is_p384(EVP_PKEY *key)
{
	char group[64];
	size_t glen = 0;
	bool ok = key && EVP_PKEY_get_base_id(key) == EVP_PKEY_EC &&
		  EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
						 sizeof(group), &glen) == 1 &&
		  strcmp(group, SN_secp384r1) == 0;

	ERR_clear_error();
	return ok;
}

int snp_report_sig_verify(const struct snp_report *r, EVP_PKEY *key)
{
	EVP_MD_CTX *md = NULL;
	ECDSA_SIG *sig = NULL;
	BIGNUM *br = NULL, *bs = NULL;
	u8 *der = NULL;
	int derlen, v, ret = -ENOMEM;

	if (!key_is_p384(key))
		return -EINVAL;
	br = BN_lebin2bn(r->signature.r, sizeof(r->signature.r), NULL);
	bs = BN_lebin2bn(r->signature.s, sizeof(r->signature.s), NULL);
	sig = ECDSA_SIG_new();
	if (!br || !bs || !sig || ECDSA_SIG_set0(sig, br, bs) != 1)
		goto out;
	br = bs = NULL;
	derlen = i2d_ECDSA_SIG(sig, &der);
	md = EVP_MD_CTX_new();
	if (derlen <= 0 || !md || EVP_DigestVerifyInit(md, NULL, EVP_sha384(), NULL, key) != 1)
		goto out;
	v = EVP_DigestVerify(md, der, (size_t)derlen, (const u8 *)r, SNP_REPORT_SIGNED_LEN);
	ret = v == 1 ? 1 : 0;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	ECDSA_SIG_free(sig);
	BN_free(br);
	BN_free(bs);
	return ret;
}

/* ECDSA P-384 / SHA-384 over bytes 0..0x29f, R and S little-endian. */
static void check_signature(const struct snp_verify_input *in, struct snp_verify_result *res)
{
	EVP_PKEY *key = in->leaf ? X509_get0_pubkey(in->leaf) : NULL;
	int v;

	if (snp_report_signing_key(in->report) == SNP_SIGNING_KEY_NONE) {
		add(res, "report_sig", SNP_CHECK_VERIFY, SNP_CHECK_FAIL,
		    "the report is unsigned (SIGNING_KEY = 7)");
		return;
	}
	if (!key) {
		add(res, "report_sig", SNP_CHECK_VERIFY, SNP_CHECK_FAIL, "no VCEK/VLEK given");
		return;
	}
	v = snp_report_sig_verify(&in->report->r, key);
	if (v == -EINVAL)
		add(res, "report_sig", SNP_CHECK_VERIFY, SNP_CHECK_FAIL,
		    "endorsement key is not ECDSA P-384");
	else if (v == 1)
		add(res, "report_sig", SNP_CHECK_VERIFY, SNP_CHECK_PASS,
		    "ECDSA P-384/SHA-384 signature over bytes 0x000-0x29f verifies with the %s",
		    res->endorsement_vlek ? "VLEK" : "VCEK");
	else if (v == 0)
		add(res, "report_sig", SNP_CHECK_VERIFY, SNP_CHECK_FAIL,
		    "ECDSA P-384 report signature does NOT verify with the %s",
		    res->endorsement_vlek ? "VLEK" : "VCEK");
	else
		add(res, "report_sig", SNP_CHECK_VERIFY, SNP_CHECK_FAIL,
		    "could not check the signature (out of memory or OpenSSL error)");
}

static void check_signing_key(const struct snp_verify_input *in, struct snp_verify_result *res)
{
	u32 sk = snp_report_signing_key(in->report);
	u32 want = res->endorsement_vlek ? SNP_SIGNING_KEY_VLEK : SNP_SIGNING_KEY_VCEK;

	if (sk == want)
		add(res, "signing_key", SNP_CHECK_VERIFY, SNP_CHECK_PASS,
		    "SIGNING_KEY = %u names the %s that was given", sk,
		    res->endorsement_vlek ? "VLEK" : "VCEK");
	else
		add(res, "signing_key", SNP_CHECK_VERIFY, SNP_CHECK_FAIL,
		    "SIGNING_KEY = %u but the endorsement certificate is a %s", sk,
		    res->endorsement_vlek ? "VLEK" : "VCEK");
}

static void check_tcb(const struct snp_verify_input *in, const struct snp_amd_ext *ext,
		      struct snp_verify_result *res)
{
	enum snp_tcb_layout layout = snp_report_tcb_layout(in->report);
	u64 raw = le64_to_cpu(in->report->r.reported_tcb);
	static const struct {
		int spl;
		const char *name;
	} parts[] = {
		{ SNP_SPL_BOOTLOADER, "bootloader" },
		{ SNP_SPL_TEE, "tee" },
		{ SNP_SPL_SNP, "snp" },
		{ SNP_SPL_MICROCODE, "microcode" },
		{ SNP_SPL_FMC, "fmc" },
	};
	struct snp_tcb_parts p;
	struct snp_check *c;
	long got[SNP_AMD_SPL_MAX + 1] = { 0 };
	bool other_tcb = false;

	snp_tcb_decode(raw, layout, &p);
	got[SNP_SPL_BOOTLOADER] = p.bootloader;
	got[SNP_SPL_TEE] = p.tee;
	got[SNP_SPL_SNP] = p.snp;
	got[SNP_SPL_MICROCODE] = p.microcode;
	got[SNP_SPL_FMC] = p.fmc;

	c = add(res, "tcb_match", SNP_CHECK_VERIFY, SNP_CHECK_PASS,
		"REPORTED_TCB 0x%016llx (%s layout) equals the certificate's SPLs",
		(unsigned long long)raw, layout == SNP_TCB_LAYOUT_TURIN ? "Turin" : "Milan/Genoa");
	for (size_t i = 0; i < SNP_ELEMENTSOF(parts); i++) {
		int s = parts[i].spl;
		bool in_report = s != SNP_SPL_FMC || layout == SNP_TCB_LAYOUT_TURIN;

		if (!ext->has_spl[s]) {
			if (in_report)
				amend(c, true, "certificate has no %s SPL extension",
				      parts[i].name);
			continue;
		}
		if (!in_report) {
			amend(c, true,
			      "certificate carries an fmc SPL but the report's TCB layout has none");
			continue;
		}
		if (ext->spl[s] != got[s]) {
			amend(c, true, "%s: report %ld, certificate %ld", parts[i].name, got[s],
			      ext->spl[s]);
			other_tcb = true;
		}
	}
	if (other_tcb)
		amend(c, true,
		      "the certificate is for another TCB (stale host certificates? the "
		      "report's own is at KDS: snpctl collateral fetch)");
	if (p.rsvd_nonzero)
		amend(c, true, "reserved bytes of REPORTED_TCB are not zero");
	/* legacy reserved SPLs .3.4-.3.7, when present, must match too (zero) */
	for (int s = 4; s <= 7; s++)
		if (ext->has_spl[s] && ext->spl[s] != 0 && layout == SNP_TCB_LAYOUT_LEGACY)
			amend(c, true, "reserved SPL .3.%d is %ld, report has 0", s, ext->spl[s]);
}

/*
 * A platform configured with MASK_CHIP_ID writes an all-zero CHIP_ID
 * (snp-abi.md §1.6): the report is then not bound to a chip, which is no
 * forgery, so chip_match is skipped with that reason, unless the relying
 * party requires a chip id (--require-chip-id).
 */
static void check_chip(const struct snp_verify_input *in, const struct snp_policy *pol,
		       const struct snp_amd_ext *ext, struct snp_verify_result *res)
{
	const u8 *chip = in->report->r.chip_id;
	bool masked = snp_mem_is_zero(chip, SNP_CHIP_ID_SIZE);

	if (masked && pol && pol->require_chip_id) {
		add(res, "chip_match", SNP_CHECK_VERIFY, SNP_CHECK_FAIL,
		    "CHIP_ID is masked by the platform (all zero), and a chip id is required "
		    "(--require-chip-id)");
		return;
	}
	if (res->endorsement_vlek) {
		add(res, "chip_match", SNP_CHECK_VERIFY, SNP_CHECK_SKIP,
		    "a VLEK carries no hwID (not chip specific)");
		return;
	}
	if (!ext->has_hwid) {
		add(res, "chip_match", SNP_CHECK_VERIFY, SNP_CHECK_FAIL,
		    "VCEK has no hwID extension");
		return;
	}
	if (masked) {
		add(res, "chip_match", SNP_CHECK_VERIFY, SNP_CHECK_SKIP,
		    "CHIP_ID is masked by the platform (MASK_CHIP_ID: all zero), the report is "
		    "not bound to a chip (--require-chip-id to refuse)");
		return;
	}
	if (memcmp(chip, ext->hwid, ext->hwid_len) != 0 ||
	    !snp_mem_is_zero(chip + ext->hwid_len, SNP_CHIP_ID_SIZE - ext->hwid_len))
		add(res, "chip_match", SNP_CHECK_VERIFY, SNP_CHECK_FAIL,
		    "CHIP_ID does not match the VCEK's %zu-byte hwID", ext->hwid_len);
	else
		add(res, "chip_match", SNP_CHECK_VERIFY, SNP_CHECK_PASS,
		    "CHIP_ID equals the VCEK's %zu-byte hwID%s", ext->hwid_len,
		    ext->hwid_len < SNP_CHIP_ID_SIZE ? " followed by zeros" : "");
}

static void check_bytes(struct snp_verify_result *res, const char *name, bool has, const u8 *want,
			const u8 *got, size_t n, const char *what)
{
	char hw[2 * 64 + 1], hg[2 * 64 + 1];

	if (!has) {
		add(res, name, SNP_CHECK_POLICY, SNP_CHECK_SKIP, "no expected %s given", what);
		return;
	}
	snp_hex_encode(got, n, hg);
	if (memcmp(want, got, n) == 0) {
		add(res, name, SNP_CHECK_POLICY, SNP_CHECK_PASS, "%s matches", what);
		return;
	}
	snp_hex_encode(want, n, hw);
	add(res, name, SNP_CHECK_POLICY, SNP_CHECK_FAIL, "%s is %s, expected %s", what, hg, hw);
}

/* One of @n accepted digests (check "id_key_digest", "author_key_digest"). */
static void check_digest_set(struct snp_verify_result *res, const char *name, size_t n,
			     const u8 (*want)[SNP_KEY_DIGEST_SIZE], const u8 *got, const char *what,
			     const char *opt)
{
	char hg[2 * SNP_KEY_DIGEST_SIZE + 1];

	snp_hex_encode(got, SNP_KEY_DIGEST_SIZE, hg);
	if (!n) {
		add(res, name, SNP_CHECK_POLICY, SNP_CHECK_SKIP, "no accepted %s given (%s)", what,
		    opt);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (memcmp(want[i], got, SNP_KEY_DIGEST_SIZE) == 0) {
			add(res, name, SNP_CHECK_POLICY, SNP_CHECK_PASS,
			    "%s is accepted digest %zu of %zu", what, i + 1, n);
			return;
		}
	add(res, name, SNP_CHECK_POLICY, SNP_CHECK_FAIL, "%s %s is none of the %zu accepted", what,
	    hg, n);
}

/* REPORTED_TCB or LAUNCH_TCB against a minimum, part by part. */
static void check_min_tcb(struct snp_verify_result *res, const char *name, const char *field,
			  bool has, const struct snp_min_tcb *m, u64 raw,
			  enum snp_tcb_layout layout, const char *opt)
{
	struct snp_tcb_parts p;
	struct snp_check *c;

	if (!has) {
		add(res, name, SNP_CHECK_POLICY, SNP_CHECK_SKIP, "no minimum %s given (%s)", field,
		    opt);
		return;
	}
	snp_tcb_decode(raw, layout, &p);
	c = add(res, name, SNP_CHECK_POLICY, SNP_CHECK_PASS, "%s meets the minimum", field);
#define MIN_PART(part)                                                                             \
	do {                                                                                       \
		if (m->has_##part && p.part < m->v.part)                                           \
			amend(c, true, "%s " #part " %u is below the minimum %u", field, p.part,   \
			      m->v.part);                                                          \
	} while (0)
	MIN_PART(bootloader);
	MIN_PART(tee);
	MIN_PART(snp);
	MIN_PART(microcode);
#undef MIN_PART
	if (m->has_fmc) {
		if (layout != SNP_TCB_LAYOUT_TURIN)
			amend(c, true, "fmc minimum given but the %s has no fmc SVN", field);
		else if (p.fmc < m->v.fmc)
			amend(c, true, "%s fmc %u is below the minimum %u", field, p.fmc, m->v.fmc);
	}
}

/* Every bit of @min must be set in a version-5 mitigation vector. */
static void check_mit_vector(struct snp_verify_result *res, const struct snp_report_info *ri,
			     const char *name, const char *field, bool has, u64 min, u64 got,
			     const char *opt)
{
	if (!has) {
		if (ri->version >= 5)
			add(res, name, SNP_CHECK_POLICY, SNP_CHECK_SKIP,
			    "no minimum %s given (%s); the report's is 0x%016llx", field, opt,
			    (unsigned long long)got);
		else
			add(res, name, SNP_CHECK_POLICY, SNP_CHECK_SKIP,
			    "no minimum %s given (%s); a version %u report has none", field, opt,
			    ri->version);
		return;
	}
	if (ri->version < 5) {
		add(res, name, SNP_CHECK_POLICY, SNP_CHECK_FAIL,
		    "a version %u report carries no %s (version 5 and later), minimum 0x%016llx "
		    "required",
		    ri->version, field, (unsigned long long)min);
		return;
	}
	if ((got & min) == min)
		add(res, name, SNP_CHECK_POLICY, SNP_CHECK_PASS,
		    "%s 0x%016llx has every bit of the minimum 0x%016llx", field,
		    (unsigned long long)got, (unsigned long long)min);
	else
		add(res, name, SNP_CHECK_POLICY, SNP_CHECK_FAIL,
		    "%s 0x%016llx lacks bits 0x%016llx of the minimum 0x%016llx", field,
		    (unsigned long long)got, (unsigned long long)(min & ~got),
		    (unsigned long long)min);
}

/*
 * Required and forbidden bits of POLICY or PLATFORM_INFO, by name; bits no
 * known ABI version defines are named "unknown bit N" and refused only when
 * the policy forbids "unknown".
 */
static void check_bits(struct snp_verify_result *res, const char *name, enum snp_bitfield f, u64 v,
		       u64 require, u64 forbid, const char *opts)
{
	const char *field = f == SNP_BITS_POLICY ? "POLICY" : "PLATFORM_INFO";
	u64 unknown = v & snp_bits_unknown(f);
	char set[512], bad[512], unk[256];
	struct snp_check *c;

	snp_bits_describe(f,
			  v & ~(f == SNP_BITS_POLICY ?
					SNP_POLICY_ABI_MINOR_MASK | SNP_POLICY_ABI_MAJOR_MASK |
						SNP_POLICY_RSVD_MBO :
					0),
			  set, sizeof(set));
	if (unknown)
		snp_bits_describe(f, unknown, unk, sizeof(unk));
	if (!require && !forbid) {
		add(res, name, SNP_CHECK_POLICY, SNP_CHECK_SKIP,
		    "no required or forbidden %s bits given (%s); set: %s%s", field, opts, set,
		    unknown ? " (bits no known ABI version defines; forbid \"unknown\" to refuse)" :
			      "");
		return;
	}
	c = add(res, name, SNP_CHECK_POLICY, SNP_CHECK_PASS,
		"%s has every required bit and no "
		"forbidden one; set: %s",
		field, set);
	if (require & ~v) {
		snp_bits_describe(f, require & ~v, bad, sizeof(bad));
		amend(c, true, "required %s bits not set: %s", field, bad);
	}
	if (forbid & v) {
		snp_bits_describe(f, forbid & v, bad, sizeof(bad));
		amend(c, true, "forbidden %s bits set: %s", field, bad);
	}
}

/*
 * Provisional firmware: CURRENT_TCB or the firmware version differs from
 * (is ahead of) COMMITTED. The host can still roll back to the committed
 * firmware, so go-sev-guest refuses it unless permitted; so does this.
 */
static void check_provisional(struct snp_verify_result *res, const struct snp_report_info *ri,
			      const struct snp_policy *pol)
{
	const struct snp_report *r = &ri->r;
	enum snp_tcb_layout layout = snp_report_tcb_layout(ri);
	u64 cur = le64_to_cpu(r->current_tcb), com = le64_to_cpu(r->committed_tcb);
	struct snp_tcb_parts pc, pm;
	char why[256] = "";
	size_t used = 0;
	bool fw_same = r->current_major == r->committed_major &&
		       r->current_minor == r->committed_minor &&
		       r->current_build == r->committed_build;

	if (cur == com && fw_same) {
		add(res, "provisional", SNP_CHECK_POLICY, SNP_CHECK_PASS,
		    "CURRENT_TCB equals COMMITTED_TCB and firmware %u.%u build %u is committed",
		    r->current_major, r->current_minor, r->current_build);
		return;
	}
	snp_tcb_decode(cur, layout, &pc);
	snp_tcb_decode(com, layout, &pm);
#define PART(part)                                                                                 \
	do {                                                                                       \
		if (pc.part != pm.part && used < sizeof(why))                                      \
			used += (size_t)snprintf(why + used, sizeof(why) - used,                   \
						 "%s" #part " %u (committed %u)",                  \
						 used ? ", " : "", pc.part, pm.part);              \
	} while (0)
	if (layout == SNP_TCB_LAYOUT_TURIN)
		PART(fmc);
	PART(bootloader);
	PART(tee);
	PART(snp);
	PART(microcode);
#undef PART
	if (cur != com && !used)
		snprintf(why, sizeof(why), "0x%016llx (committed 0x%016llx)",
			 (unsigned long long)cur, (unsigned long long)com);
	if (pol->allow_provisional)
		add(res, "provisional", SNP_CHECK_POLICY, SNP_CHECK_PASS,
		    "provisional firmware accepted (--allow-provisional): CURRENT_TCB %s, firmware "
		    "%u.%u build %u (committed %u.%u build %u)",
		    cur == com ? "= COMMITTED_TCB" : why, r->current_major, r->current_minor,
		    r->current_build, r->committed_major, r->committed_minor, r->committed_build);
	else
		add(res, "provisional", SNP_CHECK_POLICY, SNP_CHECK_FAIL,
		    "provisional firmware, not committed (the host can roll back): CURRENT_TCB "
		    "%s, firmware %u.%u build %u (committed %u.%u build %u); --allow-provisional "
		    "to accept",
		    cur == com ? "= COMMITTED_TCB" : why, r->current_major, r->current_minor,
		    r->current_build, r->committed_major, r->committed_minor, r->committed_build);
}

static void product_list(u32 set, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (enum snp_product p = SNP_PRODUCT_MILAN; p <= SNP_PRODUCT_VENICE && used < len; p++)
		if (set & SNP_PRODUCT_BIT(p)) {
			int n = snprintf(buf + used, len - used, "%s%s", used ? "," : "",
					 snp_product_name(p));

			if (n < 0)
				break;
			used += (size_t)n;
		}
}

static void check_product(struct snp_verify_result *res, const struct snp_report_info *ri,
			  const struct snp_policy *pol)
{
	const char *name = snp_product_name(ri->product);
	u32 bit = SNP_PRODUCT_BIT(ri->product);
	char allow[64], deny[64], what[192];

	snprintf(what, sizeof(what), "product %s (from %s%s)", name,
		 snp_product_source_name(ri->product_source),
		 snp_product_unconfirmed(ri->product) ?
			 "; TCB layout and chip id length taken as Turin's, unconfirmed" :
			 "");
	product_list(pol->products, allow, sizeof(allow));
	product_list(pol->deny_products, deny, sizeof(deny));
	if (pol->deny_products & bit)
		add(res, "product", SNP_CHECK_POLICY, SNP_CHECK_FAIL, "%s is denied (deny list %s)",
		    what, deny);
	else if (pol->products && ri->product == SNP_PRODUCT_UNKNOWN)
		add(res, "product", SNP_CHECK_POLICY, SNP_CHECK_FAIL,
		    "the product is unknown (give --product), accepted products %s", allow);
	else if (pol->products && !(pol->products & bit))
		add(res, "product", SNP_CHECK_POLICY, SNP_CHECK_FAIL,
		    "%s is not an accepted product (%s)", what, allow);
	else if (pol->products)
		add(res, "product", SNP_CHECK_POLICY, SNP_CHECK_PASS, "%s is accepted (%s)", what,
		    allow);
	else if (pol->deny_products)
		add(res, "product", SNP_CHECK_POLICY, SNP_CHECK_PASS, "%s is not denied (%s)", what,
		    deny);
	else
		add(res, "product", SNP_CHECK_POLICY, SNP_CHECK_SKIP,
		    "%s; no accepted or denied products given (--products, --deny-products)", what);
}

static void check_signer(struct snp_verify_result *res, const struct snp_report_info *ri,
			 const struct snp_policy *pol)
{
	u32 sk = snp_report_signing_key(ri);
	const char *got = sk == SNP_SIGNING_KEY_VCEK ? "VCEK" :
			  sk == SNP_SIGNING_KEY_VLEK ? "VLEK" :
						       "no key (unsigned)";

	if (pol->signer == SNP_SIGNER_ANY)
		add(res, "signer", SNP_CHECK_POLICY, SNP_CHECK_PASS,
		    "signed by the %s (VCEK or VLEK accepted: --signer any)", got);
	else if ((pol->signer == SNP_SIGNER_VCEK && sk == SNP_SIGNING_KEY_VCEK) ||
		 (pol->signer == SNP_SIGNER_VLEK && sk == SNP_SIGNING_KEY_VLEK))
		add(res, "signer", SNP_CHECK_POLICY, SNP_CHECK_PASS,
		    "signed by the %s, as required", got);
	else
		add(res, "signer", SNP_CHECK_POLICY, SNP_CHECK_FAIL,
		    "signed by the %s, but only the %s is accepted (--signer)", got,
		    pol->signer == SNP_SIGNER_VCEK ? "VCEK" : "VLEK");
}

static void check_version(struct snp_verify_result *res, const struct snp_report_info *ri,
			  const struct snp_policy *pol)
{
	if (!snp_report_version_newer(ri))
		add(res, "report_version", SNP_CHECK_POLICY, SNP_CHECK_PASS,
		    "version %u, a layout the verifier knows", ri->version);
	else if (pol->strict_version)
		add(res, "report_version", SNP_CHECK_POLICY, SNP_CHECK_FAIL,
		    "version %u is newer than the verifier knows (%u), refused (--strict-version)",
		    ri->version, SNP_REPORT_KNOWN_VERSION);
	else
		add(res, "report_version", SNP_CHECK_POLICY, SNP_CHECK_PASS,
		    "note: version %u is newer than the verifier knows (%u): read with the "
		    "version %u layout, fields added since are neither shown nor checked "
		    "(--strict-version to refuse)",
		    ri->version, SNP_REPORT_KNOWN_VERSION, SNP_REPORT_KNOWN_VERSION);
}

static void check_policy(const struct snp_verify_input *in, const struct snp_policy *pol,
			 struct snp_verify_result *res)
{
	const struct snp_report_info *ri = in->report;
	const struct snp_report *r = &ri->r;
	u64 policy = le64_to_cpu(r->policy);
	enum snp_tcb_layout layout = snp_report_tcb_layout(ri);

	check_version(res, ri, pol);
	check_product(res, ri, pol);
	check_signer(res, ri, pol);
	check_bytes(res, "report_data", pol->has_report_data, pol->report_data, r->report_data,
		    SNP_REPORT_DATA_SIZE, "REPORT_DATA");
	check_bytes(res, "measurement", pol->has_measurement, pol->measurement, r->measurement,
		    SNP_MEASUREMENT_SIZE, "MEASUREMENT");
	check_bytes(res, "host_data", pol->has_host_data, pol->host_data, r->host_data,
		    SNP_HOST_DATA_SIZE, "HOST_DATA");
	check_digest_set(res, "id_key_digest", pol->n_id_key_digests,
			 (const u8(*)[SNP_KEY_DIGEST_SIZE])pol->id_key_digests, r->id_key_digest,
			 "ID_KEY_DIGEST", "--id-key-digest");
	check_digest_set(res, "author_key_digest", pol->n_author_key_digests,
			 (const u8(*)[SNP_KEY_DIGEST_SIZE])pol->author_key_digests,
			 r->author_key_digest, "AUTHOR_KEY_DIGEST", "--author-key-digest");
	check_bytes(res, "family_id", pol->has_family_id, pol->family_id, r->family_id,
		    SNP_FAMILY_ID_SIZE, "FAMILY_ID");
	check_bytes(res, "image_id", pol->has_image_id, pol->image_id, r->image_id,
		    SNP_IMAGE_ID_SIZE, "IMAGE_ID");

	if (!pol->has_vmpl)
		add(res, "vmpl", SNP_CHECK_POLICY, SNP_CHECK_SKIP, "no expected VMPL given");
	else if (le32_to_cpu(r->vmpl) == pol->vmpl)
		add(res, "vmpl", SNP_CHECK_POLICY, SNP_CHECK_PASS, "VMPL is %u", pol->vmpl);
	else
		add(res, "vmpl", SNP_CHECK_POLICY, SNP_CHECK_FAIL, "VMPL is %u, expected %u",
		    le32_to_cpu(r->vmpl), pol->vmpl);

	if (!pol->has_min_guest_svn)
		add(res, "guest_svn", SNP_CHECK_POLICY, SNP_CHECK_SKIP,
		    "no minimum GUEST_SVN given (--min-guest-svn); the report's is %u",
		    le32_to_cpu(r->guest_svn));
	else if (le32_to_cpu(r->guest_svn) >= pol->min_guest_svn)
		add(res, "guest_svn", SNP_CHECK_POLICY, SNP_CHECK_PASS,
		    "GUEST_SVN %u meets the minimum %u", le32_to_cpu(r->guest_svn),
		    pol->min_guest_svn);
	else
		add(res, "guest_svn", SNP_CHECK_POLICY, SNP_CHECK_FAIL,
		    "GUEST_SVN %u is below the minimum %u", le32_to_cpu(r->guest_svn),
		    pol->min_guest_svn);

	if (!(policy & SNP_POLICY_DEBUG))
		add(res, "debug", SNP_CHECK_POLICY, SNP_CHECK_PASS,
		    "guest policy forbids debugging");
	else if (pol->allow_debug)
		add(res, "debug", SNP_CHECK_POLICY, SNP_CHECK_PASS,
		    "guest policy allows debugging (accepted: --allow-debug)");
	else
		add(res, "debug", SNP_CHECK_POLICY, SNP_CHECK_FAIL,
		    "guest policy allows debugging: the host can read guest memory "
		    "(use --allow-debug to accept)");

	if (!(policy & SNP_POLICY_MIGRATE_MA))
		add(res, "migrate_ma", SNP_CHECK_POLICY, SNP_CHECK_PASS,
		    "no migration agent allowed");
	else if (pol->allow_migrate_ma)
		add(res, "migrate_ma", SNP_CHECK_POLICY, SNP_CHECK_PASS,
		    "migration agent allowed (accepted: --allow-migration-agent)");
	else
		add(res, "migrate_ma", SNP_CHECK_POLICY, SNP_CHECK_FAIL,
		    "guest policy allows a migration agent (use --allow-migration-agent to "
		    "accept)");

	if (!(policy & SNP_POLICY_SMT))
		add(res, "smt", SNP_CHECK_POLICY, SNP_CHECK_PASS, "guest policy forbids SMT");
	else if (pol->deny_smt)
		add(res, "smt", SNP_CHECK_POLICY, SNP_CHECK_FAIL,
		    "guest policy allows SMT (--deny-smt)");
	else
		add(res, "smt", SNP_CHECK_POLICY, SNP_CHECK_PASS, "guest policy allows SMT");

	check_bits(res, "policy_bits", SNP_BITS_POLICY, policy, pol->require_policy_bits,
		   pol->forbid_policy_bits, "--require-policy-bits, --forbid-policy-bits");
	check_bits(res, "platform_info", SNP_BITS_PLATFORM_INFO, le64_to_cpu(r->platform_info),
		   pol->require_platform_info, pol->forbid_platform_info,
		   "--require-platform-info, --forbid-platform-info");

	check_min_tcb(res, "min_tcb", "REPORTED_TCB", pol->has_min_tcb, &pol->min_tcb,
		      le64_to_cpu(r->reported_tcb), layout, "--min-tcb");
	check_min_tcb(res, "min_launch_tcb", "LAUNCH_TCB", pol->has_min_launch_tcb,
		      &pol->min_launch_tcb, le64_to_cpu(r->launch_tcb), layout, "--min-launch-tcb");

	if (!pol->has_min_fw) {
		add(res, "min_firmware", SNP_CHECK_POLICY, SNP_CHECK_SKIP,
		    "no minimum firmware version given");
	} else {
		u32 have = (u32)r->current_major << 16 | (u32)r->current_minor << 8;
		u32 want = (u32)pol->min_fw_major << 16 | (u32)pol->min_fw_minor << 8;
		bool ok = have > want || (have == want && r->current_build >= pol->min_fw_build);

		add(res, "min_firmware", SNP_CHECK_POLICY, ok ? SNP_CHECK_PASS : SNP_CHECK_FAIL,
		    "firmware %u.%u build %u %s the minimum %u.%u build %u", r->current_major,
		    r->current_minor, r->current_build, ok ? "meets" : "is below",
		    pol->min_fw_major, pol->min_fw_minor, pol->min_fw_build);
	}
	check_provisional(res, ri, pol);
	check_mit_vector(res, ri, "launch_mit_vector", "LAUNCH_MIT_VECTOR",
			 pol->has_min_launch_mit_vector, pol->min_launch_mit_vector,
			 le64_to_cpu(r->launch_mit_vector), "--min-launch-mit-vector");
	check_mit_vector(res, ri, "current_mit_vector", "CURRENT_MIT_VECTOR",
			 pol->has_min_current_mit_vector, pol->min_current_mit_vector,
			 le64_to_cpu(r->current_mit_vector), "--min-current-mit-vector");
}

const char *snp_signer_name(enum snp_signer s)
{
	return s == SNP_SIGNER_VCEK ? "vcek" : s == SNP_SIGNER_VLEK ? "vlek" : "any";
}

int snp_signer_from_string(const char *s, enum snp_signer *ret)
{
	if (strcmp(s, "any") == 0)
		*ret = SNP_SIGNER_ANY;
	else if (strcmp(s, "vcek") == 0)
		*ret = SNP_SIGNER_VCEK;
	else if (strcmp(s, "vlek") == 0)
		*ret = SNP_SIGNER_VLEK;
	else
		return -EINVAL;
	return 0;
}

int snp_crl_mode_from_string(const char *s, enum snp_crl_mode *ret)
{
	if (strcmp(s, "prefer") == 0)
		*ret = SNP_CRL_PREFER;
	else if (strcmp(s, "require") == 0)
		*ret = SNP_CRL_REQUIRE;
	else if (strcmp(s, "off") == 0)
		*ret = SNP_CRL_OFF;
	else
		return -EINVAL;
	return 0;
}

/* The ASK/ASVK is not on the ARK's CRL; the CRL is the ARK's and current. */
static void check_crl(const struct snp_verify_input *in, struct snp_verify_result *res)
{
	bool req = in->crl_mode == SNP_CRL_REQUIRE;
	enum snp_check_status miss = req ? SNP_CHECK_FAIL : SNP_CHECK_SKIP;
	const char *ica = res->endorsement_vlek ? "ASVK" : "ASK";
	X509_REVOKED *rev = NULL;
	EVP_PKEY *key;
	char serial[80] = "?", when[32] = "none";
	time_t at = in->at;
	BIGNUM *bn;

	if (in->crl_mode == SNP_CRL_OFF) {
		add(res, "crl", SNP_CHECK_VERIFY, SNP_CHECK_SKIP, "CRL check disabled (--crl=off)");
		return;
	}
	if (!in->crl) {
		add(res, "crl", SNP_CHECK_VERIFY, miss, "no CRL available%s",
		    req ? " (--crl=require)" : "");
		return;
	}
	if (!in->ark || !in->ask) {
		add(res, "crl", SNP_CHECK_VERIFY, SNP_CHECK_FAIL, "no ARK/%s to check the CRL",
		    ica);
		return;
	}
	key = X509_get0_pubkey(in->ark);
	if (X509_NAME_cmp(X509_CRL_get_issuer(in->crl), X509_get_subject_name(in->ark)) != 0) {
		add(res, "crl", SNP_CHECK_VERIFY, SNP_CHECK_FAIL,
		    "the CRL was not issued by the ARK");
		return;
	}
	if (X509_CRL_get_signature_nid(in->crl) != NID_rsassaPss || !key ||
	    X509_CRL_verify(in->crl, key) != 1) {
		ERR_clear_error();
		add(res, "crl", SNP_CHECK_VERIFY, SNP_CHECK_FAIL,
		    "the CRL is not signed by the ARK with RSASSA-PSS");
		return;
	}
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(in->ask), NULL);
	if (bn) {
		char *h = BN_bn2hex(bn);

		if (h)
			snprintf(serial, sizeof(serial), "%s", h);
		OPENSSL_free(h);
		BN_free(bn);
	}
	if (X509_CRL_get0_by_serial(in->crl, &rev, X509_get0_serialNumber(in->ask)) == 1) {
		add(res, "crl", SNP_CHECK_VERIFY, SNP_CHECK_FAIL,
		    "%s serial %s is REVOKED on the ARK's CRL", ica, serial);
		return;
	}
	if (!snp_crl_current(in->crl, at, NULL, when, sizeof(when))) {
		add(res, "crl", SNP_CHECK_VERIFY, miss,
		    "%s serial %s not on the CRL, but the CRL is not current (nextUpdate %s)", ica,
		    serial, when);
		return;
	}
	add(res, "crl", SNP_CHECK_VERIFY, SNP_CHECK_PASS,
	    "%s serial %s not revoked (CRL signed by the ARK, current until %s)", ica, serial,
	    when);
}

int snp_verify(const struct snp_verify_input *in, const struct snp_policy *pol,
	       struct snp_verify_result *res)
{
	struct snp_amd_ext ext = { 0 };
	char err[SNP_ERRBUF];
	bool ext_ok = true;

	memset(res, 0, sizeof(*res));
	if (in->leaf) {
		if (snp_amd_ext_parse(in->leaf, &ext, err, sizeof(err)) < 0) {
			ext_ok = false;
			add(res, "extensions", SNP_CHECK_VERIFY, SNP_CHECK_FAIL,
			    "endorsement certificate: %s", err);
		}
		/* a VLEK has a cspId and no hwID; a VCEK the other way round */
		res->endorsement_vlek = ext.has_csp_id && !ext.has_hwid;
	}

	check_root(in, res);
	check_chain(in, &ext, res);
	check_validity(in, res);
	check_crl(in, res);

	if (!in->report) {
		add(res, "report_sig", SNP_CHECK_VERIFY, SNP_CHECK_SKIP, "no report given");
		return 0;
	}
	/* Product: forced by the caller, else the report, else the certificate. */
	if (in->product != SNP_PRODUCT_UNKNOWN) {
		snp_report_set_product(in->report, in->product, SNP_PRODUCT_SRC_HINT);
	} else if (in->report->product_source != SNP_PRODUCT_SRC_CPUID && ext.has_product_name) {
		enum snp_product p;

		if (snp_product_from_string(ext.product_name, &p) == 0)
			snp_report_set_product(in->report, p, SNP_PRODUCT_SRC_CERT);
	}

	check_signature(in, res);
	if (in->leaf) {
		check_signing_key(in, res);
		if (ext_ok) {
			check_tcb(in, &ext, res);
			check_chip(in, pol, &ext, res);
		}
	}
	check_policy(in, pol, res);
	return 0;
}

static const struct snp_check *check_failed(const struct snp_verify_result *res, const char *name)
{
	const struct snp_check *c = snp_verify_result_find(res, name);

	return c && c->status == SNP_CHECK_FAIL ? c : NULL;
}

/* The leaf's SPLs as a TCB of layout @l; false when one is missing. */
static bool leaf_tcb(const struct snp_amd_ext *ext, enum snp_tcb_layout l, u64 *ret)
{
	struct snp_tcb_parts p = { 0 };

	if (!ext->has_spl[SNP_SPL_BOOTLOADER] || !ext->has_spl[SNP_SPL_TEE] ||
	    !ext->has_spl[SNP_SPL_SNP] || !ext->has_spl[SNP_SPL_MICROCODE] ||
	    (l == SNP_TCB_LAYOUT_TURIN && !ext->has_spl[SNP_SPL_FMC]))
		return false;
	p.bootloader = (u8)ext->spl[SNP_SPL_BOOTLOADER];
	p.tee = (u8)ext->spl[SNP_SPL_TEE];
	p.snp = (u8)ext->spl[SNP_SPL_SNP];
	p.microcode = (u8)ext->spl[SNP_SPL_MICROCODE];
	if (l == SNP_TCB_LAYOUT_TURIN)
		p.fmc = (u8)ext->spl[SNP_SPL_FMC];
	*ret = snp_tcb_encode(&p, l);
	return true;
}

/*
 * The worse of two results of snp_verify_signer(): a leaf that is not the
 * report's signer at all, then one whose chain or root is not trusted (a
 * forged leaf of another TCB is not "stale"), then a stale one.
 */
static int signer_worse(int a, int b)
{
	static const int order[] = { -ENOMEM, -EKEYREJECTED, -EBADMSG, -ESTALE };

	for (size_t i = 0; i < SNP_ELEMENTSOF(order); i++)
		if (a == order[i] || b == order[i])
			return order[i];
	return 0;
}

int snp_verify_signer(const struct snp_signer_input *in, char *err, size_t errlen)
{
	u32 sk = snp_report_signing_key(in->report);
	bool signed_ = sk == SNP_SIGNING_KEY_VCEK || sk == SNP_SIGNING_KEY_VLEK;
	bool chain = in->ask && in->ark;
	struct snp_report_info ri = *in->report; /* snp_verify() sets its product */
	struct snp_verify_input vin = {
		.report = &ri,
		.ark = chain ? in->ark : NULL,
		.ask = chain ? in->ask : NULL,
		.leaf = in->leaf,
		.trust_ark = chain ? in->trust_ark : NULL,
		.product = in->product,
		.at = time(NULL), /* validity is not looked at */
		.crl_mode = SNP_CRL_OFF,
	};
	struct snp_verify_result *res = NULL;
	struct snp_policy *pol = NULL;
	const struct snp_check *c;
	struct snp_amd_ext ext;
	enum snp_product leaf_p, want_p;
	bool ext_ok, vlek, p384;
	u64 tcb;
	int r = 0;

	if (err && errlen)
		err[0] = '\0';
	if (!in->leaf) {
		snp_appendf(err, errlen, "%s", "no VCEK/VLEK given");
		return -EKEYREJECTED;
	}
	/* unparsable: snp_verify() says what is wrong (check "extensions") */
	ext_ok = snp_amd_ext_parse(in->leaf, &ext, NULL, 0) == 0;
	if (!ext_ok)
		memset(&ext, 0, sizeof(ext));
	if (ext_ok && ext.has_hwid == ext.has_csp_id) {
		snp_appendf(err, errlen, "%s",
			    "neither a VCEK (a hwID, no cspId) nor a VLEK (a cspId, no hwID)");
		r = signer_worse(r, -EKEYREJECTED);
	}
	vlek = ext.has_csp_id && !ext.has_hwid;
	if (ext_ok &&
	    ((in->kind == SNP_SIGNER_VCEK && vlek) || (in->kind == SNP_SIGNER_VLEK && !vlek))) {
		snp_appendf(err, errlen, "a %s, not a %s", vlek ? "VLEK" : "VCEK",
			    vlek ? "VCEK" : "VLEK");
		r = signer_worse(r, -EKEYREJECTED);
	}

	res = malloc(sizeof(*res));
	pol = calloc(1, sizeof(*pol));
	if (!res || !pol) {
		r = -ENOMEM;
		snp_appendf(err, errlen, "%s", "cannot check it (out of memory)");
		goto out;
	}
	pol->require_chip_id = in->require_chip_id;
	if (snp_verify(&vin, pol, res) < 0) {
		r = -ENOMEM;
		snp_appendf(err, errlen, "%s", "cannot check it (out of memory)");
		goto out;
	}

	if ((c = check_failed(res, "extensions"))) {
		snp_appendf(err, errlen, "%s", c->detail);
		r = signer_worse(r, -EKEYREJECTED);
	}
	/* no VCEK or VLEK has another key, signed report or not */
	p384 = key_is_p384(X509_get0_pubkey(in->leaf));
	if (!p384) {
		snp_appendf(err, errlen, "%s", "its key is not ECDSA P-384");
		r = signer_worse(r, -EKEYREJECTED);
	}
	if (!signed_ && in->require_signed) {
		snp_appendf(err, errlen, "the report is unsigned (SIGNING_KEY %u)", sk);
		r = signer_worse(r, -EKEYREJECTED);
	}
	if (signed_ && (c = check_failed(res, "signing_key"))) {
		snp_appendf(err, errlen, "%s", c->detail);
		r = signer_worse(r, -EKEYREJECTED);
	}
	/* the product asked for, else the one the report says (CPUID, v3+) */
	want_p = in->product;
	if (want_p == SNP_PRODUCT_UNKNOWN && ri.product_source == SNP_PRODUCT_SRC_CPUID)
		want_p = ri.product;
	if (want_p != SNP_PRODUCT_UNKNOWN &&
	    (!ext.has_product_name || snp_product_from_string(ext.product_name, &leaf_p) < 0 ||
	     leaf_p != want_p)) {
		snp_appendf(err, errlen, "a %s of %s, not of %s", vlek ? "VLEK" : "VCEK",
			    ext.has_product_name ? ext.product_name : "no known product",
			    snp_product_name(want_p));
		r = signer_worse(r, -ESTALE);
	}
	if ((c = check_failed(res, "tcb_match"))) {
		if (leaf_tcb(&ext, snp_report_tcb_layout(&ri), &tcb))
			snp_appendf(err, errlen,
				    "its TCB 0x%016llx is not the report's REPORTED_TCB 0x%016llx",
				    (unsigned long long)tcb,
				    (unsigned long long)le64_to_cpu(ri.r.reported_tcb));
		else
			snp_appendf(err, errlen, "its TCB is not the report's REPORTED_TCB (%s)",
				    c->detail);
		r = signer_worse(r, -ESTALE);
	}
	if ((c = check_failed(res, "chip_match"))) {
		snp_appendf(err, errlen, "%s%s", c->detail,
			    snp_mem_is_zero(ri.r.chip_id, SNP_CHIP_ID_SIZE) ?
				    "" :
				    " (a VCEK of another chip)");
		r = signer_worse(r, -ESTALE);
	}
	/*
	 * The firmware derives a VCEK (the KDS a VLEK) per TCB: a leaf of
	 * another TCB, chip or product is another key, and its signature
	 * fails too. "Stale" is then the cause, the signature its effect.
	 */
	if (signed_ && p384 && (c = check_failed(res, "report_sig"))) {
		const char *why = strstr(c->detail, "could not") ?
					  "the report's signature could not be checked" :
					  "the report's signature does not verify with its key";

		snp_appendf(err, errlen, "%s", why);
		if (r != -ESTALE)
			r = signer_worse(r, -EKEYREJECTED);
	}
	if (chain && (c = check_failed(res, "chain"))) {
		snp_appendf(err, errlen, "its ASK/ASVK and ARK do not sign it (%s)", c->detail);
		r = signer_worse(r, -EBADMSG);
	}
	if (chain && in->trust_ark && (c = check_failed(res, "root_trust"))) {
		snp_appendf(err, errlen, "%s", c->detail);
		r = signer_worse(r, -EBADMSG);
	}
out:
	ERR_clear_error();
	free(res);
	free(pol);
	return r;
}

bool snp_verify_result_ok(const struct snp_verify_result *res, enum snp_check_kind kind)
{
	for (size_t i = 0; i < res->n; i++)
		if (res->checks[i].kind == kind && res->checks[i].status == SNP_CHECK_FAIL)
			return false;
	return true;
}

const struct snp_check *snp_verify_result_find(const struct snp_verify_result *res,
					       const char *name)
{
	for (size_t i = 0; i < res->n; i++)
		if (strcmp(res->checks[i].name, name) == 0)
			return &res->checks[i];
	return NULL;
}

json_t *snp_verify_result_to_json(const struct snp_verify_result *res)
{
	json_t *arr = json_array();

	if (!arr)
		return NULL;
	for (size_t i = 0; i < res->n; i++) {
		const struct snp_check *c = &res->checks[i];
		json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "name", c->name, "kind",
				      c->kind == SNP_CHECK_VERIFY ? "verify" : "policy", "result",
				      snp_check_status_name(c->status), "detail", c->detail);

		if (!o || json_array_append_new(arr, o) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

int snp_min_tcb_parse(const char *s, struct snp_min_tcb *ret)
{
	struct snp_min_tcb m = { 0 };
	char buf[256], *save = NULL, *tok;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		u32 v;

		if (!eq)
			return -EINVAL;
		*eq = '\0';
		if (snp_parse_u32_max(eq + 1, 255, &v) < 0)
			return -EINVAL;
#define PART(field)                                                                                \
	if (strcmp(tok, #field) == 0) {                                                            \
		if (m.has_##field)                                                                 \
			return -EINVAL;                                                            \
		m.has_##field = true;                                                              \
		m.v.field = (u8)v;                                                                 \
		continue;                                                                          \
	}
		PART(bootloader)
		PART(tee)
		PART(snp)
		PART(microcode)
		PART(fmc)
#undef PART
		return -EINVAL;
	}
	if (!m.has_bootloader && !m.has_tee && !m.has_snp && !m.has_microcode && !m.has_fmc)
		return -EINVAL;
	*ret = m;
	return 0;
}
