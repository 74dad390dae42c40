// SPDX-License-Identifier: Apache-2.0
/*
 * tsm-fuse: a FUSE file system that serves a Linux configfs-tsm report tree
 * (snp-abi.md §5) backed by the simulated platform, so that the tsm backend
 * runs its real file operations in tests. It follows Linux's
 * drivers/virt/coco/guest/report.c (drivers/virt/coco/tsm.c in older kernels),
 * fs/configfs/file.c and sev-guest's sev_report_new(); the version each
 * behaviour comes from is noted where it is coded.
 *
 *   tsm-fuse --sim SIMDIR [--vmpl N] [--floor N] [--initial-generation N]
 *            [--foreign-writes N] [--foreign-after N] [--foreign-in-read] [-d]
 *            MOUNTPOINT
 *
 * --vmpl N: the guest runs at VMPL N (default 0), under an SVSM when N > 0.
 * --floor N: sev-guest's vmpck_id module parameter, the VMPCK the driver
 * signs with; it defaults to the VMPL (as Linux ≥ 6.11 does), else to
 * SNP_SIM_VMPCK, else 0. privlevel_floor *is* that VMPCK (Linux ≥ 6.7).
 *
 * MOUNTPOINT/report/ accepts mkdir NAME (and only there; elsewhere EPERM);
 * each entry has the sev_guest provider's attributes:
 *
 *   inblob           0200 bin   at most 64 bytes (more: EFBIG); stored at
 *                               the last release of the open file (dup,
 *                               fork share it), whatever was buffered --
 *                               nothing after an EFBIG on a fresh file, so
 *                               an empty inblob -- and a failure then is
 *                               not reported; dropped when the entry is
 *                               gone by then
 *   outblob,auxblob  0444 bin   generated on read when the read generation
 *                               differs from the write generation, then
 *                               cached; EINVAL before inblob was written or
 *                               when it is not exactly 64 bytes; firmware
 *                               errors as the guest driver maps them
 *                               (EINVAL, ENXIO, ENOTTY, EIO); a refused
 *                               exit (fault refuse_exit) is the driver's
 *                               positive result, which tsm_report_read()
 *                               does not take for an error: the read
 *                               succeeds with 0 bytes, nothing is cached
 *   provider         0444       "sev_guest\n"
 *   generation       0444       write generation, "%llu\n"
 *   privlevel        0200       0..3 and not below the floor, else EINVAL;
 *                               0 until written (so a floor above 0 with
 *                               privlevel unwritten fails the report: the
 *                               firmware refuses, EINVAL)
 *   privlevel_floor  0444       the VMPCK in use
 *
 * and, when the guest runs above VMPL 0 (Linux ≥ 6.11):
 *
 *   service_provider, service_guid, service_manifest_version  0200
 *   manifestblob     0444 bin
 *
 * The simulated SVSM offers no attestation service: any report asked of it
 * (service_provider written) fails with EINVAL, as Linux's
 * sev_svsm_report_new() does for every failed SVSM call (and for a
 * service_provider other than "svsm"). Without service_provider the report
 * comes from the firmware as usual and manifestblob reads empty.
 *
 * An open bin file is read as configfs reads it (configfs_bin_read_iter()):
 * its first read calls the attribute's read twice, for the length and then
 * into a buffer of that length, and every later read of that open file, at
 * any offset, is served from that buffer, whatever was written meanwhile; a
 * new open reads afresh. A fill that ends in an error or 0 bytes keeps
 * nothing (the next read tries again). Between the two calls nothing is
 * locked: a write there makes the second call generate a new report, and
 * the open file gets that one, cut to or padded to the first length (on
 * Linux the padding is memory never written, here zeros). Writes to inblob
 * are buffered per open file and stored at its release. Reading and writing
 * the same open bin file would be ETXTBSY, but no tsm bin attribute is
 * readable and writable both (O_RDWR is EACCES at open); inblob and outblob
 * open at once are two open files and do not meet. Not modelled: lseek(2)
 * on a bin file is ESPIPE on Linux (no llseek) but works here (FUSE handles
 * it; pread and pwrite work on both).
 *
 * Once an entry is removed (rmdir), a file that already read keeps serving
 * what it read, writes to an open inblob are accepted and dropped at close,
 * and everything else of that entry is ENOENT (configfs).
 *
 * Every successful attribute write advances the write generation; a write
 * that would make it wrap around to the read generation fails with EBUSY
 * until the blobs are read. --initial-generation N starts new entries at
 * write generation N (read generation 0), so that the wrap is testable;
 * --foreign-writes N counts N more writes after every inblob store, as if
 * another process had written to the entry (the tsm backend must notice);
 * --foreign-after N spares the first N inblob stores of the tree (a daemon's
 * reference report at start, say); --foreign-in-read makes another process
 * store an inblob of 64 0xee bytes (generation + 1) between the two calls of
 * every bin file's fill (spared the same way).
 *
 * The report is one SNP_GET_EXT_REPORT on the simulated guest driver with a
 * 16 KiB certificate area and no second attempt: when the host says that is
 * too small, the read fails with EIO (and the VMPCK stays usable); auxblob
 * is the certificate table cut to max(offset + length).
 *
 * Serves in the foreground until SIGTERM/SIGINT/SIGHUP, then answers the
 * requests already queued (helper_serve(), fuse-serve.c), unmounts and exits
 * 0; an unmount also ends it with 0. One worker thread serves the requests,
 * one at a time: nothing here is locked, the state below is only touched by
 * that thread while it serves (and by main() before and after). FUSE sends
 * RELEASE in the background, queued before close(2) returns; the background
 * limit is raised so that it never waits behind others and reaches us
 * before the closing process's next request.
 */
