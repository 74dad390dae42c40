// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of lib/merkle.c, lib/evlog.c and lib/binding.c against
 * vectors computed independently (Python hashlib, from docs/evidence.md),
 * and the adversarial cases at library level.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/binding.h"
#include "lib/evlog.h"
#include "lib/merkle.h"
#include "lib/util.h"

/* Nonce i is the byte i repeated i + 1 times; leaves of sizes 1..7. */
static const char *const roots[] = {
	"b6c88b868c768368c06841e732da176c33430cab8d547ff54f738d2a387f09a9dbd1aa8f513529c7b0d7cbcf2f3513c4",
	"fbad161e3bf53db8e7a69672abb4b4cb844119fc3665b8482da7997ec0aae5722ea0c09fff1cde87c42030061ffbfa07",
	"aa75b9a20c7ee4d805ec4603acde28e8cbe01acaa65f66aa5468867b5c1a6b7642b687a7ed59251433057466e739fc06",
	"1b4d6baf0dbd06b180e13007600e3cdf31a1b01aaa4f2a1e960919351738034d50c73aa8e63ca0b07819058d201bc50f",
	"29623998315f1d9de2c13351d70b79788445981d0917e3e9337cfa46e579fc7d0013c556398b548065956ed07e11a523",
	"a984256b7b1145a2d79f718c0f14d26bb1722d93491f1cacd84796ba97d705a1e29576bc2a8bff288e98a7715f4d978a",
	"b1efcfa744e61d03e4087839d47cc097422ab8831d138afb0913d38ddd648ee98e6c8a999a62708392885e7b837d0b57",
};
static const char *const proof_0_7[] = {
	"8715dfbf7213388b8e0c5936f99e38667c31d95144dfb2f4ce7fc9eddb5c2506b074fcb9ce669c23897d24f8cc26f3ea",
	"2844913779591fa3884af06274c5eae467f5e2d1674880a390d1d3c3ee246c9d08244ace37acf73d16756a435a33cc13",
	"8e2e37c1d41802a934199994870032e4c504b850c136f38e557504942a40b7fdc5a8c17b515fff8a4de1d8422faceeb6",
};
static const char *const proof_3_7[] = {
	"83ebf2128dbdb7dff735561f91b8523a4ca0deba022f5ca9203860494c350a47fdd75ccd7cc0dacf45e1a66f80f174b7",
	"fbad161e3bf53db8e7a69672abb4b4cb844119fc3665b8482da7997ec0aae5722ea0c09fff1cde87c42030061ffbfa07",
	"8e2e37c1d41802a934199994870032e4c504b850c136f38e557504942a40b7fdc5a8c17b515fff8a4de1d8422faceeb6",
};
static const char *const proof_6_7[] = {
	"a95a920da41de0dd8e8e33c5ac9029df80fd725594e6b1fefe0fc38392742fa8627928088993dfaaa739fc74ce8af6f3",
	"1b4d6baf0dbd06b180e13007600e3cdf31a1b01aaa4f2a1e960919351738034d50c73aa8e63ca0b07819058d201bc50f",
};
static const char *const proof_4_5[] = {
	"1b4d6baf0dbd06b180e13007600e3cdf31a1b01aaa4f2a1e960919351738034d50c73aa8e63ca0b07819058d201bc50f",
};
static const char rec1[] =
	"01000c0000000730000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f04626f6f74";
static const char rec2[] =
	"01000b0000001020aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa00";
static const char head1[] =
	"8bf0d7f9849605d3a0c9c11fa792f0909cdc9e8370f24ba95c27178bcdb5e61f295efcdd842d89aa54ea6f818e20671a";
static const char head2[] =
	"109636cf282e77609b90a619b956f1877b412facf3b37c4c45bf1f13261fafcc4929c6ede39e90eeefc31215b2aace70";
static const char rd7[] =
	"ad6c19c60aae32e414c4fc727bddc1b9157b471a6dc5ed91bc39ddbf4403437cc51a99d7192329189c941f501f37fbe0736e70642d62696e64696e672d763100";

