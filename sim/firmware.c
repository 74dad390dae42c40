// SPDX-License-Identifier: Apache-2.0
/*
 * The simulated AMD Secure Processor firmware: SNP_GUEST_REQUEST message
 * handling as snp-abi.md §2.1 orders the checks, MSG_REPORT_REQ,
 * MSG_KEY_REQ (§2.5, §6.2) and, for a guest launched with Secure TSC,
 * MSG_TSC_INFO_REQ (§2.5).
 *
 * Not modelled: MSG_KEY_REQ version 2 (LAUNCH_MIT_VECTOR) and migration
 * messages; they are rejected as unknown (INVALID_PARAM, no response), as
 * is TSC_INFO_REQ of a guest without Secure TSC.
 *
 * TSC_INFO_REQ checks (what the firmware does with a malformed one is
 * unconfirmed; chosen as for the other messages): a body that is not 128
 * bytes is a malformed message (INVALID_PARAM, no response, counter
 * unchanged, as a REPORT_REQ of the wrong size); non-zero bytes in the
 * all-reserved body are a bad field, answered in an encrypted response
 * with STATUS INVALID_PARAM and zero values (as reserved bytes of
 * REPORT_REQ).
 * The response carries the request's MSG_VERSION (Linux requires equality).
 *
 * VCEK/VLEK key-derivation roots: the real firmware runs a per-chip seed
 * through a per-TCB-component "hash stick". The simulator models this as
 * root = HMAC-SHA384(seed, "SIMULATED-TCB-HASH-STICK" || TCB (LE64)), with
 * TCB = the requested TCB when GUEST_FIELD_SELECT bit 5 is set, else the
 * current TCB, so a TCB change changes VCEK-rooted keys as on hardware.
 */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "lib/util.h"
#include "sim/sim.h"

#define FW_REPORT_MAX_VERSION 1
#define FW_KEY_MAX_VERSION    1
#define FW_TSC_MAX_VERSION    1

void sim_fw_init(struct sim_fw *fw, struct sim_state *st)
{
	memset(fw, 0, sizeof(*fw));
	fw->st = st;
}

static void make_iv(u8 iv[SNP_MSG_IV_LEN], u64 seqno)
{
	memset(iv, 0, SNP_MSG_IV_LEN);
	snp_put_le64(iv, seqno);
}

static bool vcek_usable(const struct sim_params *p)
{
	return !p->mask_chip_key;
}

/* KEY_SEL -> signing key; status INVALID_KEY when the choice is impossible. */
static u32 select_key(const struct sim_state *st, u32 key_sel, bool *use_vlek)
{
	switch (key_sel) {
	case SNP_KEY_SEL_DEFAULT:
		*use_vlek = st->params.vlek;
		return 0;
	case SNP_KEY_SEL_VCEK:
		*use_vlek = false;
		return vcek_usable(&st->params) ? 0 : SNP_FW_INVALID_KEY;
	case SNP_KEY_SEL_VLEK:
		*use_vlek = true;
		return st->params.vlek ? 0 : SNP_FW_INVALID_KEY;
	default:
		return SNP_FW_INVALID_KEY;
	}
}

/* The PLATFORM_INFO bits a report version defines (snp-abi.md §1.2, §1.5). */
static u64 platform_info_mask(u32 version)
{
	if (version < 3)
		return GENMASK_ULL(4, 0);
	if (version < 5)
		return GENMASK_ULL(5, 0);
	return GENMASK_ULL(5, 0) | SNP_PLATFORM_TIO_EN;
}

u32 sim_fw_make_report(struct sim_fw *fw, const u8 report_data[64], u32 vmpl, u32 key_sel,
		       struct snp_report *r)
{
	const struct sim_state *st = fw->st;
	const struct sim_params *p = &st->params;
	EVP_PKEY *key;
	u32 signing, status;
	bool use_vlek = false;

	status = select_key(st, key_sel, &use_vlek);
	if (status)
		return status;
	if (use_vlek) {
		key = st->vlek_key;
		signing = SNP_SIGNING_KEY_VLEK;
	} else if (vcek_usable(p)) {
		key = st->vcek_key;
		signing = SNP_SIGNING_KEY_VCEK;
	} else {
		/* MASK_CHIP_KEY and no VLEK: unsigned report */
		key = NULL;
		signing = SNP_SIGNING_KEY_NONE;
	}

