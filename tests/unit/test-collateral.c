// SPDX-License-Identifier: Apache-2.0
/*
 * daemon/collateral.c against host certificate tables that hold both a
 * VCEK and a VLEK: the leaf taken is the one the report's SIGNING_KEY
 * names (0 VCEK, 1 VLEK), with its own CA (ASK or ASVK, which share the
 * table's one ASK slot), never the other; a table without the signer's
 * leaf is said so in the note. The chip is a simulated one with a VLEK
 * (its ARK trusted through TrustArk=, as snpd does on the simulator);
 * offline with an empty cache, so whatever leaf is served comes from the
 * table.
 *
 * A version-2 report does not say its product: with the genuine AMD data
 * of $SNP_TESTDATA and AMD's embedded roots (no TrustArk=), the product of
 * the set is the one whose root a leaf that signs the report chains to
 * (Milan for a Milan report with its VCEK in the table); a table with a
 * genuine Genoa chain and VCEK, or another Milan chip's VCEK, decides
 * nothing, whatever its productName says. Plain C: no cmocka needed.
 *
 * Also: a leaf is taken only when the reference report's signature
 * verifies with it and its TCB (and a VCEK's hwID, unless CHIP_ID is
 * masked) is the report's: a VCEK of another key, a VLEK of another TCB
 * or key, with CHIP_ID masked or not, are flagged and not served. And a
 * CRL (the host's, or a cached one) is taken only when it is the trusted
 * ARK's (signed and issued by it) and current; a complete set is looked
 * up again when its CRL's nextUpdate comes. Online, an incomplete set is
 * looked up again when KDS's backoff or its remembered refusal (404) ends,
 * on the wall clock (a refusal a TTL from now at the most), also for a
 * report whose product is undecided.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <systemd/sd-event.h>

#include "daemon/collateral.h"
#include "kernel/snp-certs.h"
#include "lib/cert-table.h"
#include "lib/kds.h"
#include "lib/util.h"
#include "lib/x509-amd.h"
#include "sim/sim.h"
#include "tests/unit/check.h"

static const u8 guid_ark[16] = SNP_GUID_ARK, guid_ask[16] = SNP_GUID_ASK,
		guid_vcek[16] = SNP_GUID_VCEK, guid_vlek[16] = SNP_GUID_VLEK,
		guid_crl[16] = SNP_GUID_CRL;

struct fixture {
	struct sim_state *st;
	char dir[PATH_MAX];
	char ark_path[PATH_MAX + 16];
	char cache_dir[PATH_MAX + 16];
	sd_event *e;
	struct snpd_collateral *c;
	struct snpd_coll_set *set; /* the last one done() got */
	char *pem_vcek, *pem_vlek, *pem_ask, *pem_asvk;
};

static void on_done(void *userdata, struct snpd_coll_set *s)
{
	struct fixture *f = userdata;

	snpd_coll_set_free(f->set);
	f->set = s;
}

/* A host table of @n certificates (DER) with the given GUIDs, and @crl if any; malloc()ed. */
static u8 *table_crl_of(X509 *const *certs, const u8 *const *guids, size_t n, X509_CRL *crl,
			size_t *len)
{
	u8 gs[8][16];
	u8 *der[8] = { 0 };
	const u8 *blobs[8];
	u32 lens[8];
	u8 *buf = malloc(SNP_CERT_TABLE_MAX * 1024);
	ssize_t r = -ENOMEM;
	size_t m = n;

	for (size_t i = 0; i < n && buf; i++) {
		int l = i2d_X509(certs[i], &der[i]);

		if (l <= 0)
			goto out;
		memcpy(gs[i], guids[i], 16);
		blobs[i] = der[i];
		lens[i] = (u32)l;
	}
	if (crl && buf) {
		int l = i2d_X509_CRL(crl, &der[n]);

		if (l <= 0)
			goto out;
		memcpy(gs[n], guid_crl, 16);
		blobs[n] = der[n];
		lens[n] = (u32)l;
		m++;
	}
	if (buf)
		r = snp_cert_table_build((const u8(*)[16])gs, blobs, lens, m, buf,
					 SNP_CERT_TABLE_MAX * 1024);
out:
	for (size_t i = 0; i < m; i++)
		OPENSSL_free(der[i]);
	if (r < 0) {
		free(buf);
		fprintf(stderr, "cannot build a table: %zd\n", r);
		exit(1);
	}
	*len = (size_t)r;
	return buf;
}

static u8 *table_of(X509 *const *certs, const u8 *const *guids, size_t n, size_t *len)
{
	return table_crl_of(certs, guids, n, NULL, len);
}

/*
 * A CRL valid from now + @this_off to now + @next_off seconds, issued by
 * @issuer (NULL: the ARK's subject) and signed by @key (NULL: the ARK's).
 */
static X509_CRL *crl_new(const struct fixture *f, long this_off, long next_off,
			 const X509_NAME *issuer, EVP_PKEY *key)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t1 = ASN1_TIME_adj(NULL, time(NULL), 0, this_off);
	ASN1_TIME *t2 = ASN1_TIME_adj(NULL, time(NULL), 0, next_off);

	if (!crl || !t1 || !t2 || X509_CRL_set_version(crl, 1) != 1 ||
	    X509_CRL_set_issuer_name(crl, issuer ? issuer : X509_get_subject_name(f->st->ark)) !=
		    1 ||
	    X509_CRL_set1_lastUpdate(crl, t1) != 1 || X509_CRL_set1_nextUpdate(crl, t2) != 1 ||
	    X509_CRL_sort(crl) != 1 ||
	    X509_CRL_sign(crl, key ? key : f->st->ark_key, EVP_sha384()) <= 0) {
		fprintf(stderr, "cannot make a CRL\n");
		exit(1);
	}
	ASN1_TIME_free(t1);
	ASN1_TIME_free(t2);
	return crl;
}

/* @c (a copy) with another P-384 key, signed by @ca_key: right names and extensions. */
static X509 *rekeyed(X509 *c, EVP_PKEY *ca_key)
{
	X509 *x = X509_dup(c);
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");

	if (!x || !k || X509_set_pubkey(x, k) != 1 || X509_sign(x, ca_key, EVP_sha384()) <= 0) {
		fprintf(stderr, "cannot make a certificate\n");
		exit(1);
	}
	EVP_PKEY_free(k);
	return x;
}

