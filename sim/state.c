// SPDX-License-Identifier: Apache-2.0
/*
 * The state directory of the simulated platform: creation, loading,
 * relaunch and the firmware message counters. See sim/sim.h for the
 * layout. Files are replaced atomically (write a temporary, rename).
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "lib/util.h"
#include "sim/sim.h"

#define PARAMS_MAX (64 * 1024)

char *sim_state_path(const struct sim_state *st, const char *name)
{
	char *s = NULL;

	if (!st->dir)
		return NULL;
	if (asprintf(&s, "%s/%s", st->dir, name) < 0)
		return NULL;
	return s;
}

/*
 * Write @name in @dir atomically with mode 0600: a temporary, then rename().
 * A process that dies at any point leaves the old file or the new one.
 * With @locked (the caller holds the directory lock), the temporary has a
 * fixed name, so a killed writer leaves no more than one behind, which the
 * next writer reuses.
 */
static int write_atomic_tmp(const char *dir, const char *name, const void *data, size_t len,
			    bool locked)
{
	_cleanup_(freep) char *tmp = NULL;
	_cleanup_(freep) char *path = NULL;
	const u8 *p = data;
	int fd, r = 0;

	if ((locked ? asprintf(&tmp, "%s/.%s.tmp", dir, name) :
		      asprintf(&tmp, "%s/.%s.tmp.%ld", dir, name, (long)getpid())) < 0 ||
	    asprintf(&path, "%s/%s", dir, name) < 0)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	while (len > 0) {
		ssize_t k = write(fd, p, len);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		p += k;
		len -= (size_t)k;
	}
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

static int write_atomic(const char *dir, const char *name, const void *data, size_t len)
{
	return write_atomic_tmp(dir, name, data, len, false);
}

static int read_in_dir(const char *dir, const char *name, size_t max, u8 **ret, size_t *ret_len)
{
	_cleanup_(freep) char *path = NULL;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return -ENOMEM;
	return snp_read_file(path, max, ret, ret_len);
}

static int unlinkat_in(const char *dir, const char *name)
{
	_cleanup_(freep) char *path = NULL;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return -ENOMEM;
	return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

/* Iterate "key=value" lines; comments (#) and blank lines skipped. */
static int parse_kv(char *text, int (*fn)(void *ud, const char *k, const char *v, int line),
		    void *ud)
{
	char *save = NULL, *l;
	int line = 0, r;

	for (l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *eq, *k, *v, *end;

		line++;
		while (*l == ' ' || *l == '\t')
			l++;
		if (!*l || *l == '#')
			continue;
		eq = strchr(l, '=');
		if (!eq)
			return -EBADMSG;
		*eq = '\0';
		k = l;
		v = eq + 1;
		for (end = eq; end > k && (end[-1] == ' ' || end[-1] == '\t'); end--)
			end[-1] = '\0';
		while (*v == ' ' || *v == '\t')
			v++;
		for (end = v + strlen(v);
		     end > v && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'); end--)
			end[-1] = '\0';
		r = fn(ud, k, v, line);
		if (r < 0)
			return r;
	}
	return 0;
}

struct kv_ctx {
	struct sim_state *st;
	char *err;
	size_t errlen;
};

static int params_kv(void *ud, const char *k, const char *v, int line)
{
	struct kv_ctx *c = ud;
	int r;

	r = sim_params_set(&c->st->params, k, v);
	if (r < 0)
		snprintf(c->err, c->errlen, "params line %d: %s '%s'", line,
			 r == -ENOENT ? "unknown key" : "bad value for", k);
	return r;
}

static int secrets_kv(void *ud, const char *k, const char *v, int line)
{
	struct kv_ctx *c = ud;
	struct sim_secrets *s = &c->st->secrets;
	u8 *dst = NULL;
	size_t len = 0;
	ssize_t n;

	if (strncmp(k, "vmpck", 5) == 0 && k[5] >= '0' && k[5] <= '3' && !k[6]) {
		dst = s->vmpck[k[5] - '0'];
		len = SNP_VMPCK_LEN;
	} else if (strcmp(k, "vcek_seed") == 0) {
		dst = s->vcek_seed;
		len = SIM_SEED_LEN;
	} else if (strcmp(k, "vlek_seed") == 0) {
		dst = s->vlek_seed;
		len = SIM_SEED_LEN;
	} else if (strcmp(k, "vmrk") == 0) {
		dst = s->vmrk;
		len = SIM_VMRK_LEN;
	}
	if (!dst) {
		snprintf(c->err, c->errlen, "secrets line %d: unknown key", line);
		return -EBADMSG;
	}
	n = snp_hex_decode(v, strlen(v), dst, len, false);
	if (n != (ssize_t)len) {
		snprintf(c->err, c->errlen, "secrets line %d: %s must be %zu bytes of hex", line, k,
			 len);
		return -EBADMSG;
	}
	return 0;
}

static int save_params(const struct sim_state *st)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	r = sim_params_write(&st->params, f);
	if (fclose(f) != 0 && r == 0)
		r = -EIO;
	if (r == 0)
		r = write_atomic_tmp(st->dir, "params", buf, len, true);
	free(buf);
	return r;
}

static int save_secrets(const struct sim_state *st)
{
	/* 4 x "vmpckN=<64>\n" + 2 seeds + vmrk, with slack */
	char buf[1024], hex[2 * SIM_SEED_LEN + 1];
	size_t off = 0;
	int r;

	off += (size_t)snprintf(buf + off, sizeof(buf) - off,
				"# SIMULATED firmware secrets: never used by real hardware\n");
	for (int i = 0; i < 4; i++) {
		snp_hex_encode(st->secrets.vmpck[i], SNP_VMPCK_LEN, hex);
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "vmpck%d=%s\n", i, hex);
	}
	snp_hex_encode(st->secrets.vcek_seed, SIM_SEED_LEN, hex);
	off += (size_t)snprintf(buf + off, sizeof(buf) - off, "vcek_seed=%s\n", hex);
	snp_hex_encode(st->secrets.vlek_seed, SIM_SEED_LEN, hex);
	off += (size_t)snprintf(buf + off, sizeof(buf) - off, "vlek_seed=%s\n", hex);
	snp_hex_encode(st->secrets.vmrk, SIM_VMRK_LEN, hex);
	off += (size_t)snprintf(buf + off, sizeof(buf) - off, "vmrk=%s\n", hex);
	r = off < sizeof(buf) ? write_atomic_tmp(st->dir, "secrets", buf, off, true) : -ENOBUFS;
	OPENSSL_cleanse(buf, sizeof(buf));
	OPENSSL_cleanse(hex, sizeof(hex));
	return r;
}

static int save_pem(const struct sim_state *st, const char *name, X509 *cert, EVP_PKEY *key)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long len;
	int r = -EIO;

	if (!b)
		return -ENOMEM;
	if (cert ? PEM_write_bio_X509(b, cert) :
		   PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)) {
		len = BIO_get_mem_data(b, &data);
		r = len > 0 ? write_atomic_tmp(st->dir, name, data, (size_t)len, true) : -EIO;
		if (len > 0)
			OPENSSL_cleanse(data, (size_t)len);
	}
	BIO_free(b);
	return r;
}

