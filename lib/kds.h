/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AMD Key Distribution Service (KDS) client with a persistent cache
 * (snp-abi.md §7.3).
 *
 * Every call is blocking, bounded by the connect and total timeouts of
 * struct snp_kds, and uses no global state besides libcurl's own (the
 * daemon calls curl_global_init() before it starts threads): a worker
 * thread may own a struct snp_kds and call these functions.
 *
 * Cache layout (one directory, shared by snpd and snpctl):
 *   vcek/<Product>-<hwid>-<fmc>-<bl>-<tee>-<snp>-<uc>.der   VCEK, DER
 *   chain/<Product>-vcek.pem, chain/<Product>-vlek.pem    cert_chain, PEM
 *   crl/<Product>-vcek.crl, crl/<Product>-vlek.crl        CRL, DER
 *   refused/<sha256 of the path>                          a 404, remembered
 *   vlek/<Product>-<fmc>-<bl>-<tee>-<snp>-<uc>-<csp>.der  VLEK, DER (import only)
 *   backoff                                               "until=EPOCH"
 * vcek/ is bounded by cache_max_bytes: the least recently used entries
 * (written or read from this cache) are removed first, never the one just
 * written; chain/ and crl/ hold one entry per product and are not bounded.
 * Entries are written atomically (temporary file + rename), 0644 in 0755
 * directories; an entry that does not parse or is not the certificate its
 * name says is removed and fetched again.
 */
#ifndef SNP_LIB_KDS_H
#define SNP_LIB_KDS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#include "lib/report.h"

#define SNP_KDS_DEFAULT_URL	  "https://kdsintf.amd.com"
#define SNP_KDS_DEFAULT_CACHE_DIR "/var/cache/snpd"
#define SNP_KDS_BODY_MAX	  (64 * 1024)
/* Backoff after a 429/5xx without Retry-After (§7.3: minutes, not seconds). */
#define SNP_KDS_BACKOFF_DEFAULT_S 600
/*
 * The longest backoff: a Retry-After above it, or a cached backoff file
 * ending later than now + this, counts as this.
 */
#define SNP_KDS_BACKOFF_MAX_S (24 * 3600)
/* A refusal (404) is not asked again for this long. */
#define SNP_KDS_REFUSED_TTL_S (24 * 3600)
/* KdsCAFile=, --kds-ca: a CA bundle (Debian's whole one is ~220 KB) */
#define SNP_KDS_CA_MAX (4 * 1024 * 1024)

/* What identifies one VCEK: product, hwID and the whole TCB. */
struct snp_kds_key {
	enum snp_product product;
	size_t hwid_len; /* 8 on Turin, 64 otherwise */
	u8 hwid[64];
	struct snp_tcb_parts tcb;
};

enum snp_kds_source {
	SNP_KDS_SRC_NONE = 0,
	SNP_KDS_SRC_CACHE,
	SNP_KDS_SRC_NETWORK,
};

struct snp_kds {
	char base_url[512];	 /* without a trailing slash */
	char cache_dir[4096];	 /* "" = no cache */
	char ro_cache_dir[4096]; /* also read (snpd's, for a user), never written */
	bool offline;		 /* never touch the network */
	long connect_timeout_ms;
	long total_timeout_ms;
	size_t cache_max_bytes; /* bound of vcek/, least recently used evicted first */
	time_t now;		/* 0 = time(NULL); for CRL currency */
	unsigned int requests;	/* network requests made (statistics) */
	/*
	 * PEM file of the CAs that may sign the HTTPS server's certificate
	 * (a mirror's own CA), instead of the system's; "" = the system's.
	 * The certificate and its name are always verified.
	 */
	char ca_file[4096];
	/*
	 * Those CAs as bytes the caller read (snp_kds_ca_load()), used
	 * instead of reading ca_file at each request; borrowed, kept until
	 * the last request. NULL = read ca_file (then "" = the system's).
	 * ca_file still names them in messages.
	 */
	const u8 *ca_pem;
	size_t ca_pem_len;
	/* set by another thread to abort a transfer in flight (within ~1 s); may be NULL */
	const atomic_bool *cancel;
	/*
	 * The caller's checked chain (borrowed; NULL = not known). With
	 * trusted_ask, a VCEK (cached or fetched) must be signed by it; what
	 * fails is refused, not cached, and removed from the cache.
	 * The trusted root is trusted_ark, or when NULL AMD's ARK of the
	 * product compiled in (lib/amd-roots.h); never one from the cache or
	 * KDS. A CRL is taken (from the cache or KDS) and cached only when
	 * that root signed it; a cert_chain is cached (fetched or imported)
	 * only when its ARK is that root, and only such a chain checks a VCEK
	 * (one checked by nothing is returned, not cached).
	 */
	X509 *trusted_ark;
	X509 *trusted_ask;
};

/* Defaults: KDS URL, /var/cache/snpd, 10 s connect, 30 s total, 16 MiB. */
void snp_kds_init(struct snp_kds *k);
const char *snp_kds_source_name(enum snp_kds_source s);

/* snp_kds_ca_load() flags */
enum {
	/*
	 * Read what can be read, a FIFO or a pipe (`--kds-ca <(...)`) too,
	 * waiting for its writer: for a command a user runs, never for a
	 * daemon (whose file anyone able to replace it could make it wait on).
	 */
	SNP_KDS_CA_ANY_FILE = 1 << 0,
};

