// SPDX-License-Identifier: Apache-2.0
#define FUSE_USE_VERSION 34

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <fuse_lowlevel.h>
#include <linux/fuse.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "daemon/audit.h"
#include "daemon/batch.h"
#include "daemon/eventlog.h"
#include "fs/fs.h"
#include "fs/fuse-parallel.h"
#include "http/http.h"
#include "lib/binding.h"
#include "lib/log.h"
#include "lib/util.h"

/* Fixed inodes. */
enum {
	INO_ROOT = FUSE_ROOT_ID,
	INO_REPORT,
	INO_REPORT_JSON,
	INO_NONCE_DIR,
	INO_CERTS_DIR,
	INO_PLATFORM,
	INO_MEASUREMENT,
	INO_TCB,
	INO_CHIP_ID,
	INO_POLICY,
	INO_VMPL,
	INO_KEYS_DIR,
	INO_STATUS,
	INO_LOG_DIR = 24, /* log/: the runtime event log (daemon/eventlog.c) */
	INO_LOG_EXTEND,
	INO_LOG_EVENTS,
	INO_EVIDENCE_DIR, /* evidence/<hex>: bound evidence (daemon/batch.c) */
	INO_CERT0 = 32,	  /* + enum snpd_cert */
	INO_KEY0 = 64,	  /* + key profile index */
};

#define NONCE_HEX_MAX	 SNP_NONCE_NAME_HEX_MAX
#define NONCE_INODES_MAX 8192
/*
 * Almost nothing is cached by the kernel: a reload may change any owner,
 * mode, size, certificate or key profile, and invalidating a name
 * (fuse_lowlevel_notify_inval_entry) from the loop thread deadlocks when a
 * lookup holding the directory lock waits for that same thread.
 */
#define ATTR_TIMEOUT 0.0
/*
 * Except on the path of a report or evidence (cached_ino()): without it, every
 * open("/snp/report") costs three round trips to this thread before the
 * OPEN (GETATTR of the root for the path walk, LOOKUP, GETATTR for the
 * permission check), on top of OPEN, WRITE, READ, READ and RELEASE.
 * - Their names always stand for the same inode: entries are cached.
 * - Their attributes come from the configuration alone (owner, mode; a fixed
 *   size), so only a reload changes them, and snpd_fs_reload() invalidates
 *   them with fuse_lowlevel_notify_inval_inode(), which takes no lock
 *   that a request waiting for this thread may hold (no directory lock,
 *   no page: attributes only), before the reload says READY=1.
 * - Only GETATTR replies cache them, never LOOKUP replies: a GETATTR is
 *   asked about an inode the kernel has, so an invalidation finds it and
 *   raises its attr_version, and a GETATTR reply that was on its way with
 *   the old attributes is then dropped by the kernel; a LOOKUP may create
 *   the inode after the invalidation has missed it (nothing to find yet).
 * The root, nonce/ and evidence/ keep both for longer: their mode never
 * changes (walked_dir(), DIR_TIMEOUT).
 * The names under nonce/ and evidence/ are the exception to the last
 * point: a LOOKUP reply caches their attributes too, which saves the
 * GETATTR of the permission check on every answer. Such a reply may still
 * show a mode of before a reload for up to CACHED_TIMEOUT (stat() may too),
 * but it never grants an open: fs_open() checks every open of them against
 * the configuration of now (nonce_may_read()), and snpd_fs_reload()
 * invalidates every one of them the kernel may hold.
 */
#define CACHED_TIMEOUT 1.0

/*
 * Key profiles get inodes in [INO_KEY_FIRST, INO_KEY_END), one per profile
 * name and settings, never reused: an inode (and a handle) stands for
 * exactly one profile. A reload makes at most SNPD_KEY_PROFILES_MAX new
 * ones; once all 2^31 are used (some 67 million reloads that each change
 * every profile), a new or changed profile gets none and stays out of
 * keys/ until snpd restarts (snpd_fs_reload()). The end is a hard one:
 * 32-bit stat() fails with EOVERFLOW above 2^32, and the node ids of
 * nonce and evidence names start there (is_nonce_node()), so a key inode
 * beyond it would be taken for a nonce name.
 */
#define INO_KEY_FIRST ((fuse_ino_t)1 << 31)
#define INO_KEY_END   ((fuse_ino_t)1 << 32)

/*
 * nonce/<hex>: at most NONCE_INODES_MAX names known at once, at most
 * nonce_share() of them looked up by one uid: twice its open files
 * (MaxHandlesPerUser=), since a client that closes a file and looks up its
 * next name holds two until the kernel's RELEASE comes, but at least
 * NONCE_INODES_PER_UID and at most half of them (so a uid allowed more open
 * files than that still cannot pin every name and lock the others out).
 *
 * A name has two numbers. The inode number that stat() shows (st_ino,
 * nonce_inode.ino) comes from a keyed hash of name and uid: the same name
 * gets the same number (cp and friends compare st_ino before and after
 * open) in [INO_NONCE_FIRST, INO_NONCE_END), below the key inodes and 2^32
 * (32-bit stat()), and two names live at once never share one. The FUSE
 * node id (nonce_inode.node), which the kernel names the inode by in
 * every request and in FORGET, is never given twice: INO_NONCE_NODE_FIRST
 * plus a serial number of the name's arrival and its slot (nonce_node()).
 * So a name may be forgotten here (evicted) while the kernel still holds
 * its inode: a path walk revalidates the name's dentry (entry timeout 0)
 * with a LOOKUP, whose answer names a new node id, and the kernel drops
 * the dentry for that mismatch (fuse_dentry_revalidate()) and looks the
 * name up again; a request naming the old node id itself (an open
 * descriptor's, a reopen through /proc/self/fd) finds nothing and gets
 * ESTALE; the FORGET that comes when the kernel drops it finds nothing
 * either. FORGET carries no generation, only the node id and a count: with
 * node ids reused (as the hashed numbers were once), the FORGET of an
 * evicted name's inode took the count from the name that had its number
 * then (the same name looked up again, or another one), which was then
 * freed while the kernel still held it. An evicted name costs nothing here: what the
 * kernel holds of it is a node id that no name will have again.
 */
#define NONCE_INODES_PER_UID 1024
/*
 * The names known are found by inode number through an index (open
 * addressing, linear probing, twice the table: the FUSE requests of every
 * evidence or nonce file name their inode, and a scan of the whole table
 * per request cost more than the rest of the answer).
 */
#define NONCE_INDEX_SIZE (2 * NONCE_INODES_MAX)
#define INO_NONCE_FIRST	 ((fuse_ino_t)1 << 20)
#define INO_NONCE_END	 ((fuse_ino_t)1 << 31)
/*
 * The node ids of nonce and evidence names: from 2^32 up (above the key
 * inodes, which end there: INO_KEY_END),
 * (serial << NONCE_SLOT_BITS | slot) + INO_NONCE_NODE_FIRST, so
 * the slot is found without a search and a serial is never used twice.
 */
#define NONCE_SLOT_BITS	      13
#define INO_NONCE_NODE_FIRST  ((fuse_ino_t)1 << 32)
#define NONCE_NODE_SERIAL_MAX ((UINT64_MAX - INO_NONCE_NODE_FIRST) >> NONCE_SLOT_BITS)
static_assert(NONCE_INODES_MAX == 1 << NONCE_SLOT_BITS, "a slot index fits NONCE_SLOT_BITS");
/* the three ranges are disjoint: a number never stands for two kinds of file */
static_assert(INO_NONCE_END <= INO_KEY_FIRST, "nonce st_ino below the key inodes");
static_assert(INO_KEY_END <= INO_NONCE_NODE_FIRST, "key inodes below the nonce node ids");

enum content {
	C_STATIC, /* a snapshot of the view */
	C_REPORT, /* raw report from the device */
	C_REPORT_JSON,
	C_KEY,
	C_STATUS,
	C_LOG_EXTEND, /* log/extend: one event record per write */
	C_LOG_EVENTS, /* log/events: a snapshot, JSON lines */
	C_EVIDENCE,   /* evidence/<hex>: an evidence document of a batch */
};

struct nonce_inode {
	bool used;
	bool json;
	bool evidence;	 /* evidence/<hex>, not nonce/<hex> */
	uid_t uid;	 /* who looked it up: one inode per name and uid */
	fuse_ino_t ino;	 /* st_ino: the same for the same name and uid (nonce_ino()) */
	fuse_ino_t node; /* the FUSE node id, never given twice (nonce_node()); 0: unused */
	u64 nlookup;	 /* the kernel's lookups of node not yet forgotten */
	u32 open;	 /* open handles: not evicted while > 0 */
	u64 last_used;	 /* when it joined its uid's LRU list (lru_push()) */
	bool bumped;	 /* ino is not the one nonce_ino() gives: that one was taken */
	/* in its uid's list of names no handle holds, oldest first (slot + 1, 0: none) */
	u16 lru_prev, lru_next;
	size_t len; /* bytes of nonce */
	u8 nonce[NONCE_HEX_MAX / 2];
	/*
	 * evidence/<hex>: the handle whose answer is in this inode's page
	 * cache (the kernel's size of it is that answer's), and whether one
	 * ever was (see open_may_wait())
	 */
	struct handle *stored;
	bool stored_once;
	bool cached; /* the kernel may hold a stored answer's pages (drop_cached()) */
};

/* keys/NAME: a copy of the profile, so that its inode never changes meaning */
struct key_node {
	fuse_ino_t ino;
	struct snpd_key_profile prof;
	struct timespec born; /* the reload that made it */
};

/*
 * Nonce and evidence names one uid holds (nonce_get(): its share), and
 * those of them no handle holds, least recently used first (slot + 1).
 */
struct uid_names {
	uid_t uid;
	u32 n;
	u16 lru_head, lru_tail;
};

/* Open handles of one uid */
struct uid_share {
	uid_t uid;
	u32 open;
	bool warned;
};

struct handle;

struct snpd_fs {
	struct snpd *d;
	struct fuse_session *se;
	sd_event_source *source;
	struct fuse_buf buf;
	char *mountpoint;
	bool mounted;
	struct snpd_fs_stats stats;
	struct nonce_inode nonces[NONCE_INODES_MAX];
	struct key_node keys[SNPD_KEY_PROFILES_MAX];
	size_t n_keys;
	fuse_ino_t next_key_ino;
	struct handle *handles; /* every open handle, freed at exit */
	struct uid_share *shares;
	size_t n_shares;
	size_t shares_alloc;
	u8 nonce_ino_key[32]; /* random, for nonce_ino() */
	u64 nonce_clock;
	u64 nonce_serial;		   /* the last serial number of a node id (nonce_node()) */
	u16 nonce_index[NONCE_INDEX_SIZE]; /* slot + 1 by inode number, 0: empty */
	size_t nonce_bumped;		   /* names with a bumped inode number */
	/* the unused slots (a stack) and each uid's count of used ones: a new name costs no scan */
	u16 nonce_free[NONCE_INODES_MAX];
	size_t n_nonce_free;
	struct uid_names *names;
	size_t n_names, names_alloc;
	/* the owner and mode of nonce and evidence names at mount, and whether a reload changed them */
	uid_t nonce_perm_uid;
	gid_t nonce_perm_gid;
	mode_t nonce_perm_mode;
	bool nonce_perm_changed, nonce_perm_told;
	/* the notices of refused log/extend writes, which a writer can repeat at will */
	struct snp_ratelimit log_refusals;
	/* times (fill_attr()): the mount, the last reload that changed keys/'s listing */
	struct timespec mount_time, keys_time;
};

struct pending_read {
	fuse_req_t req;
	struct handle *h;
	size_t size;
	off_t off;
	struct pending_read *next;
};

