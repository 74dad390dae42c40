// SPDX-License-Identifier: Apache-2.0
/*
 * The incremental Merkle tree (struct snp_merkle_builder, lib/merkle.c)
 * against a naive recursive RFC 9162 MTH and PATH written here from
 * docs/evidence.md section 3 with OpenSSL's one-shot SHA384(), and against
 * snp_merkle_root_from_proof() and snp_merkle_proof(): roots and every
 * leaf's proof, as leaves are appended, replaced and removed.
 *
 * test-merkle --bench prints hash and builder figures instead (no test).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "lib/merkle.h"
#include "lib/util.h"

#define N_MAX 700

/* ---- the naive reference ---------------------------------------------- */

static void ref_node(const u8 *l, const u8 *r, u8 *out)
{
	u8 buf[1 + 2 * SNP_HASH_SIZE];

	buf[0] = 0x01;
	memcpy(buf + 1, l, SNP_HASH_SIZE);
	memcpy(buf + 1 + SNP_HASH_SIZE, r, SNP_HASH_SIZE);
	SHA384(buf, sizeof(buf), out);
}

static size_t ref_split(size_t n)
{
	size_t k = 1;

	while (2 * k < n)
		k *= 2;
	return k;
}

/* MTH(D[n]) */
static void ref_mth(u8 (*d)[SNP_HASH_SIZE], size_t n, u8 *out)
{
	u8 l[SNP_HASH_SIZE], r[SNP_HASH_SIZE];
	size_t k;

	if (n == 1) {
		memcpy(out, d[0], SNP_HASH_SIZE);
		return;
	}
	k = ref_split(n);
	ref_mth(d, k, l);
	ref_mth(d + k, n - k, r);
	ref_node(l, r, out);
}

/* PATH(m, D[n]), the leaf's sibling first: appends to @path. */
static void ref_path(u8 (*d)[SNP_HASH_SIZE], size_t n, size_t m, u8 (*path)[SNP_HASH_SIZE],
		     size_t *len)
{
	size_t k;

	if (n == 1)
		return;
	k = ref_split(n);
	if (m < k) {
		ref_path(d, k, m, path, len);
		ref_mth(d + k, n - k, path[(*len)++]);
	} else {
		ref_path(d + k, n - k, m - k, path, len);
		ref_mth(d, k, path[(*len)++]);
	}
}

/* ---- checks ------------------------------------------------------------ */

static u8 (*leaves)[SNP_HASH_SIZE];
static unsigned int serial;

static void new_leaf(u8 *out)
{
	u8 nonce[8];

	for (int i = 0; i < 8; i++)
		nonce[i] = (u8)(serial >> (8 * (i % 4)) ^ (u8)i);
	serial++;
	assert_int_equal(snp_merkle_leaf_hash(nonce, sizeof(nonce), out), 0);
}

/*
 * finish() against the naive root; every proof against root_from_proof()
 * and, when @all_paths, against the naive PATH and snp_merkle_proof().
 */
static void check_tree(struct snp_merkle_builder *b, size_t n, bool all_paths)
{
	u8 root[SNP_HASH_SIZE], want[SNP_HASH_SIZE], got[SNP_HASH_SIZE];
	u8 path[SNP_MERKLE_PATH_MAX][SNP_HASH_SIZE], ref[SNP_MERKLE_PATH_MAX + 1][SNP_HASH_SIZE];
	char err[SNP_ERRBUF];
	size_t len, ref_len;

	assert_int_equal(b->n, n);
	if (!n) {
		assert_int_equal(snp_merkle_builder_finish(b, root), -EINVAL);
		return;
	}
	assert_int_equal(snp_merkle_builder_finish(b, root), 0);
	ref_mth(leaves, n, want);
	assert_memory_equal(root, want, SNP_HASH_SIZE);
	for (size_t m = 0; m < n; m++) {
		assert_int_equal(snp_merkle_builder_proof(b, m, path, &len), 0);
		assert_int_equal(snp_merkle_root_from_proof(leaves[m], m, n,
							    (const u8(*)[SNP_HASH_SIZE])path, len,
							    got, err, sizeof(err)),
				 0);
		assert_memory_equal(got, want, SNP_HASH_SIZE);
		if (!all_paths)
			continue;
		ref_len = 0;
		ref_path(leaves, n, m, ref, &ref_len);
		assert_int_equal(len, ref_len);
		assert_memory_equal(path, ref, len * SNP_HASH_SIZE);
		assert_int_equal(
			snp_merkle_proof((const u8(*)[SNP_HASH_SIZE])leaves, n, m, ref, &ref_len),
			0);
		assert_int_equal(len, ref_len);
		assert_memory_equal(path, ref, len * SNP_HASH_SIZE);
	}
}

