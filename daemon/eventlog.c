// SPDX-License-Identifier: Apache-2.0
/*
 * The runtime event log's file: "SNPDEVL1" || boot id (16) || frames of
 * u16be len || record || head after it (48). Appends go to the end at the
 * size we know and are fdatasync()ed before the writer is answered; a new
 * or reset file is made whole without a name (O_TMPFILE), then linked to
 * the path, and the directory is synced.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/eventlog.h"
#include "lib/binding.h"
#include "lib/log.h"
#include "lib/util.h"

#define HEADER_LEN   (8 + SNPD_BOOT_ID_LEN)
#define FRAME_MAX    (2 + SNP_EVENT_RECORD_MAX + SNP_HASH_SIZE)
#define BOOT_ID_FILE "/proc/sys/kernel/random/boot_id"
#define NSEC_PER_SEC 1000000000LL

struct entry {
	u8 len;
	u8 record[SNP_EVENT_RECORD_MAX];
	u8 head[SNP_HASH_SIZE]; /* after this event */
};

struct snpd_eventlog {
	char *path;
	int fd;
	u8 boot_id[SNPD_BOOT_ID_LEN];
	u32 max;
	struct entry *ev;
	size_t n, alloc;
	u8 head[SNP_HASH_SIZE];
	off_t size; /* of the file up to the last good frame */
	bool broken;
	char reason[256];
	u64 appended, refused;
	struct snp_ratelimit write_failures; /* their warnings */
	u64 rendered; /* events rendered to JSON, for status: each once, into text */
	struct snpd_eventlog_text *text; /* rendering of this state, or NULL */
};

static void put_be16(u8 *p, u16 v)
{
	p[0] = (u8)(v >> 8);
	p[1] = (u8)v;
}

static int parse_boot_id(const char *s, u8 ret[SNPD_BOOT_ID_LEN])
{
	char hex[33];
	size_t n = 0;

	for (const char *c = s; *c && *c != '\n'; c++) {
		if (*c == '-')
			continue;
		if (n == 32)
			return -EINVAL;
		hex[n++] = *c;
	}
	if (n != 32 || snp_hex_decode(hex, n, ret, SNPD_BOOT_ID_LEN, false) != SNPD_BOOT_ID_LEN)
		return -EINVAL;
	return 0;
}

/*
 * The kernel's boot id; under snpd.service's ProcSubset=pid /proc/sys is
 * not there, and the unit passes the same id in $SNPD_BOOT_ID (systemd's
 * %b specifier). Sets *ret_src to where it came from.
 */
static int read_boot_id(u8 ret[SNPD_BOOT_ID_LEN], const char **ret_src)
{
	const char *env;
	char buf[64];
	ssize_t k;
	int fd, r;

	fd = open(BOOT_ID_FILE, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		env = getenv("SNPD_BOOT_ID");
		if ((r == -ENOENT || r == -EACCES) && env && *env) {
			*ret_src = "$SNPD_BOOT_ID";
			return parse_boot_id(env, ret);
		}
		*ret_src = BOOT_ID_FILE;
		return r;
	}
	*ret_src = BOOT_ID_FILE;
	k = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (k < 0)
		return -errno;
	buf[k] = '\0';
	return parse_boot_id(buf, ret);
}

/*
 * When this boot began, in CLOCK_REALTIME nanoseconds (what file times
 * are): now less the time since boot, suspend included. /proc/stat's
 * btime says the same, but ProcSubset=pid hides it.
 */
static int boot_began_ns(s64 *ret)
{
	struct timespec up, now;

	if (clock_gettime(CLOCK_BOOTTIME, &up) < 0 || clock_gettime(CLOCK_REALTIME, &now) < 0)
		return -errno;
	*ret = ((s64)now.tv_sec - up.tv_sec) * NSEC_PER_SEC + (now.tv_nsec - up.tv_nsec);
	return 0;
}

/*
 * What the operator can do about a broken log, said with the reason. None
 * of it loses events: a damaged file is moved aside, not removed, and a
 * file another snpd holds is that snpd's live log.
 */
#define FIX_DAMAGED                                                                                \
	"to go on, move the file aside (keep it: it holds the events) and restart snpd, "          \
	"which then starts a new, empty log"
#define FIX_IN_USE                                                                                 \
	"stop the other snpd that has it open, or give this one its own EventLog=; then "          \
	"restart this one"
#define FIX_BOOT_ID                                                                                \
	"let snpd read /proc/sys/kernel/random/boot_id or set $SNPD_BOOT_ID to the boot id "       \
	"(snpd.service sets it to %b), then restart snpd"
#define FIX_OWNER                                                                                  \
	"if it is snpd's log, give it to snpd's user with mode 0600, else move it aside; "         \
	"then restart snpd"
#define FIX_CAUSE   "correct the cause, then restart snpd"
#define FIX_RESTART "restart snpd, which checks the stored log again"

