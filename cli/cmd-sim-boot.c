// SPDX-License-Identifier: Apache-2.0
/*
 * snpctl sim boot --memory MIB --validation pre|lazy [--touch MIB]
 *                 [--attack remap|unvalidate|psc-ignore|psc-partial|no-snp|ghcb-v1|
 *                           cpuid-lie]
 *                 [--report FILE [--dir D] [--nonce HEX]] [--json]
 *
 * Boot a simulated SNP guest with the kernel/ memory-validation code on the
 * simulated machine and say what the boot did: pages validated, page state
 * changes, exits, time, and the CPUID answers it got (from the CPUID page;
 * beside them what the hypervisor answers); under an attack, how the guest
 * noticed it or, for cpuid-lie, that it was not fooled.
 * With --report the guest is launched on the simulated chip of state
 * directory D (created if absent; used in memory, as a new launch with
 * fresh VMPCKs, and nothing is written back) and its run phase gets an
 * attestation report through its GHCB, written to FILE.
 * Exit status: 0 booted and ran (and got the report), 1 the guest
 * terminated itself (an attack or an unsupported platform was detected),
 * 4 the hypervisor stopped the guest or the report failed, 3 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/snpctl.h"
#include "lib/log.h"
#include "lib/util.h"
#include "sim/boot.h"
#include "sim/sim.h"

static void boot_usage(FILE *f)
{
	fprintf(f,
		"Usage: snpctl sim boot [--memory MIB] [--validation pre|lazy] [--touch MIB]\n"
		"                       [--attack NAME] [--report FILE [--dir D] [--nonce HEX]]\n"
		"                       [--json]\n\n"
		"  --memory MIB        guest RAM, even, 8..65536 (default 1024)\n"
		"  --validation MODE   pre (default): validate all RAM at boot;\n"
		"                      lazy: accept a 2 MiB unit on first use (#VC 0x404)\n"
		"  --touch MIB         memory the run phase writes, from 4 MiB on (default 0;\n"
		"                      at most MIB - 4; the host allocates what is touched)\n"
		"  --attack NAME       remap, unvalidate, psc-ignore, psc-partial, no-snp, ghcb-v1,\n"
		"                      cpuid-lie\n"
		"  --attack-after-boot the psc-*, no-snp and ghcb-v1 hypervisor behaves during\n"
		"                      the boot and attacks in the run phase\n"
		"  --report FILE       the run phase gets an attestation report through the\n"
		"                      guest's GHCB and writes it (1184 bytes) to FILE\n"
		"  --dir D             state directory of the simulated chip (default\n"
		"                      $SNP_SIM_DIR; created if absent; the boot is a new\n"
		"                      launch kept in memory, nothing is written back)\n"
		"  --nonce HEX         REPORT_DATA, up to 64 bytes (zero-padded)\n"
		"  --json              print the result as JSON\n"
		"Machine knobs: --vmpl N, --psc-max-entries N, --psc-max-pages N, --psc-4k-only,\n"
		"  --cc-blob-in-setup-data, --sev-status N (0x... for hex; 0 = SEV|SEV-ES|SNP),\n"
		"  --cpuid-count N (the CPUID page's entry count, as written at launch)\n");
}

static const char *result_name(enum sim_run_result r)
{
	switch (r) {
	case SIM_RUN_DONE:
		return "ok";
	case SIM_RUN_TERMINATED:
		return "terminated";
	case SIM_RUN_HV_STOPPED:
		return "stopped-by-hypervisor";
	}
	return "unknown";
}

static json_t *regs_json(const u32 regs[4])
{
	return json_pack("[I,I,I,I]", (json_int_t)regs[0], (json_int_t)regs[1], (json_int_t)regs[2],
			 (json_int_t)regs[3]);
}

/* The CPUID leaves the guest asked: its answer, the CPUID page's, the hypervisor's. */
static json_t *cpuid_json(const struct sim_boot_result *r)
{
	json_t *a = json_array();

	for (int i = 0; a && i < SIM_BOOT_CPUID_PROBES; i++) {
		const struct sim_cpuid_probe *p = &r->cpuid[i];

		if (!p->answered)
			continue;
		json_array_append_new(
			a, json_pack("{s:I,s:I,s:b,s:o,s:o,s:o}", "fn", (json_int_t)p->fn, "subfn",
				     (json_int_t)p->subfn, "in_table", p->in_table, "guest",
				     regs_json(p->guest), "table", regs_json(p->table),
				     "hypervisor", regs_json(p->hv)));
	}
	return a;
}

