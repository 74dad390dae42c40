// SPDX-License-Identifier: Apache-2.0
/*
 * A simulated SNP guest boot (see boot.h for the memory layout): the launch
 * writes what firmware and bootloader would leave behind, the kernel/ boot
 * code runs on the simulated machine, the hypervisor may attack between the
 * boot and the run phase, and the run phase reads the kernel image, may get
 * an attestation report, and touches memory (which, with lazy acceptance,
 * accepts it on first use).
 *
 * The report: the kernel/snp-guest.c driver runs inside the guest. Its
 * VMGEXIT is the guest's own: the request goes to shared pages in
 * .bss..decrypted, the registered GHCB names them, and the machine relays
 * the exit to sim/hypervisor.c and the simulated firmware. The driver's
 * buffers are host memory (a kernel would use its mapped pages directly),
 * so the exit adaptor copies its pages into the guest and back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "kernel/snp-cpuid.h"
#include "kernel/snp-guest.h"
#include "kernel/snp-msg.h"
#include "lib/util.h"
#include "sim/boot.h"
#include "sim/sim.h"

#define IMAGE_MAGIC "SNPD-SIMULATED-KERNEL-IMAGE"
#define TOUCH_MAGIC 0x534e50544f554348ULL /* "SNPTOUCH" */

/* Certificate area pages after the request and response pages in .bss..decrypted. */
#define GREQ_CERTS_ROOM ((SIM_BOOT_BSS_DEC_END - SIM_BOOT_GREQ_CERTS) / SNP_PAGE_SIZE)
_Static_assert(GREQ_CERTS_ROOM *SNP_PAGE_SIZE >= SNP_CERTS_MAX_LEN,
	       ".bss..decrypted too small for the certificate area");
#define GREQ_CERTS_PAGES (SNP_CERTS_MAX_LEN / SNP_PAGE_SIZE)

struct boot_ctx {
	struct snp_sev g;
	struct snp_boot_layout layout;
	const struct sim_boot_opts *opts;
	int boot_rc;
	bool touch_mismatch;
	/* attestation (opts->state) */
	struct sim_fw *fw;
	struct snp_guest_dev dev;
	struct sim_guest_binding bind;
	struct snp_secrets_page *secrets; /* the driver's copy of the guest's page */
	struct snp_guest_shared *shared;  /* the driver's view of the shared pages */
	struct snp_guest_private *scratch;
	struct snp_ioc_report_resp *resp;
	bool have_report;
	int report_rc;
	u64 report_exitinfo2;
	/* CPUID probes of the run phase */
	struct sim_cpuid_probe cpuid[SIM_BOOT_CPUID_PROBES];
};

/* Standard, a leaf the table leaves out, hypervisor range, extended, out of every range. */
static const u32 cpuid_probes[SIM_BOOT_CPUID_PROBES][2] = {
	{ 0x0, 0 },	   { 0x1, 0 },	      { 0x5, 0 },	 { 0x7, 0 },
	{ 0xb, 0 },	   { 0xd, 0 },	      { 0xd, 1 },	 { 0x40000000, 0 },
	{ 0x80000000, 0 }, { 0x80000001, 0 }, { 0x8000001e, 0 }, { 0x8000001f, 0 },
	{ 0x80000021, 0 }, { 0xc0000000, 0 },
};

