// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "lib/merkle.h"

/*
 * SHA-384 is fetched from the default provider once for the process
 * (EVP_sha384() would look it up again on every use), and each thread
 * keeps one digest context for all its hashes: the broker thread, the
 * event loop, snpctl and the verifier all hash. The key's destructor
 * frees a thread's context when the thread ends.
 */
static pthread_once_t sha384_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha384_md;
static pthread_key_t sha384_key;
static bool sha384_key_ok;
/* also the thread's context, where leak checkers see it as a root */
static __thread EVP_MD_CTX *sha384_ctx;

static void sha384_ctx_free(void *p)
{
	EVP_MD_CTX_free(p);
}

static void sha384_init(void)
{
	sha384_md = EVP_MD_fetch(NULL, "SHA384", NULL);
	sha384_key_ok = pthread_key_create(&sha384_key, sha384_ctx_free) == 0;
}

/* The calling thread's context, or a new one that @ret_own says to free. */
static EVP_MD_CTX *sha384_ctx_get(bool *ret_own)
{
	EVP_MD_CTX *md;

	*ret_own = false;
	if (sha384_ctx)
		return sha384_ctx;
	md = EVP_MD_CTX_new();
	if (!md)
		return NULL;
	if (sha384_key_ok && pthread_setspecific(sha384_key, md) == 0)
		sha384_ctx = md;
	else
		*ret_own = true;
	return md;
}

int snp_sha384_parts(u8 ret[SNP_HASH_SIZE], size_t n, const void *const *parts, const size_t *lens)
{
	EVP_MD_CTX *md;
	unsigned int len = 0;
	bool own;
	int r = -EIO;

	if (pthread_once(&sha384_once, sha384_init) != 0 || !sha384_md)
		return -EIO;
	md = sha384_ctx_get(&own);
	if (!md)
		return -ENOMEM;
	/* _ex2 resets the context; the same digest keeps its provider state */
	if (EVP_DigestInit_ex2(md, sha384_md, NULL) != 1)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (lens[i] && EVP_DigestUpdate(md, parts[i], lens[i]) != 1)
			goto out;
	if (EVP_DigestFinal_ex(md, ret, &len) != 1 || len != SNP_HASH_SIZE)
		goto out;
	r = 0;
out:
	if (own)
		EVP_MD_CTX_free(md);
	return r;
}

int snp_merkle_leaf_hash(const u8 *nonce, size_t len, u8 ret[SNP_HASH_SIZE])
{
	u8 head[2];
	const void *parts[] = { head, nonce };
	size_t lens[] = { sizeof(head), len };

	if (len < SNP_NONCE_MIN || len > SNP_NONCE_MAX || !nonce)
		return -EINVAL;
	head[0] = 0x00;
	head[1] = (u8)len;
	return snp_sha384_parts(ret, 2, parts, lens);
}

int snp_merkle_node_hash(const u8 left[SNP_HASH_SIZE], const u8 right[SNP_HASH_SIZE],
			 u8 ret[SNP_HASH_SIZE])
{
	static const u8 prefix = 0x01;
	const void *parts[] = { &prefix, left, right };
	size_t lens[] = { 1, SNP_HASH_SIZE, SNP_HASH_SIZE };

	return snp_sha384_parts(ret, 3, parts, lens);
}

/* Largest power of two strictly smaller than @n (n >= 2). */
static size_t split_point(size_t n)
{
	size_t k = 1;

	while (k << 1 < n)
		k <<= 1;
	return k;
}

static int root_of(const u8 (*leaves)[SNP_HASH_SIZE], size_t n, u8 ret[SNP_HASH_SIZE])
{
	u8 left[SNP_HASH_SIZE], right[SNP_HASH_SIZE];
	size_t k;
	int r;

	if (n == 1) {
		memcpy(ret, leaves[0], SNP_HASH_SIZE);
		return 0;
	}
	k = split_point(n);
	r = root_of(leaves, k, left);
	if (r < 0)
		return r;
	r = root_of(leaves + k, n - k, right);
	if (r < 0)
		return r;
	return snp_merkle_node_hash(left, right, ret);
}

int snp_merkle_root(const u8 (*leaves)[SNP_HASH_SIZE], size_t n, u8 ret_root[SNP_HASH_SIZE])
{
	if (!leaves || n < 1 || n > SNP_MERKLE_LEAVES_MAX)
		return -EINVAL;
	return root_of(leaves, n, ret_root);
}