#define FUSE_USE_VERSION 31

#include <errno.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kernel/snp-certs.h"
#include "kernel/snp-msg.h"
#include "kernel/snp-uapi.h"
#include "lib/log.h"
#include "lib/util.h"
#include "sim/sim.h"
#include "tests/helpers/fuse-serve.h"

#define TSM_INBLOB_MAX	   64
#define TSM_OUTBLOB_MAX	   (32 * 1024)
#define TSM_PRIVLEVEL_MAX  3
#define TSM_TEXT_WRITE_MAX 4095 /* configfs: PAGE_SIZE - 1 */
#define TSM_MAX_ENTRIES	   4096
#define TSM_CERTS_LEN	   SNP_CERTS_MAX_LEN /* sev_report_new(): SEV_FW_BLOB_MAX_SIZE */
#define TSM_REPORT_AREA	   4096		     /* sev_report_new(): header + report */

enum attr_id {
	ATTR_INBLOB,
	ATTR_OUTBLOB,
	ATTR_AUXBLOB,
	ATTR_PROVIDER,
	ATTR_GENERATION,
	ATTR_PRIVLEVEL,
	ATTR_PRIVLEVEL_FLOOR,
	ATTR_SERVICE_PROVIDER,
	ATTR_SERVICE_GUID,
	ATTR_SERVICE_MANIFEST_VERSION,
	ATTR_MANIFESTBLOB,
};

static const struct attr {
	const char *name;
	enum attr_id id;
	mode_t mode;
	bool bin;
	bool svsm; /* shown only above VMPL 0 (sev_report_*attr_visible, 6.11) */
} attrs[] = {
	{ "inblob", ATTR_INBLOB, 0200, true },
	{ "outblob", ATTR_OUTBLOB, 0444, true },
	{ "auxblob", ATTR_AUXBLOB, 0444, true },
	{ "provider", ATTR_PROVIDER, 0444, false },
	{ "generation", ATTR_GENERATION, 0444, false },
	{ "privlevel", ATTR_PRIVLEVEL, 0200, false },
	{ "privlevel_floor", ATTR_PRIVLEVEL_FLOOR, 0444, false },
	{ "service_provider", ATTR_SERVICE_PROVIDER, 0200, false, true },
	{ "service_guid", ATTR_SERVICE_GUID, 0200, false, true },
	{ "service_manifest_version", ATTR_SERVICE_MANIFEST_VERSION, 0200, false, true },
	{ "manifestblob", ATTR_MANIFESTBLOB, 0444, true, true },
};

struct entry {
	struct entry *next;
	char *name;
	unsigned int refs; /* the directory itself + open files */
	bool dead;	   /* removed: see tsm_read(), tsm_write(), tsm_release() */
	struct timespec ctime;
	u64 write_gen, read_gen;
	u8 inblob[TSM_INBLOB_MAX];
	size_t inblob_len;
	u32 privlevel;
	char *service_provider; /* NULL until written */
	u8 service_guid[16];
	u32 service_manifest_version;
	bool have_report;
	u8 *outblob, *auxblob;
	size_t outblob_len, auxblob_len;
};

/* One open attribute. */
struct ofile {
	struct ofile *prev, *next; /* all open files, freed at exit */
	struct entry *e;
	const struct attr *a;
	u8 *data; /* what reads return, filled on the first read */
	size_t len;
	bool filled;
	u8 wbuf[TSM_INBLOB_MAX]; /* inblob: written bytes, stored at release */
	size_t wlen;
	bool write_in_progress; /* configfs: set by any write, even a refused one */
};

static struct {
	struct sim_platform *sim;
	struct entry *entries;
	size_t n_entries;
	struct ofile *files;
	u32 vmpl;  /* the guest's VMPL; an SVSM runs below it when > 0 */
	u32 floor; /* the VMPCK the guest driver uses = privlevel_floor */
	u64 initial_gen;
	u32 foreign_writes;
	u32 foreign_after; /* inblob stores spared by foreign_writes, foreign_in_read */
	bool foreign_in_read;
	u64 stores;		/* inblob stores so far */
	unsigned int open_dirs; /* directories opened and not yet released */
	struct timespec start;
} tsm;

/* ---- the tree ----------------------------------------------------------- */

enum node_kind { NODE_NONE, NODE_ROOT, NODE_REPORT, NODE_ENTRY, NODE_ATTR };

struct node {
	enum node_kind kind;
	struct entry *e;      /* NODE_ENTRY, NODE_ATTR; borrowed */
	const struct attr *a; /* NODE_ATTR */
	char last[256];	      /* the last component, for mkdir */
	unsigned int depth;
};

