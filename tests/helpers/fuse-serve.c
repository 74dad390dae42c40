// SPDX-License-Identifier: Apache-2.0
/*
 * The request loop of the FUSE test helpers (tsm-fuse, held-file), in place
 * of fuse_loop()/fuse_loop_mt() and libfuse's signal handlers.
 *
 * Why: a signal that ends libfuse's loop may leave a request read and
 * unanswered, and the requests the kernel has queued when the loop ends are
 * dropped by the unmount. A RELEASEDIR lost so (it is sent in the
 * background, like RELEASE, so a closedir(3) just before the signal may not
 * have been read yet) leaves libfuse's handle of that directory, its
 * buffered entries, unfreed at exit, which LeakSanitizer reports (and the
 * tests fail on a sanitizer report in a helper's output).
 *
 * So SIGTERM, SIGINT and SIGHUP come through a signalfd to the calling
 * thread, and the workers serve the requests; the FUSE fd is made
 * non-blocking, so that a worker that finds the request taken by another
 * goes back to poll(). After a signal, or when a worker ended (all end on
 * an unmount; one ends on an error), stopping begins: the helper's hook is
 * called (held requests go), the requests already queued are answered (at
 * most STOP_LEFT in all workers), and while a directory is still open the
 * next request is waited for up to STOP_DIR_MS (on Linux 6.18 a
 * RELEASEDIR was seen to come after the signal); a directory that stays
 * open is given up.
 */
#define FUSE_USE_VERSION 31

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "tests/helpers/fuse-serve.h"

#define STOP_LEFT   64	 /* requests still answered once stopping */
#define STOP_DIR_MS 1000 /* the wait for an open directory's release then */

/* What the workers share; lives in helper_serve()'s frame. */
struct serve {
	struct fuse_session *se;
	bool (*dirs_open)(void *userdata);
	void *userdata;
	int stop_fd;	      /* eventfd, readable once stopping */
	int done_fd;	      /* eventfd, written by each worker that ends */
	atomic_bool stopping; /* set before stop_fd is written */
	atomic_int stop_left; /* requests still answered once stopping */
};

struct worker {
	pthread_t thread;
	struct serve *s;
	int r; /* how it ended: 0 (stopped, or unmounted) or a negative errno */
};

static bool serve_dirs_open(struct serve *s)
{
	return s->dirs_open && s->dirs_open(s->userdata);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct serve *s = w->s;
	struct fuse_buf buf = { .mem = NULL };
	struct pollfd p[2] = { { .fd = fuse_session_fd(s->se), .events = POLLIN },
			       { .fd = s->stop_fd, .events = POLLIN } };
	bool stop;
	int r;

	for (;;) {
		stop = atomic_load(&s->stopping);
		if (stop && atomic_load(&s->stop_left) <= 0) {
			r = 0;
			break;
		}
		r = poll(p, stop ? 1 : 2, !stop ? -1 : serve_dirs_open(s) ? STOP_DIR_MS : 0);
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
		r = fuse_session_receive_buf(s->se, &buf);
		if (r == -EINTR || r == -EAGAIN) /* another worker took it */
			continue;
		if (r <= 0) { /* 0 or ENODEV: unmounted */
			r = r == -ENODEV ? 0 : r;
			break;
		}
		fuse_session_process_buf(s->se, &buf);
		if (stop)
			atomic_fetch_sub(&s->stop_left, 1);
	}
	free(buf.mem);
	w->r = r;
	if (eventfd_write(s->done_fd, 1) < 0)
		abort(); /* the calling thread would wait forever */
	return NULL;
}

int helper_serve(struct fuse_session *se, unsigned int workers, bool (*dirs_open)(void *userdata),
		 void (*stopping)(void *userdata), void *userdata)
{
	struct serve s = {
		.se = se, .dirs_open = dirs_open, .userdata = userdata, .stop_fd = -1, .done_fd = -1
	};
	struct pollfd p[2] = { { .fd = -1, .events = POLLIN }, { .fd = -1, .events = POLLIN } };
	struct worker *w = NULL;
	unsigned int i, started = 0;
	int r, fl;
	sigset_t mask;

	if (workers < 1 || workers > HELPER_SERVE_WORKERS_MAX)
		return -EINVAL;
	/* blocked before the workers start, so that they inherit it */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	r = pthread_sigmask(SIG_BLOCK, &mask, NULL);
	if (r != 0)
		return -r;
	signal(SIGPIPE, SIG_IGN);
	w = calloc(workers, sizeof(*w));
	if (!w) {
		r = -ENOMEM;
		goto out;
	}
	p[0].fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (p[0].fd < 0) {
		r = -errno;
		goto out;
	}
	s.stop_fd = eventfd(0, EFD_CLOEXEC);
	if (s.stop_fd < 0) {
		r = -errno;
		goto out;
	}
	s.done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s.done_fd < 0) {
		r = -errno;
		goto out;
	}
	p[1].fd = s.done_fd;
	fl = fcntl(fuse_session_fd(se), F_GETFL);
	if (fl < 0 || fcntl(fuse_session_fd(se), F_SETFL, fl | O_NONBLOCK) < 0) {
		r = -errno;
		goto out;
	}
	for (i = 0; i < workers; i++) {
		w[i].s = &s;
		r = -pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
		if (r < 0)
			break;
		started++;
	}
	/* a signal, or a worker that ended */
	while (r == 0 && poll(p, 2, -1) < 0) {
		if (errno != EINTR)
			r = -errno;
	}
	atomic_store(&s.stop_left, STOP_LEFT);
	atomic_store(&s.stopping, true);
	if (stopping)
		stopping(userdata);
	if (eventfd_write(s.stop_fd, 1) < 0)
		abort(); /* the workers would wait forever */
	for (i = 0; i < started; i++) {
		pthread_join(w[i].thread, NULL);
		if (w[i].r < 0 && r == 0)
			r = w[i].r;
	}
out:
	if (p[0].fd >= 0)
		close(p[0].fd);
	if (s.stop_fd >= 0)
		close(s.stop_fd);
	if (s.done_fd >= 0)
		close(s.done_fd);
	free(w);
	return r;
}
