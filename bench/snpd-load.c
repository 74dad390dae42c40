// SPDX-License-Identifier: Apache-2.0
/*
 * Load tool for snpd's FUSE view, and the raw backend loop it is compared
 * with in the same run.
 *
 *   snpd-load raw BACKEND SECONDS
 *       one thread calling the backend directly (what snpd's worker does)
 *   snpd-load fs MOUNTPOINT THREADS SECONDS [PID]
 *       THREADS threads doing open, write a nonce, read the report, close;
 *       checks that each report carries its nonce; samples VmRSS of PID
 *   snpd-load http-unix SOCKET PATH THREADS SECONDS
 *       THREADS keep-alive connections on the API's unix socket, each
 *       sending GET PATH and reading the whole response
 *   snpd-load ready SECONDS SNPD [ARGS...]
 *       start snpd with a private NOTIFY_SOCKET and time READY=1, then stop it
 *
 * Prints one line of key=value figures. Never fails on speed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "lib/util.h"

#define MAX_SAMPLES (1 << 20)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct samples {
	pthread_mutex_t lock;
	double *lat;
	size_t n;
	u64 errors;
	u64 unbound;
};

static void add_sample(struct samples *s, double lat)
{
	pthread_mutex_lock(&s->lock);
	if (s->n < MAX_SAMPLES)
		s->lat[s->n++] = lat;
	pthread_mutex_unlock(&s->lock);
}

static void print_stats(const char *what, struct samples *s, double secs)
{
	double p50 = 0, p99 = 0;

	if (s->n) {
		qsort(s->lat, s->n, sizeof(double), cmp_double);
		p50 = s->lat[s->n / 2];
		p99 = s->lat[(s->n * 99) / 100];
	}
	printf("%s reports=%zu per_sec=%.1f p50_ms=%.2f p99_ms=%.2f errors=%llu unbound=%llu", what,
	       s->n, (double)s->n / secs, p50 * 1e3, p99 * 1e3, (unsigned long long)s->errors,
	       (unsigned long long)s->unbound);
}

static int run_raw(const char *spec, double secs)
{
	struct samples s = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct snp_backend *b;
	char err[SNP_ERRBUF];
	double t0, end;
	int r;

	s.lat = calloc(MAX_SAMPLES, sizeof(double));
	if (!s.lat)
		return 1;
	r = snp_backend_open(spec, &b, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "snpd-load: %s\n", err);
		return 1;
	}
	t0 = now_s();
	end = t0 + secs;
	while (now_s() < end) {
		struct snp_backend_report_req req = { 0 };
		struct snp_backend_report rep = { 0 };
		struct snp_backend_error e;
		double t = now_s();

		snp_put_le64(req.report_data, s.n);
		if (snp_backend_get_report(b, &req, &rep, &e) < 0)
			s.errors++;
		else
			add_sample(&s, now_s() - t);
		snp_backend_report_release(&rep);
	}
	print_stats("raw", &s, now_s() - t0);
	printf("\n");
	snp_backend_free(b);
	free(s.lat);
	return 0;
}

struct fs_ctx {
	const char *path;
	double end;
	struct samples *s;
	unsigned int id;
};

static void *fs_thread(void *arg)
{
	struct fs_ctx *c = arg;
	u8 buf[2048], nonce[32];
	u64 i = 0;

	memset(nonce, 0, sizeof(nonce));
	while (now_s() < c->end) {
		double t = now_s();
		ssize_t n, total = 0;
		int fd;

		snp_put_le32(nonce, c->id);
		snp_put_le64(nonce + 4, i++);
		fd = open(c->path, O_RDWR | O_CLOEXEC);
		if (fd < 0 || write(fd, nonce, sizeof(nonce)) != (ssize_t)sizeof(nonce)) {
			if (fd >= 0)
				close(fd);
			__atomic_add_fetch(&c->s->errors, 1, __ATOMIC_RELAXED);
			usleep(1000);
			continue;
		}
		while ((n = read(fd, buf + total, sizeof(buf) - (size_t)total)) > 0)
			total += n;
		close(fd);
		if (n < 0 || total != SNP_REPORT_SIZE) {
			__atomic_add_fetch(&c->s->errors, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (memcmp(buf + 0x50, nonce, sizeof(nonce)))
			__atomic_add_fetch(&c->s->unbound, 1, __ATOMIC_RELAXED);
		add_sample(c->s, now_s() - t);
	}
	return NULL;
}

struct http_ctx {
	const char *sock;
	const char *path;
	double end;
	struct samples *s;
};

static int http_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One request on @fd; 0 when a 200 with its whole body came back. */
static int http_once(int fd, const char *path)
{
	char req[512], buf[8192];
	size_t have = 0, need = 0;
	int n = snprintf(
		req, sizeof(req),
		"GET %s HTTP/1.1\r\nHost: snpd\r\nAccept: application/octet-stream\r\n\r\n", path);

	if (write(fd, req, (size_t)n) != n)
		return -1;
	for (;;) {
		ssize_t k = read(fd, buf + have, sizeof(buf) - 1 - have);
		char *end, *cl;

		if (k <= 0)
			return -1;
		have += (size_t)k;
		buf[have] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (!end)
			continue;
		if (strncmp(buf, "HTTP/1.1 200", 12))
			return -1;
		cl = strcasestr(buf, "Content-Length:");
		need = (size_t)(end + 4 - buf) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
		break;
	}
	while (have < need) {
		ssize_t k = read(fd, buf, sizeof(buf) < need - have ? sizeof(buf) : need - have);

		if (k <= 0)
			return -1;
		have += (size_t)k;
	}
	return 0;
}