/*
 * The VCEK and VLEK keys are derived (of REPORTED_TCB, from the seeds in
 * "secrets"): their files are written for other tools, and read only to
 * recognise a directory from before the keys were derived; they are
 * optional and never sign.
 */
static const struct {
	const char *cert_file, *key_file;
	size_t cert_off, key_off;
	bool vlek_only, derived;
} pem_files[] = {
	{ "ark.pem", "ark-key.pem", offsetof(struct sim_state, ark),
	  offsetof(struct sim_state, ark_key), false, false },
	{ "ask.pem", "ask-key.pem", offsetof(struct sim_state, ask),
	  offsetof(struct sim_state, ask_key), false, false },
	{ "vcek.pem", "vcek-key.pem", offsetof(struct sim_state, vcek),
	  offsetof(struct sim_state, vcek_key), false, true },
	{ "asvk.pem", "asvk-key.pem", offsetof(struct sim_state, asvk),
	  offsetof(struct sim_state, asvk_key), true, false },
	{ "vlek.pem", "vlek-key.pem", offsetof(struct sim_state, vlek),
	  offsetof(struct sim_state, vlek_key), true, true },
};

static int save_identity(const struct sim_state *st)
{
	int r;

	for (size_t i = 0; i < SNP_ELEMENTSOF(pem_files); i++) {
		X509 *c = *(X509 **)((u8 *)st + pem_files[i].cert_off);
		EVP_PKEY *k = *(EVP_PKEY **)((u8 *)st + pem_files[i].key_off);

		if (!c || !k)
			continue;
		r = save_pem(st, pem_files[i].cert_file, c, NULL);
		if (r < 0)
			return r;
		r = save_pem(st, pem_files[i].key_file, NULL, k);
		if (r < 0)
			return r;
	}
	return 0;
}

#define SWAP_BACK(type, cur, saved)                                                                \
	do {                                                                                       \
		type *t_ = (cur);                                                                  \
		(cur) = (saved);                                                                   \
		(saved) = t_;                                                                      \
	} while (0)

/*
 * The VCEK (VLEK) keys and certificates again, of REPORTED_TCB, into memory
 * and the state directory (under the lock): after a firmware update, so
 * that the next process, and whoever reads the directory, has them too.
 * All or nothing in memory: on failure the leaves and keys that were there
 * stay, so that they still match the caller's (restored) params and a
 * later attempt is not mistaken for no change.
 */
