// SPDX-License-Identifier: Apache-2.0
/*
 * Collateral worker: host table -> cache -> KDS, on a thread of its own;
 * see collateral.h.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "daemon/collateral.h"
#include "lib/amd-roots.h"
#include "lib/cert-table.h"
#include "lib/kds.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/verify.h"
#include "lib/x509-amd.h"

/* retries after a failure KDS did not time itself (network, bad body) */
#define RETRY_MIN_S 60
#define RETRY_MAX_S 3600
/*
 * TrustArk= names a file that does not exist (yet: the simulator makes its
 * ark.pem at its first start): looked for again soon, as reading a local
 * file costs nothing. Any other failure to read it waits RETRY_MIN_S,
 * doubling to RETRY_MAX_S.
 */
#define ANCHOR_MISSING_RETRY_MIN_S 2
#define ANCHOR_MISSING_RETRY_MAX_S 60
/*
 * KdsOffline=yes and the host's CRL is not current: a fresh table from the
 * host (a reference report, a device request) after 10 s, doubling to
 * RETRY_MAX_S while the host still has no current one.
 */
#define HOST_CRL_RETRY_MIN_S 10

const char *const snpd_coll_src_names[] = {
	[SNPD_SRC_NONE] = "none",	  [SNPD_SRC_HOST] = "host",
	[SNPD_SRC_CACHE] = "cache",	  [SNPD_SRC_KDS] = "kds",
	[SNPD_SRC_EMBEDDED] = "embedded", [SNPD_SRC_TRUST_ARK] = "trust-ark",
	[SNPD_SRC_DIR] = "certs-dir",
};

const char *const snpd_coll_state_names[] = {
	[SNPD_COLL_NONE] = "none",
	[SNPD_COLL_PARTIAL] = "partial",
	[SNPD_COLL_COMPLETE] = "complete",
};

struct job {
	struct snp_report_info ref;
	u8 *table;
	size_t table_len;
	char kds_url[512];
	char cache_dir[4096];
	char trust_ark[4096];
	char ca_file[4096];
	size_t cache_max_bytes;
	bool offline;
	bool recheck; /* the last job's table again (snpd_collateral_resubmit()) */
};

struct snpd_collateral {
	sd_event_source *efd_source;
	int efd;
	pthread_t thread;
	bool started;
	snpd_coll_done_t done;
	void *userdata;

	/*
	 * Stopping, or the running job is superseded by a newer one: abort a
	 * KDS transfer in flight. Written under lock (read without).
	 */
	atomic_bool cancel;

	pthread_mutex_t lock; /* everything below */
	pthread_cond_t cond;
	bool stop;
	bool pending;	 /* a job waits in next */
	struct job next; /* owned while pending */
	struct job last; /* the last job taken (for resubmit), table owned */
	bool have_last;
	u64 submitted;			 /* jobs submitted: the current job's generation */
	u64 local_done;			 /* the job number whose local pass completed */
	struct snpd_coll_set *posted[4]; /* sets waiting for the loop, oldest first */
	size_t n_posted;
	unsigned int requests;
	u32 retry_s;	      /* own backoff for failures KDS did not time */
	u32 anchor_retry_s;   /* backoff while TrustArk= cannot be read */
	u32 host_crl_retry_s; /* backoff while the host's CRL is not current (offline) */
	/*
	 * A usable table of the host carried a CRL once: with KdsOffline=yes
	 * the host is where a current CRL comes from, so a table that comes
	 * without one, or is refused, is asked for again (host_crl_retry()).
	 * Sticky for the life of the process: nothing resets it, not even a
	 * SIGHUP (which resets only the backoff), as forgetting it would
	 * leave a set partial with no one asking the host again.
	 */
	bool host_crl_source;
};

/* What a pass works with: certificates as objects, for one product. */
struct work {
	/*
	 * The product the pass looks up: the report's, or one it may be of
	 * when it does not say (version 2); its VCEK's key at KDS.
	 */
	enum snp_product product;
	struct snp_kds_key key;
	bool have_key;
	X509 *anchor; /* the trusted ARK */
	X509 *ark, *ask, *leaf;
	X509_CRL *crl;
	bool vlek;
	/*
	 * The host's leaf whose issuer its table does not hold (its ASK slot
	 * has the other CA, or none): checked once the chain is known.
	 */
	X509 *host_leaf;
	/* the host's (usable) table carries a CRL; why it was not taken, "" if it was */
	bool host_crl;
	char host_crl_why[SNP_ERRBUF];
	bool host_refused; /* the host's table was refused as a whole */
	enum snpd_coll_src src[_SNPD_COLL_MAX];
	char host_note[256];
	/* room for take_kds()'s longest message whole (the static_assert there) */
	char error[3 * SNP_ERRBUF];
	int last_r; /* the failure that decides the retry */
};

static void job_release(struct job *j)
{
	free(j->table);
	memset(j, 0, sizeof(*j));
}

static void work_release(struct work *w)
{
	X509_free(w->anchor);
	X509_free(w->ark);
	X509_free(w->ask);
	X509_free(w->leaf);
	X509_free(w->host_leaf);
	X509_CRL_free(w->crl);
	memset(w, 0, sizeof(*w));
}

struct snpd_coll_set *snpd_coll_set_free(struct snpd_coll_set *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < SNP_ELEMENTSOF(s->pem); i++)
		free(s->pem[i]);
	free(s->crl);
	free(s);
	return NULL;
}

bool snpd_coll_set_matches(const struct snpd_coll_set *s, const struct snp_report_info *ref)
{
	/* a report that does not say its product: the one the worker verified */
	return s && ref &&
	       (s->product == ref->product ||
		(ref->product == SNP_PRODUCT_UNKNOWN && s->product_verified)) &&
	       !memcmp(s->chip_id, ref->r.chip_id, sizeof(s->chip_id)) &&
	       s->reported_tcb == le64_to_cpu(ref->r.reported_tcb);
}

/* The first failure of a pass decides its message and its retry. */
static void set_error(struct work *w, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_error(struct work *w, int r, const char *fmt, ...)
{
	va_list ap;

	if (w->error[0])
		return;
	w->last_r = r;
	va_start(ap, fmt);
	snp_vmsgf(w->error, sizeof(w->error), fmt, ap);
	va_end(ap);
}

static bool signed_by(X509 *c, X509 *issuer)
{
	bool ok = issuer && X509_verify(c, X509_get0_pubkey(issuer)) == 1;

	ERR_clear_error();
	return ok;
}

static X509 *x509_of_der(const u8 *der, size_t len)
{
	STACK_OF(X509) *sk = NULL;
	X509 *c;

	if (snp_x509_load_mem(der, len, &sk, NULL, 0) < 0) {
		ERR_clear_error();
		return NULL;
	}
	c = sk_X509_shift(sk);
	sk_X509_pop_free(sk, X509_free);
	return c;
}

static X509_CRL *crl_of_der(const u8 *der, size_t len)
{
	const unsigned char *p = der;
	X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)len);

	if (crl && p != der + len) {
		X509_CRL_free(crl);
		crl = NULL;
	}
	ERR_clear_error();
	return crl;
}

