/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The broker: the only path from clients (FUSE, HTTP) to the backend.
 * A bounded queue served round-robin by client, a per-client token-bucket
 * rate limit, one worker thread that makes the device requests so the
 * event loop never blocks, backoff when the host stays BUSY, and health
 * tracking: once the device is dead (VMPCK disabled, ENOTTY) every request
 * fails fast.
 */
#ifndef SNPD_BROKER_H
#define SNPD_BROKER_H

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "backend/backend.h"

enum snpd_req_kind {
	SNPD_REQ_REPORT,
	SNPD_REQ_KEY,
};

/*
 * Where a request waits (snpd_broker_submit()): one of the QueueSize=
 * places, or the reserved place of one of snpd's own clients, which a
 * full queue never refuses.
 */
enum snpd_req_place {
	SNPD_PLACE_QUEUE,     /* clients: raw reports, keys */
	SNPD_PLACE_BATCH,     /* the evidence batcher's one batch */
	SNPD_PLACE_REFERENCE, /* the reference report (start, SIGHUP, stale view) */
	_SNPD_PLACE_MAX,
};

struct snpd_request;
typedef void (*snpd_request_done_t)(struct snpd_request *req, void *userdata);

struct snpd_request {
	enum snpd_req_kind kind;
	u64 client;		   /* fairness and rate-limit identity (daemon/client.h) */
	enum snpd_req_place place; /* SNPD_PLACE_QUEUE unless snpd's own */
	struct snp_backend_report_req report_req;
	struct snp_backend_key_req key_req;
	snpd_request_done_t done; /* called in the event loop, exactly once */
	void *userdata;

	/* results, valid in done() */
	int result; /* 0 or negative errno */
	struct snp_backend_error error;
	struct snp_backend_report report; /* owned by the request */
	u8 key[SNP_DERIVED_KEY_LEN];	  /* wiped by snpd_request_free() */
	u64 latency_usec;		  /* device time */

	/* broker internals */
	struct snpd_request *next;
	u64 submitted_usec;
	u64 finished_usec; /* CLOCK_MONOTONIC, when the worker had the answer */
};

/* Allocate a zeroed request; free wipes the key and releases the report. */
struct snpd_request *snpd_request_new(enum snpd_req_kind kind, u64 client);
struct snpd_request *snpd_request_free(struct snpd_request *req);

struct snpd_broker_limits {
	u32 queue_size;
	u32 rate_limit; /* per client per second; 0 = off */
	u32 rate_burst;
};

struct snpd_broker_stats {
	u64 submitted;
	u64 completed;
	u64 failed;
	u64 rate_limited;
	u64 queue_full; /* the queue, or the client's share of it, was full */
	u64 share_full; /* of which the client's share */
	u64 cancelled;	/* dropped from the queue: their client went away */
	u64 busy_backoffs;
	u32 queue_depth;
	u32 clients;
	bool busy; /* a request is on the device */
	bool dead;
	char dead_reason[160];
	/* outcomes of device requests, for health (client errors not counted) */
	u32 consecutive_failures;
	int last_error; /* errno of the last failed device request */
	u64 last_ok_usec, last_failure_usec;
	u64 last_latency_usec;
	u64 latency_sum_usec;
	u64 latency_buckets[12]; /* <=1,2,4,...,1024 ms, more (not cumulative) */
	/*
	 * pickup: from the worker having the answer to the loop taking it
	 * (the device sits idle meanwhile when more is waiting), over
	 * picked_up answers (completed also counts requests cancelled or
	 * failed before the device), and how many answers
	 * snpd_broker_poll() took inside a long dispatch
	 */
	u64 picked_up;
	u64 pickup_sum_usec;
	u64 pickup_max_usec;
	u64 pickup_over_1ms;
	u64 polled;
};

struct snpd_broker;

/* Takes a reference on @e; the backend stays owned by the caller. */
int snpd_broker_new(sd_event *e, struct snp_backend *b, const struct snpd_broker_limits *lim,
		    struct snpd_broker **ret);
struct snpd_broker *snpd_broker_free(struct snpd_broker *br);
void snpd_broker_set_limits(struct snpd_broker *br, const struct snpd_broker_limits *lim);

/*
 * Queue @req. On success the broker owns the request until done() runs
 * (the callback then owns it). Fails without calling done():
 *   -ENODEV  the device is dead
 *   -EAGAIN  the client is over its rate limit; *ret_retry_ms says when
 *            to come back
 *   -EBUSY   the queue is full, or this client already has its share of
 *            it waiting (a quarter of queue_size, at least 1), so that
 *            one client never takes the queue from the others; for a
 *            request of a reserved @place: a request waits in it already
 *
 * Besides its queue_size places the queue has one reserved place for each
 * of snpd's own clients that must not fail because clients filled the
 * queue, and that keep to one request at a time, so that they always find
 * their place free:
 *   SNPD_PLACE_BATCH      the evidence batcher (one batch waiting or on
 *                         the device), whose request answers up to
 *                         BatchMax= clients; held to the rate limit
 *                         like any client: over it, the batch waits and
 *                         grows
 *   SNPD_PLACE_REFERENCE  the reference report (one in flight, see
 *                         struct snpd): without it a changed platform
 *                         leaves evidence refused, and a reload fails,
 *                         for as long as raw requests keep the queue
 *                         full. Not rate limited: snpd paces it (one at
 *                         a time; a stale view's refreshes back off from
 *                         1 s to 60 s), and a refusal would leave it
 *                         undone until the next stale batch
 * Each is served round-robin as one more client: it neither starves the
 * others (one place, one turn per round) nor they it, and it takes none
 * of their places.
 */
int snpd_broker_submit(struct snpd_broker *br, struct snpd_request *req, u32 *ret_retry_ms);

/*
 * The client of @req (submitted, done() not yet run) went away. If @req is
 * still waiting in the queue it never reaches the device: it is removed
 * and completed with -ECANCELED (done() runs before this returns) and 0 is
 * returned. If it is on the device, -EBUSY: done() runs as usual later.
 */
int snpd_broker_cancel(struct snpd_broker *br, struct snpd_request *req);

/*
 * For a long dispatch (one MHD_run() or a run of FUSE requests), called
 * between two requests: if the worker has an answer, it is completed now
 * (done() runs, the next request goes to the device) rather than when the
 * loop gets back to the broker. Cheap when there is none (one atomic
 * load). Event loop thread only, never from a done() callback. Accepts
 * NULL (after snpd_broker_free()).
 */
void snpd_broker_poll(struct snpd_broker *br);

void snpd_broker_get_stats(struct snpd_broker *br, struct snpd_broker_stats *ret);
bool snpd_broker_is_dead(struct snpd_broker *br);

/* Map a backend error to the errno a client should see (ENODEV, EIO, ...). */
int snpd_errno_for_client(int r);

#endif