static int reissue_leaves(struct sim_state *st, char *err, size_t errlen)
{
	X509 *vcek = st->vcek, *vlek = st->vlek;
	EVP_PKEY *vcek_key = st->vcek_key, *vlek_key = st->vlek_key;
	int r;

	if ((vcek && !X509_up_ref(vcek)) || (vlek && !X509_up_ref(vlek)) ||
	    (vcek_key && !EVP_PKEY_up_ref(vcek_key)) || (vlek_key && !EVP_PKEY_up_ref(vlek_key)))
		abort(); /* never fails for objects in use */
	r = sim_identity_reissue_leaf(st, err, errlen);
	if (r >= 0 && st->dir)
		r = save_pem(st, "vcek.pem", st->vcek, NULL);
	if (r >= 0 && st->dir)
		r = save_pem(st, "vcek-key.pem", NULL, st->vcek_key);
	if (r >= 0 && st->dir && st->params.vlek)
		r = save_pem(st, "vlek.pem", st->vlek, NULL);
	if (r >= 0 && st->dir && st->params.vlek)
		r = save_pem(st, "vlek-key.pem", NULL, st->vlek_key);
	if (r < 0) {
		if (!err[0])
			snprintf(err, errlen, "cannot save the reissued VCEK/VLEK certificates: %s",
				 strerror(-r));
		/* back to the old ones (the new ones, if any, are freed) */
		SWAP_BACK(X509, st->vcek, vcek);
		SWAP_BACK(X509, st->vlek, vlek);
		SWAP_BACK(EVP_PKEY, st->vcek_key, vcek_key);
		SWAP_BACK(EVP_PKEY, st->vlek_key, vlek_key);
	}
	X509_free(vcek);
	X509_free(vlek);
	EVP_PKEY_free(vcek_key);
	EVP_PKEY_free(vlek_key);
	return r;
}

static int load_identity(struct sim_state *st, char *err, size_t errlen)
{
	for (size_t i = 0; i < SNP_ELEMENTSOF(pem_files); i++) {
		X509 **c = (X509 **)((u8 *)st + pem_files[i].cert_off);
		EVP_PKEY **k = (EVP_PKEY **)((u8 *)st + pem_files[i].key_off);
		_cleanup_(freep) u8 *buf = NULL;
		size_t len;
		BIO *b;
		int r;

		if (pem_files[i].vlek_only && !st->params.vlek)
			continue;
		for (int which = 0; which < 2; which++) {
			const char *f = which ? pem_files[i].key_file : pem_files[i].cert_file;
			bool optional = which && pem_files[i].derived;

			free(buf);
			buf = NULL;
			r = read_in_dir(st->dir, f, 64 * 1024, &buf, &len);
			if (r < 0 && optional)
				continue;
			if (r < 0) {
				snprintf(err, errlen, "cannot read %s/%s: %s", st->dir, f,
					 strerror(-r));
				return r;
			}
			b = BIO_new_mem_buf(buf, (int)len);
			if (!b)
				return -ENOMEM;
			if (which)
				*k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
			else
				*c = PEM_read_bio_X509(b, NULL, NULL, NULL);
			BIO_free(b);
			OPENSSL_cleanse(buf, len);
			if (optional && !*k) {
				ERR_clear_error();
				continue;
			}
			if (which ? !*k : !*c) {
				snprintf(err, errlen, "%s/%s is not a PEM %s", st->dir, f,
					 which ? "private key" : "certificate");
				return -EBADMSG;
			}
		}
	}
	return 0;
}

/*
 * Is @leaf from a directory made before the VCEK (VLEK) keys were derived?
 * It certifies the key file (@file_key), which is not the key the seed
 * gives (@derived). A leaf that certifies neither was put there by hand:
 * the host hands it out as it is, as a misconfigured host would.
 */
static bool leaf_from_before(X509 *leaf, EVP_PKEY *file_key, EVP_PKEY *derived)
{
	EVP_PKEY *pub = leaf ? X509_get0_pubkey(leaf) : NULL;

	return pub && file_key && derived && EVP_PKEY_eq(pub, file_key) == 1 &&
	       EVP_PKEY_eq(pub, derived) != 1;
}

static int random_bytes(u8 *p, size_t n)
{
	return RAND_bytes(p, (int)n) == 1 ? 0 : -EIO;
}

static int new_launch_secrets(struct sim_state *st)
{
	int r;

	for (int i = 0; i < 4; i++) {
		r = random_bytes(st->secrets.vmpck[i], SNP_VMPCK_LEN);
		if (r < 0)
			return r;
		/* an all-zero VMPCK means "disabled" */
		st->secrets.vmpck[i][0] |= 1;
	}
	r = random_bytes(st->secrets.vmrk, SIM_VMRK_LEN);
	if (r < 0)
		return r;
	r = random_bytes(st->params.report_id, SNP_REPORT_ID_SIZE);
	if (r < 0)
		return r;
	memset(st->fw_counter, 0, sizeof(st->fw_counter));
	return 0;
}

