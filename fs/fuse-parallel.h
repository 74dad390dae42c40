/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SNPD_FS_FUSE_PARALLEL_H
#define SNPD_FS_FUSE_PARALLEL_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 34
#endif
#include <fuse_lowlevel.h>

/*
 * Parallel lookups on a libfuse session (fs/fuse-parallel.c):
 * snpd_fuse_want_parallel() is the session's init operation, and
 * snpd_fuse_parallel_io() once the session has its connection (after
 * fuse_session_mount()), before the first request is read. One session
 * per process. Returns 0 or a negative errno (lookups then stay serial).
 */
void snpd_fuse_want_parallel(void *userdata, struct fuse_conn_info *conn);
int snpd_fuse_parallel_io(struct fuse_session *se, int fd);

#endif