/* PATH(m, D[n]) written from the top down: the deepest sibling comes first. */
static int path_of(const u8 (*leaves)[SNP_HASH_SIZE], size_t n, size_t m, u8 (*path)[SNP_HASH_SIZE],
		   size_t *len)
{
	u8 sibling[SNP_HASH_SIZE];
	size_t k;
	int r;

	if (n == 1)
		return 0;
	k = split_point(n);
	if (m < k) {
		r = path_of(leaves, k, m, path, len);
		if (r >= 0)
			r = root_of(leaves + k, n - k, sibling);
	} else {
		r = path_of(leaves + k, n - k, m - k, path, len);
		if (r >= 0)
			r = root_of(leaves, k, sibling);
	}
	if (r < 0)
		return r;
	if (*len >= SNP_MERKLE_PATH_MAX)
		return -E2BIG;
	memcpy(path[(*len)++], sibling, SNP_HASH_SIZE);
	return 0;
}

int snp_merkle_proof(const u8 (*leaves)[SNP_HASH_SIZE], size_t n, size_t index,
		     u8 (*ret_path)[SNP_HASH_SIZE], size_t *ret_len)
{
	u8 path[SNP_MERKLE_PATH_MAX][SNP_HASH_SIZE];
	size_t len = 0;
	int r;

	if (!leaves || n < 1 || n > SNP_MERKLE_LEAVES_MAX || index >= n)
		return -EINVAL;
	r = path_of(leaves, n, index, path, &len);
	if (r < 0)
		return r;
	memcpy(ret_path, path, len * SNP_HASH_SIZE);
	*ret_len = len;
	return 0;
}

static int fail(char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
	return -EINVAL;
}

