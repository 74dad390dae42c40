// SPDX-License-Identifier: Apache-2.0
/*
 * snpd: owns the guest's attestation interface and serves reports,
 * certificates and derived keys. One sd-event loop carries the FUSE fd,
 * signals, the watchdog and the broker's completion eventfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <curl/curl.h>
#include <systemd/sd-daemon.h>

#include "daemon/batch.h"
#include "daemon/client.h"
#include "daemon/eventlog.h"
#include "daemon/snpd.h"
#include "fs/fs.h"
#include "http/http.h"
#include "lib/log.h"
#include "lib/util.h"

/* retries of the reference report while there is none (host busy at start) */
#define REFERENCE_BACKOFF_MIN_MS 1000
#define REFERENCE_BACKOFF_MAX_MS 60000
/*
 * Refreshes of the view after a report of another TCB, chip or key: the
 * first at once, the next ones spaced 1 s doubling to 60 s while the host
 * keeps changing it (back to 1 s after 60 s of calm), so that a host
 * flapping its TCB costs a reference report a minute, not one per batch.
 */
#define STALE_BACKOFF_MIN_MS 1000
#define STALE_BACKOFF_MAX_MS 60000
/*
 * A fresh certificate table asked for the collateral (its CRL, with
 * KdsOffline=yes): the set of it, or the failure of its reference report
 * (coll_refresh_failed()), arms the next try, also when it was folded
 * into another (its reason goes with it, SNPD_REF_COLL); should neither
 * come (the view of its report could not be made), asked again after this
 * long. Never against a dead device.
 */
#define COLL_REFRESH_AGAIN_S 60

/* @state: "READY=1\n", "" ... sent in the same datagram as STATUS= */
static void notify_status(struct snpd *d, const char *state, const char *extra)
{
	struct snpd_broker_stats bs;
	enum snpd_health health;
	char reason[256], stale[768];
	bool is_stale;

	snpd_broker_get_stats(d->broker, &bs);
	health = snpd_health(d, reason, sizeof(reason));
	is_stale = snpd_stale_view_note(d, stale, sizeof(stale));
	sd_notifyf(0, "%sSTATUS=%s%s%s backend %s, %s%s, %llu requests served%s%s%s%s%s%s", state,
		   health == SNPD_HEALTH_DEAD	  ? "DEAD: " :
		   health == SNPD_HEALTH_DEGRADED ? "Degraded: " :
						    "Serving:",
		   health != SNPD_HEALTH_OK ? reason : "", health != SNPD_HEALTH_OK ? ";" : "",
		   snp_backend_ops(d->backend)->name, d->fs ? "view at " : "no FUSE view",
		   d->fs ? d->config.mountpoint : "", (unsigned long long)bs.completed,
		   d->host_certs_error[0] ? "; without the host's certificates: " : "",
		   d->host_certs_error, is_stale ? "; " : "", stale, extra ? "; " : "",
		   extra ? extra : "");
}

static void limits_of(const struct snpd_config *c, struct snpd_broker_limits *lim)
{
	lim->queue_size = c->queue_size;
	lim->rate_limit = c->rate_limit;
	lim->rate_burst = c->rate_burst;
}

static void coll_config(const struct snpd *d, struct snpd_coll_config *cfg)
{
	cfg->kds_url = d->config.kds_url;
	cfg->cache_dir = d->config.cache_dir;
	cfg->trust_ark = d->config.trust_ark;
	cfg->ca_file = d->config.kds_ca_file;
	cfg->cache_max_bytes = d->config.cache_max_size;
	cfg->offline = d->config.kds_offline;
}

/*
 * A complete set whose time to be looked up again has come: its CRL's
 * nextUpdate (a set's retry_at, collateral.h).
 */
static bool coll_due(const struct snpd_coll_set *s)
{
	if (s->retry_mono_usec)
		return snp_monotonic_usec() >= s->retry_mono_usec;
	return s->retry_at > 0 && time(NULL) >= s->retry_at;
}

/* The broker's device is dead (VMPCK disabled): no device request will ever succeed. */
static bool broker_dead(const struct snpd *d)
{
	return d->broker && snpd_broker_is_dead(d->broker);
}

/*
 * The view's certificates: the newest collateral of this reference report
 * when there is one and the configuration did not change, else a new job
 * for the worker (host table, cache, KDS), which replaces them when done.
 */
static void collateral_for(struct snpd *d, struct snpd_view *v,
			   const struct snp_backend_report *ref, bool wait_local)
{
	struct snpd_coll_config cfg;
	int r;

	if (d->config.certs_dir && *d->config.certs_dir) {
		/* CertsDir='s certificates: no lookup, none pending, no set applied */
		d->coll_retry = sd_event_source_disable_unref(d->coll_retry);
		return;
	}
	if (!d->collateral)
		return;
	if (!d->coll_dirty && d->coll && snpd_coll_set_matches(d->coll, &v->ref)) {
		if (snpd_view_apply_collateral(v, d->coll) < 0)
			log_warning("Out of memory: the view keeps the host's certificates");
		/*
		 * Complete (its CRL not past its nextUpdate yet), or a pass
		 * still running: nothing to do. Incomplete and final, or
		 * complete and due (a reload, the host's fresh table for its
		 * CRL): look again; lib/kds makes no request while KDS's
		 * backoff lasts or for a remembered 404.
		 */
		if ((d->coll->state == SNPD_COLL_COMPLETE && !coll_due(d->coll)) || !d->coll->final)
			return;
	}
	d->coll_dirty = false;
	d->coll_retry = sd_event_source_disable_unref(d->coll_retry);
	coll_config(d, &cfg);
	r = snpd_collateral_submit(d->collateral, &v->ref, ref->certs, ref->certs_len, &cfg,
				   wait_local);
	if (r < 0)
		log_warning_errno(r, "Cannot look for the collateral: %m");
}

static int reference_view(struct snpd *d, const struct snp_backend_report *ref)
{
	struct snpd_view *v, *old;
	char err[SNP_ERRBUF];
	int r;

	r = snpd_view_new(ref, d->config.certs_dir, d->view ? d->view->generation + 1 : 1, &v, err,
			  sizeof(err));
	if (r < 0)
		return log_error_errno(r, "The reference report is unusable: %s", err);
	if (!(d->config.certs_dir && *d->config.certs_dir)) {
		struct snpd_coll_set none = { 0 };

		/*
		 * The host's table is not served as it comes: only what the
		 * collateral worker checked against the trusted root. Until its
		 * pass for this report lands, the view has the previous checked
		 * set if it is for the same chip and TCB (collateral_for), else
		 * no certificates at all.
		 */
		r = snpd_view_apply_collateral(v, &none);
		if (r < 0) {
			snpd_view_free(v);
			return log_error_errno(r, "The reference report is unusable: %m");
		}
	}
	old = d->view;
	d->view = v;
	collateral_for(d, v, ref, false);
	/* with the certificates collateral_for() may have put in */
	snpd_view_set_times(v, old);
	snpd_view_free(old);
	return 0;
}

