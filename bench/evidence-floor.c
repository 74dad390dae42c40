// SPDX-License-Identifier: Apache-2.0
/*
 * evidence-floor: the least any batching evidence server can do, to measure
 * what a machine allows beside snpd (bench-evidence.sh's "floor" and
 * "floorfs" modes).
 *
 * "serve" speaks snpd's GET /v1/evidence?nonce=HEX over a unix socket with
 * keep-alive (one request at a time: a client that sends before its answer
 * is dropped); "serve-fs" mounts a FUSE file system with snpd's
 * evidence/HEX and nothing else. Both batch as snpd does (requests that
 * arrive while the "device" is busy form the next batch, which goes when
 * the device returns unless it is held for the clients just answered;
 * one begun while the device is idle goes WINDOW_US after its first
 * request; either goes at once with BATCH_MAX, or once all the clients
 * just answered have joined: snpd's gathering, daemon/batch.c
 * gather_start() and gather()), and model the device as a timer of DEVICE_US: no
 * report is signed, no Merkle tree is built, no JSON is written. Each
 * answer is one of snpd's own evidence documents (TEMPLATE, which "fetch"
 * gets) with the client's nonce put in place and the batch's number
 * written into the report's signature (so that the load tool sees one
 * report per batch). Its answers prove nothing: the load tool checks only
 * that each echoes its nonce (BENCH_EVIDENCE_FLOOR=1).
 *
 * What it costs per answer is what no evidence server can avoid here.
 * Over the socket: one recv() of the request, one writev() of the answer,
 * a share of epoll_wait(), and the client's wake-up. Over FUSE, exactly
 * the FUSE work snpd does for an evidence file (fs/fs.c), on one thread:
 * a LOOKUP answered with a fresh inode of size 0 (attributes cached,
 * the name not), the OPEN parked in the batch, then the inode's cache
 * invalidated, the document stored into it (FUSE_NOTIFY_STORE) and the
 * OPEN answered with keep_cache; the GETATTR of the reader's first read
 * (the stored size); the RELEASE, which drops the cached pages again;
 * FORGETs. Nothing else of snpd's: no permission check of its own, no
 * per-uid shares, no hashed inode numbers, no eviction of names.
 *
 *   evidence-floor fetch SNPD_SOCKET TEMPLATE
 *   evidence-floor serve LISTEN_SOCKET TEMPLATE DEVICE_US WINDOW_US BATCH_MAX
 *   evidence-floor serve-fs MOUNTPOINT TEMPLATE DEVICE_US WINDOW_US BATCH_MAX
 *
 * serve-fs prints "ready" once mounted, its FUSE request counts when it
 * ends, and unmounts on SIGTERM and SIGINT.
 */
#define FUSE_USE_VERSION 34

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "fs/fuse-parallel.h"

#define NONCE_HEX   128
#define MAX_PATCH   8 /* places of the nonce in the document */
#define DOC_MAX	    (256 * 1024)
#define REQ_MAX	    2048
#define SIG_B64_OFF (0x2A0 / 3 * 4) /* the report's signature, in its base64 */
#define SIG_MARK    8

/* serve-fs: the inodes, and snpd's caching of the path of evidence (fs/fs.c) */
#define INO_ROOT       FUSE_ROOT_ID
#define INO_EVIDENCE   2
#define INO_NODE0      16 /* evidence/HEX: INO_NODE0 + its slot */
#define CACHED_TIMEOUT 1.0
#define DIR_TIMEOUT    3600.0 /* fs/fs.c's, for the root and evidence/ */
#define FUSE_BATCH     64     /* requests read per wake-up, as snpd's on_fuse_io() */

#define container_of(ptr, type, field) ((type *)((char *)(ptr)-offsetof(type, field)))

/*
 * A member of a batch: a connection whose request waits for its answer, or
 * an evidence file's OPEN, parked until its answer is in the page cache.
 */
struct member {
	struct member *next;
	bool fuse;	    /* a struct fnode, else a struct conn */
	bool queued;	    /* in a batch: answered when it completes */
	bool gone;	    /* nobody waits for its answer any more */
	unsigned long mark; /* its answer's batch */
	char nonce[NONCE_HEX];
};