void sim_state_make_secrets_page(const struct sim_state *st, struct snp_secrets_page *page)
{
	memset(page, 0, sizeof(*page));
	page->version = cpu_to_le32(SNP_SECRETS_PAGE_VERSION);
	page->fms = cpu_to_le32(sim_product_fms(st->params.product, st->params.cpuid_step));
	memcpy(page->vmpck, st->secrets.vmpck, sizeof(page->vmpck));
	page->tsc_factor = cpu_to_le32(st->params.tsc_factor);
	if (st->params.report_version >= 5)
		page->launch_mit_vector = cpu_to_le64(st->params.launch_mit_vector);
}

/*
 * The launch record ("launch-state"): the firmware's message counters and
 * the guest's secrets page (its VMPCKs and OS-area sequence numbers) in one
 * file, replaced by one rename() under the directory lock. On hardware the
 * two counters live in the PSP and in guest memory and outlive any process;
 * here every change of either is one write of the record, so a process
 * killed at any point leaves the state before or after, never a mix.
 *
 *   0x00  8    "SNPSIMLS"
 *   0x08  le32 record version (1)
 *   0x0c  le32 0
 *   0x10  le64 x 4  firmware counter per VMPCK
 *   0x30  4096      the guest's secrets page
 */
#define LAUNCH_FILE	"launch-state"
#define LAUNCH_MAGIC	"SNPSIMLS"
#define LAUNCH_VERSION	1
#define LAUNCH_PAGE_OFF 0x30
#define LAUNCH_SIZE	(LAUNCH_PAGE_OFF + SNP_PAGE_SIZE)
/* the layout before the launch record: two files written one after the other */
#define LEGACY_GUEST	"guest-secrets"
#define LEGACY_COUNTERS "fw-counters"

int sim_state_save_launch(const struct sim_state *st, const u64 fw_counter[4],
			  const struct snp_secrets_page *page)
{
	u8 *buf;
	int r;

	if (!st->dir)
		return 0;
	buf = snp_page_alloc(LAUNCH_SIZE);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, LAUNCH_MAGIC, 8);
	snp_put_le32(buf + 8, LAUNCH_VERSION);
	for (int i = 0; i < 4; i++)
		snp_put_le64(buf + 0x10 + 8 * i, fw_counter[i]);
	memcpy(buf + LAUNCH_PAGE_OFF, page, SNP_PAGE_SIZE);
	r = write_atomic_tmp(st->dir, LAUNCH_FILE, buf, LAUNCH_SIZE, true);
	snp_page_free(buf, LAUNCH_SIZE);
	return r;
}

/* A new guest view of the launch, its counters where the firmware's are. */
static void fresh_page(const struct sim_state *st, struct snp_secrets_page *page)
{
	sim_state_make_secrets_page(st, page);
	for (int i = 0; i < 4; i++)
		page->os_msg_seqno[i] = cpu_to_le32((u32)st->fw_counter[i]);
}

static int save_fresh_launch(const struct sim_state *st)
{
	struct snp_secrets_page *page = snp_page_alloc(sizeof(*page));
	int r;

	if (!page)
		return -ENOMEM;
	fresh_page(st, page);
	r = sim_state_save_launch(st, st->fw_counter, page);
	snp_page_free(page, sizeof(*page));
	if (r >= 0) {
		/* superseded; the record wins wherever both exist */
		(void)unlinkat_in(st->dir, LEGACY_GUEST);
		(void)unlinkat_in(st->dir, LEGACY_COUNTERS);
	}
	return r;
}

static int legacy_counters_kv(void *ud, const char *k, const char *v, int line)
{
	u64 *c = ud, x;

	if (strncmp(k, "vmpck", 5) != 0 || k[5] < '0' || k[5] > '3' || k[6])
		return -EBADMSG;
	if (snp_parse_u64(v, &x) < 0)
		return -EBADMSG;
	c[k[5] - '0'] = x;
	return 0;
}

/*
 * A directory written before the launch record: "guest-secrets" and
 * "fw-counters". That code advanced the guest's counter on disk before a
 * request and the firmware's after it, so a process killed in between left
 * a live VMPCK whose guest counter is ahead: that request was processed
 * (or never sent) and nobody learned its answer. Bring the firmware
 * forward to the guest, never the guest back, so no number is used twice.
 */