/* One open file. */
struct handle {
	struct snpd_fs *fs;
	enum content content;
	bool stream;   /* report: reads are sequential, offsets ignored */
	bool released; /* closed while the device was working */
	struct snpd_request *inflight;
	struct snpd_batch_member *member; /* evidence: in a batch, not answered */
	int error;			  /* errno of a failed request */
	bool ready;
	u8 *data;
	size_t len;
	size_t cursor; /* stream position */
	u8 report_data[SNP_REPORT_DATA_SIZE];
	size_t written;
	fuse_ino_t key_ino;
	struct snpd_key_profile key;	     /* the profile as it was at open */
	fuse_ino_t nonce_node;		     /* nonce/<hex> opened: its FUSE node id, not st_ino */
	struct snpd_eventlog_text *log_text; /* log/events: the shared rendering */
	u64 log_count;			     /* log/events: its events at open */
	struct snpd_evidence_body *evidence; /* evidence: the batch's shared pieces + own */
	struct pending_read *pending;
	uid_t uid;     /* opener, counted in its uid_share */
	gid_t key_gid; /* a key's reader, for the audit trail */
	pid_t key_pid;
	bool listed; /* in fs->handles */
	struct handle *prev, *next;
	/* evidence: the OPEN that waits for the batch, answered with the document cached */
	fuse_req_t open_req;
	struct fuse_file_info open_fi;
	bool stored; /* its document is its inode's page cache: nonce_inode.stored */
};

static void handle_link(struct handle *h)
{
	struct snpd_fs *fs = h->fs;

	h->prev = NULL;
	h->next = fs->handles;
	if (fs->handles)
		fs->handles->prev = h;
	fs->handles = h;
	h->listed = true;
}

static void handle_unlink(struct handle *h)
{
	if (!h->listed)
		return;
	if (h->prev)
		h->prev->next = h->next;
	else
		h->fs->handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	h->prev = h->next = NULL;
	h->listed = false;
}

static struct handle *handle_free(struct handle *h)
{
	if (!h)
		return NULL;
	handle_unlink(h);
	h->log_text = snpd_eventlog_text_unref(h->log_text);
	h->evidence = snpd_evidence_body_free(h->evidence);
	if (h->data) {
		OPENSSL_cleanse(h->data, h->len);
		free(h->data);
	}
	OPENSSL_cleanse(h->report_data, sizeof(h->report_data));
	free(h);
	return NULL;
}

static bool is_dir(fuse_ino_t ino)
{
	return ino == INO_ROOT || ino == INO_NONCE_DIR || ino == INO_CERTS_DIR ||
	       ino == INO_KEYS_DIR || ino == INO_LOG_DIR || ino == INO_EVIDENCE_DIR;
}

/* Whether @node is the node id of a nonce or evidence name, known here or not. */
static bool is_nonce_node(fuse_ino_t node)
{
	return node >= INO_NONCE_NODE_FIRST;
}

static size_t nonce_index_home(fuse_ino_t ino)
{
	/* Fibonacci hashing: the numbers are a keyed hash already, but cheap */
	return (size_t)(((u64)ino * 0x9E3779B97F4A7C15ULL) >> 32) & (NONCE_INDEX_SIZE - 1);
}

/* The index position of @ino, or of the empty entry where it would go. */
static size_t nonce_index_find(const struct snpd_fs *fs, fuse_ino_t ino)
{
	size_t i = nonce_index_home(ino);

	/* never full (twice the table), so this ends */
	while (fs->nonce_index[i] && fs->nonces[fs->nonce_index[i] - 1].ino != ino)
		i = (i + 1) & (NONCE_INDEX_SIZE - 1);
	return i;
}

static void nonce_index_add(struct snpd_fs *fs, const struct nonce_inode *ni)
{
	fs->nonce_index[nonce_index_find(fs, ni->ino)] = (u16)(ni - fs->nonces + 1);
}

/* Remove @ino: the entries after it in its run move back (no tombstones). */
static void nonce_index_del(struct snpd_fs *fs, fuse_ino_t ino)
{
	size_t hole = nonce_index_find(fs, ino), i = hole;

	if (!fs->nonce_index[hole])
		return;
	for (;;) {
		size_t home;

		i = (i + 1) & (NONCE_INDEX_SIZE - 1);
		if (!fs->nonce_index[i])
			break;
		home = nonce_index_home(fs->nonces[fs->nonce_index[i] - 1].ino);
		/* it may fill the hole when its home is not in (hole, i] (cyclically) */
		if (((i - home) & (NONCE_INDEX_SIZE - 1)) >=
		    ((i - hole) & (NONCE_INDEX_SIZE - 1))) {
			fs->nonce_index[hole] = fs->nonce_index[i];
			hole = i;
		}
	}
	fs->nonce_index[hole] = 0;
}

/* The nonce name whose st_ino is @ino, NULL when none has it. */
static struct nonce_inode *nonce_numbered(struct snpd_fs *fs, fuse_ino_t ino)
{
	u16 k = fs->nonce_index[nonce_index_find(fs, ino)];

	return k ? &fs->nonces[k - 1] : NULL;
}

/*
 * The nonce name that node id @node stands for, NULL when forgotten (or
 * not one). Only the name that was given @node: its slot has a new node
 * id once another name has it.
 */
static struct nonce_inode *nonce_of(struct snpd_fs *fs, fuse_ino_t node)
{
	struct nonce_inode *ni;

	if (!is_nonce_node(node))
		return NULL;
	ni = &fs->nonces[(node - INO_NONCE_NODE_FIRST) & (NONCE_INODES_MAX - 1)];
	return ni->used && ni->node == node ? ni : NULL;
}

/*
 * A node id for the name about to take slot @slot, never given before, never
 * 0 (a LOOKUP reply with node id 0 is a negative entry: the kernel would not
 * hold what snpd counts as looked up). The caller has checked that one is
 * left (nonce_get(): 2^51 names, some 70 years at a million a second).
 */
static fuse_ino_t nonce_node(struct snpd_fs *fs, size_t slot)
{
	assert(fs->nonce_serial < NONCE_NODE_SERIAL_MAX && slot < NONCE_INODES_MAX);
	return INO_NONCE_NODE_FIRST + (++fs->nonce_serial << NONCE_SLOT_BITS) + slot;
}

/* A new zeroed element at the end of a table that grows by doubling; NULL: no memory. */
static void *table_append(void **base, size_t *n, size_t *alloc, size_t size)
{
	if (*n == *alloc) {
		size_t k = *alloc ? *alloc * 2 : 16;
		void *p = reallocarray(*base, k, size);

		if (!p)
			return NULL;
		*base = p;
		*alloc = k;
	}
	return memset((char *)*base + (*n)++ * size, 0, size);
}

static struct uid_names *names_of(struct snpd_fs *fs, uid_t uid)
{
	for (size_t i = 0; i < fs->n_names; i++)
		if (fs->names[i].uid == uid)
			return &fs->names[i];
	return NULL;
}

static u32 names_count(struct snpd_fs *fs, uid_t uid)
{
	struct uid_names *u = names_of(fs, uid);

	return u ? u->n : 0;
}

static int names_add(struct snpd_fs *fs, uid_t uid)
{
	struct uid_names *u = names_of(fs, uid);

	if (!u) {
		void *base = fs->names;

		u = table_append(&base, &fs->n_names, &fs->names_alloc, sizeof(*u));
		fs->names = base;
		if (!u)
			return -ENOMEM;
		u->uid = uid;
	}
	u->n++;
	return 0;
}

static void names_sub(struct snpd_fs *fs, uid_t uid)
{
	struct uid_names *u = names_of(fs, uid);

	if (u && --u->n == 0)
		*u = fs->names[--fs->n_names];
}

/* @ni, held by no handle, is its uid's most recently used such name. */
static void lru_push(struct snpd_fs *fs, struct nonce_inode *ni)
{
	struct uid_names *u = names_of(fs, ni->uid);
	u16 k = (u16)(ni - fs->nonces + 1);

	if (!u)
		return; /* cannot be: every used name counts */
	ni->last_used = ++fs->nonce_clock;
	ni->lru_prev = u->lru_tail;
	ni->lru_next = 0;
	if (u->lru_tail)
		fs->nonces[u->lru_tail - 1].lru_next = k;
	else
		u->lru_head = k;
	u->lru_tail = k;
}

static void lru_unlink(struct snpd_fs *fs, struct nonce_inode *ni)
{
	struct uid_names *u = names_of(fs, ni->uid);

	if (!u)
		return;
	if (ni->lru_prev)
		fs->nonces[ni->lru_prev - 1].lru_next = ni->lru_next;
	else
		u->lru_head = ni->lru_next;
	if (ni->lru_next)
		fs->nonces[ni->lru_next - 1].lru_prev = ni->lru_prev;
	else
		u->lru_tail = ni->lru_prev;
	ni->lru_prev = ni->lru_next = 0;
}

/* The least recently used name of @uid that no handle holds, else NULL. */
static struct nonce_inode *lru_oldest(struct snpd_fs *fs, uid_t uid)
{
	struct uid_names *u = names_of(fs, uid);

	return u && u->lru_head ? &fs->nonces[u->lru_head - 1] : NULL;
}

/* ... of any uid: the oldest of the uids' oldest. */
static struct nonce_inode *lru_oldest_any(struct snpd_fs *fs)
{
	struct nonce_inode *best = NULL;

	for (size_t i = 0; i < fs->n_names; i++) {
		struct nonce_inode *n = lru_oldest(fs, fs->names[i].uid);

		if (n && (!best || n->last_used < best->last_used))
			best = n;
	}
	return best;
}

static void nonce_drop(struct snpd_fs *fs, struct nonce_inode *ni)
{
	nonce_index_del(fs, ni->ino);
	if (ni->bumped)
		fs->nonce_bumped--;
	if (!ni->open)
		lru_unlink(fs, ni);
	names_sub(fs, ni->uid);
	memset(ni, 0, sizeof(*ni));
	fs->nonce_free[fs->n_nonce_free++] = (u16)(ni - fs->nonces);
	fs->stats.nonce_inodes--;
}

static bool nonce_same(const struct nonce_inode *n, const struct nonce_inode *tmp, uid_t uid)
{
	return n->used && n->uid == uid && n->json == tmp->json && n->evidence == tmp->evidence &&
	       n->len == tmp->len && !memcmp(n->nonce, tmp->nonce, tmp->len);
}

/* Free @ni once the kernel has forgotten it and no handle holds it. */
static void nonce_put(struct snpd_fs *fs, struct nonce_inode *ni)
{
	if (!ni->nlookup && !ni->open)
		nonce_drop(fs, ni);
}

/*
 * No descriptor of @ni is open any more: drop what the kernel holds of a
 * stored answer (its pages; its attributes become stale) now, not at the
 * name's next lookup or at memory reclaim. Kept, the pages would pile up
 * with every name answered (some 12 KB each, over 100 MB/s at full
 * load), and pages freed at once are warm for the next answer. Safe from
 * the loop: what could hold the inode's pages locked while waiting for
 * snpd (a read, a page fault, readahead) holds a reference on an open
 * file, which snpd has released; a new opener cannot read before snpd
 * answers its OPEN.
 */
static void drop_cached(struct snpd_fs *fs, struct nonce_inode *ni)
{
	int r;

	if (!ni->cached)
		return;
	ni->cached = false;
	r = fuse_lowlevel_notify_inval_inode(fs->se, ni->node, 0, 0);
	if (r >= 0)
		fs->stats.dropped++;
	else if (r != -ENOENT) /* -ENOENT: the kernel has no such inode any more */
		log_debug("Cannot drop a stored evidence answer: %s", strerror(-r));
}

