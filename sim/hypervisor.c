// SPDX-License-Identifier: Apache-2.0
/*
 * The simulated hypervisor: handles the guest's SNP_GUEST_REQUEST
 * (0x80000011) and SNP_EXT_GUEST_REQUEST (0x80000012) VMGEXITs. It copies
 * the request from the guest's shared page into a firmware page, calls the
 * firmware, and copies the response back; for the extended request it
 * writes the certificate table into the guest's certificate area or, when
 * the area is smaller than the table, including an area of 0 pages (how
 * AMD's get-report -x and go-sev-guest ask for the size first, and how
 * Linux's sev-guest driver passes certs_len 0), answers INVALID_LEN with
 * the pages needed in RBX (request not forwarded), as KVM does. A host
 * with no certificates (params host_certs=none) answers an extended
 * request like a plain one and leaves the certificate area zero; a stale
 * host (host_certs=stale) hands out a leaf issued for another TCB; with
 * host_crl_next_update set, the table also carries a CRL of the ARK.
 *
 * It can misbehave on request (struct sim_faults): BUSY, a too-small
 * certificate area (asking for one page more than the area, or for
 * certs_pages: a table larger than any guest takes, or a host that
 * contradicts itself), a firmware error, a replayed or tampered response, a
 * dropped response, a delay, or a refused exit (SW_EXITINFO1 = 1).
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <time.h>

#include <openssl/crypto.h>

#include "lib/cert-table.h"
#include "lib/util.h"
#include "sim/sim.h"

/* GHCB SW_EXITINFO1 error results (snp-abi.md §8.5). */
#define GHCB_RESULT_MALFORMED  2
#define GHCB_ERR_MISSING_INPUT 4
#define GHCB_ERR_INVALID_INPUT 5
#define GHCB_ERR_INVALID_EVENT 6

static void default_sleep(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * The device-time model of benchmarks: the firmware's answer is ready at
 * @due_ns (CLOCK_MONOTONIC), however little CPU it took. Sleeping costs
 * no CPU, as a real PSP's time costs the guest none. The thread's timer
 * slack (50 us by default) would make every answer that much late, so it
 * is 1 ns for the sleep.
 */
static void device_wait(u64 due_ns)
{
	struct timespec until = {
		.tv_sec = (time_t)(due_ns / 1000000000ULL),
		.tv_nsec = (long)(due_ns % 1000000000ULL),
	};
	int slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);

	if (slack > 1)
		(void)prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
		;
	if (slack > 1)
		(void)prctl(PR_SET_TIMERSLACK, (unsigned long)slack, 0, 0, 0);
}

void sim_hv_device_finish(struct sim_hv *hv)
{
	if (hv->device_due_ns)
		device_wait(hv->device_due_ns);
	hv->device_due_ns = 0;
}

static const struct {
	const char *name;
	size_t off;
} fault_names[] = {
	{ "after", offsetof(struct sim_faults, after) },
	{ "busy", offsetof(struct sim_faults, busy) },
	{ "certs_small", offsetof(struct sim_faults, certs_small) },
	{ "certs_pages", offsetof(struct sim_faults, certs_pages) },
	{ "fw_error", offsetof(struct sim_faults, fw_error) },
	{ "fw_error_code", offsetof(struct sim_faults, fw_error_code) },
	{ "replay", offsetof(struct sim_faults, replay) },
	{ "tamper", offsetof(struct sim_faults, tamper) },
	{ "tamper_bit", offsetof(struct sim_faults, tamper_bit) },
	{ "drop", offsetof(struct sim_faults, drop) },
	{ "delay_ms", offsetof(struct sim_faults, delay_ms) },
	{ "refuse_exit", offsetof(struct sim_faults, refuse_exit) },
	{ "refuse_info2", offsetof(struct sim_faults, refuse_info2) },
};