static struct entry *entry_find(const char *name)
{
	for (struct entry *e = tsm.entries; e; e = e->next)
		if (strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

static bool attr_visible(const struct attr *a)
{
	return !a->svsm || tsm.vmpl > 0;
}

static const struct attr *attr_find(const char *name)
{
	for (size_t i = 0; i < SNP_ELEMENTSOF(attrs); i++)
		if (attr_visible(&attrs[i]) && strcmp(attrs[i].name, name) == 0)
			return &attrs[i];
	return NULL;
}

/*
 * Resolve @path. Returns 0 with @n filled (kind NODE_NONE when the last
 * component does not exist but its parent does), or -ENOENT.
 */
static int resolve(const char *path, struct node *n)
{
	char comp[4][256];
	unsigned int depth = 0;
	const char *p = path;

	memset(n, 0, sizeof(*n));
	while (*p) {
		const char *s;
		size_t len;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		s = strchr(p, '/');
		len = s ? (size_t)(s - p) : strlen(p);
		if (depth == SNP_ELEMENTSOF(comp) || len >= sizeof(comp[0]))
			return -ENOENT;
		memcpy(comp[depth], p, len);
		comp[depth][len] = '\0';
		depth++;
		p += len;
	}
	n->depth = depth;
	if (depth > 0)
		snprintf(n->last, sizeof(n->last), "%s", comp[depth - 1]);
	switch (depth) {
	case 0:
		n->kind = NODE_ROOT;
		return 0;
	case 1:
		n->kind = strcmp(comp[0], "report") == 0 ? NODE_REPORT : NODE_NONE;
		return 0;
	}
	if (strcmp(comp[0], "report") != 0)
		return -ENOENT;
	n->e = entry_find(comp[1]);
	if (depth == 2) {
		n->kind = n->e ? NODE_ENTRY : NODE_NONE;
		return 0;
	}
	if (!n->e || depth > 3)
		return -ENOENT;
	n->a = attr_find(comp[2]);
	n->kind = n->a ? NODE_ATTR : NODE_NONE;
	return 0;
}

static void entry_unref(struct entry *e)
{
	if (!e || --e->refs > 0)
		return;
	free(e->outblob);
	free(e->auxblob);
	free(e->service_provider);
	free(e->name);
	free(e);
}

/* ---- configfs-tsm semantics -------------------------------------------- */

/* The kernel's try_advance_write_generation(). */
static int advance_write_gen(struct entry *e)
{
	if (e->write_gen == e->read_gen - 1)
		return -EBUSY;
	e->write_gen++;
	return 0;
}

/*
 * max(offset + length) over the entries of the certificate table in @t
 * (@len bytes) up to the all-zero terminator, at most @len: sev_report_new()
 * (Linux ≥ 6.7), u32 arithmetic as there.
 */
static u32 certs_used_len(const u8 *t, u32 len)
{
	static const u8 zero[16];
	u32 used = 0;

	for (u32 i = 0; i + sizeof(struct snp_cert_entry) <= len;
	     i += sizeof(struct snp_cert_entry)) {
		const struct snp_cert_entry *ent = (const void *)(t + i);
		u32 off = le32_to_cpu(ent->offset), n = le32_to_cpu(ent->length);

		if (memcmp(ent->guid, zero, sizeof(zero)) == 0 && !off && !n)
			break;
		if (off + n > used)
			used = off + n;
	}
	return used > len ? len : used;
}

/*
 * sev_report_new(), over the simulated guest driver: one SNP_GET_EXT_REPORT
 * with a 16 KiB certificate area. When the host says that is too small the
 * driver sends the plain request (so the VMPCK stays usable) and fails with
 * EIO, which is passed on: no second attempt with a larger area (Linux ≥ 6.7;
 * the buffer is SEV_FW_BLOB_MAX_SIZE). Returns 0, -errno, or the driver's
 * positive result when the host refused the exit (no blobs then).
 */
static int generate_report(struct entry *e)
{
	struct snp_ioc_ext_report_req ext = { 0 };
	struct snp_ioc_guest_request g = { 0 };
	struct snp_ioc_report_resp *resp = NULL;
	const struct snp_report_rsp_msg *rsp;
	u8 *certs = NULL, *out = NULL, *aux = NULL;
	u32 status, size, used;
	int r;

	if (e->inblob_len != SNP_REPORT_DATA_SIZE)
		return -EINVAL;
	if (e->service_provider) {
		/*
		 * A provider other than "svsm" is EINVAL; "svsm" asks the SVSM,
		 * which offers no attestation service here, and every failed
		 * SVSM attestation call is EINVAL (Linux ≥ 6.11).
		 */
		log_info("%s: service_provider '%.32s': the simulated SVSM has no attestation "
			 "service",
			 e->name, e->service_provider);
		return -EINVAL;
	}
	resp = calloc(1, sizeof(*resp));
	certs = calloc(1, TSM_CERTS_LEN);
	if (!resp || !certs) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(ext.data.user_data, e->inblob, SNP_REPORT_DATA_SIZE);
	ext.data.vmpl = e->privlevel;
	ext.certs_address = (u64)(uintptr_t)certs;
	ext.certs_len = TSM_CERTS_LEN;
	g.msg_version = 1;
	g.req_data = (u64)(uintptr_t)&ext;
	g.resp_data = (u64)(uintptr_t)resp;
	r = sim_platform_ioctl(tsm.sim, SNP_IOC_GET_EXT_REPORT, &g);
	if (r > 0) {
		/* sev_report_new() returns the positive ES_* as it is */
		log_info("%s: the host refused the exit (%d): an empty report", e->name, r);
		goto out;
	}
	if (r < 0) {
		log_info("%s: report request failed: %s (fw 0x%x, vmm 0x%x)", e->name, strerror(-r),
			 g.fw_error, g.vmm_error);
		goto out;
	}
	rsp = (const void *)resp->data;
	status = le32_to_cpu(rsp->status);
	if (status) {
		log_info("%s: the firmware answered status 0x%x", e->name, status);
		r = status == SNP_FW_INVALID_PARAM || status == SNP_FW_INVALID_KEY ? -EINVAL :
										     -ENXIO;
		goto out;
	}
	/* the driver's area is 4 KiB; ours stops at sizeof(resp->data) */
	size = le32_to_cpu(rsp->report_size);
	if (size > TSM_REPORT_AREA - offsetof(struct snp_report_rsp_msg, report) ||
	    size > sizeof(resp->data) - offsetof(struct snp_report_rsp_msg, report)) {
		r = -ENOMEM;
		goto out;
	}
	used = certs_used_len(certs, TSM_CERTS_LEN);
	out = malloc(size ? size : 1);
	aux = used ? malloc(used) : NULL;
	if (!out || (used && !aux)) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(out, resp->data + offsetof(struct snp_report_rsp_msg, report), size);
	if (used)
		memcpy(aux, certs, used);
	free(e->outblob);
	free(e->auxblob);
	e->outblob = out;
	e->outblob_len = size;
	e->auxblob = aux;
	e->auxblob_len = used;
	out = aux = NULL;
	r = 0;
out:
	free(out);
	free(aux);
	free(certs);
	free(resp);
	return r;
}

/*
 * tsm_report_read(): the cached blob, regenerated when a write came since.
 * manifestblob is only ever filled by an SVSM report, which fails here.
 * report_new()'s result counts as an error only when negative: a positive
 * one (a refused exit) still sets the read generation, and every blob is
 * empty (NULL); with no outblob nothing counts as cached, so the next read
 * generates again (read_cached_report(), Linux >= 6.7).
 *
 * configfs calls it twice per fill (configfs_bin_read_iter()): with @buf
 * NULL for the length, then with a buffer of @count bytes of that length,
 * into which at most @count bytes of the blob are copied and their number
 * returned (__read_report(), memory_read_from_buffer()). Each call checks
 * the generation on its own: tsm_rwsem is not held between them.
 */
static ssize_t blob_read(struct entry *e, enum attr_id id, u8 *buf, size_t count)
{
	const u8 *src;
	size_t len;
	int r;

	if (!e->inblob_len)
		return -EINVAL;
	if (!e->have_report || e->read_gen != e->write_gen) {
		e->have_report = false;
		free(e->outblob);
		free(e->auxblob);
		e->outblob = e->auxblob = NULL;
		e->outblob_len = e->auxblob_len = 0;
		r = generate_report(e);
		if (r < 0)
			return r;
		e->have_report = r == 0;
		e->read_gen = e->write_gen;
	}
	switch (id) {
	case ATTR_OUTBLOB:
		src = e->outblob;
		len = e->outblob_len;
		break;
	case ATTR_AUXBLOB:
		src = e->auxblob;
		len = e->auxblob_len;
		break;
	default:
		src = NULL;
		len = 0;
		break;
	}
	if (!buf)
		return (ssize_t)len;
	if (len > count)
		len = count;
	if (len)
		memcpy(buf, src, len);
	return (ssize_t)len;
}

/*
 * --foreign-in-read: another process stores an inblob (64 bytes of 0xee)
 * between configfs's two calls of a blob's read, as it can on Linux, where
 * nothing is locked between them. Spared as --foreign-writes is.
 */
static void foreign_store_in_read(struct entry *e)
{
	if (!tsm.foreign_in_read || tsm.stores <= tsm.foreign_after)
		return;
	if (advance_write_gen(e) < 0)
		return;
	memset(e->inblob, 0xee, TSM_INBLOB_MAX);
	e->inblob_len = TSM_INBLOB_MAX;
	log_info("%s: another writer stored an inblob between the two calls of a read", e->name);
}

/*
 * configfs_bin_read_iter()'s fill of an open bin file, at its first read
 * (and again at the next read until a fill succeeded): the attribute's
 * length (@buf NULL), which ends the read when it is 0 or an error (nothing
 * kept: the next read asks again) and is EFBIG above cb_max_size; then a
 * buffer of that length, which the second call fills. That buffer is what
 * every later read of the open file gets, at any offset, whatever is
 * written meanwhile. When the second call fails, the read fails and nothing
 * is kept. When it copies fewer bytes than the first call said (the report
 * changed in between: a write, then a new report, or a refused exit's
 * empty one), the buffer keeps its first length: on Linux the rest is
 * vmalloc()ed memory never written, here zeros.
 */
static int bin_fill(struct ofile *of)
{
	struct entry *e = of->e;
	ssize_t len, n;
	u8 *buf;

	if (e->dead)
		return -ENOENT;
	len = blob_read(e, of->a->id, NULL, 0);
	if (len <= 0)
		return (int)len;
	if (len > TSM_OUTBLOB_MAX) /* cb_max_size of outblob, auxblob, manifestblob */
		return -EFBIG;
	buf = calloc(1, (size_t)len);
	if (!buf)
		return -ENOMEM;
	foreign_store_in_read(e);
	n = blob_read(e, of->a->id, buf, (size_t)len);
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	if (n < len)
		log_info("%s/%s: the second call of the read gave %zd of %zd bytes", e->name,
			 of->a->name, n, len);
	of->data = buf;
	of->len = (size_t)len;
	of->filled = true;
	return 0;
}

/* The content of a readable text attribute (its ->show()), newly allocated. */
static int attr_show(struct entry *e, const struct attr *a, u8 **ret, size_t *ret_len)
{
	char text[64];
	const u8 *src;
	size_t len;

	switch (a->id) {
	case ATTR_PROVIDER:
		len = (size_t)snprintf(text, sizeof(text), "sev_guest\n");
		src = (const u8 *)text;
		break;
	case ATTR_GENERATION:
		len = (size_t)snprintf(text, sizeof(text), "%llu\n",
				       (unsigned long long)e->write_gen);
		src = (const u8 *)text;
		break;
	case ATTR_PRIVLEVEL_FLOOR:
		len = (size_t)snprintf(text, sizeof(text), "%u\n", tsm.floor);
		src = (const u8 *)text;
		break;
	default:
		return -EACCES;
	}
	*ret = malloc(len ? len : 1);
	if (!*ret)
		return -ENOMEM;
	if (len)
		memcpy(*ret, src, len);
	*ret_len = len;
	return 0;
}

/* kstrtouint(buf, 0, &v): optional '+', 0x/0 prefixes, one trailing newline. */
static int parse_kstrtouint(const char *buf, size_t len, unsigned int *ret)
{
	char s[TSM_TEXT_WRITE_MAX + 1], *end;
	unsigned long long v;
	const char *p = s;

	if (len > TSM_TEXT_WRITE_MAX)
		len = TSM_TEXT_WRITE_MAX;
	memcpy(s, buf, len);
	s[len] = '\0';
	if (strlen(s) != len)
		return -EINVAL;
	if (len > 0 && s[len - 1] == '\n')
		s[--len] = '\0';
	if (*p == '+')
		p++;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(p, &end, 0);
	if (errno == ERANGE || v > UINT32_MAX)
		return -ERANGE;
	if (errno || *end)
		return -EINVAL;
	*ret = (unsigned int)v;
	return 0;
}

/* tsm_report_privlevel_store() */
static int privlevel_store(struct entry *e, const char *buf, size_t len)
{
	unsigned int v;
	int r;

	r = parse_kstrtouint(buf, len, &v);
	if (r < 0)
		return r;
	if (tsm.floor > v || v > TSM_PRIVLEVEL_MAX)
		return -EINVAL;
	r = advance_write_gen(e);
	if (r < 0)
		return r;
	e->privlevel = v;
	return 0;
}

/*
 * A text attribute's write as configfs hands it to ->store(): at most 4095
 * bytes, NUL-terminated (fill_write_buffer()). @s has TSM_TEXT_WRITE_MAX + 1
 * bytes; returns the length passed on.
 */
static size_t text_buffer(char *s, const char *buf, size_t len)
{
	if (len > TSM_TEXT_WRITE_MAX)
		len = TSM_TEXT_WRITE_MAX;
	memcpy(s, buf, len);
	s[len] = '\0';
	return len;
}

/*
 * tsm_report_service_provider_store() (Linux ≥ 6.11): the generation first,
 * then the string without one trailing newline (up to a NUL, kstrndup).
 */
static int service_provider_store(struct entry *e, const char *buf, size_t len)
{
	char s[TSM_TEXT_WRITE_MAX + 1], *sp;
	int r;

	len = text_buffer(s, buf, len);
	r = advance_write_gen(e);
	if (r < 0)
		return r;
	if (len > 0 && s[len - 1] == '\n')
		len--;
	sp = strndup(s, len);
	if (!sp)
		return -ENOMEM;
	free(e->service_provider);
	e->service_provider = sp;
	return 0;
}

/*
 * tsm_report_service_guid_store() (Linux ≥ 6.11): the generation advances
 * and the GUID is cleared *before* parsing, so a refused GUID (EINVAL) still
 * counts as a write. guid_parse() looks at the first 36 characters only.
 */
static int service_guid_store(struct entry *e, const char *buf, size_t len)
{
	/* guid_t byte order of the 16 hex pairs, as guid_parse() stores them */
	static const u8 order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
	char s[TSM_TEXT_WRITE_MAX + 1], hex[32];
	u8 raw[16];
	size_t n = 0;
	int r;

	text_buffer(s, buf, len);
	r = advance_write_gen(e);
	if (r < 0)
		return r;
	memset(e->service_guid, 0, sizeof(e->service_guid));
	for (size_t i = 0; i < 36; i++) {
		if (!s[i])
			return -EINVAL; /* shorter than a GUID */
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -EINVAL;
		} else {
			hex[n++] = s[i];
		}
	}
	if (snp_hex_decode(hex, sizeof(hex), raw, sizeof(raw), false) != sizeof(raw))
		return -EINVAL;
	for (size_t i = 0; i < sizeof(raw); i++)
		e->service_guid[order[i]] = raw[i];
	return 0;
}

/* tsm_report_service_manifest_version_store() (Linux ≥ 6.11) */
static int service_manifest_version_store(struct entry *e, const char *buf, size_t len)
{
	unsigned int v;
	int r;

	r = parse_kstrtouint(buf, len, &v);
	if (r < 0)
		return r;
	r = advance_write_gen(e);
	if (r < 0)
		return r;
	e->service_manifest_version = v;
	return 0;
}

/*
 * tsm_report_inblob_write(), called by configfs at the last release of a
 * file that saw a write (configfs_release_bin_file()): whatever was
 * buffered is stored, even nothing (an EFBIG write on a fresh file stores
 * an empty inblob, generation + 1, and outblob is EINVAL until the next
 * inblob). Dropped when the entry is gone by then. All of this holds in
 * every kernel with configfs-tsm (Linux ≥ 6.7); the removed-entry check
 * dates from commit b0841eefd969 (Linux 5.4).
 */
static void inblob_store(struct ofile *of)
{
	struct entry *e = of->e;

	if (!of->write_in_progress || e->dead)
		return;
	of->write_in_progress = false;
	if (advance_write_gen(e) < 0) {
		/* configfs ignores this error: only the generation tells */
		log_info("%s/inblob: write generation would wrap, write dropped", e->name);
		return;
	}
	if (of->wlen)
		memcpy(e->inblob, of->wbuf, of->wlen);
	e->inblob_len = of->wlen;
	/* --foreign-writes: somebody else wrote to the entry meanwhile */
	if (tsm.stores++ < tsm.foreign_after)
		return;
	for (u32 i = 0; i < tsm.foreign_writes; i++)
		if (advance_write_gen(e) < 0)
			break;
}

/* ---- FUSE operations ---------------------------------------------------- */

static void fill_stat(struct stat *st, mode_t mode, const struct timespec *t)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = mode;
	st->st_nlink = S_ISDIR(mode) ? 2 : 1;
	st->st_uid = 0;
	st->st_gid = 0;
	st->st_size = S_ISDIR(mode) ? 0 : 4096;
	st->st_atim = st->st_mtim = st->st_ctim = *t;
}

