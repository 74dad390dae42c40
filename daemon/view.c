// SPDX-License-Identifier: Apache-2.0
/* The static part of the view: facts of the reference report, certificates. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "daemon/snpd.h"
#include "lib/cert-table.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/verify.h"
#include "lib/x509-amd.h"

const char *const snpd_cert_names[_SNPD_CERT_MAX] = {
	[SNPD_CERT_ARK] = "ark.pem",	 [SNPD_CERT_ASK] = "ask.pem",
	[SNPD_CERT_VCEK] = "vcek.pem",	 [SNPD_CERT_VLEK] = "vlek.pem",
	[SNPD_CERT_CHAIN] = "chain.pem", [SNPD_CERT_CRL] = "crl.der",
	[SNPD_CERT_SOURCE] = "source",
};

static char *pem_of_der(const u8 *der, size_t len)
{
	STACK_OF(X509) *sk = NULL;
	char *s;

	if (snp_x509_load_mem(der, len, &sk, NULL, 0) < 0)
		return NULL;
	s = snp_x509_to_pem(sk_X509_value(sk, 0));
	sk_X509_pop_free(sk, X509_free);
	return s;
}

static void certs_from_table(struct snpd_view *v, const struct snp_backend_report *ref)
{
	static const struct {
		enum snp_cert_kind kind;
		enum snpd_cert slot;
	} map[] = {
		{ SNP_CERT_ARK, SNPD_CERT_ARK },
		{ SNP_CERT_ASK, SNPD_CERT_ASK },
		{ SNP_CERT_VCEK, SNPD_CERT_VCEK },
		{ SNP_CERT_VLEK, SNPD_CERT_VLEK },
	};
	struct snp_cert_table t;
	char err[SNP_ERRBUF];

	if (!ref->certs || !ref->certs_len)
		return;
	if (snp_cert_table_parse(ref->certs, ref->certs_len, &t, err, sizeof(err)) < 0) {
		log_warning("Ignoring the host's certificate table: %s", err);
		return;
	}
	for (size_t i = 0; i < SNP_ELEMENTSOF(map); i++) {
		const struct snp_cert_table_entry *e = snp_cert_table_find(&t, map[i].kind);

		if (e && !(v->certs[map[i].slot] = pem_of_der(e->data, e->length)))
			log_warning("Ignoring the host's %s: not an X.509 certificate",
				    snp_cert_kind_name(map[i].kind));
		if (v->certs[map[i].slot])
			v->cert_src[map[i].slot] = SNPD_SRC_HOST;
	}
}

/* CertsDir='s files, each read once; the first name found of each. */
enum dir_file { DIR_ARK, DIR_ASK, DIR_ASVK, DIR_VCEK, DIR_VLEK, _DIR_MAX };

/*
 * The CA a leaf of CertsDir= is checked against and served with: the one
 * of its kind (ask.pem for the VCEK, asvk.pem for the VLEK), else the one
 * the directory has (a directory of one CA names it either way). NULL
 * when it has none.
 */
static int dir_ca(X509 *const *certs, bool vlek)
{
	int own = vlek ? DIR_ASVK : DIR_ASK, other = vlek ? DIR_ASK : DIR_ASVK;

	return certs[own] ? own : certs[other] ? other : -1;
}

/*
 * CertsDir=: the certificates as they are, but a VCEK or VLEK that does not
 * sign the reference report (snp_verify_signer(): the host changed
 * REPORTED_TCB and the directory was not updated, another chip's) is not
 * taken. When no leaf of the directory signs it, that is an error: logged,
 * and said in v->certs_error (status, and the reason evidence is refused).
 * When the other one does (a directory with both a VCEK and a VLEK), the
 * one left out is only said at info level. Not checked: whether the ARK is
 * a trusted root (CertsDir= is the operator's choice), validity dates.
 */
