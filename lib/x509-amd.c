// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "lib/util.h"
#include "lib/x509-amd.h"

#define AMD_ARC		  "1.3.6.1.4.1.3704.1."
#define SNP_CERT_FILE_MAX (1024 * 1024)

/*
 * SHA-256 of the DER encoding of AMD's ARKs, as listed in
 * ../shared/testdata/real/README.md and checked there against the KDS
 * copies from seven repositories.
 */
static const struct {
	enum snp_product product;
	const char *sha256;
} pinned_arks[] = {
	{ SNP_PRODUCT_MILAN, "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd" },
	{ SNP_PRODUCT_GENOA, "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1" },
	{ SNP_PRODUCT_TURIN, "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a" },
};

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

enum snp_product snp_ark_pinned_product(const u8 sha256[32])
{
	char hex[65];

	snp_hex_encode(sha256, 32, hex);
	for (size_t i = 0; i < SNP_ELEMENTSOF(pinned_arks); i++)
		if (strcmp(hex, pinned_arks[i].sha256) == 0)
			return pinned_arks[i].product;
	return SNP_PRODUCT_UNKNOWN;
}

enum snp_product snp_product_from_ca_cn(const char *cn)
{
	enum snp_product p;

	if (strncmp(cn, "ARK-", 4) == 0)
		cn += 4;
	else if (strncmp(cn, "SEV-VLEK-", 9) == 0)
		cn += 9;
	else if (strncmp(cn, "SEV-", 4) == 0)
		cn += 4;
	else
		return SNP_PRODUCT_UNKNOWN;
	if (snp_product_from_string(cn, &p) < 0)
		return SNP_PRODUCT_UNKNOWN;
	return p;
}

void snp_x509_fingerprint(X509 *cert, u8 out[32])
{
	unsigned int n = 32;

	if (X509_digest(cert, EVP_sha256(), out, &n) != 1)
		memset(out, 0, 32);
}

const char *snp_x509_cn(X509 *cert, bool issuer, char *buf, size_t len)
{
	X509_NAME *name = issuer ? X509_get_issuer_name(cert) : X509_get_subject_name(cert);

	buf[0] = '\0';
	if (!name || X509_NAME_get_text_by_NID(name, NID_commonName, buf, (int)len) < 0)
		buf[0] = '\0';
	return buf;
}

/* Parse a DER INTEGER that must fill @len bytes exactly and fit 0..255. */
static int der_small_uint(const u8 *p, size_t len, long *ret)
{
	const u8 *q = p;
	ASN1_INTEGER *ai;
	long v;

	if (len > 16 || len < 3 || p[0] != V_ASN1_INTEGER)
		return -EBADMSG;
	ai = d2i_ASN1_INTEGER(NULL, &q, (long)len);
	if (!ai)
		return -EBADMSG;
	if ((size_t)(q - p) != len) {
		ASN1_INTEGER_free(ai);
		return -EBADMSG;
	}
	v = ASN1_INTEGER_get(ai);
	ASN1_INTEGER_free(ai);
	if (v < 0 || v > 255)
		return -ERANGE;
	*ret = v;
	return 0;
}

static int der_ia5(const u8 *p, size_t len, char *out, size_t outlen)
{
	const u8 *q = p;
	ASN1_IA5STRING *s;
	int n;

	if (len < 2 || p[0] != V_ASN1_IA5STRING)
		return -EBADMSG;
	s = d2i_ASN1_IA5STRING(NULL, &q, (long)len);
	if (!s)
		return -EBADMSG;
	n = ASN1_STRING_length(s);
	if ((size_t)(q - p) != len || n < 0 || (size_t)n >= outlen ||
	    memchr(ASN1_STRING_get0_data(s), '\0', (size_t)n)) {
		ASN1_IA5STRING_free(s);
		return -EBADMSG;
	}
	memcpy(out, ASN1_STRING_get0_data(s), (size_t)n);
	out[n] = '\0';
	ASN1_IA5STRING_free(s);
	return 0;
}

/* Borrowed extnValue contents of extension @oid, or NULL when absent. */
static const ASN1_OCTET_STRING *ext_value(X509 *cert, const char *oid, int *dup)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	X509_EXTENSION *ext;
	int idx;

	*dup = 0;
	if (!obj)
		return NULL;
	idx = X509_get_ext_by_OBJ(cert, obj, -1);
	if (idx >= 0 && X509_get_ext_by_OBJ(cert, obj, idx) >= 0)
		*dup = 1;
	ASN1_OBJECT_free(obj);
	if (idx < 0)
		return NULL;
	ext = X509_get_ext(cert, idx);
	return ext ? X509_EXTENSION_get_data(ext) : NULL;
}

