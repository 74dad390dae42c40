// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <systemd/sd-daemon.h>

#include "daemon/audit.h"
#include "daemon/batch.h"
#include "daemon/client.h"
#include "daemon/eventlog.h"
#include "http/http.h"
#include "lib/binding.h"
#include "lib/cert-table.h"
#include "lib/log.h"
#include "lib/util.h"

#define HTTP_BODY_MAX	   (16 * 1024)
#define HTTP_LISTENERS_MAX 4
/*
 * Request-target limits, checked when MHD first shows us the URI: past
 * HTTP_ARGS_MAX query parameters MHD's per-connection pool runs out while it
 * splits them and the request would stall until the deadline.
 */
#define HTTP_URI_MAX	 4096
#define HTTP_ARGS_MAX	 16
#define HTTP_HEADERS_MAX (8 * 1024)
#define PROBLEM_PREFIX	 "urn:snpd:problem:"
/*
 * An evidence document up to this size is copied into one buffer: MHD sends
 * the headers and a buffer body in one sendmsg(), an iovec body only after
 * the headers (two syscalls, two wake-ups of the client). Larger ones (the
 * event log may make tens of MB) keep the iovec of the shared pieces.
 */
#define HTTP_EVIDENCE_COPY_MAX (64 * 1024)
/*
 * A lingering close (RFC 9112 9.6): a connection refused before its request
 * was read whole (413 at the head, a cut()) is not closed with data unread,
 * which makes the kernel reset it and lose the answer for a client that
 * sends its whole body before reading (python http.client, requests).
 * After the answer its sending side is shut down and what the client still
 * sends is read and dropped: up to HTTP_LINGER_BYTES, for at most
 * HTTP_LINGER_SEC (checked by the 1 s sweep), on at most HTTP_LINGER_MAX
 * sockets libmicrohttpd still holds (cut()) and HTTP_LINGER_MAX it has
 * closed (linger_start()), within its spare connections (+64); past any of
 * these it is closed as before.
 */
#define HTTP_LINGER_BYTES (4 * 1024 * 1024)
#define HTTP_LINGER_SEC	  5
#define HTTP_LINGER_MAX	  32

enum endpoint {
	EP_REPORT,
	EP_CERTS,
	EP_PLATFORM,
	EP_KEYS,
	EP_STATUS,
	EP_HEALTHZ,
	EP_METRICS,
	EP_LOG,
	EP_OTHER,
	EP_EVIDENCE,
	_EP_MAX,
};

static const char *const ep_names[_EP_MAX] = {
	"report",  "certificates", "platform", "keys",	"status",
	"healthz", "metrics",	   "log",      "other", "evidence",
};

struct snpd_http;

struct listener {
	struct snpd_http *h;
	struct MHD_Daemon *mhd;
	sd_event_source *io;
	sd_event_source *timer;
	bool is_unix;
	int unlink_dirfd;  /* a socket file we made: its directory, */
	char *unlink_name; /* and its name there */
	int fd;
	u32 open;     /* connections now */
	bool resumed; /* a connection was resumed: MHD_run() again at once */
};

/* Every open connection, for the whole-request deadline. */
struct conn_track {
	struct conn_track *next, *prev;
	struct listener *l;
	int fd;
	u64 deadline_usec; /* 0: none (waiting for the device or idle handled by MHD) */
	u64 peer;	   /* peer_id() */
	struct ucred cred; /* a unix peer's, as it connected; else no_cred */
	bool busy;	   /* a request is being answered */
	bool gone;	   /* cut or evicted: closing, counts no more */
	/*
	 * The hang-up watch (edge-triggered), from the first suspension of a
	 * request on this connection until MHD closes it: one EPOLL_CTL_ADD
	 * per connection rather than an ADD and a DEL per request.
	 */
	sd_event_source *hup;
	struct req_state *waiter; /* the suspended request, NULL: none */
	bool hung;		  /* the hang-up edge came: the client is gone */
	ino_t ino;		  /* the socket's, to find it again at the close */
	u64 linger_usec;	  /* refused early: linger at the close until then; 0: no */
};

/* A socket closed by MHD whose unread input is being dropped (HTTP_LINGER_*). */
struct drain {
	struct drain *next, *prev;
	struct snpd_http *h;
	int fd;
	sd_event_source *io;
	u64 deadline_usec;
	size_t left; /* bytes still to drop */
};

struct status_count {
	u8 ep;
	u16 code;
	u64 n;
};

struct snpd_http {
	struct snpd *d;
	struct listener listeners[HTTP_LISTENERS_MAX];
	size_t n_listeners;
	sd_event_source *sweep;
	struct conn_track *conns;
	struct status_count counts[96];
	size_t n_counts;
	u64 timeouts;
	u64 connections;
	u64 refused;
	u64 evicted;
	int diag_fd; /* NETLINK_SOCK_DIAG, for the owner of a TCP peer */
	struct drain *lingering;
	u32 n_lingering;
	u64 lingered;
	u32 diag_seq;
	bool stopping; /* snpd_http_free() runs: the broker is gone */
};

struct req_state {
	struct listener *l;
	struct MHD_Connection *conn;
	enum endpoint ep;
	char *body;
	size_t body_len;
	bool too_large;
	bool waiting;
	bool started;		  /* on_access has seen the headers */
	bool nul_in_path;	  /* the path had %00, which MHD decodes to a NUL */
	bool answered;		  /* a response is queued; the rest of the body is dropped */
	bool abandoned;		  /* the client went away while its request waited */
	struct snpd_request *req; /* submitted, done() not yet run */
	struct conn_track *track; /* while suspended: its connection's hang-up watch */
	struct MHD_Response *response;
	unsigned int status;
	/* report */
	bool want_raw, want_certs, want_tsm;
	bool vary_accept; /* the answer was chosen by Accept */
	/* key: for the audit trail */
	struct ucred peer;
	char key_name[SNPD_NAME_MAX];
	struct snpd_batch_member *member; /* joined an evidence batch, not answered */
};

static u64 now_usec(struct snpd_http *h)
{
	uint64_t t = 0;

	sd_event_now(h->d->event, CLOCK_MONOTONIC, &t);
	return t;
}

static void count(struct snpd_http *h, enum endpoint ep, unsigned int code)
{
	for (size_t i = 0; i < h->n_counts; i++)
		if (h->counts[i].ep == ep && h->counts[i].code == code) {
			h->counts[i].n++;
			return;
		}
	if (h->n_counts < SNP_ELEMENTSOF(h->counts))
		h->counts[h->n_counts++] = (struct status_count){ (u8)ep, (u16)code, 1 };
}

/* Store a ready response in @st (takes @resp). */
static void respond(struct req_state *st, unsigned int status, struct MHD_Response *resp)
{
	if (st->response)
		MHD_destroy_response(st->response);
	st->response = resp;
	st->status = status;
}

static struct MHD_Response *response_copy(const void *data, size_t len, const char *type)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
	if (r && type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	return r;
}

struct secret {
	size_t len;
	u8 data[];
};

static void wipe_secret(void *cls)
{
	struct secret *s = cls;

	OPENSSL_cleanse(s->data, s->len);
	free(s);
}

/* A response whose bytes are wiped when MHD is done with them. */
static struct MHD_Response *response_secret(const void *data, size_t len, const char *type)
{
	struct secret *s = malloc(sizeof(*s) + len);
	struct MHD_Response *r;

	if (!s)
		return NULL;
	s->len = len;
	memcpy(s->data, data, len);
	r = MHD_create_response_from_buffer_with_free_callback_cls(len, s->data, wipe_secret, s);
	if (!r) {
		wipe_secret(s);
		return NULL;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	return r;
}

static void respond_json(struct req_state *st, unsigned int status, json_t *j, const char *type)
{
	static const char internal[] = "{\"type\":\"" PROBLEM_PREFIX "internal\",\"title\":"
				       "\"Internal error\",\"status\":500,\"detail\":"
				       "\"the answer could not be built\"}";
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	struct MHD_Response *r;

	json_decref(j);
	if (!s) {
		r = response_copy(internal, strlen(internal), "application/problem+json");
		respond(st, MHD_HTTP_INTERNAL_SERVER_ERROR, r);
		return;
	}
	r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(s);
		return;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type ? type : "application/json");
	respond(st, status, r);
}

/* RFC 9457 problem details with a stable type per error. */
static void problem(struct req_state *st, unsigned int status, const char *type, const char *title,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void problem(struct req_state *st, unsigned int status, const char *type, const char *title,
		    const char *fmt, ...)
{
	char detail[512], t[96];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	/*
	 * The detail may quote client input (a parameter name): printable
	 * ASCII only, so that it is always valid UTF-8 for jansson and never
	 * carries control characters to a log or terminal.
	 */
	for (char *c = detail; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			*c = '?';
	snprintf(t, sizeof(t), PROBLEM_PREFIX "%s", type);
	respond_json(st, status,
		     json_pack("{s:s, s:s, s:i, s:s}", "type", t, "title", title, "status",
			       (int)status, "detail", detail),
		     "application/problem+json");
}

static char *base64_new(const u8 *data, size_t len)
{
	char *out;

	if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
		return NULL;
	out = malloc(4 * ((len + 2) / 3) + 1);
	if (out)
		EVP_EncodeBlock((u8 *)out, data, (int)len);
	return out;
}

/* Strict base64 (with padding) into @out; length or -EINVAL/-ENOBUFS. */
static ssize_t base64_decode(const char *s, u8 *out, size_t max)
{
	size_t n = strlen(s), pad = 0;
	u8 tmp[4 * 64];
	int k;

	if (n == 0 || n % 4 || n > sizeof(tmp) / 3 * 4 || n / 4 * 3 > sizeof(tmp))
		return n / 4 * 3 > max ? -ENOBUFS : -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '=') {
			if (i < n - 2)
				return -EINVAL;
			pad++;
		} else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			     (c >= '0' && c <= '9') || c == '+' || c == '/') ||
			   pad) {
			return -EINVAL;
		}
	}
	k = EVP_DecodeBlock(tmp, (const u8 *)s, (int)n);
	if (k < 0 || (size_t)k < pad)
		return -EINVAL;
	k -= (int)pad;
	if ((size_t)k > max)
		return -ENOBUFS;
	memcpy(out, tmp, (size_t)k);
	return k;
}

/* ::ffff:a.b.c.d (an IPv4 peer of a dual-stack socket) as the AF_INET address it is */
static void unmap_v4(struct sockaddr_storage *ss)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
	struct sockaddr_in s4 = { .sin_family = AF_INET };

	if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return;
	s4.sin_port = s6->sin6_port;
	memcpy(&s4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &s4, sizeof(s4));
}

/*
 * The socket sock_diag answered is the one asked for @r. An IPv6 socket
 * talking IPv4 comes back as AF_INET6 with v4-mapped addresses.
 */
static bool diag_same(const struct inet_diag_msg *m, const struct inet_diag_req_v2 *r, size_t alen)
{
	const __be32 *src = m->id.idiag_src, *dst = m->id.idiag_dst;

	if (m->idiag_family == AF_INET6 && r->sdiag_family == AF_INET) {
		if (!IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)src) ||
		    !IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)dst))
			return false;
		src += 3;
		dst += 3;
	} else if (m->idiag_family != r->sdiag_family) {
		return false;
	}
	return m->id.idiag_sport == r->id.idiag_sport && m->id.idiag_dport == r->id.idiag_dport &&
	       !memcmp(src, r->id.idiag_src, alen) && !memcmp(dst, r->id.idiag_dst, alen);
}

/*
 * The uid owning the other end of the TCP connection @fd when that end is
 * a socket of this host (loopback): asked of the kernel through sock_diag
 * by the connection's exact 4-tuple. The answer is trusted only when it
 * is that very connection's live socket: not a listener (the kernel's
 * lookup falls back to one), not a closed socket (its uid reads 0).
 * -ENOENT when there is no such socket (a remote peer).
 */