static void print_cpuid(const struct sim_boot_result *r)
{
	int asked = 0, differ = 0;

	for (int i = 0; i < SIM_BOOT_CPUID_PROBES; i++) {
		const struct sim_cpuid_probe *p = &r->cpuid[i];

		if (!p->answered)
			continue;
		if (!asked++)
			printf("  CPUID              from the CPUID page (%llu lookups, %llu APIC-ID "
			       "questions to the hypervisor):\n"
			       "    leaf.sub     guest: EAX      EBX      ECX      EDX       "
			       "hypervisor says\n",
			       (unsigned long long)r->guest.cpuid_table,
			       (unsigned long long)r->guest.cpuid_hv);
		if (memcmp(p->guest, p->hv, sizeof(p->guest)))
			differ++;
		printf("    %08x.%-2u         %08x %08x %08x %08x  %08x %08x %08x %08x%s\n", p->fn,
		       p->subfn, p->guest[0], p->guest[1], p->guest[2], p->guest[3], p->hv[0],
		       p->hv[1], p->hv[2], p->hv[3], p->in_table ? "" : "  (not in the page)");
	}
	if (asked)
		printf("  CPUID              %d of %d answers differ from what the hypervisor says\n",
		       differ, asked);
}

static int print_json(const struct sim_boot_opts *o, const struct sim_boot_result *r,
		      const char *report)
{
	const struct snp_sev_stats *g = &r->guest;
	const struct sim_machine_stats *h = &r->hw;
	json_t *j;
	int rc;

	j = json_pack("{s:I, s:s, s:I, s:s, s:s, s:s, s:I, s:I, s:f, s:f}", "memory_mib",
		      (json_int_t)o->memory_mib, "validation",
		      o->mode == SNP_ACCEPT_LAZY ? "lazy" : "pre", "touch_mib",
		      (json_int_t)o->touch_mib, "attack", sim_attack_to_string(o->attack), "result",
		      result_name(r->exit.result), "phase", r->phase ? r->phase : "",
		      "ghcb_version", (json_int_t)r->ghcb_version, "hv_features",
		      (json_int_t)r->hv_features, "boot_ms", r->boot_ms, "run_ms", r->run_ms);
	if (!j)
		return -ENOMEM;
	if (r->exit.result == SIM_RUN_TERMINATED) {
		json_object_set_new(j, "term_set", json_integer(r->exit.term_set));
		json_object_set_new(j, "term_code", json_integer(r->exit.term_code));
		json_object_set_new(
			j, "term_reason",
			json_string(sim_term_reason(r->exit.term_set, r->exit.term_code)));
	}
	if (r->exit.result != SIM_RUN_DONE) {
		char info[24];

		snprintf(info, sizeof(info), "0x%llx", (unsigned long long)r->exit.gpa);
		json_object_set_new(j, "info", json_string(info));
		json_object_set_new(j, "why", json_string(r->exit.why));
	}
	if (r->victim_gpa)
		json_object_set_new(j, "victim_gpa", json_integer((json_int_t)r->victim_gpa));
	if (report)
		json_object_set_new(j, "report",
				    json_pack("{s:b,s:i,s:I}", "ok", r->have_report, "rc",
					      r->report_rc, "exitinfo2",
					      (json_int_t)r->report_exitinfo2));
	json_object_set_new(
		j, "guest",
		json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "msr_exits",
			  (json_int_t)g->msr_exits, "nae_exits", (json_int_t)g->nae_exits,
			  "psc_msr", (json_int_t)g->psc_msr, "psc_exits", (json_int_t)g->psc_exits,
			  "psc_entries", (json_int_t)g->psc_entries, "pvalidate_4k",
			  (json_int_t)g->pvalidate_4k, "pvalidate_2m", (json_int_t)g->pvalidate_2m,
			  "size_mismatch", (json_int_t)g->size_mismatch, "pages_validated",
			  (json_int_t)g->pages_validated, "pages_rescinded",
			  (json_int_t)g->pages_rescinded, "vc_not_validated",
			  (json_int_t)g->vc_not_validated, "units_accepted",
			  (json_int_t)g->units_accepted));
	json_object_set_new(
		j, "machine",
		json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "msr_exits",
			  (json_int_t)h->msr_exits, "nae_exits", (json_int_t)h->nae_exits,
			  "guest_requests", (json_int_t)h->guest_requests, "rmpupdates",
			  (json_int_t)h->rmpupdates, "psmash", (json_int_t)h->psmash,
			  "pvalidate_4k", (json_int_t)h->pvalidate_4k, "pvalidate_2m",
			  (json_int_t)h->pvalidate_2m, "pvalidate_failed",
			  (json_int_t)h->pvalidate_failed, "size_mismatch",
			  (json_int_t)h->size_mismatch, "vc_404", (json_int_t)h->vc_404, "npf",
			  (json_int_t)h->npf, "validated_pages", (json_int_t)h->validated_pages,
			  "rescinded_pages", (json_int_t)h->rescinded_pages, "rmpadjust",
			  (json_int_t)h->rmpadjust));
	json_object_set_new(json_object_get(j, "guest"), "cpuid_table",
			    json_integer((json_int_t)g->cpuid_table));
	json_object_set_new(json_object_get(j, "guest"), "cpuid_hv",
			    json_integer((json_int_t)g->cpuid_hv));
	json_object_set_new(json_object_get(j, "machine"), "cpuid_msr",
			    json_integer((json_int_t)h->cpuid_msr));
	json_object_set_new(json_object_get(j, "machine"), "cpuid_nae",
			    json_integer((json_int_t)h->cpuid_nae));
	json_object_set_new(j, "cpuid", cpuid_json(r));
	json_object_set_new(
		j, "rmp",
		json_pack("{s:I,s:I,s:I,s:I,s:I}", "ram_pages", (json_int_t)r->ram_pages,
			  "pages_valid", (json_int_t)r->pages_valid, "pages_launch",
			  (json_int_t)r->pages_launch, "pages_twice", (json_int_t)r->pages_twice,
			  "units_left", (json_int_t)r->units_left));
	rc = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	putchar('\n');
	json_decref(j);
	return rc < 0 ? -EIO : 0;
}

