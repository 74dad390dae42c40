// SPDX-License-Identifier: Apache-2.0
/*
 * tsm-fuse: a FUSE file system that serves a Linux configfs-tsm report tree
 * (snp-abi.md §5) backed by the simulated platform, so that the tsm backend
 * runs its real file operations in tests.
 *
 *   tsm-fuse --sim SIMDIR [--floor N] [--initial-generation N]
 *            [--foreign-writes N] [-d] MOUNTPOINT
 *
 * MOUNTPOINT/report/ accepts mkdir NAME (and only there; elsewhere EPERM);
 * each entry has the sev_guest provider's attributes:
 *
 *   inblob           0200 bin   at most 64 bytes (more: EFBIG); stored when
 *                               the writer closes, as configfs does, and a
 *                               failure then is not reported (configfs
 *                               ignores the result of a bin attribute's
 *                               store at release)
 *   outblob,auxblob  0444 bin   generated on read when the read generation
 *                               differs from the write generation, then
 *                               cached; EINVAL before inblob was written or
 *                               when it is not exactly 64 bytes; firmware
 *                               errors as the guest driver maps them
 *                               (EINVAL, ENXIO, ENOTTY)
 *   provider         0444       "sev_guest\n"
 *   generation       0444       write generation, "%llu\n"
 *   privlevel        0200       0..3 and not below the floor, else EINVAL
 *   privlevel_floor  0444       --floor N (default 0)
 *
 * Every successful attribute write advances the write generation; a write
 * that would make it wrap around to the read generation fails with EBUSY
 * until the blobs are read. --initial-generation N starts new entries at
 * write generation N (read generation 0), so that the wrap is testable;
 * --foreign-writes N counts N more writes after every inblob store, as if
 * another process had written to the entry (the tsm backend must notice).
 *
 * Serves in the foreground, single-threaded, until SIGTERM/SIGINT, then
 * unmounts. The reports come from snp_backend_open("sim:SIMDIR") with
 * certificates; auxblob is the certificate table cut to its used length.
 */
#define FUSE_USE_VERSION 31

#include <errno.h>
#include <fuse.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/backend.h"
#include "lib/cert-table.h"
#include "lib/log.h"
#include "lib/util.h"

#define TSM_INBLOB_MAX	   64
#define TSM_OUTBLOB_MAX	   (32 * 1024)
#define TSM_PRIVLEVEL_MAX  3
#define TSM_TEXT_WRITE_MAX 4095 /* configfs: PAGE_SIZE - 1 */
#define TSM_MAX_ENTRIES	   4096

enum attr_id {
	ATTR_INBLOB,
	ATTR_OUTBLOB,
	ATTR_AUXBLOB,
	ATTR_PROVIDER,
	ATTR_GENERATION,
	ATTR_PRIVLEVEL,
	ATTR_PRIVLEVEL_FLOOR,
};

static const struct attr {
	const char *name;
	enum attr_id id;
	mode_t mode;
	bool bin;
} attrs[] = {
	{ "inblob", ATTR_INBLOB, 0200, true },
	{ "outblob", ATTR_OUTBLOB, 0444, true },
	{ "auxblob", ATTR_AUXBLOB, 0444, true },
	{ "provider", ATTR_PROVIDER, 0444, false },
	{ "generation", ATTR_GENERATION, 0444, false },
	{ "privlevel", ATTR_PRIVLEVEL, 0200, false },
	{ "privlevel_floor", ATTR_PRIVLEVEL_FLOOR, 0444, false },
};

struct entry {
	struct entry *next;
	char *name;
	unsigned int refs; /* the directory itself + open files */
	bool dead;	   /* removed; open files see ENOENT */
	struct timespec ctime;
	u64 write_gen, read_gen;
	u8 inblob[TSM_INBLOB_MAX];
	size_t inblob_len;
	u32 privlevel;
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
	u8 wbuf[TSM_INBLOB_MAX]; /* inblob: written bytes, stored at close */
	size_t wlen;
	bool dirty;
};