static int tcp_peer_uid(struct snpd_http *h, int fd, uid_t *ret_uid)
{
	struct sockaddr_storage local, peer;
	socklen_t llen = sizeof(local), plen = sizeof(peer);
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req = {
		.nlh = { .nlmsg_len = sizeof(req),
			 .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST },
		.r = { .sdiag_protocol = IPPROTO_TCP,
		       .idiag_states = ~0U,
		       .id.idiag_cookie = { INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE } },
	};
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	union {
		struct nlmsghdr nlh;
		u8 bytes[1024];
	} ans;
	const struct inet_diag_msg *m;
	size_t alen;
	ssize_t n;

	if (getsockname(fd, (struct sockaddr *)&local, &llen) < 0 ||
	    getpeername(fd, (struct sockaddr *)&peer, &plen) < 0)
		return -errno;
	/* a dual-stack listener: the peer's socket is IPv4 (or v4-mapped) */
	unmap_v4(&local);
	unmap_v4(&peer);
	if (local.ss_family != peer.ss_family)
		return -EAFNOSUPPORT;
	req.r.sdiag_family = (u8)peer.ss_family;
	/* the peer's socket: its source is the peer address, its destination ours */
	if (peer.ss_family == AF_INET) {
		const struct sockaddr_in *p = (const void *)&peer, *l = (const void *)&local;

		req.r.id.idiag_sport = p->sin_port;
		req.r.id.idiag_dport = l->sin_port;
		memcpy(req.r.id.idiag_src, &p->sin_addr, 4);
		memcpy(req.r.id.idiag_dst, &l->sin_addr, 4);
		alen = 4;
	} else if (peer.ss_family == AF_INET6) {
		const struct sockaddr_in6 *p = (const void *)&peer, *l = (const void *)&local;

		req.r.id.idiag_sport = p->sin6_port;
		req.r.id.idiag_dport = l->sin6_port;
		memcpy(req.r.id.idiag_src, &p->sin6_addr, 16);
		memcpy(req.r.id.idiag_dst, &l->sin6_addr, 16);
		alen = 16;
	} else {
		return -EAFNOSUPPORT;
	}
	if (h->diag_fd < 0) {
		h->diag_fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
		if (h->diag_fd < 0)
			return -errno;
	}
	req.nlh.nlmsg_seq = ++h->diag_seq;
	if (sendto(h->diag_fd, &req, sizeof(req), 0, (struct sockaddr *)&kernel, sizeof(kernel)) <
	    0)
		return -errno;
	/* the kernel answers within sendto(); drop stale answers of an earlier failure */
	for (;;) {
		n = recv(h->diag_fd, &ans, sizeof(ans), MSG_DONTWAIT);
		if (n < 0)
			return -errno;
		if ((size_t)n < sizeof(ans.nlh) || ans.nlh.nlmsg_len > (size_t)n)
			return -EBADMSG;
		if (ans.nlh.nlmsg_seq == h->diag_seq)
			break;
	}
	if (ans.nlh.nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(&ans.nlh);

		if (ans.nlh.nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
			return -EBADMSG;
		return e->error < 0 ? e->error : -ENOENT;
	}
	if (ans.nlh.nlmsg_type != SOCK_DIAG_BY_FAMILY ||
	    ans.nlh.nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return -EBADMSG;
	m = NLMSG_DATA(&ans.nlh);
	if (m->idiag_state == TCP_LISTEN || !m->idiag_inode || !diag_same(m, &req.r, alen))
		return -ENOENT;
	*ret_uid = m->idiag_uid;
	return 0;
}

static bool is_loopback(const struct sockaddr *sa);

/*
 * The peer's network (snpd_client_of_addr(): an IPv4 address, an IPv6
 * /64), never equal to a uid nor to snpd's own identities. A loopback
 * peer whose owner could not be found (its socket already closed) says
 * nothing by its address: all of them are one client.
 */
static u64 addr_id(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return SNPD_CLIENT_NO_PEER;
	unmap_v4(&ss); /* one IPv4 peer, one client, on any listener */
	if (is_loopback((const struct sockaddr *)&ss))
		return SNPD_CLIENT_LOOPBACK;
	return snpd_client_of_addr((const struct sockaddr *)&ss);
}

/* A peer's credentials when they are unknown (TCP, or the kernel would not say). */
static const struct ucred no_cred = { .pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1 };

/* The credentials of a unix socket's peer as it connected, or no_cred. */
static struct ucred unix_cred(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		cred = no_cred;
	return cred;
}

/*
 * Who is at the other end of connection @fd, for fairness (connections,
 * queue share, rate limit): the peer's uid on the unix socket (@cred,
 * from unix_cred()), and on TCP the uid owning the peer's socket when it
 * is on this host (any local process can pick any 127.x.y.z as its
 * source address, so the address says nothing); the address only when
 * that is unknowable.
 */
static u64 peer_id(struct snpd_http *h, struct listener *l, int fd, const struct ucred *cred)
{
	uid_t uid;
	int r;

	if (l->is_unix)
		return cred->uid != (uid_t)-1 ? cred->uid : SNPD_CLIENT_NO_CRED;
	if (fd < 0)
		return SNPD_CLIENT_NO_PEER;
	r = tcp_peer_uid(h, fd, &uid);
	if (r == 0)
		return uid;
	log_debug_errno(r, "TCP peer of fd %d: owner unknown (%m); identified by its address", fd);
	return addr_id(fd);
}

static struct conn_track *track_of(struct MHD_Connection *conn);

/*
 * Client identity for fairness (peer_id() of the connection), and the
 * peer's credentials: those of the connection's start (the kernel keeps
 * a unix socket's peer credentials from its connect(), they never change).
 */
static u64 client_id(struct req_state *st, struct ucred *ret_cred)
{
	const union MHD_ConnectionInfo *ci;
	struct conn_track *t = track_of(st->conn);
	struct ucred cred = no_cred;
	int fd;

	if (t) {
		if (ret_cred)
			*ret_cred = t->cred;
		return t->peer;
	}
	ci = MHD_get_connection_info(st->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	fd = ci ? ci->connect_fd : -1;
	if (st->l->is_unix)
		cred = unix_cred(fd);
	if (ret_cred)
		*ret_cred = cred;
	return peer_id(st->l->h, st->l, fd, &cred);
}

/* A qvalue (RFC 9110 12.4.2) of [@s, @end) in thousandths, or -1. */
static int parse_qvalue(const char *s, const char *end)
{
	int q, digits = 0;

	if (s == end || (*s != '0' && *s != '1'))
		return -1;
	q = (*s++ - '0') * 1000;
	if (s < end && *s == '.') {
		for (s++; s < end && digits < 3 && *s >= '0' && *s <= '9'; s++, digits++)
			q += (*s - '0') * (digits == 0 ? 100 : digits == 1 ? 10 : 1);
	}
	return s == end && q <= 1000 ? q : -1;
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * The part of [@s, @end) before the first @delim, without the optional
 * white space around it: [*@ret_b, *@ret_e). Returns where @delim is (or
 * @end).
 */
static const char *ows_part(const char *s, const char *end, char delim, const char **ret_b,
			    const char **ret_e)
{
	const char *b = s, *e, *stop;

	while (b < end && is_ows(*b))
		b++;
	stop = b;
	while (stop < end && *stop != delim)
		stop++;
	e = stop;
	while (e > b && is_ows(e[-1]))
		e--;
	*ret_b = b;
	*ret_e = e;
	return stop;
}

/* How much an Accept field wants one media type (accept_line()). */
struct accept_match {
	const char *type;
	int best;      /* the weight of the most specific matching range, 0..1000 */
	int best_spec; /* its specificity: 2 the type, 1 its wildcard, 0 any type, -1 none */
};

/*
 * Take the ranges of the Accept field line @a into @m: the weight @m's type
 * gets is that of the most specific range matching it (the type itself,
 * then its "type/" wildcard, then the full wildcard; RFC 9110 12.5.1), 0
 * when none does, over all the field's lines (RFC 9110 5.3: as if joined
 * by commas). Media type parameters are not compared; an element with a
 * malformed weight is ignored.
 */
static void accept_line(struct accept_match *m, const char *a)
{
	size_t major = strcspn(m->type, "/"), len = strlen(m->type);

	while (*a) {
		const char *end = a + strcspn(a, ","), *r, *rend, *p;
		int q = 1000, spec = -1;

		p = ows_part(a, end, ';', &r, &rend);
		/* parameters: the first "q" is the weight */
		while (p < end && *p == ';') {
			const char *v, *vend;

			p = ows_part(p + 1, end, ';', &v, &vend);
			if (vend - v >= 2 && (v[0] == 'q' || v[0] == 'Q') && v[1] == '=') {
				q = parse_qvalue(v + 2, vend);
				break;
			}
		}
		if ((size_t)(rend - r) == 3 && !strncmp(r, "*/*", 3))
			spec = 0;
		else if ((size_t)(rend - r) == major + 2 && !strncasecmp(r, m->type, major + 1) &&
			 r[major + 1] == '*')
			spec = 1;
		else if ((size_t)(rend - r) == len && !strncasecmp(r, m->type, len))
			spec = 2;
		if (q >= 0 && spec > m->best_spec) {
			m->best_spec = spec;
			m->best = q;
		} else if (q >= 0 && spec >= 0 && spec == m->best_spec && q > m->best) {
			m->best = q;
		}
		a = *end ? end + 1 : end;
	}
}

static enum MHD_Result accept_each(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	struct accept_match *m = cls;

	(void)kind;
	if (value && !strcasecmp(key, MHD_HTTP_HEADER_ACCEPT)) {
		accept_line(&m[0], value);
		accept_line(&m[1], value);
	}
	return MHD_YES;
}

/*
 * Content negotiation between the default type @dflt and @alt: does the
 * client prefer @alt (a higher weight over all its Accept lines; a tie, no
 * Accept or one that accepts neither keeps the default)? The answer then
 * says Vary: Accept (queue()).
 */
static bool prefers(struct req_state *st, const char *alt, const char *dflt)
{
	struct accept_match m[2] = { { .type = alt, .best_spec = -1 },
				     { .type = dflt, .best_spec = -1 } };

	st->vary_accept = true;
	MHD_get_connection_values(st->conn, MHD_HEADER_KIND, accept_each, m);
	return m[0].best > m[1].best;
}

/* A failed broker submission or device request, as a problem. */
static void device_problem(struct req_state *st, int r, u32 retry_ms, const char *why)
{
	struct snpd *d = st->l->h->d;
	char retry[16];

	switch (r) {
	case -EAGAIN:
		problem(st, MHD_HTTP_TOO_MANY_REQUESTS, "rate-limited", "Too many requests",
			"this client is over RateLimit=%u requests per second; retry in %u ms",
			d->config.rate_limit, retry_ms);
		snprintf(retry, sizeof(retry), "%u", (retry_ms + 999) / 1000);
		MHD_add_response_header(st->response, MHD_HTTP_HEADER_RETRY_AFTER, retry);
		break;
	case -EBUSY:
		problem(st, MHD_HTTP_SERVICE_UNAVAILABLE, "queue-full", "Device queue full",
			"QueueSize=%u requests are already waiting for the device",
			d->config.queue_size);
		MHD_add_response_header(st->response, MHD_HTTP_HEADER_RETRY_AFTER, "1");
		break;
	case -ENODEV:
	case -ENOTTY:
		problem(st, MHD_HTTP_SERVICE_UNAVAILABLE, "device-dead", "Attestation unavailable",
			"the guest device disabled its key after a failure; restart the VM");
		break;
	case -ETIMEDOUT:
		problem(st, MHD_HTTP_SERVICE_UNAVAILABLE, "host-busy", "Host busy",
			"the host kept the request throttled (BUSY) for too long");
		MHD_add_response_header(st->response, MHD_HTTP_HEADER_RETRY_AFTER, "5");
		break;
	case -ESTALE:
		/* not the device failing: another writer of the configfs-tsm entry */
		problem(st, MHD_HTTP_SERVICE_UNAVAILABLE, "report-conflict", "Report conflict",
			"the report read back was not this request's, so it was discarded (%s); "
			"retry",
			why && *why ? why : "another writer changed the configfs-tsm entry");
		MHD_add_response_header(st->response, MHD_HTTP_HEADER_RETRY_AFTER, "1");
		break;
	case -ECANCELED:
		problem(st, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting-down", "Shutting down",
			"snpd is stopping; the request was not answered by the device");
		MHD_add_response_header(st->response, MHD_HTTP_HEADER_RETRY_AFTER, "1");
		break;
	case -ENOKEY: {
		/* the view's refresh is under way, or due when the timer says */
		u64 now = snp_monotonic_usec();
		u64 wait =
			d->stale_timer && d->stale_next_usec > now ? d->stale_next_usec - now : 0;

		problem(st, MHD_HTTP_SERVICE_UNAVAILABLE, "collateral-stale", "Collateral stale",
			"%s", why && *why ? why : "the host changed the platform; try again");
		snprintf(retry, sizeof(retry), "%llu", (unsigned long long)(wait / 1000000 + 1));
		MHD_add_response_header(st->response, MHD_HTTP_HEADER_RETRY_AFTER, retry);
		break;
	}
	case -ENOMEM:
		problem(st, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "Internal error",
			"out of memory");
		break;
	case -EINVAL:
		problem(st, MHD_HTTP_BAD_REQUEST, "firmware-rejected", "Rejected by the firmware",
			"%s", why && *why ? why : "the firmware refused the request's parameters");
		break;
	default:
		problem(st, MHD_HTTP_BAD_GATEWAY, "device-error", "Device error",
			"the attestation device failed: %s",
			why && *why ? why : strerror(r < 0 ? -r : EIO));
	}
}

static json_t *certs_json_from_table(const struct snp_backend_report *rep)
{
	struct snp_cert_table t;
	json_t *o = json_object();

	if (!o || !rep->certs || snp_cert_table_parse(rep->certs, rep->certs_len, &t, NULL, 0) < 0)
		return o;
	for (size_t i = 0; i < t.n; i++) {
		char *b;

		if (t.entries[i].kind == SNP_CERT_UNKNOWN)
			continue;
		b = base64_new(t.entries[i].data, t.entries[i].length);
		if (b)
			json_object_set_new(o, snp_cert_kind_name(t.entries[i].kind),
					    json_string(b));
		free(b);
	}
	return o;
}

static json_t *certs_json_from_view(const struct snpd_view *v)
{
	json_t *o = json_object();

	for (int i = 0; o && v && i < SNPD_CERT_CHAIN; i++)
		if (v->certs[i]) {
			char name[16];

			snprintf(name, sizeof(name), "%.*s", (int)strcspn(snpd_cert_names[i], "."),
				 snpd_cert_names[i]);
			json_object_set_new(o, name, json_string(v->certs[i]));
		}
	return o;
}

/*
 * GET /v1/certificates as JSON: the PEM certificates by name (ark, ask,
 * vcek or vlek), "crl" (base64 DER) and "sources" (where each came from).
 */
static json_t *certs_json_full(const struct snpd_view *v)
{
	json_t *o = certs_json_from_view(v), *src = json_object();

	if (o && v->certs[SNPD_CERT_CRL]) {
		char *b =
			base64_new((const u8 *)v->certs[SNPD_CERT_CRL], v->cert_len[SNPD_CERT_CRL]);

		json_object_set_new(o, "crl", b ? json_string(b) : json_null());
		free(b);
	}
	for (int i = 0; o && src && i < SNPD_CERT_SOURCE; i++)
		if (v->certs[i] && i != SNPD_CERT_CHAIN) {
			char name[16];

			snprintf(name, sizeof(name), "%.*s", (int)strcspn(snpd_cert_names[i], "."),
				 snpd_cert_names[i]);
			json_object_set_new(src, name,
					    json_string(snpd_coll_src_names[v->cert_src[i]]));
		}
	json_object_set_new(o, "sources", src);
	return o;
}

/*
 * The evidence document (version 1; see snpd(8)): the report, the
 * endorsement key, its chain and the CRL, so that a relying party needs
 * neither KDS nor a cache. Readers ignore members they do not know; later
 * versions add members (a binding section) without changing these.
 */
json_t *snpd_evidence_json(const struct snpd *d, const struct snp_backend_report *rep)
{
	const struct snpd_view *v = d->view;
	bool vlek = v && !v->certs[SNPD_CERT_VCEK] && v->certs[SNPD_CERT_VLEK];
	enum snpd_cert leaf = vlek ? SNPD_CERT_VLEK : SNPD_CERT_VCEK;
	char *rb64 = base64_new(rep->report, SNP_REPORT_SIZE), *crl = NULL;
	json_t *o;

	if (v && v->certs[SNPD_CERT_CRL])
		crl = base64_new((const u8 *)v->certs[SNPD_CERT_CRL], v->cert_len[SNPD_CERT_CRL]);
	o = json_pack("{s:i, s:s, s:s?, s:s, s:s, s:{s:s?, s:s?, s:s?}, s:s?, s:{s:s, s:s, s:s, "
		      "s:s}, s:s}",
		      "version", SNP_EVIDENCE_VERSION, "type", SNP_EVIDENCE_TYPE, "report", rb64,
		      "product", snp_product_name(v->ref.product), "endorsement_key",
		      vlek ? "vlek" : "vcek", "certificates", vlek ? "vlek" : "vcek",
		      v->certs[leaf], vlek ? "asvk" : "ask", v->certs[SNPD_CERT_ASK], "ark",
		      v->certs[SNPD_CERT_ARK], "crl", crl, "sources", vlek ? "vlek" : "vcek",
		      snpd_coll_src_names[v->cert_src[leaf]], vlek ? "asvk" : "ask",
		      snpd_coll_src_names[v->cert_src[SNPD_CERT_ASK]], "ark",
		      snpd_coll_src_names[v->cert_src[SNPD_CERT_ARK]], "crl",
		      snpd_coll_src_names[v->cert_src[SNPD_CERT_CRL]], "encoding",
		      "report and crl: base64 (RFC 4648) of the raw bytes; certificates: PEM");
	free(rb64);
	free(crl);
	return o;
}

/* The document without its closing brace, compact: once per batch. */
static int evidence_head(const struct snpd *d, const struct snp_backend_report *rep,
			 struct snpd_evidence_shared *sh)
{
	json_t *o;
	char *s;
	size_t len;

	if (sh->head)
		return 0;
	/*
	 * Ready when the member joined, but the view may have been replaced
	 * since (a reload, or a refresh after the host changed the TCB) by
	 * one whose collateral is still being looked up.
	 */
	if (!snpd_evidence_ready(d->view))
		return -EBUSY;
	o = snpd_evidence_json(d, rep);
	if (!o)
		return -ENOMEM;
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!s)
		return -ENOMEM;
	len = strlen(s);
	if (len < 2 || s[len - 1] != '}') {
		free(s);
		return -ENOMEM;
	}
	sh->head = s;
	sh->head_len = len - 1;
	return 0;
}

int snpd_evidence_body_new(const struct snpd *d, const struct snpd_batch_answer *a,
			   struct snpd_evidence_body **ret)
{
	static const char suffix[] = "]}}}";
	struct snpd_evidence_shared *sh = a->shared;
	struct snpd_evidence_body *b;
	size_t elen = 0;
	const char *events;
	int r;

	r = evidence_head(d, a->rep, sh);
	if (r < 0)
		return r;
	b = malloc(sizeof(*b) + a->own_len);
	if (!b)
		return -ENOMEM;
	memcpy(b->own, a->own, a->own_len);
	b->shared = snpd_evidence_shared_ref(sh);
	events = sh->text ? snpd_eventlog_text_members(sh->text, sh->count, &elen) : "";
	b->iov[0] = (struct iovec){ sh->head, sh->head_len };
	b->iov[1] = (struct iovec){ b->own, a->own_len };
	b->iov[2] = (struct iovec){ sh->log_prefix, sh->log_prefix_len };
	b->iov[3] = (struct iovec){ (void *)events, elen };
	b->iov[4] = (struct iovec){ (void *)suffix, strlen(suffix) };
	b->n = SNPD_EVIDENCE_PIECES;
	b->len = 0;
	for (unsigned int i = 0; i < b->n; i++)
		b->len += b->iov[i].iov_len;
	*ret = b;
	return 0;
}

struct snpd_evidence_body *snpd_evidence_body_free(struct snpd_evidence_body *b)
{
	if (b) {
		snpd_evidence_shared_unref(b->shared);
		free(b);
	}
	return NULL;
}

unsigned int snpd_evidence_body_slice(const struct snpd_evidence_body *b, size_t off, size_t size,
				      struct iovec *ret)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < b->n && size; i++) {
		size_t l = b->iov[i].iov_len, k;

		if (off >= l) {
			off -= l;
			continue;
		}
		k = l - off < size ? l - off : size;
		ret[n].iov_base = (char *)b->iov[i].iov_base + off;
		ret[n++].iov_len = k;
		size -= k;
		off = 0;
	}
	return n;
}

/* The request of @st is over (answered, or dropped): free it and let MHD go on. */
static void resume(struct req_state *st, struct snpd_request *req)
{
	snpd_request_free(req);
	st->req = NULL;
	if (st->track) {
		st->track->waiter = NULL; /* the watch stays, for the next request */
		st->track = NULL;
	}
	st->waiting = false;
	MHD_resume_connection(st->conn);
	/*
	 * make MHD look at it now rather than at its next timeout (also when
	 * this runs inside MHD_run(), through snpd_broker_poll(): rearm()
	 * keeps the kick)
	 */
	st->l->resumed = true;
	sd_event_source_set_time_relative(st->l->timer, 0);
	sd_event_source_set_enabled(st->l->timer, SD_EVENT_ONESHOT);
}

static void on_report_done(struct snpd_request *req, void *userdata)
{
	struct req_state *st = userdata;
	struct snpd *d = st->l->h->d;
	const struct snp_backend_report *rep = &req->report;
	char why[256];
	int r;

	if (st->abandoned) {
		resume(st, req); /* nobody to answer: MHD closes the connection */
		return;
	}
	if (req->result < 0) {
		device_problem(st, req->result, 0, req->error.message);
	} else if (st->want_certs && !st->want_tsm && !st->want_raw && !rep->certs &&
		   (r = snpd_view_check_report(d, rep->report, why, sizeof(why))) < 0) {
		/*
		 * the JSON answer would carry the view's certificates (the host
		 * gave none), which are for another TCB, chip or key
		 */
		device_problem(st, r, 0, why);
	} else if (st->want_tsm) {
		/* the shape configfs-tsm consumers know: outblob and auxblob */
		char *out = base64_new(rep->report, SNP_REPORT_SIZE);
		char *aux = NULL;
		struct snp_cert_table t;

		if (rep->certs &&
		    snp_cert_table_parse(rep->certs, rep->certs_len, &t, NULL, 0) == 0 && t.n)
			aux = base64_new(rep->certs, t.used_len);
		respond_json(st, MHD_HTTP_OK,
			     json_pack("{s:s, s:s?, s:s?}", "provider", "sev_guest", "outblob", out,
				       "auxblob", aux),
			     NULL);
		free(out);
		free(aux);
	} else if (st->want_raw) {
		respond(st, MHD_HTTP_OK,
			response_copy(rep->report, SNP_REPORT_SIZE, "application/octet-stream"));
	} else {
		char *b64 = base64_new(rep->report, SNP_REPORT_SIZE);
		json_t *o = json_pack("{s:s?, s:o*}", "report", b64, "report_fields",
				      snpd_report_json(d, rep->report));

		free(b64);
		if (o && st->want_certs) {
			json_t *c = rep->certs ? certs_json_from_table(rep) :
						 certs_json_from_view(d->view);

			json_object_set_new(o, "certificates", c);
			json_object_set_new(o, "certificates_encoding",
					    json_string(rep->certs ? "der-base64" : "pem"));
		}
		respond_json(st, MHD_HTTP_OK, o, NULL);
	}
	resume(st, req);
}

static void on_key_done(struct snpd_request *req, void *userdata)
{
	struct req_state *st = userdata;

	if (st->abandoned) {
		resume(st, req);
		return;
	}
	snpd_audit_key(req->result >= 0, "http", st->key_name, st->peer.uid, st->peer.gid,
		       st->peer.pid, req->result < 0 ? strerror(-req->result) : NULL);
	if (req->result < 0) {
		device_problem(st, req->result, 0, req->error.message);
	} else if (st->want_raw) {
		respond(st, MHD_HTTP_OK,
			response_secret(req->key, SNP_DERIVED_KEY_LEN, "application/octet-stream"));
	} else {
		char body[2 * SNP_DERIVED_KEY_LEN + 16];

		memcpy(body, "{\"key\":\"", 8);
		snp_hex_encode(req->key, SNP_DERIVED_KEY_LEN, body + 8);
		memcpy(body + 8 + 2 * SNP_DERIVED_KEY_LEN, "\"}", 3);
		respond(st, MHD_HTTP_OK, response_secret(body, strlen(body), "application/json"));
		OPENSSL_cleanse(body, sizeof(body));
	}
	resume(st, req); /* wipes the key */
}

/*
 * The client of a suspended connection hung up (closed, reset): its
 * request is dropped if still queued, so that abandoned requests never
 * hold the queue or reach the device. Only a hang-up counts, never a
 * shutdown of the client's sending side (EPOLLRDHUP): HTTP allows a
 * client to send its request, half-close and wait for the answer (nc -N,
 * socat). On TCP a peer's close() is a FIN like a half-close: that
 * connection is only seen gone when its answer is refused (RST).
 */
static int on_peer_hup(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct conn_track *t = userdata;
	struct req_state *st = t->waiter;

	if (!(revents & (EPOLLHUP | EPOLLERR)))
		return 0;
	/*
	 * Edge-triggered: reported once, so no loop while MHD, which sees it
	 * too, has not closed the connection yet. A request suspended later
	 * on it finds the flag (watch_hangup()).
	 */
	t->hung = true;
	if (!st)
		return 0;
	if (st->member) {
		snpd_batcher_cancel(st->l->h->d->batcher, st->member);
		st->member = NULL;
		st->abandoned = true;
		log_debug("A client went away while its evidence waited for the device");
		resume(st, NULL);
		return 0;
	}
	if (!st->req)
		return 0;
	st->abandoned = true;
	log_debug("A client went away while its request waited for the device; dropping it");
	snpd_broker_cancel(st->l->h->d->broker, st->req); /* done() runs now if it was queued */
	return 0;
}

/*
 * MHD does not watch a suspended connection: we do, for a hang-up. The
 * watch is made at the first suspension on the connection and stays until
 * MHD closes it (on_connection()); between requests it only records the
 * hang-up (t->hung), which a request suspended afterwards must still see:
 * the source is then added again (EPOLL_CTL_DEL, ADD), and epoll reports
 * the hang-up at once, as for a new watch.
 */
static void watch_hangup(struct req_state *st)
{
	struct conn_track *t = track_of(st->conn);

	if (!t || t->fd < 0)
		return;
	st->track = t;
	t->waiter = st;
	if (!t->hup) {
		if (sd_event_add_io(st->l->h->d->event, &t->hup, t->fd,
				    EPOLLHUP | EPOLLERR | EPOLLET, on_peer_hup, t) < 0)
			t->hup = NULL;
	} else if (t->hung) {
		sd_event_source_set_enabled(t->hup, SD_EVENT_OFF);
		sd_event_source_set_enabled(t->hup, SD_EVENT_ON);
	}
}

static void submit(struct req_state *st, struct snpd_request *req, u64 client)
{
	u32 retry_ms = 0;
	int r;

	req->client = client;
	req->userdata = st;
	r = snpd_broker_submit(st->l->h->d->broker, req, &retry_ms);
	if (r < 0) {
		if (req->kind == SNPD_REQ_KEY)
			snpd_audit_key(false, "http", st->key_name, st->peer.uid, st->peer.gid,
				       st->peer.pid, r == -EAGAIN ? "rate limit" : strerror(-r));
		snpd_request_free(req);
		device_problem(st, r, retry_ms, NULL);
		return;
	}
	st->req = req;
	st->waiting = true;
	MHD_suspend_connection(st->conn);
	watch_hangup(st);
}

struct report_params {
	u8 report_data[SNP_REPORT_DATA_SIZE];
	bool have_vmpl;
	u32 vmpl;
	bool certs;
	const char *format;
	const char *err_type; /* NULL: invalid-parameter */
	char err[200];
	int dup;
	bool have_data;
	size_t nonce_len;
};

static int parse_nonce(const char *v, u8 *out, char *err, size_t errlen)
{
	ssize_t n;

	if (strlen(v) > 2 * SNP_REPORT_DATA_SIZE) {
		snprintf(err, errlen, "nonce: more than 64 bytes (128 hex digits)");
		return -EINVAL;
	}
	n = snp_hex_decode(v, strlen(v), out, SNP_REPORT_DATA_SIZE, false);
	if (n <= 0) {
		snprintf(err, errlen, "nonce: not an even number of hex digits");
		return -EINVAL;
	}
	return (int)n;
}

static int parse_bool(const char *v, bool *ret)
{
	if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes"))
		*ret = true;
	else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no"))
		*ret = false;
	else
		return -EINVAL;
	return 0;
}

/* A VMPL as plain decimal digits (no sign, space, prefix or suffix), 0..3. */
static int parse_vmpl(const char *v, u32 *ret)
{
	size_t n = strspn(v, "0123456789");

	if (!n || v[n] || n > 9)
		return -EINVAL;
	return snp_parse_u32_max(v, 3, ret);
}

static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				 size_t key_size, const char *value, size_t value_size)
{
	struct report_params *p = cls;
	static const char *const known[] = { "nonce", "vmpl", "certs", "format" };
	size_t i;

	if (p->err[0])
		return MHD_NO;
	/* MHD decodes %00 into a NUL: a C string would stop there */
	if (strlen(key) != key_size || (value && strlen(value) != value_size)) {
		snprintf(p->err, sizeof(p->err), "a parameter name or value contains a NUL (%%00)");
		return MHD_NO;
	}
	for (i = 0; i < SNP_ELEMENTSOF(known); i++)
		if (!strcmp(key, known[i]))
			break;
	if (i == SNP_ELEMENTSOF(known)) {
		snprintf(p->err, sizeof(p->err),
			 "unknown parameter '%.40s' (nonce, vmpl, certs, "
			 "format)",
			 key);
		return MHD_NO;
	}
	if (p->dup & (1 << i)) {
		snprintf(p->err, sizeof(p->err), "parameter '%s' given twice", key);
		return MHD_NO;
	}
	p->dup |= 1 << i;
	if (!value)
		value = "";
	if (i == 0) {
		int n = parse_nonce(value, p->report_data, p->err, sizeof(p->err));

		if (n < 0)
			return MHD_NO;
		p->nonce_len = (size_t)n;
	}
	if (i == 1) {
		if (parse_vmpl(value, &p->vmpl) < 0) {
			snprintf(p->err, sizeof(p->err), "vmpl: not 0..3 (decimal)");
			return MHD_NO;
		}
		p->have_vmpl = true;
	}
	if (i == 2 && parse_bool(value, &p->certs) < 0) {
		snprintf(p->err, sizeof(p->err), "certs: not 0 or 1");
		return MHD_NO;
	}
	if (i == 3) {
		if (strcmp(value, "json") && strcmp(value, "tsm") && strcmp(value, "raw")) {
			snprintf(p->err, sizeof(p->err), "format: json, tsm or raw");
			return MHD_NO;
		}
		p->format = value;
	}
	return MHD_YES;
}

