// SPDX-License-Identifier: Apache-2.0
/*
 * The tsm backend: Linux configfs-tsm (/sys/kernel/config/tsm/report),
 * snp-abi.md §4.3 and §5. "tsm:DIR" names the report directory.
 *
 * One uniquely named entry per request, so that no other user of the
 * interface shares our inblob/outblob; `generation` is read before the
 * first write and after the last read, and the report is accepted only
 * when it advanced by exactly the number of writes we made (configfs drops
 * a failed inblob store silently at close, and another writer to the same
 * entry would show up here too): else -ESTALE, the blobs are not ours,
 * and nothing says the device failed. The entry is removed on every path.
 *
 * Everything read from configfs is bounded and validated; the outblob
 * must be one ATTESTATION_REPORT, the auxblob (when certificates are
 * wanted) must parse as a GHCB certificate table.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h"
#include "lib/cert-table.h"
#include "lib/log.h"
#include "lib/util.h"

#define TSM_DEFAULT_PATH  "/sys/kernel/config/tsm/report"
#define TSM_PROVIDER	  "sev_guest"
#define TSM_INBLOB_LEN	  64		  /* TSM_INBLOB_MAX; sev_guest needs exactly 64 */
#define TSM_OUTBLOB_MAX	  (32 * 1024)	  /* TSM_OUTBLOB_MAX */
#define TSM_AUXBLOB_MAX	  (4 * 16 * 1024) /* the driver asks for 16 KiB; allow slack */
#define TSM_TEXT_MAX	  64		  /* provider, generation, privlevel_floor */
#define TSM_PRIVLEVEL_MAX 3

static_assert(TSM_INBLOB_LEN == SNP_REPORT_DATA_SIZE, "inblob is REPORT_DATA");

struct tsm {
	char *path;
	int dirfd;
	atomic_uint counter;
};

/* One request's entry: its name and an fd for the directory. */
struct tsm_entry {
	char name[64];
	int fd;
	u64 writes; /* successful attribute writes we made */
};

/*
 * Read the attribute @attr of the entry into @buf (capacity @cap). Reads
 * until EOF; more than @cap bytes is -EFBIG. *ret_len gets the length.
 */
