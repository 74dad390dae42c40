/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The simulated SEV-SNP machine under the guest's memory: guest RAM backed
 * by system pages, the nested page table (GPA -> system page), the RMP (one
 * entry per system page), the vCPU's MSRs and page tables, the hardware
 * side of PVALIDATE and RMPADJUST, #VC 0x404 on a private access to an
 * unvalidated page, and the hypervisor side of the GHCB protocol (MSR
 * protocol; NAE exits for page state change, hypervisor features,
 * termination, CPUID, and guest requests, which it relays to sim/hypervisor.c
 * and the simulated firmware once one is attached). The hypervisor can be
 * told to misbehave.
 *
 * The guest code (kernel/snp-sev.c, snp-cpuid.c) drives it through the
 * snp_cpu_*() functions of sim/kshim/: sim_machine_run() makes the machine
 * the calling thread's vCPU while it runs guest code.
 */
#ifndef SNP_SIM_MACHINE_H
#define SNP_SIM_MACHINE_H

#include <stdbool.h>
#include <stddef.h>

#include "kernel/snp-sev.h"

#define SIM_MACHINE_MIN_RAM (8ULL << 20)
#define SIM_MACHINE_MAX_RAM (64ULL << 30)

/*
 * RMP entry of one system page, in the Milan/Genoa layout (snp-abi.md §8.7;
 * the format is not architectural): assigned bit 0, page size bit 1 (2M),
 * immutable bit 2, GPA 50:12, ASID 60:51, VMSA 61, validated 62, lock 63;
 * and the VMPL permission masks.
 */
#define SIM_RMP_ASSIGNED   BIT_ULL(0)
#define SIM_RMP_PAGESIZE   BIT_ULL(1)
#define SIM_RMP_IMMUTABLE  BIT_ULL(2)
#define SIM_RMP_GPA_MASK   GENMASK_ULL(50, 12)
#define SIM_RMP_ASID_SHIFT 51
#define SIM_RMP_ASID_MASK  GENMASK_ULL(60, 51)
#define SIM_RMP_VMSA	   BIT_ULL(61)
#define SIM_RMP_VALIDATED  BIT_ULL(62)
#define SIM_RMP_LOCK	   BIT_ULL(63)
#define SIM_GUEST_ASID	   1

struct sim_rmp_entry {
	u64 lo;
	u8 vmpl_perms[4];
	u32 rsvd;
};

enum sim_attack {
	SIM_ATTACK_NONE = 0,
	SIM_ATTACK_REMAP,      /* sim_machine_remap() moves a private page (harness decides when) */
	SIM_ATTACK_UNVALIDATE, /* sim_machine_unvalidate() clears Validated behind the guest */
	SIM_ATTACK_PSC_IGNORE, /* page state changes are left unanswered */
	SIM_ATTACK_PSC_PARTIAL, /* half of each page state change is done, all of it claimed */
	SIM_ATTACK_NO_SNP,	/* hypervisor features without the SNP bit */
	SIM_ATTACK_GHCB_V1,	/* only GHCB protocol version 1 offered */
	SIM_ATTACK_CPUID_LIE,	/* CPUID answers (MSR protocol and NAE) differ from the table */
};

/* cpuid-lie: every register of every CPUID answer is the honest one XOR this. */
#define SIM_CPUID_LIE_XOR 0x5a5a5a5aU

/* "remap" -> SIM_ATTACK_REMAP etc.; -EINVAL for an unknown name. */
int sim_attack_from_string(const char *s, enum sim_attack *ret);
const char *sim_attack_to_string(enum sim_attack a);

struct sim_machine_cfg {
	u64 ram_size;		/* bytes; multiple of 2 MiB in [MIN, MAX] */
	u64 sev_status;		/* SEV_STATUS MSR; 0 = SEV | SEV-ES | SNP */
	u16 ghcb_min, ghcb_max; /* offered protocol versions; 0 = 1 and 2 */
	u8 cbit_pos;		/* 0 = 51 */
	u64 hv_features;	/* 0 = SNP | AP creation | multiple VMPLs */
	u32 vmpl;		/* VMPL the guest runs at */
	u32 psc_max_entries;	/* honest hypervisor: entries done per exit (0 = all) */
	u32 psc_max_pages;	/* honest: 4K pages of a 2M entry per exit (0 = all) */
	bool psc_4k_only;	/* back 2M private requests with 4K RMP entries */
	enum sim_attack attack;
	u32 spare_pages; /* system pages beyond RAM for remapping; 0 = 64 */
	/* the vCPU's XSAVE state: CR4.OSXSAVE unless no_osxsave; XCR0 (0 = x87|SSE|AVX); XSS */
	bool no_osxsave;
	u64 xcr0, xss;
};

struct sim_machine_stats {
	u64 msr_exits, nae_exits;
	u64 psc_msr;	 /* MSR-protocol page state changes */
	u64 psc_exits;	 /* NAE page state change exits */
	u64 psc_entries; /* entries processed (fully or partly) */
	u64 rmpupdates;	 /* 4K RMP entries written by RMPUPDATE */
	u64 psmash;
	u64 pvalidate_4k, pvalidate_2m, pvalidate_failed, size_mismatch;
	u64 rmpadjust;
	u64 vc_404, npf;
	u64 validated_pages; /* 4K pages whose Validated bit went 0 -> 1 */
	u64 rescinded_pages; /* ... 1 -> 0 by PVALIDATE */
	u64 guest_requests;  /* guest request exits relayed to the firmware's hypervisor */
	u64 cpuid_msr;	     /* CPUID registers asked for with the MSR protocol */
	u64 cpuid_nae;	     /* CPUID NAE exits (0x72) */
};

