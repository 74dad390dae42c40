// SPDX-License-Identifier: Apache-2.0
/*
 * Backend dispatcher: name lookup, the checks common to every backend, and
 * the ioctl-level helpers that the sev-guest and sim backends share (both
 * speak the /dev/sev-guest ioctl ABI; only the transport differs).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "backend/backend.h"
#include "kernel/snp-certs.h"
#include "kernel/snp-uapi.h"
#include "lib/util.h"

struct snp_backend {
	const struct snp_backend_ops *ops;
	void *ctx;
};

static const struct snp_backend_ops *const backends[] = {
	&snp_backend_tsm,
	&snp_backend_sevguest,
	&snp_backend_sim,
	NULL,
};

const struct snp_backend_ops *const *snp_backend_list(void)
{
	return backends;
}

const struct snp_backend_ops *snp_backend_find(const char *name)
{
	for (size_t i = 0; backends[i]; i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}

int snp_backend_open(const char *spec, struct snp_backend **ret, char *err, size_t errlen)
{
	const struct snp_backend_ops *ops;
	_cleanup_(freep) char *name = NULL;
	const char *config = NULL, *colon;
	struct snp_backend *b;
	int r;

	if (!spec || !*spec || !ret) {
		snprintf(err, errlen, "no backend given");
		return -EINVAL;
	}
	colon = strchr(spec, ':');
	name = colon ? strndup(spec, (size_t)(colon - spec)) : strdup(spec);
	if (!name)
		return -ENOMEM;
	if (colon) {
		config = colon + 1;
		if (!*config) {
			snprintf(err, errlen, "backend '%s': empty configuration after ':'", name);
			return -EINVAL;
		}
	}
	if (strcmp(name, "auto") == 0) {
		if (config) {
			snprintf(err, errlen, "backend 'auto' takes no configuration");
			return -EINVAL;
		}
		/* configfs-tsm first, then /dev/sev-guest; never the simulator */
		if (snp_backend_tsm.probe(NULL) == 0) {
			ops = &snp_backend_tsm;
		} else if (snp_backend_sevguest.probe(NULL) == 0) {
			ops = &snp_backend_sevguest;
		} else {
			snprintf(err, errlen,
				 "no SEV-SNP guest interface found (neither configfs-tsm at "
				 "/sys/kernel/config/tsm/report nor /dev/sev-guest); for "
				 "development use --backend=sim:DIR");
			return -ENOENT;
		}
	} else {
		ops = snp_backend_find(name);
		if (!ops) {
			snprintf(err, errlen,
				 "unknown backend '%s' (known: tsm, sev-guest, sim, auto)", name);
			return -ENOENT;
		}
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->ops = ops;
	r = ops->open(config, &b->ctx, err, errlen);
	if (r < 0) {
		free(b);
		return r;
	}
	*ret = b;
	return 0;
}

struct snp_backend *snp_backend_free(struct snp_backend *b)
{
	if (!b)
		return NULL;
	if (b->ops->close)
		b->ops->close(b->ctx);
	free(b);
	return NULL;
}

const struct snp_backend_ops *snp_backend_ops(const struct snp_backend *b)
{
	return b->ops;
}

int snp_backend_get_report(struct snp_backend *b, const struct snp_backend_report_req *req,
			   struct snp_backend_report *ret, struct snp_backend_error *e)
{
	struct snp_backend_error dummy;

	if (!e)
		e = &dummy;
	memset(e, 0, sizeof(*e));
	if (!b || !req || !ret)
		return -EINVAL;
	if (!(b->ops->caps & SNP_BACKEND_CAP_REPORT))
		return -EOPNOTSUPP;
	if (req->vmpl > SNP_VMPCK_MAX)
		return -EINVAL;
	if (req->want_certs && !(b->ops->caps & SNP_BACKEND_CAP_CERTS))
		return -EOPNOTSUPP;
	memset(ret, 0, sizeof(*ret));
	return b->ops->get_report(b->ctx, req, ret, e);
}

void snp_backend_report_release(struct snp_backend_report *r)
{
	if (!r)
		return;
	free(r->certs);
	r->certs = NULL;
	r->certs_len = 0;
}

int snp_backend_get_derived_key(struct snp_backend *b, const struct snp_backend_key_req *req,
				u8 key[SNP_DERIVED_KEY_LEN], struct snp_backend_error *e)
{
	struct snp_backend_error dummy;

	if (!e)
		e = &dummy;
	memset(e, 0, sizeof(*e));
	if (!b || !req || !key)
		return -EINVAL;
	if (!(b->ops->caps & SNP_BACKEND_CAP_DERIVED_KEY))
		return -EOPNOTSUPP;
	if (req->vmpl > SNP_VMPCK_MAX || req->key_sel > SNP_KEY_SEL_VLEK ||
	    (req->guest_field_select & ~SNP_GFS_V1_MASK))
		return -EINVAL;
	return b->ops->get_derived_key(b->ctx, req, key, e);
}

