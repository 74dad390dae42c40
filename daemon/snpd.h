/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's shared state, seen by the FUSE view and (later) HTTP. */
#ifndef SNPD_SNPD_H
#define SNPD_SNPD_H

#include <stdbool.h>
#include <time.h>

#include <jansson.h>
#include <systemd/sd-event.h>

#include "daemon/broker.h"
#include "daemon/collateral.h"
#include "daemon/config.h"
#include "backend/backend.h"
#include "lib/report.h"

enum snpd_cert {
	SNPD_CERT_ARK,
	SNPD_CERT_ASK,
	SNPD_CERT_VCEK,
	SNPD_CERT_VLEK,
	SNPD_CERT_CHAIN,
	SNPD_CERT_CRL,	  /* DER */
	SNPD_CERT_SOURCE, /* text: one line per file, "NAME SOURCE" */
	_SNPD_CERT_MAX,
};

/* The files of a view, for their times (snpd_view.mtime) */
enum snpd_view_file {
	SNPD_VIEW_PLATFORM,
	SNPD_VIEW_MEASUREMENT,
	SNPD_VIEW_TCB,
	SNPD_VIEW_CHIP_ID,
	SNPD_VIEW_POLICY,
	SNPD_VIEW_VMPL,
	SNPD_VIEW_CERT0,					/* + enum snpd_cert */
	SNPD_VIEW_CERTS_DIR = SNPD_VIEW_CERT0 + _SNPD_CERT_MAX, /* which certs there are */
	_SNPD_VIEW_FILES,
};

/*
 * What the static files show: built from the reference report (REPORT_DATA
 * all zero) at start and on reload. Immutable once built; replaced whole.
 */
struct snpd_view {
	struct snp_report_info ref;
	char *platform_json;
	char *measurement;
	char *tcb;
	char *chip_id;
	char *policy;
	char *vmpl;
	char *certs[_SNPD_CERT_MAX]; /* PEM, NULL when unknown */
	size_t cert_len[_SNPD_CERT_MAX];
	enum snpd_coll_src cert_src[_SNPD_CERT_MAX];
	/*
	 * CertsDir=: why no VCEK or VLEK of it is in certs[] (none signs the
	 * reference report), NULL when one is or the directory has none.
	 */
	char *certs_error;
	u64 generation;
	/*
	 * When each file last changed (CLOCK_REALTIME): the publication of
	 * the first view in a row with its bytes (snpd_view_set_times()).
	 * The FUSE view's mtime and ctime of the file.
	 */
	struct timespec mtime[_SNPD_VIEW_FILES];
};

/*
 * Who signs a report, as far as its collateral goes: the VCEK is issued
 * for one chip and one REPORTED_TCB, and a report names the key that
 * signed it (VCEK or VLEK). Collateral is only ever served with a report
 * of the same identity as the reference report it was looked up for.
 */
struct snpd_platform_id {
	u64 reported_tcb;
	u8 chip_id[SNP_CHIP_ID_SIZE];
	u32 signing_key; /* SNP_SIGNING_KEY_VCEK, _VLEK or _NONE */
};

/*
 * Why a reference report is asked for: a set of these (SNPD_REF_*), so that
 * every reason folded into one report in flight is answered, and each of
 * them handles its failure.
 */
enum snpd_ref_why {
	/* a view is wanted: none yet (the host was busy at start), or a stale one */
	SNPD_REF_VIEW = 1U << 0,
	SNPD_REF_RELOAD = 1U << 1, /* SIGHUP */
	/* a fresh host certificate table for the collateral's CRL (KdsOffline=yes) */
	SNPD_REF_COLL = 1U << 2,
	/* the host's certificate table, which did not fit, asked for again */
	SNPD_REF_HOST_CERTS = 1U << 3,
};

struct snpd_fs;
struct snpd_http;
struct snpd_batcher;
struct snpd_eventlog;

