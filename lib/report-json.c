// SPDX-License-Identifier: Apache-2.0
/*
 * JSON view of a report. Field names are the ABI names in lower snake
 * case; byte arrays are lowercase hex; TCBs, policy, platform info and key
 * info are objects with named parts plus "raw".
 */
#include <stdio.h>

#include "lib/report.h"
#include "lib/util.h"

/* Steals @v; on failure @obj is left as it was. Returns 0 or -ENOMEM. */
static int set_new(json_t *obj, const char *key, json_t *v)
{
	if (!v)
		return -ENOMEM;
	return json_object_set_new(obj, key, v) == 0 ? 0 : -ENOMEM;
}

static json_t *hex_json(const u8 *p, size_t n)
{
	char buf[2 * 512 + 1];

	if (n > 512)
		return NULL;
	snp_hex_encode(p, n, buf);
	return json_string(buf);
}

static json_t *raw_u64_json(u64 v)
{
	char buf[19];

	snprintf(buf, sizeof(buf), "0x%016llx", (unsigned long long)v);
	return json_string(buf);
}

json_t *snp_tcb_to_json(u64 raw, enum snp_tcb_layout layout)
{
	struct snp_tcb_parts p;
	json_t *o = json_object();
	int r = 0;

	if (!o)
		return NULL;
	snp_tcb_decode(raw, layout, &p);
	if (layout == SNP_TCB_LAYOUT_TURIN)
		r |= set_new(o, "fmc", json_integer(p.fmc));
	r |= set_new(o, "bootloader", json_integer(p.bootloader));
	r |= set_new(o, "tee", json_integer(p.tee));
	r |= set_new(o, "snp", json_integer(p.snp));
	r |= set_new(o, "microcode", json_integer(p.microcode));
	r |= set_new(o, "raw", raw_u64_json(raw));
	if (r) {
		json_decref(o);
		return NULL;
	}
	return o;
}

struct flag_name {
	u64 bit;
	const char *name;
};

