// SPDX-License-Identifier: Apache-2.0
/*
 * AMD KDS client and its persistent cache; see kds.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <openssl/x509.h>

#include "lib/amd-roots.h"
#include "lib/kds.h"
#include "lib/util.h"
#include "lib/x509-amd.h"

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void snp_kds_init(struct snp_kds *k)
{
	memset(k, 0, sizeof(*k));
	snprintf(k->base_url, sizeof(k->base_url), "%s", SNP_KDS_DEFAULT_URL);
	snprintf(k->cache_dir, sizeof(k->cache_dir), "%s", SNP_KDS_DEFAULT_CACHE_DIR);
	k->connect_timeout_ms = 10000;
	k->total_timeout_ms = 30000;
	k->cache_max_bytes = 16 * 1024 * 1024;
}

const char *snp_kds_source_name(enum snp_kds_source s)
{
	switch (s) {
	case SNP_KDS_SRC_CACHE:
		return "cache";
	case SNP_KDS_SRC_NETWORK:
		return "kds";
	default:
		return "none";
	}
}

static time_t kds_now(const struct snp_kds *k)
{
	return k->now ? k->now : time(NULL);
}

/* ---- keys and URLs ---------------------------------------------------- */

int snp_kds_key_from_report(const struct snp_report_info *ri, struct snp_kds_key *ret, char *err,
			    size_t errlen)
{
	memset(ret, 0, sizeof(*ret));
	if (ri->product == SNP_PRODUCT_UNKNOWN) {
		seterr(err, errlen, "the report does not say its product (give --product)");
		return -EINVAL;
	}
	if (snp_mem_is_zero(ri->r.chip_id, sizeof(ri->r.chip_id))) {
		seterr(err, errlen, "the report's CHIP_ID is masked: KDS cannot be asked");
		return -EINVAL;
	}
	ret->product = ri->product;
	ret->hwid_len = ri->product == SNP_PRODUCT_TURIN ? 8 : 64;
	memcpy(ret->hwid, ri->r.chip_id, ret->hwid_len);
	snp_tcb_decode(le64_to_cpu(ri->r.reported_tcb), snp_report_tcb_layout(ri), &ret->tcb);
	return 0;
}

/* The TCB of a VCEK or VLEK from its SPL extensions (FMC required on Turin). */
static int ext_tcb(const struct snp_amd_ext *ext, enum snp_product product,
		   struct snp_tcb_parts *ret, char *err, size_t errlen)
{
	long v[5];
	static const int idx[5] = { SNP_SPL_FMC, SNP_SPL_BOOTLOADER, SNP_SPL_TEE, SNP_SPL_SNP,
				    SNP_SPL_MICROCODE };

	for (int i = 0; i < 5; i++) {
		bool need = idx[i] != SNP_SPL_FMC || product == SNP_PRODUCT_TURIN;

		if (!ext->has_spl[idx[i]]) {
			if (need) {
				seterr(err, errlen, "certificate lacks SPL .3.%d", idx[i]);
				return -EBADMSG;
			}
			v[i] = 0;
			continue;
		}
		v[i] = ext->spl[idx[i]];
		if (v[i] < 0 || v[i] > 255) {
			seterr(err, errlen, "certificate SPL .3.%d out of range", idx[i]);
			return -EBADMSG;
		}
	}
	memset(ret, 0, sizeof(*ret));
	ret->fmc = (u8)v[0];
	ret->bootloader = (u8)v[1];
	ret->tee = (u8)v[2];
	ret->snp = (u8)v[3];
	ret->microcode = (u8)v[4];
	return 0;
}

int snp_kds_key_from_cert(X509 *vcek, struct snp_kds_key *ret, char *err, size_t errlen)
{
	struct snp_amd_ext ext;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = snp_amd_ext_parse(vcek, &ext, err, errlen);
	if (r < 0)
		return r;
	if (!ext.has_product_name || snp_product_from_string(ext.product_name, &ret->product) < 0) {
		seterr(err, errlen, "certificate has no known productName");
		return -EBADMSG;
	}
	if (!ext.has_hwid) {
		seterr(err, errlen, "certificate has no hwID (not a VCEK)");
		return -EBADMSG;
	}
	if (ext.hwid_len != (ret->product == SNP_PRODUCT_TURIN ? 8u : 64u)) {
		seterr(err, errlen, "hwID of %zu bytes for %s", ext.hwid_len,
		       snp_product_name(ret->product));
		return -EBADMSG;
	}
	ret->hwid_len = ext.hwid_len;
	memcpy(ret->hwid, ext.hwid, ext.hwid_len);
	return ext_tcb(&ext, ret->product, &ret->tcb, err, errlen);
}

static bool key_equal(const struct snp_kds_key *a, const struct snp_kds_key *b)
{
	return a->product == b->product && a->hwid_len == b->hwid_len &&
	       memcmp(a->hwid, b->hwid, a->hwid_len) == 0 &&
	       (a->product != SNP_PRODUCT_TURIN || a->tcb.fmc == b->tcb.fmc) &&
	       a->tcb.bootloader == b->tcb.bootloader && a->tcb.tee == b->tcb.tee &&
	       a->tcb.snp == b->tcb.snp && a->tcb.microcode == b->tcb.microcode;
}

bool snp_kds_cert_matches(X509 *cert, const struct snp_kds_key *key, char *err, size_t errlen)
{
	struct snp_kds_key got;
	EVP_PKEY *pk = X509_get0_pubkey(cert);

	if (!pk || EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC) {
		seterr(err, errlen, "not an ECDSA VCEK");
		return false;
	}
	if (snp_kds_key_from_cert(cert, &got, err, errlen) < 0)
		return false;
	if (!key_equal(&got, key)) {
		seterr(err, errlen,
		       "not the VCEK asked for (%s, hwID or TCB "
		       "bl=%u tee=%u snp=%u uc=%u fmc=%u differ)",
		       snp_product_name(got.product), got.tcb.bootloader, got.tcb.tee, got.tcb.snp,
		       got.tcb.microcode, got.tcb.fmc);
		return false;
	}
	return true;
}

