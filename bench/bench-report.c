// SPDX-License-Identifier: Apache-2.0
/*
 * bench-report: in-process cost of decoding and verifying the genuine AMD
 * reports of ../shared/testdata/real (read through its manifest.json).
 *
 *   decode        snp_report_load()
 *   decode+JSON   snp_report_load() + snp_report_to_json() + json_dumps()
 *   load certs    snp_x509_load_file() of the vector's VCEK and CA files
 *   verify        snp_report_load() + snp_verify() (chain, signature, TCB,
 *                 chip id, validity one day after the leaf's notBefore;
 *                 empty policy)
 *   raw crypto    the floor any verifier pays: the report's ECDSA P-384
 *                 signature and the three RSA-PSS certificate signatures
 *                 (ARK self, ASK by ARK, VCEK by ASK), straight OpenSSL
 *
 * Usage: bench-report [TESTDATA]   (default $SNP_TESTDATA)
 * SNP_BENCH_SECONDS: time spent on each figure (default 1).
 *
 * A benchmark, not a test: it prints figures and exits 0 whatever they
 * are; it exits 1 only when it cannot run at all.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "lib/report.h"
#include "lib/util.h"
#include "lib/verify.h"
#include "lib/x509-amd.h"

#define MAX_VECTORS	 64
#define REPORT_INPUT_MAX (64 * 1024)

struct vector {
	char name[128];
	u8 *report; /* the file as given: binary or hex text */
	size_t report_len;
	bool hex;
	bool positive; /* not a NEG vector: verification should pass */
	char vcek[4096];
	char ca[4][4096];
	size_t n_ca;
	/* loaded for the verify figures */
	STACK_OF(X509) * pool; /* owns every certificate below */
	X509 *ark, *ask, *leaf;
	u8 sig_der[256]; /* the report's signature as DER ECDSA-Sig-Value */
	size_t sig_der_len;
};

static struct vector vectors[MAX_VECTORS];
static size_t n_vectors;
static double budget_s = 1.0;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int path_join(char *out, size_t size, const char *dir, const char *rel)
{
	if ((size_t)snprintf(out, size, "%s/%s", dir, rel) >= size)
		return -ENAMETOOLONG;
	return 0;
}

static int load_manifest(const char *testdata)
{
	char path[4096];
	json_error_t jerr;
	json_t *m, *list;
	size_t i;
	int r;

	r = path_join(path, sizeof(path), testdata, "manifest.json");
	if (r < 0)
		return r;
	m = json_load_file(path, 0, &jerr);
	if (!m) {
		fprintf(stderr, "bench-report: %s: %s\n", path, jerr.text);
		return -EINVAL;
	}
	list = json_object_get(m, "vectors");
	for (i = 0; i < json_array_size(list); i++) {
		json_t *v = json_array_get(list, i);
		const char *name = json_string_value(json_object_get(v, "name"));
		const char *report = json_string_value(json_object_get(v, "report"));
		const char *fmt = json_string_value(json_object_get(v, "report_format"));
		const char *vcek = json_string_value(json_object_get(v, "vcek"));
		json_t *ca = json_object_get(v, "ca");
		struct vector *vec;
		size_t k;

		if (!name || !report || !vcek)
			continue;
		if (n_vectors == MAX_VECTORS)
			break;
		vec = &vectors[n_vectors];
		snprintf(vec->name, sizeof(vec->name), "%s", name);
		vec->positive = strncmp(name, "NEG", 3) != 0;
		vec->hex = fmt && strcmp(fmt, "hex") == 0;
		r = path_join(path, sizeof(path), testdata, report);
		if (r == 0)
			r = snp_read_file(path, REPORT_INPUT_MAX, &vec->report, &vec->report_len);
		if (r == 0)
			r = path_join(vec->vcek, sizeof(vec->vcek), testdata, vcek);
		for (k = 0; k < json_array_size(ca); k++) {
			json_t *c = json_array_get(ca, k);

			if (r < 0 || vec->n_ca == SNP_ELEMENTSOF(vec->ca) || !json_is_string(c))
				break;
			r = path_join(vec->ca[vec->n_ca++], sizeof(vec->ca[0]), testdata,
				      json_string_value(c));
		}
		if (r < 0) {
			fprintf(stderr, "bench-report: %s: %s\n", name, strerror(-r));
			json_decref(m);
			return r;
		}
		n_vectors++;
	}
	json_decref(m);
	return 0;
}