static int tsm_read_attr(int entry_fd, const char *attr, u8 *buf, size_t cap, size_t *ret_len)
{
	size_t len = 0;
	int fd, r = 0;

	fd = openat(entry_fd, attr, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	for (;;) {
		u8 extra;
		ssize_t n;

		/* one byte past the capacity tells "too large" from "exactly full" */
		if (len < cap)
			n = read(fd, buf + len, cap - len);
		else
			n = read(fd, &extra, 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		if (len >= cap) {
			r = -EFBIG;
			break;
		}
		len += (size_t)n;
	}
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0)
		return r;
	*ret_len = len;
	return 0;
}

/* A text attribute without its one trailing newline, NUL-terminated. */
static int tsm_read_text(int entry_fd, const char *attr, char *buf, size_t cap)
{
	size_t len;
	int r;

	r = tsm_read_attr(entry_fd, attr, (u8 *)buf, cap - 1, &len);
	if (r < 0)
		return r;
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	buf[len] = '\0';
	if (strlen(buf) != len)
		return -EBADMSG; /* embedded NUL */
	return 0;
}

/* Strictly decimal, as the kernel prints it ("%lu\n" / "%u\n"). */
static int tsm_parse_dec(const char *s, u64 *ret)
{
	u64 v = 0;

	if (!*s)
		return -EBADMSG;
	for (; *s; s++) {
		unsigned int d;

		if (*s < '0' || *s > '9')
			return -EBADMSG;
		d = (unsigned int)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EBADMSG;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

static int tsm_read_u64(int entry_fd, const char *attr, u64 *ret)
{
	char buf[TSM_TEXT_MAX];
	int r;

	r = tsm_read_text(entry_fd, attr, buf, sizeof(buf));
	if (r < 0)
		return r;
	return tsm_parse_dec(buf, ret);
}

/*
 * Write @len bytes to @attr in one write(2) and close. configfs stores
 * text attributes at write time and binary ones at close, where a failure
 * is not reported (the generation check catches that).
 */
static int tsm_write_attr(struct tsm_entry *e, const char *attr, const void *data, size_t len)
{
	ssize_t n;
	int fd, r = 0;

	fd = openat(e->fd, attr, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	do
		n = write(fd, data, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		r = -errno;
	else if ((size_t)n != len)
		r = -EIO;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0)
		e->writes++;
	return r;
}

static int tsm_check_provider(int entry_fd)
{
	char buf[TSM_TEXT_MAX];
	int r;

	r = tsm_read_text(entry_fd, "provider", buf, sizeof(buf));
	if (r < 0) {
		log_debug_errno(r, "tsm: cannot read provider: %m");
		/* a new entry without a provider file: not configfs-tsm at all */
		return r == -ENOENT ? -EMEDIUMTYPE : r;
	}
	if (strcmp(buf, TSM_PROVIDER) != 0) {
		log_debug("tsm: provider is '%.32s', not " TSM_PROVIDER, buf);
		return -ENODEV;
	}
	return 0;
}

/*
 * After the writes: the generation must have advanced by exactly our
 * writes (modulo 2^64, the kernel's unsigned long), else the blobs are not
 * ours (another writer, or an inblob store that configfs dropped at close):
 * -ESTALE, with the reason in @err. The kernel itself has no errno for
 * this: its ABI (Documentation/ABI/testing/configfs-tsm, "generation")
 * leaves the conflict to userspace, and the EBUSY of configfs-tsm means
 * something else (a write that would wrap the generation onto the
 * report's, tsm's try_advance_write_generation()), as does EBUSY in
 * snpd (a full queue). Otherwise @r, the result so far, is returned.
 */
static int tsm_check_generation(struct tsm_entry *e, u64 g0, int r, struct snp_backend_error *err)
{
	u64 g1;
	int k;

	k = tsm_read_u64(e->fd, "generation", &g1);
	if (k < 0) {
		log_debug_errno(k, "tsm: cannot read generation: %m");
		return r < 0 ? r : k;
	}
	if (g1 != g0 + e->writes) {
		log_debug("tsm: generation went from %llu to %llu over %llu writes of ours",
			  (unsigned long long)g0, (unsigned long long)g1,
			  (unsigned long long)e->writes);
		snprintf(err->message, sizeof(err->message),
			 "the configfs-tsm entry's generation went from %llu to %llu over our "
			 "%llu writes: another writer changed it, or configfs dropped a store",
			 (unsigned long long)g0, (unsigned long long)g1,
			 (unsigned long long)e->writes);
		return -ESTALE;
	}
	return r;
}

/* Create a new uniquely named entry below @dirfd. */
static int tsm_entry_create(int dirfd, atomic_uint *counter, struct tsm_entry *e)
{
	unsigned int rnd = 0;
	int attempt;

	memset(e, 0, sizeof(*e));
	e->fd = -1;
	for (attempt = 0; attempt < 8; attempt++) {
		if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
			rnd ^= (unsigned int)getpid() * 2654435761U + (unsigned int)attempt;
		snprintf(e->name, sizeof(e->name), "snpd-%ld-%u-%08x", (long)getpid(),
			 atomic_fetch_add(counter, 1), rnd);
		if (mkdirat(dirfd, e->name, 0700) == 0)
			break;
		if (errno != EEXIST) {
			int r = -errno;

			e->name[0] = '\0';
			/* configfs-tsm answers ENXIO when no TSM provider is registered */
			log_debug_errno(r, "tsm: mkdir of a report entry failed: %m");
			return r;
		}
	}
	if (attempt == 8) {
		e->name[0] = '\0';
		return -EEXIST;
	}
	e->fd = openat(dirfd, e->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (e->fd < 0)
		return -errno; /* the caller still removes the directory */
	return 0;
}

static void tsm_entry_remove(int dirfd, struct tsm_entry *e)
{
	if (e->fd >= 0) {
		close(e->fd);
		e->fd = -1;
	}
	if (!e->name[0])
		return;
	if (unlinkat(dirfd, e->name, AT_REMOVEDIR) < 0)
		log_debug_errno(errno, "tsm: cannot remove report entry %s: %m", e->name);
	e->name[0] = '\0';
}

/* 0 when @dirfd is a configfs-tsm report directory with the sev_guest provider. */
static int tsm_check_dir(int dirfd)
{
	atomic_uint counter = 0;
	struct tsm_entry e;
	int r;

	r = tsm_entry_create(dirfd, &counter, &e);
	if (r >= 0)
		r = tsm_check_provider(e.fd);
	tsm_entry_remove(dirfd, &e);
	return r;
}

static int tsm_open_dir(const char *path)
{
	int fd;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int tsm_open(const char *config, void **ret_ctx, char *err, size_t errlen)
{
	const char *path = config ? config : TSM_DEFAULT_PATH;
	struct tsm *t;
	int fd, r;

	fd = tsm_open_dir(path);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open the configfs-tsm report directory %s: %s", path,
			 strerror(-fd));
		return fd == -ENOTDIR ? -EINVAL : fd;
	}
	r = tsm_check_dir(fd);
	if (r < 0) {
		if (r == -ENXIO)
			snprintf(err, errlen,
				 "%s: no TSM provider is registered (not an SEV-SNP guest?)", path);
		else if (r == -ENODEV)
			snprintf(err, errlen, "%s: the TSM provider is not " TSM_PROVIDER, path);
		else if (r == -EMEDIUMTYPE)
			snprintf(err, errlen,
				 "%s is not a configfs-tsm report directory (a new entry has no "
				 "provider attribute)",
				 path);
		else
			snprintf(err, errlen,
				 "%s is not a usable configfs-tsm report directory: %s", path,
				 strerror(-r));
		close(fd);
		return r;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		close(fd);
		return -ENOMEM;
	}
	t->path = strdup(path);
	if (!t->path) {
		free(t);
		close(fd);
		return -ENOMEM;
	}
	t->dirfd = fd;
	atomic_init(&t->counter, 0);
	*ret_ctx = t;
	return 0;
}

static void tsm_close(void *ctx)
{
	struct tsm *t = ctx;

	if (!t)
		return;
	close(t->dirfd);
	free(t->path);
	free(t);
}

static int tsm_probe(const char *config)
{
	const char *path = config ? config : TSM_DEFAULT_PATH;
	int fd, r;

	fd = tsm_open_dir(path);
	if (fd < 0)
		return fd == -ENOTDIR ? -ENOENT : fd;
	r = tsm_check_dir(fd);
	close(fd);
	return r;
}

/*
 * Errors of an outblob/auxblob read are the provider's (snp-abi.md §4.3):
 * EINVAL the firmware refused the parameters (status 0x16/0x27) or inblob
 * is not 64 bytes, ENXIO another firmware or host error, ENOTTY the guest
 * driver disabled its VMPCK (or the provider went away), EFBIG too large.
 * They are passed on unchanged, unless the generation shows that the
 * entry was not only ours: then ESTALE (tsm_check_generation()).
 * An empty outblob is a refusal: when the hypervisor refuses the exit,
 * sev-guest's report_new() returns a positive value, which
 * tsm_report_read() does not take for an error, and the read succeeds
 * with 0 bytes. That is EIO, said in @err.
 */
static int tsm_get_report(void *ctx, const struct snp_backend_report_req *req,
			  struct snp_backend_report *ret, struct snp_backend_error *err)
{
	struct tsm *t = ctx;
	_cleanup_(freep) u8 *out = NULL;
	_cleanup_(freep) u8 *aux = NULL;
	struct tsm_entry e;
	char level[16];
	u64 g0, floor;
	size_t out_len = 0, aux_len = 0;
	int r;

	/* configfs-tsm does not pass the firmware's status on; err gets messages */

	r = tsm_entry_create(t->dirfd, &t->counter, &e);
	if (r < 0)
		goto out;
	r = tsm_check_provider(e.fd);
	if (r < 0)
		goto out;

	r = tsm_read_u64(e.fd, "generation", &g0);
	if (r < 0) {
		log_debug_errno(r, "tsm: cannot read generation: %m");
		goto out;
	}

	r = tsm_read_u64(e.fd, "privlevel_floor", &floor);
	if (r < 0) {
		log_debug_errno(r, "tsm: cannot read privlevel_floor: %m");
		goto out;
	}
	if (floor > TSM_PRIVLEVEL_MAX) {
		r = -EBADMSG;
		goto out;
	}
	if (req->vmpl < floor) {
		snprintf(err->message, sizeof(err->message),
			 "VMPL %u requested, but the guest kernel's configfs-tsm privlevel_floor "
			 "is %u: it cannot sign reports for a more privileged VMPL",
			 req->vmpl, (unsigned int)floor);
		r = -EINVAL;
		goto out;
	}
	snprintf(level, sizeof(level), "%u", req->vmpl);
	r = tsm_write_attr(&e, "privlevel", level, strlen(level));
	if (r < 0) {
		log_debug_errno(r, "tsm: cannot write privlevel %s: %m", level);
		goto out;
	}

	r = tsm_write_attr(&e, "inblob", req->report_data, TSM_INBLOB_LEN);
	if (r < 0) {
		log_debug_errno(r, "tsm: cannot write inblob: %m");
		goto out;
	}

	out = malloc(TSM_OUTBLOB_MAX);
	if (!out) {
		r = -ENOMEM;
		goto out;
	}
	r = tsm_read_attr(e.fd, "outblob", out, TSM_OUTBLOB_MAX, &out_len);
	if (r < 0) {
		log_debug_errno(r, "tsm: reading outblob failed: %m");
		r = tsm_check_generation(&e, g0, r, err);
		goto out;
	}
	if (out_len == 0) {
		r = tsm_check_generation(&e, g0, -EIO, err);
		if (r == -EIO)
			snprintf(err->message, sizeof(err->message),
				 "configfs-tsm gave an empty outblob: the hypervisor refused the "
				 "guest request, the firmware never answered");
		goto out;
	}
	if (out_len != SNP_REPORT_SIZE) {
		log_debug("tsm: outblob has %zu bytes, not %u", out_len, SNP_REPORT_SIZE);
		r = -EBADMSG;
		goto out;
	}

	if (req->want_certs) {
		aux = malloc(TSM_AUXBLOB_MAX);
		if (!aux) {
			r = -ENOMEM;
			goto out;
		}
		r = tsm_read_attr(e.fd, "auxblob", aux, TSM_AUXBLOB_MAX, &aux_len);
		if (r < 0) {
			log_debug_errno(r, "tsm: reading auxblob failed: %m");
			r = tsm_check_generation(&e, g0, r, err);
			goto out;
		}
	}

	r = tsm_check_generation(&e, g0, 0, err);
	if (r < 0)
		goto out;

	if (aux_len > 0) {
		struct snp_cert_table *tab;
		char msg[SNP_ERRBUF];

		tab = malloc(sizeof(*tab));
		if (!tab) {
			r = -ENOMEM;
			goto out;
		}
		r = snp_cert_table_parse(aux, aux_len, tab, msg, sizeof(msg));
		free(tab);
		if (r < 0) {
			log_debug("tsm: auxblob is not a certificate table: %s", msg);
			goto out;
		}
		ret->certs = aux;
		ret->certs_len = aux_len;
		aux = NULL;
	}
	memcpy(ret->report, out, SNP_REPORT_SIZE);
	r = 0;
out:
	tsm_entry_remove(t->dirfd, &e);
	return r;
}

const struct snp_backend_ops snp_backend_tsm = {
	.name = "tsm",
	.help = "tsm[:DIR]  Linux configfs-tsm reports (DIR default " TSM_DEFAULT_PATH ")",
	.caps = SNP_BACKEND_CAP_REPORT | SNP_BACKEND_CAP_CERTS | SNP_BACKEND_CAP_VMPL,
	.open = tsm_open,
	.close = tsm_close,
	.probe = tsm_probe,
	.get_report = tsm_get_report,
	.get_derived_key = NULL,
};