static const char *product_or_null(enum snp_product p)
{
	return p >= SNP_PRODUCT_MILAN && p <= SNP_PRODUCT_TURIN ? snp_product_name(p) : NULL;
}

int snp_kds_vcek_path(const struct snp_kds_key *key, char *buf, size_t len)
{
	const char *pn = product_or_null(key->product);
	char hex[129];
	int n;

	if (!pn || key->hwid_len != (key->product == SNP_PRODUCT_TURIN ? 8u : 64u))
		return -EINVAL;
	snp_hex_encode(key->hwid, key->hwid_len, hex);
	if (key->product == SNP_PRODUCT_TURIN)
		n = snprintf(buf, len,
			     "/vcek/v1/%s/%s?fmcSPL=%u&blSPL=%u&teeSPL=%u&snpSPL=%u&ucodeSPL=%u",
			     pn, hex, key->tcb.fmc, key->tcb.bootloader, key->tcb.tee, key->tcb.snp,
			     key->tcb.microcode);
	else
		n = snprintf(buf, len, "/vcek/v1/%s/%s?blSPL=%u&teeSPL=%u&snpSPL=%u&ucodeSPL=%u",
			     pn, hex, key->tcb.bootloader, key->tcb.tee, key->tcb.snp,
			     key->tcb.microcode);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int simple_path(enum snp_product p, bool vlek, const char *what, char *buf, size_t len)
{
	const char *pn = product_or_null(p);
	int n;

	if (!pn)
		return -EINVAL;
	n = snprintf(buf, len, "/%s/v1/%s/%s", vlek ? "vlek" : "vcek", pn, what);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int snp_kds_chain_path(enum snp_product p, bool vlek, char *buf, size_t len)
{
	return simple_path(p, vlek, "cert_chain", buf, len);
}

int snp_kds_crl_path(enum snp_product p, bool vlek, char *buf, size_t len)
{
	return simple_path(p, vlek, "crl", buf, len);
}

/* ---- the cache directory ---------------------------------------------- */

static int cache_path(const struct snp_kds *k, const char *sub, const char *name, char *buf,
		      size_t len)
{
	int n;

	if (!k->cache_dir[0])
		return -ENOENT;
	if (sub)
		n = snprintf(buf, len, "%s/%s/%s", k->cache_dir, sub, name);
	else
		n = snprintf(buf, len, "%s/%s", k->cache_dir, name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int mkdir_0755(const char *path)
{
	if (mkdir(path, 0755) < 0)
		return errno == EEXIST ? 0 : -errno;
	/* whatever the umask: certificates are public, snpd and users read them */
	if (chmod(path, 0755) < 0)
		return -errno;
	return 0;
}

/* Write @data to sub/name atomically (temporary file, fsync, rename), 0644. */
static int cache_write(const struct snp_kds *k, const char *sub, const char *name, const void *data,
		       size_t len)
{
	char dir[4200], path[4400], tmp[4400];
	const u8 *p = data;
	int fd, r;

	if (!k->cache_dir[0])
		return 0;
	r = mkdir_0755(k->cache_dir);
	if (r < 0)
		return r;
	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", k->cache_dir, sub ? sub : ".") >=
	    sizeof(dir))
		return -ENAMETOOLONG;
	r = mkdir_0755(dir);
	if (r < 0)
		return r;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0644) < 0)
		goto fail;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto fail;
	/* the rename itself survives a crash once the directory is synced */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	return 0;
fail:
	r = -errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return r;
}

/*
 * An entry of the cache (or of ro_cache_dir), a regular file only: anything
 * else there (a FIFO, a device, a symbolic link) is an error, which callers
 * take for a miss, and is never waited on.
 */
static int cache_read(const struct snp_kds *k, const char *sub, const char *name, u8 **ret,
		      size_t *ret_len)
{
	char path[4400];
	int r;

	r = cache_path(k, sub, name, path, sizeof(path));
	if (r == 0)
		r = snp_read_regular_file(path, SNP_KDS_BODY_MAX, ret, ret_len);
	if (r < 0 && k->ro_cache_dir[0]) {
		int n = sub ? snprintf(path, sizeof(path), "%s/%s/%s", k->ro_cache_dir, sub, name) :
			      snprintf(path, sizeof(path), "%s/%s", k->ro_cache_dir, name);

		if (n < 0 || (size_t)n >= sizeof(path))
			return -ENAMETOOLONG;
		r = snp_read_regular_file(path, SNP_KDS_BODY_MAX, ret, ret_len);
	}
	return r;
}

static void cache_remove(const struct snp_kds *k, const char *sub, const char *name)
{
	char path[4400];

	if (cache_path(k, sub, name, path, sizeof(path)) == 0)
		unlink(path);
}

static bool ts_before(const struct timespec *a, const char *an, const struct timespec *b,
		      const char *bn)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec;
	if (a->tv_nsec != b->tv_nsec)
		return a->tv_nsec < b->tv_nsec;
	return strcmp(an, bn) < 0; /* a stable order for equal times */
}

/*
 * Keep vcek/ under cache_max_bytes: remove the least recently used entries
 * first (mtime: written, or touched by a cache hit), never @keep (the entry
 * just written, even when it alone is larger than the bound).
 */
static void cache_evict(const struct snp_kds *k, const char *keep)
{
	char dir[4200];

	if (!k->cache_dir[0] || k->cache_max_bytes == 0)
		return;
	if ((size_t)snprintf(dir, sizeof(dir), "%s/vcek", k->cache_dir) >= sizeof(dir))
		return;
	for (int round = 0; round < 4096; round++) {
		_cleanup_(freep) char *oldest = NULL;
		struct timespec oldest_t = { 0 };
		size_t total = 0;
		struct dirent *de;
		DIR *d = opendir(dir);

		if (!d)
			return;
		while ((de = readdir(d))) {
			struct stat st;

			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
			    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISREG(st.st_mode))
				continue;
			if (de->d_name[0] == '.') {
				/* a temporary left by a writer that died: gone after an hour */
				if (round == 0 && st.st_mtime + 3600 < time(NULL))
					unlinkat(dirfd(d), de->d_name, 0);
				continue;
			}
			total += (size_t)st.st_size;
			if (keep && strcmp(de->d_name, keep) == 0)
				continue;
			if (!oldest || ts_before(&st.st_mtim, de->d_name, &oldest_t, oldest)) {
				free(oldest);
				oldest = strdup(de->d_name);
				oldest_t = st.st_mtim;
			}
		}
		if (total <= k->cache_max_bytes || !oldest) {
			closedir(d);
			return;
		}
		unlinkat(dirfd(d), oldest, 0);
		closedir(d);
	}
}