struct conn {
	struct member m; /* m.gone: the client went, freed when its batch completes */
	int fd;
	char in[REQ_MAX];
	size_t have;
	size_t out_off; /* of a short write: bytes already sent */
};

/* evidence/HEX as the kernel knows it: a fresh one per LOOKUP */
struct fnode {
	struct member m; /* m.gone: its OPEN was interrupted */
	fuse_ino_t ino;
	uint64_t nlookup;
	bool open;	     /* one descriptor at a time: what the load tool does */
	bool stored;	     /* its answer is its page cache: GETATTR gives its size */
	bool cached;	     /* the kernel may hold its pages: dropped at release */
	fuse_req_t open_req; /* the parked OPEN */
	struct fuse_file_info open_fi;
};

struct batch {
	struct member *head, **tail;
	unsigned int n;
	unsigned long id;	  /* from 1, when it goes to the device */
	unsigned long long first; /* its first request's time */
};

static char *doc; /* the template: HTTP head and body */
static size_t doc_len, head_len;
/* where the template takes the client's nonce, or the batch's mark */
static struct {
	size_t off;
	bool sig;
} patch[MAX_PATCH + 1];
static unsigned int nr_patch;
static int ep, dev_tfd, win_tfd;
static struct batch open_b, busy_b;
static bool device_busy, window_armed;
static unsigned long long device_us, window_us, batch_max, device_end;
/* as snpd's gather_start() and gather() */
static unsigned long long back_us, expect, returned, came, all_back_us;
static unsigned int hold_skip, backoff;
static bool hold;
static unsigned long batches;

/* serve-fs */
static struct fuse_session *se;
static struct fuse_buf fbuf;
static char *fs_body; /* the template's body, patched in place for each answer */
static size_t fs_body_len;
static bool quit, signalled; /* signalled: the quit came from SIGTERM or SIGINT */
static uint64_t generation;
static struct {
	struct fnode **v; /* by slot: ino - INO_NODE0 */
	size_t *free;	  /* free slots, a stack */
	size_t n_free, cap;
} nodes;
static struct {
	unsigned long long lookups, forgets, getattrs, opens, reads, releases, stored, dropped,
		errors;
} fst;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static int unix_socket(const char *path, bool listen_)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path));
	if (listen_) {
		unlink(path);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4096) < 0)
			return -1;
	} else if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		return -1;
	}
	return fd;
}

/* One evidence document from snpd, for nonce @hex: its body, malloc'd. */
static char *fetch(const char *sock, const char *hex, size_t *ret_len)
{
	char req[512], *buf = malloc(DOC_MAX + 1), *body, *cl;
	size_t have = 0, clen;
	ssize_t k;
	int fd = unix_socket(sock, false), n;

	if (fd < 0 || !buf)
		goto fail;
	n = snprintf(req, sizeof(req),
		     "GET /v1/evidence?nonce=%s HTTP/1.1\r\nHost: snpd\r\n"
		     "Accept: application/json\r\nConnection: close\r\n\r\n",
		     hex);
	if (write(fd, req, (size_t)n) != n)
		goto fail;
	while (have < DOC_MAX && (k = read(fd, buf + have, DOC_MAX - have)) > 0)
		have += (size_t)k;
	buf[have] = '\0';
	body = strstr(buf, "\r\n\r\n");
	cl = strcasestr(buf, "\r\nContent-Length:");
	if (strncmp(buf, "HTTP/1.1 200", 12) || !body || !cl) {
		fprintf(stderr, "evidence-floor: snpd answered: %.80s\n", buf);
		goto fail;
	}
	body += 4;
	clen = strtoul(cl + 17, NULL, 10);
	if (clen != have - (size_t)(body - buf))
		goto fail;
	close(fd);
	memmove(buf, body, clen);
	buf[clen] = '\0';
	*ret_len = clen;
	return buf;
fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

/* The nonce of the template, which every answer replaces. */
static void template_nonce(char hex[NONCE_HEX + 1])
{
	for (int i = 0; i < NONCE_HEX; i++)
		hex[i] = "0123456789abcdef"[(i * 7 + 3) % 16];
	hex[NONCE_HEX] = '\0';
}

/* fetch: one of snpd's answers, for the template nonce, into @out. */
static int do_fetch(const char *sock, const char *out)
{
	char hex[NONCE_HEX + 1], *body;
	size_t blen;
	FILE *f;

	template_nonce(hex);
	body = fetch(sock, hex, &blen);
	if (!body) {
		fprintf(stderr, "evidence-floor: no evidence document from %s\n", sock);
		return 1;
	}
	f = fopen(out, "we");
	if (!f || fwrite(body, 1, blen, f) != blen || fclose(f) != 0) {
		perror(out);
		free(body);
		return 1;
	}
	free(body);
	return 0;
}

/* The whole of the file @path (at most DOC_MAX bytes), NUL-terminated. */
static char *read_file(const char *path, size_t *ret_len)
{
	char *buf = malloc(DOC_MAX + 1);
	size_t have = 0;
	ssize_t k;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || !buf) {
		free(buf);
		return NULL;
	}
	while (have < DOC_MAX && (k = read(fd, buf + have, DOC_MAX - have)) > 0)
		have += (size_t)k;
	close(fd);
	buf[have] = '\0';
	*ret_len = have;
	return buf;
}

