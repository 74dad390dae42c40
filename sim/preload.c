// SPDX-License-Identifier: Apache-2.0
/*
 * LD_PRELOAD library that makes /dev/sev-guest exist for any process:
 *
 *   SNP_SIM_DIR=/tmp/sim LD_PRELOAD=.../libsnp-preload.so snpguest report ...
 *
 * open()/openat() of /dev/sev-guest return a descriptor (of /dev/null)
 * that this library remembers; ioctl() on it runs the kernel/ guest driver
 * over the simulated platform of $SNP_SIM_DIR (created on first use);
 * close() forgets it. Everything else goes to the C library.
 *
 * Environment: SNP_SIM_DIR (required; without it the device stays absent),
 * SNP_SIM_FAULTS, SNP_SIM_VMPCK (0..3), SNP_SIM_RETRY_MS=INTERVAL,TIMEOUT
 * (BUSY backoff, default 2000,60000), SNP_SIM_DEVICE (default
 * /dev/sev-guest).
 */
/* we define open() ourselves: no fortify wrappers here */
#undef _FORTIFY_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kernel/snp-uapi.h"
#include "lib/util.h"
#include "sim/sim.h"

#define EXPORT	__attribute__((visibility("default")))
#define MAX_FDS 128

static pthread_mutex_t lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static struct sim_platform *platform;
static int fds[MAX_FDS];
static size_t nr_fds;

int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_ioctl)(int, unsigned long, ...);
static int (*real_close)(int);

static void resolve(void)
{
	if (real_open)
		return;
	real_openat = dlsym(RTLD_NEXT, "openat");
	real_ioctl = dlsym(RTLD_NEXT, "ioctl");
	real_close = dlsym(RTLD_NEXT, "close");
	real_open = dlsym(RTLD_NEXT, "open");
}

static bool is_device(const char *path)
{
	const char *dev = getenv("SNP_SIM_DEVICE");

	if (!path)
		return false;
	return strcmp(path, dev && *dev ? dev : "/dev/sev-guest") == 0 && getenv("SNP_SIM_DIR");
}

static bool fd_known(int fd)
{
	for (size_t i = 0; i < nr_fds; i++)
		if (fds[i] == fd)
			return true;
	return false;
}

static int platform_get(void)
{
	struct sim_open_opts opts = { .create = true, .faults_from_env = true };
	char err[256] = "";
	int r;

	if (platform)
		return 0;
	r = sim_open_opts_from_env(&opts, err, sizeof(err));
	if (r < 0) {
		if (getenv("SNP_SIM_DEBUG"))
			fprintf(stderr, "libsnp-preload: %s\n", err);
		return r;
	}
	r = sim_platform_open(getenv("SNP_SIM_DIR"), NULL, &opts, &platform, err, sizeof(err));
	if (r < 0 && getenv("SNP_SIM_DEBUG"))
		fprintf(stderr, "libsnp-preload: %s\n", err);
	return r;
}

static int fake_open(void)
{
	int fd, r;

	pthread_mutex_lock(&lock);
	if (nr_fds == MAX_FDS) {
		r = -EMFILE;
		goto out;
	}
	r = platform_get();
	if (r < 0) {
		r = -ENODEV;
		goto out;
	}
	fd = real_open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	fds[nr_fds++] = fd;
	r = fd;
out:
	pthread_mutex_unlock(&lock);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return r;
}

static mode_t get_mode(int flags, va_list ap)
{
	if (flags & (O_CREAT | O_TMPFILE))
		return (mode_t)va_arg(ap, int);
	return 0;
}

EXPORT int open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	resolve();
	va_start(ap, flags);
	mode = get_mode(flags, ap);
	va_end(ap);
	if (is_device(path))
		return fake_open();
	return real_open(path, flags, mode);
}

EXPORT int open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	resolve();
	va_start(ap, flags);
	mode = get_mode(flags, ap);
	va_end(ap);
	if (is_device(path))
		return fake_open();
	return real_open(path, flags | O_LARGEFILE, mode);
}

EXPORT int __open_2(const char *path, int flags)
{
	resolve();
	if (is_device(path))
		return fake_open();
	return real_open(path, flags);
}

EXPORT int __open64_2(const char *path, int flags)
{
	return __open_2(path, flags | O_LARGEFILE);
}

EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	resolve();
	va_start(ap, flags);
	mode = get_mode(flags, ap);
	va_end(ap);
	if (is_device(path))
		return fake_open();
	return real_openat(dirfd, path, flags, mode);
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	resolve();
	va_start(ap, flags);
	mode = get_mode(flags, ap);
	va_end(ap);
	if (is_device(path))
		return fake_open();
	return real_openat(dirfd, path, flags | O_LARGEFILE, mode);
}

EXPORT int ioctl(int fd, unsigned long request, ...)
{
	struct snp_ioc_guest_request *arg;
	va_list ap;
	int r, saved_errno = errno;

	resolve();
	va_start(ap, request);
	arg = va_arg(ap, struct snp_ioc_guest_request *);
	va_end(ap);

	pthread_mutex_lock(&lock);
	if (!fd_known(fd)) {
		pthread_mutex_unlock(&lock);
		return real_ioctl(fd, request, arg);
	}
	pthread_mutex_unlock(&lock);
	/*
	 * Not under our lock: as in the kernel, the driver serialises requests
	 * itself (its cmd_mutex), and @arg is a user pointer it checks.
	 * Every number goes to the driver, which reads the argument (EFAULT)
	 * and its msg_version (EINVAL when 0) before it rejects a number it
	 * does not know (ENOTTY, exitinfo2 written back as 0xff), as Linux's
	 * snp_guest_ioctl() does. The kernel's cmd is an unsigned int: the
	 * upper bits of @request never reach it.
	 */
	if (!arg)
		r = -EFAULT;
	else
		r = sim_platform_ioctl(platform, (unsigned int)request, arg);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	/*
	 * As Linux: a refused exit is the GHCB call's positive result
	 * (ES_VMM_ERROR, ES_EXCEPTION), returned as it is; errno is the
	 * caller's, whatever the simulator's own file work did to it.
	 */
	errno = saved_errno;
	return r;
}

EXPORT int close(int fd)
{
	resolve();
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nr_fds; i++) {
		if (fds[i] == fd) {
			fds[i] = fds[--nr_fds];
			break;
		}
	}
	pthread_mutex_unlock(&lock);
	return real_close(fd);
}
