// SPDX-License-Identifier: Apache-2.0
/*
 * The userspace side of sim/kshim/snp-kshim.h: uaccess through
 * process_vm_readv()/process_vm_writev(), owner-tracking mutexes, printk
 * to stderr.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "snp-kshim.h"

/* ---- printk ---------------------------------------------------------------- */

void kshim_printk(const char *level, const char *fmt, ...)
{
	const char *dbg = getenv("SNP_KSHIM_LOGLEVEL");
	int max = 4, lv = level[0] - '0';
	char buf[512];
	va_list ap;

	if (dbg && dbg[0] >= '0' && dbg[0] <= '7' && !dbg[1])
		max = dbg[0] - '0';
	if (lv > max)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* one write: lines of concurrent threads do not interleave */
	fprintf(stderr, "<%d>%s", lv, buf);
}

/* ---- locking ---------------------------------------------------------------- */

void mutex_init(struct mutex *m)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
	pthread_mutex_init(&m->lock, &a);
	pthread_mutexattr_destroy(&a);
	m->held = false;
}

void mutex_destroy(struct mutex *m)
{
	if (m->held)
		abort(); /* destroying a held mutex: a bug, as in the kernel */
	pthread_mutex_destroy(&m->lock);
}

void mutex_lock(struct mutex *m)
{
	/* ERRORCHECK: a recursive lock is a deadlock in the kernel, abort here */
	if (pthread_mutex_lock(&m->lock))
		abort();
	m->owner = pthread_self();
	m->held = true;
}

void mutex_unlock(struct mutex *m)
{
	if (!kshim_mutex_held_by_me(m))
		abort();
	m->held = false;
	if (pthread_mutex_unlock(&m->lock))
		abort();
}

/*
 * Only the owner writes @held and @owner, and only under the lock; another
 * thread reading them may see a stale value but never its own thread id
 * with held == true unless it holds the lock.
 */
bool kshim_mutex_held_by_me(struct mutex *m)
{
	return __atomic_load_n(&m->held, __ATOMIC_RELAXED) &&
	       pthread_equal(m->owner, pthread_self());
}

void kshim_lockdep_assert_held(struct mutex *m, const char *file, int line)
{
	if (kshim_mutex_held_by_me(m))
		return;
	fprintf(stderr, "%s:%d: lockdep_assert_held: lock not held by this thread\n", file, line);
	abort();
}

/* ---- the user boundary -------------------------------------------------------- */

#define MAX_KERNEL_RANGES 32

static pthread_mutex_t ranges_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uintptr_t start;
	size_t len;
} ranges[MAX_KERNEL_RANGES];

int kshim_kernel_range_add(const void *p, size_t n)
{
	int i, r = -ENOSPC;

	if (!p || !n)
		return -EINVAL;
	pthread_mutex_lock(&ranges_lock);
	for (i = 0; i < MAX_KERNEL_RANGES; i++) {
		if (!ranges[i].len) {
			ranges[i].start = (uintptr_t)p;
			ranges[i].len = n;
			r = 0;
			break;
		}
	}
	pthread_mutex_unlock(&ranges_lock);
	return r;
}

void kshim_kernel_range_remove(const void *p)
{
	int i;

	pthread_mutex_lock(&ranges_lock);
	for (i = 0; i < MAX_KERNEL_RANGES; i++)
		if (ranges[i].len && ranges[i].start == (uintptr_t)p)
			ranges[i].len = 0;
	pthread_mutex_unlock(&ranges_lock);
}

bool access_ok(const void __user *p, unsigned long n)
{
	uintptr_t s = (uintptr_t)p;
	bool ok = true;
	int i;

	if (s + n < s)
		return false;
	pthread_mutex_lock(&ranges_lock);
	for (i = 0; i < MAX_KERNEL_RANGES; i++) {
		if (ranges[i].len && s < ranges[i].start + ranges[i].len &&
		    ranges[i].start < s + n) {
			ok = false;
			break;
		}
	}
	pthread_mutex_unlock(&ranges_lock);
	return ok;
}

/*
 * The kernel reads user memory through the page tables and fails on a page
 * that is not there; process_vm_readv() on ourselves does the same walk.
 * Returns the number of bytes NOT copied.
 */
static unsigned long vm_copy(void *local, void *remote, unsigned long n, bool write)
{
	struct iovec l = { .iov_base = local, .iov_len = n };
	struct iovec r = { .iov_base = remote, .iov_len = n };
	unsigned long done = 0;
	ssize_t k;

	while (done < n) {
		l.iov_base = (u8 *)local + done;
		l.iov_len = n - done;
		r.iov_base = (u8 *)remote + done;
		r.iov_len = n - done;
		if (write)
			k = process_vm_writev(getpid(), &l, 1, &r, 1, 0);
		else
			k = process_vm_readv(getpid(), &l, 1, &r, 1, 0);
		if (k <= 0)
			break; /* EFAULT, or the syscall is not allowed: fail closed */
		done += (unsigned long)k;
	}
	return n - done;
}

unsigned long copy_from_user(void *to, const void __user *from, unsigned long n)
{
	unsigned long left = n;

	if (!n)
		return 0;
	if (access_ok(from, n))
		left = vm_copy(to, (void *)from, n, false);
	if (left)
		memset((u8 *)to + (n - left), 0, left);
	return left;
}

unsigned long copy_to_user(void __user *to, const void *from, unsigned long n)
{
	if (!n)
		return 0;
	if (!access_ok(to, n))
		return n;
	return vm_copy((void *)from, (void *)to, n, true);
}

/* ---- time --------------------------------------------------------------------- */

u64 ktime_get_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000000000ULL + (u64)ts.tv_nsec;
}
