/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * The module's door to the kernel's SEV code (snp-guest-kexit.c), in
 * plain types. The file behind it is the only one that includes
 * <asm/sev.h>: its upstream types are used there, and never meet
 * kernel/'s own GHCB and page-state declarations (which the simulator
 * and snp-sev.c need) in one translation unit.
 */
#ifndef SNP_KERNEL_GUEST_KEXIT_H
#define SNP_KERNEL_GUEST_KEXIT_H

#include <linux/types.h>

struct device;

/*
 * snp_issue_guest_request() of this kernel. @exit_code is the guest
 * request or the extended one (then @data_pa and *@data_npages name the
 * certificate pages, and *@data_npages is the number wanted on
 * INVALID_LEN). Always sets *@exitinfo2: SEV_RET_NO_FW_CALL when the exit
 * was not made or refused, else the hypervisor's SW_EXITINFO2.
 * Returns 0 or a negative errno.
 */
int snp_kexit_guest_request(u64 exit_code, phys_addr_t req_pa, phys_addr_t resp_pa,
			    phys_addr_t data_pa, unsigned int *data_npages, u64 *exitinfo2);

/* Whether @exitinfo2 says the firmware never saw the request. */
bool snp_kexit_no_fw_call(u64 exitinfo2);

/* The exit code of the extended guest request. */
u64 snp_kexit_ext_guest_request(void);

/* The secrets page's GPA from the "sev-guest" platform device's data. */
int snp_kexit_secrets_gpa(struct device *dev, u64 *gpa);

#endif /* SNP_KERNEL_GUEST_KEXIT_H */
