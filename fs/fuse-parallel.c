// SPDX-License-Identifier: Apache-2.0
/*
 * Parallel lookups. Unless the INIT reply carries FUSE_PARALLEL_DIROPS,
 * the kernel holds a mutex of the directory around each LOOKUP (and
 * READDIR) in it (fuse_lock_inode()): the LOOKUPs of evidence/<hex>
 * names go one at a time, each a round trip to the server, and behind a
 * server busy answering a batch every other reader queues on that mutex
 * (at 1,000 evidence readers, 637 were waiting there and 363 in snpd).
 * libfuse before 3.17 never passes the flag on, whatever `want` says
 * (Debian 12 has 3.14, which puts it in `want` by default to no effect;
 * libfuse pull request 861); from 3.17 on it passes it when the file
 * system asks for it (pull request 880). So the file system asks
 * (snpd_fuse_want_parallel(), which is what counts from 3.17 on) and,
 * when it asked and the kernel offered the flag, the flag is set in the
 * INIT reply on its way out (io_writev(), what counts before 3.17).
 *
 * The server must then take concurrent LOOKUPs and READDIRs of one
 * directory: snpd's loop and evidence-floor's answer one request at a
 * time whatever the kernel sends, so nothing changes for them.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/fuse.h>

#include "fs/fuse-parallel.h"

/* the kernel's INIT, until it is answered */
static uint64_t init_unique;
static bool init_parallel; /* the kernel offered FUSE_PARALLEL_DIROPS */
static bool asked;	   /* the file system wants it (its init operation) */
static bool init_done;	   /* INIT answered: nothing more to look at */

void snpd_fuse_want_parallel(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	asked = conn->capable & FUSE_CAP_PARALLEL_DIROPS;
	if (asked)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
}

/* The @len bytes at @off of the message in @iov; NULL unless all in one piece. */
static uint8_t *iov_at(const struct iovec *iov, int count, size_t off, size_t len)
{
	for (int i = 0; i < count; i++) {
		if (off < iov[i].iov_len)
			return iov[i].iov_len - off >= len ? (uint8_t *)iov[i].iov_base + off :
							     NULL;
		off -= iov[i].iov_len;
	}
	return NULL;
}

/* libfuse reads the kernel's requests through this: the INIT's are noted. */
static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
	struct fuse_in_header in;
	ssize_t n = read(fd, buf, len);
	uint32_t flags;

	(void)userdata;
	/* struct fuse_init_in: major, minor, max_readahead, flags */
	if (init_done || n < (ssize_t)(sizeof(in) + 4 * sizeof(uint32_t)))
		return n;
	memcpy(&in, buf, sizeof(in));
	if (in.opcode == FUSE_INIT) {
		memcpy(&flags, (const uint8_t *)buf + sizeof(in) + 3 * sizeof(uint32_t),
		       sizeof(flags));
		init_unique = in.unique;
		init_parallel = flags & FUSE_PARALLEL_DIROPS;
	}
	return n;
}

/* libfuse writes its replies and notifications through this. */
static ssize_t io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct fuse_out_header oh;
	uint32_t flags;
	uint8_t *p;

	(void)userdata;
	if (init_done || !init_unique || count < 1 || iov[0].iov_len < sizeof(oh))
		return writev(fd, iov, count);
	memcpy(&oh, iov[0].iov_base, sizeof(oh));
	if (oh.unique == init_unique) {
		init_done = true;
		/* struct fuse_init_out: major, minor, max_readahead, flags */
		p = iov_at(iov, count, sizeof(oh) + 3 * sizeof(uint32_t), sizeof(flags));
		if (!oh.error && asked && init_parallel && p) {
			memcpy(&flags, p, sizeof(flags));
			flags |= FUSE_PARALLEL_DIROPS;
			memcpy(p, &flags, sizeof(flags));
		}
	}
	return writev(fd, iov, count);
}

int snpd_fuse_parallel_io(struct fuse_session *se, int fd)
{
	static const struct fuse_custom_io io = { .read = io_read, .writev = io_writev };
	int r;

	/*
	 * libfuse keeps the connection's fd and reads and writes it through
	 * these from now on (fuse_session_custom_io() takes an fd that is
	 * already the session's as well as one it mounted itself).
	 */
	r = fuse_session_custom_io(se, &io, fd);
	return r > 0 ? -r : r;
}