static int certs_from_dir(struct snpd_view *v, const char *dir, char *err, size_t errlen)
{
	static const char *const files[_DIR_MAX][2] = {
		[DIR_ARK] = { "ark.pem", NULL },	 [DIR_ASK] = { "ask.pem", NULL },
		[DIR_ASVK] = { "asvk.pem", NULL },	 [DIR_VCEK] = { "vcek.pem", "vcek.der" },
		[DIR_VLEK] = { "vlek.pem", "vlek.der" },
	};
	static const struct {
		enum dir_file file;
		enum snpd_cert slot;
		bool vlek;
	} leaves[] = {
		{ DIR_VCEK, SNPD_CERT_VCEK, false },
		{ DIR_VLEK, SNPD_CERT_VLEK, true },
	};
	X509 *certs[_DIR_MAX] = { NULL };
	const char *names[_DIR_MAX] = { NULL };
	char why[2][512], refused[2048] = "";
	bool signs[2] = { false, false };
	u32 sk = snp_report_signing_key(&v->ref);
	int ca = -1, r = 0;

	if (errlen)
		err[0] = '\0';

	for (size_t i = 0; i < _DIR_MAX; i++)
		for (size_t j = 0; j < 2 && files[i][j] && !certs[i]; j++) {
			STACK_OF(X509) *sk_ = NULL;
			char path[4096];

			snprintf(path, sizeof(path), "%s/%s", dir, files[i][j]);
			r = snp_x509_load_regular_file(path, &sk_, err, errlen);
			if (r == -ENOENT) {
				r = 0;
				continue;
			}
			if (r < 0)
				goto out;
			certs[i] = sk_X509_shift(sk_);
			sk_X509_pop_free(sk_, X509_free);
			if (!certs[i]) {
				snprintf(err, errlen, "%s: no certificate", path);
				r = -EBADMSG;
				goto out;
			}
			names[i] = files[i][j];
		}

	for (size_t i = 0; i < SNP_ELEMENTSOF(leaves); i++) {
		int c = dir_ca(certs, leaves[i].vlek);
		struct snp_signer_input in = {
			.report = &v->ref,
			.leaf = certs[leaves[i].file],
			.kind = leaves[i].vlek ? SNP_SIGNER_VLEK : SNP_SIGNER_VCEK,
			.ask = c >= 0 && certs[DIR_ARK] ? certs[c] : NULL,
			.ark = c >= 0 ? certs[DIR_ARK] : NULL,
		};

		if (!in.leaf)
			continue;
		r = snp_verify_signer(&in, why[i], sizeof(why[i]));
		if (r == -ENOMEM) {
			snprintf(err, errlen, "cannot check CertsDir=%s/%s: %s", dir,
				 names[leaves[i].file], why[i]);
			goto out;
		}
		signs[i] = r == 0;
		r = 0;
	}
	for (size_t i = 0; i < SNP_ELEMENTSOF(leaves); i++) {
		enum dir_file f = leaves[i].file;
		char msg[1024];

		if (!certs[f] || signs[i])
			continue;
		if (signs[!i]) {
			/* the directory's other key signs it: nothing is wrong */
			log_info("CertsDir=%s/%s is not served: %s signs the reference report, not "
				 "this one (%s)",
				 dir, names[f], names[leaves[!i].file], why[i]);
		} else {
			snprintf(
				msg, sizeof(msg),
				"CertsDir=%s/%s is not the key that signs the reference report: "
				"%.512s; it is not served: update the directory and reload (SIGHUP)",
				dir, names[f], why[i]);
			log_error("%s", msg);
			snp_appendf(refused, sizeof(refused), "%s", msg);
		}
		X509_free(certs[f]);
		certs[f] = NULL;
	}
	if (refused[0] && !(v->certs_error = strdup(refused))) {
		r = -ENOMEM;
		snprintf(err, errlen, "%s", strerror(ENOMEM));
		goto out;
	}

	/* the CA served: the one of the leaf served, else of the kind SIGNING_KEY names */
	ca = dir_ca(certs, certs[DIR_VCEK]	      ? false :
			   certs[DIR_VLEK]	      ? true :
			   sk == SNP_SIGNING_KEY_VLEK ? true :
							false);
	{
		X509 *serve[_SNPD_CERT_MAX] = {
			[SNPD_CERT_ARK] = certs[DIR_ARK],
			[SNPD_CERT_ASK] = ca >= 0 ? certs[ca] : NULL,
			[SNPD_CERT_VCEK] = certs[DIR_VCEK],
			[SNPD_CERT_VLEK] = certs[DIR_VLEK],
		};

		for (int i = 0; i < _SNPD_CERT_MAX; i++) {
			if (!serve[i])
				continue;
			v->certs[i] = snp_x509_to_pem(serve[i]);
			if (!v->certs[i]) {
				r = -ENOMEM;
				snprintf(err, errlen, "%s", strerror(ENOMEM));
				goto out;
			}
			v->cert_src[i] = SNPD_SRC_DIR;
		}
	}
out:
	for (size_t i = 0; i < _DIR_MAX; i++)
		X509_free(certs[i]);
	return r;
}

