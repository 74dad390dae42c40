// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/util.h"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

ssize_t snp_hex_decode(const char *s, size_t len, uint8_t *out, size_t max, bool allow_space)
{
	size_t n = 0;
	int hi = -1;

	for (size_t i = 0; i < len; i++) {
		int v;

		if (allow_space && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t'))
			continue;
		v = hexval((unsigned char)s[i]);
		if (v < 0)
			return -EINVAL;
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n >= max)
			return -ENOBUFS;
		out[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	if (hi >= 0)
		return -EINVAL;
	return (ssize_t)n;
}

void snp_hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

char *snp_hex_new(const uint8_t *in, size_t n)
{
	char *s;

	if (n > (SIZE_MAX - 1) / 2)
		return NULL;
	s = malloc(2 * n + 1);
	if (s)
		snp_hex_encode(in, n, s);
	return s;
}

int snp_nonce_name_parse(const char *name, uint8_t *out, size_t *ret_len, bool *ret_json)
{
	size_t n = strlen(name);
	ssize_t k;
	bool json = false;

	if (n > 5 && !strcmp(name + n - 5, ".json")) {
		json = true;
		n -= 5;
	}
	if (n > SNP_NONCE_NAME_HEX_MAX)
		return -ENAMETOOLONG;
	if (n < SNP_NONCE_NAME_HEX_MIN || n % 2)
		return -EINVAL;
	k = snp_hex_decode(name, n, out, SNP_NONCE_NAME_HEX_MAX / 2, false);
	if (k < 0)
		return -EINVAL;
	*ret_len = (size_t)k;
	*ret_json = json;
	return 0;
}

bool snp_mem_is_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

char *snp_printable_quoted(char *out, size_t outlen, const void *in, size_t n, char quote)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *p = in;
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] >= 0x20 && p[i] <= 0x7e && p[i] != '\\' &&
		    (!quote || p[i] != (uint8_t)quote)) {
			if (o + 1 >= outlen)
				break;
			out[o++] = (char)p[i];
			continue;
		}
		if (o + 4 >= outlen)
			break;
		out[o++] = '\\';
		out[o++] = 'x';
		out[o++] = digits[p[i] >> 4];
		out[o++] = digits[p[i] & 0xf];
	}
	out[o] = '\0';
	return out;
}

char *snp_printable(char *out, size_t outlen, const void *in, size_t n)
{
	return snp_printable_quoted(out, outlen, in, n, '\0');
}

uint64_t snp_timespec_usec(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000 + (uint64_t)ts->tv_nsec / 1000;
}

uint64_t snp_monotonic_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return snp_timespec_usec(&ts);
}

/* Read @fd to its end into a new NUL-terminated buffer of at most @max bytes. */
static int read_fd(int fd, size_t max, uint8_t **ret_data, size_t *ret_len)
{
	_cleanup_(freep) uint8_t *buf = NULL;
	size_t len = 0, cap = 0;

	for (;;) {
		ssize_t k;

		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 4096;
			uint8_t *nbuf;

			if (ncap > max + 1)
				ncap = max + 1;
			if (ncap <= cap)
				return -EFBIG;
			nbuf = realloc(buf, ncap + 1);
			if (!nbuf)
				return -ENOMEM;
			buf = nbuf;
			cap = ncap;
		}
		k = read(fd, buf + len, cap - len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			break;
		len += (size_t)k;
		if (len > max)
			return -EFBIG;
	}
	if (!buf) {
		buf = malloc(1);
		if (!buf)
			return -ENOMEM;
	}
	buf[len] = '\0';
	*ret_data = buf;
	buf = NULL;
	*ret_len = len;
	return 0;
}

int snp_read_file(const char *path, size_t max, uint8_t **ret_data, size_t *ret_len)
{
	int fd, r;

	if (strcmp(path, "-") == 0)
		return read_fd(STDIN_FILENO, max, ret_data, ret_len);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	r = read_fd(fd, max, ret_data, ret_len);
	close(fd);
	return r;
}

static int read_regular(const char *path, int flags, size_t max, uint8_t **ret_data,
			size_t *ret_len)
{
	struct stat st;
	int fd, r;

	/* O_NONBLOCK: opening a FIFO for reading must not wait for a writer */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | flags);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = S_ISDIR(st.st_mode) ? -EISDIR : -EBADFD;
	else
		r = read_fd(fd, max, ret_data, ret_len);
	close(fd);
	return r;
}

int snp_read_regular_file(const char *path, size_t max, uint8_t **ret_data, size_t *ret_len)
{
	/* O_NOFOLLOW: the name itself, not where a symbolic link points */
	return read_regular(path, O_NOFOLLOW, max, ret_data, ret_len);
}

