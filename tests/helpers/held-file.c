// SPDX-License-Identifier: Apache-2.0
/*
 * held-file: a FUSE file system with one regular file whose open can be
 * held, as a slow disk holds it: a test's way to stop a reader (snpd's
 * collateral worker reading TrustArk=) at a known point, now that snpd
 * never reads a FIFO.
 *
 *   held-file SOURCE HOLD MOUNTPOINT
 *
 * MOUNTPOINT/file is SOURCE as it is now (ENOENT while SOURCE does not
 * exist; its size and bytes read at each call, never cached). While the
 * file HOLD exists, an open of MOUNTPOINT/file waits (at most 120 s), and
 * each such open has its own marker, HOLD.waiting.PID.N, while it waits:
 * PID the opener's (thread) id as FUSE gives it, N the open's number on
 * this mount (1, 2, ...), so that the test knows which readers are held,
 * and how many. Removing HOLD lets them all go. getattr and lookup are
 * never held (a configuration check that stat()s the path goes on), and
 * requests are served by WORKERS threads (so up to WORKERS - 1 held
 * opens leave one for the rest).
 *
 * SIGTERM, SIGINT or SIGHUP lets the held opens go, answers the requests
 * already queued, unmounts and exits 0; so does an unmount (0). Any other
 * exit status is an error the tests report (snpd_harness.HeldFile.stop()).
 */
#define FUSE_USE_VERSION 31

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HOLD_MAX_MS 120000
#define WORKERS	    10	 /* fuse_loop_mt()'s default thread limit, which this replaces */
#define STOP_LEFT   64	 /* requests still answered after a signal */
#define STOP_DIR_MS 1000 /* the wait for an open directory's release after one */

static const char *source, *hold;
static atomic_uint held_opens; /* N of the markers */
static atomic_uint open_dirs;  /* directories opened and not yet released */
static atomic_bool stopping;   /* a signal came: held opens go, the workers end */
static atomic_int stop_left;   /* requests still answered once stopping */

static int held_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct stat s;

	memset(st, 0, sizeof(*st));
	if (!strcmp(path, "/")) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	if (strcmp(path, "/file"))
		return -ENOENT;
	if (stat(source, &s) < 0)
		return -errno;
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	st->st_size = s.st_size;
	st->st_mtim = s.st_mtim;
	return 0;
}

static int held_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
			struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	if (strcmp(path, "/"))
		return -ENOENT;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	if (access(source, F_OK) == 0)
		fill(buf, "file", NULL, 0, 0);
	return 0;
}

static int held_open(const char *path, struct fuse_file_info *fi)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = 20 * 1000 * 1000 };
	char waiting[PATH_MAX];
	int fd, waited = 0;

	if (strcmp(path, "/file"))
		return -ENOENT;
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	if (access(hold, F_OK) == 0) {
		/* this open's own marker: two held at once are two files */
		snprintf(waiting, sizeof(waiting), "%s.waiting.%ld.%u", hold,
			 (long)fuse_get_context()->pid, atomic_fetch_add(&held_opens, 1) + 1);
		fd = open(waiting, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
		while (access(hold, F_OK) == 0 && waited < HOLD_MAX_MS && !atomic_load(&stopping)) {
			nanosleep(&ts, NULL);
			waited += 20;
		}
		unlink(waiting);
	}
	if (access(source, R_OK) < 0)
		return -errno;
	fi->direct_io = 1; /* every read comes here: nothing of an older SOURCE cached */
	return 0;
}

static int held_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	ssize_t n;
	int fd;

	fd = open(source, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread(fd, buf, size, off);
	if (n < 0)
		n = -errno;
	close(fd);
	return (int)n;
}

/* Counted only, for serve(): libfuse keeps the handle itself. */
static int held_opendir(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	(void)fi;
	atomic_fetch_add(&open_dirs, 1);
	return 0;
}

static int held_releasedir(const char *path, struct fuse_file_info *fi)
{
	unsigned int n = atomic_load(&open_dirs);

	(void)path;
	(void)fi;
	while (n && !atomic_compare_exchange_weak(&open_dirs, &n, n - 1))
		;
	return 0;
}

static void *held_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* nothing cached in the kernel: SOURCE appearing is seen at once */
	cfg->entry_timeout = 0;
	cfg->negative_timeout = 0;
	cfg->attr_timeout = 0;
	return NULL;
}

static const struct fuse_operations held_ops = {
	.init = held_init,
	.getattr = held_getattr,
	.opendir = held_opendir,
	.readdir = held_readdir,
	.releasedir = held_releasedir,
	.open = held_open,
	.read = held_read,
};

/*
 * The request loop, in place of fuse_loop_mt() and libfuse's signal
 * handlers, as in tsm-fuse.c's serve(): a signal that ends libfuse's loop
 * leaves the requests the kernel has queued unread, and the unmount drops
 * them. A RELEASEDIR so lost (sent in the background, so a closedir(3)
 * just before the signal may not have been read yet) leaves libfuse's
 * handle of that directory, its buffered entries, unfreed at exit, which
 * LeakSanitizer reports. So the signals come through a signalfd to the
 * main thread, and WORKERS threads serve the requests; the FUSE fd is
 * non-blocking, so that a worker that finds the request taken by another
 * goes back to poll(). After a signal (stopping), held opens go, the
 * requests already queued are answered (at most STOP_LEFT in all), and
 * while a directory is still open the next request is waited for up to
 * STOP_DIR_MS; a directory that stays open is given up.
 */
