// SPDX-License-Identifier: Apache-2.0
/*
 * daemon/broker.c, snpd_broker_poll(): inside one long dispatch (one
 * MHD_run() over many connections, a run of FUSE requests) the event loop
 * does not come back to the broker's eventfd, and the device would sit
 * idle until it did. The poll takes the worker's answer there: done()
 * runs once, the next queued request goes to the device at once, and the
 * eventfd, seen later, completes nothing twice. And the queue's reserved
 * places (the evidence batcher's, the reference report's), which a full
 * queue does not refuse, served round-robin with the others. The device is
 * a simulated one (a platform in a temporary directory). Plain C: no
 * cmocka needed.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "daemon/broker.h"
#include "kernel/snp-report.h"
#include "sim/sim.h"
#include "tests/unit/check.h"

struct outcome {
	int calls;
	int result;
	int seq; /* order of the answers */
	u8 report_data[SNP_REPORT_DATA_SIZE];
	bool data_ok;
};

static int answers;

static void on_done(struct snpd_request *req, void *userdata)
{
	struct outcome *o = userdata;

	o->calls++;
	o->seq = ++answers;
	o->result = req->result;
	/* the report is the one asked for: its REPORT_DATA is ours */
	o->data_ok = req->result == 0 &&
		     memcmp(req->report.report + offsetof(struct snp_report, report_data),
			    o->report_data, SNP_REPORT_DATA_SIZE) == 0;
	snpd_request_free(req);
}

static struct snpd_request *request_in(enum snpd_req_place place, u64 client, struct outcome *o,
				       u8 fill)
{
	struct snpd_request *req = snpd_request_new(SNPD_REQ_REPORT, client);

	if (!req) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	memset(o->report_data, fill, sizeof(o->report_data));
	memcpy(req->report_req.report_data, o->report_data, sizeof(o->report_data));
	req->place = place;
	req->done = on_done;
	req->userdata = o;
	return req;
}

static struct snpd_request *request(u64 client, struct outcome *o, u8 fill)
{
	return request_in(SNPD_PLACE_QUEUE, client, o, fill);
}

static void run_until(sd_event *e, const struct outcome *const *os, size_t n)
{
	for (int tries = 0; tries < 600; tries++) {
		size_t i = 0;

		while (i < n && os[i]->calls)
			i++;
		if (i == n || sd_event_run(e, 50 * 1000) < 0)
			return;
	}
}

