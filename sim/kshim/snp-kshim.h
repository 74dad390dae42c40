/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kernel APIs kernel/ is written against, for its userspace build
 * (simulator, preload device, tests). kernel/compat.h includes this file
 * instead of the kernel headers when __KERNEL__ is not defined; it is found
 * through the include path (-I$(top_srcdir)/sim/kshim), so kernel/ names
 * no userspace room.
 *
 * The shim is meant to fail where the kernel fails:
 *  - copy_from_user()/copy_to_user() go through process_vm_readv()/
 *    process_vm_writev() on the calling process, so an unmapped address,
 *    or a read-only page for a write, makes them return the number of bytes
 *    not copied, as the kernel's do (copy_from_user() zero-fills the rest);
 *  - access_ok() refuses ranges that wrap, and ranges that overlap memory
 *    registered as "kernel" memory (kshim_kernel_range_add(): the secrets
 *    page, the driver's scratch and shared pages), so a caller cannot make
 *    the driver read or overwrite its own key through a user pointer;
 *  - struct mutex is a pthread mutex that records its owner;
 *    lockdep_assert_held() aborts when the calling thread does not hold it;
 *  - pr_alert()/pr_err()/pr_warn() print to stderr with the KERN_ level.
 */
#ifndef SNP_KSHIM_H
#define SNP_KSHIM_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>

/* Wire fields are little-endian; the types (from the uapi headers) say so. */
#include <linux/types.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int32_t s32;
typedef int64_t s64;

/* sparse annotations: no address spaces in userspace */
#define __user
#define __force
#define __iomem
#ifndef __packed
#define __packed __attribute__((__packed__))
#endif
#ifndef __noreturn
#define __noreturn __attribute__((__noreturn__))
#endif
#ifndef __must_check
#define __must_check __attribute__((__warn_unused_result__))
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
#ifndef U32_MAX
#define U32_MAX 0xffffffffU
#endif

/*
 * One access the compiler may neither repeat nor tear into its own reads:
 * the kernel's __READ_ONCE() is the same volatile access. (Not an atomic
 * builtin: fields of __packed structures are not naturally aligned.)
 */
#define READ_ONCE(x)	 (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

#define memzero_explicit(p, n) explicit_bzero((p), (n))

/* ---- printk ---------------------------------------------------------------- */

#define KERN_ALERT "1"
#define KERN_ERR   "3"
#define KERN_WARN  "4"
#define KERN_INFO  "6"
#define KERN_DEBUG "7"

#ifndef pr_fmt
#define pr_fmt(fmt) fmt
#endif

void kshim_printk(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define pr_alert(fmt, ...) kshim_printk(KERN_ALERT, pr_fmt(fmt), ##__VA_ARGS__)
#define pr_err(fmt, ...)   kshim_printk(KERN_ERR, pr_fmt(fmt), ##__VA_ARGS__)
#define pr_warn(fmt, ...)  kshim_printk(KERN_WARN, pr_fmt(fmt), ##__VA_ARGS__)
#define pr_info(fmt, ...)  kshim_printk(KERN_INFO, pr_fmt(fmt), ##__VA_ARGS__)
#define pr_debug(fmt, ...) kshim_printk(KERN_DEBUG, pr_fmt(fmt), ##__VA_ARGS__)
/* no rate limit in userspace: one process makes few requests */
#define pr_err_ratelimited(fmt, ...) pr_err(fmt, ##__VA_ARGS__)

/* ---- locking ---------------------------------------------------------------- */

struct mutex {
	pthread_mutex_t lock;
	pthread_t owner;
	bool held; /* written only by the owner, under @lock */
};

void mutex_init(struct mutex *m);
void mutex_destroy(struct mutex *m);
void mutex_lock(struct mutex *m);
void mutex_unlock(struct mutex *m);
bool kshim_mutex_held_by_me(struct mutex *m);

/* Like lockdep: a function that needs the lock says so, and dies without it. */
#define lockdep_assert_held(m) kshim_lockdep_assert_held((m), __FILE__, __LINE__)
void kshim_lockdep_assert_held(struct mutex *m, const char *file, int line);

/* ---- the user boundary -------------------------------------------------------- */

static inline void __user *u64_to_user_ptr(u64 v)
{
	return (void __user *)(uintptr_t)v;
}

bool access_ok(const void __user *p, unsigned long n);
unsigned long __must_check copy_from_user(void *to, const void __user *from, unsigned long n);
unsigned long __must_check copy_to_user(void __user *to, const void *from, unsigned long n);

/* Memory the driver owns: access_ok() refuses every range that overlaps it. */
int kshim_kernel_range_add(const void *p, size_t n);
void kshim_kernel_range_remove(const void *p);

/* ---- time --------------------------------------------------------------------- */

#define NSEC_PER_MSEC 1000000L

/* CLOCK_MONOTONIC in nanoseconds, as the kernel's ktime_get_ns(). */
u64 ktime_get_ns(void);

static inline u64 div_u64(u64 dividend, u32 divisor)
{
	return dividend / divisor;
}

#endif /* SNP_KSHIM_H */
