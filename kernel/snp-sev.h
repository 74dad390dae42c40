/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * SEV-SNP guest memory validation: the boot-time half of the guest
 * support (SEV status and feature checks, GHCB MSR protocol, page state
 * changes, PVALIDATE, set_memory_{en,de}crypted, pre-validation and lazy
 * acceptance of memory), modelled on Linux's arch/x86 SEV code.
 *
 * The code is freestanding and reaches the CPU and the hypervisor only
 * through the snp_cpu_*() seams below (instructions in a kernel, the
 * simulated vCPU in userspace), so it runs unchanged over the simulated
 * machine in sim/. Virtual addresses are guest-physical addresses: the
 * code runs on the early identity map, as the decompressor does.
 *
 * One vCPU: acceptance takes no lock and keeps no "being accepted" list, so
 * on SMP it would need both (as Linux's unaccepted-memory code has).
 * set_c_bit does not flush caches (the simulated CPU is coherent; Linux
 * flushes unless the CPU has SME_COHERENT).
 *
 * Rules it keeps (snp-abi.md §8):
 *  - to make a page private: page state change to private, then PVALIDATE;
 *    to make it shared: rescind (PVALIDATE off), then page state change;
 *  - a PVALIDATE that changes nothing (CF = 1) means the page was already
 *    in that state: the hypervisor is replaying a page, the guest stops;
 *  - a hypervisor error or an inconsistent answer to a page state change
 *    terminates the guest, as does a #VC for an unvalidated page that the
 *    unaccepted-memory bitmap does not list;
 *  - memory is accepted before it is converted, and the unaccepted table
 *    may list only E820 RAM away from the image, the boot data and itself;
 *  - anything the hypervisor can write (the GHCB, the shared buffer) is
 *    copied to private memory before it is checked or used.
 */
#ifndef SNP_KERNEL_SEV_H
#define SNP_KERNEL_SEV_H

#include "kernel/compat.h"
#include "kernel/snp-ghcb.h"

/* ---- boot_params (the "zero page", 4 KiB) --------------------------------- */

#define SNP_BP_SIZE	       4096
#define SNP_BP_CC_BLOB_ADDRESS 0x13c /* u32, carved from _pad4 by the SNP series */
#define SNP_BP_E820_ENTRIES    0x1e8 /* u8 */
#define SNP_BP_HDR_BOOT_FLAG   0x1fe /* u16 0xaa55 */
#define SNP_BP_HDR_MAGIC       0x202 /* u32 "HdrS" */
#define SNP_BP_HDR_SETUP_DATA  0x250 /* u64, head of the setup_data list */
#define SNP_BP_E820_TABLE      0x2d0 /* 128 x struct snp_e820_entry */
#define SNP_BP_BOOT_FLAG       0xaa55
#define SNP_BP_MAGIC	       0x53726448U /* "HdrS" */
#define SNP_E820_MAX_ENTRIES   128
#define SNP_E820_RAM	       1
#define SNP_E820_RESERVED      2

struct snp_e820_entry {
	__le64 addr;
	__le64 size;
	__le32 type;
} __packed;
SNP_ASSERT_SIZE(struct snp_e820_entry, 20);

/* setup_data list entries: header then @len bytes of payload. */
struct snp_setup_data {
	__le64 next;
	__le32 type;
	__le32 len;
} __packed;
SNP_ASSERT_SIZE(struct snp_setup_data, 16);

#define SNP_SETUP_CC_BLOB 7 /* payload: u32 cc_blob_address */
/*
 * The unaccepted-memory table. Linux finds it through the EFI configuration
 * table (LINUX_EFI_UNACCEPTED_MEM_TABLE_GUID); the simulated firmware has no
 * EFI, so it hands the table's address over in a setup_data entry of this
 * type (payload: u64 address). The table itself has Linux's layout.
 */
#define SNP_SETUP_UNACCEPTED_MEM 0x534e5001U
#define SNP_SETUP_MAX_ENTRIES	 64

struct snp_unaccepted_table {
	__le32 version;	  /* 1 */
	__le32 unit_size; /* bytes per bit, a power of two >= 4 KiB */
	__le64 phys_base; /* address of bit 0 */
	__le64 size;	  /* bytes of bitmap that follow */
	/* u8 bitmap[size]: bit n set = [phys_base + n * unit, +unit) not accepted yet */
} __packed;
SNP_ASSERT_SIZE(struct snp_unaccepted_table, 24);
#define SNP_UNACCEPTED_MAX_BITMAP (1U << 20) /* 8 Mi units */

/* ---- Confidential Computing blob and the SNP CPUID page (snp-abi.md §3.3) - */

#define SNP_CC_BLOB_MAGIC 0x45444d41U /* "AMDE" */

struct snp_cc_blob {
	__le32 magic;
	__le16 version;
	__le16 reserved;
	__le64 secrets_phys;
	__le32 secrets_len;
	__le32 rsvd1;
	__le64 cpuid_phys;
	__le32 cpuid_len;
	__le32 rsvd2;
} __packed;
SNP_ASSERT_SIZE(struct snp_cc_blob, 0x28);
SNP_ASSERT_OFFSET(struct snp_cc_blob, secrets_phys, 0x08);
SNP_ASSERT_OFFSET(struct snp_cc_blob, cpuid_phys, 0x18);

#define SNP_CPUID_COUNT_MAX 64

struct snp_cpuid_fn {
	__le32 eax_in;
	__le32 ecx_in;
	__le64 xcr0_in;
	__le64 xss_in;
	__le32 eax, ebx, ecx, edx;
	__le64 reserved;
} __packed;
SNP_ASSERT_SIZE(struct snp_cpuid_fn, 48);

struct snp_cpuid_table {
	__le32 count;
	__le32 reserved1;
	__le64 reserved2;
	struct snp_cpuid_fn fn[SNP_CPUID_COUNT_MAX];
} __packed;
SNP_ASSERT_SIZE(struct snp_cpuid_table, 16 + 48 * 64);

/* Legacy video and system ROM range: not RAM, so not validated by anyone before. */
#define SNP_LEGACY_ROM_START 0xc0000ULL
#define SNP_LEGACY_ROM_END   0x100000ULL

/* ---- the CPU and hypervisor, as the guest code sees them ----------------- */

/*
 * SNP_CPU_H (chosen by kernel/compat.h) gives the boot code its CPU, as
 * direct calls with the same names in both builds:
 *
 *   u64 snp_cpu_rdmsr(u32 msr);            void snp_cpu_wrmsr(u32 msr, u64 val);
 *   void snp_cpu_vmgexit(void);            rep; vmmcall: the hypervisor handles
 *                                          the exit and resumes us
 *   int snp_cpu_pvalidate(u64 vaddr, int rmp_psize, bool validate);
 *                                          EAX (SNP_PVALIDATE_*), or
 *                                          SNP_PVALIDATE_FAIL_NOUPDATE for CF = 1
 *   int snp_cpu_rmpadjust(u64 vaddr, int rmp_psize, u64 attrs);  EAX
 *   u64 snp_cpu_read_cr4(void);            u64 snp_cpu_xgetbv(u32 xcr);
 *   void snp_cpu_halt(void);               hlt
 *   int snp_cpu_read(u64 vaddr, void *buf, size_t len);
 *   int snp_cpu_write(u64 vaddr, const void *buf, size_t len);
 *                                          loads and stores through the page
 *                                          tables (a #VC on the way is handled
 *                                          before they return); 0 or -EFAULT
 *   void *snp_cpu_shared_page(u64 gpa);    the direct-map address of a page
 *                                          mapped shared (the GHCB)
 *   int snp_cpu_set_c_bit(u64 vaddr, u64 npages, bool encrypted);
 *                                          PTEs, caches and TLB; 0 or -errno
 *
 * In a kernel they are inlines over the instructions (kernel/snp-cpu.h); in
 * userspace, link-time functions over the simulated vCPU that runs the code
 * (sim/kshim/). No function pointer: startup code makes no indirect call.
 */
#include SNP_CPU_H

enum snp_accept_mode {
	SNP_ACCEPT_EAGER, /* pre-validate everything the bitmap lists, at boot */
	SNP_ACCEPT_LAZY,  /* accept a unit when it is first touched (#VC 0x404) */
};

/* Where the kernel image put things (linker symbols in a real kernel). */
struct snp_boot_layout {
	u64 image_start, image_end;
	u64 bss_decrypted_start, bss_decrypted_end; /* page aligned */
	u64 ghcb_gpa;				    /* the boot GHCB page, in the image */
};

struct snp_sev_stats {
	u64 msr_exits;	  /* VMGEXITs with the MSR protocol */
	u64 nae_exits;	  /* VMGEXITs with the GHCB */
	u64 psc_msr;	  /* single-page page state changes (MSR protocol) */
	u64 psc_exits;	  /* page state change NAE exits */
	u64 psc_entries;  /* descriptor entries sent */
	u64 pvalidate_4k; /* PVALIDATE instructions, by size */
	u64 pvalidate_2m;
	u64 size_mismatch;    /* 2M PVALIDATEs redone as 512 x 4K */
	u64 pages_validated;  /* 4K pages made valid */
	u64 pages_rescinded;  /* 4K pages made invalid */
	u64 vc_not_validated; /* #VC 0x404 taken */
	u64 units_accepted;   /* unaccepted-memory units accepted */
	u64 cpuid_table;      /* CPUID answered from the CPUID table */
	u64 cpuid_hv;	      /* CPUID questions to the hypervisor (APIC IDs only, with a table) */
};

struct snp_sev {
	u64 sev_status;
	u16 ghcb_version; /* negotiated */
	u8 cbit_pos;
	u64 hv_features;
	u64 ghcb_gpa;	       /* registered GHCB, 0 before */
	struct snp_ghcb *ghcb; /* its direct-map address */
	bool ghcb_busy;	       /* a NAE exit is being prepared or answered */
	bool in_vc;	       /* accepting memory for a #VC */
	u64 secrets_gpa, cpuid_gpa;
	/* private copy of the CPUID page and its ranges (snp-cpuid.c) */
	struct snp_cpuid_table cpuid_table;
	u32 cpuid_std_max, cpuid_hyp_max, cpuid_ext_max;
	/* unaccepted memory */
	u64 unaccepted_gpa; /* of the table; 0 = none */
	u64 unit_size, accept_base, accept_units;
	enum snp_accept_mode mode;
	/* the E820 map of boot_params, for checking the unaccepted table */
	u8 e820_nr;
	struct snp_e820_entry e820[SNP_E820_MAX_ENTRIES];
	/* what made the guest stop (for the simulator's report) */
	u8 term_set, term_code;
	u64 term_info;
	struct snp_sev_stats stats;
	/* private copy of the descriptor (the shared buffer is the hypervisor's) */
	struct snp_psc_desc psc;
};

void snp_sev_init(struct snp_sev *g);

/* SEV_STATUS says SNP (set by snp_sev_detect()). */
bool snp_sev_snp_active(const struct snp_sev *g);

/*
 * Ask the hypervisor to end the guest (MSR protocol). @info is what went
 * wrong (an address, a status) for the simulator's report. Never returns:
 * the hypervisor must not resume a guest that asked to die. Inline so that
 * every object shows objtool the final loop (it cannot see across objects
 * that an out-of-line function never returns).
 */
static inline __noreturn void snp_sev_terminate(struct snp_sev *g, u8 set, u8 code, u64 info)
{
	g->term_set = set;
	g->term_code = code;
	g->term_info = info;
	snp_cpu_wrmsr(SNP_MSR_GHCB, SNP_GHCB_MSR_TERM(set, code));
	snp_cpu_vmgexit();
	for (;;)
		snp_cpu_halt();
}

/* Read SEV_STATUS; terminate if SNP is on with a feature we cannot honour. */
int snp_sev_detect(struct snp_sev *g);
/* SEV information request; saves the version. Terminates below v2. */
void snp_sev_negotiate_protocol(struct snp_sev *g);
/* Hypervisor features (MSR protocol); terminates without the SNP bit. */
void snp_sev_check_hv_features(struct snp_sev *g);
/* Terminate unless running at VMPL0 (RMPADJUST probe on @probe_vaddr). */
void snp_sev_enforce_vmpl0(struct snp_sev *g, u64 probe_vaddr);
/* Register @gpa as the GHCB (MSR protocol) and map it; terminates on a mismatch. */
void snp_sev_register_ghcb(struct snp_sev *g, u64 gpa);
/* Park an AP until the hypervisor releases it (MSR protocol). */
void snp_sev_ap_reset_hold(struct snp_sev *g);

/*
 * A NAE exit through the registered GHCB: prepare clears the valid bitmap
 * and sets SW_EXITCODE, SW_EXITINFO1/2 (marked valid); the caller adds what
 * else the exit needs; exit points the GHCB MSR at the GHCB and exits.
 * The answer is in the GHCB (shared: copy before checking).
 */
void snp_sev_ghcb_prepare(struct snp_sev *g, u64 exit_code, u64 info1, u64 info2);
void snp_sev_ghcb_exit(struct snp_sev *g);

/* PVALIDATE [vaddr, +npages 4K) with 2M where aligned; terminates on failure. */
void snp_sev_pvalidate_range(struct snp_sev *g, u64 vaddr, u64 npages, bool validate);

/* Early boot (MSR protocol, one page per exit, no GHCB needed). */
void snp_sev_early_set_memory_private(struct snp_sev *g, u64 paddr, u64 npages);
void snp_sev_early_set_memory_shared(struct snp_sev *g, u64 paddr, u64 npages);
/* Runtime (GHCB page state change descriptors, up to 253 entries per exit). */
void snp_sev_set_memory_private(struct snp_sev *g, u64 vaddr, u64 npages);
void snp_sev_set_memory_shared(struct snp_sev *g, u64 vaddr, u64 npages);

/* set_memory_{en,de}crypted(): page tables and RMP, in the safe order. */
int snp_sev_set_memory_encrypted(struct snp_sev *g, u64 vaddr, u64 npages);
int snp_sev_set_memory_decrypted(struct snp_sev *g, u64 vaddr, u64 npages);
int snp_sev_early_set_memory_encrypted(struct snp_sev *g, u64 vaddr, u64 npages);
int snp_sev_early_set_memory_decrypted(struct snp_sev *g, u64 vaddr, u64 npages);

/* Accept [start, end) as the unaccepted-memory bitmap lists it. */
void snp_sev_accept_memory(struct snp_sev *g, u64 start, u64 end);
/* Is the unit holding @gpa still listed as unaccepted? */
bool snp_sev_unaccepted(struct snp_sev *g, u64 gpa);

/*
 * The #VC handler's SNP part. 0x404 (page not validated): accept the unit
 * if the bitmap lists it, else terminate. Anything else terminates.
 */
void snp_sev_handle_vc(struct snp_sev *g, u64 error_code, u64 fault_addr);

/*
 * The boot flow, from the boot_params at @boot_params: find the CC blob,
 * check SNP, secrets and CPUID pages, protocol and features, VMPL0; share
 * and register the GHCB; validate the legacy ROM; make .bss..decrypted
 * shared; then pre-validate all unaccepted memory or set up lazy
 * acceptance. 0 on success (failures terminate); -ENODEV when SEV_STATUS
 * says this is not an SNP guest.
 */
int snp_sev_boot(struct snp_sev *g, u64 boot_params, const struct snp_boot_layout *layout,
		 enum snp_accept_mode mode);

#endif /* SNP_KERNEL_SEV_H */
