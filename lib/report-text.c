// SPDX-License-Identifier: Apache-2.0
#include <inttypes.h>
#include <stdio.h>

#include "lib/report.h"
#include "lib/util.h"

static void hex_line(FILE *f, const char *name, const u8 *p, size_t n)
{
	char buf[2 * 64 + 1];

	snp_hex_encode(p, n, buf);
	fprintf(f, "%-20s %s\n", name, buf);
}

static void tcb_line(FILE *f, const char *name, u64 raw, enum snp_tcb_layout layout)
{
	struct snp_tcb_parts p;

	snp_tcb_decode(raw, layout, &p);
	fprintf(f, "%-20s 0x%016" PRIx64 " (", name, raw);
	if (layout == SNP_TCB_LAYOUT_TURIN)
		fprintf(f, "fmc=%u ", p.fmc);
	fprintf(f, "bootloader=%u tee=%u snp=%u microcode=%u)\n", p.bootloader, p.tee, p.snp,
		p.microcode);
}

int snp_report_print_text(FILE *f, const struct snp_report_info *ri)
{
	const struct snp_report *r = &ri->r;
	enum snp_tcb_layout layout = snp_report_tcb_layout(ri);
	u64 policy = le64_to_cpu(r->policy);
	u64 pinfo = le64_to_cpu(r->platform_info);
	u32 ki = le32_to_cpu(r->key_info);
	char unknown[256];
	static const char *const sk_names[8] = { "VCEK",     "VLEK",	 "reserved", "reserved",
						 "reserved", "reserved", "reserved", "none" };

	if (snp_report_version_newer(ri))
		fprintf(f,
			"%-20s %u (newer than the verifier knows: read with the version %u "
			"layout)\n",
			"version", ri->version, SNP_REPORT_KNOWN_VERSION);
	else
		fprintf(f, "%-20s %u\n", "version", ri->version);
	fprintf(f, "%-20s %s (from %s%s)\n", "product", snp_product_name(ri->product),
		snp_product_source_name(ri->product_source),
		snp_product_unconfirmed(ri->product) ?
			"; TCB layout and chip id length taken as Turin's, unconfirmed" :
			"");
	fprintf(f, "%-20s %u\n", "guest_svn", le32_to_cpu(r->guest_svn));
	fprintf(f, "%-20s 0x%016" PRIx64 " (abi %u.%u%s%s%s%s%s%s%s%s%s)\n", "policy", policy,
		(unsigned int)((policy & SNP_POLICY_ABI_MAJOR_MASK) >> SNP_POLICY_ABI_MAJOR_SHIFT),
		(unsigned int)(policy & SNP_POLICY_ABI_MINOR_MASK),
		policy & SNP_POLICY_SMT ? " smt" : "",
		policy & SNP_POLICY_MIGRATE_MA ? " migrate_ma" : "",
		policy & SNP_POLICY_DEBUG ? " DEBUG" : "",
		policy & SNP_POLICY_SINGLE_SOCKET ? " single_socket" : "",
		policy & SNP_POLICY_CXL_ALLOW ? " cxl_allow" : "",
		policy & SNP_POLICY_MEM_AES_256_XTS ? " mem_aes_256_xts" : "",
		policy & SNP_POLICY_RAPL_DIS ? " rapl_dis" : "",
		policy & SNP_POLICY_CIPHERTEXT_HIDING ? " ciphertext_hiding" : "",
		policy & SNP_POLICY_PAGE_SWAP_DISABLE ? " page_swap_disable" : "");
	if (policy & snp_bits_unknown(SNP_BITS_POLICY)) {
		snp_bits_describe(SNP_BITS_POLICY, policy & snp_bits_unknown(SNP_BITS_POLICY),
				  unknown, sizeof(unknown));
		fprintf(f, "%-20s %s\n", "policy_unknown", unknown);
	}
	hex_line(f, "family_id", r->family_id, sizeof(r->family_id));
	hex_line(f, "image_id", r->image_id, sizeof(r->image_id));
	fprintf(f, "%-20s %u\n", "vmpl", le32_to_cpu(r->vmpl));
	fprintf(f, "%-20s %u\n", "signature_algo", le32_to_cpu(r->signature_algo));
	tcb_line(f, "current_tcb", le64_to_cpu(r->current_tcb), layout);
	fprintf(f, "%-20s 0x%016" PRIx64 "%s%s%s%s%s%s%s\n", "platform_info", pinfo,
		pinfo & SNP_PLATFORM_SMT_EN ? " smt_en" : "",
		pinfo & SNP_PLATFORM_TSME_EN ? " tsme_en" : "",
		pinfo & SNP_PLATFORM_ECC_EN ? " ecc_en" : "",
		pinfo & SNP_PLATFORM_RAPL_DIS ? " rapl_dis" : "",
		pinfo & SNP_PLATFORM_CIPHERTEXT_HIDING_EN ? " ciphertext_hiding_en" : "",
		pinfo & SNP_PLATFORM_ALIAS_CHECK_COMPLETE ? " alias_check_complete" : "",
		pinfo & SNP_PLATFORM_TIO_EN ? " tio_en" : "");
	if (pinfo & snp_bits_unknown(SNP_BITS_PLATFORM_INFO)) {
		snp_bits_describe(SNP_BITS_PLATFORM_INFO,
				  pinfo & snp_bits_unknown(SNP_BITS_PLATFORM_INFO), unknown,
				  sizeof(unknown));
		fprintf(f, "%-20s %s\n", "platform_unknown", unknown);
	}
	fprintf(f, "%-20s 0x%08x (signing_key=%s%s%s)\n", "key_info", ki,
		sk_names[(ki & SNP_KEYINFO_SIGNING_KEY_MASK) >> SNP_KEYINFO_SIGNING_KEY_SHIFT],
		ki & SNP_KEYINFO_AUTHOR_KEY_EN ? " author_key_en" : "",
		ki & SNP_KEYINFO_MASK_CHIP_KEY ? " mask_chip_key" : "");
	hex_line(f, "report_data", r->report_data, sizeof(r->report_data));
	hex_line(f, "measurement", r->measurement, sizeof(r->measurement));
	hex_line(f, "host_data", r->host_data, sizeof(r->host_data));
	hex_line(f, "id_key_digest", r->id_key_digest, sizeof(r->id_key_digest));
	hex_line(f, "author_key_digest", r->author_key_digest, sizeof(r->author_key_digest));
	hex_line(f, "report_id", r->report_id, sizeof(r->report_id));
	hex_line(f, "report_id_ma", r->report_id_ma, sizeof(r->report_id_ma));
	tcb_line(f, "reported_tcb", le64_to_cpu(r->reported_tcb), layout);
	if (ri->version >= 3)
		fprintf(f, "%-20s family 0x%02x model 0x%02x stepping 0x%x\n", "cpuid",
			r->cpuid_fam_id, r->cpuid_mod_id, r->cpuid_step);
	hex_line(f, "chip_id", r->chip_id, sizeof(r->chip_id));
	tcb_line(f, "committed_tcb", le64_to_cpu(r->committed_tcb), layout);
	fprintf(f, "%-20s %u.%u build %u\n", "current_firmware", r->current_major, r->current_minor,
		r->current_build);
	fprintf(f, "%-20s %u.%u build %u\n", "committed_firmware", r->committed_major,
		r->committed_minor, r->committed_build);
	tcb_line(f, "launch_tcb", le64_to_cpu(r->launch_tcb), layout);
	if (ri->version >= 5) {
		fprintf(f, "%-20s 0x%016" PRIx64 "\n", "launch_mit_vector",
			(u64)le64_to_cpu(r->launch_mit_vector));
		fprintf(f, "%-20s 0x%016" PRIx64 "\n", "current_mit_vector",
			(u64)le64_to_cpu(r->current_mit_vector));
	}
	return ferror(f) ? -EIO : 0;
}