/* A cache hit: the entry is recently used (best effort; another's cache is read-only). */
static void cache_touch(const struct snp_kds *k, const char *sub, const char *name)
{
	char path[4400];

	if (cache_path(k, sub, name, path, sizeof(path)) == 0)
		(void)utimensat(AT_FDCWD, path, NULL, AT_SYMLINK_NOFOLLOW);
}

/* ---- backoff and refusals --------------------------------------------- */

static time_t backoff_until(const struct snp_kds *k)
{
	_cleanup_(freep) u8 *data = NULL;
	uint64_t v;
	size_t len;
	char *nl;

	if (cache_read(k, NULL, "backoff", &data, &len) < 0)
		return 0;
	if (strncmp((char *)data, "until=", 6) != 0)
		return 0;
	nl = strchr((char *)data, '\n');
	if (nl)
		*nl = '\0';
	if (snp_parse_u64((char *)data + 6, &v) < 0 || v > (uint64_t)INT32_MAX * 4)
		return 0;
	/*
	 * No backoff KDS asks for lasts longer than SNP_KDS_BACKOFF_MAX_S
	 * (http_get() caps Retry-After so): a file saying otherwise (written
	 * by hand, by a clock far ahead, by anyone who can write the cache)
	 * is no backoff, and goes. Capped at now + the maximum instead, it
	 * would still silence KDS for good: the cap moves with the clock, and
	 * only an answer from KDS writes the file again.
	 */
	if (v > (uint64_t)kds_now(k) + SNP_KDS_BACKOFF_MAX_S) {
		cache_remove(k, NULL, "backoff");
		return 0;
	}
	return (time_t)v;
}

static void backoff_set(const struct snp_kds *k, time_t until)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "until=%" PRIu64 "\n", (uint64_t)until);

	(void)cache_write(k, NULL, "backoff", buf, (size_t)n);
}

time_t snp_kds_backoff_until(const struct snp_kds *k)
{
	return backoff_until(k);
}

static void refused_name(const char *path, char out[65])
{
	u8 md[32];

	EVP_Digest(path, strlen(path), md, NULL, EVP_sha256(), NULL);
	snp_hex_encode(md, 32, out);
}

/* When the remembered 404 of @urlpath ends (the entry's mtime + the TTL); 0 if none. */
static time_t refused_until(const struct snp_kds *k, const char *urlpath)
{
	char name[65], path[4400];
	struct stat st;

	refused_name(urlpath, name);
	if (cache_path(k, "refused", name, path, sizeof(path)) < 0 || stat(path, &st) < 0)
		return 0;
	/* the largest time_t, less the TTL: no overflow, whatever the disk says */
	if (st.st_mtime <= 0 ||
	    (int64_t)st.st_mtime >
		    (sizeof(time_t) >= 8 ? INT64_MAX : INT32_MAX) - SNP_KDS_REFUSED_TTL_S)
		return 0;
	return st.st_mtime + SNP_KDS_REFUSED_TTL_S;
}

static bool refused_recently(const struct snp_kds *k, const char *urlpath)
{
	return refused_until(k, urlpath) > kds_now(k);
}

time_t snp_kds_refused_until(const struct snp_kds *k, const char *urlpath)
{
	time_t until;

	if (!k || !urlpath)
		return 0;
	until = refused_until(k, urlpath);
	return until > kds_now(k) ? until : 0;
}

/* ---- HTTP ------------------------------------------------------------- */

struct body {
	u8 *data;
	size_t len;
	bool too_big;
};

static size_t body_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct body *b = userdata;
	size_t n = size * nmemb;
	u8 *p;

	if (n > SNP_KDS_BODY_MAX || b->len + n > SNP_KDS_BODY_MAX) {
		b->too_big = true;
		return 0;
	}
	p = realloc(b->data, b->len + n + 1);
	if (!p)
		return 0;
	memcpy(p + b->len, ptr, n);
	b->data = p;
	b->len += n;
	b->data[b->len] = 0;
	return n;
}

/* libcurl's progress callback (about once a second even when idle): non-zero aborts */
static int xfer_cancelled(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			  curl_off_t ulnow)
{
	const atomic_bool *cancel = userdata;

	return atomic_load(cancel) ? 1 : 0;
}

int snp_kds_ca_load(const char *path, unsigned int flags, u8 **ret, size_t *ret_len, char *err,
		    size_t errlen)
{
	int r;

	/* a regular file is never waited on (a FIFO would hang a daemon's worker) */
	r = flags & SNP_KDS_CA_ANY_FILE ?
		    snp_read_file(path, SNP_KDS_CA_MAX, ret, ret_len) :
		    snp_read_regular_file_follow(path, SNP_KDS_CA_MAX, ret, ret_len);
	if (r == -EBADFD)
		seterr(err, errlen,
		       "KDS CA file %s: not a regular file (a FIFO, device or socket is not read)",
		       path);
	else if (r == -EFBIG)
		seterr(err, errlen, "KDS CA file %s: larger than %d bytes", path, SNP_KDS_CA_MAX);
	else if (r < 0)
		seterr(err, errlen, "KDS CA file %s: %s", path, strerror(-r));
	return r;
}