static int tsm_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct node n;
	int r;

	(void)fi;
	r = resolve(path, &n);
	if (r < 0)
		return r;
	switch (n.kind) {
	case NODE_ROOT:
	case NODE_REPORT:
		fill_stat(st, S_IFDIR | 0755, &tsm.start);
		return 0;
	case NODE_ENTRY:
		fill_stat(st, S_IFDIR | 0755, &n.e->ctime);
		return 0;
	case NODE_ATTR:
		fill_stat(st, S_IFREG | n.a->mode, &n.e->ctime);
		if (n.a->bin)
			st->st_size = 0;
		return 0;
	default:
		return -ENOENT;
	}
}

/* Counted only, for helper_serve(): libfuse keeps the handle itself. */
static int tsm_opendir(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	(void)fi;
	tsm.open_dirs++;
	return 0;
}

static int tsm_releasedir(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	(void)fi;
	if (tsm.open_dirs)
		tsm.open_dirs--;
	return 0;
}

static int tsm_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		       struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct node n;
	int r;

	(void)off;
	(void)fi;
	(void)flags;
	r = resolve(path, &n);
	if (r < 0)
		return r;
	if (n.kind != NODE_ROOT && n.kind != NODE_REPORT && n.kind != NODE_ENTRY)
		return n.kind == NODE_ATTR ? -ENOTDIR : -ENOENT;
	filler(buf, ".", NULL, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	if (n.kind == NODE_ROOT) {
		filler(buf, "report", NULL, 0, 0);
	} else if (n.kind == NODE_REPORT) {
		for (struct entry *e = tsm.entries; e; e = e->next)
			if (filler(buf, e->name, NULL, 0, 0))
				break;
	} else {
		for (size_t i = 0; i < SNP_ELEMENTSOF(attrs); i++)
			if (attr_visible(&attrs[i]))
				filler(buf, attrs[i].name, NULL, 0, 0);
	}
	return 0;
}