static void reference_refresh(struct snpd *d, unsigned int why);
static int on_coll_retry(sd_event_source *s, uint64_t usec, void *userdata);

/*
 * A dead device never answers again (until the VM restarts): no fresh
 * certificate table can come from the host, so none is asked for and no
 * timer is armed for one. Said once.
 */
static void coll_host_dead(struct snpd *d)
{
	if (!d->coll_dead_logged)
		log_warning("Collateral: the device is dead: the host's certificate table (its "
			    "CRL) is not asked for again until the VM restarts");
	d->coll_dead_logged = true;
}

/*
 * @set (the view's, owned by the loop thread) waits for a fresh host
 * table that a dead device never gives: it promises no retry (status's
 * next_retry) and its error, which said the table is read again
 * (SNPD_COLL_HOST_AGAIN, host_crl_retry()), says why not instead. A
 * complete set keeps its time, its CRL's nextUpdate: its old table is
 * checked again then, which needs no device and drops the CRL once past
 * it (on_coll_retry()); only the host's fresh table is not asked for.
 */
static void coll_set_dead(struct snpd_coll_set *set)
{
	static const char dead[] = "; the device is dead: the host's table cannot be read again "
				   "until the VM restarts";
	const size_t again = sizeof(SNPD_COLL_HOST_AGAIN) - 1;
	size_t n;

	if (!set || !set->refresh_host || !set->retry_at)
		return;
	n = strlen(set->error);
	if (set->state == SNPD_COLL_COMPLETE) {
		if (!n) /* its CRL is not read from the host again either */
			memcpy(set->error, dead + 2, sizeof(dead) - 2);
		return;
	}
	set->retry_at = 0;
	set->retry_mono_usec = 0;
	if (n >= again && !strcmp(set->error + n - again, SNPD_COLL_HOST_AGAIN))
		n -= again;
	/* room is left for it (host_crl_retry()'s static_assert): never cuts */
	if (n > sizeof(set->error) - sizeof(dead))
		n = sizeof(set->error) - sizeof(dead);
	memcpy(set->error + n, dead, sizeof(dead));
}

/*
 * Arms the collateral's retry at the view's set's CRL's nextUpdate
 * (d->coll->retry_at), on CLOCK_REALTIME as on_collateral() arms it.
 * Returns 0, or a negative errno with d->coll_retry NULL.
 */
static int arm_crl_next_update(struct snpd *d)
{
	int r;

	r = sd_event_add_time(d->event, &d->coll_retry, CLOCK_REALTIME,
			      (u64)d->coll->retry_at * 1000000ULL, 0, on_coll_retry, d);
	if (r < 0)
		d->coll_retry = NULL;
	return r;
}

/*
 * The reference report asked for a fresh host certificate table (the
 * collateral's CRL, KdsOffline=yes) failed, or could not be asked for
 * (@r; @detail follows its message): asked again after the host-CRL
 * backoff, which goes on as for a table without a current CRL (10 s
 * doubling to 1 h); never against a dead device.
 */
static void coll_refresh_failed(struct snpd *d, int r, const char *what, const char *detail)
{
	time_t now;
	u32 sec;
	int k;

	d->coll_retry = sd_event_source_disable_unref(d->coll_retry);
	if (broker_dead(d)) {
		char crl[192] = "";
		long long left;

		d->coll_dead_logged = true;
		if (d->view && d->coll && snpd_coll_set_matches(d->coll, &d->view->ref)) {
			coll_set_dead(d->coll);
			/*
			 * A complete set keeps its CRL's nextUpdate armed, so
			 * that the old table, checked again then without the
			 * device, drops the CRL once it expired. Whichever
			 * way, said once, below.
			 */
			if (d->coll->final && d->coll->state == SNPD_COLL_COMPLETE &&
			    d->coll->retry_at > 0 && !d->coll->retry_mono_usec) {
				k = arm_crl_next_update(d);
				now = time(NULL);
				left = d->coll->retry_at > now ? d->coll->retry_at - now : 0;
				if (k < 0)
					snprintf(crl, sizeof(crl),
						 "; cannot schedule the check of its CRL at its "
						 "nextUpdate: %s",
						 strerror(-k));
				else
					snprintf(crl, sizeof(crl),
						 "; its CRL is checked again at its nextUpdate, in "
						 "%lld s",
						 left);
			}
		}
		log_error_errno(r, "%s: %m%s; the device is dead: not asked again%s", what, detail,
				crl);
		return;
	}
	sec = snpd_collateral_host_crl_backoff(d->collateral);
	d->coll_backoff_until = snp_monotonic_usec() + (u64)sec * 1000000ULL;
	now = time(NULL);
	if (d->coll && d->coll->final && d->coll->state == SNPD_COLL_COMPLETE &&
	    !d->coll->retry_mono_usec && d->coll->retry_at > now &&
	    (u64)(d->coll->retry_at - now) < sec && d->view &&
	    snpd_coll_set_matches(d->coll, &d->view->ref)) {
		/*
		 * The view's set is complete and its CRL's nextUpdate comes
		 * before the backoff ends: its timer stays, so that the CRL
		 * is dropped at once when it expires (the re-check then,
		 * whose set keeps the backoff: coll_backoff_until).
		 */
		k = arm_crl_next_update(d);
		if (k >= 0) {
			log_warning_errno(r,
					  "%s: %m%s; its CRL is looked up again at its nextUpdate, "
					  "in %lld s",
					  what, detail, (long long)(d->coll->retry_at - now));
			return;
		}
	} else {
		k = sd_event_add_time_relative(d->event, &d->coll_retry, CLOCK_MONOTONIC,
					       (u64)sec * 1000000ULL, 0, on_coll_retry, d);
		if (k >= 0) {
			log_warning_errno(r, "%s: %m%s; asked again in %u s", what, detail, sec);
			return;
		}
		d->coll_retry = NULL;
	}
	log_error_errno(r, "%s: %m%s; cannot schedule another try: %s", what, detail, strerror(-k));
}

