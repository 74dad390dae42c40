// SPDX-License-Identifier: Apache-2.0
/*
 * ioctl-client [DEVICE]
 *
 * A third-party style client of /dev/sev-guest: plain open() and ioctl()
 * with the system's <linux/sev-guest.h> and nothing of snpd. Run under
 * LD_PRELOAD=sim/.libs/libsnp-preload.so it proves that the preload
 * library provides the device. Checks SNP_GET_REPORT, SNP_GET_DERIVED_KEY
 * and SNP_GET_EXT_REPORT (including the too-small buffer protocol).
 * Exit 0 ok, 1 failure, 77 no device or no uapi header.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
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

int main(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : "/dev/sev-guest";
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
	if (close(fd) < 0)
		FAIL("close: %s", strerror(errno));
	printf("ioctl-client: ok\n");
	return 0;
}
#endif
