// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "daemon/batch.h"
#include "daemon/eventlog.h"
#include "daemon/snpd.h"
#include "fs/fs.h"
#include "backend/backend.h"
#include "kernel/snp-certs.h"
#include "lib/util.h"

const char *const snpd_health_names[] = {
	[SNPD_HEALTH_OK] = "ok",
	[SNPD_HEALTH_DEGRADED] = "degraded",
	[SNPD_HEALTH_DEAD] = "dead",
};

enum snpd_health snpd_health(struct snpd *d, char *reason, size_t len)
{
	struct snpd_broker_stats bs;

	snpd_broker_get_stats(d->broker, &bs);
	if (bs.dead) {
		snprintf(reason, len, "%s", bs.dead_reason);
		return SNPD_HEALTH_DEAD;
	}
	if (!d->view) {
		snprintf(reason, len,
			 "no reference report yet (%s); the static files wait for it, snpd "
			 "retries",
			 d->reference_error == ETIMEDOUT || d->reference_error == EBUSY ?
				 "the host is throttling requests (BUSY)" :
				 strerror(d->reference_error ? d->reference_error : EIO));
		return SNPD_HEALTH_DEGRADED;
	}
	if (bs.consecutive_failures >= SNPD_HEALTH_FAILURES) {
		snprintf(reason, len, "the last %u device requests failed (last error: %s)",
			 bs.consecutive_failures,
			 bs.last_error == ETIMEDOUT ? "the host stayed BUSY" :
						      strerror(bs.last_error));
		return SNPD_HEALTH_DEGRADED;
	}
	snprintf(reason, len, "%s", "");
	return SNPD_HEALTH_OK;
}

/*
 * A message for the status as a JSON string (new reference). Jansson
 * refuses text that is not UTF-8 (json_string() is NULL, and the member
 * would be dropped): such text is shown as printable ASCII instead, so
 * that the status always says why.
 */
static json_t *message_json(const char *s)
{
	char buf[4 * sizeof(((struct snpd_coll_set *)0)->error) + 1]; /* the longest message */
	json_t *j = json_string(s);

	return j ? j : json_string(snp_printable(buf, sizeof(buf), s, strlen(s)));
}

/*
 * When the timer @s (borrowed, may be NULL) fires: how long until then on
 * its own clock (backoff_arm()'s CLOCK_MONOTONIC, a CRL's nextUpdate on
 * CLOCK_REALTIME) into @ret_usec (0 when due), and, when @ret_epoch is not
 * NULL, that time on the wall clock (epoch s, rounded up: a wall-clock
 * timer's own time, else the wall clock now plus what is left); false when
 * there is none: NULL, disabled (a one-shot timer that fired), or its time
 * unreadable. The armed source is the one truth of when: no copy of it to
 * go stale.
 */
static bool timer_when(sd_event *e, sd_event_source *s, u64 *ret_usec, time_t *ret_epoch)
{
	clockid_t clock;
	uint64_t at, now, wall = 0;
	int enabled;

	if (!e || !s || sd_event_source_get_enabled(s, &enabled) < 0 || enabled == SD_EVENT_OFF ||
	    sd_event_source_get_time_clock(s, &clock) < 0 || sd_event_source_get_time(s, &at) < 0 ||
	    sd_event_now(e, clock, &now) < 0 ||
	    (ret_epoch && clock != CLOCK_REALTIME && sd_event_now(e, CLOCK_REALTIME, &wall) < 0))
		return false;
	*ret_usec = at > now ? at - now : 0;
	if (ret_epoch) {
		u64 t = clock == CLOCK_REALTIME ? at : wall + *ret_usec;

		*ret_epoch = (time_t)((t + 999999) / 1000000);
	}
	return true;
}

static bool timer_left_usec(sd_event *e, sd_event_source *s, u64 *ret_usec)
{
	return timer_when(e, s, ret_usec, NULL);
}