static int on_coll_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct snpd *d = userdata;
	struct snpd_coll_config cfg;
	int r;

	d->coll_retry = sd_event_source_disable_unref(d->coll_retry);
	if (d->coll && d->coll->refresh_host && d->view &&
	    snpd_coll_set_matches(d->coll, &d->view->ref)) {
		/*
		 * KdsOffline=yes and the CRL is the host's: the job's table is
		 * as old as its reference report, so a new reference report
		 * (the broker's queue, one at a time) brings the host's table
		 * as it is now, and its collateral is looked up
		 * (collateral_for(): the set is due). Should no set come of
		 * it, asked again later. Meanwhile the old table is checked
		 * again at once, so that its CRL, now past its nextUpdate, is
		 * no longer served, whether or not the host ever answers (a
		 * later job supersedes this one). A dead device is not asked.
		 */
		coll_config(d, &cfg);
		if (snpd_collateral_resubmit(d->collateral, &cfg) < 0)
			log_warning("Cannot check the collateral again");
		if (broker_dead(d)) {
			coll_host_dead(d);
			return 0;
		}
		log_info("Collateral: asking the host for its certificate table again (its CRL)");
		r = sd_event_add_time_relative(d->event, &d->coll_retry, CLOCK_MONOTONIC,
					       COLL_REFRESH_AGAIN_S * 1000000ULL, 0, on_coll_retry,
					       d);
		if (r < 0) {
			d->coll_retry = NULL;
			log_warning_errno(r, "Cannot schedule the next collateral lookup: %m");
		}
		reference_refresh(d, SNPD_REF_COLL);
		return 0;
	}
	coll_config(d, &cfg);
	if (snpd_collateral_resubmit(d->collateral, &cfg) < 0)
		log_warning("Cannot ask KDS again for the collateral");
	return 0;
}

static bool view_certs_equal(const struct snpd_view *a, const struct snpd_view *b)
{
	for (int i = 0; i < _SNPD_CERT_MAX; i++)
		if (a->cert_len[i] != b->cert_len[i] || a->cert_src[i] != b->cert_src[i] ||
		    !a->certs[i] != !b->certs[i] ||
		    (a->certs[i] && memcmp(a->certs[i], b->certs[i], a->cert_len[i])))
			return false;
	return true;
}

static bool view_has_certs(const struct snpd_view *v)
{
	for (int i = 0; i < _SNPD_CERT_MAX; i++)
		if (v->certs[i])
			return true;
	return false;
}

/* A pass of the collateral worker is done (loop thread); takes @set. */
static void on_collateral(void *userdata, struct snpd_coll_set *set)
{
	struct snpd *d = userdata;
	struct snpd_view *v;
	bool was_complete;
	u64 now, left = 0;
	int r;

	if (d->config.certs_dir && *d->config.certs_dir) {
		/*
		 * A pass of before a reload set CertsDir=: the directory's
		 * certificates are served, not its set, and nothing is looked
		 * up again (collateral_for() disarmed the retry).
		 */
		d->coll_retry = sd_event_source_disable_unref(d->coll_retry);
		snpd_coll_set_free(set);
		return;
	}
	was_complete = d->coll && d->coll->state == SNPD_COLL_COMPLETE && d->view &&
		       snpd_coll_set_matches(d->coll, &d->view->ref);

	if (set->host_note[0] && (!d->coll || strcmp(d->coll->host_note, set->host_note)))
		log_warning("Collateral: %s", set->host_note);
	if (set->state == SNPD_COLL_COMPLETE && !was_complete)
		log_notice("Collateral complete: ARK %s, %s %s, %s %s, CRL %s",
			   snpd_coll_src_names[set->src[SNPD_COLL_ARK]], set->vlek ? "ASVK" : "ASK",
			   snpd_coll_src_names[set->src[SNPD_COLL_ASK]],
			   set->vlek ? "VLEK" : "VCEK",
			   snpd_coll_src_names[set->src[SNPD_COLL_LEAF]],
			   snpd_coll_src_names[set->src[SNPD_COLL_CRL]]);
	snpd_coll_set_free(d->coll);
	d->coll = set;
	if (d->view && snpd_coll_set_matches(set, &d->view->ref)) {
		/*
		 * A view that served no certificate yet (its report's first
		 * checked set) is completed, not replaced: same generation.
		 * The set may decide its product (a version-2 report): then
		 * platform.json and tcb change too.
		 */
		r = snpd_view_with_collateral(
			d->view, set, d->view->generation + (view_has_certs(d->view) ? 1 : 0), &v);
		if (r < 0) {
			log_warning_errno(r, "Cannot apply the collateral: %m");
		} else if (view_certs_equal(v, d->view) && v->ref.product == d->view->ref.product &&
			   v->ref.product_source == d->view->ref.product_source) {
			snpd_view_free(v); /* what is served does not change: no new generation */
		} else {
			if (v->ref.product != d->view->ref.product)
				log_notice("The reference report (version %u) is of a %s: its %s, "
					   "checked against the trusted root, signs it",
					   v->ref.version, snp_product_name(v->ref.product),
					   set->vlek ? "VLEK" : "VCEK");
			snpd_view_set_times(v, d->view);
			snpd_view_free(d->view);
			d->view = v;
		}
	}
	d->coll_retry = sd_event_source_disable_unref(d->coll_retry);
	if (set->final && set->retry_at > 0 && set->refresh_host && set->retry_mono_usec &&
	    broker_dead(d)) {
		/* a backoff for a fresh host table: none will come, none is promised */
		coll_host_dead(d);
		coll_set_dead(set);
	} else if (set->final && set->retry_at > 0) {
		/*
		 * A backoff on CLOCK_MONOTONIC, a wall-clock time (a CRL's
		 * nextUpdate) on CLOCK_REALTIME: a stepped clock moves the
		 * one, never the other.
		 */
		u64 at = set->retry_mono_usec;

		/* the old table re-checked after its fresh one failed: that backoff holds */
		if (at && set->refresh_host && d->coll_backoff_until > at)
			at = d->coll_backoff_until;
		if (at) {
			now = snp_monotonic_usec();
			left = at > now ? (at - now + 999999) / 1000000 : 0;
			r = sd_event_add_time(d->event, &d->coll_retry, CLOCK_MONOTONIC, at, 0,
					      on_coll_retry, d);
		} else {
			now = (u64)time(NULL);
			left = (u64)set->retry_at > now ? (u64)set->retry_at - now : 0;
			r = sd_event_add_time(d->event, &d->coll_retry, CLOCK_REALTIME,
					      (u64)set->retry_at * 1000000ULL, 0, on_coll_retry, d);
		}
		if (r < 0) {
			d->coll_retry = NULL;
			log_warning_errno(r, "Cannot schedule the next KDS request: %m");
		}
	}
	/* when, as armed (the set's error says only whether) */
	if (set->final && set->state != SNPD_COLL_COMPLETE) {
		if (d->coll_retry)
			log_warning("Collateral %s: %s; looked up again in %llu s",
				    snpd_coll_state_names[set->state], set->error,
				    (unsigned long long)left);
		else
			log_warning("Collateral %s: %s", snpd_coll_state_names[set->state],
				    set->error);
	}
}

/* A refresh for a stale view starts now; the next one waits longer. */
static void stale_refresh(struct snpd *d)
{
	u64 now = snp_monotonic_usec();

	if (d->stale_next_usec && now < d->stale_next_usec + STALE_BACKOFF_MAX_MS * 1000ULL)
		d->stale_backoff_ms = d->stale_backoff_ms * 2 > STALE_BACKOFF_MAX_MS ?
					      STALE_BACKOFF_MAX_MS :
					      d->stale_backoff_ms * 2;
	else
		d->stale_backoff_ms = STALE_BACKOFF_MIN_MS;
	d->stale_next_usec = now + d->stale_backoff_ms * 1000ULL;
	d->stale_refreshes++;
	/* one in flight (a SIGHUP's, or ours): one more after it */
	reference_refresh(d, SNPD_REF_VIEW);
}

