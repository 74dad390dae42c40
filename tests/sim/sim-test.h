/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the simulator tests: a per-product template state
 * (generated once per build tree under a lock, since RSA-4096 key
 * generation takes seconds) loaded as an in-memory state, and a platform
 * around it.
 */
#ifndef SNP_TESTS_SIM_TEST_H
#define SNP_TESTS_SIM_TEST_H

#include "sim/sim.h"

/*
 * Generation of the template states: bumped whenever the simulator's
 * identity changes shape, so that a build tree never reuses an old one
 * (tests/sim/sim-lib.sh uses the same name).
 */
#define SIM_TEST_TEMPLATE_GEN "2"

/* Template directory of @product in the build tree (new string). */
char *sim_test_template_dir(enum snp_product product);
/*
 * A fresh in-memory state: the template's identity, new launch secrets,
 * counters at zero. Aborts the test program on failure.
 */
struct sim_state *sim_test_state(enum snp_product product);
/* A platform (in memory, short BUSY backoff) around @st; aborts on failure. */
struct sim_platform *sim_test_platform(struct sim_state *st, u32 vmpck_id, const char *faults);

#endif