static int load_legacy(struct sim_state *st, struct snp_secrets_page *page)
{
	_cleanup_(freep) u8 *buf = NULL;
	u64 c[4] = { 0 };
	size_t len;
	int r;

	r = read_in_dir(st->dir, LEGACY_COUNTERS, 4096, &buf, &len);
	if (r >= 0) {
		r = parse_kv((char *)buf, legacy_counters_kv, c);
		if (r < 0)
			return r;
	} else if (r != -ENOENT) {
		return r;
	}
	memcpy(st->fw_counter, c, sizeof(c));
	free(buf);
	buf = NULL;

	r = read_in_dir(st->dir, LEGACY_GUEST, SNP_PAGE_SIZE, &buf, &len);
	if (r == -ENOENT) {
		fresh_page(st, page);
		return 0;
	}
	if (r < 0)
		return r;
	if (len != SNP_PAGE_SIZE) {
		OPENSSL_cleanse(buf, len);
		return -EBADMSG;
	}
	memcpy(page, buf, len);
	OPENSSL_cleanse(buf, len);
	for (int i = 0; i < 4; i++) {
		u32 g = le32_to_cpu(page->os_msg_seqno[i]);

		if (!snp_mem_is_zero(page->vmpck[i], SNP_VMPCK_LEN) && g > st->fw_counter[i])
			st->fw_counter[i] = g;
	}
	return 0;
}

int sim_state_load_launch(struct sim_state *st, struct snp_secrets_page *out)
{
	struct snp_secrets_page *page;
	u8 *buf = NULL;
	size_t len = 0;
	bool save = false;
	int r;

	if (!st->dir)
		return -EINVAL;
	page = snp_page_alloc(sizeof(*page));
	if (!page)
		return -ENOMEM;
	r = read_in_dir(st->dir, LAUNCH_FILE, LAUNCH_SIZE, &buf, &len);
	if (r == -ENOENT) {
		r = load_legacy(st, page);
		save = true;
	} else if (r >= 0) {
		if (len != LAUNCH_SIZE || memcmp(buf, LAUNCH_MAGIC, 8) != 0 ||
		    snp_get_le32(buf + 8) != LAUNCH_VERSION || snp_get_le32(buf + 12) != 0) {
			r = -EBADMSG;
		} else {
			for (int i = 0; i < 4; i++)
				st->fw_counter[i] = snp_get_le64(buf + 0x10 + 8 * i);
			memcpy(page, buf + LAUNCH_PAGE_OFF, sizeof(*page));
		}
	}
	if (buf) {
		OPENSSL_cleanse(buf, len);
		free(buf);
	}
	if (r < 0)
		goto out;

	/*
	 * A relaunch (or init --force) commits with the rename of "secrets"; a
	 * guest page that still holds another live VMPCK than the firmware's
	 * belongs to the launch before, whose writer died before it could
	 * write the record. Finish that relaunch: the new guest starts at 0.
	 */
	for (int i = 0; i < 4; i++) {
		if (!snp_mem_is_zero(page->vmpck[i], SNP_VMPCK_LEN) &&
		    CRYPTO_memcmp(page->vmpck[i], st->secrets.vmpck[i], SNP_VMPCK_LEN) != 0) {
			memset(st->fw_counter, 0, sizeof(st->fw_counter));
			fresh_page(st, page);
			save = true;
			break;
		}
	}
	if (save) {
		r = sim_state_save_launch(st, st->fw_counter, page);
		if (r >= 0) {
			(void)unlinkat_in(st->dir, LEGACY_GUEST);
			(void)unlinkat_in(st->dir, LEGACY_COUNTERS);
		}
	}
	if (r >= 0 && out)
		memcpy(out, page, sizeof(*page));
out:
	snp_page_free(page, sizeof(*page));
	return r;
}

static int save_all(const struct sim_state *st)
{
	int r;

	r = save_params(st);
	if (r >= 0)
		r = save_identity(st);
	/* last: the rename of "secrets" makes the new launch the current one */
	if (r >= 0)
		r = save_secrets(st);
	if (r >= 0)
		r = save_fresh_launch(st);
	return r;
}

static int lock_dir(const char *dir)
{
	_cleanup_(freep) char *path = NULL;
	int fd;

	if (asprintf(&path, "%s/lock", dir) < 0)
		return -ENOMEM;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

/* The parents of @dir as 0755 directories (mkdir -p), not @dir itself. */
static int make_parents(const char *dir)
{
	char path[PATH_MAX];
	size_t n = strlen(dir);

	if (n >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, n + 1);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

static int make_dir(const char *dir, char *err, size_t errlen)
{
	struct stat sb;
	int r;

	r = make_parents(dir);
	if (r < 0) {
		snprintf(err, errlen, "cannot create the parents of %s: %s", dir, strerror(-r));
		return r;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -errno;
	}
	if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "%s is not a directory", dir);
		return -ENOTDIR;
	}
	if ((sb.st_mode & 077) && chmod(dir, 0700) < 0) {
		snprintf(err, errlen, "cannot make %s private: %s", dir, strerror(errno));
		return -errno;
	}
	return 0;
}