static bool crl_signed_by(X509_CRL *crl, X509 *ark)
{
	bool ok = ark && X509_CRL_verify(crl, X509_get0_pubkey(ark)) == 1;

	ERR_clear_error();
	return ok;
}

/*
 * May @crl stand for the product's revocations now: signed by the trusted
 * ARK @anchor, issued by it (its issuer is the ARK's subject) and current
 * (thisUpdate <= @now < nextUpdate)? A CRL that was genuine once but is
 * past its nextUpdate may be silent about a later revocation: whoever
 * hands it out (the host, an old cache) would pin it forever. 0, -EBADMSG
 * (not the ARK's) or -ESTALE (not current), with why in @err.
 */
static int crl_check(X509_CRL *crl, X509 *anchor, time_t now, char *err, size_t errlen)
{
	const char *why = NULL;
	char until[32];

	if (!crl_signed_by(crl, anchor)) {
		snprintf(err, errlen, "%s", "is not signed by the trusted ARK");
		return -EBADMSG;
	}
	if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(anchor)) != 0) {
		ERR_clear_error();
		snprintf(err, errlen, "%s",
			 "is not issued by the trusted ARK (another issuer name)");
		return -EBADMSG;
	}
	if (!snp_crl_current(crl, now, &why, until, sizeof(until))) {
		snprintf(err, errlen, "%s (nextUpdate %s)", why, until);
		return -ESTALE;
	}
	return 0;
}

/* @crl's nextUpdate in seconds since the epoch; 0 when it has none. */
static time_t crl_next_update(const X509_CRL *crl)
{
	const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
	struct tm tm;
	time_t t;

	if (!next || ASN1_TIME_to_tm(next, &tm) != 1) {
		ERR_clear_error();
		return 0;
	}
	t = timegm(&tm);
	return t > 0 ? t : 0;
}

/*
 * Is @leaf the key that signed the reference report, as a VCEK (VLEK with
 * @vlek) of @w's product (snp_verify_signer())? Taken otherwise, the set
 * would be complete and final with a leaf every relying party refuses.
 * With @chain, also as the set would serve it: @w's ASK/ASVK and trusted
 * root sign it, and the report must be signed (a set of verified
 * product). 0, else snp_verify_signer()'s error (-EKEYREJECTED not the
 * report's signer, -ESTALE another TCB's, chip's or product's) and why in
 * @err.
 */
static int leaf_is_signer(const struct job *j, const struct work *w, X509 *leaf, bool vlek,
			  bool chain, char *err, size_t errlen)
{
	struct snp_signer_input in = {
		.report = &j->ref,
		.leaf = leaf,
		.kind = vlek ? SNP_SIGNER_VLEK : SNP_SIGNER_VCEK,
		.product = w->product,
		.ask = chain ? w->ask : NULL,
		.ark = chain ? w->anchor : NULL,
		.trust_ark = chain ? w->anchor : NULL,
		.require_signed = chain,
	};

	return snp_verify_signer(&in, err, errlen);
}

/* Add a finding about the host's table. */
static void note(struct work *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct work *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	snp_vappendf(w->host_note, sizeof(w->host_note), fmt, ap);
	va_end(ap);
}

/* The trusted root: TrustArk= when set, else AMD's compiled-in ARK of @w's product. */
static int load_anchor(const struct job *j, struct work *w)
{
	int r;

	if (j->trust_ark[0]) {
		STACK_OF(X509) *sk = NULL;
		char err[SNP_ERRBUF];

		r = snp_x509_load_regular_file(j->trust_ark, &sk, err, sizeof(err));
		if (r < 0) {
			set_error(w, r, "TrustArk=: %s", err);
			return r;
		}
		w->anchor = sk_X509_shift(sk);
		sk_X509_pop_free(sk, X509_free);
		if (!w->anchor) {
			set_error(w, -EBADMSG, "TrustArk=: %s: no certificate", j->trust_ark);
			return -EBADMSG;
		}
		return 0;
	}
	if (w->product == SNP_PRODUCT_UNKNOWN) {
		set_error(w, -EINVAL, "%s",
			  "the report does not say its product (version 2): the collateral cannot "
			  "be looked up");
		return -EINVAL;
	}
	r = snp_amd_root_load(w->product, SNP_AMD_ROOT_ARK, &w->anchor);
	if (r < 0)
		set_error(w, r, "no embedded AMD ARK for %s", snp_product_name(w->product));
	return r;
}

static const char *leaf_name(bool vlek)
{
	return vlek ? "VLEK" : "VCEK";
}

/* The ASVK is "SEV-VLEK-<Product>", the ASK "SEV-<Product>" (snp-abi.md §7). */
static bool ca_is_asvk(X509 *ca)
{
	char cn[64];

	if (X509_NAME_get_text_by_NID(X509_get_subject_name(ca), NID_commonName, cn, sizeof(cn)) <=
	    0) {
		ERR_clear_error();
		return false;
	}
	return !strncmp(cn, "SEV-VLEK-", strlen("SEV-VLEK-"));
}

/*
 * The host's table, re-checked: its ARK must be the trusted root, its
 * ASK/ASVK signed by it, its leaf signed by that ASK; anything else and
 * the whole table is refused. The leaf taken is the one the report says
 * signed it (SIGNING_KEY: VCEK or VLEK), never the other one; a table
 * without it is said so in the note. The table has one slot for the leaf's
 * CA: when it holds the other CA (the ASVK with a VCEK), that is not used
 * and the leaf waits in host_leaf for the chain from the embedded roots,
 * the cache or KDS. A leaf that is not the report's signer (leaf_is_signer():
 * the report's signature, a VCEK for another TCB or chip, a VLEK for
 * another TCB) is flagged and dropped; the rest of the table stays. So is
 * a CRL that is not the trusted ARK's or not current (crl_check()): the
 * CRL then comes as when the host gives none.
 */
