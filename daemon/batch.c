// SPDX-License-Identifier: Apache-2.0
/*
 * The evidence batcher: see batch.h and docs/evidence.md. It lives on the
 * event loop in front of the broker and never blocks: a batch is sent when
 * no batch of ours is on the device and its window (BatchWindowMSec=) is
 * over, or at once when it holds BatchMax= members. A batch that waited
 * while one of ours was on the device goes when that one returns, unless
 * it is held for the clients just answered; either kind goes early once
 * all of those have joined (gathering: gather_start(), gather()). At most
 * one batch is on the device and one waits per VMPL, so at most
 * 5 * BatchMax members exist.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/batch.h"
#include "daemon/client.h"
#include "daemon/eventlog.h"
#include "daemon/snpd.h"
#include "lib/log.h"
#include "lib/util.h"

#define VMPLS 4
/* the window timer fires on time (see kick()) */
#define BATCH_TIMER_ACCURACY_USEC 1

/* buckets of the clients' shares: a client is a uid or a peer */
#define SHARE_BUCKETS 256

struct client_share {
	u64 client;
	u32 members;
	struct client_share *next;
};

struct snpd_batch_member {
	u8 nonce[SNP_NONCE_MAX];
	size_t len;
	u64 client;
	snpd_batch_done_t done; /* NULL: cancelled */
	void *userdata;
	struct batch *batch;
	size_t index; /* in batch->m */
	bool counted; /* in its client's share (see client_add()) */
};

struct batch {
	u32 vmpl;
	struct snpd_batch_member **m;
	size_t n, cap;
	u64 first_usec; /* when the first member joined */
	bool answering; /* its report came back, or it failed: being answered */
	bool dropped;	/* its members left their clients' shares (no joins after) */
	/* failed to go to the device: answered from on_failed(), never from join */
	int fail_r;
	char fail_msg[256];
	struct batch *next_failed;
	/* set when sent */
	u64 count;
	u8 head[SNP_HASH_SIZE];
	u8 root[SNP_HASH_SIZE];
	/*
	 * the tree of the members' leaves (docs/evidence.md 3), m[i] is leaf
	 * i: hashed as members join, its right edge when sent
	 */
	struct snp_merkle_builder tree;
};

struct snpd_batcher {
	struct snpd *d;
	struct batch *pending[VMPLS];
	struct batch *flight;
	struct snpd_request *req;
	sd_event_source *timer;
	struct batch *failed; /* batches that could not be sent, to answer */
	sd_event_source *failed_src;
	bool closing;
	u64 not_before_usec; /* the broker's rate limit said: not before then */
	/* gathering (see gather()): our last batch came back then, for that VMPL */
	u64 back_usec;
	u32 back_vmpl;
	size_t expect;	   /* members that may join its VMPL's next batch; 0: none */
	bool hold;	   /* the batch that waited is held for them */
	size_t returned;   /* its members answered: their joins since then are timed */
	size_t came;	   /* joins of its VMPL since */
	u64 all_back_usec; /* when came reached returned; 0: not yet */
	u32 skip, backoff; /* returns that hold nothing after a hold that failed */
	struct snpd_batch_stats stats;
	/* each client's members waiting or on the device, not yet answered */
	struct client_share *shares[SHARE_BUCKETS];
};

/*
 * The clock itself, not sd_event_now(): joins and the device's answer
 * (snpd_broker_poll()) come in the middle of one long dispatch, for which
 * sd_event_now() stays at the dispatch's start; a window would then never
 * end before the dispatch does.
 */
static u64 now_usec(void)
{
	return snp_monotonic_usec();
}

static u32 batch_max(const struct snpd_batcher *b)
{
	return b->d->config.batch_max ? b->d->config.batch_max : 1;
}

static struct client_share **share_slot(struct snpd_batcher *b, u64 client)
{
	struct client_share **p =
		&b->shares[(client ^ (client >> 32)) * 0x9e3779b1u % SHARE_BUCKETS];

	while (*p && (*p)->client != client)
		p = &(*p)->next;
	return p;
}

