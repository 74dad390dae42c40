// SPDX-License-Identifier: Apache-2.0
/*
 * Load generator of the snpd benchmarks, and the raw backend loop they are
 * compared with.
 *
 *   snpd-load raw BACKEND THREADS SECONDS
 *       THREADS threads calling the backend directly (what snpd's worker
 *       does; the backend serialises them as the device would)
 *   snpd-load fs MOUNTPOINT THREADS SECONDS
 *       open report, write a 64-byte nonce, read the report, close
 *   snpd-load unix SOCKET report|healthz THREADS SECONDS
 *   snpd-load tcp ADDR:PORT report|healthz THREADS SECONDS
 *       one keep-alive connection per thread: GET /v1/report?nonce=HEX
 *       (Accept: application/octet-stream) or GET /healthz
 *   snpd-load evidence fs|unix|tcp TARGET THREADS SECONDS
 *       evidence (docs/evidence.md), a fresh nonce per request: FUSE open
 *       and read MOUNTPOINT/evidence/HEX whole; HTTP GET /v1/evidence?nonce=HEX
 *       on one keep-alive connection per thread. Every answer must be a
 *       whole document whose binding names the request's own nonce
 *       ("unbound" counts those that do not); every BENCH_VERIFY_EVERY-th is
 *       kept and checked fully after the run: the binding against the
 *       report's REPORT_DATA (snp_binding_verify_json()) and the report's
 *       signature with BENCH_VCEK. Distinct reports among the answers (by
 *       their signature) are the device reports that answered someone;
 *       report_period_ms is the median time between two reports' first
 *       answers, answer_spread_ms the median time from a report's first
 *       answer to its last.
 *       BENCH_EVIDENCE_TAMPER=nonce|report-data|signature damages what the
 *       tool checks (the self-test of its checks, bench-smoke.sh).
 *       BENCH_EVIDENCE_FLOOR=1 (fs, unix or tcp): the server is
 *       bench/evidence-floor ("serve" on a unix socket, "serve-fs" a FUSE
 *       mount), whose answers only echo their nonce: that is checked,
 *       nothing is kept or verified.
 *       BENCH_CLIENT_LOOP=N (HTTP only): the THREADS clients are
 *       connections on N threads with an epoll loop each, not a thread
 *       each (see "event-loop clients" below).
 *   snpd-load light fs|unix|tcp TARGET INTERVAL_MS COUNT
 *       COUNT requests, one every INTERVAL_MS on a fixed schedule, each on a
 *       new file descriptor or connection (a light client beside a flood)
 *   snpd-load hold fs|unix|tcp TARGET N
 *       open N handles or connections (one request each, kept open) and
 *       print snpd's memory before and with them (BENCH_PID)
 *   snpd-load presign BACKEND OUT COUNT
 *       write the reports for nonces 0..COUNT-1 to OUT (the pool of the
 *       simulator's device-time model, SNP_SIM_PRESIGNED), at VMPL 0 (or
 *       BENCH_PRESIGN_VMPL)
 *   snpd-load ready SECONDS SNPD [ARGS...]
 *       start snpd with a private NOTIFY_SOCKET and time READY=1, then stop it
 *   snpd-load start SECONDS SNPD [ARGS...]
 *       the same, but leave snpd running and print its pid
 *
 * Nonces are SHA-512(le64 seed || le64 i) for i = BASE + (k mod COUNT) of
 * the k-th request of the process (BENCH_NONCE_SEED, _BASE, _COUNT;
 * defaults 1, 0, 4096), so a pool signed ahead covers them. Every report
 * served must carry its nonce as REPORT_DATA ("unbound" counts those that
 * do not); every BENCH_VERIFY_EVERY-th (default 25) is kept and its
 * signature verified after the run with the VCEK of BENCH_VCEK;
 * BENCH_PRESIGNED (the pool file) counts which reports carried a
 * signature made ahead. BENCH_PID: a process whose CPU time (utime+stime
 * from /proc/PID/stat) and minor page faults are measured over the run. BENCH_WARMUP_MS: the load
 * runs that much longer, and requests started in those first milliseconds
 * are checked (bound, kept, verified) but not measured: neither rate,
 * latency, reports nor CPU counts them (all clients start at once, which
 * the steady state never sees). Nor are requests started after the run's
 * end, which go on until every client's last measured request is answered
 * (a stop is a herd too). BENCH_LAT_FILE: every measured request as
 * a line "start latency fingerprint leaf": its start in seconds from the
 * measured window's, its latency in seconds and, evidence only, its
 * report's fingerprint (hex), its leaf_index and its client's number. TCP clients bind their
 * connections round-robin to the source addresses of BENCH_SRC (comma
 * separated) when set.
 *
 * Prints one line of key=value figures. Exit status 0 unless the tool
 * itself could not run or a served report failed the checks (unbound or
 * bad signature): never on speed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <float.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <jansson.h>

#include "backend/backend.h"
#include "lib/binding.h"
#include "lib/util.h"

#define MAX_SAMPLES (1 << 20)
#define MAX_KEPT    512
#define MAX_THREADS 1024
#define MAX_SRC	    16
/* evidence: the largest document read (one report, certificates, CRL, log) */
#define EVIDENCE_MAX	   (256 * 1024)
#define EVIDENCE_NONCE_LEN 64
#define THREAD_STACK	   (128 * 1024)

enum kind { K_RAW, K_FS, K_UNIX, K_TCP };

struct target {
	enum kind kind;
	const char *path; /* mountpoint/report, socket */
	struct sockaddr_in tcp;
	bool healthz;
	bool evidence;
	struct snp_backend *backend;
};

enum tamper { T_NONE, T_NONCE, T_REPORT_DATA, T_SIGNATURE };
static enum tamper tamper;

static struct sockaddr_in src_addr[MAX_SRC];
static unsigned int nr_src;

static u64 nonce_seed = 1, nonce_base, nonce_count = 4096;
static u64 verify_every = 25;
/*
 * BENCH_EVIDENCE_FLOOR=1: the server is evidence-floor (over FUSE or HTTP),
 * whose answers only echo the nonce (nothing to verify beyond that)
 */
static bool floor_mode;
static u64 next_k;
static int last_failure; /* the last failed request: HTTP status, or -errno */

struct stats {
	pthread_mutex_t lock;
	double *lat;
	size_t n;
	u64 errors, unbound, served; /* served: measured (see BENCH_WARMUP_MS) */
	u64 answers;		     /* served, warm-up included */
	double measure_from;	     /* now_s() when the measured window starts */
	double measure_until;	     /* and when it ends (the cool-down follows) */
	double *start;		     /* each sample's start */
	u32 *leaf;		     /* evidence: each sample's leaf_index */
	u32 *client;		     /* evidence: each sample's client (thread) */
	u8 (*kept)[SNP_REPORT_SIZE];
	size_t nr_kept;
	/* evidence: a fingerprint of each answer's report signature, samples */
	u64 *fp;
	char *kept_doc[MAX_KEPT];
	u8 kept_nonce[MAX_KEPT][EVIDENCE_NONCE_LEN];
};

static struct stats st = { .lock = PTHREAD_MUTEX_INITIALIZER };

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

static void make_nonce(u64 i, u8 out[64])
{
	u8 in[16];

	snp_put_le64(in, nonce_seed);
	snp_put_le64(in + 8, i);
	EVP_Digest(in, sizeof(in), out, NULL, EVP_sha512(), NULL);
}

static u64 next_nonce_index(void)
{
	return nonce_base + __atomic_fetch_add(&next_k, 1, __ATOMIC_RELAXED) % nonce_count;
}