static void print_text(const struct sim_boot_opts *o, const struct sim_boot_result *r,
		       const char *report)
{
	const struct snp_sev_stats *g = &r->guest;
	const struct sim_machine_stats *h = &r->hw;

	printf("Simulated SNP guest: %llu MiB, %s validation, %llu MiB touched, attack: %s\n",
	       (unsigned long long)o->memory_mib, o->mode == SNP_ACCEPT_LAZY ? "lazy" : "pre",
	       (unsigned long long)o->touch_mib, sim_attack_to_string(o->attack));
	printf("  GHCB protocol      v%u, hypervisor features 0x%llx\n", r->ghcb_version,
	       (unsigned long long)r->hv_features);
	printf("  boot               %.3f ms\n", r->boot_ms);
	if (r->run_ms > 0)
		printf("  run                %.3f ms\n", r->run_ms);
	printf("  pages validated    %llu by the guest (%llu x 2M, %llu x 4K PVALIDATE, %llu size "
	       "mismatches), %llu at launch\n",
	       (unsigned long long)g->pages_validated, (unsigned long long)g->pvalidate_2m,
	       (unsigned long long)g->pvalidate_4k, (unsigned long long)g->size_mismatch,
	       (unsigned long long)r->pages_launch);
	printf("  pages rescinded    %llu\n", (unsigned long long)g->pages_rescinded);
	printf("  page state changes %llu single-page (MSR), %llu entries in %llu GHCB exits\n",
	       (unsigned long long)g->psc_msr, (unsigned long long)g->psc_entries,
	       (unsigned long long)g->psc_exits);
	printf("  exits              %llu MSR protocol, %llu GHCB\n",
	       (unsigned long long)h->msr_exits, (unsigned long long)h->nae_exits);
	printf("  #VC 0x404          %llu\n", (unsigned long long)g->vc_not_validated);
	printf("  units accepted     %llu of 2 MiB (%s)\n", (unsigned long long)g->units_accepted,
	       o->mode == SNP_ACCEPT_LAZY ? "on first use" : "at boot");
	printf("  RMP after the run  %llu of %llu pages private and validated, %llu validated "
	       "twice, %llu units still unaccepted\n",
	       (unsigned long long)r->pages_valid, (unsigned long long)r->ram_pages,
	       (unsigned long long)r->pages_twice, (unsigned long long)r->units_left);
	print_cpuid(r);
	if (r->victim_gpa)
		printf("  attacked page      0x%llx (%s after boot)\n",
		       (unsigned long long)r->victim_gpa, sim_attack_to_string(o->attack));
	if (report && r->have_report)
		printf("  attestation report obtained through the GHCB (%llu guest request exits), "
		       "written to %s\n",
		       (unsigned long long)h->guest_requests, report);
	else if (report && r->report_rc == -ECANCELED)
		printf("  attestation report not obtained: the guest stopped before it had one\n");
	else if (report)
		printf("  attestation report FAILED: rc %d (%s), exitinfo2 0x%llx\n", r->report_rc,
		       strerror(r->report_rc < 0 ? -r->report_rc : r->report_rc),
		       (unsigned long long)r->report_exitinfo2);
	switch (r->exit.result) {
	case SIM_RUN_DONE:
		printf("Result: booted and ran\n");
		break;
	case SIM_RUN_TERMINATED:
		printf("Result: the guest terminated itself during %s: reason set %u code %u (%s), "
		       "info 0x%llx\n",
		       r->phase, r->exit.term_set, r->exit.term_code,
		       sim_term_reason(r->exit.term_set, r->exit.term_code),
		       (unsigned long long)r->exit.gpa);
		break;
	case SIM_RUN_HV_STOPPED:
		printf("Result: the hypervisor stopped the guest during %s: %s\n", r->phase,
		       r->exit.why);
		break;
	}
}