static u8 leaves[7][SNP_HASH_SIZE];

static void unhex(const char *s, u8 *out, size_t len)
{
	assert_int_equal(snp_hex_decode(s, strlen(s), out, len, false), (ssize_t)len);
}

static int setup(void **state)
{
	for (int i = 0; i < 7; i++) {
		u8 nonce[7];

		memset(nonce, i, sizeof(nonce));
		if (snp_merkle_leaf_hash(nonce, (size_t)i + 1, leaves[i]) < 0)
			return -1;
	}
	return 0;
}

static void test_roots(void **state)
{
	for (size_t n = 1; n <= 7; n++) {
		u8 want[SNP_HASH_SIZE], got[SNP_HASH_SIZE];

		unhex(roots[n - 1], want, sizeof(want));
		assert_int_equal(snp_merkle_root(leaves, n, got), 0);
		assert_memory_equal(got, want, SNP_HASH_SIZE);
	}
	/* a batch of one: the root is the leaf hash */
	{
		u8 got[SNP_HASH_SIZE];

		assert_int_equal(snp_merkle_root(leaves, 1, got), 0);
		assert_memory_equal(got, leaves[0], SNP_HASH_SIZE);
	}
}

static void check_proof(size_t m, size_t n, const char *const *want, size_t want_len)
{
	u8 path[SNP_MERKLE_PATH_MAX][SNP_HASH_SIZE], root[SNP_HASH_SIZE], want_root[SNP_HASH_SIZE];
	char err[SNP_ERRBUF];
	size_t len;

	assert_int_equal(snp_merkle_proof(leaves, n, m, path, &len), 0);
	assert_int_equal(len, want_len);
	for (size_t i = 0; i < len; i++) {
		u8 h[SNP_HASH_SIZE];

		unhex(want[i], h, sizeof(h));
		assert_memory_equal(path[i], h, SNP_HASH_SIZE);
	}
	unhex(roots[n - 1], want_root, sizeof(want_root));
	assert_int_equal(snp_merkle_root_from_proof(leaves[m], m, n,
						    (const u8(*)[SNP_HASH_SIZE])path, len, root,
						    err, sizeof(err)),
			 0);
	assert_memory_equal(root, want_root, SNP_HASH_SIZE);
}

static void test_proofs(void **state)
{
	check_proof(0, 7, proof_0_7, SNP_ELEMENTSOF(proof_0_7));
	check_proof(3, 7, proof_3_7, SNP_ELEMENTSOF(proof_3_7));
	check_proof(6, 7, proof_6_7, SNP_ELEMENTSOF(proof_6_7));
	check_proof(4, 5, proof_4_5, SNP_ELEMENTSOF(proof_4_5));

	/* every leaf of every size up to 7 proves against its root */
	for (size_t n = 1; n <= 7; n++)
		for (size_t m = 0; m < n; m++) {
			u8 path[SNP_MERKLE_PATH_MAX][SNP_HASH_SIZE], root[SNP_HASH_SIZE];
			u8 want[SNP_HASH_SIZE];
			size_t len;

			assert_int_equal(snp_merkle_proof(leaves, n, m, path, &len), 0);
			assert_int_equal(snp_merkle_root_from_proof(
						 leaves[m], m, n, (const u8(*)[SNP_HASH_SIZE])path,
						 len, root, NULL, 0),
					 0);
			unhex(roots[n - 1], want, sizeof(want));
			assert_memory_equal(root, want, SNP_HASH_SIZE);
		}
}