static void set_broken(struct snpd_eventlog *log, const char *fix, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_broken(struct snpd_eventlog *log, const char *fix, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(log->reason, sizeof(log->reason), fmt, ap);
	va_end(ap);
	log->broken = true;
	if (log->fd >= 0) {
		close(log->fd);
		log->fd = -1;
	}
	log_error("Event log %s is unusable: %s; log appends and evidence are refused; %s",
		  log->path, log->reason, fix);
}

/* The directory that holds @path, as a new string; NULL on ENOMEM. */
static char *dir_of(const char *path)
{
	char *dir = strdup(path), *slash;

	if (!dir)
		return NULL;
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	return dir;
}

static int sync_dir(const char *dir)
{
	int fd, r = 0;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	return r;
}

static int write_all(int fd, const u8 *p, size_t len, off_t off)
{
	while (len) {
		ssize_t k = pwrite(fd, p, len, off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -EIO;
		p += k;
		len -= (size_t)k;
		off += k;
	}
	return 0;
}

/*
 * A new empty log of this boot at log->path. The file is whole before it
 * has a name: an O_TMPFILE in the log's directory, the header written and
 * synced, locked, then linked to the path. So a second snpd creating the
 * log at the same time can neither see a part of ours nor take over a
 * name of ours, which would leave one of us writing into a file without a
 * name. @replace: log->fd is a file of an earlier boot that we hold
 * locked; its name is removed first (a crash in between leaves no file: a
 * new empty log at the next start). -EEXIST when another snpd linked its
 * own first: the caller opens that file, whose lock decides.
 */
static int create_empty(struct snpd_eventlog *log, bool replace)
{
	_cleanup_(freep) char *dir = NULL;
	u8 header[HEADER_LEN];
	char proc[64];
	struct stat held, named;
	int fd, r;

	dir = dir_of(log->path);
	if (!dir)
		return -ENOMEM;
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	memcpy(header, SNPD_EVENTLOG_MAGIC, 8);
	memcpy(header + 8, log->boot_id, SNPD_BOOT_ID_LEN);
	r = write_all(fd, header, sizeof(header), 0);
	if (r == 0 && fdatasync(fd) < 0)
		r = -errno;
	/* no one else can reach the file yet: the lock is ours at once */
	if (r == 0 && flock(fd, LOCK_EX | LOCK_NB) < 0)
		r = -errno;
	if (r < 0)
		goto fail;
	/* only the name of the file we hold, never a file another snpd linked since */
	if (replace && fstat(log->fd, &held) == 0 && lstat(log->path, &named) == 0 &&
	    held.st_dev == named.st_dev && held.st_ino == named.st_ino && unlink(log->path) < 0 &&
	    errno != ENOENT) {
		r = -errno;
		goto fail;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, log->path, AT_SYMLINK_FOLLOW) < 0) {
		r = -errno;
		goto fail;
	}
	r = sync_dir(dir);
	if (r < 0)
		goto fail;
	if (log->fd >= 0)
		close(log->fd);
	log->fd = fd;
	log->size = HEADER_LEN;
	log->n = 0;
	snp_evlog_head_init(log->head);
	return 0;
fail:
	close(fd);
	return r;
}

static int push(struct snpd_eventlog *log, const u8 *rec, size_t len, const u8 *head)
{
	if (log->n == log->alloc) {
		size_t a = log->alloc ? log->alloc * 2 : 16;
		struct entry *e;

		if (a > SNP_EVLOG_EVENTS_MAX)
			a = SNP_EVLOG_EVENTS_MAX;
		if (a <= log->n)
			return -ENOSPC;
		e = realloc(log->ev, a * sizeof(*e));
		if (!e)
			return -ENOMEM;
		log->ev = e;
		log->alloc = a;
	}
	log->ev[log->n].len = (u8)len;
	memcpy(log->ev[log->n].record, rec, len);
	memcpy(log->ev[log->n].head, head, SNP_HASH_SIZE);
	memcpy(log->head, head, SNP_HASH_SIZE);
	log->n++;
	return 0;
}

/*
 * Whether the @left bytes at the end of the stored log, fewer than the
 * frame they begin, are what an interrupted append leaves: the start of
 * one frame as snpd_eventlog_append() writes it with one pwrite(), the
 * rest never written. Every byte present must agree with such a frame:
 * a length a record can have, and that its algorithm and description
 * length give; version, algorithm, digest length, a type clients may
 * append, printable description; and of the head after it, the bytes
 * replayed from @head. Else false with what is wrong in @why: an
 * acknowledged event whose length field was changed (41 -> 137), or any
 * other damage, must not be dropped as if it had never been written.
 */
static bool torn_frame(const u8 *p, size_t left, const u8 head[SNP_HASH_SIZE], char *why,
		       size_t whylen)
{
	const u8 *rec = p + 2;
	size_t len, have, d = 0, n;
	u8 next[SNP_HASH_SIZE];
	u16 alg;

	/* a length is at most SNP_EVENT_RECORD_MAX, below 256: its first byte is 0 */
	if (p[0] != 0) {
		snprintf(why, whylen, "a length field starting with 0x%02x", p[0]);
		return false;
	}
	if (left < 2)
		return true;
	len = (size_t)(p[0] << 8 | p[1]); /* in range: load() checked */
	have = left - 2 < len ? left - 2 : len;
	if (have >= 1 && rec[0] != SNP_EVENT_VERSION) {
		snprintf(why, whylen, "record version %u", rec[0]);
		return false;
	}
	if (have >= 3) {
		alg = (u16)(rec[1] << 8 | rec[2]);
		d = snp_event_alg_size(alg);
		if (!d) {
			snprintf(why, whylen, "unknown digest algorithm 0x%04x", alg);
			return false;
		}
		if (len < SNP_EVENT_HEADER + d + 1 ||
		    len > SNP_EVENT_HEADER + d + 1 + SNP_EVENT_DESC_MAX) {
			snprintf(why, whylen,
				 "a stored length of %zu bytes, but a %s record has %zu to %zu",
				 len, snp_event_alg_name(alg), SNP_EVENT_HEADER + d + 1,
				 SNP_EVENT_HEADER + d + 1 + SNP_EVENT_DESC_MAX);
			return false;
		}
	}
	if (have >= 7 && rec[3] >= SNP_EVENT_TYPE_RESERVED >> 24) {
		snprintf(why, whylen, "a type reserved for snpd, which appends none");
		return false;
	}
	if (have >= 8 && rec[7] != d) {
		snprintf(why, whylen, "a digest length of %u, not %zu", rec[7], d);
		return false;
	}
	n = SNP_EVENT_HEADER + d; /* the description length */
	if (have > n) {
		if (rec[n] > SNP_EVENT_DESC_MAX || len != n + 1 + rec[n]) {
			snprintf(
				why, whylen,
				"a stored length of %zu bytes, but the record's description length "
				"(%u) gives %zu",
				len, rec[n], n + 1 + rec[n]);
			return false;
		}
		for (size_t i = n + 1; i < have; i++)
			if (rec[i] < 0x20 || rec[i] > 0x7e) {
				snprintf(why, whylen, "a description byte 0x%02x", rec[i]);
				return false;
			}
	}
	if (have == len) {
		memcpy(next, head, SNP_HASH_SIZE);
		if (snp_evlog_extend(next, rec, len) < 0) {
			snprintf(why, whylen, "cannot compute the head after it");
			return false;
		}
		if (memcmp(next, rec + len, left - 2 - len)) {
			snprintf(why, whylen, "the stored head does not match the chain");
			return false;
		}
	}
	return true;
}

/*
 * Replay the stored frames; the start of a frame at the end that only an
 * interrupted append can leave (torn_frame()) is cut off. Anything else
 * inconsistent leaves the log broken, the file untouched.
 */
static int load(struct snpd_eventlog *log, const u8 *data, size_t size)
{
	u8 head[SNP_HASH_SIZE];
	size_t off = HEADER_LEN;
	char why[SNP_ERRBUF_EVLOG];
	int r;

	snp_evlog_head_init(head);
	log->n = 0;
	while (off < size) {
		size_t left = size - off, len;
		struct snp_event e;

		len = left < 2 ? 0 : (size_t)(data[off] << 8 | data[off + 1]);
		if (left >= 2 && (len < SNP_EVENT_RECORD_MIN || len > SNP_EVENT_RECORD_MAX)) {
			set_broken(
				log, FIX_DAMAGED,
				"event %zu at offset %zu: a stored length of %zu bytes (a record "
				"has %d to %d)",
				log->n, off, len, SNP_EVENT_RECORD_MIN, SNP_EVENT_RECORD_MAX);
			return 0;
		}
		if (left < 2 || left < 2 + len + SNP_HASH_SIZE) {
			if (!torn_frame(data + off, left, head, why, sizeof(why))) {
				set_broken(log, FIX_DAMAGED,
					   "event %zu at offset %zu (the last %zu bytes): %s",
					   log->n, off, left, why);
				return 0;
			}
			log_warning(
				"Event log %s: the last %zu bytes, at offset %zu, are an incomplete "
				"append (snpd stopped while writing it, so it was never "
				"acknowledged); removing them",
				log->path, left, off);
			if (ftruncate(log->fd, (off_t)off) < 0 || fdatasync(log->fd) < 0) {
				set_broken(log, FIX_CAUSE,
					   "cannot cut off an incomplete append at offset %zu: %s",
					   off, strerror(errno));
				return 0;
			}
			break;
		}
		if (snp_event_decode(data + off + 2, len, &e, why, sizeof(why)) < 0) {
			set_broken(log, FIX_DAMAGED, "event %zu at offset %zu: %s", log->n, off,
				   why);
			return 0;
		}
		r = snp_evlog_extend(head, data + off + 2, len);
		if (r < 0)
			return r;
		if (memcmp(head, data + off + 2 + len, SNP_HASH_SIZE)) {
			set_broken(
				log, FIX_DAMAGED,
				"event %zu at offset %zu: the stored head does not match the chain "
				"replayed up to it",
				log->n, off);
			return 0;
		}
		if (log->n == SNP_EVLOG_EVENTS_MAX) {
			set_broken(log, FIX_DAMAGED, "more than %u events", SNP_EVLOG_EVENTS_MAX);
			return 0;
		}
		r = push(log, data + off + 2, len, head);
		if (r < 0)
			return r;
		off += 2 + len + SNP_HASH_SIZE;
	}
	log->size = (off_t)(off < size ? off : size);
	if (log->n > log->max)
		log_warning("Event log %s holds %zu events, more than EventLogMax=%u: it is full",
			    log->path, log->n, log->max);
	return 0;
}

static int text_extend(struct snpd_eventlog *log);

/*
 * Open, create or reset the file of @log and load it: 0 (the log is
 * usable, or broken and says why), -ENOMEM, or -EAGAIN when another snpd
 * named a new log at the path while we were making ours: open again.
 */
static int open_file(struct snpd_eventlog *log)
{
	_cleanup_(freep) u8 *data = NULL;
	u64 file_max = HEADER_LEN + (u64)SNP_EVLOG_EVENTS_MAX * FRAME_MAX;
	struct stat st;
	s64 boot_ns = 0, mtime_ns;
	size_t size;
	ssize_t k;
	int r;

	log->fd = open(log->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (log->fd < 0 && errno == ENOENT) {
		r = create_empty(log, false);
		if (r == -EEXIST)
			return -EAGAIN;
		if (r < 0)
			set_broken(log, FIX_CAUSE, "cannot create it: %s", strerror(-r));
		else
			log_info("Event log %s: new and empty", log->path);
		return r == -ENOMEM ? r : 0;
	}
	if (log->fd < 0) {
		set_broken(log, FIX_CAUSE, "cannot open it: %m");
		return 0;
	}
	/* one snpd per log: a second one would write over the first one's appends */
	if (flock(log->fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			set_broken(log, FIX_IN_USE, "in use by another snpd");
		else
			set_broken(log, FIX_CAUSE, "cannot lock it: %m");
		return 0;
	}
	if (fstat(log->fd, &st) < 0) {
		set_broken(log, FIX_CAUSE, "cannot stat it: %m");
		return 0;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022)) {
		set_broken(log, FIX_OWNER,
			   "not a regular file of ours that only we may write (mode %04o, "
			   "owner %u)",
			   (unsigned int)(st.st_mode & 07777), (unsigned int)st.st_uid);
		return 0;
	}
	if ((u64)st.st_size > file_max) {
		set_broken(log, FIX_DAMAGED, "%lld bytes, more than a log can hold",
			   (long long)st.st_size);
		return 0;
	}
	size = (size_t)st.st_size;
	data = malloc(size ? size : 1);
	if (!data)
		return -ENOMEM;
	k = pread(log->fd, data, size, 0);
	if (k < 0 || (size_t)k != size) {
		set_broken(log, FIX_CAUSE, "cannot read it: %s",
			   k < 0 ? strerror(errno) : "short read");
		return 0;
	}
	if (size < HEADER_LEN || memcmp(data, SNPD_EVENTLOG_MAGIC, 8)) {
		set_broken(log, FIX_DAMAGED, "no %s header", SNPD_EVENTLOG_MAGIC);
		return 0;
	}
	if (memcmp(data + 8, log->boot_id, SNPD_BOOT_ID_LEN)) {
		/*
		 * Only a file of an earlier boot may be replaced, and that one
		 * was last written before this boot began (under /run, a
		 * tmpfs, it cannot exist at all). Written since, a boot id
		 * that is not ours is damage: the events must not be dropped.
		 */
		r = boot_began_ns(&boot_ns);
		if (r < 0) {
			set_broken(log, FIX_CAUSE,
				   "its boot id is not this boot's, and when this boot began is "
				   "unknown: %s",
				   strerror(-r));
			return 0;
		}
		mtime_ns = (s64)st.st_mtim.tv_sec * NSEC_PER_SEC + st.st_mtim.tv_nsec;
		if (mtime_ns >= boot_ns) {
			set_broken(
				log, FIX_DAMAGED,
				"its boot id is not this boot's, but it was modified %.3f s after "
				"this boot began: damage, not a log of an earlier boot",
				(double)(mtime_ns - boot_ns) / NSEC_PER_SEC);
			return 0;
		}
		log_notice("Event log %s is from an earlier boot of the guest: starting a new one",
			   log->path);
		r = create_empty(log, true);
		if (r == -EEXIST) {
			close(log->fd);
			log->fd = -1;
			return -EAGAIN;
		}
		if (r < 0)
			set_broken(log, FIX_CAUSE, "cannot replace the log of an earlier boot: %s",
				   strerror(-r));
		return r == -ENOMEM ? r : 0;
	}
	r = load(log, data, size);
	if (r < 0)
		return r;
	if (!log->broken) {
		log_info("Event log %s: %zu events of this boot", log->path, log->n);
		/* rendered now, before serving, not by the first reader on the loop */
		r = text_extend(log);
		if (r < 0)
			return r;
	}
	return 0;
}

int snpd_eventlog_open(const struct snpd_config *c, struct snpd_eventlog **ret)
{
	struct snpd_eventlog *log;
	const char *src;
	int r;

	if (!c->event_log || !*c->event_log) {
		*ret = NULL;
		return 0;
	}
	log = calloc(1, sizeof(*log));
	if (!log)
		return -ENOMEM;
	log->fd = -1;
	log->max = c->event_log_max;
	log->write_failures = SNP_RATELIMIT(10 * 1000000ULL, 10);
	log->path = strdup(c->event_log);
	if (!log->path) {
		free(log);
		return -ENOMEM;
	}
	*ret = log;

	r = read_boot_id(log->boot_id, &src);
	if (r < 0) {
		set_broken(log, FIX_BOOT_ID, "cannot read the boot id from %s: %s", src,
			   strerror(-r));
		return 0;
	}
	/* another snpd that named a new log first: open that one (a few times at most) */
	for (int tries = 0; tries < 3; tries++) {
		r = open_file(log);
		if (r != -EAGAIN)
			return r;
	}
	set_broken(log, FIX_IN_USE, "another snpd kept replacing it while this one opened it");
	return 0;
}

struct snpd_eventlog *snpd_eventlog_free(struct snpd_eventlog *log)
{
	if (!log)
		return NULL;
	if (log->fd >= 0)
		close(log->fd);
	snpd_eventlog_text_unref(log->text);
	free(log->ev);
	free(log->path);
	free(log);
	return NULL;
}

void snpd_eventlog_reload(struct snpd_eventlog *log, const struct snpd_config *c)
{
	if (!log) {
		if (c->event_log && *c->event_log)
			log_warning("Reload: EventLog= changes need a restart");
		return;
	}
	if (!c->event_log || strcmp(c->event_log, log->path))
		log_warning("Reload: EventLog= changes need a restart; still %s", log->path);
	log->max = c->event_log_max;
}

bool snpd_eventlog_usable(const struct snpd_eventlog *log, char *reason, size_t len)
{
	if (log && log->broken) {
		snprintf(reason, len, "event log broken: %s", log->reason);
		return false;
	}
	if (len)
		reason[0] = '\0';
	return true;
}

static bool listed(const struct snpd_id_list *l, u32 id)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->ids[i] == id)
			return true;
	return false;
}