	memset(r, 0, sizeof(*r));
	r->version = cpu_to_le32(p->report_version);
	r->guest_svn = cpu_to_le32(p->guest_svn);
	r->policy = cpu_to_le64(p->policy);
	memcpy(r->family_id, p->family_id, sizeof(r->family_id));
	memcpy(r->image_id, p->image_id, sizeof(r->image_id));
	r->vmpl = cpu_to_le32(vmpl);
	r->signature_algo = cpu_to_le32(SNP_SIG_ALGO_ECDSA_P384_SHA384);
	r->current_tcb = cpu_to_le64(p->current_tcb);
	r->platform_info = cpu_to_le64(p->platform_info & platform_info_mask(p->report_version));
	r->key_info = cpu_to_le32((p->author_key_en ? SNP_KEYINFO_AUTHOR_KEY_EN : 0) |
				  (p->mask_chip_key ? SNP_KEYINFO_MASK_CHIP_KEY : 0) |
				  signing << SNP_KEYINFO_SIGNING_KEY_SHIFT);
	memcpy(r->report_data, report_data, SNP_REPORT_DATA_SIZE);
	memcpy(r->measurement, p->measurement, sizeof(r->measurement));
	memcpy(r->host_data, p->host_data, sizeof(r->host_data));
	memcpy(r->id_key_digest, p->id_key_digest, sizeof(r->id_key_digest));
	if (p->author_key_en)
		memcpy(r->author_key_digest, p->author_key_digest, sizeof(r->author_key_digest));
	memcpy(r->report_id, p->report_id, sizeof(r->report_id));
	memcpy(r->report_id_ma, p->report_id_ma, sizeof(r->report_id_ma));
	r->reported_tcb = cpu_to_le64(p->reported_tcb);
	if (p->report_version >= 3) {
		r->cpuid_fam_id = sim_product_family(p->product);
		r->cpuid_mod_id = sim_product_model(p->product);
		r->cpuid_step = p->cpuid_step;
	}
	if (!p->mask_chip_id)
		memcpy(r->chip_id, p->chip_id, sim_product_chip_id_len(p->product));
	r->committed_tcb = cpu_to_le64(p->committed_tcb);
	r->current_build = p->fw_build;
	r->current_minor = p->fw_minor;
	r->current_major = p->fw_major;
	r->committed_build = p->committed_build;
	r->committed_minor = p->committed_minor;
	r->committed_major = p->committed_major;
	r->launch_tcb = cpu_to_le64(p->launch_tcb);
	if (p->report_version >= 5) {
		r->launch_mit_vector = cpu_to_le64(p->launch_mit_vector);
		r->current_mit_vector = cpu_to_le64(p->current_mit_vector);
	}
	if (key) {
		const struct snp_ecdsa_sig *sig = sim_presigned_find(fw->presigned, r);

		if (sig) {
			/* the same signed bytes, signed ahead with the same key */
			memcpy(&r->signature, sig, sizeof(r->signature));
			fw->nr_presigned++;
			return 0;
		}
		if (sim_sign_report(key, (const u8 *)r, SNP_REPORT_SIGNED_LEN, &r->signature) < 0)
			return SNP_FW_HWERROR_PLATFORM;
		fw->nr_signed++;
	}
	return 0;
}

static u32 handle_report(struct sim_fw *fw, const u8 *in, size_t in_len, u32 msg_vmpck, u8 *out,
			 size_t *out_len)
{
	const struct snp_report_req_msg *req = (const void *)in;
	struct snp_report_rsp_msg *rsp = (void *)out;
	u32 vmpl, key_sel, status;

	if (in_len != sizeof(*req))
		return SNP_FW_INVALID_PARAM;
	memset(rsp, 0, sizeof(*rsp));
	*out_len = sizeof(*rsp);
	vmpl = le32_to_cpu(req->vmpl);
	key_sel = le32_to_cpu(req->key_sel);
	if (vmpl > SNP_VMPCK_MAX || vmpl < msg_vmpck || (key_sel & ~SNP_REPORT_KEY_SEL_MASK) ||
	    !snp_mem_is_zero(req->rsvd, sizeof(req->rsvd))) {
		status = SNP_FW_INVALID_PARAM;
	} else {
		status = sim_fw_make_report(fw, req->report_data, vmpl,
					    key_sel & SNP_REPORT_KEY_SEL_MASK, &rsp->report);
	}
	rsp->status = cpu_to_le32(status);
	if (status)
		memset(&rsp->report, 0, sizeof(rsp->report));
	else
		rsp->report_size = cpu_to_le32(SNP_REPORT_SIZE);
	return 0;
}

