/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * SEV-SNP guest messages (SNP_GUEST_REQUEST): the 0x60-byte header, the
 * message types, the report and key request/response bodies, firmware
 * status codes and the secrets page.
 */
#ifndef SNP_KERNEL_MSG_H
#define SNP_KERNEL_MSG_H

#include "kernel/compat.h"
#include "kernel/snp-report.h"

#define SNP_PAGE_SIZE	    4096
#define SNP_MSG_HDR_SIZE    0x60
#define SNP_MSG_PAYLOAD_MAX (SNP_PAGE_SIZE - SNP_MSG_HDR_SIZE) /* 4000 */
#define SNP_MSG_AUTHTAG_LEN 16
#define SNP_MSG_AAD_OFFSET  0x30
#define SNP_MSG_AAD_LEN	    48
#define SNP_MSG_IV_LEN	    12
#define SNP_VMPCK_LEN	    32
#define SNP_VMPCK_MAX	    3

#define SNP_AEAD_AES_256_GCM 1
#define SNP_MSG_HDR_VERSION  1

enum snp_msg_type {
	SNP_MSG_TYPE_INVALID = 0,
	SNP_MSG_CPUID_REQ,
	SNP_MSG_CPUID_RSP,
	SNP_MSG_KEY_REQ,
	SNP_MSG_KEY_RSP,
	SNP_MSG_REPORT_REQ,
	SNP_MSG_REPORT_RSP,
	SNP_MSG_EXPORT_REQ,
	SNP_MSG_EXPORT_RSP,
	SNP_MSG_IMPORT_REQ,
	SNP_MSG_IMPORT_RSP,
	SNP_MSG_ABSORB_REQ,
	SNP_MSG_ABSORB_RSP,
	SNP_MSG_VMRK_REQ,
	SNP_MSG_VMRK_RSP,
	SNP_MSG_ABSORB_NOMA_REQ,
	SNP_MSG_ABSORB_NOMA_RSP,
	SNP_MSG_TSC_INFO_REQ,
	SNP_MSG_TSC_INFO_RSP,
};

struct snp_msg_hdr {
	u8 authtag[32];	  /* 0x00: GCM tag in 0..15 */
	__le64 msg_seqno; /* 0x20 */
	u8 rsvd1[8];	  /* 0x28 */
	u8 algo;	  /* 0x30: start of the AAD */
	u8 hdr_version;	  /* 0x31 */
	__le16 hdr_sz;	  /* 0x32 */
	u8 msg_type;	  /* 0x34 */
	u8 msg_version;	  /* 0x35 */
	__le16 msg_sz;	  /* 0x36 */
	__le32 rsvd2;	  /* 0x38 */
	u8 msg_vmpck;	  /* 0x3c */
	u8 rsvd3[35];	  /* 0x3d */
} __packed;

struct snp_msg {
	struct snp_msg_hdr hdr;
	u8 payload[SNP_MSG_PAYLOAD_MAX];
} __packed;

/* MSG_REPORT_REQ */
#define SNP_REPORT_KEY_SEL_MASK GENMASK(1, 0)
enum snp_key_sel {
	SNP_KEY_SEL_DEFAULT = 0, /* VLEK if installed, else VCEK */
	SNP_KEY_SEL_VCEK = 1,
	SNP_KEY_SEL_VLEK = 2,
	SNP_KEY_SEL_RSVD = 3,
};

struct snp_report_req_msg {
	u8 report_data[SNP_REPORT_DATA_SIZE]; /* 0x00 */
	__le32 vmpl;			      /* 0x40 */
	__le32 key_sel;			      /* 0x44 bits 1:0 */
	u8 rsvd[24];			      /* 0x48 */
} __packed;

struct snp_report_rsp_msg {
	__le32 status;		  /* 0x00 */
	__le32 report_size;	  /* 0x04 */
	u8 rsvd[24];		  /* 0x08 */
	struct snp_report report; /* 0x20 */
} __packed;

/* MSG_KEY_REQ */
#define SNP_KEY_ROOT_SELECT_VMRK  BIT(0)
#define SNP_KEY_REQ_KEY_SEL_SHIFT 1
#define SNP_KEY_REQ_KEY_SEL_MASK  GENMASK(2, 1)
#define SNP_KEY_REQ_FLAGS_MBZ	  GENMASK(31, 3)