/* Put @crl in the cache as crl/<Product>-vcek.crl (or -vlek). */
static void cache_crl(const struct fixture *f, X509_CRL *crl, bool vlek)
{
	char path[PATH_MAX + 64];
	FILE *fp;

	snprintf(path, sizeof(path), "%s", f->cache_dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/crl", f->cache_dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/crl/Milan-%s.crl", f->cache_dir, vlek ? "vlek" : "vcek");
	fp = fopen(path, "we");
	if (!fp || i2d_X509_CRL_fp(fp, crl) != 1 || fclose(fp) != 0) {
		fprintf(stderr, "cannot write %s\n", path);
		exit(1);
	}
}

static void cache_clear(const struct fixture *f)
{
	if (access(f->cache_dir, F_OK) == 0)
		check_rmtree(f->cache_dir);
}

/* Submit @ri with @table, offline, the root @trust_ark ("": AMD's); the set. */
static const struct snpd_coll_set *submit(struct fixture *f, const struct snp_report_info *ri,
					  const u8 *table, size_t len, const char *trust_ark)
{
	struct snpd_coll_config cfg = {
		.kds_url = "http://127.0.0.1:9", /* never asked: offline */
		.cache_dir = f->cache_dir,
		.trust_ark = trust_ark,
		.ca_file = "",
		.offline = true,
	};

	f->set = snpd_coll_set_free(f->set);
	/* offline: the local pass is the last; done() has it on return */
	if (snpd_collateral_submit(f->c, ri, table, len, &cfg, true) < 0 || !f->set) {
		fprintf(stderr, "no collateral set\n");
		exit(1);
	}
	return f->set;
}

/*
 * Submit a reference report signed by @signer (its key of the simulated
 * chip), its CHIP_ID zero when @masked, with @table; the set.
 */
static const struct snpd_coll_set *run_chip(struct fixture *f, u32 signer, bool masked,
					    const u8 *table, size_t len)
{
	struct snp_report_info ri;

	memset(&ri, 0, sizeof(ri));
	ri.product = f->st->params.product;
	ri.version = 2;
	ri.r.version = cpu_to_le32(2);
	if (!masked)
		memcpy(ri.r.chip_id, f->st->params.chip_id, sizeof(ri.r.chip_id));
	ri.r.reported_tcb = cpu_to_le64(f->st->params.reported_tcb);
	ri.r.key_info = cpu_to_le32(signer << SNP_KEYINFO_SIGNING_KEY_SHIFT);
	if (sim_sign_report(signer == SNP_SIGNING_KEY_VLEK ? f->st->vlek_key : f->st->vcek_key,
			    (const u8 *)&ri.r, SNP_REPORT_SIGNED_LEN, &ri.r.signature) < 0) {
		fprintf(stderr, "cannot sign the report\n");
		exit(1);
	}
	return submit(f, &ri, table, len, f->ark_path);
}

static const struct snpd_coll_set *run(struct fixture *f, u32 signer, const u8 *table, size_t len)
{
	return run_chip(f, signer, false, table, len);
}

static const char *leaf_is(const struct fixture *f, const struct snpd_coll_set *s)
{
	const char *p = s->pem[SNPD_COLL_LEAF];

	return !p		       ? "none" :
	       !strcmp(p, f->pem_vcek) ? "the VCEK" :
	       !strcmp(p, f->pem_vlek) ? "the VLEK" :
					 "another certificate";
}

static const char *ca_is(const struct fixture *f, const struct snpd_coll_set *s)
{
	const char *p = s->pem[SNPD_COLL_ASK];

	return !p		       ? "none" :
	       !strcmp(p, f->pem_ask)  ? "the ASK" :
	       !strcmp(p, f->pem_asvk) ? "the ASVK" :
					 "another certificate";
}

/* The certificates of $SNP_TESTDATA/@rel (PEM or DER) appended to @out; how many. */
static size_t load_real(const char *rel, X509 **out, size_t max)
{
	STACK_OF(X509) *sk = NULL;
	char path[PATH_MAX];
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/%s", getenv("SNP_TESTDATA"), rel);
	if (snp_x509_load_file(path, &sk, NULL, 0) < 0) {
		fprintf(stderr, "cannot read %s\n", path);
		exit(1);
	}
	while (n < max && sk_X509_num(sk) > 0)
		out[n++] = sk_X509_shift(sk);
	sk_X509_pop_free(sk, X509_free);
	return n;
}

static void load_real_report(const char *rel, struct snp_report_info *ri)
{
	u8 buf[SNP_REPORT_SIZE];
	char path[PATH_MAX];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", getenv("SNP_TESTDATA"), rel);
	fp = fopen(path, "rbe");
	if (!fp || fread(buf, 1, sizeof(buf), fp) != sizeof(buf) ||
	    snp_report_parse(buf, sizeof(buf), ri, NULL, 0) < 0) {
		fprintf(stderr, "cannot read the report %s\n", path);
		exit(1);
	}
	fclose(fp);
}

/* A table of @n certificates, the first ARK, ASK, ... as @kinds says. */
static u8 *table_of_kinds(X509 *const *certs, const char *kinds, size_t *len)
{
	const u8 *g[8];
	size_t n = strlen(kinds);

	for (size_t i = 0; i < n; i++)
		g[i] = kinds[i] == 'R' ? guid_ark : kinds[i] == 'S' ? guid_ask : guid_vcek;
	return table_of(certs, g, n, len);
}

static const char *yes(bool b)
{
	return b ? "yes" : "no";
}