static int on_stale_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct snpd *d = userdata;
	struct snpd_platform_id ref;

	d->stale_timer = sd_event_source_disable_unref(d->stale_timer);
	if (d->view) {
		snpd_platform_id_of((const u8 *)&d->view->ref.r, &ref);
		/* a refresh meanwhile caught up with the host: nothing to do */
		if (snpd_platform_id_equal(&ref, &d->stale_id))
			return 0;
	}
	stale_refresh(d);
	return 0;
}

/*
 * A device report is not of the view's platform (d->view_mismatch, from
 * snpd_view_check_report()): the host changed REPORTED_TCB (a firmware
 * update, SNP_COMMIT), the chip or the signing key, and the view's
 * collateral is not that report's. Nothing of it is served with such a
 * report until the view is refreshed, as SIGHUP refreshes it: a new
 * reference report and its certificates (host, cache or KDS).
 */
static void on_view_mismatch(struct snpd *d, const struct snpd_platform_id *now)
{
	struct snpd_platform_id ref;
	u64 t = snp_monotonic_usec();
	int r;

	snpd_platform_id_of((const u8 *)&d->view->ref.r, &ref);
	d->stale_id = *now;
	/*
	 * Once per change; the host decides how often it changes, so at most
	 * once per refresh interval too (the rest at debug level).
	 */
	if (!snpd_platform_id_equal(&d->stale_logged[0], &ref) ||
	    !snpd_platform_id_equal(&d->stale_logged[1], now)) {
		char diff[256];

		snpd_platform_id_diff(&ref, now, diff, sizeof(diff));
		if (!d->stale_log_usec ||
		    t >= d->stale_log_usec +
				    (d->stale_backoff_ms ?: STALE_BACKOFF_MIN_MS) * 1000ULL) {
			log_warning("The host changed the platform (%s): evidence is refused "
				    "until the view and its collateral are refreshed",
				    diff);
			d->stale_logged[0] = ref;
			d->stale_logged[1] = *now;
			d->stale_log_usec = t;
		} else {
			log_debug("The host changed the platform (%s)", diff);
		}
	}
	if (d->stale_timer)
		return; /* a refresh is due already */
	if (t >= d->stale_next_usec) {
		stale_refresh(d);
		return;
	}
	/*
	 * Too soon after the last one; also a batch that was on the device
	 * while that refresh waited for it comes back stale, and the timer
	 * then finds the view caught up.
	 */
	r = sd_event_add_time(d->event, &d->stale_timer, CLOCK_MONOTONIC, d->stale_next_usec, 0,
			      on_stale_timer, d);
	if (r < 0) {
		/* the next stale report tries again */
		d->stale_timer = NULL;
		log_warning_errno(r, "Cannot schedule the view's refresh: %m");
	}
}

static int on_reference_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct snpd *d = userdata;

	d->reference_retry = sd_event_source_disable_unref(d->reference_retry);
	reference_refresh(d, SNPD_REF_VIEW);
	return 0;
}

/*
 * Arm @src (not armed) to call @cb after the next step of the backoff in
 * @ms: 1 s doubling to 60 s, on CLOCK_MONOTONIC (a stepped wall clock
 * neither fires it early nor holds it back). 0, or a negative errno with
 * @src NULL.
 */
static int backoff_arm(struct snpd *d, sd_event_source **src, u32 *ms, sd_event_time_handler_t cb)
{
	int r;

	*ms = *ms ? *ms * 2 : REFERENCE_BACKOFF_MIN_MS;
	if (*ms > REFERENCE_BACKOFF_MAX_MS)
		*ms = REFERENCE_BACKOFF_MAX_MS;
	r = sd_event_add_time_relative(d->event, src, CLOCK_MONOTONIC, (u64)*ms * 1000, 0, cb, d);
	if (r < 0)
		*src = NULL;
	return r;
}

/* No view yet: try again later, 1 s doubling to 60 s. */
static void reference_schedule_retry(struct snpd *d)
{
	int r;

	if (d->view || d->reference_retry || snpd_broker_is_dead(d->broker))
		return;
	r = backoff_arm(d, &d->reference_retry, &d->reference_backoff_ms, on_reference_retry);
	if (r < 0) {
		log_error_errno(r, "Cannot schedule the next reference report: %m");
		return;
	}
	log_warning("No reference report yet; trying again in %u ms", d->reference_backoff_ms);
}

static int on_host_certs_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct snpd *d = userdata;

	d->host_certs_retry = sd_event_source_disable_unref(d->host_certs_retry);
	if (broker_dead(d)) {
		/* it died since this was armed: never asked again (host_certs_schedule_retry()) */
		log_warning("The device is dead: the host's certificate table is not asked for "
			    "again until the VM restarts");
		return 0;
	}
	reference_refresh(d, SNPD_REF_HOST_CERTS);
	return 0;
}

/*
 * The host's table did not fit: ask it again later, 1 s doubling to 60 s
 * (backoff_arm()). Never against a dead device: it answers no more.
 */
static void host_certs_schedule_retry(struct snpd *d)
{
	int r;

	if (!d->host_certs_error[0] || d->host_certs_retry || !d->event || !d->broker ||
	    broker_dead(d))
		return;
	r = backoff_arm(d, &d->host_certs_retry, &d->host_certs_backoff_ms, on_host_certs_retry);
	if (r < 0) {
		log_error_errno(r, "Cannot schedule asking the host for its certificates: %m");
		return;
	}
	log_debug("Asking the host for its certificate table again in %u ms",
		  d->host_certs_backoff_ms);
}

/*
 * A reference report the host answered with a certificate table larger
 * than the guest's area (-EMSGSIZE; @e says the size it asked for). Not the
 * guest's configuration, and the host can fix its table: snpd goes on
 * without it, as with a host that has none, and asks again with backoff.
 * Said once per answer of the host (it is the host that repeats it).
 */
static void host_certs_refused(struct snpd *d, const struct snp_backend_error *e)
{
	char msg[sizeof(d->host_certs_error)];
	bool dir = d->config.certs_dir && *d->config.certs_dir;

	if (e->message[0])
		snprintf(msg, sizeof(msg), "%s", e->message);
	else
		snprintf(msg, sizeof(msg),
			 "the host's certificate table needs %" PRIu32
			 " bytes, more than the guest takes",
			 e->certs_needed);
	if (strcmp(msg, d->host_certs_error) != 0)
		log_warning("The host's certificate table does not fit: %s; reports are taken "
			    "without it, their certificates from %s, and the host is asked again",
			    msg, dir ? "CertsDir=" : "the cache and KDS");
	else
		log_debug("The host's certificate table still does not fit: %s", msg);
	snprintf(d->host_certs_error, sizeof(d->host_certs_error), "%s", msg);
	d->host_certs_needed = e->certs_needed;
}