static void take_host(const struct job *j, struct work *w)
{
	struct snp_cert_table t;
	const struct snp_cert_table_entry *e;
	X509 *ark = NULL, *ask = NULL, *leaf = NULL, *embedded_ask = NULL;
	X509_CRL *crl = NULL;
	char err[SNP_ERRBUF], crl_why[sizeof(w->host_crl_why)] = "";
	u32 signer = snp_report_signing_key(&j->ref);
	bool vlek, host_crl;
	int r;

	if (!j->table || !j->table_len)
		return;
	if (snp_cert_table_parse(j->table, j->table_len, &t, err, sizeof(err)) < 0) {
		note(w, "%s", "the host's certificate table does not parse: refused");
		w->host_refused = true;
		return;
	}
	if ((e = snp_cert_table_find(&t, SNP_CERT_ARK)) && !(ark = x509_of_der(e->data, e->length)))
		goto refuse_msg;
	if (signer == SNP_SIGNING_KEY_VLEK)
		vlek = true;
	else if (signer == SNP_SIGNING_KEY_VCEK)
		vlek = false;
	else /* an unsigned report: whichever the host gives, the VCEK first */
		vlek = !snp_cert_table_find(&t, SNP_CERT_VCEK) &&
		       snp_cert_table_find(&t, SNP_CERT_VLEK);
	if ((e = snp_cert_table_find(&t, vlek ? SNP_CERT_VLEK : SNP_CERT_VCEK))) {
		leaf = x509_of_der(e->data, e->length);
		if (!leaf)
			goto refuse_msg;
	} else if (snp_cert_table_find(&t, vlek ? SNP_CERT_VCEK : SNP_CERT_VLEK)) {
		note(w,
		     "the report is signed by the %s and the host's table has no %s (its %s is "
		     "not used)",
		     leaf_name(vlek), leaf_name(vlek), leaf_name(!vlek));
	}
	if ((e = snp_cert_table_find(&t, SNP_CERT_ASK)) && !(ask = x509_of_der(e->data, e->length)))
		goto refuse_msg;
	host_crl = snp_cert_table_find(&t, SNP_CERT_CRL) != NULL;
	if ((e = snp_cert_table_find(&t, SNP_CERT_CRL)) &&
	    !(crl = crl_of_der(e->data, e->length))) {
		note(w, "%s", "the host's CRL does not parse: ignored");
		snprintf(crl_why, sizeof(crl_why), "%s", "does not parse");
	}

	if (ark && X509_cmp(ark, w->anchor) != 0) {
		note(w, "%s", "the host's ARK is not the trusted root: table refused");
		goto refuse;
	}
	if (ask && !signed_by(ask, w->anchor)) {
		note(w, "%s", "the host's ASK is not signed by the trusted ARK: table refused");
		goto refuse;
	}
	if (ask && (leaf ? X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(ask)) :
			   ca_is_asvk(ask) != vlek)) {
		/* a CA of the trusted root, but the other one (ASK/ASVK) */
		note(w, "the host's ASK slot holds the %s, not the %s's issuer: not used",
		     vlek ? "ASK" : "ASVK", leaf_name(vlek));
		X509_free(ask);
		ask = NULL;
	}
	if (leaf) {
		X509 *issuer = ask;

		if (!issuer && !j->trust_ark[0] &&
		    snp_amd_root_load(w->product, vlek ? SNP_AMD_ROOT_ASVK : SNP_AMD_ROOT_ASK,
				      &embedded_ask) == 0)
			issuer = embedded_ask;
		if (issuer && !signed_by(leaf, issuer)) {
			note(w, "%s",
			     "the host's VCEK/VLEK is not signed by a trusted ASK: table refused");
			goto refuse;
		}
		r = leaf_is_signer(j, w, leaf, vlek, false, err, sizeof(err));
		if (r == -ESTALE)
			note(w, "the host's %s is stale (%s): %s", leaf_name(vlek), err,
			     !vlek && w->have_key ? "replaced" : "not used");
		else if (r < 0)
			note(w, "the host's %s is not the report's signer (%s): not used",
			     leaf_name(vlek), err);
		if (r < 0) {
			X509_free(leaf);
			leaf = NULL;
		}
		if (leaf && !issuer) {
			/* checked by take_kds() once it has the chain */
			w->host_leaf = leaf;
			leaf = NULL;
		}
	}
	if (crl && crl_check(crl, w->anchor, time(NULL), err, sizeof(err)) < 0) {
		/* fetched as when the host gives none (cache, KDS) */
		note(w, "the host's CRL %s: ignored", err);
		static_assert(sizeof(crl_why) >= sizeof(err), "the host's CRL's why fits whole");
		snprintf(crl_why, sizeof(crl_why), "%s", err);
		X509_CRL_free(crl);
		crl = NULL;
	}
	w->vlek = vlek;
	w->host_crl = host_crl;
	memcpy(w->host_crl_why, crl_why, sizeof(crl_why));
	if (ark) {
		w->ark = ark;
		w->src[SNPD_COLL_ARK] = SNPD_SRC_HOST;
	}
	if (ask) {
		w->ask = ask;
		w->src[SNPD_COLL_ASK] = SNPD_SRC_HOST;
	}
	if (leaf) {
		w->leaf = leaf;
		w->src[SNPD_COLL_LEAF] = SNPD_SRC_HOST;
	}
	if (crl) {
		w->crl = crl;
		w->src[SNPD_COLL_CRL] = SNPD_SRC_HOST;
	}
	X509_free(embedded_ask);
	return;
refuse_msg:
	note(w, "%s", "a certificate in the host's table does not parse: table refused");
refuse:
	w->host_refused = true;
	X509_free(ark);
	X509_free(ask);
	X509_free(leaf);
	X509_free(embedded_ask);
	X509_CRL_free(crl);
}

/* The host's leaf that waited for its issuer: taken when @w->ask signed it. */
static void take_host_leaf(struct work *w)
{
	if (!w->host_leaf || !w->ask || w->leaf)
		return;
	if (signed_by(w->host_leaf, w->ask)) {
		w->leaf = w->host_leaf;
		w->src[SNPD_COLL_LEAF] = SNPD_SRC_HOST;
	} else {
		note(w, "the host's %s is not signed by the %s: not used", leaf_name(w->vlek),
		     w->vlek ? "ASVK" : "ASK");
		X509_free(w->host_leaf);
	}
	w->host_leaf = NULL;
}

static enum snpd_coll_src src_of(enum snp_kds_source ks)
{
	return ks == SNP_KDS_SRC_NETWORK ? SNPD_SRC_KDS : SNPD_SRC_CACHE;
}

/*
 * Fill what is missing from the cache (and KDS when @network); the CRL
 * only with @crl. Every object is checked against the trusted root before
 * it is taken.
 */
