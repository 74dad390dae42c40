// SPDX-License-Identifier: Apache-2.0
/*
 * Launch and platform parameters of the simulated chip: defaults per
 * product, one table that drives the params file, `snpctl sim init`
 * options and validation.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "lib/util.h"
#include "sim/sim.h"

u8 sim_product_family(enum snp_product p)
{
	return p == SNP_PRODUCT_TURIN ? 0x1a : 0x19;
}

u8 sim_product_model(enum snp_product p)
{
	switch (p) {
	case SNP_PRODUCT_GENOA:
		return 0x11;
	case SNP_PRODUCT_TURIN:
		return 0x02;
	default:
		return 0x01;
	}
}

/* CPUID Fn0000_0001 EAX: ext family [27:20], ext model [19:16], family 0xf, model, stepping. */
u32 sim_product_fms(enum snp_product p, u8 stepping)
{
	u32 fam = sim_product_family(p), model = sim_product_model(p);

	return ((fam - 0xf) << 20) | ((model >> 4) << 16) | (0xfU << 8) | ((model & 0xf) << 4) |
	       (stepping & 0xf);
}

size_t sim_product_chip_id_len(enum snp_product p)
{
	return p == SNP_PRODUCT_TURIN ? SNP_CHIP_ID_TURIN_SIZE : SNP_CHIP_ID_SIZE;
}

void sim_params_default(struct sim_params *p, enum snp_product product)
{
	struct snp_tcb_parts t = { 0 };
	enum snp_tcb_layout layout;
	unsigned int mdlen = 0;
	u64 tcb;

	memset(p, 0, sizeof(*p));
	if (product == SNP_PRODUCT_UNKNOWN)
		product = SNP_PRODUCT_MILAN;
	p->product = product;
	layout = snp_product_tcb_layout(product);
	p->report_version = 3;
	p->policy = SNP_POLICY_RSVD_MBO | SNP_POLICY_SMT;
	switch (product) {
	case SNP_PRODUCT_GENOA:
		t = (struct snp_tcb_parts){ .bootloader = 7, .tee = 0, .snp = 14, .microcode = 72 };
		p->fw_major = 1, p->fw_minor = 55, p->fw_build = 28;
		break;
	case SNP_PRODUCT_TURIN:
		t = (struct snp_tcb_parts){
			.fmc = 1, .bootloader = 1, .tee = 1, .snp = 3, .microcode = 68
		};
		p->fw_major = 1, p->fw_minor = 55, p->fw_build = 42;
		break;
	default:
		t = (struct snp_tcb_parts){ .bootloader = 3, .tee = 0, .snp = 8, .microcode = 115 };
		p->fw_major = 1, p->fw_minor = 55, p->fw_build = 21;
		break;
	}
	tcb = snp_tcb_encode(&t, layout);
	p->current_tcb = p->committed_tcb = p->launch_tcb = p->reported_tcb = tcb;
	p->committed_major = p->fw_major;
	p->committed_minor = p->fw_minor;
	p->committed_build = p->fw_build;
	/*
	 * As genuine reports of current firmware: SMT, ECC and the DRAM alias
	 * check on Milan/Genoa (0x25), TSME too on Turin; a version-2 report
	 * shows only the bits version 2 defines (firmware.c). Version-5
	 * mitigation vectors are non-zero (genuine Milan 0xb, Genoa 0x1), so
	 * that verifiers which treat 0x1F8..0x207 as reserved are caught.
	 */
	p->platform_info =
		SNP_PLATFORM_SMT_EN | SNP_PLATFORM_ECC_EN | SNP_PLATFORM_ALIAS_CHECK_COMPLETE;
	if (product == SNP_PRODUCT_TURIN)
		p->platform_info |= SNP_PLATFORM_TSME_EN;
	p->launch_mit_vector = p->current_mit_vector = product == SNP_PRODUCT_MILAN ? 0xb : 0x1;
	p->cpuid_step = 1;
	p->tsc_factor = 200;
	p->tsc_scale = 1ULL << 32; /* guest TSC = host TSC (ratio 1.0) */
	p->host_certs = SIM_HOST_CERTS_FULL;
	snprintf(p->csp_id, sizeof(p->csp_id), "SIMULATED-CSP");
	memset(p->report_id_ma, 0xff, sizeof(p->report_id_ma));
	/* a fixed, recognisable launch digest */
	EVP_Digest("SIMULATED launch measurement", 28, p->measurement, &mdlen, EVP_sha384(), NULL);
	memcpy(p->chip_id, SIM_CHIP_ID_PREFIX, sizeof(SIM_CHIP_ID_PREFIX) - 1);
}