/* Version-2 reports of genuine AMD chips: the product from a leaf that signs them. */
static void genuine_v2(struct fixture *f)
{
	struct snp_report_info milan, other;
	X509 *c[8] = { 0 }, *leaf[1] = { 0 };
	const struct snpd_coll_set *s;
	char *pem_leaf;
	size_t len, n;
	u8 *t;

	if (!getenv("SNP_TESTDATA") || !*getenv("SNP_TESTDATA")) {
		printf("skip genuine v2 reports: SNP_TESTDATA is not set\n");
		return;
	}
	load_real_report("trustee/snp/test-report.bin", &milan);
	CHECK(milan.version == 2 && milan.product == SNP_PRODUCT_UNKNOWN,
	      "trustee/milan: a version-2 report whose product is unknown (version %u, %s)",
	      milan.version, snp_product_name(milan.product));

	/* its VCEK alone: the ASK and ARK are AMD's embedded Milan ones */
	load_real("trustee/snp/test-vcek.der", leaf, 1);
	pem_leaf = snp_x509_to_pem(leaf[0]);
	t = table_of_kinds(leaf, "V", &len);
	s = submit(f, &milan, t, len, "");
	CHECK(s->product == SNP_PRODUCT_MILAN && s->product_verified && s->pem[SNPD_COLL_LEAF] &&
		      !strcmp(s->pem[SNPD_COLL_LEAF], pem_leaf) &&
		      s->src[SNPD_COLL_LEAF] == SNPD_SRC_HOST &&
		      s->src[SNPD_COLL_ASK] == SNPD_SRC_EMBEDDED &&
		      s->src[SNPD_COLL_ARK] == SNPD_SRC_EMBEDDED &&
		      snpd_coll_set_matches(s, &milan),
	      "Milan v2 report, the table its VCEK: product %s (Milan), verified %s, the VCEK "
	      "%s, ASK/ARK embedded, the set matches the report: note '%s', error '%s'",
	      snp_product_name(s->product), yes(s->product_verified),
	      s->pem[SNPD_COLL_LEAF] ? "taken" : "not taken", s->host_note, s->error);
	free(t);
	free(pem_leaf);
	X509_free(leaf[0]);

	/* a genuine Genoa chain and VCEK (of another chip): Genoa is not the product */
	n = load_real("oak/ark_genoa.pem", c, 1);
	n += load_real("oak/ask_genoa.pem", c + n, 1);
	n += load_real("oak/genoa_oc.vcek.der", c + n, 1);
	t = table_of_kinds(c, "RSV", &len);
	s = submit(f, &milan, t, len, "");
	CHECK(n == 3 && s->product == SNP_PRODUCT_UNKNOWN && !s->product_verified &&
		      !s->pem[SNPD_COLL_LEAF] && !s->pem[SNPD_COLL_ASK] && !s->pem[SNPD_COLL_ARK] &&
		      s->state == SNPD_COLL_NONE && strstr(s->error, "does not say its product") &&
		      strstr(s->host_note, "not used") && snpd_coll_set_matches(s, &milan),
	      "Milan v2 report, the table a genuine Genoa ARK/ASK/VCEK: product %s (unknown), "
	      "verified %s, no certificates (state %s): note '%s', error '%s'",
	      snp_product_name(s->product), yes(s->product_verified),
	      snpd_coll_state_names[s->state], s->host_note, s->error);
	free(t);
	for (size_t i = 0; i < n; i++)
		X509_free(c[i]);

	/* another Milan chip's genuine VCEK: no product either */
	load_real_report("automata/output.report.bin", &other);
	n = load_real("automata/other-chip-vcek.pem", c, 1);
	t = table_of_kinds(c, "V", &len);
	s = submit(f, &other, t, len, "");
	CHECK(n == 1 && other.product == SNP_PRODUCT_UNKNOWN && s->product == SNP_PRODUCT_UNKNOWN &&
		      !s->product_verified && !s->pem[SNPD_COLL_LEAF],
	      "Milan v2 report, the table another Milan chip's VCEK: product %s (unknown), "
	      "verified %s, leaf %s: note '%s', error '%s'",
	      snp_product_name(s->product), yes(s->product_verified),
	      s->pem[SNPD_COLL_LEAF] ? "taken" : "none", s->host_note, s->error);
	free(t);
	X509_free(c[0]);
}

static void setup(struct fixture *f)
{
	struct sim_params p;
	char err[256];
	FILE *fp;

	memset(f, 0, sizeof(*f));
	sim_params_default(&p, SNP_PRODUCT_MILAN);
	if (sim_params_set(&p, "vlek", "1") < 0 ||
	    sim_state_create(NULL, &p, false, &f->st, err, sizeof(err)) < 0) {
		fprintf(stderr, "cannot make a simulated chip with a VLEK\n");
		exit(1);
	}
	if (!check_mkdtemp(f->dir, sizeof(f->dir), "test-collateral"))
		exit(1);
	snprintf(f->ark_path, sizeof(f->ark_path), "%s/ark.pem", f->dir);
	snprintf(f->cache_dir, sizeof(f->cache_dir), "%s/cache", f->dir);
	fp = fopen(f->ark_path, "we");
	if (!fp || PEM_write_X509(fp, f->st->ark) != 1 || fclose(fp) != 0) {
		fprintf(stderr, "cannot write %s\n", f->ark_path);
		exit(1);
	}
	f->pem_vcek = snp_x509_to_pem(f->st->vcek);
	f->pem_vlek = snp_x509_to_pem(f->st->vlek);
	f->pem_ask = snp_x509_to_pem(f->st->ask);
	f->pem_asvk = snp_x509_to_pem(f->st->asvk);
	if (!f->pem_vcek || !f->pem_vlek || !f->pem_ask || !f->pem_asvk ||
	    sd_event_new(&f->e) < 0 || snpd_collateral_new(f->e, on_done, f, &f->c) < 0) {
		fprintf(stderr, "setup failed\n");
		exit(1);
	}
}

static void teardown(struct fixture *f)
{
	snpd_coll_set_free(f->set);
	snpd_collateral_free(f->c);
	sd_event_unref(f->e);
	free(f->pem_vcek);
	free(f->pem_vlek);
	free(f->pem_ask);
	free(f->pem_asvk);
	sim_state_free(f->st);
	check_rmtree(f->dir);
}

