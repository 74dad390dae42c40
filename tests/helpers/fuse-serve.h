/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The request loop of the FUSE test helpers (tsm-fuse, held-file): see
 * fuse-serve.c for why they do not use libfuse's.
 */
#ifndef SNP_TESTS_FUSE_SERVE_H
#define SNP_TESTS_FUSE_SERVE_H

#include <stdbool.h>

struct fuse_session;

/* More is refused (-EINVAL): a test helper needs a few. */
#define HELPER_SERVE_WORKERS_MAX 64

/*
 * Serve @se with @workers threads, in place of fuse_loop()/fuse_loop_mt()
 * and libfuse's signal handlers, until SIGTERM, SIGINT or SIGHUP, an
 * unmount, or a worker's error; then answer what is already queued (see
 * fuse-serve.c). The request handlers run on the worker threads, never on
 * the caller's: with one worker they run one at a time, on one thread.
 *
 * @dirs_open: whether a directory is open and not yet released (the
 * helper counts its opendir and releasedir), asked by the workers while
 * stopping; NULL: never. @stopping: called once, on the calling thread,
 * when stopping begins (a held request's cue to go); NULL: nothing. Both
 * get @userdata.
 *
 * The signals stay blocked in the calling thread afterwards. Returns 0
 * (stopped by a signal, or unmounted) or a negative errno.
 */
int helper_serve(struct fuse_session *se, unsigned int workers, bool (*dirs_open)(void *userdata),
		 void (*stopping)(void *userdata), void *userdata);

#endif
