// SPDX-License-Identifier: Apache-2.0
/*
 * snpctl doctor [--socket PATH] [--mountpoint DIR]
 *
 * Which attestation interface this guest has, whether this user may use
 * it, the VMPL floor, and whether snpd serves (API socket and FUSE view).
 * Exit 0 when attestation is available (directly or through snpd), 4 when
 * it is not, 3 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/snpctl.h"
#include "backend/backend.h"
#include "lib/log.h"
#include "lib/util.h"

#define DOCTOR_SOCKET	 "/run/snpd/api.sock"
#define DOCTOR_MOUNT	 "/snp"
#define DEV_SEV_GUEST	 "/dev/sev-guest"
#define TSM_REPORT_DIR	 "/sys/kernel/config/tsm/report"
#define VMPCK_PARAM	 "/sys/module/sev_guest/parameters/vmpck_id"
#define FUSE_SUPER_MAGIC 0x65735546
#define STATUS_MAX	 (256 * 1024)

enum verdict { V_OK, V_WARN, V_FAIL, V_INFO };

static void line(enum verdict v, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void line(enum verdict v, const char *what, const char *fmt, ...)
{
	static const char *const tags[] = { "ok", "warn", "FAIL", "info" };
	va_list ap;

	printf("  %-5s %-16s ", tags[v], what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* The first line of a small text file, without the newline. */
static int read_line(const char *path, char *buf, size_t len)
{
	_cleanup_(freep) u8 *data = NULL;
	size_t n;
	int r;

	r = snp_read_file(path, 4096, &data, &n);
	if (r < 0)
		return r;
	snprintf(buf, len, "%.*s", (int)strcspn((char *)data, "\n"), (char *)data);
	return 0;
}

static bool cpu_flag(const char *flag)
{
	_cleanup_(freep) u8 *data = NULL;
	char pat[64];
	size_t n;

	if (snp_read_file("/proc/cpuinfo", 4 * 1024 * 1024, &data, &n) < 0)
		return false;
	snprintf(pat, sizeof(pat), " %s ", flag);
	for (char *l = strstr((char *)data, "flags"); l; l = strstr(l + 1, "\nflags")) {
		char *end = strchr(l, '\n');
		char save = 0;
		bool found;

		if (end) {
			save = *end;
			*end = ' ';
		}
		found = memmem(l, end ? (size_t)(end - l) + 1 : strlen(l), pat, strlen(pat));
		if (end)
			*end = save;
		if (found)
			return true;
	}
	return false;
}

/* true when the guest device can be used directly by this user */
static bool check_device(void)
{
	bool usable = false;
	struct stat st;
	char buf[32];

	if (cpu_flag("sev_snp"))
		line(V_OK, "cpu", "the kernel reports SEV-SNP (cpuinfo flag sev_snp)");
	else
		line(V_INFO, "cpu", "no sev_snp flag in /proc/cpuinfo: not an SEV-SNP guest?");

	if (snp_backend_tsm.probe(NULL) == 0) {
		if (access(TSM_REPORT_DIR, W_OK) == 0) {
			line(V_OK, "configfs-tsm", "%s with the sev_guest provider",
			     TSM_REPORT_DIR);
			usable = true;
		} else {
			line(V_WARN, "configfs-tsm",
			     "%s exists but this user cannot create entries", TSM_REPORT_DIR);
		}
	} else if (access(TSM_REPORT_DIR, F_OK) == 0) {
		line(V_WARN, "configfs-tsm", "%s exists but offers no sev_guest provider",
		     TSM_REPORT_DIR);
	} else {
		line(V_INFO, "configfs-tsm", "%s missing (Linux 6.7+, CONFIG_TSM_REPORTS)",
		     TSM_REPORT_DIR);
	}

	if (stat(DEV_SEV_GUEST, &st) < 0) {
		line(V_INFO, "sev-guest", "%s missing (module sev-guest not loaded?)",
		     DEV_SEV_GUEST);
	} else if (!S_ISCHR(st.st_mode)) {
		line(V_FAIL, "sev-guest", "%s is not a character device", DEV_SEV_GUEST);
	} else if (access(DEV_SEV_GUEST, R_OK | W_OK) < 0) {
		line(V_WARN, "sev-guest",
		     "%s (mode %04o, uid %u, gid %u) is not readable and "
		     "writable by this user: %s",
		     DEV_SEV_GUEST, (unsigned int)(st.st_mode & 07777), (unsigned int)st.st_uid,
		     (unsigned int)st.st_gid, strerror(errno));
	} else {
		line(V_OK, "sev-guest", "%s is usable", DEV_SEV_GUEST);
		usable = true;
	}
	if (read_line(VMPCK_PARAM, buf, sizeof(buf)) == 0)
		line(V_INFO, "vmpl floor", "the guest driver uses VMPCK %s: reports for VMPL %s..3",
		     buf, buf);
	return usable;
}

/*
 * snpd's certificates: complete, or what is missing and when it is looked
 * up again (KDS, or with KdsOffline=yes the host's table)
 */