/* A release of a nonce/<hex> handle: the name may go now. */
static void nonce_unpin(struct snpd_fs *fs, struct handle *h)
{
	struct nonce_inode *ni = h->nonce_node ? nonce_of(fs, h->nonce_node) : NULL;

	h->nonce_node = 0;
	if (!ni || !ni->open)
		return;
	if (--ni->open == 0) {
		drop_cached(fs, ni);
		lru_push(fs, ni);
	}
	nonce_put(fs, ni);
}

/* The inode number (st_ino) of @tmp looked up by @uid. */
static int nonce_ino(struct snpd_fs *fs, const struct nonce_inode *tmp, uid_t uid,
		     fuse_ino_t *ret_ino)
{
	u8 msg[sizeof(u32) + 2 + sizeof(tmp->nonce)], md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	u64 v;

	memcpy(msg, &uid, sizeof(u32));
	msg[4] = (u8)(tmp->json | tmp->evidence << 1);
	msg[5] = (u8)tmp->len;
	memcpy(msg + 6, tmp->nonce, tmp->len);
	if (!HMAC(EVP_sha256(), fs->nonce_ino_key, sizeof(fs->nonce_ino_key), msg, 6 + tmp->len, md,
		  &md_len) ||
	    md_len < sizeof(v))
		return -EIO;
	memcpy(&v, md, sizeof(v));
	*ret_ino = INO_NONCE_FIRST + v % (INO_NONCE_END - INO_NONCE_FIRST);
	return 0;
}

/* How many nonce and evidence names one uid may hold (see NONCE_INODES_PER_UID). */
static size_t nonce_share(const struct snpd_fs *fs)
{
	size_t n = 2 * (size_t)fs->d->config.fs_max_handles;

	return n < NONCE_INODES_PER_UID ? NONCE_INODES_PER_UID :
	       n > NONCE_INODES_MAX / 2 ? NONCE_INODES_MAX / 2 :
					  n;
}

/*
 * The inode for nonce name @tmp looked up by @uid: the one it has, else a
 * free slot, else one taken from the least recently used name that no
 * handle holds (looked up or closed longest ago), of this uid when it has
 * its share already, else of any.
 * -EMFILE when the uid's share is all open, -ENFILE when every name is.
 */
static int nonce_get(struct snpd_fs *fs, const struct nonce_inode *tmp, uid_t uid,
		     struct nonce_inode **ret)
{
	struct nonce_inode *slot;
	size_t mine;
	bool taken, bumped = false;
	fuse_ino_t ino;
	int r;

	r = nonce_ino(fs, tmp, uid, &ino);
	if (r < 0)
		return r;
	/* known: under its number, unless some name has a bumped one (rare) */
	slot = nonce_numbered(fs, ino);
	if (!slot || !nonce_same(slot, tmp, uid)) {
		slot = NULL;
		for (size_t i = 0; fs->nonce_bumped && !slot && i < NONCE_INODES_MAX; i++)
			if (nonce_same(&fs->nonces[i], tmp, uid))
				slot = &fs->nonces[i];
	}
	if (slot) {
		slot->nlookup++;
		if (!slot->open) {
			lru_unlink(fs, slot);
			lru_push(fs, slot);
		}
		*ret = slot;
		return 0;
	}

	/* no node id left (nonce_node()): refused before anything is evicted */
	if (fs->nonce_serial >= NONCE_NODE_SERIAL_MAX)
		return -ENFILE;
	mine = names_count(fs, uid);
	if (mine >= nonce_share(fs) || !fs->n_nonce_free) {
		/* the uid has its share, or every slot is used: evict */
		slot = mine >= nonce_share(fs) ? lru_oldest(fs, uid) : lru_oldest_any(fs);
		if (!slot)
			return mine >= nonce_share(fs) ? -EMFILE : -ENFILE;
		/*
		 * Its slot is free. The kernel may still hold its node id:
		 * requests naming it get ESTALE, its FORGET finds nothing
		 * (the slot's next name has a node id of its own).
		 */
		nonce_drop(fs, slot);
	}
	r = names_add(fs, uid);
	if (r < 0)
		return r;
	slot = &fs->nonces[fs->nonce_free[--fs->n_nonce_free]];
	/* rarely (a few in 2^31): the next number no name has */
	taken = nonce_numbered(fs, ino) != NULL;
	while (taken) {
		ino = ino + 1 < INO_NONCE_END ? ino + 1 : INO_NONCE_FIRST;
		taken = nonce_numbered(fs, ino) != NULL;
		bumped = true;
	}
	*slot = *tmp;
	slot->used = true;
	slot->bumped = bumped;
	slot->uid = uid;
	slot->ino = ino;
	slot->node = nonce_node(fs, (size_t)(slot - fs->nonces));
	slot->nlookup = 1;
	lru_push(fs, slot);
	if (bumped)
		fs->nonce_bumped++;
	nonce_index_add(fs, slot);
	fs->stats.nonce_inodes++;
	*ret = slot;
	return 0;
}

/* The key node of @ino, if its profile is still configured unchanged. */
static const struct key_node *key_node_of(struct snpd_fs *fs, fuse_ino_t ino)
{
	if (ino < INO_KEY_FIRST || ino >= INO_KEY_END)
		return NULL;
	for (size_t i = 0; i < fs->n_keys; i++)
		if (fs->keys[i].ino == ino)
			return &fs->keys[i];
	return NULL;
}

/* The profile that @ino stands for, if it is still configured unchanged. */
static const struct snpd_key_profile *key_of(struct snpd_fs *fs, fuse_ino_t ino)
{
	const struct key_node *k = key_node_of(fs, ino);

	return k ? &k->prof : NULL;
}

/* Same name, same key request, same owner and mode (ApiUsers= are HTTP's business). */
static bool key_same(const struct snpd_key_profile *a, const struct snpd_key_profile *b)
{
	return !strcmp(a->name, b->name) && a->root_vmrk == b->root_vmrk &&
	       a->fields == b->fields && a->svn == b->svn && a->tcb == b->tcb &&
	       a->vmpl == b->vmpl && a->uid == b->uid && a->gid == b->gid && a->mode == b->mode;
}

/* The bytes of a static file (certs/crl.der is binary: its length from the view). */
static const char *static_blob(struct snpd_fs *fs, fuse_ino_t ino, size_t *len)
{
	const struct snpd_view *v = fs->d->view;

	if (v && ino >= INO_CERT0 && ino < INO_CERT0 + _SNPD_CERT_MAX) {
		*len = v->cert_len[ino - INO_CERT0];
		return v->certs[ino - INO_CERT0];
	}
	*len = 0;
	return NULL;
}

static const char *static_text(struct snpd_fs *fs, fuse_ino_t ino)
{
	const struct snpd_view *v = fs->d->view;
	size_t len;

	if (!v)
		return NULL;
	switch (ino) {
	case INO_PLATFORM:
		return v->platform_json;
	case INO_MEASUREMENT:
		return v->measurement;
	case INO_TCB:
		return v->tcb;
	case INO_CHIP_ID:
		return v->chip_id;
	case INO_POLICY:
		return v->policy;
	case INO_VMPL:
		return v->vmpl;
	default:
		return static_blob(fs, ino, &len);
	}
}

static size_t static_len(struct snpd_fs *fs, fuse_ino_t ino, const char *text)
{
	size_t len;

	if (static_blob(fs, ino, &len))
		return len;
	return strlen(text);
}

/* The mode of every nonce/<hex>[.json] and evidence/<hex>: ReportMode= less its write bits. */
static mode_t nonce_mode(const struct snpd_config *c)
{
	return c->report_mode & 07777 & ~0222;
}

/* The supplementary groups of a FUSE request's caller. */
struct caller_groups {
	gid_t small[64];
	gid_t *list; /* small, or allocated for more */
	size_t n;
};

/*
 * The supplementary groups of the caller of @req into @g (read from /proc
 * by libfuse); release them with caller_groups_release(). -errno when
 * they cannot be read (the caller is gone, no /proc, or another user's
 * /proc hidden from snpd: ProtectProc=invisible).
 */
static int caller_groups_get(fuse_req_t req, struct caller_groups *g)
{
	int n, r;

	g->list = g->small;
	g->n = 0;
	n = fuse_req_getgroups(req, (int)SNP_ELEMENTSOF(g->small), g->small);
	if (n < 0)
		return n;
	if ((size_t)n > SNP_ELEMENTSOF(g->small)) {
		/* bounded by the kernel's NGROUPS_MAX (65536) */
		g->list = calloc((size_t)n, sizeof(*g->list));
		if (!g->list) {
			g->list = g->small;
			return -ENOMEM;
		}
		r = fuse_req_getgroups(req, n, g->list);
		if (r < 0) {
			free(g->list);
			g->list = g->small;
			return r;
		}
		n = r < n ? r : n;
	}
	g->n = (size_t)n;
	return 0;
}

static void caller_groups_release(struct caller_groups *g)
{
	if (g->list != g->small)
		free(g->list);
	g->list = g->small;
	g->n = 0;
}

/*
 * Whether the caller of @req is in group @gid: its fsgid or one of its
 * supplementary groups. -errno when they cannot be read.
 */
static int caller_in_group(fuse_req_t req, gid_t gid)
{
	struct caller_groups g;
	int r;

	if (fuse_req_ctx(req)->gid == gid)
		return 1;
	r = caller_groups_get(req, &g);
	if (r < 0)
		return r;
	for (size_t i = 0; i < g.n && !r; i++)
		r = g.list[i] == gid;
	caller_groups_release(&g);
	return r;
}

/*
 * May the caller of @req append to the event log: its uid in LogWriters=,
 * or its fsgid or one of its supplementary groups in LogWriterGroups=, as
 * nonce/ matches Group=. Where the supplementary groups cannot be read
 * (snpd.service's ProtectProc=invisible hides other users' /proc), only
 * the fsgid counts: a refusal, never a guess.
 */
static bool caller_may_write_log(struct snpd_fs *fs, fuse_req_t req)
{
	const struct snpd_config *c = &fs->d->config;
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct caller_groups g;
	bool ok;
	int r;

	if (snpd_eventlog_may_write(c, ctx->uid, ctx->gid, NULL, 0))
		return true;
	if (c->log_writer_groups.n == 0)
		return false;
	r = caller_groups_get(req, &g);
	if (r < 0) {
		log_debug("Cannot read the groups of uid %d for log/extend: %s", (int)ctx->uid,
			  strerror(-r));
		return false;
	}
	ok = snpd_eventlog_may_write(c, ctx->uid, ctx->gid, g.list, g.n);
	caller_groups_release(&g);
	return ok;
}

/*
 * Whether every attribute of a nonce or evidence name the kernel may hold
 * is of the configuration of now: no reload changed their owner, group or
 * mode since the mount. Not a time since the reload: a LOOKUP reply
 * written before it is applied by its reader when that one runs again,
 * which the reader may put off as long as it likes (its own scheduling),
 * and its attributes are then cached from that moment.
 */
static bool nonce_attributes_current(struct snpd_fs *fs)
{
	if (!fs->nonce_perm_changed)
		return true;
	if (!fs->nonce_perm_told) {
		fs->nonce_perm_told = true;
		log_notice(
			"A reload changed ReportMode=, User= or Group=: until snpd restarts, "
			"callers whose supplementary groups cannot be read (ProtectProc=) may "
			"open nonce/ and evidence/ names only if the group and other bits agree");
	}
	return false;
}

