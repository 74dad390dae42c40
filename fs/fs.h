/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The FUSE view (libfuse3 low-level API), driven by the daemon's sd-event
 * loop. Every file that needs the device is answered asynchronously: the
 * read is parked until the broker's worker completes.
 */
#ifndef SNPD_FS_H
#define SNPD_FS_H

#include "daemon/snpd.h"

struct snpd_fs;

/*
 * Clear a stale mount at the configured mountpoint, mount the view and
 * attach it to the event loop. Returns 0 or a negative errno (logged).
 */
int snpd_fs_new(struct snpd *d, struct snpd_fs **ret);
/*
 * Only clear a dead mount at @mp that a crashed instance left (a live one
 * is refused with -EBUSY) and make sure @mp is a directory.
 */
int snpd_fs_clear_stale_mount(const char *mp);
/* Unmount and free. */
struct snpd_fs *snpd_fs_free(struct snpd_fs *fs);

/*
 * Tell the kernel to drop cached attributes and names after a reload
 * changed owners, modes, key profiles or the view: call with the old
 * configuration before it is replaced (its key names), then again after.
 */
void snpd_fs_invalidate(struct snpd_fs *fs);

/* Counters for the status file. */
struct snpd_fs_stats {
	u64 opens;
	u64 reads;
	u64 errors;
	u32 open_files;
	u32 nonce_inodes;
};
void snpd_fs_get_stats(const struct snpd_fs *fs, struct snpd_fs_stats *ret);

#endif