const char *sim_term_reason(u8 set, u8 code)
{
	static const char *const gen[] = {
		[SNP_TERM_GEN_REQ] = "general request",
		[SNP_TERM_GEN_PROTO] = "GHCB protocol version unsupported",
		[SNP_TERM_GEN_SNP_UNSUPP] = "SNP features unsupported",
	};
	static const char *const lnx[] = {
		[SNP_TERM_REGISTER] = "GHCB GPA registration failure",
		[SNP_TERM_PSC] = "page state change failure",
		[SNP_TERM_PVALIDATE] = "PVALIDATE failure",
		[SNP_TERM_NOT_VMPL0] = "not running at VMPL0",
		[SNP_TERM_CPUID] = "CPUID page validation failure",
		[SNP_TERM_CPUID_HV] = "CPUID hypervisor fallback failure",
		[SNP_TERM_SECRETS_PAGE] = "secrets page failure",
		[SNP_TERM_NO_SVSM] = "no SVSM advertised",
		[SNP_TERM_SVSM_VMPL0] = "SVSM present but VMPL0",
		[SNP_TERM_SVSM_CAA] = "SVSM CAA not page aligned",
		[SNP_TERM_SECURE_TSC] = "Secure TSC initialisation failure",
		[SNP_TERM_SVSM_CA_REMAP] = "SVSM CA remap failure",
		[SNP_TERM_SAVIC] = "Secure AVIC failure",
	};

	if (set == SNP_TERM_SET_GEN && code < SNP_ELEMENTSOF(gen) && gen[code])
		return gen[code];
	if (set == SNP_TERM_SET_LINUX && code < SNP_ELEMENTSOF(lnx) && lnx[code])
		return lnx[code];
	return "unknown reason";
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void vc_entry(void *ctx, u64 error_code, u64 fault_addr)
{
	snp_sev_handle_vc(ctx, error_code, fault_addr);
}

static void guest_boot(void *arg)
{
	struct boot_ctx *c = arg;

	c->boot_rc = snp_sev_boot(&c->g, SIM_BOOT_PARAMS, &c->layout, c->opts->mode);
}

/* ---- the guest-request driver inside the guest ---------------------------- */

/*
 * The driver's VMGEXIT, made by the guest: its shared pages go to the
 * guest's shared pages in .bss..decrypted (C=0, so these are shared
 * accesses), the registered GHCB names them, and what the hypervisor
 * answered comes back into the driver's pages and GHCB.
 */
static int greq_vmgexit(void *priv, struct snp_ghcb *dg)
{
	struct boot_ctx *c = priv;
	struct snp_sev *g = &c->g;
	struct snp_guest_shared *sh = c->shared;
	struct snp_ghcb *ghcb = g->ghcb;
	u64 exit_code = le64_to_cpu(dg->sw_exit_code), info1, info2, rbx, npages = 0;
	bool ext = exit_code == SNP_NAE_EXT_GUEST_REQUEST;

	if (!ghcb || g->ghcb_busy)
		return -EBUSY;
	/* the driver's pages into the guest's shared ones (RBX itself passes through) */
	if (ext)
		npages = le64_to_cpu(dg->rbx) < GREQ_CERTS_PAGES ? le64_to_cpu(dg->rbx) :
								   GREQ_CERTS_PAGES;
	if (snp_cpu_write(SIM_BOOT_GREQ_REQUEST, &sh->request, sizeof(sh->request)) < 0 ||
	    snp_cpu_write(SIM_BOOT_GREQ_RESPONSE, &sh->response, sizeof(sh->response)) < 0 ||
	    (npages && snp_cpu_write(SIM_BOOT_GREQ_CERTS, sh->certs, npages * SNP_PAGE_SIZE) < 0))
		return -EFAULT;

	g->ghcb_busy = true;
	snp_sev_ghcb_prepare(g, exit_code, SIM_BOOT_GREQ_REQUEST, SIM_BOOT_GREQ_RESPONSE);
	if (ext) {
		ghcb->rax = cpu_to_le64(SIM_BOOT_GREQ_CERTS);
		ghcb->rbx = dg->rbx;
		SNP_GHCB_SET_VALID(ghcb, rax);
		SNP_GHCB_SET_VALID(ghcb, rbx);
	}
	snp_sev_ghcb_exit(g);
	info1 = le64_to_cpu(ghcb->sw_exit_info_1);
	info2 = le64_to_cpu(ghcb->sw_exit_info_2);
	rbx = le64_to_cpu(ghcb->rbx);
	g->ghcb_busy = false;

	if (snp_cpu_read(SIM_BOOT_GREQ_RESPONSE, &sh->response, sizeof(sh->response)) < 0 ||
	    (npages && snp_cpu_read(SIM_BOOT_GREQ_CERTS, sh->certs, npages * SNP_PAGE_SIZE) < 0))
		return -EFAULT;
	dg->sw_exit_info_1 = cpu_to_le64(info1);
	dg->sw_exit_info_2 = cpu_to_le64(info2);
	if (ext)
		dg->rbx = cpu_to_le64(rbx);
	return 0;
}

static int greq_sleep_killable(void *priv, unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	(void)priv;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return 0; /* as sim/platform.c: no fatal signal is ever pending here */
}

static u64 greq_clock_ns(void *priv)
{
	(void)priv;
	return ktime_get_ns();
}

static int greq_encrypt(void *priv, const u8 *key, const u8 *iv, const u8 *aad, size_t aad_len,
			const u8 *in, size_t len, u8 *out, u8 *tag)
{
	(void)priv;
	return sim_aes_gcm_encrypt(key, iv, aad, aad_len, in, len, out, tag);
}

static int greq_decrypt(void *priv, const u8 *key, const u8 *iv, const u8 *aad, size_t aad_len,
			const u8 *in, size_t len, u8 *out, const u8 *tag)
{
	(void)priv;
	return sim_aes_gcm_decrypt(key, iv, aad, aad_len, in, len, out, tag);
}

static const struct snp_platform_ops greq_ops = {
	.vmgexit = greq_vmgexit,
	.sleep_killable = greq_sleep_killable,
	.clock_ns = greq_clock_ns,
	.aead_encrypt = greq_encrypt,
	.aead_decrypt = greq_decrypt,
};

/* SNP_IOC_GET_REPORT with VMPCK0 at VMPL0; the outcome goes into @c. */
static void guest_get_report(struct boot_ctx *c)
{
	const struct sim_boot_opts *o = c->opts;
	struct snp_sev *g = &c->g;
	const struct snp_report_rsp_msg *rsp = (const void *)c->resp->data;
	struct snp_ioc_guest_request arg = { .msg_version = 1 };
	struct snp_ioc_report_req req;
	int r;

	/*
	 * The driver's secrets page. In a kernel it would be the mapped page;
	 * here it is a copy, read through the guest's page tables, and written
	 * back after the request (the message counter moved, or the driver
	 * wiped the VMPCK).
	 */
	if (snp_cpu_read(g->secrets_gpa, c->secrets, sizeof(*c->secrets)) < 0) {
		c->report_rc = -EFAULT;
		return;
	}
	r = sim_guest_init(&c->dev, &c->bind, &greq_ops, c, c->secrets, 0, c->shared, c->scratch);
	if (r < 0) {
		c->report_rc = r;
		goto out;
	}
	snp_guest_set_retry(&c->dev, o->retry_interval_ms, o->retry_timeout_ms);
	memset(&req, 0, sizeof(req));
	memcpy(req.user_data, o->report_data, sizeof(req.user_data));
	arg.req_data = (u64)(uintptr_t)&req;
	arg.resp_data = (u64)(uintptr_t)c->resp;
	r = snp_guest_ioctl(&c->dev, SNP_IOC_GET_REPORT, &arg);
	c->report_rc = r;
	c->report_exitinfo2 = arg.exitinfo2;
	if (r == 0 && le32_to_cpu(rsp->status)) {
		c->report_rc = -EIO;
		c->report_exitinfo2 = le32_to_cpu(rsp->status);
	} else if (r == 0 && le32_to_cpu(rsp->report_size) != SNP_REPORT_SIZE) {
		c->report_rc = -EBADMSG;
	} else if (r == 0) {
		c->have_report = true;
	}
	snp_guest_release(&c->dev);
	if (snp_cpu_write(g->secrets_gpa, c->secrets, sizeof(*c->secrets)) < 0 && !c->report_rc)
		c->report_rc = -EFAULT;
out:
	explicit_bzero(c->secrets, sizeof(*c->secrets));
}

/* The workload: read the kernel image and the secrets page, get a report, touch memory. */
static void guest_run(void *arg)
{
	struct boot_ctx *c = arg;
	u64 ram = sim_machine_ram_size(sim_machine_current()), end, gpa;
	u8 image[sizeof(IMAGE_MAGIC)];
	u32 version;

	if (c->opts->after_boot)
		c->opts->after_boot(&c->g, c->opts->after_boot_arg);
	/* CPUID raises #VC 0x72 in an SEV-ES/SNP guest: the handler is the answer. */
	for (int i = 0; i < SIM_BOOT_CPUID_PROBES; i++) {
		struct sim_cpuid_probe *p = &c->cpuid[i];
		struct snp_cpuid_leaf leaf = { .fn = p->fn, .subfn = p->subfn };

		snp_cpuid_vc(&c->g, &leaf);
		p->guest[0] = leaf.eax;
		p->guest[1] = leaf.ebx;
		p->guest[2] = leaf.ecx;
		p->guest[3] = leaf.edx;
		p->answered = true;
	}
	if (c->opts->state)
		guest_get_report(c);
	if (snp_cpu_read(SIM_BOOT_IMAGE_START, image, sizeof(image)) < 0 ||
	    snp_cpu_read(SIM_BOOT_SECRETS, &version, sizeof(version)) < 0) {
		c->touch_mismatch = true;
		return;
	}
	end = SIM_BOOT_ACCEPT_BASE + (c->opts->touch_mib << 20);
	if (end > ram || end < SIM_BOOT_ACCEPT_BASE)
		end = ram;
	for (gpa = SIM_BOOT_ACCEPT_BASE; gpa < end && c->opts->touch_mib; gpa += SNP_PAGE_SIZE) {
		u64 v = gpa ^ TOUCH_MAGIC, back = 0;

		if (snp_cpu_write(gpa, &v, sizeof(v)) < 0 ||
		    snp_cpu_read(gpa, &back, sizeof(back)) < 0 || back != v)
			c->touch_mismatch = true;
	}
}

static void put_le16(u8 *p, u16 v)
{
	snp_put_le16(p, v);
}

/*
 * Leaf, subleaf, XCR0_IN, EAX..EDX. Leaf 0xD: subleaves 0/1 for the legacy
 * area (XCR0_IN 1), then size (EAX) and offset (EBX) of AVX (2), the three
 * AVX-512 components (5-7), PKRU (9) and the CET supervisor states (11, 12).
 */
static const struct {
	u32 fn, subfn;
	u64 xcr0_in;
	u32 eax, ebx, ecx, edx;
} cpuid_page[] = {
	{ 0x0, 0, 0, 0x10, 0x68747541, 0x444d4163, 0x69746e65 }, /* AuthenticAMD */
	{ 0x1, 0, 0, 0x00a10f11, 0x00010800, 0x76d8320b, 0x178bfbff },
	{ 0x7, 0, 0, 0x1, 0xf1bf97a9, 0x00405fce, 0x10000010 },
	{ 0xb, 0, 0, 0x1, 0x2, 0x100, 0x0 },
	{ 0xb, 1, 0, 0x7, 0x2, 0x201, 0x0 },
	{ 0xd, 0, 1, 0x2e7, 0x240, 0x988, 0x0 },
	{ 0xd, 1, 1, 0xf, 0x240, 0x1800, 0x0 },
	{ 0xd, 2, 0, 256, 576, 0, 0 },
	{ 0xd, 5, 0, 64, 832, 0, 0 },
	{ 0xd, 6, 0, 512, 896, 0, 0 },
	{ 0xd, 7, 0, 1024, 1408, 0, 0 },
	{ 0xd, 9, 0, 8, 2432, 0, 0 },
	{ 0xd, 11, 0, 16, 0, 1, 0 },
	{ 0xd, 12, 0, 24, 0, 1, 0 },
	{ 0x80000000, 0, 0, 0x80000028, 0x68747541, 0x444d4163, 0x69746e65 },
	{ 0x80000001, 0, 0, 0x00a10f11, 0x40000000, 0x75c237ff, 0x2fd3fbff },
	{ 0x80000008, 0, 0, 0x3030, 0x791ef257, 0x0, 0x0 },
	{ 0x8000001e, 0, 0, 0x0, 0x100, 0x0, 0x0 },
	/* SME SEV PageFlush SEV-ES SNP; C-bit 51, 1 bit of reduction */
	{ 0x8000001f, 0, 0, 0x0001001f, 0x00004073, 0x0, 0x0 },
};

static void build_cpuid_table(struct snp_cpuid_table *ct)
{
	ct->count = cpu_to_le32(SNP_ELEMENTSOF(cpuid_page));
	for (size_t i = 0; i < SNP_ELEMENTSOF(cpuid_page); i++) {
		struct snp_cpuid_fn *e = &ct->fn[i];

		e->eax_in = cpu_to_le32(cpuid_page[i].fn);
		e->ecx_in = cpu_to_le32(cpuid_page[i].subfn);
		e->xcr0_in = cpu_to_le64(cpuid_page[i].xcr0_in);
		e->eax = cpu_to_le32(cpuid_page[i].eax);
		e->ebx = cpu_to_le32(cpuid_page[i].ebx);
		e->ecx = cpu_to_le32(cpuid_page[i].ecx);
		e->edx = cpu_to_le32(cpuid_page[i].edx);
	}
}

/* The page's entry for @fn/@subfn, as the guest looks it up; regs zero when none. */
static bool table_entry(const struct snp_cpuid_table *t, u32 fn, u32 subfn, u32 regs[4])
{
	u32 count = le32_to_cpu(t->count);

	memset(regs, 0, 4 * sizeof(regs[0]));
	for (u32 i = 0; i < count && i < SNP_CPUID_COUNT_MAX; i++) {
		const struct snp_cpuid_fn *e = &t->fn[i];

		if (le32_to_cpu(e->eax_in) != fn ||
		    (snp_cpuid_function_is_indexed(fn) && le32_to_cpu(e->ecx_in) != subfn))
			continue;
		if (fn == 0xd && subfn <= 1 &&
		    ((le64_to_cpu(e->xcr0_in) != 1 && le64_to_cpu(e->xcr0_in) != 3) ||
		     le64_to_cpu(e->xss_in)))
			continue;
		regs[0] = le32_to_cpu(e->eax);
		regs[1] = le32_to_cpu(e->ebx);
		regs[2] = le32_to_cpu(e->ecx);
		regs[3] = le32_to_cpu(e->edx);
		return true;
	}
	return false;
}

/* Everything the launch puts into [0, 640K): boot_params, CC blob, secrets, CPUID, tables. */
static int build_low_ram(const struct sim_boot_opts *o, u64 ram, u8 *low)
{
	u8 *bp = low + SIM_BOOT_PARAMS, *sd = low + SIM_BOOT_SETUP_DATA;
	struct snp_cc_blob *cc = (struct snp_cc_blob *)(low + SIM_BOOT_CC_BLOB);
	struct snp_secrets_page *sp = (struct snp_secrets_page *)(low + SIM_BOOT_SECRETS);
	struct snp_cpuid_table *ct = (struct snp_cpuid_table *)(low + SIM_BOOT_CPUID);
	struct snp_unaccepted_table *ut =
		(struct snp_unaccepted_table *)(low + SIM_BOOT_UNACCEPTED);
	u8 *bitmap = low + SIM_BOOT_UNACCEPTED + sizeof(*ut);
	u64 units = (ram - SIM_BOOT_ACCEPT_BASE) / SIM_BOOT_UNIT, u;
	struct {
		u64 addr, size;
		u32 type;
	} e820[] = {
		{ 0, SIM_BOOT_LOW_RAM_END, SNP_E820_RAM },
		{ SNP_LEGACY_ROM_START, SNP_LEGACY_ROM_END - SNP_LEGACY_ROM_START,
		  SNP_E820_RESERVED },
		{ SNP_LEGACY_ROM_END, ram - SNP_LEGACY_ROM_END, SNP_E820_RAM },
	};

	/* boot_params and its setup header */
	put_le16(bp + SNP_BP_HDR_BOOT_FLAG, SNP_BP_BOOT_FLAG);
	snp_put_le32(bp + SNP_BP_HDR_MAGIC, SNP_BP_MAGIC);
	if (!o->cc_blob_in_setup_data)
		snp_put_le32(bp + SNP_BP_CC_BLOB_ADDRESS, (u32)SIM_BOOT_CC_BLOB);
	snp_put_le64(bp + SNP_BP_HDR_SETUP_DATA, SIM_BOOT_SETUP_DATA);
	bp[SNP_BP_E820_ENTRIES] = (u8)SNP_ELEMENTSOF(e820);
	for (size_t i = 0; i < SNP_ELEMENTSOF(e820); i++) {
		u8 *e = bp + SNP_BP_E820_TABLE + i * sizeof(struct snp_e820_entry);

		snp_put_le64(e, e820[i].addr);
		snp_put_le64(e + 8, e820[i].size);
		snp_put_le32(e + 16, e820[i].type);
	}

	/* setup_data: SETUP_CC_BLOB, then the unaccepted-memory table */
	snp_put_le64(sd, SIM_BOOT_SETUP_DATA + 24);
	snp_put_le32(sd + 8, SNP_SETUP_CC_BLOB);
	snp_put_le32(sd + 12, 4);
	snp_put_le32(sd + 16, (u32)SIM_BOOT_CC_BLOB);
	sd += 24;
	snp_put_le64(sd, 0);
	snp_put_le32(sd + 8, SNP_SETUP_UNACCEPTED_MEM);
	snp_put_le32(sd + 12, 8);
	snp_put_le64(sd + 16, SIM_BOOT_UNACCEPTED);

	cc->magic = cpu_to_le32(SNP_CC_BLOB_MAGIC);
	cc->version = cpu_to_le16(1);
	cc->secrets_phys = cpu_to_le64(SIM_BOOT_SECRETS);
	cc->secrets_len = cpu_to_le32(SNP_PAGE_SIZE);
	cc->cpuid_phys = cpu_to_le64(SIM_BOOT_CPUID);
	cc->cpuid_len = cpu_to_le32(SNP_PAGE_SIZE);

	if (o->state) {
		/*
		 * The chip's secrets page. A state that served messages already
		 * keeps its VMPCKs: the guest's counters start at the firmware's,
		 * so that no sequence number (GCM IV) is used twice.
		 */
		sim_state_make_secrets_page(o->state, sp);
		for (int i = 0; i < 4; i++) {
			sp->os_msg_seqno[i] = cpu_to_le32((u32)o->state->fw_counter[i]);
			sp->os_msg_seqno_hi[i] = cpu_to_le32((u32)(o->state->fw_counter[i] >> 32));
		}
	} else {
		/* Secrets page: version 3, Genoa FMS, fresh VMPCKs. */
		sp->version = cpu_to_le32(3);
		sp->fms = cpu_to_le32(0x00a10f11);
		if (getrandom(sp->vmpck, sizeof(sp->vmpck), 0) != (ssize_t)sizeof(sp->vmpck))
			return -EIO;
	}

	/* CPUID page: a Genoa-like table, all-zero leaves left out as hypervisors do. */
	build_cpuid_table(ct);
	if (o->cpuid_count)
		ct->count = cpu_to_le32(o->cpuid_count);

	ut->version = cpu_to_le32(1);
	ut->unit_size = cpu_to_le32((u32)SIM_BOOT_UNIT);
	ut->phys_base = cpu_to_le64(SIM_BOOT_ACCEPT_BASE);
	ut->size = cpu_to_le64((units + 7) / 8);
	for (u = 0; u < units; u++)
		bitmap[u / 8] |= (u8)(1U << (u % 8));
	return 0;
}

static int launch(struct sim_machine *m, const struct sim_boot_opts *o, u64 ram,
		  struct snp_cpuid_table *ret_cpuid)
{
	static const u8 rom_sig[] = { 0x55, 0xaa, 0x40 };
	u8 *low;
	int r;

	low = calloc(1, SIM_BOOT_LOW_RAM_END);
	if (!low)
		return -ENOMEM;
	r = build_low_ram(o, ram, low);
	if (r == 0 && o->tweak_launch)
		o->tweak_launch(low, SIM_BOOT_LOW_RAM_END, o->tweak_launch_arg);
	/* The hypervisor's CPUID is the page it gave the firmware. */
	memcpy(ret_cpuid, low + SIM_BOOT_CPUID, sizeof(*ret_cpuid));
	sim_machine_set_cpuid(m, ret_cpuid);
	if (r == 0)
		r = sim_machine_launch_update(m, 0, low, SIM_BOOT_LOW_RAM_END);
	explicit_bzero(low + SIM_BOOT_SECRETS, SNP_PAGE_SIZE);
	free(low);
	if (r < 0)
		return r;
	/* [1M, 2M) firmware, [2M, 4M) the kernel image */
	r = sim_machine_launch_update(m, SNP_LEGACY_ROM_END, NULL,
				      SIM_BOOT_IMAGE_START - SNP_LEGACY_ROM_END);
	if (r == 0)
		r = sim_machine_launch_update(m, SIM_BOOT_IMAGE_START, IMAGE_MAGIC,
					      sizeof(IMAGE_MAGIC));
	if (r == 0)
		r = sim_machine_launch_update(m, SIM_BOOT_IMAGE_START + SNP_PAGE_SIZE, NULL,
					      SIM_BOOT_IMAGE_END - SIM_BOOT_IMAGE_START -
						      SNP_PAGE_SIZE);
	if (r < 0)
		return r;
	/* The video BIOS, in memory the hypervisor owns until the guest takes it. */
	return sim_machine_host_write(m, SNP_LEGACY_ROM_START, rom_sig, sizeof(rom_sig));
}

static void scan(struct sim_machine *m, struct sim_boot_result *res)
{
	u64 ram = sim_machine_ram_size(m), gpa;
	u8 byte;

	res->ram_pages = ram / SNP_PAGE_SIZE;
	res->pages_launch =
		(SIM_BOOT_LOW_RAM_END + SIM_BOOT_IMAGE_END - SNP_LEGACY_ROM_END) / SNP_PAGE_SIZE;
	for (gpa = 0; gpa < ram; gpa += SNP_PAGE_SIZE) {
		struct sim_page_info pi;

		if (sim_machine_page(m, gpa, &pi) < 0)
			continue;
		if (pi.assigned && pi.validated && pi.rmp_gpa == gpa)
			res->pages_valid++;
		if (pi.validations > 1)
			res->pages_twice++;
	}
	for (u64 u = 0; u < (ram - SIM_BOOT_ACCEPT_BASE) / SIM_BOOT_UNIT; u++) {
		if (sim_machine_host_read(
			    m, SIM_BOOT_UNACCEPTED + sizeof(struct snp_unaccepted_table) + u / 8,
			    &byte, 1) == 0 &&
		    (byte & (1U << (u % 8))))
			res->units_left++;
	}
}

/* Firmware attached to @m, and the driver's pages (allocated here: a run may end anywhere). */
static int greq_setup(struct boot_ctx *c, struct sim_machine *m)
{
	c->report_rc = -ECANCELED; /* until the run phase gets to it */
	c->report_exitinfo2 = SNP_EXITINFO2_NO_FW_CALL;
	c->fw = snp_page_alloc(sizeof(*c->fw));
	c->secrets = snp_page_alloc(sizeof(*c->secrets));
	c->shared = snp_page_alloc(sizeof(*c->shared));
	c->scratch = snp_page_alloc(sizeof(*c->scratch));
	c->resp = snp_page_alloc(sizeof(*c->resp));
	if (!c->fw || !c->secrets || !c->shared || !c->scratch || !c->resp)
		return -ENOMEM;
	sim_fw_init(c->fw, c->opts->state);
	return sim_machine_attach_fw(m, c->fw);
}

static void greq_teardown(struct boot_ctx *c, struct sim_machine *m)
{
	if (m)
		sim_machine_attach_fw(m, NULL);
	snp_page_free(c->fw, sizeof(*c->fw));
	snp_page_free(c->secrets, sizeof(*c->secrets));
	snp_page_free(c->shared, sizeof(*c->shared));
	snp_page_free(c->scratch, sizeof(*c->scratch));
	snp_page_free(c->resp, sizeof(*c->resp));
	explicit_bzero(&c->dev, sizeof(c->dev));
}

int sim_boot(const struct sim_boot_opts *o, struct sim_machine **ret_machine,
	     struct sim_boot_result *res)
{
	struct sim_machine_cfg cfg = { 0 };
	struct snp_cpuid_table *cpuid = NULL;
	struct sim_machine *m = NULL;
	struct boot_ctx *c;
	u64 ram;
	double t;
	int r;

	memset(res, 0, sizeof(*res));
	if (!o || o->memory_mib > (SIM_MACHINE_MAX_RAM >> 20) ||
	    (o->memory_mib << 20) < SIM_MACHINE_MIN_RAM || o->memory_mib % 2 ||
	    o->touch_mib > o->memory_mib - (SIM_BOOT_ACCEPT_BASE >> 20))
		return -EINVAL;
	ram = o->memory_mib << 20;
	cfg.ram_size = ram;
	cfg.sev_status = o->sev_status;
	cfg.vmpl = o->vmpl;
	cfg.psc_max_entries = o->psc_max_entries;
	cfg.psc_max_pages = o->psc_max_pages;
	cfg.psc_4k_only = o->psc_4k_only;
	cfg.attack = o->attack_after_boot ? SIM_ATTACK_NONE : o->attack;
	cfg.no_osxsave = o->no_osxsave;
	cfg.xcr0 = o->xcr0;
	cfg.xss = o->xss;
	r = sim_machine_new(&cfg, &m);
	if (r < 0)
		return r;
	c = calloc(1, sizeof(*c));
	cpuid = calloc(1, sizeof(*cpuid));
	if (!c || !cpuid) {
		free(c);
		free(cpuid);
		sim_machine_free(m);
		return -ENOMEM;
	}
	c->opts = o;
	for (int i = 0; i < SIM_BOOT_CPUID_PROBES; i++) {
		c->cpuid[i].fn = cpuid_probes[i][0];
		c->cpuid[i].subfn = cpuid_probes[i][1];
	}
	if (o->mutator)
		sim_machine_set_mutator(m, o->mutator, o->mutator_arg);
	r = launch(m, o, ram, cpuid);
	if (r == 0 && o->state)
		r = greq_setup(c, m);
	if (r < 0)
		goto out;

	c->layout = (struct snp_boot_layout){
		.image_start = SIM_BOOT_IMAGE_START,
		.image_end = SIM_BOOT_IMAGE_END,
		.bss_decrypted_start = SIM_BOOT_BSS_DEC_START,
		.bss_decrypted_end = SIM_BOOT_BSS_DEC_END,
		.ghcb_gpa = SIM_BOOT_GHCB,
	};
	snp_sev_init(&c->g);
	sim_machine_set_vc_handler(m, vc_entry, &c->g);

	res->phase = "boot";
	t = now_ms();
	sim_machine_run(m, guest_boot, c, &res->exit);
	res->boot_ms = now_ms() - t;
	if (res->exit.result == SIM_RUN_DONE && c->boot_rc < 0) {
		res->exit.result = SIM_RUN_HV_STOPPED;
		snprintf(res->exit.why, sizeof(res->exit.why), "guest boot failed: %s",
			 c->boot_rc == -ENODEV ? "SEV_STATUS says this is not an SNP guest" :
						 "bad boot_params");
	}
	if (res->exit.result == SIM_RUN_DONE) {
		if (o->attack == SIM_ATTACK_REMAP || o->attack == SIM_ATTACK_UNVALIDATE) {
			/* The hypervisor strikes at a page the guest validated and will use. */
			res->victim_gpa = SIM_BOOT_IMAGE_START;
			r = o->attack == SIM_ATTACK_REMAP ?
				    sim_machine_remap(m, res->victim_gpa) :
				    sim_machine_unvalidate(m, res->victim_gpa);
			if (r < 0)
				goto out;
		}
		if (o->attack_after_boot)
			sim_machine_set_attack(m, o->attack);
		if (o->before_run)
			o->before_run(m, o->before_run_arg);
		res->phase = "run";
		t = now_ms();
		sim_machine_run(m, guest_run, c, &res->exit);
		res->run_ms = now_ms() - t;
		if (res->exit.result == SIM_RUN_DONE && c->touch_mismatch) {
			res->exit.result = SIM_RUN_HV_STOPPED;
			snprintf(res->exit.why, sizeof(res->exit.why),
				 "memory did not read back what the guest wrote");
		}
	}
	if (res->exit.result == SIM_RUN_TERMINATED && !res->exit.gpa)
		res->exit.gpa = c->g.term_info;
	res->guest = c->g.stats;
	res->hw = *sim_machine_stats(m);
	res->ghcb_version = c->g.ghcb_version;
	res->hv_features = c->g.hv_features;
	if (o->state) {
		res->have_report = c->have_report;
		res->report_rc = c->report_rc;
		res->report_exitinfo2 = c->report_exitinfo2;
		if (c->have_report)
			memcpy(res->report,
			       &((const struct snp_report_rsp_msg *)c->resp->data)->report,
			       sizeof(res->report));
	}
	for (int i = 0; i < SIM_BOOT_CPUID_PROBES; i++) {
		struct sim_cpuid_probe *p = &res->cpuid[i];

		*p = c->cpuid[i];
		p->in_table = table_entry(cpuid, p->fn, p->subfn, p->table);
		sim_machine_hv_cpuid(m, p->fn, p->subfn, p->hv);
	}
	scan(m, res);
	r = res->exit.result == SIM_RUN_DONE ? 0 : 1;
out:
	greq_teardown(c, m);
	free(cpuid);
	free(c);
	if (r >= 0 && ret_machine)
		*ret_machine = m;
	else
		sim_machine_free(m);
	return r;
}
