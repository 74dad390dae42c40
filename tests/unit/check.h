/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CHECK() for the unit tests in plain C (no cmocka): one line per check,
 * "ok" or "FAIL" and what was checked; failures counts the FAILs for the
 * exit status. One translation unit per test program.
 */
#ifndef SNP_TESTS_UNIT_CHECK_H
#define SNP_TESTS_UNIT_CHECK_H

#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static int failures;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		bool ok_ = (cond);                                                                 \
		printf("%s ", ok_ ? "ok  " : "FAIL");                                              \
		printf(__VA_ARGS__);                                                               \
		printf("\n");                                                                      \
		if (!ok_)                                                                          \
			failures++;                                                                \
	} while (0)

/*
 * A new directory @name.XXXXXX under $TMPDIR (else libc's P_tmpdir) into
 * @buf. False, with the reason on stderr, if it does not fit or cannot be
 * made.
 */
static inline bool check_mkdtemp(char *buf, size_t size, const char *name)
{
	const char *tmp = getenv("TMPDIR");
	int n = snprintf(buf, size, "%s/%s.XXXXXX", tmp && *tmp ? tmp : P_tmpdir, name);

	if (n < 0 || (size_t)n >= size) {
		fprintf(stderr, "the temporary directory's name is too long\n");
		return false;
	}
	if (!mkdtemp(buf)) {
		perror(buf);
		return false;
	}
	return true;
}

static inline int check_rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (remove(path) < 0)
		perror(path);
	return 0;
}

/* Remove @dir and everything under it (a test's check_mkdtemp()). */
static inline void check_rmtree(const char *dir)
{
	/* not into what may be mounted below: only the test's own files */
	if (nftw(dir, check_rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
		perror(dir);
}

#endif
