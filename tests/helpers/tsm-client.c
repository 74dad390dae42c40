// SPDX-License-Identifier: Apache-2.0
/*
 * tsm-client: drive the tsm backend's ops table directly (so that it is
 * tested whether or not the dispatcher lists it).
 *
 *   tsm-client [--probe] [--vmpl N] [--nonce HEX] [--certs] [-o FILE]
 *              [--aux FILE] DIR
 *
 * Prints "ok" and exits 0, or prints "error ERRNO" (the positive errno
 * value) on stdout and exits 1; usage errors exit 2.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "lib/log.h"
#include "lib/util.h"

extern const struct snp_backend_ops snp_backend_tsm;

static int fail(int r, const char *what, const char *msg)
{
	fprintf(stderr, "tsm-client: %s: %s%s%s\n", what, strerror(-r), msg && *msg ? ": " : "",
		msg ? msg : "");
	printf("error %d\n", -r);
	return 1;
}

int main(int argc, char **argv)
{
	enum { ARG_PROBE = 0x100, ARG_VMPL, ARG_NONCE, ARG_CERTS, ARG_AUX };
	static const struct option options[] = { { "probe", no_argument, NULL, ARG_PROBE },
						 { "vmpl", required_argument, NULL, ARG_VMPL },
						 { "nonce", required_argument, NULL, ARG_NONCE },
						 { "certs", no_argument, NULL, ARG_CERTS },
						 { "output", required_argument, NULL, 'o' },
						 { "aux", required_argument, NULL, ARG_AUX },
						 {} };
	const struct snp_backend_ops *ops = &snp_backend_tsm;
	struct snp_backend_report_req req = { 0 };
	struct snp_backend_report rep = { 0 };
	struct snp_backend_error e = { 0 };
	const char *out = NULL, *aux = NULL, *dir;
	char err[SNP_ERRBUF] = "";
	bool probe = false;
	void *ctx = NULL;
	ssize_t n;
	int c, r;

	while ((c = getopt_long(argc, argv, "o:", options, NULL)) >= 0) {
		switch (c) {
		case ARG_PROBE:
			probe = true;
			break;
		case ARG_VMPL:
			if (snp_parse_u32_max(optarg, 3, &req.vmpl) < 0)
				return 2;
			break;
		case ARG_NONCE:
			n = snp_hex_decode(optarg, strlen(optarg), req.report_data,
					   sizeof(req.report_data), false);
			if (n < 0)
				return 2;
			break;
		case ARG_CERTS:
			req.want_certs = true;
			break;
		case 'o':
			out = optarg;
			break;
		case ARG_AUX:
			aux = optarg;
			req.want_certs = true;
			break;
		default:
			return 2;
		}
	}
	if (optind != argc - 1)
		return 2;
	dir = argv[optind];

	if (strcmp(ops->name, "tsm") != 0 || ops->get_derived_key ||
	    (ops->caps & SNP_BACKEND_CAP_DERIVED_KEY) ||
	    ops->caps != (SNP_BACKEND_CAP_REPORT | SNP_BACKEND_CAP_CERTS | SNP_BACKEND_CAP_VMPL)) {
		fprintf(stderr, "tsm-client: unexpected ops table\n");
		return 1;
	}
	if (probe) {
		r = ops->probe(dir);
		if (r < 0)
			return fail(r, "probe", NULL);
		printf("ok\n");
		return 0;
	}
	r = ops->open(dir, &ctx, err, sizeof(err));
	if (r < 0)
		return fail(r, "open", err);
	r = ops->get_report(ctx, &req, &rep, &e);
	ops->close(ctx);
	if (r < 0)
		return fail(r, "get_report", e.message);
	if (out) {
		r = snp_write_file(out, rep.report, sizeof(rep.report), 0644);
		if (r < 0)
			return fail(r, out, NULL);
	}
	if (aux) {
		r = snp_write_file(aux, rep.certs ? rep.certs : (const u8 *)"", rep.certs_len,
				   0644);
		if (r < 0)
			return fail(r, aux, NULL);
	}
	snp_backend_report_release(&rep);
	printf("ok\n");
	return 0;
}