#define SNP_GFS_POLICY	    BIT_ULL(0)
#define SNP_GFS_IMAGE_ID    BIT_ULL(1)
#define SNP_GFS_FAMILY_ID   BIT_ULL(2)
#define SNP_GFS_MEASUREMENT BIT_ULL(3)
#define SNP_GFS_GUEST_SVN   BIT_ULL(4)
#define SNP_GFS_TCB_VERSION BIT_ULL(5)
#define SNP_GFS_LAUNCH_MIT  BIT_ULL(6) /* KEY_REQ v2 only */
#define SNP_GFS_V1_MASK	    GENMASK_ULL(5, 0)
#define SNP_GFS_V2_MASK	    GENMASK_ULL(6, 0)

struct snp_key_req_msg {
	__le32 flags;		   /* 0x00: root select, key_sel */
	__le32 rsvd;		   /* 0x04 */
	__le64 guest_field_select; /* 0x08 */
	__le32 vmpl;		   /* 0x10 */
	__le32 guest_svn;	   /* 0x14 */
	__le64 tcb_version;	   /* 0x18 */
} __packed;

struct snp_key_req_v2_msg {
	struct snp_key_req_msg v1; /* 0x00 */
	__le64 launch_mit_vector;  /* 0x20 */
} __packed;

#define SNP_DERIVED_KEY_LEN 32

struct snp_key_rsp_msg {
	__le32 status;			     /* 0x00 */
	u8 rsvd[28];			     /* 0x04 */
	u8 derived_key[SNP_DERIVED_KEY_LEN]; /* 0x20 */
} __packed;

/* The KDF context the firmware feeds to HMAC-SHA256 (MIX_DATA). */
struct snp_key_mix_data {
	__le32 key_select;	   /* 0x00: bit 0 root, bits 2:1 ID block key */
	__le32 rsvd;		   /* 0x04 */
	__le64 guest_field_select; /* 0x08 */
	__le32 vmpl;		   /* 0x10 */
	__le32 guest_svn;	   /* 0x14 */
	__le64 tcb_version;	   /* 0x18 */
	__le64 policy;		   /* 0x20 */
	u8 image_id[16];	   /* 0x28 */
	u8 family_id[16];	   /* 0x38 */
	u8 measurement[32];	   /* 0x48 */
	u8 host_data[32];	   /* 0x68 */
	u8 idblock_key_digest[32]; /* 0x88 */
} __packed;

#define SNP_KDF_LABEL "gmsg-keyreq"

/* Firmware status codes (SEV_RET_*). */
enum snp_fw_status {
	SNP_FW_SUCCESS = 0x00,
	SNP_FW_INVALID_PLATFORM_STATE = 0x01,
	SNP_FW_INVALID_GUEST_STATE = 0x02,
	SNP_FW_INVALID_CONFIG = 0x03,
	SNP_FW_INVALID_LENGTH = 0x04,
	SNP_FW_ALREADY_OWNED = 0x05,
	SNP_FW_INVALID_CERTIFICATE = 0x06,
	SNP_FW_POLICY_FAILURE = 0x07,
	SNP_FW_INACTIVE = 0x08,
	SNP_FW_INVALID_ADDRESS = 0x09,
	SNP_FW_BAD_SIGNATURE = 0x0a,
	SNP_FW_BAD_MEASUREMENT = 0x0b,
	SNP_FW_ASID_OWNED = 0x0c,
	SNP_FW_INVALID_ASID = 0x0d,
	SNP_FW_WBINVD_REQUIRED = 0x0e,
	SNP_FW_DFFLUSH_REQUIRED = 0x0f,
	SNP_FW_INVALID_GUEST = 0x10,
	SNP_FW_INVALID_COMMAND = 0x11,
	SNP_FW_ACTIVE = 0x12,
	SNP_FW_HWERROR_PLATFORM = 0x13,
	SNP_FW_HWERROR_UNSAFE = 0x14,
	SNP_FW_UNSUPPORTED = 0x15,
	SNP_FW_INVALID_PARAM = 0x16,
	SNP_FW_RESOURCE_LIMIT = 0x17,
	SNP_FW_SECURE_DATA_INVALID = 0x18,
	SNP_FW_INVALID_PAGE_SIZE = 0x19,
	SNP_FW_INVALID_PAGE_STATE = 0x1a,
	SNP_FW_INVALID_MDATA_ENTRY = 0x1b,
	SNP_FW_INVALID_PAGE_OWNER = 0x1c,
	SNP_FW_AEAD_OFLOW = 0x1d,
	SNP_FW_RING_BUFFER_EXIT = 0x1f,
	SNP_FW_RMP_INIT_REQUIRED = 0x20,
	SNP_FW_BAD_SVN = 0x21,
	SNP_FW_BAD_VERSION = 0x22,
	SNP_FW_SHUTDOWN_REQUIRED = 0x23,
	SNP_FW_UPDATE_FAILED = 0x24,
	SNP_FW_RESTORE_REQUIRED = 0x25,
	SNP_FW_RMP_INITIALIZATION_FAILED = 0x26,
	SNP_FW_INVALID_KEY = 0x27,
	SNP_FW_SHUTDOWN_INCOMPLETE = 0x28,
};