enum ptype {
	P_PRODUCT,
	P_U32,
	P_U64,
	P_U8,
	P_BOOL,
	P_BYTES,
	P_FWVER,
	P_STR,
	P_TCB_ALL,
	P_HOST_CERTS,
};

struct pdesc {
	const char *name;
	enum ptype type;
	size_t off;
	size_t len;
	const char *help;
};

#define FLD(m) offsetof(struct sim_params, m), sizeof(((struct sim_params *)0)->m)

static const struct pdesc params_table[] = {
	{ "product", P_PRODUCT, FLD(product), "Milan, Genoa or Turin" },
	{ "report_version", P_U32, FLD(report_version),
	  "report version: 2, 3, 5 (6: laid out as 5)" },
	{ "policy", P_U64, FLD(policy), "guest policy (number, e.g. 0x30000)" },
	{ "measurement", P_BYTES, FLD(measurement), "launch digest, hex (48 bytes)" },
	{ "host_data", P_BYTES, FLD(host_data), "host data, hex (32 bytes)" },
	{ "family_id", P_BYTES, FLD(family_id), "ID block family id, hex (16 bytes)" },
	{ "image_id", P_BYTES, FLD(image_id), "ID block image id, hex (16 bytes)" },
	{ "id_key_digest", P_BYTES, FLD(id_key_digest), "SHA-384 of the ID key, hex" },
	{ "author_key_digest", P_BYTES, FLD(author_key_digest), "SHA-384 of the author key, hex" },
	{ "author_key_en", P_BOOL, FLD(author_key_en), "0/1: the author key signed the ID block" },
	{ "guest_svn", P_U32, FLD(guest_svn), "ID block guest SVN" },
	{ "tcb", P_TCB_ALL, 0, 0, "set current, committed, launch and reported TCB at once" },
	{ "current_tcb", P_U64, FLD(current_tcb), "TCB_VERSION (u64, product layout)" },
	{ "committed_tcb", P_U64, FLD(committed_tcb), "committed TCB_VERSION" },
	{ "launch_tcb", P_U64, FLD(launch_tcb), "TCB at launch" },
	{ "reported_tcb", P_U64, FLD(reported_tcb), "TCB of the VCEK that signs" },
	{ "platform_info", P_U64, FLD(platform_info), "PLATFORM_INFO bits" },
	{ "fw_version", P_FWVER, FLD(fw_major), "current firmware MAJOR.MINOR.BUILD" },
	{ "committed_fw_version", P_FWVER, FLD(committed_major), "committed firmware version" },
	{ "launch_mit_vector", P_U64, FLD(launch_mit_vector), "v5: launch mitigation vector" },
	{ "current_mit_vector", P_U64, FLD(current_mit_vector), "v5: current mitigation vector" },
	{ "cpuid_step", P_U8, FLD(cpuid_step), "CPUID stepping" },
	{ "mask_chip_id", P_BOOL, FLD(mask_chip_id), "0/1: reports carry a zero chip id" },
	{ "mask_chip_key", P_BOOL, FLD(mask_chip_key), "0/1: the VCEK may not sign or derive" },
	{ "vlek", P_BOOL, FLD(vlek), "0/1: install a VLEK (with an ASVK)" },
	{ "csp_id", P_STR, FLD(csp_id), "cspId of the VLEK certificate" },
	{ "chip_id", P_BYTES, FLD(chip_id), "chip id, hex (64 bytes; 8 on Turin)" },
	{ "report_id", P_BYTES, FLD(report_id), "report id, hex (32 bytes)" },
	{ "report_id_ma", P_BYTES, FLD(report_id_ma), "migration agent report id, hex" },
	{ "tsc_factor", P_U32, FLD(tsc_factor), "secrets page TSC_FACTOR" },
	{ "host_certs", P_HOST_CERTS, FLD(host_certs),
	  "full|none|stale: the host's certificate table (stale: VCEK of an older TCB)" },
	{ "host_crl_this_update", P_U64, FLD(host_crl_this_update),
	  "thisUpdate of the ARK's CRL in the host's table (seconds since the epoch)" },
	{ "host_crl_next_update", P_U64, FLD(host_crl_next_update),
	  "nextUpdate of the ARK's CRL in the host's table (seconds since the epoch); 0: no CRL" },
	{ "secure_tsc", P_BOOL, FLD(secure_tsc),
	  "0/1: Secure TSC is on; the firmware answers TSC_INFO_REQ" },
	{ "tsc_scale", P_U64, FLD(tsc_scale), "TSC_INFO GUEST_TSC_SCALE (8.32 fixed point)" },
	{ "tsc_offset", P_U64, FLD(tsc_offset), "TSC_INFO GUEST_TSC_OFFSET" },
	{ "kernel_tsc_info", P_BOOL, FLD(kernel_tsc_info),
	  "0/1: the guest kernel sends TSC_INFO_REQ at boot (Linux >= 6.14; needs secure_tsc=1)" },
	{ "kernel_vmpl", P_U32, FLD(kernel_vmpl), "VMPL (and VMPCK) of the guest kernel, 0..3" },
};