/* A reference report that asked for the host's table got it (or none). */
static void host_certs_taken(struct snpd *d, const struct snp_backend_report *ref)
{
	if (!d->host_certs_error[0])
		return;
	log_notice("The host's certificate table is taken again (%zu bytes, the host asked "
		   "for %" PRIu32 " before)",
		   ref->certs ? ref->certs_len : (size_t)0, d->host_certs_needed);
	d->host_certs_error[0] = '\0';
	d->host_certs_needed = 0;
	d->host_certs_backoff_ms = 0;
	d->host_certs_retry = sd_event_source_disable_unref(d->host_certs_retry);
}

/* A reference report came: the view of it (reference_view()). */
static int reference_taken(struct snpd *d, struct snpd_request *req)
{
	if (req->report_req.want_certs)
		host_certs_taken(d, &req->report);
	return reference_view(d, &req->report);
}

/*
 * A reference report failed, or could not be asked for (@r; @detail
 * follows its message): had it come, it would have refreshed the view,
 * which stays stale (the status says so, snpd_stale_view_note()).
 */
static void stale_refresh_failed(struct snpd *d, int r, const char *detail)
{
	char msg[sizeof(d->stale_error)];
	int n;

	if (!d->view || !d->stale)
		return;
	/* printable: it goes into the STATUS= line and the body of /healthz too */
	n = snprintf(msg, sizeof(msg), "%s%s", strerror(r < 0 ? -r : r), detail);
	snp_printable(d->stale_error, sizeof(d->stale_error), msg,
		      n < 0		      ? 0 :
		      (size_t)n < sizeof(msg) ? (size_t)n :
						sizeof(msg) - 1);
}

static void on_reference_report(struct snpd_request *req, void *userdata)
{
	struct snpd *d = userdata;
	bool first = !d->view, had_view = d->view;
	unsigned int why = d->reference_why;
	struct snpd_platform_id was = { 0 };
	char detail[sizeof(req->error.message) + 4] = "";
	int r;

	if (had_view)
		snpd_platform_id_of((const u8 *)&d->view->ref.r, &was);
	d->reloading = false;
	d->reference_why = 0;
	if (req->result == -ECANCELED) {
		/* the broker is going away: nothing more to ask it */
		snpd_request_free(req);
		return;
	}
	if (req->error.message[0])
		snprintf(detail, sizeof(detail), " (%s)", req->error.message);
	if (req->result == -EMSGSIZE && req->report_req.want_certs) {
		/* what a view is wanted for: none yet, a stale one, a reload */
		unsigned int view_why = why & (SNPD_REF_VIEW | SNPD_REF_RELOAD);

		if (!d->view)
			view_why |= SNPD_REF_VIEW;
		host_certs_refused(d, &req->error);
		if (view_why) {
			/*
			 * The same reference report without the host's table,
			 * at once, for those reasons. The table alone (its CRL,
			 * or the retry for it) leaves the view as it is.
			 */
			d->reference_again = true;
			d->reference_again_why |= view_why;
		}
		/* the collateral's fresh table did not come: its host-CRL backoff goes on */
		if (d->view && (why & SNPD_REF_COLL))
			coll_refresh_failed(
				d, req->result,
				"The reference report asked for a fresh host certificate "
				"table (the collateral's CRL, KdsOffline=yes) got none",
				detail);
	} else if (req->result < 0) {
		stale_refresh_failed(d, req->result, detail);
		/* said for every reason folded into it (reference_again_why) */
		if (!d->view) {
			log_error_errno(req->result, "The reference report failed: %m%s", detail);
			d->reference_error = -req->result;
		} else if (why & SNPD_REF_RELOAD) {
			log_error_errno(req->result,
					"The reference report failed: %m%s; keeping the previous "
					"view",
					detail);
			d->last_reload_failed = true;
		} else if (why & SNPD_REF_VIEW) {
			/* no reload failed: the next stale report tries again */
			log_error_errno(req->result,
					"The view's refresh for the host's change failed: %m%s; "
					"evidence of the new platform is refused until it succeeds",
					detail);
		} else if (!(why & SNPD_REF_COLL)) {
			/* the host's table alone: the view stays; asked again later */
			log_warning_errno(req->result,
					  "Asking the host for its certificate table again failed: "
					  "%m%s",
					  detail);
		}
		if (d->view && (why & SNPD_REF_COLL))
			coll_refresh_failed(
				d, req->result,
				"The reference report asked for a fresh host certificate "
				"table (the collateral's CRL, KdsOffline=yes) failed",
				detail);
	} else if ((r = reference_taken(d, req)) == 0) {
		struct snpd_platform_id cur;

		/*
		 * Still stale when the device's last report was of another
		 * platform than this view's (a report asked for before the
		 * host's change): a refresh for it is pending then.
		 */
		snpd_platform_id_of((const u8 *)&d->view->ref.r, &cur);
		d->stale = d->stale && !snpd_platform_id_equal(&cur, &d->stale_id);
		d->stale_error[0] = '\0';
		if (had_view) {
			struct snpd_platform_id now;

			snpd_platform_id_of((const u8 *)&d->view->ref.r, &now);
			if (snpd_platform_id_equal(&was, &now)) {
				/* nothing changed */
			} else if (snpd_platform_id_equal(&d->stale_logged[0], &was) &&
				   snpd_platform_id_equal(&d->stale_logged[1], &now)) {
				/* on_view_mismatch() said so when it saw it */
				log_info("The view follows the platform's change; its collateral "
					 "is looked up");
			} else {
				char diff[256];

				snpd_platform_id_diff(&was, &now, diff, sizeof(diff));
				log_notice("New reference report: the host changed the platform "
					   "(%s); its collateral is looked up",
					   diff);
			}
		}
		/*
		 * also after a stale view's refresh: what a failed reload
		 * left undone, a fresh view of the platform, is done
		 */
		d->last_reload_failed = false;
		d->reference_backoff_ms = 0;
		d->coll_backoff_until = 0; /* a fresh table came */
		d->reference_retry = sd_event_source_disable_unref(d->reference_retry);
		if (first)
			log_notice("Reference report taken: the view is complete");
		else if (why & SNPD_REF_RELOAD)
			log_info("Reloaded: view generation %llu",
				 (unsigned long long)d->view->generation);
		else
			log_info("View refreshed: generation %llu",
				 (unsigned long long)d->view->generation);
	} else {
		stale_refresh_failed(d, r, " (the reference report is unusable)");
		if (why & SNPD_REF_RELOAD)
			d->last_reload_failed = true;
	}
	snpd_request_free(req);
	if (d->reference_again) {
		/*
		 * SIGHUPs (or a stale view, the collateral, the host's table)
		 * while this one was in flight, or this one again without the
		 * host's table: one more for all of them, for all their reasons
		 */
		why = d->reference_again_why;
		d->reference_again = false;
		d->reference_again_why = 0;
		reference_refresh(d, why);
	}
	if (!d->reloading) {
		reference_schedule_retry(d);
		host_certs_schedule_retry(d);
		notify_status(d, "READY=1\n", d->last_reload_failed ? "last reload failed" : NULL);
	}
}

