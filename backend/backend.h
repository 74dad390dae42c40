/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Attestation backends behind one ops table, chosen by a string
 * "NAME[:CONFIG]":
 *   sev-guest[:/dev/sev-guest]   the Linux guest driver's ioctls
 *   tsm[:/sys/kernel/config/tsm/report]
 *                                Linux configfs-tsm (reports and certificates)
 *   sim[:STATE_DIR]              the kernel/ driver over the simulated
 *                                platform, in process
 *   auto                         configfs-tsm, then /dev/sev-guest; never the
 *                                simulator (that must be chosen explicitly)
 *
 * The dispatcher (snp_backend_*) checks the arguments common to every
 * backend (VMPL range, capabilities, field-select bits, output sizes)
 * before a backend sees them.
 */
#ifndef SNP_LIB_BACKEND_H
#define SNP_LIB_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel/snp-msg.h"

enum {
	SNP_BACKEND_CAP_REPORT = 1U << 0,
	SNP_BACKEND_CAP_CERTS = 1U << 1, /* certificates with the report */
	SNP_BACKEND_CAP_DERIVED_KEY = 1U << 2,
	SNP_BACKEND_CAP_VMPL = 1U << 3, /* the caller may choose the VMPL */
};

struct snp_backend_report_req {
	u8 report_data[SNP_REPORT_DATA_SIZE];
	u32 vmpl;
	bool want_certs;
};

struct snp_backend_report {
	u8 report[SNP_REPORT_SIZE];
	/* the certificate table area as the host returned it (new), or NULL */
	u8 *certs;
	size_t certs_len;
};

struct snp_backend_key_req {
	bool root_vmrk; /* false: VCEK/VLEK */
	u32 key_sel;	/* 0 default, 1 VCEK, 2 VLEK */
	u64 guest_field_select;
	u32 vmpl;
	u32 guest_svn;
	u64 tcb_version;
};

/* What a failed request said; all zero when unknown. */
struct snp_backend_error {
	u32 fw_error;
	u32 vmm_error;
	u32 status; /* the status field inside the firmware's response */
	/*
	 * The host said the certificate area is too small (INVALID_LEN):
	 * the bytes it asked for, as the driver passed them on; else 0
	 */
	u32 certs_needed;
	char message[160]; /* why, when the backend knows more than an errno */
};

struct snp_backend_ops {
	const char *name;
	const char *help;
	unsigned int caps;
	/* config is the part after ':' or NULL; *ret_ctx is the backend's own */
	int (*open)(const char *config, void **ret_ctx, char *err, size_t errlen);
	void (*close)(void *ctx);
	/* 0 when the backend looks usable with @config, else -ENOENT etc. */
	int (*probe)(const char *config);
	int (*get_report)(void *ctx, const struct snp_backend_report_req *req,
			  struct snp_backend_report *ret, struct snp_backend_error *e);
	int (*get_derived_key)(void *ctx, const struct snp_backend_key_req *req,
			       u8 key[SNP_DERIVED_KEY_LEN], struct snp_backend_error *e);
};

extern const struct snp_backend_ops snp_backend_tsm;
extern const struct snp_backend_ops snp_backend_sevguest;
extern const struct snp_backend_ops snp_backend_sim;

struct snp_backend;

/* All known backends, NULL-terminated. */
const struct snp_backend_ops *const *snp_backend_list(void);
const struct snp_backend_ops *snp_backend_find(const char *name);

/*
 * Open the backend named by @spec. Returns 0 and a new handle, or a
 * negative errno with a message in @err (-ENOENT unknown backend or
 * missing device, -EINVAL bad spec).
 */
int snp_backend_open(const char *spec, struct snp_backend **ret, char *err, size_t errlen);
struct snp_backend *snp_backend_free(struct snp_backend *b);
const struct snp_backend_ops *snp_backend_ops(const struct snp_backend *b);

/*
 * Fetch a report. On success *ret holds the report and possibly
 * certificates (free with snp_backend_report_release()). Errors:
 * -EINVAL bad argument, -EOPNOTSUPP capability missing, -ENOTTY the
 * device disabled its key, -EIO/-ENXIO the firmware or host refused (see
 * @e), -ETIMEDOUT host busy for too long, -ESTALE the answer read back
 * was not of this request (configfs-tsm: another writer changed the
 * entry; @e says how), nothing wrong with the device: ask again.
 * -EMSGSIZE (want_certs): the host's certificate table is larger than
 * the guest's area (16 KiB, the most a Linux guest driver takes), @e has
 * the size it asked for; the same request without certificates may work.
 */
int snp_backend_get_report(struct snp_backend *b, const struct snp_backend_report_req *req,
			   struct snp_backend_report *ret, struct snp_backend_error *e);
void snp_backend_report_release(struct snp_backend_report *r);

/* The derived key goes to @key (32 bytes); the caller wipes it. */
int snp_backend_get_derived_key(struct snp_backend *b, const struct snp_backend_key_req *req,
				u8 key[SNP_DERIVED_KEY_LEN], struct snp_backend_error *e);

/* "policy,image_id,family_id,measurement,guest_svn,tcb_version" -> GFS bits. */
int snp_backend_parse_fields(const char *s, u64 *ret);

/* Human-readable name of a firmware status code ("INVALID_PARAM"). */
const char *snp_fw_status_name(u32 status);

/*
 * For backend implementations that speak the /dev/sev-guest ioctl ABI:
 * @fn performs one ioctl and returns 0, -errno, or the positive value the
 * driver returned (Linux: the hypervisor refused the exit, see
 * backend-sevguest.c); these build the requests, handle the
 * certificate-length negotiation and decode the responses. A positive
 * value is -EIO with a message in @e, and the response is not read.
 */
struct snp_ioc_guest_request;
typedef int (*snp_backend_ioctl_fn)(void *ctx, unsigned int cmd, struct snp_ioc_guest_request *arg);
int snp_backend_ioctl_report(snp_backend_ioctl_fn fn, void *ctx,
			     const struct snp_backend_report_req *req,
			     struct snp_backend_report *ret, struct snp_backend_error *e);
int snp_backend_ioctl_key(snp_backend_ioctl_fn fn, void *ctx, const struct snp_backend_key_req *req,
			  u8 key[SNP_DERIVED_KEY_LEN], struct snp_backend_error *e);

#endif
