// SPDX-License-Identifier: Apache-2.0
/*
 * snpctl sim init     [--dir D] [--force] [--product P] [--report-version N] [--PARAM VALUE...]
 * snpctl sim relaunch [--dir D]
 * snpctl sim show     [--dir D]
 * snpctl sim faults   [--dir D] SPEC|none
 * snpctl sim boot     --memory MIB --validation pre|lazy ... (cmd-sim-boot.c)
 *
 * Manage the simulated SEV-SNP platform's state directory (default
 * $SNP_SIM_DIR). Every launch parameter of sim/params.c is an option of
 * init: --policy, --measurement, --host-data, --family-id, --image-id,
 * --id-key-digest, --author-key-digest, --guest-svn, --tcb, --current-tcb,
 * --fw-version, --vlek, --mask-chip-key, ... Numbers (policy, TCBs,
 * platform info) are hex; byte strings are hex.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/snpctl.h"
#include "lib/log.h"
#include "lib/util.h"
#include "sim/sim.h"

/* Parameters given as numbers are hex on the command line. */
static bool param_is_hex_number(const char *name)
{
	static const char *const hex[] = { "policy",
					   "tcb",
					   "current_tcb",
					   "committed_tcb",
					   "launch_tcb",
					   "reported_tcb",
					   "platform_info",
					   "launch_mit_vector",
					   "current_mit_vector" };

	for (size_t i = 0; i < SNP_ELEMENTSOF(hex); i++)
		if (strcmp(name, hex[i]) == 0)
			return true;
	return false;
}

static void sim_usage(FILE *f)
{
	fprintf(f,
		"Usage: snpctl sim init [--dir D] [--force] [--PARAM VALUE...]\n"
		"       snpctl sim relaunch [--dir D]\n"
		"       snpctl sim show [--dir D]\n"
		"       snpctl sim faults [--dir D] SPEC|none\n"
		"       snpctl sim boot [--memory MIB] [--validation pre|lazy] [--touch MIB]\n"
		"                       [--attack NAME] [--json]   (see snpctl sim boot --help)\n\n"
		"The directory defaults to $SNP_SIM_DIR. Parameters of init (HEXNUM: hex,\n"
		"with or without 0x; other numbers are decimal):\n");
	for (size_t i = 0; sim_param_names[i]; i++) {
		char opt[64];

		snprintf(opt, sizeof(opt), "%s", sim_param_names[i]);
		for (char *c = opt; *c; c++)
			if (*c == '_')
				*c = '-';
		fprintf(f, "  --%-22s %s%s\n", opt, sim_param_help(sim_param_names[i]),
			param_is_hex_number(sim_param_names[i]) ? " (HEXNUM)" : "");
	}
	fprintf(f, "\nFault SPEC: comma list of after=N busy=N certs_small=N certs_pages=P\n"
		   "  fw_error=N fw_error_code=C replay=N tamper=N tamper_bit=B drop=N "
		   "delay_ms=MS\n  refuse_exit=N refuse_info2=V\n");
}

static const char *default_dir(const char *dir)
{
	if (dir)
		return dir;
	dir = getenv("SNP_SIM_DIR");
	if (!dir || !*dir) {
		log_error("No state directory: use --dir D or set SNP_SIM_DIR");
		return NULL;
	}
	return dir;
}

