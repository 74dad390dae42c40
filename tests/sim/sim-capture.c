// SPDX-License-Identifier: Apache-2.0
/*
 * sim-capture STATE_DIR OUT_DIR
 *
 * Test helper: one report request and one derived-key request through the
 * guest driver over the simulated platform of STATE_DIR, capturing the
 * encrypted request and response pages as the hypervisor saw them. Writes
 * to OUT_DIR: report-req.bin report-resp.bin report.bin key-req.bin
 * key-resp.bin key.bin vmpck.bin (VMPCK0) and report-data.bin, so that an
 * independent oracle can decrypt the pair. When the simulated kernel sent
 * TSC_INFO_REQ at boot (params kernel_tsc_info=1), that pair too:
 * tsc-req.bin tsc-resp.bin. SIMULATED keys only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "sim/sim.h"

struct cap {
	struct snp_msg req, resp;
	bool have;
	struct snp_msg tsc_req, tsc_resp;
	bool have_tsc;
};

static void capture(void *ud, u64 exit_code, const struct snp_msg *req, const struct snp_msg *resp,
		    u64 exitinfo2)
{
	struct cap *c = ud;

	if (!resp)
		return;
	if (req->hdr.msg_type == SNP_MSG_TSC_INFO_REQ) {
		memcpy(&c->tsc_req, req, sizeof(c->tsc_req));
		memcpy(&c->tsc_resp, resp, sizeof(c->tsc_resp));
		c->have_tsc = true;
		return;
	}
	memcpy(&c->req, req, sizeof(c->req));
	memcpy(&c->resp, resp, sizeof(c->resp));
	c->have = true;
}

static int put(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4096];
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	r = snp_write_file(path, data, len, 0600);
	if (r < 0)
		fprintf(stderr, "sim-capture: cannot write %s: %s\n", path, strerror(-r));
	return r;
}

int main(int argc, char **argv)
{
	static struct cap cap;
	struct sim_open_opts o = { .create = true };
	struct sim_platform *p = NULL;
	struct snp_ioc_report_req rreq = { 0 };
	struct snp_ioc_report_resp rresp;
	struct snp_ioc_derived_key_req kreq = { .guest_field_select = SNP_GFS_MEASUREMENT };
	struct snp_ioc_derived_key_resp kresp;
	struct snp_ioc_guest_request g = { .msg_version = 1 };
	char err[256] = "";
	int r;

	if (argc != 3) {
		fprintf(stderr, "Usage: sim-capture STATE_DIR OUT_DIR\n");
		return 2;
	}
	r = sim_platform_open(argv[1], NULL, &o, &p, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "sim-capture: %s\n", err);
		return 1;
	}
	sim_platform_set_capture(p, capture, &cap);
	for (int i = 0; i < 64; i++)
		rreq.user_data[i] = (u8)(0xa0 + i);
	g.req_data = (u64)(uintptr_t)&rreq;
	g.resp_data = (u64)(uintptr_t)&rresp;
	r = sim_platform_ioctl(p, SNP_IOC_GET_REPORT, &g);
	if (r < 0 || !cap.have) {
		fprintf(stderr, "sim-capture: report request failed: %s\n", strerror(-r));
		goto fail;
	}
	if (put(argv[2], "report-req.bin", &cap.req, sizeof(cap.req)) < 0 ||
	    put(argv[2], "report-resp.bin", &cap.resp, sizeof(cap.resp)) < 0 ||
	    put(argv[2], "report.bin", rresp.data + 0x20, SNP_REPORT_SIZE) < 0 ||
	    put(argv[2], "report-data.bin", rreq.user_data, 64) < 0 ||
	    put(argv[2], "vmpck.bin", sim_platform_state(p)->secrets.vmpck[0], 32) < 0)
		goto fail;

	if (cap.have_tsc && (put(argv[2], "tsc-req.bin", &cap.tsc_req, sizeof(cap.tsc_req)) < 0 ||
			     put(argv[2], "tsc-resp.bin", &cap.tsc_resp, sizeof(cap.tsc_resp)) < 0))
		goto fail;

	cap.have = false;
	g.req_data = (u64)(uintptr_t)&kreq;
	g.resp_data = (u64)(uintptr_t)&kresp;
	r = sim_platform_ioctl(p, SNP_IOC_GET_DERIVED_KEY, &g);
	if (r < 0 || !cap.have) {
		fprintf(stderr, "sim-capture: key request failed: %s\n", strerror(-r));
		goto fail;
	}
	if (put(argv[2], "key-req.bin", &cap.req, sizeof(cap.req)) < 0 ||
	    put(argv[2], "key-resp.bin", &cap.resp, sizeof(cap.resp)) < 0 ||
	    put(argv[2], "key.bin", kresp.data + 0x20, 32) < 0)
		goto fail;
	sim_platform_free(p);
	return 0;
fail:
	sim_platform_free(p);
	return 1;
}
