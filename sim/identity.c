// SPDX-License-Identifier: Apache-2.0
/*
 * Chip identity of the simulated platform: a certificate chain shaped
 * like AMD's Key Distribution Service's, field for field.
 *
 *   ARK   RSA-4096, self-signed          CN=ARK-<Product>
 *   ASK   RSA-4096, signed by the ARK    CN=SEV-<Product>
 *   VCEK  ECDSA P-384, signed by the ASK CN=SEV-VCEK, AMD extensions
 *   ASVK  RSA-4096, signed by the ARK    CN=SEV-VLEK-<Product>   (optional)
 *   VLEK  ECDSA P-384, signed by the ASVK CN=SEV-VLEK             (optional)
 *
 * As in the genuine certificates of testdata/real (snp-abi.md §7.2, §9):
 * the names are AMD's to the letter (OU, C, L, ST, O, CN in that order,
 * UTF8String except C); every signature is RSASSA-PSS with SHA-384,
 * MGF1-SHA-384 and a 48-byte salt; the ARK carries KU, SKI, BC, CRL DP;
 * ASK/ASVK SKI, AKI (key id), BC (pathlen 0), KU (keyCertSign), CRL DP,
 * with the KDS CRL URL of the product; CA serials are small, leaf serials
 * 0; CAs are valid 25 years, a VCEK 7 and a VLEK 1. The VCEK carries the
 * AMD extensions in KDS order: on Milan/Genoa structVersion 0,
 * productName ("Milan-B0", "Genoa"), SPLs .3.1 .3.2 .3.4-.3.7 .3.3 .3.8,
 * hwID (64 bare bytes); on Turin structVersion 1, productName "Turin",
 * .3.9 (FMC) .3.1 .3.2 .3.3 .3.5-.3.7 .3.8, hwID (8 bare bytes). A VLEK
 * has the product alone as productName and cspId instead of hwID.
 *
 * What marks the chip as simulated is not a name: its keys (no AMD root
 * signs them, so no verifier trusts the ARK unless told to) and its
 * CHIP_ID, which starts with "SIMULATD" (sim/README.md).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "lib/util.h"
#include "sim/sim.h"

#define AMD_ORG	       "Advanced Micro Devices"
#define AMD_KDS_URL    "https://kdsintf.amd.com"
#define SIM_CA_YEARS   25
#define SIM_VCEK_YEARS 7
#define SIM_VLEK_YEARS 1
#define AMD_OID_ARC    "1.3.6.1.4.1.3704.1"

static X509_NAME *make_name(const char *cn)
{
	X509_NAME *n = X509_NAME_new();
	static const struct {
		const char *f, *v;
	} parts[] = {
		{ "OU", "Engineering" }, { "C", "US" },	   { "L", "Santa Clara" },
		{ "ST", "CA" },		 { "O", AMD_ORG },
	};

	if (!n)
		return NULL;
	/* UTF8String everywhere but countryName (PrintableString), as AMD's */
	for (size_t i = 0; i < SNP_ELEMENTSOF(parts); i++)
		if (!X509_NAME_add_entry_by_txt(n, parts[i].f,
						strcmp(parts[i].f, "C") == 0 ?
							V_ASN1_PRINTABLESTRING :
							V_ASN1_UTF8STRING,
						(const unsigned char *)parts[i].v, -1, -1, 0))
			goto fail;
	if (!X509_NAME_add_entry_by_txt(n, "CN", V_ASN1_UTF8STRING, (const unsigned char *)cn, -1,
					-1, 0))
		goto fail;
	return n;
fail:
	X509_NAME_free(n);
	return NULL;
}

static int add_conf_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -EIO;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -EIO;
}

/* An extension whose extnValue holds @der verbatim. */
static int add_raw_ext(X509 *x, const char *oid, const u8 *der, size_t len)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext = NULL;
	int r = -EIO;

	if (!obj || !os || !ASN1_OCTET_STRING_set(os, der, (int)len))
		goto out;
	ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
	if (ext && X509_add_ext(x, ext, -1))
		r = 0;