static void take_kds(struct snpd_collateral *c, const struct job *j, struct work *w, bool network,
		     bool crl)
{
	enum snp_kds_source ks = SNP_KDS_SRC_NONE;
	char err[SNP_ERRBUF], why[SNP_ERRBUF];
	/* err and why composed: whole, and whole in w->error after "CRL: " */
	char msg[2 * SNP_ERRBUF + 64];
	struct snp_kds k;
	int r;

	static_assert(sizeof(((struct work *)0)->error) >= sizeof(msg) + 8,
		      "take_kds()'s messages fit a work's error whole");
	snp_kds_init(&k);
	snprintf(k.base_url, sizeof(k.base_url), "%s", j->kds_url);
	snprintf(k.cache_dir, sizeof(k.cache_dir), "%s", j->cache_dir);
	k.offline = !network || j->offline;
	k.cancel = &c->cancel;
	snprintf(k.ca_file, sizeof(k.ca_file), "%s", j->ca_file);
	if (j->cache_max_bytes)
		k.cache_max_bytes = j->cache_max_bytes;
	k.trusted_ark = w->anchor;

	if (!w->leaf && snp_report_signing_key(&j->ref) == SNP_SIGNING_KEY_VLEK)
		w->vlek = true; /* its chain is the ASVK's */
	/* the chain: embedded AMD certificates where they apply */
	if (!w->ask && !j->trust_ark[0] &&
	    snp_amd_root_load(w->product, w->vlek ? SNP_AMD_ROOT_ASVK : SNP_AMD_ROOT_ASK,
			      &w->ask) == 0)
		w->src[SNPD_COLL_ASK] = SNPD_SRC_EMBEDDED;
	if (!w->ask && w->product != SNP_PRODUCT_UNKNOWN) {
		X509 *ask = NULL, *ark = NULL;

		r = snp_kds_get_chain(&k, w->product, w->vlek, &ask, &ark, &ks, err, sizeof(err));
		if (r == 0 && (X509_cmp(ark, w->anchor) != 0 || !signed_by(ask, w->anchor))) {
			r = -EBADMSG;
			snprintf(err, sizeof(err), "%s",
				 "the cert_chain does not chain to the trusted root: refused");
		}
		if (r == 0) {
			/* its ARK is the trusted root itself: served as that */
			w->ask = ask;
			w->src[SNPD_COLL_ASK] = src_of(ks);
			ask = NULL;
		} else if (r != -ENOENT || network) {
			set_error(w, r, "ASK: %s", err);
		}
		X509_free(ask);
		X509_free(ark);
	}
	take_host_leaf(w);
	if (!w->ark) {
		w->ark = X509_dup(w->anchor);
		w->src[SNPD_COLL_ARK] = j->trust_ark[0] ? SNPD_SRC_TRUST_ARK : SNPD_SRC_EMBEDDED;
	}

	if (!w->leaf && w->host_leaf) {
		/* not fetched: the host's own, once its CA is known */
		set_error(w, -ENOENT, "the host's %s cannot be checked yet: no %s",
			  leaf_name(w->vlek), w->vlek ? "ASVK" : "ASK");
	} else if (!w->leaf && w->have_key &&
		   snp_report_signing_key(&j->ref) == SNP_SIGNING_KEY_VLEK) {
		/* KDS serves no VLEK: only the host can give it */
		set_error(w, -ENOENT, "%s",
			  "the report is signed with the VLEK and the host gave none (KDS does not "
			  "serve VLEKs)");
	} else if (!w->leaf && !w->have_key &&
		   snp_report_signing_key(&j->ref) == SNP_SIGNING_KEY_VCEK) {
		/* no CHIP_ID (MASK_CHIP_ID) or no product: no KDS key for its VCEK */
		set_error(w, -ENOENT, "%s",
			  "KDS cannot be asked for the report's VCEK (its CHIP_ID is masked or its "
			  "product unknown) and the host gave no usable one");
	} else if (!w->leaf && w->have_key && w->ask) {
		X509 *leaf = NULL;

		/*
		 * Only with a checked ASK (without one nothing could check the
		 * VCEK, and nothing unchecked is served): lib/kds neither returns
		 * nor caches a VCEK it did not sign.
		 */
		k.trusted_ask = w->ask;

		r = snp_kds_get_vcek(&k, &w->key, &leaf, &ks, err, sizeof(err));
		if (r == 0 && !signed_by(leaf, w->ask)) {
			r = -EBADMSG;
			snprintf(err, sizeof(err), "%s", "not signed by the ASK: refused");
		}
		msg[0] = '\0';
		if (r == 0 && leaf_is_signer(j, w, leaf, false, false, why, sizeof(why)) < 0) {
			r = -EBADMSG;
			snp_msgf(msg, sizeof(msg), "from %s, %s: refused", snp_kds_source_name(ks),
				 why);
		}
		if (r == 0) {
			w->leaf = leaf;
			w->src[SNPD_COLL_LEAF] = src_of(ks);
			leaf = NULL;
		} else if (r != -ENOENT || network) {
			set_error(w, r, "VCEK: %s", msg[0] ? msg : err);
		}
		X509_free(leaf);
	}

	if (crl && !w->crl && w->product != SNP_PRODUCT_UNKNOWN) {
		X509_CRL *x = NULL;

		err[0] = '\0';
		msg[0] = '\0';
		r = snp_kds_get_crl(&k, w->product, w->vlek, &x, &ks, err, sizeof(err));
		if (r == 0) {
			r = crl_check(x, w->anchor, time(NULL), why, sizeof(why));
			if (r == -ESTALE && ks == SNP_KDS_SRC_CACHE && !k.offline) {
				/* lib/kds asked KDS for a current one and got none */
				snp_msgf(msg, sizeof(msg),
					 "the cached CRL %s, and KDS gave no current one (%s)", why,
					 err[0] ? err : "no answer");
				/* KDS's backoff, when that is why, times the next try */
				if (snp_kds_backoff_until(&k) > time(NULL))
					r = -EAGAIN;
			} else if (r < 0) {
				snp_msgf(msg, sizeof(msg), "the %s CRL %s: not used",
					 ks == SNP_KDS_SRC_CACHE ? "cached" : "KDS's", why);
			}
		}
		if (r == 0) {
			w->crl = x;
			w->src[SNPD_COLL_CRL] = src_of(ks);
			x = NULL;
		} else if (r != -ENOENT || network) {
			set_error(w, r, "CRL: %s", msg[0] ? msg : err);
		}
		X509_CRL_free(x);
	}
	ERR_clear_error();
	pthread_mutex_lock(&c->lock);
	c->requests += k.requests;
	pthread_mutex_unlock(&c->lock);
}

/*
 * The set of a pass. @verified: @w's leaf signs the report (leaf_signs()),
 * so the set says @w's product even when the report did not say one.
 */
static struct snpd_coll_set *set_of(const struct job *j, struct work *w, bool verified)
{
	struct snpd_coll_set *s = calloc(1, sizeof(*s));
	X509 *certs[3] = { w->ark, w->ask, w->leaf };
	int n = 0;

	if (!s)
		return NULL;
	s->product = verified ? w->product : j->ref.product;
	s->product_verified = verified;
	memcpy(s->chip_id, j->ref.r.chip_id, sizeof(s->chip_id));
	s->reported_tcb = le64_to_cpu(j->ref.r.reported_tcb);
	s->vlek = w->vlek;
	for (int i = 0; i < 3; i++)
		if (certs[i]) {
			s->pem[i] = snp_x509_to_pem(certs[i]);
			if (!s->pem[i])
				return snpd_coll_set_free(s);
			n++;
		}
	if (w->crl) {
		unsigned char *der = NULL;
		int len = i2d_X509_CRL(w->crl, &der);

		if (len <= 0)
			return snpd_coll_set_free(s);
		s->crl = malloc((size_t)len);
		if (!s->crl) {
			OPENSSL_free(der);
			return snpd_coll_set_free(s);
		}
		memcpy(s->crl, der, (size_t)len);
		s->crl_len = (size_t)len;
		OPENSSL_free(der);
		n++;
	}
	memcpy(s->src, w->src, sizeof(s->src));
	s->state = n == 4 ? SNPD_COLL_COMPLETE : n ? SNPD_COLL_PARTIAL : SNPD_COLL_NONE;
	snprintf(s->host_note, sizeof(s->host_note), "%s", w->host_note);
	if (s->state != SNPD_COLL_COMPLETE)
		snprintf(s->error, sizeof(s->error), "%s",
			 w->error[0] ? w->error : "not in the cache yet");
	if (s->state == SNPD_COLL_COMPLETE) {
		s->completed_at = time(NULL);
		/*
		 * Complete only while its CRL is current: looked up again when
		 * the CRL's nextUpdate comes (a final set's retry_at), when a
		 * past one is not taken (crl_check()) and a current one fetched.
		 */
		s->retry_at = crl_next_update(w->crl);
	}
	return s;
}