/*
 * The template: snpd's head for a JSON answer, then snpd's document (the
 * body, alone, is the answer over FUSE).
 */
static void load_template(const char *path)
{
	char hex[NONCE_HEX + 1], head[256], *body, *p, *rep;
	size_t blen, sig;
	unsigned int nonces = 0;
	int h;

	template_nonce(hex);
	body = read_file(path, &blen);
	if (!body || !blen || blen >= DOC_MAX) {
		fprintf(stderr, "evidence-floor: no template in %s\n", path);
		exit(1);
	}
	h = snprintf(head, sizeof(head),
		     "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
		     "Content-Type: application/json\r\nCache-Control: no-store\r\n\r\n",
		     blen);
	doc = malloc((size_t)h + blen + 1);
	if (!doc)
		die("malloc");
	memcpy(doc, head, (size_t)h);
	memcpy(doc + h, body, blen + 1);
	doc_len = (size_t)h + blen;
	head_len = (size_t)h;
	free(body);
	rep = strstr(doc + head_len, "\"report\":\"");
	if (!rep) {
		fprintf(stderr, "evidence-floor: the document has no report\n");
		exit(1);
	}
	sig = (size_t)(rep + strlen("\"report\":\"") - doc) + SIG_B64_OFF;
	for (p = doc + head_len; (p = strstr(p, hex)); p += NONCE_HEX) {
		size_t off = (size_t)(p - doc);

		if (nonces == MAX_PATCH)
			break;
		nonces++;
		if (sig != SIZE_MAX && sig < off) {
			patch[nr_patch++].off = sig;
			patch[nr_patch - 1].sig = true;
			sig = SIZE_MAX;
		}
		patch[nr_patch++].off = off;
	}
	if (!nonces) {
		fprintf(stderr, "evidence-floor: the document has no nonce\n");
		exit(1);
	}
	if (sig != SIZE_MAX) {
		if (sig + SIG_MARK > doc_len) {
			fprintf(stderr, "evidence-floor: the document's report is cut short\n");
			exit(1);
		}
		patch[nr_patch].off = sig;
		patch[nr_patch++].sig = true;
	}
}

/* The batch's mark, as base64 characters in the report's signature. */
static void mark_b64(unsigned long mark, char sig[SIG_MARK])
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (int i = 0; i < SIG_MARK; i++)
		sig[i] = b64[(mark >> (6 * i)) & 63];
}

static void arm(int tfd, unsigned long long us)
{
	struct itimerspec it = { .it_value = { .tv_sec = (time_t)(us / 1000000),
					       .tv_nsec = (long)(us % 1000000) * 1000 } };

	if (!us)
		it.it_value.tv_nsec = 1; /* zero would disarm */
	if (timerfd_settime(tfd, 0, &it, NULL) < 0)
		die("timerfd_settime");
}

static unsigned long long now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (unsigned long long)t.tv_sec * 1000000 + (unsigned long long)t.tv_nsec / 1000;
}

/* The open batch goes to the device. */
static void submit(void)
{
	busy_b = open_b;
	busy_b.id = ++batches;
	open_b = (struct batch){ .tail = &open_b.head };
	device_busy = true;
	device_end = now_us() + device_us;
	arm(dev_tfd, device_us);
}