/*
 * May the caller of @req read a nonce or evidence name under the
 * configuration of now? The rule of the kernel's default_permissions
 * (generic_permission()) applied to the owner, group and mode that
 * fill_attr() gives these names: the owner's bits for User=, else the
 * group's for members of Group=, else the others'; uid 0 reads anything
 * (CAP_DAC_OVERRIDE). The kernel checks the same on the attributes it
 * caches, which may be of before a reload (CACHED_TIMEOUT): this check
 * is what holds then, also for a descriptor reopened through
 * /proc/self/fd. When the caller's groups cannot be read (snpd.service
 * hides other users' /proc: ProtectProc=invisible, no CAP_SYS_PTRACE),
 * the kernel's check decides as long as its attributes are all of the
 * configuration of now (nonce_attributes_current()); else both the
 * group's and the others' bits must allow it.
 */
static bool nonce_may_read(struct snpd_fs *fs, fuse_req_t req)
{
	const struct snpd_config *c = &fs->d->config;
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	mode_t mode = nonce_mode(c);
	bool grp = mode & S_IRGRP, oth = mode & S_IROTH;
	int member;

	if (ctx->uid == 0)
		return true;
	if (ctx->uid == c->file_uid)
		return mode & S_IRUSR;
	if (grp == oth)
		return grp;
	member = caller_in_group(req, c->file_gid);
	if (member < 0)
		return nonce_attributes_current(fs); /* else grp != oth: one of them refuses */
	return member ? grp : oth;
}

/*
 * The size of a file whose bytes all exist: st_blocks to match (512-byte
 * units), or tar --sparse and other tools that take st_blocks < st_size
 * for holes store it as zeros.
 */
static void set_size(struct stat *st, size_t size)
{
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
}

static void set_time(struct stat *st, struct timespec t)
{
	st->st_atim = st->st_mtim = st->st_ctim = t;
}

/* The view's time of file @f, the mount's when there is no view yet. */
static struct timespec view_time(struct snpd_fs *fs, enum snpd_view_file f)
{
	return fs->d->view ? fs->d->view->mtime[f] : fs->mount_time;
}

static struct timespec time_later(struct timespec a, struct timespec b)
{
	return a.tv_sec > b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec > b.tv_nsec) ? a : b;
}

/*
 * Fill @st for @ino; false when it does not exist. Times (mtime = ctime =
 * atime): a static file's and certs/'s from the view (when its bytes last
 * changed), keys/'s from the reloads, the mount's for the rest. Not the
 * time of the request for what is made for each open (report, status,
 * nonce/, ...): as in procfs, a file's time does not move while a
 * reader holds it (tar says "file changed as we read it" when it does),
 * and for an evidence name, a time that moved would make the kernel drop
 * the answer stored in its page cache (auto_inval_data compares mtimes);
 * nor would a clock read on every LOOKUP of the evidence path.
 */
static bool fill_attr(struct snpd_fs *fs, fuse_ino_t ino, struct stat *st)
{
	const struct snpd_config *c = &fs->d->config;
	const struct key_node *k;
	struct nonce_inode *ni;
	const char *text;

	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = c->file_uid;
	st->st_gid = c->file_gid;
	st->st_nlink = 1;
	set_time(st, fs->mount_time);
	if (ino >= INO_LOG_DIR && ino <= INO_LOG_EVENTS && !fs->d->eventlog)
		return false; /* EventLog= is empty */
	if (is_dir(ino)) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		if (ino == INO_CERTS_DIR)
			set_time(st, view_time(fs, SNPD_VIEW_CERTS_DIR));
		else if (ino == INO_KEYS_DIR)
			set_time(st, fs->keys_time);
		return true;
	}
	switch (ino) {
	case INO_REPORT:
		st->st_mode = S_IFREG | (c->report_mode & 07777);
		set_size(st, SNP_REPORT_SIZE); /* as a raw nonce/ name: see there */
		return true;
	case INO_REPORT_JSON:
	case INO_STATUS:
	case INO_LOG_EVENTS:
		st->st_mode = S_IFREG | (c->file_mode & 07777);
		return true;
	case INO_LOG_EXTEND:
		/* who may append is LogWriters=, checked at open and write */
		st->st_mode = S_IFREG | 0222;
		return true;
	}
	if ((ni = nonce_of(fs, ino))) {
		st->st_ino = ni->ino; /* the name's number, not its node id */
		st->st_mode = S_IFREG | nonce_mode(c);
		/*
		 * evidence/: 0, the kernel's size of a name not yet answered;
		 * while an answer is in the page cache, its size (GETATTR and
		 * LOOKUP must not truncate it: see open_may_wait()).
		 * A raw report, like report, is always SNP_REPORT_SIZE bytes:
		 * reads are direct I/O, which no size bounds, and the page
		 * cache is never filled (fs_read()), so a size that is only
		 * ever this one is safe, and stat(), tar and file(1) see the
		 * bytes a read gives. (A read through the page cache, which
		 * splice(2) and sendfile(2) are from Linux 6.5, then fails
		 * with EIO rather than finding an empty file.) The JSON's
		 * size is not known before the device answers: 0, as in
		 * procfs.
		 */
		if (ni->stored)
			set_size(st, ni->stored->len);
		else if (!ni->evidence && !ni->json)
			set_size(st, SNP_REPORT_SIZE);
		/*
		 * Shown as unlinked (stat() says 0 links); it changes no
		 * caching. An expired dentry (entry timeout 0) is deleted at
		 * its last dput() only on virtiofs (fc->delete_stale, since
		 * 5.4): on /dev/fuse it stays unused in the dcache, holding
		 * the inode, until memory reclaim, a revalidating LOOKUP
		 * whose answer names another node id (every LOOKUP of a
		 * name evicted here does) or the unmount. Only then does
		 * the inode's last reference go, and FUSE evicts it and
		 * sends the FORGET at once whatever its nlink (drop_inode is
		 * generic_delete_inode(), inode_just_drop() from 6.18).
		 */
		st->st_nlink = 0;
		return true;
	}
	k = key_node_of(fs, ino);
	if (k) {
		st->st_mode = S_IFREG | (k->prof.mode & 07777);
		st->st_uid = k->prof.uid;
		st->st_gid = k->prof.gid;
		set_size(st, SNP_DERIVED_KEY_LEN);
		/* the profile's, or the TCB's if that changed since: it may go into the key */
		set_time(st, time_later(k->born, view_time(fs, SNPD_VIEW_TCB)));
		return true;
	}
	text = static_text(fs, ino);
	if (text) {
		static_assert(INO_VMPL - INO_PLATFORM == SNPD_VIEW_VMPL - SNPD_VIEW_PLATFORM,
			      "the static files in the view's order");
		st->st_mode = S_IFREG | (c->file_mode & 07777);
		set_size(st, static_len(fs, ino, text));
		set_time(st, view_time(fs, ino >= INO_CERT0 ?
						   SNPD_VIEW_CERT0 + (ino - INO_CERT0) :
						   SNPD_VIEW_PLATFORM + (ino - INO_PLATFORM)));
		return true;
	}
	return false;
}

/*
 * The inodes whose entries and attributes the kernel caches (CACHED_TIMEOUT,
 * DIR_TIMEOUT for the directories): the paths of a report and of evidence.
 */
static const fuse_ino_t cached_inos[] = { INO_ROOT, INO_REPORT, INO_REPORT_JSON, INO_NONCE_DIR,
					  INO_EVIDENCE_DIR };

static bool cached_ino(fuse_ino_t ino)
{
	for (size_t i = 0; i < SNP_ELEMENTSOF(cached_inos); i++)
		if (cached_inos[i] == ino)
			return true;
	return false;
}

/*
 * The root, nonce/ and evidence/: every open of a nonce or evidence name
 * walks them. Their names always stand for them, and their mode is 0555
 * whatever the configuration (the owner and group a reload may change
 * grant nothing more), so the kernel keeps their entries, and their
 * attributes from a GETATTR, for DIR_TIMEOUT; a reload invalidates the
 * attributes as before. With CACHED_TIMEOUT, every expiry made each walker
 * then on its way send its own LOOKUP or GETATTR (the kernel does not
 * merge them): with 1,000 readers, hundreds of requests once a second,
 * ahead of the readers' own.
 */
#define DIR_TIMEOUT 3600.0

static bool walked_dir(fuse_ino_t ino)
{
	return ino == INO_ROOT || ino == INO_NONCE_DIR || ino == INO_EVIDENCE_DIR;
}

static void reply_entry(struct snpd_fs *fs, fuse_req_t req, fuse_ino_t ino, double timeout)
{
	struct fuse_entry_param e = { 0 };

	if (!fill_attr(fs, ino, &e.attr)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	e.ino = ino;
	/* the name of a cached inode, never its attributes (a GETATTR's are) */
	e.attr_timeout = cached_ino(ino) ? 0 : timeout;
	e.entry_timeout = walked_dir(ino) ? DIR_TIMEOUT :
			  cached_ino(ino) ? CACHED_TIMEOUT :
					    timeout;
	fuse_reply_entry(req, &e);
}

/*
 * The root's names, for LOOKUP and READDIR. The order is READDIR's: an
 * entry's position is its index here (fs_readdir()), so new names go at
 * the end.
 */
static const struct {
	const char *name;
	fuse_ino_t ino;
} root_names[] = {
	{ "report", INO_REPORT },
	{ "report.json", INO_REPORT_JSON },
	{ "nonce", INO_NONCE_DIR },
	{ "certs", INO_CERTS_DIR },
	{ "platform.json", INO_PLATFORM },
	{ "measurement", INO_MEASUREMENT },
	{ "tcb", INO_TCB },
	{ "chip_id", INO_CHIP_ID },
	{ "policy", INO_POLICY },
	{ "vmpl", INO_VMPL },
	{ "keys", INO_KEYS_DIR },
	{ "status", INO_STATUS },
	{ "log", INO_LOG_DIR },
	{ "evidence", INO_EVIDENCE_DIR },
};

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct snpd_fs *fs = fuse_req_userdata(req);

	fs->stats.lookups++;
	if (parent == INO_ROOT) {
		for (size_t i = 0; i < SNP_ELEMENTSOF(root_names); i++)
			if (!strcmp(name, root_names[i].name)) {
				/* no reference report yet (host busy at start): say so */
				if (!fs->d->view && root_names[i].ino >= INO_PLATFORM &&
				    root_names[i].ino <= INO_VMPL) {
					fuse_reply_err(req, snpd_broker_is_dead(fs->d->broker) ?
								    ENODEV :
								    EBUSY);
					return;
				}
				reply_entry(fs, req, root_names[i].ino, ATTR_TIMEOUT);
				return;
			}
	} else if (parent == INO_LOG_DIR) {
		if (!strcmp(name, "extend") || !strcmp(name, "events")) {
			reply_entry(fs, req,
				    !strcmp(name, "extend") ? INO_LOG_EXTEND : INO_LOG_EVENTS,
				    ATTR_TIMEOUT);
			return;
		}
	} else if (parent == INO_CERTS_DIR && !fs->d->view) {
		fuse_reply_err(req, snpd_broker_is_dead(fs->d->broker) ? ENODEV : EBUSY);
		return;
	} else if (parent == INO_CERTS_DIR) {
		for (int i = 0; i < _SNPD_CERT_MAX; i++)
			if (!strcmp(name, snpd_cert_names[i]) && static_text(fs, INO_CERT0 + i)) {
				reply_entry(fs, req, INO_CERT0 + (fuse_ino_t)i, ATTR_TIMEOUT);
				return;
			}
	} else if (parent == INO_KEYS_DIR) {
		for (size_t i = 0; i < fs->n_keys; i++)
			if (!strcmp(name, fs->keys[i].prof.name)) {
				/* no caching: a reload may change the profile */
				reply_entry(fs, req, fs->keys[i].ino, 0);
				return;
			}
	} else if (parent == INO_NONCE_DIR || parent == INO_EVIDENCE_DIR) {
		struct nonce_inode tmp = { 0 }, *slot = NULL;
		struct fuse_entry_param e = { 0 };
		int r;

		/*
		 * A malformed name is EINVAL (ENAMETOOLONG when too long)
		 * rather than ENOENT so that the caller learns why.
		 */
		r = snp_nonce_name_parse(name, tmp.nonce, &tmp.len, &tmp.json);
		/* evidence is JSON: evidence/<hex> only */
		if (r >= 0 && parent == INO_EVIDENCE_DIR && tmp.json)
			r = -EINVAL;
		if (r < 0) {
			fuse_reply_err(req, -r);
			return;
		}
		tmp.evidence = parent == INO_EVIDENCE_DIR;
		r = nonce_get(fs, &tmp, fuse_req_ctx(req)->uid, &slot);
		if (r < 0) {
			fuse_reply_err(req, -r);
			return;
		}
		/*
		 * Entry timeout 0 and no invalidation of the name: that would
		 * take nonce/'s lock exclusively in the kernel, where any
		 * reader of the directory stalled while holding it shared
		 * (getdents64 into a page that never arrives) would make
		 * every lookup here, and our exit, wait behind it. The
		 * kernel's dentries are reclaimable; this daemon's share is
		 * bounded by NONCE_INODES_MAX (least recently used names go).
		 * The kernel's dentry of an evicted name is revalidated with
		 * a LOOKUP at its next path walk: a new node id, so the
		 * kernel forgets that one (FORGET, count 1), drops the
		 * dentry and looks the name up once more. Correct, and the
		 * counts agree whichever of that FORGET and LOOKUP comes
		 * first, but it costs a round trip and may take a second
		 * slot (evicting one more name of a uid at its share).
		 */
		e.ino = slot->node;
		/* a node id is never given twice: no generation tells them apart */
		e.generation = 0;
		/* attributes cached: fs_open() checks them (CACHED_TIMEOUT) */
		e.attr_timeout = CACHED_TIMEOUT;
		fill_attr(fs, slot->node, &e.attr);
		fuse_reply_entry(req, &e);
		return;
	}
	fuse_reply_err(req, ENOENT);
}