u32 sim_fw_mix_data(struct sim_fw *fw, const struct snp_key_req_msg *req, u32 msg_vmpck,
		    struct snp_key_mix_data *mix, u8 root[SIM_SEED_LEN], size_t *root_len)
{
	const struct sim_state *st = fw->st;
	const struct sim_params *p = &st->params;
	enum snp_tcb_layout layout = snp_product_tcb_layout(p->product);
	u32 flags = le32_to_cpu(req->flags);
	u64 gfs = le64_to_cpu(req->guest_field_select);
	u32 vmpl = le32_to_cpu(req->vmpl);
	u32 svn = le32_to_cpu(req->guest_svn);
	u64 tcb = le64_to_cpu(req->tcb_version);
	u32 key_sel = (flags & SNP_KEY_REQ_KEY_SEL_MASK) >> SNP_KEY_REQ_KEY_SEL_SHIFT;
	bool vmrk = flags & SNP_KEY_ROOT_SELECT_VMRK;
	u32 idsel = 0;
	const u8 *seed;
	bool use_vlek;

	/* field checks: INVALID_PARAM */
	if ((flags & SNP_KEY_REQ_FLAGS_MBZ) || req->rsvd)
		return SNP_FW_INVALID_PARAM;
	if (vmpl > SNP_VMPCK_MAX || vmpl < msg_vmpck)
		return SNP_FW_INVALID_PARAM;
	if (gfs & ~SNP_GFS_V1_MASK)
		return SNP_FW_INVALID_PARAM;
	if (gfs & SNP_GFS_TCB_VERSION) {
		struct snp_tcb_parts t, c;

		snp_tcb_decode(tcb, layout, &t);
		snp_tcb_decode(p->committed_tcb, layout, &c);
		if (t.rsvd_nonzero || t.bootloader > c.bootloader || t.tee > c.tee ||
		    t.snp > c.snp || t.microcode > c.microcode ||
		    (layout == SNP_TCB_LAYOUT_TURIN && t.fmc > c.fmc))
			return SNP_FW_INVALID_PARAM;
	}
	if ((gfs & SNP_GFS_GUEST_SVN) && svn > p->guest_svn)
		return SNP_FW_INVALID_PARAM;

	/* key selection: INVALID_KEY */
	if (vmrk) {
		memcpy(root, st->secrets.vmrk, SIM_VMRK_LEN);
		*root_len = SIM_VMRK_LEN;
	} else {
		if (select_key(st, key_sel, &use_vlek))
			return SNP_FW_INVALID_KEY;
		if (!use_vlek && !vcek_usable(p))
			return SNP_FW_INVALID_KEY;
		seed = use_vlek ? st->secrets.vlek_seed : st->secrets.vcek_seed;
		if (sim_tcb_root(seed, (gfs & SNP_GFS_TCB_VERSION) ? tcb : p->current_tcb, root) <
		    0)
			return SNP_FW_HWERROR_PLATFORM;
		*root_len = SIM_SEED_LEN;
	}