const char *const sim_param_names[] = {
	"product",
	"report_version",
	"policy",
	"measurement",
	"host_data",
	"family_id",
	"image_id",
	"id_key_digest",
	"author_key_digest",
	"author_key_en",
	"guest_svn",
	"tcb",
	"current_tcb",
	"committed_tcb",
	"launch_tcb",
	"reported_tcb",
	"platform_info",
	"fw_version",
	"committed_fw_version",
	"launch_mit_vector",
	"current_mit_vector",
	"cpuid_step",
	"mask_chip_id",
	"mask_chip_key",
	"vlek",
	"csp_id",
	"chip_id",
	"report_id",
	"report_id_ma",
	"tsc_factor",
	"host_certs",
	"host_crl_this_update",
	"host_crl_next_update",
	"secure_tsc",
	"tsc_scale",
	"tsc_offset",
	"kernel_tsc_info",
	"kernel_vmpl",
	NULL,
};

static_assert(SNP_ELEMENTSOF(sim_param_names) == SNP_ELEMENTSOF(params_table) + 1,
	      "sim_param_names out of step with params_table");

static const struct pdesc *pdesc_find(const char *name)
{
	for (size_t i = 0; i < SNP_ELEMENTSOF(params_table); i++)
		if (strcmp(params_table[i].name, name) == 0)
			return &params_table[i];
	return NULL;
}

const char *sim_param_help(const char *name)
{
	const struct pdesc *d = pdesc_find(name);

	return d ? d->help : NULL;
}

static int parse_fwver(const char *s, u8 v[3])
{
	char buf[32], *parts[3], *save = NULL, *tok;
	int n = 0, r;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save)) {
		if (n == 3)
			return -EINVAL;
		parts[n++] = tok;
	}
	if (n != 3)
		return -EINVAL;
	for (int i = 0; i < 3; i++) {
		u32 x;

		r = snp_parse_u32_max(parts[i], 255, &x);
		if (r < 0)
			return r;
		v[i] = (u8)x;
	}
	return 0;
}

