/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * SEV-SNP guest-request driver: the guest side of SNP_GUEST_REQUEST and
 * SNP_EXT_GUEST_REQUEST, modelled on Linux's sev-guest driver.
 *
 * The driver is freestanding: it allocates nothing, the caller hands it the
 * secrets page, its private scratch pages and the pages it shares with the
 * hypervisor. It reaches the platform only through the snp_guest_plat_*()
 * link-time functions (the VMGEXIT, a sleep and a monotonic clock for the
 * BUSY backoff, AES-256-GCM), defined by the Linux module or by the
 * simulator.
 *
 * Rules it keeps (snp-abi.md §2.3, §2.4):
 *  - one message sequence number per ioctl; requests odd, responses even;
 *  - on BUSY the *same* encrypted message is resent, with backoff, until
 *    the retry timeout (60 s by default) has elapsed since the first
 *    attempt (elapsed time, as Linux: the exits and oversleeping count);
 *    a fatal signal cuts the sleeps short, not the retries;
 *  - a too-small certificate buffer is answered by resending the message
 *    as a plain guest request (so the sequence number is consumed) and
 *    -EIO with exitinfo2 = 1 << 32 and the needed length;
 *  - any other failure that might leave the sequence numbers out of step
 *    wipes the VMPCK; every later request fails with -ENOTTY once its
 *    arguments passed their checks (where Linux checks the key, since 6.13).
 */
#ifndef SNP_KERNEL_GUEST_H
#define SNP_KERNEL_GUEST_H

#include "kernel/compat.h"
#include "kernel/snp-certs.h"
#include "kernel/snp-ghcb.h"
#include "kernel/snp-msg.h"
#include "kernel/snp-uapi.h"

/* Linux: the ioctl sets exitinfo2 to 0xff before anything else is checked. */
#define SNP_EXITINFO2_NO_FW_CALL 0xffULL
/*
 * Linux's SEV_RET_NO_FW_CALL (-1 in <uapi/linux/psp-sev.h>): the exit was
 * made but the hypervisor refused it (SW_EXITINFO1[31:0] != 0), so the
 * firmware never ran; the hypervisor's SW_EXITINFO2 is not reported.
 * The request then fails, as in Linux, with a *positive* result: the GHCB
 * call's SNP_ES_VMM_ERROR (2) or SNP_ES_EXCEPTION (4) (kernel/snp-ghcb.h),
 * which snp_guest_ioctl() returns unmapped. Linux's ioctl hands that value
 * to userspace, errno untouched; the simulator does the same
 * (sim/preload.c), the module returns -EIO instead (snp-guest-mod.c).
 */
#define SNP_EXITINFO2_EXIT_REFUSED (~0ULL)

/* Linux: retry a throttled request every 2 s for up to 60 s. */
#define SNP_GUEST_RETRY_INTERVAL_MS 2000U
#define SNP_GUEST_RETRY_TIMEOUT_MS  60000U

/* Pages the guest shares with the hypervisor (decrypted memory). */
struct snp_guest_shared {
	struct snp_msg request;
	struct snp_msg response;
	struct snp_ghcb ghcb;
	u8 certs[SNP_CERTS_MAX_LEN];
};

/* Guest-private scratch: plaintext never leaves these. */
struct snp_guest_private {
	struct snp_msg secret_request;
	struct snp_msg secret_response;
	u8 payload[SNP_MSG_PAYLOAD_MAX + SNP_MSG_AUTHTAG_LEN];
	struct snp_ioc_ext_report_req ext_req;
	union {
		struct snp_ioc_report_req report;
		struct snp_ioc_derived_key_req key;
	} req;
};

/* Events the driver reports to the platform (for logging and statistics). */
enum snp_guest_event {
	SNP_GUEST_EV_VMPCK_DISABLED,  /* info: exitinfo2 or -errno of the cause */
	SNP_GUEST_EV_BUSY_RETRY,      /* info: milliseconds since the first attempt */
	SNP_GUEST_EV_CERTS_TOO_SMALL, /* info: pages needed */
};

/*
 * The platform, as link-time functions rather than a table of function
 * pointers: the Linux module defines them (snp-guest-mod.c), and so does
 * the simulator for its userspace platforms (sim/guest-platform.c). Each
 * gets the device; dev->priv is the platform's own.
 *
 * snp_guest_plat_vmgexit: VMGEXIT with the GHCB image set up for a guest
 * request (SW_EXITCODE, SW_EXITINFO1/2 and for the extended request
 * RAX/RBX). Returns 0 when the hypervisor answered (result in
 * SW_EXITINFO1/2 and RBX of the image; the driver judges SW_EXITINFO1
 * itself), a positive SNP_ES_* when the platform already judged the exit
 * refused (a kernel's own snp_issue_guest_request()), or a negative errno
 * when the exit itself could not be made.
 *
 * snp_guest_plat_encrypt/decrypt: AES-256-GCM with a 12-byte IV and a
 * 16-byte tag. @in and @out may be the same buffer. decrypt returns
 * -EBADMSG when the tag does not match and writes no plaintext then.
 *
 * snp_guest_plat_sleep_killable: sleep @ms between BUSY retries, or less
 * when a fatal signal is pending (Linux: schedule_timeout_killable(), which
 * with such a signal returns at once, for every later call too). Returns
 * 0 after the whole sleep, -EINTR when a fatal signal is pending. The
 * driver goes on resending either way, as Linux does.
 * snp_guest_plat_clock_ns: a monotonic clock in nanoseconds (any origin),
 * which times the BUSY retry budget; it must advance across the sleeps
 * and the exits (the module: ktime_get_ns(); the simulator: CLOCK_MONOTONIC,
 * or a test's virtual clock).
 * snp_guest_plat_event: report an event (logging, statistics).
 */