static int tsm_mkdir(const char *path, mode_t mode)
{
	struct entry *e;
	struct node n;
	int r;

	(void)mode; /* configfs items are always 0755 */
	r = resolve(path, &n);
	if (r < 0)
		return n.depth >= 3 ? -EPERM : r;
	if (n.depth != 2)
		return n.kind == NODE_NONE ? -EPERM : -EEXIST;
	if (n.kind == NODE_ENTRY)
		return -EEXIST;
	if (tsm.n_entries >= TSM_MAX_ENTRIES)
		return -ENOSPC;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->name = strdup(n.last);
	if (!e->name) {
		free(e);
		return -ENOMEM;
	}
	e->refs = 1;
	e->write_gen = tsm.initial_gen;
	e->read_gen = 0;
	clock_gettime(CLOCK_REALTIME, &e->ctime);
	e->next = tsm.entries;
	tsm.entries = e;
	tsm.n_entries++;
	return 0;
}

static int tsm_rmdir(const char *path)
{
	struct entry **pp;
	struct node n;
	int r;

	r = resolve(path, &n);
	if (r < 0)
		return r;
	switch (n.kind) {
	case NODE_ENTRY:
		break;
	case NODE_ROOT:
	case NODE_REPORT:
		return -EPERM;
	case NODE_ATTR:
		return -ENOTDIR;
	default:
		return -ENOENT;
	}
	for (pp = &tsm.entries; *pp; pp = &(*pp)->next) {
		if (*pp == n.e) {
			*pp = n.e->next;
			break;
		}
	}
	tsm.n_entries--;
	n.e->dead = true;
	entry_unref(n.e);
	return 0;
}