/*
 * Read the CA certificates (PEM) for an https:// KDS from @path, at most
 * SNP_KDS_CA_MAX bytes, into *ret (new, NUL-terminated, not counted in
 * *ret_len). Without SNP_KDS_CA_ANY_FILE, @path must end (symbolic links
 * followed) at a regular file, opened and read without ever waiting: a
 * FIFO, device or socket is -EBADFD. Errors are negative errnos (-EFBIG
 * too large) with a message naming @path in @err.
 */
int snp_kds_ca_load(const char *path, unsigned int flags, u8 **ret, size_t *ret_len, char *err,
		    size_t errlen);

/* The key of a report's VCEK (CHIP_ID, REPORTED_TCB, product). */
int snp_kds_key_from_report(const struct snp_report_info *ri, struct snp_kds_key *ret, char *err,
			    size_t errlen);
/* The key from a VCEK's AMD extensions (productName, hwID, SPLs). */
int snp_kds_key_from_cert(X509 *vcek, struct snp_kds_key *ret, char *err, size_t errlen);
/* Does @cert carry exactly this product, hwID and TCB? */
bool snp_kds_cert_matches(X509 *cert, const struct snp_kds_key *key, char *err, size_t errlen);

/* URL paths (without the base), snp-abi.md §7.3. Return 0 or -ENAMETOOLONG/-EINVAL. */
int snp_kds_vcek_path(const struct snp_kds_key *key, char *buf, size_t len);
int snp_kds_chain_path(enum snp_product p, bool vlek, char *buf, size_t len);
int snp_kds_crl_path(enum snp_product p, bool vlek, char *buf, size_t len);

/*
 * Look up the cache, then (unless offline) KDS. A VCEK is cached only once
 * its signature is checked: by trusted_ask when set, else by the embedded
 * AMD ASK of its product or the product's cert_chain from this cache or
 * this KDS whose ARK is the trusted root; one the chain does not sign is
 * refused, and a cached one removed. Errors, with a message in
 * @err: -ENOENT not cached and offline; -EAGAIN KDS is in backoff (429/5xx
 * earlier); -ENXIO KDS refused (404, remembered); -EBADMSG a body that is
 * not the object asked for (not cached); -ETIMEDOUT/-EIO network.
 */
int snp_kds_get_vcek(struct snp_kds *k, const struct snp_kds_key *key, X509 **ret,
		     enum snp_kds_source *src, char *err, size_t errlen);
/*
 * ASK (or ASVK) and ARK of a product, the ASK signed by that ARK; whether
 * the ARK is trusted is the caller's question (one that is not the trusted
 * root is returned but not cached).
 */
int snp_kds_get_chain(struct snp_kds *k, enum snp_product p, bool vlek, X509 **ret_ask,
		      X509 **ret_ark, enum snp_kds_source *src, char *err, size_t errlen);
/*
 * A CRL signed by the trusted root; a cached one past its nextUpdate is
 * fetched again when online. A cached one the root did not sign is not
 * used (nor removed: it may be another caller's).
 */
int snp_kds_get_crl(struct snp_kds *k, enum snp_product p, bool vlek, X509_CRL **ret,
		    enum snp_kds_source *src, char *err, size_t errlen);

/*
 * When the backoff KDS asked for (429/5xx, here or in another process
 * sharing the cache) ends, as seconds since the epoch; 0 when none.
 */
time_t snp_kds_backoff_until(const struct snp_kds *k);
/*
 * When KDS's refusal (404) of @urlpath (snp_kds_*_path()), remembered in
 * the cache, ends, as seconds since the epoch: the entry's mtime +
 * SNP_KDS_REFUSED_TTL_S, a wall-clock time, checked by lib/kds against
 * time(NULL) (or k->now); until then that path is not asked again. 0 when
 * none is remembered or it has ended. The entry's mtime is whatever is on
 * disk: a caller that waits for it bounds the wait.
 */
time_t snp_kds_refused_until(const struct snp_kds *k, const char *urlpath);

/* Store objects (import): validated and written like fetched ones. */
int snp_kds_cache_put_vcek(struct snp_kds *k, X509 *vcek, char *err, size_t errlen);
int snp_kds_cache_put_chain(struct snp_kds *k, enum snp_product p, bool vlek, X509 *ask, X509 *ark,
			    char *err, size_t errlen);
int snp_kds_cache_put_crl(struct snp_kds *k, enum snp_product p, bool vlek, X509_CRL *crl,
			  char *err, size_t errlen);

/*
 * VLEKs: KDS hands them to cloud providers only (an authenticated
 * interface), so a VLEK comes from the host's certificate table or an
 * import, never from the network. Cached as
 * vlek/<Product>-<fmc>-<bl>-<tee>-<snp>-<uc>-<sha256(cspId)[0:8]>.der, not
 * bounded (one per provider and TCB).
 */
int snp_kds_cache_put_vlek(struct snp_kds *k, X509 *vlek, char *err, size_t errlen);
/* A cached VLEK of @p for @tcb (the report does not say the provider). -ENOENT if none. */
int snp_kds_cache_get_vlek(struct snp_kds *k, enum snp_product p, const struct snp_tcb_parts *tcb,
			   X509 **ret, char *err, size_t errlen);

#endif