int sim_faults_parse(const char *s, struct sim_faults *f)
{
	char buf[512], *save = NULL, *tok;

	if (!s || !f)
		return -EINVAL;
	if (strlen(s) >= sizeof(buf))
		return -E2BIG;
	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ", \t\n", &save); tok; tok = strtok_r(NULL, ", \t\n", &save)) {
		char *eq = strchr(tok, '=');
		const char *val = "1";
		bool found = false;
		u64 v;
		u32 v32;

		if (eq) {
			*eq = '\0';
			val = eq + 1;
		}
		for (size_t i = 0; i < SNP_ELEMENTSOF(fault_names); i++) {
			if (strcmp(tok, fault_names[i].name) != 0)
				continue;
			/* decimal, or hex after 0x (fw_error_code=0x1d) */
			if (snp_parse_u64_or_hex(val, &v) < 0 || v > UINT32_MAX)
				return -EINVAL;
			if (fault_names[i].off == offsetof(struct sim_faults, certs_pages) &&
			    (v == 0 || v > SIM_CERTS_PAGES_MAX))
				return -EINVAL;
			v32 = (u32)v;
			memcpy((u8 *)f + fault_names[i].off, &v32, sizeof(v32));
			found = true;
		}
		if (!found)
			return -ENOENT;
	}
	return 0;
}

static int build_cert_area(struct sim_hv *hv)
{
	const struct sim_state *st = hv->fw->st;
	static const u8 guid_ark[16] = SNP_GUID_ARK, guid_ask[16] = SNP_GUID_ASK,
			guid_vcek[16] = SNP_GUID_VCEK, guid_vlek[16] = SNP_GUID_VLEK,
			guid_crl[16] = SNP_GUID_CRL;
	u8 guids[4][16];
	u8 *der[4] = { NULL, NULL, NULL, NULL };
	const u8 *blobs[4];
	u32 lens[4];
	X509 *certs[3], *stale = NULL;
	X509_CRL *crl = NULL;
	size_t n_blobs = 3;
	ssize_t n;
	int r = 0;

	/* The leaf the default KEY_SEL signs with, and its CA. */
	certs[0] = st->ark;
	certs[1] = st->params.vlek ? st->asvk : st->ask;
	certs[2] = st->params.vlek ? st->vlek : st->vcek;
	if (st->params.host_certs == SIM_HOST_CERTS_STALE) {
		/* the real ASK/ARK, a leaf of an older TCB: not updated since */
		stale = sim_identity_stale_leaf(st);
		if (!stale)
			return -EIO;
		certs[2] = stale;
	}
	memcpy(guids[0], guid_ark, 16);
	memcpy(guids[1], guid_ask, 16);
	memcpy(guids[2], st->params.vlek ? guid_vlek : guid_vcek, 16);
	for (int i = 0; i < 3; i++) {
		int len;

		if (!certs[i]) {
			r = -ENOENT;
			goto out;
		}
		len = i2d_X509(certs[i], &der[i]);
		if (len <= 0) {
			r = -EIO;
			goto out;
		}
		blobs[i] = der[i];
		lens[i] = (u32)len;
	}
	if (st->params.host_crl_next_update) {
		/* the ARK's CRL, as a host may add it (snp-abi.md §4.2) */
		int len;

		crl = sim_identity_crl(st, (time_t)st->params.host_crl_this_update,
				       (time_t)st->params.host_crl_next_update);
		if (!crl || (len = i2d_X509_CRL(crl, &der[3])) <= 0) {
			r = -EIO;
			goto out;
		}
		memcpy(guids[3], guid_crl, 16);
		blobs[3] = der[3];
		lens[3] = (u32)len;
		n_blobs = 4;
	}
	hv->certs = calloc(1, SIM_CERT_BLOB_MAX);
	if (!hv->certs) {
		r = -ENOMEM;
		goto out;
	}
	n = snp_cert_table_build((const u8(*)[16])guids, blobs, lens, n_blobs, hv->certs,
				 SIM_CERT_BLOB_MAX);
	if (n < 0) {
		free(hv->certs);
		hv->certs = NULL;
		r = (int)n;
		goto out;
	}
	hv->certs_len = (size_t)n;
out:
	for (int i = 0; i < 4; i++)
		OPENSSL_free(der[i]);
	X509_free(stale);
	X509_CRL_free(crl);
	return r;
}

int sim_hv_init(struct sim_hv *hv, struct sim_fw *fw, void *shared, size_t shared_len)
{
	if (!hv || !fw || !shared || !shared_len)
		return -EINVAL;
	memset(hv, 0, sizeof(*hv));
	hv->fw = fw;
	hv->guest_shared = shared;
	hv->guest_shared_len = shared_len;
	hv->sleep_ms = default_sleep;
	hv->faults.fw_error_code = SNP_FW_INVALID_PARAM;
	if (fw->st->params.host_certs == SIM_HOST_CERTS_NONE)
		return 0; /* certs_len 0: no certificate table */
	return build_cert_area(hv);
}