/* SW_EXITINFO2 of a guest request: [63:32] VMM error, [31:0] firmware status. */
#define SNP_EXITINFO2_FW_MASK	GENMASK_ULL(31, 0)
#define SNP_EXITINFO2_VMM_SHIFT 32
#define SNP_VMM_ERR_INVALID_LEN 1
#define SNP_VMM_ERR_BUSY	2
#define SNP_EXITINFO2_VMM(x)	((u64)(x) << SNP_EXITINFO2_VMM_SHIFT)

/* Secrets page (4 KiB, installed by the firmware at launch). */
struct snp_secrets_page {
	__le32 version;		    /* 0x000 */
	__le32 imien;		    /* 0x004 bit 0 */
	__le32 fms;		    /* 0x008 CPUID Fn0000_0001 EAX */
	__le32 rsvd0;		    /* 0x00c */
	u8 gosvw[16];		    /* 0x010 */
	u8 vmpck[4][SNP_VMPCK_LEN]; /* 0x020 */
	/* OS area (guest owned) */
	__le32 os_msg_seqno[4];	    /* 0x0a0 low 32 bits per VMPL */
	__le64 os_ap_jump_table_pa; /* 0x0b0 */
	__le32 os_msg_seqno_hi[4];  /* 0x0b8 GHCB 2.01 */
	u8 os_rsvd[22];		    /* 0x0c8 */
	__le16 os_area_version;	    /* 0x0de */
	u8 os_guest_usage[32];	    /* 0x0e0 */
	u8 vmsa_tweak_bitmap[64];   /* 0x100 */
	__le64 svsm_base;	    /* 0x140 */
	__le64 svsm_size;	    /* 0x148 */
	__le64 svsm_caa;	    /* 0x150 */
	__le32 svsm_max_version;    /* 0x158 */
	u8 svsm_guest_vmpl;	    /* 0x15c */
	u8 svsm_rsvd[3];	    /* 0x15d */
	__le32 tsc_factor;	    /* 0x160 */
	__le32 rsvd1;		    /* 0x164 */
	__le64 launch_mit_vector;   /* 0x168 */
	u8 rsvd2[3728];		    /* 0x170 */
} __packed;

#define SNP_SECRETS_PAGE_VERSION 3

