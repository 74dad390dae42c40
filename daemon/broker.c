// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "daemon/broker.h"
#include "lib/log.h"
#include "lib/util.h"

#define CLIENTS_MAX    1024
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

struct client {
	u64 id;
	bool used;
	double tokens;
	u64 refill_usec;
	u64 seen_usec;
	u32 queued;
	struct snpd_request *head, *tail;
	struct client *next_active; /* ring of clients with queued requests */
};

struct snpd_broker {
	sd_event *event;
	struct snp_backend *backend;
	struct snpd_broker_limits lim;
	struct snpd_broker_stats stats;

	struct client clients[CLIENTS_MAX];
	/*
	 * The clients of the reserved places (snpd_broker_submit()), by
	 * place; [SNPD_PLACE_QUEUE] unused: outside the table, so that they
	 * need none of its slots either
	 */
	struct client reserved[_SNPD_PLACE_MAX];
	struct client *cursor; /* last served client in the active ring */
	u32 queued;	       /* waiting, the reserved places' included */

	/* worker handoff */
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct snpd_request *job;      /* to the worker */
	struct snpd_request *finished; /* back from the worker */
	bool has_finished;	       /* atomic: finished is set (snpd_broker_poll()) */
	unsigned int completing;       /* in a done() callback */
	bool stop;
	int efd;
	sd_event_source *efd_source;

	/* backoff after the host stayed BUSY */
	sd_event_source *backoff_timer;
	u32 backoff_ms;
};

static u64 now_usec(struct snpd_broker *br)
{
	uint64_t t = 0;

	if (sd_event_now(br->event, CLOCK_MONOTONIC, &t) < 0)
		t = snp_monotonic_usec();
	return t;
}

struct snpd_request *snpd_request_new(enum snpd_req_kind kind, u64 client)
{
	struct snpd_request *req = calloc(1, sizeof(*req));

	if (req) {
		req->kind = kind;
		req->client = client;
	}
	return req;
}

struct snpd_request *snpd_request_free(struct snpd_request *req)
{
	if (!req)
		return NULL;
	snp_backend_report_release(&req->report);
	OPENSSL_cleanse(req->key, sizeof(req->key));
	OPENSSL_cleanse(&req->key_req, sizeof(req->key_req));
	free(req);
	return NULL;
}

int snpd_errno_for_client(int r)
{
	switch (r) {
	case 0:
		return 0;
	case -ENOTTY:
	case -ENODEV:
		return ENODEV;
	case -EAGAIN:
		/*
		 * Over the rate limit. EAGAIN would read as "non-blocking
		 * I/O, try later" to stdio and Python, which then return
		 * nothing without an error; EBUSY is reported.
		 */
		return EBUSY;
	case -ENOKEY:
		/*
		 * A report of another TCB than the view's collateral, which
		 * is being refreshed (snpd_view_check_report()): transient,
		 * as a view without collateral yet is.
		 */
		return EBUSY;
	case -EINVAL:
	case -EOPNOTSUPP:
	case -EBUSY:
	case -ETIMEDOUT:
	case -ENOMEM:
	case -EPERM:
	case -EACCES:
		return -r;
	case -ESTALE:
		/*
		 * The answer was another writer's (configfs-tsm): this
		 * request failed, a new one may work. Not ESTALE, which the
		 * VFS takes for a stale file handle and fs.c uses for names
		 * that changed.
		 */
		return EIO;
	default:
		return EIO;
	}
}

