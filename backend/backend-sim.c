// SPDX-License-Identifier: Apache-2.0
/*
 * The sim backend: the kernel/ guest driver over the simulated platform,
 * in process. "sim:DIR" uses (and on first use creates) the state
 * directory DIR; plain "sim" takes it from $SNP_SIM_DIR.
 *
 * Environment: SNP_SIM_FAULTS (fault injection, see sim/sim.h),
 * SNP_SIM_VMPCK (0..3, the VMPCK the guest uses; default 0).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "lib/util.h"
#include "sim/sim.h"

static int sim_ioctl(void *ctx, unsigned int cmd, struct snp_ioc_guest_request *arg)
{
	return sim_platform_ioctl(ctx, cmd, arg);
}

static const char *sim_dir(const char *config)
{
	if (config)
		return config;
	return getenv("SNP_SIM_DIR");
}

static int sim_open(const char *config, void **ret_ctx, char *err, size_t errlen)
{
	struct sim_open_opts opts = { .create = true, .faults_from_env = true };
	const char *dir = sim_dir(config);
	struct sim_platform *p;
	int r;

	if (!dir || !*dir) {
		snprintf(err, errlen,
			 "the sim backend needs a state directory: --backend=sim:DIR "
			 "or SNP_SIM_DIR");
		return -EINVAL;
	}
	r = sim_open_opts_from_env(&opts, err, errlen);
	if (r < 0)
		return r;
	r = sim_platform_open(dir, NULL, &opts, &p, err, errlen);
	if (r < 0)
		return r;
	*ret_ctx = p;
	return 0;
}

static void sim_close(void *ctx)
{
	sim_platform_free(ctx);
}

static int sim_probe(const char *config)
{
	const char *dir = sim_dir(config);

	return dir && *dir ? 0 : -ENOENT;
}

static int sim_get_report(void *ctx, const struct snp_backend_report_req *req,
			  struct snp_backend_report *ret, struct snp_backend_error *e)
{
	return snp_backend_ioctl_report(sim_ioctl, ctx, req, ret, e);
}

static int sim_get_key(void *ctx, const struct snp_backend_key_req *req,
		       u8 key[SNP_DERIVED_KEY_LEN], struct snp_backend_error *e)
{
	return snp_backend_ioctl_key(sim_ioctl, ctx, req, key, e);
}

const struct snp_backend_ops snp_backend_sim = {
	.name = "sim",
	.help = "sim[:DIR]  the simulated SEV-SNP platform in process (state in DIR or $SNP_SIM_DIR)",
	.caps = SNP_BACKEND_CAP_REPORT | SNP_BACKEND_CAP_CERTS | SNP_BACKEND_CAP_DERIVED_KEY |
		SNP_BACKEND_CAP_VMPL,
	.open = sim_open,
	.close = sim_close,
	.probe = sim_probe,
	.get_report = sim_get_report,
	.get_derived_key = sim_get_key,
};
