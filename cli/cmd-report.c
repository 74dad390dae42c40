// SPDX-License-Identifier: Apache-2.0
/*
 * snpctl report --backend=SPEC [--nonce HEX] [--vmpl N] [-o FILE] [--certs-dir D]
 *
 * Fetch a fresh attestation report straight from a backend (no daemon) and
 * write it (1184 bytes) to FILE; with --certs-dir also the certificates the
 * host returned, as ark.pem, ask.pem and vcek.pem (or vlek.pem).
 *
 * Exit codes: 0 ok, 3 bad usage or input, 4 the device refused.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "cli/snpctl.h"
#include "lib/backend.h"
#include "lib/cert-table.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/x509-amd.h"

static void report_usage(FILE *f)
{
	fprintf(f, "Usage: snpctl report --backend=SPEC [--nonce HEX] [--vmpl N] [-o FILE]\n"
		   "                     [--certs-dir DIR]\n\n"
		   "  --backend=SPEC    sev-guest[:PATH], sim:DIR or auto (default auto)\n"
		   "  --nonce HEX       REPORT_DATA, up to 64 bytes (zero-padded)\n"
		   "  --vmpl N          VMPL to request, 0..3 (default 0)\n"
		   "  -o, --output FILE where to write the binary report ('-' = stdout)\n"
		   "  --certs-dir DIR   also write the host's certificates as PEM files\n");
}

static int write_cert_pem(const char *dir, const char *name, const u8 *der, size_t len)
{
	_cleanup_(freep) char *path = NULL;
	STACK_OF(X509) *sk = NULL;
	char err[SNP_ERRBUF];
	BIO *b = NULL;
	char *data;
	long n;
	int r;

	r = snp_x509_load_mem(der, len, &sk, err, sizeof(err));
	if (r < 0)
		return log_error_errno(r, "Certificate %s from the host is unreadable: %s", name,
				       err);
	b = BIO_new(BIO_s_mem());
	if (!b || !PEM_write_bio_X509(b, sk_X509_value(sk, 0))) {
		r = -ENOMEM;
		goto out;
	}
	n = BIO_get_mem_data(b, &data);
	if (asprintf(&path, "%s/%s", dir, name) < 0) {
		r = -ENOMEM;
		goto out;
	}
	r = snp_write_file(path, data, (size_t)n, 0644);
	if (r < 0)
		log_error_errno(r, "Failed to write %s: %m", path);
out:
	BIO_free(b);
	sk_X509_pop_free(sk, X509_free);
	return r;
}

static int write_certs(const char *dir, const u8 *buf, size_t len)
{
	struct snp_cert_table t;
	char err[SNP_ERRBUF];
	int r;

	if (!buf)
		return log_error_errno(ENOENT, "The host returned no certificates");
	r = snp_cert_table_parse(buf, len, &t, err, sizeof(err));
	if (r < 0)
		return log_error_errno(r, "Bad certificate table from the host: %s", err);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return log_error_errno(errno, "Failed to create %s: %m", dir);
	for (size_t i = 0; i < t.n; i++) {
		const struct snp_cert_table_entry *e = &t.entries[i];
		const char *name;

		switch (e->kind) {
		case SNP_CERT_ARK:
			name = "ark.pem";
			break;
		case SNP_CERT_ASK:
			name = "ask.pem";
			break;
		case SNP_CERT_VCEK:
			name = "vcek.pem";
			break;
		case SNP_CERT_VLEK:
			name = "vlek.pem";
			break;
		default:
			continue;
		}
		r = write_cert_pem(dir, name, e->data, e->length);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Explain a failed request; returns the exit code. */