static char *strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *strdupf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* chain.pem and source from the others; the lengths of all. */
static int finish_certs(struct snpd_view *v)
{
	char *src = NULL;
	size_t len = 0;
	FILE *f;

	free(v->certs[SNPD_CERT_CHAIN]);
	free(v->certs[SNPD_CERT_SOURCE]);
	v->certs[SNPD_CERT_CHAIN] = v->certs[SNPD_CERT_SOURCE] = NULL;
	if (v->certs[SNPD_CERT_ASK] && v->certs[SNPD_CERT_ARK]) {
		v->certs[SNPD_CERT_CHAIN] =
			strdupf("%s%s", v->certs[SNPD_CERT_ASK], v->certs[SNPD_CERT_ARK]);
		if (!v->certs[SNPD_CERT_CHAIN])
			return -ENOMEM;
		v->cert_src[SNPD_CERT_CHAIN] = v->cert_src[SNPD_CERT_ASK];
	}
	f = open_memstream(&src, &len);
	if (!f)
		return -ENOMEM;
	for (int i = 0; i < SNPD_CERT_SOURCE; i++)
		if (v->certs[i] && i != SNPD_CERT_CHAIN)
			fprintf(f, "%s %s\n", snpd_cert_names[i],
				snpd_coll_src_names[v->cert_src[i]]);
	if (fclose(f) != 0) {
		free(src);
		return -ENOMEM;
	}
	if (len) {
		v->certs[SNPD_CERT_SOURCE] = src;
		v->cert_src[SNPD_CERT_SOURCE] = SNPD_SRC_NONE;
	} else {
		free(src);
	}
	for (int i = 0; i < _SNPD_CERT_MAX; i++)
		if (i != SNPD_CERT_CRL)
			v->cert_len[i] = v->certs[i] ? strlen(v->certs[i]) : 0;
	return 0;
}

static void tcb_text(char *buf, size_t len, const char *name, u64 raw, enum snp_tcb_layout l)
{
	struct snp_tcb_parts p;
	size_t n;

	snp_tcb_decode(raw, l, &p);
	n = (size_t)snprintf(buf, len, "%s 0x%016llx", name, (unsigned long long)raw);
	if (l == SNP_TCB_LAYOUT_TURIN && n < len)
		n += (size_t)snprintf(buf + n, len - n, " fmc=%u", p.fmc);
	if (n < len)
		snprintf(buf + n, len - n, " bootloader=%u tee=%u snp=%u microcode=%u\n",
			 p.bootloader, p.tee, p.snp, p.microcode);
}

/* The files that decode the reference report: platform.json, tcb, ... (again). */
static int view_facts(struct snpd_view *v)
{
	const struct snp_report *r = &v->ref.r;
	enum snp_tcb_layout l = snp_report_tcb_layout(&v->ref);
	char hex[2 * 64 + 1], t[4][160];
	json_t *j;

	free(v->platform_json);
	free(v->measurement);
	free(v->chip_id);
	free(v->policy);
	free(v->vmpl);
	free(v->tcb);
	v->platform_json = v->measurement = v->chip_id = v->policy = v->vmpl = v->tcb = NULL;
	j = snp_report_to_json(&v->ref);
	if (!j)
		return -ENOMEM;
	/* the reference report's nonce and signature say nothing about the platform */
	json_object_del(j, "report_data");
	json_object_del(j, "signature");
	v->platform_json = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(j);

	snp_hex_encode(r->measurement, sizeof(r->measurement), hex);
	v->measurement = strdupf("%s\n", hex);
	snp_hex_encode(r->chip_id, sizeof(r->chip_id), hex);
	v->chip_id = strdupf("%s\n", hex);
	v->policy = strdupf("0x%016llx\n", (unsigned long long)le64_to_cpu(r->policy));
	v->vmpl = strdupf("%u\n", le32_to_cpu(r->vmpl));
	tcb_text(t[0], sizeof(t[0]), "reported", le64_to_cpu(r->reported_tcb), l);
	tcb_text(t[1], sizeof(t[1]), "current", le64_to_cpu(r->current_tcb), l);
	tcb_text(t[2], sizeof(t[2]), "committed", le64_to_cpu(r->committed_tcb), l);
	tcb_text(t[3], sizeof(t[3]), "launch", le64_to_cpu(r->launch_tcb), l);
	v->tcb = strdupf("%s%s%s%s", t[0], t[1], t[2], t[3]);
	if (!v->platform_json || !v->measurement || !v->chip_id || !v->policy || !v->vmpl ||
	    !v->tcb)
		return -ENOMEM;
	return 0;
}

