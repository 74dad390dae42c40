/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A relying party's policy as a JSON document: one key per check of
 * lib/verify.h (data/snp-policy.schema.json describes it), read, written,
 * and generated from a report.
 */
#ifndef SNP_LIB_POLICY_H
#define SNP_LIB_POLICY_H

#include <jansson.h>

#include "lib/report.h"
#include "lib/verify.h"

/* A policy file is at most this large. */
#define SNP_POLICY_FILE_MAX (64 * 1024)
/*
 * A policy file nests at most this many arrays and objects, the document
 * being level 1 (its keys need 2: "min_tcb": {...}).
 */
#define SNP_POLICY_DEPTH_MAX 8

/* The keys a policy document may hold, in the order they are written. */
size_t snp_policy_key_count(void);
/* Name and one-line description of key @i (static strings), or NULL. */
const char *snp_policy_key_name(size_t i, const char **ret_help);

/*
 * Apply every key of the JSON object @doc (borrowed) to *pol, overwriting
 * what the keys name and leaving the rest. An unknown key, a wrong type or
 * a bad value fails with -EINVAL and a message naming the key in @err; *pol
 * may then be partly changed.
 */
int snp_policy_apply_json(const json_t *doc, struct snp_policy *pol, char *err, size_t errlen);

/*
 * Read @path ("-" for stdin, at most SNP_POLICY_FILE_MAX bytes, JSON with
 * no duplicate key and nested at most SNP_POLICY_DEPTH_MAX deep) and apply
 * it to *pol as snp_policy_apply_json() does. 0 or a negative errno with a
 * message in @err (naming @path when the file itself is refused).
 */
int snp_policy_load_file(const char *path, struct snp_policy *pol, char *err, size_t errlen);

/* The policy as a JSON document (new reference), or NULL without memory. */
json_t *snp_policy_to_json(const struct snp_policy *pol);

/*
 * A policy that @ri satisfies: its measurement, host data, family and image
 * id, key digests, VMPL, guest SVN, POLICY bits (set ones required, clear
 * named ones forbidden), PLATFORM_INFO bits set, TCB floors and firmware as
 * found, its product and signer. REPORT_DATA (a per-request nonce) is left
 * out.
 */
void snp_policy_from_report(const struct snp_report_info *ri, struct snp_policy *ret);

/* "MAJOR.MINOR[.BUILD]", each 0..255. 0 or -EINVAL. */
int snp_policy_parse_firmware(const char *s, struct snp_policy *pol);

/* Comma-separated product names into SNP_PRODUCT_BIT()s. 0 or -EINVAL. */
int snp_products_parse_list(const char *list, u32 *ret, char *err, size_t errlen);

#endif