static void post(struct snpd_collateral *c, struct snpd_coll_set *s)
{
	u64 one = 1;

	pthread_mutex_lock(&c->lock);
	if (c->n_posted == SNP_ELEMENTSOF(c->posted)) {
		/* the loop is behind: only the newest matters */
		snpd_coll_set_free(c->posted[0]);
		memmove(c->posted, c->posted + 1, sizeof(c->posted[0]) * (c->n_posted - 1));
		c->n_posted--;
	}
	c->posted[c->n_posted++] = s;
	pthread_mutex_unlock(&c->lock);
	if (write(c->efd, &one, sizeof(one)) < 0)
		log_debug_errno(errno, "collateral: eventfd write: %m");
}

/* @s is looked up again in @sec seconds: a backoff, timed on CLOCK_MONOTONIC. */
static void set_retry_in(struct snpd_coll_set *s, u32 sec)
{
	s->retry_at = time(NULL) + sec;
	s->retry_mono_usec = snp_monotonic_usec() + (u64)sec * 1000000ULL;
}

/*
 * The first end of a remembered KDS refusal (404) of what the @n passes @w
 * ask KDS for (each one's VCEK, its product's chain and CRL), seconds since
 * the epoch; 0 if none is remembered.
 */
static time_t refused_until(const struct snp_kds *k, const struct work *w, size_t n)
{
	char path[3][512];
	time_t first = 0;
	int r[3];

	for (size_t j = 0; j < n; j++) {
		r[0] = w[j].have_key ? snp_kds_vcek_path(&w[j].key, path[0], sizeof(path[0])) :
				       -ENOENT;
		r[1] = snp_kds_chain_path(w[j].product, w[j].vlek, path[1], sizeof(path[1]));
		r[2] = snp_kds_crl_path(w[j].product, w[j].vlek, path[2], sizeof(path[2]));
		for (size_t i = 0; i < SNP_ELEMENTSOF(r); i++) {
			time_t t = r[i] < 0 ? 0 : snp_kds_refused_until(k, path[i]);

			if (t > 0 && (!first || t < first))
				first = t;
		}
	}
	return first;
}

/*
 * @s is looked up again at @until, a wall-clock time lib/kds keeps in the
 * cache, on the wall clock (@s->retry_mono_usec 0), @max_s from @now
 * (time(NULL)) at the latest; none in the cache (@until not after @now:
 * not written, or just over): in @own_s, a wait of our own (set_retry_in()).
 */
static void set_retry_at(struct snpd_coll_set *s, time_t now, time_t until, u32 own_s, time_t max_s)
{
	if (until <= now) {
		set_retry_in(s, own_s);
		return;
	}
	s->retry_at = until - now > max_s ? now + max_s : until;
	s->retry_mono_usec = 0;
}

/*
 * When to try KDS again after an incomplete network pass: @s's retry, left
 * unset when not at all. KDS's own backoff (429/5xx, Retry-After) is a
 * wall-clock time kept in the cache (snp_kds_backoff_until()), shared with
 * snpctl and checked by lib/kds against time(NULL): @s is looked up again
 * at that time on the wall clock (@s->retry_mono_usec 0), the clock of the
 * check, so a stepped clock neither fires it early (to be refused and
 * armed again) nor holds it back past the end of the backoff. The
 * worker's own backoffs (none in the cache, or failures KDS did not time)
 * are timed on CLOCK_MONOTONIC (set_retry_in()). A refusal (404) is the
 * same: lib/kds remembers it until a wall-clock time
 * (snp_kds_refused_until()), and @s is looked up again then: the first end
 * of the refusals of @asked, the @n_asked passes that asked KDS (@w itself,
 * or each candidate product's when @w is undecided()'s, which asks nothing).
 */
static void retry_set(struct snpd_collateral *c, const struct job *j, struct work *w,
		      const struct work *asked, size_t n_asked, struct snpd_coll_set *s)
{
	time_t now = time(NULL);
	struct snp_kds k;
	u32 sec;

	if (j->offline)
		return;
	if (w->last_r == -EAGAIN || w->last_r == -ENXIO) {
		snp_kds_init(&k);
		snprintf(k.cache_dir, sizeof(k.cache_dir), "%s", j->cache_dir);
		if (w->last_r == -EAGAIN) {
			/* snp_kds_backoff_until() drops a longer one; capped all the same */
			set_retry_at(s, now, snp_kds_backoff_until(&k), SNP_KDS_BACKOFF_DEFAULT_S,
				     SNP_KDS_BACKOFF_MAX_S);
		} else {
			/*
			 * KDS refused (404): lib/kds remembers it in the cache
			 * until the entry's mtime + the TTL, on the wall clock;
			 * looked up again then (the first of the refused
			 * objects), at the latest a TTL from now, as for KDS's
			 * backoff; not remembered (a cache that cannot be
			 * written): a TTL of our own.
			 */
			set_retry_at(s, now, refused_until(&k, asked, n_asked),
				     SNP_KDS_REFUSED_TTL_S, SNP_KDS_REFUSED_TTL_S);
		}
		return;
	}
	pthread_mutex_lock(&c->lock);
	sec = c->retry_s = c->retry_s ?
				   (c->retry_s * 2 > RETRY_MAX_S ? RETRY_MAX_S : c->retry_s * 2) :
				   RETRY_MIN_S;
	pthread_mutex_unlock(&c->lock);
	set_retry_in(s, sec);
}

/*
 * When to read TrustArk= again: soon while the file does not exist, else
 * after RETRY_MIN_S doubling; also with KdsOffline=yes (a local file).
 */
static u32 anchor_retry_time(struct snpd_collateral *c, int r)
{
	u32 lo = r == -ENOENT ? ANCHOR_MISSING_RETRY_MIN_S : RETRY_MIN_S;
	u32 hi = r == -ENOENT ? ANCHOR_MISSING_RETRY_MAX_S : RETRY_MAX_S;
	u32 s;

	pthread_mutex_lock(&c->lock);
	s = c->anchor_retry_s * 2;
	s = s < lo ? lo : s > hi ? hi : s;
	c->anchor_retry_s = s;
	pthread_mutex_unlock(&c->lock);
	return s;
}