static u32 client_members(struct snpd_batcher *b, u64 client)
{
	struct client_share *s = *share_slot(b, client);

	return s ? s->members : 0;
}

static int client_add(struct snpd_batcher *b, struct snpd_batch_member *m)
{
	struct client_share **p = share_slot(b, m->client);

	if (!*p) {
		*p = calloc(1, sizeof(**p));
		if (!*p)
			return -ENOMEM;
		(*p)->client = m->client;
	}
	(*p)->members++;
	m->counted = true;
	return 0;
}

/* @m leaves its client's share: answered, failed, cancelled or dropped. */
static void client_drop(struct snpd_batcher *b, struct snpd_batch_member *m)
{
	struct client_share **p, *s;

	if (!m->counted)
		return;
	m->counted = false;
	p = share_slot(b, m->client);
	s = *p;
	if (s && --s->members == 0) {
		*p = s->next;
		free(s);
	}
}

static void batch_drop_all(struct snpd_batcher *b, struct batch *bt)
{
	if (bt->dropped)
		return;
	bt->dropped = true;
	for (size_t i = 0; i < bt->n; i++)
		client_drop(b, bt->m[i]);
}

static struct batch *batch_free(struct snpd_batcher *b, struct batch *bt)
{
	if (!bt)
		return NULL;
	batch_drop_all(b, bt);
	for (size_t i = 0; i < bt->n; i++)
		free(bt->m[i]);
	free(bt->m);
	snp_merkle_builder_done(&bt->tree);
	free(bt);
	return NULL;
}

static void answer_all(struct snpd_batcher *b, struct batch *bt, int r, const char *msg)
{
	for (size_t i = 0; i < bt->n; i++) {
		struct snpd_batch_member *m = bt->m[i];

		if (!m->done)
			continue;
		b->stats.failed++;
		m->done(m->userdata, r, msg, NULL);
	}
}

struct snpd_evidence_shared *snpd_evidence_shared_ref(struct snpd_evidence_shared *s)
{
	s->refs++;
	return s;
}

struct snpd_evidence_shared *snpd_evidence_shared_unref(struct snpd_evidence_shared *s)
{
	if (s && --s->refs == 0) {
		snpd_eventlog_text_unref(s->text);
		free(s->head);
		free(s);
	}
	return NULL;
}

/*
 * The parts of @bt's answer common to its members: the log's shared
 * rendering (a reference, not a copy: its first bt->count events are the
 * log at the batch's head) and the "log" member's prefix. New, one reference.
 */
static struct snpd_evidence_shared *shared_new(struct snpd_batcher *b, const struct batch *bt)
{
	struct snpd_evidence_shared *s = calloc(1, sizeof(*s));
	char head[2 * SNP_HASH_SIZE + 1];
	u64 n = 0;
	int k;

	if (!s)
		return NULL;
	s->refs = 1;
	s->count = bt->count;
	if (b->d->eventlog) {
		s->text = snpd_eventlog_text_get(b->d->eventlog, &n);
		/* the log only grows: the rendering holds the batch's events */
		if (!s->text || n < bt->count)
			return snpd_evidence_shared_unref(s);
	} else if (bt->count) {
		return snpd_evidence_shared_unref(s);
	}
	snp_hex_encode(bt->head, SNP_HASH_SIZE, head);
	k = snprintf(s->log_prefix, sizeof(s->log_prefix),
		     "\"log\":{\"count\":%llu,\"head\":\"%s\",\"events\":[",
		     (unsigned long long)bt->count, head);
	if (k < 0 || (size_t)k >= sizeof(s->log_prefix))
		return snpd_evidence_shared_unref(s);
	s->log_prefix_len = (size_t)k;
	return s;
}

/*
 * A member's own part of its binding, compact and in the documented
 * order: ,"binding":{"scheme","nonce","leaf_index","tree_size","proof":[...],
 * Hex and numbers need no JSON escaping. Returns its length, 0 if @size
 * is too small (never with OWN_MAX: the fixed text is 71 bytes, the
 * numbers at most 20 digits each, and "],").
 */
