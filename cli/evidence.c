// SPDX-License-Identifier: Apache-2.0
/* Evidence documents (GET /v1/evidence): detection and parsing. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "cli/evidence.h"
#include "lib/binding.h"
#include "lib/x509-amd.h"

#define EVIDENCE_B64_MAX (64 * 1024)

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	ERR_clear_error();
	return -EBADMSG;
}

bool snpctl_evidence_detect(const u8 *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r')
			continue;
		return data[i] == '{';
	}
	return false;
}

/* Standard base64 (RFC 4648, padded) into a new buffer. */
static int b64_decode(const char *s, u8 **ret, size_t *ret_len)
{
	size_t n = strlen(s);
	EVP_ENCODE_CTX *ctx;
	int outl = 0, fin = 0, ok;
	u8 *out;

	if (n == 0 || n > EVIDENCE_B64_MAX || n % 4)
		return -EBADMSG;
	out = malloc(n / 4 * 3 + 3);
	ctx = EVP_ENCODE_CTX_new();
	if (!out || !ctx) {
		free(out);
		EVP_ENCODE_CTX_free(ctx);
		return -ENOMEM;
	}
	EVP_DecodeInit(ctx);
	ok = EVP_DecodeUpdate(ctx, out, &outl, (const unsigned char *)s, (int)n) >= 0 &&
	     EVP_DecodeFinal(ctx, out + outl, &fin) == 1;
	EVP_ENCODE_CTX_free(ctx);
	if (!ok) {
		free(out);
		return -EBADMSG;
	}
	*ret = out;
	*ret_len = (size_t)(outl + fin);
	return 0;
}

/* One PEM certificate from member @name of @certs. */
static X509 *pem_member(json_t *certs, const char *name)
{
	const char *pem = json_string_value(json_object_get(certs, name));
	STACK_OF(X509) *sk = NULL;
	X509 *c;

	if (!pem || snp_x509_load_mem((const u8 *)pem, strlen(pem), &sk, NULL, 0) < 0)
		return NULL;
	if (sk_X509_num(sk) != 1) {
		sk_X509_pop_free(sk, X509_free);
		return NULL;
	}
	c = sk_X509_shift(sk);
	sk_X509_free(sk);
	return c;
}

int snpctl_evidence_parse(const u8 *data, size_t len, struct snpctl_evidence *ret, char *err,
			  size_t errlen)
{
	struct snpctl_evidence e = { 0 };
	json_t *doc, *certs, *v;
	const char *s;
	u8 *bytes = NULL;
	size_t n;
	int r;

	/* the parse binding-tool and fuzz-evidence share: duplicates, depth */
	r = snp_evidence_json_load(data, len, &doc, err, errlen);
	if (r < 0)
		return -EBADMSG;
	r = snp_evidence_check_kind(doc, err, errlen);
	if (r < 0)
		goto out;
	s = json_string_value(json_object_get(doc, "report"));
	if (!s || b64_decode(s, &bytes, &n) < 0 || n != SNP_REPORT_SIZE) {
		r = fail(err, errlen, "\"report\": expected base64 of %d bytes", SNP_REPORT_SIZE);
		goto out;
	}
	memcpy(e.report, bytes, SNP_REPORT_SIZE);
	free(bytes);
	bytes = NULL;
	s = json_string_value(json_object_get(doc, "endorsement_key"));
	if (!s || (strcmp(s, "vcek") && strcmp(s, "vlek"))) {
		r = fail(err, errlen, "\"endorsement_key\": expected \"vcek\" or \"vlek\"");
		goto out;
	}
	e.vlek = !strcmp(s, "vlek");
	certs = json_object_get(doc, "certificates");
	if (!json_is_object(certs)) {
		r = fail(err, errlen, "\"certificates\": expected an object");
		goto out;
	}
	e.leaf = pem_member(certs, e.vlek ? "vlek" : "vcek");
	e.ask = pem_member(certs, e.vlek ? "asvk" : "ask");
	e.ark = pem_member(certs, "ark");
	if (!e.leaf || !e.ask || !e.ark) {
		r = fail(err, errlen,
			 "\"certificates\": \"%s\", \"%s\" and \"ark\" must each be one "
			 "PEM certificate",
			 e.vlek ? "vlek" : "vcek", e.vlek ? "asvk" : "ask");
		goto out;
	}
	v = json_object_get(doc, "crl");
	if (v && !json_is_null(v)) {
		const unsigned char *p;

		if (!json_is_string(v) || b64_decode(json_string_value(v), &bytes, &n) < 0) {
			r = fail(err, errlen, "\"crl\": expected base64 of a DER CRL or null");
			goto out;
		}
		p = bytes;
		e.crl = d2i_X509_CRL(NULL, &p, (long)n);
		if (!e.crl || p != bytes + n) {
			r = fail(err, errlen, "\"crl\": not a DER CRL");
			goto out;
		}
	}
	v = json_object_get(doc, "binding");
	if (v && !json_is_object(v)) {
		r = fail(err, errlen, "\"binding\": expected an object");
		goto out;
	}
	e.binding = json_incref(v);
	*ret = e;
	memset(&e, 0, sizeof(e));
	r = 0;
out:
	free(bytes);
	snpctl_evidence_release(&e);
	json_decref(doc);
	return r;
}

void snpctl_evidence_release(struct snpctl_evidence *e)
{
	X509_free(e->leaf);
	X509_free(e->ask);
	X509_free(e->ark);
	X509_CRL_free(e->crl);
	json_decref(e->binding);
	memset(e, 0, sizeof(*e));
}
