/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP API (libmicrohttpd + jansson) on a unix socket and optionally
 * loopback TCP, inside the daemon's sd-event loop: each MHD daemon's epoll
 * fd and timeout are event sources; a connection waiting for the device is
 * suspended and resumed when the broker completes.
 */
#ifndef SNPD_HTTP_H
#define SNPD_HTTP_H

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
 * The whole evidence document of @rep with @binding, serialized: compact
 * (HTTP), or @pretty: indented by 2 and ending in a newline (FUSE); the
 * same bytes json_dumps() gives for snpd_evidence_json() with "binding"
 * added. All but the binding is common to a batch: it is serialized once
 * per report and format, not once per member. New string (free() it),
 * *ret_len its length without the NUL; NULL on ENOMEM or without the
 * collateral (*ret_err: -ENOMEM or -EBUSY). Event loop only.
 */
char *snpd_evidence_dump(const struct snpd *d, const struct snp_backend_report *rep,
			 const json_t *binding, bool pretty, size_t *ret_len, int *ret_err);

#endif