static void *worker_main(void *arg)
{
	struct snpd_broker *br = arg;
	const u64 one = 1;

	for (;;) {
		struct snpd_request *req;
		struct timespec t0, t1;

		pthread_mutex_lock(&br->lock);
		while (!br->job && !br->stop)
			pthread_cond_wait(&br->cond, &br->lock);
		if (br->stop) {
			pthread_mutex_unlock(&br->lock);
			return NULL;
		}
		req = br->job;
		br->job = NULL;
		pthread_mutex_unlock(&br->lock);

		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (req->kind == SNPD_REQ_REPORT)
			req->result = snp_backend_get_report(br->backend, &req->report_req,
							     &req->report, &req->error);
		else
			req->result = snp_backend_get_derived_key(br->backend, &req->key_req,
								  req->key, &req->error);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		req->latency_usec = (u64)(t1.tv_sec - t0.tv_sec) * 1000000 +
				    (u64)((t1.tv_nsec - t0.tv_nsec) / 1000);
		req->finished_usec = snp_timespec_usec(&t1);

		pthread_mutex_lock(&br->lock);
		br->finished = req;
		/* set and cleared under the lock, read without it */
		__atomic_store_n(&br->has_finished, true, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&br->lock);
		/* an eventfd write of 1 cannot fail short of a bug */
		if (write(br->efd, &one, sizeof(one)) != sizeof(one))
			abort();
	}
}

static void ring_remove(struct snpd_broker *br, struct client *c)
{
	struct client *p = c;

	while (p->next_active != c)
		p = p->next_active;
	if (p == c) {
		br->cursor = NULL;
	} else {
		p->next_active = c->next_active;
		if (br->cursor == c)
			br->cursor = p;
	}
	c->next_active = NULL;
}

static void ring_add(struct snpd_broker *br, struct client *c)
{
	if (!br->cursor) {
		c->next_active = c;
		br->cursor = c;
		return;
	}
	/*
	 * The next served is cursor->next_active. Put @c right after the
	 * cursor and make it the cursor: it is served after everyone who
	 * was already waiting.
	 */
	c->next_active = br->cursor->next_active;
	br->cursor->next_active = c;
	br->cursor = c;
}

static struct snpd_request *pick_next(struct snpd_broker *br)
{
	struct snpd_request *req;
	struct client *c;

	if (!br->cursor)
		return NULL;
	c = br->cursor->next_active;
	req = c->head;
	c->head = req->next;
	if (!c->head)
		c->tail = NULL;
	req->next = NULL;
	c->queued--;
	br->queued--;
	br->cursor = c;
	if (!c->queued)
		ring_remove(br, c);
	return req;
}

static void dispatch(struct snpd_broker *br)
{
	struct snpd_request *req;

	if (br->stats.busy || br->backoff_timer || br->stats.dead)
		return;
	req = pick_next(br);
	if (!req)
		return;
	br->stats.busy = true;
	br->stats.queue_depth = br->queued;
	pthread_mutex_lock(&br->lock);
	br->job = req;
	pthread_mutex_unlock(&br->lock);
	/*
	 * After the unlock: signalled under the lock, the worker woke only
	 * to sleep again on the mutex this thread still held (one more
	 * futex wait and wake per request). It checks br->job under the
	 * lock, so the wakeup cannot be lost.
	 */
	pthread_cond_signal(&br->cond);
	/*
	 * Step aside for the worker: the device is idle until it runs. The
	 * loop is often about to work for milliseconds (a batch of evidence
	 * is answered right after the next one is sent), and a thread woken
	 * onto its CPU may wait for the loop's time slice to end, about a
	 * tick. No guarantee for a normal task, but measured (bench/README.md,
	 * "Seventh stop"): without it, at 1,000 evidence clients, up to one
	 * report in six reached the device 2-4.5 ms late. One system call per
	 * device request.
	 */
	sched_yield();
}

static void complete(struct snpd_broker *br, struct snpd_request *req)
{
	br->stats.completed++;
	if (req->result < 0)
		br->stats.failed++;
	br->completing++;
	req->done(req, req->userdata);
	br->completing--;
}

static void fail_all_queued(struct snpd_broker *br, int r)
{
	struct snpd_request *req;

	while ((req = pick_next(br))) {
		req->result = r;
		complete(br, req);
	}
	br->stats.queue_depth = 0;
}

static int on_backoff_done(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct snpd_broker *br = userdata;

	br->backoff_timer = sd_event_source_disable_unref(br->backoff_timer);
	dispatch(br);
	return 0;
}

