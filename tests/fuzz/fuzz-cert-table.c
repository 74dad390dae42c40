// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the certificate-table parser, snp_cert_table_parse().
 * On success it reads every byte of every blob through the pointer the
 * parser handed out, so ASan reports a blob that leaves the input, and it
 * checks the documented guarantees:
 *  - a refusal is -EBADMSG with a message;
 *  - table_len is (n + 1) * 24; every blob is non-empty, lies after the
 *    table and inside the buffer, and data == buf + offset;
 *  - blobs do not overlap and a known GUID appears at most once;
 *  - used_len is the end of the last blob (at least table_len);
 *  - snp_cert_table_build() of the parsed entries fits in the input's size
 *    and parses back to the same GUIDs and blobs.
 *
 * Built and run by tests/fuzz/fuzz.sh with clang -fsanitize=fuzzer.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "lib/cert-table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile u8 sink;

static void bug(const char *what, size_t i)
{
	fprintf(stderr, "fuzz-cert-table: BUG: %s (entry %zu)\n", what, i);
	abort();
}

static void check_entries(const uint8_t *data, size_t size, const struct snp_cert_table *t)
{
	size_t used = t->table_len;

	if (t->n > SNP_CERT_TABLE_MAX)
		bug("more entries than SNP_CERT_TABLE_MAX", t->n);
	if (t->table_len != (t->n + 1) * sizeof(struct snp_cert_entry) || t->table_len > size)
		bug("table_len is not (n + 1) * 24 within the buffer", t->n);

	for (size_t i = 0; i < t->n; i++) {
		const struct snp_cert_table_entry *e = &t->entries[i];
		char g[37];
		u8 acc = 0;

		/* every byte, through the parser's pointer: ASan checks the bounds */
		for (u32 k = 0; k < e->length; k++)
			acc ^= e->data[k];
		sink = acc;

		if (e->length == 0)
			bug("empty blob accepted", i);
		if (e->offset < t->table_len)
			bug("blob starts inside the table", i);
		if ((u64)e->offset + e->length > size)
			bug("blob ends beyond the buffer", i);
		if (e->data != data + e->offset)
			bug("data is not buf + offset", i);
		if (e->kind != snp_cert_kind_from_guid(e->guid))
			bug("kind does not match the GUID", i);
		if (!snp_cert_kind_name(e->kind))
			bug("no name for the kind", i);
		snp_guid_to_string(e->guid, g);
		if (strlen(g) != 36)
			bug("GUID string is not 36 characters", i);

		for (size_t j = 0; j < i; j++) {
			const struct snp_cert_table_entry *o = &t->entries[j];

			if ((u64)e->offset < (u64)o->offset + o->length &&
			    (u64)o->offset < (u64)e->offset + e->length)
				bug("overlapping blobs accepted", i);
			if (e->kind != SNP_CERT_UNKNOWN && e->kind == o->kind)
				bug("a known GUID accepted twice", i);
		}
		if ((size_t)e->offset + e->length > used)
			used = (size_t)e->offset + e->length;
	}
	if (t->used_len != used)
		bug("used_len is not the end of the last blob", t->n);

	for (enum snp_cert_kind k = SNP_CERT_UNKNOWN; k <= SNP_CERT_CRL; k++) {
		const struct snp_cert_table_entry *f = snp_cert_table_find(t, k);

		if (f && (f->kind != k || f < t->entries || f >= t->entries + t->n))
			bug("snp_cert_table_find() returned a wrong entry", (size_t)k);
	}
}

/* Build a table from the parsed entries and parse it back. */
static void check_round_trip(size_t size, const struct snp_cert_table *t)
{
	u8 guids[SNP_CERT_TABLE_MAX][16];
	const u8 *blobs[SNP_CERT_TABLE_MAX];
	u32 lens[SNP_CERT_TABLE_MAX];
	struct snp_cert_table t2;
	char err[SNP_ERRBUF];
	ssize_t n;
	u8 *buf;

	for (size_t i = 0; i < t->n; i++) {
		memcpy(guids[i], t->entries[i].guid, 16);
		blobs[i] = t->entries[i].data;
		lens[i] = t->entries[i].length;
	}
	buf = malloc(size ? size : 1);
	if (!buf)
		bug("out of memory", 0);
	n = snp_cert_table_build((const u8(*)[16])guids, blobs, lens, t->n, buf, size);
	if (n < 0 || (size_t)n > size)
		bug("snp_cert_table_build() of a parsed table does not fit its size", t->n);
	err[0] = '\0';
	if (snp_cert_table_parse(buf, (size_t)n, &t2, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz-cert-table: rebuilt table refused: %s\n", err);
		bug("a rebuilt table does not parse", t->n);
	}
	if (t2.n != t->n)
		bug("a rebuilt table has a different number of entries", t2.n);
	for (size_t i = 0; i < t->n; i++) {
		const struct snp_cert_table_entry *a = &t->entries[i], *b = &t2.entries[i];

		if (memcmp(a->guid, b->guid, 16) || a->kind != b->kind || a->length != b->length ||
		    memcmp(a->data, b->data, a->length))
			bug("a rebuilt entry differs", i);
	}
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snp_cert_table t;
	char err[SNP_ERRBUF];
	int r;

	err[0] = '\0';
	r = snp_cert_table_parse(data, size, &t, err, sizeof(err));
	if (r < 0) {
		if (r != -EBADMSG)
			bug("snp_cert_table_parse() returned an undocumented error", (size_t)-r);
		if (!memchr(err, '\0', sizeof(err)) || err[0] == '\0')
			bug("snp_cert_table_parse() refused without a message", 0);
		return 0;
	}
	check_entries(data, size, &t);
	check_round_trip(size, &t);
	return 0;
}