static void env_u64(const char *name, u64 *v)
{
	const char *s = getenv(name);

	if (s && *s && snp_parse_u64(s, v) < 0) {
		fprintf(stderr, "snpd-load: bad %s '%s'\n", name, s);
		exit(2);
	}
}

/* utime + stime of @pid in seconds, or -1; its minor page faults in *ret_minflt */
static double proc_cpu(pid_t pid, unsigned long long *ret_minflt)
{
	char path[64], buf[4096], *p;
	unsigned long long ut, stt, mf;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* comm may hold spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %llu %*u %*u %*u %llu %llu", &mf, &ut,
			 &stt) != 3)
		return -1;
	*ret_minflt = mf;
	return (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/*
 * A request started at @t0 took @lat: measured unless it started in the
 * warm-up or the cool-down. Locked.
 */
static void sample(double t0, double lat, u64 fp, u32 leaf, u32 client)
{
	if (t0 < st.measure_from || t0 >= st.measure_until)
		return;
	st.served++;
	if (st.n >= MAX_SAMPLES)
		return;
	st.start[st.n] = t0;
	st.fp[st.n] = fp;
	st.leaf[st.n] = leaf;
	st.client[st.n] = client;
	st.lat[st.n++] = lat;
}

/* A served report: bound to its nonce? Keep every verify_every-th. */
static void account(const u8 *rep, const u8 nonce[64], double lat)
{
	bool bound = !memcmp(rep + 0x50, nonce, 64);
	double t0 = now_s() - lat;
	u64 k;

	pthread_mutex_lock(&st.lock);
	k = st.answers++;
	if (!bound)
		st.unbound++;
	sample(t0, lat, 0, 0, 0);
	if (bound && st.nr_kept < MAX_KEPT && k % verify_every == 0)
		memcpy(st.kept[st.nr_kept++], rep, SNP_REPORT_SIZE);
	pthread_mutex_unlock(&st.lock);
}

static void account_plain(double lat)
{
	pthread_mutex_lock(&st.lock);
	st.answers++;
	sample(now_s() - lat, lat, 0, 0, 0);
	pthread_mutex_unlock(&st.lock);
}

static void count_error(void)
{
	__atomic_add_fetch(&st.errors, 1, __ATOMIC_RELAXED);
}

/* ---- HTTP ------------------------------------------------------------- */

static int http_connect(const struct target *t, unsigned int idx)
{
	int fd;

	if (t->kind == K_UNIX) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", t->path);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			goto fail;
		return fd;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (nr_src && bind(fd, (struct sockaddr *)&src_addr[idx % nr_src], sizeof(src_addr[0])) < 0)
		goto fail;
	if (connect(fd, (const struct sockaddr *)&t->tcp, sizeof(t->tcp)) < 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

/*
 * Read from @fd once it is readable. A client waits for its answer in
 * poll(), as curl, Go's net/http and Python's sockets with a timeout do:
 * blocked in read(2) on a unix socket, it would be woken for nothing
 * each time snpd reads its request (the peer's "write space" wakes every
 * sleeper there), and being woken pre-empts snpd on a busy machine.
 */
static ssize_t read_ready(int fd, void *buf, size_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	while (poll(&p, 1, -1) < 0)
		if (errno != EINTR)
			return -1;
	return read(fd, buf, len);
}

/*
 * A client's read buffer: a whole evidence answer fits, so that a client
 * reads it with one read(2) (curl reads 16 KB at a time, more than a
 * report's answer); one per thread, made at its first request.
 */
#define HTTP_READ_MAX (64 * 1024)
static __thread char *rbuf;

/* A GET of @path, accepting @accept, into @req: its length. */
static int http_request(char *req, size_t size, const char *path, const char *accept)
{
	return snprintf(req, size, "GET %s HTTP/1.1\r\nHost: snpd\r\nAccept: %s\r\n\r\n", path,
			accept);
}

/*
 * The head of an answer at the start of @buf (NUL-terminated): 1 with its
 * length, status and Content-Length (0: none), 0 when it is not all in
 * yet, -1 when it is not HTTP/1.1.
 */
static int http_head(const char *buf, size_t *ret_len, int *ret_status, size_t *ret_clen)
{
	const char *end = strstr(buf, "\r\n\r\n"), *cl;

	if (!end)
		return 0;
	if (strncmp(buf, "HTTP/1.1 ", 9))
		return -1;
	cl = strcasestr(buf, "\r\nContent-Length:");
	*ret_clen = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
	*ret_status = (int)strtol(buf + 9, NULL, 10);
	*ret_len = (size_t)(end + 4 - buf);
	return 1;
}

/*
 * One request on @fd: the status, with the body in @body (up to @cap
 * bytes kept, the rest drained), or -1 when the connection broke.
 */
static int http_once(int fd, const char *path, const char *accept, u8 *body, size_t cap,
		     size_t *ret_len)
{
	char req[512];
	size_t have = 0, hdr = 0, clen = 0, got = 0;
	int n, status;

	if (!rbuf && !(rbuf = malloc(HTTP_READ_MAX + 1)))
		return -1;
	n = http_request(req, sizeof(req), path, accept);
	if (write(fd, req, (size_t)n) != n)
		return -1;
	for (;;) {
		ssize_t k = read_ready(fd, rbuf + have, HTTP_READ_MAX - have);
		int r;

		if (k <= 0)
			return -1;
		have += (size_t)k;
		rbuf[have] = '\0';
		r = http_head(rbuf, &hdr, &status, &clen);
		if (r < 0 || (r == 0 && have >= HTTP_READ_MAX))
			return -1;
		if (r > 0)
			break;
	}
	/* body bytes already read */
	got = have - hdr < clen ? have - hdr : clen;
	if (body)
		memcpy(body, rbuf + hdr, got < cap ? got : cap);
	while (got < clen) {
		size_t want = clen - got < HTTP_READ_MAX ? clen - got : HTTP_READ_MAX;
		ssize_t k = read_ready(fd, rbuf, want);

		if (k <= 0)
			return -1;
		if (body && got < cap)
			memcpy(body + got, rbuf, (size_t)k < cap - got ? (size_t)k : cap - got);
		got += (size_t)k;
	}
	*ret_len = clen;
	return status;
}

static void report_path(const u8 nonce[64], char *out, size_t len)
{
	char hex[129];

	snp_hex_encode(nonce, 64, hex);
	snprintf(out, len, "/v1/report?nonce=%s", hex);
}

/* ---- evidence ------------------------------------------------------------ */

static __thread char *doc_buf; /* the thread's answer buffer, EVIDENCE_MAX + 1 */

/* The k-th evidence nonce of the process: never repeats within a run. */
static void evidence_nonce(u64 k, u8 out[EVIDENCE_NONCE_LEN])
{
	make_nonce(k, out);
}

/*
 * The string value of the first "@key" in @doc: its first character, its
 * length in *ret_len. JSON escapes every quote inside strings, so a
 * quoted key can only match a key (or a whole string value).
 */
static const char *json_str_value(const char *doc, const char *key, size_t *ret_len)
{
	char q[32];
	const char *p, *e;

	snprintf(q, sizeof(q), "\"%s\"", key);
	p = strstr(doc, q);
	if (!p)
		return NULL;
	p += strlen(q);
	p += strspn(p, " \t\r\n");
	if (*p++ != ':')
		return NULL;
	p += strspn(p, " \t\r\n");
	if (*p++ != '"')
		return NULL;
	e = strchr(p, '"');
	if (!e)
		return NULL;
	*ret_len = (size_t)(e - p);
	return p;
}

/* base64 of the report: 1184 bytes in 1580 characters; the signature at 0x2A0 */
#define REPORT_B64_LEN 1580
#define SIG_B64_OFF    (0x2A0 / 3 * 4)
#define SIG_B64_LEN    (144 / 3 * 4)

/* The self-test's damage to an answer, before the tool checks it. */
static void tamper_doc(char *rep)
{
	char *c = NULL;

	if (tamper == T_REPORT_DATA)
		c = rep + (0x50 / 3 + 1) * 4; /* REPORT_DATA bytes 0x51-0x53 */
	else if (tamper == T_SIGNATURE)
		c = rep + SIG_B64_OFF + 8; /* R bytes 6-8 */
	if (c)
		*c = *c == 'A' ? 'B' : 'A';
}

/*
 * The cheap check of every answer: a whole document with a report whose
 * binding names @nonce. 0 (bound), 1 (not bound to @nonce), -1 (not a
 * whole document). *ret_fp: the fingerprint of the report's signature.
 */
static int evidence_check(char *doc, size_t len, const u8 nonce[EVIDENCE_NONCE_LEN], u64 *ret_fp)
{
	char hex[2 * EVIDENCE_NONCE_LEN + 1];
	const char *rep, *n;
	size_t rlen, nlen;
	u64 h = 1469598103934665603ULL; /* FNV-1a */

	while (len && (doc[len - 1] == '\n' || doc[len - 1] == ' '))
		len--;
	if (!len || doc[0] != '{' || doc[len - 1] != '}')
		return -1;
	rep = json_str_value(doc, "report", &rlen);
	if (!rep || rlen != REPORT_B64_LEN)
		return -1;
	tamper_doc((char *)rep);
	for (size_t i = SIG_B64_OFF; i < SIG_B64_OFF + SIG_B64_LEN; i++)
		h = (h ^ (u8)rep[i]) * 1099511628211ULL;
	*ret_fp = h;
	snp_hex_encode(nonce, EVIDENCE_NONCE_LEN, hex);
	n = json_str_value(doc, "nonce", &nlen);
	return n && nlen == 2 * EVIDENCE_NONCE_LEN && !memcmp(n, hex, nlen) ? 0 : 1;
}

static void account_evidence(const char *doc, size_t len, const u8 nonce[EVIDENCE_NONCE_LEN],
			     bool bound, u64 fp, double t0, double lat, unsigned int idx)
{
	const char *li = strstr(doc, "\"leaf_index\":");
	unsigned long leaf = li ? strtoul(li + strlen("\"leaf_index\":"), NULL, 10) : 0;
	char *copy = NULL;
	u64 k;

	pthread_mutex_lock(&st.lock);
	k = st.answers++;
	if (!bound)
		st.unbound++;
	sample(t0, lat, fp, (u32)leaf, idx);
	if (!floor_mode && st.nr_kept < MAX_KEPT && k % verify_every == 0 &&
	    (copy = strndup(doc, len))) {
		memcpy(st.kept_nonce[st.nr_kept], nonce, EVIDENCE_NONCE_LEN);
		st.kept_doc[st.nr_kept++] = copy;
	}
	pthread_mutex_unlock(&st.lock);
}

/* One evidence request: 0, an HTTP status other than 200, or -1 with errno. */
static int evidence_request(const struct target *t, int *fd, unsigned int idx)
{
	u8 nonce[EVIDENCE_NONCE_LEN], expect[EVIDENCE_NONCE_LEN];
	char hex[2 * EVIDENCE_NONCE_LEN + 1], path[4096 + 160];
	u64 k = __atomic_fetch_add(&next_k, 1, __ATOMIC_RELAXED), fp = 0;
	double t0 = now_s();
	size_t len = 0;
	int r;

	if (!doc_buf && !(doc_buf = malloc(EVIDENCE_MAX + 1)))
		return -1;
	evidence_nonce(k, nonce);
	snp_hex_encode(nonce, sizeof(nonce), hex);
	if (t->kind == K_FS) {
		ssize_t n = 0;
		int f;

		snprintf(path, sizeof(path), "%s/%s", t->path, hex);
		f = open(path, O_RDONLY | O_CLOEXEC);
		if (f < 0)
			return -1;
		while (len < EVIDENCE_MAX && (n = read(f, doc_buf + len, EVIDENCE_MAX - len)) > 0)
			len += (size_t)n;
		if (n < 0) {
			int e = errno; /* the daemon's refusal, e.g. EBUSY */

			close(f);
			errno = e;
			return -1;
		}
		close(f);
	} else {
		if (*fd < 0 && (*fd = http_connect(t, idx)) < 0)
			return -1;
		snprintf(path, sizeof(path), "/v1/evidence?nonce=%s", hex);
		r = http_once(*fd, path, "application/json", (u8 *)doc_buf, EVIDENCE_MAX, &len);
		if (r < 0) {
			close(*fd);
			*fd = -1;
		}
		if (r != 200)
			return r;
	}
	if (len >= EVIDENCE_MAX) {
		errno = EFBIG;
		return -1;
	}
	doc_buf[len] = '\0';
	memcpy(expect, nonce, sizeof(expect));
	if (tamper == T_NONCE)
		evidence_nonce(k + 1, expect); /* another request's nonce */
	r = evidence_check(doc_buf, len, expect, &fp);
	if (r < 0) {
		errno = EBADMSG;
		return -1;
	}
	account_evidence(doc_buf, len, expect, r == 0, fp, t0, now_s() - t0, idx);
	return 0;
}

/*
 * One request through @t. @fd: the thread's keep-alive connection (HTTP),
 * opened when -1. 0 when a good answer came back (and was accounted),
 * -1 otherwise.
 */
static int one_request_(const struct target *t, int *fd, unsigned int idx, bool keep);

static int one_request(const struct target *t, int *fd, unsigned int idx, bool keep)
{
	int r;

	errno = 0;
	r = one_request_(t, fd, idx, keep);
	if (r != 0)
		__atomic_store_n(&last_failure, r < 0 ? (errno ? -errno : -EIO) : r,
				 __ATOMIC_RELAXED);
	return r < 0 || r ? -1 : 0;
}

/* 0, an HTTP status other than 200, or -1 with errno (0: bad answer) */
static int one_request_(const struct target *t, int *fd, unsigned int idx, bool keep)
{
	u8 nonce[64], rep[SNP_REPORT_SIZE + 1];
	double t0 = now_s();
	char path[256];
	size_t len = 0;
	int r;

	if (t->evidence)
		return evidence_request(t, fd, idx);
	if (t->healthz) {
		if (*fd < 0 && (*fd = http_connect(t, idx)) < 0)
			return -1;
		r = http_once(*fd, "/healthz", "application/json", NULL, 0, &len);
		if (r < 0 || !keep) {
			close(*fd);
			*fd = -1;
		}
		if (r != 200)
			return r;
		account_plain(now_s() - t0);
		return 0;
	}
	make_nonce(next_nonce_index(), nonce);
	switch (t->kind) {
	case K_RAW: {
		struct snp_backend_report_req req = { 0 };
		struct snp_backend_report out = { 0 };
		struct snp_backend_error e;

		memcpy(req.report_data, nonce, 64);
		r = snp_backend_get_report(t->backend, &req, &out, &e);
		if (r >= 0)
			memcpy(rep, out.report, SNP_REPORT_SIZE);
		snp_backend_report_release(&out);
		if (r < 0)
			return -1;
		len = SNP_REPORT_SIZE;
		break;
	}
	case K_FS: {
		ssize_t k = 0;
		int f = open(t->path, O_RDWR | O_CLOEXEC);

		if (f < 0)
			return -1;
		if (write(f, nonce, 64) != 64) {
			close(f);
			return -1;
		}
		while (len <= SNP_REPORT_SIZE && (k = read(f, rep + len, sizeof(rep) - len)) > 0)
			len += (size_t)k;
		if (k < 0) {
			int e = errno; /* the daemon's refusal, e.g. EAGAIN */

			close(f);
			errno = e;
			return -1;
		}
		close(f);
		break;
	}
	case K_UNIX:
	case K_TCP:
		if (*fd < 0 && (*fd = http_connect(t, idx)) < 0)
			return -1;
		report_path(nonce, path, sizeof(path));
		r = http_once(*fd, path, "application/octet-stream", rep, sizeof(rep), &len);
		if (r < 0 || !keep) {
			close(*fd);
			*fd = -1;
		}
		if (r != 200)
			return r;
		break;
	}
	if (len != SNP_REPORT_SIZE) {
		errno = EBADMSG;
		return -1;
	}
	account(rep, nonce, now_s() - t0);
	return 0;
}

/* ---- checks of served reports ------------------------------------------ */

static EVP_PKEY *vcek_key(void)
{
	const char *path = getenv("BENCH_VCEK");
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	FILE *f;

	if (!path || !*path)
		return NULL;
	f = fopen(path, "re");
	if (f) {
		x = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (x)
		key = X509_get_pubkey(x);
	X509_free(x);
	if (!key)
		fprintf(stderr, "snpd-load: cannot read the VCEK of %s\n", path);
	return key;
}

/* 1 when @rep's ECDSA P-384 signature verifies with @key. */
static int sig_ok(EVP_PKEY *key, const u8 *rep)
{
	const struct snp_report *r = (const void *)rep;
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *br = BN_lebin2bn(r->signature.r, 48, NULL);
	BIGNUM *bs = BN_lebin2bn(r->signature.s, 48, NULL);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *der = NULL;
	int len, ok = 0;

	if (!sig || !br || !bs || !ctx || ECDSA_SIG_set0(sig, br, bs) != 1) {
		BN_free(br);
		BN_free(bs);
		goto out;
	}
	len = i2d_ECDSA_SIG(sig, &der);
	if (len > 0 && EVP_DigestVerifyInit(ctx, NULL, EVP_sha384(), NULL, key) == 1 &&
	    EVP_DigestVerify(ctx, der, (size_t)len, rep, SNP_REPORT_SIGNED_LEN) == 1)
		ok = 1;
out:
	OPENSSL_free(der);
	EVP_MD_CTX_free(ctx);
	ECDSA_SIG_free(sig);
	return ok;
}

struct pool {
	u8 (*r)[SNP_REPORT_SIZE];
	size_t n;
};

static int cmp_rd(const void *a, const void *b)
{
	return memcmp((const u8 *)a + 0x50, (const u8 *)b + 0x50, 64);
}

static void pool_load(struct pool *p)
{
	const char *path = getenv("BENCH_PRESIGNED");
	long len;
	FILE *f;

	memset(p, 0, sizeof(*p));
	if (!path || !*path || !(f = fopen(path, "re")))
		return;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 && len % SNP_REPORT_SIZE == 0 &&
	    fseek(f, 0, SEEK_SET) == 0) {
		p->r = malloc((size_t)len);
		p->n = (size_t)len / SNP_REPORT_SIZE;
		if (!p->r || fread(p->r, SNP_REPORT_SIZE, p->n, f) != p->n) {
			free(p->r);
			p->r = NULL;
			p->n = 0;
		}
	}
	fclose(f);
	if (p->n)
		qsort(p->r, p->n, SNP_REPORT_SIZE, cmp_rd);
}

/*
 * Print the checks of the kept reports: signatures verified, and how
 * many carried the signature of the pool. 0 when all passed.
 */
static int check_kept(void)
{
	EVP_PKEY *key = vcek_key();
	size_t good = 0, bad = 0, from_pool = 0;
	struct pool pool;

	pool_load(&pool);
	for (size_t i = 0; i < st.nr_kept; i++) {
		const u8 *rep = st.kept[i];
		const u8 *e = pool.n ? bsearch(rep, pool.r, pool.n, SNP_REPORT_SIZE, cmp_rd) : NULL;

		if (e && !memcmp(e, rep, SNP_REPORT_SIZE))
			from_pool++;
		if (!key)
			continue;
		if (sig_ok(key, rep))
			good++;
		else
			bad++;
	}
	if (key)
		printf(" sig_checked=%zu sig_bad=%zu", good + bad, bad);
	if (pool.n)
		printf(" sample_presigned=%zu/%zu", from_pool, st.nr_kept);
	EVP_PKEY_free(key);
	free(pool.r);
	return bad || st.unbound ? 1 : 0;
}

struct answer {
	u64 fp;
	double end;
};

static int cmp_answer(const void *a, const void *b)
{
	const struct answer *x = a, *y = b;

	if (x->fp != y->fp)
		return x->fp < y->fp ? -1 : 1;
	return x->end < y->end ? -1 : x->end > y->end;
}

static double median_of(double *v, size_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * Distinct reports among the answers (by their signature's fingerprint),
 * and how they were served: *ret_period, the median time between two
 * reports' first answers (a device request as the batches see it: two of
 * them are the wait of a client that comes back while the other batch is
 * on the device); *ret_spread, the median time from a report's first
 * answer to its last (answering the batch, as the clients see it). Seconds.
 */
static size_t distinct_reports(double *ret_period, double *ret_spread)
{
	struct answer *a = malloc(st.n * sizeof(*a) + 1);
	double *first = malloc(st.n * sizeof(double) + 1),
	       *spread = malloc(st.n * sizeof(double) + 1);
	size_t d = 0;

	*ret_period = *ret_spread = 0;
	if (!a || !first || !spread) {
		free(a);
		free(first);
		free(spread);
		return 0;
	}
	/* copies, sorted: BENCH_LAT_FILE prints the samples in their order */
	for (size_t i = 0; i < st.n; i++)
		a[i] = (struct answer){ st.fp[i], st.start[i] + st.lat[i] };
	qsort(a, st.n, sizeof(*a), cmp_answer);
	for (size_t i = 0, j; i < st.n; i = j) {
		for (j = i + 1; j < st.n && a[j].fp == a[i].fp; j++)
			;
		first[d] = a[i].end;
		spread[d++] = a[j - 1].end - a[i].end;
	}
	qsort(first, d, sizeof(double), cmp_double);
	for (size_t i = 1; i < d; i++)
		first[i - 1] = first[i] - first[i - 1];
	*ret_period = d > 1 ? median_of(first, d - 1) : 0;
	*ret_spread = median_of(spread, d);
	free(a);
	free(first);
	free(spread);
	return d;
}

/*
 * The full check of the kept evidence: each document parsed with jansson,
 * its binding verified against its report's REPORT_DATA for the nonce the
 * client sent (docs/evidence.md 7), the report's signature with the VCEK.
 * Prints the counts; 0 when all passed.
 */
static int check_evidence(void)
{
	EVP_PKEY *key = vcek_key();
	size_t good = 0, bad = 0, sgood = 0, sbad = 0;
	char err[SNP_ERRBUF] = "", first[SNP_ERRBUF] = "";

	if (floor_mode) {
		EVP_PKEY_free(key);
		printf(" binding_checked=0 binding_bad=0 sig_checked=0 sig_bad=0");
		return st.unbound ? 1 : 0;
	}
	for (size_t i = 0; i < st.nr_kept; i++) {
		json_t *doc = json_loads(st.kept_doc[i], 0, NULL);
		const char *b64 = json_string_value(json_object_get(doc, "report"));
		unsigned char rep[REPORT_B64_LEN / 4 * 3];
		char tmp[REPORT_B64_LEN + 1];
		bool ok = false, decoded = false;

		if (b64 && strlen(b64) == REPORT_B64_LEN) {
			/* the kept copy is the answer as checked (tampered, in the self-test) */
			memcpy(tmp, b64, sizeof(tmp));
			decoded = EVP_DecodeBlock(rep, (const unsigned char *)tmp,
						  REPORT_B64_LEN) == (int)sizeof(rep);
			if (decoded)
				ok = snp_binding_verify_json(json_object_get(doc, "binding"),
							     rep + 0x50, st.kept_nonce[i],
							     EVIDENCE_NONCE_LEN, NULL, NULL, err,
							     sizeof(err)) == 0;
			else
				snprintf(err, sizeof(err), "bad base64 of the report");
		} else {
			snprintf(err, sizeof(err), "no report in the document");
		}
		if (ok) {
			good++;
		} else {
			bad++;
			if (!first[0])
				snprintf(first, sizeof(first), "%s", err);
		}
		if (key && decoded) {
			if (sig_ok(key, rep))
				sgood++;
			else
				sbad++;
		}
		json_decref(doc);
		free(st.kept_doc[i]);
		st.kept_doc[i] = NULL;
	}
	printf(" binding_checked=%zu binding_bad=%zu", good + bad, bad);
	if (key)
		printf(" sig_checked=%zu sig_bad=%zu", sgood + sbad, sbad);
	if (first[0]) {
		/* the first reason, one token: spaces become underscores */
		for (char *c = first; *c; c++)
			if (*c == ' ')
				*c = '_';
		printf(" first_bad=%s", first);
	}
	EVP_PKEY_free(key);
	return bad || sbad || st.unbound ? 1 : 0;
}

static void print_lat(void)
{
	const char *dump = getenv("BENCH_LAT_FILE");
	double p50 = 0, p99 = 0, mx = 0;

	if (dump && *dump) {
		FILE *f = fopen(dump, "we");

		for (size_t i = 0; f && i < st.n; i++)
			fprintf(f, "%.6f %.6f %016llx %u %u\n", st.start[i] - st.measure_from,
				st.lat[i], (unsigned long long)st.fp[i], st.leaf[i], st.client[i]);
		if (!f || fclose(f) != 0)
			fprintf(stderr, "snpd-load: cannot write %s: %s\n", dump, strerror(errno));
	}
	if (st.n) {
		qsort(st.lat, st.n, sizeof(double), cmp_double);
		p50 = st.lat[st.n / 2];
		p99 = st.lat[(st.n * 99) / 100];
		mx = st.lat[st.n - 1];
	}
	printf(" p50_ms=%.2f p99_ms=%.2f max_ms=%.2f", p50 * 1e3, p99 * 1e3, mx * 1e3);
}

/* ---- modes ------------------------------------------------------------- */

struct worker {
	const struct target *t;
	double end;
	unsigned int idx;
};

/*
 * The cool-down: a thread past its end goes on asking (checked, not
 * measured) until every thread is past it, so that no measured request
 * waits behind the others' hang-ups (the herd a stop makes, as a start
 * does; the steady state never sees either).
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t all_past;
	unsigned int past, threads;
	bool stop;
} cool = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, false };

static void one_or_wait(const struct worker *w, int *fd)
{
	if (one_request(w->t, fd, w->idx, true) < 0) {
		count_error();
		/* a refused client tries again at once, but not in a hot loop */
		usleep(1000);
	}
}

static void *load_thread(void *arg)
{
	struct worker *w = arg;
	int fd = -1;

	while (now_s() < w->end)
		one_or_wait(w, &fd);
	pthread_mutex_lock(&cool.lock);
	if (++cool.past == cool.threads)
		pthread_cond_signal(&cool.all_past);
	pthread_mutex_unlock(&cool.lock);
	while (!__atomic_load_n(&cool.stop, __ATOMIC_ACQUIRE))
		one_or_wait(w, &fd);
	if (fd >= 0)
		close(fd);
	free(doc_buf);
	doc_buf = NULL;
	free(rbuf);
	rbuf = NULL;
	return NULL;
}

/* ---- event-loop clients ---------------------------------------------------- */

/*
 * BENCH_CLIENT_LOOP=N: the HTTP evidence clients are connections carried
 * by N threads with an epoll loop each, as wrk and h2load carry theirs,
 * instead of a thread per client. A client is still one connection with
 * one request at a time, its next one sent as soon as its answer is
 * checked; what goes is the client's two context switches per answer,
 * which on a small machine take CPU from the server being measured.
 */
#define LOOP_BUF_FIRST (16 * 1024)
#define LOOP_BUF_MAX   (EVIDENCE_MAX + 4096) /* an answer's header and document */
#define LOOP_RETRY_S   0.001		     /* as one_or_wait(): not a hot loop */

struct lconn {
	int fd;
	unsigned int idx;
	bool past;  /* a request of it ended after the measured window */
	bool asked; /* a request of it is on its way */
	u64 k;	    /* its request's nonce index */
	double t0;
	double retry_at; /* > 0: failed, asks again then */
	char *buf;
	size_t have, cap;
};

struct lloop {
	const struct target *t;
	struct lconn *c;
	unsigned int n, retrying, asked;
	double end;
	int ep;
};

static void lconn_past(struct lloop *l, struct lconn *c)
{
	if (c->past || now_s() < l->end)
		return;
	c->past = true;
	pthread_mutex_lock(&cool.lock);
	if (++cool.past == cool.threads)
		pthread_cond_signal(&cool.all_past);
	pthread_mutex_unlock(&cool.lock);
}

/*
 * A request of @c failed (@status, or -1 with errno): count it, ask again
 * soon on a new connection (snpd closes after a refusal; a connection kept
 * would be reported readable at its end, and spin the loop until then).
 */
static void lconn_fail(struct lloop *l, struct lconn *c, int status)
{
	__atomic_store_n(&last_failure,
			 status > 0 ? status :
			 errno	    ? -errno :
				      -EIO,
			 __ATOMIC_RELAXED);
	count_error();
	if (c->fd >= 0) {
		close(c->fd); /* leaves the epoll set with it */
		c->fd = -1;
	}
	if (c->asked) {
		c->asked = false;
		l->asked--;
	}
	lconn_past(l, c);
	c->retry_at = now_s() + LOOP_RETRY_S;
	l->retrying++;
}

/* Send @c's next request, connecting first when it has no connection. */
static int lconn_send(struct lloop *l, struct lconn *c)
{
	char hex[2 * EVIDENCE_NONCE_LEN + 1], path[160], req[512];
	u8 nonce[EVIDENCE_NONCE_LEN];
	int n;

	errno = 0;
	c->t0 = now_s();
	c->have = 0;
	if (c->fd < 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

		c->fd = http_connect(l->t, c->idx);
		if (c->fd < 0)
			return -1;
		if (epoll_ctl(l->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
			return -1;
	}
	c->k = __atomic_fetch_add(&next_k, 1, __ATOMIC_RELAXED);
	evidence_nonce(c->k, nonce);
	snp_hex_encode(nonce, sizeof(nonce), hex);
	snprintf(path, sizeof(path), "/v1/evidence?nonce=%s", hex);
	n = http_request(req, sizeof(req), path, "application/json");
	if (write(c->fd, req, (size_t)n) != n)
		return -1;
	c->asked = true;
	l->asked++;
	return 0;
}

/*
 * Read what @c's connection has: 1 and the status when a whole answer is
 * in (its document at *ret_body, *ret_len bytes, NUL-terminated), 0 when
 * more is to come, -1 with errno when the connection broke or the answer
 * is not one.
 */
static int lconn_read(struct lconn *c, int *ret_status, char **ret_body, size_t *ret_len)
{
	size_t hdr, clen;
	ssize_t k;
	int r;

	if (c->have == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : LOOP_BUF_FIRST;
		char *b;

		if (c->cap >= LOOP_BUF_MAX) {
			errno = EFBIG;
			return -1;
		}
		if (cap > LOOP_BUF_MAX)
			cap = LOOP_BUF_MAX;
		if (!(b = realloc(c->buf, cap + 1)))
			return -1;
		c->buf = b;
		c->cap = cap;
	}
	k = read(c->fd, c->buf + c->have, c->cap - c->have);
	if (k <= 0) {
		if (k == 0)
			errno = ECONNRESET;
		return -1;
	}
	c->have += (size_t)k;
	c->buf[c->have] = '\0';
	r = http_head(c->buf, &hdr, ret_status, &clen);
	if (r < 0) {
		errno = EBADMSG;
		return -1;
	}
	if (r == 0)
		return 0;
	if (clen >= EVIDENCE_MAX) {
		errno = EFBIG;
		return -1;
	}
	if (c->have < hdr + clen)
		return 0;
	if (c->have > hdr + clen) { /* one request at a time: nothing may follow */
		errno = EBADMSG;
		return -1;
	}
	*ret_body = c->buf + hdr;
	*ret_len = clen;
	return 1;
}

/* @c's answer was in at @t1: check and count it, then ask again. */
static void lconn_answered(struct lloop *l, struct lconn *c, char *body, size_t len, double t1)
{
	u8 expect[EVIDENCE_NONCE_LEN];
	u64 fp = 0;
	int r;

	c->asked = false;
	l->asked--;
	evidence_nonce(tamper == T_NONCE ? c->k + 1 : c->k, expect);
	r = evidence_check(body, len, expect, &fp);
	if (r < 0) {
		errno = EBADMSG;
		lconn_fail(l, c, -1);
		return;
	}
	account_evidence(body, len, expect, r == 0, fp, c->t0, t1 - c->t0, c->idx);
	lconn_past(l, c);
	if (!__atomic_load_n(&cool.stop, __ATOMIC_ACQUIRE) && lconn_send(l, c) < 0)
		lconn_fail(l, c, -1);
}

static void lloop_retry(struct lloop *l)
{
	double now = now_s();

	for (unsigned int i = 0; i < l->n && l->retrying; i++) {
		struct lconn *c = &l->c[i];

		if (c->retry_at <= 0 || c->retry_at > now)
			continue;
		c->retry_at = 0;
		l->retrying--;
		if (lconn_send(l, c) < 0)
			lconn_fail(l, c, -1);
	}
}

static void *loop_thread(void *arg)
{
	struct lloop *l = arg;
	struct epoll_event evs[256];

	lloop_retry(l);
	/* after the stop, until every request on its way is answered (as a thread) */
	for (;;) {
		bool stop = __atomic_load_n(&cool.stop, __ATOMIC_ACQUIRE);
		int n;

		if (stop && !l->asked)
			break;
		n = epoll_wait(l->ep, evs, 256, l->retrying && !stop ? 1 : 50);

		for (int i = 0; i < n; i++) {
			struct lconn *c = evs[i].data.ptr;
			char *body;
			size_t len;
			int status, r;

			if (c->fd < 0 || c->retry_at > 0)
				continue;
			r = lconn_read(c, &status, &body, &len);
			if (r < 0)
				lconn_fail(l, c, -1);
			else if (r > 0 && status != 200)
				lconn_fail(l, c, status);
			else if (r > 0)
				lconn_answered(l, c, body, len, now_s());
		}
		if (l->retrying && !stop)
			lloop_retry(l);
	}
	for (unsigned int i = 0; i < l->n; i++) {
		if (l->c[i].fd >= 0)
			close(l->c[i].fd);
		free(l->c[i].buf);
	}
	return NULL;
}

static struct lloop *loops;
static unsigned int nr_loops;

/* Start @nloops loop threads (into @tids) carrying @clients connections. */
static int start_loops(const struct target *t, unsigned int clients, unsigned int nloops,
		       pthread_t *tids, const pthread_attr_t *attr)
{
	struct lconn *c = calloc(clients, sizeof(*c));

	loops = calloc(nloops, sizeof(*loops));
	if (!c || !loops) {
		free(c);
		return -1;
	}
	/* every client's first request: a "retry" due now */
	for (unsigned int i = 0; i < clients; i++)
		c[i] = (struct lconn){ .fd = -1, .idx = i, .retry_at = DBL_MIN };
	for (unsigned int j = 0; j < nloops; j++) {
		struct lloop *l = &loops[j];

		/* clients j*clients/nloops up to the next loop's first */
		l->c = c + (size_t)j * clients / nloops;
		l->n = (unsigned int)((size_t)(j + 1) * clients / nloops -
				      (size_t)j * clients / nloops);
		l->t = t;
		l->end = st.measure_until;
		l->retrying = l->n;
		l->ep = epoll_create1(EPOLL_CLOEXEC);
		if (l->ep < 0 || pthread_create(&tids[j], attr, loop_thread, l) != 0) {
			fprintf(stderr, "snpd-load: cannot start loop %u\n", j);
			return -1;
		}
		nr_loops = j + 1;
	}
	return 0;
}

/* After their threads are joined. */
static void stop_loops(void)
{
	if (!loops)
		return;
	for (unsigned int j = 0; j < nr_loops; j++)
		close(loops[j].ep);
	free(loops[0].c);
	free(loops);
	loops = NULL;
}

static const char *kind_name(enum kind k)
{
	static const char *const names[] = { "raw", "fs", "unix", "tcp" };

	return names[k];
}

static int run_load(struct target *t, unsigned int threads, double secs)
{
	struct worker *w = calloc(threads, sizeof(*w));
	pthread_t *tids = calloc(threads, sizeof(*tids));
	pthread_attr_t attr;
	u64 pid = 0, warmup_ms = 0;
	double t0, t1, c0 = -1, c1 = -1, s0, s1;
	unsigned long long f0 = 0, f1 = 0;
	unsigned int nloops = 0;
	u64 loop_env = 0;

	env_u64("BENCH_PID", &pid);
	env_u64("BENCH_WARMUP_MS", &warmup_ms);
	env_u64("BENCH_CLIENT_LOOP", &loop_env);
	if (warmup_ms > 3600 * 1000 || loop_env > 64) {
		fprintf(stderr, "snpd-load: BENCH_WARMUP_MS: at most an hour; "
				"BENCH_CLIENT_LOOP: at most 64\n");
		free(w);
		free(tids);
		return 2;
	}
	/* FUSE clients stay threads: open(2) blocks until the answer */
	if (t->evidence && (t->kind == K_UNIX || t->kind == K_TCP))
		nloops = (unsigned int)(loop_env < threads ? loop_env : threads);
	if (!w || !tids)
		return 1;
	/* small stacks: 1,000 clients are 1,000 threads (buffers are on the heap) */
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	s0 = self_cpu();
	if (pid)
		c0 = proc_cpu((pid_t)pid, &f0);
	t0 = now_s();
	st.measure_from = t0 + (double)warmup_ms / 1e3;
	st.measure_until = st.measure_from + secs;
	cool.threads = threads;
	if (nloops) {
		if (start_loops(t, threads, nloops, tids, &attr) < 0)
			return 1;
	} else {
		for (unsigned int i = 0; i < threads; i++) {
			w[i] = (struct worker){ t, st.measure_until, i };
			if (pthread_create(&tids[i], &attr, load_thread, &w[i]) != 0) {
				fprintf(stderr, "snpd-load: cannot start thread %u\n", i);
				return 1;
			}
		}
	}
	pthread_attr_destroy(&attr);
	if (warmup_ms) {
		double now;

		/* the measured window starts after the warm-up */
		while ((now = now_s()) < st.measure_from)
			usleep((useconds_t)((st.measure_from - now) * 1e6) + 1);
		s0 = self_cpu();
		if (pid)
			c0 = proc_cpu((pid_t)pid, &f0);
		t0 = st.measure_from;
	}
	/* every measured request is answered: the figures end here */
	pthread_mutex_lock(&cool.lock);
	while (cool.past < threads)
		pthread_cond_wait(&cool.all_past, &cool.lock);
	pthread_mutex_unlock(&cool.lock);
	t1 = now_s();
	if (pid)
		c1 = proc_cpu((pid_t)pid, &f1);
	s1 = self_cpu();
	__atomic_store_n(&cool.stop, true, __ATOMIC_RELEASE);
	for (unsigned int i = 0; i < (nloops ? nloops : threads); i++)
		pthread_join(tids[i], NULL);
	stop_loops();
	printf("mode=%s%s%s clients=%u", t->evidence ? "evidence-" : "", kind_name(t->kind),
	       t->healthz ? "-healthz" : "", threads);
	if (nloops)
		printf(" client_loops=%u", nloops);
	printf(" warmup_s=%.2f secs=%.2f requests=%llu per_sec=%.1f errors=%llu unbound=%llu",
	       (double)warmup_ms / 1e3, t1 - t0, (unsigned long long)st.served,
	       (double)st.served / (t1 - t0), (unsigned long long)st.errors,
	       (unsigned long long)st.unbound);
	if (t->evidence) {
		double period, spread;
		size_t d = distinct_reports(&period, &spread);

		printf(" reports=%zu reports_per_sec=%.2f answers_per_report=%.1f "
		       "report_period_ms=%.2f answer_spread_ms=%.2f",
		       d, (double)d / (t1 - t0), d ? (double)st.n / (double)d : 0.0, period * 1e3,
		       spread * 1e3);
	}
	if (st.errors)
		printf(" last_failure=%s%d", last_failure > 0 ? "http-" : "errno-",
		       last_failure > 0 ? last_failure : -last_failure);
	print_lat();
	if (st.served)
		printf(" client_cpu_us_per_req=%.1f", (s1 - s0) * 1e6 / (double)st.served);
	if (c0 >= 0 && c1 >= 0 && st.served)
		printf(" snpd_cpu_s=%.2f snpd_cpu_us_per_req=%.1f snpd_minflt_per_req=%.2f",
		       c1 - c0, (c1 - c0) * 1e6 / (double)st.served,
		       (double)(f1 - f0) / (double)st.served);
	free(w);
	free(tids);
	return 0;
}

static int run_light(struct target *t, double interval, unsigned int count)
{
	struct timespec next;
	unsigned int ok = 0;

	clock_gettime(CLOCK_MONOTONIC, &next);
	for (unsigned int i = 0; i < count; i++) {
		int fd = -1;

		/* a fixed schedule, whatever the answers took (pacing, not a wait) */
		next.tv_nsec += (long)(interval * 1e9);
		next.tv_sec += next.tv_nsec / 1000000000L;
		next.tv_nsec %= 1000000000L;
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
		if (one_request(t, &fd, 0, false) < 0)
			count_error();
		else
			ok++;
		if (fd >= 0)
			close(fd);
	}
	printf("mode=light-%s requests=%u ok=%u success=%.1f%% unbound=%llu", kind_name(t->kind),
	       count, ok, count ? 100.0 * ok / count : 0.0, (unsigned long long)st.unbound);
	if (ok < count)
		printf(" last_failure=%s%d", last_failure > 0 ? "http-" : "errno-",
		       last_failure > 0 ? last_failure : -last_failure);
	print_lat();
	return 0;
}

struct mem {
	long rss, pss, anon;
};

static int read_mem(pid_t pid, struct mem *m)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	*m = (struct mem){ -1, -1, -1 };
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "Rss: %ld kB", &m->rss);
		sscanf(line, "Pss: %ld kB", &m->pss);
		sscanf(line, "Anonymous: %ld kB", &m->anon);
	}
	fclose(f);
	return 0;
}

static void print_mem_delta(const char *what, const struct mem *a, const struct mem *b,
			    unsigned int n)
{
	printf(" %s_rss_bytes_per=%.0f %s_anon_bytes_per=%.0f", what,
	       (double)(b->rss - a->rss) * 1024 / n, what, (double)(b->anon - a->anon) * 1024 / n);
}

static int run_hold(struct target *t, unsigned int n)
{
	int *fds = calloc(n, sizeof(int));
	struct mem m0, m1, m2;
	unsigned int held = 0;
	u64 pid = 0;
	int rc = 1;

	env_u64("BENCH_PID", &pid);
	if (!fds || !pid || read_mem((pid_t)pid, &m0) < 0) {
		fprintf(stderr, "snpd-load hold: needs BENCH_PID of snpd\n");
		return 1;
	}
	for (unsigned int i = 0; i < n; i++) {
		fds[i] = -1;
		if (t->kind == K_FS) {
			u8 nonce[64];

			make_nonce(next_nonce_index(), nonce);
			fds[i] = open(t->path, O_RDWR | O_CLOEXEC);
			if (fds[i] < 0 || write(fds[i], nonce, 64) != 64)
				break;
		} else if (one_request(t, &fds[i], i, true) < 0 || fds[i] < 0) {
			break;
		}
		held++;
	}
	read_mem((pid_t)pid, &m1);
	printf("mode=hold-%s wanted=%u held=%u rss_kib_before=%ld rss_kib_with=%ld",
	       kind_name(t->kind), n, held, m0.rss, m1.rss);
	if (held == n) {
		print_mem_delta(t->kind == K_FS ? "handle_nonce" : "conn", &m0, &m1, n);
		rc = 0;
	}
	if (t->kind == K_FS && held == n) {
		/* the same handles once each has read its report */
		for (unsigned int i = 0; i < n; i++) {
			u8 buf[SNP_REPORT_SIZE];

			if (read(fds[i], buf, sizeof(buf)) != (ssize_t)sizeof(buf))
				rc = 1;
		}
		read_mem((pid_t)pid, &m2);
		print_mem_delta("handle_report", &m0, &m2, n);
	}
	for (unsigned int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	return rc;
}

static int run_presign(const char *spec, const char *out, u64 count)
{
	char err[SNP_ERRBUF];
	struct snp_backend *b;
	u64 presign_vmpl = 0;
	FILE *f;
	int r, rc = 0;

	env_u64("BENCH_PRESIGN_VMPL", &presign_vmpl); /* for the self-test */
	if (!count || count > 65536 || presign_vmpl > 3)
		return 2;
	r = snp_backend_open(spec, &b, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "snpd-load: %s\n", err);
		return 1;
	}
	f = fopen(out, "we");
	if (!f)
		return 1;
	for (u64 i = 0; i < count && !rc; i++) {
		struct snp_backend_report_req req = { 0 };
		struct snp_backend_report rep = { 0 };
		struct snp_backend_error e;

		make_nonce(nonce_base + i, req.report_data);
		req.vmpl = (u32)presign_vmpl;
		if (snp_backend_get_report(b, &req, &rep, &e) < 0 ||
		    fwrite(rep.report, SNP_REPORT_SIZE, 1, f) != 1)
			rc = 1;
		snp_backend_report_release(&rep);
	}
	if (fclose(f) != 0)
		rc = 1;
	snp_backend_free(b);
	return rc;
}

/*
 * Start snpd with a private NOTIFY_SOCKET and wait for READY=1. @keep:
 * leave it running (its stdout goes to stderr) and print its pid;
 * otherwise stop it.
 */
static int run_ready(double timeout, char **argv, bool keep)
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
		if (keep)
			dup2(STDERR_FILENO, STDOUT_FILENO);
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
			if (keep)
				printf("pid=%d ", (int)pid);
			printf("ready_ms=%.1f\n", (t - t0) * 1e3);
			rc = 0;
			break;
		}
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			fprintf(stderr, "snpd-load: snpd exited before READY=1\n");
			pid = 0;
			break;
		}
	}
	if (pid > 0 && (!keep || rc)) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
	close(fd);
	unlink(sa.sun_path);
	rmdir(dir);
	return rc;
}

