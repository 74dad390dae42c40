// SPDX-License-Identifier: Apache-2.0
/*
 * ioctl-client [DEVICE]
 * ioctl-client --bad-pointers [DEVICE]
 * ioctl-client --threads N M [DEVICE]
 * ioctl-client --exitinfo2-disabled [DEVICE]
 *
 * A third-party style client of /dev/sev-guest: plain open() and ioctl()
 * with the system's <linux/sev-guest.h> and nothing of snpd. Run under
 * LD_PRELOAD=sim/.libs/libsnp-preload.so it proves that the preload
 * library provides the device. Checks SNP_GET_REPORT, SNP_GET_DERIVED_KEY
 * and SNP_GET_EXT_REPORT (including the too-small buffer protocol), and
 * the order of the driver's checks for an unknown number: the argument
 * (EFAULT), its msg_version (EINVAL), then ENOTTY (exitinfo2 0xff).
 * --bad-pointers: every user pointer (the argument, req_data, resp_data,
 * certs_address) pointing at an unmapped or read-only page fails with
 * EFAULT, and a good request after each still succeeds (the VMPCK is
 * intact). --threads: N threads make M derived-key requests each on one
 * descriptor; all must succeed. --exitinfo2-disabled: on a device whose
 * VMPCK is wiped, a NULL or unmapped req_data is still EINVAL or EFAULT
 * (Linux's order since 6.13), a good one ENOTTY with exitinfo2 = 0xff.
 * --refused R: the host refuses the exit (fault refuse_exit): as Linux,
 * the ioctl returns the positive R (2 ES_VMM_ERROR, 4 ES_EXCEPTION) with
 * errno untouched, exitinfo2 = SEV_RET_NO_FW_CALL and the response
 * unwritten.
 * Exit 0 ok, 1 failure, 77 no device or no uapi header.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<linux/sev-guest.h>)
#define HAVE_SEV_GUEST_H 1
#endif
#endif

#ifndef HAVE_SEV_GUEST_H
int main(void)
{
	fprintf(stderr, "SKIP: no <linux/sev-guest.h>\n");
	return 77;
}
#else
#include <linux/sev-guest.h>

static int plain(const char *dev);
static int ioctl_order(int fd);

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		fprintf(stderr, "ioctl-client: " __VA_ARGS__);                                     \
		fputc('\n', stderr);                                                               \
		return 1;                                                                          \
	} while (0)

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int key_request(int fd, void *resp)
{
	struct snp_derived_key_req kreq;
	struct snp_guest_request_ioctl g;

	memset(&kreq, 0, sizeof(kreq));
	kreq.guest_field_select = 1;
	memset(&g, 0, sizeof(g));
	g.msg_version = 1;
	g.req_data = (uintptr_t)&kreq;
	g.resp_data = (uintptr_t)resp;
	return ioctl(fd, SNP_GET_DERIVED_KEY, &g) < 0 ? -errno : 0;
}

static int good_request(int fd)
{
	struct snp_derived_key_resp kresp;

	return key_request(fd, &kresp);
}

static int bad_pointers(int fd)
{
	long psz = sysconf(_SC_PAGESIZE);
	struct snp_report_req rreq;
	struct snp_report_resp rresp;
	struct snp_ext_report_req ereq;
	struct snp_guest_request_ioctl g;
	uint8_t *hole, *ro;
	int r;

	/* an unmapped page and a read-only one */
	hole = mmap(NULL, (size_t)psz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ro = mmap(NULL, (size_t)psz * 2, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (hole == MAP_FAILED || ro == MAP_FAILED || munmap(hole, (size_t)psz) < 0)
		FAIL("mmap: %s", strerror(errno));
	if (good_request(fd) < 0)
		FAIL("first request failed");

	/* the ioctl argument itself */
	if (ioctl(fd, SNP_GET_REPORT, (void *)hole) == 0 || errno != EFAULT)
		FAIL("unmapped argument: %s, not EFAULT", strerror(errno));
	if ((r = good_request(fd)) < 0)
		FAIL("after unmapped argument: %s", strerror(-r));

	/*
	 * A read-only argument: a request that succeeds writes nothing back
	 * (exitinfo2 is 0), as on Linux; a failing one must report exitinfo2.
	 */
	{
		struct snp_guest_request_ioctl *rog;

		rog = mmap(NULL, (size_t)psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			   -1, 0);
		if (rog == MAP_FAILED)
			FAIL("mmap: %s", strerror(errno));
		memset(&rreq, 0, sizeof(rreq));
		memset(rog, 0, sizeof(*rog));
		rog->msg_version = 1;
		rog->req_data = (uintptr_t)&rreq;
		rog->resp_data = (uintptr_t)&rresp;
		if (mprotect(rog, (size_t)psz, PROT_READ) < 0)
			FAIL("mprotect: %s", strerror(errno));
		if (ioctl(fd, SNP_GET_REPORT, rog) < 0)
			FAIL("read-only argument, good request: %s, not success", strerror(errno));
		if (mprotect(rog, (size_t)psz, PROT_READ | PROT_WRITE) < 0)
			FAIL("mprotect: %s", strerror(errno));
		rog->msg_version = 0;
		if (mprotect(rog, (size_t)psz, PROT_READ) < 0)
			FAIL("mprotect: %s", strerror(errno));
		if (ioctl(fd, SNP_GET_REPORT, rog) == 0 || errno != EFAULT)
			FAIL("read-only argument, bad request: %s, not EFAULT", strerror(errno));
		munmap(rog, (size_t)psz);
		if ((r = good_request(fd)) < 0)
			FAIL("after read-only argument: %s", strerror(-r));
	}

	memset(&rreq, 0, sizeof(rreq));
	struct {
		const char *what;
		uint64_t req, resp;
	} cases[] = {
		{ "unmapped req_data", (uintptr_t)hole, (uintptr_t)&rresp },
		{ "unmapped resp_data", (uintptr_t)&rreq, (uintptr_t)hole },
		{ "read-only resp_data", (uintptr_t)&rreq, (uintptr_t)ro },
		{ "resp_data running into a hole", (uintptr_t)&rreq,
		  (uintptr_t)hole - sizeof(rresp) / 2 },
		{ "req_data wrapping around", UINT64_MAX - 8, (uintptr_t)&rresp },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&g, 0, sizeof(g));
		g.msg_version = 1;
		g.req_data = cases[i].req;
		g.resp_data = cases[i].resp;
		if (ioctl(fd, SNP_GET_REPORT, &g) == 0 || errno != EFAULT)
			FAIL("%s: %s, not EFAULT", cases[i].what, strerror(errno));
		if ((r = good_request(fd)) < 0)
			FAIL("after %s: %s (VMPCK wiped?)", cases[i].what, strerror(-r));
	}

	/* derived key into a read-only page */
	if ((r = key_request(fd, ro)) != -EFAULT)
		FAIL("read-only derived key buffer: %s, not EFAULT", strerror(-r));
	if ((r = good_request(fd)) < 0)
		FAIL("after read-only key buffer: %s", strerror(-r));

	/* certificates into read-only memory */
	memset(&ereq, 0, sizeof(ereq));
	ereq.certs_address = (uintptr_t)ro;
	ereq.certs_len = 4096;
	memset(&g, 0, sizeof(g));
	g.msg_version = 1;
	g.req_data = (uintptr_t)&ereq;
	g.resp_data = (uintptr_t)&rresp;
	r = ioctl(fd, SNP_GET_EXT_REPORT, &g) < 0 ? -errno : 0;
	/* one page is too small (EIO, size reported) or the copy faults */
	if (r != -EFAULT && r != -EIO)
		FAIL("read-only certificate buffer: %s", strerror(-r));
	ereq.certs_len = 2 * 4096;
	memset(&g, 0, sizeof(g));
	g.msg_version = 1;
	g.req_data = (uintptr_t)&ereq;
	g.resp_data = (uintptr_t)&rresp;
	if (ioctl(fd, SNP_GET_EXT_REPORT, &g) == 0 || errno != EFAULT)
		FAIL("read-only certificate buffer: %s, not EFAULT", strerror(errno));
	if ((r = good_request(fd)) < 0)
		FAIL("after read-only certificates: %s", strerror(-r));
	printf("ioctl-client: bad pointers: EFAULT, VMPCK intact\n");
	return 0;
}