out:
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(obj);
	return r;
}

/* DER INTEGER of a small non-negative value (0x00 prefix when the top bit is set). */
static size_t der_uint(u8 *out, u32 v)
{
	u8 be[5];
	size_t n = 0, i;

	be[0] = 0;
	for (i = 0; i < 4; i++)
		be[1 + i] = (u8)(v >> (24 - 8 * i));
	/* skip leading zeros, keep one if the next byte has the top bit set */
	i = 0;
	while (i < 4 && be[i] == 0 && !(be[i + 1] & 0x80))
		i++;
	out[n++] = 0x02;
	out[n++] = (u8)(5 - i);
	memcpy(out + n, be + i, 5 - i);
	return n + 5 - i;
}

static int add_int_ext(X509 *x, const char *suffix, u32 v)
{
	char oid[64];
	u8 der[8];

	snprintf(oid, sizeof(oid), AMD_OID_ARC ".%s", suffix);
	return add_raw_ext(x, oid, der, der_uint(der, v));
}

static int add_ia5_ext(X509 *x, const char *suffix, const char *s)
{
	char oid[64];
	u8 der[130];
	size_t len = strlen(s);

	if (len > 127)
		return -EINVAL;
	der[0] = 0x16;
	der[1] = (u8)len;
	memcpy(der + 2, s, len);
	snprintf(oid, sizeof(oid), AMD_OID_ARC ".%s", suffix);
	return add_raw_ext(x, oid, der, len + 2);
}

/*
 * RSASSA-PSS-params of AMD's certificates: SHA-384, MGF1-SHA-384, salt 48,
 * and on the KDS CAs (ARK, ASK, ASVK) also the default trailerField 1
 * spelled out, which OpenSSL would leave out; so the AlgorithmIdentifier
 * is set here and the TBSCertificate signed by hand.
 */
static const u8 pss_params_der[] = {
	0x30,
	0x34,
	0xa0,
	0x0f,
	0x30,
	0x0d,
	0x06,
	0x09,
	0x60,
	0x86,
	0x48,
	0x01,
	0x65,
	0x03,
	0x04,
	0x02,
	0x02,
	0x05,
	0x00,
	0xa1,
	0x1c,
	0x30,
	0x1a,
	0x06,
	0x09,
	0x2a,
	0x86,
	0x48,
	0x86,
	0xf7,
	0x0d,
	0x01,
	0x01,
	0x08,
	0x30,
	0x0d,
	0x06,
	0x09,
	0x60,
	0x86,
	0x48,
	0x01,
	0x65,
	0x03,
	0x04,
	0x02,
	0x02,
	0x05,
	0x00,
	0xa2,
	0x03,
	0x02,
	0x01,
	0x30,
	/* trailerField [3] INTEGER 1, only with explicit_trailer */
	0xa3,
	0x03,
	0x02,
	0x01,
	0x01,
};

static int set_pss_algor(X509_ALGOR *alg, bool explicit_trailer)
{
	u8 der[sizeof(pss_params_der)];
	size_t len = explicit_trailer ? sizeof(der) : sizeof(der) - 5;
	ASN1_STRING *seq = ASN1_STRING_new();

	memcpy(der, pss_params_der, sizeof(der));
	der[1] = (u8)(len - 2);
	if (!seq || !ASN1_STRING_set(seq, der, (int)len) ||
	    !X509_ALGOR_set0(alg, OBJ_nid2obj(NID_rsassaPss), V_ASN1_SEQUENCE, seq)) {
		ASN1_STRING_free(seq);
		return -EIO;
	}
	return 0;
}

