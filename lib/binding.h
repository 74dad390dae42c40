/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The evidence binding (scheme "snpd-binding-v1", docs/evidence.md):
 * REPORT_DATA[0..47]  = SHA-384(0x03 || "snpd-binding" || 0x01 ||
 *                               u64be tree_size || root ||
 *                               u64be event_count || log_head)
 * REPORT_DATA[48..63] = "snpd-binding-v1\0" (marks a bound report).
 */
#ifndef SNP_LIB_BINDING_H
#define SNP_LIB_BINDING_H

#include <stdbool.h>
#include <stddef.h>

#include "kernel/compat.h"
#include <jansson.h>

#include "lib/evlog.h"
#include "lib/merkle.h"

#define SNP_BINDING_SCHEME	"snpd-binding-v1"
#define SNP_BINDING_VERSION	1
#define SNP_REPORT_DATA_LEN	64
#define SNP_BINDING_MARK_OFFSET 48
#define SNP_BINDING_MARK_LEN	16
/* What an evidence document's "type" and "version" must say (docs/evidence.md 6). */
#define SNP_EVIDENCE_TYPE    "snpd-evidence"
#define SNP_EVIDENCE_VERSION 1
/* An evidence document nests at most this many arrays and objects (docs/evidence.md 6). */
#define SNP_EVIDENCE_DEPTH_MAX 32

/* REPORT_DATA for a batch of @tree_size nonces with @root and the log (@head, @count). */
int snp_binding_report_data(const u8 root[SNP_HASH_SIZE], u64 tree_size,
			    const u8 head[SNP_HASH_SIZE], u64 count, u8 ret[SNP_REPORT_DATA_LEN]);

/* Whether the last 16 bytes of @report_data are the scheme's mark. */
bool snp_binding_is_marked(const u8 report_data[SNP_REPORT_DATA_LEN]);

/*
 * One client's check: @nonce is leaf @index of a tree of @size whose
 * root, with the log head and count, gives @report_data. 0, or
 * -EBADMSG/-EINVAL with the reason in @err.
 */
int snp_binding_verify(const u8 report_data[SNP_REPORT_DATA_LEN], const u8 *nonce, size_t nonce_len,
		       u64 index, u64 size, const u8 (*path)[SNP_HASH_SIZE], size_t path_len,
		       const u8 head[SNP_HASH_SIZE], u64 count, char *err, size_t errlen);

/*
 * The whole check of an evidence document's "binding" section
 * (docs/evidence.md section 7, steps 1-5) against the report's
 * REPORT_DATA and the nonce the verifier sent. On success, when
 * @ret_events is given, *ret_events is a new array of the decoded
 * events (free() it) and *ret_n their number. 0, or -EBADMSG/-EINVAL
 * with the reason in @err.
 */
int snp_binding_verify_json(const json_t *binding, const u8 report_data[SNP_REPORT_DATA_LEN],
			    const u8 *nonce, size_t nonce_len, struct snp_event **ret_events,
			    size_t *ret_n, char *err, size_t errlen);

/*
 * Whether @j nests at most @max arrays and objects, itself counted as
 * level 1 when it is one. The walk goes no deeper than @max + 1 levels.
 */
bool snp_json_depth_within(const json_t *j, unsigned int max);

/*
 * Parse @len bytes at @data as an evidence document's JSON the one way the
 * C verifiers do (snpctl, binding-tool, fuzz-evidence): a member name twice
 * in one object and nesting deeper than SNP_EVIDENCE_DEPTH_MAX are refused
 * (docs/evidence.md 6). The members are not looked at. 0 and a new
 * reference in *ret, or -EBADMSG (-ENOMEM) with the reason in @err.
 */
int snp_evidence_json_load(const u8 *data, size_t len, json_t **ret, char *err, size_t errlen);

/*
 * Whether @doc (borrowed) says it is an evidence document this code reads:
 * an object whose "type" is the string SNP_EVIDENCE_TYPE and whose
 * "version" is the integer SNP_EVIDENCE_VERSION. 0, or -EBADMSG with the
 * reason in @err. The other members are not looked at.
 */
int snp_evidence_check_kind(const json_t *doc, char *err, size_t errlen);

/*
 * JSON of one event: {"seq","alg","digest","type","description","record","head"}.
 * New reference, NULL on ENOMEM.
 */
json_t *snp_event_to_json(u64 seq, const u8 *record, size_t len, const u8 head[SNP_HASH_SIZE]);

#endif