/*
 * A fresh reference report for the static files, through the broker, for
 * @why (SNPD_REF_*): the first view or a view whose platform the host
 * changed, a SIGHUP, a fresh host certificate table for the collateral's
 * CRL, the host's table that did not fit. At most one is in flight; asking
 * again meanwhile only marks that another is wanted when it completes, for
 * all the reasons asked.
 */
static void reference_refresh(struct snpd *d, unsigned int why)
{
	struct snpd_request *req;
	int r;

	if (d->reloading) {
		d->reference_again = true;
		d->reference_again_why |= why;
		return;
	}
	req = snpd_request_new(SNPD_REQ_REPORT, SNPD_CLIENT_REFERENCE);
	if (!req) {
		log_error_errno(ENOMEM, "Reference report: out of memory");
		r = -ENOMEM;
		goto fail;
	}
	req->report_req.vmpl = d->config.vmpl;
	/*
	 * The host's table, unless it did not fit: then only the retry for
	 * it and the collateral's ask for its fresh table want it
	 */
	req->report_req.want_certs =
		!d->host_certs_error[0] || (why & (SNPD_REF_HOST_CERTS | SNPD_REF_COLL));
	/*
	 * Its own place in the queue, one at a time (d->reloading): raw
	 * requests that fill QueueSize= must neither fail a reload nor keep
	 * a stale view, and with it all evidence, refused (broker.h)
	 */
	req->place = SNPD_PLACE_REFERENCE;
	req->done = on_reference_report;
	req->userdata = d;
	r = snpd_broker_submit(d->broker, req, NULL);
	if (r < 0) {
		snpd_request_free(req);
		goto fail;
	}
	d->reloading = true;
	d->reference_why = why;
	d->reference_reports++;
	return;
fail:
	/* as a failed report (on_reference_report()): for every reason */
	stale_refresh_failed(d, r, " (cannot ask for a reference report)");
	if (!d->view) {
		log_error_errno(r, "Cannot ask for a reference report: %m");
		reference_schedule_retry(d);
	} else if (why & SNPD_REF_RELOAD) {
		log_error_errno(r, "Reload: cannot ask for a reference report: %m; keeping the "
				   "previous view");
		d->last_reload_failed = true;
	} else if (why & SNPD_REF_VIEW) {
		/* no reload failed: the next stale report tries again */
		log_error_errno(r, "Cannot ask for a reference report to refresh the view for the "
				   "host's change: %m");
	} else if (!(why & SNPD_REF_COLL)) {
		log_error_errno(r, "Cannot ask the host for its certificate table again: %m");
	}
	if (d->view && (why & SNPD_REF_COLL))
		coll_refresh_failed(
			d, r,
			"Cannot ask for a reference report for a fresh host certificate "
			"table (the collateral's CRL)",
			"");
	if (why & SNPD_REF_HOST_CERTS)
		host_certs_schedule_retry(d);
	if (!d->view)
		notify_status(d, "READY=1\n", NULL);
	else if (why & SNPD_REF_RELOAD)
		notify_status(d, "READY=1\n", "last reload could not refresh the reference report");
}

/* Settings that only a restart can change. */
static void keep_restart_only(const struct snpd_config *old, struct snpd_config *c)
{
	if (strcmp(old->backend, c->backend))
		log_warning("Reload: Backend= changes need a restart; still using %s",
			    old->backend);
	if (strcmp(old->mountpoint, c->mountpoint) || old->fs_enabled != c->fs_enabled ||
	    old->allow_other != c->allow_other)
		log_warning("Reload: [Filesystem] Enabled=, Mountpoint= and AllowOther= changes "
			    "need a restart");
	if (old->http_enabled != c->http_enabled || strcmp(old->api_socket, c->api_socket) ||
	    strcmp(old->listen, c->listen))
		log_warning("Reload: [HTTP] Enabled=, Socket= and Listen= changes need a restart");
	/* the HTTP server's connection limit and timeout are set when it starts */
	if (old->max_connections != c->max_connections ||
	    old->idle_timeout_sec != c->idle_timeout_sec)
		log_warning("Reload: [HTTP] MaxConnections= and IdleTimeoutSec= changes need a "
			    "restart; still %" PRIu32 " and %" PRIu32 " s",
			    old->max_connections, old->idle_timeout_sec);
	free(c->backend);
	free(c->mountpoint);
	free(c->api_socket);
	free(c->listen);
	c->backend = strdup(old->backend);
	c->mountpoint = strdup(old->mountpoint);
	c->api_socket = strdup(old->api_socket);
	c->listen = strdup(old->listen);
	c->fs_enabled = old->fs_enabled;
	c->allow_other = old->allow_other;
	c->http_enabled = old->http_enabled;
	c->max_connections = old->max_connections;
	c->idle_timeout_sec = old->idle_timeout_sec;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct snpd *d = userdata;
	struct snpd_broker_limits lim;
	struct snpd_config c;
	int r;

	sd_notify(0, "RELOADING=1");
	log_info("Reloading the configuration");
	r = snpd_config_load(&d->cmdline, &c);
	if (r < 0) {
		log_error("Reload failed: keeping the running configuration");
		notify_status(d, "READY=1\n", "last reload failed: configuration error");
		return 0;
	}
	keep_restart_only(&d->config, &c);
	if (!c.backend || !c.mountpoint || !c.api_socket || !c.listen) {
		snpd_config_release(&c);
		sd_notify(0, "READY=1");
		return log_error_errno(ENOMEM, "Reload failed: out of memory");
	}
	if (strcmp(d->config.kds_url, c.kds_url) || strcmp(d->config.cache_dir, c.cache_dir) ||
	    strcmp(d->config.trust_ark, c.trust_ark) || d->config.kds_offline != c.kds_offline ||
	    strcmp(d->config.certs_dir, c.certs_dir) ||
	    strcmp(d->config.kds_ca_file, c.kds_ca_file) ||
	    d->config.cache_max_size != c.cache_max_size)
		d->coll_dirty = true; /* looked for again with the new settings */
	snpd_config_release(&d->config);
	d->config = c;
	if (d->fs)
		snpd_fs_reload(d->fs);
	snpd_eventlog_reload(d->eventlog, &d->config);
	/* the collateral's backoffs start again from their minimum */
	snpd_collateral_reset_backoff(d->collateral);
	d->coll_backoff_until = 0;
	if (d->config.certs_dir && *d->config.certs_dir)
		d->coll_retry = sd_event_source_disable_unref(d->coll_retry); /* none looked up */
	d->reloads++;
	snp_log_set_max_level(d->config.log_level);
	limits_of(&d->config, &lim);
	snpd_broker_set_limits(d->broker, &lim);

	/* the host's table that did not fit: asked again soon, backoff from the start */
	if (d->host_certs_error[0]) {
		d->host_certs_retry = sd_event_source_disable_unref(d->host_certs_retry);
		d->host_certs_backoff_ms = 0;
		host_certs_schedule_retry(d);
	}
	/* a reload while one is in flight is folded into one more after it */
	reference_refresh(d, SNPD_REF_RELOAD);
	return 0;
}

