// SPDX-License-Identifier: Apache-2.0
#include <netinet/in.h>
#include <string.h>

#include "daemon/client.h"

/* FNV-1a, 64 bits: spreads the networks over the range, no secret needed */
static u64 fnv1a(u64 h, const u8 *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

u64 snpd_client_of_addr(const struct sockaddr *sa)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	const struct in6_addr *a;
	u32 v4, scope;
	u64 h;

	if (sa->sa_family == AF_INET) {
		memcpy(&v4, &((const struct sockaddr_in *)sa)->sin_addr, sizeof(v4));
		/* 32 bits fit as they are: two IPv4 peers are never one client */
		return SNPD_CLIENT_ADDR | ntohl(v4);
	}
	if (sa->sa_family != AF_INET6)
		return SNPD_CLIENT_NO_PEER;
	a = &s6->sin6_addr;
	if (IN6_IS_ADDR_V4MAPPED(a)) {
		memcpy(&v4, &a->s6_addr[12], sizeof(v4));
		return SNPD_CLIENT_ADDR | ntohl(v4);
	}
	h = fnv1a(1469598103934665603ULL, a->s6_addr, 8);
	if (IN6_IS_ADDR_LINKLOCAL(a)) {
		/* fe80::/64 is every link's: the interface tells the links apart */
		scope = s6->sin6_scope_id;
		h = fnv1a(h, (const u8 *)&scope, sizeof(scope));
	}
	return SNPD_CLIENT_ADDR | SNPD_CLIENT_ADDR_IPV6 | (h & SNPD_CLIENT_ADDR_HASH);
}
