/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * Our copy of the /dev/sev-guest ioctl ABI (Linux include/uapi/linux/
 * sev-guest.h), with snp_ioc_ names so that it can be compared with the
 * system header in one translation unit. Natural alignment, not packed:
 * these are what userspace passes to ioctl().
 */
#ifndef SNP_KERNEL_UAPI_H
#define SNP_KERNEL_UAPI_H

#include "kernel/compat.h"

struct snp_ioc_report_req {
	u8 user_data[64];
	u32 vmpl;
	u8 rsvd[28];
};

struct snp_ioc_report_resp {
	u8 data[4000];
};

struct snp_ioc_derived_key_req {
	u32 root_key_select;
	u32 rsvd;
	u64 guest_field_select;
	u32 vmpl;
	u32 guest_svn;
	u64 tcb_version;
};

struct snp_ioc_derived_key_resp {
	u8 data[64];
};

struct snp_ioc_guest_request {
	u8 msg_version;
	u64 req_data;
	u64 resp_data;
	union {
		u64 exitinfo2;
		struct {
			u32 fw_error;
			u32 vmm_error;
		};
	};
};

struct snp_ioc_ext_report_req {
	struct snp_ioc_report_req data;
	u64 certs_address;
	u32 certs_len;
};

#define SNP_IOC_TYPE		'S'
#define SNP_IOC_GET_REPORT	_IOWR(SNP_IOC_TYPE, 0x0, struct snp_ioc_guest_request)
#define SNP_IOC_GET_DERIVED_KEY _IOWR(SNP_IOC_TYPE, 0x1, struct snp_ioc_guest_request)
#define SNP_IOC_GET_EXT_REPORT	_IOWR(SNP_IOC_TYPE, 0x2, struct snp_ioc_guest_request)

SNP_ASSERT_SIZE(struct snp_ioc_report_req, 96);
SNP_ASSERT_OFFSET(struct snp_ioc_report_req, vmpl, 0x40);
SNP_ASSERT_OFFSET(struct snp_ioc_report_req, rsvd, 0x44);
SNP_ASSERT_SIZE(struct snp_ioc_report_resp, 4000);
SNP_ASSERT_SIZE(struct snp_ioc_derived_key_req, 32);
SNP_ASSERT_OFFSET(struct snp_ioc_derived_key_req, guest_field_select, 0x08);
SNP_ASSERT_OFFSET(struct snp_ioc_derived_key_req, vmpl, 0x10);
SNP_ASSERT_OFFSET(struct snp_ioc_derived_key_req, guest_svn, 0x14);
SNP_ASSERT_OFFSET(struct snp_ioc_derived_key_req, tcb_version, 0x18);
SNP_ASSERT_SIZE(struct snp_ioc_derived_key_resp, 64);
SNP_ASSERT_SIZE(struct snp_ioc_guest_request, 32);
SNP_ASSERT_OFFSET(struct snp_ioc_guest_request, req_data, 0x08);
SNP_ASSERT_OFFSET(struct snp_ioc_guest_request, resp_data, 0x10);
SNP_ASSERT_OFFSET(struct snp_ioc_guest_request, exitinfo2, 0x18);
SNP_ASSERT_OFFSET(struct snp_ioc_guest_request, fw_error, 0x18);
SNP_ASSERT_OFFSET(struct snp_ioc_guest_request, vmm_error, 0x1c);
SNP_ASSERT_SIZE(struct snp_ioc_ext_report_req, 112);
SNP_ASSERT_OFFSET(struct snp_ioc_ext_report_req, certs_address, 0x60);
SNP_ASSERT_OFFSET(struct snp_ioc_ext_report_req, certs_len, 0x68);

#endif /* SNP_KERNEL_UAPI_H */
