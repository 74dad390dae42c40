/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * kernel/ is kernel code written against kernel APIs (copy_from_user,
 * struct mutex, pr_*, READ_ONCE, ...). Inside Linux they come from the
 * kernel headers; the userspace build gets the same names from a shim
 * outside kernel/ (sim/kshim/snp-kshim.h). This is the only place that
 * tells the two builds apart: no .c file tests __KERNEL__. It also picks
 * the header that gives the boot code its CPU (SNP_CPU_H): the instructions
 * in a kernel, the simulated vCPU in userspace.
 */
#ifndef SNP_KERNEL_COMPAT_H
#define SNP_KERNEL_COMPAT_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/build_bug.h>
#include <linux/bits.h>
#include <linux/limits.h>
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/errno.h>
#include <linux/ioctl.h>
#include <linux/mutex.h>
#include <linux/lockdep.h>
#include <linux/printk.h>
#include <linux/compiler.h>
#include <linux/math64.h>
#include <linux/time64.h>
#include <linux/uaccess.h>
#include <asm/byteorder.h>
/*
 * The CPU under the boot code (snp-sev.c, snp-cpuid.c): inlines over the
 * instructions, included by snp-sev.h as #include SNP_CPU_H.
 */
#define SNP_CPU_H "kernel/snp-cpu.h"
#else
/*
 * The same names for the userspace build (simulator, tests): found through
 * the include path, it lives with the simulator (sim/kshim/), not here.
 */
#include <snp-kshim.h>
/* ... and the same CPU names as link-time functions over the simulated vCPU. */
#define SNP_CPU_H <snp-kshim-cpu.h>
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
