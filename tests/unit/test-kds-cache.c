// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of lib/kds.c's cache against what anyone who can write to it
 * may leave there, and of the text it passes on:
 *  - a FIFO (or a symbolic link) in place of an entry is a miss, and is
 *    never waited on: opening a FIFO for reading would block until a
 *    writer comes (SIGALRM interrupts a call blocked for 5 s, and the
 *    test fails);
 *  - a backoff file's until= counts for at most SNP_KDS_BACKOFF_MAX_S (the
 *    cap of Retry-After), however far ahead it says;
 *  - a CRL's issuer (unchecked text) goes into the error as printable
 *    ASCII only;
 *  - KdsCAFile= is never waited on (a FIFO, or a pipe, is refused at
 *    once); snpctl's --kds-ca reads a pipe, bounded (snp_kds_ca_load());
 *  - snp_kds_refused_until() says when a remembered 404 ends (the entry's
 *    mtime + SNP_KDS_REFUSED_TTL_S, wall clock), the moment lib/kds
 *    itself asks KDS again (the last request before it is refused without
 *    asking; the first at it goes to the network, 127.0.0.1:9, refused).
 * Offline, in a temporary cache: no network.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "lib/kds.h"
#include "lib/util.h"

struct fx {
	char dir[1024];
	struct snp_kds k;
};

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

static int setup(void **state)
{
	static struct fx f;
	const char *tmp = getenv("TMPDIR");

	memset(&f, 0, sizeof(f));
	snprintf(f.dir, sizeof(f.dir), "%s/test-kds-cache.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(f.dir))
		return -1;
	snp_kds_init(&f.k);
	snprintf(f.k.cache_dir, sizeof(f.k.cache_dir), "%s", f.dir);
	snprintf(f.k.base_url, sizeof(f.k.base_url), "%s", "http://127.0.0.1:9");
	f.k.offline = true;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	return 0;
}

static volatile sig_atomic_t blocked;

static void on_alarm(int sig)
{
	(void)sig;
	blocked = 1;
}

/*
 * Calls that could block on a FIFO run between watch() and unwatched():
 * a call still blocked after 5 s is interrupted (no SA_RESTART: EINTR;
 * then every second), and the test fails.
 */
static void watch(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	/* again every second: each blocked call is interrupted in turn */
	struct itimerval it = { .it_value = { .tv_sec = 5 }, .it_interval = { .tv_sec = 1 } };

	blocked = 0;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGALRM, &sa, NULL), 0);
	assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
}

static void unwatched(void)
{
	struct itimerval off = { 0 };

	setitimer(ITIMER_REAL, &off, NULL);
	if (blocked)
		print_message("a call blocked on a FIFO in the cache until interrupted\n");
	assert_false(blocked);
}

/* @dir/@sub/@name as a FIFO (or, with @target, a symbolic link to it). */
static void plant(const struct fx *f, const char *sub, const char *name, const char *target)
{
	char p[PATH_MAX + 128];

	snprintf(p, sizeof(p), "%s/%s", f->dir, sub);
	assert_true(mkdir(p, 0755) == 0 || errno == EEXIST);
	snprintf(p, sizeof(p), "%s/%s/%s", f->dir, sub, name);
	if (target)
		assert_int_equal(symlink(target, p), 0);
	else
		assert_int_equal(mkfifo(p, 0644), 0);
}

static void test_fifo_is_a_miss(void **state)
{
	struct fx *f = *state;
	struct snp_kds_key key = { .product = SNP_PRODUCT_MILAN, .hwid_len = 64 };
	enum snp_kds_source src = SNP_KDS_SRC_NONE;
	char err[SNP_ERRBUF], name[256], hex[129];
	X509_CRL *crl = NULL;
	X509 *c = NULL, *ark = NULL;

	memset(key.hwid, 0xab, sizeof(key.hwid));
	key.tcb.bootloader = 3;
	key.tcb.snp = 8;
	key.tcb.microcode = 115;
	snp_hex_encode(key.hwid, 64, hex);
	snprintf(name, sizeof(name), "Milan-%s-0-3-0-8-115.der", hex);
	plant(f, "vcek", name, NULL);
	plant(f, "chain", "Milan-vcek.pem", NULL);
	plant(f, "crl", "Milan-vcek.crl", NULL);
	/* a symbolic link is not followed (here to the FIFO above) */
	plant(f, "crl", "Milan-vlek.crl", "Milan-vcek.crl");

	watch();
	assert_int_equal(
		snp_kds_get_crl(&f->k, SNP_PRODUCT_MILAN, false, &crl, &src, err, sizeof(err)),
		-ENOENT);
	assert_int_equal(
		snp_kds_get_crl(&f->k, SNP_PRODUCT_MILAN, true, &crl, &src, err, sizeof(err)),
		-ENOENT);
	assert_int_equal(snp_kds_get_chain(&f->k, SNP_PRODUCT_MILAN, false, &c, &ark, &src, err,
					   sizeof(err)),
			 -ENOENT);
	assert_int_equal(snp_kds_get_vcek(&f->k, &key, &c, &src, err, sizeof(err)), -ENOENT);
	unwatched();
}