static int tsm_unlink(const char *path)
{
	struct node n;
	int r;

	r = resolve(path, &n);
	if (r < 0)
		return r;
	return n.kind == NODE_NONE ? -ENOENT : -EPERM;
}

static int tsm_rename(const char *from, const char *to, unsigned int flags)
{
	(void)from;
	(void)to;
	(void)flags;
	return -EPERM;
}

static int tsm_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)path;
	(void)mode;
	(void)fi;
	return -EACCES; /* configfs directories have no ->create */
}

static int tsm_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct node n;
	int r;

	(void)size;
	(void)fi;
	r = resolve(path, &n);
	if (r < 0)
		return r;
	if (n.kind != NODE_ATTR)
		return n.kind == NODE_NONE ? -ENOENT : -EISDIR;
	/* O_TRUNC on an attribute is accepted and changes nothing */
	return n.a->mode & 0200 ? 0 : -EACCES;
}

static int tsm_open(const char *path, struct fuse_file_info *fi)
{
	struct ofile *of;
	struct node n;
	int acc = fi->flags & O_ACCMODE, r;

	r = resolve(path, &n);
	if (r < 0)
		return r;
	if (n.kind != NODE_ATTR)
		return n.kind == NODE_NONE ? -ENOENT : -EISDIR;
	if ((acc == O_RDONLY || acc == O_RDWR) && !(n.a->mode & 0444))
		return -EACCES;
	if ((acc == O_WRONLY || acc == O_RDWR) && !(n.a->mode & 0200))
		return -EACCES;
	of = calloc(1, sizeof(*of));
	if (!of)
		return -ENOMEM;
	of->e = n.e;
	of->a = n.a;
	n.e->refs++;
	of->next = tsm.files;
	if (tsm.files)
		tsm.files->prev = of;
	tsm.files = of;
	fi->fh = (uint64_t)(uintptr_t)of;
	fi->direct_io = 1;
	fi->nonseekable = 0;
	return 0;
}