/* A leaf is taken only when it is the report's signer: signature, TCB, chip. */
static void leaf_checks(struct fixture *f)
{
	const struct snpd_coll_set *s;
	X509 *other_vcek = rekeyed(f->st->vcek, f->st->ask_key);
	X509 *other_vlek = rekeyed(f->st->vlek, f->st->asvk_key);
	X509 *stale_vlek = sim_identity_stale_leaf(f->st), *stale_vcek;
	size_t len;
	u8 *t;

	/* the VCEK of an older TCB, with that TCB's key (the simulator's, as a chip's) */
	f->st->params.vlek = false;
	stale_vcek = sim_identity_stale_leaf(f->st);
	f->st->params.vlek = true;
	if (!stale_vlek || !stale_vcek) {
		fprintf(stderr, "cannot make stale leaves\n");
		exit(1);
	}

	/* CHIP_ID masked: nothing says which chip; the signature still does */
	{
		X509 *c[] = { f->st->ark, f->st->ask, f->st->vcek };
		const u8 *g[] = { guid_ark, guid_ask, guid_vcek };

		t = table_of(c, g, 3, &len);
	}
	s = run_chip(f, SNP_SIGNING_KEY_VCEK, true, t, len);
	CHECK(!strcmp(leaf_is(f, s), "the VCEK") && s->src[SNPD_COLL_LEAF] == SNPD_SRC_HOST &&
		      !s->host_note[0],
	      "CHIP_ID masked, the chip's VCEK in the table: taken (leaf %s, note '%s')",
	      leaf_is(f, s), s->host_note);
	free(t);
	{
		X509 *c[] = { f->st->ark, f->st->ask, other_vcek };
		const u8 *g[] = { guid_ark, guid_ask, guid_vcek };

		t = table_of(c, g, 3, &len);
	}
	s = run_chip(f, SNP_SIGNING_KEY_VCEK, true, t, len);
	CHECK(!s->pem[SNPD_COLL_LEAF] && s->state != SNPD_COLL_COMPLETE &&
		      strstr(s->host_note, "VCEK is not the report's signer") &&
		      strstr(s->host_note, "signature does not verify"),
	      "CHIP_ID masked, a VCEK of another key (signed by the ASK, the chip's extensions): "
	      "not taken (leaf %s, state %s, note '%s')",
	      leaf_is(f, s), snpd_coll_state_names[s->state], s->host_note);
	s = run_chip(f, SNP_SIGNING_KEY_VCEK, false, t, len);
	CHECK(!s->pem[SNPD_COLL_LEAF] && strstr(s->host_note, "VCEK is not the report's signer"),
	      "CHIP_ID given, a VCEK of another key: not taken (leaf %s, note '%s')", leaf_is(f, s),
	      s->host_note);
	free(t);
	{
		X509 *c[] = { f->st->ark, f->st->ask, stale_vcek };
		const u8 *g[] = { guid_ark, guid_ask, guid_vcek };

		t = table_of(c, g, 3, &len);
	}
	s = run_chip(f, SNP_SIGNING_KEY_VCEK, true, t, len);
	CHECK(!s->pem[SNPD_COLL_LEAF] && s->state != SNPD_COLL_COMPLETE &&
		      strstr(s->host_note, "VCEK is stale") && strstr(s->host_note, "TCB"),
	      "CHIP_ID masked, the chip's VCEK of another TCB: not taken, named stale (leaf %s, "
	      "note '%s')",
	      leaf_is(f, s), s->host_note);
	free(t);

	/* VLEKs: another TCB (and its key), another key (same TCB) */
	{
		X509 *c[] = { f->st->ark, f->st->asvk, stale_vlek };
		const u8 *g[] = { guid_ark, guid_ask, guid_vlek };

		t = table_of(c, g, 3, &len);
	}
	s = run(f, SNP_SIGNING_KEY_VLEK, t, len);
	CHECK(!s->pem[SNPD_COLL_LEAF] && s->state != SNPD_COLL_COMPLETE &&
		      strstr(s->host_note, "VLEK is stale") && strstr(s->host_note, "TCB"),
	      "a VLEK of another TCB: not taken, named stale (leaf %s, state %s, note '%s')",
	      leaf_is(f, s), snpd_coll_state_names[s->state], s->host_note);
	free(t);
	{
		X509 *c[] = { f->st->ark, f->st->asvk, other_vlek };
		const u8 *g[] = { guid_ark, guid_ask, guid_vlek };

		t = table_of(c, g, 3, &len);
	}
	s = run_chip(f, SNP_SIGNING_KEY_VLEK, true, t, len);
	CHECK(!s->pem[SNPD_COLL_LEAF] && s->state != SNPD_COLL_COMPLETE &&
		      strstr(s->host_note, "VLEK is not the report's signer"),
	      "a VLEK of another key (the chip's TCB, signed by the ASVK), CHIP_ID masked: not "
	      "taken (leaf %s, note '%s')",
	      leaf_is(f, s), s->host_note);
	free(t);

	X509_free(other_vcek);
	X509_free(other_vlek);
	X509_free(stale_vcek);
	X509_free(stale_vlek);
}

/* A CRL is taken only when it is the trusted ARK's and current. */
static void crl_checks(struct fixture *f)
{
	X509 *c[] = { f->st->ark, f->st->ask, f->st->vcek };
	const u8 *g[] = { guid_ark, guid_ask, guid_vcek };
	const struct snpd_coll_set *s;
	X509_CRL *current = crl_new(f, -3600, 7 * 86400, NULL, NULL);
	X509_CRL *expired = crl_new(f, -30 * 86400, -86400, NULL, NULL);
	X509_CRL *future = crl_new(f, 86400, 30 * 86400, NULL, NULL);
	X509_NAME *cn_only = X509_NAME_new();
	X509_CRL *other_issuer;
	time_t next = 0;
	size_t len;
	u8 *t;

	/* the ARK's key, but an issuer that is not the ARK's subject (its CN alone) */
	if (!cn_only || X509_NAME_add_entry_by_txt(cn_only, "CN", MBSTRING_ASC,
						   (const u8 *)"ARK-Milan", -1, -1, 0) != 1) {
		fprintf(stderr, "cannot make a name\n");
		exit(1);
	}
	other_issuer = crl_new(f, -3600, 7 * 86400, cn_only, NULL);
	cache_clear(f);

	t = table_crl_of(c, g, 3, current, &len);
	s = run(f, SNP_SIGNING_KEY_VCEK, t, len);
	{
		const ASN1_TIME *nu = X509_CRL_get0_nextUpdate(current);
		struct tm tm;

		if (nu && ASN1_TIME_to_tm(nu, &tm) == 1)
			next = timegm(&tm);
	}
	CHECK(s->state == SNPD_COLL_COMPLETE && s->src[SNPD_COLL_CRL] == SNPD_SRC_HOST &&
		      !s->host_note[0],
	      "the host's current CRL: taken, complete (state %s, CRL from %s, note '%s')",
	      snpd_coll_state_names[s->state], snpd_coll_src_names[s->src[SNPD_COLL_CRL]],
	      s->host_note);
	CHECK(s->final && next > 0 && s->retry_at == next,
	      "a complete set is looked up again at its CRL's nextUpdate (retry_at %lld, "
	      "nextUpdate %lld)",
	      (long long)s->retry_at, (long long)next);
	free(t);

	t = table_crl_of(c, g, 3, expired, &len);
	s = run(f, SNP_SIGNING_KEY_VCEK, t, len);
	CHECK(s->state == SNPD_COLL_PARTIAL && !s->crl && s->src[SNPD_COLL_CRL] == SNPD_SRC_NONE &&
		      strstr(s->host_note, "the host's CRL expired") &&
		      strstr(s->host_note, "ignored") && strstr(s->error, "KdsOffline=yes"),
	      "the host's expired CRL (signed by the ARK): ignored, partial offline with no "
	      "cached one (state %s, CRL from %s, note '%s', error '%s')",
	      snpd_coll_state_names[s->state], snpd_coll_src_names[s->src[SNPD_COLL_CRL]],
	      s->host_note, s->error);
	cache_crl(f, current, false);
	s = run(f, SNP_SIGNING_KEY_VCEK, t, len);
	CHECK(s->state == SNPD_COLL_COMPLETE && s->src[SNPD_COLL_CRL] == SNPD_SRC_CACHE &&
		      strstr(s->host_note, "the host's CRL expired"),
	      "the host's expired CRL, a current one cached: the cached one taken (state %s, CRL "
	      "from %s, note '%s')",
	      snpd_coll_state_names[s->state], snpd_coll_src_names[s->src[SNPD_COLL_CRL]],
	      s->host_note);
	free(t);
	cache_clear(f);

	t = table_crl_of(c, g, 3, future, &len);
	s = run(f, SNP_SIGNING_KEY_VCEK, t, len);
	CHECK(s->state != SNPD_COLL_COMPLETE && s->src[SNPD_COLL_CRL] == SNPD_SRC_NONE &&
		      strstr(s->host_note, "the host's CRL is not valid yet"),
	      "the host's CRL whose thisUpdate is tomorrow: ignored (state %s, note '%s')",
	      snpd_coll_state_names[s->state], s->host_note);
	free(t);

	t = table_crl_of(c, g, 3, other_issuer, &len);
	s = run(f, SNP_SIGNING_KEY_VCEK, t, len);
	CHECK(s->state != SNPD_COLL_COMPLETE && s->src[SNPD_COLL_CRL] == SNPD_SRC_NONE &&
		      strstr(s->host_note, "not issued by the trusted ARK"),
	      "the host's CRL signed with the ARK's key, issuer CN=ARK-Milan only: ignored (state "
	      "%s, note '%s')",
	      snpd_coll_state_names[s->state], s->host_note);
	free(t);

	/* offline, only an expired CRL in the cache: not served as current */
	t = table_of(c, g, 3, &len);
	cache_crl(f, expired, false);
	s = run(f, SNP_SIGNING_KEY_VCEK, t, len);
	CHECK(s->state == SNPD_COLL_PARTIAL && s->final && !s->crl &&
		      strstr(s->error, "the cached CRL expired") &&
		      strstr(s->error, "KdsOffline=yes"),
	      "KdsOffline=yes, only an expired CRL in the cache: partial, no CRL, says why "
	      "(state %s, CRL %s, error '%s')",
	      snpd_coll_state_names[s->state], s->crl ? "served" : "none", s->error);
	cache_crl(f, current, false);
	s = run(f, SNP_SIGNING_KEY_VCEK, t, len);
	CHECK(s->state == SNPD_COLL_COMPLETE && s->src[SNPD_COLL_CRL] == SNPD_SRC_CACHE,
	      "KdsOffline=yes, a current CRL in the cache: complete (state %s, CRL from %s)",
	      snpd_coll_state_names[s->state], snpd_coll_src_names[s->src[SNPD_COLL_CRL]]);
	free(t);
	cache_clear(f);

	X509_NAME_free(cn_only);
	X509_CRL_free(current);
	X509_CRL_free(expired);
	X509_CRL_free(future);
	X509_CRL_free(other_issuer);
}