bool snpd_stale_view_note(const struct snpd *d, char *buf, size_t len)
{
	struct snpd_platform_id ref;
	char diff[256];
	u64 left;

	buf[0] = '\0';
	if (!d->view || !d->stale || !d->stale_error[0])
		return false;
	snpd_platform_id_of((const u8 *)&d->view->ref.r, &ref);
	snpd_platform_id_diff(&ref, &d->stale_id, diff, sizeof(diff));
	if (d->reloading || d->reference_again)
		snprintf(buf, len,
			 "the view is stale (the host changed the platform: %s) and its refresh "
			 "failed (%s); evidence of the new platform is refused until a refresh "
			 "succeeds; one is under way",
			 diff, d->stale_error);
	else if (timer_left_usec(d->event, d->stale_timer, &left))
		snprintf(buf, len,
			 "the view is stale (the host changed the platform: %s) and its refresh "
			 "failed (%s); evidence of the new platform is refused until a refresh "
			 "succeeds; the next is in %llu ms",
			 diff, d->stale_error, (unsigned long long)(left / 1000));
	else
		snprintf(buf, len,
			 "the view is stale (the host changed the platform: %s) and its refresh "
			 "failed (%s); evidence of the new platform is refused until a refresh "
			 "succeeds; the next evidence request starts one",
			 diff, d->stale_error);
	return true;
}

/*
 * The view is stale (d->stale): the host's change, whether a reference
 * report that refreshes it is on its way, why the last one failed, when
 * the next is due (new reference; JSON null while the view is current).
 */
static json_t *stale_view_json(struct snpd *d)
{
	struct snpd_platform_id ref;
	u64 left, now = snp_monotonic_usec();
	char diff[256];
	json_t *o;

	if (!d->view || !d->stale)
		return json_null();
	snpd_platform_id_of((const u8 *)&d->view->ref.r, &ref);
	snpd_platform_id_diff(&ref, &d->stale_id, diff, sizeof(diff));
	o = json_pack(
		"{s:s, s:b, s:o, s:o, s:I}", "change", diff, "refreshing",
		d->reloading || d->reference_again, "last_error",
		d->stale_error[0] ? message_json(d->stale_error) : json_null(),
		"next_refresh_in_ms",
		timer_left_usec(d->event, d->stale_timer, &left) ?
			json_integer((json_int_t)(left / 1000)) :
			json_null(),
		"backoff_left_ms",
		(json_int_t)(d->stale_next_usec > now ? (d->stale_next_usec - now) / 1000 : 0));
	return o ? o : json_null();
}

/* collateral.host_table under CertsDir= (snpd_view_new() takes the directory's alone) */
static const char host_table_certs_dir[] = "not looked at: CertsDir= is in use";

