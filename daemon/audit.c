// SPDX-License-Identifier: Apache-2.0
/* The audit trail of derived keys (see audit.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "daemon/audit.h"
#include "lib/log.h"
#include "lib/util.h"

/* peers tracked at once: fixed, so that no client makes this allocate */
#define AUDIT_PEERS 64

struct audit_peer {
	bool used;
	uid_t uid;
	uint64_t window_start;
	uint32_t count;	     /* records in this window */
	uint32_t suppressed; /* held back since the last record */
};

static struct audit_peer peers[AUDIT_PEERS];

static uint64_t now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

static void report_lost(const struct audit_peer *p);

/*
 * The peer's slot: its own, a free one, or that of the peer whose window
 * started longest ago (what it still held back is reported first).
 */
static struct audit_peer *peer_slot(uid_t uid, uint64_t now)
{
	struct audit_peer *oldest = &peers[0];

	for (size_t i = 0; i < AUDIT_PEERS; i++)
		if (peers[i].used && peers[i].uid == uid)
			return &peers[i];
	for (size_t i = 0; i < AUDIT_PEERS; i++) {
		if (!peers[i].used) {
			oldest = &peers[i];
			break;
		}
		if (peers[i].window_start < oldest->window_start)
			oldest = &peers[i];
	}
	if (oldest->used && oldest->suppressed)
		report_lost(oldest);
	*oldest = (struct audit_peer){ .used = true, .uid = uid, .window_start = now };
	return oldest;
}

/* stderr is the journal's stream (systemd sets JOURNAL_STREAM=dev:ino) */
static bool under_journald(void)
{
	static int cached = -1;
	unsigned long long dev, ino;
	const char *e;
	struct stat st;

	if (cached >= 0)
		return cached;
	e = getenv("JOURNAL_STREAM");
	cached = e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
		 (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
	return cached;
}

static void report_lost(const struct audit_peer *p)
{
	if (under_journald() &&
	    sd_journal_send("MESSAGE=%u key records of uid %d held back (rate limit)",
			    p->suppressed, (int)p->uid, "PRIORITY=%d", LOG_NOTICE,
			    "SYSLOG_IDENTIFIER=snpd", "SNPD_EVENT=key-records-held-back",
			    "SNPD_PEER_UID=%d", (int)p->uid, "SNPD_SUPPRESSED=%u", p->suppressed,
			    NULL) >= 0)
		return;
	log_notice("key-records-held-back: %u key records of uid %d held back (rate limit)",
		   p->suppressed, (int)p->uid);
}

void snpd_audit_key(bool released, const char *transport, const char *name, uid_t uid, gid_t gid,
		    pid_t pid, const char *reason)
{
	const char *event = released ? "key-release" : "key-refusal";
	struct audit_peer *p;
	uint64_t now = now_sec();
	char extra[64] = "", profile[4 * SNPD_AUDIT_NAME_MAX + 1];
	uint32_t suppressed;

	/*
	 * A client-chosen name (from a URL): its first SNPD_AUDIT_NAME_MAX
	 * bytes, escaped as every untrusted text is (lib's \xNN), and the
	 * quote the line puts around it too, so that a record parses as one.
	 */
	snp_printable_quoted(profile, sizeof(profile), name ? name : "",
			     name ? strnlen(name, SNPD_AUDIT_NAME_MAX) : 0, '\'');
	/* in the journal whatever LogLevel= says; on stderr it follows LogLevel= */
	p = peer_slot(uid, now);
	if (now - p->window_start >= SNPD_AUDIT_WINDOW_SEC) {
		p->window_start = now;
		p->count = 0;
	}
	if (p->count >= SNPD_AUDIT_BURST) {
		p->suppressed++;
		return;
	}
	p->count++;
	suppressed = p->suppressed;
	p->suppressed = 0;
	if (suppressed)
		snprintf(extra, sizeof(extra), " (%u more for this uid held back)", suppressed);

	if (under_journald()) {
		int r = sd_journal_send(
			"MESSAGE=Key '%s' %s uid %d gid %d pid %d over %s%s%s%s", profile,
			released ? "released to" : "refused to", (int)uid, (int)gid, (int)pid,
			transport, reason ? ": " : "", reason ? reason : "", extra, "PRIORITY=%d",
			LOG_NOTICE, "SYSLOG_IDENTIFIER=snpd", "SNPD_EVENT=%s", event,
			"SNPD_KEY_PROFILE=%s", profile, "SNPD_TRANSPORT=%s", transport,
			"SNPD_PEER_UID=%d", (int)uid, "SNPD_PEER_GID=%d", (int)gid,
			"SNPD_PEER_PID=%d", (int)pid, "SNPD_REASON=%s", reason ? reason : "",
			"SNPD_SUPPRESSED=%u", suppressed, NULL);

		if (r >= 0)
			return;
	}
	log_notice("%s: key '%s' %s uid %d gid %d pid %d over %s%s%s%s", event, profile,
		   released ? "released to" : "refused to", (int)uid, (int)gid, (int)pid, transport,
		   reason ? ": " : "", reason ? reason : "", extra);
}