/*
 * A set of @f's collateral of @table asked for again after a backoff of
 * @sec seconds: set_retry_in() timed it on CLOCK_MONOTONIC during the run,
 * between @ret_lo and @ret_hi (the clock before and after, plus @sec).
 */
static const struct snpd_coll_set *run_timed(struct fixture *f, const u8 *table, size_t len,
					     u32 sec, u64 *ret_lo, u64 *ret_hi)
{
	const struct snpd_coll_set *s;
	u64 before = snp_monotonic_usec();

	s = run(f, SNP_SIGNING_KEY_VCEK, table, len);
	*ret_lo = before + (u64)sec * 1000000ULL;
	*ret_hi = snp_monotonic_usec() + (u64)sec * 1000000ULL;
	return s;
}

/*
 * @s waits for a fresh host table after a backoff of the seconds that
 * run_timed() gave @lo and @hi; its error says that it is read again
 * (SNPD_COLL_HOST_AGAIN, at its end), never when: the loop may arm a
 * later time (status's next_retry).
 */
static bool host_again(const struct snpd_coll_set *s, u64 lo, u64 hi)
{
	size_t n = strlen(s->error), k = strlen(SNPD_COLL_HOST_AGAIN);

	return s->refresh_host && s->retry_mono_usec >= lo && s->retry_mono_usec <= hi && n >= k &&
	       !strcmp(s->error + n - k, SNPD_COLL_HOST_AGAIN) && !strstr(s->error, " s)") &&
	       !strstr(s->error, "again in");
}

/*
 * KdsOffline=yes, the host once the CRL's source: a fresh table without a
 * CRL, a refused one, or none at all is asked for again with the same
 * backoff (10 s doubling), never given up on; the backoff is timed on
 * CLOCK_MONOTONIC (a complete set's CRL nextUpdate on the wall clock) and
 * starts again from 10 s after snpd_collateral_reset_backoff() (a reload).
 * The error says that the table is read again, the set's retry when.
 */