/* REPORT_DATA from report_data_hex or report_data_base64 (zero-padded). */
static int parse_report_data(const char *key, json_t *v, bool base64, struct report_params *p)
{
	const char *s = json_string_value(v);
	ssize_t n;

	if (p->have_data) {
		snprintf(p->err, sizeof(p->err),
			 "give one of report_data_hex and report_data_base64, not both");
		return -EINVAL;
	}
	if (!s) {
		snprintf(p->err, sizeof(p->err), "%s: must be a string", key);
		return -EINVAL;
	}
	if (base64)
		n = base64_decode(s, p->report_data, SNP_REPORT_DATA_SIZE);
	else if (strlen(s) > 2 * SNP_REPORT_DATA_SIZE)
		n = -ENOBUFS;
	else
		n = snp_hex_decode(s, strlen(s), p->report_data, SNP_REPORT_DATA_SIZE, false);
	if (n == -ENOBUFS) {
		snprintf(p->err, sizeof(p->err), "%s: more than 64 bytes", key);
		return -EINVAL;
	}
	if (n <= 0) {
		snprintf(p->err, sizeof(p->err), "%s: %s", key,
			 base64 ? "not padded base64 (RFC 4648)" :
				  "not an even number of hex digits");
		return -EINVAL;
	}
	if ((size_t)n < SNP_REPORT_DATA_SIZE)
		memset(p->report_data + n, 0, SNP_REPORT_DATA_SIZE - (size_t)n);
	p->have_data = true;
	return 0;
}