/*
 * The host-CRL backoff after one more fresh table without a current CRL
 * (or none at all): 10 s doubling to RETRY_MAX_S. Under c->lock.
 */
static u32 host_crl_backoff_locked(struct snpd_collateral *c)
{
	u32 sec = c->host_crl_retry_s ? c->host_crl_retry_s * 2 : HOST_CRL_RETRY_MIN_S;

	return sec > RETRY_MAX_S ? RETRY_MAX_S : sec;
}

/*
 * KdsOffline=yes and the host is where the CRL comes from: its table
 * carries one, or carried one once (c->host_crl_source). The job's table
 * is the one of the reference report it was submitted with. A complete set
 * is looked up again at its CRL's nextUpdate (set_of()) with a fresh table
 * (@s->refresh_host); one without a CRL because the host's is not current
 * (expired, not the trusted ARK's), or because the host's fresh table has
 * none or was refused, and none is cached, the same after a backoff,
 * saying why.
 */
static void host_crl_retry(struct snpd_collateral *c, const struct job *j, const struct work *w,
			   struct snpd_coll_set *s)
{
	char host_why[sizeof(w->host_crl_why) + 64];
	const char *cache_why = "no current one is cached";
	bool crl_error = !strncmp(w->error, "CRL: ", 5);
	u32 sec;

	if (s->state == SNPD_COLL_COMPLETE) {
		pthread_mutex_lock(&c->lock);
		c->host_crl_retry_s = 0;
		pthread_mutex_unlock(&c->lock);
		s->refresh_host = s->retry_at != 0;
		return;
	}
	if (s->crl)
		return;
	if (w->host_crl_why[0])
		snprintf(host_why, sizeof(host_why), "the host's CRL %s", w->host_crl_why);
	else if (!j->table || !j->table_len)
		snprintf(host_why, sizeof(host_why), "%s", "the host gave no certificate table");
	else if (w->host_refused)
		/* why is the set's host_note, logged on its own */
		snprintf(host_why, sizeof(host_why), "%s",
			 "the host's certificate table was refused");
	else
		snprintf(host_why, sizeof(host_why), "%s", "the host's table has no CRL");
	if (crl_error)
		cache_why = w->error + 5; /* a cached CRL not taken: why */
	pthread_mutex_lock(&c->lock);
	/*
	 * Doubled once per fresh table the host gave; the old table checked
	 * again (at a retry, on_coll_retry(), while the fresh one is asked
	 * for) keeps the current backoff.
	 */
	sec = c->host_crl_retry_s;
	if (!j->recheck || !sec) {
		sec = host_crl_backoff_locked(c);
		if (!j->recheck)
			c->host_crl_retry_s = sec;
	}
	pthread_mutex_unlock(&c->lock);
	set_retry_in(s, sec);
	s->refresh_host = true;
	/* whole: each part fits (the static_assert below), none is cut mid-word */
	snprintf(s->error, sizeof(s->error),
		 "%s%sCRL: %s and %s (KdsOffline=yes)" SNPD_COLL_HOST_AGAIN,
		 w->error[0] && !crl_error ? w->error : "", w->error[0] && !crl_error ? "; " : "",
		 host_why, cache_why);
}

static_assert(sizeof(((struct snpd_coll_set *)0)->error) >=
		      sizeof(((struct work *)0)->error) * 2 +
			      sizeof(((struct work *)0)->host_crl_why) + 64 + 128,
	      "host_crl_retry()'s message fits a set's error whole");

/* A newer job was submitted (or we stop): this one's results are dropped. */
static bool superseded(struct snpd_collateral *c, u64 seq)
{
	bool r;

	pthread_mutex_lock(&c->lock);
	r = c->stop || c->pending || c->submitted != seq;
	pthread_mutex_unlock(&c->lock);
	return r;
}

/*
 * Does @w's leaf sign the reference report as a VCEK/VLEK of @w->product,
 * with @w's ASK/ASVK and trusted root (leaf_is_signer() with the chain)?
 * Then the set says @w's product even when the report did not.
 */
static bool leaf_signs(const struct job *j, const struct work *w)
{
	char why[SNP_ERRBUF];

	return w->anchor && w->ask && w->leaf && w->product != SNP_PRODUCT_UNKNOWN &&
	       leaf_is_signer(j, w, w->leaf, w->vlek, true, why, sizeof(why)) == 0;
}

/* The product TrustArk='s ARK names ("ARK-Milan"), UNKNOWN if none or unreadable. */
static enum snp_product trust_ark_product(const struct job *j)
{
	enum snp_product p = SNP_PRODUCT_UNKNOWN;
	STACK_OF(X509) *sk = NULL;
	char cn[64];

	if (!j->trust_ark[0] || snp_x509_load_regular_file(j->trust_ark, &sk, NULL, 0) < 0) {
		ERR_clear_error();
		return p;
	}
	if (sk_X509_num(sk) > 0)
		p = snp_product_from_ca_cn(
			snp_x509_cn(sk_X509_value(sk, 0), false, cn, sizeof(cn)));
	sk_X509_pop_free(sk, X509_free);
	return p;
}

/*
 * The products whose collateral a pass looks for: the one the report says
 * (CPUID; version 2: an 8-byte CHIP_ID is Turin's), or that the worker
 * verified before (snpd_coll_set.product_verified); else the one
 * TrustArk='s ARK names; else each product KDS serves, Turin only when
 * CHIP_ID could be Turin's. Never the productName of a certificate the
 * host gave: the product is the one whose trusted root a leaf that signs
 * the report chains to (leaf_signs()).
 */
static size_t candidates(const struct job *j, enum snp_product out[3])
{
	static const enum snp_product kds[] = { SNP_PRODUCT_MILAN, SNP_PRODUCT_GENOA,
						SNP_PRODUCT_TURIN };
	const u8 *chip = j->ref.r.chip_id;
	size_t n = 0;

	if (j->ref.product != SNP_PRODUCT_UNKNOWN) {
		out[0] = j->ref.product;
		return 1;
	}
	out[0] = trust_ark_product(j);
	if (out[0] != SNP_PRODUCT_UNKNOWN)
		return 1;
	for (size_t i = 0; i < SNP_ELEMENTSOF(kds); i++)
		if (kds[i] != SNP_PRODUCT_TURIN ||
		    snp_mem_is_zero(chip + SNP_CHIP_ID_TURIN_SIZE,
				    SNP_CHIP_ID_SIZE - SNP_CHIP_ID_TURIN_SIZE))
			out[n++] = kds[i];
	return n;
}

static void work_init(const struct job *j, enum snp_product p, struct work *w)
{
	struct snp_report_info ri = j->ref;

	memset(w, 0, sizeof(*w));
	w->product = p;
	ri.product = p;
	w->have_key = snp_kds_key_from_report(&ri, &w->key, NULL, 0) == 0;
}

/*
 * A report that does not say its product and no product's leaf signs it
 * (yet): no collateral, and why, in @out (from the passes @w of each of the
 * @n products tried).
 */
