/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Client identities: who the broker (queue share, rate limit, round-robin),
 * the batcher (members per client) and the HTTP server (connections per
 * client) count a request against. One u64 space in three ranges, so that
 * no two kinds of identity can ever be equal, whatever a peer's address:
 *
 *   [0, 2^32)              a uid: FUSE, the unix socket, a TCP peer on
 *                          this host (its socket's owner)
 *   [2^63, 2^63 + 2^62)    a remote TCP peer, by its network
 *                          (snpd_client_of_addr())
 *   [2^63 + 2^62, 2^64)    snpd's own identities, below
 */
#ifndef SNPD_CLIENT_H
#define SNPD_CLIENT_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "backend/backend.h"

#define SNPD_CLIENT_ADDR      (1ULL << 63) /* tag of the address range */
#define SNPD_CLIENT_ADDR_IPV6 (1ULL << 61) /* in it: IPv6 networks; else IPv4 */
#define SNPD_CLIENT_ADDR_HASH ((1ULL << 61) - 1)
#define SNPD_CLIENT_OWN_MIN   (3ULL << 62) /* snpd's own from here */

#define SNPD_CLIENT_REFERENCE ((u64)-1)	 /* the reference report (start, reload) */
#define SNPD_CLIENT_NO_CRED   ((u64)-2)	 /* a unix peer without credentials */
#define SNPD_CLIENT_NO_PEER   ((u64)-3)	 /* a TCP peer without an address */
#define SNPD_CLIENT_LOOPBACK  ((u64)-4)	 /* a loopback peer of unknown owner */
#define SNPD_CLIENT_BATCHER   ((u64)-16) /* the evidence batcher */

static_assert(SNPD_CLIENT_ADDR > UINT32_MAX, "addresses are above every uid");
static_assert((SNPD_CLIENT_ADDR | SNPD_CLIENT_ADDR_IPV6 | SNPD_CLIENT_ADDR_HASH) <
		      SNPD_CLIENT_OWN_MIN,
	      "addresses are below snpd's own identities");
static_assert(SNPD_CLIENT_BATCHER >= SNPD_CLIENT_OWN_MIN &&
		      SNPD_CLIENT_LOOPBACK >= SNPD_CLIENT_OWN_MIN,
	      "snpd's own identities are in their range");

static inline bool snpd_client_is_own(u64 id)
{
	return id >= SNPD_CLIENT_OWN_MIN;
}

/*
 * The identity of a remote peer at @sa (AF_INET or AF_INET6, v4-mapped
 * taken as the IPv4 address it is), in the address range: an IPv4 peer
 * is its address; an IPv6 peer is its /64, which a host commonly holds
 * whole (SLAAC, temporary addresses) and may draw any number of source
 * addresses from, so one per /128 would give it a new share of the
 * per-client limits per address. Link-local peers all share fe80::/64:
 * those of one interface (scope) are one client. SNPD_CLIENT_NO_PEER for
 * other families. Loopback peers are the caller's business.
 */
u64 snpd_client_of_addr(const struct sockaddr *sa);

#endif