int snpctl_cmd_sim_boot(int argc, char **argv)
{
	enum {
		OPT_VMPL = 0x100,
		OPT_MAX_ENTRIES,
		OPT_MAX_PAGES,
		OPT_4K_ONLY,
		OPT_SETUP_DATA,
		OPT_SEV_STATUS,
		OPT_ATTACK_AFTER_BOOT,
		OPT_REPORT,
		OPT_DIR,
		OPT_NONCE,
		OPT_CPUID_COUNT,
	};
	static const struct option opts[] = {
		{ "memory", required_argument, NULL, 'm' },
		{ "validation", required_argument, NULL, 'v' },
		{ "touch", required_argument, NULL, 't' },
		{ "attack", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "vmpl", required_argument, NULL, OPT_VMPL },
		{ "psc-max-entries", required_argument, NULL, OPT_MAX_ENTRIES },
		{ "psc-max-pages", required_argument, NULL, OPT_MAX_PAGES },
		{ "psc-4k-only", no_argument, NULL, OPT_4K_ONLY },
		{ "cc-blob-in-setup-data", no_argument, NULL, OPT_SETUP_DATA },
		{ "sev-status", required_argument, NULL, OPT_SEV_STATUS },
		{ "attack-after-boot", no_argument, NULL, OPT_ATTACK_AFTER_BOOT },
		{ "report", required_argument, NULL, OPT_REPORT },
		{ "dir", required_argument, NULL, OPT_DIR },
		{ "nonce", required_argument, NULL, OPT_NONCE },
		{ "cpuid-count", required_argument, NULL, OPT_CPUID_COUNT },
		{}
	};
	struct sim_boot_opts o = { .memory_mib = 1024, .mode = SNP_ACCEPT_EAGER };
	struct sim_boot_result res;
	const char *report = NULL, *dir = NULL;
	bool json = false, have_nonce = false, report_lost = false;
	char err[SNP_ERRBUF] = "";
	int c, r, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		switch (c) {
		case 'm':
			if (snp_parse_u64(optarg, &o.memory_mib) < 0 || o.memory_mib < 8 ||
			    o.memory_mib > (SIM_MACHINE_MAX_RAM >> 20) || o.memory_mib % 2) {
				log_error("--memory must be an even number of MiB from 8 to %llu",
					  (unsigned long long)(SIM_MACHINE_MAX_RAM >> 20));
				return SNPCTL_EXIT_USAGE;
			}
			break;
		case 'v':
			if (strcmp(optarg, "pre") == 0)
				o.mode = SNP_ACCEPT_EAGER;
			else if (strcmp(optarg, "lazy") == 0)
				o.mode = SNP_ACCEPT_LAZY;
			else {
				log_error("--validation is pre or lazy, not '%s'", optarg);
				return SNPCTL_EXIT_USAGE;
			}
			break;
		case 't':
			if (snp_parse_u64(optarg, &o.touch_mib) < 0 ||
			    o.touch_mib > (SIM_MACHINE_MAX_RAM >> 20)) {
				log_error("--touch must be a number of MiB");
				return SNPCTL_EXIT_USAGE;
			}
			break;
		case 'a':
			if (sim_attack_from_string(optarg, &o.attack) < 0) {
				log_error("Unknown attack '%s' (remap, unvalidate, psc-ignore, "
					  "psc-partial, no-snp, ghcb-v1, cpuid-lie)",
					  optarg);
				return SNPCTL_EXIT_USAGE;
			}
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			boot_usage(stdout);
			return SNPCTL_EXIT_OK;
		case OPT_VMPL:
			if (snp_parse_u32_max(optarg, 3, &o.vmpl) < 0) {
				log_error("--vmpl is 0 to 3");
				return SNPCTL_EXIT_USAGE;
			}
			break;
		case OPT_MAX_ENTRIES:
			if (snp_parse_u32_max(optarg, SNP_PSC_MAX_ENTRIES, &o.psc_max_entries) <
			    0) {
				log_error("--psc-max-entries is 0 to %d", SNP_PSC_MAX_ENTRIES);
				return SNPCTL_EXIT_USAGE;
			}
			break;
		case OPT_MAX_PAGES:
			if (snp_parse_u32_max(optarg, SNP_PAGES_PER_PMD, &o.psc_max_pages) < 0) {
				log_error("--psc-max-pages is 0 to %d", SNP_PAGES_PER_PMD);
				return SNPCTL_EXIT_USAGE;
			}
			break;
		case OPT_4K_ONLY:
			o.psc_4k_only = true;
			break;
		case OPT_SETUP_DATA:
			o.cc_blob_in_setup_data = true;
			break;
		case OPT_ATTACK_AFTER_BOOT:
			o.attack_after_boot = true;
			break;
		case OPT_SEV_STATUS:
			if (snp_parse_u64_or_hex(optarg, &o.sev_status) < 0) {
				log_error("--sev-status takes a number (0x... for hex)");
				return SNPCTL_EXIT_USAGE;
			}
			break;
		case OPT_CPUID_COUNT:
			if (snp_parse_u32_max(optarg, UINT32_MAX, &o.cpuid_count) < 0) {
				log_error("--cpuid-count takes a number");
				return SNPCTL_EXIT_USAGE;
			}
			break;
		case OPT_REPORT:
			report = optarg;
			break;
		case OPT_DIR:
			dir = optarg;
			break;
		case OPT_NONCE:
			memset(o.report_data, 0, sizeof(o.report_data));
			if (!*optarg || snp_hex_decode(optarg, strlen(optarg), o.report_data,
						       sizeof(o.report_data), false) < 0) {
				log_error(
					"--nonce: expected an even number of hex digits, 2 to 128 "
					"(up to 64 bytes), not '%s'",
					optarg);
				return SNPCTL_EXIT_USAGE;
			}
			have_nonce = true;
			break;
		default:
			boot_usage(stderr);
			return SNPCTL_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		boot_usage(stderr);
		return SNPCTL_EXIT_USAGE;
	}
	if (o.touch_mib > o.memory_mib - (SIM_BOOT_ACCEPT_BASE >> 20)) {
		log_error("--touch %llu is more than the %llu MiB of RAM above 4 MiB",
			  (unsigned long long)o.touch_mib,
			  (unsigned long long)(o.memory_mib - (SIM_BOOT_ACCEPT_BASE >> 20)));
		return SNPCTL_EXIT_USAGE;
	}
	if (o.attack_after_boot && (o.attack == SIM_ATTACK_NONE || o.attack == SIM_ATTACK_REMAP ||
				    o.attack == SIM_ATTACK_UNVALIDATE)) {
		log_error("--attack-after-boot goes with --attack psc-ignore, psc-partial, no-snp, "
			  "ghcb-v1 or cpuid-lie (remap and unvalidate strike after boot anyway)");
		return SNPCTL_EXIT_USAGE;
	}
	if (!report && (dir || have_nonce)) {
		log_error("--dir and --nonce go with --report FILE");
		return SNPCTL_EXIT_USAGE;
	}
	if (report) {
		if (!dir)
			dir = getenv("SNP_SIM_DIR");
		if (!dir || !*dir) {
			log_error("No state directory for --report: use --dir D or set "
				  "SNP_SIM_DIR");
			return SNPCTL_EXIT_USAGE;
		}
		r = sim_state_load(dir, true, &o.state, err, sizeof(err));
		if (r < 0) {
			log_error("%s", err[0] ? err : strerror(-r));
			return SNPCTL_EXIT_DEVICE;
		}
		/*
		 * A boot is a new launch on this chip: fresh VMPCKs, VMRK and report
		 * id, counters at zero. In memory only: the directory is left as it
		 * was, so no other user of it ever sees these keys or counters.
		 */
		free(o.state->dir);
		o.state->dir = NULL;
		r = sim_state_relaunch(o.state, err, sizeof(err));
		if (r < 0) {
			log_error("Cannot launch the simulated guest: %s", err);
			sim_state_free(o.state);
			return SNPCTL_EXIT_DEVICE;
		}
	}

	r = sim_boot(&o, NULL, &res);
	sim_state_free(o.state);
	if (r < 0) {
		log_error_errno(r, "Failed to set up the simulated guest: %m");
		return SNPCTL_EXIT_DEVICE;
	}
	if (report && res.have_report) {
		r = snp_write_file(report, res.report, sizeof(res.report), 0644);
		if (r < 0) {
			log_error_errno(r, "Failed to write %s: %m", report);
			report_lost = true;
		}
	}
	if (json ? print_json(&o, &res, report) < 0 : (print_text(&o, &res, report), false))
		return SNPCTL_EXIT_DEVICE;
	ret = SNPCTL_EXIT_OK;
	if (res.exit.result == SIM_RUN_TERMINATED)
		ret = SNPCTL_EXIT_VERIFY;
	else if (res.exit.result == SIM_RUN_HV_STOPPED)
		ret = SNPCTL_EXIT_DEVICE;
	else if (report && (!res.have_report || report_lost))
		ret = SNPCTL_EXIT_DEVICE;
	return ret;
}
