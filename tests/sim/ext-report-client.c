// SPDX-License-Identifier: Apache-2.0
/*
 * ext-report-client [--no-certs] [DEVICE]
 *
 * SNP_GET_EXT_REPORT as AMD's get-report -x and go-sev-guest issue it,
 * with the system's <linux/sev-guest.h> and nothing of snpd:
 *
 *   1. certs_len 0 (no buffer): the ioctl fails with EIO, exitinfo2 is
 *      INVALID_LEN (1 << 32) and certs_len now holds the size the host
 *      needs (a multiple of 4096);
 *   2. one page too few: the same answer;
 *   3. a buffer of that size: the report and the certificate table, whose
 *      entries (GUID, offset, length) lie inside the buffer after the
 *      zero terminator, include ARK, ASK and VCEK, and whose VCEK parses
 *      as X.509 with CN=SEV-VCEK and a hwID equal to the report's CHIP_ID.
 *
 * With --no-certs the host holds no certificates: certs_len 0 and a
 * one-page buffer both get the report as a plain request would, and the
 * buffer stays zero.
 *
 * Exit 0 ok, 1 failure, 77 no device or no uapi header.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <openssl/x509.h>

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
		fprintf(stderr, "ext-report-client: " __VA_ARGS__);                                \
		fputc('\n', stderr);                                                               \
		exit(1);                                                                           \
	} while (0)

#define INVALID_LEN (1ULL << 32)

static const uint8_t guid_ark[16] = { 0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52,
				      0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae };
static const uint8_t guid_ask[16] = { 0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4,
				      0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82 };
static const uint8_t guid_vcek[16] = { 0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64,
				       0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd };

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int ext_report(int fd, struct snp_ext_report_req *ereq, struct snp_report_resp *resp,
		      uint64_t *exitinfo2)
{
	struct snp_guest_request_ioctl g;
	int r;

	memset(&g, 0, sizeof(g));
	g.msg_version = 1;
	g.req_data = (uintptr_t)ereq;
	g.resp_data = (uintptr_t)resp;
	r = ioctl(fd, SNP_GET_EXT_REPORT, &g);
	*exitinfo2 = g.exitinfo2;
	return r < 0 ? -errno : 0;
}

static void check_report(const struct snp_report_resp *resp, uint8_t fill)
{
	if (le32(resp->data) != 0 || le32(resp->data + 4) != 1184)
		FAIL("report status %u size %u", le32(resp->data), le32(resp->data + 4));
	if (resp->data[0x20 + 0x50] != fill)
		FAIL("REPORT_DATA not echoed");
}

/* The table: entries inside the buffer, certificates after the terminator. */
static void check_table(const uint8_t *buf, size_t len, const uint8_t *chip_id)
{
	static const uint8_t zero[24];
	bool ark = false, ask = false, vcek = false;
	size_t n = 0, end;

	while ((n + 1) * 24 <= len && memcmp(buf + n * 24, zero, 24) != 0)
		n++;
	if ((n + 1) * 24 > len)
		FAIL("certificate table has no terminator");
	end = (n + 1) * 24;
	if (n < 3)
		FAIL("certificate table has %zu entries", n);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *e = buf + i * 24;
		uint32_t off = le32(e + 16), elen = le32(e + 20);

		if (off < end || elen == 0 || off > len || elen > len - off)
			FAIL("entry %zu: offset %u length %u outside the %zu-byte table", i, off,
			     elen, len);
		ark |= memcmp(e, guid_ark, 16) == 0;
		ask |= memcmp(e, guid_ask, 16) == 0;
		if (memcmp(e, guid_vcek, 16) == 0) {
			const unsigned char *p = buf + off;
			X509 *x = d2i_X509(NULL, &p, elen);
			X509_NAME *subj;
			char cn[64] = "";
			ASN1_OBJECT *oid;
			int idx;

			if (!x || p != buf + off + elen)
				FAIL("the VCEK does not parse as DER X.509");
			subj = X509_get_subject_name(x);
			X509_NAME_get_text_by_NID(subj, NID_commonName, cn, sizeof(cn));
			if (strcmp(cn, "SEV-VCEK") != 0)
				FAIL("VCEK CN=%s", cn);
			oid = OBJ_txt2obj("1.3.6.1.4.1.3704.1.4", 1);
			idx = oid ? X509_get_ext_by_OBJ(x, oid, -1) : -1;
			ASN1_OBJECT_free(oid);
			if (idx < 0)
				FAIL("VCEK has no hwID");
			{
				ASN1_OCTET_STRING *v =
					X509_EXTENSION_get_data(X509_get_ext(x, idx));
				int vl = ASN1_STRING_length(v);

				if (vl != 64 && vl != 8)
					FAIL("hwID of %d bytes", vl);
				if (memcmp(ASN1_STRING_get0_data(v), chip_id, (size_t)vl) != 0)
					FAIL("hwID is not the report's CHIP_ID");
			}
			X509_free(x);
			vcek = true;
		}
	}
	if (!ark || !ask || !vcek)
		FAIL("table lacks ARK %d ASK %d VCEK %d", ark, ask, vcek);
}