static int http_get(struct snp_kds *k, const char *urlpath, u8 **ret, size_t *ret_len, char *err,
		    size_t errlen)
{
	struct body b = { 0 };
	char url[1024], cerr[CURL_ERROR_SIZE] = "";
	u8 *ca = NULL;
	size_t ca_len = 0;
	long status = 0;
	curl_off_t retry_after = 0;
	time_t until;
	CURLcode cr;
	CURL *c;
	int r;

	if (k->offline) {
		seterr(err, errlen, "offline and not in the cache (%s)", urlpath);
		return -ENOENT;
	}
	until = backoff_until(k);
	if (until > kds_now(k)) {
		seterr(err, errlen,
		       "KDS asked to back off (HTTP 429/5xx earlier): no request until %" PRIu64
		       " (%" PRId64 " s from now)",
		       (uint64_t)until, (int64_t)(until - kds_now(k)));
		return -EAGAIN;
	}
	if (refused_recently(k, urlpath)) {
		seterr(err, errlen, "KDS refused %s earlier (404): not asked again", urlpath);
		return -ENXIO;
	}
	if ((size_t)snprintf(url, sizeof(url), "%s%s", k->base_url, urlpath) >= sizeof(url))
		return -ENAMETOOLONG;
	if (!k->ca_pem && k->ca_file[0]) {
		/*
		 * Read here, as a regular file that is never waited on (not
		 * by libcurl's fopen(): a FIFO there would hang the caller),
		 * and handed over as bytes.
		 */
		r = snp_kds_ca_load(k->ca_file, 0, &ca, &ca_len, err, errlen);
		if (r < 0)
			return r == -EBADFD ? -EINVAL : r;
	}

	c = curl_easy_init();
	if (!c) {
		free(ca);
		return -ENOMEM;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, k->connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, k->total_timeout_ms);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)SNP_KDS_BODY_MAX);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	/* the defaults, said here: a server certificate is always verified */
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (k->ca_pem || ca) {
		/* only these CAs, not the system's as well */
		struct curl_blob blob = {
			.data = k->ca_pem ? (void *)k->ca_pem : ca,
			.len = k->ca_pem ? k->ca_pem_len : ca_len,
			.flags = CURL_BLOB_COPY,
		};

		curl_easy_setopt(c, CURLOPT_CAINFO, NULL);
		curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
		curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
		free(ca);
		ca = NULL;
	}
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "snpd/" PACKAGE_VERSION);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (k->cancel) {
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, xfer_cancelled);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)k->cancel);
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	}
	k->requests++;
	cr = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (cr == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &retry_after);
	curl_easy_cleanup(c);

	if (cr != CURLE_OK) {
		if (b.too_big || cr == CURLE_FILESIZE_EXCEEDED) {
			seterr(err, errlen, "%s: body larger than %d bytes", url, SNP_KDS_BODY_MAX);
			r = -EFBIG;
		} else if (cr == CURLE_PEER_FAILED_VERIFICATION || cr == CURLE_SSL_CACERT_BADFILE ||
			   cr == CURLE_SSL_CONNECT_ERROR) {
			seterr(err, errlen,
			       "TLS with %s failed: %s (the server's certificate is checked against "
			       "%s)",
			       k->base_url, cerr[0] ? cerr : curl_easy_strerror(cr),
			       k->ca_file[0] ? k->ca_file :
			       k->ca_pem     ? "the CAs given" :
					       "the system's CAs; a mirror's own CA: "
					       "--kds-ca FILE");
			r = -EPROTO;
		} else {
			seterr(err, errlen, "%s: %s", url, curl_easy_strerror(cr));
			r = cr == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO;
		}
		goto fail;
	}
	if (status == 200) {
		*ret = b.data;
		*ret_len = b.len;
		return 0;
	}
	if (status == 404) {
		char name[65];

		refused_name(urlpath, name);
		(void)cache_write(k, "refused", name, urlpath, strlen(urlpath));
		seterr(err, errlen, "%s: KDS answered 404 (unknown chip or TCB); remembered", url);
		r = -ENXIO;
		goto fail;
	}
	if (status == 429 || status >= 500) {
		time_t wait = SNP_KDS_BACKOFF_DEFAULT_S;

		if (retry_after > 0)
			wait = retry_after > SNP_KDS_BACKOFF_MAX_S ? SNP_KDS_BACKOFF_MAX_S :
								     (time_t)retry_after;
		backoff_set(k, kds_now(k) + wait);
		seterr(err, errlen, "%s: KDS answered HTTP %ld; backing off for %" PRId64 " s", url,
		       status, (int64_t)wait);
		r = -EAGAIN;
		goto fail;
	}
	seterr(err, errlen, "%s: KDS answered HTTP %ld", url, status);
	r = -EIO;
fail:
	free(b.data);
	return r;
}

/* ---- objects ---------------------------------------------------------- */