int main(void)
{
	struct snpd_broker_limits lim = { .queue_size = 8 };
	struct outcome a = { 0 }, b = { 0 }, c = { 0 }, dd = { 0 }, x = { 0 }, r1 = { 0 },
		       r2 = { 0 }, f = { 0 }, g = { 0 }, b1 = { 0 }, ref1 = { 0 }, ref2 = { 0 },
		       b2 = { 0 };
	struct snpd_request *req;
	struct snpd_broker_stats st;
	struct snp_backend *backend = NULL;
	struct snpd_broker *br = NULL;
	struct sim_state *sim = NULL;
	struct sim_params p;
	sd_event *e = NULL;
	char dir[PATH_MAX], simdir[PATH_MAX + 8], spec[PATH_MAX + 16], err[256] = "";
	int tries, r;

	if (!check_mkdtemp(dir, sizeof(dir), "test-broker"))
		return 1;
	snprintf(simdir, sizeof(simdir), "%s/sim", dir);
	snprintf(spec, sizeof(spec), "sim:%s", simdir);
	sim_params_default(&p, SNP_PRODUCT_MILAN);
	if (sim_state_create(simdir, &p, false, &sim, err, sizeof(err)) < 0 ||
	    snp_backend_open(spec, &backend, err, sizeof(err)) < 0 || sd_event_new(&e) < 0 ||
	    snpd_broker_new(e, backend, &lim, &br) < 0) {
		fprintf(stderr, "setup failed: %s\n", err);
		return 1;
	}

	/* A goes to the device at once, B waits in the queue */
	CHECK(snpd_broker_submit(br, request(1, &a, 0xa1), NULL) == 0, "A submitted");
	CHECK(snpd_broker_submit(br, request(2, &b, 0xb2), NULL) == 0, "B submitted");
	snpd_broker_poll(br); /* nothing back yet, or A: both are fine */

	/* the event loop never runs here: only the poll can complete A */
	for (tries = 0; tries < 600 && !a.calls; tries++) {
		snpd_broker_poll(br);
		if (!a.calls)
			usleep(50 * 1000);
	}
	snpd_broker_get_stats(br, &st);
	CHECK(a.calls == 1 && a.result == 0,
	      "the poll completed A without the event loop "
	      "(done() called %d times, result %d)",
	      a.calls, a.result);
	CHECK(a.data_ok, "A's report carries A's REPORT_DATA");
	CHECK(st.polled == 1 && st.completed == 1, "counted as polled (%llu) and completed (%llu)",
	      (unsigned long long)st.polled, (unsigned long long)st.completed);
	CHECK(st.busy && st.queue_depth == 0 && b.calls == 0,
	      "B went to the device in the same poll (busy %d, queued %u)", st.busy,
	      st.queue_depth);

	/* B through the loop's eventfd; A's wake-up finds nothing to redo */
	for (tries = 0; tries < 600 && !b.calls; tries++)
		if (sd_event_run(e, 50 * 1000) < 0)
			break;
	snpd_broker_get_stats(br, &st);
	CHECK(b.calls == 1 && b.result == 0 && b.data_ok,
	      "the event loop completed B (done() called %d times, result %d)", b.calls, b.result);
	CHECK(a.calls == 1, "A was not completed twice (%d)", a.calls);
	CHECK(st.completed == 2 && st.polled == 1 && !st.busy,
	      "2 completed, 1 of them polled, the device idle (%llu, %llu, busy %d)",
	      (unsigned long long)st.completed, (unsigned long long)st.polled, st.busy);

	/* nothing back: the poll does nothing */
	snpd_broker_poll(br);
	snpd_broker_get_stats(br, &st);
	CHECK(st.completed == 2 && st.polled == 1, "a poll with nothing back is a no-op");
	CHECK(st.pickup_max_usec >= st.pickup_sum_usec / 2,
	      "pickup figures are kept (sum %llu us, max %llu us)",
	      (unsigned long long)st.pickup_sum_usec, (unsigned long long)st.pickup_max_usec);

	/*
	 * The reserved place (the evidence batcher's): outside QueueSize=,
	 * so a full queue never refuses it, and only one request takes it.
	 */
	lim.queue_size = 1;
	snpd_broker_set_limits(br, &lim);
	CHECK(snpd_broker_submit(br, request(1, &c, 0xc3), NULL) == 0, "C to the device");
	CHECK(snpd_broker_submit(br, request(2, &dd, 0xd4), NULL) == 0,
	      "D waits: the queue (QueueSize=1) is full");
	req = request(3, &x, 0xee);
	CHECK(snpd_broker_submit(br, req, NULL) == -EBUSY, "E is refused: the queue is full");
	snpd_request_free(req);
	req = request_in(SNPD_PLACE_BATCH, 4, &r1, 0x11);
	CHECK(snpd_broker_submit(br, req, NULL) == 0, "a reserved request finds its place");
	CHECK(snpd_broker_cancel(br, req) == 0 && r1.calls == 1 && r1.result == -ECANCELED,
	      "and leaves it when cancelled (%d, %d)", r1.calls, r1.result);
	req = request_in(SNPD_PLACE_BATCH, 4, &r2, 0x22);
	CHECK(snpd_broker_submit(br, req, NULL) == 0, "the place is free again");
	req = request_in(SNPD_PLACE_BATCH, 4, &x, 0xee);
	CHECK(snpd_broker_submit(br, req, NULL) == -EBUSY, "a second reserved request is refused");
	snpd_request_free(req);
	snpd_broker_get_stats(br, &st);
	CHECK(st.queue_depth == 2, "D and the reserved request wait (%u)", st.queue_depth);
	for (tries = 0; tries < 600 && !(c.calls && dd.calls && r2.calls); tries++)
		if (sd_event_run(e, 50 * 1000) < 0)
			break;
	CHECK(c.calls == 1 && c.data_ok && dd.calls == 1 && dd.data_ok && r2.calls == 1 &&
		      r2.data_ok,
	      "C, D and the reserved request are answered with their reports (%d %d %d)", c.result,
	      dd.result, r2.result);

	/*
	 * The reference report's place, besides the batcher's: with the
	 * queue full and a batch waiting, a reference report still finds
	 * its place and waits its turn (round-robin, behind those who came
	 * before); one at a time; and it is not rate limited, as snpd paces
	 * it, while the batcher's place is.
	 */
	lim.rate_limit = 1;
	lim.rate_burst = 1;
	snpd_broker_set_limits(br, &lim);
	CHECK(snpd_broker_submit(br, request(5, &f, 0xf5), NULL) == 0, "F to the device");
	CHECK(snpd_broker_submit(br, request(6, &g, 0x96), NULL) == 0,
	      "G waits: the queue (QueueSize=1) is full");
	CHECK(snpd_broker_submit(br, request_in(SNPD_PLACE_BATCH, 4, &b1, 0xb1), NULL) == 0,
	      "a batch finds its place");
	CHECK(snpd_broker_submit(br, request_in(SNPD_PLACE_REFERENCE, 7, &ref1, 0x71), NULL) == 0,
	      "a reference report finds its place too: the queue full, the batch's taken");
	/* a refused request stays the caller's; one taken is the broker's */
	req = request_in(SNPD_PLACE_REFERENCE, 7, &x, 0xee);
	r = snpd_broker_submit(br, req, NULL);
	CHECK(r == -EBUSY, "a second reference report is refused: its place is taken (%d)", r);
	if (r < 0)
		snpd_request_free(req);
	req = request(8, &x, 0xee);
	r = snpd_broker_submit(br, req, NULL);
	CHECK(r == -EBUSY, "a client is refused: the reserved places are none of the queue's (%d)",
	      r);
	if (r < 0)
		snpd_request_free(req);
	snpd_broker_get_stats(br, &st);
	CHECK(st.queue_depth == 3, "G, the batch and the reference report wait (%u)",
	      st.queue_depth);
	run_until(e, (const struct outcome *const[]){ &f, &g, &b1, &ref1 }, 4);
	CHECK(f.calls == 1 && f.data_ok && g.calls == 1 && g.data_ok && b1.calls == 1 &&
		      b1.data_ok && ref1.calls == 1 && ref1.data_ok,
	      "F, G, the batch and the reference report are answered with their reports "
	      "(%d %d %d %d)",
	      f.result, g.result, b1.result, ref1.result);
	CHECK(f.seq < g.seq && g.seq < b1.seq && b1.seq < ref1.seq,
	      "in turn: F, G, the batch, the reference report (%d %d %d %d)", f.seq, g.seq, b1.seq,
	      ref1.seq);
	CHECK(snpd_broker_submit(br, request_in(SNPD_PLACE_REFERENCE, 7, &ref2, 0x72), NULL) == 0,
	      "the next reference report is taken at once: RateLimit=1 does not hold it");
	req = request_in(SNPD_PLACE_BATCH, 4, &b2, 0xb2);
	r = snpd_broker_submit(br, req, NULL);
	CHECK(r == -EAGAIN, "the next batch waits for RateLimit=1, as the batcher does (%d)", r);
	if (r < 0)
		snpd_request_free(req);
	run_until(e, (const struct outcome *const[]){ &ref2, r < 0 ? &ref2 : &b2 }, 2);
	CHECK(ref2.calls == 1 && ref2.data_ok, "the reference report is answered (%d)",
	      ref2.result);

	snpd_broker_free(br);
	snpd_broker_poll(NULL); /* the HTTP listeners' last runs come after the broker's end */
	CHECK(true, "a poll after the broker is gone does nothing");
	snp_backend_free(backend);
	sd_event_unref(e);
	sim_state_free(sim);
	check_rmtree(dir);
	printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}