static void *http_thread(void *arg)
{
	struct http_ctx *c = arg;
	int fd = -1;

	while (now_s() < c->end) {
		double t = now_s();

		if (fd < 0 && (fd = http_connect(c->sock)) < 0) {
			__atomic_add_fetch(&c->s->errors, 1, __ATOMIC_RELAXED);
			usleep(1000);
			continue;
		}
		if (http_once(fd, c->path) < 0) {
			__atomic_add_fetch(&c->s->errors, 1, __ATOMIC_RELAXED);
			close(fd);
			fd = -1;
			continue;
		}
		add_sample(c->s, now_s() - t);
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static int run_http(const char *sock, const char *path, unsigned int threads, double secs)
{
	struct samples s = { .lock = PTHREAD_MUTEX_INITIALIZER };
	pthread_t *tids = calloc(threads, sizeof(*tids));
	struct http_ctx c;
	double t0;

	s.lat = calloc(MAX_SAMPLES, sizeof(double));
	if (!tids || !s.lat)
		return 1;
	t0 = now_s();
	c = (struct http_ctx){ sock, path, t0 + secs, &s };
	for (unsigned int i = 0; i < threads; i++)
		if (pthread_create(&tids[i], NULL, http_thread, &c) != 0)
			return 1;
	for (unsigned int i = 0; i < threads; i++)
		pthread_join(tids[i], NULL);
	printf("connections=%u ", threads);
	print_stats("unix-http", &s, now_s() - t0);
	printf("\n");
	free(s.lat);
	free(tids);
	return 0;
}

static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static int run_fs(const char *mnt, unsigned int threads, double secs, pid_t pid)
{
	struct samples s = { .lock = PTHREAD_MUTEX_INITIALIZER };
	pthread_t *tids = calloc(threads, sizeof(*tids));
	struct fs_ctx *ctx = calloc(threads, sizeof(*ctx));
	char path[4096];
	long rss_max = -1;
	double t0;

	s.lat = calloc(MAX_SAMPLES, sizeof(double));
	if (!tids || !ctx || !s.lat)
		return 1;
	snprintf(path, sizeof(path), "%s/report", mnt);
	t0 = now_s();
	for (unsigned int i = 0; i < threads; i++) {
		ctx[i] = (struct fs_ctx){ path, t0 + secs, &s, i };
		if (pthread_create(&tids[i], NULL, fs_thread, &ctx[i]) != 0)
			return 1;
	}
	while (now_s() < t0 + secs) {
		long k = pid > 0 ? rss_kib(pid) : -1;

		if (k > rss_max)
			rss_max = k;
		usleep(100 * 1000);
	}
	for (unsigned int i = 0; i < threads; i++)
		pthread_join(tids[i], NULL);
	printf("threads=%u ", threads);
	print_stats("fs", &s, now_s() - t0);
	printf(" rss_max_kib=%ld\n", rss_max);
	free(s.lat);
	free(ctx);
	free(tids);
	return 0;
}

static int run_ready(double timeout, char **argv)
{
	char dir[] = "/tmp/snpd-load-XXXXXX", buf[4096];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	double t0, t;
	pid_t pid;
	int fd, rc = 1;

	if (!mkdtemp(dir))
		return 1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify", dir);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return 1;
	t0 = now_s();
	pid = fork();
	if (pid == 0) {
		setenv("NOTIFY_SOCKET", sa.sun_path, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	while ((t = now_s()) < t0 + timeout) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		t = now_s();
		if (!strncmp(buf, "READY=1", 7) || strstr(buf, "\nREADY=1")) {
			printf("ready_ms=%.1f\n", (t - t0) * 1e3);
			rc = 0;
			break;
		}
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	close(fd);
	unlink(sa.sun_path);
	rmdir(dir);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "raw"))
		return run_raw(argv[2], strtod(argv[3], NULL));
	if (argc >= 5 && !strcmp(argv[1], "fs"))
		return run_fs(argv[2], (unsigned int)strtoul(argv[3], NULL, 10),
			      strtod(argv[4], NULL),
			      argc > 5 ? (pid_t)strtol(argv[5], NULL, 10) : 0);
	if (argc >= 6 && !strcmp(argv[1], "http-unix"))
		return run_http(argv[2], argv[3], (unsigned int)strtoul(argv[4], NULL, 10),
				strtod(argv[5], NULL));
	if (argc >= 4 && !strcmp(argv[1], "ready"))
		return run_ready(strtod(argv[2], NULL), argv + 3);
	fprintf(stderr, "usage: snpd-load raw BACKEND SECONDS | fs MOUNT THREADS SECONDS [PID] | "
			"http-unix SOCKET PATH CONNS SECONDS | ready TIMEOUT SNPD [ARGS...]\n");
	return 2;
}
