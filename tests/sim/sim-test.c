// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "lib/util.h"
#include "tests/sim/sim-test.h"

static const char *builddir(void)
{
	const char *b = getenv("SNP_TOP_BUILDDIR");

	return b && *b ? b : ".";
}

char *sim_test_template_dir(enum snp_product product)
{
	char *s = NULL;

	if (asprintf(&s, "%s/tests/sim/tmpl-" SIM_TEST_TEMPLATE_GEN "-%s", builddir(),
		     snp_product_name(product)) < 0)
		abort();
	return s;
}

static void die(const char *what, const char *err)
{
	fprintf(stderr, "sim-test: %s: %s\n", what, err);
	exit(99);
}

struct sim_state *sim_test_state(enum snp_product product)
{
	_cleanup_(freep) char *dir = sim_test_template_dir(product);
	_cleanup_(freep) char *lock = NULL;
	struct sim_state *st = NULL;
	struct sim_params p;
	char err[256] = "";
	int fd, r;

	if (asprintf(&lock, "%s.lock", dir) < 0)
		abort();
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) < 0)
		die(lock, strerror(errno));
	r = sim_state_load(dir, false, &st, err, sizeof(err));
	if (r == -ENOENT) {
		sim_params_default(&p, product);
		r = sim_state_create(dir, &p, true, &st, err, sizeof(err));
	}
	close(fd);
	if (r < 0)
		die(dir, err);
	/* detach from the directory: tests work in memory */
	free(st->dir);
	st->dir = NULL;
	if (sim_state_relaunch(st, err, sizeof(err)) < 0)
		die("relaunch", err);
	return st;
}

struct sim_platform *sim_test_platform(struct sim_state *st, u32 vmpck_id, const char *faults)
{
	struct sim_open_opts o = {
		.vmpck_id = vmpck_id,
		.retry_interval_ms = 1,
		.retry_timeout_ms = 50,
		.faults = faults,
	};
	struct sim_platform *p = NULL;
	char err[256] = "";

	if (sim_platform_open(NULL, st, &o, &p, err, sizeof(err)) < 0)
		die("platform", err);
	return p;
}
