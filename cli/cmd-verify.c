// SPDX-License-Identifier: Apache-2.0
/*
 * snpctl verify REPORT [certificate options] [policy options] [--json]
 *
 * Exit codes: 0 verified, 1 verification failed (also refused evidence,
 * whatever is wrong in it), 2 a policy check failed, 3 bad usage, an
 * unreadable file or a malformed raw report.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "cli/evidence.h"
#include "lib/binding.h"
#include "cli/snpctl.h"
#include "lib/amd-roots.h"
#include "lib/cert-table.h"
#include "lib/kds.h"
#include "lib/log.h"
#include "lib/policy.h"
#include "lib/report.h"
#include "lib/util.h"
#include "lib/verify.h"
#include "lib/x509-amd.h"

#define REPORT_INPUT_MAX (64 * 1024)
/*
 * snpd's evidence carries the event log: with a full log (EventLogMax=65536,
 * docs/evidence.md 4.3) that is about 30 MB of JSON.
 */
#define EVIDENCE_INPUT_MAX (64 * 1024 * 1024)

enum {
	ARG_CERTS = 0x100,
	ARG_VCEK,
	ARG_ASK,
	ARG_ARK,
	ARG_CHAIN,
	ARG_CERT_TABLE,
	ARG_TRUST_ARK,
	ARG_NONCE,
	ARG_REPORT_DATA,
	ARG_MEASUREMENT,
	ARG_HOST_DATA,
	ARG_ID_KEY_DIGEST,
	ARG_AUTHOR_KEY_DIGEST,
	ARG_VMPL,
	ARG_MIN_TCB,
	ARG_MIN_FW,
	ARG_ALLOW_DEBUG,
	ARG_ALLOW_MA,
	ARG_DENY_SMT,
	ARG_REQUIRE_CHIP_ID,
	ARG_AT,
	ARG_PRODUCT,
	ARG_JSON,
	ARG_CRL,
	ARG_POLICY,
	ARG_STRICT_VERSION,
	ARG_ALLOW_PROVISIONAL,
	ARG_MIN_LAUNCH_TCB,
	ARG_MIN_LAUNCH_MIT,
	ARG_MIN_CURRENT_MIT,
	ARG_PRODUCTS,
	ARG_DENY_PRODUCTS,
	ARG_REQUIRE_POLICY_BITS,
	ARG_FORBID_POLICY_BITS,
	ARG_REQUIRE_PLATFORM_INFO,
	ARG_FORBID_PLATFORM_INFO,
	ARG_MIN_GUEST_SVN,
	ARG_FAMILY_ID,
	ARG_IMAGE_ID,
	ARG_SIGNER,
	ARG_REQUIRE_EVENT,
	ARG_FORBID_EVENT,
};

struct verify_args {
	const char *report;
	const char *certs_dir;
	const char *vcek, *ask, *ark, *trust_ark;
	const char *chains[8];
	const char *cert_table;
	const char *policy_file;
	size_t n_chains;
	enum snp_product product;
	time_t at;
	bool json;
	struct snp_policy pol;
	struct snpctl_kds_opts kds;
	enum snp_crl_mode crl;
	/* --nonce: the nonce bound evidence must prove; 0 when not given */
	u8 nonce[SNP_NONCE_MAX];
	size_t nonce_len;
};

struct cert_set {
	STACK_OF(X509) * pool; /* every certificate seen; owns them */
	X509 *ark, *ask, *leaf, *trust;
	X509_CRL *crl; /* from a certificate table, or NULL */
};

static void verify_help(void)
{
	printf("Usage: snpctl verify [OPTIONS] [REPORT|EVIDENCE|-]\n\n"
	       "Verify an attestation report (raw or hex) against AMD's certificate chain\n"
	       "and an optional policy. Without REPORT only the certificates are checked.\n"
	       "EVIDENCE is an snpd evidence document (GET /v1/evidence, /snp/evidence/HEX):\n"
	       "its report, certificates and CRL are used (a CRL from the cache, KDS too\n"
	       "with --crl require, when it carries no current one); the certificate\n"
	       "options other than --trust-ark are refused with it.\n\n"
	       "Certificates (PEM or DER):\n"
	       "  --certs DIR            ark.pem ask.pem asvk.pem vcek.pem|vcek.der vlek.pem\n"
	       "                         cert_chain.pem chain.pem, whichever exist\n"
	       "  --vcek F, --vlek F     the endorsement key certificate\n"
	       "  --ask F, --asvk F      the intermediate\n"
	       "  --ark F                the root\n"
	       "  --chain F              a bundle (e.g. KDS cert_chain); may repeat\n"
	       "  --cert-table F         certificate table of an extended report (auxblob)\n"
	       "  --trust-ark F          trust this root although it is not AMD's (also the\n"
	       "                         ARK when none is given; a chain or CRL is cached\n"
	       "                         only under it)\n"
	       "  --at TIME              check validity at TIME (YYYY-MM-DD[THH:MM:SSZ] or\n"
	       "                         @EPOCH) instead of now\n"
	       "  --product P            milan, genoa, turin or venice: force the TCB layout\n"
	       "  --require-chip-id      fail a report whose CHIP_ID is masked (all zero)\n"
	       "                         instead of skipping chip_match\n\n"
	       "Policy (each failure gives exit code 2):\n"
	       "  --policy FILE          read the expectations from a JSON policy file\n"
	       "                         (snpctl policy from-report writes one); the\n"
	       "                         options below override what it says\n"
	       "  --nonce HEX            the nonce (1 to 64 bytes) sent for snpd's evidence:\n"
	       "                         the document's binding (snpd-binding-v1) must prove\n"
	       "                         it (required for bound evidence); anything else\n"
	       "                         (a raw report, a document without a binding) is\n"
	       "                         refused (exit code 1)\n"
	       "  --report-data HEX      the expected REPORT_DATA as the report holds it (up\n"
	       "                         to 64 bytes, zero-padded): a raw report's nonce; in\n"
	       "                         bound evidence it is the binding's hash\n"
	       "  --require-event HEX    bound evidence only (anything else is refused): an\n"
	       "                         event of the log must have this digest (32, 48 or\n"
	       "                         64 bytes); may repeat, each is required (exit code\n"
	       "                         2 otherwise)\n"
	       "  --forbid-event HEX     bound evidence only (anything else is refused): no\n"
	       "                         event may have this digest; may repeat (exit code 2\n"
	       "                         otherwise)\n"
	       "  --measurement HEX, --host-data HEX, --family-id HEX, --image-id HEX\n"
	       "  --id-key-digest HEX, --author-key-digest HEX   an accepted digest; may\n"
	       "                         repeat (a set of up to 16)\n"
	       "  --vmpl N, --min-guest-svn N\n"
	       "  --min-tcb bootloader=N,tee=N,snp=N,microcode=N[,fmc=N]   REPORTED_TCB\n"
	       "  --min-launch-tcb ...   the same for LAUNCH_TCB\n"
	       "  --min-fw MAJOR.MINOR[.BUILD]\n"
	       "  --min-launch-mit-vector MASK, --min-current-mit-vector MASK\n"
	       "                         bits that must be set in the version-5 mitigation\n"
	       "                         vectors (e.g. 0x3)\n"
	       "  --allow-provisional    accept CURRENT_TCB or firmware ahead of COMMITTED\n"
	       "  --products LIST, --deny-products LIST   accepted / refused products\n"
	       "                         (milan,genoa,turin,venice)\n"
	       "  --require-policy-bits LIST, --forbid-policy-bits LIST   POLICY bits by\n"
	       "                         name (SINGLE_SOCKET,CXL_ALLOW,...; unknown; bit_N)\n"
	       "  --require-platform-info LIST, --forbid-platform-info LIST\n"
	       "                         PLATFORM_INFO bits (SMT_EN,TSME_EN,ECC_EN,...)\n"
	       "  --signer KIND          vcek, vlek or any (default)\n"
	       "  --strict-version       refuse a report newer than version 5\n"
	       "  --allow-debug, --allow-migration-agent, --deny-smt\n\n"
	       "Collateral (when no certificate option gives them):\n"
	       "  the VCEK comes from the cache, then AMD KDS; the ASK/ARK from the AMD\n"
	       "  roots compiled into snpctl, then the cache, then KDS.\n"
	       "  --kds-url URL          KDS base URL (a mirror or proxy)\n"
	       "  --cache-dir DIR        certificate cache (default /var/cache/snpd when\n"
	       "                         writable, else ~/.cache/snpd)\n"
	       "  --offline              never touch the network\n"
	       "  --kds-timeout S        give up on a KDS request after S seconds (default 30)\n"
	       "  --kds-ca FILE          trust only these CAs (PEM) for an https:// KDS URL\n"
	       "  --cache-max SIZE       bound of the cached VCEKs (default 16M)\n"
	       "  --crl MODE             prefer (default): check the ASK/ASVK against the\n"
	       "                         product's CRL when one is at hand; require: fail\n"
	       "                         without a current CRL; off\n\n"
	       "  --json                 machine-readable result: the checks and the\n"
	       "                         effective policy; for bound evidence also\n"
	       "                         \"binding\": the proof, the verified events and\n"
	       "                         the event policy's result\n\n"
	       "Exit codes: 0 verified; 1 verification failed, or evidence refused\n"
	       "            (binding: FAIL, also a malformed document); 2 policy check\n"
	       "            failed; 3 bad usage, an unreadable file, a malformed raw report.\n");
}

