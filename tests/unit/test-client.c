// SPDX-License-Identifier: Apache-2.0
/*
 * daemon/client.c, snpd_client_of_addr(): a remote TCP peer is one client
 * per IPv4 address and per IPv6 /64 (link-local: per interface), so that a
 * host rotating source addresses inside its /64 gets no new share of the
 * per-client limits; and no address is ever a uid or one of snpd's own
 * identities (the batcher's, the reference report's). Plain C.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "daemon/client.h"
#include "tests/unit/check.h"

static u64 v6(const char *addr, u32 scope)
{
	struct sockaddr_in6 s = { .sin6_family = AF_INET6, .sin6_scope_id = scope };

	if (inet_pton(AF_INET6, addr, &s.sin6_addr) != 1) {
		fprintf(stderr, "bad address %s\n", addr);
		exit(1);
	}
	return snpd_client_of_addr((const struct sockaddr *)&s);
}

static u64 v4(const char *addr)
{
	struct sockaddr_in s = { .sin_family = AF_INET };

	if (inet_pton(AF_INET, addr, &s.sin_addr) != 1) {
		fprintf(stderr, "bad address %s\n", addr);
		exit(1);
	}
	return snpd_client_of_addr((const struct sockaddr *)&s);
}

/* In the address range: above every uid, below snpd's own identities. */
static bool addr_range(u64 id)
{
	return (id & ~(SNPD_CLIENT_ADDR_IPV6 | SNPD_CLIENT_ADDR_HASH)) == SNPD_CLIENT_ADDR &&
	       id > UINT32_MAX && !snpd_client_is_own(id) && id != SNPD_CLIENT_BATCHER &&
	       id != SNPD_CLIENT_REFERENCE;
}

int main(void)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	struct sockaddr other = { .sa_family = AF_UNIX };
	bool all = true;
	u64 a = v6("2001:db8:1:2::1", 0);

	CHECK(a == v6("2001:db8:1:2:ffff:ffff:ffff:fffe", 0) &&
		      a == v6("2001:db8:1:2:8a2e:370:7334:1", 0),
	      "addresses of one /64 are one client");
	CHECK(a != v6("2001:db8:1:3::1", 0) && a != v6("2001:db8:2:2::1", 0),
	      "another /64 is another client");
	CHECK(v6("fe80::1", 2) == v6("fe80::abcd:1", 2), "link-local peers of one interface: one");
	CHECK(v6("fe80::1", 2) != v6("fe80::1", 3), "link-local peers of two interfaces: two");
	CHECK(v4("192.0.2.1") != v4("192.0.2.2") && v4("192.0.2.1") == v4("192.0.2.1"),
	      "IPv4: one client per address");
	CHECK(v4("192.0.2.1") == v6("::ffff:192.0.2.1", 0), "a v4-mapped peer is its IPv4 address");
	CHECK(v4("0.0.0.0") != v6("::", 0) && v4("255.255.255.255") != v6("ffff:ffff::", 0),
	      "IPv4 and IPv6 never meet");
	CHECK(addr_range(a) && addr_range(v4("255.255.255.255")) && addr_range(v4("0.0.0.0")) &&
		      addr_range(v6("ffff:ffff:ffff:ffff::", 0)),
	      "addresses are in their range");

	/* by construction, whatever the address: never a uid nor snpd's own */
	for (int i = 0; i < 200000 && all; i++) {
		if (getrandom(&s6.sin6_addr, sizeof(s6.sin6_addr), 0) != sizeof(s6.sin6_addr))
			break;
		all = addr_range(snpd_client_of_addr((const struct sockaddr *)&s6));
	}
	CHECK(all, "200000 random IPv6 networks: all in the address range");
	CHECK(snpd_client_of_addr(&other) == SNPD_CLIENT_NO_PEER, "another family: no address");
	CHECK(snpd_client_is_own(SNPD_CLIENT_BATCHER) &&
		      snpd_client_is_own(SNPD_CLIENT_REFERENCE) &&
		      snpd_client_is_own(SNPD_CLIENT_NO_CRED) &&
		      snpd_client_is_own(SNPD_CLIENT_NO_PEER) &&
		      snpd_client_is_own(SNPD_CLIENT_LOOPBACK) && !snpd_client_is_own(UINT32_MAX),
	      "snpd's own identities are its own, a uid is not");

	printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}