static void test_bad_arguments(void **state)
{
	u8 path[SNP_MERKLE_PATH_MAX][SNP_HASH_SIZE], root[SNP_HASH_SIZE], nonce[65] = { 0 };
	char err[SNP_ERRBUF];
	size_t len;

	assert_int_equal(snp_merkle_leaf_hash(nonce, 0, root), -EINVAL);
	assert_int_equal(snp_merkle_leaf_hash(nonce, 65, root), -EINVAL);
	assert_int_equal(snp_merkle_leaf_hash(nonce, 64, root), 0);
	assert_int_equal(snp_merkle_root(leaves, 0, root), -EINVAL);
	assert_int_equal(snp_merkle_proof(leaves, 7, 7, path, &len), -EINVAL);
	assert_int_equal(
		snp_merkle_root_from_proof(leaves[0], 7, 7, NULL, 0, root, err, sizeof(err)),
		-EINVAL);
	assert_non_null(strstr(err, "index"));
	assert_int_equal(
		snp_merkle_root_from_proof(leaves[0], 0, 0, NULL, 0, root, err, sizeof(err)),
		-EINVAL);
	/* a path of the wrong length for the size */
	assert_int_equal(snp_merkle_proof(leaves, 7, 3, path, &len), 0);
	assert_int_equal(snp_merkle_root_from_proof(leaves[3], 3, 7,
						    (const u8(*)[SNP_HASH_SIZE])path, len - 1, root,
						    err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "shorter"));
	memset(path[len], 0, SNP_HASH_SIZE);
	assert_int_equal(snp_merkle_root_from_proof(leaves[3], 3, 7,
						    (const u8(*)[SNP_HASH_SIZE])path, len + 1, root,
						    err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "longer"));
}

static void test_events(void **state)
{
	u8 r1[SNP_EVENT_RECORD_MAX], r2[SNP_EVENT_RECORD_MAX], buf[SNP_EVENT_RECORD_MAX + 1];
	u8 head[SNP_HASH_SIZE], want[SNP_HASH_SIZE];
	struct snp_event e;
	char err[SNP_ERRBUF];
	size_t l1 = (sizeof(rec1) - 1) / 2, l2 = (sizeof(rec2) - 1) / 2, len;

	unhex(rec1, r1, l1);
	unhex(rec2, r2, l2);
	assert_int_equal(snp_event_decode(r1, l1, &e, err, sizeof(err)), 0);
	assert_int_equal(e.alg, SNP_EVENT_ALG_SHA384);
	assert_int_equal(e.type, 7);
	assert_string_equal(e.desc, "boot");
	assert_int_equal(snp_event_encode(&e, buf, &len), 0);
	assert_int_equal(len, l1);
	assert_memory_equal(buf, r1, l1);

	snp_evlog_head_init(head);
	assert_true(snp_mem_is_zero(head, SNP_HASH_SIZE));
	assert_int_equal(snp_evlog_extend(head, r1, l1), 0);
	unhex(head1, want, sizeof(want));
	assert_memory_equal(head, want, SNP_HASH_SIZE);
	assert_int_equal(snp_evlog_extend(head, r2, l2), 0);
	unhex(head2, want, sizeof(want));
	assert_memory_equal(head, want, SNP_HASH_SIZE);

	/* strict decoding */
#define BAD(mutate, len_, msg)                                                                     \
	do {                                                                                       \
		memcpy(buf, r1, l1);                                                               \
		mutate;                                                                            \
		assert_int_equal(snp_event_decode(buf, len_, &e, err, sizeof(err)), -EBADMSG);     \
		assert_non_null(strstr(err, msg));                                                 \
	} while (0)
	BAD((void)0, 7, "shorter");
	BAD((void)0, l1 - 1, "truncated");
	BAD(buf[l1] = 'x', l1 + 1, "after the end");
	BAD(buf[0] = 2, l1, "version");
	BAD(buf[2] = 0x0e, l1, "algorithm");
	BAD(buf[7] = 32, l1, "does not match");
	BAD(buf[8 + 48] = 65, l1, "longer than 64");
	BAD(buf[8 + 48 + 1] = '\n', l1, "printable");
	BAD(buf[8 + 48 + 1] = (u8)0xc3, l1, "printable");
	BAD((void)0, SNP_EVENT_RECORD_MAX + 1, "longer than 137");
#undef BAD
	/* the encoder refuses what the decoder would */
	e.digest_len = 32;
	assert_int_equal(snp_event_encode(&e, buf, &len), -EINVAL);
}

