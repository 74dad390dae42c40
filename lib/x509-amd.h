/* SPDX-License-Identifier: Apache-2.0 */
/*
 * X.509 helpers for AMD's SEV certificates: loading PEM bundles or DER,
 * the AMD extensions of VCEK/VLEK certificates (OID arc
 * 1.3.6.1.4.1.3704.1), and the pinned ARK fingerprints.
 */
#ifndef SNP_LIB_X509_AMD_H
#define SNP_LIB_X509_AMD_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#include "lib/report.h"

#define SNP_AMD_SPL_MAX 9 /* .3.1 .. .3.9 */

struct snp_amd_ext {
	bool has_struct_version;
	long struct_version;
	bool has_product_name;
	char product_name[64];
	bool has_spl[SNP_AMD_SPL_MAX + 1]; /* index n = OID .3.n */
	long spl[SNP_AMD_SPL_MAX + 1];
	bool has_hwid;
	bool hwid_wrapped; /* DER OCTET STRING inside extnValue */
	size_t hwid_len;   /* 8 (Turin) or 64 */
	u8 hwid[64];
	bool has_csp_id;
	char csp_id[128];
};

#define SNP_SPL_BOOTLOADER 1
#define SNP_SPL_TEE	   2
#define SNP_SPL_SNP	   3
#define SNP_SPL_MICROCODE  8
#define SNP_SPL_FMC	   9

/*
 * Decode the AMD extensions of @cert (borrowed). Absent extensions are
 * reported through the has_* flags; malformed ones give -EBADMSG and a
 * message in @err.
 */
int snp_amd_ext_parse(X509 *cert, struct snp_amd_ext *ret, char *err, size_t errlen);

/*
 * Load every certificate of a PEM file (one or more blocks) or a single
 * DER certificate. On success *ret is a new stack the caller frees with
 * OSSL_STACK_OF_X509_free()/sk_X509_pop_free(.., X509_free).
 */
int snp_x509_load_file(const char *path, STACK_OF(X509) * *ret, char *err, size_t errlen);
/*
 * The same for a daemon's file: it must be a regular file (a symbolic link
 * to one is followed), opened without blocking, never "-" (stdin); a FIFO,
 * a device or a socket is -EBADFD, a directory -EISDIR, said so in @err.
 */
int snp_x509_load_regular_file(const char *path, STACK_OF(X509) * *ret, char *err, size_t errlen);
/* @c as PEM text, malloc()ed (free()), or NULL. */
char *snp_x509_to_pem(X509 *c);
int snp_x509_load_mem(const u8 *data, size_t len, STACK_OF(X509) * *ret, char *err, size_t errlen);

void snp_x509_fingerprint(X509 *cert, u8 out[32]);
/* Subject (or issuer) common name into @buf; "" when absent. */
const char *snp_x509_cn(X509 *cert, bool issuer, char *buf, size_t len);

/*
 * Is @crl current at @at: thisUpdate <= @at < nextUpdate? A CRL without a
 * nextUpdate is never current (AMD's always carry one, snp-abi.md §7.3).
 * With @ret_why, a static description of why not ("expired", "is not valid
 * yet", "has no nextUpdate"); with @ret_until (and @ret_until_len > 0),
 * its nextUpdate as "YYYY-MM-DDTHH:MM:SSZ" (or "none").
 */
bool snp_crl_current(const X509_CRL *crl, time_t at, const char **ret_why, char *ret_until,
		     size_t ret_until_len);

/* The product whose pinned AMD ARK has this SHA-256, or UNKNOWN. */
enum snp_product snp_ark_pinned_product(const u8 sha256[32]);

/* Map a CN "ARK-Milan", "SEV-Genoa", "SEV-VLEK-Turin" to its product. */
enum snp_product snp_product_from_ca_cn(const char *cn);

#endif
