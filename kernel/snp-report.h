/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * SEV-SNP ATTESTATION_REPORT (versions 2, 3/4 and 5), TCB_VERSION in both
 * layouts, guest policy, platform info and key info bits.
 *
 * All multi-byte fields are little-endian. The signed region is bytes
 * 0x000..0x29f; the signature is ECDSA P-384 with SHA-384, R and S stored as
 * 72-byte little-endian integers.
 */
#ifndef SNP_KERNEL_REPORT_H
#define SNP_KERNEL_REPORT_H

#include "kernel/compat.h"

#define SNP_REPORT_SIZE	       0x4a0
#define SNP_REPORT_SIGNED_LEN  0x2a0
#define SNP_REPORT_MIN_VERSION 2
#define SNP_REPORT_MAX_VERSION 5

#define SNP_SIG_ALGO_ECDSA_P384_SHA384 1

#define SNP_REPORT_DATA_SIZE   64
#define SNP_MEASUREMENT_SIZE   48
#define SNP_HOST_DATA_SIZE     32
#define SNP_KEY_DIGEST_SIZE    48
#define SNP_REPORT_ID_SIZE     32
#define SNP_FAMILY_ID_SIZE     16
#define SNP_IMAGE_ID_SIZE      16
#define SNP_CHIP_ID_SIZE       64
#define SNP_CHIP_ID_TURIN_SIZE 8

/* 72-byte little-endian integers; P-384 uses the low 48 bytes. */
#define SNP_ECDSA_COMPONENT_SIZE 72
#define SNP_ECDSA_P384_SIZE	 48

struct snp_ecdsa_sig {
	u8 r[SNP_ECDSA_COMPONENT_SIZE]; /* 0x000 */
	u8 s[SNP_ECDSA_COMPONENT_SIZE]; /* 0x048 */
	u8 rsvd[368];			/* 0x090 MBZ */
} __packed;

/*
 * TCB_VERSION: the byte layout depends on the CPU family, not on the
 * report version. Milan and Genoa (family 0x19) use the legacy layout,
 * Turin (family 0x1a) and later the one with an FMC SVN.
 */
struct snp_tcb_legacy {
	u8 bootloader; /* 0 */
	u8 tee;	       /* 1 */
	u8 rsvd[4];    /* 2..5 */
	u8 snp;	       /* 6 */
	u8 microcode;  /* 7 */
} __packed;

struct snp_tcb_turin {
	u8 fmc;	       /* 0 */
	u8 bootloader; /* 1 */
	u8 tee;	       /* 2 */
	u8 snp;	       /* 3 */
	u8 rsvd[3];    /* 4..6 */
	u8 microcode;  /* 7 */
} __packed;

union snp_tcb_version {
	__le64 raw;
	struct snp_tcb_legacy legacy;
	struct snp_tcb_turin turin;
} __packed;

enum snp_tcb_layout {
	SNP_TCB_LAYOUT_LEGACY, /* Milan, Genoa */
	SNP_TCB_LAYOUT_TURIN,  /* Turin and later */
};

/* Decoded TCB; fmc is meaningful only for the Turin layout. */
struct snp_tcb_parts {
	u8 fmc;
	u8 bootloader;
	u8 tee;
	u8 snp;
	u8 microcode;
	bool rsvd_nonzero;
};

static inline void snp_tcb_decode(u64 raw, enum snp_tcb_layout layout, struct snp_tcb_parts *p)
{
	u8 b[8];
	int i;

	for (i = 0; i < 8; i++)
		b[i] = (u8)(raw >> (8 * i));
	memset(p, 0, sizeof(*p));
	if (layout == SNP_TCB_LAYOUT_TURIN) {
		p->fmc = b[0];
		p->bootloader = b[1];
		p->tee = b[2];
		p->snp = b[3];
		p->microcode = b[7];
		p->rsvd_nonzero = b[4] || b[5] || b[6];
	} else {
		p->bootloader = b[0];
		p->tee = b[1];
		p->snp = b[6];
		p->microcode = b[7];
		p->rsvd_nonzero = b[2] || b[3] || b[4] || b[5];
	}
}