static void host_crl_source_checks(struct fixture *f)
{
	X509 *c[] = { f->st->ark, f->st->ask, f->st->vcek };
	X509 *bad[] = { f->st->ask, f->st->ask, f->st->vcek }; /* the ASK as the ARK */
	const u8 *g[] = { guid_ark, guid_ask, guid_vcek };
	X509_CRL *current = crl_new(f, -3600, 7 * 86400, NULL, NULL);
	X509_CRL *expired = crl_new(f, -30 * 86400, -86400, NULL, NULL);
	const struct snpd_coll_set *s;
	u8 *t_crl, *t_expired, *t_none, *t_bad;
	size_t l_crl, l_expired, l_none, l_bad;
	u64 lo, hi;

	cache_clear(f);
	snpd_collateral_reset_backoff(f->c);
	t_crl = table_crl_of(c, g, 3, current, &l_crl);
	t_expired = table_crl_of(c, g, 3, expired, &l_expired);
	t_none = table_of(c, g, 3, &l_none);
	t_bad = table_of(bad, g, 3, &l_bad);

	s = run(f, SNP_SIGNING_KEY_VCEK, t_crl, l_crl);
	CHECK(s->state == SNPD_COLL_COMPLETE && s->src[SNPD_COLL_CRL] == SNPD_SRC_HOST &&
		      s->refresh_host && s->retry_at > time(NULL) && !s->retry_mono_usec,
	      "the host's current CRL: complete, looked up again at its nextUpdate on the wall "
	      "clock (refresh_host %d, retry_at %lld, retry_mono_usec %llu)",
	      s->refresh_host, (long long)s->retry_at, (unsigned long long)s->retry_mono_usec);

	s = run_timed(f, t_expired, l_expired, 10, &lo, &hi);
	CHECK(s->state == SNPD_COLL_PARTIAL && host_again(s, lo, hi) &&
		      strstr(s->error, "the host's CRL expired"),
	      "the host's CRL expired: partial, a fresh table in 10 s on CLOCK_MONOTONIC "
	      "(retry %+lld us from 10 s, error '%s')",
	      (long long)(s->retry_mono_usec - lo), s->error);

	s = run_timed(f, t_none, l_none, 20, &lo, &hi);
	CHECK(s->state == SNPD_COLL_PARTIAL && host_again(s, lo, hi) &&
		      strstr(s->error, "the host's table has no CRL") &&
		      strstr(s->error, "KdsOffline=yes"),
	      "then a fresh table without a CRL: still asked for again, 20 s (refresh_host %d, "
	      "retry %+lld us from 20 s, error '%s')",
	      s->refresh_host, (long long)(s->retry_mono_usec - lo), s->error);

	s = run_timed(f, t_bad, l_bad, 40, &lo, &hi);
	CHECK(s->state != SNPD_COLL_COMPLETE && host_again(s, lo, hi) &&
		      strstr(s->host_note, "table refused") &&
		      strstr(s->error, "the host's certificate table was refused and") &&
		      !strstr(s->error, "host_table"),
	      "then a refused table: still asked for again, 40 s (retry %+lld us from 40 s, note "
	      "'%s', error '%s')",
	      (long long)(s->retry_mono_usec - lo), s->host_note, s->error);

	s = run_timed(f, NULL, 0, 80, &lo, &hi);
	CHECK(s->state != SNPD_COLL_COMPLETE && host_again(s, lo, hi) &&
		      strstr(s->error, "the host gave no certificate table"),
	      "then no table at all: still asked for again, 80 s (retry %+lld us from 80 s, "
	      "error '%s')",
	      (long long)(s->retry_mono_usec - lo), s->error);

	CHECK(snpd_collateral_host_crl_backoff(f->c) == 160,
	      "a fresh table asked for and not given (the reference report failed): the backoff "
	      "goes on (160 s)");

	snpd_collateral_reset_backoff(f->c);
	s = run_timed(f, t_none, l_none, 10, &lo, &hi);
	CHECK(host_again(s, lo, hi),
	      "after a reload (snpd_collateral_reset_backoff()): 10 s again (retry %+lld us from "
	      "10 s, error '%s')",
	      (long long)(s->retry_mono_usec - lo), s->error);

	s = run(f, SNP_SIGNING_KEY_VCEK, t_crl, l_crl);
	CHECK(s->state == SNPD_COLL_COMPLETE && s->src[SNPD_COLL_CRL] == SNPD_SRC_HOST,
	      "the host's current CRL again: complete (state %s)", snpd_coll_state_names[s->state]);
	s = run_timed(f, t_expired, l_expired, 10, &lo, &hi);
	CHECK(host_again(s, lo, hi),
	      "a complete set resets the backoff: 10 s (retry %+lld us from 10 s, error '%s')",
	      (long long)(s->retry_mono_usec - lo), s->error);

	free(t_crl);
	free(t_expired);
	free(t_none);
	free(t_bad);
	X509_CRL_free(current);
	X509_CRL_free(expired);
}

/*
 * Online: submit @ri with @table, the root @trust_ark ("": AMD's), and run
 * the loop until the network pass's (final) set is in; that set.
 */
static const struct snpd_coll_set *submit_online(struct fixture *f,
						 const struct snp_report_info *ri, const u8 *table,
						 size_t len, const char *trust_ark)
{
	struct snpd_coll_config cfg = {
		.kds_url = "http://127.0.0.1:9", /* nothing listens: refused at once */
		.cache_dir = f->cache_dir,
		.trust_ark = trust_ark,
		.ca_file = "",
		.offline = false,
	};
	int i;

	f->set = snpd_coll_set_free(f->set);
	if (snpd_collateral_submit(f->c, ri, table, len, &cfg, true) < 0) {
		fprintf(stderr, "cannot submit\n");
		exit(1);
	}
	/* a bound against a hung worker only: the pass asks nothing that waits */
	for (i = 0; i < 600 && (!f->set || !f->set->final); i++)
		sd_event_run(f->e, 100 * 1000);
	if (!f->set || !f->set->final) {
		fprintf(stderr, "no final collateral set\n");
		exit(1);
	}
	return f->set;
}

/* Online: the simulated chip's report signed by its VCEK, with @table (submit_online()). */
static const struct snpd_coll_set *run_online(struct fixture *f, const u8 *table, size_t len)
{
	struct snp_report_info ri;

	memset(&ri, 0, sizeof(ri));
	ri.product = f->st->params.product;
	ri.version = 2;
	ri.r.version = cpu_to_le32(2);
	memcpy(ri.r.chip_id, f->st->params.chip_id, sizeof(ri.r.chip_id));
	ri.r.reported_tcb = cpu_to_le64(f->st->params.reported_tcb);
	if (sim_sign_report(f->st->vcek_key, (const u8 *)&ri.r, SNP_REPORT_SIGNED_LEN,
			    &ri.r.signature) < 0) {
		fprintf(stderr, "cannot sign the report\n");
		exit(1);
	}
	return submit_online(f, &ri, table, len, f->ark_path);
}

/*
 * Online, the network pass incomplete: KDS's own backoff (429/5xx, kept in
 * the cache as a wall-clock time and checked by lib/kds against the wall
 * clock) is waited for on the wall clock, to its end (retry_at that time,
 * retry_mono_usec 0); a failure KDS did not time is a backoff of the
 * worker's own, on CLOCK_MONOTONIC.
 */
