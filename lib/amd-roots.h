/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AMD's public ARK, ASK and ASVK certificates of Milan, Genoa and Turin,
 * compiled in and pinned by SHA-256, so that a VCEK (or VLEK) alone is
 * enough to verify a report.
 */
#ifndef SNP_LIB_AMD_ROOTS_H
#define SNP_LIB_AMD_ROOTS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/x509.h>

#include "lib/report.h"

enum snp_amd_root_kind {
	SNP_AMD_ROOT_ARK,
	SNP_AMD_ROOT_ASK,
	SNP_AMD_ROOT_ASVK,
};

struct snp_amd_root {
	enum snp_product product;
	enum snp_amd_root_kind kind;
	const char *cn;
	const char *pem;
	const char *sha256; /* of the DER, lowercase hex */
};

extern const struct snp_amd_root snp_amd_roots[];
extern const size_t snp_amd_roots_n;

/*
 * A new X509 of the embedded certificate, after checking its pinned
 * fingerprint. -ENOENT when there is none for @p/@kind, -EBADMSG when the
 * embedded PEM does not parse or does not match its pin.
 */
int snp_amd_root_load(enum snp_product p, enum snp_amd_root_kind kind, X509 **ret);

/* Check every embedded certificate against its pin: 0 or -EBADMSG. */
int snp_amd_roots_selftest(void);

#endif
