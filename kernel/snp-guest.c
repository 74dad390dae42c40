// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * SEV-SNP guest-request driver (see snp-guest.h for the rules it keeps).
 *
 * Message flow of one ioctl:
 *   plaintext request --AES-GCM(VMPCK, IV = seqno)--> private request page
 *   --copy--> shared request page --VMGEXIT--> hypervisor/firmware
 *   shared response page --copy--> private response page --checks, decrypt-->
 *   plaintext response --> caller.
 * The hypervisor can change the shared pages at any time, so everything is
 * read from the private copies only.
 */
#define pr_fmt(fmt) "snp-guest: " fmt

#include "kernel/snp-guest.h"

/*
 * The guest physical address of a shared page as the hypervisor sees it.
 * The platform's VMGEXIT translates it (the simulator maps its shared
 * region at these addresses).
 */
static inline u64 snp_gpa(const void *p)
{
	return (u64)(uintptr_t)p;
}

/* The low 32 bits of this VMPCK's counter in the OS area (little-endian). */
static u8 *os_area_msg_seqno(const struct snp_guest_dev *dev)
{
	return (u8 *)dev->secrets + offsetof(struct snp_secrets_page, os_msg_seqno) +
	       sizeof(__le32) * dev->vmpck_id;
}

static bool vmpck_is_zero(const u8 *key)
{
	u8 acc = 0;
	int i;

	for (i = 0; i < SNP_VMPCK_LEN; i++)
		acc |= key[i];
	return acc == 0;
}

bool snp_guest_vmpck_disabled(const struct snp_guest_dev *dev)
{
	return !dev->vmpck || vmpck_is_zero(dev->vmpck);
}

void snp_guest_disable_vmpck(struct snp_guest_dev *dev, u64 cause)
{
	if (!dev->vmpck)
		return;
	/* Linux: "Disabling VMPCK%d communication key to prevent IV reuse." */
	pr_alert("Disabling VMPCK%u communication key to prevent IV reuse.\n", dev->vmpck_id);
	memzero_explicit(dev->vmpck, SNP_VMPCK_LEN);
	dev->vmpck = NULL;
	snp_guest_plat_event(dev, SNP_GUEST_EV_VMPCK_DISABLED, cause);
}

int snp_guest_init(struct snp_guest_dev *dev, void *priv, struct snp_secrets_page *secrets,
		   u32 vmpck_id, struct snp_guest_shared *shared, struct snp_guest_private *scratch)
{
	if (!dev || !secrets || !shared || !scratch)
		return -EINVAL;
	if (vmpck_id > SNP_VMPCK_MAX)
		return -EINVAL;
	if (le32_to_cpu(secrets->version) < 2)
		return -EINVAL;

	memset(dev, 0, sizeof(*dev));
	dev->priv = priv;
	dev->secrets = secrets;
	dev->vmpck_id = vmpck_id;
	dev->vmpck = secrets->vmpck[vmpck_id];
	if (vmpck_is_zero(dev->vmpck))
		dev->vmpck = NULL;
	dev->shared = shared;
	dev->scratch = scratch;
	dev->retry_interval_ms = SNP_GUEST_RETRY_INTERVAL_MS;
	dev->retry_timeout_ms = SNP_GUEST_RETRY_TIMEOUT_MS;
	memset(scratch, 0, sizeof(*scratch));
	mutex_init(&dev->cmd_mutex);
	return 0;
}

int snp_guest_probe(struct snp_guest_dev *dev, void *priv, struct snp_secrets_page *secrets,
		    u32 vmpck_id, struct snp_guest_shared *shared,
		    struct snp_guest_private *scratch)
{
	int rc;

	rc = snp_guest_init(dev, priv, secrets, vmpck_id, shared, scratch);
	if (rc)
		return rc;
	if (snp_guest_vmpck_disabled(dev)) {
		/* Linux: dev_err(dev, "Empty VMPCK%d communication key\n", vmpck_id) */
		pr_err("Empty VMPCK%u communication key\n", vmpck_id);
		snp_guest_release(dev);
		return -EINVAL;
	}
	return 0;
}