int sim_params_set(struct sim_params *p, const char *name, const char *value)
{
	const struct pdesc *d;
	u8 *field;
	u64 v64;
	u32 v32;
	int r;

	if (!p || !name || !value)
		return -EINVAL;
	d = pdesc_find(name);
	if (!d)
		return -ENOENT;
	field = (u8 *)p + d->off;

	switch (d->type) {
	case P_PRODUCT: {
		enum snp_product prod;

		r = snp_product_from_string(value, &prod);
		/* Venice is recognised in reports, not simulated (no AMD chain) */
		if (r < 0 || prod == SNP_PRODUCT_UNKNOWN || prod == SNP_PRODUCT_VENICE)
			return -EINVAL;
		p->product = prod;
		return 0;
	}
	case P_U32:
		r = snp_parse_u32_max(value, UINT32_MAX, &v32);
		if (r < 0)
			return r;
		memcpy(field, &v32, sizeof(v32));
		return 0;
	case P_U8:
		r = snp_parse_u32_max(value, 255, &v32);
		if (r < 0)
			return r;
		*field = (u8)v32;
		return 0;
	case P_U64:
	case P_TCB_ALL:
		r = snp_parse_u64_or_hex(value, &v64);
		if (r < 0)
			return r;
		if (d->type == P_TCB_ALL)
			p->current_tcb = p->committed_tcb = p->launch_tcb = p->reported_tcb = v64;
		else
			memcpy(field, &v64, sizeof(v64));
		return 0;
	case P_BOOL:
		if (strcmp(value, "1") == 0 || strcasecmp(value, "yes") == 0 ||
		    strcasecmp(value, "true") == 0)
			*(bool *)field = true;
		else if (strcmp(value, "0") == 0 || strcasecmp(value, "no") == 0 ||
			 strcasecmp(value, "false") == 0)
			*(bool *)field = false;
		else
			return -EINVAL;
		return 0;
	case P_BYTES: {
		u8 buf[64];
		ssize_t n;

		n = snp_hex_decode(value, strlen(value), buf, d->len, false);
		if (n < 0)
			return n == -ENOBUFS ? -ERANGE : (int)n;
		/* shorter values are zero-padded at the end */
		memset(field, 0, d->len);
		memcpy(field, buf, (size_t)n);
		return 0;
	}
	case P_FWVER:
		return parse_fwver(value, field);
	case P_HOST_CERTS:
		if (strcmp(value, "full") == 0 || strcmp(value, "1") == 0)
			p->host_certs = SIM_HOST_CERTS_FULL;
		else if (strcmp(value, "none") == 0 || strcmp(value, "0") == 0)
			p->host_certs = SIM_HOST_CERTS_NONE;
		else if (strcmp(value, "stale") == 0)
			p->host_certs = SIM_HOST_CERTS_STALE;
		else
			return -EINVAL;
		return 0;
	case P_STR:
		if (strlen(value) >= d->len || !*value)
			return -ERANGE;
		for (const char *c = value; *c; c++)
			if (*c < 0x20 || *c > 0x7e)
				return -EINVAL;
		snprintf((char *)field, d->len, "%s", value);
		return 0;
	}
	return -EINVAL;
}

int sim_params_write(const struct sim_params *p, FILE *f)
{
	char hex[2 * 64 + 1];

	fprintf(f, "# snpd simulated SEV-SNP platform (SIMULATED, not AMD hardware)\n");
	for (size_t i = 0; i < SNP_ELEMENTSOF(params_table); i++) {
		const struct pdesc *d = &params_table[i];
		const u8 *field = (const u8 *)p + d->off;
		u64 v64;
		u32 v32;

		switch (d->type) {
		case P_PRODUCT:
			fprintf(f, "%s=%s\n", d->name, snp_product_name(p->product));
			break;
		case P_U32:
			memcpy(&v32, field, sizeof(v32));
			fprintf(f, "%s=%" PRIu32 "\n", d->name, v32);
			break;
		case P_U8:
			fprintf(f, "%s=%u\n", d->name, *field);
			break;
		case P_U64:
			memcpy(&v64, field, sizeof(v64));
			fprintf(f, "%s=0x%016" PRIx64 "\n", d->name, v64);
			break;
		case P_BOOL:
			fprintf(f, "%s=%d\n", d->name, *(const bool *)field ? 1 : 0);
			break;
		case P_BYTES:
			snp_hex_encode(field, d->len, hex);
			fprintf(f, "%s=%s\n", d->name, hex);
			break;
		case P_FWVER:
			fprintf(f, "%s=%u.%u.%u\n", d->name, field[0], field[1], field[2]);
			break;
		case P_STR:
			fprintf(f, "%s=%s\n", d->name, (const char *)field);
			break;
		case P_TCB_ALL:
			break;
		case P_HOST_CERTS:
			/* 0/1 as before, so older binaries still read full and none */
			if (p->host_certs == SIM_HOST_CERTS_STALE)
				fprintf(f, "%s=stale\n", d->name);
			else
				fprintf(f, "%s=%d\n", d->name,
					p->host_certs == SIM_HOST_CERTS_FULL ? 1 : 0);
			break;
		}
	}
	return ferror(f) ? -EIO : 0;
}

/*
 * The latest host_crl_* time this build encodes: SIM_CRL_TIME_MAX, or less
 * where time_t is narrower (2038-01-19T03:14:07Z for 32 bits).
 */
static u64 crl_time_max(void)
{
	u64 t = sizeof(time_t) >= sizeof(u64) ?
			UINT64_MAX :
			(UINT64_C(1) << (sizeof(time_t) * CHAR_BIT - 1)) - 1;

	return t < SIM_CRL_TIME_MAX ? t : SIM_CRL_TIME_MAX;
}

