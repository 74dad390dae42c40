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
 * already queued (helper_serve(), fuse-serve.c), unmounts and exits 0; so
 * does an unmount (0). Any other exit status is an error the tests report
 * (snpd_harness.HeldFile.stop()).
 */
#define FUSE_USE_VERSION 31

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/helpers/fuse-serve.h"

#define HOLD_MAX_MS 120000
#define WORKERS	    10 /* fuse_loop_mt()'s default thread limit, which this replaces */

static const char *source, *hold;
static atomic_uint held_opens; /* N of the markers */
static atomic_uint open_dirs;  /* directories opened and not yet released */
static atomic_bool stopping;   /* a signal came: held opens go */

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

/* Counted only, for helper_serve(): libfuse keeps the handle itself. */
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

/* for helper_serve() */
static bool held_dirs_open(void *userdata)
{
	(void)userdata;
	return atomic_load(&open_dirs) > 0;
}

static void held_stopping(void *userdata)
{
	(void)userdata;
	atomic_store(&stopping, true);
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
	r = helper_serve(fuse_get_session(f), WORKERS, held_dirs_open, held_stopping, NULL);
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