	memset(mix, 0, sizeof(*mix));
	if (!snp_mem_is_zero(p->id_key_digest, sizeof(p->id_key_digest)))
		idsel = p->author_key_en ? 2 : 1;
	mix->key_select = cpu_to_le32((vmrk ? 1U : 0U) | idsel << 1);
	mix->guest_field_select = cpu_to_le64(gfs);
	mix->vmpl = cpu_to_le32(vmpl);
	if (gfs & SNP_GFS_GUEST_SVN)
		mix->guest_svn = cpu_to_le32(svn);
	if (gfs & SNP_GFS_TCB_VERSION)
		mix->tcb_version = cpu_to_le64(tcb);
	if (gfs & SNP_GFS_POLICY)
		mix->policy = cpu_to_le64(p->policy);
	if (gfs & SNP_GFS_IMAGE_ID)
		memcpy(mix->image_id, p->image_id, sizeof(mix->image_id));
	if (gfs & SNP_GFS_FAMILY_ID)
		memcpy(mix->family_id, p->family_id, sizeof(mix->family_id));
	if (gfs & SNP_GFS_MEASUREMENT)
		memcpy(mix->measurement, p->measurement, sizeof(mix->measurement));
	memcpy(mix->host_data, p->host_data, sizeof(mix->host_data));
	if (idsel == 1)
		memcpy(mix->idblock_key_digest, p->id_key_digest, sizeof(mix->idblock_key_digest));
	else if (idsel == 2)
		memcpy(mix->idblock_key_digest, p->author_key_digest,
		       sizeof(mix->idblock_key_digest));
	return 0;
}

u32 sim_fw_derive_key(struct sim_fw *fw, const struct snp_key_req_msg *req, u32 msg_vmpck,
		      u8 key[SNP_DERIVED_KEY_LEN])
{
	struct snp_key_mix_data mix;
	u8 root[SIM_SEED_LEN];
	size_t root_len = 0;
	u32 status;

	status = sim_fw_mix_data(fw, req, msg_vmpck, &mix, root, &root_len);
	if (!status && sim_kdf(root, root_len, &mix, key) < 0)
		status = SNP_FW_HWERROR_PLATFORM;
	OPENSSL_cleanse(root, sizeof(root));
	OPENSSL_cleanse(&mix, sizeof(mix));
	return status;
}

static u32 handle_key(struct sim_fw *fw, const u8 *in, size_t in_len, u32 msg_vmpck, u8 *out,
		      size_t *out_len)
{
	const struct snp_key_req_msg *req = (const void *)in;
	struct snp_key_rsp_msg *rsp = (void *)out;
	u32 status;

	if (in_len != sizeof(*req))
		return SNP_FW_INVALID_PARAM;
	memset(rsp, 0, sizeof(*rsp));
	*out_len = sizeof(*rsp);
	status = sim_fw_derive_key(fw, req, msg_vmpck, rsp->derived_key);
	rsp->status = cpu_to_le32(status);
	if (status)
		OPENSSL_cleanse(rsp->derived_key, sizeof(rsp->derived_key));
	return 0;
}

u32 sim_fw_tsc_info(struct sim_fw *fw, const u8 *in, size_t in_len,
		    struct sim_tsc_info_rsp_msg *rsp)
{
	const struct sim_params *p = &fw->st->params;

	if (!p->secure_tsc || in_len != sizeof(struct sim_tsc_info_req_msg))
		return SNP_FW_INVALID_PARAM;
	memset(rsp, 0, sizeof(*rsp));
	if (!snp_mem_is_zero(in, in_len)) {
		rsp->status = cpu_to_le32(SNP_FW_INVALID_PARAM);
		return 0;
	}
	rsp->guest_tsc_scale = cpu_to_le64(p->tsc_scale);
	rsp->guest_tsc_offset = cpu_to_le64(p->tsc_offset);
	rsp->tsc_factor = cpu_to_le32(p->tsc_factor);
	return 0;
}

static u32 handle_tsc_info(struct sim_fw *fw, const u8 *in, size_t in_len, u8 *out, size_t *out_len)
{
	u32 status;

	status = sim_fw_tsc_info(fw, in, in_len, (struct sim_tsc_info_rsp_msg *)out);
	if (!status)
		*out_len = sizeof(struct sim_tsc_info_rsp_msg);
	return status;
}

