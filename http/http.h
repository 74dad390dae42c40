/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP API (libmicrohttpd + jansson) on a unix socket and optionally
 * loopback TCP, inside the daemon's sd-event loop: each MHD daemon's epoll
 * fd and timeout are event sources; a connection waiting for the device is
 * suspended and resumed when the broker completes.
 */
#ifndef SNPD_HTTP_H
#define SNPD_HTTP_H

#include <sys/uio.h>

#include "daemon/batch.h"
#include "daemon/snpd.h"

struct snpd_http;

/*
 * Take the sockets systemd passed (sd_listen_fds_with_names(): a unix
 * stream socket, and an AF_INET/AF_INET6 one for TCP), or bind the
 * configured ones, and serve. Returns 0 or a negative errno (logged).
 */
int snpd_http_new(struct snpd *d, struct snpd_http **ret);
struct snpd_http *snpd_http_free(struct snpd_http *h);

/*
 * Remove a socket file at @path that an earlier instance left behind
 * (nobody accepts on it). A live socket is refused (-EADDRINUSE), a file
 * that is not a socket too (-EEXIST). 0 when nothing is left there.
 */
int snpd_http_clear_stale_socket(const char *path);

/* Counters for the status file (new reference). */
json_t *snpd_http_status_json(struct snpd_http *h);

/*
 * The evidence document (docs/evidence.md 6) of @rep, without its binding
 * (new reference, NULL on failure); snpd_evidence_ready(): whether the
 * view has the endorsement key and chain that evidence carries.
 */
json_t *snpd_evidence_json(const struct snpd *d, const struct snp_backend_report *rep);
bool snpd_evidence_ready(const struct snpd_view *v);

/*
 * One member's evidence document (docs/evidence.md 6.2), compact, as
 * pieces: the batch's shared parts by reference (@shared: the document's
 * head, serialized once per batch here by its first member, the "log"
 * member's prefix, the log's shared rendering) and the member's own part
 * (copied: its nonce and proof). The bytes are what json_dumps(JSON_COMPACT |
 * JSON_PRESERVE_ORDER) gives for snpd_evidence_json() with "binding" added.
 */
#define SNPD_EVIDENCE_PIECES 5
struct snpd_evidence_body {
	struct snpd_evidence_shared *shared; /* a reference */
	struct iovec iov[SNPD_EVIDENCE_PIECES];
	unsigned int n;
	size_t len; /* of the whole document */
	char own[];
};

/*
 * New body for the answer @a of a batch member: 0, -ENOMEM, or -EBUSY
 * (the collateral went away). Event loop only.
 */
int snpd_evidence_body_new(const struct snpd *d, const struct snpd_batch_answer *a,
			   struct snpd_evidence_body **ret);
/* Drops the references; accepts NULL, returns NULL. */
struct snpd_evidence_body *snpd_evidence_body_free(struct snpd_evidence_body *b);
/*
 * The pieces of bytes [@off, @off + @size) of @b into @ret (room for
 * SNPD_EVIDENCE_PIECES): their number, 0 at or past the end. They point
 * into @b (borrowed).
 */
unsigned int snpd_evidence_body_slice(const struct snpd_evidence_body *b, size_t off, size_t size,
				      struct iovec *ret);

#endif
