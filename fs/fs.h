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
/*
 * Unmount and free, with every handle the kernel did not release. Free the
 * broker first: it completes the requests that handles are waiting for.
 */
struct snpd_fs *snpd_fs_free(struct snpd_fs *fs);

/*
 * Take the key profiles of a new configuration (call after it replaced the
 * old one). A profile keeps its inode while its name and settings stay the
 * same; a changed or new one gets an inode never used before, and handles
 * opened on a changed or removed profile fail with ESTALE. The kernel caches
 * no name that a reload can change (zero entry timeouts), so no name is
 * invalidated: that, from the loop thread, can deadlock against a lookup in
 * progress. It caches the attributes of the report's path (the root,
 * report, report.json, nonce/, evidence/) and of the nonce and evidence
 * names, which are invalidated here (inode attributes only, which takes no
 * lock a pending request holds); an open of a nonce or evidence name is
 * checked against the new configuration whatever the kernel still caches.
 */
void snpd_fs_reload(struct snpd_fs *fs);

/* Counters for the status file. */
struct snpd_fs_stats {
	u64 opens;
	u64 reads;
	u64 errors;
	u32 open_files;
	u32 nonce_inodes;
	u64 lookups;  /* LOOKUP requests */
	u64 getattrs; /* GETATTR requests */
	u64 releases; /* RELEASE requests */
	u64 forgets;  /* FORGET and BATCH_FORGET requests */
	u64 stored;   /* evidence answers stored into the page cache */
	u64 dropped;  /* of which dropped once their name's last descriptor closed */
};
void snpd_fs_get_stats(const struct snpd_fs *fs, struct snpd_fs_stats *ret);

#endif
