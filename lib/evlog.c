// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/evlog.h"

size_t snp_event_alg_size(u16 alg)
{
	switch (alg) {
	case SNP_EVENT_ALG_SHA256:
		return 32;
	case SNP_EVENT_ALG_SHA384:
		return 48;
	case SNP_EVENT_ALG_SHA512:
		return 64;
	}
	return 0;
}

const char *snp_event_alg_name(u16 alg)
{
	switch (alg) {
	case SNP_EVENT_ALG_SHA256:
		return "sha256";
	case SNP_EVENT_ALG_SHA384:
		return "sha384";
	case SNP_EVENT_ALG_SHA512:
		return "sha512";
	}
	return NULL;
}

int snp_event_alg_parse(const char *name, u16 *ret)
{
	static const u16 algs[] = { SNP_EVENT_ALG_SHA256, SNP_EVENT_ALG_SHA384,
				    SNP_EVENT_ALG_SHA512 };

	for (size_t i = 0; name && i < sizeof(algs) / sizeof(algs[0]); i++)
		if (!strcmp(name, snp_event_alg_name(algs[i]))) {
			*ret = algs[i];
			return 0;
		}
	return -EINVAL;
}

static bool desc_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

int snp_event_encode(const struct snp_event *e, u8 *out, size_t *ret_len)
{
	size_t d = snp_event_alg_size(e->alg), n;

	if (!d || e->digest_len != d || e->desc_len > SNP_EVENT_DESC_MAX ||
	    !desc_ok(e->desc, e->desc_len))
		return -EINVAL;
	out[0] = SNP_EVENT_VERSION;
	out[1] = (u8)(e->alg >> 8);
	out[2] = (u8)e->alg;
	out[3] = (u8)(e->type >> 24);
	out[4] = (u8)(e->type >> 16);
	out[5] = (u8)(e->type >> 8);
	out[6] = (u8)e->type;
	out[7] = (u8)d;
	memcpy(out + SNP_EVENT_HEADER, e->digest, d);
	n = SNP_EVENT_HEADER + d;
	out[n++] = e->desc_len;
	memcpy(out + n, e->desc, e->desc_len);
	*ret_len = n + e->desc_len;
	return 0;
}

static int bad(char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
	return -EBADMSG;
}

int snp_event_decode(const u8 *buf, size_t len, struct snp_event *ret, char *err, size_t errlen)
{
	struct snp_event e = { 0 };
	size_t d, n;

	if (len < SNP_EVENT_HEADER)
		return bad(err, errlen, "event record shorter than its header");
	if (len > SNP_EVENT_RECORD_MAX)
		return bad(err, errlen, "event record longer than 137 bytes");
	if (buf[0] != SNP_EVENT_VERSION)
		return bad(err, errlen, "event record version is not 1");
	e.alg = (u16)(buf[1] << 8 | buf[2]);
	e.type = (u32)buf[3] << 24 | (u32)buf[4] << 16 | (u32)buf[5] << 8 | buf[6];
	d = snp_event_alg_size(e.alg);
	if (!d)
		return bad(err, errlen, "unknown digest algorithm (sha256, sha384, sha512)");
	if (buf[7] != d)
		return bad(err, errlen, "digest length does not match the algorithm");
	if (len < SNP_EVENT_HEADER + d + 1)
		return bad(err, errlen, "event record truncated in the digest");
	e.digest_len = (u8)d;
	memcpy(e.digest, buf + SNP_EVENT_HEADER, d);
	n = SNP_EVENT_HEADER + d;
	e.desc_len = buf[n++];
	if (e.desc_len > SNP_EVENT_DESC_MAX)
		return bad(err, errlen, "description longer than 64 bytes");
	if (len != n + e.desc_len)
		return bad(err, errlen,
			   len < n + e.desc_len ? "event record truncated in the description" :
						  "bytes after the end of the event record");
	memcpy(e.desc, buf + n, e.desc_len);
	if (!desc_ok(e.desc, e.desc_len))
		return bad(err, errlen, "description is not printable ASCII");
	*ret = e;
	return 0;
}

void snp_evlog_head_init(u8 head[SNP_HASH_SIZE])
{
	memset(head, 0, SNP_HASH_SIZE);
}

int snp_evlog_extend(u8 head[SNP_HASH_SIZE], const u8 *record, size_t len)
{
	static const u8 prefix = 0x02;
	const void *parts[] = { &prefix, head, record };
	size_t lens[] = { 1, SNP_HASH_SIZE, len };
	u8 next[SNP_HASH_SIZE];
	int r;

	r = snp_sha384_parts(next, 3, parts, lens);
	if (r < 0)
		return r;
	memcpy(head, next, SNP_HASH_SIZE);
	return 0;
}

int snp_evlog_verify(const u8 *const *records, const size_t *lens, size_t n,
		     const u8 want_head[SNP_HASH_SIZE], u64 want_count, char *err, size_t errlen)
{
	u8 head[SNP_HASH_SIZE];
	char why[SNP_ERRBUF_EVLOG];
	int r;

	if (n != want_count) {
		if (err && errlen)
			snprintf(err, errlen, "log has %zu events, the report is bound to %llu", n,
				 (unsigned long long)want_count);
		return -EBADMSG;
	}
	snp_evlog_head_init(head);
	for (size_t i = 0; i < n; i++) {
		struct snp_event e;

		if (snp_event_decode(records[i], lens[i], &e, why, sizeof(why)) < 0) {
			if (err && errlen)
				snprintf(err, errlen, "event %zu: %s", i, why);
			return -EBADMSG;
		}
		r = snp_evlog_extend(head, records[i], lens[i]);
		if (r < 0)
			return r;
	}
	if (memcmp(head, want_head, SNP_HASH_SIZE))
		return bad(err, errlen, "replayed log head does not match the bound head");
	return 0;
}