void snp_guest_release(struct snp_guest_dev *dev)
{
	if (!dev)
		return;
	if (!dev->secrets)
		return; /* never initialised, or released already */
	mutex_destroy(&dev->cmd_mutex);
	if (dev->scratch)
		memzero_explicit(dev->scratch, sizeof(*dev->scratch));
	memset(dev, 0, sizeof(*dev));
}

void snp_guest_set_retry(struct snp_guest_dev *dev, unsigned int interval_ms,
			 unsigned int timeout_ms)
{
	dev->retry_interval_ms = interval_ms ? interval_ms : SNP_GUEST_RETRY_INTERVAL_MS;
	dev->retry_timeout_ms = timeout_ms ? timeout_ms : SNP_GUEST_RETRY_TIMEOUT_MS;
}

/*
 * The OS area keeps only the low 32 bits of the counter (GHCB 2.0); like
 * Linux, refuse before the next request number would reach 2^32 - 1.
 * Returns 0 when the counter is exhausted.
 */
u64 snp_guest_next_seqno(const struct snp_guest_dev *dev)
{
	u64 count = (u64)snp_get_le32(os_area_msg_seqno(dev)) + 1;

	if (count >= U32_MAX)
		return 0;
	return count;
}

static void snp_inc_msg_seqno(struct snp_guest_dev *dev)
{
	u8 *p = os_area_msg_seqno(dev);

	lockdep_assert_held(&dev->cmd_mutex);
	/* the request used count + 1, the response count + 2 */
	snp_put_le32(p, snp_get_le32(p) + 2);
}

static void make_iv(u8 iv[SNP_MSG_IV_LEN], u64 seqno)
{
	memset(iv, 0, SNP_MSG_IV_LEN);
	snp_put_le64(iv, seqno);
}

static int enc_payload(struct snp_guest_dev *dev, u64 seqno, u8 version, u8 type,
		       const void *payload, size_t sz)
{
	struct snp_msg *msg = &dev->scratch->secret_request;
	struct snp_msg_hdr *hdr = &msg->hdr;
	u8 iv[SNP_MSG_IV_LEN];

	if (sz == 0 || sz > SNP_MSG_PAYLOAD_MAX)
		return -EBADMSG;

	memset(msg, 0, sizeof(*msg));
	hdr->algo = SNP_AEAD_AES_256_GCM;
	hdr->hdr_version = SNP_MSG_HDR_VERSION;
	hdr->hdr_sz = cpu_to_le16(sizeof(*hdr));
	hdr->msg_type = type;
	hdr->msg_version = version;
	hdr->msg_seqno = cpu_to_le64(seqno);
	hdr->msg_vmpck = (u8)dev->vmpck_id;
	hdr->msg_sz = cpu_to_le16((u16)sz);

	make_iv(iv, seqno);
	return snp_guest_plat_encrypt(dev, dev->vmpck, iv, &hdr->algo, SNP_MSG_AAD_LEN, payload, sz,
				      msg->payload, hdr->authtag);
}

static int verify_and_dec_payload(struct snp_guest_dev *dev, void *buf, size_t sz)
{
	const struct snp_msg_hdr *req_hdr = &dev->scratch->secret_request.hdr;
	struct snp_msg *resp = &dev->scratch->secret_response;
	struct snp_msg_hdr *hdr = &resp->hdr;
	u64 resp_seqno, req_seqno;
	size_t msg_sz;
	u8 iv[SNP_MSG_IV_LEN];

	/* Private copy first: the hypervisor may still write the shared page. */
	memcpy(resp, &dev->shared->response, sizeof(*resp));

	resp_seqno = le64_to_cpu(hdr->msg_seqno);
	req_seqno = le64_to_cpu(req_hdr->msg_seqno);
	if (resp_seqno != req_seqno + 1)
		return -EBADMSG;
	if (hdr->msg_type != req_hdr->msg_type + 1 || hdr->msg_version != req_hdr->msg_version)
		return -EBADMSG;
	msg_sz = le16_to_cpu(hdr->msg_sz);
	if (msg_sz > SNP_MSG_PAYLOAD_MAX || msg_sz + SNP_MSG_AUTHTAG_LEN > sz)
		return -EBADMSG;

	make_iv(iv, resp_seqno);
	return snp_guest_plat_decrypt(dev, dev->vmpck, iv, &hdr->algo, SNP_MSG_AAD_LEN,
				      resp->payload, msg_sz, buf, hdr->authtag);
}