/* Every bit set that no known ABI version defines, as "unknown bit N". */
static json_t *unknown_bits_json(u64 v)
{
	json_t *a = json_array();
	char name[24];

	for (unsigned int b = 0; a && b < 64; b++) {
		if (!(v & (1ULL << b)))
			continue;
		snprintf(name, sizeof(name), "unknown bit %u", b);
		if (json_array_append_new(a, json_string(name)) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *flags_json(u64 raw, const struct flag_name *names, size_t n, enum snp_bitfield f)
{
	json_t *o = json_object();
	u64 unknown = raw & snp_bits_unknown(f);
	int r = 0;

	if (!o)
		return NULL;
	for (size_t i = 0; i < n; i++)
		r |= set_new(o, names[i].name, json_boolean(raw & names[i].bit));
	if (unknown)
		r |= set_new(o, "unknown_bits", unknown_bits_json(unknown));
	r |= set_new(o, "raw", raw_u64_json(raw));
	if (r) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static const struct flag_name policy_flags[] = {
	{ SNP_POLICY_SMT, "smt" },
	{ SNP_POLICY_MIGRATE_MA, "migrate_ma" },
	{ SNP_POLICY_DEBUG, "debug" },
	{ SNP_POLICY_SINGLE_SOCKET, "single_socket" },
	{ SNP_POLICY_CXL_ALLOW, "cxl_allow" },
	{ SNP_POLICY_MEM_AES_256_XTS, "mem_aes_256_xts" },
	{ SNP_POLICY_RAPL_DIS, "rapl_dis" },
	{ SNP_POLICY_CIPHERTEXT_HIDING, "ciphertext_hiding" },
	{ SNP_POLICY_PAGE_SWAP_DISABLE, "page_swap_disable" },
};

static const struct flag_name platform_flags[] = {
	{ SNP_PLATFORM_SMT_EN, "smt_en" },
	{ SNP_PLATFORM_TSME_EN, "tsme_en" },
	{ SNP_PLATFORM_ECC_EN, "ecc_en" },
	{ SNP_PLATFORM_RAPL_DIS, "rapl_dis" },
	{ SNP_PLATFORM_CIPHERTEXT_HIDING_EN, "ciphertext_hiding_en" },
	{ SNP_PLATFORM_ALIAS_CHECK_COMPLETE, "alias_check_complete" },
	{ SNP_PLATFORM_TIO_EN, "tio_en" },
};

static const char *signing_key_name(u32 v)
{
	switch (v) {
	case SNP_SIGNING_KEY_VCEK:
		return "vcek";
	case SNP_SIGNING_KEY_VLEK:
		return "vlek";
	case SNP_SIGNING_KEY_NONE:
		return "none";
	default:
		return "reserved";
	}
}

static json_t *policy_json(u64 policy)
{
	json_t *o = flags_json(policy, policy_flags, SNP_ELEMENTSOF(policy_flags), SNP_BITS_POLICY);

	if (!o)
		return NULL;
	if (set_new(o, "abi_minor", json_integer(policy & SNP_POLICY_ABI_MINOR_MASK)) ||
	    set_new(o, "abi_major",
		    json_integer((policy & SNP_POLICY_ABI_MAJOR_MASK) >>
				 SNP_POLICY_ABI_MAJOR_SHIFT))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *key_info_json(u32 ki)
{
	u32 sk = (ki & SNP_KEYINFO_SIGNING_KEY_MASK) >> SNP_KEYINFO_SIGNING_KEY_SHIFT;
	json_t *o = json_object();
	char raw[11];
	int r = 0;

	if (!o)
		return NULL;
	snprintf(raw, sizeof(raw), "0x%08x", ki);
	r |= set_new(o, "author_key_en", json_boolean(ki & SNP_KEYINFO_AUTHOR_KEY_EN));
	r |= set_new(o, "mask_chip_key", json_boolean(ki & SNP_KEYINFO_MASK_CHIP_KEY));
	r |= set_new(o, "signing_key", json_integer(sk));
	r |= set_new(o, "signing_key_name", json_string(signing_key_name(sk)));
	r |= set_new(o, "raw", json_string(raw));
	if (r) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *signature_json(const struct snp_ecdsa_sig *sig)
{
	json_t *o = json_object();
	int r = 0;

	if (!o)
		return NULL;
	/* as stored: 72-byte little-endian integers */
	r |= set_new(o, "r", hex_json(sig->r, sizeof(sig->r)));
	r |= set_new(o, "s", hex_json(sig->s, sizeof(sig->s)));
	if (r) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *snp_report_to_json(const struct snp_report_info *ri)
{
	const struct snp_report *rp = &ri->r;
	enum snp_tcb_layout layout = snp_report_tcb_layout(ri);
	json_t *o = json_object();
	char fw[32];
	int r = 0;

	if (!o)
		return NULL;
	r |= set_new(o, "version", json_integer(ri->version));
	r |= set_new(o, "guest_svn", json_integer(le32_to_cpu(rp->guest_svn)));
	r |= set_new(o, "policy", policy_json(le64_to_cpu(rp->policy)));
	r |= set_new(o, "family_id", hex_json(rp->family_id, sizeof(rp->family_id)));
	r |= set_new(o, "image_id", hex_json(rp->image_id, sizeof(rp->image_id)));
	r |= set_new(o, "vmpl", json_integer(le32_to_cpu(rp->vmpl)));
	r |= set_new(o, "signature_algo", json_integer(le32_to_cpu(rp->signature_algo)));
	r |= set_new(o, "current_tcb", snp_tcb_to_json(le64_to_cpu(rp->current_tcb), layout));
	r |= set_new(o, "platform_info",
		     flags_json(le64_to_cpu(rp->platform_info), platform_flags,
				SNP_ELEMENTSOF(platform_flags), SNP_BITS_PLATFORM_INFO));
	r |= set_new(o, "key_info", key_info_json(le32_to_cpu(rp->key_info)));
	r |= set_new(o, "report_data", hex_json(rp->report_data, sizeof(rp->report_data)));
	r |= set_new(o, "measurement", hex_json(rp->measurement, sizeof(rp->measurement)));
	r |= set_new(o, "host_data", hex_json(rp->host_data, sizeof(rp->host_data)));
	r |= set_new(o, "id_key_digest", hex_json(rp->id_key_digest, sizeof(rp->id_key_digest)));
	r |= set_new(o, "author_key_digest",
		     hex_json(rp->author_key_digest, sizeof(rp->author_key_digest)));
	r |= set_new(o, "report_id", hex_json(rp->report_id, sizeof(rp->report_id)));
	r |= set_new(o, "report_id_ma", hex_json(rp->report_id_ma, sizeof(rp->report_id_ma)));
	r |= set_new(o, "reported_tcb", snp_tcb_to_json(le64_to_cpu(rp->reported_tcb), layout));
	if (ri->version >= 3) {
		r |= set_new(o, "cpuid_fam_id", json_integer(rp->cpuid_fam_id));
		r |= set_new(o, "cpuid_mod_id", json_integer(rp->cpuid_mod_id));
		r |= set_new(o, "cpuid_step", json_integer(rp->cpuid_step));
	}
	r |= set_new(o, "chip_id", hex_json(rp->chip_id, sizeof(rp->chip_id)));
	r |= set_new(o, "committed_tcb", snp_tcb_to_json(le64_to_cpu(rp->committed_tcb), layout));
	r |= set_new(o, "current_build", json_integer(rp->current_build));
	r |= set_new(o, "current_minor", json_integer(rp->current_minor));
	r |= set_new(o, "current_major", json_integer(rp->current_major));
	r |= set_new(o, "committed_build", json_integer(rp->committed_build));
	r |= set_new(o, "committed_minor", json_integer(rp->committed_minor));
	r |= set_new(o, "committed_major", json_integer(rp->committed_major));
	r |= set_new(o, "launch_tcb", snp_tcb_to_json(le64_to_cpu(rp->launch_tcb), layout));
	if (ri->version >= 5) {
		r |= set_new(o, "launch_mit_vector",
			     raw_u64_json(le64_to_cpu(rp->launch_mit_vector)));
		r |= set_new(o, "current_mit_vector",
			     raw_u64_json(le64_to_cpu(rp->current_mit_vector)));
	}
	r |= set_new(o, "signature", signature_json(&rp->signature));
	r |= set_new(o, "product", json_string(snp_product_name(ri->product)));
	r |= set_new(o, "product_source", json_string(snp_product_source_name(ri->product_source)));
	if (snp_product_unconfirmed(ri->product))
		r |= set_new(o, "product_unconfirmed",
			     json_string("TCB layout and chip id length taken as Turin's until AMD "
					 "publishes them"));
	if (snp_report_version_newer(ri))
		r |= set_new(o, "version_note",
			     json_string("newer than the verifier knows: read with the version 5 "
					 "layout"));
	snprintf(fw, sizeof(fw), "%u.%u.%u", rp->current_major, rp->current_minor,
		 rp->current_build);
	r |= set_new(o, "current_firmware", json_string(fw));
	if (r) {
		json_decref(o);
		return NULL;
	}
	return o;
}