/* As snpd's gather(): when the open batch is due, 0 for at once. */
static unsigned long long due(void)
{
	if (open_b.first < back_us) /* it waited while the device was busy */
		return !expect || !hold || open_b.n >= expect ? 0 : back_us + window_us;
	if (expect && open_b.first < back_us + window_us && open_b.n >= expect)
		return 0;
	return open_b.first + window_us;
}

/* As snpd's kick(): the open batch goes when it is full or its window is over. */
static void kick(void)
{
	unsigned long long now, when;

	if (device_busy || !open_b.n)
		return;
	now = now_us();
	when = due();
	if (open_b.n >= batch_max || now >= when) {
		/* as snpd's gather_end(): a hold that did not gather backs off */
		if (expect && open_b.first < back_us && hold && open_b.n < batch_max) {
			if (open_b.n >= expect) {
				backoff = 0;
			} else {
				backoff = backoff ? 2 * backoff : 1;
				if (backoff > 64)
					backoff = 64;
				hold_skip = backoff;
			}
		}
		expect = 0;
		submit();
	} else if (!window_armed) {
		window_armed = true;
		arm(win_tfd, when - now);
	}
}

static void conn_free(struct conn *c)
{
	close(c->fd);
	free(c);
}

/* Send what is left of @c's answer; false when it must wait for room. */
static bool send_answer(struct conn *c)
{
	struct iovec iov[2 * (MAX_PATCH + 1) + 1];
	char sig[SIG_MARK];
	size_t pos = 0, skip = c->out_off;
	unsigned int n = 0;
	ssize_t k;

	mark_b64(c->m.mark, sig);
	/* the template in pieces, with the nonce and the batch's mark put in */
	for (unsigned int i = 0; i < nr_patch; i++) {
		iov[n++] = (struct iovec){ doc + pos, patch[i].off - pos };
		iov[n++] = patch[i].sig ? (struct iovec){ sig, SIG_MARK } :
					  (struct iovec){ c->m.nonce, NONCE_HEX };
		pos = patch[i].off + (patch[i].sig ? SIG_MARK : NONCE_HEX);
	}
	iov[n++] = (struct iovec){ doc + pos, doc_len - pos };
	/* less what a short write already sent */
	for (unsigned int i = 0; i < n && skip; i++) {
		size_t s = skip < iov[i].iov_len ? skip : iov[i].iov_len;

		iov[i].iov_base = (char *)iov[i].iov_base + s;
		iov[i].iov_len -= s;
		skip -= s;
	}
	k = writev(c->fd, iov, (int)n);
	if (k < 0)
		return errno != EAGAIN; /* a broken client: done with it */
	c->out_off += (size_t)k;
	if (c->out_off < doc_len)
		return false;
	c->out_off = 0;
	return true;
}

/* Its batch is done: @c's answer goes out (or waits for room). */
static void answer_conn(struct conn *c)
{
	if (c->m.gone) {
		conn_free(c);
		return;
	}
	if (!send_answer(c)) {
		struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };

		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	}
}

static void answer_open(struct fnode *n);

static void complete(void)
{
	struct batch done = busy_b;
	struct member *m, *next;
	unsigned long long n;

	device_busy = false;
	busy_b = (struct batch){ .tail = &busy_b.head };
	n = 0;
	for (m = done.head; m; m = m->next)
		n += !m->gone;
	expect = n ? open_b.n + n : 0;
	hold = window_us && n && !hold_skip &&
	       (!returned || (all_back_us && returned >= n && all_back_us - back_us <= window_us));
	if (hold_skip)
		hold_skip--;
	back_us = now_us();
	returned = n;
	came = 0;
	all_back_us = 0;
	kick(); /* as snpd does: the next batch first */
	for (m = done.head; m; m = next) {
		next = m->next;
		m->queued = false;
		m->mark = done.id;
		if (m->fuse)
			answer_open(container_of(m, struct fnode, m));
		else
			answer_conn(container_of(m, struct conn, m));
	}
}

static void enqueue(struct member *m)
{
	m->queued = true;
	m->next = NULL;
	if (!open_b.n)
		open_b.first = now_us();
	*open_b.tail = m;
	open_b.tail = &m->next;
	open_b.n++;
	if (came < returned && ++came == returned)
		all_back_us = now_us();
	kick();
}