static int parse_addr(const char *s, struct sockaddr_in *sa, bool port)
{
	char host[64];
	const char *colon = port ? strrchr(s, ':') : NULL;
	u64 p = 0;

	if (port && (!colon || snp_parse_u64(colon + 1, &p) < 0 || !p || p > 65535))
		return -1;
	snprintf(host, sizeof(host), "%.*s", port ? (int)(colon - s) : (int)strlen(s), s);
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((u16)p);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static int parse_target(const char *kind, const char *where, const char *what, struct target *t)
{
	static char path[4096];

	memset(t, 0, sizeof(*t));
	t->healthz = what && !strcmp(what, "healthz");
	t->evidence = what && !strcmp(what, "evidence");
	if (!strcmp(kind, "fs")) {
		t->kind = K_FS;
		snprintf(path, sizeof(path), "%s/%s", where, t->evidence ? "evidence" : "report");
		t->path = path;
		return 0;
	}
	if (!strcmp(kind, "unix")) {
		t->kind = K_UNIX;
		t->path = where;
		return 0;
	}
	if (!strcmp(kind, "tcp")) {
		t->kind = K_TCP;
		return parse_addr(where, &t->tcp, true);
	}
	if (!strcmp(kind, "raw")) {
		char err[SNP_ERRBUF];

		t->kind = K_RAW;
		if (snp_backend_open(where, &t->backend, err, sizeof(err)) < 0) {
			fprintf(stderr, "snpd-load: %s\n", err);
			return -1;
		}
		return 0;
	}
	return -1;
}

static int parse_src(void)
{
	const char *s = getenv("BENCH_SRC");
	char buf[1024], *save = NULL;

	if (!s || !*s)
		return 0;
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *a = strtok_r(buf, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
		if (nr_src == MAX_SRC || parse_addr(a, &src_addr[nr_src], false) < 0)
			return -1;
		nr_src++;
	}
	return 0;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: snpd-load raw BACKEND THREADS SECONDS\n"
		"       snpd-load fs MOUNT THREADS SECONDS\n"
		"       snpd-load unix|tcp SOCKET|ADDR:PORT report|healthz THREADS SECONDS\n"
		"       snpd-load evidence fs|unix|tcp MOUNT|SOCKET|ADDR:PORT THREADS SECONDS\n"
		"       snpd-load light fs|unix|tcp MOUNT|SOCKET|ADDR:PORT INTERVAL_MS COUNT\n"
		"       snpd-load hold fs|unix|tcp MOUNT|SOCKET|ADDR:PORT N\n"
		"       snpd-load presign BACKEND OUT COUNT\n"
		"       snpd-load ready|start TIMEOUT SNPD [ARGS...]\n");
	return 2;
}