static void undecided(const struct job *j, const struct work *w, const enum snp_product *p,
		      size_t n, struct work *out)
{
	char names[64] = "";
	size_t len = 0;

	memset(out, 0, sizeof(*out));
	out->product = SNP_PRODUCT_UNKNOWN;
	out->vlek = snp_report_signing_key(&j->ref) == SNP_SIGNING_KEY_VLEK;
	for (size_t i = 0; i < n && len < sizeof(names); i++)
		len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s",
					i == 0	   ? "" :
					i == n - 1 ? " or " :
						     ", ",
					snp_product_name(p[i]));
	/* w[0].error may be as long as out->error: cut with "..." when it must be */
	snp_msgf(out->error, sizeof(out->error),
		 "the report does not say its product (version 2) and no VCEK/VLEK that signs "
		 "it chains to the trusted root of %s%s%s",
		 names, w[0].error[0] ? "; " : "", w[0].error);
	out->last_r = w[0].last_r;
	for (size_t i = 0; i < n; i++)
		if (w[i].last_r && w[i].last_r != -ENXIO) {
			/* a failure worth retrying sooner than a refusal */
			out->last_r = w[i].last_r;
			break;
		}
	if (j->table && j->table_len)
		note(out,
		     "the host's table is not used: no VCEK/VLEK in it chains to the trusted root "
		     "of %s and signs the report",
		     names);
}

/*
 * One job: for each product the report may be of (candidates()), a local
 * pass (host table, embedded roots, cache), until one's leaf signs the
 * report; its set is posted (READY waits for it). Then, unless that is
 * complete, the network pass (KDS) the same way. The CRL is fetched for
 * the product found, or when there is only one.
 */
static void run_job(struct snpd_collateral *c, const struct job *j, u64 seq)
{
	enum snp_product cand[3];
	struct work w[3], none;
	struct work *best = NULL;
	struct snpd_coll_set *s;
	bool pending, final, anchor_failed = false, verified = false, host_source;
	size_t n, i;
	int r = 0;

	memset(w, 0, sizeof(w));
	memset(&none, 0, sizeof(none));
	n = candidates(j, cand);
	for (i = 0; i < n && !verified; i++) {
		work_init(j, cand[i], &w[i]);
		r = load_anchor(j, &w[i]);
		if (r < 0) {
			anchor_failed = true;
			best = &w[i];
			break;
		}
		pthread_mutex_lock(&c->lock);
		c->anchor_retry_s = 0;
		pthread_mutex_unlock(&c->lock);
		take_host(j, &w[i]);
		take_kds(c, j, &w[i], false, true);
		verified = leaf_signs(j, &w[i]);
		if (verified || n == 1)
			best = &w[i];
	}
	if (!best) {
		undecided(j, w, cand, n, &none);
		best = &none;
	}
	s = set_of(j, best, verified);
	if (s)
		s->generation = seq;
	if (s && (s->state == SNPD_COLL_COMPLETE || j->offline || anchor_failed))
		s->final = true;
	if (s && anchor_failed && j->trust_ark[0]) {
		/* TrustArk= cannot be read (yet): read again, without a reload */
		u32 sec = anchor_retry_time(c, r);

		set_retry_in(s, sec);
		snprintf(s->error, sizeof(s->error), "%s (read again later)", best->error);
	} else if (s && s->final && s->state != SNPD_COLL_COMPLETE && j->offline) {
		snprintf(s->error, sizeof(s->error), "%s%s", best->error,
			 best->error[0] ? " (KdsOffline=yes)" :
					  "not in the cache and KdsOffline=yes");
	}
	pthread_mutex_lock(&c->lock);
	if (best->host_crl)
		c->host_crl_source = true;
	host_source = c->host_crl_source;
	pthread_mutex_unlock(&c->lock);
	if (s && s->final && j->offline && !anchor_failed && host_source)
		host_crl_retry(c, j, best, s);
	if (s && !s->final) {
		/* say what the local pass found; the network pass follows */
		snprintf(s->error, sizeof(s->error), "%s", "fetching from KDS");
	}
	final = !s || s->final;
	if (s)
		post(c, s); /* before local_done: a waiting submit takes it at once */
	pthread_mutex_lock(&c->lock);
	c->local_done = seq;
	pending = c->pending || c->stop || c->submitted != seq;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	if (final || pending)
		goto out;

	if (verified) {
		best->error[0] = '\0';
		best->last_r = 0;
		take_kds(c, j, best, true, true);
	} else {
		best = n == 1 ? &w[0] : NULL;
		for (i = 0; i < n && !verified && !superseded(c, seq); i++) {
			/*
			 * Of a product the report may be of, KDS is asked only
			 * when a leaf can come of it: the VCEK (CHIP_ID not
			 * masked), or the chain the host's leaf waits for. Its
			 * CRL only once a leaf of it signs the report.
			 */
			if (n > 1 && !w[i].host_leaf &&
			    (!w[i].have_key ||
			     snp_report_signing_key(&j->ref) == SNP_SIGNING_KEY_VLEK))
				continue;
			w[i].error[0] = '\0';
			w[i].last_r = 0;
			take_kds(c, j, &w[i], true, n == 1);
			verified = leaf_signs(j, &w[i]);
			if (verified) {
				best = &w[i];
				if (n > 1)
					take_kds(c, j, best, true, true);
			}
		}
		if (!best) {
			undecided(j, w, cand, n, &none);
			best = &none;
		}
	}
	if (superseded(c, seq)) {
		/*
		 * Its settings or its report are no longer current: the result
		 * (and the failure of an aborted transfer) means nothing.
		 */
		goto out;
	}
	s = set_of(j, best, verified);
	if (s) {
		s->generation = seq;
		s->final = true;
		if (s->state != SNPD_COLL_COMPLETE) {
			bool undecided = best == &none;

			/* undecided: the refusals of the candidates' passes */
			retry_set(c, j, best, undecided ? w : best, undecided ? n : 1, s);
		} else {
			pthread_mutex_lock(&c->lock);
			c->retry_s = 0;
			pthread_mutex_unlock(&c->lock);
		}
		post(c, s);
	}
out:
	for (i = 0; i < n; i++)
		work_release(&w[i]);
	work_release(&none);
}

