// SPDX-License-Identifier: Apache-2.0
/*
 * snpctl key --backend=SPEC [--root vcek|vlek|vmrk] [--fields LIST] [--vmpl N]
 *            [--svn N] [--tcb HEX]
 *
 * Ask the firmware for a derived key (MSG_KEY_REQ) and print it as hex.
 * Exit codes: 0 ok, 3 bad usage or input, 4 the device refused.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli/snpctl.h"
#include "backend/backend.h"
#include "lib/log.h"
#include "lib/util.h"

static void key_usage(FILE *f)
{
	fprintf(f, "Usage: snpctl key --backend=SPEC [--root vcek|vlek|vmrk] [--fields LIST]\n"
		   "                  [--vmpl N] [--svn N] [--tcb HEX]\n\n"
		   "  --root R      vcek (firmware default: the VLEK where one is installed),\n"
		   "                vlek, or vmrk (the per-launch VM root key)\n"
		   "  --fields LIST mix in: policy,image_id,family_id,measurement,guest_svn,\n"
		   "                tcb_version (or all, none)\n"
		   "  --vmpl N      VMPL, 0..3 (default 0)\n"
		   "  --svn N       guest SVN (with guest_svn)\n"
		   "  --tcb HEX     TCB_VERSION as a 64-bit hex number (with tcb_version)\n");
}

int snpctl_cmd_key(int argc, char **argv)
{
	enum { ARG_BACKEND = 0x100, ARG_ROOT, ARG_FIELDS, ARG_VMPL, ARG_SVN, ARG_TCB };
	static const struct option options[] = { { "help", no_argument, NULL, 'h' },
						 { "backend", required_argument, NULL,
						   ARG_BACKEND },
						 { "root", required_argument, NULL, ARG_ROOT },
						 { "fields", required_argument, NULL, ARG_FIELDS },
						 { "vmpl", required_argument, NULL, ARG_VMPL },
						 { "svn", required_argument, NULL, ARG_SVN },
						 { "tcb", required_argument, NULL, ARG_TCB },
						 {} };
	struct snp_backend_key_req req = { 0 };
	struct snp_backend_error e;
	struct snp_backend *b = NULL;
	const char *spec = "auto";
	char err[SNP_ERRBUF] = "", hex[2 * SNP_DERIVED_KEY_LEN + 1];
	u8 key[SNP_DERIVED_KEY_LEN];
	int c, r, ret = SNPCTL_EXIT_OK;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			key_usage(stdout);
			return SNPCTL_EXIT_OK;
		case ARG_BACKEND:
			spec = optarg;
			break;
		case ARG_ROOT:
			if (strcmp(optarg, "vcek") == 0) {
				req.root_vmrk = false;
				req.key_sel = SNP_KEY_SEL_DEFAULT;
			} else if (strcmp(optarg, "vlek") == 0) {
				req.root_vmrk = false;
				req.key_sel = SNP_KEY_SEL_VLEK;
			} else if (strcmp(optarg, "vmrk") == 0) {
				req.root_vmrk = true;
			} else {
				log_error("--root: expected vcek, vlek or vmrk, not '%s'", optarg);
				return SNPCTL_EXIT_USAGE;
			}
			break;
		case ARG_FIELDS:
			if (snp_backend_parse_fields(optarg, &req.guest_field_select) < 0) {
				log_error(
					"--fields: unknown field in '%s' (known: policy, image_id, "
					"family_id, measurement, guest_svn, tcb_version)",
					optarg);
				return SNPCTL_EXIT_USAGE;
			}
			break;
		case ARG_VMPL:
			if (snp_parse_u32_max(optarg, SNP_VMPCK_MAX, &req.vmpl) < 0) {
				log_error("--vmpl: expected 0..3, not '%s'", optarg);
				return SNPCTL_EXIT_USAGE;
			}
			break;
		case ARG_SVN:
			if (snp_parse_u32_max(optarg, UINT32_MAX, &req.guest_svn) < 0) {
				log_error("--svn: expected a 32-bit number, not '%s'", optarg);
				return SNPCTL_EXIT_USAGE;
			}
			break;
		case ARG_TCB: {
			u8 be[8];
			const char *s = optarg;
			ssize_t n;

			if (strncmp(s, "0x", 2) == 0 || strncmp(s, "0X", 2) == 0)
				s += 2;
			/* a number in hex: left-pad to 16 digits */
			if (!*s || strlen(s) > 16) {
				log_error("--tcb: expected up to 16 hex digits, not '%s'", optarg);
				return SNPCTL_EXIT_USAGE;
			} else {
				char padded[17];

				snprintf(padded, sizeof(padded), "%016d", 0);
				memcpy(padded + 16 - strlen(s), s, strlen(s));
				n = snp_hex_decode(padded, 16, be, sizeof(be), false);
				if (n != 8) {
					log_error("--tcb: expected hex digits, not '%s'", optarg);
					return SNPCTL_EXIT_USAGE;
				}
			}
			req.tcb_version = 0;
			for (int i = 0; i < 8; i++)
				req.tcb_version = req.tcb_version << 8 | be[i];
			break;
		}
		default:
			key_usage(stderr);
			return SNPCTL_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		log_error("Unexpected argument '%s'", argv[optind]);
		return SNPCTL_EXIT_USAGE;
	}

	r = snp_backend_open(spec, &b, err, sizeof(err));
	if (r < 0) {
		log_error("%s", err[0] ? err : strerror(-r));
		return r == -EINVAL || r == -ENOENT ? SNPCTL_EXIT_USAGE : SNPCTL_EXIT_DEVICE;
	}
	r = snp_backend_get_derived_key(b, &req, key, &e);
	if (r < 0) {
		ret = snpctl_backend_error(r, &e, "Key request");
		goto out;
	}
	snp_hex_encode(key, sizeof(key), hex);
	printf("%s\n", hex);
	if (fflush(stdout) != 0)
		ret = SNPCTL_EXIT_USAGE;
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(hex, sizeof(hex));
	snp_backend_free(b);
	return ret;
}