/*
 * POST /v1/report body: {"report_data_hex": s | "report_data_base64": s,
 * "vmpl": N, "certs": bool, "format": s}. The old "report_data" took hex or
 * base64 by guessing ("AAAA" read as hex), so it is refused, never guessed.
 */
static int parse_report_body(struct req_state *st, struct report_params *p)
{
	json_error_t jerr;
	const char *key;
	json_t *j, *v;
	int r = -EINVAL;

	if (!st->body_len)
		return 0;
	j = json_loadb(st->body, st->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		snprintf(p->err, sizeof(p->err), "invalid JSON at line %d column %d: %.100s",
			 jerr.line, jerr.column, jerr.text);
		return -EBADMSG;
	}
	if (!json_is_object(j)) {
		snprintf(p->err, sizeof(p->err), "the body must be a JSON object");
		goto out;
	}
	json_object_foreach(j, key, v)
	{
		if (!strcmp(key, "report_data")) {
			p->err_type = "ambiguous-report-data";
			snprintf(p->err, sizeof(p->err),
				 "report_data could be hex or base64; send report_data_hex or "
				 "report_data_base64");
			goto out;
		} else if (!strcmp(key, "report_data_hex") || !strcmp(key, "report_data_base64")) {
			if (parse_report_data(key, v, !strcmp(key, "report_data_base64"), p) < 0)
				goto out;
		} else if (!strcmp(key, "vmpl")) {
			json_int_t x = json_integer_value(v);

			if (!json_is_integer(v) || x < 0 || x > 3) {
				snprintf(p->err, sizeof(p->err), "vmpl: must be an integer 0..3");
				goto out;
			}
			p->vmpl = (u32)x;
			p->have_vmpl = true;
		} else if (!strcmp(key, "certs")) {
			if (!json_is_boolean(v)) {
				snprintf(p->err, sizeof(p->err), "certs: must be true or false");
				goto out;
			}
			p->certs = json_is_true(v);
		} else if (!strcmp(key, "format")) {
			const char *s = json_string_value(v);

			if (!s || (strcmp(s, "json") && strcmp(s, "tsm") && strcmp(s, "raw"))) {
				snprintf(p->err, sizeof(p->err), "format: json, tsm or raw");
				goto out;
			}
			p->format = !strcmp(s, "tsm") ? "tsm" : !strcmp(s, "raw") ? "raw" : "json";
		} else {
			snprintf(
				p->err, sizeof(p->err),
				"unknown member '%.40s' (report_data_hex, report_data_base64, vmpl, "
				"certs, format)",
				key);
			goto out;
		}
	}
	r = 0;
out:
	json_decref(j);
	return r;
}

static void handle_report(struct req_state *st, const char *method)
{
	struct snpd *d = st->l->h->d;
	struct report_params p = { 0 };
	struct snpd_request *req;

	MHD_get_connection_values_n(st->conn, MHD_GET_ARGUMENT_KIND, query_arg, &p);
	if (!p.err[0] && !strcmp(method, MHD_HTTP_METHOD_POST)) {
		if (p.dup) {
			snprintf(p.err, sizeof(p.err), "POST takes its parameters in the body");
		} else if (parse_report_body(st, &p) == -EBADMSG) {
			problem(st, MHD_HTTP_BAD_REQUEST, "invalid-json", "Invalid JSON", "%s",
				p.err);
			return;
		}
	}
	if (p.err[0]) {
		problem(st, MHD_HTTP_BAD_REQUEST, p.err_type ? p.err_type : "invalid-parameter",
			"Invalid parameter", "%s", p.err);
		return;
	}
	/* a raw report never passes for evidence (docs/evidence.md 5) */
	if (snp_binding_is_marked(p.report_data)) {
		problem(st, MHD_HTTP_BAD_REQUEST, "reserved-report-data", "Reserved REPORT_DATA",
			"REPORT_DATA ending in \"%s\\0\" is reserved for evidence bound by snpd",
			SNP_BINDING_SCHEME);
		return;
	}
	if (!p.have_vmpl)
		p.vmpl = d->config.vmpl;
	if (p.vmpl < d->config.vmpl_floor) {
		problem(st, MHD_HTTP_FORBIDDEN, "vmpl-below-floor", "VMPL not allowed",
			"VMPL %u is below VmplFloor=%u", p.vmpl, d->config.vmpl_floor);
		return;
	}
	st->want_certs = p.certs;
	st->want_tsm = p.format && !strcmp(p.format, "tsm");
	st->want_raw = (p.format && !strcmp(p.format, "raw")) ||
		       (!p.format && prefers(st, "application/octet-stream", "application/json"));
	req = snpd_request_new(SNPD_REQ_REPORT, 0);
	if (!req) {
		problem(st, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "Internal error",
			"out of memory");
		return;
	}
	memcpy(req->report_req.report_data, p.report_data, SNP_REPORT_DATA_SIZE);
	req->report_req.vmpl = p.vmpl;
	req->report_req.want_certs = p.certs || st->want_tsm;
	req->done = on_report_done;
	submit(st, req, client_id(st, NULL));
}

static bool id_listed(const struct snpd_id_list *l, u32 id)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->ids[i] == id)
			return true;
	return false;
}

static void handle_key(struct req_state *st, const char *name)
{
	struct snpd *d = st->l->h->d;
	const struct snpd_key_profile *k;
	struct snpd_request *req;
	struct ucred cred;
	u64 client;

	if (!st->l->is_unix) {
		snpd_audit_key(false, "http-tcp", name, (uid_t)-1, (gid_t)-1, 0,
			       "keys are never served over TCP");
		problem(st, MHD_HTTP_FORBIDDEN, "keys-over-tcp", "Keys only on the unix socket",
			"derived keys are never served over TCP");
		return;
	}
	k = snpd_config_find_key(&d->config, name);
	if (!k) {
		problem(st, MHD_HTTP_NOT_FOUND, "unknown-key-profile", "No such key profile",
			"no [Key:%.64s] in the configuration", name);
		return;
	}
	client = client_id(st, &cred);
	if (cred.uid == (uid_t)-1 ||
	    !(id_listed(&k->api_users, cred.uid) || id_listed(&k->api_groups, cred.gid))) {
		snpd_audit_key(false, "http", k->name, cred.uid, cred.gid, cred.pid,
			       "not in ApiUsers=/ApiGroups=");
		problem(st, MHD_HTTP_FORBIDDEN, "peer-not-allowed", "Not allowed",
			"uid %d gid %d may not fetch key '%s' (ApiUsers=, ApiGroups=)",
			(int)cred.uid, (int)cred.gid, k->name);
		return;
	}
	st->want_raw = prefers(st, "application/octet-stream", "application/json");
	st->peer = cred;
	snprintf(st->key_name, sizeof(st->key_name), "%s", k->name);
	req = snpd_request_new(SNPD_REQ_KEY, 0);
	if (!req) {
		problem(st, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "Internal error",
			"out of memory");
		return;
	}
	req->key_req.root_vmrk = k->root_vmrk;
	req->key_req.guest_field_select = k->fields;
	req->key_req.vmpl = k->vmpl;
	req->key_req.guest_svn = k->svn;
	req->key_req.tcb_version = k->tcb;
	req->done = on_key_done;
	submit(st, req, client);
}

struct log_body {
	struct snpd_eventlog_text *text;
	char prefix[sizeof(((struct snpd_eventlog_reply *)NULL)->prefix)];
};

static void log_body_free(void *cls)
{
	struct log_body *b = cls;

	snpd_eventlog_text_unref(b->text);
	free(b);
}

/*
 * GET /v1/log: the prefix, then the log's shared rendering itself (no
 * copy: the response holds a reference to it until it is sent), "]}";
 * or 304 when the client has this state already (If-None-Match).
 */
static void respond_log(struct req_state *st, struct snpd_eventlog_reply *rep)
{
	static const char suffix[] = "]}";
	struct log_body *b = malloc(sizeof(*b));
	struct MHD_IoVec iov[3];
	const char *inm = MHD_lookup_connection_value(st->conn, MHD_HEADER_KIND,
						      MHD_HTTP_HEADER_IF_NONE_MATCH);
	struct MHD_Response *r;
	unsigned int n = 0;
	size_t len;
	/* a client polling the log gets 304 until it changes (RFC 9110 13.1.2) */
	bool not_modified = inm && (strstr(inm, rep->etag) || !strcmp(inm, "*"));

	if (!b) {
		snpd_eventlog_text_unref(rep->text);
		problem(st, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "Internal error",
			"out of memory");
		return;
	}
	b->text = rep->text;
	memcpy(b->prefix, rep->prefix, sizeof(b->prefix));
	iov[n].iov_base = b->prefix;
	iov[n++].iov_len = strlen(b->prefix);
	iov[n].iov_base = snpd_eventlog_text_members(b->text, rep->text_count, &len);
	iov[n].iov_len = len;
	if (len)
		n++; /* no empty element */
	iov[n].iov_base = suffix;
	iov[n++].iov_len = strlen(suffix);
	r = MHD_create_response_from_iovec(iov, n, log_body_free, b);
	if (!r) {
		log_body_free(b);
		problem(st, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "Internal error",
			"out of memory");
		return;
	}
	/*
	 * A 304 is this response without its body, which MHD does not send
	 * for a 304: its Content-Length is then the 200's, as RFC 9110 8.6
	 * wants (an empty response would say 0).
	 */
	if (!not_modified)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, rep->etag);
	/* stored only to be revalidated with the ETag (queue(): no-store elsewhere) */
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	respond(st, not_modified ? MHD_HTTP_NOT_MODIFIED : rep->status, r);
}

/*
 * The supplementary groups of connection @st's unix socket peer as it
 * connected (SO_PEERGROUPS, like SO_PEERCRED of that moment): a new array
 * in *ret (NULL for none) and its length, or -errno when the kernel will
 * not say (before Linux 4.13: ENOPROTOOPT).
 */
static ssize_t unix_peer_groups(struct req_state *st, gid_t **ret)
{
	const union MHD_ConnectionInfo *ci;
	struct conn_track *t = track_of(st->conn);
	socklen_t len = 64 * sizeof(gid_t);
	gid_t *groups = NULL, *g;
	int fd, r = -ERANGE;

	*ret = NULL;
	if (t) {
		fd = t->fd;
	} else {
		ci = MHD_get_connection_info(st->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		fd = ci ? ci->connect_fd : -1;
	}
	if (fd < 0)
		return -EBADF;
	/* ERANGE says how much room the list needs; it does not change (NGROUPS_MAX) */
	for (int tries = 0; tries < 2; tries++) {
		g = realloc(groups, len ? len : 1);
		if (!g) {
			free(groups);
			return -ENOMEM;
		}
		groups = g;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
			*ret = groups;
			return (ssize_t)(len / sizeof(gid_t));
		}
		r = -errno;
		if (r != -ERANGE)
			break;
	}
	free(groups);
	return r;
}

/* GET /v1/log, POST /v1/log/events: daemon/eventlog.c decides, we answer. */
static void handle_log(struct req_state *st, bool post)
{
	struct snpd *d = st->l->h->d;
	struct snpd_eventlog_reply rep;
	_cleanup_(freep) gid_t *groups = NULL;
	struct ucred cred;
	ssize_t n = 0;

	client_id(st, &cred);
	if (post && st->l->is_unix && cred.uid != (uid_t)-1) {
		n = unix_peer_groups(st, &groups);
		/* unknown: LogWriterGroups= is matched against the primary group only */
		if (n < 0) {
			log_debug("No supplementary groups of the peer uid %d: %s", (int)cred.uid,
				  strerror((int)-n));
			n = 0;
		}
	}
	snpd_eventlog_http(d->eventlog, &d->config, post, st->l->is_unix && cred.uid != (uid_t)-1,
			   cred.uid, cred.gid, groups, (size_t)n, st->body, st->body_len, &rep);
	if (rep.type)
		problem(st, rep.status, rep.type, rep.title, "%s", rep.detail);
	else if (rep.text)
		respond_log(st, &rep);
	else
		respond_json(st, rep.status, rep.body, NULL);
}

/* The static views wait for the reference report (host busy at start). */
static void no_view_problem(struct req_state *st);

/* Can the view back evidence: an endorsement key and its chain? */
bool snpd_evidence_ready(const struct snpd_view *v)
{
	return v && (v->certs[SNPD_CERT_VCEK] || v->certs[SNPD_CERT_VLEK]) &&
	       v->certs[SNPD_CERT_ASK] && v->certs[SNPD_CERT_ARK];
}

static void evidence_body_free_cb(void *cls)
{
	snpd_evidence_body_free(cls);
}

/*
 * The response for @b (taken: freed here or by the response). Small: one
 * copied buffer; large: the pieces as an iovec. NULL: out of memory.
 */
static struct MHD_Response *evidence_response(struct snpd_evidence_body *b)
{
	struct MHD_IoVec iov[SNPD_EVIDENCE_PIECES];
	struct MHD_Response *r;
	unsigned int n = 0;

	if (b->len <= HTTP_EVIDENCE_COPY_MAX) {
		char *buf = malloc(b->len ? b->len : 1);
		size_t off = 0;

		if (!buf) {
			snpd_evidence_body_free(b);
			return NULL;
		}
		for (unsigned int i = 0; i < b->n; i++) {
			memcpy(buf + off, b->iov[i].iov_base, b->iov[i].iov_len);
			off += b->iov[i].iov_len;
		}
		snpd_evidence_body_free(b);
		r = MHD_create_response_from_buffer_with_free_callback(off, buf, free);
		if (!r)
			free(buf);
		return r;
	}
	for (unsigned int i = 0; i < b->n; i++)
		if (b->iov[i].iov_len) { /* no empty element */
			iov[n].iov_base = b->iov[i].iov_base;
			iov[n++].iov_len = b->iov[i].iov_len;
		}
	r = MHD_create_response_from_iovec(iov, n, evidence_body_free_cb, b);
	if (!r)
		snpd_evidence_body_free(b);
	return r;
}