static void record_latency(struct snpd_broker *br, u64 usec)
{
	u64 ms = usec / 1000;
	size_t i = 0;

	while (i < SNP_ELEMENTSOF(br->stats.latency_buckets) - 1 && ms > (1ULL << i))
		i++;
	br->stats.latency_buckets[i]++;
	br->stats.latency_sum_usec += usec;
	br->stats.last_latency_usec = usec;
}

/*
 * Health from outcomes: a request the firmware refused for its parameters,
 * that was cancelled, or whose answer another writer of configfs-tsm
 * changed (-ESTALE) says nothing about the service; anything else that
 * failed (host, device, the simulator's state on disk) does.
 */
static void note_outcome(struct snpd_broker *br, int result)
{
	if (result == 0) {
		br->stats.consecutive_failures = 0;
		br->stats.last_ok_usec = now_usec(br);
	} else if (result != -EINVAL && result != -EOPNOTSUPP && result != -ECANCELED &&
		   result != -ESTALE) {
		br->stats.consecutive_failures++;
		br->stats.last_error = -result;
		br->stats.last_failure_usec = now_usec(br);
	}
}

static void record_pickup(struct snpd_broker *br, const struct snpd_request *req)
{
	u64 now = snp_monotonic_usec(), lag;

	lag = now > req->finished_usec ? now - req->finished_usec : 0;
	br->stats.picked_up++;
	br->stats.pickup_sum_usec += lag;
	if (lag > br->stats.pickup_max_usec)
		br->stats.pickup_max_usec = lag;
	br->stats.pickup_over_1ms += lag > 1000;
}

