// SPDX-License-Identifier: Apache-2.0
/*
 * snpctl collateral url|fetch|import|export|list: the KDS certificates and
 * CRLs of the persistent cache (lib/kds.h), for offline and air-gapped
 * machines. Also the cache set-up that snpctl verify shares.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cli/snpctl.h"
#include "lib/amd-roots.h"
#include "lib/kds.h"
#include "lib/log.h"
#include "lib/report.h"
#include "lib/util.h"
#include "lib/x509-amd.h"

static int mkdir_p(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* /var/cache/snpd when we may write there, else the user's own cache. */
static int pick_cache_dir(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	int n;

	if (access(SNP_KDS_DEFAULT_CACHE_DIR, W_OK) == 0 ||
	    (access(SNP_KDS_DEFAULT_CACHE_DIR, F_OK) < 0 && access("/var/cache", W_OK) == 0)) {
		snprintf(buf, len, "%s", SNP_KDS_DEFAULT_CACHE_DIR);
		return 0;
	}
	if (xdg && xdg[0] == '/')
		n = snprintf(buf, len, "%s/snpd", xdg);
	else if (home && home[0] == '/')
		n = snprintf(buf, len, "%s/.cache/snpd", home);
	else {
		buf[0] = '\0'; /* no cache at all */
		return 0;
	}
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	(void)mkdir_p(buf);
	return 0;
}

/* SIZE: bytes, or KiB, MiB, GiB with a K, M or G suffix. */
static int parse_size(const char *s, u64 *ret)
{
	char num[32];
	size_t n = strlen(s);
	unsigned int shift = 0;
	u64 v;

	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, n + 1);
	switch (num[n - 1]) {
	case 'K':
	case 'k':
		shift = 10;
		break;
	case 'M':
	case 'm':
		shift = 20;
		break;
	case 'G':
	case 'g':
		shift = 30;
		break;
	}
	if (shift)
		num[--n] = '\0';
	if (snp_parse_u64(num, &v) < 0 || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*ret = v << shift;
	return 0;
}

int snpctl_kds_setup(struct snp_kds *k, const struct snpctl_kds_opts *o)
{
	snp_kds_init(k);
	k->offline = o->offline;
	if (o->timeout) {
		u32 sec;

		if (snp_parse_u32_max(o->timeout, 600, &sec) < 0 || sec == 0) {
			log_error("--kds-timeout: '%s' is not 1..600 seconds.", o->timeout);
			return -EINVAL;
		}
		k->total_timeout_ms = (long)sec * 1000;
		if (k->connect_timeout_ms > k->total_timeout_ms)
			k->connect_timeout_ms = k->total_timeout_ms;
	}
	if (o->cache_max) {
		u64 v;

		if (parse_size(o->cache_max, &v) < 0 || v < 4096 || v > (1ULL << 30)) {
			log_error("--cache-max: '%s' is not a size from 4K to 1G (bytes, or with "
				  "a K, M or G suffix).",
				  o->cache_max);
			return -EINVAL;
		}
		k->cache_max_bytes = (size_t)v;
	}
	if (o->ca) {
		/* the bytes read when parsed; the name only says where they came from */
		if ((size_t)snprintf(k->ca_file, sizeof(k->ca_file), "%s", o->ca) >=
		    sizeof(k->ca_file))
			return log_error_errno(ENAMETOOLONG, "--kds-ca: path too long.");
		k->ca_pem = o->ca_pem;
		k->ca_pem_len = o->ca_pem_len;
	}
	if (o->url) {
		size_t n = strlen(o->url);

		while (n > 0 && o->url[n - 1] == '/')
			n--;
		if (n == 0 || n >= sizeof(k->base_url) ||
		    (strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0)) {
			log_error("--kds-url: '%s' is not an http:// or https:// URL.", o->url);
			return -EINVAL;
		}
		memcpy(k->base_url, o->url, n);
		k->base_url[n] = '\0';
	}
	if (o->cache_dir) {
		if ((size_t)snprintf(k->cache_dir, sizeof(k->cache_dir), "%s", o->cache_dir) >=
		    sizeof(k->cache_dir))
			return log_error_errno(ENAMETOOLONG, "--cache-dir: path too long.");
		return 0;
	}
	if (pick_cache_dir(k->cache_dir, sizeof(k->cache_dir)) < 0)
		return log_error_errno(ENAMETOOLONG, "Cache directory path too long.");
	/* a user's own cache: snpd's is still read */
	if (strcmp(k->cache_dir, SNP_KDS_DEFAULT_CACHE_DIR) != 0)
		snprintf(k->ro_cache_dir, sizeof(k->ro_cache_dir), "%s", SNP_KDS_DEFAULT_CACHE_DIR);
	return 0;
}