static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	sd_notify(0, "STOPPING=1");
	log_info("Received %s, stopping", strsignal((int)si->ssi_signo));
	return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int on_status_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct snpd *d = userdata;

	notify_status(d, "", NULL);
	return sd_event_source_set_time_relative(s, 10 * 1000000ULL);
}

static void disable_core_dumps(void)
{
	struct rlimit rl = { 0, 0 }, cur;

	/*
	 * derived keys and the simulator's secrets must not end up in a core
	 * file (the unit sets LimitCORE=0 and filters setrlimit() away)
	 */
	if ((getrlimit(RLIMIT_CORE, &cur) < 0 || cur.rlim_max != 0) &&
	    setrlimit(RLIMIT_CORE, &rl) < 0)
		log_warning_errno(errno, "Failed to disable core dumps: %m");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		log_warning_errno(errno, "Failed to mark the process undumpable: %m");
}

/*
 * Every HTTP client holds a file descriptor of snpd's: MaxConnections=
 * goes up to 10000 per listener, far above the usual soft limit of 1024
 * open files, beyond which accept() fails with EMFILE. Raise
 * the soft limit to the hard one, as systemd recommends for daemons that
 * need many descriptors (nothing in snpd uses select(), whose fd_set ends
 * at FD_SETSIZE; libmicrohttpd runs in its epoll mode). Under
 * snpd.service setrlimit() may be filtered away: LimitNOFILE= does it.
 */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_debug_errno(errno, "Cannot raise the open file limit to %llu: %m",
				(unsigned long long)rl.rlim_max);
}

/*
 * Under snpd.service the view is mounted by snpd-mount (ExecStartPre=+, in
 * the host's mount namespace) and its connection passed through the fd
 * store as "fuse". Take it and remove it from the store at once: the store
 * must not keep the connection alive past this process, or a caller blocked
 * in a read when snpd dies would wait for a reply nobody sends. A dead
 * connection (aborted by snpd-mount stop) is closed; if several are live,
 * the last one wins. Returns 0 or a negative errno.
 */
static int take_passed_fds(struct snpd *d)
{
	char **names = NULL;
	int n, found = 0;

	n = sd_listen_fds_with_names(0, &names);
	if (n < 0)
		log_warning_errno(n, "Ignoring passed fds: %m");
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		struct pollfd p = { .fd = fd };

		if (!names || !names[i] || strcmp(names[i], "fuse")) {
			d->n_passed_sockets++;
			continue;
		}
		found++;
		if (d->fuse_fd >= 0)
			close(d->fuse_fd);
		d->fuse_fd = -1;
		if (poll(&p, 1, 0) < 0 || (p.revents & (POLLERR | POLLHUP | POLLNVAL))) {
			log_info("Closing a dead FUSE connection from the fd store");
			close(fd);
			continue;
		}
		d->fuse_fd = fd;
	}
	for (int i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
	if (!found)
		return 0;
	if (sd_notify(0, "FDSTOREREMOVE=1\nFDNAME=fuse") <= 0)
		log_warning("Could not remove the FUSE connection from the fd store");
	if (d->fuse_fd < 0)
		return log_error_errno(ENOTCONN,
				       "The FUSE connection passed by the service manager "
				       "is dead");
	if (fcntl(d->fuse_fd, F_SETFD, FD_CLOEXEC) < 0)
		return log_error_errno(errno, "Failed to set up the FUSE fd: %m");
	if (!d->config.fs_enabled) {
		log_warning("Closing the FUSE connection passed by the service manager: "
			    "[Filesystem] Enabled=no");
		close(d->fuse_fd);
		d->fuse_fd = -1;
	}
	return 0;
}