struct thread_arg {
	int fd;
	unsigned int n;
	unsigned int failed;
	int last_err;
};

static void *thread_main(void *p)
{
	struct thread_arg *a = p;
	struct snp_derived_key_resp kresp;
	int r;

	for (unsigned int i = 0; i < a->n; i++) {
		r = key_request(a->fd, &kresp);
		if (r < 0 || le32(kresp.data) != 0) {
			a->failed++;
			a->last_err = r;
		}
	}
	return NULL;
}

static int threads(int fd, unsigned int n, unsigned int m)
{
	pthread_t tid[64];
	struct thread_arg args[64];
	unsigned int failed = 0;

	if (n == 0 || n > 64)
		FAIL("1..64 threads");
	for (unsigned int i = 0; i < n; i++) {
		args[i] = (struct thread_arg){ .fd = fd, .n = m };
		if (pthread_create(&tid[i], NULL, thread_main, &args[i]))
			FAIL("pthread_create");
	}
	for (unsigned int i = 0; i < n; i++) {
		pthread_join(tid[i], NULL);
		failed += args[i].failed;
		if (args[i].failed)
			fprintf(stderr, "ioctl-client: thread %u: %u failed, last %s\n", i,
				args[i].failed, strerror(-args[i].last_err));
	}
	if (failed)
		FAIL("%u of %u requests failed", failed, n * m);
	printf("ioctl-client: %u threads x %u requests ok\n", n, m);
	return 0;
}

