/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Merkle tree over a batch of nonces, hashed as RFC 9162 section 2.1
 * does (leaf prefix 0x00, node prefix 0x01, the left subtree holds the
 * largest power of two smaller than the size), with SHA-384.
 * docs/evidence.md is the specification; this is one implementation.
 */
#ifndef SNP_LIB_MERKLE_H
#define SNP_LIB_MERKLE_H

#include <stdbool.h>
#include <stddef.h>

#include "kernel/compat.h"

#define SNP_HASH_SIZE 48 /* SHA-384 */
#define SNP_NONCE_MIN 1
#define SNP_NONCE_MAX 64
/* Largest batch; a proof then has at most 16 hashes. */
#define SNP_MERKLE_LEAVES_MAX 65536u
#define SNP_MERKLE_PATH_MAX   16

/* SHA-384 over the concatenation of @n parts. 0 or -ENOMEM/-EIO. */
int snp_sha384_parts(u8 ret[SNP_HASH_SIZE], size_t n, const void *const *parts, const size_t *lens);

/* Leaf hash of a nonce: SHA-384(0x00 || u8 len || nonce). -EINVAL on a bad length. */
int snp_merkle_leaf_hash(const u8 *nonce, size_t len, u8 ret[SNP_HASH_SIZE]);
/* Interior node: SHA-384(0x01 || left || right). */
int snp_merkle_node_hash(const u8 left[SNP_HASH_SIZE], const u8 right[SNP_HASH_SIZE],
			 u8 ret[SNP_HASH_SIZE]);

/* Root of @n (1..SNP_MERKLE_LEAVES_MAX) leaf hashes. */
int snp_merkle_root(const u8 (*leaves)[SNP_HASH_SIZE], size_t n, u8 ret_root[SNP_HASH_SIZE]);

/*
 * Inclusion proof (audit path, RFC 9162 PATH(m, D[n])) of leaf @index:
 * the sibling hashes from the leaf upwards, at most SNP_MERKLE_PATH_MAX.
 * ret_path must hold SNP_MERKLE_PATH_MAX hashes.
 */
int snp_merkle_proof(const u8 (*leaves)[SNP_HASH_SIZE], size_t n, size_t index,
		     u8 (*ret_path)[SNP_HASH_SIZE], size_t *ret_len);

/*
 * Root that a leaf hash at @index of a tree of @size implies with @path
 * (RFC 9162 section 2.1.3.2). -EINVAL and a reason in @err when the
 * index, size or path length cannot be right.
 */
int snp_merkle_root_from_proof(const u8 leaf[SNP_HASH_SIZE], u64 index, u64 size,
			       const u8 (*path)[SNP_HASH_SIZE], size_t path_len,
			       u8 ret_root[SNP_HASH_SIZE], char *err, size_t errlen);

/*
 * A tree built as its leaves come (docs/evidence.md 3): level by level,
 * pairs from the left, an odd last node moves up unchanged, which is the
 * RFC 9162 tree. A node whose subtree is full is hashed as soon as it is
 * (one node hash per append, amortised); finish() hashes only the right
 * edge, at most one node per level, and yields the root. Memory: about
 * 2 * @cap hashes, allocated by init(). Not thread-safe; one owner.
 */
struct snp_merkle_builder {
	u8 (*nodes)[SNP_HASH_SIZE];	       /* every level, leaves first */
	size_t level[SNP_MERKLE_PATH_MAX + 1]; /* where each level starts in nodes */
	size_t n, cap;
	bool finished; /* nothing changed since finish(): proofs are valid */
	bool broken;   /* a hash failed: finish() rebuilds every level */
};

/* Room for @cap (1..SNP_MERKLE_LEAVES_MAX) leaves. 0, -EINVAL or -ENOMEM. */
int snp_merkle_builder_init(struct snp_merkle_builder *b, size_t cap);
/* Frees the nodes; the builder may be initialised again. */
void snp_merkle_builder_done(struct snp_merkle_builder *b);
/* Add a leaf hash at index n. -ENOSPC when full; on error nothing changed. */
int snp_merkle_builder_append(struct snp_merkle_builder *b, const u8 leaf[SNP_HASH_SIZE]);
/* Replace leaf @index (< n). */
int snp_merkle_builder_set(struct snp_merkle_builder *b, size_t index,
			   const u8 leaf[SNP_HASH_SIZE]);
/* Drop leaf @index (< n): the last leaf takes its place. */
int snp_merkle_builder_swap_remove(struct snp_merkle_builder *b, size_t index);
/* Hash the right edge; the root of the n (>= 1) leaves. */
int snp_merkle_builder_finish(struct snp_merkle_builder *b, u8 ret_root[SNP_HASH_SIZE]);
/*
 * The audit path of leaf @index as snp_merkle_proof() gives it, from the
 * nodes finish() left: -ESTALE if the tree changed since.
 */
int snp_merkle_builder_proof(const struct snp_merkle_builder *b, size_t index,
			     u8 (*ret_path)[SNP_HASH_SIZE], size_t *ret_len);

#endif