/*
 * The member's document: unless it is small, the batch's shared pieces are
 * not copied, the response holds a reference to them until it is sent.
 */
static void on_evidence_done(void *userdata, int result, const char *msg,
			     const struct snpd_batch_answer *a)
{
	struct req_state *st = userdata;
	struct snpd *d = st->l->h->d;

	st->member = NULL;
	if (result < 0) {
		if (result == -EUCLEAN)
			problem(st, MHD_HTTP_SERVICE_UNAVAILABLE, "event-log-broken",
				"Event log unusable", "%s", msg ? msg : "see /v1/status event_log");
		else if (result == -ESHUTDOWN)
			device_problem(st, -ECANCELED, 0, msg);
		else
			device_problem(st, result, 0, msg);
	} else {
		struct snpd_evidence_body *b = NULL;
		struct MHD_Response *r = NULL;
		int err;

		err = snpd_evidence_body_new(d, a, &b);
		if (err == 0)
			r = evidence_response(b);
		if (r) {
			MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
						"application/json");
			respond(st, MHD_HTTP_OK, r);
		} else if (err == -EBUSY) {
			problem(st, MHD_HTTP_SERVICE_UNAVAILABLE, "collateral-unavailable",
				"Collateral unavailable", "%s",
				"the certificates went away while the report was taken; try again");
		} else {
			respond_json(st, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL);
		}
	}
	resume(st, NULL);
}

/*
 * GET /v1/evidence?nonce=HEX[&vmpl=N]: evidence for the nonce (version 2,
 * docs/evidence.md): the nonce joins a batch; the batch's report binds the
 * Merkle root of its nonces and the event log head, and the reply carries
 * the report, its collateral and this nonce's proof ("binding"). Checked
 * before the device is used: without the collateral it is 503 (Retry-After
 * from the next KDS try).
 */
static void handle_evidence(struct req_state *st)
{
	struct snpd *d = st->l->h->d;
	struct report_params p = { 0 };
	u32 retry_ms = 0;
	int r;

	MHD_get_connection_values_n(st->conn, MHD_GET_ARGUMENT_KIND, query_arg, &p);
	if (!p.err[0] && (p.format || (p.dup & (1 << 2))))
		snprintf(p.err, sizeof(p.err), "%s", "evidence takes nonce and vmpl only");
	if (!p.err[0] && !(p.dup & 1))
		snprintf(p.err, sizeof(p.err), "%s",
			 "nonce: required (1 to 64 bytes as hex), evidence is bound to it");
	if (p.err[0]) {
		problem(st, MHD_HTTP_BAD_REQUEST, p.err_type ? p.err_type : "invalid-parameter",
			"Invalid parameter", "%s", p.err);
		return;
	}
	if (!p.have_vmpl)
		p.vmpl = d->config.vmpl;
	if (p.vmpl < d->config.vmpl_floor) {
		problem(st, MHD_HTTP_FORBIDDEN, "vmpl-below-floor", "VMPL not allowed",
			"VMPL %u is below VmplFloor=%u", p.vmpl, d->config.vmpl_floor);
		return;
	}
	if (!d->view) {
		no_view_problem(st);
		return;
	}
	if (!snpd_evidence_ready(d->view)) {
		json_t *c = snpd_collateral_json(d);
		json_t *next = json_object_get(c, "next_retry_in_sec");
		const char *why = json_string_value(json_object_get(c, "last_error"));
		char ra[32];

		problem(st, MHD_HTTP_SERVICE_UNAVAILABLE, "collateral-unavailable",
			"Collateral unavailable",
			"no endorsement key and chain for this platform yet (%s); see "
			"/v1/status collateral",
			why ? why : "still looking");
		snprintf(ra, sizeof(ra), "%lld",
			 json_is_integer(next) && json_integer_value(next) > 0 ?
				 (long long)json_integer_value(next) :
				 5LL);
		MHD_add_response_header(st->response, MHD_HTTP_HEADER_RETRY_AFTER, ra);
		json_decref(c);
		return;
	}
	r = snpd_batcher_join(d->batcher, p.report_data, p.nonce_len, p.vmpl, client_id(st, NULL),
			      on_evidence_done, st, &st->member, &retry_ms);
	if (r == -EAGAIN) {
		problem(st, MHD_HTTP_SERVICE_UNAVAILABLE, "batch-full", "Evidence batch full",
			"the next batch holds BatchMax=%u nonces, or this client has QueueSize=%u "
			"waiting; retry",
			d->config.batch_max, d->config.queue_size);
		MHD_add_response_header(st->response, MHD_HTTP_HEADER_RETRY_AFTER, "1");
		return;
	}
	if (r == -EUCLEAN) {
		char why[256] = "";

		snpd_eventlog_usable(d->eventlog, why, sizeof(why));
		problem(st, MHD_HTTP_SERVICE_UNAVAILABLE, "event-log-broken", "Event log unusable",
			"evidence binds the event log, which is unusable: %s", why);
		return;
	}
	if (r < 0) {
		device_problem(st, r, retry_ms, NULL);
		return;
	}
	st->waiting = true;
	MHD_suspend_connection(st->conn);
	watch_hangup(st);
}

static void no_view_problem(struct req_state *st)
{
	if (snpd_broker_is_dead(st->l->h->d->broker))
		return device_problem(st, -ENODEV, 0, NULL);
	problem(st, MHD_HTTP_SERVICE_UNAVAILABLE, "no-reference-report", "Not available yet",
		"no reference report yet (the host was busy at start); snpd keeps retrying");
	MHD_add_response_header(st->response, MHD_HTTP_HEADER_RETRY_AFTER, "5");
}

static void handle_certs(struct req_state *st)
{
	const struct snpd_view *v = st->l->h->d->view;
	char *pem = NULL;
	size_t len = 0;
	FILE *f;

	if (!v) {
		no_view_problem(st);
		return;
	}
	if (!v->certs[SNPD_CERT_VCEK] && !v->certs[SNPD_CERT_VLEK] && !v->certs[SNPD_CERT_ARK]) {
		problem(st, MHD_HTTP_NOT_FOUND, "no-certificates", "No certificates",
			"no certificates yet: the host gave none and none were found (see "
			"/v1/status collateral)");
		return;
	}
	if (prefers(st, "application/json", "application/x-pem-file")) {
		respond_json(st, MHD_HTTP_OK, certs_json_full(v), NULL);
		return;
	}
	/* PEM bundle: the endorsement key first, then ASK, then ARK */
	f = open_memstream(&pem, &len);
	if (!f) {
		problem(st, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "Internal error",
			"out of memory");
		return;
	}
	for (int i = SNPD_CERT_VLEK; i >= SNPD_CERT_ARK; i--)
		if (v->certs[i])
			fputs(v->certs[i], f);
	fclose(f);
	respond(st, MHD_HTTP_OK, response_copy(pem, len, "application/x-pem-file"));
	free(pem);
}

static void handle_metrics(struct req_state *st);

static json_t *http_status(struct snpd_http *h);

static bool valid_profile_name(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= SNPD_NAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return false;
	return true;
}

/*
 * Methods RFC 9110 (and RFC 5789: PATCH) define, matched case-sensitively:
 * those snpd does not serve on a resource get 405 there, any other 501.
 */
static bool known_method(const char *m)
{
	static const char *const methods[] = { "GET",	  "HEAD",    "POST",  "PUT",  "DELETE",
					       "CONNECT", "OPTIONS", "TRACE", "PATCH" };

	for (size_t i = 0; i < SNP_ELEMENTSOF(methods); i++)
		if (!strcmp(m, methods[i]))
			return true;
	return false;
}

/*
 * The path of a request target in absolute-form ("http://host/v1/status"),
 * which a server must accept (RFC 9112 3.2.2): what follows the authority
 * ("/" when nothing does). Any other target as it is.
 */
static const char *origin_path(const char *url)
{
	const char *p;

	if (!strncasecmp(url, "http://", 7))
		url += 7;
	else if (!strncasecmp(url, "https://", 8))
		url += 8;
	else
		return url;
	p = strchr(url, '/');
	return p ? p : "/";
}

/*
 * Route a complete request. Everything ends in st->response except device
 * requests, which suspend the connection.
 */
static void dispatch(struct req_state *st, const char *url, const char *method)
{
	struct snpd *d = st->l->h->d;
	bool get = !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
	bool post = !strcmp(method, MHD_HTTP_METHOD_POST);
	const char *allow = NULL;

	if (st->too_large) {
		problem(st, MHD_HTTP_CONTENT_TOO_LARGE, "body-too-large", "Body too large",
			"request bodies are limited to %d bytes", HTTP_BODY_MAX);
		return;
	}
	/* RFC 9110 9.1: an unrecognized method is 501, whatever the resource */
	if (!known_method(method)) {
		problem(st, MHD_HTTP_NOT_IMPLEMENTED, "method-not-implemented",
			"Method not implemented",
			"%.16s is not a method snpd knows (methods are case-sensitive)", method);
		return;
	}
	url = origin_path(url);
	if (!strcmp(url, "/v1/report")) {
		st->ep = EP_REPORT;
		if (get || post)
			return handle_report(st, method);
		allow = "GET, HEAD, POST";
	} else if (!strcmp(url, "/v1/certificates")) {
		st->ep = EP_CERTS;
		if (get)
			return handle_certs(st);
		allow = "GET, HEAD";
	} else if (!strcmp(url, "/v1/evidence")) {
		st->ep = EP_EVIDENCE;
		if (get)
			return handle_evidence(st);
		allow = "GET, HEAD";
	} else if (!strcmp(url, "/v1/platform")) {
		st->ep = EP_PLATFORM;
		if (get && !d->view)
			return no_view_problem(st);
		if (get) {
			respond(st, MHD_HTTP_OK,
				response_copy(d->view->platform_json,
					      strlen(d->view->platform_json), "application/json"));
			return;
		}
		allow = "GET, HEAD";
	} else if (!strncmp(url, "/v1/keys/", 9) && valid_profile_name(url + 9)) {
		st->ep = EP_KEYS;
		if (post)
			return handle_key(st, url + 9);
		allow = "POST";
	} else if (!strcmp(url, "/v1/log") || !strcmp(url, "/v1/log/events")) {
		st->ep = EP_LOG;
		if (!strcmp(url, "/v1/log") ? get : post)
			return handle_log(st, post);
		allow = !strcmp(url, "/v1/log") ? "GET, HEAD" : "POST";
	} else if (!strcmp(url, "/v1/status")) {
		st->ep = EP_STATUS;
		if (get) {
			json_t *j = snpd_status_json(d);

			json_object_set_new(j, "http", http_status(st->l->h));
			respond_json(st, MHD_HTTP_OK, j, NULL);
			return;
		}
		allow = "GET, HEAD";
	} else if (!strcmp(url, "/healthz")) {
		st->ep = EP_HEALTHZ;
		if (get) {
			char reason[256];

			/* healthy only while requests succeed */
			switch (snpd_health(d, reason, sizeof(reason))) {
			case SNPD_HEALTH_DEAD:
				problem(st, MHD_HTTP_SERVICE_UNAVAILABLE, "device-dead",
					"Attestation unavailable", "%s", reason);
				break;
			case SNPD_HEALTH_DEGRADED:
				problem(st, MHD_HTTP_SERVICE_UNAVAILABLE, "degraded", "Degraded",
					"%s", reason);
				break;
			default: {
				/*
				 * Serving: ok (liveness). A stale view whose refresh
				 * failed refuses evidence of the new platform, and
				 * says so on a second line, the status says more.
				 */
				char body[1024] = "ok\n";

				if (snpd_stale_view_note(d, body + 3, sizeof(body) - 4))
					strcat(body, "\n");
				respond(st, MHD_HTTP_OK,
					response_copy(body, strlen(body), "text/plain"));
			}
			}
			return;
		}
		allow = "GET, HEAD";
	} else if (!strcmp(url, "/metrics")) {
		st->ep = EP_METRICS;
		if (get)
			return handle_metrics(st);
		allow = "GET, HEAD";
	} else {
		st->ep = EP_OTHER;
		problem(st, MHD_HTTP_NOT_FOUND, "not-found", "Not found",
			"no such endpoint (/v1/report, /v1/evidence, /v1/certificates, /v1/platform, "
			"/v1/keys/NAME, /v1/log, /v1/log/events, /v1/status, /healthz, /metrics)");
		return;
	}
	problem(st, MHD_HTTP_METHOD_NOT_ALLOWED, "method-not-allowed", "Method not allowed",
		"%.16s is not allowed here; use %s", method, allow);
	MHD_add_response_header(st->response, MHD_HTTP_HEADER_ALLOW, allow);
}

static struct conn_track *track_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

static void cut(struct snpd_http *h, struct conn_track *t, int fd, unsigned int status,
		const char *phrase, const char *type, const char *title, const char *detail);

/* Connection @t was refused before its request was read whole: linger at its close. */
static void linger_later(struct snpd_http *h, struct conn_track *t)
{
	if (t && !t->linger_usec)
		t->linger_usec = now_usec(h) + (u64)HTTP_LINGER_SEC * 1000000;
}

/*
 * The state of a request answered on the socket already (on_uri): MHD only
 * closes the connection. Never written; shared, since MHD may drop such a
 * request without on_completed (when its pool ran out on the parameters).
 */
static struct req_state cut_request;

static struct req_state *req_state_new(struct listener *l, struct MHD_Connection *conn)
{
	struct req_state *st = calloc(1, sizeof(*st));

	if (st) {
		st->l = l;
		st->conn = conn;
		st->ep = EP_OTHER;
	}
	return st;
}