static struct {
	struct snp_backend *sim;
	struct entry *entries;
	size_t n_entries;
	struct ofile *files;
	u32 floor;
	u64 initial_gen;
	u32 foreign_writes;
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

static const struct attr *attr_find(const char *name)
{
	for (size_t i = 0; i < SNP_ELEMENTSOF(attrs); i++)
		if (strcmp(attrs[i].name, name) == 0)
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

/* What sev_report_new() does, over the simulator. */
static int generate_report(struct entry *e)
{
	struct snp_backend_report_req req = { 0 };
	struct snp_backend_report rep = { 0 };
	struct snp_backend_error err;
	u8 *out = NULL, *aux = NULL;
	size_t aux_len = 0;
	int r;

	if (e->inblob_len != SNP_REPORT_DATA_SIZE)
		return -EINVAL;
	memcpy(req.report_data, e->inblob, SNP_REPORT_DATA_SIZE);
	req.vmpl = e->privlevel;
	req.want_certs = true;
	r = snp_backend_get_report(tsm.sim, &req, &rep, &err);
	if (r < 0) {
		log_info("report request failed: %s (status 0x%x, fw 0x%x, vmm %u)", strerror(-r),
			 err.status, err.fw_error, err.vmm_error);
		return r;
	}
	if (rep.certs) {
		struct snp_cert_table *t = malloc(sizeof(*t));
		char msg[SNP_ERRBUF];

		if (!t) {
			r = -ENOMEM;
			goto out;
		}
		r = snp_cert_table_parse(rep.certs, rep.certs_len, t, msg, sizeof(msg));
		aux_len = t->used_len;
		free(t);
		if (r < 0) {
			log_info("the simulator's certificate table is bad: %s", msg);
			r = -EIO;
			goto out;
		}
		if (aux_len > 0) {
			aux = malloc(aux_len);
			if (!aux) {
				r = -ENOMEM;
				goto out;
			}
			memcpy(aux, rep.certs, aux_len);
		}
	}
	out = malloc(SNP_REPORT_SIZE);
	if (!out) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(out, rep.report, SNP_REPORT_SIZE);
	free(e->outblob);
	free(e->auxblob);
	e->outblob = out;
	e->outblob_len = SNP_REPORT_SIZE;
	e->auxblob = aux;
	e->auxblob_len = aux ? aux_len : 0;
	out = aux = NULL;
	r = 0;
out:
	free(out);
	free(aux);
	snp_backend_report_release(&rep);
	return r;
}

/* tsm_report_read(): the cached blob, regenerated when a write came since. */
static int blob_get(struct entry *e, enum attr_id id, const u8 **ret, size_t *ret_len)
{
	int r;

	if (!e->inblob_len)
		return -EINVAL;
	if (!e->have_report || e->read_gen != e->write_gen) {
		e->have_report = false;
		r = generate_report(e);
		if (r < 0)
			return r;
		e->have_report = true;
		e->read_gen = e->write_gen;
	}
	if (id == ATTR_OUTBLOB) {
		*ret = e->outblob;
		*ret_len = e->outblob_len;
	} else {
		*ret = e->auxblob;
		*ret_len = e->auxblob_len;
	}
	if (*ret_len > TSM_OUTBLOB_MAX)
		return -EFBIG;
	return 0;
}

/* The content of a readable attribute, newly allocated. */
static int attr_show(struct entry *e, const struct attr *a, u8 **ret, size_t *ret_len)
{
	char text[64];
	const u8 *src;
	size_t len;
	int r;

	switch (a->id) {
	case ATTR_OUTBLOB:
	case ATTR_AUXBLOB:
		r = blob_get(e, a->id, &src, &len);
		if (r < 0)
			return r;
		break;
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

/* tsm_report_inblob_write(), called when the writer closes. */
static void inblob_store(struct ofile *of)
{
	struct entry *e = of->e;

	if (!of->dirty || e->dead)
		return;
	of->dirty = false;
	if (advance_write_gen(e) < 0) {
		/* configfs ignores this error: only the generation tells */
		log_info("%s/inblob: write generation would wrap, write dropped", e->name);
		return;
	}
	memcpy(e->inblob, of->wbuf, of->wlen);
	e->inblob_len = of->wlen;
	/* --foreign-writes: somebody else wrote to the entry meanwhile */
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
	if (of->e->dead)
		return -ENOENT;
	if (!of->filled) {
		r = attr_show(of->e, of->a, &of->data, &of->len);
		if (r < 0)
			return r;
		of->filled = true;
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
	if (of->e->dead)
		return -ENOENT;
	if (off < 0)
		return -EINVAL;
	if (size > INT32_MAX)
		size = INT32_MAX;
	switch (of->a->id) {
	case ATTR_INBLOB:
		/* configfs_bin_write_iter(): buffered, bounded by cb_max_size */
		if ((size_t)off > TSM_INBLOB_MAX || size > TSM_INBLOB_MAX - (size_t)off)
			return -EFBIG;
		memcpy(of->wbuf + off, buf, size);
		if ((size_t)off + size > of->wlen)
			of->wlen = (size_t)off + size;
		of->dirty = true;
		return (int)size;
	case ATTR_PRIVLEVEL:
		/* text attributes are stored at every write */
		r = privlevel_store(of->e, buf, size);
		return r < 0 ? r : (int)size;
	default:
		return -EACCES;
	}
}

/*
 * configfs stores a bin attribute at the last release; FUSE sends RELEASE
 * asynchronously (close(2) does not wait for it), FLUSH synchronously, so
 * the store happens at flush to keep close-then-read ordered.
 */
static int tsm_flush(const char *path, struct fuse_file_info *fi)
{
	struct ofile *of = (struct ofile *)(uintptr_t)fi->fh;

	(void)path;
	if (of->a->id == ATTR_INBLOB)
		inblob_store(of);
	return 0;
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
	(void)conn;
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
	.readdir = tsm_readdir,
	.mkdir = tsm_mkdir,
	.rmdir = tsm_rmdir,
	.unlink = tsm_unlink,
	.rename = tsm_rename,
	.create = tsm_create,
	.truncate = tsm_truncate,
	.open = tsm_open,
	.read = tsm_read,
	.write = tsm_write,
	.flush = tsm_flush,
	.release = tsm_release,
};

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "Usage: tsm-fuse --sim SIMDIR [--floor N] [--initial-generation N]\n"
		   "                [--foreign-writes N] [-d] MOUNTPOINT\n");
}

int main(int argc, char **argv)
{
	enum { ARG_SIM = 0x100, ARG_FLOOR, ARG_INITIAL_GEN, ARG_FOREIGN_WRITES };
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "sim", required_argument, NULL, ARG_SIM },
		{ "floor", required_argument, NULL, ARG_FLOOR },
		{ "initial-generation", required_argument, NULL, ARG_INITIAL_GEN },
		{ "foreign-writes", required_argument, NULL, ARG_FOREIGN_WRITES },
		{ "debug", no_argument, NULL, 'd' },
		{}
	};
	const char *sim_dir = NULL, *mnt;
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	char err[SNP_ERRBUF] = "", *spec = NULL;
	struct fuse *f = NULL;
	bool debug = false;
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
		case ARG_FLOOR:
			if (snp_parse_u32_max(optarg, TSM_PRIVLEVEL_MAX, &tsm.floor) < 0) {
				log_error("--floor must be 0..3, not '%s'", optarg);
				return 2;
			}
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

	if (asprintf(&spec, "sim:%s", sim_dir) < 0)
		return EXIT_FAILURE;
	r = snp_backend_open(spec, &tsm.sim, err, sizeof(err));
	free(spec);
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
	if (fuse_set_signal_handlers(fuse_get_session(f)) < 0) {
		log_error("Cannot install signal handlers");
		goto out_unmount;
	}
	log_info("serving a configfs-tsm tree at %s/report (floor %u)", mnt, tsm.floor);
	r = fuse_loop(f);
	fuse_remove_signal_handlers(fuse_get_session(f));
	ret = r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
out_unmount:
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
	snp_backend_free(tsm.sim);
	return ret;
}
