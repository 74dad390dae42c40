/* SPDX-License-Identifier: Apache-2.0 */
/*
 * snpd's runtime event log (docs/evidence.md section 4): append-only,
 * hash-chained, persisted under the runtime directory (one fdatasync per
 * acknowledged event), reset only when the guest reboots. A stored log
 * that is inconsistent leaves the log "broken": appends and evidence are
 * refused with the reason, which status shows.
 */
#ifndef SNPD_EVENTLOG_H
#define SNPD_EVENTLOG_H

#include <stdbool.h>
#include <sys/types.h>

#include <jansson.h>

#include "daemon/config.h"
#include "lib/evlog.h"

#define SNPD_EVENTLOG_MAGIC "SNPDEVL1"
#define SNPD_BOOT_ID_LEN    16

struct snpd_eventlog;

/*
 * Open (or create, or reset after a reboot) the log at @c->event_log.
 * Returns 0 and a new log, which may be broken (then it says why), or
 * -ENOMEM. An empty EventLog= gives *ret = NULL (no log).
 */
int snpd_eventlog_open(const struct snpd_config *c, struct snpd_eventlog **ret);
struct snpd_eventlog *snpd_eventlog_free(struct snpd_eventlog *log);

/* New limits and writers after a reload; EventLog= itself needs a restart. */
void snpd_eventlog_reload(struct snpd_eventlog *log, const struct snpd_config *c);

/*
 * Whether evidence may be served with this log: false, with the reason in
 * @reason, when the log is broken. A missing log (NULL) is usable.
 */
bool snpd_eventlog_usable(const struct snpd_eventlog *log, char *reason, size_t len);

/* Whether @uid (or primary group @gid) is in LogWriters=/LogWriterGroups=. */
bool snpd_eventlog_may_write(const struct snpd_config *c, uid_t uid, gid_t gid);

/*
 * Append one record (docs/evidence.md 4.1), durably, then answer.
 * 0 and *ret_seq; -EINVAL (malformed or reserved type), -ENOSPC (full),
 * -EIO (broken, or the write failed), with the reason in @err.
 */
int snpd_eventlog_append(struct snpd_eventlog *log, const u8 *record, size_t len, u64 *ret_seq,
			 char *err, size_t errlen);

/* Count and head now (what a report would be bound to). */
void snpd_eventlog_head(const struct snpd_eventlog *log, u64 *ret_count,
			u8 ret_head[SNP_HASH_SIZE]);

/* {"scheme","count","head","max","events":[...]}: new reference, NULL on ENOMEM. */
json_t *snpd_eventlog_json(const struct snpd_eventlog *log);
/* The first @count events (the log at an earlier head) as a JSON array. */
json_t *snpd_eventlog_events_json(const struct snpd_eventlog *log, u64 count);
/*
 * The log as JSON lines, shared: every reader of the same log state holds
 * a reference to one rendering (so open files cost no copy each), built
 * when first asked for after a change. New reference, NULL on ENOMEM;
 * drop it with snpd_eventlog_text_unref(), which accepts NULL.
 */
struct snpd_eventlog_text {
	unsigned int refs;
	size_t len;
	char *data;
};
struct snpd_eventlog_text *snpd_eventlog_text_get(struct snpd_eventlog *log);
struct snpd_eventlog_text *snpd_eventlog_text_unref(struct snpd_eventlog_text *t);
/* For status: state, reason, path, events, max, head, counters. New reference. */
json_t *snpd_eventlog_status_json(const struct snpd_eventlog *log);

/* What the HTTP layer answers for /v1/log and /v1/log/events. */
struct snpd_eventlog_reply {
	unsigned int status;
	const char *type;  /* problem type, NULL on success */
	const char *title; /* problem title */
	char detail[320];
	json_t *body; /* success: new reference */
};

/*
 * GET /v1/log (@post false) or POST /v1/log/events with a JSON @body
 * {"alg","digest","type","description"} from a unix socket peer
 * (@over_unix, @uid, @gid).
 */
void snpd_eventlog_http(struct snpd_eventlog *log, const struct snpd_config *c, bool post,
			bool over_unix, uid_t uid, gid_t gid, const char *body, size_t len,
			struct snpd_eventlog_reply *ret);

#endif