struct sim_state *sim_state_free(struct sim_state *st)
{
	if (!st)
		return NULL;
	EVP_PKEY_free(st->ark_key);
	EVP_PKEY_free(st->ask_key);
	EVP_PKEY_free(st->vcek_key);
	EVP_PKEY_free(st->asvk_key);
	EVP_PKEY_free(st->vlek_key);
	X509_free(st->ark);
	X509_free(st->ask);
	X509_free(st->vcek);
	X509_free(st->asvk);
	X509_free(st->vlek);
	free(st->dir);
	OPENSSL_cleanse(st, sizeof(*st));
	free(st);
	return NULL;
}

static int state_new(const char *dir, struct sim_state **ret)
{
	struct sim_state *st = calloc(1, sizeof(*st));

	if (!st)
		return -ENOMEM;
	if (dir) {
		st->dir = strdup(dir);
		if (!st->dir) {
			free(st);
			return -ENOMEM;
		}
	}
	*ret = st;
	return 0;
}

static int create_locked(const char *dir, const struct sim_params *params, struct sim_state **ret,
			 char *err, size_t errlen)
{
	struct sim_state *st = NULL;
	size_t idlen;
	int r;

	r = sim_params_validate(params, err, errlen);
	if (r < 0)
		return r;
	r = state_new(dir, &st);
	if (r < 0)
		return r;
	st->params = *params;
	if (random_bytes(st->secrets.vcek_seed, SIM_SEED_LEN) < 0 ||
	    random_bytes(st->secrets.vlek_seed, SIM_SEED_LEN) < 0 || new_launch_secrets(st) < 0) {
		snprintf(err, errlen, "no randomness");
		r = -EIO;
		goto fail;
	}
	/* the chip id: "SIMULATD" then random bytes, unless one was given */
	idlen = sim_product_chip_id_len(st->params.product);
	if (memcmp(st->params.chip_id, SIM_CHIP_ID_PREFIX, sizeof(SIM_CHIP_ID_PREFIX) - 1) == 0 &&
	    snp_mem_is_zero(st->params.chip_id + 8, SNP_CHIP_ID_SIZE - 8)) {
		if (idlen > 8 && random_bytes(st->params.chip_id + 8, idlen - 8) < 0) {
			r = -EIO;
			goto fail;
		}
	}
	if (!st->params.vlek)
		memset(st->secrets.vlek_seed, 0, SIM_SEED_LEN);

	r = sim_identity_generate(st, err, errlen);
	if (r < 0)
		goto fail;
	if (dir) {
		r = save_all(st);
		if (r < 0) {
			snprintf(err, errlen, "cannot write the state to %s: %s", dir,
				 strerror(-r));
			goto fail;
		}
	}
	*ret = st;
	return 0;
fail:
	sim_state_free(st);
	return r;
}

static bool has_state(const char *dir)
{
	_cleanup_(freep) char *path = NULL;

	if (asprintf(&path, "%s/params", dir) < 0)
		return false;
	return access(path, F_OK) == 0;
}

int sim_state_create(const char *dir, const struct sim_params *params, bool force,
		     struct sim_state **ret, char *err, size_t errlen)
{
	int lfd, r;

	if (!params || !ret)
		return -EINVAL;
	if (!dir)
		return create_locked(NULL, params, ret, err, errlen);
	if (!*dir) {
		snprintf(err, errlen, "empty state directory name");
		return -EINVAL;
	}
	r = make_dir(dir, err, errlen);
	if (r < 0)
		return r;
	lfd = lock_dir(dir);
	if (lfd < 0) {
		snprintf(err, errlen, "cannot lock %s: %s", dir, strerror(-lfd));
		return lfd;
	}
	if (!force && has_state(dir)) {
		snprintf(err, errlen, "%s already holds a simulated platform (use --force)", dir);
		r = -EEXIST;
	} else {
		r = create_locked(dir, params, ret, err, errlen);
	}
	close(lfd);
	return r;
}

