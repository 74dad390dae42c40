// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "lib/cert-table.h"
#include "lib/util.h"

static const struct {
	u8 guid[16];
	enum snp_cert_kind kind;
	const char *name;
} known[] = {
	{ SNP_GUID_ARK, SNP_CERT_ARK, "ark" },	  { SNP_GUID_ASK, SNP_CERT_ASK, "ask" },
	{ SNP_GUID_VCEK, SNP_CERT_VCEK, "vcek" }, { SNP_GUID_VLEK, SNP_CERT_VLEK, "vlek" },
	{ SNP_GUID_CRL, SNP_CERT_CRL, "crl" },
};

const char *snp_cert_kind_name(enum snp_cert_kind k)
{
	for (size_t i = 0; i < SNP_ELEMENTSOF(known); i++)
		if (known[i].kind == k)
			return known[i].name;
	return "unknown";
}

enum snp_cert_kind snp_cert_kind_from_guid(const u8 guid[16])
{
	for (size_t i = 0; i < SNP_ELEMENTSOF(known); i++)
		if (memcmp(known[i].guid, guid, 16) == 0)
			return known[i].kind;
	return SNP_CERT_UNKNOWN;
}

void snp_guid_to_string(const u8 g[16], char *out)
{
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], g[12],
		 g[13], g[14], g[15]);
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

int snp_cert_table_parse(const u8 *buf, size_t len, struct snp_cert_table *ret, char *err,
			 size_t errlen)
{
	const size_t esz = sizeof(struct snp_cert_entry);
	struct snp_cert_table t = { 0 };
	bool terminated = false;
	size_t pos;

	for (pos = 0; pos + esz <= len; pos += esz) {
		const u8 *e = buf + pos;
		struct snp_cert_table_entry *ent;

		if (snp_mem_is_zero(e, esz)) {
			terminated = true;
			break;
		}
		if (t.n == SNP_CERT_TABLE_MAX)
			return fail(err, errlen, "certificate table has more than %d entries",
				    SNP_CERT_TABLE_MAX);
		ent = &t.entries[t.n];
		memcpy(ent->guid, e, 16);
		ent->offset = snp_get_le32(e + 16);
		ent->length = snp_get_le32(e + 20);
		ent->kind = snp_cert_kind_from_guid(ent->guid);
		t.n++;
	}
	if (!terminated)
		return fail(err, errlen,
			    "certificate table is cut: no all-zero terminator within %zu bytes",
			    len);
	t.table_len = pos + esz;

	for (size_t i = 0; i < t.n; i++) {
		struct snp_cert_table_entry *ent = &t.entries[i];
		char g[37];

		snp_guid_to_string(ent->guid, g);
		if (ent->length == 0)
			return fail(err, errlen, "certificate table entry %zu (%s) has length 0", i,
				    g);
		if (ent->offset < t.table_len)
			return fail(err, errlen,
				    "certificate table entry %zu (%s) offset %u points into the "
				    "table (%zu bytes)",
				    i, g, ent->offset, t.table_len);
		if ((u64)ent->offset + ent->length > len)
			return fail(err, errlen,
				    "certificate table entry %zu (%s) ends at %llu, beyond the "
				    "%zu-byte buffer",
				    i, g, (unsigned long long)ent->offset + ent->length, len);
		for (size_t j = 0; j < i; j++) {
			const struct snp_cert_table_entry *o = &t.entries[j];

			if ((u64)ent->offset < (u64)o->offset + o->length &&
			    (u64)o->offset < (u64)ent->offset + ent->length)
				return fail(err, errlen,
					    "certificate table entries %zu and %zu overlap", j, i);
			if (ent->kind != SNP_CERT_UNKNOWN && ent->kind == o->kind)
				return fail(
					err, errlen,
					"certificate table lists %s twice (entries %zu and %zu)",
					snp_cert_kind_name(ent->kind), j, i);
		}
		ent->data = buf + ent->offset;
		if ((size_t)ent->offset + ent->length > t.used_len)
			t.used_len = (size_t)ent->offset + ent->length;
	}
	if (t.used_len < t.table_len)
		t.used_len = t.table_len;
	*ret = t;
	return 0;
}

const struct snp_cert_table_entry *snp_cert_table_find(const struct snp_cert_table *t,
						       enum snp_cert_kind kind)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->entries[i].kind == kind)
			return &t->entries[i];
	return NULL;
}

ssize_t snp_cert_table_build(const u8 (*guids)[16], const u8 *const *blobs, const u32 *lens,
			     size_t n, u8 *buf, size_t cap)
{
	const size_t esz = sizeof(struct snp_cert_entry);
	size_t off = (n + 1) * esz;

	if (n > SNP_CERT_TABLE_MAX || off > cap)
		return -ENOBUFS;
	memset(buf, 0, off);
	for (size_t i = 0; i < n; i++) {
		if (lens[i] == 0 || lens[i] > cap - off)
			return lens[i] == 0 ? -EINVAL : -ENOBUFS;
		memcpy(buf + i * esz, guids[i], 16);
		snp_put_le32(buf + i * esz + 16, (u32)off);
		snp_put_le32(buf + i * esz + 20, lens[i]);
		memcpy(buf + off, blobs[i], lens[i]);
		off += lens[i];
	}
	return (ssize_t)off;
}