/*
 * MHD's URI log callback: the raw request-target, before MHD splits and
 * decodes it, and before it stores the query parameters in its
 * per-connection pool. A target over the limits is answered here on the
 * socket, since MHD would stall (the pool runs out) or answer in HTML.
 * Returns the request's state (new), which MHD hands to on_access.
 */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct listener *l = cls;
	size_t path_len = strcspn(uri, "?"), args = 0;
	const union MHD_ConnectionInfo *ci;
	struct conn_track *t;
	struct req_state *st;
	bool many;

	/*
	 * A connection cut already (refused by admit(), evicted, timed out)
	 * may still bring a request that was in its socket before the cut:
	 * MHD reads it. It must not run: its client was told 503 or 408.
	 */
	t = track_of(conn);
	if (t && t->gone)
		return &cut_request;
	for (const char *c = uri + path_len; *c; c++)
		if (*c == '&' || *c == '?')
			args++;
	many = args > HTTP_ARGS_MAX;
	if (!many && strlen(uri) <= HTTP_URI_MAX) {
		st = req_state_new(l, conn);
		for (size_t i = 0; st && i + 2 < path_len; i++)
			if (uri[i] == '%' && uri[i + 1] == '0' && uri[i + 2] == '0')
				st->nul_in_path = true;
		return st;
	}
	if (t)
		t->deadline_usec = 0;
	count(l->h, EP_OTHER, many ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_URI_TOO_LONG);
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci && many)
		cut(l->h, t, ci->connect_fd, MHD_HTTP_BAD_REQUEST, "Bad Request",
		    "invalid-parameter", "Invalid parameter", "more than 16 query parameters");
	else if (ci)
		cut(l->h, t, ci->connect_fd, MHD_HTTP_URI_TOO_LONG, "URI Too Long", "uri-too-long",
		    "URI too long", "the request target is limited to 4096 bytes");
	return &cut_request;
}

struct header_scan {
	unsigned int host, content_length, transfer_encoding;
	bool nul;
	bool bad_name;
	const char *length;
};

/* A field name is a token (RFC 9110 5.6.2): tchar only, so no SP, HTAB, ':' or controls. */
static bool is_token(const char *s, size_t n)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("!#$%&'*+-.^_`|~", c)) ||
		    !c)
			return false;
	}
	return true;
}

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
				   size_t key_size, const char *value, size_t value_size)
{
	struct header_scan *hs = cls;

	if (strlen(key) != key_size || (value && strlen(value) != value_size))
		hs->nul = true;
	/*
	 * libmicrohttpd keeps "Content-Length : 40" as a field named
	 * "Content-Length ", which nobody would then take for the length: the
	 * declared body would be read as the next request. RFC 9112 5.1: 400.
	 */
	if (!is_token(key, key_size))
		hs->bad_name = true;
	if (!strcasecmp(key, MHD_HTTP_HEADER_HOST)) {
		hs->host++;
	} else if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
		hs->content_length++;
		hs->length = value;
	} else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
		hs->transfer_encoding++;
	}
	return MHD_YES;
}

/*
 * Checks on a request's head (RFC 9110, RFC 9112), before MHD reads a body
 * or sends 100 Continue: a refusal is stored in st->response.
 */
static void check_request(struct req_state *st, const char *method, const char *version)
{
	struct header_scan hs = { 0 };
	bool post = !strcmp(method, MHD_HTTP_METHOD_POST);
	unsigned long long len = 0;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(st->conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);

	MHD_get_connection_values_n(st->conn, MHD_HEADER_KIND, scan_header, &hs);
	if (ci && ci->header_size > HTTP_HEADERS_MAX) {
		problem(st, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, "headers-too-large",
			"Header fields too large", "the request head is limited to %d bytes",
			HTTP_HEADERS_MAX);
	} else if (hs.nul) {
		problem(st, MHD_HTTP_BAD_REQUEST, "invalid-header", "Invalid header",
			"a header contains a NUL");
	} else if (hs.bad_name) {
		problem(st, MHD_HTTP_BAD_REQUEST, "invalid-header", "Invalid header",
			"a header name is not a token (whitespace before the colon?)");
	} else if (hs.host > 1 || (!hs.host && !strcmp(version, MHD_HTTP_VERSION_1_1))) {
		problem(st, MHD_HTTP_BAD_REQUEST, "invalid-header", "Invalid header",
			"an HTTP/1.1 request needs exactly one Host header");
	} else if (hs.content_length > 1 || (hs.content_length && hs.transfer_encoding)) {
		problem(st, MHD_HTTP_BAD_REQUEST, "invalid-header", "Invalid header",
			"more than one Content-Length, or Content-Length with "
			"Transfer-Encoding");
	} else if (hs.transfer_encoding) {
		/* no chunked bodies: a chunk size is not ours to check in MHD */
		problem(st, MHD_HTTP_LENGTH_REQUIRED, "length-required", "Length required",
			"request bodies need a Content-Length (no Transfer-Encoding)");
	} else if (st->nul_in_path) {
		problem(st, MHD_HTTP_BAD_REQUEST, "invalid-uri", "Invalid URI",
			"the path contains a NUL (%%00)");
	} else {
		if (hs.length) {
			/* MHD refuses a malformed Content-Length itself */
			if (strspn(hs.length, "0123456789") != strlen(hs.length) ||
			    strlen(hs.length) > 18)
				len = ULLONG_MAX;
			else
				len = strtoull(hs.length, NULL, 10);
		}
		if (len > HTTP_BODY_MAX)
			problem(st, MHD_HTTP_CONTENT_TOO_LARGE, "body-too-large", "Body too large",
				"request bodies are limited to %d bytes", HTTP_BODY_MAX);
		else if (len && !post)
			problem(st, MHD_HTTP_BAD_REQUEST, "unexpected-body", "Unexpected body",
				"only POST takes a request body, not %.16s", method);
	}
}

/*
 * Queue st->response (MHD_NO if there is none or MHD refuses it). Every
 * answer passes here (but cut()'s, which says the same): none may be kept
 * by a cache (RFC 9111 5.2.2.5), since reports, evidence, status and
 * errors are of their moment; only /v1/log says no-cache itself, to be
 * revalidated with its ETag. An answer chosen by Accept (prefers()) says
 * so (RFC 9110 12.5.5).
 */
static enum MHD_Result queue(struct req_state *st)
{
	enum MHD_Result ret;

	if (!st->response)
		return MHD_NO;
	if (!MHD_get_response_header(st->response, MHD_HTTP_HEADER_CACHE_CONTROL))
		MHD_add_response_header(st->response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (st->vary_accept)
		MHD_add_response_header(st->response, MHD_HTTP_HEADER_VARY, MHD_HTTP_HEADER_ACCEPT);
	count(st->l->h, st->ep, st->status);
	ret = MHD_queue_response(st->conn, st->status, st->response);
	MHD_destroy_response(st->response);
	st->response = NULL;
	st->answered = true;
	return ret;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version, const char *upload,
				 size_t *upload_size, void **con_cls)
{
	struct listener *l = cls;
	struct req_state *st = *con_cls;
	struct conn_track *t;

	/*
	 * One MHD_run() can take many milliseconds with many clients: take
	 * the device's answer now if it is there, so the next request goes
	 * to the device without waiting for the run to end.
	 */
	snpd_broker_poll(l->h->d->broker);
	if (!st) {
		st = req_state_new(l, conn);
		if (!st)
			return MHD_NO;
		*con_cls = st;
	}
	if (st == &cut_request)
		return MHD_NO;
	t = track_of(conn);
	/* cut (cut()): MHD closes it now, the lingering close drops the rest */
	if (t && t->gone)
		return MHD_NO;
	if (!st->started) {
		/* the head is here, the body (if any) is not: refuse before 100 Continue */
		st->started = true;
		t = track_of(conn);
		if (t)
			t->busy = true;
		check_request(st, method, version);
		if (!st->response)
			return MHD_YES;
		/*
		 * Refused by its head: where its body ends may be unknown (a
		 * Content-Length MHD did not take for one), so nothing after
		 * it on this connection is read as a request.
		 */
		MHD_add_response_header(st->response, MHD_HTTP_HEADER_CONNECTION, "close");
		linger_later(l->h, t);
		return queue(st);
	}
	if (st->answered) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (st->abandoned)
		return MHD_NO; /* its client is gone: close */
	if (*upload_size) {
		if (st->too_large || st->body_len + *upload_size > HTTP_BODY_MAX) {
			st->too_large = true; /* drain, then answer 413 */
		} else {
			char *b = realloc(st->body, st->body_len + *upload_size + 1);

			if (!b)
				return MHD_NO;
			st->body = b;
			memcpy(st->body + st->body_len, upload, *upload_size);
			st->body_len += *upload_size;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (!st->response && !st->waiting) {
		t = track_of(conn);
		/* cut while its head or body arrived (on_uri()): not served */
		if (t && t->gone)
			return MHD_NO;
		/* the request is complete: no more deadline while it is served */
		if (t)
			t->deadline_usec = 0;
		if (l->h->stopping)
			problem(st, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting-down", "Shutting down",
				"snpd is stopping");
		else
			dispatch(st, url, method);
	}
	if (st->waiting)
		return MHD_YES;
	return queue(st);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct listener *l = cls;
	struct req_state *st = *con_cls;
	struct conn_track *t = track_of(conn);

	/* the next request on this connection must arrive in time, too */
	if (t) {
		t->deadline_usec =
			now_usec(l->h) + (u64)l->h->d->config.request_timeout_sec * 1000000;
		t->busy = false;
	}
	*con_cls = NULL;
	if (!st || st == &cut_request)
		return;
	if (st->track && st->track->waiter == st)
		st->track->waiter = NULL;
	if (st->response)
		MHD_destroy_response(st->response);
	free(st->body);
	free(st);
}

/*
 * Answer a connection with a problem response straight on its socket and
 * shut down its sending side. Used for connections MHD is still reading (a
 * slow request) or never should serve (over the limit), where no MHD
 * response can be queued. Its reading side stays open, so that the client
 * can send the rest of its request and read this answer: what comes next
 * makes MHD close the connection (on_uri(), on_access() refuse a cut one),
 * after which it lingers (on_connection()); a client that sends nothing
 * more has the connection shut down by on_sweep() at the end of the
 * lingering time (@t: its track, NULL: shut down at once).
 */
static void cut(struct snpd_http *h, struct conn_track *t, int fd, unsigned int status,
		const char *phrase, const char *type, const char *title, const char *detail)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	char body[256], msg[600], date[40] = "";
	time_t now = time(NULL);
	struct tm tm;
	int n;

	/* RFC 9110 6.6.1: a Date (IMF-fixdate) on every 4xx, as MHD's answers have */
	if (gmtime_r(&now, &tm))
		snprintf(date, sizeof(date), "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n",
			 days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
			 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	n = snprintf(body, sizeof(body),
		     "{\"type\":\"" PROBLEM_PREFIX "%s\",\"title\":\"%s\",\"status\":%u,"
		     "\"detail\":\"%s\"}",
		     type, title, status, detail);
	n = snprintf(msg, sizeof(msg),
		     "HTTP/1.1 %u %s\r\n%sConnection: close\r\nCache-Control: no-store\r\n"
		     "Content-Type: application/problem+json\r\nContent-Length: %d\r\n\r\n%s",
		     status, phrase, date, n, body);
	if (n > 0 && (size_t)n < sizeof(msg))
		(void)!send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (t) {
		t->gone = true;
		t->deadline_usec = 0;
	}
	/* cut connections still open wait for their end: as many as may linger */
	if (t) {
		u32 waiting = 0;

		for (struct conn_track *u = h->conns; u; u = u->next)
			waiting += u->gone && u->linger_usec;
		if (waiting < HTTP_LINGER_MAX) {
			linger_later(h, t);
			shutdown(fd, SHUT_WR);
			return;
		}
	}
	shutdown(fd, SHUT_RDWR);
}

static struct drain *linger_free(struct drain *g)
{
	struct snpd_http *h = g->h;

	if (g->prev)
		g->prev->next = g->next;
	else
		h->lingering = g->next;
	if (g->next)
		g->next->prev = g->prev;
	h->n_lingering--;
	sd_event_source_disable_unref(g->io);
	close(g->fd);
	free(g);
	return NULL;
}

static int on_linger_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	static u8 sink[64 * 1024];
	struct drain *g = userdata;

	for (int i = 0; i < 16; i++) {
		ssize_t n = recv(fd, sink, g->left < sizeof(sink) ? g->left : sizeof(sink),
				 MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0 || (size_t)n >= g->left) {
			/* the client's end, an error, or enough: close */
			linger_free(g);
			return 0;
		}
		g->left -= (size_t)n;
	}
	return 0;
}

/*
 * MHD closes connection @t, which was refused before its request was read
 * whole: keep the socket (a duplicate of MHD's fd, which MHD closes after
 * this) to drop the rest of the request within the bounds, then close.
 */
static void linger_start(struct snpd_http *h, struct conn_track *t)
{
	struct drain *g;
	struct stat sb;
	int fd;

	if (t->fd < 0 || h->stopping || now_usec(h) >= t->linger_usec ||
	    h->n_lingering >= HTTP_LINGER_MAX)
		return;
	/* MHD has not closed it yet: the fd is still this connection's socket */
	if (fstat(t->fd, &sb) < 0 || !S_ISSOCK(sb.st_mode) || sb.st_ino != t->ino)
		return;
	g = calloc(1, sizeof(*g));
	if (!g)
		return;
	fd = fcntl(t->fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0) {
		free(g);
		return;
	}
	shutdown(fd, SHUT_WR);
	g->h = h;
	g->fd = fd;
	g->deadline_usec = t->linger_usec;
	g->left = HTTP_LINGER_BYTES;
	if (sd_event_add_io(h->d->event, &g->io, fd, EPOLLIN | EPOLLRDHUP, on_linger_io, g) < 0) {
		close(fd);
		free(g);
		return;
	}
	g->next = h->lingering;
	if (h->lingering)
		h->lingering->prev = g;
	h->lingering = g;
	h->n_lingering++;
	h->lingered++;
}

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/* The peer with the most live connections on @l (0 connections: none). */
static u64 heaviest_peer(struct snpd_http *h, struct listener *l, u32 *ret_n)
{
	u64 *v = calloc(l->open ? l->open : 1, sizeof(*v)), best = 0;
	u32 n = 0, best_n = 0, run = 0;

	*ret_n = 0;
	if (!v)
		return 0;
	for (struct conn_track *u = h->conns; u && n < l->open; u = u->next)
		if (u->l == l && !u->gone)
			v[n++] = u->peer;
	qsort(v, n, sizeof(*v), cmp_u64);
	for (u32 i = 0; i < n; i++) {
		run = i && v[i] == v[i - 1] ? run + 1 : 1;
		if (run > best_n) {
			best_n = run;
			best = v[i];
		}
	}
	free(v);
	*ret_n = best_n;
	return best;
}

/*
 * Admit the new connection @t on @l, or cut it. A peer (a uid, see
 * peer_id()) may hold MaxConnectionsPerClient= connections; when the
 * listener has MaxConnections=, the oldest idle connection of the peer
 * holding the most makes room, so that one peer never takes the socket
 * from the others. MaxConnections= is enforced here rather than by MHD's
 * own limit: a clear 503 beats a silent backlog, and MHD's limit (kept
 * above this one as a backstop) stalls its epoll mode.
 */
static void admit(struct snpd_http *h, struct listener *l, struct conn_track *t)
{
	const struct snpd_config *c = &h->d->config;
	struct conn_track *victim = NULL;
	u32 live = 0, mine = 0, n;
	u64 peer;

	if (t->fd < 0)
		return;
	for (struct conn_track *u = h->conns; u; u = u->next)
		if (u->l == l && !u->gone) {
			live++;
			mine += u->peer == t->peer;
		}
	if (c->max_connections_per_client && mine > c->max_connections_per_client) {
		h->refused++;
		cut(h, t, t->fd, 503, "Service Unavailable", "too-many-connections",
		    "Too many connections",
		    "MaxConnectionsPerClient reached for this client; close idle connections");
		return;
	}
	if (live <= c->max_connections)
		return;
	peer = heaviest_peer(h, l, &n);
	if (peer != t->peer && n > mine)
		for (struct conn_track *u = h->conns; u; u = u->next)
			if (u->l == l && !u->gone && !u->busy && u->peer == peer)
				victim = u; /* the list is newest first: the last is the oldest */
	if (!victim) {
		h->refused++;
		cut(h, t, t->fd, 503, "Service Unavailable", "too-many-connections",
		    "Too many connections", "MaxConnections reached; try again later");
		return;
	}
	/* an idle connection may be closed at any time (RFC 9112 9.6) */
	victim->deadline_usec = 0;
	victim->gone = true;
	h->evicted++;
	log_debug("MaxConnections reached: closing an idle connection of the busiest client");
	shutdown(victim->fd, SHUT_RDWR);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct listener *l = cls;
	struct snpd_http *h = l->h;
	struct conn_track *t = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		struct stat sb;

		t = calloc(1, sizeof(*t));
		if (!t)
			return;
		t->fd = ci ? ci->connect_fd : -1;
		t->l = l;
		if (t->fd >= 0 && fstat(t->fd, &sb) == 0)
			t->ino = sb.st_ino;
		t->cred = l->is_unix ? unix_cred(t->fd) : no_cred;
		t->peer = peer_id(h, l, t->fd, &t->cred);
		t->deadline_usec = now_usec(h) + (u64)h->d->config.request_timeout_sec * 1000000;
		t->next = h->conns;
		if (h->conns)
			h->conns->prev = t;
		h->conns = t;
		h->connections++;
		l->open++;
		*socket_context = t;
		admit(h, l, t);
	} else if (t) {
		if (t->linger_usec)
			linger_start(h, t);
		t->hup = sd_event_source_disable_unref(t->hup);
		if (t->waiter)
			t->waiter->track = NULL;
		t->l->open--;
		if (t->prev)
			t->prev->next = t->next;
		else
			h->conns = t->next;
		if (t->next)
			t->next->prev = t->prev;
		free(t);
		*socket_context = NULL;
	}
}

/*
 * Cut connections whose request did not arrive whole in time (a client
 * sending a byte a second): answer 408 on the socket and shut it down;
 * MHD then sees the end and closes it.
 */
static int on_sweep(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct snpd_http *h = userdata;
	u64 now = now_usec(h);

	for (struct conn_track *t = h->conns; t; t = t->next) {
		/* cut, and nothing came since to make MHD close it: now it does */
		if (t->gone && t->linger_usec && now >= t->linger_usec && t->fd >= 0) {
			t->linger_usec = 0;
			shutdown(t->fd, SHUT_RDWR);
		}
		if (!t->deadline_usec || now < t->deadline_usec || t->fd < 0)
			continue;
		h->timeouts++;
		cut(h, t, t->fd, 408, "Request Timeout", "request-timeout", "Request timeout",
		    "the request did not arrive in time");
	}
	for (struct drain *g = h->lingering, *next; g; g = next) {
		next = g->next;
		if (now >= g->deadline_usec)
			linger_free(g);
	}
	return sd_event_source_set_time_relative(s, 1000000);
}

static void rearm(struct listener *l)
{
	MHD_UNSIGNED_LONG_LONG to;

	if (l->resumed) {
		sd_event_source_set_time_relative(l->timer, 0);
		sd_event_source_set_enabled(l->timer, SD_EVENT_ONESHOT);
	} else if (MHD_get_timeout(l->mhd, &to) == MHD_YES) {
		sd_event_source_set_time_relative(l->timer, to * 1000);
		sd_event_source_set_enabled(l->timer, SD_EVENT_ONESHOT);
	} else {
		sd_event_source_set_enabled(l->timer, SD_EVENT_OFF);
	}
}

static int on_mhd_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct listener *l = userdata;