static int parse_hex_arg(const char *opt, const char *s, u8 *out, size_t size, bool pad)
{
	ssize_t n = snp_hex_decode(s, strlen(s), out, size, false);

	if (n == -ENOBUFS) {
		log_error("%s: more than %zu bytes.", opt, size);
		return -EINVAL;
	}
	if (n < 0 || (n == 0 && !pad)) {
		log_error("%s: '%s' is not hex.", opt, s);
		return -EINVAL;
	}
	if ((size_t)n != size && !pad) {
		log_error("%s: %zd bytes given, expected %zu.", opt, n, size);
		return -EINVAL;
	}
	memset(out + n, 0, size - (size_t)n);
	return 0;
}

static int parse_time(const char *s, time_t *ret)
{
	struct tm tm = { 0 };
	const char *end;
	uint64_t v;

	if (s[0] == '@') {
		if (snp_parse_u64(s + 1, &v) < 0 || v > (uint64_t)INT64_MAX / 2)
			return -EINVAL;
		*ret = (time_t)v;
		return 0;
	}
	if (strcmp(s, "now") == 0) {
		*ret = time(NULL);
		return 0;
	}
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, "%Y-%m-%d", &tm);
		if (!end || *end)
			return -EINVAL;
	}
	*ret = timegm(&tm);
	return 0;
}