/* @v (a host_crl_* time named @name) is no later than crl_time_max(), said so. */
static int crl_time_check(const char *name, u64 v, char *err, size_t errlen)
{
	u64 max = crl_time_max();
	time_t t = (time_t)max;
	char when[64];
	struct tm tm;

	if (v <= max)
		return 0;
	if (!gmtime_r(&t, &tm) || !strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(when, sizeof(when), "%s", "?");
	snprintf(err, errlen,
		 "%s %" PRIu64 " is beyond %s (%" PRIu64 "), the latest time it can be", name, v,
		 when, max);
	return -ERANGE;
}

int sim_params_validate(const struct sim_params *p, char *err, size_t errlen)
{
	enum snp_tcb_layout layout;
	int r;
	const u64 *tcbs[] = { &p->current_tcb, &p->committed_tcb, &p->launch_tcb,
			      &p->reported_tcb };
	static const char *const tcb_names[] = { "current_tcb", "committed_tcb", "launch_tcb",
						 "reported_tcb" };

	if (p->product != SNP_PRODUCT_MILAN && p->product != SNP_PRODUCT_GENOA &&
	    p->product != SNP_PRODUCT_TURIN) {
		snprintf(err, errlen, "product must be Milan, Genoa or Turin");
		return -EINVAL;
	}
	/* 6: a version newer than any AMD defined, laid out as version 5 */
	if (p->report_version != 2 && p->report_version != 3 && p->report_version != 5 &&
	    p->report_version != 6) {
		snprintf(err, errlen, "report_version must be 2, 3, 5 or 6, not %u",
			 p->report_version);
		return -EINVAL;
	}
	if (!(p->policy & SNP_POLICY_RSVD_MBO) || (p->policy & SNP_POLICY_RSVD_MBZ)) {
		snprintf(err, errlen, "policy 0x%" PRIx64 ": bit 17 must be 1 and bits 63:26 zero",
			 p->policy);
		return -EINVAL;
	}
	if (p->platform_info & (BIT_ULL(6) | GENMASK_ULL(63, 8))) {
		snprintf(err, errlen, "platform_info has reserved bits set");
		return -EINVAL;
	}
	layout = snp_product_tcb_layout(p->product);
	for (size_t i = 0; i < SNP_ELEMENTSOF(tcbs); i++) {
		struct snp_tcb_parts t;

		snp_tcb_decode(*tcbs[i], layout, &t);
		if (t.rsvd_nonzero) {
			snprintf(err, errlen, "%s 0x%016" PRIx64 " has reserved bytes set for %s",
				 tcb_names[i], *tcbs[i], snp_product_name(p->product));
			return -EINVAL;
		}
	}
	if (p->product == SNP_PRODUCT_TURIN &&
	    !snp_mem_is_zero(p->chip_id + SNP_CHIP_ID_TURIN_SIZE,
			     SNP_CHIP_ID_SIZE - SNP_CHIP_ID_TURIN_SIZE)) {
		snprintf(err, errlen, "a Turin chip id has 8 bytes");
		return -EINVAL;
	}
	if (p->kernel_vmpl > SNP_VMPCK_MAX) {
		snprintf(err, errlen, "kernel_vmpl must be 0..3, not %u", p->kernel_vmpl);
		return -EINVAL;
	}
	if (p->kernel_tsc_info && !p->secure_tsc) {
		snprintf(err, errlen, "kernel_tsc_info needs secure_tsc=1");
		return -EINVAL;
	}
	if (p->vlek && !p->csp_id[0]) {
		snprintf(err, errlen, "a VLEK needs a csp_id");
		return -EINVAL;
	}
	/*
	 * The host's CRL: both times must be encodable (a time_t, and an
	 * ASN.1 UTCTime or 4-digit-year GeneralizedTime: 9999-12-31T23:59:59Z
	 * at most), or every extended report would fail to build its table;
	 * and nextUpdate must come after thisUpdate (RFC 5280 5.1.2.5).
	 */
	r = crl_time_check("host_crl_this_update", p->host_crl_this_update, err, errlen);
	if (r < 0)
		return r;
	r = crl_time_check("host_crl_next_update", p->host_crl_next_update, err, errlen);
	if (r < 0)
		return r;
	if (p->host_crl_next_update && p->host_crl_next_update <= p->host_crl_this_update) {
		snprintf(err, errlen,
			 "host_crl_next_update %" PRIu64 " must be later than host_crl_this_update "
			 "%" PRIu64,
			 p->host_crl_next_update, p->host_crl_this_update);
		return -EINVAL;
	}
	return 0;
}