static int parse_uint(const char *s, u64 max, u64 *ret)
{
	if (snp_parse_u64(s, ret) < 0 || !*ret || *ret > max) {
		fprintf(stderr, "snpd-load: bad number '%s'\n", s);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct target t;
	u64 a, b;
	int rc;

	struct rlimit rl;
	const char *tm = getenv("BENCH_EVIDENCE_TAMPER");
	const char *fl = getenv("BENCH_EVIDENCE_FLOOR");

	if (argc < 2)
		return usage();
	/* one fd per client and more: up to the hard limit */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (tm && *tm) {
		if (!strcmp(tm, "nonce"))
			tamper = T_NONCE;
		else if (!strcmp(tm, "report-data"))
			tamper = T_REPORT_DATA;
		else if (!strcmp(tm, "signature"))
			tamper = T_SIGNATURE;
		else
			return usage();
	}
	floor_mode = fl && !strcmp(fl, "1");
	signal(SIGPIPE, SIG_IGN); /* a refused connection is an error, not the end */
	env_u64("BENCH_NONCE_SEED", &nonce_seed);
	env_u64("BENCH_NONCE_BASE", &nonce_base);
	env_u64("BENCH_NONCE_COUNT", &nonce_count);
	env_u64("BENCH_VERIFY_EVERY", &verify_every);
	if (!nonce_count || !verify_every || parse_src() < 0) {
		fprintf(stderr, "snpd-load: bad BENCH_* setting\n");
		return 2;
	}
	if (!strcmp(argv[1], "ready") && argc >= 4)
		return run_ready(strtod(argv[2], NULL), argv + 3, false);
	if (!strcmp(argv[1], "start") && argc >= 4)
		return run_ready(strtod(argv[2], NULL), argv + 3, true);
	if (!strcmp(argv[1], "presign") && argc == 5)
		return parse_uint(argv[4], 65536, &a) < 0 ? 2 : run_presign(argv[2], argv[3], a);

	st.lat = calloc(MAX_SAMPLES, sizeof(double));
	st.kept = calloc(MAX_KEPT, SNP_REPORT_SIZE);
	st.fp = calloc(MAX_SAMPLES, sizeof(u64));
	st.start = calloc(MAX_SAMPLES, sizeof(double));
	st.leaf = calloc(MAX_SAMPLES, sizeof(u32));
	st.client = calloc(MAX_SAMPLES, sizeof(u32));
	if (!st.lat || !st.kept || !st.fp || !st.start || !st.leaf || !st.client)
		return 1;
	if (!strcmp(argv[1], "evidence") && argc == 6) {
		if (parse_target(argv[2], argv[3], "evidence", &t) < 0 || t.kind == K_RAW ||
		    parse_uint(argv[4], MAX_THREADS, &a) < 0 || parse_uint(argv[5], 3600, &b) < 0)
			return 2;
		rc = run_load(&t, (unsigned int)a, (double)b);
		if (check_evidence())
			rc = 1;
		printf("\n");
		goto out;
	}
	if ((!strcmp(argv[1], "raw") || !strcmp(argv[1], "fs")) && argc == 5) {
		if (parse_target(argv[1], argv[2], NULL, &t) < 0 ||
		    parse_uint(argv[3], MAX_THREADS, &a) < 0 || parse_uint(argv[4], 3600, &b) < 0)
			return 2;
		rc = run_load(&t, (unsigned int)a, (double)b);
	} else if ((!strcmp(argv[1], "unix") || !strcmp(argv[1], "tcp")) && argc == 6) {
		if (parse_target(argv[1], argv[2], argv[3], &t) < 0 ||
		    parse_uint(argv[4], MAX_THREADS, &a) < 0 || parse_uint(argv[5], 3600, &b) < 0)
			return 2;
		rc = run_load(&t, (unsigned int)a, (double)b);
	} else if (!strcmp(argv[1], "light") && argc == 6) {
		if (parse_target(argv[2], argv[3], NULL, &t) < 0 ||
		    parse_uint(argv[4], 3600000, &a) < 0 || parse_uint(argv[5], 100000, &b) < 0)
			return 2;
		rc = run_light(&t, (double)a / 1e3, (unsigned int)b);
	} else if (!strcmp(argv[1], "hold") && argc == 5) {
		if (parse_target(argv[2], argv[3], NULL, &t) < 0 ||
		    parse_uint(argv[4], 100000, &a) < 0)
			return 2;
		rc = run_hold(&t, (unsigned int)a);
	} else {
		return usage();
	}
	if (check_kept())
		rc = 1;
	printf("\n");
out:
	if (t.backend)
		snp_backend_free(t.backend);
	free(st.lat);
	free(st.kept);
	free(st.fp);
	free(st.start);
	free(st.leaf);
	free(st.client);
	return rc;
}