static void test_log_verify(void **state)
{
	u8 r1[SNP_EVENT_RECORD_MAX], r2[SNP_EVENT_RECORD_MAX], h1[SNP_HASH_SIZE], h2[SNP_HASH_SIZE];
	size_t l1 = (sizeof(rec1) - 1) / 2, l2 = (sizeof(rec2) - 1) / 2;
	char err[SNP_ERRBUF];

	unhex(rec1, r1, l1);
	unhex(rec2, r2, l2);
	unhex(head1, h1, sizeof(h1));
	unhex(head2, h2, sizeof(h2));
	{
		const u8 *recs[] = { r1, r2 }, *swapped[] = { r2, r1 };
		size_t lens[] = { l1, l2 }, slens[] = { l2, l1 };

		assert_int_equal(snp_evlog_verify(recs, lens, 2, h2, 2, err, sizeof(err)), 0);
		/* truncated: count says 2 */
		assert_int_equal(snp_evlog_verify(recs, lens, 1, h2, 2, err, sizeof(err)),
				 -EBADMSG);
		assert_non_null(strstr(err, "1 events"));
		/* truncated with the count adjusted: the head does not match */
		assert_int_equal(snp_evlog_verify(recs, lens, 1, h2, 1, err, sizeof(err)),
				 -EBADMSG);
		assert_non_null(strstr(err, "head"));
		/* reordered */
		assert_int_equal(snp_evlog_verify(swapped, slens, 2, h2, 2, err, sizeof(err)),
				 -EBADMSG);
		assert_non_null(strstr(err, "head"));
		/* mismatched head */
		assert_int_equal(snp_evlog_verify(recs, lens, 2, h1, 2, err, sizeof(err)),
				 -EBADMSG);
		/* the empty log */
		assert_int_equal(snp_evlog_verify(recs, lens, 0, (u8[SNP_HASH_SIZE]){ 0 }, 0, err,
						  sizeof(err)),
				 0);
	}
	{
		/* an event after the report: three records, the report bound two */
		u8 r3[SNP_EVENT_RECORD_MAX];
		const u8 *recs[] = { r1, r2, r3 };
		size_t lens[] = { l1, l2, l2 };

		memcpy(r3, r2, l2);
		r3[6] = 0x11;
		assert_int_equal(snp_evlog_verify(recs, lens, 3, h2, 2, err, sizeof(err)),
				 -EBADMSG);
		assert_non_null(strstr(err, "3 events"));
	}
}

