// SPDX-License-Identifier: Apache-2.0
/*
 * Check our copy of the /dev/sev-guest ioctl ABI (kernel/snp-uapi.h)
 * against the system's <linux/sev-guest.h>: the size of every struct, the
 * offset and size of every field, the signedness of every scalar field,
 * and the three ioctl numbers, which must also be the values written in
 * snp-abi.md §2.7.
 *
 * Plain C (no cmocka): the check must run wherever the kernel headers are.
 * Exit 0 when everything matches, 1 on a mismatch, 77 without the header.
 */
#include <stddef.h>
#include <stdio.h>

#if !defined(__has_include)
#define SNP_NO_SEV_GUEST_H 1
#elif !__has_include(<linux/sev-guest.h>)
#define SNP_NO_SEV_GUEST_H 1
#endif

#ifdef SNP_NO_SEV_GUEST_H
int main(void)
{
	fprintf(stderr, "SKIP: <linux/sev-guest.h> not installed (linux-libc-dev)\n");
	return 77;
}
#else

#include <linux/sev-guest.h>

#include "kernel/snp-uapi.h"

static unsigned int n_checks;
static unsigned int n_failed;

/* @sys is the reference: the system header or the number from the ABI. */
static void check_eq(const char *what, unsigned long long ours, unsigned long long sys)
{
	n_checks++;
	if (ours == sys)
		return;
	n_failed++;
	fprintf(stderr, "FAIL: %s: ours %llu (0x%llx), reference %llu (0x%llx)\n", what, ours, ours,
		sys, sys);
}

/* sizeof and alignment of a whole struct */
#define CHECK_STRUCT(ours, sys)                                                                    \
	do {                                                                                       \
		check_eq("sizeof(struct " #ours ") vs struct " #sys, sizeof(struct ours),          \
			 sizeof(struct sys));                                                      \
		check_eq("_Alignof(struct " #ours ") vs struct " #sys, _Alignof(struct ours),      \
			 _Alignof(struct sys));                                                    \
	} while (0)

/* offset and size of a field (any type, arrays and sub-structs included) */
#define CHECK_FIELD(ours, sys, field, sysfield)                                                    \
	do {                                                                                       \
		check_eq("offsetof(" #ours "." #field ") vs " #sys "." #sysfield,                  \
			 offsetof(struct ours, field), offsetof(struct sys, sysfield));            \
		check_eq("sizeof(" #ours "." #field ") vs " #sys "." #sysfield,                    \
			 sizeof(((struct ours *)0)->field), sizeof(((struct sys *)0)->sysfield));  \
	} while (0)

/* as CHECK_FIELD, and an integer field must agree in signedness too */
#define CHECK_SCALAR(ours, sys, field, sysfield)                                                   \
	do {                                                                                       \
		CHECK_FIELD(ours, sys, field, sysfield);                                           \
		check_eq("signedness of " #ours "." #field " vs " #sys "." #sysfield,              \
			 (__typeof__(((struct ours *)0)->field))-1 > 0,                            \
			 (__typeof__(((struct sys *)0)->sysfield))-1 > 0);                         \
	} while (0)

/* an array field: also the element size */
#define CHECK_ARRAY(ours, sys, field)                                                              \
	do {                                                                                       \
		CHECK_FIELD(ours, sys, field, field);                                              \
		check_eq("element size of " #ours "." #field " vs " #sys "." #field,               \
			 sizeof(((struct ours *)0)->field[0]),                                     \
			 sizeof(((struct sys *)0)->field[0]));                                     \
	} while (0)

static void check_report_req(void)
{
	CHECK_STRUCT(snp_ioc_report_req, snp_report_req);
	CHECK_ARRAY(snp_ioc_report_req, snp_report_req, user_data);
	CHECK_SCALAR(snp_ioc_report_req, snp_report_req, vmpl, vmpl);
	CHECK_ARRAY(snp_ioc_report_req, snp_report_req, rsvd);
}

static void check_report_resp(void)
{
	CHECK_STRUCT(snp_ioc_report_resp, snp_report_resp);
	CHECK_ARRAY(snp_ioc_report_resp, snp_report_resp, data);
}

static void check_derived_key_req(void)
{
	CHECK_STRUCT(snp_ioc_derived_key_req, snp_derived_key_req);
	CHECK_SCALAR(snp_ioc_derived_key_req, snp_derived_key_req, root_key_select,
		     root_key_select);
	CHECK_SCALAR(snp_ioc_derived_key_req, snp_derived_key_req, rsvd, rsvd);
	CHECK_SCALAR(snp_ioc_derived_key_req, snp_derived_key_req, guest_field_select,
		     guest_field_select);
	CHECK_SCALAR(snp_ioc_derived_key_req, snp_derived_key_req, vmpl, vmpl);
	CHECK_SCALAR(snp_ioc_derived_key_req, snp_derived_key_req, guest_svn, guest_svn);
	CHECK_SCALAR(snp_ioc_derived_key_req, snp_derived_key_req, tcb_version, tcb_version);
}

static void check_derived_key_resp(void)
{
	CHECK_STRUCT(snp_ioc_derived_key_resp, snp_derived_key_resp);
	CHECK_ARRAY(snp_ioc_derived_key_resp, snp_derived_key_resp, data);
}

