// SPDX-License-Identifier: Apache-2.0
/*
 * Chip identity of the simulated platform: an AMD-shaped certificate chain.
 *
 *   ARK   RSA-4096, self-signed          CN=ARK-<Product>
 *   ASK   RSA-4096, signed by the ARK    CN=SEV-<Product>
 *   VCEK  ECDSA P-384, signed by the ASK CN=SEV-VCEK, AMD extensions
 *   ASVK  RSA-4096, signed by the ARK    CN=SEV-VLEK-<Product>   (optional)
 *   VLEK  ECDSA P-384, signed by the ASVK CN=SEV-VLEK             (optional)
 *
 * Every signature is RSASSA-PSS with SHA-384, MGF1-SHA-384 and a 48-byte
 * salt, as AMD's. The names are AMD's except O=, which says SIMULATED.
 * The VCEK carries the AMD extensions of OID arc 1.3.6.1.4.1.3704.1 with
 * the SPLs of REPORTED_TCB and the hwID (64 bytes, 8 on Turin) stored as
 * bare bytes in extnValue like genuine KDS certificates; serial number 0.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "lib/util.h"
#include "sim/sim.h"

#define SIM_ORG	       "SIMULATED Advanced Micro Devices"
#define SIM_VALID_DAYS (25 * 365)
#define AMD_OID_ARC    "1.3.6.1.4.1.3704.1"

static X509_NAME *make_name(const char *cn)
{
	X509_NAME *n = X509_NAME_new();
	static const struct {
		const char *f, *v;
	} parts[] = {
		{ "OU", "Engineering" }, { "C", "US" },	   { "L", "Santa Clara" },
		{ "ST", "CA" },		 { "O", SIM_ORG },
	};

	if (!n)
		return NULL;
	for (size_t i = 0; i < SNP_ELEMENTSOF(parts); i++)
		if (!X509_NAME_add_entry_by_txt(n, parts[i].f, MBSTRING_ASC,
						(const unsigned char *)parts[i].v, -1, -1, 0))
			goto fail;
	if (!X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
					0))
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

static int sign_pss(X509 *x, EVP_PKEY *key)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int r = -EIO;

	if (!md)
		return -ENOMEM;
	if (EVP_DigestSignInit(md, &pctx, EVP_sha384(), NULL, key) != 1)
		goto out;
	if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 48) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha384()) <= 0)
		goto out;
	if (X509_sign_ctx(x, md) <= 0)
		goto out;
	r = 0;
out:
	EVP_MD_CTX_free(md);
	return r;
}

/* A certificate skeleton: version 3, serial, validity, names, key. */
static X509 *cert_new(EVP_PKEY *key, const char *cn, X509 *issuer, bool zero_serial)
{
	X509 *x = X509_new();
	X509_NAME *name = make_name(cn);
	u8 serial[8];
	BIGNUM *bn = NULL;
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
		serial[0] &= 0x7f;
		serial[0] |= 0x01;
		bn = BN_bin2bn(serial, sizeof(serial), NULL);
		if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
			goto out;
	}
	if (!X509_gmtime_adj(X509_getm_notBefore(x), -86400L) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), SIM_VALID_DAYS, 0, NULL))
		goto out;
	if (!X509_set_subject_name(x, name) ||
	    !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name))
		goto out;
	if (!X509_set_pubkey(x, key))
		goto out;
	ok = true;
out:
	BN_free(bn);
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

	r = add_conf_ext(x, issuer, NID_basic_constraints,
			 root ? "critical,CA:TRUE" : "critical,CA:TRUE,pathlen:0");
	if (r >= 0)
		r = add_conf_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
	if (r >= 0)
		r = add_conf_ext(x, issuer, NID_subject_key_identifier, "hash");
	if (r >= 0 && !root)
		r = add_conf_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
	/* not AMD's KDS: a simulated chain has no real CRL */
	snprintf(crl, sizeof(crl), "URI:https://kds.simulated.invalid/%s/v1/%s/crl", crl_kind,
		 product);
	if (r >= 0)
		r = add_conf_ext(x, issuer, NID_crl_distribution_points, crl);
	return r;
}

