/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A simulated SNP guest boot: the launch (firmware image, boot_params, CC
 * blob, secrets and CPUID pages, unaccepted-memory table) on a simulated
 * machine, the kernel/ boot code (snp_sev_boot), an optional attack by the
 * hypervisor, and a run phase that reads the kernel image, optionally gets
 * an attestation report through the guest's GHCB (kernel/snp-guest.c over
 * the machine's relay to sim/hypervisor.c and the simulated firmware), asks
 * CPUID leaves (kernel/snp-cpuid.c), and touches memory. Used by `snpctl sim boot`, the tests and the benchmark.
 *
 * Guest-physical layout (identity mapped):
 *   0x007000  boot_params        0x008000  CC blob
 *   0x009000  secrets page       0x00a000  CPUID page
 *   0x00b000  setup_data list    0x010000  unaccepted-memory table
 *   0x0c0000-0x100000  legacy ROMs (not RAM; shared until the guest validates them)
 *   0x200000-0x400000  kernel image; boot GHCB at 0x3e0000,
 *                      .bss..decrypted 0x3f0000-0x400000 (shared; the guest
 *                      request page at 0x3f0000, response 0x3f1000,
 *                      certificate area from 0x3f2000)
 *   [0, 640K) and [1M, 4M) are validated by the launch; from 4M on, RAM is
 *   listed in the unaccepted bitmap in 2M units.
 */
#ifndef SNP_SIM_BOOT_H
#define SNP_SIM_BOOT_H

#include "kernel/snp-report.h"
#include "sim/machine.h"

#define SIM_BOOT_PARAMS	       0x7000ULL
#define SIM_BOOT_CC_BLOB       0x8000ULL
#define SIM_BOOT_SECRETS       0x9000ULL
#define SIM_BOOT_CPUID	       0xa000ULL
#define SIM_BOOT_SETUP_DATA    0xb000ULL
#define SIM_BOOT_UNACCEPTED    0x10000ULL
#define SIM_BOOT_LOW_RAM_END   0xa0000ULL
#define SIM_BOOT_IMAGE_START   0x200000ULL
#define SIM_BOOT_IMAGE_END     0x400000ULL
#define SIM_BOOT_GHCB	       0x3e0000ULL
#define SIM_BOOT_BSS_DEC_START 0x3f0000ULL
#define SIM_BOOT_BSS_DEC_END   0x400000ULL
#define SIM_BOOT_ACCEPT_BASE   0x400000ULL
#define SIM_BOOT_UNIT	       SNP_PMD_SIZE
/* Guest-request pages in .bss..decrypted: request, response, certificate area. */
#define SIM_BOOT_GREQ_REQUEST  SIM_BOOT_BSS_DEC_START
#define SIM_BOOT_GREQ_RESPONSE (SIM_BOOT_BSS_DEC_START + SNP_PAGE_SIZE)
#define SIM_BOOT_GREQ_CERTS    (SIM_BOOT_BSS_DEC_START + 2 * SNP_PAGE_SIZE)

struct sim_state;

struct sim_boot_opts {
	u64 memory_mib;
	enum snp_accept_mode mode;
	u64 touch_mib; /* touched from SIM_BOOT_ACCEPT_BASE on, in the run phase */
	enum sim_attack attack;
	bool attack_after_boot;	    /* psc-ignore, psc-partial, ...: honest until the run phase */
	bool cc_blob_in_setup_data; /* only SETUP_CC_BLOB, boot_params field 0 */
	/* more knobs of the machine */
	u32 vmpl;
	u64 sev_status; /* 0: SEV | SEV-ES | SNP */
	u32 psc_max_entries, psc_max_pages;
	bool psc_4k_only;
	/* Tests: run in the run phase, before the touch, with the booted guest. */
	void (*after_boot)(struct snp_sev *g, void *arg);
	void *after_boot_arg;
	/* Fuzzing: passed to sim_machine_set_mutator() before the launch. */
	size_t (*mutator)(void *ud, void *buf, size_t len);
	void *mutator_arg;
	/*
	 * Attestation. With @state (borrowed; its firmware counters move, nothing
	 * is written to disk) the launch puts the state's secrets page in, a
	 * simulated firmware is attached to the machine, and the run phase gets a
	 * report with @report_data through the GHCB, with VMPCK0.
	 */
	struct sim_state *state;
	u8 report_data[64];
	unsigned int retry_interval_ms, retry_timeout_ms; /* BUSY backoff; 0 = driver default */
	/* Tests: called with the machine before the run phase (e.g. sim_machine_hv() faults). */
	void (*before_run)(struct sim_machine *m, void *arg);
	void *before_run_arg;
	/* Tests: change what the launch puts into [0, 640K) (boot_params, CC blob, tables). */
	void (*tweak_launch)(u8 *low, size_t len, void *arg);
	void *tweak_launch_arg;
	/* The vCPU's XSAVE state (sim_machine_cfg); the CPUID page's count, if not 0. */
	bool no_osxsave;
	u64 xcr0, xss;
	u32 cpuid_count;
};

/*
 * CPUID leaves the run phase asks (through the guest's #VC handler, i.e.
 * kernel/snp-cpuid.c), with what the guest got, what the CPUID page holds
 * and what the hypervisor answers.
 */
#define SIM_BOOT_CPUID_PROBES 14
struct sim_cpuid_probe {
	u32 fn, subfn;
	bool answered;		       /* the guest got an answer (it may have stopped before) */
	bool in_table;		       /* the CPUID page has an entry for it */
	u32 guest[4], table[4], hv[4]; /* EAX, EBX, ECX, EDX */
};

struct sim_boot_result {
	struct sim_run_exit exit;
	const char *phase; /* "boot" or "run": where the guest stopped or finished */
	u64 victim_gpa;	   /* remap/unvalidate: the page attacked */
	struct snp_sev_stats guest;
	struct sim_machine_stats hw;
	u16 ghcb_version;
	u64 hv_features;
	double boot_ms, run_ms;
	/* Scan of the RMP after the run */
	u64 ram_pages;
	u64 pages_valid;  /* private and validated now */
	u64 pages_launch; /* validated by the launch */
	u64 pages_twice;  /* validated more than once */
	u64 units_left;	  /* still listed as unaccepted */
	/*
	 * Attestation (opts->state): report_rc is the driver's 0 or -errno,
	 * -EIO when the firmware's response carried a nonzero status (then in
	 * report_exitinfo2), or -ECANCELED when the guest stopped before the
	 * request was answered; hw.guest_requests counts the exits relayed.
	 */
	bool have_report;
	int report_rc;
	u64 report_exitinfo2;
	u8 report[sizeof(struct snp_report)]; /* ATTESTATION_REPORT, when have_report */
	struct sim_cpuid_probe cpuid[SIM_BOOT_CPUID_PROBES];
};

/*
 * Boot a guest as @opts says. On return *ret_machine (if not NULL) is the
 * machine for inspection (free it with sim_machine_free(); no firmware is
 * attached to it any more), and @res says what happened. A failed report
 * does not stop the run: it is recorded in @res. Returns 0 when the guest booted and ran, 1 when it was
 * stopped (terminated itself, or stopped by the hypervisor), or a negative
 * errno for bad options or no memory.
 */
int sim_boot(const struct sim_boot_opts *opts, struct sim_machine **ret_machine,
	     struct sim_boot_result *res);

/* "reason set 1 code 2 (PVALIDATE failure)"-style name of a termination reason. */
const char *sim_term_reason(u8 set, u8 code);

#endif /* SNP_SIM_BOOT_H */