static int parse_args(int argc, char **argv, struct verify_args *a)
{
	static const struct option options[] = {
		{ "certs", required_argument, NULL, ARG_CERTS },
		{ "vcek", required_argument, NULL, ARG_VCEK },
		{ "vlek", required_argument, NULL, ARG_VCEK },
		{ "ask", required_argument, NULL, ARG_ASK },
		{ "asvk", required_argument, NULL, ARG_ASK },
		{ "ark", required_argument, NULL, ARG_ARK },
		{ "chain", required_argument, NULL, ARG_CHAIN },
		{ "cert-table", required_argument, NULL, ARG_CERT_TABLE },
		{ "trust-ark", required_argument, NULL, ARG_TRUST_ARK },
		{ "nonce", required_argument, NULL, ARG_NONCE },
		{ "report-data", required_argument, NULL, ARG_REPORT_DATA },
		{ "require-event", required_argument, NULL, ARG_REQUIRE_EVENT },
		{ "forbid-event", required_argument, NULL, ARG_FORBID_EVENT },
		{ "measurement", required_argument, NULL, ARG_MEASUREMENT },
		{ "host-data", required_argument, NULL, ARG_HOST_DATA },
		{ "id-key-digest", required_argument, NULL, ARG_ID_KEY_DIGEST },
		{ "author-key-digest", required_argument, NULL, ARG_AUTHOR_KEY_DIGEST },
		{ "vmpl", required_argument, NULL, ARG_VMPL },
		{ "min-tcb", required_argument, NULL, ARG_MIN_TCB },
		{ "min-fw", required_argument, NULL, ARG_MIN_FW },
		{ "allow-debug", no_argument, NULL, ARG_ALLOW_DEBUG },
		{ "allow-migration-agent", no_argument, NULL, ARG_ALLOW_MA },
		{ "deny-smt", no_argument, NULL, ARG_DENY_SMT },
		{ "require-chip-id", no_argument, NULL, ARG_REQUIRE_CHIP_ID },
		{ "at", required_argument, NULL, ARG_AT },
		{ "product", required_argument, NULL, ARG_PRODUCT },
		{ "json", no_argument, NULL, ARG_JSON },
		{ "crl", required_argument, NULL, ARG_CRL },
		{ "policy", required_argument, NULL, ARG_POLICY },
		{ "strict-version", no_argument, NULL, ARG_STRICT_VERSION },
		{ "allow-provisional", no_argument, NULL, ARG_ALLOW_PROVISIONAL },
		{ "min-launch-tcb", required_argument, NULL, ARG_MIN_LAUNCH_TCB },
		{ "min-launch-mit-vector", required_argument, NULL, ARG_MIN_LAUNCH_MIT },
		{ "min-current-mit-vector", required_argument, NULL, ARG_MIN_CURRENT_MIT },
		{ "products", required_argument, NULL, ARG_PRODUCTS },
		{ "deny-products", required_argument, NULL, ARG_DENY_PRODUCTS },
		{ "require-policy-bits", required_argument, NULL, ARG_REQUIRE_POLICY_BITS },
		{ "forbid-policy-bits", required_argument, NULL, ARG_FORBID_POLICY_BITS },
		{ "require-platform-info", required_argument, NULL, ARG_REQUIRE_PLATFORM_INFO },
		{ "forbid-platform-info", required_argument, NULL, ARG_FORBID_PLATFORM_INFO },
		{ "min-guest-svn", required_argument, NULL, ARG_MIN_GUEST_SVN },
		{ "family-id", required_argument, NULL, ARG_FAMILY_ID },
		{ "image-id", required_argument, NULL, ARG_IMAGE_ID },
		{ "signer", required_argument, NULL, ARG_SIGNER },
		{ "kds-url", required_argument, NULL, SNPCTL_ARG_KDS_URL },
		{ "cache-dir", required_argument, NULL, SNPCTL_ARG_CACHE_DIR },
		{ "offline", no_argument, NULL, SNPCTL_ARG_OFFLINE },
		{ "kds-timeout", required_argument, NULL, SNPCTL_ARG_KDS_TIMEOUT },
		{ "kds-ca", required_argument, NULL, SNPCTL_ARG_KDS_CA },
		{ "cache-max", required_argument, NULL, SNPCTL_ARG_CACHE_MAX },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct snp_policy *pol = &a->pol;
	char err[SNP_ERRBUF];
	bool cli_id_keys = false, cli_author_keys = false;
	bool cli_require_events = false, cli_forbid_events = false;
	int c, r;

	a->at = time(NULL);
	/* first the policy file, so that every option overrides it */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
		if (c == ARG_POLICY)
			a->policy_file = optarg;
	opterr = 1;
	if (a->policy_file && strcmp(a->policy_file, "-") == 0 && optind == argc - 1 &&
	    strcmp(argv[optind], "-") == 0) {
		log_error("The report and --policy cannot both come from standard input.");
		return -EINVAL;
	}
	if (a->policy_file && snp_policy_load_file(a->policy_file, pol, err, sizeof(err)) < 0) {
		log_error("--policy: %s", err);
		return -EINVAL;
	}

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		r = snpctl_kds_parse_opt(c, optarg, &a->kds);
		if (r < 0)
			return r;
		if (r > 0)
			continue;
		switch (c) {
		case ARG_POLICY:
			break; /* read above */
		case ARG_STRICT_VERSION:
			pol->strict_version = true;
			break;
		case ARG_ALLOW_PROVISIONAL:
			pol->allow_provisional = true;
			break;
		case ARG_MIN_LAUNCH_TCB:
			if (snp_min_tcb_parse(optarg, &pol->min_launch_tcb) < 0) {
				log_error("--min-launch-tcb: '%s' is not "
					  "bootloader=N,tee=N,snp=N,microcode=N[,fmc=N] "
					  "with N in 0..255.",
					  optarg);
				return -EINVAL;
			}
			pol->has_min_launch_tcb = true;
			break;
		case ARG_MIN_LAUNCH_MIT:
		case ARG_MIN_CURRENT_MIT: {
			bool launch = c == ARG_MIN_LAUNCH_MIT;
			u64 v;

			if (snp_parse_u64_or_hex(optarg, &v) < 0) {
				log_error("--min-%s-mit-vector: '%s' is not a 64-bit mask.",
					  launch ? "launch" : "current", optarg);
				return -EINVAL;
			}
			if (launch) {
				pol->has_min_launch_mit_vector = true;
				pol->min_launch_mit_vector = v;
			} else {
				pol->has_min_current_mit_vector = true;
				pol->min_current_mit_vector = v;
			}
			break;
		}
		case ARG_PRODUCTS:
		case ARG_DENY_PRODUCTS:
			if (snp_products_parse_list(optarg,
						    c == ARG_PRODUCTS ? &pol->products :
									&pol->deny_products,
						    err, sizeof(err)) < 0) {
				log_error("--%s: %s.",
					  c == ARG_PRODUCTS ? "products" : "deny-products", err);
				return -EINVAL;
			}
			break;
		case ARG_REQUIRE_POLICY_BITS:
		case ARG_FORBID_POLICY_BITS:
			if (snp_bits_parse_list(SNP_BITS_POLICY, optarg,
						c == ARG_REQUIRE_POLICY_BITS ?
							&pol->require_policy_bits :
							&pol->forbid_policy_bits,
						err, sizeof(err)) < 0) {
				log_error("--%s-policy-bits: %s.",
					  c == ARG_REQUIRE_POLICY_BITS ? "require" : "forbid", err);
				return -EINVAL;
			}
			break;
		case ARG_REQUIRE_PLATFORM_INFO:
		case ARG_FORBID_PLATFORM_INFO:
			if (snp_bits_parse_list(SNP_BITS_PLATFORM_INFO, optarg,
						c == ARG_REQUIRE_PLATFORM_INFO ?
							&pol->require_platform_info :
							&pol->forbid_platform_info,
						err, sizeof(err)) < 0) {
				log_error("--%s-platform-info: %s.",
					  c == ARG_REQUIRE_PLATFORM_INFO ? "require" : "forbid",
					  err);
				return -EINVAL;
			}
			break;
		case ARG_MIN_GUEST_SVN:
			if (snp_parse_u32_max(optarg, UINT32_MAX, &pol->min_guest_svn) < 0) {
				log_error("--min-guest-svn: '%s' is not a 32-bit number.", optarg);
				return -EINVAL;
			}
			pol->has_min_guest_svn = true;
			break;
		case ARG_FAMILY_ID:
			if (parse_hex_arg("--family-id", optarg, pol->family_id,
					  sizeof(pol->family_id), false) < 0)
				return -EINVAL;
			pol->has_family_id = true;
			break;
		case ARG_IMAGE_ID:
			if (parse_hex_arg("--image-id", optarg, pol->image_id,
					  sizeof(pol->image_id), false) < 0)
				return -EINVAL;
			pol->has_image_id = true;
			break;
		case ARG_SIGNER:
			if (snp_signer_from_string(optarg, &pol->signer) < 0) {
				log_error("--signer: '%s' is not vcek, vlek or any.", optarg);
				return -EINVAL;
			}
			break;
		case ARG_CRL:
			if (snp_crl_mode_from_string(optarg, &a->crl) < 0) {
				log_error("--crl: '%s' is not require, prefer or off.", optarg);
				return -EINVAL;
			}
			break;
		case ARG_CERTS:
			a->certs_dir = optarg;
			break;
		case ARG_VCEK:
			a->vcek = optarg;
			break;
		case ARG_ASK:
			a->ask = optarg;
			break;
		case ARG_ARK:
			a->ark = optarg;
			break;
		case ARG_CHAIN:
			if (a->n_chains == SNP_ELEMENTSOF(a->chains)) {
				log_error("--chain: at most %zu bundles.",
					  SNP_ELEMENTSOF(a->chains));
				return -EINVAL;
			}
			a->chains[a->n_chains++] = optarg;
			break;
		case ARG_CERT_TABLE:
			a->cert_table = optarg;
			break;
		case ARG_TRUST_ARK:
			a->trust_ark = optarg;
			break;
		case ARG_NONCE: {
			/*
			 * The nonce that bound evidence proves, not an expected
			 * REPORT_DATA: were it compared with REPORT_DATA, a raw
			 * report of that nonce would pass for evidence with its event
			 * log dropped (docs/evidence.md 6).
			 */
			ssize_t n = snp_hex_decode(optarg, strlen(optarg), a->nonce,
						   sizeof(a->nonce), false);

			if (n == -ENOBUFS) {
				log_error("--nonce: more than %zu bytes.", sizeof(a->nonce));
				return -EINVAL;
			}
			if (n <= 0) {
				log_error("--nonce: '%s' is not hex of 1 to %zu bytes.", optarg,
					  sizeof(a->nonce));
				return -EINVAL;
			}
			a->nonce_len = (size_t)n;
			break;
		}
		case ARG_REPORT_DATA:
			if (parse_hex_arg("--report-data", optarg, pol->report_data,
					  sizeof(pol->report_data), true) < 0)
				return -EINVAL;
			pol->has_report_data = true;
			break;
		case ARG_REQUIRE_EVENT:
		case ARG_FORBID_EVENT: {
			bool req = c == ARG_REQUIRE_EVENT;
			bool *first = req ? &cli_require_events : &cli_forbid_events;
			struct snp_policy_event *e = req ? pol->require_events : pol->forbid_events;
			size_t *n = req ? &pol->n_require_events : &pol->n_forbid_events;
			ssize_t len;

			/* the command line's set replaces the policy file's */
			if (!*first)
				*n = 0;
			*first = true;
			if (*n >= SNP_POLICY_MAX_DIGESTS) {
				log_error("%s: at most %d digests.",
					  req ? "--require-event" : "--forbid-event",
					  SNP_POLICY_MAX_DIGESTS);
				return -EINVAL;
			}
			len = snp_hex_decode(optarg, strlen(optarg), e[*n].d, sizeof(e[*n].d),
					     false);
			if (len != 32 && len != 48 && len != 64) {
				log_error("%s: '%s' is not a digest of 32, 48 or 64 bytes in hex.",
					  req ? "--require-event" : "--forbid-event", optarg);
				return -EINVAL;
			}
			e[*n].len = (size_t)len;
			(*n)++;
			break;
		}
		case ARG_MEASUREMENT:
			if (parse_hex_arg("--measurement", optarg, pol->measurement,
					  sizeof(pol->measurement), false) < 0)
				return -EINVAL;
			pol->has_measurement = true;
			break;
		case ARG_HOST_DATA:
			if (parse_hex_arg("--host-data", optarg, pol->host_data,
					  sizeof(pol->host_data), false) < 0)
				return -EINVAL;
			pol->has_host_data = true;
			break;
		case ARG_ID_KEY_DIGEST:
		case ARG_AUTHOR_KEY_DIGEST: {
			bool id = c == ARG_ID_KEY_DIGEST;
			bool *first = id ? &cli_id_keys : &cli_author_keys;
			size_t *n = id ? &pol->n_id_key_digests : &pol->n_author_key_digests;
			u8(*set)[SNP_KEY_DIGEST_SIZE] =
				id ? pol->id_key_digests : pol->author_key_digests;

			/* the command line's set replaces the policy file's */
			if (!*first)
				*n = 0;
			*first = true;
			if (*n == SNP_POLICY_MAX_DIGESTS) {
				log_error("--%s-key-digest: at most %d digests.",
					  id ? "id" : "author", SNP_POLICY_MAX_DIGESTS);
				return -EINVAL;
			}
			if (parse_hex_arg(id ? "--id-key-digest" : "--author-key-digest", optarg,
					  set[*n], SNP_KEY_DIGEST_SIZE, false) < 0)
				return -EINVAL;
			(*n)++;
			break;
		}
		case ARG_VMPL:
			if (snp_parse_u32_max(optarg, 3, &pol->vmpl) < 0) {
				log_error("--vmpl: '%s' is not 0..3.", optarg);
				return -EINVAL;
			}
			pol->has_vmpl = true;
			break;
		case ARG_MIN_TCB:
			if (snp_min_tcb_parse(optarg, &pol->min_tcb) < 0) {
				log_error("--min-tcb: '%s' is not "
					  "bootloader=N,tee=N,snp=N,microcode=N[,fmc=N] "
					  "with N in 0..255.",
					  optarg);
				return -EINVAL;
			}
			pol->has_min_tcb = true;
			break;
		case ARG_MIN_FW:
			if (snp_policy_parse_firmware(optarg, pol) < 0) {
				log_error("--min-fw: '%s' is not MAJOR.MINOR[.BUILD].", optarg);
				return -EINVAL;
			}
			break;
		case ARG_ALLOW_DEBUG:
			pol->allow_debug = true;
			break;
		case ARG_ALLOW_MA:
			pol->allow_migrate_ma = true;
			break;
		case ARG_DENY_SMT:
			pol->deny_smt = true;
			break;
		case ARG_REQUIRE_CHIP_ID:
			pol->require_chip_id = true;
			break;
		case ARG_AT:
			if (parse_time(optarg, &a->at) < 0) {
				log_error("--at: '%s' is not YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or "
					  "@EPOCH.",
					  optarg);
				return -EINVAL;
			}
			break;
		case ARG_PRODUCT:
			if (snp_product_from_string(optarg, &a->product) < 0) {
				log_error("--product: unknown product '%s' (milan, genoa, turin, "
					  "venice).",
					  optarg);
				return -EINVAL;
			}
			break;
		case ARG_JSON:
			a->json = true;
			break;
		case 'h':
			verify_help();
			return 1;
		default:
			return -EINVAL;
		}
	}
	if (optind < argc - 1) {
		log_error("Expected at most one report file.");
		return -EINVAL;
	}
	if (optind == argc - 1)
		a->report = argv[optind];
	return 0;
}