/*
 * Whether the hypervisor handled the exit (Linux: verify_exception_info()):
 * SNP_ES_OK, or the positive SNP_ES_EXCEPTION / SNP_ES_VMM_ERROR.
 */
static int verify_exit_info(u64 info1, u64 info2)
{
	u64 vec = info2 & SNP_EVTINJ_VEC_MASK;

	if (!(u32)info1)
		return SNP_ES_OK;
	if ((u32)info1 == 1 && (info2 & SNP_EVTINJ_VALID) &&
	    (vec == SNP_X86_TRAP_GP || vec == SNP_X86_TRAP_UD) &&
	    (info2 & SNP_EVTINJ_TYPE_MASK) == SNP_EVTINJ_TYPE_EXCEPT)
		return SNP_ES_EXCEPTION;
	return SNP_ES_VMM_ERROR;
}

/*
 * One VMGEXIT. Returns 0, -EAGAIN (BUSY), -ENOSPC (certificate area too
 * small), -EIO, or (Linux: snp_issue_guest_request()) the positive
 * SNP_ES_* of an exit the hypervisor refused.
 */
static int issue_guest_request(struct snp_guest_dev *dev, u64 exit_code, u64 *exitinfo2)
{
	struct snp_guest_shared *sh = dev->shared;
	struct snp_ghcb *ghcb = &sh->ghcb;
	u64 info1, info2;
	int rc;

	memset(ghcb, 0, sizeof(*ghcb));
	ghcb->protocol_version = cpu_to_le16(SNP_GHCB_PROTOCOL_VERSION);
	ghcb->sw_exit_code = cpu_to_le64(exit_code);
	ghcb->sw_exit_info_1 = cpu_to_le64(snp_gpa(&sh->request));
	ghcb->sw_exit_info_2 = cpu_to_le64(snp_gpa(&sh->response));
	SNP_GHCB_SET_VALID(ghcb, sw_exit_code);
	SNP_GHCB_SET_VALID(ghcb, sw_exit_info_1);
	SNP_GHCB_SET_VALID(ghcb, sw_exit_info_2);
	if (exit_code == SNP_NAE_EXT_GUEST_REQUEST) {
		ghcb->rax = cpu_to_le64(snp_gpa(sh->certs));
		ghcb->rbx = cpu_to_le64(dev->certs_npages);
		SNP_GHCB_SET_VALID(ghcb, rax);
		SNP_GHCB_SET_VALID(ghcb, rbx);
	}

	dev->nr_requests++;
	rc = snp_guest_plat_vmgexit(dev, ghcb);
	if (rc < 0)
		return rc;

	info1 = le64_to_cpu(READ_ONCE(ghcb->sw_exit_info_1));
	info2 = le64_to_cpu(READ_ONCE(ghcb->sw_exit_info_2));
	if (!rc)
		rc = verify_exit_info(info1, info2);
	/*
	 * The hypervisor refused the exit itself and the firmware never saw
	 * the message. Linux reports SEV_RET_NO_FW_CALL then, not whatever the
	 * hypervisor put into SW_EXITINFO2, and returns the GHCB call's
	 * positive result as it is (the caller wipes the VMPCK).
	 */
	if (rc) {
		*exitinfo2 = SNP_EXITINFO2_EXIT_REFUSED;
		return rc;
	}
	*exitinfo2 = info2;

	switch (info2) {
	case 0:
		return 0;
	case SNP_EXITINFO2_VMM(SNP_VMM_ERR_BUSY):
		return -EAGAIN;
	case SNP_EXITINFO2_VMM(SNP_VMM_ERR_INVALID_LEN):
		if (exit_code == SNP_NAE_EXT_GUEST_REQUEST) {
			u64 npages = le64_to_cpu(READ_ONCE(ghcb->rbx));

			/* untrusted: keep the length representable in certs_len */
			if (npages > (U32_MAX >> 12))
				npages = U32_MAX >> 12;
			dev->certs_npages = (u32)npages;
			return -ENOSPC;
		}
		return -EIO;
	default:
		return -EIO;
	}
}

