// SPDX-License-Identifier: Apache-2.0
/*
 * Reports signed ahead for the device-time model of benchmarks. A real
 * PSP signs on its own processor; the simulator signs on the CPU the
 * daemon runs on, so under load a benchmark would measure the two fighting
 * for it. With a pool, the firmware still builds every report as usual and
 * only takes the signature from a report that was signed ahead for the
 * same signed bytes (sim_fw_make_report()), which keeps each report
 * genuine and bound to the REPORT_DATA of its request.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"
#include "sim/sim.h"

struct sim_presigned {
	size_t n;
	struct snp_report *r; /* sorted by REPORT_DATA */
};

static int cmp_report(const void *a, const void *b)
{
	const struct snp_report *x = a, *y = b;

	return memcmp(x->report_data, y->report_data, SNP_REPORT_DATA_SIZE);
}

struct sim_presigned *sim_presigned_free(struct sim_presigned *ps)
{
	if (!ps)
		return NULL;
	free(ps->r);
	free(ps);
	return NULL;
}

int sim_presigned_load(const char *path, struct sim_presigned **ret, char *err, size_t errlen)
{
	struct sim_presigned *ps = NULL;
	size_t have = 0, len;
	struct stat sb;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &sb) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot stat %s: %s", path, strerror(-r));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size <= 0 || sb.st_size % SNP_REPORT_SIZE ||
	    sb.st_size / SNP_REPORT_SIZE > SIM_PRESIGNED_MAX) {
		r = -EINVAL;
		snprintf(err, errlen, "%s: not 1 to %d whole reports of %d bytes", path,
			 SIM_PRESIGNED_MAX, SNP_REPORT_SIZE);
		goto fail;
	}
	len = (size_t)sb.st_size;
	ps = calloc(1, sizeof(*ps));
	if (ps)
		ps->r = malloc(len);
	if (!ps || !ps->r) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	while (have < len) {
		ssize_t k = read(fd, (u8 *)ps->r + have, len - have);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			r = k < 0 ? -errno : -EIO;
			snprintf(err, errlen, "cannot read %s: %s", path, strerror(-r));
			goto fail;
		}
		have += (size_t)k;
	}
	close(fd);
	ps->n = len / SNP_REPORT_SIZE;
	qsort(ps->r, ps->n, sizeof(*ps->r), cmp_report);
	*ret = ps;
	return 0;
fail:
	close(fd);
	sim_presigned_free(ps);
	return r;
}

const struct snp_ecdsa_sig *sim_presigned_find(const struct sim_presigned *ps,
					       const struct snp_report *r)
{
	const struct snp_report *lo, *hi;

	if (!ps || !r)
		return NULL;
	/* every entry with this REPORT_DATA: the one whose signed part is equal */
	lo = bsearch(r, ps->r, ps->n, sizeof(*ps->r), cmp_report);
	if (!lo)
		return NULL;
	while (lo > ps->r && !cmp_report(lo - 1, r))
		lo--;
	for (hi = lo; hi < ps->r + ps->n && !cmp_report(hi, r); hi++)
		if (!memcmp(hi, r, SNP_REPORT_SIGNED_LEN))
			return &hi->signature;
	return NULL;
}