#define OWN_MAX                                                                                    \
	(128 + sizeof(SNP_BINDING_SCHEME) + 2 * SNP_NONCE_MAX + 2 * 24 +                           \
	 SNP_MERKLE_PATH_MAX * (2 * SNP_HASH_SIZE + 3))

static size_t own_part(const struct batch *bt, size_t index, char *buf, size_t size)
{
	char hex[2 * SNP_NONCE_MAX + 1];
	const struct snpd_batch_member *m = bt->m[index];
	u8 path[SNP_MERKLE_PATH_MAX][SNP_HASH_SIZE];
	size_t len, path_len;
	int k;

	snp_hex_encode(m->nonce, m->len, hex);
	k = snprintf(buf, size,
		     ",\"binding\":{\"scheme\":\"%s\",\"nonce\":\"%s\",\"leaf_index\":%zu,"
		     "\"tree_size\":%zu,\"proof\":[",
		     SNP_BINDING_SCHEME, hex, index, bt->n);
	if (k < 0 || (size_t)k >= size)
		return 0;
	len = (size_t)k;
	if (snp_merkle_builder_proof(&bt->tree, index, path, &path_len) < 0)
		return 0;
	for (size_t i = 0; i < path_len; i++) {
		if (len + 2 * SNP_HASH_SIZE + 3 >= size)
			return 0;
		if (i)
			buf[len++] = ',';
		buf[len++] = '"';
		snp_hex_encode(path[i], SNP_HASH_SIZE, buf + len);
		len += 2 * SNP_HASH_SIZE;
		buf[len++] = '"';
	}
	if (len + 3 >= size)
		return 0;
	buf[len++] = ']';
	buf[len++] = ',';
	buf[len] = '\0';
	return len;
}

static void kick(struct snpd_batcher *b);

/*
 * @bt came back (@ok: with a report): who may ask again at once are its
 * members, answered now, and those of the next batch of its VMPL, already
 * waiting. That batch is held for them if, when the batch before (of the
 * same VMPL) came back, at least as many members as are returning now all
 * joined again within the window. When answering them takes longer (many
 * clients, slow ones), holding would only add the window to every device
 * request; and how fast a few came back says little of how fast many
 * will. With nothing known (the first return, or one of another VMPL
 * before), it is tried. Nothing is held while another VMPL's batch
 * waits, which would go first and make the hold a device request long;
 * nor for 1, 2, 4 ... 64 returns after a hold that ended without all of
 * them. See gather().
 */
static void gather_start(struct snpd_batcher *b, const struct batch *bt, bool ok)
{
	u64 window = (u64)b->d->config.batch_window_msec * 1000;
	size_t answered = 0;
	bool others = false;

	for (size_t i = 0; ok && i < bt->n; i++)
		if (bt->m[i]->done)
			answered++;
	for (int v = 0; v < VMPLS; v++)
		if ((u32)v != bt->vmpl && b->pending[v])
			others = true;
	b->hold = false;
	if (window && answered && !others && !b->skip) {
		if (b->returned && b->back_vmpl == bt->vmpl)
			b->hold = b->all_back_usec && b->returned >= answered &&
				  b->all_back_usec - b->back_usec <= window;
		else
			b->hold = true;
	}
	if (b->skip)
		b->skip--;
	b->back_usec = now_usec();
	b->back_vmpl = bt->vmpl;
	/* nobody to gather: no early end either */
	b->expect = answered ? answered + (b->pending[bt->vmpl] ? b->pending[bt->vmpl]->n : 0) : 0;
	b->returned = answered;
	b->came = 0;
	b->all_back_usec = 0;
}

/*
 * The batch's report is back: the shared parts are made once, each member
 * gets them by reference plus its own proof (O(proof), not O(events)).
 */