SNP_ASSERT_SIZE(struct snp_msg_hdr, SNP_MSG_HDR_SIZE);
SNP_ASSERT_OFFSET(struct snp_msg_hdr, authtag, 0x00);
SNP_ASSERT_OFFSET(struct snp_msg_hdr, msg_seqno, 0x20);
SNP_ASSERT_OFFSET(struct snp_msg_hdr, rsvd1, 0x28);
SNP_ASSERT_OFFSET(struct snp_msg_hdr, algo, 0x30);
SNP_ASSERT_OFFSET(struct snp_msg_hdr, hdr_version, 0x31);
SNP_ASSERT_OFFSET(struct snp_msg_hdr, hdr_sz, 0x32);
SNP_ASSERT_OFFSET(struct snp_msg_hdr, msg_type, 0x34);
SNP_ASSERT_OFFSET(struct snp_msg_hdr, msg_version, 0x35);
SNP_ASSERT_OFFSET(struct snp_msg_hdr, msg_sz, 0x36);
SNP_ASSERT_OFFSET(struct snp_msg_hdr, rsvd2, 0x38);
SNP_ASSERT_OFFSET(struct snp_msg_hdr, msg_vmpck, 0x3c);
SNP_ASSERT_OFFSET(struct snp_msg_hdr, rsvd3, 0x3d);
SNP_ASSERT_SIZE(struct snp_msg, SNP_PAGE_SIZE);
SNP_ASSERT_OFFSET(struct snp_msg, payload, 0x60);
SNP_ASSERT_SIZE(struct snp_report_req_msg, 0x60);
SNP_ASSERT_OFFSET(struct snp_report_req_msg, vmpl, 0x40);
SNP_ASSERT_OFFSET(struct snp_report_req_msg, key_sel, 0x44);
SNP_ASSERT_OFFSET(struct snp_report_req_msg, rsvd, 0x48);
SNP_ASSERT_SIZE(struct snp_report_rsp_msg, 0x4c0);
SNP_ASSERT_OFFSET(struct snp_report_rsp_msg, report_size, 0x04);
SNP_ASSERT_OFFSET(struct snp_report_rsp_msg, report, 0x20);
SNP_ASSERT_SIZE(struct snp_key_req_msg, 0x20);
SNP_ASSERT_OFFSET(struct snp_key_req_msg, guest_field_select, 0x08);
SNP_ASSERT_OFFSET(struct snp_key_req_msg, vmpl, 0x10);
SNP_ASSERT_OFFSET(struct snp_key_req_msg, guest_svn, 0x14);
SNP_ASSERT_OFFSET(struct snp_key_req_msg, tcb_version, 0x18);
SNP_ASSERT_SIZE(struct snp_key_req_v2_msg, 0x28);
SNP_ASSERT_OFFSET(struct snp_key_req_v2_msg, launch_mit_vector, 0x20);
SNP_ASSERT_SIZE(struct snp_key_rsp_msg, 0x40);
SNP_ASSERT_OFFSET(struct snp_key_rsp_msg, derived_key, 0x20);
SNP_ASSERT_SIZE(struct snp_key_mix_data, 0xa8);
SNP_ASSERT_OFFSET(struct snp_key_mix_data, guest_field_select, 0x08);
SNP_ASSERT_OFFSET(struct snp_key_mix_data, vmpl, 0x10);
SNP_ASSERT_OFFSET(struct snp_key_mix_data, guest_svn, 0x14);
SNP_ASSERT_OFFSET(struct snp_key_mix_data, tcb_version, 0x18);
SNP_ASSERT_OFFSET(struct snp_key_mix_data, policy, 0x20);
SNP_ASSERT_OFFSET(struct snp_key_mix_data, image_id, 0x28);
SNP_ASSERT_OFFSET(struct snp_key_mix_data, family_id, 0x38);
SNP_ASSERT_OFFSET(struct snp_key_mix_data, measurement, 0x48);
SNP_ASSERT_OFFSET(struct snp_key_mix_data, host_data, 0x68);
SNP_ASSERT_OFFSET(struct snp_key_mix_data, idblock_key_digest, 0x88);
SNP_ASSERT_SIZE(struct snp_secrets_page, SNP_PAGE_SIZE);
SNP_ASSERT_OFFSET(struct snp_secrets_page, fms, 0x008);
SNP_ASSERT_OFFSET(struct snp_secrets_page, gosvw, 0x010);
SNP_ASSERT_OFFSET(struct snp_secrets_page, vmpck, 0x020);
SNP_ASSERT_OFFSET(struct snp_secrets_page, os_msg_seqno, 0x0a0);
SNP_ASSERT_OFFSET(struct snp_secrets_page, os_ap_jump_table_pa, 0x0b0);
SNP_ASSERT_OFFSET(struct snp_secrets_page, os_msg_seqno_hi, 0x0b8);
SNP_ASSERT_OFFSET(struct snp_secrets_page, os_area_version, 0x0de);
SNP_ASSERT_OFFSET(struct snp_secrets_page, os_guest_usage, 0x0e0);
SNP_ASSERT_OFFSET(struct snp_secrets_page, vmsa_tweak_bitmap, 0x100);
SNP_ASSERT_OFFSET(struct snp_secrets_page, svsm_base, 0x140);
SNP_ASSERT_OFFSET(struct snp_secrets_page, svsm_guest_vmpl, 0x15c);
SNP_ASSERT_OFFSET(struct snp_secrets_page, tsc_factor, 0x160);
SNP_ASSERT_OFFSET(struct snp_secrets_page, launch_mit_vector, 0x168);
SNP_ASSERT_OFFSET(struct snp_secrets_page, rsvd2, 0x170);

#endif /* SNP_KERNEL_MSG_H */