/* Move every certificate of @sk (consumed) into the pool. */
static int pool_take(struct cert_set *cs, STACK_OF(X509) * sk)
{
	while (sk_X509_num(sk) > 0) {
		X509 *c = sk_X509_shift(sk);

		if (!sk_X509_push(cs->pool, c)) {
			X509_free(c);
			sk_X509_pop_free(sk, X509_free);
			return log_error_errno(ENOMEM, "Out of memory.");
		}
	}
	sk_X509_free(sk);
	return 0;
}

/* Load @path into the pool; *ret_first (optional) gets its first certificate. */
static int load_into(struct cert_set *cs, const char *path, X509 **ret_first)
{
	STACK_OF(X509) *sk = NULL;
	char err[SNP_ERRBUF];
	int r;

	r = snp_x509_load_file(path, &sk, err, sizeof(err));
	if (r < 0) {
		log_error("%s", err);
		return r;
	}
	if (ret_first)
		*ret_first = sk_X509_value(sk, 0);
	return pool_take(cs, sk);
}

/* The ARK, ASK/ASVK and VCEK/VLEK entries of a certificate table. */
static int load_cert_table(struct cert_set *cs, const char *path)
{
	_cleanup_(freep) u8 *data = NULL;
	struct snp_cert_table t;
	char err[SNP_ERRBUF];
	size_t len;
	int r;

	r = snp_read_file(path, 4 * SNP_CERTS_MAX_LEN, &data, &len);
	if (r < 0)
		return log_error_errno(r, "Failed to read %s: %m", path);
	r = snp_cert_table_parse(data, len, &t, err, sizeof(err));
	if (r < 0) {
		log_error("%s: malformed certificate table: %s", path, err);
		return r;
	}
	for (size_t i = 0; i < t.n; i++) {
		const struct snp_cert_table_entry *e = &t.entries[i];
		STACK_OF(X509) *sk = NULL;

		if (e->kind == SNP_CERT_CRL && !cs->crl) {
			const unsigned char *q = e->data;

			/* the host's CRL; verify checks its signature and currency */
			cs->crl = d2i_X509_CRL(NULL, &q, (long)e->length);
			ERR_clear_error();
			continue;
		}
		if (e->kind == SNP_CERT_UNKNOWN || e->kind == SNP_CERT_CRL)
			continue;
		r = snp_x509_load_mem(e->data, e->length, &sk, err, sizeof(err));
		if (r < 0) {
			log_error("%s: %s entry: %s", path, snp_cert_kind_name(e->kind), err);
			return r;
		}
		r = pool_take(cs, sk);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool is_self_issued(X509 *c)
{
	return X509_NAME_cmp(X509_get_subject_name(c), X509_get_issuer_name(c)) == 0;
}

static bool is_leaf(X509 *c)
{
	EVP_PKEY *k = X509_get0_pubkey(c);

	return k && EVP_PKEY_get_base_id(k) == EVP_PKEY_EC;
}

static int cn_is(X509 *c, const char *prefix)
{
	char cn[64];

	snp_x509_cn(c, false, cn, sizeof(cn));
	return strncmp(cn, prefix, strlen(prefix)) == 0;
}

/* Pick ARK, ASK and leaf from the pool where they were not given by name. */
static void classify(struct cert_set *cs)
{
	int n = sk_X509_num(cs->pool);

	for (int i = 0; !cs->leaf && i < n; i++)
		if (is_leaf(sk_X509_value(cs->pool, i)))
			cs->leaf = sk_X509_value(cs->pool, i);
	/* the intermediate that issued the leaf, else any SEV-* intermediate */
	for (int i = 0; !cs->ask && cs->leaf && i < n; i++) {
		X509 *c = sk_X509_value(cs->pool, i);

		if (c != cs->leaf && !is_self_issued(c) &&
		    X509_NAME_cmp(X509_get_subject_name(c), X509_get_issuer_name(cs->leaf)) == 0)
			cs->ask = c;
	}
	for (int i = 0; !cs->ask && i < n; i++) {
		X509 *c = sk_X509_value(cs->pool, i);

		if (c != cs->leaf && !is_self_issued(c) && !is_leaf(c) && cn_is(c, "SEV-") &&
		    !cn_is(c, "SEV-VLEK-"))
			cs->ask = c;
	}
	/* the root that issued the intermediate, else any self-issued root */
	for (int i = 0; !cs->ark && cs->ask && i < n; i++) {
		X509 *c = sk_X509_value(cs->pool, i);

		if (is_self_issued(c) &&
		    X509_NAME_cmp(X509_get_subject_name(c), X509_get_issuer_name(cs->ask)) == 0)
			cs->ark = c;
	}
	for (int i = 0; !cs->ark && i < n; i++) {
		X509 *c = sk_X509_value(cs->pool, i);

		if (is_self_issued(c) && !is_leaf(c))
			cs->ark = c;
	}
}

static int load_certs(const struct verify_args *a, struct cert_set *cs)
{
	static const char *const dir_files[] = { "vcek.pem", "vcek.der",       "vlek.pem",
						 "vlek.der", "ask.pem",	       "asvk.pem",
						 "ark.pem",  "cert_chain.pem", "chain.pem" };
	int r;

	cs->pool = sk_X509_new_null();
	if (!cs->pool)
		return log_error_errno(ENOMEM, "Out of memory.");
	if (a->vcek && (r = load_into(cs, a->vcek, &cs->leaf)) < 0)
		return r;
	if (a->ask && (r = load_into(cs, a->ask, &cs->ask)) < 0)
		return r;
	if (a->ark && (r = load_into(cs, a->ark, &cs->ark)) < 0)
		return r;
	for (size_t i = 0; i < a->n_chains; i++)
		if ((r = load_into(cs, a->chains[i], NULL)) < 0)
			return r;
	if (a->cert_table && (r = load_cert_table(cs, a->cert_table)) < 0)
		return r;
	if (a->certs_dir) {
		struct stat st;
		bool any = false;

		if (stat(a->certs_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
			log_error("--certs: %s is not a directory.", a->certs_dir);
			return -ENOTDIR;
		}
		for (size_t i = 0; i < SNP_ELEMENTSOF(dir_files); i++) {
			char path[4096];

			if ((size_t)snprintf(path, sizeof(path), "%s/%s", a->certs_dir,
					     dir_files[i]) >= sizeof(path))
				return log_error_errno(ENAMETOOLONG, "--certs: path too long.");
			if (access(path, F_OK) < 0)
				continue;
			if ((r = load_into(cs, path, NULL)) < 0)
				return r;
			any = true;
		}
		if (!any) {
			log_error("--certs: %s holds none of ark.pem, ask.pem, vcek.pem, "
				  "vcek.der, vlek.pem, cert_chain.pem.",
				  a->certs_dir);
			return -ENOENT;
		}
	}
	classify(cs);

	if (a->trust_ark) {
		STACK_OF(X509) *sk = NULL;
		char err[SNP_ERRBUF];

		r = snp_x509_load_file(a->trust_ark, &sk, err, sizeof(err));
		if (r < 0) {
			log_error("--trust-ark: %s", err);
			return r;
		}
		cs->trust = sk_X509_shift(sk);
		sk_X509_pop_free(sk, X509_free);
		/* the anchor is also the root when none was given */
		if (!cs->ark)
			cs->ark = cs->trust;
	}
	return 0;
}

struct sources {
	const char *leaf, *ask, *ark, *crl;
	char cache_dir[4096];
	char stale_leaf[SNP_ERRBUF]; /* why a given VCEK was not the report's, or "" */
	char stale_crl[SNP_ERRBUF];  /* why a given CRL was set aside, or "" */
};

/*
 * @crl (borrowed), which came with the certificates (@whose: "the certificate
 * table's", "the evidence's"), is not current at @at and one from @used
 * takes its place: say so on stderr and in sources.stale_crl, so that a
 * relying party sees which CRL was passed over and why.
 */
static void note_stale_crl(const X509_CRL *crl, const char *whose, time_t at, const char *used,
			   struct sources *src)
{
	const char *why = NULL;
	char until[32];

	snp_crl_current(crl, at, &why, until, sizeof(until));
	snprintf(src->stale_crl, sizeof(src->stale_crl), "%s CRL %s (nextUpdate %s)", whose,
		 why ? why : "is not current", until);
	log_warning("Stale CRL: %s; using the one from %s instead.", src->stale_crl,
		    strcmp(used, "kds") == 0 ? "AMD KDS" : "the cache");
}

static bool any_cert_option(const struct verify_args *a)
{
	return a->vcek || a->ask || a->ark || a->n_chains || a->cert_table || a->certs_dir;
}

static int pool_add(struct cert_set *cs, X509 *c)
{
	if (!sk_X509_push(cs->pool, c)) {
		X509_free(c);
		return log_error_errno(ENOMEM, "Out of memory.");
	}
	return 0;
}

/*
 * A report signed by a VLEK (SIGNING_KEY 1) and no VLEK given: AMD KDS
 * serves VLEK certificates only to cloud providers (an authenticated
 * interface; snp-abi.md §7.3), so it is never fetched. The cache holds one
 * only when it was imported.
 */
static int vlek_from_cache(struct snp_kds *k, struct snp_report_info *ri, X509 **ret)
{
	struct snp_tcb_parts tcb;
	char err[SNP_ERRBUF];
	int r = -ENOENT;

	snp_tcb_decode(le64_to_cpu(ri->r.reported_tcb), snp_report_tcb_layout(ri), &tcb);
	if (ri->product != SNP_PRODUCT_UNKNOWN) {
		r = snp_kds_cache_get_vlek(k, ri->product, &tcb, ret, err, sizeof(err));
	} else {
		/* a v2 report: Milan or Genoa */
		for (enum snp_product p = SNP_PRODUCT_MILAN; p <= SNP_PRODUCT_GENOA && r < 0; p++)
			r = snp_kds_cache_get_vlek(k, p, &tcb, ret, err, sizeof(err));
	}
	if (r == 0)
		return 0;
	log_error("This report is signed by a VLEK (SIGNING_KEY 1) and no VLEK certificate was "
		  "given or imported into the cache (%s). AMD KDS does not serve VLEK certificates "
		  "publicly (only to the cloud provider): take it from the host's certificate "
		  "table (/snp/certs/vlek.pem, 'snpctl report --certs-dir', --cert-table) and give "
		  "--vlek FILE or --certs DIR, or 'snpctl collateral import' it.",
		  k->cache_dir[0] ? k->cache_dir : "none");
	return -ENOENT;
}

/*
 * A VCEK that came with the host's certificates (--certs, --cert-table,
 * --chain; not one named with --vcek) but is not this report's -- another
 * TCB (a host not updated since a firmware change) or another chip -- is
 * replaced by the report's own from the cache or KDS. When that is not at
 * hand the given one stays, and tcb_match (chip_match) fails on it.
 */
static int replace_stale_leaf(const struct verify_args *a, struct snp_kds *k, struct cert_set *cs,
			      struct snp_report_info *ri, struct sources *src)
{
	struct snp_kds_key want, have;
	enum snp_kds_source ks;
	char err[SNP_ERRBUF];
	X509 *c = NULL;
	int r;

	if (a->product != SNP_PRODUCT_UNKNOWN)
		snp_report_set_product(ri, a->product, SNP_PRODUCT_SRC_HINT);
	/* a VLEK (no hwID), a v2 report of unknown product, a masked CHIP_ID */
	if (snp_kds_key_from_cert(cs->leaf, &have, err, sizeof(err)) < 0 ||
	    ri->product == SNP_PRODUCT_UNKNOWN ||
	    snp_kds_key_from_report(ri, &want, err, sizeof(err)) < 0) {
		ERR_clear_error();
		return 0;
	}
	if (snp_kds_cert_matches(cs->leaf, &want, err, sizeof(err)))
		return 0;
	snprintf(src->stale_leaf, sizeof(src->stale_leaf),
		 "the given VCEK (bl=%u tee=%u snp=%u uc=%u fmc=%u) is not the report's "
		 "(bl=%u tee=%u snp=%u uc=%u fmc=%u%s)",
		 have.tcb.bootloader, have.tcb.tee, have.tcb.snp, have.tcb.microcode, have.tcb.fmc,
		 want.tcb.bootloader, want.tcb.tee, want.tcb.snp, want.tcb.microcode, want.tcb.fmc,
		 have.hwid_len == want.hwid_len &&
				 memcmp(have.hwid, want.hwid, have.hwid_len) == 0 ?
			 "" :
			 ", another chip");
	log_warning("Stale certificates: %s; looking for the report's VCEK in the cache%s.",
		    src->stale_leaf, k->offline ? " (--offline)" : " and AMD KDS");
	r = snp_kds_get_vcek(k, &want, &c, &ks, err, sizeof(err));
	ERR_clear_error();
	if (r < 0) {
		log_warning("The report's VCEK is not at hand (%s): verifying with the given one, "
			    "whose TCB does not match the report.",
			    err);
		return 0;
	}
	if (pool_add(cs, c) < 0)
		return -ENOMEM;
	cs->leaf = c;
	src->leaf = snp_kds_source_name(ks);
	log_warning("Using the report's VCEK from %s instead.", src->leaf);
	return 0;
}

/*
 * Fill what the certificate options did not give: the VCEK from the cache
 * or KDS, the ASK/ASVK and ARK from the compiled-in AMD roots, else the
 * cache or KDS, and the CRL. The network is used for the CRL only when no
 * certificate option was given (or with --crl=require).
 */
static int fill_collateral(const struct verify_args *a, struct cert_set *cs,
			   struct snp_report_info *ri, X509_CRL **ret_crl, struct sources *src)
{
	enum snp_product product = a->product;
	enum snp_kds_source ks;
	struct snp_amd_ext ext = { 0 };
	char err[SNP_ERRBUF];
	struct snp_kds k;
	bool vlek;
	int r;

	const char *given = "given";

	src->leaf = cs->leaf ? given : NULL;
	src->ask = cs->ask ? given : NULL;
	src->ark = cs->ark ? given : NULL;
	if (snpctl_kds_setup(&k, &a->kds) < 0)
		return -EINVAL;
	/* what lib/kds caches (chain, CRL) must be under the root trusted here */
	k.trusted_ark = cs->trust;
	snprintf(src->cache_dir, sizeof(src->cache_dir), "%s", k.cache_dir);

	if (cs->leaf && !a->vcek && ri) {
		r = replace_stale_leaf(a, &k, cs, ri, src);
		if (r < 0)
			return r;
	}

	if (!cs->leaf) {
		struct snp_kds_key key;
		X509 *c = NULL;

		if (!ri) {
			log_error("No VCEK or VLEK certificate: give a REPORT, --vcek, --certs DIR "
				  "or --chain.");
			return -ENOENT;
		}
		if (a->product != SNP_PRODUCT_UNKNOWN)
			snp_report_set_product(ri, a->product, SNP_PRODUCT_SRC_HINT);
		if (snp_report_signing_key(ri) == SNP_SIGNING_KEY_VLEK) {
			r = vlek_from_cache(&k, ri, &c);
			if (r < 0)
				return r;
			ks = SNP_KDS_SRC_CACHE;
			goto have_leaf;
		}
		if (ri->product == SNP_PRODUCT_UNKNOWN) {
			/* a v2 report: Milan or Genoa; the cache may know */
			bool off = k.offline;
			enum snp_product p;

			k.offline = true;
			r = -ENOENT;
			for (p = SNP_PRODUCT_MILAN; p <= SNP_PRODUCT_GENOA && r < 0; p++) {
				snp_report_set_product(ri, p, SNP_PRODUCT_SRC_HINT);
				if (snp_kds_key_from_report(ri, &key, err, sizeof(err)) == 0)
					r = snp_kds_get_vcek(&k, &key, &c, &ks, err, sizeof(err));
			}
			k.offline = off;
			if (r < 0) {
				ri->product = SNP_PRODUCT_UNKNOWN;
				ri->product_source = SNP_PRODUCT_SRC_NONE;
				log_error(
					"The report does not say its product (version 2) and its VCEK "
					"is not in the cache: give --product to ask AMD KDS.");
				return -EINVAL;
			}
		} else {
			if (snp_kds_key_from_report(ri, &key, err, sizeof(err)) < 0) {
				log_error("Cannot look up the VCEK: %s.", err);
				return -EINVAL;
			}
			r = snp_kds_get_vcek(&k, &key, &c, &ks, err, sizeof(err));
		}
		if (r == -ENOENT) {
			log_error(
				"The VCEK of this report is not in the cache (%s) and --offline "
				"is given: run 'snpctl collateral fetch REPORT' where AMD KDS can "
				"be reached (then 'snpctl collateral export/import'), or give "
				"--vcek or --certs.",
				k.cache_dir[0] ? k.cache_dir : "none");
			return r;
		}
		if (r < 0) {
			log_error("No VCEK: %s", err);
			return r;
		}
have_leaf:
		if (pool_add(cs, c) < 0)
			return -ENOMEM;
		cs->leaf = c;
		src->leaf = snp_kds_source_name(ks);
	}

	if (snp_amd_ext_parse(cs->leaf, &ext, err, sizeof(err)) < 0)
		return 0; /* verify reports it */
	vlek = ext.has_csp_id && !ext.has_hwid;
	if (product == SNP_PRODUCT_UNKNOWN && ri && ri->product_source == SNP_PRODUCT_SRC_CPUID)
		product = ri->product;
	if (product == SNP_PRODUCT_UNKNOWN && ext.has_product_name)
		snp_product_from_string(ext.product_name, &product);
	if (product == SNP_PRODUCT_UNKNOWN && ri)
		product = ri->product;

	if ((!cs->ask || !cs->ark) && product != SNP_PRODUCT_UNKNOWN) {
		X509 *ask = NULL, *ark = NULL;

		/* the compiled-in AMD certificates, when they issued this leaf */
		if (snp_amd_root_load(product, vlek ? SNP_AMD_ROOT_ASVK : SNP_AMD_ROOT_ASK, &ask) ==
			    0 &&
		    snp_amd_root_load(product, SNP_AMD_ROOT_ARK, &ark) == 0 &&
		    X509_verify(cs->leaf, X509_get0_pubkey(ask)) == 1) {
			src->ask = src->ask ? src->ask : "embedded AMD";
			src->ark = src->ark ? src->ark : "embedded AMD";
		} else {
			X509_free(ask);
			X509_free(ark);
			ask = ark = NULL;
			ERR_clear_error();
			r = snp_kds_get_chain(&k, product, vlek, &ask, &ark, &ks, err, sizeof(err));
			if (r < 0) {
				log_error("No %s/ARK: %s", vlek ? "ASVK" : "ASK", err);
				return r;
			}
			src->ask = src->ask ? src->ask : snp_kds_source_name(ks);
			src->ark = src->ark ? src->ark : snp_kds_source_name(ks);
		}
		if (pool_add(cs, ask) < 0 || pool_add(cs, ark) < 0)
			return -ENOMEM;
		if (!cs->ask)
			cs->ask = ask;
		if (!cs->ark)
			cs->ark = ark;
	}

	if (a->crl != SNP_CRL_OFF && cs->crl) {
		*ret_crl = cs->crl;
		cs->crl = NULL;
		src->crl = "certificate table";
	}
	/*
	 * The table's CRL as an evidence document's (use_evidence()): the host
	 * chooses what it carries, an old one included. Not current at --at,
	 * one from the cache (KDS too with --crl=require) takes its place; the
	 * check says whether what is used is current.
	 */
	if (a->crl != SNP_CRL_OFF && product != SNP_PRODUCT_UNKNOWN &&
	    (!*ret_crl || !snp_crl_current(*ret_crl, a->at, NULL, NULL, 0))) {
		X509_CRL *other = NULL;

		if (any_cert_option(a) && a->crl != SNP_CRL_REQUIRE)
			k.offline = true; /* the cache only */
		r = snp_kds_get_crl(&k, product, vlek, &other, &ks, err, sizeof(err));
		if (r == 0) {
			if (*ret_crl)
				note_stale_crl(*ret_crl, "the certificate table's", a->at,
					       snp_kds_source_name(ks), src);
			X509_CRL_free(*ret_crl);
			*ret_crl = other;
			src->crl = snp_kds_source_name(ks);
		} else if (a->crl == SNP_CRL_REQUIRE) {
			log_error("No %sCRL: %s", *ret_crl ? "current " : "", err);
		}
		ERR_clear_error();
	}
	return 0;
}

/*
 * An evidence document carries its certificates and CRL: they are used as
 * they are, with neither the cache nor the network (--trust-ark still
 * names the root trusted besides AMD's; the ARK must then be it).
 */
static int use_evidence(const struct verify_args *a, struct cert_set *cs,
			struct snpctl_evidence *ev, struct snp_report_info *ri, X509_CRL **ret_crl,
			struct sources *src)
{
	time_t now = a->at;
	X509 *c[3];

	if (any_cert_option(a)) {
		log_error("%s is an evidence document: it carries its certificates; give no "
			  "--certs, --vcek, --ask, --ark, --chain or --cert-table.",
			  a->report);
		return -EINVAL;
	}
	if (a->product != SNP_PRODUCT_UNKNOWN)
		snp_report_set_product(ri, a->product, SNP_PRODUCT_SRC_HINT);
	c[0] = ev->leaf;
	c[1] = ev->ask;
	c[2] = ev->ark;
	ev->leaf = ev->ask = ev->ark = NULL;
	for (int i = 0; i < 3; i++)
		if (pool_add(cs, c[i]) < 0) { /* frees c[i] */
			for (int j = i + 1; j < 3; j++)
				X509_free(c[j]);
			return -ENOMEM;
		}
	cs->leaf = c[0];
	cs->ask = c[1];
	cs->ark = c[2];
	if (a->crl != SNP_CRL_OFF) {
		*ret_crl = ev->crl;
		ev->crl = NULL;
	}
	src->leaf = src->ask = src->ark = "evidence";
	src->crl = *ret_crl ? "evidence" : NULL;
	snprintf(src->cache_dir, sizeof(src->cache_dir), "%s", "");
	/*
	 * The document chooses what it carries: without a CRL, or with one
	 * past its nextUpdate, the revocation check would be skipped where the
	 * relying party knows better. Look in the cache (KDS too with
	 * --crl=require), as for other given certificates.
	 */
	if (a->crl != SNP_CRL_OFF && ri->product != SNP_PRODUCT_UNKNOWN &&
	    (!*ret_crl || !snp_crl_current(*ret_crl, now, NULL, NULL, 0))) {
		bool vlek = snp_report_signing_key(ri) == SNP_SIGNING_KEY_VLEK;
		enum snp_kds_source ks;
		char err[SNP_ERRBUF];
		X509_CRL *other = NULL;
		struct snp_kds k;

		if (snpctl_kds_setup(&k, &a->kds) < 0)
			return -EINVAL;
		k.trusted_ark = cs->trust;
		if (a->crl != SNP_CRL_REQUIRE)
			k.offline = true;
		snprintf(src->cache_dir, sizeof(src->cache_dir), "%s", k.cache_dir);
		if (snp_kds_get_crl(&k, ri->product, vlek, &other, &ks, err, sizeof(err)) == 0) {
			if (*ret_crl)
				note_stale_crl(*ret_crl, "the evidence's", now,
					       snp_kds_source_name(ks), src);
			X509_CRL_free(*ret_crl);
			*ret_crl = other;
			src->crl = snp_kds_source_name(ks);
		} else if (a->crl == SNP_CRL_REQUIRE) {
			log_error("No current CRL in the evidence, the cache or KDS: %s", err);
		}
		ERR_clear_error();
	}
	return 0;
}

static void cert_set_release(struct cert_set *cs)
{
	sk_X509_pop_free(cs->pool, X509_free);
	X509_free(cs->trust);
	X509_CRL_free(cs->crl);
	memset(cs, 0, sizeof(*cs));
}

/* What the binding check found, for the result (text and JSON). */
struct binding_out {
	json_t *json;		/* the "binding" member (new), NULL: no binding */
	bool event_policy_fail; /* an event policy check failed: exit code 2 */
};

static int print_result(const struct verify_args *a, const struct snp_report_info *ri,
			const struct snp_verify_result *res, const struct sources *srcs,
			const struct binding_out *bind, int code)
{
	static const char *const verdicts[] = {
		[SNPCTL_EXIT_OK] = "verified",
		[SNPCTL_EXIT_VERIFY] = "verification failed",
		[SNPCTL_EXIT_POLICY] = "policy check failed",
	};

	if (a->json) {
		json_t *o = json_pack("{s:s?, s:s, s:i, s:o*, s:o*}", "report", a->report, "result",
				      verdicts[code], "exit_code", code, "checks",
				      snp_verify_result_to_json(res), "report_fields",
				      ri ? snp_report_to_json(ri) : NULL);

		if (o && ri)
			json_object_set_new(o, "product",
					    json_string(snp_product_name(ri->product)));
		json_object_set_new(o, "sources",
				    json_pack("{s:s?, s:s?, s:s?, s:s?, s:s, s:s?, s:s?}", "leaf",
					      srcs->leaf, "ask", srcs->ask, "ark", srcs->ark, "crl",
					      srcs->crl, "cache_dir", srcs->cache_dir, "stale_leaf",
					      srcs->stale_leaf[0] ? srcs->stale_leaf : NULL,
					      "stale_crl",
					      srcs->stale_crl[0] ? srcs->stale_crl : NULL));
		json_object_set_new(o, "policy", snp_policy_to_json(&a->pol));
		json_object_set_new(o, "root",
				    json_string(res->root_explicit ? "explicit trust anchor" :
						res->root_pinned   ? "amd pinned" :
								     "untrusted"));
		/* bound evidence: the proof, the verified events, the event policy */
		if (bind->json)
			json_object_set(o, "binding", bind->json);
		if (!o || json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0) {
			json_decref(o);
			log_error("Failed to render JSON.");
			return SNPCTL_EXIT_USAGE;
		}
		json_decref(o);
		putchar('\n');
		return code;
	}

	if (ri)
		printf("report: %s (version %u%s, %s from %s%s)\n", a->report, ri->version,
		       snp_report_version_newer(ri) ? ", newer than the verifier knows" : "",
		       snp_product_name(ri->product), snp_product_source_name(ri->product_source),
		       snp_product_unconfirmed(ri->product) ? ", layouts unconfirmed" : "");
	else
		printf("certificates only (no report given)\n");
	for (size_t i = 0; i < res->n; i++) {
		const struct snp_check *c = &res->checks[i];

		printf("  %-18s %-8s %s\n", c->name, snp_check_status_name(c->status), c->detail);
	}
	if (code == SNPCTL_EXIT_OK)
		printf("result: VERIFIED%s\n",
		       res->root_explicit ? " (root: explicitly trusted anchor, not AMD)" : "");
	else
		printf("result: %s\n",
		       code == SNPCTL_EXIT_VERIFY ? "VERIFICATION FAILED" : "POLICY CHECK FAILED");
	return code;
}

/*
 * Verify @ri (borrowed; NULL: the certificates only) with the certificates
 * of @cs (borrowed; what it lacks comes from the cache, KDS or the AMD roots
 * compiled in) under a->pol, and print the result. The report and the
 * certificates are in memory, so that other inputs (an evidence document)
 * can share this path; @ev (may be NULL) is an evidence document whose
 * certificates and CRL are taken instead. Returns the exit code.
 */
static int verify_loaded(const struct verify_args *a, struct snp_report_info *ri,
			 struct cert_set *cs, struct snpctl_evidence *ev,
			 const struct binding_out *bind)
{
	struct snp_verify_input in = { 0 };
	struct snp_verify_result res;
	struct sources srcs = { 0 };
	X509_CRL *crl = NULL;
	int r, code;

	in.report = ri;
	if (ev && ev->leaf) {
		if (use_evidence(a, cs, ev, ri, &crl, &srcs) < 0) {
			code = SNPCTL_EXIT_USAGE;
			goto out;
		}
	} else if (fill_collateral(a, cs, ri, &crl, &srcs) < 0) {
		code = SNPCTL_EXIT_USAGE;
		goto out;
	}
	if (!cs->ark || !cs->ask) {
		log_error("No %s certificate: give --certs DIR, --chain (AMD KDS cert_chain) or "
			  "--ask/--ark.",
			  !cs->ask ? "ASK/ASVK" : "ARK");
		code = SNPCTL_EXIT_USAGE;
		goto out;
	}
	if (!a->json)
		printf("certificates: VCEK/VLEK %s, ASK/ASVK %s, ARK %s, CRL %s (cache %s)\n",
		       srcs.leaf, srcs.ask, srcs.ark, srcs.crl ? srcs.crl : "none",
		       srcs.cache_dir[0] ? srcs.cache_dir : "none");
	in.crl = crl;
	in.crl_mode = a->crl;
	in.ark = cs->ark;
	in.ask = cs->ask;
	in.leaf = cs->leaf;
	in.trust_ark = cs->trust;
	in.product = a->product;
	in.at = a->at;

	r = snp_verify(&in, &a->pol, &res);
	if (r < 0) {
		log_error_errno(r, "Verification could not run: %m");
		code = SNPCTL_EXIT_USAGE;
		goto out;
	}
	if (!snp_verify_result_ok(&res, SNP_CHECK_VERIFY))
		code = SNPCTL_EXIT_VERIFY;
	else if (!snp_verify_result_ok(&res, SNP_CHECK_POLICY))
		code = SNPCTL_EXIT_POLICY;
	else if (bind->event_policy_fail)
		code = SNPCTL_EXIT_POLICY; /* the event policy of bound evidence */
	else
		code = SNPCTL_EXIT_OK;
	code = print_result(a, in.report, &res, &srcs, bind, code);
	if (fflush(stdout) != 0)
		code = SNPCTL_EXIT_USAGE;
out:
	X509_CRL_free(crl);
	return code;
}

static bool has_digest(const struct snp_event *ev, size_t n, const u8 *d, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (ev[i].digest_len == len && !memcmp(ev[i].digest, d, len))
			return true;
	return false;
}

/*
 * JSON of the verified events: each as GET /v1/log renders it, the record
 * encoded from the decoded event (canonical) and "head" replayed here, not
 * copied from the document. New reference, NULL on ENOMEM.
 */
static json_t *events_to_json(const struct snp_event *events, size_t n, u8 head[SNP_HASH_SIZE])
{
	json_t *arr = json_array();

	snp_evlog_head_init(head);
	for (size_t i = 0; arr && i < n; i++) {
		u8 rec[SNP_EVENT_RECORD_MAX];
		size_t len;

		if (snp_event_encode(&events[i], rec, &len) < 0 ||
		    snp_evlog_extend(head, rec, len) < 0 ||
		    json_array_append_new(arr, snp_event_to_json(i, rec, len, head)) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/* A JSON array of the hex digests of @e[0..n-1]. New reference. */
static json_t *digests_to_json(const struct snp_policy_event *e, size_t n)
{
	char hex[2 * SNP_EVENT_DIGEST_MAX + 1];
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++) {
		snp_hex_encode(e[i].d, e[i].len, hex);
		json_array_append_new(arr, json_string(hex));
	}
	return arr;
}

/*
 * Whether the options ask for snpd's bound evidence: --nonce, or an event
 * policy (which only a bound event log can satisfy). Anything else given
 * then is refused, never checked as a raw report: a raw report whose
 * REPORT_DATA is the nonce must not pass for evidence without its log.
 */
static bool want_bound(const struct verify_args *a)
{
	return a->nonce_len || a->pol.n_require_events || a->pol.n_forbid_events;
}

/*
 * Refuse the evidence for a reason found in it (docs/evidence.md 7):
 * "binding: FAIL: REASON" on standard output, or with --json the refusal's
 * document, so that a script reads one verdict whatever went wrong; the
 * report is not checked. Returns the exit code of a refusal.
 */
static int refuse(const struct verify_args *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int refuse(const struct verify_args *a, const char *fmt, ...)
{
	char why[SNP_ERRBUF + 256], nonce_hex[2 * SNP_NONCE_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snp_hex_encode(a->nonce, a->nonce_len, nonce_hex);
	if (a->json) {
		json_t *o =
			json_pack("{s:s?, s:s, s:i, s:{s:s, s:b, s:s?, s:s}}", "report", a->report,
				  "result", "verification failed", "exit_code", SNPCTL_EXIT_VERIFY,
				  "binding", "scheme", SNP_BINDING_SCHEME, "ok", 0, "nonce",
				  a->nonce_len ? nonce_hex : NULL, "reason", why);

		if (!o || json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0)
			log_error("Failed to render JSON.");
		else
			putchar('\n');
		json_decref(o);
	} else {
		printf("binding: FAIL: %s\n", why);
	}
	log_error("Evidence refused: %s", why);
	return SNPCTL_EXIT_VERIFY;
}

/*
 * The binding of bound evidence (docs/evidence.md 7): the proof of our
 * nonce and the event log against REPORT_DATA, then the event policy.
 * Returns an exit code: SNPCTL_EXIT_OK lets the report be checked (an
 * event policy failure is in @out, so that the report is still checked and
 * a bad one fails verification first); on a refusal the result is printed
 * here. @out->json is the result's "binding" member (man snpctl, JSON).
 */
static int verify_binding(const struct verify_args *a, const struct snpctl_evidence *ev,
			  const struct snp_report_info *ri, struct binding_out *out)
{
	_cleanup_(freep) struct snp_event *events = NULL;
	char err[SNP_ERRBUF], hex[2 * SNP_EVENT_DIGEST_MAX + 1], why[256] = "";
	char nonce_hex[2 * SNP_NONCE_MAX + 1], head_hex[2 * SNP_HASH_SIZE + 1];
	u8 head[SNP_HASH_SIZE];
	json_t *evs;
	size_t n = 0;
	int r;

	if (!ev->binding) {
		/*
		 * Only an snpd before the scheme wrote documents without a
		 * binding; today's is a raw report put in a document, and its
		 * REPORT_DATA is whatever its maker asked for.
		 */
		if (want_bound(a))
			return refuse(a, "the document has no binding; snpd's evidence is always "
					 "bound");
		return SNPCTL_EXIT_OK;
	}
	if (!a->nonce_len) {
		log_error("The evidence binds a batch of nonces: give --nonce HEX, the nonce you "
			  "sent.");
		return SNPCTL_EXIT_USAGE;
	}
	r = snp_binding_verify_json(ev->binding, ri->r.report_data, a->nonce, a->nonce_len, &events,
				    &n, err, sizeof(err));
	if (r == -ENOMEM) {
		log_error_errno(r, "Out of memory.");
		return SNPCTL_EXIT_USAGE;
	}
	if (r < 0)
		return refuse(a, "%s", err);
	if (!a->json) {
		printf("binding: ok (%s): nonce proven, leaf %lld of %lld; event log %zu event(s)\n",
		       SNP_BINDING_SCHEME,
		       (long long)json_integer_value(json_object_get(ev->binding, "leaf_index")),
		       (long long)json_integer_value(json_object_get(ev->binding, "tree_size")), n);
		for (size_t i = 0; i < n; i++) {
			snp_hex_encode(events[i].digest, events[i].digest_len, hex);
			printf("event %zu: type %u %s:%s %s\n", i, events[i].type,
			       snp_event_alg_name(events[i].alg), hex, events[i].desc);
		}
	}
	for (size_t i = 0; !why[0] && i < a->pol.n_require_events; i++)
		if (!has_digest(events, n, a->pol.require_events[i].d,
				a->pol.require_events[i].len)) {
			snp_hex_encode(a->pol.require_events[i].d, a->pol.require_events[i].len,
				       hex);
			snprintf(why, sizeof(why), "no event with required digest %s", hex);
		}
	for (size_t i = 0; !why[0] && i < a->pol.n_forbid_events; i++)
		if (has_digest(events, n, a->pol.forbid_events[i].d, a->pol.forbid_events[i].len)) {
			snp_hex_encode(a->pol.forbid_events[i].d, a->pol.forbid_events[i].len, hex);
			snprintf(why, sizeof(why), "an event has forbidden digest %s", hex);
		}
	out->event_policy_fail = why[0] != '\0';
	if (!a->json && why[0])
		printf("event policy: FAIL: %s\n", why);
	else if (!a->json && (a->pol.n_require_events || a->pol.n_forbid_events))
		printf("event policy: ok (%zu required, %zu forbidden digests)\n",
		       a->pol.n_require_events, a->pol.n_forbid_events);
	if (!a->json)
		return SNPCTL_EXIT_OK;

	evs = events_to_json(events, n, head);
	snp_hex_encode(a->nonce, a->nonce_len, nonce_hex);
	snp_hex_encode(head, SNP_HASH_SIZE, head_hex);
	out->json = json_pack(
		"{s:s, s:b, s:s, s:O?, s:O?, s:{s:I, s:s, s:o?}, s:{s:s, s:s?, s:o*, s:o*}}",
		"scheme", SNP_BINDING_SCHEME, "ok", 1, "nonce", nonce_hex, "leaf_index",
		json_object_get(ev->binding, "leaf_index"), "tree_size",
		json_object_get(ev->binding, "tree_size"), "log", "count", (json_int_t)n, "head",
		head_hex, "events", evs, "event_policy", "result",
		why[0]						  ? "failed" :
		a->pol.n_require_events || a->pol.n_forbid_events ? "passed" :
								    "none",
		"reason", why[0] ? why : NULL, "required",
		digests_to_json(a->pol.require_events, a->pol.n_require_events), "forbidden",
		digests_to_json(a->pol.forbid_events, a->pol.n_forbid_events));
	if (!out->json) {
		log_error("Failed to render JSON.");
		return SNPCTL_EXIT_USAGE;
	}
	return SNPCTL_EXIT_OK;
}

static void verify_args_release(struct verify_args *a)
{
	snpctl_kds_opts_release(&a->kds);
}

int snpctl_cmd_verify(int argc, char **argv)
{
	_cleanup_(verify_args_release) struct verify_args a = { 0 };
	struct cert_set cs = { 0 };
	struct snpctl_evidence ev = { 0 };
	struct binding_out bind = { 0 };
	struct snp_report_info ri, *rip = NULL;
	char err[SNP_ERRBUF];
	int r, code;

	r = parse_args(argc, argv, &a);
	if (r > 0)
		return SNPCTL_EXIT_OK;
	if (r < 0)
		return SNPCTL_EXIT_USAGE;

	if (a.report) {
		_cleanup_(freep) u8 *data = NULL;
		size_t len;

		/*
		 * What the file holds is the attester's to choose: whatever is
		 * wrong in an evidence document, and anything but evidence
		 * when the options ask for it, is a refusal (exit code 1), not
		 * a usage error, so that a relying party's script reads one
		 * verdict. A file that cannot be read and bad options are exit
		 * code 3, and so, as ever, is a malformed raw report.
		 */
		r = snp_read_file(a.report, EVIDENCE_INPUT_MAX, &data, &len);
		if (r == -EFBIG ||
		    (r == 0 && len > REPORT_INPUT_MAX && !snpctl_evidence_detect(data, len))) {
			if (want_bound(&a))
				return refuse(&a, "larger than %d bytes, not an evidence document",
					      r == -EFBIG ? EVIDENCE_INPUT_MAX : REPORT_INPUT_MAX);
			log_error("%s: larger than %d bytes, not a report.", a.report,
				  r == -EFBIG ? EVIDENCE_INPUT_MAX : REPORT_INPUT_MAX);
			return SNPCTL_EXIT_USAGE;
		}
		if (r < 0) {
			log_error_errno(r, "Failed to read %s: %m", a.report);
			return SNPCTL_EXIT_USAGE;
		}
		if (snpctl_evidence_detect(data, len)) {
			/* snpd's /v1/evidence: the report and its collateral in one */
			r = snpctl_evidence_parse(data, len, &ev, err, sizeof(err));
			if (r < 0)
				return refuse(&a, "not an evidence document: %s", err);
			r = snp_report_parse(ev.report, SNP_REPORT_SIZE, &ri, err, sizeof(err));
			if (r < 0) {
				snpctl_evidence_release(&ev);
				return refuse(&a, "malformed report: %s", err);
			}
		} else {
			if (want_bound(&a))
				return refuse(&a,
					      "not an evidence document (a raw report?): --nonce "
					      "and the event policy check snpd's bound evidence; "
					      "--report-data checks a raw report's REPORT_DATA");
			r = snp_report_load(data, len, &ri, err, sizeof(err));
			if (r < 0) {
				log_error("%s: malformed report: %s", a.report, err);
				return SNPCTL_EXIT_USAGE;
			}
		}
		rip = &ri;
		code = verify_binding(&a, &ev, &ri, &bind);
		if (code != SNPCTL_EXIT_OK) {
			json_decref(bind.json);
			snpctl_evidence_release(&ev);
			return code;
		}
	} else if (want_bound(&a)) {
		log_error("--nonce, --require-event and --forbid-event check an evidence document: "
			  "give one.");
		return SNPCTL_EXIT_USAGE;
	}

	if (load_certs(&a, &cs) < 0)
		code = SNPCTL_EXIT_USAGE;
	else
		code = verify_loaded(&a, rip, &cs, &ev, &bind);
	json_decref(bind.json);
	cert_set_release(&cs);
	snpctl_evidence_release(&ev);
	ERR_clear_error();
	return code;
}