/*
 * The kernel dropped @n lookups of node id @ino. Only the name given that
 * node id counts them: an evicted name's FORGET finds none (nonce_of()).
 */
static void forget_one(struct snpd_fs *fs, fuse_ino_t ino, u64 n)
{
	struct nonce_inode *ni = nonce_of(fs, ino);

	if (!ni)
		return; /* not a nonce, or evicted already */
	ni->nlookup = n >= ni->nlookup ? 0 : ni->nlookup - n;
	nonce_put(fs, ni);
}

static void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	((struct snpd_fs *)fuse_req_userdata(req))->stats.forgets++;
	forget_one(fuse_req_userdata(req), ino, nlookup);
	fuse_reply_none(req);
}

static void fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	((struct snpd_fs *)fuse_req_userdata(req))->stats.forgets++;
	for (size_t i = 0; i < count; i++)
		forget_one(fuse_req_userdata(req), forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct snpd_fs *fs = fuse_req_userdata(req);
	struct stat st;

	fs->stats.getattrs++;
	if (!fill_attr(fs, ino, &st)) {
		/*
		 * a node id no name has here (evicted, or never given): its
		 * inode is gone. A path walk does not get here for an evicted
		 * name (its revalidating LOOKUP gets a new node id), an open
		 * descriptor of it does.
		 */
		fuse_reply_err(req, is_nonce_node(ino) ? ESTALE : ENOENT);
		return;
	}
	fuse_reply_attr(req, &st,
			walked_dir(ino)			     ? DIR_TIMEOUT :
			cached_ino(ino) || nonce_of(fs, ino) ? CACHED_TIMEOUT :
			key_of(fs, ino)			     ? 0 :
							       ATTR_TIMEOUT);
}

static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct snpd_fs *fs = fuse_req_userdata(req);
	struct stat st;

	if (!fill_attr(fs, ino, &st)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	/* O_TRUNC on report is harmless (there is nothing to truncate) */
	if ((ino == INO_REPORT || ino == INO_LOG_EXTEND) && to_set == FUSE_SET_ATTR_SIZE &&
	    attr->st_size == 0) {
		fuse_reply_attr(req, &st, ATTR_TIMEOUT);
		return;
	}
	fuse_reply_err(req, EPERM);
}

/*
 * A READDIR answer. Every entry of a directory has a position that keeps
 * its meaning whatever the listing is when the next READDIR comes (a
 * reload may add or remove keys/ and certs/ entries between two
 * getdents64() of one open directory): its d_off, where the next READDIR
 * resumes, is that position + 1. The root and log/ list fixed tables,
 * certs/ by enum snpd_cert, keys/ by inode number (never reused: a
 * changed or new profile comes after every position given out). So an
 * entry that a reload leaves alone is listed exactly once, and one it
 * adds or removes may or may not be (readdir(3)); a byte offset into a
 * listing rebuilt since pointed into another entry (EIO from the kernel
 * parsing it, or a mix of both listings).
 */
struct dirbuf {
	fuse_req_t req;
	char *p; /* the kernel's size, allocated at the first entry */
	size_t size, len;
	off_t from; /* the first position asked for */
	bool full;
	int error;
};

static void dirbuf_add(struct dirbuf *b, off_t pos, const char *name, fuse_ino_t ino)
{
	struct stat st = { .st_ino = ino, .st_mode = is_dir(ino) ? S_IFDIR : S_IFREG };
	size_t n;

	if (pos < b->from || b->full || b->error)
		return;
	if (!b->p) {
		b->p = malloc(b->size ? b->size : 1);
		if (!b->p) {
			b->error = ENOMEM;
			return;
		}
	}
	n = fuse_add_direntry(b->req, b->p + b->len, b->size - b->len, name, &st, pos + 1);
	if (n > b->size - b->len) {
		b->full = true; /* the next READDIR resumes here */
		return;
	}
	b->len += n;
}

/* keys/: the entries in inode order, each at position @first + (inode - INO_KEY_FIRST). */
static void dirbuf_add_keys(struct snpd_fs *fs, struct dirbuf *b, off_t first)
{
	fuse_ino_t last = 0;

	for (size_t n = 0; n < fs->n_keys; n++) {
		const struct key_node *k = NULL;

		/* the least inode above the last listed: at most 32 profiles */
		for (size_t i = 0; i < fs->n_keys; i++)
			if (fs->keys[i].ino > last && (!k || fs->keys[i].ino < k->ino))
				k = &fs->keys[i];
		if (!k)
			break;
		last = k->ino;
		dirbuf_add(b, first + (off_t)(k->ino - INO_KEY_FIRST), k->prof.name, k->ino);
	}
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct snpd_fs *fs = fuse_req_userdata(req);
	struct dirbuf b = { .req = req, .size = size, .from = off };

	if (!is_dir(ino)) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	dirbuf_add(&b, 0, ".", ino);
	dirbuf_add(&b, 1, "..", INO_ROOT);
	switch (ino) {
	case INO_ROOT:
		for (size_t i = 0; i < SNP_ELEMENTSOF(root_names); i++)
			if (root_names[i].ino != INO_LOG_DIR || fs->d->eventlog)
				dirbuf_add(&b, 2 + (off_t)i, root_names[i].name, root_names[i].ino);
		break;
	case INO_LOG_DIR:
		dirbuf_add(&b, 2, "extend", INO_LOG_EXTEND);
		dirbuf_add(&b, 3, "events", INO_LOG_EVENTS);
		break;
	case INO_CERTS_DIR:
		for (int i = 0; i < _SNPD_CERT_MAX; i++)
			if (static_text(fs, INO_CERT0 + i))
				dirbuf_add(&b, 2 + i, snpd_cert_names[i], INO_CERT0 + i);
		break;
	case INO_KEYS_DIR:
		dirbuf_add_keys(fs, &b, 2);
		break;
	default:
		break; /* nonce/, evidence/: names are made up by the reader */
	}
	if (b.error)
		fuse_reply_err(req, b.error);
	else
		fuse_reply_buf(req, b.p, b.len);
	free(b.p);
}

static struct uid_share *share_of(struct snpd_fs *fs, uid_t uid)
{
	for (size_t i = 0; i < fs->n_shares; i++)
		if (fs->shares[i].uid == uid)
			return &fs->shares[i];
	return NULL;
}

/*
 * Count a handle of @uid against its share: -EMFILE when the uid already
 * holds MaxHandlesPerUser=. EMFILE, like the kernel's per-user limits on
 * inotify and fanotify instances: this caller is out of handles, while
 * ENFILE would say that the whole system is (and other uids are not).
 */
static int share_take(struct snpd_fs *fs, uid_t uid)
{
	struct uid_share *s = share_of(fs, uid);

	if (!s) {
		void *base = fs->shares;

		s = table_append(&base, &fs->n_shares, &fs->shares_alloc, sizeof(*s));
		fs->shares = base;
		if (!s)
			return -ENOMEM;
		s->uid = uid;
	}
	if (s->open >= fs->d->config.fs_max_handles) {
		if (!s->warned)
			log_notice("uid %u holds %u open files in the view (MaxHandlesPerUser=); "
				   "refusing more with EMFILE",
				   (unsigned)uid, s->open);
		s->warned = true;
		return -EMFILE;
	}
	s->open++;
	return 0;
}

static void share_put(struct snpd_fs *fs, uid_t uid)
{
	struct uid_share *s = share_of(fs, uid);

	if (!s || !s->open)
		return;
	if (--s->open == 0)
		*s = fs->shares[--fs->n_shares];
}

static int start_evidence(struct handle *h, fuse_req_t req);

/* An open that was counted and linked is not answered after all. */
static void open_undo(struct handle *h)
{
	struct snpd_fs *fs = h->fs;

	fs->stats.open_files--;
	share_put(fs, h->uid);
	nonce_unpin(fs, h);
	handle_free(h);
}

/*
 * evidence/<hex> opened alone waits in its OPEN for the batch; the answer
 * goes into the inode's page cache (FUSE_NOTIFY_STORE) and the OPEN is
 * answered with keep_cache, not direct I/O. The reader's read(2)s are
 * then the kernel's: one GETATTR for the size the store changed, where
 * a direct-I/O reader costs two READs (the one that waits, the one at
 * the end). The page cache belongs to the inode, not to the descriptor,
 * and the store only ever grows the size the kernel holds, so:
 *  - only the name's only opener, and again when its answer comes (a
 *    second opener meanwhile: direct I/O for both, each its own answer);
 *  - once per inode here (stored_once): a later open of the name, of
 *    which the kernel may hold a larger size from this one, reads
 *    through direct I/O, as every open did before;
 *  - while stored, GETATTR and LOOKUP give that answer's size (any other
 *    would make the kernel truncate the cache), and a READ that fills
 *    the cache again after reclaim (it names no lock owner) is served
 *    from the stored handle; once it is released the size is 0 again,
 *    and snpd drops the kernel's copy once no descriptor of the name is
 *    open (drop_cached()).
 * Nothing else can hold the inode's pages locked while snpd stores into
 * them (that would deadlock the store): only an open descriptor reads
 * or maps, and there is none but the waiting one.
 */
static bool open_may_wait(struct snpd_fs *fs, const struct handle *h, fuse_ino_t ino)
{
	const struct nonce_inode *ni = nonce_of(fs, ino);

	return h->content == C_EVIDENCE && ni && ni->open == 1 && !ni->stored_once;
}