json_t *snpd_collateral_json(struct snpd *d)
{
	const struct snpd_coll_set *s = d->coll;
	const struct snpd_view *v = d->view;
	bool dir = d->config.certs_dir && *d->config.certs_dir;
	bool current = s && v && snpd_coll_set_matches(s, &v->ref);
	time_t now = time(NULL), at;
	json_t *o, *src;
	u64 left;

	src = json_object();
	for (int i = 0; v && src && i < SNPD_CERT_SOURCE; i++)
		if (v->certs[i] && i != SNPD_CERT_CHAIN)
			json_object_set_new(src, snpd_cert_names[i],
					    json_string(snpd_coll_src_names[v->cert_src[i]]));
	o = json_pack("{s:s, s:o*, s:I, s:b, s:s}", "state",
		      dir      ? "certs-dir" :
		      !current ? (v && (v->certs[SNPD_CERT_VCEK] || v->certs[SNPD_CERT_VLEK]) ?
					  "partial" :
					  "none") :
				 snpd_coll_state_names[s->state],
		      "sources", src, "kds_requests",
		      (json_int_t)snpd_collateral_requests(d->collateral), "kds_offline",
		      d->config.kds_offline, "kds_url", d->config.kds_url);
	if (!o)
		return NULL;
	json_object_set_new(o, "checking", json_boolean(!dir && v && (!current || !s->final)));
	json_object_set_new(o, "age_sec",
			    current && s->completed_at ?
				    json_integer((json_int_t)(now - s->completed_at)) :
				    json_null());
	if (dir) /* why its endorsement key is not served (snpd_view_new()) */
		json_object_set_new(o, "last_error",
				    v && v->certs_error ? message_json(v->certs_error) :
							  json_null());
	else
		json_object_set_new(o, "last_error",
				    current && s->error[0] ? message_json(s->error) : json_null());
	/*
	 * The host's table not taken at all (too large) says more than its
	 * note; under CertsDir= no table of the host is looked at, and a
	 * note of a set from before a reload that set it is no longer true.
	 */
	json_object_set_new(o, "host_table",
			    d->host_certs_error[0]     ? message_json(d->host_certs_error) :
			    dir			       ? json_string(host_table_certs_dir) :
			    current && s->host_note[0] ? message_json(s->host_note) :
							 json_null());
	/*
	 * The timer armed for the next lookup, not the set's retry_at: a
	 * failed fresh host table's backoff (coll_refresh_failed(),
	 * coll_backoff_until) or the fallback while it is asked for
	 * (on_coll_retry()) is not the set's. None armed (a pass running, a
	 * dead device, unless a complete set's CRL has a nextUpdate,
	 * CertsDir=, complete without a nextUpdate): null.
	 */
	if (!dir && timer_when(d->event, d->coll_retry, &left, &at)) {
		json_object_set_new(o, "next_retry", json_integer((json_int_t)at));
		json_object_set_new(o, "next_retry_in_sec",
				    json_integer((json_int_t)((left + 999999) / 1000000)));
	} else {
		json_object_set_new(o, "next_retry", json_null());
		json_object_set_new(o, "next_retry_in_sec", json_null());
	}
	json_object_set_new(o, "cache_dir", json_string(d->config.cache_dir));
	json_object_set_new(o, "stale_reports", json_integer((json_int_t)d->stale_reports));
	json_object_set_new(o, "stale_refreshes", json_integer((json_int_t)d->stale_refreshes));
	return o;
}