static void check_guest_request(void)
{
	CHECK_STRUCT(snp_ioc_guest_request, snp_guest_request_ioctl);
	CHECK_SCALAR(snp_ioc_guest_request, snp_guest_request_ioctl, msg_version, msg_version);
	CHECK_SCALAR(snp_ioc_guest_request, snp_guest_request_ioctl, req_data, req_data);
	CHECK_SCALAR(snp_ioc_guest_request, snp_guest_request_ioctl, resp_data, resp_data);
#ifdef SNP_GUEST_VMM_ERR_SHIFT
	/* Linux >= 6.4: union of exitinfo2 and { fw_error, vmm_error } */
	CHECK_SCALAR(snp_ioc_guest_request, snp_guest_request_ioctl, exitinfo2, exitinfo2);
	CHECK_SCALAR(snp_ioc_guest_request, snp_guest_request_ioctl, fw_error, fw_error);
	CHECK_SCALAR(snp_ioc_guest_request, snp_guest_request_ioctl, vmm_error, vmm_error);
	check_eq("SNP_GUEST_VMM_ERR_SHIFT vs bit offset of vmm_error", SNP_GUEST_VMM_ERR_SHIFT,
		 8 * (offsetof(struct snp_ioc_guest_request, vmm_error) -
		      offsetof(struct snp_ioc_guest_request, exitinfo2)));
#else
	/* older headers: the same 8 bytes were a single __u64 fw_err */
	fprintf(stderr, "note: old <linux/sev-guest.h> (fw_err), checking exitinfo2 against it\n");
	CHECK_SCALAR(snp_ioc_guest_request, snp_guest_request_ioctl, exitinfo2, fw_err);
	check_eq("offsetof(snp_ioc_guest_request.fw_error) vs fw_err",
		 offsetof(struct snp_ioc_guest_request, fw_error),
		 offsetof(struct snp_guest_request_ioctl, fw_err));
	check_eq("offsetof(snp_ioc_guest_request.vmm_error) vs fw_err + 4",
		 offsetof(struct snp_ioc_guest_request, vmm_error),
		 offsetof(struct snp_guest_request_ioctl, fw_err) + 4);
#endif
}

static void check_ext_report_req(void)
{
	CHECK_STRUCT(snp_ioc_ext_report_req, snp_ext_report_req);
	CHECK_FIELD(snp_ioc_ext_report_req, snp_ext_report_req, data, data);
	CHECK_FIELD(snp_ioc_ext_report_req, snp_ext_report_req, data.user_data, data.user_data);
	CHECK_FIELD(snp_ioc_ext_report_req, snp_ext_report_req, data.vmpl, data.vmpl);
	CHECK_FIELD(snp_ioc_ext_report_req, snp_ext_report_req, data.rsvd, data.rsvd);
	CHECK_SCALAR(snp_ioc_ext_report_req, snp_ext_report_req, certs_address, certs_address);
	CHECK_SCALAR(snp_ioc_ext_report_req, snp_ext_report_req, certs_len, certs_len);
}

static void check_ioctl_numbers(void)
{
	/* ours against the system header */
	check_eq("SNP_IOC_GET_REPORT vs SNP_GET_REPORT", SNP_IOC_GET_REPORT, SNP_GET_REPORT);
	check_eq("SNP_IOC_GET_DERIVED_KEY vs SNP_GET_DERIVED_KEY", SNP_IOC_GET_DERIVED_KEY,
		 SNP_GET_DERIVED_KEY);
	check_eq("SNP_IOC_GET_EXT_REPORT vs SNP_GET_EXT_REPORT", SNP_IOC_GET_EXT_REPORT,
		 SNP_GET_EXT_REPORT);
	check_eq("SNP_IOC_TYPE vs SNP_GUEST_REQ_IOC_TYPE", SNP_IOC_TYPE, SNP_GUEST_REQ_IOC_TYPE);

	/* both against the numbers of the ABI (snp-abi.md §2.7) */
	check_eq("SNP_IOC_GET_REPORT vs 0xC0205300", SNP_IOC_GET_REPORT, 0xC0205300UL);
	check_eq("SNP_IOC_GET_DERIVED_KEY vs 0xC0205301", SNP_IOC_GET_DERIVED_KEY, 0xC0205301UL);
	check_eq("SNP_IOC_GET_EXT_REPORT vs 0xC0205302", SNP_IOC_GET_EXT_REPORT, 0xC0205302UL);
	check_eq("SNP_GET_REPORT vs 0xC0205300", SNP_GET_REPORT, 0xC0205300UL);
	check_eq("SNP_GET_DERIVED_KEY vs 0xC0205301", SNP_GET_DERIVED_KEY, 0xC0205301UL);
	check_eq("SNP_GET_EXT_REPORT vs 0xC0205302", SNP_GET_EXT_REPORT, 0xC0205302UL);

	/* and the parts: read/write, type 'S', size 32 */
	check_eq("_IOC_DIR(SNP_IOC_GET_REPORT)", _IOC_DIR(SNP_IOC_GET_REPORT),
		 _IOC_READ | _IOC_WRITE);
	check_eq("_IOC_TYPE(SNP_IOC_GET_REPORT)", _IOC_TYPE(SNP_IOC_GET_REPORT), 'S');
	check_eq("_IOC_SIZE(SNP_IOC_GET_REPORT)", _IOC_SIZE(SNP_IOC_GET_REPORT), 32);
}

int main(void)
{
	check_report_req();
	check_report_resp();
	check_derived_key_req();
	check_derived_key_resp();
	check_guest_request();
	check_ext_report_req();
	check_ioctl_numbers();

	if (n_failed) {
		fprintf(stderr, "%u of %u uapi checks failed\n", n_failed, n_checks);
		return 1;
	}
	printf("all %u uapi checks passed\n", n_checks);
	return 0;
}

#endif /* SNP_NO_SEV_GUEST_H */