static void on_batch_done(struct snpd_request *req, void *userdata)
{
	struct snpd_batcher *b = userdata;
	struct batch *bt = b->flight;
	char why[256] = "";
	int r = req->result;

	b->flight = NULL;
	b->req = NULL;
	b->stats.in_flight = 0;
	/*
	 * The members' documents carry the view's collateral, which is only
	 * that of a report of the view's TCB, chip and signing key: one the
	 * host changed meanwhile gets a retryable error instead, and the
	 * view is refreshed (docs/evidence.md 6.1). Checked before the next
	 * batch is sent, so that the refresh reaches the device first. The
	 * view cannot change between this check and the answers below: they
	 * are made in this call, and no other completion runs inside it
	 * (snpd_broker_poll()).
	 */
	if (r >= 0)
		r = snpd_view_check_report(b->d, req->report.report, why, sizeof(why));
	/* its members are answered now: their share is free for their next */
	batch_drop_all(b, bt);
	gather_start(b, bt, r >= 0);
	/*
	 * A batch that is due goes to the device before this one is
	 * answered: answering a large batch takes the loop milliseconds,
	 * which the device would otherwise sit idle.
	 */
	kick(b);
	bt->answering = true;
	if (req->result < 0) {
		answer_all(b, bt, req->result, req->error.message[0] ? req->error.message : NULL);
	} else if (r < 0) {
		answer_all(b, bt, r, why);
	} else {
		struct timespec t0, t1;
		struct snpd_evidence_shared *sh;
		char own[OWN_MAX];

		clock_gettime(CLOCK_MONOTONIC, &t0);
		sh = shared_new(b, bt);

		for (size_t i = 0; i < bt->n; i++) {
			struct snpd_batch_member *m = bt->m[i];
			struct snpd_batch_answer a = {
				.rep = &req->report,
				.shared = sh,
				.own = own,
			};

			if (!m->done)
				continue;
			a.own_len = sh ? own_part(bt, i, own, sizeof(own)) : 0;
			if (a.own_len) {
				b->stats.answered++;
				m->done(m->userdata, 0, NULL, &a);
			} else {
				b->stats.failed++;
				m->done(m->userdata, -ENOMEM, "out of memory", NULL);
			}
		}
		snpd_evidence_shared_unref(sh);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		log_debug("Evidence batch of %zu answered in %lld us (log: %llu events)", bt->n,
			  (long long)(t1.tv_sec - t0.tv_sec) * 1000000 +
				  (t1.tv_nsec - t0.tv_nsec) / 1000,
			  (unsigned long long)bt->count);
	}
	snpd_request_free(req);
	batch_free(b, bt);
}

/* Answer the batches that could not be sent, their members with their error. */
static void answer_failed(struct snpd_batcher *b)
{
	struct batch *bt;

	while ((bt = b->failed)) {
		b->failed = bt->next_failed;
		answer_all(b, bt, bt->fail_r, bt->fail_msg[0] ? bt->fail_msg : NULL);
		batch_free(b, bt);
	}
}

static int on_failed(sd_event_source *s, void *userdata)
{
	answer_failed(userdata);
	return 0;
}

/*
 * @bt could not go to the device: its members get @r, but from a later
 * dispatch. The batch may be sent from snpd_batcher_join(), and answering
 * the member that is joining there, before its caller has parked it
 * (suspended its HTTP connection, queued its FUSE read), would lose the
 * answer and leave that client waiting for ever.
 */
static void fail_later(struct snpd_batcher *b, struct batch *bt, int r, const char *msg)
{
	bt->answering = true; /* a cancel only forgets the member from now on */
	batch_drop_all(b, bt);
	bt->fail_r = r;
	snprintf(bt->fail_msg, sizeof(bt->fail_msg), "%s", msg ? msg : "");
	bt->next_failed = b->failed;
	b->failed = bt;
	if (!b->failed_src && sd_event_add_defer(b->d->event, &b->failed_src, on_failed, b) < 0) {
		b->failed_src = NULL;
		log_warning("Cannot defer the answer of a failed evidence batch");
		return; /* the next failure, close or free answers it */
	}
	sd_event_source_set_enabled(b->failed_src, SD_EVENT_ONESHOT);
}