/* Put @h's answer into its inode's page cache. */
static bool store_answer(struct handle *h, struct nonce_inode *ni)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(h->len);
	struct iovec iov[SNPD_EVIDENCE_PIECES];
	unsigned int n;
	size_t off = 0;
	u8 *buf;
	int r;

	buf = h->len ? malloc(h->len) : NULL;
	if (!buf)
		return false;
	n = snpd_evidence_body_slice(h->evidence, 0, h->len, iov);
	for (unsigned int i = 0; i < n && off + iov[i].iov_len <= h->len; i++) {
		memcpy(buf + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	bv.buf[0].mem = buf;
	/*
	 * Drop what the kernel may still hold of the inode first: its pages
	 * and its attributes. A name evicted here and looked up again has a
	 * new node id, so a new inode in the kernel, and a name stores once
	 * (stored_once); this is a second line of defence, cheap next to the
	 * store: the store only grows the size. With the attributes invalid,
	 * the first read asks GETATTR, which gives this answer's size.
	 */
	r = off == h->len ? fuse_lowlevel_notify_inval_inode(h->fs->se, h->nonce_node, 0, 0) : -EIO;
	if (r >= 0) {
		/* a store that fails part way may leave pages: drop them too */
		ni->cached = true;
		r = fuse_lowlevel_notify_store(h->fs->se, h->nonce_node, 0, &bv, 0);
	}
	free(buf);
	if (r < 0) {
		log_debug("Cannot store evidence in the page cache: %s", strerror(-r));
		return false;
	}
	h->stored = true;
	ni->stored = h;
	ni->stored_once = true;
	h->fs->stats.stored++;
	return true;
}

static void unstore(struct handle *h)
{
	struct nonce_inode *ni = h->stored ? nonce_of(h->fs, h->nonce_node) : NULL;

	if (ni && ni->stored == h)
		ni->stored = NULL;
	h->stored = false;
}

/* The batch answered @h's waiting OPEN. */
static void answer_open(struct handle *h)
{
	struct nonce_inode *ni = nonce_of(h->fs, h->nonce_node);
	struct fuse_file_info fi = h->open_fi;
	fuse_req_t req = h->open_req;

	h->open_req = NULL;
	if (ni && ni->open == 1 && store_answer(h, ni)) {
		fi.direct_io = 0;
		fi.keep_cache = 1;
	}
	if (fuse_reply_open(req, &fi) < 0) {
		unstore(h);
		open_undo(h);
	}
}

/* The opener gave up (a signal) while its OPEN waited. */
static void on_open_interrupted(fuse_req_t req, void *data)
{
	struct handle *h = data;

	if (h->open_req != req)
		return;
	h->open_req = NULL;
	if (h->member) {
		snpd_batcher_cancel(h->fs->d->batcher, h->member);
		h->member = NULL;
	}
	open_undo(h);
	fuse_reply_err(req, EINTR);
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct snpd_fs *fs = fuse_req_userdata(req);
	uid_t uid = fuse_req_ctx(req)->uid;
	int acc = fi->flags & O_ACCMODE;
	const struct snpd_key_profile *k;
	struct nonce_inode *ni;
	struct handle *h;
	const char *text;
	int r;

	if (is_dir(ino)) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	/* only report takes writes (its REPORT_DATA); even root may not write the rest */
	if (acc != O_RDONLY && ino != INO_REPORT && ino != INO_LOG_EXTEND) {
		fuse_reply_err(req, EACCES);
		return;
	}
	/* log/extend: write only, for LogWriters= */
	if (ino == INO_LOG_EXTEND &&
	    (acc != O_WRONLY || !fs->d->eventlog || !caller_may_write_log(fs, req))) {
		fuse_reply_err(req, !fs->d->eventlog ? ENOENT : EACCES);
		return;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	h->fs = fs;
	fi->direct_io = 1;
	switch (ino) {
	case INO_REPORT:
		h->content = C_REPORT;
		h->stream = true;
		fi->nonseekable = 1;
		break;
	case INO_REPORT_JSON:
		h->content = C_REPORT_JSON;
		break;
	case INO_STATUS:
		h->content = C_STATUS;
		break;
	case INO_LOG_EXTEND:
		h->content = C_LOG_EXTEND;
		fi->nonseekable = 1;
		break;
	case INO_LOG_EVENTS: {
		char why[256];

		if (!fs->d->eventlog || !snpd_eventlog_usable(fs->d->eventlog, why, sizeof(why))) {
			handle_free(h);
			fuse_reply_err(req, fs->d->eventlog ? EIO : ENOENT);
			return;
		}
		/* a snapshot, shared with every opener of the same log state */
		h->content = C_LOG_EVENTS;
		h->log_text = snpd_eventlog_text_get(fs->d->eventlog, &h->log_count);
		if (!h->log_text) {
			handle_free(h);
			fuse_reply_err(req, ENOMEM);
			return;
		}
		h->len = snpd_eventlog_text_size(h->log_text, h->log_count);
		h->ready = true;
		break;
	}
	default:
		/*
		 * Checked here, not only by the kernel, whose copy of the mode
		 * may be of before a reload (nonce_may_read()); before ESTALE,
		 * since the mode is the same for every name.
		 */
		if (is_nonce_node(ino) && !nonce_may_read(fs, req)) {
			handle_free(h);
			fuse_reply_err(req, EACCES);
			return;
		}
		if ((ni = nonce_of(fs, ino))) {
			h->content = ni->evidence ? C_EVIDENCE :
				     ni->json	  ? C_REPORT_JSON :
						    C_REPORT;
			memcpy(h->report_data, ni->nonce, ni->len);
			h->written = ni->len;
			h->nonce_node = ino;
			if (ni->open++ == 0)
				lru_unlink(fs, ni);
		} else if ((k = key_of(fs, ino))) {
			/* bound to this profile: the kernel checked its mode and owner */
			h->content = C_KEY;
			h->key_ino = ino;
			h->key = *k;
		} else if ((text = static_text(fs, ino))) {
			/* a snapshot, so that a reload cannot tear a read */
			h->content = C_STATIC;
			h->len = static_len(fs, ino, text);
			h->data = malloc(h->len + 1);
			if (!h->data) {
				handle_free(h);
				fuse_reply_err(req, ENOMEM);
				return;
			}
			memcpy(h->data, text, h->len);
			h->ready = true;
			fi->direct_io = 0;
			fi->keep_cache = 0;
		} else {
			handle_free(h);
			fuse_reply_err(req, is_nonce_node(ino) ? ESTALE : ENOENT);
			return;
		}
	}
	r = share_take(fs, uid);
	if (r < 0) {
		nonce_unpin(fs, h);
		handle_free(h);
		fuse_reply_err(req, -r);
		return;
	}
	h->uid = uid;
	handle_link(h);
	fi->fh = (uintptr_t)h;
	fs->stats.opens++;
	fs->stats.open_files++;
	/* refused (batch full, log broken): direct I/O, the read tries again and says why */
	if (open_may_wait(fs, h, ino) && start_evidence(h, req) == 0) {
		h->open_req = req;
		h->open_fi = *fi;
		/*
		 * not at once: the kernel interrupts only a request it has
		 * handed over, and this thread reads the next one only now
		 */
		fuse_req_interrupt_func(req, on_open_interrupted, h);
		return;
	}
	if (fuse_reply_open(req, fi) < 0)
		open_undo(h);
}

/* log/events: the shared rendering as JSON lines (its separators become newlines). */
static void reply_log_events(struct handle *h, fuse_req_t req, size_t size, size_t start)
{
	char *buf = malloc(size ? size : 1);

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size = snpd_eventlog_text_lines(h->log_text, h->log_count, start, buf, size);
	fuse_reply_buf(req, buf, size);
	free(buf);
}

static void reply_read(struct handle *h, fuse_req_t req, size_t size, off_t off)
{
	size_t start;

	if (h->error) {
		fuse_reply_err(req, h->error);
		return;
	}
	/* the profile was changed or removed by a reload since open */
	if (h->content == C_KEY && !key_of(h->fs, h->key_ino)) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (h->stream) {
		start = h->cursor;
	} else {
		if (off < 0) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		start = (size_t)off;
	}
	if (start >= h->len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > h->len - start)
		size = h->len - start;
	if (h->stream)
		h->cursor += size;
	if (h->content == C_LOG_EVENTS) {
		reply_log_events(h, req, size, start);
		return;
	}
	if (h->content == C_EVIDENCE) {
		/* the chunk out of the batch's shared pieces, nothing copied here */
		struct iovec iov[SNPD_EVIDENCE_PIECES];
		unsigned int n = snpd_evidence_body_slice(h->evidence, start, size, iov);

		fuse_reply_iov(req, iov, (int)n);
		return;
	}
	fuse_reply_buf(req, (const char *)h->data + start, size);
}

static void answer_pending(struct handle *h)
{
	struct pending_read *p;

	while ((p = h->pending)) {
		h->pending = p->next;
		h->fs->stats.reads++;
		reply_read(h, p->req, p->size, p->off);
		free(p);
	}
}

static void on_request_done(struct snpd_request *r, void *userdata)
{
	struct handle *h = userdata;

	h->inflight = NULL;
	if (h->released) {
		snpd_request_free(r);
		handle_free(h);
		return;
	}
	if (r->result == -ECANCELED && !h->pending) {
		/* its readers gave up before it reached the device; a new read asks again */
		snpd_request_free(r);
		return;
	}
	if (r->result < 0) {
		h->error = snpd_errno_for_client(r->result);
		h->fs->stats.errors++;
		if (r->result != -EAGAIN)
			log_debug("Request for a FUSE reader failed: %s", strerror(h->error));
	} else if (h->content == C_REPORT) {
		h->data = malloc(SNP_REPORT_SIZE);
		if (h->data) {
			memcpy(h->data, r->report.report, SNP_REPORT_SIZE);
			h->len = SNP_REPORT_SIZE;
		}
	} else if (h->content == C_REPORT_JSON) {
		json_t *j = snpd_report_json(h->fs->d, r->report.report);

		h->data = j ? (u8 *)json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
		if (h->data) {
			h->len = strlen((char *)h->data) + 1;
			h->data[h->len - 1] = '\n';
		}
		json_decref(j);
	} else if (h->content == C_KEY) {
		h->data = malloc(SNP_DERIVED_KEY_LEN);
		if (h->data) {
			memcpy(h->data, r->key, SNP_DERIVED_KEY_LEN);
			h->len = SNP_DERIVED_KEY_LEN;
		}
	}
	if (h->content == C_KEY)
		snpd_audit_key(!h->error && h->data, "fuse", h->key.name, h->uid, h->key_gid,
			       h->key_pid,
			       h->error ? strerror(h->error) :
			       h->data	? NULL :
					  "out of memory");
	if (!h->error && !h->data)
		h->error = ENOMEM;
	h->ready = true;
	snpd_request_free(r);
	answer_pending(h);
}

/*
 * @h's batch failed with @err (positive): the call that waited for it
 * fails, and nothing of it stays on the descriptor. The waiting OPEN
 * (the name's only opener) fails itself, so the client's retry is a
 * fresh open, which joins a new batch; otherwise the waiting reads fail
 * and the next read on the descriptor joins a new batch, as after a
 * refused join (start_evidence()). A descriptor that kept the error
 * would fail every read for ever, also once the cause is gone, while
 * the same EBUSY of a refused join tells the client to read again.
 */
static void fail_evidence(struct handle *h, int err)
{
	struct pending_read *p;
	fuse_req_t req = h->open_req;

	h->fs->stats.errors++;
	if (req) {
		h->open_req = NULL;
		open_undo(h);
		fuse_reply_err(req, err);
		return;
	}
	while ((p = h->pending)) {
		h->pending = p->next;
		h->fs->stats.reads++;
		fuse_reply_err(p->req, err);
		free(p);
	}
}

static void on_evidence_done(void *userdata, int result, const char *msg,
			     const struct snpd_batch_answer *a)
{
	struct handle *h = userdata;
	int err;

	h->member = NULL;
	if (h->released) {
		handle_free(h);
		return;
	}
	if (result < 0) {
		log_debug("Evidence for a FUSE reader failed: %s", msg ? msg : strerror(-result));
		fail_evidence(h, result == -EUCLEAN ? EIO : snpd_errno_for_client(result));
		return;
	}
	/* the batch's common parts by reference (http/http.c), own part copied */
	err = snpd_evidence_body_new(h->fs->d, a, &h->evidence);
	if (err < 0) {
		fail_evidence(h, err == -EBUSY ? EBUSY : ENOMEM);
		return;
	}
	h->len = h->evidence->len;
	h->ready = true;
	if (h->open_req)
		answer_open(h);
	else
		answer_pending(h);
}

/* Join an evidence batch for @h. Returns 0 or a positive errno. */
static int start_evidence(struct handle *h, fuse_req_t req)
{
	struct snpd *d = h->fs->d;
	u32 retry_ms = 0;
	int r;

	if (!d->view || !snpd_evidence_ready(d->view))
		return snpd_broker_is_dead(d->broker) ? ENODEV : EBUSY;
	r = snpd_batcher_join(d->batcher, h->report_data, h->written, d->config.vmpl,
			      fuse_req_ctx(req)->uid, on_evidence_done, h, &h->member, &retry_ms);
	if (r == -EUCLEAN)
		return EIO; /* the event log is unusable */
	return r < 0 ? snpd_errno_for_client(r) : 0;
}

/* Start the device request that fills @h. Returns 0 or a positive errno. */
static int start_request(struct handle *h, fuse_req_t req)
{
	struct snpd *d = h->fs->d;
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct snpd_request *r;
	u32 retry_ms = 0;
	int rc;

	r = snpd_request_new(h->content == C_KEY ? SNPD_REQ_KEY : SNPD_REQ_REPORT, ctx->uid);
	if (!r)
		return ENOMEM;
	if (h->content == C_KEY) {
		const struct snpd_key_profile *k = &h->key;

		/* the profile may have changed or gone with a reload since open */
		if (!key_of(h->fs, h->key_ino)) {
			snpd_request_free(r);
			return ESTALE;
		}
		r->key_req.root_vmrk = k->root_vmrk;
		r->key_req.guest_field_select = k->fields;
		r->key_req.vmpl = k->vmpl;
		r->key_req.guest_svn = k->svn;
		r->key_req.tcb_version = k->tcb;
		h->key_gid = ctx->gid;
		h->key_pid = ctx->pid;
	} else {
		/* a raw report never passes for evidence (docs/evidence.md 5) */
		if (snp_binding_is_marked(h->report_data)) {
			snpd_request_free(r);
			return EINVAL;
		}
		memcpy(r->report_req.report_data, h->report_data, sizeof(h->report_data));
		r->report_req.vmpl = d->config.vmpl;
	}
	r->done = on_request_done;
	r->userdata = h;
	rc = snpd_broker_submit(d->broker, r, &retry_ms);
	if (rc < 0) {
		snpd_request_free(r);
		if (rc == -EAGAIN)
			log_debug("uid %u over its rate limit (retry in %u ms)", ctx->uid,
				  retry_ms);
		if (h->content == C_KEY)
			snpd_audit_key(false, "fuse", h->key.name, ctx->uid, ctx->gid, ctx->pid,
				       rc == -EAGAIN ? "rate limit" : strerror(-rc));
		return snpd_errno_for_client(rc);
	}
	h->inflight = r;
	return 0;
}

/*
 * The reader of @data gave up (a signal): answer it with EINTR, and drop
 * the device request if it is still queued and nobody else waits for it.
 */
static void on_read_interrupted(fuse_req_t req, void *data)
{
	struct pending_read *p = data, **pp;
	struct handle *h = p->h;

	for (pp = &h->pending; *pp && *pp != p; pp = &(*pp)->next)
		;
	if (!*pp)
		return;
	*pp = p->next;
	free(p);
	fuse_reply_err(req, EINTR);
	if (!h->pending && h->inflight)
		snpd_broker_cancel(h->fs->d->broker, h->inflight);
	if (!h->pending && h->member) {
		/* a new read joins the next batch */
		snpd_batcher_cancel(h->fs->d->batcher, h->member);
		h->member = NULL;
	}
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	struct pending_read *p;
	int e;

	/*
	 * What a handle other than a snapshot holds belongs to its file
	 * descriptor alone, but the page cache belongs to the inode and is
	 * shared by every opener: a mapping (even MAP_PRIVATE, which the
	 * kernel allows on direct-I/O files), readahead(2) or
	 * posix_fadvise() on one descriptor would leave its report where
	 * another descriptor's mapping reads it. A read(2) on a direct-I/O
	 * file reaches us through fuse_direct_io(), which names its lock
	 * owner (FUSE_READ_LOCKOWNER); a read that fills the page cache
	 * (fuse_read_folio, fuse_readahead) names none. Refuse those: a
	 * mapping of these files fails with SIGBUS, it never shows another
	 * descriptor's answer, and nothing here is ever cached, except
	 * the answer of an evidence name's only opener, stored into the
	 * cache on purpose (open_may_wait()): the cache is that handle's.
	 * (The kernel drops the cache when another descriptor of the name,
	 * which can only be the same uid's, maps it; if the stored one
	 * reads it back in before that mapping is touched, the mapping
	 * shows the stored answer: same name, same uid.)
	 */
	if (h->content != C_STATIC && !fi->lock_owner && !h->stored) {
		h->fs->stats.errors++;
		fuse_reply_err(req, EIO);
		return;
	}
	if (h->ready && h->content != C_STATUS) {
		h->fs->stats.reads++;
		reply_read(h, req, size, off);
		return;
	}
	if (h->content == C_STATUS) {
		if (!h->ready) {
			json_t *j = snpd_status_json(h->fs->d);

			h->data = j ? (u8 *)json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) :
				      NULL;
			json_decref(j);
			if (!h->data) {
				fuse_reply_err(req, ENOMEM);
				return;
			}
			h->len = strlen((char *)h->data) + 1;
			h->data[h->len - 1] = '\n';
			h->ready = true;
		}
		reply_read(h, req, size, off);
		return;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (!h->inflight && !h->member) {
		e = h->content == C_EVIDENCE ? start_evidence(h, req) : start_request(h, req);
		if (e) {
			free(p);
			h->fs->stats.errors++;
			fuse_reply_err(req, e);
			return;
		}
	}
	p->req = req;
	p->h = h;
	p->size = size;
	p->off = off;
	p->next = h->pending;
	h->pending = p;
	/* requests are handled one at a time: an interrupt comes after this */
	fuse_req_interrupt_func(req, on_read_interrupted, p);
}

/*
 * log/extend: each write(2) is one whole event record (docs/evidence.md
 * 4.1), stored durably before the write returns. EINVAL for a malformed
 * record, ENOSPC when the log is full, EIO when it is broken.
 */
static void fs_write_log(struct handle *h, fuse_req_t req, const char *buf, size_t size,
			 struct fuse_file_info *fi)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct snpd *d = h->fs->d;
	char err[SNP_ERRBUF];
	u64 seq;
	int r;

	if (fi->writepage) {
		fuse_reply_err(req, EIO);
		return;
	}
	/* the writer now, not only the opener (a reload may have changed LogWriters=) */
	if (!d->eventlog || !caller_may_write_log(h->fs, req)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	r = snpd_eventlog_append(d->eventlog, (const u8 *)buf, size, &seq, err, sizeof(err));
	if (r < 0) {
		char more[48] = "";
		unsigned int held;

		/* the writer sees only the errno: the reason is for the operator */
		if (snp_ratelimit_below(&h->fs->log_refusals, &held)) {
			if (held)
				snprintf(more, sizeof(more), " (%u more refusals held back)", held);
			log_notice("log/extend by uid %d refused: %s%s", (int)ctx->uid, err, more);
		}
		h->fs->stats.errors++;
		fuse_reply_err(req, r == -ENOSPC ? ENOSPC : r == -EINVAL ? EINVAL : EIO);
		return;
	}
	log_info("Event %llu appended by uid %d", (unsigned long long)seq, (int)ctx->uid);
	fuse_reply_write(req, size);
}

static void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;

	if (h->content == C_LOG_EXTEND) {
		fs_write_log(h, req, buf, size, fi);
		return;
	}
	if (h->content != C_REPORT || ino != INO_REPORT) {
		fuse_reply_err(req, EBADF);
		return;
	}
	/* REPORT_DATA is fixed once the report was asked for */
	if (h->inflight || h->ready) {
		fuse_reply_err(req, EBUSY);
		return;
	}
	/* a write back from the page cache is nobody's nonce */
	if (fi->writepage) {
		fuse_reply_err(req, EIO);
		return;
	}
	/*
	 * REPORT_DATA is the bytes written on this descriptor, in order: a
	 * stream appended at the handle's own cursor. The kernel's offset
	 * is ignored: with O_APPEND it is the inode's size, which writes on
	 * other descriptors raise, so honouring it would put zeros before
	 * this caller's nonce. At most 64 bytes in all, EFBIG beyond (like
	 * the configfs-tsm inblob); the report file is not seekable, so
	 * pwrite() never gets here.
	 */
	if (size > SNP_REPORT_DATA_SIZE - h->written) {
		fuse_reply_err(req, EFBIG);
		return;
	}
	memcpy(h->report_data + h->written, buf, size);
	h->written += size;
	fuse_reply_write(req, size);
}

static void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	struct snpd_fs *fs = fuse_req_userdata(req);
	struct pending_read *p;

	fs->stats.releases++;
	fs->stats.open_files--;
	unstore(h);
	share_put(fs, h->uid);
	nonce_unpin(fs, h);
	/* reads the kernel gave up on (interrupted readers) */
	while ((p = h->pending)) {
		h->pending = p->next;
		fuse_reply_err(p->req, EINTR);
		free(p);
	}
	if (h->member) {
		/* never answered now */
		snpd_batcher_cancel(fs->d->batcher, h->member);
		h->member = NULL;
		handle_free(h);
	} else if (h->inflight) {
		/* freed when the device answers, or at once if still queued */
		h->released = true;
		snpd_broker_cancel(fs->d->broker, h->inflight);
	} else {
		handle_free(h);
	}
	fuse_reply_err(req, 0);
}