static inline u64 snp_tcb_encode(const struct snp_tcb_parts *p, enum snp_tcb_layout layout)
{
	if (layout == SNP_TCB_LAYOUT_TURIN)
		return (u64)p->fmc | (u64)p->bootloader << 8 | (u64)p->tee << 16 |
		       (u64)p->snp << 24 | (u64)p->microcode << 56;
	return (u64)p->bootloader | (u64)p->tee << 8 | (u64)p->snp << 48 | (u64)p->microcode << 56;
}

/* Guest POLICY (report 0x008). */
#define SNP_POLICY_ABI_MINOR_MASK    GENMASK_ULL(7, 0)
#define SNP_POLICY_ABI_MAJOR_SHIFT   8
#define SNP_POLICY_ABI_MAJOR_MASK    GENMASK_ULL(15, 8)
#define SNP_POLICY_SMT		     BIT_ULL(16)
#define SNP_POLICY_RSVD_MBO	     BIT_ULL(17) /* must be one */
#define SNP_POLICY_MIGRATE_MA	     BIT_ULL(18)
#define SNP_POLICY_DEBUG	     BIT_ULL(19)
#define SNP_POLICY_SINGLE_SOCKET     BIT_ULL(20)
#define SNP_POLICY_CXL_ALLOW	     BIT_ULL(21)
#define SNP_POLICY_MEM_AES_256_XTS   BIT_ULL(22)
#define SNP_POLICY_RAPL_DIS	     BIT_ULL(23)
#define SNP_POLICY_CIPHERTEXT_HIDING BIT_ULL(24)
#define SNP_POLICY_PAGE_SWAP_DISABLE BIT_ULL(25)
#define SNP_POLICY_RSVD_MBZ	     GENMASK_ULL(63, 26)

/* PLATFORM_INFO (report 0x040). */
#define SNP_PLATFORM_SMT_EN		  BIT_ULL(0)
#define SNP_PLATFORM_TSME_EN		  BIT_ULL(1)
#define SNP_PLATFORM_ECC_EN		  BIT_ULL(2)
#define SNP_PLATFORM_RAPL_DIS		  BIT_ULL(3)
#define SNP_PLATFORM_CIPHERTEXT_HIDING_EN BIT_ULL(4)
#define SNP_PLATFORM_ALIAS_CHECK_COMPLETE BIT_ULL(5)
#define SNP_PLATFORM_TIO_EN		  BIT_ULL(7)

/* Key info / flags (report 0x048). */
#define SNP_KEYINFO_AUTHOR_KEY_EN     BIT(0)
#define SNP_KEYINFO_MASK_CHIP_KEY     BIT(1)
#define SNP_KEYINFO_SIGNING_KEY_SHIFT 2
#define SNP_KEYINFO_SIGNING_KEY_MASK  GENMASK(4, 2)
#define SNP_KEYINFO_RSVD_MBZ	      GENMASK(31, 5)

#define SNP_SIGNING_KEY_VCEK 0
#define SNP_SIGNING_KEY_VLEK 1
#define SNP_SIGNING_KEY_NONE 7

/*
 * One structure covers every version: the CPUID bytes are reserved in v2,
 * the mitigation vectors are reserved before v5.
 */