int snpctl_kds_parse_opt(int c, const char *arg, struct snpctl_kds_opts *o)
{
	switch (c) {
	case SNPCTL_ARG_KDS_URL:
		o->url = arg;
		return 1;
	case SNPCTL_ARG_CACHE_DIR:
		o->cache_dir = arg;
		return 1;
	case SNPCTL_ARG_OFFLINE:
		o->offline = true;
		return 1;
	case SNPCTL_ARG_KDS_TIMEOUT:
		o->timeout = arg;
		return 1;
	case SNPCTL_ARG_KDS_CA: {
		u8 *pem;
		size_t len;
		int r;

		/*
		 * Read now, once, as --trust-ark is: a pipe or FIFO too
		 * (`--kds-ca <(...)`), as a command a user runs may; snpd's
		 * KdsCAFile= is only ever a regular file. Bounded. Never
		 * standard input: it would swallow a report read from "-".
		 */
		if (strcmp(arg, "-") == 0) {
			log_error("--kds-ca: - (standard input) is not accepted; use <(...) or a "
				  "file.");
			return -EINVAL;
		}
		r = snp_kds_ca_load(arg, SNP_KDS_CA_ANY_FILE, &pem, &len, NULL, 0);
		if (r == -EFBIG)
			log_error("--kds-ca: cannot read %s: larger than %d bytes.", arg,
				  SNP_KDS_CA_MAX);
		else if (r < 0)
			log_error_errno(r, "--kds-ca: cannot read %s: %m", arg);
		if (r < 0)
			return r;
		free(o->ca_pem);
		o->ca = arg;
		o->ca_pem = pem;
		o->ca_pem_len = len;
		return 1;
	}
	case SNPCTL_ARG_CACHE_MAX:
		o->cache_max = arg;
		return 1;
	default:
		return 0;
	}
}

void snpctl_kds_opts_release(struct snpctl_kds_opts *o)
{
	free(o->ca_pem);
	o->ca_pem = NULL;
	o->ca_pem_len = 0;
	o->ca = NULL;
}

/* ---- collateral ------------------------------------------------------- */

static void collateral_help(void)
{
	printf("Usage: snpctl collateral COMMAND [OPTIONS]\n\n"
	       "AMD KDS certificates and CRLs, kept in a persistent cache shared with snpd.\n\n"
	       "  url REPORT             print the KDS URL of the report's VCEK\n"
	       "  fetch REPORT           fetch the VCEK, cert_chain and CRL into the cache\n"
	       "  import FILE|DIR...     store certificates and CRLs (from 'export') in the cache;\n"
	       "                         a VLEK can only come this way (KDS serves none publicly)\n"
	       "  export DIR             copy the cached certificates and CRLs into DIR\n"
	       "  list                   list the cache\n\n"
	       "Options:\n"
	       "  --kds-url URL          KDS base URL (default %s; a mirror or proxy)\n"
	       "  --cache-dir DIR        cache directory (default %s when writable,\n"
	       "                         else $XDG_CACHE_HOME/snpd or ~/.cache/snpd)\n"
	       "  --offline              never touch the network\n"
	       "  --kds-timeout S        give up on a KDS request after S seconds (default 30)\n"
	       "  --kds-ca FILE          trust only these CAs (PEM) for an https:// KDS URL\n"
	       "                         (a mirror's own CA; default the system's)\n"
	       "  --cache-max SIZE       bound of the cached VCEKs (default 16M; 4K..1G);\n"
	       "                         the least recently used are removed first\n"
	       "  --product P            milan, genoa or turin (reports v2 do not say)\n"
	       "  --vcek F               take hwID and TCB from this VCEK instead of a report\n"
	       "  --vlek                 fetch the VLEK chain and CRL too\n"
	       "  --trust-ark F          the root (PEM or DER) a cert_chain and CRL must be\n"
	       "                         under to be cached (default AMD's ARK compiled in;\n"
	       "                         a simulated or test chip needs its own)\n",
	       SNP_KDS_DEFAULT_URL, SNP_KDS_DEFAULT_CACHE_DIR);
}

