// SPDX-License-Identifier: Apache-2.0
/*
 * lib/verify.c snp_verify_signer(): is a VCEK or VLEK the key that signed
 * a report? Genuine AMD reports and certificates of $SNP_TESTDATA (read in
 * place; those tests are skipped without it): a Milan VCEK and a Milan
 * VLEK with their own CA sign their reports; another chip's VCEK, a VLEK
 * asked for as a VCEK (and the reverse), the VLEK with the ASK instead of
 * the ASVK, a Genoa VCEK with Milan's ASK and ARK, another ARK than the
 * anchor, a Turin report taken as Milan (another TCB layout and product),
 * a report whose signature was changed, a Genoa VCEK for a Milan report
 * that says its product do not. The simulated chip (sim/) for what
 * genuine data cannot show: a leaf of another TCB (its own key, as the
 * firmware derives one per TCB, and the current key with another TCB's
 * SPLs), a leaf of another product but the right key and TCB, a leaf that
 * is forged and stale, a key that is not P-384, a masked CHIP_ID, an
 * unsigned report.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "lib/util.h"
#include "lib/verify.h"
#include "lib/x509-amd.h"
#include "sim/sim.h"

static bool have_testdata(void)
{
	const char *d = getenv("SNP_TESTDATA");

	return d && *d;
}

/* The first certificate of $SNP_TESTDATA/@rel whose CN is @cn (NULL: the first); new. */
static X509 *real_cert(const char *rel, const char *cn)
{
	STACK_OF(X509) *sk = NULL;
	char path[PATH_MAX], name[64];
	X509 *c = NULL;

	snprintf(path, sizeof(path), "%s/%s", getenv("SNP_TESTDATA"), rel);
	assert_int_equal(snp_x509_load_file(path, &sk, NULL, 0), 0);
	for (int i = 0; i < sk_X509_num(sk) && !c; i++)
		if (!cn ||
		    !strcmp(snp_x509_cn(sk_X509_value(sk, i), false, name, sizeof(name)), cn))
			c = X509_dup(sk_X509_value(sk, i));
	sk_X509_pop_free(sk, X509_free);
	assert_non_null(c);
	return c;
}

static void real_report(const char *rel, struct snp_report_info *ri)
{
	u8 buf[SNP_REPORT_SIZE];
	char path[PATH_MAX];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", getenv("SNP_TESTDATA"), rel);
	fp = fopen(path, "rbe");
	assert_non_null(fp);
	assert_int_equal(fread(buf, 1, sizeof(buf), fp), sizeof(buf));
	fclose(fp);
	assert_int_equal(snp_report_parse(buf, sizeof(buf), ri, NULL, 0), 0);
}

static int signer(const struct snp_signer_input *in, char *err, size_t len)
{
	int r = snp_verify_signer(in, err, len);

	printf("# %d: %s\n", r, err);
	return r;
}

