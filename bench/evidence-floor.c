// SPDX-License-Identifier: Apache-2.0
/*
 * evidence-floor: the least any batching evidence server can do, to measure
 * what a machine allows beside snpd (bench-evidence.sh's "floor" mode).
 *
 * It speaks snpd's GET /v1/evidence?nonce=HEX over a unix socket with
 * keep-alive (one request at a time: a client that sends before its answer
 * is dropped), batches as snpd does (requests that arrive while the
 * "device" is busy form the next batch, which goes when the device is
 * free and WINDOW_US have passed since its first request, or when it has
 * BATCH_MAX), and models the device as a timer of DEVICE_US: no report is
 * signed, no Merkle tree is built, no JSON is written. Each answer is one
 * of snpd's own evidence documents (TEMPLATE, which "fetch" gets), sent
 * with one writev() with the client's nonce put in place and the batch's
 * number written into the report's signature (so that the load tool sees
 * one report per batch). Its answers prove nothing: the load tool checks
 * only that each echoes its nonce (BENCH_EVIDENCE_FLOOR=1).
 *
 * What it costs per answer is what no evidence server can avoid here: one
 * recv() of the request, one writev() of the answer, a share of
 * epoll_wait(), and the client's wake-up.
 *
 *   evidence-floor fetch SNPD_SOCKET TEMPLATE
 *   evidence-floor serve LISTEN_SOCKET TEMPLATE DEVICE_US WINDOW_US BATCH_MAX
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define NONCE_HEX   128
#define MAX_PATCH   8 /* places of the nonce in the document */
#define DOC_MAX	    (256 * 1024)
#define REQ_MAX	    2048
#define SIG_B64_OFF (0x2A0 / 3 * 4) /* the report's signature, in its base64 */
#define SIG_MARK    8

struct conn {
	int fd;
	char in[REQ_MAX];
	size_t have;
	char nonce[NONCE_HEX];
	bool queued;	    /* in a batch: answered when it completes */
	bool closed;	    /* the client went: freed when its batch completes */
	size_t out_off;	    /* of a short write: bytes already sent */
	unsigned long mark; /* its answer's batch */
	struct conn *next;
};

struct batch {
	struct conn *head, **tail;
	unsigned int n;
	unsigned long id;	/* from 1, when it goes to the device */
	unsigned long long due; /* its first request's time + the window */
};

static char *doc; /* the template: HTTP head and body */
static size_t doc_len;
/* where the template takes the client's nonce, or the batch's mark */
static struct {
	size_t off;
	bool sig;
} patch[MAX_PATCH + 1];
static unsigned int nr_patch;
static int ep, dev_tfd, win_tfd;
static struct batch open_b, busy_b;
static bool device_busy, window_armed;
static unsigned long long device_us, window_us, batch_max;
static unsigned long batches;

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

/* The template: snpd's head for a JSON answer, then snpd's document. */
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
	free(body);
	rep = strstr(doc, "\"report\":\"");
	if (!rep) {
		fprintf(stderr, "evidence-floor: the document has no report\n");
		exit(1);
	}
	sig = (size_t)(rep + strlen("\"report\":\"") - doc) + SIG_B64_OFF;
	for (p = doc; (p = strstr(p, hex)); p += NONCE_HEX) {
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
		patch[nr_patch].off = sig;
		patch[nr_patch++].sig = true;
	}
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
	arm(dev_tfd, device_us);
}

/* As snpd's kick(): the open batch goes when it is full or its window is over. */
static void kick(void)
{
	unsigned long long now;

	if (device_busy || !open_b.n)
		return;
	now = now_us();
	if (open_b.n >= batch_max || now >= open_b.due) {
		submit();
	} else if (!window_armed) {
		window_armed = true;
		arm(win_tfd, open_b.due - now);
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
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct iovec iov[2 * (MAX_PATCH + 1) + 1];
	char sig[SIG_MARK];
	size_t pos = 0, skip = c->out_off;
	unsigned int n = 0;
	ssize_t k;

	for (int i = 0; i < SIG_MARK; i++)
		sig[i] = b64[(c->mark >> (6 * i)) & 63];
	/* the template in pieces, with the nonce and the batch's mark put in */
	for (unsigned int i = 0; i < nr_patch; i++) {
		iov[n++] = (struct iovec){ doc + pos, patch[i].off - pos };
		iov[n++] = patch[i].sig ? (struct iovec){ sig, SIG_MARK } :
					  (struct iovec){ c->nonce, NONCE_HEX };
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

static void complete(void)
{
	struct batch done = busy_b;
	struct conn *c, *next;

	device_busy = false;
	busy_b = (struct batch){ .tail = &busy_b.head };
	kick(); /* as snpd does: the next batch first */
	for (c = done.head; c; c = next) {
		next = c->next;
		c->queued = false;
		c->mark = done.id;
		if (c->closed) {
			conn_free(c);
			continue;
		}
		if (!send_answer(c)) {
			struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };

			epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		}
	}
}

static void enqueue(struct conn *c)
{
	c->queued = true;
	c->next = NULL;
	if (!open_b.n)
		open_b.due = now_us() + window_us;
	*open_b.tail = c;
	open_b.tail = &c->next;
	open_b.n++;
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
		memcpy(c->nonce, n + 6, NONCE_HEX);
		enqueue(c);
	} else {
		c->closed = true; /* not ours: dropped */
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
	if (c->queued) {
		/*
		 * Its close, or bytes before its answer: no pipelining here,
		 * the connection is dropped (read again, they would spin).
		 */
		char b;
		ssize_t k = recv(c->fd, &b, 1, MSG_PEEK);

		if (k >= 0 || errno != EAGAIN) {
			epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			c->closed = true;
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
	if (c->closed || c->have >= sizeof(c->in) - 1)
		conn_free(c);
}

int main(int argc, char **argv)
{
	struct epoll_event ev, evs[256];
	int lfd;

	if (argc == 4 && !strcmp(argv[1], "fetch"))
		return do_fetch(argv[2], argv[3]);
	if (argc != 7 || strcmp(argv[1], "serve")) {
		fprintf(stderr, "usage: evidence-floor fetch SNPD_SOCKET TEMPLATE\n"
				"       evidence-floor serve LISTEN_SOCKET TEMPLATE DEVICE_US "
				"WINDOW_US BATCH_MAX\n");
		return 2;
	}
	device_us = strtoull(argv[4], NULL, 10);
	window_us = strtoull(argv[5], NULL, 10);
	batch_max = strtoull(argv[6], NULL, 10);
	if (!device_us || !batch_max)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	load_template(argv[3]);
	open_b.tail = &open_b.head;
	busy_b.tail = &busy_b.head;
	lfd = unix_socket(argv[2], true);
	ep = epoll_create1(EPOLL_CLOEXEC);
	dev_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	win_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (lfd < 0 || ep < 0 || dev_tfd < 0 || win_tfd < 0)
		die("evidence-floor: setup");
	ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &lfd };
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	ev.data.ptr = &dev_tfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, dev_tfd, &ev);
	ev.data.ptr = &win_tfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, win_tfd, &ev);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);

		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < n; i++) {
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
}