int snp_amd_ext_parse(X509 *cert, struct snp_amd_ext *ret, char *err, size_t errlen)
{
	struct snp_amd_ext e = { 0 };
	const ASN1_OCTET_STRING *v;
	const u8 *p;
	size_t len;
	char oid[48];
	int dup, r;

	v = ext_value(cert, AMD_ARC "1", &dup);
	if (v) {
		r = der_small_uint(ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v),
				   &e.struct_version);
		if (r < 0)
			return fail(err, errlen, -EBADMSG, "structVersion extension is malformed");
		e.has_struct_version = true;
	}
	v = ext_value(cert, AMD_ARC "2", &dup);
	if (v) {
		if (der_ia5(ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v), e.product_name,
			    sizeof(e.product_name)) < 0)
			return fail(err, errlen, -EBADMSG, "productName extension is malformed");
		e.has_product_name = true;
	}
	for (int i = 1; i <= SNP_AMD_SPL_MAX; i++) {
		snprintf(oid, sizeof(oid), AMD_ARC "3.%d", i);
		v = ext_value(cert, oid, &dup);
		if (!v)
			continue;
		if (dup)
			return fail(err, errlen, -EBADMSG, "extension %s appears twice", oid);
		r = der_small_uint(ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v),
				   &e.spl[i]);
		if (r < 0)
			return fail(err, errlen, -EBADMSG,
				    "SPL extension %s is not an INTEGER in 0..255", oid);
		e.has_spl[i] = true;
	}
	v = ext_value(cert, AMD_ARC "4", &dup);
	if (v) {
		p = ASN1_STRING_get0_data(v);
		len = (size_t)ASN1_STRING_length(v);
		if (len == 2 + 64 && p[0] == V_ASN1_OCTET_STRING && p[1] == 64) {
			e.hwid_wrapped = true;
			p += 2;
			len = 64;
		} else if (len == 2 + 8 && p[0] == V_ASN1_OCTET_STRING && p[1] == 8) {
			e.hwid_wrapped = true;
			p += 2;
			len = 8;
		} else if (len != 64 && len != 8) {
			return fail(err, errlen, -EBADMSG,
				    "hwID extension has %zu bytes, expected 64 or 8", len);
		}
		memcpy(e.hwid, p, len);
		e.hwid_len = len;
		e.has_hwid = true;
	}
	v = ext_value(cert, AMD_ARC "5", &dup);
	if (v) {
		if (der_ia5(ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v), e.csp_id,
			    sizeof(e.csp_id)) < 0)
			return fail(err, errlen, -EBADMSG, "cspId extension is malformed");
		e.has_csp_id = true;
	}
	*ret = e;
	return 0;
}

int snp_x509_load_mem(const u8 *data, size_t len, STACK_OF(X509) * *ret, char *err, size_t errlen)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	X509 *c;

	if (!sk)
		return -ENOMEM;
	if (len > INT32_MAX)
		goto bad;
	if (memmem(data, len, "-----BEGIN", 10)) {
		BIO *bio = BIO_new_mem_buf(data, (int)len);

		if (!bio)
			goto nomem;
		while ((c = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
			if (!sk_X509_push(sk, c)) {
				X509_free(c);
				BIO_free(bio);
				goto nomem;
			}
		}
		BIO_free(bio);
	} else {
		const u8 *p = data;

		c = d2i_X509(NULL, &p, (long)len);
		if (c && p != data + len) {
			X509_free(c);
			c = NULL;
		}
		if (c && !sk_X509_push(sk, c)) {
			X509_free(c);
			goto nomem;
		}
	}
	ERR_clear_error();
	if (sk_X509_num(sk) == 0)
		goto bad;
	*ret = sk;
	return 0;
bad:
	sk_X509_pop_free(sk, X509_free);
	return fail(err, errlen, -EBADMSG, "no X.509 certificate (PEM or DER) found");
nomem:
	sk_X509_pop_free(sk, X509_free);
	return -ENOMEM;
}

/* @path's certificates; @regular: a regular file only, never waited on */
static int load_path(const char *path, bool regular, STACK_OF(X509) * *ret, char *err,
		     size_t errlen)
{
	_cleanup_(freep) u8 *data = NULL;
	size_t len;
	int r;

	r = regular ? snp_read_regular_file_follow(path, SNP_CERT_FILE_MAX, &data, &len) :
		      snp_read_file(path, SNP_CERT_FILE_MAX, &data, &len);
	if (r == -EFBIG)
		return fail(err, errlen, r, "%s: larger than %d bytes", path, SNP_CERT_FILE_MAX);
	if (regular && r == -EBADFD)
		return fail(err, errlen, r,
			    "%s: not a regular file (a FIFO, device or socket is not read)", path);
	if (r < 0)
		return fail(err, errlen, r, "%s: %s", path, strerror(-r));
	r = snp_x509_load_mem(data, len, ret, err, errlen);
	if (r == -EBADMSG)
		return fail(err, errlen, r, "%s: no X.509 certificate (PEM or DER) found", path);
	return r;
}

int snp_x509_load_file(const char *path, STACK_OF(X509) * *ret, char *err, size_t errlen)
{
	return load_path(path, false, ret, err, errlen);
}

int snp_x509_load_regular_file(const char *path, STACK_OF(X509) * *ret, char *err, size_t errlen)
{
	return load_path(path, true, ret, err, errlen);
}

/* @c as PEM text, malloc()ed; NULL when out of memory. */
char *snp_x509_to_pem(X509 *c)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *s = NULL;
	long n;

	if (!bio)
		return NULL;
	if (PEM_write_bio_X509(bio, c) == 1) {
		n = BIO_get_mem_data(bio, &data);
		if (n > 0)
			s = strndup(data, (size_t)n);
	}
	BIO_free(bio);
	return s;
}

bool snp_crl_current(const X509_CRL *crl, time_t at, const char **ret_why, char *ret_until,
		     size_t ret_until_len)
{
	const ASN1_TIME *last = X509_CRL_get0_lastUpdate(crl);
	const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
	const char *why = NULL;
	struct tm tm;

	if (ret_until && ret_until_len > 0) {
		snprintf(ret_until, ret_until_len, "%s", "none");
		if (next && ASN1_TIME_to_tm(next, &tm) == 1)
			strftime(ret_until, ret_until_len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	/* X509_cmp_time(): -1 earlier than or equal to @at, 1 later, 0 error */
	if (!next)
		why = "has no nextUpdate";
	else if (!last || X509_cmp_time(last, &at) != -1)
		why = "is not valid yet";
	else if (X509_cmp_time(next, &at) != 1)
		why = "expired";
	ERR_clear_error();
	if (ret_why)
		*ret_why = why;
	return !why;
}
