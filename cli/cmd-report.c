// SPDX-License-Identifier: Apache-2.0
/*
 * snpctl report [--socket PATH | --backend=SPEC] [--nonce HEX] [--vmpl N] [-o FILE]
 *               [--certs-dir D] [--json]
 *
 * Fetch a fresh attestation report from the daemon over its unix socket
 * (libcurl), or with --backend straight from a backend (no daemon), and
 * write it (1184 bytes) to FILE; with --certs-dir also the certificates,
 * as ark.pem, ask.pem and vcek.pem (or vlek.pem).
 *
 * Exit codes: 0 ok, 3 bad usage or input, 4 the device refused.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "cli/snpctl.h"
#include "backend/backend.h"
#include "lib/cert-table.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/x509-amd.h"

#define SNPD_DEFAULT_SOCKET "/run/snpd/api.sock"
#define RESPONSE_MAX	    (1024 * 1024)

static void report_usage(FILE *f)
{
	fprintf(f,
		"Usage: snpctl report [--socket PATH | --backend=SPEC] [--nonce HEX] [--vmpl N]\n"
		"                     [-o FILE] [--certs-dir DIR] [--json]\n\n"
		"Without --backend the report comes from snpd over its unix socket.\n"
		"  --socket PATH     snpd's API socket (default " SNPD_DEFAULT_SOCKET ")\n"
		"  --json            print snpd's JSON response (daemon only)\n"
		"  --backend=SPEC    no daemon: sev-guest[:PATH], tsm[:PATH], sim:DIR or auto\n"
		"  --nonce HEX       REPORT_DATA, up to 64 bytes (zero-padded)\n"
		"  --vmpl N          VMPL to request, 0..3 (default 0)\n"
		"  -o, --output FILE where to write the binary report ('-' = stdout)\n"
		"  --certs-dir DIR   also write the host's certificates as PEM files (a table\n"
		"                    larger than 16 KiB: the report alone, with a warning)\n");
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

/* Strict base64 to a new buffer; -EINVAL when it is not base64. */
static int unbase64(const char *s, u8 **ret, size_t *ret_len)
{
	size_t n = strlen(s), pad = 0;
	u8 *out;
	int k;

	if (n % 4 || n > INT32_MAX)
		return -EINVAL;
	if (n && s[n - 1] == '=')
		pad++;
	if (n > 1 && s[n - 2] == '=')
		pad++;
	out = malloc(n / 4 * 3 + 1);
	if (!out)
		return -ENOMEM;
	k = EVP_DecodeBlock(out, (const u8 *)s, (int)n);
	if (k < 0 || (size_t)k < pad) {
		free(out);
		return -EINVAL;
	}
	*ret = out;
	*ret_len = (size_t)k - pad;
	return 0;
}