struct coll_args {
	struct snpctl_kds_opts kds;
	enum snp_product product;
	const char *vcek;
	const char *trust_ark;
	bool vlek;
};

static void coll_args_release(struct coll_args *a)
{
	snpctl_kds_opts_release(&a->kds);
}

static int key_from_args(const struct coll_args *a, const char *report, struct snp_kds_key *key)
{
	char err[SNP_ERRBUF];
	int r;

	if (a->vcek) {
		STACK_OF(X509) *sk = NULL;

		r = snp_x509_load_file(a->vcek, &sk, err, sizeof(err));
		if (r == 0)
			r = snp_kds_key_from_cert(sk_X509_value(sk, 0), key, err, sizeof(err));
		sk_X509_pop_free(sk, X509_free);
		if (r < 0) {
			log_error("%s: %s", a->vcek, err);
			return r;
		}
		return 0;
	}
	if (!report) {
		log_error("Give a REPORT (or --vcek).");
		return -EINVAL;
	}
	{
		_cleanup_(freep) u8 *data = NULL;
		struct snp_report_info ri;
		size_t len;

		r = snp_read_file(report, 64 * 1024, &data, &len);
		if (r < 0)
			return log_error_errno(r, "Failed to read %s: %m", report);
		r = snp_report_load(data, len, &ri, err, sizeof(err));
		if (r < 0) {
			log_error("%s: malformed report: %s", report, err);
			return r;
		}
		if (a->product != SNP_PRODUCT_UNKNOWN)
			snp_report_set_product(&ri, a->product, SNP_PRODUCT_SRC_HINT);
		r = snp_kds_key_from_report(&ri, key, err, sizeof(err));
		if (r < 0) {
			log_error("%s: %s", report, err);
			return r;
		}
	}
	return 0;
}

static int coll_url(struct snp_kds *k, const struct coll_args *a, const char *report)
{
	struct snp_kds_key key;
	char path[1024];

	if (key_from_args(a, report, &key) < 0)
		return SNPCTL_EXIT_USAGE;
	if (snp_kds_vcek_path(&key, path, sizeof(path)) < 0)
		return SNPCTL_EXIT_USAGE;
	printf("%s%s\n", k->base_url, path);
	return SNPCTL_EXIT_OK;
}

/* Is @ark the root lib/kds trusts (k->trusted_ark, else AMD's compiled in)? */
static bool ark_trusted(const struct snp_kds *k, enum snp_product p, X509 *ark)
{
	X509 *amd = NULL;
	bool ok;

	if (k->trusted_ark)
		return X509_cmp(ark, k->trusted_ark) == 0;
	ok = snp_amd_root_load(p, SNP_AMD_ROOT_ARK, &amd) == 0 && X509_cmp(ark, amd) == 0;
	X509_free(amd);
	return ok;
}

static int coll_fetch(struct snp_kds *k, const struct coll_args *a, const char *report)
{
	enum snp_kds_source src;
	struct snp_kds_key key;
	char err[SNP_ERRBUF];
	X509 *c = NULL, *ask = NULL, *ark = NULL;
	X509_CRL *crl = NULL;
	int code = SNPCTL_EXIT_OK;

	if (key_from_args(a, report, &key) < 0)
		return SNPCTL_EXIT_USAGE;
	if (snp_kds_get_vcek(k, &key, &c, &src, err, sizeof(err)) < 0) {
		log_error("VCEK: %s", err);
		return SNPCTL_EXIT_DEVICE;
	}
	printf("vcek: %s (%s)\n", snp_product_name(key.product), snp_kds_source_name(src));
	X509_free(c);
	for (int vlek = 0; vlek <= (a->vlek ? 1 : 0); vlek++) {
		const char *what = vlek ? "vlek" : "vcek";

		if (snp_kds_get_chain(k, key.product, vlek, &ask, &ark, &src, err, sizeof(err)) <
		    0) {
			log_error("%s cert_chain: %s", what, err);
			code = SNPCTL_EXIT_DEVICE;
		} else {
			printf("%s cert_chain: %s (%s)\n", what, snp_product_name(key.product),
			       snp_kds_source_name(src));
			if (!ark_trusted(k, key.product, ark)) {
				log_error(
					"%s cert_chain: its ARK is not the trusted root (%s): not "
					"cached, nor the CRL it signs.",
					what,
					k->trusted_ark ? "--trust-ark" :
							 "AMD's; a simulated or test chip's: "
							 "--trust-ark F");
				code = SNPCTL_EXIT_VERIFY;
			}
			X509_free(ask);
			X509_free(ark);
		}
		if (snp_kds_get_crl(k, key.product, vlek, &crl, &src, err, sizeof(err)) < 0) {
			log_error("%s crl: %s", what, err);
			code = SNPCTL_EXIT_DEVICE;
		} else {
			printf("%s crl: %s (%s)\n", what, snp_product_name(key.product),
			       snp_kds_source_name(src));
			X509_CRL_free(crl);
		}
	}
	ERR_clear_error();
	return code;
}