static bool is_self_issued(X509 *c)
{
	return X509_NAME_cmp(X509_get_subject_name(c), X509_get_issuer_name(c)) == 0;
}

static bool has_ec_key(X509 *c)
{
	EVP_PKEY *k = X509_get0_pubkey(c);

	return k && EVP_PKEY_get_base_id(k) == EVP_PKEY_EC;
}

/* Load the vector's certificates into a new pool; returns 0 or -errno. */
static int load_certs(struct vector *v, STACK_OF(X509) * *ret_pool)
{
	STACK_OF(X509) *pool = sk_X509_new_null(), *sk = NULL;
	char err[SNP_ERRBUF];
	int r = 0;

	if (!pool)
		return -ENOMEM;
	for (size_t i = 0; i <= v->n_ca && r == 0; i++) {
		r = snp_x509_load_file(i == 0 ? v->vcek : v->ca[i - 1], &sk, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "bench-report: %s: %s\n", v->name, err);
			break;
		}
		while (sk_X509_num(sk) > 0) {
			X509 *c = sk_X509_shift(sk);

			if (!sk_X509_push(pool, c)) {
				X509_free(c);
				r = -ENOMEM;
				break;
			}
		}
		sk_X509_pop_free(sk, X509_free);
		sk = NULL;
	}
	if (r < 0) {
		sk_X509_pop_free(pool, X509_free);
		return r;
	}
	*ret_pool = pool;
	return 0;
}

/* Leaf: the first EC certificate; ASK: its issuer; ARK: the ASK's issuer. */
static void classify(struct vector *v)
{
	int n = sk_X509_num(v->pool);

	for (int i = 0; !v->leaf && i < n; i++)
		if (has_ec_key(sk_X509_value(v->pool, i)))
			v->leaf = sk_X509_value(v->pool, i);
	for (int i = 0; v->leaf && !v->ask && i < n; i++) {
		X509 *c = sk_X509_value(v->pool, i);

		if (c != v->leaf && !is_self_issued(c) &&
		    X509_NAME_cmp(X509_get_subject_name(c), X509_get_issuer_name(v->leaf)) == 0)
			v->ask = c;
	}
	for (int i = 0; v->ask && !v->ark && i < n; i++) {
		X509 *c = sk_X509_value(v->pool, i);

		if (is_self_issued(c) &&
		    X509_NAME_cmp(X509_get_subject_name(c), X509_get_issuer_name(v->ask)) == 0)
			v->ark = c;
	}
}

/*
 * Certificates expire (a VLEK after a year): check every vector one day
 * after its leaf's notBefore, as `snpctl verify --at` would.
 */
static int leaf_valid_time(X509 *leaf, time_t *ret)
{
	struct tm tm = { 0 };

	if (ASN1_TIME_to_tm(X509_get0_notBefore(leaf), &tm) != 1)
		return -EINVAL;
	*ret = timegm(&tm) + 24 * 60 * 60;
	return 0;
}

/* The report's R and S (little-endian, 72 bytes each) as DER ECDSA-Sig-Value. */
static int signature_der(struct vector *v, const struct snp_report_info *ri)
{
	const struct snp_ecdsa_sig *s = &ri->r.signature;
	u8 rb[SNP_ECDSA_P384_SIZE], sb[SNP_ECDSA_P384_SIZE];
	BIGNUM *br, *bs;
	ECDSA_SIG *sig;
	u8 *p = v->sig_der;
	int n = -1;

	for (size_t i = 0; i < SNP_ECDSA_P384_SIZE; i++) {
		rb[i] = s->r[SNP_ECDSA_P384_SIZE - 1 - i];
		sb[i] = s->s[SNP_ECDSA_P384_SIZE - 1 - i];
	}
	sig = ECDSA_SIG_new();
	br = BN_bin2bn(rb, sizeof(rb), NULL);
	bs = BN_bin2bn(sb, sizeof(sb), NULL);
	if (sig && br && bs && ECDSA_SIG_set0(sig, br, bs) == 1) {
		br = bs = NULL;
		if (i2d_ECDSA_SIG(sig, NULL) <= (int)sizeof(v->sig_der))
			n = i2d_ECDSA_SIG(sig, &p);
	}
	BN_free(br);
	BN_free(bs);
	ECDSA_SIG_free(sig);
	if (n <= 0)
		return -EINVAL;
	v->sig_der_len = (size_t)n;
	return 0;
}