int snp_read_regular_file_follow(const char *path, size_t max, uint8_t **ret_data, size_t *ret_len)
{
	return read_regular(path, 0, max, ret_data, ret_len);
}

int snp_write_file(const char *path, const void *data, size_t len, int mode)
{
	const uint8_t *p = data;
	int fd;

	if (strcmp(path, "-") == 0)
		fd = STDOUT_FILENO;
	else
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, mode);
	if (fd < 0)
		return -errno;
	while (len > 0) {
		ssize_t k = write(fd, p, len);

		if (k < 0) {
			int r = -errno;

			if (errno == EINTR)
				continue;
			if (fd != STDOUT_FILENO)
				close(fd);
			return r;
		}
		p += k;
		len -= (size_t)k;
	}
	if (fd != STDOUT_FILENO && close(fd) < 0)
		return -errno;
	return 0;
}

static bool is_digit(char c, int base)
{
	if (c >= '0' && c <= '9')
		return true;
	return base == 16 && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'));
}

/* Digits of @base (10 or 16) from @s to its end into @ret; at least one. */
static int parse_u64_digits(const char *s, int base, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	/*
	 * Digits only: strtoull() would skip leading space, take a sign (and
	 * negate!) and, in base 16, a second "0x".
	 */
	if (!s || !*s)
		return -EINVAL;
	for (const char *c = s; *c; c++)
		if (!is_digit(*c, base))
			return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno == ERANGE)
		return -ERANGE;
	if (errno || *end)
		return -EINVAL;
	*ret = v;
	return 0;
}

int snp_parse_u64(const char *s, uint64_t *ret)
{
	return parse_u64_digits(s, 10, ret);
}

int snp_parse_u64_or_hex(const char *s, uint64_t *ret)
{
	if (s && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		return parse_u64_digits(s + 2, 16, ret);
	return parse_u64_digits(s, 10, ret);
}

int snp_parse_u32_max(const char *s, uint32_t max, uint32_t *ret)
{
	uint64_t v;
	int r;

	r = snp_parse_u64(s, &v);
	if (r < 0)
		return r;
	if (v > max)
		return -ERANGE;
	*ret = (uint32_t)v;
	return 0;
}

void *snp_page_alloc(size_t size)
{
	void *p = NULL;

	size = (size + 4095) & ~(size_t)4095;
	if (posix_memalign(&p, 4096, size) != 0)
		return NULL;
	memset(p, 0, size);
	return p;
}

void snp_page_free(void *p, size_t size)
{
	if (!p)
		return;
	explicit_bzero(p, size);
	munlock(p, size);
	free(p);
}

void snp_vmsgf(char *buf, size_t len, const char *fmt, va_list ap)
{
	static const char ell[] = "...";
	size_t cut;
	int n;

	if (!buf || !len)
		return;
	n = vsnprintf(buf, len, fmt, ap);
	if (n < 0) {
		buf[0] = '\0';
		return;
	}
	if ((size_t)n < len)
		return;
	if (len < sizeof(ell)) {
		buf[0] = '\0';
		return;
	}
	/*
	 * Too long: cut after the last whole word that leaves room for the
	 * ellipsis; a single word longer than that (a hex string) is cut
	 * where the room ends, never inside a UTF-8 sequence.
	 */
	cut = len - sizeof(ell);
	while (cut > 0 && buf[cut] != ' ')
		cut--;
	while (cut > 0 && (buf[cut - 1] == ' ' || buf[cut - 1] == ',' || buf[cut - 1] == ';' ||
			   buf[cut - 1] == ':' || buf[cut - 1] == '('))
		cut--;
	if (cut == 0) {
		cut = len - sizeof(ell);
		while (cut > 0 && ((unsigned char)buf[cut] & 0xc0) == 0x80)
			cut--;
	}
	memcpy(buf + cut, ell, sizeof(ell));
}

void snp_msgf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	snp_vmsgf(buf, len, fmt, ap);
	va_end(ap);
}

void snp_vappendf(char *buf, size_t len, const char *fmt, va_list ap)
{
	size_t n;

	if (!buf || !len)
		return;
	n = strnlen(buf, len);
	if (n && n + 3 < len) { /* the separator and at least one byte */
		memcpy(buf + n, "; ", 3);
		n += 2;
	} else if (n) {
		return;
	}
	vsnprintf(buf + n, len - n, fmt, ap);
}

void snp_appendf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	snp_vappendf(buf, len, fmt, ap);
	va_end(ap);
}