static void send_batch(struct snpd_batcher *b, struct batch *bt)
{
	struct snpd_request *req = NULL;
	char why[256] = "";
	u32 retry_ms = 0;
	int r;

	b->stats.pending -= (u32)bt->n;
	if (b->d->eventlog && !snpd_eventlog_usable(b->d->eventlog, why, sizeof(why))) {
		r = -EUCLEAN;
		goto fail;
	}
	if (b->d->eventlog) {
		snpd_eventlog_head(b->d->eventlog, &bt->count, bt->head);
	} else {
		bt->count = 0;
		snp_evlog_head_init(bt->head);
	}
	/* the leaves and full subtrees are hashed already: the right edge only */
	r = snp_merkle_builder_finish(&bt->tree, bt->root);
	if (r < 0)
		goto fail;
	req = snpd_request_new(SNPD_REQ_REPORT, SNPD_CLIENT_BATCHER);
	if (!req) {
		r = -ENOMEM;
		goto fail;
	}
	r = snp_binding_report_data(bt->root, bt->n, bt->head, bt->count,
				    req->report_req.report_data);
	if (r < 0)
		goto fail;
	req->report_req.vmpl = bt->vmpl;
	req->report_req.want_certs = false;
	/*
	 * The batcher's reserved place: raw requests that fill QueueSize=
	 * must not fail a batch of up to BatchMax= clients (broker.h).
	 */
	req->place = SNPD_PLACE_BATCH;
	req->done = on_batch_done;
	req->userdata = b;
	r = snpd_broker_submit(b->d->broker, req, &retry_ms);
	if (r == -EBUSY)
		/*
		 * Not while one batch at a time takes the reserved place; were
		 * it taken, the batch would wait for it as for the rate limit.
		 */
		log_debug("Evidence batch: the broker's reserved place is taken; waiting");
	if (r == -EAGAIN || r == -EBUSY) {
		/*
		 * over RateLimit=: the batch waits (and grows) until the broker
		 * takes it; its members are answered if snpd stops meanwhile
		 * (snpd_batcher_close()) or the device dies (the next try)
		 */
		snpd_request_free(req);
		b->stats.pending += (u32)bt->n;
		b->pending[bt->vmpl] = bt;
		b->not_before_usec = now_usec() + (u64)(retry_ms ? retry_ms : 10) * 1000;
		return;
	}
	if (r < 0)
		goto fail;
	b->flight = bt;
	b->req = req;
	b->stats.batches++;
	b->stats.in_flight = (u32)bt->n;
	if (bt->n > b->stats.largest)
		b->stats.largest = (u32)bt->n;
	log_debug("Evidence batch of %zu sent to the device (log: %llu events)", bt->n,
		  (unsigned long long)bt->count);
	return;
fail:
	snpd_request_free(req);
	fail_later(b, bt, r, why[0] ? why : NULL);
}

static int on_timer(sd_event_source *s, u64 usec, void *userdata)
{
	kick(userdata);
	return 0;
}

/*
 * When the pending batch @bt of VMPL @v is due, if gathering makes it
 * other than its first member's time plus the window: 0 for at once.
 *
 * Clients that ask again as soon as they are answered come back together
 * right after their batch returns, spread over the time answering them
 * takes. Were the batch that waited meanwhile sent at once, the device's
 * free moment would split them: the first to come back would follow it
 * in the batch after, the rest wait for that one too, and from then on
 * two batches alternate and every client waits two device requests. So
 * the batch that waited stays open for the window from the return (if
 * gather_start() holds it), one begun within the window after the return
 * for its window, and either goes as soon as it holds as many members as
 * there were in it and in the batch that came back. Worst case a member
 * waits for the batch on the device, the window, and its own: as before.
 * A client that never comes back costs the batch the window, once.
 */
static u64 gather(const struct snpd_batcher *b, const struct batch *bt, int v, u64 window)
{
	bool gathering = b->expect && (u32)v == b->back_vmpl;

	if (bt->first_usec < b->back_usec) {
		/* it waited while ours was on the device: due, unless held */
		if (!gathering || !b->hold || bt->n >= b->expect)
			return 0;
		return b->back_usec + window;
	}
	if (gathering && bt->first_usec < b->back_usec + window && bt->n >= b->expect)
		return 0;
	return bt->first_usec + window;
}

/*
 * @bt, of the VMPL whose batch came back, went to the device: gathering
 * ends. Counted when it went before its window (or hold) was over; a hold
 * that did not gather them all backs off (gather_start()). A full batch
 * went for being full, not for the hold.
 */