static int vcek_name(const struct snp_kds_key *key, char *buf, size_t len)
{
	char hex[129];
	int n;

	snp_hex_encode(key->hwid, key->hwid_len, hex);
	n = snprintf(buf, len, "%s-%s-%u-%u-%u-%u-%u.der", snp_product_name(key->product), hex,
		     key->tcb.fmc, key->tcb.bootloader, key->tcb.tee, key->tcb.snp,
		     key->tcb.microcode);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* One DER (or PEM) certificate that is the VCEK of @key. */
static X509 *parse_vcek(const u8 *data, size_t len, const struct snp_kds_key *key, char *err,
			size_t errlen)
{
	STACK_OF(X509) *sk = NULL;
	X509 *c;

	if (snp_x509_load_mem(data, len, &sk, err, errlen) < 0)
		return NULL;
	if (sk_X509_num(sk) != 1) {
		seterr(err, errlen, "%d certificates where one VCEK was expected", sk_X509_num(sk));
		sk_X509_pop_free(sk, X509_free);
		return NULL;
	}
	c = sk_X509_shift(sk);
	sk_X509_free(sk);
	if (!snp_kds_cert_matches(c, key, err, errlen)) {
		X509_free(c);
		return NULL;
	}
	return c;
}

static int parse_chain(const u8 *data, size_t len, enum snp_product p, bool vlek, X509 **ret_ask,
		       X509 **ret_ark, char *err, size_t errlen);

static bool cert_signed_by(X509 *c, X509 *issuer)
{
	bool ok = issuer && X509_verify(c, X509_get0_pubkey(issuer)) == 1;

	ERR_clear_error();
	return ok;
}

/*
 * The root the caller trusts for @p (new reference): trusted_ark when set,
 * else AMD's ARK of @p compiled in; NULL when neither. Never one that came
 * from the cache or from KDS: what they hold is checked against this.
 */
static X509 *trusted_root(const struct snp_kds *k, enum snp_product p)
{
	X509 *ark = NULL;

	if (k->trusted_ark) {
		if (X509_up_ref(k->trusted_ark) != 1)
			return NULL;
		return k->trusted_ark;
	}
	if (snp_amd_root_load(p, SNP_AMD_ROOT_ARK, &ark) < 0)
		return NULL;
	return ark;
}

/* Is @ark (of a cert_chain, already checked to sign its ASK) the trusted root of @p? */
static bool chain_trusted(const struct snp_kds *k, enum snp_product p, X509 *ark)
{
	X509 *root = trusted_root(k, p);
	bool ok = root && X509_cmp(ark, root) == 0;

	X509_free(root);
	return ok;
}

/*
 * Is @vcek signed by the ASK of its product? 1 yes, -EBADMSG no (the ASK is
 * known and did not sign it), 0 not known here: no trusted_ask, not AMD's
 * ASK, no cached cert_chain under the trusted root (a simulated or test
 * chip whose chain this cache has not seen yet).
 */
static int vcek_issuer_check(const struct snp_kds *k, X509 *vcek, enum snp_product p)
{
	_cleanup_(freep) u8 *data = NULL;
	X509 *ask = NULL, *ark = NULL;
	char e[SNP_ERRBUF], name[64];
	size_t len;
	int r;

	if (k->trusted_ask)
		return cert_signed_by(vcek, k->trusted_ask) ? 1 : -EBADMSG;
	if (snp_amd_root_load(p, SNP_AMD_ROOT_ASK, &ask) == 0) {
		r = cert_signed_by(vcek, ask);
		X509_free(ask);
		ask = NULL;
		if (r)
			return 1;
	}
	snprintf(name, sizeof(name), "%s-vcek.pem", snp_product_name(p));
	if (cache_read(k, "chain", name, &data, &len) < 0 ||
	    parse_chain(data, len, p, false, &ask, &ark, e, sizeof(e)) < 0)
		return 0;
	/* a cached chain counts only under the root the caller trusts */
	if (!chain_trusted(k, p, ark))
		r = 0;
	else
		r = cert_signed_by(vcek, ask) ? 1 : -EBADMSG;
	X509_free(ask);
	X509_free(ark);
	return r;
}

int snp_kds_get_vcek(struct snp_kds *k, const struct snp_kds_key *key, X509 **ret,
		     enum snp_kds_source *src, char *err, size_t errlen)
{
	_cleanup_(freep) u8 *data = NULL;
	char name[256], path[1024];
	size_t len;
	X509 *c;
	int r;

	r = vcek_name(key, name, sizeof(name));
	if (r < 0)
		return r;
	r = snp_kds_vcek_path(key, path, sizeof(path));
	if (r < 0)
		return r;
	if (cache_read(k, "vcek", name, &data, &len) == 0) {
		c = parse_vcek(data, len, key, err, errlen);
		if (c && vcek_issuer_check(k, c, key->product) < 0) {
			/* right extensions, wrong signature: never served again */
			X509_free(c);
			c = NULL;
		}
		if (c) {
			cache_touch(k, "vcek", name);
			*ret = c;
			*src = SNP_KDS_SRC_CACHE;
			return 0;
		}
		/* corrupt, truncated or foreign: drop it and fetch again */
		cache_remove(k, "vcek", name);
		free(data);
		data = NULL;
	}
	r = http_get(k, path, &data, &len, err, errlen);
	if (r < 0)
		return r;
	c = parse_vcek(data, len, key, err, errlen);
	if (!c) {
		char why[SNP_ERRBUF];

		snprintf(why, sizeof(why), "%s", err ? err : "");
		seterr(err, errlen, "KDS sent a bad VCEK for %s (not cached): %s", path, why);
		ERR_clear_error();
		return -EBADMSG;
	}
	r = vcek_issuer_check(k, c, key->product);
	if (r == 0) {
		/* a chain this cache has not seen: the same KDS's, checked by its ARK */
		X509 *ask = NULL, *ark = NULL;
		enum snp_kds_source csrc;
		char e[SNP_ERRBUF];

		/* only a chain under the trusted root checks it; another leaves it unchecked */
		if (snp_kds_get_chain(k, key->product, false, &ask, &ark, &csrc, e, sizeof(e)) ==
			    0 &&
		    chain_trusted(k, key->product, ark))
			r = cert_signed_by(c, ask) ? 1 : -EBADMSG;
		X509_free(ask);
		X509_free(ark);
	}
	if (r < 0) {
		X509_free(c);
		seterr(err, errlen, "KDS sent a VCEK for %s not signed by the %s ASK (not cached)",
		       path, snp_product_name(key->product));
		return -EBADMSG;
	}
	/* unchecked (no chain to be had now): returned to be checked, not cached */
	if (r > 0) {
		(void)cache_write(k, "vcek", name, data, len);
		cache_evict(k, name);
	}
	*ret = c;
	*src = SNP_KDS_SRC_NETWORK;
	return 0;
}

static bool cn_equals(X509 *c, const char *prefix, const char *product)
{
	char cn[64], want[64];

	snp_x509_cn(c, false, cn, sizeof(cn));
	snprintf(want, sizeof(want), "%s%s", prefix, product);
	return strcmp(cn, want) == 0;
}

/* A PEM cert_chain: ASK (ASVK) then ARK of @p. */
static int parse_chain(const u8 *data, size_t len, enum snp_product p, bool vlek, X509 **ret_ask,
		       X509 **ret_ark, char *err, size_t errlen)
{
	STACK_OF(X509) *sk = NULL;
	const char *pn = snp_product_name(p);
	X509 *ask, *ark;

	if (snp_x509_load_mem(data, len, &sk, err, errlen) < 0)
		return -EBADMSG;
	if (sk_X509_num(sk) != 2) {
		seterr(err, errlen, "cert_chain holds %d certificates, expected 2",
		       sk_X509_num(sk));
		sk_X509_pop_free(sk, X509_free);
		return -EBADMSG;
	}
	ask = sk_X509_value(sk, 0);
	ark = sk_X509_value(sk, 1);
	if (!cn_equals(ask, vlek ? "SEV-VLEK-" : "SEV-", pn) || !cn_equals(ark, "ARK-", pn) ||
	    X509_check_issued(ark, ask) != X509_V_OK) {
		seterr(err, errlen, "cert_chain is not %s then ARK-%s",
		       vlek ? "SEV-VLEK-<product>" : "SEV-<product>", pn);
		sk_X509_pop_free(sk, X509_free);
		return -EBADMSG;
	}
	/*
	 * Names prove nothing: the ARK must have signed itself and the
	 * intermediate, or a corrupt or forged chain would sit in the cache.
	 * (Whether this ARK is AMD's is the verifier's question.)
	 */
	if (X509_verify(ark, X509_get0_pubkey(ark)) != 1 ||
	    X509_verify(ask, X509_get0_pubkey(ark)) != 1) {
		ERR_clear_error();
		seterr(err, errlen, "cert_chain: %s is not signed by the ARK-%s given with it",
		       vlek ? "the ASVK" : "the ASK", pn);
		sk_X509_pop_free(sk, X509_free);
		return -EBADMSG;
	}
	sk_X509_free(sk);
	*ret_ask = ask;
	*ret_ark = ark;
	return 0;
}

int snp_kds_get_chain(struct snp_kds *k, enum snp_product p, bool vlek, X509 **ret_ask,
		      X509 **ret_ark, enum snp_kds_source *src, char *err, size_t errlen)
{
	_cleanup_(freep) u8 *data = NULL;
	char name[64], path[128];
	size_t len;
	int r;

	r = snp_kds_chain_path(p, vlek, path, sizeof(path));
	if (r < 0)
		return r;
	snprintf(name, sizeof(name), "%s-%s.pem", snp_product_name(p), vlek ? "vlek" : "vcek");
	if (cache_read(k, "chain", name, &data, &len) == 0) {
		if (parse_chain(data, len, p, vlek, ret_ask, ret_ark, err, errlen) == 0) {
			if (chain_trusted(k, p, *ret_ark)) {
				*src = SNP_KDS_SRC_CACHE;
				return 0;
			}
			/*
			 * Cached under another root (another caller's, or
			 * before TrustArk= changed): not ours to delete, nor
			 * to return; ask KDS as if it were not there.
			 */
			X509_free(*ret_ask);
			X509_free(*ret_ark);
			*ret_ask = *ret_ark = NULL;
		} else {
			cache_remove(k, "chain", name);
		}
		free(data);
		data = NULL;
	}
	r = http_get(k, path, &data, &len, err, errlen);
	if (r < 0)
		return r;
	r = parse_chain(data, len, p, vlek, ret_ask, ret_ark, err, errlen);
	if (r < 0) {
		ERR_clear_error();
		return r;
	}
	/*
	 * Returned for the caller to judge, but cached only under the root it
	 * trusts: a forged chain must not become what later checks rely on.
	 */
	if (chain_trusted(k, p, *ret_ark))
		(void)cache_write(k, "chain", name, data, len);
	*src = SNP_KDS_SRC_NETWORK;
	return 0;
}

/*
 * A CRL (DER or PEM) whose issuer's CN is ARK-<product>. Nothing in it is
 * checked yet (the caller checks the signature): its issuer is the
 * sender's text, and goes into @err only as printable ASCII.
 */
static X509_CRL *parse_crl(const u8 *data, size_t len, enum snp_product p, char *err, size_t errlen)
{
	const unsigned char *q = data;
	X509_CRL *crl = NULL;
	const u8 *cn = NULL;
	char want[64], shown[4 * 48 + 1];
	size_t cn_len = 0;
	X509_NAME *iss;
	int i;

	if (len > 10 && memcmp(data, "-----BEGIN", 10) == 0) {
		BIO *bio = BIO_new_mem_buf(data, (int)len);

		if (bio)
			crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
		BIO_free(bio);
	} else {
		crl = d2i_X509_CRL(NULL, &q, (long)len);
		if (crl && q != data + len) {
			X509_CRL_free(crl);
			crl = NULL;
		}
	}
	if (!crl) {
		ERR_clear_error();
		seterr(err, errlen, "not a CRL (DER or PEM)");
		return NULL;
	}
	iss = X509_CRL_get_issuer(crl);
	i = X509_NAME_get_index_by_NID(iss, NID_commonName, -1);
	if (i >= 0) {
		ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(iss, i));
		int n = ASN1_STRING_length(s);

		if (n > 0) {
			cn = ASN1_STRING_get0_data(s);
			cn_len = (size_t)n;
		}
	}
	snprintf(want, sizeof(want), "ARK-%s", snp_product_name(p));
	if (cn_len != strlen(want) || memcmp(cn, want, cn_len) != 0) {
		/* at most 48 bytes of it, each shown as itself or \xNN */
		snp_printable(shown, sizeof(shown), cn, cn_len < 48 ? cn_len : 48);
		seterr(err, errlen, "CRL issuer is '%s'%s, expected %s", shown,
		       cn_len > 48 ? "..." : "", want);
		X509_CRL_free(crl);
		return NULL;
	}
	return crl;
}