	l->resumed = false;
	MHD_run(l->mhd);
	rearm(l);
	return 0;
}

static int on_mhd_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct listener *l = userdata;

	l->resumed = false;
	MHD_run(l->mhd);
	rearm(l);
	return 0;
}

/* Takes @fd, and @unlink_dirfd (-1: none) whose @unlink_name is removed at the end. */
static int start_listener(struct snpd_http *h, int fd, bool is_unix, int unlink_dirfd,
			  const char *unlink_name)
{
	struct snpd_config *c = &h->d->config;
	const union MHD_DaemonInfo *info;
	struct listener *l;
	int r;

	if (h->n_listeners == HTTP_LISTENERS_MAX) {
		r = log_error_errno(E2BIG, "Too many API listeners");
		goto fail;
	}
	l = &h->listeners[h->n_listeners];
	memset(l, 0, sizeof(*l));
	l->h = h;
	l->fd = fd;
	l->unlink_dirfd = -1;
	l->is_unix = is_unix;
	l->mhd = MHD_start_daemon(
		MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO, 0, NULL, NULL, on_access,
		l, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, l,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, l, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
		l, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)c->max_connections + 64,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)c->idle_timeout_sec,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(HTTP_BODY_MAX + 16 * 1024),
		MHD_OPTION_END);
	if (!l->mhd) {
		r = log_error_errno(EINVAL, "Failed to start the HTTP server");
		goto fail;
	}
	info = MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info) {
		MHD_stop_daemon(l->mhd); /* closes @fd */
		fd = -1;
		r = log_error_errno(EINVAL, "The HTTP server has no epoll fd");
		goto fail;
	}
	r = sd_event_add_io(h->d->event, &l->io, info->epoll_fd, EPOLLIN, on_mhd_io, l);
	if (r >= 0)
		/* accuracy 1 us: the default (250 ms) would delay every resumed request */
		r = sd_event_add_time_relative(h->d->event, &l->timer, CLOCK_MONOTONIC, 0, 1,
					       on_mhd_timer, l);
	if (r < 0) {
		sd_event_source_disable_unref(l->io);
		MHD_stop_daemon(l->mhd); /* closes @fd */
		fd = -1;
		log_error_errno(r, "Failed to watch the HTTP server: %m");
		goto fail;
	}
	if (unlink_dirfd >= 0) {
		l->unlink_dirfd = unlink_dirfd;
		l->unlink_name = strdup(unlink_name);
	}
	h->n_listeners++;
	rearm(l);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	if (unlink_dirfd >= 0) {
		unlinkat(unlink_dirfd, unlink_name, 0);
		close(unlink_dirfd);
	}
	return r;
}

/*
 * May the directory @dir (its first @dirlen bytes) on the way to the API
 * socket be trusted? It must be owned by root or by us, and nobody else
 * may rename or replace what is in it: not writable by group or others,
 * except an ancestor with the sticky bit (such as /tmp), where others
 * cannot touch our entries. The socket's own directory gets no such
 * exception.
 */
static int check_socket_dir(const char *path, const char *dir, int dirlen, int dirfd, bool last)
{
	struct stat st;

	if (dirlen <= 0) {
		dir = dir[0] == '/' ? "/" : ".";
		dirlen = 1;
	}
	if (fstat(dirfd, &st) < 0)
		return log_error_errno(errno, "Socket=%s: cannot stat %.*s: %m", path, dirlen, dir);
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return log_error_errno(EPERM,
				       "Socket=%s: directory %.*s is owned by uid %u, not root; "
				       "refusing to put the API socket there",
				       path, dirlen, dir, (unsigned int)st.st_uid);
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && (last || !(st.st_mode & S_ISVTX)))
		return log_error_errno(EPERM,
				       "Socket=%s: directory %.*s is writable by group or others "
				       "(mode %04o); refusing to put the API socket there (use a "
				       "directory only root can write, e.g. /run/snpd)",
				       path, dirlen, dir, (unsigned int)(st.st_mode & 07777));
	return 0;
}

/*
 * Open the directory of the API socket @path, walking it one component at
 * a time without following a symlink (a symlinked directory is refused),
 * creating the last one (0755) if it is missing, and checking each with
 * check_socket_dir(). Returns the directory's O_PATH fd and points
 * *ret_name into @path at the socket's own name.
 */
static int open_socket_dir(const char *path, const char **ret_name)
{
	const char *name = strrchr(path, '/'), *p, *end;
	char comp[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
	int fd, r;

	name = name ? name + 1 : path;
	if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
		return log_error_errno(EINVAL, "Socket=%s: no file name", path);
	fd = open(path[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return log_error_errno(errno, "Socket=%s: cannot open its directory: %m", path);
	for (p = path;; p = end) {
		bool last;
		int nfd;

		while (*p == '/')
			p++;
		if (p == name)
			break;
		end = p + strcspn(p, "/");
		last = end + strspn(end, "/") == name;
		snprintf(comp, sizeof(comp), "%.*s", (int)(end - p), p);
		r = check_socket_dir(path, path, (int)(p - path) - 1, fd, false);
		if (r < 0)
			goto fail;
		if (!strcmp(comp, "..")) {
			r = log_error_errno(EINVAL, "Socket=%s: '..' is not allowed", path);
			goto fail;
		}
		nfd = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0 && errno == ENOENT && last) {
			if (mkdirat(fd, comp, 0755) < 0 && errno != EEXIST) {
				r = log_error_errno(errno, "Socket=%s: cannot create %.*s: %m",
						    path, (int)(end - path), path);
				goto fail;
			}
			nfd = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (nfd < 0) {
			r = -errno;
			if (r == -ENOTDIR || r == -ELOOP)
				log_error("Socket=%s: %.*s is a symlink or not a directory; the "
					  "socket's directories must be real directories",
					  path, (int)(end - path), path);
			else
				log_error_errno(r, "Socket=%s: cannot open %.*s: %m", path,
						(int)(end - path), path);
			goto fail;
		}
		close(fd);
		fd = nfd;
	}
	r = check_socket_dir(path, path, (int)(name - path) - 1, fd, true);
	if (r < 0)
		goto fail;
	*ret_name = name;
	return fd;
fail:
	close(fd);
	return r;
}

/*
 * @name in @dirfd: nothing, or a socket that nobody accepts on (left by a
 * killed instance), which is removed. A live socket (another snpd) is
 * refused, never taken; so is anything that is not a socket.
 */
static int clear_stale_at(int dirfd, const char *name, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, cwd, r;
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : log_error_errno(errno, "Socket=%s: %m", path);
	if (!S_ISSOCK(st.st_mode))
		return log_error_errno(EEXIST, "Socket=%s exists and is not a socket", path);
	if (strlen(name) >= sizeof(sa.sun_path))
		return log_error_errno(ENAMETOOLONG, "Socket=%s: path too long", path);
	strcpy(sa.sun_path, name);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || cwd < 0) {
		r = log_error_errno(errno, "Socket=%s: %m", path);
		goto out;
	}
	/* connect() in the directory we hold, as bind() below */
	r = fchdir(dirfd) < 0 ? -errno : 0;
	if (r == 0)
		r = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	if (fchdir(cwd) < 0) {
		r = log_error_errno(errno, "Cannot return to the working directory: %m");
		goto out;
	}
	if (r == 0 || r == -EAGAIN || r == -EINPROGRESS) {
		r = log_error_errno(
			EADDRINUSE,
			"Socket=%s is a live socket (another snpd?); refusing to take it", path);
		goto out;
	}
	if (r != -ECONNREFUSED && r != -ENOENT) {
		log_error_errno(r, "Socket=%s: cannot tell whether it is in use: %m", path);
		goto out;
	}
	r = 0;
	if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
		r = log_error_errno(errno, "Failed to remove the stale socket %s: %m", path);
	else
		log_notice("Removed a stale socket %s left by an earlier instance", path);
out:
	if (cwd >= 0)
		close(cwd);
	if (fd >= 0)
		close(fd);
	return r;
}

int snpd_http_clear_stale_socket(const char *path)
{
	struct sockaddr_un sa;
	const char *name = NULL;
	int dirfd, r;

	if (!path || !*path)
		return 0;
	if (strlen(path) >= sizeof(sa.sun_path))
		return log_error_errno(ENAMETOOLONG, "Socket=%s: path too long", path);
	dirfd = open_socket_dir(path, &name);
	if (dirfd < 0)
		return dirfd;
	r = clear_stale_at(dirfd, name, path);
	close(dirfd);
	return r;
}

/*
 * The API socket, created without following a name: in the directory
 * opened by open_socket_dir(), with its final mode from the umask at
 * bind() (a unix socket's file takes its mode from there) and its owner
 * set relative to that directory without following a symlink. Nothing is
 * ever done to the socket's path after bind(). Returns the listening fd
 * and the directory's fd in *ret_dirfd.
 */
static int bind_unix(const struct snpd_config *c, int *ret_dirfd, const char **ret_name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = c->api_socket, *name = NULL;
	int fd = -1, dirfd, cwd = -1, r;
	mode_t old;

	if (strlen(path) >= sizeof(sa.sun_path))
		return log_error_errno(ENAMETOOLONG, "Socket=%s: path too long", path);
	dirfd = open_socket_dir(path, &name);
	if (dirfd < 0)
		return dirfd;
	strcpy(sa.sun_path, name);
	/* a socket left by an earlier instance, never a live one */
	r = clear_stale_at(dirfd, name, path);
	if (r < 0)
		goto fail;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || cwd < 0) {
		r = log_error_errno(errno, "Failed to create the API socket: %m");
		goto fail;
	}
	/*
	 * bind() in the directory we hold (there is no bindat()); the process
	 * is single-threaded here but for the idle broker worker, which
	 * neither creates files nor uses relative paths.
	 */
	old = umask(~c->api_socket_mode & 0777);
	r = fchdir(dirfd) < 0 ? -errno : 0;
	if (r == 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		r = -errno;
	if (fchdir(cwd) < 0 && r == 0)
		r = -errno;
	umask(old);
	if (r < 0) {
		log_error_errno(r, "Failed to bind %s: %m", path);
		goto fail;
	}
	if (fchownat(dirfd, name, c->api_socket_uid, c->api_socket_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
	    listen(fd, SOMAXCONN) < 0) {
		r = log_error_errno(errno, "Failed to listen on %s: %m", path);
		unlinkat(dirfd, name, 0);
		goto fail;
	}
	close(cwd);
	*ret_dirfd = dirfd;
	*ret_name = name;
	return fd;
fail:
	if (cwd >= 0)
		close(cwd);
	if (fd >= 0)
		close(fd);
	close(dirfd);
	return r;
}

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		/* ::1, and ::ffff:127.0.0.0/104 (127/8 through a dual-stack socket) */
		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

static int bind_tcp(const struct snpd_config *c)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	char host[128], *port;
	struct addrinfo *ai;
	const char *s = c->listen;
	int fd, r, one = 1;

	if (strlen(s) >= sizeof(host))
		return log_error_errno(EINVAL, "Listen=%s: too long", s);
	if (s[0] == '[') {
		strcpy(host, s + 1);
		port = strstr(host, "]:");
		if (!port)
			return log_error_errno(EINVAL, "Listen=%s: expected [ADDR]:PORT", s);
		*port = '\0';
		port += 2;
	} else {
		strcpy(host, s);
		port = strrchr(host, ':');
		if (!port)
			return log_error_errno(EINVAL, "Listen=%s: expected ADDR:PORT", s);
		*port++ = '\0';
	}
	r = getaddrinfo(host, port, &hints, &ai);
	if (r != 0)
		return log_error_errno(EINVAL, "Listen=%s: %s", s, gai_strerror(r));
	if (!is_loopback(ai->ai_addr) && !c->listen_any) {
		freeaddrinfo(ai);
		return log_error_errno(EPERM,
				       "Listen=%s is not a loopback address; set "
				       "ListenNonLoopback=yes to allow it",
				       s);
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
		r = log_error_errno(errno, "Failed to listen on %s: %m", s);
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return r;
	}
	freeaddrinfo(ai);
	return fd;
}

int snpd_http_new(struct snpd *d, struct snpd_http **ret)
{
	struct snpd_http *h = calloc(1, sizeof(*h));
	char **names = NULL;
	bool have_unix = false, have_tcp = false;
	int n, r = 0;

	if (!h)
		return -ENOMEM;
	h->d = d;
	h->diag_fd = -1;
	/* socket activation first */
	n = sd_listen_fds_with_names(1, &names);
	if (n < 0)
		log_warning_errno(n, "Ignoring passed sockets: %m");
	for (int i = 0; i < n && r >= 0; i++) {
		int fd = SD_LISTEN_FDS_START + i;

		/* the FUSE connection from the fd store is the daemon's (snpd.c) */
		if (names && names[i] && strcmp(names[i], "fuse") == 0)
			continue;
		if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) > 0) {
			r = start_listener(h, fd, true, -1, NULL);
			have_unix = true;
		} else if (sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, 1, 0) > 0) {
			r = start_listener(h, fd, false, -1, NULL);
			have_tcp = true;
		} else {
			log_warning("Ignoring passed fd %d (%s): not a listening stream socket", fd,
				    names && names[i] ? names[i] : "?");
			close(fd);
		}
	}
	for (int i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
	if (r < 0)
		goto fail;
	if (have_unix || have_tcp)
		log_info("HTTP API on %d socket(s) passed by the service manager",
			 d->n_passed_sockets);

	/* the fallback: bind what the configuration says */
	if (!have_unix && d->config.api_socket[0]) {
		const char *name = NULL;
		int dirfd = -1, fd = bind_unix(&d->config, &dirfd, &name);

		if (fd < 0) {
			r = fd;
			goto fail;
		}
		r = start_listener(h, fd, true, dirfd, name);
		if (r < 0)
			goto fail;
		log_info("HTTP API on unix socket %s", d->config.api_socket);
	}
	if (!have_tcp && d->config.listen[0]) {
		int fd = bind_tcp(&d->config);

		if (fd < 0) {
			r = fd;
			goto fail;
		}
		r = start_listener(h, fd, false, -1, NULL);
		if (r < 0)
			goto fail;
		log_info("HTTP API on tcp %s", d->config.listen);
	}
	r = sd_event_add_time_relative(d->event, &h->sweep, CLOCK_MONOTONIC, 1000000, 0, on_sweep,
				       h);
	if (r < 0)
		goto fail;
	sd_event_source_set_enabled(h->sweep, SD_EVENT_ON);
	*ret = h;
	return 0;
fail:
	snpd_http_free(h);
	return r;
}