static void replace(struct snp_merkle_builder *b, size_t i, size_t n, bool all_paths)
{
	new_leaf(leaves[i]);
	assert_int_equal(snp_merkle_builder_set(b, i, leaves[i]), 0);
	check_tree(b, n, all_paths);
}

/* as snpd_batcher_cancel(): the last leaf moves into the slot */
static void cancel(struct snp_merkle_builder *b, size_t i, size_t n, bool all_paths)
{
	memcpy(leaves[i], leaves[n - 1], SNP_HASH_SIZE);
	assert_int_equal(snp_merkle_builder_swap_remove(b, i), 0);
	check_tree(b, n - 1, all_paths);
}

/*
 * A tree of @n leaves, appended one by one (the root checked after each
 * append when @every), then leaves replaced and cancelled at the first,
 * middle and last places, and the tree grown again.
 */
static void check_size(size_t n, size_t cap, bool all_paths, bool every)
{
	struct snp_merkle_builder b;
	bool some_paths = all_paths && n <= 300;
	size_t k;

	assert_int_equal(snp_merkle_builder_init(&b, cap), 0);
	for (size_t i = 0; i < n; i++) {
		new_leaf(leaves[i]);
		assert_int_equal(snp_merkle_builder_append(&b, leaves[i]), 0);
		if (every || i + 1 == n)
			check_tree(&b, i + 1, all_paths && i + 1 == n);
	}
	replace(&b, 0, n, some_paths);
	replace(&b, n / 2, n, some_paths);
	replace(&b, n - 1, n, some_paths);
	/* a changed tree has no proofs until it is finished again */
	new_leaf(leaves[0]);
	assert_int_equal(snp_merkle_builder_set(&b, 0, leaves[0]), 0);
	assert_int_equal(snp_merkle_builder_proof(&b, 0, leaves + N_MAX, &k), -ESTALE);
	k = n;
	cancel(&b, k - 1, k, some_paths), k--;
	if (k)
		cancel(&b, k / 2, k, some_paths), k--;
	if (k)
		cancel(&b, 0, k, some_paths), k--;
	/* it grows again, as a batch that waited does */
	for (; k < n; k++) {
		new_leaf(leaves[k]);
		assert_int_equal(snp_merkle_builder_append(&b, leaves[k]), 0);
	}
	if (n)
		check_tree(&b, n, all_paths);
	snp_merkle_builder_done(&b);
}

static void test_sizes(void **state)
{
	/* every size: roots after each append, every proof checked by root_from_proof */
	for (size_t n = 1; n <= 600; n++)
		check_size(n, n, false, n <= 130);
}

static void test_paths(void **state)
{
	static const size_t spread[] = { 1,   2,   3,	4,   5,	  6,   7,   8,	 9,   15,
					 16,  17,  31,	32,  33,  63,  64,  65,	 100, 127,
					 128, 129, 255, 256, 257, 500, 511, 512, 513, 600 };

	/*
	 * every proof against the naive PATH (O(n^2) hashes: after the
	 * replacements and cancels of the smaller trees only); room to spare or none
	 */
	for (size_t i = 0; i < SNP_ELEMENTSOF(spread); i++) {
		check_size(spread[i], spread[i], true, false);
		if (spread[i] < 300)
			check_size(spread[i], spread[i] + 3, true, false);
	}
}

static void test_errors(void **state)
{
	struct snp_merkle_builder b;
	u8 root[SNP_HASH_SIZE], path[SNP_MERKLE_PATH_MAX][SNP_HASH_SIZE];
	size_t len;

	assert_int_equal(snp_merkle_builder_init(&b, 0), -EINVAL);
	assert_int_equal(snp_merkle_builder_init(&b, SNP_MERKLE_LEAVES_MAX + 1), -EINVAL);
	assert_int_equal(snp_merkle_builder_init(&b, 2), 0);
	assert_int_equal(snp_merkle_builder_finish(&b, root), -EINVAL);
	new_leaf(leaves[0]);
	new_leaf(leaves[1]);
	assert_int_equal(snp_merkle_builder_set(&b, 0, leaves[0]), -EINVAL);
	assert_int_equal(snp_merkle_builder_swap_remove(&b, 0), -EINVAL);
	assert_int_equal(snp_merkle_builder_append(&b, leaves[0]), 0);
	assert_int_equal(snp_merkle_builder_append(&b, leaves[1]), 0);
	assert_int_equal(snp_merkle_builder_append(&b, leaves[1]), -ENOSPC);
	assert_int_equal(snp_merkle_builder_proof(&b, 0, path, &len), -ESTALE);
	assert_int_equal(snp_merkle_builder_finish(&b, root), 0);
	assert_int_equal(snp_merkle_builder_proof(&b, 2, path, &len), -EINVAL);
	assert_int_equal(snp_merkle_builder_proof(&b, 1, path, &len), 0);
	assert_int_equal(len, 1);
	assert_memory_equal(path[0], leaves[0], SNP_HASH_SIZE);
	snp_merkle_builder_done(&b);
	/* the largest tree: 65536 leaves, proofs of 16 */
	assert_int_equal(snp_merkle_builder_init(&b, SNP_MERKLE_LEAVES_MAX), 0);
	for (size_t i = 0; i < SNP_MERKLE_LEAVES_MAX; i++)
		assert_int_equal(snp_merkle_builder_append(&b, leaves[i & 1]), 0);
	assert_int_equal(snp_merkle_builder_finish(&b, root), 0);
	assert_int_equal(snp_merkle_builder_proof(&b, 12345, path, &len), 0);
	assert_int_equal(len, SNP_MERKLE_PATH_MAX);
	snp_merkle_builder_done(&b);
}