static void test_binding(void **state)
{
	u8 root[SNP_HASH_SIZE], h2[SNP_HASH_SIZE], rd[SNP_REPORT_DATA_LEN],
		want[SNP_REPORT_DATA_LEN];
	u8 path[SNP_MERKLE_PATH_MAX][SNP_HASH_SIZE], nonce[7];
	char err[SNP_ERRBUF];
	size_t len;

	unhex(head2, h2, sizeof(h2));
	unhex(rd7, want, sizeof(want));
	assert_int_equal(snp_merkle_root(leaves, 7, root), 0);
	assert_int_equal(snp_binding_report_data(root, 7, h2, 2, rd), 0);
	assert_memory_equal(rd, want, sizeof(rd));
	assert_true(snp_binding_is_marked(rd));

	memset(nonce, 3, sizeof(nonce));
	assert_int_equal(snp_merkle_proof(leaves, 7, 3, path, &len), 0);
	assert_int_equal(snp_binding_verify(rd, nonce, 4, 3, 7, (const u8(*)[SNP_HASH_SIZE])path,
					    len, h2, 2, err, sizeof(err)),
			 0);
	/* the proof for nonce 3 does not prove nonce 2 (another client's) */
	memset(nonce, 2, sizeof(nonce));
	assert_int_equal(snp_binding_verify(rd, nonce, 3, 3, 7, (const u8(*)[SNP_HASH_SIZE])path,
					    len, h2, 2, err, sizeof(err)),
			 -EBADMSG);
	/* nor the same bytes with another length */
	memset(nonce, 3, sizeof(nonce));
	assert_int_equal(snp_binding_verify(rd, nonce, 5, 3, 7, (const u8(*)[SNP_HASH_SIZE])path,
					    len, h2, 2, err, sizeof(err)),
			 -EBADMSG);
	/* a swapped node */
	{
		u8 t[SNP_HASH_SIZE];

		memcpy(t, path[0], SNP_HASH_SIZE);
		memcpy(path[0], path[1], SNP_HASH_SIZE);
		memcpy(path[1], t, SNP_HASH_SIZE);
		assert_int_equal(snp_binding_verify(rd, nonce, 4, 3, 7,
						    (const u8(*)[SNP_HASH_SIZE])path, len, h2, 2,
						    err, sizeof(err)),
				 -EBADMSG);
		assert_non_null(strstr(err, "does not match"));
	}
	/* another count or head */
	assert_int_equal(snp_merkle_proof(leaves, 7, 3, path, &len), 0);
	assert_int_equal(snp_binding_verify(rd, nonce, 4, 3, 7, (const u8(*)[SNP_HASH_SIZE])path,
					    len, h2, 3, err, sizeof(err)),
			 -EBADMSG);
	/* REPORT_DATA without the mark (a raw report) */
	rd[63] = 1;
	assert_int_equal(snp_binding_verify(rd, nonce, 4, 3, 7, (const u8(*)[SNP_HASH_SIZE])path,
					    len, h2, 2, err, sizeof(err)),
			 -EBADMSG);
	assert_non_null(strstr(err, "mark"));
}

/*
 * A node presented as a leaf (second preimage): the node over leaves 4
 * and 5 of a tree of 6, with the rest of the path, gives the same root
 * as a tree of size 2 with that node at index 1. The tree hash alone does
 * not tell; the size bound into REPORT_DATA and the leaf prefix do.
 */
static void test_node_as_leaf(void **state)
{
	u8 root6[SNP_HASH_SIZE], node[SNP_HASH_SIZE], root[SNP_HASH_SIZE], h[SNP_HASH_SIZE];
	u8 path[SNP_MERKLE_PATH_MAX][SNP_HASH_SIZE], rd[SNP_REPORT_DATA_LEN];
	char err[SNP_ERRBUF];
	size_t len;

	snp_evlog_head_init(h);
	assert_int_equal(snp_merkle_root(leaves, 6, root6), 0);
	assert_int_equal(snp_merkle_node_hash(leaves[4], leaves[5], node), 0);
	assert_int_equal(snp_merkle_proof(leaves, 6, 4, path, &len), 0);
	assert_int_equal(len, 2);
	assert_int_equal(snp_merkle_root_from_proof(node, 1, 2,
						    (const u8(*)[SNP_HASH_SIZE])path + 1, 1, root,
						    err, sizeof(err)),
			 0);
	assert_memory_equal(root, root6, SNP_HASH_SIZE);
	assert_int_equal(snp_binding_report_data(root6, 6, h, 0, rd), 0);
	/* the node's own bytes as a nonce do not hash to the node */
	assert_int_equal(snp_binding_verify(rd, node, SNP_HASH_SIZE, 1, 2,
					    (const u8(*)[SNP_HASH_SIZE])path + 1, 1, h, 0, err,
					    sizeof(err)),
			 -EBADMSG);
}

/* @k arrays and objects, alternating, around @inner (stolen); new reference */
static json_t *nest(unsigned int k, json_t *inner)
{
	for (unsigned int i = 0; i < k; i++) {
		json_t *o = i % 2 ? json_object() : json_array();

		assert_non_null(o);
		if (json_is_array(o))
			assert_int_equal(json_array_append_new(o, inner), 0);
		else
			assert_int_equal(json_object_set_new(o, "a", inner), 0);
		inner = o;
	}
	return inner;
}