static int tsm_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct ofile *of = (struct ofile *)(uintptr_t)fi->fh;
	int r;

	(void)path;
	/*
	 * configfs fills the file's buffer at its first read and serves later
	 * reads from it, also after the entry was removed; only a fill of a
	 * removed entry is ENOENT. A text attribute's ->show() is called once
	 * (configfs_read_iter()), a bin attribute's read twice (bin_fill()).
	 * (Linux >= 5.4.) Reading and writing one open bin file is ETXTBSY
	 * there, but no tsm bin attribute is both readable and writable: an
	 * O_RDWR open is EACCES first.
	 */
	if (!of->filled) {
		if (of->a->bin) {
			r = bin_fill(of);
			if (r < 0 || !of->filled)
				return r;
		} else {
			if (of->e->dead)
				return -ENOENT;
			r = attr_show(of->e, of->a, &of->data, &of->len);
			if (r < 0)
				return r;
			of->filled = true;
		}
	}
	if (off < 0)
		return -EINVAL;
	if ((size_t)off >= of->len)
		return 0;
	if (size > of->len - (size_t)off)
		size = of->len - (size_t)off;
	memcpy(buf, of->data + off, size);
	return (int)size;
}

static int tsm_write(const char *path, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct ofile *of = (struct ofile *)(uintptr_t)fi->fh;
	int r;

	(void)path;
	if (off < 0)
		return -EINVAL;
	if (size > INT32_MAX)
		size = INT32_MAX;
	if (of->a->id == ATTR_INBLOB) {
		/*
		 * configfs_bin_write_iter(): buffered, bounded by cb_max_size;
		 * the file is marked written before the bound is checked, so
		 * even a refused write makes the release store the buffer. The
		 * entry's removal is not checked here (only at release).
		 * (Linux ≥ 5.4, so every configfs-tsm kernel, ≥ 6.7.)
		 */
		of->write_in_progress = true;
		if ((size_t)off > TSM_INBLOB_MAX || size > TSM_INBLOB_MAX - (size_t)off)
			return -EFBIG;
		if ((size_t)off > of->wlen) /* a hole reads as zeros */
			memset(of->wbuf + of->wlen, 0, (size_t)off - of->wlen);
		memcpy(of->wbuf + off, buf, size);
		if ((size_t)off + size > of->wlen)
			of->wlen = (size_t)off + size;
		return (int)size;
	}
	/* text attributes are stored at every write, not once removed (≥ 5.4) */
	if (of->e->dead)
		return -ENOENT;
	switch (of->a->id) {
	case ATTR_PRIVLEVEL:
		r = privlevel_store(of->e, buf, size);
		break;
	case ATTR_SERVICE_PROVIDER:
		r = service_provider_store(of->e, buf, size);
		break;
	case ATTR_SERVICE_GUID:
		r = service_guid_store(of->e, buf, size);
		break;
	case ATTR_SERVICE_MANIFEST_VERSION:
		r = service_manifest_version_store(of->e, buf, size);
		break;
	default:
		return -EACCES;
	}
	if (r < 0)
		return r;
	return (int)(size > TSM_TEXT_WRITE_MAX ? TSM_TEXT_WRITE_MAX : size);
}

static void ofile_free(struct ofile *of)
{
	if (of->prev)
		of->prev->next = of->next;
	else
		tsm.files = of->next;
	if (of->next)
		of->next->prev = of->prev;
	entry_unref(of->e);
	free(of->data);
	free(of);
}

/*
 * The last close of the open file (not of each descriptor: dup and fork
 * share it, and each close(2) of those is a FLUSH): configfs stores a bin
 * attribute here (configfs_release_bin_file(), every configfs-tsm kernel,
 * Linux ≥ 6.7).
 */
static int tsm_release(const char *path, struct fuse_file_info *fi)
{
	struct ofile *of = (struct ofile *)(uintptr_t)fi->fh;

	(void)path;
	if (of->a->id == ATTR_INBLOB)
		inblob_store(of);
	ofile_free(of);
	return 0;
}

static void *tsm_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/*
	 * RELEASE is a background request: with room in the background queue
	 * it is queued at once, before close(2) returns, so the closing
	 * process's next request comes after it.
	 */
	conn->max_background = 4096;
	conn->congestion_threshold = 3072;
	cfg->entry_timeout = 0;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 0;
	cfg->direct_io = 1;
	cfg->kernel_cache = 0;
	return NULL;
}

static const struct fuse_operations tsm_ops = {
	.init = tsm_init,
	.getattr = tsm_getattr,
	.opendir = tsm_opendir,
	.readdir = tsm_readdir,
	.releasedir = tsm_releasedir,
	.mkdir = tsm_mkdir,
	.rmdir = tsm_rmdir,
	.unlink = tsm_unlink,
	.rename = tsm_rename,
	.create = tsm_create,
	.truncate = tsm_truncate,
	.open = tsm_open,
	.read = tsm_read,
	.write = tsm_write,
	.release = tsm_release,
};

/* ---- main --------------------------------------------------------------- */