int sim_hv_refresh_certs(struct sim_hv *hv)
{
	free(hv->certs);
	hv->certs = NULL;
	hv->certs_len = 0;
	if (hv->fw->st->params.host_certs == SIM_HOST_CERTS_NONE)
		return 0;
	return build_cert_area(hv);
}

void sim_hv_release(struct sim_hv *hv)
{
	if (!hv)
		return;
	free(hv->certs);
	OPENSSL_cleanse(&hv->fw_req, sizeof(hv->fw_req));
	OPENSSL_cleanse(&hv->fw_resp, sizeof(hv->fw_resp));
	memset(hv, 0, sizeof(*hv));
}

/* Guest physical address -> pointer into the shared region, or NULL. */
static void *gpa_to_ptr(struct sim_hv *hv, u64 gpa, size_t len)
{
	uintptr_t base = (uintptr_t)hv->guest_shared;
	uintptr_t p = (uintptr_t)gpa;

	if ((u64)p != gpa || p < base || len > hv->guest_shared_len ||
	    p - base > hv->guest_shared_len - len)
		return NULL;
	return (void *)p;
}

static bool ghcb_valid(const struct snp_ghcb *g, size_t off)
{
	size_t bit = off / 8;

	return g->valid_bitmap[bit / 8] & (1U << (bit % 8));
}

static void ghcb_result(struct snp_ghcb *g, u64 info1, u64 info2)
{
	g->sw_exit_info_1 = cpu_to_le64(info1);
	g->sw_exit_info_2 = cpu_to_le64(info2);
}

/* A countdown fault: true (and one less) while it lasts. */
static bool take(u32 *n)
{
	if (!*n)
		return false;
	(*n)--;
	return true;
}