static const struct {
	const char *name;
	u64 bit;
} field_names[] = {
	{ "policy", SNP_GFS_POLICY },	    { "image_id", SNP_GFS_IMAGE_ID },
	{ "family_id", SNP_GFS_FAMILY_ID }, { "measurement", SNP_GFS_MEASUREMENT },
	{ "guest_svn", SNP_GFS_GUEST_SVN }, { "tcb_version", SNP_GFS_TCB_VERSION },
};

int snp_backend_parse_fields(const char *s, u64 *ret)
{
	char buf[256], *save = NULL, *tok;
	u64 v = 0;

	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		bool found = false;

		if (strcmp(tok, "none") == 0)
			continue;
		if (strcmp(tok, "all") == 0) {
			v |= SNP_GFS_V1_MASK;
			continue;
		}
		for (size_t i = 0; i < SNP_ELEMENTSOF(field_names); i++) {
			if (strcmp(tok, field_names[i].name) == 0) {
				v |= field_names[i].bit;
				found = true;
			}
		}
		if (!found)
			return -EINVAL;
	}
	*ret = v;
	return 0;
}

const char *snp_fw_status_name(u32 status)
{
	switch (status) {
	case SNP_FW_SUCCESS:
		return "SUCCESS";
	case SNP_FW_INVALID_PLATFORM_STATE:
		return "INVALID_PLATFORM_STATE";
	case SNP_FW_INVALID_GUEST_STATE:
		return "INVALID_GUEST_STATE";
	case SNP_FW_INVALID_LENGTH:
		return "INVALID_LENGTH";
	case SNP_FW_BAD_MEASUREMENT:
		return "BAD_MEASUREMENT (authentication tag mismatch)";
	case SNP_FW_INVALID_PARAM:
		return "INVALID_PARAM";
	case SNP_FW_AEAD_OFLOW:
		return "AEAD_OFLOW (bad sequence number)";
	case SNP_FW_INVALID_KEY:
		return "INVALID_KEY";
	case SNP_FW_HWERROR_PLATFORM:
		return "HWERROR_PLATFORM";
	case SNP_FW_UNSUPPORTED:
		return "UNSUPPORTED";
	case 0xff:
		return "firmware not called";
	default:
		return "firmware error";
	}
}

/* ---- shared ioctl-level helpers ----------------------------------------- */

static void split_exitinfo2(const struct snp_ioc_guest_request *g, struct snp_backend_error *e)
{
	e->fw_error = (u32)(g->exitinfo2 & SNP_EXITINFO2_FW_MASK);
	e->vmm_error = (u32)(g->exitinfo2 >> SNP_EXITINFO2_VMM_SHIFT);
}

/*
 * The driver returned a positive value (@r > 0): Linux does so with the
 * GHCB call's enum es_result when the hypervisor refused the exit
 * (ES_VMM_ERROR 2, ES_EXCEPTION 4), errno untouched and nothing written to
 * the response. A refusal, never a success: -EIO, said in @e.
 */
static int exit_refused(int r, struct snp_backend_error *e)
{
	snprintf(e->message, sizeof(e->message),
		 "the guest driver's ioctl returned %d, not 0 or an error: the hypervisor "
		 "refused the guest request (%s), the firmware never answered",
		 r,
		 r == 2 ? "ES_VMM_ERROR" :
		 r == 4 ? "ES_EXCEPTION" :
			  "unknown result");
	return -EIO;
}

/* The response status: 0x16/0x27 -> -EINVAL, others -> -ENXIO (as configfs-tsm). */
static int map_status(u32 status)
{
	if (!status)
		return 0;
	if (status == SNP_FW_INVALID_PARAM || status == SNP_FW_INVALID_KEY)
		return -EINVAL;
	return -ENXIO;
}

static void *page_buf(size_t len)
{
	void *p = NULL;

	if (posix_memalign(&p, 4096, len) != 0)
		return NULL;
	memset(p, 0, len);
	return p;
}

/*
 * The host answered the extended request with INVALID_LEN: the driver sent
 * the message again as a plain request (its sequence number is spent, the
 * key kept), dropped that answer, and wrote the host's size back into
 * certs_len (Linux: the pages in RBX << 12, as u32). The guest passed the
 * largest area any Linux driver takes (SEV_FW_BLOB_MAX_SIZE; both 6.1 and
 * current kernels refuse a larger or unaligned certs_len with EINVAL
 * before sending anything), so nothing is asked again: a table larger than
 * that is -EMSGSIZE, said with the host's size; a host asking for no more
 * than it was given contradicts itself, -EIO.
 */