/* The minimum crypto of one verification. true when all four signatures hold. */
static bool raw_crypto(const struct vector *v, const struct snp_report_info *ri)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok;

	ok = ctx &&
	     EVP_DigestVerifyInit(ctx, NULL, EVP_sha384(), NULL, X509_get0_pubkey(v->leaf)) == 1 &&
	     EVP_DigestVerify(ctx, v->sig_der, v->sig_der_len, (const u8 *)&ri->r,
			      SNP_REPORT_SIGNED_LEN) == 1;
	EVP_MD_CTX_free(ctx);
	ok = ok && X509_verify(v->ark, X509_get0_pubkey(v->ark)) == 1;
	ok = ok && X509_verify(v->ask, X509_get0_pubkey(v->ark)) == 1;
	ok = ok && X509_verify(v->leaf, X509_get0_pubkey(v->ask)) == 1;
	return ok;
}

static void bench_decode(void)
{
	size_t n_bin = 0, n_hex = 0, bytes = 0;
	char err[SNP_ERRBUF];
	double t0, t = 0, parse_ns, full_ns;
	unsigned long long n;

	for (size_t i = 0; i < n_vectors; i++) {
		struct snp_report_info ri;

		if (snp_report_load(vectors[i].report, vectors[i].report_len, &ri, err,
				    sizeof(err)) < 0) {
			printf("  note: %s does not decode: %s\n", vectors[i].name, err);
			continue;
		}
		if (vectors[i].hex)
			n_hex++;
		else
			n_bin++;
		bytes += vectors[i].report_len;
	}
	printf("report inputs: %zu (%zu binary, %zu hex), %zu bytes per pass\n", n_bin + n_hex,
	       n_bin, n_hex, bytes);

	/* parse only */
	n = 0;
	t0 = now_s();
	do {
		for (size_t i = 0; i < n_vectors; i++) {
			struct snp_report_info ri;

			if (snp_report_load(vectors[i].report, vectors[i].report_len, &ri, err,
					    sizeof(err)) == 0)
				n++;
		}
	} while ((t = now_s() - t0) < budget_s && n > 0);
	parse_ns = n ? t * 1e9 / (double)n : 0;

	/* parse + JSON + serialisation, as `snpctl show --json` does */
	n = 0;
	t0 = now_s();
	do {
		for (size_t i = 0; i < n_vectors; i++) {
			struct snp_report_info ri;
			json_t *j;
			char *s;

			if (snp_report_load(vectors[i].report, vectors[i].report_len, &ri, err,
					    sizeof(err)) < 0)
				continue;
			j = snp_report_to_json(&ri);
			s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
			if (s)
				n++;
			free(s);
			json_decref(j);
		}
	} while ((t = now_s() - t0) < budget_s && n > 0);
	full_ns = n ? t * 1e9 / (double)n : 0;

	printf("%-46s %10.0f ns/report\n", "decode (snp_report_load)", parse_ns);
	printf("%-46s %10.0f ns/report  (%.0f reports/s)\n",
	       "decode+JSON (load + to_json + json_dumps)", full_ns,
	       full_ns > 0 ? 1e9 / full_ns : 0);
}

