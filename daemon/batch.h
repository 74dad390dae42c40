/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The evidence batcher (docs/evidence.md 3, 5, 6): clients' nonces wait in
 * a batch on the event loop; one device report, whose REPORT_DATA binds
 * the Merkle root of the batch and the event log head, answers them all.
 */
#ifndef SNPD_BATCH_H
#define SNPD_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "daemon/broker.h"
#include "lib/binding.h"

struct snpd;
struct snpd_batcher;
struct snpd_batch_member;
struct snpd_eventlog_text;

/*
 * What every member of one answered batch shares (docs/evidence.md 6.2):
 * refcounted, freed when the last member's answer is gone. The evidence
 * document of a member is, compact, @head, the member's own part (see
 * struct snpd_batch_answer), @log_prefix, the first @count events of
 * @text (snpd_eventlog_text_members()) and "]}}}". Event loop only.
 */
struct snpd_evidence_shared {
	unsigned int refs;
	/*
	 * The document without its closing brace: serialized by the first
	 * member's answer (http/http.c snpd_evidence_body_new()), NULL until then.
	 */
	char *head;
	size_t head_len;
	struct snpd_eventlog_text *text; /* the log's rendering; NULL: no log (no events) */
	u64 count;
	char log_prefix[160]; /* "log":{"count":N,"head":"HEX48","events":[ */
	size_t log_prefix_len;
};

struct snpd_evidence_shared *snpd_evidence_shared_ref(struct snpd_evidence_shared *s);
/* Accepts NULL, returns NULL. */
struct snpd_evidence_shared *snpd_evidence_shared_unref(struct snpd_evidence_shared *s);

/*
 * The answer of one member of a batch: its report, the parts shared with
 * the batch (borrowed: take a reference to keep them) and its own part,
 * ,"binding":{"scheme","nonce","leaf_index","tree_size","proof":[...],
 * (borrowed, @own_len bytes, no NUL), whose "log" member is in @shared.
 */
struct snpd_batch_answer {
	const struct snp_backend_report *rep;
	struct snpd_evidence_shared *shared;
	const char *own;
	size_t own_len;
};

/*
 * The answer of one member, called on the event loop exactly once unless
 * the member was cancelled. @result is 0 or a negative errno (@msg a reason
 * or NULL; -ENOKEY: the report is not of the view's platform, whose
 * collateral is being refreshed, see snpd_view_check_report()); on success
 * @a is the member's answer (borrowed).
 */
typedef void (*snpd_batch_done_t)(void *userdata, int result, const char *msg,
				  const struct snpd_batch_answer *a);

struct snpd_batch_stats {
	u64 members;   /* joined */
	u64 batches;   /* sent to the device */
	u64 answered;  /* members answered with a report */
	u64 failed;    /* members answered with an error */
	u64 refused;   /* joins refused: the batch or the client's share full */
	u64 cancelled; /* members whose client went away */
	u32 pending;   /* members waiting for the next batch */
	u32 in_flight; /* members of the batch on the device */
	u32 largest;   /* largest batch so far */
	u64 held;      /* batches held open for a returning batch's members */
	u64 gathered;  /* batches sent early: every member expected back joined */
};

int snpd_batcher_new(struct snpd *d, struct snpd_batcher **ret);
/*
 * Before the broker is freed: waiting members are answered -ESHUTDOWN and
 * nothing more is sent; the batch on the device is answered when the
 * broker's end calls back. Free the batcher after the broker.
 */
void snpd_batcher_close(struct snpd_batcher *b);
struct snpd_batcher *snpd_batcher_free(struct snpd_batcher *b);

/*
 * Join the next batch with @nonce (1..64 bytes) at @vmpl for @client.
 * -EAGAIN: the pending batch is full or @client has as many members waiting
 * as it may (QueueSize=), try again (*ret_retry_ms); -EUCLEAN: the event log
 * is unusable (the same to @done; a device's -EIO stays -EIO). The member
 * is answered through @done.
 */
int snpd_batcher_join(struct snpd_batcher *b, const u8 *nonce, size_t len, u32 vmpl, u64 client,
		      snpd_batch_done_t done, void *userdata, struct snpd_batch_member **ret,
		      u32 *ret_retry_ms);
/* The member's client went away: it is never answered. */
void snpd_batcher_cancel(struct snpd_batcher *b, struct snpd_batch_member *m);
void snpd_batcher_get_stats(const struct snpd_batcher *b, struct snpd_batch_stats *ret);

#endif