static int exitinfo2_disabled(int fd)
{
	static const unsigned long cmds[] = { SNP_GET_REPORT, SNP_GET_DERIVED_KEY,
					      SNP_GET_EXT_REPORT };
	static const char *const names[] = { "report", "derived key", "ext report" };
	long psz = sysconf(_SC_PAGESIZE);
	struct snp_ext_report_req ereq; /* the largest request */
	struct snp_report_req rreq;
	struct snp_report_resp rresp;
	struct snp_guest_request_ioctl g;
	void *hole;

	/*
	 * As Linux since 6.13, the wiped key is found after each ioctl's own
	 * checks of its argument: NULL req_data is still EINVAL, an unmapped
	 * one EFAULT.
	 */
	hole = mmap(NULL, (size_t)psz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (hole == MAP_FAILED || munmap(hole, (size_t)psz) < 0)
		FAIL("mmap: %s", strerror(errno));
	memset(&ereq, 0, sizeof(ereq));
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		memset(&g, 0, sizeof(g));
		g.msg_version = 1;
		g.resp_data = (uintptr_t)&rresp;
		if (ioctl(fd, cmds[i], &g) == 0 || errno != EINVAL)
			FAIL("%s, NULL req_data: %s, not EINVAL", names[i], strerror(errno));
		g.req_data = (uintptr_t)hole;
		if (ioctl(fd, cmds[i], &g) == 0 || errno != EFAULT)
			FAIL("%s, unmapped req_data: %s, not EFAULT", names[i], strerror(errno));
		g.req_data = (uintptr_t)&ereq;
		if (ioctl(fd, cmds[i], &g) == 0 || errno != ENOTTY)
			FAIL("%s: %s, not ENOTTY", names[i], strerror(errno));
	}
	printf("ioctl-client: wiped VMPCK: EINVAL, EFAULT, then ENOTTY\n");

	memset(&rreq, 0, sizeof(rreq));
	memset(&g, 0, sizeof(g));
	g.msg_version = 1;
	g.req_data = (uintptr_t)&rreq;
	g.resp_data = (uintptr_t)&rresp;
	g.exitinfo2 = 0x1234;
	if (ioctl(fd, SNP_GET_REPORT, &g) == 0 || errno != ENOTTY)
		FAIL("expected ENOTTY, got %s", strerror(errno));
	if (g.exitinfo2 != 0xff)
		FAIL("ENOTTY with exitinfo2 0x%llx, not 0xff", (unsigned long long)g.exitinfo2);
	printf("ioctl-client: ENOTTY with exitinfo2 0xff\n");
	return 0;
}

static int refused(int fd, int want)
{
	struct snp_derived_key_req kreq;
	struct snp_derived_key_resp kresp;
	struct snp_guest_request_ioctl g;
	int r;

	memset(&kreq, 0, sizeof(kreq));
	memset(&kresp, 0xa5, sizeof(kresp));
	memset(&g, 0, sizeof(g));
	g.msg_version = 1;
	g.req_data = (uintptr_t)&kreq;
	g.resp_data = (uintptr_t)&kresp;
	errno = EDOM; /* a stale value the ioctl must leave alone */
	r = ioctl(fd, SNP_GET_DERIVED_KEY, &g);
	if (r != want || errno != EDOM)
		FAIL("refused exit: ioctl %d errno %s, expected %d with errno untouched", r,
		     strerror(errno), want);
	if (g.exitinfo2 != ~0ULL)
		FAIL("refused exit: exitinfo2 0x%llx, not SEV_RET_NO_FW_CALL",
		     (unsigned long long)g.exitinfo2);
	for (size_t i = 0; i < sizeof(kresp.data); i++)
		if (kresp.data[i] != 0xa5)
			FAIL("refused exit: the response was written");
	printf("ioctl-client: refused exit: ioctl returned %d, errno untouched\n", r);
	return 0;
}

