// SPDX-License-Identifier: Apache-2.0
/*
 * The C side of the evidence binding, driven by tests/helpers/binding-cross.py:
 *   binding-tool make INDEX NONCE_HEX... [-- RECORD_HEX...]
 *	prints {"report_data": HEX, "binding": {...}} for nonce INDEX of the
 *	batch, over a log of the given records (lib/merkle.c, lib/evlog.c);
 *   binding-tool verify
 *	reads {"type": "snpd-evidence", "version": 1, "report_data": HEX,
 *	"nonce": HEX, "binding": {...}} on stdin (a document, the report's
 *	REPORT_DATA given as such), prints "ok" (exit 0) or "refused: REASON"
 *	(exit 1; also for input that is not JSON as snpctl reads it, is nested
 *	too deep, or whose type or version is not an evidence document's).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/binding.h"
#include "lib/evlog.h"
#include "lib/merkle.h"
#include "lib/util.h"

/* as snpctl verify reads a document (cli/cmd-verify.c) */
#define EVIDENCE_INPUT_MAX (64 * 1024 * 1024)

static int make(int argc, char **argv)
{
	u8(*leaves)[SNP_HASH_SIZE] = NULL, path[SNP_MERKLE_PATH_MAX][SNP_HASH_SIZE];
	u8 root[SNP_HASH_SIZE], head[SNP_HASH_SIZE], rd[SNP_REPORT_DATA_LEN];
	u8 nonce[SNP_NONCE_MAX], rec[SNP_EVENT_RECORD_MAX];
	char hex[2 * SNP_REPORT_DATA_LEN + 1], nonce_hex[2 * SNP_NONCE_MAX + 1];
	char head_hex[2 * SNP_HASH_SIZE + 1];
	json_t *out = NULL, *events, *proof;
	size_t n = 0, n_rec = 0, path_len, index_nonce_len = 0;
	u8 index_nonce[SNP_NONCE_MAX];
	u32 index;
	int i, r = 2;

	if (argc < 2 || snp_parse_u32_max(argv[0], SNP_MERKLE_LEAVES_MAX, &index) < 0)
		return 2;
	leaves = calloc((size_t)argc, sizeof(*leaves));
	events = json_array();
	proof = json_array();
	if (!leaves || !events || !proof)
		goto out;
	snp_evlog_head_init(head);
	for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		ssize_t len = snp_hex_decode(argv[i], strlen(argv[i]), nonce, sizeof(nonce), false);

		if (len < 0 || snp_merkle_leaf_hash(nonce, (size_t)len, leaves[n]) < 0)
			goto out;
		if (n == index) {
			memcpy(index_nonce, nonce, (size_t)len);
			index_nonce_len = (size_t)len;
		}
		n++;
	}
	for (i++; i < argc; i++) {
		ssize_t len = snp_hex_decode(argv[i], strlen(argv[i]), rec, sizeof(rec), false);

		if (len < 0 || snp_evlog_extend(head, rec, (size_t)len) < 0 ||
		    json_array_append_new(events,
					  snp_event_to_json(n_rec++, rec, (size_t)len, head)) < 0)
			goto out;
	}
	if (index >= n || snp_merkle_root(leaves, n, root) < 0 ||
	    snp_merkle_proof(leaves, n, index, path, &path_len) < 0 ||
	    snp_binding_report_data(root, n, head, n_rec, rd) < 0)
		goto out;
	for (size_t k = 0; k < path_len; k++) {
		snp_hex_encode(path[k], SNP_HASH_SIZE, hex);
		json_array_append_new(proof, json_string(hex));
	}
	snp_hex_encode(rd, sizeof(rd), hex);
	snp_hex_encode(index_nonce, index_nonce_len, nonce_hex);
	snp_hex_encode(head, SNP_HASH_SIZE, head_hex);
	out = json_pack("{s:s,s:{s:s,s:s,s:I,s:I,s:O,s:{s:I,s:s,s:O}}}", "report_data", hex,
			"binding", "scheme", SNP_BINDING_SCHEME, "nonce", nonce_hex, "leaf_index",
			(json_int_t)index, "tree_size", (json_int_t)n, "proof", proof, "log",
			"count", (json_int_t)n_rec, "head", head_hex, "events", events);
	if (!out)
		goto out;
	json_dumpf(out, stdout, JSON_COMPACT);
	putchar('\n');
	r = 0;
out:
	json_decref(out);
	json_decref(events);
	json_decref(proof);
	free(leaves);
	return r;
}

static int verify(void)
{
	u8 rd[SNP_REPORT_DATA_LEN], nonce[4 * SNP_NONCE_MAX]; /* longer ones are refused */
	struct snp_event *events = NULL;
	char err[SNP_ERRBUF] = "";
	size_t n = 0, text_len;
	u8 *text = NULL;
	const char *s;
	json_t *in;
	ssize_t nonce_len;
	int r;

	r = snp_read_file("-", EVIDENCE_INPUT_MAX, &text, &text_len);
	if (r < 0) {
		fprintf(stderr, "binding-tool: standard input: %s\n", strerror(-r));
		return 2;
	}
	/* as snpctl reads evidence: duplicate member names and deep nesting refused */
	r = snp_evidence_json_load(text, text_len, &in, err, sizeof(err));
	free(text);
	if (r < 0) {
		printf("refused: %s\n", err);
		return 1;
	}
	/* as snpctl: the document says what it is */
	r = snp_evidence_check_kind(in, err, sizeof(err));
	if (r < 0) {
		printf("refused: %s\n", err);
		json_decref(in);
		return 1;
	}
	s = json_string_value(json_object_get(in, "report_data"));
	if (!s || snp_hex_decode(s, strlen(s), rd, sizeof(rd), false) != sizeof(rd))
		goto bad;
	s = json_string_value(json_object_get(in, "nonce"));
	nonce_len = s ? snp_hex_decode(s, strlen(s), nonce, sizeof(nonce), false) : -EINVAL;
	if (nonce_len < 0)
		goto bad;
	r = snp_binding_verify_json(json_object_get(in, "binding"), rd, nonce, (size_t)nonce_len,
				    &events, &n, err, sizeof(err));
	json_decref(in);
	if (r < 0) {
		printf("refused: %s\n", err);
		return 1;
	}
	printf("ok\n");
	for (size_t i = 0; i < n; i++)
		printf("event %zu: type %u %s %s\n", i, events[i].type,
		       snp_event_alg_name(events[i].alg), events[i].desc);
	free(events);
	return 0;
bad:
	json_decref(in);
	return 2;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "make"))
		return make(argc - 2, argv + 2);
	if (argc == 2 && !strcmp(argv[1], "verify"))
		return verify();
	fprintf(stderr, "usage: binding-tool make INDEX NONCE... [-- RECORD...] | verify\n");
	return 2;
}