/* A request in @c->in? Its nonce, and the connection joins the open batch. */
static void parse(struct conn *c)
{
	char *end = memmem(c->in, c->have, "\r\n\r\n", 4), *n;

	if (!end)
		return;
	*end = '\0';
	n = strstr(c->in, "nonce=");
	if (n && strspn(n + 6, "0123456789abcdefABCDEF") == NONCE_HEX) {
		memcpy(c->m.nonce, n + 6, NONCE_HEX);
		enqueue(&c->m);
	} else {
		c->m.gone = true; /* not ours: dropped */
	}
	c->have = 0;
}

static void on_conn(struct conn *c, uint32_t events)
{
	if (events & EPOLLOUT) {
		if (send_answer(c)) {
			struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

			epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		}
		return;
	}
	if (c->m.queued) {
		/*
		 * Its close, or bytes before its answer: no pipelining here,
		 * the connection is dropped (read again, they would spin).
		 */
		char b;
		ssize_t k = recv(c->fd, &b, 1, MSG_PEEK);

		if (k >= 0 || errno != EAGAIN) {
			epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			c->m.gone = true;
		}
		return;
	}
	ssize_t k = recv(c->fd, c->in + c->have, sizeof(c->in) - 1 - c->have, 0);

	if (k <= 0) {
		if (k < 0 && errno == EAGAIN)
			return;
		conn_free(c);
		return;
	}
	c->have += (size_t)k;
	parse(c);
	if (c->m.gone || c->have >= sizeof(c->in) - 1)
		conn_free(c);
}

/* ---- serve-fs ----------------------------------------------------------- */

/* The body of @m's answer: in the shared buffer, good until the next call. */
static const char *fs_doc(const struct member *m)
{
	char sig[SIG_MARK];

	mark_b64(m->mark, sig);
	for (unsigned int i = 0; i < nr_patch; i++) {
		if (patch[i].sig)
			memcpy(fs_body + patch[i].off - head_len, sig, SIG_MARK);
		else
			memcpy(fs_body + patch[i].off - head_len, m->nonce, NONCE_HEX);
	}
	return fs_body;
}

/* A new evidence/HEX inode in a free slot; NULL: no memory. */
static struct fnode *node_new(void)
{
	struct fnode *n;
	size_t slot;

	if (!nodes.n_free) {
		size_t cap = nodes.cap ? 2 * nodes.cap : 1024;
		struct fnode **v = reallocarray(nodes.v, cap, sizeof(*v));
		size_t *f;

		if (!v)
			return NULL;
		nodes.v = v;
		f = reallocarray(nodes.free, cap, sizeof(*f));
		if (!f)
			return NULL;
		nodes.free = f;
		/* the lowest slot on top */
		for (size_t i = cap; i > nodes.cap; i--) {
			nodes.v[i - 1] = NULL;
			nodes.free[nodes.n_free++] = i - 1;
		}
		nodes.cap = cap;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	slot = nodes.free[--nodes.n_free];
	nodes.v[slot] = n;
	n->ino = INO_NODE0 + slot;
	n->m.fuse = true;
	return n;
}

/* The inode @ino of an evidence name, NULL when it is none (or forgotten). */
static struct fnode *node_of(fuse_ino_t ino)
{
	if (ino < INO_NODE0 || ino - INO_NODE0 >= nodes.cap)
		return NULL;
	return nodes.v[ino - INO_NODE0];
}

/* Free @n once the kernel has forgotten it and nothing here holds it. */
static void node_put(struct fnode *n)
{
	size_t slot = n->ino - INO_NODE0;

	if (n->nlookup || n->open || n->m.queued)
		return;
	nodes.v[slot] = NULL;
	nodes.free[nodes.n_free++] = slot;
	free(n);
}

/* No descriptor of @n is open any more: the kernel drops its copy of the answer. */
static void node_unpin(struct fnode *n)
{
	n->open = false;
	n->stored = false;
	if (n->cached) {
		int r = fuse_lowlevel_notify_inval_inode(se, n->ino, 0, 0);

		n->cached = false;
		if (r >= 0)
			fst.dropped++;
	}
	node_put(n);
}

/* What fs/fs.c's fill_attr() says of these inodes (its default owner and modes). */
static bool fill_attr(fuse_ino_t ino, struct stat *st)
{
	struct fnode *n = node_of(ino);

	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_nlink = 1;
	if (ino == INO_ROOT || ino == INO_EVIDENCE) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		return true;
	}
	if (!n)
		return false;
	st->st_mode = S_IFREG | 0444;
	st->st_size = n->stored ? (off_t)fs_body_len : 0;
	st->st_nlink = 0;
	return true;
}

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e = { 0 };
	struct fnode *n;

	fst.lookups++;
	if (parent == INO_ROOT && !strcmp(name, "evidence")) {
		/* snpd's path of evidence: the name cached, its attributes by GETATTR */
		e.ino = INO_EVIDENCE;
		e.entry_timeout = DIR_TIMEOUT;
		fill_attr(e.ino, &e.attr);
		fuse_reply_entry(req, &e);
		return;
	}
	if (parent != INO_EVIDENCE) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (strlen(name) != NONCE_HEX || strspn(name, "0123456789abcdefABCDEF") != NONCE_HEX) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	n = node_new();
	if (!n) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memcpy(n->m.nonce, name, NONCE_HEX);
	n->nlookup = 1;
	/* as snpd's names: no entry caching, attributes cached */
	e.ino = n->ino;
	e.generation = ++generation;
	e.attr_timeout = CACHED_TIMEOUT;
	fill_attr(e.ino, &e.attr);
	if (fuse_reply_entry(req, &e) < 0) {
		n->nlookup = 0;
		node_put(n);
	}
}