static int __handle_guest_request(struct snp_guest_dev *dev, u64 exit_code,
				  struct snp_ioc_guest_request *arg)
{
	u64 override_err = 0, exitinfo2 = SNP_EXITINFO2_NO_FW_CALL;
	u64 req_start = snp_guest_plat_clock_ns(dev), elapsed;
	u32 override_npages = 0;
	int rc;

retry_request:
	rc = issue_guest_request(dev, exit_code, &exitinfo2);
	switch (rc) {
	case -ENOSPC:
		/*
		 * The certificate area was too small and the hypervisor did not
		 * forward the request. Send the same message as a plain request
		 * so the sequence number is consumed and never reused.
		 */
		override_npages = dev->certs_npages;
		exit_code = SNP_NAE_GUEST_REQUEST;
		override_err = SNP_EXITINFO2_VMM(SNP_VMM_ERR_INVALID_LEN);
		snp_guest_plat_event(dev, SNP_GUEST_EV_CERTS_TOO_SMALL, override_npages);
		goto retry_request;
	case -EAGAIN:
		/*
		 * Throttled: resend the identical message, never a new one.
		 * As Linux, the budget is the time elapsed since the first
		 * attempt (the exits and any oversleep count, not only the
		 * nominal sleeps), checked before sleeping and only once it is
		 * strictly exceeded; the caller then gets -ETIMEDOUT with the
		 * last BUSY in exitinfo2. A clock that went backwards reads
		 * as a huge elapsed time: the request gives up, never loops.
		 */
		elapsed = snp_guest_plat_clock_ns(dev) - req_start;
		if (elapsed > (u64)dev->retry_timeout_ms * NSEC_PER_MSEC) {
			rc = -ETIMEDOUT;
			break;
		}
		dev->nr_busy_retries++;
		snp_guest_plat_event(dev, SNP_GUEST_EV_BUSY_RETRY, div_u64(elapsed, NSEC_PER_MSEC));
		/*
		 * Linux: schedule_timeout_killable(), its result unused (only
		 * counted here). A fatal signal ends the sleeps, not the
		 * request: the message is resent at once, again and again,
		 * until the host answers or the budget above is spent
		 * (-ETIMEDOUT, VMPCK wiped).
		 */
		if (snp_guest_plat_sleep_killable(dev, dev->retry_interval_ms))
			dev->nr_busy_killed++;
		goto retry_request;
	}

	/*
	 * The sequence number is spent whatever happened: the response check
	 * uses the values in the private copies, and any failure below wipes
	 * the VMPCK anyway.
	 */
	snp_inc_msg_seqno(dev);

	arg->exitinfo2 = exitinfo2;
	if (override_err) {
		arg->exitinfo2 = override_err;
		if (override_npages)
			dev->certs_npages = override_npages;
		if (!rc)
			rc = -EIO;
	}
	return rc;
}

static int handle_guest_request(struct snp_guest_dev *dev, u64 exit_code,
				struct snp_ioc_guest_request *arg, u8 type, const void *req,
				size_t req_sz, void *resp, size_t resp_sz)
{
	u64 seqno;
	int rc;

	lockdep_assert_held(&dev->cmd_mutex);
	/*
	 * As Linux since 6.13 (snp_send_guest_request(), in
	 * arch/x86/coco/sev/core.c since 6.14): the key is checked here, after
	 * each ioctl's own checks of its arguments, so a NULL or bad req_data
	 * still gives -EINVAL or -EFAULT on a device whose VMPCK is gone.
	 */
	if (snp_guest_vmpck_disabled(dev)) {
		pr_err_ratelimited("VMPCK is disabled\n");
		return -ENOTTY;
	}
	seqno = snp_guest_next_seqno(dev);
	if (!seqno)
		return -EIO;

	memset(&dev->shared->response, 0, sizeof(dev->shared->response));
	memset(resp, 0, resp_sz);

	rc = enc_payload(dev, seqno, arg->msg_version, type, req, req_sz);
	if (rc)
		return rc;
	memcpy(&dev->shared->request, &dev->scratch->secret_request,
	       sizeof(struct snp_msg_hdr) + req_sz);

	rc = __handle_guest_request(dev, exit_code, arg);
	if (rc) {
		if (rc == -EIO && arg->exitinfo2 == SNP_EXITINFO2_VMM(SNP_VMM_ERR_INVALID_LEN))
			return rc;
		snp_guest_disable_vmpck(dev, arg->exitinfo2);
		return rc;
	}

	rc = verify_and_dec_payload(dev, resp, resp_sz);
	if (rc) {
		snp_guest_disable_vmpck(dev, (u64)(s64)rc);
		return rc;
	}
	return 0;
}