int main(int argc, char **argv)
{
	struct snp_ext_report_req ereq;
	struct snp_report_resp resp;
	bool no_certs = false;
	const char *dev = "/dev/sev-guest";
	uint64_t exitinfo2;
	uint32_t need;
	uint8_t *buf;
	int fd, r;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--no-certs") == 0)
			no_certs = true;
		else
			dev = argv[i];
	}
	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "SKIP: cannot open %s: %s\n", dev, strerror(errno));
		return 77;
	}

	/* 1. certs_len 0: ask for the size */
	memset(&ereq, 0, sizeof(ereq));
	memset(ereq.data.user_data, 0x11, sizeof(ereq.data.user_data));
	memset(&resp, 0, sizeof(resp));
	r = ext_report(fd, &ereq, &resp, &exitinfo2);
	if (no_certs) {
		if (r < 0)
			FAIL("no certificates, certs_len 0: %s (exitinfo2 0x%llx), expected a "
			     "plain answer",
			     strerror(-r), (unsigned long long)exitinfo2);
		if (exitinfo2 != 0 || ereq.certs_len != 0)
			FAIL("no certificates: exitinfo2 0x%llx certs_len %u",
			     (unsigned long long)exitinfo2, ereq.certs_len);
		check_report(&resp, 0x11);
		buf = aligned_alloc(4096, 4096);
		if (!buf)
			FAIL("out of memory");
		memset(buf, 0xee, 4096);
		ereq.certs_address = (uintptr_t)buf;
		ereq.certs_len = 4096;
		memset(ereq.data.user_data, 0x22, sizeof(ereq.data.user_data));
		r = ext_report(fd, &ereq, &resp, &exitinfo2);
		if (r < 0 || exitinfo2 != 0)
			FAIL("no certificates, one page: %s (exitinfo2 0x%llx)", strerror(-r),
			     (unsigned long long)exitinfo2);
		check_report(&resp, 0x22);
		for (size_t i = 0; i < 4096; i++)
			if (buf[i])
				FAIL("no certificates: the buffer is not zero at %zu", i);
		free(buf);
		close(fd);
		printf("ext-report-client: ok (a host without certificates answers like a plain "
		       "request)\n");
		return 0;
	}
	if (r != -EIO)
		FAIL("certs_len 0: %s (exitinfo2 0x%llx), expected EIO with INVALID_LEN",
		     r ? strerror(-r) : "success", (unsigned long long)exitinfo2);
	if (exitinfo2 != INVALID_LEN)
		FAIL("certs_len 0: exitinfo2 0x%llx, expected 0x%llx",
		     (unsigned long long)exitinfo2, INVALID_LEN);
	need = ereq.certs_len;
	if (need == 0 || need % 4096)
		FAIL("certs_len 0: the host asks for %u bytes", need);
	printf("ext-report-client: certs_len 0 -> EIO, exitinfo2 0x%llx, certs_len %u\n",
	       (unsigned long long)exitinfo2, need);

	/* 2. one page too few */
	buf = aligned_alloc(4096, need);
	if (!buf)
		FAIL("out of memory");
	if (need > 4096) {
		ereq.certs_address = (uintptr_t)buf;
		ereq.certs_len = need - 4096;
		r = ext_report(fd, &ereq, &resp, &exitinfo2);
		if (r != -EIO || exitinfo2 != INVALID_LEN || ereq.certs_len != need)
			FAIL("%u bytes: %s exitinfo2 0x%llx certs_len %u", need - 4096,
			     r ? strerror(-r) : "success", (unsigned long long)exitinfo2,
			     ereq.certs_len);
	}

	/* 3. a buffer of the size asked for */
	memset(buf, 0xee, need);
	ereq.certs_address = (uintptr_t)buf;
	ereq.certs_len = need;
	memset(ereq.data.user_data, 0x33, sizeof(ereq.data.user_data));
	r = ext_report(fd, &ereq, &resp, &exitinfo2);
	if (r < 0 || exitinfo2 != 0)
		FAIL("%u bytes: %s (exitinfo2 0x%llx)", need, strerror(-r),
		     (unsigned long long)exitinfo2);
	check_report(&resp, 0x33);
	check_table(buf, need, resp.data + 0x20 + 0x1a0);
	free(buf);
	if (close(fd) < 0)
		FAIL("close: %s", strerror(errno));
	printf("ext-report-client: ok (size asked with certs_len 0, table of %u bytes checked)\n",
	       need);
	return 0;
}
#endif