static X509_CRL *load_crl_file(const char *path)
{
	_cleanup_(freep) u8 *data = NULL;
	const unsigned char *q;
	X509_CRL *crl = NULL;
	size_t len;

	if (snp_read_file(path, SNP_KDS_BODY_MAX, &data, &len) < 0)
		return NULL;
	if (len > 10 && memcmp(data, "-----BEGIN X509 CRL", 19) == 0) {
		BIO *bio = BIO_new_mem_buf(data, (int)len);

		if (bio)
			crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
		BIO_free(bio);
	} else {
		q = data;
		crl = d2i_X509_CRL(NULL, &q, (long)len);
	}
	ERR_clear_error();
	return crl;
}

static int import_file(struct snp_kds *k, const char *path)
{
	STACK_OF(X509) *sk = NULL;
	char err[SNP_ERRBUF], cn[64];
	X509_CRL *crl;
	int r = 0;

	crl = load_crl_file(path);
	if (crl) {
		X509_NAME *iss = X509_CRL_get_issuer(crl);
		int i = X509_NAME_get_index_by_NID(iss, NID_commonName, -1);
		enum snp_product p = SNP_PRODUCT_UNKNOWN;
		bool vlek = strstr(path, "vlek") != NULL;

		cn[0] = '\0';
		if (i >= 0) {
			ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(iss, i));
			int n = ASN1_STRING_length(s);

			if (n > 0 && (size_t)n < sizeof(cn)) {
				memcpy(cn, ASN1_STRING_get0_data(s), (size_t)n);
				cn[n] = '\0';
			}
		}
		p = snp_product_from_ca_cn(cn);
		r = p == SNP_PRODUCT_UNKNOWN ?
			    -EBADMSG :
			    snp_kds_cache_put_crl(k, p, vlek, crl, err, sizeof(err));
		X509_CRL_free(crl);
		if (r < 0) {
			if (p == SNP_PRODUCT_UNKNOWN)
				log_error("%s: not an AMD CRL (issuer '%s').", path, cn);
			else
				log_error("%s: %s", path, err);
			return r;
		}
		printf("imported %s crl %s\n", vlek ? "vlek" : "vcek", snp_product_name(p));
		return 0;
	}
	r = snp_x509_load_file(path, &sk, err, sizeof(err));
	if (r < 0) {
		log_error("%s: %s", path, err);
		return r;
	}
	for (int i = 0; i < sk_X509_num(sk) && r == 0; i++) {
		X509 *c = sk_X509_value(sk, i);
		EVP_PKEY *pk = X509_get0_pubkey(c);

		snp_x509_cn(c, false, cn, sizeof(cn));
		if (pk && EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC && strcmp(cn, "SEV-VLEK") == 0) {
			/* KDS gives VLEKs to cloud providers only: import is the way in */
			r = snp_kds_cache_put_vlek(k, c, err, sizeof(err));
			if (r < 0)
				log_error("%s: %s", path, err);
			else
				printf("imported vlek from %s\n", path);
		} else if (pk && EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC) {
			r = snp_kds_cache_put_vcek(k, c, err, sizeof(err));
			if (r < 0)
				log_error("%s: %s", path, err);
			else
				printf("imported vcek from %s\n", path);
		} else if (strncmp(cn, "SEV-", 4) == 0) {
			bool vlek = strncmp(cn, "SEV-VLEK-", 9) == 0;
			enum snp_product p = snp_product_from_ca_cn(cn);
			X509 *ark = NULL;

			for (int j = 0; j < sk_X509_num(sk); j++) {
				X509 *o = sk_X509_value(sk, j);

				if (o != c && X509_check_issued(o, c) == X509_V_OK)
					ark = o;
			}
			if (!ark || p == SNP_PRODUCT_UNKNOWN) {
				log_error("%s: %s without its ARK in the same file.", path, cn);
				r = -EBADMSG;
			} else if ((r = snp_kds_cache_put_chain(k, p, vlek, c, ark, err,
								sizeof(err))) < 0) {
				log_error("%s: %s", path, err);
			} else {
				printf("imported %s cert_chain %s\n", vlek ? "vlek" : "vcek",
				       snp_product_name(p));
			}
		}
	}
	sk_X509_pop_free(sk, X509_free);
	ERR_clear_error();
	return r;
}