int snpd_view_apply_collateral(struct snpd_view *v, const struct snpd_coll_set *set)
{
	static const enum snpd_cert slot[3] = { SNPD_CERT_ARK, SNPD_CERT_ASK, SNPD_CERT_VCEK };
	int r;

	for (int i = SNPD_CERT_ARK; i <= SNPD_CERT_VLEK; i++) {
		free(v->certs[i]);
		v->certs[i] = NULL;
		v->cert_src[i] = SNPD_SRC_NONE;
	}
	free(v->certs[SNPD_CERT_CRL]);
	v->certs[SNPD_CERT_CRL] = NULL;
	v->cert_len[SNPD_CERT_CRL] = 0;
	for (int i = 0; i < 3; i++) {
		enum snpd_cert s = i == 2 && set->vlek ? SNPD_CERT_VLEK : slot[i];

		if (!set->pem[i])
			continue;
		v->certs[s] = strdup(set->pem[i]);
		if (!v->certs[s])
			return -ENOMEM;
		v->cert_src[s] = set->src[i];
	}
	if (set->crl) {
		v->certs[SNPD_CERT_CRL] = malloc(set->crl_len);
		if (!v->certs[SNPD_CERT_CRL])
			return -ENOMEM;
		memcpy(v->certs[SNPD_CERT_CRL], set->crl, set->crl_len);
		v->cert_len[SNPD_CERT_CRL] = set->crl_len;
		v->cert_src[SNPD_CERT_CRL] = set->src[SNPD_COLL_CRL];
	}
	if (set->product_verified && v->ref.product_source != SNP_PRODUCT_SRC_CPUID &&
	    (v->ref.product != set->product || v->ref.product_source != SNP_PRODUCT_SRC_CERT)) {
		/* a report that does not say its product: the one of the checked leaf */
		snp_report_set_product(&v->ref, set->product, SNP_PRODUCT_SRC_CERT);
		r = view_facts(v);
		if (r < 0)
			return r;
	}
	return finish_certs(v);
}

