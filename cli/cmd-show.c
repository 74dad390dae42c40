// SPDX-License-Identifier: Apache-2.0
/* snpctl show FILE|- [--json] [--product P] */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/snpctl.h"
#include "lib/log.h"
#include "lib/report.h"
#include "lib/util.h"

/* Largest input accepted: a hex report with generous whitespace. */
#define SHOW_INPUT_MAX (64 * 1024)

static void show_help(void)
{
	printf("Usage: snpctl show [--json] [--product milan|genoa|turin] FILE|-\n\n"
	       "Decode an attestation report (1184 raw bytes, or the same as hex text).\n"
	       "  --json         print the decoded fields as JSON\n"
	       "  --product P    the report's product, for v2 reports that do not say\n");
}

int snpctl_cmd_show(int argc, char **argv)
{
	static const struct option options[] = { { "json", no_argument, NULL, 'j' },
						 { "product", required_argument, NULL, 'p' },
						 { "help", no_argument, NULL, 'h' },
						 {} };
	enum snp_product product = SNP_PRODUCT_UNKNOWN;
	_cleanup_(freep) u8 *data = NULL;
	struct snp_report_info ri;
	char err[SNP_ERRBUF];
	bool json = false;
	size_t len;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "jh", options, NULL)) >= 0) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'p':
			if (snp_product_from_string(optarg, &product) < 0) {
				log_error("Unknown product '%s' (milan, genoa or turin).", optarg);
				return SNPCTL_EXIT_USAGE;
			}
			break;
		case 'h':
			show_help();
			return SNPCTL_EXIT_OK;
		default:
			return SNPCTL_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		log_error("Expected exactly one report file (or - for stdin).");
		return SNPCTL_EXIT_USAGE;
	}

	r = snp_read_file(argv[optind], SHOW_INPUT_MAX, &data, &len);
	if (r == -EFBIG) {
		log_error("%s: larger than %d bytes, not a report.", argv[optind], SHOW_INPUT_MAX);
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
	snp_report_set_product(&ri, product, SNP_PRODUCT_SRC_HINT);

	if (json) {
		json_t *o = snp_report_to_json(&ri);

		if (!o || json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0) {
			json_decref(o);
			log_error("Failed to render JSON.");
			return SNPCTL_EXIT_USAGE;
		}
		json_decref(o);
		putchar('\n');
	} else {
		snp_report_print_text(stdout, &ri);
	}
	if (fflush(stdout) != 0)
		return SNPCTL_EXIT_USAGE;
	return SNPCTL_EXIT_OK;
}