static void gather_end(struct snpd_batcher *b, const struct batch *bt, u64 now, u64 window)
{
	bool waited = bt->first_usec < b->back_usec;
	u64 end = !waited ? bt->first_usec + window : b->hold ? b->back_usec + window : 0;

	if (bt->n >= b->expect && now < end)
		b->stats.gathered++;
	if (waited && b->hold && bt->n < batch_max(b)) {
		b->stats.held++;
		if (bt->n >= b->expect) {
			b->backoff = 0;
		} else {
			b->backoff = b->backoff ? 2 * b->backoff : 1;
			if (b->backoff > 64)
				b->backoff = 64;
			b->skip = b->backoff;
		}
	}
	b->expect = 0;
}

/* Send the oldest batch that is due when the device is ours, else wait. */
static void kick(struct snpd_batcher *b)
{
	u64 window = (u64)b->d->config.batch_window_msec * 1000, now = now_usec(), wake = 0;
	int best = -1;

	if (b->flight || b->closing)
		return; /* on_batch_done() comes back here */
	if (now < b->not_before_usec)
		wake = b->not_before_usec;
	for (int v = 0; v < VMPLS; v++) {
		struct batch *bt = b->pending[v];
		u64 due;

		if (!bt)
			continue;
		if (now < b->not_before_usec)
			break;
		due = gather(b, bt, v, window);
		if (bt->n >= batch_max(b) || now >= due) {
			if (best < 0 || bt->first_usec < b->pending[best]->first_usec)
				best = v;
		} else if (!wake || due < wake) {
			wake = due;
		}
	}
	if (best >= 0) {
		struct batch *bt = b->pending[best];
		bool gathering = (u32)best == b->back_vmpl && b->expect;

		b->pending[best] = NULL;
		send_batch(b, bt);
		/* went, or failed; over RateLimit= it waits again, still gathering */
		if (gathering && b->flight == bt)
			gather_end(b, bt, now, window);
		else if (gathering && b->pending[best] != bt)
			b->expect = 0;
		if (!b->flight)
			kick(b); /* it failed at once, or waits: the others may go */
		return;
	}
	if (wake) {
		if (!b->timer) {
			/*
			 * accuracy 1 us: 0 would be sd-event's default of
			 * 250 ms, which it uses to coalesce wake-ups; a batch
			 * (and every client in it) would then wait up to
			 * 250 ms past its window
			 */
			if (sd_event_add_time(b->d->event, &b->timer, CLOCK_MONOTONIC, wake,
					      BATCH_TIMER_ACCURACY_USEC, on_timer, b) < 0) {
				/* the next join or answer kicks again */
				log_warning("Cannot arm the evidence batch timer");
				b->timer = NULL;
			}
			return;
		}
		sd_event_source_set_time(b->timer, wake);
		sd_event_source_set_enabled(b->timer, SD_EVENT_ONESHOT);
	}
}

int snpd_batcher_new(struct snpd *d, struct snpd_batcher **ret)
{
	struct snpd_batcher *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->d = d;
	*ret = b;
	return 0;
}

struct snpd_batcher *snpd_batcher_free(struct snpd_batcher *b)
{
	if (!b)
		return NULL;
	for (int v = 0; v < VMPLS; v++)
		batch_free(b, b->pending[v]);
	batch_free(b, b->flight);
	while (b->failed) {
		struct batch *bt = b->failed;

		b->failed = bt->next_failed;
		batch_free(b, bt);
	}
	sd_event_source_disable_unref(b->timer);
	sd_event_source_disable_unref(b->failed_src);
	/* every member dropped its share with its batch: nothing is left */
	for (size_t i = 0; i < SHARE_BUCKETS; i++)
		while (b->shares[i]) {
			struct client_share *sh = b->shares[i];

			b->shares[i] = sh->next;
			free(sh);
		}
	free(b);
	return NULL;
}