/* snp_sha384_parts() from several threads at once, each with its own context */
static void *hash_thread(void *arg)
{
	uintptr_t bad = 0;

	for (unsigned int i = 0; i < 2000; i++) {
		u8 msg[100], want[SNP_HASH_SIZE], got[SNP_HASH_SIZE];
		const void *parts[] = { msg, msg + 37 };
		size_t lens[] = { 37, sizeof(msg) - 37 };

		for (size_t j = 0; j < sizeof(msg); j++)
			msg[j] = (u8)(i * 7 + j + (uintptr_t)arg);
		SHA384(msg, sizeof(msg), want);
		if (snp_sha384_parts(got, 2, parts, lens) < 0 || memcmp(got, want, sizeof(got)))
			bad++;
	}
	return (void *)bad;
}

static void test_threads(void **state)
{
	pthread_t t[4];
	void *bad;

	for (uintptr_t i = 0; i < SNP_ELEMENTSOF(t); i++)
		assert_int_equal(pthread_create(&t[i], NULL, hash_thread, (void *)i), 0);
	for (size_t i = 0; i < SNP_ELEMENTSOF(t); i++) {
		assert_int_equal(pthread_join(t[i], &bad), 0);
		assert_null(bad);
	}
	assert_null(hash_thread((void *)9));
}

/* ---- --bench ------------------------------------------------------------ */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bench(void)
{
	struct snp_merkle_builder b;
	u8 a[SNP_HASH_SIZE] = { 1 }, root[SNP_HASH_SIZE];
	const int hashes = 500000, rounds = 200;
	double t, append = 0, finish = 0, naive = 0;

	t = now();
	for (int i = 0; i < hashes; i++)
		if (snp_merkle_node_hash(a, a, a) < 0)
			return 1;
	printf("snp_merkle_node_hash: %.0f hashes/s\n", hashes / (now() - t));
	if (snp_merkle_builder_init(&b, 2048) < 0)
		return 1;
	for (int r = 0; r < rounds; r++) {
		u8 nonce[32] = { (u8)r };

		b.n = 0;
		t = now();
		for (int i = 0; i < 500; i++) {
			nonce[1] = (u8)i;
			nonce[2] = (u8)(i >> 8);
			if (snp_merkle_leaf_hash(nonce, sizeof(nonce), leaves[i]) < 0 ||
			    snp_merkle_builder_append(&b, leaves[i]) < 0)
				return 1;
		}
		append += now() - t;
		t = now();
		if (snp_merkle_builder_finish(&b, root) < 0)
			return 1;
		finish += now() - t;
		/* what send_batch() did before: every leaf and node at once */
		t = now();
		for (int i = 0; i < 500; i++) {
			nonce[1] = (u8)i;
			nonce[2] = (u8)(i >> 8);
			if (snp_merkle_leaf_hash(nonce, sizeof(nonce), leaves[i]) < 0)
				return 1;
		}
		if (snp_merkle_root((const u8(*)[SNP_HASH_SIZE])leaves, 500, a) < 0 ||
		    memcmp(a, root, SNP_HASH_SIZE))
			return 1;
		naive += now() - t;
	}
	printf("500 leaves: 500 appends (leaf hash + pairs) %.1f us, finish() %.2f us, "
	       "whole tree at once %.1f us (mean of %d)\n",
	       append / rounds * 1e6, finish / rounds * 1e6, naive / rounds * 1e6, rounds);
	snp_merkle_builder_done(&b);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_threads),
	};
	int r;

	leaves = calloc(N_MAX + SNP_MERKLE_PATH_MAX + 1, SNP_HASH_SIZE);
	if (!leaves)
		return 1;
	if (argc > 1 && !strcmp(argv[1], "--bench"))
		r = bench();
	else
		r = cmocka_run_group_tests(tests, NULL, NULL);
	free(leaves);
	return r;
}