int sim_hv_vmgexit(struct sim_hv *hv, struct snp_ghcb *ghcb)
{
	struct sim_faults *f;
	struct snp_msg *req, *resp;
	u64 exit_code, npages = 0;
	u64 t0 = 0;
	u8 *certs = NULL;
	bool faulty;
	u32 status;

	if (!hv || !ghcb)
		return -EINVAL;
	f = &hv->faults;
	if ((uintptr_t)ghcb < (uintptr_t)hv->guest_shared ||
	    !gpa_to_ptr(hv, (u64)(uintptr_t)ghcb, sizeof(*ghcb)))
		return -EFAULT; /* the GHCB itself must be shared */
	hv->nr_exits++;

	if (!ghcb_valid(ghcb, offsetof(struct snp_ghcb, sw_exit_code)) ||
	    !ghcb_valid(ghcb, offsetof(struct snp_ghcb, sw_exit_info_1)) ||
	    !ghcb_valid(ghcb, offsetof(struct snp_ghcb, sw_exit_info_2))) {
		ghcb_result(ghcb, GHCB_RESULT_MALFORMED, GHCB_ERR_MISSING_INPUT);
		return 0;
	}
	exit_code = le64_to_cpu(ghcb->sw_exit_code);
	if (exit_code != SNP_NAE_GUEST_REQUEST && exit_code != SNP_NAE_EXT_GUEST_REQUEST) {
		ghcb_result(ghcb, GHCB_RESULT_MALFORMED, GHCB_ERR_INVALID_EVENT);
		return 0;
	}
	req = gpa_to_ptr(hv, le64_to_cpu(ghcb->sw_exit_info_1), sizeof(*req));
	resp = gpa_to_ptr(hv, le64_to_cpu(ghcb->sw_exit_info_2), sizeof(*resp));
	if (!req || !resp || req == resp) {
		ghcb_result(ghcb, GHCB_RESULT_MALFORMED, GHCB_ERR_INVALID_INPUT);
		return 0;
	}
	if (exit_code == SNP_NAE_EXT_GUEST_REQUEST) {
		if (!ghcb_valid(ghcb, offsetof(struct snp_ghcb, rax)) ||
		    !ghcb_valid(ghcb, offsetof(struct snp_ghcb, rbx))) {
			ghcb_result(ghcb, GHCB_RESULT_MALFORMED, GHCB_ERR_MISSING_INPUT);
			return 0;
		}
		npages = le64_to_cpu(ghcb->rbx);
		if (npages) {
			if (npages > hv->guest_shared_len / SNP_PAGE_SIZE)
				certs = NULL;
			else
				certs = gpa_to_ptr(hv, le64_to_cpu(ghcb->rax),
						   npages * SNP_PAGE_SIZE);
			if (!certs) {
				ghcb_result(ghcb, GHCB_RESULT_MALFORMED, GHCB_ERR_INVALID_INPUT);
				return 0;
			}
		}
	}

	faulty = !take(&f->after);
	if (f->delay_ms)
		hv->sleep_ms(f->delay_ms);
	if (faulty && take(&f->refuse_exit)) {
		/* the exit itself is refused: nothing reaches the firmware */
		hv->nr_faults++;
		ghcb_result(ghcb, 1, f->refuse_info2);
		return 0;
	}
	if (faulty && take(&f->busy)) {
		hv->nr_faults++;
		ghcb_result(ghcb, 0, SNP_EXITINFO2_VMM(SNP_VMM_ERR_BUSY));
		return 0;
	}
	if (exit_code == SNP_NAE_EXT_GUEST_REQUEST && hv->certs_len) {
		u64 need = (hv->certs_len + SNP_PAGE_SIZE - 1) / SNP_PAGE_SIZE;
		bool small = npages < need;

		if (faulty && take(&f->certs_small)) {
			hv->nr_faults++;
			small = true;
			if (f->certs_pages)
				need = f->certs_pages;
			else if (need <= npages)
				need = npages + 1;
		}
		if (small) {
			ghcb->rbx = cpu_to_le64(need);
			ghcb_result(ghcb, 0, SNP_EXITINFO2_VMM(SNP_VMM_ERR_INVALID_LEN));
			return 0;
		}
	}
	if (faulty && take(&f->fw_error)) {
		hv->nr_faults++;
		ghcb_result(ghcb, 0, f->fw_error_code ? f->fw_error_code : SNP_FW_INVALID_PARAM);
		return 0;
	}

	/* the firmware works on its own copies */
	memcpy(&hv->fw_req, req, sizeof(hv->fw_req));
	memset(&hv->fw_resp, 0, sizeof(hv->fw_resp));
	if (hv->fw->device_ns) {
		/* an earlier message of the same request still owes its time */
		sim_hv_device_finish(hv);
		t0 = hv->device_start_ns ? hv->device_start_ns : snp_monotonic_usec() * 1000;
		hv->device_start_ns = 0;
	}
	status = sim_fw_guest_request(hv->fw, &hv->fw_req, &hv->fw_resp);
	if (hv->fw->device_ns) {
		hv->device_due_ns = t0 + hv->fw->device_ns;
		if (!hv->device_defer)
			sim_hv_device_finish(hv);
	}
	if (status) {
		ghcb_result(ghcb, 0, status);
		if (hv->capture)
			hv->capture(hv->capture_userdata, exit_code, req, NULL, status);
		return 0;
	}
	if (certs) {
		/* zeros: the host supplied no certificates */
		memset(certs, 0, npages * SNP_PAGE_SIZE);
		if (hv->certs_len)
			memcpy(certs, hv->certs, hv->certs_len);
	}

	if (faulty && take(&f->drop)) {
		hv->nr_faults++;
		/* consumed by the firmware, never delivered */
	} else if (faulty && hv->have_last && take(&f->replay)) {
		hv->nr_faults++;
		memcpy(resp, &hv->last_resp, sizeof(*resp));
	} else {
		memcpy(resp, &hv->fw_resp, sizeof(*resp));
		if (faulty && take(&f->tamper)) {
			u32 bit = f->tamper_bit ? f->tamper_bit : (SNP_MSG_HDR_SIZE + 4) * 8;

			hv->nr_faults++;
			bit %= SNP_PAGE_SIZE * 8;
			((u8 *)resp)[bit / 8] ^= (u8)(1U << (bit % 8));
		}
	}
	memcpy(&hv->last_resp, &hv->fw_resp, sizeof(hv->last_resp));
	hv->have_last = true;
	ghcb_result(ghcb, 0, 0);
	if (hv->capture)
		hv->capture(hv->capture_userdata, exit_code, req, resp, 0);
	return 0;
}