struct snpd_http *snpd_http_free(struct snpd_http *h)
{
	if (!h)
		return NULL;
	/*
	 * The broker is gone: the requests it cancelled resumed their
	 * connections with a 503 shutting-down. Let MHD write those answers
	 * (non-blocking runs) before it closes every connection; a request
	 * that completes meanwhile gets the same 503 (on_access).
	 */
	h->stopping = true;
	for (int k = 0; k < 8; k++)
		for (size_t i = 0; i < h->n_listeners; i++)
			MHD_run(h->listeners[i].mhd);
	for (size_t i = 0; i < h->n_listeners; i++) {
		struct listener *l = &h->listeners[i];

		sd_event_source_disable_unref(l->io);
		sd_event_source_disable_unref(l->timer);
		MHD_stop_daemon(l->mhd); /* closes the listening socket, l->fd */
		if (l->unlink_dirfd >= 0) {
			if (l->unlink_name)
				unlinkat(l->unlink_dirfd, l->unlink_name, 0);
			free(l->unlink_name);
			close(l->unlink_dirfd);
		}
	}
	sd_event_source_disable_unref(h->sweep);
	while (h->lingering)
		linger_free(h->lingering);
	if (h->diag_fd >= 0)
		close(h->diag_fd);
	free(h);
	return NULL;
}

static json_t *http_status(struct snpd_http *h)
{
	json_t *byep = json_object();

	for (size_t i = 0; byep && i < h->n_counts; i++) {
		char code[8];
		json_t *e = json_object_get(byep, ep_names[h->counts[i].ep]);

		if (!e) {
			e = json_object();
			json_object_set_new(byep, ep_names[h->counts[i].ep], e);
		}
		snprintf(code, sizeof(code), "%u", h->counts[i].code);
		json_object_set_new(e, code, json_integer((json_int_t)h->counts[i].n));
	}
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o*}", "connections",
			 (json_int_t)h->connections, "request_timeouts", (json_int_t)h->timeouts,
			 "connections_refused", (json_int_t)h->refused, "connections_evicted",
			 (json_int_t)h->evicted, "connections_lingered", (json_int_t)h->lingered,
			 "connections_lingering", (json_int_t)h->n_lingering, "requests", byep);
}

json_t *snpd_http_status_json(struct snpd_http *h)
{
	return http_status(h);
}

static void handle_metrics(struct req_state *st)
{
	struct snpd_http *h = st->l->h;
	struct snpd_broker_stats bs;
	char *text = NULL;
	size_t len = 0;
	u64 cum = 0;
	FILE *f;

	snpd_broker_get_stats(h->d->broker, &bs);
	f = open_memstream(&text, &len);
	if (!f) {
		problem(st, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "Internal error",
			"out of memory");
		return;
	}
	fprintf(f, "# HELP snpd_http_requests_total HTTP requests by endpoint and status.\n"
		   "# TYPE snpd_http_requests_total counter\n");
	for (size_t i = 0; i < h->n_counts; i++)
		fprintf(f, "snpd_http_requests_total{endpoint=\"%s\",code=\"%u\"} %llu\n",
			ep_names[h->counts[i].ep], h->counts[i].code,
			(unsigned long long)h->counts[i].n);
	fprintf(f, "# HELP snpd_device_latency_seconds Time the device took per request.\n"
		   "# TYPE snpd_device_latency_seconds histogram\n");
	for (size_t i = 0; i < SNP_ELEMENTSOF(bs.latency_buckets); i++) {
		cum += bs.latency_buckets[i];
		if (i + 1 < SNP_ELEMENTSOF(bs.latency_buckets))
			fprintf(f, "snpd_device_latency_seconds_bucket{le=\"%g\"} %llu\n",
				(double)(1ULL << i) / 1000.0, (unsigned long long)cum);
		else
			fprintf(f, "snpd_device_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
				(unsigned long long)cum);
	}
	fprintf(f,
		"snpd_device_latency_seconds_sum %.6f\n"
		"snpd_device_latency_seconds_count %llu\n"
		"# HELP snpd_queue_depth Requests waiting for the device.\n"
		"# TYPE snpd_queue_depth gauge\nsnpd_queue_depth %u\n"
		"# HELP snpd_busy_backoffs_total Times the host stayed BUSY and snpd backed off.\n"
		"# TYPE snpd_busy_backoffs_total counter\nsnpd_busy_backoffs_total %llu\n"
		"# HELP snpd_rate_limited_total Requests refused by the per-client rate limit.\n"
		"# TYPE snpd_rate_limited_total counter\nsnpd_rate_limited_total %llu\n"
		"# HELP snpd_queue_full_total Requests refused because the queue was full.\n"
		"# TYPE snpd_queue_full_total counter\nsnpd_queue_full_total %llu\n"
		"# HELP snpd_device_requests_total Device requests by result.\n"
		"# TYPE snpd_device_requests_total counter\n"
		"snpd_device_requests_total{result=\"ok\"} %llu\n"
		"snpd_device_requests_total{result=\"error\"} %llu\n"
		"# HELP snpd_device_up 1 while the device serves, 0 once it is dead.\n"
		"# TYPE snpd_device_up gauge\nsnpd_device_up %d\n"
		"# HELP snpd_http_request_timeouts_total Connections cut by RequestTimeoutSec.\n"
		"# TYPE snpd_http_request_timeouts_total counter\n"
		"snpd_http_request_timeouts_total %llu\n",
		(double)bs.latency_sum_usec / 1e6, (unsigned long long)cum, bs.queue_depth,
		(unsigned long long)bs.busy_backoffs, (unsigned long long)bs.rate_limited,
		(unsigned long long)bs.queue_full, (unsigned long long)(bs.completed - bs.failed),
		(unsigned long long)bs.failed, bs.dead ? 0 : 1, (unsigned long long)h->timeouts);
	if (h->d->batcher) {
		struct snpd_batch_stats es;

		snpd_batcher_get_stats(h->d->batcher, &es);
		fprintf(f,
			"# HELP snpd_evidence_requests_total Nonces that joined an evidence batch.\n"
			"# TYPE snpd_evidence_requests_total counter\n"
			"snpd_evidence_requests_total %llu\n"
			"# HELP snpd_evidence_batches_total Evidence batches sent to the device.\n"
			"# TYPE snpd_evidence_batches_total counter\n"
			"snpd_evidence_batches_total %llu\n",
			(unsigned long long)es.members, (unsigned long long)es.batches);
	}
	fprintf(f,
		"# HELP snpd_requests_cancelled_total Queued requests dropped: their client went "
		"away.\n"
		"# TYPE snpd_requests_cancelled_total counter\nsnpd_requests_cancelled_total %llu\n"
		"# HELP snpd_http_connections_evicted_total Idle connections of the busiest client "
		"closed at MaxConnections.\n"
		"# TYPE snpd_http_connections_evicted_total counter\n"
		"snpd_http_connections_evicted_total %llu\n",
		(unsigned long long)bs.cancelled, (unsigned long long)h->evicted);
	{
		char reason[256];
		enum snpd_health health = snpd_health(h->d, reason, sizeof(reason));

		fprintf(f, "# HELP snpd_health 1 for the current health (ok, degraded, dead).\n"
			   "# TYPE snpd_health gauge\n");
		for (int i = SNPD_HEALTH_OK; i <= SNPD_HEALTH_DEAD; i++)
			fprintf(f, "snpd_health{state=\"%s\"} %d\n", snpd_health_names[i],
				(int)health == i);
		fprintf(f,
			"# HELP snpd_device_consecutive_failures Device requests failed in a row.\n"
			"# TYPE snpd_device_consecutive_failures gauge\n"
			"snpd_device_consecutive_failures %u\n"
			"# HELP snpd_reference_reports_total Reference reports asked for.\n"
			"# TYPE snpd_reference_reports_total counter\n"
			"snpd_reference_reports_total %llu\n"
			"# HELP snpd_reloads_total Configuration reloads applied.\n"
			"# TYPE snpd_reloads_total counter\nsnpd_reloads_total %llu\n",
			bs.consecutive_failures, (unsigned long long)h->d->reference_reports,
			(unsigned long long)h->d->reloads);
	}
	{
		json_t *c = snpd_collateral_json(h->d);
		const char *state = json_string_value(json_object_get(c, "state"));
		json_t *age = json_object_get(c, "age_sec"),
		       *next = json_object_get(c, "next_retry");
		static const char *const states[] = { "complete", "partial", "none", "certs-dir" };

		fprintf(f, "# HELP snpd_collateral_state 1 for the collateral's state (complete: "
			   "VCEK/VLEK, ASK/ASVK, ARK and CRL).\n"
			   "# TYPE snpd_collateral_state gauge\n");
		for (size_t i = 0; i < SNP_ELEMENTSOF(states); i++)
			fprintf(f, "snpd_collateral_state{state=\"%s\"} %d\n", states[i],
				state && !strcmp(state, states[i]));
		fprintf(f,
			"# HELP snpd_kds_requests_total Requests made to AMD KDS (or KdsUrl=).\n"
			"# TYPE snpd_kds_requests_total counter\nsnpd_kds_requests_total %lld\n"
			"# HELP snpd_collateral_fetch_failing 1 while status collateral.last_error "
			"is set: the collateral is not complete (a cache or KDS lookup failed or "
			"is running, KdsOffline=yes without it) or, with CertsDir=, no VCEK/VLEK "
			"of the directory signs the reference report.\n"
			"# TYPE snpd_collateral_fetch_failing gauge\n"
			"snpd_collateral_fetch_failing %d\n",
			(long long)json_integer_value(json_object_get(c, "kds_requests")),
			json_is_string(json_object_get(c, "last_error")) ? 1 : 0);
		if (json_is_integer(age))
			fprintf(f,
				"# HELP snpd_collateral_age_seconds Since the collateral became "
				"complete.\n"
				"# TYPE snpd_collateral_age_seconds gauge\n"
				"snpd_collateral_age_seconds %lld\n",
				(long long)json_integer_value(age));
		if (json_is_integer(next))
			fprintf(f,
				"# HELP snpd_collateral_next_retry_timestamp_seconds When the "
				"collateral is looked up again: KDS, or with KdsOffline=yes the "
				"host's certificate table.\n"
				"# TYPE snpd_collateral_next_retry_timestamp_seconds gauge\n"
				"snpd_collateral_next_retry_timestamp_seconds %lld\n",
				(long long)json_integer_value(next));
		json_decref(c);
	}
	fclose(f);
	respond(st, MHD_HTTP_OK, response_copy(text, len, "text/plain; version=0.0.4"));
	free(text);
}
