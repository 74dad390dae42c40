/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CHECK() for the unit tests in plain C (no cmocka): one line per check,
 * "ok" or "FAIL" and what was checked; failures counts the FAILs for the
 * exit status. One translation unit per test program.
 */
#ifndef SNP_TESTS_UNIT_CHECK_H
#define SNP_TESTS_UNIT_CHECK_H

#include <stdbool.h>
#include <stdio.h>

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

#endif