static void test_fifo_backoff(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX + 16];

	snprintf(p, sizeof(p), "%s/backoff", f->dir);
	assert_int_equal(mkfifo(p, 0644), 0);
	watch();
	assert_int_equal(snp_kds_backoff_until(&f->k), 0);
	unwatched();
}

static void test_fifo_in_ro_cache(void **state)
{
	struct fx *f = *state;
	enum snp_kds_source src = SNP_KDS_SRC_NONE;
	char err[SNP_ERRBUF], ro[2048];
	X509_CRL *crl = NULL;

	/* snpd's cache, read by a user's snpctl: the same rule */
	snprintf(ro, sizeof(ro), "%s/ro", f->dir);
	assert_int_equal(mkdir(ro, 0755), 0);
	snprintf(f->k.ro_cache_dir, sizeof(f->k.ro_cache_dir), "%s", ro);
	snprintf(f->k.cache_dir, sizeof(f->k.cache_dir), "%s/own", f->dir);
	snprintf(ro, sizeof(ro), "%s/ro/crl", f->dir);
	assert_int_equal(mkdir(ro, 0755), 0);
	snprintf(ro, sizeof(ro), "%s/ro/crl/Milan-vcek.crl", f->dir);
	assert_int_equal(mkfifo(ro, 0644), 0);
	watch();
	assert_int_equal(
		snp_kds_get_crl(&f->k, SNP_PRODUCT_MILAN, false, &crl, &src, err, sizeof(err)),
		-ENOENT);
	unwatched();
}

static void write_backoff(const struct fx *f, uint64_t until)
{
	char p[PATH_MAX + 16];
	FILE *fp;

	snprintf(p, sizeof(p), "%s/backoff", f->dir);
	fp = fopen(p, "we");
	assert_non_null(fp);
	fprintf(fp, "until=%" PRIu64 "\n", until);
	assert_int_equal(fclose(fp), 0);
}

static void test_backoff_capped(void **state)
{
	struct fx *f = *state;
	time_t now = time(NULL), got;

	char p[PATH_MAX + 16];

	f->k.now = now;
	/* 200 years: accepted before (up to year ~2514), KDS silenced for good */
	write_backoff(f, (uint64_t)now + 200ULL * 365 * 86400);
	got = snp_kds_backoff_until(&f->k);
	print_message("backoff file 200 years ahead: %lld s from now\n", (long long)(got - now));
	/*
	 * Beyond SNP_KDS_BACKOFF_MAX_S (the cap of Retry-After: a day) it is
	 * no backoff, and removed: capped at now + a day, it would read so
	 * again a day later, and forever
	 */
	assert_int_equal(got, 0);
	snprintf(p, sizeof(p), "%s/backoff", f->dir);
	assert_int_equal(access(p, F_OK), -1);
	f->k.now = now + 2 * 24 * 3600;
	assert_int_equal(snp_kds_backoff_until(&f->k), 0);
	/* one that is within the cap is what it says */
	f->k.now = now;
	write_backoff(f, (uint64_t)now + 900);
	assert_int_equal(snp_kds_backoff_until(&f->k), now + 900);
	f->k.now = 0;
}