static int get_report(struct snp_guest_dev *dev, struct snp_ioc_guest_request *arg)
{
	struct snp_ioc_report_req *req = &dev->scratch->req.report;
	u8 *payload = dev->scratch->payload;
	int rc;

	lockdep_assert_held(&dev->cmd_mutex);
	if (!arg->req_data || !arg->resp_data)
		return -EINVAL;
	if (copy_from_user(req, u64_to_user_ptr(arg->req_data), sizeof(*req)))
		return -EFAULT;

	rc = handle_guest_request(dev, SNP_NAE_GUEST_REQUEST, arg, SNP_MSG_REPORT_REQ, req,
				  sizeof(*req), payload,
				  sizeof(struct snp_ioc_report_resp) + SNP_MSG_AUTHTAG_LEN);
	if (!rc && copy_to_user(u64_to_user_ptr(arg->resp_data), payload,
				sizeof(struct snp_ioc_report_resp)))
		rc = -EFAULT;
	memzero_explicit(req, sizeof(*req));
	memzero_explicit(payload, sizeof(dev->scratch->payload));
	return rc;
}

static int get_derived_key(struct snp_guest_dev *dev, struct snp_ioc_guest_request *arg)
{
	struct snp_ioc_derived_key_req *req = &dev->scratch->req.key;
	u8 *payload = dev->scratch->payload;
	int rc;

	lockdep_assert_held(&dev->cmd_mutex);
	if (!arg->req_data || !arg->resp_data)
		return -EINVAL;
	if (copy_from_user(req, u64_to_user_ptr(arg->req_data), sizeof(*req)))
		return -EFAULT;

	rc = handle_guest_request(dev, SNP_NAE_GUEST_REQUEST, arg, SNP_MSG_KEY_REQ, req,
				  sizeof(*req), payload,
				  sizeof(struct snp_ioc_derived_key_resp) + SNP_MSG_AUTHTAG_LEN);
	if (!rc && copy_to_user(u64_to_user_ptr(arg->resp_data), payload,
				sizeof(struct snp_ioc_derived_key_resp)))
		rc = -EFAULT;
	/* the response holds the derived key */
	memzero_explicit(req, sizeof(*req));
	memzero_explicit(payload, sizeof(dev->scratch->payload));
	return rc;
}

static int get_ext_report(struct snp_guest_dev *dev, struct snp_ioc_guest_request *arg)
{
	struct snp_ioc_ext_report_req *req = &dev->scratch->ext_req;
	u8 *payload = dev->scratch->payload;
	u32 npages = 0;
	int rc;

	lockdep_assert_held(&dev->cmd_mutex);
	if (!arg->req_data || !arg->resp_data)
		return -EINVAL;
	if (copy_from_user(req, u64_to_user_ptr(arg->req_data), sizeof(*req)))
		return -EFAULT;

	if (req->certs_len && req->certs_address) {
		if (req->certs_len > SNP_CERTS_MAX_LEN || (req->certs_len & (SNP_PAGE_SIZE - 1)))
			return -EINVAL;
		/* zeros tell the caller that the host supplied no certificates */
		memset(dev->shared->certs, 0, req->certs_len);
		/* fail before the request: a sequence number is not spent on this */
		if (!access_ok(u64_to_user_ptr(req->certs_address), req->certs_len))
			return -EFAULT;
		npages = req->certs_len / SNP_PAGE_SIZE;
	}
	dev->certs_npages = npages;

	rc = handle_guest_request(dev, SNP_NAE_EXT_GUEST_REQUEST, arg, SNP_MSG_REPORT_REQ,
				  &req->data, sizeof(req->data), payload,
				  sizeof(struct snp_ioc_report_resp) + SNP_MSG_AUTHTAG_LEN);

	/* Too small: tell the caller how much the host wants. */
	if (arg->exitinfo2 == SNP_EXITINFO2_VMM(SNP_VMM_ERR_INVALID_LEN)) {
		req->certs_len = dev->certs_npages * SNP_PAGE_SIZE;
		if (copy_to_user(u64_to_user_ptr(arg->req_data), req, sizeof(*req)))
			rc = -EFAULT;
	}
	if (rc)
		goto out;

	if (npages &&
	    copy_to_user(u64_to_user_ptr(req->certs_address), dev->shared->certs, req->certs_len)) {
		rc = -EFAULT;
		goto out;
	}
	if (copy_to_user(u64_to_user_ptr(arg->resp_data), payload,
			 sizeof(struct snp_ioc_report_resp)))
		rc = -EFAULT;
out:
	memzero_explicit(payload, sizeof(dev->scratch->payload));
	return rc;
}