u32 sim_fw_guest_request(struct sim_fw *fw, const struct snp_msg *req, struct snp_msg *resp)
{
	struct sim_state *st = fw->st;
	const struct snp_msg_hdr *h = &req->hdr;
	struct snp_msg_hdr *rh = &resp->hdr;
	u8 *plain = fw->scratch;
	u8 out[sizeof(struct snp_report_rsp_msg)];
	size_t msg_sz, out_len = 0;
	u8 iv[SNP_MSG_IV_LEN];
	u64 seqno, counter;
	u32 vmpck, status;
	int r;

	fw->nr_requests++;
	/* 2. header */
	msg_sz = le16_to_cpu(h->msg_sz);
	if (h->hdr_version != SNP_MSG_HDR_VERSION || le16_to_cpu(h->hdr_sz) != SNP_MSG_HDR_SIZE ||
	    h->algo != SNP_AEAD_AES_256_GCM || msg_sz == 0 || msg_sz % 16 ||
	    msg_sz > SNP_MSG_PAYLOAD_MAX)
		goto invalid;
	/* 3. VMPCK */
	vmpck = h->msg_vmpck;
	if (vmpck > SNP_VMPCK_MAX)
		goto invalid;
	/* 4. authentication */
	seqno = le64_to_cpu(h->msg_seqno);
	make_iv(iv, seqno);
	r = sim_aes_gcm_decrypt(st->secrets.vmpck[vmpck], iv, &h->algo, SNP_MSG_AAD_LEN,
				req->payload, msg_sz, plain, h->authtag);
	if (r < 0) {
		fw->nr_rejected++;
		return SNP_FW_BAD_MEASUREMENT;
	}
	/* 5. sequence number */
	counter = st->fw_counter[vmpck];
	if (seqno != counter + 1 || counter >= UINT64_MAX - 2) {
		status = SNP_FW_AEAD_OFLOW;
		goto reject;
	}
	/* 6., 7. version and type */
	switch (h->msg_type) {
	case SNP_MSG_REPORT_REQ:
		if (h->msg_version == 0 || h->msg_version > FW_REPORT_MAX_VERSION)
			goto invalid_wipe;
		status = handle_report(fw, plain, msg_sz, vmpck, out, &out_len);
		break;
	case SNP_MSG_KEY_REQ:
		if (h->msg_version == 0 || h->msg_version > FW_KEY_MAX_VERSION)
			goto invalid_wipe;
		status = handle_key(fw, plain, msg_sz, vmpck, out, &out_len);
		break;
	case SNP_MSG_TSC_INFO_REQ:
		if (!st->params.secure_tsc)
			goto invalid_wipe; /* an unknown message to this guest */
		if (h->msg_version == 0 || h->msg_version > FW_TSC_MAX_VERSION)
			goto invalid_wipe;
		status = handle_tsc_info(fw, plain, msg_sz, out, &out_len);
		break;
	default:
		goto invalid_wipe;
	}
	if (status)
		goto reject;

	/* response */
	memset(resp, 0, sizeof(*resp));
	rh->algo = SNP_AEAD_AES_256_GCM;
	rh->hdr_version = SNP_MSG_HDR_VERSION;
	rh->hdr_sz = cpu_to_le16(SNP_MSG_HDR_SIZE);
	rh->msg_type = h->msg_type + 1;
	rh->msg_version = h->msg_version;
	rh->msg_sz = cpu_to_le16((u16)out_len);
	rh->msg_vmpck = (u8)vmpck;
	rh->msg_seqno = cpu_to_le64(seqno + 1);
	make_iv(iv, seqno + 1);
	r = sim_aes_gcm_encrypt(st->secrets.vmpck[vmpck], iv, &rh->algo, SNP_MSG_AAD_LEN, out,
				out_len, resp->payload, rh->authtag);
	OPENSSL_cleanse(out, sizeof(out));
	OPENSSL_cleanse(plain, msg_sz);
	if (r < 0) {
		memset(resp, 0, sizeof(*resp));
		return SNP_FW_HWERROR_PLATFORM;
	}
	st->fw_counter[vmpck] = counter + 2;
	return 0;

invalid_wipe:
	status = SNP_FW_INVALID_PARAM;
reject:
	OPENSSL_cleanse(out, sizeof(out));
	OPENSSL_cleanse(plain, msg_sz);
	fw->nr_rejected++;
	return status;
invalid:
	fw->nr_rejected++;
	return SNP_FW_INVALID_PARAM;
}