static int sign_pss(X509 *x, EVP_PKEY *key, bool explicit_trailer)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	const ASN1_BIT_STRING *csig;
	const X509_ALGOR *calg;
	ASN1_BIT_STRING *sig;
	u8 *tbs = NULL, *out = NULL;
	size_t outlen = 0;
	int tbslen, r = -EIO;

	if (!md)
		return -ENOMEM;
	/*
	 * Both AlgorithmIdentifiers (TBSCertificate and Certificate). OpenSSL
	 * has no setter for them other than its own signing, which writes
	 * its own parameters: the getters' pointers are the certificate's.
	 */
	X509_get0_signature(&csig, &calg, x);
	if (set_pss_algor((X509_ALGOR *)X509_get0_tbs_sigalg(x), explicit_trailer) < 0 ||
	    set_pss_algor((X509_ALGOR *)calg, explicit_trailer) < 0)
		goto out;
	tbslen = i2d_re_X509_tbs(x, &tbs);
	if (tbslen <= 0)
		goto out;
	if (EVP_DigestSignInit(md, &pctx, EVP_sha384(), NULL, key) != 1)
		goto out;
	if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 48) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha384()) <= 0)
		goto out;
	if (EVP_DigestSign(md, NULL, &outlen, tbs, (size_t)tbslen) != 1)
		goto out;
	out = OPENSSL_malloc(outlen);
	if (!out || EVP_DigestSign(md, out, &outlen, tbs, (size_t)tbslen) != 1)
		goto out;
	sig = (ASN1_BIT_STRING *)csig;
	if (!ASN1_BIT_STRING_set(sig, out, (int)outlen))
		goto out;
	/* no unused bits */
	sig->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
	sig->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	r = 0;
out:
	OPENSSL_free(out);
	OPENSSL_free(tbs);
	EVP_MD_CTX_free(md);
	return r;
}

/* notBefore one day ago (clock skew), notAfter @years calendar years later. */
static int set_validity(X509 *x, int years)
{
	time_t now = time(NULL) - 86400, end;
	struct tm tm;

	if (!gmtime_r(&now, &tm))
		return -EIO;
	tm.tm_year += years;
	end = timegm(&tm);
	if (end == (time_t)-1)
		return -EIO;
	if (!X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &now) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), 0, 0, &end))
		return -EIO;
	return 0;
}

/*
 * A certificate skeleton: version 3, serial, validity, names, key. KDS
 * serials: 0 for a VCEK/VLEK; for a CA a small positive number (AMD's are
 * 0xP0000 ARK, 0xP000n ASK, 0xP0101 ASVK); the simulator uses the same
 * three-byte shape with random low bits, so it never repeats AMD's.
 */
static X509 *cert_new(EVP_PKEY *key, const char *cn, X509 *issuer, bool zero_serial, int years)
{
	X509 *x = X509_new();
	X509_NAME *name = make_name(cn);
	u8 serial[3];
	bool ok = false;

	if (!x || !name)
		goto out;
	if (!X509_set_version(x, X509_VERSION_3))
		goto out;
	if (zero_serial) {
		if (!ASN1_INTEGER_set(X509_get_serialNumber(x), 0))
			goto out;
	} else {
		if (RAND_bytes(serial, sizeof(serial)) != 1)
			goto out;
		serial[0] = (u8)((serial[0] & 0x07) | 0x04);
		if (!ASN1_INTEGER_set(X509_get_serialNumber(x),
				      (long)serial[0] << 16 | serial[1] << 8 | serial[2]))
			goto out;
	}
	if (set_validity(x, years) < 0)
		goto out;
	if (!X509_set_subject_name(x, name) ||
	    !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name))
		goto out;
	if (!X509_set_pubkey(x, key))
		goto out;
	ok = true;