int snp_guest_ioctl_locked(struct snp_guest_dev *dev, unsigned int cmd,
			   struct snp_ioc_guest_request __user *argp)
{
	struct snp_ioc_guest_request input;
	int rc;

	if (!dev || !dev->secrets)
		return -EINVAL;
	lockdep_assert_held(&dev->cmd_mutex);
	if (copy_from_user(&input, argp, sizeof(input)))
		return -EFAULT;

	/* Before any check: the caller never reads back its own value. */
	input.exitinfo2 = SNP_EXITINFO2_NO_FW_CALL;

	/* a wiped VMPCK is found later, by handle_guest_request() */
	if (!input.msg_version) {
		rc = -EINVAL;
	} else {
		switch (cmd) {
		case SNP_IOC_GET_REPORT:
			rc = get_report(dev, &input);
			break;
		case SNP_IOC_GET_DERIVED_KEY:
			rc = get_derived_key(dev, &input);
			break;
		case SNP_IOC_GET_EXT_REPORT:
			rc = get_ext_report(dev, &input);
			break;
		default:
			rc = -ENOTTY;
			break;
		}
	}

	/* as Linux: written back only when there is an error to report */
	if (input.exitinfo2 && copy_to_user(argp, &input, sizeof(input)))
		return -EFAULT;
	return rc;
}

int snp_guest_ioctl(struct snp_guest_dev *dev, unsigned int cmd,
		    struct snp_ioc_guest_request __user *argp)
{
	int rc;

	if (!dev || !dev->secrets)
		return -EINVAL;
	mutex_lock(&dev->cmd_mutex);
	rc = snp_guest_ioctl_locked(dev, cmd, argp);
	mutex_unlock(&dev->cmd_mutex);
	return rc;
}

/*
 * A message of the kernel's own (Linux >= 6.14: snp_send_guest_request(),
 * e.g. TSC_INFO_REQ at boot with Secure TSC). Same VMPCK, sequence
 * numbers, retries and disabling rules as the ioctls; the caller
 * serialises it with them. @resp gets @resp_sz bytes of the plaintext.
 */
int snp_guest_send_request(struct snp_guest_dev *dev, u8 type, u8 version, const void *req,
			   size_t req_sz, void *resp, size_t resp_sz, u64 *exitinfo2)
{
	struct snp_ioc_guest_request arg = { .msg_version = version };
	u8 *payload;
	int rc;

	if (!dev || !dev->secrets || !req || !resp || !version)
		return -EINVAL;
	lockdep_assert_held(&dev->cmd_mutex);
	if (!req_sz || req_sz > SNP_MSG_PAYLOAD_MAX || resp_sz > SNP_MSG_PAYLOAD_MAX)
		return -EINVAL;
	if (snp_guest_vmpck_disabled(dev))
		return -ENOTTY;

	payload = dev->scratch->payload;
	arg.exitinfo2 = SNP_EXITINFO2_NO_FW_CALL;
	rc = handle_guest_request(dev, SNP_NAE_GUEST_REQUEST, &arg, type, req, req_sz, payload,
				  resp_sz + SNP_MSG_AUTHTAG_LEN);
	if (!rc)
		memcpy(resp, payload, resp_sz);
	memzero_explicit(payload, sizeof(dev->scratch->payload));
	if (exitinfo2)
		*exitinfo2 = arg.exitinfo2;
	return rc;
}