static void forget_one(fuse_ino_t ino, uint64_t k)
{
	struct fnode *n = node_of(ino);

	if (!n)
		return;
	n->nlookup = k >= n->nlookup ? 0 : n->nlookup - k;
	node_put(n);
}

static void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fst.forgets++;
	forget_one(ino, nlookup);
	fuse_reply_none(req);
}

static void fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	fst.forgets++;
	for (size_t i = 0; i < count; i++)
		forget_one(forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	fst.getattrs++;
	if (!fill_attr(ino, &st)) {
		fuse_reply_err(req, ino >= INO_NODE0 ? ESTALE : ENOENT);
		return;
	}
	fuse_reply_attr(req, &st,
			ino == INO_ROOT || ino == INO_EVIDENCE ? DIR_TIMEOUT : CACHED_TIMEOUT);
}

/* The opener gave up (a signal) while its OPEN waited: no answer for it. */
static void on_open_interrupted(fuse_req_t req, void *data)
{
	struct fnode *n = data;

	if (n->open_req != req)
		return;
	n->open_req = NULL;
	n->open = false;
	n->m.gone = true; /* still in its batch, which skips it */
	fuse_reply_err(req, EINTR);
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fnode *n = node_of(ino);

	if (ino == INO_ROOT || ino == INO_EVIDENCE) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EACCES);
		return;
	}
	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	/* a name's only opener waits for the batch, as in snpd; another is refused */
	if (n->open || n->m.queued) {
		fst.errors++;
		fuse_reply_err(req, EBUSY);
		return;
	}
	fst.opens++;
	n->open = true;
	fi->direct_io = 1;
	n->open_req = req;
	n->open_fi = *fi;
	enqueue(&n->m);
	fuse_req_interrupt_func(req, on_open_interrupted, n);
}

/* Its batch is done: the answer into @n's page cache, then the OPEN's reply. */
static void answer_open(struct fnode *n)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(fs_body_len);
	struct fuse_file_info fi = n->open_fi;
	fuse_req_t req = n->open_req;
	int r;

	n->open_req = NULL;
	if (n->m.gone) {
		n->m.gone = false;
		node_put(n);
		return;
	}
	bv.buf[0].mem = (void *)fs_doc(&n->m);
	/* as snpd's store_answer(): what the kernel holds of the inode first */
	r = fuse_lowlevel_notify_inval_inode(se, n->ino, 0, 0);
	if (r >= 0)
		r = fuse_lowlevel_notify_store(se, n->ino, 0, &bv, 0);
	if (r < 0) {
		/* snpd would answer by READs (direct I/O): none here */
		fst.errors++;
		n->open = false;
		fuse_reply_err(req, EIO);
		node_put(n);
		return;
	}
	n->stored = true;
	n->cached = true;
	fst.stored++;
	fi.direct_io = 0;
	fi.keep_cache = 1;
	if (fuse_reply_open(req, &fi) < 0)
		node_unpin(n);
}