static void bench_verify(void)
{
	size_t n_ready = 0, n_verified = 0;
	unsigned long long n;
	char err[SNP_ERRBUF];
	double t0, load_ms, verify_ms, raw_ms, load_s = 0;
	double vmin = 1e9, vmax = 0;

	/* load each positive vector's certificates once, and time that */
	n = 0;
	for (size_t i = 0; i < n_vectors; i++) {
		struct vector *v = &vectors[i];
		struct snp_report_info ri;
		int r;

		if (!v->positive)
			continue;
		t0 = now_s();
		r = load_certs(v, &v->pool);
		load_s += now_s() - t0;
		if (r < 0)
			continue;
		n++;
		classify(v);
		if (!v->leaf || !v->ask || !v->ark) {
			printf("  note: %s: no complete ARK/ASK/leaf chain, skipped\n", v->name);
			continue;
		}
		if (snp_report_load(v->report, v->report_len, &ri, err, sizeof(err)) < 0 ||
		    signature_der(v, &ri) < 0) {
			printf("  note: %s: report unusable, skipped\n", v->name);
			v->leaf = NULL;
			continue;
		}
		n_ready++;
	}
	load_ms = n ? load_s * 1e3 / (double)n : 0;
	if (!n_ready) {
		printf("verify: no vector with a report and a complete chain\n");
		return;
	}

	/*
	 * snp_verify and the raw crypto, alternated call by call so that both
	 * see the same machine load; per vector to show the spread.
	 */
	verify_ms = 0;
	raw_ms = 0;
	for (size_t i = 0; i < n_vectors; i++) {
		struct vector *v = &vectors[i];
		double per, acc_v = 0, acc_r = 0, ta, tb, tc;
		time_t at;
		bool ok = true, raw_ok = true;

		if (!v->positive || !v->leaf)
			continue;
		if (leaf_valid_time(v->leaf, &at) < 0) {
			printf("  note: %s: unreadable notBefore, checking at now\n", v->name);
			at = time(NULL);
		}
		n = 0;
		t0 = now_s();
		do {
			struct snp_report_info ri;
			struct snp_verify_input in = { 0 };
			struct snp_verify_result res;
			struct snp_policy pol = { 0 };

			ta = now_s();
			if (snp_report_load(v->report, v->report_len, &ri, err, sizeof(err)) < 0)
				break;
			in.report = &ri;
			in.ark = v->ark;
			in.ask = v->ask;
			in.leaf = v->leaf;
			in.at = at;
			if (snp_verify(&in, &pol, &res) < 0) {
				ok = false;
				break;
			}
			tb = now_s();
			raw_ok = raw_ok && raw_crypto(v, &ri);
			tc = now_s();
			ok = ok && snp_verify_result_ok(&res, SNP_CHECK_VERIFY);
			acc_v += tb - ta;
			acc_r += tc - tb;
			n++;
		} while (now_s() - t0 < budget_s / (double)n_ready);
		if (!n)
			continue;
		per = acc_v * 1e3 / (double)n;
		verify_ms += per;
		raw_ms += acc_r * 1e3 / (double)n;
		vmin = per < vmin ? per : vmin;
		vmax = per > vmax ? per : vmax;
		if (ok)
			n_verified++;
		else
			printf("  note: %s does not verify in process\n", v->name);
		if (!raw_ok)
			printf("  note: %s: a raw signature check fails\n", v->name);
	}
	verify_ms /= (double)n_ready;
	raw_ms /= (double)n_ready;

	printf("vectors verified in process: %zu of %zu\n", n_verified, n_ready);
	printf("%-46s %10.3f ms/vector\n", "load certificates (snp_x509_load_file)", load_ms);
	printf("%-46s %10.3f ms/report  (min %.3f, max %.3f)\n",
	       "verify in process (load + snp_verify)", verify_ms, vmin, vmax);
	printf("%-46s %10.3f ms/report\n", "raw crypto (1 ECDSA P-384 + 3 RSA-PSS)", raw_ms);
	if (raw_ms > 0)
		printf("%-46s %10.2f\n", "ratio snp_verify / raw crypto", verify_ms / raw_ms);
}

int main(int argc, char **argv)
{
	const char *testdata = argc > 1 ? argv[1] : getenv("SNP_TESTDATA");
	const char *secs = getenv("SNP_BENCH_SECONDS");
	uint32_t s;

	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "Usage: bench-report [TESTDATA]\n");
		return 1;
	}
	if (!testdata || !*testdata) {
		fprintf(stderr, "bench-report: give TESTDATA or set SNP_TESTDATA\n");
		return 1;
	}
	if (secs && *secs) {
		if (snp_parse_u32_max(secs, 3600, &s) < 0 || s == 0) {
			fprintf(stderr, "bench-report: SNP_BENCH_SECONDS='%s' is not 1..3600\n",
				secs);
			return 1;
		}
		budget_s = s;
	}
	if (load_manifest(testdata) < 0)
		return 1;
	if (!n_vectors) {
		fprintf(stderr, "bench-report: no report in %s/manifest.json\n", testdata);
		return 1;
	}

	printf("bench-report: %s, %.0f s per figure, %s\n", testdata, budget_s,
	       OpenSSL_version(OPENSSL_VERSION));
	bench_decode();
	bench_verify();

	for (size_t i = 0; i < n_vectors; i++) {
		free(vectors[i].report);
		sk_X509_pop_free(vectors[i].pool, X509_free);
	}
	return 0;
}
