// SPDX-License-Identifier: Apache-2.0
/*
 * bench-sim [STATE_DIR] [N]
 *
 * Throughput of the simulated platform through the kernel/ guest driver,
 * in process: reports/s and derived keys/s, with the share of a report's
 * time spent in the ECDSA P-384 signature; then the same through a state
 * directory (flock + counter persistence per request, as snpctl and the
 * LD_PRELOAD library use it). Prints figures; never fails on speed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/util.h"
#include "sim/sim.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run(struct sim_platform *p, unsigned int cmd, int n)
{
	struct snp_ioc_report_req rreq = { 0 };
	struct snp_ioc_derived_key_req kreq = { .guest_field_select = SNP_GFS_MEASUREMENT };
	static struct snp_ioc_report_resp resp;
	struct snp_ioc_guest_request g = { .msg_version = 1 };
	int r;

	for (int i = 0; i < n; i++) {
		g.req_data =
			cmd == SNP_IOC_GET_REPORT ? (u64)(uintptr_t)&rreq : (u64)(uintptr_t)&kreq;
		g.resp_data = (u64)(uintptr_t)&resp;
		rreq.user_data[0] = (u8)i;
		r = sim_platform_ioctl(p, cmd, &g);
		if (r < 0 || snp_get_le32(resp.data) != 0) {
			fprintf(stderr, "bench-sim: request %d failed: %s\n", i, strerror(-r));
			return -1;
		}
	}
	return 0;
}

static void row(const char *what, int n, double secs)
{
	printf("  %-44s %8.0f /s  (%7.1f us each, n=%d)\n", what, n / secs, secs / n * 1e6, n);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : getenv("SNP_SIM_DIR");
	int n = argc > 2 ? atoi(argv[2]) : 2000;
	struct sim_state *st = NULL;
	struct sim_platform *p = NULL;
	struct sim_params prm;
	struct snp_report rep;
	struct snp_ecdsa_sig sig;
	char err[256] = "";
	double t0, t_rep, t_key, t_sig;
	int r;

	if (n <= 0 || n > 10000000)
		n = 2000;
	if (dir && *dir) {
		r = sim_state_load(dir, true, &st, err, sizeof(err));
	} else {
		sim_params_default(&prm, SNP_PRODUCT_MILAN);
		r = sim_state_create(NULL, &prm, false, &st, err, sizeof(err));
	}
	if (r < 0) {
		fprintf(stderr, "bench-sim: %s\n", err);
		return 0;
	}
	/* detach: the in-memory path first */
	char *saved_dir = st->dir;

	st->dir = NULL;
	if (sim_platform_open(NULL, st, NULL, &p, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench-sim: %s\n", err);
		return 0;
	}
	printf("bench-sim: simulated %s, in-process guest driver (OpenSSL %s)\n",
	       snp_product_name(st->params.product), OPENSSL_VERSION_TEXT);

	run(p, SNP_IOC_GET_REPORT, 50); /* warm up */
	t0 = now();
	if (run(p, SNP_IOC_GET_REPORT, n) < 0)
		return 0;
	t_rep = now() - t0;
	t0 = now();
	if (run(p, SNP_IOC_GET_DERIVED_KEY, n) < 0)
		return 0;
	t_key = now() - t0;
	memset(&rep, 0, sizeof(rep));
	t0 = now();
	for (int i = 0; i < n; i++)
		sim_sign_report(st->vcek_key, (const u8 *)&rep, SNP_REPORT_SIGNED_LEN, &sig);
	t_sig = now() - t0;

	row("reports (SNP_GET_REPORT, signed)", n, t_rep);
	row("derived keys (SNP_GET_DERIVED_KEY)", n, t_key);
	row("ECDSA P-384 signatures alone", n, t_sig);
	printf("  share of a report's time in the P-384 signature: %.0f %%\n",
	       100.0 * t_sig / t_rep);
	printf("  everything else per report (AES-GCM x4, copies, checks): %.1f us\n",
	       (t_rep - t_sig) / n * 1e6);
	sim_platform_free(p);
	p = NULL;
	st->dir = saved_dir;

	if (st->dir) {
		int m = n / 4 > 0 ? n / 4 : 1;

		sim_state_free(st);
		st = NULL;
		if (sim_platform_open(dir, NULL, NULL, &p, err, sizeof(err)) < 0) {
			fprintf(stderr, "bench-sim: %s\n", err);
			return 0;
		}
		t0 = now();
		if (run(p, SNP_IOC_GET_REPORT, m) < 0)
			return 0;
		t_rep = now() - t0;
		t0 = now();
		if (run(p, SNP_IOC_GET_DERIVED_KEY, m) < 0)
			return 0;
		t_key = now() - t0;
		printf("bench-sim: through the state directory %s (lock + persist per request)\n",
		       dir);
		row("reports", m, t_rep);
		row("derived keys", m, t_key);
		sim_platform_free(p);
	}
	sim_state_free(st);
	return 0;
}