bool snpd_eventlog_may_write(const struct snpd_config *c, uid_t uid, gid_t gid, const gid_t *groups,
			     size_t ngroups)
{
	if (listed(&c->log_writers, uid) || listed(&c->log_writer_groups, gid))
		return true;
	for (size_t i = 0; i < ngroups; i++)
		if (listed(&c->log_writer_groups, groups[i]))
			return true;
	return false;
}

int snpd_eventlog_append(struct snpd_eventlog *log, const u8 *record, size_t len, u64 *ret_seq,
			 char *err, size_t errlen)
{
	u8 frame[FRAME_MAX], head[SNP_HASH_SIZE];
	char why[SNP_ERRBUF_EVLOG];
	struct snp_event e;
	int r;

	if (errlen)
		err[0] = '\0';
	if (log->broken) {
		snprintf(err, errlen, "the event log is broken: %s", log->reason);
		log->refused++;
		return -EIO;
	}
	if (snp_event_decode(record, len, &e, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s", why);
		log->refused++;
		return -EINVAL;
	}
	if (e.type >= SNP_EVENT_TYPE_RESERVED) {
		snprintf(err, errlen, "event types from 0x%08x up are reserved for snpd",
			 SNP_EVENT_TYPE_RESERVED);
		log->refused++;
		return -EINVAL;
	}
	if (log->n >= log->max) {
		snprintf(err, errlen, "the event log is full (EventLogMax=%u events)", log->max);
		log->refused++;
		return -ENOSPC;
	}
	memcpy(head, log->head, SNP_HASH_SIZE);
	r = snp_evlog_extend(head, record, len);
	if (r < 0) {
		snprintf(err, errlen,
			 "cannot compute the log's new head: %s; nothing was appended, the log is "
			 "intact",
			 strerror(-r));
		log->refused++;
		return -EAGAIN;
	}
	put_be16(frame, (u16)len);
	memcpy(frame + 2, record, len);
	memcpy(frame + 2 + len, head, SNP_HASH_SIZE);
	r = write_all(log->fd, frame, 2 + len + SNP_HASH_SIZE, log->size);
	if (r == 0 && fdatasync(log->fd) < 0)
		r = -errno;
	if (r < 0) {
		const char *step = NULL;
		char more[48] = "";
		unsigned int held;
		int back = 0;

		log->refused++;
		/* what was written was never acknowledged: take it back */
		if (ftruncate(log->fd, log->size) < 0) {
			step = "ftruncate";
			back = errno;
		} else if (fdatasync(log->fd) < 0) {
			step = "fdatasync";
			back = errno;
		}
		if (step) {
			set_broken(log, FIX_RESTART,
				   "an append failed (%s) and could not be taken back (%s: %s)",
				   strerror(-r), step, strerror(back));
			snprintf(err, errlen,
				 "cannot store the event, and the log is now broken: %s",
				 log->reason);
			return -EIO;
		}
		/* a client can make this happen as often as it likes: rate-limited */
		if (snp_ratelimit_below(&log->write_failures, &held)) {
			if (held)
				snprintf(more, sizeof(more), " (%u more held back)", held);
			log_warning(
				"Event log %s: an append failed (%s) and was taken back, the log "
				"is intact%s",
				log->path, strerror(-r), more);
		}
		snprintf(err, errlen,
			 "cannot store the event: %s; nothing was appended, the log is intact",
			 strerror(-r));
		return -EAGAIN;
	}
	r = push(log, record, len, head);
	if (r < 0) {
		/* stored but not in memory: the next start reads it */
		set_broken(log, FIX_RESTART, "out of memory after storing event %zu", log->n);
		snprintf(err, errlen, "out of memory");
		return r;
	}
	log->size += (off_t)(2 + len + SNP_HASH_SIZE);
	log->appended++;
	*ret_seq = log->n - 1;
	return 0;
}

void snpd_eventlog_head(const struct snpd_eventlog *log, u64 *ret_count, u8 ret_head[SNP_HASH_SIZE])
{
	if (!log) {
		*ret_count = 0;
		snp_evlog_head_init(ret_head);
		return;
	}
	*ret_count = log->n;
	memcpy(ret_head, log->head, SNP_HASH_SIZE);
}

struct snpd_eventlog_text {
	unsigned int refs;
	char *data;
	size_t len, cap; /* bytes rendered, allocated */
	size_t *ends;	 /* ends[i]: offset after event i's separator */
	size_t n, ends_cap;
};

/* Largest compact JSON of one event: hex of a 137-byte record, of a
 * 64-byte digest and of a head, a description of 64 characters each
 * escaped, keys and numbers; with room to spare. */
#define EVENT_JSON_MAX 2048

static struct snpd_eventlog_text *text_new(size_t cap, size_t ends_cap)
{
	struct snpd_eventlog_text *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->data = malloc(cap);
	t->ends = calloc(ends_cap, sizeof(*t->ends));
	if (!t->data || !t->ends) {
		free(t->data);
		free(t->ends);
		free(t);
		return NULL;
	}
	t->cap = cap;
	t->ends_cap = ends_cap;
	t->refs = 1;
	return t;
}

/*
 * Room for one more event of @extra bytes in log->text. Grown in place
 * while only the log holds it; while readers hold it (their snapshots
 * point into it) it is copied into a new one twice as large that the log
 * holds from then on, and the readers keep the old one.
 */
static int text_reserve(struct snpd_eventlog *log, size_t extra)
{
	struct snpd_eventlog_text *t = log->text, *c;
	size_t cap = t->cap, ends_cap = t->ends_cap;

	if (t->len + extra <= t->cap && t->n < t->ends_cap)
		return 0;
	while (cap < t->len + extra)
		cap *= 2;
	if (t->n == ends_cap)
		ends_cap *= 2;
	if (t->refs == 1) {
		char *d = realloc(t->data, cap);
		size_t *e;

		if (!d)
			return -ENOMEM;
		t->data = d;
		t->cap = cap;
		e = reallocarray(t->ends, ends_cap, sizeof(*e));
		if (!e)
			return -ENOMEM;
		t->ends = e;
		t->ends_cap = ends_cap;
		return 0;
	}
	c = text_new(cap, ends_cap);
	if (!c)
		return -ENOMEM;
	memcpy(c->data, t->data, t->len);
	memcpy(c->ends, t->ends, t->n * sizeof(*t->ends));
	c->len = t->len;
	c->n = t->n;
	snpd_eventlog_text_unref(t);
	log->text = c;
	return 0;
}

/* Render the events appended since log->text was last extended. */
static int text_extend(struct snpd_eventlog *log)
{
	char buf[EVENT_JSON_MAX];

	if (log->text && log->text->n > log->n)
		log->text = snpd_eventlog_text_unref(log->text); /* never: the log only grows */
	if (!log->text) {
		log->text = text_new(4096, 64);
		if (!log->text)
			return -ENOMEM;
	}
	while (log->text->n < log->n) {
		size_t i = log->text->n, k;
		struct snpd_eventlog_text *t;
		json_t *j;
		int r;

		j = snp_event_to_json(i, log->ev[i].record, log->ev[i].len, log->ev[i].head);
		if (!j)
			return -ENOMEM;
		k = json_dumpb(j, buf, sizeof(buf), JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(j);
		log->rendered++;
		if (k == 0 || k > sizeof(buf))
			return -ENOMEM;
		r = text_reserve(log, k + 1);
		if (r < 0)
			return r;
		t = log->text;
		memcpy(t->data + t->len, buf, k);
		t->data[t->len + k] = ',';
		t->len += k + 1;
		t->ends[t->n++] = t->len;
	}
	return 0;
}

struct snpd_eventlog_text *snpd_eventlog_text_get(struct snpd_eventlog *log, u64 *ret_count)
{
	if (text_extend(log) < 0)
		return NULL;
	log->text->refs++;
	*ret_count = log->text->n;
	return log->text;
}

struct snpd_eventlog_text *snpd_eventlog_text_unref(struct snpd_eventlog_text *t)
{
	if (t && --t->refs == 0) {
		free(t->data);
		free(t->ends);
		free(t);
	}
	return NULL;
}

size_t snpd_eventlog_text_size(const struct snpd_eventlog_text *t, u64 count)
{
	if (count > t->n)
		count = t->n;
	return count ? t->ends[count - 1] : 0;
}

/* The first of the first @count events that ends after @off. */
static size_t event_at(const struct snpd_eventlog_text *t, size_t count, size_t off)
{
	size_t lo = 0, hi = count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->ends[mid] <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

size_t snpd_eventlog_text_lines(const struct snpd_eventlog_text *t, u64 count, size_t off,
				char *buf, size_t size)
{
	size_t end = snpd_eventlog_text_size(t, count);

	if (count > t->n)
		count = t->n;
	if (off >= end)
		return 0;
	if (size > end - off)
		size = end - off;
	memcpy(buf, t->data + off, size);
	/* each event's separator is its last byte: a newline here */
	for (size_t i = event_at(t, count, off); i < count && t->ends[i] <= off + size; i++)
		buf[t->ends[i] - 1 - off] = '\n';
	return size;
}

const char *snpd_eventlog_text_members(const struct snpd_eventlog_text *t, u64 count,
				       size_t *ret_len)
{
	size_t len = snpd_eventlog_text_size(t, count);

	*ret_len = len ? len - 1 : 0; /* not the last separator */
	return t->data;
}

json_t *snpd_eventlog_status_json(const struct snpd_eventlog *log)
{
	char head[2 * SNP_HASH_SIZE + 1];

	if (!log)
		return json_pack("{s:s}", "state", "disabled");
	snp_hex_encode(log->head, SNP_HASH_SIZE, head);
	return json_pack("{s:s,s:s?,s:s,s:I,s:I,s:s,s:I,s:I,s:I}", "state",
			 log->broken	    ? "broken" :
			 log->n >= log->max ? "full" :
					      "ok",
			 "reason", log->broken ? log->reason : NULL, "path", log->path, "events",
			 (json_int_t)log->n, "max", (json_int_t)log->max, "head", head, "appended",
			 (json_int_t)log->appended, "refused", (json_int_t)log->refused, "rendered",
			 (json_int_t)log->rendered);
}

static void reply_problem(struct snpd_eventlog_reply *ret, unsigned int status, const char *type,
			  const char *title, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void reply_problem(struct snpd_eventlog_reply *ret, unsigned int status, const char *type,
			  const char *title, const char *fmt, ...)
{
	va_list ap;

	ret->status = status;
	ret->type = type;
	ret->title = title;
	va_start(ap, fmt);
	vsnprintf(ret->detail, sizeof(ret->detail), fmt, ap);
	va_end(ap);
}

/* {"alg","digest","type","description"} into a record. */
static int parse_event(const char *body, size_t len, u8 *rec, size_t *ret_len, char *err,
		       size_t errlen)
{
	struct snp_event e = { 0 };
	json_error_t jerr;
	const char *key, *s;
	bool have_alg = false, have_digest = false, have_type = false;
	u8 digest[SNP_EVENT_DIGEST_MAX];
	size_t digest_len = 0;
	json_t *j, *v;
	int r = -EINVAL;

	j = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		snprintf(err, errlen, "invalid JSON at line %d column %d: %.100s", jerr.line,
			 jerr.column, jerr.text);
		return -EINVAL;
	}
	if (!json_is_object(j)) {
		snprintf(err, errlen, "the body must be a JSON object");
		goto out;
	}
	json_object_foreach(j, key, v)
	{
		if (!strcmp(key, "alg")) {
			if (snp_event_alg_parse(json_string_value(v), &e.alg) < 0) {
				snprintf(err, errlen, "alg: sha256, sha384 or sha512");
				goto out;
			}
			have_alg = true;
		} else if (!strcmp(key, "digest")) {
			ssize_t n;

			s = json_string_value(v);
			n = s ? snp_hex_decode(s, strlen(s), digest, sizeof(digest), false) :
				-EINVAL;
			if (n <= 0) {
				snprintf(err, errlen, "digest: hex of at most %d bytes",
					 SNP_EVENT_DIGEST_MAX);
				goto out;
			}
			digest_len = (size_t)n;
			have_digest = true;
		} else if (!strcmp(key, "type")) {
			json_int_t t = json_integer_value(v);

			if (!json_is_integer(v) || t < 0 ||
			    t >= (json_int_t)SNP_EVENT_TYPE_RESERVED) {
				snprintf(err, errlen, "type: an integer from 0 to %u",
					 SNP_EVENT_TYPE_RESERVED - 1);
				goto out;
			}
			e.type = (u32)t;
			have_type = true;
		} else if (!strcmp(key, "description")) {
			s = json_string_value(v);
			if (!s || strlen(s) > SNP_EVENT_DESC_MAX) {
				snprintf(err, errlen,
					 "description: a string of at most %d printable ASCII "
					 "characters",
					 SNP_EVENT_DESC_MAX);
				goto out;
			}
			e.desc_len = (u8)strlen(s);
			memcpy(e.desc, s, e.desc_len);
		} else {
			snprintf(err, errlen,
				 "unknown member '%.40s' (alg, digest, type, description)", key);
			goto out;
		}
	}
	if (!have_alg || !have_digest || !have_type) {
		snprintf(err, errlen, "alg, digest and type are required");
		goto out;
	}
	if (digest_len != snp_event_alg_size(e.alg)) {
		snprintf(err, errlen, "digest: %s takes %zu bytes, not %zu",
			 snp_event_alg_name(e.alg), snp_event_alg_size(e.alg), digest_len);
		goto out;
	}
	memcpy(e.digest, digest, digest_len);
	e.digest_len = (u8)digest_len;
	if (snp_event_encode(&e, rec, ret_len) < 0) {
		snprintf(err, errlen, "description: printable ASCII only (0x20 to 0x7e)");
		goto out;
	}
	r = 0;
out:
	json_decref(j);
	return r;
}

void snpd_eventlog_http(struct snpd_eventlog *log, const struct snpd_config *c, bool post,
			bool over_unix, uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups,
			const char *body, size_t len, struct snpd_eventlog_reply *ret)
{
	u8 rec[SNP_EVENT_RECORD_MAX], head[SNP_HASH_SIZE];
	char err[SNP_ERRBUF] = "", head_hex[2 * SNP_HASH_SIZE + 1];
	size_t rec_len;
	u64 seq, count;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!log) {
		reply_problem(ret, 404, "no-event-log", "No event log",
			      "EventLog= is empty: this snpd keeps no event log");
		return;
	}
	if (!post) {
		if (log->broken) {
			reply_problem(ret, 503, "event-log-broken", "Event log unusable", "%s",
				      log->reason);
			return;
		}
		ret->text = snpd_eventlog_text_get(log, &ret->text_count);
		if (!ret->text) {
			reply_problem(ret, 500, "internal", "Internal error", "out of memory");
			return;
		}
		ret->status = 200;
		snp_hex_encode(log->head, SNP_HASH_SIZE, head_hex);
		/* {"scheme","count","head","max","events":[...]}, compact and in order */
		snprintf(ret->prefix, sizeof(ret->prefix),
			 "{\"scheme\":\"%s\",\"count\":%llu,\"head\":\"%s\",\"max\":%u,"
			 "\"events\":[",
			 SNP_BINDING_SCHEME, (unsigned long long)ret->text_count, head_hex,
			 log->max);
		snprintf(ret->etag, sizeof(ret->etag), "\"%llu-%u-%s\"",
			 (unsigned long long)ret->text_count, log->max, head_hex);
		return;
	}
	if (!over_unix) {
		reply_problem(ret, 403, "log-over-tcp", "Log appends only on the unix socket",
			      "events are appended by local users known by their credentials");
		return;
	}
	if (!snpd_eventlog_may_write(c, uid, gid, groups, ngroups)) {
		log_notice("Refused an event log append to uid %d gid %d (not in LogWriters=/"
			   "LogWriterGroups=)",
			   (int)uid, (int)gid);
		reply_problem(ret, 403, "log-writer-not-allowed", "Not allowed",
			      "uid %d gid %d may not append to the event log (LogWriters=, "
			      "LogWriterGroups=)",
			      (int)uid, (int)gid);
		return;
	}
	if (parse_event(body, len, rec, &rec_len, err, sizeof(err)) < 0) {
		reply_problem(ret, 400, "invalid-event", "Invalid event", "%s", err);
		return;
	}
	r = snpd_eventlog_append(log, rec, rec_len, &seq, err, sizeof(err));
	if (r == -ENOSPC) {
		reply_problem(ret, 507, "event-log-full", "Event log full", "%s", err);
		return;
	}
	if (r == -EINVAL) {
		reply_problem(ret, 400, "invalid-event", "Invalid event", "%s", err);
		return;
	}
	/* not stored, but the log is as it was and usable: not event-log-broken */
	if (r == -EAGAIN) {
		reply_problem(ret, 500, "event-not-stored", "Event not stored", "%s", err);
		return;
	}
	if (r < 0) {
		reply_problem(ret, 503, "event-log-broken", "Event log unusable", "%s", err);
		return;
	}
	log_info("Event %llu appended by uid %d", (unsigned long long)seq, (int)uid);
	snpd_eventlog_head(log, &count, head);
	snp_hex_encode(head, SNP_HASH_SIZE, head_hex);
	ret->status = 201;
	ret->body = json_pack("{s:I,s:I,s:s}", "seq", (json_int_t)seq, "count", (json_int_t)count,
			      "head", head_hex);
	if (!ret->body)
		reply_problem(ret, 500, "internal", "Internal error", "out of memory");
}