int snp_merkle_root_from_proof(const u8 leaf[SNP_HASH_SIZE], u64 index, u64 size,
			       const u8 (*path)[SNP_HASH_SIZE], size_t path_len,
			       u8 ret_root[SNP_HASH_SIZE], char *err, size_t errlen)
{
	u8 r[SNP_HASH_SIZE], t[SNP_HASH_SIZE];
	u64 fn, sn;
	int ret;

	if (size < 1 || size > SNP_MERKLE_LEAVES_MAX)
		return fail(err, errlen, "tree size out of range");
	if (index >= size)
		return fail(err, errlen, "leaf index not below the tree size");
	if (path_len > SNP_MERKLE_PATH_MAX)
		return fail(err, errlen, "proof path too long");
	fn = index;
	sn = size - 1;
	memcpy(r, leaf, SNP_HASH_SIZE);
	for (size_t i = 0; i < path_len; i++) {
		if (sn == 0)
			return fail(err, errlen, "proof path longer than the tree is deep");
		if ((fn & 1) || fn == sn) {
			ret = snp_merkle_node_hash(path[i], r, t);
			if (!(fn & 1))
				while (fn && !(fn & 1)) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			ret = snp_merkle_node_hash(r, path[i], t);
		}
		if (ret < 0)
			return ret;
		memcpy(r, t, SNP_HASH_SIZE);
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return fail(err, errlen, "proof path shorter than the tree is deep");
	memcpy(ret_root, r, SNP_HASH_SIZE);
	return 0;
}

/* Nodes on level @l of a tree of @n >= 1 leaves. */
static size_t level_len(size_t n, size_t l)
{
	return ((n - 1) >> l) + 1;
}

static u8 *node(const struct snp_merkle_builder *b, size_t l, size_t i)
{
	return b->nodes[b->level[l] + i];
}

/* Node @i of level @l covers 2^l leaves of the @n. */
static bool full(size_t n, size_t l, size_t i)
{
	return (i + 1) << l <= n;
}

int snp_merkle_builder_init(struct snp_merkle_builder *b, size_t cap)
{
	size_t total = 0, l = 0;

	if (cap < 1 || cap > SNP_MERKLE_LEAVES_MAX)
		return -EINVAL;
	*b = (struct snp_merkle_builder){ .cap = cap };
	for (;; l++) {
		b->level[l] = total;
		total += level_len(cap, l);
		if (level_len(cap, l) == 1)
			break;
	}
	b->nodes = malloc(total * SNP_HASH_SIZE);
	if (!b->nodes)
		return -ENOMEM;
	return 0;
}

void snp_merkle_builder_done(struct snp_merkle_builder *b)
{
	free(b->nodes);
	*b = (struct snp_merkle_builder){ 0 };
}

/* Hash the parent of node @i of level @l from the pair under it. */
static int hash_parent(struct snp_merkle_builder *b, size_t l, size_t i)
{
	i &= ~(size_t)1;
	return snp_merkle_node_hash(node(b, l, i), node(b, l, i + 1), node(b, l + 1, i / 2));
}

int snp_merkle_builder_append(struct snp_merkle_builder *b, const u8 leaf[SNP_HASH_SIZE])
{
	size_t i = b->n, l;
	int r;

	if (b->n >= b->cap)
		return -ENOSPC;
	memcpy(node(b, 0, i), leaf, SNP_HASH_SIZE);
	/* a right child completes its pair: up as far as subtrees are full */
	for (l = 0; i & 1; l++, i >>= 1) {
		r = hash_parent(b, l, i);
		if (r < 0)
			return r; /* only nodes beyond n were written */
	}
	b->n++;
	b->finished = false;
	return 0;
}

/* Rehash the full ancestors of leaf @i; on error finish() rebuilds them all. */
static int rehash_up(struct snp_merkle_builder *b, size_t i)
{
	int r;

	for (size_t l = 0; full(b->n, l + 1, i >> 1); l++, i >>= 1) {
		r = hash_parent(b, l, i);
		if (r < 0) {
			b->broken = true;
			return r;
		}
	}
	return 0;
}

int snp_merkle_builder_set(struct snp_merkle_builder *b, size_t index, const u8 leaf[SNP_HASH_SIZE])
{
	if (index >= b->n)
		return -EINVAL;
	memcpy(node(b, 0, index), leaf, SNP_HASH_SIZE);
	b->finished = false;
	return rehash_up(b, index);
}

int snp_merkle_builder_swap_remove(struct snp_merkle_builder *b, size_t index)
{
	if (index >= b->n)
		return -EINVAL;
	b->n--;
	b->finished = false;
	if (index == b->n)
		return 0; /* no full node held the last leaf alone */
	memcpy(node(b, 0, index), node(b, 0, b->n), SNP_HASH_SIZE);
	return rehash_up(b, index);
}

/* Every full node again, level by level (after a failed hash). */
static int rebuild(struct snp_merkle_builder *b)
{
	int r;

	for (size_t l = 0; level_len(b->n, l) > 1; l++)
		for (size_t i = 0; full(b->n, l + 1, i); i++) {
			r = hash_parent(b, l, 2 * i);
			if (r < 0)
				return r;
		}
	b->broken = false;
	return 0;
}

int snp_merkle_builder_finish(struct snp_merkle_builder *b, u8 ret_root[SNP_HASH_SIZE])
{
	size_t l, len;
	int r;

	if (b->n < 1)
		return -EINVAL;
	if (b->broken) {
		r = rebuild(b);
		if (r < 0)
			return r;
	}
	/* the last node of each level that is not full: the right edge */
	for (l = 0; (len = level_len(b->n, l)) > 1; l++) {
		if (full(b->n, l + 1, (len - 1) / 2))
			continue;
		if (len & 1) {
			memcpy(node(b, l + 1, len / 2), node(b, l, len - 1), SNP_HASH_SIZE);
		} else {
			r = hash_parent(b, l, len - 1);
			if (r < 0)
				return r;
		}
	}
	memcpy(ret_root, node(b, l, 0), SNP_HASH_SIZE);
	b->finished = true;
	return 0;
}

int snp_merkle_builder_proof(const struct snp_merkle_builder *b, size_t index,
			     u8 (*ret_path)[SNP_HASH_SIZE], size_t *ret_len)
{
	size_t len = 0, i = index;

	if (!b->finished)
		return -ESTALE;
	if (index >= b->n)
		return -EINVAL;
	for (size_t l = 0, w; (w = level_len(b->n, l)) > 1; l++, i >>= 1) {
		if ((i ^ 1) >= w)
			continue; /* moved up unchanged: no sibling on this level */
		if (len >= SNP_MERKLE_PATH_MAX)
			return -E2BIG;
		memcpy(ret_path[len++], node(b, l, i ^ 1), SNP_HASH_SIZE);
	}
	*ret_len = len;
	return 0;
}