static int coll_import(struct snp_kds *k, int argc, char **argv)
{
	int code = SNPCTL_EXIT_OK;

	if (argc == 0) {
		log_error("import: give files or directories.");
		return SNPCTL_EXIT_USAGE;
	}
	for (int i = 0; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) < 0) {
			log_error_errno(errno, "%s: %m", argv[i]);
			code = SNPCTL_EXIT_USAGE;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			struct dirent **names = NULL;
			int n = scandir(argv[i], &names, NULL, alphasort);

			/* certificates first: a CRL is checked against its product's ARK */
			for (int pass = 0; pass < 2; pass++) {
				for (int j = 0; j < n; j++) {
					const char *nm = names[j]->d_name;
					size_t l = strlen(nm);
					bool is_crl = l > 4 && strcmp(nm + l - 4, ".crl") == 0;
					char p[4096];

					if (nm[0] != '.' && is_crl == (pass == 1) &&
					    (size_t)snprintf(p, sizeof(p), "%s/%s", argv[i], nm) <
						    sizeof(p) &&
					    import_file(k, p) < 0)
						code = SNPCTL_EXIT_USAGE;
				}
			}
			for (int j = 0; j < n; j++)
				free(names[j]);
			free(names);
		} else if (import_file(k, argv[i]) < 0) {
			code = SNPCTL_EXIT_USAGE;
		}
	}
	return code;
}

static const char *const cache_subdirs[] = { "vcek", "vlek", "chain", "crl" };

/* Call @fn for every regular file of the cache's vcek/, vlek/, chain/, crl/. */
static int cache_walk(const struct snp_kds *k,
		      int (*fn)(const char *sub, const char *path, const char *name, void *u),
		      void *u)
{
	int r = 0;

	for (size_t i = 0; i < SNP_ELEMENTSOF(cache_subdirs); i++) {
		char dir[4200];
		struct dirent **names = NULL;
		int n;

		snprintf(dir, sizeof(dir), "%s/%s", k->cache_dir, cache_subdirs[i]);
		n = scandir(dir, &names, NULL, alphasort);
		for (int j = 0; j < n; j++) {
			char p[4400];

			if (names[j]->d_name[0] != '.' &&
			    (size_t)snprintf(p, sizeof(p), "%s/%s", dir, names[j]->d_name) <
				    sizeof(p) &&
			    r == 0)
				r = fn(cache_subdirs[i], p, names[j]->d_name, u);
			free(names[j]);
		}
		free(names);
	}
	return r;
}

static int list_one(const char *sub, const char *path, const char *name, void *u)
{
	struct stat st;

	(void)u;
	if (stat(path, &st) < 0)
		return 0;
	printf("%-6s %s (%lld bytes)\n", sub, name, (long long)st.st_size);
	return 0;
}

static int export_one(const char *sub, const char *path, const char *name, void *u)
{
	_cleanup_(freep) u8 *data = NULL;
	const char *dir = u;
	char out[4400];
	size_t len;
	int r;

	(void)sub;
	/* a cache entry: a regular file, never a FIFO to wait on */
	r = snp_read_regular_file(path, SNP_KDS_BODY_MAX, &data, &len);
	if (r < 0)
		return log_error_errno(r, "%s: %m", path);
	snprintf(out, sizeof(out), "%s/%s", dir, name);
	r = snp_write_file(out, data, len, 0644);
	if (r < 0)
		return log_error_errno(r, "%s: %m", out);
	printf("exported %s\n", out);
	return 0;
}