static void kds_backoff_checks(struct fixture *f)
{
	X509 *c[] = { f->st->ark, f->st->ask, f->st->vcek };
	const u8 *g[] = { guid_ark, guid_ask, guid_vcek };
	time_t until = time(NULL) + 5000;
	char path[PATH_MAX + 64];
	const struct snpd_coll_set *s;
	u8 *t;
	size_t len;
	u64 mono;
	FILE *fp;

	cache_clear(f);
	snpd_collateral_reset_backoff(f->c);
	t = table_of(c, g, 3, &len); /* no CRL: KDS is asked for it */

	mkdir(f->cache_dir, 0755);
	snprintf(path, sizeof(path), "%s/backoff", f->cache_dir);
	fp = fopen(path, "we");
	if (!fp || fprintf(fp, "until=%lld\n", (long long)until) < 0 || fclose(fp) != 0) {
		fprintf(stderr, "cannot write %s\n", path);
		exit(1);
	}
	s = run_online(f, t, len);
	CHECK(s->state == SNPD_COLL_PARTIAL && strstr(s->error, "KDS asked to back off") &&
		      s->retry_at == until && !s->retry_mono_usec,
	      "KDS's backoff (in the cache, until %lld): looked up again at its end on the wall "
	      "clock (retry_at %lld, retry_mono_usec %llu, error '%s')",
	      (long long)until, (long long)s->retry_at, (unsigned long long)s->retry_mono_usec,
	      s->error);

	unlink(path);
	s = run_online(f, t, len);
	mono = snp_monotonic_usec();
	CHECK(s->state == SNPD_COLL_PARTIAL && !strstr(s->error, "KDS asked to back off") &&
		      s->retry_mono_usec > mono && s->retry_mono_usec <= mono + 60 * 1000000ULL,
	      "KDS not reached (no backoff of its own): the worker's backoff, 60 s on "
	      "CLOCK_MONOTONIC (retry in %lld us, error '%s')",
	      (long long)(s->retry_mono_usec - mono), s->error);

	free(t);
	cache_clear(f);
}