/* The worker's answer, if there is one: complete it, give the worker the next. */
static int take_answer(struct snpd_broker *br)
{
	struct snpd_request *req;
	u64 v;

	if (read(br->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return log_error_errno(errno, "Failed to read the worker eventfd: %m");
	pthread_mutex_lock(&br->lock);
	req = br->finished;
	br->finished = NULL;
	__atomic_store_n(&br->has_finished, false, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&br->lock);
	if (!req)
		return 0;
	record_pickup(br, req);
	br->stats.busy = false;
	record_latency(br, req->latency_usec);
	note_outcome(br, req->result);

	if (req->result == -ENOTTY && !br->stats.dead) {
		br->stats.dead = true;
		snprintf(br->stats.dead_reason, sizeof(br->stats.dead_reason),
			 "the guest device disabled its key after a failure (ENOTTY); "
			 "attestation is unavailable until the VM restarts");
		log_error("Device is dead: %s", br->stats.dead_reason);
	} else if (req->result == -ETIMEDOUT) {
		/* the host kept answering BUSY: give it room before the next one */
		br->backoff_ms = br->backoff_ms ? br->backoff_ms * 2 : BACKOFF_MIN_MS;
		if (br->backoff_ms > BACKOFF_MAX_MS)
			br->backoff_ms = BACKOFF_MAX_MS;
		br->stats.busy_backoffs++;
		log_warning("Host busy: backing off for %u ms", br->backoff_ms);
		if (sd_event_add_time_relative(br->event, &br->backoff_timer, CLOCK_MONOTONIC,
					       (u64)br->backoff_ms * 1000, 0, on_backoff_done,
					       br) < 0)
			br->backoff_timer = NULL;
	} else if (req->result == 0) {
		br->backoff_ms = 0;
	}

	complete(br, req);
	if (br->stats.dead)
		fail_all_queued(br, -ENODEV);
	dispatch(br);
	br->stats.queue_depth = br->queued;
	return 1;
}

static int on_worker_done(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	int r = take_answer(userdata);

	return r < 0 ? r : 0;
}

void snpd_broker_poll(struct snpd_broker *br)
{
	/* NULL: the broker is gone (snpd_http_free() lets MHD write its last answers) */
	if (!br || br->completing || !__atomic_load_n(&br->has_finished, __ATOMIC_ACQUIRE))
		return;
	if (take_answer(br) > 0)
		br->stats.polled++;
}

int snpd_broker_new(sd_event *e, struct snp_backend *b, const struct snpd_broker_limits *lim,
		    struct snpd_broker **ret)
{
	struct snpd_broker *br;
	int r;

	br = calloc(1, sizeof(*br));
	if (!br)
		return -ENOMEM;
	br->event = sd_event_ref(e);
	br->backend = b;
	br->lim = *lim;
	br->efd = -1;
	pthread_mutex_init(&br->lock, NULL);
	pthread_cond_init(&br->cond, NULL);

	br->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (br->efd < 0) {
		r = -errno;
		goto fail;
	}
	r = sd_event_add_io(e, &br->efd_source, br->efd, EPOLLIN, on_worker_done, br);
	if (r < 0)
		goto fail;
	/* before clients' I/O that is pending too: the device waits for the loop */
	r = sd_event_source_set_priority(br->efd_source, SD_EVENT_PRIORITY_IMPORTANT);
	if (r < 0)
		goto fail;
	r = -pthread_create(&br->thread, NULL, worker_main, br);
	if (r < 0)
		goto fail;
	br->thread_started = true;
	*ret = br;
	return 0;
fail:
	snpd_broker_free(br);
	return r;
}

struct snpd_broker *snpd_broker_free(struct snpd_broker *br)
{
	if (!br)
		return NULL;
	if (br->thread_started) {
		pthread_mutex_lock(&br->lock);
		br->stop = true;
		pthread_cond_signal(&br->cond);
		pthread_mutex_unlock(&br->lock);
		pthread_join(br->thread, NULL);
	}
	/* a request the worker finished but the loop never saw */
	if (br->finished) {
		br->finished->result = -ECANCELED;
		br->finished->done(br->finished, br->finished->userdata);
	}
	if (br->job) {
		br->job->result = -ECANCELED;
		br->job->done(br->job, br->job->userdata);
	}
	fail_all_queued(br, -ECANCELED);
	sd_event_source_disable_unref(br->efd_source);
	sd_event_source_disable_unref(br->backoff_timer);
	if (br->efd >= 0)
		close(br->efd);
	pthread_cond_destroy(&br->cond);
	pthread_mutex_destroy(&br->lock);
	sd_event_unref(br->event);
	free(br);
	return NULL;
}

void snpd_broker_set_limits(struct snpd_broker *br, const struct snpd_broker_limits *lim)
{
	br->lim = *lim;
}

static struct client *get_client(struct snpd_broker *br, u64 id, u64 now)
{
	struct client *free_slot = NULL, *idle = NULL;

	for (size_t i = 0; i < CLIENTS_MAX; i++) {
		struct client *c = &br->clients[i];

		if (c->used && c->id == id)
			return c;
		if (!c->used && !free_slot)
			free_slot = c;
		else if (c->used && !c->queued && (!idle || c->seen_usec < idle->seen_usec))
			idle = c;
	}
	if (!free_slot)
		free_slot = idle; /* forget the longest-idle client */
	if (!free_slot)
		return NULL;
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->used = true;
	free_slot->id = id;
	free_slot->tokens = br->lim.rate_burst ? br->lim.rate_burst : 1;
	free_slot->refill_usec = now;
	br->stats.clients++;
	return free_slot;
}

/* Requests one client may have waiting: a quarter of the queue, at least one. */
static u32 client_share(const struct snpd_broker *br)
{
	return br->lim.queue_size / 4 ? br->lim.queue_size / 4 : 1;
}

/*
 * The client of @req's reserved place: NULL if a request waits in it
 * already. Its tokens carry over while the same client uses it.
 */
static struct client *get_reserved(struct snpd_broker *br, const struct snpd_request *req, u64 now)
{
	struct client *c = &br->reserved[req->place];

	if (c->queued)
		return NULL;
	if (!c->used || c->id != req->client) {
		memset(c, 0, sizeof(*c));
		c->used = true;
		c->id = req->client;
		c->tokens = br->lim.rate_burst ? br->lim.rate_burst : 1;
		c->refill_usec = now;
		br->stats.clients++;
	}
	return c;
}

/* Requests waiting in the QueueSize= places. */
static u32 queued_clients(const struct snpd_broker *br)
{
	u32 n = br->queued;

	for (size_t i = SNPD_PLACE_QUEUE + 1; i < _SNPD_PLACE_MAX; i++)
		n -= br->reserved[i].queued;
	return n;
}

int snpd_broker_submit(struct snpd_broker *br, struct snpd_request *req, u32 *ret_retry_ms)
{
	u64 now = now_usec(br);
	struct client *c;

	if (br->stats.dead)
		return -ENODEV;
	if ((unsigned int)req->place >= _SNPD_PLACE_MAX)
		return -EINVAL;
	if (req->place != SNPD_PLACE_QUEUE) {
		/* not one of the QueueSize= places: see broker.h */
		c = get_reserved(br, req, now);
		if (!c) {
			br->stats.queue_full++;
			return -EBUSY;
		}
	} else {
		if (queued_clients(br) >= br->lim.queue_size) {
			br->stats.queue_full++;
			return -EBUSY;
		}
		c = get_client(br, req->client, now);
		if (!c) {
			br->stats.queue_full++;
			return -EBUSY;
		}
		c->seen_usec = now;
		/* room for the others: no client may fill the queue */
		if (c->queued >= client_share(br)) {
			br->stats.queue_full++;
			br->stats.share_full++;
			return -EBUSY;
		}
	}
	/* snpd paces its reference reports itself: see broker.h */
	if (br->lim.rate_limit && req->place != SNPD_PLACE_REFERENCE) {
		double burst = br->lim.rate_burst ? br->lim.rate_burst : 1;

		c->tokens += (double)(now - c->refill_usec) * br->lim.rate_limit / 1e6;
		if (c->tokens > burst)
			c->tokens = burst;
		c->refill_usec = now;
		if (c->tokens < 1.0) {
			br->stats.rate_limited++;
			if (ret_retry_ms)
				*ret_retry_ms =
					(u32)((1.0 - c->tokens) * 1000.0 / br->lim.rate_limit) + 1;
			return -EAGAIN;
		}
		c->tokens -= 1.0;
	}

	req->next = NULL;
	req->submitted_usec = now;
	if (c->tail)
		c->tail->next = req;
	else
		c->head = req;
	c->tail = req;
	if (c->queued++ == 0)
		ring_add(br, c);
	br->queued++;
	br->stats.submitted++;
	br->stats.queue_depth = br->queued;
	dispatch(br);
	return 0;
}

int snpd_broker_cancel(struct snpd_broker *br, struct snpd_request *req)
{
	struct snpd_request **pp;
	struct client *c = NULL;

	if ((unsigned int)req->place >= _SNPD_PLACE_MAX)
		return -EBUSY;
	if (req->place != SNPD_PLACE_QUEUE && br->reserved[req->place].queued)
		c = &br->reserved[req->place];
	for (size_t i = 0; i < CLIENTS_MAX && !c && req->place == SNPD_PLACE_QUEUE; i++)
		if (br->clients[i].used && br->clients[i].id == req->client &&
		    br->clients[i].queued)
			c = &br->clients[i];
	if (!c)
		return -EBUSY;
	for (pp = &c->head; *pp && *pp != req; pp = &(*pp)->next)
		;
	if (!*pp)
		return -EBUSY; /* on the device, or back from it */
	*pp = req->next;
	if (c->tail == req) {
		c->tail = NULL;
		for (struct snpd_request *p = c->head; p; p = p->next)
			c->tail = p;
	}
	req->next = NULL;
	c->queued--;
	br->queued--;
	if (!c->queued)
		ring_remove(br, c);
	br->stats.queue_depth = br->queued;
	br->stats.cancelled++;
	req->result = -ECANCELED;
	req->done(req, req->userdata);
	return 0;
}

void snpd_broker_get_stats(struct snpd_broker *br, struct snpd_broker_stats *ret)
{
	*ret = br->stats;
	ret->queue_depth = br->queued;
}

bool snpd_broker_is_dead(struct snpd_broker *br)
{
	return br->stats.dead;
}