/* Run collateral COMMAND @cmd with its arguments. */
static int coll_dispatch(struct snp_kds *k, const struct coll_args *a, const char *cmd, int argc,
			 char **argv)
{
	if (strcmp(cmd, "url") == 0)
		return coll_url(k, a, argc > 0 ? argv[0] : NULL);
	if (strcmp(cmd, "fetch") == 0)
		return coll_fetch(k, a, argc > 0 ? argv[0] : NULL);
	if (strcmp(cmd, "import") == 0)
		return coll_import(k, argc, argv);
	if (strcmp(cmd, "export") == 0) {
		if (argc != 1) {
			log_error("export: give one directory.");
			return SNPCTL_EXIT_USAGE;
		}
		if (mkdir_p(argv[0]) < 0) {
			log_error_errno(errno, "%s: %m", argv[0]);
			return SNPCTL_EXIT_USAGE;
		}
		return cache_walk(k, export_one, argv[0]) < 0 ? SNPCTL_EXIT_USAGE : SNPCTL_EXIT_OK;
	}
	if (strcmp(cmd, "list") == 0) {
		printf("cache: %s\n", k->cache_dir[0] ? k->cache_dir : "(none)");
		if (k->ro_cache_dir[0])
			printf("also read: %s\n", k->ro_cache_dir);
		cache_walk(k, list_one, NULL);
		return SNPCTL_EXIT_OK;
	}
	log_error("collateral: unknown command '%s' (url, fetch, import, export, list).", cmd);
	return SNPCTL_EXIT_USAGE;
}

int snpctl_cmd_collateral(int argc, char **argv)
{
	static const struct option options[] = {
		{ "kds-url", required_argument, NULL, SNPCTL_ARG_KDS_URL },
		{ "cache-dir", required_argument, NULL, SNPCTL_ARG_CACHE_DIR },
		{ "offline", no_argument, NULL, SNPCTL_ARG_OFFLINE },
		{ "kds-timeout", required_argument, NULL, SNPCTL_ARG_KDS_TIMEOUT },
		{ "kds-ca", required_argument, NULL, SNPCTL_ARG_KDS_CA },
		{ "cache-max", required_argument, NULL, SNPCTL_ARG_CACHE_MAX },
		{ "product", required_argument, NULL, 'p' },
		{ "vcek", required_argument, NULL, 'v' },
		{ "vlek", no_argument, NULL, 'l' },
		{ "trust-ark", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	_cleanup_(coll_args_release) struct coll_args a = { 0 };
	struct snp_kds k;
	const char *cmd;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		int r = snpctl_kds_parse_opt(c, optarg, &a.kds);

		if (r < 0)
			return SNPCTL_EXIT_USAGE;
		if (r > 0)
			continue;
		switch (c) {
		case 'p':
			if (snp_product_from_string(optarg, &a.product) < 0) {
				log_error("--product: unknown product '%s'.", optarg);
				return SNPCTL_EXIT_USAGE;
			}
			break;
		case 'v':
			a.vcek = optarg;
			break;
		case 'l':
			a.vlek = true;
			break;
		case 't':
			a.trust_ark = optarg;
			break;
		case 'h':
			collateral_help();
			return SNPCTL_EXIT_OK;
		default:
			return SNPCTL_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		collateral_help();
		return SNPCTL_EXIT_USAGE;
	}
	cmd = argv[optind++];
	argc -= optind;
	argv += optind;
	if (snpctl_kds_setup(&k, &a.kds) < 0)
		return SNPCTL_EXIT_USAGE;
	if (a.trust_ark) {
		STACK_OF(X509) *sk = NULL;
		char err[SNP_ERRBUF];
		X509 *trust;

		if (snp_x509_load_file(a.trust_ark, &sk, err, sizeof(err)) < 0) {
			log_error("--trust-ark: %s", err);
			return SNPCTL_EXIT_USAGE;
		}
		trust = sk_X509_shift(sk);
		sk_X509_pop_free(sk, X509_free);
		k.trusted_ark = trust;
		c = coll_dispatch(&k, &a, cmd, argc, argv);
		X509_free(trust);
		return c;
	}
	return coll_dispatch(&k, &a, cmd, argc, argv);
}