/* trustee's Milan VCEK and VLEK with AMD's ARK, ASK and ASVK. */
static void test_genuine_milan(void **state)
{
	struct snp_report_info vcek_r, vlek_r;
	X509 *ark, *ask, *asvk, *vcek, *vlek, *genoa_ark;
	char err[1024];
	(void)state;

	if (!have_testdata())
		skip();
	real_report("trustee/snp/test-report.bin", &vcek_r);
	real_report("trustee/snp/test-vlek-report.bin", &vlek_r);
	ark = real_cert("trustee/milan_ask_ark_asvk.pem", "ARK-Milan");
	ask = real_cert("trustee/milan_ask_ark_asvk.pem", "SEV-Milan");
	asvk = real_cert("trustee/milan_ask_ark_asvk.pem", "SEV-VLEK-Milan");
	vcek = real_cert("trustee/snp/test-vcek.der", NULL);
	vlek = real_cert("trustee/snp/test-vlek.der", NULL);
	genoa_ark = real_cert("oak/ark_genoa.pem", NULL);

	/* the VCEK alone, then with its chain, the ARK as the anchor, the product */
	struct snp_signer_input in = { .report = &vcek_r, .leaf = vcek };
	assert_int_equal(signer(&in, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	in.kind = SNP_SIGNER_VCEK;
	in.ask = ask;
	in.ark = ark;
	in.trust_ark = ark;
	in.product = SNP_PRODUCT_MILAN;
	in.require_signed = true;
	assert_int_equal(signer(&in, err, sizeof(err)), 0);

	/* the VLEK with the ASVK */
	struct snp_signer_input vin = { .report = &vlek_r,
					.leaf = vlek,
					.kind = SNP_SIGNER_VLEK,
					.ask = asvk,
					.ark = ark,
					.trust_ark = ark,
					.product = SNP_PRODUCT_MILAN };
	assert_int_equal(signer(&vin, err, sizeof(err)), 0);

	/* the VLEK with the ASK: wrong chain */
	vin.ask = ask;
	assert_int_equal(signer(&vin, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "ASK/ASVK and ARK do not sign it"));
	vin.ask = asvk;

	/* another ARK as the anchor: AMD's pinned Milan ARK is trusted all the same */
	vin.trust_ark = genoa_ark;
	assert_int_equal(signer(&vin, err, sizeof(err)), 0);
	vin.trust_ark = ark;

	/* the VLEK presented as a VCEK: its kind, whatever it signs */
	vin.kind = SNP_SIGNER_VCEK;
	assert_int_equal(signer(&vin, err, sizeof(err)), -EKEYREJECTED);
	assert_non_null(strstr(err, "a VLEK, not a VCEK"));
	/* ... and any kind: SIGNING_KEY says VLEK, the VCEK is not its signer */
	vin.kind = SNP_SIGNER_ANY;
	vin.leaf = vcek;
	vin.ask = ask;
	assert_int_equal(signer(&vin, err, sizeof(err)), -EKEYREJECTED);
	assert_non_null(strstr(err, "signature does not verify"));
	assert_non_null(strstr(err, "SIGNING_KEY"));
	/* the VCEK asked for as a VLEK */
	in.kind = SNP_SIGNER_VLEK;
	assert_int_equal(signer(&in, err, sizeof(err)), -EKEYREJECTED);
	assert_non_null(strstr(err, "a VCEK, not a VLEK"));
	in.kind = SNP_SIGNER_VCEK;

	/* wrong key: the report's signature changed */
	vcek_r.r.signature.r[0] ^= 1;
	assert_int_equal(signer(&in, err, sizeof(err)), -EKEYREJECTED);
	assert_non_null(strstr(err, "the report's signature does not verify with its key"));
	vcek_r.r.signature.r[0] ^= 1;
	assert_int_equal(signer(&in, err, sizeof(err)), 0);

	X509_free(ark);
	X509_free(ask);
	X509_free(asvk);
	X509_free(vcek);
	X509_free(vlek);
	X509_free(genoa_ark);
}

/* Other genuine chips: another chip's key, another product's chain and layout. */
static void test_genuine_negative(void **state)
{
	struct snp_report_info ri;
	X509 *leaf, *ark, *ask;
	char err[1024];
	(void)state;

	if (!have_testdata())
		skip();

	/*
	 * another Milan chip's VCEK: neither the signature nor CHIP_ID; the
	 * cause is the chip (stale for this report), both are said
	 */
	real_report("automata/output.report.bin", &ri);
	leaf = real_cert("automata/other-chip-vcek.pem", NULL);
	struct snp_signer_input in = { .report = &ri, .leaf = leaf };
	assert_int_equal(signer(&in, err, sizeof(err)), -ESTALE);
	assert_non_null(strstr(err, "signature does not verify"));
	assert_non_null(strstr(err, "CHIP_ID"));
	X509_free(leaf);
	/* its own VCEK does */
	leaf = real_cert("automata/output.vek.der", NULL);
	in.leaf = leaf;
	assert_int_equal(signer(&in, err, sizeof(err)), 0);
	X509_free(leaf);

	/* a Genoa VCEK that signs its report, with Milan's ASK and ARK */
	real_report("oak/genoa_oc.report.bin", &ri);
	leaf = real_cert("oak/genoa_oc.vcek.der", NULL);
	ark = real_cert("oak/ark_milan.pem", NULL);
	ask = real_cert("oak/ask_milan.pem", NULL);
	in = (struct snp_signer_input){ .report = &ri, .leaf = leaf, .kind = SNP_SIGNER_VCEK };
	assert_int_equal(signer(&in, err, sizeof(err)), 0);
	in.ask = ask;
	in.ark = ark;
	assert_int_equal(signer(&in, err, sizeof(err)), -EBADMSG);
	/* taken as a Milan one: not Milan's */
	in.ask = in.ark = NULL;
	in.product = SNP_PRODUCT_MILAN;
	assert_int_equal(signer(&in, err, sizeof(err)), -ESTALE);
	assert_non_null(strstr(err, "not of Milan"));
	X509_free(ark);
	X509_free(ask);

	/*
	 * a v3 Milan report says its product (CPUID): a Genoa VCEK is not its
	 * signer, no product asked for (and the chip differs besides)
	 */
	real_report("oak/milan_oc_release.report.bin", &ri);
	assert_int_equal(ri.product, SNP_PRODUCT_MILAN);
	assert_int_equal(ri.product_source, SNP_PRODUCT_SRC_CPUID);
	in = (struct snp_signer_input){ .report = &ri, .leaf = leaf };
	assert_int_equal(signer(&in, err, sizeof(err)), -ESTALE);
	assert_non_null(strstr(err, "a VCEK of Genoa, not of Milan"));
	X509_free(leaf);
	leaf = real_cert("oak/milan_oc_release.vcek.der", NULL);
	in.leaf = leaf;
	assert_int_equal(signer(&in, err, sizeof(err)), 0);
	X509_free(leaf);

	/* a Turin report read in Milan's TCB layout: the TCB differs, its key signs */
	real_report("oak/turin_oc.report.bin", &ri);
	leaf = real_cert("oak/turin_oc.vcek.der", NULL);
	in = (struct snp_signer_input){ .report = &ri, .leaf = leaf, .product = SNP_PRODUCT_TURIN };
	assert_int_equal(signer(&in, err, sizeof(err)), 0);
	in.product = SNP_PRODUCT_MILAN;
	assert_int_equal(signer(&in, err, sizeof(err)), -ESTALE);
	assert_non_null(strstr(err, "is not the report's REPORTED_TCB"));
	assert_null(strstr(err, "signature"));
	X509_free(leaf);
}

struct sim_fx {
	struct sim_state *st;
	struct snp_report_info ri;
};

/* A report of the simulated chip (a VLEK too), signed by @sk's key; CHIP_ID zero when @masked. */
static void sim_report(struct sim_fx *f, u32 sk, bool masked)
{
	memset(&f->ri, 0, sizeof(f->ri));
	f->ri.product = f->st->params.product;
	f->ri.product_source = SNP_PRODUCT_SRC_CPUID;
	f->ri.version = 2;
	f->ri.r.version = cpu_to_le32(2);
	if (!masked)
		memcpy(f->ri.r.chip_id, f->st->params.chip_id, sizeof(f->ri.r.chip_id));
	f->ri.r.reported_tcb = cpu_to_le64(f->st->params.reported_tcb);
	f->ri.r.key_info = cpu_to_le32(sk << SNP_KEYINFO_SIGNING_KEY_SHIFT);
	if (sk != SNP_SIGNING_KEY_NONE)
		assert_int_equal(sim_sign_report(sk == SNP_SIGNING_KEY_VLEK ? f->st->vlek_key :
									      f->st->vcek_key,
						 (const u8 *)&f->ri.r, SNP_REPORT_SIGNED_LEN,
						 &f->ri.r.signature),
				 0);
}

static int sim_setup(void **state)
{
	static struct sim_fx f;
	struct sim_params p;
	char err[256];

	memset(&f, 0, sizeof(f));
	sim_params_default(&p, SNP_PRODUCT_MILAN);
	if (sim_params_set(&p, "vlek", "1") < 0 ||
	    sim_state_create(NULL, &p, false, &f.st, err, sizeof(err)) < 0)
		return -1;
	*state = &f;
	return 0;
}

static int sim_teardown(void **state)
{
	struct sim_fx *f = *state;

	sim_state_free(f->st);
	return 0;
}

/* The chip's VCEK and VLEK, stale ones (their TCB's key), a masked CHIP_ID, an unsigned report. */
static void test_sim(void **state)
{
	struct sim_fx *f = *state;
	X509 *stale_vlek = sim_identity_stale_leaf(f->st), *stale_vcek, *other;
	struct snp_tcb_parts parts;
	EVP_PKEY *p256;
	char err[1024], tcb[32];

	f->st->params.vlek = false;
	stale_vcek = sim_identity_stale_leaf(f->st);
	f->st->params.vlek = true;
	assert_non_null(stale_vlek);
	assert_non_null(stale_vcek);

	sim_report(f, SNP_SIGNING_KEY_VCEK, false);
	struct snp_signer_input in = { .report = &f->ri,
				       .leaf = f->st->vcek,
				       .kind = SNP_SIGNER_VCEK,
				       .ask = f->st->ask,
				       .ark = f->st->ark,
				       .trust_ark = f->st->ark,
				       .require_signed = true };
	assert_int_equal(signer(&in, err, sizeof(err)), 0);
	/* wrong TCB: the VCEK's key, another TCB */
	in.leaf = stale_vcek;
	assert_int_equal(signer(&in, err, sizeof(err)), -ESTALE);
	snprintf(tcb, sizeof(tcb), "0x%016llx", (unsigned long long)f->st->params.reported_tcb);
	assert_non_null(strstr(err, "is not the report's REPORTED_TCB"));
	assert_non_null(strstr(err, tcb));
	/*
	 * forged and stale: not trusted, not merely stale (a stale leaf is
	 * replaced by one of the report's TCB, a forged one is refused)
	 */
	in.trust_ark = f->st->ask;
	assert_int_equal(signer(&in, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "is not the report's REPORTED_TCB"));
	assert_non_null(strstr(err, "untrusted root"));
	in.trust_ark = f->st->ark;
	in.ask = f->st->asvk;
	assert_int_equal(signer(&in, err, sizeof(err)), -EBADMSG);
	in.ask = f->st->ask;
	/* a root that is neither the anchor nor AMD's */
	in.leaf = f->st->vcek;
	in.trust_ark = f->st->ask;
	assert_int_equal(signer(&in, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "untrusted root"));
	in.trust_ark = f->st->ark;
	/* the ASVK does not sign a VCEK */
	in.leaf = f->st->vcek;
	in.ask = f->st->asvk;
	assert_int_equal(signer(&in, err, sizeof(err)), -EBADMSG);
	in.ask = f->st->ask;

	/*
	 * the current key with another TCB's SPLs: still stale, and its
	 * signature verifies (the SPLs alone make it refused)
	 */
	snp_tcb_decode(f->st->params.reported_tcb, SNP_TCB_LAYOUT_LEGACY, &parts);
	parts.snp++;
	other = sim_identity_make_leaf(f->st, f->st->vcek_key, false, &parts);
	assert_non_null(other);
	in.leaf = other;
	assert_int_equal(signer(&in, err, sizeof(err)), -ESTALE);
	assert_non_null(strstr(err, "is not the report's REPORTED_TCB"));
	assert_null(strstr(err, "signature"));
	X509_free(other);

	/*
	 * the current key, TCB and hwID, productName Genoa (Milan's TCB
	 * layout and hwID size): the report says Milan, no product asked for
	 */
	f->st->params.product = SNP_PRODUCT_GENOA;
	other = sim_identity_make_leaf(f->st, f->st->vcek_key, false, NULL);
	f->st->params.product = SNP_PRODUCT_MILAN;
	assert_non_null(other);
	in.leaf = other;
	in.ask = in.ark = in.trust_ark = NULL;
	assert_int_equal(signer(&in, err, sizeof(err)), -ESTALE);
	assert_non_null(strstr(err, "not of Milan"));
	assert_null(strstr(err, "signature"));
	in.product = SNP_PRODUCT_GENOA;
	assert_int_equal(signer(&in, err, sizeof(err)), 0);
	in.product = SNP_PRODUCT_UNKNOWN;
	X509_free(other);
	in.leaf = f->st->vcek;
	in.ask = f->st->ask;
	in.ark = in.trust_ark = f->st->ark;

	/* CHIP_ID masked: not compared, unless a chip id is required */
	sim_report(f, SNP_SIGNING_KEY_VCEK, true);
	assert_int_equal(signer(&in, err, sizeof(err)), 0);
	in.require_chip_id = true;
	assert_int_equal(signer(&in, err, sizeof(err)), -ESTALE);
	assert_non_null(strstr(err, "masked"));
	in.require_chip_id = false;

	/* unsigned: no signer when one is required, else the extensions alone */
	sim_report(f, SNP_SIGNING_KEY_NONE, false);
	assert_int_equal(signer(&in, err, sizeof(err)), -EKEYREJECTED);
	assert_non_null(strstr(err, "unsigned"));
	in.require_signed = false;
	assert_int_equal(signer(&in, err, sizeof(err)), 0);
	in.leaf = stale_vcek;
	assert_int_equal(signer(&in, err, sizeof(err)), -ESTALE);
	/* a leaf of the report's TCB with a P-256 key: no VCEK, signed report or not */
	p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(p256);
	other = sim_identity_make_leaf(f->st, p256, false, NULL);
	assert_non_null(other);
	in.leaf = other;
	assert_int_equal(signer(&in, err, sizeof(err)), -EKEYREJECTED);
	assert_non_null(strstr(err, "its key is not ECDSA P-384"));
	/* even stale: the key is what is wrong */
	snp_tcb_decode(f->st->params.reported_tcb, SNP_TCB_LAYOUT_LEGACY, &parts);
	parts.snp++;
	X509_free(other);
	other = sim_identity_make_leaf(f->st, p256, false, &parts);
	assert_non_null(other);
	in.leaf = other;
	assert_int_equal(signer(&in, err, sizeof(err)), -EKEYREJECTED);
	assert_non_null(strstr(err, "its key is not ECDSA P-384"));
	/* and for a signed report, said once */
	sim_report(f, SNP_SIGNING_KEY_VCEK, false);
	assert_int_equal(signer(&in, err, sizeof(err)), -EKEYREJECTED);
	assert_non_null(strstr(err, "its key is not ECDSA P-384"));
	assert_null(strstr(strstr(err, "not ECDSA") + 1, "not ECDSA"));
	X509_free(other);
	EVP_PKEY_free(p256);

	/* the VLEK: signs its report, a stale one does not, nor presented as a VCEK */
	sim_report(f, SNP_SIGNING_KEY_VLEK, false);
	in = (struct snp_signer_input){ .report = &f->ri,
					.leaf = f->st->vlek,
					.kind = SNP_SIGNER_VLEK,
					.ask = f->st->asvk,
					.ark = f->st->ark };
	assert_int_equal(signer(&in, err, sizeof(err)), 0);
	in.leaf = stale_vlek;
	assert_int_equal(signer(&in, err, sizeof(err)), -ESTALE);
	in.leaf = f->st->vlek;
	in.kind = SNP_SIGNER_VCEK;
	assert_int_equal(signer(&in, err, sizeof(err)), -EKEYREJECTED);
	/* the VCEK for a VLEK-signed report: SIGNING_KEY and the signature */
	in.kind = SNP_SIGNER_ANY;
	in.leaf = f->st->vcek;
	in.ask = f->st->ask;
	assert_int_equal(signer(&in, err, sizeof(err)), -EKEYREJECTED);
	assert_non_null(strstr(err, "SIGNING_KEY"));

	/* the ASK as the leaf: no AMD leaf extensions, an RSA key */
	in.leaf = f->st->ask;
	assert_int_equal(signer(&in, err, sizeof(err)), -EKEYREJECTED);
	assert_non_null(strstr(err, "neither a VCEK"));
	assert_non_null(strstr(err, "not ECDSA P-384"));

	/* no leaf; a message buffer too small is cut, not overrun */
	in.leaf = NULL;
	assert_int_equal(signer(&in, err, sizeof(err)), -EKEYREJECTED);
	in.leaf = stale_vcek;
	assert_int_equal(snp_verify_signer(&in, err, 8), -EKEYREJECTED);
	assert_true(strlen(err) < 8);

	X509_free(stale_vcek);
	X509_free(stale_vlek);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_genuine_milan),
		cmocka_unit_test(test_genuine_negative),
		cmocka_unit_test_setup_teardown(test_sim, sim_setup, sim_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