static int load_locked(const char *dir, struct sim_state **ret, char *err, size_t errlen)
{
	_cleanup_(freep) u8 *buf = NULL;
	EVP_PKEY *file_vcek = NULL, *file_vlek = NULL;
	struct sim_state *st = NULL;
	struct kv_ctx c;
	size_t len;
	int r;

	r = state_new(dir, &st);
	if (r < 0)
		return r;
	c = (struct kv_ctx){ .st = st, .err = err, .errlen = errlen };
	sim_params_default(&st->params, SNP_PRODUCT_MILAN);

	r = read_in_dir(dir, "params", PARAMS_MAX, &buf, &len);
	if (r < 0) {
		snprintf(err, errlen, "cannot read %s/params: %s", dir, strerror(-r));
		goto fail;
	}
	r = parse_kv((char *)buf, params_kv, &c);
	if (r < 0) {
		if (!err[0])
			snprintf(err, errlen, "%s/params: malformed line (expected key=value)",
				 dir);
		goto fail;
	}
	r = sim_params_validate(&st->params, err, errlen);
	if (r < 0)
		goto fail;
	free(buf);
	buf = NULL;

	r = read_in_dir(dir, "secrets", PARAMS_MAX, &buf, &len);
	if (r < 0) {
		snprintf(err, errlen, "cannot read %s/secrets: %s", dir, strerror(-r));
		goto fail;
	}
	r = parse_kv((char *)buf, secrets_kv, &c);
	OPENSSL_cleanse(buf, len);
	if (r < 0) {
		if (!err[0])
			snprintf(err, errlen, "%s/secrets: malformed line", dir);
		goto fail;
	}

	r = sim_state_load_launch(st, NULL);
	if (r < 0) {
		snprintf(err, errlen, "bad %s/" LAUNCH_FILE ": %s", dir, strerror(-r));
		goto fail;
	}
	r = load_identity(st, err, errlen);
	if (r < 0)
		goto fail;
	/* the key files, if any, only tell a directory from before */
	file_vcek = st->vcek_key;
	file_vlek = st->vlek_key;
	st->vcek_key = st->vlek_key = NULL;
	r = sim_identity_derive_keys(st);
	if (r < 0) {
		snprintf(err, errlen, "cannot derive the VCEK/VLEK key of the reported TCB");
		goto fail;
	}
	/*
	 * params edited by hand (a firmware update) since the leaves were
	 * issued, or a directory from before the keys were derived
	 */
	if (!sim_identity_leaf_is_current(st) ||
	    leaf_from_before(st->vcek, file_vcek, st->vcek_key) ||
	    (st->params.vlek && leaf_from_before(st->vlek, file_vlek, st->vlek_key))) {
		r = reissue_leaves(st, err, errlen);
		if (r < 0)
			goto fail;
	}
	EVP_PKEY_free(file_vcek);
	EVP_PKEY_free(file_vlek);
	*ret = st;
	return 0;
fail:
	EVP_PKEY_free(file_vcek);
	EVP_PKEY_free(file_vlek);
	sim_state_free(st);
	return r;
}

int sim_state_load(const char *dir, bool create, struct sim_state **ret, char *err, size_t errlen)
{
	int lfd, r;

	if (errlen)
		err[0] = '\0';
	if (!dir || !*dir || !ret) {
		snprintf(err, errlen, "no state directory given");
		return -EINVAL;
	}
	if (!has_state(dir) && !create) {
		snprintf(err, errlen,
			 "%s holds no simulated platform (run 'snpctl sim init --dir %s')", dir,
			 dir);
		return -ENOENT;
	}
	if (create) {
		r = make_dir(dir, err, errlen);
		if (r < 0)
			return r;
	}
	lfd = lock_dir(dir);
	if (lfd < 0) {
		snprintf(err, errlen, "cannot lock %s: %s", dir, strerror(-lfd));
		return lfd;
	}
	if (!has_state(dir)) {
		struct sim_params p;

		sim_params_default(&p, SNP_PRODUCT_MILAN);
		r = create_locked(dir, &p, ret, err, errlen);
	} else {
		r = load_locked(dir, ret, err, errlen);
	}
	close(lfd);
	return r;
}

int sim_state_relaunch(struct sim_state *st, char *err, size_t errlen)
{
	int lfd = -1, r;

	if (st->dir) {
		lfd = lock_dir(st->dir);
		if (lfd < 0) {
			snprintf(err, errlen, "cannot lock %s: %s", st->dir, strerror(-lfd));
			return lfd;
		}
	}
	r = new_launch_secrets(st);
	if (r < 0) {
		snprintf(err, errlen, "no randomness");
		goto out;
	}
	if (st->dir) {
		/*
		 * The rename of "secrets" commits the relaunch: a process that
		 * dies after it leaves a guest page with the old VMPCKs, which
		 * sim_state_load_launch() recognises and replaces.
		 */
		r = save_params(st);
		if (r >= 0)
			r = save_secrets(st);
		if (r >= 0)
			r = save_fresh_launch(st);
		if (r < 0)
			snprintf(err, errlen, "cannot write %s: %s", st->dir, strerror(-r));
	}
out:
	if (lfd >= 0)
		close(lfd);
	return r;
}

X509 *sim_state_cert(const struct sim_state *st, const char *name)
{
	if (strcmp(name, "ark") == 0)
		return st->ark;
	if (strcmp(name, "ask") == 0)
		return st->ask;
	if (strcmp(name, "vcek") == 0)
		return st->vcek;
	if (strcmp(name, "asvk") == 0)
		return st->asvk;
	if (strcmp(name, "vlek") == 0)
		return st->vlek;
	return NULL;
}