void snpd_batcher_close(struct snpd_batcher *b)
{
	if (!b)
		return;
	b->closing = true;
	answer_failed(b);
	for (int v = 0; v < VMPLS; v++)
		if (b->pending[v]) {
			answer_all(b, b->pending[v], -ESHUTDOWN, "snpd is stopping");
			b->pending[v] = batch_free(b, b->pending[v]);
		}
	b->stats.pending = 0;
}

int snpd_batcher_join(struct snpd_batcher *b, const u8 *nonce, size_t len, u32 vmpl, u64 client,
		      snpd_batch_done_t done, void *userdata, struct snpd_batch_member **ret,
		      u32 *ret_retry_ms)
{
	struct snpd_batch_member *m;
	struct batch *bt;
	u8 leaf[SNP_HASH_SIZE];
	char why[256];
	int r;

	if (len < SNP_NONCE_MIN || len > SNP_NONCE_MAX || vmpl >= VMPLS)
		return -EINVAL;
	if (b->closing)
		return -ESHUTDOWN;
	if (b->d->eventlog && !snpd_eventlog_usable(b->d->eventlog, why, sizeof(why)))
		return -EUCLEAN;
	if (snpd_broker_is_dead(b->d->broker))
		return -ENODEV;
	bt = b->pending[vmpl];
	if ((bt && (bt->n >= bt->cap || bt->n >= batch_max(b))) ||
	    client_members(b, client) >= b->d->config.queue_size) {
		b->stats.refused++;
		if (ret_retry_ms)
			*ret_retry_ms = 1000;
		return -EAGAIN;
	}
	if (!bt) {
		bt = calloc(1, sizeof(*bt));
		if (!bt)
			return -ENOMEM;
		bt->cap = batch_max(b);
		bt->m = calloc(bt->cap, sizeof(*bt->m));
		if (!bt->m || snp_merkle_builder_init(&bt->tree, bt->cap) < 0) {
			free(bt->m);
			free(bt);
			return -ENOMEM;
		}
		bt->vmpl = vmpl;
		bt->first_usec = now_usec();
		b->pending[vmpl] = bt;
	}
	/* its leaf, and the pairs it completes, now rather than when the batch goes */
	r = snp_merkle_leaf_hash(nonce, len, leaf);
	m = r < 0 ? NULL : calloc(1, sizeof(*m));
	if (m) {
		m->client = client;
		r = client_add(b, m);
		if (r >= 0)
			r = snp_merkle_builder_append(&bt->tree, leaf);
		if (r < 0)
			client_drop(b, m);
	}
	if (!m || r < 0) {
		free(m);
		if (!bt->n)
			b->pending[vmpl] = batch_free(b, bt);
		return r < 0 ? r : -ENOMEM;
	}
	memcpy(m->nonce, nonce, len);
	m->len = len;
	m->done = done;
	m->userdata = userdata;
	m->batch = bt;
	m->index = bt->n;
	bt->m[bt->n++] = m;
	b->stats.members++;
	b->stats.pending++;
	if (vmpl == b->back_vmpl && b->came < b->returned && ++b->came == b->returned)
		b->all_back_usec = now_usec();
	*ret = m;
	kick(b);
	return 0;
}

void snpd_batcher_cancel(struct snpd_batcher *b, struct snpd_batch_member *m)
{
	struct batch *bt = m->batch;

	b->stats.cancelled++;
	client_drop(b, m);
	if (bt == b->flight || bt->answering) {
		m->done = NULL; /* it stays a leaf: the tree is signed already */
		return;
	}
	/*
	 * still waiting: it leaves the batch, the last member (and leaf)
	 * takes its place. Should rehashing fail, finish() rebuilds the tree.
	 */
	(void)snp_merkle_builder_swap_remove(&bt->tree, m->index);
	bt->m[m->index] = bt->m[--bt->n];
	bt->m[m->index]->index = m->index;
	b->stats.pending--;
	free(m);
	if (!bt->n)
		for (int v = 0; v < VMPLS; v++)
			if (b->pending[v] == bt)
				b->pending[v] = batch_free(b, bt);
}

void snpd_batcher_get_stats(const struct snpd_batcher *b, struct snpd_batch_stats *ret)
{
	*ret = b->stats;
}