out:
	X509_NAME_free(name);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static int add_ca_exts(X509 *x, X509 *issuer, bool root, const char *crl_kind, const char *product)
{
	char crl[160];
	int r;

	/* AMD's CRL distribution point for the product, as in the genuine CAs */
	snprintf(crl, sizeof(crl), "URI:" AMD_KDS_URL "/%s/v1/%s/crl", crl_kind, product);
	if (root) {
		/* ARK: KU, SKI, BC, CRL DP */
		r = add_conf_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
		if (r >= 0)
			r = add_conf_ext(x, issuer, NID_subject_key_identifier, "hash");
		if (r >= 0)
			r = add_conf_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
	} else {
		/* ASK/ASVK: SKI, AKI (key id only), BC pathlen 0, KU, CRL DP */
		r = add_conf_ext(x, issuer, NID_subject_key_identifier, "hash");
		if (r >= 0)
			r = add_conf_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
		if (r >= 0)
			r = add_conf_ext(x, issuer, NID_basic_constraints,
					 "critical,CA:TRUE,pathlen:0");
		if (r >= 0)
			r = add_conf_ext(x, issuer, NID_key_usage, "critical,keyCertSign");
	}
	if (r >= 0)
		r = add_conf_ext(x, issuer, NID_crl_distribution_points, crl);
	return r;
}

