// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * The kernel's SEV interface as the module uses it, with the upstream
 * types of <asm/sev.h> and <uapi/linux/sev-guest.h> (see
 * snp-guest-kexit.h). Written against Debian 12's 6.1 (the stable
 * backport where snp_issue_guest_request() takes the ioctl structure for
 * exitinfo2).
 */
#include <linux/device.h>
#include <linux/types.h>
#include <uapi/linux/psp-sev.h>
#include <uapi/linux/sev-guest.h>
#include <asm/sev.h>
#include <asm/svm.h>

#include "kernel/snp-guest-kexit.h"

int snp_kexit_guest_request(u64 exit_code, phys_addr_t req_pa, phys_addr_t resp_pa,
			    phys_addr_t data_pa, unsigned int *data_npages, u64 *exitinfo2)
{
	struct snp_guest_request_ioctl rio = { .exitinfo2 = SEV_RET_NO_FW_CALL };
	struct snp_req_data input = {
		.req_gpa = req_pa,
		.resp_gpa = resp_pa,
	};
	int rc;

	if (exit_code == SVM_VMGEXIT_EXT_GUEST_REQUEST) {
		input.data_gpa = data_pa;
		input.data_npages = *data_npages;
	}
	rc = snp_issue_guest_request(exit_code, &input, &rio);
	*exitinfo2 = rio.exitinfo2;
	if (exit_code == SVM_VMGEXIT_EXT_GUEST_REQUEST)
		*data_npages = input.data_npages;
	return rc;
}

bool snp_kexit_no_fw_call(u64 exitinfo2)
{
	return exitinfo2 == (u64)SEV_RET_NO_FW_CALL;
}

u64 snp_kexit_ext_guest_request(void)
{
	return SVM_VMGEXIT_EXT_GUEST_REQUEST;
}

int snp_kexit_secrets_gpa(struct device *dev, u64 *gpa)
{
	struct sev_guest_platform_data *data = dev_get_platdata(dev);

	if (!data || !data->secrets_gpa)
		return -ENODEV;
	*gpa = data->secrets_gpa;
	return 0;
}