/* Remember a 404 of @urlpath as lib/kds does (refused/<sha256 of it>), written at @mtime. */
static void write_refused(const struct fx *f, const char *urlpath, time_t mtime)
{
	char p[PATH_MAX + 96], hex[65];
	struct timespec ts[2] = { { .tv_sec = mtime }, { .tv_sec = mtime } };
	u8 md[32];
	FILE *fp;

	assert_int_equal(EVP_Digest(urlpath, strlen(urlpath), md, NULL, EVP_sha256(), NULL), 1);
	snp_hex_encode(md, sizeof(md), hex);
	snprintf(p, sizeof(p), "%s/refused", f->dir);
	(void)mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/refused/%s", f->dir, hex);
	fp = fopen(p, "we");
	assert_non_null(fp);
	fputs(urlpath, fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
}

static void test_refused_until(void **state)
{
	struct fx *f = *state;
	time_t now = time(NULL), at = now - 3600, until = at + SNP_KDS_REFUSED_TTL_S;
	enum snp_kds_source src;
	char path[256], err[SNP_ERRBUF];
	X509_CRL *crl = NULL;

	assert_int_equal(snp_kds_crl_path(SNP_PRODUCT_MILAN, false, path, sizeof(path)), 0);
	assert_int_equal(snp_kds_refused_until(&f->k, path), 0);
	assert_int_equal(snp_kds_refused_until(&f->k, NULL), 0);
	assert_int_equal(snp_kds_refused_until(NULL, path), 0);

	write_refused(f, path, at);
	assert_int_equal(snp_kds_refused_until(&f->k, path), until);
	print_message("a 404 remembered an hour ago: refused until %lld (now %lld)\n",
		      (long long)until, (long long)now);
	/* another path is not refused */
	assert_int_equal(snp_kds_crl_path(SNP_PRODUCT_GENOA, false, err, sizeof(err)), 0);
	assert_int_equal(snp_kds_refused_until(&f->k, err), 0);

	/* online: refused without asking until then, asked at it */
	f->k.offline = false;
	f->k.now = until - 1;
	assert_int_equal(snp_kds_refused_until(&f->k, path), until);
	assert_int_equal(
		snp_kds_get_crl(&f->k, SNP_PRODUCT_MILAN, false, &crl, &src, err, sizeof(err)),
		-ENXIO);
	assert_int_equal(f->k.requests, 0);
	f->k.now = until;
	assert_int_equal(snp_kds_refused_until(&f->k, path), 0);
	assert_int_not_equal(
		snp_kds_get_crl(&f->k, SNP_PRODUCT_MILAN, false, &crl, &src, err, sizeof(err)),
		-ENXIO);
	print_message("at the end, KDS is asked: %s\n", err);
	assert_null(crl);
	f->k.offline = true;
	f->k.now = 0;

	/* older than the TTL: over */
	write_refused(f, path, now - SNP_KDS_REFUSED_TTL_S - 1);
	assert_int_equal(snp_kds_refused_until(&f->k, path), 0);
}

static bool printable_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

static void test_crl_issuer_escaped(void **state)
{
	struct fx *f = *state;
	/* control bytes, an ANSI escape, bytes that are not UTF-8 */
	static const u8 cn[] = "ARK-\x1b[31m\xff\xfe\xc3(\n\r\tMilan";
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509_CRL *crl = X509_CRL_new();
	X509_NAME *name = X509_NAME_new();
	ASN1_TIME *t = ASN1_TIME_adj(NULL, time(NULL), 1, 0);
	char err[SNP_ERRBUF] = "";

	assert_non_null(key);
	assert_non_null(crl);
	assert_non_null(name);
	assert_non_null(t);
	/* a T61String: any bytes, as they are (OpenSSL checks a UTF8String's) */
	assert_int_equal(X509_NAME_add_entry_by_NID(name, NID_commonName, V_ASN1_T61STRING, cn,
						    (int)sizeof(cn) - 1, -1, 0),
			 1);
	assert_int_equal(X509_CRL_set_issuer_name(crl, name), 1);
	assert_int_equal(X509_CRL_set1_lastUpdate(crl, t), 1);
	assert_int_equal(X509_CRL_set1_nextUpdate(crl, t), 1);
	assert_true(X509_CRL_sign(crl, key, EVP_sha384()) > 0);

	assert_int_equal(
		snp_kds_cache_put_crl(&f->k, SNP_PRODUCT_MILAN, false, crl, err, sizeof(err)),
		-EBADMSG);
	print_message("error: %s\n", printable_ascii(err) ? err : "(not printable)");
	assert_non_null(strstr(err, "CRL issuer is"));
	assert_true(printable_ascii(err));
	assert_non_null(strstr(err, "\\x1b[31m\\xff\\xfe\\xc3(\\x0a"));

	ASN1_TIME_free(t);
	X509_NAME_free(name);
	X509_CRL_free(crl);
	EVP_PKEY_free(key);
}

/*
 * KdsCAFile= that became a FIFO: the lookup fails at once, saying so. The
 * server listens (the kernel completes the handshake), so libcurl would
 * get as far as loading its CAs: with the path given to it (before), its
 * fopen() of the FIFO blocked until interrupted.
 */
static void test_fifo_ca_file(void **state)
{
	struct fx *f = *state;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	X509_CRL *crl = NULL;
	enum snp_kds_source src;
	char err[512] = "";
	int srv, r;

	srv = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(srv >= 0);
	assert_int_equal(bind(srv, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(srv, 4), 0);
	assert_int_equal(getsockname(srv, (struct sockaddr *)&a, &alen), 0);
	snprintf(f->k.base_url, sizeof(f->k.base_url), "https://127.0.0.1:%u",
		 (unsigned int)ntohs(a.sin_port));
	snprintf(f->k.ca_file, sizeof(f->k.ca_file), "%s/ca.pem", f->dir);
	assert_int_equal(mkfifo(f->k.ca_file, 0644), 0);
	f->k.offline = false;
	f->k.connect_timeout_ms = 3000;
	f->k.total_timeout_ms = 3000;

	watch();
	r = snp_kds_get_crl(&f->k, SNP_PRODUCT_MILAN, false, &crl, &src, err, sizeof(err));
	unwatched();
	close(srv);
	assert_true(r < 0);
	assert_null(crl);
	print_message("%s\n", err);
	assert_non_null(strstr(err, "not a regular file"));
}

/* A pipe's read end as a path (what a shell's `<(...)` hands over). */
static void pipe_path(int fds[2], char *path, size_t len)
{
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	snprintf(path, len, "/proc/self/fd/%d", fds[0]);
}

/*
 * snp_kds_ca_load(): a pipe is refused at once without
 * SNP_KDS_CA_ANY_FILE (the daemon's KdsCAFile=), and read with it (snpctl's
 * --kds-ca), up to SNP_KDS_CA_MAX bytes: a writer with more is not read to
 * its end.
 */
static void test_ca_load_flags(void **state)
{
	static const char pem[] = "-----BEGIN CERTIFICATE-----\n";
	char path[64], err[512] = "", chunk[65536];
	size_t len = 0;
	u8 *data = NULL;
	int fds[2], status;
	pid_t pid;

	(void)state;
	pipe_path(fds, path, sizeof(path));
	assert_int_equal(write(fds[1], pem, strlen(pem)), (ssize_t)strlen(pem));
	close(fds[1]);

	watch();
	assert_int_equal(snp_kds_ca_load(path, 0, &data, &len, err, sizeof(err)), -EBADFD);
	unwatched();
	assert_null(data);
	assert_non_null(strstr(err, "not a regular file"));

	assert_int_equal(snp_kds_ca_load(path, SNP_KDS_CA_ANY_FILE, &data, &len, err, sizeof(err)),
			 0);
	assert_int_equal(len, strlen(pem));
	assert_memory_equal(data, pem, len);
	free(data);
	data = NULL;
	close(fds[0]);

	/* a writer that would go on for SNP_KDS_CA_MAX + 1 MiB */
	pipe_path(fds, path, sizeof(path));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		size_t sent = 0;

		close(fds[0]);
		signal(SIGPIPE, SIG_IGN);
		memset(chunk, 'A', sizeof(chunk));
		while (sent < SNP_KDS_CA_MAX + (1 << 20)) {
			ssize_t n = write(fds[1], chunk, sizeof(chunk));

			if (n <= 0)
				_exit(0); /* the reader is gone (EPIPE) */
			sent += (size_t)n;
		}
		_exit(1); /* all of it was read */
	}
	close(fds[1]);
	assert_int_equal(snp_kds_ca_load(path, SNP_KDS_CA_ANY_FILE, &data, &len, err, sizeof(err)),
			 -EFBIG);
	assert_null(data);
	assert_non_null(strstr(err, "larger than"));
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fifo_is_a_miss, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_backoff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_in_ro_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backoff_capped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_until, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crl_issuer_escaped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_ca_file, setup, teardown),
		cmocka_unit_test(test_ca_load_flags),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