static X509 *make_ca(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
		     const char *crl_kind, const char *product)
{
	X509 *x = cert_new(key, cn, issuer, false, SIM_CA_YEARS);

	if (!x)
		return NULL;
	if (add_ca_exts(x, issuer, !issuer, crl_kind, product) < 0 ||
	    sign_pss(x, issuer ? issuer_key : key, true) < 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* productName as KDS spells it: "Milan-B0", "Genoa", "Turin"; a VLEK: the product. */
const char *sim_product_name_ext(enum snp_product p, bool vlek)
{
	if (vlek)
		return snp_product_name(p);
	return p == SNP_PRODUCT_MILAN ? "Milan-B0" : snp_product_name(p);
}

static int add_spls(X509 *x, const struct snp_tcb_parts *t, bool turin)
{
	/* the order of the genuine certificates of each family */
	static const int legacy[] = { 1, 2, 4, 5, 6, 7, 3, 8 };
	static const int turin_order[] = { 9, 1, 2, 3, 5, 6, 7, 8 };
	const int *order = turin ? turin_order : legacy;
	int r = 0;

	for (size_t i = 0; r >= 0 && i < SNP_ELEMENTSOF(legacy); i++) {
		char sfx[16];
		u32 v = 0;

		switch (order[i]) {
		case 1:
			v = t->bootloader;
			break;
		case 2:
			v = t->tee;
			break;
		case 3:
			v = t->snp;
			break;
		case 8:
			v = t->microcode;
			break;
		case 9:
			v = t->fmc;
			break;
		default:
			v = 0;
			break;
		}
		snprintf(sfx, sizeof(sfx), "3.%d", order[i]);
		r = add_int_ext(x, sfx, v);
	}
	return r;
}

static X509 *make_leaf(const struct sim_state *st, EVP_PKEY *key, bool vlek, X509 *issuer,
		       EVP_PKEY *issuer_key, const struct snp_tcb_parts *tcb)
{
	const struct sim_params *p = &st->params;
	bool turin = p->product == SNP_PRODUCT_TURIN;
	struct snp_tcb_parts t;
	X509 *x;
	int r;

	x = cert_new(key, vlek ? "SEV-VLEK" : "SEV-VCEK", issuer, true,
		     vlek ? SIM_VLEK_YEARS : SIM_VCEK_YEARS);
	if (!x)
		return NULL;
	if (tcb)
		t = *tcb;
	else
		snp_tcb_decode(p->reported_tcb, snp_product_tcb_layout(p->product), &t);

	r = add_int_ext(x, "1", turin ? 1 : 0);
	if (r >= 0)
		r = add_ia5_ext(x, "2", sim_product_name_ext(p->product, vlek));
	if (r >= 0)
		r = add_spls(x, &t, turin);
	if (r >= 0 && !vlek)
		r = add_raw_ext(x, AMD_OID_ARC ".4", p->chip_id,
				sim_product_chip_id_len(p->product));
	if (r >= 0 && vlek)
		r = add_ia5_ext(x, "5", p->csp_id);
	if (r >= 0)
		r = sign_pss(x, issuer_key, false);
	if (r < 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

int sim_identity_derive_keys(struct sim_state *st)
{
	const struct sim_params *p = &st->params;
	EVP_PKEY *vcek = NULL, *vlek = NULL;
	int r;

	r = sim_leaf_key_derive(st->secrets.vcek_seed, false, p->reported_tcb, &vcek);
	if (r >= 0 && p->vlek)
		r = sim_leaf_key_derive(st->secrets.vlek_seed, true, p->reported_tcb, &vlek);
	if (r < 0) {
		EVP_PKEY_free(vcek);
		return r;
	}
	EVP_PKEY_free(st->vcek_key);
	st->vcek_key = vcek;
	EVP_PKEY_free(st->vlek_key);
	st->vlek_key = vlek;
	return 0;
}

int sim_identity_reissue_leaf(struct sim_state *st, char *err, size_t errlen)
{
	X509 *x;

	if (sim_identity_derive_keys(st) < 0) {
		snprintf(err, errlen, "cannot derive the VCEK/VLEK key of the reported TCB");
		return -EIO;
	}
	x = make_leaf(st, st->vcek_key, false, st->ask, st->ask_key, NULL);
	if (!x) {
		snprintf(err, errlen, "cannot issue the VCEK certificate");
		return -EIO;
	}
	X509_free(st->vcek);
	st->vcek = x;
	if (st->params.vlek) {
		x = make_leaf(st, st->vlek_key, true, st->asvk, st->asvk_key, NULL);
		if (!x) {
			snprintf(err, errlen, "cannot issue the VLEK certificate");
			return -EIO;
		}
		X509_free(st->vlek);
		st->vlek = x;
	}
	return 0;
}

/* Does @x carry @t's SPLs, as make_leaf() writes them? */
static bool leaf_has_spls(X509 *x, const struct snp_tcb_parts *t)
{
	const struct {
		int sfx;
		u32 v;
	} spl[] = { { 1, t->bootloader },
		    { 2, t->tee },
		    { 3, t->snp },
		    { 8, t->microcode },
		    { 9, t->fmc } };
	for (size_t i = 0; i < SNP_ELEMENTSOF(spl); i++) {
		const ASN1_OCTET_STRING *os;
		X509_EXTENSION *e;
		ASN1_OBJECT *obj;
		char oid[64];
		u8 der[8];
		size_t len;
		int at;

		snprintf(oid, sizeof(oid), AMD_OID_ARC ".3.%d", spl[i].sfx);
		obj = OBJ_txt2obj(oid, 1);
		if (!obj)
			return false;
		at = X509_get_ext_by_OBJ(x, obj, -1);
		ASN1_OBJECT_free(obj);
		if (at < 0) {
			if (spl[i].sfx == 9 && !spl[i].v)
				continue; /* no FMC outside Turin */
			return false;
		}
		e = X509_get_ext(x, at);
		os = X509_EXTENSION_get_data(e);
		len = der_uint(der, spl[i].v);
		if (!os || (size_t)ASN1_STRING_length(os) != len ||
		    memcmp(ASN1_STRING_get0_data(os), der, len))
			return false;
	}
	return true;
}

bool sim_identity_leaf_is_current(const struct sim_state *st)
{
	const struct sim_params *p = &st->params;
	struct snp_tcb_parts t;

	snp_tcb_decode(p->reported_tcb, snp_product_tcb_layout(p->product), &t);
	return st->vcek && leaf_has_spls(st->vcek, &t) &&
	       (!p->vlek || (st->vlek && leaf_has_spls(st->vlek, &t)));
}

X509_CRL *sim_identity_crl(const struct sim_state *st, time_t this_update, time_t next_update)
{
	X509_CRL *crl = NULL;
	EVP_MD_CTX *md = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	ASN1_TIME *last = NULL, *next = NULL;

	if (!st->ark || !st->ark_key)
		return NULL;
	crl = X509_CRL_new();
	md = EVP_MD_CTX_new();
	last = ASN1_TIME_set(NULL, this_update);
	next = ASN1_TIME_set(NULL, next_update);
	if (!crl || !md || !last || !next || X509_CRL_set_version(crl, X509_CRL_VERSION_2) != 1 ||
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(st->ark)) != 1 ||
	    X509_CRL_set1_lastUpdate(crl, last) != 1 || X509_CRL_set1_nextUpdate(crl, next) != 1)
		goto fail;
	/* as KDS signs its CRLs: RSASSA-PSS, SHA-384, MGF1-SHA-384, salt 48 */
	if (EVP_DigestSignInit(md, &pctx, EVP_sha384(), NULL, st->ark_key) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 48) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha384()) <= 0 ||
	    X509_CRL_sign_ctx(crl, md) <= 0)
		goto fail;
	ASN1_TIME_free(last);
	ASN1_TIME_free(next);
	EVP_MD_CTX_free(md);
	return crl;
fail:
	ASN1_TIME_free(last);
	ASN1_TIME_free(next);
	EVP_MD_CTX_free(md);
	X509_CRL_free(crl);
	return NULL;
}

X509 *sim_identity_stale_leaf(const struct sim_state *st)
{
	const struct sim_params *p = &st->params;
	enum snp_tcb_layout layout = snp_product_tcb_layout(p->product);
	struct snp_tcb_parts t;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	u8 *spl[5];
	bool lowered = false;

	snp_tcb_decode(p->reported_tcb, layout, &t);
	spl[0] = &t.bootloader;
	spl[1] = &t.tee;
	spl[2] = &t.snp;
	spl[3] = &t.microcode;
	spl[4] = &t.fmc; /* zero outside Turin */
	for (size_t i = 0; i < SNP_ELEMENTSOF(spl); i++) {
		if (*spl[i]) {
			(*spl[i])--;
			lowered = true;
		}
	}
	if (!lowered)
		t.bootloader = 1;
	if (p->vlek && (!st->asvk || !st->asvk_key))
		return NULL;
	/* the key of that TCB: the firmware signed with it before the update */
	if (sim_leaf_key_derive(p->vlek ? st->secrets.vlek_seed : st->secrets.vcek_seed, p->vlek,
				snp_tcb_encode(&t, layout), &key) < 0)
		return NULL;
	if (p->vlek)
		x = make_leaf(st, key, true, st->asvk, st->asvk_key, &t);
	else
		x = make_leaf(st, key, false, st->ask, st->ask_key, &t);
	EVP_PKEY_free(key);
	return x;
}

X509 *sim_identity_make_leaf(const struct sim_state *st, EVP_PKEY *key, bool vlek,
			     const struct snp_tcb_parts *tcb)
{
	if (!key || (vlek ? !st->asvk || !st->asvk_key : !st->ask || !st->ask_key))
		return NULL;
	return vlek ? make_leaf(st, key, true, st->asvk, st->asvk_key, tcb) :
		      make_leaf(st, key, false, st->ask, st->ask_key, tcb);
}

int sim_identity_generate(struct sim_state *st, char *err, size_t errlen)
{
	const char *prod = snp_product_name(st->params.product);
	char cn[64];

	st->ark_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
	st->ask_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
	if (!st->ark_key || !st->ask_key)
		goto fail;
	snprintf(cn, sizeof(cn), "ARK-%s", prod);
	st->ark = make_ca(st->ark_key, cn, NULL, NULL, "vcek", prod);
	snprintf(cn, sizeof(cn), "SEV-%s", prod);
	st->ask = st->ark ? make_ca(st->ask_key, cn, st->ark, st->ark_key, "vcek", prod) : NULL;
	if (!st->ask)
		goto fail;
	if (st->params.vlek) {
		st->asvk_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
		if (!st->asvk_key)
			goto fail;
		snprintf(cn, sizeof(cn), "SEV-VLEK-%s", prod);
		st->asvk = make_ca(st->asvk_key, cn, st->ark, st->ark_key, "vlek", prod);
		if (!st->asvk)
			goto fail;
	}
	/* the VCEK (VLEK) keys are the seeds' for REPORTED_TCB: derived, not generated */
	return sim_identity_reissue_leaf(st, err, errlen);
fail:
	snprintf(err, errlen, "cannot generate the simulated chip identity");
	return -EIO;
}
