/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * Minimal kernel-type compatibility layer so that kernel/ builds both as
 * freestanding userspace C (for the simulator and the tests) and, with the
 * real kernel headers, inside Linux.
 */
#ifndef SNP_KERNEL_COMPAT_H
#define SNP_KERNEL_COMPAT_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/build_bug.h>
#include <linux/string.h>
#include <linux/errno.h>
#include <asm/byteorder.h>
#else
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int32_t s32;
typedef int64_t s64;

/* Wire fields are little-endian; the types (from the uapi headers) say so. */
#include <linux/types.h>

#ifndef __packed
#define __packed __attribute__((__packed__))
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define cpu_to_le16(x) ((__le16)(u16)(x))
#define cpu_to_le32(x) ((__le32)(u32)(x))
#define cpu_to_le64(x) ((__le64)(u64)(x))
#define le16_to_cpu(x) ((u16)(__le16)(x))
#define le32_to_cpu(x) ((u32)(__le32)(x))
#define le64_to_cpu(x) ((u64)(__le64)(x))
#else
#define cpu_to_le16(x) ((__le16)__builtin_bswap16(x))
#define cpu_to_le32(x) ((__le32)__builtin_bswap32(x))
#define cpu_to_le64(x) ((__le64)__builtin_bswap64(x))
#define le16_to_cpu(x) __builtin_bswap16(x)
#define le32_to_cpu(x) __builtin_bswap32(x)
#define le64_to_cpu(x) __builtin_bswap64(x)
#endif

#ifndef BIT
#define BIT(n) (1U << (n))
#endif
#ifndef BIT_ULL
#define BIT_ULL(n) (1ULL << (n))
#endif
#ifndef GENMASK_ULL
#define GENMASK_ULL(h, l) ((~0ULL << (l)) & (~0ULL >> (63 - (h))))
#endif
#ifndef GENMASK
#define GENMASK(h, l) ((~0U << (l)) & (~0U >> (31 - (h))))
#endif
#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif
#endif /* __KERNEL__ */

/* Explicit little-endian loads and stores on byte buffers. */
static inline u16 snp_get_le16(const u8 *p)
{
	return (u16)(p[0] | (u16)p[1] << 8);
}

static inline u32 snp_get_le32(const u8 *p)
{
	return (u32)p[0] | (u32)p[1] << 8 | (u32)p[2] << 16 | (u32)p[3] << 24;
}

static inline u64 snp_get_le64(const u8 *p)
{
	return (u64)snp_get_le32(p) | (u64)snp_get_le32(p + 4) << 32;
}

static inline void snp_put_le16(u8 *p, u16 v)
{
	p[0] = (u8)v;
	p[1] = (u8)(v >> 8);
}

static inline void snp_put_le32(u8 *p, u32 v)
{
	p[0] = (u8)v;
	p[1] = (u8)(v >> 8);
	p[2] = (u8)(v >> 16);
	p[3] = (u8)(v >> 24);
}

static inline void snp_put_le64(u8 *p, u64 v)
{
	snp_put_le32(p, (u32)v);
	snp_put_le32(p + 4, (u32)(v >> 32));
}

/* Compile-time layout checks. */
#define SNP_ASSERT_SIZE(type, size)                                                                \
	_Static_assert(sizeof(type) == (size), "sizeof(" #type ") != " #size)
#define SNP_ASSERT_OFFSET(type, member, off)                                                       \
	_Static_assert(offsetof(type, member) == (off), #type "." #member " not at " #off)

#endif /* SNP_KERNEL_COMPAT_H */