/*
 * Is @crl signed by the root the caller trusts for @p (trusted_ark, else
 * AMD's ARK compiled in)? Never by the ARK of a cached cert_chain: whoever
 * planted a forged chain there (a hostile mirror, a cache writer) could
 * then plant a CRL that makes every later revocation check fail.
 */
static bool crl_signed_by_ark(const struct snp_kds *k, X509_CRL *crl, enum snp_product p, char *err,
			      size_t errlen)
{
	X509 *root = trusted_root(k, p);
	bool ok;

	ok = root && X509_CRL_verify(crl, X509_get0_pubkey(root)) == 1;
	X509_free(root);
	ERR_clear_error();
	if (!ok && k->trusted_ark)
		seterr(err, errlen, "CRL not signed by the trusted ARK");
	else if (!ok)
		seterr(err, errlen,
		       "CRL not signed by AMD's ARK-%s (a root of another chain is trusted only "
		       "when given: --trust-ark)",
		       snp_product_name(p));
	return ok;
}

static bool crl_current(const X509_CRL *crl, time_t now)
{
	return snp_crl_current(crl, now, NULL, NULL, 0);
}

int snp_kds_get_crl(struct snp_kds *k, enum snp_product p, bool vlek, X509_CRL **ret,
		    enum snp_kds_source *src, char *err, size_t errlen)
{
	_cleanup_(freep) u8 *data = NULL;
	X509_CRL *cached = NULL, *crl;
	char name[64], path[128];
	size_t len;
	int r;