static int certs_too_small(u32 given, u32 asked, struct snp_backend_error *e)
{
	e->certs_needed = asked;
	if (asked > given) {
		snprintf(e->message, sizeof(e->message),
			 "the host's certificate table needs %" PRIu32 " bytes, more than the "
			 "guest's %" PRIu32 " (host error %" PRIu32 ", INVALID_LEN)",
			 asked, given, e->vmm_error);
		return -EMSGSIZE;
	}
	snprintf(e->message, sizeof(e->message),
		 "the host said the guest's certificate area of %" PRIu32 " bytes is too small, "
		 "yet asks for %" PRIu32 " (host error %" PRIu32 ", INVALID_LEN)",
		 given, asked, e->vmm_error);
	return -EIO;
}

int snp_backend_ioctl_report(snp_backend_ioctl_fn fn, void *ctx,
			     const struct snp_backend_report_req *req,
			     struct snp_backend_report *ret, struct snp_backend_error *e)
{
	struct snp_ioc_ext_report_req ext = { 0 };
	struct snp_ioc_guest_request g = { 0 };
	struct snp_ioc_report_resp *resp;
	const struct snp_report_rsp_msg *rsp;
	u8 *certs = NULL;
	const u32 certs_len = SNP_CERTS_MAX_LEN;
	int r;

	resp = calloc(1, sizeof(*resp));
	if (!resp)
		return -ENOMEM;
	memcpy(ext.data.user_data, req->report_data, sizeof(ext.data.user_data));
	ext.data.vmpl = req->vmpl;

	g.msg_version = 1;
	g.resp_data = (u64)(uintptr_t)resp;
	if (req->want_certs) {
		certs = page_buf(certs_len);
		if (!certs) {
			r = -ENOMEM;
			goto out;
		}
		ext.certs_address = (u64)(uintptr_t)certs;
		ext.certs_len = certs_len;
		g.req_data = (u64)(uintptr_t)&ext;
		r = fn(ctx, SNP_IOC_GET_EXT_REPORT, &g);
	} else {
		g.req_data = (u64)(uintptr_t)&ext.data;
		r = fn(ctx, SNP_IOC_GET_REPORT, &g);
	}
	split_exitinfo2(&g, e);
	if (r > 0) {
		r = exit_refused(r, e);
		goto out;
	}
	if (r == -EIO && req->want_certs && e->vmm_error == SNP_VMM_ERR_INVALID_LEN &&
	    e->fw_error == 0)
		r = certs_too_small(certs_len, ext.certs_len, e);
	if (r < 0)
		goto out;

	rsp = (const void *)resp->data;
	e->status = le32_to_cpu(rsp->status);
	r = map_status(e->status);
	if (r < 0)
		goto out;
	if (le32_to_cpu(rsp->report_size) != SNP_REPORT_SIZE) {
		r = -EBADMSG;
		goto out;
	}
	memcpy(ret->report, &rsp->report, SNP_REPORT_SIZE);
	if (req->want_certs && !snp_mem_is_zero(certs, 24)) {
		ret->certs = certs;
		ret->certs_len = certs_len;
		certs = NULL;
	}
	r = 0;
out:
	free(certs);
	free(resp);
	return r;
}

int snp_backend_ioctl_key(snp_backend_ioctl_fn fn, void *ctx, const struct snp_backend_key_req *req,
			  u8 key[SNP_DERIVED_KEY_LEN], struct snp_backend_error *e)
{
	struct snp_ioc_derived_key_req kreq = { 0 };
	struct snp_ioc_derived_key_resp kresp;
	struct snp_ioc_guest_request g = { 0 };
	const struct snp_key_rsp_msg *rsp = (const void *)kresp.data;
	int r;

	kreq.root_key_select = (req->root_vmrk ? SNP_KEY_ROOT_SELECT_VMRK : 0) |
			       (req->key_sel << SNP_KEY_REQ_KEY_SEL_SHIFT);
	kreq.guest_field_select = req->guest_field_select;
	kreq.vmpl = req->vmpl;
	kreq.guest_svn = req->guest_svn;
	kreq.tcb_version = req->tcb_version;
	memset(&kresp, 0, sizeof(kresp));
	g.msg_version = 1;
	g.req_data = (u64)(uintptr_t)&kreq;
	g.resp_data = (u64)(uintptr_t)&kresp;
	r = fn(ctx, SNP_IOC_GET_DERIVED_KEY, &g);
	split_exitinfo2(&g, e);
	if (r > 0)
		r = exit_refused(r, e);
	if (r < 0)
		goto out;
	e->status = le32_to_cpu(rsp->status);
	r = map_status(e->status);
	if (r < 0)
		goto out;
	memcpy(key, rsp->derived_key, SNP_DERIVED_KEY_LEN);
out:
	OPENSSL_cleanse(&kresp, sizeof(kresp));
	return r;
}