static X509 *make_ca(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
		     const char *crl_kind, const char *product)
{
	X509 *x = cert_new(key, cn, issuer, false);

	if (!x)
		return NULL;
	if (add_ca_exts(x, issuer, !issuer, crl_kind, product) < 0 ||
	    sign_pss(x, issuer ? issuer_key : key) < 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static X509 *make_leaf(const struct sim_state *st, EVP_PKEY *key, bool vlek, X509 *issuer,
		       EVP_PKEY *issuer_key)
{
	const struct sim_params *p = &st->params;
	const char *prod = snp_product_name(p->product);
	struct snp_tcb_parts t;
	char name[64];
	X509 *x;
	int r = 0;

	x = cert_new(key, vlek ? "SEV-VLEK" : "SEV-VCEK", issuer, true);
	if (!x)
		return NULL;
	snp_tcb_decode(p->reported_tcb, snp_product_tcb_layout(p->product), &t);

	r = add_int_ext(x, "1", 0);
	if (vlek)
		snprintf(name, sizeof(name), "%s", prod);
	else
		snprintf(name, sizeof(name), "%s-B0", prod);
	if (r >= 0)
		r = add_ia5_ext(x, "2", name);
	if (r >= 0)
		r = add_int_ext(x, "3.1", t.bootloader);
	if (r >= 0)
		r = add_int_ext(x, "3.2", t.tee);
	if (r >= 0)
		r = add_int_ext(x, "3.3", t.snp);
	for (int i = 4; r >= 0 && i <= 7; i++) {
		char sfx[16];

		snprintf(sfx, sizeof(sfx), "3.%d", i);
		r = add_int_ext(x, sfx, 0);
	}
	if (r >= 0)
		r = add_int_ext(x, "3.8", t.microcode);
	if (r >= 0 && p->product == SNP_PRODUCT_TURIN)
		r = add_int_ext(x, "3.9", t.fmc);
	if (r >= 0 && !vlek)
		r = add_raw_ext(x, AMD_OID_ARC ".4", p->chip_id,
				sim_product_chip_id_len(p->product));
	if (r >= 0 && vlek)
		r = add_ia5_ext(x, "5", p->csp_id);
	if (r >= 0)
		r = sign_pss(x, issuer_key);
	if (r < 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

int sim_identity_reissue_leaf(struct sim_state *st, char *err, size_t errlen)
{
	X509 *x;

	x = make_leaf(st, st->vcek_key, false, st->ask, st->ask_key);
	if (!x) {
		snprintf(err, errlen, "cannot issue the VCEK certificate");
		return -EIO;
	}
	X509_free(st->vcek);
	st->vcek = x;
	if (st->params.vlek) {
		x = make_leaf(st, st->vlek_key, true, st->asvk, st->asvk_key);
		if (!x) {
			snprintf(err, errlen, "cannot issue the VLEK certificate");
			return -EIO;
		}
		X509_free(st->vlek);
		st->vlek = x;
	}
	return 0;
}

int sim_identity_generate(struct sim_state *st, char *err, size_t errlen)
{
	const char *prod = snp_product_name(st->params.product);
	char cn[64];

	st->ark_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
	st->ask_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
	st->vcek_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	if (!st->ark_key || !st->ask_key || !st->vcek_key)
		goto fail;
	snprintf(cn, sizeof(cn), "ARK-%s", prod);
	st->ark = make_ca(st->ark_key, cn, NULL, NULL, "vcek", prod);
	snprintf(cn, sizeof(cn), "SEV-%s", prod);
	st->ask = st->ark ? make_ca(st->ask_key, cn, st->ark, st->ark_key, "vcek", prod) : NULL;
	if (!st->ask)
		goto fail;
	if (st->params.vlek) {
		st->asvk_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
		st->vlek_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
		if (!st->asvk_key || !st->vlek_key)
			goto fail;
		snprintf(cn, sizeof(cn), "SEV-VLEK-%s", prod);
		st->asvk = make_ca(st->asvk_key, cn, st->ark, st->ark_key, "vlek", prod);
		if (!st->asvk)
			goto fail;
	}
	return sim_identity_reissue_leaf(st, err, errlen);
fail:
	snprintf(err, errlen, "cannot generate the simulated chip identity");
	return -EIO;
}