struct worker {
	pthread_t thread;
	struct fuse_session *se;
	int stop_fd; /* eventfd, readable once stopping */
	int done_fd; /* eventfd, written by each worker that ends */
	int r;	     /* how it ended: 0 (stopped, or unmounted) or a negative errno */
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct fuse_buf buf = { .mem = NULL };
	struct pollfd p[2] = { { .fd = fuse_session_fd(w->se), .events = POLLIN },
			       { .fd = w->stop_fd, .events = POLLIN } };
	bool stop;
	int r;

	for (;;) {
		stop = atomic_load(&stopping);
		if (stop && atomic_load(&stop_left) <= 0) {
			r = 0;
			break;
		}
		r = poll(p, stop ? 1 : 2, !stop ? -1 : atomic_load(&open_dirs) ? STOP_DIR_MS : 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) { /* an error, or stopping and nothing more came */
			r = r < 0 ? -errno : 0;
			break;
		}
		/* stopping now: the next turn polls without the stop fd */
		if (!stop && (p[1].revents & POLLIN))
			continue;
		if (p[0].revents & (POLLERR | POLLHUP | POLLNVAL)) { /* unmounted */
			r = 0;
			break;
		}
		if (!(p[0].revents & POLLIN))
			continue;
		r = fuse_session_receive_buf(w->se, &buf);
		if (r == -EINTR || r == -EAGAIN) /* another worker took it */
			continue;
		if (r <= 0) { /* 0 or ENODEV: unmounted */
			r = r == -ENODEV ? 0 : r;
			break;
		}
		fuse_session_process_buf(w->se, &buf);
		if (stop)
			atomic_fetch_sub(&stop_left, 1);
	}
	free(buf.mem);
	w->r = r;
	if (eventfd_write(w->done_fd, 1) < 0)
		abort(); /* the main thread would wait forever */
	return NULL;
}

/*
 * Serve @se with WORKERS threads until SIGTERM, SIGINT or SIGHUP, an
 * unmount, or a worker's error. Returns 0 (a signal, an unmount) or a
 * negative errno.
 */
static int serve(struct fuse_session *se)
{
	struct worker w[WORKERS];
	struct pollfd p[2] = { { .fd = -1, .events = POLLIN }, { .fd = -1, .events = POLLIN } };
	int stop_fd = -1, done_fd = -1, r = 0, fl;
	size_t i, started = 0;
	sigset_t mask;

	/* blocked before the workers start, so that they inherit it */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &mask, NULL) != 0)
		return -EINVAL;
	signal(SIGPIPE, SIG_IGN);
	p[0].fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	stop_fd = eventfd(0, EFD_CLOEXEC);
	done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p[0].fd < 0 || stop_fd < 0 || done_fd < 0) {
		r = -errno;
		goto out;
	}
	p[1].fd = done_fd;
	fl = fcntl(fuse_session_fd(se), F_GETFL);
	if (fl < 0 || fcntl(fuse_session_fd(se), F_SETFL, fl | O_NONBLOCK) < 0) {
		r = -errno;
		goto out;
	}
	for (i = 0; i < WORKERS; i++) {
		w[i] = (struct worker){ .se = se, .stop_fd = stop_fd, .done_fd = done_fd };
		r = -pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
		if (r < 0)
			break;
		started++;
	}
	/* a signal, or a worker that ended (all end on an unmount) */
	while (r == 0 && poll(p, 2, -1) < 0) {
		if (errno != EINTR)
			r = -errno;
	}
	atomic_store(&stop_left, STOP_LEFT);
	atomic_store(&stopping, true);
	if (eventfd_write(stop_fd, 1) < 0)
		abort(); /* the workers would wait forever */
	for (i = 0; i < started; i++) {
		pthread_join(w[i].thread, NULL);
		if (w[i].r < 0 && r == 0)
			r = w[i].r;
	}
out:
	if (p[0].fd >= 0)
		close(p[0].fd);
	if (stop_fd >= 0)
		close(stop_fd);
	if (done_fd >= 0)
		close(done_fd);
	return r;
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse *f = NULL;
	int r, ret = EXIT_FAILURE;

	if (argc != 4) {
		fprintf(stderr, "usage: %s SOURCE HOLD MOUNTPOINT\n", argv[0]);
		return 2;
	}
	source = argv[1];
	hold = argv[2];
	/* room for ".waiting.PID.N" */
	if (strlen(hold) > PATH_MAX - 64) {
		fprintf(stderr, "held-file: %s: too long\n", hold);
		return 2;
	}
	if (fuse_opt_add_arg(&args, argv[0]) < 0 || fuse_opt_add_arg(&args, "-o") < 0 ||
	    fuse_opt_add_arg(&args, "fsname=held-file,subtype=held") < 0)
		goto out;
	f = fuse_new(&args, &held_ops, sizeof(held_ops), NULL);
	if (!f)
		goto out;
	if (fuse_mount(f, argv[3]) < 0) {
		fprintf(stderr, "held-file: cannot mount on %s\n", argv[3]);
		goto out_destroy;
	}
	/* several threads: a held open must not hold a stat() */
	r = serve(fuse_get_session(f));
	if (r < 0)
		fprintf(stderr, "held-file: serving failed: %s\n", strerror(-r));
	ret = r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
	fuse_unmount(f);
out_destroy:
	fuse_destroy(f);
out:
	fuse_opt_free_args(&args);
	return ret;
}
