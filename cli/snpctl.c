// SPDX-License-Identifier: Apache-2.0
/*
 * snpctl: the command-line tool of snpd. main() only dispatches; every
 * command lives in its own cli/cmd-*.c file.
 */
#include <stdio.h>
#include <string.h>

#include "cli/snpctl.h"
#include "lib/log.h"

static const struct snpctl_command commands[] = {
	{ "show", "decode an attestation report (text or --json)", snpctl_cmd_show },
	{ "verify", "verify a report or snpd evidence against the AMD chain and a policy",
	  snpctl_cmd_verify },
	{ "policy", "write a verify policy file from a report, check one, list its keys",
	  snpctl_cmd_policy },
	{ "collateral", "KDS certificates and CRLs: url, fetch, import, export, list",
	  snpctl_cmd_collateral },
	{ "certs", "list or extract the certificates of a certificate table", snpctl_cmd_certs },
	{ "report", "fetch a fresh report from snpd, or from a backend with --backend",
	  snpctl_cmd_report },
	{ "key", "derive a key from the firmware (MSG_KEY_REQ)", snpctl_cmd_key },
	{ "sim", "manage the simulated SEV-SNP platform (init, relaunch, show, faults)",
	  snpctl_cmd_sim },
	{ "doctor", "which attestation interface exists, permissions, VMPL floor, snpd health",
	  snpctl_cmd_doctor },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: snpctl COMMAND [OPTIONS...]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nRun 'snpctl COMMAND --help' for the options of a command.\n"
		   "Exit codes: 0 ok, 1 verification failed, 2 policy check failed,\n"
		   "            3 bad usage or input, 4 device or service error.\n");
}

int main(int argc, char **argv)
{
	snp_log_set_ident("snpctl");
	if (argc < 2) {
		usage(stderr);
		return SNPCTL_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return SNPCTL_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("snpctl %s\n", PACKAGE_VERSION);
		return SNPCTL_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	log_error("Unknown command '%s'. See 'snpctl --help'.", argv[1]);
	return SNPCTL_EXIT_USAGE;
}