static int run(struct snpd *d)
{
	struct snp_backend_report ref = { 0 };
	struct snp_backend_report_req rreq = { 0 };
	struct snp_backend_error e = { 0 };
	struct snpd_broker_limits lim;
	sd_event_source *status_timer = NULL;
	char err[SNP_ERRBUF];
	sigset_t mask;
	int r;

	r = take_passed_fds(d);
	if (r < 0)
		return r;
	/*
	 * What a killed instance left behind goes first, before anything
	 * that can fail: a dead mount (ENOTCONN for everyone who looks) and
	 * a socket nobody accepts on. Live ones are refused, never taken.
	 * A mount snpd-mount made is its business.
	 */
	if (d->config.fs_enabled && d->fuse_fd < 0) {
		r = snpd_fs_clear_stale_mount(d->config.mountpoint);
		if (r < 0)
			return r;
	}
	if (d->config.http_enabled && d->n_passed_sockets == 0) {
		r = snpd_http_clear_stale_socket(d->config.api_socket);
		if (r < 0)
			return r;
	}

	r = snp_backend_open(d->config.backend, &d->backend, err, sizeof(err));
	if (r < 0)
		return log_error_errno(r, "Cannot open backend '%s': %s", d->config.backend, err);
	log_info("Backend %s opened", d->config.backend);

	/* the reference report, before anything serves */
	rreq.vmpl = d->config.vmpl;
	rreq.want_certs = true;
	d->reference_reports++;
	r = snp_backend_get_report(d->backend, &rreq, &ref, &e);
	if (r == -EMSGSIZE) {
		/*
		 * The host's table is larger than the guest takes: the host's
		 * doing, never a reason not to start. The reference report
		 * again without it; the host is asked again once serving.
		 */
		host_certs_refused(d, &e);
		rreq.want_certs = false;
		d->reference_reports++;
		r = snp_backend_get_report(d->backend, &rreq, &ref, &e);
	}
	if (r < 0 && r != -EINVAL && r != -EOPNOTSUPP && r != -EPERM && r != -EACCES) {
		/*
		 * A throttling host (BUSY past the driver's retry window) or a
		 * failure outside the configuration is no reason not to start:
		 * degraded, retrying, saying why. (A driver that disabled its
		 * key on the way shows up as dead at the first retry.) What the
		 * operator must fix, parameters and permissions, still stops.
		 */
		log_warning_errno(r,
				  "The reference report failed: %m%s (firmware error 0x%x, host "
				  "error %u); starting degraded, the static files wait for it",
				  r == -ETIMEDOUT ? " (the host kept answering BUSY)" : "",
				  e.fw_error, e.vmm_error);
		d->reference_error = -r;
	} else if (r < 0) {
		return log_error_errno(r,
				       "The reference report failed: %m (firmware error 0x%x, "
				       "host error %u, status 0x%x)",
				       e.fw_error, e.vmm_error, e.status);
	} else {
		r = reference_view(d, &ref);
		if (r < 0) {
			snp_backend_report_release(&ref);
			return r;
		}
	}

	r = sd_event_default(&d->event);
	if (r < 0) {
		snp_backend_report_release(&ref);
		return log_error_errno(r, "Failed to create the event loop: %m");
	}
	sd_event_now(d->event, CLOCK_MONOTONIC, &d->started_usec);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((r = sd_event_add_signal(d->event, NULL, SIGTERM, on_sigterm, d)) < 0 ||
	    (r = sd_event_add_signal(d->event, NULL, SIGINT, on_sigterm, d)) < 0 ||
	    (r = sd_event_add_signal(d->event, NULL, SIGHUP, on_sighup, d)) < 0) {
		snp_backend_report_release(&ref);
		return log_error_errno(r, "Failed to watch signals: %m");
	}
	r = sd_event_set_watchdog(d->event, true);
	if (r < 0)
		log_warning_errno(r, "Failed to enable the watchdog: %m");

	/*
	 * The collateral: READY=1 waits for its local pass only (host table,
	 * embedded roots, cache; at most SNPD_COLLATERAL_LOCAL_WAIT_MS),
	 * never for KDS, which the worker asks in the background. Its thread
	 * starts after the signals are blocked, so that it never takes them.
	 */
	r = snpd_collateral_new(d->event, on_collateral, d, &d->collateral);
	if (r < 0) {
		snp_backend_report_release(&ref);
		return log_error_errno(r, "Failed to start the collateral worker: %m");
	}
	if (d->view)
		collateral_for(d, d->view, &ref, true);
	snp_backend_report_release(&ref);

	limits_of(&d->config, &lim);
	r = snpd_broker_new(d->event, d->backend, &lim, &d->broker);
	if (r < 0)
		return log_error_errno(r, "Failed to start the broker: %m");

	r = snpd_eventlog_open(&d->config, &d->eventlog);
	if (r < 0)
		return log_error_errno(r, "Failed to open the event log: %m");

	r = snpd_batcher_new(d, &d->batcher);
	if (r < 0)
		return log_error_errno(r, "Failed to set up evidence batches: %m");

	if (d->config.fs_enabled) {
		r = snpd_fs_new(d, &d->fs);
		if (r < 0)
			return r;
	}
	if (d->config.http_enabled) {
		r = snpd_http_new(d, &d->http);
		if (r < 0)
			return r;
	}

	r = sd_event_add_time_relative(d->event, &status_timer, CLOCK_MONOTONIC, 10 * 1000000ULL, 0,
				       on_status_timer, d);
	if (r >= 0)
		sd_event_source_set_enabled(status_timer, SD_EVENT_ON);

	reference_schedule_retry(d);
	host_certs_schedule_retry(d);
	notify_status(d, "READY=1\n", NULL);
	log_notice("snpd %s ready%s: backend %s%s%s", PACKAGE_VERSION,
		   d->view ? "" : " (degraded: no reference report yet)", d->config.backend,
		   d->fs ? ", view at " : ", no FUSE view", d->fs ? d->config.mountpoint : "");

	r = sd_event_loop(d->event);
	sd_event_source_disable_unref(status_timer);
	d->reference_retry = sd_event_source_disable_unref(d->reference_retry);
	d->host_certs_retry = sd_event_source_disable_unref(d->host_certs_retry);
	d->coll_retry = sd_event_source_disable_unref(d->coll_retry);
	d->stale_timer = sd_event_source_disable_unref(d->stale_timer);
	/* the broker's last answers are cancellations: nothing to refresh for */
	d->view_mismatch = NULL;
	if (r < 0)
		return log_error_errno(r, "Event loop failed: %m");
	return 0;
}

/*
 * Every answered batch frees its members' documents (megabytes with many
 * clients) and the next batch allocates them again. By default glibc
 * returns the top of the heap to the kernel once 128 KB of it is free (a
 * limit it raises by itself only as far as its mmap threshold has grown),
 * and each page then faults back in: measured under 1,000 HTTP evidence
 * clients, runs that fell into that cycle took 23,000 page faults a second
 * and twice the CPU per answer. Keep up to HEAP_KEEP of freed heap for
 * reuse instead, and serve allocations below 1 MB from the heap.
 */
#define HEAP_KEEP (32 * 1024 * 1024)

static void keep_heap(void)
{
#ifdef __GLIBC__
	if (!mallopt(M_TRIM_THRESHOLD, HEAP_KEEP) || !mallopt(M_MMAP_THRESHOLD, 1024 * 1024))
		log_debug("mallopt() refused the heap limits; glibc's defaults stay");
#endif
}

int main(int argc, char **argv)
{
	struct snpd d = { .fuse_fd = -1, .view_mismatch = on_view_mismatch };
	int r;

	snp_log_set_ident("snpd");
	snp_log_set_prefix_mode(1);
	snp_log_set_max_level(LOG_INFO);

	r = snpd_cmdline_parse(argc, argv, &d.cmdline);
	if (r > 0)
		return EXIT_SUCCESS;
	if (r < 0)
		return SNPD_EXIT_CONFIG;
	r = snpd_config_load(&d.cmdline, &d.config);
	if (r < 0)
		return SNPD_EXIT_CONFIG;
	snp_log_set_max_level(d.config.log_level);
	if (d.cmdline.dump_config) {
		snpd_config_dump(&d.config, stdout);
		snpd_config_release(&d.config);
		return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
	}
	disable_core_dumps();
	raise_fd_limit();
	keep_heap();

	/* libcurl's global state, before any thread (broker, collateral) starts */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("Failed to initialise libcurl");
		snpd_config_release(&d.config);
		return EXIT_FAILURE;
	}
	r = run(&d);

	/* the broker first: its last callbacks still reply to FUSE and HTTP */
	snpd_batcher_close(d.batcher);
	d.broker = snpd_broker_free(d.broker);
	d.batcher = snpd_batcher_free(d.batcher);
	d.http = snpd_http_free(d.http);
	d.fs = snpd_fs_free(d.fs);
	if (d.fuse_fd >= 0)
		close(d.fuse_fd);
	d.collateral = snpd_collateral_free(d.collateral);
	d.coll = snpd_coll_set_free(d.coll);
	d.backend = snp_backend_free(d.backend);
	d.view = snpd_view_free(d.view);
	d.eventlog = snpd_eventlog_free(d.eventlog);
	d.event = sd_event_unref(d.event);
	snpd_config_release(&d.config);
	curl_global_cleanup();
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