static int sim_init(int argc, char **argv)
{
	size_t nparams = 0;
	struct option *opts;
	struct sim_params p;
	struct sim_state *st = NULL;
	const char *dir = NULL;
	char *names[64][2];
	size_t nset = 0;
	bool force = false;
	char err[SNP_ERRBUF] = "";
	int c, idx, r, ret = SNPCTL_EXIT_USAGE;
	enum snp_product product = SNP_PRODUCT_MILAN;

	while (sim_param_names[nparams])
		nparams++;
	opts = calloc(nparams + 4, sizeof(*opts));
	if (!opts)
		return SNPCTL_EXIT_USAGE;
	for (size_t i = 0; i < nparams; i++) {
		char *n = strdup(sim_param_names[i]);

		if (!n)
			goto out;
		for (char *ch = n; *ch; ch++)
			if (*ch == '_')
				*ch = '-';
		opts[i] = (struct option){ n, required_argument, NULL, 0x200 + (int)i };
	}
	opts[nparams] = (struct option){ "dir", required_argument, NULL, 'd' };
	opts[nparams + 1] = (struct option){ "force", no_argument, NULL, 'f' };
	opts[nparams + 2] = (struct option){ "help", no_argument, NULL, 'h' };

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, &idx)) >= 0) {
		if (c == 'h') {
			sim_usage(stdout);
			ret = SNPCTL_EXIT_OK;
			goto out;
		} else if (c == 'd') {
			dir = optarg;
		} else if (c == 'f') {
			force = true;
		} else if (c >= 0x200 && c < 0x200 + (int)nparams) {
			const char *name = sim_param_names[c - 0x200];

			if (nset == SNP_ELEMENTSOF(names)) {
				log_error("Too many parameters");
				goto out;
			}
			names[nset][0] = (char *)name;
			if (param_is_hex_number(name) && strncmp(optarg, "0x", 2) != 0 &&
			    strncmp(optarg, "0X", 2) != 0) {
				if (asprintf(&names[nset][1], "0x%s", optarg) < 0)
					goto out;
			} else {
				names[nset][1] = strdup(optarg);
				if (!names[nset][1])
					goto out;
			}
			nset++;
			if (strcmp(name, "product") == 0 &&
			    (snp_product_from_string(optarg, &product) < 0 ||
			     product == SNP_PRODUCT_UNKNOWN || product == SNP_PRODUCT_VENICE)) {
				log_error("--product: expected Milan, Genoa or Turin, not '%s'",
					  optarg);
				goto out;
			}
		} else {
			sim_usage(stderr);
			goto out;
		}
	}
	if (optind < argc) {
		log_error("Unexpected argument '%s'", argv[optind]);
		goto out;
	}
	dir = default_dir(dir);
	if (!dir)
		goto out;

	/* the product first: it decides the defaults */
	sim_params_default(&p, product);
	for (size_t i = 0; i < nset; i++) {
		r = sim_params_set(&p, names[i][0], names[i][1]);
		if (r < 0) {
			log_error("--%s: bad value '%s' (%s)", names[i][0], names[i][1],
				  sim_param_help(names[i][0]));
			goto out;
		}
	}
	r = sim_state_create(dir, &p, force, &st, err, sizeof(err));
	if (r < 0) {
		log_error("%s", err[0] ? err : strerror(-r));
		ret = r == -EEXIST || r == -EINVAL ? SNPCTL_EXIT_USAGE : SNPCTL_EXIT_DEVICE;
		goto out;
	}
	printf("Simulated %s platform created in %s\n", snp_product_name(p.product), dir);
	ret = SNPCTL_EXIT_OK;
out:
	for (size_t i = 0; i < nset; i++)
		free(names[i][1]);
	for (size_t i = 0; i < nparams; i++)
		free((char *)opts[i].name);
	free(opts);
	sim_state_free(st);
	return ret;
}

/* Options --dir and --help only; returns the index of the first operand or -1. */
static int parse_dir_only(int argc, char **argv, const char **dir)
{
	static const struct option options[] = { { "dir", required_argument, NULL, 'd' },
						 { "help", no_argument, NULL, 'h' },
						 {} };
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		if (c == 'd') {
			*dir = optarg;
		} else {
			sim_usage(c == 'h' ? stdout : stderr);
			return c == 'h' ? -2 : -1;
		}
	}
	*dir = default_dir(*dir);
	return *dir ? optind : -1;
}

