/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * The GHCB protocol between an SEV-SNP guest and its hypervisor
 * (snp-abi.md §8): the GHCB page, the MSR protocol, the NAE exit codes,
 * termination reasons, hypervisor features, the Page State Change
 * descriptor, PVALIDATE/RMPADJUST operands, and the SEV status MSR.
 */
#ifndef SNP_KERNEL_GHCB_H
#define SNP_KERNEL_GHCB_H

#include "kernel/compat.h"
#include "kernel/snp-msg.h"

/* ---- MSRs --------------------------------------------------------------- */

#define SNP_MSR_GHCB	   0xc0010130U /* MSR_AMD64_SEV_ES_GHCB */
#define SNP_MSR_SEV_STATUS 0xc0010131U /* MSR_AMD64_SEV */

/* SEV status MSR bits (read-only to the guest; set by the hypervisor's VMSA). */
#define SNP_STATUS_SEV		    BIT_ULL(0)
#define SNP_STATUS_SEV_ES	    BIT_ULL(1)
#define SNP_STATUS_SNP		    BIT_ULL(2)
#define SNP_STATUS_VTOM		    BIT_ULL(3)
#define SNP_STATUS_REFLECT_VC	    BIT_ULL(4)
#define SNP_STATUS_RESTRICT_INJ	    BIT_ULL(5)
#define SNP_STATUS_ALT_INJ	    BIT_ULL(6)
#define SNP_STATUS_DEBUG_SWAP	    BIT_ULL(7)
#define SNP_STATUS_PREVENT_HOST_IBS BIT_ULL(8)
#define SNP_STATUS_BTB_ISOLATION    BIT_ULL(9)
#define SNP_STATUS_VMPL_SSS	    BIT_ULL(10)
#define SNP_STATUS_SECURE_TSC	    BIT_ULL(11)
#define SNP_STATUS_VMGEXIT_PARAM    BIT_ULL(12)
#define SNP_STATUS_IBS_VIRT	    BIT_ULL(14)
#define SNP_STATUS_VMSA_REG_PROT    BIT_ULL(16)
#define SNP_STATUS_SMT_PROT	    BIT_ULL(17)
#define SNP_STATUS_SECURE_AVIC	    BIT_ULL(18)
#define SNP_STATUS_RSVD_13	    BIT_ULL(13)
#define SNP_STATUS_RSVD_15	    BIT_ULL(15)
#define SNP_STATUS_RSVD_MASK	    GENMASK_ULL(63, 19)

/*
 * Features that change what the guest must do and that this guest code does
 * not implement, and, to be safe, every reserved bit (a future feature may
 * need guest support): if the hypervisor launched the guest with any of
 * them, it terminates (set 0, code 2), as Linux's snp_check_features()
 * does. The rest (debug swap, host IBS prevention, BTB isolation, IBS
 * virtualization, SMT protection) need nothing from the guest.
 */
#define SNP_STATUS_IMPL_REQUIRED                                                                   \
	(SNP_STATUS_VTOM | SNP_STATUS_REFLECT_VC | SNP_STATUS_RESTRICT_INJ | SNP_STATUS_ALT_INJ |  \
	 SNP_STATUS_VMPL_SSS | SNP_STATUS_SECURE_TSC | SNP_STATUS_VMGEXIT_PARAM |                  \
	 SNP_STATUS_VMSA_REG_PROT | SNP_STATUS_RSVD_13 | SNP_STATUS_RSVD_15 |                      \
	 SNP_STATUS_SECURE_AVIC | SNP_STATUS_RSVD_MASK)

/* ---- GHCB MSR protocol (GHCBData[11:0] = function) ----------------------- */

#define SNP_GHCB_MSR_INFO_MASK 0xfffULL
#define SNP_GHCB_MSR_INFO(v)   ((v)&SNP_GHCB_MSR_INFO_MASK)