/* for helper_serve(): on its one worker, as every request handler */
static bool tsm_dirs_open(void *userdata)
{
	(void)userdata;
	return tsm.open_dirs > 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: tsm-fuse --sim SIMDIR [--vmpl N] [--floor N] [--initial-generation N]\n"
		"                [--foreign-writes N] [--foreign-after N] [--foreign-in-read] [-d]\n"
		"                MOUNTPOINT\n");
}

int main(int argc, char **argv)
{
	enum {
		ARG_SIM = 0x100,
		ARG_VMPL,
		ARG_FLOOR,
		ARG_INITIAL_GEN,
		ARG_FOREIGN_WRITES,
		ARG_FOREIGN_AFTER,
		ARG_FOREIGN_IN_READ
	};
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "sim", required_argument, NULL, ARG_SIM },
		{ "vmpl", required_argument, NULL, ARG_VMPL },
		{ "floor", required_argument, NULL, ARG_FLOOR },
		{ "initial-generation", required_argument, NULL, ARG_INITIAL_GEN },
		{ "foreign-writes", required_argument, NULL, ARG_FOREIGN_WRITES },
		{ "foreign-after", required_argument, NULL, ARG_FOREIGN_AFTER },
		{ "foreign-in-read", no_argument, NULL, ARG_FOREIGN_IN_READ },
		{ "debug", no_argument, NULL, 'd' },
		{}
	};
	const char *sim_dir = NULL, *mnt;
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct sim_open_opts opts = { .create = true, .faults_from_env = true };
	char err[SNP_ERRBUF] = "";
	struct fuse *f = NULL;
	bool debug = false, have_floor = false, have_vmpl = false;
	int c, r, ret = EXIT_FAILURE;

	snp_log_set_ident("tsm-fuse");
	while ((c = getopt_long(argc, argv, "hd", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case ARG_SIM:
			sim_dir = optarg;
			break;
		case ARG_VMPL:
			if (snp_parse_u32_max(optarg, TSM_PRIVLEVEL_MAX, &tsm.vmpl) < 0) {
				log_error("--vmpl must be 0..3, not '%s'", optarg);
				return 2;
			}
			have_vmpl = true;
			break;
		case ARG_FLOOR:
			if (snp_parse_u32_max(optarg, TSM_PRIVLEVEL_MAX, &tsm.floor) < 0) {
				log_error("--floor must be 0..3, not '%s'", optarg);
				return 2;
			}
			have_floor = true;
			break;
		case ARG_INITIAL_GEN:
			if (snp_parse_u64(optarg, &tsm.initial_gen) < 0) {
				log_error("--initial-generation: bad number '%s'", optarg);
				return 2;
			}
			break;
		case ARG_FOREIGN_WRITES:
			if (snp_parse_u32_max(optarg, 1000, &tsm.foreign_writes) < 0) {
				log_error("--foreign-writes must be 0..1000, not '%s'", optarg);
				return 2;
			}
			break;
		case ARG_FOREIGN_AFTER:
			if (snp_parse_u32_max(optarg, UINT32_MAX, &tsm.foreign_after) < 0) {
				log_error("--foreign-after: bad number '%s'", optarg);
				return 2;
			}
			break;
		case ARG_FOREIGN_IN_READ:
			tsm.foreign_in_read = true;
			break;
		case 'd':
			debug = true;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!sim_dir || optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	mnt = argv[optind];

	/*
	 * The VMPCK: --floor (sev-guest's vmpck_id), else the VMPL (Linux ≥
	 * 6.11 defaults vmpck_id to the VMPL it runs at), else SNP_SIM_VMPCK.
	 */
	r = sim_open_opts_from_env(&opts, err, sizeof(err));
	if (r < 0) {
		log_error("%s", err);
		return 2;
	}
	if (have_floor)
		opts.vmpck_id = tsm.floor;
	else if (have_vmpl)
		opts.vmpck_id = tsm.vmpl;
	tsm.floor = opts.vmpck_id;
	r = sim_platform_open(sim_dir, NULL, &opts, &tsm.sim, err, sizeof(err));
	if (r < 0) {
		log_error_errno(r, "Cannot open the simulator: %s", err);
		return EXIT_FAILURE;
	}
	clock_gettime(CLOCK_REALTIME, &tsm.start);

	if (fuse_opt_add_arg(&args, argv[0]) < 0 || fuse_opt_add_arg(&args, "-o") < 0 ||
	    fuse_opt_add_arg(&args, "fsname=tsm-fuse,subtype=tsm") < 0 ||
	    (debug && fuse_opt_add_arg(&args, "-d") < 0)) {
		log_error("Out of memory");
		goto out;
	}

	f = fuse_new(&args, &tsm_ops, sizeof(tsm_ops), NULL);
	if (!f) {
		log_error("fuse_new() failed");
		goto out;
	}
	if (fuse_mount(f, mnt) < 0) {
		log_error("Cannot mount on %s", mnt);
		goto out_destroy;
	}
	log_info("serving a configfs-tsm tree at %s/report (VMPL %u, VMPCK/floor %u)", mnt,
		 tsm.vmpl, tsm.floor);
	r = helper_serve(fuse_get_session(f), 1, tsm_dirs_open, NULL, NULL);
	if (r < 0)
		log_error_errno(r, "Serving the tree failed: %m");
	ret = r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
	fuse_unmount(f);
out_destroy:
	fuse_destroy(f);
out:
	fuse_opt_free_args(&args);
	while (tsm.files) /* still open when we were unmounted */
		ofile_free(tsm.files);
	while (tsm.entries) {
		struct entry *e = tsm.entries;

		tsm.entries = e->next;
		entry_unref(e);
	}
	sim_platform_free(tsm.sim);
	return ret;
}