/* Only when the kernel fills its cache again (reclaim): the stored answer. */
static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fnode *n = node_of(ino);
	const char *d;

	fst.reads++;
	if (!n || !n->stored || off < 0) {
		fst.errors++;
		fuse_reply_err(req, EIO);
		return;
	}
	if ((size_t)off >= fs_body_len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	d = fs_doc(&n->m);
	fuse_reply_buf(req, d + off,
		       size < fs_body_len - (size_t)off ? size : fs_body_len - (size_t)off);
}

static void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fnode *n = node_of(ino);

	fst.releases++;
	if (n && n->open)
		node_unpin(n);
	fuse_reply_err(req, 0);
}

static const struct fuse_lowlevel_ops fs_ops = {
	.init = snpd_fuse_want_parallel, /* snpd's parallel lookups */
	.lookup = fs_lookup,
	.forget = fs_forget,
	.forget_multi = fs_forget_multi,
	.getattr = fs_getattr,
	.open = fs_open,
	.read = fs_read,
	.release = fs_release,
};

/* Mount @mp as snpd mounts its view (its options; fs/fs.c snpd_fs_new()). */
static void fs_mount(const char *mp)
{
	char opts[] = "fsname=evidence-floor,subtype=evidence-floor,default_permissions,"
		      "allow_other";
	char *argv[] = { (char *)"evidence-floor", (char *)"-o", opts, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	int fd;

	fs_body_len = doc_len - head_len;
	fs_body = malloc(fs_body_len);
	if (!fs_body)
		die("malloc");
	memcpy(fs_body, doc + head_len, fs_body_len);
	se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), NULL);
	fuse_opt_free_args(&args);
	if (!se) {
		fprintf(stderr, "evidence-floor: cannot create the FUSE session\n");
		exit(1);
	}
	if (fuse_session_mount(se, mp) != 0) {
		fprintf(stderr, "evidence-floor: cannot mount %s\n", mp);
		fuse_session_destroy(se);
		exit(1);
	}
	fd = fuse_session_fd(se);
	if (snpd_fuse_parallel_io(se, fd) < 0)
		fprintf(stderr, "evidence-floor: no parallel lookups\n");
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		die("evidence-floor: the FUSE fd");
}

/*
 * The FUSE requests that are there, at most @max, as snpd's on_fuse_io()
 * reads them.
 */
static void on_fuse(int max)
{
	uint64_t x;

	for (int i = 0; i < max; i++) {
		int r = fuse_session_receive_buf(se, &fbuf);

		if (r == -EAGAIN || r == -EINTR)
			return;
		if (r <= 0 || fuse_session_exited(se)) {
			if (r < 0 && r != -ENODEV)
				fprintf(stderr, "evidence-floor: /dev/fuse: %s\n", strerror(-r));
			quit = true; /* unmounted */
			return;
		}
		/* the device's answer first, if it is due (snpd_broker_poll()) */
		if (device_busy && now_us() >= device_end &&
		    read(dev_tfd, &x, sizeof(x)) == (ssize_t)sizeof(x))
			complete();
		fuse_session_process_buf(se, &fbuf);
	}
}

/* Unmount, after an answer to every OPEN still parked. */
static void fs_stop(const char *mp)
{
	for (size_t i = 0; i < nodes.cap; i++) {
		struct fnode *n = nodes.v[i];

		if (n && n->open_req)
			fuse_reply_err(n->open_req, EINTR);
		free(n);
	}
	fuse_session_unmount(se);
	fuse_session_destroy(se);
	printf("evidence-floor: %s: lookups=%llu opens=%llu getattrs=%llu reads=%llu "
	       "releases=%llu forgets=%llu stored=%llu dropped=%llu errors=%llu batches=%lu\n",
	       mp, fst.lookups, fst.opens, fst.getattrs, fst.reads, fst.releases, fst.forgets,
	       fst.stored, fst.dropped, fst.errors, batches);
	free(nodes.v);
	free(nodes.free);
	free(fbuf.mem);
	free(fs_body);
	free(doc);
}