int snpctl_backend_error(int r, const struct snp_backend_error *e, const char *what)
{
	if (r == -ENOTTY)
		log_error("%s failed: the guest device disabled its VMPCK after an earlier "
			  "failure (relaunch the guest)",
			  what);
	else if (e->status)
		log_error("%s refused by the firmware: status 0x%x %s", what, e->status,
			  snp_fw_status_name(e->status));
	else if (e->vmm_error || (e->fw_error && e->fw_error != 0xff))
		log_error("%s failed: %s (firmware error 0x%x %s, host error %u)", what,
			  strerror(-r), e->fw_error, snp_fw_status_name(e->fw_error), e->vmm_error);
	else
		log_error_errno(r, "%s failed: %m", what);
	return r == -EINVAL && !e->status ? SNPCTL_EXIT_USAGE : SNPCTL_EXIT_DEVICE;
}

int snpctl_cmd_report(int argc, char **argv)
{
	enum { ARG_BACKEND = 0x100, ARG_NONCE, ARG_VMPL, ARG_CERTS_DIR };
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "backend", required_argument, NULL, ARG_BACKEND },
		{ "nonce", required_argument, NULL, ARG_NONCE },
		{ "vmpl", required_argument, NULL, ARG_VMPL },
		{ "output", required_argument, NULL, 'o' },
		{ "certs-dir", required_argument, NULL, ARG_CERTS_DIR },
		{}
	};
	struct snp_backend_report_req req = { 0 };
	struct snp_backend_report rep = { 0 };
	struct snp_backend_error e;
	struct snp_backend *b = NULL;
	const char *spec = "auto", *out = NULL, *certs_dir = NULL;
	char err[SNP_ERRBUF] = "";
	int c, r, ret = SNPCTL_EXIT_OK;
	ssize_t n;

	optind = 0;
	while ((c = getopt_long(argc, argv, "ho:", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			report_usage(stdout);
			return SNPCTL_EXIT_OK;
		case ARG_BACKEND:
			spec = optarg;
			break;
		case ARG_NONCE:
			n = snp_hex_decode(optarg, strlen(optarg), req.report_data,
					   sizeof(req.report_data), false);
			if (n < 0) {
				log_error("--nonce: expected up to 64 bytes of hex");
				return SNPCTL_EXIT_USAGE;
			}
			break;
		case ARG_VMPL:
			if (snp_parse_u32_max(optarg, SNP_VMPCK_MAX, &req.vmpl) < 0) {
				log_error("--vmpl: expected 0..3, not '%s'", optarg);
				return SNPCTL_EXIT_USAGE;
			}
			break;
		case 'o':
			out = optarg;
			break;
		case ARG_CERTS_DIR:
			certs_dir = optarg;
			break;
		default:
			report_usage(stderr);
			return SNPCTL_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		log_error("Unexpected argument '%s'", argv[optind]);
		return SNPCTL_EXIT_USAGE;
	}
	if (!out) {
		if (isatty(STDOUT_FILENO)) {
			log_error("Refusing to write a binary report to a terminal; use -o FILE");
			return SNPCTL_EXIT_USAGE;
		}
		out = "-";
	}
	req.want_certs = certs_dir != NULL;

	r = snp_backend_open(spec, &b, err, sizeof(err));
	if (r < 0) {
		log_error("%s", err[0] ? err : strerror(-r));
		return r == -EINVAL || r == -ENOENT ? SNPCTL_EXIT_USAGE : SNPCTL_EXIT_DEVICE;
	}
	r = snp_backend_get_report(b, &req, &rep, &e);
	if (r < 0) {
		ret = snpctl_backend_error(r, &e, "Report request");
		goto out;
	}
	r = snp_write_file(out, rep.report, sizeof(rep.report), 0644);
	if (r < 0) {
		log_error_errno(r, "Failed to write %s: %m", out);
		ret = SNPCTL_EXIT_USAGE;
		goto out;
	}
	if (certs_dir && write_certs(certs_dir, rep.certs, rep.certs_len) < 0)
		ret = SNPCTL_EXIT_DEVICE;
out:
	snp_backend_report_release(&rep);
	snp_backend_free(b);
	return ret;
}
