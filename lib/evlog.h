/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The runtime event log: event records (encode, strict decode) and the
 * SHA-384 hash chain over them. docs/evidence.md is the specification.
 */
#ifndef SNP_LIB_EVLOG_H
#define SNP_LIB_EVLOG_H

#include <stdbool.h>
#include <stddef.h>

#include "kernel/compat.h"
#include "lib/merkle.h"

#define SNP_EVENT_VERSION    1
#define SNP_EVENT_DIGEST_MAX 64
#define SNP_EVENT_DESC_MAX   64
#define SNP_EVENT_HEADER     8 /* version, alg, type, digest length */
#define SNP_EVENT_RECORD_MAX (SNP_EVENT_HEADER + SNP_EVENT_DIGEST_MAX + 1 + SNP_EVENT_DESC_MAX)
/* The shortest record: a sha256 digest and an empty description. */
#define SNP_EVENT_RECORD_MIN (SNP_EVENT_HEADER + 32 + 1)
/* Types from here up are snpd's own; clients may not append them. */
#define SNP_EVENT_TYPE_RESERVED 0x80000000u
#define SNP_ERRBUF_EVLOG	128
/* Most events a log may hold (EventLogMax= is at most this). */
#define SNP_EVLOG_EVENTS_MAX 65536u

/* Digest algorithms, numbered as TPM_ALG_ID. */
#define SNP_EVENT_ALG_SHA256 0x000b
#define SNP_EVENT_ALG_SHA384 0x000c
#define SNP_EVENT_ALG_SHA512 0x000d

struct snp_event {
	u16 alg;
	u32 type;
	u8 digest_len;
	u8 digest[SNP_EVENT_DIGEST_MAX];
	u8 desc_len;
	char desc[SNP_EVENT_DESC_MAX + 1]; /* NUL-terminated copy */
};

/* Digest size of @alg, 0 when unknown. */
size_t snp_event_alg_size(u16 alg);
/* "sha256", "sha384", "sha512", or NULL. */
const char *snp_event_alg_name(u16 alg);
/* 0 and *ret, or -EINVAL. */
int snp_event_alg_parse(const char *name, u16 *ret);

/*
 * Canonical record of @e into @out (SNP_EVENT_RECORD_MAX bytes).
 * -EINVAL when @e breaks a rule a decoder enforces.
 */
int snp_event_encode(const struct snp_event *e, u8 *out, size_t *ret_len);

/*
 * Strict decode of exactly one record of @len bytes: known version and
 * algorithm, digest length matching it, description 0..64 printable
 * ASCII bytes, nothing after it. -EBADMSG with the reason in @err.
 */
int snp_event_decode(const u8 *buf, size_t len, struct snp_event *ret, char *err, size_t errlen);

/* Head of the empty log: 48 zero bytes. */
void snp_evlog_head_init(u8 head[SNP_HASH_SIZE]);
/* head = SHA-384(0x02 || head || record). */
int snp_evlog_extend(u8 head[SNP_HASH_SIZE], const u8 *record, size_t len);

/*
 * Replay @n records (each decoded strictly) from the empty head, and
 * compare with @want_head and @want_count (what a report is bound to).
 * 0, or -EBADMSG with the reason (which record, count or head) in @err.
 */
int snp_evlog_verify(const u8 *const *records, const size_t *lens, size_t n,
		     const u8 want_head[SNP_HASH_SIZE], u64 want_count, char *err, size_t errlen);

#endif