#define SNP_GHCB_MSR_SEV_INFO_RESP	0x001
#define SNP_GHCB_MSR_SEV_INFO_REQ	0x002
#define SNP_GHCB_MSR_CPUID_REQ		0x004
#define SNP_GHCB_MSR_CPUID_RESP		0x005
#define SNP_GHCB_MSR_AP_RESET_HOLD_REQ	0x006
#define SNP_GHCB_MSR_AP_RESET_HOLD_RESP 0x007
#define SNP_GHCB_MSR_REG_GPA_REQ	0x012
#define SNP_GHCB_MSR_REG_GPA_RESP	0x013
#define SNP_GHCB_MSR_PSC_REQ		0x014
#define SNP_GHCB_MSR_PSC_RESP		0x015
#define SNP_GHCB_MSR_HV_FT_REQ		0x080
#define SNP_GHCB_MSR_HV_FT_RESP		0x081
#define SNP_GHCB_MSR_TERM_REQ		0x100

/* SEV information response: [63:48] max, [47:32] min version, [31:24] C-bit. */
#define SNP_GHCB_SEV_INFO_MAX(v)  ((u16)((v) >> 48))
#define SNP_GHCB_SEV_INFO_MIN(v)  ((u16)((v) >> 32))
#define SNP_GHCB_SEV_INFO_CBIT(v) ((u8)((v) >> 24))
#define SNP_GHCB_SEV_INFO(max, min, cbit)                                                          \
	(((u64)(u16)(max) << 48) | ((u64)(u16)(min) << 32) | ((u64)(u8)(cbit) << 24) |             \
	 SNP_GHCB_MSR_SEV_INFO_RESP)

/* Register GHCB GPA: [63:12] GFN in the request and, echoed, in the response. */
#define SNP_GHCB_MSR_GFN(v)	  ((v) >> 12)
#define SNP_GHCB_MSR_REG_GPA(gfn) (((u64)(gfn) << 12) | SNP_GHCB_MSR_REG_GPA_REQ)

/* PSC: request [55:52] operation, [51:12] GFN; response [63:32] error. */
#define SNP_GHCB_MSR_PSC_GFN_MASK GENMASK_ULL(39, 0)
#define SNP_GHCB_MSR_PSC(gfn, op)                                                                  \
	((((u64)(op)&0xf) << 52) | (((u64)(gfn)&SNP_GHCB_MSR_PSC_GFN_MASK) << 12) |                \
	 SNP_GHCB_MSR_PSC_REQ)
#define SNP_GHCB_MSR_PSC_REQ_OP(v)   ((u8)(((v) >> 52) & 0xf))
#define SNP_GHCB_MSR_PSC_REQ_GFN(v)  (((v) >> 12) & SNP_GHCB_MSR_PSC_GFN_MASK)
#define SNP_GHCB_MSR_PSC_RESP_ERR(v) ((u32)((v) >> 32))

/* Hypervisor features response: [63:12] bitmap. AP reset hold: [63:12] != 0 = released. */
#define SNP_GHCB_MSR_DATA(v) ((v) >> 12)

/* Termination: [15:12] reason set, [23:16] reason code. */
#define SNP_GHCB_MSR_TERM(set, code)                                                               \
	((((u64)(set)&0xf) << 12) | (((u64)(code)&0xff) << 16) | SNP_GHCB_MSR_TERM_REQ)
#define SNP_GHCB_MSR_TERM_SET(v)  ((u8)(((v) >> 12) & 0xf))
#define SNP_GHCB_MSR_TERM_CODE(v) ((u8)(((v) >> 16) & 0xff))

/* Protocol versions: 2 is the first with SNP (page state change, HV features). */
#define SNP_GHCB_PROTOCOL_MIN 1
#define SNP_GHCB_PROTOCOL_MAX 2
#define SNP_GHCB_PROTOCOL_SNP 2

/*
 * ---- the outcome of a GHCB exit (Linux: verify_exception_info()) ----------
 *
 * SW_EXITINFO1[31:0] after the exit: 0 the hypervisor handled it; 1 with an
 * event in SW_EXITINFO2 that is a valid #GP or #UD exception, ES_EXCEPTION;
 * anything else, ES_VMM_ERROR. The values are Linux's enum es_result
 * (<asm/sev.h>): positive, and passed up unmapped by its
 * snp_issue_guest_request().
 */