static void check_collateral(json_t *c)
{
	const char *state = json_string_value(json_object_get(c, "state"));
	const char *error = json_string_value(json_object_get(c, "last_error"));
	const char *host = json_string_value(json_object_get(c, "host_table"));
	json_t *next = json_object_get(c, "next_retry_in_sec");
	long long n = (long long)json_integer_value(json_object_get(c, "kds_requests"));

	if (!state)
		return;
	if (!strcmp(state, "complete") || !strcmp(state, "certs-dir"))
		line(V_OK, "collateral", "%s (%lld KDS requests since start)", state, n);
	else if (json_is_integer(next))
		line(V_WARN, "collateral", "%s: %s; looked up again in %lld s", state, error ?: "?",
		     (long long)json_integer_value(next));
	else
		line(V_WARN, "collateral", "%s: %s", state, error ?: "still looking");
	/* under CertsDir= it says only that the host's table is not looked at */
	if (host)
		line(strcmp(state, "certs-dir") ? V_WARN : V_INFO, "collateral",
		     "the host's certificate table: %s", host);
}

/* true when snpd answers on @sock and says it is healthy */
static bool check_daemon(const char *sock)
{
	_cleanup_(freep) char *body = NULL;
	char err[SNP_ERRBUF];
	json_t *doc = NULL;
	bool healthy = false;
	long status = 0;
	size_t len;

	if (snpctl_snpd_get(sock, "/v1/status", 10, STATUS_MAX, &status, &body, &len, err,
			    sizeof(err)) < 0) {
		line(V_INFO, "snpd", "no answer on %s (%s)", sock, err);
		return false;
	}
	doc = body ? json_loads(body, 0, NULL) : NULL;
	if (status != 200 || !doc) {
		line(V_FAIL, "snpd", "%s answered %ld to /v1/status", sock, status);
		goto out;
	}
	healthy = !strcmp(json_string_value(json_object_get(doc, "health")) ?: "", "ok");
	if (healthy)
		line(V_OK, "snpd", "healthy on %s, backend %s, %lld requests served", sock,
		     json_string_value(json_object_get(doc, "backend")) ?: "?",
		     (long long)json_integer_value(
			     json_object_get(json_object_get(doc, "broker"), "completed")));
	else
		line(V_FAIL, "snpd", "on %s but %s: %s", sock,
		     json_string_value(json_object_get(doc, "health")) ?: "?",
		     json_string_value(json_object_get(doc, "reason")) ?: "no reason given");
	check_collateral(json_object_get(doc, "collateral"));
out:
	json_decref(doc);
	return healthy;
}

static void check_view(const char *mnt)
{
	char path[4096];
	struct statfs sfs;

	if (statfs(mnt, &sfs) < 0) {
		if (errno == ENOTCONN)
			line(V_FAIL, "view",
			     "%s is a dead mount (snpd crashed; it clears it at start)", mnt);
		else
			line(V_INFO, "view", "%s: %s", mnt, strerror(errno));
		return;
	}
	if (sfs.f_type != FUSE_SUPER_MAGIC) {
		line(V_INFO, "view", "nothing mounted at %s", mnt);
		return;
	}
	snprintf(path, sizeof(path), "%s/report", mnt);
	if (access(path, R_OK) == 0)
		line(V_OK, "view", "%s is mounted; report is readable by this user", mnt);
	else
		line(V_WARN, "view", "%s is mounted but %s is not readable: %s", mnt, path,
		     strerror(errno));
}

int snpctl_cmd_doctor(int argc, char **argv)
{
	static const struct option options[] = { { "socket", required_argument, NULL, 's' },
						 { "mountpoint", required_argument, NULL, 'm' },
						 { "help", no_argument, NULL, 'h' },
						 {} };
	const char *sock = DOCTOR_SOCKET, *mnt = DOCTOR_MOUNT;
	bool device, daemon;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 'm':
			mnt = optarg;
			break;
		case 'h':
			printf("Usage: snpctl doctor [--socket PATH] [--mountpoint DIR]\n\n"
			       "Which attestation interface this guest has, whether this user may "
			       "use it,\nthe VMPL floor, and whether snpd serves.\n"
			       "  --socket PATH      snpd's API socket (default " DOCTOR_SOCKET
			       ")\n"
			       "  --mountpoint DIR   snpd's FUSE view (default " DOCTOR_MOUNT
			       ")\n");
			return SNPCTL_EXIT_OK;
		default:
			return SNPCTL_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		log_error("Unexpected argument '%s'", argv[optind]);
		return SNPCTL_EXIT_USAGE;
	}
	printf("snpctl doctor (uid %u)\n", (unsigned int)geteuid());
	device = check_device();
	daemon = check_daemon(sock);
	check_view(mnt);
	if (device || daemon) {
		printf("attestation: available%s%s\n", device ? " directly" : "",
		       daemon ? (device ? " and through snpd" : " through snpd") : "");
		return SNPCTL_EXIT_OK;
	}
	printf("attestation: NOT available here; without SEV-SNP hardware use the simulator: "
	       "snpd --backend=sim:DIR, or snpctl report --backend=sim:DIR\n");
	return SNPCTL_EXIT_DEVICE;
}