static char *dup_or_null(const char *s, size_t len, bool *fail)
{
	char *p;

	if (!s)
		return NULL;
	p = malloc(len + 1);
	if (!p) {
		*fail = true;
		return NULL;
	}
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

int snpd_view_with_collateral(const struct snpd_view *old, const struct snpd_coll_set *set,
			      u64 generation, struct snpd_view **ret)
{
	struct snpd_view *v = calloc(1, sizeof(*v));
	bool fail = false;
	int r;

	if (!v)
		return -ENOMEM;
	v->ref = old->ref;
	v->generation = generation;
	v->platform_json = dup_or_null(old->platform_json, strlen(old->platform_json), &fail);
	v->measurement = dup_or_null(old->measurement, strlen(old->measurement), &fail);
	v->tcb = dup_or_null(old->tcb, strlen(old->tcb), &fail);
	v->chip_id = dup_or_null(old->chip_id, strlen(old->chip_id), &fail);
	v->policy = dup_or_null(old->policy, strlen(old->policy), &fail);
	v->vmpl = dup_or_null(old->vmpl, strlen(old->vmpl), &fail);
	v->certs_error = dup_or_null(old->certs_error,
				     old->certs_error ? strlen(old->certs_error) : 0, &fail);
	for (int i = 0; i < _SNPD_CERT_MAX; i++) {
		v->certs[i] = dup_or_null(old->certs[i], old->cert_len[i], &fail);
		v->cert_len[i] = old->cert_len[i];
		v->cert_src[i] = old->cert_src[i];
	}
	r = fail ? -ENOMEM : set ? snpd_view_apply_collateral(v, set) : 0;
	if (r < 0) {
		snpd_view_free(v);
		return r;
	}
	*ret = v;
	return 0;
}

int snpd_view_new(const struct snp_backend_report *ref, const char *certs_dir, u64 generation,
		  struct snpd_view **ret, char *err, size_t errlen)
{
	struct snpd_view *v = calloc(1, sizeof(*v));
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!v) {
		rc = -ENOMEM;
		goto fail;
	}
	v->generation = generation;
	rc = snp_report_parse(ref->report, SNP_REPORT_SIZE, &v->ref, err, errlen);
	if (rc < 0)
		goto fail;
	if (certs_dir && *certs_dir) {
		rc = certs_from_dir(v, certs_dir, err, errlen);
		if (rc < 0)
			goto fail;
	} else {
		certs_from_table(v, ref);
	}
	rc = finish_certs(v);
	if (rc < 0)
		goto fail;

	/*
	 * v2 reports do not say their product: the endorsement key does, once
	 * it is known to sign the report. CertsDir='s does (certs_from_dir()
	 * keeps no other). The host's table is checked by the collateral
	 * worker, whose set sets the product (snpd_view_apply_collateral()).
	 */
	if (v->ref.product_source != SNP_PRODUCT_SRC_CPUID &&
	    (v->cert_src[SNPD_CERT_VCEK] == SNPD_SRC_DIR ||
	     v->cert_src[SNPD_CERT_VLEK] == SNPD_SRC_DIR)) {
		const char *pem = v->cert_src[SNPD_CERT_VCEK] == SNPD_SRC_DIR ?
					  v->certs[SNPD_CERT_VCEK] :
					  v->certs[SNPD_CERT_VLEK];
		STACK_OF(X509) *sk = NULL;
		struct snp_amd_ext ext;
		enum snp_product p;

		if (snp_x509_load_mem((const u8 *)pem, strlen(pem), &sk, NULL, 0) == 0) {
			if (snp_amd_ext_parse(sk_X509_value(sk, 0), &ext, NULL, 0) == 0 &&
			    ext.has_product_name &&
			    snp_product_from_string(ext.product_name, &p) == 0)
				snp_report_set_product(&v->ref, p, SNP_PRODUCT_SRC_CERT);
			sk_X509_pop_free(sk, X509_free);
		}
	}

	rc = view_facts(v);
	if (rc < 0)
		goto fail;
	*ret = v;
	return 0;
fail:
	/* every failure is said: paths out of memory leave no message of their own */
	if (err && errlen && !err[0])
		snprintf(err, errlen, "%s", strerror(-rc));
	snpd_view_free(v);
	return rc;
}

/* The bytes of file @f of @v (NULL when it has none). */
static const char *view_file(const struct snpd_view *v, enum snpd_view_file f, size_t *len)
{
	const char *text[] = { v->platform_json, v->measurement, v->tcb,
			       v->chip_id,	 v->policy,	 v->vmpl };

	if (f >= SNPD_VIEW_CERT0) {
		*len = v->cert_len[f - SNPD_VIEW_CERT0];
		return v->certs[f - SNPD_VIEW_CERT0];
	}
	*len = text[f] ? strlen(text[f]) : 0;
	return text[f];
}

static bool view_file_same(const struct snpd_view *a, const struct snpd_view *b,
			   enum snpd_view_file f)
{
	size_t alen, blen;
	const char *pa = view_file(a, f, &alen), *pb = view_file(b, f, &blen);

	if (!pa || !pb)
		return !pa && !pb;
	return alen == blen && !memcmp(pa, pb, alen);
}

void snpd_view_set_times(struct snpd_view *v, const struct snpd_view *old)
{
	struct timespec now;
	bool certs_same = old != NULL;

	if (clock_gettime(CLOCK_REALTIME, &now) < 0)
		now = (struct timespec){ 0 };
	for (int f = 0; f < SNPD_VIEW_CERTS_DIR; f++) {
		bool same = old && view_file_same(v, old, f);

		v->mtime[f] = same ? old->mtime[f] : now;
		/* certs/ lists another set of names */
		if (f >= SNPD_VIEW_CERT0 && old &&
		    !v->certs[f - SNPD_VIEW_CERT0] != !old->certs[f - SNPD_VIEW_CERT0])
			certs_same = false;
	}
	v->mtime[SNPD_VIEW_CERTS_DIR] = certs_same ? old->mtime[SNPD_VIEW_CERTS_DIR] : now;
}