#define SNP_ES_OK	 0
#define SNP_ES_VMM_ERROR 2
#define SNP_ES_EXCEPTION 4

/* SW_EXITINFO2 as an event to inject (Linux: SVM_EVTINJ_*, X86_TRAP_*) */
#define SNP_EVTINJ_VEC_MASK    0xffULL
#define SNP_EVTINJ_TYPE_MASK   (7ULL << 8)
#define SNP_EVTINJ_TYPE_EXCEPT (3ULL << 8)
#define SNP_EVTINJ_VALID_ERR   BIT_ULL(11)
#define SNP_EVTINJ_VALID       BIT_ULL(31)
#define SNP_X86_TRAP_UD	       6
#define SNP_X86_TRAP_GP	       13

/* ---- hypervisor features (snp-abi.md §8.3) ------------------------------- */

#define SNP_HV_FT_SNP		   BIT_ULL(0)
#define SNP_HV_FT_SNP_AP_CREATION  BIT_ULL(1)
#define SNP_HV_FT_RESTRICTED_INJ   BIT_ULL(2)
#define SNP_HV_FT_RESTRICTED_TIMER BIT_ULL(3)
#define SNP_HV_FT_APIC_ID_LIST	   BIT_ULL(4)
#define SNP_HV_FT_MULTI_VMPL	   BIT_ULL(5)

/* ---- termination reasons (snp-abi.md §8.4) -------------------------------- */

#define SNP_TERM_SET_GEN	0
#define SNP_TERM_GEN_REQ	0 /* general request */
#define SNP_TERM_GEN_PROTO	1 /* GHCB protocol version unsupported */
#define SNP_TERM_GEN_SNP_UNSUPP 2 /* SNP features unsupported */

#define SNP_TERM_SET_LINUX     1
#define SNP_TERM_REGISTER      0 /* GHCB GPA registration failure */
#define SNP_TERM_PSC	       1 /* page state change failure */
#define SNP_TERM_PVALIDATE     2 /* PVALIDATE failure */
#define SNP_TERM_NOT_VMPL0     3
#define SNP_TERM_CPUID	       4
#define SNP_TERM_CPUID_HV      5
#define SNP_TERM_SECRETS_PAGE  6
#define SNP_TERM_NO_SVSM       7
#define SNP_TERM_SVSM_VMPL0    8
#define SNP_TERM_SVSM_CAA      9
#define SNP_TERM_SECURE_TSC    10
#define SNP_TERM_SVSM_CA_REMAP 11
#define SNP_TERM_SAVIC	       12

/* ---- NAE exit codes (SW_EXITCODE, snp-abi.md §8.5) ------------------------ */

#define SNP_NAE_PSC		  0x80000010ULL
#define SNP_NAE_GUEST_REQUEST	  0x80000011ULL
#define SNP_NAE_EXT_GUEST_REQUEST 0x80000012ULL
#define SNP_NAE_AP_CREATION	  0x80000013ULL
#define SNP_NAE_HV_FEATURES	  0x8000fffdULL
#define SNP_NAE_TERM_REQUEST	  0x8000fffeULL
#define SNP_NAE_UNSUPPORTED	  0x8000ffffULL

/* Hardware exit codes; 0x404 is also the #VC error code for an unvalidated page. */
#define SNP_EXIT_NPF		    0x400ULL
#define SNP_EXIT_VMGEXIT	    0x403ULL
#define SNP_EXIT_PAGE_NOT_VALIDATED 0x404ULL

/* SW_EXITINFO1[31:0] of an answered NAE exit; SW_EXITINFO2 then says why. */
#define SNP_GHCB_RESULT_OK	     0
#define SNP_GHCB_RESULT_ISSUE_EXC    1
#define SNP_GHCB_RESULT_MALFORMED    2
#define SNP_GHCB_ERR_NOT_REGISTERED  1
#define SNP_GHCB_ERR_INVALID_USAGE   2
#define SNP_GHCB_ERR_INVALID_SCRATCH 3
#define SNP_GHCB_ERR_MISSING_INPUT   4
#define SNP_GHCB_ERR_INVALID_INPUT   5
#define SNP_GHCB_ERR_INVALID_EVENT   6

