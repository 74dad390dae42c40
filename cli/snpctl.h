/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SNP_CLI_SNPCTL_H
#define SNP_CLI_SNPCTL_H

#include <stdbool.h>

/*
 * Exit codes shared by every snpctl command.
 *   0 success / verified
 *   1 verification failed (chain, signature, TCB or chip mismatch, untrusted root)
 *   2 a policy check failed
 *   3 bad usage or input (unreadable file, malformed report)
 *   4 the device, simulator or daemon failed the request
 */
enum {
	SNPCTL_EXIT_OK = 0,
	SNPCTL_EXIT_VERIFY = 1,
	SNPCTL_EXIT_POLICY = 2,
	SNPCTL_EXIT_USAGE = 3,
	SNPCTL_EXIT_DEVICE = 4,
};

struct snpctl_command {
	const char *name;
	const char *summary;
	/* argv[0] is the command name; returns an exit code above */
	int (*run)(int argc, char **argv);
};

/*
 * GET @path (e.g. "/v1/status") from snpd on unix socket @sock. On success
 * *ret_body is new (NUL-terminated, may be NULL when empty). Returns 0, or
 * a negative errno with curl's message in @err when snpd could not be
 * reached or answered more than @max bytes.
 */
int snpctl_snpd_get(const char *sock, const char *path, long timeout_sec, size_t max,
		    long *ret_status, char **ret_body, size_t *ret_len, char *err, size_t errlen);

/* KDS options shared by verify and collateral (cli/cmd-collateral.c). */
enum {
	SNPCTL_ARG_KDS_URL = 0x1000,
	SNPCTL_ARG_CACHE_DIR,
	SNPCTL_ARG_OFFLINE,
	SNPCTL_ARG_KDS_TIMEOUT,
	SNPCTL_ARG_KDS_CA,
	SNPCTL_ARG_CACHE_MAX,
};

struct snpctl_kds_opts {
	const char *url;
	const char *cache_dir;
	bool offline;
	const char *timeout;   /* total seconds, as given */
	const char *ca;	       /* --kds-ca FILE */
	const char *cache_max; /* --cache-max SIZE, as given */
	/*
	 * --kds-ca's bytes, read once when the option is parsed (a pipe,
	 * `<(...)`, can be read only once); owned: snpctl_kds_opts_release().
	 */
	unsigned char *ca_pem;
	size_t ca_pem_len;
};

struct snp_kds;
/*
 * 1 when @c was one of the options above (stored in @o), else 0; a
 * negative errno, said, when --kds-ca cannot be read.
 */
int snpctl_kds_parse_opt(int c, const char *arg, struct snpctl_kds_opts *o);
/*
 * Configure @k: base URL, offline mode, the cache directory and the CAs
 * (@k borrows @o's bytes: @o outlives it). 0 or -errno.
 */
int snpctl_kds_setup(struct snp_kds *k, const struct snpctl_kds_opts *o);
/* Free what snpctl_kds_parse_opt() read; @o can be parsed again. */
void snpctl_kds_opts_release(struct snpctl_kds_opts *o);

int snpctl_cmd_collateral(int argc, char **argv);
int snpctl_cmd_show(int argc, char **argv);
int snpctl_cmd_verify(int argc, char **argv);
int snpctl_cmd_policy(int argc, char **argv);
int snpctl_cmd_certs(int argc, char **argv);
int snpctl_cmd_doctor(int argc, char **argv);
int snpctl_cmd_report(int argc, char **argv);
int snpctl_cmd_key(int argc, char **argv);
int snpctl_cmd_sim(int argc, char **argv);
int snpctl_cmd_sim_boot(int argc, char **argv);

/* Log why a backend request failed; returns the exit code (cli/cmd-report.c). */
struct snp_backend_error;
int snpctl_backend_error(int r, const struct snp_backend_error *e, const char *what);

#endif