/*
 * The nesting bound of evidence documents (docs/evidence.md 6): a scalar
 * is level 0, each array or object around it one more; a deep value is
 * found after shallow siblings, and a tree far deeper than the bound is
 * refused (the walk stops at the bound).
 */
static void test_depth(void **state)
{
	json_t *j;

	(void)state;
	j = json_integer(1);
	assert_true(snp_json_depth_within(j, 0));
	json_decref(j);
	j = json_array();
	assert_false(snp_json_depth_within(j, 0));
	assert_true(snp_json_depth_within(j, 1));
	json_decref(j);
	for (unsigned int k = 1; k <= SNP_EVIDENCE_DEPTH_MAX + 1; k++) {
		j = nest(k, json_null());
		assert_true(snp_json_depth_within(j, k));
		assert_false(snp_json_depth_within(j, k - 1));
		json_decref(j);
	}
	/* the deep value is the last of its siblings */
	j = json_pack("{s:i,s:[i,s,o]}", "x", 1, "y", 2, "z",
		      nest(SNP_EVIDENCE_DEPTH_MAX - 1, json_string("[[[[")));
	assert_non_null(j);
	assert_true(snp_json_depth_within(j, SNP_EVIDENCE_DEPTH_MAX + 1));
	assert_false(snp_json_depth_within(j, SNP_EVIDENCE_DEPTH_MAX));
	json_decref(j);
	j = nest(2048, json_null()); /* as deep as jansson parses */
	assert_false(snp_json_depth_within(j, SNP_EVIDENCE_DEPTH_MAX));
	json_decref(j);
}

/* @k arrays around "1", as text. */
static char *nested_text(unsigned int k)
{
	char *s = malloc(2 * k + 2);

	assert_non_null(s);
	memset(s, '[', k);
	s[k] = '1';
	memset(s + k + 1, ']', k);
	s[2 * k + 1] = '\0';
	return s;
}

/*
 * snp_evidence_json_load(), the parse of snpctl, binding-tool and
 * fuzz-evidence: SNP_EVIDENCE_DEPTH_MAX levels read, one more refused (and
 * far more, past jansson's own bound), a member name twice refused at any
 * depth, what is not JSON refused; each with its reason.
 */
static void test_json_load(void **state)
{
	static const char dup[] = "{\"a\": {\"b\": 1, \"b\": 2}}";
	char err[SNP_ERRBUF], *text;
	json_t *j = NULL;

	(void)state;
	text = nested_text(SNP_EVIDENCE_DEPTH_MAX);
	assert_int_equal(snp_evidence_json_load((u8 *)text, strlen(text), &j, err, sizeof(err)), 0);
	assert_true(json_is_array(j));
	json_decref(j);
	free(text);
	for (unsigned int k = SNP_EVIDENCE_DEPTH_MAX + 1; k < 3000; k += 2900) {
		j = NULL;
		text = nested_text(k);
		assert_int_equal(
			snp_evidence_json_load((u8 *)text, strlen(text), &j, err, sizeof(err)),
			-EBADMSG);
		assert_null(j);
		assert_non_null(strstr(err, k > 2048 ? "not JSON" : "nested deeper than 32"));
		free(text);
	}
	assert_int_equal(snp_evidence_json_load((const u8 *)dup, strlen(dup), &j, err, sizeof(err)),
			 -EBADMSG);
	assert_null(j);
	assert_non_null(strstr(err, "not JSON: duplicate object key"));
	assert_int_equal(snp_evidence_json_load((const u8 *)"{} x", 4, &j, err, sizeof(err)),
			 -EBADMSG);
	assert_non_null(strstr(err, "not JSON"));
	assert_null(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roots),	      cmocka_unit_test(test_proofs),
		cmocka_unit_test(test_bad_arguments), cmocka_unit_test(test_events),
		cmocka_unit_test(test_log_verify),    cmocka_unit_test(test_binding),
		cmocka_unit_test(test_node_as_leaf),  cmocka_unit_test(test_depth),
		cmocka_unit_test(test_json_load),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