struct snp_report {
	__le32 version;				   /* 0x000 */
	__le32 guest_svn;			   /* 0x004 */
	__le64 policy;				   /* 0x008 */
	u8 family_id[SNP_FAMILY_ID_SIZE];	   /* 0x010 */
	u8 image_id[SNP_IMAGE_ID_SIZE];		   /* 0x020 */
	__le32 vmpl;				   /* 0x030 */
	__le32 signature_algo;			   /* 0x034 */
	__le64 current_tcb;			   /* 0x038 */
	__le64 platform_info;			   /* 0x040 */
	__le32 key_info;			   /* 0x048 */
	__le32 rsvd0;				   /* 0x04c MBZ */
	u8 report_data[SNP_REPORT_DATA_SIZE];	   /* 0x050 */
	u8 measurement[SNP_MEASUREMENT_SIZE];	   /* 0x090 */
	u8 host_data[SNP_HOST_DATA_SIZE];	   /* 0x0c0 */
	u8 id_key_digest[SNP_KEY_DIGEST_SIZE];	   /* 0x0e0 */
	u8 author_key_digest[SNP_KEY_DIGEST_SIZE]; /* 0x110 */
	u8 report_id[SNP_REPORT_ID_SIZE];	   /* 0x140 */
	u8 report_id_ma[SNP_REPORT_ID_SIZE];	   /* 0x160 */
	__le64 reported_tcb;			   /* 0x180 */
	u8 cpuid_fam_id;			   /* 0x188 v3+ */
	u8 cpuid_mod_id;			   /* 0x189 v3+ */
	u8 cpuid_step;				   /* 0x18a v3+ */
	u8 rsvd1[21];				   /* 0x18b MBZ */
	u8 chip_id[SNP_CHIP_ID_SIZE];		   /* 0x1a0 */
	__le64 committed_tcb;			   /* 0x1e0 */
	u8 current_build;			   /* 0x1e8 */
	u8 current_minor;			   /* 0x1e9 */
	u8 current_major;			   /* 0x1ea */
	u8 rsvd2;				   /* 0x1eb */
	u8 committed_build;			   /* 0x1ec */
	u8 committed_minor;			   /* 0x1ed */
	u8 committed_major;			   /* 0x1ee */
	u8 rsvd3;				   /* 0x1ef */
	__le64 launch_tcb;			   /* 0x1f0 */
	__le64 launch_mit_vector;		   /* 0x1f8 v5+ */
	__le64 current_mit_vector;		   /* 0x200 v5+ */
	u8 rsvd4[152];				   /* 0x208 MBZ */
	struct snp_ecdsa_sig signature;		   /* 0x2a0 */
} __packed;

/* Reserved byte ranges [start, end) that must be zero, per version. */
struct snp_report_rsvd_range {
	u16 start;
	u16 end;
};

#define SNP_REPORT_RSVD_MAX 5

/*
 * Fill @ranges with the MBZ ranges of a report of @version (2..5) and
 * return their number. Unknown versions get the v5 rules.
 */
static inline int snp_report_rsvd_ranges(u32 version, struct snp_report_rsvd_range *ranges)
{
	int n = 0;

	ranges[n++] = (struct snp_report_rsvd_range){ 0x04c, 0x050 };
	if (version < 3)
		ranges[n++] = (struct snp_report_rsvd_range){ 0x188, 0x1a0 };
	else
		ranges[n++] = (struct snp_report_rsvd_range){ 0x18b, 0x1a0 };
	if (version < 5)
		ranges[n++] = (struct snp_report_rsvd_range){ 0x1f8, 0x2a0 };
	else
		ranges[n++] = (struct snp_report_rsvd_range){ 0x208, 0x2a0 };
	/* the reserved tail of the signature block */
	ranges[n++] = (struct snp_report_rsvd_range){ 0x330, 0x4a0 };
	return n;
}