int sim_state_write_file(const struct sim_state *st, const char *name, const void *data, size_t len)
{
	if (!st->dir)
		return -EINVAL;
	return write_atomic(st->dir, name, data, len);
}

int sim_state_read_file(const struct sim_state *st, const char *name, size_t max, u8 **ret,
			size_t *ret_len)
{
	if (!st->dir)
		return -EINVAL;
	return read_in_dir(st->dir, name, max, ret, ret_len);
}

int sim_state_lock(const struct sim_state *st)
{
	if (!st->dir)
		return -EINVAL;
	return lock_dir(st->dir);
}

int sim_state_load_secrets(struct sim_state *st)
{
	_cleanup_(freep) u8 *buf = NULL;
	struct sim_secrets tmp = st->secrets;
	char err[128];
	struct kv_ctx c = { .st = st, .err = err, .errlen = sizeof(err) };
	size_t len;
	int r;

	if (!st->dir)
		return 0;
	r = read_in_dir(st->dir, "secrets", PARAMS_MAX, &buf, &len);
	if (r < 0)
		goto out;
	r = parse_kv((char *)buf, secrets_kv, &c);
	OPENSSL_cleanse(buf, len);
	if (r < 0)
		st->secrets = tmp;
out:
	OPENSSL_cleanse(&tmp, sizeof(tmp));
	return r;
}

struct params_only {
	struct sim_params *p;
	int line;     /* of the value refused, 0 none */
	char key[32]; /* its name */
};

static int params_only_kv(void *ud, const char *k, const char *v, int line)
{
	struct params_only *po = ud;
	int r = sim_params_set(po->p, k, v);

	if (r < 0) {
		po->line = line;
		snprintf(po->key, sizeof(po->key), "%s", k);
	}
	return r;
}

int sim_state_sync_firmware(struct sim_state *st, char *ret_why, size_t why_len)
{
	_cleanup_(freep) u8 *buf = NULL;
	struct sim_params np = st->params, old, *p = &st->params;
	struct params_only po = { .p = &np };
	char err[160], why[256] = "";
	size_t len;
	bool tcb_changed, changed;
	int r;

	if (ret_why && why_len)
		ret_why[0] = '\0';
	if (!st->dir)
		return 0;
	r = read_in_dir(st->dir, "params", PARAMS_MAX, &buf, &len);
	if (r < 0)
		return r;
	r = parse_kv((char *)buf, params_only_kv, &po);
	if (r < 0 && po.line)
		snprintf(why, sizeof(why), "line %d: %.31s: %s", po.line, po.key,
			 r == -ENOENT ? "no such parameter" : strerror(-r));
	else if (r < 0)
		snprintf(why, sizeof(why), "a line without '=' (%s)", strerror(-r));
	else if (sim_params_validate(&np, err, sizeof(err)) < 0)
		snprintf(why, sizeof(why), "%s", err);
	if (r < 0 || why[0]) {
		/* a params file being edited, or a value refused: keep what runs, say why */
		if (ret_why && why_len)
			snprintf(ret_why, why_len, "%s", why);
		return 0;
	}
	if (np.product != p->product || memcmp(np.chip_id, p->chip_id, sizeof(np.chip_id)))
		return 0; /* another chip: not a firmware update */
	tcb_changed = np.reported_tcb != p->reported_tcb;
	changed = tcb_changed || np.current_tcb != p->current_tcb ||
		  np.committed_tcb != p->committed_tcb || np.host_certs != p->host_certs ||
		  np.host_crl_this_update != p->host_crl_this_update ||
		  np.host_crl_next_update != p->host_crl_next_update ||
		  np.fw_major != p->fw_major || np.fw_minor != p->fw_minor ||
		  np.fw_build != p->fw_build || np.committed_major != p->committed_major ||
		  np.committed_minor != p->committed_minor ||
		  np.committed_build != p->committed_build;
	if (!changed)
		return 0;
	old = *p;
	p->current_tcb = np.current_tcb;
	p->committed_tcb = np.committed_tcb;
	p->reported_tcb = np.reported_tcb;
	p->fw_major = np.fw_major;
	p->fw_minor = np.fw_minor;
	p->fw_build = np.fw_build;
	p->committed_major = np.committed_major;
	p->committed_minor = np.committed_minor;
	p->committed_build = np.committed_build;
	p->host_certs = np.host_certs;
	p->host_crl_this_update = np.host_crl_this_update;
	p->host_crl_next_update = np.host_crl_next_update;
	if (tcb_changed) {
		err[0] = '\0';
		r = reissue_leaves(st, err, sizeof(err));
		if (r < 0) {
			/*
			 * Nothing taken: the leaves are the old TCB's, and so
			 * is what the firmware reports; the next request sees
			 * the update again and retries it.
			 */
			*p = old;
			return r;
		}
	}
	return 1;
}