/* ---- the GHCB page ------------------------------------------------------- */

#define SNP_GHCB_SHARED_BUF_SIZE 2032

/*
 * The GHCB (4 KiB, shared with the hypervisor): the save-area fields the
 * guest code uses, the valid bitmap, the shared buffer, version and usage.
 * Every field is naturally aligned (the asserts below hold the layout), so
 * the struct is not __packed and READ_ONCE() works on its members.
 */
struct snp_ghcb {
	u8 rsvd0[0x1f8];
	__le64 rax; /* 0x1f8: EXT: GPA of the certificate area; CPUID: function in, EAX out */
	u8 rsvd1[0x308 - 0x200];
	__le64 rcx; /* 0x308: CPUID: subfunction in, ECX out */
	__le64 rdx; /* 0x310: CPUID: EDX out */
	__le64 rbx; /* 0x318: EXT: number of pages (in and out); CPUID: EBX out */
	u8 rsvd2[0x390 - 0x320];
	__le64 sw_exit_code;   /* 0x390 */
	__le64 sw_exit_info_1; /* 0x398: request page GPA / result */
	__le64 sw_exit_info_2; /* 0x3a0: response page GPA / result */
	__le64 sw_scratch;     /* 0x3a8 */
	u8 rsvd3[0x3e8 - 0x3b0];
	__le64 xcr0;	     /* 0x3e8: CPUID: the guest's XCR0 */
	u8 valid_bitmap[16]; /* 0x3f0: bit n = field at offset 8n */
	u8 rsvd4[0x800 - 0x400];
	u8 shared_buffer[SNP_GHCB_SHARED_BUF_SIZE]; /* 0x800 */
	u8 rsvd5[10];				    /* 0xff0 */
	__le16 protocol_version;		    /* 0xffa */
	__le32 ghcb_usage;			    /* 0xffc */
};

SNP_ASSERT_SIZE(struct snp_ghcb, SNP_PAGE_SIZE);
SNP_ASSERT_OFFSET(struct snp_ghcb, rax, 0x1f8);
SNP_ASSERT_OFFSET(struct snp_ghcb, rcx, 0x308);
SNP_ASSERT_OFFSET(struct snp_ghcb, rdx, 0x310);
SNP_ASSERT_OFFSET(struct snp_ghcb, rbx, 0x318);
SNP_ASSERT_OFFSET(struct snp_ghcb, xcr0, 0x3e8);
SNP_ASSERT_OFFSET(struct snp_ghcb, sw_exit_code, 0x390);
SNP_ASSERT_OFFSET(struct snp_ghcb, sw_exit_info_1, 0x398);
SNP_ASSERT_OFFSET(struct snp_ghcb, sw_exit_info_2, 0x3a0);
SNP_ASSERT_OFFSET(struct snp_ghcb, sw_scratch, 0x3a8);
SNP_ASSERT_OFFSET(struct snp_ghcb, valid_bitmap, 0x3f0);
SNP_ASSERT_OFFSET(struct snp_ghcb, shared_buffer, 0x800);
SNP_ASSERT_OFFSET(struct snp_ghcb, protocol_version, 0xffa);
SNP_ASSERT_OFFSET(struct snp_ghcb, ghcb_usage, 0xffc);

#define SNP_GHCB_PROTOCOL_VERSION SNP_GHCB_PROTOCOL_SNP

/* Mark a save-area field valid / test it (bit n = the field at offset 8n). */
#define SNP_GHCB_FIELD_BIT(field) (offsetof(struct snp_ghcb, field) / 8)
#define SNP_GHCB_SET_VALID(ghcb, field)                                                            \
	((ghcb)->valid_bitmap[SNP_GHCB_FIELD_BIT(field) / 8] |=                                    \
	 (u8)(1U << (SNP_GHCB_FIELD_BIT(field) % 8)))
