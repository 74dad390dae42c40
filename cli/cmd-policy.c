// SPDX-License-Identifier: Apache-2.0
/*
 * snpctl policy from-report [--product P] [-o FILE] REPORT
 * snpctl policy check FILE
 * snpctl policy keys
 *
 * Policy files for `snpctl verify --policy FILE` (lib/policy.h).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/snpctl.h"
#include "lib/log.h"
#include "lib/policy.h"
#include "lib/report.h"
#include "lib/util.h"

#define REPORT_INPUT_MAX (64 * 1024)

static void policy_help(void)
{
	printf("Usage: snpctl policy from-report [--product P] [-o FILE] REPORT\n"
	       "       snpctl policy check FILE\n"
	       "       snpctl policy keys\n\n"
	       "Policy files for 'snpctl verify --policy FILE' (JSON, one key per check).\n\n"
	       "  from-report            write a policy that REPORT (raw or hex) satisfies:\n"
	       "                         measurement, host data, key digests, ids, VMPL,\n"
	       "                         guest SVN, POLICY and PLATFORM_INFO bits, TCB and\n"
	       "                         firmware floors as found; edit it before use\n"
	       "  check                  read FILE and print the effective policy, or name\n"
	       "                         the key that is wrong (exit code 3)\n"
	       "  keys                   list every key a policy file may hold\n\n"
	       "  --product P            milan, genoa, turin or venice: the product (and\n"
	       "                         TCB layout) of a version-2 report\n"
	       "  -o, --output FILE      write to FILE instead of standard output\n");
}

static int print_json(json_t *o, const char *out)
{
	char *text;
	int r;

	if (!o)
		return log_error_errno(ENOMEM, "Out of memory.");
	text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!text)
		return log_error_errno(ENOMEM, "Out of memory.");
	if (out && strcmp(out, "-") != 0) {
		size_t len = strlen(text);

		text[len] = '\n';
		r = snp_write_file(out, text, len + 1, 0644);
		free(text);
		if (r < 0)
			return log_error_errno(r, "Failed to write %s: %m", out);
		return 0;
	}
	r = puts(text) < 0 || fflush(stdout) != 0 ? -EIO : 0;
	free(text);
	if (r < 0)
		return log_error_errno(r, "Failed to write the policy: %m");
	return 0;
}

static int from_report(int argc, char **argv)
{
	static const struct option options[] = { { "product", required_argument, NULL, 'p' },
						 { "output", required_argument, NULL, 'o' },
						 { "help", no_argument, NULL, 'h' },
						 {} };
	enum snp_product product = SNP_PRODUCT_UNKNOWN;
	_cleanup_(freep) u8 *data = NULL;
	struct snp_report_info ri;
	struct snp_policy pol;
	const char *out = NULL;
	char err[SNP_ERRBUF];
	size_t len;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "o:h", options, NULL)) >= 0) {
		switch (c) {
		case 'p':
			if (snp_product_from_string(optarg, &product) < 0) {
				log_error("--product: unknown product '%s' (milan, genoa, turin, "
					  "venice).",
					  optarg);
				return SNPCTL_EXIT_USAGE;
			}
			break;
		case 'o':
			out = optarg;
			break;
		case 'h':
			policy_help();
			return SNPCTL_EXIT_OK;
		default:
			return SNPCTL_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		log_error("policy from-report: expected one REPORT.");
		return SNPCTL_EXIT_USAGE;
	}
	r = snp_read_file(argv[optind], REPORT_INPUT_MAX, &data, &len);
	if (r == -EFBIG) {
		log_error("%s: larger than %d bytes, not a report.", argv[optind],
			  REPORT_INPUT_MAX);
		return SNPCTL_EXIT_USAGE;
	}
	if (r < 0) {
		log_error_errno(r, "Failed to read %s: %m", argv[optind]);
		return SNPCTL_EXIT_USAGE;
	}
	r = snp_report_load(data, len, &ri, err, sizeof(err));
	if (r < 0) {
		log_error("%s: malformed report: %s", argv[optind], err);
		return SNPCTL_EXIT_USAGE;
	}
	if (product != SNP_PRODUCT_UNKNOWN)
		snp_report_set_product(&ri, product, SNP_PRODUCT_SRC_HINT);
	if (ri.product == SNP_PRODUCT_UNKNOWN)
		log_warning("%s: a version 2 report does not say its product: the policy names "
			    "none (give --product).",
			    argv[optind]);
	snp_policy_from_report(&ri, &pol);
	return print_json(snp_policy_to_json(&pol), out) < 0 ? SNPCTL_EXIT_USAGE : SNPCTL_EXIT_OK;
}

static int check(int argc, char **argv)
{
	struct snp_policy pol = { 0 };
	char err[SNP_ERRBUF];

	if (argc != 2) {
		log_error("policy check: expected one FILE.");
		return SNPCTL_EXIT_USAGE;
	}
	if (snp_policy_load_file(argv[1], &pol, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return SNPCTL_EXIT_USAGE;
	}
	return print_json(snp_policy_to_json(&pol), NULL) < 0 ? SNPCTL_EXIT_USAGE : SNPCTL_EXIT_OK;
}

static int keys(void)
{
	for (size_t i = 0; i < snp_policy_key_count(); i++) {
		const char *help;
		const char *name = snp_policy_key_name(i, &help);

		printf("%-24s %s\n", name, help);
	}
	return fflush(stdout) == 0 ? SNPCTL_EXIT_OK : SNPCTL_EXIT_USAGE;
}

int snpctl_cmd_policy(int argc, char **argv)
{
	if (argc < 2) {
		policy_help();
		return SNPCTL_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		policy_help();
		return SNPCTL_EXIT_OK;
	}
	if (strcmp(argv[1], "from-report") == 0)
		return from_report(argc - 1, argv + 1);
	if (strcmp(argv[1], "check") == 0)
		return check(argc - 1, argv + 1);
	if (strcmp(argv[1], "keys") == 0 && argc == 2)
		return keys();
	log_error("policy: unknown subcommand '%s' (from-report, check, keys).", argv[1]);
	return SNPCTL_EXIT_USAGE;
}