static int write_daemon_certs(const char *dir, json_t *certs, const char *encoding)
{
	const char *name;
	json_t *v;

	if (!json_is_object(certs) || !json_object_size(certs))
		return log_error_errno(ENOENT, "snpd returned no certificates");
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return log_error_errno(errno, "Failed to create %s: %m", dir);
	json_object_foreach(certs, name, v)
	{
		_cleanup_(freep) char *file = NULL;
		const char *s = json_string_value(v);
		int r;

		if (!s || (strcmp(name, "ark") && strcmp(name, "ask") && strcmp(name, "vcek") &&
			   strcmp(name, "vlek")))
			continue;
		if (asprintf(&file, "%s.pem", name) < 0)
			return -ENOMEM;
		if (encoding && !strcmp(encoding, "pem")) {
			_cleanup_(freep) char *path = NULL;

			if (asprintf(&path, "%s/%s", dir, file) < 0)
				return -ENOMEM;
			r = snp_write_file(path, s, strlen(s), 0644);
			if (r < 0)
				return log_error_errno(r, "Failed to write %s: %m", path);
		} else {
			_cleanup_(freep) u8 *der = NULL;
			size_t len;

			if (unbase64(s, &der, &len) < 0)
				return log_error_errno(EBADMSG, "snpd sent a malformed %s", name);
			r = write_cert_pem(dir, file, der, len);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* GET /v1/report over snpd's unix socket. Returns an exit code. */
static int report_from_daemon(const char *sock, const struct snp_backend_report_req *req,
			      bool have_vmpl, const char *out, const char *certs_dir, bool json)
{
	char url[256], hex[2 * SNP_REPORT_DATA_SIZE + 1], err[SNP_ERRBUF];
	char vmpl[16] = "";
	_cleanup_(freep) char *body = NULL;
	_cleanup_(freep) u8 *report = NULL;
	json_t *doc = NULL, *v;
	json_error_t jerr;
	long status = 0;
	size_t len, body_len = 0;
	int ret = SNPCTL_EXIT_DEVICE;

	snp_hex_encode(req->report_data, sizeof(req->report_data), hex);
	if (have_vmpl)
		snprintf(vmpl, sizeof(vmpl), "&vmpl=%u", req->vmpl);
	snprintf(url, sizeof(url), "/v1/report?nonce=%s%s%s", hex, vmpl,
		 certs_dir ? "&certs=1" : "");
	if (snpctl_snpd_get(sock, url, 120, RESPONSE_MAX, &status, &body, &body_len, err,
			    sizeof(err)) < 0) {
		log_error("Cannot reach snpd at %s: %s", sock, err);
		return SNPCTL_EXIT_DEVICE;
	}
	doc = json_loadb(body ? body : "", body_len, 0, &jerr);
	if (status != 200) {
		const char *detail = json_string_value(json_object_get(doc, "detail"));

		log_error("snpd answered %ld: %s", status, detail ? detail : "(no detail)");
		ret = status >= 400 && status < 500 && status != 429 ? SNPCTL_EXIT_USAGE :
								       SNPCTL_EXIT_DEVICE;
		goto out;
	}
	if (!doc) {
		log_error("snpd sent invalid JSON: %s", jerr.text);
		goto out;
	}
	if (json) {
		json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
	}
	v = json_object_get(doc, "report");
	if (!json_is_string(v) || unbase64(json_string_value(v), &report, &len) < 0 ||
	    len != SNP_REPORT_SIZE) {
		log_error("snpd sent no valid report");
		goto out;
	}
	if (memcmp(report + 0x50, req->report_data, SNP_REPORT_DATA_SIZE)) {
		log_error("snpd's report is not bound to the nonce that was asked for");
		goto out;
	}
	if (out && snp_write_file(out, report, len, 0644) < 0) {
		log_error_errno(errno, "Failed to write %s: %m", out);
		ret = SNPCTL_EXIT_USAGE;
		goto out;
	}
	if (certs_dir &&
	    write_daemon_certs(certs_dir, json_object_get(doc, "certificates"),
			       json_string_value(json_object_get(doc, "certificates_encoding"))) <
		    0)
		goto out;
	ret = SNPCTL_EXIT_OK;
out:
	json_decref(doc);
	return ret;
}

/* Explain a failed request; returns the exit code. */
int snpctl_backend_error(int r, const struct snp_backend_error *e, const char *what)
{
	if (e->message[0])
		log_error("%s failed: %s", what, e->message);
	else if (r == -ENOTTY)
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
	enum { ARG_BACKEND = 0x100, ARG_NONCE, ARG_VMPL, ARG_CERTS_DIR, ARG_SOCKET, ARG_JSON };
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "backend", required_argument, NULL, ARG_BACKEND },
		{ "nonce", required_argument, NULL, ARG_NONCE },
		{ "vmpl", required_argument, NULL, ARG_VMPL },
		{ "output", required_argument, NULL, 'o' },
		{ "certs-dir", required_argument, NULL, ARG_CERTS_DIR },
		{ "socket", required_argument, NULL, ARG_SOCKET },
		{ "json", no_argument, NULL, ARG_JSON },
		{}
	};
	struct snp_backend_report_req req = { 0 };
	struct snp_backend_report rep = { 0 };
	struct snp_backend_error e;
	struct snp_backend *b = NULL;
	const char *spec = NULL, *out = NULL, *certs_dir = NULL, *sock = NULL;
	bool json = false, have_vmpl = false;
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
			have_vmpl = true;
			break;
		case ARG_SOCKET:
			sock = optarg;
			break;
		case ARG_JSON:
			json = true;
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
	if (spec && (sock || json)) {
		log_error("--socket and --json talk to snpd; --backend goes around it");
		return SNPCTL_EXIT_USAGE;
	}
	if (!spec) {
		if (!out && !json && isatty(STDOUT_FILENO)) {
			log_error("Refusing to write a binary report to a terminal; use -o FILE");
			return SNPCTL_EXIT_USAGE;
		}
		if (!out && !json)
			out = "-";
		return report_from_daemon(sock ? sock : SNPD_DEFAULT_SOCKET, &req, have_vmpl, out,
					  certs_dir, json);
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
	if (r == -EMSGSIZE && req.want_certs) {
		/*
		 * The host's table is larger than any guest takes (16 KiB):
		 * as snpd does, the report without it, which is just as
		 * valid; the certificates come from elsewhere (KDS).
		 */
		log_warning("The host's certificates are not written to %s: %s. The report is "
			    "taken without them (valid all the same); get the VCEK from KDS "
			    "(snpctl verify fetches it).",
			    certs_dir, e.message[0] ? e.message : "the table is too large");
		certs_dir = NULL;
		req.want_certs = false;
		snp_backend_report_release(&rep);
		r = snp_backend_get_report(b, &req, &rep, &e);
	}
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
