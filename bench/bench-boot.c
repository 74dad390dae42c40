// SPDX-License-Identifier: Apache-2.0
/*
 * bench-boot [REPEAT]
 *
 * Boot cost of the simulated SNP guest (kernel/snp-sev.c on sim/machine.c):
 * pre-validation of all RAM against lazy acceptance, for 1, 4 and 16 GiB
 * guests, lazy with 64 and 256 MiB touched. For each: validation work
 * (4K pages validated, PVALIDATE instructions, page state change entries
 * and exits, #VC) and wall time (best of REPEAT runs, boot + run phase),
 * and the lazy/pre ratio of each. Lazy figures should follow the touched
 * memory, not the RAM size. Prints figures; never fails on speed.
 */
#include <stdio.h>
#include <stdlib.h>

#include "lib/util.h"
#include "sim/boot.h"

struct row {
	struct sim_boot_result res;
	double best_ms;
};

static int measure(struct row *row, enum snp_accept_mode mode, u64 ram_mib, u64 touch_mib,
		   unsigned int repeat)
{
	struct sim_boot_opts o = { .memory_mib = ram_mib, .mode = mode, .touch_mib = touch_mib };

	row->best_ms = -1;
	for (unsigned int i = 0; i < repeat; i++) {
		struct sim_boot_result res;
		double ms;

		if (sim_boot(&o, NULL, &res) != 0) {
			fprintf(stderr, "bench-boot: boot of %llu MiB failed: %s\n",
				(unsigned long long)ram_mib, res.exit.why);
			return -1;
		}
		ms = res.boot_ms + res.run_ms;
		if (row->best_ms < 0 || ms < row->best_ms) {
			row->best_ms = ms;
			row->res = res;
		}
	}
	return 0;
}

static void print_row(const char *name, const struct row *r)
{
	const struct snp_sev_stats *g = &r->res.guest;

	printf("    %-4s boot %8.2f ms  run %8.2f ms  %8llu pages validated  %5llu PVALIDATE  "
	       "%5llu PSC entries in %4llu exits  %4llu #VC\n",
	       name, r->res.boot_ms, r->res.run_ms, (unsigned long long)g->pages_validated,
	       (unsigned long long)(g->pvalidate_2m + g->pvalidate_4k),
	       (unsigned long long)g->psc_entries, (unsigned long long)g->psc_exits,
	       (unsigned long long)g->vc_not_validated);
}

int main(int argc, char **argv)
{
	static const u64 sizes[] = { 1024, 4096, 16384 };
	static const u64 touches[] = { 64, 256 };
	unsigned int repeat = 3;
	u32 v;

	if (argc > 1) {
		if (snp_parse_u32_max(argv[1], 1000, &v) < 0 || v == 0) {
			fprintf(stderr, "usage: bench-boot [REPEAT]\n");
			return 2;
		}
		repeat = v;
	}
	printf("bench-boot: simulated SNP guest, pre-validation vs lazy acceptance (best of %u).\n"
	       "  boot: snp_sev_boot(); run: the workload writes one word in every page of the\n"
	       "  touched memory (same work in both modes, plus acceptance in lazy mode)\n",
	       repeat);
	for (size_t s = 0; s < SNP_ELEMENTSOF(sizes); s++) {
		for (size_t t = 0; t < SNP_ELEMENTSOF(touches); t++) {
			struct row pre, lazy;

			if (measure(&pre, SNP_ACCEPT_EAGER, sizes[s], touches[t], repeat) < 0 ||
			    measure(&lazy, SNP_ACCEPT_LAZY, sizes[s], touches[t], repeat) < 0)
				return 1;
			printf("  RAM %5llu MiB, %3llu MiB touched\n", (unsigned long long)sizes[s],
			       (unsigned long long)touches[t]);
			print_row("pre", &pre);
			print_row("lazy", &lazy);
			printf("    lazy/pre: pages validated %.4fx, boot %.4fx, boot+run %.3fx\n",
			       (double)lazy.res.guest.pages_validated /
				       (double)pre.res.guest.pages_validated,
			       lazy.res.boot_ms / pre.res.boot_ms, lazy.best_ms / pre.best_ms);
		}
	}
	return 0;
}
