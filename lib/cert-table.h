/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bounds-checked parser for the extended report's certificate table
 * (GHCB cert table; kernel/snp-certs.h). Unknown GUIDs are kept and
 * reported as SNP_CERT_UNKNOWN.
 */
#ifndef SNP_LIB_CERT_TABLE_H
#define SNP_LIB_CERT_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kernel/snp-certs.h"
#include "lib/util.h"

enum snp_cert_kind {
	SNP_CERT_UNKNOWN = 0,
	SNP_CERT_ARK,
	SNP_CERT_ASK,
	SNP_CERT_VCEK,
	SNP_CERT_VLEK,
	SNP_CERT_CRL,
};

#define SNP_CERT_TABLE_MAX 64

struct snp_cert_table_entry {
	u8 guid[16];
	enum snp_cert_kind kind;
	u32 offset;
	u32 length;
	const u8 *data; /* borrowed: points into the parsed buffer */
};

struct snp_cert_table {
	size_t n;
	size_t table_len; /* bytes of the table including the terminator */
	size_t used_len;  /* max(offset + length): what configfs-tsm calls auxblob */
	struct snp_cert_table_entry entries[SNP_CERT_TABLE_MAX];
};

/*
 * Parse @len bytes. Entries must end with an all-zero terminator inside
 * the buffer; every blob must be non-empty, lie after the table, inside the
 * buffer, and not overlap another blob; a known GUID may appear only once.
 * Returns 0, or -EBADMSG with a message naming the problem in @err.
 */
int snp_cert_table_parse(const u8 *buf, size_t len, struct snp_cert_table *ret, char *err,
			 size_t errlen);

const char *snp_cert_kind_name(enum snp_cert_kind k);
enum snp_cert_kind snp_cert_kind_from_guid(const u8 guid[16]);
/* Canonical 36-character GUID string into @out (37 bytes). */
void snp_guid_to_string(const u8 guid[16], char *out);
/* The first entry of @kind, or NULL. Borrowed. */
const struct snp_cert_table_entry *snp_cert_table_find(const struct snp_cert_table *t,
						       enum snp_cert_kind kind);

/*
 * Build a table with @n blobs into @buf (capacity @cap): entries, the
 * terminator, then the blobs back to back. Returns the total length or a
 * negative errno (-ENOBUFS when it does not fit).
 */
ssize_t snp_cert_table_build(const u8 (*guids)[16], const u8 *const *blobs, const u32 *lens,
			     size_t n, u8 *buf, size_t cap);

#endif
