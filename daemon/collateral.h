/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Collateral: completes the certificate set of the reference report
 * whatever the host gives. The host's table first (re-checked against the
 * trusted root; a VCEK for another TCB or chip is flagged and replaced),
 * then the cache, then AMD KDS (or KdsUrl=).
 *
 * Every lib/kds call runs on the collateral's own worker thread, never on
 * the event loop or the broker's thread. A job runs in two passes: local
 * (host table, embedded roots, cache: file reads only) and, when that is
 * not complete, network. The result of each pass is posted to the event
 * loop (eventfd) and handed to the done() callback there. At start the
 * daemon waits for the local pass only (bounded by
 * SNPD_COLLATERAL_LOCAL_WAIT_MS), never for the network.
 *
 * Every submit starts a new generation: a job still running then is
 * superseded (its KDS transfer aborted, its network pass skipped) and any
 * set of it not yet handed over is dropped, so that nothing looked up with
 * settings (KdsUrl=, TrustArk=, KdsOffline=, ...) or for a report that are
 * no longer current is ever served.
 */
#ifndef SNPD_COLLATERAL_H
#define SNPD_COLLATERAL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>
#include <systemd/sd-event.h>

#include "lib/report.h"

#define SNPD_COLLATERAL_LOCAL_WAIT_MS 5000

enum snpd_coll_src {
	SNPD_SRC_NONE,
	SNPD_SRC_HOST,
	SNPD_SRC_CACHE,
	SNPD_SRC_KDS,
	SNPD_SRC_EMBEDDED,
	SNPD_SRC_TRUST_ARK, /* TrustArk= */
	SNPD_SRC_DIR,	    /* CertsDir= */
};

enum snpd_coll_item {
	SNPD_COLL_ARK,
	SNPD_COLL_ASK,	/* ASK or ASVK */
	SNPD_COLL_LEAF, /* VCEK or VLEK */
	SNPD_COLL_CRL,
	_SNPD_COLL_MAX,
};

enum snpd_coll_state {
	SNPD_COLL_NONE,
	SNPD_COLL_PARTIAL,
	SNPD_COLL_COMPLETE,
};

/* The outcome of one pass: immutable once posted. */
struct snpd_coll_set {
	/*
	 * What it is for: the reference report's identity. @product is the
	 * report's; of one that does not say it (version 2), the product
	 * found (product_verified), else UNKNOWN.
	 */
	enum snp_product product;
	/* the leaf is of @product, chains to its trusted root and signs the report */
	bool product_verified;
	u8 chip_id[64];
	u64 reported_tcb;

	bool vlek;
	char *pem[3]; /* ARK, ASK/ASVK, VCEK/VLEK as PEM; NULL when missing */
	u8 *crl;      /* DER */
	size_t crl_len;
	enum snpd_coll_src src[_SNPD_COLL_MAX];
	enum snpd_coll_state state;
	bool final;	     /* the last pass of its job */
	u64 generation;	     /* its job: a set of an older job than the last submitted is dropped */
	char host_note[256]; /* what was wrong with the host's table, "" if nothing */
	/*
	 * Why it is not complete, "" when it is; room for host_crl_retry()'s
	 * whole message. What happened and whether it is tried again, never
	 * when: the loop may arm another time (a longer backoff) than the
	 * set's; when is the armed timer's (status's next_retry, the log).
	 */
	char error[2048];
	/*
	 * The next attempt (epoch s, as shown), 0 for none. Either a time
	 * that is wall-clock by nature (a CRL's nextUpdate, or the end of
	 * KDS's own backoff kept in the cache and checked against the wall
	 * clock; @retry_mono_usec 0), or a backoff of the worker's own: then
	 * @retry_mono_usec is the same moment on CLOCK_MONOTONIC, which times
	 * it, so that a stepped wall clock neither fires it early nor holds
	 * it back.
	 */
	time_t retry_at;
	u64 retry_mono_usec;
	/*
	 * At retry_at, look again with a fresh certificate table from the
	 * host (a new reference report), not the job's: KdsOffline=yes and
	 * the host's table is where the CRL comes from.
	 */
	bool refresh_host;
	time_t completed_at; /* when it became complete (epoch s), 0 if not */
};

/*
 * The end of a set's error while the host's table (its CRL) is to be read
 * again (@refresh_host, not complete): the loop replaces it when the
 * device is dead and none will come.
 */
#define SNPD_COLL_HOST_AGAIN "; the host's table is read again later"

struct snpd_coll_config {
	const char *kds_url;
	const char *cache_dir;
	const char *trust_ark;
	const char *ca_file; /* "" = the system's CAs */
	size_t cache_max_bytes;
	bool offline;
};

struct snpd_collateral;

typedef void (*snpd_coll_done_t)(void *userdata, struct snpd_coll_set *set);

extern const char *const snpd_coll_src_names[];
extern const char *const snpd_coll_state_names[];

/* Start the worker. @done (loop thread) takes ownership of each set. */
int snpd_collateral_new(sd_event *e, snpd_coll_done_t done, void *userdata,
			struct snpd_collateral **ret);
struct snpd_collateral *snpd_collateral_free(struct snpd_collateral *c);

/*
 * A new job for a reference report and the host's certificate table (may
 * be NULL/0); replaces a job not yet started. With @wait_local, block until
 * its local pass is done (at most SNPD_COLLATERAL_LOCAL_WAIT_MS) and hand
 * that result to done() before returning.
 */
int snpd_collateral_submit(struct snpd_collateral *c, const struct snp_report_info *ref,
			   const u8 *table, size_t table_len, const struct snpd_coll_config *cfg,
			   bool wait_local);
/* Run the last job again (the retry timer, a reload). */
int snpd_collateral_resubmit(struct snpd_collateral *c, const struct snpd_coll_config *cfg);

/*
 * Does @s belong to this reference report? Of a report that does not say
 * its product, a set whose product the worker verified does.
 */
bool snpd_coll_set_matches(const struct snpd_coll_set *s, const struct snp_report_info *ref);
struct snpd_coll_set *snpd_coll_set_free(struct snpd_coll_set *s);

/*
 * A reload: the worker's own backoffs (the host's CRL, TrustArk=, KDS
 * failures KDS did not time) start from their minimum again.
 */
void snpd_collateral_reset_backoff(struct snpd_collateral *c);

/*
 * A fresh certificate table asked of the host for its CRL (a set's
 * refresh_host) did not come (the reference report failed): the host-CRL
 * backoff goes on as for a table without a current CRL. Returns the
 * seconds to wait before asking again.
 */
u32 snpd_collateral_host_crl_backoff(struct snpd_collateral *c);

/* KDS requests made so far (all jobs). */
unsigned int snpd_collateral_requests(struct snpd_collateral *c);

#endif
