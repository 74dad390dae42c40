// SPDX-License-Identifier: Apache-2.0
/*
 * The sev-guest backend: the Linux guest driver's /dev/sev-guest ioctls
 * (SNP_GET_REPORT, SNP_GET_EXT_REPORT, SNP_GET_DERIVED_KEY). Works the same
 * over the LD_PRELOAD simulator (sim/libsnp-preload.so).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "backend/backend.h"
#include "kernel/snp-uapi.h"

#define SEVGUEST_DEFAULT_PATH "/dev/sev-guest"

struct sevguest {
	int fd;
};

/*
 * One ioctl. Linux's driver can return a positive value with errno
 * untouched: when the hypervisor refuses the guest request's exit
 * (SW_EXITINFO1[31:0] != 0), snp_issue_guest_request() hands up the GHCB
 * call's enum es_result (ES_VMM_ERROR 2, ES_EXCEPTION 4) unmapped, and
 * snp_guest_ioctl() returns it after writing exitinfo2 back; the response
 * was never written. That value is passed on as it is, never read as
 * success or as a stale errno (snp_backend_ioctl_fn in backend.h).
 */
static int sevguest_ioctl(void *ctx, unsigned int cmd, struct snp_ioc_guest_request *arg)
{
	struct sevguest *s = ctx;
	int r;

	for (;;) {
		r = ioctl(s->fd, cmd, arg);
		if (r >= 0)
			return r;
		if (errno != EINTR)
			return -errno;
	}
}

static int sevguest_open(const char *config, void **ret_ctx, char *err, size_t errlen)
{
	const char *path = config ? config : SEVGUEST_DEFAULT_PATH;
	struct sevguest *s;
	int fd;

	fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int r = -errno;

		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return r;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		return -ENOMEM;
	}
	s->fd = fd;
	*ret_ctx = s;
	return 0;
}

static void sevguest_close(void *ctx)
{
	struct sevguest *s = ctx;

	if (!s)
		return;
	close(s->fd);
	free(s);
}

static int sevguest_probe(const char *config)
{
	int fd = open(config ? config : SEVGUEST_DEFAULT_PATH, O_RDWR | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static int sevguest_get_report(void *ctx, const struct snp_backend_report_req *req,
			       struct snp_backend_report *ret, struct snp_backend_error *e)
{
	return snp_backend_ioctl_report(sevguest_ioctl, ctx, req, ret, e);
}

static int sevguest_get_key(void *ctx, const struct snp_backend_key_req *req,
			    u8 key[SNP_DERIVED_KEY_LEN], struct snp_backend_error *e)
{
	return snp_backend_ioctl_key(sevguest_ioctl, ctx, req, key, e);
}

const struct snp_backend_ops snp_backend_sevguest = {
	.name = "sev-guest",
	.help = "sev-guest[:PATH]  Linux /dev/sev-guest ioctls (default " SEVGUEST_DEFAULT_PATH ")",
	.caps = SNP_BACKEND_CAP_REPORT | SNP_BACKEND_CAP_CERTS | SNP_BACKEND_CAP_DERIVED_KEY |
		SNP_BACKEND_CAP_VMPL,
	.open = sevguest_open,
	.close = sevguest_close,
	.probe = sevguest_probe,
	.get_report = sevguest_get_report,
	.get_derived_key = sevguest_get_key,
};
