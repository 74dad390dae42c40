// SPDX-License-Identifier: Apache-2.0
/*
 * snpctl certs TABLE [--extract DIR] [--json]
 *
 * List (and optionally write out) the certificates of an extended report's
 * certificate table, e.g. a configfs-tsm auxblob.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/snpctl.h"
#include "lib/cert-table.h"
#include "lib/log.h"
#include "lib/report.h"
#include "lib/util.h"

static void certs_help(void)
{
	printf("Usage: snpctl certs [--json] [--extract DIR] TABLE|-\n\n"
	       "List the entries of a certificate table (GHCB extended report / configfs-tsm\n"
	       "auxblob). --extract writes ark.der, ask.der, vcek.der, vlek.der, crl.der and\n"
	       "unknown-N.bin into DIR.\n");
}

int snpctl_cmd_certs(int argc, char **argv)
{
	static const struct option options[] = { { "json", no_argument, NULL, 'j' },
						 { "extract", required_argument, NULL, 'x' },
						 { "help", no_argument, NULL, 'h' },
						 {} };
	_cleanup_(freep) u8 *data = NULL;
	const char *extract = NULL;
	struct snp_cert_table t;
	char err[SNP_ERRBUF];
	json_t *arr = NULL;
	bool json = false;
	size_t len;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'x':
			extract = optarg;
			break;
		case 'h':
			certs_help();
			return SNPCTL_EXIT_OK;
		default:
			return SNPCTL_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		log_error("Expected exactly one certificate table file (or - for stdin).");
		return SNPCTL_EXIT_USAGE;
	}
	r = snp_read_file(argv[optind], SNP_CERTS_MAX_LEN * 4, &data, &len);
	if (r < 0) {
		log_error_errno(r, "Failed to read %s: %m", argv[optind]);
		return SNPCTL_EXIT_USAGE;
	}
	r = snp_cert_table_parse(data, len, &t, err, sizeof(err));
	if (r < 0) {
		log_error("%s: malformed certificate table: %s", argv[optind], err);
		return SNPCTL_EXIT_USAGE;
	}
	if (json && !(arr = json_array())) {
		log_error("Out of memory.");
		return SNPCTL_EXIT_USAGE;
	}

	for (size_t i = 0; i < t.n; i++) {
		const struct snp_cert_table_entry *e = &t.entries[i];
		char guid[37];

		snp_guid_to_string(e->guid, guid);
		if (json) {
			json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:I}", "guid", guid,
							     "kind", snp_cert_kind_name(e->kind),
							     "offset", (json_int_t)e->offset,
							     "length", (json_int_t)e->length));
		} else {
			printf("%s  %-7s offset %6u length %6u\n", guid,
			       snp_cert_kind_name(e->kind), e->offset, e->length);
		}
		if (extract) {
			char path[4096];
			int n;

			if (e->kind == SNP_CERT_UNKNOWN)
				n = snprintf(path, sizeof(path), "%s/unknown-%zu.bin", extract, i);
			else
				n = snprintf(path, sizeof(path), "%s/%s.der", extract,
					     snp_cert_kind_name(e->kind));
			if (n < 0 || (size_t)n >= sizeof(path)) {
				log_error("--extract: path too long.");
				json_decref(arr);
				return SNPCTL_EXIT_USAGE;
			}
			r = snp_write_file(path, e->data, e->length, 0644);
			if (r < 0) {
				log_error_errno(r, "Failed to write %s: %m", path);
				json_decref(arr);
				return SNPCTL_EXIT_USAGE;
			}
		}
	}
	if (json) {
		json_dumpf(arr, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(arr);
	}
	return fflush(stdout) == 0 ? SNPCTL_EXIT_OK : SNPCTL_EXIT_USAGE;
}