struct snp_guest_dev;
int snp_guest_plat_vmgexit(struct snp_guest_dev *dev, struct snp_ghcb *ghcb);
int snp_guest_plat_encrypt(struct snp_guest_dev *dev, const u8 *key, const u8 *iv, const u8 *aad,
			   size_t aad_len, const u8 *in, size_t len, u8 *out, u8 *tag);
int snp_guest_plat_decrypt(struct snp_guest_dev *dev, const u8 *key, const u8 *iv, const u8 *aad,
			   size_t aad_len, const u8 *in, size_t len, u8 *out, const u8 *tag);
int snp_guest_plat_sleep_killable(struct snp_guest_dev *dev, unsigned int ms);
u64 snp_guest_plat_clock_ns(struct snp_guest_dev *dev);
void snp_guest_plat_event(struct snp_guest_dev *dev, enum snp_guest_event ev, u64 info);

struct snp_guest_dev {
	/*
	 * Serialises everything below, the sequence number in the secrets
	 * page and the shared pages (Linux: snp_cmd_mutex).
	 */
	struct mutex cmd_mutex;
	void *priv; /* the platform's */
	struct snp_secrets_page *secrets;
	u8 *vmpck; /* into @secrets; NULL once disabled */
	u32 vmpck_id;
	struct snp_guest_shared *shared;
	struct snp_guest_private *scratch;
	unsigned int retry_interval_ms;
	unsigned int retry_timeout_ms;
	u32 certs_npages; /* in/out for the extended request */
	/* statistics */
	u64 nr_requests;
	u64 nr_busy_retries;
	u64 nr_busy_killed; /* of those, sent after a sleep a fatal signal cut short */
};

/*
 * Set up @dev. @secrets, @shared and @scratch stay owned by the caller and
 * must outlive @dev; @shared must be memory the hypervisor can see. A
 * VMPCK that is already all zero (disabled before) is accepted: every
 * request then fails with -ENOTTY (snp_guest_probe() refuses it).
 * Returns 0, or -EINVAL for a bad argument or secrets page version (below
 * 2: a check Linux does not make; firmware writes 2 or more).
 */
int snp_guest_init(struct snp_guest_dev *dev, void *priv, struct snp_secrets_page *secrets,
		   u32 vmpck_id, struct snp_guest_shared *shared,
		   struct snp_guest_private *scratch);

/*
 * What Linux's probe does (sev_guest_probe(); snp_msg_init() in core.c
 * since 6.14): snp_guest_init(), then refuse an all-zero VMPCK with
 * "Empty VMPCK%u communication key" and -EINVAL, so that no device appears
 * for a key that was disabled before (or that this VMPL never had). The
 * module probes with this; the simulator uses snp_guest_init(), since its
 * device stands for a driver that was already loaded (a key wiped there
 * gives -ENOTTY until the guest is relaunched). Nothing to release on
 * failure.
 */
int snp_guest_probe(struct snp_guest_dev *dev, void *priv, struct snp_secrets_page *secrets,
		    u32 vmpck_id, struct snp_guest_shared *shared,
		    struct snp_guest_private *scratch);

/* Wipe the private scratch and forget the pages; nobody may hold the lock. */
void snp_guest_release(struct snp_guest_dev *dev);

/* Backoff for BUSY (tests use short values); 0 keeps the default. */
void snp_guest_set_retry(struct snp_guest_dev *dev, unsigned int interval_ms,
			 unsigned int timeout_ms);

bool snp_guest_vmpck_disabled(const struct snp_guest_dev *dev);

/* Wipe the VMPCK in the secrets page: all later requests get -ENOTTY. */
void snp_guest_disable_vmpck(struct snp_guest_dev *dev, u64 cause);

/* The sequence number the next request would use (0 = exhausted). */
u64 snp_guest_next_seqno(const struct snp_guest_dev *dev);

/*
 * The /dev/sev-guest ioctl: @cmd is SNP_IOC_GET_REPORT,
 * SNP_IOC_GET_DERIVED_KEY or SNP_IOC_GET_EXT_REPORT; @argp, and req_data,
 * resp_data and certs_address in the structures, are user pointers, read
 * and written only with copy_from_user()/copy_to_user() (-EFAULT when they
 * do not point at the caller's memory). Returns 0 or a negative errno as
 * the Linux driver does, or as Linux a positive SNP_ES_* when the
 * hypervisor refused the exit (the VMPCK is wiped then, exitinfo2 is
 * SNP_EXITINFO2_EXIT_REFUSED); exitinfo2 in *@argp carries the firmware
 * and VMM error. Takes dev->cmd_mutex.
 */
int snp_guest_ioctl(struct snp_guest_dev *dev, unsigned int cmd,
		    struct snp_ioc_guest_request __user *argp);

/*
 * The same with dev->cmd_mutex already held by the caller (a platform that
 * must bring the secrets page up to date under the same lock first).
 */
int snp_guest_ioctl_locked(struct snp_guest_dev *dev, unsigned int cmd,
			   struct snp_ioc_guest_request __user *argp);

/*
 * A guest message the kernel sends for itself (Linux's
 * snp_send_guest_request(); TSC_INFO_REQ at boot): @type and @version in
 * the header, @req_sz bytes of @req encrypted, @resp_sz bytes of the
 * response payload into @resp. The caller serialises it with the ioctls.
 * Returns 0, a negative errno or a positive SNP_ES_* as snp_guest_ioctl();
 * *@exitinfo2 (if not NULL) gets the firmware and VMM error.
 */
int snp_guest_send_request(struct snp_guest_dev *dev, u8 type, u8 version, const void *req,
			   size_t req_sz, void *resp, size_t resp_sz, u64 *exitinfo2);

#endif /* SNP_KERNEL_GUEST_H */