/* Remember a KDS 404 of @urlpath in the cache as lib/kds does, at @mtime. */
static void cache_refused(const struct fixture *f, const char *urlpath, time_t mtime)
{
	struct timespec ts[2] = { { .tv_sec = mtime }, { .tv_sec = mtime } };
	char path[PATH_MAX + 96], hex[65];
	u8 md[32];
	FILE *fp;

	snprintf(path, sizeof(path), "%s", f->cache_dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/refused", f->cache_dir);
	mkdir(path, 0755);
	if (EVP_Digest(urlpath, strlen(urlpath), md, NULL, EVP_sha256(), NULL) != 1) {
		fprintf(stderr, "cannot hash %s\n", urlpath);
		exit(1);
	}
	snp_hex_encode(md, sizeof(md), hex);
	snprintf(path, sizeof(path), "%s/refused/%s", f->cache_dir, hex);
	fp = fopen(path, "we");
	if (!fp || fputs(urlpath, fp) < 0 || fclose(fp) != 0 ||
	    utimensat(AT_FDCWD, path, ts, 0) < 0) {
		fprintf(stderr, "cannot write %s\n", path);
		exit(1);
	}
}

/*
 * Online, the simulated chip's report (its product known), KDS's refusal
 * (404) of its CRL remembered in the cache: looked up again when that
 * refusal ends, on the wall clock (retry_mono_usec 0). A refusal whose
 * end is more than a TTL away (its entry's mtime in the future: the clock
 * was set back) is waited for a TTL from now at the most.
 */
static void refused_checks(struct fixture *f)
{
	X509 *c[] = { f->st->ark, f->st->ask, f->st->vcek };
	const u8 *g[] = { guid_ark, guid_ask, guid_vcek };
	time_t at = time(NULL) - 3600, before, after;
	const struct snpd_coll_set *s;
	char path[512];
	u8 *t;
	size_t len;

	cache_clear(f);
	snpd_collateral_reset_backoff(f->c);
	t = table_of(c, g, 3, &len); /* no CRL: KDS is asked for it */
	if (snp_kds_crl_path(f->st->params.product, false, path, sizeof(path)) < 0) {
		fprintf(stderr, "no CRL path\n");
		exit(1);
	}
	cache_refused(f, path, at);
	s = run_online(f, t, len);
	CHECK(s->state == SNPD_COLL_PARTIAL && strstr(s->error, "404") &&
		      s->retry_at == at + SNP_KDS_REFUSED_TTL_S && !s->retry_mono_usec,
	      "KDS's 404 of the CRL remembered (until %lld): looked up again at its end on the "
	      "wall clock (retry_at %lld, retry_mono_usec %llu, error '%s')",
	      (long long)(at + SNP_KDS_REFUSED_TTL_S), (long long)s->retry_at,
	      (unsigned long long)s->retry_mono_usec, s->error);

	cache_clear(f);
	at = time(NULL) + 3600;
	cache_refused(f, path, at);
	before = time(NULL);
	s = run_online(f, t, len);
	after = time(NULL);
	CHECK(s->state == SNPD_COLL_PARTIAL && strstr(s->error, "404") &&
		      s->retry_at >= before + SNP_KDS_REFUSED_TTL_S &&
		      s->retry_at <= after + SNP_KDS_REFUSED_TTL_S && !s->retry_mono_usec,
	      "KDS's 404 of the CRL remembered from an hour ahead (until %lld): capped at a TTL "
	      "from now on the wall clock (retry_at %lld, want %lld..%lld, retry_mono_usec %llu, "
	      "error '%s')",
	      (long long)(at + SNP_KDS_REFUSED_TTL_S), (long long)s->retry_at,
	      (long long)(before + SNP_KDS_REFUSED_TTL_S),
	      (long long)(after + SNP_KDS_REFUSED_TTL_S), (unsigned long long)s->retry_mono_usec,
	      s->error);

	free(t);
	cache_clear(f);
}

/*
 * Online, a version-2 report whose product is undecided (a genuine Milan
 * one, AMD's roots), KDS's refusal (404) of each candidate's VCEK
 * remembered in the cache: looked up again at the first end of those
 * refusals on the wall clock, as for a report of a known product, not a
 * day from now on CLOCK_MONOTONIC.
 */
static void refused_undecided_checks(struct fixture *f)
{
	static const enum snp_product cand[] = { SNP_PRODUCT_MILAN, SNP_PRODUCT_GENOA };
	time_t now = time(NULL), first = 0;
	const struct snpd_coll_set *s;
	struct snp_report_info milan;

	if (!getenv("SNP_TESTDATA") || !*getenv("SNP_TESTDATA")) {
		printf("skip an undecided report's KDS refusal: SNP_TESTDATA is not set\n");
		return;
	}
	cache_clear(f);
	snpd_collateral_reset_backoff(f->c);
	load_real_report("trustee/snp/test-report.bin", &milan);
	for (size_t i = 0; i < SNP_ELEMENTSOF(cand); i++) {
		struct snp_report_info ri = milan;
		struct snp_kds_key key;
		char path[512];
		/* Genoa's refused an hour before Milan's: its end is the first */
		time_t at = now - 3600 * (time_t)(i + 1);

		ri.product = cand[i];
		if (snp_kds_key_from_report(&ri, &key, NULL, 0) < 0 ||
		    snp_kds_vcek_path(&key, path, sizeof(path)) < 0) {
			fprintf(stderr, "no VCEK path for %s\n", snp_product_name(cand[i]));
			exit(1);
		}
		cache_refused(f, path, at);
		if (!first || at + SNP_KDS_REFUSED_TTL_S < first)
			first = at + SNP_KDS_REFUSED_TTL_S;
	}
	s = submit_online(f, &milan, NULL, 0, "");
	CHECK(s->product == SNP_PRODUCT_UNKNOWN && s->state != SNPD_COLL_COMPLETE &&
		      strstr(s->error, "does not say its product") && strstr(s->error, "404") &&
		      s->retry_at == first && !s->retry_mono_usec,
	      "Milan v2 report, product undecided, KDS's 404 of the Milan and Genoa VCEKs "
	      "remembered: looked up again at the first end (%lld) on the wall clock "
	      "(product %s, retry_at %lld, retry_mono_usec %llu, error '%s')",
	      (long long)first, snp_product_name(s->product), (long long)s->retry_at,
	      (unsigned long long)s->retry_mono_usec, s->error);
	cache_clear(f);
}

int main(void)
{
	struct fixture f;
	const struct snpd_coll_set *s;
	u8 *t;
	size_t len;

	setup(&f);

	/* ARK, ASK, VCEK, VLEK */
	{
		X509 *c[] = { f.st->ark, f.st->ask, f.st->vcek, f.st->vlek };
		const u8 *g[] = { guid_ark, guid_ask, guid_vcek, guid_vlek };

		t = table_of(c, g, 4, &len);
	}
	s = run(&f, SNP_SIGNING_KEY_VCEK, t, len);
	CHECK(s->pem[SNPD_COLL_LEAF] && !strcmp(s->pem[SNPD_COLL_LEAF], f.pem_vcek) && !s->vlek &&
		      s->src[SNPD_COLL_LEAF] == SNPD_SRC_HOST && !strcmp(ca_is(&f, s), "the ASK"),
	      "table ARK+ASK+VCEK+VLEK, report signed by the VCEK: leaf %s (the VCEK), CA %s "
	      "(the ASK), note '%s'",
	      leaf_is(&f, s), ca_is(&f, s), s->host_note);
	s = run(&f, SNP_SIGNING_KEY_VLEK, t, len);
	CHECK(!s->pem[SNPD_COLL_LEAF] && s->vlek &&
		      strstr(s->host_note, "ASK slot holds the ASK") &&
		      strstr(s->error, "VLEK cannot be checked yet: no ASVK"),
	      "table ARK+ASK+VCEK+VLEK, report signed by the VLEK: leaf %s (none: its ASVK is "
	      "neither in the table nor in the cache, never the VCEK), note '%s', error '%s'",
	      leaf_is(&f, s), s->host_note, s->error);
	free(t);

	/* ARK, ASVK (in the ASK slot), VCEK, VLEK */
	{
		X509 *c[] = { f.st->ark, f.st->asvk, f.st->vcek, f.st->vlek };
		const u8 *g[] = { guid_ark, guid_ask, guid_vcek, guid_vlek };

		t = table_of(c, g, 4, &len);
	}
	s = run(&f, SNP_SIGNING_KEY_VLEK, t, len);
	CHECK(s->pem[SNPD_COLL_LEAF] && !strcmp(s->pem[SNPD_COLL_LEAF], f.pem_vlek) && s->vlek &&
		      s->src[SNPD_COLL_LEAF] == SNPD_SRC_HOST &&
		      !strcmp(ca_is(&f, s), "the ASVK") && !s->host_note[0],
	      "table ARK+ASVK+VCEK+VLEK, report signed by the VLEK: leaf %s (the VLEK), CA %s "
	      "(the ASVK), note '%s'",
	      leaf_is(&f, s), ca_is(&f, s), s->host_note);
	s = run(&f, SNP_SIGNING_KEY_VCEK, t, len);
	CHECK(!s->pem[SNPD_COLL_LEAF] && !s->vlek && !s->pem[SNPD_COLL_ASK] &&
		      strstr(s->host_note, "ASK slot holds the ASVK"),
	      "table ARK+ASVK+VCEK+VLEK, report signed by the VCEK: leaf %s (none: no ASK to "
	      "check it, never the VLEK), CA %s, note '%s'",
	      leaf_is(&f, s), ca_is(&f, s), s->host_note);
	free(t);

	/* the signer's leaf missing */
	{
		X509 *c[] = { f.st->ark, f.st->ask, f.st->vcek };
		const u8 *g[] = { guid_ark, guid_ask, guid_vcek };

		t = table_of(c, g, 3, &len);
	}
	s = run(&f, SNP_SIGNING_KEY_VLEK, t, len);
	CHECK(!s->pem[SNPD_COLL_LEAF] && s->vlek && !s->pem[SNPD_COLL_ASK] &&
		      strstr(s->host_note,
			     "signed by the VLEK and the host's table has no VLEK (its VCEK is not used)"),
	      "table ARK+ASK+VCEK, report signed by the VLEK: leaf %s, CA %s, note '%s'",
	      leaf_is(&f, s), ca_is(&f, s), s->host_note);
	free(t);
	{
		X509 *c[] = { f.st->ark, f.st->asvk, f.st->vlek };
		const u8 *g[] = { guid_ark, guid_ask, guid_vlek };

		t = table_of(c, g, 3, &len);
	}
	s = run(&f, SNP_SIGNING_KEY_VCEK, t, len);
	CHECK(!s->pem[SNPD_COLL_LEAF] && !s->vlek &&
		      strstr(s->host_note,
			     "signed by the VCEK and the host's table has no VCEK (its VLEK is not used)"),
	      "table ARK+ASVK+VLEK, report signed by the VCEK: leaf %s, note '%s'", leaf_is(&f, s),
	      s->host_note);
	s = run(&f, SNP_SIGNING_KEY_VLEK, t, len);
	CHECK(s->pem[SNPD_COLL_LEAF] && !strcmp(s->pem[SNPD_COLL_LEAF], f.pem_vlek) && s->vlek &&
		      !strcmp(ca_is(&f, s), "the ASVK"),
	      "table ARK+ASVK+VLEK, report signed by the VLEK: leaf %s, CA %s", leaf_is(&f, s),
	      ca_is(&f, s));
	free(t);

	genuine_v2(&f);
	leaf_checks(&f);
	crl_checks(&f);
	host_crl_source_checks(&f);
	kds_backoff_checks(&f);
	refused_checks(&f);
	refused_undecided_checks(&f);

	teardown(&f);
	printf("%d failed\n", failures);
	return failures ? 1 : 0;
}