#define SNP_GHCB_IS_VALID(ghcb, field)                                                             \
	(!!((ghcb)->valid_bitmap[SNP_GHCB_FIELD_BIT(field) / 8] &                                  \
	    (1U << (SNP_GHCB_FIELD_BIT(field) % 8))))

/* ---- Page State Change descriptor (snp-abi.md §8.6) ----------------------- */

#define SNP_PSC_MAX_ENTRIES 253

enum snp_page_op {
	SNP_PAGE_PRIVATE = 1,
	SNP_PAGE_SHARED = 2,
	SNP_PAGE_PSMASH = 3,
	SNP_PAGE_UNSMASH = 4,
};

struct snp_psc_hdr {
	__le16 cur_entry;
	__le16 end_entry; /* index of the last valid entry, inclusive */
	__le32 reserved;
} __packed;

struct snp_psc_desc {
	struct snp_psc_hdr hdr;
	__le64 entries[SNP_PSC_MAX_ENTRIES];
} __packed;

SNP_ASSERT_SIZE(struct snp_psc_hdr, 8);
SNP_ASSERT_SIZE(struct snp_psc_desc, SNP_GHCB_SHARED_BUF_SIZE);

#define SNP_PSC_CUR_PAGE_MASK GENMASK_ULL(11, 0)
#define SNP_PSC_GFN_MASK      GENMASK_ULL(51, 12)
#define SNP_PSC_OP_SHIFT      52
#define SNP_PSC_OP_MASK	      GENMASK_ULL(55, 52)
#define SNP_PSC_PAGESIZE_2M   BIT_ULL(56)
#define SNP_PSC_RSVD_MASK     GENMASK_ULL(63, 57)

static inline u64 snp_psc_entry(u64 gfn, enum snp_page_op op, bool huge)
{
	return ((gfn << 12) & SNP_PSC_GFN_MASK) | ((u64)op << SNP_PSC_OP_SHIFT) |
	       (huge ? SNP_PSC_PAGESIZE_2M : 0);
}

static inline u64 snp_psc_entry_gfn(u64 e)
{
	return (e & SNP_PSC_GFN_MASK) >> 12;
}

static inline u32 snp_psc_entry_cur_page(u64 e)
{
	return (u32)(e & SNP_PSC_CUR_PAGE_MASK);
}

static inline enum snp_page_op snp_psc_entry_op(u64 e)
{
	return (enum snp_page_op)((e & SNP_PSC_OP_MASK) >> SNP_PSC_OP_SHIFT);
}

/* ---- PVALIDATE / RMPADJUST (snp-abi.md §8.7) ----------------------------- */

#define SNP_RMP_PG_SIZE_4K 0
#define SNP_RMP_PG_SIZE_2M 1

#define SNP_PVALIDATE_SUCCESS		0
#define SNP_PVALIDATE_FAIL_INPUT	1
#define SNP_PVALIDATE_FAIL_SIZEMISMATCH 6
/* Software code (Linux): rFLAGS.CF = 1, the Validated bit was already as asked. */
#define SNP_PVALIDATE_FAIL_NOUPDATE 255

#define SNP_RMPADJUST_SUCCESS		0
#define SNP_RMPADJUST_FAIL_INPUT	1
#define SNP_RMPADJUST_FAIL_PERMISSION	2
#define SNP_RMPADJUST_FAIL_SIZEMISMATCH 6
/* RDX: [7:0] target VMPL, [15:8] permission mask (position unconfirmed), bit 16 VMSA. */
#define SNP_RMPADJUST_VMPL(v)  ((u64)(v)&0xff)
#define SNP_RMPADJUST_PERMS(p) (((u64)(p)&0xff) << 8)
#define SNP_RMPADJUST_VMSA     BIT_ULL(16)

#define SNP_PAGE_SHIFT	  12
#define SNP_PMD_SHIFT	  21
#define SNP_PMD_SIZE	  (1ULL << SNP_PMD_SHIFT)
#define SNP_PAGES_PER_PMD 512

#endif /* SNP_KERNEL_GHCB_H */