	r = snp_kds_crl_path(p, vlek, path, sizeof(path));
	if (r < 0)
		return r;
	snprintf(name, sizeof(name), "%s-%s.crl", snp_product_name(p), vlek ? "vlek" : "vcek");
	if (cache_read(k, "crl", name, &data, &len) == 0) {
		cached = parse_crl(data, len, p, err, errlen);
		if (!cached) {
			cache_remove(k, "crl", name);
		} else if (!crl_signed_by_ark(k, cached, p, err, errlen)) {
			/*
			 * Not this caller's root: not used; left for whoever trusts
			 * it (snpd with another TrustArk=), replaced by a fetch.
			 */
			X509_CRL_free(cached);
			cached = NULL;
		} else if (crl_current(cached, kds_now(k)) || k->offline) {
			/* kept until nextUpdate; offline, a stale one is all there is */
			*ret = cached;
			*src = SNP_KDS_SRC_CACHE;
			return 0;
		}
		free(data);
		data = NULL;
	}
	r = http_get(k, path, &data, &len, err, errlen);
	if (r < 0) {
		if (cached) { /* stale, but the caller judges currency */
			*ret = cached;
			*src = SNP_KDS_SRC_CACHE;
			return 0;
		}
		return r;
	}
	crl = parse_crl(data, len, p, err, errlen);
	if (crl && !crl_signed_by_ark(k, crl, p, err, errlen)) {
		X509_CRL_free(crl);
		crl = NULL;
	}
	if (!crl) {
		if (cached) {
			*ret = cached;
			*src = SNP_KDS_SRC_CACHE;
			return 0;
		}
		return -EBADMSG;
	}
	X509_CRL_free(cached);
	(void)cache_write(k, "crl", name, data, len);
	*ret = crl;
	*src = SNP_KDS_SRC_NETWORK;
	return 0;
}

/* ---- import ----------------------------------------------------------- */

int snp_kds_cache_put_vcek(struct snp_kds *k, X509 *vcek, char *err, size_t errlen)
{
	struct snp_kds_key key;
	_cleanup_(freep) u8 *der = NULL;
	char name[256];
	int r, n;

	r = snp_kds_key_from_cert(vcek, &key, err, errlen);
	if (r < 0)
		return r;
	r = vcek_name(&key, name, sizeof(name));
	if (r < 0)
		return r;
	n = i2d_X509(vcek, &der);
	if (n <= 0) {
		seterr(err, errlen, "cannot encode the VCEK");
		return -EINVAL;
	}
	r = cache_write(k, "vcek", name, der, (size_t)n);
	if (r < 0) {
		seterr(err, errlen, "cannot write %s/vcek/%s: %s", k->cache_dir, name,
		       strerror(-r));
		return r;
	}
	cache_evict(k, name);
	return 0;
}

int snp_kds_cache_put_chain(struct snp_kds *k, enum snp_product p, bool vlek, X509 *ask, X509 *ark,
			    char *err, size_t errlen)
{
	char name[64];
	BIO *bio = BIO_new(BIO_s_mem());
	char *mem;
	long n;
	int r;

	if (!bio)
		return -ENOMEM;
	if (!PEM_write_bio_X509(bio, ask) || !PEM_write_bio_X509(bio, ark)) {
		BIO_free(bio);
		return -ENOMEM;
	}
	n = BIO_get_mem_data(bio, &mem);
	{
		X509 *a2, *r2;

		r = parse_chain((u8 *)mem, (size_t)n, p, vlek, &a2, &r2, err, errlen);
		if (r == 0) {
			if (!chain_trusted(k, p, r2)) {
				seterr(err, errlen,
				       "cert_chain's ARK-%s is not the trusted root (%s): not "
				       "cached",
				       snp_product_name(p),
				       k->trusted_ark ? "the one given" :
							"AMD's; another: --trust-ark");
				r = -EPERM;
			}
			X509_free(a2);
			X509_free(r2);
		}
	}
	snprintf(name, sizeof(name), "%s-%s.pem", snp_product_name(p), vlek ? "vlek" : "vcek");
	if (r == 0)
		r = cache_write(k, "chain", name, mem, (size_t)n);
	BIO_free(bio);
	return r;
}

int snp_kds_cache_put_crl(struct snp_kds *k, enum snp_product p, bool vlek, X509_CRL *crl,
			  char *err, size_t errlen)
{
	_cleanup_(freep) u8 *der = NULL;
	char name[64];
	X509_CRL *chk;
	int n;

	n = i2d_X509_CRL(crl, &der);
	if (n <= 0)
		return -EINVAL;
	chk = parse_crl(der, (size_t)n, p, err, errlen);
	if (!chk)
		return -EBADMSG;
	if (!crl_signed_by_ark(k, chk, p, err, errlen)) {
		X509_CRL_free(chk);
		return -EBADMSG;
	}
	X509_CRL_free(chk);
	snprintf(name, sizeof(name), "%s-%s.crl", snp_product_name(p), vlek ? "vlek" : "vcek");
	return cache_write(k, "crl", name, der, (size_t)n);
}