static void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (!is_dir(ino)) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	fuse_reply_open(req, fi);
}

static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st = { .f_bsize = 4096, .f_namemax = NONCE_HEX_MAX + 5 };

	fuse_reply_statfs(req, &st);
}

/*
 * The namespace is fixed. Non-root callers get EACCES from the kernel
 * (the directories are 0555); root bypasses that, so say the same here.
 */
static void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	fuse_reply_err(req, EACCES);
}

static void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	fuse_reply_err(req, EACCES);
}

static void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, EACCES);
}

static void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, EACCES);
}

static void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	fuse_reply_err(req, EACCES);
}

static void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	fuse_reply_err(req, EACCES);
}

static void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	fuse_reply_err(req, EACCES);
}

static const struct fuse_lowlevel_ops ops = {
	.init = snpd_fuse_want_parallel, /* parallel lookups (fs/fuse-parallel.c) */
	.mknod = fs_mknod,
	.mkdir = fs_mkdir,
	.unlink = fs_unlink,
	.rmdir = fs_unlink,
	.symlink = fs_symlink,
	.rename = fs_rename,
	.link = fs_link,
	.create = fs_create,
	.lookup = fs_lookup,
	.forget = fs_forget,
	.forget_multi = fs_forget_multi,
	.getattr = fs_getattr,
	.setattr = fs_setattr,
	.open = fs_open,
	.read = fs_read,
	.write = fs_write,
	.release = fs_release,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.statfs = fs_statfs,
};