static void *worker(void *userdata)
{
	struct snpd_collateral *c = userdata;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		struct job j;
		u64 seq;

		while (!c->stop && !c->pending)
			pthread_cond_wait(&c->cond, &c->lock);
		if (c->stop)
			break;
		j = c->next; /* the table moves with it */
		memset(&c->next, 0, sizeof(c->next));
		c->pending = false;
		seq = c->submitted;
		atomic_store(&c->cancel, false); /* the newest job: runs to its end */
		job_release(&c->last);
		c->last = j;
		c->have_last = true;
		if (j.table_len) {
			/* keep a copy for resubmit: this one is ours while we run */
			c->last.table = malloc(j.table_len);
			if (c->last.table)
				memcpy(c->last.table, j.table, j.table_len);
			else
				c->last.table_len = 0;
		}
		pthread_mutex_unlock(&c->lock);
		run_job(c, &j, seq);
		job_release(&j);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

static int on_efd(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct snpd_collateral *c = userdata;
	struct snpd_coll_set *sets[SNP_ELEMENTSOF(c->posted)];
	size_t n;
	u64 v, current;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug_errno(errno, "collateral: eventfd read: %m");
	pthread_mutex_lock(&c->lock);
	n = c->n_posted;
	memcpy(sets, c->posted, sizeof(sets[0]) * n);
	c->n_posted = 0;
	current = c->submitted;
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < n; i++) {
		/*
		 * Submits happen on this thread: a set of an older job than the
		 * last submitted was made with settings (KdsUrl=, TrustArk=,
		 * KdsOffline=, ...) or for a report that are no longer current.
		 * Dropped; the newer job posts its own.
		 */
		if (sets[i]->generation != current) {
			log_debug("collateral: dropping the result of job %" PRIu64 " (job %" PRIu64
				  " is current)",
				  sets[i]->generation, current);
			snpd_coll_set_free(sets[i]);
			continue;
		}
		c->done(c->userdata, sets[i]);
	}
	return 0;
}

int snpd_collateral_new(sd_event *e, snpd_coll_done_t done, void *userdata,
			struct snpd_collateral **ret)
{
	struct snpd_collateral *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->efd = -1;
	c->done = done;
	c->userdata = userdata;
	pthread_mutex_init(&c->lock, NULL);
	{
		pthread_condattr_t ca;

		/* the start's bounded wait must not follow a stepped wall clock */
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&c->cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->efd < 0) {
		r = -errno;
		goto fail;
	}
	r = sd_event_add_io(e, &c->efd_source, c->efd, EPOLLIN, on_efd, c);
	if (r < 0)
		goto fail;
	r = -pthread_create(&c->thread, NULL, worker, c);
	if (r < 0)
		goto fail;
	c->started = true;
	*ret = c;
	return 0;
fail:
	snpd_collateral_free(c);
	return r;
}

struct snpd_collateral *snpd_collateral_free(struct snpd_collateral *c)
{
	if (!c)
		return NULL;
	if (c->started) {
		/*
		 * A KDS transfer in flight is aborted (libcurl's progress
		 * callback, about once a second); the thread is joined so that
		 * nothing outlives the daemon.
		 */
		pthread_mutex_lock(&c->lock);
		atomic_store(&c->cancel, true);
		c->stop = true;
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->thread, NULL);
	}
	c->efd_source = sd_event_source_disable_unref(c->efd_source);
	if (c->efd >= 0)
		close(c->efd);
	for (size_t i = 0; i < c->n_posted; i++)
		snpd_coll_set_free(c->posted[i]);
	job_release(&c->next);
	job_release(&c->last);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
	return NULL;
}

static void job_config(struct job *j, const struct snpd_coll_config *cfg)
{
	size_t n;

	snprintf(j->kds_url, sizeof(j->kds_url), "%s", cfg->kds_url ? cfg->kds_url : "");
	n = strlen(j->kds_url);
	while (n > 0 && j->kds_url[n - 1] == '/')
		j->kds_url[--n] = '\0'; /* lib/kds wants the base without a slash */
	snprintf(j->cache_dir, sizeof(j->cache_dir), "%s", cfg->cache_dir ? cfg->cache_dir : "");
	snprintf(j->trust_ark, sizeof(j->trust_ark), "%s", cfg->trust_ark ? cfg->trust_ark : "");
	snprintf(j->ca_file, sizeof(j->ca_file), "%s", cfg->ca_file ? cfg->ca_file : "");
	j->cache_max_bytes = cfg->cache_max_bytes;
	j->offline = cfg->offline;
}

static int queue_job(struct snpd_collateral *c, struct job *j, bool wait_local)
{
	struct timespec deadline;
	u64 seq;
	int r = 0;

	pthread_mutex_lock(&c->lock);
	job_release(&c->next);
	c->next = *j;
	memset(j, 0, sizeof(*j));
	c->pending = true;
	seq = ++c->submitted;
	/* a job still running is superseded: its KDS transfer need not finish */
	atomic_store(&c->cancel, true);
	pthread_cond_broadcast(&c->cond);
	if (wait_local) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += SNPD_COLLATERAL_LOCAL_WAIT_MS / 1000;
		while (c->local_done < seq && r == 0)
			r = -pthread_cond_timedwait(&c->cond, &c->lock, &deadline);
	}
	pthread_mutex_unlock(&c->lock);
	if (wait_local) {
		if (r < 0)
			log_warning("The local collateral pass took longer than %d ms; not waiting",
				    SNPD_COLLATERAL_LOCAL_WAIT_MS);
		on_efd(c->efd_source, c->efd, EPOLLIN, c);
	}
	return 0;
}

int snpd_collateral_submit(struct snpd_collateral *c, const struct snp_report_info *ref,
			   const u8 *table, size_t table_len, const struct snpd_coll_config *cfg,
			   bool wait_local)
{
	struct job j = { 0 };

	j.ref = *ref;
	if (table && table_len) {
		j.table = malloc(table_len);
		if (!j.table)
			return -ENOMEM;
		memcpy(j.table, table, table_len);
		j.table_len = table_len;
	}
	job_config(&j, cfg);
	return queue_job(c, &j, wait_local);
}

int snpd_collateral_resubmit(struct snpd_collateral *c, const struct snpd_coll_config *cfg)
{
	struct job j = { 0 };

	pthread_mutex_lock(&c->lock);
	if (!c->have_last) {
		pthread_mutex_unlock(&c->lock);
		return -ENOENT;
	}
	j = c->last;
	j.table = NULL;
	j.table_len = 0;
	if (c->last.table_len) {
		j.table = malloc(c->last.table_len);
		if (j.table) {
			memcpy(j.table, c->last.table, c->last.table_len);
			j.table_len = c->last.table_len;
		}
	}
	pthread_mutex_unlock(&c->lock);
	j.recheck = true;
	job_config(&j, cfg);
	return queue_job(c, &j, false);
}

void snpd_collateral_reset_backoff(struct snpd_collateral *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->retry_s = 0;
	c->anchor_retry_s = 0;
	c->host_crl_retry_s = 0;
	pthread_mutex_unlock(&c->lock);
}

u32 snpd_collateral_host_crl_backoff(struct snpd_collateral *c)
{
	u32 sec;

	pthread_mutex_lock(&c->lock);
	sec = c->host_crl_retry_s = host_crl_backoff_locked(c);
	pthread_mutex_unlock(&c->lock);
	return sec;
}

unsigned int snpd_collateral_requests(struct snpd_collateral *c)
{
	unsigned int n;

	if (!c)
		return 0;
	pthread_mutex_lock(&c->lock);
	n = c->requests;
	pthread_mutex_unlock(&c->lock);
	return n;
}