SNP_ASSERT_SIZE(struct snp_ecdsa_sig, 512);
SNP_ASSERT_OFFSET(struct snp_ecdsa_sig, r, 0x000);
SNP_ASSERT_OFFSET(struct snp_ecdsa_sig, s, 0x048);
SNP_ASSERT_OFFSET(struct snp_ecdsa_sig, rsvd, 0x090);
SNP_ASSERT_SIZE(struct snp_tcb_legacy, 8);
SNP_ASSERT_OFFSET(struct snp_tcb_legacy, snp, 6);
SNP_ASSERT_OFFSET(struct snp_tcb_legacy, microcode, 7);
SNP_ASSERT_SIZE(struct snp_tcb_turin, 8);
SNP_ASSERT_OFFSET(struct snp_tcb_turin, snp, 3);
SNP_ASSERT_OFFSET(struct snp_tcb_turin, microcode, 7);
SNP_ASSERT_SIZE(union snp_tcb_version, 8);
SNP_ASSERT_SIZE(struct snp_report, SNP_REPORT_SIZE);
SNP_ASSERT_OFFSET(struct snp_report, version, 0x000);
SNP_ASSERT_OFFSET(struct snp_report, guest_svn, 0x004);
SNP_ASSERT_OFFSET(struct snp_report, policy, 0x008);
SNP_ASSERT_OFFSET(struct snp_report, family_id, 0x010);
SNP_ASSERT_OFFSET(struct snp_report, image_id, 0x020);
SNP_ASSERT_OFFSET(struct snp_report, vmpl, 0x030);
SNP_ASSERT_OFFSET(struct snp_report, signature_algo, 0x034);
SNP_ASSERT_OFFSET(struct snp_report, current_tcb, 0x038);
SNP_ASSERT_OFFSET(struct snp_report, platform_info, 0x040);
SNP_ASSERT_OFFSET(struct snp_report, key_info, 0x048);
SNP_ASSERT_OFFSET(struct snp_report, rsvd0, 0x04c);
SNP_ASSERT_OFFSET(struct snp_report, report_data, 0x050);
SNP_ASSERT_OFFSET(struct snp_report, measurement, 0x090);
SNP_ASSERT_OFFSET(struct snp_report, host_data, 0x0c0);
SNP_ASSERT_OFFSET(struct snp_report, id_key_digest, 0x0e0);
SNP_ASSERT_OFFSET(struct snp_report, author_key_digest, 0x110);
SNP_ASSERT_OFFSET(struct snp_report, report_id, 0x140);
SNP_ASSERT_OFFSET(struct snp_report, report_id_ma, 0x160);
SNP_ASSERT_OFFSET(struct snp_report, reported_tcb, 0x180);
SNP_ASSERT_OFFSET(struct snp_report, cpuid_fam_id, 0x188);
SNP_ASSERT_OFFSET(struct snp_report, cpuid_mod_id, 0x189);
SNP_ASSERT_OFFSET(struct snp_report, cpuid_step, 0x18a);
SNP_ASSERT_OFFSET(struct snp_report, rsvd1, 0x18b);
SNP_ASSERT_OFFSET(struct snp_report, chip_id, 0x1a0);
SNP_ASSERT_OFFSET(struct snp_report, committed_tcb, 0x1e0);
SNP_ASSERT_OFFSET(struct snp_report, current_build, 0x1e8);
SNP_ASSERT_OFFSET(struct snp_report, current_minor, 0x1e9);
SNP_ASSERT_OFFSET(struct snp_report, current_major, 0x1ea);
SNP_ASSERT_OFFSET(struct snp_report, committed_build, 0x1ec);
SNP_ASSERT_OFFSET(struct snp_report, committed_minor, 0x1ed);
SNP_ASSERT_OFFSET(struct snp_report, committed_major, 0x1ee);
SNP_ASSERT_OFFSET(struct snp_report, launch_tcb, 0x1f0);
SNP_ASSERT_OFFSET(struct snp_report, launch_mit_vector, 0x1f8);
SNP_ASSERT_OFFSET(struct snp_report, current_mit_vector, 0x200);
SNP_ASSERT_OFFSET(struct snp_report, rsvd4, 0x208);
SNP_ASSERT_OFFSET(struct snp_report, signature, 0x2a0);
SNP_ASSERT_OFFSET(struct snp_report, signature.s, 0x2e8);
SNP_ASSERT_OFFSET(struct snp_report, signature.rsvd, 0x330);

#endif /* SNP_KERNEL_REPORT_H */