static int on_fuse_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct snpd_fs *fs = userdata;

	/* drain what is there; the fd is non-blocking */
	for (int i = 0; i < 64; i++) {
		int r = fuse_session_receive_buf(fs->se, &fs->buf);

		if (r == -EAGAIN || r == -EINTR)
			return 0;
		if (r == 0 || r == -ENODEV || fuse_session_exited(fs->se)) {
			log_notice("The FUSE view at %s was unmounted; stopping.", fs->mountpoint);
			fs->mounted = false;
			return sd_event_exit(sd_event_source_get_event(s), 0);
		}
		if (r < 0) {
			/*
			 * Returning the error would only switch this source
			 * off: snpd would stay up, ready as far as systemd
			 * knows, with every request on the mount hanging.
			 */
			log_error_errno(r, "Failed to read from /dev/fuse: %m; stopping.");
			return sd_event_exit(sd_event_source_get_event(s), r);
		}
		/* the device's answer first, if it came in meanwhile */
		snpd_broker_poll(fs->d->broker);
		fuse_session_process_buf(fs->se, &fs->buf);
	}
	return 0;
}

/*
 * A crashed daemon leaves its mount behind: every request on it fails
 * with ENOTCONN. statfs() always reaches the connection (stat() may be
 * answered from the attribute cache), so use it to tell a dead mount,
 * which is detached, from a live one, which is refused.
 */
#define FUSE_SUPER_MAGIC 0x65735546

static int clear_stale_mount(const char *mp)
{
	struct statfs sfs;
	struct stat st;

	for (int i = 0; i < 8; i++) {
		if (statfs(mp, &sfs) == 0) {
			if (sfs.f_type == FUSE_SUPER_MAGIC)
				return log_error_errno(EBUSY,
						       "%s is already a live FUSE mount (another "
						       "snpd?); refusing to mount over it",
						       mp);
			break;
		}
		if (errno == ENOENT) {
			if (mkdir(mp, 0755) < 0 && errno != EEXIST)
				return log_error_errno(errno, "Failed to create %s: %m", mp);
			continue;
		}
		if (errno != ENOTCONN && errno != ECONNABORTED)
			return log_error_errno(errno, "Cannot use mountpoint %s: %m", mp);
		log_notice("Clearing a stale mount at %s left by an earlier instance", mp);
		if (umount2(mp, MNT_DETACH) < 0)
			return log_error_errno(errno, "Failed to clear the stale mount at %s: %m",
					       mp);
	}
	if (stat(mp, &st) < 0)
		return log_error_errno(errno, "Cannot use mountpoint %s: %m", mp);
	if (!S_ISDIR(st.st_mode))
		return log_error_errno(ENOTDIR, "Mountpoint %s is not a directory", mp);
	return 0;
}

int snpd_fs_clear_stale_mount(const char *mp)
{
	return clear_stale_mount(mp);
}

int snpd_fs_new(struct snpd *d, struct snpd_fs **ret)
{
	char opts[256], fdpath[32];
	char *argv[] = { (char *)"snpd", (char *)"-o", opts, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	struct snpd_fs *fs;
	int r, fd;

	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	fs->d = d;
	fs->next_key_ino = INO_KEY_FIRST;
	if (clock_gettime(CLOCK_REALTIME, &fs->mount_time) < 0)
		fs->mount_time = (struct timespec){ 0 };
	fs->keys_time = fs->mount_time;
	fs->log_refusals = SNP_RATELIMIT(10 * 1000000ULL, 10);
	/* slot 0 first */
	for (size_t i = 0; i < NONCE_INODES_MAX; i++)
		fs->nonce_free[i] = (u16)(NONCE_INODES_MAX - 1 - i);
	fs->n_nonce_free = NONCE_INODES_MAX;
	snpd_fs_reload(fs);
	if (getrandom(fs->nonce_ino_key, sizeof(fs->nonce_ino_key), 0) !=
	    sizeof(fs->nonce_ino_key)) {
		r = log_error_errno(errno, "Failed to get random bytes: %m");
		goto fail;
	}
	fs->mountpoint = strdup(d->config.mountpoint);
	if (!fs->mountpoint) {
		r = -ENOMEM;
		goto fail;
	}
	if (d->fuse_fd < 0) {
		r = clear_stale_mount(fs->mountpoint);
		if (r < 0)
			goto fail;
	}
	snprintf(opts, sizeof(opts), "fsname=snpd,subtype=snpd,default_permissions%s",
		 d->config.allow_other ? ",allow_other" : "");
	fs->se = fuse_session_new(&args, &ops, sizeof(ops), fs);
	fuse_opt_free_args(&args); /* libfuse may have added its own */
	if (!fs->se) {
		r = log_error_errno(EINVAL, "Failed to create the FUSE session");
		goto fail;
	}
	if (d->fuse_fd >= 0) {
		/*
		 * Mounted by snpd-mount, outside this process's namespace: libfuse
		 * takes the connection as "/dev/fd/N" (and closes it at the end),
		 * the unmount is snpd-mount's.
		 */
		snprintf(fdpath, sizeof(fdpath), "/dev/fd/%d", d->fuse_fd);
		if (fuse_session_mount(fs->se, fdpath) != 0) {
			r = log_error_errno(EIO, "Failed to take the FUSE connection passed for %s",
					    fs->mountpoint);
			goto fail;
		}
		d->fuse_fd = -1;
	} else {
		if (fuse_session_mount(fs->se, fs->mountpoint) != 0) {
			r = log_error_errno(EIO, "Failed to mount the FUSE view at %s",
					    fs->mountpoint);
			goto fail;
		}
		fs->mounted = true;
	}
	fd = fuse_session_fd(fs->se);
	r = snpd_fuse_parallel_io(fs->se, fd);
	if (r < 0)
		log_notice("FUSE: cannot ask for parallel lookups (%s): lookups in a directory go "
			   "one at a time",
			   strerror(-r));
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		r = log_error_errno(errno, "Failed to set up the FUSE fd: %m");
		goto fail;
	}
	r = sd_event_add_io(d->event, &fs->source, fd, EPOLLIN, on_fuse_io, fs);
	if (r < 0) {
		log_error_errno(r, "Failed to watch the FUSE fd: %m");
		goto fail;
	}
	log_info("FUSE view %s %s",
		 fs->mounted ? "mounted at" : "passed by the service manager for", fs->mountpoint);
	*ret = fs;
	return 0;
fail:
	snpd_fs_free(fs);
	return r;
}

struct snpd_fs *snpd_fs_free(struct snpd_fs *fs)
{
	if (!fs)
		return NULL;
	fs->source = sd_event_source_disable_unref(fs->source);
	/*
	 * Handles the kernel never released. main() frees the broker first,
	 * which completes every request (-ECANCELED) and so every parked read.
	 */
	while (fs->handles) {
		struct handle *h = fs->handles;
		struct pending_read *p;

		handle_unlink(h);
		if (h->inflight) {
			/* still the broker's: it will call on_request_done() */
			log_debug("A FUSE handle with a request in flight at exit");
			continue;
		}
		while ((p = h->pending)) {
			h->pending = p->next;
			fuse_reply_err(p->req, EINTR);
			free(p);
		}
		if (h->open_req)
			fuse_reply_err(h->open_req, EINTR);
		handle_free(h);
	}
	free(fs->shares);
	if (fs->se) {
		if (fs->mounted) {
			fuse_session_unmount(fs->se);
			log_info("FUSE view at %s unmounted", fs->mountpoint);
		}
		fuse_session_destroy(fs->se);
	}
	free(fs->buf.mem);
	OPENSSL_cleanse(fs->nonce_ino_key, sizeof(fs->nonce_ino_key));
	free(fs->names);
	free(fs->mountpoint);
	free(fs);
	return NULL;
}

void snpd_fs_reload(struct snpd_fs *fs)
{
	const struct snpd_config *c = &fs->d->config;
	struct key_node next[SNPD_KEY_PROFILES_MAX];
	bool listing_changed = c->n_keys != fs->n_keys;
	struct timespec now;
	size_t n = 0;

	if (clock_gettime(CLOCK_REALTIME, &now) < 0)
		now = fs->mount_time;
	for (size_t i = 0; i < c->n_keys; i++) {
		next[i] = (struct key_node){ .prof = c->keys[i], .born = now };
		for (size_t j = 0; j < fs->n_keys; j++)
			if (key_same(&fs->keys[j].prof, &c->keys[i])) {
				next[i].ino = fs->keys[j].ino;
				next[i].born = fs->keys[j].born;
				break;
			}
		if (next[i].ino) {
			next[n++] = next[i];
		} else if (fs->next_key_ino < INO_KEY_END) {
			next[i].ino = fs->next_key_ino++;
			next[n++] = next[i];
			listing_changed = true; /* a new name, or a name on a new inode */
		} else {
			/*
			 * No inode left that was never some other profile's: left
			 * out rather than served under an inode whose handles
			 * stand for another one, or taken for a nonce name's node
			 * id (INO_KEY_END).
			 */
			log_error("Key profile %s is not in keys/: the %llu key inodes of this "
				  "mount are used up by reloads; restart snpd to list it",
				  c->keys[i].name,
				  (unsigned long long)(INO_KEY_END - INO_KEY_FIRST));
			listing_changed = true;
		}
	}
	if (listing_changed)
		fs->keys_time = now;
	memcpy(fs->keys, next, n * sizeof(next[0]));
	fs->n_keys = n;

	/*
	 * nonce_attributes_current(): for good, as A, B, A may leave B cached.
	 * The first call comes before the mount (no session yet).
	 */
	if (fs->se && (fs->nonce_perm_uid != c->file_uid || fs->nonce_perm_gid != c->file_gid ||
		       fs->nonce_perm_mode != nonce_mode(c)))
		fs->nonce_perm_changed = true;
	fs->nonce_perm_uid = c->file_uid;
	fs->nonce_perm_gid = c->file_gid;
	fs->nonce_perm_mode = nonce_mode(c);

	/*
	 * Owners and modes may have changed: the kernel asks again for the
	 * attributes it caches (CACHED_TIMEOUT, DIR_TIMEOUT). -ENOENT: none such.
	 */
	for (size_t i = 0; fs->se && i < SNP_ELEMENTSOF(cached_inos); i++) {
		int r = fuse_lowlevel_notify_inval_inode(fs->se, cached_inos[i], -1, 0);

		if (r < 0 && r != -ENOENT)
			log_warning_errno(r, "Cannot invalidate the attributes of inode %llu: %m",
					  (unsigned long long)cached_inos[i]);
	}
	/*
	 * And those of every nonce and evidence name known here (LOOKUP
	 * replies cache them). An evicted name the kernel may still hold
	 * keeps its old attributes for at most CACHED_TIMEOUT, and so may a
	 * LOOKUP answered before the reload and applied after this: the
	 * kernel may show them, fs_open() does not go by them.
	 */
	for (size_t i = 0; fs->se && i < NONCE_INODES_MAX; i++) {
		int r;

		if (!fs->nonces[i].used)
			continue;
		r = fuse_lowlevel_notify_inval_inode(fs->se, fs->nonces[i].node, -1, 0);
		if (r < 0 && r != -ENOENT) {
			log_warning_errno(r, "Cannot invalidate the attributes of node id %llu: %m",
					  (unsigned long long)fs->nonces[i].node);
			break;
		}
	}
}

void snpd_fs_get_stats(const struct snpd_fs *fs, struct snpd_fs_stats *ret)
{
	*ret = fs->stats;
}
