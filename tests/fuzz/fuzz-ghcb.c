// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: a hostile hypervisor. The fuzz input decides how every
 * answer of the simulated hypervisor is changed (MSR-protocol responses,
 * NAE results, the page state change descriptor) and when a validated page
 * loses its Validated bit. The guest's memory-validation code must never
 * crash, never hang, and never validate a page twice: a boot either
 * completes, or the guest terminates, or the hypervisor stops it. Some
 * inputs also ask for an attestation report through the guest's GHCB, so
 * that hostile answers reach the guest-request driver too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim/boot.h"
#include "sim/sim.h"

/* One simulated chip for the whole run (RSA key generation is slow). */
static struct sim_state *chip(void)
{
	static struct sim_state *st;
	struct sim_params p;
	char err[256];

	if (!st) {
		sim_params_default(&p, SNP_PRODUCT_GENOA);
		if (sim_state_create(NULL, &p, false, &st, err, sizeof(err)) < 0)
			abort();
	}
	return st;
}

struct input {
	const uint8_t *data;
	size_t len, off;
};

static size_t take(void *ud, void *buf, size_t len)
{
	struct input *in = ud;

	if (in->len - in->off < len)
		return 0;
	memcpy(buf, in->data + in->off, len);
	in->off += len;
	return len;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Make the chip before the first input: its RSA-4096 keys take seconds
 * under a sanitizer, which libFuzzer would otherwise report as a slow unit.
 */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	chip();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size, 0 };
	struct sim_boot_opts o = { .memory_mib = 16, .touch_mib = 8 };
	struct sim_boot_result res;
	uint8_t mode = 0;

	if (size < 1)
		return 0;
	take(&in, &mode, 1);
	o.mode = mode & 1 ? SNP_ACCEPT_LAZY : SNP_ACCEPT_EAGER;
	o.psc_4k_only = mode & 2;
	o.psc_max_entries = (mode >> 2) & 7;
	if (mode & 0x20) {
		o.state = chip();
		o.retry_interval_ms = 1;
		o.retry_timeout_ms = 5;
	}
	o.mutator = take;
	o.mutator_arg = &in;
	if (sim_boot(&o, NULL, &res) < 0)
		abort();
	if (res.pages_twice)
		abort(); /* a page validated twice: the guest accepted a replay */
	return 0;
}