/*
 * Linux's snp_guest_ioctl() reads the argument (EFAULT), checks its
 * msg_version (EINVAL) and only then looks at the number: an unknown one is
 * ENOTTY with exitinfo2 written back as 0xff (the switch's default falls
 * through to the copy back). The number is the syscall's unsigned int: the
 * upper bits of ioctl()'s unsigned long never reach the driver.
 */
static int ioctl_order(int fd)
{
	const unsigned long unknown = _IOWR('S', 9, struct snp_guest_request_ioctl);
	long psz = sysconf(_SC_PAGESIZE);
	struct snp_report_req rreq;
	struct snp_report_resp rresp;
	struct snp_guest_request_ioctl g;
	void *hole;

	hole = mmap(NULL, (size_t)psz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (hole == MAP_FAILED || munmap(hole, (size_t)psz) < 0)
		FAIL("mmap: %s", strerror(errno));
	if (ioctl(fd, unknown, hole) == 0 || errno != EFAULT)
		FAIL("unknown ioctl, unmapped argument: %s, not EFAULT", strerror(errno));
	if (ioctl(fd, unknown, NULL) == 0 || errno != EFAULT)
		FAIL("unknown ioctl, NULL argument: %s, not EFAULT", strerror(errno));

	/* (exitinfo2 stays as it was on Linux, is 0xff here: README.md) */
	memset(&g, 0, sizeof(g));
	if (ioctl(fd, unknown, &g) == 0 || errno != EINVAL)
		FAIL("unknown ioctl, msg_version 0: %s, not EINVAL", strerror(errno));

	g.msg_version = 1;
	if (ioctl(fd, unknown, &g) == 0 || errno != ENOTTY)
		FAIL("unknown ioctl, msg_version 1: %s, not ENOTTY", strerror(errno));
	if (g.exitinfo2 != 0xff)
		FAIL("unknown ioctl: exitinfo2 0x%llx, not 0xff", (unsigned long long)g.exitinfo2);

	memset(&rreq, 0, sizeof(rreq));
	memset(rreq.user_data, 0x3c, sizeof(rreq.user_data));
	memset(&g, 0, sizeof(g));
	g.msg_version = 1;
	g.req_data = (uintptr_t)&rreq;
	g.resp_data = (uintptr_t)&rresp;
	if (sizeof(unsigned long) > 4) {
		unsigned long high = (unsigned long)SNP_GET_REPORT | (1UL << (sizeof(long) * 4));

		if (ioctl(fd, high, &g) < 0)
			FAIL("SNP_GET_REPORT with upper bits set: %s, not the request",
			     strerror(errno));
		if (le32(rresp.data) != 0 || rresp.data[0x20 + 0x50] != 0x3c)
			FAIL("SNP_GET_REPORT with upper bits set: not the report");
	}
	printf("ioctl-client: EFAULT, EINVAL, then ENOTTY for an unknown ioctl\n");
	return 0;
}

static int open_dev(const char *dev)
{
	int fd = open(dev, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		fprintf(stderr, "SKIP: cannot open %s: %s\n", dev, strerror(errno));
	return fd;
}

int main(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : "/dev/sev-guest";

	if (argc > 1 && !strcmp(argv[1], "--bad-pointers")) {
		int fd = open_dev(argc > 2 ? argv[2] : "/dev/sev-guest");

		return fd < 0 ? 77 : bad_pointers(fd);
	}
	if (argc > 1 && !strcmp(argv[1], "--exitinfo2-disabled")) {
		int fd = open_dev(argc > 2 ? argv[2] : "/dev/sev-guest");

		return fd < 0 ? 77 : exitinfo2_disabled(fd);
	}
	if (argc > 2 && !strcmp(argv[1], "--refused")) {
		int fd = open_dev(argc > 3 ? argv[3] : "/dev/sev-guest");

		return fd < 0 ? 77 : refused(fd, (int)strtol(argv[2], NULL, 10));
	}
	if (argc > 3 && !strcmp(argv[1], "--threads")) {
		int fd = open_dev(argc > 4 ? argv[4] : "/dev/sev-guest");

		if (fd < 0)
			return 77;
		return threads(fd, (unsigned int)strtoul(argv[2], NULL, 10),
			       (unsigned int)strtoul(argv[3], NULL, 10));
	}
	return plain(dev);
}

static int plain(const char *dev)
{
	struct snp_report_req rreq;
	struct snp_report_resp rresp;
	struct snp_derived_key_req kreq;
	struct snp_derived_key_resp kresp1, kresp2;
	struct snp_ext_report_req ereq;
	struct snp_guest_request_ioctl g;
	static uint8_t certs[4 * 4096] __attribute__((aligned(4096)));
	int fd;

	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "SKIP: cannot open %s: %s\n", dev, strerror(errno));
		return 77;
	}

	memset(&rreq, 0, sizeof(rreq));
	memset(rreq.user_data, 0x5a, sizeof(rreq.user_data));
	memset(&g, 0, sizeof(g));
	g.msg_version = 1;
	g.req_data = (uintptr_t)&rreq;
	g.resp_data = (uintptr_t)&rresp;
	if (ioctl(fd, SNP_GET_REPORT, &g) < 0)
		FAIL("SNP_GET_REPORT: %s (exitinfo2 0x%llx)", strerror(errno),
		     (unsigned long long)g.exitinfo2);
	if (le32(rresp.data) != 0 || le32(rresp.data + 4) != 1184)
		FAIL("report status %u size %u", le32(rresp.data), le32(rresp.data + 4));
	if (rresp.data[0x20 + 0x50] != 0x5a || memcmp(rresp.data + 0x20 + 0x1a0, "SIMULATD", 8))
		FAIL("report content");

	memset(&kreq, 0, sizeof(kreq));
	kreq.guest_field_select = 1; /* policy */
	for (int i = 0; i < 2; i++) {
		memset(&g, 0, sizeof(g));
		g.msg_version = 1;
		g.req_data = (uintptr_t)&kreq;
		g.resp_data = (uintptr_t)(i ? &kresp2 : &kresp1);
		if (ioctl(fd, SNP_GET_DERIVED_KEY, &g) < 0)
			FAIL("SNP_GET_DERIVED_KEY: %s", strerror(errno));
	}
	if (le32(kresp1.data) != 0 || memcmp(kresp1.data + 32, kresp2.data + 32, 32))
		FAIL("derived keys differ");

	/* too small: EIO, vmm_error 1, certs_len tells the size */
	memset(&ereq, 0, sizeof(ereq));
	ereq.data.vmpl = 0;
	ereq.certs_address = (uintptr_t)certs;
	ereq.certs_len = 4096;
	memset(&g, 0, sizeof(g));
	g.msg_version = 1;
	g.req_data = (uintptr_t)&ereq;
	g.resp_data = (uintptr_t)&rresp;
	if (ioctl(fd, SNP_GET_EXT_REPORT, &g) == 0 || errno != EIO)
		FAIL("SNP_GET_EXT_REPORT with one page should fail with EIO");
	if (g.exitinfo2 != (1ULL << 32) || ereq.certs_len != 8192)
		FAIL("too small: exitinfo2 0x%llx certs_len %u", (unsigned long long)g.exitinfo2,
		     ereq.certs_len);
	memset(&g, 0, sizeof(g));
	g.msg_version = 1;
	g.req_data = (uintptr_t)&ereq;
	g.resp_data = (uintptr_t)&rresp;
	if (ioctl(fd, SNP_GET_EXT_REPORT, &g) < 0)
		FAIL("SNP_GET_EXT_REPORT: %s", strerror(errno));
	/* first entry: the ARK GUID c0b406a4-... */
	if (certs[0] != 0xc0 || certs[1] != 0xb4)
		FAIL("certificate table");

	/* an unknown ioctl */
	if (ioctl(fd, _IOWR('S', 9, struct snp_guest_request_ioctl), &g) == 0 || errno != ENOTTY)
		FAIL("unknown ioctl should fail with ENOTTY");
	if (ioctl_order(fd) != 0)
		return 1;
	if (close(fd) < 0)
		FAIL("close: %s", strerror(errno));
	printf("ioctl-client: ok\n");
	return 0;
}
#endif