struct snpd_view *snpd_view_free(struct snpd_view *v)
{
	if (!v)
		return NULL;
	free(v->platform_json);
	free(v->measurement);
	free(v->tcb);
	free(v->chip_id);
	free(v->policy);
	free(v->vmpl);
	free(v->certs_error);
	for (size_t i = 0; i < _SNPD_CERT_MAX; i++)
		free(v->certs[i]);
	free(v);
	return NULL;
}

json_t *snpd_report_json(const struct snpd *d, const u8 report[SNP_REPORT_SIZE])
{
	struct snp_report_info ri;

	if (snp_report_parse(report, SNP_REPORT_SIZE, &ri, NULL, 0) < 0)
		return NULL;
	if (ri.product_source != SNP_PRODUCT_SRC_CPUID && d->view)
		snp_report_set_product(&ri, d->view->ref.product, d->view->ref.product_source);
	return snp_report_to_json(&ri);
}

void snpd_platform_id_of(const u8 *report, struct snpd_platform_id *ret)
{
	struct snp_report_info ri;

	/* the raw fields only: a report need not parse to be compared */
	memcpy(&ri.r, report, sizeof(ri.r));
	ret->reported_tcb = le64_to_cpu(ri.r.reported_tcb);
	memcpy(ret->chip_id, ri.r.chip_id, sizeof(ret->chip_id));
	ret->signing_key = snp_report_signing_key(&ri);
}

bool snpd_platform_id_equal(const struct snpd_platform_id *a, const struct snpd_platform_id *b)
{
	return a->reported_tcb == b->reported_tcb && a->signing_key == b->signing_key &&
	       !memcmp(a->chip_id, b->chip_id, sizeof(a->chip_id));
}

static const char *signing_key_name(u32 k)
{
	return k == SNP_SIGNING_KEY_VCEK ? "VCEK" : k == SNP_SIGNING_KEY_VLEK ? "VLEK" : "none";
}

void snpd_platform_id_diff(const struct snpd_platform_id *was, const struct snpd_platform_id *now,
			   char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	if (was->reported_tcb != now->reported_tcb)
		n += (size_t)snprintf(buf, len, "REPORTED_TCB 0x%016llx -> 0x%016llx",
				      (unsigned long long)was->reported_tcb,
				      (unsigned long long)now->reported_tcb);
	if (n < len && memcmp(was->chip_id, now->chip_id, sizeof(was->chip_id))) {
		char a[17], b[17];
		size_t i = 0;

		/* the 8 bytes where they first differ: the whole ids are 128 digits each */
		while (was->chip_id[i] == now->chip_id[i])
			i++;
		i &= ~(size_t)7;
		snp_hex_encode(was->chip_id + i, 8, a);
		snp_hex_encode(now->chip_id + i, 8, b);
		n += (size_t)snprintf(buf + n, len - n, "%sCHIP_ID bytes %zu-%zu %s -> %s",
				      n ? ", " : "", i, i + 7, a, b);
	}
	if (n < len && was->signing_key != now->signing_key)
		snprintf(buf + n, len - n, "%ssigning key %s -> %s", n ? ", " : "",
			 signing_key_name(was->signing_key), signing_key_name(now->signing_key));
}

int snpd_view_check_report(struct snpd *d, const u8 *report, char *why, size_t len)
{
	struct snpd_platform_id ref, now;
	char diff[256];

	if (!d->view)
		return 0;
	snpd_platform_id_of((const u8 *)&d->view->ref.r, &ref);
	snpd_platform_id_of(report, &now);
	if (snpd_platform_id_equal(&ref, &now)) {
		/* the host went back to the view's platform: it is not stale */
		d->stale = false;
		d->stale_error[0] = '\0';
		return 0;
	}
	d->stale_reports++;
	snpd_platform_id_diff(&ref, &now, diff, sizeof(diff));
	snprintf(why, len,
		 "the host changed the platform (%s): the collateral snpd holds is not this "
		 "report's; snpd is refreshing it",
		 diff);
	d->stale = true;
	d->stale_id = now;
	if (d->view_mismatch)
		d->view_mismatch(d, &now);
	return -ENOKEY;
}