static int sim_relaunch(int argc, char **argv)
{
	struct sim_state *st = NULL;
	const char *dir = NULL;
	char err[SNP_ERRBUF] = "";
	int r, i;

	i = parse_dir_only(argc, argv, &dir);
	if (i == -2)
		return SNPCTL_EXIT_OK;
	if (i < 0 || i != argc)
		return SNPCTL_EXIT_USAGE;
	r = sim_state_load(dir, false, &st, err, sizeof(err));
	if (r >= 0)
		r = sim_state_relaunch(st, err, sizeof(err));
	sim_state_free(st);
	if (r < 0) {
		log_error("%s", err[0] ? err : strerror(-r));
		return SNPCTL_EXIT_DEVICE;
	}
	printf("Guest relaunched: new VMPCKs, message counters reset\n");
	return SNPCTL_EXIT_OK;
}

static int sim_show(int argc, char **argv)
{
	struct sim_state *st = NULL;
	const char *dir = NULL;
	char err[SNP_ERRBUF] = "";
	int r, i;

	i = parse_dir_only(argc, argv, &dir);
	if (i == -2)
		return SNPCTL_EXIT_OK;
	if (i < 0 || i != argc)
		return SNPCTL_EXIT_USAGE;
	r = sim_state_load(dir, false, &st, err, sizeof(err));
	if (r < 0) {
		log_error("%s", err[0] ? err : strerror(-r));
		return SNPCTL_EXIT_USAGE;
	}
	sim_params_write(&st->params, stdout);
	for (int v = 0; v < 4; v++)
		printf("fw_counter_vmpck%d=%llu\n", v, (unsigned long long)st->fw_counter[v]);
	sim_state_free(st);
	return SNPCTL_EXIT_OK;
}

static int sim_faults(int argc, char **argv)
{
	struct sim_state st = { 0 };
	struct sim_faults f = { 0 };
	const char *dir = NULL;
	int r, i;

	i = parse_dir_only(argc, argv, &dir);
	if (i == -2)
		return SNPCTL_EXIT_OK;
	if (i < 0 || i + 1 != argc) {
		log_error("Usage: snpctl sim faults [--dir D] SPEC|none");
		return SNPCTL_EXIT_USAGE;
	}
	st.dir = (char *)dir;
	if (strcmp(argv[i], "none") == 0) {
		_cleanup_(freep) char *path = sim_state_path(&st, "faults");

		if (path && unlink(path) < 0 && errno != ENOENT) {
			log_error_errno(errno, "Failed to remove %s: %m", path);
			return SNPCTL_EXIT_DEVICE;
		}
		return SNPCTL_EXIT_OK;
	}
	if (sim_faults_parse(argv[i], &f) < 0) {
		log_error("Bad fault specification '%s'", argv[i]);
		return SNPCTL_EXIT_USAGE;
	}
	r = sim_state_write_file(&st, "faults", argv[i], strlen(argv[i]));
	if (r < 0) {
		log_error_errno(r, "Failed to write %s/faults: %m", dir);
		return SNPCTL_EXIT_DEVICE;
	}
	return SNPCTL_EXIT_OK;
}

int snpctl_cmd_sim(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		sim_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? SNPCTL_EXIT_USAGE : SNPCTL_EXIT_OK;
	}
	if (strcmp(argv[1], "init") == 0)
		return sim_init(argc - 1, argv + 1);
	if (strcmp(argv[1], "relaunch") == 0)
		return sim_relaunch(argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return sim_show(argc - 1, argv + 1);
	if (strcmp(argv[1], "faults") == 0)
		return sim_faults(argc - 1, argv + 1);
	if (strcmp(argv[1], "boot") == 0)
		return snpctl_cmd_sim_boot(argc - 1, argv + 1);
	log_error("Unknown sim command '%s' (init, relaunch, show, faults, boot)", argv[1]);
	return SNPCTL_EXIT_USAGE;
}