struct snpd {
	sd_event *event;
	struct snpd_cmdline cmdline;
	struct snpd_config config;
	struct snp_backend *backend;
	struct snpd_broker *broker;
	struct snpd_batcher *batcher; /* evidence batches in front of the broker */
	struct snpd_view *view;
	struct snpd_fs *fs;
	struct snpd_http *http;
	/*
	 * The FUSE connection that snpd-mount mounted and the service manager
	 * passed (FDNAME=fuse), or -1: then snpd mounts by itself.
	 */
	int fuse_fd;
	/* how many other fds the service manager passed (the API sockets) */
	int n_passed_sockets;
	u64 started_usec;
	u64 reloads;
	/*
	 * The reference report: at most one in flight (reloading), at most
	 * one more asked for meanwhile (reference_again, however many
	 * SIGHUPs came). Without a view (the host was busy at start) it is
	 * retried with backoff. reference_why: why the one in flight was
	 * asked for, reference_again_why: why the one asked for meanwhile is,
	 * all reasons of those folded into it (SNPD_REF_*). Each failure is
	 * said and handled for every reason: only a reload's fails a reload
	 * (last_reload_failed), not a stale view's refresh; the collateral's
	 * is retried with the host-CRL backoff, the host's table that did not
	 * fit with its own.
	 */
	bool reloading;
	bool reference_again;
	unsigned int reference_why;
	unsigned int reference_again_why;
	bool last_reload_failed;
	u64 reference_reports;
	int reference_error; /* why there is no view yet */
	u32 reference_backoff_ms;
	sd_event_source *reference_retry;
	/*
	 * The host's certificate table did not fit the guest's area (the
	 * backend's -EMSGSIZE): what the host asked for (empty: it fits, or
	 * it was never refused). Meanwhile reference reports are taken
	 * without it, the view's certificates come from the cache, KDS or
	 * CertsDir=, and the host is asked again (SNPD_REF_HOST_CERTS) after
	 * host_certs_backoff_ms (1 s doubling to 60 s; a SIGHUP starts over).
	 */
	char host_certs_error[160];
	u32 host_certs_needed; /* bytes */
	u32 host_certs_backoff_ms;
	sd_event_source *host_certs_retry; /* its time says when (status.c) */
	struct snpd_eventlog *eventlog;	   /* NULL: EventLog= empty */
	/*
	 * Collateral: the worker, the newest result (applied to every view
	 * of the same reference report) and the timer of the next KDS try.
	 */
	struct snpd_collateral *collateral;
	struct snpd_coll_set *coll;
	sd_event_source *coll_retry;
	bool coll_dirty;       /* its settings changed on reload */
	bool coll_dead_logged; /* said once: a dead device gives no fresh host table */
	/*
	 * A fresh host table for the CRL failed: not asked again before
	 * (CLOCK_MONOTONIC), whatever a set re-checked meanwhile says; 0: none
	 */
	u64 coll_backoff_until;
	/*
	 * A device report of another platform identity than the view's
	 * reference report (the host changed REPORTED_TCB): its collateral
	 * is not served with it (snpd_view_check_report()) and the view is
	 * refreshed by view_mismatch(), set by the program (daemon/snpd.c;
	 * NULL: not refreshed). The refreshes it starts are spaced by
	 * stale_backoff_ms (1 s doubling to 60 s while the host keeps
	 * changing it), not before stale_next_usec (CLOCK_MONOTONIC).
	 */
	void (*view_mismatch)(struct snpd *d, const struct snpd_platform_id *now);
	struct snpd_platform_id stale_id; /* the last mismatching identity */
	u64 stale_next_usec;
	u32 stale_backoff_ms;
	sd_event_source *stale_timer;
	u64 stale_reports;			 /* device reports that did not match the view */
	u64 stale_refreshes;			 /* view refreshes they started */
	u64 stale_log_usec;			 /* the last mismatch logged (rate limit) */
	struct snpd_platform_id stale_logged[2]; /* its view's and the report's identity */
	/*
	 * The view is stale: the last device report checked against it was
	 * of stale_id, not of the view's platform; cleared by a report of
	 * the view's platform or a view of stale_id. stale_error: why the
	 * last reference report since failed (it would have refreshed the
	 * view), "" if none did. Shown in the status (stale_view), the
	 * STATUS= line and the body of /healthz (snpd_stale_view_note()).
	 */
	bool stale;
	char stale_error[320];
};