/* ---- VLEKs (never fetched: KDS serves them to cloud providers only) ---- */

/* A VLEK's product and TCB; "<Product>-<fmc>-<bl>-<tee>-<snp>-<uc>-" in @prefix. */
static int vlek_ident(X509 *vlek, enum snp_product *ret_p, struct snp_tcb_parts *ret_tcb,
		      char *prefix, size_t len, const char **ret_csp, struct snp_amd_ext *ext,
		      char *err, size_t errlen)
{
	EVP_PKEY *pk = X509_get0_pubkey(vlek);
	enum snp_product p;
	int r, n;

	if (!pk || EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC) {
		seterr(err, errlen, "not an ECDSA VLEK");
		return -EBADMSG;
	}
	r = snp_amd_ext_parse(vlek, ext, err, errlen);
	if (r < 0)
		return r;
	if (!ext->has_csp_id || ext->has_hwid) {
		seterr(err, errlen, "not a VLEK (a VLEK has a cspId and no hwID)");
		return -EBADMSG;
	}
	if (!ext->has_product_name || snp_product_from_string(ext->product_name, &p) < 0 ||
	    !product_or_null(p)) {
		seterr(err, errlen, "VLEK has no known productName");
		return -EBADMSG;
	}
	r = ext_tcb(ext, p, ret_tcb, err, errlen);
	if (r < 0)
		return r;
	n = snprintf(prefix, len, "%s-%u-%u-%u-%u-%u-", snp_product_name(p), ret_tcb->fmc,
		     ret_tcb->bootloader, ret_tcb->tee, ret_tcb->snp, ret_tcb->microcode);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	*ret_p = p;
	*ret_csp = ext->csp_id;
	return 0;
}

int snp_kds_cache_put_vlek(struct snp_kds *k, X509 *vlek, char *err, size_t errlen)
{
	struct snp_amd_ext ext;
	struct snp_tcb_parts tcb;
	enum snp_product p;
	_cleanup_(freep) u8 *der = NULL;
	char prefix[128], name[192], hex[17];
	const char *csp;
	u8 md[32];
	int r, n;

	r = vlek_ident(vlek, &p, &tcb, prefix, sizeof(prefix), &csp, &ext, err, errlen);
	if (r < 0)
		return r;
	/* the cspId is the provider's free text: only a digest of it names the file */
	EVP_Digest(csp, strlen(csp), md, NULL, EVP_sha256(), NULL);
	snp_hex_encode(md, 8, hex);
	snprintf(name, sizeof(name), "%s%s.der", prefix, hex);
	n = i2d_X509(vlek, &der);
	if (n <= 0) {
		seterr(err, errlen, "cannot encode the VLEK");
		return -EINVAL;
	}
	r = cache_write(k, "vlek", name, der, (size_t)n);
	if (r < 0)
		seterr(err, errlen, "cannot write %s/vlek/%s: %s", k->cache_dir, name,
		       strerror(-r));
	return r;
}

static X509 *vlek_from_dir(const char *dir, const char *prefix, enum snp_product p,
			   const struct snp_tcb_parts *tcb)
{
	struct dirent **names = NULL;
	X509 *found = NULL;
	int n;

	n = scandir(dir, &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		_cleanup_(freep) u8 *data = NULL;
		STACK_OF(X509) *sk = NULL;
		struct snp_amd_ext ext;
		struct snp_tcb_parts t;
		enum snp_product q;
		char path[4400], pfx[128], e[SNP_ERRBUF];
		const char *csp;
		size_t len;

		if (!found && names[i]->d_name[0] != '.' &&
		    strncmp(names[i]->d_name, prefix, strlen(prefix)) == 0 &&
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name) <
			    sizeof(path) &&
		    snp_read_regular_file(path, SNP_KDS_BODY_MAX, &data, &len) == 0 &&
		    snp_x509_load_mem(data, len, &sk, e, sizeof(e)) == 0) {
			X509 *c = sk_X509_num(sk) == 1 ? sk_X509_value(sk, 0) : NULL;

			/* the entry must be what its name says */
			if (c &&
			    vlek_ident(c, &q, &t, pfx, sizeof(pfx), &csp, &ext, e, sizeof(e)) ==
				    0 &&
			    q == p && t.bootloader == tcb->bootloader && t.tee == tcb->tee &&
			    t.snp == tcb->snp && t.microcode == tcb->microcode &&
			    (p != SNP_PRODUCT_TURIN || t.fmc == tcb->fmc)) {
				found = c;
				X509_up_ref(found);
			}
		}
		sk_X509_pop_free(sk, X509_free);
		free(names[i]);
	}
	free(names);
	ERR_clear_error();
	return found;
}

int snp_kds_cache_get_vlek(struct snp_kds *k, enum snp_product p, const struct snp_tcb_parts *tcb,
			   X509 **ret, char *err, size_t errlen)
{
	char prefix[128], dir[4200];
	const char *roots[2] = { k->cache_dir, k->ro_cache_dir };
	int n;

	if (!product_or_null(p))
		return -EINVAL;
	n = snprintf(prefix, sizeof(prefix), "%s-%u-%u-%u-%u-%u-", snp_product_name(p),
		     p == SNP_PRODUCT_TURIN ? tcb->fmc : 0, tcb->bootloader, tcb->tee, tcb->snp,
		     tcb->microcode);
	if (n < 0 || (size_t)n >= sizeof(prefix))
		return -ENAMETOOLONG;
	for (int i = 0; i < 2; i++) {
		X509 *c;

		if (!roots[i][0] ||
		    (size_t)snprintf(dir, sizeof(dir), "%s/vlek", roots[i]) >= sizeof(dir))
			continue;
		c = vlek_from_dir(dir, prefix, p, tcb);
		if (c) {
			*ret = c;
			return 0;
		}
	}
	seterr(err, errlen, "no VLEK for %s with this TCB in the cache (%s)", snp_product_name(p),
	       k->cache_dir[0] ? k->cache_dir : "none");
	return -ENOENT;
}