json_t *snpd_status_json(struct snpd *d)
{
	struct snpd_broker_stats bs;
	struct snpd_fs_stats fst = { 0 };
	enum snpd_health health;
	char reason[256];
	json_t *o, *lat;
	uint64_t now = 0;

	snpd_broker_get_stats(d->broker, &bs);
	health = snpd_health(d, reason, sizeof(reason));
	if (d->fs)
		snpd_fs_get_stats(d->fs, &fst);
	sd_event_now(d->event, CLOCK_MONOTONIC, &now);
	lat = json_array();
	for (size_t i = 0; lat && i < sizeof(bs.latency_buckets) / sizeof(bs.latency_buckets[0]);
	     i++)
		json_array_append_new(lat, json_integer((json_int_t)bs.latency_buckets[i]));
	o = json_pack("{s:s, s:s?, s:s, s:I, s:b, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:i, "
		      "s:b, s:I, s:o*}, s:{s:b, s:s?, s:I, s:I, s:I, s:i, s:i}, s:I, s:I}",
		      "health", snpd_health_names[health], "reason",
		      health != SNPD_HEALTH_OK ? reason : NULL, "backend",
		      snp_backend_ops(d->backend)->name, "uptime_sec",
		      (json_int_t)((now - d->started_usec) / 1000000), "reloading", d->reloading,
		      "broker", "submitted", (json_int_t)bs.submitted, "completed",
		      (json_int_t)bs.completed, "failed", (json_int_t)bs.failed, "rate_limited",
		      (json_int_t)bs.rate_limited, "queue_full", (json_int_t)bs.queue_full,
		      "busy_backoffs", (json_int_t)bs.busy_backoffs, "queue_depth",
		      (int)bs.queue_depth, "clients", (int)bs.clients, "device_busy", bs.busy,
		      "last_latency_usec", (json_int_t)bs.last_latency_usec,
		      "latency_ms_buckets_le_1_2_4_to_1024_inf", lat, "filesystem", "mounted",
		      d->fs != NULL, "mountpoint", d->fs ? d->config.mountpoint : NULL, "opens",
		      (json_int_t)fst.opens, "reads", (json_int_t)fst.reads, "errors",
		      (json_int_t)fst.errors, "open_files", (int)fst.open_files, "nonce_inodes",
		      (int)fst.nonce_inodes, "reloads", (json_int_t)d->reloads, "view_generation",
		      (json_int_t)(d->view ? d->view->generation : 0));
	if (o) {
		json_t *b = json_object_get(o, "broker");

		json_object_set_new(o, "reference_reports",
				    json_integer((json_int_t)d->reference_reports));
		json_object_set_new(o, "reload_pending", json_boolean(d->reference_again));
		json_object_set_new(o, "last_reload_failed", json_boolean(d->last_reload_failed));
		/* the host's table did not fit: what it asked for, how long until asked again */
		if (d->host_certs_error[0]) {
			/* null: not armed (asking now, a dead device) */
			u64 left;
			json_t *next = timer_left_usec(d->event, d->host_certs_retry, &left) ?
					       json_integer((json_int_t)(left / 1000)) :
					       json_null();

			json_object_set_new(
				o, "host_certs",
				json_pack("{s:o, s:I, s:I, s:I, s:o}", "error",
					  message_json(d->host_certs_error), "needed_bytes",
					  (json_int_t)d->host_certs_needed, "guest_bytes",
					  (json_int_t)SNP_CERTS_MAX_LEN, "retry_backoff_ms",
					  (json_int_t)d->host_certs_backoff_ms, "next_retry_in_ms",
					  next));
		} else {
			json_object_set_new(o, "host_certs", json_null());
		}
		json_object_set_new(o, "stale_view", stale_view_json(d));
		json_object_set_new(b, "consecutive_failures",
				    json_integer((json_int_t)bs.consecutive_failures));
		json_object_set_new(b, "last_error",
				    bs.last_error ? json_string(strerror(bs.last_error)) :
						    json_null());
		json_object_set_new(b, "cancelled", json_integer((json_int_t)bs.cancelled));
		json_object_set_new(b, "share_full", json_integer((json_int_t)bs.share_full));
		json_object_set_new(b, "picked_up", json_integer((json_int_t)bs.picked_up));
		json_object_set_new(b, "pickup_sum_usec",
				    json_integer((json_int_t)bs.pickup_sum_usec));
		json_object_set_new(b, "pickup_max_usec",
				    json_integer((json_int_t)bs.pickup_max_usec));
		json_object_set_new(b, "pickup_over_1ms",
				    json_integer((json_int_t)bs.pickup_over_1ms));
		json_object_set_new(b, "polled", json_integer((json_int_t)bs.polled));
		json_object_set_new(o, "event_log", snpd_eventlog_status_json(d->eventlog));
		if (d->batcher) {
			struct snpd_batch_stats es;

			snpd_batcher_get_stats(d->batcher, &es);
			json_object_set_new(
				o, "evidence",
				json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:i, s:i, s:I, s:I}",
					  "members", (json_int_t)es.members, "batches",
					  (json_int_t)es.batches, "answered",
					  (json_int_t)es.answered, "failed", (json_int_t)es.failed,
					  "refused", (json_int_t)es.refused, "cancelled",
					  (json_int_t)es.cancelled, "pending", (int)es.pending,
					  "in_flight", (int)es.in_flight, "largest",
					  (int)es.largest, "held", (json_int_t)es.held, "gathered",
					  (json_int_t)es.gathered));
		}
		json_object_set_new(o, "collateral", snpd_collateral_json(d));
		json_object_set_new(json_object_get(o, "filesystem"), "lookups",
				    json_integer((json_int_t)fst.lookups));
		json_object_set_new(json_object_get(o, "filesystem"), "getattrs",
				    json_integer((json_int_t)fst.getattrs));
		json_object_set_new(json_object_get(o, "filesystem"), "releases",
				    json_integer((json_int_t)fst.releases));
		json_object_set_new(json_object_get(o, "filesystem"), "forgets",
				    json_integer((json_int_t)fst.forgets));
		json_object_set_new(json_object_get(o, "filesystem"), "stored",
				    json_integer((json_int_t)fst.stored));
		json_object_set_new(json_object_get(o, "filesystem"), "dropped",
				    json_integer((json_int_t)fst.dropped));
	}
	return o;
}