enum snpd_health {
	SNPD_HEALTH_OK,
	SNPD_HEALTH_DEGRADED,
	SNPD_HEALTH_DEAD,
};

/* Device requests failing in a row that make the service degraded. */
#define SNPD_HEALTH_FAILURES 3

extern const char *const snpd_health_names[];

/* Whether requests succeed, and if not why (in @reason). */
enum snpd_health snpd_health(struct snpd *d, char *reason, size_t len);

extern const char *const snpd_cert_names[_SNPD_CERT_MAX];

/*
 * Build a view from a reference report (and the certificate table the
 * host returned with it, if any). Certificates come from @certs_dir when
 * set; a VCEK or VLEK there that does not sign @ref's report is left out,
 * and when none of the directory signs it logged and said in certs_error. The product of a report that does not
 * say it (version 2) is that of CertsDir='s VCEK/VLEK, never of one in the
 * host's table (unchecked): the collateral worker's set says it
 * (snpd_view_apply_collateral()). Returns 0 or a negative errno with a
 * message in @err.
 */
int snpd_view_new(const struct snp_backend_report *ref, const char *certs_dir, u64 generation,
		  struct snpd_view **ret, char *err, size_t errlen);
struct snpd_view *snpd_view_free(struct snpd_view *v);
/*
 * Date the files of @v, which is about to replace @old (NULL: none): a
 * file with the same bytes (certs/: the same certificates) keeps @old's
 * time, any other gets the time of now.
 */
void snpd_view_set_times(struct snpd_view *v, const struct snpd_view *old);
/*
 * A copy of @old with generation @generation and, when @set is given, its
 * ARK, ASK/ASVK, VCEK/VLEK and CRL instead of the host's. 0 or -ENOMEM.
 */
int snpd_view_with_collateral(const struct snpd_view *old, const struct snpd_coll_set *set,
			      u64 generation, struct snpd_view **ret);
/*
 * Replace the certificates of a view not yet published; a report that
 * does not say its product takes the one @set verified (and the files
 * that decode it are made again).
 */
int snpd_view_apply_collateral(struct snpd_view *v, const struct snpd_coll_set *set);

/* The identity of a report (raw bytes, SNP_REPORT_SIZE of them). */
void snpd_platform_id_of(const u8 *report, struct snpd_platform_id *ret);
bool snpd_platform_id_equal(const struct snpd_platform_id *a, const struct snpd_platform_id *b);
/* Describe how @now differs from @was, e.g. "REPORTED_TCB 0x... -> 0x...". */
void snpd_platform_id_diff(const struct snpd_platform_id *was, const struct snpd_platform_id *now,
			   char *buf, size_t len);

/*
 * Before the view's collateral goes out with a device report: 0 when the
 * report (SNP_REPORT_SIZE bytes) has the identity of the view's reference
 * report, or when there is no view (nothing of it is served then).
 * -ENOKEY when it has not: the host changed the platform under the view.
 * Then @why says how, the mismatch is counted and d->view_mismatch() is
 * called, which refreshes the view. The caller answers with a retryable
 * error (HTTP 503 collateral-stale, FUSE EBUSY) and nothing of the view.
 */
int snpd_view_check_report(struct snpd *d, const u8 *report, char *why, size_t len);

/*
 * Decoded report as JSON (new reference); a report that does not say its
 * product (version 2) has the view's.
 */
json_t *snpd_report_json(const struct snpd *d, const u8 report[SNP_REPORT_SIZE]);

/*
 * The view is stale and its last refresh failed: one line saying so, why
 * and what refreshes it, into @buf; false (and @buf "") otherwise.
 */
bool snpd_stale_view_note(const struct snpd *d, char *buf, size_t len);

/* Health and counters as JSON (new reference). */
json_t *snpd_status_json(struct snpd *d);
/* The collateral's state, sources, age, last error and next retry (new reference). */
json_t *snpd_collateral_json(struct snpd *d);

#endif
