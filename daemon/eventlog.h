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

/*
 * Whether a caller is in LogWriters= (@uid) or LogWriterGroups= (its
 * primary group @gid or one of its @ngroups supplementary @groups; NULL
 * and 0 when they are unknown, and then only the primary group counts).
 */
bool snpd_eventlog_may_write(const struct snpd_config *c, uid_t uid, gid_t gid, const gid_t *groups,
			     size_t ngroups);

/*
 * Append one record (docs/evidence.md 4.1), durably, then answer.
 * 0 and *ret_seq; else the reason in @err (always written) and -EINVAL
 * (malformed or reserved type), -ENOSPC (full), -EAGAIN (not stored,
 * and the log is as it was and usable: the head's hash, or the write or
 * sync that was then taken back, failed), -EIO (the log is broken, or
 * broke now: a failed write could not be taken back).
 */
int snpd_eventlog_append(struct snpd_eventlog *log, const u8 *record, size_t len, u64 *ret_seq,
			 char *err, size_t errlen);

/* Count and head now (what a report would be bound to). */
void snpd_eventlog_head(const struct snpd_eventlog *log, u64 *ret_count,
			u8 ret_head[SNP_HASH_SIZE]);

/*
 * The log's events rendered once and shared by both read paths
 * (/snp/log/events and GET /v1/log): every event's compact JSON followed
 * by one separator byte, in order, rendered when the log is opened. The
 * log is append-only, so the rendering only grows: it is extended by the
 * events appended since it was last asked for, and the bytes of the first events never change. A
 * reader holds a reference and reads the first count events it was given
 * (its snapshot); a rendering that must grow while readers hold it is
 * copied once into a buffer twice as large (so all renderings alive at
 * once are at most about three times the log's).
 */
struct snpd_eventlog_text;

/*
 * A new reference to the rendering of the log as it is now, and in
 * *ret_count its number of events. NULL on ENOMEM. Drop it with
 * snpd_eventlog_text_unref(), which accepts NULL and returns NULL.
 */
struct snpd_eventlog_text *snpd_eventlog_text_get(struct snpd_eventlog *log, u64 *ret_count);
struct snpd_eventlog_text *snpd_eventlog_text_unref(struct snpd_eventlog_text *t);
/* Size of the first @count events as JSON lines (one object and '\n' each). */
size_t snpd_eventlog_text_size(const struct snpd_eventlog_text *t, u64 count);
/*
 * Bytes [@off, @off + @size) of the first @count events as JSON lines into
 * @buf; returns how many were copied (0 at or past the end).
 */
size_t snpd_eventlog_text_lines(const struct snpd_eventlog_text *t, u64 count, size_t off,
				char *buf, size_t size);
/*
 * The first @count events as the members of a JSON array, separated by
 * commas, without the brackets (so "[" + them + "]" is the JSON array
 * of those events, compact and in order).
 * Borrowed: valid while the reference to @t is held. The evidence answer
 * can splice these bytes instead of dumping the events per member.
 */
const char *snpd_eventlog_text_members(const struct snpd_eventlog_text *t, u64 count,
				       size_t *ret_len);
/* For status: state, reason, path, events, max, head, counters. New reference. */
json_t *snpd_eventlog_status_json(const struct snpd_eventlog *log);

/* What the HTTP layer answers for /v1/log and /v1/log/events. */
struct snpd_eventlog_reply {
	unsigned int status;
	const char *type;  /* problem type, NULL on success */
	const char *title; /* problem title */
	char detail[320];
	json_t *body; /* POST success: new reference */
	/*
	 * GET success: the body is @prefix, the members of the first
	 * @text_count events of @text (a new reference, the caller drops
	 * it when the body is sent), then "]}".
	 */
	struct snpd_eventlog_text *text;
	u64 text_count;
	char prefix[256];
	/*
	 * GET success: an entity tag of this state of the log (count, max
	 * and head: the head commits to every event), quoted.
	 */
	char etag[160];
};

/*
 * GET /v1/log (@post false) or POST /v1/log/events with a JSON @body
 * {"alg","digest","type","description"} from a unix socket peer
 * (@over_unix, @uid, @gid, supplementary @groups as for
 * snpd_eventlog_may_write()).
 */
void snpd_eventlog_http(struct snpd_eventlog *log, const struct snpd_config *c, bool post,
			bool over_unix, uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups,
			const char *body, size_t len, struct snpd_eventlog_reply *ret);

#endif