/* A positive count of microseconds (or members); false when it is not one. */
static bool parse_ull(const char *s, unsigned long long *ret)
{
	char *end;

	errno = 0;
	if (*s < '0' || *s > '9')
		return false;
	*ret = strtoull(s, &end, 10);
	return !errno && !*end;
}

int main(int argc, char **argv)
{
	struct epoll_event ev, evs[256];
	int lfd = -1, fuse_fd = -1, sfd = -1;
	bool fs;
	sigset_t sigs;

	if (argc == 4 && !strcmp(argv[1], "fetch"))
		return do_fetch(argv[2], argv[3]);
	if (argc != 7 || (strcmp(argv[1], "serve") && strcmp(argv[1], "serve-fs"))) {
		fprintf(stderr, "usage: evidence-floor fetch SNPD_SOCKET TEMPLATE\n"
				"       evidence-floor serve LISTEN_SOCKET TEMPLATE DEVICE_US "
				"WINDOW_US BATCH_MAX\n"
				"       evidence-floor serve-fs MOUNTPOINT TEMPLATE DEVICE_US "
				"WINDOW_US BATCH_MAX\n");
		return 2;
	}
	fs = !strcmp(argv[1], "serve-fs");
	if (!parse_ull(argv[4], &device_us) || !parse_ull(argv[5], &window_us) ||
	    !parse_ull(argv[6], &batch_max) || !device_us || !batch_max)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	load_template(argv[3]);
	open_b.tail = &open_b.head;
	busy_b.tail = &busy_b.head;
	ep = epoll_create1(EPOLL_CLOEXEC);
	dev_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	win_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (fs) {
		/* SIGTERM, SIGINT: unmount and go (serve just dies of them) */
		sigemptyset(&sigs);
		sigaddset(&sigs, SIGTERM);
		sigaddset(&sigs, SIGINT);
		if (sigprocmask(SIG_BLOCK, &sigs, NULL) < 0)
			die("sigprocmask");
		sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
		/* before the mount: a failure here leaves none behind */
		if (sfd < 0 || ep < 0 || dev_tfd < 0 || win_tfd < 0)
			die("evidence-floor: setup");
		fs_mount(argv[2]);
		fuse_fd = fuse_session_fd(se);
	} else {
		lfd = unix_socket(argv[2], true);
	}
	if ((!fs && lfd < 0) || ep < 0 || dev_tfd < 0 || win_tfd < 0)
		die("evidence-floor: setup");
	if (fs) {
		ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &fuse_fd };
		epoll_ctl(ep, EPOLL_CTL_ADD, fuse_fd, &ev);
		ev.data.ptr = &sfd;
		epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	} else {
		ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &lfd };
		epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	}
	ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &dev_tfd };
	epoll_ctl(ep, EPOLL_CTL_ADD, dev_tfd, &ev);
	ev.data.ptr = &win_tfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, win_tfd, &ev);
	printf("ready\n");
	fflush(stdout);
	while (!quit) {
		int n = epoll_wait(ep, evs, 256, -1);

		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < n && !quit; i++) {
			void *p = evs[i].data.ptr;
			uint64_t x;

			if (p == &lfd) {
				int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
				struct conn *c;

				if (fd < 0)
					continue;
				c = calloc(1, sizeof(*c));
				if (!c) {
					close(fd);
					continue;
				}
				c->fd = fd;
				ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = c };
				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
			} else if (p == &fuse_fd) {
				on_fuse(FUSE_BATCH);
			} else if (p == &sfd) {
				/* the RELEASEs of the last readers, which the kernel sent */
				on_fuse(INT_MAX);
				quit = signalled = true;
			} else if (p == &dev_tfd) {
				if (read(dev_tfd, &x, sizeof(x)) == (ssize_t)sizeof(x) &&
				    device_busy)
					complete();
			} else if (p == &win_tfd) {
				if (read(win_tfd, &x, sizeof(x)) == (ssize_t)sizeof(x)) {
					window_armed = false;
					kick();
				}
			} else {
				on_conn(p, evs[i].events);
			}
		}
	}
	/* serve-fs only: serve runs until a signal ends it */
	fs_stop(argv[2]);
	fflush(stdout);
	/* not by a signal: unmounted from outside, or /dev/fuse failed */
	return signalled ? 0 : 1;
}