/* How a run of guest code ended. */
enum sim_run_result {
	SIM_RUN_DONE = 0,	/* the guest function returned */
	SIM_RUN_TERMINATED = 1, /* the guest asked to be terminated */
	SIM_RUN_HV_STOPPED = 2, /* the hypervisor stopped it (protocol violation, stuck fault) */
};

struct sim_run_exit {
	enum sim_run_result result;
	u8 term_set, term_code; /* SIM_RUN_TERMINATED */
	u64 gpa;		/* the address involved, if any */
	char why[160];		/* one line */
};

struct sim_machine;
struct sim_fw;
struct sim_hv;

/* Pages of RAM are not assigned (shared) at first; launch assigns some. */
int sim_machine_new(const struct sim_machine_cfg *cfg, struct sim_machine **ret);
struct sim_machine *sim_machine_free(struct sim_machine *m);

/*
 * The machine whose sim_machine_run() is running guest code on the calling
 * thread (what snp_cpu_*() act on), NULL outside a run.
 */
struct sim_machine *sim_machine_current(void);

/*
 * LAUNCH_UPDATE: assign [gpa, gpa + len) to the guest (4K RMP entries),
 * validated, with @data (NULL: zeros) as contents. len is rounded up to pages.
 */
int sim_machine_launch_update(struct sim_machine *m, u64 gpa, const void *data, size_t len);
/* The host's view of guest memory (no RMP checks); for setting up and tests. */
int sim_machine_host_write(struct sim_machine *m, u64 gpa, const void *data, size_t len);
int sim_machine_host_read(struct sim_machine *m, u64 gpa, void *data, size_t len);

/* The guest's #VC entry point (its IDT): called from inside read/write. */
void sim_machine_set_vc_handler(struct sim_machine *m,
				void (*fn)(void *ctx, u64 error_code, u64 fault_addr), void *ctx);

/*
 * Run guest code @fn(@arg) on the vCPU. Returns how it ended; a termination
 * request or a hypervisor stop leaves @fn in the middle (longjmp).
 */
enum sim_run_result sim_machine_run(struct sim_machine *m, void (*fn)(void *arg), void *arg,
				    struct sim_run_exit *ret_exit);

/*
 * The hypervisor's CPUID: an honest one answers what its CPUID page @t
 * (the one it gave the firmware at launch) holds for @fn/@subfn (subfn
 * compared for indexed leaves only), zeros for anything else, with APIC
 * ID 0; cpuid-lie XORs every register with SIM_CPUID_LIE_XOR. Before
 * sim_machine_set_cpuid() every answer is zero (or the lie's mask).
 */
void sim_machine_set_cpuid(struct sim_machine *m, const struct snp_cpuid_table *t);
/* What the hypervisor answers (attack included) for @fn/@subfn: regs[4] = EAX..EDX. */
void sim_machine_hv_cpuid(const struct sim_machine *m, u32 fn, u32 subfn, u32 regs[4]);

/* Change how the hypervisor behaves from now on (e.g. after an honest boot). */
int sim_machine_set_attack(struct sim_machine *m, enum sim_attack a);

/* Hypervisor attacks on a private page, at a moment of the harness's choosing. */
int sim_machine_remap(struct sim_machine *m, u64 gpa);
int sim_machine_unvalidate(struct sim_machine *m, u64 gpa);

struct sim_page_info {
	bool assigned, validated, huge; /* RMP of the system page now backing @gpa */
	bool c_bit;			/* guest PTE says private */
	u64 rmp_gpa;
	u64 spa_pfn;
	u32 validations; /* times this GPA's page went from not validated to validated */
	u32 rescinds;
	u8 vmpl_perms[4];
};
int sim_machine_page(const struct sim_machine *m, u64 gpa, struct sim_page_info *ret);
const struct sim_machine_stats *sim_machine_stats(const struct sim_machine *m);
u64 sim_machine_ram_size(const struct sim_machine *m);
/* The GPA the guest registered as its GHCB (0 before). */
u64 sim_machine_ghcb_gpa(const struct sim_machine *m);

/*
 * Guest requests (SNP_NAE_GUEST_REQUEST, SNP_NAE_EXT_GUEST_REQUEST) on the
 * registered GHCB: without a firmware they are answered as an invalid event.
 * With one, the machine keeps a struct sim_hv (sim/hypervisor.c) over a
 * bounce copy of struct snp_guest_shared it owns, and relays each request:
 * the request, response and certificate pages must be page aligned, in RAM
 * and shared in the RMP (the hypervisor cannot touch private memory), else
 * the exit is refused as malformed input. @fw (and its state) is borrowed:
 * it must outlive every guest request the machine relays. Attaching twice
 * is allowed with the same @fw only (-EBUSY otherwise); @fw NULL detaches
 * (guest requests are invalid events again). 0 or a negative errno.
 */
int sim_machine_attach_fw(struct sim_machine *m, struct sim_fw *fw);
/* The relaying hypervisor, for fault injection (NULL before sim_machine_attach_fw()). */
struct sim_hv *sim_machine_hv(struct sim_machine *m);

/*
 * Fuzzing: every answer of the hypervisor (MSR-protocol responses, NAE
 * SW_EXITINFO1/2, the page state change header and entries after
 * processing) may be changed by bytes taken from @take; it returns how many
 * it could give (0 when exhausted: answers are then left as they are).
 */
void sim_machine_set_mutator(struct sim_machine *m, size_t (*take)(void *ud, void *buf, size_t len),
			     void *ud);

#endif /* SNP_SIM_MACHINE_H */
